//! ZooKeeper-side regressions from the flag-free random campaigns (issue 21): each seed's
//! whole run (the campaign's scenario with the fault schedule it drew, saved under
//! `tests/zk_regressions/`) must pass every checker, and each corrected checker rule is
//! shown both ways on a hand-made history. Run hashes are not pinned: what must hold is
//! the verdict.

mod common;

use common::assert_passes;
use common::flags::flag_free;
use kzsim::campaign::sweep::run_with;
use kzsim::check::{zab, zk_watches};
use kzsim::history::event::SyncMode;
use kzsim::history::{Call, Event, EventRecord, History, Op, Outcome, Ret, ZkEvent};
use kzsim::sim::SimTime;
use std::path::Path;

/// Runs a saved campaign scenario on `seed` with its saved schedule, as the random and
/// guided campaigns run it (`sweep::run_with`).
fn saved_run(file: &str, text: &str, seed: u64) -> kzsim::runner::RunOutcome {
    let s = kzsim::scenario::parse(text, Path::new(file)).expect("scenario parses");
    let faults = s.faults.clone();
    run_with(&flag_free(s, true, seed..seed + 1), seed, faults)
}

/// [`saved_run`], requiring every checker to pass.
fn assert_seed_passes(file: &str, text: &str, seed: u64) {
    assert_passes(seed, &saved_run(file, text, seed));
}

/// `zk-leader-crash --random` seed 271: client5 held an exist watch on /k3 (set in epoch
/// 1); while it was disconnected /k3 was created (0x200000006) and deleted (0x20000000a);
/// its SetWatches on zk2 found no /k3 and set the watch again, so the creation was never
/// notified — the Programmer's Guide's one documented missed watch. `zk.watches.before-data`
/// used to call the next response a violation.
#[test]
fn seed_271_exist_watch_missed_while_disconnected() {
    assert_seed_passes(
        "zk-leader-crash-seed271.toml",
        include_str!("zk_regressions/zk-leader-crash-seed271.toml"),
        271,
    );
}

/// `zk-multi-sequential-queue --random` seed 60: zk1 acked 0x10000020e, restarted with it
/// on disk and rejoined leader zk3 before zk3's own fsync completed; zk3 chose TRUNC to its
/// last committed 0x10000020d (`LearnerHandler.syncFollower`), then committed 0x10000020e
/// counting zk1's earlier ACK, and re-sent it in the same sync. `zab.durable` used to call
/// the TRUNC a loss of a committed transaction.
#[test]
fn seed_60_trunc_chosen_before_the_commit_it_cuts() {
    assert_seed_passes(
        "zk-multi-sequential-queue-seed60.toml",
        include_str!("zk_regressions/zk-multi-sequential-queue-seed60.toml"),
        60,
    );
}

/// `kzsim campaign --standard zookeeper --random` seed 305: zk3, leading, had its clock
/// set back 4.7 s at 15.48 s, after its session-expiry timer was armed for a bucket by the
/// old clock. A touch at 15.56 s put a silent session in an earlier bucket (16 s by the new
/// clock), and the tracker slept until the armed one: it expired the session at 18 s by its
/// clock, 7.1 s after the touch, past timeout + tickTime (`zk.sessions.expiry-bounds`). The
/// leader now wakes for a bucket earlier than the armed one, as ZooKeeper's tracker, which
/// looks at its queue every tick, does.
#[test]
fn seed_305_expiry_timer_rearmed_after_the_leader_clock_went_back() {
    let text = include_str!("zk_regressions/standard-ensemble-seed305.toml");
    let o = saved_run("standard-ensemble-seed305.toml", text, 305);
    assert_passes(305, &o);
    let bounds = o
        .checks
        .iter()
        .find(|c| c.checker == "zk.sessions.expiry-bounds")
        .expect("judged");
    assert!(bounds.is_ok() && bounds.stats.checked > 0, "{bounds}");
}

/// `kzsim campaign --standard zookeeper --random` seed 831 (issue 14, slow disks): the
/// leader's disk took 1.1-1.5 s per fsync, and its host waited for a periodic snapshot
/// (behind the queued log appends, a barrier) before handling anything else, so it expired
/// a silent session 972 ms after the bucket's deadline (`zk.sessions.expiry-bounds`).
/// ZooKeeper writes periodic snapshots on a snapshot thread while its session tracker runs
/// on; the host now does too.
#[test]
fn seed_831_session_expiry_is_not_held_up_by_a_snapshot_on_a_slow_disk() {
    assert_seed_passes(
        "bench-standard-ensemble-seed831.toml",
        include_str!("zk_regressions/bench-standard-ensemble-seed831.toml"),
        831,
    );
}

