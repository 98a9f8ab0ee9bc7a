//! The replicated state: ZooKeeper's data tree (`DataTree`, `DataNode`), its session
//! table, one-shot watches (`WatchManager`), and the leader's request preparation
//! (`PrepRequestProcessor`) that turns client ops into [`Txn`]s.
//!
//! Two halves, as in the real server:
//! - [`Prep`] runs on the leader only. It validates a request against the tree *plus*
//!   the changes of txns proposed but not yet applied (`outstandingChanges`), in the exact
//!   check order of the real server, and decides everything (sequential names, versions,
//!   the parent's counter). Failures become error txns that still consume a zxid.
//! - [`DataTree::apply`] runs on every server in zxid order and just executes the txn.
//!   It tolerates `NodeExists`/`NoNode` like `DataTree.processTxn` does, so replaying
//!   txns already contained in a fuzzy snapshot is harmless.
//!
//! Stat bookkeeping follows `DataNode`: a node stores `cversion` as the number of child
//! creates ("stored counter"); clients see `2 × stored − numChildren`.

use super::ids::{SessionId, Zxid};
use super::request::{OpResult, ZkOp, ZkResponse};
use super::txn::{Txn, TxnBody, TxnHeader, FNV_OFFSET};
use super::types::{validate_path, ErrorCode, Stat};
use kzsim_sim::trace::fnv1a;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// `StatPersisted`: what a node stores. `cversion` is the stored child-create counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// Stored counter of child creates (never decreases); not the visible cversion.
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: SessionId,
    pub pzxid: i64,
}

impl StatPersisted {
    /// `DataTree.createStat`: a fresh node's stat.
    pub fn created(zxid: Zxid, time_ms: i64, ephemeral_owner: SessionId) -> StatPersisted {
        StatPersisted {
            czxid: zxid.0,
            mzxid: zxid.0,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid.0,
        }
    }
}

/// One znode.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataNode {
    /// `None` for a node created without data (getData returns null).
    pub data: Option<Vec<u8>>,
    /// Stored stat.
    pub stat: StatPersisted,
    /// Child names (not paths), sorted.
    pub children: BTreeSet<String>,
}

impl DataNode {
    /// The Stat clients see (`DataNode.copyStat`): cversion = 2 × stored − numChildren.
    pub fn stat(&self) -> Stat {
        let n = self.children.len() as i32;
        Stat {
            czxid: self.stat.czxid,
            mzxid: self.stat.mzxid,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            cversion: self.stat.cversion * 2 - n,
            aversion: self.stat.aversion,
            ephemeral_owner: self.stat.ephemeral_owner,
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: n,
            pzxid: self.stat.pzxid,
        }
    }

    fn empty() -> DataNode {
        DataNode {
            data: Some(Vec::new()),
            stat: StatPersisted::default(),
            children: BTreeSet::new(),
        }
    }
}

/// A watch notification type (`Watcher.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

impl EventType {
    /// The Java name (`NodeDataChanged`), as zkCli prints it.
    pub fn name(self) -> &'static str {
        match self {
            EventType::NodeCreated => "NodeCreated",
            EventType::NodeDeleted => "NodeDeleted",
            EventType::NodeDataChanged => "NodeDataChanged",
            EventType::NodeChildrenChanged => "NodeChildrenChanged",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One watch notification to send to `session`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchEvent {
    pub session: SessionId,
    pub path: String,
    pub event_type: EventType,
}

/// One-shot watches by session (a session stands for its connection). Data watches are
/// left by getData and exists (also on a missing node); child watches by getChildren.
///
/// Guarantees: a trigger removes every watch of that kind on the path; a session gets at
/// most one event per (path, type) per txn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchManager {
    data: BTreeMap<String, BTreeSet<SessionId>>,
    child: BTreeMap<String, BTreeSet<SessionId>>,
}

impl WatchManager {
    /// Registers a data/exists watch.
    pub fn add_data_watch(&mut self, path: &str, session: SessionId) {
        self.data
            .entry(path.to_string())
            .or_default()
            .insert(session);
    }

    /// Registers a child watch.
    pub fn add_child_watch(&mut self, path: &str, session: SessionId) {
        self.child
            .entry(path.to_string())
            .or_default()
            .insert(session);
    }

    /// Drops every watch of `session` (its connection closed or the session ended).
    pub fn remove_session(&mut self, session: SessionId) {
        for table in [&mut self.data, &mut self.child] {
            table.retain(|_, sessions| {
                sessions.remove(&session);
                !sessions.is_empty()
            });
        }
    }

    /// Total registrations (`zk_watch_count`): data watches plus child watches.
    pub fn count(&self) -> usize {
        self.data
            .values()
            .chain(self.child.values())
            .map(BTreeSet::len)
            .sum()
    }

    /// The watched paths of `session`: (data watches, child watches).
    pub fn watches_of(&self, session: SessionId) -> (Vec<String>, Vec<String>) {
        let pick = |t: &BTreeMap<String, BTreeSet<SessionId>>| {
            t.iter()
                .filter(|(_, s)| s.contains(&session))
                .map(|(p, _)| p.clone())
                .collect()
        };
        (pick(&self.data), pick(&self.child))
    }

    fn trigger(
        &mut self,
        child_table: bool,
        path: &str,
        event_type: EventType,
        out: &mut Vec<WatchEvent>,
    ) {
        let table = if child_table {
            &mut self.child
        } else {
            &mut self.data
        };
        if let Some(sessions) = table.remove(path) {
            for session in sessions {
                let ev = WatchEvent {
                    session,
                    path: path.to_string(),
                    event_type,
                };
                if !out.contains(&ev) {
                    out.push(ev);
                }
            }
        }
    }
}

/// The result of applying one txn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// What the client that sent the request gets (only its server sends it).
    pub response: ZkResponse,
    /// Watch notifications, in the order the real server sends them; to be delivered
    /// before `response`.
    pub watches: Vec<WatchEvent>,
    /// An error the tree itself hit while applying a txn the leader had prepared as
    /// valid (NodeExists/NoNode): expected only while replaying over a fuzzy snapshot,
    /// a divergence symptom when live. Never the code of an error txn.
    pub tree_error: Option<ErrorCode>,
}

/// Known-bug switches for the tree (see reference §9). All off = ZooKeeper 3.8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeFlags {
    /// ZOOKEEPER-1046: replaying a create that hits NodeExists bumps the parent counter by
    /// one instead of restoring it to the txn's `parent_cversion`.
    pub zk1046_replay_increments_counter: bool,
}

/// The paths deleting cannot touch (`ZKDatabase.isSpecialPath`).
pub const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// Splits `/a/b` into (`/a`, `b`) and `/a` into (`/`, `a`). `None` without a `/`.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    let parent = if i == 0 { "/" } else { &path[..i] };
    Some((parent, &path[i + 1..]))
}

