//! The invariants of the recipes users build on ZooKeeper ("ZooKeeper Recipes and
//! Solutions": Locks, Group Membership), judged from what the recipe clients recorded:
//! their requests (creates, listings, deletes, the lock's fencing writes), their decisions
//! ([`ZkEvent::LockAcquired`]) and the servers' session ends.
//!
//! **Lock.** A client creates an ephemeral sequential child of the lock directory and
//! holds the lock once its child is the lowest; it watches the next lower child meanwhile.
//! [`ZkEvent::LockAcquired`] records each decision with the zxid of the listing it rests
//! on. An acquisition holds the lock, in ZooKeeper's order, from that zxid until its child
//! is deleted (released, or removed with its session); its fencing token is its child's
//! sequence number. Real time is not the order these rules use: a holder whose session
//! expired may act on the lock after the next client acquired it (which is why the recipe
//! page's clients fence their writes), and a client reading from a lagging follower decides
//! on an older state. ZooKeeper's promise is about its own order of states, and so are the
//! rules:
//! - [`check_lock_one_holder`] (`zk.lock.one-holder`): at most one holder at any zxid;
//! - [`check_lock_token_order`] (`zk.lock.token-order`): the fencing writes the holders make
//!   to the lock directory land in increasing token order;
//! - [`check_lock_predecessors`] (`zk.lock.predecessors-gone`): no acquisition while a
//!   lower-sequence child exists.
//!
//! **Group membership.** Members join with an ephemeral sequential child of the group
//! directory and follow the membership with `getChildren` and a child watch, reading the
//! list again on every NodeChildrenChanged:
//! - [`check_group_converges`] (`zk.group.converges`): a member that stays connected has
//!   read the membership as of the latest change within [`RecipeParams::group_settle`].
//!
//! Evidence that a child existed at a zxid is taken only where it is certain: created no
//! later (a recorded create's zxid, or a listing at or before it showing the child) and not
//! yet deleted (a known deletion zxid after it, or a listing at or after it showing the
//! child). A deletion zxid is known from an acknowledged delete, or from the owner
//! session's end when no delete of the child has an unknown outcome. A violation that rests
//! on a transaction lost to a voter's amnesia (a fault outside ZooKeeper's model, see
//! [`super::zk_amnesia`]) is excused, as for the other ZooKeeper rules.

