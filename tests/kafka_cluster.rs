//! Whole-cluster Kafka (ZooKeeper mode) runs on the simulator, over several seeds each
//! (tracker issue 5). Each test tells one fault story and judges the history with the
//! `check::kafka` checkers.

mod common;

use common::secs;
use kzsim::check::kafka::{
    check_all, consumers_agree, controller_epochs, group_ownership, no_acked_write_lost,
    one_leader_per_epoch, replicas_agree, DurabilityParams, KafkaParams, RecoveryParams,
};
use kzsim::check::CheckReport;
use kzsim::cluster::{Cluster, EnsembleSpec};
use kzsim::history::{Call, Event, History, KafkaEvent, Outcome, Ret};
use kzsim::kafka::cluster::{KafkaCluster, KafkaSpec};
use kzsim::kafka::wire::Acks;
use kzsim_sim::world::CrashOptions;
use std::future::Future;

fn ensemble() -> EnsembleSpec {
    EnsembleSpec {
        servers: 3,
        tick_ms: 500,
        ..EnsembleSpec::default()
    }
}

/// Runs one seed: ZooKeeper, then Kafka, then `script`; snapshots logs and returns the
/// history with the script's value.
fn run<T, F, Fut>(seed: u64, spec: KafkaSpec, script: F) -> (History, T)
where
    T: Send + 'static,
    F: FnOnce(KafkaCluster) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let (h, v, _) = run_hashed(seed, spec, script);
    (h, v)
}

/// As [`run`], also returning the run's trace hash.
fn run_hashed<T, F, Fut>(seed: u64, spec: KafkaSpec, script: F) -> (History, T, u64)
where
    T: Send + 'static,
    F: FnOnce(KafkaCluster) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let ran = common::run_world(seed, move |world| async move {
        let zk = Cluster::start(&world, ensemble());
        let kafka = KafkaCluster::start(&world, &zk, spec);
        assert!(
            kafka.wait_ready(secs(30)).await,
            "seed {seed}: cluster not ready (controller {:?})",
            kafka.controller()
        );
        let v = script(kafka.clone()).await;
        kafka.finish();
        (v, zk.history())
    });
    (ran.history, ran.value, ran.trace_hash)
}

fn durability(spec: &KafkaSpec) -> DurabilityParams {
    DurabilityParams {
        unclean_election: spec.unclean_leader_election,
        min_isr: spec.min_insync_replicas,
        flush_every_message: spec.log_flush_interval_messages == 1,
    }
}

fn assert_ok(seed: u64, what: &str, checks: &[CheckReport]) {
    for c in checks {
        assert!(
            c.is_ok(),
            "seed {seed} {what}: {} {:?}\nnotes: {:?}",
            c.checker,
            c.verdict,
            c.notes
        );
    }
}

fn acked(h: &History) -> usize {
    h.ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && matches!(o.call, Call::Produce { .. }))
        .count()
}

fn kafka_events(h: &History) -> Vec<(String, KafkaEvent)> {
    h.events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Kafka(e) => Some((r.node.clone(), e.clone())),
            _ => None,
        })
        .collect()
}

fn elected_epochs(h: &History) -> Vec<(u32, i32)> {
    kafka_events(h)
        .into_iter()
        .filter_map(|(_, e)| match e {
            KafkaEvent::ControllerElected { broker, epoch } => Some((broker, epoch)),
            _ => None,
        })
        .collect()
}

/// The durability and agreement checkers every fault story must pass (the stories with
/// consumers add the consumer checkers: without fetches they have nothing to judge).
fn core_checks(h: &History, spec: &KafkaSpec) -> Vec<CheckReport> {
    vec![
        no_acked_write_lost(h, &durability(spec)),
        replicas_agree(h),
        one_leader_per_epoch(h),
        controller_epochs(h),
    ]
}

