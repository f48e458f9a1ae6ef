//! EC2: the default network, key pair, security group and the client instance. This module
//! holds what the kinds share: tags and filters.

pub mod default_network;
pub mod instance;
pub mod key_pair;
pub mod security_group;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

pub use default_network::DefaultNetworkProps;
pub use instance::InstanceProps;
pub use key_pair::KeyPairProps;
pub use security_group::{IngressRule, SecurityGroupProps};

use crate::engine::provider::Cx;

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    default_network::register(r);
    key_pair::register(r);
    security_group::register(r);
    instance::register(r);
}

pub(super) fn tag_spec(
    cx: &Cx,
    kind: ResourceType,
    extra: &BTreeMap<String, String>,
) -> TagSpecification {
    let mut tags = cx.tags();
    tags.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

pub(super) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}
