//! Bug reports (being written).
