//! MSK: the provisioned cluster and its topics.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

fn yes() -> bool {
    true
}

/// Props of `msk.cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterProps {
    pub name: String,
    /// e.g. `3.6.0`.
    pub kafka_version: String,
    /// e.g. `kafka.t3.small`.
    pub broker_instance_type: String,
    /// A multiple of the number of subnets.
    pub broker_count: u32,
    pub storage_gib: u32,
    pub client_subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Clients authenticate with IAM (SASL/OAUTHBEARER); default true.
    #[serde(default = "yes")]
    pub iam_auth: bool,
    /// Server properties of the cluster configuration.
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
}

/// Props of `msk.topic`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicProps {
    pub cluster_arn: String,
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// Topic configs; only those declared are compared.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

pub fn kinds() -> Vec<KindInfo> {
    vec![
        KindInfo {
            name: "msk.cluster",
            summary: "A provisioned MSK cluster with IAM client authentication",
            schema: || schemars::schema_for!(ClusterProps),
            outputs: &[
                "arn",
                "bootstrap_brokers",
                "bootstrap_brokers_iam",
                "zookeeper_connect",
            ],
            replace: &[
                ("name", "an MSK cluster cannot be renamed"),
                ("client_subnets", "an MSK cluster cannot change its subnets"),
                (
                    "security_groups",
                    "an MSK cluster cannot change its security groups",
                ),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(120 * 60),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "msk.topic",
            summary: "A Kafka topic on an MSK cluster; partitions grow in place",
            schema: || schemars::schema_for!(TopicProps),
            outputs: &["arn"],
            replace: &[
                ("cluster_arn", "a topic cannot move to another cluster"),
                ("name", "a topic cannot be renamed"),
                (
                    "replication_factor",
                    "Kafka cannot change a topic's replication factor in place",
                ),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(600),
            volatile_outputs: &[],
            prepare: None,
        },
    ]
}
