//! The Kafka controller (ZooKeeper mode, 2.x) as a sans-IO state machine, plus the pure
//! rules it applies and the broker-side checks on its requests.
//!
//! Every ZooKeeper interaction is an [`Output::Zk`] request with an id; its reply comes
//! back as [`Input::ZkReply`], watches as [`Input::ZkWatch`].
//!
//! - Election: exists(`/controller`, watch); if absent, read `/controller_epoch` as (e, v)
//!   and issue multi{create EPHEMERAL `/controller`; setData `/controller_epoch` = e+1 if
//!   version v}. NODEEXISTS, BADVERSION or an ambiguous CONNECTIONLOSS: check what is
//!   there (`KafkaZkClient.checkControllerAndEpoch`): if `/controller` names us and
//!   `/controller_epoch` holds e+1, our multi landed and we are controller of e+1 with the
//!   epoch zkVersion read; otherwise stay a bystander (the `/controller` watch tells us when
//!   it goes away).
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
//! - Broker bounce (KIP-380): every change of `/brokers/ids` re-reads each broker's
//!   registration; a broker whose czxid (broker epoch) grew was restarted between two
//!   reads and is handled as a death followed by a startup.
//! - Elections re-read the partition state first; a state already written by a higher
//!   controller epoch is left alone ("aborted leader election ... already written by
//!   another controller", `PartitionStateMachine.doElectLeaderForPartitions`).
//! - Session expiry (KAFKA-6082's race): Kafka's `ZooKeeperClient` opens a new session by
//!   itself, and `KafkaZkClient` retries requests that failed with CONNECTIONLOSS once
//!   connected, so the requests of the event in progress go out on the NEW session. The
//!   controller's single event thread handles the Expire event (resign) only after that
//!   event completes; events queued behind it are dropped. Here: [`Input::SessionExpired`]
//!   re-sends every outstanding request of the active controller and resigns once none is
//!   left. Only the `/controller_epoch` check then stops the zombie's writes.
//! - ISR change notifications: a child watch on `/isr_change_notification`; each
//!   notification's partitions are re-read from ZooKeeper and sent to every live broker in
//!   UpdateMetadata, then the notification is deleted. A new controller deletes the ones it
//!   finds (it loads every state anyway).
//!
//! Not modelled: preferred-replica election, reassignment, topic deletion, controlled
//! shutdown.

use super::wire::{
    BrokerId, KafkaError, LeaderAndIsr, LeaderAndIsrPartition, Message, PartitionMetadata,
    StopReplica, StopReplicaPartition, TopicPartition, UpdateMetadata,
};
use super::zkops::{
    CreateMode, MultiOp, WatchKind, ZkError, ZkFailure, ZkOp, ZkReply, ZkReqId, ZkRequest,
    ZkResult, ZkWatchEvent,
};
use super::znodes::{self, ControllerZnode, PartitionState, TopicAssignment};
use crate::history::KafkaEvent;
use kzsim_sim::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// Historical controller bugs, one `if` each. All false = Kafka 2.x fixed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Unix milliseconds of the simulated wall clock at simulated time zero: the
    /// `/controller` znode's `timestamp` is this plus the simulated time.
    pub wall_clock_start_ms: i64,
}

