//! `kzsim merge` through the real CLI: the summaries of `--shard 1/4` .. `--shard 4/4` merge
//! into the counts and failures of the unsharded run of the same seeds; summaries of
//! different campaigns or builds are refused, naming both files; missing and overlapping
//! seeds are named; a malformed summary gets a message naming the file and the problem.
//!
//! The campaign: `zk-power-loss-slow-disk` with the `zk-ack-before-fsync` bug flag on
//! seeds 8..20, which fails on most seeds and passes on some (so both kinds are merged).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const KZSIM: &str = env!("CARGO_BIN_EXE_kzsim");
const SCENARIO: &str = "scenarios/zk-power-loss-slow-disk.toml";
const SEEDS: &str = "8..20";
const SHARDS: u64 = 4;

/// A unique fresh directory under the system temp dir.
fn fresh_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("kzsim-merge-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn kzsim(args: &[&str]) -> Output {
    Command::new(KZSIM)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {KZSIM}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the campaign (`shard` = `K/N`, or unsharded) with `extra` arguments, writing its
/// reports under `dir/reports`; returns the summary file and its JSON.
fn campaign(dir: &Path, shard: Option<&str>, extra: &[&str]) -> (PathBuf, Value) {
    let reports = dir.join("reports");
    let reports = reports.to_str().expect("utf-8 path");
    let mut args = vec![
        "campaign",
        "--scenario",
        SCENARIO,
        "--seeds",
        SEEDS,
        "--jobs",
        "1",
        "--no-shrink",
        "--reports",
        reports,
        "--json",
    ];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    args.extend(extra);
    let out = kzsim(&args);
    let stdout = text(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "kzsim {args:?} exited {:?}: {}",
        out.status,
        text(&out.stderr)
    );
    let name = match shard {
        Some(s) => format!("summary-{}.json", s.replace('/', "-of-")),
        None => "summary.json".to_string(),
    };
    let file = dir.join(name);
    std::fs::write(&file, &stdout).expect("write summary");
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("campaign --json is not JSON ({e}):\n{stdout}"));
    (file, json)
}

/// The four shards and the unsharded run, each in its own directory, run once.
struct Fixture {
    shards: Vec<(PathBuf, Value)>,
    whole: Value,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = fresh_dir("fixture");
        let shards = (1..=SHARDS)
            .map(|k| {
                let dir = root.join(format!("shard-{k}"));
                campaign(
                    &dir,
                    Some(&format!("{k}/{SHARDS}")),
                    &["--bug", "zk-ack-before-fsync"],
                )
            })
            .collect();
        let (_, whole) = campaign(&root.join("whole"), None, &["--bug", "zk-ack-before-fsync"]);
        Fixture { shards, whole }
    })
}

fn paths(files: &[&PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|p| p.to_str().expect("utf-8 path").to_string())
        .collect()
}

fn merge(files: &[&PathBuf], extra: &[&str]) -> Output {
    let mut args = vec!["merge".to_string()];
    args.extend(paths(files));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kzsim(&args)
}

