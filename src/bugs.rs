//! Bug flags: named switches that re-introduce real historical ZooKeeper and Kafka bugs,
//! so a campaign can show that the checkers catch them. All are off by default.
//!
//! # Flags considered and dropped
//!
//! A flag no campaign can catch proves nothing, so these were removed (the correct rule
//! stays in the code):
//!
//! - `kafka-7128-isr-expand` (KAFKA-7128: a follower rejoins the ISR once it reaches the new
//!   leader's lagging HW, before the start of the leader's epoch). The records such a
//!   follower lacks are at most the acknowledged records the new leader had not yet learned
//!   were committed, and those lie in the new leader's last fetch batch from the old leader
//!   (its HW lags the old leader's by one fetch response, and a one-way cut only freezes
//!   its LEO with it). The fetch that lets the follower in is answered with up to
//!   `fetch_max_records` records from its LEO, which covers that batch, and that answer
//!   needs one network hop while the ISR write needs a ZooKeeper round trip and a quorum
//!   write. So the follower holds
//!   every acknowledged record before it is in the ZooKeeper ISR, unless that one answer is
//!   dropped (a one-way cut placed inside one network round trip) while the new leader dies
//!   before the next fetch and before its shrink check; and the new leader's HW only lags
//!   at all when another ISR member has not fetched in the new epoch (with the ISR reduced
//!   to the leader, the HW jumps to its LEO at once, as in Kafka's `makeLeader`). A
//!   scripted schedule cannot aim a cut at one round trip of a fetch whose time it does not
//!   know.
//! - `zk-accept-stale-epoch` (a follower takes PROPOSAL/COMMIT from an older-epoch leader).
//!   A follower has one leader connection and closes it when it leaves that leader, so
//!   nothing from an older leader reaches it; ZooKeeper's real epoch check, LEADERINFO with
//!   an epoch below acceptedEpoch aborts, only fires when that acceptedEpoch came from a
//!   leader whose discovery failed (an epoch accepted by a quorum is always seen by the next
//!   leader), so the follower never took that leader's NEWLEADER and loses nothing by
//!   following the next leader of a lower epoch. It is replaced by
//!   `zk-335-epoch-from-last-zxid`, the reachable bug of the same family.

use crate::kafka::controller::ControllerBugs;
use crate::kafka::replica::KafkaBugs;
use crate::zk::zab::ZkBugs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Every flag's setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BugFlags {
    /// ZooKeeper server flags.
    pub zk: ZkBugs,
    /// Kafka replica flags.
    pub kafka: KafkaBugs,
    /// Kafka controller flags.
    pub controller: ControllerBugs,
    /// Test-only mutations of the client recipes (no `--bug` name; see
    /// [`crate::zk::recipes::RecipeBugs`]).
    #[serde(default)]
    pub recipes: crate::zk::recipes::RecipeBugs,
}

/// One flag: its name on the command line and what it re-introduces.
pub struct BugFlag {
    /// The name `--bug` takes.
    pub name: &'static str,
    /// The historical issue it re-introduces.
    pub issue: &'static str,
    /// What goes wrong.
    pub what: &'static str,
    /// The checker rules the flag breaks (each a `Violation::checker`, e.g.
    /// `zab.one-leader`): catching the flag means violating one of these, not merely an
    /// `unknown` verdict or some other rule.
    pub rules: &'static [&'static str],
    /// True for Kafka flags (they need brokers in the scenario).
    pub kafka: bool,
    /// The campaign that catches it (the flag tests run exactly this), or `None` if no
    /// campaign is known to catch it yet.
    pub shown_by: Option<FlagCampaign>,
    set: fn(&mut BugFlags),
}

/// A campaign known to catch a flag within a seed budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagCampaign {
    /// The scenario it runs.
    pub scenario: CampaignScenario,
    /// Random fault schedules (`--random`) rather than the file's own.
    pub random: bool,
    /// Some seed in `0..seed_budget` fails.
    pub seed_budget: u64,
}

/// The scenario a flag's campaign runs: a scripted file, or one of the built-in standard
/// clusters with random faults (the generic campaigns of issue 14, tuned to no flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignScenario {
    /// A scenario file, relative to the repository root.
    File(&'static str),
    /// [`crate::scenario::standard::STANDARD_CLUSTER`] (`--standard kafka`).
    StandardCluster,
    /// [`crate::scenario::standard::STANDARD_ENSEMBLE`] (`--standard zookeeper`).
    StandardEnsemble,
}

impl CampaignScenario {
    /// The scenario, loading a file relative to `root` (the repository root).
    pub fn load(&self, root: &std::path::Path) -> Result<crate::scenario::Scenario, String> {
        match self {
            CampaignScenario::File(path) => {
                crate::scenario::load(&root.join(path)).map_err(|e| e.to_string())
            }
            CampaignScenario::StandardCluster => Ok(crate::scenario::standard::standard_cluster()),
            CampaignScenario::StandardEnsemble => {
                Ok(crate::scenario::standard::standard_ensemble())
            }
        }
    }

