//! The leader: discovery (a new epoch from a quorum), synchronization of each learner
//! (DIFF, TRUNC or SNAP, then NEWLEADER), and broadcast (PROPOSAL -> quorum of ACKs ->
//! COMMIT, strictly in zxid order). It steps down when it cannot hear a quorum within
//! syncLimit, and expires sessions with its tracker.

use super::{Database, Out, Output, Peer, PeerConfig, PersistOp, Role, Timer};
use crate::history::event::SyncMode as SyncModeEvent;
use crate::history::{ZkEvent, ZkRole};
use crate::zk::datatree::Prep;
use crate::zk::ids::{Epoch, SessionId, Sid, Zxid};
use crate::zk::session::SessionTracker;
use crate::zk::sync_plan::{plan_sync, SyncBugs, SyncPlan};
use crate::zk::txn::{Txn, TxnHeader};
use crate::zk::wire::{LeaderRequest, ZabMsg};
use kzsim_sim::ConnId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Waiting for a quorum of FOLLOWERINFO to choose the epoch.
    Discovery,
    /// Waiting for a quorum of ACKEPOCH.
    EpochAcks,
    /// Learners are being synchronized; waiting for a quorum of NEWLEADER ACKs.
    NewLeaderAcks,
    /// Established: serving clients and broadcasting.
    Broadcast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LearnerState {
    /// Sent FOLLOWERINFO.
    Info,
    /// Sent ACKEPOCH; waiting for the epoch quorum before its sync.
    AckedEpoch,
    /// Sync sent, NEWLEADER queued: receives live PROPOSAL/COMMIT traffic.
    Syncing,
    /// Acknowledged NEWLEADER: its ACKs count.
    Synced,
}

struct Learner {
    sid: Sid,
    last_zxid: Zxid,
    state: LearnerState,
    last_heard_ms: u64,
}

struct Proposal {
    txn: Arc<Txn>,
    acks: BTreeSet<Sid>,
}

/// Where to answer a request.
#[derive(Clone, Copy)]
enum Origin {
    Local,
    Learner(ConnId),
}

pub(super) struct Leader {
    phase: Phase,
    started_ms: u64,
    epoch: Option<Epoch>,
    learners: BTreeMap<ConnId, Learner>,
    /// acceptedEpoch of each participant that connected before the epoch was chosen.
    connecting: BTreeMap<Sid, Epoch>,
    epoch_acks: BTreeSet<Sid>,
    newleader_acks: BTreeSet<Sid>,
    proposals: BTreeMap<Zxid, Proposal>,
    last_proposed: Zxid,
    prep: Prep,
    tracker: SessionTracker,
    /// Syncs waiting for every proposal up to the zxid to commit.
    pending_syncs: Vec<(Zxid, Origin, SessionId, i64)>,
    /// Sessions the tracker expired whose closeSession is proposed.
    expiring: BTreeSet<SessionId>,
    /// The bucket deadline (local ms) the session-expiry timer is armed for.
    expiry_armed: Option<i64>,
}

impl Leader {
    pub(super) fn new(cfg: &PeerConfig, db: &Database, now_ms: u64, out: &mut Out) -> Leader {
        out.record(ZkEvent::RoleChanged {
            role: ZkRole::Leading,
            epoch: db.current_epoch,
        });
        out.timer(Timer::Tick, now_ms + cfg.tick_ms / 2);
        let mut connecting = BTreeMap::new();
        connecting.insert(cfg.sid, db.accepted_epoch);
        Leader {
            phase: Phase::Discovery,
            started_ms: now_ms,
            epoch: None,
            learners: BTreeMap::new(),
            connecting,
            epoch_acks: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            proposals: BTreeMap::new(),
            last_proposed: db.last_processed,
            prep: Prep::with_flags(crate::zk::datatree::PrepFlags {
                zk1624_no_parent_rollback: cfg.bugs.multi_no_parent_rollback,
            }),
            tracker: {
                let mut t = SessionTracker::new(cfg.sid, cfg.tick_ms as i64, now_ms as i64);
                t.mutation_deadline_rounded_down = cfg.bugs.test_deadline_rounded_down;
                t
            },
            pending_syncs: Vec::new(),
            expiring: BTreeSet::new(),
            expiry_armed: None,
        }
    }

