//! The trace: every `(simulated time, node, event)` a run records, in order, with a stable
//! 64-bit hash. Two runs of the same seed must produce the same hash; that is how
//! determinism is tested rather than assumed.

use crate::time::SimTime;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// What a trace can hold: the domain's event type, which must embed the simulator's own
/// [`SimEvent`]s (node lifecycle and faults).
pub trait TraceEvent: Serialize + Clone + Send + 'static + From<SimEvent> {}
impl<T: Serialize + Clone + Send + 'static + From<SimEvent>> TraceEvent for T {}

/// Events the simulator itself records: node lifecycle, faults, disk and clock changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sim", rename_all = "snake_case")]
pub enum SimEvent {
    /// A node's process started (first start or restart); `incarnation` counts starts.
    NodeStarted { incarnation: u64 },
    /// A node's process was killed. With `page_cache_kept` only the process died (the OS
    /// wrote its unsynced writes back, as after `kill -9`); otherwise power was lost and the
    /// disk dropped its unsynced tail (`torn`: the last record was partly written), or the
    /// whole disk was lost (`disk_lost`).
    NodeCrashed {
        torn: bool,
        disk_lost: bool,
        #[serde(default)]
        page_cache_kept: bool,
    },
    /// A node's process was frozen (a long GC or VM pause): its tasks stop, time goes on.
    NodePaused,
    /// A paused process resumed.
    NodeResumed,
    /// The network was split into groups; nodes in different groups cannot talk.
    Partitioned { groups: Vec<Vec<String>> },
    /// Traffic from one node to another is dropped (the reverse direction still flows).
    LinkCut { from: String, to: String },
    /// Every partition and cut was removed.
    Healed,
    /// Loss rate and latency range changed (for messages sent from now on).
    NetChanged {
        loss_permille: u32,
        latency_min_us: u64,
        latency_max_us: u64,
        /// The latest time (simulated ns) a message already in flight is due: such
        /// messages keep the delays drawn under the old configuration (one lost under the
        /// old rate still waits out its retransmissions, and holds back those behind it on
        /// its connection), so the old configuration delays deliveries until then. At
        /// least the time of the change.
        backlog_until_ns: u64,
    },
    /// A node's clock offset or drift changed.
    ClockChanged { offset_ns: i64, drift_ppm: i64 },
    /// Free-form note from the harness (scenario steps, phase changes).
    Note { text: String },
    /// A node's disk changed speed: each fsync it issues from now on takes a uniform draw
    /// from `[fsync_min_us, fsync_max_us]` microseconds. `restored`: back to the run's
    /// configured latency (the slow disk healed); otherwise a slow-disk fault set it.
    /// (Last in the enum so that the encodings, and so the hashes, of older traces hold.)
    DiskChanged {
        fsync_min_us: u64,
        fsync_max_us: u64,
        restored: bool,
    },
}

/// One trace entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceRecord<E> {
    /// When it happened.
    pub at: SimTime,
    /// Which node recorded it (`"world"` for the harness itself).
    pub node: Arc<str>,
    /// What happened.
    pub event: E,
}

struct TraceInner<E> {
    records: Vec<TraceRecord<E>>,
    hash: u64,
    scratch: Vec<u8>,
    watches: Vec<Watch<E>>,
}

/// Which records a [`Trace::next_match`] waits for.
type RecordFilter<E> = Box<dyn Fn(&TraceRecord<E>) -> bool + Send>;

/// A predicate over records not yet recorded, and who to tell when one matches.
struct Watch<E> {
    matches: RecordFilter<E>,
    tell: futures::channel::oneshot::Sender<SimTime>,
}

/// At most this many [`Trace::next_match`] watches wait at once (each costs a predicate
/// call per record).
pub const TRACE_WATCHES_MAX: usize = 64;

/// A shared, append-only recorder. Cloning gives another handle to the same trace.
///
/// Guarantees: records are kept in the order they were recorded (which, within one
/// simulated instant, is madsim's deterministic scheduling order), and [`Trace::hash`] is a
/// function of exactly those records: FNV-1a over each record's postcard encoding.
pub struct Trace<E> {
    inner: Arc<Mutex<TraceInner<E>>>,
}

