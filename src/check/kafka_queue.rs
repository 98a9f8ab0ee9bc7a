//! Kafka as a queue, judged the way Jepsen's Kafka workload (`jepsen.tests.kafka`) judges
//! producer/consumer histories: lost writes, duplicates, poll skips, nonmonotonic polls and
//! sends, unseen records, plus committed-offset regressions of the ZooKeeper-era consumer.
//!
//! [`check`] reads client operations (`Produce`, `Fetch`, `CommitOffset`) and the protocol
//! events that say where copies of records went (partition states, ISR changes, crashes,
//! log recoveries and truncations, high watermarks); see its doc comment for each rule's
//! exact definition, for the legitimate behaviours it does not flag and for the breaches
//! it excuses as outside the fault model.

use super::kafka::{guarded_produces, Destroyed, DurabilityParams, ExcuseGroups, LossLedger};
use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::SimTime;
use crate::history::{Call, Event, History, KafkaEvent, Outcome, Ret};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The checker's name.
pub const NAME: &str = "kafka.queue";
/// Rule name (`Violation::checker`): an acknowledged record consumers read past.
pub const LOST_WRITE: &str = "kafka.queue.lost-write";
/// Rule name: one value at more offsets than it was sent.
pub const DUPLICATE: &str = "kafka.queue.duplicate";
/// Rule name: a poll jumped over known records.
pub const POLL_SKIP: &str = "kafka.queue.poll-skip";
/// Rule name: a poll went backwards.
pub const NONMONOTONIC_POLL: &str = "kafka.queue.nonmonotonic-poll";
/// Rule name: a producer's acknowledged offsets went backwards.
pub const NONMONOTONIC_SEND: &str = "kafka.queue.nonmonotonic-send";
/// Rule name: an acknowledged record no poll returned long after its acknowledgement.
pub const UNSEEN: &str = "kafka.queue.unseen";
/// Rule name: a group's committed offset went backwards.
pub const COMMITTED_OFFSET_REGRESSION: &str = "kafka.queue.committed-offset-regression";

/// Parameters for [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct QueueParams {
    /// The durability configuration: which acknowledged records the lost-write, unseen and
    /// nonmonotonic-send rules may rely on (those [`super::kafka::no_acked_write_lost`]
    /// guards and would not excuse losing).
    pub durability: DurabilityParams,
    /// How long before the last successful poll of its partition an acknowledged record
    /// must have been acknowledged to be required seen (unseen rule). Choose it above the
    /// consumers' worst lag; records acknowledged later are counted as too recent.
    pub settle: Duration,
}

/// The counters every report carries, in a fixed set (zero when nothing was counted).
const COUNTERS: &[&str] = &[
    "acked",
    "acked_guarded",
    "polls",
    "records_polled",
    "poll_assignments",
    "commits",
    "send_pairs_judged",
    "duplicates_allowed_retry",
    "lost_write_unjudged_offset_reused",
    "unseen_too_recent",
    "unseen_unjudged_unpolled_partition",
    "polls_from_stale_leader",
    "lost_write",
    "duplicate",
    "poll_skip",
    "nonmonotonic_poll",
    "nonmonotonic_send",
    "unseen",
    "committed_offset_regression",
    "lost_write_outside_fault_model",
    "nonmonotonic_send_outside_fault_model",
    "unseen_outside_fault_model",
];

/// At most this many examples in a note or a message listing many items.
const SHOW: usize = 5;

/// At most this many violations of one rule in one partition are listed; the rest are
/// counted (the rule's counter) and summed up in a note.
const LISTED_PER_PARTITION: u64 = 10;

/// (topic, partition).
type Tp = (String, u32);

fn tp_name(tp: &Tp) -> String {
    format!("{}/{}", tp.0, tp.1)
}

/// An acknowledged produce.
struct Ack<'a> {
    op: usize,
    process: u64,
    tp: Tp,
    value: &'a str,
    /// `-1` when the producer learned no offset (acks=0).
    offset: i64,
    acked_at: SimTime,
    /// Guarded by the configuration (see [`guarded_produces`]); whether faults outside the
    /// model excuse losing it is decided only when a rule would fire ([`Attributions`]).
    guarded: bool,
}

/// A successful fetch (one poll of one partition by one process).
struct Poll<'a> {
    op: usize,
    process: u64,
    tp: Tp,
    /// The offset the consumer asked for (its position).
    from: i64,
    records: &'a [(i64, String)],
    invoke: SimTime,
    /// Served by a broker that ZooKeeper did not name leader at the time.
    stale: bool,
}

/// A successful offset commit.
struct Commit<'a> {
    op: usize,
    process: u64,
    group: &'a str,
    tp: Tp,
    offset: i64,
    invoke: SimTime,
    complete: SimTime,
}

struct Out {
    violations: Vec<Violation>,
    counters: BTreeMap<String, u64>,
    notes: Vec<String>,
    /// (rule, partition) -> violations found, listed or not.
    found: BTreeMap<(&'static str, String), u64>,
    /// Rule -> breaches that faults outside the model explain exactly.
    excused: BTreeMap<&'static str, ExcuseGroups>,
}

impl Out {
    fn bump(&mut self, counter: &str) {
        self.add(counter, 1);
    }

    fn add(&mut self, counter: &str, n: u64) {
        *self
            .counters
            .get_mut(counter)
            .unwrap_or_else(|| panic!("counter {counter} not declared")) += n;
    }

    /// A breach of `rule` at `tp` that faults outside the model explain (`destroyed`).
    fn excuse(
        &mut self,
        rule: &'static str,
        tp: &Tp,
        destroyed: Destroyed,
        item: String,
        ops: &[usize],
    ) {
        let counter = format!(
            "{}_outside_fault_model",
            rule.trim_start_matches("kafka.queue.").replace('-', "_")
        );
        self.bump(&counter);
        self.excused
            .entry(rule)
            .or_default()
            .add(tp, destroyed, item, ops);
    }

