//! `kzsim shell` scripted: zkCli commands and simulator commands in one deterministic
//! session. The transcript is pinned; the same script and seed must give the same bytes.

use kzsim::teach::{run_script, run_script_with, ShellConfig};
use std::path::Path;
use std::process::{Command, Stdio};

const SCRIPT: &str = "\
# let the ensemble settle, then data commands in zkCli syntax and output
advance 5s
create /app config-v1
create -s /app/job- first
create -s /app/job- second
ls /app
get -s /app
set /app config-v2 -v 7
set /app
delete /app
stat /nope
create /nope/child x
bogus
# lose the leader: 2 of 3 still form a quorum
leader
crash leader
advance 10s
status
leader
create /after-crash still-writable
get /after-crash
# lose another: 1 of 3 is no quorum
crash leader
advance 10s
create /no-quorum x
quit
";

#[test]
fn scripted_session_transcript_is_pinned_and_deterministic() {
    let first = run_script(SCRIPT, 7, 3);
    let second = run_script(SCRIPT, 7, 3);
    assert_eq!(first, second, "same script and seed, same transcript");

    for expected in [
        "Created /app\n",
        "Created /app/job-0000000000\n",
        "Created /app/job-0000000001\n",
        "[job-0000000000, job-0000000001]\n",
        "numChildren = 2\n",
        "version No is not valid : /app\n",
        "set [-s] [-v version] path data\n",
        "Node not empty: /app\n",
        "Node does not exist: /nope\n",
        "Node does not exist: /nope/child\n",
        "Created /after-crash\n",
        "still-writable\n",
        "Mode: leader\n",
        "Mode: follower\n",
        "not running\n",
        "KeeperErrorCode = ConnectionLoss for /no-quorum\n",
    ] {
        assert!(
            first.contains(expected),
            "missing {expected:?} in:\n{first}"
        );
    }
    insta::assert_snapshot!("teach_shell_session", first);
}

