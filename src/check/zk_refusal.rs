//! ZooKeeper servers that refused to start: a power loss took every snapshot while the
//! fsynced log survived, and `FileTxnSnapLog.restore` will not load a log without a
//! snapshot (ZOOKEEPER-2325). Such a server stays down until an operator repairs its data
//! directory, which is the real system's behaviour, so an outage these refusals cause is
//! outside the fault model, and only when they leave fewer than a quorum of servers that
//! hold their history (a server back with an empty disk, not yet synced, holds none).

use super::{Excuse, Violation};
use crate::history::{Event, History, SimEvent, SimTime, ZkEvent, ZkRole};
use std::collections::{BTreeMap, BTreeSet};

/// What ZooKeeper documents about a server that finds a log but no snapshot.
pub const DOCUMENTED: &str = "ZooKeeper 3.8 fsyncs a snapshot only after a SNAP sync: a power loss can take every snapshot (snapshot.0 of a fresh data directory, the periodic fuzzy ones) while the fsynced log survives, and FileTxnSnapLog.restore then refuses to start (\"No snapshot found, but there are log entries. Something is broken!\", ZOOKEEPER-2325) until an operator repairs the data directory";

/// A server whose last start by some time was refused by its storage.
pub struct Refused<'h> {
    /// Its node.
    pub node: &'h str,
    /// The `RecoveryRefused` event.
    pub refusal: usize,
    /// The power losses on its node before the refusal (what took its snapshots).
    pub power_losses: Vec<usize>,
}

/// The servers down at some time because their last start was refused, and the ensemble
/// they belong to.
pub struct Refusals<'h> {
    /// Refused servers, by node name.
    pub refused: Vec<Refused<'h>>,
    /// Servers (not refused) whose whole disk was lost and that have not synced with an
    /// established leader since: running, but without the history they had acknowledged
    /// (a voter's amnesia, outside ZooKeeper's fault model), with the disk-loss event.
    pub amnesiac: Vec<(&'h str, usize)>,
    /// Every ZooKeeper server the history shows (nodes that recorded server-side events).
    pub servers: usize,
}

/// The servers whose last start at or before `until` was refused.
pub fn find(history: &History, until: SimTime) -> Refusals<'_> {
    let mut servers: BTreeSet<&str> = BTreeSet::new();
    let mut last: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    let mut disk_lost: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, r) in history.events.iter().enumerate() {
        let node = r.node.as_str();
        if r.at <= until {
            match &r.event {
                Event::Sim(SimEvent::NodeCrashed {
                    disk_lost: true, ..
                }) => {
                    disk_lost.insert(node, i);
                }
                Event::Zk(
                    ZkEvent::LeaderEstablished { .. }
                    | ZkEvent::RoleChanged {
                        role: ZkRole::Following,
                        epoch: 1..,
                    },
                ) => {
                    disk_lost.remove(node);
                }
                _ => {}
            }
        }
        let Event::Zk(e) = &r.event else { continue };
        if !e.is_client_side() {
            servers.insert(node);
        }
        if r.at > until {
            continue;
        }
        match e {
            ZkEvent::RecoveryRefused { .. } => {
                last.insert(r.node.as_str(), Some(i));
            }
            ZkEvent::Recovered { .. } => {
                last.insert(r.node.as_str(), None);
            }
            _ => {}
        }
    }
    let refused = last
        .into_iter()
        .filter_map(|(node, refusal)| {
            let refusal = refusal?;
            let power_losses = history.events[..refusal]
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.node == node
                        && matches!(
                            r.event,
                            Event::Sim(SimEvent::NodeCrashed {
                                page_cache_kept: false,
                                ..
                            })
                        )
                })
                .map(|(i, _)| i)
                .collect();
            Some(Refused {
                node,
                refusal,
                power_losses,
            })
        })
        .collect::<Vec<Refused<'_>>>();
    let amnesiac = disk_lost
        .into_iter()
        .filter(|(node, _)| servers.contains(node) && !refused.iter().any(|r| r.node == *node))
        .collect();
    Refusals {
        refused,
        amnesiac,
        servers: servers.len(),
    }
}

impl Refusals<'_> {
    /// A majority of the servers.
    pub fn quorum(&self) -> usize {
        self.servers / 2 + 1
    }

    /// Servers running with the history they acknowledged: neither refused nor amnesiac.
    pub fn intact(&self) -> usize {
        self.servers - self.refused.len() - self.amnesiac.len()
    }

    /// True when servers refused to start, and they and the amnesiac servers leave fewer
    /// than a quorum of intact ones.
    pub fn leave_no_quorum(&self) -> bool {
        !self.refused.is_empty() && self.intact() < self.quorum()
    }

    /// `v` as an excuse when the refusals leave no quorum (no leader can be elected, so
    /// nothing that needs ZooKeeper can happen), naming the servers, their power losses
    /// and refusals; `None` otherwise, and `v` stands.
    pub fn excuse(&self, v: &Violation) -> Option<Excuse> {
        if !self.leave_no_quorum() {
            return None;
        }
        let names: Vec<&str> = self.refused.iter().map(|r| r.node).collect();
        let amnesia = if self.amnesiac.is_empty() {
            String::new()
        } else {
            let lost: Vec<&str> = self.amnesiac.iter().map(|(n, _)| *n).collect();
            format!(
                " and {} lost its whole disk and had not synced with a leader since",
                lost.join(", ")
            )
        };
        Some(Excuse {
            rule: v.checker.clone(),
            message: format!(
                "{} — ZooKeeper servers {} refused to start after power losses took every snapshot while the log survived{amnesia}, leaving {} of {} servers with their history, below a quorum of {}",
                v.message,
                names.join(", "),
                self.intact(),
                self.servers,
                self.quorum()
            ),
            documented: if self.amnesiac.is_empty() {
                DOCUMENTED.to_string()
            } else {
                format!("{DOCUMENTED}; {}", super::zk_amnesia::DOCUMENTED)
            },
            ops: v.ops.clone(),
            events: self
                .refused
                .iter()
                .flat_map(|r| r.power_losses.iter().copied().chain([r.refusal]))
                .chain(self.amnesiac.iter().map(|(_, i)| *i))
                .collect(),
        })
    }
}
