//! Kafka checkers: pure functions from a recorded [`History`] to a [`CheckReport`].
//!
//! Each checker reads only the history: client ops (`Produce`, `Fetch`, `CommitOffset`)
//! and the protocol events brokers and controllers recorded (`kafka.md` §4–§7):
//!
//! | checker | invariant | source |
//! |---|---|---|
//! | [`no_acked_write_lost`] | an acknowledged `acks=all` record is in the final leader's log | NoCommittedRecordLost |
//! | [`replicas_agree`] | replica logs agree up to the minimum HW | LogMatching |
//! | [`one_leader_per_epoch`] | one leader per (partition, leader epoch), in its ISR | LeaderInIsr, KAFKA-6082 |
//! | [`controller_epochs`] | one controller per epoch, epochs increase, zombies fenced | KAFKA-6082 |
//! | [`consumers_agree`] | fetches agree per offset and stay below the HW | ConsistentRead |
//! | [`group_ownership`] | one owner per partition per generation; commits not past consumption | `kafka.md` §6 |
//! | [`recovery_after_heal`] | after healing, every partition has a live leader that was told to lead, and a full ISR; one active controller | KAFKA-1382, KAFKA-2729 |
//!
//! Verdicts: any violation makes [`Verdict::Violated`]; otherwise a missing piece of
//! evidence that a claim needs (a final leader log, say) makes [`Verdict::Unknown`], and
//! so does a history that gave the checker nothing to judge (no acknowledged produce, no
//! fetch, ...); otherwise breaches that faults outside Kafka's fault model explain exactly
//! make [`Verdict::OutsideFaultModel`]; otherwise [`Verdict::Ok`].
//! Losses the configuration allows (acks=1, unclean election, an ISR below
//! `min.insync.replicas`) are counted and noted, never violations.
//!
//! Outside the fault model: Kafka does not fsync before acknowledging, so a record whose
//! every copy sat unflushed on brokers that all lost power (or their disks) is legitimately
//! gone. One rule decides that, [`LossLedger::attribute`], for lost acknowledged records
//! ([`no_acked_write_lost`]), displaced records under a divergence ([`replicas_agree`]),
//! overwritten offsets that consumers read ([`consumers_agree`]) and the queue rules
//! ([`super::kafka_queue`]): excused only when each broker that held the record lost it to
//! such a fault before any surviving copy was passed on; a loss any surviving copy could
//! have prevented stays a violation.

use super::{CheckReport, CheckStats, Excuse, Verdict, Violation};
use crate::history::{Call, Event, EventRecord, History, KafkaEvent, Outcome, Ret};
use crate::history::{SimEvent, SimTime};
use crate::kafka::znodes::{self, PartitionState};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The durability configuration `no_acked_write_lost` judges against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DurabilityParams {
    /// `unclean.leader.election.enable`: when true, an out-of-ISR replica may be elected
    /// and acknowledged `acks=all` records may legitimately be lost.
    pub unclean_election: bool,
    /// `min.insync.replicas`.
    pub min_isr: u32,
    /// `log.flush.interval.messages` is 1: every record is fsynced before it is
    /// acknowledged or replicated, so a power loss costs nothing acknowledged (only a lost
    /// disk does).
    pub flush_every_message: bool,
}

impl DurabilityParams {
    /// Kafka 2.x's defaults: unclean election off, `min.insync.replicas` 1,
    /// `log.flush.interval.messages` unbounded (never fsync before acknowledging).
    pub const KAFKA_DEFAULTS: DurabilityParams = DurabilityParams {
        unclean_election: false,
        min_isr: 1,
        flush_every_message: false,
    };
}

/// The liveness bound `recovery_after_heal` judges against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RecoveryParams {
    /// How long after the last fault change the cluster must have recovered; the run must
    /// last at least this long after it, or the verdict is `Unknown`.
    pub bound: Duration,
}

/// Parameters for [`check_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KafkaParams {
    /// For [`no_acked_write_lost`].
    pub durability: DurabilityParams,
    /// For [`recovery_after_heal`].
    pub recovery: RecoveryParams,
}

/// Runs every Kafka checker, in the order of the module table.
pub fn check_all(history: &History, params: &KafkaParams) -> Vec<CheckReport> {
    vec![
        no_acked_write_lost(history, &params.durability),
        replicas_agree_with(history, &params.durability),
        one_leader_per_epoch(history),
        controller_epochs(history),
        consumers_agree_with(history, &params.durability),
        group_ownership(history),
        recovery_after_heal(history, &params.recovery),
    ]
}

// ---------------------------------------------------------------------------------------
// Shared views of the history.

/// (topic, partition).
type Tp = (String, u32);

fn tp_name(tp: &Tp) -> String {
    format!("{}/{}", tp.0, tp.1)
}

/// Collects violations, unknown reasons, counters and notes, then decides the verdict.
struct Builder {
    checker: &'static str,
    /// The counter that says how much was judged (the first one declared).
    judged: &'static str,
    violations: Vec<Violation>,
    unknown: BTreeSet<String>,
    excuses: Vec<Excuse>,
    counters: BTreeMap<&'static str, u64>,
    notes: Vec<String>,
}

impl Builder {
    fn new(checker: &'static str, counters: &[&'static str]) -> Self {
        Builder {
            checker,
            judged: counters.first().copied().unwrap_or(""),
            violations: Vec::new(),
            unknown: BTreeSet::new(),
            excuses: Vec::new(),
            counters: counters.iter().map(|c| (*c, 0)).collect(),
            notes: Vec::new(),
        }
    }

    fn bump(&mut self, counter: &'static str) {
        *self
            .counters
            .get_mut(counter)
            .unwrap_or_else(|| panic!("counter {counter} not declared")) += 1;
    }

    fn violate(
        &mut self,
        message: String,
        ops: Vec<usize>,
        events: Vec<usize>,
        state_before: Option<String>,
    ) {
        self.violations.push(Violation {
            checker: self.checker.to_string(),
            message,
            ops,
            events,
            state_before,
        });
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    fn counter_is_zero(&self, name: &str) -> bool {
        self.counter(name) == 0
    }

    /// Nothing relevant was in the history: the verdict is `Unknown` with `reason`
    /// (unless a violation was found anyway).
    fn nothing_to_judge(&mut self, reason: &str) {
        self.unknown.insert(format!("nothing to judge: {reason}"));
    }

    /// Moves each violation that depends on a ZooKeeper write of Kafka's metadata lost to a
    /// voter's amnesia (its `ops` name the write: [`MetadataWrites`]) into the excuses: the
    /// metadata Kafka acted on was rolled back under it, which the real system does too
    /// (a leader's cached zkVersion no longer matches, so its ISR updates fail until a
    /// controller resends the state, KAFKA-2729; an epoch number is handed out again).
    fn excuse_metadata_amnesia(&mut self, history: &History) {
        if self.violations.is_empty() {
            return;
        }
        let violations = std::mem::take(&mut self.violations);
        let (keep, excuses) = super::zk_amnesia::find(history).split(history, violations);
        self.violations = keep;
        self.excuses.extend(excuses);
    }

    /// Moves every violation into the excuses when ZooKeeper servers that refused to
    /// start ([`super::zk_refusal`]) leave no quorum at `at`: without ZooKeeper no
    /// controller is elected and no partition state changes, so nothing Kafka recovers
    /// through it can happen.
    fn excuse_zookeeper_refusals(&mut self, history: &History, at: SimTime) {
        let refusals = super::zk_refusal::find(history, at);
        for v in std::mem::take(&mut self.violations) {
            match refusals.excuse(&v) {
                Some(excuse) => self.excuses.push(excuse),
                None => self.violations.push(v),
            }
        }
    }

    /// Violations win, then unknown reasons, then excuses (outside the fault model).
    fn finish(self) -> CheckReport {
        let verdict = if self.violations.is_empty() && !self.unknown.is_empty() {
            Verdict::Unknown {
                reason: self.unknown.into_iter().collect::<Vec<_>>().join("; "),
            }
        } else {
            Verdict::judge(self.violations, self.excuses)
        };
        let stats = CheckStats {
            checked: self.counters.get(self.judged).copied().unwrap_or(0),
            ..CheckStats::default()
        };
        CheckReport {
            checker: self.checker.to_string(),
            verdict,
            stats,
            counters: self
                .counters
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            notes: self.notes,
        }
    }
}

fn kafka_events(history: &History) -> impl Iterator<Item = (usize, &EventRecord, &KafkaEvent)> {
    history
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.event {
            Event::Kafka(e) => Some((i, r, e)),
            _ => None,
        })
}

/// One replica's end-of-run log snapshot.
#[derive(Clone, Debug)]
struct ReplicaSnapshot<'a> {
    event: usize,
    hw: i64,
    records: &'a [(i64, i32, String)],
}

impl<'a> ReplicaSnapshot<'a> {
    /// Offset -> (leader epoch, value) of every record below `hw`.
    fn below(&self, hw: i64) -> BTreeMap<i64, (i32, &'a str)> {
        self.records
            .iter()
            .filter(|r| r.0 < hw)
            .map(|r| (r.0, (r.1, r.2.as_str())))
            .collect()
    }

    /// Log end offset: one past the last record (0 for an empty log).
    fn leo(&self) -> i64 {
        self.records.last().map_or(0, |r| r.0 + 1)
    }

    fn at_offset(&self, offset: i64) -> Option<&(i64, i32, String)> {
        self.records.iter().find(|r| r.0 == offset)
    }
}

/// What the history says about one partition at the end of the run.
#[derive(Clone, Debug, Default)]
struct PartitionView<'a> {
    /// (leader, leader epoch, event index) with the highest leader epoch among
    /// `PartitionStateWritten` and `LeaderAndIsrApplied`; the latest wins a tie (the znode
    /// holds the last write).
    leader: Option<(i32, i32, usize)>,
    /// (ISR, leader epoch, event index): the same rule over `PartitionStateWritten` and
    /// `IsrChanged` (the ZooKeeper state, which the leader also writes for ISR changes).
    isr: Option<(Vec<u32>, i32, usize)>,
    /// The last `ReplicaLog` snapshot per broker.
    logs: BTreeMap<u32, ReplicaSnapshot<'a>>,
    /// Every broker the history names as a replica of this partition.
    replicas: BTreeSet<u32>,
}

/// Kafka's acknowledged ZooKeeper writes of its metadata, recorded as history ops (the
/// Kafka side's own ZooKeeper requests: a plain create or setData, or a multi holding it),
/// so that a violation can name the write it rests on and be excused when that write was
/// lost to a voter's amnesia ([`Builder::excuse_metadata_amnesia`]).
#[derive(Debug, Default)]
struct MetadataWrites {
    /// Partition state znode writes: (op index, completion, state), in op order.
    states: BTreeMap<Tp, Vec<(usize, SimTime, PartitionState)>>,
    /// Controller elections: (op index, broker, controller epoch) for each acknowledged
    /// multi that created `/controller` naming the broker and wrote `/controller_epoch`.
    elections: Vec<(usize, u32, i32)>,
    /// Partition state znode reads: (completion, state, the znode's mzxid), in op order.
    state_reads: BTreeMap<Tp, Vec<(SimTime, PartitionState, i64)>>,
}

impl MetadataWrites {
    fn new(history: &History) -> MetadataWrites {
        let mut out = MetadataWrites::default();
        for (i, op) in history.ops.iter().enumerate() {
            if op.outcome != Outcome::Ok {
                continue;
            }
            if let (
                Call::GetData { path, .. },
                Ret::Data {
                    data: Some(data),
                    stat,
                },
            ) = (&op.call, &op.ret)
            {
                if let (Some(tp), Ok(state)) =
                    (state_path_partition(path), PartitionState::from_json(data))
                {
                    let at = op.complete.unwrap_or(op.invoke);
                    out.state_reads
                        .entry(tp)
                        .or_default()
                        .push((at, state, stat.mzxid));
                }
                continue;
            }
            let writes = match &op.call {
                Call::Multi { ops } => ops.iter().collect(),
                c => vec![c],
            };
            let mut controller = None;
            let mut epoch = None;
            for w in writes {
                let (path, data) = match w {
                    Call::Create {
                        path,
                        data: Some(data),
                        ..
                    }
                    | Call::SetData { path, data, .. } => (path.as_str(), data.as_str()),
                    _ => continue,
                };
                if path == znodes::CONTROLLER_PATH {
                    controller = znodes::ControllerZnode::from_json(data)
                        .ok()
                        .map(|c| c.brokerid);
                } else if path == znodes::CONTROLLER_EPOCH_PATH {
                    epoch = znodes::controller_epoch_from_text(data).ok();
                } else if let Some(tp) = state_path_partition(path) {
                    if let Ok(state) = PartitionState::from_json(data) {
                        let at = op.complete.unwrap_or(op.invoke);
                        out.states.entry(tp).or_default().push((i, at, state));
                    }
                }
            }
            if let (Some(broker), Some(epoch)) = (controller, epoch) {
                out.elections.push((i, broker, epoch));
            }
        }
        out
    }

    /// The last acknowledged write of `tp`'s state with this leader epoch and (where given)
    /// leader and ISR, completed by `by`.
    fn state(
        &self,
        tp: &Tp,
        leader: Option<i32>,
        leader_epoch: i32,
        isr: Option<&[u32]>,
        by: SimTime,
    ) -> Option<usize> {
        let same_isr = |a: &[u32], b: &[u32]| {
            a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
        };
        self.states
            .get(tp)?
            .iter()
            .rev()
            .find(|(_, at, s)| {
                *at <= by
                    && leader.is_none_or(|l| s.leader == l)
                    && s.leader_epoch == leader_epoch
                    && isr.is_none_or(|isr| same_isr(isr, &s.isr))
            })
            .map(|(i, _, _)| *i)
    }

    /// The zxid at which a write of exactly `state` to `tp`'s state znode reached
    /// ZooKeeper, as the history shows it by `by`: its acknowledged op's zxid, else the
    /// znode's mzxid in the last read by then that found that state (a write whose reply
    /// was lost, settled by its re-read).
    fn state_landed(
        &self,
        history: &History,
        tp: &Tp,
        state: &PartitionState,
        by: SimTime,
    ) -> Option<i64> {
        let acked = self.states.get(tp).and_then(|w| {
            w.iter()
                .rev()
                .find(|(_, at, s)| *at <= by && s == state)
                .and_then(|(i, _, _)| history.ops[*i].zxid)
        });
        acked.or_else(|| {
            self.state_reads.get(tp).and_then(|r| {
                r.iter()
                    .rev()
                    .find(|(at, s, _)| *at <= by && s == state)
                    .map(|(_, _, mzxid)| *mzxid)
            })
        })
    }