    fn violate(&mut self, rule: &'static str, tp: &Tp, message: String, mut ops: Vec<usize>) {
        ops.sort_unstable();
        ops.dedup();
        let counter = rule.trim_start_matches("kafka.queue.").replace('-', "_");
        self.bump(&counter);
        let found = self.found.entry((rule, tp_name(tp))).or_default();
        *found += 1;
        if *found > LISTED_PER_PARTITION {
            return;
        }
        self.violations.push(Violation {
            checker: rule.to_string(),
            message,
            ops,
            events: Vec::new(),
            state_before: None,
        });
    }
}

fn show<T: std::fmt::Debug>(items: &[T]) -> String {
    if items.len() > SHOW {
        format!("{:?} and {} more", &items[..SHOW], items.len() - SHOW)
    } else {
        format!("{items:?}")
    }
}

/// The loss attribution of acknowledgements, computed once per ack when a rule needs it.
struct Attributions<'l, 'h> {
    ledger: &'l LossLedger<'h>,
    memo: BTreeMap<usize, Result<Destroyed, String>>,
}

impl<'h> Attributions<'_, 'h> {
    /// Every value in `values` (value, an op showing it) at `offset` of `tp` was destroyed
    /// by faults outside the model: `Ok` with the merged destruction.
    fn all_committed(
        &mut self,
        tp: &Tp,
        offset: i64,
        values: &[(&'h str, usize)],
    ) -> Result<Destroyed, String> {
        let mut merged: Option<Destroyed> = None;
        for (v, i) in values {
            let r = self
                .ledger
                .committed_ref(tp, offset, v)
                .ok_or_else(|| format!("{v:?} (op {i}) cannot be attributed"))?;
            let d = match r.ops.first() {
                Some(op) if self.ledger.ack_ref(*op).is_some() => self.ack(*op),
                _ => self.ledger.attribute(&r),
            }
            .map_err(|why| format!("{v:?}: {why}"))?;
            merged = Some(match merged {
                None => d,
                Some(m) => m.merge(d),
            });
        }
        merged.ok_or_else(|| format!("no value at offset {offset} to attribute"))
    }

    /// Whether faults outside the model destroyed every copy of the record op `op`
    /// acknowledged ([`LossLedger::attribute`]).
    fn ack(&mut self, op: usize) -> Result<Destroyed, String> {
        let ledger = self.ledger;
        self.memo
            .entry(op)
            .or_insert_with(|| {
                ledger
                    .ack_ref(op)
                    .ok_or_else(|| format!("op {op} acknowledged no offset"))
                    .and_then(|r| ledger.attribute(&r))
            })
            .clone()
    }
}

/// Node name -> broker id, from events brokers record about themselves on their own node.
fn broker_nodes(history: &History) -> BTreeMap<&str, u32> {
    let mut map = BTreeMap::new();
    for r in &history.events {
        let Event::Kafka(e) = &r.event else { continue };
        let broker = match e {
            KafkaEvent::BrokerRegistered { broker, .. }
            | KafkaEvent::LeaderAndIsrApplied { broker, .. }
            | KafkaEvent::HighWatermark { broker, .. }
            | KafkaEvent::LogRecovered { broker, .. } => *broker,
            _ => continue,
        };
        if r.node != "world" {
            map.insert(r.node.as_str(), broker);
        }
    }
    map
}

/// Partition -> (time, leader) for every partition state ZooKeeper recorded, in order.
fn zk_leaders(history: &History) -> BTreeMap<Tp, Vec<(SimTime, i32)>> {
    let mut leaders: BTreeMap<Tp, Vec<(SimTime, i32)>> = BTreeMap::new();
    for r in &history.events {
        if let Event::Kafka(KafkaEvent::PartitionStateWritten {
            topic,
            partition,
            leader,
            ..
        }) = &r.event
        {
            leaders
                .entry((topic.clone(), *partition))
                .or_default()
                .push((r.at, *leader));
        }
    }
    leaders
}

/// Judges a Kafka producer/consumer history as Jepsen's Kafka workload does.
///
/// Names: a *record* is a (partition, offset, value); an *ack* is an `ok` `Produce` with
/// `Ret::Produced`; a *poll* is an `ok` `Fetch` (one partition, one consumer process); a
/// value is *seen* in a partition when some poll of it returned the value (at any offset).
/// Records are *known* at an offset when a poll returned them there or an ack named it.
/// A *guarded* ack is one the configuration guards, as [`super::kafka::no_acked_write_lost`]
/// does: `acks=all`, unclean election off, ISR at ack time ≥ `min.insync.replicas`.
/// Losses the configuration allows are judged there (counted, never violations); here they
/// simply make a record unguarded, and only guarded acks feed lost-write, unseen and the
/// earlier side of nonmonotonic-send.
///
/// Outside the fault model: when a rule would fire, the record it blames is attributed
/// with the one rule of [`super::kafka::no_acked_write_lost`] and the other Kafka checkers
/// (`LossLedger::attribute` in `check::kafka`): if every broker that held it lost its copy
/// to a power loss that dropped it unflushed, or to a lost disk, before any surviving copy
/// was passed on, the breach is an excuse, not a violation (counted as
/// `<rule>_outside_fault_model`). The blamed record is the unseen ack itself (lost-write,
/// unseen), or, for a lost write at an offset other values held before it, each of those
/// (they were displaced and the ack took their offset), or, for nonmonotonic-send, every
/// earlier guarded ack of the producer at or above the new offset.
///
/// Rules (each a `Violation::checker`):
/// - `kafka.queue.lost-write`: a guarded ack of value v at offset o of partition P, v never
///   seen in P, while some poll returned an offset > o of P (consumers read past it;
///   Jepsen's lost-write with offsets as the version order; "> o" becomes "≥ o" when a
///   poll returned another value at o). Not judged, but counted
///   (`lost_write_unjudged_offset_reused`), when another value known at offset o is not
///   itself a guarded ack at o: a truncation the configuration allows (acks=1, unclean
///   election, power loss) rewrote the offset, and a consumer that read the old record
///   there legitimately never comes back for the new one. If every other value known at
///   o is a guarded ack at o, the rewrite itself broke the guarantee and v is a lost write.
/// - `kafka.queue.duplicate`: one value known at two or more offsets of one partition
///   (from polls or acks), more offsets than the value had produce attempts without a
///   definite failure. The producer (`src/kafka/client.rs`) is not idempotent (no producer
///   id or sequence numbers): after a timeout, a lost connection or
///   NOT_ENOUGH_REPLICAS_AFTER_APPEND (`info`) it resends the same value, which may then be
///   appended twice, as the Java producer without `enable.idempotence` does; a restarted
///   producer node also reuses its values. Such copies are counted
///   (`duplicates_allowed_retry`) and noted, not flagged.
/// - `kafka.queue.poll-skip`: a poll's records, read in order starting from the offset
///   it asked for, jump over offsets at which records are known. Within one assignment the
///   consumer asks for the last returned offset + 1, so this is Jepsen's rule for
///   consecutive polls of one partition by one process (the next poll starts after
///   last+1 over known records); it also covers gaps inside one poll.
/// - `kafka.queue.nonmonotonic-poll`: within one poll the offsets are not strictly
///   increasing, or a poll's first offset is at or below the last offset the previous poll
///   of the same assignment returned (below the offset it asked for, at the start of an
///   assignment).
/// - `kafka.queue.nonmonotonic-send`: an ack of one producer process to one partition, in
///   completion order, whose offset is ≤ the offset of an earlier guarded ack of that
///   process and partition. A guarded record stays at its offset, so every later append
///   lands above it; earlier unguarded acks (acks=1, unclean election) may be truncated
///   and their offsets reused, so they are not compared.
/// - `kafka.queue.unseen`: a guarded ack of value v at offset o of P, v never seen in P, no
///   poll of P returned an offset ≥ o (else lost-write or offset reuse decides), and
///   acknowledged at least `settle` before the invocation of the last poll of P served by
///   the broker ZooKeeper then named leader. Partitions nobody polled are not judged
///   (`unseen_unjudged_unpolled_partition`); acks within `settle` of that poll are counted
///   (`unseen_too_recent`) and noted. Polls served by a broker that was not the recorded
///   leader (a zombie leader, stale consumer metadata) still count as seeing records but
///   are not that reference (`polls_from_stale_leader`): such a broker serves its stale
///   high watermark until the controller reaches it, so a consumer stuck there is not
///   evidence. The run must give consumers `settle` of healed time (as Jepsen's final
///   polls do) for records acknowledged before its end to be judged.
/// - `kafka.queue.committed-offset-regression`: two successful commits of one (group,
///   topic, partition), the second invoked after the first completed (real-time order),
///   the second with a lower offset: the group would re-read. No exception for a new
///   owner after reassignment: the ZooKeeper-era consumer (`src/kafka/group.rs`) commits
///   its position before releasing, the next owner claims only after the owner znode is
///   gone, then reads `/consumers/<g>/offsets/<t>/<p>` on its own session, so with a
///   correct ZooKeeper it starts at or above every completed commit and its position only
///   moves forward; an expired zombie's commits fail with SESSIONEXPIRED. Commits whose
///   intervals overlap have no real-time order (a paused ex-owner's reply can be delivered
///   late) and are not compared.
///
/// Assignments: a consumer fetches from its position, which moves only by its own polls
/// (to the last returned offset + 1) or by a claim (to the group's committed offset, which
/// may be lower or higher). The history does not link a consumer's `PartitionClaimed` /
/// `PartitionReleased` events (named by node) to its ops' `process` (a `Fetch` names the
/// broker), but the `Fetch` offset argument shows every restart: a poll whose argument is
/// not the position the process's previous poll of that partition left starts a new
/// assignment (`poll_assignments` counts them), and no rule compares polls across it.
/// Since the broker returns the log contiguously from the requested offset, a poll is
/// judged against the offset it asked for, which inside one assignment is exactly the
/// previous poll's last + 1. Failed fetches move nothing and are skipped.
///
/// Verdict: `Violated` if any rule fired; otherwise `Unknown` ("nothing to judge: ...")
/// when the history holds no ack and no poll; otherwise `OutsideFaultModel` with one
/// excuse per rule, partition and set of destroying faults if any breach was excused;
/// otherwise `Ok`. A rule's counter holds all its violations; at most ten per rule and
/// partition are listed (a note counts the rest).
pub fn check(history: &History, params: &QueueParams) -> CheckReport {
    let mut out = Out {
        violations: Vec::new(),
        counters: COUNTERS.iter().map(|c| (c.to_string(), 0)).collect(),
        notes: Vec::new(),
        found: BTreeMap::new(),
        excused: BTreeMap::new(),
    };
    let guarded = guarded_produces(history, &params.durability);
    let ledger = LossLedger::new(history, &params.durability);
    let mut attributions = Attributions {
        ledger: &ledger,
        memo: BTreeMap::new(),
    };
    let nodes = broker_nodes(history);
    let leaders = zk_leaders(history);

    // Gather acks, produce attempts, polls and commits.
    let mut acks: Vec<Ack<'_>> = Vec::new();
    let mut polls: Vec<Poll<'_>> = Vec::new();
    let mut commits: Vec<Commit<'_>> = Vec::new();
    // (partition, value) -> attempts without a definite failure (op indices).
    let mut attempts: BTreeMap<(Tp, &str), Vec<usize>> = BTreeMap::new();
    let mut skipped = 0u64;
    for (i, op) in history.ops.iter().enumerate() {
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
                if outcome != Outcome::Fail {
                    attempts
                        .entry((tp.clone(), value.as_str()))
                        .or_default()
                        .push(i);
                }
                match (outcome, ret) {
                    (Outcome::Ok, Ret::Produced { offset }) => acks.push(Ack {
                        op: i,
                        process: op.process,
                        tp,
                        value,
                        offset: *offset,
                        acked_at: op.complete.unwrap_or(op.invoke),
                        guarded: guarded.contains(&i),
                    }),
                    _ => skipped += 1,
                }
            }
            (
                Call::Fetch {
                    topic,
                    partition,
                    offset,
                },
                Outcome::Ok,
                Ret::Records { records },
            ) => {
                let tp = (topic.clone(), *partition);
                let served_by = op.node.as_deref().and_then(|n| nodes.get(n));
                let zk_leader = leaders.get(&tp).and_then(|l| {
                    l.iter()
                        .rev()
                        .find(|(at, _)| *at <= op.invoke)
                        .map(|(_, leader)| *leader)
                });
                let stale = matches!((served_by, zk_leader), (Some(b), Some(l)) if i64::from(*b) != i64::from(l));
                polls.push(Poll {
                    op: i,
                    process: op.process,
                    tp,
                    from: *offset,
                    records,
                    invoke: op.invoke,
                    stale,
                });
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
            ) => commits.push(Commit {
                op: i,
                process: op.process,
                group,
                tp: (topic.clone(), *partition),
                offset: *offset,
                invoke: op.invoke,
                complete: op.complete.unwrap_or(op.invoke),
            }),
            (Call::Fetch { .. } | Call::CommitOffset { .. }, _, _) => skipped += 1,
            _ => {}
        }
    }
    out.add("acked", acks.len() as u64);
    out.add(
        "acked_guarded",
        acks.iter().filter(|a| a.guarded).count() as u64,
    );
    out.add("polls", polls.len() as u64);
    out.add(
        "records_polled",
        polls.iter().map(|p| p.records.len() as u64).sum(),
    );
    out.add("commits", commits.len() as u64);
    out.add(
        "polls_from_stale_leader",
        polls.iter().filter(|p| p.stale).count() as u64,
    );

