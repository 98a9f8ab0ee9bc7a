//! A campaign summary as a self-describing record, and the merge of shards' records.
//!
//! `kzsim campaign --json` prints a [`CampaignRecord`]: which campaign ran (the
//! [`SpecRecord`]: scenario and its content hash, random, guided or scripted schedules,
//! bug flags, shrinking, strict fault model), which seeds it was asked for (the range
//! before sharding, and the shard `K/N`), which build ran it ([`BuildInfo`]: crate version
//! and git commit), and what each seed did (verdict, run hash, the report folder written
//! for it) with the counts computed from those seeds; a guided campaign adds its coverage
//! and corpus.
//!
//! `kzsim merge` reads records ([`read_record`]), refuses to combine records of different
//! campaigns or builds (naming the two files and each difference), and otherwise combines
//! them into one record ([`merge`]) whose counts are recomputed from the seeds, so merging
//! the shards `1/N..N/N` of a sweep gives the same counts and failures as the unsharded
//! run. Seeds of the overall range that no record ran (a shard that never finished) and
//! seeds that several records ran are named.

use super::sweep::{CampaignSpec, CampaignSummary, SeedResult};
use crate::runner::RunVerdict;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The value of a record's `format` field.
pub const FORMAT: &str = "kzsim-campaign-summary";
/// The record layout this build writes and reads (`format_version`).
pub const FORMAT_VERSION: u32 = 1;
/// Summary files larger than this are refused unread (a 100,000-seed shard is about
/// 60 MB).
pub const SUMMARY_BYTES_MAX: u64 = 1 << 30;
/// At most this many summaries in one merge.
pub const MERGE_INPUTS_MAX: usize = 10_000;
/// Human-readable output lists at most this many missing shards, gaps and overlaps
/// (the JSON record has them all).
pub const LISTED_MAX: usize = 20;

/// Which build ran a campaign.
///
/// Guarantees: two binaries built from different commits (as `git rev-parse HEAD` or the
/// `KZSIM_GIT_COMMIT` build variable saw it) or with different crate versions differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The crate version (`Cargo.toml`).
    pub kzsim_version: String,
    /// The git commit it was built from, or `unknown` (see `build.rs`).
    pub git_commit: String,
}

impl BuildInfo {
    /// This binary's build.
    pub fn current() -> BuildInfo {
        BuildInfo {
            kzsim_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: env!("KZSIM_GIT_COMMIT").to_string(),
        }
    }
}

impl std::fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kzsim {} (commit {})",
            self.kzsim_version, self.git_commit
        )
    }
}

/// What a campaign ran, enough to tell whether two shards belong to one campaign.
///
/// Guarantees: two specs with equal fields other than `scenario_file` run every seed the
/// same way (same scenario content, schedule source, bug flags, shrinking and strictness);
/// `jobs` is left out because it does not change any seed's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecRecord {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file as given on the command line; `None` for the benchmark's standard
    /// cluster (or a scenario built in code). Informational: shards may name one file by
    /// different paths, so it is not compared.
    pub scenario_file: Option<String>,
    /// FNV-1a (64 bits, hex) of the scenario written back as TOML: equal for equal
    /// scenario contents, whatever file they came from.
    pub scenario_hash: String,
    /// Random fault schedules per seed (`--random`) instead of the scenario's own.
    pub random: bool,
    /// Guided exploration (`--guided`): schedules mutated from a corpus that earlier seeds
    /// of the same range built, so a seed's schedule depends on the range it ran in.
    /// Absent in records of builds before it (read as false).
    #[serde(default)]
    pub guided: bool,
    /// Bug flags that were on, sorted.
    pub bug_flags: Vec<String>,
    /// Failing schedules were shrunk.
    pub shrink: bool,
    /// Runs allowed per shrink.
    pub shrink_runs_max: usize,
    /// Runs outside the fault model counted as failures (`--strict-fault-model`).
    pub strict_fault_model: bool,
}

impl SpecRecord {
    /// The record of `spec`, whose scenario came from `scenario_file` (if any).
    pub fn of(spec: &CampaignSpec, scenario_file: Option<&Path>) -> SpecRecord {
        let toml = spec.scenario.to_toml();
        let hash = kzsim_sim::trace::fnv1a(FNV_OFFSET, toml.as_bytes());
        SpecRecord {
            scenario: spec.scenario.name.clone(),
            scenario_file: scenario_file.map(|p| p.display().to_string()),
            scenario_hash: format!("{hash:016x}"),
            random: spec.random,
            guided: false,
            bug_flags: spec.bugs.names().into_iter().map(String::from).collect(),
            shrink: spec.shrink,
            shrink_runs_max: spec.shrink_runs_max,
            strict_fault_model: spec.strict_fault_model,
        }
    }

