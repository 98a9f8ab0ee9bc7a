//! ZAB's properties, judged from the protocol event log (Junqueira, Reed, Serafini,
//! "Zab: High-performance broadcast for primary-backup systems", DSN 2011, section III),
//! with the invariant names of `reference/zookeeper.md` section 9:
//!
//! - `zab.integrity`: a server delivers (and a leader commits) only proposed transactions.
//! - `zab.agreement` (AGREE): one zxid names one transaction: same zxid, same digest, in
//!   every proposal and every delivery on every server.
//! - `zab.total-order`: each server delivers in increasing zxid order. Since zxids are
//!   totally ordered, this gives total order and global primary order across servers.
//! - `zab.no-gap` (DURABLE, local primary order): a server that delivers zxid `z` holds
//!   every committed transaction below `z`, and every transaction its own epoch's leader
//!   proposed before `z`. Checked at the end of the log, so commits recorded late count.
//! - `zab.durable` (DURABLE): a truncation never removes a committed transaction, with one
//!   exception ZooKeeper 3.8 has by design: `LearnerHandler.syncFollower` sends a
//!   rejoining follower whose last zxid is above the leader's last committed one
//!   `TRUNC(maxCommittedLog)`, while `Leader.processAck` counts ACKs per sid, so an ACK
//!   the follower sent before it restarted can still complete the commit of a proposal
//!   that the TRUNC just chosen cuts from its log. `startForwarding` re-sends that
//!   proposal in the same sync, so the cut is allowed when the commit came after the
//!   leader chose the TRUNC point (its `SyncSent` to that follower) and the follower
//!   delivers the transaction again afterwards; if it never does, it is a violation.
//! - `zab.primary-integrity`: a leader's first proposal of an epoch comes after it holds
//!   every transaction delivered anywhere from earlier epochs.
//! - `zab.one-leader` (ONE-LEADER): at most one established leader per epoch, and
//!   established epochs increase.
//! - `zab.zxid` (ZXID): a leader's proposals increase and carry its established epoch.
//! - `zab.converge` (AGREE): servers that end the run serving with the same last applied
//!   zxid hold equal trees (every path, its data and its Stat).
//! - `zab.election-quorum` (FLE): a server decides an election only on a tally in which
//!   more than half of the voters back the leader it decides for (ZOOKEEPER-975 decided
//!   as soon as every voter had voted, whatever they voted for). Voters are sids `1..=n`,
//!   so `n` is at least the largest sid in any recorded tally.
//! - `zab.legal` (LEGAL): no server received a ZAB message its state does not allow, as it
//!   records them ([`ZkEvent::ProtocolError`]): a leader establishing its epoch whose
//!   learner's first packet after NEWLEADER is not the NEWLEADER ACK (ZOOKEEPER-4685), a
//!   learner in sync given a COMMIT with no proposal queued (ZOOKEEPER-4394). Only the
//!   receiver knows its state, so the checker takes its word, as it would a server's error
//!   log.
//!
//! Per server the checker keeps a *delivery sequence* that restarts where the server's state
//! restarts: `Recovered { snapshot_zxid, last_zxid }` means it holds everything up to
//! `last_zxid` (its log) and may re-deliver from `snapshot_zxid`; `Truncated { to }` cuts it
//! back to `to`; `SnapLoaded { zxid }` replaces it with a snapshot at `zxid`.

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::SimEvent;
use crate::history::{Event, History, ZkEvent};
use std::collections::{BTreeMap, BTreeSet};

fn epoch_of(zxid: i64) -> u32 {
    (zxid >> 32) as u32
}

#[derive(Default)]
struct Server {
    /// Everything committed at or below `base` is assumed held (recovered or snapshot).
    base: i64,
    /// Last zxid delivered in the current sequence (re-delivery is allowed above it).
    last: i64,
    /// Zxids delivered above `base`, with the delivering event.
    held: BTreeMap<i64, usize>,
    /// Epochs in which this server has proposed, with its last proposal.
    last_proposed: Option<i64>,
    established: Option<u32>,
}

