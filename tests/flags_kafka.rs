//! Kafka bug flags caught by campaigns (issue #6): each flag fails its story's scenario within
//! a few seeds, for the right reason and with a short schedule, and the same seeds pass with
//! every flag off. `kafka-hw-before-all-isr` is in `tests/campaign.rs`.
//!
//! (`kafka-7128-isr-expand` was dropped: unreachable in this model, see src/bugs.rs.)

mod common;

use common::flags::*;

/// KIP-101 scenario 1: the survivor re-follows a dead leader and, truncating to its lagging
/// HW, cuts an acknowledged record; then it is elected. The story needs the controller, the
/// leader and the survivor to be three different brokers, which about one seed in eight
/// draws; the budget leaves room for that.
#[test]
fn truncate_to_hw_is_caught() {
    caught_and_green("kafka-truncate-to-hw");
}

/// Jepsen 2013: the ISR shrank to the leader, which then dies; a live out-of-sync replica
/// is elected and the records the leader acknowledged alone are gone.
#[test]
fn elect_outside_isr_is_caught() {
    caught_and_green("kafka-elect-outside-isr");
}

/// KAFKA-6082: the controller is frozen while a broker bounces and its own session expires;
/// on resume it finishes the broker change it had received, on a new session, and elects
/// from its stale view. Without the `/controller_epoch` check that write lands after the
/// new controller's election. The story needs the frozen controller to be neither the
/// bounced leader of events/0 nor its follower, which about half the seeds draw.
#[test]
fn no_epoch_fencing_is_caught() {
    caught_and_green("kafka-no-epoch-fencing");
}

/// Jepsen's Kafka anomalies on real runs: the generic random campaign on the standard
/// cluster with the HW advanced before every ISR member has a record. Consumers read past
/// acknowledged records that the next leader no longer has (`kafka.queue.lost-write`), and
/// the producer sees a later acknowledgement at a lower offset than an earlier one
/// (`kafka.queue.nonmonotonic-send`). The same seeds are green without the flag.
#[test]
fn kafka_queue_rules_fire_on_real_runs() {
    use kzsim::campaign::sweep::{run_campaign, CampaignSpec};
    let mut spec = CampaignSpec {
        scenario: kzsim::bench::standard_cluster(),
        random: true,
        seeds: 25..26,
        shard: None,
        jobs: 2,
        bugs: kzsim::bugs::BugFlags::from_names(&["kafka-hw-before-all-isr"]).expect("flag"),
        shrink: false,
        shrink_runs_max: 0,
        strict_fault_model: false,
    };
    let flagged = run_campaign(&spec, |_| {});
    let rules: std::collections::BTreeSet<&str> = flagged
        .seeds
        .iter()
        .flat_map(|r| r.violated_rules.iter().map(String::as_str))
        .collect();
    for rule in ["kafka.queue.lost-write", "kafka.queue.nonmonotonic-send"] {
        assert!(rules.contains(rule), "{rule} not violated: {rules:?}");
    }
    spec.bugs = Default::default();
    let clean = run_campaign(&spec, |_| {});
    assert_eq!(clean.failures, 0, "{}", clean.table());
}
