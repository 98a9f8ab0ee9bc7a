//! A campaign: one scenario (its own schedule, or random schedules drawn per seed) over a
//! range of seeds, in parallel, each seed on its own runtime and thread. A failing seed is
//! shrunk with the same seed to the shortest schedule that still fails the same checker,
//! and written as a report folder.
//!
//! Sharding: `--shard K/N` runs the seeds `s` with `s % N == K - 1`, so N machines (a CI
//! matrix, a Kubernetes Indexed Job with `K = JOB_COMPLETION_INDEX + 1`) split one sweep
//! without talking to each other.

use super::schedule::{schedule_strategy, seeded_rng};
use crate::bugs::BugFlags;
use crate::runner::{run_scenario, RunOptions, RunOutcome, RunVerdict};
use crate::scenario::{Fault, Scenario, TimedFault};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to sweep.
#[derive(Clone, Debug)]
pub struct CampaignSpec {
    /// The scenario (cluster, workload, expectations; its faults unless `random`).
    pub scenario: Scenario,
    /// Draw a random fault schedule per seed instead of the scenario's own.
    pub random: bool,
    /// Seeds to run (before sharding).
    pub seeds: Range<u64>,
    /// Run only shard `k` of `n` (1-based `k`).
    pub shard: Option<(u64, u64)>,
    /// Parallel runs.
    pub jobs: usize,
    /// Bug flags.
    pub bugs: BugFlags,
    /// Shrink failing schedules.
    pub shrink: bool,
    /// Runs allowed per shrink.
    pub shrink_runs_max: usize,
    /// Count runs outside the fault model as failures (`--strict-fault-model`).
    pub strict_fault_model: bool,
}

impl CampaignSpec {
    /// A random-schedule campaign over `scenario` for `seeds` with `bugs` on `jobs`
    /// threads: no shard, no shrinking, runs outside the fault model not counted as
    /// failures.
    pub fn random(scenario: Scenario, seeds: Range<u64>, bugs: BugFlags, jobs: usize) -> Self {
        CampaignSpec {
            scenario,
            random: true,
            seeds,
            shard: None,
            jobs,
            bugs,
            shrink: false,
            shrink_runs_max: 0,
            strict_fault_model: false,
        }
    }
}

/// What one seed did.
///
/// Serialized as one entry of a campaign summary's `seeds` (see [`super::record`]); read
/// back by `kzsim merge`, which gets everything but the in-memory `failure`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Passed: the verdict is PASS, or outside the fault model when not strict.
    pub passed: bool,
    /// The run's verdict (of the first run, before shrinking).
    pub run_verdict: RunVerdict,
    /// One-line verdict.
    pub verdict: String,
    /// Checkers that did not pass (violated or unknown), plus `run-error`, `teaching`
    /// and `no-checker` where those failed.
    pub failed_checkers: Vec<String>,
    /// The rules a checker found violated (each violation's rule, e.g. `zab.agreement`),
    /// sorted and without repeats; empty unless a checker said `Violated`.
    pub violated_rules: Vec<String>,
    /// Checkers that judged something (verdict ok or violated).
    pub judged: Vec<String>,
    /// Checkers that said unknown (nothing to judge, or could not decide).
    pub unknown: Vec<String>,
    /// Faults in the schedule that ran (before shrinking).
    pub faults: usize,
    /// Faults after shrinking, for failures.
    pub shrunk_faults: Option<usize>,
    /// Wall time of the first run, in milliseconds.
    pub wall_ms: u64,
    /// Simulated seconds.
    pub sim_secs: f64,
    /// Run hash.
    pub run_hash: u64,
    /// The report folder written for this seed (failures and runs outside the fault
    /// model), as the path given to `--reports` joined with the folder's name; `None`
    /// when no report was written.
    #[serde(default)]
    pub report: Option<String>,
    /// The (shrunk) failing outcome, or the outcome of a run outside the fault model, for
    /// writing a report.
    #[serde(skip)]
    pub failure: Option<Box<(RunOutcome, Vec<TimedFault>)>>,
}

/// Where a campaign's report folders go, and the scenario they carry.
pub struct ReportTarget<'a> {
    /// The folder the report folders are written under (`--reports`).
    pub root: &'a std::path::Path,
    /// The scenario a replay of a report runs (for random and guided campaigns, the one
    /// [`random_scenario`] makes, so a replay judges as the campaign did).
    pub scenario: &'a Scenario,
    /// The scenario file, when the campaign ran one.
    pub scenario_file: Option<&'a std::path::Path>,
}

