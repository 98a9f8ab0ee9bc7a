//! The follower: connects to the elected leader, takes its epoch, synchronizes (DIFF,
//! TRUNC or SNAP), persists the synced history before acknowledging NEWLEADER, then logs
//! and ACKs proposals (only after fsync) and applies commits in order.
//!
//! The sync follows ZooKeeper 3.9.3's `Learner.syncWithLeader` (the fixes of ZOOKEEPER-3911,
//! 4394, 4643, 4646 and 4685): between DIFF/TRUNC/SNAP and UPTODATE the learner queues
//! PROPOSALs in `packetsNotLogged` and the COMMITs of a DIFF (and any after NEWLEADER) in
//! `packetsCommitted`; after TRUNC or SNAP a COMMIT before NEWLEADER applies the proposal at
//! once (the snapshot NEWLEADER takes keeps it). At NEWLEADER it (1) snapshots after
//! TRUNC/SNAP, (2) logs and applies the proposals the leader committed, waiting for their
//! fsync, (3) persists currentEpoch, (4) ACKs NEWLEADER; the outstanding proposals stay
//! queued. At UPTODATE it logs those (ACKing each after its fsync, as every later proposal)
//! and applies the COMMITs that came after NEWLEADER. So no ACK of a proposal precedes the
//! NEWLEADER ACK, and every proposal a COMMIT after NEWLEADER names is still queued.

use super::clients::Submit;
use super::{Database, Out, Output, Peer, PeerConfig, PersistOp, Role, Timer};
use crate::history::{ZkEvent, ZkRole};
use crate::zk::ids::{Epoch, Sid, Zxid};
use crate::zk::txn::Txn;
use crate::zk::wire::ZabMsg;
use kzsim_sim::ConnId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Connecting and sent FOLLOWERINFO.
    Discovery,
    /// Receiving the sync (DIFF/TRUNC/SNAP and the txns after it).
    Syncing,
    /// NEWLEADER received: persisting the synced history before acknowledging it, then
    /// waiting for UPTODATE.
    Synced,
    /// UPTODATE received: serving clients.
    Broadcast,
}

/// A NEWLEADER whose ACK waits for the txns logged at it to be fsynced.
struct NewLeaderWait {
    /// The NEWLEADER zxid (`epoch << 32`), which the ACK carries.
    zxid: Zxid,
    /// The txns logged at NEWLEADER, in order (never empty).
    logged: Vec<Zxid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

pub(super) struct Follower {
    me: Sid,
    leader: Sid,
    conn: Option<ConnId>,
    phase: Phase,
    mode: Option<SyncMode>,
    new_epoch: Option<Epoch>,
    last_heard_ms: u64,
    /// Proposals handed to the log and not yet committed, by zxid
    /// (`FollowerZooKeeperServer.pendingTxns`).
    pending: BTreeMap<Zxid, Arc<Txn>>,
    /// Sync phase: proposals received and not yet logged (`packetsNotLogged`).
    not_logged: VecDeque<Arc<Txn>>,
    /// Sync phase: COMMITs queued until NEWLEADER (after a DIFF) or UPTODATE (after
    /// NEWLEADER) (`packetsCommitted`).
    sync_committed: VecDeque<Zxid>,
    /// Sync phase: COMMITs go to `sync_committed` rather than straight to the tree (true
    /// after a DIFF, which takes no snapshot, and after NEWLEADER: `writeToTxnLog`).
    write_to_txn_log: bool,
    /// NEWLEADER waiting for the fsync of the txns it logged.
    newleader_wait: Option<NewLeaderWait>,
    /// Zxids handed to the log and not yet acknowledged, oldest first.
    unacked: VecDeque<Zxid>,
    /// Set once NEWLEADER was acknowledged: later fsyncs produce ACKs.
    acking: bool,
    /// The newest zxid the log reported fsynced while in this role.
    fsynced: Zxid,
    /// Until LEADERINFO arrives, a refused or broken connection is retried until then.
    connect_deadline_ms: u64,
    /// Connection attempts so far (the real learner gives up after 5).
    connect_tries: u32,
}

/// Delay between attempts to reach the leader (`leaderConnectDelayDuringRetryMs`).
const LEADER_CONNECT_RETRY_MS: u64 = 100;

/// Attempts to reach the leader before going back to LOOKING (Learner.connectToLeader).
const LEADER_CONNECT_TRIES: u32 = 5;

/// Most packets a learner queues during one sync (`packetsNotLogged` plus
/// `packetsCommitted`): a DIFF carries at most [`super::COMMITTED_LOG_MAX`] transactions,
/// and the outstanding proposals of a run are far fewer than this. Past it the sync is a
/// kzsim bug (the leader kept streaming without NEWLEADER), and the run panics with a report.
const SYNC_PACKETS_MAX: usize = 100_000;

impl Follower {
    pub(super) fn new(cfg: &PeerConfig, leader: Sid, now_ms: u64, out: &mut Out) -> Follower {
        out.record(ZkEvent::RoleChanged {
            role: ZkRole::Following,
            epoch: 0,
        });
        out.push(Output::ConnectToLeader { leader });
        out.timer(Timer::Tick, now_ms + cfg.tick_ms);
        Follower {
            me: cfg.sid,
            leader,
            conn: None,
            phase: Phase::Discovery,
            mode: None,
            new_epoch: None,
            last_heard_ms: now_ms,
            pending: BTreeMap::new(),
            not_logged: VecDeque::new(),
            sync_committed: VecDeque::new(),
            write_to_txn_log: false,
            newleader_wait: None,
            unacked: VecDeque::new(),
            acking: false,
            fsynced: Zxid::ZERO,
            connect_deadline_ms: now_ms + cfg.init_limit * cfg.tick_ms,
            connect_tries: 1,
        }
    }

