//! The slow-disk fault matters (issue 14 item 1): a ZooKeeper write is acknowledged once a
//! quorum has fsynced it, so a slow disk on the follower whose ACK completes the quorum
//! slows every acknowledged write, and the same slow disk beside a fast follower changes
//! nothing. `scenarios/zk-slow-follower-disk.toml` tells the story.

mod common;

use common::assert_passes;
use kzsim::history::{Call, History, Outcome};
use kzsim::runner::{run_scenario, RunOptions};
use kzsim::scenario::{load, Fault, Scenario};
use std::path::Path;
use std::time::Duration;

const STORY: &str = "scenarios/zk-slow-follower-disk.toml";

/// The median latency of the acknowledged ZooKeeper writes invoked in `[from, to)` seconds,
/// and how many there were.
fn median_write_latency(h: &History, from: u64, to: u64) -> (Duration, usize) {
    let (from, to) = (from * 1_000_000_000, to * 1_000_000_000);
    let mut took: Vec<u64> = h
        .ops
        .iter()
        .filter(|o| {
            o.outcome == Outcome::Ok
                && matches!(
                    o.call,
                    Call::Create { .. }
                        | Call::SetData { .. }
                        | Call::Delete { .. }
                        | Call::Multi { .. }
                )
                && (from..to).contains(&o.invoke.0)
        })
        .filter_map(|o| o.complete.map(|c| c.0 - o.invoke.0))
        .collect();
    took.sort_unstable();
    let n = took.len();
    assert!(n >= 5, "only {n} acknowledged writes in [{from}ns, {to}ns)");
    (Duration::from_nanos(took[n / 2]), n)
}

fn run(s: &Scenario, seed: u64) -> History {
    let o = run_scenario(
        s,
        &RunOptions {
            seed,
            ..Default::default()
        },
    );
    assert_passes(seed, &o);
    o.history
}

/// Windows of the story: one follower dead, disks fast (9-12 s); the slow follower is the
/// only one left (13-20 s); the dead follower is back and synced, the slow disk still slow
/// (24-32 s).
#[test]
fn a_slow_disk_on_the_quorums_second_ack_slows_every_acknowledged_write() {
    let story = load(Path::new(STORY)).expect("the story loads");
    for seed in 0..3 {
        let h = run(&story, seed);
        let (fast, n_fast) = median_write_latency(&h, 9, 12);
        let (slow, n_slow) = median_write_latency(&h, 13, 20);
        let (again, n_again) = median_write_latency(&h, 24, 32);
        eprintln!(
            "seed {seed}: median write latency {fast:?} ({n_fast} writes), slow disk on the \
             second ACK {slow:?} ({n_slow}), follower back {again:?} ({n_again})"
        );
        assert!(fast < Duration::from_millis(50), "seed {seed}: {fast:?}");
        assert!(
            slow >= Duration::from_millis(300),
            "seed {seed}: the slow follower's 300 ms fsync paces each commit: {slow:?}"
        );
        assert!(
            again < Duration::from_millis(50),
            "seed {seed}: the returned follower is the fast second ACK: {again:?}"
        );
    }
}

/// The same slow disk with both followers running: the fast follower completes every
/// quorum, and the write latency does not move.
#[test]
fn a_slow_disk_beside_a_fast_follower_changes_nothing_a_client_sees() {
    let story = load(Path::new(STORY)).expect("the story loads");
    let faults = story
        .faults
        .iter()
        .filter(|f| matches!(f.fault, Fault::SlowDisk { .. } | Fault::HealAll))
        .cloned()
        .collect();
    let s = story.with_faults(faults);
    for seed in 0..3 {
        let h = run(&s, seed);
        let (before, _) = median_write_latency(&h, 2, 12);
        let (during, _) = median_write_latency(&h, 13, 32);
        assert!(
            before < Duration::from_millis(50) && during < Duration::from_millis(50),
            "seed {seed}: {before:?} before, {during:?} with one slow follower"
        );
    }
}
