//! The quorum table, measured: for each ensemble size N and each number k of crashed
//! servers, one short simulated run answers "can a fresh client still write? read?".
//!
//! Every cell comes from a run, not from `N / 2 + 1`: the run starts N servers, waits for
//! the first leader, crashes k of them (the leader first, so losing the leader is always
//! part of the story), lets the survivors elect again, then starts a new client that tries
//! one write and one read. The tolerance of size N is the largest k whose write succeeded.
//! Majority arithmetic then shows up in the runs: 3 and 4 servers both tolerate 1 failure,
//! because a majority of 4 is 3.
//!
//! Each (N, k) is run twice: once as configured by default, once with
//! `readonlymode.enabled=true`, where a server without a quorum keeps serving reads to
//! clients that allow read-only connections (`canBeReadOnly`), and refuses writes.

use crate::cluster::{Cluster, EnsembleSpec};
use crate::history::{Event, ZkEvent};
use crate::net::NetMsg;
use crate::zk::request::ZkOp;
use crate::zk::types::{CreateMode, ErrorCode};
use kzsim_sim::world::CrashOptions;
use kzsim_sim::{RunConfig, SimTime, TraceRecord};
use serde::Serialize;
use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// tickTime of every run: short, so a whole table stays quick.
pub const TICK_MS: u64 = 500;
/// How long the first election may take before the run gives up waiting for a leader.
const FIRST_LEADER_WAIT: Duration = Duration::from_secs(30);
/// After the crashes, how long the survivors get to elect (12 ticks: several election
/// rounds, a syncLimit and the read-only grace period all fit).
const SETTLE: Duration = Duration::from_secs(6);
/// Requested session timeout of the probing client (within 2..20 ticks).
const PROBE_SESSION_MS: u64 = 5_000;
/// How long the probe waits for a connection before trying its ops anyway.
const PROBE_CONNECT_WAIT: Duration = Duration::from_secs(4);
/// A bound on each probe op (the client fails queued ops on connection loss long before).
const PROBE_OP_LIMIT: Duration = Duration::from_secs(20);
/// The largest ensemble `kzsim quorum --max` accepts (the number of runs grows as N²).
pub const MAX_SERVERS: usize = 15;
/// The path the probe creates.
const PROBE_PATH: &str = "/quorum-probe";

/// What a fresh client saw after the crashes: `None` is success, `Some(name)` the error
/// (`ConnectionLoss`, `NotReadOnly`, ..., or `Timeout` if the op never answered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The client had a connection before its first op.
    pub connected: bool,
    /// The create's error, `None` if it succeeded.
    pub write_error: Option<String>,
    /// The getData's error, `None` if it succeeded.
    pub read_error: Option<String>,
}

impl Probe {
    /// The write succeeded.
    pub fn write_ok(&self) -> bool {
        self.write_error.is_none()
    }

    /// The read succeeded.
    pub fn read_ok(&self) -> bool {
        self.read_error.is_none()
    }
}

/// One measured cell pair: N servers, k crashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuorumRow {
    /// Ensemble size N.
    pub servers: usize,
    /// Number of crashed servers k.
    pub crashed: usize,
    /// Which servers were crashed, in crash order (the leader first).
    pub crashed_names: Vec<String>,
    /// Simulated ms from start to the first `LeaderEstablished` (default-mode run).
    pub first_election_ms: Option<u64>,
    /// Simulated ms from the crashes to the next `LeaderEstablished`, if any (k ≥ 1).
    pub reelection_ms: Option<u64>,
    /// The probe with read-only mode off (the default).
    pub default_mode: Probe,
    /// The probe with `readonlymode.enabled=true` and a `canBeReadOnly` client.
    pub read_only_mode: Probe,
}

/// All rows of one ensemble size and what they imply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuorumSize {
    /// Ensemble size N.
    pub servers: usize,
    /// The largest k whose write succeeded (`None`: no write succeeded at all).
    pub tolerance: Option<usize>,
    /// N − tolerance: the number of servers that must be up for writes, as measured.
    pub quorum: Option<usize>,
    /// k = 0..=N.
    pub rows: Vec<QuorumRow>,
}

