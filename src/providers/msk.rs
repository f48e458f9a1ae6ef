//! MSK: the provisioned cluster and its topics.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::KindInfo;

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
    /// Server properties, kept in an MSK configuration the cluster uses; a change is a new
    /// revision applied in place.
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

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    r.add(
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
        |info, env| {
            Arc::new(ClusterProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
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
        |info, env| {
            Arc::new(TopicProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
}

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kafka::types::{
    BrokerNodeGroupInfo, ClientAuthentication, ClusterState, ConfigurationInfo, EbsStorageInfo,
    Iam, ProvisionedRequest, Sasl, StorageInfo, TopicState,
};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{json, not_ours, owned_by, typed};
use crate::clients::aws::{api_error, is_not_found, Clients};
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};

const NOT_FOUND: &str = "NotFoundException";

pub struct ClusterProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

impl ClusterProvider {
    /// The configuration (ARN, revision) a cluster runs.
    fn configuration_of(c: &aws_sdk_kafka::types::Cluster) -> Option<(String, i64)> {
        let s = c.provisioned()?.current_broker_software_info()?;
        Some((
            s.configuration_arn()?.to_string(),
            s.configuration_revision()?,
        ))
    }

    async fn server_properties(
        &self,
        arn: &str,
        revision: i64,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self
            .clients
            .kafka()
            .await
            .describe_configuration_revision()
            .arn(arn)
            .revision(revision)
            .send()
            .await
            .map_err(|e| api_error("DescribeConfigurationRevision", e))?;
        let text = out
            .server_properties()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default();
        crate::format::properties::parse(&text, "the live server.properties")
            .map_err(|e| ProviderError::Invalid(e.to_string()))
    }

    async fn new_configuration(&self, p: &ClusterProps) -> Result<(String, i64), ProviderError> {
        let out = self
            .clients
            .kafka()
            .await
            .create_configuration()
            .name(format!("{}-config", p.name))
            .kafka_versions(&p.kafka_version)
            .server_properties(aws_sdk_kafka::primitives::Blob::new(
                crate::format::properties::render(&p.configuration),
            ))
            .send()
            .await
            .map_err(|e| api_error("CreateConfiguration", e))?;
        Ok((
            out.arn().unwrap_or_default().to_string(),
            out.latest_revision()
                .and_then(|r| r.revision())
                .unwrap_or(1),
        ))
    }

    /// The cluster's version once it is ACTIVE, which every update names.
    async fn current_version(&self, arn: &str) -> Result<String, ProviderError> {
        self.wait_active(arn)
            .await?
            .current_version()
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::bad_response("DescribeClusterV2", "the cluster's current version")
            })
    }

    async fn wait_active(&self, arn: &str) -> Result<aws_sdk_kafka::types::Cluster, ProviderError> {
        let mut backoff = crate::engine::backoff::Backoff::new(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(30),
        );
        loop {
            let c = self
                .describe(arn)
                .await?
                .ok_or_else(|| ProviderError::not_found(format!("cluster {arn}")))?;
            if c.state() == Some(&ClusterState::Active) {
                return Ok(c);
            }
            backoff.sleep().await;
        }
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> Result<Option<aws_sdk_kafka::types::Cluster>, ProviderError> {
        match self
            .clients
            .kafka()
            .await
            .describe_cluster_v2()
            .cluster_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.cluster_info),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("DescribeClusterV2", e)),
        }
    }

    async fn outputs(&self, arn: &str) -> Result<Map<String, Value>, ProviderError> {
        let b = self
            .clients
            .kafka()
            .await
            .get_bootstrap_brokers()
            .cluster_arn(arn)
            .send()
            .await
            .map_err(|e| api_error("GetBootstrapBrokers", e))?;
        let mut m = Map::new();
        m.insert("arn".into(), Value::String(arn.into()));
        m.insert(
            "bootstrap_brokers".into(),
            Value::String(b.bootstrap_broker_string().unwrap_or_default().into()),
        );
        m.insert(
            "bootstrap_brokers_iam".into(),
            Value::String(
                b.bootstrap_broker_string_sasl_iam()
                    .unwrap_or_default()
                    .into(),
            ),
        );
        m.insert("zookeeper_connect".into(), Value::String(String::new()));
        Ok(m)
    }
}

