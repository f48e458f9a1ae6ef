//! EC2: the default network, key pair, security group and the client instance.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::KindInfo;

/// Props of `ec2.default_network` (it looks up; it never creates or deletes anything).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultNetworkProps {
    /// How many default subnets to return (in distinct availability zones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_count: Option<u32>,
}

/// Props of `ec2.key_pair`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPairProps {
    pub name: String,
    /// Where the private key is written once, mode 0600. It is never stored in state.
    pub private_key_file: String,
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

/// Props of `ec2.instance`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceProps {
    /// An AMI id; or leave it out and give `ami_ssm_parameter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami: Option<String>,
    /// A public SSM parameter naming the AMI, e.g.
    /// `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_ssm_parameter: Option<String>,
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Default: a default subnet of the default VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// Rendered from `templates/`; a change is applied by stop, modify, start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume_gib: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    r.add(
        KindInfo::new(
            "ec2.default_network",
            "Looks up the default VPC and its subnets (creates and deletes nothing)",
        )
        .schema::<DefaultNetworkProps>()
        .outputs(&["vpc_id", "subnet_ids", "subnet_id", "cidr"])
        .timeout(Duration::from_secs(120)),
        |info, env| {
            Arc::new(DefaultNetworkProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
        KindInfo::new(
            "ec2.key_pair",
            "An EC2 key pair; the private key goes to a 0600 file, never to state",
        )
        .schema::<KeyPairProps>()
        .outputs(&["id", "fingerprint"])
        .replace(&[
            ("name", "a key pair cannot be renamed"),
            (
                "private_key_file",
                "the private key exists only once, when the key pair is created",
            ),
        ])
        .timeout(Duration::from_secs(120)),
        |info, env| {
            Arc::new(KeyPairProvider {
                info,
                clients: env.clients.clone(),
                root: env.root.clone(),
            })
        },
    );
    r.add(
KindInfo::new("ec2.security_group", "A security group: SSH from a declared range, the REST proxy port from API Gateway's side")
    .schema::<SecurityGroupProps>()
    .outputs(&["id", "arn"])
    .replace(&[
                ("name", "a security group cannot be renamed"),
                ("description", "a security group's description cannot be changed"),
                ("vpc_id", "a security group cannot move to another VPC"),
            ])
    .timeout(Duration::from_secs(600)),
        |info, env| Arc::new(SecurityGroupProvider { info, clients: env.clients.clone() }),
    );
    r.add(
        KindInfo::new(
            "ec2.instance",
            "The EC2 client instance: AMI, type, profile, user-data from templates/",
        )
        .schema::<InstanceProps>()
        .outputs(&["id", "arn", "public_dns", "public_ip", "private_ip"])
        .replace(&[
            ("ami", "an instance cannot change its AMI"),
            ("ami_ssm_parameter", "a different AMI needs a new instance"),
            ("subnet_id", "an instance cannot move to another subnet"),
            ("key_name", "the key pair is fixed at launch"),
            ("root_volume_gib", "the root volume is fixed at launch"),
        ])
        .timeout(Duration::from_secs(900)),
        |info, env| {
            Arc::new(InstanceProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
}

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IamInstanceProfileSpecification, InstanceStateName, IpPermission, IpRange,
    PrefixListId, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{json, not_ours, owned_by, typed};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};

fn tag_spec(cx: &Cx, kind: ResourceType, extra: &BTreeMap<String, String>) -> TagSpecification {
    let mut tags = cx.tags();
    tags.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

// ── ec2.default_network ─────────────────────────────────────────────────────────────────

/// `vpc-123#2` → (`vpc-123`, Some(2)).
fn network_id(id: &str) -> (&str, Option<usize>) {
    match id.split_once('#') {
        Some((vpc, n)) => (vpc, n.parse().ok()),
        None => (id, None),
    }
}

pub struct DefaultNetworkProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

#[async_trait]
impl Provider for DefaultNetworkProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let (vpc_id, _) = network_id(id);
        match self
            .clients
            .ec2()
            .await
            .describe_vpcs()
            .vpc_ids(vpc_id)
            .send()
            .await
        {
            Ok(out) if !out.vpcs().is_empty() => match self.poll(cx, id).await? {
                Poll::Ready(outputs) => Ok(Some(Live {
                    props: recorded.clone(),
                    outputs,
                })),
                _ => Ok(None),
            },
            Ok(_) => Ok(None),
            Err(e) if code_of(&e) == Some("InvalidVpcID.NotFound") => Ok(None),
            Err(e) => Err(api_error("DescribeVpcs", e)),
        }
    }

    async fn create(&self, _cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: DefaultNetworkProps = typed(props)?;
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
            Some(n) => format!("{vpc}#{n}"),
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

    async fn update(
        &self,
        _cx: &Cx,
        _id: &str,
        _old: &Value,
        _new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, _id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        // The default VPC is not the stack's: forgetting it is all `down` does.
        Ok(())
    }

    async fn is_deleted(&self, _cx: &Cx, _id: &str) -> Result<bool, ProviderError> {
        Ok(true)
    }
}

// ── ec2.key_pair ────────────────────────────────────────────────────────────────────────

pub struct KeyPairProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

impl KeyPairProvider {
    async fn describe(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::KeyPairInfo>, ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .describe_key_pairs()
            .key_pair_ids(id)
            .send()
            .await
        {
            // Matched by id here too: moto does not filter by key pair id.
            Ok(out) => Ok(out
                .key_pairs()
                .iter()
                .find(|k| k.key_pair_id() == Some(id))
                .cloned()),
            Err(e) if code_of(&e) == Some("InvalidKeyPair.NotFound") => Ok(None),
            Err(e) => Err(api_error("DescribeKeyPairs", e)),
        }
    }

    fn outputs(k: &aws_sdk_ec2::types::KeyPairInfo) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "id".into(),
            Value::String(k.key_pair_id().unwrap_or_default().into()),
        );
        m.insert(
            "fingerprint".into(),
            Value::String(k.key_fingerprint().unwrap_or_default().into()),
        );
        m
    }
}