    // What is known per partition: offset -> value -> first op showing it; what was seen.
    let mut known: BTreeMap<Tp, BTreeMap<i64, BTreeMap<&str, usize>>> = BTreeMap::new();
    let mut seen: BTreeMap<Tp, BTreeSet<&str>> = BTreeMap::new();
    // Partition -> (highest polled offset, the poll that returned it).
    let mut max_polled: BTreeMap<Tp, (i64, usize)> = BTreeMap::new();
    // Partition -> invocation of the last poll served by the recorded leader.
    let mut last_poll: BTreeMap<Tp, (SimTime, usize)> = BTreeMap::new();
    let mut polled_tps: BTreeSet<Tp> = BTreeSet::new();
    for a in acks.iter().filter(|a| a.offset >= 0) {
        known
            .entry(a.tp.clone())
            .or_default()
            .entry(a.offset)
            .or_default()
            .entry(a.value)
            .or_insert(a.op);
    }
    for p in &polls {
        polled_tps.insert(p.tp.clone());
        if !p.stale && last_poll.get(&p.tp).is_none_or(|(at, _)| p.invoke >= *at) {
            last_poll.insert(p.tp.clone(), (p.invoke, p.op));
        }
        for (o, v) in p.records {
            let k = known
                .entry(p.tp.clone())
                .or_default()
                .entry(*o)
                .or_default();
            let first = k.entry(v.as_str()).or_insert(p.op);
            *first = (*first).min(p.op);
            seen.entry(p.tp.clone()).or_default().insert(v);
            let m = max_polled.entry(p.tp.clone()).or_insert((*o, p.op));
            if *o > m.0 {
                *m = (*o, p.op);
            }
        }
    }

