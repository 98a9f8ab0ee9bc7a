//! ZooKeeper's consistency model, which is weaker than linearizability (Hunt et al.,
//! USENIX ATC 2010, "ordered sequential consistency"):
//!
//! - **Writes are linearizable** (`zk.writes`). Response zxids totally order ok writes, so
//!   there is no search over them: zxids must be unique, must respect real time (a write
//!   that completed before another was invoked has the smaller zxid), and replaying ok
//!   writes in zxid order per znode must meet every precondition (create on an absent node,
//!   delete/setData/check with a matching version; a setData's returned version is the old
//!   one plus one). `info` writes have no zxid: a small memoized search places them wherever
//!   they explain the ok writes, or leaves them out.
//! - **Sequential names follow the parent's child counter** (`zk.writes.sequential`). The
//!   suffix of a sequential create is the parent's count of child creates so far, which
//!   never goes back (deletes do not lower it). So a sequential create never fails with
//!   NodeExists (unless a plain create made a child with a name of that form), and per
//!   parent, ok child creates in zxid order number consecutively: each sequential suffix is
//!   the previous one plus one plus the ok child creates in between; `info` child creates
//!   may fill gaps. A failed multi must leave no trace in the counter (ZOOKEEPER-1624).
//! - **Each session's reads are sequentially consistent** (`zk.sessions`). A read's response
//!   zxid is the serving server's last applied zxid, so it must return the znode as of that
//!   zxid: its `mzxid` is at most the response zxid and no recorded write of that znode lies
//!   between them, and the data equals what the write at `mzxid` wrote. Along a session
//!   (ops in completion order) response zxids never decrease, which gives "never older than
//!   already seen", read-your-writes and FIFO order.
//! - **Replicas agree on Stat** (`zk.sessions.stat`, reference §9 AGREE). Every server applies
//!   the same txns, so a znode incarnation (`czxid`) whose last child create or delete was
//!   `pzxid` has one `cversion` and one `numChildren` on every server, and one whose last
//!   setData was `mzxid` has one `version` and `dataLength`. Any two returned Stats (reads,
//!   setData results) that share those keys but not those values show diverged replicas,
//!   e.g. a parent counter bumped while replaying over a fuzzy snapshot (ZOOKEEPER-1046).
//! - **Strict** (`--strict`): also flags stale reads, i.e. a read that returned a state older
//!   than a write that had completed before the read was invoked. ZooKeeper allows these
//!   (reads are served locally, even after `sync`); linearizability does not.
//!
//! Leniencies, stated: an ephemeral znode may vanish at any point (its session may have
//! expired, which is not a client op); `info` multis are split per znode (more permissive,
//! never less); znodes no recorded write touches are not checked (counted as skipped);
//! `getChildren` is not checked (it needs a joint partition over a parent's children).

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::{Call, History, Op, Outcome, Ret, ZkStat};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// ZooKeeper's NoNode error code.
const NO_NODE: i32 = -101;

/// Options of the ZooKeeper checks.
#[derive(Clone, Debug)]
pub struct ZkOptions {
    /// Also flag stale reads (not allowed under linearizability, allowed by ZooKeeper).
    pub strict: bool,
    /// Search steps for placing `info` writes, over all znodes, before `unknown`.
    pub steps_max: u64,
}

impl Default for ZkOptions {
    fn default() -> Self {
        ZkOptions {
            strict: false,
            steps_max: 10_000_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Eff {
    Create {
        data: Option<String>,
        ephemeral: bool,
    },
    Delete {
        version: i32,
    },
    Set {
        data: String,
        version: i32,
        ret_version: Option<i32>,
    },
    Check {
        version: i32,
    },
}

#[derive(Clone, Debug)]
struct Effect {
    op: usize,
    path: String,
    eff: Eff,
}

/// Per-znode write effects of one op (a multi has several). A sequential create whose
/// actual path is unknown (no `path` return) yields nothing.
fn effects(i: usize, call: &Call, ret: Option<&Ret>, out: &mut Vec<Effect>) {
    match call {
        Call::Create {
            path,
            data,
            ephemeral,
            sequential,
        } => {
            let actual = match ret {
                Some(Ret::Path { path }) => Some(path.clone()),
                _ if !*sequential => Some(path.clone()),
                _ => None,
            };
            if let Some(path) = actual {
                out.push(Effect {
                    op: i,
                    path,
                    eff: Eff::Create {
                        data: data.clone(),
                        ephemeral: *ephemeral,
                    },
                });
            }
        }
        Call::Delete { path, version } => out.push(Effect {
            op: i,
            path: path.clone(),
            eff: Eff::Delete { version: *version },
        }),
        Call::SetData {
            path,
            data,
            version,
        } => {
            let ret_version = match ret {
                Some(Ret::Stat { stat: Some(s) }) => Some(s.version),
                _ => None,
            };
            out.push(Effect {
                op: i,
                path: path.clone(),
                eff: Eff::Set {
                    data: data.clone(),
                    version: *version,
                    ret_version,
                },
            })
        }
        Call::Check { path, version } => out.push(Effect {
            op: i,
            path: path.clone(),
            eff: Eff::Check { version: *version },
        }),
        Call::Multi { ops } => {
            let results = match ret {
                Some(Ret::Multi { results }) => Some(results),
                _ => None,
            };
            for (k, sub) in ops.iter().enumerate() {
                effects(i, sub, results.and_then(|r| r.get(k)), out);
            }
        }
        _ => {}
    }
}

fn is_zk_write(call: &Call) -> bool {
    matches!(
        call,
        Call::Create { .. } | Call::Delete { .. } | Call::SetData { .. } | Call::Multi { .. }
    )
}

/// A znode as the write replay sees it. `version: None` = not known yet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ZNode {
    Absent,
    Present {
        version: Option<i32>,
        ephemeral: bool,
    },
}

impl std::fmt::Display for ZNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZNode::Absent => write!(f, "absent"),
            ZNode::Present {
                version: Some(v),
                ephemeral,
            } => write!(
                f,
                "present version {v}{}",
                if *ephemeral { " ephemeral" } else { "" }
            ),
            ZNode::Present { version: None, .. } => write!(f, "present (version unknown)"),
        }
    }
}