/// `kzsim campaign --standard zookeeper --random` seed 247: zk3, restarted at the heal,
/// synced from leader zk2 by SNAP, and the snapshot zk2 sent carried zk2's own watch
/// table (an in-memory copy of its tree), so zk3 held client6's child watch on /group
/// that client6 had set on zk2. zk3 fired it when it applied the next change, and again
/// when client6 reconnected there and re-sent the watch with SetWatches: one watch, two
/// notifications (`zk.watches.once`). A snapshot holds no watches (`DataTree.serialize`);
/// the leader now sends the tree as one would.
#[test]
fn seed_247_a_snap_sync_does_not_carry_the_leaders_watches() {
    assert_seed_passes(
        "bench-standard-ensemble-seed247.toml",
        include_str!("zk_regressions/bench-standard-ensemble-seed247.toml"),
        247,
    );
}

const E1: i64 = 1 << 32;
const E2: i64 = 2 << 32;
const S: i64 = 0x1000_0000_0000_0003;

fn ev(at: u64, node: &str, e: ZkEvent) -> EventRecord {
    EventRecord {
        at: SimTime(at),
        node: node.into(),
        event: Event::Zk(e),
    }
}

fn op(session: i64, call: Call, at: u64, outcome: Outcome, ret: Ret, zxid: i64) -> Op {
    Op {
        process: session as u64,
        session: Some(session),
        node: None,
        call,
        invoke: SimTime(at),
        complete: Some(SimTime(at + 1)),
        outcome,
        ret,
        zxid: Some(zxid),
    }
}

fn rules(report: kzsim::check::CheckReport) -> Vec<String> {
    report
        .verdict
        .violations()
        .iter()
        .map(|v| v.checker.clone())
        .collect()
}

/// Session `S` sets an exist watch on /k (missing) at `E1 + 5`; another session creates
/// /k at `E2 + 1`; `deleted` adds its deletion at `E2 + 2`; `restored` adds S's
/// re-registration of the exist watch at zxid `restored`; S then gets a response at
/// `E2 + 3`.
fn missed_create(deleted: bool, restored: Option<i64>) -> History {
    let other = S + 1;
    let mut ops = vec![op(
        other,
        Call::Create {
            path: "/k".into(),
            data: Some("v".into()),
            ephemeral: false,
            sequential: false,
        },
        200,
        Outcome::Ok,
        Ret::Path { path: "/k".into() },
        E2 + 1,
    )];
    if deleted {
        ops.push(op(
            other,
            Call::Delete {
                path: "/k".into(),
                version: -1,
            },
            300,
            Outcome::Ok,
            Ret::None,
            E2 + 2,
        ));
    }
    ops.push(op(
        S,
        Call::GetData {
            path: "/x".into(),
            watch: false,
        },
        500,
        Outcome::Ok,
        Ret::None,
        E2 + 3,
    ));
    let mut events = vec![ev(
        100,
        "client1",
        ZkEvent::WatchSet {
            session: S,
            path: "/k".into(),
            watch: "exist".into(),
            zxid: E1 + 5,
        },
    )];
    if let Some(z) = restored {
        events.push(ev(
            400,
            "zk2",
            ZkEvent::WatchesRestored {
                session: S,
                zxid: z,
                data: vec![],
                exist: vec!["/k".into()],
                child: vec![],
            },
        ));
    }
    History {
        ops,
        events,
        ..History::new()
    }
}

#[test]
fn before_data_allows_only_the_documented_missed_exist_watch() {
    // Created and deleted while disconnected, re-registered after the delete: allowed.
    let h = missed_create(true, Some(E2 + 2));
    assert!(rules(zk_watches::check_before_data(&h)).is_empty());
    // Re-registered without firing although no recorded delete removed the node: the
    // server should have fired NodeCreated.
    let h = missed_create(false, Some(E2 + 2));
    assert_eq!(
        rules(zk_watches::check_before_data(&h)),
        vec![zk_watches::BEFORE_DATA]
    );
    // Re-registered before the delete (the node existed then): still a violation (and
    // the re-registered watch, which the delete triggers, is missed too).
    let h = missed_create(true, Some(E2 + 1));
    let v = rules(zk_watches::check_before_data(&h));
    assert!(
        !v.is_empty() && v.iter().all(|r| r == zk_watches::BEFORE_DATA),
        "{v:?}"
    );
    // No re-registration at all (the session stayed connected): a violation.
    let h = missed_create(true, None);
    assert_eq!(
        rules(zk_watches::check_before_data(&h)),
        vec![zk_watches::BEFORE_DATA]
    );
}

