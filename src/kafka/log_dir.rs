//! A broker's `log.dirs` on the node's simulated disk: what survives a crash, and recovery
//! from it at start-up.
//!
//! Layout, as Kafka 2.x keeps it (one segment per partition; no retention):
//! - `kafka-logs/<topic>-<partition>/00000000000000000000.log`: the records, CRC-framed.
//!   Appends sit in the page cache until the log is flushed (`log.flush.interval.messages`,
//!   or the OS writing dirty pages back); a power loss drops the unflushed tail, and a torn
//!   last record fails its CRC and is cut at recovery.
//! - `kafka-logs/<topic>-<partition>/leader-epoch-checkpoint`: the leader-epoch cache,
//!   rewritten durably on every change (`LeaderEpochCheckpointFile`).
//! - `kafka-logs/replication-offset-checkpoint`: every partition's high watermark, written
//!   durably every `replica.high.watermark.checkpoint.interval.ms`.
//!
//! [`LogDir::sync`] mirrors a [`PartitionLog`] onto the disk after each step of the host, so
//! the state machine stays sans-IO. [`LogDir::open`] recovers every partition: the records
//! that reached the disk, the epoch cache cut to the recovered log end (Kafka's
//! `truncateFromEnd(logEndOffset)`), and the HW from its checkpoint, capped by the log end.
//! Any restart, even one that kept the page cache, falls back to the checkpointed HW.

use super::partition_log::PartitionLog;
use super::wire::{Record, TopicPartition};
use kzsim_sim::disk::records;
use kzsim_sim::SimDisk;
use std::collections::BTreeMap;

const ROOT: &str = "kafka-logs";
const SEGMENT: &str = "00000000000000000000.log";
const EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
const HW_CHECKPOINT: &str = "kafka-logs/replication-offset-checkpoint";
/// The version line Kafka writes at the top of its checkpoint files.
const CHECKPOINT_VERSION: &str = "0";

/// What one partition's files hold, as last written.
#[derive(Debug)]
struct Mirrored {
    /// The segment's path.
    segment: String,
    /// The epoch checkpoint's path.
    epochs_path: String,
    /// The segment file exists (created at the first sync, as Kafka creates a partition's
    /// directory and empty segment with the replica).
    created: bool,
    /// Byte offset just past each record in the segment.
    record_ends: Vec<usize>,
    /// Records made durable by a flush.
    flushed: i64,
    /// The epoch cache as last checkpointed.
    epochs: Vec<(i32, i64)>,
}

impl Mirrored {
    fn new(tp: &TopicPartition) -> Mirrored {
        Mirrored {
            segment: segment_of(tp),
            epochs_path: epochs_of(tp),
            created: false,
            record_ends: Vec::new(),
            flushed: 0,
            epochs: Vec::new(),
        }
    }
}

/// A broker's log directory on its disk.
#[derive(Debug)]
pub struct LogDir {
    disk: SimDisk,
    partitions: BTreeMap<TopicPartition, Mirrored>,
    /// The HWs in the checkpoint file as last written.
    hw_written: BTreeMap<TopicPartition, i64>,
}

/// What recovery found wrong but repaired, for the broker's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryNote {
    /// The partition, or none for the directory-wide HW checkpoint.
    pub tp: Option<TopicPartition>,
    /// What was repaired.
    pub what: String,
}

fn dir_of(tp: &TopicPartition) -> String {
    format!("{ROOT}/{}-{}", tp.topic, tp.partition)
}

fn segment_of(tp: &TopicPartition) -> String {
    format!("{}/{SEGMENT}", dir_of(tp))
}

fn epochs_of(tp: &TopicPartition) -> String {
    format!("{}/{EPOCH_CHECKPOINT}", dir_of(tp))
}

/// `<topic>-<partition>` back to a partition (topics may contain '-').
fn parse_dir(name: &str) -> Option<TopicPartition> {
    let (topic, p) = name.rsplit_once('-')?;
    Some(TopicPartition {
        topic: topic.to_string(),
        partition: p.parse().ok()?,
    })
}

/// Kafka's checkpoint text: a version line, a count line, then one entry per line.
fn checkpoint_text(entries: impl ExactSizeIterator<Item = String>) -> String {
    let mut s = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for e in entries {
        s.push_str(&e);
        s.push('\n');
    }
    s
}