    /// Each compared field on which `self` and `other` differ, as `field: A vs B`.
    pub fn differences(&self, other: &SpecRecord) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |field: &str, a: String, b: String| {
            if a != b {
                out.push(format!("`{field}`: {a} vs {b}"));
            }
        };
        cmp("scenario", self.scenario.clone(), other.scenario.clone());
        cmp(
            "scenario_hash",
            self.scenario_hash.clone(),
            other.scenario_hash.clone(),
        );
        cmp("random", self.random.to_string(), other.random.to_string());
        cmp("guided", self.guided.to_string(), other.guided.to_string());
        cmp(
            "bug_flags",
            format!("{:?}", self.bug_flags),
            format!("{:?}", other.bug_flags),
        );
        cmp("shrink", self.shrink.to_string(), other.shrink.to_string());
        cmp(
            "shrink_runs_max",
            self.shrink_runs_max.to_string(),
            other.shrink_runs_max.to_string(),
        );
        cmp(
            "strict_fault_model",
            self.strict_fault_model.to_string(),
            other.strict_fault_model.to_string(),
        );
        out
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        format!(
            "scenario `{}` ({}, scenario hash {}), {}, bug flags: {}, shrinking {}, strict fault model {}",
            self.scenario,
            self.scenario_file
                .as_deref()
                .unwrap_or("the standard cluster or a scenario built in code"),
            self.scenario_hash,
            if self.guided {
                "guided fault schedules (--guided)"
            } else if self.random {
                "random fault schedules"
            } else {
                "the scenario's own schedule"
            },
            if self.bug_flags.is_empty() {
                "none".to_string()
            } else {
                self.bug_flags.join(", ")
            },
            if self.shrink {
                format!("on (at most {} runs)", self.shrink_runs_max)
            } else {
                "off".to_string()
            },
            if self.strict_fault_model { "on" } else { "off" },
        )
    }
}

/// FNV-1a's offset basis (the start value for [`kzsim_sim::trace::fnv1a`]).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A half-open range of seeds, `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeedRange {
    /// The first seed.
    pub start: u64,
    /// One past the last seed.
    pub end: u64,
}

impl SeedRange {
    /// True if `seed` is in the range.
    pub fn contains(&self, seed: u64) -> bool {
        self.start <= seed && seed < self.end
    }
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.end.checked_sub(self.start) == Some(1) {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}..{}", self.start, self.end)
        }
    }
}

/// Shard `k` of `n` (1-based): the seeds `s` with `s % n == k - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, from 1.
    pub k: u64,
    /// How many shards.
    pub n: u64,
}

impl Shard {
    /// True if this shard runs `seed`.
    pub fn runs(&self, seed: u64) -> bool {
        seed % self.n == self.k - 1
    }

    /// The first seed of `range` this shard runs, if any. (Computed in 128 bits: `k` and
    /// `n` come from files and may be anywhere in `u64`.)
    pub fn first_seed_in(&self, range: SeedRange) -> Option<u64> {
        let (k, n, start) = (self.k as u128, self.n as u128, range.start as u128);
        let first = start + (k + n - 1 - start % n) % n;
        (first < range.end as u128).then_some(first as u64)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// A campaign summary with everything needed to merge it with others.
///
/// Guarantees (of records this module writes, and checked by [`read_record`] on records
/// it reads): every seed in `seeds` lies in `seed_range` and, for a shard, in the shard;
/// no seed appears twice; the counts (`runs`, `failures`, `by_verdict`,
/// `failures_by_checker`, `judged_by_checker`) are those computed from `seeds`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CampaignRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The build that ran it.
    pub build: BuildInfo,
    /// The campaign.
    pub spec: SpecRecord,
    /// The seeds asked for, before sharding (for a merge: from the lowest start to the
    /// highest end of its inputs).
    pub seed_range: SeedRange,
    /// The shard this record ran; `None` for an unsharded run or a merge.
    pub shard: Option<Shard>,
    /// For a merge: the summary files merged, in the order given.
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// For a merge: the seeds of `seed_range` that no input ran, as ranges.
    #[serde(default)]
    pub missing_seed_ranges: Vec<SeedRange>,
    /// For a merge: seeds that more than one input ran (counted once, from the first).
    #[serde(default)]
    pub overlapping_seeds: Vec<u64>,
    /// For a guided campaign (not a merge): the coverage it reached and its corpus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<super::guided::CoverageRecord>,
    /// Counts and per-seed results.
    #[serde(flatten)]
    pub summary: CampaignSummary,
}

impl CampaignRecord {
    /// The record of one shard (or an unsharded run) of `spec` whose scenario came from
    /// `scenario_file`.
    pub fn of_run(
        spec: &CampaignSpec,
        scenario_file: Option<&Path>,
        summary: CampaignSummary,
    ) -> CampaignRecord {
        CampaignRecord {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            build: BuildInfo::current(),
            spec: SpecRecord::of(spec, scenario_file),
            seed_range: SeedRange {
                start: spec.seeds.start,
                end: spec.seeds.end,
            },
            shard: spec.shard.map(|(k, n)| Shard { k, n }),
            merged_from: Vec::new(),
            missing_seed_ranges: Vec::new(),
            overlapping_seeds: Vec::new(),
            coverage: None,
            summary,
        }
    }