    pub(super) fn epoch(&self) -> Epoch {
        self.epoch.unwrap_or(0)
    }

    pub(super) fn serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub(super) fn learner_count(&self) -> usize {
        self.learners.len()
    }

    pub(super) fn synced_count(&self) -> usize {
        self.learners
            .values()
            .filter(|l| l.state == LearnerState::Synced)
            .count()
    }

    /// Closes every learner connection and returns the proposals that were logged but not
    /// committed, in zxid order (they stay in this server's log and history).
    pub(super) fn close_all(self, out: &mut Out) -> Vec<Arc<Txn>> {
        for conn in self.learners.keys() {
            out.push(Output::Close { conn: *conn });
        }
        self.proposals.into_values().map(|p| p.txn).collect()
    }

    pub(super) fn on_learner_closed(&mut self, conn: ConnId) {
        self.learners.remove(&conn);
    }

    fn forwarding(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.learners
            .iter()
            .filter(|(_, l)| l.state >= LearnerState::Syncing)
            .map(|(c, _)| *c)
    }
}

impl Peer {
    fn leader(&mut self) -> &mut Leader {
        match &mut self.role {
            Role::Leading(l) => l,
            _ => unreachable!("leader code runs only while leading"),
        }
    }

    pub(super) fn leader_on_zab(&mut self, now_ms: u64, conn: ConnId, msg: ZabMsg, out: &mut Out) {
        if let Some(l) = self.leader().learners.get_mut(&conn) {
            l.last_heard_ms = now_ms;
        }
        match msg {
            ZabMsg::FollowerInfo {
                sid,
                accepted_epoch,
            } => {
                let leader = self.leader();
                leader.learners.insert(
                    conn,
                    Learner {
                        sid,
                        last_zxid: Zxid::ZERO,
                        state: LearnerState::Info,
                        last_heard_ms: now_ms,
                    },
                );
                match leader.epoch {
                    None => {
                        leader.connecting.insert(sid, accepted_epoch);
                        self.maybe_choose_epoch(now_ms, out);
                    }
                    Some(new_epoch) => out.zab(conn, ZabMsg::LeaderInfo { new_epoch }),
                }
            }
            ZabMsg::AckEpoch {
                current_epoch,
                last_zxid,
            } => self.on_ack_epoch(now_ms, conn, current_epoch, last_zxid, out),
            ZabMsg::Ack { zxid } => self.on_ack(now_ms, conn, zxid, out),
            ZabMsg::PingReply { touched } => {
                // Test-only mutation: the follower's touches are dropped on the floor, so a
                // session whose client only pings a follower looks silent to the tracker.
                if !self.cfg.bugs.test_ping_touches_ignored {
                    for s in touched {
                        self.leader().tracker.touch(s, now_ms as i64);
                    }
                }
                self.record_tracker_moves(out);
            }
            ZabMsg::Request { session, cxid, op } => {
                if self.leader().phase == Phase::Broadcast {
                    self.leader_request(now_ms, Some(conn), session, cxid, op, out);
                }
            }
            other => out.record(ZkEvent::Ignored {
                msg: format!("{other:?}").chars().take(40).collect(),
                from: self.leader().learners.get(&conn).map_or(0, |l| l.sid),
                reason: "not a learner-to-leader message".into(),
            }),
        }
    }

    /// Discovery: once a quorum (including this server) has connected, the new epoch is
    /// one more than the highest acceptedEpoch among them (with the ZOOKEEPER-335 flag: one
    /// more than the epoch of this server's last logged zxid, whatever the others accepted).
    pub(super) fn maybe_choose_epoch(&mut self, _now_ms: u64, out: &mut Out) {
        let quorum = self.quorum.clone();
        let own_epoch = if self.cfg.bugs.epoch_from_last_zxid {
            Some(self.db.last_logged.max(self.db.last_processed).epoch() + 1)
        } else {
            None
        };
        let leader = self.leader();
        if leader.epoch.is_some() || !quorum.is_quorum(&leader.connecting.keys().copied().collect())
        {
            return;
        }
        let new_epoch =
            own_epoch.unwrap_or_else(|| leader.connecting.values().max().copied().unwrap_or(0) + 1);
        leader.epoch = Some(new_epoch);
        leader.phase = Phase::EpochAcks;
        let members: Vec<Sid> = leader.connecting.keys().copied().collect();
        let conns: Vec<ConnId> = leader.learners.keys().copied().collect();
        let me = self.cfg.sid;
        self.leader().epoch_acks.insert(me);
        self.db.accepted_epoch = new_epoch;
        out.push(Output::Persist(PersistOp::AcceptedEpoch(new_epoch)));
        out.record(ZkEvent::EpochProposed {
            epoch: new_epoch,
            quorum: members,
        });
        out.record(ZkEvent::EpochAccepted { epoch: new_epoch });
        for c in conns {
            out.zab(c, ZabMsg::LeaderInfo { new_epoch });
        }
        self.maybe_epoch_quorum(out);
    }