impl ReportTarget<'_> {
    /// Writes the report of `r` if it kept its outcome, recording the folder in
    /// `r.report`; returns the folder, or `None` if `r` kept nothing.
    pub fn write(&self, r: &mut SeedResult) -> std::io::Result<Option<std::path::PathBuf>> {
        let Some(f) = &r.failure else {
            return Ok(None);
        };
        let dir = crate::report::folder::write_report(
            self.root,
            self.scenario,
            self.scenario_file,
            &f.0,
            &f.1,
        )?;
        r.report = Some(dir.display().to_string());
        Ok(Some(dir))
    }

    /// [`ReportTarget::write`], then drops the kept outcome (a whole run's history): what
    /// a long campaign does as each seed ends, so its memory does not grow with the
    /// number of failures. The outcome is dropped even if the write failed.
    pub fn keep(&self, r: &mut SeedResult) -> std::io::Result<Option<std::path::PathBuf>> {
        let written = self.write(r);
        r.failure = None;
        written
    }
}

/// At most this many seeds are listed in [`CampaignSummary::slowest_seeds`].
pub const SLOWEST_SEEDS_LISTED: usize = 10;

/// The whole sweep (or several merged shards of it).
///
/// Guarantees: every count is a function of `seeds` alone (see
/// [`CampaignSummary::from_seeds`]), so a merge of shards that recomputes them from the
/// shards' seeds gets the same counts as one unsharded run of the same seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CampaignSummary {
    /// Runs made (seeds in this shard).
    pub runs: usize,
    /// Seeds that did not pass: failed, unknown or errors (with `strict_fault_model`, runs
    /// outside the fault model too).
    pub failures: usize,
    /// Runs by verdict: `pass`, `outside-fault-model`, `fail`, `error`.
    pub by_verdict: BTreeMap<String, usize>,
    /// Failures per checker name.
    pub failures_by_checker: BTreeMap<String, usize>,
    /// Per checker: (runs it judged, runs where it said unknown).
    pub judged_by_checker: BTreeMap<String, (usize, usize)>,
    /// The slowest seed and its wall time in ms.
    pub slowest: Option<(u64, u64)>,
    /// The slowest seeds (at most [`SLOWEST_SEEDS_LISTED`]) with their wall times in ms,
    /// slowest first (ties: lower seed first).
    #[serde(default)]
    pub slowest_seeds: Vec<(u64, u64)>,
    /// Per seed, in seed order.
    pub seeds: Vec<SeedResult>,
    /// Wall seconds for the sweep (for a merge: the sum over the shards, machine time).
    pub wall_secs: f64,
    /// Simulated seconds in total.
    pub sim_secs: f64,
}

/// The seeds this shard runs.
pub fn shard_seeds(seeds: Range<u64>, shard: Option<(u64, u64)>) -> Vec<u64> {
    seeds
        .filter(|s| shard.is_none_or(|(k, n)| n > 0 && s % n == (k - 1) % n))
        .collect()
}

/// Parses `A..B` (or a single `A`).
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let bad = || format!("`{text}` is not a seed range: write A..B (e.g. 0..100) or a single seed");
    match text.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a.trim().parse().map_err(|_| bad())?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            if b <= a {
                return Err(format!(
                    "`{text}`: the range is empty (the end is exclusive)"
                ));
            }
            Ok(a..b)
        }
        None => {
            let a: u64 = text.trim().parse().map_err(|_| bad())?;
            Ok(a..a + 1)
        }
    }
}

/// Parses `K/N` with 1 <= K <= N.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{text}` is not a shard: write K/N with 1 <= K <= N (e.g. 2/8)");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

fn failing_checkers(o: &RunOutcome) -> Vec<String> {
    let mut v: Vec<String> = o
        .checks
        .iter()
        .filter(|c| !c.verdict.is_ok())
        .map(|c| c.checker.clone())
        .collect();
    if o.error.is_some() {
        v.push("run-error".into());
    }
    if o.checks.is_empty() {
        v.push("no-checker".into());
    }
    if o.teaching.iter().any(|t| t.seen == Some(false)) {
        v.push("teaching".into());
    }
    v
}

fn violated_rules(o: &RunOutcome) -> Vec<String> {
    let rules: std::collections::BTreeSet<String> = o
        .checks
        .iter()
        .flat_map(|c| c.violations().iter().map(|v| v.checker.clone()))
        .collect();
    rules.into_iter().collect()
}