use super::zk_lifetimes::Disturbances;
use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::{Call, Event, History, Outcome, Ret, ZkEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Rule names, as violations carry them.
pub const LOCK_ONE_HOLDER: &str = "zk.lock.one-holder";
/// See [`LOCK_ONE_HOLDER`].
pub const LOCK_TOKEN_ORDER: &str = "zk.lock.token-order";
/// See [`LOCK_ONE_HOLDER`].
pub const LOCK_PREDECESSORS: &str = "zk.lock.predecessors-gone";
/// See [`LOCK_ONE_HOLDER`].
pub const GROUP_CONVERGES: &str = "zk.group.converges";

/// Where the recipes keep their znodes, and how long a member may take to catch up.
#[derive(Clone, Debug)]
pub struct RecipeParams {
    /// The lock recipe's directory (its children are the lock's ephemeral sequential
    /// znodes), e.g. `/lock`.
    pub lock_dir: String,
    /// The group membership recipe's directory, e.g. `/group`.
    pub group_dir: String,
    /// How soon after a change to the group a connected member must have read it, when no
    /// fault intervenes.
    pub group_settle: Duration,
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn join(dir: &str, child: &str) -> String {
    if dir == "/" {
        format!("/{child}")
    } else {
        format!("{dir}/{child}")
    }
}

/// The sequence number of a sequential znode's name (its trailing digits).
fn seq(path: &str) -> Option<u64> {
    let n = name(path);
    let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    n[n.len() - digits..].parse().ok()
}

/// A zxid at which a child was seen to exist, with the listing's op index (`None` for a
/// lock decision).
type Sighting = (i64, Option<usize>);

/// One listing of the group by a session: (completion ns, zxid, children, op index).
type Listing<'a> = (u64, i64, &'a Vec<String>, usize);

/// What the history says about one child of a recipe directory.
#[derive(Clone, Debug, Default)]
struct Child {
    /// Its creation zxid, from an acknowledged create.
    czxid: Option<i64>,
    /// The session that created it, from an acknowledged create.
    owner: Option<i64>,
    /// The op that created it.
    create_op: Option<usize>,
    /// Completion time of the acknowledged create (ns).
    created_at: Option<u64>,
    /// The zxid and op index of an acknowledged delete of it.
    deleted_by_op: Option<(i64, usize)>,
    /// A delete of it with an unknown outcome was sent.
    indefinite_delete: bool,
    /// The earliest invoke time (ns) of any delete of it, whatever its outcome: the owner
    /// stopped following the recipe then (a member leaving), even if the delete failed
    /// and the znode stays until its session ends.
    delete_tried: Option<u64>,
    /// The smallest and largest zxid at which it was seen to exist (listings, decisions).
    seen: Option<(Sighting, Sighting)>,
}

/// The children of one directory, and how to tell when each existed.
struct Dir {
    children: BTreeMap<String, Child>,
    /// Session end zxid and the earliest and latest time a server recorded it (ns).
    ends: BTreeMap<i64, (i64, u64, u64, usize)>,
}

impl Dir {
    fn of(h: &History, dir: &str) -> Dir {
        let mut children: BTreeMap<String, Child> = BTreeMap::new();
        for (i, op) in h.ops.iter().enumerate() {
            match (&op.call, &op.ret, op.outcome) {
                (Call::Create { .. }, Ret::Path { path }, Outcome::Ok) if parent(path) == dir => {
                    let c = children.entry(path.clone()).or_default();
                    c.czxid = op.zxid;
                    c.owner = op.session;
                    c.create_op = Some(i);
                    c.created_at = op.complete.map(|t| t.0);
                }
                (Call::Delete { path, .. }, _, outcome) if parent(path) == dir => {
                    let c = children.entry(path.clone()).or_default();
                    match outcome {
                        Outcome::Ok => c.deleted_by_op = op.zxid.map(|z| (z, i)),
                        Outcome::Info => c.indefinite_delete = true,
                        Outcome::Fail => {}
                    }
                    let at = op.invoke.0;
                    c.delete_tried = Some(c.delete_tried.map_or(at, |d| d.min(at)));
                }
                (
                    Call::GetChildren { path, .. },
                    Ret::Children {
                        children: names, ..
                    },
                    Outcome::Ok,
                ) if path == dir => {
                    if let Some(z) = op.zxid {
                        for n in names {
                            children.entry(join(dir, n)).or_default().see(z, Some(i));
                        }
                    }
                }
                _ => {}
            }
        }
        let mut ends: BTreeMap<i64, (i64, u64, u64, usize)> = BTreeMap::new();
        for (i, r) in h.events.iter().enumerate() {
            if let Event::Zk(ZkEvent::SessionEnded { session, zxid, .. }) = &r.event {
                let e = ends.entry(*session).or_insert((*zxid, r.at.0, r.at.0, i));
                e.1 = e.1.min(r.at.0);
                e.2 = e.2.max(r.at.0);
            }
        }
        Dir { children, ends }
    }

    /// The zxid at which `path` was deleted, when the history tells it for certain, with
    /// the evidence: an acknowledged delete (op index) or its owner's session end (event
    /// index).
    fn deleted(&self, path: &str) -> Option<(i64, Evidence)> {
        let c = self.children.get(path)?;
        if let Some((z, op)) = c.deleted_by_op {
            return Some((z, Evidence::Op(op)));
        }
        if c.indefinite_delete {
            return None;
        }
        c.owner
            .and_then(|s| self.ends.get(&s))
            .filter(|(z, ..)| c.czxid.is_none_or(|cz| *z > cz))
            .map(|(z, _, _, ev)| (*z, Evidence::Event(*ev)))
    }

    /// If the history shows for certain that `path` existed at `z`: the evidence (the ops
    /// and events that show it created by `z` and not deleted by `z`).
    fn existed_at(&self, path: &str, z: i64) -> Option<Vec<Evidence>> {
        let c = self.children.get(path)?;
        let created = match (c.czxid, c.seen) {
            (Some(cz), _) if cz <= z => c.create_op.map(Evidence::Op),
            (_, Some(((lo, op), _))) if lo <= z => op.map(Evidence::Op),
            _ => return None,
        };
        let (alive, contradicted) = match (self.deleted(path), c.seen) {
            // Seen at or after `z`. A recorded deletion at or before `z` contradicts the
            // sighting (a sequential name is never reused): cite it too, as what the
            // verdict rests on having been undone (by a voter's amnesia, or a bug).
            (deleted, Some((_, (hi, op)))) if hi >= z => (
                op.map(Evidence::Op),
                deleted.filter(|(d, _)| *d <= z).map(|(_, e)| e),
            ),
            (Some((d, e)), _) if d > z => (Some(e), None),
            _ => return None,
        };
        Some(
            created
                .into_iter()
                .chain(alive)
                .chain(contradicted)
                .collect(),
        )
    }
}

/// An op or event a verdict rests on (so that a violation names it, and one resting on a
/// transaction lost to a voter's amnesia is excused, see [`super::zk_amnesia`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Evidence {
    Op(usize),
    Event(usize),
}