    fn on_ack_epoch(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        current_epoch: Option<Epoch>,
        last_zxid: Zxid,
        out: &mut Out,
    ) {
        let (my_epoch, my_zxid) = (self.db.current_epoch, self.db.last_processed);
        let leader = self.leader();
        let Some(l) = leader.learners.get_mut(&conn) else {
            return;
        };
        if l.state != LearnerState::Info || leader.epoch.is_none() {
            return;
        }
        if let Some(ce) = current_epoch {
            // A follower whose history is newer than ours must not be synced to ours.
            if (ce, last_zxid) > (my_epoch, my_zxid) {
                let sid = l.sid;
                leader.learners.remove(&conn);
                out.push(Output::Close { conn });
                out.record(ZkEvent::Ignored {
                    msg: "ACKEPOCH".into(),
                    from: sid,
                    reason: format!("follower is ahead: epoch {ce}, zxid {last_zxid}"),
                });
                return;
            }
            leader.epoch_acks.insert(l.sid);
        }
        l.last_zxid = last_zxid;
        l.state = LearnerState::AckedEpoch;
        match leader.phase {
            Phase::EpochAcks => self.maybe_epoch_quorum(out),
            Phase::NewLeaderAcks | Phase::Broadcast => self.sync_learner(now_ms, conn, out),
            Phase::Discovery => {}
        }
    }

    fn maybe_epoch_quorum(&mut self, out: &mut Out) {
        let quorum = self.quorum.clone();
        let leader = self.leader();
        if leader.phase != Phase::EpochAcks || !quorum.is_quorum(&leader.epoch_acks) {
            return;
        }
        let epoch = leader.epoch.expect("epoch chosen before epoch acks");
        leader.phase = Phase::NewLeaderAcks;
        let ready: Vec<ConnId> = leader
            .learners
            .iter()
            .filter(|(_, l)| l.state == LearnerState::AckedEpoch)
            .map(|(c, _)| *c)
            .collect();
        let me = self.cfg.sid;
        self.leader().newleader_acks.insert(me);
        self.db.current_epoch = epoch;
        out.push(Output::Persist(PersistOp::CurrentEpoch(epoch)));
        let now_ms = self.now_ms;
        for c in ready {
            self.sync_learner(now_ms, c, out);
        }
        // A quorum of one (a standalone server) is established right here: its sessions
        // are renewed from now, not from local time zero.
        self.maybe_newleader_quorum(now_ms, out);
    }

