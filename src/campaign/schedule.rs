//! Random fault schedules over the scenario fault vocabulary.
//!
//! A schedule is a handful of faults at random times in the faulty phase (the first 60%
//! of the run), then one [`Fault::HealAll`] that heals the network, resets clocks, resumes
//! paused nodes and restarts crashed ones, so the remaining 40% can check liveness
//! (a campaign's safety phase, then its liveness phase).
//!
//! Blind times rarely land inside the short protocol steps where bugs live (a sync phase
//! lasts milliseconds), so about a third of the faults are aimed at a protocol moment
//! ([`AfterMoment`]): from their drawn time they wait for the next election, new epoch,
//! sync, proposal (and, with brokers, controller election, leader change, ISR change or
//! truncation) and fire right after it or a short delay later. An earlier fault makes the
//! moment come (a crash starts an election), so two faults compose into "crash the leader,
//! then crash a follower during the sync that follows".
//!
//! [`schedule_strategy`] is a proptest strategy: proptest shrinks its `Vec` of faults by
//! dropping elements and each time toward zero, so a failing schedule shrinks toward fewer,
//! earlier faults, and each fault toward the simpler kinds listed first. [`draw_schedule`]
//! draws one schedule from a seed, deterministically (proptest's ChaCha RNG seeded from the
//! seed through rand_chacha), for `kzsim campaign --random`.

use crate::scenario::{AfterMoment, DiskLoss, Fault, Moment, Scenario, Target, TimedFault};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// The nodes and partitions faults can hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterShape {
    /// ZooKeeper server names (`zk1..`).
    pub zk_servers: Vec<String>,
    /// Broker names (`broker1..`); empty for a ZooKeeper-only cluster.
    pub brokers: Vec<String>,
    /// Every `(topic, partition)`; partition-leader targets are drawn from these.
    pub partitions: Vec<(String, u32)>,
    /// Client names (ZooKeeper clients, producers, consumers): a client-side network
    /// outage ([`client_outage_strategy`]) cuts these off; none, no such outage.
    pub clients: Vec<String>,
}

impl ClusterShape {
    /// A ZooKeeper-only shape with servers `zk1..zkN`.
    pub fn zookeeper(servers: u32) -> ClusterShape {
        ClusterShape {
            zk_servers: (1..=servers).map(|i| format!("zk{i}")).collect(),
            brokers: Vec::new(),
            partitions: Vec::new(),
            clients: Vec::new(),
        }
    }
    /// The shape of a scenario's cluster: its servers, brokers, partitions and clients.
    pub fn of(scenario: &Scenario) -> ClusterShape {
        ClusterShape {
            zk_servers: scenario.zk_server_names(),
            brokers: scenario.broker_names(),
            partitions: scenario
                .cluster
                .kafka
                .iter()
                .flat_map(|k| k.topics.iter())
                .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p)))
                .collect(),
            clients: scenario
                .zk_client_names()
                .into_iter()
                .chain(scenario.producer_names())
                .chain(scenario.consumer_names())
                .map(|(name, _)| name)
                .collect(),
        }
    }
    fn servers(&self) -> Vec<String> {
        self.zk_servers
            .iter()
            .chain(&self.brokers)
            .cloned()
            .collect()
    }
}

/// Faults at simulated times, in non-decreasing time order, the last one a
/// [`Fault::HealAll`].
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSchedule {
    /// The faults, ready to become a scenario's `faults`.
    pub faults: Vec<TimedFault>,
}

/// Faults per schedule, at most (before the final heal-all).
pub const FAULTS_MAX: usize = 8;

/// When the faulty phase of a run of `duration` ends and the heal-all fires: at 60% of
/// the run, in whole milliseconds.
pub fn heal_at(duration: Duration) -> Duration {
    Duration::from_millis((duration.as_millis() as u64).saturating_mul(3) / 5)
}

fn one_of<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> BoxedStrategy<T> {
    assert!(!items.is_empty(), "one_of needs at least one item");
    proptest::sample::select(items).boxed()
}

