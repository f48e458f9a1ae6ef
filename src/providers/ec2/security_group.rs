//! `ec2.security_group`: a security group and its inbound rules.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, PrefixListId, ResourceType, UserIdGroupPair};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{delete_error, filter, name_holders, tag_map, tag_spec};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// What EC2 answers for a security group that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["InvalidGroup.NotFound"]);

/// Registers `ec2.security_group` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
KindInfo::new("ec2.security_group", "A security group: SSH from a declared range, the REST proxy port from API Gateway's side")
    .schema::<SecurityGroupProps>()
    .outputs(&["id", "arn"])
    .replace(&[
                ("name", "a security group cannot be renamed"),
                ("description", "a security group's description cannot be changed"),
                ("vpc_id", "a security group cannot move to another VPC"),
            ])
    // EC2 lists the rules grouped its own way (DescribeSecurityGroups' IpPermissions).
    .sets(&["ingress"])
    // Longer than the 15 minutes `clients::propagation` waits for lingering ENIs, so a delete
    // that outlasts them fails with EC2's DependencyViolation, not a bare timeout.
    .timeout(Duration::from_secs(1200)),
        |env| SecurityGroupProvider {
                clients: env.clients.clone(),
},
    );
}

/// One inbound rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    #[serde(default = "tcp")]
    pub protocol: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<u16>,
    /// Allowed source range; `0.0.0.0/0` must be asked for explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// Allowed source security group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_security_group: Option<String>,
    /// Allowed source managed prefix list id (e.g. a service's ranges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list: Option<String>,
}

fn tcp() -> String {
    "tcp".into()
}

/// Props of `ec2.security_group`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupProps {
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// Members of the group may reach each other on every port (MSK brokers and clients).
    #[serde(default)]
    pub allow_self: bool,
}

pub struct SecurityGroupProvider {
    pub clients: Arc<Clients>,
}

/// One source of one rule, the unit the provider compares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RuleKey {
    protocol: String,
    from: Option<i32>,
    to: Option<i32>,
    cidr: Option<String>,
    group: Option<String>,
    prefix_list: Option<String>,
    description: Option<String>,
}

fn key_of(r: &IngressRule) -> RuleKey {
    let all = r.protocol == "-1";
    RuleKey {
        protocol: r.protocol.clone(),
        from: (!all).then_some(i32::from(r.port)),
        to: (!all).then_some(i32::from(r.to_port.unwrap_or(r.port))),
        cidr: r.cidr.clone(),
        group: r.source_security_group.clone(),
        prefix_list: r.prefix_list.clone(),
        description: r.description.clone(),
    }
}

fn rule_of(k: &RuleKey) -> IngressRule {
    IngressRule {
        description: k.description.clone(),
        protocol: k.protocol.clone(),
        port: k.from.unwrap_or(0) as u16,
        to_port: match (k.from, k.to) {
            (Some(f), Some(t)) if f != t => Some(t as u16),
            _ => None,
        },
        cidr: k.cidr.clone(),
        source_security_group: k.group.clone(),
        prefix_list: k.prefix_list.clone(),
    }
}

fn permission_of(k: &RuleKey) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol(&k.protocol)
        .set_from_port(k.from)
        .set_to_port(k.to);
    if let Some(c) = &k.cidr {
        p = p.ip_ranges(
            IpRange::builder()
                .cidr_ip(c)
                .set_description(k.description.clone())
                .build(),
        );
    }
    if let Some(g) = &k.group {
        p = p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(k.description.clone())
                .build(),
        );
    }
    if let Some(pl) = &k.prefix_list {
        p = p.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(pl)
                .set_description(k.description.clone())
                .build(),
        );
    }
    p.build()
}

