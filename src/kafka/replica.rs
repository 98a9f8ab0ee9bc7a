//! One broker's replica of one partition, as a sans-IO state machine.
//!
//! Leader side: appends produce requests, serves follower fetches (parking empty ones for
//! `replica.fetch.wait.max.ms`), keeps HW = min LEO over the ISR, acknowledges acks=all
//! once the HW passes the record, shrinks the ISR after `replica.lag.time.max.ms` without
//! catching up and expands it when a follower reaches both the HW and the start of the
//! current epoch (KAFKA-7128). ISR changes leave as [`IsrUpdate`] outputs (Kafka < 2.7: the
//! leader CASes the state znode itself) and take effect only when the host reports success.
//!
//! Follower side: on becoming a follower, truncate by the leader-epoch protocol (KIP-101,
//! KIP-279, fenced by the current epoch per KIP-320) or, with the legacy bug flag, to the
//! local HW; then fetch in a loop, one request in flight.
//!
//! The host must deliver the [`LeaderAndIsrPartition`]s that passed the broker-side checks
//! (`controller::BrokerFencing`), route messages, run timers, and run ISR updates on ZK.

use super::config::BrokerConfig;
use super::partition_log::PartitionLog;
use super::wire::{
    Acks, BrokerId, Fetch, FetchData, FetchResponse, KafkaError, LeaderAndIsrPartition, Message,
    OffsetsForLeaderEpoch, OffsetsForLeaderEpochResponse, Produce, ProduceResponse, TopicPartition,
};
use super::zkops::ZkError;
use super::znodes::PartitionState;
use crate::history::KafkaEvent;
use kzsim_sim::SimTime;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Historical replication bugs, re-injectable one `if` each. All false = Kafka 2.x fixed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KafkaBugs {
    /// Advance the HW to the leader's LEO on append, before any follower has the record
    /// (the acknowledged-but-unreplicated write of Jepsen 2013 / KAFKA-1028 era).
    pub hw_before_all_isr: bool,
    /// On becoming a follower, truncate to the local HW instead of asking the leader by
    /// epoch (before KIP-101, 0.11).
    pub truncate_to_hw: bool,
    /// KAFKA-6361 (before KIP-279, 2.0): the leader answers OffsetsForLeaderEpoch with the
    /// start of the first epoch after the requested one and no epoch of its own, so a
    /// follower whose latest epoch the leader never had keeps records the leader replaced.
    #[serde(default)]
    pub end_offset_without_epoch: bool,
    // Test-only mutations: each breaks one mechanism a `kafka.queue` rule rests on, so a
    // test can show the rule firing on a real run (tests/kafka_consumers.rs). None is a
    // historical bug, so none is in `bugs::FLAGS` (no `--bug` name); only tests set them.
    /// Test-only: the leader appends every produced record twice, acknowledging the first
    /// copy (`kafka.queue.duplicate`: one attempt, two offsets).
    #[serde(default)]
    pub test_leader_appends_twice: bool,
    /// Test-only: a consumer fetch is served from the offset after the one asked for
    /// (`kafka.queue.poll-skip`).
    #[serde(default)]
    pub test_client_fetch_from_next: bool,
    /// Test-only: a consumer fetch is served from the offset before the one asked for
    /// (`kafka.queue.nonmonotonic-poll`).
    #[serde(default)]
    pub test_client_fetch_from_previous: bool,
    /// Test-only: consumers are served only records of earlier leader epochs; what the
    /// leader appended in its own epoch stays hidden from them (`kafka.queue.unseen`).
    #[serde(default)]
    pub test_client_fetch_hides_current_epoch: bool,
    /// Test-only: a group member keeps committing the positions of partitions it released
    /// in a rebalance, as a stale offset map does (the failure akka/reactive-kafka #118 and
    /// #141 reported), overwriting the new owner's progress
    /// (`kafka.queue.committed-offset-regression`).
    #[serde(default)]
    pub test_consumer_commits_released: bool,
}

/// The settings a replica uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `replica.lag.time.max.ms`; the shrink check runs every half of it.
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms` (500): how long the leader parks an empty fetch.
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.fetch.backoff.ms` (1000): follower pause after a fetch error.
    pub replica_fetch_backoff_ms: u64,
    /// Records per fetch response at most.
    pub fetch_max_records: usize,
    /// `log.flush.interval.messages`.
    pub log_flush_interval_messages: u64,
}

impl ReplicaConfig {
    /// The replica settings of a broker config, with Kafka's defaults for the rest.
    pub fn from_broker(cfg: &BrokerConfig) -> ReplicaConfig {
        ReplicaConfig {
            min_insync_replicas: cfg.min_insync_replicas,
            replica_lag_time_max_ms: cfg.replica_lag_time_max_ms,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_backoff_ms: 1000,
            fetch_max_records: 100,
            log_flush_interval_messages: cfg.log_flush_interval_messages,
        }
    }
}

/// Timers a replica asks the host for. A timer that fires late or for a past state is a
/// no-op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Leader: run the ISR shrink check (every `replica.lag.time.max.ms / 2`).
    IsrShrinkCheck,
    /// Leader: answer `follower`'s parked fetch number `park` even if still empty (a
    /// fetch answered earlier by new data leaves its timer behind; it must not cut the
    /// next fetch's wait short).
    FetchWait { follower: BrokerId, park: u64 },
    /// Follower: retry after an error, within `leader_epoch` only.
    FetchBackoff { leader_epoch: i32 },
    /// Leader: fail this acks=all produce with REQUEST_TIMED_OUT if still pending.
    ProduceTimeout { correlation_id: u64 },
}

/// The leader asks the host to CAS the partition state znode:
/// setData(`partition_state_path`, `state.to_json()`, version `zk_version`), then create an
/// `isr_change_notification`. The host reports [`Input::IsrUpdateResult`] with the new
/// znode version. On BADVERSION the host should do what Kafka's
/// `ReplicationUtils.checkLeaderAndIsrZkData` does: re-read, and report success with the
/// read version if the znode already holds exactly this state (an ambiguous earlier try).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrUpdate {
    /// Echoed in the result.
    pub id: u64,
    /// Partition.
    pub tp: TopicPartition,
    /// The new state (same leader and epoch, new ISR).
    pub state: PartitionState,
    /// The expected znode version (the leader's cached zkVersion).
    pub zk_version: i32,
}

/// What a replica reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A LeaderAndIsr entry for this partition that passed the broker-side checks.
    LeaderAndIsr(LeaderAndIsrPartition),
    /// StopReplica for this partition (passed the checks): stop leading or following.
    StopReplica,
    /// A client's produce.
    Produce(Produce),
    /// A message from another broker about this partition.
    Message { from: BrokerId, msg: Message },
    /// The result of an [`IsrUpdate`]: the new znode version or the ZooKeeper error.
    IsrUpdateResult {
        id: u64,
        result: Result<i32, ZkError>,
    },
    /// A timer fired.
    Timeout(Timer),
}

