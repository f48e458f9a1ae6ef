//! `ec2.internet_gateway`: an internet gateway attached to a VPC (Terraform's
//! `aws_internet_gateway` with its `vpc_id`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{InternetGateway, ResourceType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{delete_error, sync_tags, tag_spec, user_tags};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for an internet gateway that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["InvalidInternetGatewayID.NotFound"]);

/// Registers `ec2.internet_gateway` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.internet_gateway",
            "An internet gateway attached to a VPC (the way out of its public subnets)",
        )
        .schema::<InternetGatewayProps>()
        .outputs(&["id", "arn"])
        .timeout(Duration::from_secs(600)),
        |env| InternetGatewayProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.internet_gateway`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InternetGatewayProps {
    /// The VPC it is attached to (a change detaches it and attaches it to the new one).
    pub vpc_id: String,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct InternetGatewayProvider {
    pub clients: Arc<Clients>,
}

/// The VPC a gateway is attached to (attached, or `available` as EC2 reports a gateway
/// attachment that is done).
fn attached_vpc(g: &InternetGateway) -> Option<&str> {
    g.attachments()
        .iter()
        .find(|a| {
            a.state()
                .is_some_and(|s| matches!(s.as_str(), "attached" | "available" | "attaching"))
        })
        .and_then(|a| a.vpc_id())
}

impl InternetGatewayProvider {
    async fn describe(&self, id: &str) -> Result<Option<InternetGateway>, ProviderError> {
        Ok(self
            .clients
            .ec2()
            .await
            .describe_internet_gateways()
            .internet_gateway_ids(id)
            .send()
            .await
            .or_absent("DescribeInternetGateways", NOT_FOUND)?
            .and_then(|o| o.internet_gateways().first().cloned()))
    }

    async fn attach(&self, id: &str, vpc: &str) -> Result<(), ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Attached already (a resumed creation).
            Err(e) if code_of(&e) == Some("Resource.AlreadyAssociated") => Ok(()),
            Err(e) => Err(api_error("AttachInternetGateway", e)),
        }
    }

    /// Detaches the gateway from `vpc`. EC2 refuses while instances or NAT gateways of the VPC
    /// still have public addresses mapped through it (`DependencyViolation`): in use.
    async fn detach(&self, id: &str, vpc: &str) -> Result<(), ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) || code_of(&e) == Some("Gateway.NotAttached") => Ok(()),
            Err(e) => Err(delete_error(
                "DetachInternetGateway",
                &format!("internet gateway {id}"),
                e,
            )),
        }
    }

    async fn outputs(&self, g: &InternetGateway) -> Map<String, Value> {
        let region = self.clients.region().await;
        let id = g.internet_gateway_id().unwrap_or_default();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!(
                "arn:aws:ec2:{region}:{}:internet-gateway/{id}",
                g.owner_id().unwrap_or_default()
            )),
        );
        m
    }
}

#[async_trait]
impl TypedProvider for InternetGatewayProvider {
    type Props = InternetGatewayProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&InternetGatewayProps>,
    ) -> Result<Option<Observed<InternetGatewayProps>>, ProviderError> {
        let Some(g) = self.describe(id).await? else {
            return Ok(None);
        };
        let live = InternetGatewayProps {
            vpc_id: attached_vpc(&g).unwrap_or_default().into(),
            tags: user_tags(g.tags()),
        };
        Ok(Some(Observed::new(live, self.outputs(&g).await)))
    }

    async fn adopt(
        &self,
        cx: &Cx,
        p: &InternetGatewayProps,
    ) -> Result<Option<String>, ProviderError> {
        Ok(self
            .find(cx, p)
            .await?
            .into_iter()
            .next()
            .map(|f| f.physical_id))
    }

    async fn find(&self, cx: &Cx, p: &InternetGatewayProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_internet_gateways()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(|e| api_error("DescribeInternetGateways", e))?;
            Ok(out
                .internet_gateways()
                .iter()
                .filter_map(|item| item.internet_gateway_id().map(str::to_string))
                .collect())
        })
        .await
    }

    async fn create(&self, cx: &Cx, p: &InternetGatewayProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .create_internet_gateway()
            .tag_specifications(tag_spec(cx, ResourceType::InternetGateway, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("CreateInternetGateway", e))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateInternetGateway".into(),
                missing: "InternetGatewayId".into(),
            })?
            .to_string();
        self.attach(&id, &p.vpc_id).await?;
        Ok(id)
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(g) if attached_vpc(&g).is_some() => Poll::Ready(self.outputs(&g).await),
            Some(_) => Poll::Pending("attaching".into()),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        _old: Option<&InternetGatewayProps>,
        p: &InternetGatewayProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let Some(g) = self.describe(id).await? else {
            return Err(ProviderError::not_found(format!("internet gateway {id}")));
        };
        let now = attached_vpc(&g).map(str::to_string);
        if now.as_deref() != Some(p.vpc_id.as_str()) {
            if let Some(vpc) = &now {
                self.detach(id, vpc).await?;
            }
            self.attach(id, &p.vpc_id).await?;
        }
        sync_tags(
            self.clients.ec2().await,
            id,
            cx,
            &user_tags(g.tags()),
            &p.tags,
        )
        .await?;
        Ok(None)
    }

    /// Detaches the gateway, then deletes it; a refused detach (addresses still mapped) is
    /// [`ProviderError::InUse`], retried by the engine.
    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&InternetGatewayProps>,
    ) -> Result<(), ProviderError> {
        let Some(g) = self.describe(id).await? else {
            return Ok(());
        };
        for a in g.attachments() {
            if let Some(vpc) = a.vpc_id() {
                self.detach(id, vpc).await?;
            }
        }
        match self
            .clients
            .ec2()
            .await
            .delete_internet_gateway()
            .internet_gateway_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            Err(e) => Err(delete_error(
                "DeleteInternetGateway",
                &format!("internet gateway {id}"),
                e,
            )),
        }
    }
}