fn flatten(perms: &[IpPermission]) -> Vec<RuleKey> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let all = protocol == "-1";
        let (from, to) = if all {
            (None, None)
        } else {
            (p.from_port(), p.to_port())
        };
        let base = RuleKey {
            protocol,
            from,
            to,
            cidr: None,
            group: None,
            prefix_list: None,
            description: None,
        };
        for r in p.ip_ranges() {
            out.push(RuleKey {
                cidr: r.cidr_ip().map(str::to_string),
                description: r.description().map(str::to_string),
                ..base.clone()
            });
        }
        for g in p.user_id_group_pairs() {
            out.push(RuleKey {
                group: g.group_id().map(str::to_string),
                description: g.description().map(str::to_string),
                ..base.clone()
            });
        }
        for pl in p.prefix_list_ids() {
            out.push(RuleKey {
                prefix_list: pl.prefix_list_id().map(str::to_string),
                description: pl.description().map(str::to_string),
                ..base.clone()
            });
        }
    }
    out
}

fn self_rule(group_id: &str) -> RuleKey {
    RuleKey {
        protocol: "-1".into(),
        from: None,
        to: None,
        cidr: None,
        group: Some(group_id.into()),
        prefix_list: None,
        description: Some("members of the group".into()),
    }
}

fn wanted(p: &SecurityGroupProps, group_id: &str) -> Vec<RuleKey> {
    let mut v: Vec<RuleKey> = p.ingress.iter().map(key_of).collect();
    if p.allow_self {
        v.push(self_rule(group_id));
    }
    v
}

impl SecurityGroupProvider {
    async fn describe(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
        Ok(self
            .clients
            .ec2()
            .await
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .or_absent("DescribeSecurityGroups", NOT_FOUND)?
            .and_then(|out| out.security_groups().first().cloned()))
    }

