//! ZooKeeper's watch guarantees, judged from what each client saw: the watches its reads
//! left ([`ZkEvent::WatchSet`]), the notifications it received
//! ([`ZkEvent::WatchDelivered`]) and the zxids of the responses it received (client ops).
//!
//! The ZooKeeper Programmer's Guide ("ZooKeeper Watches") promises:
//! - "Watches are one time triggers; if you get a watch event and you want to get notified
//!   of future changes, you must set another watch" and "a watch object ... is only
//!   triggered once" per (path, event) even when set by several calls: [`check_once`];
//! - "Watches are ordered with respect to other events, other watches, and asynchronous
//!   replies. The ZooKeeper client libraries ensures that everything is dispatched in
//!   order": [`check_ordered`];
//! - "A client will see a watch event for a znode it is watching before seeing the new data
//!   that corresponds to that znode": [`check_before_data`]. The server side of this is
//!   `DataTree.setData` etc. triggering watches while the transaction is applied, before
//!   `FinalRequestProcessor` sends the reply, on one ordered connection.
//!
//! Which event consumes which watch follows `WatchManager.triggerWatch` as `DataTree`
//! calls it: NodeCreated and NodeDataChanged trigger data and exist watches on the path;
//! NodeDeleted triggers data, exist and child watches on the path; NodeChildrenChanged
//! triggers child watches on the path.
//!
//! Responses and notifications are ordered by the client's receive time. Two things the
//! client received at the same simulated instant are taken in the order that makes the
//! history legal (the record order between a client's own op log and the trace is not
//! kept), so a tie never makes a violation.

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::{Call, Event, History, Outcome, Ret, ZkEvent};
use std::collections::{BTreeMap, BTreeSet};

/// Rule names, as violations carry them.
pub const ONCE: &str = "zk.watches.once";
/// See [`ONCE`].
pub const ORDERED: &str = "zk.watches.ordered";
/// See [`ONCE`].
pub const BEFORE_DATA: &str = "zk.watches.before-data";

/// One thing a session received, in receive order.
#[derive(Clone, Debug)]
enum Seen {
    /// A watch-setting read was answered (event index).
    Set {
        ev: usize,
        path: String,
        kind: String,
        zxid: i64,
    },
    /// A notification arrived (event index).
    Delivered {
        ev: usize,
        path: String,
        event: String,
        zxid: i64,
    },
    /// A response with a server zxid arrived (op index).
    Response { op: usize, zxid: i64 },
    /// After a reconnection, the server set these (path, kind) watches again without
    /// firing them, at its last processed zxid (event index; [`ZkEvent::WatchesRestored`]).
    Restored {
        ev: usize,
        zxid: i64,
        watches: Vec<(String, String)>,
    },
}

/// Per session, what it received, sorted by receive time; at one instant, notifications
/// and watch registrations (trace order) come before responses.
fn streams(h: &History) -> BTreeMap<i64, Vec<(u64, u8, usize, Seen)>> {
    let mut out: BTreeMap<i64, Vec<(u64, u8, usize, Seen)>> = BTreeMap::new();
    for (i, r) in h.events.iter().enumerate() {
        let Event::Zk(e) = &r.event else { continue };
        match e {
            ZkEvent::WatchSet {
                session,
                path,
                watch,
                zxid,
            } => out.entry(*session).or_default().push((
                r.at.0,
                0,
                i,
                Seen::Set {
                    ev: i,
                    path: path.clone(),
                    kind: watch.clone(),
                    zxid: *zxid,
                },
            )),
            ZkEvent::WatchDelivered {
                session,
                path,
                event,
                zxid,
            } => out.entry(*session).or_default().push((
                r.at.0,
                0,
                i,
                Seen::Delivered {
                    ev: i,
                    path: path.clone(),
                    event: event.clone(),
                    zxid: *zxid,
                },
            )),
            _ => {}
        }
    }
    // A re-registration is recorded by the server; it joins the stream of a session that
    // records client events, at the time the server applied it (before anything the server
    // sent after it on that connection reaches the client).
    for (i, r) in h.events.iter().enumerate() {
        let Event::Zk(ZkEvent::WatchesRestored {
            session,
            zxid,
            data,
            exist,
            child,
        }) = &r.event
        else {
            continue;
        };
        if let Some(v) = out.get_mut(session) {
            let watches = [("data", data), ("exist", exist), ("child", child)]
                .into_iter()
                .flat_map(|(k, ps)| ps.iter().map(move |p| (p.clone(), k.to_string())))
                .collect();
            v.push((
                r.at.0,
                0,
                i,
                Seen::Restored {
                    ev: i,
                    zxid: *zxid,
                    watches,
                },
            ));
        }
    }
    // Only sessions that record client events have streams: a response alone says nothing
    // about watches.
    for (i, op) in h.ops.iter().enumerate() {
        let (Some(s), Some(done), Some(z)) = (op.session, op.complete, op.zxid) else {
            continue;
        };
        if op.outcome == Outcome::Info || z == 0 || !op.call.is_zookeeper() {
            continue;
        }
        if let Some(v) = out.get_mut(&s) {
            v.push((done.0, 1, i, Seen::Response { op: i, zxid: z }));
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|(at, rank, idx, _)| (*at, *rank, *idx));
    }
    out
}