fn version_matches(expected: i32, have: Option<i32>) -> bool {
    expected == -1 || have.is_none_or(|v| v == expected)
}

/// Applies `e`; `Err(why)` if its precondition fails.
fn apply(s: &ZNode, e: &Eff) -> Result<ZNode, String> {
    match (e, s) {
        (Eff::Create { ephemeral, .. }, ZNode::Absent) => Ok(ZNode::Present {
            version: Some(0),
            ephemeral: *ephemeral,
        }),
        // An ephemeral may have gone with its session, which no client op records.
        (
            Eff::Create { ephemeral: e2, .. },
            ZNode::Present {
                ephemeral: true, ..
            },
        ) => Ok(ZNode::Present {
            version: Some(0),
            ephemeral: *e2,
        }),
        (Eff::Create { .. }, _) => Err("create succeeded on a znode that exists".into()),
        (Eff::Delete { version }, ZNode::Present { version: have, .. })
            if version_matches(*version, *have) =>
        {
            Ok(ZNode::Absent)
        }
        (
            Eff::Set {
                version,
                ret_version,
                ..
            },
            ZNode::Present {
                version: have,
                ephemeral,
            },
        ) if version_matches(*version, *have) => {
            let next = have.map(|v| v + 1);
            if let (Some(n), Some(r)) = (next, ret_version) {
                if n != *r {
                    return Err(format!("setData returned version {r}, expected {n}"));
                }
            }
            Ok(ZNode::Present {
                version: ret_version.or(next),
                ephemeral: *ephemeral,
            })
        }
        (Eff::Check { version }, ZNode::Present { version: have, .. })
            if version_matches(*version, *have) =>
        {
            Ok(s.clone())
        }
        (_, ZNode::Absent) => Err("succeeded on an absent znode".into()),
        (_, ZNode::Present { version, .. }) => {
            Err(format!("version check failed against version {version:?}"))
        }
    }
}

/// One znode's ok writes (with their zxids) and `info` writes.
type PathWrites<'a> = (Vec<(i64, &'a Effect)>, Vec<&'a Effect>);

struct PathSearch<'a> {
    oks: &'a [(i64, &'a Effect)],
    infos: &'a [&'a Effect],
    ops: &'a [Op],
    failed: HashSet<(usize, Vec<bool>, ZNode)>,
    steps: u64,
    steps_max: u64,
    /// Deepest ok index that could not be applied, with the state before it and the reason.
    deepest: Option<(usize, ZNode, String)>,
}

impl PathSearch<'_> {
    /// `Some(true)`: replay succeeds; `Some(false)`: impossible; `None`: budget spent.
    fn dfs(&mut self, i: usize, used: &mut Vec<bool>, s: ZNode) -> Option<bool> {
        if i == self.oks.len() {
            return Some(true);
        }
        self.steps += 1;
        if self.steps > self.steps_max {
            return None;
        }
        if self.failed.contains(&(i, used.clone(), s.clone())) {
            return Some(false);
        }
        let (_, e) = self.oks[i];
        match apply(&s, &e.eff) {
            Ok(next) => {
                if self.dfs(i + 1, used, next)? {
                    return Some(true);
                }
            }
            Err(why) => {
                if self.deepest.as_ref().is_none_or(|d| i > d.0) {
                    self.deepest = Some((i, s.clone(), why));
                }
            }
        }
        let deadline = self.ops[e.op].complete.map(|c| c.0).unwrap_or(u64::MAX);
        for j in 0..self.infos.len() {
            if used[j] || self.ops[self.infos[j].op].invoke.0 >= deadline {
                continue;
            }
            let Ok(next) = apply(&s, &self.infos[j].eff) else {
                continue;
            };
            if next == s {
                continue;
            }
            used[j] = true;
            let r = self.dfs(i, used, next);
            used[j] = false;
            if r? {
                return Some(true);
            }
        }
        self.failed.insert((i, used.clone(), s));
        Some(false)
    }
}

fn violation(
    checker: &str,
    message: String,
    ops: Vec<usize>,
    state_before: Option<String>,
) -> Violation {
    let mut ops = ops;
    ops.sort();
    ops.dedup();
    Violation {
        checker: checker.to_string(),
        message,
        ops,
        events: vec![],
        state_before,
    }
}

