//! Scenario files: one fault story per TOML file, with the cluster it runs on, the
//! workload that exercises it, the faults injected at simulated times, and what a student
//! should see happen.
//!
//! ```toml
//! name = "zk-leader-crash"
//! description = "Crash the ZooKeeper leader; a new one is elected ..."
//! duration = "40s"
//!
//! [zookeeper]
//! servers = 3            # named zk1..zk3; server id N is zkN
//! tick_time = "500ms"
//!
//! [[workload.zk_clients]]
//! count = 3              # named client1..client3 (numbered across all client groups)
//! rate = 20              # operations per second, per client
//! keys = 4
//! mix = { create = 1, set = 2, get = 4, delete = 1, cas-register = 2, multi = 1 }
//! # active = [{ from = "0s", to = "9s" }]  # optional: when they work (default: always)
//!
//! [[faults]]
//! at = "10s"
//! kind = "crash"
//! target = "zk-leader"   # resolved by the runner when the fault fires
//! label = "old-leader"   # later faults may name the resolved node by this label
//!
//! [[faults]]
//! at = "20s"
//! kind = "restart"
//! target = "old-leader"
//!
//! [expect]
//! checkers = "all"       # or a list: ["linearizable", "zk-session", "zab", "elections", "liveness"]
//! zk_leader_within = { after = "10s", within = "5s" }
//! ```
//!
//! [`load`] reads a file; every error names the file, line and key and says what would be
//! valid. [`Scenario::to_toml`] writes a scenario back (for example a shrunk random
//! schedule) so it can be replayed with `kzsim run FILE`.
//!
//! Node names are fixed by the cluster's shape: ZooKeeper servers `zk1..zkN`, brokers
//! `broker1..brokerN` (broker.id N), ZooKeeper clients `client1..`, producers
//! `producer1..`, consumers `consumer1..`, each numbered across all groups of its kind in
//! file order. Faults may name any of them.

mod conf;
mod duration;
mod encode;
mod error;
mod load;
mod spanned;
pub mod standard;

pub use duration::{
    format_duration, format_signed_ms, parse_duration, parse_fsync_latency, parse_signed_duration,
    FSYNC_LATENCY_MAX,
};
pub use error::ScenarioError;
pub use load::{load, load_dir, parse, FAULT_KINDS};

use kzsim_sim::world::CrashOptions;
use kzsim_sim::NetConfig;
use std::collections::BTreeSet;
use std::time::Duration;

/// One fault story, fully resolved: configuration files it referenced have been read and
/// every default filled in, so the runner needs nothing but this value.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Short identifier, e.g. `"zk-leader-crash"`.
    pub name: String,
    /// What happens and what to watch for, written for a student.
    pub description: String,
    /// Simulated time the run lasts (faults fire at or before it).
    pub duration: Duration,
    /// Unix time in milliseconds that the simulated wall clock reads at simulated time
    /// zero (znode ctime/mtime, Kafka's znode timestamps). File: `wall_clock_start =
    /// "2026-01-01T00:00:00Z"` (RFC 3339); default
    /// [`crate::cluster::DEFAULT_WALL_CLOCK_START_MS`].
    pub wall_clock_start_ms: i64,
    /// The servers.
    pub cluster: Cluster,
    /// The clients and what they do.
    pub workload: Workload,
    /// Faults in non-decreasing order of `at`.
    pub faults: Vec<TimedFault>,
    /// Checkers that must pass and behaviours the run should show.
    pub expect: Expectations,
}

/// The servers of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// The ZooKeeper ensemble (always present: Kafka here runs in ZooKeeper mode).
    pub zookeeper: ZkEnsemble,
    /// Kafka brokers, if the story has any.
    pub kafka: Option<KafkaCluster>,
}

/// ZooKeeper ensemble settings, with zoo.cfg's meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct ZkEnsemble {
    /// Number of voting servers, named `zk1..zkN` (server id N).
    pub servers: u32,
    /// zoo.cfg `tickTime` (default 2 s).
    pub tick_time: Duration,
    /// zoo.cfg `initLimit`, in ticks (default 10).
    pub init_limit: u32,
    /// zoo.cfg `syncLimit`, in ticks (default 5).
    pub sync_limit: u32,
    /// `readonlymode.enabled`: a server cut off from a quorum serves reads to read-only
    /// clients instead of closing their connections (default false).
    pub read_only: bool,
    /// `snapCount`: a snapshot after roughly this many transactions (default 100000).
    pub snap_count: u64,
    /// `autopurge.snapRetainCount` when autopurge is on (`autopurge.purgeInterval` > 0):
    /// keep this many snapshots (at least 3) and the logs they need. `None`: autopurge off,
    /// ZooKeeper's default.
    pub purge_retain: Option<u32>,
    /// How long each fsync of a server's disk takes: a uniform draw from `[min, max]`.
    /// `None`: the simulator's default of 0.5–2 ms (an SSD). A spinning disk takes
    /// 10–20 ms, longer than a network round trip, which is what lets a follower that
    /// ACKs before its fsync (the `zk-ack-before-fsync` flag) acknowledge a write it then
    /// loses in a power cut. The setting applies to every node's disk in the run.
    /// File: `fsync_latency = "20ms"` or `"10ms..30ms"`.
    pub fsync_latency: Option<(Duration, Duration)>,
}

