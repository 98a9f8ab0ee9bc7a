//! `kzsim shell`: zkCli.sh on a simulated ensemble, plus the simulator's fault verbs.
//!
//! ZooKeeper commands take zkCli.sh 3.8's syntax and print its output shapes (the Stat
//! block, `[a, b]`, `Created /a`, `Node does not exist: /a`, ...): `create [-s] [-e] path
//! [data]`, `get [-s] path`, `set [-s] [-v version] path data`, `delete [-v version] path`,
//! `deleteall path`, `ls [-s] [-R] path`, `stat path`, `sync path`. Simulator commands
//! change the world: `crash zk2`, `restart zk2`, `partition zk1,zk2 | zk3`, `heal`,
//! `pause zk1 [10s]`, `resume zk1`, `slow-disk zk2 200ms` (`50ms..400ms` draws each fsync's
//! latency; `slow-disk zk2 off` restores it), `advance 5s`, `status`, `leader`, `help`,
//! `quit`.
//!
//! By default the cluster is a ZooKeeper ensemble alone. With a scenario
//! ([`ShellConfig::from_scenario`], `kzsim shell --scenario FILE`) it is the scenario's
//! cluster: its ensemble settings and, if it has them, its Kafka brokers and topics; never
//! its workload or fault schedule (the user drives the faults). Brokers (`broker1`, or
//! `b1`) take the same fault verbs as servers, `controller` and `leader:topic/partition`
//! name whichever broker holds that role now, and `kafka-topics --list | --describe`
//! prints Kafka 2.8's output from what ZooKeeper holds (see [`kafka_topics`]).
//!
//! The whole session is ONE simulated run (one seed, one madsim runtime on its own thread).
//! Lines arrive over a channel from the thread that reads the terminal or the script; each
//! ZooKeeper command is sent by a client process (node `zkcli`, session timeout 30 s like
//! zkCli) and the shell waits, in simulated time, for its answer. Simulated time advances
//! only while a command runs or on `advance`/`pause NAME DURATION`: between lines the
//! simulation thread blocks on the channel, so time stands still while a person thinks,
//! and a script gives the same output on every run with the same seed.
//!
//! Differences from zkCli.sh: no watches (`-w`), ACLs, TTL or container nodes; errors go
//! to the same stream as results so a transcript keeps its order; `status` prints each
//! server's `srvr` answer, in which the counters kzsim does not model (latency, packets)
//! are 0.

mod kafka_topics;

use kafka_topics::{DescribeOpts, PartitionView, TopicsCmd};

use crate::bugs::BugFlags;
use crate::cluster::{Cluster, EnsembleSpec};
use crate::history::{Event, ZkRole};
use crate::kafka::cluster::KafkaCluster;
use crate::kafka::znodes::{self, PartitionState, TopicAssignment};
use crate::net::NetMsg;
use crate::runner::{ensemble_spec, kafka_spec};
use crate::scenario::{
    format_duration, format_fsync_latency, fsync_latency_us, parse_duration, parse_fsync_latency,
    Scenario,
};
use crate::zk::cli_format::{
    format_children, format_created, format_data, format_error, format_ls_recursive, format_srvr,
    format_stat, format_sync, LeaderStats, ServerMode, ServerStatus, NOT_SERVING,
};
use crate::zk::client::ClientState;
use crate::zk::request::{ZkOp, ZkResponse};
use crate::zk::types::{validate_path, CreateMode, ErrorCode};
use kzsim_sim::world::{CrashOptions, NodeState};
use kzsim_sim::{RunConfig, SimTime};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc as amsc, oneshot};

/// The node name of the shell's ZooKeeper client.
pub const CLIENT_NODE: &str = "zkcli";
/// zkCli.sh's default session timeout.
const SESSION_TIMEOUT_MS: u64 = 30_000;
/// How long the shell waits at start for the client's first connection.
const CONNECT_WAIT: Duration = Duration::from_secs(60);
/// How long the shell waits at start for a Kafka controller and every partition's leader
/// with a full ISR.
const KAFKA_READY_WAIT: Duration = Duration::from_secs(60);
/// A bound on one ZooKeeper command (the client fails requests on connection loss well
/// before: at most two thirds of the session timeout).
const OP_LIMIT: Duration = Duration::from_secs(60);
/// The most one `advance` or timed `pause` may move the clock.
const ADVANCE_MAX: Duration = Duration::from_secs(24 * 3600);
/// The run's simulated-time limit (a long interactive session).
const SESSION_TIME_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);
/// The largest ensemble `--servers` accepts.
pub const MAX_SERVERS: usize = 15;
/// `deleteall`/`ls -R` give up past this many nodes.
const TREE_WALK_MAX: usize = 10_000;

const USAGE_CREATE: &str = "create [-s] [-e] path [data]";
const USAGE_GET: &str = "get [-s] path";
const USAGE_SET: &str = "set [-s] [-v version] path data";
const USAGE_DELETE: &str = "delete [-v version] path";
const USAGE_DELETEALL: &str = "deleteall path";
const USAGE_LS: &str = "ls [-s] [-R] path";
const USAGE_STAT: &str = "stat path";
const USAGE_SYNC: &str = "sync path";
const USAGE_CRASH: &str = "crash node";
const USAGE_RESTART: &str = "restart node";
const USAGE_PAUSE: &str = "pause node [duration]";
const USAGE_RESUME: &str = "resume node";
const USAGE_SLOW_DISK: &str =
    "slow-disk node latency|off   (e.g. slow-disk zk2 200ms, slow-disk zk2 50ms..400ms)";
const USAGE_PARTITION: &str = "partition group | group ...   (a group: zk1,zk2)";
/// The answer to a Kafka command on a cluster without brokers.
const NO_BROKERS: &str =
    "this cluster has no Kafka brokers (start the shell with --scenario FILE, a scenario with a [kafka] section)\n";
const USAGE_ADVANCE: &str = "advance duration   (e.g. 5s, 250ms)";

/// `help` (and the answer to an unknown command).
const HELP: &str = "\
kzsim shell: zkCli.sh commands on a simulated ZooKeeper ensemble (and Kafka brokers)
ZooKeeper commands:
\tcreate [-s] [-e] path [data]
\tdelete [-v version] path
\tdeleteall path
\tget [-s] path
\tls [-s] [-R] path
\tset [-s] [-v version] path data
\tstat path
\tsync path
Kafka commands (read from ZooKeeper, as kafka-topics.sh --zookeeper does):
\tkafka-topics --list
\tkafka-topics --describe [--topic topic] [--under-replicated-partitions] [--unavailable-partitions]
Simulator commands (a node is zk1..zkN or broker1..brokerN (also b1..bN); `leader` is the
ZooKeeper leader, `controller` the Kafka controller, `leader:topic/partition` its leader):
\tcrash node
\trestart node
\tpause node [duration]
\tresume node
\tslow-disk node latency|off   (each fsync takes e.g. 200ms, or a draw from 50ms..400ms; off restores it)
\tpartition group | group ...   (e.g. partition zk1,zk2 | zk3)
\theal
\tadvance duration   (e.g. advance 5s)
\tstatus
\tleader
\thelp
\tquit
";

