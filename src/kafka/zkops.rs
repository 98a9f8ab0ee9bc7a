//! The ZooKeeper operations Kafka's brokers and controller issue, as plain data.
//!
//! Kafka code here never talks to ZooKeeper. A state machine emits a [`ZkRequest`] (an id
//! and a [`ZkOp`]); the host runs it on its ZooKeeper client and feeds back a [`ZkReply`]
//! with the same id. Watches fire as [`ZkWatchEvent`] inputs. Znode data is text because
//! every znode Kafka writes is UTF-8 (JSON, decimal numbers, or empty).

use serde::{Deserialize, Serialize};

/// Identifies one request of one state machine; replies carry it back. Ids are handed out
/// in increasing order by the state machine that issued the request.
pub type ZkReqId = u64;

/// How a znode is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateMode {
    /// Survives the session.
    Persistent,
    /// Deleted when the creating session ends.
    Ephemeral,
    /// Persistent, with a 10-digit sequence number appended to the name.
    PersistentSequential,
}

/// One operation inside a `multi`. The multi is atomic: all apply or none does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MultiOp {
    /// Fails with `BadVersion` unless the znode's version is `version` (`NoNode` if absent).
    Check { path: String, version: i32 },
    /// As [`ZkOp::Create`].
    Create {
        path: String,
        data: String,
        mode: CreateMode,
    },
    /// As [`ZkOp::SetData`].
    SetData {
        path: String,
        data: String,
        version: Option<i32>,
    },
    /// As [`ZkOp::Delete`].
    Delete { path: String, version: Option<i32> },
}

/// A ZooKeeper request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ZkOp {
    /// Creates a znode; `NodeExists` if present, `NoNode` if the parent is absent.
    Create {
        path: String,
        data: String,
        mode: CreateMode,
    },
    /// Replaces the data if the version matches (`None`: any version, ZooKeeper's -1).
    SetData {
        path: String,
        data: String,
        version: Option<i32>,
    },
    /// Reads data and stat; `watch` sets a data watch (fires on change or delete).
    GetData { path: String, watch: bool },
    /// Lists children; `watch` sets a child watch.
    GetChildren { path: String, watch: bool },
    /// Reads the stat if present; `watch` sets a watch that also fires on creation.
    Exists { path: String, watch: bool },
    /// Deletes if the version matches (`None`: any version).
    Delete { path: String, version: Option<i32> },
    /// Applies every op atomically, in order.
    Multi(Vec<MultiOp>),
}

impl ZkOp {
    /// True for the ops that change nothing (getData, getChildren, exists): safe to send
    /// again after a CONNECTIONLOSS.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            ZkOp::GetData { .. } | ZkOp::GetChildren { .. } | ZkOp::Exists { .. }
        )
    }
}

/// A request with the id its reply will carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkRequest {
    /// Echoed in the reply.
    pub id: ZkReqId,
    /// What to do.
    pub op: ZkOp,
}

/// The ZooKeeper error codes Kafka's logic distinguishes (ZooKeeper's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ZkError {
    /// The znode (or, for create, its parent) does not exist.
    NoNode,
    /// Create of a znode that exists.
    NodeExists,
    /// A version condition (setData, delete, check) did not hold.
    BadVersion,
    /// The session has expired: its ephemerals are gone. Definite.
    SessionExpired,
    /// The connection dropped before the reply: the request may or may not have applied.
    ConnectionLoss,
    /// Delete of a znode that has children.
    NotEmpty,
}

/// A znode's stat, reduced to what Kafka reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    /// Data version (Kafka's "zkVersion"): the CAS token for setData.
    pub version: i32,
    /// The zxid that created the znode. For `/brokers/ids/<id>` this is the broker epoch.
    pub czxid: i64,
    /// The session owning an ephemeral znode (0 for a persistent one): a broker's
    /// registration is its own when this is its session.
    #[serde(default)]
    pub ephemeral_owner: i64,
}

/// The successful result of one [`ZkOp`] (or one op inside a multi).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ZkResult {
    /// Create: the actual path (with the sequence suffix for sequential nodes).
    Created { path: String },
    /// SetData: the new stat.
    SetData { stat: Stat },
    /// GetData: the data and stat.
    Data { data: String, stat: Stat },
    /// GetChildren: child names, sorted.
    Children { children: Vec<String> },
    /// Exists: the stat, or `None` if absent (absence is not an error for exists).
    Exists { stat: Option<Stat> },
    /// Delete or Check succeeded.
    Done,
    /// Multi: one result per op, in order.
    Multi { results: Vec<ZkResult> },
}

/// Why a request failed. For a multi, `multi_op` is the index of the op that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkFailure {
    /// The error code.
    pub code: ZkError,
    /// For multi: the first failing op (`None` for session-level errors and plain ops).
    pub multi_op: Option<usize>,
}

impl ZkFailure {
    /// A failure of a plain op (or a session-level failure of a multi).
    pub fn plain(code: ZkError) -> ZkFailure {
        ZkFailure {
            code,
            multi_op: None,
        }
    }
    /// A multi that failed at op `index`.
    pub fn in_multi(code: ZkError, index: usize) -> ZkFailure {
        ZkFailure {
            code,
            multi_op: Some(index),
        }
    }
}

/// The reply to a [`ZkRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkReply {
    /// The request's id.
    pub id: ZkReqId,
    /// Its result.
    pub result: Result<ZkResult, ZkFailure>,
}

/// What a watch saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchKind {
    /// The znode was created (exists watch).
    Created,
    /// The znode was deleted.
    Deleted,
    /// Its data changed.
    DataChanged,
    /// Its children changed.
    ChildrenChanged,
}

/// A one-shot watch notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkWatchEvent {
    /// The watched path.
    pub path: String,
    /// What happened.
    pub kind: WatchKind,
}
