//! The ZooKeeper client library, as a simulated process uses it.
//!
//! Behaves like the Java client where a user would notice:
//! - connects to one server of the connect string (shuffled with the run's RNG), and on
//!   connection loss fails over to the next one, resuming the same session if the new
//!   server still knows it; a server that has seen less than the client refuses it;
//! - requests are FIFO per session; a request in flight when the connection drops fails
//!   with ConnectionLoss (its effect is unknown); requests issued while disconnected wait
//!   for the next connection;
//! - pings after a third of the session timeout of silence; drops the connection after two
//!   thirds without hearing from the server; connect timeout = timeout / servers;
//! - after the server reports the session expired, every call fails with SessionExpired:
//!   nothing is re-registered by magic (callers handle expiry, as with the real client).
//!
//! Every call is recorded in the history with invoke and completion time (when the client
//! library had the answer), session, server, result and zxid; a system component's
//! pipelined requests ([`ZkClient::submit`]) are recorded too once it gives the client
//! process ids ([`ZkClient::record_submitted`]). A client given a trace ([`ZkClient::record_events`]) also records what
//! only the client sees: the watches its reads left, the notifications it received, its
//! session's state changes and its answered pings (the evidence the watch and session-life
//! checkers judge).

use super::datatree::EventType;
use super::ids::{SessionId, Zxid};
use super::request::{to_call, to_ret, ZkOp, ZkResponse};
use super::types::ErrorCode;
use super::wire::{ClientMsg, ServerMsg, ZkMessage, ZkWire};
use crate::history::{Event, Outcome, Recorder, ZkEvent};
use futures::FutureExt;
use kzsim_sim::net::{Endpoint, Inbox, NetEvent};
use kzsim_sim::{ConnId, SimTime};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Server node names (the connect string).
    pub servers: Vec<String>,
    /// Requested session timeout (the server clamps it into 2..20 ticks).
    pub session_timeout_ms: u64,
    /// Accept read-only servers (`canBeReadOnly`).
    pub read_only_ok: bool,
    /// The process id recorded in the history.
    pub process: u64,
}

/// The client's connection state, as the Java client names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// Looking for a server.
    Connecting,
    /// Connected to this server.
    Connected(String),
    /// The session expired; the client is done.
    Expired,
    /// The client closed its session.
    Closed,
}

/// A watch notification the client received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchNotice {
    /// The path the watch was on.
    pub path: String,
    /// `NodeCreated`, `NodeDeleted`, `NodeDataChanged` or `NodeChildrenChanged`.
    pub event: String,
    /// The zxid of the change.
    pub zxid: Zxid,
}

struct Shared {
    session: Option<SessionId>,
    state: ClientState,
    last_zxid: Zxid,
    watches: Vec<WatchNotice>,
    /// When set (see [`ZkClient::watch_events`]), notifications go here instead of `watches`.
    watch_tx: Option<mpsc::UnboundedSender<WatchNotice>>,
    /// The negotiated session timeout (the requested one until connected).
    timeout_ms: u64,
    /// Where client-side events are recorded, and the node name they carry.
    trace: Option<(kzsim_sim::Trace<Event>, Arc<str>)>,
}

impl Shared {
    /// Records a client-side event, if this client has a trace.
    fn note(&self, e: ZkEvent) {
        if let Some((trace, node)) = &self.trace {
            trace.record(node, Event::Zk(e));
        }
    }

    fn session_id(&self) -> i64 {
        self.session.unwrap_or(0)
    }
}

struct Reply {
    result: Result<ZkResponse, ErrorCode>,
    zxid: Zxid,
    server: Option<String>,
    sent: bool,
    /// When the client received it (or gave up): the op's completion time in the history.
    /// The caller's future may run a little later, and pipelined requests' futures in any
    /// order, so the history takes the time the client library had the answer.
    at: SimTime,
}

impl Reply {
    /// What a caller gets when the client is gone before answering: the request was not
    /// sent.
    fn lost() -> Reply {
        Reply {
            result: Err(ErrorCode::ConnectionLoss),
            zxid: Zxid::ZERO,
            server: None,
            sent: false,
            at: SimTime::now(),
        }
    }
}

