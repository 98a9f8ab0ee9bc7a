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
use crate::history::ZkEvent;
use kzsim_sim::SimTime;
use serde::{Deserialize, Serialize};
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
/// Tries of a recipe's final delete (see `release`) before the znode is left to its
/// session: with [`RELEASE_RETRY_PAUSE`], 10 s, as long as the longest session timeout the
/// scenarios use.
pub const RELEASE_TRIES_MAX: u32 = 40;
/// The pause between two tries of a recipe's final delete.
pub const RELEASE_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// What a `silent` round leaves of its client's active window after the silence: time to
/// learn of the expiry and open the new session before the window closes.
pub const SILENT_AFTER: Duration = Duration::from_millis(500);
/// How long a lock holder holds the lock.
pub const LOCK_HOLD: Duration = Duration::from_millis(200);
/// Membership views a member takes (`ls -w`, then wait for NodeChildrenChanged) per round.
pub const MEMBER_VIEWS_MAX: u32 = 3;
/// How soon after a change to the group a member that stays connected has read the new
/// membership, when no fault intervenes (what `zk.group.converges` allows). ZooKeeper sends
/// the NodeChildrenChanged notification as the change is applied on the member's server,
/// and the member, which looks at its notifications every [`WATCH_POLL`], lists the group
/// again at once: a few network round trips and fsyncs, which take milliseconds (tens in
/// the slowest-disk scenario). One second leaves a wide margin, and is well below
/// [`WATCH_WAIT_MAX`], after which a member lists again even without a notification.
pub const GROUP_SETTLE: Duration = Duration::from_secs(1);

/// Test-only mutations of the recipes: each breaks what one recipe rule rests on, so a test
/// can show the rule firing on a real run. None is a ZooKeeper bug (the servers are
/// untouched) and none has a `--bug` name; tests set them through
/// [`crate::bugs::BugFlags::recipes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeBugs {
    /// Test-only: a lock client takes the lock at its first listing of [`LOCK_DIR`] without
    /// checking that its znode is the lowest (`zk.lock.one-holder`,
    /// `zk.lock.predecessors-gone`).
    #[serde(default)]
    pub test_lock_skips_lowest_check: bool,
    /// Test-only: lock clients with an even process id pause past their session timeout
    /// after taking the lock, then carry on with the fencing write on a new session, as if
    /// they still held the lock: zombie holders (`zk.lock.token-order`).
    #[serde(default)]
    pub test_lock_holder_resumes_after_expiry: bool,
    /// Test-only: a member ignores its NodeChildrenChanged notifications and lists the
    /// group only every [`WATCH_WAIT_MAX`] (`zk.group.converges`).
    #[serde(default)]
    pub test_member_ignores_notices: bool,
}

/// A round a client workload can draw from this module (the scenario file's `get-w`,
/// `exists-w`, `ls-w`, `lock`, `member` and `silent`; the runner maps them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// `get -w`: getData on a key, leaving a data watch.
    GetW,
    /// `exists -w`: exists on a key, leaving a watch.
    ExistsW,
    /// `ls -w`: getChildren on a key, leaving a child watch.
    LsW,
    /// One round of the lock recipe.
    Lock,
    /// One round of group membership.
    Member,
    /// A client process that hangs (see [`ZkClient::go_silent`]).
    Silent,
}

