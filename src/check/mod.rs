//! Checkers over recorded histories.

pub mod kafka;

/// One broken invariant, with the ops and events that show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    pub checker: String,
    pub message: String,
    pub ops: Vec<usize>,
    pub events: Vec<usize>,
    pub state_before: Option<String>,
}

/// What a checker concluded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Ok,
    Violated(Vec<Violation>),
    Unknown { reason: String },
}
