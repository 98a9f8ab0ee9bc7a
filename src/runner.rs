//! Runs one scenario for one seed: starts the cluster, drives the workload, fires the fault
//! schedule (resolving "the ZooKeeper leader" and labels at the moment each fault fires),
//! then judges the recorded history with the checkers the scenario names and reports each
//! teaching expectation as seen or not.

use crate::bugs::BugFlags;
use crate::check::{self, CheckReport};
use crate::cluster::{Cluster, EnsembleSpec};
use crate::history::{Call, Event, History, KafkaEvent, Outcome, SimEvent, ZkEvent, ZkRole};
use crate::kafka::cluster::{KafkaCluster, KafkaSpec};
use crate::kafka::wire::Acks;
use crate::net::{NetMsg, World};
use crate::scenario::{
    complete_groups, format_fsync_latency, fsync_latency_us, CheckerName, Fault, Moment, Scenario,
    Target, Teaching, TimedFault, ZkOpKind,
};
use crate::zk::client::{ClientState, ZkClient};
use crate::zk::request::{ZkOp, ZkResponse};
use crate::zk::types::CreateMode;
use kzsim_sim::trace::fnv1a;
use kzsim_sim::{DiskConfig, NodeClock, RunConfig, SimTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The seed: the same seed, scenario and flags give the same run.
    pub seed: u64,
    /// Re-introduced bugs.
    pub bugs: BugFlags,
    /// Replace the scenario's fault schedule (campaigns and shrinking).
    pub faults: Option<Vec<TimedFault>>,
}

/// A teaching expectation and whether the run showed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeachingResult {
    /// What was expected, in words.
    pub expectation: String,
    /// Seen (`Some(true)`), not seen (`Some(false)`), or not applicable to this build.
    pub seen: Option<bool>,
    /// The evidence.
    pub detail: String,
}

/// Everything one run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Bug flags that were on.
    pub bugs: BugFlags,
    /// The fault schedule that ran.
    #[serde(skip)]
    pub faults: Vec<TimedFault>,
    /// The recorded history.
    #[serde(skip)]
    pub history: History,
    /// Stable hash of the trace and the client history: equal for equal runs.
    pub run_hash: u64,
    /// The checkers' reports.
    pub checks: Vec<CheckReport>,
    /// Teaching expectations.
    pub teaching: Vec<TeachingResult>,
    /// Set if the run itself failed (a panic in protocol code, or the time limit).
    pub error: Option<String>,
    /// Simulated seconds the run covered.
    pub sim_secs: f64,
}

impl RunOutcome {
    /// The run's verdict: `Error` if the run itself failed; `Fail` if a checker found a
    /// violation or a teaching expectation was not seen; `Unknown` if no checker judged
    /// the run or one had nothing to judge (and none found a violation); `OutsideFaultModel`
    /// if the only breaches are ones the real system allows under faults outside its fault
    /// model (each excused exactly by its checker); else `Pass`.
    pub fn verdict(&self) -> RunVerdict {
        if self.error.is_some() {
            return RunVerdict::Error;
        }
        if self.checks.iter().any(|c| c.verdict.is_violated())
            || self.teaching.iter().any(|t| t.seen == Some(false))
        {
            return RunVerdict::Fail;
        }
        if self.checks.is_empty()
            || self
                .checks
                .iter()
                .any(|c| !c.verdict.is_ok() && !c.verdict.is_outside_fault_model())
        {
            return RunVerdict::Unknown;
        }
        if self
            .checks
            .iter()
            .any(|c| c.verdict.is_outside_fault_model())
        {
            RunVerdict::OutsideFaultModel
        } else {
            RunVerdict::Pass
        }
    }

    /// True for `Pass` and, unless `strict_fault_model`, `OutsideFaultModel`.
    pub fn passed_with(&self, strict_fault_model: bool) -> bool {
        match self.verdict() {
            RunVerdict::Pass => true,
            RunVerdict::OutsideFaultModel => !strict_fault_model,
            RunVerdict::Unknown | RunVerdict::Fail | RunVerdict::Error => false,
        }
    }

    /// True if the run passed ([`RunOutcome::passed_with`] without strictness).
    pub fn passed(&self) -> bool {
        self.passed_with(false)
    }

    /// Checkers that found a violation.
    pub fn violated(&self) -> Vec<&CheckReport> {
        self.checks
            .iter()
            .filter(|c| c.verdict.is_violated())
            .collect()
    }

    /// A one-line verdict.
    pub fn verdict_line(&self) -> String {
        let named = |keep: fn(&CheckReport) -> bool| -> String {
            self.checks
                .iter()
                .filter(|c| keep(c))
                .map(|c| c.checker.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let unseen = self
            .teaching
            .iter()
            .filter(|t| t.seen == Some(false))
            .count();
        match self.verdict() {
            RunVerdict::Pass => "PASS".to_string(),
            RunVerdict::OutsideFaultModel => format!(
                "OUTSIDE THE FAULT MODEL: {} (breaches the real system allows under these faults; see each checker's excuses)",
                named(|c| c.verdict.is_outside_fault_model())
            ),
            RunVerdict::Unknown if self.checks.is_empty() => {
                "UNKNOWN: no checker judged this run".to_string()
            }
            RunVerdict::Unknown => format!(
                "UNKNOWN: {} had nothing to judge (no checker found a violation)",
                named(|c| !c.verdict.is_ok() && !c.verdict.is_outside_fault_model())
            ),
            RunVerdict::Fail if self.violated().is_empty() => {
                format!("FAIL: {unseen} teaching expectation(s) not seen")
            }
            RunVerdict::Fail => format!("FAIL: {}", named(|c| c.verdict.is_violated())),
            RunVerdict::Error => format!(
                "ERROR (a defect in kzsim's model, not a verdict on the simulated system): {}",
                self.error.as_deref().unwrap_or_default()
            ),
        }
    }
}

impl RunVerdict {
    /// The verdict's name in summaries and JSON.
    pub fn name(self) -> &'static str {
        match self {
            RunVerdict::Pass => "pass",
            RunVerdict::OutsideFaultModel => "outside-fault-model",
            RunVerdict::Unknown => "unknown",
            RunVerdict::Fail => "fail",
            RunVerdict::Error => "error",
        }
    }
}

/// Stores the reports `judge` makes in `outcome`. A checker's panic is a kzsim defect,
/// never a verdict: it becomes the run's error (added to an earlier one), so the run is an
/// ERROR and the other runs of a campaign go on.
fn record_checks(outcome: &mut RunOutcome, judge: impl FnOnce() -> Vec<CheckReport>) {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(judge)) {
        Ok(checks) => outcome.checks = checks,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a non-text panic");
            let error = format!("a checker panicked: {message}");
            outcome.error = Some(match outcome.error.take() {
                Some(earlier) => format!("{earlier}; {error}"),
                None => error,
            });
        }
    }
}

