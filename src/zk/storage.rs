//! A server's files on its simulated disk: the transaction log, snapshots and the two
//! epoch files, with recovery after a crash.
//!
//! Layout (as ZooKeeper's `version-2` directory):
//! - `acceptedEpoch`, `currentEpoch`: decimal text, replaced atomically and durably;
//! - `log.<zxid>`: framed postcard records, one transaction each, named by the first zxid;
//!   appends are durable only after fsync, so a crash loses the unsynced tail (never
//!   acknowledged, because a server ACKs only after fsync);
//! - `snapshot.<zxid>`: the tree and session table with every txn up to `zxid` and, when
//!   fuzzy (taken while txns kept applying, see [`super::datatree::FuzzySnapshot`]), some
//!   effects of later ones; the log is rolled when a snapshot starts; purge keeps the newest
//!   `snapRetainCount` snapshots and the log files they need.
//!
//! Recovery loads the newest snapshot that decodes, then replays every logged txn after it
//! (NodeExists/NoNode ignored, the parent's counter restored from the txn), stopping at a
//! torn tail (which it cuts off so later appends follow valid records). As
//! `FileTxnSnapLog.restore` in ZooKeeper 3.8: with no snapshot and no log (a fresh data
//! directory) it writes `snapshot.0` of the empty tree, not fsynced; with no snapshot that
//! decodes but transactions in the log it refuses ([`RecoveryRefused`], ZOOKEEPER-2325),
//! because the log alone may not start at the first transaction.

use super::datatree::DataTree;
use super::ids::{Epoch, Zxid};
use super::txn::Txn;
use super::zab::{Database, COMMITTED_LOG_MAX};
use kzsim_sim::disk::records;
use kzsim_sim::SimDisk;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

const ACCEPTED_EPOCH: &str = "acceptedEpoch";
const CURRENT_EPOCH: &str = "currentEpoch";
const LOG_PREFIX: &str = "log.";
const SNAP_PREFIX: &str = "snapshot.";

/// What recovery found, for the `Recovered` event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// The snapshot recovery started from (0: none).
    pub snapshot_zxid: Zxid,
    /// Log records replayed after it.
    pub replayed: u64,
    /// A torn or corrupt log tail was cut off.
    pub torn_tail: bool,
}

/// Recovery found transactions in the log but no snapshot that decodes, and the server
/// refuses to start: ZooKeeper 3.8 throws "No snapshot found, but there are log entries.
/// Something is broken!" (FileTxnSnapLog.restore, ZOOKEEPER-2325) and the process exits
/// until an operator repairs the data directory.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no snapshot found, but the log holds transactions up to {last_logged}: ZooKeeper refuses to start (FileTxnSnapLog.restore, ZOOKEEPER-2325)")]
pub struct RecoveryRefused {
    /// The last transaction the log holds.
    pub last_logged: Zxid,
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    zxid: Zxid,
    tree: DataTree,
}

/// A server's storage on its disk.
pub struct Storage {
    disk: SimDisk,
    /// The log file appends go to.
    current_log: Option<String>,
    /// autopurge.snapRetainCount, or `None` with autopurge off (ZooKeeper's default).
    purge_retain: Option<usize>,
    /// Replay behaviour (bug flags).
    pub tree_flags: crate::zk::datatree::TreeFlags,
}

fn name_zxid(name: &str, prefix: &str) -> Option<Zxid> {
    i64::from_str_radix(name.strip_prefix(prefix)?, 16)
        .ok()
        .map(Zxid)
}