    /// The `kzsim campaign` arguments that select it.
    fn args(&self) -> String {
        match self {
            CampaignScenario::File(path) => format!("--scenario {path}"),
            CampaignScenario::StandardCluster => "--standard kafka".to_string(),
            CampaignScenario::StandardEnsemble => "--standard zookeeper".to_string(),
        }
    }
}

impl FlagCampaign {
    /// The `kzsim campaign` command line that shows the flag caught.
    pub fn command(&self, flag: &str) -> String {
        format!(
            "kzsim campaign {}{} --seeds 0..{} --bug {flag}",
            self.scenario.args(),
            if self.random { " --random" } else { "" },
            self.seed_budget
        )
    }
}

const fn shown(scenario: &'static str, random: bool, seed_budget: u64) -> Option<FlagCampaign> {
    Some(FlagCampaign {
        scenario: CampaignScenario::File(scenario),
        random,
        seed_budget,
    })
}

/// Shown caught by a generic random campaign on `scenario` within `seed_budget` seeds.
const fn generic(scenario: CampaignScenario, seed_budget: u64) -> Option<FlagCampaign> {
    Some(FlagCampaign {
        scenario,
        random: true,
        seed_budget,
    })
}

/// Every flag, in the order `kzsim bugs` lists them.
pub const FLAGS: &[BugFlag] = &[
    BugFlag {
        name: "zk-ack-before-fsync",
        issue: "ZOOKEEPER-4646 family",
        what: "a follower ACKs a proposal before its log append is fsynced",
        rules: &[
            "zk.writes.linearizable",
            "zab.primary-integrity",
            "zab.no-gap",
            "zab.durable",
            "zab.agreement",
        ],
        kafka: false,
        shown_by: shown("scenarios/zk-power-loss-slow-disk.toml", false, 4),
        set: |b| b.zk.ack_before_fsync = true,
    },
    BugFlag {
        name: "zk-quorum-off-by-one",
        issue: "quorum arithmetic",
        what: "elections and commits need one server fewer than a majority",
        rules: &[
            "zab.one-leader",
            "zab.election-quorum",
            "zab.agreement",
            "zab.durable",
            "zk.writes.linearizable",
        ],
        kafka: false,
        shown_by: shown("scenarios/zk-leader-crash.toml", true, 16),
        set: |b| b.zk.quorum_off_by_one = true,
    },
    BugFlag {
        name: "zk-335-epoch-from-last-zxid",
        issue: "ZOOKEEPER-335",
        what: "a new leader takes epoch(last logged zxid)+1 alone: an idle epoch is reused",
        rules: &["zab.one-leader"],
        kafka: false,
        shown_by: shown("scenarios/zk-idle-leader-epochs.toml", false, 2),
        set: |b| b.zk.epoch_from_last_zxid = true,
    },
    BugFlag {
        name: "zk-sync-without-trunc",
        issue: "ZOOKEEPER-1154",
        what: "the leader DIFFs a follower without truncating its divergent tail",
        rules: &["zab.agreement", "zab.converge", "zab.primary-integrity"],
        kafka: false,
        shown_by: shown("scenarios/zk-leader-crash.toml", true, 200),
        set: |b| b.zk.sync_without_trunc = true,
    },
    BugFlag {
        name: "zk-975-decide-when-all-voted",
        issue: "ZOOKEEPER-975",
        what: "FLE decides once every voter voted, without the quorum test: two leaders",
        rules: &["zab.election-quorum", "zab.one-leader"],
        kafka: false,
        shown_by: shown("scenarios/zk-follower-crash-catch-up.toml", false, 4),
        set: |b| b.zk.decide_when_all_voted = true,
    },
    BugFlag {
        name: "zk-1419-tie-break",
        issue: "ZOOKEEPER-1419",
        what: "the vote order breaks ties on sid even when epochs differ (not transitive)",
        rules: &["liveness.leader", "liveness.write"],
        kafka: false,
        shown_by: shown("scenarios/zk-mixed-epoch-two-survivors.toml", false, 4),
        set: |b| b.zk.tie_break_sid_ignoring_epoch = true,
    },
    BugFlag {
        name: "zk-1732-strict-match",
        issue: "ZOOKEEPER-1732",
        what: "a restarted server cannot join an established ensemble",
        rules: &["liveness.rejoin"],
        kafka: false,
        // The scripted follower restart no longer shows it: a peer's new election
        // connection now starts with the others' last votes, as QuorumCnxManager's does,
        // and those votes elect the restarted server's leader inside its own round.
        shown_by: generic(CampaignScenario::StandardEnsemble, 40),
        set: |b| b.zk.out_of_election_strict_match = true,
    },
    BugFlag {
        name: "zk-1624-multi-no-rollback",
        issue: "ZOOKEEPER-1624",
        what: "a failed multi forgets a parent's pending change: sequential names collide",
        rules: &["zk.writes.sequential"],
        kafka: false,
        shown_by: generic(CampaignScenario::StandardEnsemble, 2),
        set: |b| b.zk.multi_no_parent_rollback = true,
    },
    BugFlag {
        name: "zk-1046-replay-counter",
        issue: "ZOOKEEPER-1046",
        what: "replaying a create that hits NodeExists bumps the parent counter",
        rules: &["zk.sessions.stat", "zk.writes.sequential"],
        kafka: false,
        shown_by: shown("scenarios/zk-fuzzy-snapshot-restart.toml", false, 2),
        set: |b| b.zk.replay_increments_counter = true,
    },
    BugFlag {
        name: "zk-3911-diff-logged-late",
        issue: "ZOOKEEPER-3911",
        what: "a learner ACKs NEWLEADER before logging the sync's txns (logged after UPTODATE)",
        rules: &["zab.durable", "zab.primary-integrity", "zab.no-gap"],
        kafka: false,
        shown_by: shown("scenarios/zk-sync-crash-before-log.toml", false, 4),
        set: |b| b.zk.zk3911_log_diff_after_uptodate = true,
    },
    BugFlag {
        name: "zk-4643-epoch-before-log",
        issue: "ZOOKEEPER-4643",
        what: "a learner persists currentEpoch before the sync's txns reach its log",
        rules: &["zab.durable", "zab.primary-integrity", "zab.no-gap"],
        kafka: false,
        shown_by: shown("scenarios/zk-sync-crash-before-log.toml", false, 4),
        set: |b| b.zk.zk4643_epoch_before_log = true,
    },
    BugFlag {
        name: "zk-4685-proposal-acks-first",
        issue: "ZOOKEEPER-4685",
        what: "a learner ACKs the sync's proposals before NEWLEADER: the leader drops its sync",
        rules: &["zab.legal"],
        kafka: false,
        shown_by: generic(CampaignScenario::StandardEnsemble, 16),
        set: |b| b.zk.zk4685_proposal_acks_first = true,
    },
    BugFlag {
        name: "zk-4394-newleader-drains-queue",
        issue: "ZOOKEEPER-4394",
        what: "a learner empties its proposal queue at NEWLEADER: the next COMMIT crashes its sync",
        rules: &["zab.legal"],
        kafka: false,
        shown_by: generic(CampaignScenario::StandardEnsemble, 20),
        set: |b| b.zk.zk4394_newleader_drains_queue = true,
    },
    BugFlag {
        name: "zk-4712-late-log-writes",
        issue: "ZOOKEEPER-4712",
        what: "a follower leaving its role rebuilds its tree before its queued log writes land",
        rules: &["zab.converge", "zab.agreement", "zk.ephemerals.lifetime"],
        kafka: false,
        // Caught by the generic ZooKeeper campaign on seeds 845 and 1039 of the draws before
        // random schedules aimed at moments (a9d374a); not on 0..2000 of today's draws, nor
        // on four ZooKeeper scenarios' random seeds 0..200. Issue #14.
        shown_by: None,
        set: |b| b.zk.zk4712_late_log_writes = true,
    },
    BugFlag {
        name: "kafka-truncate-to-hw",
        issue: "pre-KIP-101",
        what: "a new follower truncates to its high watermark instead of using leader epochs",
        rules: &["kafka.no_acked_write_lost", "kafka.replicas_agree"],
        kafka: true,
        shown_by: shown("scenarios/kafka-two-brokers-die.toml", false, 40),
        set: |b| b.kafka.truncate_to_hw = true,
    },
    BugFlag {
        name: "kafka-hw-before-all-isr",
        issue: "HW rule",
        what: "the leader advances the high watermark before every ISR member has the record",
        rules: &["kafka.no_acked_write_lost"],
        kafka: true,
        shown_by: shown("scenarios/kafka-broker-session-expiry-alive.toml", false, 8),
        set: |b| b.kafka.hw_before_all_isr = true,
    },
    BugFlag {
        name: "kafka-no-epoch-fencing",
        issue: "KAFKA-6082",
        what: "controller writes skip the /controller_epoch version check (zombie controller)",
        rules: &["kafka.controller_epochs", "kafka.one_leader_per_epoch"],
        kafka: true,
        shown_by: shown("scenarios/kafka-zombie-controller-bounce.toml", false, 8),
        set: |b| b.controller.no_epoch_fencing = true,
    },
    BugFlag {
        name: "kafka-elect-outside-isr",
        issue: "Jepsen 2013 / KAFKA-1028",
        what: "the controller elects a partition leader from outside the ISR",
        rules: &["kafka.no_acked_write_lost", "kafka.one_leader_per_epoch"],
        kafka: true,
        shown_by: shown("scenarios/kafka-isr-shrink-clean-election.toml", false, 8),
        set: |b| b.controller.elect_outside_isr = true,
    },
    BugFlag {
        name: "kafka-6361-pre-kip-279",
        issue: "KAFKA-6361",
        what: "a leader answers OffsetsForLeaderEpoch as before KIP-279: followers keep divergent records",
        rules: &["kafka.replicas_agree", "kafka.no_acked_write_lost"],
        kafka: true,
        shown_by: shown("scenarios/kafka-fast-leader-changes.toml", false, 4),
        set: |b| b.kafka.end_offset_without_epoch = true,
    },
];

