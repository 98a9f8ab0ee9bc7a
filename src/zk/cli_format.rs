//! Text exactly as ZooKeeper 3.8 prints it: zkCli.sh results and error messages, and the
//! `srvr` / `mntr` four-letter words. Every function returns the full text including the
//! trailing newline(s) Java's `println` adds.

use super::datatree::EventType;
use super::ids::Zxid;
use super::types::{ErrorCode, Stat};

/// The version line's value (`Version.getFullVersion()` shape: version-sha, build date).
pub const ZK_FULL_VERSION: &str = "3.8.4-kzsim, built on 1970-01-01 00:00 UTC";

/// What a non-serving server answers to `srvr` and `mntr`.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// Java's `Long.toHexString`: lowercase, unpadded, two's complement for negatives.
fn hex(v: i64) -> String {
    format!("0x{:x}", v as u64)
}

/// Java `Date.toString()` of `ms` since the epoch, in UTC: `Thu Jan 01 00:00:00 UTC 1970`.
pub fn java_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        y
    )
}

/// Java's `Double.toString` for finite values: `0.0`, `1.5`, `1.0E7`, `1.0E-4`.
pub fn java_double(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&a) {
        return format!("{v:?}");
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    if mantissa.contains('.') {
        format!("{mantissa}E{exp}")
    } else {
        format!("{mantissa}.0E{exp}")
    }
}

/// The Stat block (`stat path`, `get -s`, `ls -s`, `set -s`), eleven lines.
pub fn format_stat(stat: &Stat) -> String {
    format!(
        "cZxid = {}\nctime = {}\nmZxid = {}\nmtime = {}\npZxid = {}\ncversion = {}\n\
         dataVersion = {}\naclVersion = {}\nephemeralOwner = {}\ndataLength = {}\nnumChildren = {}\n",
        hex(stat.czxid),
        java_date(stat.ctime),
        hex(stat.mzxid),
        java_date(stat.mtime),
        hex(stat.pzxid),
        stat.cversion,
        stat.version,
        stat.aversion,
        hex(stat.ephemeral_owner),
        stat.data_length,
        stat.num_children,
    )
}

/// `get path`: the data as UTF-8, or `null` for a node created without data.
pub fn format_data(data: Option<&[u8]>) -> String {
    match data {
        Some(d) => format!("{}\n", String::from_utf8_lossy(d)),
        None => "null\n".to_string(),
    }
}

/// `ls path`: sorted children as `[a, b, c]`.
pub fn format_children(children: &[String]) -> String {
    let mut sorted = children.to_vec();
    sorted.sort();
    format!("[{}]\n", sorted.join(", "))
}

/// `ls -R path`: the path, then breadth-first every node's sorted children as full paths
/// (`/t`, `/t/a`, `/t/b`, `/t/a/x`). `children_of` lists a node's child names.
pub fn format_ls_recursive(path: &str, mut children_of: impl FnMut(&str) -> Vec<String>) -> String {
    let mut out = String::new();
    let mut queue = std::collections::VecDeque::from([path.to_string()]);
    while let Some(p) = queue.pop_front() {
        out.push_str(&p);
        out.push('\n');
        let mut kids = children_of(&p);
        kids.sort();
        for k in kids {
            queue.push_back(if p == "/" {
                format!("/{k}")
            } else {
                format!("{p}/{k}")
            });
        }
    }
    out
}

/// `Created /actual/path` (stderr).
pub fn format_created(path: &str) -> String {
    format!("Created {path}\n")
}

/// `sync path`: `Sync is OK` or `Sync has failed. rc=<code>`.
pub fn format_sync(result: Result<(), ErrorCode>) -> String {
    match result {
        Ok(()) => "Sync is OK\n".to_string(),
        Err(code) => format!("Sync has failed. rc={}\n", code.code()),
    }
}

/// The message zkCli prints for a `KeeperException` with `code` on `path` (stderr).
pub fn format_error(code: ErrorCode, path: &str) -> String {
    let msg = match code {
        ErrorCode::NoNode => format!("Node does not exist: {path}"),
        ErrorCode::NodeExists => format!("Node already exists: {path}"),
        ErrorCode::BadVersion => format!("version No is not valid : {path}"),
        ErrorCode::NotEmpty => format!("Node not empty: {path}"),
        ErrorCode::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        ErrorCode::BadArguments => format!("Arguments are not valid : {path}"),
        ErrorCode::NoAuth => format!("Insufficient permission : {path}"),
        ErrorCode::InvalidAcl => format!("Acl is not valid : {path}"),
        ErrorCode::NotReadOnly => format!("Not a read-only call: {path}"),
        other if path.is_empty() => format!("KeeperErrorCode = {}", other.message()),
        other => format!("KeeperErrorCode = {} for {path}", other.message()),
    };
    format!("{msg}\n")
}