    /// Brings one learner to this leader's history, then queues NEWLEADER. From here on it
    /// receives live PROPOSAL/COMMIT traffic, in order after the sync.
    fn sync_learner(&mut self, _now_ms: u64, conn: ConnId, out: &mut Out) {
        let bugs = SyncBugs {
            diff_without_log_check: self.cfg.bugs.sync_without_trunc,
        };
        let log: Vec<Zxid> = self
            .db
            .committed_log
            .iter()
            .map(|t| t.header.zxid)
            .collect();
        let leader_zxid = self.db.last_processed;
        let Role::Leading(leader) = &mut self.role else {
            return;
        };
        let Some(l) = leader.learners.get_mut(&conn) else {
            return;
        };
        let epoch = leader.epoch.expect("epoch chosen before sync");
        let follower_zxid = l.last_zxid;
        let plan = plan_sync(follower_zxid, leader_zxid, &log, bugs);
        let (mode, trunc_to, from_index) = match plan {
            SyncPlan::Diff { send_from_index } => {
                out.zab(conn, ZabMsg::Diff { zxid: leader_zxid });
                (SyncModeEvent::Diff, None, Some(send_from_index))
            }
            SyncPlan::Trunc {
                to,
                send_from_index,
            } => {
                out.zab(conn, ZabMsg::Trunc { zxid: to });
                (SyncModeEvent::Trunc, Some(to.0), Some(send_from_index))
            }
            SyncPlan::Snap => {
                out.zab(
                    conn,
                    ZabMsg::Snap {
                        zxid: leader_zxid,
                        // The serialized tree: the leader's watches are its own clients'.
                        tree: Arc::new(self.db.tree.snapshot_copy()),
                    },
                );
                (SyncModeEvent::Snap, None, None)
            }
        };
        if let Some(from) = from_index {
            for txn in self.db.committed_log.iter().skip(from) {
                out.zab(conn, ZabMsg::Proposal(txn.clone()));
                out.zab(
                    conn,
                    ZabMsg::Commit {
                        zxid: txn.header.zxid,
                    },
                );
            }
        }
        for p in leader.proposals.values() {
            out.zab(conn, ZabMsg::Proposal(p.txn.clone()));
        }
        out.zab(
            conn,
            ZabMsg::NewLeader {
                zxid: Zxid::new(epoch, 0),
            },
        );
        l.state = LearnerState::Syncing;
        out.record(ZkEvent::SyncSent {
            follower: l.sid,
            mode,
            follower_zxid: follower_zxid.0,
            leader_zxid: leader_zxid.0,
            trunc_to,
        });
    }

    fn on_ack(&mut self, now_ms: u64, conn: ConnId, zxid: Zxid, out: &mut Out) {
        let leader = self.leader();
        let Some(l) = leader.learners.get_mut(&conn) else {
            return;
        };
        let newleader_zxid = Zxid::new(leader.epoch.unwrap_or(0), 0);
        if l.state == LearnerState::Syncing {
            // LearnerHandler reads the first packet after NEWLEADER as the NEWLEADER ACK and
            // hands its zxid to `Leader.waitForNewLeaderAck`; from then on the learner is
            // past its sync, whatever that packet was.
            l.state = LearnerState::Synced;
            let sid = l.sid;
            if leader.phase == Phase::Broadcast {
                // The quorum has formed: waitForNewLeaderAck returns at once (the packet is
                // consumed unread) and UPTODATE follows.
                leader.newleader_acks.insert(sid);
                out.zab(conn, ZabMsg::UpToDate);
                return;
            }
            if zxid != newleader_zxid {
                // "NEWLEADER ACK from sid: .. is from a different epoch": not counted. The
                // learner gets UPTODATE if a quorum forms without it; if it was needed, the
                // leader gives up after initLimit (ZOOKEEPER-4685).
                out.record(ZkEvent::ProtocolError {
                    msg: format!("ACK {zxid}"),
                    from: sid,
                    reason: format!(
                        "the first packet after NEWLEADER is not the NEWLEADER ACK {newleader_zxid}"
                    ),
                });
                return;
            }
            leader.newleader_acks.insert(sid);
            self.maybe_newleader_quorum(now_ms, out);
            return;
        }
        if zxid.is_epoch_start() {
            // `Leader.processAck` ignores the ACK of UPTODATE (and a late NEWLEADER ACK).
            return;
        }
        if l.state != LearnerState::Synced {
            let sid = l.sid;
            out.record(ZkEvent::Ignored {
                msg: format!("ACK {zxid}"),
                from: sid,
                reason: "ACK before the NEWLEADER ACK".into(),
            });
            return;
        }
        let sid = l.sid;
        if let Some(p) = leader.proposals.get_mut(&zxid) {
            p.acks.insert(sid);
        }
        self.try_commit(now_ms, out);
    }