    pub(super) fn serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub(super) fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    pub(super) fn on_connected(
        &mut self,
        now_ms: u64,
        leader: Sid,
        conn: ConnId,
        db: &Database,
        out: &mut Out,
    ) {
        if leader != self.leader || self.conn.is_some() {
            out.push(Output::Close { conn });
            return;
        }
        self.conn = Some(conn);
        self.last_heard_ms = now_ms;
        out.zab(
            conn,
            ZabMsg::FollowerInfo {
                sid: self.me,
                accepted_epoch: db.accepted_epoch,
            },
        );
    }

    pub(super) fn on_reloaded(&mut self, _db: &Database) {}

    /// The connection to the leader broke. Before LEADERINFO the leader may simply not be
    /// leading yet (its election finishes a little later): try again shortly, within
    /// initLimit. Returns false if the follower must give up (go LOOKING).
    pub(super) fn retry_connect(&mut self, now_ms: u64, _cfg: &PeerConfig, out: &mut Out) -> bool {
        if self.new_epoch.is_some()
            || self.connect_tries >= LEADER_CONNECT_TRIES
            || now_ms + LEADER_CONNECT_RETRY_MS >= self.connect_deadline_ms
        {
            return false;
        }
        self.connect_tries += 1;
        self.conn = None;
        out.timer(Timer::Reconnect, now_ms + LEADER_CONNECT_RETRY_MS);
        true
    }

    /// Dials the leader again.
    pub(super) fn reconnect(&mut self, out: &mut Out) {
        if self.conn.is_none() {
            out.push(Output::ConnectToLeader {
                leader: self.leader,
            });
        }
    }

    /// The newest zxid the log reported fsynced while this server followed.
    pub(super) fn fsynced(&self) -> Zxid {
        self.fsynced
    }

    /// The proposals that reached the log and were not committed, in zxid order: they
    /// become part of this server's history when it leaves the role. Proposals still queued
    /// by a sync (`packetsNotLogged`) never reached the log and are dropped.
    pub(super) fn into_logged_uncommitted(self, last_logged: Zxid) -> Vec<Arc<Txn>> {
        self.pending
            .into_iter()
            .filter(|(z, _)| *z <= last_logged)
            .map(|(_, t)| t)
            .collect()
    }

