//! Checkers over recorded histories. Each checker reads a [`History`](crate::history::History)
//! (client operations and/or protocol events) and returns a [`CheckReport`] whose
//! [`Verdict`] is `ok`, `violated` (with the operations and events that show it) or
//! `unknown` (a budget ran out, or the history cannot decide): never a pass by default.
//!
//! - [`linear`]: linearizability of registers, CAS registers and key-value stores
//!   (Wing & Gong / Lowe search with memoization, split by key).
//! - [`zk`]: ZooKeeper's consistency model: linearizable writes ordered by zxid, each
//!   session's reads sequentially consistent; `strict` also flags stale reads.
//! - [`zab`]: ZAB's properties from the protocol event log (agreement, total and primary
//!   order, primary integrity, one established leader per epoch, no lost commit).
//! - [`zk_watches`]: watches fire once, in zxid order, before the data they announce.
//! - [`zk_lifetimes`]: ephemerals live exactly as long as their session; sessions expire
//!   within (timeout, timeout + tickTime] of silence by the leader's clock, and never while
//!   their client is heard.
//! - [`zk_recipes`]: the lock recipe keeps one holder at a time in ZooKeeper's order, its
//!   fencing tokens increase and nobody skips the queue; a group member's view converges to
//!   the live membership.
//! - [`liveness`]: a leader and a successful write within a bound after the last fault heals.
//! - [`cli`]: `kzsim check FILE`; [`bench`]: the checker benchmark.

pub mod bench;
pub mod cli;
pub mod kafka;
pub mod kafka_queue;
pub mod linear;
pub mod liveness;
pub mod rules;
pub mod zab;
pub mod zk;
pub mod zk_amnesia;
pub mod zk_lifetimes;
pub mod zk_recipes;
pub mod zk_refusal;
pub mod zk_watches;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One way a history breaks a property, with the evidence a reader needs to find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The checker (and rule) that found it, e.g. `zab.agreement`, `linear`.
    pub checker: String,
    /// What is wrong, in a sentence that names the values involved.
    pub message: String,
    /// Indices into `History::ops` of the operations involved (smallest set we found).
    pub ops: Vec<usize>,
    /// Indices into `History::events` of the events involved.
    pub events: Vec<usize>,
    /// The model state before the offending step, when the checker has one.
    pub state_before: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.checker, self.message)?;
        if !self.ops.is_empty() {
            write!(f, " (ops {:?})", self.ops)?;
        }
        if !self.events.is_empty() {
            write!(f, " (events {:?})", self.events)?;
        }
        if let Some(s) = &self.state_before {
            write!(f, " (state before: {s})")?;
        }
        Ok(())
    }
}

/// A breach of a rule that the real system does not promise to prevent: every copy of what
/// was lost was destroyed by faults outside the system's fault model (a power loss of every
/// replica of an unflushed Kafka record, a disk replaced under a ZooKeeper voter's id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excuse {
    /// The rule that would otherwise be violated, e.g. `kafka.no_acked_write_lost`.
    pub rule: String,
    /// What was lost and which faults destroyed every copy of it, in a sentence that names
    /// the records or transactions, the nodes and the times.
    pub message: String,
    /// The real system's documented behaviour that puts this outside its fault model.
    pub documented: String,
    /// Indices into `History::ops` of the operations whose effect was lost.
    pub ops: Vec<usize>,
    /// Indices into `History::events` of the faults that destroyed the copies.
    pub events: Vec<usize>,
}

impl fmt::Display for Excuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} ({})", self.rule, self.message, self.documented)?;
        if !self.ops.is_empty() {
            write!(f, " (ops {:?})", self.ops)?;
        }
        if !self.events.is_empty() {
            write!(f, " (fault events {:?})", self.events)?;
        }
        Ok(())
    }
}

/// The outcome of one checker on one history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The property holds on this history.
    Ok,
    /// The property is broken; at least one violation.
    Violated(Vec<Violation>),
    /// The property is broken only where faults outside the real system's fault model
    /// destroyed every copy of what it needs (each breach excused exactly, with the faults
    /// named); anything else would be a violation.
    OutsideFaultModel(Vec<Excuse>),
    /// The checker could not decide (budget exhausted, history lacks what it needs).
    Unknown { reason: String },
}

impl Verdict {
    /// True for [`Verdict::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    /// True for [`Verdict::Violated`].
    pub fn is_violated(&self) -> bool {
        matches!(self, Verdict::Violated(_))
    }

    /// The violations, empty unless violated.
    pub fn violations(&self) -> &[Violation] {
        match self {
            Verdict::Violated(violations) => violations,
            _ => &[],
        }
    }

