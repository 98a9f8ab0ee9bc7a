//! Report folders: everything needed to understand and replay one failing run.
//!
//! `reports/<scenario>-seed<seed>[-N]/` holds `report.json` (what ran and what the checkers
//! found), `scenario.toml` (the exact, standalone scenario with the shrunk schedule),
//! `history.json`, `report.md` and `report.html`. A folder is written under a temporary
//! name and renamed when complete, and never replaces an earlier one.

use super::{narrate, render_run_html, Highlight};
use crate::bugs::BugFlags;
use crate::check::Verdict;
use crate::runner::{run_scenario, RunOptions, RunOutcome};
use crate::scenario::{Scenario, TimedFault};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The machine-readable summary in `report.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportJson {
    /// kzsim's version.
    pub kzsim_version: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file it came from, if any.
    pub scenario_file: Option<String>,
    /// The seed.
    pub seed: u64,
    /// Bug flags that were on.
    pub bug_flags: Vec<String>,
    /// The fault schedule that ran (shrunk if shrinking was on), as scenario TOML.
    pub schedule_toml: String,
    /// Faults in the schedule.
    pub faults: usize,
    /// The run's hash (trace and history).
    pub run_hash: String,
    /// One-line verdict.
    pub verdict: String,
    /// Each checker's verdict.
    pub checks: Vec<crate::check::CheckReport>,
    /// Teaching expectations.
    pub teaching: Vec<crate::runner::TeachingResult>,
    /// The run's own error, if it failed to complete.
    pub error: Option<String>,
    /// The replay command.
    pub replay: String,
}

/// Writes a report folder under `root` and returns its path.
pub fn write_report(
    root: &Path,
    scenario: &Scenario,
    scenario_file: Option<&Path>,
    outcome: &RunOutcome,
    faults: &[TimedFault],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(root)?;
    let base = format!("{}-seed{}", sanitize(&scenario.name), outcome.seed);
    let mut final_dir = root.join(&base);
    let mut n = 2;
    while final_dir.exists() {
        final_dir = root.join(format!("{base}-{n}"));
        n += 1;
    }
    let tmp = root.join(format!(
        ".{}.tmp-{}",
        final_dir
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("report"),
        std::process::id()
    ));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let standalone = scenario.with_faults(faults.to_vec());
    let schedule_toml = standalone.to_toml();
    let report = ReportJson {
        kzsim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        scenario_file: scenario_file.map(|p| p.display().to_string()),
        seed: outcome.seed,
        bug_flags: outcome.bugs.names().into_iter().map(String::from).collect(),
        schedule_toml: schedule_toml.clone(),
        faults: faults.len(),
        run_hash: format!("{:016x}", outcome.run_hash),
        verdict: outcome.verdict_line(),
        checks: outcome.checks.clone(),
        teaching: outcome.teaching.clone(),
        error: outcome.error.clone(),
        replay: format!("kzsim replay {}", final_dir.display()),
    };
    std::fs::write(
        tmp.join("report.json"),
        serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(tmp.join("scenario.toml"), &schedule_toml)?;
    std::fs::write(
        tmp.join("history.json"),
        serde_json::to_string(&outcome.history).map_err(std::io::Error::other)?,
    )?;
    std::fs::write(tmp.join("report.md"), markdown(&report, outcome))?;
    let highlights = highlights(outcome);
    std::fs::write(
        tmp.join("report.html"),
        render_run_html(
            &outcome.history,
            &format!("{} seed {}", scenario.name, outcome.seed),
            &outcome.checks,
            &highlights,
        ),
    )?;
    std::fs::rename(&tmp, &final_dir)?;
    Ok(final_dir)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// One highlight per violation, then one per breach outside the fault model (labelled
/// [`OUTSIDE_LABEL`] so a reader never takes it for a violation).
pub fn highlights(outcome: &RunOutcome) -> Vec<Highlight> {
    let first_at = |ops: &[usize], events: &[usize]| {
        ops.iter()
            .filter_map(|&i| outcome.history.ops.get(i))
            .map(|o| o.invoke)
            .min()
            .or_else(|| {
                events
                    .iter()
                    .filter_map(|&i| outcome.history.events.get(i))
                    .map(|e| e.at)
                    .min()
            })
    };
    let mut out = Vec::new();
    for c in &outcome.checks {
        for v in c.verdict.violations() {
            out.push(Highlight {
                checker: Some(c.checker.clone()),
                label: format!("{}: {}", v.checker, v.message),
                ops: v.ops.clone(),
                events: v.events.clone(),
                at: first_at(&v.ops, &v.events),
            });
        }
    }
    for c in &outcome.checks {
        for e in c.verdict.excuses() {
            out.push(Highlight {
                checker: Some(c.checker.clone()),
                label: format!(
                    "{OUTSIDE_LABEL} {}: {} ({})",
                    e.rule, e.message, e.documented
                ),
                ops: e.ops.clone(),
                events: e.events.clone(),
                at: first_at(&e.ops, &e.events),
            });
        }
    }
    out
}

/// The label prefix of a highlight for a breach outside the fault model.
pub const OUTSIDE_LABEL: &str = "OUTSIDE THE FAULT MODEL (allowed under these faults) —";

fn markdown(r: &ReportJson, o: &RunOutcome) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} — seed {}\n", r.scenario, r.seed);
    let _ = writeln!(
        md,
        "**Verdict:** {}  \n**Bug flags:** {}  \n**Run hash:** `{}`  \n**Replay:** `{}`\n",
        r.verdict,
        if r.bug_flags.is_empty() {
            "none".into()
        } else {
            r.bug_flags.join(", ")
        },
        r.run_hash,
        r.replay
    );
    if let Some(e) = &r.error {
        let _ = writeln!(md, "**The run failed:** {e}\n");
    }
    let _ = writeln!(md, "## Checkers\n");
    for c in &r.checks {
        let _ = writeln!(
            md,
            "- `{}`: {} (judged: {})",
            c.checker,
            match &c.verdict {
                Verdict::Ok => "ok".to_string(),
                Verdict::Unknown { reason } => format!("unknown ({reason})"),
                Verdict::Violated(v) => format!("**violated** ({} violation(s))", v.len()),
                Verdict::OutsideFaultModel(e) => format!(
                    "**outside the fault model** ({} breach(es) the real system allows under these faults)",
                    e.len()
                ),
            },
            c.judged()
        );
        for n in &c.notes {
            let _ = writeln!(md, "  - note: {n}");
        }
        if let Verdict::Violated(vs) = &c.verdict {
            for v in vs.iter().take(5) {
                let _ = writeln!(md, "  - {}", v.message);
                for &i in v.ops.iter().take(10) {
                    if let Some(op) = o.history.ops.get(i) {
                        let _ = writeln!(
                            md,
                            "    - op {i}: {} p{} {:?} -> {:?} {:?} (zxid {:?})",
                            op.invoke, op.process, op.call, op.outcome, op.ret, op.zxid
                        );
                    }
                }
                if let Some(s) = &v.state_before {
                    let _ = writeln!(md, "    - state before: {s}");
                }
            }
        }
        for e in c.verdict.excuses() {
            let _ = writeln!(
                md,
                "  - {} (the real system: {}; fault events {:?})",
                e.message, e.documented, e.events
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Fault schedule\n\n```toml\n{}```\n",
        r.schedule_toml
    );
    let _ = writeln!(
        md,
        "## Timeline\n\n```\n{}\n```",
        narrate(&o.history, false)
    );
    md
}

/// What a replay found.
pub struct Replay {
    /// The stored report.
    pub stored: ReportJson,
    /// The new run.
    pub outcome: RunOutcome,
    /// True if the run hash matches.
    pub same_hash: bool,
    /// True if every checker gave the same kind of verdict (ok, violated, outside the
    /// fault model, unknown) and the run erred or not alike.
    pub same_verdict: bool,
}

/// Re-runs a report folder.
pub fn replay(dir: &Path) -> Result<Replay, String> {
    let json = std::fs::read_to_string(dir.join("report.json"))
        .map_err(|e| format!("{}: {e}", dir.join("report.json").display()))?;
    let stored: ReportJson = serde_json::from_str(&json)
        .map_err(|e| format!("{}: {e}", dir.join("report.json").display()))?;
    let scenario_path = dir.join("scenario.toml");
    let scenario = crate::scenario::load(&scenario_path).map_err(|e| e.to_string())?;
    let bugs = BugFlags::from_names(&stored.bug_flags)
        .map_err(|e| format!("{}: {e}", dir.join("report.json").display()))?;
    let outcome = run_scenario(
        &scenario,
        &RunOptions {
            seed: stored.seed,
            bugs,
            faults: None,
        },
    );
    let same_hash = format!("{:016x}", outcome.run_hash) == stored.run_hash;
    let judged = |checks: &[crate::check::CheckReport]| -> Vec<(String, &'static str)> {
        checks
            .iter()
            .map(|c| (c.checker.clone(), c.verdict.name()))
            .collect()
    };
    let same_verdict = judged(&outcome.checks) == judged(&stored.checks)
        && outcome.error.is_some() == stored.error.is_some();
    Ok(Replay {
        stored,
        outcome,
        same_hash,
        same_verdict,
    })
}