/// The schedule a seed runs.
pub fn schedule_for(spec: &CampaignSpec, seed: u64) -> Vec<TimedFault> {
    if spec.random {
        super::schedule::draw_schedule(
            seed,
            &super::schedule::ClusterShape::of(&spec.scenario),
            spec.scenario.duration,
        )
        .faults
    } else {
        spec.scenario.faults.clone()
    }
}

/// The scenario a random (or guided) campaign runs: `scenario` with its teaching
/// expectations cleared (they describe its scripted schedule) and every checker the
/// cluster can feed selected. Reports of such campaigns carry it, so a replay judges as
/// the campaign did.
pub fn random_scenario(scenario: &Scenario) -> Scenario {
    let mut scenario = scenario.clone();
    scenario.expect.teaching.clear();
    scenario.expect.checkers = scenario.applicable_checkers();
    scenario
}

/// Runs `seed` of the campaign with the fault schedule `faults`, as the campaign runs it
/// (random campaigns judge with every checker the cluster can feed and no teaching).
pub fn run_with(spec: &CampaignSpec, seed: u64, faults: Vec<TimedFault>) -> RunOutcome {
    if spec.random {
        return run_scenario(
            &random_scenario(&spec.scenario),
            &RunOptions {
                seed,
                bugs: spec.bugs,
                faults: Some(faults),
            },
        );
    }
    run_scenario(
        &spec.scenario,
        &RunOptions {
            seed,
            bugs: spec.bugs,
            faults: Some(faults),
        },
    )
}

/// What a shrunk schedule must reproduce: the first violated rule when the original had a
/// violation (an `unknown` verdict, e.g. liveness when a shrunk schedule never heals, does
/// not count), otherwise whatever failed first (a run error, a missed teaching expectation).
pub(crate) struct ShrinkTarget {
    /// A rule (`zab.one-leader`) when `violation`, else a failing checker's name.
    name: String,
    violation: bool,
}

impl ShrinkTarget {
    pub(crate) fn of(o: &RunOutcome) -> Option<ShrinkTarget> {
        if let Some(rule) = violated_rules(o).into_iter().next() {
            return Some(ShrinkTarget {
                name: rule,
                violation: true,
            });
        }
        failing_checkers(o)
            .into_iter()
            .next()
            .map(|name| ShrinkTarget {
                name,
                violation: false,
            })
    }

    /// Does `o` fail the same way?
    pub(crate) fn reproduced_by(&self, o: &RunOutcome) -> bool {
        if self.violation {
            violated_rules(o).contains(&self.name)
        } else {
            failing_checkers(o).contains(&self.name)
        }
    }
}

/// Shrinks a failing schedule with the same seed: proptest's own shrinking for random
/// schedules (fewer faults, earlier times), [`shrink_fixed`] for scripted ones. Returns
/// the smallest failing schedule and its outcome.
pub fn shrink(
    spec: &CampaignSpec,
    seed: u64,
    original: RunOutcome,
) -> (RunOutcome, Vec<TimedFault>) {
    if !spec.random {
        return shrink_fixed(spec, seed, original);
    }
    let Some(target) = ShrinkTarget::of(&original) else {
        let faults = original.faults.clone();
        return (original, faults);
    };
    let mut best = (original.clone(), original.faults.clone());
    let mut runs = 0;
    let mut runner = TestRunner::new_with_rng(Config::default(), seeded_rng(seed));
    let Ok(mut tree) = schedule_strategy(
        &super::schedule::ClusterShape::of(&spec.scenario),
        spec.scenario.duration,
    )
    .new_tree(&mut runner) else {
        return best;
    };
    while runs < spec.shrink_runs_max && tree.simplify() {
        let cand = tree.current().faults;
        runs += 1;
        let o = run_with(spec, seed, cand.clone());
        if target.reproduced_by(&o) {
            best = (o, cand);
        } else if !tree.complicate() {
            break;
        }
    }
    best
}

/// Shrinks a failing run of a fixed schedule (a scenario's own faults, or a guided
/// campaign's mutated schedule) greedily with the same seed, keeping it a valid schedule:
/// drop faults one at a time (last first, never a final heal-all), then drop each fault's
/// protocol moment, then pull each fault halfway to the one before it (so the order
/// holds). At most `spec.shrink_runs_max` runs. Returns the smallest schedule that still
/// reproduces `original`'s failure, and its outcome.
pub fn shrink_fixed(
    spec: &CampaignSpec,
    seed: u64,
    original: RunOutcome,
) -> (RunOutcome, Vec<TimedFault>) {
    let Some(target) = ShrinkTarget::of(&original) else {
        let faults = original.faults.clone();
        return (original, faults);
    };
    let best = (original.clone(), original.faults.clone());
    shrink_greedy(spec, seed, &target, best)
}

