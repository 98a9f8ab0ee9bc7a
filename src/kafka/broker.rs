//! The Kafka broker process on the simulator: a thin async host around the sans-IO
//! [`BrokerCore`] (which holds the [`super::controller::Controller`], the broker-side
//! checks and one [`super::replica::Replica`] per hosted partition).
//!
//! The host moves bytes and time; every decision is the core's. It owns:
//! - the ZooKeeper session (`zookeeper.session.timeout.ms`): it runs the core's requests on
//!   it and hands back their replies and the session's watches; tells the core when the
//!   session first connects (registration starts); and when the client reports the
//!   session expired, waits one tick, so that every watch notification the client read
//!   before the expiry reaches the controller first (bytes sent before the server closed
//!   the connection are read first, as in TCP), then opens a new session, as Kafka's
//!   `ZooKeeperClient` reinitializes itself, and tells the core;
//! - the controller's channels to other brokers ([`super::control_channel`], Kafka's
//!   `ControllerChannelManager`): one connection per broker, each request re-sent until
//!   the broker acknowledges it, dropped only when the controller removes the broker or
//!   resigns;
//! - the replication network client: one outbound connection per peer broker; a request
//!   whose connection closes, or that waits longer than [`REQUEST_TIMEOUT`], is answered
//!   locally with an error so the follower backs off and retries (Kafka's NetworkClient);
//! - timers, and the page-cache model: after every step the host mirrors each partition
//!   log onto the node's disk ([`super::log_dir::LogDir`]); the OS writes dirty pages back
//!   every [`WRITEBACK`] (durable one fsync latency of the node's disk later, so a slow
//!   disk widens the window a power loss empties), and the HW is checkpointed every
//!   [`HW_CHECKPOINT`]. A start recovers the logs from the disk, so a process kill keeps
//!   every record and a power loss drops what was not yet flushed.

use super::broker_core::{BrokerParams, Input, Output};
use super::config::BrokerConfig;
use super::control_channel::{ChannelOutput, ControlChannels};
use super::controller::{ControllerBugs, ControllerConfig};
use super::log_dir::LogDir;
use super::net::{broker_id_of, broker_node, to_watch, to_zk_op, to_zk_result, Demux, KafkaWire};
use super::replica::{KafkaBugs, Replica, ReplicaConfig};
use super::wire::{
    BrokerId, FetchResponse, KafkaError, Message, OffsetsForLeaderEpochResponse, TopicPartition,
};
use super::zkops::{ZkReply, ZkRequest, ZkWatchEvent};
use crate::history::{Event, KafkaEvent, Recorder};
use crate::net::{NetMsg, NodeCtx};
use crate::zk::client::{ClientConfig, ClientState, ProcessIds, ZkClient};
use futures::FutureExt;
use kzsim_sim::net::{Endpoint, NetEvent};
use kzsim_sim::{ConnId, SimTime};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

pub use super::broker_core::{BrokerCore, BrokerMetrics};

/// How long a broker-to-broker request may wait for its answer (`request.timeout.ms`,
/// shortened for simulation).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// OS writeback: every log is flushed this often (the interval every simulated node's OS
/// uses).
pub const WRITEBACK: Duration = kzsim_sim::disk::OS_WRITEBACK_INTERVAL;
/// `replica.high.watermark.checkpoint.interval.ms`.
pub const HW_CHECKPOINT: Duration = Duration::from_secs(5);
/// Housekeeping tick: session state, request timeouts, the controller's channels.
const TICK: Duration = Duration::from_millis(100);

/// Everything a broker process needs to start.
#[derive(Clone, Debug)]
pub struct BrokerSpec {
    /// `broker.id` and the rest of `server.properties`.
    pub config: BrokerConfig,
    /// Replica settings.
    pub replica: ReplicaConfig,
    /// Controller settings.
    pub controller: ControllerConfig,
    /// Replication bug flags.
    pub bugs: KafkaBugs,
    /// Controller bug flags.
    pub controller_bugs: ControllerBugs,
    /// ZooKeeper server node names (the connect string).
    pub zk_servers: Vec<String>,
    /// Where the broker's ZooKeeper requests are recorded (the run's history), under
    /// process ids from `zk_processes`.
    pub recorder: Recorder,
    /// Process ids for the broker's recorded ZooKeeper requests (see [`ProcessIds`]).
    pub zk_processes: ProcessIds,
}

