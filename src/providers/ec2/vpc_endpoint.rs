//! `ec2.vpc_endpoint`: a gateway VPC endpoint (S3 or DynamoDB) on route tables (Terraform's
//! `aws_vpc_endpoint` with `vpc_endpoint_type = "Gateway"` and its `route_table_ids`).
//!
//! A gateway endpoint adds a route to the service's prefix list in each of its route tables,
//! so private subnets reach S3 without a NAT gateway (VPC User Guide, "Gateway endpoints for
//! Amazon S3": https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html).
//! It is `pending` then `available` after creation, `deleting` then `deleted` after deletion.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, VpcEndpoint, VpcEndpointType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{filter, sync_tags, tag_spec, user_tags};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for an endpoint that is not there.
const NOT_FOUND: Absent = Absent::Codes(&[
    "InvalidVpcEndpointId.NotFound",
    "InvalidVpcEndpoint.NotFound",
]);

/// Registers `ec2.vpc_endpoint` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.vpc_endpoint",
            "A gateway VPC endpoint (S3) on route tables: private subnets reach the service without a NAT gateway",
        )
        .schema::<VpcEndpointProps>()
        .outputs(&["id", "arn", "prefix_list_id"])
        .replace(&[
            ("vpc_id", "an endpoint cannot move to another VPC"),
            ("service_name", "an endpoint's service cannot be changed"),
        ])
        .sets(&["route_table_ids"])
        .timeout(Duration::from_secs(600)),
        |env| VpcEndpointProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.vpc_endpoint`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VpcEndpointProps {
    pub vpc_id: String,
    /// The service, e.g. `com.amazonaws.us-east-1.s3` (a gateway endpoint service: S3 or
    /// DynamoDB).
    pub service_name: String,
    /// The route tables that get a route to the service (a set: order is no change).
    #[serde(default)]
    pub route_table_ids: Vec<String>,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct VpcEndpointProvider {
    pub clients: Arc<Clients>,
}

/// The endpoint's state, lower-cased: EC2's model spells the states `Available`, `Deleted`,
/// ..., while EC2 (and moto) answer `available`, `deleted`, ..., which the SDK reads as
/// unknown variants.
fn state_of(e: &VpcEndpoint) -> Option<String> {
    e.state().map(|s| s.as_str().to_ascii_lowercase())
}

fn gone(e: &VpcEndpoint) -> bool {
    matches!(state_of(e).as_deref(), Some("deleted" | "deleting"))
}

impl VpcEndpointProvider {
    async fn describe(&self, id: &str) -> Result<Option<VpcEndpoint>, ProviderError> {
        Ok(self
            .clients
            .ec2()
            .await
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .or_absent("DescribeVpcEndpoints", NOT_FOUND)?
            .and_then(|o| o.vpc_endpoints().first().cloned()))
    }

    async fn outputs(&self, e: &VpcEndpoint) -> Result<Map<String, Value>, ProviderError> {
        let region = self.clients.region().await;
        let id = e.vpc_endpoint_id().unwrap_or_default();
        let lists = self
            .clients
            .ec2()
            .await
            .describe_prefix_lists()
            .filters(filter(
                "prefix-list-name",
                &[e.service_name().unwrap_or_default()],
            ))
            .send()
            .await
            .map_err(|e| api_error("DescribePrefixLists", e))?;
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!(
                "arn:aws:ec2:{region}:{}:vpc-endpoint/{id}",
                e.owner_id().unwrap_or_default()
            )),
        );
        m.insert(
            "prefix_list_id".into(),
            lists
                .prefix_lists()
                .first()
                .and_then(|l| l.prefix_list_id())
                .map_or(Value::Null, |l| Value::String(l.into())),
        );
        Ok(m)
    }
}

#[async_trait]
impl TypedProvider for VpcEndpointProvider {
    type Props = VpcEndpointProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&VpcEndpointProps>,
    ) -> Result<Option<Observed<VpcEndpointProps>>, ProviderError> {
        let Some(e) = self.describe(id).await?.filter(|e| !gone(e)) else {
            return Ok(None);
        };
        let mut tables: Vec<String> = e.route_table_ids().to_vec();
        if let Some(r) = recorded {
            let mut a = tables.clone();
            let mut b = r.route_table_ids.clone();
            a.sort();
            b.sort();
            if a == b {
                tables = r.route_table_ids.clone();
            }
        }
        let live = VpcEndpointProps {
            vpc_id: e.vpc_id().unwrap_or_default().into(),
            service_name: e.service_name().unwrap_or_default().into(),
            route_table_ids: tables,
            tags: user_tags(e.tags()),
        };
        Ok(Some(Observed::new(live, self.outputs(&e).await?)))
    }

    async fn adopt(&self, cx: &Cx, p: &VpcEndpointProps) -> Result<Option<String>, ProviderError> {
        Ok(self
            .find(cx, p)
            .await?
            .into_iter()
            .next()
            .map(|f| f.physical_id))
    }

    async fn find(&self, cx: &Cx, p: &VpcEndpointProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_vpc_endpoints()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(|e| api_error("DescribeVpcEndpoints", e))?;
            Ok(out
                .vpc_endpoints()
                .iter()
                .filter(|e| !gone(e))
                .filter_map(|item| item.vpc_endpoint_id().map(str::to_string))
                .collect())
        })
        .await
    }

    /// CreateVpcEndpoint with the creation's token as its idempotency token.
    async fn create(&self, cx: &Cx, p: &VpcEndpointProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .create_vpc_endpoint()
            .vpc_id(&p.vpc_id)
            .service_name(&p.service_name)
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(p.route_table_ids.clone()))
            .client_token(&cx.token)
            .tag_specifications(tag_spec(cx, ResourceType::VpcEndpoint, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("CreateVpcEndpoint", e))?;
        out.vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateVpcEndpoint".into(),
                missing: "VpcEndpointId".into(),
            })
    }

    /// `pending` → `available` (ready) or `failed`.
    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            None => not_visible_yet(),
            Some(e) => match state_of(&e).as_deref() {
                Some("available") => Poll::Ready(self.outputs(&e).await?),
                Some("failed" | "rejected" | "expired") => Poll::Failed(
                    e.last_error()
                        .and_then(|l| l.message())
                        .unwrap_or("the VPC endpoint failed")
                        .to_string(),
                ),
                Some(s) => Poll::Pending(s.to_string()),
                None => Poll::Pending("unknown".into()),
            },
        })
    }

    /// Adds and removes route tables (ModifyVpcEndpoint), and syncs the tags.
    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        _old: Option<&VpcEndpointProps>,
        p: &VpcEndpointProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let Some(e) = self.describe(id).await? else {
            return Err(ProviderError::not_found(format!("VPC endpoint {id}")));
        };
        let have = e.route_table_ids();
        let add: Vec<String> = p
            .route_table_ids
            .iter()
            .filter(|t| !have.contains(t))
            .cloned()
            .collect();
        let remove: Vec<String> = have
            .iter()
            .filter(|t| !p.route_table_ids.contains(t))
            .cloned()
            .collect();
        if !add.is_empty() || !remove.is_empty() {
            self.clients
                .ec2()
                .await
                .modify_vpc_endpoint()
                .vpc_endpoint_id(id)
                .set_add_route_table_ids((!add.is_empty()).then_some(add))
                .set_remove_route_table_ids((!remove.is_empty()).then_some(remove))
                .send()
                .await
                .map_err(|e| api_error("ModifyVpcEndpoint", e))?;
        }
        sync_tags(
            self.clients.ec2().await,
            id,
            cx,
            &user_tags(e.tags()),
            &p.tags,
        )
        .await?;
        Ok(None)
    }

    /// DeleteVpcEndpoints answers per endpoint: one EC2 could not delete is an error with its
    /// code, unless it is already gone (not found, deleting or deleted).
    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&VpcEndpointProps>,
    ) -> Result<(), ProviderError> {
        // An endpoint EC2 lists as deleting or deleted is gone already (it stays listed for a
        // while); asking again would act on its former route tables.
        if self.describe(id).await?.is_none_or(|e| gone(&e)) {
            return Ok(());
        }
        let Some(out) = self
            .clients
            .ec2()
            .await
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .or_absent("DeleteVpcEndpoints", NOT_FOUND)?
        else {
            return Ok(());
        };
        match out.unsuccessful().first().and_then(|u| u.error()) {
            Some(err) if !err.code().is_some_and(|c| c.contains("NotFound")) => {
                Err(ProviderError::Api {
                    operation: "DeleteVpcEndpoints".into(),
                    code: err.code().unwrap_or_default().into(),
                    message: err.message().unwrap_or_default().into(),
                    retryable: false,
                })
            }
            _ => Ok(()),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        Ok(self
            .describe(id)
            .await?
            .is_none_or(|e| state_of(&e).as_deref() == Some("deleted")))
    }
}
