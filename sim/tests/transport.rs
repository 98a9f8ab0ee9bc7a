//! The transport's guarantees, each shown by a run.

mod common;
use common::*;
use kzsim_sim::world::CrashOptions;
use kzsim_sim::{NetConfig, RunConfig};
use std::time::Duration;

#[test]
fn delivery_is_fifo_despite_random_latency_and_loss() {
    let config = RunConfig {
        net: NetConfig {
            latency_us: 1_000..50_000,
            loss_permille: 200,
            ..Default::default()
        },
        ..Default::default()
    };
    let out = two_nodes(3, config, 2_000, Duration::ZERO, |w| {
        Box::pin(async move { w.sleep(Duration::from_secs(30)).await })
    });
    out.result.as_ref().unwrap();
    assert_eq!(got(&out, "b"), (0..2_000).collect::<Vec<_>>());
}

#[test]
fn crash_resets_the_peer_after_in_flight_data() {
    // b dies while a is sending: a's next messages meet no listener, so a sees a reset.
    let out = two_nodes(
        1,
        RunConfig::default(),
        1_000,
        Duration::from_millis(1),
        |w| {
            Box::pin(async move {
                w.sleep(Duration::from_millis(200)).await;
                w.crash("b", CrashOptions::default());
                w.sleep(Duration::from_millis(200)).await;
            })
        },
    );
    out.result.as_ref().unwrap();
    let received = got(&out, "b");
    assert!(
        !received.is_empty() && received.len() < 1_000,
        "{}",
        received.len()
    );
    assert_eq!(
        received,
        (0..received.len() as u64).collect::<Vec<_>>(),
        "a gap-free prefix"
    );
    assert_eq!(closes(&out, "a"), vec!["Reset".to_string()]);
}

#[test]
fn sender_crash_delivers_its_data_then_resets() {
    let out = two_nodes(2, RunConfig::default(), 50, Duration::ZERO, |w| {
        Box::pin(async move {
            w.sleep(Duration::from_micros(1_500)).await; // a has sent everything, little arrived
            w.crash("a", CrashOptions::default());
            w.sleep(Duration::from_millis(100)).await;
        })
    });
    assert_eq!(got(&out, "b"), (0..50).collect::<Vec<_>>());
    assert_eq!(closes(&out, "b"), vec!["Reset".to_string()]);
}

#[test]
fn connecting_to_a_down_node_is_refused() {
    let out = two_nodes(4, RunConfig::default(), 5, Duration::ZERO, |w| {
        Box::pin(async move {
            w.sleep(Duration::from_millis(100)).await;
            w.crash("b", CrashOptions::default());
            w.restart("a");
            w.sleep(Duration::from_millis(100)).await;
        })
    });
    assert_eq!(closes(&out, "a"), vec!["Refused".to_string()]);
}

#[test]
fn partition_stalls_silently_and_heal_delivers_everything() {
    let out = two_nodes(
        5,
        RunConfig::default(),
        300,
        Duration::from_millis(10),
        |w| {
            Box::pin(async move {
                w.sleep(Duration::from_millis(500)).await;
                w.partition(&[vec!["a".into()], vec!["b".into()]]);
                w.sleep(Duration::from_secs(5)).await;
                assert!(!w.net().can_reach("a", "b"));
                w.heal();
                w.sleep(Duration::from_secs(2)).await;
            })
        },
    );
    out.result.as_ref().unwrap();
    assert_eq!(got(&out, "b"), (0..300).collect::<Vec<_>>());
    assert!(
        closes(&out, "a").is_empty() && closes(&out, "b").is_empty(),
        "nobody is told of a partition"
    );
    // Nothing arrived during the partition.
    let during: Vec<_> = out
        .trace
        .iter()
        .filter(|r| matches!(r.event, Ev::Got { .. }))
        .filter(|r| r.at.as_millis() > 520 && r.at.as_millis() < 5_500)
        .collect();
    assert!(
        during.is_empty(),
        "{} messages crossed the partition",
        during.len()
    );
}

#[test]
fn a_long_stall_times_out_both_ends() {
    let config = RunConfig {
        net: NetConfig {
            giveup_ms: 2_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let out = two_nodes(6, config, 100, Duration::from_millis(10), |w| {
        Box::pin(async move {
            w.sleep(Duration::from_millis(100)).await;
            w.cut("a", "b");
            w.sleep(Duration::from_secs(5)).await;
            w.heal();
            w.sleep(Duration::from_secs(1)).await;
        })
    });
    assert_eq!(closes(&out, "a"), vec!["TimedOut".to_string()]);
    assert_eq!(closes(&out, "b"), vec!["TimedOut".to_string()]);
    let received = got(&out, "b");
    assert!(received.len() < 100 && !received.is_empty());
}

#[test]
fn one_way_cut_blocks_only_one_direction() {
    kzsim_sim::run_seed(7, RunConfig::default(), |w: W| async move {
        w.add_node(kzsim_sim::NodeSpec::new("x"), receiver);
        w.add_node(kzsim_sim::NodeSpec::new("y"), receiver);
        w.cut("x", "y");
        assert!(!w.net().can_reach("x", "y"));
        assert!(w.net().can_reach("y", "x"));
        w.partition(&[vec!["x".into(), "y".into()], vec!["z".into()]]);
        assert!(!w.net().can_reach("x", "y"), "cuts survive a new partition");
        assert!(w.net().can_reach("y", "x"));
        assert!(!w.net().can_reach("x", "z"));
        w.heal();
        assert!(w.net().can_reach("x", "y"));
    })
    .result
    .unwrap();
}

#[test]
fn a_sender_that_outruns_the_transport_ends_the_run_with_an_error() {
    use kzsim_sim::net::CONN_QUEUE_MAX;
    let quiet = |w: W| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        Box::pin(async move { w.sleep(Duration::from_millis(100)).await })
    };
    // Every message is sent at once, before the first can be delivered; the connection's
    // opening waits in the same queue.
    let at_bound = two_nodes(
        1,
        RunConfig::default(),
        CONN_QUEUE_MAX as u64 - 1,
        Duration::ZERO,
        quiet,
    );
    at_bound.result.as_ref().unwrap();
    assert_eq!(got(&at_bound, "b").len(), CONN_QUEUE_MAX - 1);
    let past = two_nodes(
        1,
        RunConfig::default(),
        CONN_QUEUE_MAX as u64,
        Duration::ZERO,
        quiet,
    );
    let err = format!("{:?}", past.result.as_ref().expect_err("the run fails"));
    assert!(
        err.contains("a -> b holds 100000 undelivered messages"),
        "{err}"
    );
}
