//! The follower: connects to the elected leader, takes its epoch, synchronizes (DIFF,
//! TRUNC or SNAP), persists the synced history before acknowledging NEWLEADER, then logs
//! and ACKs proposals (only after fsync) and applies commits in order.

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
    /// NEWLEADER received; persisting the synced history before acknowledging it.
    Synced,
    /// UPTODATE received: serving clients.
    Broadcast,
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
    /// Proposals received and not yet committed, by zxid.
    pending: BTreeMap<Zxid, Arc<Txn>>,
    /// Proposals received before NEWLEADER: logged when NEWLEADER arrives.
    buffered: Vec<Arc<Txn>>,
    /// NEWLEADER waiting for its log append to be fsynced: (NEWLEADER zxid, last buffered).
    newleader_wait: Option<(Zxid, Zxid)>,
    /// Zxids handed to the log and not yet acknowledged, oldest first.
    unacked: VecDeque<Zxid>,
    /// Set once NEWLEADER was acknowledged: later fsyncs produce ACKs.
    acking: bool,
    /// Until LEADERINFO arrives, a refused or broken connection is retried until then.
    connect_deadline_ms: u64,
    /// Connection attempts so far (the real learner gives up after 5).
    connect_tries: u32,
}

/// Delay between attempts to reach the leader (`leaderConnectDelayDuringRetryMs`).
const LEADER_CONNECT_RETRY_MS: u64 = 100;

/// Attempts to reach the leader before going back to LOOKING (Learner.connectToLeader).
const LEADER_CONNECT_TRIES: u32 = 5;

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
            buffered: Vec::new(),
            newleader_wait: None,
            unacked: VecDeque::new(),
            acking: false,
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

    /// The proposals that reached the log and were not committed, in zxid order: they
    /// become part of this server's history when it leaves the role.
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
            }
            ZabMsg::Trunc { zxid } => {
                let f = self.follower();
                f.mode = Some(SyncMode::Trunc);
                f.phase = Phase::Syncing;
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
            ZabMsg::UpToDate => {
                let epoch = self.follower().new_epoch.unwrap_or(0);
                self.follower().phase = Phase::Broadcast;
                self.vote.peer_epoch = epoch;
                out.record(ZkEvent::RoleChanged {
                    role: ZkRole::Following,
                    epoch,
                });
            }
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
        if f.phase < Phase::Synced {
            f.pending.insert(zxid, txn.clone());
            f.buffered.push(txn);
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
        f.pending.insert(zxid, txn.clone());
        f.unacked.push_back(zxid);
        let conn = f.conn;
        self.db.last_logged = self.db.last_logged.max(zxid);
        out.push(Output::Append(vec![txn]));
        if bugs.ack_before_fsync {
            if let Some(c) = conn {
                out.zab(c, ZabMsg::Ack { zxid });
            }
        }
        self.maybe_snapshot(1, out);
    }

    fn on_commit(&mut self, now_ms: u64, zxid: Zxid, out: &mut Out) {
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

    /// NEWLEADER: (1) after SNAP/TRUNC, snapshot the tree (fsynced); (2) log every buffered
    /// proposal and fsync; (3) persist currentEpoch; (4) ACK. Steps 3 and 4 wait for the
    /// fsync of step 2 (ZOOKEEPER-4646 and -4643 are what happens otherwise).
    fn on_new_leader(&mut self, zxid: Zxid, out: &mut Out) {
        let f = self.follower();
        f.phase = Phase::Synced;
        let mode = f.mode;
        let buffered = std::mem::take(&mut f.buffered);
        if matches!(mode, Some(SyncMode::Snap) | Some(SyncMode::Trunc)) {
            self.snapshot_now(true, out);
        }
        let f = self.follower();
        match buffered.last().map(|t| t.header.zxid) {
            Some(last) => {
                for t in &buffered {
                    f.unacked.push_back(t.header.zxid);
                }
                f.newleader_wait = Some((zxid, last));
                self.db.last_logged = self.db.last_logged.max(last);
                let n = buffered.len() as u64;
                out.push(Output::Append(buffered));
                self.maybe_snapshot(n, out);
            }
            None => self.complete_new_leader(zxid, out),
        }
    }

    fn complete_new_leader(&mut self, zxid: Zxid, out: &mut Out) {
        self.deliver_log_tail(out);
        let epoch = zxid.epoch();
        self.db.current_epoch = epoch;
        out.push(Output::Persist(PersistOp::CurrentEpoch(epoch)));
        let f = self.follower();
        f.newleader_wait = None;
        f.acking = true;
        if let Some(c) = f.conn {
            out.zab(c, ZabMsg::Ack { zxid });
        }
    }

    pub(super) fn follower_on_logged(&mut self, _now_ms: u64, upto: Zxid, out: &mut Out) {
        let bugs = self.cfg.bugs;
        let f = self.follower();
        if let Some((nl, last)) = f.newleader_wait {
            if upto >= last {
                self.complete_new_leader(nl, out);
            }
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
