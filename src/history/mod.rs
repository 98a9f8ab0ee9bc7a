//! Recorded histories: what clients did (operations with invoke and completion) and what
//! the servers decided (protocol events), in one JSON document the checkers read.
//!
//! The format is versioned (`"format": 1`) and documented in `docs/history-format.md`.
//! Protocol code records [`Event`]s; clients record [`Op`]s through a [`Recorder`].
//! Checkers see only this, never the live cluster.

pub mod edn;
pub mod event;
pub mod op;
pub mod validate;

pub use event::{Event, KafkaEvent, SimEvent, ZkEvent, ZkRole};
pub use op::{AppendValue, Call, Op, OpId, Outcome, Ret, ZkStat};

/// Simulated time, as every record is stamped: re-exported so that readers of histories
/// (the checkers) need nothing from the simulator.
pub use kzsim_sim::SimTime;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The history format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// A complete recorded history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Always [`FORMAT_VERSION`].
    pub format: u32,
    /// Client operations in invocation order.
    pub ops: Vec<Op>,
    /// Protocol and fault events in the order they were recorded.
    #[serde(default)]
    pub events: Vec<EventRecord>,
}

/// One protocol or fault event, stamped with simulated time and node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Simulated nanoseconds since the start of the run.
    pub at: SimTime,
    /// The node (server, broker or `"world"` for the harness) that recorded it.
    pub node: String,
    /// What happened.
    pub event: Event,
}

impl History {
    /// An empty history of the current format.
    pub fn new() -> Self {
        History {
            format: FORMAT_VERSION,
            ops: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Collects client operations during a run. Cloning gives another handle.
///
/// Guarantees: every `invoke` gets a distinct [`OpId`] in call order; an op never completed
/// by the end of the run stays `Info` (its effect is unknown), exactly as a crashed client.
#[derive(Clone, Default)]
pub struct Recorder {
    ops: Arc<Mutex<Vec<Op>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.ops.lock().map_or(0, |o| o.len());
        write!(f, "Recorder({n} ops)")
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the invocation of `call` by `process` now; complete it with [`Recorder::complete`].
    pub fn invoke(
        &self,
        process: u64,
        session: Option<i64>,
        node: Option<&str>,
        call: Call,
    ) -> OpId {
        let mut ops = self.ops.lock().expect("recorder lock");
        let id = OpId(ops.len());
        ops.push(Op {
            process,
            session,
            node: node.map(str::to_string),
            call,
            invoke: SimTime::now(),
            complete: None,
            outcome: Outcome::Info,
            ret: Ret::None,
            zxid: None,
        });
        id
    }

    /// Records how `id` ended. Completing twice is a harness bug and panics.
    pub fn complete(&self, id: OpId, outcome: Outcome, ret: Ret, zxid: Option<i64>) {
        self.complete_at(id, SimTime::now(), outcome, ret, zxid);
    }

    /// Records how `id` ended, at `at` (when the client had the answer; never before the
    /// invocation). Completing twice is a harness bug and panics.
    pub fn complete_at(
        &self,
        id: OpId,
        at: SimTime,
        outcome: Outcome,
        ret: Ret,
        zxid: Option<i64>,
    ) {
        let mut ops = self.ops.lock().expect("recorder lock");
        let op = &mut ops[id.0];
        assert!(op.complete.is_none(), "op {} completed twice", id.0);
        let at = at.max(op.invoke);
        op.complete = Some(at);
        op.outcome = outcome;
        op.ret = ret;
        op.zxid = zxid;
    }

    /// Updates the server an op was sent to (a client may fail over before completion).
    pub fn set_node(&self, id: OpId, node: &str, session: Option<i64>) {
        let mut ops = self.ops.lock().expect("recorder lock");
        ops[id.0].node = Some(node.to_string());
        if session.is_some() {
            ops[id.0].session = session;
        }
    }

    /// A copy of every op so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().expect("recorder lock").clone()
    }

    /// Every op so far, moved out: for the end of a run, when no client records any more
    /// (recording into an emptied recorder is a harness bug and panics).
    pub fn take_ops(&self) -> Vec<Op> {
        std::mem::take(&mut *self.ops.lock().expect("recorder lock"))
    }
}
