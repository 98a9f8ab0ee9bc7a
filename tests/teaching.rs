//! Teaching expectations are measured from the history: each is seen in its scenario and
//! reported as NOT seen when the run does not show it (the configuration that causes it is
//! off, or the faults that cause it are gone), never marked seen without looking.

use kzsim::bugs::BugFlags;
use kzsim::runner::{run_scenario, RunOptions, TeachingResult};
use kzsim::scenario::{load, Acks, Scenario, Teaching};
use std::path::Path;

fn scenario(name: &str) -> Scenario {
    load(Path::new(&format!("scenarios/{name}.toml"))).expect("scenario loads")
}

fn teaching(s: &Scenario, seed: u64) -> Vec<TeachingResult> {
    run_scenario(
        s,
        &RunOptions {
            seed,
            bugs: BugFlags::default(),
            faults: None,
        },
    )
    .teaching
}

/// The result for the expectation whose text contains `needle`.
fn result<'a>(results: &'a [TeachingResult], needle: &str) -> &'a TeachingResult {
    results
        .iter()
        .find(|t| t.expectation.contains(needle))
        .unwrap_or_else(|| panic!("no expectation mentions {needle:?}: {results:?}"))
}

#[test]
fn unclean_losses_are_seen_only_with_unclean_election_enabled() {
    let s = scenario("kafka-isr-shrink-unclean-election");
    let on = teaching(&s, 0);
    let r = result(&on, "unclean leader election");
    assert_eq!(r.seen, Some(true), "{r:?}");

    let mut clean = s.clone();
    let k = clean.cluster.kafka.as_mut().expect("a Kafka scenario");
    k.unclean_leader_election = false;
    for t in &mut k.topics {
        t.unclean_leader_election = false;
    }
    let off = teaching(&clean, 0);
    let r = result(&off, "unclean leader election");
    assert_eq!(r.seen, Some(false), "{r:?}");
}

#[test]
fn acks1_losses_are_seen_only_with_acks_1() {
    let s = scenario("kafka-broker-session-expiry-alive");
    let weak = teaching(&s, 0);
    let r = result(&weak, "acks=1");
    assert_eq!(r.seen, Some(true), "{r:?}");

    let mut strong = s.clone();
    for p in &mut strong.workload.producers {
        p.acks = Acks::All;
    }
    let r = teaching(&strong, 0);
    let r = result(&r, "acks=1");
    assert_eq!(r.seen, Some(false), "{r:?}");
}

/// Expectations that only a fault can show.
fn needs_a_fault(t: &Teaching) -> bool {
    matches!(
        t,
        Teaching::WritesUnavailable { .. }
            | Teaching::ZkLeaderWithin { .. }
            | Teaching::ReadsFailWithoutQuorum
            | Teaching::EphemeralGone { .. }
            | Teaching::NewControllerEpoch { .. }
            | Teaching::PartitionLeaderWithin { .. }
    )
}

#[test]
fn fault_stories_are_seen_with_their_faults_and_not_without() {
    let scenarios = kzsim::scenario::load_dir(Path::new("scenarios")).expect("library loads");
    let mut judged = 0;
    for s in scenarios {
        let fault_dependent: Vec<usize> = s
            .expect
            .teaching
            .iter()
            .enumerate()
            .filter(|(_, t)| needs_a_fault(t))
            .map(|(i, _)| i)
            .collect();
        if fault_dependent.is_empty() {
            continue;
        }
        let with = teaching(&s, 0);
        let mut quiet = s.clone();
        quiet.faults.clear();
        let without = teaching(&quiet, 0);
        for i in fault_dependent {
            judged += 1;
            assert_eq!(with[i].seen, Some(true), "{}: {:?}", s.name, with[i]);
            assert_eq!(
                without[i].seen,
                Some(false),
                "{} without faults: {:?}",
                s.name,
                without[i]
            );
        }
    }
    assert!(judged >= 10, "only {judged} expectations judged");
}

#[test]
fn writes_available_needs_writes_tried() {
    let s = scenario("zk-leader-crash");
    let r = teaching(&s, 0);
    assert_eq!(result(&r, "some ZooKeeper write succeeds").seen, Some(true));

    let mut idle = s.clone();
    idle.workload.zk_clients.clear();
    let r = teaching(&idle, 0);
    let r = result(&r, "some ZooKeeper write succeeds");
    assert_eq!(r.seen, Some(false), "{r:?}");
}