    /// Read timeout: initLimit ticks until NEWLEADER, syncLimit ticks after.
    pub(super) fn check_timeout(
        &mut self,
        now_ms: u64,
        cfg: &PeerConfig,
        out: &mut Out,
    ) -> Option<String> {
        let limit_ticks = if self.phase < Phase::Synced {
            cfg.init_limit
        } else {
            cfg.sync_limit
        };
        let limit = limit_ticks * cfg.tick_ms;
        if now_ms.saturating_sub(self.last_heard_ms) >= limit {
            return Some(format!(
                "nothing from leader {} for {limit} ms",
                self.leader
            ));
        }
        out.timer(Timer::Tick, now_ms + cfg.tick_ms);
        None
    }

    /// Checks the sync queues against [`SYNC_PACKETS_MAX`] before one more packet joins.
    fn queue_sync_packet(&self) {
        let queued = self.not_logged.len() + self.sync_committed.len();
        assert!(
            queued < SYNC_PACKETS_MAX,
            "follower {} queued {queued} packets in one sync with leader {}",
            self.me,
            self.leader
        );
    }

    pub(super) fn forward(&mut self, s: Submit, out: &mut Out) {
        if let Some(conn) = self.conn {
            out.zab(
                conn,
                ZabMsg::Request {
                    session: s.session,
                    cxid: s.cxid,
                    op: s.op,
                },
            );
        }
    }
}

impl Peer {
    fn follower(&mut self) -> &mut Follower {
        match &mut self.role {
            Role::Following(f) => f,
            _ => unreachable!("follower code runs only while following"),
        }
    }

    pub(super) fn follower_on_zab(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        msg: ZabMsg,
        out: &mut Out,
    ) {
        if self.follower().conn != Some(conn) {
            out.push(Output::Close { conn });
            return;
        }
        self.follower().last_heard_ms = now_ms;
        match msg {
            ZabMsg::LeaderInfo { new_epoch } => self.on_leader_info(now_ms, conn, new_epoch, out),
            ZabMsg::Diff { .. } => {
                // DIFF: my history, re-applied tail included, is a prefix of the leader's.
                self.deliver_log_tail(out);
                let f = self.follower();
                f.mode = Some(SyncMode::Diff);
                f.phase = Phase::Syncing;
                // No snapshot at NEWLEADER: the txns go to the log (`snapshotNeeded` false).
                f.write_to_txn_log = true;
            }
            ZabMsg::Trunc { zxid } => {
                let f = self.follower();
                f.mode = Some(SyncMode::Trunc);
                f.phase = Phase::Syncing;
                f.write_to_txn_log = false;
                // TRUNC: what I hold up to `zxid` is in the leader's history; the rest goes.
                self.log_tail.retain(|(z, _)| *z <= zxid);
                self.deliver_log_tail(out);
                out.push(Output::Persist(PersistOp::Truncate { to: zxid }));
                out.record(ZkEvent::Truncated { to: zxid.0 });
            }
            ZabMsg::Snap { zxid, tree } => {
                let f = self.follower();
                f.mode = Some(SyncMode::Snap);
                f.phase = Phase::Syncing;
                f.write_to_txn_log = false;
                self.log_tail.clear();
                self.db.tree = (*tree).clone();
                self.db.last_processed = zxid;
                self.db.last_logged = zxid;
                self.db.committed_log.clear();
                out.record(ZkEvent::SnapLoaded { zxid: zxid.0 });
            }
            ZabMsg::Proposal(txn) => self.on_proposal(txn, out),
            ZabMsg::Commit { zxid } => self.on_commit(now_ms, zxid, out),
            ZabMsg::NewLeader { zxid } => self.on_new_leader(zxid, out),
            ZabMsg::UpToDate => self.on_up_to_date(now_ms, out),
            ZabMsg::Ping { .. } => {
                let touched = self.clients.take_touched();
                out.zab(conn, ZabMsg::PingReply { touched });
            }
            ZabMsg::SyncDone { session, cxid } => {
                self.clients.on_sync_done(session, cxid, &mut self.db, out);
            }
            ZabMsg::RequestFailed {
                session,
                cxid,
                code,
            } => {
                self.clients
                    .on_request_failed(session, cxid, code, &mut self.db, out);
            }
            other => out.record(ZkEvent::Ignored {
                msg: format!("{other:?}").chars().take(40).collect(),
                from: self.follower().leader,
                reason: "not a leader-to-learner message".into(),
            }),
        }
    }

