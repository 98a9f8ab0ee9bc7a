//! Shared helpers for whole-cluster tests: run a seed with a script, then look at the
//! history and the servers' final state.

#![allow(dead_code)]

pub mod flags;

use kzsim::cluster::{Cluster, EnsembleSpec};
use kzsim::history::{Call, Event, History, Op, Outcome, ZkEvent};
use kzsim::net::NetMsg;
use kzsim::zk::client::ZkClient;
use kzsim::zk::request::ZkOp;
use kzsim::zk::types::CreateMode;
use kzsim_sim::{RunConfig, SimTime};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a test run leaves: the history and what the script returned.
pub struct Ran<T> {
    pub history: History,
    pub value: T,
    pub trace_hash: u64,
}

/// Runs one seed on a fresh world: `body` starts what it needs and returns its value with
/// the run's history. Panics (naming the seed) if the run fails.
pub fn run_world<T, F, Fut>(seed: u64, body: F) -> Ran<T>
where
    T: Send + 'static,
    F: FnOnce(kzsim::net::World) -> Fut + Send + 'static,
    Fut: Future<Output = (T, History)> + 'static,
{
    let slot: Arc<Mutex<Option<History>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    let out = kzsim_sim::run_seed::<Event, NetMsg, T, _, _>(
        seed,
        RunConfig::default(),
        move |world| async move {
            let (v, history) = body(world).await;
            *s2.lock().unwrap() = Some(history);
            v
        },
    );
    let value = match out.result {
        Ok(v) => v,
        Err(e) => panic!("seed {seed}: run failed: {e}"),
    };
    let history = slot.lock().unwrap().take().expect("history collected");
    Ran {
        history,
        value,
        trace_hash: out.trace_hash,
    }
}

/// Runs one seed: starts the ensemble, runs `script`, returns the history.
pub fn run<T, F, Fut>(seed: u64, spec: EnsembleSpec, script: F) -> Ran<T>
where
    T: Send + 'static,
    F: FnOnce(Cluster) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    run_world(seed, move |world| async move {
        let cluster = Cluster::start(&world, spec);
        let v = script(cluster.clone()).await;
        (v, cluster.history())
    })
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Events of one kind with their node and time.
pub fn zk_events(h: &History) -> Vec<(SimTime, String, ZkEvent)> {
    h.events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Zk(e) => Some((r.at, r.node.clone(), e.clone())),
            _ => None,
        })
        .collect()
}

/// A client that writes `/k<i>` (persistent create) one after another, forever.
pub fn sequential_creator(
    prefix: &'static str,
) -> impl Fn(ZkClient) -> std::pin::Pin<Box<dyn Future<Output = ()>>> + Send + Sync + 'static {
    move |c: ZkClient| {
        Box::pin(async move {
            c.wait_connected(secs(30)).await;
            for i in 0.. {
                let op = ZkOp::Create {
                    path: format!("/{prefix}{i:05}"),
                    data: Some(format!("{i}").into_bytes()),
                    mode: CreateMode::PERSISTENT,
                };
                if c.call(op).await.is_err() {
                    madsim::time::sleep(ms(100)).await;
                    c.wait_connected(secs(30)).await;
                }
            }
        })
    }
}

/// Paths whose create completed ok.
pub fn acked_creates(h: &History) -> Vec<String> {
    h.ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .filter_map(|o| match (&o.call, &o.ret) {
            (Call::Create { .. }, kzsim::history::Ret::Path { path }) => Some(path.clone()),
            _ => None,
        })
        .collect()
}

pub fn ok_ops<'a>(
    h: &'a History,
    pred: impl Fn(&Op) -> bool + 'a,
) -> impl Iterator<Item = &'a Op> + 'a {
    h.ops
        .iter()
        .filter(move |o| o.outcome == Outcome::Ok && pred(o))
}

/// Requires `o` (a run of `seed`) to have completed and every checker to have passed,
/// naming the checkers that did not.
pub fn assert_passes(seed: u64, o: &kzsim::runner::RunOutcome) {
    assert!(o.error.is_none(), "seed {seed}: {}", o.verdict_line());
    let bad: Vec<String> = o
        .checks
        .iter()
        .filter(|c| !c.verdict.is_ok())
        .map(|c| format!("{}: {:?}", c.checker, c.verdict))
        .collect();
    assert!(o.passed(), "seed {seed}: {}; {bad:#?}", o.verdict_line());
}

/// Requires `o` to have completed with the verdict "outside the fault model".
pub fn assert_outside_fault_model(o: &kzsim::runner::RunOutcome) {
    assert!(o.error.is_none(), "{}", o.verdict_line());
    assert_eq!(
        o.verdict(),
        kzsim::runner::RunVerdict::OutsideFaultModel,
        "{}",
        o.verdict_line()
    );
}

/// Runs the benchmark's standard cluster (`kzsim::bench::STANDARD_CLUSTER`, every checker)
/// with `faults` appended (TOML `[[faults]]` tables, or empty for its own empty schedule)
/// on `seed` with `bugs`: the random campaign's scenario for a seed whose schedule it drew.
pub fn standard_cluster_run(
    seed: u64,
    faults: &str,
    bugs: kzsim::bugs::BugFlags,
) -> kzsim::runner::RunOutcome {
    cluster_run(kzsim::bench::STANDARD_CLUSTER, seed, faults, bugs)
}

/// Runs the scenario text `cluster` with `faults` appended on `seed` with `bugs`.
pub fn cluster_run(
    cluster: &str,
    seed: u64,
    faults: &str,
    bugs: kzsim::bugs::BugFlags,
) -> kzsim::runner::RunOutcome {
    let text = format!("{cluster}\n{faults}");
    let file = format!("bench-standard-cluster-seed{seed}.toml");
    let s = kzsim::scenario::parse(&text, std::path::Path::new(&file)).expect("scenario parses");
    kzsim::runner::run_scenario(
        &s,
        &kzsim::runner::RunOptions {
            seed,
            bugs,
            faults: None,
        },
    )
}

/// `history` as if every lost disk had been kept: the same run, with no fault outside the
/// model to excuse anything.
pub fn disks_kept(history: &History) -> History {
    let mut h = history.clone();
    for r in &mut h.events {
        if let Event::Sim(kzsim::history::SimEvent::NodeCrashed { disk_lost, .. }) = &mut r.event {
            *disk_lost = false;
        }
    }
    h
}

/// A past run kept as test data, judged by today's checkers: the history the simulation
/// recorded at commit `recorded_at` (gzip'd JSON under `tests/data/recorded/`), with the
/// scenario `scenario_text` it ran. For stories the simulation no longer reaches after a
/// change of its timing: what the checkers conclude from that history stays pinned, as
/// checkers see only recorded histories. Panics, naming the file, if it is missing or
/// does not parse.
pub fn recorded_run(
    file: &str,
    recorded_at: &str,
    scenario_text: &str,
) -> kzsim::runner::RunOutcome {
    use std::io::Read;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/recorded")
        .join(file);
    let gz = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut json)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let history: History = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{} (recorded at {recorded_at}): {e}", path.display()));
    let scenario = kzsim::scenario::parse(scenario_text, std::path::Path::new(file))
        .expect("the recorded run's scenario parses");
    kzsim::runner::RunOutcome {
        scenario: scenario.name.clone(),
        seed: 0,
        bugs: kzsim::bugs::BugFlags::default(),
        faults: scenario.faults.clone(),
        checks: kzsim::runner::run_checkers(&scenario, &history),
        history,
        run_hash: 0,
        teaching: Vec::new(),
        error: None,
        sim_secs: 0.0,
    }
}
