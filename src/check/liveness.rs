//! Liveness after heal (LIVE): within a bound after the last fault ends, some ZooKeeper
//! server is an established leader, a client write invoked after the heal succeeds, and
//! every ZooKeeper server running at the end of the bound has been part of the ensemble
//! (a synced follower or the established leader) at some point after the heal
//! (`liveness.rejoin`; ZOOKEEPER-1732 left a restarted server LOOKING next to a healthy
//! ensemble forever).
//!
//! Fault starts: `NodeCrashed`, `NodePaused`, `Partitioned`, `LinkCut`, `NetChanged` with
//! loss, `DiskChanged` to a slow disk. Fault ends: `Healed`, `NodeStarted`, `NodeResumed`,
//! `NetChanged` without loss (at its `backlog_until_ns`: messages lost before it still wait
//! out their retransmissions), `DiskChanged` restoring the configured latency.
//! The bound comes from the caller, who knows the configuration (election timeouts,
//! `initLimit`/`syncLimit` x `tickTime`, session timeouts).

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::{Event, History, Outcome, ZkEvent, ZkRole};
use crate::history::{SimEvent, SimTime};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn fault_edge(e: &SimEvent) -> Option<bool> {
    match e {
        SimEvent::NodeCrashed { .. }
        | SimEvent::NodePaused
        | SimEvent::Partitioned { .. }
        | SimEvent::LinkCut { .. } => Some(true),
        SimEvent::NetChanged { loss_permille, .. } => Some(*loss_permille > 0),
        SimEvent::DiskChanged { restored, .. } => Some(!restored),
        SimEvent::Healed | SimEvent::NodeStarted { .. } | SimEvent::NodeResumed => Some(false),
        SimEvent::ClockChanged { .. } | SimEvent::Note { .. } => None,
    }
}

/// Error names that mean "not served" rather than a definite answer.
const UNAVAILABLE: &[&str] = &[
    "ConnectionLoss",
    "SessionExpired",
    "OperationTimeout",
    "NotReadOnly",
    "SessionMoved",
    "NOT_LEADER_OR_FOLLOWER",
    "NOT_ENOUGH_REPLICAS",
    "REQUEST_TIMED_OUT",
];