#[test]
fn broker_crash_moves_leadership_without_losing_acked_writes() {
    for seed in 0..3 {
        let spec = KafkaSpec::default();
        let (h, (before, after)) = run(seed, spec.clone(), |k| async move {
            k.add_producer("p1", "t", Acks::All, 20);
            k.world().sleep(secs(3)).await;
            let before = k.partition_leader("t", 0).expect("leader");
            k.world().crash(&before, CrashOptions::default());
            k.world().sleep(secs(15)).await;
            let after = k.partition_leader("t", 0);
            k.world().restart(&before);
            k.world().sleep(secs(12)).await;
            (before, after)
        });
        let after = after.unwrap_or_else(|| panic!("seed {seed}: no leader after crash"));
        assert_ne!(before, after, "seed {seed}: leadership did not move");
        assert!(acked(&h) > 100, "seed {seed}: only {} acked", acked(&h));
        assert_ok(seed, "broker crash", &core_checks(&h, &spec));
    }
}

#[test]
fn controller_crash_elects_a_new_controller_with_a_higher_epoch() {
    for seed in 0..3 {
        let spec = KafkaSpec::default();
        let (h, (old, new)) = run(seed, spec.clone(), |k| async move {
            k.add_producer("p1", "t", Acks::All, 20);
            k.world().sleep(secs(2)).await;
            let old = k.controller_with_epoch().expect("controller");
            k.world().crash(&old.0, CrashOptions::default());
            k.world().sleep(secs(12)).await;
            let new = k.controller_with_epoch();
            (old, new)
        });
        let new = new.unwrap_or_else(|| panic!("seed {seed}: no controller after crash"));
        assert_ne!(old.0, new.0, "seed {seed}");
        assert_eq!(new.1, old.1 + 1, "seed {seed}: epochs {old:?} -> {new:?}");
        let epochs = elected_epochs(&h);
        assert!(
            epochs.windows(2).all(|w| w[0].1 < w[1].1),
            "seed {seed}: {epochs:?}"
        );
        assert_ok(seed, "controller crash", &core_checks(&h, &spec));
    }
}

#[test]
fn paused_controller_is_fenced_after_resuming() {
    for seed in 0..3 {
        let spec = KafkaSpec::default();
        let (h, (old, new, after)) = run(seed, spec.clone(), |k| async move {
            k.add_producer("p1", "t", Acks::All, 20);
            k.world().sleep(secs(2)).await;
            let old = k.controller_with_epoch().expect("controller");
            k.world().pause(&old.0);
            k.world().sleep(secs(12)).await;
            let new = k.controller_with_epoch();
            k.world().resume(&old.0);
            k.world().sleep(secs(10)).await;
            (old, new, k.controller_with_epoch())
        });
        let new = new.unwrap_or_else(|| panic!("seed {seed}: no controller while paused"));
        assert!(new.1 > old.1, "seed {seed}: {old:?} -> {new:?}");
        let after = after.expect("controller at the end");
        assert!(after.1 >= new.1, "seed {seed}: {after:?}");
        // The old controller stepped down once it ran again.
        let resigned = kafka_events(&h).iter().any(
            |(_, e)| matches!(e, KafkaEvent::ControllerResigned { epoch, .. } if *epoch == old.1),
        );
        assert!(
            resigned || after.0 != old.0,
            "seed {seed}: old controller never resigned"
        );
        assert_ok(seed, "paused controller", &core_checks(&h, &spec));
    }
}

#[test]
fn zombie_leader_after_session_expiry_loses_no_acks_all_write() {
    for seed in 0..3 {
        let spec = KafkaSpec::default();
        let (h, (zombie, during)) = run(seed, spec.clone(), |k| async move {
            k.add_producer("p1", "t", Acks::All, 20);
            k.add_producer("p2", "t", Acks::One, 20);
            k.world().sleep(secs(3)).await;
            let zombie = k.partition_leader("t", 0).expect("leader");
            // Cut the leader off from ZooKeeper only: its session expires while it runs.
            for zk in ["zk1", "zk2", "zk3"] {
                k.world().cut(&zombie, zk);
                k.world().cut(zk, &zombie);
            }
            k.world().sleep(secs(14)).await;
            let during = k.partition_leader("t", 0);
            k.world().heal();
            k.world().sleep(secs(15)).await;
            (zombie, during)
        });
        assert!(
            during.as_ref().is_some_and(|l| *l != zombie),
            "seed {seed}: no new leader while {zombie} was cut off: {during:?}"
        );
        let zombie_id: u32 = zombie.trim_start_matches("broker").parse().unwrap();
        let registrations = kafka_events(&h)
            .into_iter()
            .filter(|(_, e)| {
                matches!(e, KafkaEvent::BrokerRegistered { broker, .. } if *broker == zombie_id)
            })
            .count();
        assert!(
            registrations >= 2,
            "seed {seed}: {zombie} never re-registered"
        );
        assert_ok(seed, "zombie leader", &core_checks(&h, &spec));
    }
}

