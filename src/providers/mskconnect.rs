//! MSK Connect: the custom plugin, the worker configuration and the S3 sink connector.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::KindInfo;

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

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    r.add(
        KindInfo::new(
            "mskconnect.custom_plugin",
            "An MSK Connect custom plugin from a manifest in plugins/, verified and uploaded once",
        )
        .schema::<CustomPluginProps>()
        .outputs(&["arn", "revision", "location"])
        .replace(&[
            ("name", "a custom plugin cannot be renamed"),
            (
                "manifest",
                "a plugin revision cannot be changed; a new plugin is created",
            ),
            ("bucket", "the plugin's artifact location is fixed"),
            ("key", "the plugin's artifact location is fixed"),
        ])
        .timeout(Duration::from_secs(30 * 60)),
        |info, env| {
            Arc::new(CustomPluginProvider {
                info,
                clients: env.clients.clone(),
                root: env.root.clone(),
            })
        },
    );
    r.add(
        KindInfo::new(
            "mskconnect.worker_configuration",
            "An MSK Connect worker configuration",
        )
        .schema::<WorkerConfigurationProps>()
        .outputs(&["arn", "revision"])
        .replace(&[
            ("name", "a worker configuration cannot be renamed"),
            (
                "properties",
                "MSK Connect has no update for worker configurations",
            ),
        ])
        .timeout(Duration::from_secs(10 * 60)),
        |info, env| {
            Arc::new(WorkerConfigurationProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
        KindInfo::new(
            "mskconnect.connector",
            "The S3 sink connector; config changes go through UpdateConnector and are verified",
        )
        .schema::<ConnectorProps>()
        .outputs(&["arn", "state"])
        .replace(&[
            ("name", "a connector cannot be renamed"),
            (
                "kafka_connect_version",
                "a connector's Kafka Connect version is fixed",
            ),
            ("plugin_arn", "a connector's plugin is fixed"),
            ("plugin_revision", "a connector's plugin is fixed"),
            (
                "worker_configuration_arn",
                "a connector's worker configuration is fixed",
            ),
            (
                "worker_configuration_revision",
                "a connector's worker configuration is fixed",
            ),
            ("service_execution_role_arn", "a connector's role is fixed"),
            ("bootstrap_servers", "a connector's cluster is fixed"),
            ("subnets", "a connector's network is fixed"),
            ("security_groups", "a connector's network is fixed"),
            ("iam_auth", "a connector's authentication is fixed"),
        ])
        .timeout(Duration::from_secs(60 * 60)),
        |info, env| {
            Arc::new(ConnectorProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
}

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kafkaconnect::types::{
    ApacheKafkaCluster, Capacity as SdkCapacity, ConnectorState, CustomPlugin,
    CustomPluginContentType, CustomPluginLocation, CustomPluginState, KafkaCluster,
    KafkaClusterClientAuthentication, KafkaClusterClientAuthenticationType,
    KafkaClusterEncryptionInTransit, KafkaClusterEncryptionInTransitType, Plugin,
    ProvisionedCapacity, S3Location, Vpc, WorkerConfiguration,
};
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{json, typed};
use crate::clients::aws::{api_error, is_not_found, Clients};
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};
use crate::format::properties::Properties;

const NOT_FOUND: &str = "NotFoundException";

/// A plugin manifest (`plugins/*.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// A path relative to the repository root, or an `http(s)://` URL.
    pub source: String,
    pub content_type: String,
    pub sha256: String,
}

/// The artifact's file name: the last segment of its path or URL (query and fragment dropped).
fn artifact_file_name(source: &str) -> &str {
    source
        .split(['?', '#'])
        .next()
        .unwrap_or(source)
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("plugin.zip")
}

pub fn parse_manifest(text: &str) -> Result<Manifest, ProviderError> {
    let node = marked_yaml::parse_yaml(0, text)
        .map_err(|e| ProviderError::Invalid(format!("plugin manifest: {e}")))?;
    marked_yaml::from_node(&node)
        .map_err(|e| ProviderError::Invalid(format!("plugin manifest: {e}")))
}

/// Parses properties text the service holds or the stack gives, naming `what` in the error.
fn properties(text: &str, what: &str) -> Result<Properties, ProviderError> {
    crate::format::properties::parse(text, what).map_err(|e| ProviderError::Invalid(e.to_string()))
}

pub struct CustomPluginProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

impl CustomPluginProvider {
    /// Reads the artifact, checks it against the manifest's digest, and uploads it unless the
    /// bucket already holds the same bytes.
    async fn upload(
        &self,
        p: &CustomPluginProps,
        m: &Manifest,
    ) -> Result<(String, String), ProviderError> {
        let bytes = self.artifact(m).await?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if m.sha256.is_empty() {
            return Err(ProviderError::Invalid(format!(
                "plugin manifest `{}` has no sha256; the artifact at {} has sha256 {digest} — check it and put it in the manifest",
                m.name, m.source
            )));
        }
        if !digest.eq_ignore_ascii_case(&m.sha256) {
            return Err(ProviderError::Invalid(format!(
                "plugin artifact {} has sha256 {digest}, but the manifest says {}: refusing to upload it",
                m.source, m.sha256
            )));
        }
        let file = artifact_file_name(&m.source);
        let key = p.key.clone().unwrap_or_else(|| format!("plugins/{file}"));
        let s3 = self.clients.s3().await;
        let present = s3
            .head_object()
            .bucket(&p.bucket)
            .key(&key)
            .send()
            .await
            .ok()
            .and_then(|h| h.metadata().and_then(|md| md.get("pinctl-sha256").cloned()))
            .is_some_and(|d| d == digest);
        if !present {
            s3.put_object()
                .bucket(&p.bucket)
                .key(&key)
                .body(bytes.into())
                .metadata("pinctl-sha256", &digest)
                .send()
                .await
                .map_err(|e| api_error("PutObject", e))?;
        }
        Ok((format!("arn:aws:s3:::{}", p.bucket), key))
    }

    /// The artifact's bytes: a path relative to the repository, or an `http(s)://` URL fetched
    /// once into `.pinctl/cache/plugins/` (a cached copy is used only if it has the manifest's
    /// digest, so a changed manifest fetches again).
    async fn artifact(&self, m: &Manifest) -> Result<Vec<u8>, ProviderError> {
        if !(m.source.starts_with("https://") || m.source.starts_with("http://")) {
            if m.source.contains("://") {
                return Err(ProviderError::Invalid(format!(
                    "plugin `{}`: source {} is neither a path nor an http(s) URL",
                    m.name, m.source
                )));
            }
            let path = self.root.join(&m.source);
            return std::fs::read(&path)
                .map_err(|e| ProviderError::io(format!("plugin artifact {}", path.display()), e));
        }
        let cache = self.root.join(".pinctl/cache/plugins");
        let cached = cache.join(format!(
            "{}-{}",
            m.sha256.to_ascii_lowercase(),
            artifact_file_name(&m.source)
        ));
        if !m.sha256.is_empty() {
            if let Ok(bytes) = std::fs::read(&cached) {
                if hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(&m.sha256) {
                    return Ok(bytes);
                }
            }
        }
        let fetch_error = |e: String| ProviderError::Fetch {
            url: m.source.clone(),
            reason: format!("plugin `{}`: {e}", m.name),
        };
        let answer = reqwest::get(&m.source)
            .await
            .map_err(|e| fetch_error(e.to_string()))?;
        if !answer.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", answer.status())));
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| fetch_error(e.to_string()))?
            .to_vec();
        // Kept only when it is what the manifest names; `upload` reports a mismatch.
        if !m.sha256.is_empty()
            && hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(&m.sha256)
        {
            std::fs::create_dir_all(&cache)
                .and_then(|()| std::fs::write(&cached, &bytes))
                .map_err(|e| ProviderError::io(format!("caching {}", cached.display()), e))?;
        }
        Ok(bytes)
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> Result<
        Option<aws_sdk_kafkaconnect::operation::describe_custom_plugin::DescribeCustomPluginOutput>,
        ProviderError,
    > {
        match self
            .clients
            .kafkaconnect()
            .await
            .describe_custom_plugin()
            .custom_plugin_arn(arn)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("DescribeCustomPlugin", e)),
        }
    }
}