/// An unknown flag name, with the list of valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug flag `{0}`; valid flags: {valid}", valid = FLAGS.iter().map(|f| f.name).collect::<Vec<_>>().join(", "))]
pub struct UnknownFlag(pub String);

impl BugFlags {
    /// Sets the named flags.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<BugFlags, UnknownFlag> {
        let mut b = BugFlags::default();
        for n in names {
            let f = FLAGS
                .iter()
                .find(|f| f.name == n.as_ref())
                .ok_or_else(|| UnknownFlag(n.as_ref().to_string()))?;
            (f.set)(&mut b);
        }
        Ok(b)
    }

    /// Names of the flags that are on.
    pub fn names(&self) -> BTreeSet<&'static str> {
        FLAGS
            .iter()
            .filter(|f| {
                let mut one = BugFlags::default();
                (f.set)(&mut one);
                flags_overlap(self, &one)
            })
            .map(|f| f.name)
            .collect()
    }

    /// True if no flag is on.
    pub fn is_empty(&self) -> bool {
        *self == BugFlags::default()
    }
}

/// True if every flag set in `one` is also set in `all` (flags are independent booleans,
/// so compare through their serialized form).
fn flags_overlap(all: &BugFlags, one: &BugFlags) -> bool {
    let a = serde_json::to_value(all).expect("flags serialize");
    let o = serde_json::to_value(one).expect("flags serialize");
    fn walk(a: &serde_json::Value, o: &serde_json::Value) -> bool {
        match (a, o) {
            (serde_json::Value::Object(a), serde_json::Value::Object(o)) => o
                .iter()
                .all(|(k, ov)| a.get(k).is_some_and(|av| walk(av, ov))),
            (serde_json::Value::Bool(a), serde_json::Value::Bool(o)) => !*o || *a,
            (a, o) => a == o,
        }
    }
    walk(&a, &o)
}