fn write_private_key(path: &std::path::Path, material: &str) -> Result<(), ProviderError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ProviderError::io(dir.display(), e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            ProviderError::io(format!("writing the private key to {}", path.display()), e)
        })?;
    f.write_all(material.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| ProviderError::io(format!("writing the private key to {}", path.display()), e))
}

#[async_trait]
impl Provider for KeyPairProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        Ok(self.describe(id).await?.map(|k| {
            let mut props = recorded.clone();
            if let Value::Object(m) = &mut props {
                m.insert(
                    "name".into(),
                    Value::String(k.key_name().unwrap_or_default().into()),
                );
            }
            Live {
                props,
                outputs: Self::outputs(&k),
            }
        }))
    }

    async fn adopt(&self, cx: &Cx, props: &Value) -> Result<Option<String>, ProviderError> {
        let p: KeyPairProps = typed(props)?;
        let describe = || async {
            self.clients
                .ec2()
                .await
                .describe_key_pairs()
                .key_names(&p.name)
                .send()
                .await
        };
        let mut found = describe().await;
        if matches!(&found, Err(e) if code_of(e) == Some("InvalidKeyPair.NotFound")) {
            // The interrupted run's CreateKeyPair may still be in flight (generating a key takes
            // a while): let it land before deciding nothing was created, or a late arrival
            // could replace the key pair made now under the same name.
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            found = describe().await;
        }
        match found {
            Ok(out) => {
                let Some(k) = out.key_pairs().first() else {
                    return Ok(None);
                };
                if !owned_by(&tag_map(k.tags()), cx) {
                    return Err(not_ours("key pair", &p.name));
                }
                if !self.root.join(&p.private_key_file).exists() {
                    // Created by a run that died before saving the private key: nobody can use
                    // it, so it is replaced rather than adopted.
                    tracing::warn!(
                        "key pair `{}` was created by an interrupted run whose private key was never saved; making a new one",
                        p.name
                    );
                    self.clients
                        .ec2()
                        .await
                        .delete_key_pair()
                        .key_name(&p.name)
                        .send()
                        .await
                        .map_err(|e| api_error("DeleteKeyPair", e))?;
                    return Ok(None);
                }
                Ok(k.key_pair_id().map(str::to_string))
            }
            Err(e) if code_of(&e) == Some("InvalidKeyPair.NotFound") => Ok(None),
            Err(e) => Err(api_error("DescribeKeyPairs", e)),
        }
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: KeyPairProps = typed(props)?;
        let path = self.root.join(&p.private_key_file);
        if path.exists() {
            return Err(ProviderError::Invalid(format!(
                "{} already exists; pinctl writes a new private key only to a new file",
                path.display()
            )));
        }
        let create = || async {
            self.clients
                .ec2()
                .await
                .create_key_pair()
                .key_name(&p.name)
                .tag_specifications(tag_spec(cx, ResourceType::KeyPair, &BTreeMap::new()))
                .send()
                .await
        };
        let out = match create().await {
            Ok(out) => out,
            // The interrupted run's own CreateKeyPair may land only now: look again.
            Err(e) if cx.resuming && code_of(&e) == Some("InvalidKeyPair.Duplicate") => {
                if path.exists() {
                    if let Some(id) = self.adopt(cx, props).await? {
                        return Ok(id);
                    }
                }
                // Without its private key it is useless: adopt() removed it; make it anew.
                let _ = self.adopt(cx, props).await?;
                create().await.map_err(|e| api_error("CreateKeyPair", e))?
            }
            Err(e) => return Err(api_error("CreateKeyPair", e)),
        };
        write_private_key(&path, out.key_material().unwrap_or_default())?;
        out.key_pair_id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateKeyPair", "a key pair id"))
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(k) => Poll::Ready(Self::outputs(&k)),
            None => Poll::Pending("not visible yet".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        _id: &str,
        _old: &Value,
        _new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, recorded: &Value) -> Result<(), ProviderError> {
        // By name when known: moto deletes key pairs only by name.
        let name = recorded.get("name").and_then(Value::as_str);
        let mut req = self.clients.ec2().await.delete_key_pair();
        req = match name {
            Some(n) => req.key_name(n),
            None => req.key_pair_id(id),
        };
        match req.send().await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("InvalidKeyPair.NotFound") => {}
            Err(e) => return Err(api_error("DeleteKeyPair", e)),
        }
        // The private key of a deleted key pair opens nothing; it is removed with it.
        if let Some(file) = recorded.get("private_key_file").and_then(Value::as_str) {
            let _ = std::fs::remove_file(self.root.join(file));
        }
        Ok(())
    }
}

