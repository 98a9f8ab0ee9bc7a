//! What ZooKeeper servers and clients say to each other on the simulated network.
//!
//! ZooKeeper does not own the network's message type: other systems (Kafka's brokers, in
//! kzsim's world) share the network. The ZooKeeper hosts ([`super::server`], the client
//! library [`super::client`]) are generic over any message type that can carry a
//! [`ZkWire`] ([`ZkMessage`]); the world's glue (`crate::net`) implements it for the one
//! message type every node speaks. So ZooKeeper knows nothing of what else travels there.

use super::datatree::DataTree;
use super::fle::Notification;
use super::ids::{Epoch, SessionId, Sid, Zxid};
use super::request::{ZkOp, ZkResponse};
use super::txn::Txn;
use std::sync::Arc;

/// A network message type that can carry ZooKeeper's traffic.
pub trait ZkMessage: Clone + Send + 'static {
    /// Wraps ZooKeeper's message for the network.
    fn from_zk(wire: ZkWire) -> Self;
    /// ZooKeeper's message, if this is one (anything else is not ZooKeeper's to read).
    fn into_zk(self) -> Option<ZkWire>;
}

/// ZAB messages between a leader and a learner, on the learner's connection.
///
/// FOLLOWERINFO -> LEADERINFO -> ACKEPOCH -> DIFF|TRUNC|SNAP (+ PROPOSAL/COMMIT...) ->
/// NEWLEADER -> ACK -> UPTODATE, then PROPOSAL/ACK/COMMIT and PING in broadcast.
#[derive(Clone, Debug)]
pub enum ZabMsg {
    /// Learner -> leader: who I am and the newest epoch I accepted.
    FollowerInfo { sid: Sid, accepted_epoch: Epoch },
    /// Leader -> learner: the new epoch.
    LeaderInfo { new_epoch: Epoch },
    /// Learner -> leader: my current epoch (None if it equals the new one) and last zxid.
    AckEpoch {
        current_epoch: Option<Epoch>,
        last_zxid: Zxid,
    },
    /// Keep the tree; committed txns follow.
    Diff { zxid: Zxid },
    /// Cut the log back to `zxid`; committed txns follow.
    Trunc { zxid: Zxid },
    /// Replace the tree and sessions with the leader's (shared: a snapshot is read-only).
    Snap { zxid: Zxid, tree: Arc<DataTree> },
    /// A transaction to log and ACK.
    Proposal(Arc<Txn>),
    /// Commit the proposal with this zxid.
    Commit { zxid: Zxid },
    /// The new leader's history is complete: persist, then ACK `epoch << 32`.
    NewLeader { zxid: Zxid },
    /// Learner -> leader: logged (fsynced) `zxid` (or acknowledged NEWLEADER).
    Ack { zxid: Zxid },
    /// Start serving clients.
    UpToDate,
    /// Leader -> learner heartbeat.
    Ping { last_proposed: Zxid },
    /// Learner -> leader heartbeat reply with the sessions its clients touched.
    PingReply { touched: Vec<SessionId> },
    /// Learner -> leader: a client's write (or sync, or session create/close) to order.
    Request {
        session: SessionId,
        cxid: i64,
        op: LeaderRequest,
    },
    /// Leader -> learner: the answer to a forwarded `sync`, after the proposals before it.
    SyncDone { session: SessionId, cxid: i64 },
    /// Leader -> learner: a forwarded request could not be ordered (session unknown, ...).
    RequestFailed {
        session: SessionId,
        cxid: i64,
        code: super::types::ErrorCode,
    },
}

/// What a learner forwards to the leader.
#[derive(Clone, Debug)]
pub enum LeaderRequest {
    /// A client write or `sync`.
    Op(ZkOp),
    /// Create a session with the negotiated timeout.
    CreateSession { timeout_ms: u64 },
    /// The client closed its session.
    CloseSession,
}

/// Client -> server.
#[derive(Clone, Debug)]
pub enum ClientMsg {
    /// Open a new session (`session: None`) or resume one.
    Connect {
        session: Option<SessionId>,
        timeout_ms: u64,
        last_zxid_seen: Zxid,
        read_only_ok: bool,
    },
    /// A request; `xid` increases per session.
    Request { xid: i64, op: ZkOp },
    /// Heartbeat.
    Ping,
    /// After reconnecting: the watches this session holds and the newest zxid it has seen.
    /// The server fires at once those whose node changed after `relative_zxid` and sets the
    /// rest (the Java client's SetWatches).
    SetWatches {
        relative_zxid: Zxid,
        data: Vec<String>,
        exist: Vec<String>,
        child: Vec<String>,
    },
    /// Close the session.
    Close { xid: i64 },
}

/// Server -> client.
#[derive(Clone, Debug)]
pub enum ServerMsg {
    /// The session is (re)established with the negotiated timeout.
    Connected {
        session: SessionId,
        timeout_ms: u64,
        read_only: bool,
    },
    /// The session is gone (expired or closed): the client must stop.
    SessionExpired { session: SessionId },
    /// The server will not take this connection (not serving, client ahead of the server).
    Refused { reason: String },
    /// The reply to request `xid`, with the server's zxid at reply time.
    Response {
        xid: i64,
        zxid: Zxid,
        response: ZkResponse,
    },
    /// A watch fired.
    Watch {
        path: String,
        event: super::datatree::EventType,
        zxid: Zxid,
    },
    /// Heartbeat reply.
    Pong,
}

/// Everything a ZooKeeper server receives or sends on the network.
#[derive(Clone, Debug)]
pub enum ZkWire {
    /// FLE notification (election connections).
    Election { from: Sid, n: Notification },
    /// ZAB (learner connections).
    Zab(ZabMsg),
    /// Client to server.
    Client(ClientMsg),
    /// Server to client.
    Server(ServerMsg),
}
