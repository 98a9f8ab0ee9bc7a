//! A connection-oriented transport between simulated nodes, with TCP's guarantees.
//!
//! ZAB and Kafka replication assume TCP: bytes on one connection arrive in order, without
//! gaps, or the connection breaks. madsim's datagrams are dropped and reordered under
//! clogging and its streams have a 1 ms floor per flushed chunk, so this layer is built on
//! madsim's clock, tasks and seeded randomness instead:
//!
//! - **FIFO per connection.** Each direction of a connection is a queue delivered in send
//!   order. One scheduler task (on the world's "network" node) delivers every queue's head
//!   when it is due; a send arms a simulated timer for its due time directly, so a message
//!   costs one timer and one scheduler wake-up, not a task of its own.
//! - **Latency.** Each message draws a latency from [`NetConfig::latency_us`]; a message is
//!   never delivered before the one sent before it on the same connection.
//! - **Loss is retransmission delay**, as TCP makes it: with probability
//!   `loss_permille / 1000` per attempt a message waits one more retransmission timeout
//!   (doubling each time).
//! - **Partitions and cuts stall a connection silently**, as a network partition stalls TCP:
//!   nothing is delivered and nobody is told. Applications notice with their own timeouts
//!   (ZooKeeper's syncLimit, session timeouts) and close the connection. If the link heals
//!   first, the stalled data arrives. After [`NetConfig::giveup_ms`] of stall, both ends
//!   get [`NetEvent::Closed`] with [`CloseReason::TimedOut`] (TCP's retransmission give-up).
//! - **A crashed process resets its connections**: the peer gets the dead side's in-flight
//!   data, then `Closed { reason: Reset }`; data sent to a dead or restarted process resets
//!   the connection for the sender. A paused process's inbox simply fills up.
//!
//! Receiving is a channel (`Inbox`), which is cancel-safe: hosts may `select!` on it.

use crate::time::SimTime;
use crate::trace::SimEvent;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::mpsc;

/// Network behaviour. The defaults are a healthy LAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// One-way latency range per message, in microseconds (uniform; at least 1 ms is
    /// advisable because madsim timers have a 1 ms floor).
    pub latency_us: Range<u64>,
    /// Per-attempt loss probability in thousandths; a lost attempt is retransmitted.
    pub loss_permille: u32,
    /// The first retransmission timeout, in milliseconds; doubles per lost attempt.
    pub retransmit_timeout_ms: u64,
    /// How long a stalled connection survives before both ends are told it timed out.
    pub giveup_ms: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_us: 1_000..3_000,
            loss_permille: 0,
            retransmit_timeout_ms: 200,
            giveup_ms: 60_000,
        }
    }
}

/// Identifies one connection for its whole life; never reused within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Why a connection ended, as the local end learns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseReason {
    /// The peer closed it (FIN).
    PeerClosed,
    /// The peer's process died or restarted (RST).
    Reset,
    /// Nothing listens at the address (the node is down).
    Refused,
    /// The connection stalled longer than the give-up time.
    TimedOut,
}

/// A message as the receiver sees it.
pub struct Packet<M> {
    /// The application message.
    pub msg: M,
    /// When the sender sent it.
    pub sent_at: SimTime,
}

/// What arrives in a node's inbox.
pub enum NetEvent<M> {
    /// A peer opened a connection to this node.
    Accepted { conn: ConnId, from: Arc<str> },
    /// A message on an open connection, in the order the peer sent it.
    Message {
        conn: ConnId,
        from: Arc<str>,
        packet: Packet<M>,
    },
    /// The connection is over; nothing more arrives on it and sends fail.
    Closed {
        conn: ConnId,
        peer: Arc<str>,
        reason: CloseReason,
    },
}

impl<M> fmt::Debug for NetEvent<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetEvent::Accepted { conn, from } => write!(f, "Accepted({conn} from {from})"),
            NetEvent::Message { conn, from, .. } => write!(f, "Message({conn} from {from})"),
            NetEvent::Closed { conn, peer, reason } => {
                write!(f, "Closed({conn} peer {peer}: {reason:?})")
            }
        }
    }
}

/// A node's receive side: every [`NetEvent`] for the current incarnation (or, after
/// [`Inbox::split`], the share routed to it). Receiving is cancel-safe.
pub struct Inbox<M> {
    rx: mpsc::UnboundedReceiver<NetEvent<M>>,
    /// Set on the inbox [`Network::node_up`] returns: the incarnation it belongs to.
    owner: Option<(Network<M>, Arc<str>, u64)>,
}

