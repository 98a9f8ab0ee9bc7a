//! Teaching tools: show, by running the simulator, what ZooKeeper's rules mean.
//!
//! - [`quorum_table`]: for every ensemble size and number of crashed servers, does a write
//!   still succeed? The table is measured from runs, never computed from a formula, so it
//!   shows why 4 servers tolerate no more failures than 3 (`kzsim quorum`).
//! - [`shell`]: a zkCli.sh-style shell on a simulated ensemble, with simulator commands
//!   (crash, partition, pause, advance) beside the ZooKeeper ones (`kzsim shell`).

pub mod quorum_table;
pub mod shell;

pub use quorum_table::{
    quorum_table, run_quorum_cli, QuorumArgs, QuorumRow, QuorumSize, QuorumTable,
};
pub use shell::{run_script, run_script_with, run_shell_cli, Session, ShellArgs, ShellConfig};
