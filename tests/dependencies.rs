//! The crate's dependency rules (the "Layers" section of the crate docs in `src/lib.rs`),
//! checked by reading the source: every `.rs` file under `src/` is scanned for the modules its
//! code names (`use crate::x`, `crate::x::…` paths, `super::` paths that climb out of the
//! file's top-level module, and the simulator crate `kzsim_sim`), and each name is checked
//! against [`ALLOWED`].
//!
//! The scan is a small lexer, not a parser: comments (doc comments included, so intra-doc
//! links do not count), string and character literals are blanked out first, then paths are
//! read from the remaining tokens. `#[cfg(test)]` modules (inline or in their own file) are
//! held to [`TEST_EXTRA`] on top of their layer's row, since a unit test may build the
//! inputs of the code it tests with helpers from elsewhere; they are not compiled into the
//! library, so they cannot form a cycle in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each top-level module (a layer) may name besides itself. An entry is a module of
/// this crate, `kzsim_sim` (anything in the simulator crate) or `kzsim_sim::Item` (that item
/// only). Listed from the bottom up: a row names only rows above it, so there is no cycle.
const ALLOWED: &[(&str, &[&str])] = &[
    // The record of a run: owns every event type it records; only the clock's time type
    // comes from the simulator.
    ("history", &["kzsim_sim::SimTime"]),
    // Checkers judge histories and nothing else.
    ("check", &["history"]),
    // The protocols record into the history and run on the simulator; Kafka (in ZooKeeper
    // mode) is a ZooKeeper client. Neither knows checkers, scenarios or the wiring above.
    ("zk", &["history", "kzsim_sim"]),
    ("kafka", &["zk", "history", "kzsim_sim"]),
    // The wiring: the one network message type, and the simulated clusters built on it.
    ("net", &["zk", "kafka", "history", "kzsim_sim"]),
    ("cluster", &["net", "zk", "kafka", "history", "kzsim_sim"]),
    // Scenario files, and the historical bug flags (with the scenario each is caught on).
    (
        "scenario",
        &["cluster", "zk", "kafka", "history", "kzsim_sim"],
    ),
    ("bugs", &["scenario", "zk", "kafka", "history"]),
    // Running a scenario, and everything built on runs.
    (
        "runner",
        &[
            "bugs",
            "scenario",
            "cluster",
            "net",
            "check",
            "zk",
            "kafka",
            "history",
            "kzsim_sim",
        ],
    ),
    (
        "report",
        &[
            "runner",
            "bugs",
            "scenario",
            "cluster",
            "net",
            "check",
            "zk",
            "kafka",
            "history",
            "kzsim_sim",
        ],
    ),
    (
        "campaign",
        &[
            "report",
            "runner",
            "bugs",
            "scenario",
            "cluster",
            "net",
            "check",
            "zk",
            "kafka",
            "history",
            "kzsim_sim",
        ],
    ),
    (
        "teach",
        &[
            "report",
            "runner",
            "bugs",
            "scenario",
            "cluster",
            "net",
            "check",
            "zk",
            "kafka",
            "history",
            "kzsim_sim",
        ],
    ),
    (
        "bench",
        &[
            "campaign",
            "report",
            "runner",
            "bugs",
            "scenario",
            "cluster",
            "net",
            "check",
            "zk",
            "kafka",
            "history",
            "kzsim_sim",
        ],
    ),
];

/// What `#[cfg(test)]` code may name on top of its layer's row: Kafka's unit tests borrow
/// the harness's default wall-clock start (`cluster`), and the bug flags' unit tests run the
/// checker each flag is caught by (`check`). Test code is not part of the library, so it
/// cannot close a cycle in it.
const TEST_EXTRA: &[&str] = &["cluster", "check"];

/// Today's known breaks of the rules, as `(file under src/, module it names, why)`, each to
/// be removed by moving code (issue 18). Nothing else may break them, and an entry no
/// longer needed fails [`every_exception_is_still_needed`].
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "check/kafka.rs",
        "kafka",
        "reads Kafka's znode JSON (kafka::znodes) from recorded ZooKeeper ops; \
         next: the znode formats move below both",
    ),
    (
        "kafka/broker.rs",
        "net",
        "the broker host speaks NetMsg; next: generic over a KafkaMessage like zk's ZkMessage",
    ),
    ("kafka/client.rs", "net", "as kafka/broker.rs"),
    (
        "kafka/net.rs",
        "net",
        "the demultiplexer routes NetMsg; as kafka/broker.rs",
    ),
    (
        "kafka/cluster.rs",
        "net",
        "the Kafka cluster harness builds nodes of the world; next: it moves to the wiring",
    ),
    (
        "kafka/cluster.rs",
        "cluster",
        "as above: it starts beside the ZooKeeper cluster",
    ),
];

