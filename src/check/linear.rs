//! Linearizability of registers, CAS registers, key-value stores, sets and queues.
//!
//! The search is Wing & Gong's backtracking with Lowe's memoization, as in Porcupine:
//! per key (P-compositionality, Horn & Kroening), the call and return entries sorted by
//! time (on a tie calls come first: intervals are closed) form a doubly linked list; at a
//! call we try the model's step and, if legal and the pair (set of linearized ops, new
//! state) was never seen, linearize it and restart from the head; reaching a return means
//! that op should already be linearized, so we backtrack.
//!
//! Rules this checker states (Jepsen users: see `docs/history-format.md`):
//! - `fail` ops definitely did not happen and are dropped (a failed read constrains nothing).
//! - `info` ops may or may not have happened: they have no return entry (a return at +inf)
//!   and accept any output; linearizing one last stands for "it never happened". `info`
//!   reads are dropped. An `info` write or CAS whose resulting value no read and no CAS can
//!   observe is dropped as well: it can always be moved to the end (proof in
//!   [`prunable_info`]), which keeps crashed clients from blowing up the concurrency.
//! - The initial value is a parameter (`None` = nil). A read of nil is either a real value
//!   that must match ([`NilRead::Value`], Porcupine's etcd model) or accepted in any state
//!   ([`NilRead::Any`], Knossos's cas-register model).
//! - A budget of search steps (and optionally a wall-clock deadline) ends in
//!   [`Verdict::Unknown`], never in a hang. A history with no `ok` op left to judge is
//!   [`Verdict::Unknown`] too, never ok.
//!
//! What each [`Model`] accepts, per key (each key is its own object, checked alone):
//! - `register`: `read`, `write` of integers; initial value [`LinearOptions::initial`].
//! - `cas-register`: as `register`, plus `cas [from to]`, which succeeds only if the value
//!   equals `from` (a failed CAS must be recorded `fail`).
//! - `kv`: a key is either an integer key (`read`, `write`, `cas`, and `append` of an
//!   integer, which turns the value into a list read back whole) or a string key with
//!   Porcupine's semantics (`get` returns the current string, `put` sets it, `append` of a
//!   string concatenates; initial value `""`). One key mixing the two kinds is bad input.
//! - `set` (Knossos's set): `add` of an integer element; an ok `read` returns the whole set
//!   (a `list`; order is ignored, a duplicate element never matches). Initially empty.
//! - `queue` (Knossos's FIFO queue): `enqueue` of an integer at the back; an ok `dequeue`
//!   returns the front element and removes it, or nil, which asserts the queue was empty
//!   (Knossos rejects such ops; Jepsen clients usually record an empty dequeue as `fail`,
//!   which constrains nothing). An `info` dequeue, if it took effect, removed the front.

use super::{CheckReport, CheckStats, Verdict, Violation};
use crate::history::validate::call_name;
use crate::history::AppendValue;
use crate::history::{Call, History, Outcome, Ret};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Instant;

/// Which sequential specification the history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Reads and writes.
    Register,
    /// Reads, writes and compare-and-set.
    CasRegister,
    /// Per key: integer keys (reads, writes, compare-and-set and list append) or string
    /// keys (Porcupine's get, put and string append).
    Kv,
    /// Per key: a set of integers (add, read of the whole set).
    Set,
    /// Per key: a FIFO queue of integers (enqueue, dequeue).
    Queue,
}

impl Model {
    /// The operations the model accepts, as listed in error messages.
    pub fn accepts(self) -> &'static str {
        match self {
            Model::Register => "read, write",
            Model::CasRegister => "read, write, cas",
            Model::Kv => "read, write, cas, append of integers; get, put, append of strings",
            Model::Set => "add, read",
            Model::Queue => "enqueue, dequeue",
        }
    }

    /// The name used on the command line and in report names.
    pub fn name(self) -> &'static str {
        match self {
            Model::Register => "register",
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
            Model::Set => "set",
            Model::Queue => "queue",
        }
    }
}

/// How a read of nil (`"value": null`) is judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NilRead {
    /// nil is a value: it matches only a register that holds nothing (Porcupine).
    #[default]
    Value,
    /// A nil read is accepted in any state (Knossos's cas-register model).
    Any,
}

