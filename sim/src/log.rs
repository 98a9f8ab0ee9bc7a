//! `tracing` output stamped with simulated time and node name.
//!
//! Off by default; `RUST_LOG=debug` (or any filter) turns it on. Lines look like
//! `t=12.345s  INFO node{id=2 name="zk1"}: elected leader epoch=3`: madsim wraps every
//! task poll in a `node` span carrying the node's name.

use std::fmt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Prints simulated time as `t=12.345678s`, or `t=-` outside a simulation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimTimer;

impl FormatTime for SimTimer {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match madsim::time::TimeHandle::try_current() {
            Some(h) => {
                let e = h.elapsed();
                write!(w, "t={}.{:06}s", e.as_secs(), e.subsec_micros())
            }
            None => write!(w, "t=-"),
        }
    }
}

/// Installs the subscriber if `RUST_LOG` is set. Safe to call more than once.
pub fn init_from_env() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_timer(SimTimer)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
