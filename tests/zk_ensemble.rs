//! Whole-ensemble behaviour on the simulator, over many seeds (issue: the ZooKeeper
//! ensemble). Each test tells one fault story.

mod common;
use common::*;
use kzsim::cluster::EnsembleSpec;
use kzsim::history::{Outcome, ZkEvent, ZkRole};
use kzsim::zk::request::ZkOp;
use kzsim::zk::types::CreateMode;
use kzsim_sim::world::CrashOptions;
use std::collections::{BTreeMap, BTreeSet};

fn spec(n: usize) -> EnsembleSpec {
    EnsembleSpec {
        servers: n,
        ..EnsembleSpec::default()
    }
}

/// Acknowledged creates missing from `server`'s tree (empty if it is down).
fn missing_acked_creates(cluster: &kzsim::cluster::Cluster, server: &str) -> Vec<String> {
    let acked = acked_creates(&cluster.history());
    cluster
        .with_peer(server, |p| {
            acked
                .iter()
                .filter(|path| p.db().tree.node(path).is_none())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Every live server holds every acknowledged create.
fn assert_no_acked_create_lost(cluster: &kzsim::cluster::Cluster, seed: u64) {
    for name in cluster.server_names() {
        let missing = missing_acked_creates(cluster, &name);
        assert!(
            missing.is_empty(),
            "seed {seed}: {name} lost acknowledged creates {missing:?}"
        );
    }
}

/// Stops every client process, lets the ensemble settle, then checks that every live server
/// ends with the same tree (digest) and zxid.
async fn quiesce_and_assert_converged(cluster: &kzsim::cluster::Cluster) -> u64 {
    for c in ["c1", "owner", "watcher"] {
        if cluster.world().has_node(c) {
            cluster.world().crash(c, CrashOptions::default());
        }
    }
    cluster.world().sleep(secs(3)).await;
    assert_converged(cluster)
}

/// Every live server has the same tree and session table (digest). Zxids may differ by the
/// new leader's `epoch << 32` marker, which names no transaction.
fn assert_converged(cluster: &kzsim::cluster::Cluster) -> u64 {
    let mut seen = BTreeSet::new();
    for name in cluster.server_names() {
        if let Some(state) = cluster.with_peer(&name, |p| p.db().tree.digest()) {
            seen.insert(state);
        }
    }
    assert_eq!(seen.len(), 1, "servers disagree: {seen:?}");
    seen.into_iter().next().unwrap()
}

#[test]
fn three_and_five_servers_elect_exactly_one_leader() {
    for n in [3usize, 5] {
        for seed in 0..12 {
            let ran = run(seed, spec(n), |cluster| async move {
                cluster.world().sleep(secs(8)).await;
                let leaders: Vec<String> = cluster
                    .server_names()
                    .into_iter()
                    .filter(|s| {
                        cluster
                            .status(s)
                            .is_some_and(|st| st.role == Some(ZkRole::Leading))
                    })
                    .collect();
                let followers = cluster
                    .server_names()
                    .into_iter()
                    .filter(|s| {
                        cluster
                            .status(s)
                            .is_some_and(|st| st.role == Some(ZkRole::Following) && st.serving)
                    })
                    .count();
                (leaders, followers)
            });
            let (leaders, followers) = ran.value;
            assert_eq!(leaders.len(), 1, "n={n} seed={seed}: leaders {leaders:?}");
            assert_eq!(followers, n - 1, "n={n} seed={seed}");
            let established: Vec<u32> = zk_events(&ran.history)
                .into_iter()
                .filter_map(|(_, _, e)| {
                    if let ZkEvent::LeaderEstablished { epoch, .. } = e {
                        Some(epoch)
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(
                established,
                vec![1],
                "n={n} seed={seed}: one leader established, epoch 1"
            );
        }
    }
}

#[test]
fn a_client_writes_and_reads_through_any_server() {
    let ran = run(7, spec(3), |cluster| async move {
        let c2 = cluster.clone();
        cluster.add_client("c1", 10_000, move |c| {
            let _ = &c2;
            async move {
                assert!(c.wait_connected(secs(20)).await, "client connects");
                let created = c
                    .call(ZkOp::Create {
                        path: "/a".into(),
                        data: Some(b"1".to_vec()),
                        mode: CreateMode::PERSISTENT,
                    })
                    .await;
                assert!(created.is_ok(), "{created:?}");
                let read = c
                    .call(ZkOp::GetData {
                        path: "/a".into(),
                        watch: false,
                    })
                    .await;
                assert!(read.is_ok(), "{read:?}");
                let seq = c
                    .call(ZkOp::Create {
                        path: "/a/s".into(),
                        data: None,
                        mode: CreateMode::PERSISTENT_SEQUENTIAL,
                    })
                    .await;
                assert!(seq.is_ok(), "{seq:?}");
            }
        });
        cluster.world().sleep(secs(15)).await;
        quiesce_and_assert_converged(&cluster).await
    });
    let ops = &ran.history.ops;
    assert_eq!(ops.len(), 3, "{ops:#?}");
    assert!(ops.iter().all(|o| o.outcome == Outcome::Ok), "{ops:#?}");
    assert!(ops
        .iter()
        .all(|o| o.zxid.is_some() && o.session.is_some() && o.node.is_some()));
    match &ops[2].ret {
        kzsim::history::Ret::Path { path } => assert_eq!(path, "/a/s0000000000"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn leader_crash_elects_a_new_leader_that_has_every_committed_txn() {
    for seed in 0..8 {
        let ran = run(seed, spec(3), move |cluster| async move {
            cluster.add_client("c1", 10_000, sequential_creator("k"));
            cluster.world().sleep(secs(8)).await;
            let old = cluster.zk_leader().expect("a leader before the crash");
            cluster.world().crash(&old, CrashOptions::default());
            cluster.world().sleep(secs(12)).await;
            let new = cluster.zk_leader().expect("a new leader after the crash");
            assert_ne!(new, old);
            let acked = acked_creates(&cluster.history());
            let on_new = missing_acked_creates(&cluster, &new);
            assert!(
                on_new.is_empty(),
                "seed {seed}: acked creates missing on the new leader: {on_new:?}"
            );
            cluster.world().restart(&old);
            cluster.world().sleep(secs(10)).await;
            quiesce_and_assert_converged(&cluster).await;
            acked.len()
        });
        assert!(
            ran.value > 20,
            "seed {seed}: the workload made progress: {}",
            ran.value
        );
    }
}

#[test]
fn minority_leader_steps_down_and_the_majority_elects_without_losing_commits() {
    for seed in 0..6 {
        run(seed, spec(5), move |cluster| async move {
            cluster.add_client("c1", 10_000, sequential_creator("k"));
            cluster.world().sleep(secs(8)).await;
            let old = cluster.zk_leader().expect("leader");
            let others: Vec<String> = cluster
                .server_names()
                .into_iter()
                .filter(|n| *n != old)
                .collect();
            let minority = vec![old.clone(), others[0].clone()];
            let majority: Vec<String> = others[1..]
                .iter()
                .cloned()
                .chain(["c1".to_string()])
                .collect();
            cluster.world().partition(&[minority, majority]);
            cluster.world().sleep(secs(20)).await;
            let st = cluster.status(&old).unwrap();
            assert_ne!(
                st.role,
                Some(ZkRole::Leading),
                "seed {seed}: the isolated leader stepped down"
            );
            let new = cluster.zk_leader().expect("the majority elected a leader");
            assert!(others[1..].contains(&new), "seed {seed}: {new}");
            cluster.world().heal();
            cluster.world().sleep(secs(15)).await;
            quiesce_and_assert_converged(&cluster).await;
            assert_no_acked_create_lost(&cluster, seed);
        });
    }
}

#[test]
fn two_of_three_down_writes_fail_and_reads_fail_without_read_only_mode() {
    for read_only in [false, true] {
        let spec = EnsembleSpec {
            read_only,
            ..spec(3)
        };
        let ran = run(3, spec, |cluster| async move {
            cluster.add_client("c1", 10_000, |c| async move {
                c.wait_connected(secs(20)).await;
                let _ = c
                    .call(ZkOp::Create {
                        path: "/x".into(),
                        data: Some(b"v".to_vec()),
                        mode: CreateMode::PERSISTENT,
                    })
                    .await;
                madsim::time::sleep(secs(10)).await; // the outage starts at 8s
                for _ in 0..10 {
                    let _ = c
                        .call(ZkOp::SetData {
                            path: "/x".into(),
                            data: b"w".to_vec(),
                            version: -1,
                        })
                        .await;
                    let _ = c
                        .call(ZkOp::GetData {
                            path: "/x".into(),
                            watch: false,
                        })
                        .await;
                    madsim::time::sleep(secs(2)).await;
                }
            });
            cluster.world().sleep(secs(8)).await;
            let leader = cluster.zk_leader().unwrap();
            let follower = cluster
                .server_names()
                .into_iter()
                .find(|n| *n != leader)
                .unwrap();
            cluster.world().crash(&leader, CrashOptions::default());
            cluster.world().crash(&follower, CrashOptions::default());
            cluster.world().sleep(secs(6)).await;
            // A new session during the outage: only a read-only server could serve it (a
            // global session may not move to a read-only server).
            cluster.add_client("c2", 10_000, |c| async move {
                for _ in 0..10 {
                    let _ = c
                        .call(ZkOp::GetChildren {
                            path: "/".into(),
                            watch: false,
                        })
                        .await;
                    madsim::time::sleep(secs(2)).await;
                }
            });
            cluster.world().sleep(secs(34)).await;
        });
        let after: Vec<_> = ran
            .history
            .ops
            .iter()
            .filter(|o| o.invoke.as_millis() > 14_000)
            .collect();
        assert!(!after.is_empty());
        let writes_ok = after
            .iter()
            .filter(|o| o.call.is_write() && o.outcome == Outcome::Ok)
            .count();
        let reads_ok = after
            .iter()
            .filter(|o| !o.call.is_write() && o.outcome == Outcome::Ok)
            .count();
        assert_eq!(
            writes_ok, 0,
            "no write succeeds without a quorum (read_only={read_only})"
        );
        if read_only {
            assert!(reads_ok > 0, "read-only mode serves reads without a quorum");
        } else {
            assert_eq!(reads_ok, 0, "without read-only mode nothing is served");
        }
    }
}

#[test]
fn session_expiry_removes_ephemerals_and_fires_watches() {
    let ran = run(11, spec(3), |cluster| async move {
        cluster.add_client("owner", 4_000, |c| async move {
            c.wait_connected(secs(20)).await;
            c.call(ZkOp::Create {
                path: "/eph".into(),
                data: None,
                mode: CreateMode::EPHEMERAL,
            })
            .await
            .expect("create ephemeral");
        });
        cluster.add_client("watcher", 10_000, |c| async move {
            c.wait_connected(secs(20)).await;
            madsim::time::sleep(secs(3)).await;
            let _ = c
                .call(ZkOp::Exists {
                    path: "/eph".into(),
                    watch: true,
                })
                .await;
            madsim::time::sleep(secs(30)).await;
            let _ = c
                .call(ZkOp::Exists {
                    path: "/eph".into(),
                    watch: false,
                })
                .await;
        });
        cluster.world().sleep(secs(8)).await;
        // The owner's process freezes: its session stops pinging and expires.
        cluster.world().pause("owner");
        cluster.world().sleep(secs(30)).await;
        cluster.server_names().iter().all(|n| {
            cluster
                .with_peer(n, |p| p.db().tree.node("/eph").is_none())
                .unwrap_or(true)
        })
    });
    assert!(ran.value, "the ephemeral is gone on every server");
    let events = zk_events(&ran.history);
    let closed: Vec<_> = events
        .iter()
        .filter(|(_, _, e)| matches!(e, ZkEvent::SessionClosed { expired: true, .. }))
        .collect();
    assert_eq!(closed.len(), 1, "{closed:?}");
    match &closed[0].2 {
        ZkEvent::SessionClosed { ephemerals, .. } => {
            assert_eq!(ephemerals, &vec!["/eph".to_string()])
        }
        _ => unreachable!(),
    }
    assert!(events.iter().any(|(_, _, e)| matches!(e, ZkEvent::WatchFired { path, event, .. } if path == "/eph" && event.contains("Deleted"))));
    let last = ran.history.ops.last().unwrap();
    assert!(
        matches!(last.ret, kzsim::history::Ret::Stat { stat: None }),
        "{last:?}"
    );
}

#[test]
fn restarted_followers_catch_up_by_diff_trunc_and_snap() {
    let mut modes = BTreeMap::new();
    for seed in 0..10 {
        let ran = run(
            seed,
            EnsembleSpec {
                snap_count: 200,
                ..spec(3)
            },
            |cluster| async move {
                cluster.add_client("c1", 10_000, sequential_creator("k"));
                cluster.world().sleep(secs(6)).await;
                let leader = cluster.zk_leader().unwrap();
                let follower = cluster
                    .server_names()
                    .into_iter()
                    .find(|n| *n != leader)
                    .unwrap();
                // A short outage: DIFF. A long one (more than the 500 kept txns): SNAP.
                cluster.world().crash(&follower, CrashOptions::default());
                cluster.world().sleep(secs(1)).await;
                cluster.world().restart(&follower);
                cluster.world().sleep(secs(5)).await;
                cluster.world().crash(&follower, CrashOptions::default());
                cluster.world().sleep(secs(40)).await;
                cluster.world().restart(&follower);
                cluster.world().sleep(secs(8)).await;
                // Old leader with a tail nobody else logged: TRUNC after it rejoins.
                let leader = cluster.zk_leader().unwrap();
                cluster.world().pause(&leader);
                cluster.world().sleep(secs(20)).await;
                cluster.world().crash(&leader, CrashOptions::default());
                cluster.world().restart(&leader);
                cluster.world().sleep(secs(10)).await;
                quiesce_and_assert_converged(&cluster).await;
            },
        );
        for (_, _, e) in zk_events(&ran.history) {
            if let ZkEvent::SyncSent { mode, .. } = e {
                *modes.entry(format!("{mode:?}")).or_insert(0) += 1;
            }
        }
    }
    assert!(
        modes.contains_key("Diff") && modes.contains_key("Snap"),
        "{modes:?}"
    );
}

#[test]
fn a_crash_loses_only_unsynced_data_never_acknowledged_writes() {
    for seed in 0..8 {
        run(seed, spec(3), move |cluster| async move {
            cluster.add_client("c1", 10_000, sequential_creator("k"));
            cluster.world().sleep(secs(6)).await;
            // Crash everyone at once, torn tails included, then bring them back.
            for n in cluster.server_names() {
                cluster.world().crash(
                    &n,
                    CrashOptions {
                        torn: true,
                        lose_disk: false,
                        page_cache_kept: false,
                    },
                );
            }
            cluster.world().sleep(secs(1)).await;
            for n in cluster.server_names() {
                cluster.world().restart(&n);
            }
            cluster.world().sleep(secs(15)).await;
            // Quiesce first: a create acknowledged an instant ago may not have reached
            // the follower outside its quorum yet (seed 7: /k02318 acked at 21.9996 s).
            quiesce_and_assert_converged(&cluster).await;
            let acked = acked_creates(&cluster.history());
            assert!(!acked.is_empty());
            assert_no_acked_create_lost(&cluster, seed);
        });
    }
}

#[test]
fn an_old_leaders_unreplicated_tail_is_truncated_when_it_rejoins() {
    let mut truncs = 0;
    for seed in 0..6 {
        let ran = run(seed, spec(3), move |cluster| async move {
            cluster.add_client("c1", 10_000, sequential_creator("k"));
            cluster.world().sleep(secs(6)).await;
            let old = cluster.zk_leader().unwrap();
            // The leader and its only client are cut off: it logs proposals nobody acks.
            let rest: Vec<String> = cluster
                .server_names()
                .into_iter()
                .filter(|n| *n != old)
                .collect();
            cluster
                .world()
                .partition(&[vec![old.clone(), "c1".into()], rest]);
            cluster.world().sleep(secs(14)).await;
            // Heal with no client left: the new leader has committed nothing in its epoch
            // when the old leader rejoins, so the old tail is cut back (TRUNC).
            cluster.world().crash("c1", CrashOptions::default());
            cluster.world().heal();
            cluster.world().sleep(secs(6)).await;
            assert_no_acked_create_lost(&cluster, seed);
            quiesce_and_assert_converged(&cluster).await;
        });
        let events = zk_events(&ran.history);
        let t = events
            .iter()
            .filter(|(_, _, e)| {
                matches!(
                    e,
                    ZkEvent::SyncSent {
                        mode: kzsim::history::event::SyncMode::Trunc,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(
            t,
            events
                .iter()
                .filter(|(_, _, e)| matches!(e, ZkEvent::Truncated { .. }))
                .count()
        );
        truncs += t;
    }
    assert!(truncs >= 3, "the story produces TRUNC syncs: {truncs}");
}

#[test]
fn autopurge_keeps_the_retained_snapshots_and_recovery_still_works() {
    let spec = EnsembleSpec {
        snap_count: 60,
        purge_retain: Some(3),
        ..spec(3)
    };
    run(4, spec, |cluster| async move {
        cluster.add_client("c1", 10_000, sequential_creator("k"));
        cluster.world().sleep(secs(20)).await;
        for name in cluster.server_names() {
            let snaps = cluster.world().disk(&name).list("snapshot.").len();
            assert!((1..=3).contains(&snaps), "{name} keeps {snaps} snapshots");
        }
        let victim = cluster.server_names()[0].clone();
        cluster.world().crash(&victim, CrashOptions::default());
        cluster.world().sleep(secs(1)).await;
        cluster.world().restart(&victim);
        cluster.world().sleep(secs(8)).await;
        quiesce_and_assert_converged(&cluster).await;
        assert_no_acked_create_lost(&cluster, 4);
    });
}

/// A server left looking alone for long enough that FastLeaderElection's resend timer has
/// backed off to many seconds still elects at once when a peer comes back: the peer's
/// new election connection carries the lonely server's latest vote to it
/// (QuorumCnxManager's `SendWorker` starts with the queued message, or `lastMessageSent`),
/// so neither waits for the other's timer. Without that resend the two sat on different
/// votes until the lonely server's timer fired, tens of seconds later (random campaign
/// seed 76 of the standard cluster's shape).
#[test]
fn a_server_looking_alone_elects_at_once_with_a_peer_that_comes_back() {
    for seed in 0..4 {
        let ran = run(seed, spec(3), move |cluster| async move {
            cluster.world().sleep(secs(2)).await;
            let leader = cluster.zk_leader().expect("a leader");
            let others: Vec<String> = cluster
                .server_names()
                .into_iter()
                .filter(|s| *s != leader)
                .collect();
            // One server looks alone for 25 s, then another comes back. Nothing is written, so every vote names the same zxid and the lonely
            // server's own vote (the higher sid) beats the returning one's: it has no
            // reason to answer the returning server's vote, only the new connection does.
            let (returning, lonely) = (&others[0], &others[1]);
            assert!(returning < lonely);
            // Every server goes down; the lonely one starts again first, so both start
            // their first election (the same logical clock): neither's receiver answers
            // the other for being behind.
            for s in cluster.server_names() {
                cluster.world().crash(&s, CrashOptions::default());
            }
            cluster.world().sleep(secs(1)).await;
            cluster.world().restart(lonely);
            cluster.world().sleep(secs(25)).await;
            assert_eq!(cluster.zk_leader(), None, "one server alone elects nobody");
            let back = kzsim::sim::SimTime::now();
            cluster.world().restart(returning);
            cluster.world().sleep(secs(2)).await;
            let established = cluster.history().events.iter().rev().find_map(|r| {
                matches!(
                    r.event,
                    kzsim::history::Event::Zk(ZkEvent::LeaderEstablished { .. })
                )
                .then_some(r.at)
            });
            (back, established)
        });
        let (back, established) = ran.value;
        let established = established.expect("a leader is established after the return");
        assert!(
            established > back && established.0 - back.0 < 1_000_000_000,
            "seed {seed}: returned at {back:?}, leader established at {established:?}: more than 1 s"
        );
    }
}