/// Settings of one shell session.
#[derive(Clone, Debug, PartialEq)]
pub struct ShellConfig {
    /// The run's seed.
    pub seed: u64,
    /// Ensemble size (ignored with a scenario).
    pub servers: usize,
    /// `readonlymode.enabled` (and the shell's client allows read-only servers; ignored
    /// with a scenario, whose own setting counts).
    pub read_only: bool,
    /// tickTime in ms (ignored with a scenario).
    pub tick_ms: u64,
    /// Start this scenario's cluster (ZooKeeper settings, Kafka brokers and topics)
    /// instead of a plain ensemble. Its workload and faults are not run.
    pub scenario: Option<Scenario>,
    /// Unix milliseconds of the simulated wall clock at simulated time zero (`stat`'s
    /// ctime and mtime); overrides the scenario's.
    pub wall_clock_start_ms: i64,
}

impl ShellConfig {
    /// Defaults of `kzsim shell`: 3 servers, tickTime 2000 ms, read-only mode off, no
    /// Kafka.
    pub fn new(seed: u64, servers: usize) -> ShellConfig {
        ShellConfig {
            seed,
            servers,
            read_only: false,
            tick_ms: 2_000,
            scenario: None,
            wall_clock_start_ms: crate::cluster::DEFAULT_WALL_CLOCK_START_MS,
        }
    }

    /// The cluster of `scenario` (without its workload and fault schedule), all bug flags
    /// off.
    pub fn from_scenario(seed: u64, scenario: Scenario) -> ShellConfig {
        let z = &scenario.cluster.zookeeper;
        ShellConfig {
            seed,
            servers: z.servers as usize,
            read_only: z.read_only,
            tick_ms: z.tick_time.as_millis() as u64,
            wall_clock_start_ms: scenario.wall_clock_start_ms,
            scenario: Some(scenario),
        }
    }

    /// The ensemble to start.
    fn ensemble(&self) -> EnsembleSpec {
        let spec = match &self.scenario {
            Some(s) => ensemble_spec(s, &BugFlags::default()),
            None => EnsembleSpec {
                servers: self.servers,
                tick_ms: self.tick_ms,
                read_only: self.read_only,
                ..EnsembleSpec::default()
            },
        };
        EnsembleSpec {
            wall_clock_start_ms: self.wall_clock_start_ms,
            ..spec
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.scenario.is_some() {
            // The loader has checked the scenario's cluster.
            return Ok(());
        }
        if self.servers == 0 || self.servers > MAX_SERVERS {
            return Err(format!(
                "`--servers`: {} is out of range (1..={MAX_SERVERS})",
                self.servers
            ));
        }
        if self.tick_ms == 0 {
            return Err("`--tick-ms`: must be at least 1".into());
        }
        Ok(())
    }
}

/// The simulation's answer to one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Everything the command printed, newline-terminated lines (may be empty).
    pub output: String,
    /// The prompt for the next line, zkCli style: `[zk: zk1(CONNECTED) 3] `.
    pub prompt: String,
    /// The command ended the session.
    pub quit: bool,
}

/// A running session: the simulation runs on its own thread; [`Session::exec`] hands it
/// one line and waits for the answer.
pub struct Session {
    lines: Option<mpsc::Sender<String>>,
    answers: mpsc::Receiver<Answer>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    banner: String,
    prompt: String,
}

impl Session {
    /// Starts the ensemble and the shell's client, and waits (in simulated time) until the
    /// client is connected or [`CONNECT_WAIT`] has passed.
    pub fn start(cfg: ShellConfig) -> Result<Session, String> {
        cfg.check()?;
        let (line_tx, line_rx) = mpsc::channel::<String>();
        let (answer_tx, answer_rx) = mpsc::channel::<Answer>();
        let spec = cfg.ensemble();
        let scenario = cfg.scenario.clone();
        let seed = cfg.seed;
        let thread = std::thread::Builder::new()
            .name(format!("kzsim-shell-{seed}"))
            .spawn(move || {
                let config = RunConfig {
                    time_limit: SESSION_TIME_LIMIT,
                    ..RunConfig::default()
                };
                let out = kzsim_sim::run_seed::<Event, NetMsg, (), _, _>(
                    seed,
                    config,
                    move |world| async move {
                        let cluster = Cluster::start(&world, spec);
                        let kafka = scenario.as_ref().and_then(|s| {
                            let k = s.cluster.kafka.as_ref()?;
                            let spec = kafka_spec(k, &BugFlags::default());
                            Some(KafkaCluster::start(&world, &cluster, spec))
                        });
                        let mut shell = Shell::new(cluster, kafka);
                        let mut banner = shell.connect().await;
                        if let Some(s) = &scenario {
                            banner.push_str(&shell.scenario_banner(s).await);
                        }
                        let prompt = shell.prompt().await;
                        let first = Answer {
                            output: banner,
                            prompt,
                            quit: false,
                        };
                        if answer_tx.send(first).is_err() {
                            return;
                        }
                        // Blocking here is deliberate: nothing else may run while the user
                        // types, so simulated time stands still between commands, and the
                        // sender lives on another OS thread, so this cannot deadlock.
                        while let Ok(line) = line_rx.recv() {
                            let (output, quit) = shell.exec(&line).await;
                            let prompt = shell.prompt().await;
                            let answer = Answer {
                                output,
                                prompt,
                                quit,
                            };
                            if answer_tx.send(answer).is_err() || quit {
                                break;
                            }
                        }
                    },
                );
                out.result.map_err(|e| e.to_string())
            })
            .map_err(|e| format!("cannot start the simulation thread: {e}"))?;
        let mut session = Session {
            lines: Some(line_tx),
            answers: answer_rx,
            thread: Some(thread),
            banner: String::new(),
            prompt: String::new(),
        };
        match session.answers.recv() {
            Ok(first) => {
                session.banner = first.output;
                session.prompt = first.prompt;
                Ok(session)
            }
            Err(_) => Err(session.failure()),
        }
    }

