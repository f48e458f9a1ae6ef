//! MSK Connect: the custom plugin, the worker configuration and the S3 sink connector.

pub mod connector;
pub mod custom_plugin;
pub mod lock;
pub mod worker_configuration;

pub use connector::{Capacity, ConnectorProps};
pub use custom_plugin::{parse_manifest, CustomPluginProps, Manifest};
pub use worker_configuration::WorkerConfigurationProps;

use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, ProviderError};
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

/// What a resumed creation adopts: the plugin, worker configuration or connector named `name`
/// that a killed run made (`arn`, found by listing with the name as prefix; MSK Connect's
/// names are unique per account and region, so CreateX of it again would be a
/// ConflictException), when its tags say it is this resource's
/// ([`crate::providers::owned_by`]); another's is [`ProviderError::NotOwned`].
pub(super) async fn adopt(
    clients: &Clients,
    cx: &Cx,
    what: &str,
    name: &str,
    arn: Option<String>,
) -> Result<Option<String>, ProviderError> {
    let Some(arn) = arn else {
        return Ok(None);
    };
    let out = clients
        .kafkaconnect()
        .await
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| api_error("ListTagsForResource", e))?;
    let tags = out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if crate::providers::owned_by(&tags, cx) {
        Ok(Some(arn))
    } else {
        Err(crate::providers::not_ours(what, name))
    }
}
