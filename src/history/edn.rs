//! Reading a Jepsen (or Porcupine) `history.edn` into a [`History`].
//!
//! Accepted layouts, as Jepsen users write them: one op map per line, or EDN collections
//! (`[...]` or `(...)`) of op maps over many lines. Keys: `:process` (an integer; `:nemesis`
//! and any other keyword process are fault-injection entries and are skipped), `:type`
//! (`:invoke`, `:ok`, `:fail`, `:info`), `:f`, `:value`, and optionally `:key` (a string,
//! keyword or integer; without it every op gets the key `"r"`). Other keys (`:time`,
//! `:index`, `:error`) are ignored. Time is the op's position in the file (Jepsen writes
//! histories in real-time order), so `:time` is not needed. An `:info` completion leaves the
//! op's outcome unknown; an invocation never completed is `info` as well.
//!
//! `:f` and `:value` (on the invocation; on the `:ok` completion for reads):
//! - registers: `:read` (ok: nil or an integer, or a collection of integers for a list or
//!   a set), `:write` (an integer), `:cas` (`[from to]`);
//! - Porcupine's key-value store: `:get` (ok: a string; nil reads as `""`), `:put` (a
//!   string), `:append` (a string; an integer appends to a list instead);
//! - Jepsen's set: `:add` (an integer), `:read` (ok: `#{...}` or `[...]` of integers);
//! - Jepsen's queue: `:enqueue` (an integer), `:dequeue` (ok: an integer, or nil for an
//!   empty queue).
//!
//! Independent-key histories (`:value [k v]`, jepsen.independent) are not supported and are
//! reported as such.

use super::validate::HistoryError;
use super::{AppendValue, Call, History, Op, Outcome, Ret};
use kzsim_sim::SimTime;
use std::collections::BTreeMap;

/// The key every EDN register op gets.
pub const EDN_KEY: &str = "r";

/// An EDN value (the subset Jepsen histories use).
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A keyword, without the colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `[...]`, `(...)` or `#{...}`.
    Seq(Vec<Edn>),
    /// `{...}` in source order.
    Map(Vec<(Edn, Edn)>),
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

fn perr(line: usize, msg: impl Into<String>) -> HistoryError {
    HistoryError {
        location: format!("line {line}"),
        msg: msg.into(),
    }
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.s.len()
    }

    fn read_seq(&mut self, close: u8) -> Result<Vec<Edn>, HistoryError> {
        let start = self.line;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.s.get(self.pos) {
                None => {
                    return Err(perr(
                        start,
                        format!("unclosed collection (expected `{}`)", close as char),
                    ))
                }
                Some(&c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.read()?),
            }
        }
    }

    fn read(&mut self) -> Result<Edn, HistoryError> {
        self.skip_ws();
        let line = self.line;
        let Some(&c) = self.s.get(self.pos) else {
            return Err(perr(line, "unexpected end of input"));
        };
        match c {
            b'[' | b'(' => {
                self.pos += 1;
                Ok(Edn::Seq(self.read_seq(if c == b'[' {
                    b']'
                } else {
                    b')'
                })?))
            }
            b'{' => {
                self.pos += 1;
                let items = self.read_seq(b'}')?;
                if items.len() % 2 != 0 {
                    return Err(perr(line, "a map needs an even number of forms"));
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            b'#' => {
                self.pos += 1;
                match self.s.get(self.pos) {
                    Some(b'{') => {
                        self.pos += 1;
                        Ok(Edn::Seq(self.read_seq(b'}')?))
                    }
                    Some(b'_') => {
                        self.pos += 1;
                        self.read()?;
                        self.read()
                    }
                    _ => {
                        // A tagged literal (`#inst "..."`, `#jepsen.history.Op{...}`): keep the value.
                        self.read_token();
                        self.read()
                    }
                }
            }
            b'"' => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.pos) {
                        None => return Err(perr(line, "unterminated string")),
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let esc = self.s.get(self.pos + 1).copied().unwrap_or(b'\\');
                            out.push(match esc {
                                b'n' => b'\n',
                                b't' => b'\t',
                                other => other,
                            });
                            self.pos += 2;
                        }
                        Some(&b) => {
                            if b == b'\n' {
                                self.line += 1;
                            }
                            out.push(b);
                            self.pos += 1;
                        }
                    }
                }
                Ok(Edn::Str(String::from_utf8_lossy(&out).into_owned()))
            }
            b')' | b']' | b'}' => Err(perr(line, format!("unexpected `{}`", c as char))),
            _ => {
                let tok = self.read_token();
                if tok.is_empty() {
                    return Err(perr(line, format!("unexpected character `{}`", c as char)));
                }
                Ok(atom(&tok, line)?)
            }
        }
    }

    fn read_token(&mut self) -> String {
        let start = self.pos;
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b' ' | b'\t' | b'\r' | b'\n' | b',' | b'(' | b')' | b'[' | b']' | b'{' | b'}'
                | b'"' | b';' => break,
                _ => self.pos += 1,
            }
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }
}

