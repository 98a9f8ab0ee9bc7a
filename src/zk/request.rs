//! Client requests and server responses, and their translation into history records.
//!
//! The server answers every request with exactly one [`ZkResponse`]. A multi always
//! answers [`ZkResponse::Multi`]; if it failed, its results are per §4: `Error(OK)` for
//! ops before the failing one, `Error(code)` for it, `Error(RuntimeInconsistency)` after
//! (the client library raises the failing op's code with the list attached).

use super::ids::SessionId;
use super::types::{CreateMode, ErrorCode, Stat};
use crate::history::{Call, Ret};
use serde::{Deserialize, Serialize};

/// A client operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ZkOp {
    /// `create`: `data` `None` stores null data (zkCli's `create /a` without data).
    Create {
        path: String,
        data: Option<Vec<u8>>,
        mode: CreateMode,
    },
    /// `delete` with expected version (−1: any).
    Delete { path: String, version: i32 },
    /// `setData` with expected version (−1: any).
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    /// `getData`, optionally leaving a data watch.
    GetData { path: String, watch: bool },
    /// `exists`, optionally leaving a watch (also on a missing node: fires on creation).
    Exists { path: String, watch: bool },
    /// `getChildren` (the `getChildren2` form, with the parent's Stat).
    GetChildren { path: String, watch: bool },
    /// `sync`: the server catches up with the leader before answering.
    Sync { path: String },
    /// `check` (meaningful inside a multi): the node's version must equal `version`.
    Check { path: String, version: i32 },
    /// `multi` of create/delete/setData/check: all or nothing, one zxid.
    Multi(Vec<ZkOp>),
}

impl ZkOp {
    /// True if the op goes through the leader as a txn (create, delete, setData, check,
    /// multi). Reads and `sync` are not writes.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            ZkOp::Create { .. }
                | ZkOp::Delete { .. }
                | ZkOp::SetData { .. }
                | ZkOp::Check { .. }
                | ZkOp::Multi(_)
        )
    }

    /// True for getData, exists and getChildren (answered from the local tree).
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            ZkOp::GetData { .. } | ZkOp::Exists { .. } | ZkOp::GetChildren { .. }
        )
    }

    /// The path the op names (`None` for a multi).
    pub fn path(&self) -> Option<&str> {
        match self {
            ZkOp::Create { path, .. }
            | ZkOp::Delete { path, .. }
            | ZkOp::SetData { path, .. }
            | ZkOp::GetData { path, .. }
            | ZkOp::Exists { path, .. }
            | ZkOp::GetChildren { path, .. }
            | ZkOp::Sync { path }
            | ZkOp::Check { path, .. } => Some(path),
            ZkOp::Multi(_) => None,
        }
    }
}

/// One op's result inside a multi (`OpResult` subclasses).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// `CreateResult`: the actual path.
    Created { path: String },
    /// `DeleteResult`.
    Deleted,
    /// `SetDataResult`: the new Stat.
    SetData(Stat),
    /// `CheckResult`.
    Checked,
    /// `ErrorResult`: `OK` before the failing op, its code, `RuntimeInconsistency` after.
    Error(ErrorCode),
}

/// The server's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZkResponse {
    /// create: the actual path (sequential suffix included).
    Created { path: String },
    /// delete.
    Deleted,
    /// setData: the new Stat.
    Stat(Stat),
    /// getData: data (`None` for a node created without data) and Stat.
    Data { data: Option<Vec<u8>>, stat: Stat },
    /// exists: the Stat, `None` for a missing node.
    Exists(Option<Stat>),
    /// getChildren: child names, sorted, with the node's Stat.
    Children { children: Vec<String>, stat: Stat },
    /// sync.
    Synced { path: String },
    /// check outside a multi.
    Checked,
    /// multi: one result per op (see the module doc for a failed multi).
    Multi(Vec<OpResult>),
    /// createSession committed: the session exists everywhere with this timeout.
    SessionCreated { session: SessionId, timeout_ms: i64 },
    /// closeSession committed: the session and its ephemerals are gone.
    SessionClosed,
    /// Any other failure.
    Error(ErrorCode),
}

impl ZkResponse {
    /// The error the client raises: the code of an [`ZkResponse::Error`], or of the first
    /// non-OK [`OpResult::Error`] of a multi. `None` on success.
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            ZkResponse::Error(code) => Some(*code),
            ZkResponse::Multi(results) => results.iter().find_map(|r| match r {
                OpResult::Error(code) if !code.is_ok() => Some(*code),
                _ => None,
            }),
            _ => None,
        }
    }

    /// True if the client sees success.
    pub fn is_ok(&self) -> bool {
        self.error().is_none()
    }
}