/// Records how the op `id` ended, from its reply: `ok` for a success, `fail` for an error
/// the server answered or for a request that was definitely not applied, `info` for a
/// write whose outcome is unknown (sent, then the connection or session was lost).
fn record_reply(
    recorder: &Recorder,
    id: crate::history::OpId,
    session: Option<SessionId>,
    reply: &Reply,
    is_read: bool,
) {
    if let Some(s) = &reply.server {
        recorder.set_node(id, s, session);
    }
    let (outcome, ret) = match &reply.result {
        Ok(resp) if resp.is_ok() => (Outcome::Ok, to_ret(resp)),
        Ok(resp) => (Outcome::Fail, to_ret(resp)),
        // The request may have been applied: its outcome is unknown (reads constrain
        // nothing, so a lost read is simply a failed read).
        Err(
            code @ (ErrorCode::ConnectionLoss
            | ErrorCode::OperationTimeout
            | ErrorCode::SessionExpired),
        ) if reply.sent && !is_read => (Outcome::Info, super::request::error_ret(*code)),
        Err(code) => (Outcome::Fail, super::request::error_ret(*code)),
    };
    let zxid = (reply.zxid != Zxid::ZERO || outcome == Outcome::Ok).then_some(reply.zxid.0);
    recorder.complete_at(id, reply.at, outcome, ret, zxid);
}

/// Process ids for the recorded ops of clients that pipeline their requests
/// ([`ZkClient::submit`] after [`ZkClient::record_submitted`]), shared by every such client
/// of a run. A history process has at most one op open at a time (Jepsen's rule, which
/// [`crate::history::validate`] checks), and a pipelining client can have several: each
/// op goes under the lowest process id its client holds with no op open, and a client
/// whose ids are all busy takes a fresh one from here. Ids are never shared between two
/// clients, so a process never has two sessions.
#[derive(Clone, Debug)]
pub struct ProcessIds {
    next: Arc<std::sync::Mutex<std::ops::Range<u64>>>,
}

impl ProcessIds {
    /// The ids of `range`, in order, as clients take them. Taking more than the range
    /// holds is a harness bug and panics (ids outside it would collide with other
    /// processes').
    pub fn new(range: std::ops::Range<u64>) -> ProcessIds {
        ProcessIds {
            next: Arc::new(std::sync::Mutex::new(range)),
        }
    }

    fn take(&self) -> u64 {
        let mut r = self.next.lock().expect("process ids");
        r.next().expect("process ids exhausted")
    }
}

/// A pipelining client's process ids ([`ProcessIds`]) that have no op open.
struct Lanes {
    ids: ProcessIds,
    free: std::collections::BTreeSet<u64>,
}

/// A process id held by one open op; given back to its client when the op's future ends
/// (completed, or dropped unfinished: the op then stays open as `info`, which does not
/// block its process).
struct Lane {
    process: u64,
    lanes: Rc<RefCell<Option<Lanes>>>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Some(l) = self.lanes.borrow_mut().as_mut() {
            l.free.insert(self.process);
        }
    }
}

enum Cmd {
    /// Forget the expired session and connect with a new one.
    Reopen,
    /// Stop doing anything (no pings, no reads of the socket) until `until`: a hung process.
    Silence {
        until: SimTime,
    },
    Call {
        op: ZkOp,
        reply: oneshot::Sender<Reply>,
    },
    Close {
        reply: oneshot::Sender<Reply>,
    },
}

/// A handle to a running client. Cheap to clone; all clones share one session.
#[derive(Clone)]
pub struct ZkClient {
    cmds: mpsc::UnboundedSender<Cmd>,
    shared: Rc<RefCell<Shared>>,
    recorder: Recorder,
    process: u64,
    /// Sessions opened by this handle after the first (each is a new history process).
    generation: Rc<std::cell::Cell<u64>>,
    /// Set by [`ZkClient::record_submitted`]: the process ids submitted ops are recorded
    /// under.
    lanes: Rc<RefCell<Option<Lanes>>>,
}

impl ZkClient {
    /// The history process id of the current session: the configured id for the first
    /// session, a fresh one (`generation << 32 | id`) for each session opened after an
    /// expiry, so a process never has two sessions (as Jepsen histories expect).
    pub fn process(&self) -> u64 {
        (self.generation.get() << 32) | self.process
    }

    /// After the session expired: start over with a new session (what an application does
    /// by creating a new ZooKeeper handle). A no-op while the session is alive.
    pub fn reopen(&self) {
        if self.state() != ClientState::Expired {
            return;
        }
        self.generation.set(self.generation.get() + 1);
        {
            let mut s = self.shared.borrow_mut();
            s.session = None;
            s.state = ClientState::Connecting;
            // A new handle has seen nothing: servers must not refuse it for what the
            // expired session saw (ClientCnxn starts with lastZxid 0).
            s.last_zxid = Zxid::ZERO;
        }
        let _ = self.cmds.send(Cmd::Reopen);
    }