impl fmt::Display for BugFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.names().into_iter().collect();
        if names.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", names.join(","))
        }
    }
}

/// The `kzsim bugs` listing.
pub fn listing() -> String {
    let mut out = String::from("Bug flags (all off by default; turn one on with --bug NAME):\n\n");
    for f in FLAGS {
        let shown = match &f.shown_by {
            Some(c) => format!("shown caught by: {}", c.command(f.name)),
            None => "not yet shown caught by a campaign".to_string(),
        };
        out.push_str(&format!(
            "  {:<30} {}\n  {:<30} {}; breaks: {}\n  {:<30} {shown}\n\n",
            f.name,
            f.what,
            "",
            f.issue,
            f.rules.join(", "),
            ""
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_breaks_known_rules() {
        for f in FLAGS {
            assert!(!f.rules.is_empty(), "{}", f.name);
            for r in f.rules {
                assert!(
                    crate::check::rules::rule_named(r).is_some(),
                    "{}: rule {r} is not in check::rules::RULES",
                    f.name
                );
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for f in FLAGS {
            let b = BugFlags::from_names(&[f.name]).unwrap();
            assert_eq!(
                b.names().into_iter().collect::<Vec<_>>(),
                vec![f.name],
                "{}",
                f.name
            );
        }
        assert!(BugFlags::default().is_empty());
        let err = BugFlags::from_names(&["nope"]).unwrap_err().to_string();
        assert!(
            err.contains("`nope`") && err.contains("zk-ack-before-fsync"),
            "{err}"
        );
        assert!(FLAGS.len() >= 8);
        let shown = FLAGS.iter().filter(|f| f.shown_by.is_some()).count();
        assert!(
            shown >= 8,
            "only {shown} flags have a campaign that catches them"
        );
        for f in FLAGS.iter().filter_map(|f| f.shown_by) {
            if let CampaignScenario::File(file) = f.scenario {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
                assert!(path.exists(), "{file} missing");
            }
        }
    }
}
