//! Guided exploration (`kzsim campaign --guided`): deterministic whatever the job count,
//! starting exactly where random does, and every failure a report that replays alone,
//! through the library and the real CLI.
//!
//! The campaigns run the standard ZooKeeper ensemble (`--standard zookeeper`), the cheapest
//! built-in cluster, over a few batches of seeds. `KZSIM_SEEDS=A..B cargo test --test guided
//! -- --ignored --nocapture` prints the coverage of random and guided over a wider range.

mod common;

use common::flags::{flag_free, seeds};
use kzsim::bugs::BugFlags;
use kzsim::campaign::guided::{
    run_guided, shrink_guided, Exploration, GuidedSummary, Origin, BATCH_SEEDS,
};
use kzsim::campaign::schedule::FAULTS_MAX;
use kzsim::campaign::sweep::CampaignSpec;
use kzsim::scenario::Fault;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KZSIM: &str = env!("CARGO_BIN_EXE_kzsim");

fn ensemble(seeds: std::ops::Range<u64>, jobs: usize) -> CampaignSpec {
    CampaignSpec {
        jobs,
        ..flag_free(kzsim::bench::standard_ensemble(), true, seeds)
    }
}

/// What must be equal between two runs of one guided campaign: per seed the schedule's
/// origin, its run hash and verdict; the corpus (seeds and schedules); the coverage.
fn fingerprint(g: &GuidedSummary) -> (Vec<String>, Vec<String>, usize) {
    let seeds = g
        .summary
        .seeds
        .iter()
        .zip(&g.per_seed)
        .map(|(r, (seed, origin, new))| {
            assert_eq!(r.seed, *seed);
            format!(
                "{seed} {origin:?} +{new} {:016x} {}",
                r.run_hash,
                r.run_verdict.name()
            )
        })
        .collect();
    let corpus = g
        .corpus
        .entries
        .iter()
        .map(|e| format!("{} {:?}", e.seed, e.faults))
        .collect();
    (seeds, corpus, g.features())
}

/// Same seeds, same corpus, same per-seed schedules, run hashes and verdicts: twice on 2
/// jobs and once on 1 (batches are fixed-size and merged in seed order, so the job count
/// changes nothing).
#[test]
fn guided_is_deterministic_and_independent_of_jobs() {
    let seeds = 0..(2 * BATCH_SEEDS as u64 + 4);
    let a = run_guided(&ensemble(seeds.clone(), 2), Exploration::Guided, |_, _| {});
    let b = run_guided(&ensemble(seeds.clone(), 2), Exploration::Guided, |_, _| {});
    let c = run_guided(&ensemble(seeds.clone(), 1), Exploration::Guided, |_, _| {});
    let fa = fingerprint(&a);
    assert_eq!(fa, fingerprint(&b), "same seeds and jobs");
    assert_eq!(fa, fingerprint(&c), "1 job vs 2");
    assert_eq!(a.summary.runs, seeds.clone().count());
    assert_eq!(a.summary.failures, 0, "{}", a.summary.table());
    // The first batch is random (the schedules --random runs); later ones mostly mutate.
    assert!(a.per_seed[..BATCH_SEEDS]
        .iter()
        .all(|(_, o, _)| *o == Origin::Random));
    let mutated = a.per_seed[BATCH_SEEDS..]
        .iter()
        .filter(|(_, o, _)| matches!(o, Origin::Mutated { .. }))
        .count();
    assert!(
        mutated >= BATCH_SEEDS,
        "{mutated} mutated: {:?}",
        a.per_seed
    );
    for e in &a.corpus.entries {
        assert!(e.new_features > 0);
        assert!(e.faults.len() <= FAULTS_MAX + 1);
        assert_eq!(e.faults.last().map(|f| &f.fault), Some(&Fault::HealAll));
    }
    assert!(
        a.growth.windows(2).all(|w| w[0].1 <= w[1].1),
        "{:?}",
        a.growth
    );
}

/// Random and guided over the same seeds: the first batch is the same runs (guided starts
/// exactly where random does); after it the coverage of each is printed, not compared.
/// Over three batches either may be ahead (random draws more one-off fault/phase
/// combinations early); over 300 seeds guided was ahead when measured (this ensemble:
/// 201 vs 186 features on seeds 0..300, 182 vs 180 on 1000..1300).
#[test]
fn guided_starts_where_random_does_and_its_coverage_is_measured() {
    let seeds = 0..(3 * BATCH_SEEDS as u64);
    let random = run_guided(&ensemble(seeds.clone(), 2), Exploration::Random, |_, _| {});
    let guided = run_guided(&ensemble(seeds.clone(), 2), Exploration::Guided, |_, _| {});
    assert_eq!(random.growth[0], guided.growth[0]);
    let hashes = |g: &GuidedSummary| -> Vec<u64> {
        g.summary.seeds[..BATCH_SEEDS]
            .iter()
            .map(|r| r.run_hash)
            .collect()
    };
    assert_eq!(hashes(&random), hashes(&guided));
    assert!(random.per_seed.iter().all(|(_, o, _)| *o == Origin::Random));
    println!(
        "seeds {seeds:?}: random {} features {:?}, guided {} features {:?}",
        random.features(),
        random.growth,
        guided.features(),
        guided.growth
    );
}

