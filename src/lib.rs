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
//!
//! ## Layers
//!
//! Dependencies point one way. Each layer below may name the layers listed before it and
//! nothing after; `tests/dependencies.rs` reads the `use` lines and `crate::` paths of every
//! file under `src/` and fails on an arrow against this list.
//!
//! 1. The simulator, the `kzsim-sim` crate ([`sim`]): network, clocks, disks, the trace. It
//!    knows no protocol: it is a crate of its own and cannot name this one.
//! 2. [`history`]: the record of a run. It owns every event type it records, the simulator's
//!    node and fault events included ([`history::SimEvent`], a copy with the same format);
//!    from the simulator it names only the time type, re-exported as [`history::SimTime`].
//! 3. [`check`]: the checkers. They name only [`history`]: they judge a recorded run, never a
//!    live one, and need nothing from the protocols or the simulator to do it.
//! 4. [`zk`], then [`kafka`]: the protocols. They record into [`history`] and run on the
//!    simulator; Kafka in ZooKeeper mode is a ZooKeeper client, so [`kafka`] may name [`zk`],
//!    never the reverse. They know neither checkers nor scenarios nor the network's message
//!    type: ZooKeeper's hosts are generic over [`zk::wire::ZkMessage`], a message type that
//!    can carry ZooKeeper's traffic.
//! 5. [`net`], then [`cluster`]: the wiring. [`net`] holds the one message type every node
//!    speaks (implementing [`zk::wire::ZkMessage`]) and turns the simulator's events into
//!    the history's; [`cluster`] starts simulated ensembles.
//! 6. [`scenario`] (fault stories), then [`bugs`] (the historical bug flags).
//! 7. [`runner`]; then what is built on runs: [`report`], [`campaign`], [`teach`],
//!    [`bench`](mod@bench).
//!
//! Unit tests (`#[cfg(test)]`) may also name [`cluster`] and [`check`]: they are not part of
//! the library, so they cannot close a cycle in it. A few arrows still break these rules and
//! are listed, each with the move that removes it, in `tests/dependencies.rs` (`EXCEPTIONS`):
//! the Kafka hosts still speak [`net::NetMsg`], and the Kafka checkers parse Kafka's znode
//! formats.

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
