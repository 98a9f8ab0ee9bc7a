//! ZooKeeper's promises about how long things live: an ephemeral znode lives exactly as
//! long as its owner session, and a session expires when, and only when, its client has
//! been silent for its timeout.
//!
//! - [`check_ephemerals`] (`zk.ephemerals.lifetime`): ZooKeeper Programmer's Guide,
//!   "Ephemeral Nodes" ("These znodes exists as long as the session that created the znode
//!   is active. When the session ends the znode is deleted"); the server side is
//!   `PrepRequestProcessor` listing the session's ephemerals in closeSession and
//!   `DataTree.killSession` deleting them. ZOOKEEPER-1208, ZOOKEEPER-1496 and
//!   ZOOKEEPER-2355 are bugs that broke it.
//! - [`check_expiry_bounds`] (`zk.sessions.expiry-bounds`): `SessionTrackerImpl` with its
//!   `ExpiryQueue` buckets of width tickTime: a touch at `now` sets the deadline to
//!   `(⌊(now + timeout) / tick⌋ + 1) × tick`, and the tracker thread expires a bucket when
//!   its time comes, so a silent session expires after more than its timeout and no later
//!   than timeout + tickTime after its last touch, by the leader's clock.
//! - [`check_no_false_expiry`] (`zk.sessions.no-false-expiry`): the Programmer's Guide,
//!   "ZooKeeper Sessions" (the session stays alive while the client keeps talking to the
//!   ensemble within the timeout: "the client will send a PING request to keep the session
//!   alive"), with the touch path of `LearnerSessionTracker` (a follower ships the touches
//!   it saw in its next PING reply, at most half a tick later) and `SessionTrackerImpl`.
//!
//! The session rules allow what faults explain: a paused leader or a changed leader clock
//! makes expiry late or early by the leader's own measure, and a partition, cut, crash,
//! pause or lossy network can keep a client's pings from reaching the leader. Such
//! expiries are counted as excused, not judged.

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::SimEvent;
use crate::history::{Call, Event, History, Outcome, Ret, ZkEvent};
use std::collections::{BTreeMap, BTreeSet};

/// Rule names, as violations carry them.
pub const EPHEMERALS: &str = "zk.ephemerals.lifetime";
/// See [`EPHEMERALS`].
pub const EXPIRY_BOUNDS: &str = "zk.sessions.expiry-bounds";
/// See [`EPHEMERALS`].
pub const NO_FALSE_EXPIRY: &str = "zk.sessions.no-false-expiry";

/// How late the leader's expiry may run after its bucket's deadline: the host's timer fires
/// at the deadline by the local clock and the step runs at once; this covers rounding of
/// the local clock to whole milliseconds and timers queued behind other inputs.
pub const EXPIRY_LATE_MAX_MS: u64 = 20;

/// The verdict on `violations`: those that depend on a transaction lost to a voter's
/// amnesia (outside ZooKeeper's fault model, see [`super::zk_amnesia`]) become excuses.
pub(crate) fn judge(h: &History, violations: Vec<Violation>) -> Verdict {
    let (violations, excuses) = super::zk_amnesia::find(h).split(h, violations);
    Verdict::judge(violations, excuses)
}

