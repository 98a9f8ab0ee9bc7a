//! A campaign of 2,000 short seeds in one process keeps memory flat: every node is killed
//! before its runtime is dropped, so no task leaks. (Alone in its own test binary so other
//! tests do not disturb the RSS reading.)

mod common;
use common::standard_run;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_thousand_seeds_keep_memory_flat() {
    let seeds = 2_000u64;
    let warmup = 200u64;
    let start = std::time::Instant::now();
    let mut after_warmup = 0;
    for seed in 0..seeds {
        let out = standard_run(seed);
        assert!(out.result.is_ok(), "seed {seed}: {:?}", out.result.err());
        if seed + 1 == warmup {
            after_warmup = rss_kib();
        }
    }
    let end = rss_kib();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "memory: {seeds} seeds, RSS after {warmup}: {after_warmup} KiB, after {seeds}: {end} KiB; {:.0} seeds/s",
        seeds as f64 / secs
    );
    if after_warmup > 0 {
        assert!(
            end < after_warmup + 16 * 1024,
            "RSS grew from {after_warmup} KiB to {end} KiB over {seeds} seeds"
        );
    }
}
