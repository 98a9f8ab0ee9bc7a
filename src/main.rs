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

// Simulation allocates and frees small messages all the time; mimalloc does that with far
// fewer instructions than the system allocator. Addresses never reach simulated state, so
// runs stay deterministic.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic simulator and test harness for ZooKeeper and Kafka under failure.
///
/// With no subcommand, runs every scenario in scenarios/ on seed 0 and prints a summary.
#[derive(Parser, Debug)]
#[command(name = "kzsim", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Parse and check the command line (including seed ranges, shards and bug flags),
    /// print what was parsed and exit without running anything. Used by the test that keeps
    /// the command lines in docs/ from rotting.
    #[arg(long, global = true, hide = true)]
    parse_only: bool,
}

/// The crate version and the git commit it was built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KZSIM_GIT_COMMIT"),
    ")"
);

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one scenario and print what happened and each checker's verdict.
    ///
    /// Example: kzsim run scenarios/zk-leader-crash.toml --seed 7 --bug zk-ack-before-fsync
    Run(RunArgs),
    /// Check a recorded history (JSON, or a Jepsen/Porcupine history.edn).
    ///
    /// Example: kzsim check reports/x/history.json --model zookeeper --strict
    Check(kzsim::check::cli::CheckArgs),
    /// List the bug flags that re-introduce historical bugs.
    Bugs,
    /// Run every scenario in a folder on one seed and print a summary (the default job).
    Library(LibraryArgs),
    /// Run a scenario over many seeds (its own schedule, random ones, or guided ones), in
    /// parallel.
    ///
    /// --guided steers the schedules by coverage: each run's recorded events are reduced to
    /// the abstract protocol states it reached (per ZooKeeper server: role, ZAB phase, sync
    /// mode, epoch against the leader's; per Kafka partition: leader, ISR size against
    /// min.insync.replicas, HW lag; each fault's kind x the protocol phase it landed in). A
    /// schedule that reached a new state joins a corpus; later seeds mostly run mutations of
    /// corpus entries (add, drop, move, retarget a fault, shift it into a protocol moment),
    /// in batches of 16 seeds made from the corpus as the batch began, so the results
    /// depend only on the seed range, not on --jobs. Each failure is a report that
    /// `kzsim replay` reruns alone.
    ///
    /// Example: kzsim campaign --random --seeds 0..500 --jobs 2 --bug zk-quorum-off-by-one
    ///
    /// Example: kzsim campaign --standard zookeeper --guided --seeds 0..300 --bug zk-sync-without-trunc
    ///
    /// Example (machine 3 of 8 sharing a sweep): kzsim campaign --random --seeds 0..8000 --shard 3/8
    Campaign(CampaignArgs),
    /// Combine the `campaign --json` summaries of a sweep's shards into one summary: counts
    /// by verdict and checker, the slowest seeds, every failure with its report. Refuses
    /// summaries of different campaigns or kzsim builds; names missing and overlapping seeds.
    ///
    /// Example: kzsim merge summaries/shard-*.json
    ///
    /// Exit codes: 0 no failures; 1 failures; 2 bad or mismatched summaries, missing seeds
    /// (unless --allow-gaps) or a seed two summaries disagree on.
    Merge(MergeArgs),
    /// Re-run a report folder and confirm the same run hash and verdict.
    ///
    /// Example: kzsim replay reports/zk-leader-crash-seed7
    Replay {
        /// The report folder.
        dir: PathBuf,
    },
    /// Start a simulated ensemble (or a scenario's cluster) and type zkCli.sh-style
    /// commands, kafka-topics and fault verbs at it.
    ///
    /// Example: echo -e "create /a x\ncrash leader\nadvance 10s\nget /a" | kzsim shell
    ///
    /// Example: echo -e "crash leader:events/0\nadvance 10s\nkafka-topics --describe" | kzsim shell --scenario scenarios/kafka-broker-crash.toml
    Shell(kzsim::teach::ShellArgs),
    /// Measure, by running it, which ensemble sizes survive how many crashes.
    ///
    /// Example: kzsim quorum-table --max 7
    QuorumTable(kzsim::teach::QuorumArgs),
    /// Print benchmark figures: simulation speed and checker speed.
    ///
    /// Example: cargo run --release -- bench all
    Bench(BenchArgs),
}