fn atom(tok: &str, line: usize) -> Result<Edn, HistoryError> {
    Ok(match tok {
        "nil" => Edn::Nil,
        "true" => Edn::Bool(true),
        "false" => Edn::Bool(false),
        _ if tok.starts_with(':') => Edn::Keyword(tok[1..].to_string()),
        _ if tok.starts_with(|c: char| c.is_ascii_digit())
            || (tok.len() > 1 && (tok.starts_with('-') || tok.starts_with('+'))) =>
        {
            let t = tok.trim_end_matches(['N', 'M']);
            if let Ok(i) = t.parse::<i64>() {
                Edn::Int(i)
            } else if let Ok(f) = t.parse::<f64>() {
                Edn::Float(f)
            } else {
                return Err(perr(line, format!("`{tok}` is not a number")));
            }
        }
        _ => Edn::Symbol(tok.to_string()),
    })
}

/// Parses EDN text into top-level forms, each with the line it starts on.
pub fn parse_edn(text: &str) -> Result<Vec<(usize, Edn)>, HistoryError> {
    let mut r = Reader {
        s: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut forms = Vec::new();
    while !r.at_end() {
        let line = r.line;
        forms.push((line, r.read()?));
    }
    Ok(forms)
}

fn get<'a>(m: &'a [(Edn, Edn)], key: &str) -> Option<&'a Edn> {
    m.iter()
        .find(|(k, _)| matches!(k, Edn::Keyword(s) if s == key))
        .map(|(_, v)| v)
}

fn kw<'a>(m: &'a [(Edn, Edn)], key: &str, line: usize) -> Result<&'a str, HistoryError> {
    match get(m, key) {
        Some(Edn::Keyword(s)) => Ok(s),
        Some(other) => Err(perr(
            line,
            format!(":{key} must be a keyword, not {other:?}"),
        )),
        None => Err(perr(line, format!("op map has no :{key}"))),
    }
}

fn int_or_nil(v: Option<&Edn>, line: usize, what: &str) -> Result<Option<i64>, HistoryError> {
    match v {
        None | Some(Edn::Nil) => Ok(None),
        Some(Edn::Int(i)) => Ok(Some(*i)),
        Some(Edn::Seq(_)) => Err(perr(
            line,
            format!("{what}: a [k v] value (jepsen.independent) is not supported; check one key at a time"),
        )),
        Some(other) => Err(perr(line, format!("{what}: expected an integer or nil, not {other:?}"))),
    }
}

/// An op map's entries in source order.
type OpMap = Vec<(Edn, Edn)>;

