//! One replica's log of one partition: records, log end offset (LEO), high watermark (HW),
//! the flushed prefix, the HW checkpoint, and the leader-epoch cache.
//!
//! Durability model: appended records sit in the page cache until [`PartitionLog::flush`]
//! (forced every `log.flush.interval.messages` records; Kafka's default never forces one).
//! The log itself does no I/O: the host mirrors it onto the simulated disk with
//! [`super::log_dir::LogDir`], which also recovers it after a crash
//! ([`PartitionLog::recover`]).
//!
//! The epoch cache maps each leader epoch to the offset of its first record (Kafka's
//! `leader-epoch-checkpoint`, fsynced on every change, so it survives a crash minus the
//! entries beyond the recovered LEO). It answers OffsetsForLeaderEpoch (KIP-101, KIP-279)
//! and drives follower truncation.

use super::wire::Record;
use std::collections::BTreeMap;

/// "No epoch" in OffsetsForLeaderEpoch answers.
pub const UNDEFINED_EPOCH: i32 = -1;
/// "No offset" in OffsetsForLeaderEpoch answers.
pub const UNDEFINED_OFFSET: i64 = -1;

/// What a follower should do with the leader's OffsetsForLeaderEpoch answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncationStep {
    /// Truncate the log to this offset (a no-op if it is ≥ LEO).
    pub truncate_to: i64,
    /// True if truncation is finished; false: ask again with the new latest epoch (KIP-279).
    pub complete: bool,
}

/// A replica's log. Offsets are dense from 0 (no retention or compaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLog {
    records: Vec<Record>,
    hw: i64,
    flushed: i64,
    flush_interval_messages: u64,
    epochs: BTreeMap<i32, i64>,
    /// The lowest offset truncated since the host last mirrored the log.
    truncated_from: Option<i64>,
    /// Records, flushed offset or epoch cache changed since the host last mirrored the log.
    unmirrored: Unmirrored,
}

/// Host bookkeeping, not part of a log's value: two logs with the same contents are equal
/// whether or not either has been mirrored to disk.
#[derive(Clone, Copy, Debug, Eq)]
struct Unmirrored(bool);

impl PartialEq for Unmirrored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl PartitionLog {
    /// An empty log that forces a flush every `flush_interval_messages` unflushed records.
    pub fn new(flush_interval_messages: u64) -> PartitionLog {
        assert!(
            flush_interval_messages >= 1,
            "flush interval must be at least 1"
        );
        PartitionLog {
            records: Vec::new(),
            hw: 0,
            flushed: 0,
            flush_interval_messages,
            epochs: BTreeMap::new(),
            truncated_from: None,
            unmirrored: Unmirrored(true),
        }
    }

    /// A log recovered from disk: `records` with dense offsets from 0, the epoch cache
    /// entries that start below their end, and the checkpointed `hw` (at most the LEO).
    /// Everything recovered is on disk, so it counts as flushed.
    pub fn recover(
        records: Vec<Record>,
        epochs: &[(i32, i64)],
        hw: i64,
        flush_interval_messages: u64,
    ) -> PartitionLog {
        let mut log = PartitionLog::new(flush_interval_messages);
        let leo = records.len() as i64;
        assert!(
            records
                .iter()
                .enumerate()
                .all(|(i, r)| r.offset == i as i64),
            "recovered records must have dense offsets"
        );
        log.records = records;
        log.flushed = leo;
        log.hw = hw.clamp(0, leo);
        log.epochs = epochs
            .iter()
            .filter(|&&(e, s)| e >= 0 && s >= 0 && s < leo)
            .copied()
            .collect();
        log
    }

    /// The lowest offset truncated since the last call, if any: the host cuts its files
    /// there before appending what came after.
    pub fn take_truncation(&mut self) -> Option<i64> {
        self.truncated_from.take()
    }

    /// True if records, the flushed offset or the epoch cache changed since the last call
    /// (a new or recovered log starts changed): the host mirrors only changed logs.
    pub fn take_unmirrored(&mut self) -> bool {
        std::mem::replace(&mut self.unmirrored.0, false)
    }

    /// Log end offset: the offset the next record gets.
    pub fn leo(&self) -> i64 {
        self.records.len() as i64
    }

