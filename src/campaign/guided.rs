//! Guided exploration (`kzsim campaign --guided`): fault schedules steered by the protocol
//! states earlier runs reached.
//!
//! Each seed of the range runs one candidate schedule. Candidates are made in fixed-size
//! batches of [`BATCH_SEEDS`] seeds from the corpus *as it stood at the start of the
//! batch*, the batch runs in parallel over `--jobs`, and its results are merged in seed
//! order: a run that reached a [`Feature`] no earlier run reached puts its schedule in the
//! corpus. So the corpus, every schedule and every result depend only on the seed range,
//! never on `--jobs` or on which thread finished first.
//!
//! A candidate for seed `s` draws everything from `schedule::seeded_rng(s)`:
//! - the first [`RANDOM_BATCHES`] batches, and [`FRESH_PERCENT`] of the candidates after
//!   them, are the random schedule `--random` runs for seed `s` (`draw_schedule`), so
//!   guided starts exactly where random does and keeps some of its breadth;
//! - the others take a corpus entry, chosen with a bias to entries that reached rare
//!   features (weight: the sum over its features of 1 / runs that reached it), and apply 1
//!   to [`MUTATIONS_MAX`] [`Mutation`]s: add a fault (drawn from the random campaigns'
//!   `fault_strategy`), drop one, move one in time, retarget one, shift one into a protocol
//!   moment (`after = "zk-sync"`, ...), or splice in a fault of another entry.
//!
//! Every candidate is a valid random-campaign schedule: sorted by time, at most
//! `FAULTS_MAX` faults before `heal_at`, then the heal-all. A failure is shrunk (random
//! draws as `--random` shrinks them; mutated schedules greedily: drop faults, drop
//! moments, pull faults earlier, keeping the order) and written as a report whose
//! `scenario.toml` holds the schedule, so `kzsim replay DIR` reruns it alone.

use super::coverage::{self, Context, Feature};
use super::schedule::{
    draw_schedule, fault_strategy, heal_at, seeded_rng, ClusterShape, FAULTS_MAX,
};
use super::sweep::{
    run_seed_with, shard_seeds, shrink, shrink_fixed, CampaignSpec, CampaignSummary, SeedResult,
};
use crate::runner::RunOutcome;
use crate::scenario::{AfterMoment, Fault, Moment, Target, TimedFault};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seeds per batch: candidates of one batch are made from the same corpus and run in
/// parallel. Fixed, so results do not depend on `--jobs`.
pub const BATCH_SEEDS: usize = 16;
/// The first batches are all random schedules (the same as `--random` for those seeds).
pub const RANDOM_BATCHES: usize = 1;
/// After them, this percentage of candidates are still random schedules.
pub const FRESH_PERCENT: u64 = 25;
/// The corpus holds at most this many schedules; past it the entry with the least rarity
/// weight (the oldest among equals) leaves.
pub const CORPUS_MAX: usize = 128;
/// Mutations applied to one corpus entry to make a candidate, at most.
pub const MUTATIONS_MAX: usize = 4;
/// A moved fault moves by up to this much (or, half the time, anywhere in the faulty
/// phase).
pub const MOVE_JITTER_MS: u64 = 3_000;
/// A following fault comes up to this long after the fault it follows.
pub const FOLLOW_GAP_MS: u64 = 2_000;
/// Delays after a protocol moment a shifted fault draws from.
pub const SHIFT_DELAYS_MS: [u64; 7] = [0, 0, 1, 5, 20, 100, 500];
/// Draws of a fault of the same kind when retargeting a multi-target fault, at most.
pub const RETARGET_TRIES_MAX: usize = 16;
/// Points of coverage growth kept for the summary, at most (every batch is kept until
/// then; after that every other point is dropped).
pub const GROWTH_POINTS_MAX: usize = 64;

/// A rarity weight unit: a feature reached by `n` runs adds `RARITY_UNIT / n` to the
/// weight of each corpus entry that reached it.
const RARITY_UNIT: u64 = 1 << 20;