    /// Starts a client on this node: `events` must deliver this client's connections'
    /// network events (a node running only this client passes its inbox).
    pub fn start<M: ZkMessage>(
        endpoint: Endpoint<M>,
        events: Inbox<M>,
        cfg: ClientConfig,
        seed: u64,
        recorder: Recorder,
    ) -> ZkClient {
        let shared = Rc::new(RefCell::new(Shared {
            session: None,
            state: ClientState::Connecting,
            last_zxid: Zxid::ZERO,
            watches: Vec::new(),
            watch_tx: None,
            timeout_ms: cfg.session_timeout_ms,
            trace: None,
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let process = cfg.process;
        let driver = Driver::new(endpoint, cfg, seed, shared.clone());
        madsim::task::spawn_local(driver.run(events, rx));
        ZkClient {
            cmds: tx,
            shared,
            recorder,
            process,
            generation: Rc::default(),
            lanes: Rc::default(),
        }
    }

    /// From now on, records this client's own events into `trace` as node `node`: every
    /// watch a read leaves ([`ZkEvent::WatchSet`]), every notification received
    /// ([`ZkEvent::WatchDelivered`]), every session state change ([`ZkEvent::ClientState`])
    /// and every answered ping ([`ZkEvent::PingAnswered`]). Call it right after
    /// [`ZkClient::start`], before the first await, so that nothing goes unrecorded.
    pub fn record_events(&self, trace: kzsim_sim::Trace<Event>, node: Arc<str>) {
        self.shared.borrow_mut().trace = Some((trace, node));
    }

    /// Makes the client process hang for `d`: it sends nothing (no pings, no requests) and
    /// reads nothing until then, while its connection stays open, as in a long GC pause.
    /// A session timeout shorter than `d` lets the leader expire the session; the client
    /// learns it from the server when it wakes.
    pub fn go_silent(&self, d: Duration) {
        let until = SimTime::now().plus(d);
        let _ = self.cmds.send(Cmd::Silence { until });
    }

    /// The session timeout the server negotiated (the requested one before connecting).
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.borrow().timeout_ms)
    }

    /// The session id, once connected.
    pub fn session(&self) -> Option<SessionId> {
        self.shared.borrow().session
    }

    /// The connection state.
    pub fn state(&self) -> ClientState {
        self.shared.borrow().state.clone()
    }

    /// The newest zxid this client has seen.
    pub fn last_zxid(&self) -> Zxid {
        self.shared.borrow().last_zxid
    }

    /// Watch notifications received since the last call.
    pub fn take_watches(&self) -> Vec<WatchNotice> {
        std::mem::take(&mut self.shared.borrow_mut().watches)
    }

    /// From now on, delivers every watch notification to the returned receiver as soon as
    /// it arrives (instead of queueing it for [`ZkClient::take_watches`]). Notifications
    /// already queued are sent first. Calling it again replaces the earlier receiver.
    pub fn watch_events(&self) -> mpsc::UnboundedReceiver<WatchNotice> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut s = self.shared.borrow_mut();
        for w in s.watches.drain(..) {
            let _ = tx.send(w);
        }
        s.watch_tx = Some(tx);
        rx
    }

    /// From now on, records every request sent with [`ZkClient::submit`] in the history,
    /// each under a process id from `ids` (see [`ProcessIds`]). For system components that
    /// pipeline their requests (a Kafka broker, its controller, a consumer-group member):
    /// their ZooKeeper traffic is history like any client's, so the checkers can judge it.
    pub fn record_submitted(&self, ids: ProcessIds) {
        *self.lanes.borrow_mut() = Some(Lanes {
            ids,
            free: std::collections::BTreeSet::new(),
        });
    }

