//! Elastic Load Balancing (v2): the network load balancer that API Gateway's VPC link reaches
//! the REST proxy through (API Gateway Developer Guide, "Set up a Network Load Balancer for API
//! Gateway private integrations":
//! https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-nlb-for-vpclink-using-console.html),
//! its target group and its listener. This module holds what the kinds share: tags (ELBv2 tags
//! every resource by ARN: AddTags, RemoveTags, DescribeTags).

pub mod listener;
pub mod load_balancer;
pub mod target_group;

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::Tag;

pub use listener::ListenerProps;
pub use load_balancer::LoadBalancerProps;
pub use target_group::TargetGroupProps;

use crate::clients::aws::api_error;
use crate::engine::provider::{Cx, ProviderError};

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    load_balancer::register(r);
    target_group::register(r);
    listener::register(r);
}

/// `cx.tags()` plus `extra`, as ELBv2 tags.
fn tags(cx: &Cx, extra: &BTreeMap<String, String>) -> Vec<Tag> {
    let mut all = cx.tags();
    all.extend(extra.clone());
    all.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Every tag of the resource `arn` (DescribeTags), pinctl's own included.
async fn tags_of(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .map_err(|e| api_error("DescribeTags", e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect())
}

/// The tags a stack gave a resource: every tag but pinctl's own (`pinctl:*`), so a tag added
/// by hand is drift.
fn user_tags(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(k, _)| !k.starts_with("pinctl:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Makes the resource's tags pinctl's plus `want`, removing the user tags not wanted.
async fn sync_tags(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    cx: &Cx,
    want: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let have = user_tags(&tags_of(elb, arn).await?);
    elb.add_tags()
        .resource_arns(arn)
        .set_tags(Some(tags(cx, want)))
        .send()
        .await
        .map_err(|e| api_error("AddTags", e))?;
    let gone: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    if !gone.is_empty() {
        elb.remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| api_error("RemoveTags", e))?;
    }
    Ok(())
}

/// `arn`, when its tags say it is this resource's: how a resumed creation adopts what an
/// interrupted one made (found by name, or by port for a listener).
async fn if_ours(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: Option<&str>,
    cx: &Cx,
) -> Result<Option<String>, ProviderError> {
    let Some(arn) = arn else { return Ok(None) };
    Ok(ours(&tags_of(elb, arn).await?, cx).then(|| arn.to_string()))
}

/// Whether `tags` mark the resource as this stack's (see [`crate::providers::owned_by`]).
fn ours(tags: &BTreeMap<String, String>, cx: &Cx) -> bool {
    crate::providers::owned_by(tags, cx)
}
