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
//! [`find`] names the committed transactions lost this way, exactly. ZooKeeper's leader
//! starts from its own history, chosen by FastLeaderElection as the newest among a quorum
//! of votes, so that quorum is the one that must carry every committed transaction. A
//! transaction `z` committed before a new epoch `e` was proposed is lost to amnesia in `e`
//! when `e`'s leader started from a log ending below `z`, at least one server whose vote
//! elected that leader had held `z` (it acknowledged `z` into its commit quorum, proposed
//! it, or delivered it), and every such server lost its whole disk after it was last seen
//! holding `z` and before `e` was proposed. If such a voter kept `z`, or none ever had it
//! (quorum intersection itself broken: a bug), nothing is excused.
//!
//! A leader can also forget for itself: FastLeaderElection trusts the zxid a vote names,
//! and a vote for a server cast before that server lost its disk still names the history
//! it had (ZooKeeper's `updateProposal` adopts it, even for the server's own id). So `z` is
//! also lost to amnesia in `e` when `e`'s leader won its election on a vote naming a zxid
//! at or above `z`, started from a log ending below `z`, had itself held `z`, and lost its
//! whole disk after it held `z` and before `e` was proposed. Its followers, told to
//! truncate to its log, lose `z` with it (a follower ahead of the leader is refused only
//! until the epoch's quorum has acknowledged, `Leader.waitForEpochAck`).
//!
//! [`split`] turns the violations that depend on such a transaction (an operation whose
//! zxid is lost, or an event about a lost zxid) into [`Excuse`]s; every other violation
//! stays a violation.

use super::{Excuse, Violation};
use crate::history::{Event, History, ZkEvent};
use crate::history::{SimEvent, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// What the real system documents about this loss, as excuses quote it.
pub const DOCUMENTED: &str = "ZAB assumes every server keeps what it acknowledged; a voter that comes back with an empty disk under the same id lets a new quorum miss committed transactions and hand out an epoch number again (ZooKeeper starts such a server as new; Ganesan et al., FAST 2017)";

/// One committed transaction lost to amnesia.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostTxn {
    /// The epoch whose leader started without it.
    pub epoch: u32,
    /// The servers that had held it and then lost their disks.
    pub forgot: BTreeSet<String>,
    /// Indices of the disk-loss events.
    pub disk_losses: Vec<usize>,
    /// Whose forgetting lost it.
    pub how: Forgetter,
}

impl LostTxn {
    /// How it was lost: "committed but lost when the leader of epoch ... started without
    /// it: ..." naming whose disk losses did it.
    pub fn how_lost(&self) -> String {
        let forgot: Vec<&str> = self.forgot.iter().map(String::as_str).collect();
        let why = match self.how {
            Forgetter::Quorum => format!(
                "every server that had it among those whose votes elected that leader ({}) lost its whole disk in between",
                forgot.join(", ")
            ),
            Forgetter::Leader { vote_zxid } => format!(
                "that leader ({}) had held it, won its election on a vote naming zxid {vote_zxid:#x} from before it lost its whole disk, and synced its followers to the emptier log it had after",
                forgot.join(", ")
            ),
        };
        format!(
            "committed but lost when the leader of epoch {} started without it: {why}",
            self.epoch
        )
    }
}

/// Whose amnesia lost a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forgetter {
    /// Every member of the new epoch's quorum that had held it.
    Quorum,
    /// The new leader itself, elected on a vote naming `vote_zxid`, a history it had held
    /// before its disk was lost.
    Leader {
        /// The zxid the winning vote named.
        vote_zxid: i64,
    },
}

/// An epoch established by a quorum that had forgotten an epoch at least as high: every
/// member it shared with that earlier epoch's quorum lost its whole disk in between, so
/// none remembered the higher acceptedEpoch and the number was handed out again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgottenEpoch {
    /// The epoch established again (or below a higher one).
    pub epoch: u32,
    /// Who established it.
    pub leader: String,
    /// The highest epoch established before it.
    pub above: u32,
    /// The quorum members that had known an epoch at least as high and lost their disks.
    pub forgot: BTreeSet<String>,
    /// Indices of those disk-loss events.
    pub disk_losses: Vec<usize>,
}

