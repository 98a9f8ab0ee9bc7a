//! A ZooKeeper server as one sans-IO state machine: fast leader election, ZAB discovery,
//! synchronization and broadcast, the leader's session tracker, and client sessions.
//!
//! The host ([`super::server`]) feeds [`Input`]s and carries out [`Output`]s strictly in
//! order. Output order is the contract: a follower's ACK comes after the `Append` whose
//! fsync it acknowledges is reported back as [`Input::Logged`]; NEWLEADER is acknowledged
//! only after the synced history is logged and `currentEpoch` persisted.
//!
//! Roles: LOOKING ([`super::fle`]) -> LEADING ([`leader`]) or FOLLOWING ([`follower`]).
//! A learner's ZAB session is its connection to the leader: when it breaks, the learner
//! goes back to LOOKING and resynchronizes, so no proposal is ever silently skipped.

mod clients;
mod follower;
mod leader;
#[cfg(test)]
mod tests;

use super::datatree::{DataTree, FuzzySnapshot};
use super::fle::{self, Fle, FleConfig, FleOutput, Majority, PeerState, Vote};
use super::ids::{Epoch, Sid, Zxid};
use super::txn::{Txn, TxnBody};
use super::wire::{ClientMsg, ZabMsg};
use crate::history::{ZkEvent, ZkRole};
use clients::Clients;
use follower::Follower;
use kzsim_sim::ConnId;
use leader::Leader;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// How many recently committed transactions a server keeps for DIFF syncs (ZooKeeper's
/// `commitLogCount`, 500, cannot be set lower).
pub const COMMITTED_LOG_MAX: usize = 500;

/// How many znodes a snapshot walk serializes per millisecond of simulated time: 50 µs a
/// znode, serialization plus writing it out on a busy disk, so a million znodes take under
/// a minute (the order reported for large production trees). The walk starts one
/// millisecond after the snapshot is triggered, and txns keep applying meanwhile: see
/// [`FuzzySnapshot`].
pub const SNAPSHOT_NODES_PER_MS: u64 = 20;

/// Re-introduced historical ZooKeeper bugs. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkBugs {
    /// A follower ACKs a proposal before its log append is fsynced (durability).
    pub ack_before_fsync: bool,
    /// Quorums (election, epoch, NEWLEADER, commit) need one server fewer than a majority.
    pub quorum_off_by_one: bool,
    /// ZOOKEEPER-335 (ZAB before 1.0, fixed in 3.4): a new leader picks its epoch as
    /// epoch(last logged zxid) + 1 on its own, and a follower takes any LEADERINFO epoch as
    /// new (there is no acceptedEpoch promise). A leader that logged nothing in its epoch
    /// leaves no trace of it, so the next leader reuses the epoch.
    pub epoch_from_last_zxid: bool,
    /// ZOOKEEPER-1154: the leader DIFFs whenever min <= P <= max, without checking that the
    /// follower's last zxid is in its log (a divergent tail survives).
    pub sync_without_trunc: bool,
    /// ZOOKEEPER-975: FLE decides as soon as every voter has voted, without the quorum test.
    pub decide_when_all_voted: bool,
    /// ZOOKEEPER-1419: the vote tie-break uses the sid when zxids are equal, epochs aside.
    pub tie_break_sid_ignoring_epoch: bool,
    /// ZOOKEEPER-1732: a restarted server matches out-of-election votes too strictly.
    pub out_of_election_strict_match: bool,
    /// ZOOKEEPER-1624: a failed multi leaves the parent's child counter bumped.
    pub multi_no_parent_rollback: bool,
    /// ZOOKEEPER-1046: replaying a create that hits NodeExists bumps the parent counter.
    pub replay_increments_counter: bool,
    /// ZOOKEEPER-3911 (before 3.6.2): at NEWLEADER a learner persists currentEpoch and ACKs
    /// at once; the txns of a DIFF are logged only after UPTODATE.
    #[serde(default)]
    pub zk3911_log_diff_after_uptodate: bool,
    /// ZOOKEEPER-4643 (3.8.4's order): at NEWLEADER a learner persists currentEpoch before
    /// it logs the txns the leader committed in the sync.
    #[serde(default)]
    pub zk4643_epoch_before_log: bool,
    /// ZOOKEEPER-4685: the txns a learner logs at NEWLEADER are ACKed, as each fsync
    /// completes, ahead of the NEWLEADER ACK.
    #[serde(default)]
    pub zk4685_proposal_acks_first: bool,
    /// ZOOKEEPER-4394 (every 3.8.x): at NEWLEADER a learner logs every queued proposal and
    /// empties the queue, so a COMMIT before UPTODATE finds nothing to match.
    #[serde(default)]
    pub zk4394_newleader_drains_queue: bool,
    /// ZOOKEEPER-4712: a follower leaving its role re-applies only the log writes already
    /// done; the ones still queued in its sync processor land in the log afterwards.
    #[serde(default)]
    pub zk4712_late_log_writes: bool,
    // Test-only mutations: each breaks one mechanism that a rule of issue 22 rests on, so
    // a test can show the rule firing on a real run. None is a historical bug, so none is
    // in `bugs::FLAGS` (no `--bug` name); they are set only by tests, through this struct.
    /// Test-only: the leader ignores the session touches followers ship in PING replies
    /// (`zk.sessions.no-false-expiry`).
    #[serde(default)]
    pub test_ping_touches_ignored: bool,
    /// Test-only: the leader's tracker rounds deadlines down to a tick instead of up
    /// (`zk.sessions.expiry-bounds`).
    #[serde(default)]
    pub test_deadline_rounded_down: bool,
    /// Test-only: a fired watch stays registered, so it fires again on the next change
    /// (`zk.watches.once`).
    #[serde(default)]
    pub test_watch_stays_after_firing: bool,
    /// Test-only: a server sends a transaction's watch notifications only after it has
    /// applied the next transaction and answered its clients (`zk.watches.ordered`,
    /// `zk.watches.before-data`).
    #[serde(default)]
    pub test_watch_notice_one_txn_late: bool,
    /// Test-only: a follower applying a closeSession keeps the session's ephemerals
    /// (`zk.ephemerals.lifetime`; the effect of ZOOKEEPER-2355, by a simpler cause).
    #[serde(default)]
    pub test_follower_keeps_closed_ephemerals: bool,
}

