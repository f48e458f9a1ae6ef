//! API Gateway REST API: one resource with its routes, and the deployment and stage.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

/// How a route reaches its backend.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationType {
    HttpProxy,
    Http,
    Aws,
    AwsProxy,
    Mock,
}

/// A route's integration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Method used towards the backend (`ANY` for a proxy, `POST` for AWS actions).
    pub http_method: String,
    pub uri: String,
    /// Role API Gateway assumes to call an AWS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    #[serde(default)]
    pub request_parameters: BTreeMap<String, String>,
    /// Mapping templates by content type.
    #[serde(default)]
    pub request_templates: BTreeMap<String, String>,
    /// `WHEN_NO_MATCH`, `WHEN_NO_TEMPLATES` or `NEVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
}

/// One method on one path.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// e.g. `/{proxy+}` or `/streams/{stream-name}/record`.
    pub path: String,
    /// `ANY`, `GET`, `PUT`, `POST`, `DELETE`, ...
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// Method request parameters and whether each is required.
    #[serde(default)]
    pub request_parameters: BTreeMap<String, bool>,
    pub integration: Integration,
}

/// Props of `apigateway.rest_api`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestApiProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `REGIONAL` (default), `EDGE` or `PRIVATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_type: Option<String>,
    pub routes: Vec<Route>,
}

/// Props of `apigateway.deployment`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentProps {
    pub rest_api_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Any change makes a new deployment, e.g. `{api: "${api.definition_hash}"}`.
    #[serde(default)]
    pub triggers: BTreeMap<String, String>,
}

/// Props of `apigateway.stage`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageProps {
    pub rest_api_id: String,
    pub name: String,
    pub deployment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

pub fn kinds() -> Vec<KindInfo> {
    vec![
        KindInfo {
            name: "apigateway.rest_api",
            summary: "A REST API with its routes, integrations and mapping templates",
            schema: || schemars::schema_for!(RestApiProps),
            outputs: &[
                "id",
                "arn",
                "root_resource_id",
                "definition_hash",
                "execution_arn",
            ],
            replace: &[],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(600),
            volatile_outputs: &["definition_hash"],
            prepare: None,
        },
        KindInfo {
            name: "apigateway.deployment",
            summary: "A deployment of a REST API; a new one whenever the API definition changes",
            schema: || schemars::schema_for!(DeploymentProps),
            outputs: &["id"],
            replace: &[
                ("rest_api_id", "a deployment belongs to one API"),
                (
                    "triggers",
                    "the API definition changed, so a new deployment is made",
                ),
                ("description", "a deployment is immutable"),
            ],
            secret: &[],
            create_before_destroy: true,
            timeout: Duration::from_secs(300),
            volatile_outputs: &[],
            prepare: None,
        },
        KindInfo {
            name: "apigateway.stage",
            summary: "A stage pointing at a deployment; outputs the invoke URL",
            schema: || schemars::schema_for!(StageProps),
            outputs: &["invoke_url", "arn"],
            replace: &[
                ("rest_api_id", "a stage belongs to one API"),
                ("name", "a stage cannot be renamed"),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(300),
            volatile_outputs: &[],
            prepare: None,
        },
    ]
}