/// Every committed transaction lost to amnesia, by zxid, and every epoch number a
/// forgetful quorum handed out again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Amnesia {
    /// Lost transactions.
    pub lost: BTreeMap<i64, LostTxn>,
    /// Forgotten epochs, by the index of their `LeaderEstablished` event.
    pub epochs: BTreeMap<usize, ForgottenEpoch>,
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
    let mut proposers: BTreeMap<i64, (&str, SimTime)> = BTreeMap::new();
    let mut disk_losses: BTreeMap<&str, Vec<(SimTime, usize)>> = BTreeMap::new();
    // Epoch proposals: (epoch, leader, time, the connecting quorum whose acceptedEpochs
    // chose the number, as node names).
    let mut proposals: Vec<(u32, &str, SimTime, Vec<String>)> = Vec::new();
    // The leader's log end as its first SyncSent of an epoch reports it: (leader, after) -> zxid.
    let mut syncs: Vec<(&str, SimTime, i64)> = Vec::new();
    // Leaderships established: (event, epoch, leader, time, quorum as node names).
    let mut established: Vec<(usize, u32, &str, SimTime, Vec<String>)> = Vec::new();
    // Elections a server decided for itself: (server, time, the zxid its winning vote
    // named, the voters whose votes for it made the quorum).
    let mut won: Vec<(&str, SimTime, i64, Vec<String>)> = Vec::new();
    for (i, r) in history.events.iter().enumerate() {
        let node = r.node.as_str();
        match &r.event {
            Event::Zk(ZkEvent::ElectionDecided {
                leader,
                zxid,
                votes,
                ..
            }) if node == format!("zk{leader}") => won.push((
                node,
                r.at,
                *zxid,
                votes
                    .iter()
                    .filter(|(_, l)| l == leader)
                    .map(|(voter, _)| format!("zk{voter}"))
                    .collect(),
            )),
            Event::Zk(ZkEvent::Committed { zxid, acked }) => {
                committed.entry(*zxid).or_insert_with(|| {
                    (r.at, acked.iter().map(|sid| format!("zk{sid}")).collect())
                });
            }
            Event::Zk(ZkEvent::Proposed { zxid, .. }) => {
                proposed.entry(*zxid).or_insert(r.at);
                proposers.entry(*zxid).or_insert((node, r.at));
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
            Event::Zk(ZkEvent::LeaderEstablished { epoch, quorum }) => established.push((
                i,
                *epoch,
                node,
                r.at,
                quorum.iter().map(|sid| format!("zk{sid}")).collect(),
            )),
            Event::Sim(SimEvent::NodeCrashed {
                disk_lost: true, ..
            }) => disk_losses.entry(node).or_default().push((r.at, i)),
            _ => {}
        }
    }
    let mut amnesia = Amnesia {
        epochs: forgotten_epochs(&established, &proposals, &disk_losses),
        ..Amnesia::default()
    };
    for (epoch, leader, at, _) in &proposals {
        let Some(leader_end) = syncs
            .iter()
            .find(|(n, t, _)| n == leader && t >= at)
            .map(|(_, _, z)| *z)
        else {
            continue;
        };
        // The election that made this leader: without one recorded, nothing is excused.
        let Some((_, _, vote_zxid, voters)) =
            won.iter().rev().find(|(n, t, _, _)| n == leader && t <= at)
        else {
            continue;
        };
        for (&z, (commit_at, acked)) in committed.range(leader_end + 1..) {
            if commit_at > at || amnesia.lost.contains_key(&z) {
                continue;
            }
            // Who held z by the time `epoch` was proposed, and when it was last seen to:
            // the quorum that acknowledged it (each logged it after its proposal; its ACK
            // may still have been in flight when it crashed), its proposer, and every
            // server that delivered it. Only a disk loss after that time made it forget.
            let acked_from = proposed.get(&z).copied().unwrap_or(*commit_at);
            let mut holders: BTreeMap<&str, SimTime> =
                acked.iter().map(|n| (n.as_str(), acked_from)).collect();
            let seen = delivered
                .get(&z)
                .into_iter()
                .flatten()
                .copied()
                .chain(proposers.get(&z).copied());
            for (n, t) in seen {
                if t <= *at {
                    let last = holders.entry(n).or_insert(t);
                    *last = (*last).max(t);
                }
            }
            // The leader's own amnesia: its winning vote named a history with z in it.
            if let Some(last_held) = holders.get(leader) {
                let mut f = Forgetting::default();
                if *vote_zxid >= z
                    && f.lost_disk(&disk_losses, leader, |t| t >= *last_held && t <= *at)
                {
                    let how = Forgetter::Leader {
                        vote_zxid: *vote_zxid,
                    };
                    amnesia.lost.insert(z, f.lost_txn(*epoch, how));
                    continue;
                }
            }
            let holders: Vec<(&str, SimTime)> = holders
                .into_iter()
                .filter(|(n, _)| voters.iter().any(|q| q == n))
                .collect();
            if holders.is_empty() {
                continue;
            }
            let mut f = Forgetting::default();
            let every_holder_forgot = holders.iter().all(|(n, last_held)| {
                f.lost_disk(&disk_losses, n, |t| t >= *last_held && t <= *at)
            });
            if every_holder_forgot {
                amnesia
                    .lost
                    .insert(z, f.lost_txn(*epoch, Forgetter::Quorum));
            }
        }
    }
    amnesia
}

