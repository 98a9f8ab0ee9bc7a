//! Coverage: the abstract protocol states a run reached, read from its recorded events.
//!
//! A guided campaign (`kzsim campaign --guided`, [`super::guided`]) keeps a fault schedule
//! when its run reached a state no earlier run reached. "State" here is deliberately coarse,
//! so that the space is small and finite (a few hundred features on a ZooKeeper ensemble, a
//! few thousand at most with Kafka) and a new feature means a new *kind* of situation, not
//! a new zxid:
//!
//! - per ZooKeeper server: its role and ZAB phase (with the sync mode it was brought up
//!   with), and how its accepted epoch stands against the established leader's
//!   ([`Feature::ZkServer`]); each phase change ([`Feature::ZkStep`]); the ensemble as
//!   counts of servers per coarse phase ([`Feature::ZkEnsemble`]);
//! - the leader's sync decisions: DIFF, TRUNC or SNAP against a follower behind, level or
//!   ahead ([`Feature::ZkSync`]), and the size of the quorums that established a leader
//!   and committed proposals ([`Feature::ZkQuorum`]);
//! - servers looking for a leader together: whether their votes' zxids and epochs are
//!   equal ([`Feature::ZkLookingPair`]; equal zxids of different epochs are the tie
//!   fast leader election's vote order must break the same way on every server);
//! - per Kafka partition: a live leader or not, the ISR size against
//!   `min.insync.replicas`, and the leader's high watermark behind the highest the
//!   partition has had ([`Feature::KafkaPartition`]); truncations against that highest HW
//!   ([`Feature::KafkaTruncation`]); how many brokers act as controller
//!   ([`Feature::KafkaControllers`]);
//! - power losses: how many servers of a layer are down from one at once, and how many of
//!   them lost power with a slow disk ([`Feature::PowerLost`]);
//! - every fault as it landed: its kind, the role of what it hit, and the ZooKeeper and
//!   Kafka phase of the cluster at that moment ([`Feature::FaultLanded`]).
//!
//! [`features`] is a pure function of the history (and of the scenario's shape, through
//! [`Context`]): the same run always gives the same set, and runs are deterministic, so a
//! seed and schedule always give the same coverage.

use crate::history::event::SyncMode;
use crate::history::SimEvent;
use crate::history::{Event, EventRecord, History, KafkaEvent, ZkEvent, ZkRole};
use crate::scenario::Scenario;
use std::collections::{BTreeMap, BTreeSet};

/// One abstract protocol state or situation a run reached. Small and `Copy`: a run's
/// coverage is a `BTreeSet<Feature>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// A ZooKeeper server was in `phase` while its accepted epoch stood in relation
    /// `epoch` to the epoch of the established leader.
    ZkServer {
        /// Role and ZAB phase.
        phase: ZkPhase,
        /// Epoch against the established leader's.
        epoch: EpochRel,
    },
    /// A ZooKeeper server went from one phase to another.
    ZkStep {
        /// The phase it left.
        from: ZkPhase,
        /// The phase it entered.
        to: ZkPhase,
    },
    /// The ensemble at one moment: how many servers lead in broadcast, follow in
    /// broadcast, are on their way (discovery or sync, as leader or follower), look for a
    /// leader (or serve read-only), and are down or paused. Counts are clamped to
    /// [`COUNT_MAX`].
    ZkEnsemble {
        /// Leaders in broadcast (more than one: a stale leader not yet stepped down).
        leading: u8,
        /// Followers in broadcast.
        following: u8,
        /// Servers in discovery or sync.
        joining: u8,
        /// Servers looking (or read-only).
        looking: u8,
        /// Servers down or paused.
        out: u8,
    },
    /// A leader synchronized a follower with `mode`, the follower's last zxid standing in
    /// relation `follower` to the leader's, from an older epoch (`older_epoch`) or not.
    ZkSync {
        /// DIFF, TRUNC or SNAP.
        mode: SyncKind,
        /// The follower's last zxid against the leader's.
        follower: Rel,
        /// The follower's last zxid is from an older epoch than the leader's.
        older_epoch: bool,
    },
    /// A quorum of this size (against a majority of the ensemble) established a leader or
    /// committed a proposal.
    ZkQuorum {
        /// What the quorum decided.
        what: QuorumOf,
        /// Its size against a majority.
        size: QuorumSize,
    },
    /// Two ZooKeeper servers looking for a leader at once, their votes compared: the last
    /// zxids and the current epochs equal or not. Equal zxids with different epochs are
    /// the tie ZOOKEEPER-1419's vote order broke (two survivors of different epochs at
    /// the same zxid).
    ZkLookingPair {
        /// Their last zxids are equal.
        zxid_equal: bool,
        /// Their current epochs are equal.
        epoch_equal: bool,
    },
    /// A Kafka partition's state as its state znode and leader last said.
    KafkaPartition {
        /// The leader's state.
        leader: LeaderState,
        /// The ISR size against `min.insync.replicas` and the replication factor.
        isr: IsrSize,
        /// The leader's high watermark behind the highest the partition has had.
        hw_lag: Lag,
    },
    /// A Kafka replica truncated its log to an offset below, at or above the highest high
    /// watermark its partition has had (below: records every replica had were cut).
    KafkaTruncation {
        /// The truncation offset against that HW.
        to: Rel,
    },
    /// How many brokers acted as controller at once (clamped to 2).
    KafkaControllers {
        /// Controllers elected and not resigned, crashed or paused.
        active: u8,
    },
    /// A power loss landed on a ZooKeeper server or a broker: how many servers of that
    /// layer were then down from a power loss (their unsynced writes gone), and how many of
    /// those had a slow disk when the power went (a wide window of unsynced writes). Counts
    /// are clamped to [`COUNT_MAX`].
    PowerLost {
        /// ZooKeeper servers or brokers.
        layer: Layer,
        /// Servers of the layer down from a power loss, this one included.
        down: u8,
        /// Of those, the ones whose disk was slow when the power went.
        slow_disks: u8,
    },
    /// A fault landed: its kind, what it hit, and the cluster's phase at that moment.
    FaultLanded {
        /// What happened.
        kind: FaultKind,
        /// The role of the node (or, for network faults, of the leader's side) it hit.
        hit: HitRole,
        /// The ZooKeeper ensemble's phase.
        zk: ZkClusterPhase,
        /// The Kafka cluster's phase.
        kafka: KafkaClusterPhase,
    },
}