/// Checks that a leader is established and a write succeeds within `bound` of the last
/// fault's end.
///
/// Guarantees: `Ok` only if both happened in `[heal, heal + bound]`; `Violated` if the
/// history runs past `heal + bound` without one of them; `Unknown` if the last fault never
/// ended, the history ends before `heal + bound`, it has no ZooKeeper events, or no write
/// was invoked in the window (nothing to judge).
pub fn check(history: &History, bound: Duration) -> CheckReport {
    let checker = "liveness.after-heal".to_string();
    let mut stats = CheckStats::default();
    let unknown = |reason: String, stats: CheckStats| {
        CheckReport::new(checker.clone(), Verdict::Unknown { reason }, stats)
    };
    let mut heal = SimTime::ZERO;
    let mut heal_event: Option<usize> = None;
    let mut open_fault: Option<usize> = None;
    for (i, r) in history.events.iter().enumerate() {
        if let Event::Sim(e) = &r.event {
            match fault_edge(e) {
                Some(true) => open_fault = Some(i),
                Some(false) => {
                    open_fault = None;
                    let effects_end = match e {
                        SimEvent::NetChanged {
                            backlog_until_ns, ..
                        } => r.at.max(SimTime(*backlog_until_ns)),
                        _ => r.at,
                    };
                    heal = heal.max(effects_end);
                    heal_event = Some(i);
                }
                None => {}
            }
        }
    }
    if let Some(i) = open_fault {
        return unknown(format!("the fault at events[{i}] never ended"), stats);
    }
    if !history
        .events
        .iter()
        .any(|r| matches!(r.event, Event::Zk(_)))
    {
        return unknown("the history has no ZooKeeper events".into(), stats);
    }
    let deadline = heal.plus(bound);
    let end = history
        .events
        .iter()
        .map(|r| r.at)
        .chain(history.ops.iter().filter_map(|o| o.complete))
        .max()
        .unwrap_or(SimTime::ZERO);
    if end < deadline {
        return unknown(
            format!("the history ends at {end}, before heal {heal} + bound {bound:?}"),
            stats,
        );
    }
    // Who leads, in event order.
    let mut leaders: BTreeSet<&str> = BTreeSet::new();
    let mut paused_leaders: BTreeSet<&str> = BTreeSet::new();
    let mut leader_seen: Option<usize> = None;
    for (i, r) in history.events.iter().enumerate() {
        if r.at > deadline {
            break;
        }
        stats.checked += 1;
        let node = r.node.as_str();
        match &r.event {
            Event::Zk(ZkEvent::LeaderEstablished { .. }) => {
                leaders.insert(node);
            }
            Event::Zk(ZkEvent::SteppedDown { .. } | ZkEvent::Recovered { .. })
            | Event::Sim(SimEvent::NodeCrashed { .. }) => {
                leaders.remove(node);
                paused_leaders.remove(node);
            }
            // A paused leader is no leader while frozen; resumed, it still leads until it
            // records that it stepped down.
            Event::Sim(SimEvent::NodePaused) if leaders.remove(node) => {
                paused_leaders.insert(node);
            }
            Event::Sim(SimEvent::NodeResumed) if paused_leaders.remove(node) => {
                leaders.insert(node);
            }
            Event::Zk(ZkEvent::RoleChanged { role, .. }) if *role != ZkRole::Leading => {
                leaders.remove(node);
            }
            _ => {}
        }
        if r.at >= heal && !leaders.is_empty() && leader_seen.is_none() {
            leader_seen = Some(i);
        }
    }
    let mut violations = Vec::new();
    let heal_events: Vec<usize> = heal_event.into_iter().collect();
    // With no leader at all, liveness.leader says it; rejoin is about servers left out of
    // an ensemble that exists.
    let mut notes = Vec::new();
    let mut excuses = Vec::new();
    if leader_seen.is_some() {
        let rejoin = rejoin_violations(history, heal, bound, end, &heal_events);
        let (stand, excused) = forgotten_epoch_blocks(history, rejoin.violations);
        violations.extend(stand);
        excuses.extend(excused);
        notes.extend(
            rejoin
                .unjudged
                .into_iter()
                .map(|n| format!("liveness.rejoin not judged for {n}")),
        );
    }
    if leader_seen.is_none() {
        violations.push(Violation {
            checker: "liveness.leader".into(),
            message: format!("no established leader between the heal at {heal} and {deadline}"),
            ops: vec![],
            events: heal_events.clone(),
            state_before: None,
        });
    }
    let writes: Vec<usize> = history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.call.is_write() && o.invoke >= heal && o.invoke <= deadline)
        .map(|(i, _)| i)
        .collect();
    stats.checked += writes.len() as u64;
    // A write the cluster answered definitely (ok, or a definite refusal such as NoNode or
    // BadVersion) shows it is serving writes; unavailability looks like `info` outcomes or
    // connection-level failures.
    let served = |o: &crate::history::Op| match o.outcome {
        Outcome::Ok => true,
        Outcome::Fail => {
            !matches!(&o.ret, crate::history::Ret::Error { name, .. } if UNAVAILABLE.contains(&name.as_str()))
        }
        Outcome::Info => false,
    };
    let ok_write = writes.iter().any(|&i| {
        let o = &history.ops[i];
        served(o) && o.complete.is_some_and(|c| c <= deadline)
    });
    if !ok_write {
        if writes.is_empty() {
            if violations.is_empty() {
                return unknown(
                    format!("no client write was invoked between {heal} and {deadline}"),
                    stats,
                );
            }
        } else {
            let v = Violation {
                checker: "liveness.write".into(),
                message: format!(
                    "{} write(s) invoked after the heal at {heal}, none succeeded by {deadline}",
                    writes.len()
                ),
                ops: writes.iter().copied().take(10).collect(),
                events: heal_events,
                state_before: None,
            };
            match clients_ahead_of_a_forgetful_ensemble(history, heal, deadline, &writes, &v) {
                Some(excuse) => excuses.push(excuse),
                None => violations.push(v),
            }
        }
    }
    let refusals = super::zk_refusal::find(history, deadline);
    notes.extend(refusals.refused.iter().map(|r| {
        format!(
            "{} refused to start at {} (no snapshot, but a log; ZOOKEEPER-2325) and was down at {deadline}: not judged by liveness.rejoin",
            r.node, history.events[r.refusal].at
        )
    }));
    // Without a quorum nothing can lead or write; anything else stands.
    let (outage, mut violations): (Vec<Violation>, Vec<Violation>) = violations
        .into_iter()
        .partition(|v| v.checker == "liveness.leader" || v.checker == "liveness.write");
    for v in outage {
        match refusals.excuse(&v) {
            Some(excuse) => excuses.push(excuse),
            None => violations.push(v),
        }
    }
    let mut report = CheckReport::new(checker, Verdict::judge(violations, excuses), stats);
    report.notes = notes;
    report
}

