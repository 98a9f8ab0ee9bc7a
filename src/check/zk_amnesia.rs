//! Transactions lost to a ZooKeeper voter's amnesia: a fault outside ZooKeeper's model.
//!
//! ZAB assumes stable storage: a server that acknowledged a proposal remembers it across
//! crashes (ZooKeeper fsyncs before it acknowledges). A server whose whole disk is
//! replaced, and which rejoins under the same id, breaks that assumption: a new leader's
//! quorum can intersect the quorum that committed a transaction only in servers that have
//! forgotten it, and the transaction is gone. Real ZooKeeper 3.8 does the same (a server
//! with an empty data directory starts as if new; ZOOKEEPER-3056's
//! `zookeeper.snapshot.trust.empty` only catches a log without a snapshot), and studies of
//! ZooKeeper under disk loss report exactly this data loss (Ganesan et al., "Redundancy
//! Does Not Imply Fault Tolerance", FAST 2017).
//!
//! [`find`] names the committed transactions lost this way, exactly: a transaction `z`
//! committed before a new epoch `e` was proposed is lost to amnesia in `e` when `e`'s
//! leader started from a log ending below `z`, at least one server of `e`'s discovery
//! quorum held `z` (it acknowledged `z` into its commit quorum, or delivered it), and every
//! such server lost its whole disk after it held `z` and before `e` was proposed. If a quorum member kept `z`, or no quorum member ever had
//! it (quorum intersection itself broken: a bug), nothing is excused.
//!
//! [`split`] turns the violations that depend on such a transaction (an operation whose
//! zxid is lost, or an event about a lost zxid) into [`Excuse`]s; every other violation
//! stays a violation.

use super::{Excuse, Violation};
use crate::history::{Event, History, ZkEvent};
use kzsim_sim::{SimEvent, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// What the real system documents about this loss, as excuses quote it.
pub const DOCUMENTED: &str = "ZAB assumes every server keeps what it acknowledged; a voter that comes back with an empty disk under the same id lets a new quorum miss committed transactions (ZooKeeper starts such a server as new; Ganesan et al., FAST 2017)";

/// One committed transaction lost to amnesia.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostTxn {
    /// The epoch whose leader started without it.
    pub epoch: u32,
    /// The quorum members that had delivered it and then lost their disks.
    pub forgot: BTreeSet<String>,
    /// Indices of the disk-loss events.
    pub disk_losses: Vec<usize>,
}

/// Every committed transaction lost to amnesia, by zxid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Amnesia {
    /// Lost transactions.
    pub lost: BTreeMap<i64, LostTxn>,
}