/// Counts in [`Feature::ZkEnsemble`] are clamped to this (ensembles of up to 7 servers
/// stay distinct where it matters: none, one, a few).
pub const COUNT_MAX: u8 = 4;

/// The feature families, in the order summaries list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// [`Feature::ZkServer`].
    ZkServer,
    /// [`Feature::ZkStep`].
    ZkStep,
    /// [`Feature::ZkEnsemble`].
    ZkEnsemble,
    /// [`Feature::ZkSync`].
    ZkSync,
    /// [`Feature::ZkQuorum`].
    ZkQuorum,
    /// [`Feature::ZkLookingPair`].
    ZkLookingPair,
    /// [`Feature::KafkaPartition`].
    KafkaPartition,
    /// [`Feature::KafkaTruncation`].
    KafkaTruncation,
    /// [`Feature::KafkaControllers`].
    KafkaControllers,
    /// [`Feature::PowerLost`].
    PowerLost,
    /// [`Feature::FaultLanded`].
    FaultLanded,
}

impl Family {
    /// Every family, in summary order.
    pub const ALL: [Family; 11] = [
        Family::ZkServer,
        Family::ZkStep,
        Family::ZkEnsemble,
        Family::ZkSync,
        Family::ZkQuorum,
        Family::ZkLookingPair,
        Family::KafkaPartition,
        Family::KafkaTruncation,
        Family::KafkaControllers,
        Family::PowerLost,
        Family::FaultLanded,
    ];

    /// The name summaries print.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::ZkServer => "zk-server",
            Family::ZkStep => "zk-step",
            Family::ZkEnsemble => "zk-ensemble",
            Family::ZkSync => "zk-sync",
            Family::ZkQuorum => "zk-quorum",
            Family::ZkLookingPair => "zk-looking-pair",
            Family::KafkaPartition => "kafka-partition",
            Family::KafkaTruncation => "kafka-truncation",
            Family::KafkaControllers => "kafka-controllers",
            Family::PowerLost => "power-lost",
            Family::FaultLanded => "fault-landed",
        }
    }
}

impl Feature {
    /// The family this feature belongs to.
    pub fn family(&self) -> Family {
        match self {
            Feature::ZkServer { .. } => Family::ZkServer,
            Feature::ZkStep { .. } => Family::ZkStep,
            Feature::ZkEnsemble { .. } => Family::ZkEnsemble,
            Feature::ZkSync { .. } => Family::ZkSync,
            Feature::ZkQuorum { .. } => Family::ZkQuorum,
            Feature::KafkaPartition { .. } => Family::KafkaPartition,
            Feature::KafkaTruncation { .. } => Family::KafkaTruncation,
            Feature::KafkaControllers { .. } => Family::KafkaControllers,
            Feature::PowerLost { .. } => Family::PowerLost,
            Feature::FaultLanded { .. } => Family::FaultLanded,
            Feature::ZkLookingPair { .. } => Family::ZkLookingPair,
        }
    }
}

/// Features per family, every family listed (zero where none), in [`Family::ALL`] order.
pub fn by_family<'a>(features: impl IntoIterator<Item = &'a Feature>) -> Vec<(Family, usize)> {
    let mut counts: BTreeMap<Family, usize> = Family::ALL.iter().map(|f| (*f, 0)).collect();
    for f in features {
        *counts.entry(f.family()).or_default() += 1;
    }
    counts.into_iter().collect()
}

/// The layer a server belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// ZooKeeper servers.
    ZooKeeper,
    /// Kafka brokers.
    Kafka,
}

/// Features per family, the families with any, as text: `zk-server 31, fault-landed 83`.
pub fn families_text<'a>(features: impl IntoIterator<Item = &'a Feature>) -> String {
    by_family(features)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{} {n}", f.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ZooKeeper server's role and ZAB phase (ZooKeeper Internals, "Phases": election,
/// discovery, synchronization, broadcast).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkPhase {
    /// Crashed (not restarted yet).
    Down,
    /// Paused (a long GC or VM pause).
    Paused,
    /// LOOKING: in fast leader election (also just after a start).
    Looking,
    /// LOOKING with read-only mode on, serving read-only clients.
    ReadOnly,
    /// FOLLOWING, connecting to the leader or agreeing on its epoch.
    FollowerDiscovery,
    /// FOLLOWING, being synchronized by the leader with this mode.
    FollowerSync(SyncKind),
    /// FOLLOWING, up to date: proposals and commits flow.
    FollowerBroadcast,
    /// LEADING, gathering a quorum's epochs.
    LeaderDiscovery,
    /// LEADING, epoch chosen, synchronizing followers until a quorum ACKs NEWLEADER.
    LeaderSync,
    /// LEADING, established: proposing client writes.
    LeaderBroadcast,
}

impl ZkPhase {
    fn coarse(self) -> Coarse {
        match self {
            ZkPhase::Down | ZkPhase::Paused => Coarse::Out,
            ZkPhase::Looking | ZkPhase::ReadOnly => Coarse::Looking,
            ZkPhase::FollowerDiscovery
            | ZkPhase::FollowerSync(_)
            | ZkPhase::LeaderDiscovery
            | ZkPhase::LeaderSync => Coarse::Joining,
            ZkPhase::FollowerBroadcast => Coarse::Following,
            ZkPhase::LeaderBroadcast => Coarse::Leading,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Coarse {
    Out,
    Looking,
    Joining,
    Following,
    Leading,
}

/// How a leader synchronized a follower (an ordered copy of [`SyncMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncKind {
    /// DIFF: the missing transactions.
    Diff,
    /// TRUNC: cut back, then the missing transactions.
    Trunc,
    /// SNAP: the whole tree.
    Snap,
}

impl From<SyncMode> for SyncKind {
    fn from(m: SyncMode) -> Self {
        match m {
            SyncMode::Diff => SyncKind::Diff,
            SyncMode::Trunc => SyncKind::Trunc,
            SyncMode::Snap => SyncKind::Snap,
        }
    }
}

/// A ZooKeeper server's accepted epoch against the established leader's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EpochRel {
    /// No leader is established (or it left broadcast).
    NoLeader,
    /// An older epoch.
    Behind,
    /// The leader's epoch.
    Same,
    /// A newer epoch (accepted from a would-be leader that never got established).
    Ahead,
}

/// A value against a reference: below, equal, above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rel {
    /// Less than the reference.
    Below,
    /// Equal to it.
    Equal,
    /// Greater than it.
    Above,
}

