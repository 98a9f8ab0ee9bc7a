//! Fault campaigns (being written).
