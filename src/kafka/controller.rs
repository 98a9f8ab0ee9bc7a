//! The Kafka controller (ZooKeeper mode, 2.x) as a sans-IO state machine, plus the pure
//! rules it applies and the broker-side checks on its requests.
//!
//! Every ZooKeeper interaction is an [`Output::Zk`] request with an id; its reply comes
//! back as [`Input::ZkReply`], watches as [`Input::ZkWatch`].
//!
//! - Election: exists(`/controller`, watch); if absent, read `/controller_epoch` as (e, v)
//!   and issue multi{create EPHEMERAL `/controller`; setData `/controller_epoch` = e+1 if
//!   version v}. NODEEXISTS or BADVERSION: re-read `/controller`; if it is not us, stay a
//!   bystander (the exists watch tells us when it goes away).
//! - Fencing (KAFKA-6082): every later write is multi{check(`/controller_epoch`, v+1), op}.
//!   A failed check means another controller was elected: resign. A failed CAS on the state
//!   znode's own version means someone (the leader's ISR write) got there first: re-read
//!   and decide again.
//! - Failover: read brokers (czxid = broker epoch), topics and partition states; send
//!   UpdateMetadata to every live broker before any LeaderAndIsr (KAFKA-4443); then elect
//!   leaders for partitions whose leader is gone and create states for new partitions.
//! - Broker death: offline election from the ISR in assignment order, or removal from the
//!   ISR keeping the last member (KAFKA-5083); epoch+1; fenced CAS write; LeaderAndIsr to
//!   the replicas, then UpdateMetadata to all live brokers (the batch order of
//!   `ControllerBrokerRequestBatch.sendRequestsToBrokers`).
//!
//! Not modelled: ISR change notifications, preferred-replica election, reassignment, topic
//! deletion, controlled shutdown.

use super::wire::{
    BrokerId, KafkaError, LeaderAndIsr, LeaderAndIsrPartition, Message, PartitionMetadata, StopReplica,
    StopReplicaPartition, TopicPartition, UpdateMetadata,
};
use super::zkops::{CreateMode, MultiOp, WatchKind, ZkError, ZkFailure, ZkOp, ZkReply, ZkReqId, ZkRequest, ZkResult, ZkWatchEvent};
use super::znodes::{self, ControllerZnode, PartitionState, TopicAssignment};
use crate::history::KafkaEvent;
use kzsim_sim::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// Historical controller bugs, one `if` each. All false = Kafka 2.x fixed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllerBugs {
    /// Write partition states without the `/controller_epoch` version check (before
    /// KAFKA-6082, 2.1): a paused old controller can overwrite a newer one's decisions.
    pub no_epoch_fencing: bool,
    /// Elect the first live replica in assignment order whether or not it is in the ISR
    /// (the lost-acknowledged-writes election of Jepsen 2013).
    pub elect_outside_isr: bool,
}

/// Controller settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
}

/// AdminUtils.assignReplicasToBrokers without racks: partition p's first replica is broker
/// `(p + start_index) % n`; the others follow at a shift that grows by one every n
/// partitions. `brokers` is sorted first. The head of each list is the preferred leader.
/// Kafka draws `start_index` and `next_replica_shift` at random; the caller passes them
/// from the run's RNG.
pub fn assign_replicas(
    brokers: &[BrokerId],
    partitions: u32,
    replication_factor: u32,
    start_index: usize,
    next_replica_shift: usize,
) -> Result<BTreeMap<u32, Vec<BrokerId>>, String> {
    let mut brokers = brokers.to_vec();
    brokers.sort_unstable();
    brokers.dedup();
    let n = brokers.len();
    if replication_factor == 0 || partitions == 0 {
        return Err("partitions and replication factor must be at least 1".into());
    }
    if replication_factor as usize > n {
        return Err(format!("replication factor {replication_factor} larger than available brokers {n}"));
    }
    let mut shift = next_replica_shift;
    let mut out = BTreeMap::new();
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start_index) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..replication_factor as usize - 1 {
            let s = 1 + (shift + j) % (n - 1);
            replicas.push(brokers[(first + s) % n]);
        }
        out.insert(p as u32, replicas);
    }
    Ok(out)
}

