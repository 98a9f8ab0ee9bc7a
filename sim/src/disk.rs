//! A disk the harness owns, one per node, that survives the node's restarts.
//!
//! madsim's own file system never loses unsynced data on a kill, which would hide every
//! "acknowledged before fsync" bug. This model keeps, per file, what the process has
//! written and how much of it is durable; [`SimDisk::crash`] drops the unsynced tail
//! (optionally leaving part of it, a torn write), and [`SimDisk::wipe`] loses everything.
//!
//! Files are byte strings. [`records`] frames records with a length and CRC so a reader
//! stops cleanly at a torn tail.
//!
//! Every fsync takes the disk's latency: the run's configured one ([`DiskConfig`]), or,
//! while a slow-disk fault holds, the latency [`SimDisk::set_fsync_latency`] gave it. A
//! process that waits for its fsync ([`SimDisk::fsync`], [`SimDisk::write_durable`]) sleeps
//! it; a flush the process does not wait for (the OS writing dirty pages back,
//! [`SimDisk::flush_in_background`]) becomes durable that long after it was issued.

use crate::time::SimTime;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most background flushes one disk holds in flight (see
/// [`SimDisk::flush_in_background`]); past it the oldest completes at once. A broker issues
/// one per partition per writeback, so this is never reached by the cluster kzsim runs.
pub const IN_FLIGHT_FLUSHES_MAX: usize = 4096;

/// How often the OS writes dirty pages back: what a process wrote without fsync reaches
/// the disk at the next multiple of this interval of simulated time, so a power loss takes
/// only what was written since the last one. Linux wakes its flusher every 5 s
/// (`dirty_writeback_centisecs`) and a file system commits its journal every 5 s; kzsim uses
/// one second for every node: a disk with [`SimDisk::set_periodic_writeback`] on, and
/// Kafka's log directories, which issue their writeback themselves (with the disk's
/// latency, so a slow disk delays it).
pub const OS_WRITEBACK_INTERVAL: Duration = Duration::from_secs(1);

/// How long an fsync takes, in simulated time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskConfig {
    /// Each fsync sleeps a uniform draw from this range (in microseconds).
    pub fsync_latency_us: Range<u64>,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            fsync_latency_us: 500..2_000,
        }
    }
}

/// A uniform draw from `r` using madsim's seeded global RNG.
fn draw_us(r: &Range<u64>) -> u64 {
    if r.start < r.end {
        r.start + madsim::rand::random::<u64>() % (r.end - r.start)
    } else {
        r.start
    }
}

#[derive(Clone, Debug, Default)]
struct DiskFile {
    /// What reads see.
    data: Vec<u8>,
    /// How many leading bytes of `data` survive a crash.
    durable_len: usize,
    /// The writeback period ([`SimDisk::set_periodic_writeback`]) of the file's last write:
    /// everything written before a later period began has been written back.
    written_in_period: u64,
}

/// A background flush issued but not yet complete.
#[derive(Debug)]
struct InFlight {
    /// When it completes (simulated ns).
    due: u64,
    path: String,
    /// The file's leading bytes it makes durable.
    len: usize,
}

#[derive(Debug)]
struct DiskInner {
    files: BTreeMap<String, DiskFile>,
    fsyncs: u64,
    bytes_written: u64,
    /// A slow-disk fault's latency (microseconds), replacing the configured one while set.
    latency_override: Option<Range<u64>>,
    /// Background flushes not yet complete, in completion order (`due` non-decreasing).
    in_flight: VecDeque<InFlight>,
    /// Draws background flushes' latencies. The disk's own, so that they do not move the
    /// run's other random choices.
    rng: ChaCha8Rng,
    /// With periodic writeback on, its interval (simulated ns).
    writeback_ns: Option<u64>,
}

impl DiskInner {
    fn new(seed: u64) -> DiskInner {
        DiskInner {
            files: BTreeMap::new(),
            fsyncs: 0,
            bytes_written: 0,
            latency_override: None,
            in_flight: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            writeback_ns: None,
        }
    }

    /// A draw of `latency` (µs) from the disk's own RNG, in ns.
    fn draw_ns(&mut self, latency: Range<u64>) -> u64 {
        let us = if latency.start < latency.end {
            self.rng.random_range(latency)
        } else {
            latency.start
        };
        us * 1_000
    }