    /// What zkCli prints on start (connecting, welcome, the SyncConnected event).
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// Runs one line. `Err` means the simulation ended (it panicked or hit its time
    /// limit): the message says why.
    pub fn exec(&mut self, line: &str) -> Result<Answer, String> {
        let sent = self
            .lines
            .as_ref()
            .is_some_and(|tx| tx.send(line.to_string()).is_ok());
        if !sent {
            return Err(self.failure());
        }
        match self.answers.recv() {
            Ok(answer) => {
                self.prompt = answer.prompt.clone();
                Ok(answer)
            }
            Err(_) => Err(self.failure()),
        }
    }

    /// Ends the session and waits for the simulation thread; `Err` if the run failed.
    pub fn finish(mut self) -> Result<(), String> {
        self.lines = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| "the simulation thread panicked".to_string())?,
            None => Ok(()),
        }
    }

    /// Why the simulation stopped answering.
    fn failure(&mut self) -> String {
        self.lines = None;
        let why = match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => e,
            Some(Ok(Ok(()))) => "the session has ended".to_string(),
            Some(Err(_)) => "the simulation thread panicked".to_string(),
            None => "the session has ended".to_string(),
        };
        format!("simulation stopped: {why}")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.lines = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the supervisor asks the client process.
enum ClientReq {
    Call(ZkOp, oneshot::Sender<Result<ZkResponse, ErrorCode>>),
    State(oneshot::Sender<ClientState>),
}

/// The supervisor's side of the shell: the cluster and a channel to the client process.
struct Shell {
    cluster: Cluster,
    kafka: Option<KafkaCluster>,
    client: amsc::UnboundedSender<ClientReq>,
    commands: u64,
    last_state: ClientState,
}

/// zkCli's argument splitting: whitespace-separated words, or a quoted string (quotes
/// removed).
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
                word.push(d);
            }
        } else {
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                word.push(d);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// Options and positional arguments of one command, commons-cli style: options may come
/// anywhere; `takes_value` options consume the next word.
struct Parsed {
    flags: BTreeSet<char>,
    values: BTreeMap<char, String>,
    args: Vec<String>,
}

fn parse_args(words: &[String], flags: &[char], takes_value: &[char]) -> Option<Parsed> {
    let mut p = Parsed {
        flags: BTreeSet::new(),
        values: BTreeMap::new(),
        args: Vec::new(),
    };
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let mut cs = w.chars();
        match (cs.next(), cs.next(), cs.next()) {
            (Some('-'), Some(c), None) if flags.contains(&c) => {
                p.flags.insert(c);
            }
            (Some('-'), Some(c), None) if takes_value.contains(&c) => {
                p.values.insert(c, it.next()?.clone());
            }
            (Some('-'), Some(_), _) => return None,
            _ => p.args.push(w.clone()),
        }
    }
    Some(p)
}

fn usage(line: &str) -> String {
    format!("{line}\n")
}

fn error_text(code: ErrorCode, path: &str) -> String {
    format_error(code, path)
}

impl Shell {
    fn new(cluster: Cluster, kafka: Option<KafkaCluster>) -> Shell {
        let (tx, rx) = amsc::unbounded_channel::<ClientReq>();
        let rx = Arc::new(Mutex::new(Some(rx)));
        cluster.add_client(CLIENT_NODE, SESSION_TIMEOUT_MS, move |c| {
            let rx = rx.lock().expect("shell client channel").take();
            async move {
                let Some(mut rx) = rx else { return };
                while let Some(req) = rx.recv().await {
                    match req {
                        ClientReq::Call(op, reply) => {
                            let _ = reply.send(c.call(op).await);
                        }
                        ClientReq::State(reply) => {
                            let _ = reply.send(c.state());
                        }
                    }
                }
            }
        });
        Shell {
            cluster,
            kafka,
            client: tx,
            commands: 0,
            last_state: ClientState::Connecting,
        }
    }

    async fn client_state(&self) -> ClientState {
        let (tx, rx) = oneshot::channel();
        if self.client.send(ClientReq::State(tx)).is_err() {
            return ClientState::Closed;
        }
        rx.await.unwrap_or(ClientState::Closed)
    }