impl Default for ZkEnsemble {
    fn default() -> Self {
        ZkEnsemble {
            servers: 3,
            tick_time: Duration::from_secs(2),
            init_limit: 10,
            sync_limit: 5,
            read_only: false,
            snap_count: 100_000,
            purge_retain: None,
            fsync_latency: None,
        }
    }
}

/// Kafka brokers (ZooKeeper mode) with server.properties' meaning. Defaults are Kafka 2.8's.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaCluster {
    /// Number of brokers, named `broker1..brokerN` (broker.id N).
    pub brokers: u32,
    /// `zookeeper.session.timeout.ms` (default 18 s).
    pub zk_session_timeout: Duration,
    /// `replica.lag.time.max.ms` (default 30 s).
    pub replica_lag_time_max: Duration,
    /// `unclean.leader.election.enable`, the broker default (default false).
    pub unclean_leader_election: bool,
    /// `min.insync.replicas`, the broker default (default 1).
    pub min_insync_replicas: u32,
    /// `log.flush.interval.messages` (default never, `i64::MAX`): records are fsynced every
    /// this many messages; otherwise only the OS writes them back, and a power loss can
    /// lose acknowledged records from a broker's page cache.
    pub log_flush_interval_messages: u64,
    /// Topics created before the workload starts; their settings are resolved against the
    /// broker defaults above.
    pub topics: Vec<Topic>,
}

/// A topic with every setting resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// Number of partitions, numbered from 0.
    pub partitions: u32,
    /// Replicas per partition; at most the number of brokers.
    pub replication_factor: u32,
    /// `min.insync.replicas` for this topic; at most `replication_factor`.
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable` for this topic.
    pub unclean_leader_election: bool,
}

/// The clients of a scenario. They run from time zero to the end of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    /// ZooKeeper clients, in groups sharing one behaviour.
    pub zk_clients: Vec<ZkClientGroup>,
    /// Kafka producers.
    pub producers: Vec<ProducerGroup>,
    /// Kafka consumer groups.
    pub consumer_groups: Vec<ConsumerGroup>,
}

/// `count` ZooKeeper clients doing the same random operation mix.
#[derive(Clone, Debug, PartialEq)]
pub struct ZkClientGroup {
    /// Number of clients in the group.
    pub count: u32,
    /// Relative weight of each operation kind; kinds absent are never chosen. At least one
    /// weight is positive.
    pub mix: Vec<(ZkOpKind, u32)>,
    /// Number of distinct keys (znodes `/k0..`) the clients operate on.
    pub keys: u32,
    /// Operations per second, per client.
    pub rate_per_sec: u32,
    /// Session timeout the clients request (the server clamps it to 2..20 ticks).
    pub session_timeout: Duration,
    /// When the clients work, as `[from, to)` windows of time since the start of the run,
    /// in order; empty: the whole run. Outside its windows a client sends no request (its
    /// session stays open and pings); a recipe round still running when its window closes
    /// wraps up at once (a lock is released or given up, a member leaves), and a `silent`
    /// round starts only if it ends inside the window. File:
    /// `active = { from = "0s", to = "9s" }` or an array of them.
    pub active: Vec<(Duration, Duration)>,
}

impl ZkClientGroup {
    /// Where `now` (since the start of the run) falls among the group's windows.
    pub fn window_at(&self, now: Duration) -> ClientWindow {
        if self.active.is_empty() {
            return ClientWindow::Active { until: None };
        }
        for &(from, to) in &self.active {
            if now < from {
                return ClientWindow::Wait { until: from };
            }
            if now < to {
                return ClientWindow::Active { until: Some(to) };
            }
        }
        ClientWindow::Done
    }
}

/// Where a moment falls among a client group's active windows
/// ([`ZkClientGroup::window_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientWindow {
    /// Inside a window that closes at `until` (`None`: never).
    Active { until: Option<Duration> },
    /// Between windows: the next one opens at `until`.
    Wait { until: Duration },
    /// After the last window.
    Done,
}

/// A ZooKeeper operation a client workload can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZkOpKind {
    /// `create` of a key (NodeExists if present).
    Create,
    /// Unconditional `setData`.
    Set,
    /// `getData`.
    Get,
    /// Unconditional `delete`.
    Delete,
    /// Compare-and-set register: `setData` with the version last read (BadVersion if
    /// someone wrote in between). The linearizability checker's favourite.
    CasRegister,
    /// A guarded enqueue, one `multi`: create a sequential child `/kN/item-` (unique data)
    /// and `setData` another key `/kM` with the version read just before. It fails as a
    /// whole (BadVersion, nothing changed) when someone wrote `/kM` in between. The
    /// sequential numbers under `/kN` must not notice a failed multi (ZOOKEEPER-1624).
    /// With one key, `/kM` is `/kN` itself. File form: `multi`.
    Multi,
    /// `get -w`: getData on a key, leaving a data watch. File form: `get-w`.
    GetW,
    /// `exists -w`: exists on a key (a data watch if it exists, else one that fires on
    /// creation). File form: `exists-w`.
    ExistsW,
    /// `ls -w`: getChildren on a key, leaving a child watch. File form: `ls-w`.
    LsW,
    /// One round of the lock recipe (ZooKeeper Recipes, "Locks"): create an ephemeral
    /// sequential `/lock/lock-<guid>-`, list `/lock`, watch the predecessor with `exists -w`
    /// until the own node is the lowest, then, holding the lock, write a fencing record
    /// (`setData /lock` by version, carrying the holder's token: its node's name), and
    /// release by deleting the own node. File form: `lock`.
    Lock,
    /// One round of group membership (ZooKeeper Recipes, "Group Membership"): join with
    /// an ephemeral sequential `/group/member-<guid>-`, then follow the membership with
    /// `ls -w /group` for a while, re-listing on every NodeChildrenChanged. File form:
    /// `member`.
    Member,
    /// The client process hangs (a long GC pause) for longer than its session timeout, so
    /// the leader expires its session; it then opens a new one. File form: `silent`.
    Silent,
}

