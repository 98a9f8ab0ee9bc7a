//! Fault campaigns: many seeds, each with a random fault schedule drawn over the cluster's
//! shape, judged by the checkers, and shrunk to a short schedule when something fails.
//!
//! - [`schedule`]: random fault schedules as proptest strategies (shrinking toward fewer
//!   and earlier faults) and a deterministic draw from a seed for `kzsim campaign --random`.
//! - [`sweep`]: runs seeds in parallel (sharded across machines if asked), shrinks each
//!   failure with the same seed.

pub mod schedule;
pub mod sweep;