/// zk3 leads epoch 1; zk1 (with 0x..2 logged) restarts and rejoins; zk3 chooses TRUNC to
/// 0x..1 (`chosen_first`: before committing 0x..2, else after), zk1 truncates, and
/// (`redelivered`) delivers 0x..2 again from the same sync.
fn trunc_history(chosen_first: bool, redelivered: bool) -> History {
    let d = |z: i64| z as u64 * 7;
    let sync = ev(
        30,
        "zk3",
        ZkEvent::SyncSent {
            follower: 1,
            mode: SyncMode::Trunc,
            follower_zxid: E1 + 2,
            leader_zxid: E1 + 1,
            trunc_to: Some(E1 + 1),
        },
    );
    let commit = ev(
        31,
        "zk3",
        ZkEvent::Committed {
            zxid: E1 + 2,
            acked: vec![1, 3],
        },
    );
    let mut events = vec![
        ev(
            0,
            "zk3",
            ZkEvent::LeaderEstablished {
                epoch: 1,
                quorum: vec![1, 3],
            },
        ),
        ev(
            1,
            "zk3",
            ZkEvent::Proposed {
                zxid: E1 + 1,
                digest: d(E1 + 1),
                txn: "t1".into(),
            },
        ),
        ev(
            2,
            "zk3",
            ZkEvent::Proposed {
                zxid: E1 + 2,
                digest: d(E1 + 2),
                txn: "t2".into(),
            },
        ),
        ev(
            3,
            "zk3",
            ZkEvent::Committed {
                zxid: E1 + 1,
                acked: vec![1, 3],
            },
        ),
        ev(
            4,
            "zk1",
            ZkEvent::Delivered {
                zxid: E1 + 1,
                digest: d(E1 + 1),
            },
        ),
        ev(
            20,
            "zk1",
            ZkEvent::Recovered {
                last_zxid: E1 + 2,
                snapshot_zxid: 0,
                accepted_epoch: 1,
                current_epoch: 1,
                log_records: 2,
            },
        ),
    ];
    if chosen_first {
        events.extend([sync, commit]);
    } else {
        events.extend([commit, sync]);
    }
    events.push(ev(32, "zk1", ZkEvent::Truncated { to: E1 + 1 }));
    if redelivered {
        events.push(ev(
            33,
            "zk1",
            ZkEvent::Delivered {
                zxid: E1 + 2,
                digest: d(E1 + 2),
            },
        ));
    }
    History {
        events,
        ..History::new()
    }
}

#[test]
fn durable_allows_a_trunc_chosen_before_the_commit_and_resent() {
    let h = trunc_history(true, true);
    assert!(rules(zab::check(&h)).is_empty());
    // Never given back: the committed transaction is gone from zk1.
    let h = trunc_history(true, false);
    assert_eq!(rules(zab::check(&h)), vec!["zab.durable"]);
    // The leader knew it committed and cut it anyway.
    let h = trunc_history(false, true);
    assert_eq!(rules(zab::check(&h)), vec!["zab.durable"]);
}

/// Found by the flag-free random campaign on the standard ensemble (seeds 0..2000 at
/// 41f8132; its schedule is saved here): zk3 proposed epoch 2 and was paused for 25 s with
/// zk1's NEWLEADER ACK on the way; zk1 and zk2 then established epoch 3, and zk3 recorded
/// its establishment of epoch 2 only when it resumed at 36 s. `zab.one-leader` called that
/// "epochs must increase"; a leader paused across the newer establishment shows no order.
#[test]
fn seed_1376_leader_paused_across_a_newer_epoch_establishes_its_own_late() {
    let o = common::cluster_run(
        kzsim::bench::STANDARD_ENSEMBLE,
        1376,
        FAULTS_1376,
        Default::default(),
    );
    assert!(o.error.is_none(), "{}", o.verdict_line());
    let zab = o
        .checks
        .iter()
        .find(|c| c.checker == "zab")
        .expect("judged");
    assert!(zab.verdict.is_ok(), "{:?}", zab.verdict);
    assert!(o.passed(), "{}", o.verdict_line());
}