    /// The election writes of `broker` for controller `epoch`.
    fn election(&self, broker: u32, epoch: i32) -> Vec<usize> {
        self.elections
            .iter()
            .filter(|(_, b, e)| *b == broker && *e == epoch)
            .map(|(i, _, _)| *i)
            .collect()
    }
}

/// `(topic, partition)` of a partition state znode path.
fn state_path_partition(path: &str) -> Option<Tp> {
    let rest = path
        .strip_prefix(znodes::BROKER_TOPICS_PATH)?
        .strip_prefix('/')?;
    let rest = rest.strip_suffix("/state")?;
    let (topic, partition) = rest.split_once("/partitions/")?;
    let partition = partition.parse().ok()?;
    (znodes::partition_state_path(topic, partition) == path).then(|| (topic.to_string(), partition))
}

fn newer(current: Option<i32>, epoch: i32) -> bool {
    current.is_none_or(|c| epoch >= c)
}

fn partition_views(history: &History) -> BTreeMap<Tp, PartitionView<'_>> {
    let mut views: BTreeMap<Tp, PartitionView<'_>> = BTreeMap::new();
    for (i, _, e) in kafka_events(history) {
        match e {
            KafkaEvent::PartitionStateWritten {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
                ..
            } => {
                let v = views.entry((topic.clone(), *partition)).or_default();
                if newer(v.leader.as_ref().map(|l| l.1), *leader_epoch) {
                    v.leader = Some((*leader, *leader_epoch, i));
                }
                if newer(v.isr.as_ref().map(|s| s.1), *leader_epoch) {
                    v.isr = Some((isr.clone(), *leader_epoch, i));
                }
                v.replicas.extend(isr.iter().copied());
            }
            KafkaEvent::LeaderAndIsrApplied {
                broker,
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
            } => {
                let v = views.entry((topic.clone(), *partition)).or_default();
                if newer(v.leader.as_ref().map(|l| l.1), *leader_epoch) {
                    v.leader = Some((*leader, *leader_epoch, i));
                }
                v.replicas.insert(*broker);
                v.replicas.extend(isr.iter().copied());
            }
            KafkaEvent::IsrChanged {
                topic,
                partition,
                leader_epoch,
                isr,
                leader,
            } => {
                let v = views.entry((topic.clone(), *partition)).or_default();
                if newer(v.isr.as_ref().map(|s| s.1), *leader_epoch) {
                    v.isr = Some((isr.clone(), *leader_epoch, i));
                }
                v.replicas.insert(*leader);
                v.replicas.extend(isr.iter().copied());
            }
            KafkaEvent::ReplicaLog {
                broker,
                topic,
                partition,
                hw,
                records,
            } => {
                let v = views.entry((topic.clone(), *partition)).or_default();
                v.logs.insert(
                    *broker,
                    ReplicaSnapshot {
                        event: i,
                        hw: *hw,
                        records,
                    },
                );
                v.replicas.insert(*broker);
            }
            _ => {}
        }
    }
    views
}

/// Every ISR size recorded per partition (ZooKeeper state writes and leaders' ISR changes),
/// in record order, to find the one in force at a given time.
fn isr_sizes(history: &History) -> BTreeMap<Tp, Vec<(SimTime, usize)>> {
    let mut sizes: BTreeMap<Tp, Vec<(SimTime, usize)>> = BTreeMap::new();
    for (_, r, e) in kafka_events(history) {
        if let KafkaEvent::PartitionStateWritten {
            topic,
            partition,
            isr,
            ..
        }
        | KafkaEvent::IsrChanged {
            topic,
            partition,
            isr,
            ..
        } = e
        {
            sizes
                .entry((topic.clone(), *partition))
                .or_default()
                .push((r.at, isr.len()));
        }
    }
    sizes
}

/// The final leader's log of a partition, or why it cannot be had.
fn final_leader_log<'v, 'a>(
    tp: &Tp,
    view: Option<&'v PartitionView<'a>>,
) -> Result<(u32, i32, usize, &'v ReplicaSnapshot<'a>), String> {
    let name = tp_name(tp);
    let view = view.ok_or_else(|| format!("{name}: no leader or replica events recorded"))?;
    let (leader, epoch, event) = view
        .leader
        .ok_or_else(|| format!("{name}: no leader recorded"))?;
    let leader = u32::try_from(leader).map_err(|_| {
        format!("{name}: no leader at the end of the run (leader {leader} at leader epoch {epoch})")
    })?;
    let log = view
        .logs
        .get(&leader)
        .ok_or_else(|| format!("{name}: no ReplicaLog snapshot for the final leader {leader}"))?;
    Ok((leader, epoch, event, log))
}

/// When the broker `leader` last started again (a restart, not its first start), if it
/// recorded no `LeaderAndIsrApplied` naming itself leader of `tp` since: a restarted
/// broker leads nothing until a controller tells it to, so its log is not the log the
/// partition serves, and a record missing from it is not (yet) lost.
fn restarted_without_leading(
    history: &History,
    nodes: &BTreeMap<String, u32>,
    tp: &Tp,
    leader: u32,
) -> Option<SimTime> {
    let mut restarted: Option<SimTime> = None;
    for r in &history.events {
        match &r.event {
            Event::Sim(SimEvent::NodeStarted { incarnation })
                if *incarnation > 1 && nodes.get(&r.node) == Some(&leader) =>
            {
                restarted = Some(r.at);
            }
            Event::Kafka(KafkaEvent::LeaderAndIsrApplied {
                broker,
                topic,
                partition,
                leader: named,
                ..
            }) if *broker == leader
                && *named == leader as i32
                && (topic, *partition) == (&tp.0, tp.1) =>
            {
                restarted = None;
            }
            _ => {}
        }
    }
    restarted
}

/// Node name -> broker id, learned from events a broker records about itself on its own
/// node (never from `"world"`, where the harness records on everyone's behalf).
fn broker_nodes(history: &History) -> Result<BTreeMap<String, u32>, String> {
    let mut map: BTreeMap<String, u32> = BTreeMap::new();
    for (_, r, e) in kafka_events(history) {
        let broker = match e {
            KafkaEvent::BrokerRegistered { broker, .. }
            | KafkaEvent::ControllerElected { broker, .. }
            | KafkaEvent::ControllerResigned { broker, .. }
            | KafkaEvent::LeaderAndIsrApplied { broker, .. }
            | KafkaEvent::RequestRejected { broker, .. }
            | KafkaEvent::LogTruncated { broker, .. }
            | KafkaEvent::LogRecovered { broker, .. }
            | KafkaEvent::HighWatermark { broker, .. }
            | KafkaEvent::ReplicaLog { broker, .. } => *broker,
            _ => continue,
        };
        if r.node == "world" {
            continue;
        }
        match map.get(&r.node) {
            Some(b) if *b != broker => {
                return Err(format!(
                    "node {:?} recorded events for brokers {b} and {broker}",
                    r.node
                ));
            }
            _ => {
                map.insert(r.node.clone(), broker);
            }
        }
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------
// Loss attribution: the one place that decides whether faults outside the model explain a
// lost, overwritten or displaced record exactly.

/// The real system's documented behaviour behind every Kafka excuse.
pub(crate) const DOCUMENTED: &str = "Kafka acknowledges an acks=all record once every in-sync replica has appended it to its log in memory (the page cache); it does not fsync by default (log.flush.interval.messages), so a power loss or a lost disk on every replica holding the record loses it, and so does leadership of a replica that lost the record in a power loss but stayed in the ISR, whether a clean election chose it or a controller that never saw it restart re-sent it its old leader epoch (ReplicaStateMachine.startup): the others truncate to it or keep a copy that diverges from it: durability rests on replication, not on fsync (KIP-966)";

/// A record a checker asks about: where it sat, when it was committed, and who served it.
#[derive(Clone, Debug)]
pub(crate) struct RecordRef<'h> {
    /// Its partition.
    pub(crate) tp: Tp,
    /// Its offset.
    pub(crate) offset: i64,
    /// Its value.
    pub(crate) value: &'h str,
    /// The window in which its leader's high watermark passed it (the ack's invocation to
    /// its completion, or the produce's invocation to the read that returned it).
    pub(crate) from: SimTime,
    /// See `from`.
    pub(crate) to: SimTime,
    /// The broker that acknowledged or served it, if the history names one.
    pub(crate) leader: Option<u32>,
    /// The ops that show it (its acknowledgement or its first read).
    pub(crate) ops: Vec<usize>,
}

/// How the last copy on one broker was destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LossHow {
    /// The whole disk was lost.
    DiskLost,
    /// Power was lost with the record unflushed; what the broker recovered on restart.
    PowerLoss(Recovery),
    /// The broker truncated its copy to follow `leader`, which had lost the record to a
    /// power or disk loss, stayed in the ISR (no controller saw it restart) and then led,
    /// elected cleanly or re-sent its old leader epoch by a new controller: Kafka's own
    /// leadership and truncation rules, the loss KIP-966 describes.
    TruncatedToShortLeader { leader: u32 },
    /// The broker followed such a short leader and kept its copy (no truncation reached
    /// it) while the leader wrote another record at its offset in the same epoch: the copy
    /// diverges and is never served while that leader leads.
    DivergedFromShortLeader { leader: u32 },
    /// The record is such a short leader's (`short_leader`) rewrite of an offset it had
    /// lost, counted as replicated because followers that kept the lost record there fetch
    /// above it; one of those (`leader`) then led, so the broker's copy diverges from the
    /// new leader's log in the same epoch and is never served again (KIP-966).
    OverruledByPreLossCopy { leader: u32, short_leader: u32 },
}

/// What a broker's next start recovered of a partition after a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// `LogRecovered` with this log end offset.
    Leo(i64),
    /// The broker restarted without recording the partition's log.
    NoLog,
    /// The broker did not restart before the run ended.
    NotRestarted,
}

/// One holder's copy, destroyed by a fault outside the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LostCopy {
    /// The broker.
    pub(crate) broker: u32,
    /// The fault's index in `History::events`.
    pub(crate) event: usize,
    /// When it happened.
    pub(crate) at: SimTime,
    /// What it was.
    pub(crate) how: LossHow,
}

impl LostCopy {
    fn describe(&self) -> String {
        let b = self.broker;
        let (at, ev) = (self.at, self.event);
        match self.how {
            LossHow::DiskLost => format!("broker {b} lost its whole disk at {at} (event {ev})"),
            LossHow::PowerLoss(Recovery::Leo(leo)) => format!(
                "broker {b} lost power at {at} (event {ev}) and came back with its log ending at offset {leo}"
            ),
            LossHow::PowerLoss(Recovery::NoLog) => format!(
                "broker {b} lost power at {at} (event {ev}) and came back without the partition's log"
            ),
            LossHow::PowerLoss(Recovery::NotRestarted) => format!(
                "broker {b} lost power at {at} (event {ev}) and did not restart before the run ended"
            ),
            LossHow::TruncatedToShortLeader { leader } => format!(
                "broker {b} truncated its copy at {at} (event {ev}) to follow broker {leader}, which had lost the record to that fault, stayed in the ISR and led (KIP-966)"
            ),
            LossHow::DivergedFromShortLeader { leader } => format!(
                "broker {b} kept a copy that diverged from broker {leader}'s log at {at} (event {ev}): broker {leader} had lost the record to that fault, stayed in the ISR, led and wrote another record at its offset in the same leader epoch (KIP-966)"
            ),
            LossHow::OverruledByPreLossCopy {
                leader,
                short_leader,
            } => format!(
                "broker {b}'s copy was overruled at {at} (event {ev}) when broker {leader} led: broker {short_leader} wrote the record after losing its offset to that fault and leading again from the ISR, counting as replicas followers that had kept the lost record there and fetched above it (they never had this one); broker {leader} was one of them, so its log holds the other record at the offset in the same leader epoch (KIP-966)"
            ),
        }
    }
}

/// Every counted copy of a record was destroyed by faults outside the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Destroyed {
    /// When the last copy was destroyed.
    pub(crate) lost_at: SimTime,
    /// Each holder's destruction, in time order.
    pub(crate) copies: Vec<LostCopy>,
}

impl Destroyed {
    /// The fault events, sorted.
    pub(crate) fn events(&self) -> Vec<usize> {
        let mut e: Vec<usize> = self.copies.iter().map(|c| c.event).collect();
        e.sort_unstable();
        e.dedup();
        e
    }

    /// Both destructions: every copy of either, the later end.
    pub(crate) fn merge(mut self, other: Destroyed) -> Destroyed {
        for c in other.copies {
            if !self.copies.contains(&c) {
                self.copies.push(c);
            }
        }
        self.copies.sort_by_key(|c| (c.at, c.event, c.broker));
        self.lost_at = self.lost_at.max(other.lost_at);
        self
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.copies.iter().map(LostCopy::describe).collect();
        format!(
            "{}; the last copy was gone at {}",
            parts.join("; "),
            self.lost_at
        )
    }
}

/// One step of a partition's evidence, in record order.
#[derive(Clone, Debug)]
struct Step {
    event: usize,
    at: SimTime,
    kind: StepKind,
}

#[derive(Clone, Debug)]
enum StepKind {
    /// A broker crashed; its records at offsets `>= keeps_below` are gone.
    Crash {
        broker: u32,
        keeps_below: i64,
        how: LossHow,
    },
    /// A broker truncated its log to `to`.
    Truncated { broker: u32, to: i64 },
    /// `leader` leads `epoch` with this ISR: a LeaderAndIsr it applied as leader, or
    /// (`changed`) an ISR change it made.
    Isr {
        leader: u32,
        epoch: i32,
        isr: Vec<u32>,
        changed: bool,
    },
    /// `broker` applied a LeaderAndIsr naming `leader`.
    Follows { broker: u32, leader: i32 },
    /// A replica's high watermark moved.
    Hw { broker: u32, hw: i64 },
    /// The partition state znode was written.
    Zk { leader: i32, isr: Vec<u32> },
}

