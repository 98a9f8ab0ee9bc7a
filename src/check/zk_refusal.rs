//! ZooKeeper servers that refused to start: a power loss took every snapshot while the
//! fsynced log survived, and `FileTxnSnapLog.restore` will not load a log without a
//! snapshot (ZOOKEEPER-2325). Such a server stays down until an operator repairs its data
//! directory, which is the real system's behaviour, so an outage these refusals cause is
//! outside the fault model, and only when they leave fewer than a quorum of servers.

use super::{Excuse, Violation};
use crate::history::{Event, History, SimEvent, SimTime, ZkEvent};
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
    /// Every ZooKeeper server the history shows (nodes that recorded server-side events).
    pub servers: usize,
}

/// The servers whose last start at or before `until` was refused.
pub fn find(history: &History, until: SimTime) -> Refusals<'_> {
    let mut servers: BTreeSet<&str> = BTreeSet::new();
    let mut last: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    for (i, r) in history.events.iter().enumerate() {
        let Event::Zk(e) = &r.event else { continue };
        if !e.is_client_side() {
            servers.insert(r.node.as_str());
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
        .collect();
    Refusals {
        refused,
        servers: servers.len(),
    }
}

impl Refusals<'_> {
    /// A majority of the servers.
    pub fn quorum(&self) -> usize {
        self.servers / 2 + 1
    }

    /// True when the refused servers leave fewer than a quorum.
    pub fn leave_no_quorum(&self) -> bool {
        !self.refused.is_empty() && self.servers - self.refused.len() < self.quorum()
    }

    /// `v` as an excuse when the refusals leave no quorum (no leader can be elected, so
    /// nothing that needs ZooKeeper can happen), naming the servers, their power losses
    /// and refusals; `None` otherwise, and `v` stands.
    pub fn excuse(&self, v: &Violation) -> Option<Excuse> {
        if !self.leave_no_quorum() {
            return None;
        }
        let names: Vec<&str> = self.refused.iter().map(|r| r.node).collect();
        Some(Excuse {
            rule: v.checker.clone(),
            message: format!(
                "{} — ZooKeeper servers {} refused to start after power losses took every snapshot while the log survived, leaving {} of {} servers, below a quorum of {}",
                v.message,
                names.join(", "),
                self.servers - self.refused.len(),
                self.servers,
                self.quorum()
            ),
            documented: DOCUMENTED.to_string(),
            ops: v.ops.clone(),
            events: self
                .refused
                .iter()
                .flat_map(|r| r.power_losses.iter().copied().chain([r.refusal]))
                .collect(),
        })
    }
}