fn lossy(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The history record of an op: data bytes become lossy UTF-8 strings.
pub fn to_call(op: &ZkOp) -> Call {
    match op {
        ZkOp::Create { path, data, mode } => Call::Create {
            path: path.clone(),
            data: data.as_deref().map(lossy),
            ephemeral: mode.ephemeral,
            sequential: mode.sequential,
        },
        ZkOp::Delete { path, version } => Call::Delete {
            path: path.clone(),
            version: *version,
        },
        ZkOp::SetData {
            path,
            data,
            version,
        } => Call::SetData {
            path: path.clone(),
            data: lossy(data),
            version: *version,
        },
        ZkOp::GetData { path, watch } => Call::GetData {
            path: path.clone(),
            watch: *watch,
        },
        ZkOp::Exists { path, watch } => Call::Exists {
            path: path.clone(),
            watch: *watch,
        },
        ZkOp::GetChildren { path, watch } => Call::GetChildren {
            path: path.clone(),
            watch: *watch,
        },
        ZkOp::Sync { path } => Call::Sync { path: path.clone() },
        ZkOp::Check { path, version } => Call::Check {
            path: path.clone(),
            version: *version,
        },
        ZkOp::Multi(ops) => Call::Multi {
            ops: ops.iter().map(to_call).collect(),
        },
    }
}

/// The history record of an error code (`{code: -101, name: "NoNode"}`).
pub fn error_ret(code: ErrorCode) -> Ret {
    Ret::Error {
        code: code.code(),
        name: code.name().to_string(),
    }
}

/// The history record of a response: errors become [`Ret::Error`]; a multi, failed or
/// not, becomes [`Ret::Multi`] with every op's result (a failed multi's ops as
/// `Error{code}`: 0 before the failing op, −2 after), so checkers see partial results.
pub fn to_ret(resp: &ZkResponse) -> Ret {
    match resp {
        ZkResponse::Created { path } => Ret::Path { path: path.clone() },
        ZkResponse::Deleted | ZkResponse::Checked | ZkResponse::Synced { .. } => Ret::None,
        ZkResponse::SessionCreated { .. } | ZkResponse::SessionClosed => Ret::None,
        ZkResponse::Stat(stat) => Ret::Stat {
            stat: Some(stat.clone()),
        },
        ZkResponse::Data { data, stat } => Ret::Data {
            data: data.as_deref().map(lossy),
            stat: stat.clone(),
        },
        ZkResponse::Exists(stat) => Ret::Stat { stat: stat.clone() },
        ZkResponse::Children { children, stat } => Ret::Children {
            children: children.clone(),
            stat: stat.clone(),
        },
        ZkResponse::Multi(results) => Ret::Multi {
            results: results
                .iter()
                .map(|r| match r {
                    OpResult::Created { path } => Ret::Path { path: path.clone() },
                    OpResult::Deleted | OpResult::Checked => Ret::None,
                    OpResult::SetData(stat) => Ret::Stat {
                        stat: Some(stat.clone()),
                    },
                    OpResult::Error(code) => error_ret(*code),
                })
                .collect(),
        },
        ZkResponse::Error(code) => error_ret(*code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads() {
        let create = ZkOp::Create {
            path: "/a".into(),
            data: None,
            mode: CreateMode::EPHEMERAL,
        };
        assert!(create.is_write());
        assert!(!ZkOp::Sync { path: "/".into() }.is_write());
        assert!(!ZkOp::Sync { path: "/".into() }.is_read());
        assert!(ZkOp::Exists {
            path: "/".into(),
            watch: true
        }
        .is_read());
        assert!(ZkOp::Multi(vec![]).is_write());
        assert_eq!(
            to_call(&create),
            Call::Create {
                path: "/a".into(),
                data: None,
                ephemeral: true,
                sequential: false
            }
        );
        assert_eq!(to_call(&create).is_write(), create.is_write());
    }

    #[test]
    fn failed_multi_reports_the_failing_code() {
        let resp = ZkResponse::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency),
        ]);
        assert_eq!(resp.error(), Some(ErrorCode::BadVersion));
        assert!(!resp.is_ok());
        assert_eq!(
            to_ret(&resp),
            Ret::Multi {
                results: vec![
                    Ret::Error {
                        code: 0,
                        name: "OK".into()
                    },
                    Ret::Error {
                        code: -103,
                        name: "BadVersion".into()
                    },
                    Ret::Error {
                        code: -2,
                        name: "RuntimeInconsistency".into()
                    },
                ]
            }
        );
        let ok = ZkResponse::Multi(vec![
            OpResult::Created { path: "/a".into() },
            OpResult::Deleted,
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn data_is_lossy_utf8() {
        let resp = ZkResponse::Data {
            data: Some(vec![b'h', 0xff]),
            stat: Stat::default(),
        };
        assert_eq!(
            to_ret(&resp),
            Ret::Data {
                data: Some("h\u{fffd}".into()),
                stat: Stat::default()
            }
        );
    }
}
