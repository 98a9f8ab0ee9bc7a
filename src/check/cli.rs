//! `kzsim check FILE [--model register|cas-register|kv|set|queue|zookeeper] [--strict]
//! [--timeout S]`: reads a JSON history (format 1) or a Jepsen/Porcupine `history.edn`,
//! validates it, runs the model's checkers and prints their reports.
//!
//! Exit status: 0 every checker says ok, 1 a violation, 2 unknown or bad input.

use super::{linear, liveness, overall, zab, zk, CheckReport, Verdict};
use crate::history::validate::{parse_json, validate};
use crate::history::{edn::parse_edn_history_lines, Call, Event, History};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Which consistency model the history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    /// Linearizable register, per key: read, write of integers (initial value --initial).
    Register,
    /// Linearizable CAS register, per key: read, write, cas [from to] (initial value
    /// --initial).
    CasRegister,
    /// Linearizable key-value store, per key: integer keys take read, write, cas and
    /// append of an integer (a list, read back whole); string keys take Porcupine's get,
    /// put and append of a string (concatenation; initial value "").
    Kv,
    /// Linearizable set of integers, per key (Knossos's set): add an element, read the
    /// whole set (order ignored). Initially empty.
    Set,
    /// Linearizable FIFO queue of integers, per key (Knossos's fifo-queue): enqueue,
    /// dequeue (an ok dequeue of nil asserts an empty queue). Initially empty.
    Queue,
    /// ZooKeeper: linearizable writes, sequentially consistent sessions; plus ZAB
    /// properties if the history has protocol events.
    Zookeeper,
}

/// How a nil read is judged (register models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NilReadArg {
    /// nil is a value and must match (Porcupine).
    Value,
    /// A nil read is accepted in any state (Knossos's cas-register).
    Any,
}

/// Arguments of `kzsim check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// The history: JSON (format 1, see docs/history-format.md) or a Jepsen/Porcupine
    /// history.edn (by the `.edn` extension).
    pub file: PathBuf,
    /// The model. Default: zookeeper if the history has ZooKeeper ops or events; else set
    /// if it has add ops, queue if enqueue or dequeue, kv if get, put or append; else
    /// cas-register for .edn and kv for JSON.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// ZooKeeper: also flag stale reads (allowed by ZooKeeper, not by linearizability).
    #[arg(long)]
    pub strict: bool,
    /// Give up after this many seconds with verdict unknown (exit 2).
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// Integer registers (register, cas-register, kv integer keys): the initial value, an
    /// integer or `nil`. String keys start at "", sets and queues empty.
    #[arg(long, default_value = "nil")]
    pub initial: String,
    /// Register models: how a read of nil is judged.
    #[arg(long, value_enum, default_value_t = NilReadArg::Value)]
    pub nil_read: NilReadArg,
    /// Search steps before verdict unknown.
    #[arg(long)]
    pub steps_max: Option<u64>,
    /// ZooKeeper: also check liveness after the last fault heals, within this many ms.
    #[arg(long, value_name = "MS")]
    pub liveness_bound_ms: Option<u64>,
}

/// The model a history's ops call for, when `--model` is not given (see [`CheckArgs::model`]).
fn default_model(history: &History, is_edn: bool) -> ModelArg {
    let has = |p: fn(&Call) -> bool| history.ops.iter().any(|o| p(&o.call));
    if is_zk(history) {
        ModelArg::Zookeeper
    } else if has(|c| matches!(c, Call::Add { .. })) {
        ModelArg::Set
    } else if has(|c| matches!(c, Call::Enqueue { .. } | Call::Dequeue { .. })) {
        ModelArg::Queue
    } else if has(|c| matches!(c, Call::Get { .. } | Call::Put { .. } | Call::Append { .. })) {
        ModelArg::Kv
    } else if is_edn {
        ModelArg::CasRegister
    } else {
        ModelArg::Kv
    }
}

fn is_zk(history: &History) -> bool {
    history
        .events
        .iter()
        .any(|e| matches!(e.event, Event::Zk(_)))
        || history.ops.iter().any(|o| o.call.is_zookeeper())
}

/// What `kzsim check` prints and returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliOutput {
    /// 0 ok, 1 violated, 2 unknown or bad input.
    pub code: u8,
    /// The reports (text or JSON), or the input error.
    pub text: String,
    /// True if `text` is an input error (printed to stderr).
    pub input_error: bool,
}

