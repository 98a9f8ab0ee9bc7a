//! Fault campaigns: many seeds, each with a random fault schedule drawn over the cluster's
//! shape, judged by the checkers, and shrunk to a short schedule when something fails.
//!
//! - [`schedule`]: random fault schedules as proptest strategies (shrinking toward fewer
//!   and earlier faults) and a deterministic draw from a seed for `kzsim campaign --random`.
//! - [`sweep`]: runs seeds in parallel (sharded across machines if asked), shrinks each
//!   failure with the same seed.
//! - [`coverage`]: the abstract protocol states a run reached, read from its events.
//! - [`guided`]: `kzsim campaign --guided`: a corpus of schedules that reached new
//!   coverage, mutated into new candidates batch by batch.
//! - [`explore`]: seeds to the first violation of each bug flag under the generic
//!   campaigns (`kzsim bench explore`).
//! - [`record`]: a campaign summary as a self-describing record (`kzsim campaign --json`),
//!   and the merge of shards' records into one (`kzsim merge`).

pub mod coverage;
pub mod explore;
pub mod guided;
pub mod record;
pub mod schedule;
pub mod sweep;