/// Offline leader election (`PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection`):
/// the first replica in assignment order that is live and in the ISR, with ISR = ISR ∩ live.
/// If none and `unclean`, the first live replica with ISR = [it]. `None`: no leader.
/// With `elect_outside_isr` (bug) the first live replica wins regardless of the ISR.
pub fn offline_election(
    assignment: &[BrokerId],
    isr: &[BrokerId],
    live: &BTreeSet<BrokerId>,
    unclean: bool,
    elect_outside_isr: bool,
) -> Option<(BrokerId, Vec<BrokerId>)> {
    let live_isr: Vec<BrokerId> = isr.iter().copied().filter(|r| live.contains(r)).collect();
    let first_live = assignment.iter().copied().find(|r| live.contains(r));
    if elect_outside_isr {
        return first_live.map(|l| (l, if live_isr.contains(&l) { live_isr.clone() } else { vec![l] }));
    }
    if let Some(l) = assignment.iter().copied().find(|r| live_isr.contains(r)) {
        return Some((l, live_isr));
    }
    if unclean {
        return first_live.map(|l| (l, vec![l]));
    }
    None
}

/// What the controller writes for a partition given the live brokers, or `None` if
/// nothing changes: an election if the leader is not live; otherwise removal of dead
/// replicas from the ISR. Dead brokers leave the ISR but its last member stays
/// (KAFKA-5083); with several dead, the one with the largest id stays (Kafka removes them
/// one at a time). Every change bumps the leader epoch.
pub fn partition_change(
    state: &PartitionState,
    assignment: &[BrokerId],
    live: &BTreeSet<BrokerId>,
    controller_epoch: i32,
    cfg: ControllerConfig,
    bugs: ControllerBugs,
) -> Option<PartitionState> {
    let leader_live = state.leader >= 0 && live.contains(&(state.leader as BrokerId));
    let shrink = |isr: &[BrokerId]| -> Vec<BrokerId> {
        let kept: Vec<BrokerId> = isr.iter().copied().filter(|r| live.contains(r)).collect();
        if kept.is_empty() {
            isr.iter().copied().max().into_iter().collect()
        } else {
            kept
        }
    };
    let next = |leader: i32, isr: Vec<BrokerId>| PartitionState::new(leader, state.leader_epoch + 1, isr, controller_epoch);
    if !leader_live {
        if let Some((leader, isr)) =
            offline_election(assignment, &state.isr, live, cfg.unclean_leader_election_enable, bugs.elect_outside_isr)
        {
            return Some(next(leader as i32, isr));
        }
        let isr = shrink(&state.isr);
        if state.leader == -1 && isr == state.isr {
            return None; // already leaderless with this ISR: no write (no epoch churn)
        }
        return Some(next(-1, isr));
    }
    let isr = shrink(&state.isr);
    (isr != state.isr).then(|| next(state.leader, isr))
}

/// The broker-side checks on controller requests (ReplicaManager, KafkaApis).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFencing {
    /// This broker.
    pub broker: BrokerId,
    /// Its current broker epoch (czxid of its registration).
    pub broker_epoch: i64,
    /// The highest controller epoch accepted so far (-1 initially).
    pub highest_controller_epoch: i32,
}

/// LeaderAndIsr partitions split into those to apply and those ignored, with reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderAndIsrFiltered {
    /// Apply these, in request order.
    pub apply: Vec<LeaderAndIsrPartition>,
    /// Ignored, with the reason.
    pub ignored: Vec<(TopicPartition, String)>,
}

impl BrokerFencing {
    /// A broker that has seen no controller yet.
    pub fn new(broker: BrokerId, broker_epoch: i64) -> BrokerFencing {
        BrokerFencing { broker, broker_epoch, highest_controller_epoch: -1 }
    }

    /// Whole-request checks: STALE_BROKER_EPOCH if the request is for an older incarnation
    /// (KIP-380; -1 means the controller does not know, accepted), then
    /// STALE_CONTROLLER_EPOCH if from an older controller. Accepting raises the highest
    /// controller epoch.
    pub fn check_request(&mut self, controller_epoch: i32, broker_epoch: i64) -> Result<(), KafkaError> {
        if broker_epoch != -1 && broker_epoch < self.broker_epoch {
            return Err(KafkaError::StaleBrokerEpoch);
        }
        if controller_epoch < self.highest_controller_epoch {
            return Err(KafkaError::StaleControllerEpoch);
        }
        self.highest_controller_epoch = controller_epoch;
        Ok(())
    }

