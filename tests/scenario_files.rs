//! The scenario library loads, round-trips through `to_toml`, and bad files get errors that
//! name the file, line and key. The loader never panics, whatever it is fed.

use kzsim::scenario::{self, CheckerName, Fault, Scenario, ScenarioError, Target};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn library() -> Vec<(PathBuf, Scenario)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let s = scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, s)
        })
        .collect()
}

#[test]
fn every_scenario_file_loads_and_is_named_after_its_file() {
    let lib = library();
    assert!(
        lib.len() >= 14,
        "the library has {} scenarios, want at least 14",
        lib.len()
    );
    for (path, s) in &lib {
        let stem = path
            .file_stem()
            .and_then(|x| x.to_str())
            .expect("utf-8 file name");
        assert_eq!(s.name, stem, "{}", path.display());
        assert!(
            s.description.lines().count() >= 4,
            "{}: describe what to watch for",
            path.display()
        );
        assert!(
            !s.expect.checkers.is_empty(),
            "{}: name the checkers that must pass",
            path.display()
        );
        assert!(
            !s.faults.is_empty(),
            "{}: a fault story has faults",
            path.display()
        );
    }
    assert_eq!(
        scenario::load_dir(&scenarios_dir())
            .expect("library loads")
            .len(),
        lib.len()
    );
}

#[test]
fn library_covers_the_stories_the_issue_lists() {
    let lib = library();
    let names: Vec<&str> = lib.iter().map(|(_, s)| s.name.as_str()).collect();
    for want in [
        "zk-leader-crash",
        "zk-follower-crash-catch-up",
        "zk-quorum-loss-and-return",
        "zk-even-ensemble",
        "zk-leader-isolated-minority",
        "zk-session-expiry-ephemeral",
        "zk-leader-paused",
        "zk-unsynced-disk-tail",
        "kafka-broker-crash",
        "kafka-controller-crash",
        "kafka-paused-controller-zombie",
        "kafka-broker-session-expiry-alive",
        "kafka-zk-outage-during-produce",
        "kafka-isr-shrink-unclean-election",
    ] {
        assert!(names.contains(&want), "missing scenario {want}");
    }
    let get = |n: &str| &lib.iter().find(|(_, s)| s.name == n).expect("present").1;
    // Stories whose point depends on a specific setting keep it.
    assert_eq!(get("zk-even-ensemble").cluster.zookeeper.servers, 4);
    assert_eq!(
        get("zk-quorum-loss-and-return").cluster.zookeeper.servers,
        5
    );
    let jepsen = get("kafka-isr-shrink-unclean-election");
    let topic = &jepsen.cluster.kafka.as_ref().expect("kafka").topics[0];
    assert!(
        topic.unclean_leader_election && topic.min_insync_replicas == 1,
        "{topic:?}"
    );
    assert!(jepsen
        .expect
        .checkers
        .contains(&CheckerName::KafkaDurability));
    assert!(lib.iter().any(|(_, s)| s
        .faults
        .iter()
        .any(|f| f.fault.single_target() == Some(&Target::Controller))));
    assert!(lib.iter().any(|(_, s)| s.faults.iter().any(|f| matches!(
        f.fault,
        Fault::Crash {
            disk: scenario::DiskLoss::TornTail,
            ..
        }
    ))));
}

#[test]
fn conf_files_fill_in_settings() {
    let lib = library();
    let s = &lib
        .iter()
        .find(|(_, s)| s.name == "kafka-broker-crash")
        .expect("present")
        .1;
    assert_eq!(
        s.cluster.zookeeper.tick_time,
        std::time::Duration::from_millis(500)
    );
    assert_eq!(s.cluster.zookeeper.sync_limit, 4);
    let k = s.cluster.kafka.as_ref().expect("kafka");
    assert_eq!(k.zk_session_timeout, std::time::Duration::from_secs(6));
    assert_eq!(k.topics[0].replication_factor, 3);
    // Inline keys override the file.
    let j = &lib
        .iter()
        .find(|(_, s)| s.name == "kafka-isr-shrink-unclean-election")
        .expect("present")
        .1;
    assert_eq!(
        j.cluster.kafka.as_ref().expect("kafka").min_insync_replicas,
        1
    );
}