impl ZkOpKind {
    /// True for kinds that write (all but the reads and `silent`).
    pub fn writes(self) -> bool {
        !matches!(
            self,
            ZkOpKind::Get | ZkOpKind::GetW | ZkOpKind::ExistsW | ZkOpKind::LsW | ZkOpKind::Silent
        )
    }

    /// True for kinds that leave watches (the `-w` reads and both recipes).
    pub fn sets_watches(self) -> bool {
        matches!(
            self,
            ZkOpKind::GetW | ZkOpKind::ExistsW | ZkOpKind::LsW | ZkOpKind::Lock | ZkOpKind::Member
        )
    }

    /// True for kinds that create ephemerals (both recipes).
    pub fn creates_ephemerals(self) -> bool {
        matches!(self, ZkOpKind::Lock | ZkOpKind::Member)
    }

    /// Every kind, in file order.
    pub const ALL: [ZkOpKind; 12] = [
        ZkOpKind::Create,
        ZkOpKind::Set,
        ZkOpKind::Get,
        ZkOpKind::Delete,
        ZkOpKind::CasRegister,
        ZkOpKind::Multi,
        ZkOpKind::GetW,
        ZkOpKind::ExistsW,
        ZkOpKind::LsW,
        ZkOpKind::Lock,
        ZkOpKind::Member,
        ZkOpKind::Silent,
    ];
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            ZkOpKind::Create => "create",
            ZkOpKind::Set => "set",
            ZkOpKind::Get => "get",
            ZkOpKind::Delete => "delete",
            ZkOpKind::CasRegister => "cas-register",
            ZkOpKind::Multi => "multi",
            ZkOpKind::GetW => "get-w",
            ZkOpKind::ExistsW => "exists-w",
            ZkOpKind::LsW => "ls-w",
            ZkOpKind::Lock => "lock",
            ZkOpKind::Member => "member",
            ZkOpKind::Silent => "silent",
        }
    }
}

/// `count` producers writing to one topic.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerGroup {
    /// Number of producers in the group.
    pub count: u32,
    /// The topic (declared in the cluster); records go round-robin over its partitions.
    pub topic: String,
    /// Which acknowledgement the producers wait for.
    pub acks: Acks,
    /// Records per second, per producer.
    pub rate_per_sec: u32,
}

/// Kafka's `acks` producer setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Acks {
    /// `acks=0`: fire and forget; nothing is acknowledged, so nothing acknowledged is lost.
    None,
    /// `acks=1`: acknowledged after the leader's append; may legitimately be lost.
    Leader,
    /// `acks=all` (-1): acknowledged once every ISR member has it and HW passed it;
    /// refused with NOT_ENOUGH_REPLICAS while |ISR| < min.insync.replicas.
    All,
}

impl Acks {
    /// The name used in scenario files: `"0"`, `"1"` or `"all"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// A consumer group of `members` consumers subscribed to `topics`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsumerGroup {
    /// group.id.
    pub group: String,
    /// Topics subscribed (declared in the cluster).
    pub topics: Vec<String>,
    /// Number of consumers.
    pub members: u32,
}

/// A fault and when it fires.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// If set, the node this fault's single target resolved to is remembered under this
    /// name, and later faults may use it as [`Target::Label`]. Only faults with a single
    /// target (crash, restart, pause, resume, clock-skew, slow-disk) may carry a label.
    pub label: Option<String>,
    /// What happens.
    pub fault: Fault,
    /// If set, the fault waits from `at` for this protocol moment and fires that long
    /// after it; it is skipped if the moment does not come before the next fault's `at`
    /// (or the end of the run). File: `after = "zk-sync"`, `after_delay = "2ms"`.
    pub after: Option<AfterMoment>,
}

/// A protocol moment a fault waits for, and how long after it the fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfterMoment {
    /// The moment.
    pub moment: Moment,
    /// How long after it.
    pub delay: Duration,
}