impl<M> fmt::Debug for Inbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl<M: Send + 'static> Inbox<M> {
    /// An inbox fed by `rx` (for hosts that build their own channels).
    pub fn from_channel(rx: mpsc::UnboundedReceiver<NetEvent<M>>) -> Self {
        Inbox { rx, owner: None }
    }

    /// The next event; `None` once the incarnation is gone. Cancel-safe.
    pub async fn recv(&mut self) -> Option<NetEvent<M>> {
        self.rx.recv().await
    }

    /// Routes every event whose peer is in `peers` (from now on, and any already queued
    /// here) to a second inbox, delivered by the network directly (no forwarding task).
    /// Returns this inbox (everything else), the routed inbox, and the route, which can
    /// re-home the routed events to a fresh inbox. Order per connection is kept.
    ///
    /// Panics if this is not the inbox [`Network::node_up`] returned (a host bug).
    pub fn split(mut self, peers: BTreeSet<Arc<str>>) -> (Inbox<M>, Inbox<M>, InboxRoute<M>) {
        let (net, node, incarnation) = self
            .owner
            .clone()
            .expect("Inbox::split needs the inbox a node started with");
        let (tx, rx) = mpsc::unbounded_channel();
        // Events queued before the split go where they would have been routed.
        let mut keep = Vec::new();
        while let Ok(ev) = self.rx.try_recv() {
            if peers.contains(ev.peer()) {
                let _ = tx.send(ev);
            } else {
                keep.push(ev);
            }
        }
        let (main_tx, main_rx) = mpsc::unbounded_channel();
        for ev in keep {
            let _ = main_tx.send(ev);
        }
        {
            let mut inner = net.lock();
            if let Some(n) = inner.nodes.get_mut(&node) {
                if n.incarnation == incarnation {
                    n.route = Some((peers, tx));
                    if n.inbox.is_some() {
                        n.inbox = Some(main_tx);
                    }
                }
            }
        }
        self.rx = main_rx;
        let route = InboxRoute {
            net,
            node,
            incarnation,
        };
        (self, Inbox { rx, owner: None }, route)
    }
}

/// The route an [`Inbox::split`] set up.
pub struct InboxRoute<M> {
    net: Network<M>,
    node: Arc<str>,
    incarnation: u64,
}

impl<M: Send + 'static> InboxRoute<M> {
    /// A fresh inbox for the routed events; the previous one receives nothing more.
    pub fn replace(&self) -> Inbox<M> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.net.lock();
        if let Some(n) = inner.nodes.get_mut(&self.node) {
            if n.incarnation == self.incarnation {
                if let Some(route) = &mut n.route {
                    route.1 = tx;
                }
            }
        }
        Inbox { rx, owner: None }
    }
}

impl<M> NetEvent<M> {
    /// The node at the other end of the connection.
    pub fn peer(&self) -> &str {
        match self {
            NetEvent::Accepted { from, .. } | NetEvent::Message { from, .. } => from,
            NetEvent::Closed { peer, .. } => peer,
        }
    }
}

/// Sending failed because the connection is closed (or unknown to this node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection {0} is closed")]
pub struct ConnectionClosed(pub ConnId);

/// Counters for benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetStats {
    /// Messages handed to `send`.
    pub sent: u64,
    /// Messages delivered to an inbox.
    pub delivered: u64,
    /// Connections opened.
    pub connections: u64,
}

enum Step {
    Delivered,
    Finished,
    Stalled(Duration),
}

/// One direction of a connection: the messages in flight, in send order.
struct Direction<M> {
    queue: VecDeque<Queued<M>>,
    /// The due time of the last message queued (a message is never due before the one
    /// sent before it).
    last_due: SimTime,
    /// Since when the head has found the link down.
    stalled_since: Option<SimTime>,
    /// The receiving side is gone: nothing more is delivered and sends fail.
    finished: bool,
}

impl<M> Direction<M> {
    fn new() -> Self {
        Direction {
            queue: VecDeque::new(),
            last_due: SimTime::ZERO,
            stalled_since: None,
            finished: false,
        }
    }
}

enum Item<M> {
    Syn,
    Data(M),
    Fin(CloseReason),
}