    /// Runs one request. The request is queued on the session at once, so requests
    /// submitted one after another run in that order even if their futures are awaited
    /// concurrently; the future resolves with the reply. Recorded in the history only if
    /// [`ZkClient::record_submitted`] was called (then with invoke time = now, under the
    /// lowest of this client's process ids that has no op open).
    pub fn submit(
        &self,
        op: ZkOp,
    ) -> impl std::future::Future<Output = Result<ZkResponse, ErrorCode>> + 'static {
        let lane = self.take_lane();
        let is_read = op.is_read() || matches!(op, ZkOp::Sync { .. });
        let recorded = lane.as_ref().map(|l| {
            let id = self.recorder.invoke(
                l.process,
                self.session(),
                self.server().as_deref(),
                to_call(&op),
            );
            (id, self.recorder.clone(), self.shared.clone())
        });
        let (tx, rx) = oneshot::channel();
        let sent = self.cmds.send(Cmd::Call { op, reply: tx }).is_ok();
        async move {
            let reply = if sent { rx.await.ok() } else { None };
            let reply = reply.unwrap_or_else(Reply::lost);
            if let Some((id, recorder, shared)) = recorded {
                let session = shared.borrow().session;
                record_reply(&recorder, id, session, &reply, is_read);
            }
            drop(lane);
            match reply.result {
                Ok(ZkResponse::Error(code)) => Err(code),
                other => other,
            }
        }
    }

    /// A process id with no op open, if this client records submitted ops.
    fn take_lane(&self) -> Option<Lane> {
        let mut lanes = self.lanes.borrow_mut();
        let l = lanes.as_mut()?;
        let process = l.free.pop_first().unwrap_or_else(|| l.ids.take());
        Some(Lane {
            process,
            lanes: self.lanes.clone(),
        })
    }

    /// The server the client is connected to, if any.
    fn server(&self) -> Option<String> {
        match self.state() {
            ClientState::Connected(s) => Some(s),
            _ => None,
        }
    }

    /// Waits until connected (true) or the deadline passes or the session is gone (false).
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let deadline = madsim::time::Instant::now() + within;
        loop {
            match self.state() {
                ClientState::Connected(_) => return true,
                ClientState::Expired | ClientState::Closed => return false,
                ClientState::Connecting => {}
            }
            if madsim::time::Instant::now() >= deadline {
                return false;
            }
            madsim::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Records a client-side event in this client's trace (see
    /// [`ZkClient::record_events`]); a no-op for a client without one. For what only the
    /// application knows, such as a recipe's decision ([`ZkEvent::LockAcquired`]).
    pub fn note(&self, e: ZkEvent) {
        self.shared.borrow().note(e);
    }

    /// Runs one request and records it in the history.
    pub async fn call(&self, op: ZkOp) -> Result<ZkResponse, ErrorCode> {
        self.call_zxid(op).await.0
    }

    /// As [`ZkClient::call`], also returning the zxid the reply carried (the state of the
    /// server that answered; 0 when there was no reply).
    pub async fn call_zxid(&self, op: ZkOp) -> (Result<ZkResponse, ErrorCode>, i64) {
        let id = self.recorder.invoke(
            self.process(),
            self.session(),
            self.server().as_deref(),
            to_call(&op),
        );
        let is_read = op.is_read() || matches!(op, ZkOp::Sync { .. });
        let (tx, rx) = oneshot::channel();
        let reply = if self.cmds.send(Cmd::Call { op, reply: tx }).is_ok() {
            rx.await.ok()
        } else {
            None
        };
        let reply = reply.unwrap_or_else(Reply::lost);
        record_reply(&self.recorder, id, self.session(), &reply, is_read);
        let result = match reply.result {
            Ok(ZkResponse::Error(code)) => Err(code),
            other => other,
        };
        (result, reply.zxid.0)
    }

    /// Closes the session (its ephemerals are deleted at once).
    pub async fn close(&self) -> Result<(), ErrorCode> {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Close { reply: tx }).is_err() {
            return Err(ErrorCode::ConnectionLoss);
        }
        match rx.await {
            Ok(Reply { result: Ok(_), .. }) => Ok(()),
            Ok(Reply { result: Err(c), .. }) => Err(c),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }
}

struct Waiting {
    xid: i64,
    reply: oneshot::Sender<Reply>,
    /// The watch this request leaves if it succeeds.
    watch: Option<(WatchKind, String)>,
}

/// The kinds of watch a client can hold on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum WatchKind {
    /// getData, or exists on an existing node.
    Data,
    /// exists on a missing node (fires on creation).
    Exist,
    /// getChildren.
    Child,
}

/// The watches this session holds, re-sent after every reconnection (the Java client's
/// SetWatches), so a watch survives a move to another server within the session.
#[derive(Default)]
struct WatchSet {
    data: std::collections::BTreeSet<String>,
    exist: std::collections::BTreeSet<String>,
    child: std::collections::BTreeSet<String>,
}