    /// Queues a background flush of `path`'s first `len` bytes issued now, due at `due` (or
    /// when the flush before it is, if later: flushes complete in the order issued).
    fn push_in_flight(&mut self, due: u64, path: String, len: usize) {
        let due = self.in_flight.back().map_or(due, |b| b.due.max(due));
        self.insert_in_flight(due, path, len);
    }

    /// Queues a background flush at its place in completion order (`due`): for a periodic
    /// writeback noticed after the period that issued it ended.
    fn insert_in_flight(&mut self, due: u64, path: String, len: usize) {
        if self.in_flight.len() >= IN_FLIGHT_FLUSHES_MAX {
            let oldest = self.in_flight.pop_front().expect("the queue is full");
            self.mark(&oldest.path, oldest.len);
        }
        let at = self.in_flight.partition_point(|f| f.due <= due);
        self.in_flight.insert(at, InFlight { due, path, len });
    }

    /// Periodic writeback ([`SimDisk::set_periodic_writeback`]) of `path`, or of every
    /// file: what a file holds from a period before the current one is flushed from the
    /// end of its last write's period, taking one draw of `latency` (µs) to land. Issued
    /// lazily, when the file is next written or the disk is next looked at as a whole.
    /// Returns the current period (with periodic writeback on).
    fn issue_period_writebacks(&mut self, only: Option<&str>, latency: Range<u64>) -> Option<u64> {
        let interval = self.writeback_ns?;
        let period = SimTime::now().0 / interval;
        let mut due: Vec<(String, u64, usize)> = Vec::new();
        let mut take = |path: &str, f: &mut DiskFile| {
            if f.written_in_period < period {
                if f.data.len() > f.durable_len {
                    let boundary = (f.written_in_period + 1) * interval;
                    due.push((path.to_string(), boundary, f.data.len()));
                }
                f.written_in_period = period;
            }
        };
        match only {
            Some(path) => {
                if let Some(f) = self.files.get_mut(path) {
                    take(path, f);
                }
            }
            None => {
                for (p, f) in self.files.iter_mut() {
                    take(p, f);
                }
            }
        }
        for (path, boundary, len) in due {
            let wait = self.draw_ns(latency.clone());
            self.insert_in_flight(boundary + wait, path, len);
        }
        self.settle();
        Some(period)
    }

    fn mark(&mut self, path: &str, len: usize) {
        self.fsyncs += 1;
        if let Some(f) = self.files.get_mut(path) {
            f.durable_len = f.durable_len.max(len.min(f.data.len()));
        }
    }

    /// Completes the background flushes due by now. Reads the clock only when one is in
    /// flight, so a disk used outside a runtime (unit tests) never does.
    fn settle(&mut self) {
        if self.in_flight.is_empty() {
            return;
        }
        let now = SimTime::now().0;
        while self.in_flight.front().is_some_and(|f| f.due <= now) {
            let f = self.in_flight.pop_front().expect("checked");
            self.mark(&f.path, f.len);
        }
    }

    fn forget_in_flight(&mut self, path: &str) {
        self.in_flight.retain(|f| f.path != path);
    }
}

/// A per-node disk. Cloning gives another handle to the same disk.
///
/// Guarantees:
/// - reads see every write made so far by the current incarnation;
/// - after [`SimDisk::fsync`] returns, every byte the file had when fsync was called is
///   durable;
/// - [`SimDisk::crash`] cuts every file back to its durable length (and, torn, keeps a
///   strict prefix of one file's unsynced tail); files never fsynced become empty;
/// - an fsync issued after [`SimDisk::set_fsync_latency`] takes the new latency; one
///   already waiting keeps the latency it drew.
#[derive(Clone, Debug)]
pub struct SimDisk {
    inner: Arc<Mutex<DiskInner>>,
    config: Arc<DiskConfig>,
}

impl Default for SimDisk {
    fn default() -> Self {
        SimDisk::new(DiskConfig::default())
    }
}

/// Counters for benchmarks and `mntr`-style status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiskStats {
    /// fsync calls completed.
    pub fsyncs: u64,
    /// Bytes appended or written.
    pub bytes_written: u64,
    /// Bytes currently stored (durable or not).
    pub bytes_stored: u64,
    /// Bytes not yet durable.
    pub bytes_unsynced: u64,
}

