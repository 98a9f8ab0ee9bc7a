//! Reading the real configuration formats a scenario may point at: ZooKeeper's `zoo.cfg`
//! and Kafka's `server.properties` (Java properties: `key=value` or `key: value`, `#` and
//! `!` comments). Keys that matter to the simulation are read; keys that only matter to a
//! real deployment (ports, directories) are accepted and ignored; anything else is an
//! error, so a typo does not silently leave a default in place.

use super::duration::format_duration;
use super::ScenarioError;
use std::path::Path;
use std::time::Duration;

/// ZooKeeper settings found in a zoo.cfg; `None` where the file is silent.
#[derive(Debug, Default)]
pub(crate) struct ZooCfg {
    pub servers: Option<u32>,
    pub tick_time: Option<Duration>,
    pub init_limit: Option<u32>,
    pub sync_limit: Option<u32>,
    pub read_only: Option<bool>,
    pub snap_count: Option<u64>,
    pub snap_retain: Option<u32>,
    pub purge_interval: Option<u32>,
}

/// Kafka broker defaults found in a server.properties; `None` where the file is silent.
#[derive(Debug, Default)]
pub(crate) struct ServerProperties {
    pub zk_session_timeout: Option<Duration>,
    pub replica_lag_time_max: Option<Duration>,
    pub unclean_leader_election: Option<bool>,
    pub min_insync_replicas: Option<u32>,
    pub default_replication_factor: Option<u32>,
    pub num_partitions: Option<u32>,
    pub log_flush_interval_messages: Option<u64>,
}

const ZOO_READ: &[&str] = &[
    "tickTime",
    "initLimit",
    "syncLimit",
    "server.N",
    "readonlymode.enabled",
    "snapCount",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
];
const ZOO_IGNORED: &[&str] = &[
    "dataDir",
    "dataLogDir",
    "clientPort",
    "secureClientPort",
    "clientPortAddress",
    "maxClientCnxns",
    "admin.enableServer",
    "admin.serverPort",
    "4lw.commands.whitelist",
    "metricsProvider.className",
    "standaloneEnabled",
    "reconfigEnabled",
    "preAllocSize",
    "globalOutstandingLimit",
];

const KAFKA_READ: &[&str] = &[
    "zookeeper.session.timeout.ms",
    "replica.lag.time.max.ms",
    "unclean.leader.election.enable",
    "min.insync.replicas",
    "default.replication.factor",
    "num.partitions",
    "log.flush.interval.messages",
];
const KAFKA_IGNORED: &[&str] = &[
    "broker.id",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "log.dirs",
    "log.dir",
    "zookeeper.connect",
    "zookeeper.connection.timeout.ms",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.request.max.bytes",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "log.retention.hours",
    "log.segment.bytes",
    "log.retention.check.interval.ms",
    "group.initial.rebalance.delay.ms",
];

struct Prop<'a> {
    line: usize,
    key: &'a str,
    value: &'a str,
}

fn properties(text: &str) -> Vec<Prop<'_>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        let sep = l.find(['=', ':']).unwrap_or(l.len());
        let key = l[..sep].trim();
        let value = l.get(sep + 1..).unwrap_or("").trim();
        out.push(Prop {
            line: i + 1,
            key,
            value,
        });
    }
    out
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn err(path: &Path, p: &Prop, msg: String) -> ScenarioError {
    ScenarioError {
        file: path.to_owned(),
        line: p.line,
        key: p.key.to_owned(),
        msg,
    }
}

fn num<T: std::str::FromStr>(path: &Path, p: &Prop, what: &str) -> Result<T, ScenarioError> {
    p.value
        .parse()
        .map_err(|_| err(path, p, format!("{:?} is not {what}", p.value)))
}

fn boolean(path: &Path, p: &Prop) -> Result<bool, ScenarioError> {
    match p.value {
        "true" => Ok(true),
        "false" => Ok(false),
        v => Err(err(
            path,
            p,
            format!("{v:?} is not a boolean (use true or false)"),
        )),
    }
}