impl WatchKind {
    /// The name recorded in [`ZkEvent::WatchSet`].
    fn name(self) -> &'static str {
        match self {
            WatchKind::Data => "data",
            WatchKind::Exist => "exist",
            WatchKind::Child => "child",
        }
    }
}

impl WatchSet {
    fn add(&mut self, kind: WatchKind, path: String) {
        match kind {
            WatchKind::Data => self.data.insert(path),
            WatchKind::Exist => self.exist.insert(path),
            WatchKind::Child => self.child.insert(path),
        };
    }

    /// A watch fired: the server dropped every watch the event triggers (one-shot).
    fn fired(&mut self, path: &str, event: EventType) {
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.remove(path);
                self.exist.remove(path);
            }
            EventType::NodeDeleted => {
                self.data.remove(path);
                self.exist.remove(path);
                self.child.remove(path);
            }
            EventType::NodeChildrenChanged => {
                self.child.remove(path);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.exist.is_empty() && self.child.is_empty()
    }
}

/// The watch a request asks for.
fn watch_of(op: &ZkOp) -> Option<(WatchKind, String)> {
    match op {
        ZkOp::GetData { path, watch: true } => Some((WatchKind::Data, path.clone())),
        ZkOp::Exists { path, watch: true } => Some((WatchKind::Exist, path.clone())),
        ZkOp::GetChildren { path, watch: true } => Some((WatchKind::Child, path.clone())),
        _ => None,
    }
}

enum Conn {
    None,
    Connecting {
        conn: ConnId,
        server: String,
        deadline_ms: u64,
    },
    Connected {
        conn: ConnId,
        server: String,
        last_recv_ms: u64,
        last_send_ms: u64,
    },
}

struct Driver<M> {
    endpoint: Endpoint<M>,
    cfg: ClientConfig,
    servers: Vec<String>,
    next_server: usize,
    shared: Rc<RefCell<Shared>>,
    conn: Conn,
    timeout_ms: u64,
    queue: VecDeque<(ZkOp, Option<oneshot::Sender<Reply>>, bool)>,
    in_flight: VecDeque<Waiting>,
    watched: WatchSet,
    xid: i64,
    closing: Option<oneshot::Sender<Reply>>,
    /// Send times (simulated ns) of pings not yet answered, oldest first; at most
    /// [`PINGS_OUTSTANDING_MAX`] (the connection is dropped long before more pile up).
    pings: VecDeque<u64>,
    /// While set and in the future, the process hangs (see [`ZkClient::go_silent`]).
    silent_until: Option<SimTime>,
}

/// Pings remembered while unanswered. The client drops its connection after two thirds of
/// the session timeout without hearing from the server and pings after one third, so at
/// most two are ever outstanding; the bound only keeps a broken server from growing it.
const PINGS_OUTSTANDING_MAX: usize = 8;

fn now_ms() -> u64 {
    SimTime::now().as_millis()
}

impl<M: ZkMessage> Driver<M> {
    fn new(
        endpoint: Endpoint<M>,
        cfg: ClientConfig,
        seed: u64,
        shared: Rc<RefCell<Shared>>,
    ) -> Self {
        let mut servers = cfg.servers.clone();
        servers.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        Driver {
            endpoint,
            timeout_ms: cfg.session_timeout_ms,
            cfg,
            servers,
            next_server: 0,
            shared,
            conn: Conn::None,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            watched: WatchSet::default(),
            xid: 0,
            closing: None,
            pings: VecDeque::new(),
            silent_until: None,
        }
    }

    fn finished(&self) -> bool {
        matches!(
            self.shared.borrow().state,
            ClientState::Expired | ClientState::Closed
        )
    }