/// Excuses a post-heal write outage that ZooKeeper's own rule makes certain once committed
/// transactions were lost to a voter's amnesia ([`super::zk_amnesia`]): a server refuses a
/// client that has seen a newer zxid than its own ("client has seen zxid ..., our last zxid
/// is ...", `ZooKeeperServer.processConnectRequest`). Excused only when, for every write
/// invoked between `heal` and `deadline`, its client had seen (in the zxid of an op it
/// completed before invoking it) a zxid above every zxid any server reached while serving
/// in that window, and committed transactions between the two were lost to amnesia: then
/// no serving server could take that client, and nothing else explains the outage.
fn clients_ahead_of_a_forgetful_ensemble(
    history: &History,
    heal: SimTime,
    deadline: SimTime,
    writes: &[usize],
    v: &Violation,
) -> Option<super::Excuse> {
    let amnesia = super::zk_amnesia::find(history);
    if amnesia.lost.is_empty() {
        return None;
    }
    // Each server's last applied zxid and whether it serves (broadcast), in event order;
    // the highest zxid a serving server had at any point in [heal, deadline].
    let mut applied: BTreeMap<&str, i64> = BTreeMap::new();
    let mut serving: BTreeSet<&str> = BTreeSet::new();
    fn serve_from_epoch<'h>(
        applied: &mut BTreeMap<&'h str, i64>,
        serving: &mut BTreeSet<&'h str>,
        node: &'h str,
        epoch: u32,
    ) {
        let start = i64::from(epoch) << 32;
        let z = applied.entry(node).or_insert(start);
        *z = (*z).max(start);
        serving.insert(node);
    }
    let mut served_max: Option<i64> = None;
    for r in &history.events {
        if r.at > deadline {
            break;
        }
        let node = r.node.as_str();
        match &r.event {
            Event::Zk(ZkEvent::Recovered { last_zxid, .. }) => {
                applied.insert(node, *last_zxid);
                serving.remove(node);
            }
            Event::Zk(ZkEvent::Delivered { zxid, .. } | ZkEvent::SnapLoaded { zxid }) => {
                applied.insert(node, *zxid);
            }
            Event::Zk(ZkEvent::Truncated { to }) => {
                applied.insert(node, *to);
            }
            // A new epoch's history starts at its first zxid (the leader's and, once
            // synced, each follower's last processed zxid).
            Event::Zk(ZkEvent::LeaderEstablished { epoch, .. }) => {
                serve_from_epoch(&mut applied, &mut serving, node, *epoch);
            }
            Event::Zk(ZkEvent::RoleChanged { role, epoch }) => {
                if *role == ZkRole::Following && *epoch > 0 {
                    serve_from_epoch(&mut applied, &mut serving, node, *epoch);
                } else if *role != ZkRole::Leading {
                    serving.remove(node);
                }
            }
            Event::Zk(ZkEvent::SteppedDown { .. }) | Event::Sim(SimEvent::NodeCrashed { .. }) => {
                serving.remove(node);
            }
            _ => {}
        }
        if r.at >= heal && serving.contains(node) {
            let z = applied.get(node).copied().unwrap_or(0);
            served_max = Some(served_max.map_or(z, |m| m.max(z)));
        }
    }
    let served_max = served_max.unwrap_or(0);
    // Per client process: (completion, the highest zxid seen by then), by completion.
    let mut seen_by: BTreeMap<u64, Vec<(SimTime, i64)>> = BTreeMap::new();
    for o in &history.ops {
        if let (Some(c), Some(z)) = (o.complete, o.zxid) {
            seen_by.entry(o.process).or_default().push((c, z));
        }
    }
    for seen in seen_by.values_mut() {
        seen.sort_unstable();
        let mut max = i64::MIN;
        for (_, z) in seen.iter_mut() {
            max = max.max(*z);
            *z = max;
        }
    }
    let mut lowest_seen: Option<i64> = None;
    for &w in writes {
        let op = &history.ops[w];
        let seen = seen_by.get(&op.process)?;
        let before = seen.partition_point(|(c, _)| *c <= op.invoke);
        let seen = seen[..before].last()?.1;
        // Checked before the range: a range whose start is past its end panics.
        if seen <= served_max || amnesia.lost.range(served_max + 1..=seen).next().is_none() {
            return None;
        }
        lowest_seen = Some(lowest_seen.map_or(seen, |l| l.min(seen)));
    }
    let lowest_seen = lowest_seen?;
    let (first_lost, txn) = amnesia.lost.range(served_max + 1..=lowest_seen).next()?;
    Some(super::Excuse {
        rule: v.checker.clone(),
        message: format!(
            "{} — every writing client had seen zxid {lowest_seen:#x} or newer, but no server serving after the heal got past {served_max:#x}: transaction {first_lost:#x} and those after it were {}; and a server refuses a client that has seen a newer zxid than its own",
            v.message,
            txn.how_lost(),
        ),
        documented: super::zk_amnesia::DOCUMENTED.to_string(),
        ops: v.ops.clone(),
        events: txn.disk_losses.clone(),
    })
}