/// The watch kinds a notification consumes (`WatchManager.triggerWatch` per event type).
fn consumed_kinds(event: &str) -> &'static [&'static str] {
    match event {
        "NodeCreated" | "NodeDataChanged" => &["data", "exist"],
        "NodeDeleted" => &["data", "exist", "child"],
        "NodeChildrenChanged" => &["child"],
        _ => &[],
    }
}

/// The events that trigger a watch of `kind` on its own path.
fn triggers(kind: &str, event: &str) -> bool {
    consumed_kinds(event).contains(&kind)
}

fn report(
    h: &History,
    name: &str,
    violations: Vec<Violation>,
    stats: CheckStats,
    nothing: &str,
) -> CheckReport {
    let verdict = if violations.is_empty() && stats.checked == 0 {
        Verdict::Unknown {
            reason: format!("nothing to judge: {nothing}"),
        }
    } else {
        super::zk_lifetimes::judge(h, violations)
    };
    CheckReport::new(name, verdict, stats)
}

/// `zk.watches.once`: every notification a session receives consumes a watch it holds on
/// that path of a kind the event triggers (so no watch fires twice, and none fires that
/// was never set), and it reports a change after the watch was set (its zxid is above the
/// zxid of the read that set the watch). Source: ZooKeeper Programmer's Guide, "ZooKeeper
/// Watches" (one-time triggers); `WatchManager.triggerWatch` removes what it fires.
/// `unknown` when no notification was received.
pub fn check_once(h: &History) -> CheckReport {
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    for (session, stream) in streams(h) {
        // (path, kind) -> (zxid set, event index)
        let mut pending: BTreeMap<(String, String), (i64, usize)> = BTreeMap::new();
        // Notifications that consumed a watch: a re-registration (SetWatches) answers a
        // data and a child watch on a deleted node with one NodeDeleted each
        // (`DataTree.setWatches`), and the client collapses the second into the first
        // (`ZKWatchManager.materialize` removes every kind at the first).
        let mut consumed: BTreeSet<(String, String, i64)> = BTreeSet::new();
        for (_, _, _, seen) in stream {
            match seen {
                Seen::Set {
                    ev,
                    path,
                    kind,
                    zxid,
                } => {
                    // Several registrations of one kind coalesce into one watch.
                    pending.entry((path, kind)).or_insert((zxid, ev));
                }
                Seen::Delivered {
                    ev,
                    path,
                    event,
                    zxid,
                } => {
                    stats.checked += 1;
                    let held: Vec<(String, i64, usize)> = consumed_kinds(&event)
                        .iter()
                        .filter_map(|k| {
                            pending
                                .remove(&(path.clone(), k.to_string()))
                                .map(|(z, e)| (k.to_string(), z, e))
                        })
                        .collect();
                    if held.is_empty() && consumed.contains(&(path.clone(), event.clone(), zxid)) {
                        continue;
                    }
                    if !held.is_empty() {
                        consumed.insert((path.clone(), event.clone(), zxid));
                    }
                    if held.is_empty() {
                        violations.push(Violation {
                            checker: ONCE.into(),
                            message: format!(
                                "session {session:#x} received {event} for {path} (zxid {zxid:#x}) without holding a watch it triggers: the watch fired twice, or was never set"
                            ),
                            ops: vec![],
                            events: vec![ev],
                            state_before: None,
                        });
                        continue;
                    }
                    for (kind, set_zxid, set_ev) in held {
                        if zxid <= set_zxid {
                            violations.push(Violation {
                                checker: ONCE.into(),
                                message: format!(
                                    "session {session:#x} received {event} for {path} at zxid {zxid:#x}, not after its {kind} watch was set at {set_zxid:#x}"
                                ),
                                ops: vec![],
                                events: vec![set_ev, ev],
                                state_before: None,
                            });
                        }
                    }
                }
                Seen::Response { .. } | Seen::Restored { .. } => {}
            }
        }
    }
    report(
        h,
        ONCE,
        violations,
        stats,
        "no watch notification reached a recorded client",
    )
}

