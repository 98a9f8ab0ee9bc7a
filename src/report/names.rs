//! Display names shared by the renderers: which node is ZooKeeper server `sid`, which is
//! Kafka broker `id`, and small formatting helpers for times, zxids and sessions.

use crate::history::{Event, History};
use kzsim_sim::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// Node names by protocol id, learned from the history itself.
///
/// Events carry servers and brokers by number (`sid`, broker id) while records carry node
/// names (`zk2`, `kafka1`). A node that recorded ZooKeeper events and whose name ends in
/// digits is taken to be that sid (the harness names servers `<prefix><myid>`); likewise
/// for Kafka brokers. Numbers without such a node are shown as `sid7` / `broker7`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    zk: BTreeMap<u64, String>,
    kafka: BTreeMap<u64, String>,
    /// Every node that recorded a ZooKeeper event, sorted.
    pub zk_nodes: BTreeSet<String>,
    /// Every node that recorded a Kafka event, sorted.
    pub kafka_nodes: BTreeSet<String>,
}

impl Names {
    pub fn from_history(h: &History) -> Names {
        let mut n = Names::default();
        for r in &h.events {
            match &r.event {
                // Clients record their own watch and session events: not servers.
                Event::Zk(e) if e.is_client_side() => {}
                Event::Zk(_) => {
                    n.zk_nodes.insert(r.node.clone());
                }
                Event::Kafka(_) => {
                    n.kafka_nodes.insert(r.node.clone());
                }
                Event::Sim(_) => {}
            }
        }
        for node in &n.zk_nodes {
            if let Some(id) = trailing_number(node) {
                n.zk.entry(id).or_insert_with(|| node.clone());
            }
        }
        for node in &n.kafka_nodes {
            if let Some(id) = trailing_number(node) {
                n.kafka.entry(id).or_insert_with(|| node.clone());
            }
        }
        n
    }

    /// The node name of ZooKeeper server `sid`.
    pub fn sid(&self, sid: u64) -> String {
        self.zk
            .get(&sid)
            .cloned()
            .unwrap_or_else(|| format!("sid{sid}"))
    }

    /// The node name of Kafka broker `id` (negative: no broker, shown as `none`).
    pub fn broker(&self, id: i64) -> String {
        if id < 0 {
            return "none".to_string();
        }
        self.kafka
            .get(&(id as u64))
            .cloned()
            .unwrap_or_else(|| format!("broker{id}"))
    }
}

pub(crate) fn trailing_number(name: &str) -> Option<u64> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    name[name.len() - digits..].parse().ok()
}

/// `212ms` below a second, `3.100s` from a second on.
pub(crate) fn fmt_dur_ns(ns: u64) -> String {
    if ns < 1_000_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
    }
}

/// Duration between two times, formatted.
pub(crate) fn fmt_span(from: SimTime, to: SimTime) -> String {
    fmt_dur_ns(to.0.saturating_sub(from.0))
}

/// A zxid as zkCli prints it.
pub(crate) fn fmt_zxid(z: i64) -> String {
    crate::zk::ids::Zxid(z).to_string()
}

/// A session id in hex, as ZooKeeper logs print it.
pub(crate) fn fmt_session(s: i64) -> String {
    format!("0x{:x}", s as u64)
}

/// The end of the recorded run: the latest time any op or event mentions (at least 1ms, so
/// that scales never divide by zero).
pub(crate) fn run_end(h: &History) -> SimTime {
    let mut end = SimTime::from_millis(1);
    for op in &h.ops {
        end = end.max(op.invoke).max(op.complete.unwrap_or(op.invoke));
    }
    for r in &h.events {
        end = end.max(r.at);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_numbers_and_durations() {
        assert_eq!(trailing_number("zk12"), Some(12));
        assert_eq!(trailing_number("world"), None);
        assert_eq!(fmt_dur_ns(212_000_000), "212ms");
        assert_eq!(fmt_dur_ns(3_100_000_000), "3.100s");
        assert_eq!(fmt_session(0x1_0000_0001), "0x100000001");
    }
}
