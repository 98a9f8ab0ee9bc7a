//! The leader's choice of how to bring one follower up to date (LearnerHandler.syncFollower in
//! ZooKeeper 3.8), as a pure function of zxids. The ZAB leader turns the returned
//! [`SyncPlan`] into DIFF / TRUNC / SNAP packets followed by the committed txns it names.
//!
//! Not modelled: syncing from the on-disk txn log when the follower is behind the in-memory
//! committed log (`P < min`); those followers always get a SNAP here.

use super::ids::Zxid;
use serde::{Deserialize, Serialize};

/// How the leader synchronizes one follower.
///
/// `send_from_index` indexes the `committed_log` passed to [`plan_sync`]: after the header
/// packet, the leader sends `committed_log[send_from_index..]` as PROPOSAL+COMMIT pairs
/// (`send_from_index == committed_log.len()` means nothing follows the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncPlan {
    /// DIFF: the follower keeps its tree; the listed committed txns follow.
    Diff {
        /// First committed-log entry to send.
        send_from_index: usize,
    },
    /// TRUNC(to): the follower cuts its log after `to`; the listed committed txns follow
    /// ("TRUNC+DIFF" when `send_from_index < committed_log.len()`).
    Trunc {
        /// Zxid the follower truncates back to (its new last zxid).
        to: Zxid,
        /// First committed-log entry to send.
        send_from_index: usize,
    },
    /// SNAP: full tree and session table, labelled with the leader's last processed zxid at
    /// send time.
    Snap,
}

impl SyncPlan {
    /// The follower's last zxid once the plan's header and listed txns are applied (the
    /// position from which the leader forwards queued and live proposals). For a SNAP this is
    /// `leader_last`, the label of the snapshot if taken now.
    pub fn synced_zxid(
        &self,
        follower_last: Zxid,
        leader_last: Zxid,
        committed_log: &[Zxid],
    ) -> Zxid {
        let last_sent = |from: usize, otherwise: Zxid| {
            if from < committed_log.len() {
                committed_log[committed_log.len() - 1]
            } else {
                otherwise
            }
        };
        match *self {
            SyncPlan::Diff { send_from_index } => last_sent(send_from_index, follower_last),
            SyncPlan::Trunc {
                to,
                send_from_index,
            } => last_sent(send_from_index, to),
            SyncPlan::Snap => leader_last,
        }
    }
}

/// Bug flags for [`plan_sync`]. All off = ZooKeeper 3.8 behaviour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncBugs {
    /// ZOOKEEPER-1154: send a DIFF whenever `min <= P <= max` without checking that P is in
    /// the committed log, so a divergent uncommitted txn the follower holds is kept.
    pub diff_without_log_check: bool,
}