impl ZkBugs {
    /// The election settings these flags imply.
    pub fn fle_config(&self) -> FleConfig {
        FleConfig {
            tie_break_sid_ignoring_epoch: self.tie_break_sid_ignoring_epoch,
            decide_when_all_voted: self.decide_when_all_voted,
            out_of_election_strict_match: self.out_of_election_strict_match,
            ..FleConfig::default()
        }
    }
}

/// A server's static settings.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This server's id.
    pub sid: Sid,
    /// Every voting member.
    pub voters: BTreeSet<Sid>,
    /// ZooKeeper's tickTime.
    pub tick_ms: u64,
    /// initLimit, in ticks.
    pub init_limit: u64,
    /// syncLimit, in ticks.
    pub sync_limit: u64,
    /// Session timeouts are clamped into this range.
    pub min_session_ms: u64,
    /// Session timeouts are clamped into this range.
    pub max_session_ms: u64,
    /// `readonlymode.enabled`.
    pub read_only: bool,
    /// snapCount: a snapshot after roughly this many txns (randomized per server).
    pub snap_count: u64,
    /// Unix time in milliseconds when the server's local clock reads zero: transactions
    /// carry `start + local now` as their time (ZooKeeper's `Time.currentWallTime()`, the
    /// znodes' ctime and mtime), while timers keep using the local clock.
    pub wall_clock_start_ms: i64,
    /// Bug flags.
    pub bugs: ZkBugs,
}

/// A server's durable and in-memory database.
#[derive(Clone, Debug)]
pub struct Database {
    /// The tree with every applied transaction.
    pub tree: DataTree,
    /// The newest transaction applied to the tree.
    pub last_processed: Zxid,
    /// The newest transaction handed to the log (appended; maybe not fsynced yet).
    pub last_logged: Zxid,
    /// acceptedEpoch, as persisted.
    pub accepted_epoch: Epoch,
    /// currentEpoch, as persisted.
    pub current_epoch: Epoch,
    /// The most recently applied transactions, oldest first, for DIFF syncs.
    pub committed_log: VecDeque<Arc<Txn>>,
    /// Transactions logged since the last snapshot.
    pub txns_since_snapshot: u64,
}

impl Database {
    /// An empty database (a fresh server).
    pub fn empty() -> Self {
        Database {
            tree: DataTree::new(),
            last_processed: Zxid::ZERO,
            last_logged: Zxid::ZERO,
            accepted_epoch: 0,
            current_epoch: 0,
            committed_log: VecDeque::new(),
            txns_since_snapshot: 0,
        }
    }
}

