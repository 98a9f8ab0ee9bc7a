//! Kafka 2.x in ZooKeeper mode, as sans-IO state machines.
//!
//! - [`config`]: the `server.properties` settings kzsim models.
//! - [`zkops`]: the ZooKeeper requests Kafka issues, as data (the host runs them).
//! - [`znodes`]: znode paths and JSON shapes.
//! - [`wire`]: Kafka requests and responses with Kafka's error names.
//! - [`partition_log`]: one replica's log: LEO, HW, flush, leader-epoch cache, truncation.
//! - [`replica`]: one broker's view of one partition (leader and follower sides).
//! - [`broker_core`]: one broker's decisions: registration, the controller, the
//!   broker-side checks, replicas, ISR writes and their propagation.
//! - [`net`], [`broker`], [`client`], [`group`], [`cluster`]: the hosts that run these
//!   state machines on the simulator (brokers, producers, consumer groups) and the
//!   cluster handle tests script.
//! - [`control_channel`]: the controller's request queues to brokers, re-sent until answered.
//! - [`controller`]: controller election, fencing, elections and request fan-out, and the
//!   broker-side checks on controller requests.

pub mod broker;
pub mod broker_core;
pub mod client;
pub mod cluster;
pub mod config;
pub mod control_channel;
pub mod controller;
pub mod group;
pub mod log_dir;
pub mod net;
pub mod partition_log;
pub mod replica;
pub mod wire;
pub mod zkops;
pub mod znodes;
