//! `ec2.vpc`: a VPC of the stack's own (Terraform's `aws_vpc`): its IPv4 range, DNS settings
//! and tags.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcAttributeName, VpcState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{delete_error, filter, name_holders, owned_filters, sync_tags, tag_spec, user_tags};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{required, Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for a VPC that is not there.
pub(super) const NOT_FOUND: Absent = Absent::Codes(&["InvalidVpcID.NotFound"]);

/// Registers `ec2.vpc` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.vpc",
            "A VPC of the stack's own: IPv4 range, DNS support and hostnames, tags",
        )
        .schema::<VpcProps>()
        .outputs(&[
            "id",
            "arn",
            "cidr",
            "main_route_table_id",
            "default_security_group_id",
        ])
        .replace(&[("cidr", "a VPC's primary IPv4 range cannot be changed")])
        .timeout(Duration::from_secs(1200)),
        |env| VpcProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.vpc`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VpcProps {
    /// The primary IPv4 range, e.g. `10.0.0.0/16` (a /16 to a /28: EC2 refuses others with
    /// `InvalidVpc.Range`).
    pub cidr: String,
    /// The Amazon-provided DNS server answers in the VPC (EC2's default: true). Interface VPC
    /// endpoints and MSK's broker names need it.
    #[serde(default = "yes")]
    pub enable_dns_support: bool,
    /// Instances with a public IP get a public DNS name (EC2's default for a non-default VPC:
    /// false). The EC2 client's `public_dns` needs it.
    #[serde(default)]
    pub enable_dns_hostnames: bool,
    /// Tags besides pinctl's own (`Name`, ...).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

pub struct VpcProvider {
    pub clients: Arc<Clients>,
}

impl VpcProvider {
    async fn describe(&self, id: &str) -> Result<Option<Vpc>, ProviderError> {
        Ok(self
            .clients
            .ec2()
            .await
            .describe_vpcs()
            .vpc_ids(id)
            .send()
            .await
            .or_absent("DescribeVpcs", NOT_FOUND)?
            .and_then(|o| o.vpcs().first().cloned()))
    }

    async fn attribute(&self, id: &str, name: VpcAttributeName) -> Result<bool, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(name.clone())
            .send()
            .await
            .map_err(|e| api_error("DescribeVpcAttribute", e))?;
        let v = match name {
            VpcAttributeName::EnableDnsHostnames => out.enable_dns_hostnames(),
            _ => out.enable_dns_support(),
        };
        Ok(v.and_then(|b| b.value()).unwrap_or(false))
    }

    /// Sets the two DNS attributes (one per ModifyVpcAttribute call, as EC2 requires).
    async fn set_dns(
        &self,
        id: &str,
        p: &VpcProps,
        only_changed: Option<&VpcProps>,
    ) -> Result<(), ProviderError> {
        let ec2 = self.clients.ec2().await;
        let flag = |b: bool| AttributeBooleanValue::builder().value(b).build();
        if only_changed.is_none_or(|o| o.enable_dns_support != p.enable_dns_support) {
            ec2.modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(flag(p.enable_dns_support))
                .send()
                .await
                .map_err(|e| api_error("ModifyVpcAttribute", e))?;
        }
        if only_changed.is_none_or(|o| o.enable_dns_hostnames != p.enable_dns_hostnames) {
            ec2.modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(flag(p.enable_dns_hostnames))
                .send()
                .await
                .map_err(|e| api_error("ModifyVpcAttribute", e))?;
        }
        Ok(())
    }

    async fn outputs(&self, v: &Vpc) -> Result<Map<String, Value>, ProviderError> {
        let id = v.vpc_id().unwrap_or_default();
        let ec2 = self.clients.ec2().await;
        let main = ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &[id]))
            .filters(filter("association.main", &["true"]))
            .send()
            .await
            .map_err(|e| api_error("DescribeRouteTables", e))?;
        let sg = ec2
            .describe_security_groups()
            .filters(filter("vpc-id", &[id]))
            .filters(filter("group-name", &["default"]))
            .send()
            .await
            .map_err(|e| api_error("DescribeSecurityGroups", e))?;
        let region = self.clients.region().await;
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!(
                "arn:aws:ec2:{region}:{}:vpc/{id}",
                v.owner_id().unwrap_or_default()
            )),
        );
        m.insert(
            "cidr".into(),
            Value::String(v.cidr_block().unwrap_or_default().into()),
        );
        m.insert(
            "main_route_table_id".into(),
            main.route_tables()
                .first()
                .and_then(|t| t.route_table_id())
                .map_or(Value::Null, |t| Value::String(t.into())),
        );
        m.insert(
            "default_security_group_id".into(),
            sg.security_groups()
                .first()
                .and_then(|g| g.group_id())
                .map_or(Value::Null, |g| Value::String(g.into())),
        );
        Ok(m)
    }
}

#[async_trait]
impl TypedProvider for VpcProvider {
    type Props = VpcProps;

    async fn find(&self, cx: &Cx, p: &VpcProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_vpcs()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(|e| api_error("DescribeVpcs", e))?;
            Ok(out
                .vpcs()
                .iter()
                .filter_map(|item| item.vpc_id().map(str::to_string))
                .collect())
        })
        .await
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&VpcProps>,
    ) -> Result<Option<Observed<VpcProps>>, ProviderError> {
        let Some(v) = self.describe(id).await? else {
            return Ok(None);
        };
        let live = VpcProps {
            cidr: v.cidr_block().unwrap_or_default().into(),
            enable_dns_support: self
                .attribute(id, VpcAttributeName::EnableDnsSupport)
                .await?,
            enable_dns_hostnames: self
                .attribute(id, VpcAttributeName::EnableDnsHostnames)
                .await?,
            tags: user_tags(v.tags()),
        };
        Ok(Some(Observed::new(live, self.outputs(&v).await?)))
    }

    /// A VPC a killed creation made, with the creation's remaining step (its DNS attributes)
    /// done, so the adopted VPC is what `create` would have returned.
    async fn adopt(&self, cx: &Cx, p: &VpcProps) -> Result<Option<String>, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .describe_vpcs()
            .set_filters(Some(owned_filters(cx)))
            .send()
            .await
            .map_err(|e| api_error("DescribeVpcs", e))?;
        let Some(id) = out
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id().map(str::to_string))
        else {
            return Ok(None);
        };
        self.set_dns(&id, p, None).await?;
        Ok(Some(id))
    }

    async fn create(&self, cx: &Cx, p: &VpcProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .create_vpc()
            .cidr_block(&p.cidr)
            .tag_specifications(tag_spec(cx, ResourceType::Vpc, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("CreateVpc", e))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateVpc".into(),
                missing: "VpcId".into(),
            })?
            .to_string();
        self.set_dns(&id, p, None).await?;
        Ok(id)
    }

    /// Ready when EC2 reports the VPC `available` (it is `pending` for a moment).
    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(v) if v.state() == Some(&VpcState::Available) => {
                Poll::Ready(self.outputs(&v).await?)
            }
            Some(v) => Poll::Pending(v.state().map_or("pending", |s| s.as_str()).to_string()),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        old: Option<&VpcProps>,
        p: &VpcProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let old = required(old, "ec2.vpc")?;
        self.set_dns(id, p, Some(old)).await?;
        let have = match self.describe(id).await? {
            Some(v) => user_tags(v.tags()),
            None => return Err(ProviderError::not_found(format!("VPC {id}"))),
        };
        sync_tags(self.clients.ec2().await, id, cx, &have, &p.tags)
            .await
            .map(|_| None)
    }

    /// Deletes the VPC. While subnets, gateways, route tables or interfaces remain in it EC2
    /// answers `DependencyViolation`: [`ProviderError::InUse`], retried by the engine.
    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&VpcProps>,
    ) -> Result<(), ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .delete_vpc()
            .vpc_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            Err(e) => Err(name_holders(
                self.clients.ec2().await,
                delete_error("DeleteVpc", &format!("VPC {id}"), e),
                "vpc-id",
                id,
            )
            .await),
        }
    }
}
