//! `kzsim shell` scripted: zkCli commands and simulator commands in one deterministic
//! session. The transcript is pinned; the same script and seed must give the same bytes.

use kzsim::teach::run_script;

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
        "pause server [duration]\n",
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