/// The slowest fsync a random slow-disk fault draws.
pub const SLOW_FSYNC_MAX: Duration = Duration::from_secs(2);

/// A slow disk's fsync latency `(min, max)`, from 20 ms to [`SLOW_FSYNC_MAX`]: half the
/// draws start at 20-200 ms (a disk slower than a network round trip, so a follower's ACK,
/// not the network, paces each commit it is needed for, and an ACK sent before the fsync
/// is a window a power loss empties), half at 200 ms-2 s (a ZooKeeper server's sync phase,
/// which fsyncs its log, the snapshot after SNAP/TRUNC and the epoch files, takes seconds,
/// and a broker's OS writeback reaches the disk seconds late, so a power loss costs
/// more). Half are a fixed latency, half a range up to twice the minimum.
fn slow_fsync_latency() -> BoxedStrategy<(Duration, Duration)> {
    let max_ms = SLOW_FSYNC_MAX.as_millis() as u64;
    (
        prop_oneof![20u64..200, 200u64..max_ms],
        proptest::option::of(0u64..max_ms),
    )
        .prop_map(move |(lo, extra)| {
            let hi = extra.map_or(lo, |e| (lo + e % (lo + 1)).min(max_ms));
            (Duration::from_millis(lo), Duration::from_millis(hi))
        })
        .boxed()
}

/// One random fault over `shape`. Servers only: clients are cut off only all at once, by
/// [`client_outage_strategy`].
///
/// # Panics
/// If `shape` has no ZooKeeper server (a cluster always has one).
pub fn fault_strategy(shape: &ClusterShape) -> BoxedStrategy<Fault> {
    let servers = shape.servers();
    assert!(
        !shape.zk_servers.is_empty(),
        "a cluster shape has at least one ZooKeeper server"
    );
    let nodes: Vec<Target> = servers.iter().cloned().map(Target::Node).collect();
    let mut roles = vec![Target::ZkLeader];
    if !shape.brokers.is_empty() {
        roles.push(Target::Controller);
        roles.extend(
            shape
                .partitions
                .iter()
                .map(|(t, p)| Target::PartitionLeader {
                    topic: t.clone(),
                    partition: *p,
                }),
        );
    }
    let any_target = prop_oneof![2 => one_of(nodes.clone()), 1 => one_of(roles.clone())].boxed();
    let node = one_of(nodes.clone());
    let disk = prop_oneof![
        4 => Just(DiskLoss::None),
        3 => Just(DiskLoss::UnsyncedTail),
        1 => Just(DiskLoss::TornTail),
        1 => Just(DiskLoss::Whole)
    ];
    let n = servers.len();
    let split = proptest::collection::vec(0usize..3, n).prop_map(move |g| {
        let mut groups: Vec<Vec<Target>> = vec![Vec::new(); 3];
        for (i, gi) in g.into_iter().enumerate() {
            groups[gi].push(Target::Node(servers[i].clone()));
        }
        groups.retain(|x| !x.is_empty());
        Fault::Partition { groups }
    });
    let zk_targets: Vec<Target> = shape.zk_servers.iter().cloned().map(Target::Node).collect();
    let cut = (
        one_of(nodes.clone()),
        proptest::sample::subsequence(nodes.clone(), 1..=n.max(1)),
    )
        .prop_filter_map("a cut from a node to itself does nothing", |(from, to)| {
            let to: Vec<Target> = to.into_iter().filter(|t| *t != from).collect();
            (!to.is_empty()).then(|| Fault::Cut {
                from: vec![from],
                to,
            })
        });
    let cut_from_zk =
        one_of(nodes.clone()).prop_filter_map("not a ZooKeeper server", move |from| {
            let to: Vec<Target> = zk_targets.iter().filter(|t| **t != from).cloned().collect();
            (!to.is_empty()).then(|| Fault::Cut {
                from: vec![from],
                to,
            })
        });
    let mut arms: Vec<(u32, BoxedStrategy<Fault>)> = vec![
        (3, Just(Fault::Heal).boxed()),
        (
            3,
            node.clone()
                .prop_map(|target| Fault::Restart { target })
                .boxed(),
        ),
        (1, node.prop_map(|target| Fault::Resume { target }).boxed()),
        (
            6,
            (any_target.clone(), disk)
                .prop_map(|(target, disk)| Fault::Crash { target, disk })
                .boxed(),
        ),
        (
            3,
            (any_target.clone(), proptest::option::of(1u64..10_000))
                .prop_map(|(target, ms)| Fault::Pause {
                    target,
                    duration: ms.map(Duration::from_millis),
                })
                .boxed(),
        ),
        (
            3,
            any_target
                .clone()
                .prop_map(|t| Fault::Partition {
                    groups: vec![vec![t]],
                })
                .boxed(),
        ),
        (2, split.boxed()),
        (
            1,
            (
                proptest::option::of(0u32..=200),
                proptest::option::of((1u64..50, 0u64..100)),
            )
                .prop_map(|(loss, lat)| {
                    let latency = lat.map(|(lo, extra)| {
                        (Duration::from_millis(lo), Duration::from_millis(lo + extra))
                    });
                    // Neither drawn: a small loss, so the fault still changes something.
                    let loss_permille = if loss.is_none() && latency.is_none() {
                        Some(10)
                    } else {
                        loss
                    };
                    Fault::Net {
                        loss_permille,
                        latency,
                    }
                })
                .boxed(),
        ),
        (
            1,
            (any_target.clone(), -5_000i64..5_000, -500i64..500)
                .prop_map(|(target, offset_ms, drift_ppm)| Fault::ClockSkew {
                    target,
                    offset_ms,
                    drift_ppm,
                })
                .boxed(),
        ),
        (
            2,
            (any_target, slow_fsync_latency())
                .prop_map(|(target, fsync_latency)| Fault::SlowDisk {
                    target,
                    fsync_latency,
                })
                .boxed(),
        ),
    ];
    // One-way cuts need two distinct nodes.
    if n >= 2 {
        arms.push((2, cut.boxed()));
        if shape.zk_servers.len() >= 2 || !shape.brokers.is_empty() {
            arms.push((1, cut_from_zk.boxed()));
        }
    }
    proptest::strategy::Union::new_weighted(arms).boxed()
}

