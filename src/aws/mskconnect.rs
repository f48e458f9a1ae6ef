//! MSK Connect: the custom plugin, the worker configuration and the S3 sink connector.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

/// Props of `mskconnect.custom_plugin`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPluginProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The plugin manifest (`{file: plugins/...}`): name, source, sha256, content type.
    pub manifest: String,
    /// Bucket the verified artifact is uploaded to.
    pub bucket: String,
    /// Key of the artifact (default: `plugins/<file name of the source>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Props of `mskconnect.worker_configuration`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfigurationProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Worker properties (`key.converter=...`), usually `{file: templates/...}`.
    pub properties: String,
}

/// Connector capacity.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// MSK Connect units per worker: 1, 2, 4 or 8.
    pub mcu_count: u32,
    pub worker_count: u32,
}

/// Props of `mskconnect.connector`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorProps {
    pub name: String,
    /// e.g. `2.7.1`.
    pub kafka_connect_version: String,
    pub plugin_arn: String,
    pub plugin_revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_configuration_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_configuration_revision: Option<u64>,
    pub service_execution_role_arn: String,
    pub bootstrap_servers: String,
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Connect to the cluster with IAM (default true).
    #[serde(default = "yes")]
    pub iam_auth: bool,
    /// Connector properties (`topics.regex=...`), usually `{template: templates/...}`.
    pub config: String,
    pub capacity: Capacity,
}

fn yes() -> bool {
    true
}

pub fn kinds() -> Vec<KindInfo> {
    vec![
        KindInfo {
            name: "mskconnect.custom_plugin",
            summary: "An MSK Connect custom plugin from a manifest in plugins/, verified and uploaded once",
            schema: || schemars::schema_for!(CustomPluginProps),
            outputs: &["arn", "revision", "location"],
            replace: &[
                ("name", "a custom plugin cannot be renamed"),
                ("manifest", "a plugin revision cannot be changed; a new plugin is created"),
                ("bucket", "the plugin's artifact location is fixed"),
                ("key", "the plugin's artifact location is fixed"),
            ],
            secret: &[],
            create_before_destroy: true,
            timeout: Duration::from_secs(30 * 60),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "mskconnect.worker_configuration",
            summary: "An MSK Connect worker configuration",
            schema: || schemars::schema_for!(WorkerConfigurationProps),
            outputs: &["arn", "revision"],
            replace: &[
                ("name", "a worker configuration cannot be renamed"),
                ("properties", "MSK Connect has no update for worker configurations"),
            ],
            secret: &[],
            create_before_destroy: true,
            timeout: Duration::from_secs(10 * 60),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "mskconnect.connector",
            summary: "The S3 sink connector; config changes go through UpdateConnector and are verified",
            schema: || schemars::schema_for!(ConnectorProps),
            outputs: &["arn", "state"],
            replace: &[
                ("name", "a connector cannot be renamed"),
                ("kafka_connect_version", "a connector's Kafka Connect version is fixed"),
                ("plugin_arn", "a connector's plugin is fixed"),
                ("plugin_revision", "a connector's plugin is fixed"),
                ("worker_configuration_arn", "a connector's worker configuration is fixed"),
                ("worker_configuration_revision", "a connector's worker configuration is fixed"),
                ("service_execution_role_arn", "a connector's role is fixed"),
                ("bootstrap_servers", "a connector's cluster is fixed"),
                ("subnets", "a connector's network is fixed"),
                ("security_groups", "a connector's network is fixed"),
                ("iam_auth", "a connector's authentication is fixed"),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(60 * 60),
            volatile_outputs: &[],
            prepare: None,
        },
    ]
}
