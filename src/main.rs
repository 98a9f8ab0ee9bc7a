//! The `kzsim` command line.
//!
//! Exit codes: 0 success (every run passed, or the history is valid); 1 a checker found a
//! violation or a run failed; 2 unknown verdict or bad input (a bad file, flag or history).

use clap::{Parser, Subcommand};
use kzsim::bugs::BugFlags;
use kzsim::report::narrate;
use kzsim::runner::{run_scenario, RunOptions, RunOutcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Deterministic simulator and test harness for ZooKeeper and Kafka under failure.
///
/// With no subcommand, runs every scenario in scenarios/ on seed 0 and prints a summary.
#[derive(Parser, Debug)]
#[command(name = "kzsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and print what happened and each checker's verdict.
    ///
    /// Example: kzsim run scenarios/zk-leader-crash.toml --seed 7 --bug zk-ack-before-fsync
    Run(RunArgs),
    /// Check a recorded history (JSON, or Jepsen history.edn).
    ///
    /// Example: kzsim check reports/x/history.json --model zookeeper --strict
    Check(kzsim::check::cli::CheckArgs),
    /// List the bug flags that re-introduce historical bugs.
    Bugs,
    /// Run every scenario in a folder on one seed and print a summary (the default job).
    Library(LibraryArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// The seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Re-introduce a historical bug (repeatable; see `kzsim bugs`).
    #[arg(long = "bug")]
    bugs: Vec<String>,
    /// Print every protocol event, not just the narration.
    #[arg(long)]
    verbose: bool,
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct LibraryArgs {
    /// The folder of scenario files.
    #[arg(default_value = "scenarios")]
    dir: PathBuf,
    /// The seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    kzsim::sim::log::init_from_env();
    let cli = Cli::parse();
    match cli.command {
        None => library(&LibraryArgs { dir: PathBuf::from("scenarios"), seed: 0 }),
        Some(Command::Library(a)) => library(&a),
        Some(Command::Run(a)) => run(&a),
        Some(Command::Check(a)) => kzsim::check::cli::run_cli(&a),
        Some(Command::Bugs) => {
            print!("{}", kzsim::bugs::listing());
            ExitCode::SUCCESS
        }
    }
}

fn bad_input(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("kzsim: {msg}");
    ExitCode::from(2)
}

fn flags(names: &[String]) -> Result<BugFlags, ExitCode> {
    BugFlags::from_names(names).map_err(bad_input)
}

fn print_outcome(o: &RunOutcome, verbose: bool) {
    println!("{}", narrate(&o.history, verbose));
    println!("Checkers:");
    for c in &o.checks {
        println!("  {c}");
    }
    if !o.teaching.is_empty() {
        println!("What this scenario teaches:");
        for t in &o.teaching {
            let mark = match t.seen {
                Some(true) => "seen    ",
                Some(false) => "NOT SEEN",
                None => "n/a     ",
            };
            println!("  [{mark}] {} ({})", t.expectation, t.detail);
        }
    }
    println!("Run hash {:016x}; {:.1} simulated seconds; bug flags: {}", o.run_hash, o.sim_secs, o.bugs);
    println!("Verdict: {}", o.verdict_line());
}

fn run(a: &RunArgs) -> ExitCode {
    let bugs = match flags(&a.bugs) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let scenario = match kzsim::scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let o = run_scenario(&scenario, &RunOptions { seed: a.seed, bugs, faults: None });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&o).expect("outcome serializes"));
    } else {
        print_outcome(&o, a.verbose);
    }
    exit_for(&o)
}

fn exit_for(o: &RunOutcome) -> ExitCode {
    if o.passed() {
        ExitCode::SUCCESS
    } else if o.error.is_some() || !o.violated().is_empty() || o.teaching.iter().any(|t| t.seen == Some(false)) {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

fn library(a: &LibraryArgs) -> ExitCode {
    let scenarios = match kzsim::scenario::load_dir(Path::new(&a.dir)) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let mut failed = 0;
    println!("{:<44} {:>6} {:>8}  verdict", "scenario", "ops", "sim s");
    for s in &scenarios {
        let o = run_scenario(s, &RunOptions { seed: a.seed, ..Default::default() });
        if !o.passed() {
            failed += 1;
        }
        println!("{:<44} {:>6} {:>8.1}  {}", s.name, o.history.ops.len(), o.sim_secs, o.verdict_line());
    }
    println!("{} scenarios, {} passed, {} failed (seed {})", scenarios.len(), scenarios.len() - failed, failed, a.seed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