impl SimDisk {
    /// An empty disk.
    pub fn new(config: DiskConfig) -> Self {
        SimDisk::with_seed(config, 0)
    }

    /// An empty disk whose background flushes draw their latencies from `seed`.
    pub fn with_seed(config: DiskConfig, seed: u64) -> Self {
        SimDisk {
            inner: Arc::new(Mutex::new(DiskInner::new(seed))),
            config: Arc::new(config),
        }
    }

    /// Sets how long each fsync issued from now on takes (microseconds, a uniform draw from
    /// the half-open range; `a..a` is always `a`): a slow disk. `None` gives the disk back
    /// the run's configured latency.
    pub fn set_fsync_latency(&self, latency_us: Option<Range<u64>>) {
        self.lock().latency_override = latency_us;
    }

    /// The latency a slow-disk fault set, if one holds.
    pub fn fsync_latency_override(&self) -> Option<Range<u64>> {
        self.lock().latency_override.clone()
    }

    /// The latency fsyncs issued now take (microseconds): the override, or the configured.
    pub fn fsync_latency(&self) -> Range<u64> {
        self.lock()
            .latency_override
            .clone()
            .unwrap_or_else(|| self.config.fsync_latency_us.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskInner> {
        self.inner.lock().expect("disk lock poisoned")
    }

    /// Appends bytes to a file (creating it). Not durable until [`SimDisk::fsync`] (or the
    /// periodic writeback after the current period, if on).
    pub fn append(&self, path: &str, bytes: &[u8]) {
        let latency = self.fsync_latency();
        let mut inner = self.lock();
        inner.bytes_written += bytes.len() as u64;
        let period = inner
            .issue_period_writebacks(Some(path), latency)
            .unwrap_or(0);
        inner
            .files
            .entry(path.to_string())
            .or_insert_with(|| DiskFile {
                written_in_period: period,
                ..DiskFile::default()
            })
            .data
            .extend_from_slice(bytes);
    }

    /// Turns on the OS's periodic writeback for this disk: from now on, what is written
    /// without fsync starts to be written back at the next multiple of
    /// [`OS_WRITEBACK_INTERVAL`] of simulated time and lands one draw of the disk's fsync
    /// latency later (a background flush, [`SimDisk::flush_in_background`]), so a slow disk
    /// slows it. For hosts that do not issue their writeback themselves. Must be called
    /// inside a madsim runtime.
    pub fn set_periodic_writeback(&self) {
        let mut inner = self.lock();
        if inner.writeback_ns.is_some() {
            return;
        }
        let interval = OS_WRITEBACK_INTERVAL.as_nanos() as u64;
        inner.writeback_ns = Some(interval);
        let period = SimTime::now().0 / interval;
        for f in inner.files.values_mut() {
            f.written_in_period = period;
        }
    }

    /// Makes the file's current contents durable, taking the configured fsync latency.
    /// If the node crashes during the wait, the fsync never happened.
    pub async fn fsync(&self, path: &str) {
        let len = self.lock().files.get(path).map(|f| f.data.len());
        let Some(len) = len else { return };
        let wait = draw_us(&self.fsync_latency());
        madsim::time::sleep(Duration::from_micros(wait)).await;
        self.mark_durable(path, len);
    }

    /// Makes the first `len` bytes durable at once (no latency). For hosts that model the
    /// fsync wait themselves.
    pub fn mark_durable(&self, path: &str, len: usize) {
        self.lock().mark(path, len);
    }

    /// Starts a flush nobody waits for (the OS writing a file's dirty pages back): the first
    /// `len` bytes become durable one fsync latency from now (drawn from the disk's own
    /// RNG), and background flushes complete in the order they were issued. A crash before
    /// then loses them; truncating the file below `len` shortens the flush with it. Must be
    /// called inside a madsim runtime.
    pub fn flush_in_background(&self, path: &str, len: usize) {
        let latency = self.fsync_latency();
        let mut inner = self.lock();
        inner.settle();
        let due = SimTime::now().0 + inner.draw_ns(latency);
        inner.push_in_flight(due, path.to_string(), len);
        inner.settle();
    }

    /// Background flushes issued and not yet complete.
    pub fn flushes_in_flight(&self) -> usize {
        let mut inner = self.lock();
        inner.settle();
        inner.in_flight.len()
    }

    /// Replaces a file's contents atomically and durably (write a temporary file, fsync,
    /// rename), taking one fsync latency. Until it returns, a crash keeps the old contents.
    pub async fn write_durable(&self, path: &str, bytes: &[u8]) {
        let wait = draw_us(&self.fsync_latency());
        madsim::time::sleep(Duration::from_micros(wait)).await;
        self.replace_durable(path, bytes);
    }

    /// Replaces a file's contents atomically and durably at once (no latency): for hosts
    /// that model the wait themselves, like [`SimDisk::mark_durable`].
    pub fn replace_durable(&self, path: &str, bytes: &[u8]) {
        let mut inner = self.lock();
        inner.forget_in_flight(path);
        inner.fsyncs += 1;
        inner.bytes_written += bytes.len() as u64;
        inner.files.insert(
            path.to_string(),
            DiskFile {
                data: bytes.to_vec(),
                durable_len: bytes.len(),
                written_in_period: 0,
            },
        );
    }

    /// The OS writes every dirty page back: everything written so far becomes durable.
    /// What a process kill leaves (the page cache outlives the process).
    pub fn write_back(&self) {
        let mut inner = self.lock();
        inner.in_flight.clear();
        for f in inner.files.values_mut() {
            f.durable_len = f.data.len();
        }
    }

    /// Cuts a file to `len` bytes; the cut is durable at once (a metadata update).
    pub fn truncate(&self, path: &str, len: usize) {
        let mut inner = self.lock();
        for f in inner.in_flight.iter_mut().filter(|f| f.path == path) {
            f.len = f.len.min(len);
        }
        if let Some(f) = inner.files.get_mut(path) {
            f.data.truncate(len);
            f.durable_len = f.durable_len.min(len);
        }
    }

    /// Deletes a file; durable at once.
    pub fn remove(&self, path: &str) {
        let mut inner = self.lock();
        inner.forget_in_flight(path);
        inner.files.remove(path);
    }

    /// The file's current contents, if it exists.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.data.clone())
    }

    /// Runs `f` on the file's current contents without copying them.
    pub fn with_file<R>(&self, path: &str, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let inner = self.lock();
        f(inner.files.get(path).map(|f| f.data.as_slice()))
    }

    /// The file's length, if it exists.
    pub fn len(&self, path: &str) -> Option<usize> {
        self.lock().files.get(path).map(|f| f.data.len())
    }

    /// Paths starting with `prefix`, in lexicographic order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.lock()
            .files
            .keys()
            .filter(|p| p.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// True if the disk holds no file at all.
    pub fn is_empty(&self) -> bool {
        self.lock().files.is_empty()
    }

    /// Power loss: every file drops its unsynced tail. With `torn`, the newest-named file
    /// with an unsynced tail keeps a strict, non-empty prefix of it (a torn last write),
    /// chosen with `rng`. Background flushes complete if due by now and are lost if not.
    /// Returns true if anything was lost.
    pub fn crash(&self, torn: bool, rng: &mut impl Rng) -> bool {
        let latency = self.fsync_latency();
        let mut inner = self.lock();
        inner.issue_period_writebacks(None, latency);
        inner.settle();
        inner.in_flight.clear();
        let mut lost = false;
        let torn_path = if torn {
            inner
                .files
                .iter()
                .rev()
                .find(|(_, f)| f.data.len() > f.durable_len + 1)
                .map(|(p, _)| p.clone())
        } else {
            None
        };
        for (path, f) in inner.files.iter_mut() {
            if f.data.len() == f.durable_len {
                continue;
            }
            lost = true;
            let keep = if Some(path) == torn_path.as_ref() {
                let tail = f.data.len() - f.durable_len;
                f.durable_len + rng.random_range(1..tail)
            } else {
                f.durable_len
            };
            f.data.truncate(keep);
            f.durable_len = keep;
        }
        lost
    }

    /// Disk failure: every file is gone (a replaced, empty disk).
    pub fn wipe(&self) {
        let mut inner = self.lock();
        inner.in_flight.clear();
        inner.files.clear();
    }

    /// Counters. With periodic writeback on, it first issues the writebacks due (drawing
    /// their latencies from the disk's RNG), as a crash would: call it after a run, or in
    /// tests, not from a host while the run goes on.
    pub fn stats(&self) -> DiskStats {
        let latency = self.fsync_latency();
        let mut inner = self.lock();
        inner.issue_period_writebacks(None, latency);
        inner.settle();
        let (stored, unsynced) = inner.files.values().fold((0, 0), |(s, u), f| {
            (
                s + f.data.len() as u64,
                u + (f.data.len() - f.durable_len) as u64,
            )
        });
        DiskStats {
            fsyncs: inner.fsyncs,
            bytes_written: inner.bytes_written,
            bytes_stored: stored,
            bytes_unsynced: unsynced,
        }
    }
}

/// Record framing for log files: `len: u32 LE | crc32(payload): u32 LE | payload`.
pub mod records {
    /// Bytes of framing around each record.
    pub const HEADER_LEN: usize = 8;

    /// Appends one framed record to `out`.
    pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
    }

    /// One framed record.
    pub fn encode(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + HEADER_LEN);
        encode_into(payload, &mut out);
        out
    }