/// Finds the committed transactions lost to a voter's amnesia (module documentation).
pub fn find(history: &History) -> Amnesia {
    // Most runs lose no disk: skip the indexing below (three checkers call this per run).
    let any_disk_lost = history.events.iter().any(|r| {
        matches!(
            r.event,
            Event::Sim(SimEvent::NodeCrashed {
                disk_lost: true,
                ..
            })
        )
    });
    if !any_disk_lost {
        return Amnesia::default();
    }
    // zxid -> (commit time, the servers whose ACKs made its quorum).
    let mut committed: BTreeMap<i64, (SimTime, Vec<String>)> = BTreeMap::new();
    let mut delivered: BTreeMap<i64, Vec<(&str, SimTime)>> = BTreeMap::new();
    let mut proposed: BTreeMap<i64, SimTime> = BTreeMap::new();
    let mut disk_losses: BTreeMap<&str, Vec<(SimTime, usize)>> = BTreeMap::new();
    // Epoch proposals: (epoch, leader, time, quorum as node names).
    let mut proposals: Vec<(u32, &str, SimTime, Vec<String>)> = Vec::new();
    // The leader's log end as its first SyncSent of an epoch reports it: (leader, after) -> zxid.
    let mut syncs: Vec<(&str, SimTime, i64)> = Vec::new();
    for (i, r) in history.events.iter().enumerate() {
        let node = r.node.as_str();
        match &r.event {
            Event::Zk(ZkEvent::Committed { zxid, acked }) => {
                committed.entry(*zxid).or_insert_with(|| {
                    (r.at, acked.iter().map(|sid| format!("zk{sid}")).collect())
                });
            }
            Event::Zk(ZkEvent::Proposed { zxid, .. }) => {
                proposed.entry(*zxid).or_insert(r.at);
            }
            Event::Zk(ZkEvent::Delivered { zxid, .. }) => {
                delivered.entry(*zxid).or_default().push((node, r.at));
            }
            Event::Zk(ZkEvent::EpochProposed { epoch, quorum }) => proposals.push((
                *epoch,
                node,
                r.at,
                quorum.iter().map(|sid| format!("zk{sid}")).collect(),
            )),
            Event::Zk(ZkEvent::SyncSent { leader_zxid, .. }) => {
                syncs.push((node, r.at, *leader_zxid))
            }
            Event::Sim(SimEvent::NodeCrashed {
                disk_lost: true, ..
            }) => disk_losses.entry(node).or_default().push((r.at, i)),
            _ => {}
        }
    }
    let mut amnesia = Amnesia::default();
    for (epoch, leader, at, quorum) in &proposals {
        let Some(leader_end) = syncs
            .iter()
            .find(|(n, t, _)| n == leader && t >= at)
            .map(|(_, _, z)| *z)
        else {
            continue;
        };
        for (&z, (commit_at, acked)) in committed.range(leader_end + 1..) {
            if commit_at > at || amnesia.lost.contains_key(&z) {
                continue;
            }
            // Who held z by the time `epoch` was proposed, and since when at the earliest:
            // the quorum that acknowledged it (each logged it after its proposal) and every
            // server that delivered it.
            let acked_since = proposed.get(&z).copied().unwrap_or(*commit_at);
            let mut holders: BTreeMap<&str, SimTime> =
                acked.iter().map(|n| (n.as_str(), acked_since)).collect();
            for (n, t) in delivered.get(&z).into_iter().flatten() {
                if t <= at {
                    let since = holders.entry(n).or_insert(*t);
                    *since = (*since).min(*t);
                }
            }
            let holders: Vec<(&str, SimTime)> = holders
                .into_iter()
                .filter(|(n, _)| quorum.iter().any(|q| q == n))
                .collect();
            if holders.is_empty() {
                continue;
            }
            let mut forgot = BTreeSet::new();
            let mut events = Vec::new();
            let every_holder_forgot = holders.iter().all(|(n, delivered_at)| {
                let loss = disk_losses
                    .get(n)
                    .and_then(|l| l.iter().find(|(t, _)| t >= delivered_at && t <= at));
                if let Some((_, i)) = loss {
                    forgot.insert(n.to_string());
                    events.push(*i);
                }
                loss.is_some()
            });
            if every_holder_forgot {
                events.sort_unstable();
                events.dedup();
                amnesia.lost.insert(
                    z,
                    LostTxn {
                        epoch: *epoch,
                        forgot,
                        disk_losses: events,
                    },
                );
            }
        }
    }
    amnesia
}

impl Amnesia {
    /// The first lost transaction a violation depends on: an involved operation whose
    /// response zxid is lost, or an involved event about a lost zxid.
    fn depends_on(&self, history: &History, v: &Violation) -> Option<i64> {
        let from_ops = v
            .ops
            .iter()
            .filter_map(|&i| history.ops.get(i).and_then(|o| o.zxid))
            .find(|z| self.lost.contains_key(z));
        from_ops.or_else(|| {
            v.events
                .iter()
                .find_map(|&i| match history.events.get(i).map(|r| &r.event) {
                    Some(Event::Zk(
                        ZkEvent::Proposed { zxid, .. }
                        | ZkEvent::Committed { zxid, .. }
                        | ZkEvent::Delivered { zxid, .. }
                        | ZkEvent::Logged { zxid }
                        | ZkEvent::SessionEnded { zxid, .. },
                    )) if self.lost.contains_key(zxid) => Some(*zxid),
                    _ => None,
                })
        })
    }