/// The servers found to have lost their whole disks, and those disk-loss events.
#[derive(Default)]
struct Forgetting {
    forgot: BTreeSet<String>,
    events: Vec<usize>,
}

impl Forgetting {
    /// True if `node` lost its whole disk at a time `within` accepts (the first such loss
    /// is noted).
    fn lost_disk(
        &mut self,
        disk_losses: &BTreeMap<&str, Vec<(SimTime, usize)>>,
        node: &str,
        within: impl Fn(SimTime) -> bool,
    ) -> bool {
        let loss = disk_losses
            .get(node)
            .and_then(|l| l.iter().find(|(t, _)| within(*t)));
        if let Some((_, i)) = loss {
            self.forgot.insert(node.to_string());
            self.events.push(*i);
        }
        loss.is_some()
    }

    /// The servers and the sorted, distinct events.
    fn done(mut self) -> (BTreeSet<String>, Vec<usize>) {
        self.events.sort_unstable();
        self.events.dedup();
        (self.forgot, self.events)
    }

    /// The transaction lost in `epoch` by these servers' forgetting, `how`.
    fn lost_txn(self, epoch: u32, how: Forgetter) -> LostTxn {
        let (forgot, disk_losses) = self.done();
        LostTxn {
            epoch,
            forgot,
            disk_losses,
            how,
        }
    }
}

/// The establishments whose epoch is at or below one established earlier, where every
/// server that the earlier establishment's quorum shares with the quorum that chose the
/// new number (the connecting servers whose acceptedEpochs the leader took the maximum
/// of; the establishing quorum if no proposal was recorded) lost its whole disk between
/// the two (quorum intersection would otherwise have carried the higher acceptedEpoch into
/// the choice). An establishment with an earlier, higher-or-equal epoch whose quorum the
/// choosing one does not intersect at all is broken intersection (a bug), never forgotten.
fn forgotten_epochs(
    established: &[(usize, u32, &str, SimTime, Vec<String>)],
    proposals: &[(u32, &str, SimTime, Vec<String>)],
    disk_losses: &BTreeMap<&str, Vec<(SimTime, usize)>>,
) -> BTreeMap<usize, ForgottenEpoch> {
    let mut out = BTreeMap::new();
    for (k, (event, epoch, leader, at, quorum)) in established.iter().enumerate() {
        let earlier: Vec<_> = established[..k]
            .iter()
            .filter(|(_, e, _, _, _)| e >= epoch)
            .collect();
        if earlier.is_empty() {
            continue;
        }
        let (chosen_at, chosen_by) = proposals
            .iter()
            .rev()
            .find(|(e, l, t, _)| e == epoch && l == leader && t <= at)
            .map_or((at, quorum), |(_, _, t, q)| (t, q));
        let mut f = Forgetting::default();
        let every_one_forgot = earlier.iter().all(|(_, _, _, then, q)| {
            let shared: Vec<&String> = chosen_by.iter().filter(|m| q.contains(m)).collect();
            !shared.is_empty()
                && shared
                    .iter()
                    .all(|m| f.lost_disk(disk_losses, m, |t| t > *then && t < *chosen_at))
        });
        if every_one_forgot {
            let (forgot, events) = f.done();
            let above = earlier
                .iter()
                .map(|(_, e, _, _, _)| *e)
                .max()
                .unwrap_or(*epoch);
            out.insert(
                *event,
                ForgottenEpoch {
                    epoch: *epoch,
                    leader: leader.to_string(),
                    above,
                    forgot,
                    disk_losses: events,
                },
            );
        }
    }
    out
}