fn unknown(path: &Path, p: &Prop, read: &[&str], ignored: &[&str]) -> ScenarioError {
    err(
        path,
        p,
        format!(
            "unknown key for kzsim (keys it reads: {}; keys it accepts and ignores: {})",
            read.join(", "),
            ignored.join(", ")
        ),
    )
}

/// Reads a zoo.cfg. `server.N` lines must number the servers 1..=count, because kzsim
/// names server N `zkN`. An `Err(String)` is "the file cannot be read"; the caller names
/// the scenario key that pointed at it.
pub(crate) fn zoo_cfg(path: &Path) -> Result<Result<ZooCfg, ScenarioError>, String> {
    let text = read(path)?;
    Ok(parse_zoo_cfg(path, &text))
}

fn parse_zoo_cfg(path: &Path, text: &str) -> Result<ZooCfg, ScenarioError> {
    let mut cfg = ZooCfg::default();
    let mut ids = Vec::new();
    let mut last_server_line = None;
    for p in properties(text) {
        match p.key {
            "tickTime" => {
                let ms: u64 = num(path, &p, "a number of milliseconds")?;
                if ms == 0 {
                    return Err(err(path, &p, "tickTime must be positive".into()));
                }
                cfg.tick_time = Some(Duration::from_millis(ms));
            }
            "initLimit" => cfg.init_limit = Some(positive(path, &p)?),
            "syncLimit" => cfg.sync_limit = Some(positive(path, &p)?),
            "readonlymode.enabled" => cfg.read_only = Some(boolean(path, &p)?),
            "snapCount" => {
                let n: u64 = num(path, &p, "a number of transactions")?;
                if n < 2 {
                    return Err(err(path, &p, "snapCount must be at least 2".into()));
                }
                cfg.snap_count = Some(n);
            }
            "autopurge.snapRetainCount" => cfg.snap_retain = Some(positive(path, &p)?.max(3)),
            "autopurge.purgeInterval" => {
                cfg.purge_interval = Some(num(path, &p, "a number of hours (0: off)")?)
            }
            k if k.starts_with("server.") => {
                let id: u32 = k["server.".len()..].parse().map_err(|_| {
                    err(
                        path,
                        &p,
                        "server ids are positive integers (server.1=...)".into(),
                    )
                })?;
                ids.push(id);
                last_server_line = Some(p.line);
            }
            k if ZOO_IGNORED.contains(&k) => {}
            _ => return Err(unknown(path, &p, ZOO_READ, ZOO_IGNORED)),
        }
    }
    if let Some(line) = last_server_line {
        ids.sort_unstable();
        let want: Vec<u32> = (1..=ids.len() as u32).collect();
        if ids != want {
            return Err(ScenarioError {
                file: path.to_owned(),
                line,
                key: "server.N".into(),
                msg: format!(
                    "server ids must be 1..={} with none missing or repeated, found {ids:?}",
                    ids.len()
                ),
            });
        }
        cfg.servers = Some(ids.len() as u32);
    }
    Ok(cfg)
}

fn positive(path: &Path, p: &Prop) -> Result<u32, ScenarioError> {
    let n: u32 = num(path, p, "a positive integer")?;
    if n == 0 {
        return Err(err(path, p, "must be positive".into()));
    }
    Ok(n)
}

fn millis(path: &Path, p: &Prop) -> Result<Duration, ScenarioError> {
    let ms: u64 = num(path, p, "a number of milliseconds")?;
    if ms == 0 {
        return Err(err(
            path,
            p,
            format!(
                "must be positive (e.g. {})",
                format_duration(Duration::from_secs(6))
            ),
        ));
    }
    Ok(Duration::from_millis(ms))
}

/// Reads a server.properties (the broker defaults every broker of the scenario shares).
pub(crate) fn server_properties(
    path: &Path,
) -> Result<Result<ServerProperties, ScenarioError>, String> {
    let text = read(path)?;
    Ok(parse_server_properties(path, &text))
}

