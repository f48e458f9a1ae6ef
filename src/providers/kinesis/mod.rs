//! Kinesis data streams.

pub mod stream;

pub use stream::{StreamMode, StreamProps};

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    stream::register(r);
}
