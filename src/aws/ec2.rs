//! EC2: the default network, key pair, security group and the client instance.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

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

pub fn kinds() -> Vec<KindInfo> {
    vec![
        KindInfo {
            name: "ec2.default_network",
            summary: "Looks up the default VPC and its subnets (creates and deletes nothing)",
            schema: || schemars::schema_for!(DefaultNetworkProps),
            outputs: &["vpc_id", "subnet_ids", "subnet_id", "cidr"],
            replace: &[],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(120),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "ec2.key_pair",
            summary: "An EC2 key pair; the private key goes to a 0600 file, never to state",
            schema: || schemars::schema_for!(KeyPairProps),
            outputs: &["id", "fingerprint"],
            replace: &[
                ("name", "a key pair cannot be renamed"),
                ("private_key_file", "the private key exists only once, when the key pair is created"),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(120),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "ec2.security_group",
            summary: "A security group: SSH from a declared range, the REST proxy port from API Gateway's side",
            schema: || schemars::schema_for!(SecurityGroupProps),
            outputs: &["id", "arn"],
            replace: &[
                ("name", "a security group cannot be renamed"),
                ("description", "a security group's description cannot be changed"),
                ("vpc_id", "a security group cannot move to another VPC"),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(600),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "ec2.instance",
            summary: "The EC2 client instance: AMI, type, profile, user-data from templates/",
            schema: || schemars::schema_for!(InstanceProps),
            outputs: &["id", "arn", "public_dns", "public_ip", "private_ip"],
            replace: &[
                ("ami", "an instance cannot change its AMI"),
                ("ami_ssm_parameter", "a different AMI needs a new instance"),
                ("subnet_id", "an instance cannot move to another subnet"),
                ("key_name", "the key pair is fixed at launch"),
                ("root_volume_gib", "the root volume is fixed at launch"),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(900),
            volatile_outputs: &[],
            prepare: None,
        },
    ]
}