/// Who leads with which ISR, and whom each broker follows, as the steps so far say.
#[derive(Clone, Debug, Default)]
struct Roles {
    /// Leader -> its latest ISR view.
    views: BTreeMap<u32, BTreeSet<u32>>,
    /// Broker -> the leader of its latest LeaderAndIsr.
    follows: BTreeMap<u32, i32>,
    /// The latest leader named by ZooKeeper or by a broker taking leadership.
    leader: Option<u32>,
    /// The latest ISR in ZooKeeper.
    zk_isr: Vec<u32>,
}

impl Roles {
    fn apply(&mut self, s: &Step) {
        match &s.kind {
            StepKind::Isr { leader, isr, .. } => {
                self.views.insert(*leader, isr.iter().copied().collect());
                self.follows.insert(*leader, *leader as i32);
                self.leader = Some(*leader);
            }
            StepKind::Follows { broker, leader } => {
                self.follows.insert(*broker, *leader);
            }
            StepKind::Zk { leader, isr } => {
                self.leader = u32::try_from(*leader).ok();
                self.zk_isr.clone_from(isr);
            }
            StepKind::Crash { .. } | StepKind::Truncated { .. } | StepKind::Hw { .. } => {}
        }
    }
}

/// An acknowledgement or a read naming a record at an offset: (completion, value, op).
type Shown<'h> = (SimTime, &'h str, usize);

/// A replica's records as its `ReplicaLog` lists them: (offset, leader epoch, value).
type LogRecords<'h> = &'h [(i64, i32, String)];

