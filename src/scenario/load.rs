//! The loader: TOML text -> [`Scenario`], checking every key and value and naming the
//! file, line and key of the first problem. It never panics, whatever the input.

use super::conf;
use super::duration::{parse_duration, parse_fsync_latency, parse_signed_duration};
use super::spanned::{self, Key, Node, Val};
use super::{
    Acks, AfterMoment, CheckerName, Cluster, ConsumerGroup, DiskLoss, Expectations, Fault,
    KafkaCluster, Moment, ProducerGroup, Scenario, ScenarioError, Target, Teaching, TimedFault,
    Topic, Workload, ZkClientGroup, ZkEnsemble, ZkOpKind,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

type R<T> = Result<T, ScenarioError>;

/// Reads and checks one scenario file. Configuration files it names are read relative to
/// its directory.
pub fn load(path: &Path) -> R<Scenario> {
    let whole = |msg: String| ScenarioError {
        file: path.to_owned(),
        line: 0,
        key: String::new(),
        msg,
    };
    let bytes = std::fs::read(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| whole(format!("not UTF-8 text: {e}")))?;
    parse(&text, path)
}

/// Checks scenario text. `file` names it in errors, and its directory is where relative
/// configuration paths are looked up.
pub fn parse(text: &str, file: &Path) -> R<Scenario> {
    let cx = Cx {
        file,
        text,
        base: file.parent().map(Path::to_owned).unwrap_or_default(),
    };
    let root = spanned::parse(text).map_err(|(at, msg)| ScenarioError {
        file: file.to_owned(),
        line: at.map_or(1, |o| cx.line(o)),
        key: String::new(),
        msg: msg.trim_end().to_owned(),
    })?;
    cx.scenario(&root)
}

/// Loads every `*.toml` file directly in `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> R<Vec<Scenario>> {
    let whole = |msg: String| ScenarioError {
        file: dir.to_owned(),
        line: 0,
        key: String::new(),
        msg,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| whole(format!("cannot list: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
    base: PathBuf,
}

/// A table whose keys have been checked against the allowed list.
struct Tbl<'n> {
    path: String,
    span: Range<usize>,
    entries: &'n [(Key, Node)],
}

impl<'n> Tbl<'n> {
    fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_owned()
        } else {
            format!("{}.{k}", self.path)
        }
    }
    fn get(&self, k: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(key, _)| key.name == k)
            .map(|(_, n)| n)
    }
}

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "duration",
    "wall_clock_start",
    "zookeeper",
    "kafka",
    "workload",
    "faults",
    "expect",
];
const ZK_KEYS: &[&str] = &[
    "servers",
    "tick_time",
    "init_limit",
    "sync_limit",
    "read_only",
    "snap_count",
    "autopurge_snap_retain_count",
    "fsync_latency",
    "config",
];
const KAFKA_KEYS: &[&str] = &[
    "brokers",
    "config",
    "zk_session_timeout",
    "replica_lag_time_max",
    "unclean_leader_election",
    "min_insync_replicas",
    "default_replication_factor",
    "num_partitions",
    "log_flush_interval_messages",
    "topics",
];
const TOPIC_KEYS: &[&str] = &[
    "name",
    "partitions",
    "replication_factor",
    "min_insync_replicas",
    "unclean_leader_election",
];
const WORKLOAD_KEYS: &[&str] = &["zk_clients", "producers", "consumer_groups"];
const ZK_CLIENT_KEYS: &[&str] = &["count", "mix", "keys", "rate", "session_timeout", "active"];
const PRODUCER_KEYS: &[&str] = &["count", "topic", "acks", "rate"];
const CONSUMER_KEYS: &[&str] = &["group", "topics", "members"];
/// Every fault `kind` a scenario file may name, in the order error messages list them.
pub const FAULT_KINDS: &[&str] = &[
    "crash",
    "restart",
    "pause",
    "resume",
    "partition",
    "isolate",
    "cut",
    "heal",
    "net",
    "clock-skew",
    "slow-disk",
    "heal-all",
];
const EXPECT_KEYS: &[&str] = &[
    "checkers",
    "writes_unavailable",
    "writes_available",
    "zk_leader_within",
    "reads_fail_without_quorum",
    "new_controller_epoch",
    "partition_leader_within",
    "ephemeral_gone",
    "acks1_losses_allowed",
    "unclean_losses_allowed",
];
const RESERVED_TARGETS: &[&str] = &[
    "zk-leader",
    "zk-follower",
    "controller",
    "zookeeper",
    "brokers",
];

/// Keys any fault but heal-all may add: aim it at a protocol moment.
const AFTER_KEYS: &[&str] = &["after", "after_delay"];

fn fault_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "crash" => &["at", "kind", "label", "target", "disk"],
        "restart" | "resume" => &["at", "kind", "label", "target"],
        "pause" => &["at", "kind", "label", "target", "duration"],
        "partition" => &["at", "kind", "groups"],
        "isolate" => &["at", "kind", "target"],
        "cut" => &["at", "kind", "from", "to"],
        "net" => &["at", "kind", "loss", "latency"],
        "clock-skew" => &["at", "kind", "label", "target", "offset", "drift_ppm"],
        "slow-disk" => &["at", "kind", "label", "target", "fsync_latency"],
        _ => &["at", "kind"],
    }
}