fn shrink_greedy(
    spec: &CampaignSpec,
    seed: u64,
    target: &ShrinkTarget,
    mut best: (RunOutcome, Vec<TimedFault>),
) -> (RunOutcome, Vec<TimedFault>) {
    let mut runs = 0;
    let attempt =
        |cand: Vec<TimedFault>, best: &mut (RunOutcome, Vec<TimedFault>), runs: &mut usize| {
            *runs += 1;
            let o = run_with(spec, seed, cand.clone());
            if target.reproduced_by(&o) {
                *best = (o, cand);
            }
        };
    let kept_tail = |faults: &[TimedFault]| {
        usize::from(matches!(faults.last(), Some(f) if f.fault == Fault::HealAll))
    };
    let mut i = best.1.len() - kept_tail(&best.1);
    while i > 0 && runs < spec.shrink_runs_max {
        i -= 1;
        let mut cand = best.1.clone();
        cand.remove(i);
        attempt(cand, &mut best, &mut runs);
    }
    for j in 0..best.1.len() {
        if runs >= spec.shrink_runs_max {
            break;
        }
        if best.1[j].after.is_none() {
            continue;
        }
        let mut cand = best.1.clone();
        cand[j].after = None;
        attempt(cand, &mut best, &mut runs);
    }
    for j in 0..best.1.len() - kept_tail(&best.1) {
        if runs >= spec.shrink_runs_max {
            break;
        }
        let prev = if j == 0 {
            Duration::ZERO
        } else {
            best.1[j - 1].at
        };
        let mut cand = best.1.clone();
        let earlier = prev + cand[j].at.saturating_sub(prev) / 2;
        if earlier == cand[j].at {
            continue;
        }
        cand[j].at = earlier;
        attempt(cand, &mut best, &mut runs);
    }
    best
}

/// Runs one seed (and shrinks it if it fails).
pub fn run_seed(spec: &CampaignSpec, seed: u64) -> SeedResult {
    run_seed_with(
        spec,
        seed,
        schedule_for(spec, seed),
        |o| shrink(spec, seed, o),
        |_| {},
    )
}

/// Runs `seed` of the campaign with the fault schedule `faults` and makes its
/// [`SeedResult`]. `inspect` sees the first run's outcome (before any shrinking); a failing
/// run is shrunk by `shrink_with` when `spec.shrink` is set.
pub fn run_seed_with(
    spec: &CampaignSpec,
    seed: u64,
    faults: Vec<TimedFault>,
    shrink_with: impl FnOnce(RunOutcome) -> (RunOutcome, Vec<TimedFault>),
    inspect: impl FnOnce(&RunOutcome),
) -> SeedResult {
    let started = Instant::now();
    let o = run_with(spec, seed, faults.clone());
    let wall_ms = started.elapsed().as_millis() as u64;
    inspect(&o);
    let mut r = SeedResult {
        seed,
        passed: o.passed_with(spec.strict_fault_model),
        run_verdict: o.verdict(),
        verdict: o.verdict_line(),
        failed_checkers: failing_checkers(&o),
        violated_rules: violated_rules(&o),
        judged: o
            .checks
            .iter()
            .filter(|c| !c.is_unknown())
            .map(|c| c.checker.clone())
            .collect(),
        unknown: o
            .checks
            .iter()
            .filter(|c| c.is_unknown())
            .map(|c| c.checker.clone())
            .collect(),
        faults: faults.len(),
        shrunk_faults: None,
        wall_ms,
        sim_secs: o.sim_secs,
        run_hash: o.run_hash,
        report: None,
        failure: None,
    };
    if !r.passed {
        // Only a violation is worth minimizing: an unknown or an error has no rule to keep.
        let (o, f) = if spec.shrink && r.run_verdict == RunVerdict::Fail {
            shrink_with(o)
        } else {
            (o, faults)
        };
        r.shrunk_faults = Some(f.len());
        r.failure = Some(Box::new((o, f)));
    } else if r.run_verdict == RunVerdict::OutsideFaultModel {
        r.failure = Some(Box::new((o, faults)));
    }
    r
}

