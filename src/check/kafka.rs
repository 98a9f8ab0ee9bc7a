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
//! | [`recovery_after_heal`] | after healing, every partition has a live leader and a full ISR | KAFKA-1382, KAFKA-2729 |
//!
//! Verdicts: any violation makes [`Verdict::Violated`]; otherwise a missing piece of
//! evidence that a claim needs (a final leader log, say) makes [`Verdict::Unknown`], and
//! so does a history that gave the checker nothing to judge (no acknowledged produce, no
//! fetch, ...); otherwise [`Verdict::Ok`].
//! Losses the configuration allows (acks=1, unclean election) are counted, never violations.

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::{Call, Event, EventRecord, History, KafkaEvent, Outcome, Ret};
use kzsim_sim::{SimEvent, SimTime};
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
        replicas_agree(history),
        one_leader_per_epoch(history),
        controller_epochs(history),
        consumers_agree(history),
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

    fn finish(self) -> CheckReport {
        let verdict = if !self.violations.is_empty() {
            Verdict::Violated(self.violations)
        } else if !self.unknown.is_empty() {
            Verdict::Unknown {
                reason: self.unknown.into_iter().collect::<Vec<_>>().join("; "),
            }
        } else {
            Verdict::Ok
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

impl ReplicaSnapshot<'_> {
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

/// Brokers that lost unflushed data in a crash, and when each later led which partition:
/// the only way a power loss can cost an acknowledged record is that a replica came back
/// short and became leader (the others then truncate to it).
struct PageCacheLosses {
    /// Broker -> times of crashes that lost unflushed data.
    crashes: BTreeMap<u32, Vec<SimTime>>,
    /// Partition -> (time, leader) for every recorded leadership.
    leaders: BTreeMap<Tp, Vec<(SimTime, u32)>>,
}

impl PageCacheLosses {
    /// A broker whose page-cache loss after `acked_at` can explain losing a record of `tp`:
    /// it crashed losing unflushed data after the acknowledgement, then led `tp`.
    fn excuse(&self, tp: &Tp, acked_at: SimTime) -> Option<u32> {
        let leaders = self.leaders.get(tp)?;
        self.crashes.iter().find_map(|(b, times)| {
            times.iter().filter(|t| **t >= acked_at).find_map(|t| {
                leaders
                    .iter()
                    .any(|(at, l)| at >= t && l == b)
                    .then_some(*b)
            })
        })
    }
}

fn page_cache_losses(history: &History, params: &DurabilityParams) -> PageCacheLosses {
    let nodes = broker_nodes(history).unwrap_or_default();
    let mut crashes: BTreeMap<u32, Vec<SimTime>> = BTreeMap::new();
    for r in &history.events {
        if let Event::Sim(SimEvent::NodeCrashed {
            disk_lost,
            page_cache_kept,
            ..
        }) = &r.event
        {
            let loses = *disk_lost || (!*page_cache_kept && !params.flush_every_message);
            if let (true, Some(b)) = (loses, nodes.get(&r.node)) {
                crashes.entry(*b).or_default().push(r.at);
            }
        }
    }
    let mut leaders: BTreeMap<Tp, Vec<(SimTime, u32)>> = BTreeMap::new();
    for (_, r, e) in kafka_events(history) {
        let (topic, partition, leader) = match e {
            KafkaEvent::PartitionStateWritten {
                topic,
                partition,
                leader,
                ..
            } => (topic, partition, *leader),
            KafkaEvent::LeaderAndIsrApplied {
                broker,
                topic,
                partition,
                leader,
                ..
            } if *leader == *broker as i32 => (topic, partition, *leader),
            _ => continue,
        };
        if let Ok(l) = u32::try_from(leader) {
            leaders
                .entry((topic.clone(), *partition))
                .or_default()
                .push((r.at, l));
        }
    }
    PageCacheLosses { crashes, leaders }
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
/// recorded). A lost guarded record is a violation. Lost `acks=1`/`acks=0` records (the
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
            "acked_all_lost_page_cache_allowed",
            "acked_all_above_final_hw",
            "acked_weak",
            "acked_weak_lost",
            "unchecked",
        ],
    );
    let views = partition_views(history);
    // Every ISR recorded per partition, in record order, to find the one at ack time.
    let mut isr_history: BTreeMap<Tp, Vec<(SimTime, usize)>> = BTreeMap::new();
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
            isr_history
                .entry((topic.clone(), *partition))
                .or_default()
                .push((r.at, isr.len()));
        }
    }
    let page_cache_losses = page_cache_losses(history, params);
    let mut lost_weak = Vec::new();
    let mut lost_unclean = Vec::new();
    let mut lost_small_isr = Vec::new();
    let mut lost_page_cache: Vec<(usize, u32)> = Vec::new();
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
        } else if let Some(b_lost) = page_cache_losses.excuse(&tp, acked_at) {
            b.bump("acked_all_lost_page_cache_allowed");
            lost_page_cache.push((i, b_lost));
        } else {
            b.bump("acked_all_lost");
            b.violate(
                format!(
                    "acknowledged acks=all record {value:?} at {} offset {offset} (op {i}) is not in the final leader {leader}'s log: found {}",
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
    if !lost_page_cache.is_empty() {
        let ops: Vec<usize> = lost_page_cache.iter().map(|(i, _)| *i).collect();
        let brokers: BTreeSet<u32> = lost_page_cache.iter().map(|(_, b)| *b).collect();
        b.notes.push(format!(
            "{} acknowledged acks=all record(s) lost (ops {ops:?}) after broker(s) {brokers:?} lost their page cache in a power loss and then led the partition: allowed, Kafka does not fsync before acknowledging (log.flush.interval.messages), so the last replica standing can come back short (KIP-966)",
            ops.len()
        ));
    }
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
/// Divergence below the HW is legitimate only with unclean leader election; this checker
/// does not know the configuration, so judge it with that in mind. A divergence involving
/// a replica on a broker that lost its whole disk during the run is counted as allowed,
/// not a violation: such a broker rejoins empty under the same id, which Kafka in
/// ZooKeeper mode does not guard against (KIP-966), as with the records the loss costs.
/// `Unknown` if the history holds no `ReplicaLog` at all.
pub fn replicas_agree(history: &History) -> CheckReport {
    const NAME: &str = "kafka.replicas_agree";
    let mut b = Builder::new(
        NAME,
        &[
            "partitions",
            "partitions_single_replica",
            "records_compared",
            "divergences_after_disk_loss",
        ],
    );
    let nodes = broker_nodes(history).unwrap_or_default();
    let disk_lost: BTreeSet<u32> = history
        .events
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                Event::Sim(SimEvent::NodeCrashed {
                    disk_lost: true,
                    ..
                })
            )
        })
        .filter_map(|r| nodes.get(&r.node).copied())
        .collect();
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
        let below = |l: &ReplicaSnapshot<'_>| -> BTreeMap<i64, (i32, String)> {
            l.records
                .iter()
                .filter(|r| r.0 < min_hw)
                .map(|r| (r.0, (r.1, r.2.clone())))
                .collect()
        };
        let mut logs = view.logs.iter();
        let Some((ref_broker, ref_log)) = logs.next() else {
            continue;
        };
        let reference = below(ref_log);
        for (broker, log) in logs {
            let other = below(log);
            let offsets: BTreeSet<i64> = reference.keys().chain(other.keys()).copied().collect();
            b.counters
                .entry("records_compared")
                .and_modify(|c| *c += offsets.len() as u64);
            let first_diff = offsets
                .into_iter()
                .find(|o| reference.get(o) != other.get(o));
            if let Some(o) = first_diff {
                if [*ref_broker, *broker].iter().any(|x| disk_lost.contains(x)) {
                    b.bump("divergences_after_disk_loss");
                    b.notes.push(format!(
                        "replicas {ref_broker} and {broker} of {} diverge at offset {o}: allowed, a broker among them lost its whole disk",
                        tp_name(tp)
                    ));
                    continue;
                }
                let show = |m: &BTreeMap<i64, (i32, String)>| {
                    fmt_record(m.get(&o).map(|(e, v)| (o, *e, v.clone())).as_ref())
                };
                b.violate(
                    format!(
                        "replicas {ref_broker} and {broker} of {} diverge at offset {o}, below the minimum HW {min_hw}: {} vs {}",
                        tp_name(tp),
                        show(&reference),
                        show(&other)
                    ),
                    vec![],
                    vec![ref_log.event, log.event],
                    Some(format!("hw of replica {ref_broker}: {}, of replica {broker}: {}", ref_log.hw, log.hw)),
                );
            }
        }
    }
    if !any_log {
        b.unknown
            .insert("no ReplicaLog snapshots recorded".to_string());
    }
    b.finish()
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
                b.violate(
                    format!("{topic}/{partition} has two leaders in leader epoch {epoch}: {other} (event {first}) and {leader} (event {i})"),
                    vec![],
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
    b.finish()
}

