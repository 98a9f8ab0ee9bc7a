//! `kafka-topics --list | --describe` in the shell: argument parsing and Kafka 2.8's
//! output lines. The shell reads the data from ZooKeeper, as `kafka-topics.sh
//! --zookeeper` did in 2.x (ZookeeperTopicService in core/src/main/scala/kafka/admin/
//! TopicCommand.scala): the replica assignment from `/brokers/topics/<t>`, leader and ISR
//! from `/brokers/topics/<t>/partitions/<p>/state`, topic config overrides from
//! `/config/topics/<t>`, live brokers from `/brokers/ids`. It never looks inside a broker,
//! so what it prints is what an operator would have seen, stale or not.

use crate::kafka::znodes::PartitionState;
use std::collections::{BTreeMap, BTreeSet};

/// The usage line of `kafka-topics`.
pub(super) const USAGE: &str = "kafka-topics --list | --describe [--topic topic] \
[--under-replicated-partitions] [--unavailable-partitions]";

/// Where Kafka keeps a topic's config overrides (`kafka.zk.ConfigEntityZNode`).
pub(super) fn topic_config_path(topic: &str) -> String {
    format!("/config/topics/{topic}")
}

/// One `kafka-topics` invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TopicsCmd {
    /// `--list`: topic names, sorted.
    List,
    /// `--describe`.
    Describe(DescribeOpts),
}

/// The options of `--describe`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DescribeOpts {
    /// `--topic`: only this topic (an exact name; the real tool also takes a regex).
    pub topic: Option<String>,
    /// `--under-replicated-partitions`: only partitions whose ISR is smaller than the
    /// replica set, and no topic header lines.
    pub under_replicated: bool,
    /// `--unavailable-partitions`: only partitions with no leader or a leader that is not
    /// registered in `/brokers/ids`, and no topic header lines.
    pub unavailable: bool,
}

impl DescribeOpts {
    /// The real tool prints a topic's header line only when no partition filter is on
    /// (`describeConfigs` in TopicCommand).
    pub fn header_lines(&self) -> bool {
        !self.under_replicated && !self.unavailable
    }
}

/// Parses the words after `kafka-topics`. Exactly one of `--list` and `--describe`;
/// `--zookeeper HOSTS` and `--bootstrap-server HOSTS` are accepted and ignored so that
/// a command copied from a terminal works. `None`: print the usage line.
pub(super) fn parse(words: &[String]) -> Option<TopicsCmd> {
    let mut list = false;
    let mut describe = false;
    let mut opts = DescribeOpts::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.as_str() {
            "--list" if !list => list = true,
            "--describe" if !describe => describe = true,
            "--topic" if opts.topic.is_none() => {
                let t = it.next()?;
                if t.is_empty() || t.starts_with("--") {
                    return None;
                }
                opts.topic = Some(t.clone());
            }
            "--under-replicated-partitions" => opts.under_replicated = true,
            "--unavailable-partitions" => opts.unavailable = true,
            "--zookeeper" | "--bootstrap-server" => {
                it.next()?;
            }
            _ => return None,
        }
    }
    match (list, describe) {
        (true, false) if opts == DescribeOpts::default() => Some(TopicsCmd::List),
        (false, true) => Some(TopicsCmd::Describe(opts)),
        _ => None,
    }
}

/// `/config/topics/<t>`: `{"version":1,"config":{"min.insync.replicas":"2"}}`.
#[derive(serde::Deserialize)]
struct TopicConfigZnode {
    config: BTreeMap<String, String>,
}

/// The overrides in a `/config/topics/<t>` znode, sorted by name.
pub(super) fn parse_topic_config(text: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str::<TopicConfigZnode>(text)
        .map(|z| z.config)
        .map_err(|e| format!("topic config is not valid JSON: {e}"))
}

/// The topic line: `Topic: t\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: a=1,b=2`.
/// No `TopicId`: kzsim writes version 1 assignments, which have none (Kafka prints it only
/// when the id is not zero).
pub(super) fn topic_line(
    topic: &str,
    partition_count: usize,
    replication_factor: usize,
    configs: &BTreeMap<String, String>,
) -> String {
    let configs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "Topic: {topic}\tPartitionCount: {partition_count}\tReplicationFactor: \
         {replication_factor}\tConfigs: {}\n",
        configs.join(",")
    )
}

/// One partition as ZooKeeper holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PartitionView {
    /// Partition id.
    pub partition: u32,
    /// The assigned replicas, in assignment order.
    pub replicas: Vec<u32>,
    /// The state znode, `None` if it does not exist (yet).
    pub state: Option<PartitionState>,
}

impl PartitionView {
    /// The leader, `None` when the state znode is missing or says -1
    /// (`LeaderAndIsr.leaderOpt`).
    pub fn leader(&self) -> Option<u32> {
        self.state
            .as_ref()
            .and_then(|s| u32::try_from(s.leader).ok())
    }

