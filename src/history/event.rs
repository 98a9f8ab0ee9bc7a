//! Protocol events: what servers and brokers decided, recorded as it happened.
//!
//! Each variant is a fact a checker or a narration needs. Protocol state machines emit
//! them as outputs; hosts stamp them with time and node.

use serde::{Deserialize, Serialize};

/// Node lifecycle, faults, disk and clock changes: what the simulator records, as the
/// history keeps it. The history owns this type (its readers need nothing from the
/// simulator); it mirrors `kzsim_sim::SimEvent` variant for variant, with the same serde
/// format, so recorded histories and run hashes are the simulator's. The glue that runs the
/// world converts one into the other where the trace is recorded (`crate::net`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sim", rename_all = "snake_case")]
pub enum SimEvent {
    /// A node's process started (first start or restart); `incarnation` counts starts.
    NodeStarted { incarnation: u64 },
    /// A node's process was killed. With `page_cache_kept` only the process died (the OS
    /// wrote its unsynced writes back, as after `kill -9`); otherwise power was lost and the
    /// disk dropped its unsynced tail (`torn`: the last record was partly written), or the
    /// whole disk was lost (`disk_lost`).
    NodeCrashed {
        torn: bool,
        disk_lost: bool,
        #[serde(default)]
        page_cache_kept: bool,
    },
    /// A node's process was frozen (a long GC or VM pause): its tasks stop, time goes on.
    NodePaused,
    /// A paused process resumed.
    NodeResumed,
    /// The network was split into groups; nodes in different groups cannot talk.
    Partitioned { groups: Vec<Vec<String>> },
    /// Traffic from one node to another is dropped (the reverse direction still flows).
    LinkCut { from: String, to: String },
    /// Every partition and cut was removed.
    Healed,
    /// Loss rate and latency range changed (for messages sent from now on).
    NetChanged {
        loss_permille: u32,
        latency_min_us: u64,
        latency_max_us: u64,
        /// The latest time (simulated ns) a message already in flight was due: until then
        /// the old configuration still delays deliveries (a message lost under the old
        /// rate waits out its retransmissions). 0 in histories recorded before it existed.
        #[serde(default)]
        backlog_until_ns: u64,
    },
    /// A node's clock offset or drift changed.
    ClockChanged { offset_ns: i64, drift_ppm: i64 },
    /// Free-form note from the harness (scenario steps, phase changes).
    Note { text: String },
    /// A node's disk changed speed: each fsync it issues from now on takes a uniform draw
    /// from `[fsync_min_us, fsync_max_us]` microseconds. `restored`: back to the run's
    /// configured latency (the slow disk healed); otherwise a slow-disk fault set it.
    /// (Last in the enum so that the encodings, and so the hashes, of older traces hold.)
    DiskChanged {
        fsync_min_us: u64,
        fsync_max_us: u64,
        restored: bool,
    },
}

/// Any recorded event. Serialized with a `layer` tag: `{"layer":"zk","kind":"delivered",..}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Event {
    /// Node lifecycle and faults, from the simulator.
    Sim(SimEvent),
    /// ZooKeeper servers.
    Zk(ZkEvent),
    /// Kafka brokers and controllers.
    Kafka(KafkaEvent),
}

impl From<SimEvent> for Event {
    fn from(e: SimEvent) -> Self {
        Event::Sim(e)
    }
}

impl From<ZkEvent> for Event {
    fn from(e: ZkEvent) -> Self {
        Event::Zk(e)
    }
}

impl From<KafkaEvent> for Event {
    fn from(e: KafkaEvent) -> Self {
        Event::Kafka(e)
    }
}

/// A ZooKeeper server's role, as `srvr` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkRole {
    /// In leader election.
    Looking,
    /// Following the leader of the current epoch.
    Following,
    /// Leading.
    Leading,
    /// LOOKING too long with read-only mode on: serving read-only clients.
    ReadOnly,
}

/// How a leader synchronized a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Send the missing committed transactions.
    Diff,
    /// Cut the follower's log back, then send what is missing.
    Trunc,
    /// Send the whole tree and session table.
    Snap,
}