// ── ec2.security_group ──────────────────────────────────────────────────────────────────

pub struct SecurityGroupProvider {
    pub info: KindInfo,
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
        match self
            .clients
            .ec2()
            .await
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.security_groups().first().cloned()),
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => Ok(None),
            Err(e) => Err(api_error("DescribeSecurityGroups", e)),
        }
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
            ec2.authorize_security_group_ingress()
                .group_id(group_id)
                .set_ip_permissions(Some(grant))
                .send()
                .await
                .map_err(|e| api_error("AuthorizeSecurityGroupIngress", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for SecurityGroupProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
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
            .get("ingress")
            .and_then(|v| serde_json::from_value::<Vec<IngressRule>>(v.clone()).ok())
            .unwrap_or_default()
            .iter()
            .map(key_of)
            .collect();
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
        Ok(Some(Live {
            props: json(&live),
            outputs: self.outputs(&g).await,
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: SecurityGroupProps = typed(props)?;
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
        self.sync_rules(&id, &wanted(&p, &id)).await?;
        Ok(id)
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(g) => Poll::Ready(self.outputs(&g).await),
            None => Poll::Pending("not visible yet".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        _old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let p: SecurityGroupProps = typed(new)?;
        self.sync_rules(id, &wanted(&p, id)).await?;
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let ec2 = self.clients.ec2().await;
        let mut backoff = crate::engine::backoff::Backoff::new(
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(20),
        );
        loop {
            match ec2.delete_security_group().group_id(id).send().await {
                Ok(_) => return Ok(()),
                Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => return Ok(()),
                // Still used by an instance that is shutting down: wait (the engine's timeout bounds it).
                Err(e) if code_of(&e) == Some("DependencyViolation") => {
                    tracing::debug!("security group {id} still in use; retrying");
                    backoff.sleep().await;
                }
                Err(e) => return Err(api_error("DeleteSecurityGroup", e)),
            }
        }
    }
}

// ── ec2.instance ────────────────────────────────────────────────────────────────────────

pub struct InstanceProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

impl InstanceProvider {
    async fn describe(
        &self,
        id: &str,
    ) -> Result<Option<(aws_sdk_ec2::types::Instance, String)>, ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.reservations().iter().find_map(|r| {
                r.instances()
                    .first()
                    .map(|i| (i.clone(), r.owner_id().unwrap_or_default().to_string()))
            })),
            Err(e) if code_of(&e) == Some("InvalidInstanceID.NotFound") => Ok(None),
            Err(e) => Err(api_error("DescribeInstances", e)),
        }
    }

    async fn outputs(&self, i: &aws_sdk_ec2::types::Instance, owner: &str) -> Map<String, Value> {
        let region = self.clients.region().await;
        let id = i.instance_id().unwrap_or_default();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!("arn:aws:ec2:{region}:{owner}:instance/{id}")),
        );
        m.insert(
            "public_dns".into(),
            Value::String(i.public_dns_name().unwrap_or_default().into()),
        );
        m.insert(
            "public_ip".into(),
            Value::String(i.public_ip_address().unwrap_or_default().into()),
        );
        m.insert(
            "private_ip".into(),
            Value::String(i.private_ip_address().unwrap_or_default().into()),
        );
        m
    }

    async fn ami(&self, p: &InstanceProps) -> Result<String, ProviderError> {
        if let Some(a) = &p.ami {
            return Ok(a.clone());
        }
        let Some(param) = &p.ami_ssm_parameter else {
            return Err(ProviderError::Invalid(
                "give `ami` or `ami_ssm_parameter`".into(),
            ));
        };
        let out = self
            .clients
            .ssm()
            .await
            .get_parameter()
            .name(param)
            .send()
            .await
            .map_err(|e| api_error("GetParameter", e))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::bad_response("GetParameter", &format!("a value for {param}"))
            })
    }

    async fn wait_state(&self, id: &str, want: InstanceStateName) -> Result<(), ProviderError> {
        let mut backoff = crate::engine::backoff::Backoff::new(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(10),
        );
        loop {
            let state = self
                .describe(id)
                .await?
                .and_then(|(i, _)| i.state().and_then(|s| s.name().cloned()));
            if state.as_ref() == Some(&want) {
                return Ok(());
            }
            backoff.sleep().await;
        }
    }
}