#[test]
fn zookeeper_quorum_loss_keeps_the_data_path_and_recovers() {
    for seed in 0..3 {
        let spec = KafkaSpec::default();
        let (h, (during, after)) = run(seed, spec.clone(), |k| async move {
            k.add_producer("p1", "t", Acks::All, 20);
            // A consumer group, so that every checker of `check_all` has something to judge.
            k.add_consumer_group("g", &["t"], 1);
            k.world().sleep(secs(3)).await;
            k.world().crash("zk1", CrashOptions::default());
            k.world().crash("zk2", CrashOptions::default());
            let t0 = k.acked_produces();
            k.world().sleep(secs(8)).await;
            let during = k.acked_produces() - t0;
            k.world().restart("zk1");
            k.world().restart("zk2");
            k.world().sleep(secs(20)).await;
            let ready = k.wait_ready(secs(20)).await;
            (during, ready)
        });
        assert!(
            during > 50,
            "seed {seed}: only {during} acks while ZooKeeper was down"
        );
        assert!(after, "seed {seed}: cluster did not recover");
        let checks = check_all(
            &h,
            &KafkaParams {
                durability: durability(&spec),
                recovery: RecoveryParams { bound: secs(15) },
            },
        );
        assert_ok(seed, "zk quorum loss", &checks);
    }
}

#[test]
fn consumer_group_rebalances_without_double_ownership() {
    for seed in 0..3 {
        let spec = KafkaSpec {
            topics: vec![("t".into(), 4, 3)],
            ..KafkaSpec::default()
        };
        let (h, ()) = run(seed, spec.clone(), |k| async move {
            k.add_producer("p1", "t", Acks::All, 20);
            k.add_consumer_group("g", &["t"], 2);
            k.world().sleep(secs(5)).await;
            k.add_consumer("g", &["t"], "g-c3");
            k.world().sleep(secs(5)).await;
            k.world().crash("g-c1", CrashOptions::default());
            k.world().sleep(secs(15)).await;
        });
        let claims: Vec<(String, u32)> = kafka_events(&h)
            .into_iter()
            .filter_map(|(_, e)| match e {
                KafkaEvent::PartitionClaimed {
                    consumer,
                    partition,
                    ..
                } => Some((consumer, partition)),
                _ => None,
            })
            .collect();
        assert!(
            claims.iter().any(|(c, _)| c == "g-c3"),
            "seed {seed}: g-c3 never claimed: {claims:?}"
        );
        for p in 0..4 {
            let last = claims.iter().rev().find(|(_, q)| *q == p);
            assert!(
                last.is_some_and(|(c, _)| c != "g-c1"),
                "seed {seed}: partition {p} last claimed by {last:?}"
            );
        }
        let fetched = h
            .ops
            .iter()
            .filter(|o| matches!(&o.ret, Ret::Records { records } if !records.is_empty()))
            .count();
        assert!(
            fetched > 10,
            "seed {seed}: only {fetched} non-empty fetches"
        );
        let mut checks = core_checks(&h, &spec);
        checks.push(consumers_agree(&h));
        checks.push(group_ownership(&h));
        assert_ok(seed, "consumer group", &checks);
    }
}

/// The leader of `t/0` is cut off from the other brokers (not from ZooKeeper or clients)
/// for 3 s, less than the lag time, so its ISR still names them; then it crashes and a
/// follower that never got the recent records is elected from that ISR.
fn isolated_leader_then_crash(seed: u64, spec: KafkaSpec) -> History {
    let (h, ()) = run(seed, spec, |k| async move {
        k.add_producer("p1", "t", Acks::All, 50);
        k.world().sleep(secs(3)).await;
        let leader = k.partition_leader("t", 0).expect("leader");
        for b in k.broker_names().into_iter().filter(|b| *b != leader) {
            k.world().cut(&leader, &b);
            k.world().cut(&b, &leader);
        }
        k.world().sleep(secs(3)).await;
        k.world().crash(&leader, CrashOptions::default());
        k.world().heal();
        k.world().sleep(secs(15)).await;
    });
    h
}