    /// A quorum acknowledged NEWLEADER: this leader is established for its epoch.
    fn maybe_newleader_quorum(&mut self, now_ms: u64, out: &mut Out) {
        let quorum = self.quorum.clone();
        let leader = self.leader();
        if leader.phase != Phase::NewLeaderAcks || !quorum.is_quorum(&leader.newleader_acks) {
            return;
        }
        let epoch = leader.epoch.expect("epoch chosen");
        leader.phase = Phase::Broadcast;
        leader.last_proposed = Zxid::new(epoch, 0);
        let members: Vec<Sid> = leader.newleader_acks.iter().copied().collect();
        let synced: Vec<ConnId> = leader
            .learners
            .iter()
            .filter(|(_, l)| l.state == LearnerState::Synced)
            .map(|(c, _)| *c)
            .collect();
        out.record(ZkEvent::LeaderEstablished {
            epoch,
            quorum: members,
        });
        self.deliver_log_tail(out);
        for c in synced {
            out.zab(c, ZabMsg::UpToDate);
        }
        // The leader starts serving at epoch << 32 (srvr shows 0x<epoch>00000000).
        self.db.last_processed = self.db.last_processed.max(Zxid::new(epoch, 0));
        self.vote.peer_epoch = epoch;
        self.vote.zxid = self.db.last_processed;
        // A new leader renews every session: none can expire for lack of a quorum.
        let sessions: Vec<(SessionId, i64)> = self
            .db
            .tree
            .sessions()
            .iter()
            .map(|(s, t)| (*s, *t))
            .collect();
        let now = now_ms as i64;
        let leader = self.leader();
        for (s, t) in sessions {
            leader.tracker.add(s, t, now);
        }
        self.record_tracker_moves(out);
        self.arm_session_timer(out);
        self.snapshot_now(false, out);
    }

    /// Records every bucket move the tracker made since the last call (the leader-clock
    /// evidence `zk.sessions.expiry-bounds` judges), in the order it made them.
    fn record_tracker_moves(&mut self, out: &mut Out) {
        let tick_ms = self.cfg.tick_ms;
        for m in self.leader().tracker.take_moves() {
            out.record(ZkEvent::SessionDeadline {
                session: m.session,
                timeout_ms: m.timeout_ms.max(0) as u64,
                tick_ms,
                touch_ms: m.touch_ms.max(0) as u64,
                deadline_ms: m.deadline_ms.max(0) as u64,
            });
        }
        // A touch can land a session in a bucket earlier than the one the timer waits for
        // only when the leader's clock went back: wake for it, as ZooKeeper's tracker,
        // which looks at its queue every tick, would (otherwise the session expires late).
        let leader = self.leader();
        if let Some(next) = leader.tracker.next_expiry() {
            if leader.expiry_armed.is_some_and(|armed| next < armed) {
                self.arm_session_timer(out);
            }
        }
    }

    fn arm_session_timer(&mut self, out: &mut Out) {
        let leader = self.leader();
        if let Some(at) = leader.tracker.next_expiry() {
            leader.expiry_armed = Some(at);
            out.timer(Timer::SessionExpiry, at.max(0) as u64);
        }
    }

    /// Orders a request: a write or session change becomes a proposal (failed writes too:
    /// they consume a zxid as error transactions); a sync waits for the proposals before it.
    pub(super) fn leader_request(
        &mut self,
        now_ms: u64,
        from: Option<ConnId>,
        session: SessionId,
        cxid: i64,
        op: LeaderRequest,
        out: &mut Out,
    ) {
        let origin = from.map_or(Origin::Local, Origin::Learner);
        let leader = self.leader();
        if let Some(s) = matches!(op, LeaderRequest::CreateSession { .. }).then_some(session) {
            if let LeaderRequest::CreateSession { timeout_ms } = op {
                leader.tracker.add(s, timeout_ms as i64, now_ms as i64);
                let zxid = self.next_zxid(out);
                let header = TxnHeader {
                    session,
                    cxid,
                    zxid,
                    time_ms: self.cfg.wall_clock_start_ms + now_ms as i64,
                };
                let txn = self
                    .leader()
                    .prep
                    .prep_create_session(header, timeout_ms as i64);
                self.propose(now_ms, txn, out);
                self.record_tracker_moves(out);
                self.arm_session_timer(out);
            }
            return;
        }
        let touched = leader.tracker.touch(session, now_ms as i64);
        self.record_tracker_moves(out);
        if !touched {
            self.answer_failed(
                origin,
                session,
                cxid,
                crate::zk::types::ErrorCode::SessionExpired,
                out,
            );
            return;
        }
        match op {
            LeaderRequest::Op(crate::zk::request::ZkOp::Sync { .. }) => {
                let leader = self.leader();
                if leader.proposals.is_empty() {
                    self.answer_sync(origin, session, cxid, out);
                } else {
                    let upto = leader.last_proposed;
                    leader.pending_syncs.push((upto, origin, session, cxid));
                }
            }
            LeaderRequest::Op(op) => {
                let zxid = self.next_zxid(out);
                let Role::Leading(leader) = &mut self.role else {
                    return;
                };
                let header = TxnHeader {
                    session,
                    cxid,
                    zxid,
                    time_ms: self.cfg.wall_clock_start_ms + now_ms as i64,
                };
                let txn = leader.prep.prep(&self.db.tree, Ok(()), header, &op);
                self.propose(now_ms, txn, out);
            }
            LeaderRequest::CloseSession => self.propose_close(now_ms, session, cxid, out),
            LeaderRequest::CreateSession { .. } => unreachable!("handled above"),
        }
    }