    lost_write_and_unseen(
        &acks,
        &known,
        &seen,
        &max_polled,
        &last_poll,
        &polled_tps,
        params,
        history,
        &mut attributions,
        &mut out,
    );
    duplicates(&known, &attempts, &mut out);
    poll_order(&polls, &known, &mut out);
    nonmonotonic_sends(&acks, &mut attributions, &mut out);
    commit_regressions(&commits, &mut out);

    let unlisted: Vec<String> = out
        .found
        .iter()
        .filter(|(_, n)| **n > LISTED_PER_PARTITION)
        .map(|((rule, tp), n)| format!("{} more {rule} in {tp}", n - LISTED_PER_PARTITION))
        .collect();
    if !unlisted.is_empty() {
        out.notes.push(format!(
            "violations beyond the first {LISTED_PER_PARTITION} per rule and partition are counted, not listed: {}",
            unlisted.join(", ")
        ));
    }
    let unguarded = acks.iter().filter(|a| !a.guarded).count();
    if unguarded > 0 {
        out.notes.push(format!(
            "{unguarded} acknowledged record(s) outside the acks=all guarantee (acks=0/1, unclean election, ISR below min.insync.replicas at the ack) are not required seen (lost-write, unseen) and not compared against by nonmonotonic-send; kafka.no_acked_write_lost accounts for their losses"
        ));
    }
    let tps: BTreeSet<&Tp> = acks
        .iter()
        .map(|a| &a.tp)
        .chain(polls.iter().map(|p| &p.tp))
        .chain(commits.iter().map(|c| &c.tp))
        .collect();
    let stats = CheckStats {
        checked: (acks.len() + polls.len() + commits.len()) as u64,
        skipped,
        partitions: tps.len() as u64,
        steps: 0,
    };
    let excuses = std::mem::take(&mut out.excused)
        .into_iter()
        .flat_map(|(rule, groups)| groups.into_excuses(rule, excused_what(rule)))
        .collect();
    let verdict = if out.violations.is_empty() && acks.is_empty() && polls.is_empty() {
        Verdict::Unknown {
            reason:
                "nothing to judge: no acknowledged produce and no successful fetch in the history"
                    .to_string(),
        }
    } else {
        Verdict::judge(out.violations, excuses)
    };
    let mut report = CheckReport::new(NAME, verdict, stats);
    report.counters = out.counters;
    report.notes = out.notes;
    report
}

/// What an excuse of `rule` lists.
fn excused_what(rule: &str) -> &'static str {
    match rule {
        LOST_WRITE => "acknowledged record(s) consumers read past without seeing",
        UNSEEN => "acknowledged record(s) never read",
        NONMONOTONIC_SEND => {
            "acknowledgements at offsets not above an earlier one of their producer"
        }
        _ => "breaches",
    }
}

/// The lost-write and unseen rules (see [`check`]).
#[allow(clippy::too_many_arguments)]
fn lost_write_and_unseen<'h>(
    acks: &[Ack<'h>],
    known: &BTreeMap<Tp, BTreeMap<i64, BTreeMap<&'h str, usize>>>,
    seen: &BTreeMap<Tp, BTreeSet<&str>>,
    max_polled: &BTreeMap<Tp, (i64, usize)>,
    last_poll: &BTreeMap<Tp, (SimTime, usize)>,
    polled_tps: &BTreeSet<Tp>,
    params: &QueueParams,
    history: &History,
    attributions: &mut Attributions<'_, 'h>,
    out: &mut Out,
) {
    let done = |i: usize| {
        history
            .ops
            .get(i)
            .map_or(SimTime::ZERO, |op| op.complete.unwrap_or(op.invoke))
    };
    let mut reused = Vec::new();
    let mut too_recent = Vec::new();
    let mut unpolled = 0u64;
    let mut stale_only = Vec::new();
    let guarded_at: BTreeSet<(&Tp, i64, &str)> = acks
        .iter()
        .filter(|a| a.guarded)
        .map(|a| (&a.tp, a.offset, a.value))
        .collect();
    for a in acks.iter().filter(|a| a.guarded && a.offset >= 0) {
        if seen.get(&a.tp).is_some_and(|s| s.contains(a.value)) {
            continue;
        }
        let name = tp_name(&a.tp);
        let others: Vec<(&str, usize)> = known
            .get(&a.tp)
            .and_then(|k| k.get(&a.offset))
            .map(|vs| {
                vs.iter()
                    .filter(|(v, _)| **v != a.value)
                    .map(|(v, i)| (*v, *i))
                    .collect()
            })
            .unwrap_or_default();
        let max = max_polled.get(&a.tp).copied();
        if let Some((m, j)) = max.filter(|(m, _)| *m >= a.offset) {
            // Consumers reached offset o. If it also held a record whose loss the
            // configuration allows, a truncation rewrote it legitimately and a consumer
            // that read the old record there never comes back for this one.
            if let Some((other, _)) = others
                .iter()
                .find(|(v, _)| !guarded_at.contains(&(&a.tp, a.offset, *v)))
            {
                out.bump("lost_write_unjudged_offset_reused");
                reused.push((a.op, name, a.offset, other.to_string()));
                continue;
            }
            let rewritten = if others.is_empty() {
                String::new()
            } else {
                let shown: Vec<String> = others
                    .iter()
                    .map(|(v, i)| format!("{v:?} (op {i})"))
                    .collect();
                format!(
                    "; offset {} also held the acknowledged acks=all record(s) {}, a rewrite the configuration does not allow",
                    a.offset,
                    shown.join(", ")
                )
            };
            let mut ops = vec![a.op, j];
            ops.extend(others.iter().map(|(_, i)| *i));
            // Outside the fault model if this record was destroyed, or if every value
            // known at its offset before it was (it took their offset afterwards, and
            // consumers that had read them there rightly moved on).
            let earlier: Vec<(&str, usize)> = others
                .iter()
                .filter(|(_, i)| done(*i) < a.acked_at)
                .copied()
                .collect();
            let attributed = if earlier.is_empty() {
                attributions
                    .ack(a.op)
                    .map_err(|why| format!("{:?}: {why}", a.value))
            } else {
                attributions.all_committed(&a.tp, a.offset, &earlier)
            };
            match attributed {
                Ok(d) => out.excuse(
                    LOST_WRITE,
                    &a.tp,
                    d,
                    format!(
                        "{:?} at offset {} (op {}, process {}), polled past by op {j}{rewritten}",
                        a.value, a.offset, a.op, a.process
                    ),
                    &ops,
                ),
                Err(why) => out.violate(
                    LOST_WRITE,
                    &a.tp,
                    format!(
                        "acknowledged record {:?} at {name} offset {} (op {}, process {}) was never returned by any poll, but op {j} polled offset {m} of {name}{rewritten}; not outside the fault model: {why}",
                        a.value, a.offset, a.op, a.process
                    ),
                    ops,
                ),
            }
            continue;
        }
        if !polled_tps.contains(&a.tp) {
            out.bump("unseen_unjudged_unpolled_partition");
            unpolled += 1;
            continue;
        }
        let Some((last, j)) = last_poll.get(&a.tp).copied() else {
            out.bump("unseen_unjudged_unpolled_partition");
            stale_only.push(a.op);
            continue;
        };
        if a.acked_at.plus(params.settle) <= last {
            let polled = max.map_or("nothing".to_string(), |(m, k)| {
                format!("up to offset {m} (op {k})")
            });
            match attributions.ack(a.op) {
                Ok(d) => out.excuse(
                    UNSEEN,
                    &a.tp,
                    d,
                    format!(
                        "{:?} at offset {} (op {}, acked at {}), {name} polled at {} (op {j})",
                        a.value, a.offset, a.op, a.acked_at, last
                    ),
                    &[a.op, j],
                ),
                Err(why) => out.violate(
                    UNSEEN,
                    &a.tp,
                    format!(
                        "acknowledged record {:?} at {name} offset {} (op {}, acked at {}) was never returned by any poll, though {name} was polled at {} (op {j}), at least {:?} later; polls returned {polled}; not outside the fault model: {why}",
                        a.value, a.offset, a.op, a.acked_at, last, params.settle
                    ),
                    vec![a.op, j],
                ),
            }
        } else {
            out.bump("unseen_too_recent");
            too_recent.push(a.op);
        }
    }
    if !reused.is_empty() {
        let shown: Vec<String> = reused
            .iter()
            .take(SHOW)
            .map(|(op, tp, o, other)| format!("op {op}: {tp} offset {o} also held {other:?}"))
            .collect();
        out.notes.push(format!(
            "{} unseen acknowledged record(s) below the highest polled offset sit at offsets that also held another value (a truncation rewrote them; kafka.consumers_agree and kafka.no_acked_write_lost judge that), not judged as lost writes: {}",
            reused.len(),
            shown.join("; ")
        ));
    }
    if !too_recent.is_empty() {
        out.notes.push(format!(
            "{} acknowledged record(s) never polled were acknowledged less than {:?} before the last poll of their partition: too recent to judge as unseen (ops {})",
            too_recent.len(),
            params.settle,
            show(&too_recent)
        ));
    }
    if unpolled > 0 {
        out.notes.push(format!(
            "{unpolled} acknowledged record(s) in partitions no consumer polled: not judged as unseen"
        ));
    }
    if !stale_only.is_empty() {
        out.notes.push(format!(
            "{} acknowledged record(s) in partitions polled only through brokers ZooKeeper did not name leader: not judged as unseen (ops {})",
            stale_only.len(),
            show(&stale_only)
        ));
    }
}