/// A run's verdict, from its checkers, teaching expectations and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunVerdict {
    /// Every checker judged and passed.
    Pass,
    /// The only breaches are ones the real system allows under faults outside its fault
    /// model (a power loss of every replica, a disk lost under a voter's id).
    OutsideFaultModel,
    /// No violation, but no PASS either: no checker judged the run, or one had nothing
    /// to judge in it (its report says why).
    Unknown,
    /// A violation, or a teaching expectation not seen.
    Fail,
    /// The run itself failed: a panic in kzsim's protocol model or the time limit, a
    /// defect in kzsim to fix, never a verdict on the simulated system.
    Error,
}

/// The ensemble a scenario asks for.
pub fn ensemble_spec(s: &Scenario, bugs: &BugFlags) -> EnsembleSpec {
    let z = &s.cluster.zookeeper;
    EnsembleSpec {
        servers: z.servers as usize,
        tick_ms: z.tick_time.as_millis() as u64,
        init_limit: z.init_limit as u64,
        sync_limit: z.sync_limit as u64,
        read_only: z.read_only,
        snap_count: z.snap_count,
        purge_retain: z.purge_retain.map(|n| n as usize),
        wall_clock_start_ms: s.wall_clock_start_ms,
        bugs: bugs.zk,
    }
}

/// The Kafka cluster a scenario asks for.
pub fn kafka_spec(k: &crate::scenario::KafkaCluster, bugs: &BugFlags) -> KafkaSpec {
    KafkaSpec {
        brokers: k.brokers as usize,
        topics: k
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions, t.replication_factor))
            .collect(),
        min_insync_replicas: k.min_insync_replicas,
        unclean_leader_election: k.unclean_leader_election
            || k.topics.iter().any(|t| t.unclean_leader_election),
        zk_session_timeout_ms: k.zk_session_timeout.as_millis() as u64,
        replica_lag_time_max_ms: k.replica_lag_time_max.as_millis() as u64,
        log_flush_interval_messages: k.log_flush_interval_messages,
        bugs: bugs.kafka,
        controller_bugs: bugs.controller,
    }
}

/// Runs `scenario` once.
pub fn run_scenario(scenario: &Scenario, opts: &RunOptions) -> RunOutcome {
    let faults = opts
        .faults
        .clone()
        .unwrap_or_else(|| scenario.faults.clone());
    let mut outcome = RunOutcome {
        scenario: scenario.name.clone(),
        seed: opts.seed,
        bugs: opts.bugs,
        faults: faults.clone(),
        history: History::new(),
        run_hash: 0,
        checks: Vec::new(),
        teaching: Vec::new(),
        error: None,
        sim_secs: 0.0,
    };
    let spec = ensemble_spec(scenario, &opts.bugs);
    let slot: Arc<Mutex<Option<Vec<crate::history::Op>>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    let sc = scenario.clone();
    let bugs = opts.bugs;
    // With liveness expected, the run goes on after the last fault long enough for the
    // checker's bound: a safety phase with faults, then a convergence phase without.
    let mut duration = scenario.duration;
    if scenario.expect.checkers.contains(&CheckerName::Liveness) {
        let last = last_change_at(&faults, duration);
        duration = duration.max(last + settle_time(scenario) + Duration::from_secs(1));
    }
    let limit = duration + Duration::from_secs(600);
    let mut config = RunConfig {
        time_limit: limit,
        ..RunConfig::default()
    };
    if let Some(latency) = scenario.cluster.zookeeper.fsync_latency {
        config.disk = DiskConfig {
            fsync_latency_us: fsync_latency_us(latency),
        };
    }
    let out = kzsim_sim::run_seed::<Event, NetMsg, (), _, _>(
        opts.seed,
        config,
        move |world| async move {
            let cluster = Cluster::start(&world, spec);
            let kafka = sc
                .cluster
                .kafka
                .as_ref()
                .map(|k| KafkaCluster::start(&world, &cluster, kafka_spec(k, &bugs)));
            start_workload(&cluster, kafka.as_ref(), &sc, bugs.recipes);
            run_faults(&world, &cluster, kafka.as_ref(), &sc, faults, duration).await;
            if let Some(k) = &kafka {
                k.finish();
            }
            // The events are the trace, which `run_seed` hands back below.
            cluster.record_final_trees();
            *s2.lock().expect("history slot") = Some(cluster.recorder().take_ops());
        },
    );
    outcome.sim_secs = out.sim_time.as_secs_f64();
    // If the run died, the ops are missing but the trace still shows what happened.
    let mut history = History::new();
    history.ops = slot
        .lock()
        .expect("history slot")
        .take()
        .unwrap_or_default();
    history.events = out
        .trace
        .into_iter()
        .map(crate::net::event_record)
        .collect();
    if let Err(e) = &out.result {
        outcome.error = Some(e.to_string());
    }
    outcome.run_hash = run_hash(out.trace_hash, &history);
    record_checks(&mut outcome, || run_checkers(scenario, &history));
    outcome.teaching = scenario
        .expect
        .teaching
        .iter()
        .map(|t| judge_teaching(t, scenario, &history))
        .collect();
    outcome.history = history;
    outcome
}

