//! `server.properties`: the broker settings kzsim models, parsed with errors that name the
//! file, line and key.
//!
//! Syntax follows java.util.Properties closely enough for real files: `key=value`,
//! `key: value` or `key value`; `#` and `!` start comment lines; surrounding whitespace is
//! trimmed. Line continuations are not supported (no Kafka setting we read needs them).

use std::fmt;

/// A configuration error, displayed as `file:line: `key`: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name given to [`BrokerConfig::parse`].
    pub file: String,
    /// 1-based line, or `None` for a missing key.
    pub line: Option<usize>,
    /// The offending key.
    pub key: String,
    /// What is wrong and what would be valid.
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: `{}`: {}", self.file, line, self.key, self.msg),
            None => write!(f, "{}: `{}`: {}", self.file, self.key, self.msg),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A broker's settings. Defaults are Kafka 2.x's (the session timeout is 2.5+'s 18 s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// `broker.id` (required; kzsim does not generate ids).
    pub broker_id: u32,
    /// `zookeeper.connect` (required): `host:port[,host:port...][/chroot]`.
    pub zookeeper_connect: String,
    /// `zookeeper.session.timeout.ms` (18000).
    pub zookeeper_session_timeout_ms: u64,
    /// `min.insync.replicas` (1): acks=all needs at least this many ISR members.
    pub min_insync_replicas: u32,
    /// `unclean.leader.election.enable` (false): elect an out-of-ISR replica as a last resort.
    pub unclean_leader_election_enable: bool,
    /// `replica.lag.time.max.ms` (30000): a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `default.replication.factor` (1) for auto-created topics.
    pub default_replication_factor: u32,
    /// `num.partitions` (1) for auto-created topics.
    pub num_partitions: u32,
    /// `log.flush.interval.messages` (i64::MAX, i.e. never force a flush): fsync the log
    /// after this many unflushed records.
    pub log_flush_interval_messages: u64,
}

impl BrokerConfig {
    /// A config with every default and the two required values given.
    pub fn with_defaults(broker_id: u32, zookeeper_connect: &str) -> BrokerConfig {
        BrokerConfig {
            broker_id,
            zookeeper_connect: zookeeper_connect.to_string(),
            zookeeper_session_timeout_ms: 18_000,
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            replica_lag_time_max_ms: 30_000,
            default_replication_factor: 1,
            num_partitions: 1,
            log_flush_interval_messages: i64::MAX as u64,
        }
    }

    /// Parses `server.properties` text. Unknown keys, duplicate keys, missing required keys
    /// and bad values are errors naming `file_name`, the line and the key.
    pub fn parse(text: &str, file_name: &str) -> Result<BrokerConfig, ConfigError> {
        let err = |line: Option<usize>, key: &str, msg: String| ConfigError {
            file: file_name.to_string(),
            line,
            key: key.to_string(),
            msg,
        };
        let mut cfg = BrokerConfig::with_defaults(0, "");
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let split = line
                .find(['=', ':'])
                .or_else(|| line.find(char::is_whitespace));
            let (key, value) = match split {
                Some(at) => (line[..at].trim(), line[at + 1..].trim()),
                None => (line, ""),
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| k == key) {
                return Err(err(
                    Some(line_no),
                    key,
                    format!("set twice (first on line {first})"),
                ));
            }
            seen.push((key.to_string(), line_no));
            let at = Some(line_no);
            match key {
                "broker.id" => cfg.broker_id = parse_num(value).map_err(|m| err(at, key, m))?,
                "zookeeper.connect" => {
                    if value.is_empty() {
                        return Err(err(at, key, "empty; expected host:port[,host:port...][/chroot]".into()));
                    }
                    cfg.zookeeper_connect = value.to_string();
                }
                "zookeeper.session.timeout.ms" => {
                    cfg.zookeeper_session_timeout_ms = parse_positive(value).map_err(|m| err(at, key, m))?
                }
                "min.insync.replicas" => cfg.min_insync_replicas = parse_positive(value).map_err(|m| err(at, key, m))?,
                "unclean.leader.election.enable" => {
                    cfg.unclean_leader_election_enable = match value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(err(at, key, format!("\"{value}\" is not a boolean (true or false)"))),
                    }
                }
                "replica.lag.time.max.ms" => {
                    cfg.replica_lag_time_max_ms = parse_positive(value).map_err(|m| err(at, key, m))?
                }
                "default.replication.factor" => {
                    cfg.default_replication_factor = parse_positive(value).map_err(|m| err(at, key, m))?
                }
                "num.partitions" => cfg.num_partitions = parse_positive(value).map_err(|m| err(at, key, m))?,
                "log.flush.interval.messages" => {
                    let n: i64 = parse_num(value).map_err(|m| err(at, key, m))?;
                    if n < 1 {
                        return Err(err(at, key, format!("{n} is out of range (1..={})", i64::MAX)));
                    }
                    cfg.log_flush_interval_messages = n as u64;
                }
                _ => {
                    return Err(err(
                        at,
                        key,
                        "unknown key; kzsim reads broker.id, zookeeper.connect, zookeeper.session.timeout.ms, \
                         min.insync.replicas, unclean.leader.election.enable, replica.lag.time.max.ms, \
                         default.replication.factor, num.partitions, log.flush.interval.messages"
                            .into(),
                    ))
                }
            }
        }
        for required in ["broker.id", "zookeeper.connect"] {
            if !seen.iter().any(|(k, _)| k == required) {
                return Err(err(None, required, "missing (required)".into()));
            }
        }
        Ok(cfg)
    }
}

