//! File formats pinctl reads and writes that are not its own.

pub mod properties;
