//! One broker's protocol decisions as a sans-IO state machine: `step(now, input) -> outputs`.
//!
//! [`BrokerCore`] holds everything a broker decides; the host ([`super::broker`]) only
//! moves bytes and time: it runs the ZooKeeper client, the network, the timers and the
//! disk, feeds what happens to [`BrokerCore::step`] and carries out the outputs in order.
//! The core:
//! - registers the broker: makes sure the persistent paths exist, creates the ephemeral
//!   `/brokers/ids/<id>` and reads it back; its czxid is the broker epoch. A NODEEXISTS
//!   from the previous session's znode is retried until that session's ephemerals are
//!   gone (KAFKA-1029); every retry waits [`REGISTER_RETRY_PAUSE`] and a session gets at
//!   most [`REGISTER_ATTEMPTS_MAX`] of them. Real Kafka's `checkedEphemeralCreate` makes
//!   that NODEEXISTS fatal at startup (the process exits and its supervisor restarts it);
//!   the retry stands for that restart loop. Either way no controller request is served
//!   and no controller runs before registration;
//! - runs the [`Controller`] (its ZooKeeper requests, watches and replies; a
//!   CONNECTIONLOSS reply reaches it after [`ZK_RETRY_PAUSE`], so a ZooKeeper outage is
//!   no busy loop) and hands its requests for other brokers to the host's channels;
//! - applies controller requests after the broker-side checks ([`BrokerFencing`]) and
//!   routes replication traffic, produce and fetch to one [`Replica`] per partition;
//! - writes ISR changes as CASes on the partition state znode with the leader's cached
//!   zkVersion; on BADVERSION or CONNECTIONLOSS it re-reads and reports success only if
//!   the znode already holds exactly the new state (`ReplicationUtils.checkLeaderAndIsrZkData`);
//! - announces changed partitions to the controller through a persistent sequential
//!   `/isr_change_notification/isr_change_` znode, batched as in 2.x
//!   (`ReplicaManager.maybePropagateIsrChanges`: checked every [`ISR_PROPAGATION_CHECK`],
//!   written once no change came for [`ISR_PROPAGATION_BLACKOUT`] or
//!   [`ISR_PROPAGATION_INTERVAL`] passed since the last one), retrying a lost write at
//!   most [`ISR_NOTIFICATION_ATTEMPTS_MAX`] times.
//!
//! Produce and fetch run on cached state only, so they keep working without ZooKeeper.

