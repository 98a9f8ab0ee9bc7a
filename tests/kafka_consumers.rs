//! Issue 13, item 3: Jepsen's Kafka consumer anomalies judged on real runs. Each
//! `kafka.queue` rule that no historical bug flag trips fires on a run of the standard
//! cluster (without faults, or with one consumer bounce where the rule needs a rebalance)
//! when the mechanism it rests on is broken by a test-only mutation (`KafkaBugs::test_*`),
//! and stays quiet on the same seed with the mechanism intact. (`kafka.queue.lost-write` and `nonmonotonic-send` fire under the
//! historical flag `kafka-hw-before-all-isr`: tests/flags_kafka.rs.)

mod common;

use kzsim::bugs::BugFlags;
use kzsim::check::CheckReport;
use kzsim::kafka::replica::KafkaBugs;
use kzsim::runner::RunOutcome;

/// Seeds each mutation is tried on, in order.
const SEEDS: std::ops::Range<u64> = 0..3;

/// A group member crashes long enough for its session to expire, then comes back: its
/// partition moves to the other member and back, each move a rebalance after offsets were
/// committed.
const MEMBER_BOUNCE: &str = r#"[[faults]]
at = "20s"
kind = "crash"
target = "consumer2"

[[faults]]
at = "32s"
kind = "restart"
target = "consumer2"
"#;

/// The standard cluster with `faults` (or none) and `kafka`'s mutations, on `seed`.
fn run_with(kafka: KafkaBugs, seed: u64, faults: &str) -> RunOutcome {
    let bugs = BugFlags {
        kafka,
        ..BugFlags::default()
    };
    common::standard_cluster_run(seed, faults, bugs)
}

fn queue_report(o: &RunOutcome) -> &CheckReport {
    o.checks
        .iter()
        .find(|c| c.checker == "kafka.queue")
        .unwrap_or_else(|| {
            let names: Vec<&str> = o.checks.iter().map(|c| c.checker.as_str()).collect();
            panic!("no kafka.queue report; checks: {names:?}")
        })
}

fn violates(o: &RunOutcome, rule: &str) -> bool {
    queue_report(o)
        .violations()
        .iter()
        .any(|v| v.checker == rule)
}

/// `mutation` makes `rule` fire on some seed of [`SEEDS`] under `faults`, and the intact
/// run of that seed judges the queue and finds nothing wrong with it.
fn fires_when_broken(mutation: KafkaBugs, rule: &str, faults: &str) {
    let seed = SEEDS
        .clone()
        .find(|&seed| violates(&run_with(mutation, seed, faults), rule))
        .unwrap_or_else(|| panic!("{rule} did not fire with {mutation:?} on seeds {SEEDS:?}"));
    let intact = run_with(KafkaBugs::default(), seed, faults);
    let report = queue_report(&intact);
    assert!(
        report.is_ok(),
        "kafka.queue on the intact run of seed {seed}:\n{report}"
    );
}

#[test]
fn duplicate_fires_when_the_leader_appends_a_record_twice() {
    fires_when_broken(
        KafkaBugs {
            test_leader_appends_twice: true,
            ..KafkaBugs::default()
        },
        "kafka.queue.duplicate",
        "",
    );
}

#[test]
fn poll_skip_fires_when_fetches_start_after_the_asked_offset() {
    fires_when_broken(
        KafkaBugs {
            test_client_fetch_from_next: true,
            ..KafkaBugs::default()
        },
        "kafka.queue.poll-skip",
        "",
    );
}

#[test]
fn nonmonotonic_poll_fires_when_fetches_start_before_the_asked_offset() {
    fires_when_broken(
        KafkaBugs {
            test_client_fetch_from_previous: true,
            ..KafkaBugs::default()
        },
        "kafka.queue.nonmonotonic-poll",
        "",
    );
}

#[test]
fn unseen_fires_when_records_of_the_current_epoch_are_never_served() {
    fires_when_broken(
        KafkaBugs {
            test_client_fetch_hides_current_epoch: true,
            ..KafkaBugs::default()
        },
        "kafka.queue.unseen",
        "",
    );
}

#[test]
fn committed_offset_regression_fires_when_released_partitions_are_committed_again() {
    fires_when_broken(
        KafkaBugs {
            test_consumer_commits_released: true,
            ..KafkaBugs::default()
        },
        "kafka.queue.committed-offset-regression",
        MEMBER_BOUNCE,
    );
}
