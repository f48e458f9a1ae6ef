//! `ec2.default_network`: looks up the default VPC and its subnets (creates and deletes
//! nothing).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::filter;
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{Absent, CompositeId, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// `vpc-123#2`: the default VPC and how many subnets to report (the count is in the id, so
/// polling knows it).
const ID: CompositeId = CompositeId::new("default network", '#');

/// Registers `ec2.default_network` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.default_network",
            "Looks up the default VPC and its subnets (creates and deletes nothing)",
        )
        .schema::<DefaultNetworkProps>()
        .outputs(&["vpc_id", "subnet_ids", "subnet_id", "cidr"])
        .output_types(&[("subnet_ids", "array")])
        .timeout(Duration::from_secs(120))
        .no_update(),
        |env| DefaultNetworkProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.default_network` (it looks up; it never creates or deletes anything).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultNetworkProps {
    /// How many default subnets to return (in distinct availability zones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_count: Option<u32>,
}

pub struct DefaultNetworkProvider {
    pub clients: Arc<Clients>,
}

/// The default VPC's id and, when the id carries one, how many subnets to report.
fn network_id(id: &str) -> (&str, Option<usize>) {
    let (vpc, count) = ID.split(id);
    (vpc, count.and_then(|n| n.parse().ok()))
}

/// Nothing to update in place: the kind is declared without update, so a change of
/// `subnet_count` makes a new id (and new outputs) rather than a no-op.
#[async_trait]
impl TypedProvider for DefaultNetworkProvider {
    type Props = DefaultNetworkProps;

    async fn read(
        &self,
        cx: &Cx,
        id: &str,
        recorded: Option<&DefaultNetworkProps>,
    ) -> Result<Option<Observed<DefaultNetworkProps>>, ProviderError> {
        let (vpc_id, _) = network_id(id);
        let found = self
            .clients
            .ec2()
            .await
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
            .or_absent("DescribeVpcs", Absent::Codes(&["InvalidVpcID.NotFound"]))?;
        if found.is_none_or(|out| out.vpcs().is_empty()) {
            return Ok(None);
        }
        Ok(match self.poll(cx, id).await? {
            // What was recorded is what it is: nothing about it changes in the service.
            Poll::Ready(outputs) => Some(Observed {
                props: recorded.cloned(),
                outputs,
            }),
            _ => None,
        })
    }

    async fn create(&self, _cx: &Cx, p: &DefaultNetworkProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .describe_vpcs()
            .filters(filter("isDefault", &["true"]))
            .send()
            .await
            .map_err(|e| api_error("DescribeVpcs", e))?;
        let region = self.clients.region().await;
        let vpc = out
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id().map(str::to_string))
            .ok_or_else(|| {
                ProviderError::Invalid(format!(
                    "region {region} has no default VPC; create one (`aws ec2 create-default-vpc`)"
                ))
            })?;
        // The id carries the subnet count, so polling knows how many subnets to report.
        Ok(match p.subnet_count {
            Some(n) => ID.join(&[&vpc, &n.to_string()]),
            None => vpc,
        })
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (vpc_id, count) = network_id(id);
        let ec2 = self.clients.ec2().await;
        let vpcs = ec2
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
            .map_err(|e| api_error("DescribeVpcs", e))?;
        let cidr = vpcs
            .vpcs()
            .first()
            .and_then(|v| v.cidr_block())
            .unwrap_or_default()
            .to_string();
        let subnets = ec2
            .describe_subnets()
            .filters(filter("vpc-id", &[vpc_id]))
            .filters(filter("default-for-az", &["true"]))
            .send()
            .await
            .map_err(|e| api_error("DescribeSubnets", e))?;
        let mut by_zone: Vec<(String, String)> = subnets
            .subnets()
            .iter()
            .filter_map(|s| {
                Some((
                    s.availability_zone()?.to_string(),
                    s.subnet_id()?.to_string(),
                ))
            })
            .collect();
        by_zone.sort();
        let ids: Vec<Value> = by_zone
            .into_iter()
            .take(count.unwrap_or(usize::MAX))
            .map(|(_, id)| Value::String(id))
            .collect();
        let mut m = Map::new();
        m.insert("vpc_id".into(), Value::String(vpc_id.into()));
        m.insert("cidr".into(), Value::String(cidr));
        m.insert(
            "subnet_id".into(),
            ids.first().cloned().unwrap_or(Value::Null),
        );
        m.insert("subnet_ids".into(), Value::Array(ids));
        Ok(Poll::Ready(m))
    }

    async fn delete(
        &self,
        _cx: &Cx,
        _id: &str,
        _recorded: Option<&DefaultNetworkProps>,
    ) -> Result<(), ProviderError> {
        // The default VPC is not the stack's: forgetting it is all `down` does.
        Ok(())
    }

    async fn is_deleted(&self, _cx: &Cx, _id: &str) -> Result<bool, ProviderError> {
        Ok(true)
    }
}