/// Splits `liveness.rejoin` violations into those that stand and those a forgotten epoch
/// explains: the server had accepted an epoch above the one the ensemble's leader was
/// established for, a number a forgetful quorum handed out again (see
/// [`super::zk_amnesia`]). ZooKeeper's learner refuses a leader whose epoch is below its own
/// acceptedEpoch (Learner.registerWithLeader: "Leaders epoch ... is less than accepted
/// epoch"), goes back to looking, and follows the same leader again, for as long as that
/// leader leads.
fn forgotten_epoch_blocks(
    history: &History,
    violations: Vec<Violation>,
) -> (Vec<Violation>, Vec<super::Excuse>) {
    if violations.is_empty() {
        return (violations, Vec::new());
    }
    let amnesia = super::zk_amnesia::find(history);
    if amnesia.epochs.is_empty() {
        return (violations, Vec::new());
    }
    let mut stand = Vec::new();
    let mut excused = Vec::new();
    for v in violations {
        // The violation's last event is the server's own last one (rejoin_violations).
        let Some(&last) = v.events.last() else {
            stand.push(v);
            continue;
        };
        let node = history.events[last].node.as_str();
        let upto = &history.events[..=last];
        let accepted = upto
            .iter()
            .filter(|r| r.node == node)
            .filter_map(|r| match &r.event {
                Event::Zk(ZkEvent::EpochAccepted { epoch }) => Some(*epoch),
                _ => None,
            })
            .max();
        let leading = history.events.iter().rev().find_map(|r| match &r.event {
            Event::Zk(ZkEvent::LeaderEstablished { epoch, .. }) => Some(*epoch),
            _ => None,
        });
        let blocked = match (accepted, leading) {
            (Some(a), Some(l)) if a > l => amnesia.forgotten(l).map(|(e, f)| (a, e, f)),
            _ => None,
        };
        match blocked {
            Some((a, e, f)) => {
                let forgot: Vec<&str> = f.forgot.iter().map(String::as_str).collect();
                excused.push(super::Excuse {
                    rule: v.checker.clone(),
                    message: format!(
                        "{} — {node} had accepted epoch {a}, above epoch {} that {} established (events[{e}]) after every server its quorum shared with earlier ones ({}) lost its whole disk: a learner refuses a leader whose epoch is below its acceptedEpoch, so {node} cannot join while that leader leads",
                        v.message,
                        f.epoch,
                        f.leader,
                        forgot.join(", ")
                    ),
                    documented: super::zk_amnesia::DOCUMENTED.to_string(),
                    ops: v.ops,
                    events: f.disk_losses.clone(),
                });
            }
            None => stand.push(v),
        }
    }
    (stand, excused)
}