impl BrokerSpec {
    fn params(&self) -> BrokerParams {
        BrokerParams {
            id: self.config.broker_id,
            replica: self.replica.clone(),
            controller: self.controller,
            bugs: self.bugs,
            controller_bugs: self.controller_bugs,
        }
    }
}

/// Where a broker's [`BrokerCore`] lives, shared with the cluster handle (for queries and
/// the end-of-run log snapshots). A start replaces it; after a crash it keeps the last
/// incarnation's state for those queries.
pub type BrokerSlot = Arc<Mutex<Option<BrokerCore>>>;

/// Events the broker's helper tasks send to its main loop, tagged with the session
/// generation they belong to.
enum Ev {
    ZkReply(ZkReply),
    Watch { gen: u64, w: ZkWatchEvent },
    Connected { gen: u64, session: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Core(u64),
    Writeback,
    HwCheckpoint,
}

struct InFlight {
    conn: ConnId,
    sent: SimTime,
    msg: Message,
}

struct Host {
    name: Arc<str>,
    id: BrokerId,
    spec: Arc<BrokerSpec>,
    ctx_trace: kzsim_sim::Trace<Event>,
    endpoint: Endpoint<NetMsg>,
    demux: Demux,
    seed: u64,
    zk: ZkClient,
    zk_gen: u64,
    /// The tick that first saw the session expired: the next one acts on it.
    expiry_seen: bool,
    ev_tx: mpsc::UnboundedSender<Ev>,
    /// Replication connections to peer brokers.
    peers: BTreeMap<BrokerId, ConnId>,
    /// Replication requests awaiting their answer, per peer and partition.
    inflight: BTreeMap<(BrokerId, TopicPartition), InFlight>,
    /// The controller's request channels to other brokers (while active).
    control: ControlChannels,
    timers: BTreeMap<(SimTime, u64), TimerKey>,
    timer_seq: u64,
    log_dir: LogDir,
}

/// Runs one incarnation of a broker process until the node dies.
pub async fn run_broker(ctx: NodeCtx, spec: Arc<BrokerSpec>, slot: BrokerSlot) {
    let id = spec.config.broker_id;
    let (log_dir, logs, notes) =
        LogDir::open(ctx.disk.clone(), spec.replica.log_flush_interval_messages);
    for n in notes {
        tracing::warn!(broker = id, "log recovery: {:?} {}", n.tp, n.what);
    }
    let mut replicas = BTreeMap::new();
    for (tp, log) in logs {
        ctx.trace.record(
            &ctx.name,
            Event::Kafka(KafkaEvent::LogRecovered {
                broker: id,
                topic: tp.topic.clone(),
                partition: tp.partition,
                leo: log.leo(),
                hw: log.hw(),
            }),
        );
        let r = Replica::with_log(id, tp.clone(), spec.replica.clone(), spec.bugs, log);
        replicas.insert(tp, r);
    }
    *slot.lock().expect("broker slot") = Some(BrokerCore::new(spec.params(), replicas));
    let (demux, zk_inbox, mut kafka_inbox) = Demux::start(ctx.inbox, &spec.zk_servers);
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let zk = start_zk(
        ZkCtx {
            endpoint: &ctx.endpoint,
            trace: &ctx.trace,
            name: &ctx.name,
        },
        zk_inbox,
        &spec,
        ctx.seed,
    );
    let mut host = Host {
        name: ctx.name.clone(),
        id,
        spec: spec.clone(),
        ctx_trace: ctx.trace.clone(),
        endpoint: ctx.endpoint.clone(),
        demux,
        seed: ctx.seed,
        zk,
        zk_gen: 0,
        expiry_seen: false,
        ev_tx,
        peers: BTreeMap::new(),
        inflight: BTreeMap::new(),
        control: ControlChannels::new(),
        timers: BTreeMap::new(),
        timer_seq: 0,
        log_dir,
    };
    host.start_session_tasks();
    let now = SimTime::now();
    host.set_timer(now.plus(WRITEBACK), TimerKey::Writeback);
    host.set_timer(now.plus(HW_CHECKPOINT), TimerKey::HwCheckpoint);
    host.with_core(&slot, |h, c| {
        let outs = c.start(now);
        h.execute(outs);
    });
    let mut next_tick = now.plus(TICK);
    let mut alarm = kzsim_sim::time::Alarm::new();
    loop {
        let wake = host
            .timers
            .keys()
            .next()
            .map(|(t, _)| *t)
            .unwrap_or(next_tick)
            .min(next_tick);
        let sleep = alarm.wait_until(wake);
        futures::select_biased! {
            ev = kafka_inbox.recv().fuse() => match ev {
                Some(ev) => host.with_core(&slot, |h, c| h.on_net(c, ev)),
                None => return,
            },
            ev = ev_rx.recv().fuse() => if let Some(ev) = ev {
                host.with_core(&slot, |h, c| h.on_ev(c, ev));
            },
            _ = sleep.fuse() => {
                let now = SimTime::now();
                if now >= next_tick {
                    next_tick = now.plus(TICK);
                    host.with_core(&slot, |h, c| h.on_tick(c));
                }
                host.with_core(&slot, |h, c| h.fire_timers(c));
            }
        }
    }
}

fn start_zk(
    ctx: ZkCtx<'_>,
    inbox: kzsim_sim::net::Inbox<NetMsg>,
    spec: &BrokerSpec,
    seed: u64,
) -> ZkClient {
    let cfg = ClientConfig {
        servers: spec.zk_servers.clone(),
        session_timeout_ms: spec.config.zookeeper_session_timeout_ms,
        read_only_ok: false,
        process: 0,
    };
    // The broker's ZooKeeper traffic is history: its requests (the controller's elections
    // and partition-state writes, registration, ISR updates) and what only its client sees
    // (watches, session states, pings), so the ZooKeeper checkers judge it too.
    let zk = ZkClient::start(
        ctx.endpoint.clone(),
        inbox,
        cfg,
        seed,
        spec.recorder.clone(),
    );
    zk.record_events(ctx.trace.clone(), ctx.name.clone());
    zk.record_submitted(spec.zk_processes.clone());
    zk
}

/// What a broker's ZooKeeper client needs from its node: where to send, where to record.
#[derive(Clone, Copy)]
struct ZkCtx<'a> {
    endpoint: &'a Endpoint<NetMsg>,
    trace: &'a kzsim_sim::Trace<Event>,
    name: &'a Arc<str>,
}