use super::controller::{self, BrokerFencing, Controller, ControllerBugs, ControllerConfig};
use super::net::KafkaWire;
use super::replica::{self, IsrUpdate, KafkaBugs, Replica, ReplicaConfig};
use super::wire::{
    BrokerId, FetchResponse, KafkaError, Message, OffsetsForLeaderEpochResponse, PartitionMetadata,
    Produce, ProduceResponse, TopicPartition,
};
use super::zkops::{
    CreateMode, ZkError, ZkFailure, ZkOp, ZkReply, ZkReqId, ZkRequest, ZkResult, ZkWatchEvent,
};
use super::znodes::{self, BrokerRegistration, PartitionState};
use crate::history::KafkaEvent;
use kzsim_sim::{ConnId, SimTime};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// How often pending ISR changes are considered for propagation.
pub const ISR_PROPAGATION_CHECK: Duration = Duration::from_millis(2_500);
/// `IsrChangePropagationBlackOut`: propagate once no ISR changed for this long...
pub const ISR_PROPAGATION_BLACKOUT: Duration = Duration::from_secs(5);
/// `IsrChangePropagationInterval`: ...or this long after the previous propagation.
pub const ISR_PROPAGATION_INTERVAL: Duration = Duration::from_secs(60);
/// Pause before a CONNECTIONLOSS reply is handed to the controller (which retries reads at
/// once), so a ZooKeeper outage does not become a busy loop.
pub const ZK_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Pause between registration attempts (paths not created, NODEEXISTS from the previous
/// session's znode, or an unreadable registration).
pub const REGISTER_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Registration attempts per session (each [`REGISTER_RETRY_PAUSE`] apart: over eight
/// simulated minutes, far longer than any previous session takes to expire). Past it the
/// broker stays unregistered until its session is replaced.
pub const REGISTER_ATTEMPTS_MAX: u32 = 1_000;
/// Pause before an `isr_change_notification` write that lost its connection is retried.
pub const ISR_NOTIFICATION_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Tries per `isr_change_notification` write (a minute of CONNECTIONLOSS at
/// [`ISR_NOTIFICATION_RETRY_PAUSE`]; a later change writes a new notification, and the
/// controller re-reads every state when it fails over).
pub const ISR_NOTIFICATION_ATTEMPTS_MAX: u32 = 120;

/// What a broker reacts to.
#[derive(Clone, Debug)]
pub enum Input {
    /// The ZooKeeper session `session` connected for the first time: register.
    ZkConnected { session: i64 },
    /// The session expired; the host has opened a new one (registration starts again
    /// once it connects).
    SessionExpired,
    /// The reply to a [`Output::Zk`] request.
    ZkReply(ZkReply),
    /// A watch of the current session fired.
    ZkWatch(ZkWatchEvent),
    /// A timer set with [`Output::SetTimer`] fired.
    Timer(u64),
    /// Replication traffic from broker `from` (or the host's network client answering a
    /// request of ours whose connection dropped or timed out).
    Peer { from: BrokerId, msg: Message },
    /// A controller request on the controller's channel, on the accepted connection
    /// `conn`, tagged `corr`.
    Control {
        conn: ConnId,
        from: BrokerId,
        corr: u64,
        msg: Message,
    },
    /// A client's produce on connection `conn`.
    Produce { conn: ConnId, produce: Produce },
    /// A consumer's fetch on connection `conn`.
    ClientFetch {
        conn: ConnId,
        correlation_id: u64,
        tp: TopicPartition,
        offset: i64,
        max: usize,
    },
    /// A metadata request on connection `conn`.
    Metadata { conn: ConnId, correlation_id: u64 },
    /// An accepted connection closed: its pending produce answers are dropped.
    ConnClosed { conn: ConnId },
}

/// What the broker asks its host to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Run a ZooKeeper request on the current session; answer with [`Input::ZkReply`].
    Zk(ZkRequest),
    /// Send replication traffic to another broker.
    SendPeer { to: BrokerId, msg: Message },
    /// Answer on the accepted connection `conn`.
    Reply { conn: ConnId, wire: KafkaWire },
    /// Close the accepted connection `conn` unanswered.
    Close { conn: ConnId },
    /// Queue a controller request for broker `to` on the controller's channels.
    ControlSend { to: BrokerId, msg: Message },
    /// Drop the controller's channel to `to` (it died or bounced).
    ControlRemoveBroker(BrokerId),
    /// Drop every controller channel (the controller resigned).
    ControlClear,
    /// Fire [`Input::Timer`] with `id` at `at`.
    SetTimer { at: SimTime, id: u64 },
    /// Record a protocol event.
    Record(KafkaEvent),
}

/// Everything a broker needs to decide.
#[derive(Clone, Debug)]
pub struct BrokerParams {
    /// `broker.id`.
    pub id: BrokerId,
    /// Replica settings.
    pub replica: ReplicaConfig,
    /// Controller settings.
    pub controller: ControllerConfig,
    /// Replication bug flags.
    pub bugs: KafkaBugs,
    /// Controller bug flags.
    pub controller_bugs: ControllerBugs,
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

/// What a ZooKeeper request of ours is for.
#[derive(Clone, Debug)]
enum ZkFor {
    /// The controller's request `id`, sent in session generation `gen` (a reply from an
    /// older session is dropped: the controller re-sends its event's requests).
    Controller { id: ZkReqId, gen: u64 },
    /// Registration step `step` of session generation `gen`.
    Register { step: RegisterStep, gen: u64 },
    /// An ISR write, first try.
    IsrWrite(IsrUpdate),
    /// The re-read after an ISR write failed with `failure`.
    IsrReread {
        update: IsrUpdate,
        failure: ZkFailure,
    },
    /// An `isr_change_notification` write, try `attempt`.
    IsrNotification { data: String, attempt: u32 },
}

/// Where registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RegisterStep {
    /// Creating the `index`-th persistent path prefix ([`persistent_prefixes`]).
    EnsurePath { index: usize },
    /// Creating `/brokers/ids/<id>`.
    Create,
    /// Reading it back.
    ReadBack,
}

/// What a timer is for.
#[derive(Clone, Debug)]
enum TimerFor {
    Replica(TopicPartition, replica::Timer),
    IsrPropagation,
    /// Hand the controller its CONNECTIONLOSS reply.
    ControllerReply(ZkReply, u64),
    RegisterRetry {
        gen: u64,
    },
    IsrNotificationRetry {
        data: String,
        attempt: u32,
    },
}

/// Every prefix of the persistent paths a broker makes sure exist before registering,
/// in order (Kafka's `makeSurePersistentPathExists` for each, so shared prefixes repeat).
fn persistent_prefixes() -> Vec<String> {
    let mut out = Vec::new();
    for path in [
        znodes::BROKER_IDS_PATH,
        znodes::BROKER_TOPICS_PATH,
        znodes::ISR_CHANGE_NOTIFICATION_PATH,
    ] {
        let mut at = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            out.push(at.clone());
        }
    }
    out
}

/// One broker's state. It lives as long as one incarnation of the process: a start
/// builds a new one around the replicas' logs recovered from disk.
pub struct BrokerCore {
    /// `broker.id`.
    pub id: BrokerId,
    params: BrokerParams,
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
    /// The ZooKeeper session generation (bumped when the host replaces an expired one).
    session_gen: u64,
    /// The current session's id, once connected.
    session: Option<i64>,
    /// Registration attempts made in this session.
    register_attempts: u32,
    zk_pending: BTreeMap<ZkReqId, ZkFor>,
    next_zk_id: ZkReqId,
    timers: BTreeMap<u64, TimerFor>,
    next_timer: u64,
    /// Brokers whose controller connection this process refused before it registered
    /// (recorded once each until registration).
    refused_unregistered: BTreeSet<BrokerId>,
    /// Produce waiting for its answer: our correlation id -> (connection, client's id).
    produce_waiters: BTreeMap<u64, (ConnId, u64)>,
    next_corr: u64,
    /// Messages to ourselves (the controller's requests for this broker, a replica's to
    /// its own broker), handled at the end of the step that sent them.
    local: VecDeque<Message>,
    /// Partitions whose ISR this broker changed since the last notification.
    isr_changes: BTreeSet<TopicPartition>,
    last_isr_change: SimTime,
    last_isr_propagation: SimTime,
}

impl BrokerCore {
    /// A broker process with `replicas` recovered from its disk, before it has
    /// registered. Its first outputs (the ISR propagation check's timer) come from
    /// [`BrokerCore::start`].
    pub fn new(params: BrokerParams, replicas: BTreeMap<TopicPartition, Replica>) -> BrokerCore {
        let id = params.id;
        BrokerCore {
            id,
            controller: Controller::new(id, params.controller, params.controller_bugs),
            fencing: BrokerFencing::new(id, -1),
            params,
            replicas,
            assignments: BTreeMap::new(),
            metadata: BTreeMap::new(),
            broker_epoch: None,
            isr_shrinks: 0,
            isr_expands: 0,
            leader_elections: 0,
            isr_len: BTreeMap::new(),
            written_leader: BTreeMap::new(),
            session_gen: 0,
            session: None,
            register_attempts: 0,
            zk_pending: BTreeMap::new(),
            next_zk_id: 1,
            timers: BTreeMap::new(),
            next_timer: 1,
            refused_unregistered: BTreeSet::new(),
            produce_waiters: BTreeMap::new(),
            next_corr: 1,
            local: VecDeque::new(),
            isr_changes: BTreeSet::new(),
            last_isr_change: SimTime::ZERO,
            last_isr_propagation: SimTime::ZERO,
        }
    }

    /// The process started at `now`: arms the ISR propagation check.
    pub fn start(&mut self, now: SimTime) -> Vec<Output> {
        let mut out = Vec::new();
        self.set_timer(
            now.plus(ISR_PROPAGATION_CHECK),
            TimerFor::IsrPropagation,
            &mut out,
        );
        out
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

    /// Reacts to `input` at `now`; what the host must do, in order. Messages to this
    /// broker itself are handled before the step returns.
    pub fn step(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::ZkConnected { session } => {
                self.session = Some(session);
                self.register_attempts = 0;
                self.register(now, &mut out);
            }
            Input::SessionExpired => {
                self.session_gen += 1;
                self.session = None;
                let outs = self.controller.step(now, controller::Input::SessionExpired);
                self.controller_outputs(outs, &mut out);
            }
            Input::ZkReply(reply) => self.on_zk_reply(now, reply, &mut out),
            Input::ZkWatch(w) => {
                let outs = self.controller.step(now, controller::Input::ZkWatch(w));
                self.controller_outputs(outs, &mut out);
            }
            Input::Timer(id) => self.on_timer(now, id, &mut out),
            Input::Peer { from, msg } => self.on_broker_msg(now, from, msg, &mut out),
            Input::Control {
                conn,
                from,
                corr,
                msg,
            } => self.on_control_request(now, conn, from, corr, msg, &mut out),
            Input::Produce { conn, produce } => self.on_produce(now, conn, produce, &mut out),
            Input::ClientFetch {
                conn,
                correlation_id,
                tp,
                offset,
                max,
            } => {
                let result = match self.replicas.get(&tp) {
                    Some(r) => r.client_fetch(offset, max),
                    None => Err(KafkaError::NotLeaderForPartition),
                };
                let wire = KafkaWire::ClientFetchResponse {
                    correlation_id,
                    tp,
                    result,
                };
                out.push(Output::Reply { conn, wire });
            }
            Input::Metadata {
                conn,
                correlation_id,
            } => {
                let wire = KafkaWire::MetadataResponse {
                    correlation_id,
                    partitions: self.metadata.values().cloned().collect(),
                };
                out.push(Output::Reply { conn, wire });
            }
            Input::ConnClosed { conn } => self.produce_waiters.retain(|_, (c, _)| *c != conn),
        }
        while let Some(msg) = self.local.pop_front() {
            self.on_broker_msg(now, self.id, msg, &mut out);
        }
        out
    }

    fn set_timer(&mut self, at: SimTime, what: TimerFor, out: &mut Vec<Output>) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert(id, what);
        out.push(Output::SetTimer { at, id });
    }

    fn zk(&mut self, op: ZkOp, what: ZkFor, out: &mut Vec<Output>) {
        let id = self.next_zk_id;
        self.next_zk_id += 1;
        self.zk_pending.insert(id, what);
        out.push(Output::Zk(ZkRequest { id, op }));
    }

    fn record(&self, e: KafkaEvent, out: &mut Vec<Output>) {
        out.push(Output::Record(e));
    }

    fn on_timer(&mut self, now: SimTime, id: u64, out: &mut Vec<Output>) {
        let Some(what) = self.timers.remove(&id) else {
            return;
        };
        match what {
            TimerFor::Replica(tp, t) => {
                self.replica_step(now, &tp, replica::Input::Timeout(t), out)
            }
            TimerFor::IsrPropagation => {
                self.maybe_propagate_isr_changes(now, out);
                self.set_timer(
                    now.plus(ISR_PROPAGATION_CHECK),
                    TimerFor::IsrPropagation,
                    out,
                );
            }
            TimerFor::ControllerReply(reply, gen) => {
                if gen == self.session_gen {
                    let outs = self.controller.step(now, controller::Input::ZkReply(reply));
                    self.controller_outputs(outs, out);
                }
            }
            TimerFor::RegisterRetry { gen } => {
                if gen == self.session_gen {
                    self.register(now, out);
                }
            }
            TimerFor::IsrNotificationRetry { data, attempt } => {
                self.write_isr_notification(data, attempt, out)
            }
        }
    }

    fn on_zk_reply(&mut self, now: SimTime, reply: ZkReply, out: &mut Vec<Output>) {
        let Some(what) = self.zk_pending.remove(&reply.id) else {
            return;
        };
        match what {
            ZkFor::Controller { gen, .. } if gen != self.session_gen => {}
            ZkFor::Controller { id, gen } => {
                let reply = ZkReply {
                    id,
                    result: reply.result,
                };
                if matches!(&reply.result, Err(f) if f.code == ZkError::ConnectionLoss) {
                    let at = now.plus(ZK_RETRY_PAUSE);
                    self.set_timer(at, TimerFor::ControllerReply(reply, gen), out);
                } else {
                    let outs = self.controller.step(now, controller::Input::ZkReply(reply));
                    self.controller_outputs(outs, out);
                }
            }
            ZkFor::Register { gen, .. } if gen != self.session_gen => {}
            ZkFor::Register { step, .. } => self.on_register_reply(now, step, reply.result, out),
            ZkFor::IsrWrite(update) => match reply.result {
                Err(f) if matches!(f.code, ZkError::BadVersion | ZkError::ConnectionLoss) => {
                    // checkLeaderAndIsrZkData: an ambiguous earlier try may have landed.
                    let path = znodes::partition_state_path(&update.tp.topic, update.tp.partition);
                    let op = ZkOp::GetData { path, watch: false };
                    self.zk(op, ZkFor::IsrReread { update, failure: f }, out);
                }
                result => self.isr_write_done(now, update, result, out),
            },
            ZkFor::IsrReread { update, failure } => {
                let result = match reply.result {
                    Ok(ZkResult::Data { data, stat }) => match PartitionState::from_json(&data) {
                        Ok(s) if s == update.state => Ok(ZkResult::SetData { stat }),
                        _ => Err(failure),
                    },
                    _ => Err(failure),
                };
                self.isr_write_done(now, update, result, out)
            }
            ZkFor::IsrNotification { data, attempt } => {
                if matches!(&reply.result, Err(f) if f.code == ZkError::ConnectionLoss)
                    && attempt < ISR_NOTIFICATION_ATTEMPTS_MAX
                {
                    let retry = TimerFor::IsrNotificationRetry {
                        data,
                        attempt: attempt + 1,
                    };
                    self.set_timer(now.plus(ISR_NOTIFICATION_RETRY_PAUSE), retry, out);
                }
            }
        }
    }

    /// Starts (or restarts) registration from its first step, unless this session has
    /// used its [`REGISTER_ATTEMPTS_MAX`].
    fn register(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.register_attempts >= REGISTER_ATTEMPTS_MAX {
            return;
        }
        self.register_attempts += 1;
        self.register_step(now, RegisterStep::EnsurePath { index: 0 }, out);
    }

    fn register_step(&mut self, now: SimTime, step: RegisterStep, out: &mut Vec<Output>) {
        let gen = self.session_gen;
        let path = znodes::broker_id_path(self.id);
        let op = match step {
            RegisterStep::EnsurePath { index } => ZkOp::Create {
                path: persistent_prefixes()[index].clone(),
                data: String::new(),
                mode: CreateMode::Persistent,
            },
            RegisterStep::Create => {
                let wall_ms = controller::wall_ms(self.params.controller.wall_clock_start_ms, now);
                let node = super::net::broker_node(self.id);
                let reg = BrokerRegistration::plaintext(&node, 9092, wall_ms);
                ZkOp::Create {
                    path,
                    data: reg.to_json(),
                    mode: CreateMode::Ephemeral,
                }
            }
            RegisterStep::ReadBack => ZkOp::GetData { path, watch: false },
        };
        self.zk(op, ZkFor::Register { step, gen }, out);
    }

    /// One registration reply of the current session. SESSIONEXPIRED ends registration
    /// for this session; any other failure starts it again after [`REGISTER_RETRY_PAUSE`].
    fn on_register_reply(
        &mut self,
        now: SimTime,
        step: RegisterStep,
        result: Result<ZkResult, ZkFailure>,
        out: &mut Vec<Output>,
    ) {
        if matches!(&result, Err(f) if f.code == ZkError::SessionExpired) {
            return;
        }
        let code = result.as_ref().err().map(|f| f.code);
        let next = match step {
            RegisterStep::EnsurePath { index } => match code {
                None | Some(ZkError::NodeExists) if index + 1 < persistent_prefixes().len() => {
                    Some(RegisterStep::EnsurePath { index: index + 1 })
                }
                None | Some(ZkError::NodeExists) => Some(RegisterStep::Create),
                Some(_) => None,
            },
            // NODEEXISTS may be our own create re-sent, CONNECTIONLOSS may have landed:
            // the read-back settles both.
            RegisterStep::Create => match code {
                None | Some(ZkError::NodeExists | ZkError::ConnectionLoss) => {
                    Some(RegisterStep::ReadBack)
                }
                Some(_) => None,
            },
            RegisterStep::ReadBack => {
                if let Ok(ZkResult::Data { stat, .. }) = &result {
                    if Some(stat.ephemeral_owner) == self.session {
                        return self.registered(now, stat.czxid, out);
                    }
                }
                None
            }
        };
        match next {
            Some(step) => self.register_step(now, step, out),
            None => {
                let retry = TimerFor::RegisterRetry {
                    gen: self.session_gen,
                };
                self.set_timer(now.plus(REGISTER_RETRY_PAUSE), retry, out);
            }
        }
    }

    fn registered(&mut self, now: SimTime, epoch: i64, out: &mut Vec<Output>) {
        self.refused_unregistered.clear();
        self.broker_epoch = Some(epoch);
        self.fencing.broker_epoch = epoch;
        self.record(
            KafkaEvent::BrokerRegistered {
                broker: self.id,
                broker_epoch: epoch,
            },
            out,
        );
        let outs = self.controller.step(now, controller::Input::Start);
        self.controller_outputs(outs, out);
    }

    /// An ISR write's outcome (after its re-read, if it needed one), handed to the replica.
    /// A success is an ISR change to announce (`ReplicaManager.recordIsrChange`).
    fn isr_write_done(
        &mut self,
        now: SimTime,
        update: IsrUpdate,
        result: Result<ZkResult, ZkFailure>,
        out: &mut Vec<Output>,
    ) {
        let result = match result {
            Ok(ZkResult::SetData { stat }) => Ok(stat.version),
            Ok(other) => panic!("ISR write answered {other:?}"),
            Err(f) => Err(f.code),
        };
        let tp = update.tp.clone();
        self.replica_step(
            now,
            &tp,
            replica::Input::IsrUpdateResult {
                id: update.id,
                result,
            },
            out,
        );
    }

    /// Writes one `/isr_change_notification/isr_change_` znode for the pending ISR
    /// changes when the 2.x batching rule allows.
    fn maybe_propagate_isr_changes(&mut self, now: SimTime, out: &mut Vec<Output>) {
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
        self.write_isr_notification(data, 1, out);
    }

    /// Try `attempt` of a notification write (a duplicate is harmless: the controller
    /// re-reads the states).
    fn write_isr_notification(&mut self, data: String, attempt: u32, out: &mut Vec<Output>) {
        let op = ZkOp::Create {
            path: znodes::ISR_CHANGE_NOTIFICATION_PREFIX.into(),
            data: data.clone(),
            mode: CreateMode::PersistentSequential,
        };
        self.zk(op, ZkFor::IsrNotification { data, attempt }, out);
    }

    fn controller_outputs(&mut self, outs: Vec<controller::Output>, out: &mut Vec<Output>) {
        for o in outs {
            match o {
                controller::Output::Zk(req) => {
                    let what = ZkFor::Controller {
                        id: req.id,
                        gen: self.session_gen,
                    };
                    self.zk(req.op, what, out);
                }
                controller::Output::Send { to, msg } if to == self.id => self.local.push_back(msg),
                controller::Output::Send { to, msg } => out.push(Output::ControlSend { to, msg }),
                controller::Output::RemoveBroker(to) => out.push(Output::ControlRemoveBroker(to)),
                controller::Output::Record(e) => {
                    if matches!(e, KafkaEvent::ControllerResigned { .. }) {
                        out.push(Output::ControlClear);
                    }
                    if let KafkaEvent::PartitionStateWritten {
                        topic,
                        partition,
                        leader,
                        ..
                    } = &e
                    {
                        let tp = TopicPartition::new(topic, *partition);
                        let prev = self.written_leader.insert(tp, *leader);
                        if *leader >= 0 && prev.is_some_and(|p| p != *leader) {
                            self.leader_elections += 1;
                        }
                    }
                    self.record(e, out);
                }
            }
        }
    }

    fn send_broker(&mut self, to: BrokerId, msg: Message, out: &mut Vec<Output>) {
        if to == self.id {
            self.local.push_back(msg);
        } else {
            out.push(Output::SendPeer { to, msg });
        }
    }

    fn on_produce(&mut self, now: SimTime, conn: ConnId, mut p: Produce, out: &mut Vec<Output>) {
        let client_corr = p.correlation_id;
        if !self.replicas.contains_key(&p.tp) {
            let resp = ProduceResponse {
                correlation_id: client_corr,
                tp: p.tp,
                result: Err(KafkaError::NotLeaderForPartition),
            };
            let wire = KafkaWire::ProduceResponse(resp);
            out.push(Output::Reply { conn, wire });
            return;
        }
        let corr = self.next_corr;
        self.next_corr += 1;
        self.produce_waiters.insert(corr, (conn, client_corr));
        p.correlation_id = corr;
        let (tp, acks) = (p.tp.clone(), p.acks);
        self.replica_step(now, &tp, replica::Input::Produce(p), out);
        if acks == super::wire::Acks::Zero {
            self.produce_waiters.remove(&corr); // acks=0 gets no response
        }
    }

    /// A controller request on the controller's channel: handled and acknowledged once this
    /// process has registered. Before that its request processors are not running: the
    /// connection is closed unanswered, and the controller sends the request again later.
    fn on_control_request(
        &mut self,
        now: SimTime,
        conn: ConnId,
        from: BrokerId,
        corr: u64,
        msg: Message,
        out: &mut Vec<Output>,
    ) {
        if self.broker_epoch.is_none() {
            if self.refused_unregistered.insert(from) {
                self.reject(
                    msg.api_name(),
                    format!(
                        "from controller {from} before this broker registered (no broker \
                         epoch yet): request processors not started, the controller will \
                         send it again"
                    ),
                    out,
                );
            }
            out.push(Output::Close { conn });
            return;
        }
        self.on_broker_msg(now, from, msg, out);
        let wire = KafkaWire::ControlAck { corr };
        out.push(Output::Reply { conn, wire });
    }

    fn reject(&self, request: &str, reason: String, out: &mut Vec<Output>) {
        self.record(
            KafkaEvent::RequestRejected {
                broker: self.id,
                request: request.into(),
                reason,
            },
            out,
        );
    }

    fn on_broker_msg(&mut self, now: SimTime, from: BrokerId, msg: Message, out: &mut Vec<Output>) {
        if self.broker_epoch.is_none()
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
                out,
            );
        }
        match msg {
            Message::LeaderAndIsr(req) => {
                let replicas = &self.replicas;
                let filtered = self.fencing.filter_leader_and_isr(&req, |tp| {
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
                            out,
                        )
                    }
                };
                for (tp, why) in f.ignored {
                    self.reject("LeaderAndIsr", format!("{tp}: {why}"), out);
                }
                for p in f.apply {
                    let tp = p.tp();
                    self.assignments.insert(tp.clone(), p.replicas.clone());
                    self.isr_len.insert(tp.clone(), p.isr.len());
                    let params = &self.params;
                    self.replicas.entry(tp.clone()).or_insert_with(|| {
                        Replica::new(params.id, tp.clone(), params.replica.clone(), params.bugs)
                    });
                    self.replica_step(now, &tp, replica::Input::LeaderAndIsr(p), out);
                }
            }
            Message::UpdateMetadata(req) => match self.fencing.check_update_metadata(&req) {
                Ok(()) => {
                    for p in req.partitions {
                        self.metadata
                            .insert(TopicPartition::new(&p.topic, p.partition), p);
                    }
                }
                Err(e) => self.reject(
                    "UpdateMetadata",
                    format!(
                        "{e} (controller {} epoch {})",
                        req.controller_id, req.controller_epoch
                    ),
                    out,
                ),
            },
            Message::StopReplica(req) => {
                let replicas = &self.replicas;
                let decided = self.fencing.filter_stop_replica(&req, |tp| {
                    replicas.get(tp).and_then(|r| r.leader_epoch())
                });
                match decided {
                    Ok(ds) => {
                        for (p, d) in ds {
                            let tp = TopicPartition::new(&p.topic, p.partition);
                            match d {
                                Ok(()) if self.replicas.contains_key(&tp) => {
                                    self.replica_step(now, &tp, replica::Input::StopReplica, out)
                                }
                                Ok(()) => {}
                                Err(e) => self.reject("StopReplica", format!("{tp}: {e}"), out),
                            }
                        }
                    }
                    Err(e) => self.reject("StopReplica", e.to_string(), out),
                }
            }
            Message::Fetch(ref f) => {
                let tp = f.tp.clone();
                if self.replicas.contains_key(&tp) {
                    self.replica_step(now, &tp, replica::Input::Message { from, msg }, out);
                } else {
                    let resp = Message::FetchResponse(FetchResponse {
                        tp,
                        current_leader_epoch: f.current_leader_epoch,
                        fetch_offset: f.fetch_offset,
                        result: Err(KafkaError::NotLeaderForPartition),
                    });
                    self.send_broker(from, resp, out);
                }
            }
            Message::OffsetsForLeaderEpoch(ref r) => {
                let tp = r.tp.clone();
                if self.replicas.contains_key(&tp) {
                    self.replica_step(now, &tp, replica::Input::Message { from, msg }, out);
                } else {
                    let resp =
                        Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                            tp,
                            current_leader_epoch: r.current_leader_epoch,
                            result: Err(KafkaError::NotLeaderForPartition),
                        });
                    self.send_broker(from, resp, out);
                }
            }
            Message::FetchResponse(FetchResponse { ref tp, .. })
            | Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                ref tp,
                ..
            }) => {
                let tp = tp.clone();
                if self.replicas.contains_key(&tp) {
                    self.replica_step(now, &tp, replica::Input::Message { from, msg }, out);
                }
            }
        }
    }

    fn replica_step(
        &mut self,
        now: SimTime,
        tp: &TopicPartition,
        input: replica::Input,
        out: &mut Vec<Output>,
    ) {
        let Some(r) = self.replicas.get_mut(tp) else {
            return;
        };
        for o in r.step(now, input) {
            match o {
                replica::Output::Send { to, msg } => self.send_broker(to, msg, out),
                replica::Output::ProduceResponse(resp) => {
                    if let Some((conn, client_corr)) =
                        self.produce_waiters.remove(&resp.correlation_id)
                    {
                        let resp = ProduceResponse {
                            correlation_id: client_corr,
                            ..resp
                        };
                        let wire = KafkaWire::ProduceResponse(resp);
                        out.push(Output::Reply { conn, wire });
                    }
                }
                replica::Output::IsrUpdate(u) => {
                    let op = ZkOp::SetData {
                        path: znodes::partition_state_path(&u.tp.topic, u.tp.partition),
                        data: u.state.to_json(),
                        version: Some(u.zk_version),
                    };
                    self.zk(op, ZkFor::IsrWrite(u), out);
                }
                replica::Output::SetTimer { timer, at } => {
                    self.set_timer(at, TimerFor::Replica(tp.clone(), timer), out)
                }
                replica::Output::IsrChanged { isr_size } => {
                    self.isr_changes.insert(tp.clone());
                    self.last_isr_change = now;
                    let prev = self.isr_len.insert(tp.clone(), isr_size).unwrap_or(0);
                    if isr_size < prev {
                        self.isr_shrinks += 1;
                    } else if isr_size > prev {
                        self.isr_expands += 1;
                    }
                }
                replica::Output::Record(e) => self.record(e, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::config::BrokerConfig;
    use crate::kafka::wire::{LeaderAndIsr, LeaderAndIsrPartition};
    use crate::kafka::zkops::Stat;

    const SESSION: i64 = 0x100;

    fn at(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    fn params() -> BrokerParams {
        let config = BrokerConfig::with_defaults(1, "zk1:2181");
        BrokerParams {
            id: 1,
            replica: ReplicaConfig::from_broker(&config),
            controller: ControllerConfig {
                unclean_leader_election_enable: false,
                wall_clock_start_ms: crate::cluster::DEFAULT_WALL_CLOCK_START_MS,
            },
            bugs: KafkaBugs::default(),
            controller_bugs: ControllerBugs::default(),
        }
    }

    fn zk_requests(out: &[Output]) -> Vec<&ZkRequest> {
        out.iter()
            .filter_map(|o| match o {
                Output::Zk(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn only_zk(out: &[Output]) -> ZkRequest {
        match zk_requests(out).as_slice() {
            [r] => (*r).clone(),
            other => panic!("one ZooKeeper request expected: {other:?} in {out:?}"),
        }
    }

    fn reply(id: ZkReqId, result: Result<ZkResult, ZkFailure>) -> Input {
        Input::ZkReply(ZkReply { id, result })
    }

    fn stat(version: i32, czxid: i64, ephemeral_owner: i64) -> Stat {
        Stat {
            version,
            czxid,
            ephemeral_owner,
        }
    }

    fn timer_ids(out: &[Output]) -> Vec<(SimTime, u64)> {
        out.iter()
            .filter_map(|o| match o {
                Output::SetTimer { at, id } => Some((*at, *id)),
                _ => None,
            })
            .collect()
    }

    /// Drives registration to its read-back and answers it with `owner` as the
    /// registration's owning session; returns the outputs of that last step.
    fn register_with_owner(core: &mut BrokerCore, owner: i64) -> Vec<Output> {
        let mut req = only_zk(&core.step(at(10), Input::ZkConnected { session: SESSION }));
        for _ in persistent_prefixes() {
            req = only_zk(&core.step(at(10), reply(req.id, Ok(ZkResult::Done))));
        }
        assert!(
            matches!(&req.op, ZkOp::Create { path, mode: CreateMode::Ephemeral, .. } if path == "/brokers/ids/1"),
            "{req:?}"
        );
        let read = only_zk(&core.step(
            at(11),
            reply(req.id, Err(ZkFailure::plain(ZkError::NodeExists))),
        ));
        assert_eq!(
            read.op,
            ZkOp::GetData {
                path: "/brokers/ids/1".into(),
                watch: false
            }
        );
        let data = ZkResult::Data {
            data: String::new(),
            stat: stat(0, 0x42, owner),
        };
        core.step(at(12), reply(read.id, Ok(data)))
    }

    fn registered_core() -> BrokerCore {
        let mut core = BrokerCore::new(params(), BTreeMap::new());
        core.start(at(0));
        register_with_owner(&mut core, SESSION);
        core
    }

    /// Registration makes sure every persistent path exists, prefix by prefix, creates the
    /// ephemeral registration and takes its czxid as the broker epoch once the read-back
    /// shows this session owns it; then the controller election starts.
    #[test]
    fn registration_reads_back_its_own_znode_and_starts_the_controller() {
        let mut core = BrokerCore::new(params(), BTreeMap::new());
        let first = only_zk(&core.step(at(10), Input::ZkConnected { session: SESSION }));
        assert_eq!(
            first.op,
            ZkOp::Create {
                path: "/brokers".into(),
                data: String::new(),
                mode: CreateMode::Persistent
            }
        );
        let mut core = BrokerCore::new(params(), BTreeMap::new());
        let out = register_with_owner(&mut core, SESSION);
        assert_eq!(core.broker_epoch, Some(0x42));
        assert_eq!(
            out[0],
            Output::Record(KafkaEvent::BrokerRegistered {
                broker: 1,
                broker_epoch: 0x42
            })
        );
        assert!(
            matches!(&only_zk(&out).op, ZkOp::Exists { path, watch: true } if path == "/controller"),
            "{out:?}"
        );
    }

    /// KAFKA-1029: the registration found is the previous session's, still waiting for
    /// its expiry. The broker is not registered; it starts again after the pause, and a
    /// session gets at most REGISTER_ATTEMPTS_MAX attempts.
    #[test]
    fn previous_sessions_registration_is_retried_after_a_pause_and_bounded() {
        let mut core = BrokerCore::new(params(), BTreeMap::new());
        let out = register_with_owner(&mut core, SESSION + 1);
        assert_eq!(core.broker_epoch, None);
        assert!(zk_requests(&out).is_empty(), "{out:?}");
        let [(when, id)] = timer_ids(&out)[..] else {
            panic!("one retry timer: {out:?}")
        };
        assert_eq!(when, at(12).plus(REGISTER_RETRY_PAUSE));
        let retry = only_zk(&core.step(when, Input::Timer(id)));
        assert!(matches!(&retry.op, ZkOp::Create { path, .. } if path == "/brokers"));

        core.register_attempts = REGISTER_ATTEMPTS_MAX;
        let failed = core.step(
            when,
            reply(retry.id, Err(ZkFailure::plain(ZkError::NoNode))),
        );
        let [(later, id)] = timer_ids(&failed)[..] else {
            panic!("one retry timer: {failed:?}")
        };
        assert!(
            core.step(later, Input::Timer(id)).is_empty(),
            "no attempt past the bound"
        );
    }

    /// A session that expires mid-registration ends it: the next session starts over when
    /// it connects, and replies or timers of the old one change nothing.
    #[test]
    fn expired_session_abandons_its_registration() {
        let mut core = BrokerCore::new(params(), BTreeMap::new());
        let first = only_zk(&core.step(at(10), Input::ZkConnected { session: SESSION }));
        core.step(at(20), Input::SessionExpired);
        assert!(core
            .step(at(21), reply(first.id, Ok(ZkResult::Done)))
            .is_empty());
        let again = only_zk(&core.step(
            at(30),
            Input::ZkConnected {
                session: SESSION + 7,
            },
        ));
        assert!(matches!(&again.op, ZkOp::Create { path, .. } if path == "/brokers"));
    }

    /// Before registering, a controller request is refused by closing its connection (the
    /// request processors are not running yet), recorded once per controller.
    #[test]
    fn controller_request_before_registration_closes_the_connection() {
        let mut core = BrokerCore::new(params(), BTreeMap::new());
        let request = |conn| Input::Control {
            conn: ConnId(conn),
            from: 2,
            corr: 1,
            msg: Message::LeaderAndIsr(LeaderAndIsr {
                controller_id: 2,
                controller_epoch: 1,
                broker_epoch: 0x42,
                partitions: vec![],
            }),
        };
        let out = core.step(at(5), request(9));
        assert!(
            matches!(
                &out[..],
                [
                    Output::Record(KafkaEvent::RequestRejected { .. }),
                    Output::Close { conn: ConnId(9) }
                ]
            ),
            "{out:?}"
        );
        let out = core.step(at(6), request(10));
        assert_eq!(out, vec![Output::Close { conn: ConnId(10) }]);
    }

    /// The controller's CONNECTIONLOSS reply reaches it only after ZK_RETRY_PAUSE (it
    /// retries reads at once), and not at all if the session was replaced meanwhile.
    #[test]
    fn controller_connection_loss_is_handed_over_after_a_pause() {
        for expire_meanwhile in [false, true] {
            let mut core = registered_core();
            let exists = only_zk(&core.step(
                at(12),
                Input::ZkWatch(ZkWatchEvent {
                    path: "/controller".into(),
                    kind: crate::kafka::zkops::WatchKind::Deleted,
                }),
            ));
            let out = core.step(
                at(13),
                reply(exists.id, Err(ZkFailure::plain(ZkError::ConnectionLoss))),
            );
            assert!(zk_requests(&out).is_empty(), "{out:?}");
            let [(when, id)] = timer_ids(&out)[..] else {
                panic!("one timer: {out:?}")
            };
            assert_eq!(when, at(13).plus(ZK_RETRY_PAUSE));
            if expire_meanwhile {
                core.step(at(14), Input::SessionExpired);
            }
            let out = core.step(when, Input::Timer(id));
            assert_eq!(
                zk_requests(&out).len(),
                usize::from(!expire_meanwhile),
                "expired meanwhile: {expire_meanwhile}: {out:?}"
            );
        }
    }

    /// Broker 1 leads t/0 with ISR {1, 2, 3} and zkVersion 0; nobody fetches, so the
    /// shrink check writes ISR {1}. Returns the core and the ISR write.
    fn leader_shrinking_its_isr() -> (BrokerCore, ZkRequest, SimTime) {
        let mut core = registered_core();
        let leader_and_isr = Input::Control {
            conn: ConnId(3),
            from: 2,
            corr: 1,
            msg: Message::LeaderAndIsr(LeaderAndIsr {
                controller_id: 2,
                controller_epoch: 1,
                broker_epoch: 0x42,
                partitions: vec![LeaderAndIsrPartition {
                    topic: "t".into(),
                    partition: 0,
                    leader: 1,
                    leader_epoch: 0,
                    isr: vec![1, 2, 3],
                    zk_version: 0,
                    replicas: vec![1, 2, 3],
                    controller_epoch: 1,
                    is_new: true,
                }],
            }),
        };
        let mut out = core.step(at(100), leader_and_isr);
        assert!(out.contains(&Output::Reply {
            conn: ConnId(3),
            wire: KafkaWire::ControlAck { corr: 1 }
        }));
        // Bounded: the shrink check fires within a few lag periods.
        for _ in 0..16 {
            let mut timers = timer_ids(&out);
            timers.sort();
            let Some(&(when, id)) = timers.first() else {
                break;
            };
            out = core.step(when, Input::Timer(id));
            if let Some(write) = zk_requests(&out).first() {
                return (core, (*write).clone(), when);
            }
            out.extend(
                timers[1..]
                    .iter()
                    .map(|&(at, id)| Output::SetTimer { at, id }),
            );
        }
        panic!("no ISR shrink");
    }

    /// An ISR write that fails with BADVERSION is settled by a re-read: the znode holding
    /// exactly the new state means an earlier try landed (success, announced to the
    /// controller later); anything else is the failure the leader sees.
    #[test]
    fn failed_isr_write_is_settled_by_a_reread() {
        for landed in [true, false] {
            let (mut core, write, now) = leader_shrinking_its_isr();
            let ZkOp::SetData {
                path,
                data,
                version,
            } = &write.op
            else {
                panic!("ISR write {write:?}")
            };
            assert_eq!(path, "/brokers/topics/t/partitions/0/state");
            assert_eq!(*version, Some(0));
            let reread = only_zk(&core.step(
                now,
                reply(write.id, Err(ZkFailure::plain(ZkError::BadVersion))),
            ));
            assert_eq!(
                reread.op,
                ZkOp::GetData {
                    path: path.clone(),
                    watch: false
                }
            );
            let found = if landed {
                data.clone()
            } else {
                PartitionState::new(1, 0, vec![1, 2], 1).to_json()
            };
            let out = core.step(
                now,
                reply(
                    reread.id,
                    Ok(ZkResult::Data {
                        data: found,
                        stat: stat(1, 5, 0),
                    }),
                ),
            );
            let changed = out
                .iter()
                .any(|o| matches!(o, Output::Record(KafkaEvent::IsrChanged { .. })));
            assert_eq!(changed, landed, "{out:?}");
            assert_eq!(core.isr_changes.len(), usize::from(landed));
            assert_eq!(core.metrics().isr_shrinks, u64::from(landed));
        }
    }

    /// A changed ISR is announced once no change came for ISR_PROPAGATION_BLACKOUT, in a
    /// persistent sequential notification; a write that loses its connection is tried
    /// again after a pause, at most ISR_NOTIFICATION_ATTEMPTS_MAX times.
    #[test]
    fn isr_change_notification_is_batched_and_its_retries_bounded() {
        let (mut core, write, now) = leader_shrinking_its_isr();
        let out = core.step(
            now,
            reply(
                write.id,
                Ok(ZkResult::SetData {
                    stat: stat(1, 5, 0),
                }),
            ),
        );
        assert!(zk_requests(&out).is_empty());
        let check = core
            .timers
            .iter()
            .find(|(_, t)| matches!(t, TimerFor::IsrPropagation))
            .map(|(id, _)| *id)
            .expect("the propagation check is armed");
        let later = now
            .plus(ISR_PROPAGATION_BLACKOUT)
            .plus(Duration::from_millis(1));
        let mut note = only_zk(&core.step(later, Input::Timer(check)));
        assert!(
            matches!(&note.op, ZkOp::Create { path, data, mode: CreateMode::PersistentSequential }
                if path == znodes::ISR_CHANGE_NOTIFICATION_PREFIX && data.contains("\"topic\":\"t\"")),
            "{note:?}"
        );
        let mut tries = 1;
        loop {
            let out = core.step(
                later,
                reply(note.id, Err(ZkFailure::plain(ZkError::ConnectionLoss))),
            );
            let Some(&(when, id)) = timer_ids(&out).first() else {
                break;
            };
            assert_eq!(when, later.plus(ISR_NOTIFICATION_RETRY_PAUSE));
            note = only_zk(&core.step(later, Input::Timer(id)));
            tries += 1;
            assert!(tries <= ISR_NOTIFICATION_ATTEMPTS_MAX, "unbounded retries");
        }
        assert_eq!(tries, ISR_NOTIFICATION_ATTEMPTS_MAX);
    }

    /// A produce for a partition this broker does not host is answered at once with
    /// NOT_LEADER_FOR_PARTITION and the client's own correlation id.
    #[test]
    fn produce_for_an_unhosted_partition_is_refused() {
        let mut core = registered_core();
        let produce = Produce {
            correlation_id: 77,
            tp: TopicPartition::new("t", 0),
            value: "v".into(),
            acks: super::super::wire::Acks::All,
            timeout_ms: 30_000,
        };
        let out = core.step(
            at(50),
            Input::Produce {
                conn: ConnId(4),
                produce,
            },
        );
        assert_eq!(
            out,
            vec![Output::Reply {
                conn: ConnId(4),
                wire: KafkaWire::ProduceResponse(ProduceResponse {
                    correlation_id: 77,
                    tp: TopicPartition::new("t", 0),
                    result: Err(KafkaError::NotLeaderForPartition),
                })
            }]
        );
    }
}
