//! The README's tables cannot fall behind the code: every rule in `check::rules::RULES`,
//! every scenario checker name and every fault kind has a row.

use kzsim::check::rules::RULES;
use kzsim::scenario::CheckerName;

fn readme() -> String {
    std::fs::read_to_string("README.md").expect("README.md at the repository root")
}

#[test]
fn every_rule_has_a_row_in_the_readme() {
    let text = readme();
    let missing: Vec<&str> = RULES
        .iter()
        .map(|r| r.name)
        .filter(|name| !text.contains(&format!("| `{name}` |")))
        .collect();
    assert!(missing.is_empty(), "README lacks rows for {missing:?}");
}

#[test]
fn every_checker_name_has_a_row_in_the_readme() {
    let text = readme();
    let missing: Vec<&str> = CheckerName::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|name| !text.contains(&format!("| `{name}` |")))
        .collect();
    assert!(missing.is_empty(), "README lacks rows for {missing:?}");
}

#[test]
fn every_fault_kind_has_a_row_in_the_readme() {
    let text = readme();
    let missing: Vec<&str> = kzsim::scenario::FAULT_KINDS
        .iter()
        .copied()
        .filter(|kind| !text.contains(&format!("| `{kind}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "README lacks fault rows for {missing:?}"
    );
}