    /// The record of a guided campaign over `spec` (see [`super::guided::run_guided`]).
    pub fn of_guided(
        spec: &CampaignSpec,
        scenario_file: Option<&Path>,
        guided: super::guided::GuidedSummary,
    ) -> CampaignRecord {
        let coverage = guided.record();
        let mut record = CampaignRecord::of_run(spec, scenario_file, guided.summary);
        record.spec.random = true;
        record.spec.guided = true;
        record.coverage = Some(coverage);
        record
    }

    /// The record as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a campaign record serializes")
    }

    /// What is wrong with the record, if anything: the guarantees of [`CampaignRecord`].
    fn inconsistency(&self) -> Option<String> {
        if self.seed_range.end <= self.seed_range.start {
            return Some(format!(
                "`seed_range` {}..{} is empty",
                self.seed_range.start, self.seed_range.end
            ));
        }
        if let Some(s) = self.shard {
            if s.k == 0 || s.n == 0 || s.k > s.n {
                return Some(format!(
                    "`shard` {}/{} is not a shard (1 <= K <= N)",
                    s.k, s.n
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for r in &self.summary.seeds {
            if !self.seed_range.contains(r.seed) {
                return Some(format!(
                    "seed {} is outside `seed_range` {}",
                    r.seed, self.seed_range
                ));
            }
            if let Some(s) = self.shard {
                if !s.runs(r.seed) {
                    return Some(format!("seed {} is not in shard {s}", r.seed));
                }
            }
            if !seen.insert(r.seed) {
                return Some(format!("seed {} appears twice in `seeds`", r.seed));
            }
            let passed = match r.run_verdict {
                RunVerdict::Pass => true,
                RunVerdict::OutsideFaultModel => !self.spec.strict_fault_model,
                RunVerdict::Unknown | RunVerdict::Fail | RunVerdict::Error => false,
            };
            if passed != r.passed {
                return Some(format!(
                    "seed {}: `passed` is {} but its `run_verdict` is {}{}",
                    r.seed,
                    r.passed,
                    r.run_verdict.name(),
                    if self.spec.strict_fault_model {
                        " (strict fault model)"
                    } else {
                        ""
                    }
                ));
            }
        }
        let again = CampaignSummary::from_seeds(self.summary.seeds.clone(), 0.0);
        let s = &self.summary;
        let checks = [
            ("runs", s.runs.to_string(), again.runs.to_string()),
            (
                "failures",
                s.failures.to_string(),
                again.failures.to_string(),
            ),
            (
                "by_verdict",
                format!("{:?}", s.by_verdict),
                format!("{:?}", again.by_verdict),
            ),
            (
                "failures_by_checker",
                format!("{:?}", s.failures_by_checker),
                format!("{:?}", again.failures_by_checker),
            ),
            (
                "judged_by_checker",
                format!("{:?}", s.judged_by_checker),
                format!("{:?}", again.judged_by_checker),
            ),
        ];
        checks
            .into_iter()
            .find(|(_, said, computed)| said != computed)
            .map(|(field, said, computed)| {
                format!("`{field}` says {said} but its `seeds` give {computed}")
            })
    }
}

/// Why summaries could not be read or merged. Each names the file (or files) concerned.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read, is not a campaign summary, or contradicts itself.
    #[error("{}: {msg}", file.display())]
    BadFile {
        /// The summary file.
        file: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// Two files are not shards of one campaign run by one build.
    #[error(
        "{} and {} are not shards of one campaign: their {what} differ\n  {}\n\
         Merge only summaries of the same campaign command run by the same kzsim build.",
        first.display(),
        file.display(),
        details.join("\n  ")
    )]
    Mismatch {
        /// The first summary given (the reference).
        first: PathBuf,
        /// The summary that differs from it.
        file: PathBuf,
        /// `campaign specs` or `kzsim builds`.
        what: &'static str,
        /// Each difference, `field: first's vs file's`.
        details: Vec<String>,
    },
    /// Nothing to merge.
    #[error("no summary files given")]
    NoInputs,
    /// More files than [`MERGE_INPUTS_MAX`].
    #[error("{count} summary files is more than {MERGE_INPUTS_MAX}; merge them in groups, then merge the results")]
    TooManyInputs {
        /// How many were given.
        count: usize,
    },
}

fn bad(file: &Path, msg: impl Into<String>) -> MergeError {
    MergeError::BadFile {
        file: file.to_path_buf(),
        msg: msg.into(),
    }
}

/// Parses and checks a campaign record from `text` (read from `file`, named in errors).
pub fn parse_record(file: &Path, text: &str) -> Result<CampaignRecord, MergeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(file, format!("not valid JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(bad(
            file,
            "not a kzsim campaign summary: the JSON is not an object (write summaries with `kzsim campaign --json`)",
        ));
    };
    match obj.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(bad(
                file,
                format!("not a kzsim campaign summary: `format` is {other:?}, not {FORMAT:?}"),
            ))
        }
        None if obj.contains_key("by_verdict") => {
            return Err(bad(
                file,
                "a campaign summary without the record header (`format`, `spec`, `build`): \
                 written by an older kzsim; run the shard again with this one",
            ))
        }
        None => {
            return Err(bad(
                file,
                format!("not a kzsim campaign summary: no `format`: {FORMAT:?} field (write summaries with `kzsim campaign --json`)"),
            ))
        }
    }
    match obj.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(bad(
                file,
                format!("summary layout version {v}; this kzsim reads version {FORMAT_VERSION}"),
            ))
        }
        None => return Err(bad(file, "no `format_version` number")),
    }
    let record: CampaignRecord = serde_json::from_str(text)
        .map_err(|e| bad(file, format!("not a valid campaign summary: {e}")))?;
    if let Some(msg) = record.inconsistency() {
        return Err(bad(file, msg));
    }
    Ok(record)
}