#[test]
fn every_scenario_round_trips_through_to_toml() {
    for (path, s) in library() {
        let text = s.to_toml();
        let back = scenario::parse(&text, Path::new("roundtrip.toml"))
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
        assert_eq!(back, s, "{}", path.display());
    }
}

const GOOD: &str = r#"name = "t"
description = "a test"
duration = "30s"

[zookeeper]
servers = 3

[[workload.zk_clients]]
mix = { get = 1 }

[[faults]]
at = "5s"
kind = "crash"
target = "zk1"

[[faults]]
at = "10s"
kind = "restart"
target = "zk1"

[expect]
checkers = ["zab"]
"#;

fn bad(text: &str) -> ScenarioError {
    scenario::parse(text, Path::new("scenarios/bad.toml")).expect_err("the file is bad")
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in text"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn the_good_base_file_loads() {
    let s = scenario::parse(GOOD, Path::new("scenarios/good.toml")).expect("valid");
    assert_eq!(s.faults.len(), 2);
}

#[test]
fn wrong_duration_names_file_line_key_and_a_fix() {
    let text = GOOD.replace("at = \"10s\"", "at = \"3x\"");
    let e = bad(&text);
    let line = line_of(&text, "\"3x\"");
    assert_eq!(
        e.to_string(),
        format!("scenarios/bad.toml:{line}: faults[1].at: \"3x\" is not a duration (try \"3s\" or \"250ms\")")
    );
    let e = bad(&GOOD.replace("duration = \"30s\"", "duration = 30"));
    assert_eq!((e.line, e.key.as_str()), (3, "duration"));
    assert!(e.msg.contains("no unit"), "{e}");
}

#[test]
fn unknown_key_is_named_with_the_valid_keys() {
    let text = GOOD.replace(
        "target = \"zk1\"\n\n[[faults]]",
        "target = \"zk1\"\ntorn = true\n\n[[faults]]",
    );
    let e = bad(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "torn"), "faults[0].torn")
    );
    assert!(
        e.msg.contains("unknown key `torn`") && e.msg.contains("disk"),
        "{e}"
    );
    let e = bad(&GOOD.replace("servers = 3", "server = 3"));
    assert_eq!((e.line, e.key.as_str()), (6, "zookeeper.server"));
    assert!(e.msg.contains("servers, tick_time"), "{e}");
    let e = bad(&GOOD.replace("mix = { get = 1 }", "mix = { get = 1, put = 2 }"));
    assert_eq!(e.key, "workload.zk_clients[0].mix.put");
    assert!(e.msg.contains("cas-register"), "{e}");
}

#[test]
fn unknown_fault_kind_lists_the_kinds() {
    let text = GOOD.replace("kind = \"restart\"", "kind = \"reboot\"");
    let e = bad(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "\"reboot\""), "faults[1].kind")
    );
    assert!(
        e.msg.contains("\"reboot\"") && e.msg.contains("restart, pause"),
        "{e}"
    );
}

#[test]
fn unknown_node_in_a_fault_lists_the_nodes() {
    let text = GOOD.replace(
        "target = \"zk1\"\n\n[[faults]]",
        "target = \"zk9\"\n\n[[faults]]",
    );
    let e = bad(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "\"zk9\""), "faults[0].target")
    );
    assert!(e.msg.contains("zk1, zk2, zk3, client1, zk-leader"), "{e}");
    // Kafka roles need Kafka; partition leaders need a declared topic and partition.
    let e = bad(&GOOD.replace(
        "target = \"zk1\"\n\n[[faults]]",
        "target = \"controller\"\n\n[[faults]]",
    ));
    assert!(e.msg.contains("needs Kafka"), "{e}");
    let e = bad(&GOOD.replace(
        "target = \"zk1\"\n\n[[faults]]",
        "target = \"leader:t/0\"\n\n[[faults]]",
    ));
    assert!(e.msg.contains("unknown topic"), "{e}");
}

