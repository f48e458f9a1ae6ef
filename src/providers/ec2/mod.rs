//! EC2: the stack's own network (VPC, subnets, internet and NAT gateways, route tables, a
//! gateway VPC endpoint), the default network for small examples, key pair, security group and
//! the client instance. This module holds what the kinds share: tags, filters, and how a delete
//! refused while something still uses the resource is reported.

pub mod default_network;
pub mod instance;
pub mod internet_gateway;
pub mod key_pair;
pub mod nat_gateway;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;
pub mod vpc_endpoint;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use default_network::DefaultNetworkProps;
pub use instance::InstanceProps;
pub use internet_gateway::InternetGatewayProps;
pub use key_pair::KeyPairProps;
pub use nat_gateway::NatGatewayProps;
pub use route_table::{Route, RouteTableProps};
pub use security_group::{IngressRule, SecurityGroupProps};
pub use subnet::SubnetProps;
pub use vpc::VpcProps;
pub use vpc_endpoint::VpcEndpointProps;

use crate::clients::aws::{api_error, code_of, HasStatus};
use crate::engine::provider::{Cx, Found, ProviderError};

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    default_network::register(r);
    vpc::register(r);
    subnet::register(r);
    internet_gateway::register(r);
    nat_gateway::register(r);
    route_table::register(r);
    vpc_endpoint::register(r);
    key_pair::register(r);
    security_group::register(r);
    instance::register(r);
}

/// The tags a stack gave a resource, as read back: every tag but pinctl's own (`pinctl:*`), so
/// a tag added by hand shows as drift and an update removes it.
pub(super) fn user_tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tag_map(tags)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("pinctl:"))
        .collect()
}

/// Makes a resource's tags pinctl's (`cx.tags()`) plus `want`: creates or overwrites those,
/// and deletes the tags of `have` (read back with [`user_tags`]) that are not wanted.
pub(super) async fn sync_tags(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    cx: &Cx,
    have: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let mut tags = cx.tags();
    tags.extend(want.clone());
    ec2.create_tags()
        .resources(id)
        .set_tags(Some(
            tags.into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| api_error("CreateTags", e))?;
    let gone: Vec<Tag> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !gone.is_empty() {
        ec2.delete_tags()
            .resources(id)
            .set_tags(Some(gone))
            .send()
            .await
            .map_err(|e| api_error("DeleteTags", e))?;
    }
    Ok(())
}

/// Filters matching the resources tagged as `cx.resource` of this stack and env: how a resumed
/// creation finds what an interrupted one made (for the calls without an idempotency token).
pub(super) fn owned_filters(cx: &Cx) -> Vec<Filter> {
    cx.tags()
        .iter()
        .map(|(k, v)| filter(&format!("tag:{k}"), &[v]))
        .collect()
}

/// The lookups an EC2 kind's `find` makes: by the stack's own tags, and, when the stack gives
/// the resource a `Name` tag, by that tag — the only name a resource made in the console has
/// (the VPC wizard and "Launch instance" both ask for it). Each with the name it matches by.
pub(super) fn lookups(
    cx: &Cx,
    tags: &std::collections::BTreeMap<String, String>,
) -> Vec<(Vec<Filter>, Option<String>)> {
    let mut out = vec![(owned_filters(cx), None)];
    if let Some(name) = tags.get("Name") {
        out.push((vec![filter("tag:Name", &[name])], Some(name.clone())));
    }
    out
}

/// An EC2 kind's `find`: the ids `describe` lists for each of [`lookups`]' filter sets, each
/// once, as found by the stack's tags or by the `Name` tag.
pub(super) async fn find_by<F, Fut>(
    cx: &Cx,
    tags: &std::collections::BTreeMap<String, String>,
    describe: F,
) -> Result<Vec<Found>, ProviderError>
where
    F: Fn(Vec<Filter>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, ProviderError>>,
{
    let mut found: Vec<Found> = Vec::new();
    for (filters, named) in lookups(cx, tags) {
        for id in describe(filters).await? {
            if found.iter().any(|f| f.physical_id == id) {
                continue;
            }
            found.push(match &named {
                Some(n) => Found {
                    physical_id: id,
                    by: crate::engine::provider::FoundBy::NameTag(n.clone()),
                },
                None => Found::tagged(id),
            });
        }
    }
    Ok(found)
}

/// A delete's error: EC2's `DependencyViolation` (something in the VPC, subnet, gateway or
/// table still uses it — an ENI, a NAT gateway, a route; EC2 API Reference, "Error codes") is
/// [`ProviderError::InUse`], which the engine retries within the operation's timeout; any other
/// is the API error of `operation`.
pub(super) fn delete_error<E, R>(operation: &str, what: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    if code_of(&e) == Some("DependencyViolation") {
        let reason = match &e {
            SdkError::ServiceError(s) => s.err().message().unwrap_or("DependencyViolation"),
            _ => "DependencyViolation",
        }
        .to_string();
        return ProviderError::InUse {
            what: what.to_string(),
            reason: format!("{operation}: DependencyViolation: {reason}"),
        };
    }
    api_error(operation, e)
}

/// Names what keeps `id` in use when EC2 refused its delete with `DependencyViolation`: the
/// network interfaces DescribeNetworkInterfaces lists under `filter` (`group-id`, `subnet-id`,
/// `vpc-id`), each as `eni-… (interface type, requester, status: description)`, appended to an
/// [`ProviderError::InUse`]'s reason. EC2's own message names no interface ("has a dependent
/// object"), and the ones MSK, MSK Connect and MWAA leave behind are what a `down` that runs out
/// of time must name (EC2 API Reference, DescribeNetworkInterfaces: `requester-id`,
/// `interface-type`). Any other error, or a failed read, is returned as it was.
pub(super) async fn name_holders(
    ec2: &aws_sdk_ec2::Client,
    e: ProviderError,
    filter_name: &str,
    id: &str,
) -> ProviderError {
    let ProviderError::InUse { what, reason } = e else {
        return e;
    };
    let Ok(out) = ec2
        .describe_network_interfaces()
        .filters(filter(filter_name, &[id]))
        .send()
        .await
    else {
        return ProviderError::InUse { what, reason };
    };
    let held: Vec<String> = out
        .network_interfaces()
        .iter()
        .map(|n| {
            format!(
                "{} ({}, requester {}, {}: {})",
                n.network_interface_id().unwrap_or("?"),
                n.interface_type().map_or("interface", |t| t.as_str()),
                n.requester_id().unwrap_or("the account"),
                n.status().map_or("?", |s| s.as_str()),
                n.description().unwrap_or("")
            )
        })
        .collect();
    if held.is_empty() {
        return ProviderError::InUse { what, reason };
    }
    ProviderError::InUse {
        what,
        reason: format!("{reason}; held by {}", held.join(", ")),
    }
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