/// Adds `evidence` to a violation's ops and events.
fn cite(v: &mut Violation, evidence: &[Evidence]) {
    for e in evidence {
        match *e {
            Evidence::Op(i) if !v.ops.contains(&i) => v.ops.push(i),
            Evidence::Event(i) if !v.events.contains(&i) => v.events.push(i),
            _ => {}
        }
    }
}

impl Child {
    fn see(&mut self, z: i64, op: Option<usize>) {
        let at = (z, op);
        self.seen = Some(match self.seen {
            Some((lo, hi)) => (
                if z < lo.0 { at } else { lo },
                if z > hi.0 { at } else { hi },
            ),
            None => (at, at),
        });
    }
}

/// One recorded lock acquisition.
#[derive(Clone, Debug)]
struct Acquisition {
    session: i64,
    node: String,
    zxid: i64,
    token: u64,
    /// Event index.
    ev: usize,
}

fn acquisitions(h: &History, lock_dir: &str) -> Vec<Acquisition> {
    h.events
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.event {
            Event::Zk(ZkEvent::LockAcquired {
                session,
                node,
                zxid,
            }) if parent(node) == lock_dir => Some(Acquisition {
                session: *session,
                node: node.clone(),
                zxid: *zxid,
                token: seq(node)?,
                ev: i,
            }),
            _ => None,
        })
        .collect()
}

/// The lock directory's children, with each acquisition's decision counted as a sighting
/// of its own child (it was in the listing answered at that zxid).
fn lock_dir_state(h: &History, p: &RecipeParams, acqs: &[Acquisition]) -> Dir {
    let mut dir = Dir::of(h, &p.lock_dir);
    for a in acqs {
        dir.children
            .entry(a.node.clone())
            .or_default()
            .see(a.zxid, None);
    }
    dir
}

/// `unknown` when nothing was judged, else the violations, those that rest on a
/// transaction lost to a voter's amnesia (outside ZooKeeper's fault model) excused.
fn verdict(h: &History, violations: Vec<Violation>, stats: &CheckStats, nothing: &str) -> Verdict {
    if violations.is_empty() && stats.checked == 0 {
        Verdict::Unknown {
            reason: format!("nothing to judge: {nothing}"),
        }
    } else {
        super::zk_lifetimes::judge(h, violations)
    }
}