/// Checks that ok ZooKeeper writes are linearizable, using response zxids as their order.
///
/// Guarantees: `Ok` only if every ok write has a distinct zxid, zxid order respects real
/// time, and per znode the ok writes in zxid order (with some placement of `info` writes)
/// meet their preconditions. An ok write without a zxid makes the verdict `Unknown`.
pub fn check_writes(history: &History, opts: &ZkOptions) -> CheckReport {
    let checker = "zk.writes";
    let mut stats = CheckStats::default();
    let mut violations = Vec::new();
    let mut unknown: Option<String> = None;
    let mut ok_writes: Vec<(i64, usize)> = Vec::new();
    let mut by_zxid: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        if !is_zk_write(&op.call) || op.outcome != Outcome::Ok {
            continue;
        }
        stats.checked += 1;
        let Some(z) = op.zxid else {
            stats.skipped += 1;
            unknown
                .get_or_insert_with(|| format!("ops[{i}] is an ok write without a response zxid"));
            continue;
        };
        if let Some(&j) = by_zxid.get(&z) {
            violations.push(violation(
                "zk.writes.zxid-unique",
                format!("ops[{j}] and ops[{i}] both succeeded with zxid {z:#x}"),
                vec![j, i],
                None,
            ));
            continue;
        }
        by_zxid.insert(z, i);
        ok_writes.push((z, i));
    }
    ok_writes.sort();
    // Real time: scanning from the highest zxid down, the earliest completion seen so far
    // must not precede this write's invocation.
    let mut earliest: Option<(u64, usize)> = None;
    for &(z, i) in ok_writes.iter().rev() {
        let op = &history.ops[i];
        if let Some((c, j)) = earliest {
            if c < op.invoke.0 && violations.len() < 20 {
                violations.push(violation(
                    "zk.writes.real-time",
                    format!(
                        "ops[{j}] (zxid {:#x}) completed at {c} before ops[{i}] (zxid {z:#x}) was invoked at {}, \
                         yet has the larger zxid",
                        history.ops[j].zxid.unwrap_or_default(),
                        op.invoke.0
                    ),
                    vec![i, j],
                    None,
                ));
            }
        }
        let c = op.complete.map(|c| c.0).unwrap_or(u64::MAX);
        if earliest.is_none_or(|(e, _)| c < e) {
            earliest = Some((c, i));
        }
    }
    // Per-znode replay.
    let mut ok_effects: Vec<Effect> = Vec::new();
    let mut info_effects: Vec<Effect> = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        if !is_zk_write(&op.call) {
            continue;
        }
        match op.outcome {
            Outcome::Ok if op.zxid.is_some() => {
                effects(i, &op.call, Some(&op.ret), &mut ok_effects)
            }
            Outcome::Info => effects(i, &op.call, None, &mut info_effects),
            _ => {}
        }
    }
    let mut paths: BTreeMap<&str, PathWrites> = BTreeMap::new();
    for e in &ok_effects {
        let z = history.ops[e.op].zxid.expect("filtered on zxid");
        paths.entry(&e.path).or_default().0.push((z, e));
    }
    for e in &info_effects {
        paths.entry(&e.path).or_default().1.push(e);
    }
    stats.partitions = paths.len() as u64;
    let mut steps_left = opts.steps_max;
    for (path, (mut oks, infos)) in paths {
        // Stable: sub-ops of one multi keep their order.
        oks.sort_by_key(|(z, _)| *z);
        let initial = match oks.first() {
            Some((_, e)) if matches!(e.eff, Eff::Create { .. }) => ZNode::Absent,
            None if infos.iter().any(|e| matches!(e.eff, Eff::Create { .. })) => ZNode::Absent,
            _ => ZNode::Present {
                version: None,
                ephemeral: false,
            },
        };
        let mut search = PathSearch {
            oks: &oks,
            infos: &infos,
            ops: &history.ops,
            failed: HashSet::new(),
            steps: 0,
            steps_max: steps_left,
            deepest: None,
        };
        let mut used = vec![false; infos.len()];
        let result = search.dfs(0, &mut used, initial);
        steps_left = steps_left.saturating_sub(search.steps);
        stats.steps += search.steps;
        match result {
            Some(true) => {}
            None => {
                unknown.get_or_insert_with(|| {
                    format!("znode {path}: search budget exhausted placing info writes")
                });
                break;
            }
            Some(false) => {
                let (i, state, why) = search.deepest.expect("a failed replay records where");
                let (z, e) = oks[i];
                let mut involved = vec![e.op];
                if i > 0 {
                    involved.push(oks[i - 1].1.op);
                }
                violations.push(violation(
                    "zk.writes.linearizable",
                    format!(
                        "znode {path}: ops[{}] (zxid {z:#x}) {why}; in zxid order it follows {}",
                        e.op,
                        if i > 0 {
                            format!("ops[{}] (zxid {:#x})", oks[i - 1].1.op, oks[i - 1].0)
                        } else {
                            "nothing".into()
                        }
                    ),
                    involved,
                    Some(state.to_string()),
                ));
            }
        }
    }
    violations.extend(check_sequential(history, &ok_effects, &mut stats));
    if stats.checked == 0 {
        unknown.get_or_insert_with(|| {
            "nothing to judge: no acknowledged ZooKeeper write in this history".to_string()
        });
    }
    let (violations, excuses) = super::zk_amnesia::find(history).split(history, violations);
    let verdict = match (violations.is_empty(), unknown) {
        (false, _) => Verdict::Violated(violations),
        (true, Some(reason)) => Verdict::Unknown { reason },
        (true, None) => Verdict::judge(violations, excuses),
    };
    CheckReport::new(checker.to_string(), verdict, stats)
}

/// ZooKeeper's NodeExists error code.
const NODE_EXISTS: i32 = -110;

/// The parent of `path` (`/` for a top-level znode); `None` for `/` itself.
fn parent_of(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    match (i, path.len()) {
        (_, 1) => None,
        (0, _) => Some("/"),
        _ => Some(&path[..i]),
    }
}

/// Every `create` and `delete` in `call` (inside a multi too), with its result when `ret`
/// has one.
fn creates_deletes<'a>(
    call: &'a Call,
    ret: Option<&'a Ret>,
    out: &mut Vec<(&'a Call, Option<&'a Ret>)>,
) {
    match call {
        Call::Create { .. } | Call::Delete { .. } => out.push((call, ret)),
        Call::Multi { ops } => {
            let results = match ret {
                Some(Ret::Multi { results }) => Some(results),
                _ => None,
            };
            for (k, sub) in ops.iter().enumerate() {
                creates_deletes(sub, results.and_then(|r| r.get(k)), out);
            }
        }
        _ => {}
    }
}

