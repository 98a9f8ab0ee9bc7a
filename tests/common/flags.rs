//! Bug-flag campaigns: a flag must be caught within a seed budget, for the right reason,
//! shrunk to a short schedule, and the same seeds must be green with every flag off.

use kzsim::bugs::BugFlags;
use kzsim::campaign::sweep::{parse_seeds, run_campaign, run_with, CampaignSpec, CampaignSummary};
use kzsim::scenario::{load, Scenario};
use std::ops::Range;
use std::path::Path;

/// The seed range from `KZSIM_SEEDS`, or `default`.
pub fn seeds(default: &str) -> Range<u64> {
    let text = std::env::var("KZSIM_SEEDS").unwrap_or_else(|_| default.to_string());
    parse_seeds(&text).unwrap_or_else(|e| panic!("KZSIM_SEEDS: {e}"))
}

/// A campaign over `path` (random fault schedules when `random`), shrinking failures.
pub fn spec(path: &str, random: bool, seeds: Range<u64>, bugs: BugFlags) -> CampaignSpec {
    CampaignSpec {
        bugs,
        shrink: true,
        shrink_runs_max: 48,
        ..flag_free(
            load(Path::new(path)).expect("scenario loads"),
            random,
            seeds,
        )
    }
}

/// A campaign over `scenario` with every flag off, on 2 jobs, without shrinking.
pub fn flag_free(scenario: Scenario, random: bool, seeds: Range<u64>) -> CampaignSpec {
    CampaignSpec {
        scenario,
        random,
        seeds,
        shard: None,
        jobs: 2,
        bugs: BugFlags::default(),
        shrink: false,
        shrink_runs_max: 0,
        strict_fault_model: false,
    }
}

/// Writes a report for the first failure and returns the replay line for a panic message.
pub fn repro(spec: &CampaignSpec, s: &CampaignSummary) -> String {
    let Some(r) = s.seeds.iter().find(|r| !r.passed) else {
        return String::new();
    };
    let Some(f) = &r.failure else {
        return String::new();
    };
    let root = std::env::temp_dir().join("kzsim-test-reports");
    match kzsim::report::folder::write_report(&root, &spec.scenario, None, &f.0, &f.1) {
        Ok(dir) => format!(
            "seed {} failed: {}\nreport: {}\nreplay: kzsim replay {}",
            r.seed,
            r.verdict,
            dir.display(),
            dir.display()
        ),
        Err(e) => format!(
            "seed {} failed: {} (report not written: {e})",
            r.seed, r.verdict
        ),
    }
}

/// Runs the flag's campaign (the one `kzsim bugs` lists for it) until the first failing
/// seed and asserts that it was caught for the reason `src/bugs.rs` gives: the shrunk run
/// *violates* (not merely "unknown") one of the flag's rules; the shrunk schedule is
/// strictly smaller than the original where the original had more than one fault, or else
/// every one of its faults is needed (dropping any one leaves the flag's rules unbroken);
/// and the same seeds are green with every flag off. Returns the catching seed.
pub fn caught_and_green(flag: &str) -> u64 {
    let info = kzsim::bugs::FLAGS
        .iter()
        .find(|f| f.name == flag)
        .unwrap_or_else(|| panic!("{flag}: not in src/bugs.rs"));
    let bugs = BugFlags::from_names(&[flag]).expect("known flag");
    let campaign = info
        .shown_by
        .unwrap_or_else(|| panic!("{flag}: no campaign listed in src/bugs.rs"));
    let budget = campaign.seed_budget;
    let scenario = campaign
        .scenario
        .load(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{flag}: {e}"));
    let mut spec = CampaignSpec {
        bugs,
        shrink: true,
        shrink_runs_max: 48,
        ..flag_free(scenario, campaign.random, 0..budget)
    };
    let mut caught = None;
    for chunk in (0..budget).step_by(8) {
        spec.seeds = chunk..(chunk + 8).min(budget);
        let s = run_campaign(&spec, |_| {});
        let Some(r) = s.seeds.iter().find(|r| !r.passed) else {
            continue;
        };
        let (shrunk, schedule) = r
            .failure
            .as_deref()
            .expect("a failing seed keeps its outcome");
        let rules: Vec<String> = shrunk
            .checks
            .iter()
            .flat_map(|c| c.violations())
            .map(|v| v.checker.clone())
            .collect();
        assert!(
            rules.iter().any(|rule| info.rules.contains(&rule.as_str())),
            "{flag}: seed {} (shrunk) violated {rules:?}, not one of the flag's rules {:?} (verdict {})\n{}",
            r.seed,
            info.rules,
            shrunk.verdict_line(),
            repro(&spec, &s)
        );
        if r.faults > 1 && schedule.len() >= r.faults {
            // Not shrunk: that is right only if every fault is needed. Show it: without
            // any one of them the flag's rules hold.
            for i in 0..schedule.len() {
                if campaign.random && schedule[i].fault == kzsim::scenario::Fault::HealAll {
                    // Every random schedule ends with its heal-all (the liveness phase).
                    continue;
                }
                let mut fewer = schedule.clone();
                let dropped = fewer.remove(i);
                let o = run_with(&spec, r.seed, fewer);
                let still: Vec<String> = o
                    .checks
                    .iter()
                    .flat_map(|c| c.violations())
                    .map(|v| v.checker.clone())
                    .filter(|rule| info.rules.contains(&rule.as_str()))
                    .collect();
                assert!(
                    still.is_empty(),
                    "{flag}: seed {} did not shrink ({} faults), yet without fault {i} ({:?} at {:?}) it still violates {still:?}",
                    r.seed,
                    r.faults,
                    dropped.fault,
                    dropped.at
                );
            }
        }
        caught = Some(r.seed);
        break;
    }
    let Some(seed) = caught else {
        panic!("{flag} was not caught: {}", campaign.command(flag));
    };
    let mut clean = spec;
    clean.bugs = BugFlags::default();
    clean.seeds = 0..seed + 1;
    let s = run_campaign(&clean, |_| {});
    assert_eq!(
        s.failures,
        0,
        "{flag}: the same campaign fails with every flag off\n{}\n{}",
        s.table(),
        repro(&clean, &s)
    );
    seed
}