/// Per seed, what must not depend on sharding (wall time and report folder do).
fn seed_facts(summary: &Value) -> Vec<Value> {
    summary["seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(|s| {
            serde_json::json!([
                s["seed"],
                s["passed"],
                s["run_verdict"],
                s["verdict"],
                s["failed_checkers"],
                s["violated_rules"],
                s["judged"],
                s["unknown"],
                s["faults"],
                s["run_hash"],
            ])
        })
        .collect()
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let f = fixture();
    let whole = &f.whole;
    // The campaign has both failures and passes, so the comparison below means something.
    let failures = whole["failures"].as_u64().expect("failures");
    assert!(
        failures > 0 && failures < 12,
        "want a mix of failing and passing seeds, got {failures} failures of 12"
    );
    for (k, (_, s)) in f.shards.iter().enumerate() {
        assert_eq!(s["shard"], serde_json::json!({"k": k + 1, "n": SHARDS}));
        assert_eq!(s["seed_range"], serde_json::json!({"start": 8, "end": 20}));
        assert_eq!(s["runs"], 3);
        assert_eq!(s["spec"], whole["spec"], "shard {} spec", k + 1);
        assert_eq!(s["build"], whole["build"]);
    }
    assert_eq!(whole["format"], "kzsim-campaign-summary");
    assert_eq!(
        whole["spec"]["bug_flags"],
        serde_json::json!(["zk-ack-before-fsync"])
    );
    assert_eq!(whole["spec"]["random"], false);
    assert_eq!(whole["build"]["kzsim_version"], env!("CARGO_PKG_VERSION"));

    let files: Vec<&PathBuf> = f.shards.iter().map(|(p, _)| p).collect();
    let out = merge(&files, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "merge exits 1 when seeds failed: {}",
        text(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout).expect("merge --json is JSON");
    for field in [
        "runs",
        "failures",
        "by_verdict",
        "failures_by_checker",
        "judged_by_checker",
        "seed_range",
        "spec",
        "build",
    ] {
        assert_eq!(merged[field], whole[field], "`{field}` differs");
    }
    assert_eq!(seed_facts(&merged), seed_facts(whole));
    assert_eq!(merged["shard"], Value::Null);
    assert_eq!(merged["merged_from"], serde_json::json!(paths(&files)));
    assert_eq!(merged["missing_seed_ranges"], serde_json::json!([]));
    assert_eq!(merged["overlapping_seeds"], serde_json::json!([]));

    // Every failure keeps its report: a folder that exists, named as the unsharded run's.
    let name = |v: &Value| {
        Path::new(v.as_str().expect("a report path"))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    let merged_seeds = merged["seeds"].as_array().expect("seeds");
    let whole_seeds = whole["seeds"].as_array().expect("seeds");
    for (m, w) in merged_seeds.iter().zip(whole_seeds) {
        if m["passed"] == true {
            continue;
        }
        let report = m["report"].as_str().expect("a failure has a report");
        assert!(
            Path::new(report).join("report.json").is_file(),
            "seed {}: no report at {report}",
            m["seed"]
        );
        assert_eq!(name(&m["report"]), name(&w["report"]));
    }

    // The human-readable merge names every failure with its report folder.
    let out = merge(&files, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("every seed ran exactly once"), "{stdout}");
    assert!(stdout.contains(&format!("Failures ({failures}), each with its report:")));
    for m in merged_seeds.iter().filter(|m| m["passed"] == false) {
        let report = m["report"].as_str().expect("report");
        assert!(
            stdout.contains(&format!("report: {report}   replay: kzsim replay {report}")),
            "seed {} report not listed:\n{stdout}",
            m["seed"]
        );
    }

    // A merge of merges is the same merge.
    let dir = fresh_dir("remerge");
    let again = dir.join("merged.json");
    std::fs::write(&again, serde_json::to_vec(&merged).expect("json")).expect("write");
    let out = merge(&[&again], &["--json"]);
    let remerged: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(seed_facts(&remerged), seed_facts(whole));
    assert_eq!(remerged["by_verdict"], whole["by_verdict"]);
}

#[test]
fn summaries_of_different_specs_or_builds_are_refused() {
    let f = fixture();
    let dir = fresh_dir("mismatch");
    // Shard 2/4 of the same seeds, without the bug flag: another campaign.
    let (clean, _) = campaign(&dir, Some("2/4"), &[]);
    let out = merge(&[&f.shards[0].0, &clean], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "a refused merge prints no summary");
    assert!(
        stderr.contains(f.shards[0].0.to_str().expect("utf-8")),
        "{stderr}"
    );
    assert!(stderr.contains(clean.to_str().expect("utf-8")), "{stderr}");
    assert!(stderr.contains("campaign specs differ"), "{stderr}");
    assert!(
        stderr.contains("`bug_flags`: [\"zk-ack-before-fsync\"] vs []"),
        "{stderr}"
    );

    // The same shard as if run by another build.
    let mut other = f.shards[1].1.clone();
    other["build"]["git_commit"] = Value::from("0000000000000000000000000000000000000000");
    let other_file = dir.join("other-build.json");
    std::fs::write(&other_file, serde_json::to_vec(&other).expect("json")).expect("write");
    let out = merge(&[&f.shards[0].0, &other_file], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("kzsim builds differ"), "{stderr}");
    assert!(
        stderr.contains("0000000000000000000000000000000000000000"),
        "{stderr}"
    );
    assert!(
        stderr.contains(other_file.to_str().expect("utf-8")),
        "{stderr}"
    );
}

#[test]
fn missing_and_overlapping_seeds_are_named() {
    let f = fixture();
    let s = |k: usize| &f.shards[k - 1].0;

    // Shard 3/4 (seeds 10, 14, 18) never delivered its summary.
    let out = merge(&[s(1), s(2), s(4)], &[]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stdout.contains("MISSING SHARDS: no summary for shard 3/4 of seeds 8..20"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MISSING SEEDS: 3 of 8..20 were run by no summary: 10, 14, 18"),
        "{stdout}"
    );
    assert!(
        stderr.contains("3 seeds of 8..20 were run by no summary"),
        "{stderr}"
    );
    // Accepted with --allow-gaps: the exit code then follows the verdicts.
    let out = merge(&[s(1), s(2), s(4)], &["--allow-gaps", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let merged: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        merged["missing_seed_ranges"],
        serde_json::json!([{"start": 10, "end": 11}, {"start": 14, "end": 15}, {"start": 18, "end": 19}])
    );
    assert_eq!(merged["runs"], 9);

    // Shard 1/4 given twice: its seeds are named and counted once.
    let out = merge(&[s(1), s(2), s(3), s(4), s(1)], &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("OVERLAPPING SEEDS: 3 seeds were run by more than one summary"),
        "{stdout}"
    );
    let one = s(1).display().to_string();
    for seed in [8, 12, 16] {
        assert!(
            stdout.contains(&format!("seed {seed:<8} in {one} and {one}")),
            "seed {seed} not named:\n{stdout}"
        );
    }
    assert!(!stdout.contains("RESULTS DIFFER"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "same results: exit by verdicts");
    let out = merge(&[s(1), s(2), s(3), s(4), s(1)], &["--json"]);
    let merged: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(merged["runs"], f.whole["runs"]);
    assert_eq!(merged["by_verdict"], f.whole["by_verdict"]);
    assert_eq!(merged["overlapping_seeds"], serde_json::json!([8, 12, 16]));

    // An overlapping seed with a different run hash: named as a conflict, exit 2.
    let dir = fresh_dir("conflict");
    let mut changed = f.shards[0].1.clone();
    changed["seeds"][1]["run_hash"] = Value::from(7u64);
    let changed_file = dir.join("changed.json");
    std::fs::write(&changed_file, serde_json::to_vec(&changed).expect("json")).expect("write");
    let out = merge(&[s(1), s(2), s(3), s(4), &changed_file], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(stdout.contains(&format!("seed {:<8} in", 12)), "{stdout}");
    assert!(stdout.contains("RESULTS DIFFER"), "{stdout}");
    assert!(stdout.contains("run hash 0000000000000007"), "{stdout}");
}

#[test]
fn malformed_summaries_get_a_clear_error() {
    let f = fixture();
    let dir = fresh_dir("malformed");
    let good = &f.shards[0].1;
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    };
    let edit = |change: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        change(&mut v);
        serde_json::to_string(&v).expect("json")
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (write("truncated.json", "{\"format\": "), "not valid JSON"),
        (
            write("other.json", "{\"hello\": 1}"),
            "not a kzsim campaign summary",
        ),
        (write("list.json", "[1, 2]"), "the JSON is not an object"),
        (
            write(
                "old.json",
                &edit(&|v| {
                    let o = v.as_object_mut().expect("object");
                    o.remove("format");
                }),
            ),
            "written by an older kzsim",
        ),
        (
            write(
                "version.json",
                &edit(&|v| v["format_version"] = Value::from(99)),
            ),
            "summary layout version 99",
        ),
        (
            write("runs.json", &edit(&|v| v["runs"] = Value::from(4))),
            "`runs` says 4 but its `seeds` give 3",
        ),
        (
            write(
                "shard.json",
                &edit(&|v| v["seeds"][0]["seed"] = Value::from(9)),
            ),
            "seed 9 is not in shard 1/4",
        ),
        (
            write(
                "dup.json",
                &edit(&|v| v["seeds"][1]["seed"] = Value::from(8)),
            ),
            "seed 8 appears twice",
        ),
        (
            write(
                "passed.json",
                &edit(&|v| {
                    let seeds = v["seeds"].as_array_mut().expect("seeds");
                    let failing = seeds
                        .iter_mut()
                        .find(|s| s["passed"] == false)
                        .expect("shard 1/4 has a failing seed");
                    failing["passed"] = Value::from(true);
                }),
            ),
            "`passed` is true but its `run_verdict` is",
        ),
        (
            write(
                "type.json",
                &edit(&|v| v["seeds"][0]["run_hash"] = Value::from("x")),
            ),
            "not a valid campaign summary: invalid type",
        ),
        (dir.join("absent.json"), "cannot read"),
    ];
    for (file, want) in cases {
        let out = merge(&[&file], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
        assert!(
            stderr.contains(&format!("kzsim: {}: ", file.display())),
            "error does not start with the file name: {stderr}"
        );
        assert!(
            stderr.contains(want),
            "{}: want {want:?}, got {stderr}",
            file.display()
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
}