/// `zk.lock.one-holder`: at most one client holds the lock at any zxid, so each fencing
/// token (the holder's lock znode sequence number) stands for one holder at a time: no
/// acquisition is decided at a zxid at which the lock znode of another acquisition, decided
/// at or before that zxid, still existed. Source: ZooKeeper Recipes and Solutions, "Locks"
/// (the client whose znode is the lowest holds the lock; "only one client holds the lock at
/// a time, because only one znode can be the lowest"). `unknown` when no acquisition had
/// another decided at or before it.
pub fn check_lock_one_holder(h: &History, p: &RecipeParams) -> CheckReport {
    let acqs = acquisitions(h, &p.lock_dir);
    let dir = lock_dir_state(h, p, &acqs);
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    for b in &acqs {
        let earlier: Vec<&Acquisition> = acqs
            .iter()
            .filter(|a| a.node != b.node && a.zxid <= b.zxid)
            .collect();
        if earlier.is_empty() {
            continue;
        }
        stats.checked += 1;
        let held = earlier
            .iter()
            .find_map(|a| Some((a, dir.existed_at(&a.node, b.zxid)?)));
        if let Some((a, evidence)) = held {
            let mut v = Violation {
                checker: LOCK_ONE_HOLDER.into(),
                message: format!(
                    "session {:#x} took the lock with {} at zxid {:#x}, while session {:#x} held it with {} (taken at {:#x}, not yet deleted)",
                    b.session, b.node, b.zxid, a.session, a.node, a.zxid
                ),
                ops: vec![],
                events: vec![a.ev, b.ev],
                state_before: None,
            };
            cite(&mut v, &evidence);
            violations.push(v);
        }
    }
    stats.partitions = acqs.len() as u64;
    let v = verdict(
        h,
        violations,
        &stats,
        "no lock acquisition had another one decided at or before it",
    );
    CheckReport::new(LOCK_ONE_HOLDER, v, stats)
}

/// `zk.lock.token-order`: the fencing writes lock holders make carry increasing tokens in
/// zxid order. A fencing write is an acknowledged `setData` of the lock directory whose
/// data names the writer's lock znode (the fencing token is that name's sequence number);
/// a write with a lower token than one that landed before it is a holder acting on a lock
/// it no longer holds, which the resource a fencing token guards would have to turn away.
/// The same token may be written again (one holder). Source: ZooKeeper Recipes and
/// Solutions, "Locks" (the sequence number orders the holders); Kleppmann, "How to do
/// distributed locking" (fencing tokens). `unknown` when no fencing write followed one
/// with another token.
pub fn check_lock_token_order(h: &History, p: &RecipeParams) -> CheckReport {
    let acqs = acquisitions(h, &p.lock_dir);
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    // (zxid, token, op index)
    let mut writes: Vec<(i64, u64, usize)> = Vec::new();
    for (i, op) in h.ops.iter().enumerate() {
        let (Call::SetData { path, data, .. }, Outcome::Ok, Some(z)) =
            (&op.call, op.outcome, op.zxid)
        else {
            continue;
        };
        if *path != p.lock_dir {
            continue;
        }
        match seq(data) {
            Some(token) => writes.push((z, token, i)),
            None => stats.skipped += 1,
        }
    }
    writes.sort();
    let holder = |token: u64| acqs.iter().find(|a| a.token == token);
    for (k, &(z, token, op)) in writes.iter().enumerate() {
        let others: Vec<&(i64, u64, usize)> = writes[..k].iter().filter(|w| w.1 != token).collect();
        if others.is_empty() {
            continue;
        }
        stats.checked += 1;
        if let Some(&&(ze, te, ope)) = others.iter().find(|w| w.1 > token) {
            let events = [holder(te), holder(token)]
                .into_iter()
                .flatten()
                .map(|a| a.ev)
                .collect();
            violations.push(Violation {
                checker: LOCK_TOKEN_ORDER.into(),
                message: format!(
                    "the fencing write at zxid {z:#x} carries token {token} ({}), yet an earlier one at {ze:#x} carried token {te} ({})",
                    fenced(&h.ops[op].call),
                    fenced(&h.ops[ope].call)
                ),
                ops: vec![ope, op],
                events,
                state_before: None,
            });
        }
    }
    stats.partitions = writes.len() as u64;
    let v = verdict(
        h,
        violations,
        &stats,
        "no fencing write followed one with another token",
    );
    CheckReport::new(LOCK_TOKEN_ORDER, v, stats)
}

