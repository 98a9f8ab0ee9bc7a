//! Issue 14 item 3: the ZooKeeper sync-phase bugs that TLA+-guided testing found
//! (ZOOKEEPER-3911, 4643, 4685, 4394, 4712) and KAFKA-6361, each re-introduced by a flag.
//! Each test shows its flag caught by the campaign `kzsim bugs` lists for it (the generic
//! random campaign where that catches it, else a scripted story), for the rule the flag
//! breaks, and the same seeds green with every flag off.

mod common;

use common::flags::flag_free;
use kzsim::bugs::{BugFlags, FLAGS};
use kzsim::campaign::sweep::run_campaign;
use kzsim::runner::{run_scenario, RunOptions};
use std::ops::Range;
use std::path::Path;

/// Runs the campaign `kzsim bugs` lists for `flag` on `seeds` (inside its seed budget) with
/// the flag on and with every flag off: some seed must violate `rule` with it, and every
/// seed must pass without it. Returns the seeds that caught it. (Unlike
/// `caught_and_green`, the catching run need not shrink: proptest's shrinker gives up on
/// some schedules within its run budget, which says nothing about the flag.)
fn caught_on(flag: &str, seeds: Range<u64>, rule: &str) -> Vec<u64> {
    let info = FLAGS.iter().find(|f| f.name == flag).expect("listed flag");
    assert!(
        info.rules.contains(&rule),
        "{flag}: {rule} is not among its rules"
    );
    let campaign = info.shown_by.expect("a campaign is listed");
    assert!(
        seeds.end <= campaign.seed_budget,
        "{flag}: {seeds:?} outside the budget"
    );
    let scenario = campaign
        .scenario
        .load(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("scenario loads");
    let mut spec = flag_free(scenario, campaign.random, seeds);
    spec.bugs = BugFlags::from_names(&[flag]).expect("known flag");
    let flagged = run_campaign(&spec, |_| {});
    let caught: Vec<u64> = flagged
        .seeds
        .iter()
        .filter(|r| r.violated_rules.iter().any(|v| v == rule))
        .map(|r| r.seed)
        .collect();
    assert!(
        !caught.is_empty(),
        "{flag}: {rule} not violated\n{}",
        flagged.table()
    );
    spec.bugs = BugFlags::default();
    let clean = run_campaign(&spec, |_| {});
    assert_eq!(clean.failures, 0, "{flag}: flag-free\n{}", clean.table());
    caught
}

/// ZOOKEEPER-4685: a learner whose sync carries transactions the leader committed ACKs them
/// as they are fsynced, ahead of its NEWLEADER ACK. The leader, still waiting for a quorum,
/// reads that first ACK as the NEWLEADER ACK, finds the wrong zxid and does not count the
/// learner (`zab.legal`); if it needed that learner it gives up after initLimit. Any new
/// epoch established while a follower lags shows it, so the generic ZooKeeper campaign
/// catches it within a few seeds (seed 11 here).
#[test]
fn zk_4685_proposal_acks_first_is_caught_by_the_generic_campaign() {
    caught_on("zk-4685-proposal-acks-first", 11..12, "zab.legal");
}

/// ZOOKEEPER-4394: a learner joining under load has outstanding proposals in its sync; at
/// NEWLEADER it logs them and empties its queue, so the COMMIT of one of them arriving
/// before UPTODATE finds no proposal: the real learner dies of a NullPointerException and
/// resyncs (`zab.legal`). The generic ZooKeeper campaign catches it within a few dozen
/// seeds (seed 18 here, the first since random schedules draw client-side outages).
#[test]
fn zk_4394_newleader_drains_queue_is_caught_by_the_generic_campaign() {
    caught_on("zk-4394-newleader-drains-queue", 18..19, "zab.legal");
}

/// ZOOKEEPER-4643 (3.8.4's order): a follower syncing by DIFF persists currentEpoch before
/// the DIFF's transactions reach its disk. In `zk-sync-crash-before-log` it crashes in that
/// window, comes back claiming the new epoch without them, beats the server holding them
/// (votes compare epochs first) and truncates writes committed in the old epoch
/// (`zab.durable`). The generic campaign did not catch it in 2,000 seeds:
/// the story needs the syncing follower to lose power inside its fsync while the new
/// leader is also down, then to come back before it.
#[test]
fn zk_4643_epoch_before_log_is_caught_by_its_story() {
    caught_on("zk-4643-epoch-before-log", 0..4, "zab.durable");
}

/// ZOOKEEPER-3911 (before 3.6.2): the same follower acknowledges NEWLEADER at once and logs
/// the DIFF only after UPTODATE; the same story loses the same committed writes
/// (`zab.durable`). Not caught by the generic campaign in 2,000 seeds either.
#[test]
fn zk_3911_diff_logged_late_is_caught_by_its_story() {
    caught_on("zk-3911-diff-logged-late", 0..4, "zab.durable");
}

/// KAFKA-6361 (before KIP-279): asked where an epoch ends, a leader answers with the start
/// of its next epoch and no epoch of its own, and nothing at all for an epoch older than
/// every one it has; a follower whose epochs the leader never had keeps records where the
/// leader has others (`kafka.replicas_agree`). The generic Kafka campaign caught it on 7 of
/// seeds 0..2000 of the draws before random schedules aimed at moments, but not on 0..1500
/// of today's (issue #14), so `kzsim bugs` shows it by its story, `kafka-fast-leader-changes`.
#[test]
fn kafka_6361_pre_kip_279_is_caught_by_its_story() {
    caught_on("kafka-6361-pre-kip-279", 0..4, "kafka.replicas_agree");
}

/// KAFKA-6361's own story, `kafka-fast-leader-changes`: leadership moves to the second
/// replica and back (uncleanly) before it can truncate; with the flag, on seed 0, it keeps
/// the records it wrote as leader at offsets where the final leader has others
/// (`kafka.replicas_agree`); flag-free the run passes.
#[test]
fn kafka_6361_story_shows_the_divergence() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kafka-fast-leader-changes.toml");
    let s = kzsim::scenario::load(&path).expect("scenario loads");
    let run = |flags: &[&str]| {
        run_scenario(
            &s,
            &RunOptions {
                seed: 0,
                bugs: BugFlags::from_names(flags).expect("known flags"),
                faults: None,
            },
        )
    };
    let flagged = run(&["kafka-6361-pre-kip-279"]);
    let rules: Vec<String> = flagged
        .checks
        .iter()
        .flat_map(|c| c.verdict.violations())
        .map(|v| v.checker.clone())
        .collect();
    assert!(
        rules.iter().any(|r| r == "kafka.replicas_agree"),
        "{}",
        flagged.verdict_line()
    );
    let clean = run(&[]);
    assert!(clean.passed(), "{}", clean.verdict_line());
}