    async fn call(&self, op: ZkOp) -> Result<ZkResponse, ErrorCode> {
        let (tx, rx) = oneshot::channel();
        if self.client.send(ClientReq::Call(op, tx)).is_err() {
            return Err(ErrorCode::ConnectionLoss);
        }
        match madsim::time::timeout(OP_LIMIT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ErrorCode::ConnectionLoss),
            Err(_) => Err(ErrorCode::OperationTimeout),
        }
    }

    /// Waits for the first connection; returns zkCli's start-up text.
    async fn connect(&mut self) -> String {
        let mut out = format!(
            "Connecting to {}\nWelcome to ZooKeeper!\n",
            self.cluster.server_names().join(",")
        );
        let deadline = SimTime::now().plus(CONNECT_WAIT);
        while SimTime::now() < deadline {
            if matches!(self.client_state().await, ClientState::Connected(_)) {
                break;
            }
            self.cluster.world().sleep(Duration::from_millis(10)).await;
        }
        out.push_str(&self.state_events().await);
        out
    }

    /// What the shell says after zkCli's banner when it runs a scenario's cluster: which
    /// cluster, and (with brokers) when Kafka became ready.
    async fn scenario_banner(&self, s: &Scenario) -> String {
        let mut out = format!(
            "kzsim: the cluster of scenario {} ({} ZooKeeper servers",
            s.name,
            self.cluster.server_names().len()
        );
        if let Some(k) = &self.kafka {
            out.push_str(&format!(", {} Kafka brokers", k.broker_names().len()));
        }
        out.push_str("); its workload and fault schedule do not run\n");
        if let Some(k) = &self.kafka {
            if k.wait_ready(KAFKA_READY_WAIT).await {
                let controller = k.controller().unwrap_or_else(|| "none".to_string());
                out.push_str(&format!(
                    "kzsim: Kafka ready at {}: controller {controller}, every partition has a \
                     leader and a full ISR\n",
                    SimTime::now()
                ));
            } else {
                out.push_str(&format!(
                    "kzsim: Kafka not ready after {} (no controller, or a partition without a \
                     leader and a full ISR); see status\n",
                    format_duration(KAFKA_READY_WAIT)
                ));
            }
        }
        out
    }

    /// zkCli's prompt: `[zk: <server>(<STATE>) <n>] `.
    async fn prompt(&self) -> String {
        let (host, state) = match self.client_state().await {
            ClientState::Connected(s) => (s, "CONNECTED"),
            ClientState::Connecting => (self.cluster.server_names().join(","), "CONNECTING"),
            ClientState::Expired | ClientState::Closed => {
                (self.cluster.server_names().join(","), "CLOSED")
            }
        };
        format!("[zk: {host}({state}) {}] ", self.commands)
    }

    /// The connection-state events zkCli's default watcher would have printed since the
    /// last look (a change of server means a disconnect and a reconnect).
    async fn state_events(&mut self) -> String {
        let now = self.client_state().await;
        let before = std::mem::replace(&mut self.last_state, now.clone());
        let event = |state: &str| {
            format!("\nWATCHER::\n\nWatchedEvent state:{state} type:None path:null\n")
        };
        match (&before, &now) {
            (a, b) if a == b => String::new(),
            (ClientState::Connected(_), ClientState::Connected(_)) => {
                event("Disconnected") + &event("SyncConnected")
            }
            (_, ClientState::Connected(_)) => event("SyncConnected"),
            (_, ClientState::Expired) => event("Expired"),
            (_, ClientState::Closed) => event("Closed"),
            (ClientState::Connected(_), ClientState::Connecting) => event("Disconnected"),
            _ => String::new(),
        }
    }

    /// Runs one line: its output and whether the session ends.
    async fn exec(&mut self, line: &str) -> (String, bool) {
        let words = split_words(line);
        let Some((cmd, rest)) = words.split_first() else {
            return (String::new(), false);
        };
        self.commands += 1;
        let rest = rest.to_vec();
        let out = match cmd.as_str() {
            "quit" => return (String::new(), true),
            "help" => HELP.to_string(),
            "create" => self.create(&rest).await,
            "get" => self.get(&rest).await,
            "set" => self.set(&rest).await,
            "delete" => self.delete(&rest).await,
            "deleteall" => self.deleteall(&rest).await,
            "ls" => self.ls(&rest).await,
            "stat" => self.stat(&rest).await,
            "sync" => self.sync(&rest).await,
            "crash" => self.crash(&rest),
            "restart" => self.restart(&rest),
            "pause" => self.pause(&rest).await,
            "resume" => self.resume(&rest),
            "slow-disk" => self.slow_disk(&rest),
            "partition" => self.partition(line),
            "heal" => {
                self.cluster.world().heal();
                "healed the network\n".to_string()
            }
            "advance" => self.advance(&rest).await,
            "status" => self.status(),
            "kafka-topics" | "kafka-topics.sh" => self.kafka_topics(&rest).await,
            "leader" => self.leader(),
            _ => HELP.to_string(),
        };
        let events = self.state_events().await;
        (out + &events, false)
    }

    /// Validates a path as zkCli does before sending anything.
    fn path_arg(path: &str, sequential: bool) -> Result<(), String> {
        validate_path(path, sequential).map_err(|m| format!("{m}\n"))
    }

    async fn create(&self, words: &[String]) -> String {
        let Some(p) = parse_args(words, &['s', 'e'], &[]) else {
            return usage(USAGE_CREATE);
        };
        let (path, data) = match p.args.as_slice() {
            [path] => (path.clone(), None),
            [path, data] => (path.clone(), Some(data.clone().into_bytes())),
            _ => return usage(USAGE_CREATE),
        };
        let mode = CreateMode {
            ephemeral: p.flags.contains(&'e'),
            sequential: p.flags.contains(&'s'),
        };
        if let Err(m) = Self::path_arg(&path, mode.sequential) {
            return m;
        }
        match self
            .call(ZkOp::Create {
                path: path.clone(),
                data,
                mode,
            })
            .await
        {
            Ok(ZkResponse::Created { path }) => format_created(&path),
            Ok(other) => unexpected(&other),
            Err(code) => error_text(code, &path),
        }
    }

    async fn get(&self, words: &[String]) -> String {
        let Some(p) = parse_args(words, &['s'], &[]) else {
            return usage(USAGE_GET);
        };
        let [path] = p.args.as_slice() else {
            return usage(USAGE_GET);
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        let op = ZkOp::GetData {
            path: path.clone(),
            watch: false,
        };
        match self.call(op).await {
            Ok(ZkResponse::Data { data, stat }) => {
                let mut out = format_data(data.as_deref());
                if p.flags.contains(&'s') {
                    out.push_str(&format_stat(&stat));
                }
                out
            }
            Ok(other) => unexpected(&other),
            Err(code) => error_text(code, path),
        }
    }

    async fn set(&self, words: &[String]) -> String {
        let Some(p) = parse_args(words, &['s'], &['v']) else {
            return usage(USAGE_SET);
        };
        let [path, data] = p.args.as_slice() else {
            return usage(USAGE_SET);
        };
        let version = match p.values.get(&'v').map(|v| v.parse::<i32>()) {
            None => -1,
            Some(Ok(v)) => v,
            Some(Err(_)) => return usage(USAGE_SET),
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        let op = ZkOp::SetData {
            path: path.clone(),
            data: data.clone().into_bytes(),
            version,
        };
        match self.call(op).await {
            Ok(ZkResponse::Stat(stat)) if p.flags.contains(&'s') => format_stat(&stat),
            Ok(ZkResponse::Stat(_)) => String::new(),
            Ok(other) => unexpected(&other),
            Err(code) => error_text(code, path),
        }
    }

    async fn delete(&self, words: &[String]) -> String {
        let Some(p) = parse_args(words, &[], &['v']) else {
            return usage(USAGE_DELETE);
        };
        let [path] = p.args.as_slice() else {
            return usage(USAGE_DELETE);
        };
        let version = match p.values.get(&'v').map(|v| v.parse::<i32>()) {
            None => -1,
            Some(Ok(v)) => v,
            Some(Err(_)) => return usage(USAGE_DELETE),
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        let op = ZkOp::Delete {
            path: path.clone(),
            version,
        };
        match self.call(op).await {
            Ok(ZkResponse::Deleted) => String::new(),
            Ok(other) => unexpected(&other),
            Err(code) => error_text(code, path),
        }
    }

    /// Lists `path` and every descendant, parents before children (breadth-first).
    async fn walk(&self, path: &str) -> Result<Vec<(String, Vec<String>)>, (ErrorCode, String)> {
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([path.to_string()]);
        while let Some(p) = queue.pop_front() {
            if out.len() >= TREE_WALK_MAX {
                return Err((ErrorCode::BadArguments, path.to_string()));
            }
            let op = ZkOp::GetChildren {
                path: p.clone(),
                watch: false,
            };
            let children = match self.call(op).await {
                Ok(ZkResponse::Children { children, .. }) => children,
                Ok(_) => Vec::new(),
                Err(code) => return Err((code, p)),
            };
            for c in &children {
                queue.push_back(child_path(&p, c));
            }
            out.push((p, children));
        }
        Ok(out)
    }

    async fn deleteall(&self, words: &[String]) -> String {
        let [path] = words else {
            return usage(USAGE_DELETEALL);
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        let tree = match self.walk(path).await {
            Ok(t) => t,
            Err((code, p)) => return error_text(code, &p),
        };
        // Children before parents, as ZKUtil.deleteRecursive does.
        for (p, _) in tree.iter().rev() {
            let op = ZkOp::Delete {
                path: p.clone(),
                version: -1,
            };
            match self.call(op).await {
                Ok(_) => {}
                Err(code) => return error_text(code, p),
            }
        }
        String::new()
    }

    async fn ls(&self, words: &[String]) -> String {
        let Some(p) = parse_args(words, &['s', 'R'], &[]) else {
            return usage(USAGE_LS);
        };
        let [path] = p.args.as_slice() else {
            return usage(USAGE_LS);
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        if p.flags.contains(&'R') {
            return match self.walk(path).await {
                Ok(tree) => {
                    let map: BTreeMap<String, Vec<String>> = tree.into_iter().collect();
                    format_ls_recursive(path, |q| map.get(q).cloned().unwrap_or_default())
                }
                Err((code, p)) => error_text(code, &p),
            };
        }
        let op = ZkOp::GetChildren {
            path: path.clone(),
            watch: false,
        };
        match self.call(op).await {
            Ok(ZkResponse::Children { children, stat }) => {
                let mut out = format_children(&children);
                if p.flags.contains(&'s') {
                    out.push_str(&format_stat(&stat));
                }
                out
            }
            Ok(other) => unexpected(&other),
            Err(code) => error_text(code, path),
        }
    }

    async fn stat(&self, words: &[String]) -> String {
        let [path] = words else {
            return usage(USAGE_STAT);
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        let op = ZkOp::Exists {
            path: path.clone(),
            watch: false,
        };
        match self.call(op).await {
            Ok(ZkResponse::Exists(Some(stat))) => format_stat(&stat),
            Ok(ZkResponse::Exists(None)) => error_text(ErrorCode::NoNode, path),
            Ok(other) => unexpected(&other),
            Err(code) => error_text(code, path),
        }
    }

    async fn sync(&self, words: &[String]) -> String {
        let [path] = words else {
            return usage(USAGE_SYNC);
        };
        if let Err(m) = Self::path_arg(path, false) {
            return m;
        }
        let result = self.call(ZkOp::Sync { path: path.clone() }).await;
        format_sync(result.map(|_| ()))
    }

    /// The single node a simulator command names, or the usage/error text.
    fn node_arg(&self, words: &[String], usage_line: &str) -> Result<String, String> {
        let [name] = words else {
            return Err(usage(usage_line));
        };
        self.resolve_node(name)
    }

    /// A node by name: `zkN`, `brokerN` (or `bN`), or a role resolved now: `leader` (the
    /// ZooKeeper leader), `controller`, `leader:topic/partition`. Roles are resolved when
    /// the command runs, so scripts need not know who holds them.
    fn resolve_node(&self, name: &str) -> Result<String, String> {
        if name == "leader" {
            return self
                .cluster
                .zk_leader()
                .ok_or_else(|| "no leader: no server is leading and serving\n".to_string());
        }
        let brokers = self
            .kafka
            .as_ref()
            .map(KafkaCluster::broker_names)
            .unwrap_or_default();
        if name == "controller" {
            let k = self.kafka.as_ref().ok_or(NO_BROKERS)?;
            return k
                .controller()
                .ok_or_else(|| "no active controller right now\n".to_string());
        }
        if let Some(tp) = name.strip_prefix("leader:") {
            let k = self.kafka.as_ref().ok_or(NO_BROKERS)?;
            let parsed = tp
                .rsplit_once('/')
                .and_then(|(t, p)| Some((t, p.parse::<u32>().ok()?)));
            let Some((topic, partition)) = parsed else {
                return Err(format!(
                    "{name}: expected leader:topic/partition, e.g. leader:events/0\n"
                ));
            };
            return k
                .partition_leader(topic, partition)
                .ok_or_else(|| format!("{topic}/{partition} has no leader right now\n"));
        }
        if self.cluster.server_names().iter().any(|s| s == name)
            || brokers.iter().any(|b| b == name)
        {
            return Ok(name.to_string());
        }
        if let Some(id) = name
            .strip_prefix('b')
            .filter(|id| id.parse::<u32>().is_ok())
        {
            let full = format!("broker{id}");
            if brokers.contains(&full) {
                return Ok(full);
            }
        }
        let mut known = format!("servers: {}", self.cluster.server_names().join(", "));
        if !brokers.is_empty() {
            known.push_str(&format!("; brokers: {}", brokers.join(", ")));
        }
        Err(format!("no server named {name} ({known})\n"))
    }

    fn crash(&self, words: &[String]) -> String {
        match self.node_arg(words, USAGE_CRASH) {
            Ok(name) if self.cluster.world().state(&name) == NodeState::Down => {
                format!("{name} is not running\n")
            }
            Ok(name) => {
                self.cluster.world().crash(&name, CrashOptions::default());
                format!("crashed {name}\n")
            }
            Err(e) => e,
        }
    }

    fn restart(&self, words: &[String]) -> String {
        match self.node_arg(words, USAGE_RESTART) {
            Ok(name) => {
                // A running or paused node is crashed first (the world's rule): say so.
                let was = self.cluster.world().state(&name);
                self.cluster.world().restart(&name);
                match was {
                    NodeState::Down => format!("restarted {name}\n"),
                    NodeState::Up => format!("crashed and restarted {name} (it was running)\n"),
                    NodeState::Paused => format!("crashed and restarted {name} (it was paused)\n"),
                }
            }
            Err(e) => e,
        }
    }

    async fn pause(&self, words: &[String]) -> String {
        let (name, wait) = match words {
            [name] => (name, None),
            [name, d] => match parse_duration(d) {
                Ok(d) if d <= ADVANCE_MAX => (name, Some(d)),
                Ok(_) => return format!("at most {} at a time\n", format_duration(ADVANCE_MAX)),
                Err(e) => return format!("{e}\n{}", usage(USAGE_PAUSE)),
            },
            _ => return usage(USAGE_PAUSE),
        };
        let name = match self.resolve_node(name) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let world = self.cluster.world();
        if world.state(&name) != NodeState::Up {
            return format!("{name} is not running\n");
        }
        world.pause(&name);
        match wait {
            None => format!("paused {name}\n"),
            Some(d) => {
                world.sleep(d).await;
                world.resume(&name);
                format!(
                    "paused {name} for {}, resumed at {}\n",
                    format_duration(d),
                    SimTime::now()
                )
            }
        }
    }

    fn resume(&self, words: &[String]) -> String {
        match self.node_arg(words, USAGE_RESUME) {
            Ok(name) if self.cluster.world().state(&name) == NodeState::Paused => {
                self.cluster.world().resume(&name);
                format!("resumed {name}\n")
            }
            Ok(name) => format!("{name} is not paused\n"),
            Err(e) => e,
        }
    }

    /// `slow-disk zk2 200ms`: each fsync the node's disk takes from now on lasts 200ms (or a
    /// draw from `50ms..400ms`); `slow-disk zk2 off` restores the run's disk latency.
    fn slow_disk(&self, words: &[String]) -> String {
        let [name, latency] = words else {
            return usage(USAGE_SLOW_DISK);
        };
        let name = match self.resolve_node(name) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let world = self.cluster.world();
        if latency == "off" {
            world.set_disk_latency(&name, None);
            let now = world.disk(&name).fsync_latency();
            return format!(
                "{name}'s disk restored: each fsync takes {}\n",
                format_fsync_latency((
                    Duration::from_micros(now.start),
                    Duration::from_micros(now.end.max(now.start))
                ))
            );
        }
        match parse_fsync_latency(latency) {
            Ok(l) => {
                world.set_disk_latency(&name, Some(fsync_latency_us(l)));
                format!(
                    "{name}'s disk slowed: each fsync takes {}\n",
                    format_fsync_latency(l)
                )
            }
            Err(e) => format!("{e}\n{}", usage(USAGE_SLOW_DISK)),
        }
    }

    /// `partition zk1,zk2 | zk3`: nodes in different groups cannot reach each other; a
    /// ZooKeeper server in no group is cut off from every other server and from every
    /// named node. Brokers and the shell's client (`zkcli`) in no group reach everyone.
    /// Names resolve as for `crash` (so `leader`, `controller`, `b1` work). Replaces any
    /// earlier partition.
    fn partition(&self, line: &str) -> String {
        let spec = line.trim_start().trim_start_matches("partition");
        let servers = self.cluster.server_names();
        let mut groups: Vec<Vec<String>> = Vec::new();
        let mut seen = BTreeSet::new();
        for part in spec.split('|') {
            let words: Vec<&str> = part
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .collect();
            if words.is_empty() {
                return usage(USAGE_PARTITION);
            }
            let mut group = Vec::new();
            for word in words {
                let name = if word == CLIENT_NODE {
                    word.to_string()
                } else {
                    match self.resolve_node(word) {
                        Ok(n) => n,
                        Err(e) => {
                            return format!("{e}(the shell's client is {CLIENT_NODE})\n");
                        }
                    }
                };
                if !seen.insert(name.clone()) {
                    return format!("{name} is in two groups\n{}", usage(USAGE_PARTITION));
                }
                group.push(name);
            }
            groups.push(group);
        }
        let group_of = |n: &str| groups.iter().position(|g| g.iter().any(|m| m == n));
        // Unnamed nodes other than ZooKeeper servers keep every link.
        let free = |n: &str, g: Option<usize>| g.is_none() && !servers.iter().any(|s| s == n);
        let world = self.cluster.world();
        world.heal();
        let mut nodes = servers.clone();
        if let Some(k) = &self.kafka {
            nodes.extend(k.broker_names());
        }
        nodes.push(CLIENT_NODE.to_string());
        for a in &nodes {
            for b in &nodes {
                if a == b {
                    continue;
                }
                let (ga, gb) = (group_of(a), group_of(b));
                let apart = match (ga, gb) {
                    (Some(x), Some(y)) => x != y,
                    _ => true,
                };
                if apart && !free(a, ga) && !free(b, gb) {
                    world.cut(a, b);
                }
            }
        }
        let shown: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
        format!("partitioned: {}\n", shown.join(" | "))
    }

    async fn advance(&self, words: &[String]) -> String {
        let [d] = words else {
            return usage(USAGE_ADVANCE);
        };
        match parse_duration(d) {
            Ok(d) if d <= ADVANCE_MAX => {
                self.cluster.world().sleep(d).await;
                format!("advanced {}, now {}\n", format_duration(d), SimTime::now())
            }
            Ok(_) => format!("at most {} at a time\n", format_duration(ADVANCE_MAX)),
            Err(e) => format!("{e}\n{}", usage(USAGE_ADVANCE)),
        }
    }

    /// Each server's `srvr` answer (or why there is none), in sid order.
    fn status(&self) -> String {
        let mut out = format!("time {}\n", SimTime::now());
        for name in self.cluster.server_names() {
            match self.cluster.world().state(&name) {
                NodeState::Down => {
                    out.push_str(&format!("{name}: not running\n"));
                    continue;
                }
                NodeState::Paused => {
                    out.push_str(&format!("{name}: paused (no answer)\n"));
                    continue;
                }
                NodeState::Up => {}
            }
            match self.cluster.status(&name) {
                Some(st) => {
                    let role = match st.role {
                        Some(ZkRole::Leading) => "leading",
                        Some(ZkRole::Following) => "following",
                        Some(ZkRole::ReadOnly) => "read-only",
                        Some(ZkRole::Looking) | None => "looking",
                    };
                    out.push_str(&format!("{name} ({role}, epoch {}):\n", st.epoch));
                    out.push_str(&format_srvr(&server_status(&st, self.cluster.spec())));
                }
                None => {
                    out.push_str(&format!("{name}:\n"));
                    out.push_str(NOT_SERVING);
                }
            }
        }
        if let Some(k) = &self.kafka {
            out.push_str(&broker_status(k));
        }
        out
    }

    /// `kafka-topics ...`: parses, then reads ZooKeeper through the shell's client.
    async fn kafka_topics(&self, words: &[String]) -> String {
        let Some(cmd) = kafka_topics::parse(words) else {
            return usage(kafka_topics::USAGE);
        };
        if self.kafka.is_none() {
            return NO_BROKERS.to_string();
        }
        let mut out = String::new();
        let result = match cmd {
            TopicsCmd::List => self.topics_list(&mut out).await,
            TopicsCmd::Describe(opts) => self.topics_describe(&opts, &mut out).await,
        };
        if let Err(e) = result {
            out.push_str(&format!("Error while executing topic command : {e}\n"));
        }
        out
    }

    /// The children of `path`, sorted; `None` if it does not exist.
    async fn zk_children(&self, path: &str) -> Result<Option<Vec<String>>, String> {
        let op = ZkOp::GetChildren {
            path: path.to_string(),
            watch: false,
        };
        match self.call(op).await {
            Ok(ZkResponse::Children { mut children, .. }) => {
                children.sort();
                Ok(Some(children))
            }
            Ok(other) => Err(unexpected(&other).trim_end().to_string()),
            Err(ErrorCode::NoNode) => Ok(None),
            Err(code) => Err(keeper_error(code, path)),
        }
    }

    /// The data of `path` as text; `None` if it does not exist.
    async fn zk_text(&self, path: &str) -> Result<Option<String>, String> {
        let op = ZkOp::GetData {
            path: path.to_string(),
            watch: false,
        };
        match self.call(op).await {
            Ok(ZkResponse::Data { data, .. }) => {
                let bytes = data.unwrap_or_default();
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| format!("{path} does not hold UTF-8 text"))
            }
            Ok(other) => Err(unexpected(&other).trim_end().to_string()),
            Err(ErrorCode::NoNode) => Ok(None),
            Err(code) => Err(keeper_error(code, path)),
        }
    }

    async fn topics_list(&self, out: &mut String) -> Result<(), String> {
        let topics = self.zk_children(znodes::BROKER_TOPICS_PATH).await?;
        for t in topics.unwrap_or_default() {
            out.push_str(&format!("{t}\n"));
        }
        Ok(())
    }

    /// TopicCommand's ZooKeeper-mode describe: for each topic, its header line (configs
    /// from `/config/topics/<t>`), then each partition's assignment, leader and ISR.
    async fn topics_describe(&self, opts: &DescribeOpts, out: &mut String) -> Result<(), String> {
        let all = self
            .zk_children(znodes::BROKER_TOPICS_PATH)
            .await?
            .unwrap_or_default();
        let topics: Vec<String> = match &opts.topic {
            Some(t) if all.contains(t) => vec![t.clone()],
            Some(t) => {
                out.push_str(&kafka_topics::no_such_topic(t));
                return Ok(());
            }
            None => all,
        };
        let live: BTreeSet<u32> = if opts.unavailable {
            self.zk_children(znodes::BROKER_IDS_PATH)
                .await?
                .unwrap_or_default()
                .iter()
                .filter_map(|id| id.parse().ok())
                .collect()
        } else {
            BTreeSet::new()
        };
        for topic in topics {
            let assignment_path = znodes::topic_path(&topic);
            let Some(json) = self.zk_text(&assignment_path).await? else {
                out.push_str(&format!("Topic {topic} doesn't exist!\n"));
                continue;
            };
            let assignment =
                TopicAssignment::from_json(&json).map_err(|e| format!("{assignment_path}: {e}"))?;
            if opts.header_lines() {
                let config_path = kafka_topics::topic_config_path(&topic);
                let configs = match self.zk_text(&config_path).await? {
                    Some(text) => kafka_topics::parse_topic_config(&text)
                        .map_err(|e| format!("{config_path}: {e}"))?,
                    None => BTreeMap::new(),
                };
                let rf = assignment.partitions.values().next().map_or(0, Vec::len);
                out.push_str(&kafka_topics::topic_line(
                    &topic,
                    assignment.partitions.len(),
                    rf,
                    &configs,
                ));
            }
            for (&partition, replicas) in &assignment.partitions {
                let state_path = znodes::partition_state_path(&topic, partition);
                let state = match self.zk_text(&state_path).await? {
                    Some(text) => Some(
                        PartitionState::from_json(&text)
                            .map_err(|e| format!("{state_path}: {e}"))?,
                    ),
                    None => None,
                };
                let view = PartitionView {
                    partition,
                    replicas: replicas.clone(),
                    state,
                };
                if view.shown(opts, &live) {
                    out.push_str(&kafka_topics::partition_line(&topic, &view));
                }
            }
        }
        Ok(())
    }

    fn leader(&self) -> String {
        match self.cluster.zk_leader() {
            Some(name) => {
                let epoch = self.cluster.status(&name).map(|s| s.epoch).unwrap_or(0);
                format!("{name} (epoch {epoch})\n")
            }
            None => "no leader: no server is leading and serving\n".to_string(),
        }
    }
}

/// A ZooKeeper error as the Kafka tools print a `KeeperException`'s message.
fn keeper_error(code: ErrorCode, path: &str) -> String {
    format!("KeeperErrorCode = {} for {path}", code.message())
}

/// One line per broker: running or not, whether it believes it is the controller (and
/// whether it is the active one), the partitions it leads, and its
/// UnderReplicatedPartitions. This is the simulator's view from inside the brokers, unlike
/// `kafka-topics`, which shows what ZooKeeper holds.
fn broker_status(k: &KafkaCluster) -> String {
    let world = k.world();
    let active = k.controller_with_epoch();
    let mut out = String::new();
    for name in k.broker_names() {
        let id = name.trim_start_matches("broker");
        match world.state(&name) {
            NodeState::Down => {
                out.push_str(&format!("{name} (id {id}): not running\n"));
                continue;
            }
            NodeState::Paused => {
                out.push_str(&format!("{name} (id {id}): paused (no answer)\n"));
                continue;
            }
            NodeState::Up => {}
        }
        let metrics = k.metrics(&name);
        let mut parts = Vec::new();
        match &active {
            Some((c, epoch)) if *c == name => parts.push(format!("controller (epoch {epoch})")),
            _ if metrics
                .as_ref()
                .is_some_and(|m| m.active_controller_count > 0) =>
            {
                parts.push("believes it is controller, but a newer epoch is active".to_string())
            }
            _ => parts.push("broker".to_string()),
        }
        let led: Vec<String> = k
            .spec()
            .topics
            .iter()
            .flat_map(|(t, n, _)| (0..*n).map(move |p| (t.clone(), p)))
            .filter(|(t, p)| k.partition_leader(t, *p).as_deref() == Some(name.as_str()))
            .map(|(t, p)| format!("{t}/{p}"))
            .collect();
        if !led.is_empty() {
            parts.push(format!("leader of {}", led.join(", ")));
        }
        if let Some(m) = metrics {
            parts.push(format!(
                "UnderReplicatedPartitions {}",
                m.under_replicated_partitions
            ));
        }
        out.push_str(&format!("{name} (id {id}): {}\n", parts.join("; ")));
    }
    out
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// A response of the wrong kind is a kzsim bug; say so rather than guess.
fn unexpected(resp: &ZkResponse) -> String {
    format!("kzsim: unexpected response {resp:?}\n")
}

/// `srvr`'s view of a server from its peer status.
fn server_status(st: &crate::zk::zab::PeerStatus, spec: &EnsembleSpec) -> ServerStatus {
    let mode = match st.role {
        Some(ZkRole::Leading) => ServerMode::Leader,
        Some(ZkRole::ReadOnly) => ServerMode::ReadOnly,
        _ => ServerMode::Follower,
    };
    let mut s = ServerStatus::new(mode);
    s.serving = st.serving && st.role != Some(ZkRole::Looking);
    s.zxid = st.zxid;
    s.node_count = st.node_count as u64;
    s.outstanding = st.outstanding as u64;
    s.connections = st.connections as u64;
    s.ephemerals_count = st.ephemerals as u64;
    s.global_sessions = st.sessions as u64;
    s.quorum_size = spec.servers as u64;
    if mode == ServerMode::Leader {
        s.leader = Some(LeaderStats {
            learners: st.followers as u64,
            synced_followers: st.synced_followers as u64,
            ..LeaderStats::new()
        });
    }
    s
}

/// Runs `lines` through a session: each non-blank, non-`#` line is echoed after the
/// current prompt, then its output. Stops at `quit`. Returns what `sink` was given.
fn drive(
    session: &mut Session,
    lines: impl Iterator<Item = String>,
    sink: &mut dyn FnMut(&str),
) -> Result<(), String> {
    sink(session.banner());
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        sink(&format!("{}{trimmed}\n", session.prompt()));
        let answer = session.exec(trimmed)?;
        sink(&answer.output);
        if answer.quit {
            break;
        }
    }
    Ok(())
}

/// Runs a script (one command a line; blank lines and `#` comments skipped) on a fresh
/// `servers`-server ensemble from `seed`, and returns the transcript: zkCli's banner, then
/// for each command the prompt and the command, then its output. The same script, seed
/// and size always give the same transcript. A failed simulation ends the transcript with
/// `simulation stopped: <why>`.
pub fn run_script(script: &str, seed: u64, servers: usize) -> String {
    run_script_with(script, ShellConfig::new(seed, servers))
}

/// [`run_script`] with every setting.
pub fn run_script_with(script: &str, cfg: ShellConfig) -> String {
    let mut out = String::new();
    let mut session = match Session::start(cfg) {
        Ok(s) => s,
        Err(e) => return format!("{e}\n"),
    };
    let lines = script.lines().map(str::to_string);
    if let Err(e) = drive(&mut session, lines, &mut |s| out.push_str(s)) {
        out.push_str(&format!("{e}\n"));
        return out;
    }
    if let Err(e) = session.finish() {
        out.push_str(&format!("simulation stopped: {e}\n"));
    }
    out
}

/// Arguments of `kzsim shell`.
#[derive(clap::Args, Debug, Clone)]
pub struct ShellArgs {
    /// Seed of the simulated run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start the cluster of this scenario file (its ZooKeeper ensemble and, if it has
    /// them, its Kafka brokers and topics) without its workload or fault schedule.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["servers", "read_only", "tick_ms"])]
    pub scenario: Option<PathBuf>,
    /// Number of ZooKeeper servers (zk1..zkN).
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// Enable read-only mode (readonlymode.enabled=true; the shell's client accepts
    /// read-only servers).
    #[arg(long)]
    pub read_only: bool,
    /// tickTime in ms.
    #[arg(long, default_value_t = 2_000)]
    pub tick_ms: u64,
    /// Read commands from FILE instead of stdin (each echoed with its prompt).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// What the simulated wall clock reads at the start, RFC 3339 (default
    /// 2026-01-01T00:00:00Z, or the scenario's `wall_clock_start`).
    #[arg(long, value_name = "INSTANT", value_parser = crate::scenario::parse_wall_clock_start)]
    pub wall_clock_start: Option<i64>,
}

/// The shell's settings for the cluster of the scenario file at `path`. `Err` names the
/// file, line and key that are wrong (the scenario loader's message).
pub fn scenario_config(path: &Path, seed: u64) -> Result<ShellConfig, String> {
    crate::scenario::load(path)
        .map(|s| ShellConfig::from_scenario(seed, s))
        .map_err(|e| e.to_string())
}

/// `kzsim shell`: interactive on a terminal (zkCli prompt); with `--script` or piped stdin,
/// echoes each command so a session can be recorded and compared. Exit status 0 at `quit`
/// or end of input, 1 if the simulation failed, 2 for bad arguments, an unreadable script
/// or an unreadable or invalid scenario.
pub fn run_shell_cli(args: &ShellArgs) -> ExitCode {
    let cfg = match &args.scenario {
        Some(path) => match scenario_config(path, args.seed) {
            Ok(cfg) => cfg,
            Err(e) => {
                eprintln!("kzsim shell: {e}");
                return ExitCode::from(2);
            }
        },
        None => ShellConfig {
            seed: args.seed,
            servers: args.servers,
            read_only: args.read_only,
            tick_ms: args.tick_ms,
            scenario: None,
            wall_clock_start_ms: crate::cluster::DEFAULT_WALL_CLOCK_START_MS,
        },
    };
    let cfg = ShellConfig {
        wall_clock_start_ms: args.wall_clock_start.unwrap_or(cfg.wall_clock_start_ms),
        ..cfg
    };
    if let Err(e) = cfg.check() {
        eprintln!("kzsim shell: {e}");
        return ExitCode::from(2);
    }
    let script = match &args.script {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("kzsim shell: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut session = match Session::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kzsim shell: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let mut print = |s: &str| {
        let mut lock = stdout.lock();
        let _ = lock.write_all(s.as_bytes());
        let _ = lock.flush();
    };
    let result = match script {
        Some(text) => drive(&mut session, text.lines().map(str::to_string), &mut print),
        None if std::io::stdin().is_terminal() => interactive(&mut session, &mut print),
        None => {
            let lines = std::io::stdin().lock().lines().map_while(Result::ok);
            drive(&mut session, lines, &mut print)
        }
    };
    let result = result.and_then(|()| session.finish());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kzsim shell: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prompt, read a line, run it, until `quit` or end of input.
fn interactive(session: &mut Session, print: &mut dyn FnMut(&str)) -> Result<(), String> {
    print(session.banner());
    let stdin = std::io::stdin();
    loop {
        print(session.prompt());
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                print("\n");
                return Ok(());
            }
            Ok(_) => {}
        }
        let answer = session.exec(line.trim())?;
        print(&answer.output);
        if answer.quit {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        split_words(s)
    }

    #[test]
    fn words_split_like_zkcli() {
        assert_eq!(w("create /a hello"), ["create", "/a", "hello"]);
        assert_eq!(w("  set /a \"two words\"  "), ["set", "/a", "two words"]);
        assert_eq!(w("set /a 'x y' -v 1"), ["set", "/a", "x y", "-v", "1"]);
        assert_eq!(w("create /a \"\""), ["create", "/a", ""]);
        assert!(w("   ").is_empty());
    }

    #[test]
    fn options_may_come_anywhere() {
        let p = parse_args(&w("/a data -v 3 -s"), &['s'], &['v']).expect("parses");
        assert_eq!(p.args, ["/a", "data"]);
        assert_eq!(p.values.get(&'v').map(String::as_str), Some("3"));
        assert!(p.flags.contains(&'s'));
        assert!(
            parse_args(&w("-x /a"), &['s'], &['v']).is_none(),
            "unknown option"
        );
        assert!(
            parse_args(&w("/a -v"), &[], &['v']).is_none(),
            "-v without a value"
        );
    }
}