/// True if a failed op's result says it, and not an earlier op of its multi, hit `code`.
fn own_error(ret: Option<&Ret>, code: i32) -> bool {
    matches!(ret, Some(Ret::Error { code: c, .. }) if *c == code)
}

/// `zk.writes.sequential`: sequential names against the parent's child counter.
///
/// Guarantees: flags (1) a sequential create that failed with NodeExists, under a parent
/// where no recorded plain create names a child like a sequential one (the requested
/// prefix followed by digits); (2) per parent, in zxid order, a sequential suffix below the
/// parent's counter (a number reused), or above it by more than the `info` child creates
/// invoked before it completed can explain (a number skipped). The counter is known from
/// an ok create of the parent (0) or from the previous sequential suffix (plus one, plus
/// the ok plain child creates since). Parents that an `info` op may have created or
/// deleted (a recreation the history cannot place) are skipped for (2).
fn check_sequential(
    history: &History,
    ok_effects: &[Effect],
    stats: &mut CheckStats,
) -> Vec<Violation> {
    let checker = "zk.writes.sequential";
    let mut violations = Vec::new();
    let mut plain: Vec<&str> = Vec::new();
    let mut info_children: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut unplaceable: BTreeSet<&str> = BTreeSet::new();
    let mut seq_failed: Vec<(usize, &str)> = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        let mut cs = Vec::new();
        creates_deletes(&op.call, Some(&op.ret), &mut cs);
        for (c, r) in cs {
            let (path, sequential) = match c {
                Call::Create {
                    path, sequential, ..
                } => (path.as_str(), *sequential),
                Call::Delete { path, .. } => {
                    if op.outcome == Outcome::Info {
                        unplaceable.insert(path);
                    }
                    continue;
                }
                _ => continue,
            };
            if !sequential {
                plain.push(path);
            }
            match op.outcome {
                Outcome::Info => {
                    if let Some(p) = parent_of(path) {
                        info_children.entry(p).or_default().push(i);
                    }
                    unplaceable.insert(path);
                }
                Outcome::Fail if sequential && own_error(r, NODE_EXISTS) => {
                    seq_failed.push((i, path))
                }
                _ => {}
            }
        }
    }
    // (1) No sequential create collides.
    for (i, prefix) in seq_failed {
        stats.checked += 1;
        let parent = parent_of(prefix).unwrap_or("/");
        let lookalike = plain.iter().any(|p| {
            p.len() > prefix.len()
                && p.starts_with(prefix)
                && p[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
        });
        if lookalike {
            stats.skipped += 1;
            continue;
        }
        if violations.len() < 20 {
            violations.push(violation(
                checker,
                format!(
                    "ops[{i}]: sequential create {prefix} failed with NodeExists: {parent}'s child counter \
                     gave a number already taken (it counts every child create and never goes back)"
                ),
                vec![i],
                None,
            ));
        }
    }
    // (2) Per parent, in zxid order: the counter.
    struct Counter {
        next: Option<i64>,
        last: Option<usize>,
        infos_used: usize,
    }
    let mut counters: BTreeMap<&str, Counter> = BTreeMap::new();
    let mut sorted: Vec<(i64, &Effect)> = ok_effects
        .iter()
        .map(|e| (history.ops[e.op].zxid.expect("ok effects have zxids"), e))
        .collect();
    sorted.sort_by_key(|(z, _)| *z);
    for (_, e) in sorted {
        let fresh = || Counter {
            next: None,
            last: None,
            infos_used: 0,
        };
        match &e.eff {
            Eff::Create { .. } => {
                // The parent itself: a new counter from zero.
                counters.insert(
                    e.path.as_str(),
                    Counter {
                        next: Some(0),
                        ..fresh()
                    },
                );
            }
            Eff::Delete { .. } => {
                counters.insert(e.path.as_str(), fresh());
                continue;
            }
            _ => continue,
        }
        let Some(parent) = parent_of(&e.path) else {
            continue;
        };
        if unplaceable.contains(parent) {
            continue;
        }
        let op = &history.ops[e.op];
        // The requested prefix of this create (a multi may hold several).
        let mut cs = Vec::new();
        creates_deletes(&op.call, Some(&op.ret), &mut cs);
        let seq_prefix = cs.iter().find_map(|(c, r)| match (c, r) {
            (
                Call::Create {
                    path,
                    sequential: true,
                    ..
                },
                Some(Ret::Path { path: actual }),
            ) if *actual == e.path => Some(path.as_str()),
            _ => None,
        });
        let c = counters.entry(parent).or_insert_with(fresh);
        let Some(prefix) = seq_prefix else {
            c.next = c.next.map(|n| n + 1);
            continue;
        };
        let Some(n) = e
            .path
            .get(prefix.len()..)
            .and_then(|d| d.parse::<i64>().ok())
        else {
            violations.push(violation(
                checker,
                format!(
                    "ops[{}]: sequential create {prefix} returned {}, not the prefix and a number",
                    e.op, e.path
                ),
                vec![e.op],
                None,
            ));
            continue;
        };
        stats.checked += 1;
        if let Some(want) = c.next {
            let complete = op.complete.map(|t| t.0).unwrap_or(u64::MAX);
            let fillers = info_children.get(parent).map_or(0, |v| {
                v.iter()
                    .filter(|&&j| history.ops[j].invoke.0 < complete)
                    .count()
            });
            let gap = n - want;
            let bad = if gap < 0 {
                Some(format!("reuses a number: the counter was at {want}"))
            } else if gap as usize > fillers.saturating_sub(c.infos_used) {
                Some(format!(
                    "skips {gap} number(s): the counter was at {want} and no unknown-outcome create explains it"
                ))
            } else {
                c.infos_used += gap as usize;
                None
            };
            if let Some(why) = bad {
                let mut involved = vec![e.op];
                involved.extend(c.last);
                violations.push(violation(
                    checker,
                    format!(
                        "ops[{}] (zxid {:#x}) created {} under {parent}, which {why}{}",
                        e.op,
                        op.zxid.unwrap_or_default(),
                        e.path,
                        c.last
                            .map(|j| format!(" (previous sequential create: ops[{j}])"))
                            .unwrap_or_default()
                    ),
                    involved,
                    None,
                ));
            }
        }
        c.next = Some(n + 1);
        c.last = Some(e.op);
    }
    violations
}