#[test]
fn bad_input_prints_usage_and_never_panics() {
    let out = run_script(
        "create\nget\nset /a\ndelete -v x /a\nls -z /\nadvance soon\ncrash zk9\npartition zk1 | zk1\npause\ncreate a\nquit\n",
        1,
        3,
    );
    for expected in [
        "create [-s] [-e] path [data]\n",
        "get [-s] path\n",
        "set [-s] [-v version] path data\n",
        "delete [-v version] path\n",
        "ls [-s] [-R] path\n",
        "advance duration",
        "no server named zk9",
        "zk1 is in two groups",
        "pause node [duration]\n",
        "Path must start with / character\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn partition_pause_and_tree_commands() {
    let out = run_script(
        "advance 5s\ncreate /t\ncreate /t/a 1\ncreate /t/b 2\ncreate /t/a/x 3\nls -R /t\n\
         partition zk1 | zk2,zk3\nadvance 30s\nstatus\nheal\nadvance 10s\nstatus\n\
         deleteall /t\nls /\npause leader 20s\nadvance 10s\nleader\nsync /\nquit\n",
        3,
        3,
    );
    for expected in [
        "/t\n/t/a\n/t/b\n/t/a/x\n",
        "partitioned: zk1 | zk2,zk3\n",
        "zk1 (looking, epoch 1):\nThis ZooKeeper instance is not currently serving requests\n",
        "zk1 (following, epoch 1):\n",
        "healed the network\n",
        "] ls /\n[zookeeper]\n",
        "(epoch 2)\n",
        "Sync is OK\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

/// `slow-disk NODE LATENCY` slows a node's fsyncs: with every server's disk at 1 s, a
/// create waits for the leader's and a follower's fsync; `off` restores the disk.
#[test]
fn slow_disk_slows_writes_until_turned_off() {
    let out = run_script(
        "advance 5s\nstatus\ncreate /fast x\nstatus\n\
         slow-disk zk1 1s\nslow-disk zk2 1s\nslow-disk zk3 500ms..1s\n\
         status\ncreate /slow x\nstatus\n\
         slow-disk zk1 off\nslow-disk zk2 off\nslow-disk zk3 off\n\
         status\ncreate /fast-again x\nstatus\n\
         slow-disk zk1\nslow-disk zk1 fast\nslow-disk zk9 1s\nslow-disk zk1 11s\nquit\n",
        2,
        3,
    );
    for expected in [
        "zk1's disk slowed: each fsync takes 1s\n",
        "zk3's disk slowed: each fsync takes 500ms..1s\n",
        "zk1's disk restored: each fsync takes 500us..2ms\n",
        "Created /slow\n",
        "Created /fast-again\n",
        "slow-disk node latency|off",
        "\"fast\" is not a duration",
        "no server named zk9",
        "\"11s\": at most 10s",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Each create's time: between the `status` lines around it.
    let times: Vec<f64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("time "))
        .map(|t| t.trim_end_matches('s').parse().expect("a time in seconds"))
        .collect();
    assert_eq!(times.len(), 6, "{out}");
    let took = |i: usize| times[2 * i + 1] - times[2 * i];
    assert!(
        took(0) < 0.1,
        "a create on healthy disks: {}s\n{out}",
        took(0)
    );
    assert!(
        took(1) >= 1.0,
        "a create waits for a quorum's 1 s fsyncs: {}s\n{out}",
        took(1)
    );
    assert!(took(2) < 0.1, "restored: {}s\n{out}", took(2));
}

fn scenario(name: &str) -> kzsim::scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    kzsim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// `(leader, isr)` of every `\tTopic: <topic>\tPartition: 0...` line, in order.
fn partition_0_lines(out: &str, topic: &str) -> Vec<(String, Vec<u32>)> {
    let prefix = format!("\tTopic: {topic}\tPartition: 0\t");
    out.lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| {
            let field = |name: &str| {
                l.split('\t')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {l:?}"))
                    .to_string()
            };
            let isr = field("Isr: ")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().expect("broker id"))
                .collect();
            (field("Leader: "), isr)
        })
        .collect()
}

/// The partition leader dies: after its ZooKeeper session expires the controller elects
/// another ISR member and shrinks the ISR, and `kafka-topics --describe`, which reads
/// ZooKeeper, shows both.
#[test]
fn kafka_scenario_leader_crash_seen_by_kafka_topics() {
    const KAFKA_SCRIPT: &str = "\
kafka-topics --list
kafka-topics --describe --topic events
crash leader:events/0
advance 10s
kafka-topics --describe --topic events
kafka-topics --describe --under-replicated-partitions
quit
";
    let cfg = ShellConfig::from_scenario(5, scenario("kafka-broker-crash.toml"));
    let first = run_script_with(KAFKA_SCRIPT, cfg.clone());
    assert_eq!(first, run_script_with(KAFKA_SCRIPT, cfg), "deterministic");
    for expected in [
        "kzsim: the cluster of scenario kafka-broker-crash (3 ZooKeeper servers, 3 Kafka brokers)",
        "kzsim: Kafka ready at ",
        "] kafka-topics --list\nevents\n",
        "Topic: events\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: \n",
    ] {
        assert!(
            first.contains(expected),
            "missing {expected:?} in:\n{first}"
        );
    }
    let lines = partition_0_lines(&first, "events");
    assert_eq!(
        lines.len(),
        3,
        "two describes and one filtered line:\n{first}"
    );
    let (old_leader, old_isr) = &lines[0];
    let (new_leader, new_isr) = &lines[1];
    assert_eq!(old_isr.len(), 3, "full ISR before the crash:\n{first}");
    assert!(
        first.contains(&format!("crashed broker{old_leader}\n")),
        "the crash hit the leader kafka-topics showed:\n{first}"
    );
    assert_ne!(new_leader, old_leader, "a new leader:\n{first}");
    assert_ne!(new_leader, "none", "a new leader:\n{first}");
    assert_eq!(new_isr.len(), 2, "ISR shrunk by the dead leader:\n{first}");
    let old: u32 = old_leader.parse().expect("broker id");
    assert!(
        !new_isr.contains(&old),
        "dead leader left the ISR:\n{first}"
    );
    assert_eq!(
        lines[2], lines[1],
        "under-replicated shows the shrunk partition"
    );
    insta::assert_snapshot!("teach_shell_kafka_session", first);
}

#[test]
fn kafka_commands_and_status_with_brokers() {
    let out = run_script_with(
        "status\npause b2 2s\ncrash controller\ncrash controller\nadvance 10s\nstatus\n\
         crash b3\ncrash b3\nrestart zk1\npartition zk1,b1 | zk2,zk3,zkcli\nheal\nquit\n",
        ShellConfig::from_scenario(2, scenario("kafka-broker-crash.toml")),
    );
    for expected in [
        "controller (epoch 1)",
        "paused broker2 for 2s",
        // No broker believes it is controller until the dead one's session expires.
        "no active controller right now\n",
        "controller (epoch 2)",
        "broker3 is not running\n",
        ": not running\n",
        "crashed and restarted zk1 (it was running)\n",
        "partitioned: zk1,broker1 | zk2,zk3,zkcli\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn kafka_bad_input_prints_usage_and_never_panics() {
    let usage = "kafka-topics --list | --describe [--topic topic] \
                 [--under-replicated-partitions] [--unavailable-partitions]\n";
    let cfg = ShellConfig::from_scenario(1, scenario("kafka-broker-crash.toml"));
    let out = run_script_with(
        "kafka-topics\nkafka-topics --describe --topic\nkafka-topics --list --describe\n\
         kafka-topics --create --topic x\nkafka-topics --describe --topic nope\ncrash b9\n\
         crash leader:events\ncrash leader:nope/0\npause b1 soon\npartition b1 | broker1\n\
         restart\nquit\n",
        cfg,
    );
    assert_eq!(out.matches(usage).count(), 4, "usage four times in:\n{out}");
    for expected in [
        "Error while executing topic command : Topic 'nope' does not exist as expected\n",
        "no server named b9 (servers: zk1, zk2, zk3; brokers: broker1, broker2, broker3)\n",
        "leader:events: expected leader:topic/partition",
        "nope/0 has no leader right now\n",
        "pause node [duration]\n",
        "broker1 is in two groups\n",
        "restart node\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains("simulation stopped"), "{out}");
}

#[test]
fn kafka_commands_without_brokers_say_so() {
    let no_brokers = "this cluster has no Kafka brokers";
    let plain = run_script("kafka-topics --list\ncrash controller\nquit\n", 1, 3);
    assert_eq!(plain.matches(no_brokers).count(), 2, "{plain}");
    let zk_only = run_script_with(
        "kafka-topics --describe\nstatus\nquit\n",
        ShellConfig::from_scenario(1, scenario("zk-leader-crash.toml")),
    );
    assert!(zk_only.contains(no_brokers), "{zk_only}");
    assert!(
        zk_only.contains("kzsim: the cluster of scenario zk-leader-crash"),
        "{zk_only}"
    );
    assert!(
        !zk_only.contains("broker1"),
        "no broker lines in status:\n{zk_only}"
    );
}

fn kzsim(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kzsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kzsim starts");
    if let Some(mut input) = child.stdin.take() {
        // The process may exit before reading (bad arguments): ignore a broken pipe.
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("kzsim runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_scenario_flag_runs_and_bad_scenarios_exit_2() {
    let (code, out, err) = kzsim(
        &["shell", "--scenario", "scenarios/kafka-broker-crash.toml"],
        "kafka-topics --list\n",
    );
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(out.contains("] kafka-topics --list\nevents\n"), "{out}");

    let (code, out, err) = kzsim(&["shell", "--scenario", "scenarios/no-such.toml"], "");
    assert_eq!(code, Some(2), "missing file: {out}{err}");
    assert!(err.contains("scenarios/no-such.toml: cannot read"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let dir = std::env::temp_dir().join(format!("kzsim-shell-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\ndescription = \"x\"\nduration = \"3x\"\n",
    )
    .expect("write");
    let bad_arg = bad.to_string_lossy().into_owned();
    let (code, _, err) = kzsim(&["shell", "--scenario", &bad_arg], "");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(2), "invalid scenario: {err}");
    assert!(
        err.contains(&format!("{bad_arg}:3: duration: \"3x\" is not a duration")),
        "names file, line and key: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let (code, _, err) = kzsim(
        &[
            "shell",
            "--scenario",
            "scenarios/zk-leader-crash.toml",
            "--servers",
            "5",
        ],
        "",
    );
    assert_eq!(code, Some(2), "--scenario with --servers: {err}");
}