/// The trace hash combined with the client history: FNV-1a over each op's postcard
/// encoding (portable: varints, no platform widths), as the trace hash is.
pub fn run_hash(trace_hash: u64, history: &History) -> u64 {
    /// Every field of an op, with the call nested rather than flattened (postcard cannot
    /// encode serde's flattened maps).
    #[derive(Serialize)]
    struct OpFields<'a> {
        process: u64,
        session: Option<i64>,
        node: &'a Option<String>,
        call: &'a Call,
        invoke: kzsim_sim::SimTime,
        complete: Option<kzsim_sim::SimTime>,
        outcome: Outcome,
        ret: &'a crate::history::Ret,
        zxid: Option<i64>,
    }
    /// Hashes bytes as postcard produces them, without a buffer.
    struct FnvFlavor(u64);
    impl postcard::ser_flavors::Flavor for FnvFlavor {
        type Output = u64;
        fn try_push(&mut self, b: u8) -> postcard::Result<()> {
            self.0 = fnv1a(self.0, &[b]);
            Ok(())
        }
        fn try_extend(&mut self, b: &[u8]) -> postcard::Result<()> {
            self.0 = fnv1a(self.0, b);
            Ok(())
        }
        fn finalize(self) -> postcard::Result<u64> {
            Ok(self.0)
        }
    }
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, &trace_hash.to_le_bytes());
    for op in &history.ops {
        // Destructured so that a new field of `Op` cannot be left out of the hash.
        let crate::history::Op {
            process,
            session,
            node,
            call,
            invoke,
            complete,
            outcome,
            ret,
            zxid,
        } = op;
        let fields = OpFields {
            process: *process,
            session: *session,
            node,
            call,
            invoke: *invoke,
            complete: *complete,
            outcome: *outcome,
            ret,
            zxid: *zxid,
        };
        hash = postcard::serialize_with_flavor(&fields, FnvFlavor(hash)).expect("ops serialize");
    }
    hash
}

/// The latest a schedule can still change the cluster, for a run of `duration`: each
/// fault fires no earlier than its `at` nor before the one before it; one aimed at a moment
/// waits at most until the next fault is due (the run's end for the last), then its delay;
/// a timed pause changes the cluster again when it resumes.
fn last_change_at(faults: &[TimedFault], duration: Duration) -> Duration {
    let mut faults = faults.to_vec();
    faults.sort_by_key(|f| f.at);
    let faults = &faults[..];
    let mut fired = Duration::ZERO;
    let mut last = Duration::ZERO;
    for (i, f) in faults.iter().enumerate() {
        fired = fired.max(f.at);
        if let Some(after) = &f.after {
            let next = moment_group_end(faults, i);
            let give_up = faults.get(next).map_or(duration, |n| n.at).min(duration);
            fired = fired.max(give_up) + after.delay;
        }
        let change = match &f.fault {
            Fault::Pause {
                duration: Some(d), ..
            } => fired + *d,
            _ => fired,
        };
        last = last.max(change);
    }
    last
}

/// The end of the group of faults starting at `i` that fire together: the faults after
/// it with the same `at` and the same moment (`after`), when it waits for one; just `i`
/// otherwise.
fn moment_group_end(faults: &[TimedFault], i: usize) -> usize {
    let Some(first) = faults.get(i) else { return i };
    if first.after.is_none() {
        return i + 1;
    }
    i + faults[i..]
        .iter()
        .take_while(|f| f.at == first.at && f.after == first.after)
        .count()
}

/// How long after the last fault heals the cluster must serve writes again: an election
/// (initLimit) plus a sync and a session's worth of client reconnection.
pub fn liveness_bound(s: &Scenario) -> Duration {
    let z = &s.cluster.zookeeper;
    let tick = z.tick_time;
    let session = s
        .workload
        .zk_clients
        .iter()
        .map(|g| g.session_timeout)
        .max()
        .unwrap_or(Duration::from_secs(10));
    tick * (z.init_limit + z.sync_limit) + session + Duration::from_secs(5)
}

/// How long after the last fault heals every Kafka partition must again have a live leader
/// and a full ISR: the ZooKeeper bound, then a broker session expiring, then a follower
/// falling out of (and back into) the ISR.
pub fn kafka_recovery_bound(s: &Scenario) -> Duration {
    let k = s.cluster.kafka.as_ref();
    liveness_bound(s)
        + k.map_or(Duration::ZERO, |k| {
            k.zk_session_timeout + k.replica_lag_time_max
        })
}

/// How long the run must go on after its last fault for the liveness checkers' bounds.
fn settle_time(s: &Scenario) -> Duration {
    if s.cluster.kafka.is_some() {
        kafka_recovery_bound(s)
    } else {
        liveness_bound(s)
    }
}

/// The checkers a scenario names, run on its history, in [`CheckerName::ALL`] order. Each
/// name may stand for several checkers (`elections` judges ZAB's leaders and, with brokers,
/// the controller and partition leaders; `liveness` judges ZooKeeper and, with brokers,
/// Kafka's recovery).
pub fn run_checkers(s: &Scenario, h: &History) -> Vec<CheckReport> {
    let kafka = s.cluster.kafka.is_some();
    let mut reports = Vec::new();
    for c in &s.expect.checkers {
        match c {
            CheckerName::Linearizable => {
                reports.push(check::zk::check_writes(h, &check::zk::ZkOptions::default()))
            }
            CheckerName::ZkSession => reports.push(check::zk::check_sessions(
                h,
                &check::zk::ZkOptions::default(),
            )),
            CheckerName::Zab | CheckerName::Elections => {
                if !reports.iter().any(|r: &CheckReport| r.checker == "zab") {
                    reports.push(check::zab::check(h));
                }
                if *c == CheckerName::Elections && kafka {
                    reports.push(check::kafka::one_leader_per_epoch(h));
                    reports.push(check::kafka::controller_epochs(h));
                }
            }
            CheckerName::KafkaDurability => {
                reports.push(check::kafka::no_acked_write_lost(h, &durability(s)))
            }
            CheckerName::KafkaLogAgreement => {
                reports.push(check::kafka::replicas_agree_with(h, &durability(s)))
            }
            CheckerName::KafkaConsumers => {
                reports.push(check::kafka::consumers_agree_with(h, &durability(s)));
                reports.push(check::kafka::group_ownership(h));
                reports.push(check::kafka_queue::check(
                    h,
                    &check::kafka_queue::QueueParams {
                        durability: durability(s),
                        settle: consumer_settle(s),
                    },
                ));
            }
            CheckerName::ZkWatches => reports.extend(check::zk_watches::check(h)),
            CheckerName::ZkEphemerals => reports.push(check::zk_lifetimes::check_ephemerals(h)),
            CheckerName::ZkSessionLife => {
                reports.push(check::zk_lifetimes::check_expiry_bounds(h));
                reports.push(check::zk_lifetimes::check_no_false_expiry(h));
            }
            CheckerName::ZkLock => {
                reports.extend(check::zk_recipes::check_lock(h, &recipe_params()))
            }
            CheckerName::ZkGroup => reports.push(check::zk_recipes::check_group_converges(
                h,
                &recipe_params(),
            )),
            CheckerName::Liveness => {
                reports.push(check::liveness::check(h, liveness_bound(s)));
                if kafka {
                    reports.push(check::kafka::recovery_after_heal(
                        h,
                        &check::kafka::RecoveryParams {
                            bound: kafka_recovery_bound(s),
                        },
                    ));
                }
            }
        }
    }
    reports
}