/// The data tree and session table of one server: what snapshots hold.
///
/// Guarantees: iteration, serialization and [`DataTree::digest`] are deterministic;
/// applying the same txns in the same order to equal trees gives equal trees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataTree {
    nodes: BTreeMap<String, DataNode>,
    ephemerals: BTreeMap<SessionId, BTreeSet<String>>,
    sessions: BTreeMap<SessionId, i64>,
    last_processed_zxid: Zxid,
    #[serde(skip)]
    watches: WatchManager,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// The initial tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`, all
    /// with zero stats and empty (non-null) data; no sessions; last zxid 0.
    pub fn new() -> DataTree {
        let mut nodes = BTreeMap::new();
        let mut root = DataNode::empty();
        root.children.insert("zookeeper".to_string());
        let mut zk = DataNode::empty();
        zk.children.insert("quota".to_string());
        zk.children.insert("config".to_string());
        nodes.insert("/".to_string(), root);
        nodes.insert("/zookeeper".to_string(), zk);
        nodes.insert("/zookeeper/quota".to_string(), DataNode::empty());
        nodes.insert("/zookeeper/config".to_string(), DataNode::empty());
        DataTree {
            nodes,
            ephemerals: BTreeMap::new(),
            sessions: BTreeMap::new(),
            last_processed_zxid: Zxid::ZERO,
            watches: WatchManager::default(),
        }
    }

    // ----- inspection -------------------------------------------------------------

    /// The node at `path`.
    pub fn node(&self, path: &str) -> Option<&DataNode> {
        self.nodes.get(path)
    }

    /// Every node by path, sorted.
    pub fn nodes(&self) -> &BTreeMap<String, DataNode> {
        &self.nodes
    }

    /// The visible Stat of `path`.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(DataNode::stat)
    }

    /// The sorted child names of `path`.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// The ephemeral paths owned by `session` (applied ones only).
    pub fn ephemerals(&self, session: SessionId) -> BTreeSet<String> {
        self.ephemerals.get(&session).cloned().unwrap_or_default()
    }

    /// Every session's ephemerals.
    pub fn all_ephemerals(&self) -> &BTreeMap<SessionId, BTreeSet<String>> {
        &self.ephemerals
    }

    /// The replicated session table: session -> negotiated timeout (ms).
    pub fn sessions(&self) -> &BTreeMap<SessionId, i64> {
        &self.sessions
    }

    /// The zxid of the last txn applied (`lastProcessedZxid`).
    pub fn last_processed_zxid(&self) -> Zxid {
        self.last_processed_zxid
    }

    /// Sets the last processed zxid (a follower loading a SNAP, or a leader marking a
    /// new epoch: `epoch << 32`).
    pub fn set_last_processed_zxid(&mut self, zxid: Zxid) {
        self.last_processed_zxid = zxid;
    }

    /// `Node count` as `srvr` reports it: the root is counted twice, so a fresh tree has 5.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// `zk_ephemerals_count`.
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    /// `zk_approximate_data_size`: Σ (path length + data length) over the internal node
    /// map, where the root also appears under the empty path.
    pub fn approximate_data_size(&self) -> u64 {
        let root_data = self
            .nodes
            .get("/")
            .and_then(|n| n.data.as_ref())
            .map_or(0, Vec::len);
        let sum: usize = self
            .nodes
            .iter()
            .map(|(p, n)| p.len() + n.data.as_ref().map_or(0, Vec::len))
            .sum();
        (sum + root_data) as u64
    }

    /// The tree as a snapshot holds it, what `DataTree.serialize` writes and a SNAP sync
    /// sends: every node, ephemeral owner and session, and no watch. Watches live in the
    /// memory of the server the client is connected to; a client re-registers them with
    /// SetWatches where it reconnects.
    pub fn snapshot_copy(&self) -> DataTree {
        DataTree {
            nodes: self.nodes.clone(),
            ephemerals: self.ephemerals.clone(),
            sessions: self.sessions.clone(),
            last_processed_zxid: self.last_processed_zxid,
            watches: WatchManager::default(),
        }
    }

    /// The watches registered on this server.
    pub fn watches(&self) -> &WatchManager {
        &self.watches
    }

    /// Drops every watch of `session` (its connection closed or moved to another server).
    pub fn remove_watches(&mut self, session: SessionId) {
        self.watches.remove_session(session);
    }

    /// A stable 64-bit digest of every node (path, data, stored stat, children). Equal
    /// trees give equal digests on every server; watches and sessions are not included.
    pub fn nodes_digest(&self) -> u64 {
        let mut h = FNV_OFFSET;
        for (path, node) in &self.nodes {
            h = fnv1a(
                h,
                &postcard::to_allocvec(&(path, node)).expect("node serializes"),
            );
        }
        h
    }

    /// [`DataTree::nodes_digest`] extended with the session table (for agreement checks
    /// covering EPHEM: equal trees *and* equal session tables).
    pub fn digest(&self) -> u64 {
        let h = self.nodes_digest();
        fnv1a(
            h,
            &postcard::to_allocvec(&self.sessions).expect("sessions serialize"),
        )
    }

    // ----- reads ------------------------------------------------------------------

    /// `getData`: data and Stat, or NoNode. With `watcher`, leaves a data watch (only if
    /// the node exists).
    pub fn get_data(&mut self, path: &str, watcher: Option<SessionId>) -> ZkResponse {
        let Some(node) = self.nodes.get(path) else {
            return ZkResponse::Error(ErrorCode::NoNode);
        };
        let resp = ZkResponse::Data {
            data: node.data.clone(),
            stat: node.stat(),
        };
        if let Some(s) = watcher {
            self.watches.add_data_watch(path, s);
        }
        resp
    }

    /// `exists`: Stat or `None`. With `watcher`, leaves a data watch even on a missing
    /// node (it fires NodeCreated).
    pub fn exists(&mut self, path: &str, watcher: Option<SessionId>) -> ZkResponse {
        if let Some(s) = watcher {
            self.watches.add_data_watch(path, s);
        }
        ZkResponse::Exists(self.stat(path))
    }

    /// `getChildren2`: sorted child names and Stat, or NoNode. With `watcher`, leaves a
    /// child watch (only if the node exists).
    pub fn get_children(&mut self, path: &str, watcher: Option<SessionId>) -> ZkResponse {
        let Some(node) = self.nodes.get(path) else {
            return ZkResponse::Error(ErrorCode::NoNode);
        };
        let resp = ZkResponse::Children {
            children: node.children.iter().cloned().collect(),
            stat: node.stat(),
        };
        if let Some(s) = watcher {
            self.watches.add_child_watch(path, s);
        }
        resp
    }

    /// Answers a read (getData, exists, getChildren) for `session` from this tree,
    /// registering its watch if asked, or a completed `sync` (`Synced`, even for a
    /// missing path).
    ///
    /// Panics if `op` is a write: writes go through [`Prep`] and [`DataTree::apply`].
    pub fn read(&mut self, session: SessionId, op: &ZkOp) -> ZkResponse {
        let w = |watch: bool| watch.then_some(session);
        match op {
            ZkOp::GetData { path, watch } => self.get_data(path, w(*watch)),
            ZkOp::Exists { path, watch } => self.exists(path, w(*watch)),
            ZkOp::GetChildren { path, watch } => self.get_children(path, w(*watch)),
            ZkOp::Sync { path } => ZkResponse::Synced { path: path.clone() },
            other => panic!("DataTree::read called with a write: {other:?}"),
        }
    }

    // ----- applying txns ------------------------------------------------------------

    /// Applies a committed txn (`DataTree.processTxn`): changes the tree and session
    /// table, fires and clears the matching watches, and builds the originator's reply.
    ///
    /// Like the real server it never fails: a create hitting NodeExists restores the
    /// parent's counter to the txn's `parent_cversion` if that is higher (ZOOKEEPER-1046
    /// fix), and NoNode/NodeExists surface in [`Applied::tree_error`].
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        self.apply_with(txn, TreeFlags::default())
    }

    /// [`DataTree::apply`] while restoring from disk (log replay over a fuzzy snapshot):
    /// the same, with `flags` able to re-introduce ZOOKEEPER-1046. Returns the tree error
    /// the real server logs and ignores; watch events are dropped (no clients yet).
    pub fn replay(&mut self, txn: &Txn, flags: TreeFlags) -> Option<ErrorCode> {
        let applied = self.apply_with(txn, flags);
        applied.tree_error
    }

    fn apply_with(&mut self, txn: &Txn, flags: TreeFlags) -> Applied {
        let h = txn.header;
        let mut watches = Vec::new();
        let mut tree_error = None;
        let response = match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                self.sessions.insert(h.session, *timeout_ms);
                ZkResponse::SessionCreated {
                    session: h.session,
                    timeout_ms: *timeout_ms,
                }
            }
            TxnBody::CloseSession { ephemerals } => {
                self.close_session(h, ephemerals, &mut watches);
                ZkResponse::SessionClosed
            }
            TxnBody::Multi(ops) => {
                let failed = ops.iter().any(|op| matches!(op, TxnBody::Error { .. }));
                let mut post_failed = false;
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    let converted;
                    let op = match op {
                        TxnBody::Error { .. } => {
                            post_failed = true;
                            op
                        }
                        _ if failed => {
                            let code = if post_failed {
                                ErrorCode::RuntimeInconsistency
                            } else {
                                ErrorCode::Ok
                            };
                            converted = TxnBody::Error { code };
                            &converted
                        }
                        _ => op,
                    };
                    let r = self.apply_op(h, op, flags, &mut watches);
                    if let (Err(code), false) = (&r, matches!(op, TxnBody::Error { .. })) {
                        tree_error.get_or_insert(*code);
                    }
                    results.push(match r {
                        Err(code) => OpResult::Error(code),
                        Ok(resp) => match resp {
                            ZkResponse::Created { path } => OpResult::Created { path },
                            ZkResponse::Deleted => OpResult::Deleted,
                            ZkResponse::Stat(stat) => OpResult::SetData(stat),
                            ZkResponse::Checked => OpResult::Checked,
                            ZkResponse::Error(code) => OpResult::Error(code),
                            other => panic!("multi op gave a non-multi result: {other:?}"),
                        },
                    });
                }
                ZkResponse::Multi(results)
            }
            body => match self.apply_op(h, body, flags, &mut watches) {
                Ok(resp) => resp,
                Err(code) => {
                    tree_error = Some(code);
                    ZkResponse::Error(code)
                }
            },
        };
        if h.zxid > self.last_processed_zxid {
            self.last_processed_zxid = h.zxid;
        }
        Applied {
            response,
            watches,
            tree_error,
        }
    }

    /// One non-session, non-multi op. `Err` is a tree error; an error txn is `Ok(Error)`.
    fn apply_op(
        &mut self,
        h: TxnHeader,
        body: &TxnBody,
        flags: TreeFlags,
        watches: &mut Vec<WatchEvent>,
    ) -> Result<ZkResponse, ErrorCode> {
        match body {
            TxnBody::Create {
                path,
                data,
                ephemeral_owner,
                parent_cversion,
            } => {
                let r = self.create_node(
                    path,
                    data.clone(),
                    *ephemeral_owner,
                    *parent_cversion,
                    h,
                    watches,
                );
                if r == Err(ErrorCode::NodeExists) {
                    // The node is in the (fuzzy) snapshot already: make the parent's counter
                    // and pzxid what this create left them (ZOOKEEPER-1046).
                    if let Some((parent, _)) = split_path(path) {
                        let cv = if flags.zk1046_replay_increments_counter {
                            -1
                        } else {
                            *parent_cversion
                        };
                        self.set_cversion_pzxid(parent, cv, h.zxid);
                    }
                }
                r.map(|()| ZkResponse::Created { path: path.clone() })
            }
            TxnBody::Delete { path } => self
                .delete_node(path, h.zxid, watches)
                .map(|()| ZkResponse::Deleted),
            TxnBody::SetData {
                path,
                data,
                version,
            } => {
                let node = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
                node.data = Some(data.clone());
                node.stat.mtime = h.time_ms;
                node.stat.mzxid = h.zxid.0;
                node.stat.version = *version;
                let stat = node.stat();
                self.watches
                    .trigger(false, path, EventType::NodeDataChanged, watches);
                Ok(ZkResponse::Stat(stat))
            }
            TxnBody::Check { .. } => Ok(ZkResponse::Checked),
            TxnBody::Error { code } => Ok(ZkResponse::Error(*code)),
            TxnBody::CreateSession { .. } | TxnBody::CloseSession { .. } | TxnBody::Multi(_) => {
                panic!("session txn or nested multi inside a multi: {body}")
            }
        }
    }

    /// `DataTree.createNode`.
    fn create_node(
        &mut self,
        path: &str,
        data: Option<Vec<u8>>,
        owner: SessionId,
        parent_cversion: i32,
        h: TxnHeader,
        watches: &mut Vec<WatchEvent>,
    ) -> Result<(), ErrorCode> {
        let (parent_path, child) = split_path(path).ok_or(ErrorCode::NoNode)?;
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        if parent.children.contains(child) || path == "/" {
            return Err(ErrorCode::NodeExists);
        }
        let cv = if parent_cversion == -1 {
            parent.stat.cversion + 1
        } else {
            parent_cversion
        };
        // A replay may re-create a node that was created and deleted after the fuzzy
        // snapshot read the parent: never move the counter back.
        if cv > parent.stat.cversion {
            parent.stat.cversion = cv;
            parent.stat.pzxid = h.zxid.0;
        }
        parent.children.insert(child.to_string());
        let node = DataNode {
            data,
            stat: StatPersisted::created(h.zxid, h.time_ms, owner),
            children: BTreeSet::new(),
        };
        self.nodes.insert(path.to_string(), node);
        if owner != 0 {
            self.ephemerals
                .entry(owner)
                .or_default()
                .insert(path.to_string());
        }
        self.watches
            .trigger(false, path, EventType::NodeCreated, watches);
        self.watches
            .trigger(true, parent_path, EventType::NodeChildrenChanged, watches);
        Ok(())
    }

    /// `DataTree.deleteNode`: the parent's pzxid moves forward even if the node is gone.
    fn delete_node(
        &mut self,
        path: &str,
        zxid: Zxid,
        watches: &mut Vec<WatchEvent>,
    ) -> Result<(), ErrorCode> {
        let (parent_path, child) = split_path(path).ok_or(ErrorCode::NoNode)?;
        if path == "/" {
            return Err(ErrorCode::BadArguments);
        }
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        parent.children.remove(child);
        if zxid.0 > parent.stat.pzxid {
            parent.stat.pzxid = zxid.0;
        }
        let node = self.nodes.remove(path).ok_or(ErrorCode::NoNode)?;
        let owner = node.stat.ephemeral_owner;
        if owner != 0 {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        }
        let mut fired = Vec::new();
        self.watches
            .trigger(false, path, EventType::NodeDeleted, &mut fired);
        self.watches
            .trigger(true, path, EventType::NodeDeleted, &mut fired);
        self.watches.trigger(
            true,
            parent_path,
            EventType::NodeChildrenChanged,
            &mut fired,
        );
        for ev in fired {
            if !watches.contains(&ev) {
                watches.push(ev);
            }
        }
        Ok(())
    }

    /// `DataTree.setCversionPzxid`: raise the stored counter (−1: by one) and pzxid.
    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: Zxid) {
        if let Some(node) = self.nodes.get_mut(path) {
            let cv = if cversion == -1 {
                node.stat.cversion + 1
            } else {
                cversion
            };
            if cv > node.stat.cversion {
                node.stat.cversion = cv;
                node.stat.pzxid = zxid.0;
            }
        }
    }

    /// `killSession`: delete the txn's listed paths, then any ephemerals this tree still
    /// knows for the session; forget the session and its watches.
    fn close_session(&mut self, h: TxnHeader, listed: &[String], watches: &mut Vec<WatchEvent>) {
        self.sessions.remove(&h.session);
        let mut local = self.ephemerals.remove(&h.session).unwrap_or_default();
        for path in listed {
            // NoNode here is logged and ignored by the real server.
            let _ = self.delete_node(path, h.zxid, watches);
            local.remove(path);
        }
        for path in &local {
            let _ = self.delete_node(path, h.zxid, watches);
        }
        self.watches.remove_session(h.session);
    }
}