#[test]
fn isolated_leader_crash_loses_no_acked_write() {
    for seed in 0..3 {
        let spec = KafkaSpec::default();
        let h = isolated_leader_then_crash(seed, spec.clone());
        assert_ok(seed, "isolated leader crash", &core_checks(&h, &spec));
    }
}

/// With the pre-fix bug flag on (the leader advances the HW before its followers have
/// the record), the same story loses acknowledged `acks=all` writes: the checker sees it.
#[test]
fn bug_hw_before_all_isr_is_caught() {
    for seed in 0..3 {
        let mut spec = KafkaSpec::default();
        spec.bugs.hw_before_all_isr = true;
        let h = isolated_leader_then_crash(seed, spec.clone());
        let check = no_acked_write_lost(&h, &durability(&spec));
        assert!(
            !check.violations().is_empty(),
            "seed {seed}: no acknowledged write lost with hw_before_all_isr: {:?}",
            check.counters
        );
    }
}

/// The same seed replays to the same trace (CI compares hashes of fixed seeds).
#[test]
fn same_seed_same_trace() {
    let story = |k: KafkaCluster| async move {
        k.add_producer("p1", "t", Acks::All, 20);
        k.add_consumer_group("g", &["t"], 2);
        k.world().sleep(secs(3)).await;
        let leader = k.partition_leader("t", 0).expect("leader");
        k.world().crash(&leader, CrashOptions::default());
        k.world().sleep(secs(10)).await;
    };
    let (h1, (), a) = run_hashed(7, KafkaSpec::default(), story);
    let (h2, (), b) = run_hashed(7, KafkaSpec::default(), story);
    assert_eq!(a, b, "trace hashes differ");
    assert_eq!(h1.ops.len(), h2.ops.len());
}

/// How the leader of `t/0` dies in [`leader_log_after_crash`].
#[derive(Clone, Copy, Debug)]
enum Death {
    /// `kill -9`: the page cache survives.
    Kill,
    /// Power loss with Kafka's default flush policy (never fsync; OS writeback each second).
    PowerLoss,
    /// Power loss with `log.flush.interval.messages=1`.
    PowerLossFlushEach,
    /// Power loss of a leader whose disk takes 2 s per fsync from the start, so the OS
    /// writeback reaches its disk 2 s late.
    PowerLossSlowDisk,
}

/// The leader of `t/0` takes acks=1 writes for 3 s and dies; returns (offsets it had
/// acknowledged before dying, the LEO it recovered from its disk at restart).
fn leader_log_after_crash(seed: u64, death: Death) -> (i64, i64) {
    let mut spec = KafkaSpec::default();
    if matches!(death, Death::PowerLossFlushEach) {
        spec.log_flush_interval_messages = 1;
    }
    let (h, (leader, crashed_at)) = run(seed, spec, move |k| async move {
        if matches!(death, Death::PowerLossSlowDisk) {
            let leader = k.partition_leader("t", 0).expect("leader");
            k.world()
                .set_disk_latency(&leader, Some(2_000_000..2_000_000));
        }
        k.add_producer("p1", "t", Acks::One, 50);
        k.world().sleep(secs(3)).await;
        let leader = k.partition_leader("t", 0).expect("leader");
        let crashed_at = kzsim_sim::SimTime::now();
        let opts = CrashOptions {
            page_cache_kept: matches!(death, Death::Kill),
            ..CrashOptions::default()
        };
        k.world().crash(&leader, opts);
        k.world().sleep(secs(1)).await;
        k.world().restart(&leader);
        k.world().sleep(secs(3)).await;
        (leader, crashed_at)
    });
    let acked_end = h
        .ops
        .iter()
        .filter(|op| op.complete.is_some_and(|c| c < crashed_at) && op.outcome == Outcome::Ok)
        .filter_map(|op| match (&op.call, &op.ret) {
            (Call::Produce { partition: 0, .. }, Ret::Produced { offset }) => Some(offset + 1),
            _ => None,
        })
        .max()
        .expect("acknowledged writes before the crash");
    let recovered = h
        .events
        .iter()
        .filter(|r| r.node == leader && r.at > crashed_at)
        .find_map(|r| match &r.event {
            Event::Kafka(KafkaEvent::LogRecovered {
                partition: 0, leo, ..
            }) => Some(*leo),
            _ => None,
        })
        .expect("the restarted leader recovers t/0 from its disk");
    (acked_end, recovered)
}