/// Where kzsim's recipes (`crate::zk::recipes`) keep their znodes, and the group's settle
/// bound, for the recipe checkers.
/// The recipe round a workload draw of `kind` runs, if it is one.
fn recipe_of(kind: ZkOpKind) -> Option<crate::zk::recipes::Recipe> {
    use crate::zk::recipes::Recipe;
    Some(match kind {
        ZkOpKind::GetW => Recipe::GetW,
        ZkOpKind::ExistsW => Recipe::ExistsW,
        ZkOpKind::LsW => Recipe::LsW,
        ZkOpKind::Lock => Recipe::Lock,
        ZkOpKind::Member => Recipe::Member,
        ZkOpKind::Silent => Recipe::Silent,
        ZkOpKind::Create
        | ZkOpKind::Set
        | ZkOpKind::Get
        | ZkOpKind::Delete
        | ZkOpKind::CasRegister
        | ZkOpKind::Multi => return None,
    })
}

fn recipe_params() -> check::zk_recipes::RecipeParams {
    check::zk_recipes::RecipeParams {
        lock_dir: crate::zk::recipes::LOCK_DIR.into(),
        group_dir: crate::zk::recipes::GROUP_DIR.into(),
        group_settle: crate::zk::recipes::GROUP_SETTLE,
    }
}

/// How long before a partition's last poll an acknowledged record must have been
/// acknowledged for consumers to be required to have read it: a consumer-group rebalance
/// (a member's session expiring) plus the offset commit interval and a fetch round.
fn consumer_settle(s: &Scenario) -> Duration {
    let k = s.cluster.kafka.as_ref();
    k.map_or(Duration::from_secs(10), |k| {
        k.zk_session_timeout + Duration::from_secs(5)
    })
}

fn durability(s: &Scenario) -> check::kafka::DurabilityParams {
    let k = s.cluster.kafka.as_ref();
    check::kafka::DurabilityParams {
        unclean_election: k.is_some_and(|k| {
            k.unclean_leader_election || k.topics.iter().any(|t| t.unclean_leader_election)
        }),
        min_isr: k.map_or(1, |k| k.min_insync_replicas),
        flush_every_message: k.is_some_and(|k| k.log_flush_interval_messages == 1),
    }
}

fn start_workload(
    cluster: &Cluster,
    kafka: Option<&KafkaCluster>,
    s: &Scenario,
    recipe_bugs: crate::zk::recipes::RecipeBugs,
) {
    if let Some(k) = kafka {
        for (name, group) in s.producer_names() {
            let g = &s.workload.producers[group];
            let acks = match g.acks {
                crate::scenario::Acks::None => Acks::Zero,
                crate::scenario::Acks::Leader => Acks::One,
                crate::scenario::Acks::All => Acks::All,
            };
            k.add_producer(&name, &g.topic, acks, g.rate_per_sec);
        }
        for (name, group) in s.consumer_names() {
            let g = &s.workload.consumer_groups[group];
            let topics: Vec<&str> = g.topics.iter().map(String::as_str).collect();
            k.add_consumer(&g.group, &topics, &name);
        }
    }
    for (name, group) in s.zk_client_names() {
        let g = s.workload.zk_clients[group].clone();
        let timeout = g.session_timeout.as_millis() as u64;
        cluster.add_client(&name, timeout, move |client| {
            let g = g.clone();
            async move { zk_workload(client, g, recipe_bugs).await }
        });
    }
}

