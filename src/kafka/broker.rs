//! The Kafka broker process on the simulator: a thin async host around the sans-IO
//! [`Controller`], [`BrokerFencing`] and one [`Replica`] per hosted partition.
//!
//! The host owns the node's network, its ZooKeeper session, timers and the page-cache model:
//! - ZooKeeper: one session (`zookeeper.session.timeout.ms`); the broker makes sure the
//!   persistent paths exist, registers ephemeral `/brokers/ids/<id>` (its czxid is the
//!   broker epoch) and starts the controller election. A NODEEXISTS from the previous
//!   session's znode is retried until that session's ephemerals are gone (KAFKA-1029).
//!   When the client reports the session expired, the host waits one tick, so that every
//!   watch notification the client read before the expiry reaches the controller first
//!   (bytes sent before the server closed the connection are read first, as in TCP). Then
//!   it opens a new session, as Kafka's `ZooKeeperClient` reinitializes itself, tells the
//!   controller (which re-sends the requests of the event in progress on the new session
//!   and resigns when they are done: KAFKA-6082's zombie), and re-registers with a new
//!   broker epoch. Requests are queued on the session in issue order and pipelined; while
//!   ZooKeeper has no quorum they fail with CONNECTIONLOSS and the controller retries its
//!   reads (after a short pause).
//! - The controller's requests to other brokers go through its channels
//!   ([`super::control_channel`], Kafka's `ControllerChannelManager`): one connection per
//!   broker, each request re-sent until the broker acknowledges it, dropped only when the
//!   controller removes the broker (it died or bounced) or resigns.
//! - Controller requests pass the broker-side checks (stale controller epoch, stale broker
//!   epoch, per-partition leader epoch) before reaching replicas; rejections are recorded,
//!   and every handled request is acknowledged. Until the process has registered (and so
//!   knows its broker epoch) the connection is closed unanswered: Kafka starts its request
//!   processors only after `registerBroker`, so the controller's send thread backs off and
//!   tries again; what then arrives meant for a previous incarnation carries its older
//!   broker epoch and is rejected as stale.
//! - Replication traffic goes over one outbound connection per peer broker. A request whose
//!   connection closes, or that waits longer than the request timeout, is answered locally
//!   with an error so the follower loop backs off and retries (Kafka's NetworkClient).
//! - ISR changes are CASes on the partition state znode with the leader's cached zkVersion;
//!   on BADVERSION or CONNECTIONLOSS the host re-reads and reports success only if the znode
//!   already holds exactly the new state (`ReplicationUtils.checkLeaderAndIsrZkData`).
//!   Each changed partition is then announced to the controller through a persistent
//!   sequential `/isr_change_notification/isr_change_` znode, batched as in 2.x
//!   (`ReplicaManager.maybePropagateIsrChanges`: checked every 2.5 s, written once no change
//!   came for 5 s or a minute passed since the last one).
//! - Durability: after every step the host mirrors each partition log onto the node's disk
//!   ([`super::log_dir::LogDir`]); the OS writes dirty pages back each second (durable one
//!   fsync latency of the node's disk later, so a slow disk widens the window a power loss
//!   empties), and the HW is checkpointed every 5 s. A start recovers the logs from the disk, so a process kill
//!   keeps every record and a power loss drops what was not yet flushed.
//! - Produce and fetch run on cached state only, so they keep working without ZooKeeper.