fn alive(i: &aws_sdk_ec2::types::Instance) -> bool {
    !matches!(
        i.state().and_then(|s| s.name()),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

fn profile_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

#[async_trait]
impl Provider for InstanceProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let Some((i, owner)) = self.describe(id).await? else {
            return Ok(None);
        };
        if !alive(&i) {
            return Ok(None);
        }
        let ec2 = self.clients.ec2().await;
        let user_data = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(|e| api_error("DescribeInstanceAttribute", e))?
            .user_data()
            .and_then(|u| u.value())
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let rec: Option<InstanceProps> = typed(recorded).ok();
        let mut groups: Vec<String> = i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        if let Some(r) = &rec {
            let mut a = groups.clone();
            let mut b = r.security_group_ids.clone();
            a.sort();
            b.sort();
            if a == b {
                groups = r.security_group_ids.clone();
            }
        }
        let tags = tag_map(i.tags());
        let live = InstanceProps {
            ami: rec
                .as_ref()
                .and_then(|r| r.ami.as_ref())
                .map(|_| i.image_id().unwrap_or_default().to_string()),
            ami_ssm_parameter: rec.as_ref().and_then(|r| r.ami_ssm_parameter.clone()),
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            key_name: i.key_name().map(str::to_string),
            security_group_ids: groups,
            subnet_id: i.subnet_id().map(str::to_string),
            instance_profile: i
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(profile_name),
            user_data,
            root_volume_gib: rec.as_ref().and_then(|r| r.root_volume_gib),
            tags: rec
                .as_ref()
                .map(|r| {
                    r.tags
                        .keys()
                        .filter_map(|k| Some((k.clone(), tags.get(k)?.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(Some(Live {
            props: json(&live),
            outputs: self.outputs(&i, &owner).await,
        }))
    }

    async fn adopt(&self, cx: &Cx, _props: &Value) -> Result<Option<String>, ProviderError> {
        let tags = cx.tags();
        let mut req = self
            .clients
            .ec2()
            .await
            .describe_instances()
            .filters(filter(
                "instance-state-name",
                &["pending", "running", "stopping", "stopped"],
            ));
        for (k, v) in &tags {
            req = req.filters(filter(&format!("tag:{k}"), &[v]));
        }
        let out = req
            .send()
            .await
            .map_err(|e| api_error("DescribeInstances", e))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.instance_id().map(str::to_string)))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: InstanceProps = typed(props)?;
        let ami = self.ami(&p).await?;
        let ec2 = self.clients.ec2().await;
        let mut req = ec2
            .run_instances()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                p.instance_type.as_str(),
            ))
            .min_count(1)
            .max_count(1)
            .client_token(&cx.token)
            .set_key_name(p.key_name.clone())
            .set_security_group_ids(
                (!p.security_group_ids.is_empty()).then(|| p.security_group_ids.clone()),
            )
            .set_subnet_id(p.subnet_id.clone())
            .tag_specifications(tag_spec(cx, ResourceType::Instance, &p.tags));
        if let Some(profile) = &p.instance_profile {
            req = req.iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            );
        }
        if let Some(ud) = &p.user_data {
            req = req.user_data(base64::engine::general_purpose::STANDARD.encode(ud));
        }
        if let Some(gib) = p.root_volume_gib {
            let images = ec2
                .describe_images()
                .image_ids(&ami)
                .send()
                .await
                .map_err(|e| api_error("DescribeImages", e))?;
            let device = images
                .images()
                .first()
                .and_then(|i| i.root_device_name())
                .unwrap_or("/dev/xvda")
                .to_string();
            req = req.block_device_mappings(
                aws_sdk_ec2::types::BlockDeviceMapping::builder()
                    .device_name(device)
                    .ebs(
                        aws_sdk_ec2::types::EbsBlockDevice::builder()
                            .volume_size(gib as i32)
                            .build(),
                    )
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| api_error("RunInstances", e))?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id().map(str::to_string))
            .ok_or_else(|| ProviderError::bad_response("RunInstances", "an instance"))
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let Some((i, owner)) = self.describe(id).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        Ok(match i.state().and_then(|s| s.name()) {
            Some(InstanceStateName::Running) => Poll::Ready(self.outputs(&i, &owner).await),
            Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown) => Poll::Failed(
                i.state_reason()
                    .and_then(|r| r.message())
                    .unwrap_or("terminated")
                    .to_string(),
            ),
            Some(other) => Poll::Pending(other.as_str().to_string()),
            None => Poll::Pending("unknown".into()),
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let p: InstanceProps = typed(new)?;
        let o: InstanceProps = typed(old)?;
        let ec2 = self.clients.ec2().await;
        let needs_stop = p.instance_type != o.instance_type || p.user_data != o.user_data;
        if needs_stop {
            ec2.stop_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| api_error("StopInstances", e))?;
            self.wait_state(id, InstanceStateName::Stopped).await?;
            if p.instance_type != o.instance_type {
                ec2.modify_instance_attribute()
                    .instance_id(id)
                    .instance_type(
                        aws_sdk_ec2::types::AttributeValue::builder()
                            .value(&p.instance_type)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("ModifyInstanceAttribute", e))?;
            }
            if p.user_data != o.user_data {
                // This API takes user data base64-encoded by the caller (the SDK encodes it again).
                let blob = aws_sdk_ec2::primitives::Blob::new(
                    base64::engine::general_purpose::STANDARD
                        .encode(p.user_data.clone().unwrap_or_default())
                        .into_bytes(),
                );
                ec2.modify_instance_attribute()
                    .instance_id(id)
                    .user_data(
                        aws_sdk_ec2::types::SecureBlobAttributeValue::builder()
                            .value(blob)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("ModifyInstanceAttribute", e))?;
            }
        }
        if p.security_group_ids != o.security_group_ids {
            ec2.modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(p.security_group_ids.clone()))
                .send()
                .await
                .map_err(|e| api_error("ModifyInstanceAttribute", e))?;
        }
        if p.instance_profile != o.instance_profile {
            let assoc = ec2
                .describe_iam_instance_profile_associations()
                .filters(filter("instance-id", &[id]))
                .send()
                .await
                .map_err(|e| api_error("DescribeIamInstanceProfileAssociations", e))?;
            for a in assoc.iam_instance_profile_associations() {
                if let Some(aid) = a.association_id() {
                    ec2.disassociate_iam_instance_profile()
                        .association_id(aid)
                        .send()
                        .await
                        .map_err(|e| api_error("DisassociateIamInstanceProfile", e))?;
                }
            }
            if let Some(name) = &p.instance_profile {
                ec2.associate_iam_instance_profile()
                    .instance_id(id)
                    .iam_instance_profile(
                        IamInstanceProfileSpecification::builder()
                            .name(name)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("AssociateIamInstanceProfile", e))?;
            }
        }
        if p.tags != o.tags {
            let mut tags = cx.tags();
            tags.extend(p.tags.clone());
            ec2.create_tags()
                .resources(id)
                .set_tags(Some(
                    tags.into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| api_error("CreateTags", e))?;
        }
        if needs_stop {
            ec2.start_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| api_error("StartInstances", e))?;
        }
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        match self
            .clients
            .ec2()
            .await
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("InvalidInstanceID.NotFound") => Ok(()),
            Err(e) => Err(api_error("TerminateInstances", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(id).await?.is_none_or(|(i, _)| {
            matches!(
                i.state().and_then(|s| s.name()),
                Some(InstanceStateName::Terminated)
            )
        }))
    }
}