#[async_trait]
impl Provider for ClusterProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let Some(c) = self.describe(arn).await? else {
            return Ok(None);
        };
        if c.state() == Some(&ClusterState::Deleting) {
            return Ok(None);
        }
        let p = c.provisioned();
        let group = p.and_then(|p| p.broker_node_group_info());
        let configuration = match Self::configuration_of(&c) {
            Some((arn, rev)) => self.server_properties(&arn, rev).await?,
            None => BTreeMap::new(),
        };
        let live = ClusterProps {
            name: c.cluster_name().unwrap_or_default().into(),
            kafka_version: p
                .and_then(|p| p.current_broker_software_info())
                .and_then(|s| s.kafka_version())
                .unwrap_or_default()
                .into(),
            broker_instance_type: group
                .and_then(|g| g.instance_type())
                .unwrap_or_default()
                .into(),
            broker_count: p.and_then(|p| p.number_of_broker_nodes()).unwrap_or(0) as u32,
            storage_gib: group
                .and_then(|g| g.storage_info())
                .and_then(|s| s.ebs_storage_info())
                .and_then(|e| e.volume_size())
                .unwrap_or(0) as u32,
            client_subnets: group
                .map(|g| g.client_subnets().to_vec())
                .unwrap_or_default(),
            security_groups: group
                .map(|g| g.security_groups().to_vec())
                .unwrap_or_default(),
            iam_auth: p
                .and_then(|p| p.client_authentication())
                .and_then(|a| a.sasl())
                .and_then(|s| s.iam())
                .and_then(|i| i.enabled())
                .unwrap_or(false),
            configuration,
        };
        let outputs = match c.state() {
            Some(ClusterState::Active | ClusterState::Updating) => self.outputs(arn).await?,
            _ => Map::new(),
        };
        Ok(Some(Live {
            props: json(&live),
            outputs,
        }))
    }

    async fn adopt(&self, cx: &Cx, props: &Value) -> Result<Option<String>, ProviderError> {
        let p: ClusterProps = typed(props)?;
        let out = self
            .clients
            .kafka()
            .await
            .list_clusters_v2()
            .cluster_name_filter(&p.name)
            .send()
            .await
            .map_err(|e| api_error("ListClustersV2", e))?;
        for c in out.cluster_info_list() {
            if c.cluster_name() == Some(p.name.as_str()) {
                let tags = c
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                if owned_by(&tags, cx) {
                    return Ok(c.cluster_arn().map(str::to_string));
                }
                return Err(not_ours("MSK cluster", &p.name));
            }
        }
        Ok(None)
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: ClusterProps = typed(props)?;
        let group = BrokerNodeGroupInfo::builder()
            .instance_type(&p.broker_instance_type)
            .set_client_subnets(Some(p.client_subnets.clone()))
            .set_security_groups(Some(p.security_groups.clone()))
            .storage_info(
                StorageInfo::builder()
                    .ebs_storage_info(
                        EbsStorageInfo::builder()
                            .volume_size(p.storage_gib as i32)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let configuration = if p.configuration.is_empty() {
            None
        } else {
            Some(self.new_configuration(&p).await?)
        };
        let mut provisioned = ProvisionedRequest::builder()
            .broker_node_group_info(group)
            .kafka_version(&p.kafka_version)
            .number_of_broker_nodes(p.broker_count as i32);
        if let Some((arn, revision)) = &configuration {
            provisioned = provisioned.configuration_info(
                ConfigurationInfo::builder()
                    .arn(arn)
                    .revision(*revision)
                    .build(),
            );
        }
        if p.iam_auth {
            provisioned = provisioned.client_authentication(client_authentication(true));
        }
        let out = self
            .clients
            .kafka()
            .await
            .create_cluster_v2()
            .cluster_name(&p.name)
            .provisioned(provisioned.build())
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateClusterV2", e))?;
        out.cluster_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateClusterV2", "an ARN"))
    }

    async fn poll(&self, _cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        let Some(c) = self.describe(arn).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        Ok(match c.state() {
            Some(ClusterState::Active) => Poll::Ready(self.outputs(arn).await?),
            Some(ClusterState::Failed) => Poll::Failed(
                c.state_info()
                    .and_then(|s| s.message())
                    .unwrap_or("the cluster failed")
                    .to_string(),
            ),
            Some(s) => Poll::Pending(s.as_str().to_string()),
            None => Poll::Pending("unknown".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        arn: &str,
        old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let (o, p): (ClusterProps, ClusterProps) = (typed(old)?, typed(new)?);
        let kafka = self.clients.kafka().await;
        // One change at a time: each waits for the cluster to be ACTIVE again.
        if o.kafka_version != p.kafka_version {
            let current = self.current_version(arn).await?;
            kafka
                .update_cluster_kafka_version()
                .cluster_arn(arn)
                .current_version(current)
                .target_kafka_version(&p.kafka_version)
                .send()
                .await
                .map_err(|e| api_error("UpdateClusterKafkaVersion", e))?;
        }
        if o.broker_instance_type != p.broker_instance_type {
            let current = self.current_version(arn).await?;
            kafka
                .update_broker_type()
                .cluster_arn(arn)
                .current_version(current)
                .target_instance_type(&p.broker_instance_type)
                .send()
                .await
                .map_err(|e| api_error("UpdateBrokerType", e))?;
        }
        if o.storage_gib != p.storage_gib {
            let current = self.current_version(arn).await?;
            kafka
                .update_broker_storage()
                .cluster_arn(arn)
                .current_version(current)
                .target_broker_ebs_volume_info(
                    aws_sdk_kafka::types::BrokerEbsVolumeInfo::builder()
                        .kafka_broker_node_id("All")
                        .volume_size_gb(p.storage_gib as i32)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| api_error("UpdateBrokerStorage", e))?;
        }
        if o.iam_auth != p.iam_auth {
            let current = self.current_version(arn).await?;
            kafka
                .update_security()
                .cluster_arn(arn)
                .current_version(current)
                .client_authentication(client_authentication(p.iam_auth))
                .send()
                .await
                .map_err(|e| api_error("UpdateSecurity", e))?;
        }
        if o.configuration != p.configuration {
            let cluster = self.wait_active(arn).await?;
            // A new revision of the cluster's configuration, or a first configuration.
            let (config_arn, revision) = match Self::configuration_of(&cluster) {
                Some((config_arn, _)) => {
                    let out = self
                        .clients
                        .kafka()
                        .await
                        .update_configuration()
                        .arn(&config_arn)
                        .server_properties(aws_sdk_kafka::primitives::Blob::new(
                            crate::format::properties::render(&p.configuration),
                        ))
                        .send()
                        .await
                        .map_err(|e| api_error("UpdateConfiguration", e))?;
                    let revision = out
                        .latest_revision()
                        .and_then(|r| r.revision())
                        .unwrap_or(1);
                    (config_arn, revision)
                }
                None => self.new_configuration(&p).await?,
            };
            self.clients
                .kafka()
                .await
                .update_cluster_configuration()
                .cluster_arn(arn)
                .current_version(cluster.current_version().unwrap_or_default())
                .configuration_info(
                    ConfigurationInfo::builder()
                        .arn(config_arn)
                        .revision(revision)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| api_error("UpdateClusterConfiguration", e))?;
        }
        if o.broker_count != p.broker_count {
            let current = self.current_version(arn).await?;
            self.clients
                .kafka()
                .await
                .update_broker_count()
                .cluster_arn(arn)
                .current_version(current)
                .target_number_of_broker_nodes(p.broker_count as i32)
                .send()
                .await
                .map_err(|e| api_error("UpdateBrokerCount", e))?;
        }
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, arn: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let configuration = self
            .describe(arn)
            .await?
            .as_ref()
            .and_then(Self::configuration_of);
        match self
            .clients
            .kafka()
            .await
            .delete_cluster()
            .cluster_arn(arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e, NOT_FOUND) => {}
            Err(e) => return Err(api_error("DeleteCluster", e)),
        }
        // The cluster's configuration goes with it, once no cluster uses it.
        if let Some((config_arn, _)) = configuration {
            let mut backoff = crate::engine::backoff::Backoff::new(
                std::time::Duration::from_millis(200),
                std::time::Duration::from_secs(30),
            );
            while self.describe(arn).await?.is_some() {
                backoff.sleep().await;
            }
            match self
                .clients
                .kafka()
                .await
                .delete_configuration()
                .arn(&config_arn)
                .send()
                .await
            {
                Ok(_) => {}
                // MSK answers an unknown configuration with a 400 BadRequestException
                // "Configuration ARN does not exist." (terraform-provider-aws
                // internal/service/kafka/configuration.go), not a NotFoundException.
                Err(e) if is_not_found(&e, NOT_FOUND) || is_unknown_configuration(&e) => {}
                Err(e) => return Err(api_error("DeleteConfiguration", e)),
            }
        }
        Ok(())
    }

    async fn is_deleted(&self, _cx: &Cx, arn: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(arn).await?.is_none())
    }
}

/// MSK's answer for a configuration ARN it does not know: `BadRequestException` with
/// "Configuration ARN does not exist" (the text terraform-provider-aws keys on).
fn is_unknown_configuration<E, R>(e: &aws_sdk_kafka::error::SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match e {
        aws_sdk_kafka::error::SdkError::ServiceError(s) => {
            s.err().code() == Some("BadRequestException")
                && s.err()
                    .message()
                    .is_some_and(|m| m.contains("Configuration ARN does not exist"))
        }
        _ => false,
    }
}

pub struct TopicProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

/// How a cluster's topics are managed: the MSK topic API (provisioned, Kafka 3.6 or later), or
/// the Kafka admin protocol on its brokers (serverless, older Kafka).
enum TopicApi {
    Native,
    Admin(crate::clients::kafka_admin::BrokerAdmin),
}

fn version_at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

fn topic_arn(cluster_arn: &str, topic: &str) -> String {
    // arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID → ...:topic/NAME/UUID/TOPIC
    cluster_arn.replacen(":cluster/", ":topic/", 1) + "/" + topic
}

fn topic_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('|')
        .ok_or_else(|| ProviderError::bad_id("topic", id))
}

fn encode_configs(c: &BTreeMap<String, String>) -> String {
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_string(c).unwrap_or_default())
}