const FAULTS_1376: &str = r#"[[faults]]
at = "1803ms"
kind = "crash"
target = "zk1"
disk = "whole"

[[faults]]
at = "8005ms"
kind = "crash"
target = "zk1"
disk = "unsynced-tail"

[[faults]]
at = "8005ms"
kind = "crash"
target = "zk2"
disk = "unsynced-tail"

[[faults]]
at = "10187ms"
kind = "restart"
target = "zk1"

[[faults]]
at = "10508ms"
kind = "pause"
target = "zk3"

[[faults]]
at = "14368ms"
kind = "partition"
after = "zk-new-epoch"
after_delay = "290ms"
groups = [["zk3"]]

[[faults]]
at = "26297ms"
kind = "restart"
target = "zk2"

[[faults]]
at = "26857ms"
kind = "slow-disk"
target = "zk1"
fsync_latency = "1368ms..1520ms"

[[faults]]
at = "36s"
kind = "heal-all"
"#;

/// Found by the flag-free random campaign on the standard ensemble (seeds 0..2000 at
/// 41f8132; its schedule is saved here): a group member's session that had deleted its own
/// child expired at 36 s; `zk.group.converges` counted the expiry as a change to the group
/// and waited for the other members to re-read it, but the expiry removed nothing and no
/// watch fired.
#[test]
fn seed_1658_session_end_that_removes_no_member_is_not_a_group_change() {
    let o = common::cluster_run(
        kzsim::bench::STANDARD_ENSEMBLE,
        1658,
        FAULTS_1658,
        Default::default(),
    );
    common::assert_passes(1658, &o);
}

const FAULTS_1658: &str = r#"[[faults]]
at = "5891ms"
kind = "cut"
from = ["zk2"]
to = ["zk1", "zk3"]

[[faults]]
at = "25845ms"
kind = "pause"
after = "zk-proposal"
target = "zk1"
duration = "5420ms"

[[faults]]
at = "36s"
kind = "heal-all"
"#;

/// The flag-free guided campaign on the standard ensemble (`kzsim campaign --standard
/// zookeeper --guided --seeds 0..2000` at 66b2b94; its mutated schedule is saved here),
/// seed 799: zk1 and zk2 lost their whole disks; at the heal they formed epoch 1 again from
/// empty trees and truncated zk3 to 0x0. Every client had seen zxids of the lost history,
/// so every server refused it ("client has seen zxid ..., our last zxid is ...") and no
/// write succeeded after the heal. That outage is ZooKeeper's own rule applied to a
/// majority's amnesia: outside the fault model. With the disks kept in the same history
/// there is no amnesia, and the outage is a violation.
#[test]
fn seed_799_write_outage_after_a_majority_lost_its_disks_is_outside_the_fault_model() {
    let o = saved_run(
        "bench-standard-ensemble-guided-seed799.toml",
        include_str!("zk_regressions/bench-standard-ensemble-guided-seed799.toml"),
        799,
    );
    common::assert_outside_fault_model(&o);
    let live = o
        .checks
        .iter()
        .find(|c| c.checker == "liveness.after-heal")
        .expect("judged");
    let excuses = live.verdict.excuses();
    assert!(
        excuses.iter().any(|e| e.rule == "liveness.write"
            && e.message.contains("every writing client had seen zxid")),
        "{live}"
    );
    let kept = common::disks_kept(&o.history);
    let bound = std::time::Duration::from_secs(45);
    let c = kzsim::check::liveness::check(&kept, bound);
    assert!(
        c.verdict
            .violations()
            .iter()
            .any(|v| v.checker == "liveness.write"),
        "{c}"
    );
}

/// Requires `o` outside the fault model with an excuse of `rule` saying `why`, and the
/// same history with every disk kept (no amnesia) to violate `rule`.
fn assert_amnesia_excuses(o: &kzsim::runner::RunOutcome, rule: &str, why: &str) {
    common::assert_outside_fault_model(o);
    let zab_report = o
        .checks
        .iter()
        .find(|c| c.checker == "zab")
        .expect("zab judged");
    assert!(
        zab_report
            .verdict
            .excuses()
            .iter()
            .any(|e| e.rule == rule && e.message.contains(why)),
        "{zab_report}"
    );
    let kept = common::disks_kept(&o.history);
    let c = zab::check(&kept);
    assert!(
        c.verdict.violations().iter().any(|v| v.checker == rule),
        "{c}"
    );
}