    fn on_leader_info(&mut self, now_ms: u64, conn: ConnId, new_epoch: Epoch, out: &mut Out) {
        let last = self.db.last_logged.max(self.db.last_processed);
        if new_epoch > self.db.accepted_epoch {
            self.db.accepted_epoch = new_epoch;
            out.push(Output::Persist(PersistOp::AcceptedEpoch(new_epoch)));
            out.record(ZkEvent::EpochAccepted { epoch: new_epoch });
            out.zab(
                conn,
                ZabMsg::AckEpoch {
                    current_epoch: Some(self.db.current_epoch),
                    last_zxid: last,
                },
            );
        } else if self.cfg.bugs.epoch_from_last_zxid {
            // ZOOKEEPER-335: before ZAB 1.0 no acceptedEpoch was promised; any epoch counts.
            out.zab(
                conn,
                ZabMsg::AckEpoch {
                    current_epoch: Some(self.db.current_epoch),
                    last_zxid: last,
                },
            );
        } else if new_epoch == self.db.accepted_epoch {
            out.zab(
                conn,
                ZabMsg::AckEpoch {
                    current_epoch: None,
                    last_zxid: last,
                },
            );
        } else {
            out.record(ZkEvent::Ignored {
                msg: "LEADERINFO".into(),
                from: self.follower().leader,
                reason: format!(
                    "epoch {new_epoch} is older than accepted epoch {}",
                    self.db.accepted_epoch
                ),
            });
            self.look(now_ms, out, None);
            return;
        }
        self.follower().new_epoch = Some(new_epoch);
    }

    fn on_proposal(&mut self, txn: Arc<Txn>, out: &mut Out) {
        let zxid = txn.header.zxid;
        let bugs = self.cfg.bugs;
        let last_logged = self.db.last_logged;
        let f = self.follower();
        if f.phase < Phase::Broadcast {
            // Learner.syncWithLeader: every PROPOSAL until UPTODATE waits in packetsNotLogged.
            f.queue_sync_packet();
            f.not_logged.push_back(txn);
            return;
        }
        let epoch_ok = f.new_epoch == Some(zxid.epoch());
        if !epoch_ok || zxid <= last_logged {
            let leader = f.leader;
            out.record(ZkEvent::Ignored {
                msg: format!("PROPOSAL {zxid}"),
                from: leader,
                reason: format!(
                    "not after the last logged {last_logged} in epoch {:?}",
                    f.new_epoch
                ),
            });
            return;
        }
        let conn = f.conn;
        self.log_request(vec![txn], out);
        if bugs.ack_before_fsync {
            if let Some(c) = conn {
                out.zab(c, ZabMsg::Ack { zxid });
            }
        }
    }

    /// Hands proposals to the log (`FollowerZooKeeperServer.logRequest`): each waits for its
    /// COMMIT in `pending` and is ACKed once fsynced.
    fn log_request(&mut self, txns: Vec<Arc<Txn>>, out: &mut Out) {
        let Some(last) = txns.last().map(|t| t.header.zxid) else {
            return;
        };
        let f = self.follower();
        for t in &txns {
            f.pending.insert(t.header.zxid, t.clone());
            f.unacked.push_back(t.header.zxid);
        }
        self.db.last_logged = self.db.last_logged.max(last);
        let n = txns.len() as u64;
        out.push(Output::Append(txns));
        self.maybe_snapshot(n, out);
    }

    fn on_commit(&mut self, now_ms: u64, zxid: Zxid, out: &mut Out) {
        if self.follower().phase < Phase::Broadcast {
            self.on_sync_commit(now_ms, zxid, out);
            return;
        }
        if zxid <= self.db.last_processed {
            return; // already applied: a SNAP or TRUNC covered it
        }
        let f = self.follower();
        let first = f.pending.keys().next().copied();
        if first != Some(zxid) {
            // COMMIT must name the oldest pending proposal; anything else is a broken stream.
            let reason =
                format!("COMMIT {zxid} does not match the oldest pending proposal {first:?}");
            out.record(ZkEvent::Ignored {
                msg: format!("COMMIT {zxid}"),
                from: f.leader,
                reason,
            });
            self.look(now_ms, out, None);
            return;
        }
        let txn = f.pending.remove(&zxid).expect("checked above");
        self.apply_txn(&txn, out);
    }