/// Files outside every layer: the crate root declares the modules, and the binary is the
/// command line over all of them.
const UNLAYERED: &[&str] = &["lib.rs", "main.rs"];

/// One name a file's code refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reference {
    line: usize,
    /// A top-level module of this crate, or `kzsim_sim::Item`.
    target: String,
    /// Inside a `#[cfg(test)]` module.
    test: bool,
}

/// The file's module path under `src/`: `check/kafka.rs` -> `[check, kafka]`,
/// `zk/zab/mod.rs` -> `[zk, zab]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().expect("a file name");
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

/// `src` with comments, string literals and character literals replaced by spaces (line
/// breaks kept, so line numbers survive).
fn blank_out(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && at(&c, i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
                out.push(' ');
            }
        } else if c[i] == '/' && at(&c, i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(&c, i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(&c, i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (c[i] == 'r' || (c[i] == 'b' && at(&c, i + 1) == 'r'))
            && !prev_is_ident(&c, i)
            && {
                let s = if c[i] == 'b' { 2 } else { 1 };
                let mut k = s;
                while at(&c, i + k) == '#' {
                    k += 1;
                }
                at(&c, i + k) == '"'
            }
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut k = if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(&c, i + k) == '#' {
                hashes += 1;
                k += 1;
            }
            for _ in 0..=k {
                out.push(' ');
            }
            i += k + 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|h| at(&c, i + h) == '#') {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && (at(&c, i + 1) == '\\' || at(&c, i + 2) == '\'') {
            // A character literal ('x', '\n', '\u{1F600}'); a lifetime ('a) is left alone.
            out.push(' ');
            i += 1;
            if c[i] == '\\' {
                out.push(' ');
                i += 1;
            }
            while i < c.len() && c[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn at(c: &[char], i: usize) -> char {
    c.get(i).copied().unwrap_or('\0')
}

fn prev_is_ident(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// Identifiers, `::` and single punctuation characters, each with its line.
fn tokens(text: &str) -> Vec<(String, usize)> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        if c[i] == '\n' {
            line += 1;
            i += 1;
        } else if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_alphabetic() || c[i] == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((c[s..i].iter().collect(), line));
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push(("::".to_owned(), line));
            i += 2;
        } else {
            out.push((c[i].to_string(), line));
            i += 1;
        }
    }
    out
}

/// The first segment of each path a `{…}` group starting at `toks[open]` lists
/// (`{a::x, b}` -> `[a, b]`).
fn group_heads(toks: &[(String, usize)], open: usize) -> Vec<String> {
    let (mut depth, mut heads, mut expect) = (0, Vec::new(), false);
    for (t, _) in &toks[open..] {
        match t.as_str() {
            "{" => {
                depth += 1;
                expect = depth == 1;
            }
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => expect = true,
            t if expect => {
                heads.push(t.to_owned());
                expect = false;
            }
            _ => {}
        }
    }
    heads
}

/// The names the code of one file (module path `module`) refers to outside its own
/// top-level module, with `#[cfg(test)]` modules marked, and the `#[cfg(test)] mod x;`
/// declarations it makes (their files are test code).
fn references(module: &[String], src: &str) -> (Vec<Reference>, Vec<String>) {
    let toks = tokens(&blank_out(src));
    let is = |k: usize, s: &str| toks.get(k).is_some_and(|(t, _)| t == s);
    let ident = |k: usize| {
        toks.get(k)
            .filter(|(t, _)| t.starts_with(|c: char| c.is_alphabetic() || c == '_'))
            .map(|(t, _)| t.clone())
    };
    // Inline modules we are inside: (name, brace depth of their body, is test code).
    let mut inline: Vec<(String, usize, bool)> = Vec::new();
    let (mut depth, mut cfg_test) = (0usize, false);
    let (mut refs, mut test_files) = (Vec::new(), Vec::new());
    let mut k = 0;
    while k < toks.len() {
        let (t, line) = (&toks[k].0, toks[k].1);
        let test = cfg_test || inline.iter().any(|m| m.2);
        match t.as_str() {
            "#" if ["[", "cfg", "(", "test", ")", "]"]
                .iter()
                .enumerate()
                .all(|(j, s)| is(k + 1 + j, s)) =>
            {
                cfg_test = true;
                k += 7;
                continue;
            }
            "mod" if ident(k + 1).is_some() && (is(k + 2, "{") || is(k + 2, ";")) => {
                let name = ident(k + 1).unwrap();
                if is(k + 2, "{") {
                    depth += 1;
                    inline.push((name, depth, test));
                } else if test {
                    let mut path: Vec<String> = module.to_vec();
                    path.extend(inline.iter().map(|m| m.0.clone()));
                    path.push(name);
                    test_files.push(path.join("/"));
                }
                cfg_test = false;
                k += 3;
                continue;
            }
            "{" => {
                depth += 1;
                cfg_test = false;
            }
            "}" => {
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
                depth -= 1;
                cfg_test = false;
            }
            ";" => cfg_test = false,
            "crate" | "super" | "kzsim_sim" if is(k + 1, "::") && !is(k.wrapping_sub(1), "::") => {
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|m| m.0.clone()));
                let mut j = k;
                let root_is_sim = t == "kzsim_sim";
                if t == "crate" {
                    here.clear();
                    j += 2;
                } else if t == "super" {
                    while is(j, "super") && is(j + 1, "::") {
                        here.pop();
                        j += 2;
                    }
                } else {
                    j += 2;
                }
                // `here` is now the module the path continues from; what it names is
                // outside this file's top-level module only if it climbed to the root.
                if root_is_sim || here.is_empty() {
                    let heads = if is(j, "{") {
                        group_heads(&toks, j)
                    } else {
                        ident(j).into_iter().collect()
                    };
                    for head in heads {
                        let target = match (root_is_sim, head.as_str()) {
                            (true, _) => format!("kzsim_sim::{head}"),
                            // `crate::sim` is the simulator crate, re-exported by lib.rs.
                            (false, "sim") => match ident(j + 2) {
                                Some(item) if is(j + 1, "::") => format!("kzsim_sim::{item}"),
                                _ => "kzsim_sim".to_owned(),
                            },
                            (false, "self") => continue,
                            (false, _) => head,
                        };
                        refs.push(Reference { line, target, test });
                    }
                }
                k = j;
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    (refs, test_files)
}

/// Whether layer `from` may name `target` (see [`ALLOWED`]).
fn allowed(from: &str, target: &str, test: bool) -> bool {
    if target == from {
        return true;
    }
    let row = ALLOWED
        .iter()
        .find(|(l, _)| *l == from)
        .map_or(&[][..], |(_, r)| *r);
    let extra = if test { TEST_EXTRA } else { &[] };
    row.iter().chain(extra).any(|a| {
        *a == target
            || (*a == "kzsim_sim" && target.starts_with("kzsim_sim::"))
            || (target == "kzsim_sim" && a.starts_with("kzsim_sim"))
    })
}

/// The rule breaks in one file's source, as `file:line: layer -> target` lines.
fn violations_in(rel: &str, src: &str, test_file: bool) -> Vec<String> {
    let module = module_path(Path::new(rel));
    let Some(layer) = module.first() else {
        return Vec::new();
    };
    let (refs, _) = references(&module, src);
    refs.into_iter()
        .filter(|r| !allowed(layer, &r.target, r.test || test_file))
        .filter(|r| !EXCEPTIONS.iter().any(|e| e.0 == rel && e.1 == r.target))
        .map(|r| format!("src/{rel}:{}: {layer} -> {}", r.line, r.target))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every file under `src/`, by path relative to it, with its text.
fn sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).expect("readable source");
            (rel, text)
        })
        .collect()
}

#[test]
fn every_layer_names_only_what_it_may() {
    let files = sources();
    // Files declared `#[cfg(test)] mod x;` are test code throughout.
    let mut test_files = Vec::new();
    for (rel, text) in &files {
        test_files.extend(references(&module_path(Path::new(rel)), text).1);
    }
    let mut broken = Vec::new();
    for (rel, text) in &files {
        if UNLAYERED.contains(&rel.as_str()) {
            continue;
        }
        let module = module_path(Path::new(rel)).join("/");
        let layer = rel.split('/').next().unwrap().trim_end_matches(".rs");
        assert!(
            ALLOWED.iter().any(|(l, _)| *l == layer),
            "src/{rel}: module `{layer}` is in no layer: add it to ALLOWED (and to the crate docs)"
        );
        broken.extend(violations_in(rel, text, test_files.contains(&module)));
    }
    assert!(
        broken.is_empty(),
        "dependencies against the layer rules (src/lib.rs, \"Layers\"):\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_exception_is_still_needed() {
    let files = sources();
    for (file, target, why) in EXCEPTIONS {
        let text = files
            .get(*file)
            .unwrap_or_else(|| panic!("src/{file} is gone"));
        let (refs, _) = references(&module_path(Path::new(file)), text);
        assert!(
            refs.iter().any(|r| r.target == *target),
            "src/{file} no longer names {target} ({why}): remove it from EXCEPTIONS"
        );
    }
}

#[test]
fn every_layer_row_names_only_rows_above_it() {
    for (i, (layer, row)) in ALLOWED.iter().enumerate() {
        for target in row.iter().filter(|t| !t.starts_with("kzsim_sim")) {
            let above = ALLOWED[..i].iter().any(|(l, _)| l == target);
            assert!(
                above,
                "{layer} may name {target}, which is not listed above it"
            );
        }
    }
}

#[test]
fn the_checker_catches_the_old_cycles() {
    // A checker reaching into a protocol, or into the simulator for its event type.
    let src = "use crate::history::History;\n\
               use crate::zk::ids::Zxid;\n\
               use kzsim_sim::SimEvent;\n\
               fn f(e: &crate::kafka::wire::KafkaWire) {}\n";
    assert_eq!(
        violations_in("check/zk.rs", src, false),
        [
            "src/check/zk.rs:2: check -> zk",
            "src/check/zk.rs:3: check -> kzsim_sim::SimEvent",
            "src/check/zk.rs:4: check -> kafka",
        ]
    );
    // The history embedding the simulator's event type.
    let src = "use kzsim_sim::{SimEvent, SimTime};\n";
    assert_eq!(
        violations_in("history/event.rs", src, false),
        ["src/history/event.rs:1: history -> kzsim_sim::SimEvent"]
    );
    // ZooKeeper importing the message type that carries Kafka's wire messages.
    let src = "use crate::net::{NetMsg, NodeCtx as NetCtx};\n";
    assert_eq!(
        violations_in("zk/server.rs", src, false),
        ["src/zk/server.rs:1: zk -> net"]
    );
    // A scenario building a campaign's type, through a grouped `use` and through `super`.
    let src = "use crate::{history::Event, campaign::schedule::ClusterShape};\n\
               fn shape() -> super::super::campaign::schedule::ClusterShape { todo!() }\n";
    assert_eq!(
        violations_in("scenario/mod.rs", src, false),
        [
            "src/scenario/mod.rs:1: scenario -> campaign",
            "src/scenario/mod.rs:2: scenario -> campaign",
        ]
    );
}

#[test]
fn the_checker_reads_only_code() {
    let src = "//! See [`crate::zk::Zxid`].\n\
               /* crate::kafka::x */\n\
               const S: &str = \"crate::zk::y\";\n\
               const R: &str = r#\"kzsim_sim::SimEvent\"#;\n\
               const C: char = '{';\n\
               fn f<'a>(x: &'a str) -> &'a str { x }\n\
               use super::linear::History;\n\
               #[cfg(test)]\n\
               mod tests {\n\
                   use crate::zk::ids::Zxid;\n\
               }\n\
               use crate::zk::wire::ZkWire;\n";
    let module = module_path(Path::new("check/zk.rs"));
    let (refs, _) = references(&module, src);
    let seen: Vec<(usize, &str, bool)> = refs
        .iter()
        .map(|r| (r.line, r.target.as_str(), r.test))
        .collect();
    assert_eq!(seen, [(10, "zk", true), (12, "zk", false)]);
}
