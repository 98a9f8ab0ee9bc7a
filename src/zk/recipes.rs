//! Client workloads beyond single operations: watch-setting reads, the recipes users run on
//! ZooKeeper (a lock and group membership, after the ZooKeeper Recipes page), and a client
//! process that hangs long enough for its session to expire. Each is one "operation" a
//! `[[workload.zk_clients]]` mix can draw (`get-w`, `exists-w`, `ls-w`, `lock`, `member`,
//! `silent`); every request goes through [`ZkClient::call`], so all of it is recorded.
//!
//! Every wait is bounded (the constants below): a recipe round gives up rather than hang a
//! client when the ensemble is unavailable or its session expires.

use super::client::{ClientState, ZkClient};
use super::request::{ZkOp, ZkResponse};
use super::types::{CreateMode, ErrorCode};
use crate::scenario::ZkOpKind;
use std::time::Duration;

/// The lock recipe's parent znode.
pub const LOCK_DIR: &str = "/lock";
/// The group membership recipe's parent znode.
pub const GROUP_DIR: &str = "/group";
/// Passes of the lock recipe's "list, watch the predecessor, wait" loop before giving up.
pub const LOCK_PASSES_MAX: u32 = 8;
/// How long a waiter waits for its predecessor's NodeDeleted before listing again.
pub const WATCH_WAIT_MAX: Duration = Duration::from_secs(3);
/// How often a waiter looks at its notification queue.
pub const WATCH_POLL: Duration = Duration::from_millis(20);
/// How long a lock holder holds the lock.
pub const LOCK_HOLD: Duration = Duration::from_millis(200);
/// Membership views a member takes (`ls -w`, then wait for NodeChildrenChanged) per round.
pub const MEMBER_VIEWS_MAX: u32 = 3;

/// Runs one draw of a recipe kind (`get-w`, `exists-w`, `ls-w`, `lock`, `member`,
/// `silent`) on key `path`; returns false for kinds this module does not run.
/// `value` is a unique value for any write the round makes.
pub async fn run(client: &ZkClient, kind: ZkOpKind, path: &str, value: &str) -> bool {
    match kind {
        ZkOpKind::GetW => {
            let _ = client
                .call(ZkOp::GetData {
                    path: path.into(),
                    watch: true,
                })
                .await;
        }
        ZkOpKind::ExistsW => {
            let _ = client
                .call(ZkOp::Exists {
                    path: path.into(),
                    watch: true,
                })
                .await;
        }
        ZkOpKind::LsW => {
            let _ = client
                .call(ZkOp::GetChildren {
                    path: path.into(),
                    watch: true,
                })
                .await;
        }
        ZkOpKind::Lock => lock_round(client, value).await,
        ZkOpKind::Member => member_round(client).await,
        ZkOpKind::Silent => silent_round(client).await,
        _ => return false,
    }
    true
}

fn alive(client: &ZkClient) -> bool {
    !matches!(client.state(), ClientState::Expired | ClientState::Closed)
}

async fn ensure_dir(client: &ZkClient, dir: &str) {
    let _ = client
        .call(ZkOp::Create {
            path: dir.into(),
            data: Some(b"0".to_vec()),
            mode: CreateMode::PERSISTENT,
        })
        .await;
}

/// Waits up to [`WATCH_WAIT_MAX`] for a notification on `path`; true if one came.
async fn wait_for_notice(client: &ZkClient, path: &str) -> bool {
    let polls = (WATCH_WAIT_MAX.as_millis() / WATCH_POLL.as_millis()).max(1);
    for _ in 0..polls {
        if client.take_watches().iter().any(|w| w.path == path) {
            return true;
        }
        if !alive(client) {
            return false;
        }
        madsim::time::sleep(WATCH_POLL).await;
    }
    false
}