/// The protocol moments a fault can be aimed at: each is one kind of recorded event, so a
/// fault lands inside the protocol step that event starts (an election decided, a sync
/// sent, a proposal made, ...) rather than at a time chosen blind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moment {
    /// A ZooKeeper server decided an election (`ElectionDecided`): the new leader is about
    /// to propose an epoch and sync its followers.
    ZkElection,
    /// A would-be leader proposed a new epoch (`EpochProposed`).
    ZkNewEpoch,
    /// A ZooKeeper leader sent a follower DIFF, TRUNC or SNAP (`SyncSent`).
    ZkSync,
    /// A ZooKeeper leader proposed a transaction (`Proposed`).
    ZkProposal,
    /// A Kafka broker won the controller election (`ControllerElected`).
    KafkaControllerElection,
    /// A Kafka broker became a partition's leader (`LeaderAndIsrApplied` naming itself).
    KafkaLeaderChange,
    /// A Kafka leader changed a partition's ISR (`IsrChanged`).
    KafkaIsrChange,
    /// A Kafka replica truncated its log (`LogTruncated`).
    KafkaTruncation,
}

impl Moment {
    /// Every moment, in file-name order of the enum.
    pub const ALL: [Moment; 8] = [
        Moment::ZkElection,
        Moment::ZkNewEpoch,
        Moment::ZkSync,
        Moment::ZkProposal,
        Moment::KafkaControllerElection,
        Moment::KafkaLeaderChange,
        Moment::KafkaIsrChange,
        Moment::KafkaTruncation,
    ];

    /// The name scenario files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Moment::ZkElection => "zk-election",
            Moment::ZkNewEpoch => "zk-new-epoch",
            Moment::ZkSync => "zk-sync",
            Moment::ZkProposal => "zk-proposal",
            Moment::KafkaControllerElection => "kafka-controller-election",
            Moment::KafkaLeaderChange => "kafka-leader-change",
            Moment::KafkaIsrChange => "kafka-isr-change",
            Moment::KafkaTruncation => "kafka-truncation",
        }
    }

    /// The moment a file names, if any.
    pub fn from_name(name: &str) -> Option<Moment> {
        Moment::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// True for moments only a cluster with Kafka brokers has.
    pub fn needs_kafka(self) -> bool {
        matches!(
            self,
            Moment::KafkaControllerElection
                | Moment::KafkaLeaderChange
                | Moment::KafkaIsrChange
                | Moment::KafkaTruncation
        )
    }

    /// True if `event` is this moment.
    pub fn is(self, event: &crate::history::Event) -> bool {
        use crate::history::{Event, KafkaEvent, ZkEvent};
        match (self, event) {
            (Moment::ZkElection, Event::Zk(ZkEvent::ElectionDecided { .. }))
            | (Moment::ZkNewEpoch, Event::Zk(ZkEvent::EpochProposed { .. }))
            | (Moment::ZkSync, Event::Zk(ZkEvent::SyncSent { .. }))
            | (Moment::ZkProposal, Event::Zk(ZkEvent::Proposed { .. }))
            | (
                Moment::KafkaControllerElection,
                Event::Kafka(KafkaEvent::ControllerElected { .. }),
            )
            | (Moment::KafkaIsrChange, Event::Kafka(KafkaEvent::IsrChanged { .. }))
            | (Moment::KafkaTruncation, Event::Kafka(KafkaEvent::LogTruncated { .. })) => true,
            (
                Moment::KafkaLeaderChange,
                Event::Kafka(KafkaEvent::LeaderAndIsrApplied { broker, leader, .. }),
            ) => *leader == *broker as i32,
            _ => false,
        }
    }
}

/// Which node a fault hits. Role targets are resolved by the runner at the moment the
/// fault fires; if the role has no holder then (no ZooKeeper leader during an election),
/// the runner records that and the fault does nothing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// A node by name (`zk2`, `broker1`, `client3`, ...). File form: the name.
    Node(String),
    /// The current ZooKeeper leader. File form: `"zk-leader"`.
    ZkLeader,
    /// A server following the current leader: the first by name among those up and
    /// FOLLOWING. Two faults in a row at the same instant, each with a label, name two
    /// different followers (the first is down by the time the second resolves).
    /// File form: `"zk-follower"`.
    ZkFollower,
    /// The broker holding `/controller`. File form: `"controller"`.
    Controller,
    /// The broker leading a partition. File form: `"leader:TOPIC/PARTITION"`.
    PartitionLeader {
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: u32,
    },
    /// The node an earlier fault's `label` named. File form: the label.
    Label(String),
}

/// What happens to a crashed node's disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiskLoss {
    /// Only the process dies (`kill -9`): the OS keeps its page cache, so even writes never
    /// fsynced survive (the default). File form: `"none"`.
    #[default]
    None,
    /// Power loss: writes not yet fsynced are lost. Kafka does not fsync per write, so this
    /// is the fault that can cost a broker acknowledged records (KIP-966). File form:
    /// `"unsynced-tail"`.
    UnsyncedTail,
    /// As `UnsyncedTail`, and the last record is left half written. File form: `"torn-tail"`.
    TornTail,
    /// The whole disk is gone (a replaced machine). File form: `"whole"`.
    Whole,
}

