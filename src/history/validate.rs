//! Reading and validating a JSON history, with errors that name the operation or event
//! index and the field (`ops[12].outcome: unknown variant "okay"`).
//!
//! [`parse_json`] checks the shape (every op and event parses, `format` is supported);
//! [`validate`] checks the rules the checkers rely on (completion after invocation, a
//! completion for every `ok`/`fail` op, one open op per process, invocation order).

use super::{Call, EventRecord, History, Op, Outcome, Ret, FORMAT_VERSION};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// A problem in a history file, located by JSON path (`ops[3].complete`) or by line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {msg}")]
pub struct HistoryError {
    /// Where: `ops[3].complete`, `events[0].event`, `format`, or `line 4 column 2`.
    pub location: String,
    /// What is wrong.
    pub msg: String,
}

fn herr(location: impl Into<String>, msg: impl Into<String>) -> HistoryError {
    HistoryError {
        location: location.into(),
        msg: msg.into(),
    }
}

/// Finds which field of `obj` fails to parse as `T`, to name it in the error.
fn field<T: DeserializeOwned>(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<(), HistoryError> {
    match obj.get(name) {
        None => Ok(()),
        Some(v) => serde_json::from_value::<T>(v.clone())
            .map(|_| ())
            .map_err(|e| herr(format!("{at}.{name}"), e.to_string())),
    }
}

fn parse_op(v: &Value, i: usize) -> Result<Op, HistoryError> {
    let at = format!("ops[{i}]");
    let Some(obj) = v.as_object() else {
        return Err(herr(at, "an op must be a JSON object"));
    };
    for required in ["process", "f", "invoke", "outcome"] {
        if !obj.contains_key(required) {
            return Err(herr(format!("{at}.{required}"), "missing field"));
        }
    }
    field::<u64>(obj, "process", &at)?;
    field::<u64>(obj, "invoke", &at)?;
    field::<Option<u64>>(obj, "complete", &at)?;
    field::<Outcome>(obj, "outcome", &at)?;
    field::<Ret>(obj, "ret", &at)?;
    field::<Option<i64>>(obj, "zxid", &at)?;
    field::<Option<i64>>(obj, "session", &at)?;
    field::<Option<String>>(obj, "node", &at)?;
    serde_json::from_value::<Call>(v.clone())
        .map_err(|e| herr(format!("{at}.f"), e.to_string()))?;
    serde_json::from_value::<Op>(v.clone()).map_err(|e| herr(at, e.to_string()))
}

fn parse_event(v: &Value, i: usize) -> Result<EventRecord, HistoryError> {
    let at = format!("events[{i}]");
    let Some(obj) = v.as_object() else {
        return Err(herr(at, "an event must be a JSON object"));
    };
    for required in ["at", "node", "event"] {
        if !obj.contains_key(required) {
            return Err(herr(format!("{at}.{required}"), "missing field"));
        }
    }
    field::<u64>(obj, "at", &at)?;
    field::<String>(obj, "node", &at)?;
    field::<super::Event>(obj, "event", &at)?;
    serde_json::from_value::<EventRecord>(v.clone()).map_err(|e| herr(at, e.to_string()))
}

/// Parses a JSON history document. Errors name the line (malformed JSON) or the op/event
/// index and field (well-formed JSON that is not a history of a supported format).
pub fn parse_json(text: &str) -> Result<History, HistoryError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        herr(
            format!("line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(herr(
            "document",
            "a history must be a JSON object with `format`, `ops` and `events`",
        ));
    };
    let format = match obj.get("format") {
        None => return Err(herr("format", "missing field (this build reads format 1)")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| herr("format", format!("must be an integer, not {v}")))?,
    };
    if format != FORMAT_VERSION as u64 {
        return Err(herr(
            "format",
            format!("unsupported format {format}; this build reads format {FORMAT_VERSION}"),
        ));
    }
    let ops = match obj.get("ops") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| parse_op(v, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(herr("ops", "must be an array")),
    };
    let events = match obj.get("events") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| parse_event(v, i))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(herr("events", "must be an array")),
    };
    for key in obj.keys() {
        if !matches!(key.as_str(), "format" | "ops" | "events") {
            return Err(herr(
                key.clone(),
                "unknown top-level field (expected `format`, `ops`, `events`)",
            ));
        }
    }
    Ok(History {
        format: FORMAT_VERSION,
        ops,
        events,
    })
}

