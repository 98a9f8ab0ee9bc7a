//! Seeds to the first violation: how quickly a generic campaign finds a bug nobody
//! scripted (`kzsim bench explore`).
//!
//! For each bug flag, a hunt runs the generic campaign for the flag's side (the standard
//! ZooKeeper ensemble for ZooKeeper flags, the standard Kafka cluster for Kafka flags: no
//! per-flag scenario, no per-flag tuning) with the flag on, from a starting seed, in seed
//! order, and stops at the first run that violates a rule the flag breaks
//! ([`BugFlag::rules`]). A run outside the fault model, an unknown verdict, a run error or
//! another rule's violation is not a catch. Several starting seeds give a
//! median. The same budget with every flag off must stay free of violations, or the
//! catches mean nothing.
//!
//! The seeds to the first violation do not depend on `--jobs`: random seeds run in chunks
//! of [`CHUNK_PER_JOB`] per job, guided ones in the guided campaign's fixed batches, and the
//! lowest violating seed of the first chunk or batch that has one is the catch, whichever
//! thread finished first.

use super::guided::{run_guided_until, Exploration};
use super::sweep::{run_campaign, CampaignSpec, CampaignSummary, SeedResult};
use crate::bugs::{BugFlag, BugFlags, FLAGS};
use crate::runner::RunVerdict;
use crate::scenario::Scenario;
use std::ops::Range;
use std::time::Instant;

/// Seeds per job in one chunk of a hunt: the seeds run past the catch are at most a
/// chunk's worth.
pub const CHUNK_PER_JOB: u64 = 2;

/// How the schedules of a hunt are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// One random schedule per seed (`kzsim campaign --random`).
    Random,
    /// Coverage-guided schedules (`kzsim campaign --guided`): batches of
    /// [`super::guided::BATCH_SEEDS`], the first random, then mostly mutations of the
    /// schedules that reached new protocol states.
    Guided,
}

impl Search {
    /// The name tables print.
    pub fn as_str(self) -> &'static str {
        match self {
            Search::Random => "random",
            Search::Guided => "guided",
        }
    }
}

/// The first violation a hunt found.
#[derive(Clone, Debug, PartialEq)]
pub struct Catch {
    /// The violating seed.
    pub seed: u64,
    /// Seeds run up to and including it (in seed order from the start).
    pub seeds: u64,
    /// The rules it violated.
    pub rules: Vec<String>,
}

/// One hunt: a flag, a search, a starting seed and a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Hunt {
    /// The flag's name.
    pub flag: &'static str,
    /// The search.
    pub search: Search,
    /// The first seed.
    pub start: u64,
    /// Seeds allowed.
    pub budget: u64,
    /// The first violation, if one came within the budget.
    pub catch: Option<Catch>,
    /// Wall seconds until the catch (or the budget ran out).
    pub wall_secs: f64,
}

/// The generic campaign's scenario for `flag`'s side.
pub fn campaign_for(flag: &BugFlag) -> Scenario {
    if flag.kafka {
        crate::scenario::standard::standard_cluster()
    } else {
        crate::scenario::standard::standard_ensemble()
    }
}

/// True if `r` is a violation (not outside the fault model, unknown or a run error).
pub fn is_violation(r: &SeedResult) -> bool {
    r.run_verdict == RunVerdict::Fail && !r.violated_rules.is_empty()
}

/// True if `r` catches `flag`: a violation of one of the rules the flag breaks.
pub fn catches(flag: &BugFlag, r: &SeedResult) -> bool {
    is_violation(r)
        && r.violated_rules
            .iter()
            .any(|v| flag.rules.contains(&v.as_str()))
}

fn spec(scenario: &Scenario, bugs: BugFlags, seeds: Range<u64>, jobs: usize) -> CampaignSpec {
    CampaignSpec::random(scenario.clone(), seeds, bugs, jobs)
}

