//! The loader's error: where (file, line, key) and what would be valid.

use std::fmt;
use std::path::PathBuf;

/// A scenario file could not be used. Displays as
/// `scenarios/x.toml:14: faults[2].at: "3x" is not a duration (try "3s" or "250ms")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (as given to the loader).
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is with the file as a whole (it cannot be read).
    pub line: usize,
    /// Dotted path of the key, e.g. `faults[2].at`; empty for syntax errors.
    pub key: String,
    /// What is wrong and what would be valid.
    pub msg: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.msg)
    }
}

impl std::error::Error for ScenarioError {}