    /// High watermark: records below it are committed as far as this replica knows.
    pub fn hw(&self) -> i64 {
        self.hw
    }

    /// Records below this offset are on disk: a power loss keeps them.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed
    }

    /// Every record, in offset order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Up to `max` records from `from` (empty if `from` ≥ LEO).
    pub fn read(&self, from: i64, max: usize) -> Vec<Record> {
        let start = from.clamp(0, self.leo()) as usize;
        self.records[start..].iter().take(max).cloned().collect()
    }

    /// The newest epoch in the cache.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.keys().next_back().copied()
    }

    /// The start offset of `epoch`, if cached.
    pub fn epoch_start_offset(&self, epoch: i32) -> Option<i64> {
        self.epochs.get(&epoch).copied()
    }

    /// The epoch cache as (epoch, start offset), ascending.
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epochs().collect()
    }

    /// The epoch cache as (epoch, start offset), ascending, without allocating.
    pub fn epochs(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.epochs.iter().map(|(e, o)| (*e, *o))
    }

    /// Records that `epoch` starts at `start` (Kafka's `LeaderEpochFileCache.assign`): entries
    /// with an epoch ≥ `epoch` or a start ≥ `start` are replaced. A new leader calls this with
    /// its LEO so the epoch is known before its first record (KAFKA-7128 needs that start).
    pub fn assign_epoch_start(&mut self, epoch: i32, start: i64) {
        assert!(
            epoch >= 0 && start >= 0,
            "bad epoch entry ({epoch}, {start})"
        );
        if let Some((&last_epoch, &last_start)) = self.epochs.iter().next_back() {
            if last_epoch == epoch && start >= last_start {
                return;
            }
        }
        self.epochs.retain(|&e, &mut s| e < epoch && s < start);
        self.epochs.insert(epoch, start);
        self.unmirrored.0 = true;
    }

    /// The leader appends a record in `epoch`; returns its offset.
    pub fn append_as_leader(&mut self, epoch: i32, value: String) -> i64 {
        let offset = self.leo();
        if let Some(latest) = self.latest_epoch() {
            assert!(
                epoch >= latest,
                "leader append in epoch {epoch} after epoch {latest}"
            );
        }
        self.assign_epoch_start(epoch, offset);
        self.records.push(Record {
            offset,
            leader_epoch: epoch,
            value,
        });
        self.unmirrored.0 = true;
        self.maybe_force_flush();
        offset
    }

    /// A follower appends records fetched from the leader. They must start at the LEO; the
    /// caller drops stale fetch responses before this.
    ///
    /// A record may carry an older epoch than the newest cached one when that newer epoch
    /// holds no record: a replica that led an epoch without appending anything (its entry
    /// was assigned at its LEO on becoming leader) and then follows a leader whose log
    /// continues the older epoch past that offset. Kafka's `LeaderEpochFileCache.assign`
    /// replaces such an entry ("if the start offset of the new entry matches the start
    /// offset of the removed epoch, then no data has been written and the truncation is
    /// expected"), which [`PartitionLog::assign_epoch_start`] does. An epoch older than one
    /// that already holds records is a replication defect and panics.
    pub fn append_as_follower(&mut self, records: &[Record]) {
        for r in records {
            assert_eq!(
                r.offset,
                self.leo(),
                "follower append out of order: {r:?} at LEO {}",
                self.leo()
            );
            if let Some(last) = self.records.last() {
                assert!(
                    r.leader_epoch >= last.leader_epoch,
                    "fetched record {r:?} older than the last record {last:?}"
                );
            }
            self.assign_epoch_start(r.leader_epoch, r.offset);
            self.records.push(r.clone());
            self.unmirrored.0 = true;
        }
        self.maybe_force_flush();
    }

    fn maybe_force_flush(&mut self) {
        if (self.leo() - self.flushed) as u64 >= self.flush_interval_messages {
            self.flush();
        }
    }

    /// Makes every record durable (fsync, or OS writeback reaching the disk).
    pub fn flush(&mut self) {
        self.unmirrored.0 |= self.flushed != self.leo();
        self.flushed = self.leo();
    }

    /// Leader: moves the HW forward to `candidate` if it is larger; returns true if it moved.
    /// A smaller candidate is ignored (after an election the new leader's HW may be ahead of
    /// what it can compute until every ISR follower has fetched).
    pub fn maybe_increment_hw(&mut self, candidate: i64) -> bool {
        assert!(
            candidate <= self.leo(),
            "HW {candidate} beyond LEO {}",
            self.leo()
        );
        if candidate <= self.hw {
            return false;
        }
        self.hw = candidate;
        true
    }

    /// Follower: HW = min(own LEO, leader's HW), moving forward only. A new leader's HW can
    /// lag this replica's for a while; going back would only make the legacy truncate-to-HW
    /// path lose more. Returns true if it moved.
    pub fn update_follower_hw(&mut self, leader_hw: i64) -> bool {
        self.maybe_increment_hw(leader_hw.min(self.leo()))
    }

    /// Removes records at and after `offset`; the HW and epoch cache follow. Returns true if
    /// anything was removed. Truncation is the only way the HW goes back.
    pub fn truncate_to(&mut self, offset: i64) -> bool {
        let offset = offset.max(0);
        if offset >= self.leo() {
            return false;
        }
        self.records.truncate(offset as usize);
        self.flushed = self.flushed.min(offset);
        self.hw = self.hw.min(offset);
        self.epochs.retain(|_, &mut s| s < offset);
        self.truncated_from = Some(self.truncated_from.map_or(offset, |t| t.min(offset)));
        self.unmirrored.0 = true;
        true
    }

    /// Pre-KIP-101 follower behaviour: truncate to the local HW, which lags the leader's.
    pub fn truncate_to_hw(&mut self) -> bool {
        self.truncate_to(self.hw)
    }

    /// OffsetsForLeaderEpoch (KIP-101, KIP-279): the largest cached epoch ≤ `requested` and
    /// the offset where it ends (the start of the next epoch, or the LEO for the latest).
    /// `(UNDEFINED_EPOCH, UNDEFINED_OFFSET)` if `requested` is newer than every epoch here or
    /// the cache is empty. A requested epoch older than every cached one answers
    /// `(requested, start of the first epoch)`, as Kafka 2.x does.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, self.leo());
        }
        let next = self.epochs.range(requested + 1..).next();
        let prev = self.epochs.range(..=requested).next_back();
        match (prev, next) {
            (_, None) => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
            (None, Some((_, &start))) => (requested, start),
            (Some((&e, _)), Some((_, &start))) => (e, start),
        }
    }

    /// OffsetsForLeaderEpoch as Kafka answered it before KIP-279 (0.11 to 1.1,
    /// `LeaderEpochFileCache.endOffsetFor`; KAFKA-6361): `(UNDEFINED_EPOCH, offset)` where
    /// the offset is the LEO for the latest epoch, else the start of the first epoch after
    /// `requested`, whether or not this log ever had `requested`; `UNDEFINED_OFFSET` if no
    /// epoch follows it or it is older than every cached epoch.
    pub fn end_offset_for_epoch_v0(&self, requested: i32) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (UNDEFINED_EPOCH, self.leo());
        }
        let older_than_all = self.epochs.keys().next().is_some_and(|&e| requested < e);
        match self.epochs.range(requested + 1..).next() {
            Some((_, &start)) if !older_than_all => (UNDEFINED_EPOCH, start),
            _ => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
        }
    }

    /// How far a follower must truncate given the leader's answer `(epoch, end_offset)` to
    /// OffsetsForLeaderEpoch for this log's latest epoch (Kafka 2.x
    /// `AbstractFetcherThread.getOffsetTruncationState`):
    /// - no offset: the leader knows nothing of the epoch; fall back to the HW;
    /// - no epoch (a pre-KIP-279 leader): truncate to its offset;
    /// - the follower also has the leader's epoch: truncate to the smaller end offset;
    /// - the follower lacks it (KAFKA-6361): truncate to where the follower's own largest
    ///   epoch below it ends, and ask again with that epoch.
    pub fn truncation_for(&self, leader_answer: (i32, i64)) -> TruncationStep {
        let (leader_epoch, leader_end) = leader_answer;
        let leo = self.leo();
        if leader_end == UNDEFINED_OFFSET {
            return TruncationStep {
                truncate_to: self.hw.min(leo),
                complete: true,
            };
        }
        if leader_epoch == UNDEFINED_EPOCH {
            return TruncationStep {
                truncate_to: leader_end.min(leo),
                complete: true,
            };
        }
        let (my_epoch, my_end) = self.end_offset_for_epoch(leader_epoch);
        if my_end == UNDEFINED_OFFSET {
            TruncationStep {
                truncate_to: leader_end.min(leo),
                complete: true,
            }
        } else if my_epoch != leader_epoch {
            TruncationStep {
                truncate_to: my_end.min(leo),
                complete: false,
            }
        } else {
            TruncationStep {
                truncate_to: leader_end.min(my_end).min(leo),
                complete: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEVER: u64 = i64::MAX as u64;

    fn leader_log(epochs_values: &[(i32, &str)]) -> PartitionLog {
        let mut log = PartitionLog::new(NEVER);
        for (e, v) in epochs_values {
            log.append_as_leader(*e, v.to_string());
        }
        log
    }

    fn values(log: &PartitionLog) -> Vec<&str> {
        log.records().iter().map(|r| r.value.as_str()).collect()
    }

    /// Drives the KIP-279 loop on `follower` against `leader` until it completes.
    fn truncate_by_epoch(follower: &mut PartitionLog, leader: &PartitionLog) -> usize {
        for round in 1..=10 {
            let Some(epoch) = follower.latest_epoch() else {
                follower.truncate_to_hw();
                return round;
            };
            let step = follower.truncation_for(leader.end_offset_for_epoch(epoch));
            follower.truncate_to(step.truncate_to);
            if step.complete {
                return round;
            }
        }
        panic!("truncation did not converge");
    }

    #[test]
    fn hw_moves_forward_only_and_never_past_leo() {
        let mut log = leader_log(&[(0, "a"), (0, "b")]);
        assert!(log.maybe_increment_hw(1));
        assert!(!log.maybe_increment_hw(0));
        assert_eq!(log.hw(), 1);
        assert!(log.maybe_increment_hw(2));
        let r = std::panic::catch_unwind(move || log.maybe_increment_hw(3));
        assert!(r.is_err(), "HW beyond LEO must panic");
    }

    #[test]
    fn end_offset_for_epoch_table() {
        // epochs: 0 -> [0,2), 2 -> [2,3), 5 -> [3,5)
        let log = leader_log(&[(0, "a"), (0, "b"), (2, "c"), (5, "d"), (5, "e")]);
        assert_eq!(log.epoch_entries(), vec![(0, 0), (2, 2), (5, 3)]);
        let table = [
            (-1, (UNDEFINED_EPOCH, UNDEFINED_OFFSET)),
            (0, (0, 2)),
            (1, (0, 2)),
            (2, (2, 3)),
            (4, (2, 3)),
            (5, (5, 5)),
            (6, (UNDEFINED_EPOCH, UNDEFINED_OFFSET)),
        ];
        for (asked, want) in table {
            assert_eq!(log.end_offset_for_epoch(asked), want, "epoch {asked}");
        }
        let mut later = PartitionLog::new(NEVER);
        later.assign_epoch_start(3, 0);
        assert_eq!(
            later.end_offset_for_epoch(1),
            (1, 0),
            "older than every epoch"
        );
        assert_eq!(
            later.end_offset_for_epoch(4),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
            "newer than every epoch"
        );
        later.append_as_leader(4, "x".into());
        assert_eq!(
            later.epoch_entries(),
            vec![(4, 0)],
            "epoch 3 had no records and is replaced"
        );
    }

    #[test]
    fn flush_is_forced_every_interval_and_recovery_caps_hw_and_epochs() {
        let mut log = PartitionLog::new(2);
        log.append_as_leader(0, "a".into());
        assert_eq!(log.flushed_offset(), 0);
        log.append_as_leader(0, "b".into());
        assert_eq!(log.flushed_offset(), 2, "forced flush after 2 messages");
        log.append_as_leader(1, "c".into());
        let back = PartitionLog::recover(log.records()[..2].to_vec(), &log.epoch_entries(), 3, 2);
        assert_eq!(values(&back), vec!["a", "b"]);
        assert_eq!((back.leo(), back.hw(), back.flushed_offset()), (2, 2, 2));
        assert_eq!(
            back.latest_epoch(),
            Some(0),
            "epoch 1 started past the recovered LEO"
        );
    }

    /// KIP-101 scenario 1: the follower B fetched m2 but its HW (1) lags the leader's (2).
    /// B restarts; with truncate-to-HW it drops the committed m2; the leader A then dies
    /// and B, elected, no longer has m2. With OffsetsForLeaderEpoch B keeps m2.
    #[test]
    fn kip101_truncate_to_hw_loses_committed_record_and_epochs_do_not() {
        for legacy in [true, false] {
            let mut a = PartitionLog::new(NEVER);
            let mut b = PartitionLog::new(NEVER);
            a.append_as_leader(0, "m1".into());
            b.append_as_follower(&a.read(0, 10));
            a.maybe_increment_hw(1); // B's fetch at 1 shows LEO 1
            b.update_follower_hw(a.hw());
            a.append_as_leader(0, "m2".into());
            b.append_as_follower(&a.read(1, 10)); // fetch at 1: B gets m2, HW still 1
            b.update_follower_hw(a.hw());
            a.maybe_increment_hw(2); // B's next fetch at 2: m2 committed, acks=all answered
            assert_eq!((a.hw(), b.hw(), b.leo()), (2, 1, 2));

            // B restarts and becomes a follower again.
            if legacy {
                b.truncate_to_hw();
            } else {
                truncate_by_epoch(&mut b, &a);
            }
            // A dies; B is elected (it is in the ISR) with epoch 1.
            b.assign_epoch_start(1, b.leo());
            let committed_m2_survives = values(&b).contains(&"m2");
            assert_eq!(
                committed_m2_survives,
                !legacy,
                "legacy={legacy}: {:?}",
                values(&b)
            );
        }
    }

    /// KIP-101 scenario 2 (KAFKA-3919): both replicas lose unflushed tails; B comes back
    /// first, is elected, and writes m3 at m2's offset. A then must not keep its m2.
    #[test]
    fn kip101_divergence_is_truncated_by_epoch() {
        let mut a = leader_log(&[(0, "m1"), (0, "m2")]);
        let mut b = PartitionLog::new(NEVER);
        b.append_as_follower(&a.read(0, 1));
        // B leads epoch 1 and writes m3 at offset 1.
        b.assign_epoch_start(1, b.leo());
        b.append_as_leader(1, "m3".into());
        let rounds = truncate_by_epoch(&mut a, &b);
        assert_eq!(rounds, 1);
        assert_eq!(values(&a), vec!["m1"]);
        a.append_as_follower(&b.read(a.leo(), 10));
        assert_eq!(values(&a), values(&b));
        // Legacy truncate-to-HW would keep m2 at offset 1 if A's HW had reached 2: the logs
        // would diverge at a committed offset.
        let mut a2 = leader_log(&[(0, "m1"), (0, "m2")]);
        a2.maybe_increment_hw(2);
        a2.truncate_to_hw();
        assert_eq!(values(&a2), vec!["m1", "m2"]);
    }

    /// A leader with epoch 0 at [0,2) and epoch 2 at [2,4), and a follower with epoch 0 at
    /// [0,1) and epoch 1 at [1,3), written while it briefly led (KAFKA-6361's two fast
    /// leader changes).
    fn leader_and_short_leader() -> (PartitionLog, PartitionLog) {
        let leader = leader_log(&[(0, "a"), (0, "b"), (2, "c"), (2, "d")]);
        let mut follower = PartitionLog::new(NEVER);
        follower.append_as_follower(&leader.read(0, 1));
        follower.append_as_follower(&[
            Record {
                offset: 1,
                leader_epoch: 1,
                value: "x".into(),
            },
            Record {
                offset: 2,
                leader_epoch: 1,
                value: "y".into(),
            },
        ]);
        (leader, follower)
    }

    /// KAFKA-6361 before KIP-279: asked about an epoch it never had, the leader answers with
    /// the start of its next epoch and no epoch; the follower truncates there and keeps a
    /// record of its own epoch where the leader has another: the logs diverge.
    #[test]
    fn kafka_6361_answer_without_epoch_lets_logs_diverge() {
        let (leader, mut follower) = leader_and_short_leader();
        assert_eq!(leader.end_offset_for_epoch_v0(1), (UNDEFINED_EPOCH, 2));
        let step = follower.truncation_for(leader.end_offset_for_epoch_v0(1));
        assert_eq!(
            step,
            TruncationStep {
                truncate_to: 2,
                complete: true
            }
        );
        follower.truncate_to(step.truncate_to);
        follower.append_as_follower(&leader.read(follower.leo(), 10));
        assert_eq!(values(&follower), vec!["a", "x", "c", "d"]);
        assert_eq!(values(&leader), vec!["a", "b", "c", "d"]);
        // The v0 answer's other cases: the latest epoch ends at the LEO; an epoch older than
        // every cached one, or with none after it, has no end offset.
        assert_eq!(leader.end_offset_for_epoch_v0(2), (UNDEFINED_EPOCH, 4));
        assert_eq!(
            leader.end_offset_for_epoch_v0(3),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
        let late = leader_log(&[(3, "a")]);
        assert_eq!(
            late.end_offset_for_epoch_v0(1),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
    }

    /// KIP-279 / KAFKA-6361: the follower's latest epoch is one the leader never saw, so it
    /// must truncate in two rounds.
    #[test]
    fn kip279_iterates_when_follower_epoch_is_unknown_to_leader() {
        let (leader, mut follower) = leader_and_short_leader();
        // Asked about epoch 1, the leader answers (0, 2): the follower has no entry for
        // epoch 0 ending at 2 beyond offset 1, so one more round settles it.
        assert_eq!(leader.end_offset_for_epoch(1), (0, 2));
        assert_eq!(
            follower.truncation_for((0, 2)),
            TruncationStep {
                truncate_to: 1,
                complete: true
            }
        );
        truncate_by_epoch(&mut follower, &leader);
        assert_eq!(values(&follower), vec!["a"]);

        // A follower whose latest epoch (3) the leader never saw: the leader has led epoch 4
        // since offset 4 and answers (2, 4); the follower has no epoch 2, so it cuts to the
        // end of its epoch 1 and asks again about epoch 1.
        let mut leader = leader;
        leader.assign_epoch_start(4, 4);
        let mut f2 = PartitionLog::new(NEVER);
        f2.append_as_follower(&leader.read(0, 2));
        f2.append_as_follower(&[
            Record {
                offset: 2,
                leader_epoch: 1,
                value: "p".into(),
            },
            Record {
                offset: 3,
                leader_epoch: 3,
                value: "q".into(),
            },
        ]);
        assert_eq!(leader.end_offset_for_epoch(3), (2, 4));
        assert_eq!(
            f2.truncation_for((2, 4)),
            TruncationStep {
                truncate_to: 3,
                complete: false
            }
        );
        let rounds = truncate_by_epoch(&mut f2, &leader);
        assert_eq!(rounds, 2);
        assert_eq!(values(&f2), vec!["a", "b"]);
    }

    /// A newer epoch without records (assigned at the LEO by a leader that then appended
    /// nothing) gives way to an older epoch's record fetched at that offset, as in Kafka's
    /// `LeaderEpochFileCache.assign`; a newer epoch that holds records does not.
    #[test]
    fn follower_append_replaces_only_an_empty_newer_epoch() {
        let rec = |offset, leader_epoch, value: &str| Record {
            offset,
            leader_epoch,
            value: value.into(),
        };
        let mut log = leader_log(&[(0, "a")]);
        log.assign_epoch_start(1, 1);
        log.append_as_follower(&[rec(1, 0, "b"), rec(2, 3, "c")]);
        assert_eq!(values(&log), vec!["a", "b", "c"]);
        assert_eq!(log.epoch_start_offset(1), None);
        assert_eq!(log.latest_epoch(), Some(3));
        assert_eq!(log.end_offset_for_epoch(0), (0, 2));

        let mut log = leader_log(&[(0, "a"), (1, "b")]);
        let r = std::panic::catch_unwind(move || log.append_as_follower(&[rec(2, 0, "c")]));
        assert!(r.is_err(), "epoch 0 after a record of epoch 1 must panic");
    }
}