/// A fired watch as zkCli prints it (stdout): blank line, `WATCHER::`, blank line, event.
pub fn format_watch_event(event_type: EventType, path: &str) -> String {
    format!(
        "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:{} path:{path}\n",
        event_type.name()
    )
}

/// A server's role as `srvr` (`Mode:`) and `mntr` (`zk_server_state`) print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerMode {
    Leader,
    Follower,
    Observer,
    Standalone,
    ReadOnly,
}

impl ServerMode {
    /// `leader`, `follower`, `observer`, `standalone`, `read-only`.
    pub fn name(self) -> &'static str {
        match self {
            ServerMode::Leader => "leader",
            ServerMode::Follower => "follower",
            ServerMode::Observer => "observer",
            ServerMode::Standalone => "standalone",
            ServerMode::ReadOnly => "read-only",
        }
    }

    /// `zk_peer_state`: `leading - broadcast` etc.; `None` standalone.
    pub fn peer_state(self) -> Option<&'static str> {
        match self {
            ServerMode::Leader => Some("leading - broadcast"),
            ServerMode::Follower => Some("following - broadcast"),
            ServerMode::Observer => Some("observing - broadcast"),
            ServerMode::ReadOnly => Some("looking - election"),
            ServerMode::Standalone => None,
        }
    }
}

/// Leader-only statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderStats {
    pub learners: u64,
    pub synced_followers: u64,
    pub synced_non_voting_followers: u64,
    pub pending_syncs: u64,
    pub leader_uptime_ms: i64,
    /// Proposal sizes in bytes; −1 until the first proposal.
    pub last_proposal_size: i64,
    pub min_proposal_size: i64,
    pub max_proposal_size: i64,
}

impl LeaderStats {
    /// No proposal yet: sizes −1.
    pub fn new() -> LeaderStats {
        LeaderStats {
            last_proposal_size: -1,
            min_proposal_size: -1,
            max_proposal_size: -1,
            ..Default::default()
        }
    }
}

/// What a server reports through `srvr` and `mntr`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerStatus {
    /// False: both commands answer [`NOT_SERVING`].
    pub serving: bool,
    /// `Zookeeper version:` value (default [`ZK_FULL_VERSION`]).
    pub version: String,
    pub mode: ServerMode,
    /// Last processed zxid.
    pub zxid: Zxid,
    /// [`DataTree::node_count`](super::datatree::DataTree::node_count).
    pub node_count: u64,
    pub outstanding: u64,
    pub latency_min_ms: i64,
    pub latency_avg_ms: f64,
    pub latency_max_ms: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub connections: u64,
    pub uptime_ms: i64,
    pub watch_count: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub global_sessions: u64,
    pub local_sessions: u64,
    pub open_file_descriptors: u64,
    pub max_file_descriptors: u64,
    /// Voting members in the ensemble.
    pub quorum_size: u64,
    /// Observers synced (leader and follower `mntr` report it).
    pub synced_observers: u64,
    /// `Some` exactly when `mode` is leader.
    pub leader: Option<LeaderStats>,
}

impl ServerStatus {
    /// A serving server in `mode` with everything else zero (leader stats for a leader).
    pub fn new(mode: ServerMode) -> ServerStatus {
        ServerStatus {
            serving: true,
            version: ZK_FULL_VERSION.to_string(),
            mode,
            zxid: Zxid::ZERO,
            node_count: 0,
            outstanding: 0,
            latency_min_ms: 0,
            latency_avg_ms: 0.0,
            latency_max_ms: 0,
            packets_received: 0,
            packets_sent: 0,
            connections: 0,
            uptime_ms: 0,
            watch_count: 0,
            ephemerals_count: 0,
            approximate_data_size: 0,
            global_sessions: 0,
            local_sessions: 0,
            open_file_descriptors: 0,
            max_file_descriptors: 0,
            quorum_size: 0,
            synced_observers: 0,
            leader: (mode == ServerMode::Leader).then(LeaderStats::new),
        }
    }
}