impl Rel {
    fn of<T: Ord>(value: T, reference: T) -> Rel {
        match value.cmp(&reference) {
            std::cmp::Ordering::Less => Rel::Below,
            std::cmp::Ordering::Equal => Rel::Equal,
            std::cmp::Ordering::Greater => Rel::Above,
        }
    }
}

/// What a ZooKeeper quorum decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuorumOf {
    /// NEWLEADER ACKs established a leader.
    Established,
    /// ACKs committed a proposal.
    Committed,
}

/// A quorum's size against a majority of the ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuorumSize {
    /// Fewer than a majority (only a bug allows it).
    BelowMajority,
    /// Exactly a majority.
    Majority,
    /// More than a majority, not every server.
    AboveMajority,
    /// Every server.
    All,
}

/// A Kafka partition's leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeaderState {
    /// No leader (`leader = -1`).
    None,
    /// A leader whose broker is up.
    Live,
    /// A leader whose broker is down or paused.
    Dead,
}

/// A Kafka partition's ISR size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IsrSize {
    /// Fewer than `min.insync.replicas`: `acks=all` writes are refused.
    BelowMin,
    /// Exactly `min.insync.replicas`.
    AtMin,
    /// More than the minimum, not every replica.
    AboveMin,
    /// Every replica.
    Full,
}

/// How far a high watermark is behind the highest the partition has had, in records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lag {
    /// Not behind (or not known yet for a new leader).
    None,
    /// 1 to 9 records behind.
    Few,
    /// 10 to 99 records behind.
    Some,
    /// 100 or more behind.
    Many,
}

impl Lag {
    fn of(records: i64) -> Lag {
        match records {
            i64::MIN..=0 => Lag::None,
            1..=9 => Lag::Few,
            10..=99 => Lag::Some,
            _ => Lag::Many,
        }
    }
}

/// A fault as it landed, from the simulator's own record of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A process kill that kept the page cache.
    Crash,
    /// A power loss: the unsynced tail (maybe torn) lost.
    PowerLoss,
    /// A crash that lost the whole disk.
    DiskLost,
    /// A start after a crash.
    Restart,
    /// A pause.
    Pause,
    /// A network partition.
    Partition,
    /// A one-way link cut.
    Cut,
    /// Every partition and cut removed.
    Heal,
    /// Loss or latency changed away from the defaults.
    Net,
    /// A clock offset or drift set.
    ClockSkew,
    /// A disk slowed down.
    SlowDisk,
}

/// What a fault hit, by role at the moment it landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HitRole {
    /// A ZooKeeper server in this phase.
    Zk(ZkPhase),
    /// The active Kafka controller.
    Controller,
    /// A broker leading at least one partition (not the controller).
    PartitionLeader,
    /// Any other running broker.
    Broker,
    /// A broker that was down or paused.
    BrokerOut,
    /// A network fault that left the established ZooKeeper leader with a majority of the
    /// servers (or a cut not touching it).
    NetLeaderMajority,
    /// A network fault that cut the established leader off from a majority (a partition
    /// into a minority; a cut from or to the leader).
    NetLeaderCut,
    /// A network fault while no leader was established.
    NetNoLeader,
    /// Anything else (a client).
    Other,
}

/// The ZooKeeper ensemble's phase as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkClusterPhase {
    /// No server leads: an election is on (or every server is out).
    Electing,
    /// A leader is in discovery or sync, none established.
    LeaderSyncing,
    /// An established leader; some running server is not in broadcast.
    BroadcastJoining,
    /// An established leader and every running server in broadcast.
    Broadcast,
}

/// The Kafka cluster's phase as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KafkaClusterPhase {
    /// The scenario has no brokers.
    NoKafka,
    /// No broker acts as controller.
    NoController,
    /// Some partition has no live leader.
    Leaderless,
    /// Every partition led; some ISR below its replication factor.
    UnderReplicated,
    /// Every partition led with a full ISR.
    Stable,
}

/// What [`features`] needs to know of the scenario besides its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// ZooKeeper server names, `zk1..zkN` (sid `i` is `zk{i}`).
    pub zk_servers: Vec<String>,
    /// Broker names, `broker1..brokerN` (broker id `i` is `broker{i}`).
    pub brokers: Vec<String>,
    /// Per topic: (`min.insync.replicas`, replication factor, partitions).
    pub topics: BTreeMap<String, (u32, u32, u32)>,
}

impl Context {
    /// The context of `scenario`.
    pub fn of(scenario: &Scenario) -> Context {
        Context {
            zk_servers: scenario.zk_server_names(),
            brokers: scenario.broker_names(),
            topics: scenario
                .cluster
                .kafka
                .iter()
                .flat_map(|k| &k.topics)
                .map(|t| {
                    (
                        t.name.clone(),
                        (t.min_insync_replicas, t.replication_factor, t.partitions),
                    )
                })
                .collect(),
        }
    }
}

/// The features `history` reached (see the module documentation).
pub fn features(history: &History, ctx: &Context) -> BTreeSet<Feature> {
    let mut scan = Scan::new(ctx);
    for r in &history.events {
        scan.step(r);
    }
    scan.out
}

/// One ZooKeeper server as the scan sees it.
#[derive(Clone, Copy)]
struct Server {
    phase: ZkPhase,
    /// The phase before a pause.
    before_pause: ZkPhase,
    /// The highest epoch it accepted (or recovered, or took a role in).
    epoch: u32,
    /// Its current epoch (the epoch its vote carries): recovered, or of the leader it
    /// synchronized with or established as.
    current: u32,
    /// The last zxid it applied to its tree (the zxid its vote carries).
    zxid: i64,
}