#[test]
fn missing_required_key_names_the_table() {
    let text = GOOD.replace("at = \"5s\"\n", "");
    let e = bad(&text);
    assert_eq!(e.key, "faults[0].at");
    assert!(e.msg.contains("missing required key `at`"), "{e}");
    // The line is within the faults[0] table (its header or its first key).
    let header = line_of(&text, "[[faults]]");
    assert!(
        (header..=header + 1).contains(&e.line),
        "line {} vs header {header}",
        e.line
    );
    let e = bad(&GOOD.replace("name = \"t\"\n", ""));
    assert_eq!(
        (e.key.as_str(), e.msg.as_str()),
        ("name", "missing required key `name`")
    );
}

#[test]
fn semantic_errors_point_at_their_lines() {
    // Out of time order.
    let text = GOOD.replace("at = \"10s\"", "at = \"1s\"");
    let e = bad(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "\"1s\""), "faults[1].at")
    );
    // After the end of the run.
    let e = bad(&GOOD.replace("at = \"10s\"", "at = \"31s\""));
    assert!(e.msg.contains("after the end of the run"), "{e}");
    // Unknown checker.
    let text = GOOD.replace("[\"zab\"]", "[\"zab\", \"linearisable\"]");
    let e = bad(&text);
    assert_eq!(
        (e.line, e.key.as_str()),
        (line_of(&text, "linearisable"), "expect.checkers[1]")
    );
    assert!(e.msg.contains("linearizable"), "{e}");
    // Labels must be defined before use.
    let e = bad(&GOOD.replace(
        "target = \"zk1\"\n\n[expect]",
        "target = \"old\"\n\n[expect]",
    ));
    assert_eq!(e.key, "faults[1].target");
}

#[test]
fn syntax_errors_have_a_line() {
    let text = GOOD.replace("servers = 3", "servers = = 3");
    let e = bad(&text);
    assert_eq!(e.line, line_of(&text, "servers = ="), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("scenarios/bad.toml:{}: ", e.line)),
        "{e}"
    );
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kzsim-scenario-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn conf_file_errors_name_the_conf_file() {
    let d = temp_dir("conf");
    std::fs::write(d.join("zoo.cfg"), "tickTime=500\ninitLimt=10\n").expect("write");
    let text = GOOD.replace("servers = 3", "config = \"zoo.cfg\"");
    std::fs::write(d.join("s.toml"), &text).expect("write");
    let e = scenario::load(&d.join("s.toml")).expect_err("typo in zoo.cfg");
    assert_eq!(
        (e.file.clone(), e.line, e.key.as_str()),
        (d.join("zoo.cfg"), 2, "initLimt")
    );
    std::fs::remove_file(d.join("zoo.cfg")).expect("remove");
    let e = scenario::load(&d.join("s.toml")).expect_err("missing zoo.cfg");
    assert_eq!(
        (e.file.clone(), e.line, e.key.as_str()),
        (d.join("s.toml"), 6, "zookeeper.config")
    );
    assert!(e.msg.contains("cannot read"), "{e}");
    std::fs::write(d.join("bin.toml"), [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let e = scenario::load(&d.join("bin.toml")).expect_err("not text");
    assert!(e.msg.contains("UTF-8"), "{e}");
    std::fs::remove_dir_all(&d).expect("cleanup");
}

fn library_texts() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(scenarios_dir())
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| std::fs::read_to_string(p).expect("text"))
        .collect();
    v.sort();
    v.push(GOOD.to_owned());
    v
}