#[async_trait]
impl Provider for CustomPluginProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(None);
        };
        if d.custom_plugin_state() == Some(&CustomPluginState::Deleting) {
            return Ok(None);
        }
        let mut props = recorded.clone();
        let loc = d
            .latest_revision()
            .and_then(|r| r.location())
            .and_then(|l| l.s3_location());
        if let Value::Object(m) = &mut props {
            m.insert(
                "name".into(),
                Value::String(d.name().unwrap_or_default().into()),
            );
            if let Some(l) = loc {
                m.insert(
                    "bucket".into(),
                    Value::String(
                        l.bucket_arn()
                            .unwrap_or_default()
                            .trim_start_matches("arn:aws:s3:::")
                            .into(),
                    ),
                );
            }
        }
        let mut outputs = Map::new();
        outputs.insert("arn".into(), Value::String(arn.into()));
        outputs.insert(
            "revision".into(),
            Value::from(d.latest_revision().map(|r| r.revision()).unwrap_or(1)),
        );
        outputs.insert(
            "location".into(),
            Value::String(
                loc.map(|l| {
                    format!(
                        "s3://{}/{}",
                        l.bucket_arn()
                            .unwrap_or_default()
                            .trim_start_matches("arn:aws:s3:::"),
                        l.file_key().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            ),
        );
        Ok(Some(Live { props, outputs }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: CustomPluginProps = typed(props)?;
        let m = parse_manifest(&p.manifest)?;
        let (bucket_arn, key) = self.upload(&p, &m).await?;
        let content_type = CustomPluginContentType::from(m.content_type.as_str());
        let out = self
            .clients
            .kafkaconnect()
            .await
            .create_custom_plugin()
            .name(&p.name)
            .set_description(p.description.clone())
            .content_type(content_type)
            .location(
                CustomPluginLocation::builder()
                    .s3_location(
                        S3Location::builder()
                            .bucket_arn(bucket_arn)
                            .file_key(key)
                            .build()
                            .map_err(|e| ProviderError::Invalid(e.to_string()))?,
                    )
                    .build(),
            )
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateCustomPlugin", e))?;
        out.custom_plugin_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateCustomPlugin", "an ARN"))
    }

    async fn poll(&self, cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        Ok(match d.custom_plugin_state() {
            Some(CustomPluginState::Active) => {
                match self.read(cx, arn, &Value::Object(Map::new())).await? {
                    Some(l) => Poll::Ready(l.outputs),
                    None => Poll::Pending("not visible yet".into()),
                }
            }
            Some(CustomPluginState::CreateFailed) => Poll::Failed(
                d.state_description()
                    .and_then(|s| s.message())
                    .unwrap_or("creation failed")
                    .into(),
            ),
            Some(s) => Poll::Pending(s.as_str().into()),
            None => Poll::Pending("unknown".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        _arn: &str,
        _old: &Value,
        _new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, arn: &str, _recorded: &Value) -> Result<(), ProviderError> {
        match self
            .clients
            .kafkaconnect()
            .await
            .delete_custom_plugin()
            .custom_plugin_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteCustomPlugin", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, arn: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(arn).await?.is_none())
    }
}

pub struct WorkerConfigurationProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

#[async_trait]
impl Provider for WorkerConfigurationProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let d = match self
            .clients
            .kafkaconnect()
            .await
            .describe_worker_configuration()
            .worker_configuration_arn(arn)
            .send()
            .await
        {
            Ok(d) => d,
            Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
            Err(e) => return Err(api_error("DescribeWorkerConfiguration", e)),
        };
        let content = d
            .latest_revision()
            .and_then(|r| r.properties_file_content())
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let rec: Option<WorkerConfigurationProps> = typed(recorded).ok();
        // Compared as properties, so formatting is not drift.
        let properties = match &rec {
            Some(r)
                if properties(&r.properties, "the live worker configuration").ok()
                    == Some(properties(&content, "the worker configuration")?) =>
            {
                r.properties.clone()
            }
            _ => content,
        };
        let live = WorkerConfigurationProps {
            name: d.name().unwrap_or_default().into(),
            description: rec.and_then(|r| r.description),
            properties,
        };
        let mut outputs = Map::new();
        outputs.insert("arn".into(), Value::String(arn.into()));
        outputs.insert(
            "revision".into(),
            Value::from(d.latest_revision().map(|r| r.revision()).unwrap_or(1)),
        );
        Ok(Some(Live {
            props: json(&live),
            outputs,
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: WorkerConfigurationProps = typed(props)?;
        let out = self
            .clients
            .kafkaconnect()
            .await
            .create_worker_configuration()
            .name(&p.name)
            .set_description(p.description.clone())
            .properties_file_content(
                base64::engine::general_purpose::STANDARD.encode(&p.properties),
            )
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateWorkerConfiguration", e))?;
        out.worker_configuration_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateWorkerConfiguration", "an ARN"))
    }

    async fn poll(&self, cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        Ok(match self.read(cx, arn, &Value::Null).await? {
            Some(l) => Poll::Ready(l.outputs),
            None => Poll::Pending("not visible yet".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        _arn: &str,
        _old: &Value,
        _new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, arn: &str, _recorded: &Value) -> Result<(), ProviderError> {
        match self
            .clients
            .kafkaconnect()
            .await
            .delete_worker_configuration()
            .worker_configuration_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteWorkerConfiguration", e)),
        }
    }
}

pub struct ConnectorProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

fn capacity(c: &Capacity) -> SdkCapacity {
    SdkCapacity::builder()
        .provisioned_capacity(
            ProvisionedCapacity::builder()
                .mcu_count(c.mcu_count as i32)
                .worker_count(c.worker_count as i32)
                .build(),
        )
        .build()
}

impl ConnectorProvider {
    async fn describe(
        &self,
        arn: &str,
    ) -> Result<
        Option<aws_sdk_kafkaconnect::operation::describe_connector::DescribeConnectorOutput>,
        ProviderError,
    > {
        match self
            .clients
            .kafkaconnect()
            .await
            .describe_connector()
            .connector_arn(arn)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o)),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("DescribeConnector", e)),
        }
    }

    async fn wait_gone(&self, arn: &str) -> Result<(), ProviderError> {
        let mut backoff = crate::engine::backoff::Backoff::new(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(15),
        );
        while self.describe(arn).await?.is_some() {
            backoff.sleep().await;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for ConnectorProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(None);
        };
        if d.connector_state() == Some(&ConnectorState::Deleting) {
            return Ok(None);
        }
        let rec: Option<ConnectorProps> = typed(recorded).ok();
        let live_config: BTreeMap<String, String> = d
            .connector_configuration()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let config = match &rec {
            Some(r)
                if properties(&r.config, "the recorded connector configuration")
                    .ok()
                    .as_ref()
                    == Some(&live_config) =>
            {
                r.config.clone()
            }
            _ => crate::format::properties::render(&live_config),
        };
        let cluster = d.kafka_cluster().and_then(|k| k.apache_kafka_cluster());
        let plugin = d.plugins().first().and_then(|p| p.custom_plugin());
        let cap = d.capacity().and_then(|c| c.provisioned_capacity());
        let live = ConnectorProps {
            name: d.connector_name().unwrap_or_default().into(),
            kafka_connect_version: d.kafka_connect_version().unwrap_or_default().into(),
            plugin_arn: plugin
                .and_then(|p| p.custom_plugin_arn())
                .unwrap_or_default()
                .into(),
            plugin_revision: plugin.map(|p| p.revision() as u64).unwrap_or(0),
            worker_configuration_arn: d
                .worker_configuration()
                .and_then(|w| w.worker_configuration_arn())
                .map(str::to_string),
            worker_configuration_revision: d.worker_configuration().map(|w| w.revision() as u64),
            service_execution_role_arn: d.service_execution_role_arn().unwrap_or_default().into(),
            bootstrap_servers: cluster
                .and_then(|c| c.bootstrap_servers())
                .unwrap_or_default()
                .into(),
            subnets: cluster
                .and_then(|c| c.vpc())
                .map(|v| v.subnets().to_vec())
                .unwrap_or_default(),
            security_groups: cluster
                .and_then(|c| c.vpc())
                .map(|v| v.security_groups().to_vec())
                .unwrap_or_default(),
            iam_auth: d
                .kafka_cluster_client_authentication()
                .and_then(|a| a.authentication_type())
                == Some(&KafkaClusterClientAuthenticationType::Iam),
            config,
            capacity: Capacity {
                mcu_count: cap.map(|c| c.mcu_count() as u32).unwrap_or(0),
                worker_count: cap.map(|c| c.worker_count() as u32).unwrap_or(0),
            },
        };
        let mut outputs = Map::new();
        outputs.insert("arn".into(), Value::String(arn.into()));
        outputs.insert(
            "state".into(),
            Value::String(
                d.connector_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            ),
        );
        Ok(Some(Live {
            props: json(&live),
            outputs,
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: ConnectorProps = typed(props)?;
        let auth = if p.iam_auth {
            KafkaClusterClientAuthenticationType::Iam
        } else {
            KafkaClusterClientAuthenticationType::None
        };
        let transit = if p.iam_auth {
            KafkaClusterEncryptionInTransitType::Tls
        } else {
            KafkaClusterEncryptionInTransitType::Plaintext
        };
        let invalid =
            |e: aws_sdk_kafkaconnect::error::BuildError| ProviderError::Invalid(e.to_string());
        let mut req = self
            .clients
            .kafkaconnect()
            .await
            .create_connector()
            .connector_name(&p.name)
            .kafka_connect_version(&p.kafka_connect_version)
            .capacity(capacity(&p.capacity))
            .set_connector_configuration(Some(
                properties(&p.config, "config")?.into_iter().collect(),
            ))
            .kafka_cluster(
                KafkaCluster::builder()
                    .apache_kafka_cluster(
                        ApacheKafkaCluster::builder()
                            .bootstrap_servers(&p.bootstrap_servers)
                            .vpc(
                                Vpc::builder()
                                    .set_subnets(Some(p.subnets.clone()))
                                    .set_security_groups(Some(p.security_groups.clone()))
                                    .build()
                                    .map_err(invalid)?,
                            )
                            .build()
                            .map_err(invalid)?,
                    )
                    .build(),
            )
            .kafka_cluster_client_authentication(
                KafkaClusterClientAuthentication::builder()
                    .authentication_type(auth)
                    .build()
                    .map_err(invalid)?,
            )
            .kafka_cluster_encryption_in_transit(
                KafkaClusterEncryptionInTransit::builder()
                    .encryption_type(transit)
                    .build()
                    .map_err(invalid)?,
            )
            .plugins(
                Plugin::builder()
                    .custom_plugin(
                        CustomPlugin::builder()
                            .custom_plugin_arn(&p.plugin_arn)
                            .revision(p.plugin_revision as i64)
                            .build()
                            .map_err(invalid)?,
                    )
                    .build(),
            )
            .service_execution_role_arn(&p.service_execution_role_arn)
            .set_tags(Some(cx.tags().into_iter().collect()));
        if let (Some(arn), Some(rev)) =
            (&p.worker_configuration_arn, p.worker_configuration_revision)
        {
            req = req.worker_configuration(
                WorkerConfiguration::builder()
                    .worker_configuration_arn(arn)
                    .revision(rev as i64)
                    .build()
                    .map_err(invalid)?,
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| api_error("CreateConnector", e))?;
        out.connector_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateConnector", "an ARN"))
    }

    async fn poll(&self, cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        Ok(match d.connector_state() {
            Some(ConnectorState::Running) => match self.read(cx, arn, &Value::Null).await? {
                Some(l) => Poll::Ready(l.outputs),
                None => Poll::Pending("not visible yet".into()),
            },
            Some(ConnectorState::Failed) => Poll::Failed(
                d.state_description()
                    .and_then(|s| s.message())
                    .unwrap_or("the connector failed")
                    .into(),
            ),
            Some(s) => Poll::Pending(s.as_str().into()),
            None => Poll::Pending("unknown".into()),
        })
    }

    /// UpdateConnector, then the operation is followed until it ends and the connector is read
    /// back: an update that did not take is reported and the connector is made again.
    async fn update(
        &self,
        cx: &Cx,
        arn: &str,
        _old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let p: ConnectorProps = typed(new)?;
        let want = properties(&p.config, "config")?;
        let kc = self.clients.kafkaconnect().await;
        let mut backoff = crate::engine::backoff::Backoff::new(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(15),
        );
        let version = loop {
            let d = self
                .describe(arn)
                .await?
                .ok_or_else(|| ProviderError::not_found(format!("connector {arn}")))?;
            match d.connector_state() {
                Some(ConnectorState::Running) => {
                    break d.current_version().unwrap_or_default().to_string()
                }
                Some(ConnectorState::Failed) => break String::new(),
                _ => {
                    backoff.sleep().await;
                }
            }
        };
        let mut outcome = Err(String::from(
            "the connector is FAILED and cannot be updated",
        ));
        if !version.is_empty() {
            let out = kc
                .update_connector()
                .connector_arn(arn)
                .current_version(&version)
                .capacity(
                    aws_sdk_kafkaconnect::types::CapacityUpdate::builder()
                        .provisioned_capacity(
                            aws_sdk_kafkaconnect::types::ProvisionedCapacityUpdate::builder()
                                .mcu_count(p.capacity.mcu_count as i32)
                                .worker_count(p.capacity.worker_count as i32)
                                .build(),
                        )
                        .build(),
                )
                .set_connector_configuration(Some(want.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| api_error("UpdateConnector", e))?;
            let op = out
                .connector_operation_arn()
                .unwrap_or_default()
                .to_string();
            let mut backoff = crate::engine::backoff::Backoff::new(
                std::time::Duration::from_millis(200),
                std::time::Duration::from_secs(15),
            );
            outcome = loop {
                let d = kc
                    .describe_connector_operation()
                    .connector_operation_arn(&op)
                    .send()
                    .await
                    .map_err(|e| api_error("DescribeConnectorOperation", e))?;
                let state = d
                    .connector_operation_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                match state.as_str() {
                    "UPDATE_COMPLETE" => break Ok(()),
                    "UPDATE_FAILED" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => {
                        break Err(format!(
                            "operation {op} ended {state}: {}",
                            d.error_info()
                                .and_then(|e| e.message())
                                .unwrap_or("no detail")
                        ))
                    }
                    _ => {
                        backoff.sleep().await;
                    }
                }
            };
        }
        // Verify by reading the connector back, whatever the operation said.
        if outcome.is_ok() {
            let live: BTreeMap<String, String> = self
                .describe(arn)
                .await?
                .and_then(|d| {
                    d.connector_configuration()
                        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                })
                .unwrap_or_default();
            if live != want {
                outcome = Err("the connector still runs its previous configuration".into());
            }
        }
        match outcome {
            Ok(()) => Ok(None),
            Err(why) => {
                tracing::warn!("connector {}: the update did not take ({why}); deleting it and creating it again", p.name);
                self.delete(cx, arn, &Value::Null).await?;
                self.wait_gone(arn).await?;
                Ok(Some(self.create(cx, new).await?))
            }
        }
    }

    async fn delete(&self, _cx: &Cx, arn: &str, _recorded: &Value) -> Result<(), ProviderError> {
        match self
            .clients
            .kafkaconnect()
            .await
            .delete_connector()
            .connector_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteConnector", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, arn: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(arn).await?.is_none())
    }
}
