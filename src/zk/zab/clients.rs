//! Client connections and sessions on one server: session create and resume, per-session
//! FIFO order (a read waits behind that session's pending write), local reads, watch
//! notifications before the response that observes the change, and session expiry.

use super::{Database, Out, Output, PeerConfig};
use crate::history::ZkEvent;
use crate::zk::datatree::{Applied, DataTree, EventType};
use crate::zk::ids::{SessionId, Sid, Zxid};
use crate::zk::request::{ZkOp, ZkResponse};
use crate::zk::txn::{Txn, TxnBody};
use crate::zk::types::ErrorCode;
use crate::zk::wire::{ClientMsg, LeaderRequest, ServerMsg, ZkWire};
use kzsim_sim::ConnId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// A request this server hands to the leader.
#[derive(Debug)]
pub(crate) struct Submit {
    pub session: SessionId,
    pub cxid: i64,
    pub op: LeaderRequest,
}

enum Queued {
    Op(ZkOp),
    Close,
}

struct LocalSession {
    conn: ConnId,
    queue: VecDeque<(i64, Queued)>,
    /// The xid of the write, sync or close waiting for the leader.
    in_flight: Option<i64>,
    closing: bool,
}

pub(super) struct Clients {
    sid: Sid,
    conns: BTreeMap<ConnId, Option<SessionId>>,
    sessions: BTreeMap<SessionId, LocalSession>,
    /// New sessions waiting for their createSession to commit: session -> (conn, timeout).
    connecting: BTreeMap<SessionId, (ConnId, u64)>,
    read_only_sessions: BTreeSet<SessionId>,
    touched: BTreeSet<SessionId>,
    submits: Vec<Submit>,
    session_seq: i64,
    session_base: Option<SessionId>,
    /// Test-only mutation: a fired watch is registered again (see `ZkBugs`).
    mutation_watch_stays: bool,
    /// Test-only mutation: notifications wait for the next applied transaction.
    mutation_notice_late: bool,
    /// Notifications held back by `mutation_notice_late`: (session, path, event, zxid).
    late_notices: Vec<(SessionId, String, EventType, Zxid)>,
    /// The held-back notices to send once the current transaction is answered.
    late_flush: Vec<(SessionId, String, EventType, Zxid)>,
}

impl Clients {
    pub(super) fn new(sid: Sid) -> Self {
        Clients {
            sid,
            conns: BTreeMap::new(),
            sessions: BTreeMap::new(),
            connecting: BTreeMap::new(),
            read_only_sessions: BTreeSet::new(),
            touched: BTreeSet::new(),
            submits: Vec::new(),
            session_seq: 0,
            session_base: None,
            mutation_watch_stays: false,
            mutation_notice_late: false,
            late_notices: Vec::new(),
            late_flush: Vec::new(),
        }
    }

    /// Turns on the test-only watch mutations (`ZkBugs::test_watch_stays_after_firing`,
    /// `ZkBugs::test_watch_notice_one_txn_late`).
    pub(super) fn with_mutations(mut self, watch_stays: bool, notice_late: bool) -> Self {
        self.mutation_watch_stays = watch_stays;
        self.mutation_notice_late = notice_late;
        self
    }

    /// Sends one watch notification to `session` (if connected here) and records it.
    fn notify(&self, session: SessionId, path: &str, event: EventType, zxid: Zxid, out: &mut Out) {
        if let Some(ls) = self.sessions.get(&session) {
            Self::reply(
                out,
                ls.conn,
                ServerMsg::Watch {
                    path: path.to_string(),
                    event,
                    zxid,
                },
            );
            out.record(ZkEvent::WatchFired {
                session,
                path: path.to_string(),
                event: format!("{event:?}"),
                zxid: zxid.0,
            });
        }
    }