/// One ZooKeeper client process: operations drawn from the mix at the configured rate on
/// keys `/k0..`; values are unique so the checkers can tell writes apart.
async fn zk_workload(
    client: ZkClient,
    g: crate::scenario::ZkClientGroup,
    recipe_bugs: crate::zk::recipes::RecipeBugs,
) {
    let seed = client.session().unwrap_or(0) as u64 ^ madsim::rand::random::<u64>();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let total: u32 = g.mix.iter().map(|(_, w)| *w).sum::<u32>().max(1);
    let period = Duration::from_micros(1_000_000 / u64::from(g.rate_per_sec.max(1)));
    client.wait_connected(Duration::from_secs(30)).await;
    let mut keys_made = false;
    let mut counter: i64 = 0;
    loop {
        // Work only inside the group's active windows (the whole run by default).
        let since_start = Duration::from_nanos(SimTime::now().0);
        let until = match g.window_at(since_start) {
            crate::scenario::ClientWindow::Active { until } => {
                until.map(|u| SimTime(u.as_nanos() as u64))
            }
            crate::scenario::ClientWindow::Wait { until } => {
                madsim::time::sleep(until - since_start).await;
                continue;
            }
            crate::scenario::ClientWindow::Done => return,
        };
        if !keys_made {
            // The keys are registers: make sure each exists (NodeExists is fine) before
            // the mix.
            for k in 0..g.keys.max(1) {
                let op = ZkOp::Create {
                    path: format!("/k{k}"),
                    data: Some(b"init".to_vec()),
                    mode: CreateMode::PERSISTENT,
                };
                let _ = client.call(op).await;
            }
            keys_made = true;
        }
        match client.state() {
            ClientState::Closed => return,
            // An application whose session expired opens a new one and carries on.
            ClientState::Expired => {
                client.reopen();
                client.wait_connected(Duration::from_secs(30)).await;
                continue;
            }
            _ => {}
        }
        let mut pick = rng.random_range(0..total);
        let kind = g
            .mix
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= *w;
                    false
                }
            })
            .map(|(k, _)| *k)
            .unwrap_or(ZkOpKind::Get);
        let key = rng.random_range(0..g.keys.max(1));
        let path = format!("/k{key}");
        counter += 1;
        let value = format!("{}-{counter}", client.session().unwrap_or(0) & 0xffff_ffff);
        // Notifications the recipes did not wait for are dropped, so none piles up.
        let _ = client.take_watches();
        let _ = match kind {
            ZkOpKind::Create => {
                client
                    .call(ZkOp::Create {
                        path,
                        data: Some(value.into_bytes()),
                        mode: CreateMode::PERSISTENT,
                    })
                    .await
            }
            ZkOpKind::Set => {
                client
                    .call(ZkOp::SetData {
                        path,
                        data: value.into_bytes(),
                        version: -1,
                    })
                    .await
            }
            ZkOpKind::Get => client.call(ZkOp::GetData { path, watch: false }).await,
            ZkOpKind::Delete => client.call(ZkOp::Delete { path, version: -1 }).await,
            ZkOpKind::CasRegister => match client
                .call(ZkOp::GetData {
                    path: path.clone(),
                    watch: false,
                })
                .await
            {
                Ok(ZkResponse::Data { stat, .. }) => {
                    client
                        .call(ZkOp::SetData {
                            path,
                            data: value.into_bytes(),
                            version: stat.version,
                        })
                        .await
                }
                other => other,
            },
            ZkOpKind::Multi => {
                // The guard is another key, so the multi's only op on `/kN` is the child
                // create: a failed multi must then restore `/kN`'s pending record as a
                // *parent* (ZOOKEEPER-1624); a guard on `/kN` itself would restore it anyway.
                let keys = g.keys.max(1);
                let guard = if keys > 1 {
                    format!("/k{}", (key + rng.random_range(1..keys)) % keys)
                } else {
                    path.clone()
                };
                match client
                    .call(ZkOp::GetData {
                        path: guard.clone(),
                        watch: false,
                    })
                    .await
                {
                    Ok(ZkResponse::Data { stat, .. }) => {
                        client
                            .call(ZkOp::Multi(vec![
                                ZkOp::Create {
                                    path: format!("{path}/item-"),
                                    data: Some(value.clone().into_bytes()),
                                    mode: CreateMode::PERSISTENT_SEQUENTIAL,
                                },
                                ZkOp::SetData {
                                    path: guard,
                                    data: value.into_bytes(),
                                    version: stat.version,
                                },
                            ]))
                            .await
                    }
                    other => other,
                }
            }
            // Watch-setting reads, the recipes and `silent` (crate::zk::recipes).
            other => {
                if let Some(recipe) = recipe_of(other) {
                    crate::zk::recipes::run(&client, recipe, &path, &value, until, recipe_bugs)
                        .await;
                }
                Ok(ZkResponse::Checked)
            }
        };
        let jitter = Duration::from_micros(rng.random_range(0..=period.as_micros() as u64 / 4));
        madsim::time::sleep(period + jitter).await;
    }
}

/// Fires the schedule in time order; pauses with a duration resume on their own.
async fn run_faults(
    world: &World,
    cluster: &Cluster,
    kafka: Option<&KafkaCluster>,
    s: &Scenario,
    mut faults: Vec<TimedFault>,
    duration: Duration,
) {
    faults.sort_by_key(|f| f.at);
    let all = s.node_names();
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut resumes: Vec<(Duration, String)> = Vec::new();
    let mut i = 0;
    loop {
        let next_fault = faults.get(i).map(|f| f.at);
        let next_resume = resumes.iter().map(|(t, _)| *t).min();
        let next = match (next_fault, next_resume) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        if next > duration {
            break;
        }
        world.sleep_until(SimTime::from_duration(next)).await;
        if next_resume == Some(next) {
            let (_, node) = resumes.remove(
                resumes
                    .iter()
                    .position(|(t, _)| *t == next)
                    .expect("due resume"),
            );
            world.resume(&node);
            continue;
        }
        // Faults that share their time and moment fire together, at the one moment.
        let group = i..moment_group_end(&faults, i);
        i = group.end;
        let mut fired = None;
        if let Some(after) = faults[group.start].after {
            // Give up when the next fault is due (or the run ends): a moment only shifts a
            // fault within its slot of the schedule.
            let give_up = faults.get(i).map_or(duration, |f| f.at).min(duration);
            match wait_for_moment(world, after.moment, give_up, &mut resumes).await {
                Some(seen) => {
                    world.sleep_until(seen.plus(after.delay)).await;
                    fired = Some(format!(
                        " ({} after {} at {seen})",
                        fmt_delay(after.delay),
                        after.moment.as_str()
                    ));
                }
                None => {
                    for tf in &faults[group] {
                        world.record(SimEvent::Note {
                            text: format!(
                                "fault {} at {:?} skipped: no {} before {:?}",
                                tf.fault.kind(),
                                tf.at,
                                after.moment.as_str(),
                                give_up
                            ),
                        });
                    }
                    continue;
                }
            }
        }
        for tf in &faults[group] {
            let mut note = apply_fault(world, cluster, kafka, &all, tf, &mut labels, &mut resumes);
            if let (Some(fired), Some(k)) = (&fired, note.find(": ")) {
                note.insert_str(k, fired);
            }
            world.record(SimEvent::Note { text: note });
        }
    }
    world.sleep_until(SimTime::from_duration(duration)).await;
}

fn fmt_delay(d: Duration) -> String {
    if d.is_zero() {
        "right".to_string()
    } else {
        format!("{d:?}")
    }
}