    async fn run(mut self, mut events: Inbox<M>, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        // Ticks come at a fixed period whatever the traffic, as the SendThread's select
        // timeout is computed from the next ping and read deadlines.
        let period = Duration::from_millis((self.timeout_ms / 10).clamp(10, 500));
        let mut alarm = kzsim_sim::time::Alarm::new();
        let mut next_tick = SimTime::now().plus(period);
        loop {
            if let Some(until) = self.silent_until.take() {
                // A hung process: nothing is read, sent or timed out until it wakes.
                if until > SimTime::now() {
                    alarm.wait_until(until).await;
                }
                if let Conn::Connected {
                    last_recv_ms,
                    last_send_ms,
                    ..
                } = &mut self.conn
                {
                    // Waking, the client library first reads what arrived meanwhile; its
                    // timers restart from now (ClientCnxn measures from its last poll).
                    let now = now_ms();
                    *last_recv_ms = now;
                    *last_send_ms = now;
                }
                next_tick = SimTime::now().plus(period);
            }
            if matches!(self.conn, Conn::None) && !self.finished() {
                self.connect();
            }
            futures::select_biased! {
                ev = events.recv().fuse() => match ev { Some(ev) => self.on_event(ev), None => return },
                cmd = cmds.recv().fuse() => match cmd { Some(c) => self.on_cmd(c), None => return },
                _ = alarm.wait_until(next_tick).fuse() => {
                    next_tick = SimTime::now().plus(period);
                    self.on_tick();
                }
            }
        }
    }

    fn connect(&mut self) {
        if self.servers.is_empty() {
            return;
        }
        let server = self.servers[self.next_server % self.servers.len()].clone();
        self.next_server += 1;
        let conn = self.endpoint.connect(&server);
        let (session, last_zxid) = {
            let s = self.shared.borrow();
            (s.session, s.last_zxid)
        };
        let msg = ClientMsg::Connect {
            session,
            timeout_ms: self.cfg.session_timeout_ms,
            last_zxid_seen: last_zxid,
            read_only_ok: self.cfg.read_only_ok,
        };
        let _ = self.endpoint.send(conn, M::from_zk(ZkWire::Client(msg)));
        let connect_timeout = (self.timeout_ms / self.servers.len().max(1) as u64).max(100);
        self.conn = Conn::Connecting {
            conn,
            server,
            deadline_ms: now_ms() + connect_timeout,
        };
        self.shared.borrow_mut().state = ClientState::Connecting;
    }

    fn current_conn(&self) -> Option<ConnId> {
        match &self.conn {
            Conn::None => None,
            Conn::Connecting { conn, .. } | Conn::Connected { conn, .. } => Some(*conn),
        }
    }

    fn server(&self) -> Option<String> {
        match &self.conn {
            Conn::Connected { server, .. } | Conn::Connecting { server, .. } => {
                Some(server.clone())
            }
            Conn::None => None,
        }
    }

    /// The connection is gone: requests in flight have unknown outcomes.
    fn disconnect(&mut self) {
        if let Some(c) = self.current_conn() {
            self.endpoint.close(c);
        }
        self.pings.clear();
        if let Conn::Connected { server, .. } = &self.conn {
            let s = self.shared.borrow();
            s.note(ZkEvent::ClientState {
                session: s.session_id(),
                state: "disconnected".into(),
                server: server.clone(),
            });
        }
        let server = self.server();
        self.conn = Conn::None;
        for w in self.in_flight.drain(..) {
            let _ = w.reply.send(Reply {
                result: Err(ErrorCode::ConnectionLoss),
                zxid: Zxid::ZERO,
                server: server.clone(),
                sent: true,
                at: SimTime::now(),
            });
        }
        // Like the Java client's cleanup(): requests not yet sent fail too (definitely not
        // applied), so callers never wait on a connection that may not come back.
        for (_, reply, _) in self.queue.drain(..) {
            if let Some(r) = reply {
                let _ = r.send(Reply {
                    result: Err(ErrorCode::ConnectionLoss),
                    zxid: Zxid::ZERO,
                    server: server.clone(),
                    sent: false,
                    at: SimTime::now(),
                });
            }
        }
        if let Some(r) = self.closing.take() {
            let _ = r.send(Reply {
                result: Err(ErrorCode::ConnectionLoss),
                zxid: Zxid::ZERO,
                server,
                sent: true,
                at: SimTime::now(),
            });
        }
        if !self.finished() {
            self.shared.borrow_mut().state = ClientState::Connecting;
        }
    }

    fn expire(&mut self) {
        let server = self.server().unwrap_or_default();
        self.disconnect();
        // The session's watches died with it (the Java client delivers Expired to every
        // watcher and drops them): a new session must not re-register them.
        self.watched = WatchSet::default();
        self.shared.borrow_mut().state = ClientState::Expired;
        {
            let s = self.shared.borrow();
            s.note(ZkEvent::ClientState {
                session: s.session_id(),
                state: "expired".into(),
                server,
            });
        }
        for (_, reply, _) in self.queue.drain(..) {
            if let Some(r) = reply {
                let _ = r.send(Reply {
                    result: Err(ErrorCode::SessionExpired),
                    zxid: Zxid::ZERO,
                    server: None,
                    sent: false,
                    at: SimTime::now(),
                });
            }
        }
    }