impl Amnesia {
    /// What a violation depends on that amnesia took: an involved operation whose
    /// response zxid is lost, an involved event about a lost zxid, an involved
    /// establishment of a forgotten epoch, or an involved zxid of a forgotten epoch number
    /// (two different transactions may carry it).
    fn depends_on(&self, history: &History, v: &Violation) -> Option<Cause> {
        let op_zxids = v
            .ops
            .iter()
            .filter_map(|&i| history.ops.get(i).and_then(|o| o.zxid));
        let event_zxids =
            v.events
                .iter()
                .filter_map(|&i| match history.events.get(i).map(|r| &r.event) {
                    Some(Event::Zk(
                        ZkEvent::Proposed { zxid, .. }
                        | ZkEvent::Committed { zxid, .. }
                        | ZkEvent::Delivered { zxid, .. }
                        | ZkEvent::Logged { zxid }
                        | ZkEvent::FinalTree { zxid, .. }
                        | ZkEvent::SessionEnded { zxid, .. },
                    )) => Some(*zxid),
                    _ => None,
                });
        let zxids: Vec<i64> = op_zxids.chain(event_zxids).collect();
        if let Some(z) = zxids.iter().find(|z| self.lost.contains_key(z)) {
            return Some(Cause::Txn(*z));
        }
        if let Some(&e) = v.events.iter().find(|e| self.epochs.contains_key(e)) {
            return Some(Cause::Epoch(e));
        }
        zxids.iter().find_map(|z| {
            let epoch = (*z >> 32) as u32;
            self.epochs
                .iter()
                .find(|(_, f)| f.epoch == epoch)
                .map(|(e, _)| Cause::Epoch(*e))
        })
    }

    /// Splits `violations` into those that stand and excuses for those that depend on what
    /// amnesia took.
    pub fn split(
        &self,
        history: &History,
        violations: Vec<Violation>,
    ) -> (Vec<Violation>, Vec<Excuse>) {
        if self.lost.is_empty() && self.epochs.is_empty() {
            return (violations, Vec::new());
        }
        let mut keep = Vec::new();
        let mut excuses = Vec::new();
        for v in violations {
            match self.depends_on(history, &v) {
                Some(cause) => {
                    let (why, events) = self.explain(cause);
                    excuses.push(Excuse {
                        rule: v.checker.clone(),
                        message: format!("{} — {why}", v.message),
                        documented: DOCUMENTED.to_string(),
                        ops: v.ops,
                        events,
                    });
                }
                None => keep.push(v),
            }
        }
        (keep, excuses)
    }

    /// Why `cause` is amnesia's doing, and the disk-loss events behind it.
    fn explain(&self, cause: Cause) -> (String, Vec<usize>) {
        match cause {
            Cause::Txn(z) => {
                let lost = &self.lost[&z];
                (
                    format!("it depends on transaction {z:#x}, {}", lost.how_lost()),
                    lost.disk_losses.clone(),
                )
            }
            Cause::Epoch(e) => {
                let f = &self.epochs[&e];
                let forgot: Vec<&str> = f.forgot.iter().map(String::as_str).collect();
                (
                    format!(
                        "it depends on epoch {}, which {} established (events[{e}]) after epoch {} had already been established: every server its quorum shared with the earlier ones ({}) had lost its whole disk, and with it the higher acceptedEpoch, so the number was handed out again",
                        f.epoch,
                        f.leader,
                        f.above,
                        forgot.join(", ")
                    ),
                    f.disk_losses.clone(),
                )
            }
        }
    }

    /// The forgotten epoch `epoch` was established by, at or before `at`, if a forgetful
    /// quorum handed that number out (the latest such establishment).
    pub fn forgotten(&self, epoch: u32) -> Option<(usize, &ForgottenEpoch)> {
        self.epochs
            .iter()
            .rev()
            .find(|(_, f)| f.epoch == epoch)
            .map(|(e, f)| (*e, f))
    }
}

/// What amnesia took that a violation depends on.
#[derive(Clone, Copy, Debug)]
enum Cause {
    /// A committed transaction lost.
    Txn(i64),
    /// An establishment (event index) of a forgotten epoch.
    Epoch(usize),
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