/// The built-in clusters a campaign without a scenario file runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Standard {
    /// `kzsim::bench::STANDARD_CLUSTER`.
    Kafka,
    /// `kzsim::bench::STANDARD_ENSEMBLE`.
    Zookeeper,
}

#[derive(clap::Args, Debug)]
struct CampaignArgs {
    /// The scenario (default: the benchmark's standard cluster with random faults).
    #[arg(long, conflicts_with = "standard")]
    scenario: Option<PathBuf>,
    /// Without --scenario, which built-in cluster gets random faults: `kafka` (3 ZooKeeper
    /// servers, 3 brokers, producers, a consumer group) or `zookeeper` (3 servers, clients
    /// of every operation kind).
    #[arg(long, value_enum)]
    standard: Option<Standard>,
    /// Draw a random fault schedule per seed instead of the scenario's own.
    #[arg(long)]
    random: bool,
    /// Guided exploration: random schedules first, then mostly mutations of the schedules
    /// that reached new protocol states (coverage), in batches of 16 seeds. Implies
    /// --random's fault vocabulary; prints coverage as it grows and at the end. Cannot be
    /// sharded (each seed learns from the ones before it): give each machine its own
    /// --seeds range and merge the summaries.
    #[arg(long, conflicts_with = "shard")]
    guided: bool,
    /// Seeds, as A..B (end exclusive) or a single seed.
    #[arg(long, default_value = "0..100")]
    seeds: String,
    /// Parallel runs (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard K of N (K from 1): seeds with seed % N == K - 1.
    #[arg(long)]
    shard: Option<String>,
    /// Re-introduce a historical bug (repeatable; see `kzsim bugs`).
    #[arg(long = "bug")]
    bugs: Vec<String>,
    /// Do not shrink failing schedules.
    #[arg(long)]
    no_shrink: bool,
    /// Where failing runs' reports go.
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Count a run outside the fault model (a breach the real system allows only because
    /// faults outside its model destroyed every copy) as a failure: exit 1.
    #[arg(long)]
    strict_fault_model: bool,
}

#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// The summary files (`kzsim campaign --json` output, or earlier merges).
    #[arg(required = true)]
    summaries: Vec<PathBuf>,
    /// Print the merged summary as JSON (the same record `campaign --json` prints).
    #[arg(long)]
    json: bool,
    /// Exit by the verdicts even if some seeds of the range were run by no summary (they
    /// are still named).
    #[arg(long)]
    allow_gaps: bool,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// What to measure: sim, checker, explore or all (sim and checker; explore takes
    /// hours at its defaults, so it runs only when named).
    #[arg(default_value = "all")]
    what: String,
    /// Seeds for the simulation benchmark.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// explore: the seeds each hunt may run before it counts as a miss.
    #[arg(long, default_value_t = 2000)]
    budget: u64,
    /// explore: hunts per flag, from starting seeds 0, budget, 2 x budget, ...
    #[arg(long, default_value_t = 3)]
    starts: u64,
    /// explore: hunt only this flag (repeatable; default every flag).
    #[arg(long = "bug")]
    bugs: Vec<String>,
    /// explore: parallel runs (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
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
    /// Write a report folder even if the run passes.
    #[arg(long)]
    report: bool,
    /// Also write the run's timeline picture to this HTML file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Where report folders go.
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    /// Count a run outside the fault model (a breach the real system allows only because
    /// faults outside its model destroyed every copy) as a failure: exit 1.
    #[arg(long)]
    strict_fault_model: bool,
    /// What the simulated wall clock reads at the start, RFC 3339 (overrides the scenario's
    /// `wall_clock_start`; default 2026-01-01T00:00:00Z).
    #[arg(long, value_name = "INSTANT", value_parser = kzsim::scenario::parse_wall_clock_start)]
    wall_clock_start: Option<i64>,
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
    if cli.parse_only {
        return parse_only(&cli);
    }
    match cli.command {
        None => library(&LibraryArgs {
            dir: PathBuf::from("scenarios"),
            seed: 0,
        }),
        Some(Command::Library(a)) => library(&a),
        Some(Command::Run(a)) => run(&a),
        Some(Command::Check(a)) => kzsim::check::cli::run_cli(&a),
        Some(Command::Campaign(a)) => campaign(&a),
        Some(Command::Merge(a)) => merge(&a),
        Some(Command::Replay { dir }) => replay(&dir),
        Some(Command::Shell(a)) => kzsim::teach::run_shell_cli(&a),
        Some(Command::QuorumTable(a)) => kzsim::teach::run_quorum_cli(&a),
        Some(Command::Bench(a)) => bench(&a),
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
    println!(
        "Run hash {:016x}; {:.1} simulated seconds; bug flags: {}",
        o.run_hash, o.sim_secs, o.bugs
    );
    println!("Verdict: {}", o.verdict_line());
}

fn run(a: &RunArgs) -> ExitCode {
    let bugs = match flags(&a.bugs) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut scenario = match kzsim::scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    if let Some(start) = a.wall_clock_start {
        scenario.wall_clock_start_ms = start;
    }
    let o = run_scenario(
        &scenario,
        &RunOptions {
            seed: a.seed,
            bugs,
            faults: None,
        },
    );
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&o).expect("outcome serializes")
        );
    } else {
        print_outcome(&o, a.verbose);
    }
    if let Some(path) = &a.html {
        let page = kzsim::report::render_run_html(
            &o.history,
            &format!("{} seed {}", scenario.name, a.seed),
            &o.checks,
            &kzsim::report::folder::highlights(&o),
        );
        if let Err(e) = std::fs::write(path, page) {
            return bad_input(format!("{}: {e}", path.display()));
        }
        println!("Timeline picture: {}", path.display());
    }
    if a.report || o.verdict() != kzsim::runner::RunVerdict::Pass {
        match kzsim::report::folder::write_report(
            &a.reports,
            &scenario,
            Some(&a.scenario),
            &o,
            &o.faults,
        ) {
            Ok(dir) => println!(
                "Report: {}\nReplay with: kzsim replay {}",
                dir.display(),
                dir.display()
            ),
            Err(e) => eprintln!(
                "kzsim: could not write the report under {}: {e}",
                a.reports.display()
            ),
        }
    }
    exit_for(&o, a.strict_fault_model)
}

