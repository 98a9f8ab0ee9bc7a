//! Slow disks: a per-node fsync latency set and restored while the node runs.

mod common;
use common::*;
use kzsim_sim::disk::DiskConfig;
use kzsim_sim::world::CrashOptions;
use kzsim_sim::{NodeSpec, RunConfig, SimEvent, SimTime};
use std::time::Duration;

fn config() -> RunConfig {
    RunConfig {
        disk: DiskConfig {
            fsync_latency_us: 1_000..1_000,
        },
        ..RunConfig::default()
    }
}

/// How long one fsync of a fresh append to `file` takes on `node`'s disk, in whole
/// milliseconds (madsim's timers fire a few microseconds late).
async fn fsync_took(w: &W, node: &str, file: &str) -> Duration {
    let disk = w.disk(node);
    disk.append(file, b"x");
    let start = SimTime::now();
    disk.fsync(file).await;
    Duration::from_millis(SimTime::now().since(start).as_millis() as u64)
}

#[test]
fn an_fsync_after_the_change_takes_the_new_latency_and_after_reset_the_old() {
    let out = kzsim_sim::run_seed(3, config(), |w: W| async move {
        w.add_node(NodeSpec::new("a"), receiver);
        w.add_node(NodeSpec::new("b"), receiver);
        let before = fsync_took(&w, "a", "log").await;
        w.set_disk_latency("a", Some(200_000..200_000));
        assert_eq!(w.disk_latency_override("a"), Some(200_000..200_000));
        let slow = fsync_took(&w, "a", "log").await;
        let other = fsync_took(&w, "b", "log").await;
        // A range draws within it.
        w.set_disk_latency("a", Some(50_000..60_000));
        let ranged = fsync_took(&w, "a", "log").await;
        w.set_disk_latency("a", None);
        assert_eq!(w.disk_latency_override("a"), None);
        let after = fsync_took(&w, "a", "log").await;
        (before, slow, other, ranged, after)
    });
    let (before, slow, other, ranged, after) = out.result.unwrap();
    let ms = Duration::from_millis;
    assert_eq!(before, ms(1));
    assert_eq!(slow, ms(200), "the slow disk's latency");
    assert_eq!(
        other,
        ms(1),
        "another node's disk keeps the configured latency"
    );
    assert!(ranged >= ms(50) && ranged < ms(60), "{ranged:?}");
    assert_eq!(after, ms(1), "restored to the configured latency");
    let changes: Vec<(&str, SimEvent)> = out
        .trace
        .iter()
        .filter_map(|r| match &r.event {
            Ev::Sim(e @ SimEvent::DiskChanged { .. }) => Some((&*r.node, e.clone())),
            _ => None,
        })
        .collect();
    let changed = |min, max, restored| SimEvent::DiskChanged {
        fsync_min_us: min,
        fsync_max_us: max,
        restored,
    };
    assert_eq!(
        changes,
        vec![
            ("a", changed(200_000, 200_000, false)),
            ("a", changed(50_000, 60_000, false)),
            ("a", changed(1_000, 1_000, true)),
        ]
    );
}

#[test]
fn an_fsync_already_waiting_keeps_its_latency() {
    let out = kzsim_sim::run_seed(4, config(), |w: W| async move {
        w.add_node(NodeSpec::new("a"), receiver);
        w.set_disk_latency("a", Some(500_000..500_000));
        let w2 = w.clone();
        let waiting = madsim::task::spawn(async move { fsync_took(&w2, "a", "log").await });
        w.sleep(Duration::from_millis(10)).await;
        w.set_disk_latency("a", None);
        waiting.await.expect("the fsync task ends")
    });
    assert_eq!(out.result.unwrap(), Duration::from_millis(500));
}