    /// `node` decides FastLeaderElection for `leader` on a vote naming `zxid`, with the
    /// votes of `voters` for it.
    fn decided(ms: u64, node: &str, leader: u64, zxid: i64, voters: &[u64]) -> EventRecord {
        zk(
            ms,
            node,
            ZkEvent::ElectionDecided {
                leader,
                zxid,
                round: 2,
                peer_epoch: (zxid >> 32) as u32,
                votes: voters.iter().map(|v| (*v, leader)).collect(),
                took_ms: 200,
            },
        )
    }

    fn committed(ms: u64, leader: &str, acked: Vec<u64>) -> EventRecord {
        zk(ms, leader, ZkEvent::Committed { zxid: Z, acked })
    }

    fn delivered(ms: u64, node: &str) -> EventRecord {
        zk(ms, node, ZkEvent::Delivered { zxid: Z, digest: 1 })
    }

    fn sync_from(ms: u64, leader: &str, leader_zxid: i64) -> EventRecord {
        zk(
            ms,
            leader,
            ZkEvent::SyncSent {
                follower: 2,
                mode: crate::history::event::SyncMode::Snap,
                follower_zxid: 0,
                leader_zxid,
                trunc_to: None,
            },
        )
    }

    /// zk1 leads epoch 1 and commits Z, delivered by zk1 and zk2; zk1 dies; zk2 crashes
    /// (losing its disk or not); zk3, which never had Z, is elected by the votes of
    /// `voters` and leads epoch 2.
    fn story(zk2_disk_lost: bool, voters: Vec<u64>) -> History {
        let mut h = History::new();
        h.events = vec![
            committed(10, "zk1", vec![1, 2]),
            delivered(11, "zk1"),
            delivered(12, "zk2"),
            crash(20, "zk1", false),
            crash(21, "zk2", zk2_disk_lost),
            decided(29, "zk3", 3, Z - 2, &voters),
            zk(
                30,
                "zk3",
                ZkEvent::EpochProposed {
                    epoch: 2,
                    quorum: vec![2, 3],
                },
            ),
            sync_from(31, "zk3", Z - 2),
        ];
        h
    }

    /// zk2 leads epoch 1 and commits Z with zk3; zk2 loses its disk (or only crashes)
    /// and comes back empty; the votes of `voters` elect it on a vote naming `vote`, its
    /// history before the crash; it leads epoch 2 from an empty log.
    fn leader_story(zk2_disk_lost: bool, vote: i64, voters: &[u64]) -> History {
        let mut h = History::new();
        h.events = vec![
            zk(
                10,
                "zk2",
                ZkEvent::Proposed {
                    zxid: Z,
                    digest: 1,
                    txn: "create /a".into(),
                },
            ),
            committed(11, "zk2", vec![2, 3]),
            delivered(12, "zk3"),
            crash(20, "zk2", zk2_disk_lost),
            decided(30, "zk2", 2, vote, voters),
            zk(
                31,
                "zk2",
                ZkEvent::EpochProposed {
                    epoch: 2,
                    quorum: vec![1, 2],
                },
            ),
            sync_from(32, "zk2", if zk2_disk_lost { 0 } else { Z }),
        ];
        h
    }

    #[test]
    fn a_txn_the_leader_forgot_after_its_vote_named_it_is_excused() {
        // zk3 kept Z and voted too; the vote named zk2's history before its disk loss.
        let h = leader_story(true, Z + 3, &[2, 3]);
        let a = find(&h);
        let lost = &a.lost[&Z];
        assert_eq!(lost.how, Forgetter::Leader { vote_zxid: Z + 3 });
        assert_eq!(lost.forgot, BTreeSet::from(["zk2".to_string()]));
        assert_eq!(lost.disk_losses, vec![3]);
        assert!(lost
            .how_lost()
            .contains("won its election on a vote naming zxid"));
        let (keep, excuses) = a.split(&h, vec![no_gap(vec![1])]);
        assert_eq!((keep.len(), excuses.len()), (0, 1));
    }