/// The whole measured table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuorumTable {
    /// The seed every run used.
    pub seed: u64,
    /// tickTime of the runs.
    pub tick_ms: u64,
    /// N = 1..=max.
    pub sizes: Vec<QuorumSize>,
}

impl QuorumTable {
    /// The measured tolerance of size `servers`, if that size was run and some write
    /// succeeded.
    pub fn tolerance(&self, servers: usize) -> Option<usize> {
        self.sizes
            .iter()
            .find(|s| s.servers == servers)
            .and_then(|s| s.tolerance)
    }

    /// The row for N = `servers`, k = `crashed`.
    pub fn row(&self, servers: usize, crashed: usize) -> Option<&QuorumRow> {
        self.sizes
            .iter()
            .find(|s| s.servers == servers)?
            .rows
            .iter()
            .find(|r| r.crashed == crashed)
    }
}

/// Runs the table for N = 1..=`max` (each N with k = 0..=N, each twice: default and
/// read-only mode), every run from `seed`. Deterministic: the same arguments give the same
/// table. With `progress`, draws a progress bar on stderr if stderr is a terminal.
pub fn quorum_table(max: usize, seed: u64, progress: bool) -> QuorumTable {
    let total: u64 = (1..=max).map(|n| 2 * (n as u64 + 1)).sum();
    let bar = if progress && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} runs ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix("quorum");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut sizes = Vec::new();
    for n in 1..=max {
        let mut rows = Vec::new();
        for k in 0..=n {
            bar.set_message(format!("N={n} k={k}"));
            let default_run = run_one(n, k, false, seed);
            bar.inc(1);
            let ro_run = run_one(n, k, true, seed);
            bar.inc(1);
            rows.push(QuorumRow {
                servers: n,
                crashed: k,
                crashed_names: default_run.crashed,
                first_election_ms: default_run.first_election_ms,
                reelection_ms: default_run.reelection_ms,
                default_mode: default_run.probe,
                read_only_mode: ro_run.probe,
            });
        }
        let tolerance = rows
            .iter()
            .filter(|r| r.default_mode.write_ok())
            .map(|r| r.crashed)
            .max();
        sizes.push(QuorumSize {
            servers: n,
            tolerance,
            quorum: tolerance.map(|t| n - t),
            rows,
        });
    }
    bar.finish_and_clear();
    QuorumTable {
        seed,
        tick_ms: TICK_MS,
        sizes,
    }
}

/// What one run measured.
struct RunResult {
    crashed: Vec<String>,
    first_election_ms: Option<u64>,
    reelection_ms: Option<u64>,
    probe: Probe,
}

/// What the supervisor hands out of the run.
struct Supervised {
    crashed: Vec<String>,
    crash_at: Option<SimTime>,
    probe: Probe,
}

fn error_name(code: ErrorCode) -> String {
    code.name().to_string()
}

/// One simulated run: N servers, crash k (leader first), probe with a fresh client.
fn run_one(n: usize, k: usize, read_only: bool, seed: u64) -> RunResult {
    let spec = EnsembleSpec {
        servers: n,
        tick_ms: TICK_MS,
        read_only,
        ..EnsembleSpec::default()
    };
    let out = kzsim_sim::run_seed::<Event, NetMsg, Supervised, _, _>(
        seed,
        RunConfig::default(),
        move |world| async move {
            let cluster = Cluster::start(&world, spec);
            // The leader is the server that recorded LeaderEstablished: its host has
            // persisted the new epoch by then (a peer's status can run ahead of its host).
            let deadline = SimTime::now().plus(FIRST_LEADER_WAIT);
            let leader = loop {
                let established = world
                    .trace()
                    .records()
                    .into_iter()
                    .find(|r| matches!(r.event, Event::Zk(ZkEvent::LeaderEstablished { .. })));
                if let Some(r) = established {
                    break Some(r.node.to_string());
                }
                if SimTime::now() >= deadline {
                    break None;
                }
                world.sleep(Duration::from_millis(20)).await;
            };
            let mut order: Vec<String> = leader.iter().cloned().collect();
            order.extend(
                cluster
                    .server_names()
                    .into_iter()
                    .filter(|s| Some(s) != leader.as_ref()),
            );
            let crashed: Vec<String> = order.into_iter().take(k).collect();
            for name in &crashed {
                world.crash(name, CrashOptions::default());
            }
            let crash_at = (!crashed.is_empty()).then(SimTime::now);
            world.sleep(SETTLE).await;
            let probe = probe(&cluster).await;
            Supervised {
                crashed,
                crash_at,
                probe,
            }
        },
    );
    let sup = match out.result {
        Ok(s) => s,
        // A panic inside the simulator is a kzsim bug, not a measurement: say which run.
        Err(e) => panic!("quorum table: N={n} k={k} read_only={read_only} seed {seed}: {e}"),
    };
    let established = leader_established(&out.trace);
    let first_election_ms = established.first().map(|t| t.as_millis());
    let reelection_ms = sup.crash_at.and_then(|at| {
        established
            .iter()
            .find(|t| **t >= at)
            .map(|t| t.since(at).as_millis() as u64)
    });
    RunResult {
        crashed: sup.crashed,
        first_election_ms,
        reelection_ms,
        probe: sup.probe,
    }
}