/// What a read observed of a znode.
enum Seen {
    Absent,
    /// Present, last modified at `mzxid`, with `data` if the read returned data.
    Present {
        mzxid: i64,
        data: Option<Option<String>>,
    },
}

/// Per-znode state after each recorded ok write: `None` absent, `Some(data)` present.
struct Timeline {
    at: BTreeMap<i64, (usize, Option<Option<String>>, bool)>,
    /// Known writes sorted by zxid with the earliest completion among writes at or after each.
    suffix_min_complete: Vec<(i64, u64, usize)>,
    infos: Vec<(usize, Eff)>,
    initially_absent: bool,
}

/// Checks each session's reads and zxids (and, with `strict`, stale reads).
///
/// Guarantees: `Ok` only if along every session response zxids never decrease and every
/// checked read returned its znode as of its response zxid; with `strict`, also no read
/// returned a state older than a write completed before the read began.
pub fn check_sessions(history: &History, opts: &ZkOptions) -> CheckReport {
    let checker = if opts.strict {
        "zk.sessions.strict"
    } else {
        "zk.sessions"
    };
    let mut stats = CheckStats::default();
    let mut violations = Vec::new();
    // Session monotonicity.
    let mut sessions: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        if let (Some(s), Some(_), Some(_)) = (op.session, op.zxid, op.complete) {
            if op.outcome != Outcome::Info {
                sessions.entry(s).or_default().push(i);
            }
        }
    }
    let session_ops: usize = sessions.values().map(Vec::len).sum();
    for (s, mut ops) in sessions {
        ops.sort_by_key(|&i| (history.ops[i].complete, i));
        let mut last: Option<(i64, usize)> = None;
        for i in ops {
            let z = history.ops[i].zxid.expect("filtered");
            if let Some((lz, j)) = last {
                if z < lz {
                    violations.push(violation(
                        "zk.sessions.monotonic",
                        format!("session {s:#x}: ops[{i}] answered with zxid {z:#x} after ops[{j}] had seen {lz:#x}"),
                        vec![j, i],
                        None,
                    ));
                }
            }
            if last.is_none_or(|(lz, _)| z >= lz) {
                last = Some((z, i));
            }
        }
    }
    // Timelines from ok writes in zxid order.
    let mut timelines: BTreeMap<String, Timeline> = BTreeMap::new();
    let mut ok_writes: Vec<(i64, usize)> = history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| is_zk_write(&o.call) && o.outcome == Outcome::Ok)
        .filter_map(|(i, o)| o.zxid.map(|z| (z, i)))
        .collect();
    ok_writes.sort();
    for &(z, i) in &ok_writes {
        let op = &history.ops[i];
        let mut effs = Vec::new();
        effects(i, &op.call, Some(&op.ret), &mut effs);
        for e in effs {
            let t = timelines.entry(e.path.clone()).or_insert_with(|| Timeline {
                at: BTreeMap::new(),
                suffix_min_complete: Vec::new(),
                infos: Vec::new(),
                initially_absent: matches!(e.eff, Eff::Create { .. }),
            });
            let state = match &e.eff {
                Eff::Create { data, ephemeral } => Some((Some(data.clone()), *ephemeral)),
                Eff::Set { data, .. } => Some((
                    Some(Some(data.clone())),
                    t.at.values().next_back().is_some_and(|v| v.2),
                )),
                Eff::Delete { .. } => None,
                Eff::Check { .. } => continue,
            };
            match state {
                Some((d, eph)) => t.at.insert(z, (i, d, eph)),
                None => t.at.insert(z, (i, None, false)),
            };
        }
    }
    for (i, op) in history.ops.iter().enumerate() {
        if is_zk_write(&op.call) && op.outcome == Outcome::Info {
            let mut effs = Vec::new();
            effects(i, &op.call, None, &mut effs);
            for e in effs {
                if let Some(t) = timelines.get_mut(&e.path) {
                    t.infos.push((e.op, e.eff));
                }
            }
        }
    }
    for t in timelines.values_mut() {
        let mut v: Vec<(i64, u64, usize)> =
            t.at.iter()
                .map(|(&z, &(i, _, _))| {
                    (
                        z,
                        history.ops[i].complete.map(|c| c.0).unwrap_or(u64::MAX),
                        i,
                    )
                })
                .collect();
        for k in (0..v.len().saturating_sub(1)).rev() {
            if v[k + 1].1 < v[k].1 {
                v[k].1 = v[k + 1].1;
                v[k].2 = v[k + 1].2;
            }
        }
        t.suffix_min_complete = v;
    }
    stats.partitions = timelines.len() as u64;
    for (i, op) in history.ops.iter().enumerate() {
        let (path, seen) = match (&op.call, op.outcome, &op.ret) {
            (Call::GetData { path, .. }, Outcome::Ok, Ret::Data { data, stat }) => (
                path,
                Seen::Present {
                    mzxid: stat.mzxid,
                    data: Some(data.clone()),
                },
            ),
            (Call::Exists { path, .. }, Outcome::Ok, Ret::Stat { stat: Some(stat) }) => (
                path,
                Seen::Present {
                    mzxid: stat.mzxid,
                    data: None,
                },
            ),
            (Call::Exists { path, .. }, Outcome::Ok, Ret::Stat { stat: None }) => {
                (path, Seen::Absent)
            }
            (
                Call::GetData { path, .. } | Call::Exists { path, .. },
                Outcome::Fail,
                Ret::Error { code: NO_NODE, .. },
            ) => (path, Seen::Absent),
            (
                Call::GetData { .. } | Call::Exists { .. } | Call::GetChildren { .. },
                Outcome::Ok,
                _,
            ) => {
                stats.skipped += 1;
                continue;
            }
            _ => continue,
        };
        let (Some(z), Some(t)) = (op.zxid, timelines.get(path.as_str())) else {
            stats.skipped += 1;
            continue;
        };
        stats.checked += 1;
        let complete = op.complete.map(|c| c.0).unwrap_or(u64::MAX);
        let info_could = |pred: &dyn Fn(&Eff) -> bool| {
            t.infos
                .iter()
                .any(|(j, e)| history.ops[*j].invoke.0 < complete && pred(e))
        };
        let latest = t.at.range(..=z).next_back();
        // The zxid whose state the read shows.
        let effective: i64 = match &seen {
            Seen::Present { mzxid, data } => {
                if *mzxid > z {
                    violations.push(violation(
                        "zk.sessions.as-of-zxid",
                        format!("ops[{i}] read {path} modified at {mzxid:#x}, after its response zxid {z:#x}"),
                        vec![i],
                        None,
                    ));
                    continue;
                }
                match t.at.get(mzxid) {
                    Some((w, Some(d), _)) => {
                        if let Some(got) = data {
                            if got != d {
                                violations.push(violation(
                                    "zk.sessions.data",
                                    format!("ops[{i}] read {path} = {got:?} at mzxid {mzxid:#x}, but ops[{w}] wrote {d:?} there"),
                                    vec![*w, i],
                                    None,
                                ));
                            }
                        }
                    }
                    Some((w, None, _)) => violations.push(violation(
                        "zk.sessions.data",
                        format!("ops[{i}] read {path} with mzxid {mzxid:#x}, which is ops[{w}]'s delete"),
                        vec![*w, i],
                        None,
                    )),
                    None => {
                        let explained = info_could(&|e| match (e, data) {
                            (Eff::Create { data: d, .. }, Some(got)) => d == got,
                            (Eff::Set { data: d, .. }, Some(Some(got))) => d == got,
                            (Eff::Set { .. }, Some(None)) => false,
                            (Eff::Create { .. } | Eff::Set { .. }, None) => true,
                            _ => false,
                        });
                        if !explained && t.at.range(..=*mzxid).next().is_some() {
                            violations.push(violation(
                                "zk.sessions.data",
                                format!("ops[{i}] read {path} with mzxid {mzxid:#x}, {data:?}: no recorded write produced it"),
                                vec![i],
                                None,
                            ));
                        }
                    }
                }
                if let Some((&wz, &(w, _, _))) =
                    t.at.range(mzxid.saturating_add(1)..z.saturating_add(1))
                        .next()
                {
                    violations.push(violation(
                        "zk.sessions.as-of-zxid",
                        format!(
                            "ops[{i}] answered at zxid {z:#x} with {path} as of {mzxid:#x}, missing ops[{w}] at {wz:#x} \
                             (a server at {z:#x} has applied it)"
                        ),
                        vec![w, i],
                        None,
                    ));
                }
                *mzxid
            }
            Seen::Absent => match latest {
                Some((&wz, &(w, Some(_), eph))) => {
                    if !eph && !info_could(&|e| matches!(e, Eff::Delete { .. })) {
                        violations.push(violation(
                            "zk.sessions.as-of-zxid",
                            format!("ops[{i}] found {path} absent at zxid {z:#x}, but ops[{w}] wrote it at {wz:#x} and nothing deleted it"),
                            vec![w, i],
                            None,
                        ));
                    }
                    wz
                }
                Some((&wz, _)) => wz,
                None => {
                    if !t.initially_absent {
                        stats.skipped += 1;
                    }
                    0
                }
            },
        };
        if opts.strict {
            // The earliest-completing recorded write after the state this read showed.
            let idx = t
                .suffix_min_complete
                .partition_point(|(wz, _, _)| *wz <= effective);
            if let Some(&(_, c, w)) = t.suffix_min_complete.get(idx) {
                if c < op.invoke.0 {
                    violations.push(violation(
                        "zk.sessions.stale-read",
                        format!(
                            "ops[{i}] read {path} as of zxid {effective:#x}, but ops[{w}] (zxid {:#x}) had completed at {c} \
                             before the read was invoked at {} (allowed by ZooKeeper, not linearizable)",
                            history.ops[w].zxid.unwrap_or_default(),
                            op.invoke.0
                        ),
                        vec![w, i],
                        None,
                    ));
                }
            }
        }
    }
    violations.extend(check_stat_agreement(history, &mut stats));
    let (violations, excuses) = super::zk_amnesia::find(history).split(history, violations);
    let verdict = if violations.is_empty() && session_ops == 0 {
        Verdict::Unknown {
            reason: "nothing to judge: no answered ZooKeeper client operation in this history"
                .to_string(),
        }
    } else {
        Verdict::judge(violations, excuses)
    };
    CheckReport::new(checker.to_string(), verdict, stats)
}