impl DiskLoss {
    /// Every kind, in the order error messages list them.
    pub const ALL: [DiskLoss; 4] = [
        DiskLoss::None,
        DiskLoss::UnsyncedTail,
        DiskLoss::TornTail,
        DiskLoss::Whole,
    ];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskLoss::None => "none",
            DiskLoss::UnsyncedTail => "unsynced-tail",
            DiskLoss::TornTail => "torn-tail",
            DiskLoss::Whole => "whole",
        }
    }

    /// The kind a scenario file names, if any.
    pub fn from_name(name: &str) -> Option<DiskLoss> {
        DiskLoss::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// True if writes that were never fsynced are lost (power loss or a lost disk).
    pub fn loses_unsynced(self) -> bool {
        self != DiskLoss::None
    }

    /// The simulator's crash options for this loss.
    pub fn crash_options(self) -> CrashOptions {
        CrashOptions {
            page_cache_kept: self == DiskLoss::None,
            torn: self == DiskLoss::TornTail,
            lose_disk: self == DiskLoss::Whole,
        }
    }
}

/// One fault. Faults that do not apply (restarting a running node, resuming one not
/// paused, crashing one already down) are recorded by the runner and otherwise ignored.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Kill the process; `disk` says what its disk keeps. File: `kind = "crash"`.
    Crash { target: Target, disk: DiskLoss },
    /// Start a crashed node again from its disk. File: `kind = "restart"`.
    Restart { target: Target },
    /// Freeze the process (a long GC or VM pause): its timers and messages wait, time goes
    /// on. With `duration` it resumes by itself after that long. File: `kind = "pause"`.
    Pause {
        target: Target,
        duration: Option<Duration>,
    },
    /// Unfreeze a paused process. File: `kind = "resume"`.
    Resume { target: Target },
    /// Split the network: nodes in different groups cannot talk. Nodes named in no group
    /// form one more group together ("the rest"); see [`complete_groups`]. Replaces an
    /// earlier partition; one-way cuts stay. File: `kind = "partition"`, or
    /// `kind = "isolate"` with one `target` as shorthand for `groups = [[target]]`.
    Partition { groups: Vec<Vec<Target>> },
    /// Drop traffic from every node of `from` to every node of `to` (the reverse still
    /// flows). File: `kind = "cut"`.
    Cut { from: Vec<Target>, to: Vec<Target> },
    /// Remove every partition and cut. File: `kind = "heal"`.
    Heal,
    /// Change message loss and/or latency for the whole network; `None` keeps the current
    /// value. File: `kind = "net"`, `loss = "5%"`, `latency = ["10ms", "50ms"]`.
    Net {
        loss_permille: Option<u32>,
        latency: Option<(Duration, Duration)>,
    },
    /// Set a node's clock offset (signed, in milliseconds) and drift.
    /// File: `kind = "clock-skew"`, `offset = "-2s"`, `drift_ppm = 100`.
    ClockSkew {
        target: Target,
        offset_ms: i64,
        drift_ppm: i64,
    },
    /// Slow down a node's disk: every fsync it issues from now on takes `fsync_latency`
    /// (a uniform draw from `[min, max]`) instead of the run's configured latency, until
    /// another slow-disk fault changes it or a heal-all restores it. It hits whatever writes
    /// to that node's disk: a ZooKeeper server's transaction log (a follower ACKs, and a
    /// leader counts its own ACK, only after the fsync; a synchronizing follower acknowledges
    /// NEWLEADER only once its log and epoch files are durable) and a broker's log segments
    /// (the OS writeback that makes them durable lands later, so a power loss loses more).
    /// File: `kind = "slow-disk"`, `target = "zk2"`, `fsync_latency = "200ms"` or
    /// `"50ms..400ms"` (at most 10s, as `[zookeeper] fsync_latency`).
    SlowDisk {
        target: Target,
        fsync_latency: (Duration, Duration),
    },
    /// Heal the network, restore default loss and latency, reset every clock, restore every
    /// slowed disk, resume every paused node and restart every crashed one. Random schedules
    /// end with it so liveness can be checked. File: `kind = "heal-all"`.
    HealAll,
}

impl Fault {
    /// The `kind` string used in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Crash { .. } => "crash",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::Partition { .. } => "partition",
            Fault::Cut { .. } => "cut",
            Fault::Heal => "heal",
            Fault::Net { .. } => "net",
            Fault::ClockSkew { .. } => "clock-skew",
            Fault::SlowDisk { .. } => "slow-disk",
            Fault::HealAll => "heal-all",
        }
    }
    /// The single node this fault hits, for faults that have one.
    pub fn single_target(&self) -> Option<&Target> {
        match self {
            Fault::Crash { target, .. }
            | Fault::Restart { target }
            | Fault::Pause { target, .. }
            | Fault::Resume { target }
            | Fault::ClockSkew { target, .. }
            | Fault::SlowDisk { target, .. } => Some(target),
            _ => None,
        }
    }
    /// `current` with this fault's loss and latency changes applied (for [`Fault::Net`];
    /// other faults return `current` unchanged).
    pub fn apply_net(&self, current: &NetConfig) -> NetConfig {
        let mut next = current.clone();
        if let Fault::Net {
            loss_permille,
            latency,
        } = self
        {
            if let Some(l) = loss_permille {
                next.loss_permille = *l;
            }
            if let Some((lo, hi)) = latency {
                let lo_us = lo.as_micros() as u64;
                let hi_us = (hi.as_micros() as u64).max(lo_us + 1);
                next.latency_us = lo_us..hi_us;
            }
        }
        next
    }
}

