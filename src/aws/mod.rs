//! The AWS resource kinds. Each module holds one service's kinds: the props (the stack format)
//! and, as they are built, the providers over the official AWS SDK for Rust.

pub mod apigateway;
pub mod client;
pub mod ec2;
pub mod iam;
pub mod kafka_admin;
pub mod kinesis;
pub mod limiter;
pub mod msk;
pub mod msk_iam;
pub mod mskconnect;
pub mod mwaa;
pub mod s3;
pub mod ssm;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::engine::kind::KindInfo;
use crate::engine::provider::{Cx, Provider, ProviderError};

/// The providers of every AWS kind.
pub fn providers(
    root: &std::path::Path,
) -> std::collections::BTreeMap<String, std::sync::Arc<dyn Provider>> {
    use std::sync::Arc;
    let clients = Arc::new(client::Clients::new());
    let mut map: std::collections::BTreeMap<String, Arc<dyn Provider>> =
        std::collections::BTreeMap::new();
    for info in kinds() {
        let c = clients.clone();
        let p: Arc<dyn Provider> = match info.name {
            "s3.bucket" => Arc::new(s3::BucketProvider { info, clients: c }),
            "iam.role" => Arc::new(iam::RoleProvider { info, clients: c }),
            "iam.role_policy" => Arc::new(iam::RolePolicyProvider { info, clients: c }),
            "iam.instance_profile" => Arc::new(iam::InstanceProfileProvider { info, clients: c }),
            "ec2.default_network" => Arc::new(ec2::DefaultNetworkProvider { info, clients: c }),
            "ec2.key_pair" => Arc::new(ec2::KeyPairProvider {
                info,
                clients: c,
                root: root.to_path_buf(),
            }),
            "ec2.security_group" => Arc::new(ec2::SecurityGroupProvider { info, clients: c }),
            "ec2.instance" => Arc::new(ec2::InstanceProvider { info, clients: c }),
            "kinesis.stream" => Arc::new(kinesis::StreamProvider { info, clients: c }),
            "apigateway.rest_api" => Arc::new(apigateway::RestApiProvider { info, clients: c }),
            "apigateway.deployment" => {
                Arc::new(apigateway::DeploymentProvider { info, clients: c })
            }
            "apigateway.stage" => Arc::new(apigateway::StageProvider { info, clients: c }),
            "msk.cluster" => Arc::new(msk::ClusterProvider { info, clients: c }),
            "msk.topic" => Arc::new(msk::TopicProvider { info, clients: c }),
            "mskconnect.custom_plugin" => Arc::new(mskconnect::CustomPluginProvider {
                info,
                clients: c,
                root: root.to_path_buf(),
            }),
            "mskconnect.worker_configuration" => {
                Arc::new(mskconnect::WorkerConfigurationProvider { info, clients: c })
            }
            "mskconnect.connector" => Arc::new(mskconnect::ConnectorProvider { info, clients: c }),
            "mwaa.environment" => Arc::new(mwaa::EnvironmentProvider { info, clients: c }),
            "workers.deployment" => Arc::new(ssm::DeploymentProvider {
                info,
                clients: c,
                root: root.to_path_buf(),
            }),
            "s3.object" => Arc::new(s3::ObjectProvider {
                info,
                clients: c,
                root: root.to_path_buf(),
            }),
            other => unreachable!("resource kind `{other}` has no provider"),
        };
        map.insert(p.info().name.to_string(), p);
    }
    map
}

pub fn kinds() -> Vec<KindInfo> {
    [
        iam::kinds(),
        s3::kinds(),
        ec2::kinds(),
        msk::kinds(),
        mskconnect::kinds(),
        apigateway::kinds(),
        kinesis::kinds(),
        mwaa::kinds(),
        ssm::kinds(),
    ]
    .concat()
}

/// Typed props from the engine's JSON.
pub fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, ProviderError> {
    serde_json::from_value(v.clone()).map_err(|e| ProviderError::Invalid(e.to_string()))
}

/// JSON of typed props, as a provider reports what it reads.
pub fn json<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Whether tags read from a service mark the resource as this stack's `cx.resource`. While
/// resuming its own interrupted creation, an untagged resource of the expected name is taken as
/// the one that creation made before it could tag it.
pub fn owned_by(tags: &std::collections::BTreeMap<String, String>, cx: &Cx) -> bool {
    cx.tags().iter().all(|(k, v)| tags.get(k) == Some(v))
        || (cx.resuming && !tags.contains_key("pinctl:stack"))
}

/// A resource exists under the name the stack wants but belongs to something else.
pub fn not_ours(what: &str, name: &str) -> ProviderError {
    ProviderError::Other(format!(
        "{what} `{name}` already exists and is not tagged as this stack's (pinctl:stack, pinctl:env, pinctl:id); pinctl will not take it over"
    ))
}