fn decode_configs(s: Option<&str>) -> BTreeMap<String, String> {
    s.and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, Value>>(&b).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl TopicProvider {
    async fn api(&self, cluster: &str) -> Result<TopicApi, ProviderError> {
        let c = self
            .clients
            .kafka()
            .await
            .describe_cluster_v2()
            .cluster_arn(cluster)
            .send()
            .await
            .map_err(|e| api_error("DescribeClusterV2", e))?;
        let info = c
            .cluster_info()
            .ok_or_else(|| ProviderError::not_found(format!("cluster {cluster}")))?;
        let serverless = info.serverless().is_some();
        let version = info
            .provisioned()
            .and_then(|p| p.current_broker_software_info())
            .and_then(|s| s.kafka_version())
            .unwrap_or("3.6.0")
            .to_string();
        if !serverless && version_at_least(&version, 3, 6) {
            return Ok(TopicApi::Native);
        }
        let iam = serverless
            || info
                .provisioned()
                .and_then(|p| p.client_authentication())
                .and_then(|a| a.sasl())
                .and_then(|s| s.iam())
                .and_then(|i| i.enabled())
                .unwrap_or(false);
        let brokers = self
            .clients
            .kafka()
            .await
            .get_bootstrap_brokers()
            .cluster_arn(cluster)
            .send()
            .await
            .map_err(|e| api_error("GetBootstrapBrokers", e))?;
        let admin = if iam {
            use aws_credential_types::provider::ProvideCredentials;
            let bootstrap = brokers
                .bootstrap_broker_string_sasl_iam()
                .unwrap_or_default()
                .to_string();
            let config = self.clients.config().await;
            let provider = config.credentials_provider().ok_or_else(|| {
                ProviderError::Credentials("none configured, and MSK IAM needs them".into())
            })?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|e| ProviderError::Credentials(format!("for MSK IAM: {e}")))?;
            crate::clients::kafka_admin::BrokerAdmin::connect_iam(
                &bootstrap,
                &self.clients.region().await,
                credentials,
            )
        } else {
            crate::clients::kafka_admin::BrokerAdmin::connect(
                brokers.bootstrap_broker_string().unwrap_or_default(),
            )
        };
        admin
            .map(TopicApi::Admin)
            .map_err(|message| ProviderError::Kafka {
                operation: "Connect".into(),
                message,
            })
    }

    /// A Kafka admin failure of `operation`, as the engine reports it.
    fn kafka(operation: &'static str) -> impl Fn(String) -> ProviderError {
        move |message| ProviderError::Kafka {
            operation: operation.into(),
            message,
        }
    }

    fn admin_error(e: crate::clients::kafka_admin::AdminError) -> ProviderError {
        ProviderError::Api {
            operation: "Kafka admin".into(),
            code: if e.exists {
                "TopicExistsException".into()
            } else {
                "KafkaRequestException".into()
            },
            message: e.message,
            retryable: false,
        }
    }

    async fn describe(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<aws_sdk_kafka::operation::describe_topic::DescribeTopicOutput>, ProviderError>
    {
        match self
            .clients
            .kafka()
            .await
            .describe_topic()
            .cluster_arn(cluster)
            .topic_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e)
                if is_not_found(&e, NOT_FOUND)
                    || crate::clients::aws::code_of(&e)
                        == Some("UnknownTopicOrPartitionException") =>
            {
                Ok(None)
            }
            Err(e) => Err(api_error("DescribeTopic", e)),
        }
    }
}