/// Named timers; one pending instance each. A timer firing late or spuriously is a no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// FLE: finalize wait or notification resend.
    Election,
    /// Leader: half a tick (PING) and the quorum check each tick; follower: read timeout.
    Tick,
    /// Leader: the session tracker's next expiry bucket.
    SessionExpiry,
    /// LOOKING long enough to serve read-only clients.
    ReadOnlyGrace,
    /// Follower: dial the leader again (it may not be leading yet).
    Reconnect,
    /// The snapshot walk in progress should be complete by now (it is advanced on every
    /// input; this only makes sure an idle server finishes it).
    Snapshot,
}

/// Durable writes the host performs inline, in order after every earlier `Append`.
#[derive(Clone, Debug)]
pub enum PersistOp {
    /// Persist acceptedEpoch.
    AcceptedEpoch(Epoch),
    /// Persist currentEpoch.
    CurrentEpoch(Epoch),
    /// Write a snapshot of `tree` labelled `zxid` (fsynced if `sync`); with `roll_log`,
    /// later appends go to a new log file (a fuzzy snapshot rolled the log when it started,
    /// with [`Output::RollLog`]).
    Snapshot {
        zxid: Zxid,
        tree: Arc<DataTree>,
        sync: bool,
        roll_log: bool,
    },
    /// Cut the txn log after `to` and reload the database from disk; the host answers with
    /// [`Input::Reloaded`] before any other input.
    Truncate { to: Zxid },
}

/// What the host feeds the peer.
#[derive(Debug)]
pub enum Input {
    /// An FLE notification from another server.
    Election { from: Sid, n: fle::Notification },
    /// A ZAB message on learner connection `conn`.
    Zab { conn: ConnId, msg: ZabMsg },
    /// The connection to the leader that [`Output::ConnectToLeader`] asked for.
    LeaderConnected { leader: Sid, conn: ConnId },
    /// A client message on `conn`.
    Client { conn: ConnId, msg: ClientMsg },
    /// A connection (learner or client) closed.
    Closed { conn: ConnId },
    /// A timer fired.
    Timer(Timer),
    /// The log is fsynced up to `upto` (appends complete in order).
    Logged { upto: Zxid },
    /// The database reloaded from disk after a truncation.
    Reloaded(Box<Database>),
}

/// What the peer asks the host to do, in order.
#[derive(Debug)]
pub enum Output {
    /// Send an FLE notification to a server (host-managed election links).
    Election { to: Sid, n: fle::Notification },
    /// Open a learner connection to `leader`; answered by [`Input::LeaderConnected`].
    ConnectToLeader { leader: Sid },
    /// Send on a connection.
    Send {
        conn: ConnId,
        msg: super::wire::ZkWire,
    },
    /// Close a connection.
    Close { conn: ConnId },
    /// Arm a timer at a local time (replacing any earlier arming).
    SetTimer { timer: Timer, at_ms: u64 },
    /// Append transactions to the log, then fsync; completion arrives as [`Input::Logged`].
    Append(Vec<Arc<Txn>>),
    /// Later appends go to a new log file (`ZKDatabase.rollLog`), in order with appends.
    RollLog,
    /// A durable write, performed before the next output.
    Persist(PersistOp),
    /// Record a protocol event.
    Record(ZkEvent),
}

/// Collects outputs during one step.
#[derive(Default)]
pub(crate) struct Out(pub Vec<Output>);

impl Out {
    fn push(&mut self, o: Output) {
        self.0.push(o);
    }
    fn record(&mut self, e: ZkEvent) {
        self.0.push(Output::Record(e));
    }
    fn send(&mut self, conn: ConnId, msg: super::wire::ZkWire) {
        self.0.push(Output::Send { conn, msg });
    }
    fn zab(&mut self, conn: ConnId, msg: ZabMsg) {
        self.send(conn, super::wire::ZkWire::Zab(msg));
    }
    fn timer(&mut self, timer: Timer, at_ms: u64) {
        self.0.push(Output::SetTimer { timer, at_ms });
    }
}

enum Role {
    Looking { read_only: bool },
    Following(Box<Follower>),
    Leading(Box<Leader>),
}