/// The Stats an ok op returned, with the path each describes.
fn returned_stats<'a>(call: &'a Call, ret: &'a Ret, out: &mut Vec<(&'a str, &'a ZkStat)>) {
    match (call, ret) {
        (
            Call::GetData { path, .. }
            | Call::GetChildren { path, .. }
            | Call::Exists { path, .. }
            | Call::SetData { path, .. },
            Ret::Data { stat, .. } | Ret::Children { stat, .. } | Ret::Stat { stat: Some(stat) },
        ) => out.push((path, stat)),
        (Call::Multi { ops }, Ret::Multi { results }) => {
            for (c, r) in ops.iter().zip(results) {
                returned_stats(c, r, out);
            }
        }
        _ => {}
    }
}

/// (path, czxid, pzxid or mzxid) -> (the two counters that state fixes, first op showing it).
type StatSeen<'a> = BTreeMap<(&'a str, i64, i64), ((i32, i32), usize)>;

/// `zk.sessions.stat`: Stats returned for the same znode state agree (module docs).
///
/// Guarantees: flags two ok ops whose returned Stats for one path share `czxid` and
/// `pzxid` but differ in `cversion` or `numChildren`, or share `czxid` and `mzxid` but
/// differ in `version` or `dataLength`; at most 20 violations.
fn check_stat_agreement(history: &History, stats: &mut CheckStats) -> Vec<Violation> {
    let checker = "zk.sessions.stat";
    let mut violations = Vec::new();
    // (path, czxid, pzxid) -> ((cversion, numChildren), first op)
    let mut children: StatSeen = BTreeMap::new();
    // (path, czxid, mzxid) -> ((version, dataLength), first op)
    let mut data: StatSeen = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let mut seen = Vec::new();
        returned_stats(&op.call, &op.ret, &mut seen);
        for (path, st) in seen {
            stats.checked += 1;
            let keyed = [
                (
                    &mut children,
                    (path, st.czxid, st.pzxid),
                    (st.cversion, st.num_children),
                    "pzxid",
                    st.pzxid,
                    "cversion/numChildren",
                ),
                (
                    &mut data,
                    (path, st.czxid, st.mzxid),
                    (st.version, st.data_length),
                    "mzxid",
                    st.mzxid,
                    "version/dataLength",
                ),
            ];
            for (map, key, val, zname, z, what) in keyed {
                match map.get(&key) {
                    Some(&(v0, j)) if v0 != val && violations.len() < 20 => {
                        violations.push(violation(
                            checker,
                            format!(
                                "ops[{j}] and ops[{i}] saw {path} (czxid {:#x}, {zname} {z:#x}) with {what} {}/{} and {}/{}: replicas that applied the same txns disagree",
                                st.czxid, v0.0, v0.1, val.0, val.1
                            ),
                            vec![j, i],
                            None,
                        ));
                    }
                    Some(_) => {}
                    None => {
                        map.insert(key, (val, i));
                    }
                }
            }
        }
    }
    violations
}

