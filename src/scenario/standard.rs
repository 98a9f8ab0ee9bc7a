//! The standard scenarios: the cluster and the ensemble `kzsim bench` measures and
//! `kzsim campaign --standard` runs with a random fault schedule per seed (also under their
//! old paths in [`crate::bench`](mod@crate::bench)).

use super::Scenario;
use std::path::Path;

/// The text of [`STANDARD_CLUSTER_BEFORE_SILENT_CLIENT`].
macro_rules! standard_cluster_core {
    () => {
        r#"
name = "bench-standard-cluster"
description = "The benchmark's standard cluster, with a random fault schedule per seed."
duration = "60s"

[zookeeper]
servers = 3
tick_time = "2s"
init_limit = 10
sync_limit = 5

[kafka]
brokers = 3
zk_session_timeout = "6s"
min_insync_replicas = 2

[[kafka.topics]]
name = "events"
partitions = 3
replication_factor = 3
min_insync_replicas = 2

[[workload.zk_clients]]
count = 5
rate = 10
keys = 8
session_timeout = "10s"
mix = { create = 1, set = 2, get = 4, delete = 1, cas-register = 2 }

[[workload.producers]]
count = 2
topic = "events"
acks = "all"
rate = 20

[[workload.consumer_groups]]
group = "readers"
topics = ["events"]
members = 2

[expect]
checkers = "all"
"#
    };
}

/// The text of the standard cluster's silent client (see [`STANDARD_CLUSTER`]).
macro_rules! standard_silent_client {
    () => {
        r#"
[[workload.zk_clients]]
count = 1
rate = 2
keys = 2
session_timeout = "4s"
mix = { silent = 1 }
"#
    };
}

/// The standard cluster: 3 ZooKeeper servers, 3 brokers, one topic with 3 partitions and
/// replication 3, 5 ZooKeeper clients, 2 producers and one consumer group of 2, for 60
/// simulated seconds; the faults are drawn at random per seed. A sixth ZooKeeper client
/// goes silent past its session timeout now and then, so that every run has a session
/// expiry for `zk.sessions.expiry-bounds` to judge (the brokers' sessions expire only when
/// a fault makes them); the brokers' own ZooKeeper traffic feeds the watch and ephemeral
/// checkers.
pub const STANDARD_CLUSTER: &str = concat!(standard_cluster_core!(), standard_silent_client!());

/// [`STANDARD_CLUSTER`] without its silent ZooKeeper client: the standard cluster as the
/// random campaign ran it before issue #22. Whole-run regressions found by that campaign
/// replay it, so that their seed and schedule still tell the story they were found with.
pub const STANDARD_CLUSTER_BEFORE_SILENT_CLIENT: &str = standard_cluster_core!();

/// The standard ZooKeeper-only ensemble: three servers with ZooKeeper's default settings
/// except a snapshot every ~1,000 transactions (so that runs cross snapshots), and clients
/// using every operation kind kzsim has: plain reads and writes, versioned cas, multi,
/// sequential and ephemeral nodes, watches, the lock and group-membership recipes, a job
/// queue (three clients enqueueing onto two hot parents with guarded multis, as the
/// ZooKeeper queue recipe's producers do: contention, failed multis and sequential names
/// under load), and a silent client whose session expires. `kzsim campaign --standard zookeeper` runs it with a
/// random fault schedule per seed; no part of it is tuned to any bug flag.
pub const STANDARD_ENSEMBLE: &str = r#"
name = "bench-standard-ensemble"
description = "The standard ZooKeeper-only ensemble, with a random fault schedule per seed."
duration = "60s"

[zookeeper]
servers = 3
tick_time = "2s"
init_limit = 10
sync_limit = 5
snap_count = 1000

[[workload.zk_clients]]
count = 5
rate = 10
keys = 8
session_timeout = "10s"
mix = { create = 1, set = 2, get = 3, delete = 1, cas-register = 2, multi = 2 }

# A job queue: producers enqueue onto two hot parents with guarded multis.
[[workload.zk_clients]]
count = 3
rate = 20
keys = 2
session_timeout = "10s"
mix = { multi = 4, set = 1, get = 1 }

[[workload.zk_clients]]
count = 2
rate = 5
keys = 4
session_timeout = "4s"
mix = { get-w = 3, exists-w = 2, ls-w = 1, set = 2, lock = 2, member = 2 }

[[workload.zk_clients]]
count = 1
rate = 2
keys = 2
session_timeout = "4s"
mix = { silent = 1 }

[expect]
checkers = "all"
"#;

/// The standard ensemble scenario ([`STANDARD_ENSEMBLE`]).
pub fn standard_ensemble() -> Scenario {
    super::parse(STANDARD_ENSEMBLE, Path::new("<bench standard ensemble>"))
        .expect("the built-in scenario parses")
}

/// The standard cluster scenario.
pub fn standard_cluster() -> Scenario {
    super::parse(STANDARD_CLUSTER, Path::new("<bench standard cluster>"))
        .expect("the built-in scenario parses")
}