fn parse_num<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .map_err(|_| format!("\"{value}\" is not a valid number (expected a non-negative integer)"))
}

fn parse_positive<T: std::str::FromStr + PartialOrd + From<u8> + fmt::Display>(
    value: &str,
) -> Result<T, String> {
    let n: T = parse_num(value)?;
    if n < T::from(1) {
        return Err(format!("{n} is out of range (must be at least 1)"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_defaults() {
        let text = "# broker 1\nbroker.id=1\nzookeeper.connect = zk1:2181,zk2:2181/kafka\n\
                    min.insync.replicas: 2\nunclean.leader.election.enable=true\n";
        let cfg = BrokerConfig::parse(text, "server.properties").expect("valid");
        let mut want = BrokerConfig::with_defaults(1, "zk1:2181,zk2:2181/kafka");
        want.min_insync_replicas = 2;
        want.unclean_leader_election_enable = true;
        assert_eq!(cfg, want);
        assert_eq!(cfg.zookeeper_session_timeout_ms, 18_000);
        assert_eq!(cfg.replica_lag_time_max_ms, 30_000);
        assert_eq!(cfg.log_flush_interval_messages, i64::MAX as u64);
    }

    #[test]
    fn errors_name_file_line_key_and_valid_values() {
        let cases = [
            (
                "broker.id=1\nzookeeper.connect=zk:2181\nlisteners=PLAINTEXT://:9092\n",
                "b1.properties:3: `listeners`: unknown key",
            ),
            (
                "broker.id=1\nzookeeper.connect=zk:2181\nunclean.leader.election.enable=yes\n",
                "b1.properties:3: `unclean.leader.election.enable`: \"yes\" is not a boolean (true or false)",
            ),
            ("broker.id=x\n", "b1.properties:1: `broker.id`: \"x\" is not a valid number"),
            (
                "broker.id=1\nzookeeper.connect=zk:2181\nmin.insync.replicas=0\n",
                "b1.properties:3: `min.insync.replicas`: 0 is out of range (must be at least 1)",
            ),
            ("zookeeper.connect=zk:2181\n", "b1.properties: `broker.id`: missing (required)"),
            ("broker.id=1\nbroker.id=2\n", "b1.properties:2: `broker.id`: set twice (first on line 1)"),
        ];
        for (text, want) in cases {
            let got = BrokerConfig::parse(text, "b1.properties")
                .expect_err(text)
                .to_string();
            assert!(
                got.starts_with(want),
                "{text:?}: got {got:?}, want prefix {want:?}"
            );
        }
    }
}
