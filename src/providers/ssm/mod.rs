//! SSM: the bundled workers' deployment onto the EC2 client.

pub mod deployment;

pub use deployment::{prepare_deployment, DeploymentProps};

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    deployment::register(r);
}
