//! Bug-flag campaigns: a flag must be caught within a seed budget, for the right reason,
//! shrunk to a short schedule, and the same seeds must be green with every flag off.

use kzsim::bugs::BugFlags;
use kzsim::campaign::sweep::{parse_seeds, run_campaign, CampaignSpec, CampaignSummary};
use kzsim::scenario::load;
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
        scenario: load(Path::new(path)).expect("scenario loads"),
        random,
        seeds,
        shard: None,
        jobs: 2,
        bugs,
        shrink: true,
        shrink_runs_max: 48,
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

/// One flag and what catching it means; the campaign itself (scenario, random or
/// scripted faults, seed budget) is the one `kzsim bugs` lists for the flag.
pub struct FlagCase<'a> {
    /// The `--bug` name.
    pub flag: &'a str,
    /// The shrunk schedule has at most this many faults.
    pub faults_max: usize,
    /// At least one of these checkers must be among the failed ones.
    pub checkers: &'a [&'a str],
}

/// Runs the flag's campaign until the first failing seed, asserts it failed for the right
/// reason and shrank, then runs the same seeds with every flag off and asserts they pass.
/// Returns the catching seed.
pub fn caught_and_green(case: &FlagCase) -> u64 {
    let bugs = BugFlags::from_names(&[case.flag]).expect("known flag");
    let campaign = kzsim::bugs::FLAGS
        .iter()
        .find(|f| f.name == case.flag)
        .and_then(|f| f.shown_by)
        .unwrap_or_else(|| panic!("{}: no campaign listed in src/bugs.rs", case.flag));
    let budget = campaign.seed_budget;
    let mut spec = spec(campaign.scenario, campaign.random, 0..budget, bugs);
    let mut caught = None;
    for chunk in (0..budget).step_by(8) {
        spec.seeds = chunk..(chunk + 8).min(budget);
        let s = run_campaign(&spec, |_| {});
        if let Some(r) = s.seeds.iter().find(|r| !r.passed) {
            let shrunk = r.shrunk_faults.unwrap_or(r.faults);
            assert!(
                shrunk <= case.faults_max,
                "{}: seed {} shrunk only to {shrunk} faults (max {})",
                case.flag,
                r.seed,
                case.faults_max
            );
            assert!(
                r.failed_checkers
                    .iter()
                    .any(|c| case.checkers.iter().any(|want| c.starts_with(want))),
                "{}: seed {} failed {:?}, expected one of {:?}\n{}",
                case.flag,
                r.seed,
                r.failed_checkers,
                case.checkers,
                repro(&spec, &s)
            );
            caught = Some(r.seed);
            break;
        }
    }
    let Some(seed) = caught else {
        panic!(
            "{} was not caught: {}",
            case.flag,
            campaign.command(case.flag)
        );
    };
    let mut clean = spec;
    clean.bugs = BugFlags::default();
    clean.seeds = 0..seed + 1;
    let s = run_campaign(&clean, |_| {});
    assert_eq!(
        s.failures,
        0,
        "{}: the same campaign fails with every flag off\n{}\n{}",
        case.flag,
        s.table(),
        repro(&clean, &s)
    );
    seed
}