// ----- fuzzy snapshots ---------------------------------------------------------------

/// A snapshot being taken while the tree keeps changing, as ZooKeeper's snapshot thread
/// does (`SyncRequestProcessor` starts it; `DataTree.serialize` walks the live tree).
///
/// The file is named by the last processed zxid when the walk *started*, but each node is
/// copied when the walk reaches it (`DataTree.serializeNode`, pre-order): a node's data,
/// stat and child list are copied together (under its lock), its children are visited
/// afterwards from that copied list. So a child created after its parent was copied is
/// missing, a child deleted before it is reached is missing, and a node's data and stat
/// are as of its visit, possibly many txns after the name's zxid. Restoring replays every
/// logged txn after the name's zxid over it, which is harmless only because
/// [`DataTree::replay`] tolerates NodeExists/NoNode and restores the parent's counter from
/// the txn (the ZOOKEEPER-1046 fix). The session table is copied at the start (it is
/// serialized before the tree).
///
/// Guarantees: deterministic (children are visited in name order); [`FuzzySnapshot::finish`]
/// rebuilds child lists and ephemeral sets from the nodes present, as `DataTree.deserialize`
/// does, so the result is a well-formed tree.
#[derive(Clone, Debug)]
pub struct FuzzySnapshot {
    zxid: Zxid,
    sessions: BTreeMap<SessionId, i64>,
    /// Paths still to visit; the next one is last.
    pending: Vec<String>,
    /// Copies made so far (child lists are rebuilt in `finish`).
    nodes: BTreeMap<String, DataNode>,
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

impl FuzzySnapshot {
    /// Starts a snapshot of `tree`, to be named `zxid` (the last processed zxid now).
    /// Nothing but the session table is copied yet.
    pub fn start(tree: &DataTree, zxid: Zxid) -> FuzzySnapshot {
        FuzzySnapshot {
            zxid,
            sessions: tree.sessions.clone(),
            pending: vec!["/".to_string()],
            nodes: BTreeMap::new(),
        }
    }

    /// The zxid the snapshot file is named by.
    pub fn zxid(&self) -> Zxid {
        self.zxid
    }

    /// Paths known to be still ahead of the walk (children not yet discovered excluded).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Nodes copied so far.
    pub fn copied(&self) -> usize {
        self.nodes.len()
    }

    /// Visits up to `budget` more paths of the live `tree` (a path whose node is gone by
    /// now costs a visit and is skipped, as `serializeNode` skips a null child). Returns
    /// true when the walk is complete.
    pub fn walk(&mut self, tree: &DataTree, budget: usize) -> bool {
        for _ in 0..budget {
            let Some(path) = self.pending.pop() else {
                break;
            };
            let Some(node) = tree.nodes.get(&path) else {
                continue;
            };
            for child in node.children.iter().rev() {
                self.pending.push(child_path(&path, child));
            }
            let copy = DataNode {
                data: node.data.clone(),
                stat: node.stat,
                children: BTreeSet::new(),
            };
            self.nodes.insert(path, copy);
        }
        self.pending.is_empty()
    }