    /// A COMMIT before UPTODATE (`Learner.syncWithLeader`, case COMMIT): it looks at the
    /// oldest queued proposal first. After TRUNC or SNAP and before NEWLEADER the proposal
    /// is applied at once; otherwise the COMMIT waits in `packetsCommitted`.
    fn on_sync_commit(&mut self, now_ms: u64, zxid: Zxid, out: &mut Out) {
        let f = self.follower();
        let leader = f.leader;
        let Some(head) = f.not_logged.front().map(|t| t.header.zxid) else {
            // The real learner dereferences `packetsNotLogged.peekFirst()` here: with nothing
            // queued it throws a NullPointerException, the sync is abandoned and the server
            // goes back to LOOKING (ZOOKEEPER-4394).
            out.record(ZkEvent::ProtocolError {
                msg: format!("COMMIT {zxid}"),
                from: leader,
                reason: "COMMIT during sync with no proposal queued (packetsNotLogged is empty)"
                    .into(),
            });
            self.look(now_ms, out, None);
            return;
        };
        if f.write_to_txn_log {
            f.queue_sync_packet();
            f.sync_committed.push_back(zxid);
            return;
        }
        if head != zxid {
            out.record(ZkEvent::Ignored {
                msg: format!("COMMIT {zxid}"),
                from: leader,
                reason: format!("committing {zxid}, but the next proposal is {head}"),
            });
            return;
        }
        let txn = f.not_logged.pop_front().expect("head checked above");
        self.apply_txn(&txn, out);
    }

    /// NEWLEADER: (1) after SNAP/TRUNC, snapshot the tree (fsynced); (2) log and apply the
    /// proposals the leader committed in this sync and fsync them; (3) persist
    /// currentEpoch; (4) ACK. Steps 3 and 4 wait for the fsync of step 2 (ZOOKEEPER-3911,
    /// 4643 and 4646 are what happens otherwise). Outstanding proposals stay queued until
    /// UPTODATE (ZOOKEEPER-4394), so nothing is ACKed before NEWLEADER (ZOOKEEPER-4685).
    fn on_new_leader(&mut self, zxid: Zxid, out: &mut Out) {
        let f = self.follower();
        f.phase = Phase::Synced;
        let mode = f.mode;
        if matches!(mode, Some(SyncMode::Snap) | Some(SyncMode::Trunc)) {
            self.snapshot_now(true, out);
        }
        let log_committed_now = !self.cfg.bugs.zk3911_log_diff_after_uptodate;
        let f = self.follower();
        f.write_to_txn_log = true;
        let leader = f.leader;
        let mut committed = Vec::new();
        // Before ZOOKEEPER-3911 (3.6.2) this step did not exist: NEWLEADER was acknowledged
        // at once and the txns the leader committed in the sync stayed queued, to be logged
        // after UPTODATE with the rest.
        if log_committed_now {
            while let Some(z) = f.sync_committed.pop_front() {
                match f.not_logged.front().map(|t| t.header.zxid) {
                    Some(head) if head == z => {
                        committed.push(f.not_logged.pop_front().expect("head checked"));
                    }
                    head => out.record(ZkEvent::Ignored {
                        msg: format!("COMMIT {z}"),
                        from: leader,
                        reason: format!("committing {z}, but the next proposal is {head:?}"),
                    }),
                }
            }
        }
        match committed.last().map(|t| t.header.zxid) {
            None => self.complete_new_leader(zxid, out),
            Some(last) => {
                if self.cfg.bugs.zk4643_epoch_before_log {
                    // 3.8.4's order (ZOOKEEPER-4643): currentEpoch is persisted before the
                    // txns are.
                    self.persist_current_epoch(zxid, out);
                }
                // `appendRequest` and `processTxn` for each, then `commit()`: the ACK waits.
                for t in &committed {
                    self.apply_txn(t, out);
                }
                let logged = committed.iter().map(|t| t.header.zxid).collect();
                self.follower().newleader_wait = Some(NewLeaderWait { zxid, logged });
                self.db.last_logged = self.db.last_logged.max(last);
                let n = committed.len() as u64;
                out.push(Output::Append(committed));
                self.maybe_snapshot(n, out);
            }
        }
        if self.cfg.bugs.zk4394_newleader_drains_queue {
            // Every 3.8.x (ZOOKEEPER-4394): the outstanding proposals go to the log now and
            // the queue is cleared, so a COMMIT before UPTODATE finds nothing to match.
            let outstanding: Vec<Arc<Txn>> = self.follower().not_logged.drain(..).collect();
            self.log_request(outstanding, out);
        }
    }

