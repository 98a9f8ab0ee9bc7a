//! The narration of the teaching scenarios, pinned for fixed seeds: a behaviour change in
//! the protocols shows up as a diff here (`cargo insta review` to inspect and accept).

use kzsim::report::narrate;
use kzsim::runner::{run_scenario, RunOptions};
use std::path::Path;

fn narration(file: &str) -> String {
    let s = kzsim::scenario::load(Path::new(file)).expect("scenario loads");
    let o = run_scenario(
        &s,
        &RunOptions {
            seed: 1,
            ..Default::default()
        },
    );
    assert!(o.passed(), "{file}: {}", o.verdict_line());
    narrate(&o.history, false)
}

#[test]
fn leader_crash_narration() {
    insta::assert_snapshot!(narration("scenarios/zk-leader-crash.toml"));
}

#[test]
fn even_ensemble_narration() {
    insta::assert_snapshot!(narration("scenarios/zk-even-ensemble.toml"));
}

#[test]
fn quorum_loss_narration() {
    insta::assert_snapshot!(narration("scenarios/zk-quorum-loss-and-return.toml"));
}

#[test]
fn controller_crash_narration() {
    insta::assert_snapshot!(narration("scenarios/kafka-controller-crash.toml"));
}
