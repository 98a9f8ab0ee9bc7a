//! Checkers over recorded histories (being written).