/// Guided ensemble seed 908: zk2 had led epoch 2, then lost its disk; zk3, cut off since
/// epoch 1, still voted for zk2 with the zxid zk2 had before (0x20000000e), and
/// FastLeaderElection trusted it: zk2 won, led from an empty log and truncated zk3, the
/// one server that kept epoch 1's committed transactions, to nothing. The leader's own
/// amnesia, outside the fault model; with the disks kept, the truncation of committed
/// transactions is a violation.
#[test]
fn seed_908_a_leader_elected_on_its_forgotten_history_truncates_a_follower_outside_the_fault_model()
{
    let o = saved_run(
        "bench-standard-ensemble-guided-seed908.toml",
        include_str!("zk_regressions/bench-standard-ensemble-guided-seed908.toml"),
        908,
    );
    assert_amnesia_excuses(&o, "zab.durable", "won its election on a vote naming zxid");
}

/// Guided ensemble seed 1534: zk1 and zk3 committed 0x1000003c5 while zk2 was down; zk1
/// then lost its disk, and zk1 and zk2 elected zk2, whose log ended at 0x1000003c4; zk3
/// joined after the epoch's quorum had acknowledged and was truncated. The voters that
/// elected zk2 had all forgotten the transaction: outside the fault model.
/// (Replayed on seed 0 with the saved schedule since a new election connection starts
/// with the sender's latest vote, which moved every run's timing.)
#[test]
fn seed_1534_a_leader_elected_by_voters_that_forgot_outside_the_fault_model() {
    let seed = 0;
    let o = saved_run(
        "bench-standard-ensemble-guided-seed1534.toml",
        include_str!("zk_regressions/bench-standard-ensemble-guided-seed1534.toml"),
        seed,
    );
    assert_amnesia_excuses(
        &o,
        "zab.durable",
        "among those whose votes elected that leader",
    );
}

/// Guided ensemble seed 1477: zk1 and zk2, both with fresh disks, chose epoch 1 again
/// (their acceptedEpochs were 0); zk3, which remembered epoch 1, joined after the number
/// was chosen and acknowledged it as its own. The number is judged by the quorum that
/// chose it: outside the fault model; with the disks kept, two leaders of epoch 1.
/// (Replayed on seed 0 with the saved schedule since a new election connection starts
/// with the sender's latest vote, which moved every run's timing.)
#[test]
fn seed_1477_an_epoch_number_chosen_again_by_forgetful_servers_is_outside_the_fault_model() {
    let seed = 0;
    let o = saved_run(
        "bench-standard-ensemble-guided-seed1477.toml",
        include_str!("zk_regressions/bench-standard-ensemble-guided-seed1477.toml"),
        seed,
    );
    assert_amnesia_excuses(&o, "zab.one-leader", "the number was handed out again");
}

/// Guided ensemble seed 1025: a member recipe's session expired and the application
/// opened a new one; kzsim's client kept the old session's last zxid, which no server
/// reached again after a majority's amnesia, so every server refused the new handle and
/// no write succeeded after the heal. A new ZooKeeper handle has seen nothing
/// (ClientCnxn's lastZxid starts at 0): the reopened session connects and writes.
/// (Replayed on seed 3 with the saved schedule since a new election connection starts
/// with the sender's latest vote, which moved every run's timing.)
#[test]
fn seed_1025_a_reopened_session_is_not_refused_for_what_its_expired_one_saw() {
    let seed = 3;
    let o = saved_run(
        "bench-standard-ensemble-guided-seed1025.toml",
        include_str!("zk_regressions/bench-standard-ensemble-guided-seed1025.toml"),
        seed,
    );
    assert!(o.passed(), "{}", o.verdict_line());
    let heal = SimTime::from_millis(36_000);
    let reopened_wrote = o.history.ops.iter().any(|op| {
        op.process >> 32 > 0 && op.invoke >= heal && op.outcome == Outcome::Ok && op.call.is_write()
    });
    assert!(reopened_wrote, "no reopened session wrote after the heal");
}