/// ZooKeeper protocol events. Zxids are raw `i64`s (`epoch << 32 | counter`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ZkEvent {
    /// The server started and recovered its database from disk.
    Recovered {
        last_zxid: i64,
        snapshot_zxid: i64,
        accepted_epoch: u32,
        current_epoch: u32,
        log_records: u64,
    },
    /// The server found transactions in its log but no snapshot that decodes, and its
    /// process exited instead of starting (ZooKeeper 3.8's FileTxnSnapLog.restore,
    /// ZOOKEEPER-2325). It stays down until its node is restarted, and refuses again unless
    /// its disk changed.
    RecoveryRefused { last_logged: i64 },
    /// The server's role changed.
    RoleChanged { role: ZkRole, epoch: u32 },
    /// Fast leader election ended on this server: it follows or leads `leader`.
    /// `votes` lists (voter sid, the leader that voter proposed) as seen at decision time.
    ElectionDecided {
        leader: u64,
        zxid: i64,
        round: u64,
        peer_epoch: u32,
        votes: Vec<(u64, u64)>,
        took_ms: u64,
    },
    /// Fast leader election's poll timed out without a decision: this server re-sent its
    /// vote in `round` (or, unable to deliver, tried to reconnect) and, its timeout doubled
    /// toward maxNotificationInterval, will not send again for `next_in_ms` unless a
    /// notification arrives (FastLeaderElection.lookForLeader).
    VotesResent { round: u64, next_in_ms: u64 },
    /// A would-be leader chose a new epoch from a quorum's accepted epochs.
    EpochProposed { epoch: u32, quorum: Vec<u64> },
    /// This server persisted acceptedEpoch.
    EpochAccepted { epoch: u32 },
    /// A leader received NEWLEADER acks from a quorum: it is established for `epoch`.
    LeaderEstablished { epoch: u32, quorum: Vec<u64> },
    /// The leader synchronized a follower.
    SyncSent {
        follower: u64,
        mode: SyncMode,
        follower_zxid: i64,
        leader_zxid: i64,
        trunc_to: Option<i64>,
    },
    /// A follower cut its log back to `to` (TRUNC), or replaced its tree (SNAP).
    Truncated { to: i64 },
    /// A follower loaded a snapshot from the leader.
    SnapLoaded { zxid: i64 },
    /// The leader proposed a transaction. `digest` identifies its content.
    Proposed { zxid: i64, digest: u64, txn: String },
    /// This server fsynced transactions up to `zxid` into its log.
    Logged { zxid: i64 },
    /// The leader committed a proposal; `acked` are the servers (sids) whose ACKs made
    /// the quorum, each of which had logged it.
    Committed {
        zxid: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        acked: Vec<u64>,
    },
    /// This server applied (delivered) a transaction to its tree.
    Delivered { zxid: i64, digest: u64 },
    /// Recorded at the end of a run for each server that was serving: the last zxid applied
    /// to its tree and the tree's digest (paths, data and Stat of every znode).
    FinalTree { zxid: i64, digest: u64 },
    /// A leader stopped leading (lost quorum, abdicated, or its followers timed out).
    SteppedDown { epoch: u32, reason: String },
    /// A session was created (applied on this server).
    SessionCreated { session: i64, timeout_ms: u64 },
    /// A session ended (applied on this server): `expired` by the tracker or closed by its
    /// client; its ephemerals were deleted.
    SessionClosed {
        session: i64,
        expired: bool,
        ephemerals: Vec<String>,
    },
    /// A watch notification was sent to a session.
    WatchFired {
        session: i64,
        path: String,
        event: String,
        zxid: i64,
    },
    /// A reconnected session's SetWatches was applied (`DataTree.setWatches`) when the
    /// server's last processed zxid was `zxid`: the watches listed (by kind) were set again
    /// on this server without firing. A watch that fired instead is a
    /// [`ZkEvent::WatchFired`] at the same zxid, so an `exist` watch listed here means the
    /// node was absent at `zxid`.
    WatchesRestored {
        session: i64,
        zxid: i64,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    /// The server took a snapshot of its tree.
    SnapshotTaken { zxid: i64 },
    /// The leader's session tracker moved a session into a new expiry bucket
    /// (`ExpiryQueue.update`): a touch at `touch_ms` (leader clock, ms) put its deadline at
    /// `deadline_ms`, the end of a tickTime-wide bucket. Recorded only when the bucket
    /// changes, so at most once per session per tick; a new leader records one per session
    /// when it starts tracking the replicated session table.
    SessionDeadline {
        session: i64,
        timeout_ms: u64,
        tick_ms: u64,
        touch_ms: u64,
        deadline_ms: u64,
    },
    /// The leader's tracker found the session's bucket due at `leader_ms` (leader clock) and
    /// marked it closing; a closeSession is proposed next (`SessionTrackerImpl.run`).
    SessionExpiring {
        session: i64,
        timeout_ms: u64,
        leader_ms: u64,
        deadline_ms: u64,
    },
    /// A session's closeSession became part of the committed history at `zxid`: from this
    /// zxid on the session and its ephemerals are gone. The leader that commits it records
    /// `expired` (by its tracker, else closed by its client) and its clock `leader_ms`;
    /// every other server records it as it applies the close (also when it arrives in a
    /// sync, or in a log tail a new history kept), with `expired` false and `leader_ms` 0.
    SessionEnded {
        session: i64,
        zxid: i64,
        expired: bool,
        leader_ms: u64,
    },
    /// Recorded at the end of a run by each serving server: the ephemerals in its tree with
    /// their owner sessions, and the sessions in its session table, as of `zxid`.
    FinalEphemerals {
        zxid: i64,
        ephemerals: Vec<(String, i64)>,
        sessions: Vec<i64>,
    },
    /// Client side: a watch-setting read (`get -w`, `exists -w`, `ls -w`) was answered and
    /// left a watch of kind `watch` (`data`, `exist` for exists on a missing node, `child`)
    /// on `path`; `zxid` is the response's zxid (the server's state when it set the watch).
    WatchSet {
        session: i64,
        path: String,
        watch: String,
        zxid: i64,
    },
    /// Client side: a watch notification reached the client (`NodeCreated`,
    /// `NodeDeleted`, `NodeDataChanged`, `NodeChildrenChanged`), with the zxid it carried.
    WatchDelivered {
        session: i64,
        path: String,
        event: String,
        zxid: i64,
    },
    /// Client side: the session's state as the client sees it (`connected` to `server`,
    /// `disconnected`, `expired` when a server said so, `closed`); `session` is 0 before the
    /// first connection.
    ClientState {
        session: i64,
        state: String,
        server: String,
    },
    /// Client side: a ping sent at `sent_ns` (simulated ns) was answered by `server`, so
    /// that server heard from the session at some time in [`sent_ns`, this record's time].
    PingAnswered {
        session: i64,
        server: String,
        sent_ns: u64,
    },
    /// Client side, the lock recipe: the session decided it holds the lock, because its
    /// lock znode `node` was the lowest child of the lock directory in the listing answered
    /// at `zxid` (ZooKeeper Recipes, "Locks"). The lock is held, in ZooKeeper's order, from
    /// `zxid` until `node` is deleted.
    LockAcquired {
        session: i64,
        node: String,
        zxid: i64,
    },
    /// A protocol message was ignored, with the reason (for narration and debugging).
    Ignored {
        msg: String,
        from: u64,
        reason: String,
    },
    /// A ZAB message arrived that the receiver's state does not allow, where ZooKeeper logs
    /// an error or fails on it (`zab.legal`): a leader still waiting for a quorum of
    /// NEWLEADER acks read a learner's first packet after NEWLEADER and it was not the
    /// NEWLEADER ACK (`Leader.waitForNewLeaderAck` does not count it), or a learner in sync
    /// got a COMMIT with no proposal queued to match (`Learner.syncWithLeader` fails with a
    /// NullPointerException and the server goes back to LOOKING). `from` is the sender's sid.
    ProtocolError {
        msg: String,
        from: u64,
        reason: String,
    },
}

