//! The `kzsim` command line.

use clap::Parser;

/// Deterministic simulator and test harness for ZooKeeper and Kafka under failure.
#[derive(Parser, Debug)]
#[command(name = "kzsim", version, about)]
struct Cli {}

fn main() {
    kzsim::sim::log::init_from_env();
    let _cli = Cli::parse();
}
