//! `ec2.subnet`: a subnet of a VPC (Terraform's `aws_subnet`), placed by availability zone
//! *id*, public or not.
//!
//! The zone is given by id (`use1-az1`), not by name (`us-east-1a`): names map to ids
//! differently in every account, and what a service supports is listed by id (MSK, for one,
//! refuses `use1-az3`: MSK Developer Guide, "Create a cluster";
//! https://docs.aws.amazon.com/ram/latest/userguide/working-with-az-ids.html).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Subnet, SubnetState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{delete_error, name_holders, sync_tags, tag_spec, user_tags};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{required, Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for a subnet that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["InvalidSubnetID.NotFound"]);

/// Registers `ec2.subnet` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.subnet",
            "A subnet of a VPC in an availability zone chosen by id; public (instances get a public IP) or private",
        )
        .schema::<SubnetProps>()
        .outputs(&[
            "id",
            "arn",
            "availability_zone",
            "availability_zone_id",
            "cidr",
            "vpc_id",
        ])
        .replace(&[
            ("vpc_id", "a subnet cannot move to another VPC"),
            ("cidr", "a subnet's IPv4 range cannot be changed"),
            (
                "availability_zone_id",
                "a subnet cannot move to another availability zone",
            ),
        ])
        .timeout(Duration::from_secs(1200)),
        |env| SubnetProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.subnet`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubnetProps {
    pub vpc_id: String,
    /// The IPv4 range, inside the VPC's, e.g. `10.0.1.0/24`.
    pub cidr: String,
    /// The availability zone's id, e.g. `use1-az1` (`aws ec2 describe-availability-zones`
    /// lists the region's ids and names).
    pub availability_zone_id: String,
    /// Instances launched here get a public IPv4 address (a public subnet; its route table
    /// needs a route to an internet gateway too). Default false.
    #[serde(default)]
    pub map_public_ip_on_launch: bool,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct SubnetProvider {
    pub clients: Arc<Clients>,
}

impl SubnetProvider {
    async fn describe(&self, id: &str) -> Result<Option<Subnet>, ProviderError> {
        Ok(self
            .clients
            .ec2()
            .await
            .describe_subnets()
            .subnet_ids(id)
            .send()
            .await
            .or_absent("DescribeSubnets", NOT_FOUND)?
            .and_then(|o| o.subnets().first().cloned()))
    }

    async fn set_public(&self, id: &str, public: bool) -> Result<(), ProviderError> {
        self.clients
            .ec2()
            .await
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(public).build())
            .send()
            .await
            .map_err(|e| api_error("ModifySubnetAttribute", e))?;
        Ok(())
    }

    async fn outputs(&self, s: &Subnet) -> Map<String, Value> {
        let region = self.clients.region().await;
        let id = s.subnet_id().unwrap_or_default();
        let text = |v: Option<&str>| Value::String(v.unwrap_or_default().into());
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            match s.subnet_arn() {
                Some(a) => Value::String(a.into()),
                None => Value::String(format!(
                    "arn:aws:ec2:{region}:{}:subnet/{id}",
                    s.owner_id().unwrap_or_default()
                )),
            },
        );
        m.insert("availability_zone".into(), text(s.availability_zone()));
        m.insert(
            "availability_zone_id".into(),
            text(s.availability_zone_id()),
        );
        m.insert("cidr".into(), text(s.cidr_block()));
        m.insert("vpc_id".into(), text(s.vpc_id()));
        m
    }
}

#[async_trait]
impl TypedProvider for SubnetProvider {
    type Props = SubnetProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&SubnetProps>,
    ) -> Result<Option<Observed<SubnetProps>>, ProviderError> {
        let Some(s) = self.describe(id).await? else {
            return Ok(None);
        };
        let live = SubnetProps {
            vpc_id: s.vpc_id().unwrap_or_default().into(),
            cidr: s.cidr_block().unwrap_or_default().into(),
            availability_zone_id: s.availability_zone_id().unwrap_or_default().into(),
            map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or(false),
            tags: user_tags(s.tags()),
        };
        Ok(Some(Observed::new(live, self.outputs(&s).await)))
    }

    async fn adopt(&self, cx: &Cx, p: &SubnetProps) -> Result<Option<String>, ProviderError> {
        Ok(self
            .find(cx, p)
            .await?
            .into_iter()
            .next()
            .map(|f| f.physical_id))
    }

    async fn find(&self, cx: &Cx, p: &SubnetProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_subnets()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(|e| api_error("DescribeSubnets", e))?;
            Ok(out
                .subnets()
                .iter()
                .filter_map(|item| item.subnet_id().map(str::to_string))
                .collect())
        })
        .await
    }

    async fn create(&self, cx: &Cx, p: &SubnetProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .create_subnet()
            .vpc_id(&p.vpc_id)
            .cidr_block(&p.cidr)
            .availability_zone_id(&p.availability_zone_id)
            .tag_specifications(tag_spec(cx, ResourceType::Subnet, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("CreateSubnet", e))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateSubnet".into(),
                missing: "SubnetId".into(),
            })?
            .to_string();
        // Set either way: EC2's default is false, but moto 5.2 makes the first subnet it
        // creates in a zone given by id public (and default for the zone).
        self.set_public(&id, p.map_public_ip_on_launch).await?;
        Ok(id)
    }

    /// Ready when EC2 reports the subnet `available`.
    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(s) if s.state() == Some(&SubnetState::Available) => {
                Poll::Ready(self.outputs(&s).await)
            }
            Some(s) => Poll::Pending(s.state().map_or("pending", |s| s.as_str()).to_string()),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        old: Option<&SubnetProps>,
        p: &SubnetProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let old = required(old, "ec2.subnet")?;
        let Some(s) = self.describe(id).await? else {
            return Err(ProviderError::not_found(format!("subnet {id}")));
        };
        if s.map_public_ip_on_launch() != Some(p.map_public_ip_on_launch)
            || old.map_public_ip_on_launch != p.map_public_ip_on_launch
        {
            self.set_public(id, p.map_public_ip_on_launch).await?;
        }
        sync_tags(
            self.clients.ec2().await,
            id,
            cx,
            &user_tags(s.tags()),
            &p.tags,
        )
        .await?;
        Ok(None)
    }

    /// Deletes the subnet. While interfaces remain in it (an instance, a NAT gateway, the ENIs
    /// MSK, MSK Connect and MWAA leave behind for minutes) EC2 answers `DependencyViolation`:
    /// [`ProviderError::InUse`], retried by the engine.
    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&SubnetProps>,
    ) -> Result<(), ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .delete_subnet()
            .subnet_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            Err(e) => Err(name_holders(
                self.clients.ec2().await,
                delete_error("DeleteSubnet", &format!("subnet {id}"), e),
                "subnet-id",
                id,
            )
            .await),
        }
    }
}