    /// The verdict in one word, as reports and JSON output print it.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Violated(_) => "violated",
            Verdict::OutsideFaultModel(_) => "outside-fault-model",
            Verdict::Unknown { .. } => "unknown",
        }
    }

    /// True for [`Verdict::OutsideFaultModel`].
    pub fn is_outside_fault_model(&self) -> bool {
        matches!(self, Verdict::OutsideFaultModel(_))
    }

    /// The excuses, empty unless outside the fault model.
    pub fn excuses(&self) -> &[Excuse] {
        match self {
            Verdict::OutsideFaultModel(excuses) => excuses,
            _ => &[],
        }
    }

    /// `Violated` if `violations` is non-empty, else `OutsideFaultModel` if `excuses` is,
    /// else `Ok`.
    pub fn judge(violations: Vec<Violation>, excuses: Vec<Excuse>) -> Verdict {
        if !violations.is_empty() {
            Verdict::Violated(violations)
        } else if !excuses.is_empty() {
            Verdict::OutsideFaultModel(excuses)
        } else {
            Verdict::Ok
        }
    }

    /// `Violated` if `violations` is non-empty, else `Ok`.
    pub fn from_violations(violations: Vec<Violation>) -> Verdict {
        if violations.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Violated(violations)
        }
    }
}

/// Counters a checker reports alongside its verdict (for benchmarks and for judging how
/// much of the history a verdict rests on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStats {
    /// Operations (or events) the checker examined.
    pub checked: u64,
    /// Operations it could not use (e.g. reads without a zxid), counted, not silently dropped.
    pub skipped: u64,
    /// Partitions (keys or znodes) it split the history into.
    pub partitions: u64,
    /// Search steps taken (linearizability search), 0 where there is no search.
    pub steps: u64,
}

/// One checker's report on one history: the one result type every checker returns.
///
/// Guarantees: `verdict` is `Ok` only if the checker judged something relevant (a checker
/// with nothing to judge says `Unknown` with the reason); `counters` hold the same keys for
/// a given checker on every history (zero when nothing was counted), so campaigns can sum
/// them; `notes` explain allowed losses and skipped parts, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The checker's name, e.g. `linear.cas-register`, `zk.sessions`, `zab`.
    pub checker: String,
    /// What it concluded.
    pub verdict: Verdict,
    /// How much work it did.
    pub stats: CheckStats,
    /// Named counts (records checked, losses allowed, and so on).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
    /// Human-readable explanations (allowed losses, parts not judged), in a stable order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl CheckReport {
    /// A report with no counters or notes.
    pub fn new(checker: impl Into<String>, verdict: Verdict, stats: CheckStats) -> CheckReport {
        CheckReport {
            checker: checker.into(),
            verdict,
            stats,
            counters: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    /// True if the verdict is [`Verdict::Ok`].
    pub fn is_ok(&self) -> bool {
        self.verdict.is_ok()
    }

    /// True if the verdict is [`Verdict::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self.verdict, Verdict::Unknown { .. })
    }

    /// The violations found (empty unless the verdict is `Violated`).
    pub fn violations(&self) -> &[Violation] {
        self.verdict.violations()
    }

    /// A counter's value (0 if the checker does not have it).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// One line saying what the checker judged: its main count, partitions and counters.
    pub fn judged(&self) -> String {
        let mut parts = vec![format!("{} checked", self.stats.checked)];
        if self.stats.partitions > 0 {
            parts.push(format!("{} partitions", self.stats.partitions));
        }
        if self.stats.skipped > 0 {
            parts.push(format!("{} skipped", self.stats.skipped));
        }
        parts.extend(
            self.counters
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k} {v}")),
        );
        parts.join(", ")
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Ok => write!(f, "{}: ok", self.checker)?,
            Verdict::Unknown { reason } => write!(f, "{}: unknown: {reason}", self.checker)?,
            Verdict::OutsideFaultModel(excuses) => {
                write!(
                    f,
                    "{}: OUTSIDE THE FAULT MODEL ({} breach(es) the real system allows under these faults)",
                    self.checker,
                    excuses.len()
                )?;
                for e in excuses {
                    write!(f, "\n  - {e}")?;
                }
            }
            Verdict::Violated(violations) => {
                write!(
                    f,
                    "{}: VIOLATED ({} violation(s))",
                    self.checker,
                    violations.len()
                )?;
                for v in violations {
                    write!(f, "\n  - {v}")?;
                }
            }
        }
        write!(
            f,
            "\n  checked {} skipped {} partitions {} steps {}",
            self.stats.checked, self.stats.skipped, self.stats.partitions, self.stats.steps
        )?;
        if !self.counters.is_empty() {
            let counts: Vec<String> = self
                .counters
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            write!(f, "\n  {}", counts.join(", "))?;
        }
        for n in &self.notes {
            write!(f, "\n  note: {n}")?;
        }
        Ok(())
    }
}

/// Combines several reports' verdicts: violated if any is, else unknown if any is, else
/// outside the fault model if any is, else ok.
pub fn overall(reports: &[CheckReport]) -> Verdict {
    let violations: Vec<Violation> = reports
        .iter()
        .flat_map(|r| r.verdict.violations().to_vec())
        .collect();
    if !violations.is_empty() {
        return Verdict::Violated(violations);
    }
    if let Some(r) = reports
        .iter()
        .find(|r| matches!(r.verdict, Verdict::Unknown { .. }))
    {
        if let Verdict::Unknown { reason } = &r.verdict {
            return Verdict::Unknown {
                reason: format!("{}: {reason}", r.checker),
            };
        }
    }
    let excuses: Vec<Excuse> = reports
        .iter()
        .flat_map(|r| r.verdict.excuses().to_vec())
        .collect();
    Verdict::judge(Vec::new(), excuses)
}