/// A scenario's fsync latency `[min, max]` as the simulator's half-open microsecond range
/// (`a..a` is always `a`): what [`ZkEnsemble::fsync_latency`] and [`Fault::SlowDisk`] set.
pub fn fsync_latency_us((lo, hi): (Duration, Duration)) -> std::ops::Range<u64> {
    let lo_us = lo.as_micros() as u64;
    lo_us..(hi.as_micros() as u64).max(lo_us)
}

/// `"200ms"` or `"50ms..400ms"`: an fsync latency `[min, max]` as scenario files write it.
pub fn format_fsync_latency((lo, hi): (Duration, Duration)) -> String {
    if lo == hi {
        format_duration(lo)
    } else {
        format!("{}..{}", format_duration(lo), format_duration(hi))
    }
}

/// Completes resolved partition groups with "the rest": every node of `all` named in no
/// group forms one more group (omitted if empty). This is the scenario semantics of
/// [`Fault::Partition`]; the simulator itself would leave such nodes alone.
pub fn complete_groups(groups: &[Vec<String>], all: &[String]) -> Vec<Vec<String>> {
    let named: BTreeSet<&String> = groups.iter().flatten().collect();
    let rest: Vec<String> = all.iter().filter(|n| !named.contains(n)).cloned().collect();
    let mut out = groups.to_vec();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Checkers a scenario requires to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckerName {
    /// `"linearizable"`: ZooKeeper writes (and sync+read) are linearizable.
    Linearizable,
    /// `"zk-session"`: ZooKeeper's per-session guarantees (FIFO order, read-your-writes,
    /// monotonic reads, ephemerals die with their session).
    ZkSession,
    /// `"zab"`: ZAB's properties (agreement, total order, primary order).
    Zab,
    /// `"elections"`: one ZooKeeper leader per epoch, one controller per controller epoch,
    /// one partition leader per leader epoch.
    Elections,
    /// `"kafka-durability"`: no acknowledged record is lost (subject to the expectations'
    /// allowances).
    KafkaDurability,
    /// `"kafka-log-agreement"`: replicas agree on their logs up to the high watermark.
    KafkaLogAgreement,
    /// `"kafka-consumers"`: consumers see what was acknowledged, once, in order (Jepsen's
    /// Kafka anomalies: lost write, duplicate, poll skip, non-monotonic poll and send,
    /// unseen, committed-offset regression), fetches agree per offset and stay below the
    /// high watermark, and one consumer owns a partition per group generation.
    KafkaConsumers,
    /// `"liveness"`: after the last fault heals, the system serves requests again (a
    /// ZooKeeper leader, a served write; with brokers, every partition led by a live broker
    /// with a full ISR).
    Liveness,
    /// `"zk-watches"`: watches fire once, in zxid order, before the data they announce
    /// (`zk.watches.once`, `zk.watches.ordered`, `zk.watches.before-data`).
    ZkWatches,
    /// `"zk-ephemerals"`: an ephemeral lives exactly as long as its session
    /// (`zk.ephemerals.lifetime`).
    ZkEphemerals,
    /// `"zk-session-life"`: a silent session expires within (timeout, timeout + tickTime]
    /// by the leader's clock, and a session that is heard never expires
    /// (`zk.sessions.expiry-bounds`, `zk.sessions.no-false-expiry`).
    ZkSessionLife,
    /// `"zk-lock"`: the lock recipe's invariants (`zk.lock.one-holder`,
    /// `zk.lock.token-order`, `zk.lock.predecessors-gone`).
    ZkLock,
    /// `"zk-group"`: a group member's view converges to the live membership
    /// (`zk.group.converges`).
    ZkGroup,
}

impl CheckerName {
    /// Every checker, in file order.
    pub const ALL: [CheckerName; 13] = [
        CheckerName::Linearizable,
        CheckerName::ZkSession,
        CheckerName::Zab,
        CheckerName::Elections,
        CheckerName::KafkaDurability,
        CheckerName::KafkaLogAgreement,
        CheckerName::KafkaConsumers,
        CheckerName::Liveness,
        CheckerName::ZkWatches,
        CheckerName::ZkEphemerals,
        CheckerName::ZkSessionLife,
        CheckerName::ZkLock,
        CheckerName::ZkGroup,
    ];
    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckerName::Linearizable => "linearizable",
            CheckerName::ZkSession => "zk-session",
            CheckerName::Zab => "zab",
            CheckerName::Elections => "elections",
            CheckerName::KafkaDurability => "kafka-durability",
            CheckerName::KafkaLogAgreement => "kafka-log-agreement",
            CheckerName::KafkaConsumers => "kafka-consumers",
            CheckerName::Liveness => "liveness",
            CheckerName::ZkWatches => "zk-watches",
            CheckerName::ZkEphemerals => "zk-ephemerals",
            CheckerName::ZkSessionLife => "zk-session-life",
            CheckerName::ZkLock => "zk-lock",
            CheckerName::ZkGroup => "zk-group",
        }
    }
    /// Why the cluster and workload of `s` cannot feed this checker anything to judge, or
    /// `None` if they can. A checker that could only say "nothing to judge" is an error in
    /// a scenario that names it, and is left out where a scenario asks for `"all"`.
    pub fn cannot_feed(self, s: &Scenario) -> Option<String> {
        let w = &s.workload;
        let zk_clients = w.zk_clients.iter().any(|g| g.count > 0);
        let zk_writers = w
            .zk_clients
            .iter()
            .any(|g| g.count > 0 && g.mix.iter().any(|(k, weight)| *weight > 0 && k.writes()));
        let zk_kind = |f: fn(ZkOpKind) -> bool| {
            w.zk_clients
                .iter()
                .any(|g| g.count > 0 && g.mix.iter().any(|(k, weight)| *weight > 0 && f(*k)))
        };
        let producers = w.producers.iter().any(|g| g.count > 0);
        let consumers = w.consumer_groups.iter().any(|g| g.members > 0);
        let kafka = s.cluster.kafka.as_ref();
        let topics = kafka.is_some_and(|k| !k.topics.is_empty());
        // Brokers are recorded ZooKeeper clients: each registers an ephemeral
        // /brokers/ids/<id> and the controller watches /brokers/ids, /brokers/topics and
        // /isr_change_notification, which the brokers and the topic admin change.
        let brokers = kafka.is_some_and(|k| k.brokers > 0);
        match self {
            CheckerName::Linearizable if !zk_writers => Some(
                "it judges acknowledged ZooKeeper writes, and no [[workload.zk_clients]] group has a write in its mix".into(),
            ),
            CheckerName::ZkSession if !zk_clients => Some(
                "it judges ZooKeeper client sessions, and the workload has no [[workload.zk_clients]]".into(),
            ),
            CheckerName::KafkaDurability if kafka.is_none() || !producers => Some(
                "it judges acknowledged produces, and the scenario has no [kafka] brokers with [[workload.producers]]".into(),
            ),
            CheckerName::KafkaLogAgreement if !topics => Some(
                "it compares replica logs, and the scenario has no [kafka] topic".into(),
            ),
            CheckerName::KafkaConsumers if kafka.is_none() || !consumers || !producers => Some(
                "it judges what consumers read of what was produced, and the scenario lacks [kafka] brokers, [[workload.producers]] or [[workload.consumer_groups]]".into(),
            ),
            CheckerName::ZkWatches if !brokers && !zk_kind(ZkOpKind::sets_watches) => Some(
                "it judges watch notifications, and the scenario has no [kafka] brokers and no [[workload.zk_clients]] group with a watch-setting kind (get-w, exists-w, ls-w, lock, member) in its mix".into(),
            ),
            CheckerName::ZkEphemerals if !brokers && !zk_kind(ZkOpKind::creates_ephemerals) => Some(
                "it judges ephemeral znodes of recorded clients, and the scenario has no [kafka] brokers and no [[workload.zk_clients]] group with lock or member in its mix".into(),
            ),
            // Brokers' sessions expire only when a fault makes them (a run without one would
            // have no expiry to judge): a silent client is what guarantees one.
            CheckerName::ZkSessionLife if !zk_kind(|k| k == ZkOpKind::Silent) => Some(
                "it judges session expiry, and no [[workload.zk_clients]] group has silent in its mix".into(),
            ),
            CheckerName::ZkLock if !zk_kind(|k| k == ZkOpKind::Lock) => Some(
                "it judges the lock recipe, and no [[workload.zk_clients]] group has lock in its mix".into(),
            ),
            CheckerName::ZkGroup if !zk_kind(|k| k == ZkOpKind::Member) => Some(
                "it judges group membership views, and no [[workload.zk_clients]] group has member in its mix".into(),
            ),
            CheckerName::Liveness if !zk_writers && !producers => Some(
                "it needs a client write after the last fault heals, and the workload has no ZooKeeper writer or producer".into(),
            ),
            _ => None,
        }
    }
}