impl Host {
    /// Runs `f` on the core, then mirrors every partition log onto the disk.
    fn with_core(&mut self, slot: &BrokerSlot, f: impl FnOnce(&mut Host, &mut BrokerCore)) {
        let mut g = slot.lock().expect("broker slot");
        let core = g.as_mut().expect("core set at start");
        f(self, core);
        for (tp, r) in core.replicas.iter_mut() {
            self.log_dir.sync(tp, r.log_mut());
        }
    }

    /// Steps the core with `input` and carries out what it asks.
    fn step(&mut self, core: &mut BrokerCore, input: Input) {
        let outs = core.step(SimTime::now(), input);
        self.execute(outs);
    }

    fn execute(&mut self, outs: Vec<Output>) {
        let now = SimTime::now();
        for o in outs {
            match o {
                Output::Zk(req) => self.zk_call(req),
                Output::SendPeer { to, msg } => self.send_peer(to, msg),
                Output::Reply { conn, wire } => {
                    let _ = self.endpoint.send(conn, NetMsg::Kafka(wire));
                }
                Output::Close { conn } => self.endpoint.close(conn),
                Output::ControlSend { to, msg } => {
                    let outs = self.control.send(now, to, msg);
                    self.channel_outputs(outs);
                }
                Output::ControlRemoveBroker(to) => {
                    let outs = self.control.remove_broker(to);
                    self.channel_outputs(outs);
                }
                Output::ControlClear => {
                    let outs = self.control.clear();
                    self.channel_outputs(outs);
                }
                Output::SetTimer { at, id } => self.set_timer(at, TimerKey::Core(id)),
                Output::Record(e) => self.ctx_trace.record(&self.name, Event::Kafka(e)),
            }
        }
    }

