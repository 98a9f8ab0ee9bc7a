//! The one message type every simulated node speaks on the network, and the glue between
//! the simulator's trace and the history: the simulator records its own events
//! ([`kzsim_sim::SimEvent`]), the history keeps its copy ([`crate::history::SimEvent`]),
//! and the conversion between the two lives here, where the world is typed.

use crate::history::{self, Event, EventRecord};
use crate::zk::wire::{ZkMessage, ZkWire};
use kzsim_sim::TraceRecord;

/// A message between simulated nodes: ZooKeeper traffic (server-to-server and client
/// sessions) or Kafka traffic.
#[derive(Clone, Debug)]
pub enum NetMsg {
    /// ZooKeeper election, ZAB and client-session traffic.
    Zk(ZkWire),
    /// Kafka traffic: broker-to-broker and client-to-broker.
    Kafka(crate::kafka::net::KafkaWire),
}

/// ZooKeeper's hosts are generic over the message type; this is where they meet Kafka's.
impl ZkMessage for NetMsg {
    fn from_zk(wire: ZkWire) -> Self {
        NetMsg::Zk(wire)
    }
    fn into_zk(self) -> Option<ZkWire> {
        match self {
            NetMsg::Zk(wire) => Some(wire),
            NetMsg::Kafka(_) => None,
        }
    }
}

/// The simulated world kzsim runs: its trace holds [`crate::history::Event`]s.
pub type World = kzsim_sim::World<Event, NetMsg>;

/// What a node receives when it starts.
pub type NodeCtx = kzsim_sim::NodeCtx<Event, NetMsg>;

/// The simulator's events enter the history as its own copy, variant for variant (the two
/// serialize identically, so the trace's hash is unchanged by the conversion).
impl From<kzsim_sim::SimEvent> for Event {
    fn from(e: kzsim_sim::SimEvent) -> Self {
        use history::SimEvent as H;
        use kzsim_sim::SimEvent as S;
        Event::Sim(match e {
            S::NodeStarted { incarnation } => H::NodeStarted { incarnation },
            S::NodeCrashed {
                torn,
                disk_lost,
                page_cache_kept,
            } => H::NodeCrashed {
                torn,
                disk_lost,
                page_cache_kept,
            },
            S::NodePaused => H::NodePaused,
            S::NodeResumed => H::NodeResumed,
            S::Partitioned { groups } => H::Partitioned { groups },
            S::LinkCut { from, to } => H::LinkCut { from, to },
            S::Healed => H::Healed,
            S::NetChanged {
                loss_permille,
                latency_min_us,
                latency_max_us,
                backlog_until_ns,
            } => H::NetChanged {
                loss_permille,
                latency_min_us,
                latency_max_us,
                backlog_until_ns,
            },
            S::ClockChanged {
                offset_ns,
                drift_ppm,
            } => H::ClockChanged {
                offset_ns,
                drift_ppm,
            },
            S::Note { text } => H::Note { text },
            S::DiskChanged {
                fsync_min_us,
                fsync_max_us,
                restored,
            } => H::DiskChanged {
                fsync_min_us,
                fsync_max_us,
                restored,
            },
        })
    }
}

/// One trace record as the history keeps it.
pub fn event_record(r: TraceRecord<Event>) -> EventRecord {
    EventRecord {
        at: r.at,
        node: r.node.to_string(),
        event: r.event,
    }
}