/// The longest delay after a protocol moment a random fault draws: long enough to land
/// after a slowed sync phase's fsyncs, short against the gap between faults.
pub const MOMENT_DELAY_MAX: Duration = Duration::from_secs(2);

/// The protocol moment a fault waits for, or none (two times in three): a moment `shape`
/// has (Kafka's only with brokers), and a delay after it that is zero (the next step has
/// not run yet), a few milliseconds (inside the step: a sync's DIFF sent, its ACKs not
/// back) or up to [`MOMENT_DELAY_MAX`] (after it, while its effects settle).
pub fn moment_strategy(shape: &ClusterShape) -> BoxedStrategy<Option<AfterMoment>> {
    let moments: Vec<Moment> = Moment::ALL
        .into_iter()
        .filter(|m| !m.needs_kafka() || !shape.brokers.is_empty())
        .collect();
    let max_ms = MOMENT_DELAY_MAX.as_millis() as u64;
    let delay = prop_oneof![
        2 => Just(0u64),
        2 => 1u64..50,
        1 => 50u64..=max_ms,
    ];
    let aimed = (one_of(moments), delay).prop_map(|(moment, ms)| AfterMoment {
        moment,
        delay: Duration::from_millis(ms),
    });
    prop_oneof![2 => Just(None), 1 => aimed.prop_map(Some)].boxed()
}

/// The longest a machine takes to come back after a [`outage_strategy`] power outage.
pub const OUTAGE_RESTART_MAX: Duration = Duration::from_secs(20);

/// One fault at a time (ms), maybe aimed at a moment.
type Timed = (u64, Fault, Option<AfterMoment>);