/// What a replica asks its host to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send a message to another broker.
    Send { to: BrokerId, msg: Message },
    /// Answer a client's produce.
    ProduceResponse(ProduceResponse),
    /// Write the partition state to ZooKeeper.
    IsrUpdate(IsrUpdate),
    /// Fire `timer` at `at`.
    SetTimer { timer: Timer, at: SimTime },
    /// The leader's ISR write landed: the ISR now has `isr_size` replicas. The broker
    /// announces the change to the controller (`ReplicaManager.recordIsrChange`).
    IsrChanged { isr_size: usize },
    /// Record a protocol event.
    Record(KafkaEvent),
}

#[derive(Clone, Debug)]
struct FollowerProgress {
    /// The follower's LEO as of its last fetch; `None` until it fetches in this epoch.
    leo: Option<i64>,
    last_caught_up: SimTime,
    last_fetch: SimTime,
    last_fetch_leader_leo: i64,
}

#[derive(Clone, Debug)]
struct PendingAck {
    offset: i64,
}

#[derive(Clone, Debug)]
struct LeaderState {
    leader_epoch: i32,
    controller_epoch: i32,
    isr: BTreeSet<BrokerId>,
    zk_version: i32,
    epoch_start_offset: i64,
    followers: BTreeMap<BrokerId, FollowerProgress>,
    pending_acks: BTreeMap<u64, PendingAck>,
    isr_update_in_flight: Option<(u64, BTreeSet<BrokerId>)>,
    /// Empty fetches waiting for data, each with its park number.
    parked_fetches: BTreeMap<BrokerId, (u64, Fetch)>,
    next_park: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FollowerPhase {
    Truncating,
    Fetching,
}

#[derive(Clone, Debug)]
struct FollowerState {
    leader: Option<BrokerId>,
    leader_epoch: i32,
    phase: FollowerPhase,
}

#[derive(Clone, Debug)]
enum Role {
    Offline,
    Leader(Box<LeaderState>),
    Follower(FollowerState),
}

/// One broker's replica of one partition.
#[derive(Clone, Debug)]
pub struct Replica {
    broker: BrokerId,
    tp: TopicPartition,
    cfg: ReplicaConfig,
    bugs: KafkaBugs,
    log: PartitionLog,
    role: Role,
    leader_epoch: Option<i32>,
    next_isr_update_id: u64,
    shrink_timer_armed: bool,
}

impl Replica {
    /// A replica with an empty log, neither leading nor following until LeaderAndIsr.
    pub fn new(
        broker: BrokerId,
        tp: TopicPartition,
        cfg: ReplicaConfig,
        bugs: KafkaBugs,
    ) -> Replica {
        let log = PartitionLog::new(cfg.log_flush_interval_messages);
        Replica::with_log(broker, tp, cfg, bugs, log)
    }

    /// A replica over an existing log (after a restart), offline until LeaderAndIsr.
    pub fn with_log(
        broker: BrokerId,
        tp: TopicPartition,
        cfg: ReplicaConfig,
        bugs: KafkaBugs,
        log: PartitionLog,
    ) -> Replica {
        Replica {
            broker,
            tp,
            cfg,
            bugs,
            log,
            role: Role::Offline,
            leader_epoch: None,
            next_isr_update_id: 1,
            shrink_timer_armed: false,
        }
    }

    /// The log.
    pub fn log(&self) -> &PartitionLog {
        &self.log
    }

    /// Mutable log access for the host's flush timer and disk mirroring only.
    pub fn log_mut(&mut self) -> &mut PartitionLog {
        &mut self.log
    }

    /// True while leading.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// A consumer's fetch of up to `max` records from `offset`: the leader serves its log
    /// contiguously from `offset`, below the high watermark only (consumers never see
    /// uncommitted records); any other role answers NOT_LEADER_FOR_PARTITION.
    pub fn client_fetch(&self, offset: i64, max: usize) -> Result<Vec<(i64, String)>, KafkaError> {
        if !self.is_leader() {
            return Err(KafkaError::NotLeaderForPartition);
        }
        let visible_end = self.log.hw();
        let hidden_epoch = self
            .leader_epoch
            .filter(|_| self.bugs.test_client_fetch_hides_current_epoch);
        let from = if self.bugs.test_client_fetch_from_next {
            offset + 1
        } else if self.bugs.test_client_fetch_from_previous {
            (offset - 1).max(0)
        } else {
            offset
        };
        Ok(self
            .log
            .read(from, max)
            .into_iter()
            .filter(|rec| rec.offset < visible_end && Some(rec.leader_epoch) != hidden_epoch)
            .map(|rec| (rec.offset, rec.value))
            .collect())
    }

    /// The last applied leader epoch.
    pub fn leader_epoch(&self) -> Option<i32> {
        self.leader_epoch
    }

