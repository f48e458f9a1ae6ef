//! MWAA: the Airflow environment that runs the daily batch DAG.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

/// Network of an environment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// Props of `mwaa.environment`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentProps {
    pub name: String,
    /// e.g. `2.10.3`.
    pub airflow_version: String,
    /// e.g. `mw1.small`.
    pub environment_class: String,
    pub execution_role_arn: String,
    pub source_bucket_arn: String,
    /// Folder of the DAG files in the source bucket, e.g. `dags`.
    pub dag_s3_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements_s3_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workers: Option<u32>,
    /// `PUBLIC_ONLY` or `PRIVATE_ONLY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webserver_access_mode: Option<String>,
    pub network: Network,
    #[serde(default)]
    pub airflow_configuration_options: BTreeMap<String, String>,
}

pub fn kinds() -> Vec<KindInfo> {
    vec![KindInfo {
        name: "mwaa.environment",
        summary: "An MWAA (Airflow) environment reading DAGs from an S3 bucket",
        schema: || schemars::schema_for!(EnvironmentProps),
        outputs: &["arn", "webserver_url", "status"],
        replace: &[
            ("name", "an environment cannot be renamed"),
            ("network", "an environment cannot change its network"),
            (
                "source_bucket_arn",
                "an environment's source bucket is fixed",
            ),
        ],
        secret: &[],
        create_before_destroy: false,
        timeout: Duration::from_secs(120 * 60),
        volatile_outputs: &[],
        prepare: None,
    }]
}