/// Runs the sweep with `spec.jobs` worker threads. `on_done` is called after each seed
/// (from worker threads), for progress display and to write (and drop) the outcome it
/// kept ([`ReportTarget::keep`]).
pub fn run_campaign(
    spec: &CampaignSpec,
    on_done: impl Fn(&mut SeedResult) + Sync,
) -> CampaignSummary {
    let seeds = shard_seeds(spec.seeds.clone(), spec.shard);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<SeedResult>> = Mutex::new(Vec::new());
    let jobs = spec.jobs.max(1).min(seeds.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let mut r = run_seed(spec, seed);
                on_done(&mut r);
                results.lock().expect("results").push(r);
            });
        }
    });
    let seeds_out = results.into_inner().expect("results");
    CampaignSummary::from_seeds(seeds_out, started.elapsed().as_secs_f64())
}

impl CampaignSummary {
    /// The summary of `seeds` (sorted here by seed): every count is computed from them.
    /// `wall_secs` is the wall time to report.
    pub fn from_seeds(mut seeds: Vec<SeedResult>, wall_secs: f64) -> CampaignSummary {
        seeds.sort_by_key(|r| r.seed);
        let mut by_checker = BTreeMap::new();
        for r in seeds.iter().filter(|r| !r.passed) {
            for c in &r.failed_checkers {
                *by_checker.entry(c.clone()).or_insert(0) += 1;
            }
        }
        let mut judged_by_checker: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &seeds {
            for c in &r.judged {
                judged_by_checker.entry(c.clone()).or_default().0 += 1;
            }
            for c in &r.unknown {
                judged_by_checker.entry(c.clone()).or_default().1 += 1;
            }
        }
        let mut by_verdict: BTreeMap<String, usize> = BTreeMap::new();
        for r in &seeds {
            *by_verdict
                .entry(r.run_verdict.name().to_string())
                .or_default() += 1;
        }
        let mut by_time: Vec<(u64, u64)> = seeds.iter().map(|r| (r.seed, r.wall_ms)).collect();
        by_time.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        by_time.truncate(SLOWEST_SEEDS_LISTED);
        CampaignSummary {
            runs: seeds.len(),
            failures: seeds.iter().filter(|r| !r.passed).count(),
            by_verdict,
            failures_by_checker: by_checker,
            judged_by_checker,
            slowest: by_time.first().copied(),
            slowest_seeds: by_time,
            sim_secs: seeds.iter().map(|r| r.sim_secs).sum(),
            seeds,
            wall_secs,
        }
    }

    /// The counts: runs, failures, times, runs by verdict, the slowest seed, what each
    /// checker judged and failures by checker.
    pub fn counts_text(&self) -> String {
        let mut s = format!(
            "runs {:>6}   not passed {:>4}   wall {:.1}s   simulated {:.0}s ({:.0}x real time)\n",
            self.runs,
            self.failures,
            self.wall_secs,
            self.sim_secs,
            self.sim_secs / self.wall_secs.max(1e-9)
        );
        let verdicts: Vec<String> = self
            .by_verdict
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        s.push_str(&format!("by verdict: {}\n", verdicts.join(", ")));
        if let Some((seed, ms)) = self.slowest {
            s.push_str(&format!("slowest seed {seed}: {ms} ms\n"));
        }
        if !self.judged_by_checker.is_empty() {
            s.push_str("checkers (runs judged / runs with nothing judged or undecided):\n");
            for (c, (judged, unknown)) in &self.judged_by_checker {
                s.push_str(&format!(
                    "  {c:<32} {judged:>6} judged {unknown:>6} unknown\n"
                ));
            }
        }
        if !self.failures_by_checker.is_empty() {
            s.push_str("failures by checker:\n");
            for (c, n) in &self.failures_by_checker {
                s.push_str(&format!("  {c:<32} {n}\n"));
            }
        }
        s
    }

    /// The summary table printed at the end of `kzsim campaign`: [`Self::counts_text`],
    /// then up to 20 seeds outside the fault model and 20 failures.
    pub fn table(&self) -> String {
        let mut s = self.counts_text();
        for r in self
            .seeds
            .iter()
            .filter(|r| r.run_verdict == RunVerdict::OutsideFaultModel && r.passed)
            .take(20)
        {
            s.push_str(&format!("  seed {:<8} {}\n", r.seed, r.verdict));
        }
        for r in self.seeds.iter().filter(|r| !r.passed).take(20) {
            s.push_str(&format!(
                "  seed {:<8} {} (schedule {} -> {} faults)\n",
                r.seed,
                r.verdict,
                r.faults,
                r.shrunk_faults.unwrap_or(r.faults)
            ));
        }
        s
    }
}