/// The duplicate rule (see [`check`]).
fn duplicates(
    known: &BTreeMap<Tp, BTreeMap<i64, BTreeMap<&str, usize>>>,
    attempts: &BTreeMap<(Tp, &str), Vec<usize>>,
    out: &mut Out,
) {
    let mut offsets_of: BTreeMap<(&Tp, &str), BTreeMap<i64, usize>> = BTreeMap::new();
    for (tp, offsets) in known {
        for (o, values) in offsets {
            for (v, i) in values {
                offsets_of.entry((tp, v)).or_default().insert(*o, *i);
            }
        }
    }
    let mut allowed = Vec::new();
    for ((tp, value), offsets) in &offsets_of {
        if offsets.len() < 2 {
            continue;
        }
        let sent = attempts
            .get(&((*tp).clone(), *value))
            .map_or(&[][..], Vec::as_slice);
        let name = tp_name(tp);
        let at: Vec<String> = offsets
            .iter()
            .map(|(o, i)| format!("{o} (op {i})"))
            .collect();
        if offsets.len() <= sent.len() {
            out.bump("duplicates_allowed_retry");
            allowed.push(format!("{value:?} at {name} offsets {}", at.join(", ")));
            continue;
        }
        let mut ops: Vec<usize> = offsets.values().copied().collect();
        ops.extend(sent.iter().copied());
        out.violate(
            DUPLICATE,
            tp,
            format!(
                "value {value:?} appears at {} offsets of {name}: {}; it was sent {} time(s) without a definite failure (ops {sent:?})",
                offsets.len(),
                at.join(", "),
                sent.len()
            ),
            ops,
        );
    }
    if !allowed.is_empty() {
        out.notes.push(format!(
            "{} value(s) at several offsets, no more than their produce attempts that did not definitely fail: allowed, the producer is not idempotent and resends a value after an indefinite error (at-least-once): {}",
            allowed.len(),
            show(&allowed)
        ));
    }
}