/// One way of changing a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mutation {
    /// Add a fault drawn from the random campaigns' vocabulary at a random time.
    Add,
    /// Add a fault from that vocabulary shortly after an existing one, half the time
    /// waiting for a protocol moment (the election or sync the first fault may start):
    /// the windows uniform random times rarely hit.
    Follow,
    /// Drop one fault.
    Drop,
    /// Move one fault in time.
    Move,
    /// Aim one fault at another node or role (multi-target faults: redraw them).
    Retarget,
    /// Replace one fault with a fresh draw, keeping its time and moment.
    Replace,
    /// Make one fault wait for a protocol moment (or, if it has one, change or drop it),
    /// half the time from just after the fault before it.
    Shift,
    /// Copy one fault of another corpus entry.
    Splice,
}

impl Mutation {
    /// Every mutation with its weight.
    const WEIGHTED: [(Mutation, u64); 8] = [
        (Mutation::Add, 2),
        (Mutation::Follow, 4),
        (Mutation::Drop, 2),
        (Mutation::Move, 2),
        (Mutation::Retarget, 2),
        (Mutation::Replace, 2),
        (Mutation::Shift, 2),
        (Mutation::Splice, 1),
    ];
}

/// Where a candidate schedule came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The random schedule of its seed (`draw_schedule`).
    Random,
    /// The corpus entry of seed `parent`, mutated.
    Mutated {
        /// The parent entry's seed.
        parent: u64,
        /// The mutations applied, in order.
        mutations: Vec<Mutation>,
    },
}

/// A schedule that reached new coverage.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusEntry {
    /// The seed it ran with.
    pub seed: u64,
    /// The schedule.
    pub faults: Vec<TimedFault>,
    /// Where the schedule came from.
    pub origin: Origin,
    /// Every feature its run reached.
    pub features: BTreeSet<Feature>,
    /// Features no earlier run had reached.
    pub new_features: usize,
}

/// The corpus and the coverage so far.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Entries in the order they were added (evictions aside).
    pub entries: Vec<CorpusEntry>,
    /// Per feature: how many runs reached it.
    pub hits: BTreeMap<Feature, u64>,
}

impl Corpus {
    /// Every feature reached so far.
    pub fn coverage(&self) -> usize {
        self.hits.len()
    }

    /// Merges one run: counts its features, and keeps its schedule if it reached a new one.
    /// Returns the number of new features.
    pub fn merge(
        &mut self,
        seed: u64,
        faults: Vec<TimedFault>,
        origin: Origin,
        features: BTreeSet<Feature>,
    ) -> usize {
        let new = features
            .iter()
            .filter(|f| !self.hits.contains_key(f))
            .count();
        for f in &features {
            *self.hits.entry(*f).or_default() += 1;
        }
        if new > 0 {
            self.entries.push(CorpusEntry {
                seed,
                faults,
                origin,
                features,
                new_features: new,
            });
            if self.entries.len() > CORPUS_MAX {
                self.evict_one();
            }
        }
        new
    }

    /// An entry's rarity weight (at least 1).
    fn weight(&self, e: &CorpusEntry) -> u64 {
        let w: u64 = e
            .features
            .iter()
            .map(|f| RARITY_UNIT / self.hits.get(f).copied().unwrap_or(1).max(1))
            .sum();
        w.max(1)
    }

    fn evict_one(&mut self) {
        // The lightest entry; among equals the oldest (the first in the list).
        let mut worst = 0;
        let mut worst_w = u64::MAX;
        for (i, e) in self.entries.iter().enumerate() {
            let w = self.weight(e);
            if w < worst_w {
                worst = i;
                worst_w = w;
            }
        }
        self.entries.remove(worst);
    }

    /// An entry drawn with probability proportional to its weight.
    fn pick(&self, runner: &mut TestRunner) -> Option<&CorpusEntry> {
        let weights: Vec<u64> = self.entries.iter().map(|e| self.weight(e)).collect();
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let mut r = below(runner, total);
        for (e, w) in self.entries.iter().zip(weights) {
            if r < w {
                return Some(e);
            }
            r -= w;
        }
        self.entries.last()
    }
}

/// Progress as of the last merged batch, for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuidedStatus {
    /// Features reached.
    pub features: usize,
    /// Corpus entries.
    pub corpus: usize,
    /// Batches merged.
    pub batches: usize,
}

/// How candidates are made: guided (the corpus steers), or every one a random schedule
/// (exactly `--random`'s, with coverage measured: the baseline guided is compared with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exploration {
    /// Random draws first, then mostly mutations of the corpus.
    Guided,
    /// Random draws only.
    Random,
}