    fn set_timer(&mut self, at: SimTime, key: TimerKey) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), key);
    }

    /// Watch forwarding and the first-connection notice for the current session.
    fn start_session_tasks(&mut self) {
        let gen = self.zk_gen;
        let mut watches = self.zk.watch_events();
        let tx = self.ev_tx.clone();
        madsim::task::spawn_local(async move {
            while let Some(w) = watches.recv().await {
                if let Some(w) = to_watch(&w) {
                    if tx.send(Ev::Watch { gen, w }).is_err() {
                        return;
                    }
                }
            }
        });
        let (zk, tx) = (self.zk.clone(), self.ev_tx.clone());
        let timeout = Duration::from_millis(self.spec.config.zookeeper_session_timeout_ms);
        madsim::task::spawn_local(async move {
            // Bounded by the session: it connects, or expires or closes.
            while zk.state() == ClientState::Connecting {
                zk.wait_connected(timeout).await;
            }
            if let (ClientState::Connected(_), Some(session)) = (zk.state(), zk.session()) {
                let _ = tx.send(Ev::Connected { gen, session });
            }
        });
    }

    fn zk_call(&mut self, req: ZkRequest) {
        let fut = self.zk.submit(to_zk_op(&req.op));
        let tx = self.ev_tx.clone();
        madsim::task::spawn_local(async move {
            let result = to_zk_result(fut.await);
            let _ = tx.send(Ev::ZkReply(ZkReply { id: req.id, result }));
        });
    }

    fn on_ev(&mut self, core: &mut BrokerCore, ev: Ev) {
        match ev {
            Ev::ZkReply(reply) => self.step(core, Input::ZkReply(reply)),
            Ev::Watch { gen, w } if gen == self.zk_gen => self.step(core, Input::ZkWatch(w)),
            Ev::Connected { gen, session } if gen == self.zk_gen => {
                self.step(core, Input::ZkConnected { session })
            }
            _ => {} // a previous session's watch or connection
        }
    }

    fn on_tick(&mut self, core: &mut BrokerCore) {
        if self.zk.state() == ClientState::Expired && !self.expiry_seen {
            // Watch notices the client read before the expiry are still on their way
            // through the forwarding task; they are delivered before the next tick (Kafka's
            // controller queued their events before the Expire event).
            self.expiry_seen = true;
        } else if self.zk.state() == ClientState::Expired {
            // The old session's ephemerals are gone. Open a new session first (Kafka's
            // ZooKeeperClient does it by itself), so the controller's re-sent requests go
            // out on it; then re-register with a new broker epoch.
            self.expiry_seen = false;
            self.zk_gen += 1;
            let inbox = self.demux.new_zk_inbox();
            self.zk = start_zk(
                ZkCtx {
                    endpoint: &self.endpoint,
                    trace: &self.ctx_trace,
                    name: &self.name,
                },
                inbox,
                &self.spec,
                self.seed.wrapping_add(self.zk_gen),
            );
            self.step(core, Input::SessionExpired);
            self.start_session_tasks();
        }
        let now = SimTime::now();
        let stale: Vec<BrokerId> = self
            .inflight
            .iter()
            .filter(|(_, f)| now.since(f.sent) > REQUEST_TIMEOUT)
            .map(|((to, _), _)| *to)
            .collect();
        for to in stale {
            if let Some(conn) = self.peers.remove(&to) {
                self.endpoint.close(conn);
                self.fail_inflight(core, conn);
            }
        }
        let outs = self.control.poll(now);
        self.channel_outputs(outs);
    }

    /// Carries out what the controller's channels ask for.
    fn channel_outputs(&mut self, outs: Vec<ChannelOutput>) {
        let mut queue: VecDeque<ChannelOutput> = outs.into();
        while let Some(o) = queue.pop_front() {
            match o {
                ChannelOutput::Connect { to } => {
                    let conn = self.endpoint.connect(&broker_node(to));
                    queue.extend(self.control.connected(SimTime::now(), to, conn));
                }
                ChannelOutput::Send {
                    conn, corr, msg, ..
                } => {
                    let wire = NetMsg::Kafka(KafkaWire::Control {
                        from: self.id,
                        corr,
                        msg,
                    });
                    if self.endpoint.send(conn, wire).is_err() {
                        self.control.on_closed(SimTime::now(), conn);
                    }
                }
                ChannelOutput::Close { conn } => self.endpoint.close(conn),
            }
        }
    }

    fn fire_timers(&mut self, core: &mut BrokerCore) {
        let now = SimTime::now();
        while let Some((&(at, seq), _)) = self.timers.iter().next() {
            if at > now {
                break;
            }
            let key = self.timers.remove(&(at, seq)).expect("listed");
            match key {
                TimerKey::Core(id) => self.step(core, Input::Timer(id)),
                TimerKey::Writeback => {
                    for (tp, r) in core.replicas.iter_mut() {
                        self.log_dir.write_back(tp, r.log_mut());
                    }
                    self.set_timer(now.plus(WRITEBACK), TimerKey::Writeback);
                }
                TimerKey::HwCheckpoint => {
                    self.log_dir
                        .checkpoint_hws(core.replicas.iter().map(|(tp, r)| (tp, r.log())));
                    self.set_timer(now.plus(HW_CHECKPOINT), TimerKey::HwCheckpoint);
                }
            }
        }
    }

    /// Sends replication traffic to `to` on its connection (opened on first use); fetches
    /// and epoch queries are tracked until answered.
    fn send_peer(&mut self, to: BrokerId, msg: Message) {
        let conn = *self
            .peers
            .entry(to)
            .or_insert_with(|| self.endpoint.connect(&broker_node(to)));
        let tracked = match &msg {
            Message::Fetch(f) => Some(f.tp.clone()),
            Message::OffsetsForLeaderEpoch(r) => Some(r.tp.clone()),
            _ => None,
        };
        if let Some(tp) = tracked {
            let sent = SimTime::now();
            let msg = msg.clone();
            self.inflight.insert((to, tp), InFlight { conn, sent, msg });
        }
        let wire = NetMsg::Kafka(KafkaWire::Broker { from: self.id, msg });
        if self.endpoint.send(conn, wire).is_err() {
            // The Closed event for this connection fails whatever is in flight on it.
            self.peers.remove(&to);
        }
    }

    /// Answers every request in flight on `conn` with an error, as the network client does
    /// when a connection drops.
    fn fail_inflight(&mut self, core: &mut BrokerCore, conn: ConnId) {
        let dead: Vec<(BrokerId, TopicPartition)> = self
            .inflight
            .iter()
            .filter(|(_, f)| f.conn == conn)
            .map(|(k, _)| k.clone())
            .collect();
        for key in dead {
            let f = self.inflight.remove(&key).expect("listed");
            let msg = match f.msg {
                Message::Fetch(req) => Message::FetchResponse(FetchResponse {
                    tp: req.tp,
                    current_leader_epoch: req.current_leader_epoch,
                    fetch_offset: req.fetch_offset,
                    result: Err(KafkaError::RequestTimedOut),
                }),
                Message::OffsetsForLeaderEpoch(req) => {
                    Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                        tp: req.tp,
                        current_leader_epoch: req.current_leader_epoch,
                        result: Err(KafkaError::RequestTimedOut),
                    })
                }
                _ => continue,
            };
            self.step(core, Input::Peer { from: key.0, msg });
        }
    }

    fn on_net(&mut self, core: &mut BrokerCore, ev: NetEvent<NetMsg>) {
        match ev {
            NetEvent::Accepted { .. } => {}
            NetEvent::Closed { conn, peer, .. } => {
                if self.control.owns(conn) {
                    self.control.on_closed(SimTime::now(), conn);
                    return;
                }
                if let Some(b) = broker_id_of(&peer) {
                    if self.peers.get(&b) == Some(&conn) {
                        self.peers.remove(&b);
                    }
                }
                self.fail_inflight(core, conn);
                self.step(core, Input::ConnClosed { conn });
            }
            NetEvent::Message { conn, packet, .. } => {
                let NetMsg::Kafka(msg) = packet.msg else {
                    return;
                };
                let input = match msg {
                    KafkaWire::Broker { from, msg } => {
                        if let Message::FetchResponse(FetchResponse { tp, .. })
                        | Message::OffsetsForLeaderEpochResponse(
                            OffsetsForLeaderEpochResponse { tp, .. },
                        ) = &msg
                        {
                            self.inflight.remove(&(from, tp.clone()));
                        }
                        Input::Peer { from, msg }
                    }
                    KafkaWire::Control { from, corr, msg } => Input::Control {
                        conn,
                        from,
                        corr,
                        msg,
                    },
                    KafkaWire::ControlAck { corr } => return self.control.on_ack(conn, corr),
                    KafkaWire::Produce(produce) => Input::Produce { conn, produce },
                    KafkaWire::ClientFetch {
                        correlation_id,
                        tp,
                        offset,
                        max,
                    } => Input::ClientFetch {
                        conn,
                        correlation_id,
                        tp,
                        offset,
                        max,
                    },
                    KafkaWire::Metadata { correlation_id } => Input::Metadata {
                        conn,
                        correlation_id,
                    },
                    KafkaWire::ProduceResponse(_)
                    | KafkaWire::ClientFetchResponse { .. }
                    | KafkaWire::MetadataResponse { .. } => return,
                };
                self.step(core, input);
            }
        }
    }
}
