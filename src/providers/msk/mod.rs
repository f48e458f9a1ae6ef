//! MSK: the provisioned cluster (with the configuration it runs) and its topics.

pub mod cluster;
pub mod topic;

pub use cluster::ClusterProps;
pub use topic::TopicProps;

use crate::providers::support::Absent;

/// The code MSK answers for a cluster, configuration or topic that is not there.
const NOT_FOUND_CODE: &str = "NotFoundException";

/// A cluster or configuration that is not there.
const NOT_FOUND: Absent = Absent::CodesOr404(&[NOT_FOUND_CODE]);

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    cluster::register(r);
    topic::register(r);
}
