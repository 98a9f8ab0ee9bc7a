//! ZooKeeper 3.8, simulated: every participant is a sans-IO state machine, hosted by
//! [`server`] on the simulated network and disk.

pub mod cli_format;
pub mod client;
pub mod config;
pub mod datatree;
pub mod election_send;
pub mod fle;
pub mod ids;
pub mod recipes;
pub mod request;
pub mod server;
pub mod session;
pub mod storage;
pub mod sync_plan;
pub mod txn;
pub mod types;
pub mod wire;
pub mod zab;

pub use ids::{Epoch, SessionId, Sid, Zxid};
