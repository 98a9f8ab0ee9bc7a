//! `kzsim check FILE_OR_DIR... [--model register|cas-register|kv|set|queue|zookeeper]
//! [--strict] [--timeout S] [--json]`: reads JSON histories (format 1) or Jepsen/Porcupine
//! `history.edn` files, validates each, runs the model's checkers and prints their reports
//! (one file) or a table and a summary (several files or directories, checked in parallel).
//!
//! Exit status: 0 every checker says ok, 1 a violation, 2 unknown or bad input; for
//! several files, the worst: 1 if any is violated, else 2 if any is unknown or bad input.

use super::{linear, liveness, overall, zab, zk, CheckReport, Verdict};
use crate::history::validate::{parse_json, validate};
use crate::history::{edn::parse_edn_history_lines, Call, Event, History};
use std::path::{Path, PathBuf};
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
    /// The histories: JSON (format 1, see docs/history-format.md) or Jepsen/Porcupine
    /// history.edn files (by the `.edn` extension), or directories, searched recursively
    /// (8 levels) for *.edn and *.json files except Jepsen's results.edn and test.edn and
    /// kzsim's report.json. One file prints its reports; several print a table (file,
    /// model, ops, verdict, check time) and a summary, checked in parallel over the cores.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub files: Vec<PathBuf>,
    /// The model. Default: zookeeper if the history has ZooKeeper ops or events; else set
    /// if it has add ops, queue if enqueue or dequeue, kv if get, put or append; else
    /// cas-register for .edn and kv for JSON.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// ZooKeeper: also flag stale reads (allowed by ZooKeeper, not by linearizability).
    #[arg(long)]
    pub strict: bool,
    /// Give up after this many seconds with verdict unknown (exit 2); per file.
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Print the reports (one file) or the table and summary (several) as JSON.
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

impl CheckArgs {
    /// `kzsim check FILES...` with every option at its command-line default.
    pub fn new(files: Vec<PathBuf>) -> CheckArgs {
        CheckArgs {
            files,
            model: None,
            strict: false,
            timeout: None,
            json: false,
            initial: "nil".into(),
            nil_read: NilReadArg::Value,
            steps_max: None,
            liveness_bound_ms: None,
        }
    }
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

/// One history's line in a batch check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BatchRow {
    /// The file, as found.
    pub file: String,
    /// The model it was checked against (`None`: the input was bad before one was chosen).
    pub model: Option<String>,
    /// Operations in the history (0 when it could not be read).
    pub ops: usize,
    /// `ok`, `violated`, `unknown`, `outside-fault-model`, or `bad-input`.
    pub verdict: String,
    /// The exit status this file alone would give (0, 1 or 2).
    pub code: u8,
    /// Wall-clock milliseconds spent reading and checking it.
    pub millis: f64,
    /// For a file that is not ok: the first lines of its reports or its input error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Runs the check and returns the exit status and what to print.
///
/// Guarantees: for one file, status 0 only if every checker returned ok; 1 if any returned
/// a violation; 2 for unknown verdicts and for input errors, whose message names the file
/// and the line, op index or field. For several files or a directory, see [`run_batch`].
pub fn run_to_string(args: &CheckArgs) -> CliOutput {
    if let [one] = args.files.as_slice() {
        if !one.is_dir() {
            return check_file(args, one).0;
        }
    }
    run_batch(args)
}

/// Deepest directory level searched for histories.
const DIR_DEPTH_MAX: usize = 8;

/// Files in directories that are not histories (Jepsen's results and test maps, kzsim's
/// report summaries).
const NOT_HISTORIES: &[&str] = &["results.edn", "test.edn", "report.json"];

/// The history files under `dir` (recursively, to [`DIR_DEPTH_MAX`] levels, symlinked
/// directories not followed), sorted; or the first directory that cannot be read.
fn histories_under(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let is_symlink = p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if p.is_dir() {
            if depth < DIR_DEPTH_MAX && !is_symlink {
                histories_under(&p, depth + 1, out)?;
            }
            continue;
        }
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext_ok = p.extension().is_some_and(|e| e == "edn" || e == "json");
        if ext_ok && !NOT_HISTORIES.contains(&name) {
            out.push(p);
        }
    }
    Ok(())
}