    /// The ISR this leader believes in (empty when not leading).
    pub fn isr(&self) -> Vec<BrokerId> {
        match &self.role {
            Role::Leader(l) => l.isr.iter().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// End-of-run snapshot event of this log.
    pub fn log_event(&self) -> KafkaEvent {
        KafkaEvent::ReplicaLog {
            broker: self.broker,
            topic: self.tp.topic.clone(),
            partition: self.tp.partition,
            hw: self.log.hw(),
            records: self
                .log
                .records()
                .iter()
                .map(|r| (r.offset, r.leader_epoch, r.value.clone()))
                .collect(),
        }
    }

    /// Feeds one input; returns what to do, in order.
    pub fn step(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::LeaderAndIsr(p) => self.on_leader_and_isr(now, p, &mut out),
            Input::StopReplica => {
                self.leave_leadership(&mut out);
                self.role = Role::Offline;
            }
            Input::Produce(p) => self.on_produce(now, p, &mut out),
            Input::Message { from, msg } => match msg {
                Message::Fetch(f) => self.on_fetch(now, from, f, &mut out),
                Message::FetchResponse(r) => self.on_fetch_response(now, from, r, &mut out),
                Message::OffsetsForLeaderEpoch(r) => {
                    self.on_offsets_for_leader_epoch(from, r, &mut out)
                }
                Message::OffsetsForLeaderEpochResponse(r) => {
                    self.on_offsets_response(now, from, r, &mut out)
                }
                other => panic!(
                    "replica {} got a controller message {}",
                    self.tp,
                    other.api_name()
                ),
            },
            Input::IsrUpdateResult { id, result } => {
                self.on_isr_update_result(id, result, &mut out)
            }
            Input::Timeout(t) => self.on_timeout(now, t, &mut out),
        }
        out
    }

    fn record(&self, out: &mut Vec<Output>, e: KafkaEvent) {
        out.push(Output::Record(e));
    }

    fn on_leader_and_isr(&mut self, now: SimTime, p: LeaderAndIsrPartition, out: &mut Vec<Output>) {
        assert_eq!(p.tp(), self.tp, "LeaderAndIsr routed to the wrong replica");
        if let Some(e) = self.leader_epoch {
            // The broker-side check already drops these; a replica restarted in between has
            // no epoch, so this only guards against a host mistake.
            assert!(
                p.leader_epoch > e,
                "{}: LeaderAndIsr epoch {} not newer than {e}",
                self.tp,
                p.leader_epoch
            );
        }
        self.leader_epoch = Some(p.leader_epoch);
        self.record(
            out,
            KafkaEvent::LeaderAndIsrApplied {
                broker: self.broker,
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                isr: p.isr.clone(),
            },
        );
        if p.leader == self.broker as i32 {
            self.become_leader(now, p, out);
        } else {
            self.become_follower(now, p, out);
        }
    }

    fn become_leader(&mut self, now: SimTime, p: LeaderAndIsrPartition, out: &mut Vec<Output>) {
        let pending_acks = match std::mem::replace(&mut self.role, Role::Offline) {
            Role::Leader(mut old) => {
                self.fail_parked_fetches(&mut old, KafkaError::FencedLeaderEpoch, out);
                old.pending_acks
            }
            _ => BTreeMap::new(),
        };
        let leo = self.log.leo();
        self.log.assign_epoch_start(p.leader_epoch, leo);
        let isr: BTreeSet<BrokerId> = p.isr.iter().copied().collect();
        // Kafka resets follower state: ISR members count as caught up now, so they are not
        // shrunk before they have had lag time to fetch in the new epoch.
        let followers = p
            .replicas
            .iter()
            .filter(|&&r| r != self.broker)
            .map(|&r| {
                let caught_up = if isr.contains(&r) { now } else { SimTime::ZERO };
                (
                    r,
                    FollowerProgress {
                        leo: None,
                        last_caught_up: caught_up,
                        last_fetch: SimTime::ZERO,
                        last_fetch_leader_leo: 0,
                    },
                )
            })
            .collect();
        self.role = Role::Leader(Box::new(LeaderState {
            leader_epoch: p.leader_epoch,
            controller_epoch: p.controller_epoch,
            isr,
            zk_version: p.zk_version,
            epoch_start_offset: leo,
            followers,
            pending_acks,
            isr_update_in_flight: None,
            parked_fetches: BTreeMap::new(),
            next_park: 0,
        }));
        if !self.shrink_timer_armed {
            self.shrink_timer_armed = true;
            out.push(Output::SetTimer {
                timer: Timer::IsrShrinkCheck,
                at: now.plus(self.shrink_interval()),
            });
        }
        self.maybe_increment_hw(out);
    }

    fn shrink_interval(&self) -> Duration {
        Duration::from_millis(self.cfg.replica_lag_time_max_ms / 2)
    }

    /// Fails pending acks and parked fetches when leadership ends.
    fn leave_leadership(&mut self, out: &mut Vec<Output>) {
        if let Role::Leader(mut l) = std::mem::replace(&mut self.role, Role::Offline) {
            for (correlation_id, _) in std::mem::take(&mut l.pending_acks) {
                out.push(Output::ProduceResponse(ProduceResponse {
                    correlation_id,
                    tp: self.tp.clone(),
                    result: Err(KafkaError::NotLeaderForPartition),
                }));
            }
            self.fail_parked_fetches(&mut l, KafkaError::NotLeaderForPartition, out);
        }
    }

    fn fail_parked_fetches(&self, l: &mut LeaderState, err: KafkaError, out: &mut Vec<Output>) {
        for (to, (_, f)) in std::mem::take(&mut l.parked_fetches) {
            out.push(Output::Send {
                to,
                msg: Message::FetchResponse(FetchResponse {
                    tp: self.tp.clone(),
                    current_leader_epoch: f.current_leader_epoch,
                    fetch_offset: f.fetch_offset,
                    result: Err(err),
                }),
            });
        }
    }

    fn become_follower(&mut self, now: SimTime, p: LeaderAndIsrPartition, out: &mut Vec<Output>) {
        self.leave_leadership(out);
        let leader = (p.leader >= 0).then_some(p.leader as BrokerId);
        self.role = Role::Follower(FollowerState {
            leader_epoch: p.leader_epoch,
            leader,
            phase: FollowerPhase::Truncating,
        });
        if leader.is_none() {
            return;
        }
        if self.bugs.truncate_to_hw {
            self.truncate(self.log.hw(), "truncate_to_hw", out);
            self.set_phase(FollowerPhase::Fetching);
        }
        self.send_next_request(now, out);
    }

    fn set_phase(&mut self, phase: FollowerPhase) {
        if let Role::Follower(f) = &mut self.role {
            f.phase = phase;
        }
    }

    fn truncate(&mut self, to: i64, reason: &str, out: &mut Vec<Output>) {
        if self.log.truncate_to(to) {
            self.record(
                out,
                KafkaEvent::LogTruncated {
                    broker: self.broker,
                    topic: self.tp.topic.clone(),
                    partition: self.tp.partition,
                    to_offset: to,
                    reason: reason.to_string(),
                },
            );
        }
    }

    /// Follower: the next request of the loop for the current phase.
    fn send_next_request(&mut self, _now: SimTime, out: &mut Vec<Output>) {
        let Role::Follower(f) = &self.role else {
            return;
        };
        let Some(leader) = f.leader else { return };
        let epoch = f.leader_epoch;
        if f.phase == FollowerPhase::Truncating {
            match self.log.latest_epoch() {
                Some(latest) => {
                    out.push(Output::Send {
                        to: leader,
                        msg: Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpoch {
                            replica_id: self.broker,
                            tp: self.tp.clone(),
                            current_leader_epoch: epoch,
                            leader_epoch: latest,
                        }),
                    });
                    return;
                }
                None => {
                    // No epoch information at all (empty log or pre-0.11 data): Kafka falls
                    // back to the HW.
                    self.truncate(self.log.hw(), "no_leader_epoch", out);
                    self.set_phase(FollowerPhase::Fetching);
                }
            }
        }
        out.push(Output::Send {
            to: leader,
            msg: Message::Fetch(Fetch {
                replica_id: self.broker,
                tp: self.tp.clone(),
                fetch_offset: self.log.leo(),
                current_leader_epoch: epoch,
            }),
        });
    }

    /// The follower's state if `from` is its leader and `epoch` its epoch.
    fn current_follower(&self, from: BrokerId, epoch: i32) -> Option<FollowerPhase> {
        match &self.role {
            Role::Follower(f) if f.leader == Some(from) && f.leader_epoch == epoch => Some(f.phase),
            _ => None,
        }
    }

