//! `elbv2.load_balancer`: a Network Load Balancer (Terraform's `aws_lb` with
//! `load_balancer_type = "network"`), the target of an API Gateway VPC link.
//!
//! States, from the ELBv2 API Reference (LoadBalancerState): `provisioning` → `active`
//! (`active_impaired` when it cannot scale) or `failed`. CreateLoadBalancer is idempotent: the
//! same name and settings answer the existing load balancer's ARN, other settings
//! `DuplicateLoadBalancerName`. DeleteLoadBalancer of one already gone succeeds, and deletes its
//! listeners with it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{if_ours, ours, sync_tags, tags, tags_of, user_tags};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, Registry};

/// What ELBv2 answers for a load balancer that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["LoadBalancerNotFound"]);

/// Registers `elbv2.load_balancer` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "elbv2.load_balancer",
            "A Network Load Balancer in the stack's subnets (an API Gateway VPC link's target)",
        )
        .schema::<LoadBalancerProps>()
        .outputs(&["arn", "name", "dns_name", "canonical_hosted_zone_id"])
        .replace(&[
            ("name", "a load balancer cannot be renamed"),
            ("type", "a load balancer's type cannot be changed"),
            ("scheme", "a load balancer's scheme cannot be changed"),
            (
                "subnets",
                "a Network Load Balancer's subnets cannot be removed",
            ),
        ])
        .sets(&["subnets"])
        .timeout(Duration::from_secs(900)),
        |env| LoadBalancerProvider {
            clients: env.clients.clone(),
        },
    );
}

/// The load balancer's type. Only Network Load Balancers: what a REST API's VPC link targets
/// (API Gateway API Reference, CreateVpcLink: `targetArns`, "the ARN of the network load
/// balancer of the VPC targeted by the VPC link").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancerType {
    #[default]
    Network,
}

/// Who can reach it: from the internet (ELBv2's default, `internet-facing`) or only from
/// inside the VPC (`internal`, private addresses only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

/// Props of `elbv2.load_balancer`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerProps {
    /// 1 to 32 letters, digits and hyphens, neither starting nor ending with a hyphen, not
    /// starting with `internal-` (ELBv2 API Reference, CreateLoadBalancer `Name`).
    #[schemars(
        length(min = 1, max = 32),
        regex(pattern = r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
    )]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: LoadBalancerType,
    #[serde(default)]
    pub scheme: Scheme,
    /// One subnet per Availability Zone (a set: order is no change).
    #[schemars(length(min = 1))]
    pub subnets: Vec<String>,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct LoadBalancerProvider {
    pub clients: Arc<Clients>,
}

fn scheme(s: Scheme) -> LoadBalancerSchemeEnum {
    match s {
        Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
        Scheme::Internal => LoadBalancerSchemeEnum::Internal,
    }
}

fn outputs(lb: &LoadBalancer) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("arn", lb.load_balancer_arn()),
        ("name", lb.load_balancer_name()),
        ("dns_name", lb.dns_name()),
        ("canonical_hosted_zone_id", lb.canonical_hosted_zone_id()),
    ] {
        m.insert(k.into(), v.map_or(Value::Null, |v| Value::String(v.into())));
    }
    m
}

impl LoadBalancerProvider {
    async fn describe(&self, arn: &str) -> Result<Option<LoadBalancer>, ProviderError> {
        Ok(self
            .clients
            .elbv2()
            .await
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .or_absent("DescribeLoadBalancers", NOT_FOUND)?
            .and_then(|o| o.load_balancers().first().cloned()))
    }

    async fn by_name(&self, name: &str) -> Result<Option<LoadBalancer>, ProviderError> {
        Ok(self
            .clients
            .elbv2()
            .await
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .or_absent("DescribeLoadBalancers", NOT_FOUND)?
            .and_then(|o| o.load_balancers().first().cloned()))
    }
}

#[async_trait]
impl TypedProvider for LoadBalancerProvider {
    type Props = LoadBalancerProps;

    async fn find(&self, _cx: &Cx, p: &LoadBalancerProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .by_name(&p.name)
            .await?
            .and_then(|lb| lb.load_balancer_arn().map(|arn| Found::named(arn, &p.name)))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&LoadBalancerProps>,
    ) -> Result<Option<Observed<LoadBalancerProps>>, ProviderError> {
        let Some(lb) = self.describe(arn).await? else {
            return Ok(None);
        };
        let live = LoadBalancerProps {
            name: lb.load_balancer_name().unwrap_or_default().into(),
            kind: LoadBalancerType::Network,
            scheme: match lb.scheme() {
                Some(LoadBalancerSchemeEnum::Internal) => Scheme::Internal,
                _ => Scheme::InternetFacing,
            },
            subnets: lb
                .availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id().map(str::to_string))
                .collect(),
            tags: user_tags(&tags_of(self.clients.elbv2().await, arn).await?),
        };
        Ok(Some(Observed::new(live, outputs(&lb))))
    }

    /// The load balancer of this name, when its tags say it is this resource's.
    async fn adopt(&self, cx: &Cx, p: &LoadBalancerProps) -> Result<Option<String>, ProviderError> {
        let lb = self.by_name(&p.name).await?;
        if_ours(
            self.clients.elbv2().await,
            lb.as_ref().and_then(|lb| lb.load_balancer_arn()),
            cx,
        )
        .await
    }

    async fn create(&self, cx: &Cx, p: &LoadBalancerProps) -> Result<String, ProviderError> {
        let elb = self.clients.elbv2().await;
        if let Some(lb) = self.by_name(&p.name).await? {
            let arn = lb.load_balancer_arn().unwrap_or_default();
            if !ours(&tags_of(elb, arn).await?, cx) {
                return Err(not_ours("load balancer", &p.name));
            }
            return Ok(arn.to_string());
        }
        let out = elb
            .create_load_balancer()
            .name(&p.name)
            .r#type(LoadBalancerTypeEnum::Network)
            .scheme(scheme(p.scheme))
            .set_subnets(Some(p.subnets.clone()))
            .set_tags(Some(tags(cx, &p.tags)))
            .send()
            .await
            .map_err(|e| api_error("CreateLoadBalancer", e))?;
        out.load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateLoadBalancer".into(),
                missing: "LoadBalancerArn".into(),
            })
    }

    /// `provisioning` → `active` (ready; `active_impaired` too, it serves) or `failed`.
    async fn poll(&self, _cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        let Some(lb) = self.describe(arn).await? else {
            return Ok(not_visible_yet());
        };
        let state = lb.state();
        Ok(match state.and_then(|s| s.code()) {
            Some(LoadBalancerStateEnum::Active | LoadBalancerStateEnum::ActiveImpaired) => {
                Poll::Ready(outputs(&lb))
            }
            Some(LoadBalancerStateEnum::Failed) => Poll::Failed(
                state
                    .and_then(|s| s.reason())
                    .unwrap_or("the load balancer failed")
                    .into(),
            ),
            Some(s) => Poll::Pending(s.as_str().into()),
            None => Poll::Pending("unknown".into()),
        })
    }

    /// Only the tags change in place; every other prop replaces.
    async fn update(
        &self,
        cx: &Cx,
        arn: &str,
        _old: Option<&LoadBalancerProps>,
        p: &LoadBalancerProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        sync_tags(self.clients.elbv2().await, arn, cx, &p.tags).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&LoadBalancerProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .elbv2()
            .await
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await
            .gone_ok("DeleteLoadBalancer", NOT_FOUND)
    }
}