/// The simulated wall clock's reading in Unix milliseconds at `now`, for a clock that read
/// `start_ms` at simulated time zero (the `timestamp` fields Kafka writes into znodes).
pub fn wall_ms(start_ms: i64, now: SimTime) -> u64 {
    (start_ms + now.as_millis() as i64).max(0) as u64
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
        return Err(format!(
            "replication factor {replication_factor} larger than available brokers {n}"
        ));
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
        return first_live.map(|l| {
            (
                l,
                if live_isr.contains(&l) {
                    live_isr.clone()
                } else {
                    vec![l]
                },
            )
        });
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
    let next = |leader: i32, isr: Vec<BrokerId>| {
        PartitionState::new(leader, state.leader_epoch + 1, isr, controller_epoch)
    };
    if !leader_live {
        if let Some((leader, isr)) = offline_election(
            assignment,
            &state.isr,
            live,
            cfg.unclean_leader_election_enable,
            bugs.elect_outside_isr,
        ) {
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

/// One StopReplica partition and whether to apply it (`Err`: its per-partition error).
pub type StopReplicaDecision = (StopReplicaPartition, Result<(), KafkaError>);

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
        BrokerFencing {
            broker,
            broker_epoch,
            highest_controller_epoch: -1,
        }
    }

    /// Whole-request checks: STALE_BROKER_EPOCH if the request is for an older incarnation
    /// (KIP-380; -1 means the controller does not know, accepted), then
    /// STALE_CONTROLLER_EPOCH if from an older controller. Accepting raises the highest
    /// controller epoch.
    pub fn check_request(
        &mut self,
        controller_epoch: i32,
        broker_epoch: i64,
    ) -> Result<(), KafkaError> {
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
        let mut f = LeaderAndIsrFiltered {
            apply: Vec::new(),
            ignored: Vec::new(),
        };
        for p in &req.partitions {
            let tp = p.tp();
            match current_epoch(&tp) {
                Some(cur) if p.leader_epoch <= cur => f.ignored.push((
                    tp,
                    format!("leader epoch {} not newer than {cur}", p.leader_epoch),
                )),
                _ if !p.replicas.contains(&self.broker) => f.ignored.push((
                    tp,
                    format!("broker {} not in replicas {:?}", self.broker, p.replicas),
                )),
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
    ) -> Result<Vec<StopReplicaDecision>, KafkaError> {
        self.check_request(req.controller_epoch, req.broker_epoch)?;
        Ok(req
            .partitions
            .iter()
            .map(|p| {
                let cur = current_epoch(&TopicPartition::new(&p.topic, p.partition));
                let ok = p.leader_epoch == -1
                    || p.leader_epoch == -2
                    || cur.is_none_or(|c| p.leader_epoch > c);
                (
                    p.clone(),
                    if ok {
                        Ok(())
                    } else {
                        Err(KafkaError::FencedLeaderEpoch)
                    },
                )
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
    /// The reply to an earlier [`Output::Zk`]. A SESSIONEXPIRED failure is not an answer:
    /// the request stays outstanding until [`Input::SessionExpired`] re-sends it.
    ZkReply(ZkReply),
    /// A watch fired.
    ZkWatch(ZkWatchEvent),
    /// The ZooKeeper session expired and the host has already opened a new one (Kafka's
    /// `ZooKeeperClient.reinitialize`). An active controller with requests outstanding (the
    /// event in progress) re-sends them on the new session, keeps acting on their replies,
    /// and resigns once none is left (KafkaController's Expire event runs after the current
    /// event; KAFKA-6082). Otherwise it resigns at once. Watches are ignored until then,
    /// and an [`Input::Start`] that arrives meanwhile is held until the resignation.
    SessionExpired,
}

/// What the controller asks its host to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Run a ZooKeeper request; reply with [`Input::ZkReply`].
    Zk(ZkRequest),
    /// Send a controller request to a broker (the host's channel re-sends it until the
    /// broker answers: [`super::control_channel`]).
    Send { to: BrokerId, msg: Message },
    /// `ControllerChannelManager.removeBroker`: the broker died or bounced; drop what is
    /// still queued for it (it was meant for the incarnation that is gone).
    RemoveBroker(BrokerId),
    /// Record a protocol event.
    Record(KafkaEvent),
}

/// Brokers a decision treats as failed whatever the live set says by the time it is
/// made. Kafka handles a broker's failure inside one controller event: `onBrokerChange`
/// takes a dead or bounced broker out of the live set, and `onBrokerFailure`'s elections
/// re-read and retry their BADVERSION writes (`updatesToRetry`) before the broker's
/// restart is handled. Here those reads and writes are separate steps, and the broker may
/// re-register in between; the decision still may not keep its old incarnation as leader
/// or in the ISR, since its log may have lost records since.
type Failed = BTreeSet<BrokerId>;

/// Why a partition state is being read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose {
    /// Failover load.
    Load,
    /// Elections re-read the ISR from ZooKeeper before deciding, with `failed` not live.
    Decide { failed: Failed },
    /// An ISR change notification: refresh the cache and tell every broker.
    Refresh,
    /// Our create of new partitions' states, `intended` here, found them already there:
    /// an earlier controller's create landed, or our own whose reply was lost (the state
    /// is then exactly `intended`, and is recorded as our write). Decide on what is there,
    /// and send it to the replicas if nothing changes, since they may never have had it
    /// from a controller.
    Adopt { intended: PartitionState },
}

#[derive(Clone, Debug, PartialEq)]
enum Pending {
    ControllerExists,
    ControllerData,
    EpochRead,
    EpochCreate,
    ElectMulti {
        epoch: i32,
    },
    /// After the election multi for `epoch` failed (NODEEXISTS, BADVERSION or an ambiguous
    /// CONNECTIONLOSS): the watched read of `/controller` that starts
    /// `checkControllerAndEpoch`.
    ElectCheckController {
        epoch: i32,
    },
    /// `/controller` named us: the read of `/controller_epoch` that settles whether our
    /// multi for `epoch` landed.
    ElectCheckEpoch {
        epoch: i32,
    },
    BrokerIds,
    BrokerData(BrokerId),
    Topics,
    TopicData(String),
    StateRead(TopicPartition, Purpose),
    /// The re-read after a state write failed with BADVERSION or an ambiguous
    /// CONNECTIONLOSS; `intended` is the state that write carried.
    StateReread {
        tp: TopicPartition,
        intended: PartitionState,
        failed: Failed,
    },
    StateWrite {
        tp: TopicPartition,
        state: PartitionState,
        failed: Failed,
    },
    StatesCreate {
        topic: String,
        states: Vec<(u32, PartitionState)>,
    },
    IsrNotifications,
    IsrNotificationData(String),
    IsrNotificationDelete,
}

impl Pending {
    /// The election's reads of `/controller` (and the check that settles a failed election
    /// multi): not an event of the active phase, so they neither hold back watches nor
    /// outlive a session or a resignation differently from `/controller`'s own reads.
    fn is_election_read(&self) -> bool {
        matches!(
            self,
            Pending::ControllerExists
                | Pending::ControllerData
                | Pending::ElectCheckController { .. }
                | Pending::ElectCheckEpoch { .. }
        )
    }

    /// A read of the failover load (`KafkaController.initializeControllerContext`): brokers,
    /// topics, assignments, partition states. Loading ends when none is outstanding,
    /// however many of them watches added while it ran.
    fn is_load_read(&self) -> bool {
        matches!(
            self,
            Pending::BrokerIds
                | Pending::BrokerData(_)
                | Pending::Topics
                | Pending::TopicData(_)
                | Pending::StateRead(_, Purpose::Load)
        )
    }
}

/// An active controller whose session expired while an event was in progress: it finishes
/// that event on the new session, then resigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expiring {
    /// [`Input::Start`] came (the broker re-registered): elect once resigned.
    start_queued: bool,
}

#[derive(Clone, Debug, Default)]
struct Active {
    epoch: i32,
    epoch_zk_version: i32,
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
    /// Outstanding requests: why each was sent, and the op (to re-send after an expiry).
    pending: BTreeMap<ZkReqId, (Pending, ZkOp)>,
    active: Option<Active>,
    expiring: Option<Expiring>,
    /// `/controller` and `/brokers/ids` watches that fired while an event was in progress:
    /// Kafka's event thread handles ControllerChange/Reelect and BrokerChange only after
    /// the current event, and an expiry drops them (`clearAndPut`). Other watches are
    /// still handled at once. ZooKeeper watches are one-shot and re-armed only by the
    /// handling read, so at most one per path waits here.
    queued_watches: Vec<ZkWatchEvent>,
    /// The controller id last read from `/controller` (-1: none).
    active_controller_id: i32,
    epoch_read: Option<(i32, i32)>,
}

impl Controller {
    /// A controller component that does nothing until [`Input::Start`].
    pub fn new(broker: BrokerId, cfg: ControllerConfig, bugs: ControllerBugs) -> Controller {
        Controller {
            broker,
            cfg,
            bugs,
            next_id: 1,
            pending: BTreeMap::new(),
            active: None,
            expiring: None,
            queued_watches: Vec::new(),
            active_controller_id: -1,
            epoch_read: None,
        }
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
            Input::Start => match self.expiring.as_mut() {
                Some(x) => x.start_queued = true,
                None => self.elect(&mut out),
            },
            Input::SessionExpired => self.on_session_expired(&mut out),
            // Events queued behind Expire are dropped (`ControllerEventManager.clearAndPut`).
            Input::ZkWatch(_) if self.expiring.is_some() => {}
            // Kafka's controller runs one event at a time: a ControllerChange/Reelect or a
            // BrokerChange waits for the event in progress (whose ZooKeeper writes
            // `retryRequestsUntilConnected` re-sends until they are answered).
            Input::ZkWatch(w)
                if (w.path == znodes::CONTROLLER_PATH || w.path == znodes::BROKER_IDS_PATH)
                    && self.event_in_progress() =>
            {
                self.queued_watches.push(w)
            }
            Input::ZkWatch(w) => self.on_watch(w, &mut out),
            Input::ZkReply(r) => {
                let code = r.result.as_ref().err().map(|f| f.code);
                if code == Some(ZkError::SessionExpired) {
                    // Stays outstanding: Input::SessionExpired re-sends it on the new session.
                } else if let Some((p, op)) = self.pending.remove(&r.id) {
                    if code == Some(ZkError::ConnectionLoss) && op.is_read() {
                        // KafkaZkClient.retryRequestsUntilConnected: a read that lost its
                        // connection is sent again (the host has paused before answering),
                        // so no step of a failover load or an event is skipped.
                        self.zk(op, p, &mut out);
                    } else {
                        self.on_reply(now, p, r.result, &mut out);
                        self.finish_load_if_done(&mut out);
                    }
                }
            }
        }
        self.finish_expiry_if_idle(&mut out);
        while self.expiring.is_none()
            && !self.event_in_progress()
            && !self.queued_watches.is_empty()
        {
            let w = self.queued_watches.remove(0);
            self.on_watch(w, &mut out);
        }
        out
    }

    fn zk(&mut self, op: ZkOp, why: Pending, out: &mut Vec<Output>) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, (why, op.clone()));
        out.push(Output::Zk(ZkRequest { id, op }));
    }

    /// True while a request of the active phase (an event's work, not the election's
    /// `/controller` reads) is outstanding.
    fn event_in_progress(&self) -> bool {
        self.active.is_some() && self.pending.values().any(|(p, _)| !p.is_election_read())
    }

    /// The session expired; the host already opened a new one. An idle (or inactive)
    /// controller resigns at once. One in the middle of an event re-sends that event's
    /// requests on the new session, as `KafkaZkClient.retryRequestsUntilConnected` does,
    /// and resigns when they are done ([`Controller::finish_expiry_if_idle`]). Before
    /// KAFKA-6082's fix nothing stops those writes: the zombie controller.
    fn on_session_expired(&mut self, out: &mut Vec<Output>) {
        self.queued_watches.clear();
        if !self.event_in_progress() {
            self.pending.clear();
            self.expiring = None;
            self.active_controller_id = -1;
            self.resign("session expired", out);
            return;
        }
        let start_queued = self.expiring.is_some_and(|x| x.start_queued);
        self.expiring = Some(Expiring { start_queued });
        for (_, (p, op)) in std::mem::take(&mut self.pending) {
            // The election's watches die with the old session; Start re-elects afterwards.
            if !p.is_election_read() {
                self.zk(op, p, out);
            }
        }
    }

    /// Ends an expiry once the interrupted event has no request left: resign (if an epoch
    /// check has not already made us), then elect if the broker has re-registered.
    fn finish_expiry_if_idle(&mut self, out: &mut Vec<Output>) {
        let Some(x) = self.expiring else { return };
        if self.event_in_progress() {
            return;
        }
        self.expiring = None;
        self.active_controller_id = -1;
        self.resign("session expired", out);
        if x.start_queued {
            self.elect(out);
        }
    }

    fn elect(&mut self, out: &mut Vec<Output>) {
        self.zk(
            ZkOp::Exists {
                path: znodes::CONTROLLER_PATH.into(),
                watch: true,
            },
            Pending::ControllerExists,
            out,
        );
    }

    fn read_controller(&mut self, out: &mut Vec<Output>) {
        self.zk(
            ZkOp::GetData {
                path: znodes::CONTROLLER_PATH.into(),
                watch: true,
            },
            Pending::ControllerData,
            out,
        );
    }

    fn resign(&mut self, reason: &str, out: &mut Vec<Output>) {
        if let Some(a) = self.active.take() {
            // Replies to the active phase's requests are now meaningless.
            self.pending.retain(|_, (p, _)| p.is_election_read());
            out.push(Output::Record(KafkaEvent::ControllerResigned {
                broker: self.broker,
                epoch: a.epoch,
                reason: reason.into(),
            }));
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
            (znodes::BROKER_IDS_PATH, WatchKind::ChildrenChanged) if self.active.is_some() => self
                .zk(
                    ZkOp::GetChildren {
                        path: znodes::BROKER_IDS_PATH.into(),
                        watch: true,
                    },
                    Pending::BrokerIds,
                    out,
                ),
            (znodes::ISR_CHANGE_NOTIFICATION_PATH, WatchKind::ChildrenChanged)
                if self.active.is_some() =>
            {
                self.read_isr_notifications(out)
            }
            (znodes::BROKER_TOPICS_PATH, WatchKind::ChildrenChanged) if self.active.is_some() => {
                self.zk(
                    ZkOp::GetChildren {
                        path: znodes::BROKER_TOPICS_PATH.into(),
                        watch: true,
                    },
                    Pending::Topics,
                    out,
                )
            }
            _ => {}
        }
    }

    /// Wraps `ops` in the epoch check unless the bug flag is on. The op results then start
    /// at index `self.fence_len()`.
    fn fenced(&self, ops: Vec<MultiOp>) -> ZkOp {
        let a = self
            .active
            .as_ref()
            .expect("only an active controller writes");
        if self.bugs.no_epoch_fencing {
            return ZkOp::Multi(ops);
        }
        let mut all = vec![MultiOp::Check {
            path: znodes::CONTROLLER_EPOCH_PATH.into(),
            version: a.epoch_zk_version,
        }];
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
        if check_failed {
            self.resign("controller epoch check failed", out);
            self.read_controller(out);
        }
        check_failed
    }

    /// After a failed create of new partitions' states: resign if it failed the epoch
    /// check, else re-read the states and adopt what is there ([`Purpose::Adopt`]).
    fn adopt_unless_fenced(
        &mut self,
        e: &ZkFailure,
        intended: Vec<(TopicPartition, PartitionState)>,
        out: &mut Vec<Output>,
    ) {
        if !self.lost_epoch(e, out) {
            for (tp, intended) in intended {
                self.read_state(tp, Purpose::Adopt { intended }, out);
            }
        }
    }

    fn on_reply(
        &mut self,
        now: SimTime,
        p: Pending,
        result: Result<ZkResult, ZkFailure>,
        out: &mut Vec<Output>,
    ) {
        match (p, result) {
            (Pending::ControllerExists, Ok(ZkResult::Exists { stat: Some(_) })) => {
                self.read_controller(out)
            }
            (Pending::ControllerExists, Ok(_)) => {
                self.active_controller_id = -1;
                self.zk(
                    ZkOp::GetData {
                        path: znodes::CONTROLLER_EPOCH_PATH.into(),
                        watch: false,
                    },
                    Pending::EpochRead,
                    out,
                );
            }
            (Pending::ControllerData, Ok(ZkResult::Data { data, .. })) => {
                self.active_controller_id = ControllerZnode::from_json(&data)
                    .map(|c| c.brokerid as i32)
                    .unwrap_or(-1);
                if self.active_controller_id != self.broker as i32 {
                    self.resign("another broker is controller", out);
                }
            }
            (Pending::ControllerData, Err(f)) if f.code == ZkError::NoNode => {
                self.active_controller_id = -1;
                self.elect(out);
            }
            (Pending::EpochRead, Ok(ZkResult::Data { data, stat })) => {
                let epoch = znodes::controller_epoch_from_text(&data)
                    .unwrap_or_else(|e| panic!("corrupt {e}"));
                self.epoch_read = Some((epoch, stat.version));
                let ops = vec![
                    MultiOp::Create {
                        path: znodes::CONTROLLER_PATH.into(),
                        data: ControllerZnode::new(
                            self.broker,
                            wall_ms(self.cfg.wall_clock_start_ms, now),
                        )
                        .to_json(),
                        mode: CreateMode::Ephemeral,
                    },
                    MultiOp::SetData {
                        path: znodes::CONTROLLER_EPOCH_PATH.into(),
                        data: znodes::controller_epoch_to_text(epoch + 1),
                        version: Some(stat.version),
                    },
                ];
                self.zk(
                    ZkOp::Multi(ops),
                    Pending::ElectMulti { epoch: epoch + 1 },
                    out,
                );
            }
            (Pending::EpochRead, Err(f)) if f.code == ZkError::NoNode => {
                let op = ZkOp::Create {
                    path: znodes::CONTROLLER_EPOCH_PATH.into(),
                    data: znodes::controller_epoch_to_text(0),
                    mode: CreateMode::Persistent,
                };
                self.zk(op, Pending::EpochCreate, out);
            }
            (Pending::EpochCreate, Ok(_)) => self.zk(
                ZkOp::GetData {
                    path: znodes::CONTROLLER_EPOCH_PATH.into(),
                    watch: false,
                },
                Pending::EpochRead,
                out,
            ),
            (Pending::EpochCreate, Err(f)) if f.code == ZkError::NodeExists => self.zk(
                ZkOp::GetData {
                    path: znodes::CONTROLLER_EPOCH_PATH.into(),
                    watch: false,
                },
                Pending::EpochRead,
                out,
            ),
            (Pending::ElectMulti { epoch }, Ok(ZkResult::Multi { results })) => {
                let version = match results.get(1) {
                    Some(ZkResult::SetData { stat }) => stat.version,
                    other => panic!("election multi result {other:?}"),
                };
                self.become_active(epoch, version, out);
            }
            // NODEEXISTS: someone holds /controller; BADVERSION: someone bumped the epoch
            // first; CONNECTIONLOSS: ambiguous, our multi may have landed. Check what is
            // there (`on_election_check_controller`, `on_election_check_epoch`).
            (Pending::ElectMulti { epoch }, Err(_)) => self.zk(
                ZkOp::GetData {
                    path: znodes::CONTROLLER_PATH.into(),
                    watch: true,
                },
                Pending::ElectCheckController { epoch },
                out,
            ),
            (Pending::ElectCheckController { epoch }, Ok(ZkResult::Data { data, .. })) => {
                self.on_election_check_controller(epoch, &data, out)
            }
            // ControllerMovedException ("went away while checking"): no controller; elect
            // again, as a `/controller` read finding none does.
            (Pending::ElectCheckController { .. }, Err(f)) if f.code == ZkError::NoNode => {
                self.active_controller_id = -1;
                self.elect(out);
            }
            (Pending::ElectCheckEpoch { epoch }, Ok(ZkResult::Data { data, stat })) => {
                self.on_election_check_epoch(epoch, &data, stat.version, out)
            }
            (Pending::BrokerIds, Ok(ZkResult::Children { children })) => {
                self.on_broker_ids(children, out)
            }
            (Pending::BrokerData(id), Ok(ZkResult::Data { stat, .. })) => {
                if let Some(a) = self.active.as_mut() {
                    let previous = a.live.insert(id, stat.czxid);
                    let loaded = a.loaded;
                    match previous {
                        None if loaded => self.on_broker_startup(id, out),
                        // KIP-380: a newer registration than the one we knew is a bounce.
                        Some(old) if loaded && old < stat.czxid => {
                            self.on_broker_bounce(id, stat.czxid, out)
                        }
                        _ => {}
                    }
                }
            }
            (Pending::Topics, Ok(ZkResult::Children { children })) => {
                let known: BTreeSet<String> = self
                    .active
                    .as_ref()
                    .map(|a| a.assignments.keys().cloned().collect())
                    .unwrap_or_default();
                for t in children.into_iter().filter(|t| !known.contains(t)) {
                    self.zk(
                        ZkOp::GetData {
                            path: znodes::topic_path(&t),
                            watch: true,
                        },
                        Pending::TopicData(t),
                        out,
                    );
                }
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
            }
            (Pending::StateRead(tp, purpose), Ok(ZkResult::Data { data, stat })) => {
                if let (Ok(state), Some(a)) =
                    (PartitionState::from_json(&data), self.active.as_mut())
                {
                    // "Aborted leader election ... the LeaderAndIsr path was already written
                    // by another controller": a newer controller owns this partition now.
                    let newer_controller = state.controller_epoch > a.epoch;
                    let ours =
                        matches!(&purpose, Purpose::Adopt { intended } if *intended == state);
                    // Our own state is cached by recording it as written.
                    if ours {
                        self.state_written(&tp, state, stat.version, out);
                    } else {
                        a.states.insert(tp.clone(), (state, stat.version));
                    }
                    match purpose {
                        Purpose::Decide { .. } if newer_controller => {}
                        Purpose::Decide { failed } => self.decide(&tp, &failed, out),
                        Purpose::Adopt { .. } if newer_controller => {}
                        Purpose::Adopt { .. } => {
                            self.decide(&tp, &Failed::new(), out);
                            if !self.write_pending(&tp) {
                                self.send_for(std::slice::from_ref(&tp), out);
                            }
                        }
                        Purpose::Refresh => {
                            self.send_update_metadata(std::slice::from_ref(&tp), out)
                        }
                        Purpose::Load => {}
                    }
                }
            }
            (Pending::StateRead(..), Err(_)) => {}
            (Pending::StateWrite { tp, state, .. }, Ok(ZkResult::Multi { results })) => {
                let version = match results.get(self.fence_len()) {
                    Some(ZkResult::SetData { stat }) => stat.version,
                    other => panic!("state write result {other:?}"),
                };
                self.state_written(&tp, state, version, out);
                self.send_for(&[tp], out);
            }
            // BADVERSION on the state znode (or an ambiguous CONNECTIONLOSS): re-read, and
            // settle on what is there (`on_state_reread`).
            (Pending::StateWrite { tp, state, failed }, Err(e)) => {
                self.reread_to_settle(&e, tp, state, failed, out)
            }
            (
                Pending::StateReread {
                    tp,
                    intended,
                    failed,
                },
                Ok(ZkResult::Data { data, stat }),
            ) => {
                if let Ok(state) = PartitionState::from_json(&data) {
                    self.on_state_reread(tp, intended, failed, state, stat.version, out);
                }
            }
            (Pending::StateReread { .. }, Err(_)) => {}
            (Pending::StatesCreate { topic, states }, Ok(_)) => {
                let mut tps = Vec::new();
                for (p, state) in states {
                    let tp = TopicPartition::new(&topic, p);
                    self.state_written(&tp, state, 0, out);
                    tps.push(tp);
                }
                self.send_for(&tps, out);
            }
            // The multi may or may not have landed: send it again (NODEEXISTS then reads
            // what is there), or the partitions would stay without a state for good.
            (Pending::StatesCreate { topic, .. }, Err(e)) if e.code == ZkError::ConnectionLoss => {
                self.create_partition_states(&topic, out)
            }
            (Pending::StatesCreate { topic, states }, Err(e)) => {
                let intended = states
                    .into_iter()
                    .map(|(p, state)| (TopicPartition::new(&topic, p), state))
                    .collect();
                self.adopt_unless_fenced(&e, intended, out)
            }
            (Pending::IsrNotifications, Ok(ZkResult::Children { children })) => {
                let loaded = self.active.as_ref().is_some_and(|a| a.loaded);
                for c in children {
                    let path = format!("{}/{c}", znodes::ISR_CHANGE_NOTIFICATION_PATH);
                    if loaded {
                        self.zk(
                            ZkOp::GetData { path, watch: false },
                            Pending::IsrNotificationData(c),
                            out,
                        );
                    } else {
                        // Failover loads every state: stale notifications only need deleting.
                        self.delete_isr_notification(path, out);
                    }
                }
            }
            (Pending::IsrNotificationData(c), Ok(ZkResult::Data { data, .. })) => {
                if let Ok(n) = znodes::IsrChangeNotification::from_json(&data) {
                    let known: Vec<TopicPartition> = n
                        .partitions
                        .into_iter()
                        .map(|p| TopicPartition::new(&p.topic, p.partition))
                        .filter(|tp| self.partition_state(tp).is_some())
                        .collect();
                    for tp in known {
                        self.read_state(tp, Purpose::Refresh, out);
                    }
                }
                let path = format!("{}/{c}", znodes::ISR_CHANGE_NOTIFICATION_PATH);
                self.delete_isr_notification(path, out);
            }
            (Pending::IsrNotificationDelete, _) => {}
            // The create of /controller_epoch may or may not have landed: read it again.
            (Pending::EpochCreate, Err(f)) if f.code == ZkError::ConnectionLoss => self.zk(
                ZkOp::GetData {
                    path: znodes::CONTROLLER_EPOCH_PATH.into(),
                    watch: false,
                },
                Pending::EpochRead,
                out,
            ),
            // Reads never fail with CONNECTIONLOSS here (`step` re-sends them) nor with
            // SESSIONEXPIRED; other failures need nothing: the next watch recovers.
            _ => {}
        }
    }

    /// After our write of `intended` failed: resign if it failed the epoch check, else
    /// re-read the state znode to settle it ([`Controller::on_state_reread`]).
    fn reread_to_settle(
        &mut self,
        e: &ZkFailure,
        tp: TopicPartition,
        intended: PartitionState,
        failed: Failed,
        out: &mut Vec<Output>,
    ) {
        if self.lost_epoch(e, out) {
            return;
        }
        let path = znodes::partition_state_path(&tp.topic, tp.partition);
        self.zk(
            ZkOp::GetData { path, watch: false },
            Pending::StateReread {
                tp,
                intended,
                failed,
            },
            out,
        );
    }

    /// The state znode re-read after our write of `intended` failed with BADVERSION or an
    /// ambiguous CONNECTIONLOSS.
    ///
    /// Kafka's `KafkaZkClient.retryRequestsUntilConnected` re-sends a write that lost its
    /// connection; if the first try landed, the retry fails with BADVERSION and the
    /// partition goes back through the re-read loop (`updatesToRetry`). There a state that
    /// already holds the change counts as done: `ReplicaStateMachine.doRemoveReplicasFromIsr`
    /// files a partition whose re-read ISR no longer holds the replica under
    /// `leaderAndIsrsWithoutReplica`, caches it and sends LeaderAndIsr for it to the
    /// remaining replicas. So when the znode holds exactly `intended` (our write landed),
    /// it is cached and recorded as written and LeaderAndIsr goes out; without that the
    /// replicas never learn the new leader epoch and the leader's own ISR writes, CAS'd on
    /// the old zkVersion, fail forever (KAFKA-1382's symptom). Otherwise: abort if a newer
    /// controller wrote it, else decide again on what is there, with the same brokers
    /// failed as the first try.
    fn on_state_reread(
        &mut self,
        tp: TopicPartition,
        intended: PartitionState,
        failed: Failed,
        state: PartitionState,
        version: i32,
        out: &mut Vec<Output>,
    ) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        if state == intended {
            self.state_written(&tp, state, version, out);
            self.send_for(&[tp], out);
            return;
        }
        let newer_controller = state.controller_epoch > a.epoch;
        a.states.insert(tp.clone(), (state, version));
        if !newer_controller {
            self.decide(&tp, &failed, out);
        }
    }

    /// `checkControllerAndEpoch`, first half: `/controller` re-read (with a watch) after our
    /// election multi for `epoch` failed or lost its connection. Another broker (or none
    /// recorded in a parsable form) there: we are a bystander, as before. Our own id: the
    /// multi may have landed (a CONNECTIONLOSS whose server crashed after committing, or
    /// the NODEEXISTS of Kafka's re-sent multi), so `/controller_epoch` settles it
    /// ([`Controller::on_election_check_epoch`]). One extra read per failed election
    /// multi: the check is bounded and never re-sends the multi.
    fn on_election_check_controller(&mut self, epoch: i32, data: &str, out: &mut Vec<Output>) {
        self.active_controller_id = ControllerZnode::from_json(data)
            .map(|c| c.brokerid as i32)
            .unwrap_or(-1);
        if self.active_controller_id != self.broker as i32 {
            self.resign("another broker is controller", out);
            return;
        }
        self.zk(
            ZkOp::GetData {
                path: znodes::CONTROLLER_EPOCH_PATH.into(),
                watch: false,
            },
            Pending::ElectCheckEpoch { epoch },
            out,
        );
    }

    /// `checkControllerAndEpoch`, second half: `/controller` names us and
    /// `/controller_epoch` holds `data` at znode version `version`. If it holds `epoch`,
    /// the one our multi wrote, the multi landed: only an election bumps the epoch, and
    /// none can while our `/controller` exists, so `version` is the one our setData made
    /// (the expected version + 1) and we become controller of `epoch` fenced by it, as
    /// `KafkaZkClient.registerControllerAndIncrementControllerEpoch` returns
    /// `(newControllerEpoch, stat.getVersion)`. Before, such a broker re-read its own id and
    /// never became active: no controller until its session expired. Any other epoch (or
    /// unreadable text) is Kafka's ControllerMovedException: not controller; `/controller`
    /// names us (`activeControllerId` after `maybeResign`) and its watch tells us when that
    /// changes.
    fn on_election_check_epoch(
        &mut self,
        epoch: i32,
        data: &str,
        version: i32,
        out: &mut Vec<Output>,
    ) {
        let ours = znodes::controller_epoch_from_text(data) == Ok(epoch);
        if ours && self.active.is_none() {
            self.become_active(epoch, version, out);
        }
    }

    fn become_active(&mut self, epoch: i32, epoch_zk_version: i32, out: &mut Vec<Output>) {
        self.active_controller_id = self.broker as i32;
        self.active = Some(Active {
            epoch,
            epoch_zk_version,
            ..Active::default()
        });
        out.push(Output::Record(KafkaEvent::ControllerElected {
            broker: self.broker,
            epoch,
        }));
        self.zk(
            ZkOp::GetChildren {
                path: znodes::BROKER_IDS_PATH.into(),
                watch: true,
            },
            Pending::BrokerIds,
            out,
        );
        self.zk(
            ZkOp::GetChildren {
                path: znodes::BROKER_TOPICS_PATH.into(),
                watch: true,
            },
            Pending::Topics,
            out,
        );
        self.read_isr_notifications(out);
    }

    fn read_isr_notifications(&mut self, out: &mut Vec<Output>) {
        self.zk(
            ZkOp::GetChildren {
                path: znodes::ISR_CHANGE_NOTIFICATION_PATH.into(),
                watch: true,
            },
            Pending::IsrNotifications,
            out,
        );
    }

    fn delete_isr_notification(&mut self, path: String, out: &mut Vec<Output>) {
        self.zk(
            ZkOp::Delete {
                path,
                version: None,
            },
            Pending::IsrNotificationDelete,
            out,
        );
    }

    fn read_state(&mut self, tp: TopicPartition, purpose: Purpose, out: &mut Vec<Output>) {
        let path = znodes::partition_state_path(&tp.topic, tp.partition);
        self.zk(
            ZkOp::GetData { path, watch: false },
            Pending::StateRead(tp, purpose),
            out,
        );
    }

    /// Ends the failover load once no load read is outstanding; [`Controller::step`] asks
    /// after every ZooKeeper reply it handles. A counter of reads would
    /// go wrong the moment a watch re-reads `/brokers/ids` or `/brokers/topics` during the
    /// load: the load would end with partition states unread, and those partitions would
    /// never get the failover's LeaderAndIsr.
    fn finish_load_if_done(&mut self, out: &mut Vec<Output>) {
        if self.active.as_ref().is_none_or(|a| a.loaded)
            || self.pending.values().any(|(p, _)| p.is_load_read())
        {
            return;
        }
        if let Some(a) = self.active.as_mut() {
            a.loaded = true;
        }
        self.on_failover_loaded(out);
    }

    /// A change of `/brokers/ids`: brokers gone are dead; every registration is re-read
    /// (KIP-380's `getAllBrokerAndEpochsInCluster`), so new brokers start and bounced ones
    /// (a newer czxid) are handled when their data arrives.
    fn on_broker_ids(&mut self, children: Vec<String>, out: &mut Vec<Output>) {
        let Some(a) = self.active.as_ref() else {
            return;
        };
        let ids: BTreeSet<BrokerId> = children.iter().filter_map(|c| c.parse().ok()).collect();
        let dead: Vec<BrokerId> = a
            .live
            .keys()
            .copied()
            .filter(|b| !ids.contains(b))
            .collect();
        for id in ids {
            self.zk(
                ZkOp::GetData {
                    path: znodes::broker_id_path(id),
                    watch: false,
                },
                Pending::BrokerData(id),
                out,
            );
        }
        self.on_broker_deaths(&dead, out);
    }

    /// Forgets dead brokers and, once loaded, re-reads and decides every partition they
    /// hosted, led or were in the ISR of.
    fn on_broker_deaths(&mut self, dead: &[BrokerId], out: &mut Vec<Output>) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        if dead.is_empty() {
            return;
        }
        for d in dead {
            a.live.remove(d);
            out.push(Output::RemoveBroker(*d));
        }
        if !a.loaded {
            return;
        }
        let affected: Vec<TopicPartition> = a
            .states
            .iter()
            .filter(|(tp, (s, _))| {
                let assigned = a
                    .assignments
                    .get(&tp.topic)
                    .and_then(|m| m.get(&tp.partition));
                assigned.is_some_and(|r| r.iter().any(|b| dead.contains(b)))
                    || dead
                        .iter()
                        .any(|d| s.leader == *d as i32 || s.isr.contains(d))
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        let failed: Failed = dead.iter().copied().collect();
        for tp in affected {
            self.read_state(
                tp,
                Purpose::Decide {
                    failed: failed.clone(),
                },
                out,
            );
        }
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
            if parts
                .keys()
                .any(|p| !a.states.contains_key(&TopicPartition::new(t, *p)))
            {
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
            self.decide(&tp, &Failed::new(), out);
        }
        for t in create {
            self.create_partition_states(&t, out);
        }
    }

    /// KIP-380: a broker restarted between two reads of `/brokers/ids` (its czxid grew).
    /// As `KafkaController.onBrokerChange` does, it is failed while not live, deciding from
    /// the cached states at once (so leadership leaves its old incarnation and the leader
    /// epoch moves on), then started with its new broker epoch. It must never be told to
    /// lead an epoch its previous incarnation led: its log may have lost records since.
    fn on_broker_bounce(&mut self, id: BrokerId, broker_epoch: i64, out: &mut Vec<Output>) {
        let Some(a) = self.active.as_mut() else {
            return;
        };
        a.live.remove(&id);
        out.push(Output::RemoveBroker(id));
        let affected: Vec<TopicPartition> = a
            .states
            .iter()
            .filter(|(tp, (s, _))| {
                s.leader == id as i32 || s.isr.contains(&id) || Self::hosts(a, tp, id)
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        let failed = Failed::from([id]);
        for tp in &affected {
            self.decide(tp, &failed, out);
        }
        if let Some(a) = self.active.as_mut() {
            a.live.insert(id, broker_epoch);
        }
        self.on_broker_startup(id, out);
    }

    fn hosts(a: &Active, tp: &TopicPartition, id: BrokerId) -> bool {
        a.assignments
            .get(&tp.topic)
            .and_then(|m| m.get(&tp.partition))
            .is_some_and(|r| r.contains(&id))
    }

    /// True while a decision on `tp` is in flight: the re-read it starts from, its state
    /// write, or the re-read settling a failed write. Its completion sends LeaderAndIsr.
    fn write_pending(&self, tp: &TopicPartition) -> bool {
        self.pending.values().any(|(p, _)| {
            matches!(p, Pending::StateWrite { tp: t, .. }
                | Pending::StateReread { tp: t, .. }
                | Pending::StateRead(t, Purpose::Decide { .. } | Purpose::Adopt { .. })
                if t == tp)
        })
    }

    /// A broker (re)joined: metadata to everyone, and LeaderAndIsr for the partitions it
    /// hosts (except those with a decision in flight, which send their own), then elections
    /// for its leaderless partitions.
    fn on_broker_startup(&mut self, id: BrokerId, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("active");
        let hosted: Vec<TopicPartition> = a
            .states
            .keys()
            .filter(|tp| Self::hosts(a, tp, id) && !self.write_pending(tp))
            .cloned()
            .collect();
        let all: Vec<TopicPartition> = a.states.keys().cloned().collect();
        self.send_update_metadata(&all, out);
        self.send_leader_and_isr_to(id, &hosted, out);
        let leaderless: Vec<TopicPartition> = hosted
            .into_iter()
            .filter(|tp| {
                self.active
                    .as_ref()
                    .is_some_and(|a| a.states[tp].0.leader == -1)
            })
            .collect();
        for tp in leaderless {
            self.read_state(
                tp,
                Purpose::Decide {
                    failed: Failed::new(),
                },
                out,
            );
        }
        // Partitions created while none of their replicas was alive have no state yet
        // (NewPartition): initialize them now (Kafka's triggerOnlinePartitionStateChange).
        let a = self.active.as_ref().expect("active");
        let uninitialized: Vec<String> = a
            .assignments
            .iter()
            .filter(|(t, parts)| {
                parts
                    .keys()
                    .any(|p| !a.states.contains_key(&TopicPartition::new(t.as_str(), *p)))
            })
            .map(|(t, _)| t.clone())
            .filter(|t| !self.states_create_pending(t))
            .collect();
        for t in uninitialized {
            self.create_partition_states(&t, out);
        }
    }

    fn states_create_pending(&self, topic: &str) -> bool {
        self.pending
            .values()
            .any(|(p, _)| matches!(p, Pending::StatesCreate { topic: t, .. } if t == topic))
    }

    /// Decides on the cached (freshly read) state, with `failed` not live, and writes the
    /// change, fenced and CAS'd. No change to write: the failed brokers live again by now
    /// (re-registered while the decision was in flight, so their startup left this
    /// partition to it) are sent the state as it stands.
    fn decide(&mut self, tp: &TopicPartition, failed: &Failed, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("active");
        let Some(assignment) = a
            .assignments
            .get(&tp.topic)
            .and_then(|m| m.get(&tp.partition))
        else {
            return;
        };
        let (state, version) = a.states[tp].clone();
        let live: BTreeSet<BrokerId> = a
            .live
            .keys()
            .copied()
            .filter(|b| !failed.contains(b))
            .collect();
        let Some(next) = partition_change(&state, assignment, &live, a.epoch, self.cfg, self.bugs)
        else {
            let back: Vec<BrokerId> = failed
                .iter()
                .copied()
                .filter(|b| a.live.contains_key(b))
                .collect();
            for b in back {
                self.send_leader_and_isr_to(b, std::slice::from_ref(tp), out);
            }
            return;
        };
        let op = self.fenced(vec![MultiOp::SetData {
            path: znodes::partition_state_path(&tp.topic, tp.partition),
            data: next.to_json(),
            version: Some(version),
        }]);
        self.zk(
            op,
            Pending::StateWrite {
                tp: tp.clone(),
                state: next,
                failed: failed.clone(),
            },
            out,
        );
    }

    /// New partitions: leader = first live replica, ISR = live replicas, epoch 0, created in
    /// one fenced multi with their parents.
    fn create_partition_states(&mut self, topic: &str, out: &mut Vec<Output>) {
        let a = self.active.as_ref().expect("active");
        let Some(parts) = a.assignments.get(topic) else {
            return;
        };
        let mut ops = Vec::new();
        let mut states = Vec::new();
        let mut any_existing = false;
        for (p, replicas) in parts {
            if a.states.contains_key(&TopicPartition::new(topic, *p)) {
                any_existing = true;
                continue;
            }
            let isr: Vec<BrokerId> = replicas
                .iter()
                .copied()
                .filter(|r| a.live.contains_key(r))
                .collect();
            let Some(&leader) = isr.first() else { continue }; // stays NonExistent until a replica lives
            let state = PartitionState::new(leader as i32, 0, isr, a.epoch);
            ops.push(MultiOp::Create {
                path: znodes::partition_path(topic, *p),
                data: String::new(),
                mode: CreateMode::Persistent,
            });
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
            let parent = MultiOp::Create {
                path: znodes::topic_partitions_path(topic),
                data: String::new(),
                mode: CreateMode::Persistent,
            };
            ops.insert(0, parent);
        }
        let op = self.fenced(ops);
        self.zk(
            op,
            Pending::StatesCreate {
                topic: topic.to_string(),
                states,
            },
            out,
        );
    }

    fn state_written(
        &mut self,
        tp: &TopicPartition,
        state: PartitionState,
        version: i32,
        out: &mut Vec<Output>,
    ) {
        out.push(Output::Record(KafkaEvent::PartitionStateWritten {
            topic: tp.topic.clone(),
            partition: tp.partition,
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            isr: state.isr.clone(),
            controller_epoch: state.controller_epoch,
            by: self.broker,
        }));
        // Kafka's onBrokerChange runs onBrokerStartup (and its
        // triggerOnlinePartitionStateChange) right after onBrokerFailure: a partition the
        // failure left without a leader while an ISR member is live again (it bounced while
        // the decision was in flight) is elected again.
        let offline_with_live_isr = state.leader == -1
            && self
                .active
                .as_ref()
                .is_some_and(|a| state.isr.iter().any(|b| a.live.contains_key(b)));
        if let Some(a) = self.active.as_mut() {
            a.states.insert(tp.clone(), (state, version));
        }
        if offline_with_live_isr && !self.write_pending(tp) {
            self.read_state(
                tp.clone(),
                Purpose::Decide {
                    failed: Failed::new(),
                },
                out,
            );
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
        let live: Vec<BrokerId> = self
            .active
            .as_ref()
            .map(|a| a.live.keys().copied().collect())
            .unwrap_or_default();
        for b in live {
            self.send_leader_and_isr_to(b, tps, out);
        }
    }

    fn send_leader_and_isr_to(
        &mut self,
        to: BrokerId,
        tps: &[TopicPartition],
        out: &mut Vec<Output>,
    ) {
        let Some(a) = self.active.as_ref() else {
            return;
        };
        let Some(&broker_epoch) = a.live.get(&to) else {
            return;
        };
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
            msg: Message::LeaderAndIsr(LeaderAndIsr {
                controller_id: self.broker,
                controller_epoch: a.epoch,
                broker_epoch,
                partitions,
            }),
        });
    }

    fn send_update_metadata(&mut self, tps: &[TopicPartition], out: &mut Vec<Output>) {
        let Some(a) = self.active.as_ref() else {
            return;
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::zkops::Stat;

    /// A tiny in-memory ZooKeeper for driving the controller: versions, czxids, atomic multi.
    #[derive(Clone, Default)]
    struct FakeZk {
        nodes: BTreeMap<String, (String, i32, i64)>,
        zxid: i64,
    }

    impl FakeZk {
        /// Broker 3 won `/controller` and moved `/controller_epoch` to 5 (while the
        /// controller under test was frozen).
        fn newer_controller_took_over(&mut self) {
            self.apply(&MultiOp::SetData {
                path: "/controller_epoch".into(),
                data: "5".into(),
                version: None,
            })
            .expect("set");
            self.nodes.insert(
                "/controller".into(),
                (
                    r#"{"version":1,"brokerid":3,"timestamp":"9"}"#.into(),
                    0,
                    99,
                ),
            );
        }

        fn put(&mut self, path: &str, data: &str) {
            self.zxid += 1;
            self.nodes.insert(path.into(), (data.into(), 0, self.zxid));
        }
        fn stat(&self, path: &str) -> Option<Stat> {
            self.nodes.get(path).map(|(_, v, c)| Stat {
                version: *v,
                czxid: *c,
                ephemeral_owner: 0,
            })
        }
        fn apply(&mut self, op: &MultiOp) -> Result<ZkResult, ZkError> {
            match op {
                MultiOp::Check { path, version } => match self.stat(path) {
                    None => Err(ZkError::NoNode),
                    Some(s) if s.version != *version => Err(ZkError::BadVersion),
                    Some(_) => Ok(ZkResult::Done),
                },
                MultiOp::Create { path, data, .. } => {
                    if self.nodes.contains_key(path) {
                        return Err(ZkError::NodeExists);
                    }
                    self.put(path, data);
                    Ok(ZkResult::Created { path: path.clone() })
                }
                MultiOp::SetData {
                    path,
                    data,
                    version,
                } => {
                    let zxid = self.zxid + 1;
                    let n = self.nodes.get_mut(path).ok_or(ZkError::NoNode)?;
                    if version.is_some_and(|v| v != n.1) {
                        return Err(ZkError::BadVersion);
                    }
                    self.zxid = zxid;
                    n.0 = data.clone();
                    n.1 += 1;
                    Ok(ZkResult::SetData {
                        stat: Stat {
                            version: n.1,
                            czxid: n.2,
                            ephemeral_owner: 0,
                        },
                    })
                }
                MultiOp::Delete { path, .. } => self
                    .nodes
                    .remove(path)
                    .map(|_| ZkResult::Done)
                    .ok_or(ZkError::NoNode),
            }
        }
        fn run(&mut self, op: &ZkOp) -> Result<ZkResult, ZkFailure> {
            let plain = |r: Result<ZkResult, ZkError>| r.map_err(ZkFailure::plain);
            match op {
                ZkOp::Create { path, data, mode } => plain(self.apply(&MultiOp::Create {
                    path: path.clone(),
                    data: data.clone(),
                    mode: *mode,
                })),
                ZkOp::SetData {
                    path,
                    data,
                    version,
                } => plain(self.apply(&MultiOp::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: *version,
                })),
                ZkOp::Delete { path, version } => plain(self.apply(&MultiOp::Delete {
                    path: path.clone(),
                    version: *version,
                })),
                ZkOp::GetData { path, .. } => match self.nodes.get(path) {
                    Some((d, v, c)) => Ok(ZkResult::Data {
                        data: d.clone(),
                        stat: Stat {
                            version: *v,
                            czxid: *c,
                            ephemeral_owner: 0,
                        },
                    }),
                    None => Err(ZkFailure::plain(ZkError::NoNode)),
                },
                ZkOp::Exists { path, .. } => Ok(ZkResult::Exists {
                    stat: self.stat(path),
                }),
                ZkOp::GetChildren { path, .. } => {
                    let prefix = format!("{path}/");
                    let children = self
                        .nodes
                        .keys()
                        .filter_map(|k| k.strip_prefix(&prefix))
                        .filter(|rest| !rest.contains('/'))
                        .map(String::from)
                        .collect();
                    Ok(ZkResult::Children { children })
                }
                ZkOp::Multi(ops) => {
                    let saved = self.clone();
                    let mut results = Vec::new();
                    for (i, op) in ops.iter().enumerate() {
                        match self.apply(op) {
                            Ok(r) => results.push(r),
                            Err(e) => {
                                *self = saved;
                                return Err(ZkFailure::in_multi(e, i));
                            }
                        }
                    }
                    Ok(ZkResult::Multi { results })
                }
            }
        }
    }

    fn cfg() -> ControllerConfig {
        ControllerConfig {
            unclean_leader_election_enable: false,
            wall_clock_start_ms: crate::cluster::DEFAULT_WALL_CLOCK_START_MS,
        }
    }

    /// Runs `input`, answering every ZK request from `zk` until none is left; returns the
    /// non-ZK outputs and every ZK op issued, in order.
    fn drive(c: &mut Controller, zk: &mut FakeZk, input: Input) -> (Vec<Output>, Vec<ZkOp>) {
        let mut queue = std::collections::VecDeque::from([input]);
        let (mut outs, mut ops) = (Vec::new(), Vec::new());
        while let Some(i) = queue.pop_front() {
            for o in c.step(SimTime::from_millis(1000), i) {
                match o {
                    Output::Zk(req) => {
                        let result = zk.run(&req.op);
                        ops.push(req.op);
                        queue.push_back(Input::ZkReply(ZkReply { id: req.id, result }));
                    }
                    other => outs.push(other),
                }
            }
        }
        (outs, ops)
    }

    /// Drives `c` from `input` against `zk` until it settles, losing the reply to the first
    /// request `hits` matches: `lose` decides what that request did to ZooKeeper (applied,
    /// not, or something else) and the controller gets CONNECTIONLOSS. Returns the
    /// non-ZooKeeper outputs and how many requests `hits` matched; panics if the controller
    /// does not settle within a hundred inputs. Also returns every request sent after the
    /// lost one.
    fn drive_losing_one_reply(
        c: &mut Controller,
        zk: &mut FakeZk,
        input: Input,
        hits: impl Fn(&ZkOp) -> bool,
        mut lose: impl FnMut(&mut FakeZk, &ZkOp),
    ) -> (Vec<Output>, usize, Vec<ZkOp>) {
        let mut queue = std::collections::VecDeque::from([input]);
        let (mut outs, mut hit, mut ops_after) = (Vec::new(), 0, Vec::new());
        // Bounded: one event and its retries are a few dozen requests.
        const MAX_INPUTS: usize = 100;
        for _ in 0..MAX_INPUTS {
            let Some(i) = queue.pop_front() else { break };
            for o in c.step(SimTime::from_millis(1000), i) {
                let Output::Zk(req) = o else {
                    outs.push(o);
                    continue;
                };
                let first = hits(&req.op) && {
                    hit += 1;
                    hit == 1
                };
                let result = if first {
                    lose(zk, &req.op);
                    Err(ZkFailure::plain(ZkError::ConnectionLoss))
                } else {
                    if hit > 0 {
                        ops_after.push(req.op.clone());
                    }
                    zk.run(&req.op)
                };
                queue.push_back(Input::ZkReply(ZkReply { id: req.id, result }));
            }
        }
        assert!(queue.is_empty(), "did not settle");
        (outs, hit, ops_after)
    }

    /// Broker 2, elected controller of `cluster()`, with or without epoch fencing.
    fn started_controller(no_fencing: bool) -> (Controller, FakeZk) {
        let mut zk = cluster();
        let bugs = ControllerBugs {
            no_epoch_fencing: no_fencing,
            ..ControllerBugs::default()
        };
        let mut c = Controller::new(2, cfg(), bugs);
        drive(&mut c, &mut zk, Input::Start);
        (c, zk)
    }

    fn cluster() -> FakeZk {
        let mut zk = FakeZk::default();
        zk.put("/controller_epoch", "3");
        for b in [1, 2, 3] {
            zk.put(
                &znodes::broker_id_path(b),
                &znodes::BrokerRegistration::plaintext("h", 9092, 0).to_json(),
            );
        }
        zk.put(
            "/brokers/topics/t",
            r#"{"version":1,"partitions":{"0":[1,2,3]}}"#,
        );
        zk.put("/brokers/topics/t/partitions", "");
        zk.put("/brokers/topics/t/partitions/0", "");
        zk.put(
            "/brokers/topics/t/partitions/0/state",
            &PartitionState::new(1, 4, vec![1, 2, 3], 3).to_json(),
        );
        zk
    }

    fn sends(outs: &[Output]) -> Vec<(BrokerId, &'static str)> {
        outs.iter()
            .filter_map(|o| {
                if let Output::Send { to, msg } = o {
                    Some((*to, msg.api_name()))
                } else {
                    None
                }
            })
            .collect()
    }

    /// AdminTest.testReplicaAssignment (5 brokers, 10 partitions, RF 3, fixed start 0).
    #[test]
    fn assign_replicas_like_admin_utils() {
        let got = assign_replicas(&[4, 3, 2, 1, 0], 10, 3, 0, 0).expect("valid");
        let want: [&[BrokerId]; 10] = [
            &[0, 1, 2],
            &[1, 2, 3],
            &[2, 3, 4],
            &[3, 4, 0],
            &[4, 0, 1],
            &[0, 2, 3],
            &[1, 3, 4],
            &[2, 4, 0],
            &[3, 0, 1],
            &[4, 1, 2],
        ];
        for (p, w) in want.iter().enumerate() {
            assert_eq!(got[&(p as u32)], w.to_vec(), "partition {p}");
        }
        assert!(assign_replicas(&[1, 2], 1, 3, 0, 0)
            .expect_err("rf > brokers")
            .contains("larger than available brokers 2"));
    }

    #[test]
    fn offline_election_table() {
        let live = |v: &[BrokerId]| v.iter().copied().collect::<BTreeSet<_>>();
        // (assignment, isr, live, unclean, elect_outside_isr) -> result
        type Case<'a> = (
            &'a [BrokerId],
            &'a [BrokerId],
            &'a [BrokerId],
            bool,
            bool,
            Option<(BrokerId, Vec<BrokerId>)>,
        );
        let table: Vec<Case> = vec![
            (
                &[1, 2, 3],
                &[1, 2, 3],
                &[2, 3],
                false,
                false,
                Some((2, vec![2, 3])),
            ),
            (
                &[1, 2, 3],
                &[3, 2],
                &[2, 3],
                false,
                false,
                Some((2, vec![3, 2])),
            ), // assignment order wins
            (&[1, 2, 3], &[1], &[2, 3], false, false, None), // clean: no leader
            (&[1, 2, 3], &[1], &[2, 3], true, false, Some((2, vec![2]))), // unclean: first live
            (
                &[1, 2, 3],
                &[1, 3],
                &[2, 3],
                false,
                false,
                Some((3, vec![3])),
            ),
            (
                &[1, 2, 3],
                &[1, 3],
                &[2, 3],
                false,
                true,
                Some((2, vec![2])),
            ), // bug: outside the ISR
            (&[1, 2, 3], &[1], &[], true, false, None),
        ];
        for (assignment, isr, l, unclean, bug, want) in table {
            assert_eq!(
                offline_election(assignment, isr, &live(l), unclean, bug),
                want,
                "{assignment:?} {isr:?} {l:?} {unclean} {bug}"
            );
        }
    }

    #[test]
    fn partition_change_on_broker_death() {
        let live = |v: &[BrokerId]| v.iter().copied().collect::<BTreeSet<_>>();
        let s = |leader: i32, epoch: i32, isr: &[BrokerId]| {
            PartitionState::new(leader, epoch, isr.to_vec(), 7)
        };
        let table = [
            // leader dies: election from the ISR, epoch + 1
            (s(1, 4, &[1, 2, 3]), &[2, 3][..], Some(s(2, 5, &[2, 3]))),
            // follower dies: leaves the ISR, epoch + 1
            (s(1, 4, &[1, 2, 3]), &[1, 2], Some(s(1, 5, &[1, 2]))),
            // follower outside the ISR dies: nothing
            (s(1, 4, &[1, 2]), &[1, 2], None),
            // the last ISR member dies: no leader, ISR kept (KAFKA-5083)
            (s(1, 4, &[1]), &[2, 3], Some(s(-1, 5, &[1]))),
            // all ISR members die at once: the largest id is kept
            (s(1, 4, &[1, 2]), &[3], Some(s(-1, 5, &[2]))),
            // already leaderless with that ISR: no churn
            (s(-1, 5, &[1]), &[2, 3], None),
            // leaderless; the ISR member comes back: elected
            (s(-1, 5, &[1]), &[1, 2, 3], Some(s(1, 6, &[1]))),
        ];
        for (state, l, want) in table {
            assert_eq!(
                partition_change(
                    &state,
                    &[1, 2, 3],
                    &live(l),
                    7,
                    cfg(),
                    ControllerBugs::default()
                ),
                want,
                "{state:?} live {l:?}"
            );
        }
    }

    #[test]
    fn election_is_one_multi_and_loses_to_node_exists() {
        let mut c = Controller::new(2, cfg(), ControllerBugs::default());
        let out = c.step(SimTime::from_millis(5), Input::Start);
        assert_eq!(
            out,
            vec![Output::Zk(ZkRequest {
                id: 1,
                op: ZkOp::Exists {
                    path: "/controller".into(),
                    watch: true
                }
            })]
        );
        let out = c.step(
            SimTime::from_millis(5),
            Input::ZkReply(ZkReply {
                id: 1,
                result: Ok(ZkResult::Exists { stat: None }),
            }),
        );
        assert_eq!(
            out,
            vec![Output::Zk(ZkRequest {
                id: 2,
                op: ZkOp::GetData {
                    path: "/controller_epoch".into(),
                    watch: false
                }
            })]
        );
        let stat = Stat {
            version: 3,
            czxid: 1,
            ephemeral_owner: 0,
        };
        let out = c.step(
            SimTime::from_millis(5),
            Input::ZkReply(ZkReply {
                id: 2,
                result: Ok(ZkResult::Data {
                    data: "3".into(),
                    stat,
                }),
            }),
        );
        let want = ZkOp::Multi(vec![
            MultiOp::Create {
                path: "/controller".into(),
                // 2026-01-01T00:00:00Z (the default wall clock start) + 5 ms.
                data: r#"{"version":1,"brokerid":2,"timestamp":"1767225600005"}"#.into(),
                mode: CreateMode::Ephemeral,
            },
            MultiOp::SetData {
                path: "/controller_epoch".into(),
                data: "4".into(),
                version: Some(3),
            },
        ]);
        assert_eq!(out, vec![Output::Zk(ZkRequest { id: 3, op: want })]);
        let lost = Input::ZkReply(ZkReply {
            id: 3,
            result: Err(ZkFailure::in_multi(ZkError::NodeExists, 0)),
        });
        let out = c.step(SimTime::from_millis(5), lost);
        assert_eq!(
            out,
            vec![Output::Zk(ZkRequest {
                id: 4,
                op: ZkOp::GetData {
                    path: "/controller".into(),
                    watch: true
                }
            })]
        );
        let other = ZkResult::Data {
            data: r#"{"version":1,"brokerid":1,"timestamp":"4"}"#.into(),
            stat,
        };
        assert_eq!(
            c.step(
                SimTime::from_millis(5),
                Input::ZkReply(ZkReply {
                    id: 4,
                    result: Ok(other)
                })
            ),
            vec![]
        );
        assert!(!c.is_active());
        assert_eq!(c.active_controller_id(), 1);
    }

    /// A `/brokers/ids` watch fires while the failover load is still reading (a broker
    /// registered meanwhile): its re-read joins the load instead of ending it early. Issue
    /// 21 seed 2167: the load ended before a partition state was read, the controller then
    /// tried to create that state, found it there, and never sent its LeaderAndIsr: the
    /// partition stayed offline for good. Every partition state must be loaded, and its
    /// LeaderAndIsr sent to every replica, whatever order the replies come in.
    #[test]
    fn watch_during_the_failover_load_does_not_end_it_early() {
        let mut zk = cluster();
        let mut c = Controller::new(2, cfg(), ControllerBugs::default());
        let mut queue: std::collections::VecDeque<ZkRequest> = std::collections::VecDeque::new();
        let mut outs = Vec::new();
        let mut ops = Vec::new();
        let mut watched = false;
        let mut input = Some(Input::Start);
        // Bounded: the load is a handful of reads.
        for _ in 0..200 {
            let Some(i) = input.take() else { break };
            for o in c.step(SimTime::from_millis(1000), i) {
                match o {
                    Output::Zk(req) => queue.push_back(req),
                    other => outs.push(other),
                }
            }
            if c.is_active() && !watched {
                watched = true;
                input = Some(Input::ZkWatch(ZkWatchEvent {
                    path: "/brokers/ids".into(),
                    kind: WatchKind::ChildrenChanged,
                }));
                continue;
            }
            input = queue.pop_front().map(|req| {
                let result = zk.run(&req.op);
                ops.push(req.op);
                Input::ZkReply(ZkReply { id: req.id, result })
            });
        }
        assert!(watched && queue.is_empty(), "the run settles");
        assert!(
            !ops.iter()
                .any(|op| matches!(op, ZkOp::Multi(m) if m.iter().any(
                    |o| matches!(o, MultiOp::Create { path, .. } if path.ends_with("/state"))
                ))),
            "no create of a state the load had not read yet: {ops:?}"
        );
        let lai: Vec<BrokerId> = sends(&outs)
            .into_iter()
            .filter(|(_, api)| *api == "LeaderAndIsr")
            .map(|(to, _)| to)
            .collect();
        assert_eq!(lai, vec![1, 2, 3], "the loaded state goes to every replica");
    }

    /// Failover sends UpdateMetadata to every live broker before any LeaderAndIsr
    /// (KAFKA-4443); a broker death then elects from the ISR with a fenced CAS write and
    /// sends LeaderAndIsr before UpdateMetadata.
    #[test]
    fn failover_then_broker_death() {
        let mut zk = cluster();
        let mut c = Controller::new(2, cfg(), ControllerBugs::default());
        let (outs, _) = drive(&mut c, &mut zk, Input::Start);
        assert_eq!(
            outs[0],
            Output::Record(KafkaEvent::ControllerElected {
                broker: 2,
                epoch: 4
            })
        );
        assert_eq!(zk.nodes["/controller_epoch"].0, "4");
        let s = sends(&outs);
        assert_eq!(
            &s[..3],
            &[
                (1, "UpdateMetadata"),
                (2, "UpdateMetadata"),
                (3, "UpdateMetadata")
            ]
        );
        assert_eq!(
            &s[3..],
            &[
                (1, "LeaderAndIsr"),
                (2, "LeaderAndIsr"),
                (3, "LeaderAndIsr")
            ]
        );

        zk.nodes.remove("/brokers/ids/1");
        let watch = ZkWatchEvent {
            path: "/brokers/ids".into(),
            kind: WatchKind::ChildrenChanged,
        };
        let (outs, ops) = drive(&mut c, &mut zk, Input::ZkWatch(watch));
        let written = PartitionState::new(2, 5, vec![2, 3], 4);
        assert!(ops.contains(&ZkOp::Multi(vec![
            MultiOp::Check {
                path: "/controller_epoch".into(),
                version: 1
            },
            MultiOp::SetData {
                path: "/brokers/topics/t/partitions/0/state".into(),
                data: written.to_json(),
                version: Some(0)
            },
        ])));
        assert_eq!(
            PartitionState::from_json(&zk.nodes["/brokers/topics/t/partitions/0/state"].0),
            Ok(written)
        );
        assert_eq!(
            sends(&outs),
            vec![
                (2, "LeaderAndIsr"),
                (3, "LeaderAndIsr"),
                (2, "UpdateMetadata"),
                (3, "UpdateMetadata")
            ]
        );
        let lai = outs.iter().find_map(|o| match o {
            Output::Send {
                to: 2,
                msg: Message::LeaderAndIsr(r),
            } => Some(r.clone()),
            _ => None,
        });
        let lai = lai.expect("LeaderAndIsr to 2");
        assert_eq!(
            (
                lai.controller_epoch,
                lai.broker_epoch,
                lai.partitions[0].zk_version
            ),
            (4, zk.nodes["/brokers/ids/2"].2, 1)
        );
    }

    /// Seed 1836: the controller's state write loses its connection (the ZooKeeper server
    /// crashed before answering). Whether or not it landed, the re-read settles it: a
    /// znode holding exactly our state counts as written (recorded, LeaderAndIsr sent, as
    /// Kafka's retry loop does after the BADVERSION its re-sent write gets); a znode still
    /// holding the old state is decided and written again. Before, a landed write was
    /// re-read, found needing no change, and never announced: the leader kept the old
    /// epoch and zkVersion, so its ISR CAS failed forever and a restarted follower fetching
    /// in the new epoch was refused forever.
    #[test]
    fn ambiguous_state_write_is_settled_by_the_reread() {
        let state_path = "/brokers/topics/t/partitions/0/state";
        let written = PartitionState::new(2, 5, vec![2, 3], 4);
        for landed in [true, false] {
            let (mut c, mut zk) = started_controller(false);
            zk.nodes.remove("/brokers/ids/1");
            let watch = ZkWatchEvent {
                path: "/brokers/ids".into(),
                kind: WatchKind::ChildrenChanged,
            };
            let writes_state = |op: &ZkOp| {
                matches!(op, ZkOp::Multi(ops)
                    if ops.iter().any(|m| matches!(m, MultiOp::SetData { path, .. }
                        if path == state_path)))
            };
            let (outs, state_writes, _) = drive_losing_one_reply(
                &mut c,
                &mut zk,
                Input::ZkWatch(watch),
                writes_state,
                |zk, op| {
                    if landed {
                        zk.run(op).expect("the write lands");
                    }
                },
            );
            assert_eq!(
                PartitionState::from_json(&zk.nodes[state_path].0),
                Ok(written.clone()),
                "landed={landed}"
            );
            assert_eq!(zk.nodes[state_path].1, 1, "landed={landed}: written once");
            assert_eq!(
                state_writes,
                if landed { 1 } else { 2 },
                "landed={landed}: a landed write is not sent again"
            );
            assert!(
                outs.contains(&Output::Record(KafkaEvent::PartitionStateWritten {
                    topic: "t".into(),
                    partition: 0,
                    leader: 2,
                    leader_epoch: 5,
                    isr: vec![2, 3],
                    controller_epoch: 4,
                    by: 2,
                })),
                "landed={landed}: {outs:?}"
            );
            assert_eq!(
                sends(&outs),
                vec![
                    (2, "LeaderAndIsr"),
                    (3, "LeaderAndIsr"),
                    (2, "UpdateMetadata"),
                    (3, "UpdateMetadata")
                ],
                "landed={landed}"
            );
            let versions: Vec<i32> = outs
                .iter()
                .filter_map(|o| match o {
                    Output::Send {
                        msg: Message::LeaderAndIsr(r),
                        ..
                    } => Some(r.partitions[0].zk_version),
                    _ => None,
                })
                .collect();
            assert_eq!(versions, vec![1, 1], "landed={landed}: the new zkVersion");
        }
    }

    /// Drives broker 2's election on `zk`, answering its first election multi with
    /// CONNECTIONLOSS (after applying it if `landed`, as a ZooKeeper server that crashed
    /// after committing would), then `meanwhile` changes `zk` before anything else is
    /// answered. Returns the non-ZK outputs and every ZK op issued after the lost multi.
    fn election_multi_lost(
        zk: &mut FakeZk,
        landed: bool,
        meanwhile: impl FnOnce(&mut FakeZk),
    ) -> (Controller, Vec<Output>, Vec<ZkOp>) {
        let mut c = Controller::new(2, cfg(), ControllerBugs::default());
        let elect_multi = |op: &ZkOp| {
            matches!(op, ZkOp::Multi(ops)
                if matches!(ops.first(), Some(MultiOp::Create { path, .. })
                    if path == "/controller"))
        };
        let mut meanwhile = Some(meanwhile);
        let (outs, multis, ops_after) =
            drive_losing_one_reply(&mut c, zk, Input::Start, elect_multi, |zk, op| {
                if landed {
                    zk.run(op).expect("the election multi lands");
                }
                if let Some(change) = meanwhile.take() {
                    change(zk);
                }
            });
        assert!(multis > 0, "no election multi was sent");
        (c, outs, ops_after)
    }

    /// The election multi (create `/controller`, `/controller_epoch` 3 -> 4 at version 0)
    /// lands but its answer is lost (CONNECTIONLOSS: the ZooKeeper server crashed after
    /// committing). The check re-reads `/controller` (our id) and `/controller_epoch` (the
    /// 4 we wrote, at version 1 = expected + 1): we are controller of epoch 4, fenced by
    /// version 1, and fail over. Before, the re-read found our own id and the broker stayed
    /// a bystander: no active controller until its session expired.
    #[test]
    fn election_multi_lost_but_landed_becomes_controller() {
        let mut zk = cluster();
        let (c, outs, ops) = election_multi_lost(&mut zk, true, |_| {});
        assert_eq!(
            ops[..2],
            [
                ZkOp::GetData {
                    path: "/controller".into(),
                    watch: true
                },
                ZkOp::GetData {
                    path: "/controller_epoch".into(),
                    watch: false
                },
            ]
        );
        assert!(c.is_active());
        assert_eq!(c.epoch(), Some(4));
        assert_eq!(c.active_controller_id(), 2);
        assert_eq!(c.active.as_ref().map(|a| a.epoch_zk_version), Some(1));
        assert_eq!(zk.nodes["/controller_epoch"].0, "4");
        assert_eq!(zk.nodes["/controller_epoch"].1, 1, "written once");
        assert_eq!(
            outs[0],
            Output::Record(KafkaEvent::ControllerElected {
                broker: 2,
                epoch: 4
            })
        );
        assert_eq!(
            sends(&outs)[..3],
            [
                (1, "UpdateMetadata"),
                (2, "UpdateMetadata"),
                (3, "UpdateMetadata")
            ],
            "the failover ran"
        );
        // The fencing token is the version our multi made: a later write passes its check.
        let (mut c, mut zk) = (c, zk);
        zk.nodes.remove("/brokers/ids/1");
        let watch = ZkWatchEvent {
            path: "/brokers/ids".into(),
            kind: WatchKind::ChildrenChanged,
        };
        drive(&mut c, &mut zk, Input::ZkWatch(watch));
        assert_eq!(
            PartitionState::from_json(&zk.nodes["/brokers/topics/t/partitions/0/state"].0),
            Ok(PartitionState::new(2, 5, vec![2, 3], 4))
        );
    }

    /// The mirrors of `election_multi_lost_but_landed_becomes_controller`: the check finds
    /// (a) our id but an epoch we did not write (5, bumped past our 4), or (b) another
    /// broker's id (broker 3 won epoch 4; our multi never landed). Either way we are not
    /// controller (`checkControllerAndEpoch`'s ControllerMovedException) and record whose
    /// id `/controller` holds. (c) Nothing landed and `/controller` is free: we elect again
    /// and win epoch 4.
    #[test]
    fn election_multi_lost_check_refuses_what_we_did_not_write() {
        let mut zk = cluster();
        let (c, outs, ops) = election_multi_lost(&mut zk, true, |zk| {
            zk.apply(&MultiOp::SetData {
                path: "/controller_epoch".into(),
                data: "5".into(),
                version: None,
            })
            .expect("set");
        });
        assert!(!c.is_active(), "our id, epoch 5: not ours");
        assert_eq!(c.active_controller_id(), 2);
        assert_eq!(outs, vec![]);
        assert_eq!(ops.len(), 2, "the check's two reads, nothing more: {ops:?}");

        let mut zk = cluster();
        let (c, outs, ops) = election_multi_lost(&mut zk, false, |zk| {
            zk.put(
                "/controller",
                r#"{"version":1,"brokerid":3,"timestamp":"9"}"#,
            );
            zk.apply(&MultiOp::SetData {
                path: "/controller_epoch".into(),
                data: "4".into(),
                version: Some(0),
            })
            .expect("set");
        });
        assert!(!c.is_active(), "broker 3 holds /controller");
        assert_eq!(c.active_controller_id(), 3);
        assert_eq!(outs, vec![]);
        assert_eq!(ops.len(), 1, "/controller only: {ops:?}");

        let mut zk = cluster();
        let (c, outs, _) = election_multi_lost(&mut zk, false, |_| {});
        assert!(c.is_active(), "nothing landed: elected on the second try");
        assert_eq!(c.epoch(), Some(4));
        assert_eq!(c.active.as_ref().map(|a| a.epoch_zk_version), Some(1));
        assert_eq!(
            outs[0],
            Output::Record(KafkaEvent::ControllerElected {
                broker: 2,
                epoch: 4
            })
        );
    }

    /// KAFKA-6082: once another controller bumped /controller_epoch, our fenced write fails
    /// its check and we resign; without fencing the stale write lands.
    #[test]
    fn zombie_controller_is_fenced() {
        for no_fencing in [false, true] {
            let (mut c, mut zk) = started_controller(no_fencing);
            // A newer controller (epoch 5) takes over while we are paused.
            zk.newer_controller_took_over();
            zk.nodes.remove("/brokers/ids/1");
            let watch = ZkWatchEvent {
                path: "/brokers/ids".into(),
                kind: WatchKind::ChildrenChanged,
            };
            let (outs, _) = drive(&mut c, &mut zk, Input::ZkWatch(watch));
            let state =
                PartitionState::from_json(&zk.nodes["/brokers/topics/t/partitions/0/state"].0)
                    .expect("state");
            if no_fencing {
                assert_eq!(state.controller_epoch, 4, "stale controller's write landed");
            } else {
                assert_eq!(
                    state,
                    PartitionState::new(1, 4, vec![1, 2, 3], 3),
                    "untouched"
                );
                assert!(
                    outs.contains(&Output::Record(KafkaEvent::ControllerResigned {
                        broker: 2,
                        epoch: 4,
                        reason: "controller epoch check failed".into()
                    }))
                );
                assert!(sends(&outs).is_empty());
                assert!(!c.is_active());
            }
        }
    }

    /// A started controller whose cached state of t/0 is a version behind: broker 1, its
    /// leader, wrote `state` itself (an ISR change whose notification never went out), then
    /// bounced (a new registration). Returns what the controller did on the resulting
    /// `/brokers/ids` change, the ZooKeeper requests it made, and ZooKeeper after.
    fn bounce_broker_1_after_it_wrote(state: PartitionState) -> (Vec<Output>, Vec<ZkOp>, FakeZk) {
        let (mut c, mut zk) = started_controller(false);
        zk.apply(&MultiOp::SetData {
            path: "/brokers/topics/t/partitions/0/state".into(),
            data: state.to_json(),
            version: None,
        })
        .expect("the leader's own ISR write");
        zk.nodes.remove("/brokers/ids/1");
        zk.put(
            "/brokers/ids/1",
            &znodes::BrokerRegistration::plaintext("h", 9092, 9).to_json(),
        );
        let watch = ZkWatchEvent {
            path: "/brokers/ids".into(),
            kind: WatchKind::ChildrenChanged,
        };
        let (outs, ops) = drive(&mut c, &mut zk, Input::ZkWatch(watch));
        (outs, ops, zk)
    }

    /// Seed 1247 of issue 21: broker 1, leader of t/0 at leader epoch 4, wrote an ISR change
    /// itself and lost power before its notification went out, so our cached state is a
    /// version behind; it then bounces. The election's write fails with BADVERSION and is
    /// retried on the re-read state, which must still treat broker 1's old incarnation as
    /// failed (Kafka retries inside `onBrokerFailure`, before `onBrokerStartup` adds it back).
    /// Before, the retry saw broker 1 live and leading, changed nothing, and nobody ever
    /// told the restarted broker to lead: its partition stayed offline.
    #[test]
    fn bounced_leader_is_replaced_even_when_the_cached_state_is_stale() {
        let state_path = "/brokers/topics/t/partitions/0/state";
        let (outs, ops, zk) =
            bounce_broker_1_after_it_wrote(PartitionState::new(1, 4, vec![1, 2, 3], 3));
        assert!(
            ops.iter()
                .any(|op| matches!(op, ZkOp::GetData { path, .. } if path == state_path)),
            "the failed write is settled by a re-read: {ops:?}"
        );
        let state = PartitionState::from_json(&zk.nodes[state_path].0).expect("state");
        assert_eq!(state, PartitionState::new(2, 5, vec![2, 3], 4));
        let told_broker_1: Vec<(i32, i32)> = outs
            .iter()
            .filter_map(|o| match o {
                Output::Send {
                    to: 1,
                    msg: Message::LeaderAndIsr(r),
                } => Some(r.partitions.iter().map(|p| (p.leader, p.leader_epoch))),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            told_broker_1,
            vec![(2, 5)],
            "broker 1 follows the new epoch"
        );
    }

    /// Random `kafka-zombie-controller-bounce` seed 1443: broker 1, the only ISR member and
    /// leader of t/0, bounces. Its failure leaves the partition without a leader (unclean
    /// election is off), but Kafka's onBrokerStartup follows in the same event and elects
    /// it again at the next epoch. Before, the offline state was written and nobody
    /// decided again: the partition stayed offline for good.
    #[test]
    fn a_bounced_sole_isr_member_is_elected_again() {
        let state_path = "/brokers/topics/t/partitions/0/state";
        let (outs, _, zk) = bounce_broker_1_after_it_wrote(PartitionState::new(1, 4, vec![1], 3));
        let state = PartitionState::from_json(&zk.nodes[state_path].0).expect("state");
        assert_eq!(state.leader, 1, "{state:?}");
        assert_eq!(state.isr, vec![1]);
        let written: Vec<(i32, i32)> = outs
            .iter()
            .filter_map(|o| match o {
                Output::Record(KafkaEvent::PartitionStateWritten {
                    leader,
                    leader_epoch,
                    ..
                }) => Some((*leader, *leader_epoch)),
                _ => None,
            })
            .collect();
        assert_eq!(
            written,
            vec![(-1, 5), (1, 6)],
            "offline, then elected again"
        );
    }

    /// Issue 21 seed 1730: the controller's create of a new topic's partition states lands
    /// but its reply is lost; the re-sent create fails NODEEXISTS and the adopting re-read
    /// finds exactly the states we meant. They are ours, so they are recorded as written
    /// (else no history shows the ISR the replicas were told, and after the heal the
    /// partitions look like they have no ISR at all); the replicas get LeaderAndIsr once.
    /// A state some other controller created is adopted without being recorded as ours.
    #[test]
    fn own_partition_state_create_whose_reply_was_lost_is_recorded_when_adopted() {
        let state_path = "/brokers/topics/t/partitions/0/state";
        let ours = PartitionState::new(1, 0, vec![1, 2, 3], 4);
        let earlier = PartitionState::new(3, 0, vec![3, 1, 2], 2);
        for earlier_controller_created_it in [false, true] {
            let mut zk = cluster();
            for path in [
                state_path,
                "/brokers/topics/t/partitions/0",
                "/brokers/topics/t/partitions",
            ] {
                zk.nodes.remove(path);
            }
            let mut c = Controller::new(2, cfg(), ControllerBugs::default());
            let creates_state = |op: &ZkOp| {
                matches!(op, ZkOp::Multi(ops)
                    if ops.iter().any(|m| matches!(m, MultiOp::Create { path, .. }
                        if path == state_path)))
            };
            let (outs, creates, _) =
                drive_losing_one_reply(&mut c, &mut zk, Input::Start, creates_state, |zk, op| {
                    if earlier_controller_created_it {
                        zk.put("/brokers/topics/t/partitions", "");
                        zk.put("/brokers/topics/t/partitions/0", "");
                        zk.put(state_path, &earlier.to_json());
                    } else {
                        zk.run(op).expect("the create lands");
                    }
                });
            let case = format!("earlier controller created it: {earlier_controller_created_it}");
            assert_eq!(creates, 2, "{case}: the lost create is sent again");
            let recorded: Vec<&KafkaEvent> = outs
                .iter()
                .filter_map(|o| match o {
                    Output::Record(e @ KafkaEvent::PartitionStateWritten { .. }) => Some(e),
                    _ => None,
                })
                .collect();
            let want_recorded = if earlier_controller_created_it {
                vec![]
            } else {
                vec![KafkaEvent::PartitionStateWritten {
                    topic: "t".into(),
                    partition: 0,
                    leader: ours.leader,
                    leader_epoch: ours.leader_epoch,
                    isr: ours.isr.clone(),
                    controller_epoch: ours.controller_epoch,
                    by: 2,
                }]
            };
            assert_eq!(recorded, want_recorded.iter().collect::<Vec<_>>(), "{case}");
            let told: Vec<(BrokerId, i32)> = outs
                .iter()
                .filter_map(|o| match o {
                    Output::Send {
                        to,
                        msg: Message::LeaderAndIsr(r),
                    } => Some(
                        r.partitions
                            .iter()
                            .map(|p| (*to, p.leader))
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                })
                .flatten()
                .collect();
            let leader = if earlier_controller_created_it {
                earlier.leader
            } else {
                ours.leader
            };
            assert_eq!(told, vec![(1, leader), (2, leader), (3, leader)], "{case}");
        }
    }

    /// KAFKA-6082 as it happened: the controller is paused with a BrokerChange in progress;
    /// meanwhile broker 1 bounces (a newer czxid), our session expires and broker 3 becomes
    /// controller with epoch 5. On resume the old session answers SESSIONEXPIRED; the host
    /// opens a new session and the event's request is re-sent on it; the re-read shows the
    /// bounce and the zombie elects a new leader for broker 1's partition from epoch 4.
    /// Fenced, that write fails the epoch check and the zombie resigns; unfenced, it lands.
    /// Either way the broker's re-registration (Start) waits for the resignation.
    #[test]
    fn zombie_finishes_its_event_on_the_new_session() {
        let t = SimTime::from_millis(1000);
        for no_fencing in [false, true] {
            let (mut c, mut zk) = started_controller(no_fencing);
            let watch = ZkWatchEvent {
                path: "/brokers/ids".into(),
                kind: WatchKind::ChildrenChanged,
            };
            let get_children = ZkOp::GetChildren {
                path: "/brokers/ids".into(),
                watch: true,
            };
            let out = c.step(t, Input::ZkWatch(watch.clone()));
            let [Output::Zk(first)] = &out[..] else {
                panic!("BrokerChange starts with one read: {out:?}")
            };
            assert_eq!(first.op, get_children);

            // While we are frozen: broker 1 restarts and re-registers, our session expires,
            // broker 3 wins /controller and bumps the epoch to 5.
            zk.nodes.remove("/brokers/ids/1");
            zk.put(
                "/brokers/ids/1",
                &znodes::BrokerRegistration::plaintext("h", 9092, 9).to_json(),
            );
            zk.newer_controller_took_over();

            let expired = Input::ZkReply(ZkReply {
                id: first.id,
                result: Err(ZkFailure::plain(ZkError::SessionExpired)),
            });
            assert_eq!(
                c.step(t, expired),
                vec![],
                "SESSIONEXPIRED is not an answer"
            );
            let out = c.step(t, Input::SessionExpired);
            let [Output::Zk(resent)] = &out[..] else {
                panic!("the event's request is re-sent: {out:?}")
            };
            assert_eq!(resent.op, get_children);
            assert_ne!(resent.id, first.id);
            assert!(c.is_active(), "resigns only once the event is done");
            assert_eq!(
                c.step(t, Input::ZkWatch(watch)),
                vec![],
                "queued events dropped"
            );
            assert_eq!(c.step(t, Input::Start), vec![], "re-election waits");

            let answer = Input::ZkReply(ZkReply {
                id: resent.id,
                result: zk.run(&resent.op),
            });
            let (outs, ops) = drive(&mut c, &mut zk, answer);
            let state =
                PartitionState::from_json(&zk.nodes["/brokers/topics/t/partitions/0/state"].0)
                    .expect("state");
            let resigned = |reason: &str| {
                Output::Record(KafkaEvent::ControllerResigned {
                    broker: 2,
                    epoch: 4,
                    reason: reason.into(),
                })
            };
            if no_fencing {
                assert_eq!(
                    state,
                    PartitionState::new(2, 5, vec![2, 3], 4),
                    "zombie write"
                );
                let written = outs.iter().position(|o| {
                    matches!(
                        o,
                        Output::Record(KafkaEvent::PartitionStateWritten {
                            controller_epoch: 4,
                            ..
                        })
                    )
                });
                let gone = outs.iter().position(|o| *o == resigned("session expired"));
                assert!(written < gone && written.is_some(), "{outs:?}");
            } else {
                assert_eq!(
                    state,
                    PartitionState::new(1, 4, vec![1, 2, 3], 3),
                    "untouched"
                );
                assert!(outs.contains(&resigned("controller epoch check failed")));
                assert!(!outs.contains(&resigned("session expired")));
            }
            assert!(!c.is_active());
            // The held Start ran after the resignation: broker 3 is seen as controller.
            assert!(ops.contains(&ZkOp::Exists {
                path: "/controller".into(),
                watch: true
            }));
            assert_eq!(c.active_controller_id(), 3);
        }
    }

    #[test]
    fn new_topic_gets_states_in_one_fenced_multi() {
        let mut zk = cluster();
        let mut c = Controller::new(2, cfg(), ControllerBugs::default());
        drive(&mut c, &mut zk, Input::Start);
        let assignment = assign_replicas(&[1, 2, 3], 2, 2, 1, 0).expect("valid");
        zk.put(
            "/brokers/topics/u",
            &TopicAssignment::new(assignment).to_json(),
        );
        let watch = ZkWatchEvent {
            path: "/brokers/topics".into(),
            kind: WatchKind::ChildrenChanged,
        };
        let (outs, ops) = drive(&mut c, &mut zk, Input::ZkWatch(watch));
        assert!(
            matches!(ops.last(), Some(ZkOp::Multi(m)) if matches!(&m[0], MultiOp::Check { .. }) && m.len() == 6)
        );
        assert_eq!(
            PartitionState::from_json(&zk.nodes["/brokers/topics/u/partitions/1/state"].0),
            Ok(PartitionState::new(3, 0, vec![3, 1], 4))
        );
        assert!(sends(&outs).contains(&(3, "LeaderAndIsr")));
    }

    #[test]
    fn broker_side_checks() {
        let mut f = BrokerFencing::new(2, 100);
        let p = |epoch: i32, replicas: Vec<BrokerId>| LeaderAndIsrPartition {
            topic: "t".into(),
            partition: 0,
            leader: 1,
            leader_epoch: epoch,
            isr: vec![1, 2],
            zk_version: 0,
            replicas,
            controller_epoch: 4,
            is_new: false,
        };
        let req = |ce: i32, be: i64, parts| LeaderAndIsr {
            controller_id: 1,
            controller_epoch: ce,
            broker_epoch: be,
            partitions: parts,
        };
        let cur = |_: &TopicPartition| Some(5);
        assert_eq!(
            f.filter_leader_and_isr(&req(4, 99, vec![]), cur),
            Err(KafkaError::StaleBrokerEpoch)
        );
        let ok = f
            .filter_leader_and_isr(
                &req(
                    4,
                    100,
                    vec![p(6, vec![1, 2]), p(5, vec![1, 2]), p(7, vec![1, 3])],
                ),
                cur,
            )
            .expect("fresh");
        assert_eq!(ok.apply, vec![p(6, vec![1, 2])]);
        assert_eq!(ok.ignored.len(), 2);
        assert_eq!(
            f.filter_leader_and_isr(&req(3, 100, vec![]), cur),
            Err(KafkaError::StaleControllerEpoch)
        );
        assert_eq!(
            f.filter_leader_and_isr(&req(4, -1, vec![]), cur)
                .map(|x| x.apply.len()),
            Ok(0),
            "unknown broker epoch accepted"
        );
        let um = UpdateMetadata {
            controller_id: 1,
            controller_epoch: 3,
            broker_epoch: 100,
            live_brokers: vec![],
            partitions: vec![],
        };
        assert_eq!(
            f.check_update_metadata(&um),
            Err(KafkaError::StaleControllerEpoch)
        );
        let sr = StopReplica {
            controller_id: 1,
            controller_epoch: 5,
            broker_epoch: 100,
            delete_partitions: false,
            partitions: vec![
                StopReplicaPartition {
                    topic: "t".into(),
                    partition: 0,
                    leader_epoch: 5,
                },
                StopReplicaPartition {
                    topic: "t".into(),
                    partition: 0,
                    leader_epoch: 6,
                },
                StopReplicaPartition {
                    topic: "t".into(),
                    partition: 0,
                    leader_epoch: -2,
                },
            ],
        };
        let got: Vec<_> = f
            .filter_stop_replica(&sr, cur)
            .expect("fresh")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(
            got,
            vec![Err(KafkaError::FencedLeaderEpoch), Ok(()), Ok(())]
        );
        assert_eq!(f.highest_controller_epoch, 5);
    }
}