/// One Kafka partition as the scan sees it.
#[derive(Clone, Copy)]
struct Partition {
    leader: i32,
    isr: usize,
    max_hw: i64,
    lag: Lag,
}

struct Scan<'a> {
    ctx: &'a Context,
    /// By server index (sid - 1).
    zk: Vec<Server>,
    /// The established leader's index and epoch, while it is in broadcast.
    leader: Option<(usize, u32)>,
    /// Brokers up (not crashed, not paused), by index (id - 1).
    broker_up: Vec<bool>,
    controllers: BTreeSet<u32>,
    partitions: BTreeMap<(String, u32), Partition>,
    /// Servers and brokers whose disk is slow now.
    slow_disk: BTreeSet<String>,
    /// Servers and brokers down from a power loss, each with whether its disk was slow.
    power_lost: BTreeMap<String, bool>,
    out: BTreeSet<Feature>,
}

fn index_of(name: &str, prefix: &str, len: usize) -> Option<usize> {
    let i: usize = name.strip_prefix(prefix)?.parse().ok()?;
    (1..=len).contains(&i).then(|| i - 1)
}

impl<'a> Scan<'a> {
    fn new(ctx: &'a Context) -> Scan<'a> {
        let server = Server {
            phase: ZkPhase::Looking,
            before_pause: ZkPhase::Looking,
            epoch: 0,
            current: 0,
            zxid: 0,
        };
        let mut partitions = BTreeMap::new();
        for (topic, (_, rf, n)) in &ctx.topics {
            for p in 0..*n {
                partitions.insert(
                    (topic.clone(), p),
                    Partition {
                        leader: -1,
                        isr: *rf as usize,
                        max_hw: 0,
                        lag: Lag::None,
                    },
                );
            }
        }
        Scan {
            ctx,
            zk: vec![server; ctx.zk_servers.len()],
            leader: None,
            broker_up: vec![true; ctx.brokers.len()],
            controllers: BTreeSet::new(),
            partitions,
            slow_disk: BTreeSet::new(),
            power_lost: BTreeMap::new(),
            out: BTreeSet::new(),
        }
    }

    fn zk_index(&self, node: &str) -> Option<usize> {
        index_of(node, "zk", self.zk.len())
    }

    fn broker_index(&self, node: &str) -> Option<usize> {
        index_of(node, "broker", self.broker_up.len())
    }

    fn step(&mut self, r: &EventRecord) {
        match &r.event {
            Event::Sim(e) => self.on_sim(&r.node, e),
            Event::Zk(e) if !e.is_client_side() => {
                if let Some(i) = self.zk_index(&r.node) {
                    self.on_zk(i, e);
                }
            }
            Event::Zk(_) => {}
            Event::Kafka(e) => self.on_kafka(e),
        }
    }

    // ---- faults -------------------------------------------------------------------------

    fn on_sim(&mut self, node: &str, e: &SimEvent) {
        let kind = match e {
            SimEvent::NodeCrashed {
                disk_lost: true, ..
            } => Some(FaultKind::DiskLost),
            SimEvent::NodeCrashed {
                page_cache_kept: false,
                ..
            } => Some(FaultKind::PowerLoss),
            SimEvent::NodeCrashed { .. } => Some(FaultKind::Crash),
            SimEvent::NodeStarted { incarnation } => {
                (*incarnation > 1).then_some(FaultKind::Restart)
            }
            SimEvent::NodePaused => Some(FaultKind::Pause),
            SimEvent::Partitioned { .. } => Some(FaultKind::Partition),
            SimEvent::LinkCut { .. } => Some(FaultKind::Cut),
            SimEvent::Healed => Some(FaultKind::Heal),
            SimEvent::NetChanged {
                loss_permille,
                latency_min_us,
                latency_max_us,
                ..
            } => {
                let default = kzsim_sim::NetConfig::default();
                let reset = *loss_permille == default.loss_permille
                    && *latency_min_us == default.latency_us.start
                    && *latency_max_us == default.latency_us.end;
                (!reset).then_some(FaultKind::Net)
            }
            SimEvent::ClockChanged {
                offset_ns,
                drift_ppm,
            } => (*offset_ns != 0 || *drift_ppm != 0).then_some(FaultKind::ClockSkew),
            SimEvent::DiskChanged { restored, .. } => (!restored).then_some(FaultKind::SlowDisk),
            SimEvent::NodeResumed | SimEvent::Note { .. } => None,
        };
        if let Some(kind) = kind {
            let hit = self.hit_role(node, e);
            let f = Feature::FaultLanded {
                kind,
                hit,
                zk: self.zk_phase(),
                kafka: self.kafka_phase(),
            };
            self.out.insert(f);
        }
        // Then the fault's effect on the abstract state.
        let zk = self.zk_index(node);
        let broker = self.broker_index(node);
        self.track_disks(node, e, zk.is_some(), broker.is_some());
        match e {
            SimEvent::NodeCrashed { .. } => {
                if let Some(i) = zk {
                    self.set_phase(i, ZkPhase::Down);
                }
                if let Some(b) = broker {
                    self.broker_up[b] = false;
                    self.controllers.remove(&(b as u32 + 1));
                    self.partitions_changed();
                }
            }
            SimEvent::NodePaused => {
                if let Some(i) = zk {
                    let before = self.zk[i].phase;
                    self.zk[i].before_pause = before;
                    self.set_phase(i, ZkPhase::Paused);
                }
                if let Some(b) = broker {
                    self.broker_up[b] = false;
                    self.partitions_changed();
                }
            }
            SimEvent::NodeResumed => {
                if let Some(i) = zk {
                    let before = self.zk[i].before_pause;
                    self.set_phase(i, before);
                }
                if let Some(b) = broker {
                    self.broker_up[b] = true;
                    self.partitions_changed();
                }
            }
            SimEvent::NodeStarted { .. } => {
                if let Some(i) = zk {
                    self.set_phase(i, ZkPhase::Looking);
                }
                if let Some(b) = broker {
                    self.broker_up[b] = true;
                    self.partitions_changed();
                }
            }
            _ => {}
        }
    }

    /// Slow disks and power losses, for [`Feature::PowerLost`].
    fn track_disks(&mut self, node: &str, e: &SimEvent, zk: bool, broker: bool) {
        if !zk && !broker {
            return;
        }
        match e {
            SimEvent::DiskChanged { restored, .. } => {
                if *restored {
                    self.slow_disk.remove(node);
                } else {
                    self.slow_disk.insert(node.to_string());
                }
            }
            SimEvent::NodeCrashed {
                page_cache_kept: false,
                disk_lost: false,
                ..
            } => {
                let slow = self.slow_disk.contains(node);
                self.power_lost.insert(node.to_string(), slow);
                let layer_of = |n: &str| {
                    if self.zk_index(n).is_some() {
                        Layer::ZooKeeper
                    } else {
                        Layer::Kafka
                    }
                };
                let layer = layer_of(node);
                let (mut down, mut slow_disks) = (0u8, 0u8);
                for (n, slow) in &self.power_lost {
                    if layer_of(n) == layer {
                        down = (down + 1).min(COUNT_MAX);
                        slow_disks = (slow_disks + u8::from(*slow)).min(COUNT_MAX);
                    }
                }
                self.out.insert(Feature::PowerLost {
                    layer,
                    down,
                    slow_disks,
                });
            }
            SimEvent::NodeStarted { .. } | SimEvent::NodeCrashed { .. } => {
                self.power_lost.remove(node);
            }
            _ => {}
        }
    }

    fn hit_role(&self, node: &str, e: &SimEvent) -> HitRole {
        match e {
            SimEvent::Partitioned { groups } => {
                let Some((l, _)) = self.leader else {
                    return HitRole::NetNoLeader;
                };
                let leader = &self.ctx.zk_servers[l];
                // Servers named in no group form one more group together (complete_groups).
                let named: BTreeSet<&String> = groups.iter().flatten().collect();
                let with_leader = match groups.iter().find(|g| g.contains(leader)) {
                    Some(g) => g.iter().filter(|n| self.zk_index(n).is_some()).count(),
                    None => self
                        .ctx
                        .zk_servers
                        .iter()
                        .filter(|s| !named.contains(s))
                        .count(),
                };
                if with_leader * 2 > self.zk.len() {
                    HitRole::NetLeaderMajority
                } else {
                    HitRole::NetLeaderCut
                }
            }
            SimEvent::LinkCut { from, to } => match self.leader {
                None => HitRole::NetNoLeader,
                Some((l, _)) => {
                    let leader = &self.ctx.zk_servers[l];
                    if from == leader || to == leader {
                        HitRole::NetLeaderCut
                    } else {
                        HitRole::NetLeaderMajority
                    }
                }
            },
            SimEvent::Healed | SimEvent::NetChanged { .. } => match self.leader {
                None => HitRole::NetNoLeader,
                Some(_) => HitRole::NetLeaderMajority,
            },
            _ => {
                if let Some(i) = self.zk_index(node) {
                    return HitRole::Zk(self.zk[i].phase);
                }
                let Some(b) = self.broker_index(node) else {
                    return HitRole::Other;
                };
                let id = b as u32 + 1;
                if !self.broker_up[b] {
                    HitRole::BrokerOut
                } else if self.controllers.contains(&id) {
                    HitRole::Controller
                } else if self.partitions.values().any(|p| p.leader == id as i32) {
                    HitRole::PartitionLeader
                } else {
                    HitRole::Broker
                }
            }
        }
    }

    fn zk_phase(&self) -> ZkClusterPhase {
        let leading = |p: ZkPhase| matches!(p, ZkPhase::LeaderDiscovery | ZkPhase::LeaderSync);
        if self.zk.iter().any(|s| s.phase == ZkPhase::LeaderBroadcast) {
            let all_in = self.zk.iter().all(|s| {
                matches!(
                    s.phase.coarse(),
                    Coarse::Out | Coarse::Leading | Coarse::Following
                )
            });
            if all_in {
                ZkClusterPhase::Broadcast
            } else {
                ZkClusterPhase::BroadcastJoining
            }
        } else if self.zk.iter().any(|s| leading(s.phase)) {
            ZkClusterPhase::LeaderSyncing
        } else {
            ZkClusterPhase::Electing
        }
    }

    fn kafka_phase(&self) -> KafkaClusterPhase {
        if self.broker_up.is_empty() {
            return KafkaClusterPhase::NoKafka;
        }
        if self.controllers.is_empty() {
            return KafkaClusterPhase::NoController;
        }
        let mut under = false;
        for ((topic, _), p) in &self.partitions {
            if self.leader_state(p) != LeaderState::Live {
                return KafkaClusterPhase::Leaderless;
            }
            let rf = self.ctx.topics.get(topic).map_or(0, |t| t.1 as usize);
            under |= p.isr < rf;
        }
        if under {
            KafkaClusterPhase::UnderReplicated
        } else {
            KafkaClusterPhase::Stable
        }
    }

    // ---- ZooKeeper ----------------------------------------------------------------------

    fn on_zk(&mut self, i: usize, e: &ZkEvent) {
        let n = self.zk.len();
        match e {
            ZkEvent::Recovered {
                accepted_epoch,
                current_epoch,
                last_zxid,
                ..
            } => {
                self.zk[i].epoch = self.zk[i].epoch.max(*accepted_epoch);
                self.zk[i].current = *current_epoch;
                self.zk[i].zxid = *last_zxid;
                if self.zk[i].phase == ZkPhase::Looking {
                    self.emit_looking_pairs(i);
                }
            }
            ZkEvent::Delivered { zxid, .. } => {
                self.zk[i].zxid = self.zk[i].zxid.max(*zxid);
            }
            ZkEvent::Truncated { to } => {
                self.zk[i].zxid = *to;
                if self.zk[i].phase == ZkPhase::FollowerDiscovery {
                    self.set_phase(i, ZkPhase::FollowerSync(SyncKind::Trunc));
                }
            }
            ZkEvent::SnapLoaded { zxid } => {
                self.zk[i].zxid = *zxid;
                if self.zk[i].phase == ZkPhase::FollowerDiscovery {
                    self.set_phase(i, ZkPhase::FollowerSync(SyncKind::Snap));
                }
            }
            ZkEvent::RoleChanged { role, epoch } => {
                self.zk[i].epoch = self.zk[i].epoch.max(*epoch);
                if *role == ZkRole::Following && *epoch > 0 {
                    self.zk[i].current = *epoch;
                }
                let phase = match role {
                    ZkRole::Looking => ZkPhase::Looking,
                    ZkRole::ReadOnly => ZkPhase::ReadOnly,
                    ZkRole::Leading => ZkPhase::LeaderDiscovery,
                    // FOLLOWING with epoch 0: a new follower connecting; with its epoch:
                    // UPTODATE arrived, broadcast begins.
                    ZkRole::Following if *epoch == 0 => ZkPhase::FollowerDiscovery,
                    ZkRole::Following => ZkPhase::FollowerBroadcast,
                };
                self.set_phase(i, phase);
            }
            ZkEvent::EpochAccepted { epoch } => {
                self.zk[i].epoch = self.zk[i].epoch.max(*epoch);
                // The leader persists the new epoch once a quorum's epochs are in: sync.
                if self.zk[i].phase == ZkPhase::LeaderDiscovery {
                    self.set_phase(i, ZkPhase::LeaderSync);
                } else {
                    self.emit_servers();
                }
            }
            ZkEvent::SyncSent {
                follower,
                mode,
                follower_zxid,
                leader_zxid,
                ..
            } => {
                self.out.insert(Feature::ZkSync {
                    mode: (*mode).into(),
                    follower: Rel::of(*follower_zxid, *leader_zxid),
                    older_epoch: (*follower_zxid >> 32) < (*leader_zxid >> 32),
                });
                let f = (*follower as usize).wrapping_sub(1);
                if f < n && matches!(self.zk[f].phase, ZkPhase::FollowerDiscovery) {
                    self.set_phase(f, ZkPhase::FollowerSync((*mode).into()));
                }
            }
            ZkEvent::LeaderEstablished { epoch, quorum } => {
                self.out.insert(Feature::ZkQuorum {
                    what: QuorumOf::Established,
                    size: quorum_size(quorum.len(), n),
                });
                self.zk[i].epoch = self.zk[i].epoch.max(*epoch);
                self.zk[i].current = *epoch;
                self.leader = Some((i, *epoch));
                self.set_phase(i, ZkPhase::LeaderBroadcast);
            }
            ZkEvent::Committed { acked, .. } if !acked.is_empty() => {
                let f = Feature::ZkQuorum {
                    what: QuorumOf::Committed,
                    size: quorum_size(acked.len(), n),
                };
                self.out.insert(f);
            }
            _ => {}
        }
    }

    fn set_phase(&mut self, i: usize, phase: ZkPhase) {
        let from = self.zk[i].phase;
        self.zk[i].phase = phase;
        if self.leader.is_some_and(|(l, _)| l == i) && phase != ZkPhase::LeaderBroadcast {
            self.leader = None;
        }
        if from != phase {
            self.out.insert(Feature::ZkStep { from, to: phase });
        }
        if phase == ZkPhase::Looking {
            self.emit_looking_pairs(i);
        }
        self.emit_servers();
    }

    /// Server `i` looks for a leader: its vote against every other server looking now.
    fn emit_looking_pairs(&mut self, i: usize) {
        let me = self.zk[i];
        for (j, other) in self.zk.iter().enumerate() {
            if j != i && other.phase == ZkPhase::Looking {
                self.out.insert(Feature::ZkLookingPair {
                    zxid_equal: me.zxid == other.zxid,
                    epoch_equal: me.current == other.current,
                });
            }
        }
    }

    /// Every server's state and the ensemble's counts, as they stand.
    fn emit_servers(&mut self) {
        let mut counts = [0u8; 5];
        for s in &self.zk {
            let epoch = match self.leader {
                None => EpochRel::NoLeader,
                Some((_, e)) => match Rel::of(s.epoch, e) {
                    Rel::Below => EpochRel::Behind,
                    Rel::Equal => EpochRel::Same,
                    Rel::Above => EpochRel::Ahead,
                },
            };
            self.out.insert(Feature::ZkServer {
                phase: s.phase,
                epoch,
            });
            let k = match s.phase.coarse() {
                Coarse::Leading => 0,
                Coarse::Following => 1,
                Coarse::Joining => 2,
                Coarse::Looking => 3,
                Coarse::Out => 4,
            };
            counts[k] = (counts[k] + 1).min(COUNT_MAX);
        }
        self.out.insert(Feature::ZkEnsemble {
            leading: counts[0],
            following: counts[1],
            joining: counts[2],
            looking: counts[3],
            out: counts[4],
        });
    }

    // ---- Kafka --------------------------------------------------------------------------

    fn on_kafka(&mut self, e: &KafkaEvent) {
        match e {
            KafkaEvent::ControllerElected { broker, .. } => {
                self.controllers.insert(*broker);
                self.emit_controllers();
            }
            KafkaEvent::ControllerResigned { broker, .. } => {
                self.controllers.remove(broker);
                self.emit_controllers();
            }
            KafkaEvent::PartitionStateWritten {
                topic,
                partition,
                leader,
                isr,
                ..
            } => self.partition_state(topic, *partition, Some(*leader), isr.len()),
            KafkaEvent::IsrChanged {
                topic,
                partition,
                leader,
                isr,
                ..
            } => self.partition_state(topic, *partition, Some(*leader as i32), isr.len()),
            KafkaEvent::HighWatermark {
                broker,
                topic,
                partition,
                hw,
            } => {
                let key = (topic.clone(), *partition);
                let Some(p) = self.partitions.get_mut(&key) else {
                    return;
                };
                if p.leader != *broker as i32 {
                    return;
                }
                let lag = Lag::of(p.max_hw - *hw);
                p.max_hw = p.max_hw.max(*hw);
                if lag != p.lag {
                    p.lag = lag;
                    self.emit_partition(&key);
                }
            }
            KafkaEvent::LogTruncated {
                topic,
                partition,
                to_offset,
                ..
            } => {
                if let Some(p) = self.partitions.get(&(topic.clone(), *partition)) {
                    let to = Rel::of(*to_offset, p.max_hw);
                    self.out.insert(Feature::KafkaTruncation { to });
                }
            }
            _ => {}
        }
    }

    fn partition_state(&mut self, topic: &str, partition: u32, leader: Option<i32>, isr: usize) {
        let key = (topic.to_string(), partition);
        let Some(p) = self.partitions.get_mut(&key) else {
            return;
        };
        if let Some(l) = leader {
            if l != p.leader {
                // A new leader's lag is not known until it moves its HW.
                p.lag = Lag::None;
            }
            p.leader = l;
        }
        p.isr = isr;
        self.emit_partition(&key);
    }

    fn leader_state(&self, p: &Partition) -> LeaderState {
        if p.leader < 0 {
            return LeaderState::None;
        }
        match self.broker_up.get((p.leader as usize).wrapping_sub(1)) {
            Some(true) => LeaderState::Live,
            _ => LeaderState::Dead,
        }
    }

    fn emit_partition(&mut self, key: &(String, u32)) {
        let Some(p) = self.partitions.get(key).copied() else {
            return;
        };
        let (min, rf, _) = self.ctx.topics.get(&key.0).copied().unwrap_or((1, 1, 1));
        let isr = if p.isr >= rf as usize {
            IsrSize::Full
        } else {
            match Rel::of(p.isr, min as usize) {
                Rel::Below => IsrSize::BelowMin,
                Rel::Equal => IsrSize::AtMin,
                Rel::Above => IsrSize::AboveMin,
            }
        };
        self.out.insert(Feature::KafkaPartition {
            leader: self.leader_state(&p),
            isr,
            hw_lag: p.lag,
        });
    }

    /// A broker went up or down: every partition's leader state may have changed.
    fn partitions_changed(&mut self) {
        let keys: Vec<(String, u32)> = self.partitions.keys().cloned().collect();
        for k in &keys {
            self.emit_partition(k);
        }
        self.emit_controllers();
    }

    fn emit_controllers(&mut self) {
        let active = self
            .controllers
            .iter()
            .filter(|b| {
                self.broker_up
                    .get((**b as usize).wrapping_sub(1))
                    .copied()
                    .unwrap_or(false)
            })
            .count()
            .min(2) as u8;
        self.out.insert(Feature::KafkaControllers { active });
    }
}

fn quorum_size(size: usize, servers: usize) -> QuorumSize {
    let majority = servers / 2 + 1;
    if size >= servers {
        QuorumSize::All
    } else {
        match Rel::of(size, majority) {
            Rel::Below => QuorumSize::BelowMajority,
            Rel::Equal => QuorumSize::Majority,
            Rel::Above => QuorumSize::AboveMajority,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{run_scenario, RunOptions};
    use crate::scenario::{DiskLoss, Fault, Target, TimedFault};
    use std::time::Duration;

    /// A real run of the ZooKeeper leader-crash scenario: the features name what the story
    /// is about (a leader elected, a leader crashed in broadcast, an election after it),
    /// stay within the abstraction, and are the same on a second run.
    #[test]
    fn a_leader_crash_run_covers_election_broadcast_and_the_crash() {
        let s = crate::scenario::load(std::path::Path::new("scenarios/zk-leader-crash.toml"))
            .expect("scenario loads");
        let faults = vec![
            TimedFault {
                at: Duration::from_secs(8),
                label: None,
                fault: Fault::Crash {
                    target: Target::ZkLeader,
                    disk: DiskLoss::None,
                },
                after: None,
            },
            TimedFault {
                at: Duration::from_secs(14),
                label: None,
                fault: Fault::HealAll,
                after: None,
            },
        ];
        let run = |seed| {
            run_scenario(
                &s,
                &RunOptions {
                    seed,
                    bugs: Default::default(),
                    faults: Some(faults.clone()),
                },
            )
        };
        let o = run(3);
        let ctx = Context::of(&s);
        let f = features(&o.history, &ctx);
        assert!(
            f.contains(&Feature::ZkServer {
                phase: ZkPhase::LeaderBroadcast,
                epoch: EpochRel::Same
            }),
            "{f:#?}"
        );
        assert!(f.contains(&Feature::ZkStep {
            from: ZkPhase::LeaderBroadcast,
            to: ZkPhase::Down
        }));
        assert!(f.contains(&Feature::ZkStep {
            from: ZkPhase::FollowerBroadcast,
            to: ZkPhase::Looking
        }));
        assert!(f.contains(&Feature::FaultLanded {
            kind: FaultKind::Crash,
            hit: HitRole::Zk(ZkPhase::LeaderBroadcast),
            zk: ZkClusterPhase::Broadcast,
            kafka: KafkaClusterPhase::NoKafka,
        }));
        assert!(f.contains(&Feature::FaultLanded {
            kind: FaultKind::Restart,
            hit: HitRole::Zk(ZkPhase::Down),
            zk: ZkClusterPhase::Broadcast,
            kafka: KafkaClusterPhase::NoKafka,
        }));
        assert!(f.contains(&Feature::ZkQuorum {
            what: QuorumOf::Established,
            size: QuorumSize::Majority
        }));
        assert!(f.iter().any(|x| matches!(x, Feature::ZkSync { .. })));
        // A 3-server ensemble without Kafka: no Kafka family, and a quorum never below a
        // majority without a bug flag.
        assert!(!f.iter().any(|x| matches!(
            x.family(),
            Family::KafkaPartition | Family::KafkaTruncation | Family::KafkaControllers
        )));
        assert!(!f.iter().any(|x| matches!(
            x,
            Feature::ZkQuorum {
                size: QuorumSize::BelowMajority,
                ..
            }
        )));
        assert!(f.len() > 20 && f.len() < 300, "{} features", f.len());
        assert_eq!(
            f,
            features(&run(3).history, &ctx),
            "same run, same features"
        );
    }

    /// A real Kafka run (a partition leader crashes, later restarts): partitions with a
    /// full ISR, one whose leader died, ISRs shrunk to the minimum, one controller, and
    /// the crash landing on a partition leader while the cluster was stable.
    #[test]
    fn a_broker_crash_run_covers_partition_states_and_the_crash() {
        let s = crate::scenario::load(std::path::Path::new("scenarios/kafka-broker-crash.toml"))
            .expect("scenario loads");
        let o = run_scenario(&s, &RunOptions::default());
        let f = features(&o.history, &Context::of(&s));
        let has = |x: Feature| f.contains(&x);
        assert!(
            has(Feature::KafkaPartition {
                leader: LeaderState::Live,
                isr: IsrSize::Full,
                hw_lag: Lag::None
            }),
            "{f:#?}"
        );
        assert!(f.iter().any(|x| matches!(
            x,
            Feature::KafkaPartition {
                leader: LeaderState::Dead,
                ..
            }
        )));
        assert!(f.iter().any(|x| matches!(
            x,
            Feature::KafkaPartition {
                isr: IsrSize::AtMin,
                ..
            }
        )));
        assert!(has(Feature::KafkaControllers { active: 1 }));
        assert!(f.iter().any(|x| matches!(
            x,
            Feature::FaultLanded {
                kind: FaultKind::Crash,
                hit: HitRole::Controller | HitRole::PartitionLeader,
                zk: ZkClusterPhase::Broadcast,
                kafka: KafkaClusterPhase::Stable,
            }
        )));
        assert!(f.iter().any(|x| matches!(
            x,
            Feature::FaultLanded {
                kind: FaultKind::Restart,
                hit: HitRole::BrokerOut,
                ..
            }
        )));
    }

    /// Power losses count the servers of a layer down from one at once, and those whose
    /// disk was slow; a restart takes a server out of the count.
    #[test]
    fn power_losses_count_servers_down_and_slow_disks() {
        let ev = |at: u64, node: &str, e: SimEvent| EventRecord {
            at: kzsim_sim::SimTime(at),
            node: node.to_string(),
            event: Event::Sim(e),
        };
        let power_loss = || SimEvent::NodeCrashed {
            torn: false,
            disk_lost: false,
            page_cache_kept: false,
        };
        let slow = SimEvent::DiskChanged {
            fsync_min_us: 200_000,
            fsync_max_us: 200_000,
            restored: false,
        };
        let mut h = History::new();
        h.events = vec![
            ev(1, "zk2", slow),
            ev(2, "zk1", power_loss()),
            ev(3, "zk1", SimEvent::NodeStarted { incarnation: 2 }),
            ev(4, "zk2", power_loss()),
            ev(5, "zk3", power_loss()),
            ev(6, "broker1", power_loss()),
        ];
        let ctx = Context {
            zk_servers: vec!["zk1".into(), "zk2".into(), "zk3".into()],
            brokers: vec!["broker1".into()],
            topics: BTreeMap::new(),
        };
        let lost: Vec<Feature> = features(&h, &ctx)
            .into_iter()
            .filter(|f| f.family() == Family::PowerLost)
            .collect();
        let zk = |down, slow_disks| Feature::PowerLost {
            layer: Layer::ZooKeeper,
            down,
            slow_disks,
        };
        assert_eq!(
            lost,
            [
                zk(1, 0),
                zk(1, 1),
                zk(2, 1),
                Feature::PowerLost {
                    layer: Layer::Kafka,
                    down: 1,
                    slow_disks: 0
                }
            ]
        );
    }

    /// ZOOKEEPER-1419's tie: zk1 and zk2 come back at the same zxid, zk1 with current
    /// epoch 2 and zk2 with 1, and look for a leader together; zk3 joins them from
    /// further back. Each pair of looking servers is one feature.
    #[test]
    fn looking_servers_compare_their_votes() {
        let ev = |at: u64, node: &str, e: ZkEvent| EventRecord {
            at: kzsim_sim::SimTime(at),
            node: node.to_string(),
            event: Event::Zk(e),
        };
        let recovered = |last_zxid: i64, current_epoch: u32| ZkEvent::Recovered {
            last_zxid,
            snapshot_zxid: 0,
            accepted_epoch: current_epoch,
            current_epoch,
            log_records: 1,
        };
        let looking = || ZkEvent::RoleChanged {
            role: ZkRole::Looking,
            epoch: 0,
        };
        let mut h = History::new();
        h.events = vec![
            ev(1, "zk1", recovered(0x1_0000_0005, 2)),
            ev(2, "zk1", looking()),
            ev(3, "zk2", recovered(0x1_0000_0005, 1)),
            ev(4, "zk2", looking()),
            ev(5, "zk3", recovered(0x1_0000_0001, 1)),
            ev(6, "zk3", looking()),
        ];
        let ctx = Context {
            zk_servers: vec!["zk1".into(), "zk2".into(), "zk3".into()],
            brokers: vec![],
            topics: BTreeMap::new(),
        };
        let pairs: Vec<Feature> = features(&h, &ctx)
            .into_iter()
            .filter(|f| f.family() == Family::ZkLookingPair)
            .collect();
        let pair = |zxid_equal, epoch_equal| Feature::ZkLookingPair {
            zxid_equal,
            epoch_equal,
        };
        assert_eq!(
            pairs,
            [pair(false, false), pair(false, true), pair(true, false)]
        );
    }

    #[test]
    fn quorum_sizes_and_lags_bucket() {
        assert_eq!(quorum_size(1, 3), QuorumSize::BelowMajority);
        assert_eq!(quorum_size(2, 3), QuorumSize::Majority);
        assert_eq!(quorum_size(3, 3), QuorumSize::All);
        assert_eq!(quorum_size(4, 5), QuorumSize::AboveMajority);
        assert_eq!(quorum_size(2, 4), QuorumSize::BelowMajority);
        assert_eq!(
            [0, 1, 9, 10, 99, 100, -5].map(Lag::of),
            [
                Lag::None,
                Lag::Few,
                Lag::Few,
                Lag::Some,
                Lag::Some,
                Lag::Many,
                Lag::None
            ]
        );
    }
}