/// Status numbers for `srvr`/`mntr`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerStatus {
    /// `srvr`'s Mode.
    pub role: Option<ZkRole>,
    /// The current epoch.
    pub epoch: Epoch,
    /// Last processed zxid.
    pub zxid: Zxid,
    /// Znodes (the root counted twice, as the real server does).
    pub node_count: usize,
    /// Ephemeral znodes.
    pub ephemerals: usize,
    /// Live sessions in the replicated table.
    pub sessions: usize,
    /// Learners connected (leader only).
    pub followers: usize,
    /// Learners that acknowledged NEWLEADER (leader only).
    pub synced_followers: usize,
    /// Client requests waiting for a commit.
    pub outstanding: usize,
    /// Client connections.
    pub connections: usize,
    /// Answering clients now.
    pub serving: bool,
}

/// One ZooKeeper server.
pub struct Peer {
    cfg: PeerConfig,
    quorum: Majority,
    db: Database,
    role: Role,
    /// One election state machine for the server's life: its round carries over.
    fle: Fle,
    /// Re-applied log tail not yet known to be committed: (zxid, digest).
    log_tail: Vec<(Zxid, u64)>,
    clients: Clients,
    /// My vote while following or leading (answered to LOOKING servers).
    vote: Vote,
    /// Per-server jitter on the snapshot trigger (ZooKeeper draws it at random).
    snap_jitter: u64,
    rng_state: u64,
    /// The fuzzy snapshot being taken (ZooKeeper's snapshot thread), if any.
    snapshot_walk: Option<SnapshotWalk>,
    /// The local time of the input being handled.
    now_ms: u64,
}

/// A fuzzy snapshot in progress, paced by simulated time.
struct SnapshotWalk {
    snap: FuzzySnapshot,
    started_ms: u64,
    /// Visits made (the pace allows `SNAPSHOT_NODES_PER_MS` per ms since `started_ms`).
    visited: u64,
    /// When [`Timer::Snapshot`] is armed for.
    timer_at: Option<u64>,
}

/// [`ZkEvent::SessionEnded`] as a server other than the committing leader records it: it
/// knows the close's zxid, not whether the tracker expired the session, nor the leader's
/// clock (`expired` false, `leader_ms` 0).
fn session_ended_here(session: crate::zk::ids::SessionId, zxid: Zxid) -> ZkEvent {
    ZkEvent::SessionEnded {
        session,
        zxid: zxid.0,
        expired: false,
        leader_ms: 0,
    }
}