/// The `srvr` answer.
pub fn format_srvr(s: &ServerStatus) -> String {
    if !s.serving {
        return NOT_SERVING.to_string();
    }
    let mut out = format!("Zookeeper version: {}\n", s.version);
    if s.mode == ServerMode::ReadOnly {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    out.push_str(&format!(
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\n\
         Zxid: {}\nMode: {}\nNode count: {}\n",
        s.latency_min_ms,
        java_double(s.latency_avg_ms),
        s.latency_max_ms,
        s.packets_received,
        s.packets_sent,
        s.connections,
        s.outstanding,
        hex(s.zxid.0),
        s.mode.name(),
        s.node_count,
    ));
    if let (ServerMode::Leader, Some(l)) = (s.mode, &s.leader) {
        out.push_str(&format!(
            "Proposal sizes last/min/max: {}/{}/{}\n",
            l.last_proposal_size, l.min_proposal_size, l.max_proposal_size
        ));
    }
    out
}

/// The `mntr` answer: `zk_<key>\t<value>` lines, `zk_version`, `zk_server_state`,
/// `zk_peer_state` first, then a fixed order; leader-only keys for a leader.
pub fn format_mntr(s: &ServerStatus) -> String {
    if !s.serving {
        return NOT_SERVING.to_string();
    }
    let mut lines: Vec<(&str, String)> = vec![
        ("version", s.version.clone()),
        ("server_state", s.mode.name().into()),
    ];
    if let Some(p) = s.mode.peer_state() {
        lines.push(("peer_state", p.to_string()));
    }
    let avg = (s.latency_avg_ms * 10_000.0).round() / 10_000.0;
    lines.extend([
        ("avg_latency", java_double(avg)),
        ("max_latency", s.latency_max_ms.to_string()),
        ("min_latency", s.latency_min_ms.to_string()),
        ("packets_received", s.packets_received.to_string()),
        ("packets_sent", s.packets_sent.to_string()),
        ("num_alive_connections", s.connections.to_string()),
        ("outstanding_requests", s.outstanding.to_string()),
        ("uptime", s.uptime_ms.to_string()),
        ("znode_count", s.node_count.to_string()),
        ("watch_count", s.watch_count.to_string()),
        ("ephemerals_count", s.ephemerals_count.to_string()),
        ("approximate_data_size", s.approximate_data_size.to_string()),
        ("global_sessions", s.global_sessions.to_string()),
        ("local_sessions", s.local_sessions.to_string()),
        (
            "open_file_descriptor_count",
            s.open_file_descriptors.to_string(),
        ),
        (
            "max_file_descriptor_count",
            s.max_file_descriptors.to_string(),
        ),
    ]);
    if s.mode != ServerMode::Standalone {
        lines.push(("quorum_size", s.quorum_size.to_string()));
    }
    match (s.mode, &s.leader) {
        (ServerMode::Leader, Some(l)) => lines.extend([
            ("learners", l.learners.to_string()),
            ("synced_followers", l.synced_followers.to_string()),
            (
                "synced_non_voting_followers",
                l.synced_non_voting_followers.to_string(),
            ),
            ("synced_observers", s.synced_observers.to_string()),
            ("pending_syncs", l.pending_syncs.to_string()),
            ("leader_uptime", l.leader_uptime_ms.to_string()),
            ("last_proposal_size", l.last_proposal_size.to_string()),
            ("max_proposal_size", l.max_proposal_size.to_string()),
            ("min_proposal_size", l.min_proposal_size.to_string()),
        ]),
        (ServerMode::Follower, _) => {
            lines.push(("synced_observers", s.synced_observers.to_string()))
        }
        _ => {}
    }
    lines
        .into_iter()
        .map(|(k, v)| format!("zk_{k}\t{v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_dates() {
        let table = [
            (0, "Thu Jan 01 00:00:00 UTC 1970"),
            (1_700_000_000_000, "Tue Nov 14 22:13:20 UTC 2023"),
            (951_782_400_000, "Tue Feb 29 00:00:00 UTC 2000"),
            (-1, "Wed Dec 31 23:59:59 UTC 1969"),
        ];
        for (ms, want) in table {
            assert_eq!(java_date(ms), want, "{ms}");
        }
    }

    #[test]
    fn java_doubles() {
        let table = [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (0.5, "0.5"),
            (12.3456, "12.3456"),
            (1e7, "1.0E7"),
            (1.5e-4, "1.5E-4"),
        ];
        for (v, want) in table {
            assert_eq!(java_double(v), want);
        }
    }

    #[test]
    fn stat_block_of_a_fresh_root() {
        let stat = Stat {
            cversion: -1,
            num_children: 1,
            ephemeral_owner: 0x0100_0000_0001_0000,
            ..Stat::default()
        };
        assert_eq!(
            format_stat(&stat),
            "cZxid = 0x0\nctime = Thu Jan 01 00:00:00 UTC 1970\nmZxid = 0x0\n\
             mtime = Thu Jan 01 00:00:00 UTC 1970\npZxid = 0x0\ncversion = -1\ndataVersion = 0\n\
             aclVersion = 0\nephemeralOwner = 0x100000000010000\ndataLength = 0\nnumChildren = 1\n"
        );
        let neg = Stat {
            ephemeral_owner: -1,
            ..Stat::default()
        };
        assert!(format_stat(&neg).contains("ephemeralOwner = 0xffffffffffffffff\n"));
    }

    #[test]
    fn cli_results_and_errors() {
        assert_eq!(format_data(None), "null\n");
        assert_eq!(format_data(Some(b"")), "\n");
        assert_eq!(format_children(&["b".into(), "a".into()]), "[a, b]\n");
        assert_eq!(format_children(&[]), "[]\n");
        assert_eq!(format_created("/a0000000001"), "Created /a0000000001\n");
        assert_eq!(format_sync(Ok(())), "Sync is OK\n");
        assert_eq!(
            format_sync(Err(ErrorCode::ConnectionLoss)),
            "Sync has failed. rc=-4\n"
        );
        let table = [
            (ErrorCode::NoNode, "/a", "Node does not exist: /a\n"),
            (ErrorCode::NodeExists, "/a", "Node already exists: /a\n"),
            (
                ErrorCode::BadVersion,
                "/a",
                "version No is not valid : /a\n",
            ),
            (ErrorCode::NotEmpty, "/a", "Node not empty: /a\n"),
            (
                ErrorCode::NoChildrenForEphemerals,
                "/a/b",
                "Ephemerals cannot have children: /a/b\n",
            ),
            (
                ErrorCode::BadArguments,
                "/a",
                "Arguments are not valid : /a\n",
            ),
            (ErrorCode::NoAuth, "/a", "Insufficient permission : /a\n"),
            (ErrorCode::InvalidAcl, "/a", "Acl is not valid : /a\n"),
            (
                ErrorCode::ConnectionLoss,
                "/a",
                "KeeperErrorCode = ConnectionLoss for /a\n",
            ),
            (
                ErrorCode::SessionExpired,
                "/a",
                "KeeperErrorCode = Session expired for /a\n",
            ),
            (
                ErrorCode::ConnectionLoss,
                "",
                "KeeperErrorCode = ConnectionLoss\n",
            ),
        ];
        for (code, path, want) in table {
            assert_eq!(format_error(code, path), want);
        }
        assert_eq!(
            format_watch_event(EventType::NodeDataChanged, "/a"),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/a\n"
        );
    }

    #[test]
    fn ls_recursive_is_breadth_first() {
        let tree = |p: &str| -> Vec<String> {
            match p {
                "/t" => vec!["b".into(), "a".into()],
                "/t/a" => vec!["x".into()],
                _ => vec![],
            }
        };
        assert_eq!(format_ls_recursive("/t", tree), "/t\n/t/a\n/t/b\n/t/a/x\n");
    }

    #[test]
    fn srvr_of_a_fresh_leader_and_follower() {
        let mut s = ServerStatus::new(ServerMode::Leader);
        s.zxid = Zxid::new(1, 0);
        s.node_count = 5;
        assert_eq!(
            format_srvr(&s),
            format!(
                "Zookeeper version: {ZK_FULL_VERSION}\nLatency min/avg/max: 0/0.0/0\nReceived: 0\nSent: 0\n\
                 Connections: 0\nOutstanding: 0\nZxid: 0x100000000\nMode: leader\nNode count: 5\n\
                 Proposal sizes last/min/max: -1/-1/-1\n"
            )
        );
        let mut f = ServerStatus::new(ServerMode::ReadOnly);
        f.node_count = 5;
        let out = format_srvr(&f);
        assert!(out.starts_with(&format!(
            "Zookeeper version: {ZK_FULL_VERSION}\nREAD-ONLY mode; serving only read-only clients\n"
        )));
        assert!(out.ends_with("Zxid: 0x0\nMode: read-only\nNode count: 5\n"));
        f.serving = false;
        assert_eq!(format_srvr(&f), NOT_SERVING);
        assert_eq!(format_mntr(&f), NOT_SERVING);
    }

    #[test]
    fn mntr_lines() {
        let mut s = ServerStatus::new(ServerMode::Follower);
        s.latency_avg_ms = 1.0 / 3.0;
        s.quorum_size = 3;
        let out = format_mntr(&s);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            &lines[..4],
            [
                &format!("zk_version\t{ZK_FULL_VERSION}") as &str,
                "zk_server_state\tfollower",
                "zk_peer_state\tfollowing - broadcast",
                "zk_avg_latency\t0.3333"
            ]
        );
        assert!(lines.contains(&"zk_quorum_size\t3"));
        assert!(lines.contains(&"zk_synced_observers\t0"));
        assert!(!out.contains("zk_learners"));
        let leader = format_mntr(&ServerStatus::new(ServerMode::Leader));
        assert!(
            leader.contains("zk_learners\t0\n") && leader.contains("zk_last_proposal_size\t-1\n")
        );
        let standalone = format_mntr(&ServerStatus::new(ServerMode::Standalone));
        assert!(!standalone.contains("zk_peer_state") && !standalone.contains("zk_quorum_size"));
    }
}