    /// LeaderAndIsr: the request checks, then per partition: applied only if its leader
    /// epoch is newer than `current_epoch(tp)` (equal or lower is ignored) and this broker
    /// is among its replicas.
    pub fn filter_leader_and_isr(
        &mut self,
        req: &LeaderAndIsr,
        current_epoch: impl Fn(&TopicPartition) -> Option<i32>,
    ) -> Result<LeaderAndIsrFiltered, KafkaError> {
        self.check_request(req.controller_epoch, req.broker_epoch)?;
        let mut f = LeaderAndIsrFiltered { apply: Vec::new(), ignored: Vec::new() };
        for p in &req.partitions {
            let tp = p.tp();
            match current_epoch(&tp) {
                Some(cur) if p.leader_epoch <= cur => {
                    f.ignored.push((tp, format!("leader epoch {} not newer than {cur}", p.leader_epoch)))
                }
                _ if !p.replicas.contains(&self.broker) => {
                    f.ignored.push((tp, format!("broker {} not in replicas {:?}", self.broker, p.replicas)))
                }
                _ => f.apply.push(p.clone()),
            }
        }
        Ok(f)
    }

    /// UpdateMetadata: the request checks only.
    pub fn check_update_metadata(&mut self, req: &UpdateMetadata) -> Result<(), KafkaError> {
        self.check_request(req.controller_epoch, req.broker_epoch)
    }

    /// StopReplica: the request checks, then per partition (2.6+): applied if its epoch is
    /// -1 (none) or -2 (deletion) or newer than the current one; else FENCED_LEADER_EPOCH.
    pub fn filter_stop_replica(
        &mut self,
        req: &StopReplica,
        current_epoch: impl Fn(&TopicPartition) -> Option<i32>,
    ) -> Result<Vec<(StopReplicaPartition, Result<(), KafkaError>)>, KafkaError> {
        self.check_request(req.controller_epoch, req.broker_epoch)?;
        Ok(req
            .partitions
            .iter()
            .map(|p| {
                let cur = current_epoch(&TopicPartition::new(&p.topic, p.partition));
                let ok = p.leader_epoch == -1 || p.leader_epoch == -2 || cur.is_none_or(|c| p.leader_epoch > c);
                (p.clone(), if ok { Ok(()) } else { Err(KafkaError::FencedLeaderEpoch) })
            })
            .collect())
    }
}

/// What the controller reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The broker's session exists and its registration is written: try to become
    /// controller (also after a session expiry, once re-registered).
    Start,
    /// The reply to an earlier [`Output::Zk`].
    ZkReply(ZkReply),
    /// A watch fired.
    ZkWatch(ZkWatchEvent),
    /// The ZooKeeper session expired: resign at once; wait for [`Input::Start`].
    SessionExpired,
}

/// What the controller asks its host to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Run a ZooKeeper request; reply with [`Input::ZkReply`].
    Zk(ZkRequest),
    /// Send a controller request to a broker.
    Send { to: BrokerId, msg: Message },
    /// Record a protocol event.
    Record(KafkaEvent),
}

/// Why a partition state is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// Failover load.
    Load,
    /// Elections re-read the ISR from ZooKeeper before deciding.
    Decide,
}

#[derive(Clone, Debug, PartialEq)]
enum Pending {
    ControllerExists,
    ControllerData,
    EpochRead,
    EpochCreate,
    ElectMulti { epoch: i32 },
    BrokerIds,
    BrokerData(BrokerId),
    Topics,
    TopicData(String),
    StateRead(TopicPartition, Purpose),
    StateWrite { tp: TopicPartition, state: PartitionState },
    StatesCreate { topic: String, states: Vec<(u32, PartitionState)> },
}

#[derive(Clone, Debug, Default)]
struct Active {
    epoch: i32,
    epoch_zk_version: i32,
    loading: usize,
    loaded: bool,
    live: BTreeMap<BrokerId, i64>,
    assignments: BTreeMap<String, BTreeMap<u32, Vec<BrokerId>>>,
    states: BTreeMap<TopicPartition, (PartitionState, i32)>,
}

/// One broker's controller component.
#[derive(Clone, Debug)]
pub struct Controller {
    broker: BrokerId,
    cfg: ControllerConfig,
    bugs: ControllerBugs,
    next_id: ZkReqId,
    pending: BTreeMap<ZkReqId, Pending>,
    active: Option<Active>,
    /// The controller id last read from `/controller` (-1: none).
    active_controller_id: i32,
    epoch_read: Option<(i32, i32)>,
}

impl Controller {
    /// A controller component that does nothing until [`Input::Start`].
    pub fn new(broker: BrokerId, cfg: ControllerConfig, bugs: ControllerBugs) -> Controller {
        Controller { broker, cfg, bugs, next_id: 1, pending: BTreeMap::new(), active: None, active_controller_id: -1, epoch_read: None }
    }

    /// True while this broker is the active controller.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// The epoch this controller holds, while active.
    pub fn epoch(&self) -> Option<i32> {
        self.active.as_ref().map(|a| a.epoch)
    }