/// At most this many items (messages, and the connection's opening) wait undelivered on
/// one direction of a connection. A
/// sender past it has outrun any real transport (TCP would have blocked it long before):
/// [`Endpoint::send`] ends the run with a panic, which the harness reports as a run error
/// naming the connection, instead of letting memory grow without bound.
pub const CONN_QUEUE_MAX: usize = 100_000;

struct Queued<M> {
    item: Item<M>,
    sent_at: SimTime,
    due: SimTime,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

struct ConnState<M> {
    client: Arc<str>,
    client_inc: u64,
    server: Arc<str>,
    /// Set when the SYN is delivered.
    server_inc: Option<u64>,
    /// Per side: may still send, and has not been told of the close.
    client_open: bool,
    server_open: bool,
    /// Named by the receiving side.
    to_server: Direction<M>,
    to_client: Direction<M>,
}

impl<M> ConnState<M> {
    fn dir_ref(&self, receiver: Side) -> &Direction<M> {
        match receiver {
            Side::Server => &self.to_server,
            Side::Client => &self.to_client,
        }
    }

    fn dir(&mut self, receiver: Side) -> &mut Direction<M> {
        match receiver {
            Side::Server => &mut self.to_server,
            Side::Client => &mut self.to_client,
        }
    }
}

struct NodeNet<M> {
    incarnation: u64,
    inbox: Option<mpsc::UnboundedSender<NetEvent<M>>>,
    /// Events from these peers go to the routed inbox instead (see [`Inbox::split`]).
    route: Option<RouteTo<M>>,
}

type RouteTo<M> = (BTreeSet<Arc<str>>, mpsc::UnboundedSender<NetEvent<M>>);

struct NetInner<M> {
    config: NetConfig,
    nodes: BTreeMap<Arc<str>, NodeNet<M>>,
    /// Group index per node while partitioned; nodes not listed form their own group.
    groups: Option<BTreeMap<Arc<str>, usize>>,
    cuts: BTreeSet<(Arc<str>, Arc<str>)>,
    conns: BTreeMap<ConnId, ConnState<M>>,
    next_conn: u64,
    rng: ChaCha8Rng,
    stats: NetStats,
    /// Direction heads waiting to be delivered, by due time (then by scheduling order).
    schedule: BTreeMap<(SimTime, u64), (ConnId, Side)>,
    next_seq: u64,
    /// The scheduler task's waker, once it has run.
    waker: Option<Waker>,
    /// Times at which a simulated timer will wake the scheduler (madsim timers cannot be
    /// cancelled, so one timer per distinct due time is enough).
    armed: BTreeSet<SimTime>,
}

/// The network of one run. Cloning gives another handle to the same network.
pub struct Network<M> {
    inner: Arc<Mutex<NetInner<M>>>,
}

impl<M> Clone for Network<M> {
    fn clone(&self) -> Self {
        Network {
            inner: self.inner.clone(),
        }
    }
}

/// A node incarnation's handle for opening connections and sending.
pub struct Endpoint<M> {
    net: Network<M>,
    me: Arc<str>,
    incarnation: u64,
}

impl<M> Clone for Endpoint<M> {
    fn clone(&self) -> Self {
        Endpoint {
            net: self.net.clone(),
            me: self.me.clone(),
            incarnation: self.incarnation,
        }
    }
}

impl<M: Send + 'static> Network<M> {
    /// A healthy network. The delivery scheduler runs on `spawner`'s node, so it keeps
    /// running when the nodes that sent the data are paused or killed.
    pub fn new(config: NetConfig, seed: u64, spawner: madsim::runtime::NodeHandle) -> Self {
        let inner = NetInner {
            config,
            nodes: BTreeMap::new(),
            groups: None,
            cuts: BTreeSet::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00),
            stats: NetStats::default(),
            schedule: BTreeMap::new(),
            next_seq: 0,
            waker: None,
            armed: BTreeSet::new(),
        };
        let net = Network {
            inner: Arc::new(Mutex::new(inner)),
        };
        spawner.spawn(Scheduler { net: net.clone() });
        net
    }

    fn lock(&self) -> MutexGuard<'_, NetInner<M>> {
        self.inner.lock().expect("network lock poisoned")
    }

    /// Registers a new incarnation of `node` and returns its endpoint and inbox. Any
    /// connection of an earlier incarnation is already reset (see [`Network::node_down`]).
    pub fn node_up(&self, node: &Arc<str>, incarnation: u64) -> (Endpoint<M>, Inbox<M>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().nodes.insert(
            node.clone(),
            NodeNet {
                incarnation,
                inbox: Some(tx),
                route: None,
            },
        );
        (
            Endpoint {
                net: self.clone(),
                me: node.clone(),
                incarnation,
            },
            Inbox {
                rx,
                owner: Some((self.clone(), node.clone(), incarnation)),
            },
        )
    }

    /// The node's process died: its inbox is gone and each of its open connections sends
    /// the peer a reset after the data already in flight.
    pub fn node_down(&self, node: &str) {
        let mut inner = self.lock();
        if let Some(n) = inner.nodes.get_mut(node) {
            n.inbox = None;
            n.route = None;
        }
        let mut resets = Vec::new();
        for (&id, c) in inner.conns.iter_mut() {
            if &*c.client == node && c.client_open {
                c.client_open = false;
                resets.push((id, Side::Server));
            }
            if &*c.server == node && c.server_open && c.server_inc.is_some() {
                c.server_open = false;
                resets.push((id, Side::Client));
            }
        }
        for (id, to) in resets {
            Self::enqueue(&mut inner, id, to, Item::Fin(CloseReason::Reset));
        }
    }

    /// Queues `item` on the direction of `conn` that `to` receives: draws its latency and
    /// makes sure the scheduler wakes when it is due. False if that direction is finished.
    fn enqueue(inner: &mut NetInner<M>, conn: ConnId, to: Side, item: Item<M>) -> bool {
        if inner
            .conns
            .get_mut(&conn)
            .is_none_or(|c| c.dir(to).finished)
        {
            return false;
        }
        let delay = Self::draw_delay(inner);
        let now = SimTime::now();
        let c = inner.conns.get_mut(&conn).expect("checked above");
        let d = c.dir(to);
        let due = now.plus(delay).max(d.last_due);
        d.last_due = due;
        d.queue.push_back(Queued {
            item,
            sent_at: now,
            due,
        });
        if d.queue.len() == 1 {
            Self::schedule(inner, due, conn, to);
        }
        true
    }

    /// Schedules the head of one direction for `at`.
    fn schedule(inner: &mut NetInner<M>, at: SimTime, conn: ConnId, to: Side) {
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.schedule.insert((at, seq), (conn, to));
        Self::arm(inner, at, None);
    }

    /// Makes sure a simulated timer wakes the scheduler at `at` (registered with the
    /// scheduler's waker; `cx` when called from the scheduler itself).
    fn arm(inner: &mut NetInner<M>, at: SimTime, cx: Option<&mut Context<'_>>) {
        if inner.armed.contains(&at) {
            return;
        }
        let now = SimTime::now();
        if at <= now {
            // Due already: the scheduler runs it before it sleeps again, or is woken now.
            if cx.is_none() {
                if let Some(w) = &inner.waker {
                    w.wake_by_ref();
                }
            }
            return;
        }
        let mut sleep = madsim::time::sleep(at.since(now));
        let polled = match cx {
            Some(cx) => Pin::new(&mut sleep).poll(cx),
            None => match &inner.waker {
                Some(w) => Pin::new(&mut sleep).poll(&mut Context::from_waker(w)),
                // The scheduler has not run yet; its first run arms what is scheduled.
                None => return,
            },
        };
        // Dropping the `Sleep` leaves its timer registered: madsim timers are not cancelled.
        if polled.is_pending() {
            inner.armed.insert(at);
        }
    }

    /// Replaces the configuration (loss and latency apply to messages sent from now on).
    pub fn set_config(&self, config: NetConfig) -> SimEvent {
        let mut inner = self.lock();
        let backlog_until = inner
            .conns
            .values()
            .flat_map(|c| [&c.to_server, &c.to_client])
            .filter(|d| !d.queue.is_empty())
            .map(|d| d.last_due)
            .fold(SimTime::now(), SimTime::max);
        let ev = SimEvent::NetChanged {
            loss_permille: config.loss_permille,
            latency_min_us: config.latency_us.start,
            latency_max_us: config.latency_us.end,
            backlog_until_ns: backlog_until.0,
        };
        inner.config = config;
        ev
    }

    /// The current configuration.
    pub fn config(&self) -> NetConfig {
        self.lock().config.clone()
    }

    /// Splits the network into `groups`; a node in no group is alone. Replaces any earlier
    /// partition; one-way cuts stay.
    pub fn partition(&self, groups: &[Vec<String>]) -> SimEvent {
        let mut map = BTreeMap::new();
        for (i, g) in groups.iter().enumerate() {
            for n in g {
                map.insert(Arc::<str>::from(n.as_str()), i);
            }
        }
        self.lock().groups = Some(map);
        SimEvent::Partitioned {
            groups: groups.to_vec(),
        }
    }

    /// Drops traffic from `from` to `to` (one direction).
    pub fn cut(&self, from: &str, to: &str) -> SimEvent {
        self.lock().cuts.insert((from.into(), to.into()));
        SimEvent::LinkCut {
            from: from.into(),
            to: to.into(),
        }
    }

    /// Removes every partition and cut.
    pub fn heal(&self) -> SimEvent {
        let mut inner = self.lock();
        inner.groups = None;
        inner.cuts.clear();
        SimEvent::Healed
    }

    /// True if a message from `from` to `to` would get through now.
    pub fn can_reach(&self, from: &str, to: &str) -> bool {
        Self::link_up(&self.lock(), from, to)
    }

    fn link_up(inner: &NetInner<M>, from: &str, to: &str) -> bool {
        if from == to {
            return true;
        }
        if let Some(groups) = &inner.groups {
            let g = |n: &str| groups.get(n).copied();
            match (g(from), g(to)) {
                (Some(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
        !inner.cuts.iter().any(|(f, t)| &**f == from && &**t == to)
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.lock().stats
    }

    fn draw_delay(inner: &mut NetInner<M>) -> Duration {
        let r = inner.config.latency_us.clone();
        let mut us = if r.start < r.end {
            inner.rng.random_range(r)
        } else {
            r.start
        };
        let mut rto = inner.config.retransmit_timeout_ms * 1000;
        let loss = inner.config.loss_permille.min(999);
        while loss > 0 && inner.rng.random_range(0..1000) < loss {
            us += rto;
            rto = rto.saturating_mul(2);
        }
        Duration::from_micros(us)
    }

    fn deliver(inner: &NetInner<M>, node: &str, incarnation: u64, ev: NetEvent<M>) -> bool {
        match inner.nodes.get(node) {
            Some(n) if n.incarnation == incarnation => {
                if let Some((peers, tx)) = &n.route {
                    if n.inbox.is_some() && peers.contains(ev.peer()) {
                        // A replaced routed inbox drops what it is sent, as a host's
                        // forwarding task would.
                        let _ = tx.send(ev);
                        return true;
                    }
                }
                n.inbox.as_ref().is_some_and(|tx| tx.send(ev).is_ok())
            }
            _ => false,
        }
    }

    /// Tells one side that the connection closed, once.
    fn notify_closed(inner: &mut NetInner<M>, conn: ConnId, side: Side, reason: CloseReason) {
        let Some(c) = inner.conns.get_mut(&conn) else {
            return;
        };
        let (node, inc, peer) = match side {
            Side::Client => {
                if !c.client_open {
                    return;
                }
                c.client_open = false;
                (c.client.clone(), Some(c.client_inc), c.server.clone())
            }
            Side::Server => {
                if !c.server_open {
                    return;
                }
                c.server_open = false;
                (c.server.clone(), c.server_inc, c.client.clone())
            }
        };
        if let Some(inc) = inc {
            Self::deliver(inner, &node, inc, NetEvent::Closed { conn, peer, reason });
        }
        Self::forget_if_done(inner, conn);
    }

    fn forget_if_done(inner: &mut NetInner<M>, conn: ConnId) {
        if inner
            .conns
            .get(&conn)
            .is_some_and(|c| !c.client_open && !c.server_open)
        {
            inner.conns.remove(&conn);
        }
    }

    /// Delivers every direction head that is due, then arms the timer for the next one.
    fn run_due(&self, cx: &mut Context<'_>) {
        let mut inner = self.lock();
        if !inner
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inner.waker = Some(cx.waker().clone());
        }
        let now = SimTime::now();
        while let Some(entry) = inner.schedule.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (conn, to) = entry.remove();
            match Self::try_deliver(&mut inner, conn, to, now) {
                Step::Delivered => {
                    let next = inner.conns.get_mut(&conn).and_then(|c| {
                        let d = c.dir(to);
                        d.queue.front().map(|q| q.due)
                    });
                    if let Some(due) = next {
                        let seq = inner.next_seq;
                        inner.next_seq += 1;
                        inner.schedule.insert((due.max(now), seq), (conn, to));
                    }
                }
                Step::Finished => {
                    if let Some(c) = inner.conns.get_mut(&conn) {
                        let d = c.dir(to);
                        d.finished = true;
                        d.queue.clear();
                    }
                }
                Step::Stalled(poll) => {
                    let seq = inner.next_seq;
                    inner.next_seq += 1;
                    inner.schedule.insert((now.plus(poll), seq), (conn, to));
                }
            }
        }
        inner.armed = inner.armed.split_off(&SimTime(now.0 + 1));
        if let Some(&(next, _)) = inner.schedule.keys().next() {
            Self::arm(&mut inner, next, Some(cx));
        }
    }

    /// One delivery attempt of the head of direction `dir` (named by its receiver).
    fn try_deliver(inner: &mut NetInner<M>, conn: ConnId, dir: Side, now: SimTime) -> Step {
        let Some(c) = inner.conns.get_mut(&conn) else {
            return Step::Finished;
        };
        let Some(head) = c.dir(dir).queue.front() else {
            return Step::Finished;
        };
        let is_syn = matches!(head.item, Item::Syn);
        let (from, to, receiver_open, receiver_inc) = match dir {
            Side::Server => (
                c.client.clone(),
                c.server.clone(),
                c.server_open,
                c.server_inc,
            ),
            Side::Client => (
                c.server.clone(),
                c.client.clone(),
                c.client_open,
                Some(c.client_inc),
            ),
        };
        if !receiver_open && !is_syn {
            return Step::Finished; // the receiving side already closed; drop the rest
        }
        if !Self::link_up(inner, &from, &to) {
            let giveup = Duration::from_millis(inner.config.giveup_ms);
            let rto = Duration::from_millis(inner.config.retransmit_timeout_ms.max(1));
            let d = inner
                .conns
                .get_mut(&conn)
                .expect("looked up above")
                .dir(dir);
            let since = *d.stalled_since.get_or_insert(now);
            if now.since(since) >= giveup {
                Self::notify_closed(inner, conn, Side::Client, CloseReason::TimedOut);
                Self::notify_closed(inner, conn, Side::Server, CloseReason::TimedOut);
                return Step::Finished;
            }
            return Step::Stalled(rto);
        }
        let d = inner
            .conns
            .get_mut(&conn)
            .expect("looked up above")
            .dir(dir);
        d.stalled_since = None;
        let Queued { item, sent_at, .. } = d.queue.pop_front().expect("a head to deliver");
        match item {
            Item::Syn => Self::deliver_syn(inner, conn, now),
            Item::Data(msg) => {
                let packet = Packet { msg, sent_at };
                let ev = NetEvent::Message { conn, from, packet };
                if receiver_inc.is_some_and(|inc| Self::deliver(inner, &to, inc, ev)) {
                    inner.stats.delivered += 1;
                } else {
                    // The receiver is gone: it answers with a reset.
                    let sender = if dir == Side::Server {
                        Side::Client
                    } else {
                        Side::Server
                    };
                    Self::notify_closed(inner, conn, sender, CloseReason::Reset);
                    Self::notify_closed(inner, conn, dir, CloseReason::Reset);
                }
            }
            Item::Fin(reason) => Self::notify_closed(inner, conn, dir, reason),
        }
        Step::Delivered
    }

    fn deliver_syn(inner: &mut NetInner<M>, conn: ConnId, _now: SimTime) {
        let Some(c) = inner.conns.get(&conn) else {
            return;
        };
        let server = c.server.clone();
        let client = c.client.clone();
        let server_inc = inner
            .nodes
            .get(&*server)
            .filter(|n| n.inbox.is_some())
            .map(|n| n.incarnation);
        match server_inc {
            Some(inc) => {
                if let Some(c) = inner.conns.get_mut(&conn) {
                    c.server_inc = Some(inc);
                    c.server_open = true;
                }
                Self::deliver(
                    inner,
                    &server,
                    inc,
                    NetEvent::Accepted { conn, from: client },
                );
            }
            None => Self::notify_closed(inner, conn, Side::Client, CloseReason::Refused),
        }
    }
}

impl<M: Send + 'static> Endpoint<M> {
    /// This node's name.
    pub fn name(&self) -> &Arc<str> {
        &self.me
    }

    /// This process's incarnation (1 for the first start).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Opens a connection to `to`. Returns at once; messages may be sent immediately and
    /// are delivered after the handshake. If nothing listens at `to`, this node receives
    /// `Closed { reason: Refused }`; while `to` is unreachable the handshake stalls.
    pub fn connect(&self, to: &str) -> ConnId {
        let mut inner = self.net.lock();
        let conn = ConnId(inner.next_conn);
        inner.next_conn += 1;
        inner.stats.connections += 1;
        inner.conns.insert(
            conn,
            ConnState {
                client: self.me.clone(),
                client_inc: self.incarnation,
                server: Arc::from(to),
                server_inc: None,
                client_open: true,
                server_open: false,
                to_server: Direction::new(),
                to_client: Direction::new(),
            },
        );
        Network::enqueue(&mut inner, conn, Side::Server, Item::Syn);
        conn
    }

    fn my_side(&self, c: &ConnState<M>) -> Option<Side> {
        if c.client == self.me && c.client_inc == self.incarnation {
            Some(Side::Client)
        } else if c.server == self.me && c.server_inc == Some(self.incarnation) {
            Some(Side::Server)
        } else {
            None
        }
    }

    /// Sends `msg` on `conn`. Fails if the connection is closed on this side.
    pub fn send(&self, conn: ConnId, msg: M) -> Result<(), ConnectionClosed> {
        let mut inner = self.net.lock();
        let Some(c) = inner.conns.get(&conn) else {
            return Err(ConnectionClosed(conn));
        };
        let to = match self.my_side(c) {
            Some(Side::Client) if c.client_open => Some(Side::Server),
            Some(Side::Server) if c.server_open => Some(Side::Client),
            _ => None,
        };
        let full = to
            .filter(|&to| c.dir_ref(to).queue.len() >= CONN_QUEUE_MAX)
            .map(|to| match to {
                Side::Server => (c.client.clone(), c.server.clone()),
                Side::Client => (c.server.clone(), c.client.clone()),
            });
        if let Some((from, to)) = full {
            // Unlock first: the run ends with this panic, and its teardown locks again.
            drop(inner);
            panic!(
                "at {}, the connection {from} -> {to} holds {CONN_QUEUE_MAX} undelivered messages: \
                 a message storm the simulated network does not bound (it models no \
                 sender backpressure); the run cannot go on",
                SimTime::now()
            );
        }
        let sent = to.is_some_and(|to| Network::enqueue(&mut inner, conn, to, Item::Data(msg)));
        if !sent {
            return Err(ConnectionClosed(conn));
        }
        inner.stats.sent += 1;
        Ok(())
    }

    /// Closes `conn`: the peer receives what was already sent, then `Closed { PeerClosed }`.
    /// Nothing more is delivered to this side. Closing twice is a no-op.
    pub fn close(&self, conn: ConnId) {
        let mut inner = self.net.lock();
        let Some(c) = inner.conns.get_mut(&conn) else {
            return;
        };
        let to = match self.my_side(c) {
            Some(Side::Client) if c.client_open => {
                c.client_open = false;
                Some(Side::Server)
            }
            Some(Side::Server) if c.server_open => {
                c.server_open = false;
                Some(Side::Client)
            }
            _ => None,
        };
        if let Some(to) = to {
            Network::enqueue(&mut inner, conn, to, Item::Fin(CloseReason::PeerClosed));
        }
        Network::forget_if_done(&mut inner, conn);
    }

    /// The peer at the other end of `conn`, if it is open on this side.
    pub fn peer(&self, conn: ConnId) -> Option<Arc<str>> {
        let inner = self.net.lock();
        let c = inner.conns.get(&conn)?;
        match self.my_side(c)? {
            Side::Client if c.client_open => Some(c.server.clone()),
            Side::Server if c.server_open => Some(c.client.clone()),
            _ => None,
        }
    }
}

/// The network's delivery scheduler: never finishes; woken by the timers that sends arm.
struct Scheduler<M> {
    net: Network<M>,
}

impl<M: Send + 'static> Future for Scheduler<M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.net.run_due(cx);
        Poll::Pending
    }
}