/// A ZooKeeper server's state as `liveness.rejoin` follows it.
#[derive(Default)]
struct Member {
    up: bool,
    /// Its process exited after refusing to start (`RecoveryRefused`): pausing and
    /// resuming the node does not bring it back, only a new start does.
    exited: bool,
    in_ensemble: bool,
    joined_after_heal: bool,
    last_event: usize,
    /// While looking: when its election backoff lets it send its vote again
    /// (`VotesResent`), if it has re-sent at all.
    resend_due: Option<SimTime>,
}

impl Member {
    /// Follows event `i` (`r`), recorded on this member's node; joins count from `heal`.
    fn apply(&mut self, i: usize, r: &crate::history::EventRecord, heal: SimTime) {
        self.last_event = i;
        match &r.event {
            Event::Sim(SimEvent::NodeCrashed { .. }) => {
                self.up = false;
                self.in_ensemble = false;
                self.resend_due = None;
            }
            // A paused server keeps its role; resumed, it carries on from there (unless
            // its process had exited).
            Event::Sim(SimEvent::NodePaused) => self.up = false,
            Event::Sim(SimEvent::NodeResumed) => self.up = !self.exited,
            Event::Sim(SimEvent::NodeStarted { .. }) => {
                self.up = true;
                self.exited = false;
            }
            Event::Zk(ZkEvent::VotesResent { next_in_ms, .. }) => {
                self.resend_due = Some(r.at.plus(Duration::from_millis(*next_in_ms)));
            }
            Event::Zk(ZkEvent::LeaderEstablished { .. }) => {
                self.in_ensemble = true;
                self.resend_due = None;
            }
            Event::Zk(ZkEvent::RoleChanged {
                role: ZkRole::Following,
                epoch,
            }) => {
                self.in_ensemble = *epoch > 0;
                self.resend_due = None;
            }
            Event::Zk(ZkEvent::RoleChanged { .. } | ZkEvent::SteppedDown { .. })
            | Event::Zk(ZkEvent::Recovered { .. }) => self.in_ensemble = false,
            // Its process exited (refused_to_start names it in the report's notes).
            Event::Zk(ZkEvent::RecoveryRefused { .. }) => {
                self.up = false;
                self.exited = true;
                self.in_ensemble = false;
                self.resend_due = None;
            }
            _ => {}
        }
        if r.at >= heal && self.up && self.in_ensemble {
            self.joined_after_heal = true;
        }
    }
}

/// What `liveness.rejoin` concluded: the violations, and the servers it could not judge
/// because their election backoff outlasted the history.
struct Rejoin {
    violations: Vec<Violation>,
    unjudged: Vec<String>,
}