/// Waits, from now, for the first recorded event that is `moment`, until `give_up`; keeps
/// resuming paused nodes whose pause ends meanwhile. `None` if the moment did not come.
async fn wait_for_moment(
    world: &World,
    moment: Moment,
    give_up: Duration,
    resumes: &mut Vec<(Duration, String)>,
) -> Option<SimTime> {
    let mut seen = world.trace().next_match(move |r| moment.is(&r.event));
    // Each turn either returns or performs one due resume, so the loop runs at most once
    // per pending resume plus once.
    loop {
        let next_resume = resumes
            .iter()
            .map(|(t, _)| *t)
            .min()
            .filter(|t| *t < give_up);
        let wake = next_resume.unwrap_or(give_up);
        let timer = Box::pin(world.sleep_until(SimTime::from_duration(wake)));
        match futures::future::select(&mut seen, timer).await {
            futures::future::Either::Left((Ok(at), _)) => return Some(at),
            // The trace dropped the watch: nothing more will be recorded.
            futures::future::Either::Left((Err(_), _)) => return None,
            futures::future::Either::Right(_) => {
                let t = next_resume?;
                let k = resumes
                    .iter()
                    .position(|(at, _)| *at == t)
                    .expect("due resume");
                let (_, node) = resumes.remove(k);
                world.resume(&node);
            }
        }
    }
}

/// Who holds the roles a fault can name, at the moment it fires.
struct Roles<'a> {
    zk: &'a Cluster,
    kafka: Option<&'a KafkaCluster>,
}

fn resolve(roles: &Roles, labels: &BTreeMap<String, String>, t: &Target) -> Result<String, String> {
    match t {
        Target::Node(n) => Ok(n.clone()),
        Target::ZkLeader => roles
            .zk
            .zk_leader()
            .ok_or_else(|| "no ZooKeeper leader right now".to_string()),
        Target::ZkFollower => roles
            .zk
            .server_names()
            .into_iter()
            .find(|n| {
                roles
                    .zk
                    .status(n)
                    .is_some_and(|s| s.role == Some(ZkRole::Following) && s.serving())
            })
            .ok_or_else(|| "no ZooKeeper server is following right now".to_string()),
        Target::Label(l) => labels
            .get(l)
            .cloned()
            .ok_or_else(|| format!("label `{l}` was never set")),
        Target::Controller => roles
            .kafka
            .ok_or("the scenario has no Kafka brokers")?
            .controller()
            .ok_or_else(|| "no active controller right now".to_string()),
        Target::PartitionLeader { topic, partition } => roles
            .kafka
            .ok_or("the scenario has no Kafka brokers")?
            .partition_leader(topic, *partition)
            .ok_or_else(|| format!("{topic}/{partition} has no leader right now")),
    }
}

fn target_text(t: &Target) -> String {
    match t {
        Target::Node(n) => n.clone(),
        Target::ZkLeader => "zk-leader".into(),
        Target::ZkFollower => "zk-follower".into(),
        Target::Controller => "controller".into(),
        Target::PartitionLeader { topic, partition } => format!("leader:{topic}/{partition}"),
        Target::Label(l) => l.clone(),
    }
}

/// Applies one fault; returns the note recorded in the trace.
fn apply_fault(
    world: &World,
    cluster: &Cluster,
    kafka: Option<&KafkaCluster>,
    all: &[String],
    tf: &TimedFault,
    labels: &mut BTreeMap<String, String>,
    resumes: &mut Vec<(Duration, String)>,
) -> String {
    let kind = tf.fault.kind();
    let cluster = &Roles { zk: cluster, kafka };
    let single = |labels: &mut BTreeMap<String, String>, t: &Target| -> Result<String, String> {
        let n = resolve(cluster, labels, t)?;
        if !world.has_node(&n) {
            return Err(format!("no node named {n}"));
        }
        if let Some(l) = &tf.label {
            labels.insert(l.clone(), n.clone());
        }
        Ok(n)
    };
    let result: Result<String, String> = match &tf.fault {
        Fault::Crash { target, disk } => single(labels, target).map(|n| {
            world.crash(&n, disk.crash_options());
            format!(
                "crash {} -> {n} (disk: {})",
                target_text(target),
                disk.as_str()
            )
        }),
        Fault::Restart { target } => single(labels, target).map(|n| {
            world.restart(&n);
            format!("restart {n}")
        }),
        Fault::Pause { target, duration } => single(labels, target).map(|n| {
            world.pause(&n);
            if let Some(d) = duration {
                resumes.push((tf.at + *d, n.clone()));
            }
            format!(
                "pause {} -> {n}{}",
                target_text(target),
                duration.map(|d| format!(" for {d:?}")).unwrap_or_default()
            )
        }),
        Fault::Resume { target } => single(labels, target).map(|n| {
            world.resume(&n);
            format!("resume {n}")
        }),
        Fault::Partition { groups } => {
            let resolved: Result<Vec<Vec<String>>, String> = groups
                .iter()
                .map(|g| g.iter().map(|t| resolve(cluster, labels, t)).collect())
                .collect();
            resolved.map(|r| {
                let full = complete_groups(&r, all);
                world.partition(&full);
                format!("partition {full:?}")
            })
        }
        Fault::Cut { from, to } => {
            let f: Result<Vec<String>, String> =
                from.iter().map(|t| resolve(cluster, labels, t)).collect();
            let t: Result<Vec<String>, String> =
                to.iter().map(|t| resolve(cluster, labels, t)).collect();
            f.and_then(|f| t.map(|t| (f, t))).map(|(f, t)| {
                for a in &f {
                    for b in &t {
                        world.cut(a, b);
                    }
                }
                format!("cut {f:?} -> {t:?}")
            })
        }
        Fault::Heal => {
            world.heal();
            Ok("heal".into())
        }
        Fault::Net { .. } => {
            let cfg = tf.fault.apply_net(&world.net().config());
            world.set_net(cfg);
            Ok("net change".into())
        }
        Fault::ClockSkew {
            target,
            offset_ms,
            drift_ppm,
        } => single(labels, target).map(|n| {
            world.set_clock(
                &n,
                NodeClock {
                    offset_ns: offset_ms * 1_000_000,
                    drift_ppm: *drift_ppm,
                },
            );
            format!("clock-skew {n}: {offset_ms}ms, {drift_ppm}ppm")
        }),
        Fault::SlowDisk {
            target,
            fsync_latency,
        } => single(labels, target).map(|n| {
            world.set_disk_latency(&n, Some(fsync_latency_us(*fsync_latency)));
            format!(
                "slow-disk {} -> {n}: fsync {}",
                target_text(target),
                format_fsync_latency(*fsync_latency)
            )
        }),
        Fault::HealAll => {
            world.heal();
            world.set_net(kzsim_sim::NetConfig::default());
            let mut disks_restored = false;
            for n in all {
                if !world.has_node(n) {
                    continue;
                }
                world.set_clock(n, NodeClock::EXACT);
                if world.disk_latency_override(n).is_some() {
                    world.set_disk_latency(n, None);
                    disks_restored = true;
                }
                match world.state(n) {
                    kzsim_sim::world::NodeState::Paused => world.resume(n),
                    kzsim_sim::world::NodeState::Down => world.restart(n),
                    kzsim_sim::world::NodeState::Up => {}
                }
            }
            // The note names disks only when one was slow, so runs without slow disks keep
            // their trace (and run hash).
            Ok(format!(
                "heal-all: network healed, clocks reset, {}every node running",
                if disks_restored {
                    "disks restored, "
                } else {
                    ""
                }
            ))
        }
    };
    match result {
        Ok(note) => format!("fault at {:?}: {note}", tf.at),
        Err(why) => format!("fault at {:?}: {kind} skipped: {why}", tf.at),
    }
}