impl ZkEvent {
    /// True for the events a ZooKeeper *client* records about itself
    /// ([`ZkEvent::WatchSet`], [`ZkEvent::WatchDelivered`], [`ZkEvent::ClientState`],
    /// [`ZkEvent::PingAnswered`], [`ZkEvent::LockAcquired`]); every other variant is
    /// recorded by a server, so the nodes that record those are exactly the ZooKeeper
    /// servers.
    pub fn is_client_side(&self) -> bool {
        matches!(
            self,
            ZkEvent::WatchSet { .. }
                | ZkEvent::WatchDelivered { .. }
                | ZkEvent::ClientState { .. }
                | ZkEvent::PingAnswered { .. }
                | ZkEvent::LockAcquired { .. }
        )
    }
}

/// Kafka protocol events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KafkaEvent {
    /// A broker registered `/brokers/ids/<id>`; `broker_epoch` is the znode's czxid.
    BrokerRegistered { broker: u32, broker_epoch: i64 },
    /// A broker won the controller election for `epoch`.
    ControllerElected { broker: u32, epoch: i32 },
    /// A controller stopped acting (lost the epoch check, saw another controller, expired).
    ControllerResigned {
        broker: u32,
        epoch: i32,
        reason: String,
    },
    /// A controller or leader wrote a partition state znode successfully.
    PartitionStateWritten {
        topic: String,
        partition: u32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<u32>,
        controller_epoch: i32,
        by: u32,
    },
    /// A broker applied LeaderAndIsr: it now leads or follows the partition.
    LeaderAndIsrApplied {
        broker: u32,
        topic: String,
        partition: u32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<u32>,
    },
    /// A broker rejected a request from a stale controller or for a stale leader epoch.
    RequestRejected {
        broker: u32,
        request: String,
        reason: String,
    },
    /// The leader changed the ISR.
    IsrChanged {
        topic: String,
        partition: u32,
        leader: u32,
        leader_epoch: i32,
        isr: Vec<u32>,
    },
    /// A replica truncated its log to `to_offset`.
    LogTruncated {
        broker: u32,
        topic: String,
        partition: u32,
        to_offset: i64,
        reason: String,
    },
    /// A broker started and recovered a partition's log from its disk: `leo` records, and
    /// the HW from its checkpoint.
    LogRecovered {
        broker: u32,
        topic: String,
        partition: u32,
        leo: i64,
        hw: i64,
    },
    /// The leader's high watermark moved.
    HighWatermark {
        broker: u32,
        topic: String,
        partition: u32,
        hw: i64,
    },
    /// End-of-run snapshot of one replica's log: (offset, leader epoch, value) per record.
    ReplicaLog {
        broker: u32,
        topic: String,
        partition: u32,
        hw: i64,
        records: Vec<(i64, i32, String)>,
    },
    /// A consumer took ownership of a partition in a rebalance.
    PartitionClaimed {
        group: String,
        consumer: String,
        topic: String,
        partition: u32,
        generation: i64,
    },
    /// A consumer released a partition.
    PartitionReleased {
        group: String,
        consumer: String,
        topic: String,
        partition: u32,
        generation: i64,
    },
}