fn nanos(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

/// Committed session ends: session -> (close zxid, event index, expired). Every server
/// that applies a close records it; the leader's record (the only one that knows
/// `expired`) is preferred.
fn session_ends(h: &History) -> BTreeMap<i64, (i64, usize, bool)> {
    let mut out: BTreeMap<i64, (i64, usize, bool)> = BTreeMap::new();
    for (i, r) in h.events.iter().enumerate() {
        if let Event::Zk(ZkEvent::SessionEnded {
            session,
            zxid,
            expired,
            leader_ms,
        }) = &r.event
        {
            let e = out.entry(*session).or_insert((*zxid, i, *expired));
            if *leader_ms > 0 || *expired {
                *e = (*zxid, i, *expired);
            }
        }
    }
    out
}

/// Sessions known to be gone by the end of the run although no server recorded when:
/// created by a recorded op's session, absent from every serving server's final session
/// table (a server can learn of a close through a snapshot, which applies no transaction).
fn ended_undated(h: &History, ends: &BTreeMap<i64, (i64, usize, bool)>) -> BTreeSet<i64> {
    let mut finals = false;
    let mut live: BTreeSet<i64> = BTreeSet::new();
    for r in &h.events {
        if let Event::Zk(ZkEvent::FinalEphemerals { sessions, .. }) = &r.event {
            finals = true;
            live.extend(sessions.iter().copied());
        }
    }
    h.ops
        .iter()
        .filter_map(|o| o.session)
        .filter(|s| !ends.contains_key(s) && (!finals || !live.contains(s)))
        .collect()
}

/// An ephemeral a recorded client created.
struct Ephemeral {
    owner: i64,
    path: String,
    czxid: i64,
    op: usize,
    sequential: bool,
}

fn recorded_ephemerals(h: &History) -> Vec<Ephemeral> {
    fn one(call: &Call, ret: &Ret, owner: i64, z: i64, op: usize, out: &mut Vec<Ephemeral>) {
        match (call, ret) {
            (
                Call::Create {
                    ephemeral: true,
                    sequential,
                    ..
                },
                Ret::Path { path },
            ) => out.push(Ephemeral {
                owner,
                path: path.clone(),
                czxid: z,
                op,
                sequential: *sequential,
            }),
            (Call::Multi { ops }, Ret::Multi { results }) => {
                for (c, r) in ops.iter().zip(results) {
                    one(c, r, owner, z, op, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (i, op) in h.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        if let (Some(s), Some(z)) = (op.session, op.zxid) {
            one(&op.call, &op.ret, s, z, i, &mut out);
        }
    }
    out
}

/// Paths a recorded op may have deleted (acknowledged or unknown outcome), with the op's
/// invoke time: such a path may legitimately vanish from then on.
fn deletes(h: &History) -> BTreeMap<String, u64> {
    fn one(call: &Call, at: u64, out: &mut BTreeMap<String, u64>) {
        match call {
            Call::Delete { path, .. } => {
                let e = out.entry(path.clone()).or_insert(at);
                *e = (*e).min(at);
            }
            Call::Multi { ops } => ops.iter().for_each(|c| one(c, at, out)),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for op in &h.ops {
        if op.outcome != Outcome::Fail {
            one(&op.call, op.invoke.0, &mut out);
        }
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => path,
    }
}

/// `zk.ephemerals.lifetime`: (1) no read answered at or after the zxid of a session's
/// close or expiry shows one of its ephemerals (a Stat whose ephemeralOwner is the ended
/// session, or a child listing holding one of its sequential ephemerals); (2) at the end
/// of the run no serving server holds an ephemeral whose owner has ended (by its own last
/// zxid) or is missing from its session table; (3) an ephemeral a recorded client created
/// is seen by every read of its path (or its parent's children) answered after its create
/// and before its owner ended, unless some recorded op may have deleted it. `unknown`
/// when the history shows no ephemeral at all.
pub fn check_ephemerals(h: &History) -> CheckReport {
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    let ends = session_ends(h);
    let ephemerals = recorded_ephemerals(h);
    let dels = deletes(h);
    let mut seq_of: BTreeMap<(String, String), i64> = BTreeMap::new();
    for e in ephemerals.iter().filter(|e| e.sequential) {
        seq_of.insert(
            (parent(&e.path).to_string(), file_name(&e.path).to_string()),
            e.owner,
        );
    }
    let mut judged_ephemerals: BTreeSet<(i64, String)> = ephemerals
        .iter()
        .map(|e| (e.owner, e.path.clone()))
        .collect();
    // (1) Reads after the owner's end.
    for (i, op) in h.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let Some(z) = op.zxid else { continue };
        let mut shown: Vec<(String, i64)> = Vec::new();
        match (&op.call, &op.ret) {
            (Call::GetData { path, .. }, Ret::Data { stat, .. })
            | (Call::Exists { path, .. }, Ret::Stat { stat: Some(stat) })
                if stat.ephemeral_owner != 0 =>
            {
                shown.push((path.clone(), stat.ephemeral_owner));
            }
            (Call::GetChildren { path, .. }, Ret::Children { children, .. }) => {
                for c in children {
                    if let Some(owner) = seq_of.get(&(path.clone(), c.clone())) {
                        let full = if path == "/" {
                            format!("/{c}")
                        } else {
                            format!("{path}/{c}")
                        };
                        shown.push((full, *owner));
                    }
                }
            }
            _ => {}
        }
        for (path, owner) in shown {
            stats.checked += 1;
            if let Some(&(zend, ev, expired)) = ends.get(&owner) {
                if z >= zend {
                    violations.push(Violation {
                        checker: EPHEMERALS.into(),
                        message: format!(
                            "a read answered at zxid {z:#x} shows ephemeral {path} of session {owner:#x}, whose {} committed at {zend:#x}",
                            if expired { "expiry" } else { "close" }
                        ),
                        ops: vec![i],
                        events: vec![ev],
                        state_before: None,
                    });
                }
            }
        }
    }
    // (2) End-of-run trees. A violation names the recorded create too: a server can hold
    // an ephemeral its session table lacks when the two came from different histories of
    // one epoch number (amnesia hands an epoch out again), which the create's zxid shows.
    let created_by: BTreeMap<(i64, &str), usize> = ephemerals
        .iter()
        .map(|e| ((e.owner, e.path.as_str()), e.op))
        .collect();
    for (i, r) in h.events.iter().enumerate() {
        let Event::Zk(ZkEvent::FinalEphemerals {
            zxid,
            ephemerals: held,
            sessions,
        }) = &r.event
        else {
            continue;
        };
        let live: BTreeSet<i64> = sessions.iter().copied().collect();
        for (path, owner) in held {
            stats.checked += 1;
            judged_ephemerals.insert((*owner, path.clone()));
            let create: Vec<usize> = created_by
                .get(&(*owner, path.as_str()))
                .copied()
                .into_iter()
                .collect();
            let ended = ends.get(owner).filter(|(zend, ..)| *zend <= *zxid);
            if let Some(&(zend, ev, _)) = ended {
                violations.push(Violation {
                    checker: EPHEMERALS.into(),
                    message: format!(
                        "{} ends the run at zxid {zxid:#x} still holding ephemeral {path} of session {owner:#x}, which ended at {zend:#x}",
                        r.node
                    ),
                    ops: create.clone(),
                    events: vec![ev, i],
                    state_before: None,
                });
            } else if !live.contains(owner) {
                violations.push(Violation {
                    checker: EPHEMERALS.into(),
                    message: format!(
                        "{} ends the run holding ephemeral {path} of session {owner:#x}, which is not in its session table",
                        r.node
                    ),
                    ops: create,
                    events: vec![i],
                    state_before: None,
                });
            }
        }
    }
    // (3) Reads that miss an ephemeral of a live owner (not judged for owners whose end
    // no server dated).
    let undated = ended_undated(h, &ends);
    for e in ephemerals.iter().filter(|e| !undated.contains(&e.owner)) {
        let zend = ends.get(&e.owner).map(|(z, ..)| *z);
        let deleted_from = dels.get(&e.path).copied();
        for (i, op) in h.ops.iter().enumerate() {
            let Some(z) = op.zxid else { continue };
            if z <= e.czxid || zend.is_some_and(|zend| z >= zend) {
                continue;
            }
            if op.outcome == Outcome::Info {
                continue;
            }
            if deleted_from.is_some_and(|d| d <= op.complete.map_or(u64::MAX, |c| c.0)) {
                continue;
            }
            let missing = match (&op.call, &op.ret) {
                (Call::GetData { path, .. }, Ret::Error { name, .. })
                | (Call::Exists { path, .. }, Ret::Error { name, .. })
                    if path == &e.path && name == "NoNode" =>
                {
                    true
                }
                (Call::Exists { path, .. }, Ret::Stat { stat: None }) if path == &e.path => true,
                (Call::GetChildren { path, .. }, Ret::Children { children, .. })
                    if path == parent(&e.path) && op.outcome == Outcome::Ok =>
                {
                    !children.iter().any(|c| c == file_name(&e.path))
                }
                _ => continue,
            };
            stats.checked += 1;
            if missing {
                violations.push(Violation {
                    checker: EPHEMERALS.into(),
                    message: format!(
                        "a read answered at zxid {z:#x} misses ephemeral {} (created at {:#x}) while its session {:#x} was still live and nothing deleted it",
                        e.path, e.czxid, e.owner
                    ),
                    ops: vec![e.op, i],
                    events: vec![],
                    state_before: None,
                });
            }
        }
    }
    stats.partitions = judged_ephemerals.len() as u64;
    let verdict = if violations.is_empty() && stats.checked == 0 {
        Verdict::Unknown {
            reason: "nothing to judge: no ephemeral znode was read or held at the end".into(),
        }
    } else {
        judge(h, violations)
    };
    CheckReport::new(EPHEMERALS, verdict, stats)
}

/// Faults that can make a leader's timing or a client's touches misbehave, as intervals
/// of simulated time (ns): partitions and cuts until healed, pauses until resumed, lossy
/// network until loss is off, and the instants of crashes, restarts and clock changes.
pub(crate) struct Disturbances {
    /// (from, to, node or "" for the whole network).
    spans: Vec<(u64, u64, String)>,
}

impl Disturbances {
    pub(crate) fn of(h: &History) -> Disturbances {
        let end = h.events.last().map_or(0, |r| r.at.0).max(
            h.ops
                .iter()
                .filter_map(|o| o.complete.map(|c| c.0))
                .max()
                .unwrap_or(0),
        );
        let mut spans = Vec::new();
        let mut net_since: Option<u64> = None;
        let mut lossy_since: Option<u64> = None;
        let mut paused: BTreeMap<String, u64> = BTreeMap::new();
        let mut down: BTreeMap<String, u64> = BTreeMap::new();
        for r in &h.events {
            let Event::Sim(e) = &r.event else { continue };
            let t = r.at.0;
            match e {
                SimEvent::Partitioned { .. } | SimEvent::LinkCut { .. } => {
                    net_since.get_or_insert(t);
                }
                SimEvent::Healed => {
                    if let Some(s) = net_since.take() {
                        spans.push((s, t, String::new()));
                    }
                }
                SimEvent::NetChanged {
                    loss_permille,
                    backlog_until_ns,
                    ..
                } => {
                    spans.push((t, t, String::new()));
                    if *loss_permille > 0 {
                        lossy_since.get_or_insert(t);
                    } else if let Some(s) = lossy_since.take() {
                        // Messages lost before the loss ended still wait out their
                        // retransmissions: the loss disturbs until the last is delivered.
                        spans.push((s, t.max(*backlog_until_ns), String::new()));
                    }
                }
                SimEvent::NodePaused => {
                    paused.insert(r.node.clone(), t);
                }
                SimEvent::NodeResumed => {
                    let s = paused.remove(&r.node).unwrap_or(t);
                    spans.push((s, t, r.node.clone()));
                }
                SimEvent::NodeCrashed { .. } => {
                    // A crash ends a pause: the process is gone, not frozen.
                    if let Some(s) = paused.remove(&r.node) {
                        spans.push((s, t, r.node.clone()));
                    }
                    down.insert(r.node.clone(), t);
                }
                SimEvent::NodeStarted { .. } => {
                    if let Some(s) = down.remove(&r.node) {
                        spans.push((s, t, r.node.clone()));
                    }
                }
                SimEvent::ClockChanged { .. } => spans.push((t, t, r.node.clone())),
                // A slow disk delays writes, not the leader's session clock or a client's
                // touches (pings need no disk).
                SimEvent::Note { .. } | SimEvent::DiskChanged { .. } => {}
            }
        }
        for s in net_since.into_iter().chain(lossy_since) {
            spans.push((s, end, String::new()));
        }
        for (n, s) in paused.into_iter().chain(down) {
            spans.push((s, end, n));
        }
        Disturbances { spans }
    }

    /// True if anything disturbed `[from, to]` (any node when `node` is `None`).
    pub(crate) fn any_in(&self, from: u64, to: u64, node: Option<&str>) -> bool {
        self.spans.iter().any(|(a, b, n)| {
            *a <= to && *b >= from && node.is_none_or(|want| n.is_empty() || n == want)
        })
    }

    /// True if `node` was paused, down or had its clock changed strictly inside
    /// `(from, to)`: a pause that ended at the very instant of `from` delayed nothing after.
    fn leader_timing_in(&self, from: u64, to: u64, node: &str) -> bool {
        self.spans
            .iter()
            .any(|(a, b, n)| n == node && *a < to && *b > from)
    }
}

/// `zk.sessions.expiry-bounds`: every expiry by a leader's tracker happens more than the
/// session's timeout and at most timeout + tickTime (+ [`EXPIRY_LATE_MAX_MS`]) after the
/// touch that put the session in its last bucket, by the leader's clock; and every bucket
/// deadline is a tick boundary in (touch + timeout, touch + timeout + tick]. Expiries whose
/// leader was paused, or whose clock changed, between that touch and the expiry are
/// excused (counted, not judged). Source: `SessionTrackerImpl` / `ExpiryQueue`
/// (`roundToNextInterval`); `unknown` when no session expired.
pub fn check_expiry_bounds(h: &History) -> CheckReport {
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    let dist = Disturbances::of(h);
    let mut counters = BTreeMap::from([
        ("expiries".to_string(), 0u64),
        ("expiries-excused".to_string(), 0),
        ("deadlines".to_string(), 0),
    ]);
    // node -> session -> (touch_ms, deadline_ms, timeout, tick, event index, sim ns)
    type Move = (u64, u64, u64, u64, usize, u64);
    let mut last: BTreeMap<String, BTreeMap<i64, Move>> = BTreeMap::new();
    for (i, r) in h.events.iter().enumerate() {
        let Event::Zk(e) = &r.event else { continue };
        match e {
            ZkEvent::RoleChanged { .. } => {
                last.remove(&r.node);
            }
            ZkEvent::SessionDeadline {
                session,
                timeout_ms,
                tick_ms,
                touch_ms,
                deadline_ms,
            } => {
                *counters.get_mut("deadlines").expect("key") += 1;
                let lo = touch_ms + timeout_ms;
                let ok = *tick_ms > 0
                    && deadline_ms % tick_ms == 0
                    && *deadline_ms > lo
                    && *deadline_ms <= lo + tick_ms;
                if !ok {
                    violations.push(Violation {
                        checker: EXPIRY_BOUNDS.into(),
                        message: format!(
                            "{} put session {session:#x} (timeout {timeout_ms} ms) touched at {touch_ms} ms in the bucket ending {deadline_ms} ms: not the tick boundary in ({lo}, {}] ms",
                            r.node,
                            lo + tick_ms
                        ),
                        ops: vec![],
                        events: vec![i],
                        state_before: None,
                    });
                }
                last.entry(r.node.clone()).or_default().insert(
                    *session,
                    (*touch_ms, *deadline_ms, *timeout_ms, *tick_ms, i, r.at.0),
                );
            }
            ZkEvent::SessionExpiring {
                session,
                timeout_ms,
                leader_ms,
                ..
            } => {
                *counters.get_mut("expiries").expect("key") += 1;
                let Some(&(touch, _deadline, _t, tick, ev, touch_at)) =
                    last.get(&r.node).and_then(|m| m.get(session))
                else {
                    stats.checked += 1;
                    violations.push(Violation {
                        checker: EXPIRY_BOUNDS.into(),
                        message: format!(
                            "{} expired session {session:#x} at {leader_ms} ms without having tracked it in this term",
                            r.node
                        ),
                        ops: vec![],
                        events: vec![i],
                        state_before: None,
                    });
                    continue;
                };
                if dist.leader_timing_in(touch_at, r.at.0, &r.node) {
                    *counters.get_mut("expiries-excused").expect("key") += 1;
                    continue;
                }
                stats.checked += 1;
                let silent = leader_ms.saturating_sub(touch);
                let hi = timeout_ms + tick + EXPIRY_LATE_MAX_MS;
                if *leader_ms < touch || silent <= *timeout_ms || silent > hi {
                    violations.push(Violation {
                        checker: EXPIRY_BOUNDS.into(),
                        message: format!(
                            "{} expired session {session:#x} at {leader_ms} ms, {silent} ms after its last touch at {touch} ms: outside ({timeout_ms}, {}] ms (timeout, timeout + tickTime)",
                            r.node,
                            timeout_ms + tick
                        ),
                        ops: vec![],
                        events: vec![ev, i],
                        state_before: None,
                    });
                }
            }
            _ => {}
        }
    }
    let verdict = if violations.is_empty() && stats.checked == 0 {
        Verdict::Unknown {
            reason: format!(
                "nothing to judge: no session expired outside a fault window ({} expiries, {} excused)",
                counters["expiries"], counters["expiries-excused"]
            ),
        }
    } else {
        judge(h, violations)
    };
    let mut report = CheckReport::new(EXPIRY_BOUNDS, verdict, stats);
    report.counters = counters;
    report
}

/// Error names that a client makes up itself, or that say the session is gone: a response
/// carrying one is no evidence that a server heard a live session.
const NOT_HEARD: &[&str] = &[
    "ConnectionLoss",
    "OperationTimeout",
    "SessionExpired",
    "SessionMoved",
];

/// `zk.sessions.no-false-expiry`: no session expires while its client is heard. A server
/// that answered the client during `[X - timeout, X - tickTime]`, X being the expiry's
/// time, had touched the session early enough for the leader to learn it before X (a
/// follower ships touches in its next PING reply, within half a tick), so the leader's
/// last touch was less than the timeout before X and it cannot have expired the session.
/// Evidence: a ZooKeeper op answered by a server (its `[invoke, complete]` inside the
/// window) or an answered ping (`[sent, received]` inside the window). Expiries with a fault anywhere in
/// `[X - timeout - tickTime, X]` are excused. Source: ZooKeeper Programmer's Guide,
/// "ZooKeeper Sessions"; `LearnerSessionTracker`, `SessionTrackerImpl.touchSession`.
/// `unknown` when no session was heard at all.
pub fn check_no_false_expiry(h: &History) -> CheckReport {
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    let dist = Disturbances::of(h);
    // session -> [(from, to, op index or event index, is_op)]
    let mut heard: BTreeMap<i64, Vec<(u64, u64, usize, bool)>> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        let (Some(s), Some(done), Some(_)) = (op.session, op.complete, op.node.as_ref()) else {
            continue;
        };
        if !op.call.is_zookeeper() {
            continue;
        }
        let answered = match (&op.outcome, &op.ret) {
            (Outcome::Ok, _) => true,
            (Outcome::Fail, Ret::Error { name, .. }) => !NOT_HEARD.contains(&name.as_str()),
            _ => false,
        };
        if answered {
            heard
                .entry(s)
                .or_default()
                .push((op.invoke.0, done.0, i, true));
        }
    }
    for (i, r) in h.events.iter().enumerate() {
        if let Event::Zk(ZkEvent::PingAnswered {
            session, sent_ns, ..
        }) = &r.event
        {
            heard
                .entry(*session)
                .or_default()
                .push((*sent_ns, r.at.0, i, false));
        }
    }
    let mut tick_of: BTreeMap<i64, u64> = BTreeMap::new();
    for r in &h.events {
        if let Event::Zk(ZkEvent::SessionDeadline {
            session, tick_ms, ..
        }) = &r.event
        {
            tick_of.insert(*session, *tick_ms);
        }
    }
    let mut counters = BTreeMap::from([
        ("sessions-heard".to_string(), heard.len() as u64),
        ("expiries-judged".to_string(), 0u64),
        ("expiries-excused".to_string(), 0),
    ]);
    stats.checked = heard.len() as u64;
    for (i, r) in h.events.iter().enumerate() {
        let Event::Zk(ZkEvent::SessionExpiring {
            session,
            timeout_ms,
            ..
        }) = &r.event
        else {
            continue;
        };
        let x = r.at.0;
        let t = nanos(*timeout_ms);
        let tick = nanos(tick_of.get(session).copied().unwrap_or(0));
        if tick == 0 || dist.any_in(x.saturating_sub(t + tick), x, None) {
            *counters.get_mut("expiries-excused").expect("key") += 1;
            continue;
        }
        *counters.get_mut("expiries-judged").expect("key") += 1;
        let (from, to) = (x.saturating_sub(t), x.saturating_sub(tick));
        let proof = heard
            .get(session)
            .and_then(|v| v.iter().find(|(a, b, ..)| *a >= from && *b <= to));
        if let Some(&(a, b, idx, is_op)) = proof {
            violations.push(Violation {
                checker: NO_FALSE_EXPIRY.into(),
                message: format!(
                    "{} expired session {session:#x} (timeout {timeout_ms} ms) although a server answered its client between {:.3}s and {:.3}s, within the timeout before the expiry at {:.3}s",
                    r.node,
                    a as f64 / 1e9,
                    b as f64 / 1e9,
                    x as f64 / 1e9
                ),
                ops: if is_op { vec![idx] } else { vec![] },
                events: if is_op { vec![i] } else { vec![idx, i] },
                state_before: None,
            });
        }
    }
    let verdict = if violations.is_empty() && stats.checked == 0 {
        Verdict::Unknown {
            reason: "nothing to judge: no recorded session was answered by a server".into(),
        }
    } else {
        judge(h, violations)
    };
    let mut report = CheckReport::new(NO_FALSE_EXPIRY, verdict, stats);
    report.counters = counters;
    report
}

/// The three lifetime rules, in [`super::rules::RULES`] order.
pub fn check(h: &History) -> Vec<CheckReport> {
    vec![
        check_ephemerals(h),
        check_expiry_bounds(h),
        check_no_false_expiry(h),
    ]
}