    /// The snapshot's tree: the copied nodes with child lists and ephemeral sets rebuilt
    /// from the nodes present, the session table copied at the start, and
    /// `last_processed_zxid` set to the name's zxid.
    ///
    /// Panics if called before the walk is complete (an internal sequencing bug).
    pub fn finish(self) -> DataTree {
        assert!(
            self.pending.is_empty(),
            "fuzzy snapshot finished with {} paths still to visit",
            self.pending.len()
        );
        let mut nodes = self.nodes;
        let mut ephemerals: BTreeMap<SessionId, BTreeSet<String>> = BTreeMap::new();
        let paths: Vec<String> = nodes.keys().filter(|p| *p != "/").cloned().collect();
        for path in paths {
            let (parent, child) = split_path(&path).expect("snapshot paths are absolute");
            let child = child.to_string();
            let owner = nodes[&path].stat.ephemeral_owner;
            // A node is copied only after its parent was, so the parent is present.
            nodes
                .get_mut(parent)
                .expect("a copied node's parent was copied first")
                .children
                .insert(child);
            if owner != 0 {
                ephemerals.entry(owner).or_default().insert(path);
            }
        }
        DataTree {
            nodes,
            ephemerals,
            sessions: self.sessions,
            last_processed_zxid: self.zxid,
            watches: WatchManager::default(),
        }
    }
}

// ----- leader-side preparation ------------------------------------------------------

/// `ChangeRecord`: a node's state as a proposed-but-unapplied txn leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ChangeRecord {
    /// Identity (Java compares records by reference).
    id: u64,
    /// The txn that made it; −1 for a record read from the tree.
    zxid: i64,
    path: String,
    /// `None`: the node is being deleted.
    stat: Option<StatPersisted>,
    child_count: i32,
}

/// Known-bug switches for request preparation (reference §9). All off = ZooKeeper 3.8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepFlags {
    /// ZOOKEEPER-1624: a failed multi does not restore pending *parent* records, so the
    /// next sequential create under that parent reads a stale counter.
    pub zk1624_no_parent_rollback: bool,
}

/// The leader's `PrepRequestProcessor`: turns client requests into txns, validating
/// against the tree plus outstanding changes.
///
/// Contract: call [`Prep::prep`] (or the session variants) with strictly increasing
/// zxids, in proposal order; call [`Prep::applied`] with each zxid once the leader has
/// applied it to `tree`; make a new `Prep` (or [`Prep::clear`]) when a new leader starts.
#[derive(Clone, Debug, Default)]
pub struct Prep {
    changes: VecDeque<ChangeRecord>,
    by_path: BTreeMap<String, ChangeRecord>,
    next_id: u64,
    /// Bug switches.
    pub flags: PrepFlags,
}

impl Prep {
    /// No outstanding changes.
    pub fn new() -> Prep {
        Prep::default()
    }

    /// With bug switches.
    pub fn with_flags(flags: PrepFlags) -> Prep {
        Prep {
            flags,
            ..Prep::default()
        }
    }

    /// Number of outstanding change records (`outstandingChanges.size()`).
    pub fn outstanding(&self) -> usize {
        self.changes.len()
    }

    /// Forgets every outstanding change (the leader stopped leading).
    pub fn clear(&mut self) {
        self.changes.clear();
        self.by_path.clear();
    }

    /// Drops the records of txns up to `zxid`, now applied to the tree
    /// (`FinalRequestProcessor`).
    pub fn applied(&mut self, zxid: Zxid) {
        while let Some(front) = self.changes.front() {
            if front.zxid > zxid.0 {
                break;
            }
            let rec = self.changes.pop_front().expect("front exists");
            if self.by_path.get(&rec.path).is_some_and(|r| r.id == rec.id) {
                self.by_path.remove(&rec.path);
            }
        }
    }

    /// Prepares a write (`ZkOp::is_write`): returns the txn to propose. `session_check`
    /// is the session tracker's verdict for `header.session` (e.g. UnknownSession,
    /// SessionExpired for a closing session); a failure of any check yields an error txn
    /// (or, in a multi, the per-op error layout of §4). Panics on reads and sync.
    pub fn prep(
        &mut self,
        tree: &DataTree,
        session_check: Result<(), ErrorCode>,
        header: TxnHeader,
        op: &ZkOp,
    ) -> Txn {
        assert!(op.is_write(), "Prep::prep called with a non-write: {op:?}");
        let body = match op {
            ZkOp::Multi(ops) => self.prep_multi(tree, session_check, header, ops),
            op => match self.prep_one(tree, session_check, header, op) {
                Ok(body) => body,
                Err(code) => TxnBody::Error { code },
            },
        };
        Txn { header, body }
    }

    /// Prepares `createSession` with the negotiated timeout (the caller also starts
    /// tracking the session).
    pub fn prep_create_session(&mut self, header: TxnHeader, timeout_ms: i64) -> Txn {
        Txn {
            header,
            body: TxnBody::CreateSession { timeout_ms },
        }
    }