    fn backoff(&self, now: SimTime, epoch: i32, out: &mut Vec<Output>) {
        out.push(Output::SetTimer {
            timer: Timer::FetchBackoff {
                leader_epoch: epoch,
            },
            at: now.plus(Duration::from_millis(self.cfg.replica_fetch_backoff_ms)),
        });
    }

    fn on_offsets_response(
        &mut self,
        now: SimTime,
        from: BrokerId,
        r: OffsetsForLeaderEpochResponse,
        out: &mut Vec<Output>,
    ) {
        if self.current_follower(from, r.current_leader_epoch) != Some(FollowerPhase::Truncating) {
            return; // stale: an older epoch's loop, or already fetching
        }
        match r.result {
            Err(_) => self.backoff(now, r.current_leader_epoch, out),
            Ok(answer) => {
                let step = self.log.truncation_for(answer);
                self.truncate(step.truncate_to, "leader_epoch", out);
                if step.complete {
                    self.set_phase(FollowerPhase::Fetching);
                }
                self.send_next_request(now, out);
            }
        }
    }

    fn on_fetch_response(
        &mut self,
        now: SimTime,
        from: BrokerId,
        r: FetchResponse,
        out: &mut Vec<Output>,
    ) {
        if self.current_follower(from, r.current_leader_epoch) != Some(FollowerPhase::Fetching)
            || r.fetch_offset != self.log.leo()
        {
            return; // stale
        }
        match r.result {
            Err(KafkaError::OffsetOutOfRange) => {
                self.set_phase(FollowerPhase::Truncating);
                self.backoff(now, r.current_leader_epoch, out);
            }
            Err(_) => self.backoff(now, r.current_leader_epoch, out),
            Ok(data) => {
                self.log.append_as_follower(&data.records);
                if self.log.update_follower_hw(data.high_watermark) {
                    self.record_hw(out);
                }
                self.send_next_request(now, out);
            }
        }
    }

    fn record_hw(&self, out: &mut Vec<Output>) {
        self.record(
            out,
            KafkaEvent::HighWatermark {
                broker: self.broker,
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                hw: self.log.hw(),
            },
        );
    }

    /// KIP-320: a request's epoch must equal the leader's.
    fn check_epoch(&self, requested: i32) -> Result<(), KafkaError> {
        let Role::Leader(l) = &self.role else {
            return Err(KafkaError::NotLeaderForPartition);
        };
        match requested.cmp(&l.leader_epoch) {
            std::cmp::Ordering::Less => Err(KafkaError::FencedLeaderEpoch),
            std::cmp::Ordering::Greater => Err(KafkaError::UnknownLeaderEpoch),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    fn on_offsets_for_leader_epoch(
        &mut self,
        from: BrokerId,
        r: OffsetsForLeaderEpoch,
        out: &mut Vec<Output>,
    ) {
        let result = self.check_epoch(r.current_leader_epoch).map(|()| {
            if self.bugs.end_offset_without_epoch {
                self.log.end_offset_for_epoch_v0(r.leader_epoch)
            } else {
                self.log.end_offset_for_epoch(r.leader_epoch)
            }
        });
        out.push(Output::Send {
            to: from,
            msg: Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                tp: self.tp.clone(),
                current_leader_epoch: r.current_leader_epoch,
                result,
            }),
        });
    }

    fn on_produce(&mut self, now: SimTime, p: Produce, out: &mut Vec<Output>) {
        let respond = |out: &mut Vec<Output>, result| {
            if p.acks != Acks::Zero {
                out.push(Output::ProduceResponse(ProduceResponse {
                    correlation_id: p.correlation_id,
                    tp: p.tp.clone(),
                    result,
                }));
            }
        };
        let Role::Leader(l) = &mut self.role else {
            return respond(out, Err(KafkaError::NotLeaderForPartition));
        };
        if p.acks == Acks::All && (l.isr.len() as u32) < self.cfg.min_insync_replicas {
            return respond(out, Err(KafkaError::NotEnoughReplicas));
        }
        let offset = self.log.append_as_leader(l.leader_epoch, p.value.clone());
        if self.bugs.test_leader_appends_twice {
            self.log.append_as_leader(l.leader_epoch, p.value.clone());
        }
        match p.acks {
            Acks::Zero => {}
            Acks::One => respond(out, Ok(offset)),
            Acks::All => {
                let dup = l
                    .pending_acks
                    .insert(p.correlation_id, PendingAck { offset });
                assert!(
                    dup.is_none(),
                    "{}: duplicate in-flight correlation id {}",
                    self.tp,
                    p.correlation_id
                );
                out.push(Output::SetTimer {
                    timer: Timer::ProduceTimeout {
                        correlation_id: p.correlation_id,
                    },
                    at: now.plus(Duration::from_millis(p.timeout_ms)),
                });
            }
        }
        self.answer_parked_fetches(out);
        self.maybe_increment_hw(out);
    }

    fn answer_parked_fetches(&mut self, out: &mut Vec<Output>) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let parked = std::mem::take(&mut l.parked_fetches);
        for (to, (_, f)) in parked {
            let records = self.log.read(f.fetch_offset, self.cfg.fetch_max_records);
            out.push(self.fetch_response(
                to,
                &f,
                Ok(FetchData {
                    high_watermark: self.log.hw(),
                    records,
                }),
            ));
        }
    }

    fn fetch_response(
        &self,
        to: BrokerId,
        f: &Fetch,
        result: Result<FetchData, KafkaError>,
    ) -> Output {
        Output::Send {
            to,
            msg: Message::FetchResponse(FetchResponse {
                tp: self.tp.clone(),
                current_leader_epoch: f.current_leader_epoch,
                fetch_offset: f.fetch_offset,
                result,
            }),
        }
    }

