//! Client operations as invoke/complete pairs.

use kzsim_sim::SimTime;
use serde::{Deserialize, Serialize};

/// Position of an op in [`super::History::ops`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OpId(pub usize);

/// How an operation ended, as a client can know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened, with the recorded return value.
    Ok,
    /// It definitely did not happen (a definite error such as NoNode or BadVersion).
    Fail,
    /// Unknown: it may or may not have taken effect (timeout, connection loss, crash).
    Info,
}

/// The value of an [`Call::Append`]: an integer (list append) or a string (string
/// concatenation, Porcupine's kv model). In JSON it is the bare number or string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AppendValue {
    /// Appended to a list of integers.
    Int(i64),
    /// Concatenated to a string.
    Str(String),
}

impl From<i64> for AppendValue {
    fn from(v: i64) -> Self {
        AppendValue::Int(v)
    }
}

impl std::fmt::Display for AppendValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendValue::Int(v) => write!(f, "{v}"),
            AppendValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The operation a client invoked. `f` names it in JSON, as in Jepsen histories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Call {
    // Registers and key-value stores (Jepsen-style models).
    /// Read the value of `key`.
    Read { key: String },
    /// Set `key` to `value`.
    Write { key: String, value: i64 },
    /// Set `key` to `to` if it equals `from`.
    Cas { key: String, from: i64, to: i64 },
    /// Append `value` at `key`: an integer to the list at `key` (kv integer keys), or a
    /// string to the string at `key` (Porcupine's kv model).
    Append { key: String, value: AppendValue },
    /// Porcupine's kv `get`: read the string at `key` (returns [`Ret::Str`]).
    Get { key: String },
    /// Porcupine's kv `put`: set the string at `key` to `value`.
    Put { key: String, value: String },
    /// Jepsen's set: add the element `value` to the set at `key`.
    Add { key: String, value: i64 },
    /// Jepsen's queue: enqueue `value` at the back of the queue at `key`.
    Enqueue { key: String, value: i64 },
    /// Jepsen's queue: dequeue from the front of the queue at `key` (returns
    /// [`Ret::Value`], nil when the queue was empty).
    Dequeue { key: String },

    // ZooKeeper.
    /// `create`; `path` is the requested path (the actual one is in [`Ret::Path`]).
    Create {
        path: String,
        data: Option<String>,
        ephemeral: bool,
        sequential: bool,
    },
    /// `delete` with expected version (-1: any).
    Delete { path: String, version: i32 },
    /// `setData` with expected version (-1: any).
    SetData {
        path: String,
        data: String,
        version: i32,
    },
    /// `getData`.
    GetData { path: String, watch: bool },
    /// `exists`.
    Exists { path: String, watch: bool },
    /// `getChildren` (with stat).
    GetChildren { path: String, watch: bool },
    /// `sync`.
    Sync { path: String },
    /// `multi`: all or nothing.
    Multi { ops: Vec<Call> },
    /// `check` inside a multi: the node's version must equal `version`.
    Check { path: String, version: i32 },

    // Kafka.
    /// Produce one record.
    Produce {
        topic: String,
        partition: u32,
        value: String,
        acks: i8,
    },
    /// Fetch records from `offset` (consumers read up to the high watermark).
    Fetch {
        topic: String,
        partition: u32,
        offset: i64,
    },
    /// Commit a consumer group's offset.
    CommitOffset {
        group: String,
        topic: String,
        partition: u32,
        offset: i64,
    },
}

impl Call {
    /// The key (register/kv) or path (ZooKeeper) or `topic/partition` (Kafka) this call
    /// touches, if it touches exactly one.
    pub fn key(&self) -> Option<String> {
        match self {
            Call::Read { key }
            | Call::Write { key, .. }
            | Call::Cas { key, .. }
            | Call::Append { key, .. }
            | Call::Get { key }
            | Call::Put { key, .. }
            | Call::Add { key, .. }
            | Call::Enqueue { key, .. }
            | Call::Dequeue { key } => Some(key.clone()),
            Call::Create { path, .. }
            | Call::Delete { path, .. }
            | Call::SetData { path, .. }
            | Call::GetData { path, .. }
            | Call::Exists { path, .. }
            | Call::GetChildren { path, .. }
            | Call::Sync { path }
            | Call::Check { path, .. } => Some(path.clone()),
            Call::Multi { .. } => None,
            Call::Produce {
                topic, partition, ..
            }
            | Call::Fetch {
                topic, partition, ..
            }
            | Call::CommitOffset {
                topic, partition, ..
            } => Some(format!("{topic}/{partition}")),
        }
    }

    /// True for ZooKeeper requests (create through check); false for register, key-value
    /// and Kafka calls. A Kafka call may carry a ZooKeeper session (a consumer-group
    /// member's offset commit), but it is no evidence of what a ZooKeeper server did.
    pub fn is_zookeeper(&self) -> bool {
        matches!(
            self,
            Call::Create { .. }
                | Call::Delete { .. }
                | Call::SetData { .. }
                | Call::GetData { .. }
                | Call::Exists { .. }
                | Call::GetChildren { .. }
                | Call::Sync { .. }
                | Call::Multi { .. }
                | Call::Check { .. }
        )
    }

    /// True if the call can change state (reads and `sync` cannot).
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Call::Read { .. }
                | Call::Get { .. }
                | Call::GetData { .. }
                | Call::Exists { .. }
                | Call::GetChildren { .. }
                | Call::Sync { .. }
                | Call::Fetch { .. }
        )
    }
}

/// A ZooKeeper Stat, as returned to clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ZkStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// What an operation returned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ret {
    /// Nothing (writes without a result, `info` ops, `sync`).
    #[default]
    None,
    /// A register or key read: `None` when the key has no value.
    Value { value: Option<i64> },
    /// A list read (append model), or a set read (set model: order ignored).
    List { values: Vec<i64> },
    /// A string read (Porcupine's kv `get`). JSON: `{"type": "string", "value": "..."}`.
    #[serde(rename = "string")]
    Str { value: String },
    /// ZooKeeper data and stat (`getData`).
    Data { data: Option<String>, stat: ZkStat },
    /// ZooKeeper stat (`setData`, `exists`): `None` for a missing node.
    Stat { stat: Option<ZkStat> },
    /// The created path.
    Path { path: String },
    /// Children, sorted, with the parent's stat.
    Children { children: Vec<String>, stat: ZkStat },
    /// Per-op results of a multi (each an `Ok` return or an error code).
    Multi { results: Vec<Ret> },
    /// A ZooKeeper or Kafka error code with its name (`NoNode`, `NOT_ENOUGH_REPLICAS`).
    Error { code: i32, name: String },
    /// A produced record's position.
    Produced { offset: i64 },
    /// Fetched records as (offset, value).
    Records { records: Vec<(i64, String)> },
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The client process. A process has at most one op open at a time.
    pub process: u64,
    /// The ZooKeeper session it ran in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<i64>,
    /// The server or broker it was sent to last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What was invoked.
    #[serde(flatten)]
    pub call: Call,
    /// When it was invoked.
    pub invoke: SimTime,
    /// When it completed; `None` if it never did (then `outcome` is `info`).
    #[serde(default)]
    pub complete: Option<SimTime>,
    /// How it ended.
    pub outcome: Outcome,
    /// What it returned.
    #[serde(default)]
    pub ret: Ret,
    /// The zxid the server reported in the response (ZooKeeper only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zxid: Option<i64>,
}
