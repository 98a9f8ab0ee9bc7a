//! The one message type every simulated node speaks on the network.

use crate::zk::wire::ZkWire;

/// A message between simulated nodes: ZooKeeper traffic (server-to-server and client
/// sessions) or Kafka traffic.
#[derive(Clone, Debug)]
pub enum NetMsg {
    /// ZooKeeper election, ZAB and client-session traffic.
    Zk(ZkWire),
    /// Kafka traffic: broker-to-broker and client-to-broker.
    Kafka(crate::kafka::net::KafkaWire),
}

/// The simulated world kzsim runs: its trace holds [`crate::history::Event`]s.
pub type World = kzsim_sim::World<crate::history::Event, NetMsg>;

/// What a node receives when it starts.
pub type NodeCtx = kzsim_sim::NodeCtx<crate::history::Event, NetMsg>;