    async fn outputs(&self, g: &aws_sdk_ec2::types::SecurityGroup) -> Map<String, Value> {
        let region = self.clients.region().await;
        let id = g.group_id().unwrap_or_default();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!(
                "arn:aws:ec2:{region}:{}:security-group/{id}",
                g.owner_id().unwrap_or_default()
            )),
        );
        m
    }

    async fn sync_rules(&self, group_id: &str, want: &[RuleKey]) -> Result<(), ProviderError> {
        let ec2 = self.clients.ec2().await;
        let have = match self.describe(group_id).await? {
            Some(g) => flatten(g.ip_permissions()),
            None => {
                return Err(ProviderError::not_found(format!(
                    "security group {group_id}"
                )))
            }
        };
        let revoke: Vec<IpPermission> = have
            .iter()
            .filter(|k| !want.contains(k))
            .map(permission_of)
            .collect();
        let grant: Vec<IpPermission> = want
            .iter()
            .filter(|k| !have.contains(k))
            .map(permission_of)
            .collect();
        if !revoke.is_empty() {
            ec2.revoke_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(revoke))
                .send()
                .await
                .map_err(|e| api_error("RevokeSecurityGroupIngress", e))?;
        }
        if !grant.is_empty() {
            let req = ec2
                .authorize_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(grant));
            settled("AuthorizeSecurityGroupIngress", || req.clone().send()).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TypedProvider for SecurityGroupProvider {
    type Props = SecurityGroupProps;

    /// By name in the stack's VPC (any VPC while the VPC is not known), or by the stack's tags.
    async fn find(&self, cx: &Cx, p: &SecurityGroupProps) -> Result<Vec<Found>, ProviderError> {
        let ec2 = self.clients.ec2().await;
        let mut named = ec2
            .describe_security_groups()
            .filters(filter("group-name", &[&p.name]));
        if let Some(vpc) = p
            .vpc_id
            .as_deref()
            .filter(|v| *v != crate::stack::resolve::UNKNOWN)
        {
            named = named.filters(filter("vpc-id", &[vpc]));
        }
        let named = named
            .send()
            .await
            .map_err(|e| api_error("DescribeSecurityGroups", e))?;
        let mut found: Vec<Found> = named
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(|id| Found::named(id, &p.name)))
            .collect();
        let tagged = ec2
            .describe_security_groups()
            .set_filters(Some(super::owned_filters(cx)))
            .send()
            .await
            .map_err(|e| api_error("DescribeSecurityGroups", e))?;
        for g in tagged.security_groups() {
            if let Some(id) = g.group_id() {
                if !found.iter().any(|f| f.physical_id == id) {
                    found.push(Found::tagged(id));
                }
            }
        }
        Ok(found)
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&SecurityGroupProps>,
    ) -> Result<Option<Observed<SecurityGroupProps>>, ProviderError> {
        let Some(g) = self.describe(id).await? else {
            return Ok(None);
        };
        let mut have = flatten(g.ip_permissions());
        let allow_self = match have
            .iter()
            .position(|k| k.protocol == "-1" && k.group.as_deref() == Some(id))
        {
            Some(i) => {
                have.remove(i);
                true
            }
            None => false,
        };
        // Report rules in the recorded order so an unchanged group compares equal.
        let recorded_rules: Vec<RuleKey> = recorded
            .map(|r| r.ingress.iter().map(key_of).collect())
            .unwrap_or_default();
        let mut ordered: Vec<RuleKey> = recorded_rules
            .iter()
            .filter(|k| have.contains(k))
            .cloned()
            .collect();
        ordered.extend(have.iter().filter(|k| !recorded_rules.contains(k)).cloned());
        let live = SecurityGroupProps {
            name: g.group_name().unwrap_or_default().into(),
            description: g.description().unwrap_or_default().into(),
            vpc_id: g.vpc_id().map(str::to_string),
            ingress: ordered.iter().map(rule_of).collect(),
            allow_self,
        };
        Ok(Some(Observed::new(live, self.outputs(&g).await)))
    }

    async fn create(&self, cx: &Cx, p: &SecurityGroupProps) -> Result<String, ProviderError> {
        let ec2 = self.clients.ec2().await;
        let created = ec2
            .create_security_group()
            .group_name(&p.name)
            .description(&p.description)
            .set_vpc_id(p.vpc_id.clone())
            .tag_specifications(tag_spec(cx, ResourceType::SecurityGroup, &BTreeMap::new()))
            .send()
            .await;
        let id = match created {
            Ok(out) => out.group_id().unwrap_or_default().to_string(),
            Err(e) if code_of(&e) == Some("InvalidGroup.Duplicate") => {
                let mut req = ec2
                    .describe_security_groups()
                    .filters(filter("group-name", &[&p.name]));
                if let Some(v) = &p.vpc_id {
                    req = req.filters(filter("vpc-id", &[v]));
                }
                let out = req
                    .send()
                    .await
                    .map_err(|e| api_error("DescribeSecurityGroups", e))?;
                let g = out
                    .security_groups()
                    .first()
                    .ok_or_else(|| not_ours("security group", &p.name))?;
                if !owned_by(&tag_map(g.tags()), cx) {
                    return Err(not_ours("security group", &p.name));
                }
                g.group_id().unwrap_or_default().to_string()
            }
            Err(e) => return Err(api_error("CreateSecurityGroup", e)),
        };
        // A new group is not always visible at once (Terraform waits for it to read back).
        let req = ec2.describe_security_groups().group_ids(&id);
        settled("DescribeSecurityGroups", || req.clone().send()).await?;
        self.sync_rules(&id, &wanted(p, &id)).await?;
        Ok(id)
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(g) => Poll::Ready(self.outputs(&g).await),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        _old: Option<&SecurityGroupProps>,
        p: &SecurityGroupProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.sync_rules(id, &wanted(p, id)).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&SecurityGroupProps>,
    ) -> Result<(), ProviderError> {
        let ec2 = self.clients.ec2().await;
        // ENIs of a deleted instance, cluster, connector or environment keep the group in use
        // for a while: waited out (see `clients::propagation`).
        let req = ec2.delete_security_group().group_id(id);
        match settle("DeleteSecurityGroup", || req.clone().send()).await {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            Err(e) => Err(name_holders(
                ec2,
                delete_error("DeleteSecurityGroup", &format!("security group {id}"), e),
                "group-id",
                id,
            )
            .await),
        }
    }
}