/// Runs both ZooKeeper checks: `[zk.writes, zk.sessions(.strict)]`.
pub fn check(history: &History, opts: &ZkOptions) -> Vec<CheckReport> {
    vec![check_writes(history, opts), check_sessions(history, opts)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::SimTime;

    /// A table step: what one op did. Ops run one after another; ok ones get zxids 1, 2, ...
    enum Step {
        /// Ok create of `path` (plain) or of `prefix` returning `path` (sequential).
        Create(&'static str),
        Seq(&'static str, &'static str),
        /// Sequential create that failed with NodeExists.
        SeqExists(&'static str),
        /// A multi [sequential create, setData] that failed with BadVersion on the setData.
        FailedMulti(&'static str),
        /// A sequential create of unknown outcome.
        SeqInfo(&'static str),
        /// Ok delete.
        Delete(&'static str),
        /// A plain create that failed (NodeExists).
        PlainFailed(&'static str),
    }

    fn create_call(path: &str, sequential: bool) -> Call {
        Call::Create {
            path: path.into(),
            data: Some("d".into()),
            ephemeral: false,
            sequential,
        }
    }

    fn err(code: i32, name: &str) -> Ret {
        Ret::Error {
            code,
            name: name.into(),
        }
    }

    fn history(steps: &[Step]) -> History {
        let mut ops = Vec::new();
        let mut zxid = 0;
        for (k, step) in steps.iter().enumerate() {
            let (call, outcome, ret) = match step {
                Step::Create(p) => (
                    create_call(p, false),
                    Outcome::Ok,
                    Ret::Path {
                        path: p.to_string(),
                    },
                ),
                Step::Seq(prefix, p) => (
                    create_call(prefix, true),
                    Outcome::Ok,
                    Ret::Path {
                        path: p.to_string(),
                    },
                ),
                Step::SeqExists(prefix) => (
                    create_call(prefix, true),
                    Outcome::Fail,
                    err(NODE_EXISTS, "NodeExists"),
                ),
                Step::FailedMulti(prefix) => (
                    Call::Multi {
                        ops: vec![
                            create_call(prefix, true),
                            Call::SetData {
                                path: "/g".into(),
                                data: "x".into(),
                                version: 3,
                            },
                        ],
                    },
                    Outcome::Fail,
                    Ret::Multi {
                        results: vec![err(0, "OK"), err(-103, "BadVersion")],
                    },
                ),
                Step::SeqInfo(prefix) => (
                    create_call(prefix, true),
                    Outcome::Info,
                    err(-4, "ConnectionLoss"),
                ),
                Step::Delete(p) => (
                    Call::Delete {
                        path: p.to_string(),
                        version: -1,
                    },
                    Outcome::Ok,
                    Ret::None,
                ),
                Step::PlainFailed(p) => (
                    create_call(p, false),
                    Outcome::Fail,
                    err(NODE_EXISTS, "NodeExists"),
                ),
            };
            let ok = outcome == Outcome::Ok;
            if ok {
                zxid += 1;
            }
            let t = 10 * k as u64;
            ops.push(Op {
                process: 1,
                session: Some(1),
                node: None,
                call,
                invoke: SimTime(t),
                complete: (outcome != Outcome::Info).then_some(SimTime(t + 5)),
                outcome,
                ret,
                zxid: ok.then_some(zxid),
            });
        }
        History {
            format: crate::history::FORMAT_VERSION,
            ops,
            events: vec![],
        }
    }

    /// A table row: name, steps, and the ops of each expected violation.
    type Case = (&'static str, Vec<Step>, Vec<Vec<usize>>);

    /// The `zk.writes.sequential` violations' ops.
    fn sequential_violations(steps: &[Step]) -> Vec<Vec<usize>> {
        let r = check_writes(&history(steps), &ZkOptions::default());
        r.verdict
            .violations()
            .iter()
            .filter(|v| v.checker == "zk.writes.sequential")
            .map(|v| v.ops.clone())
            .collect()
    }

    #[test]
    fn sequential_names_follow_the_parents_child_counter() {
        use Step::*;
        const P: &str = "/p/s";
        let cases: Vec<Case> = vec![
            (
                "consecutive",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    Seq(P, "/p/s0000000001"),
                ],
                vec![],
            ),
            (
                "a plain child create counts",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    Create("/p/x"),
                    Seq(P, "/p/s0000000002"),
                ],
                vec![],
            ),
            (
                "a plain child create counts: reuse",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    Create("/p/x"),
                    Seq(P, "/p/s0000000001"),
                ],
                vec![vec![1, 3]],
            ),
            (
                "a delete does not lower the counter",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    Delete("/p/s0000000000"),
                    Seq(P, "/p/s0000000001"),
                ],
                vec![],
            ),
            (
                "the first number comes from the parent's create",
                vec![Create("/p"), Seq(P, "/p/s0000000001")],
                vec![vec![1]],
            ),
            (
                "a failed multi leaves no trace (ZOOKEEPER-1624)",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    FailedMulti(P),
                    Seq(P, "/p/s0000000001"),
                ],
                vec![],
            ),
            (
                "a failed multi leaves no trace: skip",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    FailedMulti(P),
                    Seq(P, "/p/s0000000002"),
                ],
                vec![vec![1, 3]],
            ),
            (
                "a failed plain create leaves no trace",
                vec![
                    Create("/p"),
                    Create("/p/x"),
                    PlainFailed("/p/x"),
                    Seq(P, "/p/s0000000001"),
                ],
                vec![],
            ),
            (
                "an unknown-outcome create may fill one gap",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    SeqInfo(P),
                    Seq(P, "/p/s0000000002"),
                ],
                vec![],
            ),
            (
                "an unknown-outcome create fills one gap only",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    SeqInfo(P),
                    Seq(P, "/p/s0000000002"),
                    Seq(P, "/p/s0000000004"),
                ],
                vec![vec![3, 4]],
            ),
            (
                "parent created outside the history: consecutive from the first seen",
                vec![Seq(P, "/p/s0000000007"), Seq(P, "/p/s0000000008")],
                vec![],
            ),
            (
                "a recreated parent counts from zero again",
                vec![
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                    Delete("/p/s0000000000"),
                    Delete("/p"),
                    Create("/p"),
                    Seq(P, "/p/s0000000000"),
                ],
                vec![],
            ),
            (
                "a sequential create never collides",
                vec![Create("/p"), Seq(P, "/p/s0000000000"), SeqExists(P)],
                vec![vec![2]],
            ),
            (
                "unless a plain create took a sequential-looking name",
                vec![Create("/p"), Create("/p/s0000000001"), SeqExists(P)],
                vec![],
            ),
        ];
        for (name, steps, want) in cases {
            assert_eq!(sequential_violations(&steps), want, "{name}");
        }
    }

    #[test]
    fn parent_of_paths() {
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/"), None);
    }

    /// `zk.sessions.stat`: same znode state (czxid + pzxid, czxid + mzxid) must show the
    /// same counters on every server.
    #[test]
    fn replicas_agree_on_stat() {
        let stat = |pzxid: i64, cversion: i32, mzxid: i64, version: i32| ZkStat {
            czxid: 2,
            mzxid,
            ctime: 0,
            mtime: 0,
            version,
            cversion,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 1,
            num_children: 1,
            pzxid,
        };
        let read = |k: u64, st: ZkStat| Op {
            process: k,
            session: Some(1),
            node: None,
            call: Call::GetData {
                path: "/p".into(),
                watch: false,
            },
            invoke: SimTime(10 * k),
            complete: Some(SimTime(10 * k + 5)),
            outcome: Outcome::Ok,
            ret: Ret::Data {
                data: Some("d".into()),
                stat: st,
            },
            zxid: Some(9),
        };
        let table: [(&str, ZkStat, usize); 4] = [
            ("same state, same stat", stat(5, 1, 3, 0), 0),
            ("later pzxid, higher cversion", stat(6, 2, 3, 0), 0),
            (
                "same pzxid, cversion one too high (1046)",
                stat(5, 3, 3, 0),
                1,
            ),
            ("same mzxid, another version", stat(5, 1, 3, 1), 1),
        ];
        for (name, other, want) in table {
            let h = History {
                ops: vec![read(1, stat(5, 1, 3, 0)), read(2, other)],
                ..History::new()
            };
            let mut stats = CheckStats::default();
            let got = check_stat_agreement(&h, &mut stats);
            assert_eq!(got.len(), want, "{name}: {got:?}");
            assert!(got
                .iter()
                .all(|v| v.checker == "zk.sessions.stat" && v.ops == [0, 1]));
        }
    }
}
