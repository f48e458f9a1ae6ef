//! MSK Connect: the custom plugin, the worker configuration and the S3 sink connector.

pub mod connector;
pub mod custom_plugin;
pub mod lock;
pub mod worker_configuration;

pub use connector::{Capacity, ConnectorProps};
pub use custom_plugin::{parse_manifest, CustomPluginProps, Manifest};
pub use worker_configuration::WorkerConfigurationProps;

use crate::engine::provider::ProviderError;
use crate::format::properties::Properties;
use crate::providers::support::Absent;

/// What MSK Connect answers for a plugin, worker configuration or connector that is not there.
const NOT_FOUND: Absent = Absent::CodesOr404(&["NotFoundException"]);

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    custom_plugin::register(r);
    worker_configuration::register(r);
    connector::register(r);
}

/// Parses properties text the service holds or the stack gives, naming `what` in the error.
pub(super) fn properties(text: &str, what: &str) -> Result<Properties, ProviderError> {
    crate::format::properties::parse(text, what).map_err(|e| ProviderError::Invalid(e.to_string()))
}