/// `zk.watches.ordered`: a session receives notifications in zxid order and never one
/// older than a response it already received (each notification's zxid is at least every
/// zxid the session saw before it). Source: ZooKeeper Programmer's Guide, "ZooKeeper
/// Watches" ("Watches are ordered with respect to other events, other watches, and
/// asynchronous replies"). `unknown` when no notification was received.
pub fn check_ordered(h: &History) -> CheckReport {
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    for (session, stream) in streams(h) {
        let mut seen_max: Option<(i64, Option<usize>, Option<usize>)> = None;
        for (_, _, _, seen) in stream {
            match seen {
                Seen::Response { op, zxid } => {
                    if seen_max.is_none_or(|(m, ..)| zxid > m) {
                        seen_max = Some((zxid, Some(op), None));
                    }
                }
                Seen::Delivered {
                    ev,
                    path,
                    event,
                    zxid,
                } => {
                    stats.checked += 1;
                    if let Some((m, op, prev_ev)) = seen_max {
                        if zxid < m {
                            violations.push(Violation {
                                checker: ORDERED.into(),
                                message: format!(
                                    "session {session:#x} received {event} for {path} at zxid {zxid:#x} after it had already seen zxid {m:#x}"
                                ),
                                ops: op.into_iter().collect(),
                                events: prev_ev.into_iter().chain([ev]).collect(),
                                state_before: None,
                            });
                            continue;
                        }
                    }
                    if seen_max.is_none_or(|(m, ..)| zxid > m) {
                        seen_max = Some((zxid, None, Some(ev)));
                    }
                }
                Seen::Set { .. } | Seen::Restored { .. } => {}
            }
        }
    }
    report(
        h,
        ORDERED,
        violations,
        stats,
        "no watch notification reached a recorded client",
    )
}

