//! `zoo.cfg`: the real server's configuration format (Java properties, `key=value`), the
//! subset kzsim simulates, with errors that name the line, the key and the valid values.
//!
//! Unknown keys are kept in [`ZkConfig::other`] (the real server turns them into
//! `zookeeper.<key>` system properties), so real files load unchanged.

use super::ids::Sid;
use std::collections::BTreeMap;
use std::fmt;

/// A `zoo.cfg` problem: `line` is 1-based; 0 means the file as a whole (a missing key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub key: String,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    /// `zoo.cfg:7: \`tickTime\`: ...` (or `zoo.cfg: \`initLimit\`: ...` without a line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "zoo.cfg: `{}`: {}", self.key, self.msg)
        } else {
            write!(f, "zoo.cfg:{}: `{}`: {}", self.line, self.key, self.msg)
        }
    }
}

impl std::error::Error for ConfigError {}

/// One `server.N=host:peerPort:electionPort` line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    pub host: String,
    /// Quorum (ZAB) port, 2888 by convention.
    pub peer_port: u16,
    /// Leader-election port, 3888 by convention.
    pub election_port: u16,
}

/// The settings kzsim simulates. All durations in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkConfig {
    /// `tickTime` (default 3000, the code's default).
    pub tick_time_ms: i64,
    /// `initLimit`, in ticks (required with servers).
    pub init_limit: u32,
    /// `syncLimit`, in ticks (required with servers).
    pub sync_limit: u32,
    /// `minSessionTimeout` (default 2 × tickTime).
    pub min_session_timeout_ms: i64,
    /// `maxSessionTimeout` (default 20 × tickTime).
    pub max_session_timeout_ms: i64,
    /// `clientPort` (default 2181).
    pub client_port: u16,
    /// `server.N` lines by sid; empty = standalone.
    pub servers: BTreeMap<Sid, ServerAddr>,
    /// `readonlymode.enabled` (default false).
    pub readonly_mode_enabled: bool,
    /// `autopurge.snapRetainCount` (default 3; smaller values become 3).
    pub snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours (default 0: off).
    pub purge_interval_hours: u32,
    /// `snapCount` (default 100000; values below 2 become 2).
    pub snap_count: u64,
    /// `dataDir` (required), kept as written.
    pub data_dir: String,
    /// Any other key, as written.
    pub other: BTreeMap<String, String>,
}

const DEFAULT_TICK_MS: i64 = 3000;

impl ZkConfig {
    /// A sample ensemble of `n` servers `zk1..zkn` (sids 1..=n, ports 2888/3888), with the
    /// sample config's tickTime 2000, initLimit 10, syncLimit 5, dataDir `/data`.
    pub fn default_ensemble(n: u64) -> ZkConfig {
        let servers = (1..=n)
            .map(|sid| {
                (
                    sid,
                    ServerAddr {
                        host: format!("zk{sid}"),
                        peer_port: 2888,
                        election_port: 3888,
                    },
                )
            })
            .collect();
        ZkConfig {
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40_000,
            client_port: 2181,
            servers,
            readonly_mode_enabled: false,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            snap_count: 100_000,
            data_dir: "/data".to_string(),
            other: BTreeMap::new(),
        }
    }