fn read_epoch(disk: &SimDisk, path: &str) -> Epoch {
    disk.read(path)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl Storage {
    /// Storage on `disk`. With `purge_retain`, old files are purged after each snapshot,
    /// keeping that many (at least 3) snapshots; `None` keeps everything (autopurge off,
    /// ZooKeeper's default).
    pub fn new(disk: SimDisk, purge_retain: Option<usize>) -> Self {
        Storage {
            disk,
            current_log: None,
            purge_retain: purge_retain.map(|n| n.max(3)),
            tree_flags: Default::default(),
        }
    }

    /// The disk.
    pub fn disk(&self) -> &SimDisk {
        &self.disk
    }

    /// Rebuilds the database from what is on disk, or refuses to (see [`RecoveryRefused`]).
    /// A fresh data directory gets `snapshot.0` (not fsynced).
    pub fn recover(&mut self) -> Result<(Database, RecoveryInfo), RecoveryRefused> {
        let mut info = RecoveryInfo::default();
        let mut db = Database::empty();
        db.accepted_epoch = read_epoch(&self.disk, ACCEPTED_EPOCH);
        db.current_epoch = read_epoch(&self.disk, CURRENT_EPOCH);
        let mut snaps: Vec<(Zxid, String)> = self
            .disk
            .list(SNAP_PREFIX)
            .into_iter()
            .filter_map(|n| Some((name_zxid(&n, SNAP_PREFIX)?, n)))
            .collect();
        snaps.sort();
        let mut snapshot_loaded = false;
        for (zxid, name) in snaps.iter().rev() {
            let loaded = self.disk.with_file(name, |data| {
                let dec = records::decode(data?);
                let (payload, _) = dec.records.first()?;
                postcard::from_bytes::<SnapshotFile>(payload).ok()
            });
            if let Some(snap) = loaded {
                db.tree = snap.tree;
                db.last_processed = *zxid;
                info.snapshot_zxid = *zxid;
                snapshot_loaded = true;
                break;
            }
        }
        let mut logs = self.log_files();
        if !snapshot_loaded {
            if let Some(last_logged) = self.last_logged(&logs) {
                return Err(RecoveryRefused { last_logged });
            }
            self.write_snapshot_file(Zxid(0), &db.tree);
        }
        let mut replayed: VecDeque<Arc<Txn>> = VecDeque::new();
        let mut cut: Option<(usize, usize)> = None;
        'files: for (i, (_, name)) in logs.iter().enumerate() {
            let stop = self.disk.with_file(name, |data| {
                let data = data.unwrap_or(&[]);
                let dec = records::decode(data);
                for (payload, _) in &dec.records {
                    let Ok(txn) = postcard::from_bytes::<Txn>(payload) else {
                        return Some(0);
                    };
                    let zxid = txn.header.zxid;
                    if zxid > db.last_processed {
                        db.tree.replay(&txn, self.tree_flags);
                        db.last_processed = zxid;
                        info.replayed += 1;
                        replayed.push_back(Arc::new(txn));
                        if replayed.len() > COMMITTED_LOG_MAX {
                            replayed.pop_front();
                        }
                    }
                }
                dec.torn_tail.then_some(dec.valid_len)
            });
            if let Some(valid) = stop {
                cut = Some((i, valid));
                break 'files;
            }
        }
        if let Some((i, valid)) = cut {
            info.torn_tail = true;
            self.disk.truncate(&logs[i].1, valid);
            for (_, later) in logs.drain(i + 1..) {
                self.disk.remove(&later);
            }
        }
        self.current_log = logs.last().map(|(_, n)| n.clone());
        db.last_logged = db.last_processed;
        db.committed_log = replayed;
        db.txns_since_snapshot = info.replayed;
        Ok((db, info))
    }

    /// The last transaction the log files hold, reading each up to its first undecodable
    /// record (`FileTxnLog.getLastLoggedZxid`).
    fn last_logged(&self, logs: &[(Zxid, String)]) -> Option<Zxid> {
        let mut last = None;
        for (_, name) in logs {
            self.disk.with_file(name, |data| {
                for (payload, _) in &records::decode(data.unwrap_or(&[])).records {
                    match postcard::from_bytes::<Txn>(payload) {
                        Ok(txn) => last = Some(txn.header.zxid),
                        Err(_) => break,
                    }
                }
            });
        }
        last
    }

    fn log_files(&self) -> Vec<(Zxid, String)> {
        let mut logs: Vec<(Zxid, String)> = self
            .disk
            .list(LOG_PREFIX)
            .into_iter()
            .filter_map(|n| Some((name_zxid(&n, LOG_PREFIX)?, n)))
            .collect();
        logs.sort();
        logs
    }

    /// Appends transactions to the current log (not durable until [`Storage::log_path`] is
    /// fsynced). Returns the file written.
    pub fn append(&mut self, txns: &[Arc<Txn>]) -> Option<String> {
        let first = txns.first()?;
        let path = self
            .current_log
            .get_or_insert_with(|| format!("{LOG_PREFIX}{:016x}", first.header.zxid.0))
            .clone();
        let mut buf = Vec::new();
        for t in txns {
            let payload = postcard::to_allocvec(&**t).expect("txns serialize");
            records::encode_into(&payload, &mut buf);
        }
        self.disk.append(&path, &buf);
        Some(path)
    }

    /// Persists an epoch file durably.
    pub async fn write_epoch(&self, accepted: bool, epoch: Epoch) {
        let path = if accepted {
            ACCEPTED_EPOCH
        } else {
            CURRENT_EPOCH
        };
        self.disk
            .write_durable(path, epoch.to_string().as_bytes())
            .await;
    }

    /// Writes a snapshot (fsynced only if `sync`), starts a new log file for later appends,
    /// and purges old snapshots and logs.
    pub async fn write_snapshot(&mut self, zxid: Zxid, tree: &DataTree, sync: bool) {
        let name = self.write_snapshot_file(zxid, tree);
        // Purging deletes files for good, so the snapshot that replaces them must be
        // durable first (a deliberate safety over the real server, whose snapshots are
        // fsynced only after a SNAP sync).
        if sync || self.purge_retain.is_some() {
            self.disk.fsync(&name).await;
        }
        self.current_log = None;
        self.purge();
    }

    /// Writes `snapshot.<zxid>`, replacing a file of that name in place as ZooKeeper's
    /// `FileOutputStream` does (truncated, then written; nothing durable until an fsync or
    /// the OS's writeback). Returns the file's name.
    fn write_snapshot_file(&mut self, zxid: Zxid, tree: &DataTree) -> String {
        let name = format!("{SNAP_PREFIX}{:016x}", zxid.0);
        #[derive(Serialize)]
        struct SnapshotRef<'a> {
            zxid: Zxid,
            tree: &'a DataTree,
        }
        let payload = postcard::to_allocvec(&SnapshotRef { zxid, tree }).expect("trees serialize");
        self.disk.remove(&name);
        self.disk.append(&name, &records::encode(&payload));
        name
    }

    /// Keeps the newest `snap_retain` snapshots and the log files needed to replay them.
    fn purge(&mut self) {
        let Some(retain) = self.purge_retain else {
            return;
        };
        let mut snaps: Vec<Zxid> = self
            .disk
            .list(SNAP_PREFIX)
            .iter()
            .filter_map(|n| name_zxid(n, SNAP_PREFIX))
            .collect();
        snaps.sort();
        if snaps.len() <= retain {
            return;
        }
        let oldest_kept = snaps[snaps.len() - retain];
        for z in &snaps[..snaps.len() - retain] {
            self.disk.remove(&format!("{SNAP_PREFIX}{:016x}", z.0));
        }
        let logs = self.log_files();
        // A log file is needed if the next one starts after the oldest kept snapshot.
        for (i, (_, name)) in logs.iter().enumerate() {
            let next_start = logs.get(i + 1).map(|(z, _)| *z);
            if next_start.is_some_and(|n| n <= oldest_kept)
                && Some(name) != self.current_log.as_ref()
            {
                self.disk.remove(name);
            }
        }
    }

    /// Later appends go to a new log file (after a snapshot).
    pub fn start_new_log(&mut self) {
        self.current_log = None;
    }

    /// Cuts the log after `to` (TRUNC). Snapshots newer than `to` are removed too, so the
    /// reload cannot bring the cut transactions back.
    pub fn truncate(&mut self, to: Zxid) {
        for (_, name) in self.log_files() {
            let cut_at = self.disk.with_file(&name, |data| {
                let dec = records::decode(data.unwrap_or(&[]));
                let mut keep = 0;
                for (payload, end) in &dec.records {
                    match postcard::from_bytes::<Txn>(payload) {
                        Ok(t) if t.header.zxid <= to => keep = *end,
                        _ => return Some(keep),
                    }
                }
                (keep != dec.valid_len || dec.torn_tail).then_some(keep)
            });
            match cut_at {
                Some(0) if name_zxid(&name, LOG_PREFIX).is_some_and(|z| z > to) => {
                    self.disk.remove(&name)
                }
                Some(len) => self.disk.truncate(&name, len),
                None => {}
            }
        }
        for n in self.disk.list(SNAP_PREFIX) {
            if name_zxid(&n, SNAP_PREFIX).is_some_and(|z| z > to) {
                self.disk.remove(&n);
            }
        }
        self.current_log = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::txn::{TxnBody, TxnHeader};
    use kzsim_sim::DiskConfig;
    use rand::SeedableRng;

    fn session_txn(zxid: i64) -> Arc<Txn> {
        Arc::new(Txn {
            header: TxnHeader {
                session: zxid,
                cxid: 0,
                zxid: Zxid(zxid),
                time_ms: 0,
            },
            body: TxnBody::CreateSession { timeout_ms: 4000 },
        })
    }

    fn power_loss(disk: &SimDisk) {
        disk.crash(false, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    }

    fn durable_log(storage: &mut Storage, zxids: &[i64]) {
        let txns: Vec<Arc<Txn>> = zxids.iter().map(|&z| session_txn(z)).collect();
        let path = storage.append(&txns).expect("appended");
        let len = storage.disk().len(&path).expect("log exists");
        storage.disk().mark_durable(&path, len);
    }

    #[test]
    fn a_fresh_data_directory_gets_an_unsynced_snapshot_0() {
        let disk = SimDisk::new(DiskConfig::default());
        let mut storage = Storage::new(disk.clone(), None);
        let (db, info) = storage.recover().expect("a fresh directory starts");
        assert_eq!((db.last_processed, info.snapshot_zxid), (Zxid(0), Zxid(0)));
        assert_eq!(
            disk.list(SNAP_PREFIX),
            vec![format!("{SNAP_PREFIX}{:016x}", 0)]
        );
        assert!(disk.stats().bytes_unsynced > 0, "snapshot.0 is not fsynced");
    }

    #[test]
    fn a_log_without_a_snapshot_that_decodes_is_refused_and_with_one_it_is_replayed() {
        let disk = SimDisk::new(DiskConfig::default());
        let mut storage = Storage::new(disk.clone(), None);
        storage.recover().expect("fresh");
        durable_log(&mut storage, &[0x1_0000_0001, 0x1_0000_0002]);
        // The power loss takes snapshot.0 (never flushed) and keeps the fsynced log.
        power_loss(&disk);
        let refused = Storage::new(disk.clone(), None).recover();
        assert_eq!(
            refused.err(),
            Some(RecoveryRefused {
                last_logged: Zxid(0x1_0000_0002)
            })
        );
        // The refusal wrote nothing: a second start refuses the same way.
        assert!(Storage::new(disk.clone(), None).recover().is_err());

        // With snapshot.0 made durable (the OS wrote it back) the same log replays.
        let disk = SimDisk::new(DiskConfig::default());
        let mut storage = Storage::new(disk.clone(), None);
        storage.recover().expect("fresh");
        let snap0 = format!("{SNAP_PREFIX}{:016x}", 0);
        disk.mark_durable(&snap0, disk.len(&snap0).expect("snapshot.0"));
        durable_log(&mut storage, &[0x1_0000_0001, 0x1_0000_0002]);
        power_loss(&disk);
        let (db, info) = Storage::new(disk, None).recover().expect("starts");
        assert_eq!((db.last_processed, info.replayed), (Zxid(0x1_0000_0002), 2));
    }

    #[test]
    fn a_torn_log_with_no_whole_record_is_no_log() {
        let disk = SimDisk::new(DiskConfig::default());
        disk.append(
            &format!("{LOG_PREFIX}{:016x}", 0x1_0000_0001_i64),
            &[7, 7, 7],
        );
        disk.mark_durable(&format!("{LOG_PREFIX}{:016x}", 0x1_0000_0001_i64), 3);
        let (db, info) = Storage::new(disk, None).recover().expect("starts");
        assert_eq!(db.last_processed, Zxid(0));
        assert!(info.torn_tail);
    }
}