/// One round of the lock recipe (ZooKeeper Recipes, "Locks"): create an ephemeral
/// sequential child of [`LOCK_DIR`]; while it is not the lowest, `exists -w` the next
/// lower child and wait for its deletion; holding the lock, write the fencing record
/// (`setData` on [`LOCK_DIR`] by the version just read: one holder per version); release
/// by deleting the own child.
async fn lock_round(client: &ZkClient, value: &str) {
    ensure_dir(client, LOCK_DIR).await;
    let me = match client
        .call(ZkOp::Create {
            path: format!("{LOCK_DIR}/lock-"),
            data: Some(value.as_bytes().to_vec()),
            mode: CreateMode::EPHEMERAL_SEQUENTIAL,
        })
        .await
    {
        Ok(ZkResponse::Created { path }) => path,
        _ => return,
    };
    let my_name = me.rsplit('/').next().unwrap_or_default().to_string();
    let mut held = false;
    for _ in 0..LOCK_PASSES_MAX {
        if !alive(client) {
            return;
        }
        let children = match client
            .call(ZkOp::GetChildren {
                path: LOCK_DIR.into(),
                watch: false,
            })
            .await
        {
            Ok(ZkResponse::Children { mut children, .. }) => {
                children.sort();
                children
            }
            _ => continue,
        };
        let Some(pos) = children.iter().position(|c| *c == my_name) else {
            // Our node is gone: the session expired (or someone deleted it). No lock.
            return;
        };
        if pos == 0 {
            held = true;
            break;
        }
        let pred = format!("{LOCK_DIR}/{}", children[pos - 1]);
        match client
            .call(ZkOp::Exists {
                path: pred.clone(),
                watch: true,
            })
            .await
        {
            Ok(ZkResponse::Exists(Some(_))) => {
                wait_for_notice(client, &pred).await;
            }
            Ok(_) => {} // gone already: list again
            Err(_) => continue,
        }
    }
    if held {
        if let Ok(ZkResponse::Data { stat, .. }) = client
            .call(ZkOp::GetData {
                path: LOCK_DIR.into(),
                watch: false,
            })
            .await
        {
            let _ = client
                .call(ZkOp::SetData {
                    path: LOCK_DIR.into(),
                    data: value.as_bytes().to_vec(),
                    version: stat.version,
                })
                .await;
        }
        madsim::time::sleep(LOCK_HOLD).await;
    }
    let _ = client
        .call(ZkOp::Delete {
            path: me,
            version: -1,
        })
        .await;
}

/// One round of group membership (ZooKeeper Recipes, "Group Membership"): join with an
/// ephemeral sequential child of [`GROUP_DIR`], follow the membership with `ls -w` up to
/// [`MEMBER_VIEWS_MAX`] times (re-listing on each NodeChildrenChanged), then leave.
async fn member_round(client: &ZkClient) {
    ensure_dir(client, GROUP_DIR).await;
    let me = match client
        .call(ZkOp::Create {
            path: format!("{GROUP_DIR}/member-"),
            data: None,
            mode: CreateMode::EPHEMERAL_SEQUENTIAL,
        })
        .await
    {
        Ok(ZkResponse::Created { path }) => path,
        _ => return,
    };
    for _ in 0..MEMBER_VIEWS_MAX {
        if !alive(client) {
            return;
        }
        let listed = client
            .call(ZkOp::GetChildren {
                path: GROUP_DIR.into(),
                watch: true,
            })
            .await;
        if listed.is_err() {
            continue;
        }
        wait_for_notice(client, GROUP_DIR).await;
    }
    let _ = client
        .call(ZkOp::Delete {
            path: me,
            version: -1,
        })
        .await;
}

/// The client joins the group, then its process hangs for twice its session timeout
/// (longer than timeout + tickTime, as tickTime is at most half the timeout), so the
/// leader expires the session and deletes its member znode; after waking it learns of the
/// expiry from the server, and the workload opens a new session.
async fn silent_round(client: &ZkClient) {
    ensure_dir(client, GROUP_DIR).await;
    let created = client
        .call(ZkOp::Create {
            path: format!("{GROUP_DIR}/member-"),
            data: None,
            mode: CreateMode::EPHEMERAL_SEQUENTIAL,
        })
        .await;
    if matches!(created, Err(ErrorCode::SessionExpired)) {
        return;
    }
    let silence = client.session_timeout() * 2;
    client.go_silent(silence);
    madsim::time::sleep(silence).await;
}
