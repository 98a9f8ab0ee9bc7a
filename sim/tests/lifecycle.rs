//! Node lifecycle: restart from disk, pause/resume, clocks.

mod common;
use common::*;
use kzsim_sim::world::{CrashOptions, NodeState};
use kzsim_sim::{NodeClock, NodeSpec, RunConfig};
use std::time::Duration;

#[test]
fn restart_starts_a_new_incarnation_with_the_synced_disk() {
    let out = kzsim_sim::run_seed(1, RunConfig::default(), |w: W| async move {
        w.add_node(NodeSpec::new("b"), receiver);
        w.sleep(Duration::from_millis(10)).await;
        let disk = w.disk("b");
        disk.append("data", b"12345678");
        disk.mark_durable("data", 8);
        disk.append("data", b"unsynced");
        w.crash("b", CrashOptions::default());
        assert_eq!(w.state("b"), NodeState::Down);
        w.restart("b");
        w.sleep(Duration::from_millis(10)).await;
        w.crash(
            "b",
            CrashOptions {
                lose_disk: true,
                torn: false,
                page_cache_kept: false,
            },
        );
        w.restart("b");
        w.sleep(Duration::from_millis(10)).await;
    });
    out.result.unwrap();
    let recovered: Vec<usize> = out
        .trace
        .iter()
        .filter_map(|r| {
            if let Ev::Recovered { bytes } = r.event {
                Some(bytes)
            } else {
                None
            }
        })
        .collect();
    // first start: the harness had not written yet; restart: only the synced 8 bytes;
    // after disk loss: nothing.
    assert_eq!(recovered, vec![0, 8, 0]);
    let starts = out
        .trace
        .iter()
        .filter(|r| matches!(r.event, Ev::Sim(kzsim_sim::SimEvent::NodeStarted { .. })))
        .count();
    assert_eq!(starts, 3);
}

#[test]
fn pause_freezes_a_node_and_resume_continues_it() {
    let out = kzsim_sim::run_seed(2, RunConfig::default(), |w: W| async move {
        w.add_node(NodeSpec::new("t"), ticker);
        w.sleep(Duration::from_millis(1_050)).await;
        w.pause("t");
        w.sleep(Duration::from_secs(3)).await;
        w.resume("t");
        w.sleep(Duration::from_millis(1_000)).await;
    });
    let ticks: Vec<(u64, u64)> = out
        .trace
        .iter()
        .filter_map(|r| {
            if let Ev::Tick { n, .. } = r.event {
                Some((r.at.as_millis(), n))
            } else {
                None
            }
        })
        .collect();
    assert!(
        ticks.iter().all(|(at, _)| !(1_100..4_050).contains(at)),
        "ticks while paused: {ticks:?}"
    );
    let last = ticks.last().unwrap().1;
    assert!(
        (19..=21).contains(&last),
        "10 ticks before, ~10 after: {last}"
    );
}

#[test]
fn node_clocks_have_offset_and_drift() {
    let out = kzsim_sim::run_seed(3, RunConfig::default(), |w: W| async move {
        w.add_node(
            NodeSpec {
                name: "fast".into(),
                clock: NodeClock {
                    offset_ns: 3_600_000_000_000,
                    drift_ppm: 300_000,
                },
            },
            ticker,
        );
        w.add_node(NodeSpec::new("exact"), ticker);
        w.sleep(Duration::from_millis(1_050)).await;
    });
    let local = |node: &str| {
        out.trace
            .iter()
            .filter(|r| &*r.node == node)
            .filter_map(|r| {
                if let Ev::Tick { n: 10, local_ms } = r.event {
                    Some(local_ms)
                } else {
                    None
                }
            })
            .next()
            .unwrap()
    };
    assert!((1_000..1_010).contains(&local("exact")));
    assert!(
        (3_601_300..3_601_320).contains(&local("fast")),
        "{}",
        local("fast")
    );
}

#[test]
fn a_panic_in_a_node_becomes_a_run_error_with_its_message() {
    let out = kzsim_sim::run_seed(4, RunConfig::default(), |w: W| async move {
        w.add_node(NodeSpec::new("p"), |_ctx: Ctx| async move {
            madsim::time::sleep(Duration::from_millis(5)).await;
            panic!("invariant broken in p");
        });
        w.sleep(Duration::from_secs(1)).await;
    });
    let err = out.result.unwrap_err();
    assert!(err.to_string().contains("invariant broken in p"), "{err}");
}

#[test]
fn the_time_limit_ends_a_run_that_would_hang() {
    let config = RunConfig {
        time_limit: Duration::from_secs(2),
        ..Default::default()
    };
    let out = kzsim_sim::run_seed(5, config, |w: W| async move {
        w.add_node(NodeSpec::new("t"), ticker);
        w.sleep(Duration::from_secs(10)).await;
    });
    assert!(
        matches!(
            out.result,
            Err(kzsim_sim::world::RunError::TimeLimit { .. })
        ),
        "{:?}",
        out.result.err()
    );
}