use super::config::BrokerConfig;
use super::control_channel::{ChannelOutput, ControlChannels};
use super::controller::{self, BrokerFencing, Controller, ControllerBugs, ControllerConfig};
use super::log_dir::LogDir;
use super::net::{
    broker_id_of, broker_node, ensure_path, to_watch, to_zk_op, to_zk_result, Demux, KafkaWire,
};
use super::replica::{self, IsrUpdate, KafkaBugs, Replica, ReplicaConfig};
use super::wire::{
    BrokerId, FetchResponse, KafkaError, Message, OffsetsForLeaderEpochResponse, PartitionMetadata,
    Produce, ProduceResponse, TopicPartition,
};
use super::zkops::{ZkError, ZkFailure, ZkResult, ZkWatchEvent};
use super::znodes::{self, BrokerRegistration, PartitionState};
use crate::history::{Event, KafkaEvent, Recorder};
use crate::net::{NetMsg, NodeCtx};
use crate::zk::client::{ClientConfig, ClientState, ProcessIds, ZkClient};
use crate::zk::request::ZkOp;
use crate::zk::types::{CreateMode, ErrorCode};
use futures::FutureExt;
use kzsim_sim::net::{Endpoint, NetEvent};
use kzsim_sim::{ConnId, SimTime};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a broker-to-broker request may wait for its answer (`request.timeout.ms`,
/// shortened for simulation).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// OS writeback: every log is flushed this often.
const WRITEBACK: Duration = Duration::from_secs(1);
/// `replica.high.watermark.checkpoint.interval.ms`.
const HW_CHECKPOINT: Duration = Duration::from_secs(5);
/// How often pending ISR changes are considered for propagation.
const ISR_PROPAGATION_CHECK: Duration = Duration::from_millis(2_500);
/// `IsrChangePropagationBlackOut`: propagate once no ISR changed for this long...
const ISR_PROPAGATION_BLACKOUT: Duration = Duration::from_secs(5);
/// `IsrChangePropagationInterval`: ...or this long after the previous propagation.
const ISR_PROPAGATION_INTERVAL: Duration = Duration::from_secs(60);
/// Housekeeping tick: session state, request timeouts.
const TICK: Duration = Duration::from_millis(100);
/// Pause before a CONNECTIONLOSS reply is handed to the controller (which retries reads at
/// once), so a ZooKeeper outage does not become a busy loop.
const ZK_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Pause between registration attempts (paths not created, NODEEXISTS from the previous
/// session's znode, or an unreadable registration).
const REGISTER_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause before an `isr_change_notification` write that lost its connection is retried.
const ISR_NOTIFICATION_RETRY_PAUSE: Duration = Duration::from_millis(500);

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

/// A broker's metrics, as JMX names them (kafka.controller / kafka.server MBeans).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerMetrics {
    /// `ActiveControllerCount`: 1 while this broker is the active controller.
    pub active_controller_count: u32,
    /// `UnderReplicatedPartitions`: partitions this broker leads whose ISR is smaller than
    /// the replica set.
    pub under_replicated_partitions: u32,
    /// `OfflinePartitionsCount` (active controller only): partitions with no leader.
    pub offline_partitions_count: u32,
    /// `IsrShrinksPerSec` as a count: ISR shrinks this broker made as leader.
    pub isr_shrinks: u64,
    /// `IsrExpandsPerSec` as a count.
    pub isr_expands: u64,
    /// `LeaderElectionRateAndTimeMs` as a count: leader changes this broker wrote as
    /// controller.
    pub leader_elections: u64,
}

/// One broker's state, shared between its process and the cluster handle (for queries
/// and the end-of-run log snapshots). It outlives a crash: the next incarnation takes the
/// replicas' logs from it (after a power loss) and rebuilds everything else.
pub struct BrokerCore {
    /// `broker.id`.
    pub id: BrokerId,
    /// The controller component.
    pub controller: Controller,
    /// Broker-side checks on controller requests.
    pub fencing: BrokerFencing,
    /// Replicas hosted here.
    pub replicas: BTreeMap<TopicPartition, Replica>,
    /// Replica sets from applied LeaderAndIsr.
    pub assignments: BTreeMap<TopicPartition, Vec<BrokerId>>,
    /// Metadata cache (UpdateMetadata).
    pub metadata: BTreeMap<TopicPartition, PartitionMetadata>,
    /// Current broker epoch (czxid of the registration), once registered.
    pub broker_epoch: Option<i64>,
    isr_shrinks: u64,
    isr_expands: u64,
    leader_elections: u64,
    isr_len: BTreeMap<TopicPartition, usize>,
    written_leader: BTreeMap<TopicPartition, i32>,
}

impl BrokerCore {
    fn new(spec: &BrokerSpec, replicas: BTreeMap<TopicPartition, Replica>) -> BrokerCore {
        let id = spec.config.broker_id;
        BrokerCore {
            id,
            controller: Controller::new(id, spec.controller, spec.controller_bugs),
            fencing: BrokerFencing::new(id, -1),
            replicas,
            assignments: BTreeMap::new(),
            metadata: BTreeMap::new(),
            broker_epoch: None,
            isr_shrinks: 0,
            isr_expands: 0,
            leader_elections: 0,
            isr_len: BTreeMap::new(),
            written_leader: BTreeMap::new(),
        }
    }

    /// The broker's metrics now.
    pub fn metrics(&self) -> BrokerMetrics {
        let under = self
            .replicas
            .iter()
            .filter(|(tp, r)| {
                r.is_leader()
                    && self
                        .assignments
                        .get(*tp)
                        .is_some_and(|a| r.isr().len() < a.len())
            })
            .count() as u32;
        let offline = if self.controller.is_active() {
            self.metadata
                .keys()
                .filter(|tp| {
                    self.controller
                        .partition_state(tp)
                        .is_some_and(|(s, _)| s.leader < 0)
                })
                .count() as u32
        } else {
            0
        };
        BrokerMetrics {
            active_controller_count: self.controller.is_active() as u32,
            under_replicated_partitions: under,
            offline_partitions_count: offline,
            isr_shrinks: self.isr_shrinks,
            isr_expands: self.isr_expands,
            leader_elections: self.leader_elections,
        }
    }
}

/// Where a broker's [`BrokerCore`] lives across restarts.
pub type BrokerSlot = Arc<Mutex<Option<BrokerCore>>>;

/// What a ZooKeeper reply is for.
#[derive(Debug)]
enum ZkFor {
    Controller(super::zkops::ZkReqId),
    Isr(IsrUpdate),
}

/// Events the broker's helper tasks send to its main loop.
enum Ev {
    ZkReply {
        gen: u64,
        what: ZkFor,
        result: Result<ZkResult, ZkFailure>,
    },
    Watch {
        gen: u64,
        w: ZkWatchEvent,
    },
    Registered {
        gen: u64,
        epoch: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Replica(u64),
    Writeback,
    HwCheckpoint,
    IsrPropagation,
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
    peers: BTreeMap<BrokerId, ConnId>,
    /// The controller's request channels to other brokers (while active).
    control: ControlChannels,
    /// Brokers whose controller connection this process refused before it registered
    /// (recorded once each until registration).
    refused_unregistered: BTreeSet<BrokerId>,
    inflight: BTreeMap<(BrokerId, TopicPartition), InFlight>,
    timers: BTreeMap<(SimTime, u64), TimerKey>,
    replica_timers: BTreeMap<u64, (TopicPartition, replica::Timer)>,
    timer_seq: u64,
    next_corr: u64,
    produce_waiters: BTreeMap<u64, (ConnId, u64)>,
    local: VecDeque<Message>,
    log_dir: LogDir,
    /// Partitions whose ISR this broker changed since the last notification.
    isr_changes: BTreeSet<TopicPartition>,
    last_isr_change: SimTime,
    last_isr_propagation: SimTime,
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
    *slot.lock().expect("broker slot") = Some(BrokerCore::new(&spec, replicas));
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
        id: spec.config.broker_id,
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
        control: ControlChannels::new(),
        refused_unregistered: BTreeSet::new(),
        inflight: BTreeMap::new(),
        timers: BTreeMap::new(),
        replica_timers: BTreeMap::new(),
        timer_seq: 0,
        next_corr: 1,
        produce_waiters: BTreeMap::new(),
        local: VecDeque::new(),
        log_dir,
        isr_changes: BTreeSet::new(),
        last_isr_change: SimTime::ZERO,
        last_isr_propagation: SimTime::ZERO,
    };
    host.start_session_tasks();
    let now = SimTime::now();
    host.set_timer(now.plus(WRITEBACK), TimerKey::Writeback);
    host.set_timer(now.plus(HW_CHECKPOINT), TimerKey::HwCheckpoint);
    host.set_timer(now.plus(ISR_PROPAGATION_CHECK), TimerKey::IsrPropagation);
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
    fn with_core(&mut self, slot: &BrokerSlot, f: impl FnOnce(&mut Host, &mut BrokerCore)) {
        let mut g = slot.lock().expect("broker slot");
        let core = g.as_mut().expect("core set at start");
        f(self, core);
        self.drain_local(core);
        for (tp, r) in core.replicas.iter_mut() {
            self.log_dir.sync(tp, r.log_mut());
        }
    }

    fn record(&self, e: KafkaEvent) {
        self.ctx_trace.record(&self.name, Event::Kafka(e));
    }

    fn set_timer(&mut self, at: SimTime, key: TimerKey) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), key);
    }

    /// Registration and watch forwarding for the current session.
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
        let (zk, tx, id) = (self.zk.clone(), self.ev_tx.clone(), self.id);
        let timeout = self.spec.config.zookeeper_session_timeout_ms;
        let wall_start = self.spec.controller.wall_clock_start_ms;
        madsim::task::spawn_local(async move {
            if let Some(epoch) = register(&zk, id, timeout, wall_start).await {
                let _ = tx.send(Ev::Registered { gen, epoch });
            }
        });
    }

    fn zk_call(&mut self, op: &super::zkops::ZkOp, what: ZkFor) {
        let fut = self.zk.submit(to_zk_op(op));
        let (tx, gen) = (self.ev_tx.clone(), self.zk_gen);
        madsim::task::spawn_local(async move {
            let result = to_zk_result(fut.await);
            if matches!(&result, Err(f) if f.code == ZkError::ConnectionLoss) {
                madsim::time::sleep(ZK_RETRY_PAUSE).await;
            }
            let _ = tx.send(Ev::ZkReply { gen, what, result });
        });
    }

    fn isr_write(&mut self, u: IsrUpdate) {
        let (zk, tx, gen) = (self.zk.clone(), self.ev_tx.clone(), self.zk_gen);
        let path = znodes::partition_state_path(&u.tp.topic, u.tp.partition);
        let op = ZkOp::SetData {
            path: path.clone(),
            data: u.state.to_json().into_bytes(),
            version: u.zk_version,
        };
        let fut = zk.submit(op);
        madsim::task::spawn_local(async move {
            let result = match to_zk_result(fut.await) {
                Ok(r) => Ok(r),
                Err(f) if matches!(f.code, ZkError::BadVersion | ZkError::ConnectionLoss) => {
                    // checkLeaderAndIsrZkData: an ambiguous earlier try may have landed.
                    let read = zk.submit(ZkOp::GetData { path, watch: false });
                    match to_zk_result(read.await) {
                        Ok(ZkResult::Data { data, stat }) => {
                            match PartitionState::from_json(&data) {
                                Ok(s) if s == u.state => Ok(ZkResult::SetData { stat }),
                                _ => Err(f),
                            }
                        }
                        _ => Err(f),
                    }
                }
                Err(f) => Err(f),
            };
            let _ = tx.send(Ev::ZkReply {
                gen,
                what: ZkFor::Isr(u),
                result,
            });
        });
    }

    /// Writes one `/isr_change_notification/isr_change_` znode for the pending ISR
    /// changes when the 2.x batching rule allows. The write retries through connection
    /// loss (a duplicate notification is harmless: the controller re-reads the states).
    fn maybe_propagate_isr_changes(&mut self, now: SimTime) {
        let quiet = self.last_isr_change.plus(ISR_PROPAGATION_BLACKOUT) < now;
        let overdue = self.last_isr_propagation.plus(ISR_PROPAGATION_INTERVAL) < now;
        if self.isr_changes.is_empty() || !(quiet || overdue) {
            return;
        }
        let partitions = std::mem::take(&mut self.isr_changes)
            .into_iter()
            .map(|tp| znodes::TopicPartitionJson {
                topic: tp.topic,
                partition: tp.partition,
            })
            .collect();
        self.last_isr_propagation = now;
        let data = znodes::IsrChangeNotification::new(partitions).to_json();
        let zk = self.zk.clone();
        madsim::task::spawn_local(async move {
            loop {
                let op = ZkOp::Create {
                    path: znodes::ISR_CHANGE_NOTIFICATION_PREFIX.into(),
                    data: Some(data.clone().into_bytes()),
                    mode: CreateMode::PERSISTENT_SEQUENTIAL,
                };
                match zk.submit(op).await {
                    Err(ErrorCode::ConnectionLoss) => {
                        madsim::time::sleep(ISR_NOTIFICATION_RETRY_PAUSE).await
                    }
                    _ => return,
                }
            }
        });
    }

    fn on_ev(&mut self, core: &mut BrokerCore, ev: Ev) {
        match ev {
            Ev::Registered { gen, epoch } if gen == self.zk_gen => {
                self.refused_unregistered.clear();
                core.broker_epoch = Some(epoch);
                core.fencing.broker_epoch = epoch;
                self.record(KafkaEvent::BrokerRegistered {
                    broker: self.id,
                    broker_epoch: epoch,
                });
                let outs = core
                    .controller
                    .step(SimTime::now(), controller::Input::Start);
                self.controller_outputs(core, outs);
            }
            Ev::Watch { gen, w } if gen == self.zk_gen => {
                let outs = core
                    .controller
                    .step(SimTime::now(), controller::Input::ZkWatch(w));
                self.controller_outputs(core, outs);
            }
            Ev::ZkReply {
                gen,
                what: ZkFor::Controller(id),
                result,
            } if gen == self.zk_gen => {
                let reply = super::zkops::ZkReply { id, result };
                let outs = core
                    .controller
                    .step(SimTime::now(), controller::Input::ZkReply(reply));
                self.controller_outputs(core, outs);
            }
            Ev::ZkReply {
                what: ZkFor::Isr(u),
                result,
                ..
            } => {
                let result = match result {
                    Ok(ZkResult::SetData { stat }) => Ok(stat.version),
                    Ok(other) => panic!("ISR write answered {other:?}"),
                    Err(f) => Err(f.code),
                };
                let tp = u.tp.clone();
                self.replica_step(
                    core,
                    &tp,
                    replica::Input::IsrUpdateResult { id: u.id, result },
                );
            }
            _ => {} // a previous session's reply or watch
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
            let outs = core
                .controller
                .step(SimTime::now(), controller::Input::SessionExpired);
            self.controller_outputs(core, outs);
            self.start_session_tasks();
        }
        let now = SimTime::now();
        let stale: Vec<(BrokerId, TopicPartition)> = self
            .inflight
            .iter()
            .filter(|(_, f)| now.since(f.sent) > REQUEST_TIMEOUT)
            .map(|(k, _)| k.clone())
            .collect();
        for (to, _) in &stale {
            if let Some(conn) = self.peers.remove(to) {
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
                TimerKey::Replica(id) => {
                    if let Some((tp, t)) = self.replica_timers.remove(&id) {
                        self.replica_step(core, &tp, replica::Input::Timeout(t));
                    }
                }
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
                TimerKey::IsrPropagation => {
                    self.maybe_propagate_isr_changes(now);
                    self.set_timer(now.plus(ISR_PROPAGATION_CHECK), TimerKey::IsrPropagation);
                }
            }
        }
    }

    fn controller_outputs(&mut self, core: &mut BrokerCore, outs: Vec<controller::Output>) {
        for o in outs {
            match o {
                controller::Output::Zk(req) => self.zk_call(&req.op, ZkFor::Controller(req.id)),
                controller::Output::Send { to, msg } if to == self.id => self.local.push_back(msg),
                controller::Output::Send { to, msg } => {
                    let outs = self.control.send(SimTime::now(), to, msg);
                    self.channel_outputs(outs);
                }
                controller::Output::RemoveBroker(to) => {
                    let outs = self.control.remove_broker(to);
                    self.channel_outputs(outs);
                }
                controller::Output::Record(e) => {
                    if matches!(e, KafkaEvent::ControllerResigned { .. }) {
                        let outs = self.control.clear();
                        self.channel_outputs(outs);
                    }
                    if let KafkaEvent::PartitionStateWritten {
                        topic,
                        partition,
                        leader,
                        ..
                    } = &e
                    {
                        let tp = TopicPartition::new(topic, *partition);
                        let prev = core.written_leader.insert(tp, *leader);
                        if *leader >= 0 && prev.is_some_and(|p| p != *leader) {
                            core.leader_elections += 1;
                        }
                    }
                    self.record(e);
                }
            }
        }
    }

    fn send_broker(&mut self, to: BrokerId, msg: Message) {
        if to == self.id {
            self.local.push_back(msg);
            return;
        }
        let conn = *self
            .peers
            .entry(to)
            .or_insert_with(|| self.endpoint.connect(&broker_node(to)));
        if let Message::Fetch(f) = &msg {
            self.track(to, f.tp.clone(), conn, &msg);
        } else if let Message::OffsetsForLeaderEpoch(r) = &msg {
            self.track(to, r.tp.clone(), conn, &msg);
        }
        let wire = NetMsg::Kafka(KafkaWire::Broker { from: self.id, msg });
        if self.endpoint.send(conn, wire).is_err() {
            // The Closed event for this connection fails whatever is in flight on it.
            self.peers.remove(&to);
        }
    }

    fn track(&mut self, to: BrokerId, tp: TopicPartition, conn: ConnId, msg: &Message) {
        self.inflight.insert(
            (to, tp),
            InFlight {
                conn,
                sent: SimTime::now(),
                msg: msg.clone(),
            },
        );
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
            let (from, tp) = key;
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
            if core.replicas.contains_key(&tp) {
                self.replica_step(core, &tp, replica::Input::Message { from, msg });
            }
        }
    }

    fn drain_local(&mut self, core: &mut BrokerCore) {
        while let Some(msg) = self.local.pop_front() {
            self.on_broker_msg(core, self.id, msg);
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
                self.produce_waiters.retain(|_, (c, _)| *c != conn);
            }
            NetEvent::Message { conn, packet, .. } => {
                let NetMsg::Kafka(msg) = packet.msg else {
                    return;
                };
                match msg {
                    KafkaWire::Broker { from, msg } => self.on_broker_msg(core, from, msg),
                    KafkaWire::Control { from, corr, msg } => {
                        self.on_control_request(core, conn, from, corr, msg)
                    }
                    KafkaWire::ControlAck { corr } => self.control.on_ack(conn, corr),
                    KafkaWire::Produce(p) => self.on_produce(core, conn, p),
                    KafkaWire::ClientFetch {
                        correlation_id,
                        tp,
                        offset,
                        max,
                    } => {
                        let result = match core.replicas.get(&tp) {
                            Some(r) => r.client_fetch(offset, max),
                            None => Err(KafkaError::NotLeaderForPartition),
                        };
                        let resp = KafkaWire::ClientFetchResponse {
                            correlation_id,
                            tp,
                            result,
                        };
                        let _ = self.endpoint.send(conn, NetMsg::Kafka(resp));
                    }
                    KafkaWire::Metadata { correlation_id } => {
                        let resp = KafkaWire::MetadataResponse {
                            correlation_id,
                            partitions: core.metadata.values().cloned().collect(),
                        };
                        let _ = self.endpoint.send(conn, NetMsg::Kafka(resp));
                    }
                    KafkaWire::ProduceResponse(_)
                    | KafkaWire::ClientFetchResponse { .. }
                    | KafkaWire::MetadataResponse { .. } => {}
                }
            }
        }
    }

    fn on_produce(&mut self, core: &mut BrokerCore, conn: ConnId, mut p: Produce) {
        let client_corr = p.correlation_id;
        if !core.replicas.contains_key(&p.tp) {
            let resp = ProduceResponse {
                correlation_id: client_corr,
                tp: p.tp,
                result: Err(KafkaError::NotLeaderForPartition),
            };
            let _ = self
                .endpoint
                .send(conn, NetMsg::Kafka(KafkaWire::ProduceResponse(resp)));
            return;
        }
        let corr = self.next_corr;
        self.next_corr += 1;
        self.produce_waiters.insert(corr, (conn, client_corr));
        p.correlation_id = corr;
        let (tp, acks) = (p.tp.clone(), p.acks);
        self.replica_step(core, &tp, replica::Input::Produce(p));
        if acks == super::wire::Acks::Zero {
            self.produce_waiters.remove(&corr); // acks=0 gets no response
        }
    }

    /// A controller request on the controller's channel: handled and acknowledged once this
    /// process has registered. Before that its request processors are not running: the
    /// connection is closed unanswered, and the controller sends the request again later.
    fn on_control_request(
        &mut self,
        core: &mut BrokerCore,
        conn: ConnId,
        from: BrokerId,
        corr: u64,
        msg: Message,
    ) {
        if core.broker_epoch.is_none() {
            if self.refused_unregistered.insert(from) {
                self.reject(
                    msg.api_name(),
                    format!(
                        "from controller {from} before this broker registered (no broker \
                         epoch yet): request processors not started, the controller will \
                         send it again"
                    ),
                );
            }
            self.endpoint.close(conn);
            return;
        }
        self.on_broker_msg(core, from, msg);
        let ack = NetMsg::Kafka(KafkaWire::ControlAck { corr });
        let _ = self.endpoint.send(conn, ack);
    }

    fn reject(&self, request: &str, reason: String) {
        self.record(KafkaEvent::RequestRejected {
            broker: self.id,
            request: request.into(),
            reason,
        });
    }

    fn on_broker_msg(&mut self, core: &mut BrokerCore, from: BrokerId, msg: Message) {
        if core.broker_epoch.is_none()
            && matches!(
                msg,
                Message::LeaderAndIsr(_) | Message::UpdateMetadata(_) | Message::StopReplica(_)
            )
        {
            // `KafkaServer.startup` (2.x) registers the broker (`zkClient.registerBroker`,
            // whose czxid is the broker epoch, KIP-380) before it starts the request
            // processors (`socketServer.startControlPlaneProcessor` /
            // `startDataPlaneProcessors`): no controller request reaches a broker that has
            // not registered. Requests from other brokers' controllers are refused (and
            // sent again) in `on_control_request`; this guard only keeps any other path
            // from applying one, which could let this process lead, with a log a power
            // loss may have shortened, a leader epoch its previous incarnation led.
            return self.reject(
                msg.api_name(),
                format!(
                    "from controller {from} before this broker registered (no broker epoch \
                     yet): request processors not started"
                ),
            );
        }
        match msg {
            Message::LeaderAndIsr(req) => {
                let BrokerCore {
                    fencing, replicas, ..
                } = core;
                let filtered = fencing.filter_leader_and_isr(&req, |tp| {
                    replicas.get(tp).and_then(|r| r.leader_epoch())
                });
                let f = match filtered {
                    Ok(f) => f,
                    Err(e) => {
                        return self.reject(
                            "LeaderAndIsr",
                            format!(
                                "{e} (controller {} epoch {}, broker epoch {})",
                                req.controller_id, req.controller_epoch, req.broker_epoch
                            ),
                        )
                    }
                };
                for (tp, why) in f.ignored {
                    self.reject("LeaderAndIsr", format!("{tp}: {why}"));
                }
                for p in f.apply {
                    let tp = p.tp();
                    core.assignments.insert(tp.clone(), p.replicas.clone());
                    core.isr_len.insert(tp.clone(), p.isr.len());
                    core.replicas.entry(tp.clone()).or_insert_with(|| {
                        Replica::new(
                            self.id,
                            tp.clone(),
                            self.spec.replica.clone(),
                            self.spec.bugs,
                        )
                    });
                    self.replica_step(core, &tp, replica::Input::LeaderAndIsr(p));
                }
            }
            Message::UpdateMetadata(req) => match core.fencing.check_update_metadata(&req) {
                Ok(()) => {
                    for p in req.partitions {
                        core.metadata
                            .insert(TopicPartition::new(&p.topic, p.partition), p);
                    }
                }
                Err(e) => self.reject(
                    "UpdateMetadata",
                    format!(
                        "{e} (controller {} epoch {})",
                        req.controller_id, req.controller_epoch
                    ),
                ),
            },
            Message::StopReplica(req) => {
                let BrokerCore {
                    fencing, replicas, ..
                } = core;
                match fencing
                    .filter_stop_replica(&req, |tp| replicas.get(tp).and_then(|r| r.leader_epoch()))
                {
                    Ok(ds) => {
                        for (p, d) in ds {
                            let tp = TopicPartition::new(&p.topic, p.partition);
                            match d {
                                Ok(()) if core.replicas.contains_key(&tp) => {
                                    self.replica_step(core, &tp, replica::Input::StopReplica)
                                }
                                Ok(()) => {}
                                Err(e) => self.reject("StopReplica", format!("{tp}: {e}")),
                            }
                        }
                    }
                    Err(e) => self.reject("StopReplica", e.to_string()),
                }
            }
            Message::Fetch(ref f) => {
                let tp = f.tp.clone();
                if core.replicas.contains_key(&tp) {
                    self.replica_step(core, &tp, replica::Input::Message { from, msg });
                } else {
                    let resp = Message::FetchResponse(FetchResponse {
                        tp,
                        current_leader_epoch: f.current_leader_epoch,
                        fetch_offset: f.fetch_offset,
                        result: Err(KafkaError::NotLeaderForPartition),
                    });
                    self.send_broker(from, resp);
                }
            }
            Message::OffsetsForLeaderEpoch(ref r) => {
                let tp = r.tp.clone();
                if core.replicas.contains_key(&tp) {
                    self.replica_step(core, &tp, replica::Input::Message { from, msg });
                } else {
                    let resp =
                        Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                            tp,
                            current_leader_epoch: r.current_leader_epoch,
                            result: Err(KafkaError::NotLeaderForPartition),
                        });
                    self.send_broker(from, resp);
                }
            }
            Message::FetchResponse(ref r) => {
                let tp = r.tp.clone();
                self.answered(from, &tp);
                if core.replicas.contains_key(&tp) {
                    self.replica_step(core, &tp, replica::Input::Message { from, msg });
                }
            }
            Message::OffsetsForLeaderEpochResponse(ref r) => {
                let tp = r.tp.clone();
                self.answered(from, &tp);
                if core.replicas.contains_key(&tp) {
                    self.replica_step(core, &tp, replica::Input::Message { from, msg });
                }
            }
        }
    }

    fn answered(&mut self, from: BrokerId, tp: &TopicPartition) {
        self.inflight.remove(&(from, tp.clone()));
    }

    fn replica_step(&mut self, core: &mut BrokerCore, tp: &TopicPartition, input: replica::Input) {
        let Some(r) = core.replicas.get_mut(tp) else {
            return;
        };
        let outs = r.step(SimTime::now(), input);
        for o in outs {
            match o {
                replica::Output::Send { to, msg } => self.send_broker(to, msg),
                replica::Output::ProduceResponse(resp) => {
                    if let Some((conn, client_corr)) =
                        self.produce_waiters.remove(&resp.correlation_id)
                    {
                        let resp = ProduceResponse {
                            correlation_id: client_corr,
                            ..resp
                        };
                        let _ = self
                            .endpoint
                            .send(conn, NetMsg::Kafka(KafkaWire::ProduceResponse(resp)));
                    }
                }
                replica::Output::IsrUpdate(u) => self.isr_write(u),
                replica::Output::SetTimer { timer, at } => {
                    self.timer_seq += 1;
                    let id = self.timer_seq;
                    self.replica_timers.insert(id, (tp.clone(), timer));
                    self.set_timer(at, TimerKey::Replica(id));
                }
                replica::Output::Record(e) => {
                    if let KafkaEvent::IsrChanged { isr, .. } = &e {
                        self.isr_changes.insert(tp.clone());
                        self.last_isr_change = SimTime::now();
                        let prev = core.isr_len.insert(tp.clone(), isr.len()).unwrap_or(0);
                        if isr.len() < prev {
                            core.isr_shrinks += 1;
                        } else if isr.len() > prev {
                            core.isr_expands += 1;
                        }
                    }
                    self.record(e);
                }
            }
        }
    }
}