/// Parameters of a linearizability check.
#[derive(Clone, Debug)]
pub struct LinearOptions {
    /// The sequential specification.
    pub model: Model,
    /// Every integer register's initial value (`None`: nil, as Jepsen tests mostly start).
    /// String keys start at `""`, sets and queues empty, whatever this says.
    pub initial: Option<i64>,
    /// The nil-read rule.
    pub nil_read: NilRead,
    /// Search steps over all keys before the verdict becomes unknown.
    pub steps_max: u64,
    /// Memoized configurations per key before the verdict becomes unknown (bounds memory).
    pub cache_entries_max: usize,
    /// Wall-clock deadline (used by the CLI's `--timeout`; under madsim time stands still,
    /// so in simulation only `steps_max` applies).
    pub deadline: Option<Instant>,
}

impl LinearOptions {
    /// Defaults: initial nil, nil is a value, 50 million steps, 4 million cache entries.
    pub fn new(model: Model) -> Self {
        LinearOptions {
            model,
            initial: None,
            nil_read: NilRead::Value,
            steps_max: 50_000_000,
            cache_entries_max: 4_000_000,
            deadline: None,
        }
    }
}

/// A register's or key's state: nothing/an integer, a list (after appends), a string, a
/// set or a queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// A register value (`None`: nil).
    Value(Option<i64>),
    /// A list built by appends.
    List(Vec<i64>),
    /// A string (Porcupine's kv model).
    Str(String),
    /// A set of integers.
    Set(BTreeSet<i64>),
    /// A FIFO queue of integers, front first.
    Queue(VecDeque<i64>),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Value(None) => write!(f, "nil"),
            State::Value(Some(v)) => write!(f, "{v}"),
            State::List(l) => write!(f, "{l:?}"),
            State::Str(s) => write!(f, "{s:?}"),
            State::Set(set) => {
                let v: Vec<String> = set.iter().map(i64::to_string).collect();
                write!(f, "#{{{}}}", v.join(" "))
            }
            State::Queue(q) => {
                let v: Vec<String> = q.iter().map(i64::to_string).collect();
                write!(f, "queue [{}]", v.join(" "))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Input {
    Read,
    Write(i64),
    Cas(i64, i64),
    Append(i64),
    /// Porcupine's kv `get`.
    Get,
    /// Porcupine's kv `put`.
    Put(String),
    /// Porcupine's kv `append` (string concatenation).
    Concat(String),
    /// Set `add`.
    Add(i64),
    /// Queue `enqueue`.
    Enqueue(i64),
    /// Queue `dequeue`.
    Dequeue,
}

impl Input {
    /// True for the ops of Porcupine's string kv model.
    fn is_string(&self) -> bool {
        matches!(self, Input::Get | Input::Put(_) | Input::Concat(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Output {
    /// `info`: any output is accepted.
    Any,
    /// A read's value.
    Value(Option<i64>),
    /// A list read's value (for the set model: sorted).
    List(Vec<i64>),
    /// A `get`'s string.
    Str(String),
    /// A write, CAS or append that succeeded.
    Done,
}

#[derive(Clone, Debug)]
struct LinOp {
    /// Index into `History::ops`.
    index: usize,
    input: Input,
    output: Output,
    invoke: u64,
    /// `None` for `info` ops (a return at +inf).
    complete: Option<u64>,
}

fn step(s: &State, op: &LinOp, nil_read: NilRead) -> Option<State> {
    let info = op.output == Output::Any;
    match &op.input {
        Input::Read => match &op.output {
            Output::Any => Some(s.clone()),
            Output::Value(None) if nil_read == NilRead::Any => Some(s.clone()),
            Output::Value(v) => match s {
                State::Value(x) if x == v => Some(s.clone()),
                State::List(l) if l.is_empty() && v.is_none() => Some(s.clone()),
                _ => None,
            },
            Output::List(vs) => match s {
                State::List(l) if l == vs => Some(s.clone()),
                State::Value(None) if vs.is_empty() => Some(s.clone()),
                // `vs` is sorted: equal iff the same elements, each once.
                State::Set(set) if set.len() == vs.len() && set.iter().eq(vs.iter()) => {
                    Some(s.clone())
                }
                _ => None,
            },
            Output::Done | Output::Str(_) => None,
        },
        Input::Write(v) => Some(State::Value(Some(*v))),
        Input::Cas(from, to) => match s {
            State::Value(Some(x)) if x == from => Some(State::Value(Some(*to))),
            // An `info` CAS whose comparison fails had no effect.
            _ if info => Some(s.clone()),
            _ => None,
        },
        Input::Append(v) => match s {
            State::Value(None) => Some(State::List(vec![*v])),
            State::List(l) => {
                let mut l = l.clone();
                l.push(*v);
                Some(State::List(l))
            }
            _ if info => Some(s.clone()),
            _ => None,
        },
        Input::Get => match (&op.output, s) {
            (Output::Str(v), State::Str(x)) if v == x => Some(s.clone()),
            (Output::Any, _) => Some(s.clone()),
            _ => None,
        },
        Input::Put(v) => Some(State::Str(v.clone())),
        Input::Concat(v) => match s {
            State::Str(x) => Some(State::Str(format!("{x}{v}"))),
            _ if info => Some(s.clone()),
            _ => None,
        },
        Input::Add(v) => match s {
            State::Set(set) => {
                let mut set = set.clone();
                set.insert(*v);
                Some(State::Set(set))
            }
            _ if info => Some(s.clone()),
            _ => None,
        },
        Input::Enqueue(v) => match s {
            State::Queue(q) => {
                let mut q = q.clone();
                q.push_back(*v);
                Some(State::Queue(q))
            }
            _ if info => Some(s.clone()),
            _ => None,
        },
        Input::Dequeue => match (s, &op.output) {
            // If an `info` dequeue took effect, it removed the front (if any).
            (State::Queue(q), Output::Any) => {
                let mut q = q.clone();
                q.pop_front();
                Some(State::Queue(q))
            }
            (State::Queue(q), Output::Value(Some(v))) if q.front() == Some(v) => {
                let mut q = q.clone();
                q.pop_front();
                Some(State::Queue(q))
            }
            (State::Queue(q), Output::Value(None)) if q.is_empty() => Some(s.clone()),
            _ => None,
        },
    }
}

/// Why a history cannot be checked against a model (bad input, named by op index and field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ops[{op}].{field}: {msg}")]
pub struct ModelError {
    /// Index into `History::ops`.
    pub op: usize,
    /// The field that is wrong (`f`, `ret`, `complete`).
    pub field: String,
    /// What is wrong.
    pub msg: String,
}

fn err(op: usize, field: &str, msg: impl Into<String>) -> ModelError {
    ModelError {
        op,
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// Translates history ops into search ops, per key. `fail` ops and `info` reads and gets
/// are dropped. Errors name the op index and field: an op the model does not accept, an ok
/// op without the return its `f` has, a kv key mixing integer and string ops.
fn translate(history: &History, model: Model) -> Result<BTreeMap<String, Vec<LinOp>>, ModelError> {
    let mut by_key: BTreeMap<String, Vec<LinOp>> = BTreeMap::new();
    // kv: per key, whether it holds a string and the op that decided it.
    let mut kind: BTreeMap<String, (bool, usize)> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        let accepted = match (&op.call, model) {
            (Call::Read { key }, Model::Register | Model::CasRegister | Model::Kv | Model::Set) => {
                Some((key, Input::Read))
            }
            (Call::Write { key, value }, Model::Register | Model::CasRegister | Model::Kv) => {
                Some((key, Input::Write(*value)))
            }
            (Call::Cas { key, from, to }, Model::CasRegister | Model::Kv) => {
                Some((key, Input::Cas(*from, *to)))
            }
            (Call::Append { key, value }, Model::Kv) => Some((
                key,
                match value {
                    AppendValue::Int(v) => Input::Append(*v),
                    AppendValue::Str(v) => Input::Concat(v.clone()),
                },
            )),
            (Call::Get { key }, Model::Kv) => Some((key, Input::Get)),
            (Call::Put { key, value }, Model::Kv) => Some((key, Input::Put(value.clone()))),
            (Call::Add { key, value }, Model::Set) => Some((key, Input::Add(*value))),
            (Call::Enqueue { key, value }, Model::Queue) => Some((key, Input::Enqueue(*value))),
            (Call::Dequeue { key }, Model::Queue) => Some((key, Input::Dequeue)),
            _ => None,
        };
        let Some((key, input)) = accepted else {
            return Err(err(
                i,
                "f",
                format!(
                    "`{}` is not an operation of the {} model (it accepts {})",
                    call_name(&op.call),
                    model.name(),
                    model.accepts()
                ),
            ));
        };
        if model == Model::Kv {
            let string = input.is_string();
            let (k, first) = *kind.entry(key.clone()).or_insert((string, i));
            if k != string {
                let what = |s: bool| {
                    if s {
                        "string ops (get, put, append of a string)"
                    } else {
                        "integer ops (read, write, cas, append of an integer)"
                    }
                };
                return Err(err(
                    i,
                    "f",
                    format!(
                        "key {key:?} has {} since ops[{first}], so `{}` with {} cannot be checked",
                        what(k),
                        call_name(&op.call),
                        what(string)
                    ),
                ));
            }
        }
        let reads = matches!(input, Input::Read | Input::Get);
        let output = match op.outcome {
            Outcome::Fail => continue,
            Outcome::Info => {
                if reads {
                    continue;
                }
                Output::Any
            }
            Outcome::Ok => match (&input, &op.ret) {
                (Input::Read, Ret::List { values }) if model == Model::Set => {
                    let mut v = values.clone();
                    v.sort_unstable();
                    Output::List(v)
                }
                (Input::Read, other) if model == Model::Set => {
                    return Err(err(
                        i,
                        "ret",
                        format!("an ok set read must return `list` (the whole set), not {other:?}"),
                    ))
                }
                (Input::Read, Ret::Value { value }) => Output::Value(*value),
                (Input::Read, Ret::List { .. })
                    if matches!(model, Model::Register | Model::CasRegister) =>
                {
                    return Err(err(
                        i,
                        "ret",
                        format!(
                            "an ok read of the {} model must return one `value`, not a list",
                            model.name()
                        ),
                    ))
                }
                (Input::Read, Ret::List { values }) => Output::List(values.clone()),
                (Input::Read, other) => {
                    return Err(err(
                        i,
                        "ret",
                        format!("an ok read must return `value` or `list`, not {other:?}"),
                    ))
                }
                (Input::Get, Ret::Str { value }) => Output::Str(value.clone()),
                (Input::Get, other) => {
                    return Err(err(
                        i,
                        "ret",
                        format!("an ok get must return `string`, not {other:?}"),
                    ))
                }
                (Input::Dequeue, Ret::Value { value }) => Output::Value(*value),
                (Input::Dequeue, other) => {
                    return Err(err(
                        i,
                        "ret",
                        format!("an ok dequeue must return `value` (nil: the queue was empty), not {other:?}"),
                    ))
                }
                (_, _) => Output::Done,
            },
        };
        let complete = match op.outcome {
            Outcome::Info => None,
            _ => match op.complete {
                Some(t) => Some(t.0),
                None => return Err(err(i, "complete", "an ok op must have a completion time")),
            },
        };
        if let Some(c) = complete {
            if c < op.invoke.0 {
                return Err(err(
                    i,
                    "complete",
                    format!("completes at {c} before its invoke at {}", op.invoke.0),
                ));
            }
        }
        by_key.entry(key.clone()).or_default().push(LinOp {
            index: i,
            input,
            output,
            invoke: op.invoke.0,
            complete,
        });
    }
    Ok(by_key)
}

/// A key's initial state under `model`: a kv key holding strings starts at `""`, sets and
/// queues empty, every other key at `initial`.
fn initial_state(model: Model, ops: &[LinOp], initial: Option<i64>) -> State {
    match model {
        Model::Set => State::Set(BTreeSet::new()),
        Model::Queue => State::Queue(VecDeque::new()),
        Model::Kv if ops.first().is_some_and(|o| o.input.is_string()) => State::Str(String::new()),
        _ => State::Value(initial),
    }
}

/// Drops `info` writes and CASes whose resulting value nothing can observe.
///
/// Claim: if an `info` op X sets the value to `v`, and `v` is neither returned by an ok read
/// nor the `from` of any CAS, then any linearization that places X before the end can be
/// rewritten without X. Between X and the next write, every op had to accept state `v`:
/// ok reads would have returned `v` (none do), ok CASes would compare with `v` (none do),
/// `info` CASes compared with `v` fail and had no effect. So that stretch holds only `info`
/// ops, which can all move to the end, where an `info` op is always legal. Lists (appends)
/// are observed whole, so partitions with appends are left alone, and so are strings, sets
/// and queues (only register partitions are pruned).
fn prunable_info(ops: &[LinOp], nil_read: NilRead) -> Vec<LinOp> {
    if ops
        .iter()
        .any(|o| !matches!(o.input, Input::Read | Input::Write(_) | Input::Cas(..)))
    {
        return ops.to_vec();
    }
    let mut observable: BTreeSet<i64> = BTreeSet::new();
    for o in ops {
        match (&o.input, &o.output) {
            (Input::Read, Output::Value(Some(v))) => {
                observable.insert(*v);
            }
            (Input::Cas(from, _), _) => {
                observable.insert(*from);
            }
            _ => {}
        }
    }
    ops.iter()
        .filter(|o| {
            let info = o.output == Output::Any;
            match o.input {
                Input::Write(v) | Input::Cas(_, v) if info => observable.contains(&v),
                // A nil read under the Knossos rule accepts every state: it constrains nothing.
                Input::Read => !(nil_read == NilRead::Any && o.output == Output::Value(None)),
                _ => true,
            }
        })
        .cloned()
        .collect()
}

/// FxHash: a fixed, fast hasher. Only set membership depends on it, never iteration order.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64);
    }
}

type FxSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;

/// The outcome of searching one key.
enum KeyResult {
    Ok,
    Violated(Violation),
    Unknown(String),
}

/// Shared budget across keys.
struct Budget {
    steps: u64,
    steps_max: u64,
    cache_entries_max: usize,
    deadline: Option<Instant>,
}

impl Budget {
    /// Counts one step; `Some(reason)` when the budget is spent.
    fn tick(&mut self) -> Option<String> {
        self.steps += 1;
        if self.steps > self.steps_max {
            return Some(format!(
                "search budget of {} steps exhausted",
                self.steps_max
            ));
        }
        if self.steps.is_multiple_of(4096) {
            if let Some(d) = self.deadline {
                if Instant::now() >= d {
                    return Some("timeout reached".to_string());
                }
            }
        }
        None
    }
}

const NIL: usize = usize::MAX;

fn describe(op: &LinOp) -> String {
    let input = match &op.input {
        Input::Read => "read".to_string(),
        Input::Write(v) => format!("write {v}"),
        Input::Cas(f, t) => format!("cas {f}->{t}"),
        Input::Append(v) => format!("append {v}"),
        Input::Get => "get".to_string(),
        Input::Put(v) => format!("put {v:?}"),
        Input::Concat(v) => format!("append {v:?}"),
        Input::Add(v) => format!("add {v}"),
        Input::Enqueue(v) => format!("enqueue {v}"),
        Input::Dequeue => "dequeue".to_string(),
    };
    let output = match &op.output {
        Output::Any => " (info)".to_string(),
        Output::Value(None) => " -> nil".to_string(),
        Output::Value(Some(v)) => format!(" -> {v}"),
        Output::List(l) => format!(" -> {l:?}"),
        Output::Str(v) => format!(" -> {v:?}"),
        Output::Done => String::new(),
    };
    format!("ops[{}] {input}{output}", op.index)
}

fn search_key(
    key: &str,
    ops: &[LinOp],
    initial: &State,
    nil_read: NilRead,
    budget: &mut Budget,
    checker: &str,
) -> KeyResult {
    let n = ops.len();
    // Entries: 2*i is op i's call, 2*i+1 its return (absent for info ops).
    let mut entries: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        entries.push((o.invoke, false, 2 * i));
        if let Some(c) = o.complete {
            entries.push((c, true, 2 * i + 1));
        }
    }
    // Calls before returns at equal times (`false < true`), then by op order.
    entries.sort();
    let ids: Vec<usize> = entries.iter().map(|e| e.2).collect();
    // Linked list over entry ids; slot 2n is the head sentinel.
    let head = 2 * n;
    let mut next = vec![NIL; 2 * n + 1];
    let mut prev = vec![NIL; 2 * n + 1];
    let mut last = head;
    for &id in &ids {
        next[last] = id;
        prev[id] = last;
        last = id;
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, nx) = (prev[e], next[e]);
        next[p] = nx;
        if nx != NIL {
            prev[nx] = p;
        }
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, nx) = (prev[e], next[e]);
        next[p] = e;
        if nx != NIL {
            prev[nx] = e;
        }
    };

    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: FxSet<(Box<[u64]>, State)> = FxSet::default();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state = initial.clone();
    let mut remaining_ok = ops.iter().filter(|o| o.complete.is_some()).count();
    // The deepest dead end: (linearized count, state, blocking op, window).
    let mut deepest: Option<(usize, State, usize, Vec<usize>)> = None;
    let mut cur = next[head];
    loop {
        if remaining_ok == 0 {
            // Every remaining op is `info`: each can go last, where it is always legal.
            return KeyResult::Ok;
        }
        if let Some(reason) = budget.tick() {
            return KeyResult::Unknown(format!("key {key:?}: {reason}"));
        }
        assert!(cur != NIL, "ok ops remain but the entry list ran out");
        let op_i = cur / 2;
        if cur.is_multiple_of(2) {
            let op = &ops[op_i];
            if let Some(new_state) = step(&state, op, nil_read) {
                linearized[op_i / 64] |= 1 << (op_i % 64);
                if cache.insert((linearized.clone().into_boxed_slice(), new_state.clone())) {
                    if cache.len() > budget.cache_entries_max {
                        return KeyResult::Unknown(format!(
                            "key {key:?}: memoization cache exceeded {} entries",
                            budget.cache_entries_max
                        ));
                    }
                    stack.push((cur, std::mem::replace(&mut state, new_state)));
                    unlink(&mut next, &mut prev, cur);
                    if op.complete.is_some() {
                        unlink(&mut next, &mut prev, cur + 1);
                        remaining_ok -= 1;
                    }
                    cur = next[head];
                    continue;
                }
                linearized[op_i / 64] &= !(1 << (op_i % 64));
            }
            cur = next[cur];
        } else {
            // A return whose op is not linearized: dead end.
            if deepest.as_ref().is_none_or(|d| stack.len() > d.0) {
                let mut window = Vec::new();
                let mut e = next[head];
                while e != NIL && e != cur {
                    if e.is_multiple_of(2) {
                        window.push(e / 2);
                    }
                    e = next[e];
                }
                deepest = Some((stack.len(), state.clone(), op_i, window));
            }
            let Some((call, old_state)) = stack.pop() else {
                let (depth, st, blocking, window) = deepest.expect("a dead end was recorded");
                let mut op_indices: Vec<usize> = window.iter().map(|&w| ops[w].index).collect();
                op_indices.push(ops[blocking].index);
                op_indices.sort();
                op_indices.dedup();
                let candidates: Vec<String> = window.iter().map(|&w| describe(&ops[w])).collect();
                let message = format!(
                    "key {key:?} is not linearizable: after at most {depth} ops linearized, {} must take effect \
                     before it returns but no candidate fits; candidates were [{}]",
                    describe(&ops[blocking]),
                    candidates.join(", ")
                );
                return KeyResult::Violated(Violation {
                    checker: checker.to_string(),
                    message,
                    ops: op_indices,
                    events: vec![],
                    state_before: Some(st.to_string()),
                });
            };
            let back = call / 2;
            linearized[back / 64] &= !(1 << (back % 64));
            state = old_state;
            if ops[back].complete.is_some() {
                relink(&mut next, &mut prev, call + 1);
                remaining_ok += 1;
            }
            relink(&mut next, &mut prev, call);
            cur = next[call];
        }
    }
}

/// Checks that `history`'s operations are linearizable under `opts.model`, key by key.
///
/// Guarantees: `Ok` only if at least one ok operation was judged and every key's ok operations (with some subset of its `info`
/// operations) have a legal linearization respecting real time; `Violated` names, per bad
/// key, the ops of the smallest window that could not be extended and the state before it;
/// `Unknown` when the step, cache or time budget ran out. Bad input (an op the model does
/// not know, an ok read without a value) is an `Err` naming the op index and field.
pub fn check(history: &History, opts: &LinearOptions) -> Result<CheckReport, ModelError> {
    let checker = format!("linear.{}", opts.model.name());
    let by_key = translate(history, opts.model)?;
    let mut budget = Budget {
        steps: 0,
        steps_max: opts.steps_max,
        cache_entries_max: opts.cache_entries_max,
        deadline: opts.deadline,
    };
    let mut stats = CheckStats {
        partitions: by_key.len() as u64,
        ..CheckStats::default()
    };
    let mut violations = Vec::new();
    let mut unknown: Option<String> = None;
    let mut ok_ops = 0usize;
    for (key, ops) in &by_key {
        let initial = initial_state(opts.model, ops, opts.initial);
        let kept = prunable_info(ops, opts.nil_read);
        stats.checked += kept.len() as u64;
        stats.skipped += (ops.len() - kept.len()) as u64;
        ok_ops += kept.iter().filter(|o| o.complete.is_some()).count();
        match search_key(key, &kept, &initial, opts.nil_read, &mut budget, &checker) {
            KeyResult::Ok => {}
            KeyResult::Violated(v) => violations.push(v),
            KeyResult::Unknown(reason) => {
                unknown = Some(reason);
                break;
            }
        }
    }
    stats.steps = budget.steps;
    let verdict = if !violations.is_empty() {
        Verdict::Violated(violations)
    } else if let Some(reason) = unknown {
        Verdict::Unknown { reason }
    } else if ok_ops == 0 {
        Verdict::Unknown {
            reason: format!(
                "nothing to judge: none of the history's {} ops is an ok {} op",
                history.ops.len(),
                opts.model.name()
            ),
        }
    } else {
        Verdict::Ok
    };
    Ok(CheckReport::new(checker, verdict, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use crate::history::SimTime;

    fn op(
        process: u64,
        call: Call,
        invoke: u64,
        complete: Option<u64>,
        outcome: Outcome,
        ret: Ret,
    ) -> Op {
        Op {
            process,
            session: None,
            node: None,
            call,
            invoke: SimTime(invoke),
            complete: complete.map(SimTime),
            outcome,
            ret,
            zxid: None,
        }
    }
    fn w(p: u64, v: i64, a: u64, b: u64) -> Op {
        op(
            p,
            Call::Write {
                key: "x".into(),
                value: v,
            },
            a,
            Some(b),
            Outcome::Ok,
            Ret::None,
        )
    }
    fn r(p: u64, v: Option<i64>, a: u64, b: u64) -> Op {
        op(
            p,
            Call::Read { key: "x".into() },
            a,
            Some(b),
            Outcome::Ok,
            Ret::Value { value: v },
        )
    }
    fn hist(ops: Vec<Op>) -> History {
        History {
            ops,
            ..History::new()
        }
    }
    fn run(ops: Vec<Op>) -> Verdict {
        check(&hist(ops), &LinearOptions::new(Model::CasRegister))
            .expect("valid")
            .verdict
    }

    #[test]
    fn sequential_write_then_read_is_ok() {
        assert_eq!(run(vec![w(1, 1, 0, 1), r(2, Some(1), 2, 3)]), Verdict::Ok);
    }

    #[test]
    fn stale_read_after_completed_write_is_violated() {
        let v = run(vec![w(1, 1, 0, 1), w(1, 2, 2, 3), r(2, Some(1), 4, 5)]);
        let vs = v.violations();
        assert_eq!(vs.len(), 1);
        assert_eq!(vs[0].ops, vec![2]);
        assert_eq!(vs[0].state_before.as_deref(), Some("2"));
    }

    #[test]
    fn concurrent_read_may_see_either_value() {
        assert_eq!(
            run(vec![
                w(1, 1, 0, 1),
                w(1, 2, 2, 6),
                r(2, Some(1), 3, 4),
                r(3, Some(2), 3, 5)
            ]),
            Verdict::Ok
        );
    }

    #[test]
    fn budget_gives_unknown() {
        let mut o = LinearOptions::new(Model::Register);
        o.steps_max = 1;
        let rep = check(&hist(vec![w(1, 1, 0, 1), r(2, Some(1), 2, 3)]), &o).expect("valid");
        assert!(matches!(rep.verdict, Verdict::Unknown { .. }), "{rep}");
    }

    #[test]
    fn register_model_rejects_cas_naming_the_op() {
        let h = hist(vec![op(
            1,
            Call::Cas {
                key: "x".into(),
                from: 1,
                to: 2,
            },
            0,
            Some(1),
            Outcome::Ok,
            Ret::None,
        )]);
        let e =
            check(&h, &LinearOptions::new(Model::Register)).expect_err("cas is not a register op");
        assert_eq!(
            e.to_string(),
            "ops[0].f: `cas` is not an operation of the register model (it accepts read, write)"
        );
    }

    #[test]
    fn unobserved_info_write_is_pruned_observed_one_kept() {
        let info = |v| {
            op(
                3,
                Call::Write {
                    key: "x".into(),
                    value: v,
                },
                0,
                None,
                Outcome::Info,
                Ret::None,
            )
        };
        let ops = translate(
            &hist(vec![info(5), info(6), r(1, Some(6), 1, 2)]),
            Model::Register,
        )
        .expect("valid");
        let kept = prunable_info(&ops["x"], NilRead::Value);
        assert_eq!(kept.iter().map(|o| o.index).collect::<Vec<_>>(), vec![1, 2]);
    }
}
