//! `ec2.nat_gateway`: a public NAT gateway in a public subnet, with an Elastic IP of its own
//! that the provider allocates with it and releases after it (Terraform's `aws_nat_gateway`
//! together with its `aws_eip`).
//!
//! A NAT gateway is `pending` for a minute or more after CreateNatGateway, then `available`
//! (or `failed`, with a reason); after DeleteNatGateway it is `deleting`, then `deleted` (and
//! still listed for about an hour). Its Elastic IP can be released only once it is `deleted`
//! (EC2 User Guide, "NAT gateways": https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-working-with.html).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, NatGateway, NatGatewayState, ResourceType};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{filter, owned_filters, sync_tags, tag_spec, user_tags};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, CompositeId, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for a NAT gateway that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"]);

/// What EC2 answers for an Elastic IP allocation that is not there.
const EIP_NOT_FOUND: Absent = Absent::Codes(&["InvalidAllocationID.NotFound"]);

/// `nat-123|eipalloc-456`: the gateway and the Elastic IP allocated for it, so a delete
/// releases the address it made.
const ID: CompositeId = CompositeId::new("NAT gateway", '|');

/// Registers `ec2.nat_gateway` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.nat_gateway",
            "A public NAT gateway in a public subnet, with its own Elastic IP (the private subnets' way out)",
        )
        .schema::<NatGatewayProps>()
        .outputs(&["id", "allocation_id", "public_ip", "private_ip"])
        .replace(&[("subnet_id", "a NAT gateway cannot move to another subnet")])
        .timeout(Duration::from_secs(900)),
        |env| NatGatewayProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.nat_gateway`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatGatewayProps {
    /// A public subnet (its route table sends `0.0.0.0/0` to an internet gateway).
    pub subnet_id: String,
    /// Tags besides pinctl's own, on the gateway and its Elastic IP.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct NatGatewayProvider {
    pub clients: Arc<Clients>,
}

impl NatGatewayProvider {
    async fn describe(&self, nat: &str) -> Result<Option<NatGateway>, ProviderError> {
        if nat.is_empty() {
            return Ok(None);
        }
        Ok(self
            .clients
            .ec2()
            .await
            .describe_nat_gateways()
            .nat_gateway_ids(nat)
            .send()
            .await
            .or_absent("DescribeNatGateways", NOT_FOUND)?
            .and_then(|o| o.nat_gateways().first().cloned()))
    }

    /// An Elastic IP for the gateway: one an interrupted creation of this resource allocated
    /// and left unassociated, else a new one, tagged as this resource's.
    async fn address(&self, cx: &Cx, p: &NatGatewayProps) -> Result<String, ProviderError> {
        let ec2 = self.clients.ec2().await;
        let mine = ec2
            .describe_addresses()
            .set_filters(Some(owned_filters(cx)))
            .send()
            .await
            .map_err(|e| api_error("DescribeAddresses", e))?;
        if let Some(a) = mine
            .addresses()
            .iter()
            .find(|a| a.association_id().is_none())
            .and_then(|a| a.allocation_id())
        {
            return Ok(a.to_string());
        }
        let out = ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(cx, ResourceType::ElasticIp, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("AllocateAddress", e))?;
        out.allocation_id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "AllocateAddress".into(),
                missing: "AllocationId".into(),
            })
    }

    /// Releases the gateway's Elastic IP; `false` while EC2 still holds it for the gateway
    /// being deleted (`InvalidIPAddress.InUse`, or `AuthFailure` as EC2 answers for an address
    /// a service still uses).
    async fn release(&self, allocation: &str) -> Result<bool, ProviderError> {
        if allocation.is_empty() {
            return Ok(true);
        }
        match self
            .clients
            .ec2()
            .await
            .release_address()
            .allocation_id(allocation)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if EIP_NOT_FOUND.matches(&e) => Ok(true),
            Err(e) if matches!(code_of(&e), Some("InvalidIPAddress.InUse" | "AuthFailure")) => {
                Ok(false)
            }
            Err(e) => Err(api_error("ReleaseAddress", e)),
        }
    }

    fn outputs(g: &NatGateway) -> Map<String, Value> {
        let addr = g.nat_gateway_addresses().first();
        let text = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.into()));
        let mut m = Map::new();
        m.insert("id".into(), text(g.nat_gateway_id()));
        m.insert(
            "allocation_id".into(),
            text(addr.and_then(|a| a.allocation_id())),
        );
        m.insert("public_ip".into(), text(addr.and_then(|a| a.public_ip())));
        m.insert("private_ip".into(), text(addr.and_then(|a| a.private_ip())));
        m
    }
}

/// Whether the gateway is gone for good (or going).
fn gone(g: &NatGateway) -> bool {
    matches!(
        g.state(),
        Some(NatGatewayState::Deleted | NatGatewayState::Deleting)
    )
}

#[async_trait]
impl TypedProvider for NatGatewayProvider {
    type Props = NatGatewayProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&NatGatewayProps>,
    ) -> Result<Option<Observed<NatGatewayProps>>, ProviderError> {
        let (nat, _) = ID.split(id);
        let Some(g) = self.describe(nat).await?.filter(|g| !gone(g)) else {
            return Ok(None);
        };
        let live = NatGatewayProps {
            subnet_id: g.subnet_id().unwrap_or_default().into(),
            tags: user_tags(g.tags()),
        };
        Ok(Some(Observed::new(live, Self::outputs(&g))))
    }

    async fn adopt(&self, cx: &Cx, p: &NatGatewayProps) -> Result<Option<String>, ProviderError> {
        Ok(self
            .find(cx, p)
            .await?
            .into_iter()
            .next()
            .map(|f| f.physical_id))
    }

    async fn find(&self, cx: &Cx, p: &NatGatewayProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_nat_gateways()
                .set_filter(Some(filters))
                .filter(filter("state", &["pending", "available"]))
                .send()
                .await
                .map_err(|e| api_error("DescribeNatGateways", e))?;
            Ok(out
                .nat_gateways()
                .iter()
                .filter_map(|item| {
                    let nat = item.nat_gateway_id()?;
                    let alloc = item
                        .nat_gateway_addresses()
                        .first()
                        .and_then(|a| a.allocation_id())
                        .unwrap_or_default();
                    Some(ID.join(&[nat, alloc]))
                })
                .collect())
        })
        .await
    }

    /// Allocates the Elastic IP, then asks for the gateway with the creation's token as
    /// CreateNatGateway's idempotency token.
    async fn create(&self, cx: &Cx, p: &NatGatewayProps) -> Result<String, ProviderError> {
        let allocation = self.address(cx, p).await?;
        let out = self
            .clients
            .ec2()
            .await
            .create_nat_gateway()
            .subnet_id(&p.subnet_id)
            .allocation_id(&allocation)
            .client_token(&cx.token)
            .tag_specifications(tag_spec(cx, ResourceType::Natgateway, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("CreateNatGateway", e))?;
        let nat = out
            .nat_gateway()
            .and_then(|g| g.nat_gateway_id())
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateNatGateway".into(),
                missing: "NatGatewayId".into(),
            })?;
        Ok(ID.join(&[nat, &allocation]))
    }

    /// `pending` → `available` (ready) or `failed` (with EC2's failure message).
    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (nat, _) = ID.split(id);
        Ok(match self.describe(nat).await? {
            None => not_visible_yet(),
            Some(g) => match g.state() {
                Some(NatGatewayState::Available) => Poll::Ready(Self::outputs(&g)),
                Some(NatGatewayState::Failed) => Poll::Failed(format!(
                    "{}: {}",
                    g.failure_code().unwrap_or("Failed"),
                    g.failure_message().unwrap_or("the NAT gateway failed")
                )),
                Some(s) => Poll::Pending(s.as_str().to_string()),
                None => Poll::Pending("unknown".into()),
            },
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        _old: Option<&NatGatewayProps>,
        p: &NatGatewayProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let (nat, _) = ID.split(id);
        let Some(g) = self.describe(nat).await? else {
            return Err(ProviderError::not_found(format!("NAT gateway {nat}")));
        };
        sync_tags(
            self.clients.ec2().await,
            nat,
            cx,
            &user_tags(g.tags()),
            &p.tags,
        )
        .await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&NatGatewayProps>,
    ) -> Result<(), ProviderError> {
        let (nat, _) = ID.split(id);
        if nat.is_empty() {
            return Ok(());
        }
        self.clients
            .ec2()
            .await
            .delete_nat_gateway()
            .nat_gateway_id(nat)
            .send()
            .await
            .gone_ok("DeleteNatGateway", NOT_FOUND)
    }

    /// Deleted once EC2 reports the gateway `deleted` (or no longer knows it) and its Elastic
    /// IP has been released.
    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        let (nat, alloc) = ID.split(id);
        let done = self
            .describe(nat)
            .await?
            .is_none_or(|g| g.state() == Some(&NatGatewayState::Deleted));
        if !done {
            return Ok(false);
        }
        self.release(alloc.unwrap_or_default()).await
    }
}
