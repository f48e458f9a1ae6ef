//! `apigateway.vpc_link`: a REST API's VPC link to a Network Load Balancer (Terraform's
//! `aws_api_gateway_vpc_link`), through which an integration with `connection_type: VPC_LINK`
//! reaches a backend in a private network that nothing else can reach.
//!
//! States (API Gateway API Reference, VpcLink `status`): `PENDING` → `AVAILABLE` or `FAILED`
//! (with `statusMessage`); `DELETING` after DeleteVpcLink. A link takes minutes to become
//! available on AWS; an integration may use it only once it is (Developer Guide, "Set up a VPC
//! link for a REST API private integration").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigateway::operation::get_vpc_link::GetVpcLinkOutput;
use aws_sdk_apigateway::types::{Op, PatchOperation, VpcLinkStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::NOT_FOUND;
use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{owned_by, Registry};

/// Registers `apigateway.vpc_link` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "apigateway.vpc_link",
            "A REST API VPC link to a Network Load Balancer (private integrations); name and description change in place",
        )
        .schema::<VpcLinkProps>()
        .outputs(&["id"])
        .replace(&[(
            "target_arn",
            "a VPC link's target cannot be changed",
        )])
        .timeout(Duration::from_secs(900)),
        |env| VpcLinkProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `apigateway.vpc_link`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VpcLinkProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Network Load Balancer's ARN (a REST API VPC link has exactly one target).
    pub target_arn: String,
}

pub struct VpcLinkProvider {
    pub clients: Arc<Clients>,
}

fn outputs(id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.into()));
    m
}

impl VpcLinkProvider {
    async fn get(&self, id: &str) -> Result<Option<GetVpcLinkOutput>, ProviderError> {
        self.clients
            .apigateway()
            .await
            .get_vpc_link()
            .vpc_link_id(id)
            .send()
            .await
            .or_absent("GetVpcLink", NOT_FOUND)
    }
}

#[async_trait]
impl TypedProvider for VpcLinkProvider {
    type Props = VpcLinkProps;

    async fn find(&self, _cx: &Cx, p: &VpcLinkProps) -> Result<Vec<Found>, ProviderError> {
        let links = self
            .clients
            .apigateway()
            .await
            .get_vpc_links()
            .limit(500)
            .send()
            .await
            .map_err(|e| api_error("GetVpcLinks", e))?;
        Ok(links
            .items()
            .iter()
            .filter(|l| l.name() == Some(p.name.as_str()))
            .filter(|l| l.status() != Some(&VpcLinkStatus::Deleting))
            .filter_map(|l| l.id().map(|id| Found::named(id, &p.name)))
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&VpcLinkProps>,
    ) -> Result<Option<Observed<VpcLinkProps>>, ProviderError> {
        let Some(l) = self
            .get(id)
            .await?
            .filter(|l| l.status() != Some(&VpcLinkStatus::Deleting))
        else {
            return Ok(None);
        };
        let live = VpcLinkProps {
            name: l.name().unwrap_or_default().into(),
            description: l
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            target_arn: l.target_arns().first().cloned().unwrap_or_default(),
        };
        Ok(Some(Observed::new(live, outputs(id))))
    }

    /// A link of this name whose tags say it is this resource's.
    async fn adopt(&self, cx: &Cx, p: &VpcLinkProps) -> Result<Option<String>, ProviderError> {
        let links = self
            .clients
            .apigateway()
            .await
            .get_vpc_links()
            .limit(500)
            .send()
            .await
            .map_err(|e| api_error("GetVpcLinks", e))?;
        Ok(links
            .items()
            .iter()
            .filter(|l| l.name() == Some(p.name.as_str()))
            .filter(|l| l.status() != Some(&VpcLinkStatus::Deleting))
            .find(|l| {
                let tags: BTreeMap<String, String> = l
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                owned_by(&tags, cx)
            })
            .and_then(|l| l.id().map(str::to_string)))
    }

    async fn create(&self, cx: &Cx, p: &VpcLinkProps) -> Result<String, ProviderError> {
        let gw = self.clients.apigateway().await;
        let req = gw
            .create_vpc_link()
            .name(&p.name)
            .set_description(p.description.clone())
            .target_arns(&p.target_arn)
            .set_tags(Some(cx.tags().into_iter().collect()));
        let out = settled("CreateVpcLink", || req.clone().send()).await?;
        out.id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateVpcLink".into(),
                missing: "id".into(),
            })
    }

    /// `PENDING` → `AVAILABLE` (ready) or `FAILED` (with API Gateway's `statusMessage`).
    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let Some(l) = self.get(id).await? else {
            return Ok(not_visible_yet());
        };
        Ok(match l.status() {
            Some(VpcLinkStatus::Available) => Poll::Ready(outputs(id)),
            Some(VpcLinkStatus::Failed) => Poll::Failed(
                l.status_message()
                    .unwrap_or("the VPC link failed")
                    .to_string(),
            ),
            Some(s) => Poll::Pending(s.as_str().to_string()),
            None => Poll::Pending("unknown".into()),
        })
    }

    /// UpdateVpcLink: the name and the description (JSON Patch `replace`).
    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        _old: Option<&VpcLinkProps>,
        p: &VpcLinkProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let patch = |path: &str, value: &str| {
            PatchOperation::builder()
                .op(Op::Replace)
                .path(path)
                .value(value)
                .build()
        };
        let req = self
            .clients
            .apigateway()
            .await
            .update_vpc_link()
            .vpc_link_id(id)
            .patch_operations(patch("/name", &p.name))
            .patch_operations(patch(
                "/description",
                p.description.as_deref().unwrap_or_default(),
            ));
        settled("UpdateVpcLink", || req.clone().send()).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&VpcLinkProps>,
    ) -> Result<(), ProviderError> {
        let gw = self.clients.apigateway().await;
        let req = gw.delete_vpc_link().vpc_link_id(id);
        settle("DeleteVpcLink", || req.clone().send())
            .await
            .gone_ok("DeleteVpcLink", NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        Ok(self.get(id).await?.is_none())
    }
}