/// One change a recorded write made: (zxid, path, event type, op index if an op made it).
type Change = (i64, String, &'static str, Option<usize>);

/// A change as [`check_before_data`] indexes it by path: (zxid, event type, op index).
type PathChange = (i64, &'static str, Option<usize>);

/// Every change recorded writes made, and the ephemeral deletions of session closes.
fn known_changes(h: &History) -> Vec<Change> {
    fn parent(path: &str) -> Option<String> {
        let cut = path.rfind('/')?;
        Some(if cut == 0 {
            "/".to_string()
        } else {
            path[..cut].to_string()
        })
    }
    fn one(call: &Call, ret: Option<&Ret>, z: i64, out: &mut Vec<(i64, String, &'static str)>) {
        match call {
            Call::Create { path, .. } => {
                let actual = match ret {
                    Some(Ret::Path { path }) => path.clone(),
                    _ => path.clone(),
                };
                if let Some(p) = parent(&actual) {
                    out.push((z, p, "NodeChildrenChanged"));
                }
                out.push((z, actual, "NodeCreated"));
            }
            Call::Delete { path, .. } => {
                if let Some(p) = parent(path) {
                    out.push((z, p, "NodeChildrenChanged"));
                }
                out.push((z, path.clone(), "NodeDeleted"));
            }
            Call::SetData { path, .. } => out.push((z, path.clone(), "NodeDataChanged")),
            Call::Multi { ops } => {
                let results = match ret {
                    Some(Ret::Multi { results }) => results.as_slice(),
                    _ => &[],
                };
                for (i, c) in ops.iter().enumerate() {
                    one(c, results.get(i), z, out);
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<Change> = Vec::new();
    for (i, op) in h.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        if let Some(z) = op.zxid {
            let mut mine = Vec::new();
            one(&op.call, Some(&op.ret), z, &mut mine);
            out.extend(mine.into_iter().map(|(z, p, e)| (z, p, e, Some(i))));
        }
    }
    // A session's close deletes its ephemerals at the close's zxid.
    let mut ended: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &h.events {
        if let Event::Zk(ZkEvent::SessionEnded { session, zxid, .. }) = &r.event {
            ended.insert(*session, *zxid);
        }
    }
    let mut listed: BTreeSet<(i64, String)> = BTreeSet::new();
    for r in &h.events {
        if let Event::Zk(ZkEvent::SessionClosed {
            session,
            ephemerals,
            ..
        }) = &r.event
        {
            if let Some(z) = ended.get(session) {
                for p in ephemerals {
                    if listed.insert((*z, p.clone())) {
                        let mut mine = Vec::new();
                        one(
                            &Call::Delete {
                                path: p.clone(),
                                version: -1,
                            },
                            None,
                            *z,
                            &mut mine,
                        );
                        out.extend(mine.into_iter().map(|(z, p, e)| (z, p, e, None)));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `zk.watches.before-data`: once a session holds a watch and a recorded write changes
/// the watched znode in a way the watch triggers on (at zxid Z), the session receives the
/// notification before any response at a zxid of Z or later (a response at Z or later
/// comes from a server that has applied the change, so it can show the new data).
/// Source: ZooKeeper Programmer's Guide, "ZooKeeper Watches" ("A client will see a watch
/// event for a znode it is watching before seeing the new data that corresponds to that
/// znode"). One exception, from the same guide: an exist watch re-registered after a
/// reconnection ([`ZkEvent::WatchesRestored`]) at a point where a recorded delete had
/// already removed the node it was created as (created and deleted while disconnected) is
/// missed; the re-registered watch is judged from there. Changes made by clients the
/// history does not record are not known, so a
/// watch they fire is judged only by [`check_once`]. `unknown` when no watch was followed
/// by a known change and a later response or notification.
pub fn check_before_data(h: &History) -> CheckReport {
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    let changes = known_changes(h);
    let mut by_path: BTreeMap<&str, Vec<PathChange>> = BTreeMap::new();
    for (z, p, e, op) in &changes {
        by_path.entry(p.as_str()).or_default().push((*z, e, *op));
    }
    let maybe_deleted = indefinite_deletes(h);
    for (session, stream) in streams(h) {
        // Every watch the session was seen to hold: set by a read, or set again by a
        // re-registration after a reconnection.
        let held: Vec<(usize, usize, &String, &str, i64)> = stream
            .iter()
            .enumerate()
            .flat_map(|(i, (_, _, _, seen))| match seen {
                Seen::Set {
                    ev,
                    path,
                    kind,
                    zxid,
                } => vec![(i, *ev, path, kind.as_str(), *zxid)],
                Seen::Restored { ev, zxid, watches } => watches
                    .iter()
                    .map(|(p, k)| (i, *ev, p, k.as_str(), *zxid))
                    .collect(),
                _ => vec![],
            })
            .collect();
        for (i, ev, path, kind, z0) in held {
            let (ev, z0) = (&ev, &z0);
            let Some(&(zc, event, change_op)) = by_path
                .get(path.as_str())
                .and_then(|v| v.iter().find(|(z, e, _)| *z > *z0 && triggers(kind, e)))
            else {
                continue;
            };
            // What came first after the watch was set: its notification (any event it
            // triggers on this path) or a response at zxid >= zc?
            for (_, _, _, later) in &stream[i + 1..] {
                match later {
                    Seen::Delivered {
                        path: p, event: e, ..
                    } if p == path && triggers(kind, e) => {
                        stats.checked += 1;
                        break;
                    }
                    // The Programmer's Guide's one exception ("a watch for the existence
                    // of a znode not yet created will be missed if the znode is created
                    // and deleted while disconnected"): `DataTree.setWatches` fires an
                    // exist watch only if the node exists when the re-registration is
                    // applied, else sets it again. Allowed when a recorded change deleted
                    // the node after the creation and no later than that point; the
                    // re-registered watch is then judged on its own from there.
                    Seen::Restored {
                        zxid: zr, watches, ..
                    } if *zr >= zc
                        && kind == "exist"
                        && watches.iter().any(|(p, k)| p == path && k == kind) =>
                    {
                        let deleted = by_path.get(path.as_str()).is_some_and(|v| {
                            v.iter()
                                .any(|(z, e, _)| *e == "NodeDeleted" && *z > zc && *z <= *zr)
                        });
                        if deleted {
                            stats.checked += 1;
                        } else if maybe_deleted.contains(path.as_str()) {
                            // A delete with an unknown outcome may have removed it:
                            // not judged.
                            stats.skipped += 1;
                        } else {
                            continue;
                        }
                        break;
                    }
                    Seen::Response { op, zxid } if *zxid >= zc => {
                        stats.checked += 1;
                        violations.push(Violation {
                            checker: BEFORE_DATA.into(),
                            message: format!(
                                "session {session:#x} held a {kind} watch on {path} (set at zxid {z0:#x}); {event} happened at {zc:#x}, yet the session received a response at zxid {zxid:#x} before the notification"
                            ),
                            ops: change_op.into_iter().chain([*op]).collect(),
                            events: vec![*ev],
                            state_before: None,
                        });
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    report(
        h,
        BEFORE_DATA,
        violations,
        stats,
        "no watch was followed by a recorded change it triggers on and a later notification or response",
    )
}

/// Paths that a write with an unknown outcome (indefinite) would have deleted.
fn indefinite_deletes(h: &History) -> BTreeSet<&str> {
    fn add<'a>(call: &'a Call, out: &mut BTreeSet<&'a str>) {
        match call {
            Call::Delete { path, .. } => {
                out.insert(path.as_str());
            }
            Call::Multi { ops } => ops.iter().for_each(|c| add(c, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for op in h.ops.iter().filter(|o| o.outcome == Outcome::Info) {
        add(&op.call, &mut out);
    }
    out
}

/// The three watch rules, in [`super::rules::RULES`] order.
pub fn check(h: &History) -> Vec<CheckReport> {
    vec![check_once(h), check_ordered(h), check_before_data(h)]
}