/// Runs one draw of a recipe on key `path`.
/// `value` is a unique value for any write the round makes; a round still running at
/// `until` (the end of the client's active window, if any) wraps up then; `bugs` are
/// test-only mutations (all off in every real run).
pub async fn run(
    client: &ZkClient,
    recipe: Recipe,
    path: &str,
    value: &str,
    until: Option<SimTime>,
    bugs: RecipeBugs,
) {
    match recipe {
        Recipe::GetW => {
            let _ = client
                .call(ZkOp::GetData {
                    path: path.into(),
                    watch: true,
                })
                .await;
        }
        Recipe::ExistsW => {
            let _ = client
                .call(ZkOp::Exists {
                    path: path.into(),
                    watch: true,
                })
                .await;
        }
        Recipe::LsW => {
            let _ = client
                .call(ZkOp::GetChildren {
                    path: path.into(),
                    watch: true,
                })
                .await;
        }
        Recipe::Lock => lock_round(client, value, until, bugs).await,
        Recipe::Member => member_round(client, value, until, bugs).await,
        Recipe::Silent => silent_round(client, until).await,
    }
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

/// Deletes a recipe's own znode (releasing the lock, leaving the group), retrying through
/// connection loss as Curator's guaranteed delete does: a znode left behind by one failed
/// delete would stay as long as the session lives, holding the lock for nobody or counting
/// a member that no longer follows the group. Stops once the znode is gone (deleted, or
/// NoNode after an earlier try landed) or the session is, after at most
/// [`RELEASE_TRIES_MAX`] tries.
async fn release(client: &ZkClient, path: &str) {
    for _ in 0..RELEASE_TRIES_MAX {
        let deleted = client
            .call(ZkOp::Delete {
                path: path.into(),
                version: -1,
            })
            .await;
        if matches!(
            deleted,
            Ok(_) | Err(ErrorCode::NoNode) | Err(ErrorCode::SessionExpired)
        ) || !alive(client)
        {
            return;
        }
        madsim::time::sleep(RELEASE_RETRY_PAUSE).await;
    }
}

/// Deletes the children of `dir` an earlier round of this session left behind (named
/// `<prefix>-<session>-...`, `value` being `<session>-<round>`), before this round adds its
/// own: a release that gave up (the ensemble had no quorum for longer than
/// [`RELEASE_TRIES_MAX`] tries, so the session outlived them) leaves the znode to the
/// session, and a lock client would then queue behind its own old znode for good. Curator's
/// guaranteed delete keeps such a delete pending and retries it on reconnection; this is
/// that retry, at the next round.
async fn release_leftovers(client: &ZkClient, dir: &str, prefix: &str, value: &str) {
    let Some((session, _)) = value.rsplit_once('-') else {
        return;
    };
    let own = format!("{prefix}-{session}-");
    let listed = client
        .call(ZkOp::GetChildren {
            path: dir.into(),
            watch: false,
        })
        .await;
    if let Ok(ZkResponse::Children { children, .. }) = listed {
        for child in children.iter().filter(|c| c.starts_with(&own)) {
            release(client, &format!("{dir}/{child}")).await;
        }
    }
}

/// True once `until` has passed.
fn over(until: Option<SimTime>) -> bool {
    until.is_some_and(|u| SimTime::now() >= u)
}

/// `d`, cut short at `until`.
fn within(d: Duration, until: Option<SimTime>) -> Duration {
    match until {
        Some(u) => d.min(Duration::from_nanos(u.0.saturating_sub(SimTime::now().0))),
        None => d,
    }
}

/// Waits up to [`WATCH_WAIT_MAX`] (and not past `until`) for a notification on `path`;
/// true if one came.
async fn wait_for_notice(client: &ZkClient, path: &str, until: Option<SimTime>) -> bool {
    let wait = within(WATCH_WAIT_MAX, until);
    let polls = (wait.as_millis() / WATCH_POLL.as_millis()).max(1);
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

/// The sequence number a sequential znode's name ends with (its 10 trailing digits).
fn sequence(name: &str) -> u64 {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    name[name.len() - digits..].parse().unwrap_or(u64::MAX)
}

/// Creates this round's ephemeral sequential child `<dir>/<prefix>-<guid>-NNNNNNNNNN`, as
/// the Recipes page prescribes for recoverable errors: when the create's outcome is unknown
/// (connection lost after sending it), list `dir` and adopt the child carrying `guid` if the
/// create landed, instead of leaving it behind for the session's lifetime. Returns the
/// child's path, or `None` if there is none (the create failed, or did not land).
async fn create_own(
    client: &ZkClient,
    dir: &str,
    prefix: &str,
    guid: &str,
    data: Option<Vec<u8>>,
) -> Option<String> {
    let tag = format!("{prefix}-{guid}-");
    let created = client
        .call(ZkOp::Create {
            path: format!("{dir}/{tag}"),
            data,
            mode: CreateMode::EPHEMERAL_SEQUENTIAL,
        })
        .await;
    match created {
        Ok(ZkResponse::Created { path }) => return Some(path),
        Err(ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout) => {}
        _ => return None,
    }
    for _ in 0..RELEASE_TRIES_MAX {
        if !alive(client) {
            return None;
        }
        let listed = client
            .call(ZkOp::GetChildren {
                path: dir.into(),
                watch: false,
            })
            .await;
        if let Ok(ZkResponse::Children { children, .. }) = listed {
            return children
                .iter()
                .find(|c| c.starts_with(&tag))
                .map(|c| format!("{dir}/{c}"));
        }
        madsim::time::sleep(RELEASE_RETRY_PAUSE).await;
    }
    None
}

/// One round of the lock recipe (ZooKeeper Recipes, "Locks"): create an ephemeral
/// sequential child of [`LOCK_DIR`] (named with the round's guid, so that a create whose
/// answer was lost can be found again); while it is not the lowest (by sequence number),
/// `exists -w` the next lower child and wait for its deletion; once it is the lowest,
/// record the decision ([`ZkEvent::LockAcquired`], with the zxid of the listing it rests
/// on) and, holding the lock, write the fencing record: `setData` on [`LOCK_DIR`] by the
/// version just read, with the own child's name (its sequence number is the holder's
/// fencing token); release by deleting the own child.
async fn lock_round(client: &ZkClient, value: &str, until: Option<SimTime>, bugs: RecipeBugs) {
    ensure_dir(client, LOCK_DIR).await;
    release_leftovers(client, LOCK_DIR, "lock", value).await;
    let data = Some(value.as_bytes().to_vec());
    let Some(me) = create_own(client, LOCK_DIR, "lock", value, data).await else {
        return;
    };
    let my_name = me.rsplit('/').next().unwrap_or_default().to_string();
    let mut held = false;
    for _ in 0..LOCK_PASSES_MAX {
        if !alive(client) {
            return;
        }
        if over(until) {
            // The window closed while waiting: give up the place in the queue.
            break;
        }
        let (listed, zxid) = client
            .call_zxid(ZkOp::GetChildren {
                path: LOCK_DIR.into(),
                watch: false,
            })
            .await;
        let children = match listed {
            Ok(ZkResponse::Children { mut children, .. }) => {
                children.sort_by_key(|c| sequence(c));
                children
            }
            _ => continue,
        };
        let Some(pos) = children.iter().position(|c| *c == my_name) else {
            // Our node is gone: the session expired (or someone deleted it). No lock.
            return;
        };
        if pos == 0 || bugs.test_lock_skips_lowest_check {
            client.note(ZkEvent::LockAcquired {
                session: client.session().unwrap_or(0),
                node: me.clone(),
                zxid,
            });
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
                wait_for_notice(client, &pred, until).await;
            }
            Ok(_) => {} // gone already: list again
            Err(_) => continue,
        }
    }
    if held {
        let fence_read = ZkOp::GetData {
            path: LOCK_DIR.into(),
            watch: false,
        };
        let mut read = client.call(fence_read.clone()).await;
        // The zombie holders are the clients with an even process id (the others run the
        // recipe as it should be, and take the lock while a zombie sleeps).
        if bugs.test_lock_holder_resumes_after_expiry && client.process().is_multiple_of(2) {
            // A long pause (a GC) while holding the lock: the session expires meanwhile.
            let pause = client.session_timeout() * 2;
            client.go_silent(pause);
            madsim::time::sleep(pause).await;
            // The bug: on learning that the session is gone, carry on with the critical
            // section on a new session, as if the lock were still held.
            for _ in 0..LOCK_PASSES_MAX {
                read = client.call(fence_read.clone()).await;
                match read {
                    Err(ErrorCode::SessionExpired) => {
                        client.reopen();
                        client.wait_connected(WATCH_WAIT_MAX).await;
                    }
                    Err(_) => madsim::time::sleep(WATCH_POLL).await,
                    Ok(_) => break,
                }
            }
        }
        if let Ok(ZkResponse::Data { stat, .. }) = read {
            let _ = client
                .call(ZkOp::SetData {
                    path: LOCK_DIR.into(),
                    data: my_name.as_bytes().to_vec(),
                    version: stat.version,
                })
                .await;
        }
        madsim::time::sleep(within(LOCK_HOLD, until)).await;
    }
    release(client, &me).await;
}

/// One round of group membership (ZooKeeper Recipes, "Group Membership"): join with an
/// ephemeral sequential child of [`GROUP_DIR`] (named with the round's guid, see
/// `create_own`), follow the membership with `ls -w` up to
/// [`MEMBER_VIEWS_MAX`] times (re-listing on each NodeChildrenChanged, or after
/// [`WATCH_WAIT_MAX`] without one), then leave.
async fn member_round(client: &ZkClient, value: &str, until: Option<SimTime>, bugs: RecipeBugs) {
    ensure_dir(client, GROUP_DIR).await;
    release_leftovers(client, GROUP_DIR, "member", value).await;
    let Some(me) = create_own(client, GROUP_DIR, "member", value, None).await else {
        return;
    };
    for _ in 0..MEMBER_VIEWS_MAX {
        if !alive(client) {
            return;
        }
        if over(until) {
            break;
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
        if bugs.test_member_ignores_notices {
            madsim::time::sleep(within(WATCH_WAIT_MAX, until)).await;
        } else {
            wait_for_notice(client, GROUP_DIR, until).await;
        }
    }
    release(client, &me).await;
}

/// The client joins the group, then its process hangs for twice its session timeout
/// (longer than timeout + tickTime, as tickTime is at most half the timeout), so the
/// leader expires the session and deletes its member znode; after waking it learns of the
/// expiry from the server, and the workload opens a new session.
async fn silent_round(client: &ZkClient, until: Option<SimTime>) {
    let silence = client.session_timeout() * 2;
    if until.is_some_and(|u| SimTime::now().plus(silence + SILENT_AFTER) > u) {
        // Not enough of the window left for the silence and the new session after it.
        return;
    }
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
    client.go_silent(silence);
    madsim::time::sleep(silence).await;
}