/// Pieces that, spliced into a valid file, reach the loader's less-travelled paths.
const SPLICES: &[&str] = &[
    "\"",
    "[",
    "]",
    "{",
    "}",
    "=",
    "\n",
    "[[faults]]\n",
    "at = \"-1s\"\n",
    "kind = \"cut\"\n",
    "target = \"leader:events/99\"\n",
    "0",
    "-1",
    "99999999999999999999",
    "\"zookeeper\"",
    "1979-05-27",
    "\"1m30s\"",
    "\u{0}",
    "é",
    "'''",
    "inf",
    "nan",
    "true",
    "[]",
    "{}",
    "groups = [[]]\n",
    "loss = \"100.5%\"\n",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = scenario::parse(&text, Path::new("fuzz.toml"));
    }

    #[test]
    fn mutated_valid_files_never_panic_the_loader(
        file in any::<proptest::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<proptest::sample::Index>(), 0usize..12, any::<proptest::sample::Index>()), 1..6),
    ) {
        let texts = library_texts();
        let mut text = texts[file.index(texts.len())].clone().into_bytes();
        for (at, delete, splice) in edits {
            let start = at.index(text.len() + 1);
            let end = (start + delete).min(text.len());
            let piece = SPLICES[splice.index(SPLICES.len())].as_bytes();
            text.splice(start..end, piece.iter().copied());
        }
        let text = String::from_utf8_lossy(&text);
        if let Err(e) = scenario::parse(&text, &scenarios_dir().join("mutant.toml")) {
            // Errors still say where.
            prop_assert!(e.line > 0 || e.msg.contains("cannot read"), "{}", e);
        }
    }
}

#[test]
fn snapshot_and_autopurge_settings_load_and_round_trip() {
    let text = "name = \"p\"\ndescription = \"d\"\nduration = \"10s\"\n\n[zookeeper]\nservers = 3\nsnap_count = 500\nautopurge_snap_retain_count = 4\n";
    let s = kzsim::scenario::parse(text, std::path::Path::new("p.toml")).expect("valid");
    assert_eq!(
        (
            s.cluster.zookeeper.snap_count,
            s.cluster.zookeeper.purge_retain
        ),
        (500, Some(4))
    );
    let again =
        kzsim::scenario::parse(&s.to_toml(), std::path::Path::new("p2.toml")).expect("round trip");
    assert_eq!(again.cluster.zookeeper, s.cluster.zookeeper);
    let bad = "name = \"p\"\ndescription = \"d\"\nduration = \"10s\"\n\n[zookeeper]\nautopurge_snap_retain_count = 2\n";
    let e = kzsim::scenario::parse(bad, std::path::Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.toml:6") && e.contains("autopurge_snap_retain_count"),
        "{e}"
    );
}

#[test]
fn fsync_latency_loads_as_a_duration_or_range_and_round_trips() {
    let base =
        "name = \"p\"\ndescription = \"d\"\nduration = \"10s\"\n\n[zookeeper]\nservers = 3\n";
    let load = |extra: &str| scenario::parse(&format!("{base}{extra}"), Path::new("p.toml"));
    let ms = std::time::Duration::from_millis;
    let cases = [
        ("", None),
        ("fsync_latency = \"20ms\"\n", Some((ms(20), ms(20)))),
        ("fsync_latency = \"10ms..30ms\"\n", Some((ms(10), ms(30)))),
        (
            "fsync_latency = \"500us .. 2ms\"\n",
            Some((ms(0) + std::time::Duration::from_micros(500), ms(2))),
        ),
    ];
    for (extra, want) in cases {
        let s = load(extra).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(s.cluster.zookeeper.fsync_latency, want, "{extra:?}");
        let again = scenario::parse(&s.to_toml(), Path::new("p2.toml")).expect("round trip");
        assert_eq!(again.cluster.zookeeper, s.cluster.zookeeper, "{extra:?}");
    }
    // Errors name the file, the line (7: after the six lines of `base`) and the key.
    for (extra, says) in [
        ("fsync_latency = \"30ms..10ms\"\n", "above MAX"),
        ("fsync_latency = \"fast\"\n", "not a duration"),
        ("fsync_latency = \"10ms..\"\n", "MIN..MAX"),
        ("fsync_latency = 20\n", "no unit"),
        ("fsync_latency = \"1m\"\n", "at most 10s"),
    ] {
        let e = load(extra).expect_err(extra).to_string();
        assert!(
            e.starts_with("p.toml:7: zookeeper.fsync_latency:") && e.contains(says),
            "{extra:?}: {e}"
        );
    }
}