/// The evidence about copies of records in one history, indexed once, and the one rule that
/// says whether faults outside the model destroyed every copy of a record.
///
/// The rule ([`LossLedger::attribute`]): the *holders* of a record are the broker that
/// acknowledged (or served) it, every member of the ISR its leader or ZooKeeper recorded
/// while it was being committed (acks=all: each had appended it), and every broker it was
/// passed on to while that broker was in a holder's ISR (it joined the ISR of a leader that
/// held it, or its high watermark passed the record while following such a leader). Copies
/// on brokers outside the ISR do not count: with unclean election off they cannot prevent a
/// loss. The record is *destroyed* when each holder's copy ended in a fault outside the
/// model before any surviving copy was passed on: a power loss (`NodeCrashed` without
/// `page_cache_kept`, `log.flush.interval.messages` not 1) after which the broker's next
/// `LogRecovered` ended at or below the record's offset (or recorded no log, or the broker
/// never restarted), or a whole-disk loss; or, once a holder that lost its copy that way
/// leads while still in ZooKeeper's ISR (KIP-966's short leader: elected, or re-sent its
/// old leader epoch by a controller that never saw it restart), a holder's truncation
/// while following it (below the record: truncated away; above it: a copy that diverges
/// from the leader's rewrite of that epoch). It is not destroyed when any other holder
/// truncated its copy away (the protocol discarded a survivor), when a holder's copy was
/// never destroyed, or when another value was acknowledged or read at its offset while a
/// copy still survived and before a short leader led (a leader without the record served
/// that offset: the protocol's doing).
pub(crate) struct LossLedger<'h> {
    steps: BTreeMap<Tp, Vec<Step>>,
    nodes: BTreeMap<String, u32>,
    /// (partition, offset) -> (completion, value, op) of every ack and read naming it.
    shown: BTreeMap<(Tp, i64), Vec<Shown<'h>>>,
    /// (partition, offset, value) -> the first successful produce acknowledged there.
    acks_at: BTreeMap<(Tp, i64, &'h str), usize>,
    /// (partition, offset, value) -> the first fetch that returned it there.
    reads_at: BTreeMap<(Tp, i64, &'h str), usize>,
    /// (partition, value) -> the first invocation of a produce sending it.
    first_sent: BTreeMap<(Tp, &'h str), SimTime>,
    /// (partition, broker) -> its last `ReplicaLog` records (offset, leader epoch, value).
    final_logs: BTreeMap<(Tp, u32), LogRecords<'h>>,
    /// Broker -> when it crashed, destructively or not.
    crashed_at: BTreeMap<u32, Vec<SimTime>>,
    history: &'h History,
}

impl<'h> LossLedger<'h> {
    /// Indexes `history`. Power losses destroy nothing when `params.flush_every_message`.
    pub(crate) fn new(history: &'h History, params: &DurabilityParams) -> LossLedger<'h> {
        let nodes = broker_nodes(history).unwrap_or_default();
        // Node -> its crashes; (crash, partition) -> the LEO recovered after it.
        let mut crashes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut restarted: BTreeSet<usize> = BTreeSet::new();
        let mut recovered: BTreeMap<(usize, Tp), i64> = BTreeMap::new();
        let mut tps: BTreeSet<Tp> = BTreeSet::new();
        for (i, r) in history.events.iter().enumerate() {
            match &r.event {
                Event::Sim(SimEvent::NodeCrashed { .. }) if nodes.contains_key(&r.node) => {
                    crashes.entry(r.node.as_str()).or_default().push(i);
                }
                Event::Sim(SimEvent::NodeStarted { .. }) => {
                    if let Some(c) = crashes.get(r.node.as_str()).and_then(|c| c.last()) {
                        restarted.insert(*c);
                    }
                }
                Event::Kafka(KafkaEvent::LogRecovered {
                    topic,
                    partition,
                    leo,
                    ..
                }) => {
                    let tp = (topic.clone(), *partition);
                    if let Some(c) = crashes.get(r.node.as_str()).and_then(|c| c.last()) {
                        recovered.entry((*c, tp.clone())).or_insert(*leo);
                    }
                    tps.insert(tp);
                }
                Event::Kafka(e) => {
                    if let Some(tp) = event_tp(e) {
                        tps.insert(tp);
                    }
                }
                _ => {}
            }
        }
        let mut steps: BTreeMap<Tp, Vec<Step>> = BTreeMap::new();
        for (i, r) in history.events.iter().enumerate() {
            let at = r.at;
            let mut push = |tp: Tp, kind: StepKind| {
                steps
                    .entry(tp)
                    .or_default()
                    .push(Step { event: i, at, kind })
            };
            match &r.event {
                Event::Sim(SimEvent::NodeCrashed {
                    disk_lost,
                    page_cache_kept,
                    ..
                }) => {
                    let Some(&broker) = nodes.get(&r.node) else {
                        continue;
                    };
                    for tp in &tps {
                        let (keeps_below, how) = if *disk_lost {
                            (0, LossHow::DiskLost)
                        } else if !*page_cache_kept && !params.flush_every_message {
                            let rec = match recovered.get(&(i, tp.clone())) {
                                Some(leo) => Recovery::Leo(*leo),
                                None if restarted.contains(&i) => Recovery::NoLog,
                                None => Recovery::NotRestarted,
                            };
                            let keeps = if let Recovery::Leo(leo) = rec { leo } else { 0 };
                            (keeps, LossHow::PowerLoss(rec))
                        } else {
                            continue;
                        };
                        push(
                            tp.clone(),
                            StepKind::Crash {
                                broker,
                                keeps_below,
                                how,
                            },
                        );
                    }
                }
                Event::Kafka(e) => {
                    let Some(tp) = event_tp(e) else { continue };
                    let kind = match e {
                        KafkaEvent::LogTruncated {
                            broker, to_offset, ..
                        } => StepKind::Truncated {
                            broker: *broker,
                            to: *to_offset,
                        },
                        KafkaEvent::LeaderAndIsrApplied {
                            broker,
                            leader,
                            leader_epoch,
                            isr,
                            ..
                        } if *leader == *broker as i32 => StepKind::Isr {
                            leader: *broker,
                            epoch: *leader_epoch,
                            isr: isr.clone(),
                            changed: false,
                        },
                        KafkaEvent::LeaderAndIsrApplied { broker, leader, .. } => {
                            StepKind::Follows {
                                broker: *broker,
                                leader: *leader,
                            }
                        }
                        KafkaEvent::IsrChanged {
                            leader,
                            leader_epoch,
                            isr,
                            ..
                        } => StepKind::Isr {
                            leader: *leader,
                            epoch: *leader_epoch,
                            isr: isr.clone(),
                            changed: true,
                        },
                        KafkaEvent::HighWatermark { broker, hw, .. } => StepKind::Hw {
                            broker: *broker,
                            hw: *hw,
                        },
                        KafkaEvent::PartitionStateWritten { leader, isr, .. } => StepKind::Zk {
                            leader: *leader,
                            isr: isr.clone(),
                        },
                        _ => continue,
                    };
                    push(tp, kind);
                }
                _ => {}
            }
        }
        let mut crashed_at: BTreeMap<u32, Vec<SimTime>> = BTreeMap::new();
        for (node, list) in &crashes {
            if let Some(&b) = nodes.get(*node) {
                crashed_at.insert(b, list.iter().map(|i| history.events[*i].at).collect());
            }
        }
        let mut final_logs = BTreeMap::new();
        for r in &history.events {
            if let Event::Kafka(KafkaEvent::ReplicaLog {
                broker,
                topic,
                partition,
                records,
                ..
            }) = &r.event
            {
                final_logs.insert(((topic.clone(), *partition), *broker), records.as_slice());
            }
        }
        let mut shown: BTreeMap<(Tp, i64), Vec<Shown<'h>>> = BTreeMap::new();
        let mut acks_at = BTreeMap::new();
        let mut reads_at = BTreeMap::new();
        let mut first_sent: BTreeMap<(Tp, &'h str), SimTime> = BTreeMap::new();
        for (i, op) in history.ops.iter().enumerate() {
            let done = op.complete.unwrap_or(op.invoke);
            match (&op.call, op.outcome, &op.ret) {
                (
                    Call::Produce {
                        topic,
                        partition,
                        value,
                        ..
                    },
                    outcome,
                    ret,
                ) => {
                    let tp = (topic.clone(), *partition);
                    let first = first_sent
                        .entry((tp.clone(), value.as_str()))
                        .or_insert(op.invoke);
                    *first = (*first).min(op.invoke);
                    if let (Outcome::Ok, Ret::Produced { offset }) = (outcome, ret) {
                        if *offset >= 0 {
                            shown.entry((tp.clone(), *offset)).or_default().push((
                                done,
                                value.as_str(),
                                i,
                            ));
                            acks_at.entry((tp, *offset, value.as_str())).or_insert(i);
                        }
                    }
                }
                (
                    Call::Fetch {
                        topic, partition, ..
                    },
                    Outcome::Ok,
                    Ret::Records { records },
                ) => {
                    let tp = (topic.clone(), *partition);
                    for (o, v) in records {
                        shown
                            .entry((tp.clone(), *o))
                            .or_default()
                            .push((done, v.as_str(), i));
                        reads_at.entry((tp.clone(), *o, v.as_str())).or_insert(i);
                    }
                }
                _ => {}
            }
        }
        LossLedger {
            steps,
            nodes,
            shown,
            acks_at,
            reads_at,
            first_sent,
            final_logs,
            crashed_at,
            history,
        }
    }

    /// True when `broker` never held `value` at offset `o` of `tp` from `since` on: its
    /// last `ReplicaLog` holds another record there, and no truncation to `o` or below and no
    /// crash touched its log after `since`, so its record at `o` is the one it had (or
    /// appended) then, never `value`.
    fn kept_other_record(&self, tp: &Tp, o: i64, value: &str, broker: u32, since: SimTime) -> bool {
        let other_there = self
            .final_record(tp, broker, o)
            .is_some_and(|(_, _, v)| v != value);
        let steps = self.steps.get(tp).map_or(&[][..], Vec::as_slice);
        let never_truncated = steps[steps.partition_point(|s| s.at < since)..]
            .iter()
            .all(|s| match &s.kind {
                StepKind::Truncated { broker: b, to } => *b != broker || *to > o,
                _ => true,
            });
        let never_crashed = self
            .crashed_at
            .get(&broker)
            .is_none_or(|list| list.iter().all(|t| *t < since));
        other_there && never_truncated && never_crashed
    }

    /// The record at offset `o` in `broker`'s last `ReplicaLog` of `tp`, if any.
    fn final_record(&self, tp: &Tp, broker: u32, o: i64) -> Option<&'h (i64, i32, String)> {
        let log = self.final_logs.get(&(tp.clone(), broker))?;
        log.binary_search_by_key(&o, |(offset, _, _)| *offset)
            .ok()
            .map(|i| &log[i])
    }

    /// True when `holder` ends the run with `value` at offset `o` of `tp` and `leader` ends
    /// it with another record there in the same leader epoch. Only an epoch's leader
    /// writes records of that epoch, so `leader` wrote offset `o` twice in one epoch: it
    /// lost the offset and led that epoch again (KIP-966). Followers reconcile by epoch
    /// boundaries, so the holder's copy diverges from the leader's log for good.
    fn diverged_in_epoch(&self, tp: &Tp, o: i64, value: &str, leader: u32, holder: u32) -> bool {
        match (
            self.final_record(tp, holder, o),
            self.final_record(tp, leader, o),
        ) {
            (Some((_, held_epoch, held)), Some((_, led_epoch, led))) => {
                held == value && led != value && held_epoch == led_epoch
            }
            _ => false,
        }
    }

    /// The fault that made `leader` a short leader of offset `o` before `steps` ended: its
    /// last crash that lost `o`, followed by leadership (a ZooKeeper state naming it, or a
    /// LeaderAndIsr it applied as leader). `None` if it did not lose `o` and lead again.
    fn short_leader_loss(steps: &[Step], leader: u32, o: i64) -> Option<LostCopy> {
        let crash = steps.iter().rposition(|s| {
            matches!(&s.kind, StepKind::Crash { broker, keeps_below, .. }
                if *broker == leader && *keeps_below <= o)
        })?;
        let led_again = steps[crash..].iter().any(|s| match &s.kind {
            StepKind::Zk { leader: l, .. } => *l == leader as i32,
            StepKind::Isr { leader: l, .. } => *l == leader,
            _ => false,
        });
        let s = &steps[crash];
        match (&s.kind, led_again) {
            (StepKind::Crash { how, .. }, true) => Some(LostCopy {
                broker: leader,
                event: s.event,
                at: s.at,
                how: *how,
            }),
            _ => None,
        }
    }

    fn broker_of_node(&self, node: Option<&str>) -> Option<u32> {
        node.and_then(|n| self.nodes.get(n)).copied()
    }

    /// The record an `ok` produce acknowledged at an offset (`None` for any other op).
    pub(crate) fn ack_ref(&self, i: usize) -> Option<RecordRef<'h>> {
        let op = self.history.ops.get(i)?;
        let (
            Call::Produce {
                topic,
                partition,
                value,
                ..
            },
            Outcome::Ok,
            Ret::Produced { offset },
        ) = (&op.call, op.outcome, &op.ret)
        else {
            return None;
        };
        (*offset >= 0).then(|| RecordRef {
            tp: (topic.clone(), *partition),
            offset: *offset,
            value: value.as_str(),
            from: op.invoke,
            to: op.complete.unwrap_or(op.invoke),
            leader: self.broker_of_node(op.node.as_deref()),
            ops: vec![i],
        })
    }

    /// The record `value` at `offset` of `tp` as the history shows it committed: through its
    /// acknowledgement there if there is one, else through the first read that returned it
    /// (committed between the produce's first invocation and that read). `None` if neither.
    pub(crate) fn committed_ref(
        &self,
        tp: &Tp,
        offset: i64,
        value: &'h str,
    ) -> Option<RecordRef<'h>> {
        let key = (tp.clone(), offset, value);
        if let Some(r) = self.acks_at.get(&key).and_then(|i| self.ack_ref(*i)) {
            return Some(r);
        }
        let i = *self.reads_at.get(&key)?;
        let op = self.history.ops.get(i)?;
        let from = self
            .first_sent
            .get(&(tp.clone(), value))
            .copied()
            .unwrap_or(op.invoke)
            .min(op.invoke);
        Some(RecordRef {
            tp: tp.clone(),
            offset,
            value,
            from,
            to: op.complete.unwrap_or(op.invoke),
            leader: self.broker_of_node(op.node.as_deref()),
            ops: vec![i],
        })
    }

    /// Explains a record at offset `o` of leader epoch `epoch` on `replica` that differs
    /// from the final leader's record there, also of `epoch`, without knowing when it was
    /// committed: some broker led `epoch`, lost power with offset `o` unflushed (or lost its
    /// disk), and then led `epoch` again while still in ZooKeeper's ISR (a controller that
    /// never saw it restart re-sent it the unchanged state), writing another record at `o`
    /// in the same epoch. One leader per epoch makes it the writer of both records, so the
    /// copy on `replica` is the one its power loss destroyed (KIP-966). That broker may be
    /// `replica` itself: then `replica` holds the rewrite, and `current_holder` (the final
    /// leader) the original its power loss destroyed on `replica`, which `current_holder`
    /// kept in a copy that diverges from `replica`'s log. `None` when the steps show no such
    /// broker.
    pub(crate) fn epoch_rewritten(
        &self,
        tp: &Tp,
        o: i64,
        epoch: i32,
        replica: u32,
        current_holder: u32,
    ) -> Option<Destroyed> {
        let steps = self.steps.get(tp)?;
        let mut roles = Roles::default();
        // Broker -> the copy it lost after having led `epoch`.
        let mut led_then_lost: BTreeMap<u32, LostCopy> = BTreeMap::new();
        let mut led: BTreeSet<u32> = BTreeSet::new();
        for s in steps {
            match &s.kind {
                StepKind::Isr {
                    leader,
                    epoch: e,
                    changed: false,
                    ..
                } if *e == epoch && (*leader != replica || replica != current_holder) => {
                    if let Some(lost) = led_then_lost.get(leader) {
                        if roles.zk_isr.contains(leader) {
                            // The copy that diverges from the short leader's rewrite: the
                            // displaced one on `replica`, or (the short leader being
                            // `replica`, holding the rewrite) the final leader's original.
                            let diverged = if *leader == replica {
                                current_holder
                            } else {
                                replica
                            };
                            return Some(Destroyed {
                                lost_at: s.at,
                                copies: vec![
                                    lost.clone(),
                                    LostCopy {
                                        broker: diverged,
                                        event: s.event,
                                        at: s.at,
                                        how: LossHow::DivergedFromShortLeader { leader: *leader },
                                    },
                                ],
                            });
                        }
                    }
                    led.insert(*leader);
                }
                StepKind::Isr {
                    leader, epoch: e, ..
                } if *e == epoch => {
                    led.insert(*leader);
                }
                StepKind::Crash {
                    broker,
                    keeps_below,
                    how,
                } if *keeps_below <= o && led.contains(broker) => {
                    led_then_lost.entry(*broker).or_insert(LostCopy {
                        broker: *broker,
                        event: s.event,
                        at: s.at,
                        how: *how,
                    });
                }
                _ => {}
            }
            roles.apply(s);
        }
        None
    }

    /// Decides whether faults outside the model destroyed every counted copy of `r` (see
    /// [`LossLedger`] for the rule): `Ok` with the faults, or `Err` saying which copy
    /// survived or what the protocol did while one did.
    pub(crate) fn attribute(&self, r: &RecordRef<'_>) -> Result<Destroyed, String> {
        let o = r.offset;
        let name = tp_name(&r.tp);
        let steps = self.steps.get(&r.tp).map_or(&[][..], Vec::as_slice);
        let start = steps.partition_point(|s| s.at < r.from);
        let end = steps.partition_point(|s| s.at <= r.to).max(start);
        let mut roles = Roles::default();
        for s in &steps[..start] {
            roles.apply(s);
        }
        let at_from = roles.clone();
        for s in &steps[start..end] {
            roles.apply(s);
        }
        let Some(leader) = r.leader.or(roles.leader) else {
            return Err(format!(
                "no leader of {name} is recorded for when offset {o} was committed"
            ));
        };
        // Holders: the leader and the ISR it counted when its high watermark passed the
        // offset (Kafka's HW is the least log end over the leader's ISR), if that moment is
        // recorded; members that left the ISR earlier in the window never counted. Else
        // every ISR member recorded while it was being committed.
        let mut holders: BTreeSet<u32> = BTreeSet::from([leader]);
        let committed_at = steps[start..end].iter().position(
            |s| matches!(s.kind, StepKind::Hw { broker, hw } if broker == leader && hw > o),
        );
        if let Some(i) = committed_at {
            let mut at_commit = at_from.clone();
            for s in &steps[start..start + i] {
                at_commit.apply(s);
            }
            match at_commit.views.get(&leader) {
                Some(view) => holders.extend(view.iter().copied()),
                None => holders.extend(at_commit.zk_isr.iter().copied()),
            }
        } else {
            holders.extend(at_from.views.get(&leader).into_iter().flatten().copied());
            holders.extend(at_from.zk_isr.iter().copied());
            for s in &steps[start..end] {
                match &s.kind {
                    StepKind::Isr { leader: l, isr, .. } if *l == leader => {
                        holders.extend(isr.iter().copied())
                    }
                    StepKind::Zk { isr, .. } => holders.extend(isr.iter().copied()),
                    _ => {}
                }
            }
        }
        // ISR members that never held it: another record sits at its offset in their logs
        // and nothing ever removed that one. The leader counted them only because they fetch
        // above the offset, which happens when it is a short leader rewriting an offset it
        // lost (KIP-966); for any other leader that is the protocol's doing.
        let kept_other =
            |b: u32| b != leader && self.kept_other_record(&r.tp, o, r.value, b, r.from);
        let keepers: BTreeSet<u32> = holders.iter().copied().filter(|b| kept_other(*b)).collect();
        let short_rewrite = if keepers.is_empty() {
            None
        } else {
            let Some(loss) = Self::short_leader_loss(&steps[..start], leader, o) else {
                let k: Vec<String> = keepers.iter().map(|b| b.to_string()).collect();
                return Err(format!(
                    "broker(s) {} were in leader {leader}'s ISR while offset {o} was committed but hold another record there, never truncated: the leader counted replicas that never had it",
                    k.join(", ")
                ));
            };
            holders.retain(|b| !keepers.contains(b));
            Some(loss)
        };
        let mut roles = at_from;
        let mut lost: Vec<LostCopy> = Vec::new();
        let mut lost_at = None;
        // Brokers whose copy a fault destroyed and that ZooKeeper then named leader while
        // they were in its ISR (a short replica leading, KIP-966), and when.
        let mut short_leaders: ShortLeaders = BTreeMap::new();
        // Other values acknowledged or read at this offset after the record was committed.
        let mut rewrites: Vec<SimTime> = self
            .shown
            .get(&(r.tp.clone(), o))
            .into_iter()
            .flatten()
            .filter(|(t, v, _)| *v != r.value && *t > r.to)
            .map(|(t, _, _)| *t)
            .collect();
        rewrites.sort_unstable();
        let mut rewrites = rewrites.into_iter().peekable();
        'steps: for s in &steps[start..] {
            while let Some(t) = rewrites.next_if(|t| *t <= s.at) {
                diverge_under_rewrite(&roles, &short_leaders, &mut holders, &mut lost, t);
                if holders.is_empty() {
                    lost_at = Some(t);
                    break 'steps;
                }
            }
            // A short replica takes leadership either from a new ZooKeeper state naming it or
            // from a LeaderAndIsr re-sent unchanged by a controller that never saw it restart
            // (a failover's `ReplicaStateMachine.startup` sends every live replica the current
            // state, so a bounced leader re-leads its old epoch).
            let named = match &s.kind {
                StepKind::Zk { leader: l, .. } => u32::try_from(*l).ok(),
                StepKind::Isr {
                    leader: l,
                    changed: false,
                    ..
                } => Some(*l),
                _ => None,
            };
            if let Some(l) = named {
                if roles.zk_isr.contains(&l)
                    && !holders.contains(&l)
                    && lost.iter().any(|c| c.broker == l)
                {
                    short_leaders.entry(l).or_insert((s.at, s.event));
                }
            }
            let keeper_leads = match &s.kind {
                StepKind::Zk { leader: l, .. } => u32::try_from(*l).ok(),
                StepKind::Isr { leader: l, .. } => Some(*l),
                _ => None,
            }
            .filter(|l| keepers.contains(l));
            if let (Some(keeper), Some(loss)) = (keeper_leads, &short_rewrite) {
                lost.push(loss.clone());
                for broker in std::mem::take(&mut holders) {
                    lost.push(LostCopy {
                        broker,
                        event: s.event,
                        at: s.at,
                        how: LossHow::OverruledByPreLossCopy {
                            leader: keeper,
                            short_leader: loss.broker,
                        },
                    });
                }
                lost_at = Some(s.at);
                break;
            }
            match &s.kind {
                StepKind::Crash {
                    broker,
                    keeps_below,
                    how,
                } if *keeps_below <= o && holders.remove(broker) => lost.push(LostCopy {
                    broker: *broker,
                    event: s.event,
                    at: s.at,
                    how: *how,
                }),
                StepKind::Truncated { broker, to } if *to <= o && holders.contains(broker) => {
                    if let Some(leader) = short_leader_followed(&roles, &short_leaders, *broker) {
                        holders.remove(broker);
                        lost.push(LostCopy {
                            broker: *broker,
                            event: s.event,
                            at: s.at,
                            how: LossHow::TruncatedToShortLeader { leader },
                        });
                        roles.apply(s);
                        if holders.is_empty() {
                            lost_at = Some(s.at);
                            break;
                        }
                        continue;
                    }
                    return Err(format!(
                        "broker {broker} held it and truncated its log to offset {to} at {} (event {}): the protocol discarded a surviving copy",
                        s.at, s.event
                    ));
                }
                StepKind::Truncated { broker, .. } if holders.contains(broker) => {
                    // Truncated above the record while reconciling with a short leader that
                    // lacks it: the leader's log holds other records at its offset in the
                    // same epoch, so the copy kept here diverges and the protocol never
                    // serves it while that leader leads.
                    let following = short_leader_followed(&roles, &short_leaders, *broker)
                        .filter(|l| !holders.contains(l));
                    if let Some(leader) = following {
                        holders.remove(broker);
                        lost.push(LostCopy {
                            broker: *broker,
                            event: s.event,
                            at: s.at,
                            how: LossHow::DivergedFromShortLeader { leader },
                        });
                    }
                }
                StepKind::Isr {
                    leader: l,
                    isr,
                    changed: true,
                    ..
                } if holders.contains(l) => {
                    // Members joining the ISR of a leader that holds it reached its HW.
                    let before = roles.views.get(l).cloned().unwrap_or_default();
                    holders.extend(
                        isr.iter()
                            .filter(|m| !before.contains(m) && !kept_other(**m))
                            .copied(),
                    );
                }
                StepKind::Hw { broker, hw } if *hw > o && !holders.contains(broker) => {
                    // A follower in a holder's ISR whose HW passed it fetched it from there.
                    let from_holder = roles
                        .follows
                        .get(broker)
                        .and_then(|l| u32::try_from(*l).ok())
                        .filter(|l| l != broker && holders.contains(l))
                        .is_some_and(|l| roles.views.get(&l).is_some_and(|v| v.contains(broker)));
                    if from_holder && !kept_other(*broker) {
                        holders.insert(*broker);
                    }
                }
                _ => {}
            }
            roles.apply(s);
            if holders.is_empty() {
                lost_at = Some(s.at);
                break;
            }
        }
        if lost_at.is_none() {
            for t in rewrites {
                diverge_under_rewrite(&roles, &short_leaders, &mut holders, &mut lost, t);
                if holders.is_empty() {
                    lost_at = Some(t);
                    break;
                }
            }
        }
        if lost_at.is_none() {
            // Copies no step showed diverging (nobody acknowledged or read the short
            // leader's record at the offset, and the holder never truncated): their end
            // logs show it.
            if let Some(&(since, event)) = short_leaders.get(&leader) {
                let diverged: Vec<u32> = holders
                    .iter()
                    .copied()
                    .filter(|h| self.diverged_in_epoch(&r.tp, o, r.value, leader, *h))
                    .collect();
                for broker in diverged {
                    holders.remove(&broker);
                    lost.push(LostCopy {
                        broker,
                        event,
                        at: since,
                        how: LossHow::DivergedFromShortLeader { leader },
                    });
                }
                if holders.is_empty() {
                    lost_at = lost.iter().map(|c| c.at).max();
                }
            }
        }
        let Some(lost_at) = lost_at else {
            let kept: Vec<String> = holders.iter().map(|b| b.to_string()).collect();
            return Err(format!(
                "broker(s) {} held it and no power or disk loss destroyed their copies",
                kept.join(", ")
            ));
        };
        // A short leader serves new records at the lost offsets: that is the
        // same KIP-966 loss, not a separate fault.
        let short_since = short_leaders.values().map(|(t, _)| *t).min();
        let rewrite = self.shown.get(&(r.tp.clone(), o)).and_then(|list| {
            list.iter().find(|(t, v, _)| {
                *v != r.value && *t > r.to && *t < lost_at && short_since.is_none_or(|s| *t < s)
            })
        });
        if let Some((t, v, i)) = rewrite {
            return Err(format!(
                "offset {o} of {name} held {v:?} (op {i}, at {t}) before its last copy was destroyed at {lost_at}: a leader without it served that offset while a copy survived"
            ));
        }
        Ok(Destroyed {
            lost_at,
            copies: lost,
        })
    }
}