fn v(checker: &str, message: String, events: Vec<usize>) -> Violation {
    let mut events = events;
    events.sort();
    events.dedup();
    Violation {
        checker: checker.to_string(),
        message,
        ops: vec![],
        events,
        state_before: None,
    }
}

/// Checks ZAB's safety properties over `history.events` (ZooKeeper events only).
///
/// Guarantees: `Ok` only if none of the properties in the module documentation is broken
/// by the recorded events; each violation names the events that show it. A history with
/// no ZooKeeper events is `Unknown` (nothing was judged).
pub fn check(history: &History) -> CheckReport {
    let mut stats = CheckStats::default();
    let mut out: Vec<Violation> = Vec::new();
    let mut servers: BTreeMap<&str, Server> = BTreeMap::new();
    // zxid -> (digest, event that first named it)
    let mut digests: BTreeMap<i64, (u64, usize)> = BTreeMap::new();
    let mut proposed: BTreeMap<i64, usize> = BTreeMap::new();
    let mut committed: BTreeMap<i64, usize> = BTreeMap::new();
    let mut delivered_any: BTreeMap<i64, usize> = BTreeMap::new();
    let mut established: BTreeMap<u32, (String, usize)> = BTreeMap::new();
    let mut first_proposal_checked: BTreeSet<(String, u32)> = BTreeSet::new();
    // (server, lower bound exclusive, delivered zxid, event) for the end-of-log gap check.
    let mut deliveries: Vec<(String, i64, i64, usize)> = Vec::new();
    // last applied zxid -> (tree digest, server, event) of the first server that ended there.
    let mut final_trees: BTreeMap<i64, (u64, &str, usize)> = BTreeMap::new();
    // follower node -> (TRUNC point, event) of the last TRUNC a leader chose for it.
    let mut trunc_chosen: BTreeMap<String, (i64, usize)> = BTreeMap::new();
    // (server, zxid) -> events at which it delivered that zxid, for `zab.durable`'s
    // re-sent-in-the-same-sync exception.
    let mut deliveries_of: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
    for (ei, rec) in history.events.iter().enumerate() {
        if let Event::Zk(ZkEvent::Delivered { zxid, .. }) = &rec.event {
            deliveries_of
                .entry((rec.node.as_str(), *zxid))
                .or_default()
                .push(ei);
        }
    }
    // A lower bound on the voter count: the largest sid any election tally names.
    let voters_min = history
        .events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Zk(ZkEvent::ElectionDecided { votes, .. }) => {
                votes.iter().map(|&(s, l)| s.max(l)).max()
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);

    // server -> the event of its pause in progress; server -> (pause, resume) events of its
    // latest pause that ended.
    let mut paused_at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut last_pause: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (ei, rec) in history.events.iter().enumerate() {
        match &rec.event {
            Event::Sim(SimEvent::NodePaused) => {
                paused_at.insert(rec.node.as_str(), ei);
            }
            Event::Sim(SimEvent::NodeResumed) => {
                if let Some(p) = paused_at.remove(rec.node.as_str()) {
                    last_pause.insert(rec.node.as_str(), (p, ei));
                }
            }
            _ => {}
        }
        let Event::Zk(ev) = &rec.event else { continue };
        if ev.is_client_side() {
            continue; // a client's own events: not a server's
        }
        stats.checked += 1;
        let node = rec.node.as_str();
        let s = servers.entry(node).or_default();
        let mut agree = |zxid: i64, digest: u64, out: &mut Vec<Violation>| {
            match digests.get(&zxid) {
            Some(&(d, first)) if d != digest => out.push(v(
                "zab.agreement",
                format!("zxid {zxid:#x} names two transactions: digest {d:#x} (events[{first}]) and {digest:#x} on {node}"),
                vec![first, ei],
            )),
            Some(_) => {}
            None => {
                digests.insert(zxid, (digest, ei));
            }
        }
        };
        match ev {
            ZkEvent::Proposed { zxid, digest, .. } => {
                agree(*zxid, *digest, &mut out);
                let e = epoch_of(*zxid);
                if let Some(est) = s.established {
                    if est != e {
                        out.push(v("zab.zxid", format!("{node} established epoch {est} but proposed zxid {zxid:#x} (epoch {e})"), vec![ei]));
                    }
                }
                if let Some(prev) = s.last_proposed {
                    if epoch_of(prev) == e && *zxid <= prev {
                        out.push(v("zab.zxid", format!("{node} proposed {zxid:#x} after {prev:#x}: proposals must increase"), vec![ei]));
                    }
                }
                s.last_proposed = Some(*zxid);
                if first_proposal_checked.insert((node.to_string(), e)) {
                    let floor = (e as i64) << 32;
                    for (&d, &dei) in delivered_any
                        .range(s.base.saturating_add(1)..floor.max(s.base.saturating_add(1)))
                    {
                        if !s.held.contains_key(&d) {
                            out.push(v(
                                "zab.primary-integrity",
                                format!("{node} began proposing in epoch {e} without {d:#x}, delivered earlier (events[{dei}])"),
                                vec![dei, ei],
                            ));
                            break;
                        }
                    }
                }
                proposed.entry(*zxid).or_insert(ei);
            }
            ZkEvent::Committed { zxid, .. } => {
                if !proposed.contains_key(zxid) {
                    out.push(v(
                        "zab.integrity",
                        format!("{node} committed {zxid:#x}, which no leader proposed"),
                        vec![ei],
                    ));
                }
                committed.entry(*zxid).or_insert(ei);
            }
            ZkEvent::FinalTree { zxid, digest } => match final_trees.get(zxid) {
                Some(&(d, other, first)) if d != *digest => out.push(v(
                    "zab.converge",
                    format!("{other} and {node} both applied up to {zxid:#x} but their trees differ (digests {d:#x} and {digest:#x})"),
                    vec![first, ei],
                )),
                Some(_) => {}
                None => {
                    final_trees.insert(*zxid, (*digest, node, ei));
                }
            },
            ZkEvent::Delivered { zxid, digest } => {
                agree(*zxid, *digest, &mut out);
                if !proposed.contains_key(zxid) {
                    out.push(v(
                        "zab.integrity",
                        format!("{node} delivered {zxid:#x}, which no leader proposed"),
                        vec![ei],
                    ));
                }
                if *zxid <= s.last {
                    out.push(v(
                        "zab.total-order",
                        format!(
                            "{node} delivered {zxid:#x} after {:#x} in the same sequence",
                            s.last
                        ),
                        vec![s.held.get(&s.last).copied().unwrap_or(ei), ei],
                    ));
                }
                deliveries.push((node.to_string(), s.base.max(s.last), *zxid, ei));
                s.last = s.last.max(*zxid);
                s.held.insert(*zxid, ei);
                delivered_any.entry(*zxid).or_insert(ei);
            }
            ZkEvent::Recovered {
                snapshot_zxid,
                last_zxid,
                ..
            } => {
                s.held.retain(|z, _| z <= last_zxid);
                s.base = *last_zxid;
                s.last = *snapshot_zxid;
                s.established = None;
                s.last_proposed = None;
            }
            ZkEvent::Truncated { to } => {
                let top = s
                    .last
                    .max(s.base)
                    .max(s.held.keys().next_back().copied().unwrap_or(0));
                // The leader chose this TRUNC point before `c` committed, and the same
                // sync gave `c` back (see the module documentation).
                let resent = |c: i64, cei: usize| {
                    trunc_chosen
                        .get(node)
                        .is_some_and(|&(point, sei)| point == *to && sei < cei)
                        && deliveries_of
                            .get(&(node, c))
                            .is_some_and(|d| d.iter().any(|&dei| dei > ei))
                };
                if let Some((&c, &cei)) = committed
                    .range(to.saturating_add(1)..top.saturating_add(1).max(to.saturating_add(1)))
                    .filter(|(c, _)| **c <= s.base || s.held.contains_key(c))
                    .find(|(&c, &cei)| !resent(c, cei))
                {
                    out.push(v("zab.durable", format!("{node} truncated to {to:#x}, dropping committed {c:#x} (events[{cei}])"), vec![cei, ei]));
                }
                s.held.retain(|z, _| z <= to);
                s.base = s.base.min(*to);
                s.last = s.last.min(*to);
            }
            ZkEvent::SyncSent {
                follower,
                trunc_to: Some(point),
                ..
            } => {
                trunc_chosen.insert(format!("zk{follower}"), (*point, ei));
            }
            ZkEvent::SnapLoaded { zxid } => {
                s.held.clear();
                s.base = *zxid;
                s.last = *zxid;
            }
            ZkEvent::ElectionDecided { leader, votes, .. } => {
                let voters = (voters_min as usize).max(votes.len());
                let backing = votes.iter().filter(|(_, l)| l == leader).count();
                if backing * 2 <= voters {
                    out.push(v(
                        "zab.election-quorum",
                        format!("{node} decided for leader {leader} backed by {backing} of at least {voters} voters: {votes:?}"),
                        vec![ei],
                    ));
                }
            }
            ZkEvent::LeaderEstablished { epoch, .. } => {
                if let Some((other, oei)) = established.get(epoch) {
                    if other != node {
                        out.push(v(
                            "zab.one-leader",
                            format!(
                                "{other} and {node} both established as leader of epoch {epoch}"
                            ),
                            vec![*oei, ei],
                        ));
                    }
                } else if let Some((&max_e, (other, oei))) = established.iter().next_back() {
                    // A leader paused across the newer establishment may have had its
                    // quorum's NEWLEADER ACKs in hand (or on the wire) before it: it records
                    // its own only when it runs again, and the ACKs' send times are not
                    // recorded, so this order says nothing (seed 1376 of issue 21).
                    let paused_across = last_pause
                        .get(node)
                        .is_some_and(|&(p, r)| p < *oei && *oei < r);
                    if max_e > *epoch && !paused_across {
                        out.push(v(
                            "zab.one-leader",
                            format!("{node} established epoch {epoch} after {other} established epoch {max_e}: epochs must increase"),
                            vec![*oei, ei],
                        ));
                    }
                }
                established.entry(*epoch).or_insert((node.to_string(), ei));
                s.established = Some(*epoch);
            }
            ZkEvent::ProtocolError { msg, from, reason } => out.push(v(
                "zab.legal",
                format!("{node} received {msg} from server {from}: {reason}"),
                vec![ei],
            )),
            ZkEvent::SteppedDown { .. } | ZkEvent::RoleChanged { .. } => {
                if matches!(ev, ZkEvent::SteppedDown { .. }) {
                    s.established = None;
                }
            }
            _ => {}
        }
    }
    // Gaps: a delivery of z over a sequence that lacks a committed (or same-epoch proposed) c.
    let mut gaps = 0;
    for (node, lo, z, ei) in &deliveries {
        let floor_epoch = ((epoch_of(*z) as i64) << 32).max(lo + 1);
        let missing = committed
            .range(lo.saturating_add(1)..(*z).max(lo.saturating_add(1)))
            .next()
            .map(|(c, cei)| (*c, *cei, "committed"))
            .or_else(|| {
                if floor_epoch < *z {
                    proposed
                        .range(floor_epoch..*z)
                        .next()
                        .map(|(c, pei)| (*c, *pei, "proposed earlier in the same epoch"))
                } else {
                    None
                }
            });
        if let Some((c, cei, why)) = missing {
            gaps += 1;
            if gaps <= 20 {
                out.push(v(
                    "zab.no-gap",
                    format!("{node} delivered {z:#x} without {c:#x} ({why}, events[{cei}])"),
                    vec![cei, *ei],
                ));
            }
        }
    }
    stats.partitions = servers.len() as u64;
    if stats.checked == 0 {
        return CheckReport::new(
            "zab",
            Verdict::Unknown {
                reason: "the history has no ZooKeeper events".into(),
            },
            stats,
        );
    }
    let (out, excuses) = super::zk_amnesia::find(history).split(history, out);
    CheckReport::new("zab", Verdict::judge(out, excuses), stats)
}