/// When each `LeaderEstablished` was recorded, in order.
fn leader_established(trace: &[TraceRecord<Event>]) -> Vec<SimTime> {
    trace
        .iter()
        .filter(|r| matches!(r.event, Event::Zk(ZkEvent::LeaderEstablished { .. })))
        .map(|r| r.at)
        .collect()
}

/// Starts a fresh client (its own node) that waits briefly for a connection, then tries
/// one create and one getData; returns what it saw.
async fn probe(cluster: &Cluster) -> Probe {
    let slot: Arc<Mutex<Option<Probe>>> = Arc::new(Mutex::new(None));
    let s = slot.clone();
    cluster.add_client("probe", PROBE_SESSION_MS, move |c| {
        let s = s.clone();
        async move {
            let connected = c.wait_connected(PROBE_CONNECT_WAIT).await;
            let write = ZkOp::Create {
                path: PROBE_PATH.into(),
                data: Some(b"probe".to_vec()),
                mode: CreateMode::PERSISTENT,
            };
            let write_error = match madsim::time::timeout(PROBE_OP_LIMIT, c.call(write)).await {
                Ok(Ok(_)) => None,
                Ok(Err(code)) => Some(error_name(code)),
                Err(_) => Some("Timeout".to_string()),
            };
            let read = ZkOp::GetData {
                path: "/".into(),
                watch: false,
            };
            let read_error = match madsim::time::timeout(PROBE_OP_LIMIT, c.call(read)).await {
                Ok(Ok(_)) => None,
                Ok(Err(code)) => Some(error_name(code)),
                Err(_) => Some("Timeout".to_string()),
            };
            *s.lock().expect("probe slot") = Some(Probe {
                connected,
                write_error,
                read_error,
            });
        }
    });
    let limit = SimTime::now().plus(PROBE_CONNECT_WAIT + PROBE_OP_LIMIT * 3);
    loop {
        if let Some(p) = slot.lock().expect("probe slot").take() {
            return p;
        }
        if SimTime::now() >= limit {
            // Unreachable with the op limits above; kept so a run can never hang.
            return Probe {
                connected: false,
                write_error: Some("Timeout".into()),
                read_error: Some("Timeout".into()),
            };
        }
        cluster.world().sleep(Duration::from_millis(50)).await;
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn cell(error: &Option<String>) -> String {
    match error {
        None => "ok".to_string(),
        Some(e) => format!("no ({e})"),
    }
}

fn ms_cell(ms: Option<u64>) -> String {
    ms.map(|m| format!("{m} ms"))
        .unwrap_or_else(|| "-".to_string())
}

impl QuorumSize {
    /// One line saying what the runs showed, e.g. "4 servers tolerate 1 failure, same as
    /// 3: a majority of 4 is 3". `previous` is the size below, if measured.
    pub fn explain(&self, previous: Option<&QuorumSize>) -> String {
        let n = self.servers;
        let (Some(t), Some(q)) = (self.tolerance, self.quorum) else {
            return format!("{}: no write succeeded in any run", plural(n, "server"));
        };
        let verb = if n == 1 { "tolerates" } else { "tolerate" };
        let same = match previous {
            Some(p) if p.tolerance == Some(t) => format!(", same as {}", p.servers),
            _ => String::new(),
        };
        format!(
            "{} {verb} {}{same}: a majority of {n} is {q}",
            plural(n, "server"),
            plural(t, "failure"),
        )
    }
}

impl fmt::Display for QuorumTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Quorum table, measured (seed {}, tickTime {} ms). Each row: start N servers, crash k \
             (the leader first), let the rest elect, then a new client tries one write and one read.",
            self.seed, self.tick_ms
        )?;
        writeln!(f)?;
        let header = [
            "N",
            "k",
            "crashed",
            "1st election",
            "re-election",
            "write",
            "read",
            "read-only mode: write",
            "read",
        ];
        let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for size in &self.sizes {
            for r in &size.rows {
                lines.push(vec![
                    r.servers.to_string(),
                    r.crashed.to_string(),
                    if r.crashed_names.is_empty() {
                        "-".to_string()
                    } else {
                        r.crashed_names.join(",")
                    },
                    ms_cell(r.first_election_ms),
                    if r.crashed == 0 {
                        "-".to_string()
                    } else {
                        r.reelection_ms
                            .map(|m| format!("{m} ms"))
                            .unwrap_or_else(|| "never".to_string())
                    },
                    cell(&r.default_mode.write_error),
                    cell(&r.default_mode.read_error),
                    cell(&r.read_only_mode.write_error),
                    cell(&r.read_only_mode.read_error),
                ]);
            }
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
            .collect();
        for (i, line) in lines.iter().enumerate() {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (text, w))| {
                    if c < 2 {
                        format!("{text:>w$}")
                    } else {
                        format!("{text:<w$}")
                    }
                })
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
            if i == 0 {
                let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
                writeln!(f, "{}", "-".repeat(total))?;
            }
        }
        writeln!(f)?;
        writeln!(f, "What the runs show:")?;
        let mut previous: Option<&QuorumSize> = None;
        for size in &self.sizes {
            writeln!(f, "  {}", size.explain(previous))?;
            previous = Some(size);
        }
        writeln!(
            f,
            "Read-only mode: a server cut off from a quorum keeps answering reads (possibly \
             stale) to clients that allow it, and refuses writes; it needs at least one server up."
        )
    }
}