/// Reads and checks the campaign record in `file` (at most [`SUMMARY_BYTES_MAX`] bytes).
pub fn read_record(file: &Path) -> Result<CampaignRecord, MergeError> {
    let meta = std::fs::metadata(file).map_err(|e| bad(file, format!("cannot read: {e}")))?;
    if meta.len() > SUMMARY_BYTES_MAX {
        return Err(bad(
            file,
            format!(
                "{} bytes is more than the {SUMMARY_BYTES_MAX} a summary may have",
                meta.len()
            ),
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| bad(file, format!("cannot read: {e}")))?;
    parse_record(file, &text)
}

/// A seed that more than one input ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The seed.
    pub seed: u64,
    /// Every input that ran it, in the order given (the first one's result is kept).
    pub files: Vec<PathBuf>,
    /// When the inputs disagree on its run hash or verdict (a nondeterminism bug, or
    /// inputs that are not what they claim), each one's hash and verdict.
    pub conflict: Option<String>,
}

/// The result of a merge: the merged record and what the inputs did not cover.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The merged record: counts recomputed from the seeds of every input (each seed once).
    pub record: CampaignRecord,
    /// The inputs: file, its shard, its seed range and how many seeds it ran.
    pub inputs: Vec<(PathBuf, Option<Shard>, SeedRange, usize)>,
    /// Whole shards of the sweep no input was (when every input is a shard `K/N` of one
    /// seed range and N), with the number of such shards; at most [`LISTED_MAX`] listed.
    pub missing_shards: (Vec<Shard>, u64),
    /// Seeds run by more than one input.
    pub overlaps: Vec<Overlap>,
    /// For each seed kept, the index of the input it came from.
    origin: BTreeMap<u64, usize>,
}

impl Merged {
    /// True if every seed of the overall range was run by some input.
    pub fn is_complete(&self) -> bool {
        self.record.missing_seed_ranges.is_empty()
    }

    /// True if some seed was run by several inputs with different results.
    pub fn has_conflicts(&self) -> bool {
        self.overlaps.iter().any(|o| o.conflict.is_some())
    }

    /// The number of missing seeds.
    pub fn missing_seeds(&self) -> u64 {
        self.record
            .missing_seed_ranges
            .iter()
            .map(|r| r.end - r.start)
            .sum()
    }