#[async_trait]
impl Provider for TopicProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let (cluster, name) = topic_id(id)?;
        if let TopicApi::Admin(admin) = self.api(cluster).await? {
            let Some(t) = admin
                .describe(name)
                .await
                .map_err(Self::kafka("DescribeTopics"))?
            else {
                return Ok(None);
            };
            let declared: Vec<String> = recorded
                .get("configs")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let live = TopicProps {
                cluster_arn: cluster.into(),
                name: name.into(),
                partitions: t.partitions as u32,
                replication_factor: t.replication_factor as u32,
                configs: t
                    .configs
                    .into_iter()
                    .filter(|(k, _)| declared.contains(k))
                    .collect(),
            };
            let mut outputs = Map::new();
            outputs.insert("arn".into(), Value::String(topic_arn(cluster, name)));
            return Ok(Some(Live {
                props: json(&live),
                outputs,
            }));
        }
        let Some(t) = self.describe(cluster, name).await? else {
            return Ok(None);
        };
        if t.status() == Some(&TopicState::Deleting) {
            return Ok(None);
        }
        let declared: Vec<String> = recorded
            .get("configs")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let all = decode_configs(t.configs());
        // Only declared configs are compared; the broker's defaults are not drift.
        let configs = all
            .into_iter()
            .filter(|(k, _)| declared.contains(k))
            .collect();
        let live = TopicProps {
            cluster_arn: cluster.into(),
            name: name.into(),
            partitions: t.partition_count().unwrap_or(0) as u32,
            replication_factor: t.replication_factor().unwrap_or(0) as u32,
            configs,
        };
        let mut outputs = Map::new();
        outputs.insert(
            "arn".into(),
            Value::String(t.topic_arn().unwrap_or_default().into()),
        );
        Ok(Some(Live {
            props: json(&live),
            outputs,
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: TopicProps = typed(props)?;
        let id = format!("{}|{}", p.cluster_arn, p.name);
        if let TopicApi::Admin(admin) = self.api(&p.cluster_arn).await? {
            return match admin
                .create(
                    &p.name,
                    p.partitions as i32,
                    p.replication_factor as i32,
                    &p.configs,
                )
                .await
            {
                Ok(()) => Ok(id),
                Err(e) if e.exists && cx.resuming => Ok(id),
                Err(e) => Err(Self::admin_error(e)),
            };
        }
        let created = self
            .clients
            .kafka()
            .await
            .create_topic()
            .cluster_arn(&p.cluster_arn)
            .topic_name(&p.name)
            .partition_count(p.partitions as i32)
            .replication_factor(p.replication_factor as i32)
            .configs(encode_configs(&p.configs))
            .send()
            .await;
        match created {
            Ok(_) => Ok(id),
            // Topics carry no tags: an existing one is this run's only when resuming its creation.
            Err(e)
                if crate::clients::aws::code_of(&e) == Some("TopicExistsException")
                    && cx.resuming =>
            {
                Ok(id)
            }
            Err(e) => Err(api_error("CreateTopic", e)),
        }
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (cluster, name) = topic_id(id)?;
        if let TopicApi::Admin(admin) = self.api(cluster).await? {
            return Ok(
                match admin
                    .describe(name)
                    .await
                    .map_err(Self::kafka("DescribeTopics"))?
                {
                    Some(_) => {
                        let mut m = Map::new();
                        m.insert("arn".into(), Value::String(topic_arn(cluster, name)));
                        Poll::Ready(m)
                    }
                    None => Poll::Pending("not visible yet".into()),
                },
            );
        }
        let Some(t) = self.describe(cluster, name).await? else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        Ok(match t.status() {
            Some(TopicState::Active) => {
                let mut m = Map::new();
                m.insert(
                    "arn".into(),
                    Value::String(t.topic_arn().unwrap_or_default().into()),
                );
                Poll::Ready(m)
            }
            Some(s) => Poll::Pending(s.as_str().to_string()),
            None => Poll::Pending("unknown".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let (cluster, name) = topic_id(id)?;
        let (o, p): (TopicProps, TopicProps) = (typed(old)?, typed(new)?);
        if p.partitions < o.partitions {
            return Err(ProviderError::Invalid(format!(
                "a topic's partitions can only grow ({} -> {}); replace the topic to shrink it",
                o.partitions, p.partitions
            )));
        }
        if let TopicApi::Admin(admin) = self.api(cluster).await? {
            if p.partitions != o.partitions {
                admin
                    .grow(name, p.partitions as usize)
                    .await
                    .map_err(Self::admin_error)?;
            }
            if p.configs != o.configs {
                admin
                    .alter(name, &p.configs)
                    .await
                    .map_err(Self::admin_error)?;
            }
            return Ok(None);
        }
        let mut req = self
            .clients
            .kafka()
            .await
            .update_topic()
            .cluster_arn(cluster)
            .topic_name(name);
        if p.partitions != o.partitions {
            req = req.partition_count(p.partitions as i32);
        }
        if p.configs != o.configs {
            req = req.configs(encode_configs(&p.configs));
        }
        req.send().await.map_err(|e| api_error("UpdateTopic", e))?;
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let (cluster, name) = topic_id(id)?;
        match self.api(cluster).await {
            Ok(TopicApi::Admin(admin)) => {
                return admin.delete(name).await.map_err(Self::admin_error)
            }
            Ok(TopicApi::Native) => {}
            // The cluster is gone, and its topics with it.
            Err(ProviderError::Api { code, .. }) if code == NOT_FOUND => return Ok(()),
            Err(e) => return Err(e),
        }
        match self
            .clients
            .kafka()
            .await
            .delete_topic()
            .cluster_arn(cluster)
            .topic_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if is_not_found(&e, NOT_FOUND)
                    || crate::clients::aws::code_of(&e)
                        == Some("UnknownTopicOrPartitionException") =>
            {
                Ok(())
            }
            Err(e) => Err(api_error("DeleteTopic", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        let (cluster, name) = topic_id(id)?;
        match self.api(cluster).await {
            Ok(TopicApi::Admin(admin)) => Ok(admin
                .describe(name)
                .await
                .map_err(Self::kafka("DescribeTopics"))?
                .is_none()),
            Ok(TopicApi::Native) => Ok(self.describe(cluster, name).await?.is_none()),
            Err(ProviderError::Api { code, .. }) if code == NOT_FOUND => Ok(true),
            Err(e) => Err(e),
        }
    }
}

fn client_authentication(iam: bool) -> ClientAuthentication {
    ClientAuthentication::builder()
        .sasl(
            Sasl::builder()
                .iam(Iam::builder().enabled(iam).build())
                .build(),
        )
        .build()
}