/// A rack power outage over `shape`: two or more servers (ZooKeeper servers and brokers
/// alike) crash at the same instant, most often losing their unsynced writes (a power
/// loss), sometimes keeping them (every process killed at once), maybe right after a
/// protocol moment (all at that one moment: faults sharing `at` and `after` fire
/// together); then each machine boots after its own delay of 100 ms to
/// [`OUTAGE_RESTART_MAX`] (cut short by the heal-all). Correlated failures like this are the ones that
/// find durability bugs a single crash cannot: an acknowledgement that was only in page
/// caches (Ganesan et al., FAST 2017; Alagappan et al., OSDI 2016).
pub fn outage_strategy(shape: &ClusterShape, end_ms: u64) -> BoxedStrategy<Vec<Timed>> {
    let servers: Vec<Target> = shape.servers().into_iter().map(Target::Node).collect();
    let n = servers.len();
    let down_max_ms = OUTAGE_RESTART_MAX.as_millis() as u64;
    (
        0..end_ms,
        proptest::sample::subsequence(servers, 2.min(n)..=n),
        prop_oneof![3 => Just(DiskLoss::UnsyncedTail), 1 => Just(DiskLoss::None)],
        moment_strategy(shape),
        proptest::collection::vec(100..=down_max_ms, n),
    )
        .prop_map(move |(at, hit, disk, after, downs)| {
            let mut out: Vec<Timed> = hit
                .iter()
                .map(|target| {
                    let fault = Fault::Crash {
                        target: target.clone(),
                        disk,
                    };
                    (at, fault, after)
                })
                .collect();
            for (target, ms) in hit.into_iter().zip(downs) {
                let back = (at + ms).min(end_ms.saturating_sub(1).max(at));
                out.push((back, Fault::Restart { target }, None));
            }
            out
        })
        .boxed()
}

/// A storage-wide slowdown over `shape`: two or more servers' fsyncs slow down at the same
/// instant to the same latency (a degraded array, a noisy neighbour on shared storage, a
/// cloud volume out of burst credits), until the heal-all. Slow disks are rarely alone:
/// most fail-slow incidents hit several machines that share hardware or a cause
/// (Gunawi et al., "Fail-Slow at Scale", FAST 2018). With every fsync slower than a round
/// trip, a quorum's worth of servers can hold a write only in page caches at once: the
/// window a power loss empties.
pub fn slow_storage_strategy(shape: &ClusterShape, end_ms: u64) -> BoxedStrategy<Vec<Timed>> {
    let servers: Vec<Target> = shape.servers().into_iter().map(Target::Node).collect();
    let n = servers.len();
    (
        0..end_ms,
        proptest::sample::subsequence(servers, 2.min(n)..=n),
        slow_fsync_latency(),
    )
        .prop_map(|(at, hit, fsync_latency)| {
            hit.into_iter()
                .map(|target| {
                    (
                        at,
                        Fault::SlowDisk {
                            target,
                            fsync_latency,
                        },
                        None,
                    )
                })
                .collect()
        })
        .boxed()
}

/// The longest a [`client_outage_strategy`] outage lasts (cut short by the heal-all).
pub const CLIENT_OUTAGE_MAX: Duration = Duration::from_secs(15);

/// A client-side network outage over `shape`: every client (ZooKeeper clients, producers,
/// consumers) loses the network to every server at one instant, maybe right after a
/// protocol moment (an application tier's switch, firewall or load balancer failing),
/// until a heal 100 ms to [`CLIENT_OUTAGE_MAX`] later. With nobody writing, the servers
/// can establish an epoch, or a partition leader, and lose its leader before anything is
/// written in it: the idle ensembles where ZOOKEEPER-335's reused epoch and
/// ZOOKEEPER-1419's vote order were met. Sessions whose timeout the outage outlasts expire
/// together. Shapes without clients draw none (the strategy is never offered).
pub fn client_outage_strategy(shape: &ClusterShape, end_ms: u64) -> BoxedStrategy<Vec<Timed>> {
    let clients: Vec<Target> = shape.clients.iter().cloned().map(Target::Node).collect();
    let lasts_max_ms = CLIENT_OUTAGE_MAX.as_millis() as u64;
    (0..end_ms, 100..=lasts_max_ms, moment_strategy(shape))
        .prop_map(move |(at, lasts, after)| {
            let back = (at + lasts).min(end_ms.saturating_sub(1).max(at));
            vec![
                (
                    at,
                    Fault::Partition {
                        groups: vec![clients.clone()],
                    },
                    after,
                ),
                (back, Fault::Heal, None),
            ]
        })
        .boxed()
}