fn campaign(a: &CampaignArgs) -> ExitCode {
    use kzsim::campaign::sweep::{parse_seeds, parse_shard, run_campaign, CampaignSpec};
    let seeds = match parse_seeds(&a.seeds) {
        Ok(s) => s,
        Err(e) => return bad_input(format!("--seeds: {e}")),
    };
    let shard = match a.shard.as_deref().map(parse_shard).transpose() {
        Ok(s) => s,
        Err(e) => return bad_input(format!("--shard: {e}")),
    };
    let bugs = match flags(&a.bugs) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let (scenario, random) = match &a.scenario {
        Some(p) => match kzsim::scenario::load(p) {
            Ok(s) => (s, a.random || a.guided),
            Err(e) => return bad_input(e),
        },
        None => match a.standard.unwrap_or(Standard::Kafka) {
            Standard::Kafka => (kzsim::bench::standard_cluster(), true),
            Standard::Zookeeper => (kzsim::bench::standard_ensemble(), true),
        },
    };
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let spec = CampaignSpec {
        scenario: scenario.clone(),
        random,
        seeds,
        shard,
        jobs,
        bugs,
        shrink: !a.no_shrink,
        shrink_runs_max: 64,
        strict_fault_model: a.strict_fault_model,
    };
    let total = kzsim::campaign::sweep::shard_seeds(spec.seeds.clone(), shard).len() as u64;
    let bar = indicatif::ProgressBar::new(total);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds, {msg} [{elapsed_precise}]",
        )
        .expect("template"),
    );
    // Random and guided runs judge with every checker the cluster can feed: their reports
    // carry that scenario, so a replay judges as the campaign did.
    let report_scenario = if random {
        kzsim::campaign::sweep::random_scenario(&scenario)
    } else {
        scenario.clone()
    };
    let target = kzsim::campaign::sweep::ReportTarget {
        root: &a.reports,
        scenario: &report_scenario,
        scenario_file: a.scenario.as_deref(),
    };
    let written = std::sync::Mutex::new(Vec::new());
    let errors = std::sync::Mutex::new(Vec::new());
    let failures = std::sync::atomic::AtomicUsize::new(0);
    // Each seed's report is written as it ends and its outcome dropped: a campaign's
    // memory does not grow with its failures.
    let keep_report_and_count = |r: &mut kzsim::campaign::sweep::SeedResult| {
        match target.keep(r) {
            Ok(Some(dir)) => written.lock().expect("written").push((r.seed, dir)),
            Ok(None) => {}
            Err(e) => errors.lock().expect("errors").push((r.seed, e)),
        }
        if !r.passed {
            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        failures.load(std::sync::atomic::Ordering::Relaxed)
    };
    let (summary, guided) = if a.guided {
        use kzsim::campaign::guided::{run_guided, Exploration};
        let g = run_guided(&spec, Exploration::Guided, |r, status| {
            let failed = keep_report_and_count(r);
            bar.set_message(format!(
                "{failed} failed, coverage {} features, corpus {}",
                status.features, status.corpus
            ));
            bar.inc(1);
        });
        let mut g = g;
        // The summary moves out (its failures hold whole runs); the record takes it back.
        let s = std::mem::replace(
            &mut g.summary,
            kzsim::campaign::sweep::CampaignSummary::from_seeds(Vec::new(), 0.0),
        );
        (s, Some(g))
    } else {
        let s = run_campaign(&spec, |r| {
            let failed = keep_report_and_count(r);
            bar.set_message(format!("{failed} failed"));
            bar.inc(1);
        });
        (s, None)
    };
    bar.finish_and_clear();
    let mut written = written.into_inner().expect("written");
    written.sort();
    let written: Vec<std::path::PathBuf> = written.into_iter().map(|(_, dir)| dir).collect();
    let mut errors = errors.into_inner().expect("errors");
    errors.sort_by_key(|(seed, _)| *seed);
    for (seed, e) in errors {
        eprintln!(
            "kzsim: could not write the report of seed {seed} under {}: {e}",
            a.reports.display()
        );
    }
    let exit = exit_for_verdicts(
        summary.seeds.iter().map(|r| r.run_verdict),
        spec.strict_fault_model,
    );
    if a.json {
        use kzsim::campaign::record::CampaignRecord;
        let record = match guided {
            Some(mut g) => {
                g.summary = summary;
                CampaignRecord::of_guided(&spec, a.scenario.as_deref(), g)
            }
            None => CampaignRecord::of_run(&spec, a.scenario.as_deref(), summary),
        };
        println!("{}", record.to_json());
    } else {
        print!("{}", summary.table());
        if let Some(mut g) = guided {
            g.summary = summary;
            print!("{}", g.coverage_text());
        }
        for d in &written {
            println!(
                "report: {}   replay: kzsim replay {}",
                d.display(),
                d.display()
            );
        }
    }
    exit
}