/// A guided campaign's outcome.
#[derive(Clone, Debug)]
pub struct GuidedSummary {
    /// The campaign summary, as for a random campaign.
    pub summary: CampaignSummary,
    /// The final corpus and per-feature hit counts.
    pub corpus: Corpus,
    /// Per seed (in seed order): where its schedule came from and how many new features
    /// its run reached.
    pub per_seed: Vec<(u64, Origin, usize)>,
    /// Coverage after each merged batch: (seeds run, features reached), at most
    /// [`GROWTH_POINTS_MAX`] points.
    pub growth: Vec<(u64, usize)>,
}

/// The coverage part of a guided campaign's JSON record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageRecord {
    /// Features reached.
    pub features: usize,
    /// Features reached per family (`zk-server`, `fault-landed`, ...).
    pub by_family: BTreeMap<String, usize>,
    /// Seeds per batch ([`BATCH_SEEDS`]).
    pub batch_seeds: usize,
    /// Corpus entries at the end.
    pub corpus: usize,
    /// Seeds whose schedule was a mutated corpus entry.
    pub mutated_seeds: usize,
    /// Coverage growth: (seeds run, features reached).
    pub growth: Vec<(u64, usize)>,
    /// The corpus at the end: (seed, parent seed if mutated, new features it reached).
    pub entries: Vec<(u64, Option<u64>, usize)>,
    /// Per seed, in seed order: where its schedule came from and the new features its run
    /// reached.
    pub seeds: Vec<GuidedSeed>,
}

/// Where one seed's schedule came from, in a [`CoverageRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuidedSeed {
    /// The seed.
    pub seed: u64,
    /// The schedule's origin.
    pub origin: Origin,
    /// Features its run reached that no earlier run had.
    pub new_features: usize,
}

impl GuidedSummary {
    /// Features reached.
    pub fn features(&self) -> usize {
        self.corpus.coverage()
    }

    /// The coverage record for `--json`.
    pub fn record(&self) -> CoverageRecord {
        CoverageRecord {
            features: self.features(),
            by_family: coverage::by_family(self.corpus.hits.keys())
                .into_iter()
                .map(|(f, n)| (f.as_str().to_string(), n))
                .collect(),
            batch_seeds: BATCH_SEEDS,
            corpus: self.corpus.entries.len(),
            mutated_seeds: self
                .per_seed
                .iter()
                .filter(|(_, o, _)| *o != Origin::Random)
                .count(),
            growth: self.growth.clone(),
            entries: self
                .corpus
                .entries
                .iter()
                .map(|e| {
                    let parent = match &e.origin {
                        Origin::Random => None,
                        Origin::Mutated { parent, .. } => Some(*parent),
                    };
                    (e.seed, parent, e.new_features)
                })
                .collect(),
            seeds: self
                .per_seed
                .iter()
                .map(|(seed, origin, new)| GuidedSeed {
                    seed: *seed,
                    origin: origin.clone(),
                    new_features: *new,
                })
                .collect(),
        }
    }

    /// The coverage lines printed at the end of `kzsim campaign --guided`.
    pub fn coverage_text(&self) -> String {
        let families = coverage::families_text(self.corpus.hits.keys());
        let mutated = self
            .per_seed
            .iter()
            .filter(|(_, o, _)| *o != Origin::Random)
            .count();
        let mut s = format!(
            "guided: coverage {} features ({}); corpus {} schedules; {} seeds run ({} mutated, {} random) in batches of {BATCH_SEEDS}; {} failures\n",
            self.features(),
            families,
            self.corpus.entries.len(),
            self.per_seed.len(),
            mutated,
            self.per_seed.len() - mutated,
            self.summary.failures,
        );
        let points: Vec<String> = self
            .growth
            .iter()
            .map(|(seeds, f)| format!("{seeds}:{f}"))
            .collect();
        s.push_str(&format!(
            "coverage growth (seeds run:features): {}\n",
            points.join(" ")
        ));
        s
    }
}

/// A number in `0..n` drawn from the runner's RNG (`n` > 0).
fn below(runner: &mut TestRunner, n: u64) -> u64 {
    assert!(n > 0, "below(0)");
    match (0..n).new_tree(runner) {
        Ok(t) => t.current(),
        Err(reason) => unreachable!("a non-empty range always draws: {reason}"),
    }
}

/// One value of `strategy`, or `None` if it could not generate one (a filter rejected
/// too many draws).
fn draw<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> Option<S::Value> {
    strategy.new_tree(runner).ok().map(|t| t.current())
}

