//! # kzsim
//!
//! A deterministic simulator and test harness for a ZooKeeper ensemble and Kafka brokers in
//! ZooKeeper mode, on madsim's simulated network and clock (via the `kzsim-sim` crate).
//!
//! - [`zk`]: ZooKeeper: fast leader election, ZAB, sessions, data tree, txn log and
//!   snapshots, the server host and the client library.
//! - [`kafka`]: brokers, controller, partition logs, producers, consumers, groups.
//! - [`history`]: recorded client operations and protocol events (JSON, versioned).
//! - [`check`]: checkers over histories: linearizability, ZooKeeper consistency, ZAB and
//!   election invariants, Kafka durability.
//! - [`scenario`], [`campaign`], [`report`]: fault stories, random campaigns, bug reports.
//!
//! Protocol participants are sans-IO state machines; hosts are thin. Checkers see only
//! recorded histories.

#[cfg(not(madsim))]
compile_error!(
    "kzsim must be built in madsim simulation mode (--cfg madsim). The repository's \
     .cargo/config.toml sets it, but a RUSTFLAGS environment variable (even an empty one) \
     silently replaces that setting: unset RUSTFLAGS, or include `--cfg madsim` in it."
);

pub mod bench;
pub mod bugs;
pub mod campaign;
pub mod check;
pub mod cluster;
pub mod history;
pub mod kafka;
pub mod net;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod teach;
pub mod zk;

pub use kzsim_sim as sim;