impl Scenario {
    /// Every checker this scenario's cluster and workload can feed (what `checkers = "all"`
    /// selects).
    pub fn applicable_checkers(&self) -> BTreeSet<CheckerName> {
        CheckerName::ALL
            .into_iter()
            .filter(|c| c.cannot_feed(self).is_none())
            .collect()
    }
}

/// What the run must show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expectations {
    /// Checkers that must pass.
    pub checkers: BTreeSet<CheckerName>,
    /// Behaviours the story teaches; the runner reports each as seen or not seen.
    pub teaching: Vec<Teaching>,
}

/// A behaviour a scenario expects the run to show. Times are simulated times since the
/// start of the run.
#[derive(Clone, Debug, PartialEq)]
pub enum Teaching {
    /// No ZooKeeper write succeeds with a start time in `[from, to]`.
    /// File: `writes_unavailable = { from = "10s", to = "20s" }` (or an array of them).
    WritesUnavailable { from: Duration, to: Duration },
    /// At least one ZooKeeper write started in `[from, to]` succeeds.
    /// File: `writes_available = { from, to }`.
    WritesAvailable { from: Duration, to: Duration },
    /// Some ZooKeeper server is an established leader (has completed ZAB synchronization)
    /// at some time in `[after, after + within]`, having been elected after `after`.
    /// File: `zk_leader_within = { after, within }`.
    ZkLeaderWithin { after: Duration, within: Duration },
    /// While no quorum exists, reads fail (ConnectionLoss) rather than return data, unless
    /// the ensemble runs in read-only mode. File: `reads_fail_without_quorum = true`.
    ReadsFailWithoutQuorum,
    /// A new controller epoch is written in `[after, after + within]`.
    /// File: `new_controller_epoch = { after, within }`.
    NewControllerEpoch { after: Duration, within: Duration },
    /// A new leader epoch for the partition is written in `[after, after + within]`.
    /// File: `partition_leader_within = { topic, partition, after, within }`.
    PartitionLeaderWithin {
        topic: String,
        partition: u32,
        after: Duration,
        within: Duration,
    },
    /// The ephemeral znode `path` is deleted (its session expired) in
    /// `[after, after + within]`. File: `ephemeral_gone = { path, after, within }`.
    EphemeralGone {
        path: String,
        after: Duration,
        within: Duration,
    },
    /// Losing acks=1 records is reported but allowed (acks=1 promises no more).
    /// File: `acks1_losses_allowed = true`.
    Acks1LossesAllowed,
    /// Losing acknowledged records because an out-of-sync replica was elected (unclean
    /// leader election enabled) is reported but allowed by that configuration.
    /// File: `unclean_losses_allowed = true`.
    UncleanLossesAllowed,
}