/// What a candidate is made over: the cluster's shape and the run's timing.
struct Space {
    shape: ClusterShape,
    /// The heal-all's time; faults fire before it.
    end: Duration,
    duration: Duration,
    moments: Vec<Moment>,
    /// Targets a single-target fault can take: every server, and the roles.
    targets: Vec<Target>,
    /// Servers only (restart and resume name nodes).
    nodes: Vec<Target>,
    faults: proptest::strategy::BoxedStrategy<Fault>,
}

impl Space {
    fn of(spec: &CampaignSpec) -> Space {
        let shape = ClusterShape::of(&spec.scenario);
        let nodes: Vec<Target> = shape
            .zk_servers
            .iter()
            .chain(&shape.brokers)
            .cloned()
            .map(Target::Node)
            .collect();
        let mut targets = nodes.clone();
        targets.push(Target::ZkLeader);
        if !shape.brokers.is_empty() {
            targets.push(Target::Controller);
            targets.extend(shape.partitions.iter().map(|(topic, partition)| {
                Target::PartitionLeader {
                    topic: topic.clone(),
                    partition: *partition,
                }
            }));
        }
        let moments = Moment::ALL
            .into_iter()
            .filter(|m| !m.needs_kafka() || !shape.brokers.is_empty())
            .collect();
        Space {
            faults: fault_strategy(&shape),
            end: heal_at(spec.scenario.duration),
            duration: spec.scenario.duration,
            shape,
            moments,
            targets,
            nodes,
        }
    }

    fn end_ms(&self) -> u64 {
        (self.end.as_millis() as u64).max(1)
    }

    fn random_time(&self, runner: &mut TestRunner) -> Duration {
        Duration::from_millis(below(runner, self.end_ms()))
    }

    fn random_after(&self, runner: &mut TestRunner) -> AfterMoment {
        let moment = self.moments[below(runner, self.moments.len() as u64) as usize];
        let delay = SHIFT_DELAYS_MS[below(runner, SHIFT_DELAYS_MS.len() as u64) as usize];
        AfterMoment {
            moment,
            delay: Duration::from_millis(delay),
        }
    }

    /// `faults` (heal-all dropped) made valid: times within the faulty phase, sorted, at
    /// most [`FAULTS_MAX`], then the heal-all.
    fn normalize(&self, mut faults: Vec<TimedFault>) -> Vec<TimedFault> {
        faults.retain(|f| f.fault != Fault::HealAll);
        let last_ms = self.end_ms() - 1;
        for f in &mut faults {
            f.at = f.at.min(Duration::from_millis(last_ms));
        }
        faults.sort_by_key(|f| f.at);
        faults.truncate(FAULTS_MAX);
        faults.push(TimedFault {
            at: self.end,
            label: None,
            fault: Fault::HealAll,
            after: None,
        });
        faults
    }
}

/// Replaces the single target of `fault` (if it has one) with `target`.
fn set_target(fault: &mut Fault, target: Target) {
    match fault {
        Fault::Crash { target: t, .. }
        | Fault::Restart { target: t }
        | Fault::Pause { target: t, .. }
        | Fault::Resume { target: t }
        | Fault::ClockSkew { target: t, .. }
        | Fault::SlowDisk { target: t, .. } => *t = target,
        _ => {}
    }
}