    pub(super) fn outstanding(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.in_flight.is_some())
            .count()
    }

    pub(super) fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Sessions whose clients were active since the last call.
    pub(super) fn take_touched(&mut self) -> Vec<SessionId> {
        std::mem::take(&mut self.touched).into_iter().collect()
    }

    /// Requests to hand to the leader, in arrival order.
    pub(super) fn take_submits(&mut self) -> Vec<Submit> {
        std::mem::take(&mut self.submits)
    }

    fn reply(out: &mut Out, conn: ConnId, msg: ServerMsg) {
        out.push(Output::Send {
            conn,
            msg: ZkWire::Server(msg),
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_message(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        msg: ClientMsg,
        serving: bool,
        read_only: bool,
        cfg: &PeerConfig,
        db: &mut Database,
        out: &mut Out,
    ) {
        match msg {
            ClientMsg::Connect {
                session,
                timeout_ms,
                last_zxid_seen,
                read_only_ok,
            } => {
                if !serving || (read_only && !read_only_ok) {
                    Self::reply(
                        out,
                        conn,
                        ServerMsg::Refused {
                            reason: "This ZooKeeper instance is not currently serving requests"
                                .into(),
                        },
                    );
                    out.push(Output::Close { conn });
                    return;
                }
                if last_zxid_seen > db.last_processed {
                    let reason = format!(
                        "client has seen zxid {last_zxid_seen}, our last zxid is {}",
                        db.last_processed
                    );
                    Self::reply(out, conn, ServerMsg::Refused { reason });
                    out.push(Output::Close { conn });
                    return;
                }
                let timeout = crate::zk::session::negotiate(
                    timeout_ms as i64,
                    cfg.min_session_ms as i64,
                    cfg.max_session_ms as i64,
                ) as u64;
                match session {
                    None => {
                        self.session_seq += 1;
                        // The first id of this server life comes from its sid and clock; later
                        // ones count up from it (SessionTrackerImpl.initializeNextSessionId).
                        let base = *self.session_base.get_or_insert_with(|| {
                            crate::zk::session::initial_session_id(self.sid, now_ms as i64)
                        });
                        let id = base + self.session_seq;
                        self.conns.insert(conn, Some(id));
                        if read_only {
                            // Read-only servers hand out local sessions only.
                            self.read_only_sessions.insert(id);
                            self.open_session(id, conn);
                            Self::reply(
                                out,
                                conn,
                                ServerMsg::Connected {
                                    session: id,
                                    timeout_ms: timeout,
                                    read_only: true,
                                },
                            );
                        } else {
                            self.connecting.insert(id, (conn, timeout));
                            self.submits.push(Submit {
                                session: id,
                                cxid: 0,
                                op: LeaderRequest::CreateSession {
                                    timeout_ms: timeout,
                                },
                            });
                        }
                    }
                    Some(id) => {
                        let known = db.tree.sessions().get(&id).copied();
                        match known {
                            Some(t) if !read_only => {
                                self.conns.insert(conn, Some(id));
                                if let Some(old) = self.sessions.get(&id).map(|s| s.conn) {
                                    if old != conn {
                                        self.conns.remove(&old);
                                        out.push(Output::Close { conn: old });
                                        // The old connection's watches go with it; the
                                        // client re-sends its own with SetWatches.
                                        db.tree.remove_watches(id);
                                    }
                                }
                                self.open_session(id, conn);
                                self.touched.insert(id);
                                Self::reply(
                                    out,
                                    conn,
                                    ServerMsg::Connected {
                                        session: id,
                                        timeout_ms: t as u64,
                                        read_only: false,
                                    },
                                );
                            }
                            Some(_) => {
                                // Global sessions may not move to a read-only server.
                                Self::reply(out, conn, ServerMsg::Refused { reason: "read-only server: global sessions cannot reconnect here".into() });
                                out.push(Output::Close { conn });
                            }
                            None => {
                                Self::reply(out, conn, ServerMsg::SessionExpired { session: id });
                                out.push(Output::Close { conn });
                            }
                        }
                    }
                }
            }
            ClientMsg::Request { xid, op } => {
                let Some(Some(s)) = self.conns.get(&conn).copied() else {
                    out.push(Output::Close { conn });
                    return;
                };
                self.touched.insert(s);
                if let Some(ls) = self.sessions.get_mut(&s) {
                    ls.queue.push_back((xid, Queued::Op(op)));
                    self.pump(s, read_only, db, out);
                }
            }
            ClientMsg::SetWatches {
                relative_zxid,
                data,
                exist,
                child,
            } => {
                if let Some(Some(s)) = self.conns.get(&conn).copied() {
                    self.set_watches(s, conn, relative_zxid, &data, &exist, &child, db, out);
                }
            }
            ClientMsg::Ping => {
                if let Some(Some(s)) = self.conns.get(&conn).copied() {
                    self.touched.insert(s);
                    Self::reply(out, conn, ServerMsg::Pong);
                }
            }
            ClientMsg::Close { xid } => {
                if let Some(Some(s)) = self.conns.get(&conn).copied() {
                    if let Some(ls) = self.sessions.get_mut(&s) {
                        ls.queue.push_back((xid, Queued::Close));
                        self.pump(s, read_only, db, out);
                    }
                }
            }
        }
    }

    /// Re-registers a reconnected session's watches (DataTree.setWatches): a watch whose
    /// node changed after `rel` fires at once, the others are set on this server.
    #[allow(clippy::too_many_arguments)]
    fn set_watches(
        &mut self,
        s: SessionId,
        conn: ConnId,
        rel: Zxid,
        data: &[String],
        exist: &[String],
        child: &[String],
        db: &mut Database,
        out: &mut Out,
    ) {
        let zxid = db.last_processed;
        let fire = |path: &str, event: EventType, out: &mut Out| {
            Self::reply(
                out,
                conn,
                ServerMsg::Watch {
                    path: path.to_string(),
                    event,
                    zxid,
                },
            );
            out.record(ZkEvent::WatchFired {
                session: s,
                path: path.to_string(),
                event: format!("{event:?}"),
                zxid: zxid.0,
            });
        };
        // (data, exist, child) watches set again without firing.
        let mut restored: (Vec<String>, Vec<String>, Vec<String>) = Default::default();
        for p in data {
            match db.tree.stat(p) {
                None => fire(p, EventType::NodeDeleted, out),
                Some(st) if st.mzxid > rel.0 => fire(p, EventType::NodeDataChanged, out),
                Some(_) => {
                    db.tree.get_data(p, Some(s));
                    restored.0.push(p.clone());
                }
            }
        }
        for p in exist {
            match db.tree.stat(p) {
                Some(_) => fire(p, EventType::NodeCreated, out),
                None => {
                    db.tree.exists(p, Some(s));
                    restored.1.push(p.clone());
                }
            }
        }
        for p in child {
            match db.tree.stat(p) {
                None => fire(p, EventType::NodeDeleted, out),
                Some(st) if st.pzxid > rel.0 => fire(p, EventType::NodeChildrenChanged, out),
                Some(_) => {
                    db.tree.get_children(p, Some(s));
                    restored.2.push(p.clone());
                }
            }
        }
        if !(restored.0.is_empty() && restored.1.is_empty() && restored.2.is_empty()) {
            out.record(ZkEvent::WatchesRestored {
                session: s,
                zxid: zxid.0,
                data: restored.0,
                exist: restored.1,
                child: restored.2,
            });
        }
    }

    fn open_session(&mut self, id: SessionId, conn: ConnId) {
        let ls = self.sessions.entry(id).or_insert(LocalSession {
            conn,
            queue: VecDeque::new(),
            in_flight: None,
            closing: false,
        });
        ls.conn = conn;
    }

    /// Serves the session's queue in order: reads at once from the local tree, until a
    /// write, sync or close must wait for the leader.
    fn pump(&mut self, s: SessionId, read_only: bool, db: &mut Database, out: &mut Out) {
        let local_only = self.read_only_sessions.contains(&s);
        let Some(ls) = self.sessions.get_mut(&s) else {
            return;
        };
        while ls.in_flight.is_none() {
            let Some((xid, q)) = ls.queue.pop_front() else {
                break;
            };
            match q {
                Queued::Op(op) if op.is_read() => {
                    let response = db.tree.read(s, &op);
                    Self::reply(
                        out,
                        ls.conn,
                        ServerMsg::Response {
                            xid,
                            zxid: db.last_processed,
                            response,
                        },
                    );
                }
                Queued::Op(_) | Queued::Close if read_only || local_only => {
                    let response = ZkResponse::Error(ErrorCode::NotReadOnly);
                    Self::reply(
                        out,
                        ls.conn,
                        ServerMsg::Response {
                            xid,
                            zxid: db.last_processed,
                            response,
                        },
                    );
                }
                Queued::Op(op) => {
                    ls.in_flight = Some(xid);
                    self.submits.push(Submit {
                        session: s,
                        cxid: xid,
                        op: LeaderRequest::Op(op),
                    });
                }
                Queued::Close => {
                    ls.in_flight = Some(xid);
                    ls.closing = true;
                    self.submits.push(Submit {
                        session: s,
                        cxid: xid,
                        op: LeaderRequest::CloseSession,
                    });
                }
            }
        }
    }

    /// A committed transaction was applied: notify watchers first, then answer the client
    /// that sent it (if it is connected here).
    pub(super) fn on_applied(
        &mut self,
        txn: &Arc<Txn>,
        applied: Applied,
        zxid: Zxid,
        db: &mut Database,
        out: &mut Out,
    ) {
        self.apply_and_answer(txn, applied, zxid, db, out);
        for (session, path, event, z) in std::mem::take(&mut self.late_flush) {
            self.notify(session, &path, event, z, out);
        }
    }

    fn apply_and_answer(
        &mut self,
        txn: &Arc<Txn>,
        applied: Applied,
        zxid: Zxid,
        db: &mut Database,
        out: &mut Out,
    ) {
        let notices: Vec<(SessionId, String, EventType, Zxid)> = applied
            .watches
            .iter()
            .map(|w| (w.session, w.path.clone(), w.event_type, zxid))
            .collect();
        if self.mutation_notice_late {
            // Test-only: this transaction's notices wait; the previous one's go out after
            // this one's replies (see `on_applied`): one transaction late.
            let late = std::mem::replace(&mut self.late_notices, notices);
            self.late_flush = late;
        } else {
            for (session, path, event, z) in &notices {
                self.notify(*session, path, *event, *z, out);
            }
        }
        if self.mutation_watch_stays {
            // Test-only: the fired watches are set again, as if never consumed.
            for w in &applied.watches {
                match w.event_type {
                    EventType::NodeDataChanged | EventType::NodeCreated => {
                        db.tree.get_data(&w.path, Some(w.session));
                    }
                    EventType::NodeChildrenChanged => {
                        db.tree.get_children(&w.path, Some(w.session));
                    }
                    EventType::NodeDeleted => {}
                }
            }
        }
        let s = txn.header.session;
        match &txn.body {
            TxnBody::CreateSession { timeout_ms } => {
                out.record(ZkEvent::SessionCreated {
                    session: s,
                    timeout_ms: *timeout_ms as u64,
                });
                if let Some((conn, timeout)) = self.connecting.remove(&s) {
                    if self.conns.contains_key(&conn) {
                        self.open_session(s, conn);
                        Self::reply(
                            out,
                            conn,
                            ServerMsg::Connected {
                                session: s,
                                timeout_ms: timeout,
                                read_only: false,
                            },
                        );
                    }
                }
                return;
            }
            TxnBody::CloseSession { .. } => {
                if let Some(ls) = self.sessions.remove(&s) {
                    if ls.closing && ls.in_flight == Some(txn.header.cxid) {
                        Self::reply(
                            out,
                            ls.conn,
                            ServerMsg::Response {
                                xid: txn.header.cxid,
                                zxid,
                                response: applied.response,
                            },
                        );
                    } else {
                        Self::reply(out, ls.conn, ServerMsg::SessionExpired { session: s });
                    }
                    self.conns.remove(&ls.conn);
                    out.push(Output::Close { conn: ls.conn });
                }
                return;
            }
            _ => {}
        }
        self.answer(s, txn.header.cxid, zxid, applied.response, db, out);
    }

    fn answer(
        &mut self,
        s: SessionId,
        cxid: i64,
        zxid: Zxid,
        response: ZkResponse,
        db: &mut Database,
        out: &mut Out,
    ) {
        let Some(ls) = self.sessions.get_mut(&s) else {
            return;
        };
        if ls.in_flight != Some(cxid) {
            return;
        }
        ls.in_flight = None;
        Self::reply(
            out,
            ls.conn,
            ServerMsg::Response {
                xid: cxid,
                zxid,
                response,
            },
        );
        self.pump(s, false, db, out);
    }

    pub(super) fn on_sync_done(
        &mut self,
        s: SessionId,
        cxid: i64,
        db: &mut Database,
        out: &mut Out,
    ) {
        let path = String::new();
        self.answer(
            s,
            cxid,
            db.last_processed,
            ZkResponse::Synced { path },
            db,
            out,
        );
    }

    pub(super) fn on_request_failed(
        &mut self,
        s: SessionId,
        cxid: i64,
        code: ErrorCode,
        db: &mut Database,
        out: &mut Out,
    ) {
        if code == ErrorCode::SessionExpired {
            if let Some(ls) = self.sessions.remove(&s) {
                Self::reply(out, ls.conn, ServerMsg::SessionExpired { session: s });
                self.conns.remove(&ls.conn);
                out.push(Output::Close { conn: ls.conn });
            }
            return;
        }
        self.answer(s, cxid, db.last_processed, ZkResponse::Error(code), db, out);
    }

    /// The server stops serving: every client connection is closed (clients see
    /// ConnectionLoss and fail over, keeping their sessions) and, as ZooKeeper's
    /// `removeCnxn` does, the watches those connections held are dropped.
    pub(super) fn close_all(&mut self, tree: &mut DataTree, out: &mut Out) {
        for conn in self.conns.keys() {
            out.push(Output::Close { conn: *conn });
        }
        for s in self.sessions.keys() {
            tree.remove_watches(*s);
        }
        self.conns.clear();
        self.sessions.clear();
        self.connecting.clear();
        self.read_only_sessions.clear();
        self.submits.clear();
    }

    /// A connection closed. Returns false if it was not a client connection. The watches
    /// its session held here go with it (`ServerCnxn.close` -> `DataTree.removeCnxn`): a
    /// client that moves on re-registers them where it reconnects (SetWatches), so a watch
    /// left behind would fire a second time if the client came back here.
    pub(super) fn on_closed(&mut self, conn: ConnId, tree: &mut DataTree) -> bool {
        let Some(s) = self.conns.remove(&conn) else {
            return false;
        };
        if let Some(s) = s {
            if self.sessions.get(&s).is_some_and(|ls| ls.conn == conn) {
                self.sessions.remove(&s);
                tree.remove_watches(s);
            }
            self.connecting.retain(|_, (c, _)| *c != conn);
            self.read_only_sessions.remove(&s);
        }
        true
    }
}