/// Hunts `flag` with `search` from seed `start` for at most `budget` seeds on `jobs`
/// threads.
pub fn hunt(flag: &BugFlag, search: Search, start: u64, budget: u64, jobs: usize) -> Hunt {
    let scenario = campaign_for(flag);
    let bugs = BugFlags::from_names(&[flag.name]).expect("a listed flag's name is known");
    let jobs = jobs.max(1);
    let chunk = CHUNK_PER_JOB * jobs as u64;
    let end = start.saturating_add(budget);
    let started = Instant::now();
    let first = |seeds: &[SeedResult]| {
        seeds.iter().find(|r| catches(flag, r)).map(|r| Catch {
            seed: r.seed,
            seeds: r.seed - start + 1,
            rules: r.violated_rules.clone(),
        })
    };
    let mut catch = None;
    match search {
        Search::Random => {
            let mut from = start;
            while from < end && catch.is_none() {
                let to = from.saturating_add(chunk).min(end);
                let summary = run_campaign(&spec(&scenario, bugs, from..to, jobs), |_| {});
                catch = first(&summary.seeds);
                from = to;
            }
        }
        Search::Guided => {
            let g = run_guided_until(
                &spec(&scenario, bugs, start..end, jobs),
                Exploration::Guided,
                |_, _| {},
                |r| catches(flag, r),
            );
            catch = first(&g.summary.seeds);
        }
    }
    Hunt {
        flag: flag.name,
        search,
        start,
        budget,
        catch,
        wall_secs: started.elapsed().as_secs_f64(),
    }
}

/// The flag-free control: `budget` seeds of `scenario` from `start` with every flag off,
/// made by `search`.
pub fn control(
    scenario: &Scenario,
    search: Search,
    start: u64,
    budget: u64,
    jobs: usize,
) -> CampaignSummary {
    let end = start.saturating_add(budget);
    let spec = spec(scenario, BugFlags::default(), start..end, jobs);
    match search {
        Search::Random => run_campaign(&spec, |_| {}),
        Search::Guided => {
            run_guided_until(&spec, Exploration::Guided, |_, _| {}, |_| false).summary
        }
    }
}

/// The median of `values` (the lower middle for an even count); `None` if empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[(values.len() - 1) / 2])
}

/// The flags a `--flags` list names, or every flag; an unknown name is an error naming it.
pub fn select_flags(names: &[String]) -> Result<Vec<&'static BugFlag>, String> {
    if names.is_empty() {
        return Ok(FLAGS.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            FLAGS.iter().find(|f| f.name == n).ok_or_else(|| {
                format!(
                    "unknown bug flag `{n}`; valid flags: {}",
                    FLAGS.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                )
            })
        })
        .collect()
}

/// Seeds to the catch across hunts, counting a hunt that ran out as its budget (so a
/// median over hunts that mostly miss says "at least the budget").
pub fn seeds_or_budget(hunts: &[&Hunt]) -> Vec<f64> {
    hunts
        .iter()
        .map(|h| h.catch.as_ref().map_or(h.budget, |c| c.seeds) as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_lower_middle_and_none_when_empty() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [9.0, 1.0, 4.0]), Some(4.0));
        assert_eq!(median(&mut [4.0, 1.0, 9.0, 2.0]), Some(2.0));
    }

    #[test]
    fn unknown_flags_are_named() {
        let Err(e) = select_flags(&["zk-nope".to_string()]) else {
            panic!("an unknown flag is refused")
        };
        assert!(
            e.contains("`zk-nope`") && e.contains("zk-quorum-off-by-one"),
            "{e}"
        );
        assert_eq!(select_flags(&[]).map(|f| f.len()), Ok(FLAGS.len()));
    }

    /// The catch is the lowest violating seed whatever the job count.
    #[test]
    fn a_hunt_finds_the_same_first_seed_on_one_and_two_jobs() {
        let flag = FLAGS
            .iter()
            .find(|f| f.name == "zk-quorum-off-by-one")
            .expect("flag exists");
        let one = hunt(flag, Search::Random, 0, 40, 1);
        let two = hunt(flag, Search::Random, 0, 40, 2);
        let c = one.catch.clone().expect("caught within 40 seeds");
        assert_eq!(one.catch, two.catch);
        assert_eq!(c.seeds, c.seed + 1);
        assert!(!c.rules.is_empty());
    }
}