#[test]
fn a_background_flush_is_durable_one_latency_later_and_a_crash_before_loses_it() {
    let out = kzsim_sim::run_seed(5, config(), |w: W| async move {
        w.add_node(NodeSpec::new("a"), receiver);
        w.sleep(Duration::from_millis(1)).await;
        let disk = w.disk("a");
        w.set_disk_latency("a", Some(300_000..300_000));
        disk.append("data", b"12345678");
        disk.flush_in_background("data", 8);
        w.sleep(Duration::from_millis(299)).await;
        let unsynced_before = disk.stats().bytes_unsynced;
        w.sleep(Duration::from_millis(1)).await;
        let unsynced_at = disk.stats().bytes_unsynced;
        // A second flush, cut short by a power loss.
        disk.append("data", b"abcdefgh");
        disk.flush_in_background("data", 16);
        w.sleep(Duration::from_millis(100)).await;
        assert_eq!(disk.flushes_in_flight(), 1);
        w.crash("a", CrashOptions::default());
        assert_eq!(disk.flushes_in_flight(), 0, "a power loss ends every flush");
        let kept = disk.len("data");
        // Truncating below an in-flight flush shortens it: it cannot make later bytes
        // durable.
        w.restart("a");
        disk.append("data", b"ABCDEFGH");
        disk.flush_in_background("data", 16);
        disk.truncate("data", 4);
        disk.append("data", b"zzzz");
        w.sleep(Duration::from_millis(400)).await;
        let unsynced_after_trunc = disk.stats().bytes_unsynced;
        (unsynced_before, unsynced_at, kept, unsynced_after_trunc)
    });
    assert_eq!(out.result.unwrap(), (8, 0, Some(8), 4));
}

#[test]
fn periodic_writeback_makes_what_was_written_before_each_second_durable() {
    let out = kzsim_sim::run_seed(6, config(), |w: W| async move {
        w.add_node(NodeSpec::new("a"), receiver);
        w.sleep(Duration::from_millis(100)).await;
        let disk = w.disk("a");
        disk.append("before", b"1234");
        disk.set_periodic_writeback();
        // At 0.1 s: "before" and "log" are written in period 0.
        disk.append("log", b"abcd");
        w.sleep(Duration::from_millis(950)).await;
        // At 1.05 s, period 1: the first writes are durable, this one not yet.
        disk.append("log", b"efgh");
        let unsynced_in_period_1 = disk.stats().bytes_unsynced;
        w.crash("a", CrashOptions::default());
        let kept = (disk.len("before"), disk.len("log"));
        // A file written again in place (removed, rewritten) is not durable until the next
        // period, however old its first contents were: a power loss leaves it empty.
        w.restart("a");
        disk.remove("before");
        disk.append("before", b"xy");
        w.crash("a", CrashOptions::default());
        (unsynced_in_period_1, kept, disk.len("before"))
    });
    assert_eq!(out.result.unwrap(), (4, (Some(4), Some(4)), Some(0)));
}

#[test]
fn periodic_writeback_on_a_slow_disk_lands_one_latency_after_the_period() {
    let out = kzsim_sim::run_seed(7, config(), |w: W| async move {
        w.add_node(NodeSpec::new("a"), receiver);
        let disk = w.disk("a");
        disk.set_periodic_writeback();
        w.set_disk_latency("a", Some(800_000..800_000));
        disk.append("log", b"abcd");
        // Written back from 1 s, landing at 1.8 s.
        w.sleep(Duration::from_millis(1_700)).await;
        let at_1_7 = disk.stats().bytes_unsynced;
        w.sleep(Duration::from_millis(100)).await;
        let at_1_8 = disk.stats().bytes_unsynced;
        (at_1_7, at_1_8)
    });
    assert_eq!(out.result.unwrap(), (4, 0));
}

/// A file last written long ago is written back even when a later file's writeback, noticed
/// first, is still in flight at the power loss (writebacks land in the order of their own
/// periods, not in the order kzsim notices them).
#[test]
fn an_old_periods_writeback_is_not_held_behind_a_recent_one() {
    let out = kzsim_sim::run_seed(8, config(), |w: W| async move {
        w.add_node(NodeSpec::new("a"), receiver);
        let disk = w.disk("a");
        disk.set_periodic_writeback();
        w.set_disk_latency("a", Some(20_000..20_000));
        disk.append("snapshot", b"old");
        w.sleep(Duration::from_millis(9_990)).await;
        disk.append("log", b"new");
        w.sleep(Duration::from_millis(10)).await;
        w.crash("a", CrashOptions::default());
        (disk.len("snapshot"), disk.len("log"))
    });
    assert_eq!(out.result.unwrap(), (Some(3), Some(0)));
}