    /// Parses a `zoo.cfg` text. `#`/`!` comments and blank lines are skipped; a key ends
    /// at the first `=`, `:` or blank, as in Java properties.
    pub fn parse(text: &str) -> Result<ZkConfig, ConfigError> {
        let mut cfg = ZkConfig {
            tick_time_ms: DEFAULT_TICK_MS,
            init_limit: 0,
            sync_limit: 0,
            min_session_timeout_ms: -1,
            max_session_timeout_ms: -1,
            client_port: 2181,
            servers: BTreeMap::new(),
            readonly_mode_enabled: false,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            snap_count: 100_000,
            data_dir: String::new(),
            other: BTreeMap::new(),
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                continue;
            }
            let (key, value) = split_property(trimmed);
            let err = |msg: String| ConfigError {
                line,
                key: key.to_string(),
                msg,
            };
            if value.is_empty() {
                return Err(err("has no value (write `key=value`)".to_string()));
            }
            if let Some(first) = seen.insert(key.to_string(), line) {
                return Err(err(format!("set twice (first on line {first})")));
            }
            match key {
                "tickTime" => {
                    cfg.tick_time_ms =
                        positive(value, "milliseconds, e.g. tickTime=2000").map_err(err)?;
                }
                "initLimit" => {
                    cfg.init_limit =
                        positive(value, "ticks, e.g. initLimit=10").map_err(err)? as u32
                }
                "syncLimit" => {
                    cfg.sync_limit = positive(value, "ticks, e.g. syncLimit=5").map_err(err)? as u32
                }
                "minSessionTimeout" => {
                    cfg.min_session_timeout_ms =
                        positive(value, "milliseconds, e.g. minSessionTimeout=4000")
                            .map_err(err)?;
                }
                "maxSessionTimeout" => {
                    cfg.max_session_timeout_ms =
                        positive(value, "milliseconds, e.g. maxSessionTimeout=40000")
                            .map_err(err)?;
                }
                "clientPort" => cfg.client_port = port(value).map_err(err)?,
                "dataDir" => cfg.data_dir = value.to_string(),
                "readonlymode.enabled" => {
                    cfg.readonly_mode_enabled = match value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(err(format!("{value:?} is not a boolean (true or false)")))
                        }
                    }
                }
                "autopurge.snapRetainCount" => {
                    // Values below 3 become 3 (PurgeTxnLog keeps at least 3 snapshots).
                    cfg.snap_retain_count = positive(value, "snapshots, at least 3")
                        .map_err(err)?
                        .max(3) as u32;
                }
                "autopurge.purgeInterval" => {
                    cfg.purge_interval_hours =
                        non_negative(value, "hours, 0 = off").map_err(err)? as u32;
                }
                "snapCount" => {
                    cfg.snap_count = positive(value, "txns, e.g. snapCount=100000")
                        .map_err(err)?
                        .max(2) as u64
                }
                k if k.starts_with("server.") => {
                    let sid: Sid = k["server.".len()..].parse().map_err(|_| {
                        err(
                            "the server id must be a number (e.g. server.1=zk1:2888:3888)"
                                .to_string(),
                        )
                    })?;
                    cfg.servers.insert(sid, server_addr(value).map_err(err)?);
                }
                _ => {
                    cfg.other.insert(key.to_string(), value.to_string());
                }
            }
        }
        let missing = |key: &str, msg: &str| ConfigError {
            line: 0,
            key: key.to_string(),
            msg: msg.to_string(),
        };
        if cfg.data_dir.is_empty() {
            return Err(missing("dataDir", "is not set (e.g. dataDir=/data)"));
        }
        if !cfg.servers.is_empty() {
            if cfg.init_limit == 0 {
                return Err(missing(
                    "initLimit",
                    "is not set (ticks, e.g. initLimit=10)",
                ));
            }
            if cfg.sync_limit == 0 {
                return Err(missing("syncLimit", "is not set (ticks, e.g. syncLimit=5)"));
            }
        }
        if cfg.min_session_timeout_ms == -1 {
            cfg.min_session_timeout_ms = 2 * cfg.tick_time_ms;
        }
        if cfg.max_session_timeout_ms == -1 {
            cfg.max_session_timeout_ms = 20 * cfg.tick_time_ms;
        }
        if cfg.min_session_timeout_ms > cfg.max_session_timeout_ms {
            let line = seen
                .get("minSessionTimeout")
                .or(seen.get("maxSessionTimeout"))
                .copied()
                .unwrap_or(0);
            return Err(ConfigError {
                line,
                key: "minSessionTimeout".to_string(),
                msg: format!(
                    "{} is larger than maxSessionTimeout {} (min must be <= max)",
                    cfg.min_session_timeout_ms, cfg.max_session_timeout_ms
                ),
            });
        }
        Ok(cfg)
    }

    /// Renders a `zoo.cfg` that [`ZkConfig::parse`] reads back to an equal config.
    pub fn to_zoo_cfg(&self) -> String {
        let mut s = format!(
            "tickTime={}\ninitLimit={}\nsyncLimit={}\nminSessionTimeout={}\nmaxSessionTimeout={}\n\
             dataDir={}\nclientPort={}\nsnapCount={}\nautopurge.snapRetainCount={}\n\
             autopurge.purgeInterval={}\nreadonlymode.enabled={}\n",
            self.tick_time_ms,
            self.init_limit,
            self.sync_limit,
            self.min_session_timeout_ms,
            self.max_session_timeout_ms,
            self.data_dir,
            self.client_port,
            self.snap_count,
            self.snap_retain_count,
            self.purge_interval_hours,
            self.readonly_mode_enabled,
        );
        for (sid, a) in &self.servers {
            s.push_str(&format!(
                "server.{sid}={}:{}:{}\n",
                a.host, a.peer_port, a.election_port
            ));
        }
        for (k, v) in &self.other {
            s.push_str(&format!("{k}={v}\n"));
        }
        s
    }
}