fn parse_server_properties(path: &Path, text: &str) -> Result<ServerProperties, ScenarioError> {
    let mut sp = ServerProperties::default();
    for p in properties(text) {
        match p.key {
            "zookeeper.session.timeout.ms" => sp.zk_session_timeout = Some(millis(path, &p)?),
            "replica.lag.time.max.ms" => sp.replica_lag_time_max = Some(millis(path, &p)?),
            "unclean.leader.election.enable" => {
                sp.unclean_leader_election = Some(boolean(path, &p)?)
            }
            "min.insync.replicas" => sp.min_insync_replicas = Some(positive(path, &p)?),
            "default.replication.factor" => {
                sp.default_replication_factor = Some(positive(path, &p)?)
            }
            "num.partitions" => sp.num_partitions = Some(positive(path, &p)?),
            "log.flush.interval.messages" => {
                let n: u64 = num(path, &p, "a positive number of messages")?;
                if n == 0 || n > i64::MAX as u64 {
                    return Err(err(
                        path,
                        &p,
                        "must be between 1 and 9223372036854775807".into(),
                    ));
                }
                sp.log_flush_interval_messages = Some(n);
            }
            k if KAFKA_IGNORED.contains(&k) => {}
            _ => return Err(unknown(path, &p, KAFKA_READ, KAFKA_IGNORED)),
        }
    }
    Ok(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_cfg_reads_the_keys_that_matter() {
        let text = "# ensemble\ntickTime=500\ninitLimit=5\nsyncLimit = 2\ndataDir=/var/zk\n\
                    server.1=zk1:2888:3888\nserver.2=zk2:2888:3888\nserver.3=zk3:2888:3888\n";
        let cfg = parse_zoo_cfg(Path::new("zoo.cfg"), text).expect("valid");
        assert_eq!(cfg.servers, Some(3));
        assert_eq!(cfg.tick_time, Some(Duration::from_millis(500)));
        assert_eq!(
            (cfg.init_limit, cfg.sync_limit, cfg.read_only),
            (Some(5), Some(2), None)
        );
    }

    #[test]
    fn zoo_cfg_reads_snapshot_and_autopurge_settings() {
        let text =
            "tickTime=500\nsnapCount=200\nautopurge.snapRetainCount=1\nautopurge.purgeInterval=1\n";
        let cfg = parse_zoo_cfg(Path::new("zoo.cfg"), text).expect("valid");
        // Values below 3 become 3, as in the real server.
        assert_eq!(
            (cfg.snap_count, cfg.snap_retain, cfg.purge_interval),
            (Some(200), Some(3), Some(1))
        );
    }

    #[test]
    fn zoo_cfg_errors_name_the_line_and_key() {
        let e = parse_zoo_cfg(Path::new("z.cfg"), "tickTime=500\ntickTim=3\n").expect_err("typo");
        assert_eq!((e.line, e.key.as_str()), (2, "tickTim"));
        assert!(e.msg.contains("tickTime"), "{}", e.msg);
        let e = parse_zoo_cfg(Path::new("z.cfg"), "server.1=a\nserver.3=b\n").expect_err("gap");
        assert_eq!((e.line, e.key.as_str()), (2, "server.N"));
        let e = parse_zoo_cfg(Path::new("z.cfg"), "initLimit=ten\n").expect_err("nan");
        assert_eq!(
            e.to_string(),
            "z.cfg:1: initLimit: \"ten\" is not a positive integer"
        );
    }

    #[test]
    fn server_properties_reads_broker_defaults() {
        let text =
            "broker.id=0\nzookeeper.session.timeout.ms=6000\nunclean.leader.election.enable=true\n\
                    min.insync.replicas: 2\n";
        let sp = parse_server_properties(Path::new("s.properties"), text).expect("valid");
        assert_eq!(sp.zk_session_timeout, Some(Duration::from_secs(6)));
        assert_eq!(
            (sp.unclean_leader_election, sp.min_insync_replicas),
            (Some(true), Some(2))
        );
        let e = parse_server_properties(Path::new("s"), "unclean.leader.election.enable=yes\n")
            .expect_err("bad");
        assert_eq!(e.line, 1);
    }
}
