//! EMR Serverless: the application the batch job runs on as a Spark job (issue 18), when the
//! stack's `dag_runner` is `emr`.

pub mod application;

pub use application::{ApplicationProps, Capacity, Network};

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    application::register(r);
}
