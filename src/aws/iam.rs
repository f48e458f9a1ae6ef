//! IAM: roles with their trust and inline policies, and instance profiles.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// One policy statement. Actions are always named; `*` is not accepted as an action.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default)]
    pub effect: Effect,
    /// e.g. `kinesis:PutRecord`.
    pub actions: Vec<String>,
    /// ARNs the actions apply to, usually `${other_resource.arn}`.
    pub resources: Vec<String>,
    /// An IAM condition block, as in a policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

/// Props of `iam.role`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Service principals that may assume the role, e.g. `ec2.amazonaws.com`.
    pub trusted_services: Vec<String>,
    /// Inline policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, Vec<Statement>>,
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_seconds: Option<u32>,
}

/// Props of `iam.instance_profile`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileProps {
    pub name: String,
    /// Name of the role the profile carries.
    pub role: String,
}

pub fn kinds() -> Vec<KindInfo> {
    vec![
        KindInfo {
            name: "iam.role",
            summary:
                "An IAM role: trusted services, inline least-privilege policies, managed policies",
            schema: || schemars::schema_for!(RoleProps),
            outputs: &["arn", "id"],
            replace: &[("name", "an IAM role cannot be renamed")],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(300),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "iam.instance_profile",
            summary: "An EC2 instance profile carrying one role",
            schema: || schemars::schema_for!(InstanceProfileProps),
            outputs: &["arn", "id"],
            replace: &[("name", "an instance profile cannot be renamed")],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(300),
            volatile_outputs: &[],
            prepare: None,
        },
    ]
}
