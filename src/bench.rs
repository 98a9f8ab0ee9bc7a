//! Benchmarks printed by `kzsim bench`: simulation speed on a standard cluster with faults,
//! and the checkers' speed. Figures, not assertions: performance targets live here, never
//! in timed tests.

use crate::campaign::sweep::{run_campaign, CampaignSpec};
use crate::scenario::Scenario;
use std::path::Path;

/// The text of [`STANDARD_CLUSTER_BEFORE_SILENT_CLIENT`].
macro_rules! standard_cluster_core {
    () => {
        r#"
name = "bench-standard-cluster"
description = "The benchmark's standard cluster, with a random fault schedule per seed."
duration = "60s"

[zookeeper]
servers = 3
tick_time = "2s"
init_limit = 10
sync_limit = 5

[kafka]
brokers = 3
zk_session_timeout = "6s"
min_insync_replicas = 2

[[kafka.topics]]
name = "events"
partitions = 3
replication_factor = 3
min_insync_replicas = 2

[[workload.zk_clients]]
count = 5
rate = 10
keys = 8
session_timeout = "10s"
mix = { create = 1, set = 2, get = 4, delete = 1, cas-register = 2 }

[[workload.producers]]
count = 2
topic = "events"
acks = "all"
rate = 20

[[workload.consumer_groups]]
group = "readers"
topics = ["events"]
members = 2

[expect]
checkers = "all"
"#
    };
}

/// The text of the standard cluster's silent client (see [`STANDARD_CLUSTER`]).
macro_rules! standard_silent_client {
    () => {
        r#"
[[workload.zk_clients]]
count = 1
rate = 2
keys = 2
session_timeout = "4s"
mix = { silent = 1 }
"#
    };
}

/// The standard cluster: 3 ZooKeeper servers, 3 brokers, one topic with 3 partitions and
/// replication 3, 5 ZooKeeper clients, 2 producers and one consumer group of 2, for 60
/// simulated seconds; the faults are drawn at random per seed. A sixth ZooKeeper client
/// goes silent past its session timeout now and then, so that every run has a session
/// expiry for `zk.sessions.expiry-bounds` to judge (the brokers' sessions expire only when
/// a fault makes them); the brokers' own ZooKeeper traffic feeds the watch and ephemeral
/// checkers.
pub const STANDARD_CLUSTER: &str = concat!(standard_cluster_core!(), standard_silent_client!());

/// [`STANDARD_CLUSTER`] without its silent ZooKeeper client: the standard cluster as the
/// random campaign ran it before issue #22. Whole-run regressions found by that campaign
/// replay it, so that their seed and schedule still tell the story they were found with.
pub const STANDARD_CLUSTER_BEFORE_SILENT_CLIENT: &str = standard_cluster_core!();

/// The standard ZooKeeper-only ensemble: three servers with ZooKeeper's default settings
/// except a snapshot every ~1,000 transactions (so that runs cross snapshots), and clients
/// using every operation kind kzsim has: plain reads and writes, versioned cas, multi,
/// sequential and ephemeral nodes, watches, the lock and group-membership recipes, a job
/// queue (three clients enqueueing onto two hot parents with guarded multis, as the
/// ZooKeeper queue recipe's producers do: contention, failed multis and sequential names
/// under load), and a silent client whose session expires. `kzsim campaign --standard zookeeper` runs it with a
/// random fault schedule per seed; no part of it is tuned to any bug flag.
pub const STANDARD_ENSEMBLE: &str = r#"
name = "bench-standard-ensemble"
description = "The standard ZooKeeper-only ensemble, with a random fault schedule per seed."
duration = "60s"

[zookeeper]
servers = 3
tick_time = "2s"
init_limit = 10
sync_limit = 5
snap_count = 1000

[[workload.zk_clients]]
count = 5
rate = 10
keys = 8
session_timeout = "10s"
mix = { create = 1, set = 2, get = 3, delete = 1, cas-register = 2, multi = 2 }

# A job queue: producers enqueue onto two hot parents with guarded multis.
[[workload.zk_clients]]
count = 3
rate = 20
keys = 2
session_timeout = "10s"
mix = { multi = 4, set = 1, get = 1 }

[[workload.zk_clients]]
count = 2
rate = 5
keys = 4
session_timeout = "4s"
mix = { get-w = 3, exists-w = 2, ls-w = 1, set = 2, lock = 2, member = 2 }

[[workload.zk_clients]]
count = 1
rate = 2
keys = 2
session_timeout = "4s"
mix = { silent = 1 }

[expect]
checkers = "all"
"#;

/// The standard ensemble scenario ([`STANDARD_ENSEMBLE`]).
pub fn standard_ensemble() -> Scenario {
    crate::scenario::parse(STANDARD_ENSEMBLE, Path::new("<bench standard ensemble>"))
        .expect("the built-in scenario parses")
}

/// The standard cluster scenario.
pub fn standard_cluster() -> Scenario {
    crate::scenario::parse(STANDARD_CLUSTER, Path::new("<bench standard cluster>"))
        .expect("the built-in scenario parses")
}

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