/// The data a fencing write carries (the writer's lock znode name).
fn fenced(c: &Call) -> &str {
    match c {
        Call::SetData { data, .. } => data,
        _ => "",
    }
}

/// `zk.lock.predecessors-gone`: a client takes the lock only once every lock znode with a
/// lower sequence number has been deleted: at an acquisition's zxid, no lower-sequence
/// child of the lock directory existed. Source: ZooKeeper Recipes and Solutions, "Locks"
/// ("If the pathname created in step 1 has the lowest sequence number suffix, the client
/// has the lock"; otherwise it waits for the next lowest to go). `unknown` when no lock
/// was acquired.
pub fn check_lock_predecessors(h: &History, p: &RecipeParams) -> CheckReport {
    let acqs = acquisitions(h, &p.lock_dir);
    let dir = lock_dir_state(h, p, &acqs);
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    for a in &acqs {
        stats.checked += 1;
        let lower = dir
            .children
            .keys()
            .filter(|path| seq(path).is_some_and(|s| s < a.token))
            .find_map(|path| Some((path, dir.existed_at(path, a.zxid)?)));
        if let Some((path, evidence)) = lower {
            let mut v = Violation {
                checker: LOCK_PREDECESSORS.into(),
                message: format!(
                    "session {:#x} took the lock with {} at zxid {:#x} while the lower {} still existed",
                    a.session, a.node, a.zxid, path
                ),
                ops: vec![],
                events: vec![a.ev],
                state_before: None,
            };
            cite(&mut v, &evidence);
            violations.push(v);
        }
    }
    stats.partitions = dir.children.len() as u64;
    let v = verdict(h, violations, &stats, "no lock was acquired");
    CheckReport::new(LOCK_PREDECESSORS, v, stats)
}