fn in_window(t: SimTime, from: Duration, to: Duration) -> bool {
    t >= SimTime::from_duration(from) && t <= SimTime::from_duration(to)
}

fn zk_write(op: &crate::history::Op) -> bool {
    matches!(
        op.call,
        Call::Create { .. } | Call::Delete { .. } | Call::SetData { .. } | Call::Multi { .. }
    )
}

/// Judges one teaching expectation from the history alone.
pub fn judge_teaching(t: &Teaching, s: &Scenario, h: &History) -> TeachingResult {
    let (expectation, seen, detail) = match t {
        Teaching::WritesUnavailable { from, to } => {
            let ok: Vec<_> = h
                .ops
                .iter()
                .filter(|o| {
                    zk_write(o) && o.outcome == Outcome::Ok && in_window(o.invoke, *from, *to)
                })
                .collect();
            let tried = h
                .ops
                .iter()
                .filter(|o| zk_write(o) && in_window(o.invoke, *from, *to))
                .count();
            // With no write tried, nothing in the run shows the window was unavailable.
            (
                format!("no ZooKeeper write succeeds between {from:?} and {to:?}"),
                Some(tried > 0 && ok.is_empty()),
                if tried == 0 {
                    "no write was tried in the window: nothing shows it".to_string()
                } else {
                    format!(
                        "{} of {tried} writes started in the window succeeded",
                        ok.len()
                    )
                },
            )
        }
        Teaching::WritesAvailable { from, to } => {
            let ok = h
                .ops
                .iter()
                .filter(|o| {
                    zk_write(o) && o.outcome == Outcome::Ok && in_window(o.invoke, *from, *to)
                })
                .count();
            (
                format!("some ZooKeeper write succeeds between {from:?} and {to:?}"),
                Some(ok > 0),
                format!("{ok} writes succeeded"),
            )
        }
        Teaching::ZkLeaderWithin { after, within } => {
            let est: Vec<(SimTime, u32)> = h
                .events
                .iter()
                .filter_map(|r| match r.event {
                    Event::Zk(ZkEvent::LeaderEstablished { epoch, .. })
                        if in_window(r.at, *after, *after + *within) =>
                    {
                        Some((r.at, epoch))
                    }
                    _ => None,
                })
                .collect();
            let detail = match est.first() {
                Some((at, epoch)) => format!("leader of epoch {epoch} established at {at}"),
                None => "no leader established in the window".to_string(),
            };
            (
                format!("a ZooKeeper leader is established within {within:?} after {after:?}"),
                Some(!est.is_empty()),
                detail,
            )
        }
        Teaching::ReadsFailWithoutQuorum => {
            let windows = no_leader_windows(h);
            let inside = |o: &&crate::history::Op| {
                windows
                    .iter()
                    .any(|(a, b)| o.invoke >= *a && o.complete.is_some_and(|c| c <= *b))
            };
            let reads: Vec<_> = h
                .ops
                .iter()
                .filter(|o| {
                    matches!(
                        o.call,
                        Call::GetData { .. } | Call::Exists { .. } | Call::GetChildren { .. }
                    )
                })
                .filter(inside)
                .collect();
            let served = reads.iter().filter(|o| o.outcome == Outcome::Ok).count();
            let ro = s.cluster.zookeeper.read_only;
            // A read answered inside a window shows the behaviour either way; with none
            // answered, nothing in the run shows it.
            let seen = !reads.is_empty() && if ro { served > 0 } else { served == 0 };
            (
                if ro {
                    "reads are served without a quorum (read-only mode)".to_string()
                } else {
                    "reads fail while no quorum exists".to_string()
                },
                Some(seen),
                format!(
                    "{served} of {} reads inside {} no-leader window(s) succeeded",
                    reads.len(),
                    windows.len()
                ),
            )
        }
        Teaching::EphemeralGone {
            path,
            after,
            within,
        } => {
            let gone = h.events.iter().find(|r| match &r.event {
                Event::Zk(ZkEvent::SessionClosed { ephemerals, .. }) => {
                    ephemerals.contains(path) && in_window(r.at, *after, *after + *within)
                }
                _ => false,
            });
            (
                format!("ephemeral {path} is deleted within {within:?} after {after:?}"),
                Some(gone.is_some()),
                gone.map(|r| format!("its session closed at {}", r.at))
                    .unwrap_or_else(|| "not deleted in the window".into()),
            )
        }
        Teaching::NewControllerEpoch { after, within } => {
            let e = h.events.iter().find_map(|r| match &r.event {
                Event::Kafka(KafkaEvent::ControllerElected { broker, epoch })
                    if in_window(r.at, *after, *after + *within) =>
                {
                    Some((r.at, *broker, *epoch))
                }
                _ => None,
            });
            (
                format!("a new controller epoch within {within:?} after {after:?}"),
                Some(e.is_some()),
                e.map(|(at, b, ep)| format!("broker {b} became controller of epoch {ep} at {at}"))
                    .unwrap_or_else(|| "no controller elected in the window".into()),
            )
        }
        Teaching::PartitionLeaderWithin {
            topic,
            partition,
            after,
            within,
        } => {
            let e = h.events.iter().find_map(|r| match &r.event {
                Event::Kafka(KafkaEvent::PartitionStateWritten {
                    topic: t,
                    partition: p,
                    leader,
                    leader_epoch,
                    ..
                }) if t == topic
                    && p == partition
                    && *leader >= 0
                    && in_window(r.at, *after, *after + *within) =>
                {
                    Some((r.at, *leader, *leader_epoch))
                }
                _ => None,
            });
            (
                format!("{topic}/{partition} gets a leader within {within:?} after {after:?}"),
                Some(e.is_some()),
                e.map(|(at, l, ep)| format!("broker {l} leads with epoch {ep} from {at}"))
                    .unwrap_or_else(|| "no new leader in the window".into()),
            )
        }
        Teaching::Acks1LossesAllowed | Teaching::UncleanLossesAllowed => {
            let k = check::kafka::no_acked_write_lost(h, &durability(s));
            let (name, counter) = if matches!(t, Teaching::Acks1LossesAllowed) {
                (
                    "acks=1 records are lost, and reported as allowed",
                    "acked_weak_lost",
                )
            } else {
                (
                    "acks=all records are lost to an unclean leader election, and reported as allowed",
                    "acked_all_lost_unclean_allowed",
                )
            };
            let lost = k.counter(counter);
            (
                name.to_string(),
                Some(lost > 0 && !k.verdict.is_violated()),
                format!(
                    "{lost} such record(s) lost; durability verdict {}{}",
                    k.verdict.name(),
                    if k.notes.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", k.notes.join("; "))
                    }
                ),
            )
        }
    };
    TeachingResult {
        expectation,
        seen,
        detail,
    }
}