    fn on_fetch(&mut self, now: SimTime, from: BrokerId, f: Fetch, out: &mut Vec<Output>) {
        assert_eq!(
            from, f.replica_id,
            "fetch replica_id differs from the sender"
        );
        let leo = self.log.leo();
        let check = self.check_epoch(f.current_leader_epoch).and_then(|()| {
            let Role::Leader(l) = &self.role else {
                unreachable!("check_epoch passed")
            };
            if !l.followers.contains_key(&from) {
                Err(KafkaError::NotLeaderForPartition)
            } else if f.fetch_offset > leo {
                Err(KafkaError::OffsetOutOfRange)
            } else {
                Ok(())
            }
        });
        if let Err(e) = check {
            out.push(self.fetch_response(from, &f, Err(e)));
            return;
        }
        let Role::Leader(l) = &mut self.role else {
            unreachable!("check passed")
        };
        let prog = l.followers.get_mut(&from).expect("checked above");
        // Kafka's Replica.updateFetchState: caught up if the fetch reached the leader's LEO
        // now, or the LEO the leader had at this follower's previous fetch.
        if f.fetch_offset >= leo {
            prog.last_caught_up = now;
        } else if f.fetch_offset >= prog.last_fetch_leader_leo {
            prog.last_caught_up = prog.last_caught_up.max(prog.last_fetch);
        }
        prog.leo = Some(f.fetch_offset);
        prog.last_fetch_leader_leo = leo;
        prog.last_fetch = now;
        self.maybe_expand_isr(from, out);
        self.maybe_increment_hw(out);
        let records = self.log.read(f.fetch_offset, self.cfg.fetch_max_records);
        if records.is_empty() {
            let Role::Leader(l) = &mut self.role else {
                unreachable!("still leader")
            };
            let park = l.next_park;
            l.next_park += 1;
            if let Some((_, old)) = l.parked_fetches.insert(from, (park, f)) {
                // A follower sends one fetch at a time; a newer one replaces a lost one.
                let hw = self.log.hw();
                out.push(self.fetch_response(
                    from,
                    &old,
                    Ok(FetchData {
                        high_watermark: hw,
                        records: vec![],
                    }),
                ));
            }
            out.push(Output::SetTimer {
                timer: Timer::FetchWait {
                    follower: from,
                    park,
                },
                at: now.plus(Duration::from_millis(self.cfg.replica_fetch_wait_max_ms)),
            });
        } else {
            out.push(self.fetch_response(
                from,
                &f,
                Ok(FetchData {
                    high_watermark: self.log.hw(),
                    records,
                }),
            ));
        }
    }

    fn maybe_expand_isr(&mut self, follower: BrokerId, out: &mut Vec<Output>) {
        let hw = self.log.hw();
        let Role::Leader(l) = &self.role else { return };
        if l.isr.contains(&follower) || l.isr_update_in_flight.is_some() {
            return;
        }
        let Some(leo) = l.followers[&follower].leo else {
            return;
        };
        // KAFKA-7128: reaching the HW is not enough when the new leader's HW still lags;
        // the follower must also have reached the start of the leader's epoch. (No bug flag
        // undoes this: see "Flags considered and dropped" in src/bugs.rs.)
        if leo >= hw && leo >= l.epoch_start_offset {
            let mut isr = l.isr.clone();
            isr.insert(follower);
            self.start_isr_update(isr, out);
        }
    }

    fn start_isr_update(&mut self, isr: BTreeSet<BrokerId>, out: &mut Vec<Output>) {
        let id = self.next_isr_update_id;
        self.next_isr_update_id += 1;
        let Role::Leader(l) = &mut self.role else {
            unreachable!("only leaders update the ISR")
        };
        assert!(
            isr.contains(&self.broker),
            "{}: new ISR {isr:?} lacks the leader",
            self.tp
        );
        l.isr_update_in_flight = Some((id, isr.clone()));
        out.push(Output::IsrUpdate(IsrUpdate {
            id,
            tp: self.tp.clone(),
            state: PartitionState::new(
                self.broker as i32,
                l.leader_epoch,
                isr.into_iter().collect(),
                l.controller_epoch,
            ),
            zk_version: l.zk_version,
        }));
    }