/// Brokers whose copy a fault destroyed and that then led while in ZooKeeper's ISR (a short
/// leader, KIP-966) -> when they first led and the event that shows it.
type ShortLeaders = BTreeMap<u32, (SimTime, usize)>;

/// The short leader `broker` follows (its latest LeaderAndIsr names it), if any.
fn short_leader_followed(roles: &Roles, short_leaders: &ShortLeaders, broker: u32) -> Option<u32> {
    roles
        .follows
        .get(&broker)
        .and_then(|l| u32::try_from(*l).ok())
        .filter(|l| short_leaders.contains_key(l))
}

/// Another record was acknowledged or read at the offset at `at` while a short leader led:
/// the copies its followers kept there diverge from its log (they fetch above the offset and
/// never reconcile it, the leader epoch being the same), so none of them is served again
/// while it leads.
fn diverge_under_rewrite(
    roles: &Roles,
    short_leaders: &ShortLeaders,
    holders: &mut BTreeSet<u32>,
    lost: &mut Vec<LostCopy>,
    at: SimTime,
) {
    let Some(leader) = roles.leader.filter(|l| !holders.contains(l)) else {
        return;
    };
    let Some(&(_, event)) = short_leaders.get(&leader).filter(|(since, _)| *since <= at) else {
        return;
    };
    let followers: Vec<u32> = holders
        .iter()
        .copied()
        .filter(|h| roles.follows.get(h) == Some(&(leader as i32)))
        .collect();
    for broker in followers {
        holders.remove(&broker);
        lost.push(LostCopy {
            broker,
            event,
            at,
            how: LossHow::DivergedFromShortLeader { leader },
        });
    }
}

/// The partition an event names, if any.
fn event_tp(e: &KafkaEvent) -> Option<Tp> {
    match e {
        KafkaEvent::PartitionStateWritten {
            topic, partition, ..
        }
        | KafkaEvent::LeaderAndIsrApplied {
            topic, partition, ..
        }
        | KafkaEvent::IsrChanged {
            topic, partition, ..
        }
        | KafkaEvent::LogTruncated {
            topic, partition, ..
        }
        | KafkaEvent::LogRecovered {
            topic, partition, ..
        }
        | KafkaEvent::HighWatermark {
            topic, partition, ..
        }
        | KafkaEvent::ReplicaLog {
            topic, partition, ..
        }
        | KafkaEvent::PartitionClaimed {
            topic, partition, ..
        }
        | KafkaEvent::PartitionReleased {
            topic, partition, ..
        } => Some((topic.clone(), *partition)),
        _ => None,
    }
}

/// At most this many records are named in one excuse; the rest are counted.
const EXCUSE_SHOWN: usize = 10;

/// Excused breaches of one rule, one group per partition and set of destroying faults.
#[derive(Default)]
pub(crate) struct ExcuseGroups {
    groups: BTreeMap<(Tp, Vec<usize>), ExcuseGroup>,
}

/// Breaches of one rule at one partition explained by the same faults.
struct ExcuseGroup {
    destroyed: Destroyed,
    items: Vec<String>,
    ops: BTreeSet<usize>,
}

impl ExcuseGroups {
    /// Adds one excused breach at `tp`: `item` names the records and ops.
    pub(crate) fn add(&mut self, tp: &Tp, destroyed: Destroyed, item: String, ops: &[usize]) {
        let g = self
            .groups
            .entry((tp.clone(), destroyed.events()))
            .or_insert_with(|| ExcuseGroup {
                destroyed,
                items: Vec::new(),
                ops: BTreeSet::new(),
            });
        g.items.push(item);
        g.ops.extend(ops.iter().copied());
    }

