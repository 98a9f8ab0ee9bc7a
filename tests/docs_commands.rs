//! The ready-made sweep examples cannot rot: every `kzsim ...` command line in the Kubernetes
//! manifests, the GitHub Actions workflow and the README is parsed by the real CLI
//! (`kzsim --parse-only`, which also checks seed ranges, shards and bug flags), with shell
//! variables replaced by sample values; the shard counts in each file agree; the scenario
//! files they name exist.

use std::path::Path;
use std::process::Command;

const KZSIM: &str = env!("CARGO_BIN_EXE_kzsim");

/// The files whose command lines are checked.
const FILES: &[&str] = &[
    "docs/k8s/campaign-indexed-job.yaml",
    "docs/k8s/merge-job.yaml",
    "docs/github-actions/kzsim-campaign.yml",
    "README.md",
];

/// Sample values for the shell variables the examples use. A variable missing here fails
/// the test (add a value), so no command is checked with a hole in it.
const SAMPLE_VARS: &[(&str, &str)] = &[
    ("JOB_COMPLETION_INDEX", "2"),
    ("K", "3"),
    ("SHARDS", "8"),
    ("SEEDS", "0..8000"),
];

/// At most this many characters in one logical command line (continuations joined).
const COMMAND_CHARS_MAX: usize = 4096;

/// One command found in a file: where, and its words after `kzsim`.
#[derive(Debug)]
struct Found {
    file: String,
    line: usize,
    text: String,
    args: Vec<String>,
}

/// Logical lines (backslash continuations joined) with their first line number. In Markdown
/// only lines inside fenced code blocks count.
fn logical_lines(file: &str, text: &str) -> Vec<(usize, String)> {
    let markdown = file.ends_with(".md");
    let mut in_code = false;
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        if markdown && raw.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if markdown && !in_code {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        let piece = if acc.is_empty() {
            raw.to_string()
        } else {
            // A continued line: drop the indentation and a YAML/comment marker.
            raw.trim_start()
                .trim_start_matches('#')
                .trim_start()
                .to_string()
        };
        match piece.trim_end().strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                assert!(
                    acc.len() <= COMMAND_CHARS_MAX,
                    "{file}:{start}: line longer than {COMMAND_CHARS_MAX}"
                );
                pending = Some((start, acc));
            }
            None => {
                acc.push_str(&piece);
                out.push((start, acc));
            }
        }
    }
    out.extend(pending);
    out
}

/// The text after `kzsim` (or `cargo run [--release] --`) if the line is such a command,
/// once list markers, comment signs, prompts and `run:` are stripped.
fn command_text(line: &str) -> Option<String> {
    let mut t = line.trim();
    loop {
        let before = t;
        for prefix in ["#", "- ", "$ ", "run:"] {
            if let Some(rest) = t.strip_prefix(prefix) {
                t = rest.trim_start();
            }
        }
        if t == before {
            break;
        }
    }
    for prefix in ["kzsim ", "cargo run --release -- ", "cargo run -- "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            return Some(rest.to_string());
        }
    }
    None
}

/// The value of shell variable `name`.
fn var(name: &str, at: &str) -> String {
    SAMPLE_VARS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| {
            panic!("{at}: variable `{name}` has no sample value in tests/docs_commands.rs")
        })
}

/// Evaluates `$((A + B))` with sample variables (the only arithmetic the examples use).
fn arithmetic(expr: &str, at: &str) -> String {
    let mut sum: i64 = 0;
    for term in expr.split('+') {
        let term = term.trim();
        let value = if term.chars().all(|c| c.is_ascii_digit()) {
            term.to_string()
        } else {
            var(term.trim_start_matches('$'), at)
        };
        sum += value
            .parse::<i64>()
            .unwrap_or_else(|_| panic!("{at}: `$(({expr}))`: `{term}` is not a number"));
    }
    sum.to_string()
}

/// Splits `text` into words as `sh` would, expanding `$NAME`, `${NAME}` and `$((..))`,
/// and stopping at an unquoted redirection, pipe, list operator or comment.
fn shell_words(text: &str, at: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), _) => word.push(c),
            (None, '\'') | (None, '"') => {
                quote = Some(c);
                in_word = true;
            }
            (_, '$') => {
                let rest: String = chars[i + 1..].iter().collect();
                let (value, used) = if let Some(r) = rest.strip_prefix("((") {
                    let end = r
                        .find("))")
                        .unwrap_or_else(|| panic!("{at}: unclosed `$((`"));
                    (arithmetic(&r[..end], at), 2 + end + 2)
                } else if let Some(r) = rest.strip_prefix('{') {
                    let end = r
                        .find('}')
                        .unwrap_or_else(|| panic!("{at}: unclosed `${{`"));
                    (var(&r[..end], at), 1 + end + 1)
                } else {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(!name.is_empty(), "{at}: a bare `$`");
                    (var(&name, at), name.len())
                };
                word.push_str(&value);
                in_word = true;
                i += used;
            }
            (None, '\\') => {
                if let Some(&next) = chars.get(i + 1) {
                    word.push(next);
                    in_word = true;
                    i += 1;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '>' | '<' | '|' | ';' | '&') => {
                // `2>` redirects a file descriptor: the digits are not a word.
                if in_word && !word.chars().all(|c| c.is_ascii_digit()) {
                    words.push(std::mem::take(&mut word));
                }
                return words;
            }
            (None, '#') if !in_word => return words,
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    assert!(quote.is_none(), "{at}: unclosed quote in `{text}`");
    if in_word {
        words.push(word);
    }
    words
}