/// Applies `m` to `faults` (no heal-all in it). Returns false if it did not apply (no
/// fault to change, no room to add, a draw that failed).
fn mutate(
    m: Mutation,
    faults: &mut Vec<TimedFault>,
    space: &Space,
    corpus: &Corpus,
    runner: &mut TestRunner,
) -> bool {
    let pick = |runner: &mut TestRunner, faults: &Vec<TimedFault>| {
        (!faults.is_empty()).then(|| below(runner, faults.len() as u64) as usize)
    };
    match m {
        Mutation::Add => {
            if faults.len() >= FAULTS_MAX {
                return false;
            }
            let Some(fault) = draw(runner, &space.faults) else {
                return false;
            };
            let at = space.random_time(runner);
            let after = (below(runner, 3) == 0).then(|| space.random_after(runner));
            faults.push(TimedFault {
                at,
                label: None,
                fault,
                after,
            });
            true
        }
        Mutation::Follow => {
            if faults.len() >= FAULTS_MAX {
                return false;
            }
            let Some(i) = pick(runner, faults) else {
                return false;
            };
            let Some(fault) = draw(runner, &space.faults) else {
                return false;
            };
            let gap = Duration::from_millis(below(runner, FOLLOW_GAP_MS));
            let after = (below(runner, 2) == 0).then(|| space.random_after(runner));
            faults.push(TimedFault {
                at: faults[i].at + gap,
                label: None,
                fault,
                after,
            });
            true
        }
        Mutation::Replace => {
            let Some(i) = pick(runner, faults) else {
                return false;
            };
            let Some(fault) = draw(runner, &space.faults) else {
                return false;
            };
            faults[i].fault = fault;
            true
        }
        Mutation::Drop => {
            let Some(i) = pick(runner, faults) else {
                return false;
            };
            faults.remove(i);
            true
        }
        Mutation::Move => {
            let Some(i) = pick(runner, faults) else {
                return false;
            };
            faults[i].at = if below(runner, 2) == 0 {
                space.random_time(runner)
            } else {
                let jitter = Duration::from_millis(1 + below(runner, MOVE_JITTER_MS));
                if below(runner, 2) == 0 {
                    faults[i].at.saturating_sub(jitter)
                } else {
                    faults[i].at + jitter
                }
            };
            true
        }
        Mutation::Retarget => {
            let Some(i) = pick(runner, faults) else {
                return false;
            };
            let f = &mut faults[i].fault;
            if f.single_target().is_some() {
                let choices = match f {
                    Fault::Restart { .. } | Fault::Resume { .. } => &space.nodes,
                    _ => &space.targets,
                };
                let t = choices[below(runner, choices.len() as u64) as usize].clone();
                set_target(f, t);
                return true;
            }
            // Partitions, cuts, net changes: draw another of the same kind.
            let kind = f.kind();
            for _ in 0..RETARGET_TRIES_MAX {
                if let Some(g) = draw(runner, &space.faults) {
                    if g.kind() == kind {
                        *f = g;
                        return true;
                    }
                }
            }
            false
        }
        Mutation::Shift => {
            let Some(i) = pick(runner, faults) else {
                return false;
            };
            faults[i].after = if faults[i].after.is_some() && below(runner, 4) == 0 {
                None
            } else {
                Some(space.random_after(runner))
            };
            // Half the time wait from just after the fault before (sorted by time), for the
            // moment it may start.
            if i > 0 && below(runner, 2) == 0 {
                let mut order: Vec<Duration> = faults.iter().map(|f| f.at).collect();
                order.sort();
                if let Some(prev) = order.iter().rev().find(|t| **t < faults[i].at) {
                    faults[i].at = *prev + Duration::from_millis(1);
                }
            }
            true
        }
        Mutation::Splice => {
            if faults.len() >= FAULTS_MAX {
                return false;
            }
            let Some(other) = corpus.pick(runner) else {
                return false;
            };
            let theirs: Vec<&TimedFault> = other
                .faults
                .iter()
                .filter(|f| f.fault != Fault::HealAll)
                .collect();
            if theirs.is_empty() {
                return false;
            }
            let f = theirs[below(runner, theirs.len() as u64) as usize].clone();
            faults.push(f);
            true
        }
    }
}

/// The candidate schedule for `seed`, made from `corpus` (batch `batch` of the campaign).
fn candidate(
    seed: u64,
    batch: usize,
    exploration: Exploration,
    corpus: &Corpus,
    space: &Space,
) -> (Vec<TimedFault>, Origin) {
    let random = || {
        let s = draw_schedule(seed, &space.shape, space.duration);
        (s.faults, Origin::Random)
    };
    if exploration == Exploration::Random || batch < RANDOM_BATCHES || corpus.entries.is_empty() {
        return random();
    }
    let mut runner = TestRunner::new_with_rng(Config::default(), seeded_rng(seed));
    if below(&mut runner, 100) < FRESH_PERCENT {
        return random();
    }
    let Some(parent) = corpus.pick(&mut runner) else {
        return random();
    };
    let mut faults: Vec<TimedFault> = parent
        .faults
        .iter()
        .filter(|f| f.fault != Fault::HealAll)
        .cloned()
        .collect();
    // 1 to MUTATIONS_MAX mutations, uniformly.
    let count = 1 + below(&mut runner, MUTATIONS_MAX as u64) as usize;
    let total: u64 = Mutation::WEIGHTED.iter().map(|(_, w)| w).sum();
    let mut applied = Vec::new();
    // Each turn applies a mutation or wastes one try: bounded by twice the count.
    for _ in 0..count * 2 {
        if applied.len() == count {
            break;
        }
        let mut r = below(&mut runner, total);
        let mut m = Mutation::Add;
        for (cand, w) in Mutation::WEIGHTED {
            if r < w {
                m = cand;
                break;
            }
            r -= w;
        }
        if mutate(m, &mut faults, space, corpus, &mut runner) {
            applied.push(m);
        }
    }
    (
        space.normalize(faults),
        Origin::Mutated {
            parent: parent.seed,
            mutations: applied,
        },
    )
}