    /// What a reader found in a log file.
    #[derive(Debug, PartialEq, Eq)]
    pub struct Decoded<'a> {
        /// Every complete record with a valid checksum, in order, with its end offset.
        pub records: Vec<(&'a [u8], usize)>,
        /// Byte offset just past the last good record.
        pub valid_len: usize,
        /// True if bytes after the last good record were dropped (a torn or corrupt tail).
        pub torn_tail: bool,
    }

    /// Reads records until the end or the first incomplete or corrupt one.
    pub fn decode(data: &[u8]) -> Decoded<'_> {
        let mut records = Vec::new();
        let mut pos = 0;
        while data.len() - pos >= HEADER_LEN {
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes"));
            let start = pos + HEADER_LEN;
            if data.len() - start < len {
                break;
            }
            let payload = &data[start..start + len];
            if crc32fast::hash(payload) != crc {
                break;
            }
            pos = start + len;
            records.push((payload, pos));
        }
        Decoded {
            records,
            valid_len: pos,
            torn_tail: pos != data.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn crash_drops_exactly_the_unsynced_tail() {
        let d = SimDisk::default();
        d.append("log", b"aaaa");
        d.mark_durable("log", 4);
        d.append("log", b"bbbb");
        d.append("never-synced", b"cc");
        assert_eq!(d.read("log").unwrap(), b"aaaabbbb");
        assert!(d.crash(false, &mut rng()));
        assert_eq!(d.read("log").unwrap(), b"aaaa");
        assert_eq!(d.read("never-synced").unwrap(), b"");
        assert!(!d.crash(false, &mut rng()), "nothing left to lose");
    }

    #[test]
    fn torn_crash_leaves_a_partial_record_that_decode_rejects() {
        let d = SimDisk::default();
        d.append("log", &records::encode(b"first"));
        d.mark_durable("log", d.len("log").unwrap());
        d.append("log", &records::encode(b"second record"));
        d.crash(true, &mut rng());
        let data = d.read("log").unwrap();
        let dec = records::decode(&data);
        assert_eq!(
            dec.records.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![&b"first"[..]]
        );
        assert!(
            dec.torn_tail,
            "a strict prefix of the second record must remain"
        );
        assert!(data.len() > records::encode(b"first").len());
    }

    #[test]
    fn truncate_and_remove_are_durable_and_wipe_loses_all() {
        let d = SimDisk::default();
        d.append("a", b"123456");
        d.mark_durable("a", 6);
        d.truncate("a", 2);
        d.crash(false, &mut rng());
        assert_eq!(d.read("a").unwrap(), b"12");
        d.append("b", b"x");
        d.remove("b");
        assert_eq!(d.read("b"), None);
        assert_eq!(d.list(""), vec!["a".to_string()]);
        d.wipe();
        assert!(d.is_empty());
    }

    #[test]
    fn decode_stops_at_corruption() {
        let mut data = records::encode(b"one");
        data.extend(records::encode(b"two"));
        let n = data.len();
        data[n - 1] ^= 0xff;
        let dec = records::decode(&data);
        assert_eq!(dec.records.len(), 1);
        assert!(dec.torn_tail);
        assert_eq!(dec.valid_len, records::encode(b"one").len());
    }
}