impl Peer {
    /// A server that recovered `db` from its disk, LOOKING. `seed` drives its random
    /// choices (snapshot jitter, session ids).
    pub fn new(cfg: PeerConfig, db: Database, seed: u64) -> Self {
        let quorum = Majority::new(cfg.voters.clone()).with_off_by_one(cfg.bugs.quorum_off_by_one);
        let fle = Fle::with_quorum(cfg.sid, quorum.clone(), cfg.bugs.fle_config());
        let mut p = Peer {
            quorum,
            role: Role::Looking { read_only: false },
            fle,
            log_tail: Vec::new(),
            clients: Clients::new(cfg.sid).with_mutations(
                cfg.bugs.test_watch_stays_after_firing,
                cfg.bugs.test_watch_notice_one_txn_late,
            ),
            vote: Vote {
                leader: cfg.sid,
                zxid: db.last_processed,
                round: 0,
                peer_epoch: db.current_epoch,
            },
            snap_jitter: 0,
            rng_state: seed | 1,
            snapshot_walk: None,
            now_ms: 0,
            db,
            cfg,
        };
        p.snap_jitter = p.next_rand() % (p.cfg.snap_count / 2).max(1);
        p
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: deterministic from the seed, good enough for jitter.
        let mut x = self.rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng_state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// This server's id.
    pub fn sid(&self) -> Sid {
        self.cfg.sid
    }

    /// The database (for status, tests and end-of-run comparisons).
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The current role as `srvr` reports it.
    pub fn role(&self) -> ZkRole {
        match &self.role {
            Role::Looking {
                read_only: true, ..
            } => ZkRole::ReadOnly,
            Role::Looking { .. } => ZkRole::Looking,
            Role::Following(_) => ZkRole::Following,
            Role::Leading(_) => ZkRole::Leading,
        }
    }

    /// True while this server answers client requests.
    pub fn serving(&self) -> bool {
        match &self.role {
            Role::Looking { read_only, .. } => *read_only,
            Role::Following(f) => f.serving(),
            Role::Leading(l) => l.serving(),
        }
    }

    /// Status numbers for `srvr`/`mntr`.
    pub fn status(&self) -> PeerStatus {
        let (followers, synced) = match &self.role {
            Role::Leading(l) => (l.learner_count(), l.synced_count()),
            _ => (0, 0),
        };
        PeerStatus {
            role: Some(self.role()),
            epoch: self.db.current_epoch,
            zxid: self.db.last_processed,
            node_count: self.db.tree.node_count(),
            ephemerals: self.db.tree.ephemerals_count(),
            sessions: self.db.tree.sessions().len(),
            followers,
            synced_followers: synced,
            outstanding: self.clients.outstanding(),
            connections: self.clients.connections(),
            serving: self.serving(),
        }
    }

    /// Boots the server: records what it recovered and starts an election.
    pub fn start(&mut self, now_ms: u64) -> Vec<Output> {
        let mut out = Out::default();
        self.now_ms = now_ms;
        self.look(now_ms, &mut out, None);
        out.0
    }

    /// Handles one input.
    pub fn step(&mut self, now_ms: u64, input: Input) -> Vec<Output> {
        let mut out = Out::default();
        self.now_ms = now_ms;
        // The snapshot thread ran while this input waited: it saw the tree as it was.
        self.advance_snapshot(now_ms, &mut out);
        match input {
            Input::Election { from, n } => self.on_election(now_ms, from, n, &mut out),
            Input::Timer(t) => self.on_timer(now_ms, t, &mut out),
            Input::Client { conn, msg } => self.on_client(now_ms, conn, msg, &mut out),
            Input::Closed { conn } => self.on_closed(now_ms, conn, &mut out),
            Input::LeaderConnected { leader, conn } => {
                if let Role::Following(f) = &mut self.role {
                    f.on_connected(now_ms, leader, conn, &self.db, &mut out);
                } else {
                    out.push(Output::Close { conn });
                }
            }
            Input::Zab { conn, msg } => self.on_zab(now_ms, conn, msg, &mut out),
            Input::Logged { upto } => self.on_logged(now_ms, upto, &mut out),
            Input::Reloaded(db) => {
                let db = *db;
                self.snapshot_walk = None;
                self.db = db;
                if let Role::Following(f) = &mut self.role {
                    f.on_reloaded(&self.db);
                }
            }
        }
        // Requests the clients' queues released during this step go to the leader now, in
        // arrival order (answering one may release the next).
        loop {
            let submits = self.clients.take_submits();
            if submits.is_empty() {
                break;
            }
            for s in submits {
                self.submit(now_ms, s, &mut out);
            }
        }
        self.arm_snapshot_timer(now_ms, &mut out);
        out.0
    }

    fn on_election(&mut self, now_ms: u64, from: Sid, n: fle::Notification, out: &mut Out) {
        match &mut self.role {
            Role::Looking { .. } => {
                let outs = self.fle.on_notification(now_ms, n);
                self.apply_fle(now_ms, outs, out);
            }
            Role::Following(_) | Role::Leading(_) => {
                if n.state == PeerState::Looking {
                    let state = if matches!(self.role, Role::Leading(_)) {
                        PeerState::Leading
                    } else {
                        PeerState::Following
                    };
                    let answer = fle::answer_looking(self.cfg.sid, state, &self.vote);
                    out.push(Output::Election {
                        to: from,
                        n: answer,
                    });
                }
            }
        }
    }

    fn apply_fle(&mut self, now_ms: u64, outs: Vec<FleOutput>, out: &mut Out) {
        for o in outs {
            match o {
                FleOutput::Send { to, n } => out.push(Output::Election { to, n }),
                FleOutput::SetTimer { at_ms } => out.timer(Timer::Election, at_ms),
                FleOutput::Decided(d) => {
                    out.record(ZkEvent::ElectionDecided {
                        leader: d.leader,
                        zxid: d.vote.zxid.0,
                        round: d.vote.round,
                        peer_epoch: d.vote.peer_epoch,
                        votes: d.votes.clone(),
                        took_ms: d.took_ms,
                    });
                    self.vote = d.vote;
                    if d.leader == self.cfg.sid {
                        self.lead(now_ms, out);
                    } else {
                        self.follow(now_ms, d.leader, out);
                    }
                    return;
                }
            }
        }
    }

    /// Leaves the current role (closing its connections and client sessions' connections)
    /// and starts an election. `reason` is recorded if a leader steps down.
    fn look(&mut self, now_ms: u64, out: &mut Out, reason: Option<String>) {
        // A snapshot walk does not outlive the role it started in: the tree is about to
        // take uncommitted log-tail txns, truncations or a SNAP (kzsim simplification;
        // the real snapshot thread would go on walking).
        self.snapshot_walk = None;
        match std::mem::replace(&mut self.role, Role::Looking { read_only: false }) {
            Role::Leading(l) => {
                if let Some(reason) = reason {
                    out.record(ZkEvent::SteppedDown {
                        epoch: l.epoch(),
                        reason,
                    });
                }
                // A leader's outstanding proposals are in its log: like every role change,
                // stepping down re-applies the log tail (ZOOKEEPER-2845's fastForwardDataBase).
                for txn in l.close_all(out) {
                    self.apply_log_tail(&txn, out);
                }
            }
            Role::Following(f) => {
                if let Some(c) = f.conn() {
                    out.push(Output::Close { conn: c });
                }
                // Proposals handed to the log become part of this server's history: the real
                // server re-applies its log tail when it changes role (`fastForwardDataBase`),
                // after its sync processor has written out everything queued to it.
                // ZOOKEEPER-4712: the tree is fast-forwarded from the log before the sync
                // processor shuts down, so only the writes already fsynced are re-applied;
                // the queued ones land in the log afterwards, behind the tree's back, and the
                // server reports the tree's last zxid as its last logged one.
                let late_writes = self.cfg.bugs.zk4712_late_log_writes;
                let in_log = if late_writes {
                    f.fsynced()
                } else {
                    self.db.last_logged
                };
                for txn in f.into_logged_uncommitted(in_log) {
                    self.apply_log_tail(&txn, out);
                }
                if late_writes {
                    self.db.last_logged = self.db.last_processed;
                }
            }
            Role::Looking { .. } => {}
        }
        self.clients.close_all(&mut self.db.tree, out);
        out.record(ZkEvent::RoleChanged {
            role: ZkRole::Looking,
            epoch: self.db.current_epoch,
        });
        let outs = self
            .fle
            .start(now_ms, self.db.last_processed, self.db.current_epoch);
        self.apply_fle(now_ms, outs, out);
        if self.cfg.read_only && matches!(self.role, Role::Looking { .. }) {
            out.timer(Timer::ReadOnlyGrace, now_ms + self.cfg.tick_ms.max(2_000));
        }
    }

    fn lead(&mut self, now_ms: u64, out: &mut Out) {
        let leader = Leader::new(&self.cfg, &self.db, now_ms, out);
        self.role = Role::Leading(Box::new(leader));
        // With a quorum of one (a 1-server ensemble) no follower will ever connect to
        // trigger discovery: the leader alone is a quorum, so check now.
        self.maybe_choose_epoch(now_ms, out);
    }

    fn follow(&mut self, now_ms: u64, leader: Sid, out: &mut Out) {
        let f = Follower::new(&self.cfg, leader, now_ms, out);
        self.role = Role::Following(Box::new(f));
    }

    fn on_timer(&mut self, now_ms: u64, t: Timer, out: &mut Out) {
        match (t, &mut self.role) {
            (Timer::Election, Role::Looking { .. }) => {
                let outs = self.fle.on_timer(now_ms);
                if outs.iter().any(|o| matches!(o, FleOutput::Send { .. })) {
                    out.record(ZkEvent::VotesResent {
                        round: self.fle.round(),
                        next_in_ms: self.fle.notification_timeout_ms(),
                    });
                }
                self.apply_fle(now_ms, outs, out);
            }
            (Timer::ReadOnlyGrace, Role::Looking { read_only, .. })
                if self.cfg.read_only && !*read_only =>
            {
                *read_only = true;
                out.record(ZkEvent::RoleChanged {
                    role: ZkRole::ReadOnly,
                    epoch: self.db.current_epoch,
                });
            }
            (Timer::Tick, Role::Leading(_)) => self.leader_tick(now_ms, out),
            (Timer::SessionExpiry, Role::Leading(_)) => self.leader_expire_sessions(now_ms, out),
            (Timer::Reconnect, Role::Following(f)) => f.reconnect(out),
            (Timer::Snapshot, _) => {
                // The walk advanced at the start of this step; re-arm if it goes on.
                if let Some(w) = &mut self.snapshot_walk {
                    w.timer_at = None;
                }
            }
            (Timer::Tick, Role::Following(f)) => {
                if let Some(reason) = f.check_timeout(now_ms, &self.cfg, out) {
                    tracing::debug!(sid = self.cfg.sid, %reason, "follower gives up on its leader");
                    self.look(now_ms, out, None);
                }
            }
            _ => {}
        }
    }

    fn on_closed(&mut self, now_ms: u64, conn: ConnId, out: &mut Out) {
        if self.clients.on_closed(conn, &mut self.db.tree) {
            return;
        }
        let give_up = match &mut self.role {
            Role::Following(f) if f.conn() == Some(conn) => {
                !f.retry_connect(now_ms, &self.cfg, out)
            }
            Role::Leading(l) => {
                l.on_learner_closed(conn);
                false
            }
            _ => false,
        };
        if give_up {
            self.look(now_ms, out, None);
        }
    }

    /// Applies a committed transaction to the tree: answers the local client that sent it,
    /// fires watches, records the delivery, and keeps it for DIFF syncs.
    fn apply_txn(&mut self, txn: &Arc<Txn>, out: &mut Out) {
        let zxid = txn.header.zxid;
        if zxid <= self.db.last_processed {
            return; // already applied (a re-sent commit after recovery)
        }
        let applied = match (&txn.body, &self.role) {
            // Test-only mutation: a follower applies a closeSession as a no-op, so the
            // session's ephemerals (and its table entry) stay on this server.
            (TxnBody::CloseSession { .. }, Role::Following(_))
                if self.cfg.bugs.test_follower_keeps_closed_ephemerals =>
            {
                let noop = Txn {
                    header: txn.header,
                    body: TxnBody::Error {
                        code: crate::zk::types::ErrorCode::Ok,
                    },
                };
                self.db.tree.apply(&noop)
            }
            _ => self.db.tree.apply(txn),
        };
        self.db.last_processed = zxid;
        self.db.last_logged = self.db.last_logged.max(zxid);
        self.db.committed_log.push_back(txn.clone());
        while self.db.committed_log.len() > COMMITTED_LOG_MAX {
            self.db.committed_log.pop_front();
        }
        out.record(ZkEvent::Delivered {
            zxid: zxid.0,
            digest: txn.digest(),
        });
        // The leader records its own commit of a close (with `expired` and its clock) in
        // `try_commit`; every other server records the close as it applies it.
        if matches!(txn.body, TxnBody::CloseSession { .. })
            && !matches!(self.role, Role::Leading(_))
        {
            out.record(session_ended_here(txn.header.session, zxid));
        }
        self.clients
            .on_applied(txn, applied, zxid, &mut self.db, out);
    }

    /// Applies a logged transaction that no quorum is known to have committed (the log tail
    /// re-applied on a role change). It is not a delivery yet: it becomes one if the next
    /// established history keeps it (see [`Peer::deliver_log_tail`]); a TRUNC or SNAP drops it.
    fn apply_log_tail(&mut self, txn: &Arc<Txn>, _out: &mut Out) {
        let zxid = txn.header.zxid;
        if zxid <= self.db.last_processed {
            return;
        }
        let _ = self.db.tree.apply(txn);
        self.db.last_processed = zxid;
        self.db.last_logged = self.db.last_logged.max(zxid);
        self.db.committed_log.push_back(txn.clone());
        while self.db.committed_log.len() > COMMITTED_LOG_MAX {
            self.db.committed_log.pop_front();
        }
        self.log_tail.push((zxid, txn.digest()));
    }

    /// The history holding the re-applied log tail was established (this server leads it, or
    /// synced to it by DIFF and acknowledged NEWLEADER): those transactions are committed
    /// now, so they count as delivered.
    fn deliver_log_tail(&mut self, out: &mut Out) {
        for (zxid, digest) in std::mem::take(&mut self.log_tail) {
            if zxid <= self.db.last_processed {
                out.record(ZkEvent::Delivered {
                    zxid: zxid.0,
                    digest,
                });
                let closed = self.db.committed_log.iter().find_map(|t| {
                    (t.header.zxid == zxid && matches!(t.body, TxnBody::CloseSession { .. }))
                        .then_some(t.header.session)
                });
                if let Some(session) = closed {
                    out.record(session_ended_here(session, zxid));
                }
            }
        }
    }

    /// After an append: if enough txns were logged since the last snapshot, roll the log
    /// and start a fuzzy snapshot named by the last processed zxid (`SyncRequestProcessor`:
    /// a snapshot still being taken makes it skip this one, "Too busy to snap").
    fn maybe_snapshot(&mut self, appended: u64, out: &mut Out) {
        self.db.txns_since_snapshot += appended;
        if self.db.txns_since_snapshot > self.cfg.snap_count / 2 + self.snap_jitter {
            self.db.txns_since_snapshot = 0;
            self.snap_jitter = self.next_rand() % (self.cfg.snap_count / 2).max(1);
            out.push(Output::RollLog);
            if self.snapshot_walk.is_some() {
                tracing::debug!(sid = self.cfg.sid, "too busy to snap, skipping");
                return;
            }
            self.snapshot_walk = Some(SnapshotWalk {
                snap: FuzzySnapshot::start(&self.db.tree, self.db.last_processed),
                started_ms: self.now_ms,
                visited: 0,
                timer_at: None,
            });
        }
    }

    /// Walks the snapshot in progress as far as the time elapsed since it started allows;
    /// once complete, writes it (not fsynced: ZooKeeper fsyncs only a snapshot taken
    /// after a SNAP sync).
    fn advance_snapshot(&mut self, now_ms: u64, out: &mut Out) {
        let Some(w) = &mut self.snapshot_walk else {
            return;
        };
        let due = now_ms
            .saturating_sub(w.started_ms)
            .saturating_mul(SNAPSHOT_NODES_PER_MS);
        let budget = due.saturating_sub(w.visited);
        if budget == 0 {
            return;
        }
        w.visited += budget;
        if !w.snap.walk(&self.db.tree, budget as usize) {
            return;
        }
        let w = self.snapshot_walk.take().expect("walk in progress");
        let zxid = w.snap.zxid();
        out.push(Output::Persist(PersistOp::Snapshot {
            zxid,
            tree: Arc::new(w.snap.finish()),
            sync: false,
            roll_log: false,
        }));
        out.record(ZkEvent::SnapshotTaken { zxid: zxid.0 });
    }

    /// Makes sure a walk in progress finishes even if no input arrives.
    fn arm_snapshot_timer(&mut self, now_ms: u64, out: &mut Out) {
        let Some(w) = &mut self.snapshot_walk else {
            return;
        };
        if w.timer_at.is_some() {
            return;
        }
        let left = w.snap.pending() as u64;
        let at =
            (w.started_ms + (w.visited + left).div_ceil(SNAPSHOT_NODES_PER_MS)).max(now_ms + 1);
        w.timer_at = Some(at);
        out.timer(Timer::Snapshot, at);
    }

    /// A snapshot of the tree as it is now, written at once (a new leader, or a learner
    /// after a SNAP or TRUNC sync: nothing applies meanwhile, so it is exact).
    fn snapshot_now(&mut self, sync: bool, out: &mut Out) {
        let zxid = self.db.last_processed;
        out.push(Output::Persist(PersistOp::Snapshot {
            zxid,
            tree: Arc::new(self.db.tree.clone()),
            sync,
            roll_log: true,
        }));
        out.record(ZkEvent::SnapshotTaken { zxid: zxid.0 });
    }

    fn on_client(&mut self, now_ms: u64, conn: ConnId, msg: ClientMsg, out: &mut Out) {
        let serving = self.serving();
        let read_only = matches!(
            self.role,
            Role::Looking {
                read_only: true,
                ..
            }
        );
        self.clients.on_message(
            now_ms,
            conn,
            msg,
            serving,
            read_only,
            &self.cfg,
            &mut self.db,
            out,
        );
    }

    /// Hands a write, sync or session request to the leader (locally or over the wire).
    fn submit(&mut self, now_ms: u64, req: clients::Submit, out: &mut Out) {
        match &mut self.role {
            Role::Leading(_) => {
                self.leader_request(now_ms, None, req.session, req.cxid, req.op, out)
            }
            Role::Following(f) => f.forward(req, out),
            Role::Looking { .. } => {}
        }
    }

    fn on_zab(&mut self, now_ms: u64, conn: ConnId, msg: ZabMsg, out: &mut Out) {
        if matches!(self.role, Role::Leading(_)) {
            self.leader_on_zab(now_ms, conn, msg, out);
        } else if matches!(self.role, Role::Following(_)) {
            self.follower_on_zab(now_ms, conn, msg, out);
        } else {
            out.push(Output::Close { conn });
        }
    }

    fn on_logged(&mut self, now_ms: u64, upto: Zxid, out: &mut Out) {
        match &self.role {
            Role::Leading(_) => self.leader_on_logged(now_ms, upto, out),
            Role::Following(_) => self.follower_on_logged(now_ms, upto, out),
            Role::Looking { .. } => {}
        }
    }
}