/// The poll-skip and nonmonotonic-poll rules (see [`check`]).
fn poll_order(
    polls: &[Poll<'_>],
    known: &BTreeMap<Tp, BTreeMap<i64, BTreeMap<&str, usize>>>,
    out: &mut Out,
) {
    /// Where a process's polls of a partition left its position.
    struct Cursor {
        /// The offset the next poll of this assignment asks for.
        position: i64,
        /// (offset, op) of the last record returned in this assignment.
        last: Option<(i64, usize)>,
    }
    let mut cursors: BTreeMap<(u64, &Tp), Cursor> = BTreeMap::new();
    for p in polls {
        let name = tp_name(&p.tp);
        let cursor = cursors.entry((p.process, &p.tp)).or_insert(Cursor {
            position: i64::MIN,
            last: None,
        });
        if cursor.position != p.from {
            // First poll, or the consumer restarted from a committed offset: new assignment.
            out.bump("poll_assignments");
            cursor.last = None;
        }
        // (offset, op) of the previous record, inside this poll or from the previous poll.
        let mut prev = cursor.last;
        let mut skip_reported = false;
        let mut order_reported = false;
        for (o, v) in p.records {
            let expected = prev.map_or(p.from, |(po, _)| po + 1);
            let after = || match prev {
                Some((po, pop)) if pop == p.op => format!("after offset {po} in the same poll"),
                Some((po, pop)) => format!("after op {pop} returned offset {po} last"),
                None => format!("asking for offset {}", p.from),
            };
            if *o < expected {
                if !order_reported {
                    order_reported = true;
                    let mut ops = vec![p.op];
                    ops.extend(prev.map(|(_, i)| i));
                    out.violate(
                        NONMONOTONIC_POLL,
                        &p.tp,
                        format!(
                            "process {}'s poll of {name} (op {}) returned offset {o} ({v:?}) {}",
                            p.process,
                            p.op,
                            after()
                        ),
                        ops,
                    );
                }
            } else if *o > expected && !skip_reported {
                let skipped: Vec<(i64, &str, usize)> = known
                    .get(&p.tp)
                    .map(|k| {
                        k.range(expected..*o)
                            .flat_map(|(so, vs)| vs.iter().map(move |(sv, si)| (*so, *sv, *si)))
                            .collect()
                    })
                    .unwrap_or_default();
                if !skipped.is_empty() {
                    skip_reported = true;
                    let mut ops = vec![p.op];
                    ops.extend(prev.map(|(_, i)| i));
                    ops.extend(skipped.iter().take(SHOW).map(|s| s.2));
                    let shown: Vec<String> = skipped
                        .iter()
                        .map(|(so, sv, si)| format!("{so}: {sv:?} (op {si})"))
                        .collect();
                    out.violate(
                        POLL_SKIP,
                        &p.tp,
                        format!(
                            "process {}'s poll of {name} (op {}) returned offset {o} ({v:?}) {}, skipping offsets {expected}..{} where records are known: {}",
                            p.process,
                            p.op,
                            after(),
                            o - 1,
                            show(&shown)
                        ),
                        ops,
                    );
                }
            }
            prev = Some((*o, p.op));
        }
        if let Some((o, _)) = p.records.last() {
            cursor.position = o + 1;
            cursor.last = prev;
        } else {
            cursor.position = p.from;
        }
    }
}

/// The nonmonotonic-send rule (see [`check`]).
fn nonmonotonic_sends(acks: &[Ack<'_>], attributions: &mut Attributions<'_, '_>, out: &mut Out) {
    let mut by_sender: BTreeMap<(u64, &Tp), Vec<&Ack<'_>>> = BTreeMap::new();
    for a in acks.iter().filter(|a| a.offset >= 0) {
        by_sender.entry((a.process, &a.tp)).or_default().push(a);
    }
    for ((process, tp), mut sends) in by_sender {
        sends.sort_by_key(|a| (a.acked_at, a.op));
        // Earlier guarded acks, and the highest of their offsets.
        let mut earlier: Vec<&Ack<'_>> = Vec::new();
        let mut floor: Option<i64> = None;
        for a in sends {
            if floor.is_some() {
                out.bump("send_pairs_judged");
            }
            if floor.is_some_and(|fo| a.offset <= fo) {
                // Outside the fault model only if every earlier guarded record at or above
                // this offset was destroyed (its offset was free to reuse); else blame the
                // highest one that was not.
                let mut above: Vec<&Ack<'_>> = earlier
                    .iter()
                    .copied()
                    .filter(|e| e.offset >= a.offset)
                    .collect();
                above.sort_by_key(|e| (std::cmp::Reverse(e.offset), e.op));
                let mut merged: Option<Destroyed> = None;
                let mut blame: Option<(&Ack<'_>, String)> = None;
                for e in &above {
                    match attributions.ack(e.op) {
                        Ok(d) => {
                            merged = Some(match merged {
                                None => d,
                                Some(m) => m.merge(d),
                            })
                        }
                        Err(why) => {
                            blame = Some((e, why));
                            break;
                        }
                    }
                }
                match (blame, merged, above.first()) {
                    (None, Some(d), Some(top)) => out.excuse(
                        NONMONOTONIC_SEND,
                        tp,
                        d,
                        format!(
                            "process {process}'s {:?} acknowledged at offset {} (op {}) after {:?} at offset {} (op {})",
                            a.value, a.offset, a.op, top.value, top.offset, top.op
                        ),
                        &[top.op, a.op],
                    ),
                    (blame, _, top) => {
                        let (e, why) = match (blame, top) {
                            (Some((e, why)), _) => (e, why),
                            (None, Some(top)) => (*top, "no attribution".to_string()),
                            (None, None) => continue,
                        };
                        out.violate(
                            NONMONOTONIC_SEND,
                            tp,
                            format!(
                                "process {process}'s send of {:?} to {} was acknowledged at offset {} (op {}), not above the earlier acknowledged acks=all send of {:?} at offset {} (op {}); not outside the fault model: {why}",
                                a.value,
                                tp_name(tp),
                                a.offset,
                                a.op,
                                e.value,
                                e.offset,
                                e.op
                            ),
                            vec![e.op, a.op],
                        );
                    }
                }
            }
            if a.guarded {
                floor = Some(floor.map_or(a.offset, |fo| fo.max(a.offset)));
                earlier.push(a);
            }
        }
    }
}

/// The committed-offset-regression rule (see [`check`]).
fn commit_regressions(commits: &[Commit<'_>], out: &mut Out) {
    let mut by_key: BTreeMap<(&str, &Tp), Vec<&Commit<'_>>> = BTreeMap::new();
    for c in commits {
        by_key.entry((c.group, &c.tp)).or_default().push(c);
    }
    for ((group, tp), list) in by_key {
        let mut by_complete = list.clone();
        by_complete.sort_by_key(|c| (c.complete, c.op));
        let mut by_invoke = list;
        by_invoke.sort_by_key(|c| (c.invoke, c.op));
        let mut done = by_complete.iter().peekable();
        // The highest commit completed before the current one was invoked.
        let mut high: Option<&Commit<'_>> = None;
        for c in by_invoke {
            while let Some(d) = done.next_if(|d| d.complete < c.invoke) {
                if high.is_none_or(|h| d.offset > h.offset) {
                    high = Some(*d);
                }
            }
            if let Some(h) = high.filter(|h| c.offset < h.offset) {
                out.violate(
                    COMMITTED_OFFSET_REGRESSION,
                    tp,
                    format!(
                        "group {group}: process {} committed offset {} for {} (op {}) after process {} had committed offset {} (op {}, completed at {}): the group would re-read offsets {}..{}",
                        c.process,
                        c.offset,
                        tp_name(tp),
                        c.op,
                        h.process,
                        h.offset,
                        h.op,
                        h.complete,
                        c.offset,
                        h.offset - 1
                    ),
                    vec![h.op, c.op],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventRecord, Op};

    const SAFE: DurabilityParams = DurabilityParams {
        unclean_election: false,
        min_isr: 2,
        flush_every_message: false,
    };
    const P: QueueParams = QueueParams {
        durability: SAFE,
        settle: Duration::from_secs(1),
    };

    fn op(process: u64, at_ms: u64, call: Call, outcome: Outcome, ret: Ret) -> Op {
        Op {
            process,
            session: None,
            node: None,
            call,
            invoke: SimTime::from_millis(at_ms),
            complete: Some(SimTime::from_millis(at_ms + 1)),
            outcome,
            ret,
            zxid: None,
        }
    }

    fn produce_call(value: &str, acks: i8) -> Call {
        Call::Produce {
            topic: "t".into(),
            partition: 0,
            value: value.into(),
            acks,
        }
    }

    /// An acknowledged acks=all send by producer process 1.
    fn send(at_ms: u64, value: &str, offset: i64) -> Op {
        send_by(1, at_ms, value, -1, offset)
    }

    fn send_by(process: u64, at_ms: u64, value: &str, acks: i8, offset: i64) -> Op {
        op(
            process,
            at_ms,
            produce_call(value, acks),
            Outcome::Ok,
            Ret::Produced { offset },
        )
    }

    /// A send whose outcome is unknown (timeout): the producer will retry the value.
    fn send_timeout(at_ms: u64, value: &str) -> Op {
        op(1, at_ms, produce_call(value, -1), Outcome::Info, Ret::None)
    }

    fn poll(process: u64, at_ms: u64, from: i64, records: &[(i64, &str)]) -> Op {
        op(
            process,
            at_ms,
            Call::Fetch {
                topic: "t".into(),
                partition: 0,
                offset: from,
            },
            Outcome::Ok,
            Ret::Records {
                records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
            },
        )
    }

    fn commit(process: u64, at_ms: u64, offset: i64) -> Op {
        op(
            process,
            at_ms,
            Call::CommitOffset {
                group: "g".into(),
                topic: "t".into(),
                partition: 0,
                offset,
            },
            Outcome::Ok,
            Ret::None,
        )
    }

    fn history(ops: Vec<Op>) -> History {
        History {
            ops,
            ..History::new()
        }
    }

    fn rules(r: &CheckReport) -> Vec<&str> {
        r.violations().iter().map(|v| v.checker.as_str()).collect()
    }

    /// Runs each case: `Some(rule)` must be among the violations, `None` must be `Ok`.
    fn run_table(cases: Vec<(&str, History, Option<&str>)>, params: &QueueParams) {
        for (name, h, want) in cases {
            let r = check(&h, params);
            assert_eq!(r.checker, NAME);
            let keys: Vec<&String> = r.counters.keys().collect();
            assert_eq!(keys.len(), COUNTERS.len(), "{name}: counters {keys:?}");
            match want {
                Some(rule) => assert!(rules(&r).contains(&rule), "{name}: want {rule}, got\n{r}"),
                None => assert!(r.is_ok(), "{name}: want ok, got\n{r}"),
            }
            for v in r.violations() {
                assert!(!v.ops.is_empty(), "{name}: violation without ops: {v}");
            }
        }
    }

    #[test]
    fn lost_write_table() {
        run_table(
            vec![
                (
                    // b at offset 1 is acked (acks=all), consumer 3 read offset 2 after
                    // restarting from committed offset 2, nobody ever returned b: lost.
                    "consumers read past an acked record",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a")]),
                        poll(3, 110, 2, &[(2, "c")]),
                    ]),
                    Some(LOST_WRITE),
                ),
                (
                    // Mirror: consumer 2 also returned b.
                    "every record below the highest polled offset was read",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a"), (1, "b")]),
                        poll(3, 110, 2, &[(2, "c")]),
                    ]),
                    None,
                ),
                (
                    // b was acked with acks=1: the configuration allows losing it, so
                    // reading past it is not a lost write here (no_acked_write_lost counts it).
                    "unguarded acks=1 record read past",
                    history(vec![
                        send(10, "a", 0),
                        send_by(1, 20, "b", 1, 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a")]),
                        poll(3, 110, 2, &[(2, "c")]),
                    ]),
                    None,
                ),
                (
                    // Offset 0 held "x" (acks=1, polled) before a truncation rewrote it
                    // with "a" (acks=all, producer 4): the consumer legitimately never
                    // comes back for offset 0, so "a" is not judged as lost.
                    "offset rewritten by an allowed truncation",
                    history(vec![
                        send_by(5, 10, "x", 1, 0),
                        poll(2, 20, 0, &[(0, "x")]),
                        send_by(4, 30, "a", -1, 0),
                        send_by(4, 40, "b", -1, 1),
                        poll(2, 50, 1, &[(1, "b")]),
                    ]),
                    None,
                ),
                (
                    // Mirror: "x" was a guarded acks=all record, so the rewrite of offset 0
                    // broke the guarantee and "a", which consumers skipped, is lost.
                    "offset rewritten over a guarded record",
                    history(vec![
                        send_by(5, 10, "x", -1, 0),
                        poll(2, 20, 0, &[(0, "x")]),
                        send_by(4, 30, "a", -1, 0),
                        send_by(4, 40, "b", -1, 1),
                        poll(2, 50, 1, &[(1, "b")]),
                    ]),
                    Some(LOST_WRITE),
                ),
            ],
            &P,
        );
    }

    #[test]
    fn duplicate_table() {
        run_table(
            vec![
                (
                    // "a" was sent once, yet the log shows it at offsets 0 and 1.
                    "one send, two offsets",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 2),
                        poll(2, 100, 0, &[(0, "a"), (1, "a"), (2, "b")]),
                    ]),
                    Some(DUPLICATE),
                ),
                (
                    // Mirror: every value at one offset.
                    "distinct values",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        poll(2, 100, 0, &[(0, "a"), (1, "b")]),
                    ]),
                    None,
                ),
                (
                    // The first attempt timed out (info) but was appended; the retry of the
                    // same value was appended again: the non-idempotent producer's
                    // at-least-once duplicate, allowed.
                    "retried send appended twice",
                    history(vec![
                        send_timeout(10, "a"),
                        send(20, "a", 1),
                        poll(2, 100, 0, &[(0, "a"), (1, "a")]),
                    ]),
                    None,
                ),
            ],
            &P,
        );
    }

    #[test]
    fn poll_skip_table() {
        run_table(
            vec![
                (
                    // The second poll asked for offset 1 and got offset 2: b at offset 1
                    // (known from its ack) was skipped.
                    "next poll starts after last+1",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a")]),
                        poll(2, 110, 1, &[(2, "c")]),
                    ]),
                    Some(POLL_SKIP),
                ),
                (
                    // Gap inside one poll over a known record.
                    "gap inside one poll",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a"), (2, "c")]),
                    ]),
                    Some(POLL_SKIP),
                ),
                (
                    // Mirror: contiguous polls.
                    "contiguous polls",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a")]),
                        poll(2, 110, 1, &[(1, "b"), (2, "c")]),
                    ]),
                    None,
                ),
                (
                    // After a reassignment the consumer resumes at the group's committed
                    // offset 2, past its own last read (another member consumed b): a new
                    // assignment, not a skip.
                    "restart at a higher committed offset",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a")]),
                        poll(3, 105, 1, &[(1, "b")]),
                        poll(2, 110, 2, &[(2, "c")]),
                    ]),
                    None,
                ),
            ],
            &P,
        );
    }

    #[test]
    fn nonmonotonic_poll_table() {
        run_table(
            vec![
                (
                    // The second poll (asking for 2) returned offset 1 again.
                    "next poll goes back",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a"), (1, "b")]),
                        poll(2, 110, 2, &[(1, "b"), (2, "c")]),
                    ]),
                    Some(NONMONOTONIC_POLL),
                ),
                (
                    // Offsets inside one poll go down.
                    "inversion inside one poll",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        poll(2, 100, 0, &[(1, "b"), (0, "a")]),
                    ]),
                    Some(NONMONOTONIC_POLL),
                ),
                (
                    // Mirror: increasing polls.
                    "increasing polls",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        send(30, "c", 2),
                        poll(2, 100, 0, &[(0, "a"), (1, "b")]),
                        poll(2, 110, 2, &[(2, "c")]),
                    ]),
                    None,
                ),
                (
                    // The consumer re-read its group's committed offset 0 after a
                    // rebalance (the Fetch argument moved back): re-reading is legitimate.
                    "restart from a lower committed offset",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        poll(2, 100, 0, &[(0, "a"), (1, "b")]),
                        poll(2, 110, 0, &[(0, "a"), (1, "b")]),
                    ]),
                    None,
                ),
            ],
            &P,
        );
    }

    #[test]
    fn nonmonotonic_send_table() {
        run_table(
            vec![
                (
                    // Process 1's acks=all sends completed at offsets 1 then 0.
                    "acked offsets go down",
                    history(vec![send(10, "a", 1), send(20, "b", 0)]),
                    Some(NONMONOTONIC_SEND),
                ),
                (
                    // Mirror: increasing offsets.
                    "acked offsets go up",
                    history(vec![send(10, "a", 0), send(20, "b", 1)]),
                    None,
                ),
                (
                    // acks=1: the first record may be truncated by a clean leader change
                    // and its offset reused, so offsets going down are allowed.
                    "acks=1 offsets reused after truncation",
                    history(vec![send_by(1, 10, "a", 1, 1), send_by(1, 20, "b", 1, 1)]),
                    None,
                ),
            ],
            &P,
        );
    }

    #[test]
    fn unseen_table() {
        run_table(
            vec![
                (
                    // b (offset 1) was acked at 21 ms, the partition was polled at 5 s,
                    // well over the 1 s settle later, and nobody ever returned b.
                    "acked long before the last poll, never read",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        poll(2, 5_000, 0, &[(0, "a")]),
                    ]),
                    Some(UNSEEN),
                ),
                (
                    // Mirror: b was read.
                    "every acked record read",
                    history(vec![
                        send(10, "a", 0),
                        send(20, "b", 1),
                        poll(2, 5_000, 0, &[(0, "a"), (1, "b")]),
                    ]),
                    None,
                ),
                (
                    // b was acked 500 ms before the last poll, within settle: too recent.
                    "acked within settle of the last poll",
                    history(vec![
                        send(10, "a", 0),
                        send(4_500, "b", 1),
                        poll(2, 5_000, 0, &[(0, "a")]),
                    ]),
                    None,
                ),
            ],
            &P,
        );
    }

    #[test]
    fn committed_offset_regression_table() {
        run_table(
            vec![
                (
                    // Process 3 committed 3 after process 2's commit of 5 had completed.
                    "commit goes back",
                    history(vec![poll(2, 5, 0, &[]), commit(2, 10, 5), commit(3, 20, 3)]),
                    Some(COMMITTED_OFFSET_REGRESSION),
                ),
                (
                    // Mirror: commits go up.
                    "commits go up",
                    history(vec![poll(2, 5, 0, &[]), commit(2, 10, 3), commit(3, 20, 5)]),
                    None,
                ),
                (
                    // Overlapping commits have no real-time order: not compared.
                    "overlapping commits",
                    {
                        let mut late = commit(2, 10, 5);
                        late.complete = Some(SimTime::from_millis(30));
                        history(vec![poll(2, 5, 0, &[]), late, commit(3, 20, 3)])
                    },
                    None,
                ),
            ],
            &P,
        );
    }

    #[test]
    fn nothing_to_judge_is_unknown_and_violations_win() {
        for h in [
            History::new(),
            history(vec![op(
                1,
                10,
                produce_call("a", -1),
                Outcome::Fail,
                Ret::None,
            )]),
        ] {
            let r = check(&h, &P);
            match &r.verdict {
                Verdict::Unknown { reason } => {
                    assert!(reason.starts_with("nothing to judge: "), "{reason}")
                }
                v => panic!("want unknown, got {v:?}"),
            }
            assert_eq!(r.counters.len(), COUNTERS.len());
        }
        // Commits alone are nothing to judge for the queue, but a regression still wins.
        let r = check(&history(vec![commit(2, 10, 5), commit(3, 20, 3)]), &P);
        assert_eq!(rules(&r), vec![COMMITTED_OFFSET_REGRESSION]);
    }

    #[test]
    fn unclean_election_guards_nothing() {
        // With unclean election allowed, no ack is guarded: the lost-write case is ok.
        let params = QueueParams {
            durability: DurabilityParams {
                unclean_election: true,
                ..SAFE
            },
            ..P
        };
        let h = history(vec![
            send(10, "a", 0),
            send(20, "b", 1),
            send(30, "c", 2),
            poll(2, 100, 0, &[(0, "a")]),
            poll(3, 5_000, 2, &[(2, "c")]),
        ]);
        let r = check(&h, &params);
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.counter("acked_guarded"), 0);
    }

    #[test]
    fn stale_leader_polls_are_not_the_unseen_reference() {
        // ZooKeeper names broker 2 leader; the consumer keeps polling broker 1 (a zombie
        // leader serving its stale HW). b is not required seen on that evidence.
        let ev = |at: u64, node: &str, event: KafkaEvent| EventRecord {
            at: SimTime::from_millis(at),
            node: node.into(),
            event: Event::Kafka(event),
        };
        let mut zombie_poll = poll(2, 5_000, 0, &[(0, "a")]);
        zombie_poll.node = Some("broker1".into());
        let mut h = history(vec![send(10, "a", 0), send(20, "b", 1), zombie_poll]);
        h.events = vec![
            ev(
                1,
                "broker1",
                KafkaEvent::BrokerRegistered {
                    broker: 1,
                    broker_epoch: 1,
                },
            ),
            ev(
                2,
                "world",
                KafkaEvent::PartitionStateWritten {
                    topic: "t".into(),
                    partition: 0,
                    leader: 2,
                    leader_epoch: 1,
                    isr: vec![2, 3],
                    controller_epoch: 1,
                    by: 3,
                },
            ),
        ];
        let r = check(&h, &P);
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.counter("polls_from_stale_leader"), 1);
        // Served by the recorded leader, the same poll makes b unseen.
        h.ops[2].node = Some("broker2".into());
        h.events.push(ev(
            3,
            "broker2",
            KafkaEvent::BrokerRegistered {
                broker: 2,
                broker_epoch: 2,
            },
        ));
        assert_eq!(rules(&check(&h, &P)), vec![UNSEEN]);
    }
}