/// Random schedules for a run of `duration` over `shape`: up to [`FAULTS_MAX`] faults at
/// whole-millisecond times before [`heal_at`], sorted by time, some aimed at a protocol
/// moment ([`moment_strategy`]); of the draws, one in seventeen is a rack power outage
/// ([`outage_strategy`]), one a storage-wide slowdown ([`slow_storage_strategy`]) and one
/// (where the shape has clients) a client-side network outage
/// ([`client_outage_strategy`]); then a heal-all at [`heal_at`].
pub fn schedule_strategy(shape: &ClusterShape, duration: Duration) -> BoxedStrategy<FaultSchedule> {
    let end = heal_at(duration);
    let end_ms = (end.as_millis() as u64).max(1);
    let single = (0..end_ms, fault_strategy(shape), moment_strategy(shape))
        .prop_map(|t| vec![t])
        .boxed();
    let mut arms: Vec<(u32, BoxedStrategy<Vec<Timed>>)> = vec![
        (14, single),
        (1, outage_strategy(shape, end_ms)),
        (1, slow_storage_strategy(shape, end_ms)),
    ];
    if !shape.clients.is_empty() {
        arms.push((1, client_outage_strategy(shape, end_ms)));
    }
    let draw = proptest::strategy::Union::new_weighted(arms);
    proptest::collection::vec(draw, 0..=FAULTS_MAX)
        .prop_map(move |draws| {
            let mut faults: Vec<Timed> = draws.into_iter().flatten().collect();
            // Stable: an outage's crashes stay together, in draw order.
            faults.sort_by_key(|(at, _, _)| *at);
            faults.truncate(FAULTS_MAX);
            let mut out: Vec<TimedFault> = faults
                .into_iter()
                .map(|(ms, fault, after)| TimedFault {
                    at: Duration::from_millis(ms).min(end),
                    label: None,
                    fault,
                    after,
                })
                .collect();
            out.push(TimedFault {
                at: end,
                label: None,
                fault: Fault::HealAll,
                after: None,
            });
            FaultSchedule { faults: out }
        })
        .boxed()
}

/// The proptest RNG for `seed`: ChaCha, keyed by 32 bytes drawn from
/// `ChaCha8Rng::seed_from_u64(seed)`, so the same seed gives the same draws on every
/// machine and proptest version.
pub fn seeded_rng(seed: u64) -> TestRng {
    let mut key = [0u8; 32];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut key);
    TestRng::from_seed(RngAlgorithm::ChaCha, &key)
}