    fn on_isr_update_result(
        &mut self,
        id: u64,
        result: Result<i32, ZkError>,
        out: &mut Vec<Output>,
    ) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let Some((want, isr)) = l.isr_update_in_flight.take() else {
            return;
        };
        if want != id {
            l.isr_update_in_flight = Some((want, isr));
            return;
        }
        // On failure Kafka logs "Cached zkVersion ... not equal to that in zookeeper, skip
        // updating ISR" and tries again at the next check (KAFKA-1382 when it never heals).
        let Ok(version) = result else { return };
        l.isr = isr;
        l.zk_version = version;
        let isr: Vec<BrokerId> = l.isr.iter().copied().collect();
        let (epoch, controller_epoch) = (l.leader_epoch, l.controller_epoch);
        self.record(
            out,
            KafkaEvent::PartitionStateWritten {
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                leader: self.broker as i32,
                leader_epoch: epoch,
                isr: isr.clone(),
                controller_epoch,
                by: self.broker,
            },
        );
        let isr_size = isr.len();
        self.record(
            out,
            KafkaEvent::IsrChanged {
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                leader: self.broker,
                leader_epoch: epoch,
                isr,
            },
        );
        out.push(Output::IsrChanged { isr_size });
        if !self.maybe_increment_hw(out) {
            // A shrink below min.insync.replicas fails waiting acks=all even without an HW move.
            self.complete_acks(out);
        }
    }

    /// Recomputes the HW; on a move, records it and completes acks. Returns true if it moved.
    fn maybe_increment_hw(&mut self, out: &mut Vec<Output>) -> bool {
        let Role::Leader(l) = &self.role else {
            return false;
        };
        let leo = self.log.leo();
        let candidate = if self.bugs.hw_before_all_isr {
            leo
        } else {
            // An ISR follower that has not fetched in this epoch has an unknown LEO, which
            // holds the HW (Kafka's LogOffsetMetadata.UnknownOffset).
            l.isr
                .iter()
                .filter(|&&r| r != self.broker)
                .map(|r| l.followers.get(r).and_then(|p| p.leo).unwrap_or(-1))
                .fold(leo, i64::min)
        };
        if candidate < 0 || !self.log.maybe_increment_hw(candidate) {
            return false;
        }
        self.record_hw(out);
        self.complete_acks(out);
        true
    }

    fn complete_acks(&mut self, out: &mut Vec<Output>) {
        let hw = self.log.hw();
        let min_isr = self.cfg.min_insync_replicas as usize;
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        let isr_len = l.isr.len();
        let done: Vec<u64> = l
            .pending_acks
            .iter()
            .filter(|(_, a)| a.offset < hw || isr_len < min_isr)
            .map(|(c, _)| *c)
            .collect();
        for correlation_id in done {
            let ack = l
                .pending_acks
                .remove(&correlation_id)
                .expect("listed above");
            let result = if ack.offset < hw && isr_len >= min_isr {
                Ok(ack.offset)
            } else {
                Err(KafkaError::NotEnoughReplicasAfterAppend)
            };
            out.push(Output::ProduceResponse(ProduceResponse {
                correlation_id,
                tp: self.tp.clone(),
                result,
            }));
        }
    }

    fn on_timeout(&mut self, now: SimTime, t: Timer, out: &mut Vec<Output>) {
        match t {
            Timer::IsrShrinkCheck => {
                self.shrink_timer_armed = false;
                let lag = Duration::from_millis(self.cfg.replica_lag_time_max_ms);
                let Role::Leader(l) = &self.role else { return };
                self.shrink_timer_armed = true;
                out.push(Output::SetTimer {
                    timer: Timer::IsrShrinkCheck,
                    at: now.plus(self.shrink_interval()),
                });
                if l.isr_update_in_flight.is_some() {
                    return;
                }
                let out_of_sync: BTreeSet<BrokerId> = l
                    .isr
                    .iter()
                    .filter(|&&r| {
                        r != self.broker && now.since(l.followers[&r].last_caught_up) > lag
                    })
                    .copied()
                    .collect();
                if !out_of_sync.is_empty() {
                    let isr = l.isr.difference(&out_of_sync).copied().collect();
                    self.start_isr_update(isr, out);
                }
            }
            Timer::FetchWait { follower, park } => {
                let Role::Leader(l) = &mut self.role else {
                    return;
                };
                if l.parked_fetches
                    .get(&follower)
                    .is_some_and(|(p, _)| *p == park)
                {
                    let (_, f) = l.parked_fetches.remove(&follower).expect("checked");
                    let records = self.log.read(f.fetch_offset, self.cfg.fetch_max_records);
                    out.push(self.fetch_response(
                        follower,
                        &f,
                        Ok(FetchData {
                            high_watermark: self.log.hw(),
                            records,
                        }),
                    ));
                }
            }
            Timer::FetchBackoff { leader_epoch } => {
                if matches!(&self.role, Role::Follower(f) if f.leader_epoch == leader_epoch) {
                    self.send_next_request(now, out);
                }
            }
            Timer::ProduceTimeout { correlation_id } => {
                let Role::Leader(l) = &mut self.role else {
                    return;
                };
                if l.pending_acks.remove(&correlation_id).is_some() {
                    out.push(Output::ProduceResponse(ProduceResponse {
                        correlation_id,
                        tp: self.tp.clone(),
                        result: Err(KafkaError::RequestTimedOut),
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn cfg(min_isr: u32) -> ReplicaConfig {
        let mut b = BrokerConfig::with_defaults(1, "zk:2181");
        b.min_insync_replicas = min_isr;
        b.replica_lag_time_max_ms = 10_000;
        ReplicaConfig::from_broker(&b)
    }

    fn lai(leader: i32, epoch: i32, isr: &[BrokerId]) -> LeaderAndIsrPartition {
        LeaderAndIsrPartition {
            topic: "t".into(),
            partition: 0,
            leader,
            leader_epoch: epoch,
            isr: isr.to_vec(),
            zk_version: 7,
            replicas: vec![1, 2, 3],
            controller_epoch: 1,
            is_new: false,
        }
    }

    fn leader(min_isr: u32, isr: &[BrokerId], bugs: KafkaBugs) -> Replica {
        let mut r = Replica::new(1, tp(), cfg(min_isr), bugs);
        r.step(at(0), Input::LeaderAndIsr(lai(1, 0, isr)));
        r
    }

    fn produce(corr: u64, acks: Acks) -> Input {
        Input::Produce(Produce {
            correlation_id: corr,
            tp: tp(),
            value: format!("v{corr}"),
            acks,
            timeout_ms: 30_000,
        })
    }

    fn fetch(from: BrokerId, offset: i64, epoch: i32) -> Input {
        Input::Message {
            from,
            msg: Message::Fetch(Fetch {
                replica_id: from,
                tp: tp(),
                fetch_offset: offset,
                current_leader_epoch: epoch,
            }),
        }
    }

    fn acks(out: &[Output]) -> Vec<(u64, Result<i64, KafkaError>)> {
        out.iter()
            .filter_map(|o| match o {
                Output::ProduceResponse(r) => Some((r.correlation_id, r.result)),
                _ => None,
            })
            .collect()
    }

    fn isr_updates(out: &[Output]) -> Vec<(u64, Vec<BrokerId>, i32)> {
        out.iter()
            .filter_map(|o| match o {
                Output::IsrUpdate(u) => Some((u.id, u.state.isr.clone(), u.zk_version)),
                _ => None,
            })
            .collect()
    }

    fn fetch_errors(out: &[Output]) -> Vec<KafkaError> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send {
                    msg: Message::FetchResponse(FetchResponse { result: Err(e), .. }),
                    ..
                } => Some(*e),
                _ => None,
            })
            .collect()
    }

    /// acks=1 answers after the local append; acks=all waits until HW = min LEO over the
    /// ISR passes the record, which needs every ISR follower's next fetch.
    #[test]
    fn acks_and_hw_is_min_leo_over_isr() {
        let mut r = leader(2, &[1, 2, 3], KafkaBugs::default());
        assert_eq!(
            acks(&r.step(at(1), produce(1, Acks::One))),
            vec![(1, Ok(0))]
        );
        assert!(r
            .step(at(2), produce(2, Acks::Zero))
            .iter()
            .all(|o| !matches!(o, Output::ProduceResponse(_))));
        assert_eq!(acks(&r.step(at(3), produce(3, Acks::All))), vec![]);
        assert_eq!(r.log().hw(), 0);
        r.step(at(4), fetch(2, 3, 0));
        assert_eq!(
            r.log().hw(),
            0,
            "follower 3 has not fetched: its LEO is unknown"
        );
        r.step(at(5), fetch(3, 2, 0));
        assert_eq!(r.log().hw(), 2);
        assert_eq!(acks(&r.step(at(6), fetch(3, 3, 0))), vec![(3, Ok(2))]);
        assert_eq!(r.log().hw(), 3);
    }

    #[test]
    fn acks_all_needs_min_insync_replicas() {
        let mut r = leader(2, &[1], KafkaBugs::default());
        assert_eq!(
            acks(&r.step(at(1), produce(1, Acks::All))),
            vec![(1, Err(KafkaError::NotEnoughReplicas))]
        );
        assert_eq!(r.log().leo(), 0, "rejected before the append");
        assert_eq!(
            acks(&r.step(at(1), produce(2, Acks::One))),
            vec![(2, Ok(0))]
        );
        let mut r = leader(1, &[1], KafkaBugs::default());
        assert_eq!(
            acks(&r.step(at(1), produce(1, Acks::All))),
            vec![(1, Ok(0))],
            "ISR {{leader}} alone"
        );
    }

    #[test]
    fn bug_hw_before_all_isr_acks_unreplicated_record() {
        let bugs = KafkaBugs {
            hw_before_all_isr: true,
            ..KafkaBugs::default()
        };
        let mut r = leader(2, &[1, 2, 3], bugs);
        assert_eq!(
            acks(&r.step(at(1), produce(1, Acks::All))),
            vec![(1, Ok(0))]
        );
        assert_eq!(r.log().hw(), 1);
    }

    #[test]
    fn produce_times_out_and_non_leader_rejects() {
        let mut r = leader(2, &[1, 2], KafkaBugs::default());
        r.step(at(1), produce(1, Acks::All));
        let out = r.step(
            at(30_001),
            Input::Timeout(Timer::ProduceTimeout { correlation_id: 1 }),
        );
        assert_eq!(acks(&out), vec![(1, Err(KafkaError::RequestTimedOut))]);
        r.step(at(2), produce(2, Acks::All));
        let out = r.step(at(3), Input::LeaderAndIsr(lai(2, 1, &[2])));
        assert_eq!(
            acks(&out),
            vec![(2, Err(KafkaError::NotLeaderForPartition))]
        );
        assert_eq!(
            acks(&r.step(at(4), produce(3, Acks::One))),
            vec![(3, Err(KafkaError::NotLeaderForPartition))]
        );
    }

    /// A parked fetch answered by new data leaves its wait timer behind; when it fires it
    /// must not answer the next parked fetch early (that would turn the long poll into a
    /// busy poll).
    #[test]
    fn a_stale_fetch_wait_timer_does_not_cut_the_next_wait_short() {
        let responses = |out: &[Output]| {
            out.iter()
                .filter(|o| {
                    matches!(
                        o,
                        Output::Send {
                            msg: Message::FetchResponse(_),
                            ..
                        }
                    )
                })
                .count()
        };
        let mut r = Replica::new(1, tp(), cfg(1), KafkaBugs::default());
        r.step(at(0), Input::LeaderAndIsr(lai(1, 5, &[1, 2])));
        r.step(at(1), fetch(2, 0, 5)); // parked as 0
        assert_eq!(responses(&r.step(at(2), produce(1, Acks::One))), 1);
        r.step(at(3), fetch(2, 1, 5)); // parked as 1
        let stale = Input::Timeout(Timer::FetchWait {
            follower: 2,
            park: 0,
        });
        assert_eq!(responses(&r.step(at(501), stale)), 0, "stale timer ignored");
        let due = Input::Timeout(Timer::FetchWait {
            follower: 2,
            park: 1,
        });
        assert_eq!(
            responses(&r.step(at(503), due)),
            1,
            "its own timer answers it"
        );
    }

    /// KIP-320: the fetch's epoch must equal the leader's.
    #[test]
    fn fetch_epoch_fencing() {
        let mut r = Replica::new(1, tp(), cfg(1), KafkaBugs::default());
        r.step(at(0), Input::LeaderAndIsr(lai(1, 5, &[1, 2, 3])));
        assert_eq!(
            fetch_errors(&r.step(at(1), fetch(2, 0, 4))),
            vec![KafkaError::FencedLeaderEpoch]
        );
        assert_eq!(
            fetch_errors(&r.step(at(1), fetch(2, 0, 6))),
            vec![KafkaError::UnknownLeaderEpoch]
        );
        assert_eq!(
            fetch_errors(&r.step(at(1), fetch(2, 9, 5))),
            vec![KafkaError::OffsetOutOfRange]
        );
        let out = r.step(at(1), fetch(2, 0, 5));
        assert_eq!(fetch_errors(&out), vec![]);
        assert!(
            out.contains(&Output::SetTimer {
                timer: Timer::FetchWait {
                    follower: 2,
                    park: 0
                },
                at: at(501)
            }),
            "empty fetch parked"
        );
    }

    /// A follower not caught up for more than replica.lag.time.max.ms leaves the ISR at the
    /// next check; the HW then advances and the waiting acks=all is answered.
    #[test]
    fn isr_shrink_after_lag_time() {
        let mut r = leader(2, &[1, 2, 3], KafkaBugs::default());
        r.step(at(1), produce(1, Acks::All));
        r.step(at(100), fetch(2, 1, 0)); // 2 caught up; 3 silent
        assert_eq!(
            isr_updates(&r.step(at(5_000), Input::Timeout(Timer::IsrShrinkCheck))),
            vec![]
        );
        assert_eq!(
            isr_updates(&r.step(at(10_000), Input::Timeout(Timer::IsrShrinkCheck))),
            vec![],
            "exactly lag: not yet"
        );
        let out = r.step(at(10_001), Input::Timeout(Timer::IsrShrinkCheck));
        assert_eq!(isr_updates(&out), vec![(1, vec![1, 2], 7)]);
        assert_eq!(
            r.isr(),
            vec![1, 2, 3],
            "ISR changes only after the ZK write"
        );
        let out = r.step(
            at(10_002),
            Input::IsrUpdateResult {
                id: 1,
                result: Ok(8),
            },
        );
        assert_eq!(r.isr(), vec![1, 2]);
        assert_eq!(acks(&out), vec![(1, Ok(0))]);
        // A failed CAS (stale zkVersion) leaves the ISR as it was.
        let mut r = leader(1, &[1, 2], KafkaBugs::default());
        r.step(at(20_001), Input::Timeout(Timer::IsrShrinkCheck));
        r.step(
            at(20_002),
            Input::IsrUpdateResult {
                id: 1,
                result: Err(ZkError::BadVersion),
            },
        );
        assert_eq!(r.isr(), vec![1, 2]);
    }

    /// Expansion needs LEO >= HW and >= the start of the leader's epoch (KAFKA-7128).
    #[test]
    fn isr_expand_rules() {
        let bugs = KafkaBugs::default();
        let mut r = Replica::new(1, tp(), cfg(1), bugs);
        // Leader in epoch 0 writes 2 records alone; HW 2.
        r.step(at(0), Input::LeaderAndIsr(lai(1, 0, &[1])));
        r.step(at(1), produce(1, Acks::One));
        r.step(at(1), produce(2, Acks::One));
        // Re-elected in epoch 1 (epoch start 2) with ISR {1}; records in epoch 1.
        r.step(at(2), Input::LeaderAndIsr(lai(1, 1, &[1])));
        r.step(at(3), produce(3, Acks::One));
        assert_eq!((r.log().hw(), r.log().epoch_start_offset(1)), (3, Some(2)));
        assert_eq!(
            isr_updates(&r.step(at(4), fetch(2, 1, 1))),
            vec![],
            "below HW"
        );
        // Simulate a lagging HW: a fresh leader whose HW is below its epoch start.
        let mut l = Replica::new(1, tp(), cfg(1), bugs);
        l.step(at(0), Input::LeaderAndIsr(lai(2, 0, &[1, 2])));
        l.step(
            at(1),
            Input::Message {
                from: 2,
                msg: Message::FetchResponse(FetchResponse {
                    tp: tp(),
                    current_leader_epoch: 0,
                    fetch_offset: 0,
                    result: Ok(FetchData {
                        high_watermark: 0,
                        records: vec![super::super::wire::Record {
                            offset: 0,
                            leader_epoch: 0,
                            value: "a".into(),
                        }],
                    }),
                }),
            },
        );
        // Elected in epoch 1; follower 2 (ISR) has not fetched yet, so the HW stays 0.
        l.step(at(2), Input::LeaderAndIsr(lai(1, 1, &[1, 2])));
        assert_eq!(
            (l.log().hw(), l.log().leo()),
            (0, 1),
            "HW lags, epoch 1 starts at 1"
        );
        // Follower 3 (out of the ISR) at offset 0 has reached the lagging HW but not the
        // epoch start: it stays out until it has fetched up to offset 1.
        assert_eq!(
            isr_updates(&l.step(at(3), fetch(3, 0, 1))),
            vec![],
            "below the epoch start"
        );
        assert_eq!(
            isr_updates(&l.step(at(4), fetch(3, 1, 1))),
            vec![(1, vec![1, 2, 3], 7)]
        );
    }

    /// Follower: epoch truncation first, then fetching; the legacy flag truncates to HW.
    #[test]
    fn become_follower_truncates_by_epoch_or_to_hw() {
        for legacy in [false, true] {
            let bugs = KafkaBugs {
                truncate_to_hw: legacy,
                ..KafkaBugs::default()
            };
            let mut r = Replica::new(2, tp(), cfg(1), bugs);
            r.step(at(0), Input::LeaderAndIsr(lai(2, 0, &[2])));
            r.step(at(1), produce(1, Acks::One));
            r.step(at(1), produce(2, Acks::One)); // HW 2 (ISR {2})
                                                  // A restart: the log comes back from disk with the HW checkpointed at 2.
            let log = r.log();
            let recovered =
                PartitionLog::recover(log.records().to_vec(), &log.epoch_entries(), log.hw(), 1);
            r = Replica::with_log(2, tp(), cfg(1), bugs, recovered);
            let out = r.step(at(2), Input::LeaderAndIsr(lai(1, 1, &[1, 2])));
            let sent: Vec<&Message> = out
                .iter()
                .filter_map(|o| {
                    if let Output::Send { msg, .. } = o {
                        Some(msg)
                    } else {
                        None
                    }
                })
                .collect();
            if legacy {
                assert!(
                    matches!(
                        sent[..],
                        [Message::Fetch(Fetch {
                            fetch_offset: 2,
                            current_leader_epoch: 1,
                            ..
                        })]
                    ),
                    "{sent:?}"
                );
                continue;
            }
            assert!(
                matches!(
                    sent[..],
                    [Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpoch {
                        leader_epoch: 0,
                        current_leader_epoch: 1,
                        ..
                    })]
                ),
                "{sent:?}"
            );
            // The leader's epoch 0 ended at 1: truncate m2, then fetch from 1.
            let out = r.step(
                at(3),
                Input::Message {
                    from: 1,
                    msg: Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                        tp: tp(),
                        current_leader_epoch: 1,
                        result: Ok((0, 1)),
                    }),
                },
            );
            assert_eq!(r.log().leo(), 1);
            assert!(out.iter().any(|o| matches!(
                o,
                Output::Send {
                    to: 1,
                    msg: Message::Fetch(Fetch {
                        fetch_offset: 1,
                        ..
                    })
                }
            )));
            // A stale response from an older epoch is ignored.
            let out = r.step(
                at(4),
                Input::Message {
                    from: 1,
                    msg: Message::FetchResponse(FetchResponse {
                        tp: tp(),
                        current_leader_epoch: 0,
                        fetch_offset: 1,
                        result: Ok(FetchData {
                            high_watermark: 5,
                            records: vec![],
                        }),
                    }),
                },
            );
            assert_eq!(out, vec![]);
        }
    }

    /// Seed 1843 (events/1), step by step. Broker 2 follows leader 3 in epoch 0 up to
    /// offset 2; cut off, it is made leader of epoch 1 and appends nothing (its epoch cache
    /// gets the empty entry (1, 2)); then broker 1, which had fetched one more epoch-0
    /// record from 3, leads epoch 2. Asked about epoch 1, broker 1 answers (0, 3): broker 2's
    /// epoch 0 ends at 2, so nothing is truncated, and the fetch from 2 brings the epoch-0
    /// record at offset 2. Kafka's `LeaderEpochFileCache.assign` replaces the empty epoch-1
    /// entry; the model used to panic ("fetched record ... older than epoch 1").
    #[test]
    fn follower_replaces_an_empty_epoch_it_led_with_the_leaders_older_epoch() {
        let rec = |offset: i64, leader_epoch: i32, value: &str| super::super::wire::Record {
            offset,
            leader_epoch,
            value: value.into(),
        };
        let response = |epoch: i32, fetch_offset: i64, hw: i64, records| Input::Message {
            from: if epoch == 0 { 3 } else { 1 },
            msg: Message::FetchResponse(FetchResponse {
                tp: tp(),
                current_leader_epoch: epoch,
                fetch_offset,
                result: Ok(FetchData {
                    high_watermark: hw,
                    records,
                }),
            }),
        };
        let mut r = Replica::new(2, tp(), cfg(1), KafkaBugs::default());
        r.step(at(0), Input::LeaderAndIsr(lai(3, 0, &[3, 1, 2])));
        r.step(
            at(1),
            response(0, 0, 2, vec![rec(0, 0, "a"), rec(1, 0, "b")]),
        );
        assert_eq!((r.log().leo(), r.log().epoch_entries()), (2, vec![(0, 0)]));
        // Leader of epoch 1 (cut off from everyone): nothing appended.
        r.step(at(2), Input::LeaderAndIsr(lai(2, 1, &[2, 1])));
        assert_eq!(r.log().epoch_entries(), vec![(0, 0), (1, 2)]);
        // Follower of broker 1 in epoch 2: truncation by epoch asks about epoch 1.
        let out = r.step(at(3), Input::LeaderAndIsr(lai(1, 2, &[1])));
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::Send {
                    to: 1,
                    msg: Message::OffsetsForLeaderEpoch(OffsetsForLeaderEpoch {
                        leader_epoch: 1,
                        current_leader_epoch: 2,
                        ..
                    })
                }
            )),
            "{out:?}"
        );
        // Broker 1's log: epoch 0 up to 3, epoch 2 from 3.
        let out = r.step(
            at(4),
            Input::Message {
                from: 1,
                msg: Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                    tp: tp(),
                    current_leader_epoch: 2,
                    result: Ok((0, 3)),
                }),
            },
        );
        assert_eq!(r.log().leo(), 2, "the common prefix is kept");
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::Send {
                    to: 1,
                    msg: Message::Fetch(Fetch {
                        fetch_offset: 2,
                        current_leader_epoch: 2,
                        ..
                    })
                }
            )),
            "{out:?}"
        );
        r.step(
            at(5),
            response(2, 2, 4, vec![rec(2, 0, "c"), rec(3, 2, "d")]),
        );
        let values: Vec<&str> = r.log().records().iter().map(|x| x.value.as_str()).collect();
        assert_eq!(values, vec!["a", "b", "c", "d"]);
        assert_eq!(r.log().hw(), 4);
        // As Kafka's cache does, the empty epoch 1 is gone and the entries stay monotonic;
        // epoch 0 ends where epoch 2 starts, as on the leader.
        assert_eq!(r.log().latest_epoch(), Some(2));
        assert_eq!(r.log().epoch_start_offset(1), None);
        assert_eq!(r.log().end_offset_for_epoch(0), (0, 3));
        assert_eq!(r.log().end_offset_for_epoch(1), (0, 3));
    }
}