    /// The controller id last seen in `/controller` (-1: none).
    pub fn active_controller_id(&self) -> i32 {
        self.active_controller_id
    }

    /// The cached state of a partition and its znode version, while active.
    pub fn partition_state(&self, tp: &TopicPartition) -> Option<&(PartitionState, i32)> {
        self.active.as_ref().and_then(|a| a.states.get(tp))
    }

    /// Feeds one input; returns what to do, in order. `now` stamps `/controller`.
    pub fn step(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => self.elect(&mut out),
            Input::SessionExpired => {
                self.pending.clear();
                self.resign("session expired", &mut out);
            }
            Input::ZkWatch(w) => self.on_watch(w, &mut out),
            Input::ZkReply(r) => {
                if let Some(p) = self.pending.remove(&r.id) {
                    self.on_reply(now, p, r.result, &mut out);
                }
            }
        }
        out
    }

    fn zk(&mut self, op: ZkOp, why: Pending, out: &mut Vec<Output>) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, why);
        out.push(Output::Zk(ZkRequest { id, op }));
    }

    fn elect(&mut self, out: &mut Vec<Output>) {
        self.zk(ZkOp::Exists { path: znodes::CONTROLLER_PATH.into(), watch: true }, Pending::ControllerExists, out);
    }

    fn read_controller(&mut self, out: &mut Vec<Output>) {
        self.zk(ZkOp::GetData { path: znodes::CONTROLLER_PATH.into(), watch: true }, Pending::ControllerData, out);
    }

    fn resign(&mut self, reason: &str, out: &mut Vec<Output>) {
        if let Some(a) = self.active.take() {
            // Replies to the active phase's requests are now meaningless.
            self.pending.retain(|_, p| matches!(p, Pending::ControllerExists | Pending::ControllerData));
            out.push(Output::Record(KafkaEvent::ControllerResigned { broker: self.broker, epoch: a.epoch, reason: reason.into() }));
        }
    }

    fn on_watch(&mut self, w: ZkWatchEvent, out: &mut Vec<Output>) {
        match (w.path.as_str(), w.kind) {
            (znodes::CONTROLLER_PATH, WatchKind::Deleted) => {
                self.active_controller_id = -1;
                self.resign("controller znode deleted", out);
                self.elect(out);
            }
            (znodes::CONTROLLER_PATH, _) => self.read_controller(out),
            (znodes::BROKER_IDS_PATH, WatchKind::ChildrenChanged) if self.active.is_some() => {
                self.zk(ZkOp::GetChildren { path: znodes::BROKER_IDS_PATH.into(), watch: true }, Pending::BrokerIds, out)
            }
            (znodes::BROKER_TOPICS_PATH, WatchKind::ChildrenChanged) if self.active.is_some() => {
                self.zk(ZkOp::GetChildren { path: znodes::BROKER_TOPICS_PATH.into(), watch: true }, Pending::Topics, out)
            }
            _ => {}
        }
    }

    /// Wraps `ops` in the epoch check unless the bug flag is on. The op results then start
    /// at index `self.fence_len()`.
    fn fenced(&self, ops: Vec<MultiOp>) -> ZkOp {
        let a = self.active.as_ref().expect("only an active controller writes");
        if self.bugs.no_epoch_fencing {
            return ZkOp::Multi(ops);
        }
        let mut all = vec![MultiOp::Check { path: znodes::CONTROLLER_EPOCH_PATH.into(), version: a.epoch_zk_version }];
        all.extend(ops);
        ZkOp::Multi(all)
    }

    fn fence_len(&self) -> usize {
        if self.bugs.no_epoch_fencing {
            0
        } else {
            1
        }
    }

    /// True (and resigns) if a fenced multi failed on its epoch check.
    fn lost_epoch(&mut self, e: &ZkFailure, out: &mut Vec<Output>) -> bool {
        let check_failed = !self.bugs.no_epoch_fencing && e.multi_op == Some(0);
        if check_failed || e.code == ZkError::SessionExpired {
            self.resign(if check_failed { "controller epoch check failed" } else { "session expired" }, out);
            self.read_controller(out);
            return true;
        }
        false
    }

    fn on_reply(&mut self, now: SimTime, p: Pending, result: Result<ZkResult, ZkFailure>, out: &mut Vec<Output>) {
        match (p, result) {
            (Pending::ControllerExists, Ok(ZkResult::Exists { stat: Some(_) })) => self.read_controller(out),
            (Pending::ControllerExists, Ok(_)) => {
                self.active_controller_id = -1;
                self.zk(ZkOp::GetData { path: znodes::CONTROLLER_EPOCH_PATH.into(), watch: false }, Pending::EpochRead, out);
            }
            (Pending::ControllerData, Ok(ZkResult::Data { data, .. })) => {
                self.active_controller_id = ControllerZnode::from_json(&data).map(|c| c.brokerid as i32).unwrap_or(-1);
                if self.active_controller_id != self.broker as i32 {
                    self.resign("another broker is controller", out);
                }
            }
            (Pending::ControllerData, Err(f)) if f.code == ZkError::NoNode => {
                self.active_controller_id = -1;
                self.elect(out);
            }
            (Pending::EpochRead, Ok(ZkResult::Data { data, stat })) => {
                let epoch = znodes::controller_epoch_from_text(&data).unwrap_or_else(|e| panic!("corrupt {e}"));
                self.epoch_read = Some((epoch, stat.version));
                let ops = vec![
                    MultiOp::Create {
                        path: znodes::CONTROLLER_PATH.into(),
                        data: ControllerZnode::new(self.broker, now.as_millis()).to_json(),
                        mode: CreateMode::Ephemeral,
                    },
                    MultiOp::SetData {
                        path: znodes::CONTROLLER_EPOCH_PATH.into(),
                        data: znodes::controller_epoch_to_text(epoch + 1),
                        version: Some(stat.version),
                    },
                ];
                self.zk(ZkOp::Multi(ops), Pending::ElectMulti { epoch: epoch + 1 }, out);
            }
            (Pending::EpochRead, Err(f)) if f.code == ZkError::NoNode => {
                let op = ZkOp::Create {
                    path: znodes::CONTROLLER_EPOCH_PATH.into(),
                    data: znodes::controller_epoch_to_text(0),
                    mode: CreateMode::Persistent,
                };
                self.zk(op, Pending::EpochCreate, out);
            }
            (Pending::EpochCreate, Ok(_)) => {
                self.zk(ZkOp::GetData { path: znodes::CONTROLLER_EPOCH_PATH.into(), watch: false }, Pending::EpochRead, out)
            }
            (Pending::EpochCreate, Err(f)) if f.code == ZkError::NodeExists => {
                self.zk(ZkOp::GetData { path: znodes::CONTROLLER_EPOCH_PATH.into(), watch: false }, Pending::EpochRead, out)
            }
            (Pending::ElectMulti { epoch }, Ok(ZkResult::Multi { results })) => {
                let version = match results.get(1) {
                    Some(ZkResult::SetData { stat }) => stat.version,
                    other => panic!("election multi result {other:?}"),
                };
                self.become_active(epoch, version, out);
            }
            (Pending::ElectMulti { .. }, Err(_)) => {
                // NODEEXISTS: someone else holds /controller; BADVERSION: someone bumped the
                // epoch first; CONNECTIONLOSS: ambiguous. Re-read and act on what is there.
                self.read_controller(out);
            }
            (Pending::BrokerIds, Ok(ZkResult::Children { children })) => self.on_broker_ids(children, out),
            (Pending::BrokerData(id), Ok(ZkResult::Data { stat, .. })) => {
                if let Some(a) = self.active.as_mut() {
                    let new = a.live.insert(id, stat.czxid).is_none();
                    if a.loaded && new {
                        self.on_broker_startup(id, out);
                    }
                }
                self.load_step_done(out);
            }
            (Pending::BrokerData(_), Err(_)) => self.load_step_done(out),
            (Pending::Topics, Ok(ZkResult::Children { children })) => {
                let known: BTreeSet<String> = self.active.as_ref().map(|a| a.assignments.keys().cloned().collect()).unwrap_or_default();
                for t in children.into_iter().filter(|t| !known.contains(t)) {
                    self.load_step(out);
                    self.zk(ZkOp::GetData { path: znodes::topic_path(&t), watch: true }, Pending::TopicData(t), out);
                }
                self.load_step_done(out);
            }
            (Pending::TopicData(t), Ok(ZkResult::Data { data, .. })) => {
                if let Ok(assign) = TopicAssignment::from_json(&data) {
                    let loaded = self.active.as_ref().is_some_and(|a| a.loaded);
                    if let Some(a) = self.active.as_mut() {
                        a.assignments.insert(t.clone(), assign.partitions.clone());
                    }
                    if loaded {
                        self.create_partition_states(&t, out);
                    } else {
                        for p in assign.partitions.keys() {
                            self.read_state(TopicPartition::new(&t, *p), Purpose::Load, out);
                        }
                    }
                }
                self.load_step_done(out);
            }
            (Pending::TopicData(_), Err(_)) => self.load_step_done(out),
            (Pending::StateRead(tp, purpose), Ok(ZkResult::Data { data, stat })) => {
                if let (Ok(state), Some(a)) = (PartitionState::from_json(&data), self.active.as_mut()) {
                    a.states.insert(tp.clone(), (state, stat.version));
                    if purpose == Purpose::Decide {
                        self.decide(&tp, out);
                    }
                }
                if purpose == Purpose::Load {
                    self.load_step_done(out);
                }
            }
            (Pending::StateRead(_, Purpose::Load), Err(_)) => self.load_step_done(out),
            (Pending::StateRead(..), Err(_)) => {}
            (Pending::StateWrite { tp, state }, Ok(ZkResult::Multi { results })) => {
                let version = match results.get(self.fence_len()) {
                    Some(ZkResult::SetData { stat }) => stat.version,
                    other => panic!("state write result {other:?}"),
                };
                self.state_written(&tp, state, version, out);
                self.send_for(&[tp], out);
            }
            (Pending::StateWrite { tp, .. }, Err(e)) => {
                if !self.lost_epoch(&e, out) {
                    // BADVERSION on the state znode (or an ambiguous CONNECTIONLOSS): re-read.
                    self.read_state(tp, Purpose::Decide, out);
                }
            }
            (Pending::StatesCreate { topic, states }, Ok(_)) => {
                let mut tps = Vec::new();
                for (p, state) in states {
                    let tp = TopicPartition::new(&topic, p);
                    self.state_written(&tp, state, 0, out);
                    tps.push(tp);
                }
                self.send_for(&tps, out);
            }
            (Pending::StatesCreate { topic, states }, Err(e)) => {
                if !self.lost_epoch(&e, out) {
                    for (p, _) in states {
                        self.read_state(TopicPartition::new(&topic, p), Purpose::Decide, out);
                    }
                }
            }
            (p, r) => {
                // Session-level failures of reads: the session handler (SessionExpired input)
                // or the next watch recovers; nothing else to do for this request.
                if matches!(&r, Err(f) if f.code == ZkError::SessionExpired) {
                    self.resign("session expired", out);
                } else if matches!(&r, Err(f) if f.code == ZkError::ConnectionLoss) {
                    self.retry_read(p, out);
                }
            }
        }
    }

    /// Re-issues an idempotent read after CONNECTIONLOSS.
    fn retry_read(&mut self, p: Pending, out: &mut Vec<Output>) {
        match p {
            Pending::ControllerExists => self.elect(out),
            Pending::ControllerData => self.read_controller(out),
            Pending::EpochRead | Pending::EpochCreate => {
                self.zk(ZkOp::GetData { path: znodes::CONTROLLER_EPOCH_PATH.into(), watch: false }, Pending::EpochRead, out)
            }
            Pending::BrokerIds => self.zk(ZkOp::GetChildren { path: znodes::BROKER_IDS_PATH.into(), watch: true }, Pending::BrokerIds, out),
            Pending::Topics => self.zk(ZkOp::GetChildren { path: znodes::BROKER_TOPICS_PATH.into(), watch: true }, Pending::Topics, out),
            other => panic!("unexpected reply shape for {other:?}"),
        }
    }

    fn become_active(&mut self, epoch: i32, epoch_zk_version: i32, out: &mut Vec<Output>) {
        self.active_controller_id = self.broker as i32;
        self.active = Some(Active { epoch, epoch_zk_version, loading: 2, ..Active::default() });
        out.push(Output::Record(KafkaEvent::ControllerElected { broker: self.broker, epoch }));
        self.zk(ZkOp::GetChildren { path: znodes::BROKER_IDS_PATH.into(), watch: true }, Pending::BrokerIds, out);
        self.zk(ZkOp::GetChildren { path: znodes::BROKER_TOPICS_PATH.into(), watch: true }, Pending::Topics, out);
    }

    fn load_step(&mut self, _out: &mut Vec<Output>) {
        if let Some(a) = self.active.as_mut().filter(|a| !a.loaded) {
            a.loading += 1;
        }
    }

    fn read_state(&mut self, tp: TopicPartition, purpose: Purpose, out: &mut Vec<Output>) {
        if purpose == Purpose::Load {
            self.load_step(out);
        }
        let path = znodes::partition_state_path(&tp.topic, tp.partition);
        self.zk(ZkOp::GetData { path, watch: false }, Pending::StateRead(tp, purpose), out);
    }

    fn load_step_done(&mut self, out: &mut Vec<Output>) {
        let Some(a) = self.active.as_mut().filter(|a| !a.loaded) else { return };
        a.loading -= 1;
        if a.loading == 0 {
            a.loaded = true;
            self.on_failover_loaded(out);
        }
    }

    fn on_broker_ids(&mut self, children: Vec<String>, out: &mut Vec<Output>) {
        let Some(a) = self.active.as_ref() else { return };
        let ids: BTreeSet<BrokerId> = children.iter().filter_map(|c| c.parse().ok()).collect();
        let dead: Vec<BrokerId> = a.live.keys().copied().filter(|b| !ids.contains(b)).collect();
        let born: Vec<BrokerId> = ids.iter().copied().filter(|b| !a.live.contains_key(b)).collect();
        for id in born {
            self.load_step(out);
            self.zk(ZkOp::GetData { path: znodes::broker_id_path(id), watch: false }, Pending::BrokerData(id), out);
        }
        if !dead.is_empty() {
            let a = self.active.as_mut().expect("checked");
            for d in &dead {
                a.live.remove(d);
            }
            if a.loaded {
                let affected: Vec<TopicPartition> = a
                    .states
                    .iter()
                    .filter(|(tp, (s, _))| {
                        let assigned = a.assignments.get(&tp.topic).and_then(|m| m.get(&tp.partition));
                        assigned.is_some_and(|r| r.iter().any(|b| dead.contains(b)))
                            || dead.iter().any(|d| s.leader == *d as i32 || s.isr.contains(d))
                    })
                    .map(|(tp, _)| tp.clone())
                    .collect();
                for tp in affected {
                    self.read_state(tp, Purpose::Decide, out);
                }
            }
        }
        self.load_step_done(out);
    }

    /// Failover: UpdateMetadata to every live broker first (KAFKA-4443), then LeaderAndIsr
    /// for existing states, then elections and creations.
    fn on_failover_loaded(&mut self, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("loaded implies active");
        let all: Vec<TopicPartition> = a.states.keys().cloned().collect();
        self.send_update_metadata(&all, out);
        self.send_leader_and_isr(&all, out);
        let a = self.active.as_ref().expect("active");
        let mut decide = Vec::new();
        let mut create = Vec::new();
        for (t, parts) in &a.assignments {
            if parts.keys().any(|p| !a.states.contains_key(&TopicPartition::new(t, *p))) {
                create.push(t.clone());
            }
            for p in parts.keys() {
                let tp = TopicPartition::new(t, *p);
                if a.states.contains_key(&tp) {
                    decide.push(tp);
                }
            }
        }
        for tp in decide {
            self.decide(&tp, out);
        }
        for t in create {
            self.create_partition_states(&t, out);
        }
    }

    fn on_broker_startup(&mut self, id: BrokerId, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("active");
        let hosted: Vec<TopicPartition> = a
            .states
            .keys()
            .filter(|tp| a.assignments.get(&tp.topic).and_then(|m| m.get(&tp.partition)).is_some_and(|r| r.contains(&id)))
            .cloned()
            .collect();
        let all: Vec<TopicPartition> = a.states.keys().cloned().collect();
        self.send_update_metadata(&all, out);
        self.send_leader_and_isr_to(id, &hosted, out);
        let leaderless: Vec<TopicPartition> = hosted
            .into_iter()
            .filter(|tp| self.active.as_ref().is_some_and(|a| a.states[tp].0.leader == -1))
            .collect();
        for tp in leaderless {
            self.read_state(tp, Purpose::Decide, out);
        }
    }

    /// Decides on the cached (freshly read) state and writes the change, fenced and CAS'd.
    fn decide(&mut self, tp: &TopicPartition, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("active");
        let Some(assignment) = a.assignments.get(&tp.topic).and_then(|m| m.get(&tp.partition)) else { return };
        let (state, version) = a.states[tp].clone();
        let live: BTreeSet<BrokerId> = a.live.keys().copied().collect();
        let Some(next) = partition_change(&state, assignment, &live, a.epoch, self.cfg, self.bugs) else { return };
        let op = self.fenced(vec![MultiOp::SetData {
            path: znodes::partition_state_path(&tp.topic, tp.partition),
            data: next.to_json(),
            version: Some(version),
        }]);
        self.zk(op, Pending::StateWrite { tp: tp.clone(), state: next }, out);
    }

    /// New partitions: leader = first live replica, ISR = live replicas, epoch 0, created in
    /// one fenced multi with their parents.
    fn create_partition_states(&mut self, topic: &str, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("active");
        let Some(parts) = a.assignments.get(topic) else { return };
        let mut ops = Vec::new();
        let mut states = Vec::new();
        let mut any_existing = false;
        for (p, replicas) in parts {
            if a.states.contains_key(&TopicPartition::new(topic, *p)) {
                any_existing = true;
                continue;
            }
            let isr: Vec<BrokerId> = replicas.iter().copied().filter(|r| a.live.contains_key(r)).collect();
            let Some(&leader) = isr.first() else { continue }; // stays NonExistent until a replica lives
            let state = PartitionState::new(leader as i32, 0, isr, a.epoch);
            ops.push(MultiOp::Create { path: znodes::partition_path(topic, *p), data: String::new(), mode: CreateMode::Persistent });
            ops.push(MultiOp::Create {
                path: znodes::partition_state_path(topic, *p),
                data: state.to_json(),
                mode: CreateMode::Persistent,
            });
            states.push((*p, state));
        }
        if states.is_empty() {
            return;
        }
        if !any_existing {
            let parent = MultiOp::Create { path: znodes::topic_partitions_path(topic), data: String::new(), mode: CreateMode::Persistent };
            ops.insert(0, parent);
        }
        let op = self.fenced(ops);
        self.zk(op, Pending::StatesCreate { topic: topic.to_string(), states }, out);
    }

    fn state_written(&mut self, tp: &TopicPartition, state: PartitionState, version: i32, out: &mut Vec<Output>) {
        out.push(Output::Record(KafkaEvent::PartitionStateWritten {
            topic: tp.topic.clone(),
            partition: tp.partition,
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            isr: state.isr.clone(),
            controller_epoch: state.controller_epoch,
            by: self.broker,
        }));
        if let Some(a) = self.active.as_mut() {
            a.states.insert(tp.clone(), (state, version));
        }
    }

    /// After a state change: LeaderAndIsr to the live replicas, then UpdateMetadata to all.
    fn send_for(&mut self, tps: &[TopicPartition], out: &mut Vec<Output>) {
        self.send_leader_and_isr(tps, out);
        self.send_update_metadata(tps, out);
    }

    fn leader_and_isr_partition(a: &Active, tp: &TopicPartition) -> Option<LeaderAndIsrPartition> {
        let (s, version) = a.states.get(tp)?;
        let replicas = a.assignments.get(&tp.topic)?.get(&tp.partition)?.clone();
        Some(LeaderAndIsrPartition {
            topic: tp.topic.clone(),
            partition: tp.partition,
            leader: s.leader,
            leader_epoch: s.leader_epoch,
            isr: s.isr.clone(),
            zk_version: *version,
            replicas,
            controller_epoch: s.controller_epoch,
            is_new: s.leader_epoch == 0,
        })
    }

    fn send_leader_and_isr(&mut self, tps: &[TopicPartition], out: &mut Vec<Output>) {
        let live: Vec<BrokerId> = self.active.as_ref().map(|a| a.live.keys().copied().collect()).unwrap_or_default();
        for b in live {
            self.send_leader_and_isr_to(b, tps, out);
        }
    }

    fn send_leader_and_isr_to(&mut self, to: BrokerId, tps: &[TopicPartition], out: &mut Vec<Output>) {
        let Some(a) = self.active.as_ref() else { return };
        let Some(&broker_epoch) = a.live.get(&to) else { return };
        let partitions: Vec<LeaderAndIsrPartition> = tps
            .iter()
            .filter_map(|tp| Self::leader_and_isr_partition(a, tp))
            .filter(|p| p.replicas.contains(&to))
            .collect();
        if partitions.is_empty() {
            return;
        }
        out.push(Output::Send {
            to,
            msg: Message::LeaderAndIsr(LeaderAndIsr { controller_id: self.broker, controller_epoch: a.epoch, broker_epoch, partitions }),
        });
    }

    fn send_update_metadata(&mut self, tps: &[TopicPartition], out: &mut Vec<Output>) {
        let Some(a) = self.active.as_ref() else { return };
        let partitions: Vec<PartitionMetadata> = tps
            .iter()
            .filter_map(|tp| Self::leader_and_isr_partition(a, tp))
            .map(|p| PartitionMetadata {
                topic: p.topic,
                partition: p.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                isr: p.isr,
                replicas: p.replicas,
            })
            .collect();
        let live_brokers: Vec<BrokerId> = a.live.keys().copied().collect();
        for (&to, &broker_epoch) in &a.live {
            out.push(Output::Send {
                to,
                msg: Message::UpdateMetadata(UpdateMetadata {
                    controller_id: self.broker,
                    controller_epoch: a.epoch,
                    broker_epoch,
                    live_brokers: live_brokers.clone(),
                    partitions: partitions.clone(),
                }),
            });
        }
    }
}