/// Spans of simulated time with no established ZooKeeper leader (from the events).
pub fn no_leader_windows(h: &History) -> Vec<(SimTime, SimTime)> {
    let mut leader: Option<String> = None;
    let mut since = SimTime::ZERO;
    let mut out = Vec::new();
    for r in &h.events {
        match &r.event {
            Event::Zk(ZkEvent::LeaderEstablished { .. }) => {
                if leader.is_none() {
                    out.push((since, r.at));
                }
                leader = Some(r.node.clone());
            }
            Event::Zk(ZkEvent::SteppedDown { .. })
            | Event::Sim(SimEvent::NodeCrashed { .. })
            | Event::Sim(SimEvent::NodePaused)
                if leader.as_deref() == Some(r.node.as_str()) =>
            {
                leader = None;
                since = r.at;
            }
            Event::Zk(ZkEvent::RoleChanged { role, .. })
                if leader.as_deref() == Some(r.node.as_str())
                    && *role != crate::history::ZkRole::Leading =>
            {
                leader = None;
                since = r.at;
            }
            _ => {}
        }
    }
    if leader.is_none() {
        out.push((since, h.events.last().map(|r| r.at).unwrap_or(since)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckStats, Excuse, Verdict, Violation};

    fn outcome(verdicts: Vec<Verdict>) -> RunOutcome {
        RunOutcome {
            scenario: "t".into(),
            seed: 0,
            bugs: BugFlags::default(),
            faults: Vec::new(),
            history: History::new(),
            run_hash: 0,
            checks: verdicts
                .into_iter()
                .enumerate()
                .map(|(i, v)| CheckReport::new(format!("c{i}"), v, CheckStats::default()))
                .collect(),
            teaching: Vec::new(),
            error: None,
            sim_secs: 0.0,
        }
    }

    fn violated() -> Verdict {
        Verdict::Violated(vec![Violation {
            checker: "r".into(),
            message: "m".into(),
            ops: vec![],
            events: vec![],
            state_before: None,
        }])
    }

    fn excused() -> Verdict {
        Verdict::OutsideFaultModel(vec![Excuse {
            rule: "r".into(),
            message: "m".into(),
            documented: "d".into(),
            ops: vec![],
            events: vec![],
        }])
    }

    fn unknown() -> Verdict {
        Verdict::Unknown {
            reason: "nothing to judge".into(),
        }
    }

    #[test]
    fn a_checker_panic_is_the_runs_error_not_a_verdict() {
        let mut o = outcome(vec![]);
        record_checks(&mut o, || {
            vec![CheckReport::new("c", Verdict::Ok, CheckStats::default())]
        });
        assert_eq!(o.verdict(), RunVerdict::Pass);
        record_checks(&mut o, || panic!("range start {} past its end", 5));
        assert_eq!(o.verdict(), RunVerdict::Error);
        assert!(
            o.verdict_line()
                .contains("a checker panicked: range start 5 past its end"),
            "{}",
            o.verdict_line()
        );
        record_checks(&mut o, || panic!("again"));
        assert!(o
            .verdict_line()
            .contains("past its end; a checker panicked: again"));
    }

    #[test]
    fn a_run_verdict_is_the_worst_its_checkers_support() {
        use RunVerdict::*;
        let cases = [
            (vec![Verdict::Ok, Verdict::Ok], Pass, "PASS"),
            (
                vec![Verdict::Ok, excused()],
                OutsideFaultModel,
                "OUTSIDE THE FAULT MODEL: c1",
            ),
            (
                vec![Verdict::Ok, unknown(), excused()],
                Unknown,
                "UNKNOWN: c1 had nothing to judge",
            ),
            (vec![], Unknown, "UNKNOWN: no checker judged this run"),
            (vec![unknown(), violated(), excused()], Fail, "FAIL: c1"),
        ];
        for (verdicts, expected, line) in cases {
            let o = outcome(verdicts);
            assert_eq!(o.verdict(), expected, "{}", o.verdict_line());
            assert!(o.verdict_line().starts_with(line), "{}", o.verdict_line());
            assert_eq!(o.passed(), matches!(expected, Pass | OutsideFaultModel));
        }
        let mut o = outcome(vec![Verdict::Ok]);
        o.error = Some("panicked".into());
        assert_eq!(o.verdict(), Error);
        assert!(
            o.verdict_line().starts_with("ERROR"),
            "{}",
            o.verdict_line()
        );
    }
}
