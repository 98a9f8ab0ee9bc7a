//! Benchmarks printed by `kzsim bench`: simulation speed on a standard cluster with faults,
//! and the checkers' speed. Figures, not assertions: performance targets live here, never
//! in timed tests.

use crate::campaign::sweep::{run_campaign, CampaignSpec};
use crate::scenario::Scenario;

/// The standard scenarios the benchmarks (and campaigns) run, kept under their old paths.
pub use crate::scenario::standard::{
    standard_cluster, standard_ensemble, STANDARD_CLUSTER, STANDARD_CLUSTER_BEFORE_SILENT_CLIENT,
    STANDARD_ENSEMBLE,
};

/// Runs `seeds` seeds of the standard cluster on 1 thread and on every core; returns the
/// printed figures.
pub fn bench_sim(seeds: u64) -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut out = String::from("Simulation speed: standard cluster (3 ZooKeeper servers, 3 brokers, 1 topic x 3 partitions x RF 3,\n5 ZooKeeper clients + 1 silent, 2 producers, 1 consumer group of 2), 60 simulated seconds, random faults\n");
    for jobs in [1, cores] {
        let spec = CampaignSpec::random(standard_cluster(), 0..seeds, Default::default(), jobs);
        let s = run_campaign(&spec, |_| {});
        out.push_str(&format!(
            "  {jobs} thread(s): {} seeds in {:.2}s wall: {:.0} simulated s per wall s, {:.0} seeds/minute ({} failed)\n",
            s.runs,
            s.wall_secs,
            s.sim_secs / s.wall_secs.max(1e-9),
            s.runs as f64 * 60.0 / s.wall_secs.max(1e-9),
            s.failures
        ));
        if jobs == cores {
            break;
        }
    }
    out
}

/// Settings of `kzsim bench explore`.
#[derive(Clone, Debug)]
pub struct ExploreSettings {
    /// The flags to hunt (every flag when empty).
    pub flags: Vec<String>,
    /// Seeds allowed per hunt.
    pub budget: u64,
    /// Hunts per flag and search, from starting seeds 0, budget, 2 x budget, ...
    pub starts: u64,
    /// Threads.
    pub jobs: usize,
}

/// `kzsim bench explore`: for each flag, seeds and wall seconds to the first violation
/// under the generic random campaign and under guided exploration, per starting seed and
/// as a median, with the ratio of the medians; then the same budget with every flag off on
/// each generic campaign. `progress` gets a line per hunt.
/// An unknown flag name is an error naming it.
pub fn bench_explore(
    settings: &ExploreSettings,
    progress: impl Fn(&str),
) -> Result<String, String> {
    use crate::campaign::explore::{self, Search};
    let flags = explore::select_flags(&settings.flags)?;
    let starts: Vec<u64> = (0..settings.starts.max(1))
        .map(|k| k * settings.budget)
        .collect();
    let mut out = format!(
        "Exploration: seeds to the first violation per bug flag, generic campaigns (ZooKeeper flags: the standard ensemble; Kafka flags: the standard cluster), budget {} seeds per hunt, starting seeds {:?}, {} job(s)\n\n",
        settings.budget, starts, settings.jobs
    );
    out.push_str("| flag | campaign | random: seeds per start | random: median | guided: seeds per start | guided: median | guided / random | median wall s (random, guided) | rules of the first catch |\n|---|---|---|---|---|---|---|---|---|\n");
    let mut missed = 0;
    for flag in &flags {
        let mut columns = Vec::new();
        let mut medians = Vec::new();
        let mut walls = Vec::new();
        let mut rules = None;
        for search in [Search::Random, Search::Guided] {
            let hunts: Vec<explore::Hunt> = starts
                .iter()
                .map(|&start| {
                    let h = explore::hunt(flag, search, start, settings.budget, settings.jobs);
                    progress(&format!(
                        "{} {} from {start}: {}",
                        flag.name,
                        search.as_str(),
                        h.catch.as_ref().map_or_else(
                            || format!("not caught in {} seeds ({:.0}s)", h.budget, h.wall_secs),
                            |c| format!("seed {} ({} seeds, {:.0}s)", c.seed, c.seeds, h.wall_secs)
                        )
                    ));
                    h
                })
                .collect();
            missed += hunts.iter().filter(|h| h.catch.is_none()).count();
            let refs: Vec<&explore::Hunt> = hunts.iter().collect();
            columns.push(
                hunts
                    .iter()
                    .map(|h| {
                        h.catch
                            .as_ref()
                            .map_or_else(|| format!(">{}", h.budget), |c| c.seeds.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let all_missed = hunts.iter().all(|h| h.catch.is_none());
            medians.push((
                explore::median(&mut explore::seeds_or_budget(&refs)),
                all_missed,
            ));
            walls.push(explore::median(
                &mut hunts.iter().map(|h| h.wall_secs).collect::<Vec<_>>(),
            ));
            if rules.is_none() {
                rules = hunts
                    .iter()
                    .find_map(|h| h.catch.as_ref())
                    .map(|c| c.rules.join(", "));
            }
        }
        let fmt_median = |m: &(Option<f64>, bool)| match m {
            (Some(v), true) => format!(">{v:.0}"),
            (Some(v), false) => format!("{v:.0}"),
            (None, _) => "-".to_string(),
        };
        let ratio = match (medians[0], medians[1]) {
            ((Some(r), false), (Some(g), false)) => format!("{:.2}", g / r.max(1.0)),
            _ => "-".to_string(),
        };
        let wall = |w: &Option<f64>| w.map_or("-".into(), |v| format!("{v:.1}"));
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {}, {} | {} |\n",
            flag.name,
            explore::campaign_for(flag).name,
            columns[0],
            fmt_median(&medians[0]),
            columns[1],
            fmt_median(&medians[1]),
            ratio,
            wall(&walls[0]),
            wall(&walls[1]),
            rules.unwrap_or_else(|| "-".to_string())
        ));
    }
    out.push_str(&format!(
        "\n{} of {} hunts found no violation within the budget.\n\nFlags off, the same budget from seed 0:\n",
        missed,
        2 * flags.len() * starts.len()
    ));
    let mut sides: Vec<Scenario> = Vec::new();
    for flag in &flags {
        let s = explore::campaign_for(flag);
        if !sides.iter().any(|x| x.name == s.name) {
            sides.push(s);
        }
    }
    for (scenario, search) in sides
        .iter()
        .flat_map(|s| [(s, Search::Random), (s, Search::Guided)])
    {
        let c = explore::control(scenario, search, 0, settings.budget, settings.jobs);
        let verdicts: Vec<String> = c
            .by_verdict
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        let line = format!(
            "  {} ({}): {} runs ({}), {} with a violation\n",
            scenario.name,
            search.as_str(),
            c.runs,
            verdicts.join(", "),
            c.seeds.iter().filter(|r| explore::is_violation(r)).count()
        );
        progress(line.trim());
        out.push_str(&line);
    }
    Ok(out)
}