/// Splits `key=value`, `key: value` or `key value` (Java properties separators).
fn split_property(line: &str) -> (&str, &str) {
    let Some(i) = line.find(['=', ':', ' ', '\t']) else {
        return (line, "");
    };
    let key = &line[..i];
    let mut rest = line[i..].trim_start();
    if line[i..].starts_with([' ', '\t']) && rest.starts_with(['=', ':']) {
        rest = &rest[1..];
    } else if line[i..].starts_with(['=', ':']) {
        rest = &line[i + 1..];
    }
    (key, rest.trim())
}

fn positive(value: &str, what: &str) -> Result<i64, String> {
    match value.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{value:?} is not a positive number of {what}")),
    }
}

fn non_negative(value: &str, what: &str) -> Result<i64, String> {
    match value.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(format!("{value:?} is not a number of {what}")),
    }
}

fn port(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{value:?} is not a port (1..65535)")),
    }
}

/// `host:peerPort:electionPort[:participant][;[clientAddr:]clientPort]`.
fn server_addr(value: &str) -> Result<ServerAddr, String> {
    let addr = value.split(';').next().unwrap_or(value);
    let parts: Vec<&str> = addr.split(':').collect();
    let usage = "expected host:peerPort:electionPort (e.g. zk1:2888:3888)";
    match parts.as_slice() {
        [host, peer, election] | [host, peer, election, "participant"] => {
            if host.is_empty() {
                return Err(format!("empty host; {usage}"));
            }
            Ok(ServerAddr {
                host: host.to_string(),
                peer_port: port(peer).map_err(|e| format!("peer port: {e}"))?,
                election_port: port(election).map_err(|e| format!("election port: {e}"))?,
            })
        }
        [_, _, _, "observer"] => Err("observers are not simulated (use participant)".to_string()),
        [_, _, _, role] => Err(format!("unknown role {role:?} (participant or observer)")),
        _ => Err(format!("{value:?}: {usage}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# The number of milliseconds of each tick
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2181
autopurge.snapRetainCount=1
server.1=zk1:2888:3888
server.2=zk2:2888:3888;2181
server.3 = zk3:2888:3888:participant
4lw.commands.whitelist=*
";

    #[test]
    fn parses_the_sample_and_derives_defaults() {
        let cfg = ZkConfig::parse(SAMPLE).expect("sample parses");
        assert_eq!(
            (cfg.tick_time_ms, cfg.init_limit, cfg.sync_limit),
            (2000, 10, 5)
        );
        assert_eq!(
            (cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
            (4000, 40_000)
        );
        assert_eq!(cfg.snap_retain_count, 3, "values below 3 become 3");
        assert_eq!(cfg.snap_count, 100_000);
        assert_eq!(cfg.servers.len(), 3);
        assert_eq!(
            cfg.servers[&3],
            ServerAddr {
                host: "zk3".into(),
                peer_port: 2888,
                election_port: 3888
            }
        );
        assert_eq!(
            cfg.other.get("4lw.commands.whitelist").map(String::as_str),
            Some("*")
        );
        assert_eq!(cfg.data_dir, "/var/lib/zookeeper");
    }

    #[test]
    fn default_ensemble_round_trips() {
        let cfg = ZkConfig::default_ensemble(3);
        assert_eq!(cfg.servers[&2].host, "zk2");
        assert_eq!(ZkConfig::parse(&cfg.to_zoo_cfg()), Ok(cfg));
    }

    #[test]
    fn code_default_tick_is_3000() {
        let cfg = ZkConfig::parse("dataDir=/d\n").expect("standalone parses");
        assert_eq!(
            (
                cfg.tick_time_ms,
                cfg.min_session_timeout_ms,
                cfg.max_session_timeout_ms
            ),
            (3000, 6000, 60_000)
        );
    }

    #[test]
    fn bad_lines_name_line_key_and_valid_values() {
        let base = "dataDir=/d\ninitLimit=10\nsyncLimit=5\nserver.1=zk1:2888:3888\n";
        let table = [
            ("tickTime=2s\n", "zoo.cfg:5: `tickTime`: \"2s\" is not a positive number of milliseconds, e.g. tickTime=2000"),
            ("tickTime=0\n", "zoo.cfg:5: `tickTime`: \"0\" is not a positive number of milliseconds, e.g. tickTime=2000"),
            ("server.x=zk1:2888:3888\n", "zoo.cfg:5: `server.x`: the server id must be a number (e.g. server.1=zk1:2888:3888)"),
            ("server.2=zk2:2888\n", "zoo.cfg:5: `server.2`: \"zk2:2888\": expected host:peerPort:electionPort (e.g. zk1:2888:3888)"),
            ("server.2=zk2:2888:99999\n", "zoo.cfg:5: `server.2`: election port: \"99999\" is not a port (1..65535)"),
            ("server.2=zk2:2888:3888:observer\n", "zoo.cfg:5: `server.2`: observers are not simulated (use participant)"),
            ("readonlymode.enabled=yes\n", "zoo.cfg:5: `readonlymode.enabled`: \"yes\" is not a boolean (true or false)"),
            ("initLimit=20\n", "zoo.cfg:5: `initLimit`: set twice (first on line 2)"),
            ("clientPort\n", "zoo.cfg:5: `clientPort`: has no value (write `key=value`)"),
            (
                "minSessionTimeout=70000\n",
                "zoo.cfg:5: `minSessionTimeout`: 70000 is larger than maxSessionTimeout 60000 (min must be <= max)",
            ),
            ("autopurge.purgeInterval=-1\n", "zoo.cfg:5: `autopurge.purgeInterval`: \"-1\" is not a number of hours, 0 = off"),
        ];
        for (extra, want) in table {
            let text = format!("{base}{extra}");
            let got = ZkConfig::parse(&text)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_string()), "{extra}");
        }
    }

    #[test]
    fn missing_required_keys() {
        let table = [
            (
                "tickTime=2000\n",
                "zoo.cfg: `dataDir`: is not set (e.g. dataDir=/data)",
            ),
            (
                "dataDir=/d\nserver.1=a:1:2\n",
                "zoo.cfg: `initLimit`: is not set (ticks, e.g. initLimit=10)",
            ),
            (
                "dataDir=/d\ninitLimit=3\nserver.1=a:1:2\n",
                "zoo.cfg: `syncLimit`: is not set (ticks, e.g. syncLimit=5)",
            ),
        ];
        for (text, want) in table {
            assert_eq!(
                ZkConfig::parse(text).map(|_| ()).map_err(|e| e.to_string()),
                Err(want.to_string())
            );
        }
    }

    #[test]
    fn property_separators() {
        assert_eq!(split_property("a=b"), ("a", "b"));
        assert_eq!(split_property("a : b"), ("a", "b"));
        assert_eq!(split_property("a b"), ("a", "b"));
        assert_eq!(
            split_property("server.1=zk1:2888:3888"),
            ("server.1", "zk1:2888:3888")
        );
    }
}