fn merge(a: &MergeArgs) -> ExitCode {
    let merged = match kzsim::campaign::record::merge_files(&a.summaries) {
        Ok(m) => m,
        Err(e) => return bad_input(e),
    };
    if a.json {
        println!("{}", merged.record.to_json());
    } else {
        print!("{}", merged.text());
    }
    if merged.has_conflicts() {
        return bad_input("some seeds have different results in different summaries (named above)");
    }
    if !merged.is_complete() && !a.allow_gaps {
        return bad_input(format!(
            "{} seeds of {} were run by no summary (named above; --allow-gaps to accept)",
            merged.missing_seeds(),
            merged.record.seed_range
        ));
    }
    exit_for_verdicts(
        merged.record.summary.seeds.iter().map(|r| r.run_verdict),
        merged.record.spec.strict_fault_model,
    )
}

/// `--parse-only`: checks what clap leaves as text (seed ranges, shards, bug flags), prints
/// the parsed command and exits 0, or 2 with the problem.
fn parse_only(cli: &Cli) -> ExitCode {
    use kzsim::campaign::sweep::{parse_seeds, parse_shard};
    if let Some(Command::Campaign(a)) = &cli.command {
        if let Err(e) = parse_seeds(&a.seeds) {
            return bad_input(format!("--seeds: {e}"));
        }
        if let Some(Err(e)) = a.shard.as_deref().map(parse_shard) {
            return bad_input(format!("--shard: {e}"));
        }
        if let Err(code) = flags(&a.bugs) {
            return code;
        }
    }
    if let Some(Command::Run(a)) = &cli.command {
        if let Err(code) = flags(&a.bugs) {
            return code;
        }
    }
    println!("{cli:?}");
    ExitCode::SUCCESS
}