    fn propose_close(&mut self, now_ms: u64, session: SessionId, cxid: i64, out: &mut Out) {
        let zxid = self.next_zxid(out);
        let Role::Leading(leader) = &mut self.role else {
            return;
        };
        leader.tracker.remove(session);
        let header = TxnHeader {
            session,
            cxid,
            zxid,
            time_ms: self.cfg.wall_clock_start_ms + now_ms as i64,
        };
        let txn = leader.prep.prep_close_session(&self.db.tree, header);
        self.propose(now_ms, txn, out);
    }

    fn next_zxid(&mut self, _out: &mut Out) -> Zxid {
        let leader = self.leader();
        let z = Zxid::new(
            leader.last_proposed.epoch(),
            leader.last_proposed.counter() + 1,
        );
        leader.last_proposed = z;
        z
    }

    fn propose(&mut self, now_ms: u64, txn: Txn, out: &mut Out) {
        let txn = Arc::new(txn);
        let zxid = txn.header.zxid;
        out.record(ZkEvent::Proposed {
            zxid: zxid.0,
            digest: txn.digest(),
            txn: txn.summary(),
        });
        out.push(Output::Append(vec![txn.clone()]));
        self.db.last_logged = zxid;
        let leader = self.leader();
        let conns: Vec<ConnId> = leader.forwarding().collect();
        leader.proposals.insert(
            zxid,
            Proposal {
                txn: txn.clone(),
                acks: BTreeSet::new(),
            },
        );
        for c in conns {
            out.zab(c, ZabMsg::Proposal(txn.clone()));
        }
        self.maybe_snapshot(1, out);
        // The counter must never wrap into the epoch bits: abdicate before it would.
        if zxid.counter() >= u32::MAX - 1 {
            self.look(
                now_ms,
                out,
                Some("zxid counter exhausted; a new epoch is needed".into()),
            );
        }
    }

    pub(super) fn leader_on_logged(&mut self, now_ms: u64, upto: Zxid, out: &mut Out) {
        let me = self.cfg.sid;
        for (_, p) in self.leader().proposals.range_mut(..=upto) {
            p.acks.insert(me);
        }
        self.try_commit(now_ms, out);
    }

    /// Commits proposals strictly in zxid order while the oldest has a quorum of ACKs.
    fn try_commit(&mut self, now_ms: u64, out: &mut Out) {
        loop {
            let quorum = self.quorum.clone();
            let leader = self.leader();
            let Some((&zxid, p)) = leader.proposals.first_key_value() else {
                break;
            };
            if !quorum.is_quorum(&p.acks) {
                break;
            }
            let p = leader.proposals.remove(&zxid).expect("first proposal");
            let conns: Vec<ConnId> = leader.forwarding().collect();
            for c in conns {
                out.zab(c, ZabMsg::Commit { zxid });
            }
            out.record(ZkEvent::Committed {
                zxid: zxid.0,
                acked: p.acks.iter().copied().collect(),
            });
            leader.prep.applied(zxid);
            let closing = matches!(p.txn.body, crate::zk::txn::TxnBody::CloseSession { .. });
            let expired = leader.expiring.remove(&p.txn.header.session);
            self.apply_txn(&p.txn, out);
            if closing {
                out.record(ZkEvent::SessionEnded {
                    session: p.txn.header.session,
                    zxid: zxid.0,
                    expired,
                    leader_ms: now_ms,
                });
            }
            if closing {
                if let crate::zk::txn::TxnBody::CloseSession { ephemerals } = &p.txn.body {
                    out.record(ZkEvent::SessionClosed {
                        session: p.txn.header.session,
                        expired,
                        ephemerals: ephemerals.clone(),
                    });
                }
            }
            let leader = self.leader();
            let (ready, waiting): (Vec<_>, Vec<_>) = leader
                .pending_syncs
                .drain(..)
                .partition(|(upto, ..)| *upto <= zxid);
            leader.pending_syncs = waiting;
            for (_, origin, session, cxid) in ready {
                self.answer_sync(origin, session, cxid, out);
            }
        }
    }