fn commands_in(file: &str) -> Vec<Found> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    logical_lines(file, &text)
        .into_iter()
        .filter_map(|(line, l)| {
            let rest = command_text(&l)?;
            let at = format!("{file}:{line}");
            Some(Found {
                file: file.to_string(),
                line,
                args: shell_words(&rest, &at),
                text: l.trim().to_string(),
            })
        })
        .collect()
}

/// Runs `kzsim --parse-only ARGS`; `Err` with kzsim's message if it does not parse.
fn parses(args: &[String]) -> Result<(), String> {
    let out = Command::new(KZSIM)
        .arg("--parse-only")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {KZSIM}: {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn every_command_line_in_the_examples_parses() {
    let mut all = Vec::new();
    for file in FILES {
        let found = commands_in(file);
        assert!(!found.is_empty(), "{file}: no kzsim command found");
        all.extend(found);
    }
    let failures: Vec<String> = all
        .iter()
        .filter_map(|f| {
            parses(&f.args).err().map(|e| {
                format!(
                    "{}:{}: `{}`\n  words {:?}\n  {e}",
                    f.file, f.line, f.text, f.args
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "command lines that do not parse:\n{}",
        failures.join("\n")
    );
    // The examples do what they are for: each sweep file runs sharded campaigns with JSON
    // summaries, and each is merged.
    let has = |file: &str, pred: &dyn Fn(&[String]) -> bool| {
        all.iter()
            .any(|f| f.file.starts_with(file) && pred(&f.args))
    };
    let sharded_json_campaign = |a: &[String]| {
        a.first().map(String::as_str) == Some("campaign")
            && a.iter().any(|w| w == "--shard")
            && a.iter().any(|w| w == "--json")
    };
    let merge = |a: &[String]| a.first().map(String::as_str) == Some("merge");
    for dir in ["docs/k8s/", "docs/github-actions/", "README.md"] {
        assert!(
            has(dir, &sharded_json_campaign),
            "{dir}: no sharded campaign --json"
        );
        assert!(has(dir, &merge), "{dir}: no merge");
    }
    // Scenario files the examples name exist in the library.
    for f in &all {
        for pair in f.args.windows(2).filter(|p| p[0] == "--scenario") {
            let name = Path::new(&pair[1])
                .file_name()
                .unwrap_or_else(|| panic!("{}:{}: `--scenario {}`", f.file, f.line, pair[1]));
            assert!(
                Path::new("scenarios").join(name).is_file(),
                "{}:{}: scenario {} is not in scenarios/",
                f.file,
                f.line,
                pair[1]
            );
        }
    }
    eprintln!("{} command lines parsed", all.len());
}

/// The check can fail: broken command lines are rejected by the same parse.
#[test]
fn broken_command_lines_are_caught() {
    for bad in [
        "campaign --seeds 0..8000 --shard 9/8 --json",
        "campaign --seeds 8000..0",
        "campaign --sedes 0..8000",
        "campaign --bug no-such-flag",
        "merge",
        "merge summary.json --jsn",
        "no-such-command",
    ] {
        let words = shell_words(bad, "test");
        assert!(parses(&words).is_err(), "`kzsim {bad}` was accepted");
    }
    // And the extraction sees through the shell: quotes, variables, redirections.
    assert_eq!(
        shell_words(
            r#"campaign --shard "$((JOB_COMPLETION_INDEX + 1))/$SHARDS" --json > "/out/s-$K.json" || status=$?"#,
            "test"
        ),
        ["campaign", "--shard", "3/8", "--json"]
    );
    assert_eq!(
        command_text("          - run: kzsim merge out/summary-*.json 2> err.txt"),
        Some("merge out/summary-*.json 2> err.txt".to_string())
    );
    assert_eq!(
        shell_words("merge out/summary-*.json 2> err.txt", "test"),
        ["merge", "out/summary-*.json"]
    );
}

/// The shard counts in each example agree (the Job's completions and the matrix length with
/// the SHARDS each passes to `--shard`).
#[test]
fn shard_counts_agree() {
    let number_after = |text: &str, key: &str| -> u64 {
        let at = text.find(key).unwrap_or_else(|| panic!("no `{key}`")) + key.len();
        text[at..]
            .trim_start()
            .trim_start_matches('"')
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or_else(|_| panic!("`{key}` is not followed by a number"))
    };
    let job = std::fs::read_to_string("docs/k8s/campaign-indexed-job.yaml").expect("job");
    let completions = number_after(&job, "completions:");
    assert_eq!(completions, number_after(&job, "parallelism:"));
    let shards_env = &job[job.find("name: SHARDS").expect("a SHARDS variable")..];
    assert_eq!(
        completions,
        number_after(shards_env, "value:"),
        "the Job's completions and SHARDS differ"
    );
    let wf = std::fs::read_to_string("docs/github-actions/kzsim-campaign.yml").expect("workflow");
    let shards = number_after(&wf, "SHARDS:");
    let at = wf.find("shard: [").expect("a matrix of shards") + "shard: [".len();
    let list = &wf[at..at + wf[at..].find(']').expect("list ends")];
    let ks: Vec<u64> = list
        .split(',')
        .map(|k| k.trim().parse().expect("a shard number"))
        .collect();
    assert_eq!(
        ks,
        (1..=shards).collect::<Vec<_>>(),
        "matrix.shard is not 1..=SHARDS"
    );
}