    fn on_event(&mut self, ev: NetEvent<M>) {
        match ev {
            NetEvent::Accepted { conn, .. } => self.endpoint.close(conn),
            NetEvent::Closed { conn, .. } => {
                if Some(conn) == self.current_conn() {
                    self.disconnect();
                }
            }
            NetEvent::Message { conn, packet, .. } => {
                if Some(conn) != self.current_conn() {
                    return;
                }
                if let Conn::Connected { last_recv_ms, .. } = &mut self.conn {
                    *last_recv_ms = now_ms();
                }
                if let Some(ZkWire::Server(msg)) = packet.msg.into_zk() {
                    self.on_server(conn, msg);
                }
            }
        }
    }

    fn on_server(&mut self, conn: ConnId, msg: ServerMsg) {
        match msg {
            ServerMsg::Connected {
                session,
                timeout_ms,
                read_only: _,
            } => {
                let server = self.server().unwrap_or_default();
                {
                    let mut s = self.shared.borrow_mut();
                    s.session = Some(session);
                    s.timeout_ms = timeout_ms;
                    s.state = ClientState::Connected(server.clone());
                    s.note(ZkEvent::ClientState {
                        session,
                        state: "connected".into(),
                        server: server.clone(),
                    });
                }
                self.timeout_ms = timeout_ms;
                let now = now_ms();
                self.conn = Conn::Connected {
                    conn,
                    server,
                    last_recv_ms: now,
                    last_send_ms: now,
                };
                if !self.watched.is_empty() {
                    let msg = ClientMsg::SetWatches {
                        relative_zxid: self.shared.borrow().last_zxid,
                        data: self.watched.data.iter().cloned().collect(),
                        exist: self.watched.exist.iter().cloned().collect(),
                        child: self.watched.child.iter().cloned().collect(),
                    };
                    let _ = self.endpoint.send(conn, M::from_zk(ZkWire::Client(msg)));
                }
                let queued: Vec<_> = self.queue.drain(..).collect();
                for (op, reply, is_close) in queued {
                    self.send_request(op, reply, is_close);
                }
            }
            ServerMsg::Refused { .. } => self.disconnect(),
            ServerMsg::SessionExpired { .. } => self.expire(),
            ServerMsg::Response {
                xid,
                zxid,
                response,
            } => {
                {
                    let mut s = self.shared.borrow_mut();
                    s.last_zxid = s.last_zxid.max(zxid);
                }
                let server = self.server();
                if self.in_flight.front().is_some_and(|w| w.xid == xid) {
                    let w = self.in_flight.pop_front().expect("checked");
                    if let Some((kind, path)) = w.watch.clone() {
                        // A watch is left by a successful read; `exists` on a missing node
                        // leaves one that fires on creation.
                        let left = match (&response, kind) {
                            (ZkResponse::Exists(Some(_)), WatchKind::Exist) => {
                                Some(WatchKind::Data)
                            }
                            (ZkResponse::Exists(None), WatchKind::Exist) => Some(WatchKind::Exist),
                            (r, k) if r.is_ok() => Some(k),
                            _ => None,
                        };
                        if let Some(k) = left {
                            let s = self.shared.borrow();
                            s.note(ZkEvent::WatchSet {
                                session: s.session_id(),
                                path: path.clone(),
                                watch: k.name().into(),
                                zxid: zxid.0,
                            });
                            drop(s);
                            self.watched.add(k, path);
                        }
                    }
                    let _ = w.reply.send(Reply {
                        result: Ok(response),
                        zxid,
                        server,
                        sent: true,
                        at: SimTime::now(),
                    });
                } else if self.closing.is_some() {
                    let r = self.closing.take().expect("checked");
                    let _ = r.send(Reply {
                        result: Ok(response),
                        zxid,
                        server: server.clone(),
                        sent: true,
                        at: SimTime::now(),
                    });
                    self.shared.borrow_mut().state = ClientState::Closed;
                    {
                        let s = self.shared.borrow();
                        s.note(ZkEvent::ClientState {
                            session: s.session_id(),
                            state: "closed".into(),
                            server: server.clone().unwrap_or_default(),
                        });
                    }
                    self.disconnect();
                }
            }
            ServerMsg::Watch { path, event, zxid } => {
                self.watched.fired(&path, event);
                let mut s = self.shared.borrow_mut();
                s.last_zxid = s.last_zxid.max(zxid);
                s.note(ZkEvent::WatchDelivered {
                    session: s.session_id(),
                    path: path.clone(),
                    event: format!("{event:?}"),
                    zxid: zxid.0,
                });
                let notice = WatchNotice {
                    path,
                    event: format!("{event:?}"),
                    zxid,
                };
                match &s.watch_tx {
                    Some(tx) => {
                        let _ = tx.send(notice);
                    }
                    None => s.watches.push(notice),
                }
            }
            ServerMsg::Pong => {
                if let Some(sent_ns) = self.pings.pop_front() {
                    let server = self.server().unwrap_or_default();
                    let s = self.shared.borrow();
                    s.note(ZkEvent::PingAnswered {
                        session: s.session_id(),
                        server,
                        sent_ns,
                    });
                }
            }
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        if let Cmd::Silence { until } = cmd {
            self.silent_until = Some(until);
            return;
        }
        if let Cmd::Reopen = cmd {
            // ZkClient::reopen already reset the shared state; the run loop reconnects.
            self.disconnect();
            return;
        }
        if self.finished() {
            let code = if self.shared.borrow().state == ClientState::Expired {
                ErrorCode::SessionExpired
            } else {
                ErrorCode::ConnectionLoss
            };
            let reply = match cmd {
                Cmd::Call { reply, .. } | Cmd::Close { reply } => reply,
                Cmd::Reopen | Cmd::Silence { .. } => return,
            };
            let _ = reply.send(Reply {
                result: Err(code),
                zxid: Zxid::ZERO,
                server: None,
                sent: false,
                at: SimTime::now(),
            });
            return;
        }
        let (op, reply, is_close) = match cmd {
            Cmd::Call { op, reply } => (op, reply, false),
            Cmd::Close { reply } => (ZkOp::Sync { path: "/".into() }, reply, true),
            Cmd::Reopen | Cmd::Silence { .. } => return,
        };
        if matches!(self.conn, Conn::Connected { .. }) {
            self.send_request(op, Some(reply), is_close);
        } else {
            self.queue.push_back((op, Some(reply), is_close));
        }
    }

    fn send_request(&mut self, op: ZkOp, reply: Option<oneshot::Sender<Reply>>, is_close: bool) {
        let Conn::Connected {
            conn, last_send_ms, ..
        } = &mut self.conn
        else {
            return;
        };
        self.xid += 1;
        let xid = self.xid;
        let watch = watch_of(&op);
        let msg = if is_close {
            ClientMsg::Close { xid }
        } else {
            ClientMsg::Request { xid, op }
        };
        *last_send_ms = now_ms();
        let conn = *conn;
        if self
            .endpoint
            .send(conn, M::from_zk(ZkWire::Client(msg)))
            .is_err()
        {
            if let Some(r) = reply {
                let _ = r.send(Reply {
                    result: Err(ErrorCode::ConnectionLoss),
                    zxid: Zxid::ZERO,
                    server: self.server(),
                    sent: false,
                    at: SimTime::now(),
                });
            }
            self.disconnect();
            return;
        }
        if let Some(r) = reply {
            if is_close {
                self.closing = Some(r);
            } else {
                self.in_flight.push_back(Waiting {
                    xid,
                    reply: r,
                    watch,
                });
            }
        }
    }

    fn on_tick(&mut self) {
        let now = now_ms();
        let t = self.timeout_ms;
        match &mut self.conn {
            Conn::Connecting { deadline_ms, .. } if now >= *deadline_ms => self.disconnect(),
            Conn::Connected {
                conn,
                last_recv_ms,
                last_send_ms,
                ..
            } => {
                if now.saturating_sub(*last_recv_ms) >= t * 2 / 3 {
                    self.disconnect();
                } else if now.saturating_sub(*last_send_ms) >= t / 3 {
                    *last_send_ms = now;
                    let sent = self
                        .endpoint
                        .send(*conn, M::from_zk(ZkWire::Client(ClientMsg::Ping)));
                    if sent.is_ok() && self.pings.len() < PINGS_OUTSTANDING_MAX {
                        self.pings.push_back(SimTime::now().0);
                    }
                }
            }
            _ => {}
        }
    }
}