/// Decides how the leader syncs a follower whose last zxid is `follower_last` (P).
///
/// `leader_last` (L) is the leader's last processed zxid; `committed_log` holds the zxids of
/// the leader's in-memory committed log in ascending order (its min/max bound the DIFF
/// window; if empty, min = max = L). Rules, in order (reference §2):
/// 1. P == L: empty DIFF.
/// 2. P > max and P is not an epoch start: TRUNC(max), nothing follows.
/// 3. min <= P <= max: walk the log; P in the log ⇒ DIFF of the later txns; P an epoch
///    start ⇒ DIFF of the later txns; next txn in P's epoch ⇒ TRUNC(previous txn) + later
///    txns; next txn in a later epoch ⇒ SNAP (a TRUNC never crosses an epoch).
/// 4. Otherwise (P < min, or P > max at an epoch start): SNAP.
pub fn plan_sync(
    follower_last: Zxid,
    leader_last: Zxid,
    committed_log: &[Zxid],
    bug: SyncBugs,
) -> SyncPlan {
    debug_assert!(
        committed_log.windows(2).all(|w| w[0] < w[1]),
        "committed log not strictly ascending: {committed_log:?}"
    );
    let p = follower_last;
    let (min, max) = match (committed_log.first(), committed_log.last()) {
        (Some(&min), Some(&max)) => (min, max),
        _ => (leader_last, leader_last),
    };
    // Index of the first committed txn above P: everything from there on is sent.
    let first_above = committed_log.partition_point(|&z| z <= p);

    if p == leader_last {
        return SyncPlan::Diff {
            send_from_index: committed_log.len(),
        };
    }
    if p > max && !p.is_epoch_start() {
        return SyncPlan::Trunc {
            to: max,
            send_from_index: committed_log.len(),
        };
    }
    if min <= p && p <= max {
        if bug.diff_without_log_check {
            return SyncPlan::Diff {
                send_from_index: first_above,
            };
        }
        let p_in_log = first_above > 0 && committed_log[first_above - 1] == p;
        if p_in_log || p.is_epoch_start() {
            return SyncPlan::Diff {
                send_from_index: first_above,
            };
        }
        // P lies strictly between two log entries (P > min because P is not in the log).
        let next = committed_log[first_above];
        if next.epoch() != p.epoch() {
            return SyncPlan::Snap;
        }
        let prev = committed_log[first_above - 1];
        return SyncPlan::Trunc {
            to: prev,
            send_from_index: first_above,
        };
    }
    SyncPlan::Snap
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(epoch, counter)
    }

    #[test]
    fn table() {
        let log = [z(5, 1), z(5, 2), z(5, 4), z(6, 1), z(6, 2)];
        let l = z(6, 2);
        let off = SyncBugs::default();
        let bug = SyncBugs {
            diff_without_log_check: true,
        };
        // (name, follower last, leader last, committed log, bug flags, expected plan)
        type Row<'a> = (&'a str, Zxid, Zxid, &'a [Zxid], SyncBugs, SyncPlan);
        #[rustfmt::skip]
        let rows: &[Row] = &[
            ("equal: empty diff", l, l, &log, off, SyncPlan::Diff { send_from_index: 5 }),
            ("equal, empty log", z(3, 9), z(3, 9), &[], off, SyncPlan::Diff { send_from_index: 0 }),
            ("ahead, not epoch start: TRUNC(max)", z(6, 7), l, &log, off,
                SyncPlan::Trunc { to: z(6, 2), send_from_index: 5 }),
            ("ahead of an empty log: TRUNC(L)", z(3, 10), z(3, 9), &[], off,
                SyncPlan::Trunc { to: z(3, 9), send_from_index: 0 }),
            ("ahead but an epoch start: SNAP", z(7, 0), l, &log, off, SyncPlan::Snap),
            ("in log: DIFF of the later txns", z(5, 2), l, &log, off, SyncPlan::Diff { send_from_index: 2 }),
            ("in log at min", z(5, 1), l, &log, off, SyncPlan::Diff { send_from_index: 1 }),
            ("epoch start inside window: DIFF", z(6, 0), l, &log, off, SyncPlan::Diff { send_from_index: 3 }),
            ("not in log, next txn same epoch: TRUNC+DIFF", z(5, 3), l, &log, off,
                SyncPlan::Trunc { to: z(5, 2), send_from_index: 2 }),
            ("not in log, next txn later epoch: SNAP", z(5, 9), l, &log, off, SyncPlan::Snap),
            ("behind min: SNAP (disk-log sync not modelled)", z(4, 8), l, &log, off, SyncPlan::Snap),
            ("behind an empty log: SNAP", z(3, 1), z(3, 9), &[], off, SyncPlan::Snap),
            ("1154: not in log, later epoch, DIFF anyway", z(5, 9), l, &log, bug,
                SyncPlan::Diff { send_from_index: 3 }),
            ("1154: not in log, same epoch, DIFF anyway", z(5, 3), l, &log, bug,
                SyncPlan::Diff { send_from_index: 2 }),
            ("1154 flag does not change P > max", z(6, 7), l, &log, bug,
                SyncPlan::Trunc { to: z(6, 2), send_from_index: 5 }),
        ];
        for (name, p, leader_last, log, bugs, want) in rows {
            assert_eq!(plan_sync(*p, *leader_last, log, *bugs), *want, "{name}");
        }
    }

    /// ZOOKEEPER-1154's story: A logged 0x700000004 alone; B leads epoch 8. At B's first sync
    /// A is ahead of B's max and is TRUNCated; once B committed 0x800000001, A needs a SNAP
    /// (the flag keeps the divergent txn by sending a DIFF).
    #[test]
    fn uncommitted_divergent_tail_from_old_epoch() {
        let a = z(7, 4);
        let before = [z(7, 1), z(7, 2), z(7, 3)];
        let plan = plan_sync(a, z(7, 3), &before, SyncBugs::default());
        assert_eq!(
            plan,
            SyncPlan::Trunc {
                to: z(7, 3),
                send_from_index: 3
            }
        );
        assert_eq!(plan.synced_zxid(a, z(7, 3), &before), z(7, 3));

        let after = [z(7, 1), z(7, 2), z(7, 3), z(8, 1)];
        assert_eq!(
            plan_sync(a, z(8, 1), &after, SyncBugs::default()),
            SyncPlan::Snap
        );
        let buggy = plan_sync(
            a,
            z(8, 1),
            &after,
            SyncBugs {
                diff_without_log_check: true,
            },
        );
        assert_eq!(buggy, SyncPlan::Diff { send_from_index: 3 });
        // The follower would end at 0x800000001 still holding 0x700000004.
        assert_eq!(buggy.synced_zxid(a, z(8, 1), &after), z(8, 1));
    }

    #[test]
    fn synced_zxid_per_plan() {
        let log = [z(5, 1), z(5, 2), z(5, 4)];
        let l = z(5, 4);
        let cases = [
            (z(5, 4), SyncPlan::Diff { send_from_index: 3 }, z(5, 4)),
            (z(5, 1), SyncPlan::Diff { send_from_index: 1 }, z(5, 4)),
            (
                z(5, 3),
                SyncPlan::Trunc {
                    to: z(5, 2),
                    send_from_index: 2,
                },
                z(5, 4),
            ),
            (
                z(5, 9),
                SyncPlan::Trunc {
                    to: z(5, 4),
                    send_from_index: 3,
                },
                z(5, 4),
            ),
            (z(4, 1), SyncPlan::Snap, l),
        ];
        for (p, plan, want) in cases {
            assert_eq!(
                plan_sync(p, l, &log, SyncBugs::default()),
                plan,
                "plan for {p}"
            );
            assert_eq!(plan.synced_zxid(p, l, &log), want, "synced zxid for {p}");
        }
    }
}