    /// The ISR, empty when the state znode is missing.
    pub fn isr(&self) -> &[u32] {
        self.state.as_ref().map_or(&[], |s| s.isr.as_slice())
    }

    /// Whether `--describe` with `opts` prints this partition; `live` are the broker ids
    /// registered in `/brokers/ids`.
    pub fn shown(&self, opts: &DescribeOpts, live: &BTreeSet<u32>) -> bool {
        if opts.header_lines() {
            return true;
        }
        let under = self.isr().len() < self.replicas.len();
        let unavailable = self.leader().is_none_or(|l| !live.contains(&l));
        (opts.under_replicated && under) || (opts.unavailable && unavailable)
    }
}

fn ids(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The partition line: `\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2`.
pub(super) fn partition_line(topic: &str, p: &PartitionView) -> String {
    let leader = p.leader().map_or("none".to_string(), |l| l.to_string());
    format!(
        "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\n",
        p.partition,
        ids(&p.replicas),
        ids(p.isr())
    )
}

/// What the tool prints when `--topic` names a topic that does not exist.
pub(super) fn no_such_topic(topic: &str) -> String {
    format!("Error while executing topic command : Topic '{topic}' does not exist as expected\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn arguments() {
        let d = |topic: Option<&str>, under, unavailable| {
            Some(TopicsCmd::Describe(DescribeOpts {
                topic: topic.map(str::to_string),
                under_replicated: under,
                unavailable,
            }))
        };
        let table: &[(&str, Option<TopicsCmd>)] = &[
            ("--list", Some(TopicsCmd::List)),
            ("--zookeeper zk1:2181 --list", Some(TopicsCmd::List)),
            ("--describe", d(None, false, false)),
            ("--describe --topic t", d(Some("t"), false, false)),
            ("--topic t --describe", d(Some("t"), false, false)),
            (
                "--describe --under-replicated-partitions",
                d(None, true, false),
            ),
            ("--describe --unavailable-partitions", d(None, false, true)),
            ("", None),
            ("--list --describe", None),
            ("--list --topic t", None),
            ("--describe --topic", None),
            ("--describe --topic --list", None),
            ("--describe --topic a --topic b", None),
            ("--describe t", None),
            ("--create --topic t", None),
            ("--list --zookeeper", None),
        ];
        for (args, want) in table {
            assert_eq!(&parse(&w(args)), want, "kafka-topics {args}");
        }
    }

    fn view(leader: i32, replicas: &[u32], isr: &[u32]) -> PartitionView {
        PartitionView {
            partition: 0,
            replicas: replicas.to_vec(),
            state: Some(PartitionState::new(leader, 3, isr.to_vec(), 2)),
        }
    }

    #[test]
    fn lines_have_kafka_2_8_shape() {
        let cfg = parse_topic_config(
            r#"{"version":1,"config":{"retention.ms":"1000","min.insync.replicas":"2"}}"#,
        )
        .expect("valid");
        assert_eq!(
            topic_line("t", 3, 3, &cfg),
            "Topic: t\tPartitionCount: 3\tReplicationFactor: 3\t\
             Configs: min.insync.replicas=2,retention.ms=1000\n"
        );
        assert_eq!(
            topic_line("t", 1, 2, &BTreeMap::new()),
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: \n"
        );
        assert_eq!(
            partition_line("t", &view(2, &[2, 3, 1], &[2, 3])),
            "\tTopic: t\tPartition: 0\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3\n"
        );
        // leader -1 (LeaderAndIsr.NoLeader) and a missing state znode both print `none`.
        assert_eq!(
            partition_line("t", &view(-1, &[1, 2], &[1])),
            "\tTopic: t\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: 1\n"
        );
        let missing = PartitionView {
            partition: 4,
            replicas: vec![1],
            state: None,
        };
        assert_eq!(
            partition_line("t", &missing),
            "\tTopic: t\tPartition: 4\tLeader: none\tReplicas: 1\tIsr: \n"
        );
        assert!(parse_topic_config("{").is_err());
    }

    #[test]
    fn partition_filters() {
        let live = BTreeSet::from([1, 2]);
        let all = DescribeOpts::default();
        let under = DescribeOpts {
            under_replicated: true,
            ..DescribeOpts::default()
        };
        let unavail = DescribeOpts {
            unavailable: true,
            ..DescribeOpts::default()
        };
        let full = view(1, &[1, 2], &[1, 2]);
        let shrunk = view(1, &[1, 2], &[1]);
        let dead_leader = view(3, &[3, 1], &[3, 1]);
        let no_leader = view(-1, &[1, 2], &[1]);
        for (p, opts, want) in [
            (&full, &all, true),
            (&full, &under, false),
            (&full, &unavail, false),
            (&shrunk, &under, true),
            (&shrunk, &unavail, false),
            (&dead_leader, &under, false),
            (&dead_leader, &unavail, true),
            (&no_leader, &unavail, true),
        ] {
            assert_eq!(p.shown(opts, &live), want, "{p:?} with {opts:?}");
        }
    }
}