    /// One [`Excuse`] per group: `what` says what the items are.
    pub(crate) fn into_excuses(self, rule: &str, what: &str) -> Vec<Excuse> {
        self.groups
            .into_iter()
            .map(|((tp, events), ExcuseGroup { destroyed, items, ops })| {
                let more = items.len().saturating_sub(EXCUSE_SHOWN);
                let mut shown = items
                    .iter()
                    .take(EXCUSE_SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                if more > 0 {
                    shown.push_str(&format!("; and {more} more"));
                }
                Excuse {
                    rule: rule.to_string(),
                    message: format!(
                        "{what} at {}: {shown}. Every broker that held the record(s) lost its copy to a fault outside the model before any surviving copy was passed on: {}",
                        tp_name(&tp),
                        destroyed.describe()
                    ),
                    documented: DOCUMENTED.to_string(),
                    ops: ops.into_iter().collect(),
                    events,
                }
            })
            .collect()
    }
}

fn fmt_record(r: Option<&(i64, i32, String)>) -> String {
    match r {
        Some((o, e, v)) => format!("(offset {o}, epoch {e}, {v:?})"),
        None => "(absent)".to_string(),
    }
}

fn fmt_isr(isr: &[u32]) -> String {
    format!("{isr:?}")
}

// ---------------------------------------------------------------------------------------
// 1. No acknowledged write lost.

/// Checks that every acknowledged `acks=all` produce is in the final leader's log, at its
/// acknowledged offset, with its value (NoCommittedRecordLost, `kafka.md` §4 and §7).
///
/// The final leader is the one with the highest leader epoch among `PartitionStateWritten`
/// and `LeaderAndIsrApplied` (the latest wins a tie); its log is its last `ReplicaLog`.
/// A produce is *guarded* when `acks=-1`, unclean election is off and the partition's ISR
/// last recorded before the acknowledgement had at least `min_isr` members (or none was
/// recorded). A lost guarded record is a violation unless faults outside the model
/// destroyed every copy of it ([`LossLedger::attribute`]): then it is excused, one
/// [`Excuse`] per partition and set of destroying faults, naming the records, the brokers
/// and the faults (verdict [`Verdict::OutsideFaultModel`] if nothing else is wrong); the
/// violation otherwise says which copy survived. Lost `acks=1`/`acks=0` records (the
/// leader acknowledges after its own append), and lost `acks=all` records under unclean
/// election (Jepsen 2013, KAFKA-1028) or with a recorded ISR below `min_isr`, are counted
/// and explained in notes, never violations. A guarded record whose final leader log is
/// missing makes the verdict `Unknown`. A produce without an offset (`offset < 0`, as for
/// `acks=0`) is looked up by value anywhere in the log.
pub fn no_acked_write_lost(history: &History, params: &DurabilityParams) -> CheckReport {
    const NAME: &str = "kafka.no_acked_write_lost";
    let mut b = Builder::new(
        NAME,
        &[
            "acked_all",
            "acked_all_present",
            "acked_all_lost",
            "acked_all_lost_unclean_allowed",
            "acked_all_lost_isr_below_min",
            "acked_all_lost_outside_fault_model",
            "acked_all_unjudged_leader_restarted",
            "acked_all_above_final_hw",
            "acked_weak",
            "acked_weak_lost",
            "unchecked",
        ],
    );
    let views = partition_views(history);
    let isr_history = isr_sizes(history);
    let ledger = LossLedger::new(history, params);
    let nodes = broker_nodes(history).unwrap_or_default();
    // Per partition and final leader: one scan of the events, not one per lost record.
    let mut restarts: BTreeMap<(Tp, u32), Option<SimTime>> = BTreeMap::new();
    let mut excused = ExcuseGroups::default();
    let mut lost_weak = Vec::new();
    let mut lost_unclean = Vec::new();
    let mut lost_small_isr = Vec::new();
    let mut unchecked_weak = 0;
    for (i, op) in history.ops.iter().enumerate() {
        let Call::Produce {
            topic,
            partition,
            value,
            acks,
        } = &op.call
        else {
            continue;
        };
        if op.outcome != Outcome::Ok {
            continue;
        }
        let Ret::Produced { offset } = op.ret else {
            // acks=0 clients may learn no offset; an acks=all ack without one is malformed.
            b.bump("unchecked");
            if *acks == -1 {
                b.unknown.insert(format!(
                    "op {i}: acks=all produce ok without a Produced return ({:?})",
                    op.ret
                ));
            }
            continue;
        };
        let tp = (topic.clone(), *partition);
        let acked_at = op.complete.unwrap_or(op.invoke);
        let isr_at_ack = isr_history
            .get(&tp)
            .and_then(|h| h.iter().rev().find(|(at, _)| *at <= acked_at))
            .map(|(_, n)| *n);
        let all = *acks == -1;
        if all {
            b.bump("acked_all");
        } else {
            b.bump("acked_weak");
        }
        let (leader, epoch, leader_event, log) = match final_leader_log(&tp, views.get(&tp)) {
            Ok(x) => x,
            Err(reason) => {
                b.bump("unchecked");
                if all && !params.unclean_election {
                    b.unknown.insert(reason);
                } else {
                    unchecked_weak += 1;
                }
                continue;
            }
        };
        let found = if offset >= 0 {
            log.at_offset(offset)
        } else {
            log.records.iter().find(|r| &r.2 == value)
        };
        if found.is_some_and(|r| &r.2 == value) {
            if all {
                b.bump("acked_all_present");
                if found.is_some_and(|r| r.0 >= log.hw) {
                    b.bump("acked_all_above_final_hw");
                }
            }
            continue;
        }
        if !all {
            b.bump("acked_weak_lost");
            lost_weak.push(i);
        } else if params.unclean_election {
            b.bump("acked_all_lost_unclean_allowed");
            lost_unclean.push(i);
        } else if isr_at_ack.is_some_and(|n| n < params.min_isr as usize) {
            b.bump("acked_all_lost_isr_below_min");
            lost_small_isr.push(i);
        } else if let Some(at) = *restarts
            .entry((tp.clone(), leader))
            .or_insert_with(|| restarted_without_leading(history, &nodes, &tp, leader))
        {
            b.bump("acked_all_unjudged_leader_restarted");
            b.unknown.insert(format!(
                "{}: the final leader {leader} started again at {at} and led it no more (no LeaderAndIsr naming it leader since): no serving log to judge acknowledged records by",
                tp_name(&tp)
            ));
        } else {
            let attributed = ledger
                .ack_ref(i)
                .ok_or_else(|| "no offset to attribute it by".to_string())
                .and_then(|r| ledger.attribute(&r));
            let why = match attributed {
                Ok(d) => {
                    b.bump("acked_all_lost_outside_fault_model");
                    excused.add(
                        &tp,
                        d,
                        format!(
                            "{value:?} at offset {offset} (op {i}), final leader {leader} has {}",
                            fmt_record(found)
                        ),
                        &[i],
                    );
                    continue;
                }
                Err(why) => why,
            };
            b.bump("acked_all_lost");
            b.violate(
                format!(
                    "acknowledged acks=all record {value:?} at {} offset {offset} (op {i}) is not in the final leader {leader}'s log: found {}; not a loss outside the fault model: {why}",
                    tp_name(&tp),
                    fmt_record(found)
                ),
                vec![i],
                vec![leader_event, log.event],
                Some(format!("final leader {leader} at leader epoch {epoch}; its log has hw {} and leo {}", log.hw, log.leo())),
            );
        }
    }
    if !lost_weak.is_empty() {
        b.notes.push(format!(
            "{} acknowledged acks=1/acks=0 record(s) lost (ops {lost_weak:?}): allowed, the leader acknowledges after its own append only",
            lost_weak.len()
        ));
    }
    if !lost_unclean.is_empty() {
        b.notes.push(format!(
            "{} acknowledged acks=all record(s) lost (ops {lost_unclean:?}): allowed by configuration, unclean.leader.election.enable=true lets an out-of-ISR replica become leader and truncate acknowledged records (Jepsen 2013, KAFKA-1028; false by default since 0.11)",
            lost_unclean.len()
        ));
    }
    if !lost_small_isr.is_empty() {
        b.notes.push(format!(
            "{} acknowledged acks=all record(s) lost (ops {lost_small_isr:?}) were acknowledged while the recorded ISR had fewer than min.insync.replicas={} members: outside the guarantee",
            lost_small_isr.len(),
            params.min_isr
        ));
    }
    b.excuses = excused.into_excuses(NAME, "acknowledged acks=all record(s) lost");
    if unchecked_weak > 0 {
        b.notes.push(format!("{unchecked_weak} acknowledged record(s) outside the acks=all guarantee could not be checked (no final leader log)"));
    }
    if b.counter_is_zero("acked_all") && b.counter_is_zero("acked_weak") {
        b.nothing_to_judge("no acknowledged produce in the history");
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------
// 2. Replicas agree.

/// Checks log matching: for each partition, the last `ReplicaLog` of every replica agrees
/// on (offset, leader epoch, value) for every offset below the minimum HW across them, and
/// each log has strictly increasing offsets and non-decreasing leader epochs (KIP-101,
/// KAFKA-3919). A record missing on one replica below that HW is a divergence too.
///
/// Judged with Kafka's default durability ([`DurabilityParams::KAFKA_DEFAULTS`]); see
/// [`replicas_agree_with`] for the rule and for divergences outside the fault model.
pub fn replicas_agree(history: &History) -> CheckReport {
    replicas_agree_with(history, &DurabilityParams::KAFKA_DEFAULTS)
}

/// [`replicas_agree`] under `params`. A divergence below the minimum HW is a violation
/// unless it is outside the fault model: the final leader's log names which record at that
/// offset is current, and every other record there (the *displaced* one, still on a replica
/// that was not in its ISR) was destroyed on every broker that counted as holding it
/// ([`LossLedger::attribute`]; a displaced record never acknowledged or read, or a
/// partition without a final leader log, cannot be attributed and stays a violation). Such
/// divergences are excused, one [`Excuse`] per partition and set of destroying faults.
/// `Unknown` if the history holds no `ReplicaLog` at all.
pub fn replicas_agree_with(history: &History, params: &DurabilityParams) -> CheckReport {
    const NAME: &str = "kafka.replicas_agree";
    let mut b = Builder::new(
        NAME,
        &[
            "partitions",
            "partitions_single_replica",
            "records_compared",
            "divergences",
            "divergences_outside_fault_model",
        ],
    );
    let ledger = LossLedger::new(history, params);
    let mut excused = ExcuseGroups::default();
    let views = partition_views(history);
    let mut any_log = false;
    for (tp, view) in &views {
        if view.logs.is_empty() {
            continue;
        }
        any_log = true;
        b.bump("partitions");
        for (broker, log) in &view.logs {
            for w in log.records.windows(2) {
                if w[1].0 <= w[0].0 || w[1].1 < w[0].1 {
                    b.violate(
                        format!(
                            "replica {broker} of {}: log order broken: {} followed by {} (offsets must increase, leader epochs must not decrease)",
                            tp_name(tp),
                            fmt_record(Some(&w[0])),
                            fmt_record(Some(&w[1]))
                        ),
                        vec![],
                        vec![log.event],
                        None,
                    );
                    break;
                }
            }
        }
        if view.logs.len() < 2 {
            b.bump("partitions_single_replica");
            continue;
        }
        let min_hw = view.logs.values().map(|l| l.hw).min().unwrap_or(0);
        let current = final_leader_log(tp, Some(view)).map(|(leader, _, _, log)| (leader, log));
        let mut logs = view.logs.iter();
        let Some((ref_broker, ref_log)) = logs.next() else {
            continue;
        };
        let reference = ref_log.below(min_hw);
        for (broker, log) in logs {
            let other = log.below(min_hw);
            let offsets: BTreeSet<i64> = reference.keys().chain(other.keys()).copied().collect();
            b.counters
                .entry("records_compared")
                .and_modify(|c| *c += offsets.len() as u64);
            let first_diff = offsets
                .into_iter()
                .find(|o| reference.get(o) != other.get(o));
            let Some(o) = first_diff else { continue };
            b.bump("divergences");
            let show = |m: &BTreeMap<i64, (i32, &str)>| {
                fmt_record(m.get(&o).map(|(e, v)| (o, *e, v.to_string())).as_ref())
            };
            let sides = [
                (*ref_broker, reference.get(&o).copied()),
                (*broker, other.get(&o).copied()),
            ];
            let attributed = match &current {
                Ok((leader, log)) => {
                    let now = log.at_offset(o).map(|r| (r.1, r.2.as_str()));
                    displaced_destroyed(&ledger, tp, o, &sides, now, *leader).map_err(|why| {
                        format!(
                            "{why} (final leader {leader} holds {})",
                            fmt_record(log.at_offset(o))
                        )
                    })
                }
                Err(reason) => Err(format!("cannot tell which record is current: {reason}")),
            };
            match attributed {
                Ok((d, ops)) => {
                    b.bump("divergences_outside_fault_model");
                    excused.add(
                        tp,
                        d,
                        format!(
                            "replicas {ref_broker} and {broker} diverge at offset {o}: {} vs {}",
                            show(&reference),
                            show(&other)
                        ),
                        &ops,
                    );
                }
                Err(why) => b.violate(
                    format!(
                        "replicas {ref_broker} and {broker} of {} diverge at offset {o}, below the minimum HW {min_hw}: {} vs {}; not outside the fault model: {why}",
                        tp_name(tp),
                        show(&reference),
                        show(&other)
                    ),
                    vec![],
                    vec![ref_log.event, log.event],
                    Some(format!("hw of replica {ref_broker}: {}, of replica {broker}: {}", ref_log.hw, log.hw)),
                ),
            }
        }
    }
    if !any_log {
        b.unknown
            .insert("no ReplicaLog snapshots recorded".to_string());
    }
    b.excuses = excused.into_excuses(NAME, "replica logs that diverge below the high watermark");
    b.finish()
}

/// The records at offset `o` of `tp` on the diverging `sides` (replica, value) that differ
/// from `current` (the final leader's record there) were displaced; `Ok` with the merged
/// destruction and their ops if faults outside the model destroyed every one of them.
fn displaced_destroyed<'h>(
    ledger: &LossLedger<'h>,
    tp: &Tp,
    o: i64,
    sides: &[(u32, Option<(i32, &'h str)>)],
    current: Option<(i32, &str)>,
    final_leader: u32,
) -> Result<(Destroyed, Vec<usize>), String> {
    let mut merged: Option<Destroyed> = None;
    let mut ops = Vec::new();
    for (replica, record) in sides {
        let Some((epoch, v)) = record.filter(|(_, v)| Some(*v) != current.map(|c| c.1)) else {
            continue;
        };
        let rewritten = || {
            current
                .filter(|(e, _)| *e == epoch)
                .and_then(|_| ledger.epoch_rewritten(tp, o, epoch, *replica, final_leader))
        };
        let d = match ledger.committed_ref(tp, o, v) {
            Some(r) => {
                let d = ledger
                    .attribute(&r)
                    .map_err(|why| format!("{v:?} on replica {replica}: {why}"))?;
                ops.extend(r.ops.iter().copied());
                d
            }
            None => rewritten().ok_or_else(|| {
                format!("{v:?} on replica {replica} was never acknowledged or read at offset {o}, so nothing shows when it was committed, and no leader of epoch {epoch} lost the record at that offset to a power or disk loss and then led that epoch again")
            })?,
        };
        merged = Some(match merged {
            None => d,
            Some(m) => m.merge(d),
        });
    }
    merged
        .map(|d| (d, ops))
        .ok_or_else(|| format!("no record at offset {o} differs from the final leader's"))
}

// ---------------------------------------------------------------------------------------
// 3. One leader per epoch.

/// Checks that each (topic, partition, leader epoch) has at most one leader across
/// `PartitionStateWritten`, `LeaderAndIsrApplied` and `IsrChanged` (two leaders in one epoch
/// is the KAFKA-6082 zombie-controller symptom), that every leader is in the ISR it was
/// written or applied with (LeaderInIsr), and that no partition state is written with an
/// empty ISR (KAFKA-5083: the controller keeps the last ISR member). Leader `-1` (none) is
/// not a leader.
pub fn one_leader_per_epoch(history: &History) -> CheckReport {
    const NAME: &str = "kafka.one_leader_per_epoch";
    let mut b = Builder::new(NAME, &["leader_events", "epochs"]);
    let writes = MetadataWrites::new(history);
    let mut leaders: BTreeMap<(String, u32, i32), BTreeMap<i32, usize>> = BTreeMap::new();
    for (i, _, e) in kafka_events(history) {
        let (topic, partition, leader, epoch, isr, what) = match e {
            KafkaEvent::PartitionStateWritten {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
                ..
            } => {
                if isr.is_empty() {
                    b.violate(
                        format!("partition state of {topic}/{partition} written with an empty ISR at leader epoch {leader_epoch} (KAFKA-5083)"),
                        vec![],
                        vec![i],
                        None,
                    );
                }
                (
                    topic,
                    *partition,
                    *leader,
                    *leader_epoch,
                    isr,
                    "partition state written",
                )
            }
            KafkaEvent::LeaderAndIsrApplied {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
                ..
            } => (
                topic,
                *partition,
                *leader,
                *leader_epoch,
                isr,
                "LeaderAndIsr applied",
            ),
            KafkaEvent::IsrChanged {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
            } => (
                topic,
                *partition,
                *leader as i32,
                *leader_epoch,
                isr,
                "ISR changed",
            ),
            _ => continue,
        };
        b.bump("leader_events");
        if leader < 0 {
            continue;
        }
        if !isr.iter().any(|m| *m as i32 == leader) {
            b.violate(
                format!("{what} for {topic}/{partition} at leader epoch {epoch}: leader {leader} is not in its ISR {}", fmt_isr(isr)),
                vec![],
                vec![i],
                None,
            );
        }
        let seen = leaders
            .entry((topic.clone(), partition, epoch))
            .or_default();
        if !seen.contains_key(&leader) {
            if let Some((other, first)) = seen.iter().next().map(|(l, i)| (*l, *i)) {
                let tp = (topic.clone(), partition);
                let by = history.events[i].at;
                let ops = [other, leader]
                    .into_iter()
                    .filter_map(|l| writes.state(&tp, Some(l), epoch, None, by))
                    .collect();
                b.violate(
                    format!("{topic}/{partition} has two leaders in leader epoch {epoch}: {other} (event {first}) and {leader} (event {i})"),
                    ops,
                    vec![first, i],
                    None,
                );
            }
            seen.insert(leader, i);
        }
    }
    b.counters.insert("epochs", leaders.len() as u64);
    if leaders.is_empty() {
        b.nothing_to_judge("no partition leader recorded");
    }
    b.excuse_metadata_amnesia(history);
    b.finish()
}

// ---------------------------------------------------------------------------------------
// 4. Controller epochs.

/// Checks the controller epoch: at most one `ControllerElected` per epoch, epochs strictly
/// increasing in record order, and no `PartitionStateWritten` carrying controller epoch `e`
/// recorded after a controller of a later epoch was elected (zombie fencing, KAFKA-6082).
///
/// One exemption, counted: a write by the partition's own leader that keeps the leader and
/// leader epoch of the previous recorded state, or of the last LeaderAndIsr it applied (a
/// controller may have written that state without hearing back), and only changes the
/// ISR. Before 2.7 leaders write ISR changes themselves, carrying the controller epoch of
/// the last LeaderAndIsr they applied, and are fenced by the znode version, not the
/// controller epoch. `Unknown` if partition
/// states were written but no controller election was recorded.
pub fn controller_epochs(history: &History) -> CheckReport {
    const NAME: &str = "kafka.controller_epochs";
    let mut b = Builder::new(
        NAME,
        &[
            "elections",
            "state_writes",
            "leader_isr_writes_old_controller_epoch",
            "writes_unrecorded_epoch",
            "writes_landed_before_newer_election",
        ],
    );
    let writes = MetadataWrites::new(history);
    let mut elected: BTreeMap<i32, (u32, usize)> = BTreeMap::new();
    let mut latest: Option<(i32, u32, usize)> = None; // highest epoch elected so far
    let mut last_state: BTreeMap<Tp, (i32, i32, Vec<u32>, i32, usize)> = BTreeMap::new();
    // (partition, broker) -> (leader, leader epoch) of the last LeaderAndIsr it applied.
    let mut applied: BTreeMap<(Tp, u32), (i32, i32)> = BTreeMap::new();
    for (i, _, e) in kafka_events(history) {
        match e {
            KafkaEvent::ControllerElected { broker, epoch } => {
                b.bump("elections");
                if let Some((other, j)) = elected.get(epoch) {
                    let mut ops = writes.election(*other, *epoch);
                    ops.extend(writes.election(*broker, *epoch));
                    b.violate(
                        format!("two controllers elected for controller epoch {epoch}: broker {other} (event {j}) and broker {broker} (event {i})"),
                        ops,
                        vec![*j, i],
                        None,
                    );
                } else if let Some((max, by, j)) = latest.filter(|l| l.0 > *epoch) {
                    let mut ops = writes.election(by, max);
                    ops.extend(writes.election(*broker, *epoch));
                    b.violate(
                        format!("controller epoch went back: broker {broker} elected for epoch {epoch} (event {i}) after broker {by} for epoch {max} (event {j})"),
                        ops,
                        vec![j, i],
                        None,
                    );
                }
                elected.entry(*epoch).or_insert((*broker, i));
                if latest.is_none_or(|l| *epoch > l.0) {
                    latest = Some((*epoch, *broker, i));
                }
            }
            KafkaEvent::LeaderAndIsrApplied {
                broker,
                topic,
                partition,
                leader,
                leader_epoch,
                ..
            } => {
                applied.insert(
                    ((topic.clone(), *partition), *broker),
                    (*leader, *leader_epoch),
                );
            }
            KafkaEvent::PartitionStateWritten {
                topic,
                partition,
                leader,
                leader_epoch,
                isr,
                controller_epoch,
                by,
            } => {
                b.bump("state_writes");
                let tp = (topic.clone(), *partition);
                let before = last_state.get(&tp).cloned();
                if !elected.contains_key(controller_epoch)
                    && latest.is_none_or(|l| *controller_epoch > l.0)
                {
                    b.bump("writes_unrecorded_epoch");
                }
                if let Some((max, winner, j)) = latest.filter(|l| l.0 > *controller_epoch) {
                    // The leader writes within the leadership a LeaderAndIsr gave it: the
                    // state it last applied (which a controller wrote, even one whose own
                    // write went unanswered), or the last state recorded.
                    let isr_only = *by as i32 == *leader
                        && (before
                            .as_ref()
                            .is_some_and(|s| s.0 == *leader && s.1 == *leader_epoch)
                            || applied.get(&(tp.clone(), *by)) == Some(&(*leader, *leader_epoch)));
                    // The write is recorded when its reply (or the re-read settling it)
                    // arrives, maybe after the newer election; ZooKeeper's order says
                    // which came first (seed 1855 of issue 21).
                    let election_zxid = writes
                        .election(winner, max)
                        .into_iter()
                        .filter_map(|e| history.ops[e].zxid)
                        .min();
                    let written =
                        PartitionState::new(*leader, *leader_epoch, isr.clone(), *controller_epoch);
                    let landed_before = writes
                        .state_landed(history, &tp, &written, history.events[i].at)
                        .zip(election_zxid)
                        .is_some_and(|(w, e)| w < e);
                    if isr_only {
                        b.bump("leader_isr_writes_old_controller_epoch");
                    } else if landed_before {
                        b.bump("writes_landed_before_newer_election");
                    } else {
                        let mut events = vec![j];
                        events.extend(before.as_ref().map(|s| s.4));
                        events.push(i);
                        let mut ops = writes.election(winner, max);
                        ops.extend(writes.state(
                            &tp,
                            Some(*leader),
                            *leader_epoch,
                            Some(isr),
                            history.events[i].at,
                        ));
                        b.violate(
                            format!(
                                "zombie controller write: broker {by} wrote {} (leader {leader}, leader epoch {leader_epoch}, ISR {}) with controller epoch {controller_epoch} after broker {winner} was elected for controller epoch {max} (KAFKA-6082)",
                                tp_name(&tp),
                                fmt_isr(isr)
                            ),
                            ops,
                            events,
                            before.map(|s| format!("{}: leader {}, leader epoch {}, ISR {}, controller epoch {}", tp_name(&tp), s.0, s.1, fmt_isr(&s.2), s.3)),
                        );
                    }
                }
                last_state.insert(
                    tp,
                    (*leader, *leader_epoch, isr.clone(), *controller_epoch, i),
                );
            }
            _ => {}
        }
    }
    if elected.is_empty() {
        if b.counter_is_zero("state_writes") {
            b.nothing_to_judge("no controller election or partition state write recorded");
        } else {
            b.unknown.insert(
                "partition states were written but no controller election was recorded".to_string(),
            );
        }
    }
    if !b.counter_is_zero("writes_unrecorded_epoch") {
        b.notes.push(format!(
            "{} partition state write(s) carried a controller epoch with no recorded election",
            b.counter("writes_unrecorded_epoch")
        ));
    }
    b.excuse_metadata_amnesia(history);
    b.finish()
}

// ---------------------------------------------------------------------------------------
// 5. Consumers agree.

/// Checks what fetches returned (ops `Fetch` with outcome `ok` and `Ret::Records`):
/// - no two fetches see different values at the same (topic, partition, offset)
///   (ConsistentRead);
/// - within one fetch, offsets strictly increase and start at or after the fetch offset;
/// - every fetched offset is below a high watermark some broker recorded (`HighWatermark`)
///   for the partition by the fetch's completion: consumers read committed records only
///   (skipped, with a note, for partitions with no `HighWatermark` event);
/// - every fetched value was sent by some `Produce` to that partition invoked before the
///   fetch completed (skipped, with a note, for partitions nobody produced to).
///
/// Different values at one offset are legitimate only after an unclean election, or
/// outside the fault model (see [`consumers_agree_with`]). Judged with Kafka's default
/// durability ([`DurabilityParams::KAFKA_DEFAULTS`]).
pub fn consumers_agree(history: &History) -> CheckReport {
    consumers_agree_with(history, &DurabilityParams::KAFKA_DEFAULTS)
}

/// [`consumers_agree`] under `params`. A fetch that reads a new value at an offset where
/// earlier fetches read others is a violation unless each earlier value was destroyed on
/// every broker that counted as holding it before the new one was acknowledged or read
/// there ([`LossLedger::attribute`]): the offset was rewritten after a loss outside the
/// fault model. Such overwrites are excused, one [`Excuse`] per partition and set of
/// destroying faults.
pub fn consumers_agree_with(history: &History, params: &DurabilityParams) -> CheckReport {
    const NAME: &str = "kafka.consumers_agree";
    let mut b = Builder::new(
        NAME,
        &[
            "fetches",
            "records_read",
            "records_hw_unchecked",
            "records_origin_unchecked",
            "overwrites_outside_fault_model",
        ],
    );
    let ledger = LossLedger::new(history, params);
    let mut excused = ExcuseGroups::default();
    // Per partition: (time, hw) in record order, turned into a running maximum.
    let mut hws: BTreeMap<Tp, Vec<(SimTime, i64, usize)>> = BTreeMap::new();
    for (i, r, e) in kafka_events(history) {
        if let KafkaEvent::HighWatermark {
            topic,
            partition,
            hw,
            ..
        } = e
        {
            let list = hws.entry((topic.clone(), *partition)).or_default();
            let max = list.last().map_or(*hw, |l| l.1.max(*hw));
            list.push((r.at, max, i));
        }
    }
    let mut produced: BTreeMap<Tp, BTreeMap<&str, SimTime>> = BTreeMap::new();
    for op in &history.ops {
        if let Call::Produce {
            topic,
            partition,
            value,
            ..
        } = &op.call
        {
            let first = produced
                .entry((topic.clone(), *partition))
                .or_default()
                .entry(value.as_str())
                .or_insert(op.invoke);
            *first = (*first).min(op.invoke);
        }
    }
    // (partition, offset) -> each distinct value read there, with its first read, in order.
    let mut seen: BTreeMap<(Tp, i64), Vec<(&str, usize)>> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        let Call::Fetch {
            topic,
            partition,
            offset: from,
        } = &op.call
        else {
            continue;
        };
        let (Outcome::Ok, Ret::Records { records }) = (op.outcome, &op.ret) else {
            continue;
        };
        b.bump("fetches");
        let tp = (topic.clone(), *partition);
        let done = op.complete.unwrap_or(op.invoke);
        if let Some(first) = records.first().filter(|r| r.0 < *from) {
            b.violate(
                format!(
                    "fetch op {i} of {} from offset {from} returned offset {} before it",
                    tp_name(&tp),
                    first.0
                ),
                vec![i],
                vec![],
                None,
            );
        }
        if let Some(w) = records.windows(2).find(|w| w[1].0 <= w[0].0) {
            b.violate(
                format!(
                    "fetch op {i} of {} returned offsets out of order: {} then {}",
                    tp_name(&tp),
                    w[0].0,
                    w[1].0
                ),
                vec![i],
                vec![],
                None,
            );
        }
        for (offset, value) in records {
            b.bump("records_read");
            let earlier = seen.entry((tp.clone(), *offset)).or_default();
            if !earlier.iter().any(|(v, _)| *v == value.as_str()) {
                if let Some((v, j)) = earlier.first().copied() {
                    match overwritten_destroyed(&ledger, &tp, *offset, earlier) {
                        Ok((d, mut ops)) => {
                            b.bump("overwrites_outside_fault_model");
                            ops.push(i);
                            excused.add(
                                &tp,
                                d,
                                format!("offset {offset}: op {j} read {v:?}, op {i} read {value:?}"),
                                &ops,
                            );
                        }
                        Err(why) => b.violate(
                            format!("fetches disagree at {} offset {offset}: op {j} read {v:?}, op {i} read {value:?}; not outside the fault model: {why}", tp_name(&tp)),
                            vec![j, i],
                            vec![],
                            None,
                        ),
                    }
                }
                earlier.push((value.as_str(), i));
            }
            match hws.get(&tp) {
                None => b.bump("records_hw_unchecked"),
                Some(list) => {
                    let upto = list.partition_point(|(at, _, _)| *at <= done);
                    let hw = upto.checked_sub(1).map(|k| list[k]);
                    if hw.is_none_or(|h| h.1 <= *offset) {
                        b.violate(
                            format!(
                                "fetch op {i} read {} offset {offset} ({value:?}) at or above every high watermark recorded by {done} (highest: {})",
                                tp_name(&tp),
                                hw.map_or("none".to_string(), |h| h.1.to_string())
                            ),
                            vec![i],
                            hw.map(|h| vec![h.2]).unwrap_or_default(),
                            None,
                        );
                    }
                }
            }
            match produced.get(&tp) {
                None => b.bump("records_origin_unchecked"),
                Some(values) => {
                    if values.get(value.as_str()).is_none_or(|t| *t > done) {
                        b.violate(
                            format!("fetch op {i} read {value:?} at {} offset {offset}, a value no producer had sent to that partition", tp_name(&tp)),
                            vec![i],
                            vec![],
                            None,
                        );
                    }
                }
            }
        }
    }
    if !b.counter_is_zero("records_hw_unchecked") {
        b.notes.push(format!("{} fetched record(s) not checked against a high watermark (no HighWatermark events for their partition)", b.counter("records_hw_unchecked")));
    }
    if !b.counter_is_zero("records_origin_unchecked") {
        b.notes.push(format!(
            "{} fetched record(s) from partitions with no Produce op: origin not checked",
            b.counter("records_origin_unchecked")
        ));
    }
    if b.counter_is_zero("fetches") {
        b.nothing_to_judge("no successful fetch in the history");
    }
    b.excuses = excused.into_excuses(NAME, "offsets read with different values");
    b.finish()
}

/// Every value in `earlier` (value, first read) read at offset `o` of `tp` was destroyed by
/// faults outside the model before another value took the offset: `Ok` with the merged
/// destruction and the ops that show the values.
fn overwritten_destroyed<'h>(
    ledger: &LossLedger<'h>,
    tp: &Tp,
    o: i64,
    earlier: &[(&'h str, usize)],
) -> Result<(Destroyed, Vec<usize>), String> {
    let mut merged: Option<Destroyed> = None;
    let mut ops = Vec::new();
    for (v, j) in earlier {
        let r = ledger
            .committed_ref(tp, o, v)
            .ok_or_else(|| format!("op {j}'s read of {v:?} cannot be attributed"))?;
        let d = ledger
            .attribute(&r)
            .map_err(|why| format!("{v:?}: {why}"))?;
        ops.extend(r.ops.iter().copied());
        ops.push(*j);
        merged = Some(match merged {
            None => d,
            Some(m) => m.merge(d),
        });
    }
    ops.sort_unstable();
    ops.dedup();
    merged
        .map(|d| (d, ops))
        .ok_or_else(|| format!("no earlier value at offset {o}"))
}

// ---------------------------------------------------------------------------------------
// 6. Group ownership.

/// Checks consumer-group ownership from `PartitionClaimed`/`PartitionReleased` and commits:
/// - two consumers holding the same (group, topic, partition) at once in the **same
///   generation** is a violation (owner znodes are exclusive, the assignment is fixed
///   within a generation);
/// - an `ok` `CommitOffset` by a process must not exceed one past the highest offset that
///   process had fetched from that partition (`kafka.md` §6: commit ≤ processed + 1;
///   committing further skips records for the whole group). Commits by a process that
///   fetched nothing from the partition are counted, not judged.
///
/// Overlapping owners from **different** generations are counted and noted as the known
/// legacy weakness of the ZooKeeper-era consumer (`kafka.md` §6: no generations and no
/// fencing, so an expired or paused consumer keeps fetching after its partitions moved),
/// not as violations.
pub fn group_ownership(history: &History) -> CheckReport {
    const NAME: &str = "kafka.group_ownership";
    let mut b = Builder::new(
        NAME,
        &[
            "claims",
            "releases_without_claim",
            "overlaps_across_generations",
            "commits",
            "commits_unjudged",
        ],
    );
    type Key = (String, String, u32);
    let mut holders: BTreeMap<Key, BTreeMap<String, (i64, usize)>> = BTreeMap::new();
    let mut overlaps = Vec::new();
    for (i, _, e) in kafka_events(history) {
        match e {
            KafkaEvent::PartitionClaimed {
                group,
                consumer,
                topic,
                partition,
                generation,
            } => {
                b.bump("claims");
                let key = (group.clone(), topic.clone(), *partition);
                let held = holders.entry(key).or_default();
                for (other, (gen, j)) in held.iter() {
                    if other == consumer {
                        continue;
                    }
                    if gen == generation {
                        b.violate(
                            format!(
                                "group {group}: {topic}/{partition} owned by {other} (event {j}) and {consumer} (event {i}) at once in generation {generation}"
                            ),
                            vec![],
                            vec![*j, i],
                            None,
                        );
                    } else {
                        b.bump("overlaps_across_generations");
                        overlaps.push(format!("{group} {topic}/{partition}: {consumer} (gen {generation}, event {i}) while {other} (gen {gen}, event {j})"));
                    }
                }
                held.insert(consumer.clone(), (*generation, i));
            }
            KafkaEvent::PartitionReleased {
                group,
                consumer,
                topic,
                partition,
                ..
            } => {
                let key = (group.clone(), topic.clone(), *partition);
                if holders
                    .get_mut(&key)
                    .and_then(|h| h.remove(consumer))
                    .is_none()
                {
                    b.bump("releases_without_claim");
                }
            }
            _ => {}
        }
    }
    if !overlaps.is_empty() {
        let shown: Vec<_> = overlaps.iter().take(5).cloned().collect();
        b.notes.push(format!(
            "known legacy weakness (kafka.md §6): {} overlapping ownership(s) across generations; the ZooKeeper-era consumer has no generations and no fencing, so an expired or paused consumer keeps fetching after its partitions moved: {}{}",
            overlaps.len(),
            shown.join("; "),
            if overlaps.len() > shown.len() { "; ..." } else { "" }
        ));
    }
    // Highest offset each process fetched per partition, in op order (one open op per process).
    let mut consumed: BTreeMap<(u64, Tp), i64> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        match (&op.call, op.outcome, &op.ret) {
            (
                Call::Fetch {
                    topic, partition, ..
                },
                Outcome::Ok,
                Ret::Records { records },
            ) => {
                if let Some(max) = records.iter().map(|r| r.0).max() {
                    let e = consumed
                        .entry((op.process, (topic.clone(), *partition)))
                        .or_insert(max);
                    *e = (*e).max(max);
                }
            }
            (
                Call::CommitOffset {
                    group,
                    topic,
                    partition,
                    offset,
                },
                Outcome::Ok,
                _,
            ) => {
                b.bump("commits");
                match consumed.get(&(op.process, (topic.clone(), *partition))) {
                    None => b.bump("commits_unjudged"),
                    Some(max) if *offset > max + 1 => b.violate(
                        format!(
                            "group {group}: process {} committed offset {offset} for {topic}/{partition} (op {i}) but had fetched only up to offset {max}: records would be skipped",
                            op.process
                        ),
                        vec![i],
                        vec![],
                        None,
                    ),
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    if b.counter_is_zero("claims") && b.counter_is_zero("commits") {
        b.nothing_to_judge("no partition claims or offset commits recorded");
    }
    b.finish()
}

// ---------------------------------------------------------------------------------------
// 7. Recovery after heal.

/// Checks that the cluster recovered once faults stopped. The last fault change is the
/// last `NodeStarted`, `NodeCrashed`, `NodePaused`, `NodeResumed`, `Partitioned`, `LinkCut`
/// or `Healed`; the run must end at least `bound` after it, with no partition, cut or pause
/// still in effect, else `Unknown`. A broker is live unless its node's last lifecycle
/// event is `NodeCrashed` (crashed brokers may stay down). Broker nodes are learned from
/// events brokers record about themselves.
///
/// At the end of the run, for every partition: the final leader (see
/// [`no_acked_write_lost`]) is a live broker (`>= 0`), and the final ISR equals the leader
/// plus every live replica whose `ReplicaLog` reaches the leader's HW (LEO ≥ HW). A
/// permanently shrunk ISR is KAFKA-1382/KAFKA-2729; a dead member left in it, or a lagging
/// one, breaks StrongIsr. A live replica or leader without a `ReplicaLog` makes the
/// verdict `Unknown`. And while any broker is live, exactly one broker is acting as
/// controller (elected, and neither resigned nor crashed since): the `ActiveControllerCount`
/// metric Kafka's operations guide says must sum to 1 across the cluster.
pub fn recovery_after_heal(history: &History, params: &RecoveryParams) -> CheckReport {
    const NAME: &str = "kafka.recovery_after_heal";
    let mut b = Builder::new(
        NAME,
        &[
            "partitions",
            "partitions_recovered",
            "live_brokers",
            "crashed_brokers",
            "active_controllers",
        ],
    );
    let nodes = match broker_nodes(history) {
        Ok(n) => n,
        Err(reason) => {
            b.unknown.insert(reason);
            return b.finish();
        }
    };
    let mut last_change: Option<(SimTime, usize)> = None;
    let mut split: Option<usize> = None;
    let mut paused: BTreeMap<String, usize> = BTreeMap::new();
    let mut crashed: BTreeSet<String> = BTreeSet::new();
    for (i, r) in history.events.iter().enumerate() {
        let Event::Sim(e) = &r.event else { continue };
        match e {
            SimEvent::NodeStarted { .. } | SimEvent::NodeResumed => {
                paused.remove(&r.node);
                crashed.remove(&r.node);
            }
            SimEvent::NodeCrashed { .. } => {
                paused.remove(&r.node);
                crashed.insert(r.node.clone());
            }
            SimEvent::NodePaused => {
                paused.insert(r.node.clone(), i);
            }
            SimEvent::Partitioned { .. } | SimEvent::LinkCut { .. } => split = Some(i),
            SimEvent::Healed => split = None,
            // A slow disk delays a broker's writeback, not its serving (Kafka does not fsync
            // on the produce path).
            SimEvent::NetChanged { .. }
            | SimEvent::ClockChanged { .. }
            | SimEvent::Note { .. }
            | SimEvent::DiskChanged { .. } => continue,
        }
        last_change = Some((r.at, i));
    }
    let end = history
        .events
        .iter()
        .map(|r| r.at)
        .chain(history.ops.iter().filter_map(|o| o.complete))
        .max()
        .unwrap_or(SimTime::ZERO);
    let since = last_change.map_or(SimTime::ZERO, |c| c.0);
    if end < since.plus(params.bound) {
        b.unknown.insert(format!(
            "the run ended at {end}, before the last fault change at {since} plus the bound {:?}",
            params.bound
        ));
    }
    if let Some(i) = split {
        b.unknown
            .insert(format!("a network fault (event {i}) was never healed"));
    }
    for (node, i) in &paused {
        b.unknown
            .insert(format!("node {node} paused (event {i}) was never resumed"));
    }
    let live = |broker: u32| {
        !nodes
            .iter()
            .any(|(n, b)| *b == broker && crashed.contains(n))
    };
    let brokers: BTreeSet<u32> = nodes.values().copied().collect();
    for br in &brokers {
        b.bump(if live(*br) {
            "live_brokers"
        } else {
            "crashed_brokers"
        });
    }
    let writes = MetadataWrites::new(history);
    let active = active_controllers(history, &nodes);
    b.counters.insert("active_controllers", active.len() as u64);
    if brokers.iter().any(|br| live(*br)) && active.len() != 1 {
        let named: Vec<String> = active
            .iter()
            .map(|(br, (epoch, _))| format!("broker {br} (epoch {epoch})"))
            .collect();
        b.violate(
            format!(
                "{} active controller(s) at the end of the run, with live brokers: {}",
                active.len(),
                if named.is_empty() {
                    "none elected and still acting".to_string()
                } else {
                    named.join(", ")
                }
            ),
            active
                .iter()
                .flat_map(|(br, (epoch, _))| writes.election(*br, *epoch))
                .collect(),
            active.values().map(|(_, i)| *i).collect(),
            None,
        );
    }
    let views = partition_views(history);
    for (tp, view) in &views {
        if view.leader.is_none() && view.isr.is_none() {
            continue;
        }
        b.bump("partitions");
        let name = tp_name(tp);
        let Some((leader, leader_epoch, leader_event)) = view.leader else {
            b.unknown.insert(format!("{name}: no leader recorded"));
            continue;
        };
        let leader = match u32::try_from(leader) {
            Ok(l) if live(l) => l,
            _ => {
                b.violate(
                    format!("{name} has no live leader at the end of the run: leader {leader} at leader epoch {leader_epoch}"),
                    writes.state(tp, Some(leader), leader_epoch, None, end).into_iter().collect(),
                    vec![leader_event],
                    None,
                );
                continue;
            }
        };
        if let Some(started) = leads_since_restart(history, &nodes, tp, leader, leader_epoch) {
            b.violate(
                format!("{name} is offline at the end of the run: ZooKeeper names broker {leader} leader at leader epoch {leader_epoch}, but since it started at {started} it was never told to lead (no LeaderAndIsr applied)"),
                writes.state(tp, Some(leader as i32), leader_epoch, None, end).into_iter().collect(),
                vec![leader_event],
                None,
            );
            continue;
        }
        let Some(leader_log) = view.logs.get(&leader) else {
            b.unknown.insert(format!(
                "{name}: no ReplicaLog snapshot for the final leader {leader}"
            ));
            continue;
        };
        let mut expected = BTreeSet::from([leader]);
        let mut leos = Vec::new();
        let mut missing = false;
        for r in view.replicas.iter().copied().filter(|r| live(*r)) {
            match view.logs.get(&r) {
                Some(log) => {
                    leos.push(format!("{r}:{}", log.leo()));
                    if log.leo() >= leader_log.hw {
                        expected.insert(r);
                    }
                }
                None => {
                    b.unknown.insert(format!(
                        "{name}: no ReplicaLog snapshot for live replica {r}"
                    ));
                    missing = true;
                }
            }
        }
        if missing {
            continue;
        }
        let (isr, isr_event, isr_write): (BTreeSet<u32>, Vec<usize>, Option<usize>) =
            match &view.isr {
                Some((isr, epoch, i)) => (
                    isr.iter().copied().collect(),
                    vec![*i],
                    writes.state(tp, None, *epoch, Some(isr), end),
                ),
                None => (BTreeSet::new(), vec![], None),
            };
        if isr != expected {
            let mut events = isr_event;
            events.push(leader_log.event);
            b.violate(
                format!(
                    "{name}: ISR {:?} after healing, but the live caught-up replicas are {:?} (leader {leader}, hw {}; LEOs {})",
                    isr,
                    expected,
                    leader_log.hw,
                    leos.join(", ")
                ),
                isr_write.into_iter().collect(),
                events,
                None,
            );
        } else {
            b.bump("partitions_recovered");
        }
    }
    if b.counter_is_zero("partitions") {
        b.nothing_to_judge("no partition state recorded");
    }
    b.excuse_zookeeper_refusals(history, end);
    b.excuse_metadata_amnesia(history);
    b.finish()
}

/// Brokers acting as controller at the end of the history -> (epoch, event of their
/// election): elected, and since then neither resigned nor crashed.
fn active_controllers(
    history: &History,
    nodes: &BTreeMap<String, u32>,
) -> BTreeMap<u32, (i32, usize)> {
    let mut active = BTreeMap::new();
    for (i, r) in history.events.iter().enumerate() {
        match &r.event {
            Event::Kafka(KafkaEvent::ControllerElected { broker, epoch }) => {
                active.insert(*broker, (*epoch, i));
            }
            Event::Kafka(KafkaEvent::ControllerResigned { broker, .. }) => {
                active.remove(broker);
            }
            Event::Sim(SimEvent::NodeCrashed { .. }) => {
                if let Some(broker) = nodes.get(&r.node) {
                    active.remove(broker);
                }
            }
            _ => {}
        }
    }
    active
}

/// `Some(start)` when `leader`'s node last started at `start` and has applied no
/// LeaderAndIsr making it leader of `tp` at `epoch` since: the partition has a leader in
/// ZooKeeper that serves nothing (a controller never sent the state to this incarnation).
/// `None` when it did, or when the history shows no start of that broker.
fn leads_since_restart(
    history: &History,
    nodes: &BTreeMap<String, u32>,
    tp: &Tp,
    leader: u32,
    epoch: i32,
) -> Option<SimTime> {
    let node = nodes.iter().find(|(_, b)| **b == leader).map(|(n, _)| n)?;
    let (start_index, start) = history
        .events
        .iter()
        .enumerate()
        .rev()
        .find(|(_, r)| {
            &r.node == node && matches!(r.event, Event::Sim(SimEvent::NodeStarted { .. }))
        })
        .map(|(i, r)| (i, r.at))?;
    let applied = history.events[start_index..].iter().any(|r| {
        matches!(&r.event, Event::Kafka(KafkaEvent::LeaderAndIsrApplied {
            broker, topic, partition, leader: l, leader_epoch, ..
        }) if *broker == leader && *l == leader as i32 && *leader_epoch == epoch
            && topic == &tp.0 && *partition == tp.1)
    });
    (!applied).then_some(start)
}

/// The acknowledged produces (indices into `History::ops`) the configuration guards, whose
/// loss [`no_acked_write_lost`] calls a violation unless faults outside the model destroyed
/// every copy ([`LossLedger::attribute`]): `acks=all` with a `Produced` return, unclean
/// election off, and the ISR recorded last before the acknowledgement at least `min_isr`
/// (or none recorded). The queue checker ([`super::kafka_queue`]) judges only these.
pub(crate) fn guarded_produces(history: &History, params: &DurabilityParams) -> BTreeSet<usize> {
    if params.unclean_election {
        return BTreeSet::new();
    }
    let isr_history = isr_sizes(history);
    let mut guarded = BTreeSet::new();
    for (i, op) in history.ops.iter().enumerate() {
        let (
            Call::Produce {
                topic,
                partition,
                acks: -1,
                ..
            },
            Outcome::Ok,
            Ret::Produced { .. },
        ) = (&op.call, op.outcome, &op.ret)
        else {
            continue;
        };
        let tp = (topic.clone(), *partition);
        let acked_at = op.complete.unwrap_or(op.invoke);
        let isr_at_ack = isr_history
            .get(&tp)
            .and_then(|h| h.iter().rev().find(|(at, _)| *at <= acked_at))
            .map(|(_, n)| *n);
        if isr_at_ack.is_none_or(|n| n >= params.min_isr as usize) {
            guarded.insert(i);
        }
    }
    guarded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EventRecord;

    fn rec(i: u64, node: &str, e: KafkaEvent) -> EventRecord {
        EventRecord {
            at: SimTime::from_millis(i),
            node: node.to_string(),
            event: Event::Kafka(e),
        }
    }

    fn state(leader: i32, epoch: i32, isr: Vec<u32>) -> KafkaEvent {
        KafkaEvent::PartitionStateWritten {
            topic: "t".into(),
            partition: 0,
            leader,
            leader_epoch: epoch,
            isr,
            controller_epoch: 1,
            by: 9,
        }
    }

    fn applied(broker: u32, leader: i32, epoch: i32) -> KafkaEvent {
        KafkaEvent::LeaderAndIsrApplied {
            broker,
            topic: "t".into(),
            partition: 0,
            leader,
            leader_epoch: epoch,
            isr: vec![1, 2],
        }
    }

    #[test]
    fn final_leader_is_highest_epoch_not_latest_event() {
        // A slow follower applies epoch 2 after the controller already wrote epoch 3.
        let mut h = History::new();
        h.events = vec![
            rec(1, "w", state(1, 2, vec![1, 2])),
            rec(2, "w", state(2, 3, vec![2])),
            rec(3, "b3", applied(3, 1, 2)),
        ];
        let views = partition_views(&h);
        let v = &views[&("t".to_string(), 0)];
        assert_eq!(v.leader, Some((2, 3, 1)));
        assert_eq!(v.isr, Some((vec![2], 3, 1)));
        assert_eq!(v.replicas, BTreeSet::from([1, 2, 3]));
    }

    #[test]
    fn same_epoch_latest_write_wins() {
        let mut h = History::new();
        h.events = vec![
            rec(1, "w", state(1, 4, vec![1, 2])),
            rec(2, "w", state(1, 4, vec![1])),
        ];
        assert_eq!(
            partition_views(&h)[&("t".to_string(), 0)].isr,
            Some((vec![1], 4, 1))
        );
    }

    #[test]
    fn broker_nodes_ignore_world_and_reject_conflicts() {
        let mut h = History::new();
        h.events = vec![
            rec(
                1,
                "kafka-1",
                KafkaEvent::BrokerRegistered {
                    broker: 1,
                    broker_epoch: 10,
                },
            ),
            rec(
                2,
                "world",
                KafkaEvent::ReplicaLog {
                    broker: 2,
                    topic: "t".into(),
                    partition: 0,
                    hw: 0,
                    records: vec![],
                },
            ),
        ];
        assert_eq!(
            broker_nodes(&h),
            Ok(BTreeMap::from([("kafka-1".to_string(), 1)]))
        );
        h.events.push(rec(3, "kafka-1", applied(2, 1, 1)));
        assert!(broker_nodes(&h).is_err());
    }

    #[test]
    fn leo_is_one_past_last_offset() {
        let records = vec![(0, 1, "a".to_string()), (1, 1, "b".to_string())];
        assert_eq!(
            ReplicaSnapshot {
                event: 0,
                hw: 1,
                records: &records
            }
            .leo(),
            2
        );
        assert_eq!(
            ReplicaSnapshot {
                event: 0,
                hw: 0,
                records: &[]
            }
            .leo(),
            0
        );
    }
}