    fn answer_sync(&mut self, origin: Origin, session: SessionId, cxid: i64, out: &mut Out) {
        match origin {
            Origin::Local => self.clients.on_sync_done(session, cxid, &mut self.db, out),
            Origin::Learner(c) => out.zab(c, ZabMsg::SyncDone { session, cxid }),
        }
    }

    fn answer_failed(
        &mut self,
        origin: Origin,
        session: SessionId,
        cxid: i64,
        code: crate::zk::types::ErrorCode,
        out: &mut Out,
    ) {
        match origin {
            Origin::Local => self
                .clients
                .on_request_failed(session, cxid, code, &mut self.db, out),
            Origin::Learner(c) => out.zab(
                c,
                ZabMsg::RequestFailed {
                    session,
                    cxid,
                    code,
                },
            ),
        }
    }

    /// Every half tick: PING the learners. Every check: step down without a quorum of
    /// learners heard within syncLimit (or, before establishment, within initLimit).
    pub(super) fn leader_tick(&mut self, now_ms: u64, out: &mut Out) {
        let (tick, sync_ms, init_ms) = (
            self.cfg.tick_ms,
            self.cfg.tick_ms * self.cfg.sync_limit,
            self.cfg.tick_ms * self.cfg.init_limit,
        );
        let me = self.cfg.sid;
        let quorum = self.quorum.clone();
        for s in self.clients.take_touched() {
            self.leader().tracker.touch(s, now_ms as i64);
        }
        self.record_tracker_moves(out);
        let leader = self.leader();
        let last = leader.last_proposed;
        let conns: Vec<ConnId> = leader.forwarding().collect();
        for c in conns {
            out.zab(
                c,
                ZabMsg::Ping {
                    last_proposed: last,
                },
            );
        }
        if leader.phase != Phase::Broadcast {
            if now_ms >= leader.started_ms + init_ms {
                let reason = format!("no quorum of followers within initLimit ({init_ms} ms)");
                self.look(now_ms, out, Some(reason));
                return;
            }
        } else {
            let mut alive: BTreeSet<Sid> = leader
                .learners
                .values()
                .filter(|l| {
                    l.state == LearnerState::Synced
                        && now_ms.saturating_sub(l.last_heard_ms) <= sync_ms
                })
                .map(|l| l.sid)
                .collect();
            alive.insert(me);
            if !quorum.is_quorum(&alive) {
                let reason =
                    format!("lost quorum: only {alive:?} heard within syncLimit ({sync_ms} ms)");
                self.look(now_ms, out, Some(reason));
                return;
            }
        }
        out.timer(Timer::Tick, now_ms + tick / 2);
    }

    /// The tracker's bucket is due: every silent session in it gets a closeSession.
    pub(super) fn leader_expire_sessions(&mut self, now_ms: u64, out: &mut Out) {
        if !self.leader().serving() {
            return;
        }
        for s in self.clients.take_touched() {
            self.leader().tracker.touch(s, now_ms as i64);
        }
        self.record_tracker_moves(out);
        let expired = self.leader().tracker.expire(now_ms as i64);
        for s in expired {
            if self.db.tree.sessions().contains_key(&s) {
                let (timeout_ms, deadline_ms) = self
                    .leader()
                    .tracker
                    .get(s)
                    .map_or((0, 0), |t| (t.timeout_ms, t.deadline_ms));
                out.record(ZkEvent::SessionExpiring {
                    session: s,
                    timeout_ms: timeout_ms.max(0) as u64,
                    leader_ms: now_ms,
                    deadline_ms: deadline_ms.max(0) as u64,
                });
                self.leader().expiring.insert(s);
                self.propose_close(now_ms, s, 0, out);
            }
        }
        self.arm_session_timer(out);
    }
}