/// Checks many histories in one process: the files named, and the history files under the
/// directories named (see [`CheckArgs::files`]), in parallel over the available cores.
///
/// Guarantees: every file found gets one row, in the order found; the text is a table
/// (file, model, ops, verdict, check time), the details of every file not ok, and a
/// summary; with `--json`, one JSON document with the rows and the summary. The status is
/// the worst verdict's: 1 if any file is violated, else 2 if any is unknown or bad input,
/// else 0; a directory with no history in it is bad input (2), never ok.
pub fn run_batch(args: &CheckArgs) -> CliOutput {
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &args.files {
        if p.is_dir() {
            let before = files.len();
            if let Err(e) = histories_under(p, 1, &mut files) {
                return CliOutput {
                    code: 2,
                    text: format!("{e}\n"),
                    input_error: true,
                };
            }
            if files.len() == before {
                return CliOutput {
                    code: 2,
                    text: format!(
                        "{}: no history files (*.edn, *.json) in this directory\n",
                        p.display()
                    ),
                    input_error: true,
                };
            }
        } else {
            files.push(p.clone());
        }
    }
    // Rows are built from each file's text output (its verdict line and details).
    let text_args = CheckArgs {
        json: false,
        ..args.clone()
    };
    let started = Instant::now();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rows: std::sync::Mutex<Vec<Option<BatchRow>>> =
        std::sync::Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                // Each pass takes a distinct index; the loop ends when they run out.
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let (_, row) = check_file(&text_args, path);
                    rows.lock().expect("batch rows")[i] = Some(row);
                }
            });
        }
    });
    let rows: Vec<BatchRow> = rows
        .into_inner()
        .expect("batch rows")
        .into_iter()
        .flatten()
        .collect();
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let count = |v: &str| rows.iter().filter(|r| r.verdict == v).count();
    let ok = count("ok") + count("outside-fault-model");
    let code = if rows.iter().any(|r| r.code == 1) {
        1
    } else if rows.iter().any(|r| r.code == 2) {
        2
    } else {
        0
    };
    let text = if args.json {
        let doc = serde_json::json!({
            "histories": rows,
            "summary": {
                "histories": rows.len(),
                "ok": ok,
                "violated": count("violated"),
                "unknown": count("unknown"),
                "bad_input": count("bad-input"),
                "wall_ms": wall_ms,
                "threads": workers,
                "exit": code,
            },
        });
        serde_json::to_string_pretty(&doc).expect("rows serialize") + "\n"
    } else {
        let width = rows.iter().map(|r| r.file.len()).max().unwrap_or(4).max(4);
        let mut t = format!(
            "{:<width$}  {:<12}  {:>8}  {:<10}  {:>10}\n",
            "file", "model", "ops", "verdict", "time"
        );
        for r in &rows {
            t.push_str(&format!(
                "{:<width$}  {:<12}  {:>8}  {:<10}  {:>7.1} ms\n",
                r.file,
                r.model.as_deref().unwrap_or("-"),
                r.ops,
                r.verdict,
                r.millis
            ));
        }
        for r in &rows {
            if let Some(d) = &r.detail {
                t.push_str(&format!("\n{}:\n{d}\n", r.file));
            }
        }
        t.push_str(&format!(
            "\n{} histories: {ok} ok, {} violated, {} unknown, {} bad input; \
             {wall_ms:.1} ms on {workers} threads; exit {code}\n",
            rows.len(),
            count("violated"),
            count("unknown"),
            count("bad-input"),
        ));
        t
    };
    CliOutput {
        code,
        text,
        input_error: false,
    }
}

/// The first lines of a non-ok file's output, for the batch table's details.
fn detail(text: &str) -> String {
    const LINES_MAX: usize = 4;
    const CHARS_MAX: usize = 300;
    text.lines()
        .take(LINES_MAX)
        .map(|l| {
            if l.chars().count() > CHARS_MAX {
                let cut: String = l.chars().take(CHARS_MAX).collect();
                format!("  {cut}...")
            } else {
                format!("  {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks one file: what `kzsim check FILE` prints, and its batch row.
fn check_file(args: &CheckArgs, path: &Path) -> (CliOutput, BatchRow) {
    let started = Instant::now();
    let mut facts = FileFacts::default();
    let out = check_one(args, path, &mut facts);
    let verdict = match facts.verdict {
        Some(v) if !out.input_error => v,
        _ => "bad-input",
    }
    .to_string();
    let row = BatchRow {
        file: path.display().to_string(),
        model: facts.model,
        ops: facts.ops,
        detail: (out.code != 0).then(|| {
            // Without the closing `FILE: VERDICT` line, which the table already shows.
            let body = match out.text.trim_end().rsplit_once('\n') {
                Some((body, _)) if !out.input_error => body,
                _ => out.text.as_str(),
            };
            detail(body)
        }),
        verdict,
        code: out.code,
        millis: started.elapsed().as_secs_f64() * 1e3,
    };
    (out, row)
}

/// What a batch row needs from checking one file, recorded as the check goes.
#[derive(Default)]
struct FileFacts {
    /// The model chosen, once the history was read.
    model: Option<String>,
    /// Operations in the history.
    ops: usize,
    /// The overall verdict's name, once the checkers ran.
    verdict: Option<&'static str>,
}

/// The check of one file (see [`run_to_string`]); records in `facts` the model chosen,
/// the number of ops and the verdict for the batch row.
fn check_one(args: &CheckArgs, path: &Path, facts: &mut FileFacts) -> CliOutput {
    let file = path.display().to_string();

    let bad = |msg: String| CliOutput {
        code: 2,
        text: format!("{file}: {msg}\n"),
        input_error: true,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return bad(format!("cannot read: {e}")),
    };
    let is_edn = path.extension().is_some_and(|e| e == "edn");
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
    facts.ops = history.ops.len();
    let model = args
        .model
        .unwrap_or_else(|| default_model(&history, is_edn));
    facts.model = clap::ValueEnum::to_possible_value(&model).map(|v| v.get_name().to_string());
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
    facts.verdict = Some(verdict.name());
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