/// `liveness.rejoin` (judged only when a leader was seen after the heal): every server that
/// recorded ZooKeeper events and is running (started, not crashed, not paused) at its
/// deadline was a synced follower (`RoleChanged` to Following with a nonzero epoch,
/// recorded at UPTODATE) or an established leader at some moment between the heal and that
/// deadline, which includes a server still in the ensemble then that recorded nothing since
/// (idle). The deadline is the heal plus `bound`, except for a server still looking whose
/// election backoff (FastLeaderElection doubles its poll timeout up to
/// maxNotificationInterval, 60 s) holds its next vote past the heal: nobody in an
/// established ensemble writes to a looking server first, and a vote sent before the
/// others held a quorum in the ensemble again is answered by no quorum of agreeing
/// FOLLOWING/LEADING votes, so it is due only `bound` after its first resend at or after
/// the others settled. A server that had not joined by the history's end, with its
/// deadline after that end, is not judged.
fn rejoin_violations(
    history: &History,
    heal: SimTime,
    bound: Duration,
    end: SimTime,
    heal_events: &[usize],
) -> Rejoin {
    let servers: BTreeSet<&str> = history
        .events
        .iter()
        .filter(|r| matches!(&r.event, Event::Zk(e) if !e.is_client_side()))
        .map(|r| r.node.as_str())
        .collect();
    let fresh = || {
        servers
            .iter()
            .map(|&n| {
                (
                    n,
                    Member {
                        up: true,
                        ..Member::default()
                    },
                )
            })
            .collect::<BTreeMap<&str, Member>>()
    };
    // Each server's state after the events up to `until` (joins counted from the heal).
    let replay = |until: SimTime| {
        let mut members = fresh();
        for (i, r) in history.events.iter().enumerate() {
            if r.at > until {
                break;
            }
            if let Some(m) = members.get_mut(r.node.as_str()) {
                m.apply(i, r, heal);
            }
        }
        members
    };
    // When, after the heal, the servers other than each one first held a quorum in the
    // ensemble: only from then on can a looking server's vote be answered by a quorum of
    // agreeing FOLLOWING/LEADING votes, so its due resend is the first at or after that.
    let quorum = servers.len() / 2 + 1;
    let mut settled: BTreeMap<&str, SimTime> = BTreeMap::new();
    {
        let mut note_settled = |members: &BTreeMap<&str, Member>, at: SimTime| {
            for node in &servers {
                let others = members
                    .iter()
                    .filter(|(n, m)| *n != node && m.up && m.in_ensemble)
                    .count();
                if others >= quorum {
                    settled.entry(node).or_insert(at);
                }
            }
        };
        let mut members = fresh();
        let mut past_heal = false;
        for (i, r) in history.events.iter().enumerate() {
            if r.at > heal && !past_heal {
                note_settled(&members, heal);
                past_heal = true;
            }
            if let Some(m) = members.get_mut(r.node.as_str()) {
                m.apply(i, r, heal);
            }
            if past_heal {
                note_settled(&members, r.at);
            }
        }
    }
    let deadline_of = |node: &str| {
        let from = settled.get(node).copied().unwrap_or(heal);
        let due = replay(from)
            .get(node)
            .and_then(|m| m.resend_due)
            .filter(|d| *d > heal);
        heal.plus(bound)
            .max(due.map_or(SimTime::ZERO, |d| d.plus(bound)))
    };
    let deadline_by: BTreeMap<&str, SimTime> =
        servers.iter().map(|n| (*n, deadline_of(n))).collect();
    let deadlines: BTreeSet<SimTime> = deadline_by.values().copied().collect();
    let mut out = Rejoin {
        violations: Vec::new(),
        unjudged: Vec::new(),
    };
    for deadline in deadlines {
        let members = replay(deadline);
        for (node, m) in members {
            if deadline_by[node] != deadline {
                continue;
            }
            if deadline > end {
                if !m.joined_after_heal {
                    out.unjudged.push(format!(
                        "{node}: looking after the heal with its next vote due after the ensemble settled (election backoff), so due to rejoin by {deadline}, after the history ends at {end}"
                    ));
                }
                continue;
            }
            if m.up && !m.joined_after_heal && !m.in_ensemble {
                let mut events = heal_events.to_vec();
                events.push(m.last_event);
                out.violations.push(Violation {
                    checker: "liveness.rejoin".into(),
                    message: format!(
                        "{node} was running but never joined the ensemble between the heal at {heal} and {deadline}"
                    ),
                    ops: vec![],
                    events,
                    state_before: None,
                });
            }
        }
    }
    out
}