    /// Where the report of `r` is, seen from the current directory, and whether it is
    /// there: the recorded path if it exists, else the same path under the directory of the
    /// summary it came from if that exists, else the recorded path (not found).
    fn report_location(&self, r: &SeedResult) -> Option<(String, bool)> {
        let recorded = r.report.as_deref()?;
        if Path::new(recorded).exists() {
            return Some((recorded.to_string(), true));
        }
        let beside = self
            .origin
            .get(&r.seed)
            .and_then(|&i| self.inputs.get(i))
            .and_then(|(file, ..)| file.parent())
            .map(|dir| dir.join(recorded));
        match beside {
            Some(p) if p.exists() => Some((p.display().to_string(), true)),
            _ => Some((recorded.to_string(), false)),
        }
    }

    /// The merge for people: the inputs, the campaign, the counts, every failure with its
    /// report, and any missing or overlapping seeds.
    pub fn text(&self) -> String {
        let rec = &self.record;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Merged {} summaries of one campaign, run by {}:",
            self.inputs.len(),
            rec.build
        );
        for (file, shard, range, runs) in &self.inputs {
            let what = match shard {
                Some(sh) => format!("shard {sh} of seeds {range}"),
                None => format!("seeds {range}"),
            };
            let _ = writeln!(s, "  {:<36} {runs:>6} runs   {}", what, file.display());
        }
        let _ = writeln!(s, "Campaign: {}", rec.spec.describe());
        if rec.build.git_commit == "unknown" {
            s.push_str(
                "Note: built without a known git commit, so builds of different commits cannot be told apart.\n",
            );
        }
        if self.is_complete() && self.overlaps.is_empty() {
            let _ = writeln!(s, "Seeds {}: every seed ran exactly once.", rec.seed_range);
        }
        s.push_str(&rec.summary.counts_text());
        if rec.summary.slowest_seeds.len() > 1 {
            let list: Vec<String> = rec
                .summary
                .slowest_seeds
                .iter()
                .map(|(seed, ms)| format!("{seed} ({ms} ms)"))
                .collect();
            let _ = writeln!(s, "slowest seeds: {}", list.join(", "));
        }
        let failures: Vec<&SeedResult> = rec.summary.seeds.iter().filter(|r| !r.passed).collect();
        if failures.is_empty() {
            s.push_str("No failures.\n");
        } else {
            let _ = writeln!(s, "Failures ({}), each with its report:", failures.len());
            for r in failures {
                self.seed_lines(&mut s, r);
            }
        }
        let outside: Vec<&SeedResult> = rec
            .summary
            .seeds
            .iter()
            .filter(|r| r.passed && r.run_verdict == RunVerdict::OutsideFaultModel)
            .collect();
        if !outside.is_empty() {
            let _ = writeln!(
                s,
                "Outside the fault model, not failures ({}), each with its report:",
                outside.len()
            );
            for r in outside {
                self.seed_lines(&mut s, r);
            }
        }
        self.problems_text(&mut s);
        s
    }

    fn seed_lines(&self, s: &mut String, r: &SeedResult) {
        let rules = if r.violated_rules.is_empty() {
            String::new()
        } else {
            format!(" [{}]", r.violated_rules.join(", "))
        };
        let _ = writeln!(s, "  seed {:<8} {}{rules}", r.seed, r.verdict);
        match self.report_location(r) {
            Some((dir, true)) => {
                let _ = writeln!(
                    s,
                    "                report: {dir}   replay: kzsim replay {dir}"
                );
            }
            Some((dir, false)) => {
                let _ = writeln!(
                    s,
                    "                report: {dir} (not found from here, nor beside its summary)"
                );
            }
            None => s.push_str("                report: none was written\n"),
        }
    }

    /// Missing shards, gaps and overlaps, each list cut at [`LISTED_MAX`].
    fn problems_text(&self, s: &mut String) {
        let rec = &self.record;
        let (shards, shards_missing) = &self.missing_shards;
        if *shards_missing > 0 {
            let list: Vec<String> = shards.iter().map(|sh| sh.to_string()).collect();
            let more = shards_missing.saturating_sub(shards.len() as u64);
            let _ = writeln!(
                s,
                "MISSING SHARDS: no summary for shard {}{} of seeds {}",
                list.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                rec.seed_range
            );
        }
        if !self.is_complete() {
            let ranges = &rec.missing_seed_ranges;
            let list: Vec<String> = ranges
                .iter()
                .take(LISTED_MAX)
                .map(|r| r.to_string())
                .collect();
            let _ = writeln!(
                s,
                "MISSING SEEDS: {} of {} were run by no summary: {}{}",
                self.missing_seeds(),
                rec.seed_range,
                list.join(", "),
                if ranges.len() > LISTED_MAX {
                    format!(", ... ({} more ranges)", ranges.len() - LISTED_MAX)
                } else {
                    String::new()
                }
            );
        }
        if !self.overlaps.is_empty() {
            let _ = writeln!(
                s,
                "OVERLAPPING SEEDS: {} seeds were run by more than one summary (each counted once, from the first):",
                self.overlaps.len()
            );
            for o in self.overlaps.iter().take(LISTED_MAX) {
                let files: Vec<String> = o.files.iter().map(|f| f.display().to_string()).collect();
                let _ = writeln!(
                    s,
                    "  seed {:<8} in {}{}",
                    o.seed,
                    files.join(" and "),
                    match &o.conflict {
                        Some(c) => format!("; RESULTS DIFFER: {c}"),
                        None => String::new(),
                    }
                );
            }
            if self.overlaps.len() > LISTED_MAX {
                let _ = writeln!(s, "  ... and {} more", self.overlaps.len() - LISTED_MAX);
            }
        }
    }
}