    /// Prepares `closeSession` (client close or expiry; no session check): lists the
    /// session's ephemerals in the tree, plus pending ephemeral creates, minus pending
    /// deletes, and records their deletion. The caller marks the session closing.
    pub fn prep_close_session(&mut self, tree: &DataTree, header: TxnHeader) -> Txn {
        let session = header.session;
        let mut es = tree.ephemerals(session);
        for c in &self.changes {
            match &c.stat {
                None => {
                    es.remove(&c.path);
                }
                Some(stat) if stat.ephemeral_owner == session => {
                    es.insert(c.path.clone());
                }
                Some(_) => {}
            }
        }
        for path in &es {
            // With digests on (the 3.8 default) the parent's pzxid record is updated too.
            if let Some((parent, _)) = split_path(path) {
                if let Ok(rec) = self.record(tree, parent) {
                    let mut rec = self.duplicate(&rec, header.zxid);
                    if let Some(stat) = rec.stat.as_mut() {
                        stat.pzxid = header.zxid.0;
                    }
                    self.add(rec);
                }
            }
            let id = self.fresh_id();
            self.add(ChangeRecord {
                id,
                zxid: header.zxid.0,
                path: path.clone(),
                stat: None,
                child_count: 0,
            });
        }
        Txn {
            header,
            body: TxnBody::CloseSession {
                ephemerals: es.into_iter().collect(),
            },
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn add(&mut self, rec: ChangeRecord) {
        self.by_path.insert(rec.path.clone(), rec.clone());
        self.changes.push_back(rec);
    }

    fn duplicate(&mut self, rec: &ChangeRecord, zxid: Zxid) -> ChangeRecord {
        ChangeRecord {
            id: self.fresh_id(),
            zxid: zxid.0,
            ..rec.clone()
        }
    }

    /// `getRecordForPath`: the outstanding record, else the tree's node; NoNode if
    /// neither has a live node.
    fn record(&mut self, tree: &DataTree, path: &str) -> Result<ChangeRecord, ErrorCode> {
        let rec = match self.by_path.get(path) {
            Some(r) => r.clone(),
            None => {
                let node = tree.node(path).ok_or(ErrorCode::NoNode)?;
                ChangeRecord {
                    id: self.fresh_id(),
                    zxid: -1,
                    path: path.to_string(),
                    stat: Some(node.stat),
                    child_count: node.children.len() as i32,
                }
            }
        };
        if rec.stat.is_none() {
            return Err(ErrorCode::NoNode);
        }
        Ok(rec)
    }

    fn prep_one(
        &mut self,
        tree: &DataTree,
        session_check: Result<(), ErrorCode>,
        h: TxnHeader,
        op: &ZkOp,
    ) -> Result<TxnBody, ErrorCode> {
        match op {
            ZkOp::Create { path, data, mode } => {
                session_check?;
                if path.contains('\0') {
                    return Err(ErrorCode::BadArguments);
                }
                let (parent_path, _) = split_path(path).ok_or(ErrorCode::BadArguments)?;
                let parent = self.record(tree, parent_path)?;
                let pstat = parent.stat.expect("record() returns live records");
                let path = if mode.sequential {
                    format!("{path}{:010}", pstat.cversion)
                } else {
                    path.clone()
                };
                validate_path(&path, false).map_err(|_| ErrorCode::BadArguments)?;
                if self.record(tree, &path).is_ok() {
                    return Err(ErrorCode::NodeExists);
                }
                if pstat.ephemeral_owner != 0 {
                    return Err(ErrorCode::NoChildrenForEphemerals);
                }
                let new_cversion = pstat.cversion + 1;
                let owner = if mode.ephemeral { h.session } else { 0 };
                let mut parent = self.duplicate(&parent, h.zxid);
                parent.child_count += 1;
                if let Some(stat) = parent.stat.as_mut() {
                    stat.cversion = new_cversion;
                    stat.pzxid = h.zxid.0;
                }
                self.add(parent);
                let id = self.fresh_id();
                self.add(ChangeRecord {
                    id,
                    zxid: h.zxid.0,
                    path: path.clone(),
                    stat: Some(StatPersisted::created(h.zxid, h.time_ms, owner)),
                    child_count: 0,
                });
                Ok(TxnBody::Create {
                    path,
                    data: data.clone(),
                    ephemeral_owner: owner,
                    parent_cversion: new_cversion,
                })
            }
            ZkOp::Delete { path, version } => {
                session_check?;
                if path.contains('\0') || SPECIAL_PATHS.contains(&path.as_str()) {
                    return Err(ErrorCode::BadArguments);
                }
                let (parent_path, _) = split_path(path).ok_or(ErrorCode::BadArguments)?;
                let parent = self.record(tree, parent_path)?;
                let node = self.record(tree, path)?;
                check_version(node.stat.expect("live").version, *version)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                let mut parent = self.duplicate(&parent, h.zxid);
                parent.child_count -= 1;
                if let Some(stat) = parent.stat.as_mut() {
                    stat.pzxid = h.zxid.0;
                }
                self.add(parent);
                let id = self.fresh_id();
                self.add(ChangeRecord {
                    id,
                    zxid: h.zxid.0,
                    path: path.clone(),
                    stat: None,
                    child_count: -1,
                });
                Ok(TxnBody::Delete { path: path.clone() })
            }
            ZkOp::SetData {
                path,
                data,
                version,
            } => {
                session_check?;
                validate_path(path, false).map_err(|_| ErrorCode::BadArguments)?;
                let node = self.record(tree, path)?;
                let new_version = check_version(node.stat.expect("live").version, *version)?;
                let mut node = self.duplicate(&node, h.zxid);
                if let Some(stat) = node.stat.as_mut() {
                    stat.version = new_version;
                    stat.mtime = h.time_ms;
                    stat.mzxid = h.zxid.0;
                }
                self.add(node);
                Ok(TxnBody::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: new_version,
                })
            }
            ZkOp::Check { path, version } => {
                session_check?;
                validate_path(path, false).map_err(|_| ErrorCode::BadArguments)?;
                let node = self.record(tree, path)?;
                let next = check_version(node.stat.expect("live").version, *version)?;
                Ok(TxnBody::Check {
                    path: path.clone(),
                    version: next,
                })
            }
            // Reads, sync and nested multis cannot be multi ops; the real client refuses
            // to build such a multi, kzsim's server answers BadArguments.
            _ => Err(ErrorCode::BadArguments),
        }
    }

    fn prep_multi(
        &mut self,
        tree: &DataTree,
        session_check: Result<(), ErrorCode>,
        h: TxnHeader,
        ops: &[ZkOp],
    ) -> TxnBody {
        let pending = self.pending_changes(ops);
        let mut failed = false;
        let mut bodies = Vec::with_capacity(ops.len());
        for op in ops {
            if failed {
                bodies.push(TxnBody::Error {
                    code: ErrorCode::RuntimeInconsistency,
                });
                continue;
            }
            match self.prep_one(tree, session_check, h, op) {
                Ok(body) => bodies.push(body),
                Err(code) => {
                    failed = true;
                    bodies.push(TxnBody::Error { code });
                    self.rollback(h.zxid, &pending);
                }
            }
        }
        TxnBody::Multi(bodies)
    }

    /// `getPendingChanges`: the outstanding records of every op's path and parent, to
    /// restore if the multi fails (ZOOKEEPER-1624: parents included).
    fn pending_changes(&self, ops: &[ZkOp]) -> BTreeMap<String, ChangeRecord> {
        let mut pending = BTreeMap::new();
        for op in ops {
            let Some(path) = op.path() else { continue };
            let mut paths = vec![path];
            if !self.flags.zk1624_no_parent_rollback && !path.contains('\0') {
                if let Some((parent, _)) = split_path(path) {
                    paths.push(parent);
                }
            }
            for p in paths {
                // Only outstanding records: capturing committed state instead was
                // ZOOKEEPER-2052.
                if let Some(rec) = self.by_path.get(p) {
                    pending.insert(p.to_string(), rec.clone());
                }
            }
        }
        pending
    }

    /// `rollbackPendingChanges`: drop this multi's records, then restore the captured ones
    /// that are still outstanding.
    fn rollback(&mut self, zxid: Zxid, pending: &BTreeMap<String, ChangeRecord>) {
        while self.changes.back().is_some_and(|c| c.zxid == zxid.0) {
            let c = self.changes.pop_back().expect("back exists");
            self.by_path.remove(&c.path);
        }
        let Some(first) = self.changes.front().map(|c| c.zxid) else {
            return;
        };
        for c in pending.values() {
            if c.zxid < first {
                continue;
            }
            self.by_path.insert(c.path.clone(), c.clone());
        }
    }
}

/// `checkAndIncVersion`: −1 matches anything; returns the next version.
fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::types::CreateMode;

    #[test]
    fn a_snapshot_copy_has_the_nodes_and_no_watches() {
        let mut t = DataTree::new();
        t.get_children("/zookeeper", Some(S1));
        t.get_data("/zookeeper", Some(S2));
        assert_eq!(t.watches().count(), 2);
        let copy = t.snapshot_copy();
        assert_eq!(copy.watches().count(), 0);
        assert_eq!(copy.nodes(), t.nodes());
        assert_eq!(copy.digest(), t.digest());
        // What serialization keeps, exactly.
        let bytes = postcard::to_allocvec(&t).expect("trees serialize");
        let back: DataTree = postcard::from_bytes(&bytes).expect("and deserialize");
        assert_eq!(back, copy);
    }

    const S1: SessionId = 0x0100_0000_0001_0000;
    const S2: SessionId = 0x0100_0000_0001_0001;

    /// A leader that prepares, proposes and applies each request at once (or on demand),
    /// with zxids from epoch 1 and a clock that advances 10 ms per txn.
    struct Leader {
        tree: DataTree,
        prep: Prep,
        counter: u32,
        unapplied: Vec<Txn>,
    }

    impl Leader {
        fn new() -> Leader {
            Leader {
                tree: DataTree::new(),
                prep: Prep::new(),
                counter: 0,
                unapplied: Vec::new(),
            }
        }

        fn header(&mut self, session: SessionId) -> TxnHeader {
            self.counter += 1;
            TxnHeader {
                session,
                cxid: self.counter as i64,
                zxid: Zxid::new(1, self.counter),
                time_ms: 10 * self.counter as i64,
            }
        }

        /// Prepares without applying (a pipelined proposal).
        fn propose(&mut self, session: SessionId, op: ZkOp) -> Txn {
            let h = self.header(session);
            let txn = self.prep.prep(&self.tree, Ok(()), h, &op);
            self.unapplied.push(txn.clone());
            txn
        }

        /// Applies every proposed txn in order; returns the last one's result.
        fn commit_all(&mut self) -> Vec<Applied> {
            let txns = std::mem::take(&mut self.unapplied);
            txns.iter()
                .map(|t| {
                    let a = self.tree.apply(t);
                    self.prep.applied(t.zxid());
                    a
                })
                .collect()
        }

        fn write(&mut self, session: SessionId, op: ZkOp) -> Applied {
            self.propose(session, op);
            self.commit_all().pop().expect("one txn")
        }

        fn session(&mut self, session: SessionId, timeout_ms: i64) {
            let h = self.header(session);
            let txn = self.prep.prep_create_session(h, timeout_ms);
            self.tree.apply(&txn);
        }

        fn close(&mut self, session: SessionId) -> Applied {
            let h = self.header(session);
            let txn = self.prep.prep_close_session(&self.tree, h);
            self.unapplied.push(txn);
            self.commit_all().pop().expect("one txn")
        }
    }

    fn create(path: &str) -> ZkOp {
        ZkOp::Create {
            path: path.into(),
            data: Some(path.as_bytes().to_vec()),
            mode: CreateMode::PERSISTENT,
        }
    }
    fn create_mode(path: &str, mode: CreateMode) -> ZkOp {
        ZkOp::Create {
            path: path.into(),
            data: None,
            mode,
        }
    }
    fn delete(path: &str, version: i32) -> ZkOp {
        ZkOp::Delete {
            path: path.into(),
            version,
        }
    }
    fn set(path: &str, data: &str, version: i32) -> ZkOp {
        ZkOp::SetData {
            path: path.into(),
            data: data.as_bytes().to_vec(),
            version,
        }
    }
    fn check(path: &str, version: i32) -> ZkOp {
        ZkOp::Check {
            path: path.into(),
            version,
        }
    }
    fn created(path: &str) -> ZkResponse {
        ZkResponse::Created { path: path.into() }
    }
    fn err(code: ErrorCode) -> ZkResponse {
        ZkResponse::Error(code)
    }
    fn ev(session: SessionId, path: &str, event_type: EventType) -> WatchEvent {
        WatchEvent {
            session,
            path: path.into(),
            event_type,
        }
    }

