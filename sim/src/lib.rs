//! # kzsim-sim: the simulated world
//!
//! Everything kzsim runs on, and nothing about ZooKeeper or Kafka:
//!
//! - [`world`]: one simulated cluster per seed: named nodes started from an init closure,
//!   `crash`/`restart`/`pause`/`resume`, fault injection, and [`run_seed`], which runs one
//!   seed on its own madsim runtime and OS thread and returns the trace.
//! - [`net`]: a connection-oriented transport with per-connection FIFO delivery and an
//!   explicit connection-closed signal, plus partitions, one-way cuts, loss and latency.
//! - [`disk`]: a per-node disk the harness owns, which survives restarts and loses its
//!   unsynced tail on a crash (optionally tearing the last record).
//! - [`clock`]: per-node clock offset and drift, for the protocol layer's timers.
//! - [`trace`]: the `(simulated time, node, event)` recorder with a stable 64-bit hash.
//! - [`log`]: `tracing` output stamped with simulated time and node, enabled by `RUST_LOG`.
//!
//! The crate only compiles in madsim's simulation mode (`--cfg madsim`), which the
//! repository's `.cargo/config.toml` sets.

#[cfg(not(madsim))]
compile_error!(
    "kzsim-sim must be built in madsim simulation mode (--cfg madsim). The repository's \
     .cargo/config.toml sets it, but a RUSTFLAGS environment variable (even an empty one) \
     silently replaces that setting: unset RUSTFLAGS, or include `--cfg madsim` in it."
);

pub mod clock;
pub mod disk;
pub mod log;
pub mod net;
pub mod time;
pub mod trace;
pub mod world;

pub use clock::NodeClock;
pub use disk::{DiskConfig, SimDisk};
pub use net::{ConnId, Endpoint, NetConfig, NetEvent, Packet};
pub use time::SimTime;
pub use trace::{SimEvent, Trace, TraceEvent, TraceRecord};
pub use world::{run_seed, NodeCtx, NodeSpec, RunConfig, RunOutput, World};