/// The entry lines of a checkpoint file, or why it is malformed.
fn checkpoint_entries(text: &str) -> Result<Vec<&str>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(CHECKPOINT_VERSION) {
        return Err("bad version line".into());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("bad count line")?;
    let entries: Vec<&str> = lines.collect();
    if entries.len() != count {
        return Err(format!(
            "{count} entries announced, {} found",
            entries.len()
        ));
    }
    Ok(entries)
}

fn parse_epoch_entry(line: &str) -> Option<(i32, i64)> {
    let (e, o) = line.split_once(' ')?;
    Some((e.parse().ok()?, o.parse().ok()?))
}

fn parse_hw_entry(line: &str) -> Option<(TopicPartition, i64)> {
    let mut parts = line.split(' ');
    let (topic, p, hw) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((
        TopicPartition {
            topic: topic.to_string(),
            partition: p.parse().ok()?,
        },
        hw.parse().ok()?,
    ))
}

impl LogDir {
    /// Opens the log directory on `disk` and recovers every partition found there, each
    /// with `flush_interval_messages` as its flush policy. Repairs (a torn segment tail, a
    /// malformed checkpoint) are returned as notes.
    pub fn open(
        disk: SimDisk,
        flush_interval_messages: u64,
    ) -> (
        LogDir,
        BTreeMap<TopicPartition, PartitionLog>,
        Vec<RecoveryNote>,
    ) {
        let mut notes = Vec::new();
        let hw_text = disk
            .read(HW_CHECKPOINT)
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let mut hws: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        if let Some(text) = &hw_text {
            match checkpoint_entries(text) {
                Ok(lines) => {
                    for l in lines {
                        match parse_hw_entry(l) {
                            Some((tp, hw)) => {
                                hws.insert(tp, hw);
                            }
                            None => notes.push(RecoveryNote {
                                tp: None,
                                what: format!("replication-offset-checkpoint: bad entry {l:?}"),
                            }),
                        }
                    }
                }
                Err(e) => notes.push(RecoveryNote {
                    tp: None,
                    what: format!("replication-offset-checkpoint ignored: {e}"),
                }),
            }
        }
        let mut dir = LogDir {
            disk: disk.clone(),
            partitions: BTreeMap::new(),
            hw_written: hws.clone(),
        };
        let mut logs = BTreeMap::new();
        let prefix = format!("{ROOT}/");
        for path in disk.list(&prefix) {
            let Some(name) = path
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&format!("/{SEGMENT}")))
            else {
                continue;
            };
            let Some(tp) = parse_dir(name) else {
                continue;
            };
            let (recs, ends, valid_len, torn) = disk.with_file(&path, |data| {
                let dec = records::decode(data.unwrap_or(&[]));
                let mut recs: Vec<Record> = Vec::new();
                let mut ends = Vec::new();
                for (payload, end) in &dec.records {
                    // A record that does not decode or is out of sequence ends the log, as
                    // a CRC failure does.
                    match postcard::from_bytes::<Record>(payload) {
                        Ok(r) if r.offset == recs.len() as i64 => {
                            recs.push(r);
                            ends.push(*end);
                        }
                        _ => break,
                    }
                }
                let valid = ends.last().copied().unwrap_or(0);
                (recs, ends, valid, dec.torn_tail || valid != dec.valid_len)
            });
            if torn {
                disk.truncate(&path, valid_len);
                notes.push(RecoveryNote {
                    tp: Some(tp.clone()),
                    what: format!(
                        "segment cut to {} records: the tail after them was torn or corrupt",
                        recs.len()
                    ),
                });
            }
            let leo = recs.len() as i64;
            let mut epochs: Vec<(i32, i64)> = Vec::new();
            if let Some(bytes) = disk.read(&epochs_of(&tp)) {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                match checkpoint_entries(&text).and_then(|lines| {
                    lines
                        .iter()
                        .map(|l| parse_epoch_entry(l).ok_or(format!("bad entry {l:?}")))
                        .collect::<Result<Vec<_>, _>>()
                }) {
                    Ok(v) => epochs = v,
                    Err(e) => notes.push(RecoveryNote {
                        tp: Some(tp.clone()),
                        what: format!("leader-epoch-checkpoint ignored: {e}"),
                    }),
                }
            }
            epochs.retain(|&(_, start)| start < leo);
            let hw = hws.get(&tp).copied().unwrap_or(0).clamp(0, leo);
            let log = PartitionLog::recover(recs, &epochs, hw, flush_interval_messages);
            dir.partitions.insert(
                tp.clone(),
                Mirrored {
                    created: true,
                    record_ends: ends,
                    flushed: leo,
                    epochs: log.epoch_entries(),
                    ..Mirrored::new(&tp)
                },
            );
            logs.insert(tp, log);
        }
        (dir, logs, notes)
    }

    /// Mirrors `log` onto the disk: truncations, new records, flushes and epoch-cache
    /// changes since the last call. Free when nothing changed (a log starts changed, so its
    /// first call always mirrors it). A flush Kafka made itself (`log.flush.interval.messages`)
    /// is durable at once: the broker's append waits for that fsync, which kzsim does not
    /// delay.
    pub fn sync(&mut self, tp: &TopicPartition, log: &mut PartitionLog) {
        self.mirror(tp, log, false);
    }

    /// The OS writes `log`'s dirty pages back: it counts as flushed, and the flush reaches
    /// the disk one fsync latency of the node's disk later (slower on a slow disk); a power
    /// loss before then loses it. Mirrors everything else as [`LogDir::sync`] does.
    pub fn write_back(&mut self, tp: &TopicPartition, log: &mut PartitionLog) {
        log.flush();
        self.mirror(tp, log, true);
    }

    fn mirror(&mut self, tp: &TopicPartition, log: &mut PartitionLog, background: bool) {
        if !log.take_unmirrored() {
            debug_assert!(self.partitions.contains_key(tp), "{tp:?} never mirrored");
            return;
        }
        let m = self
            .partitions
            .entry(tp.clone())
            .or_insert_with(|| Mirrored::new(tp));
        let segment = &m.segment;
        if let Some(from) = log.take_truncation() {
            let keep = (from.max(0) as usize).min(m.record_ends.len());
            if keep < m.record_ends.len() {
                m.record_ends.truncate(keep);
                self.disk
                    .truncate(segment, m.record_ends.last().copied().unwrap_or(0));
                m.flushed = m.flushed.min(keep as i64);
            }
        }
        let written = m.record_ends.len();
        if log.records().len() > written {
            let mut buf = Vec::new();
            let mut end = m.record_ends.last().copied().unwrap_or(0);
            for r in &log.records()[written..] {
                let payload = postcard::to_allocvec(r).expect("a record serializes");
                let before = buf.len();
                records::encode_into(&payload, &mut buf);
                end += buf.len() - before;
                m.record_ends.push(end);
            }
            self.disk.append(segment, &buf);
            m.created = true;
        } else if !m.created {
            self.disk.append(segment, &[]);
            m.created = true;
        }
        let flushed = log.flushed_offset().min(m.record_ends.len() as i64);
        if flushed > m.flushed {
            let len = m.record_ends[flushed as usize - 1];
            if background {
                self.disk.flush_in_background(segment, len);
            } else {
                self.disk.mark_durable(segment, len);
            }
            m.flushed = flushed;
        }
        if !log.epochs().eq(m.epochs.iter().copied()) {
            let epochs = log.epoch_entries();
            let text = checkpoint_text(epochs.iter().map(|(e, o)| format!("{e} {o}")));
            self.disk.replace_durable(&m.epochs_path, text.as_bytes());
            m.epochs = epochs;
        }
    }

    /// Writes `replication-offset-checkpoint` with every partition's current HW, durably,
    /// if any changed.
    pub fn checkpoint_hws<'a>(
        &mut self,
        logs: impl Iterator<Item = (&'a TopicPartition, &'a PartitionLog)>,
    ) {
        let mut hws = BTreeMap::new();
        for (tp, log) in logs {
            hws.insert(tp.clone(), log.hw());
        }
        if hws == self.hw_written {
            return;
        }
        let text = checkpoint_text(
            hws.iter()
                .map(|(tp, hw)| format!("{} {} {hw}", tp.topic, tp.partition)),
        );
        self.disk.replace_durable(HW_CHECKPOINT, text.as_bytes());
        self.hw_written = hws;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const NEVER: u64 = i64::MAX as u64;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders-eu", 1)
    }

    /// A leader log with `n` records in epoch 0 and `m` more in epoch 2.
    fn log_with(n: usize, m: usize) -> PartitionLog {
        let mut log = PartitionLog::new(NEVER);
        for i in 0..n {
            log.append_as_leader(0, format!("a{i}"));
        }
        for i in 0..m {
            log.append_as_leader(2, format!("b{i}"));
        }
        log
    }

    fn reopen(disk: &SimDisk) -> BTreeMap<TopicPartition, PartitionLog> {
        LogDir::open(disk.clone(), NEVER).1
    }

    #[test]
    fn a_process_restart_keeps_the_log_but_falls_back_to_the_checkpointed_hw() {
        let disk = SimDisk::default();
        let (mut dir, logs, _) = LogDir::open(disk.clone(), NEVER);
        assert!(logs.is_empty());
        let mut log = log_with(3, 2);
        log.maybe_increment_hw(2);
        dir.sync(&tp(), &mut log);
        dir.checkpoint_hws([(&tp(), &log)].into_iter());
        log.maybe_increment_hw(5);
        dir.sync(&tp(), &mut log);
        disk.write_back();
        let back = &reopen(&disk)[&tp()];
        assert_eq!(back.records(), log.records());
        assert_eq!(back.hw(), 2, "the HW comes from the checkpoint");
        assert_eq!(back.epoch_entries(), vec![(0, 0), (2, 3)]);
    }

    #[test]
    fn a_power_loss_keeps_only_flushed_records_and_cuts_the_epoch_cache() {
        let disk = SimDisk::default();
        let (mut dir, _, _) = LogDir::open(disk.clone(), NEVER);
        let mut log = log_with(3, 0);
        log.flush();
        dir.sync(&tp(), &mut log);
        for i in 0..2 {
            log.append_as_leader(2, format!("b{i}"));
        }
        log.maybe_increment_hw(5);
        dir.sync(&tp(), &mut log);
        dir.checkpoint_hws([(&tp(), &log)].into_iter());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        disk.crash(false, &mut rng);
        let back = &reopen(&disk)[&tp()];
        assert_eq!(back.leo(), 3);
        assert_eq!(
            back.hw(),
            3,
            "the checkpointed HW is capped by the recovered LEO"
        );
        assert_eq!(back.epoch_entries(), vec![(0, 0)]);
    }

    #[test]
    fn a_torn_tail_is_cut_at_recovery_and_reported() {
        let disk = SimDisk::default();
        let (mut dir, _, _) = LogDir::open(disk.clone(), NEVER);
        let mut log = log_with(2, 0);
        log.flush();
        dir.sync(&tp(), &mut log);
        log.append_as_leader(0, "a-much-longer-value-to-tear".into());
        dir.sync(&tp(), &mut log);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        disk.crash(true, &mut rng);
        let (_, logs, notes) = LogDir::open(disk.clone(), NEVER);
        assert_eq!(logs[&tp()].leo(), 2);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].what.contains("torn"), "{notes:?}");
    }

    #[test]
    fn truncation_then_new_records_rewrite_the_segment_tail() {
        let disk = SimDisk::default();
        let (mut dir, _, _) = LogDir::open(disk.clone(), NEVER);
        let mut log = log_with(3, 2);
        dir.sync(&tp(), &mut log);
        // A follower truncates to 3 and fetches two different records: same LEO as before.
        log.truncate_to(3);
        log.append_as_follower(&[
            Record {
                offset: 3,
                leader_epoch: 1,
                value: "x".into(),
            },
            Record {
                offset: 4,
                leader_epoch: 1,
                value: "y".into(),
            },
        ]);
        dir.sync(&tp(), &mut log);
        disk.write_back();
        let back = &reopen(&disk)[&tp()];
        assert_eq!(back.records(), log.records());
        assert_eq!(back.epoch_entries(), vec![(0, 0), (1, 3)]);
    }

    #[test]
    fn a_lost_disk_recovers_nothing_and_a_malformed_checkpoint_is_reported() {
        let disk = SimDisk::default();
        let (mut dir, _, _) = LogDir::open(disk.clone(), NEVER);
        let mut log = log_with(2, 0);
        dir.sync(&tp(), &mut log);
        disk.replace_durable(HW_CHECKPOINT, b"0\n3\norders-eu 1 2\n");
        let (_, logs, notes) = LogDir::open(disk.clone(), NEVER);
        assert_eq!(logs[&tp()].hw(), 0);
        assert!(notes[0].what.contains("3 entries announced"), "{notes:?}");
        disk.wipe();
        assert!(reopen(&disk).is_empty());
    }

    #[test]
    fn checkpoint_text_round_trips_topics_with_dashes() {
        assert_eq!(
            parse_dir("orders-eu-12"),
            Some(TopicPartition::new("orders-eu", 12))
        );
        let text = checkpoint_text(["orders-eu 1 7".to_string()].into_iter());
        assert_eq!(text, "0\n1\norders-eu 1 7\n");
        let lines = checkpoint_entries(&text).unwrap();
        assert_eq!(
            parse_hw_entry(lines[0]),
            Some((TopicPartition::new("orders-eu", 1), 7))
        );
    }
}