fn replay(dir: &Path) -> ExitCode {
    match kzsim::report::folder::replay(dir) {
        Err(e) => bad_input(e),
        Ok(r) => {
            println!(
                "stored:   {} run hash {}",
                r.stored.verdict, r.stored.run_hash
            );
            println!(
                "replayed: {} run hash {:016x}",
                r.outcome.verdict_line(),
                r.outcome.run_hash
            );
            if r.same_hash && r.same_verdict {
                println!("Reproduced exactly: same run hash, same verdict.");
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "kzsim: replay MISMATCH: {}{}(a different kzsim version or a nondeterminism bug)",
                    if r.same_hash { "" } else { "the run hash differs; " },
                    if r.same_verdict { "" } else { "the verdict differs; " }
                );
                ExitCode::from(1)
            }
        }
    }
}

fn bench(a: &BenchArgs) -> ExitCode {
    match a.what.as_str() {
        "sim" => print!("{}", kzsim::bench::bench_sim(a.seeds)),
        "checker" => print!("{}", kzsim::check::bench::bench_checker()),
        "explore" => {
            let settings = kzsim::bench::ExploreSettings {
                flags: a.bugs.clone(),
                budget: a.budget,
                starts: a.starts,
                jobs: a
                    .jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            };
            match kzsim::bench::bench_explore(&settings, |line| eprintln!("{line}")) {
                Ok(table) => print!("{table}"),
                Err(e) => return bad_input(format!("bench explore: {e}")),
            }
        }
        "all" => {
            print!("{}", kzsim::bench::bench_sim(a.seeds));
            print!("{}", kzsim::check::bench::bench_checker());
        }
        other => {
            return bad_input(format!(
                "bench: unknown target `{other}`; valid: sim, checker, explore, all"
            ))
        }
    }
    ExitCode::SUCCESS
}

/// 0 for PASS (and outside the fault model unless `strict`), 1 for a violation, a run
/// error, a teaching expectation not seen or (strict) a run outside the fault model, 2 for
/// an unknown verdict.
fn exit_for(o: &RunOutcome, strict_fault_model: bool) -> ExitCode {
    exit_for_verdicts([o.verdict()], strict_fault_model)
}

/// The exit code of runs with these verdicts: 1 if any failed, erred or (strict) ran
/// outside the fault model; else 2 if any was unknown; else 0.
fn exit_for_verdicts(
    verdicts: impl IntoIterator<Item = kzsim::runner::RunVerdict>,
    strict_fault_model: bool,
) -> ExitCode {
    use kzsim::runner::RunVerdict;
    let mut unknown = false;
    for v in verdicts {
        match v {
            RunVerdict::Pass => {}
            RunVerdict::OutsideFaultModel if !strict_fault_model => {}
            RunVerdict::Unknown => unknown = true,
            RunVerdict::OutsideFaultModel | RunVerdict::Fail | RunVerdict::Error => {
                return ExitCode::from(1)
            }
        }
    }
    if unknown {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
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
        let o = run_scenario(
            s,
            &RunOptions {
                seed: a.seed,
                ..Default::default()
            },
        );
        if !o.passed() {
            failed += 1;
        }
        println!(
            "{:<44} {:>6} {:>8.1}  {}",
            s.name,
            o.history.ops.len(),
            o.sim_secs,
            o.verdict_line()
        );
    }
    println!(
        "{} scenarios, {} passed, {} failed (seed {})",
        scenarios.len(),
        scenarios.len() - failed,
        failed,
        a.seed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::exit_for_verdicts;
    use kzsim::runner::RunVerdict::{self, *};
    use std::process::ExitCode;

    fn code(verdicts: &[RunVerdict], strict: bool) -> ExitCode {
        exit_for_verdicts(verdicts.iter().copied(), strict)
    }

    #[test]
    fn exit_codes_put_a_failure_before_an_unknown_before_a_pass() {
        assert_eq!(code(&[Pass, OutsideFaultModel], false), ExitCode::SUCCESS);
        assert_eq!(code(&[Pass, OutsideFaultModel], true), ExitCode::from(1));
        assert_eq!(code(&[Pass, Unknown], false), ExitCode::from(2));
        assert_eq!(code(&[Unknown, Fail, Pass], false), ExitCode::from(1));
        assert_eq!(code(&[Unknown, Error], false), ExitCode::from(1));
        assert_eq!(code(&[], false), ExitCode::SUCCESS);
    }
}