/// Shrinks the failing run `original` of `seed`, whose schedule came from `origin`: a
/// random draw as `--random` shrinks it (proptest's shrinking of that seed's draw), a
/// mutated schedule greedily ([`shrink_fixed`]). `spec` must be random (guided runs
/// are). Returns the smallest failing schedule found and its outcome.
pub fn shrink_guided(
    spec: &CampaignSpec,
    seed: u64,
    origin: &Origin,
    original: RunOutcome,
) -> (RunOutcome, Vec<TimedFault>) {
    match origin {
        Origin::Random => shrink(spec, seed, original),
        Origin::Mutated { .. } => shrink_fixed(spec, seed, original),
    }
}

/// Runs a guided (or, with [`Exploration::Random`], a random but coverage-measuring)
/// campaign over `spec`'s seeds (`spec.shard` applied: a shard explores alone) with
/// `spec.jobs` threads. Schedules are always random-campaign schedules; the scenario's own
/// faults are not used. `on_done` is called after each seed (from worker threads) with the
/// status as of the last merged batch.
pub fn run_guided(
    spec: &CampaignSpec,
    exploration: Exploration,
    on_done: impl Fn(&mut SeedResult, &GuidedStatus) + Sync,
) -> GuidedSummary {
    run_guided_until(spec, exploration, on_done, |_| false)
}