/// `zk.group.converges`: a member's view converges to the live membership. After a change
/// to the group directory's children (a join, a leave, or a member's session ending) at
/// zxid Z and time T, if no other change follows within the settle bound S, every member
/// that joined by T, was still a member at T + S, and whose client stayed connected through
/// [T, T + S] has, by T + S, read the group at zxid Z or later, and that last reading lists
/// exactly the members the history shows live at its zxid (no member known to exist is
/// missing, none known deleted is listed). Members that never read the group (a member
/// that joined and went silent) are not judged, and windows a fault touches (a partition,
/// pause, crash, restart, clock change or lossy network anywhere) are excused. Source:
/// ZooKeeper Recipes and Solutions, "Group Membership" (a children watch on the group
/// node tells each member of every change); ZooKeeper Programmer's Guide, "ZooKeeper
/// Watches" (a watch event is sent as the change is applied). `unknown` when no member
/// could be judged in a quiet window.
pub fn check_group_converges(h: &History, p: &RecipeParams) -> CheckReport {
    let dir = Dir::of(h, &p.group_dir);
    let settle = p.group_settle.as_nanos() as u64;
    let dist = Disturbances::of(h);
    let end = h
        .events
        .iter()
        .map(|r| r.at.0)
        .chain(h.ops.iter().filter_map(|o| o.complete.map(|c| c.0)))
        .max()
        .unwrap_or(0);
    let mut violations = Vec::new();
    let mut stats = CheckStats::default();
    let mut counters = BTreeMap::from([
        ("changes".to_string(), 0u64),
        ("quiet-windows".to_string(), 0),
        ("windows-excused".to_string(), 0),
    ]);
    // Changes: (time ns, zxid, op index or event index, is_op).
    let mut changes: Vec<(u64, i64, usize, bool)> = Vec::new();
    for (i, op) in h.ops.iter().enumerate() {
        let (Outcome::Ok, Some(z), Some(t)) = (op.outcome, op.zxid, op.complete) else {
            continue;
        };
        let touches = match (&op.call, &op.ret) {
            (Call::Create { .. }, Ret::Path { path }) => parent(path) == p.group_dir,
            (Call::Delete { path, .. }, _) => parent(path) == p.group_dir,
            _ => false,
        };
        if touches {
            changes.push((t.0, z, i, true));
        }
    }
    // Sessions that created (or tried to create) a child: their end may delete it.
    let creators: BTreeSet<i64> = h
        .ops
        .iter()
        .filter(|o| o.outcome != Outcome::Fail)
        .filter(|o| matches!(&o.call, Call::Create { path, .. } if path.starts_with(&format!("{}/", p.group_dir))))
        .filter_map(|o| o.session)
        .collect();
    // A session's end is a change only if it certainly removed a child: one of its known
    // children (an acknowledged create) that nothing removed before. A child an
    // indefinite create may have made is not known to exist, and a change that may not
    // have happened fires no watch anyone could be owed (seeds 1658 and, on the scenario
    // campaigns, zk-flaky-network-clock-skew 29 of issue 21: a `closeSession []`).
    // Every listing of the group: (zxid, children's full paths).
    let group_listings: Vec<(i64, BTreeSet<String>)> = h
        .ops
        .iter()
        .filter_map(|op| match (&op.call, &op.ret, op.outcome, op.zxid) {
            (
                Call::GetChildren { path, .. },
                Ret::Children { children, .. },
                Outcome::Ok,
                Some(z),
            ) if *path == p.group_dir => {
                Some((z, children.iter().map(|n| join(&p.group_dir, n)).collect()))
            }
            _ => None,
        })
        .collect();
    // A child is gone before `end` when an acknowledged delete removed it earlier, or a
    // listing after its create and before `end` lacks it (an indefinite delete landed).
    let gone_before = |path: &str, c: &Child, end: i64| {
        c.deleted_by_op.is_some_and(|(z, _)| z < end)
            || c.czxid.is_some_and(|cz| {
                group_listings
                    .iter()
                    .any(|(z, names)| *z > cz && *z < end && !names.contains(path))
            })
    };
    let removes_nothing = |s: i64, end: i64| {
        dir.children
            .iter()
            .filter(|(_, c)| c.owner == Some(s))
            .all(|(path, c)| gone_before(path, c, end))
    };
    for (s, &(z, _first, last, ev)) in &dir.ends {
        if creators.contains(s) && !removes_nothing(*s, z) {
            changes.push((last, z, ev, false));
        }
    }
    changes.sort();
    counters.insert("changes".into(), changes.len() as u64);
    // A session's client states in time order: (time, connected?).
    let mut states: BTreeMap<i64, Vec<(u64, bool)>> = BTreeMap::new();
    for r in &h.events {
        if let Event::Zk(ZkEvent::ClientState { session, state, .. }) = &r.event {
            states
                .entry(*session)
                .or_default()
                .push((r.at.0, state == "connected"));
        }
    }
    // Each session's listings of the group: (completion ns, zxid, children, op index).
    let mut listings: BTreeMap<i64, Vec<Listing>> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        if let (
            Call::GetChildren { path, .. },
            Ret::Children { children, .. },
            Outcome::Ok,
            Some(z),
            Some(t),
            Some(s),
        ) = (
            &op.call,
            &op.ret,
            op.outcome,
            op.zxid,
            op.complete,
            op.session,
        ) {
            if *path == p.group_dir {
                listings.entry(s).or_default().push((t.0, z, children, i));
            }
        }
    }
    for v in listings.values_mut() {
        v.sort_by_key(|(t, ..)| *t);
    }
    for (k, &(tc, zc, cidx, c_is_op)) in changes.iter().enumerate() {
        let deadline = tc + settle;
        if deadline > end {
            continue;
        }
        let quiet = changes
            .iter()
            .enumerate()
            .all(|(j, (t, ..))| j == k || *t <= tc || *t > deadline);
        if !quiet {
            continue;
        }
        *counters.get_mut("quiet-windows").expect("key") += 1;
        if dist.any_in(tc, deadline, None) {
            *counters.get_mut("windows-excused").expect("key") += 1;
            continue;
        }
        for (path, c) in &dir.children {
            let (Some(s), Some(joined)) = (c.owner, c.created_at) else {
                continue;
            };
            if joined > tc {
                continue;
            }
            let leaving = c
                .delete_tried
                .into_iter()
                .chain(dir.ends.get(&s).map(|(_, first, ..)| *first))
                .min();
            if leaving.is_some_and(|l| l <= deadline) {
                continue;
            }
            // Observers only: members that read the group during this membership.
            let mine: Vec<&Listing> = listings
                .get(&s)
                .map(|v| {
                    v.iter()
                        .filter(|(t, ..)| *t >= joined && leaving.is_none_or(|l| *t < l))
                        .collect()
                })
                .unwrap_or_default();
            if mine.is_empty() {
                continue;
            }
            // Connected through the window: connected at T, no state change in (T, T + S].
            let st = states.get(&s).map(Vec::as_slice).unwrap_or_default();
            let connected_at_tc = st
                .iter()
                .rev()
                .find(|(t, _)| *t <= tc)
                .is_some_and(|(_, up)| *up);
            if !connected_at_tc || st.iter().any(|(t, _)| *t > tc && *t <= deadline) {
                stats.skipped += 1;
                continue;
            }
            stats.checked += 1;
            let last = mine.iter().rev().find(|(t, ..)| *t <= deadline);
            let change_ref = |v: &mut Violation| {
                if c_is_op {
                    v.ops.push(cidx);
                } else {
                    v.events.push(cidx);
                }
            };
            let Some(&&(tl, zl, shown, lop)) = last else {
                let mut v = Violation {
                    checker: GROUP_CONVERGES.into(),
                    message: format!(
                        "member {path} (session {s:#x}) had not read the group {} by {:.3}s, {:?} after the change at zxid {zc:#x}",
                        p.group_dir,
                        deadline as f64 / 1e9,
                        p.group_settle
                    ),
                    ops: c.create_op.into_iter().collect(),
                    events: vec![],
                    state_before: None,
                };
                change_ref(&mut v);
                violations.push(v);
                continue;
            };
            if zl < zc {
                let mut v = Violation {
                    checker: GROUP_CONVERGES.into(),
                    message: format!(
                        "member {path} (session {s:#x}) last read the group at zxid {zl:#x} ({:.3}s), {:?} after the change at zxid {zc:#x} ({:.3}s) it still had not read it again",
                        tl as f64 / 1e9,
                        p.group_settle,
                        tc as f64 / 1e9
                    ),
                    ops: vec![lop],
                    events: vec![],
                    state_before: None,
                };
                change_ref(&mut v);
                violations.push(v);
                continue;
            }
            let listed: BTreeSet<String> = shown.iter().map(|n| join(&p.group_dir, n)).collect();
            let missing = dir
                .children
                .keys()
                .filter(|m| !listed.contains(*m))
                .find_map(|m| Some((m, "misses the live member", dir.existed_at(m, zl)?)));
            let departed = listed.iter().find_map(|m| {
                let (d, e) = dir.deleted(m)?;
                (d <= zl).then(|| (m, "lists the departed member", vec![e]))
            });
            if let Some((wrong, how, evidence)) = missing.or(departed) {
                let mut v = Violation {
                    checker: GROUP_CONVERGES.into(),
                    message: format!(
                        "member {path} (session {s:#x}) last read the group at zxid {zl:#x}; it {how} {wrong}"
                    ),
                    ops: vec![lop],
                    events: vec![],
                    state_before: None,
                };
                cite(&mut v, &evidence);
                violations.push(v);
            }
        }
    }
    stats.partitions = dir.children.len() as u64;
    let v = verdict(
        h,
        violations,
        &stats,
        "no connected member that reads the group was judged in a quiet window after a change",
    );
    let mut report = CheckReport::new(GROUP_CONVERGES, v, stats);
    report.counters = counters;
    report
}

/// The three lock rules, in [`super::rules::RULES`] order.
pub fn check_lock(h: &History, p: &RecipeParams) -> Vec<CheckReport> {
    vec![
        check_lock_one_holder(h, p),
        check_lock_token_order(h, p),
        check_lock_predecessors(h, p),
    ]
}