    #[test]
    fn initial_tree() {
        let mut l = Leader::new();
        assert_eq!(l.tree.node_count(), 5);
        assert_eq!(
            l.tree.stat("/").map(|s| (s.cversion, s.num_children)),
            Some((-1, 1))
        );
        assert_eq!(
            l.tree
                .stat("/zookeeper")
                .map(|s| (s.cversion, s.num_children)),
            Some((-2, 2))
        );
        assert_eq!(
            l.tree.children("/zookeeper"),
            Some(vec!["config".to_string(), "quota".to_string()])
        );
        assert_eq!(
            l.tree.get_data("/", None),
            ZkResponse::Data {
                data: Some(vec![]),
                stat: l.tree.stat("/").unwrap()
            }
        );
        l.session(S1, 30_000);
        assert_eq!(
            l.write(S1, create("/")).response,
            err(ErrorCode::NodeExists)
        );
        for p in SPECIAL_PATHS {
            assert_eq!(
                l.write(S1, delete(p, -1)).response,
                err(ErrorCode::BadArguments),
                "{p}"
            );
        }
        assert_eq!(l.write(S1, create("/a")).response, created("/a"));
        assert_eq!(l.tree.stat("/").map(|s| s.cversion), Some(0));
        assert_eq!(l.tree.node_count(), 6);
    }

