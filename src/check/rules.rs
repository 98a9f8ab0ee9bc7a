//! Every rule a checker judges, in one table: its name (the `Violation::checker` a breach
//! carries), the report it appears in, the scenario checker name that turns it on, what it
//! guarantees, and where the rule comes from. The README's checker table and the rule tests
//! (`tests/checker_rules.rs`: each rule firing on a minimal history and quiet on its mirror)
//! are kept in step with this table by tests.

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name, as violations carry it, e.g. `zab.one-leader`.
    pub name: &'static str,
    /// The checker report that judges it, e.g. `zab`.
    pub report: &'static str,
    /// The scenario `[expect] checkers` name that runs it, e.g. `elections`.
    pub selected_by: &'static str,
    /// What a history that passes it is guaranteed to have.
    pub guarantee: &'static str,
    /// Where the rule comes from.
    pub source: &'static str,
}

const fn rule(
    name: &'static str,
    report: &'static str,
    selected_by: &'static str,
    guarantee: &'static str,
    source: &'static str,
) -> Rule {
    Rule {
        name,
        report,
        selected_by,
        guarantee,
        source,
    }
}

/// Every rule, grouped by report.
pub const RULES: &[Rule] = &[
    rule(
        "zk.writes.linearizable",
        "zk.writes",
        "linearizable",
        "acknowledged writes, in zxid order, meet their preconditions per znode",
        "ZooKeeper Programmer's Guide: linearizable writes",
    ),
    rule(
        "zk.writes.real-time",
        "zk.writes",
        "linearizable",
        "a write that completed before another began has the smaller zxid",
        "ZooKeeper Programmer's Guide: linearizable writes",
    ),
    rule(
        "zk.writes.zxid-unique",
        "zk.writes",
        "linearizable",
        "no two acknowledged writes share a zxid",
        "ZAB: one zxid per transaction",
    ),
    rule(
        "zk.writes.sequential",
        "zk.writes",
        "linearizable",
        "sequential children of one parent get distinct, increasing suffixes",
        "ZOOKEEPER-1624, ZOOKEEPER-1046",
    ),
    rule(
        "zk.sessions.monotonic",
        "zk.sessions",
        "zk-session",
        "a session never sees a zxid older than one it already saw",
        "ZooKeeper Programmer's Guide: single system image",
    ),
    rule(
        "zk.sessions.as-of-zxid",
        "zk.sessions",
        "zk-session",
        "a read returns the znode as of its response zxid",
        "ZooKeeper Programmer's Guide: sequential consistency",
    ),
    rule(
        "zk.sessions.data",
        "zk.sessions",
        "zk-session",
        "a read returns data some write put there",
        "ZooKeeper Programmer's Guide: sequential consistency",
    ),
    rule(
        "zk.sessions.stat",
        "zk.sessions",
        "zk-session",
        "two Stats of one znode state agree on versions and child counts",
        "ZOOKEEPER-1046",
    ),
    rule(
        "zk.sessions.stale-read",
        "zk.sessions.strict",
        "kzsim check --strict",
        "no read returns a state older than a write that completed before the read began",
        "linearizable reads (ZooKeeper promises them only after sync)",
    ),
    rule(
        "zk.watches.once",
        "zk.watches.once",
        "zk-watches",
        "every notification consumes a watch the session holds on that path, for a change after it was set",
        "ZooKeeper Programmer's Guide, ZooKeeper Watches (one-time triggers); WatchManager.triggerWatch",
    ),
    rule(
        "zk.watches.ordered",
        "zk.watches.ordered",
        "zk-watches",
        "a session receives no notification older than a zxid it has already seen",
        "ZooKeeper Programmer's Guide, ZooKeeper Watches (ordered with other events, watches and replies)",
    ),
    rule(
        "zk.watches.before-data",
        "zk.watches.before-data",
        "zk-watches",
        "a watcher gets the notification of a change before any response at or after the change's zxid",
        "ZooKeeper Programmer's Guide, ZooKeeper Watches (event before the new data)",
    ),
    rule(
        "zk.ephemerals.lifetime",
        "zk.ephemerals.lifetime",
        "zk-ephemerals",
        "no read at or after its session's end shows an ephemeral, none survives it, none vanishes before it",
        "ZooKeeper Programmer's Guide, Ephemeral Nodes; ZOOKEEPER-1208, ZOOKEEPER-2355",
    ),
    rule(
        "zk.sessions.expiry-bounds",
        "zk.sessions.expiry-bounds",
        "zk-session-life",
        "a leader expires a session more than its timeout and at most timeout + tickTime after its last touch",
        "SessionTrackerImpl / ExpiryQueue (roundToNextInterval)",
    ),
    rule(
        "zk.sessions.no-false-expiry",
        "zk.sessions.no-false-expiry",
        "zk-session-life",
        "no session expires while a server answered its client within the timeout before (fault windows excused)",
        "ZooKeeper Programmer's Guide, ZooKeeper Sessions; LearnerSessionTracker",
    ),
    rule(
        "zk.lock.one-holder",
        "zk.lock.one-holder",
        "zk-lock",
        "no lock acquisition is decided at a zxid at which another holder's lock znode still exists",
        "ZooKeeper Recipes and Solutions, Locks (only the lowest znode holds the lock)",
    ),
    rule(
        "zk.lock.token-order",
        "zk.lock.token-order",
        "zk-lock",
        "lock holders' fencing writes land in increasing token (lock znode sequence) order",
        "ZooKeeper Recipes and Solutions, Locks; fencing tokens (Kleppmann, How to do distributed locking)",
    ),
    rule(
        "zk.lock.predecessors-gone",
        "zk.lock.predecessors-gone",
        "zk-lock",
        "no lock is taken while a lower-sequence lock znode exists (by zxid)",
        "ZooKeeper Recipes and Solutions, Locks (wait for the next lowest znode to go)",
    ),
    rule(
        "zk.group.converges",
        "zk.group.converges",
        "zk-group",
        "a connected member has read the membership as of the latest change within the settle bound, and its view lists exactly the live members",
        "ZooKeeper Recipes and Solutions, Group Membership; Programmer's Guide, ZooKeeper Watches",
    ),
    rule(
        "zab.agreement",
        "zab",
        "zab, elections",
        "no two servers deliver different transactions at one zxid",
        "ZAB (Junqueira et al. 2011): agreement",
    ),
    rule(
        "zab.total-order",
        "zab",
        "zab, elections",
        "each server delivers in zxid order",
        "ZAB: total order",
    ),
    rule(
        "zab.no-gap",
        "zab",
        "zab, elections",
        "a server delivers no zxid past a committed one it lacks",
        "ZAB: total order",
    ),
    rule(
        "zab.integrity",
        "zab",
        "zab, elections",
        "every delivered transaction was proposed",
        "ZAB: integrity",
    ),
    rule(
        "zab.primary-integrity",
        "zab",
        "zab, elections",
        "a new leader proposes only after delivering what earlier epochs committed",
        "ZAB: primary integrity",
    ),
    rule(
        "zab.durable",
        "zab",
        "zab, elections",
        "no server truncates a committed transaction",
        "ZAB: committed transactions survive",
    ),
    rule(
        "zab.zxid",
        "zab",
        "zab, elections",
        "a leader's proposals carry its epoch and increase",
        "ZAB: zxid = (epoch, counter)",
    ),
    rule(
        "zab.converge",
        "zab",
        "zab, elections",
        "servers that end at one zxid hold equal trees",
        "ZAB: replicas apply the same prefix",
    ),
    rule(
        "zab.one-leader",
        "zab",
        "zab, elections",
        "at most one established leader per epoch, epochs increase",
        "ZAB: primary order; ZOOKEEPER-335",
    ),
    rule(
        "zab.election-quorum",
        "zab",
        "zab, elections",
        "a leader is elected only with a quorum of votes for it",
        "FastLeaderElection; ZOOKEEPER-975",
    ),
    rule(
        "zab.legal",
        "zab",
        "zab, elections",
        "every ZAB message is legal in its receiver's state: a leader's first ACK from a learner after NEWLEADER is the NEWLEADER ACK, and a COMMIT during sync names a proposal the learner holds",
        "Leader.waitForNewLeaderAck, Learner.syncWithLeader; ZOOKEEPER-4685, ZOOKEEPER-4394",
    ),
    rule(
        "liveness.leader",
        "liveness.after-heal",
        "liveness",
        "a ZooKeeper leader is established within the bound after the last fault heals",
        "ZAB liveness under a stable quorum",
    ),
    rule(
        "liveness.write",
        "liveness.after-heal",
        "liveness",
        "a client write is served within the bound after the last fault heals",
        "ZAB liveness under a stable quorum",
    ),
    rule(
        "liveness.rejoin",
        "liveness.after-heal",
        "liveness",
        "every running server rejoins the ensemble within the bound after the heal, or after its election backoff lets it vote again",
        "ZOOKEEPER-1732; FastLeaderElection (maxNotificationInterval)",
    ),
    rule(
        "kafka.no_acked_write_lost",
        "kafka.no_acked_write_lost",
        "kafka-durability",
        "an acknowledged acks=all record (ISR >= min.insync.replicas, clean election) is in the final leader's log",
        "Kafka replication design; KIP-101",
    ),
    rule(
        "kafka.replicas_agree",
        "kafka.replicas_agree",
        "kafka-log-agreement",
        "replica logs agree up to the smallest high watermark",
        "KIP-101, KIP-279",
    ),
    rule(
        "kafka.one_leader_per_epoch",
        "kafka.one_leader_per_epoch",
        "elections",
        "one leader per partition leader epoch, and it is in its ISR",
        "Kafka controller; KAFKA-6082",
    ),
    rule(
        "kafka.controller_epochs",
        "kafka.controller_epochs",
        "elections",
        "one controller per controller epoch; no write from a fenced controller",
        "KAFKA-6082 (zkVersion fencing)",
    ),
    rule(
        "kafka.consumers_agree",
        "kafka.consumers_agree",
        "kafka-consumers",
        "fetches agree per offset, stay below the high watermark and return produced values",
        "Kafka consumer semantics",
    ),
    rule(
        "kafka.group_ownership",
        "kafka.group_ownership",
        "kafka-consumers",
        "one owner per partition per group generation; commits not past consumption",
        "Kafka 0.8 ZookeeperConsumerConnector",
    ),
    rule(
        "kafka.queue.lost-write",
        "kafka.queue",
        "kafka-consumers",
        "no guarded acknowledged record is skipped by consumers that read past its offset",
        "Jepsen Kafka workload: lost-write",
    ),
    rule(
        "kafka.queue.duplicate",
        "kafka.queue",
        "kafka-consumers",
        "no value sits at more offsets than it was sent (retries of a non-idempotent producer allowed)",
        "Jepsen Kafka workload: duplicate",
    ),
    rule(
        "kafka.queue.poll-skip",
        "kafka.queue",
        "kafka-consumers",
        "a consumer's polls within one assignment skip no offset that holds a record",
        "Jepsen Kafka workload: poll-skip",
    ),
    rule(
        "kafka.queue.nonmonotonic-poll",
        "kafka.queue",
        "kafka-consumers",
        "a consumer's polls within one assignment return increasing offsets",
        "Jepsen Kafka workload: nonmonotonic-poll",
    ),
    rule(
        "kafka.queue.nonmonotonic-send",
        "kafka.queue",
        "kafka-consumers",
        "one producer's guarded acknowledgements to a partition carry increasing offsets",
        "Jepsen Kafka workload: nonmonotonic-send",
    ),
    rule(
        "kafka.queue.unseen",
        "kafka.queue",
        "kafka-consumers",
        "a guarded acknowledged record is read by some consumer once the partition was polled a settle time later",
        "Jepsen Kafka workload: unseen",
    ),
    rule(
        "kafka.queue.committed-offset-regression",
        "kafka.queue",
        "kafka-consumers",
        "a group's committed offset for a partition never goes back",
        "Kafka 0.8 consumer offsets in ZooKeeper (/consumers/<g>/offsets)",
    ),
    rule(
        "kafka.recovery_after_heal",
        "kafka.recovery_after_heal",
        "liveness",
        "after the heal every partition has a live leader, told to lead since it last started, and a full ISR; exactly one broker acts as controller",
        "KAFKA-1382, KAFKA-2729; ActiveControllerCount (Kafka operations guide)",
    ),
];

/// The rule named `name`.
pub fn rule_named(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}