/// The top-level op maps of an EDN history, each with the line it starts on: either maps
/// at top level, or the maps of top-level collections (each item with its own line).
fn op_maps(text: &str) -> Result<Vec<(usize, OpMap)>, HistoryError> {
    let mut r = Reader {
        s: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut maps = Vec::new();
    while !r.at_end() {
        let line = r.line;
        let close = match r.s[r.pos] {
            b'[' => Some(b']'),
            b'(' => Some(b')'),
            _ => None,
        };
        let Some(close) = close else {
            match r.read()? {
                Edn::Map(m) => maps.push((line, m)),
                other => {
                    return Err(perr(
                        line,
                        format!("expected an op map or a collection of them, found {other:?}"),
                    ))
                }
            }
            continue;
        };
        r.pos += 1;
        // Each pass reads one item or the closing bracket, so this ends with the input.
        loop {
            r.skip_ws();
            let item_line = r.line;
            match r.s.get(r.pos) {
                None => {
                    return Err(perr(
                        line,
                        format!("unclosed collection (expected `{}`)", close as char),
                    ))
                }
                Some(&c) if c == close => {
                    r.pos += 1;
                    break;
                }
                Some(_) => match r.read()? {
                    Edn::Map(m) => maps.push((item_line, m)),
                    other => {
                        return Err(perr(
                            item_line,
                            format!("expected an op map, found {other:?}"),
                        ))
                    }
                },
            }
        }
    }
    Ok(maps)
}

/// The operations [`parse_edn_history`] reads, for error messages.
pub const EDN_OPS: &str = "read, write, cas, get, put, append, add, enqueue, dequeue";

/// Reads a Jepsen or Porcupine `history.edn` into a [`History`] (format 1).
///
/// Guarantees: ops are in invocation order, keyed by their `:key` (a string, keyword or
/// integer) or [`EDN_KEY`] without one; `:nemesis` entries are skipped; a completion is
/// paired with its process's open invocation; an invocation never completed is `info`;
/// errors name the line and the op's ordinal, never panic.
pub fn parse_edn_history(text: &str) -> Result<History, HistoryError> {
    parse_edn_history_lines(text).map(|(h, _)| h)
}

/// As [`parse_edn_history`], and also returns the line each op was invoked on (one entry per
/// op of the history), so that later errors about `ops[i]` can name the line.
pub fn parse_edn_history_lines(text: &str) -> Result<(History, Vec<usize>), HistoryError> {
    let maps = op_maps(text)?;
    let mut history = History::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut open: BTreeMap<i64, (usize, usize)> = BTreeMap::new(); // process -> (op index, line)
    for (pos, (line, m)) in maps.iter().enumerate() {
        let line = *line;
        let here = |msg: String| perr(line, format!("op #{pos}: {msg}"));
        let process = match get(m, "process") {
            Some(Edn::Int(p)) => *p,
            Some(Edn::Keyword(_)) => continue, // :nemesis and other non-client processes
            Some(other) => {
                return Err(here(format!(
                    ":process must be an integer or :nemesis, not {other:?}"
                )))
            }
            None => return Err(here("op map has no :process".to_string())),
        };
        if process < 0 {
            return Err(here(format!(":process {process} is negative")));
        }
        let typ = kw(m, "type", line).map_err(|e| here(e.msg))?;
        let f = kw(m, "f", line).map_err(|e| here(e.msg))?;
        let value = get(m, "value");
        let t = SimTime(pos as u64);
        match typ {
            "invoke" => {
                if let Some((_, l)) = open.get(&process) {
                    return Err(here(format!(
                        "process {process} invokes while its op from line {l} is still open"
                    )));
                }
                let key = match get(m, "key") {
                    None | Some(Edn::Nil) => EDN_KEY.to_string(),
                    Some(Edn::Str(k) | Edn::Keyword(k) | Edn::Symbol(k)) => k.clone(),
                    Some(Edn::Int(k)) => k.to_string(),
                    Some(other) => {
                        return Err(here(format!(
                            ":key must be a string, keyword or integer, not {other:?}"
                        )))
                    }
                };
                let int = |what: &str| -> Result<i64, HistoryError> {
                    match int_or_nil(value, line, &format!(":{f} :value")) {
                        Ok(Some(v)) => Ok(v),
                        Ok(None) => Err(here(format!("a :{f} needs an integer :value ({what})"))),
                        Err(e) => Err(here(e.msg)),
                    }
                };
                let call = match f {
                    "read" => Call::Read { key },
                    "write" => Call::Write {
                        key,
                        value: int("the value written")?,
                    },
                    "cas" => match value {
                        Some(Edn::Seq(v)) if v.len() == 2 => match (&v[0], &v[1]) {
                            (Edn::Int(from), Edn::Int(to)) => Call::Cas {
                                key,
                                from: *from,
                                to: *to,
                            },
                            _ => {
                                return Err(here(
                                    "a :cas :value must be [from to] of integers".to_string(),
                                ))
                            }
                        },
                        _ => return Err(here("a :cas :value must be [from to]".to_string())),
                    },
                    "get" => Call::Get { key },
                    "put" => match value {
                        Some(Edn::Str(v)) => Call::Put {
                            key,
                            value: v.clone(),
                        },
                        other => {
                            return Err(here(format!(
                                "a :put needs a string :value, not {}",
                                show(other)
                            )))
                        }
                    },
                    "append" => match value {
                        Some(Edn::Str(v)) => Call::Append {
                            key,
                            value: AppendValue::Str(v.clone()),
                        },
                        Some(Edn::Int(v)) => Call::Append {
                            key,
                            value: AppendValue::Int(*v),
                        },
                        other => {
                            return Err(here(format!(
                                "an :append needs a string or integer :value, not {}",
                                show(other)
                            )))
                        }
                    },
                    "add" => Call::Add {
                        key,
                        value: int("the element added")?,
                    },
                    "enqueue" => Call::Enqueue {
                        key,
                        value: int("the element enqueued")?,
                    },
                    "dequeue" => Call::Dequeue { key },
                    other => {
                        return Err(here(format!(
                            ":f :{other} is not an operation kzsim reads ({EDN_OPS})"
                        )))
                    }
                };
                open.insert(process, (history.ops.len(), line));
                lines.push(line);
                history.ops.push(Op {
                    process: process as u64,
                    session: None,
                    node: None,
                    call,
                    invoke: t,
                    complete: None,
                    outcome: Outcome::Info,
                    ret: Ret::None,
                    zxid: None,
                });
            }
            "ok" | "fail" | "info" => {
                let Some((i, _)) = open.remove(&process) else {
                    if typ == "info" {
                        // An :info with no invocation is a log line from a client, not an op.
                        continue;
                    }
                    return Err(here(format!(
                        ":{typ} for process {process}, which has no open invocation"
                    )));
                };
                let op = &mut history.ops[i];
                let invoked_f = super::validate::call_name(&op.call);
                if invoked_f != f {
                    return Err(here(format!(
                        ":{typ} :f :{f} completes an invocation of :{invoked_f}"
                    )));
                }
                op.complete = Some(t);
                op.outcome = match typ {
                    "ok" => Outcome::Ok,
                    "fail" => Outcome::Fail,
                    _ => Outcome::Info,
                };
                if typ == "ok" {
                    op.ret = match f {
                        "read" => read_ret(value).map_err(&here)?,
                        "get" => match value {
                            Some(Edn::Str(v)) => Ret::Str { value: v.clone() },
                            // Porcupine's initial value is "": a missing key reads as "".
                            None | Some(Edn::Nil) => Ret::Str {
                                value: String::new(),
                            },
                            other => {
                                return Err(here(format!(
                                    "an ok :get must return a string or nil, not {}",
                                    show(other)
                                )))
                            }
                        },
                        "dequeue" => Ret::Value {
                            value: int_or_nil(value, line, ":dequeue :value")
                                .map_err(|e| here(e.msg))?,
                        },
                        _ => Ret::None,
                    };
                }
            }
            other => {
                return Err(here(format!(
                    ":type :{other} is not one of :invoke :ok :fail :info"
                )))
            }
        }
    }
    Ok((history, lines))
}

/// An EDN value for an error message (`nothing` when absent).
fn show(v: Option<&Edn>) -> String {
    match v {
        None => "nothing".to_string(),
        Some(e) => format!("{e:?}"),
    }
}

/// An ok `:read`'s return: nil or an integer (a register), or a collection of integers (a
/// list or a set).
fn read_ret(value: Option<&Edn>) -> Result<Ret, String> {
    match value {
        None | Some(Edn::Nil) => Ok(Ret::Value { value: None }),
        Some(Edn::Int(v)) => Ok(Ret::Value { value: Some(*v) }),
        Some(Edn::Seq(items)) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Edn::Int(v) => values.push(*v),
                    other => {
                        return Err(format!(
                            ":read :value: a collection must hold integers, not {other:?} \
                             (a [k v] value of jepsen.independent is not supported; check one key at a time)"
                        ))
                    }
                }
            }
            Ok(Ret::List { values })
        }
        Some(other) => Err(format!(
            ":read :value: expected nil, an integer or a collection of integers, not {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_map_per_line_with_nemesis_and_info() {
        let text = r#"{:process 0, :type :invoke, :f :write, :value 1, :time 10}
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 0, :type :info, :f :write, :value 1}
{:process 1, :type :ok, :f :read, :value 1}
{:process 2, :type :invoke, :f :cas, :value [1 2]}
{:process 2, :type :fail, :f :cas, :value [1 2]}
"#;
        let h = parse_edn_history(text).expect("parses");
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].outcome, Outcome::Info);
        assert_eq!(
            h.ops[0].call,
            Call::Write {
                key: "r".into(),
                value: 1
            }
        );
        assert_eq!(h.ops[1].ret, Ret::Value { value: Some(1) });
        assert_eq!(h.ops[2].outcome, Outcome::Fail);
        assert_eq!(
            h.ops[2].call,
            Call::Cas {
                key: "r".into(),
                from: 1,
                to: 2
            }
        );
    }

    #[test]
    fn one_collection_over_many_lines() {
        let text = "[{:process 0 :type :invoke :f :read :value nil}\n {:process 0 :type :ok :f :read :value nil}]";
        let h = parse_edn_history(text).expect("parses");
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].ret, Ret::Value { value: None });
    }

    #[test]
    fn errors_name_the_line() {
        let table: &[(&str, &str)] = &[
            (
                "{:process 0 :type :ok :f :read :value 1}",
                "line 1: op #0: :ok for process 0, which has no open invocation",
            ),
            (
                "\n{:process 0 :type :invoke :f :write}",
                "line 2: op #0: a :write needs an integer :value",
            ),
            (
                "{:process 0 :type :invoke :f :read}\n{:process 0 :type :invoke :f :read}",
                "line 2: op #1: process 0 invokes while its op from line 1 is still open",
            ),
            ("{:process 0 :type :invoke", "line 1: unclosed collection"),
            (
                "{:process 0 :type :invoke :f :write :value [:k 1]}",
                "line 1: op #0: :write :value: a [k v] value",
            ),
        ];
        for (input, want) in table {
            let got = parse_edn_history(input).expect_err(input).to_string();
            assert!(
                got.starts_with(want),
                "input {input}\n got {got}\nwant {want}"
            );
        }
    }
}