/// Arguments of `kzsim quorum`.
#[derive(clap::Args, Debug, Clone)]
pub struct QuorumArgs {
    /// Largest ensemble size to run (sizes 1..=MAX; the number of runs grows as MAX²).
    #[arg(long, default_value_t = 7)]
    pub max: usize,
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `kzsim quorum`: runs the table and prints it (text or JSON). Exit status 0, or 2 for a
/// bad `--max`.
pub fn run_quorum_cli(args: &QuorumArgs) -> ExitCode {
    if args.max == 0 || args.max > MAX_SERVERS {
        eprintln!(
            "kzsim quorum: `--max`: {} is out of range (1..={MAX_SERVERS})",
            args.max
        );
        return ExitCode::from(2);
    }
    let table = quorum_table(args.max, args.seed, true);
    if args.json {
        match serde_json::to_string_pretty(&table) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("kzsim quorum: cannot encode the table as JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{table}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(servers: usize, tolerance: Option<usize>) -> QuorumSize {
        QuorumSize {
            servers,
            tolerance,
            quorum: tolerance.map(|t| servers - t),
            rows: vec![],
        }
    }

    #[test]
    fn explanations_read_well() {
        let three = size(3, Some(1));
        let four = size(4, Some(1));
        assert_eq!(
            four.explain(Some(&three)),
            "4 servers tolerate 1 failure, same as 3: a majority of 4 is 3"
        );
        assert_eq!(
            size(1, Some(0)).explain(None),
            "1 server tolerates 0 failures: a majority of 1 is 1"
        );
        assert_eq!(
            size(5, Some(2)).explain(Some(&four)),
            "5 servers tolerate 2 failures: a majority of 5 is 3"
        );
        assert_eq!(
            size(2, None).explain(None),
            "2 servers: no write succeeded in any run"
        );
    }
}
