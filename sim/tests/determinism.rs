//! Determinism is tested, not assumed: the same seed gives the same trace hash on fresh
//! threads, serially and in parallel; different seeds differ.

mod common;
use common::standard_run;
use std::collections::BTreeSet;

#[test]
fn same_seed_same_hash_different_seeds_differ() {
    let seeds = [0u64, 1, 42, 9001, u64::MAX];
    let mut hashes = BTreeSet::new();
    for seed in seeds {
        let a = standard_run(seed);
        let b = standard_run(seed);
        a.result.as_ref().unwrap();
        assert!(
            a.trace.len() > 60,
            "the run did something: {} records",
            a.trace.len()
        );
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed} diverged");
        hashes.insert(a.trace_hash);
    }
    assert_eq!(
        hashes.len(),
        seeds.len(),
        "different seeds must give different traces"
    );
}

#[test]
fn parallel_runs_match_serial_runs() {
    let seeds: Vec<u64> = (100..108).collect();
    let serial: Vec<u64> = seeds.iter().map(|&s| standard_run(s).trace_hash).collect();
    let (left, right) = seeds.split_at(seeds.len() / 2);
    let (left, right) = (left.to_vec(), right.to_vec());
    let h1 = std::thread::spawn(move || {
        left.into_iter()
            .map(|s| standard_run(s).trace_hash)
            .collect::<Vec<_>>()
    });
    let h2 = std::thread::spawn(move || {
        right
            .into_iter()
            .map(|s| standard_run(s).trace_hash)
            .collect::<Vec<_>>()
    });
    let mut parallel = h1.join().unwrap();
    parallel.extend(h2.join().unwrap());
    assert_eq!(serial, parallel);
}