/// [`run_guided`], stopping after the first batch for which `stop` holds of one of its
/// results (`kzsim bench explore` stops at a flag's first violation). The seeds run are
/// the summary's; which batch stops does not depend on `spec.jobs`.
pub fn run_guided_until(
    spec: &CampaignSpec,
    exploration: Exploration,
    on_done: impl Fn(&mut SeedResult, &GuidedStatus) + Sync,
    stop: impl Fn(&SeedResult) -> bool,
) -> GuidedSummary {
    let spec = &CampaignSpec {
        random: true,
        ..spec.clone()
    };
    let seeds = shard_seeds(spec.seeds.clone(), spec.shard);
    let space = Space::of(spec);
    let ctx = Context::of(&spec.scenario);
    let started = Instant::now();
    let mut corpus = Corpus::default();
    let mut results: Vec<SeedResult> = Vec::with_capacity(seeds.len());
    let mut per_seed = Vec::with_capacity(seeds.len());
    let mut growth: Vec<(u64, usize)> = Vec::new();
    let mut status = GuidedStatus::default();
    for (batch, chunk) in seeds.chunks(BATCH_SEEDS).enumerate() {
        let candidates: Vec<(u64, Vec<TimedFault>, Origin)> = chunk
            .iter()
            .map(|&seed| {
                let (faults, origin) = candidate(seed, batch, exploration, &corpus, &space);
                (seed, faults, origin)
            })
            .collect();
        let done: Mutex<Vec<(usize, SeedResult, BTreeSet<Feature>)>> = Mutex::new(Vec::new());
        let next = AtomicUsize::new(0);
        let jobs = spec.jobs.max(1).min(candidates.len());
        let status_now = status;
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((seed, faults, origin)) = candidates.get(i) else {
                        break;
                    };
                    let mut features = BTreeSet::new();
                    let mut r = run_seed_with(
                        spec,
                        *seed,
                        faults.clone(),
                        |o| shrink_guided(spec, *seed, origin, o),
                        |o| features = coverage::features(&o.history, &ctx),
                    );
                    on_done(&mut r, &status_now);
                    done.lock().expect("results").push((i, r, features));
                });
            }
        });
        let mut done = done.into_inner().expect("results");
        done.sort_by_key(|(i, ..)| *i);
        let stopping = done.iter().any(|(_, r, _)| stop(r));
        for ((_, r, features), (seed, faults, origin)) in done.into_iter().zip(candidates) {
            debug_assert_eq!(r.seed, seed, "results pair with candidates by index");
            let new = corpus.merge(seed, faults, origin.clone(), features);
            per_seed.push((seed, origin, new));
            results.push(r);
        }
        status = GuidedStatus {
            features: corpus.coverage(),
            corpus: corpus.entries.len(),
            batches: batch + 1,
        };
        growth.push((per_seed.len() as u64, corpus.coverage()));
        if growth.len() > GROWTH_POINTS_MAX {
            // Halve: every other point from the first, and the newest.
            let last = *growth.last().expect("not empty");
            growth = growth.iter().step_by(2).copied().collect();
            if growth.last() != Some(&last) {
                growth.push(last);
            }
        }
        if stopping {
            break;
        }
    }
    GuidedSummary {
        summary: CampaignSummary::from_seeds(results, started.elapsed().as_secs_f64()),
        corpus,
        per_seed,
        growth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bugs::BugFlags;

    fn spec(scenario: crate::scenario::Scenario) -> CampaignSpec {
        CampaignSpec::random(scenario, 0..1, BugFlags::default(), 1)
    }

    /// Mutated schedules are valid random-campaign schedules: sorted, at most FAULTS_MAX
    /// faults then the heal-all at heal_at, and the scenario loader reads them back
    /// unchanged (so a report's scenario.toml replays them).
    #[test]
    fn mutated_schedules_are_valid_and_load_back() {
        for scenario in [
            crate::scenario::standard::standard_cluster(),
            crate::scenario::standard::standard_ensemble(),
        ] {
            let spec = spec(scenario.clone());
            let space = Space::of(&spec);
            let mut corpus = Corpus::default();
            for seed in 0..8 {
                let s = draw_schedule(seed, &space.shape, space.duration);
                let features = BTreeSet::from([Feature::KafkaControllers { active: seed as u8 }]);
                corpus.merge(seed, s.faults, Origin::Random, features);
            }
            let mut mutated = 0;
            let mut shifted = 0;
            for seed in 100..300 {
                let (faults, origin) = candidate(seed, 5, Exploration::Guided, &corpus, &space);
                mutated += usize::from(origin != Origin::Random);
                shifted += usize::from(faults.iter().any(|f| f.after.is_some()));
                assert!(faults.windows(2).all(|w| w[0].at <= w[1].at), "{faults:?}");
                assert!(faults.len() <= FAULTS_MAX + 1);
                let last = faults.last().expect("heal-all");
                assert_eq!(last.fault, Fault::HealAll);
                assert_eq!(last.at, space.end);
                assert!(faults[..faults.len() - 1]
                    .iter()
                    .all(|f| f.at < space.end && f.fault != Fault::HealAll));
                let with = scenario.with_faults(faults.clone());
                let text = with.to_toml();
                let back = crate::scenario::parse(&text, std::path::Path::new("guided.toml"));
                assert_eq!(back, Ok(with), "{text}");
                // The same seed and corpus give the same candidate.
                assert_eq!(
                    candidate(seed, 5, Exploration::Guided, &corpus, &space),
                    (faults, origin)
                );
            }
            assert!((120..=190).contains(&mutated), "{mutated} of 200 mutated");
            assert!(shifted > 20, "{shifted} of 200 with a moment");
        }
    }

    #[test]
    fn the_corpus_keeps_new_coverage_and_stays_bounded() {
        let mut c = Corpus::default();
        let f = |i: u8| Feature::KafkaControllers { active: i };
        assert_eq!(
            c.merge(1, vec![], Origin::Random, BTreeSet::from([f(0), f(1)])),
            2
        );
        assert_eq!(
            c.merge(2, vec![], Origin::Random, BTreeSet::from([f(0)])),
            0
        );
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.hits[&f(0)], 2);
        for seed in 0..(CORPUS_MAX as u64 + 10) {
            let feature = Feature::ZkEnsemble {
                leading: (seed % 5) as u8,
                following: (seed / 5 % 5) as u8,
                joining: (seed / 25 % 5) as u8,
                looking: (seed / 125) as u8,
                out: 0,
            };
            c.merge(seed + 10, vec![], Origin::Random, BTreeSet::from([feature]));
        }
        assert_eq!(c.entries.len(), CORPUS_MAX);
    }
}