/// Logs live on the simulated disk: a process kill keeps every acknowledged record, a
/// power loss drops the unflushed tail (Kafka does not fsync by default), and fsyncing
/// every message closes that window.
#[test]
fn broker_logs_survive_a_kill_and_lose_only_the_unflushed_tail_in_a_power_loss() {
    let mut lost_in_some_power_loss = false;
    for seed in 0..3 {
        let (acked, leo) = leader_log_after_crash(seed, Death::Kill);
        assert!(
            leo >= acked,
            "seed {seed} kill: recovered {leo} < acked {acked}"
        );
        let (acked, leo) = leader_log_after_crash(seed, Death::PowerLossFlushEach);
        assert!(
            leo >= acked,
            "seed {seed} flush each: recovered {leo} < acked {acked}"
        );
        let (acked, leo) = leader_log_after_crash(seed, Death::PowerLoss);
        assert!(
            leo > 0,
            "seed {seed}: writeback each second keeps older records"
        );
        lost_in_some_power_loss |= leo < acked;
    }
    assert!(
        lost_in_some_power_loss,
        "a power loss never lost an unflushed acknowledged record"
    );
}

/// A slow disk on a broker: Kafka does not wait for its fsyncs, but the OS writeback that
/// makes the log durable reaches the disk later, so the same power loss costs more
/// acknowledged records than on a healthy disk.
#[test]
fn a_slow_disk_widens_what_a_power_loss_costs_a_broker() {
    for seed in 0..3 {
        let (acked, leo) = leader_log_after_crash(seed, Death::PowerLoss);
        let healthy = acked - leo.min(acked);
        let (acked, leo) = leader_log_after_crash(seed, Death::PowerLossSlowDisk);
        let slow = acked - leo.min(acked);
        // About 20 records a second are acknowledged here: on the slow disk the writebacks
        // of the last two seconds had not landed, on the healthy one only the dirty pages
        // since the last writeback (under a second) are lost.
        assert!(
            slow >= healthy + 30,
            "seed {seed}: lost {slow} on a slow disk vs {healthy} on a healthy one"
        );
    }
}

/// The leader announces ISR changes through `/isr_change_notification`; the controller
/// re-reads the state, sends UpdateMetadata, and deletes the notification.
#[test]
fn isr_changes_reach_the_controller_through_notifications() {
    for seed in 0..2 {
        let spec = KafkaSpec {
            replica_lag_time_max_ms: 2_000,
            ..KafkaSpec::default()
        };
        let (_, (before, after, left)) = run(seed, spec, |k| async move {
            k.add_producer("p1", "t", Acks::One, 20);
            // A broker that registers while the controller is still creating the states
            // (its BrokerChange waits for that event) joins the ISR by an expansion, which
            // the controller learns through a notification: after the 5 s quiet period
            // and the 2.5 s check at the latest.
            k.world().sleep(secs(10)).await;
            let leader = k.partition_leader("t", 0).expect("leader");
            let follower = k
                .broker_names()
                .into_iter()
                .find(|b| *b != leader)
                .expect("a follower");
            let controller = k.controller().expect("controller");
            let isr_seen = |k: &KafkaCluster| k.metadata_isr(&controller, "t", 0);
            let before = isr_seen(&k);
            k.world().pause(&follower);
            // Shrink after the lag time, then the 5 s quiet period and the 2.5 s check.
            k.world().sleep(secs(12)).await;
            let after = isr_seen(&k);
            let left = k.zk_children("/isr_change_notification");
            k.world().resume(&follower);
            (before, after, left)
        });
        let before = before.expect("metadata before");
        let after = after.expect("metadata after");
        assert_eq!(
            before.len(),
            3,
            "seed {seed}: full ISR at first: {before:?}"
        );
        assert_eq!(
            after.len(),
            2,
            "seed {seed}: the controller's metadata shows the shrink: {after:?}"
        );
        assert_eq!(left, Some(vec![]), "seed {seed}: notifications are deleted");
    }
}