/// What the loader knows about the cluster when it checks faults and expectations.
struct Names {
    nodes: Vec<String>,
    zk: Vec<String>,
    brokers: Vec<String>,
    topics: BTreeMap<String, u32>,
    labels: BTreeSet<String>,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: self.file.to_owned(),
            line: self.line(span.start),
            key: key.into(),
            msg: msg.into(),
        }
    }

    fn table<'n>(&self, node: &'n Node, path: &str, allowed: &[&str]) -> R<Tbl<'n>> {
        let Val::Table(entries) = &node.val else {
            return Err(self.err(
                &node.span,
                path,
                format!("expected a table, found {}", node.val.kind()),
            ));
        };
        let t = Tbl {
            path: path.to_owned(),
            span: node.span.clone(),
            entries,
        };
        for (k, _) in entries {
            if !allowed.contains(&k.name.as_str()) {
                return Err(self.err(
                    &k.span,
                    t.key(&k.name),
                    format!(
                        "unknown key `{}` (valid keys: {})",
                        k.name,
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(t)
    }

    fn req<'n>(&self, t: &Tbl<'n>, k: &str) -> R<&'n Node> {
        t.get(k)
            .ok_or_else(|| self.err(&t.span, t.key(k), format!("missing required key `{k}`")))
    }

    fn string<'n>(&self, n: &'n Node, key: &str) -> R<&'n str> {
        match &n.val {
            Val::Str(s) => Ok(s),
            v => Err(self.err(
                &n.span,
                key,
                format!("expected a string, found {}", v.kind()),
            )),
        }
    }

    fn int(&self, n: &Node, key: &str, min: i64, max: i64) -> R<i64> {
        match &n.val {
            Val::Int(i) if (min..=max).contains(i) => Ok(*i),
            Val::Int(i) => Err(self.err(
                &n.span,
                key,
                format!("{i} is out of range (expected {min}..={max})"),
            )),
            v => Err(self.err(
                &n.span,
                key,
                format!("expected an integer, found {}", v.kind()),
            )),
        }
    }

    fn u32_in(&self, n: &Node, key: &str, min: u32, max: u32) -> R<u32> {
        // The range check above keeps the value within u32.
        Ok(self.int(n, key, i64::from(min), i64::from(max))? as u32)
    }

    fn boolean(&self, n: &Node, key: &str) -> R<bool> {
        match &n.val {
            Val::Bool(b) => Ok(*b),
            v => Err(self.err(
                &n.span,
                key,
                format!("expected true or false, found {}", v.kind()),
            )),
        }
    }

    fn duration(&self, n: &Node, key: &str) -> R<Duration> {
        match &n.val {
            Val::Str(s) => parse_duration(s).map_err(|m| self.err(&n.span, key, m)),
            Val::Int(i) => Err(self.err(
                &n.span,
                key,
                format!("{i} has no unit; durations are strings like \"{i}s\" or \"{i}ms\""),
            )),
            v => Err(self.err(
                &n.span,
                key,
                format!("expected a duration like \"3s\", found {}", v.kind()),
            )),
        }
    }

    fn array<'n>(&self, n: &'n Node, key: &str) -> R<&'n [Node]> {
        match &n.val {
            Val::Array(items) => Ok(items),
            v => Err(self.err(
                &n.span,
                key,
                format!("expected an array, found {}", v.kind()),
            )),
        }
    }

    /// A string, or an array of strings.
    fn strings<'n>(&self, n: &'n Node, key: &str) -> R<Vec<(&'n str, &'n Node, String)>> {
        match &n.val {
            Val::Str(s) => Ok(vec![(s.as_str(), n, key.to_owned())]),
            Val::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, it)| {
                    let k = format!("{key}[{i}]");
                    self.string(it, &k).map(|s| (s, it, k))
                })
                .collect(),
            v => Err(self.err(
                &n.span,
                key,
                format!(
                    "expected a string or an array of strings, found {}",
                    v.kind()
                ),
            )),
        }
    }

    fn opt<T>(&self, t: &Tbl, k: &str, f: impl FnOnce(&Node, &str) -> R<T>) -> R<Option<T>> {
        t.get(k).map(|n| f(n, &t.key(k))).transpose()
    }

    fn scenario(&self, root: &Node) -> R<Scenario> {
        let t = self.table(root, "", TOP_KEYS)?;
        let name = self.string(self.req(&t, "name")?, "name")?.to_owned();
        if name.trim().is_empty() {
            return Err(self.err(&t.span, "name", "must not be empty"));
        }
        let description = self
            .string(self.req(&t, "description")?, "description")?
            .to_owned();
        let duration = self.duration(self.req(&t, "duration")?, "duration")?;
        if duration.is_zero() {
            return Err(self.err(
                &self.req(&t, "duration")?.span,
                "duration",
                "must be longer than 0s",
            ));
        }
        let wall_clock_start_ms = match t.get("wall_clock_start") {
            Some(n) => {
                let text = self.string(n, "wall_clock_start")?;
                super::parse_wall_clock_start(text)
                    .map_err(|m| self.err(&n.span, "wall_clock_start", m))?
            }
            None => crate::cluster::DEFAULT_WALL_CLOCK_START_MS,
        };
        let zookeeper = match t.get("zookeeper") {
            Some(n) => self.zookeeper(n)?,
            None => ZkEnsemble::default(),
        };
        let kafka = t.get("kafka").map(|n| self.kafka(n)).transpose()?;
        let cluster = Cluster { zookeeper, kafka };
        let workload = match t.get("workload") {
            Some(n) => self.workload(n, &cluster)?,
            None => Workload::default(),
        };
        let mut s = Scenario {
            name,
            description,
            duration,
            wall_clock_start_ms,
            cluster,
            workload,
            faults: Vec::new(),
            expect: Expectations::default(),
        };
        let mut names = Names {
            nodes: s.node_names(),
            zk: s.zk_server_names(),
            brokers: s.broker_names(),
            topics: s
                .cluster
                .kafka
                .iter()
                .flat_map(|k| &k.topics)
                .map(|t| (t.name.clone(), t.partitions))
                .collect(),
            labels: BTreeSet::new(),
        };
        if let Some(n) = t.get("faults") {
            let items = self.array(n, "faults")?;
            for (i, item) in items.iter().enumerate() {
                let f = self.fault(item, &format!("faults[{i}]"), &mut names)?;
                if f.at > duration {
                    let at = self.fault_at_span(item);
                    return Err(self.err(
                        &at,
                        format!("faults[{i}].at"),
                        format!(
                            "{} is after the end of the run (duration = {})",
                            fmt(f.at),
                            fmt(duration)
                        ),
                    ));
                }
                if let Some(prev) = s.faults.last() {
                    if f.at < prev.at {
                        return Err(self.err(
                            &self.fault_at_span(item),
                            format!("faults[{i}].at"),
                            format!(
                                "faults must be in time order: {} is before faults[{}] at {}",
                                fmt(f.at),
                                i - 1,
                                fmt(prev.at)
                            ),
                        ));
                    }
                }
                s.faults.push(f);
            }
        }
        match t.get("expect") {
            Some(n) => s.expect = self.expect(n, &s, &names)?,
            None => s.expect.checkers = s.applicable_checkers(),
        }
        Ok(s)
    }

    fn fault_at_span(&self, item: &Node) -> Range<usize> {
        match &item.val {
            Val::Table(e) => e
                .iter()
                .find(|(k, _)| k.name == "at")
                .map_or(item.span.clone(), |(_, n)| n.span.clone()),
            _ => item.span.clone(),
        }
    }

    fn conf_path<'n>(&self, t: &Tbl<'n>) -> R<Option<(PathBuf, &'n Node)>> {
        let Some(n) = t.get("config") else {
            return Ok(None);
        };
        let rel = self.string(n, &t.key("config"))?;
        Ok(Some((self.base.join(rel), n)))
    }

    fn zookeeper(&self, node: &Node) -> R<ZkEnsemble> {
        let t = self.table(node, "zookeeper", ZK_KEYS)?;
        let mut zk = ZkEnsemble::default();
        if let Some((path, n)) = self.conf_path(&t)? {
            let cfg = conf::zoo_cfg(&path).map_err(|m| self.err(&n.span, t.key("config"), m))??;
            zk.servers = cfg.servers.unwrap_or(zk.servers);
            zk.tick_time = cfg.tick_time.unwrap_or(zk.tick_time);
            zk.init_limit = cfg.init_limit.unwrap_or(zk.init_limit);
            zk.sync_limit = cfg.sync_limit.unwrap_or(zk.sync_limit);
            zk.read_only = cfg.read_only.unwrap_or(zk.read_only);
            zk.snap_count = cfg.snap_count.unwrap_or(zk.snap_count);
            if cfg.purge_interval.unwrap_or(0) > 0 {
                zk.purge_retain = Some(cfg.snap_retain.unwrap_or(3));
            }
        }
        if let Some(v) = self.opt(&t, "servers", |n, k| self.u32_in(n, k, 1, 15))? {
            zk.servers = v;
        }
        if let Some(v) = self.opt(&t, "tick_time", |n, k| self.duration(n, k))? {
            if v < Duration::from_millis(1) {
                return Err(self.err(
                    &self.req(&t, "tick_time")?.span,
                    t.key("tick_time"),
                    "must be at least 1ms",
                ));
            }
            zk.tick_time = v;
        }
        if let Some(v) = self.opt(&t, "init_limit", |n, k| self.u32_in(n, k, 1, 1000))? {
            zk.init_limit = v;
        }
        if let Some(v) = self.opt(&t, "sync_limit", |n, k| self.u32_in(n, k, 1, 1000))? {
            zk.sync_limit = v;
        }
        if let Some(v) = self.opt(&t, "read_only", |n, k| self.boolean(n, k))? {
            zk.read_only = v;
        }
        if let Some(v) = self.opt(&t, "snap_count", |n, k| self.u32_in(n, k, 2, u32::MAX))? {
            zk.snap_count = u64::from(v);
        }
        // Setting it turns autopurge on, keeping that many snapshots.
        if let Some(v) = self.opt(&t, "autopurge_snap_retain_count", |n, k| {
            self.u32_in(n, k, 3, 1000)
        })? {
            zk.purge_retain = Some(v);
        }
        if let Some(v) = self.opt(&t, "fsync_latency", |n, k| self.fsync_latency(n, k))? {
            zk.fsync_latency = Some(v);
        }
        Ok(zk)
    }

    fn kafka(&self, node: &Node) -> R<KafkaCluster> {
        let t = self.table(node, "kafka", KAFKA_KEYS)?;
        let mut sp = conf::ServerProperties::default();
        if let Some((path, n)) = self.conf_path(&t)? {
            sp = conf::server_properties(&path)
                .map_err(|m| self.err(&n.span, t.key("config"), m))??;
        }
        let brokers = self.u32_in(self.req(&t, "brokers")?, &t.key("brokers"), 1, 64)?;
        let zk_session_timeout = self
            .opt(&t, "zk_session_timeout", |n, k| self.duration(n, k))?
            .or(sp.zk_session_timeout)
            .unwrap_or(Duration::from_secs(18));
        let replica_lag_time_max = self
            .opt(&t, "replica_lag_time_max", |n, k| self.duration(n, k))?
            .or(sp.replica_lag_time_max)
            .unwrap_or(Duration::from_secs(30));
        let unclean_leader_election = self
            .opt(&t, "unclean_leader_election", |n, k| self.boolean(n, k))?
            .or(sp.unclean_leader_election)
            .unwrap_or(false);
        let min_insync_replicas = self
            .opt(&t, "min_insync_replicas", |n, k| self.u32_in(n, k, 1, 64))?
            .or(sp.min_insync_replicas)
            .unwrap_or(1);
        let default_rf = self
            .opt(&t, "default_replication_factor", |n, k| {
                self.u32_in(n, k, 1, 64)
            })?
            .or(sp.default_replication_factor)
            .unwrap_or(1);
        let num_partitions = self
            .opt(&t, "num_partitions", |n, k| self.u32_in(n, k, 1, 1024))?
            .or(sp.num_partitions)
            .unwrap_or(1);
        let log_flush_interval_messages = self
            .opt(&t, "log_flush_interval_messages", |n, k| {
                self.int(n, k, 1, i64::MAX)
            })?
            .map(|n| n as u64)
            .or(sp.log_flush_interval_messages)
            .unwrap_or(i64::MAX as u64);
        let mut topics: Vec<Topic> = Vec::new();
        if let Some(n) = t.get("topics") {
            for (i, item) in self.array(n, "kafka.topics")?.iter().enumerate() {
                let path = format!("kafka.topics[{i}]");
                let tt = self.table(item, &path, TOPIC_KEYS)?;
                let name = self
                    .string(self.req(&tt, "name")?, &tt.key("name"))?
                    .to_owned();
                if name.is_empty() || name.contains(['/', ' ']) {
                    return Err(self.err(
                        &item.span,
                        tt.key("name"),
                        "a topic name is non-empty, without '/' or spaces",
                    ));
                }
                if topics.iter().any(|t| t.name == name) {
                    return Err(self.err(
                        &item.span,
                        tt.key("name"),
                        format!("topic {name:?} is declared twice"),
                    ));
                }
                let partitions = self
                    .opt(&tt, "partitions", |n, k| self.u32_in(n, k, 1, 1024))?
                    .unwrap_or(num_partitions);
                let rf_node = tt.get("replication_factor");
                let replication_factor = self
                    .opt(&tt, "replication_factor", |n, k| self.u32_in(n, k, 1, 64))?
                    .unwrap_or(default_rf);
                if replication_factor > brokers {
                    return Err(self.err(
                        &rf_node.map_or(item.span.clone(), |n| n.span.clone()),
                        tt.key("replication_factor"),
                        format!("replication factor {replication_factor} is more than the {brokers} brokers"),
                    ));
                }
                let min_isr_node = tt.get("min_insync_replicas");
                let min_insync = self
                    .opt(&tt, "min_insync_replicas", |n, k| self.u32_in(n, k, 1, 64))?
                    .unwrap_or(min_insync_replicas);
                if min_insync > replication_factor {
                    return Err(self.err(
                        &min_isr_node.map_or(item.span.clone(), |n| n.span.clone()),
                        tt.key("min_insync_replicas"),
                        format!(
                            "min.insync.replicas {min_insync} is more than the replication factor \
                             {replication_factor}: acks=all could never succeed"
                        ),
                    ));
                }
                let unclean = self
                    .opt(&tt, "unclean_leader_election", |n, k| self.boolean(n, k))?
                    .unwrap_or(unclean_leader_election);
                topics.push(Topic {
                    name,
                    partitions,
                    replication_factor,
                    min_insync_replicas: min_insync,
                    unclean_leader_election: unclean,
                });
            }
        }
        Ok(KafkaCluster {
            brokers,
            zk_session_timeout,
            replica_lag_time_max,
            unclean_leader_election,
            min_insync_replicas,
            log_flush_interval_messages,
            topics,
        })
    }

    fn topic_ref(&self, n: &Node, key: &str, cluster: &Cluster) -> R<String> {
        let name = self.string(n, key)?;
        let declared: Vec<&str> = cluster
            .kafka
            .iter()
            .flat_map(|k| &k.topics)
            .map(|t| t.name.as_str())
            .collect();
        if declared.contains(&name) {
            Ok(name.to_owned())
        } else if declared.is_empty() {
            Err(self.err(
                &n.span,
                key,
                format!("unknown topic {name:?}: declare it under [[kafka.topics]]"),
            ))
        } else {
            Err(self.err(
                &n.span,
                key,
                format!(
                    "unknown topic {name:?} (declared topics: {})",
                    declared.join(", ")
                ),
            ))
        }
    }

    fn groups<'n>(&self, node: &'n Node, path: &str) -> R<Vec<(usize, &'n Node)>> {
        match &node.val {
            Val::Array(items) => Ok(items.iter().enumerate().collect()),
            Val::Table(_) => Ok(vec![(0, node)]),
            v => Err(self.err(
                &node.span,
                path,
                format!("expected an array of tables, found {}", v.kind()),
            )),
        }
    }

    fn workload(&self, node: &Node, cluster: &Cluster) -> R<Workload> {
        let t = self.table(node, "workload", WORKLOAD_KEYS)?;
        let mut w = Workload::default();
        if let Some(n) = t.get("zk_clients") {
            for (i, item) in self.groups(n, "workload.zk_clients")? {
                let tt = self.table(item, &format!("workload.zk_clients[{i}]"), ZK_CLIENT_KEYS)?;
                let count = self
                    .opt(&tt, "count", |n, k| self.u32_in(n, k, 1, 1000))?
                    .unwrap_or(1);
                let mix_node = self.req(&tt, "mix")?;
                let kinds: Vec<&str> = ZkOpKind::ALL.iter().map(|k| k.as_str()).collect();
                let mt = self.table(mix_node, &tt.key("mix"), &kinds)?;
                let mut mix = Vec::new();
                for kind in ZkOpKind::ALL {
                    if let Some(wt) =
                        self.opt(&mt, kind.as_str(), |n, k| self.u32_in(n, k, 0, 1_000_000))?
                    {
                        mix.push((kind, wt));
                    }
                }
                if mix.iter().all(|(_, w)| *w == 0) {
                    return Err(self.err(
                        &mix_node.span,
                        tt.key("mix"),
                        format!(
                            "give at least one operation a positive weight (kinds: {})",
                            kinds.join(", ")
                        ),
                    ));
                }
                let keys = self
                    .opt(&tt, "keys", |n, k| self.u32_in(n, k, 1, 100_000))?
                    .unwrap_or(4);
                let rate_per_sec = self
                    .opt(&tt, "rate", |n, k| self.u32_in(n, k, 1, 100_000))?
                    .unwrap_or(10);
                let session_timeout = self
                    .opt(&tt, "session_timeout", |n, k| self.duration(n, k))?
                    .unwrap_or(Duration::from_secs(6));
                let mut active: Vec<(Duration, Duration)> = Vec::new();
                if let Some(n) = tt.get("active") {
                    for (wn, wk) in self.windows(n, &tt.key("active"))? {
                        let wt = self.table(wn, &wk, &["from", "to"])?;
                        let from = self.duration(self.req(&wt, "from")?, &wt.key("from"))?;
                        let to = self.duration(self.req(&wt, "to")?, &wt.key("to"))?;
                        if to <= from || active.last().is_some_and(|(_, end)| from < *end) {
                            return Err(self.err(
                                &wn.span,
                                wk,
                                "a window must end after it starts, and after the window before it",
                            ));
                        }
                        active.push((from, to));
                    }
                }
                w.zk_clients.push(ZkClientGroup {
                    count,
                    mix,
                    keys,
                    rate_per_sec,
                    session_timeout,
                    active,
                });
            }
        }
        let needs_kafka = |key: &str, n: &Node| -> R<()> {
            if cluster.kafka.is_none() {
                return Err(self.err(&n.span, key, "needs Kafka brokers: add a [kafka] table"));
            }
            Ok(())
        };
        if let Some(n) = t.get("producers") {
            needs_kafka("workload.producers", n)?;
            for (i, item) in self.groups(n, "workload.producers")? {
                let tt = self.table(item, &format!("workload.producers[{i}]"), PRODUCER_KEYS)?;
                let count = self
                    .opt(&tt, "count", |n, k| self.u32_in(n, k, 1, 1000))?
                    .unwrap_or(1);
                let topic = self.topic_ref(self.req(&tt, "topic")?, &tt.key("topic"), cluster)?;
                let an = self.req(&tt, "acks")?;
                let acks = match &an.val {
                    Val::Int(0) => Acks::None,
                    Val::Int(1) => Acks::Leader,
                    Val::Int(-1) => Acks::All,
                    Val::Str(s) if s == "0" => Acks::None,
                    Val::Str(s) if s == "1" => Acks::Leader,
                    Val::Str(s) if s == "all" || s == "-1" => Acks::All,
                    _ => {
                        return Err(self.err(
                            &an.span,
                            tt.key("acks"),
                            "acks is 0, 1 or \"all\" (-1 also means all)",
                        ))
                    }
                };
                let rate_per_sec = self
                    .opt(&tt, "rate", |n, k| self.u32_in(n, k, 1, 100_000))?
                    .unwrap_or(10);
                w.producers.push(ProducerGroup {
                    count,
                    topic,
                    acks,
                    rate_per_sec,
                });
            }
        }
        if let Some(n) = t.get("consumer_groups") {
            needs_kafka("workload.consumer_groups", n)?;
            for (i, item) in self.groups(n, "workload.consumer_groups")? {
                let tt = self.table(
                    item,
                    &format!("workload.consumer_groups[{i}]"),
                    CONSUMER_KEYS,
                )?;
                let group = self
                    .string(self.req(&tt, "group")?, &tt.key("group"))?
                    .to_owned();
                if group.is_empty() || group.contains('/') {
                    return Err(self.err(
                        &item.span,
                        tt.key("group"),
                        "a group id is non-empty, without '/'",
                    ));
                }
                let mut topics = Vec::new();
                for (_, tn, k) in self.strings(self.req(&tt, "topics")?, &tt.key("topics"))? {
                    topics.push(self.topic_ref(tn, &k, cluster)?);
                }
                let members = self
                    .opt(&tt, "members", |n, k| self.u32_in(n, k, 1, 1000))?
                    .unwrap_or(1);
                w.consumer_groups.push(ConsumerGroup {
                    group,
                    topics,
                    members,
                });
            }
        }
        Ok(w)
    }

    fn target(&self, n: &Node, key: &str, names: &Names) -> R<Target> {
        let s = self.string(n, key)?;
        self.target_str(s, n, key, names)
    }

    fn target_str(&self, s: &str, n: &Node, key: &str, names: &Names) -> R<Target> {
        if names.nodes.iter().any(|x| x == s) {
            return Ok(Target::Node(s.to_owned()));
        }
        if names.labels.contains(s) {
            return Ok(Target::Label(s.to_owned()));
        }
        match s {
            "zk-leader" => return Ok(Target::ZkLeader),
            "zk-follower" => return Ok(Target::ZkFollower),
            "controller" if names.brokers.is_empty() => {
                return Err(self.err(
                    &n.span,
                    key,
                    "\"controller\" needs Kafka brokers: add a [kafka] table",
                ))
            }
            "controller" => return Ok(Target::Controller),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("leader:") {
            let bad = |m: String| self.err(&n.span, key, m);
            let (topic, part) = rest.rsplit_once('/').ok_or_else(|| {
                bad(format!(
                    "{s:?}: a partition leader is \"leader:TOPIC/PARTITION\""
                ))
            })?;
            let Some(&count) = names.topics.get(topic) else {
                let known: Vec<&str> = names.topics.keys().map(String::as_str).collect();
                return Err(bad(format!(
                    "{s:?}: unknown topic {topic:?} (declared topics: {})",
                    list_or_none(&known)
                )));
            };
            let partition: u32 = part
                .parse()
                .map_err(|_| bad(format!("{s:?}: {part:?} is not a partition number")))?;
            if partition >= count {
                return Err(bad(format!(
                    "{s:?}: topic {topic:?} has partitions 0..={}",
                    count - 1
                )));
            }
            return Ok(Target::PartitionLeader {
                topic: topic.to_owned(),
                partition,
            });
        }
        let mut valid: Vec<String> = names.nodes.clone();
        valid.push("zk-leader".into());
        valid.push("zk-follower".into());
        if !names.brokers.is_empty() {
            valid.push("controller".into());
            valid.push("leader:TOPIC/PARTITION".into());
        }
        valid.extend(names.labels.iter().cloned());
        Err(self.err(
            &n.span,
            key,
            format!("unknown node or target {s:?} (valid: {})", valid.join(", ")),
        ))
    }

    /// Targets in a list position, where `"zookeeper"` means every ZooKeeper server and
    /// `"brokers"` every broker.
    fn target_list(&self, n: &Node, key: &str, names: &Names) -> R<Vec<Target>> {
        let mut out = Vec::new();
        for (s, item, k) in self.strings(n, key)? {
            match s {
                "zookeeper" => out.extend(names.zk.iter().cloned().map(Target::Node)),
                "brokers" if !names.brokers.is_empty() => {
                    out.extend(names.brokers.iter().cloned().map(Target::Node))
                }
                _ => out.push(self.target_str(s, item, &k, names)?),
            }
        }
        if out.is_empty() {
            return Err(self.err(&n.span, key, "name at least one node"));
        }
        Ok(out)
    }

    fn fault(&self, item: &Node, path: &str, names: &mut Names) -> R<TimedFault> {
        let Val::Table(entries) = &item.val else {
            return Err(self.err(
                &item.span,
                path,
                format!("expected a table, found {}", item.val.kind()),
            ));
        };
        let pre = Tbl {
            path: path.to_owned(),
            span: item.span.clone(),
            entries,
        };
        let kind_node = self.req(&pre, "kind")?;
        let kind = self.string(kind_node, &pre.key("kind"))?;
        if !FAULT_KINDS.contains(&kind) {
            return Err(self.err(
                &kind_node.span,
                pre.key("kind"),
                format!(
                    "unknown fault kind {kind:?} (valid kinds: {})",
                    FAULT_KINDS.join(", ")
                ),
            ));
        }
        let keys: Vec<&str> = fault_keys(kind)
            .iter()
            .chain(if kind == "heal-all" {
                &[][..]
            } else {
                AFTER_KEYS
            })
            .copied()
            .collect();
        let t = self.table(item, path, &keys)?;
        let at = self.duration(self.req(&t, "at")?, &t.key("at"))?;
        let after = self.after_moment(&t, names)?;
        let target = |names: &Names| self.target(self.req(&t, "target")?, &t.key("target"), names);
        let fault = match kind {
            "crash" => {
                let disk = match t.get("disk") {
                    None => DiskLoss::None,
                    Some(n) => {
                        let name = self.string(n, &t.key("disk"))?;
                        DiskLoss::from_name(name).ok_or_else(|| {
                            let valid: Vec<&str> =
                                DiskLoss::ALL.iter().map(|d| d.as_str()).collect();
                            self.err(
                                &n.span,
                                t.key("disk"),
                                format!("unknown disk loss {name:?} (valid: {})", valid.join(", ")),
                            )
                        })?
                    }
                };
                Fault::Crash {
                    target: target(names)?,
                    disk,
                }
            }
            "restart" => Fault::Restart {
                target: target(names)?,
            },
            "resume" => Fault::Resume {
                target: target(names)?,
            },
            "pause" => {
                let duration = self.opt(&t, "duration", |n, k| self.duration(n, k))?;
                if duration.is_some_and(|d| d.is_zero()) {
                    return Err(self.err(
                        &t.span,
                        t.key("duration"),
                        "a pause lasts longer than 0s",
                    ));
                }
                Fault::Pause {
                    target: target(names)?,
                    duration,
                }
            }
            "isolate" => Fault::Partition {
                groups: vec![vec![target(names)?]],
            },
            "partition" => {
                let gn = self.req(&t, "groups")?;
                let items = self.array(gn, &t.key("groups"))?;
                if items.is_empty() {
                    return Err(self.err(
                        &gn.span,
                        t.key("groups"),
                        "name at least one group, e.g. [[\"zk1\"]]",
                    ));
                }
                let mut groups = Vec::new();
                for (j, g) in items.iter().enumerate() {
                    groups.push(self.target_list(
                        g,
                        &format!("{}[{j}]", t.key("groups")),
                        names,
                    )?);
                }
                Fault::Partition { groups }
            }
            "cut" => Fault::Cut {
                from: self.target_list(self.req(&t, "from")?, &t.key("from"), names)?,
                to: self.target_list(self.req(&t, "to")?, &t.key("to"), names)?,
            },
            "heal" => Fault::Heal,
            "heal-all" => Fault::HealAll,
            "net" => {
                let loss_permille = self.opt(&t, "loss", |n, k| self.percent(n, k))?;
                let latency = self.opt(&t, "latency", |n, k| self.latency(n, k))?;
                if loss_permille.is_none() && latency.is_none() {
                    return Err(self.err(
                        &t.span,
                        t.key("loss"),
                        "a net fault sets `loss`, `latency` or both",
                    ));
                }
                Fault::Net {
                    loss_permille,
                    latency,
                }
            }
            "clock-skew" => {
                let offset_ms = self
                    .opt(&t, "offset", |n, k| {
                        let s = self.string(n, k)?;
                        parse_signed_duration(s).map_err(|m| self.err(&n.span, k, m))
                    })?
                    .unwrap_or(0);
                let drift_ppm = self
                    .opt(&t, "drift_ppm", |n, k| self.int(n, k, -100_000, 100_000))?
                    .unwrap_or(0);
                if offset_ms.unsigned_abs() > 24 * 3_600_000 {
                    return Err(self.err(
                        &t.span,
                        t.key("offset"),
                        "clock offsets are limited to one day",
                    ));
                }
                Fault::ClockSkew {
                    target: target(names)?,
                    offset_ms,
                    drift_ppm,
                }
            }
            "slow-disk" => Fault::SlowDisk {
                target: target(names)?,
                fsync_latency: self
                    .fsync_latency(self.req(&t, "fsync_latency")?, &t.key("fsync_latency"))?,
            },
            _ => unreachable!("fault kinds were checked above"),
        };
        let label = match t.get("label") {
            None => None,
            Some(n) => {
                let key = t.key("label");
                let l = self.string(n, &key)?;
                let ok_chars = !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !ok_chars || l.starts_with("leader:") {
                    return Err(self.err(&n.span, key, "a label is letters, digits, '-' and '_'"));
                }
                if names.nodes.iter().any(|x| x == l) || RESERVED_TARGETS.contains(&l) {
                    return Err(self.err(
                        &n.span,
                        key,
                        format!("{l:?} is already a node or target name"),
                    ));
                }
                if !names.labels.insert(l.to_owned()) {
                    return Err(self.err(
                        &n.span,
                        key,
                        format!("label {l:?} is already defined by an earlier fault"),
                    ));
                }
                Some(l.to_owned())
            }
        };
        Ok(TimedFault {
            at,
            label,
            fault,
            after,
        })
    }

    /// A fault's `after` and `after_delay` keys.
    fn after_moment(&self, t: &Tbl, names: &Names) -> R<Option<AfterMoment>> {
        let Some(n) = t.get("after") else {
            if let Some(d) = t.get("after_delay") {
                return Err(self.err(
                    &d.span,
                    t.key("after_delay"),
                    "after_delay needs an `after` moment",
                ));
            }
            return Ok(None);
        };
        let key = t.key("after");
        let name = self.string(n, &key)?;
        let Some(moment) = Moment::from_name(name) else {
            let valid: Vec<&str> = Moment::ALL.iter().map(|m| m.as_str()).collect();
            return Err(self.err(
                &n.span,
                key,
                format!("unknown moment {name:?} (valid: {})", valid.join(", ")),
            ));
        };
        if moment.needs_kafka() && names.brokers.is_empty() {
            return Err(self.err(
                &n.span,
                key,
                format!("{name:?} is a Kafka moment and this scenario has no brokers"),
            ));
        }
        let delay = match t.get("after_delay") {
            Some(d) => self.duration(d, &t.key("after_delay"))?,
            None => Duration::ZERO,
        };
        Ok(Some(AfterMoment { moment, delay }))
    }

    fn percent(&self, n: &Node, key: &str) -> R<u32> {
        let bad = || {
            self.err(
                &n.span,
                key,
                "loss is a percentage like \"5%\" or \"0.5%\" (0% to 100%)",
            )
        };
        let s = self.string(n, key)?;
        let body = s.trim().strip_suffix('%').ok_or_else(bad)?;
        let (whole, tenth) = match body.split_once('.') {
            Some((w, f)) if f.len() == 1 => (w, f),
            Some(_) => return Err(bad()),
            None => (body, "0"),
        };
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let tenth: u32 = tenth.parse().map_err(|_| bad())?;
        let permille = whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(tenth))
            .ok_or_else(bad)?;
        if permille > 1000 {
            return Err(bad());
        }
        Ok(permille)
    }

    fn latency(&self, n: &Node, key: &str) -> R<(Duration, Duration)> {
        match &n.val {
            Val::Str(_) => {
                let d = self.duration(n, key)?;
                Ok((d, d))
            }
            Val::Array(items) if items.len() == 2 => {
                let lo = self.duration(&items[0], &format!("{key}[0]"))?;
                let hi = self.duration(&items[1], &format!("{key}[1]"))?;
                if lo > hi {
                    return Err(self.err(
                        &n.span,
                        key,
                        format!("[min, max] with min {} above max {}", fmt(lo), fmt(hi)),
                    ));
                }
                Ok((lo, hi))
            }
            _ => Err(self.err(
                &n.span,
                key,
                "latency is a duration (\"20ms\") or a range [\"10ms\", \"50ms\"]",
            )),
        }
    }

    /// `"20ms"` (always that long) or `"10ms..30ms"` (a uniform draw per fsync), at most
    /// 10 s ([`parse_fsync_latency`]).
    fn fsync_latency(&self, n: &Node, key: &str) -> R<(Duration, Duration)> {
        let Val::Str(s) = &n.val else {
            // Reuse the duration parser's messages for numbers and other kinds.
            let d = self.duration(n, key)?;
            return Ok((d, d));
        };
        parse_fsync_latency(s).map_err(|m| self.err(&n.span, key, m))
    }

    fn windows<'n>(&self, n: &'n Node, key: &str) -> R<Vec<(&'n Node, String)>> {
        match &n.val {
            Val::Table(_) => Ok(vec![(n, key.to_owned())]),
            Val::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, it)| (it, format!("{key}[{i}]")))
                .collect()),
            v => Err(self.err(
                &n.span,
                key,
                format!("expected a table or an array of tables, found {}", v.kind()),
            )),
        }
    }

    fn flag(&self, t: &Tbl, k: &str) -> R<bool> {
        Ok(self
            .opt(t, k, |n, key| self.boolean(n, key))?
            .unwrap_or(false))
    }

    fn expect(&self, node: &Node, s: &Scenario, names: &Names) -> R<Expectations> {
        let t = self.table(node, "expect", EXPECT_KEYS)?;
        let mut e = Expectations::default();
        let kafka = s.cluster.kafka.is_some();
        match t.get("checkers") {
            // Absent or "all": every checker the cluster and workload can feed.
            None => e.checkers = s.applicable_checkers(),
            Some(n) if matches!(&n.val, Val::Str(v) if v == "all") => {
                e.checkers = s.applicable_checkers()
            }
            Some(n) => {
                for (name, item, k) in self.strings(n, &t.key("checkers"))? {
                    let Some(c) = CheckerName::ALL.into_iter().find(|c| c.as_str() == name) else {
                        let valid: Vec<&str> =
                            CheckerName::ALL.iter().map(|c| c.as_str()).collect();
                        return Err(self.err(
                            &item.span,
                            k,
                            format!(
                                "unknown checker {name:?} (valid: \"all\" or a list of {})",
                                valid.join(", ")
                            ),
                        ));
                    };
                    if let Some(why) = c.cannot_feed(s) {
                        return Err(self.err(
                            &item.span,
                            k,
                            format!(
                                "checker {name:?} has nothing to judge in this scenario: {why}"
                            ),
                        ));
                    }
                    e.checkers.insert(c);
                }
            }
        }
        let window = |k: &str, from_key: &str, to_key: &str| -> R<Vec<(Duration, Duration)>> {
            let mut out = Vec::new();
            if let Some(n) = t.get(k) {
                for (w, wk) in self.windows(n, &t.key(k))? {
                    let wt = self.table(w, &wk, &[from_key, to_key])?;
                    let a = self.duration(self.req(&wt, from_key)?, &wt.key(from_key))?;
                    let b = self.duration(self.req(&wt, to_key)?, &wt.key(to_key))?;
                    out.push((a, b));
                }
            }
            Ok(out)
        };
        for (from, to) in window("writes_unavailable", "from", "to")? {
            e.teaching.push(Teaching::WritesUnavailable { from, to });
        }
        for (from, to) in window("writes_available", "from", "to")? {
            e.teaching.push(Teaching::WritesAvailable { from, to });
        }
        for (after, within) in window("zk_leader_within", "after", "within")? {
            e.teaching.push(Teaching::ZkLeaderWithin { after, within });
        }
        if self.flag(&t, "reads_fail_without_quorum")? {
            e.teaching.push(Teaching::ReadsFailWithoutQuorum);
        }
        let kafka_only = |k: &str| -> R<()> {
            match t.get(k) {
                Some(n) if !kafka => Err(self.err(
                    &n.span,
                    t.key(k),
                    "needs Kafka brokers: add a [kafka] table",
                )),
                _ => Ok(()),
            }
        };
        kafka_only("new_controller_epoch")?;
        for (after, within) in window("new_controller_epoch", "after", "within")? {
            e.teaching
                .push(Teaching::NewControllerEpoch { after, within });
        }
        kafka_only("partition_leader_within")?;
        if let Some(n) = t.get("partition_leader_within") {
            for (w, wk) in self.windows(n, &t.key("partition_leader_within"))? {
                let wt = self.table(w, &wk, &["topic", "partition", "after", "within"])?;
                let tn = self.req(&wt, "topic")?;
                let topic = self.string(tn, &wt.key("topic"))?;
                let Some(&count) = names.topics.get(topic) else {
                    let known: Vec<&str> = names.topics.keys().map(String::as_str).collect();
                    return Err(self.err(
                        &tn.span,
                        wt.key("topic"),
                        format!(
                            "unknown topic {topic:?} (declared topics: {})",
                            list_or_none(&known)
                        ),
                    ));
                };
                let partition = self.u32_in(
                    self.req(&wt, "partition")?,
                    &wt.key("partition"),
                    0,
                    count - 1,
                )?;
                let after = self.duration(self.req(&wt, "after")?, &wt.key("after"))?;
                let within = self.duration(self.req(&wt, "within")?, &wt.key("within"))?;
                e.teaching.push(Teaching::PartitionLeaderWithin {
                    topic: topic.to_owned(),
                    partition,
                    after,
                    within,
                });
            }
        }
        if let Some(n) = t.get("ephemeral_gone") {
            for (w, wk) in self.windows(n, &t.key("ephemeral_gone"))? {
                let wt = self.table(w, &wk, &["path", "after", "within"])?;
                let pn = self.req(&wt, "path")?;
                let path = self.string(pn, &wt.key("path"))?;
                if !path.starts_with('/')
                    || (path.len() > 1 && path.ends_with('/'))
                    || path.contains("//")
                {
                    return Err(self.err(
                        &pn.span,
                        wt.key("path"),
                        format!("{path:?} is not a znode path like \"/brokers/ids/2\""),
                    ));
                }
                let after = self.duration(self.req(&wt, "after")?, &wt.key("after"))?;
                let within = self.duration(self.req(&wt, "within")?, &wt.key("within"))?;
                e.teaching.push(Teaching::EphemeralGone {
                    path: path.to_owned(),
                    after,
                    within,
                });
            }
        }
        kafka_only("acks1_losses_allowed")?;
        if self.flag(&t, "acks1_losses_allowed")? {
            e.teaching.push(Teaching::Acks1LossesAllowed);
        }
        kafka_only("unclean_losses_allowed")?;
        if self.flag(&t, "unclean_losses_allowed")? {
            e.teaching.push(Teaching::UncleanLossesAllowed);
        }
        Ok(e)
    }
}

fn fmt(d: Duration) -> String {
    super::duration::format_duration(d)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