/// `KZSIM_SEEDS` (default 0..300) random vs guided, flag-free, on both standard clusters:
/// the coverage each reached, by family. A measurement, not an assertion.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_coverage_random_vs_guided() {
    let range = seeds("0..300");
    // KZSIM_CLUSTER=zookeeper|kafka and KZSIM_EXPLORE=random|guided narrow it.
    let only = |var: &str| std::env::var(var).ok();
    for (name, scenario) in [
        ("zookeeper", kzsim::bench::standard_ensemble()),
        ("kafka", kzsim::bench::standard_cluster()),
    ] {
        if only("KZSIM_CLUSTER").is_some_and(|c| c != name) {
            continue;
        }
        let mut reached = Vec::new();
        for exploration in [Exploration::Random, Exploration::Guided] {
            let e = format!("{exploration:?}").to_lowercase();
            if only("KZSIM_EXPLORE").is_some_and(|x| x != e) {
                continue;
            }
            let spec = CampaignSpec {
                jobs: 1,
                ..flag_free(scenario.clone(), true, range.clone())
            };
            let g = run_guided(&spec, exploration, |_, _| {});
            println!(
                "{name} {exploration:?} {range:?}: {} failures\n{}",
                g.summary.failures,
                g.coverage_text()
            );
            reached.push(g.corpus.hits.clone());
        }
        if let [random, guided] = &reached[..] {
            for (label, a, b) in [
                ("random only", random, guided),
                ("guided only", guided, random),
            ] {
                let only: Vec<String> = a
                    .iter()
                    .filter(|(f, _)| !b.contains_key(f))
                    .map(|(f, n)| format!("{f:?} x{n}"))
                    .collect();
                println!("{name} {label} ({}):\n  {}", only.len(), only.join("\n  "));
            }
        }
    }
}

