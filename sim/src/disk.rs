//! A disk the harness owns, one per node, that survives the node's restarts.
//!
//! madsim's own file system never loses unsynced data on a kill, which would hide every
//! "acknowledged before fsync" bug. This model keeps, per file, what the process has
//! written and how much of it is durable; [`SimDisk::crash`] drops the unsynced tail
//! (optionally leaving part of it, a torn write), and [`SimDisk::wipe`] loses everything.
//!
//! Files are byte strings. [`records`] frames records with a length and CRC so a reader
//! stops cleanly at a torn tail.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

#[derive(Debug, Default)]
struct DiskInner {
    files: BTreeMap<String, DiskFile>,
    fsyncs: u64,
    bytes_written: u64,
}

/// A per-node disk. Cloning gives another handle to the same disk.
///
/// Guarantees:
/// - reads see every write made so far by the current incarnation;
/// - after [`SimDisk::fsync`] returns, every byte the file had when fsync was called is
///   durable;
/// - [`SimDisk::crash`] cuts every file back to its durable length (and, torn, keeps a
///   strict prefix of one file's unsynced tail); files never fsynced become empty.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    inner: Arc<Mutex<DiskInner>>,
    config: Arc<DiskConfig>,
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
        SimDisk {
            inner: Arc::default(),
            config: Arc::new(config),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskInner> {
        self.inner.lock().expect("disk lock poisoned")
    }

    /// Appends bytes to a file (creating it). Not durable until [`SimDisk::fsync`].
    pub fn append(&self, path: &str, bytes: &[u8]) {
        let mut inner = self.lock();
        inner.bytes_written += bytes.len() as u64;
        inner
            .files
            .entry(path.to_string())
            .or_default()
            .data
            .extend_from_slice(bytes);
    }

    /// Makes the file's current contents durable, taking the configured fsync latency.
    /// If the node crashes during the wait, the fsync never happened.
    pub async fn fsync(&self, path: &str) {
        let len = self.lock().files.get(path).map(|f| f.data.len());
        let Some(len) = len else { return };
        let r = &self.config.fsync_latency_us;
        let wait = draw_us(r);
        madsim::time::sleep(Duration::from_micros(wait)).await;
        self.mark_durable(path, len);
    }

    /// Makes the first `len` bytes durable at once (no latency). For hosts that model the
    /// fsync wait themselves.
    pub fn mark_durable(&self, path: &str, len: usize) {
        let mut inner = self.lock();
        inner.fsyncs += 1;
        if let Some(f) = inner.files.get_mut(path) {
            f.durable_len = f.durable_len.max(len.min(f.data.len()));
        }
    }

    /// Replaces a file's contents atomically and durably (write a temporary file, fsync,
    /// rename), taking one fsync latency. Until it returns, a crash keeps the old contents.
    pub async fn write_durable(&self, path: &str, bytes: &[u8]) {
        let wait = draw_us(&self.config.fsync_latency_us);
        madsim::time::sleep(Duration::from_micros(wait)).await;
        self.replace_durable(path, bytes);
    }

    /// Replaces a file's contents atomically and durably at once (no latency): for hosts
    /// that model the wait themselves, like [`SimDisk::mark_durable`].
    pub fn replace_durable(&self, path: &str, bytes: &[u8]) {
        let mut inner = self.lock();
        inner.fsyncs += 1;
        inner.bytes_written += bytes.len() as u64;
        inner.files.insert(
            path.to_string(),
            DiskFile {
                data: bytes.to_vec(),
                durable_len: bytes.len(),
            },
        );
    }

    /// The OS writes every dirty page back: everything written so far becomes durable.
    /// What a process kill leaves (the page cache outlives the process).
    pub fn write_back(&self) {
        for f in self.lock().files.values_mut() {
            f.durable_len = f.data.len();
        }
    }

    /// Cuts a file to `len` bytes; the cut is durable at once (a metadata update).
    pub fn truncate(&self, path: &str, len: usize) {
        if let Some(f) = self.lock().files.get_mut(path) {
            f.data.truncate(len);
            f.durable_len = f.durable_len.min(len);
        }
    }

    /// Deletes a file; durable at once.
    pub fn remove(&self, path: &str) {
        self.lock().files.remove(path);
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
    /// chosen with `rng`. Returns true if anything was lost.
    pub fn crash(&self, torn: bool, rng: &mut impl Rng) -> bool {
        let mut inner = self.lock();
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
        self.lock().files.clear();
    }

    /// Counters.
    pub fn stats(&self) -> DiskStats {
        let inner = self.lock();
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