/// Runs the check and returns the exit status and what to print.
///
/// Guarantees: status 0 only if every checker returned ok; 1 if any returned a violation;
/// 2 for unknown verdicts and for input errors, whose message names the file and the line,
/// op index or field.
pub fn run_to_string(args: &CheckArgs) -> CliOutput {
    let file = args.file.display().to_string();
    let bad = |msg: String| CliOutput {
        code: 2,
        text: format!("{file}: {msg}\n"),
        input_error: true,
    };
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => return bad(format!("cannot read: {e}")),
    };
    let is_edn = args.file.extension().is_some_and(|e| e == "edn");
    // For EDN, the line each op was invoked on, so errors about `ops[i]` name it.
    let (history, lines) = match if is_edn {
        parse_edn_history_lines(&text)
    } else {
        parse_json(&text).map(|h| (h, Vec::new()))
    } {
        Ok(h) => h,
        Err(e) => return bad(e.to_string()),
    };
    let locate = |e: linear::ModelError| match lines.get(e.op) {
        Some(line) => format!("line {line}: {e}"),
        None => e.to_string(),
    };
    let errors = validate(&history);
    if !errors.is_empty() {
        let lines: Vec<String> = errors
            .iter()
            .take(20)
            .map(|e| format!("{file}: {e}"))
            .collect();
        return CliOutput {
            code: 2,
            text: lines.join("\n") + "\n",
            input_error: true,
        };
    }
    let model = args
        .model
        .unwrap_or_else(|| default_model(&history, is_edn));
    if is_edn && model == ModelArg::Zookeeper {
        return bad(
            "an EDN history can be checked as register, cas-register, kv, set or queue, not zookeeper"
                .into(),
        );
    }
    let initial = match args.initial.as_str() {
        "nil" => None,
        s => match s.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => return bad(format!("--initial: `{s}` is neither an integer nor nil")),
        },
    };
    let timeout = match args.timeout {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return bad(format!(
                "--timeout: `{s}` is not a positive number of seconds"
            ))
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let deadline = timeout.map(|d| Instant::now() + d);
    let reports: Vec<CheckReport> = match model {
        ModelArg::Register
        | ModelArg::CasRegister
        | ModelArg::Kv
        | ModelArg::Set
        | ModelArg::Queue => {
            let m = match model {
                ModelArg::Register => linear::Model::Register,
                ModelArg::CasRegister => linear::Model::CasRegister,
                ModelArg::Set => linear::Model::Set,
                ModelArg::Queue => linear::Model::Queue,
                _ => linear::Model::Kv,
            };
            let mut opts = linear::LinearOptions::new(m);
            opts.initial = initial;
            opts.nil_read = match args.nil_read {
                NilReadArg::Value => linear::NilRead::Value,
                NilReadArg::Any => linear::NilRead::Any,
            };
            opts.deadline = deadline;
            if let Some(s) = args.steps_max {
                opts.steps_max = s;
            }
            match linear::check(&history, &opts) {
                Ok(r) => vec![r],
                Err(e) => return bad(locate(e)),
            }
        }
        ModelArg::Zookeeper => {
            let mut opts = zk::ZkOptions {
                strict: args.strict,
                ..zk::ZkOptions::default()
            };
            if let Some(s) = args.steps_max {
                opts.steps_max = s;
            }
            let mut reports = zk::check(&history, &opts);
            if history
                .events
                .iter()
                .any(|e| matches!(e.event, Event::Zk(_)))
            {
                reports.push(zab::check(&history));
            }
            if let Some(ms) = args.liveness_bound_ms {
                reports.push(liveness::check(&history, Duration::from_millis(ms)));
            }
            reports
        }
    };
    let verdict = overall(&reports);
    let code = match verdict {
        Verdict::Ok | Verdict::OutsideFaultModel(_) => 0,
        Verdict::Violated(_) => 1,
        Verdict::Unknown { .. } => 2,
    };
    let out = if args.json {
        let doc =
            serde_json::json!({ "file": file, "verdict": verdict.name(), "reports": reports });
        serde_json::to_string_pretty(&doc).expect("reports serialize") + "\n"
    } else {
        let mut s = String::new();
        for r in &reports {
            s.push_str(&format!("{r}\n"));
        }
        s.push_str(&format!("{file}: {}\n", verdict.name()));
        s
    };
    CliOutput {
        code,
        text: out,
        input_error: false,
    }
}

/// Entry point for `kzsim check`: prints the reports (stdout) or the input error (stderr)
/// and returns the exit status of [`run_to_string`].
pub fn run_cli(args: &CheckArgs) -> ExitCode {
    let out = run_to_string(args);
    if out.input_error {
        eprint!("{}", out.text);
    } else {
        print!("{}", out.text);
    }
    ExitCode::from(out.code)
}