#[test]
fn zk_follower_is_a_target_and_not_a_label() {
    let s = scenario::load(&scenarios_dir().join("zk-power-loss-slow-disk.toml")).expect("loads");
    let followers = s
        .faults
        .iter()
        .filter(|f| f.fault.single_target() == Some(&Target::ZkFollower))
        .count();
    assert_eq!(followers, 2);
    let text = GOOD.replacen(
        "target = \"zk1\"",
        "target = \"zk1\"\nlabel = \"zk-follower\"",
        1,
    );
    let e = bad(&text);
    assert!(e.msg.contains("zk-follower"), "{e}");
}

#[test]
fn multi_is_a_workload_op_kind_and_round_trips() {
    use kzsim::scenario::ZkOpKind;
    let s = scenario::parse(
        &GOOD.replace("mix = { get = 1 }", "mix = { multi = 3, get = 1 }"),
        Path::new("m.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mix = &s.workload.zk_clients[0].mix;
    assert_eq!(mix, &vec![(ZkOpKind::Get, 1), (ZkOpKind::Multi, 3)]);
    let again = scenario::parse(&s.to_toml(), Path::new("m2.toml")).expect("round trip");
    assert_eq!(again.workload, s.workload);
    // An unknown kind's error lists `multi` among the valid ones.
    let e = scenario::parse(
        &GOOD.replace("mix = { get = 1 }", "mix = { mutli = 1 }"),
        Path::new("m.toml"),
    )
    .expect_err("unknown kind");
    assert!(e.to_string().contains("multi"), "{e}");
}

/// `wall_clock_start` sets what the simulated wall clock reads at time zero (RFC 3339); a
/// value that is not an instant is refused naming the file, line and key.
#[test]
fn wall_clock_start_is_an_rfc3339_instant() {
    let base = "name = \"w\"\ndescription = \"d\"\nduration = \"10s\"\n";
    let s = kzsim::scenario::parse(
        &format!("{base}wall_clock_start = \"2024-02-29T12:00:00Z\"\n"),
        std::path::Path::new("w.toml"),
    )
    .expect("parses");
    assert_eq!(s.wall_clock_start_ms, 1_709_208_000_000);
    let again =
        kzsim::scenario::parse(&s.to_toml(), std::path::Path::new("w.toml")).expect("round trip");
    assert_eq!(again, s);
    let default = kzsim::scenario::parse(base, std::path::Path::new("w.toml")).expect("parses");
    assert_eq!(
        default.wall_clock_start_ms,
        kzsim::cluster::DEFAULT_WALL_CLOCK_START_MS
    );
    let err = kzsim::scenario::parse(
        &format!("{base}wall_clock_start = \"yesterday\"\n"),
        std::path::Path::new("w.toml"),
    )
    .expect_err("refused")
    .to_string();
    assert!(
        err.contains("w.toml:4") && err.contains("wall_clock_start") && err.contains("RFC 3339"),
        "{err}"
    );
}

/// `after = MOMENT` (with an optional `after_delay`) aims a fault at a protocol moment; the
/// loader refuses unknown moments, Kafka moments without brokers, and a delay without a
/// moment, naming file, line and key; the encoding round-trips.
#[test]
fn faults_aimed_at_protocol_moments() {
    use kzsim::scenario::{AfterMoment, Moment};
    let base = "name = \"m\"\ndescription = \"d\"\nduration = \"10s\"\n";
    let fault = |extra: &str| {
        format!(
            "{base}\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"zk-leader\"\n{extra}"
        )
    };
    let s = kzsim::scenario::parse(
        &fault("after = \"zk-sync\"\nafter_delay = \"2ms\"\n"),
        std::path::Path::new("m.toml"),
    )
    .expect("parses");
    assert_eq!(
        s.faults[0].after,
        Some(AfterMoment {
            moment: Moment::ZkSync,
            delay: std::time::Duration::from_millis(2)
        })
    );
    let again =
        kzsim::scenario::parse(&s.to_toml(), std::path::Path::new("m.toml")).expect("round trip");
    assert_eq!(again, s);
    for (extra, want) in [
        (
            "after = \"zk-lunch\"\n",
            "m.toml:9: faults[0].after: unknown moment \"zk-lunch\" (valid: zk-election,",
        ),
        (
            "after = \"kafka-isr-change\"\n",
            "m.toml:9: faults[0].after: \"kafka-isr-change\" is a Kafka moment and this scenario has no brokers",
        ),
        (
            "after_delay = \"2ms\"\n",
            "m.toml:9: faults[0].after_delay: after_delay needs an `after` moment",
        ),
    ] {
        let err = kzsim::scenario::parse(&fault(extra), std::path::Path::new("m.toml"))
            .expect_err("refused")
            .to_string();
        assert!(err.contains(want), "{err}");
    }
}

/// A fault aimed at a moment fires that long after the first such event at or after its
/// `at`: here every server is cut off from the others 1 ms after the new leader sends its
/// first sync (the note names the moment), and a fault whose moment never comes before the
/// next fault is skipped and says so.
#[test]
fn a_fault_aimed_at_a_moment_fires_right_after_it() {
    use kzsim::history::SimEvent;
    use kzsim::history::{Event, ZkEvent};
    let text = r#"name = "aimed"
description = "split the ensemble right after the new leader syncs a follower"
duration = "30s"

[zookeeper]
servers = 3

[[workload.zk_clients]]
count = 1
rate = 5
keys = 2
mix = { set = 1, get = 1 }

[[faults]]
at = "2s"
kind = "crash"
target = "zk-leader"

[[faults]]
at = "2s"
kind = "partition"
groups = [["zk1"], ["zk2"], ["zk3"]]
after = "zk-sync"
after_delay = "1ms"

[[faults]]
at = "3s"
kind = "crash"
target = "zk1"
after = "zk-election"

[[faults]]
at = "4s"
kind = "heal-all"
"#;
    let s = kzsim::scenario::parse(text, std::path::Path::new("aimed.toml")).expect("parses");
    let o = kzsim::runner::run_scenario(&s, &Default::default());
    let first_sync_after_2s = o
        .history
        .events
        .iter()
        .find(|r| {
            r.at >= kzsim_sim::SimTime::from_millis(2_000)
                && matches!(r.event, Event::Zk(ZkEvent::SyncSent { .. }))
        })
        .map(|r| r.at)
        .expect("a sync after the first crash");
    let notes: Vec<(kzsim_sim::SimTime, String)> = o
        .history
        .events
        .iter()
        .filter_map(|r| match &r.event {
            Event::Sim(SimEvent::Note { text }) => Some((r.at, text.clone())),
            _ => None,
        })
        .collect();
    let aimed = notes
        .iter()
        .find(|(_, t)| t.contains("after zk-sync"))
        .unwrap_or_else(|| panic!("no aimed fault in {notes:?}"));
    // It fires 1 ms after the sync (madsim wakes a timer within a microsecond of it).
    let due = first_sync_after_2s.plus(std::time::Duration::from_millis(1));
    assert!(
        aimed.0 >= due && aimed.0 < due.plus(std::time::Duration::from_micros(1)),
        "aimed fault at {} for a sync at {first_sync_after_2s}",
        aimed.0
    );
    assert!(aimed.1.contains(": partition"), "{}", aimed.1);
    // The third fault waits from 3 s for an election (the split servers keep electing in
    // vain, so one may come before the heal at 4 s, or none): it fires right after one or
    // says it was skipped.
    assert!(
        notes
            .iter()
            .any(|(_, t)| t.contains("no zk-election before")
                || t.contains("right after zk-election")),
        "{notes:?}"
    );
}

#[test]
fn zk_client_active_windows_load_round_trip_and_bad_ones_are_named() {
    use kzsim::scenario::ClientWindow;
    use std::time::Duration;
    let with = |active: &str| {
        GOOD.replace(
            "mix = { get = 1 }",
            &format!("mix = {{ get = 1 }}\nactive = {active}"),
        )
    };
    let s = scenario::parse(
        &with(r#"[{ from = "1s", to = "9s" }, { from = "28s", to = "60s" }]"#),
        Path::new("w.toml"),
    )
    .expect("valid");
    let g = &s.workload.zk_clients[0];
    let secs = Duration::from_secs;
    assert_eq!(g.active, vec![(secs(1), secs(9)), (secs(28), secs(60))]);
    assert_eq!(g.window_at(secs(0)), ClientWindow::Wait { until: secs(1) });
    assert_eq!(
        g.window_at(secs(5)),
        ClientWindow::Active {
            until: Some(secs(9))
        }
    );
    assert_eq!(g.window_at(secs(9)), ClientWindow::Wait { until: secs(28) });
    assert_eq!(g.window_at(secs(60)), ClientWindow::Done);
    let back = scenario::parse(&s.to_toml(), Path::new("w2.toml")).expect("round trip");
    assert_eq!(back, s);
    // One table is one window; without `active` the clients work the whole run.
    let one = scenario::parse(&with(r#"{ from = "2s", to = "3s" }"#), Path::new("w.toml"))
        .expect("valid");
    assert_eq!(one.workload.zk_clients[0].active, vec![(secs(2), secs(3))]);
    let all = scenario::parse(GOOD, Path::new("w.toml")).expect("valid");
    assert_eq!(
        all.workload.zk_clients[0].window_at(secs(99)),
        ClientWindow::Active { until: None }
    );
    // A window that ends before it starts, or overlaps the one before, names the line.
    for active in [
        r#"{ from = "5s", to = "4s" }"#,
        r#"[{ from = "1s", to = "9s" }, { from = "8s", to = "10s" }]"#,
    ] {
        let text = with(active);
        let e = bad(&text).to_string();
        let line = line_of(&text, "active");
        assert!(
            e.contains(&format!("bad.toml:{line}")) && e.contains("active"),
            "{active}: {e}"
        );
    }
}

#[test]
fn slow_disk_loads_with_role_targets_and_round_trips() {
    let base =
        "name = \"p\"\ndescription = \"d\"\nduration = \"10s\"\n\n[zookeeper]\nservers = 3\n\n\
                [kafka]\nbrokers = 3\n\n[[kafka.topics]]\nname = \"t\"\npartitions = 2\n\n";
    let fault = |body: &str| format!("{base}[[faults]]\nat = \"1s\"\nkind = \"slow-disk\"\n{body}");
    let load = |text: &str| scenario::parse(text, Path::new("p.toml"));
    let ms = std::time::Duration::from_millis;
    let cases = [
        (
            "target = \"zk2\"\nfsync_latency = \"200ms\"\n",
            Target::Node("zk2".into()),
            (ms(200), ms(200)),
        ),
        (
            "target = \"zk-leader\"\nfsync_latency = \"50ms..400ms\"\n",
            Target::ZkLeader,
            (ms(50), ms(400)),
        ),
        (
            "target = \"zk-follower\"\nfsync_latency = \"2s\"\n",
            Target::ZkFollower,
            (ms(2000), ms(2000)),
        ),
        (
            "target = \"controller\"\nfsync_latency = \"1s\"\n",
            Target::Controller,
            (ms(1000), ms(1000)),
        ),
        (
            "target = \"leader:t/1\"\nfsync_latency = \"20ms..2s\"\n",
            Target::PartitionLeader {
                topic: "t".into(),
                partition: 1,
            },
            (ms(20), ms(2000)),
        ),
        (
            "target = \"broker3\"\nfsync_latency = \"500us..1ms\"\n",
            Target::Node("broker3".into()),
            (std::time::Duration::from_micros(500), ms(1)),
        ),
    ];
    for (body, target, latency) in cases {
        let s = load(&fault(body)).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(
            s.faults[0].fault,
            Fault::SlowDisk {
                target: target.clone(),
                fsync_latency: latency
            },
            "{body:?}"
        );
        assert_eq!(s.faults[0].fault.kind(), "slow-disk");
        assert_eq!(s.faults[0].fault.single_target(), Some(&target));
        let again = scenario::parse(&s.to_toml(), Path::new("p2.toml")).expect("round trip");
        assert_eq!(again, s, "{body:?}\n{}", s.to_toml());
    }
    // A slow disk may carry a label, and a later fault may name it.
    let labelled = format!(
        "{}[[faults]]\nat = \"2s\"\nkind = \"heal-all\"\n",
        fault("target = \"zk-leader\"\nlabel = \"slow\"\nfsync_latency = \"1s\"\n")
    );
    let s = load(&labelled).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.faults[0].label.as_deref(), Some("slow"));
    // Errors name the file, the line and the key: the fault's table starts on line 15
    // (`[[faults]]`, then `at`, `kind`), its own keys follow from line 18.
    for (body, key, line, says) in [
        (
            "target = \"zk1\"\nfsync_latency = \"400ms..50ms\"\n",
            "faults[0].fsync_latency",
            19,
            "above MAX",
        ),
        (
            "target = \"zk1\"\nfsync_latency = \"slow\"\n",
            "faults[0].fsync_latency",
            19,
            "not a duration",
        ),
        (
            "target = \"zk1\"\nfsync_latency = \"50ms..\"\n",
            "faults[0].fsync_latency",
            19,
            "MIN..MAX",
        ),
        (
            "target = \"zk1\"\nfsync_latency = 200\n",
            "faults[0].fsync_latency",
            19,
            "no unit",
        ),
        (
            "target = \"zk1\"\nfsync_latency = \"11s\"\n",
            "faults[0].fsync_latency",
            19,
            "at most 10s",
        ),
        (
            "target = \"zk1\"\n",
            "faults[0].fsync_latency",
            15,
            "missing required key `fsync_latency`",
        ),
        (
            "fsync_latency = \"1s\"\n",
            "faults[0].target",
            15,
            "missing required key `target`",
        ),
        (
            "target = \"zk9\"\nfsync_latency = \"1s\"\n",
            "faults[0].target",
            18,
            "unknown node or target \"zk9\"",
        ),
        (
            "target = \"zk1\"\nfsync_latency = \"1s\"\nloss = \"5%\"\n",
            "faults[0].loss",
            20,
            "unknown key `loss`",
        ),
    ] {
        let e = load(&fault(body)).expect_err(body);
        assert_eq!(
            (e.file.as_path(), e.key.as_str()),
            (Path::new("p.toml"), key),
            "{body:?}: {e}"
        );
        assert!(e.msg.contains(says), "{body:?}: {e} (expected {says:?})");
        // A missing key points at the fault's table (its header or first key).
        if says.starts_with("missing") {
            assert!((15..=16).contains(&e.line), "{body:?}: {e}");
        } else {
            assert_eq!(e.line, line, "{body:?}: {e}");
        }
    }
    // The fault kinds listed for an unknown kind include it.
    let e =
        load(&fault("target = \"zk1\"\n").replace("slow-disk", "slow-disks")).expect_err("kind");
    assert!(e.msg.contains("slow-disk,"), "{e}");
}