    /// Reference §4: "create /p, /p/x, then `create -s /p/s` → `/p/s0000000001`".
    #[test]
    fn sequential_names_come_from_the_parents_create_counter() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        let table: &[(ZkOp, ZkResponse)] = &[
            (create("/p"), created("/p")),
            (create("/p/x"), created("/p/x")),
            (
                create_mode("/p/s", CreateMode::PERSISTENT_SEQUENTIAL),
                created("/p/s0000000001"),
            ),
            (delete("/p/x", -1), ZkResponse::Deleted),
            // Deletes never lower the counter.
            (
                create_mode("/p/s", CreateMode::EPHEMERAL_SEQUENTIAL),
                created("/p/s0000000002"),
            ),
            (create("/q"), created("/q")),
            (
                create_mode("/q/", CreateMode::PERSISTENT_SEQUENTIAL),
                created("/q/0000000000"),
            ),
            // A failed create (already exists) does not count.
            (create("/q/0000000000"), err(ErrorCode::NodeExists)),
            (
                create_mode("/q/", CreateMode::PERSISTENT_SEQUENTIAL),
                created("/q/0000000001"),
            ),
        ];
        for (op, want) in table {
            assert_eq!(&l.write(S1, op.clone()).response, want, "{op:?}");
        }
    }

    #[test]
    fn sequential_names_see_pending_creates() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.write(S1, create("/p"));
        let seq = || create_mode("/p/s", CreateMode::PERSISTENT_SEQUENTIAL);
        let a = l.propose(S1, seq());
        let b = l.propose(S1, seq());
        let paths: Vec<String> = [a, b]
            .iter()
            .map(|t| match &t.body {
                TxnBody::Create {
                    path,
                    parent_cversion,
                    ..
                } => format!("{path}@{parent_cversion}"),
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(paths, ["/p/s0000000000@1", "/p/s0000000001@2"]);
        assert_eq!(l.prep.outstanding(), 4);
        let results: Vec<_> = l.commit_all().into_iter().map(|a| a.response).collect();
        assert_eq!(
            results,
            [created("/p/s0000000000"), created("/p/s0000000001")]
        );
        assert_eq!(l.prep.outstanding(), 0);
    }

    #[test]
    fn stat_rules_for_create_set_and_delete() {
        let mut l = Leader::new();
        l.session(S1, 30_000); // zxid 1
        l.write(S1, create("/p")); // zxid 2, time 20
        let z = |c| Zxid::new(1, c).0;
        let p = l.tree.stat("/p").unwrap();
        assert_eq!(
            p,
            Stat {
                czxid: z(2),
                mzxid: z(2),
                ctime: 20,
                mtime: 20,
                version: 0,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: 0,
                data_length: 2,
                num_children: 0,
                pzxid: z(2)
            }
        );
        l.write(S1, create_mode("/p/a", CreateMode::EPHEMERAL)); // zxid 3
        let a = l.tree.stat("/p/a").unwrap();
        assert_eq!((a.ephemeral_owner, a.data_length), (S1, 0));
        assert_eq!(
            l.tree.get_data("/p/a", None),
            ZkResponse::Data {
                data: None,
                stat: a
            }
        );
        let p = l.tree.stat("/p").unwrap();
        assert_eq!(
            (p.cversion, p.num_children, p.pzxid, p.mzxid),
            (1, 1, z(3), z(2))
        );
        assert_eq!(
            l.write(S1, set("/p", "xyz", 0)).response,
            ZkResponse::Stat(l.tree.stat("/p").unwrap())
        ); // 4
        let p = l.tree.stat("/p").unwrap();
        assert_eq!(
            (p.version, p.mzxid, p.mtime, p.data_length, p.pzxid),
            (1, z(4), 40, 3, z(3))
        );
        l.write(S1, delete("/p/a", -1)); // zxid 5
        let p = l.tree.stat("/p").unwrap();
        // Visible cversion counts creates plus deletes: 2 × 1 − 0.
        assert_eq!(
            (p.cversion, p.num_children, p.pzxid, p.mzxid),
            (2, 0, z(5), z(4))
        );
        assert_eq!(l.tree.node("/p").unwrap().stat.cversion, 1);
        assert!(l.tree.ephemerals(S1).is_empty());
        assert_eq!(l.tree.last_processed_zxid(), Zxid::new(1, 5));
    }

    #[test]
    fn check_order_and_error_codes() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        let table: &[(ZkOp, ZkResponse)] = &[
            (create("/a"), created("/a")),
            (create("/a/b"), created("/a/b")),
            (create("/a"), err(ErrorCode::NodeExists)),
            (create("/x/y"), err(ErrorCode::NoNode)),
            (create("a"), err(ErrorCode::BadArguments)),
            (create("/a/"), err(ErrorCode::BadArguments)),
            // Parent check comes before path validation: "/x/" with missing /x is NoNode.
            (create("/x/"), err(ErrorCode::NoNode)),
            (create("/a/.."), err(ErrorCode::BadArguments)),
            // ... but a bad parent part is just a missing parent.
            (create("/a/../c"), err(ErrorCode::NoNode)),
            (create_mode("/e", CreateMode::EPHEMERAL), created("/e")),
            (create("/e/c"), err(ErrorCode::NoChildrenForEphemerals)),
            // NodeExists is checked before the ephemeral parent.
            (create("/e"), err(ErrorCode::NodeExists)),
            (delete("/a", -1), err(ErrorCode::NotEmpty)),
            // Version is checked before children.
            (delete("/a", 3), err(ErrorCode::BadVersion)),
            (delete("/nope", -1), err(ErrorCode::NoNode)),
            (delete("/nope/x", -1), err(ErrorCode::NoNode)),
            (set("/nope", "v", -1), err(ErrorCode::NoNode)),
            (set("/a", "v", 5), err(ErrorCode::BadVersion)),
            (set("/a", "v", 0), ZkResponse::Stat(Stat::default())), // stat checked below
            (set("/a", "w", 0), err(ErrorCode::BadVersion)),
            (delete("/a/b", 0), ZkResponse::Deleted),
            (delete("/a", 0), err(ErrorCode::BadVersion)),
            (delete("/a", 1), ZkResponse::Deleted),
            (check("/e", 0), ZkResponse::Checked),
            (check("/e", 1), err(ErrorCode::BadVersion)),
        ];
        for (op, want) in table {
            let before = l.tree.last_processed_zxid();
            let got = l.write(S1, op.clone());
            match (want, &got.response) {
                (ZkResponse::Stat(_), ZkResponse::Stat(s)) => assert_eq!(s.version, 1),
                _ => assert_eq!(&got.response, want, "{op:?}"),
            }
            assert!(got.tree_error.is_none(), "{op:?}");
            // Every write, failed or not, consumes a zxid.
            assert_eq!(l.tree.last_processed_zxid().0, before.0 + 1, "{op:?}");
        }
    }

    #[test]
    fn session_checks_come_first() {
        let mut l = Leader::new();
        let h = l.header(S1);
        let txn = l
            .prep
            .prep(&l.tree, Err(ErrorCode::SessionExpired), h, &create("/a"));
        assert_eq!(
            txn.body,
            TxnBody::Error {
                code: ErrorCode::SessionExpired
            }
        );
        let h = l.header(S1);
        let txn = l.prep.prep(
            &l.tree,
            Err(ErrorCode::UnknownSession),
            h,
            &ZkOp::Multi(vec![create("/a"), create("/b")]),
        );
        assert_eq!(
            txn.body,
            TxnBody::Multi(vec![
                TxnBody::Error {
                    code: ErrorCode::UnknownSession
                },
                TxnBody::Error {
                    code: ErrorCode::RuntimeInconsistency
                },
            ])
        );
        assert_eq!(l.prep.outstanding(), 0);
    }

    #[test]
    fn multi_success_returns_each_result() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.write(S1, create("/a"));
        let got = l.write(
            S1,
            ZkOp::Multi(vec![
                create("/m"),
                create_mode("/m/s", CreateMode::PERSISTENT_SEQUENTIAL),
                set("/a", "v", 0),
                check("/a", 1),
                delete("/m/s0000000000", 0),
            ]),
        );
        let a = l.tree.stat("/a").unwrap();
        assert_eq!(
            got.response,
            ZkResponse::Multi(vec![
                OpResult::Created { path: "/m".into() },
                OpResult::Created {
                    path: "/m/s0000000000".into()
                },
                OpResult::SetData(a.clone()),
                OpResult::Checked,
                OpResult::Deleted,
            ])
        );
        assert_eq!(
            a.mzxid,
            l.tree.stat("/m").unwrap().czxid,
            "one zxid for the whole multi"
        );
        assert_eq!(
            l.tree.stat("/m").map(|s| (s.cversion, s.num_children)),
            Some((2, 0))
        );
    }

    #[test]
    fn failed_multi_changes_nothing_and_reports_per_op_codes() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.write(S1, create("/a"));
        let digest = l.tree.nodes_digest();
        let op = ZkOp::Multi(vec![create("/m"), set("/a", "v", 7), delete("/a", -1)]);
        let h = l.header(S1);
        let txn = l.prep.prep(&l.tree, Ok(()), h, &op);
        // As the real MultiTxn: prepared ops before the failure, then error txns.
        assert!(matches!(&txn.body, TxnBody::Multi(b) if matches!(b[0], TxnBody::Create { .. })));
        assert_eq!(
            l.prep.outstanding(),
            0,
            "the failed multi's records are rolled back"
        );
        let got = l.tree.apply(&txn);
        assert_eq!(
            got.response,
            ZkResponse::Multi(vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::BadVersion),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
            ])
        );
        assert_eq!(got.response.error(), Some(ErrorCode::BadVersion));
        assert_eq!(got.tree_error, None);
        assert_eq!(l.tree.nodes_digest(), digest);
        assert_eq!(l.tree.last_processed_zxid(), txn.zxid());
        // A later create of /m succeeds: nothing was left pending.
        assert_eq!(l.write(S1, create("/m")).response, created("/m"));
    }

    /// ZOOKEEPER-1624: a failed multi with a sequential create must restore the parent's
    /// pending record, so the next sequential name follows the pending one.
    #[test]
    fn failed_multi_rolls_back_parent_records() {
        for (flag, want) in [
            (false, created("/p/s0000000001")),
            (true, err(ErrorCode::NodeExists)),
        ] {
            let mut l = Leader::new();
            l.prep = Prep::with_flags(PrepFlags {
                zk1624_no_parent_rollback: flag,
            });
            l.session(S1, 30_000);
            l.write(S1, create("/p"));
            let seq = || create_mode("/p/s", CreateMode::PERSISTENT_SEQUENTIAL);
            l.propose(S1, seq()); // /p/s0000000000, pending
            let failed = l.propose(S1, ZkOp::Multi(vec![seq(), check("/missing", -1)]));
            assert!(!failed.is_effective());
            l.propose(S1, seq());
            let results: Vec<_> = l.commit_all().into_iter().map(|a| a.response).collect();
            assert_eq!(results[0], created("/p/s0000000000"));
            assert_eq!(results[2], want, "flag {flag}");
        }
    }

    #[test]
    fn pending_delete_then_create_in_pipeline() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.write(S1, create("/a"));
        l.write(S1, create("/a/b"));
        l.propose(S1, delete("/a/b", -1));
        l.propose(S1, delete("/a", -1)); // sees the pending delete: not NotEmpty
        l.propose(S1, create("/a")); // sees the pending delete of /a
        l.propose(S1, delete("/a/b", -1)); // NoNode: pending delete
        let results: Vec<_> = l.commit_all().into_iter().map(|a| a.response).collect();
        assert_eq!(
            results,
            [
                ZkResponse::Deleted,
                ZkResponse::Deleted,
                created("/a"),
                err(ErrorCode::NoNode)
            ]
        );
    }

    #[test]
    fn one_shot_watches() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.session(S2, 30_000);
        // exists on a missing node watches for its creation.
        assert_eq!(l.tree.exists("/a", Some(S2)), ZkResponse::Exists(None));
        assert_eq!(l.tree.get_children("/", Some(S2)).error(), None);
        assert_eq!(l.tree.get_data("/nope", Some(S2)), err(ErrorCode::NoNode));
        assert_eq!(
            l.tree.get_children("/nope", Some(S2)),
            err(ErrorCode::NoNode)
        );
        assert_eq!(l.tree.watches().count(), 2, "failed reads leave no watch");
        let got = l.write(S1, create("/a"));
        assert_eq!(
            got.watches,
            [
                ev(S2, "/a", EventType::NodeCreated),
                ev(S2, "/", EventType::NodeChildrenChanged)
            ]
        );
        assert_eq!(
            l.write(S1, create("/b")).watches,
            Vec::<WatchEvent>::new(),
            "one-shot"
        );
        // Two registrations of the same kind give one event.
        l.tree.get_data("/a", Some(S2));
        l.tree.exists("/a", Some(S2));
        l.tree.get_data("/a", Some(S1));
        assert_eq!(
            l.write(S1, set("/a", "x", -1)).watches,
            [
                ev(S1, "/a", EventType::NodeDataChanged),
                ev(S2, "/a", EventType::NodeDataChanged)
            ]
        );
        // Delete: data and child watches on the node give one NodeDeleted per session.
        l.tree.get_data("/a", Some(S2));
        l.tree.get_children("/a", Some(S2));
        l.tree.get_children("/", Some(S1));
        assert_eq!(
            l.write(S1, delete("/a", -1)).watches,
            [
                ev(S2, "/a", EventType::NodeDeleted),
                ev(S1, "/", EventType::NodeChildrenChanged)
            ]
        );
        assert_eq!(l.tree.watches().count(), 0);
        // Failed writes fire nothing.
        l.tree.exists("/b", Some(S2));
        assert_eq!(
            l.write(S1, set("/b", "x", 9)).watches,
            Vec::<WatchEvent>::new()
        );
        assert_eq!(l.tree.watches().count(), 1);
    }

    #[test]
    fn close_session_removes_ephemerals_and_fires_watches() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.session(S2, 30_000);
        l.write(S1, create("/p"));
        l.write(S1, create_mode("/p/e1", CreateMode::EPHEMERAL));
        l.write(S2, create_mode("/p/other", CreateMode::EPHEMERAL));
        l.write(S1, create_mode("/e2", CreateMode::EPHEMERAL));
        l.tree.exists("/p/e1", Some(S2));
        l.tree.get_children("/p", Some(S2));
        l.tree.get_data("/p", Some(S1));
        // A pending ephemeral create is listed too; a pending delete is not.
        l.propose(S1, create_mode("/e3", CreateMode::EPHEMERAL));
        l.propose(S1, delete("/e2", -1));
        let h = l.header(S1);
        let close = l.prep.prep_close_session(&l.tree, h);
        assert_eq!(
            close.body,
            TxnBody::CloseSession {
                ephemerals: vec!["/e3".into(), "/p/e1".into()]
            }
        );
        l.unapplied.push(close);
        let applied = l.commit_all();
        let last = applied.last().unwrap();
        assert_eq!(last.response, ZkResponse::SessionClosed);
        assert_eq!(
            last.watches,
            [
                ev(S2, "/p/e1", EventType::NodeDeleted),
                ev(S2, "/p", EventType::NodeChildrenChanged)
            ]
        );
        assert!(
            l.tree.node("/e3").is_none()
                && l.tree.node("/p/e1").is_none()
                && l.tree.node("/e2").is_none()
        );
        assert!(l.tree.node("/p/other").is_some());
        assert!(!l.tree.sessions().contains_key(&S1));
        assert!(l.tree.ephemerals(S1).is_empty());
        assert_eq!(
            l.tree.watches().watches_of(S1),
            (vec![], vec![]),
            "the closed session's watches are gone"
        );
        assert_eq!(l.tree.ephemerals_count(), 1);
        assert_eq!(l.close(S2).response, ZkResponse::SessionClosed);
        assert_eq!(l.tree.ephemerals_count(), 0);
        assert!(l.tree.sessions().is_empty());
    }

    #[test]
    fn close_session_deletes_ephemerals_the_txn_missed() {
        let mut t = DataTree::new();
        let h = |c, session| TxnHeader {
            session,
            cxid: 0,
            zxid: Zxid::new(1, c),
            time_ms: 0,
        };
        t.apply(&Txn {
            header: h(1, S1),
            body: TxnBody::CreateSession { timeout_ms: 4000 },
        });
        let body = TxnBody::Create {
            path: "/e".into(),
            data: None,
            ephemeral_owner: S1,
            parent_cversion: 1,
        };
        t.apply(&Txn {
            header: h(2, S1),
            body,
        });
        let got = t.apply(&Txn {
            header: h(3, S1),
            body: TxnBody::CloseSession {
                ephemerals: vec!["/gone".into()],
            },
        });
        assert_eq!(got.tree_error, None, "NoNode while closing is ignored");
        assert!(t.node("/e").is_none());
        assert_eq!(t.stat("/").map(|s| s.pzxid), Some(Zxid::new(1, 3).0));
    }

    /// Replaying a create over a fuzzy snapshot that already has the node restores the
    /// parent's counter from the txn (ZOOKEEPER-1046); the flag re-introduces the bug.
    #[test]
    fn replay_of_existing_create_restores_the_parent_counter() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.write(S1, create("/p"));
        let seq = || create_mode("/p/s", CreateMode::PERSISTENT_SEQUENTIAL);
        let t1 = l.propose(S1, seq());
        let t2 = l.propose(S1, delete("/p/s0000000000", -1));
        let t3 = l.propose(S1, seq());
        l.commit_all();
        let live = l.tree.clone();
        assert_eq!(live.node("/p").unwrap().stat.cversion, 2);
        for (flag, counter) in [(false, 2), (true, 3)] {
            let mut tree = live.clone();
            // Fuzzy snapshot: it already holds t1..t3's effects, but its zxid says "before
            // t1", so t1..t3 are replayed on top of it.
            let flags = TreeFlags {
                zk1046_replay_increments_counter: flag,
            };
            assert_eq!(tree.replay(&t1, flags), None);
            assert_eq!(tree.replay(&t2, flags), None);
            assert_eq!(tree.replay(&t3, flags), Some(ErrorCode::NodeExists));
            assert_eq!(
                tree.node("/p").unwrap().stat.cversion,
                counter,
                "flag {flag}"
            );
            assert_eq!(tree == live, !flag);
        }
    }

    #[test]
    fn replaying_the_whole_log_is_idempotent() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        let ops = [
            create("/a"),
            create_mode("/a/e", CreateMode::EPHEMERAL),
            set("/a", "1", -1),
            create("/b"),
            delete("/b", -1),
        ];
        let mut log = Vec::new();
        for op in ops {
            log.push(l.propose(S1, op));
            l.commit_all();
        }
        let mut again = l.tree.clone();
        for t in &log {
            again.replay(t, TreeFlags::default());
        }
        assert_eq!(again.nodes_digest(), l.tree.nodes_digest());
        // Snapshot round trip (postcard) keeps the tree and session table.
        let bytes = postcard::to_allocvec(&l.tree).expect("encode");
        let back: DataTree = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back, l.tree);
        assert_eq!(back.digest(), l.tree.digest());
        assert_ne!(back.digest(), DataTree::new().digest());
    }

    #[test]
    fn read_dispatch_and_counters() {
        let mut l = Leader::new();
        l.session(S1, 30_000);
        l.write(S1, create("/a"));
        assert_eq!(
            l.tree.read(
                S1,
                &ZkOp::GetChildren {
                    path: "/".into(),
                    watch: true
                }
            ),
            ZkResponse::Children {
                children: vec!["a".into(), "zookeeper".into()],
                stat: l.tree.stat("/").unwrap()
            }
        );
        assert_eq!(
            l.tree.read(
                S1,
                &ZkOp::Sync {
                    path: "/nope".into()
                }
            ),
            ZkResponse::Synced {
                path: "/nope".into()
            }
        );
        assert_eq!(l.tree.watches().count(), 1);
        // "" + "/" + "/zookeeper" + "/zookeeper/quota" + "/zookeeper/config" + "/a"(2 + 2 bytes).
        assert_eq!(
            l.tree.approximate_data_size(),
            (1 + 10 + 16 + 17 + 4) as u64
        );
        l.tree.remove_watches(S1);
        assert_eq!(l.tree.watches().count(), 0);
    }

    /// A random valid-looking write against `tree` (creates, sequential creates,
    /// ephemerals, deletes, setData, multis), for the fuzzy snapshot property test.
    fn random_write(rng: &mut rand_chacha::ChaCha8Rng, tree: &DataTree) -> (SessionId, ZkOp) {
        use rand::Rng;
        let paths: Vec<&String> = tree
            .nodes()
            .keys()
            .filter(|p| !SPECIAL_PATHS.contains(&p.as_str()))
            .collect();
        let parents = ["/", "/p", "/q", "/p/a"];
        let session = if rng.random_bool(0.5) { S1 } else { S2 };
        let parent = parents[rng.random_range(0..parents.len())];
        let under = |name: &str| child_path(parent, name);
        let pick = |rng: &mut rand_chacha::ChaCha8Rng| {
            if paths.is_empty() {
                "/p".to_string()
            } else {
                paths[rng.random_range(0..paths.len())].clone()
            }
        };
        let op = match rng.random_range(0..10) {
            0 | 1 => create(&under(["p", "q", "a", "b"][rng.random_range(0..4)])),
            2 | 3 => create_mode(&under("s"), CreateMode::PERSISTENT_SEQUENTIAL),
            4 => create_mode(&under("e"), CreateMode::EPHEMERAL_SEQUENTIAL),
            5 | 6 => delete(&pick(rng), -1),
            7 => set(&pick(rng), "x", -1),
            8 => ZkOp::Multi(vec![
                create_mode(&under("m"), CreateMode::PERSISTENT_SEQUENTIAL),
                delete(&pick(rng), -1),
            ]),
            _ => ZkOp::Multi(vec![create(&under("n")), set(&pick(rng), "y", -1)]),
        };
        (session, op)
    }

    /// Restoring a fuzzy snapshot (walked while random txns keep applying) and replaying
    /// every txn after its name's zxid gives exactly the live tree, Stat and session table
    /// included; with the ZOOKEEPER-1046 flag some runs end with a parent counter above
    /// the live one (never below).
    #[test]
    fn fuzzy_snapshot_plus_replay_is_the_live_tree() {
        use rand::{Rng, SeedableRng};
        let mut diverged = 0;
        let mut hit_node_exists = 0;
        for seed in 0..300u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut l = Leader::new();
            l.session(S1, 30_000);
            l.session(S2, 30_000);
            for _ in 0..rng.random_range(0..30) {
                let (s, op) = random_write(&mut rng, &l.tree);
                l.write(s, op);
            }
            let mut snap = FuzzySnapshot::start(&l.tree, l.tree.last_processed_zxid());
            let mut log: Vec<Txn> = Vec::new();
            let mut done = false;
            while !done {
                for _ in 0..rng.random_range(0..3) {
                    let (s, op) = random_write(&mut rng, &l.tree);
                    log.push(l.propose(s, op));
                    l.commit_all();
                }
                if rng.random_bool(0.15) {
                    // A session closes mid-walk (its ephemerals go).
                    let h = l.header(S2);
                    let close = l.prep.prep_close_session(&l.tree, h);
                    l.unapplied.push(close.clone());
                    l.commit_all();
                    log.push(close);
                    let h = l.header(S2);
                    let open = l.prep.prep_create_session(h, 30_000);
                    l.tree.apply(&open);
                    log.push(open);
                }
                done = snap.walk(&l.tree, rng.random_range(0..3));
            }
            for _ in 0..rng.random_range(0..5) {
                let (s, op) = random_write(&mut rng, &l.tree);
                log.push(l.propose(s, op));
                l.commit_all();
            }
            let base = snap.finish();
            for flag in [false, true] {
                let flags = TreeFlags {
                    zk1046_replay_increments_counter: flag,
                };
                let mut tree = base.clone();
                let mut errors = 0;
                for t in &log {
                    if tree.replay(t, flags) == Some(ErrorCode::NodeExists) {
                        errors += 1;
                    }
                }
                if !flag {
                    hit_node_exists += usize::from(errors > 0);
                    assert_eq!(tree.nodes(), l.tree.nodes(), "seed {seed}: nodes");
                    assert_eq!(
                        tree.all_ephemerals(),
                        l.tree.all_ephemerals(),
                        "seed {seed}"
                    );
                    assert_eq!(tree.sessions(), l.tree.sessions(), "seed {seed}");
                    assert_eq!(tree.last_processed_zxid(), l.tree.last_processed_zxid());
                } else if tree.nodes() != l.tree.nodes() {
                    diverged += 1;
                    for (path, live) in l.tree.nodes() {
                        let got = tree.node(path).expect("same paths");
                        assert!(
                            got.stat.cversion >= live.stat.cversion,
                            "seed {seed} {path}"
                        );
                    }
                }
            }
        }
        assert!(
            hit_node_exists > 30,
            "replay hit NodeExists in {hit_node_exists} runs"
        );
        assert!(diverged > 10, "the 1046 flag diverged in {diverged} runs");
    }
}