// ---------------------------------------------------------------------------------------
// 4. Controller epochs.

/// Checks the controller epoch: at most one `ControllerElected` per epoch, epochs strictly
/// increasing in record order, and no `PartitionStateWritten` carrying controller epoch `e`
/// recorded after a controller of a later epoch was elected (zombie fencing, KAFKA-6082).
///
/// One exemption, counted: a write by the partition's own leader that keeps the previous
/// leader and leader epoch and only changes the ISR. Before 2.7 leaders write ISR changes
/// themselves, carrying the controller epoch of the last LeaderAndIsr they applied, and
/// are fenced by the znode version, not the controller epoch. `Unknown` if partition
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
        ],
    );
    let mut elected: BTreeMap<i32, (u32, usize)> = BTreeMap::new();
    let mut latest: Option<(i32, u32, usize)> = None; // highest epoch elected so far
    let mut last_state: BTreeMap<Tp, (i32, i32, Vec<u32>, i32, usize)> = BTreeMap::new();
    for (i, _, e) in kafka_events(history) {
        match e {
            KafkaEvent::ControllerElected { broker, epoch } => {
                b.bump("elections");
                if let Some((other, j)) = elected.get(epoch) {
                    b.violate(
                        format!("two controllers elected for controller epoch {epoch}: broker {other} (event {j}) and broker {broker} (event {i})"),
                        vec![],
                        vec![*j, i],
                        None,
                    );
                } else if let Some((max, by, j)) = latest.filter(|l| l.0 > *epoch) {
                    b.violate(
                        format!("controller epoch went back: broker {broker} elected for epoch {epoch} (event {i}) after broker {by} for epoch {max} (event {j})"),
                        vec![],
                        vec![j, i],
                        None,
                    );
                }
                elected.entry(*epoch).or_insert((*broker, i));
                if latest.is_none_or(|l| *epoch > l.0) {
                    latest = Some((*epoch, *broker, i));
                }
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
                    let isr_only = *by as i32 == *leader
                        && before
                            .as_ref()
                            .is_some_and(|s| s.0 == *leader && s.1 == *leader_epoch);
                    if isr_only {
                        b.bump("leader_isr_writes_old_controller_epoch");
                    } else {
                        let mut events = vec![j];
                        events.extend(before.as_ref().map(|s| s.4));
                        events.push(i);
                        b.violate(
                            format!(
                                "zombie controller write: broker {by} wrote {} (leader {leader}, leader epoch {leader_epoch}, ISR {}) with controller epoch {controller_epoch} after broker {winner} was elected for controller epoch {max} (KAFKA-6082)",
                                tp_name(&tp),
                                fmt_isr(isr)
                            ),
                            vec![],
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
/// Different values at one offset are legitimate only after an unclean election.
pub fn consumers_agree(history: &History) -> CheckReport {
    const NAME: &str = "kafka.consumers_agree";
    let mut b = Builder::new(
        NAME,
        &[
            "fetches",
            "records_read",
            "records_hw_unchecked",
            "records_origin_unchecked",
        ],
    );
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
    let mut seen: BTreeMap<(Tp, i64), (&str, usize)> = BTreeMap::new();
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
            match seen.get(&(tp.clone(), *offset)) {
                Some((v, j)) if *v != value.as_str() => {
                    b.violate(
                        format!("fetches disagree at {} offset {offset}: op {j} read {v:?}, op {i} read {value:?}", tp_name(&tp)),
                        vec![*j, i],
                        vec![],
                        None,
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert((tp.clone(), *offset), (value.as_str(), i));
                }
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
    b.finish()
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
/// verdict `Unknown`.
pub fn recovery_after_heal(history: &History, params: &RecoveryParams) -> CheckReport {
    const NAME: &str = "kafka.recovery_after_heal";
    let mut b = Builder::new(
        NAME,
        &[
            "partitions",
            "partitions_recovered",
            "live_brokers",
            "crashed_brokers",
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
            SimEvent::NetChanged { .. } | SimEvent::ClockChanged { .. } | SimEvent::Note { .. } => {
                continue
            }
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
                    vec![],
                    vec![leader_event],
                    None,
                );
                continue;
            }
        };
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
        let (isr, isr_event): (BTreeSet<u32>, Vec<usize>) = match &view.isr {
            Some((isr, _, i)) => (isr.iter().copied().collect(), vec![*i]),
            None => (BTreeSet::new(), vec![]),
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
                vec![],
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
    b.finish()
}

/// The acknowledged produces (indices into `History::ops`) whose loss [`no_acked_write_lost`]
/// would call a violation: `acks=all` with a `Produced` return, unclean election off, the
/// ISR recorded last before the acknowledgement at least `min_isr` (or none recorded), and
/// no crash after the acknowledgement losing unflushed data (or a disk) on a broker that
/// then led the partition. The queue checker ([`super::kafka_queue`]) judges only these.
pub(crate) fn guarded_produces(history: &History, params: &DurabilityParams) -> BTreeSet<usize> {
    if params.unclean_election {
        return BTreeSet::new();
    }
    let mut isr_history: BTreeMap<Tp, Vec<(SimTime, usize)>> = BTreeMap::new();
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
            isr_history
                .entry((topic.clone(), *partition))
                .or_default()
                .push((r.at, isr.len()));
        }
    }
    let losses = page_cache_losses(history, params);
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
        if isr_at_ack.is_some_and(|n| n < params.min_isr as usize) {
            continue;
        }
        if losses.excuse(&tp, acked_at).is_none() {
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