fn kzsim(args: &[&str], dir: &Path) -> Output {
    Command::new(KZSIM)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {KZSIM}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A unique fresh directory under the system temp dir.
fn fresh_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("kzsim-guided-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// `--guided --bug zk-quorum-off-by-one` on the standard ensemble through the CLI: it
/// fails (exit 1), the JSON summary records the guided mode and its coverage, a failure
/// on a *mutated* schedule (shrunk greedily) has a report whose scenario.toml carries that
/// schedule, and `kzsim replay` reproduces it exactly; a random summary of the same
/// campaign does not merge with it.
#[test]
fn a_guided_failure_reports_and_replays_and_does_not_merge_with_random() {
    let dir = fresh_dir("replay");
    let reports = dir.join("reports");
    let reports = reports.to_str().expect("utf-8 path");
    // Seeds 0..16 are the first, random, batch; most of 16..18 are mutated.
    let out = kzsim(
        &[
            "campaign",
            "--standard",
            "zookeeper",
            "--guided",
            "--seeds",
            &format!("0..{}", BATCH_SEEDS + 2),
            "--jobs",
            "2",
            "--no-shrink",
            "--bug",
            "zk-quorum-off-by-one",
            "--reports",
            reports,
            "--json",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json: Value = serde_json::from_str(&text(&out.stdout)).expect("JSON summary");
    assert_eq!(json["spec"]["guided"], Value::Bool(true));
    assert_eq!(json["spec"]["random"], Value::Bool(true));
    assert!(json["coverage"]["features"].as_u64().unwrap_or(0) > 20);
    assert_eq!(
        json["coverage"]["seeds"].as_array().map(|a| a.len()),
        Some(BATCH_SEEDS + 2)
    );
    let mutated: Vec<u64> = json["coverage"]["seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .filter(|s| s["origin"].get("mutated").is_some())
        .filter_map(|s| s["seed"].as_u64())
        .collect();
    let failing = json["seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .find(|s| {
            s["passed"] == Value::Bool(false)
                && s["seed"].as_u64().is_some_and(|x| mutated.contains(&x))
        })
        .unwrap_or_else(|| panic!("no failing mutated seed among {mutated:?}: {json}"));
    let report = failing["report"].as_str().expect("a report folder");
    let report = dir.join(report);
    let toml = std::fs::read_to_string(report.join("scenario.toml")).expect("scenario.toml");
    assert!(toml.contains("heal-all"), "{toml}");
    let replay = kzsim(&["replay", report.to_str().expect("utf-8")], &dir);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}{}",
        text(&replay.stdout),
        text(&replay.stderr)
    );
    assert!(text(&replay.stdout).contains("Reproduced exactly"));

    // A random campaign's summary of the same cluster and flag is a different campaign.
    let guided_file = dir.join("guided.json");
    std::fs::write(&guided_file, &out.stdout).expect("write");
    let random = kzsim(
        &[
            "campaign",
            "--standard",
            "zookeeper",
            "--random",
            "--seeds",
            &format!("{}..{}", BATCH_SEEDS + 2, BATCH_SEEDS + 3),
            "--jobs",
            "1",
            "--no-shrink",
            "--bug",
            "zk-quorum-off-by-one",
            "--reports",
            reports,
            "--json",
        ],
        &dir,
    );
    let random_file = dir.join("random.json");
    std::fs::write(&random_file, &random.stdout).expect("write");
    let merged = kzsim(
        &[
            "merge",
            guided_file.to_str().expect("utf-8"),
            random_file.to_str().expect("utf-8"),
        ],
        &dir,
    );
    assert_eq!(merged.status.code(), Some(2));
    assert!(
        text(&merged.stderr).contains("`guided`: true vs false"),
        "{}",
        text(&merged.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Shrinking a failing mutated schedule keeps it a valid schedule (sorted, ending with the
/// heal-all) that still fails, and its report replays exactly.
#[test]
fn a_shrunk_guided_failure_replays() {
    let spec = CampaignSpec {
        bugs: BugFlags::from_names(&["zk-quorum-off-by-one"]).expect("known flag"),
        shrink_runs_max: 8,
        ..ensemble(0..2 * BATCH_SEEDS as u64, 2)
    };
    // Unshrunk, each failure keeps its first run; shrink one mutated failure by hand.
    let g = run_guided(&spec, Exploration::Guided, |_, _| {});
    let (r, origin) = g
        .summary
        .seeds
        .iter()
        .zip(&g.per_seed)
        .find(|(r, (_, o, _))| !r.passed && matches!(o, Origin::Mutated { .. }))
        .map(|(r, (_, o, _))| (r, o))
        .unwrap_or_else(|| panic!("no failing mutated seed: {:?}", g.per_seed));
    let (first, original) = r
        .failure
        .as_deref()
        .expect("a failing seed keeps its outcome");
    let (o, faults) = shrink_guided(
        &CampaignSpec {
            shrink: true,
            ..spec.clone()
        },
        r.seed,
        origin,
        first.clone(),
    );
    assert!(faults.len() <= original.len());
    assert!(faults.windows(2).all(|w| w[0].at <= w[1].at), "{faults:?}");
    assert_eq!(faults.last().map(|f| &f.fault), Some(&Fault::HealAll));
    assert!(!o.passed());
    let root = fresh_dir("shrunk");
    let scenario = kzsim::campaign::sweep::random_scenario(&spec.scenario);
    let dir = kzsim::report::folder::write_report(&root, &scenario, None, &o, &faults)
        .expect("report written");
    let replay = kzsim::report::folder::replay(&dir).expect("replays");
    assert!(
        replay.same_hash && replay.same_verdict,
        "{} vs {}",
        replay.stored.verdict,
        replay.outcome.verdict_line()
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The text summary ends with the coverage by family, the corpus, the seeds run and the
/// failures, then one report line per failure.
#[test]
fn the_text_summary_prints_coverage() {
    let dir = fresh_dir("text");
    let reports = dir.join("reports");
    let out = kzsim(
        &[
            "campaign",
            "--standard",
            "zookeeper",
            "--guided",
            "--seeds",
            "0..2",
            "--jobs",
            "1",
            "--no-shrink",
            "--bug",
            "zk-quorum-off-by-one",
            "--reports",
            reports.to_str().expect("utf-8 path"),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("guided: coverage "))
        .unwrap_or_else(|| panic!("no coverage line:\n{stdout}"));
    for part in [
        "zk-server ",
        "fault-landed ",
        "corpus ",
        "2 seeds run",
        "2 failures",
    ] {
        assert!(line.contains(part), "{part:?} missing: {line}");
    }
    assert!(stdout.contains("coverage growth (seeds run:features): 2:"));
    assert_eq!(
        stdout.matches("replay: kzsim replay").count(),
        2,
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--guided --shard` is refused: each seed learns from the ones before it.
#[test]
fn guided_cannot_be_sharded() {
    let dir = fresh_dir("shard");
    let out = kzsim(
        &["campaign", "--guided", "--seeds", "0..4", "--shard", "1/2"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--shard"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