    /// Persists the epoch of NEWLEADER `zxid` as currentEpoch (`QuorumPeer.setCurrentEpoch`).
    fn persist_current_epoch(&mut self, zxid: Zxid, out: &mut Out) {
        let epoch = zxid.epoch();
        self.db.current_epoch = epoch;
        out.push(Output::Persist(PersistOp::CurrentEpoch(epoch)));
    }

    /// The txns logged at NEWLEADER are fsynced (or there were none): persist currentEpoch
    /// (unless the ZOOKEEPER-4643 order already did) and ACK NEWLEADER.
    fn complete_new_leader(&mut self, zxid: Zxid, out: &mut Out) {
        self.deliver_log_tail(out);
        if self.db.current_epoch != zxid.epoch() || !self.cfg.bugs.zk4643_epoch_before_log {
            self.persist_current_epoch(zxid, out);
        }
        let f = self.follower();
        f.newleader_wait = None;
        f.acking = true;
        if let Some(c) = f.conn {
            out.zab(c, ZabMsg::Ack { zxid });
        }
    }

    /// UPTODATE: serve, then log the proposals still queued (ACKing each once fsynced) and
    /// apply the COMMITs that came after NEWLEADER, in order.
    fn on_up_to_date(&mut self, now_ms: u64, out: &mut Out) {
        let f = self.follower();
        let epoch = f.new_epoch.unwrap_or(0);
        f.phase = Phase::Broadcast;
        let not_logged: Vec<Arc<Txn>> = f.not_logged.drain(..).collect();
        let committed: Vec<Zxid> = f.sync_committed.drain(..).collect();
        self.vote.peer_epoch = epoch;
        out.record(ZkEvent::RoleChanged {
            role: ZkRole::Following,
            epoch,
        });
        self.log_request(not_logged, out);
        for zxid in committed {
            if !matches!(self.role, Role::Following(_)) {
                return; // a COMMIT that named no pending proposal sent it LOOKING
            }
            self.on_commit(now_ms, zxid, out);
        }
    }

    pub(super) fn follower_on_logged(&mut self, _now_ms: u64, upto: Zxid, out: &mut Out) {
        let bugs = self.cfg.bugs;
        let f = self.follower();
        f.fsynced = f.fsynced.max(upto);
        let synced = f
            .newleader_wait
            .as_ref()
            .filter(|w| w.logged.last().is_some_and(|&last| upto >= last))
            .map(|w| (w.zxid, w.logged.clone()));
        if let Some((nl, logged)) = synced {
            if bugs.zk4685_proposal_acks_first {
                // ZOOKEEPER-4685: the txns logged at NEWLEADER went through the sync
                // processor, which ACKs each as soon as it is fsynced; here those ACKs leave
                // before the NEWLEADER ACK.
                if let Some(c) = self.follower().conn {
                    for zxid in logged {
                        out.zab(c, ZabMsg::Ack { zxid });
                    }
                }
            }
            self.complete_new_leader(nl, out);
        }
        let f = self.follower();
        if !f.acking {
            return;
        }
        let mut acks = BTreeSet::new();
        while let Some(&z) = f.unacked.front() {
            if z > upto {
                break;
            }
            f.unacked.pop_front();
            acks.insert(z);
        }
        if bugs.ack_before_fsync {
            return; // already acknowledged on receipt
        }
        if let Some(c) = f.conn {
            for zxid in acks {
                out.zab(c, ZabMsg::Ack { zxid });
            }
        }
    }
}