    #[test]
    fn a_leader_that_kept_its_disk_or_never_claimed_the_txn_excuses_nothing() {
        // Without a disk loss the leader's empty log is a bug, not amnesia.
        assert!(find(&leader_story(false, Z + 3, &[2, 3])).lost.is_empty());
        // A vote below Z with zk3 (which kept Z) voting: intersection broke, a bug.
        assert!(find(&leader_story(true, Z - 1, &[2, 3])).lost.is_empty());
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

    fn established(ms: u64, node: &str, epoch: u32, quorum: Vec<u64>) -> EventRecord {
        zk(ms, node, ZkEvent::LeaderEstablished { epoch, quorum })
    }

    /// zk1 leads epoch 1 with zk2, zk2 leads epoch 2 with zk3; zk2 and zk3 lose their disks
    /// (or zk3 keeps it); then zk3 establishes epoch 1 again with `quorum`.
    fn reuse_story(zk3_disk_lost: bool, quorum: Vec<u64>) -> History {
        let mut h = History::new();
        h.events = vec![
            established(10, "zk1", 1, vec![1, 2]),
            established(20, "zk2", 2, vec![2, 3]),
            crash(30, "zk2", true),
            crash(31, "zk3", zk3_disk_lost),
            established(40, "zk3", 1, quorum),
        ];
        h
    }

    fn one_leader(events: Vec<usize>) -> Violation {
        Violation {
            checker: "zab.one-leader".into(),
            message: "zk1 and zk3 both established as leader of epoch 1".into(),
            ops: vec![],
            events,
            state_before: None,
        }
    }

    #[test]
    fn an_epoch_handed_out_again_by_a_quorum_that_forgot_it_is_excused() {
        let h = reuse_story(true, vec![2, 3]);
        let a = find(&h);
        let f = &a.epochs[&4];
        assert_eq!((f.epoch, f.above, f.leader.as_str()), (1, 2, "zk3"));
        assert_eq!(
            f.forgot,
            BTreeSet::from(["zk2".to_string(), "zk3".to_string()])
        );
        assert_eq!(f.disk_losses, vec![2, 3]);
        let (keep, excuses) = a.split(&h, vec![one_leader(vec![0, 4])]);
        assert_eq!((keep.len(), excuses.len()), (0, 1));
        assert!(excuses[0]
            .message
            .contains("it depends on epoch 1, which zk3 established"));
        // A violation about a zxid of the reused epoch number is ambiguous too.
        assert_eq!(a.forgotten(1).map(|(e, _)| e), Some(4));
    }

    #[test]
    fn an_epoch_reused_while_a_shared_server_remembered_is_not_excused() {
        // zk3 kept its disk: it remembered epoch 2, so reusing epoch 1 is a bug.
        let h = reuse_story(false, vec![2, 3]);
        assert!(find(&h).epochs.is_empty());
        let (keep, excuses) = find(&h).split(&h, vec![one_leader(vec![0, 4])]);
        assert_eq!((keep.len(), excuses.len()), (1, 0));
        // A quorum sharing nobody with epoch 2's is broken intersection, not amnesia.
        let h = reuse_story(true, vec![1, 3]);
        assert!(find(&h).epochs.is_empty());
    }

    #[test]
    fn a_quorum_that_never_intersected_the_holders_excuses_nothing() {
        // zk3 alone is no quorum of three: intersection itself is broken (a bug, such as
        // zk-quorum-off-by-one), not amnesia.
        let h = story(true, vec![3]);
        assert!(find(&h).lost.is_empty());
    }

    /// zk1 leads epoch 1 with zk3 (which keeps its disk throughout), zk2 leads epoch 2
    /// with zk1; zk1 and zk2 lose their disks; zk2 chooses epoch 1 again from the
    /// acceptedEpochs of `chosen_by` and establishes it with zk3.
    fn chosen_again_story(chosen_by: Vec<u64>) -> History {
        let mut h = History::new();
        h.events = vec![
            established(10, "zk1", 1, vec![1, 3]),
            established(20, "zk2", 2, vec![1, 2]),
            crash(30, "zk1", true),
            crash(31, "zk2", true),
            zk(
                40,
                "zk2",
                ZkEvent::EpochProposed {
                    epoch: 1,
                    quorum: chosen_by,
                },
            ),
            established(41, "zk2", 1, vec![2, 3]),
        ];
        h
    }

    #[test]
    fn an_epoch_number_is_judged_by_the_quorum_that_chose_it() {
        // zk3 joined after the number was chosen by two forgetful servers: excused,
        // although zk3, which remembered epoch 1, is in the establishing quorum.
        let a = find(&chosen_again_story(vec![1, 2]));
        let f = &a.epochs[&5];
        assert_eq!((f.epoch, f.above, f.leader.as_str()), (1, 2, "zk2"));
        assert_eq!(f.disk_losses, vec![2, 3]);
        // Had zk3 been among those whose acceptedEpochs chose it, the number is a bug.
        assert!(find(&chosen_again_story(vec![2, 3])).epochs.is_empty());
    }
}