impl<E> Clone for Trace<E> {
    fn clone(&self) -> Self {
        Trace {
            inner: self.inner.clone(),
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over bytes, continuing from `hash`. Stable across platforms and builds.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= *b as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

impl<E: TraceEvent> Default for Trace<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: TraceEvent> Trace<E> {
    /// An empty trace.
    pub fn new() -> Self {
        Trace {
            inner: Arc::new(Mutex::new(TraceInner {
                records: Vec::new(),
                hash: FNV_OFFSET,
                scratch: Vec::new(),
                watches: Vec::new(),
            })),
        }
    }

    /// Records `event` from `node` at the current simulated time.
    pub fn record(&self, node: &Arc<str>, event: impl Into<E>) {
        self.record_at(SimTime::now(), node, event.into());
    }

    /// Records `event` at an explicit time (for replaying stored traces in tests).
    pub fn record_at(&self, at: SimTime, node: &Arc<str>, event: E) {
        let mut inner = self.inner.lock().expect("trace lock poisoned");
        let TraceInner {
            records,
            hash,
            scratch,
            watches,
        } = &mut *inner;
        scratch.clear();
        let bytes = postcard::to_extend(&(at, &**node, &event), std::mem::take(scratch))
            .expect("trace events serialize");
        *hash = fnv1a(*hash, &bytes);
        *scratch = bytes;
        records.push(TraceRecord {
            at,
            node: node.clone(),
            event,
        });
        if !watches.is_empty() {
            let last = records.last().expect("just pushed");
            let (hit, wait): (Vec<Watch<E>>, Vec<Watch<E>>) = std::mem::take(watches)
                .into_iter()
                .partition(|w| (w.matches)(last));
            *watches = wait;
            for w in hit {
                // The waiter may have given up (its receiver dropped): nothing to tell.
                let _ = w.tell.send(at);
            }
        }
    }

    /// Resolves with the time of the first record, recorded after this call, that
    /// `matches` accepts; never resolves if none is. Watching does not change the records
    /// or the hash.
    ///
    /// # Panics
    /// If [`TRACE_WATCHES_MAX`] watches are already waiting.
    pub fn next_match(
        &self,
        matches: impl Fn(&TraceRecord<E>) -> bool + Send + 'static,
    ) -> futures::channel::oneshot::Receiver<SimTime> {
        let (tell, rx) = futures::channel::oneshot::channel();
        let mut inner = self.inner.lock().expect("trace lock poisoned");
        inner.watches.retain(|w| !w.tell.is_canceled());
        assert!(
            inner.watches.len() < TRACE_WATCHES_MAX,
            "more than {TRACE_WATCHES_MAX} trace watches waiting"
        );
        inner.watches.push(Watch {
            matches: Box::new(matches),
            tell,
        });
        rx
    }

    /// The stable 64-bit hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.inner.lock().expect("trace lock poisoned").hash
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .expect("trace lock poisoned")
            .records
            .len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every record so far.
    pub fn records(&self) -> Vec<TraceRecord<E>> {
        self.inner
            .lock()
            .expect("trace lock poisoned")
            .records
            .clone()
    }

    /// Takes the records out, leaving the trace empty (its hash is kept).
    pub fn take_records(&self) -> Vec<TraceRecord<E>> {
        std::mem::take(&mut self.inner.lock().expect("trace lock poisoned").records)
    }

    /// The trace as JSON lines, one record per line.
    pub fn to_json_lines(&self) -> String {
        let inner = self.inner.lock().expect("trace lock poisoned");
        let mut out = String::new();
        for r in &inner.records {
            out.push_str(&serde_json::to_string(r).expect("trace events serialize"));
            out.push('\n');
        }
        out
    }
}

/// Formats a trace hash as 16 lowercase hex digits, the form reports and CLIs print.
pub fn format_hash(hash: u64) -> String {
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Serialize)]
    enum Ev {
        Sim(SimEvent),
        X(u32),
    }
    impl From<SimEvent> for Ev {
        fn from(e: SimEvent) -> Self {
            Ev::Sim(e)
        }
    }

    #[test]
    fn hash_depends_on_every_field_and_order() {
        let n1: Arc<str> = "n1".into();
        let n2: Arc<str> = "n2".into();
        let h = |recs: &[(u64, &Arc<str>, u32)]| {
            let t = Trace::<Ev>::new();
            for (at, n, x) in recs {
                t.record_at(SimTime(*at), n, Ev::X(*x));
            }
            t.hash()
        };
        let base = h(&[(1, &n1, 1), (2, &n2, 2)]);
        assert_eq!(base, h(&[(1, &n1, 1), (2, &n2, 2)]));
        assert_ne!(base, h(&[(2, &n2, 2), (1, &n1, 1)]));
        assert_ne!(base, h(&[(1, &n1, 1), (3, &n2, 2)]));
        assert_ne!(base, h(&[(1, &n1, 1), (2, &n1, 2)]));
        assert_ne!(base, h(&[(1, &n1, 1), (2, &n2, 3)]));
        let t = Trace::<Ev>::new();
        t.record_at(SimTime(5), &n1, Ev::Sim(SimEvent::Healed));
        assert!(t.to_json_lines().contains("\"healed\""));
    }

    #[test]
    fn next_match_fires_once_on_the_first_later_match_and_leaves_the_hash_alone() {
        let n: Arc<str> = "n".into();
        let watched = Trace::<Ev>::new();
        let plain = Trace::<Ev>::new();
        watched.record_at(SimTime(1), &n, Ev::X(7));
        plain.record_at(SimTime(1), &n, Ev::X(7));
        // An earlier record never matches: only records after the call count.
        let mut rx = watched.next_match(|r| matches!(r.event, Ev::X(7)));
        let mut never = watched.next_match(|r| matches!(r.event, Ev::X(99)));
        for (at, x) in [(2, 1), (3, 7), (4, 7)] {
            watched.record_at(SimTime(at), &n, Ev::X(x));
            plain.record_at(SimTime(at), &n, Ev::X(x));
        }
        assert_eq!(rx.try_recv(), Ok(Some(SimTime(3))));
        assert_eq!(never.try_recv(), Ok(None));
        assert_eq!(watched.hash(), plain.hash());
        assert_eq!(watched.len(), plain.len());
    }

    #[test]
    fn fnv_known_vector() {
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63dc4c8601ec8c);
    }
}
