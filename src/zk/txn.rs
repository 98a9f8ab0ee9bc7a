//! Transactions: what the leader proposes, every server logs, and every server applies to
//! its [`DataTree`](super::datatree::DataTree) in zxid order.
//!
//! A txn records the *outcome* the leader decided at preparation time (the new version,
//! the actual sequential path, the parent's new child-create counter), so applying it
//! needs no further decisions and gives the same tree on every server. Failed requests
//! still become txns ([`TxnBody::Error`]) and consume a zxid, as in the real server.

use super::ids::{SessionId, Zxid};
use super::types::ErrorCode;
use kzsim_sim::trace::fnv1a;
use serde::{Deserialize, Serialize};
use std::fmt;

/// FNV-1a offset basis (the start value for [`fnv1a`]).
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// `TxnHeader`: who asked, which request of theirs, its zxid and the leader's wall time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxnHeader {
    /// The session that sent the request (or whose expiry closes it).
    pub session: SessionId,
    /// The client's request number (`xid`), echoed in the reply.
    pub cxid: i64,
    /// This txn's zxid. A multi has one zxid for all its ops.
    pub zxid: Zxid,
    /// The leader's clock when it prepared the txn: becomes ctime/mtime.
    pub time_ms: i64,
}

/// One transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Txn {
    /// Origin, zxid and time.
    pub header: TxnHeader,
    /// What to apply.
    pub body: TxnBody,
}

/// What a txn does. Each variant is the real server's txn record of the same name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnBody {
    /// `CreateSessionTxn`: record the session with its negotiated timeout.
    CreateSession { timeout_ms: i64 },
    /// `CloseSessionTxn`: delete these ephemerals (as listed at preparation, including
    /// ones whose creates were still uncommitted) and forget the session.
    CloseSession { ephemerals: Vec<String> },
    /// `CreateTxn`: `path` is final (sequential suffix included); `ephemeral_owner` is the
    /// session for ephemerals, else 0; `parent_cversion` is the parent's stored
    /// child-create counter after this create.
    Create {
        path: String,
        data: Option<Vec<u8>>,
        ephemeral_owner: SessionId,
        parent_cversion: i32,
    },
    /// `DeleteTxn`.
    Delete { path: String },
    /// `SetDataTxn`: `version` is the node's new version (old + 1).
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    /// `CheckVersionTxn` (inside a multi): changes nothing. `version` is, as in the real
    /// server, the checked version + 1.
    Check { path: String, version: i32 },
    /// `ErrorTxn`: the request failed at the leader with `code`; changes nothing.
    Error { code: ErrorCode },
    /// `MultiTxn`: all ops share the header. A failed multi holds the prepared ops before
    /// the failing one, then `Error{code}` for it and `Error{RuntimeInconsistency}` after
    /// it; applying such a multi changes nothing.
    Multi(Vec<TxnBody>),
}

impl Txn {
    /// A stable 64-bit identity of the whole txn (header and body): FNV-1a over its
    /// postcard encoding. Equal txns give equal digests on every platform and build.
    pub fn digest(&self) -> u64 {
        let bytes = postcard::to_allocvec(self).expect("txn serializes to postcard");
        fnv1a(FNV_OFFSET, &bytes)
    }

    /// This txn's zxid.
    pub fn zxid(&self) -> Zxid {
        self.header.zxid
    }

    /// True if applying it changes the tree or the session table (not an error txn or a
    /// failed multi).
    pub fn is_effective(&self) -> bool {
        self.body.is_effective()
    }

    /// The short human summary used in events (`create /a`, `multi[delete /a, setData /b]`).
    pub fn summary(&self) -> String {
        self.body.to_string()
    }
}

impl TxnBody {
    /// True unless this is an error txn or a multi containing one.
    pub fn is_effective(&self) -> bool {
        match self {
            TxnBody::Error { .. } => false,
            TxnBody::Multi(ops) => !ops.iter().any(|op| matches!(op, TxnBody::Error { .. })),
            _ => true,
        }
    }
}

impl fmt::Display for Txn {
    /// `0x100000003 create /a` style: zxid then the body summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.header.zxid, self.body)
    }
}

impl fmt::Display for TxnBody {
    /// `create /a`, `delete /a`, `setData /a`, `check /a`, `error NoNode`,
    /// `createSession 30000ms`, `closeSession [/e1, /e2]`, `multi[create /a, error NoNode]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnBody::CreateSession { timeout_ms } => write!(f, "createSession {timeout_ms}ms"),
            TxnBody::CloseSession { ephemerals } => {
                write!(f, "closeSession [{}]", ephemerals.join(", "))
            }
            TxnBody::Create { path, .. } => write!(f, "create {path}"),
            TxnBody::Delete { path } => write!(f, "delete {path}"),
            TxnBody::SetData { path, .. } => write!(f, "setData {path}"),
            TxnBody::Check { path, .. } => write!(f, "check {path}"),
            TxnBody::Error { code } => write!(f, "error {code}"),
            TxnBody::Multi(ops) => {
                f.write_str("multi[")?;
                for (i, op) in ops.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{op}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(body: TxnBody) -> Txn {
        Txn {
            header: TxnHeader {
                session: 0x100,
                cxid: 1,
                zxid: Zxid::new(1, 1),
                time_ms: 5,
            },
            body,
        }
    }

    #[test]
    fn summaries() {
        let create = TxnBody::Create {
            path: "/a".into(),
            data: None,
            ephemeral_owner: 0,
            parent_cversion: 1,
        };
        let table = [
            (create.clone(), "create /a"),
            (TxnBody::Delete { path: "/a".into() }, "delete /a"),
            (
                TxnBody::Error {
                    code: ErrorCode::NoNode,
                },
                "error NoNode",
            ),
            (
                TxnBody::CreateSession { timeout_ms: 30000 },
                "createSession 30000ms",
            ),
            (
                TxnBody::CloseSession {
                    ephemerals: vec!["/e".into(), "/f".into()],
                },
                "closeSession [/e, /f]",
            ),
            (
                TxnBody::Multi(vec![
                    create,
                    TxnBody::Error {
                        code: ErrorCode::BadVersion,
                    },
                ]),
                "multi[create /a, error BadVersion]",
            ),
        ];
        for (body, want) in table {
            assert_eq!(txn(body).summary(), want);
        }
        assert_eq!(
            txn(TxnBody::Delete { path: "/a".into() }).to_string(),
            "0x100000001 delete /a"
        );
    }

    #[test]
    fn digest_is_stable_and_content_sensitive() {
        let a = txn(TxnBody::Delete { path: "/a".into() });
        let b = txn(TxnBody::Delete { path: "/b".into() });
        assert_eq!(a.digest(), a.clone().digest());
        assert_ne!(a.digest(), b.digest());
        let bytes = postcard::to_allocvec(&a).expect("encode");
        let back: Txn = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, a);
    }

    #[test]
    fn effectiveness() {
        assert!(!txn(TxnBody::Error {
            code: ErrorCode::NoNode
        })
        .is_effective());
        let failed = TxnBody::Multi(vec![
            TxnBody::Delete { path: "/a".into() },
            TxnBody::Error {
                code: ErrorCode::NoNode,
            },
        ]);
        assert!(!txn(failed).is_effective());
        assert!(txn(TxnBody::Multi(vec![])).is_effective());
    }
}