impl Scenario {
    /// `zk1..zkN`.
    pub fn zk_server_names(&self) -> Vec<String> {
        (1..=self.cluster.zookeeper.servers)
            .map(|i| format!("zk{i}"))
            .collect()
    }
    /// `broker1..brokerN` (empty without Kafka).
    pub fn broker_names(&self) -> Vec<String> {
        let n = self.cluster.kafka.as_ref().map_or(0, |k| k.brokers);
        (1..=n).map(|i| format!("broker{i}")).collect()
    }
    /// ZooKeeper client names with the index of their group in `workload.zk_clients`.
    pub fn zk_client_names(&self) -> Vec<(String, usize)> {
        numbered("client", self.workload.zk_clients.iter().map(|g| g.count))
    }
    /// Producer names with the index of their group in `workload.producers`.
    pub fn producer_names(&self) -> Vec<(String, usize)> {
        numbered("producer", self.workload.producers.iter().map(|g| g.count))
    }
    /// Consumer names with the index of their group in `workload.consumer_groups`.
    pub fn consumer_names(&self) -> Vec<(String, usize)> {
        numbered(
            "consumer",
            self.workload.consumer_groups.iter().map(|g| g.members),
        )
    }
    /// Every node of the run: servers, brokers, then clients, producers and consumers.
    pub fn node_names(&self) -> Vec<String> {
        let mut all = self.zk_server_names();
        all.extend(self.broker_names());
        all.extend(self.zk_client_names().into_iter().map(|(n, _)| n));
        all.extend(self.producer_names().into_iter().map(|(n, _)| n));
        all.extend(self.consumer_names().into_iter().map(|(n, _)| n));
        all
    }
    /// This scenario with its faults replaced (for replaying a random schedule).
    pub fn with_faults(&self, faults: Vec<TimedFault>) -> Scenario {
        Scenario {
            faults,
            ..self.clone()
        }
    }
}

/// Parses an RFC 3339 instant (`2026-01-01T00:00:00Z`) into Unix milliseconds, or says
/// what is wrong with it.
pub fn parse_wall_clock_start(text: &str) -> Result<i64, String> {
    let t = humantime::parse_rfc3339(text.trim()).map_err(|e| {
        format!("{text:?} is not an RFC 3339 instant like \"2026-01-01T00:00:00Z\": {e}")
    })?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970-01-01T00:00:00Z"))?;
    i64::try_from(since.as_millis()).map_err(|_| format!("{text:?} is too far in the future"))
}

/// Formats Unix milliseconds as the RFC 3339 instant [`parse_wall_clock_start`] reads.
pub fn format_wall_clock_start(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339_millis(t).to_string()
    }
}

fn numbered(prefix: &str, counts: impl Iterator<Item = u32>) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (group, count) in counts.enumerate() {
        for _ in 0..count {
            out.push((format!("{prefix}{}", out.len() + 1), group));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_of_the_nodes_form_one_group() {
        let all: Vec<String> = ["zk1", "zk2", "zk3", "client1"].map(String::from).to_vec();
        let g = complete_groups(&[vec!["zk1".into()]], &all);
        assert_eq!(
            g,
            vec![
                vec!["zk1".to_string()],
                vec!["zk2".into(), "zk3".into(), "client1".into()]
            ]
        );
        let whole = complete_groups(std::slice::from_ref(&all), &all);
        assert_eq!(whole, vec![all]);
    }

    #[test]
    fn net_fault_changes_only_what_it_names() {
        let base = NetConfig::default();
        let f = Fault::Net {
            loss_permille: Some(50),
            latency: None,
        };
        let n = f.apply_net(&base);
        assert_eq!(n.loss_permille, 50);
        assert_eq!(n.latency_us, base.latency_us);
        let f = Fault::Net {
            loss_permille: None,
            latency: Some((Duration::from_millis(10), Duration::from_millis(10))),
        };
        assert_eq!(f.apply_net(&base).latency_us, 10_000..10_001);
    }

    #[test]
    fn names_are_numbered_across_groups() {
        assert_eq!(
            numbered("client", [2, 1].into_iter()),
            vec![
                ("client1".into(), 0),
                ("client2".into(), 0),
                ("client3".into(), 1)
            ]
        );
    }
}