/// Makes sure the persistent paths exist, then registers `/brokers/ids/<id>` and returns
/// its czxid (the broker epoch). Retries until it succeeds or the session is gone
/// (`None`). A NODEEXISTS whose owner is another session is the previous session's znode
/// still waiting for expiry (KAFKA-1029): wait and retry. Real Kafka's
/// `checkedEphemeralCreate` makes that fatal at startup (the process exits and is restarted
/// by its supervisor); the retry here stands for that restart loop. Either way the process
/// serves no controller request and runs no controller until it is registered (see
/// `Host::on_broker_msg`), and the wait ends when the old session expires, at most its
/// timeout after ZooKeeper has a quorum.
async fn register(
    zk: &ZkClient,
    id: BrokerId,
    session_timeout_ms: u64,
    wall_clock_start_ms: i64,
) -> Option<i64> {
    let path = znodes::broker_id_path(id);
    loop {
        match zk.state() {
            ClientState::Expired | ClientState::Closed => return None,
            ClientState::Connecting => {
                zk.wait_connected(Duration::from_millis(session_timeout_ms))
                    .await;
                continue;
            }
            ClientState::Connected(_) => {}
        }
        let ok = ensure_path(zk, znodes::BROKER_IDS_PATH).await
            && ensure_path(zk, znodes::BROKER_TOPICS_PATH).await
            && ensure_path(zk, znodes::ISR_CHANGE_NOTIFICATION_PATH).await;
        if !ok {
            madsim::time::sleep(REGISTER_RETRY_PAUSE).await;
            continue;
        }
        let now = super::controller::wall_ms(wall_clock_start_ms, SimTime::now());
        let reg = BrokerRegistration::plaintext(&broker_node(id), 9092, now);
        let create = ZkOp::Create {
            path: path.clone(),
            data: Some(reg.to_json().into_bytes()),
            mode: CreateMode::EPHEMERAL,
        };
        let created = zk.submit(create).await;
        match created {
            Ok(_) | Err(ErrorCode::NodeExists) | Err(ErrorCode::ConnectionLoss) => {}
            Err(ErrorCode::SessionExpired) => return None,
            Err(_) => {
                madsim::time::sleep(REGISTER_RETRY_PAUSE).await;
                continue;
            }
        }
        // Read it back: ours if its owner is this session (also settles an ambiguous create).
        let read = zk
            .submit(ZkOp::GetData {
                path: path.clone(),
                watch: false,
            })
            .await;
        match read {
            Ok(crate::zk::request::ZkResponse::Data { stat, .. })
                if Some(stat.ephemeral_owner) == zk.session() =>
            {
                return Some(stat.czxid)
            }
            Err(ErrorCode::SessionExpired) => return None,
            _ => madsim::time::sleep(REGISTER_RETRY_PAUSE).await,
        }
    }
}
