//! MWAA: the Airflow environment that runs the daily batch DAG.

pub mod environment;

pub use environment::{EnvironmentProps, Network};

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    environment::register(r);
}