/// Reads every file and merges them ([`merge`]).
pub fn merge_files(files: &[PathBuf]) -> Result<Merged, MergeError> {
    if files.len() > MERGE_INPUTS_MAX {
        return Err(MergeError::TooManyInputs { count: files.len() });
    }
    let mut inputs = Vec::with_capacity(files.len());
    for f in files {
        inputs.push((f.clone(), read_record(f)?));
    }
    merge(inputs)
}

/// Merges records of one campaign (checked records, e.g. from [`read_record`]).
///
/// Refuses records whose specs or builds differ from the first one's, naming both files
/// and each difference. Otherwise the merged record holds every seed once (the first
/// input's result where several ran it), counts recomputed from those seeds, the overall
/// seed range (lowest start to highest end), and the missing and overlapping seeds.
pub fn merge(inputs: Vec<(PathBuf, CampaignRecord)>) -> Result<Merged, MergeError> {
    let Some((first_file, first)) = inputs.first() else {
        return Err(MergeError::NoInputs);
    };
    if inputs.len() > MERGE_INPUTS_MAX {
        return Err(MergeError::TooManyInputs {
            count: inputs.len(),
        });
    }
    for (file, r) in &inputs {
        if let Some(msg) = r.inconsistency() {
            return Err(bad(file, msg));
        }
    }
    for (file, r) in &inputs[1..] {
        if r.build != first.build {
            return Err(MergeError::Mismatch {
                first: first_file.clone(),
                file: file.clone(),
                what: "kzsim builds",
                details: vec![format!("`build`: {} vs {}", first.build, r.build)],
            });
        }
        let details = first.spec.differences(&r.spec);
        if !details.is_empty() {
            return Err(MergeError::Mismatch {
                first: first_file.clone(),
                file: file.clone(),
                what: "campaign specs",
                details,
            });
        }
    }
    let range = SeedRange {
        start: inputs
            .iter()
            .map(|(_, r)| r.seed_range.start)
            .min()
            .unwrap_or(0),
        end: inputs
            .iter()
            .map(|(_, r)| r.seed_range.end)
            .max()
            .unwrap_or(0),
    };
    let mut kept: BTreeMap<u64, (usize, SeedResult)> = BTreeMap::new();
    let mut overlaps: BTreeMap<u64, Vec<(usize, u64, RunVerdict)>> = BTreeMap::new();
    for (i, (_, r)) in inputs.iter().enumerate() {
        for seed in &r.summary.seeds {
            match kept.get(&seed.seed) {
                Some((j, first_result)) => {
                    let list = overlaps.entry(seed.seed).or_insert_with(|| {
                        vec![(*j, first_result.run_hash, first_result.run_verdict)]
                    });
                    list.push((i, seed.run_hash, seed.run_verdict));
                }
                None => {
                    kept.insert(seed.seed, (i, seed.clone()));
                }
            }
        }
    }
    let overlaps: Vec<Overlap> = overlaps
        .into_iter()
        .map(|(seed, list)| {
            let agree = list
                .iter()
                .all(|(_, h, v)| (*h, *v) == (list[0].1, list[0].2));
            Overlap {
                seed,
                files: list.iter().map(|(i, ..)| inputs[*i].0.clone()).collect(),
                conflict: (!agree).then(|| {
                    list.iter()
                        .map(|(i, h, v)| {
                            format!(
                                "run hash {h:016x}, {} in {}",
                                v.name(),
                                inputs[*i].0.display()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            }
        })
        .collect();
    let mut gaps = Vec::new();
    let mut next = range.start;
    for &seed in kept.keys() {
        if seed > next {
            gaps.push(SeedRange {
                start: next,
                end: seed,
            });
        }
        next = seed + 1;
    }
    if next < range.end {
        gaps.push(SeedRange {
            start: next,
            end: range.end,
        });
    }
    let missing_shards = missing_shards(&inputs);
    let origin: BTreeMap<u64, usize> = kept.iter().map(|(s, (i, _))| (*s, *i)).collect();
    let seeds: Vec<SeedResult> = kept.into_values().map(|(_, r)| r).collect();
    let wall_secs = inputs.iter().map(|(_, r)| r.summary.wall_secs).sum();
    let record = CampaignRecord {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        build: first.build.clone(),
        spec: first.spec.clone(),
        seed_range: range,
        shard: None,
        merged_from: inputs
            .iter()
            .map(|(f, _)| f.display().to_string())
            .collect(),
        missing_seed_ranges: gaps,
        overlapping_seeds: overlaps.iter().map(|o| o.seed).collect(),
        coverage: None,
        summary: CampaignSummary::from_seeds(seeds, wall_secs),
    };
    Ok(Merged {
        record,
        inputs: inputs
            .iter()
            .map(|(f, r)| (f.clone(), r.shard, r.seed_range, r.summary.runs))
            .collect(),
        missing_shards,
        overlaps,
        origin,
    })
}

/// When every input is a shard of one seed range and one N: the shards (with at least one
/// seed in the range) that no input is, at most [`LISTED_MAX`] of them, and their number.
fn missing_shards(inputs: &[(PathBuf, CampaignRecord)]) -> (Vec<Shard>, u64) {
    let Some((_, first)) = inputs.first() else {
        return (Vec::new(), 0);
    };
    let Some(Shard { n, .. }) = first.shard else {
        return (Vec::new(), 0);
    };
    let same_split = inputs
        .iter()
        .all(|(_, r)| r.seed_range == first.seed_range && r.shard.is_some_and(|s| s.n == n));
    if !same_split {
        return (Vec::new(), 0);
    }
    let given: BTreeSet<u64> = inputs
        .iter()
        .filter_map(|(_, r)| r.shard.map(|s| s.k))
        .collect();
    let range = first.seed_range;
    let has_seeds = |k: u64| Shard { k, n }.first_seed_in(range).is_some();
    // A range shorter than N leaves some shards without seeds: they cannot be missing.
    let len = range.end - range.start;
    let count = n.min(len) - given.iter().filter(|&&k| k <= n && has_seeds(k)).count() as u64;
    // Candidates in order: every shard, or (short range) the shard of each seed. Each
    // candidate is given or listed, so this stops within given.len() + LISTED_MAX steps.
    let candidates: Box<dyn Iterator<Item = u64>> = if len >= n {
        Box::new(1..=n)
    } else {
        Box::new((range.start..range.end).map(move |s| s % n + 1))
    };
    let mut listed = Vec::new();
    for k in candidates {
        if listed.len() as u64 >= count.min(LISTED_MAX as u64) {
            break;
        }
        if !given.contains(&k) {
            listed.push(Shard { k, n });
        }
    }
    listed.sort();
    (listed, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(seed: u64, run_verdict: RunVerdict) -> SeedResult {
        SeedResult {
            seed,
            passed: run_verdict == RunVerdict::Pass,
            run_verdict,
            verdict: run_verdict.name().to_string(),
            failed_checkers: if run_verdict == RunVerdict::Pass {
                vec![]
            } else {
                vec!["zab".into()]
            },
            violated_rules: vec![],
            judged: vec!["zab".into()],
            unknown: vec![],
            faults: 1,
            shrunk_faults: None,
            wall_ms: seed,
            sim_secs: 1.0,
            run_hash: seed * 7,
            report: None,
            failure: None,
        }
    }

    fn record(
        range: (u64, u64),
        shard: Option<(u64, u64)>,
        verdicts: &[(u64, RunVerdict)],
    ) -> CampaignRecord {
        CampaignRecord {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            build: BuildInfo::current(),
            spec: SpecRecord {
                scenario: "s".into(),
                scenario_file: None,
                scenario_hash: "0".into(),
                random: true,
                guided: false,
                bug_flags: vec![],
                shrink: false,
                shrink_runs_max: 0,
                strict_fault_model: false,
            },
            seed_range: SeedRange {
                start: range.0,
                end: range.1,
            },
            shard: shard.map(|(k, n)| Shard { k, n }),
            merged_from: vec![],
            missing_seed_ranges: vec![],
            overlapping_seeds: vec![],
            coverage: None,
            summary: CampaignSummary::from_seeds(
                verdicts.iter().map(|&(s, v)| seed(s, v)).collect(),
                1.0,
            ),
        }
    }

    fn input(name: &str, r: CampaignRecord) -> (PathBuf, CampaignRecord) {
        (PathBuf::from(name), r)
    }

    #[test]
    fn merge_recomputes_counts_and_finds_gaps_between_ranges() {
        use RunVerdict::*;
        let m = merge(vec![
            input(
                "a.json",
                record((0, 3), None, &[(0, Pass), (1, Fail), (2, Pass)]),
            ),
            input("b.json", record((6, 8), None, &[(6, Error), (7, Pass)])),
        ])
        .expect("merges");
        let s = &m.record.summary;
        assert_eq!(s.runs, 5);
        assert_eq!(s.failures, 2);
        assert_eq!(
            s.by_verdict,
            BTreeMap::from([("pass".into(), 3), ("fail".into(), 1), ("error".into(), 1)])
        );
        assert_eq!(s.failures_by_checker, BTreeMap::from([("zab".into(), 2)]));
        assert_eq!(s.slowest, Some((7, 7)));
        assert_eq!(m.record.seed_range, SeedRange { start: 0, end: 8 });
        assert_eq!(
            m.record.missing_seed_ranges,
            vec![SeedRange { start: 3, end: 6 }]
        );
        assert_eq!(m.missing_seeds(), 3);
        assert_eq!(m.missing_shards, (vec![], 0));
        assert!(m
            .text()
            .contains("MISSING SEEDS: 3 of 0..8 were run by no summary: 3..6"));
    }

    #[test]
    fn missing_shards_are_those_with_seeds() {
        use RunVerdict::*;
        // Range 0..3 split 8 ways: only shards 1..3 have seeds.
        let m =
            merge(vec![input("a", record((0, 3), Some((1, 8)), &[(0, Pass)]))]).expect("merges");
        assert_eq!(
            m.missing_shards,
            (vec![Shard { k: 2, n: 8 }, Shard { k: 3, n: 8 }], 2)
        );
        // A huge N is listed without walking every shard.
        let n = 1_000_000_000_000;
        let m =
            merge(vec![input("a", record((5, 7), Some((6, n)), &[(5, Pass)]))]).expect("merges");
        assert_eq!(m.missing_shards, (vec![Shard { k: 7, n }], 1));
        // Many shards missing: at most LISTED_MAX listed, all counted.
        let m = merge(vec![input(
            "a",
            record((0, 100), Some((1, 50)), &[(0, Pass), (50, Pass)]),
        )])
        .expect("merges");
        assert_eq!(m.missing_shards.0.len(), LISTED_MAX);
        assert_eq!(m.missing_shards.1, 49);
        assert_eq!(m.missing_shards.0[0], Shard { k: 2, n: 50 });
    }

    #[test]
    fn inconsistent_records_are_refused() {
        use RunVerdict::*;
        let mut r = record((0, 4), Some((1, 2)), &[(0, Pass), (2, Fail)]);
        r.summary.failures = 0;
        let e = merge(vec![input("x.json", r)]).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "x.json: `failures` says 0 but its `seeds` give 1"
        );
        let r = record((0, 4), Some((1, 2)), &[(0, Pass), (1, Pass)]);
        let e = merge(vec![input("y.json", r)]).expect_err("refused");
        assert_eq!(e.to_string(), "y.json: seed 1 is not in shard 1/2");
        let mut a = record((0, 4), Some((1, 2)), &[(0, Pass), (2, Pass)]);
        let b = record((0, 4), Some((2, 2)), &[(1, Pass), (3, Pass)]);
        a.spec.strict_fault_model = true;
        let e = merge(vec![input("a", a), input("b", b)]).expect_err("refused");
        assert!(
            e.to_string()
                .contains("`strict_fault_model`: true vs false"),
            "{e}"
        );
        assert!(matches!(merge(vec![]), Err(MergeError::NoInputs)));
    }

    #[test]
    fn shard_first_seed() {
        let r = SeedRange { start: 5, end: 9 };
        assert_eq!(Shard { k: 1, n: 4 }.first_seed_in(r), Some(8));
        assert_eq!(Shard { k: 2, n: 4 }.first_seed_in(r), Some(5));
        assert_eq!(Shard { k: 4, n: 4 }.first_seed_in(r), Some(7));
        assert_eq!(
            Shard { k: 3, n: 8 }.first_seed_in(SeedRange { start: 0, end: 2 }),
            None
        );
        assert_eq!(SeedRange { start: 3, end: 4 }.to_string(), "3");
        let max = Shard {
            k: u64::MAX,
            n: u64::MAX,
        };
        let top = SeedRange {
            start: u64::MAX - 3,
            end: u64::MAX,
        };
        assert_eq!(max.first_seed_in(top), Some(u64::MAX - 1));
        assert_eq!(SeedRange { start: 3, end: 7 }.to_string(), "3..7");
    }
}