/// Checks the rules every checker relies on; returns every problem found, in op order.
///
/// - `format` is [`FORMAT_VERSION`];
/// - `ok` and `fail` ops have a completion time, and no op completes before it is invoked;
/// - ops are listed in invocation order;
/// - a process has at most one op open: its next op is invoked after the previous one
///   completed, unless the previous one ended `info` (a crashed or timed-out client);
/// - `ok` ops of registers, key-value stores, sets and queues return what their `f` returns:
///   `read` a `value` or `list`, `get` a `string`, `dequeue` a `value`, the others `none`.
pub fn validate(history: &History) -> Vec<HistoryError> {
    let mut errors = Vec::new();
    if history.format != FORMAT_VERSION {
        errors.push(herr(
            "format",
            format!(
                "unsupported format {}; expected {FORMAT_VERSION}",
                history.format
            ),
        ));
    }
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        match (op.outcome, op.complete) {
            (Outcome::Ok | Outcome::Fail, None) => errors.push(herr(
                format!("ops[{i}].complete"),
                "an ok or fail op must have a completion time",
            )),
            (_, Some(c)) if c < op.invoke => errors.push(herr(
                format!("ops[{i}].complete"),
                format!(
                    "completes at {} before its invocation at {}",
                    c.0, op.invoke.0
                ),
            )),
            _ => {}
        }
        if i > 0 && op.invoke < history.ops[i - 1].invoke {
            errors.push(herr(
                format!("ops[{i}].invoke"),
                format!(
                    "ops must be in invocation order: invoked at {} but ops[{}] at {}",
                    op.invoke.0,
                    i - 1,
                    history.ops[i - 1].invoke.0
                ),
            ));
        }
        if let Some(&j) = open.get(&op.process) {
            let prev = &history.ops[j];
            if prev.outcome != Outcome::Info {
                if let Some(c) = prev.complete {
                    if op.invoke < c {
                        errors.push(herr(
                            format!("ops[{i}].process"),
                            format!(
                                "process {} invokes this op at {} while ops[{j}] is open until {}",
                                op.process, op.invoke.0, c.0
                            ),
                        ));
                    }
                }
            }
        }
        open.insert(op.process, i);
        let register_call = matches!(
            op.call,
            Call::Read { .. }
                | Call::Write { .. }
                | Call::Cas { .. }
                | Call::Append { .. }
                | Call::Get { .. }
                | Call::Put { .. }
                | Call::Add { .. }
                | Call::Enqueue { .. }
                | Call::Dequeue { .. }
        );
        if register_call && op.outcome == Outcome::Ok {
            let ret_ok = match op.call {
                Call::Read { .. } => matches!(op.ret, Ret::Value { .. } | Ret::List { .. }),
                Call::Get { .. } => matches!(op.ret, Ret::Str { .. }),
                Call::Dequeue { .. } => matches!(op.ret, Ret::Value { .. }),
                _ => matches!(op.ret, Ret::None),
            };
            if !ret_ok {
                errors.push(herr(
                    format!("ops[{i}].ret"),
                    format!("{:?} does not fit an ok {}", op.ret, call_name(&op.call)),
                ));
            }
        }
    }
    errors
}

/// The `f` of a call, as in JSON (`read`, `set_data`).
pub fn call_name(call: &Call) -> String {
    serde_json::to_value(call)
        .ok()
        .and_then(|v| v.get("f").and_then(|f| f.as_str().map(str::to_string)))
        .unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"format":1,"ops":[
        {"process":1,"f":"write","key":"x","value":1,"invoke":0,"complete":10,"outcome":"ok"},
        {"process":2,"f":"read","key":"x","invoke":5,"complete":12,"outcome":"ok","ret":{"type":"value","value":1}}
    ],"events":[{"at":3,"node":"zk1","event":{"layer":"zk","kind":"committed","zxid":4294967297}}]}"#;

    #[test]
    fn good_history_parses_and_validates() {
        let h = parse_json(GOOD).expect("parses");
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.events.len(), 1);
        assert_eq!(validate(&h), vec![]);
    }

    /// Each bad input names its place: (input, expected error).
    #[test]
    fn errors_name_index_and_field() {
        let table: &[(&str, &str)] = &[
            (
                r#"{"format":2,"ops":[]}"#,
                "format: unsupported format 2; this build reads format 1",
            ),
            (
                r#"{"ops":[]}"#,
                "format: missing field (this build reads format 1)",
            ),
            (
                r#"{"format":1,"ops":[{"process":1,"f":"read","key":"x","invoke":0}]}"#,
                "ops[0].outcome: missing field",
            ),
            (
                r#"{"format":1,"ops":[{"process":1,"f":"read","key":"x","invoke":0,"outcome":"okay"}]}"#,
                "ops[0].outcome: unknown variant `okay`, expected one of `ok`, `fail`, `info`",
            ),
            (
                r#"{"format":1,"ops":[{"process":-1,"f":"read","key":"x","invoke":0,"outcome":"ok"}]}"#,
                "ops[0].process: invalid value: integer `-1`, expected u64",
            ),
            (
                r#"{"format":1,"ops":[{"process":1,"f":"wrte","key":"x","invoke":0,"outcome":"ok"}]}"#,
                "ops[0].f: unknown variant `wrte`",
            ),
            (
                r#"{"format":1,"bogus":3}"#,
                "bogus: unknown top-level field (expected `format`, `ops`, `events`)",
            ),
            ("{\"format\":1,\n\"ops\":[}", "line 2 column 8"),
        ];
        for (input, want) in table {
            let got = parse_json(input).expect_err(input).to_string();
            assert!(
                got.starts_with(want),
                "input {input}\n got {got}\nwant {want}"
            );
        }
    }

    #[test]
    fn validate_finds_open_op_and_missing_completion() {
        let mut h = parse_json(GOOD).expect("parses");
        h.ops[1].process = 1;
        h.ops[0].complete = None;
        let got: Vec<String> = validate(&h).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec!["ops[0].complete: an ok or fail op must have a completion time".to_string()]
        );
        h.ops[0].complete = Some(kzsim_sim::SimTime(10));
        let got: Vec<String> = validate(&h).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "ops[1].process: process 1 invokes this op at 5 while ops[0] is open until 10"
                    .to_string()
            ]
        );
    }
}