    /// Splits `violations` into those that stand and excuses for those that depend on a
    /// transaction lost to amnesia.
    pub fn split(
        &self,
        history: &History,
        violations: Vec<Violation>,
    ) -> (Vec<Violation>, Vec<Excuse>) {
        if self.lost.is_empty() {
            return (violations, Vec::new());
        }
        let mut keep = Vec::new();
        let mut excuses = Vec::new();
        for v in violations {
            match self.depends_on(history, &v) {
                Some(z) => {
                    let lost = &self.lost[&z];
                    let forgot: Vec<&str> = lost.forgot.iter().map(String::as_str).collect();
                    excuses.push(Excuse {
                        rule: v.checker.clone(),
                        message: format!(
                            "{} — it depends on transaction {z:#x}, committed but lost when the leader of epoch {} started without it: every member of its quorum that had it ({}) lost its whole disk in between",
                            v.message,
                            lost.epoch,
                            forgot.join(", ")
                        ),
                        documented: DOCUMENTED.to_string(),
                        ops: v.ops,
                        events: lost.disk_losses.clone(),
                    });
                }
                None => keep.push(v),
            }
        }
        (keep, excuses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EventRecord;

    const Z: i64 = (1 << 32) + 5;

    fn at(ms: u64, node: &str, event: Event) -> EventRecord {
        EventRecord {
            at: SimTime::from_millis(ms),
            node: node.into(),
            event,
        }
    }

    fn zk(ms: u64, node: &str, e: ZkEvent) -> EventRecord {
        at(ms, node, Event::Zk(e))
    }

    fn crash(ms: u64, node: &str, disk_lost: bool) -> EventRecord {
        at(
            ms,
            node,
            Event::Sim(SimEvent::NodeCrashed {
                torn: false,
                disk_lost,
                page_cache_kept: !disk_lost,
            }),
        )
    }

    /// zk1 leads epoch 1 and commits Z, delivered by zk1 and zk2; zk1 dies; zk2 crashes
    /// (losing its disk or not); zk3, which never had Z, leads epoch 2 with `quorum`.
    fn story(zk2_disk_lost: bool, quorum: Vec<u64>) -> History {
        let mut h = History::new();
        h.events = vec![
            zk(
                10,
                "zk1",
                ZkEvent::Committed {
                    zxid: Z,
                    acked: vec![1, 2],
                },
            ),
            zk(11, "zk1", ZkEvent::Delivered { zxid: Z, digest: 1 }),
            zk(12, "zk2", ZkEvent::Delivered { zxid: Z, digest: 1 }),
            crash(20, "zk1", false),
            crash(21, "zk2", zk2_disk_lost),
            zk(30, "zk3", ZkEvent::EpochProposed { epoch: 2, quorum }),
            zk(
                31,
                "zk3",
                ZkEvent::SyncSent {
                    follower: 2,
                    mode: crate::history::event::SyncMode::Snap,
                    follower_zxid: 0,
                    leader_zxid: Z - 2,
                    trunc_to: None,
                },
            ),
        ];
        h
    }

    fn no_gap(events: Vec<usize>) -> Violation {
        Violation {
            checker: "zab.no-gap".into(),
            message: "zk3 delivered past Z".into(),
            ops: vec![],
            events,
            state_before: None,
        }
    }

    #[test]
    fn a_txn_whose_every_intersecting_holder_lost_its_disk_is_excused() {
        let h = story(true, vec![2, 3]);
        let a = find(&h);
        assert_eq!(a.lost.keys().copied().collect::<Vec<_>>(), vec![Z]);
        assert_eq!(a.lost[&Z].forgot, BTreeSet::from(["zk2".to_string()]));
        assert_eq!(a.lost[&Z].disk_losses, vec![4]);
        let (keep, excuses) = a.split(&h, vec![no_gap(vec![2]), no_gap(vec![])]);
        assert_eq!(excuses.len(), 1, "the violation about Z is excused");
        assert_eq!(excuses[0].rule, "zab.no-gap");
        assert_eq!(keep.len(), 1, "a violation about nothing lost stands");
    }

    #[test]
    fn a_holder_that_kept_its_disk_excuses_nothing() {
        let h = story(false, vec![2, 3]);
        assert!(find(&h).lost.is_empty());
        let (keep, excuses) = find(&h).split(&h, vec![no_gap(vec![2])]);
        assert_eq!((keep.len(), excuses.len()), (1, 0));
    }

    #[test]
    fn a_quorum_that_never_intersected_the_holders_excuses_nothing() {
        // zk3 alone is no quorum of three: intersection itself is broken (a bug, such as
        // zk-quorum-off-by-one), not amnesia.
        let h = story(true, vec![3]);
        assert!(find(&h).lost.is_empty());
    }
}