/// One schedule drawn from `seed`: the same arguments always give the same schedule.
pub fn draw_schedule(seed: u64, shape: &ClusterShape, duration: Duration) -> FaultSchedule {
    let mut runner = TestRunner::new_with_rng(Config::default(), seeded_rng(seed));
    // Generating does not fail: the only filters (cuts) are offered only when two distinct
    // nodes exist, and then most draws pass them.
    match schedule_strategy(shape, duration).new_tree(&mut runner) {
        Ok(tree) => tree.current(),
        Err(reason) => panic!("drawing a fault schedule for seed {seed} failed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{
        Cluster, Expectations, KafkaCluster, Scenario, Topic, Workload, ZkEnsemble,
    };
    use proptest::test_runner::TestError;
    use std::path::Path;

    fn kafka_scenario() -> Scenario {
        Scenario {
            name: "base".into(),
            description: "base for random schedules".into(),
            duration: Duration::from_secs(60),
            wall_clock_start_ms: crate::cluster::DEFAULT_WALL_CLOCK_START_MS,
            cluster: Cluster {
                zookeeper: ZkEnsemble::default(),
                kafka: Some(KafkaCluster {
                    brokers: 3,
                    zk_session_timeout: Duration::from_secs(6),
                    replica_lag_time_max: Duration::from_secs(10),
                    unclean_leader_election: false,
                    min_insync_replicas: 2,
                    log_flush_interval_messages: i64::MAX as u64,
                    topics: vec![Topic {
                        name: "t".into(),
                        partitions: 2,
                        replication_factor: 3,
                        min_insync_replicas: 2,
                        unclean_leader_election: false,
                    }],
                }),
            },
            workload: Workload::default(),
            faults: Vec::new(),
            expect: Expectations::default(),
        }
    }

    #[test]
    fn same_seed_same_schedule_and_seeds_differ() {
        let shape = ClusterShape::of(&kafka_scenario());
        let d = Duration::from_secs(60);
        for seed in [0, 1, 42, 9001] {
            assert_eq!(
                draw_schedule(seed, &shape, d),
                draw_schedule(seed, &shape, d),
                "seed {seed}"
            );
        }
        let distinct: std::collections::BTreeSet<String> = (0..20)
            .map(|s| format!("{:?}", draw_schedule(s, &shape, d)))
            .collect();
        assert!(
            distinct.len() > 10,
            "only {} distinct schedules in 20 seeds",
            distinct.len()
        );
    }

    #[test]
    fn shrinks_to_one_early_fault_then_heal_all() {
        let shape = ClusterShape::zookeeper(3);
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, seeded_rng(7));
        let result = runner.run(&schedule_strategy(&shape, Duration::from_secs(30)), |s| {
            let crashes = s
                .faults
                .iter()
                .filter(|f| matches!(f.fault, Fault::Crash { .. }))
                .count();
            prop_assert!(crashes == 0);
            Ok(())
        });
        let Err(TestError::Fail(_, minimal)) = result else {
            panic!("a crash is drawn in 256 cases: {result:?}")
        };
        assert_eq!(minimal.faults.len(), 2, "{minimal:?}");
        assert_eq!(minimal.faults[0].at, Duration::ZERO, "{minimal:?}");
        assert!(matches!(minimal.faults[0].fault, Fault::Crash { .. }));
        assert_eq!(minimal.faults[1].fault, Fault::HealAll);
    }

    #[test]
    fn slow_disks_are_drawn_on_every_shape_with_latencies_that_matter() {
        let shapes = [
            ClusterShape::of(&kafka_scenario()),
            ClusterShape::zookeeper(3),
        ];
        for shape in &shapes {
            let mut fast_tier = 0;
            let mut slow_tier = 0;
            let mut ranges = 0;
            for seed in 0..300 {
                for f in draw_schedule(seed, shape, Duration::from_secs(60)).faults {
                    if let Fault::SlowDisk {
                        fsync_latency: (lo, hi),
                        ..
                    } = f.fault
                    {
                        assert!(lo >= Duration::from_millis(20), "{lo:?}");
                        assert!(lo <= hi && hi <= SLOW_FSYNC_MAX, "{lo:?}..{hi:?}");
                        if lo < Duration::from_millis(200) {
                            fast_tier += 1;
                        } else {
                            slow_tier += 1;
                        }
                        ranges += usize::from(lo < hi);
                    }
                }
            }
            assert!(
                fast_tier >= 10 && slow_tier >= 10 && ranges >= 10,
                "{shape:?}: {fast_tier} at 20-200ms, {slow_tier} at 200ms-2s, {ranges} ranges"
            );
        }
    }

    #[test]
    fn about_a_third_of_faults_wait_for_a_moment_the_shape_has() {
        let kafka = ClusterShape::of(&kafka_scenario());
        let zk = ClusterShape::zookeeper(3);
        for (shape, has_kafka) in [(&kafka, true), (&zk, false)] {
            let mut faults = 0usize;
            let mut aimed = 0usize;
            let mut moments = std::collections::BTreeSet::new();
            let mut delays = [0usize; 3];
            for seed in 0..300 {
                let s = draw_schedule(seed, shape, Duration::from_secs(60));
                for f in &s.faults[..s.faults.len() - 1] {
                    faults += 1;
                    let Some(a) = &f.after else { continue };
                    aimed += 1;
                    assert!(a.delay <= MOMENT_DELAY_MAX, "{a:?}");
                    assert!(has_kafka || !a.moment.needs_kafka(), "{a:?} on {shape:?}");
                    moments.insert(a.moment);
                    delays[match a.delay.as_millis() {
                        0 => 0,
                        1..50 => 1,
                        _ => 2,
                    }] += 1;
                }
                assert_eq!(s.faults.last().and_then(|f| f.after), None);
            }
            let share = aimed as f64 / faults as f64;
            assert!((0.25..0.42).contains(&share), "{aimed} of {faults} aimed");
            let expected = Moment::ALL
                .into_iter()
                .filter(|m| has_kafka || !m.needs_kafka())
                .count();
            assert_eq!(moments.len(), expected, "{moments:?}");
            assert!(delays.iter().all(|&n| n >= 10), "{delays:?}");
        }
    }

    #[test]
    fn outages_crash_several_nodes_at_one_instant_and_bring_them_back_one_by_one() {
        for shape in [
            ClusterShape::of(&kafka_scenario()),
            ClusterShape::zookeeper(3),
        ] {
            let mut outages = 0;
            let mut power_losses = 0;
            let mut restarts_after = 0;
            for seed in 0..400 {
                let s = draw_schedule(seed, &shape, Duration::from_secs(60));
                let crashes: Vec<&TimedFault> = s
                    .faults
                    .iter()
                    .filter(|f| matches!(f.fault, Fault::Crash { .. }))
                    .collect();
                for group in crashes.chunk_by(|a, b| a.at == b.at && a.after == b.after) {
                    let nodes: std::collections::BTreeSet<String> = group
                        .iter()
                        .filter_map(|f| match &f.fault {
                            Fault::Crash {
                                target: Target::Node(n),
                                ..
                            } => Some(n.clone()),
                            _ => None,
                        })
                        .collect();
                    if group.len() < 2 || nodes.len() < group.len() {
                        continue;
                    }
                    outages += 1;
                    power_losses += usize::from(group.iter().all(|f| {
                        matches!(
                            f.fault,
                            Fault::Crash {
                                disk: DiskLoss::UnsyncedTail,
                                ..
                            }
                        )
                    }));
                    restarts_after += s
                        .faults
                        .iter()
                        .filter(|f| {
                            f.at > group[0].at
                                && matches!(&f.fault, Fault::Restart { target: Target::Node(n) } if nodes.contains(n))
                        })
                        .count();
                }
            }
            assert!(
                outages >= 20 && power_losses >= 10 && restarts_after >= 20,
                "{shape:?}: {outages} outages, {power_losses} power losses, {restarts_after} restarts"
            );
        }
    }

    #[test]
    fn client_outages_cut_every_client_off_and_heal_later_only_where_there_are_clients() {
        let mut scenario = kafka_scenario();
        scenario.workload.zk_clients = vec![crate::scenario::ZkClientGroup {
            count: 2,
            mix: vec![(crate::scenario::ZkOpKind::Get, 1)],
            keys: 1,
            rate_per_sec: 1,
            session_timeout: Duration::from_secs(4),
            active: Vec::new(),
        }];
        let shape = ClusterShape::of(&scenario);
        assert_eq!(shape.clients, vec!["client1", "client2"]);
        let every_client = vec![vec![
            Target::Node("client1".into()),
            Target::Node("client2".into()),
        ]];
        let mut outages = 0;
        for seed in 0..400 {
            let s = draw_schedule(seed, &shape, Duration::from_secs(60));
            for (i, f) in s.faults.iter().enumerate() {
                let Fault::Partition { groups } = &f.fault else {
                    continue;
                };
                if *groups != every_client {
                    continue;
                }
                outages += 1;
                // A heal follows within the outage bound (or the heal-all ends it).
                let healed = s.faults[i + 1..]
                    .iter()
                    .find(|h| matches!(h.fault, Fault::Heal | Fault::HealAll));
                let healed = healed.expect("the last fault is a heal-all");
                assert!(healed.at >= f.at, "{s:?}");
            }
        }
        assert!(
            (10..=80).contains(&outages),
            "{outages} client outages in 400 draws"
        );
        // Servers alone are never cut off from clients that do not exist.
        let zk = ClusterShape::zookeeper(3);
        for seed in 0..400 {
            let s = draw_schedule(seed, &zk, Duration::from_secs(60));
            assert!(s.faults.iter().all(|f| match &f.fault {
                Fault::Partition { groups } => groups
                    .iter()
                    .flatten()
                    .all(|t| !matches!(t, Target::Node(n) if n.starts_with("client"))),
                _ => true,
            }));
        }
    }

    #[test]
    fn storage_slowdowns_slow_several_servers_at_one_instant_to_one_latency() {
        for shape in [
            ClusterShape::of(&kafka_scenario()),
            ClusterShape::zookeeper(3),
        ] {
            let mut slowdowns = 0;
            let mut whole_ensemble = 0;
            for seed in 0..400 {
                let s = draw_schedule(seed, &shape, Duration::from_secs(60));
                let slow: Vec<&TimedFault> = s
                    .faults
                    .iter()
                    .filter(|f| matches!(f.fault, Fault::SlowDisk { .. }))
                    .collect();
                for group in slow.chunk_by(|a, b| a.at == b.at) {
                    let latencies: std::collections::BTreeSet<(Duration, Duration)> = group
                        .iter()
                        .filter_map(|f| match &f.fault {
                            Fault::SlowDisk { fsync_latency, .. } => Some(*fsync_latency),
                            _ => None,
                        })
                        .collect();
                    let nodes: std::collections::BTreeSet<String> = group
                        .iter()
                        .filter_map(|f| match &f.fault {
                            Fault::SlowDisk {
                                target: Target::Node(n),
                                ..
                            } => Some(n.clone()),
                            _ => None,
                        })
                        .collect();
                    if group.len() < 2 || nodes.len() < group.len() || latencies.len() != 1 {
                        continue;
                    }
                    slowdowns += 1;
                    whole_ensemble +=
                        usize::from(shape.zk_servers.iter().all(|z| nodes.contains(z)));
                    let (lo, _) = latencies.into_iter().next().expect("one latency");
                    assert!(lo >= Duration::from_millis(20), "{lo:?}");
                }
            }
            assert!(
                slowdowns >= 20 && whole_ensemble >= 5,
                "{shape:?}: {slowdowns} storage slowdowns, {whole_ensemble} of every ZooKeeper server"
            );
        }
    }

    proptest! {
        #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

        /// Every schedule is sorted, ends with a heal-all at 60% of the run, and is a valid
        /// scenario: written as TOML, the loader (which checks every target) reads it back
        /// to the same faults.
        #[test]
        fn schedules_are_valid_replayable_scenarios(seed in any::<u64>()) {
            let base = kafka_scenario();
            let s = draw_schedule(seed, &ClusterShape::of(&base), base.duration);
            let end = heal_at(base.duration);
            prop_assert!(s.faults.windows(2).all(|w| w[0].at <= w[1].at));
            let last = s.faults.last().expect("heal-all is always there");
            prop_assert_eq!(&last.fault, &Fault::HealAll);
            prop_assert_eq!(last.at, end);
            prop_assert!(s.faults.len() <= FAULTS_MAX + 1);
            let scenario = base.with_faults(s.faults.clone());
            let text = scenario.to_toml();
            let back = crate::scenario::parse(&text, Path::new("random.toml"));
            prop_assert_eq!(back, Ok(scenario), "{}", text);
        }

        #[test]
        fn zookeeper_only_shapes_never_name_kafka_roles(servers in 1u32..6, seed in any::<u64>()) {
            let s = draw_schedule(seed, &ClusterShape::zookeeper(servers), Duration::from_secs(20));
            for f in &s.faults {
                let text = format!("{:?}", f.fault);
                prop_assert!(!text.contains("Controller") && !text.contains("PartitionLeader") && !text.contains("broker"));
            }
        }
    }
}
