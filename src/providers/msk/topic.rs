//! `msk.topic`: a Kafka topic on an MSK cluster, through the MSK topic API or, where the cluster
//! has none, the Kafka admin protocol.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kafka::types::TopicState;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::NOT_FOUND_CODE;
use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::kafka_admin::{AdminError, BrokerAdmin};
use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, progress, Absent, CompositeId, OrAbsent};
use crate::providers::typed::{required, Observed, TypedProvider};
use crate::providers::Registry;

/// `cluster_arn|topic` (a cluster ARN holds `/` and `:`).
const ID: CompositeId = CompositeId::new("topic", '|');

/// A topic that is not there, as the MSK API or the brokers behind it say so.
const TOPIC_NOT_FOUND: Absent =
    Absent::CodesOr404(&[NOT_FOUND_CODE, "UnknownTopicOrPartitionException"]);

/// Registers `msk.topic` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "msk.topic",
            "A Kafka topic on an MSK cluster; partitions grow in place",
        )
        .schema::<TopicProps>()
        .outputs(&["arn"])
        .replace(&[
            ("cluster_arn", "a topic cannot move to another cluster"),
            ("name", "a topic cannot be renamed"),
            (
                "replication_factor",
                "Kafka cannot change a topic's replication factor in place",
            ),
        ])
        .timeout(Duration::from_secs(600)),
        |env| TopicProvider {
            clients: env.clients.clone(),
        },
    );
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

pub struct TopicProvider {
    pub clients: Arc<Clients>,
}

/// How a cluster's topics are managed: the MSK topic API (provisioned, Kafka 3.6 or later), or
/// the Kafka admin protocol on its brokers (serverless, older Kafka).
enum TopicApi {
    Native,
    Admin(BrokerAdmin),
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
    /// How to reach the topics of a cluster that must exist (to create, wait, update).
    async fn live_api(&self, cluster: &str) -> Result<TopicApi, ProviderError> {
        self.api(cluster)
            .await?
            .ok_or_else(|| ProviderError::not_found(format!("MSK cluster {cluster}")))
    }

    /// How to reach the cluster's topics; `None` when the cluster is gone, and its topics
    /// with it.
    async fn api(&self, cluster: &str) -> Result<Option<TopicApi>, ProviderError> {
        let Some(c) = self
            .clients
            .kafka()
            .await
            .describe_cluster_v2()
            .cluster_arn(cluster)
            .send()
            .await
            .or_absent("DescribeClusterV2", super::NOT_FOUND)?
        else {
            return Ok(None);
        };
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
            return Ok(Some(TopicApi::Native));
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
            BrokerAdmin::connect_iam(&bootstrap, &self.clients.region().await, credentials)
        } else {
            BrokerAdmin::connect(brokers.bootstrap_broker_string().unwrap_or_default())
        };
        admin
            .map(|a| Some(TopicApi::Admin(a)))
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

    fn admin_error(e: AdminError) -> ProviderError {
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
        self.clients
            .kafka()
            .await
            .describe_topic()
            .cluster_arn(cluster)
            .topic_name(name)
            .send()
            .await
            .or_absent("DescribeTopic", TOPIC_NOT_FOUND)
    }
}

#[async_trait]
impl TypedProvider for TopicProvider {
    type Props = TopicProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&TopicProps>,
    ) -> Result<Option<Observed<TopicProps>>, ProviderError> {
        let (cluster, name) = ID.pair(id)?;
        // Only declared configs are compared; the broker's defaults are not drift.
        let declared: Vec<String> = recorded
            .map(|r| r.configs.keys().cloned().collect())
            .unwrap_or_default();
        let Some(api) = self.api(cluster).await? else {
            return Ok(None);
        };
        if let TopicApi::Admin(admin) = api {
            let Some(t) = admin
                .describe(name)
                .await
                .map_err(Self::kafka("DescribeTopics"))?
            else {
                return Ok(None);
            };
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
            return Ok(Some(Observed::new(live, outputs)));
        }
        let Some(t) = self.describe(cluster, name).await? else {
            return Ok(None);
        };
        if t.status() == Some(&TopicState::Deleting) {
            return Ok(None);
        }
        let all = decode_configs(t.configs());
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
        Ok(Some(Observed::new(live, outputs)))
    }

    fn id_of(&self, props: &Self::Props) -> Option<String> {
        Some(ID.join(&[&props.cluster_arn, &props.name]))
    }

    async fn create(&self, cx: &Cx, p: &TopicProps) -> Result<String, ProviderError> {
        let id = ID.join(&[&p.cluster_arn, &p.name]);
        if let TopicApi::Admin(admin) = self.live_api(&p.cluster_arn).await? {
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
            Err(e) if code_of(&e) == Some("TopicExistsException") && cx.resuming => Ok(id),
            Err(e) => Err(api_error("CreateTopic", e)),
        }
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (cluster, name) = ID.pair(id)?;
        if let TopicApi::Admin(admin) = self.live_api(cluster).await? {
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
                    None => not_visible_yet(),
                },
            );
        }
        let Some(t) = self.describe(cluster, name).await? else {
            return Ok(not_visible_yet());
        };
        let arn = async {
            let mut m = Map::new();
            m.insert(
                "arn".into(),
                Value::String(t.topic_arn().unwrap_or_default().into()),
            );
            Ok(m)
        };
        // A topic has no failed state: it is active or on its way.
        progress(t.status(), &[TopicState::Active], &[])
            .poll(arn, None, "")
            .await
    }

    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        old: Option<&TopicProps>,
        p: &TopicProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let (cluster, name) = ID.pair(id)?;
        let o = required(old, "msk.topic")?;
        if p.partitions < o.partitions {
            return Err(ProviderError::Invalid(format!(
                "a topic's partitions can only grow ({} -> {}); replace the topic to shrink it",
                o.partitions, p.partitions
            )));
        }
        if let TopicApi::Admin(admin) = self.live_api(cluster).await? {
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

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&TopicProps>,
    ) -> Result<(), ProviderError> {
        let (cluster, name) = ID.pair(id)?;
        match self.api(cluster).await? {
            Some(TopicApi::Admin(admin)) => {
                return admin.delete(name).await.map_err(Self::admin_error)
            }
            Some(TopicApi::Native) => {}
            None => return Ok(()),
        }
        self.clients
            .kafka()
            .await
            .delete_topic()
            .cluster_arn(cluster)
            .topic_name(name)
            .send()
            .await
            .gone_ok("DeleteTopic", TOPIC_NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        let (cluster, name) = ID.pair(id)?;
        match self.api(cluster).await? {
            Some(TopicApi::Admin(admin)) => Ok(admin
                .describe(name)
                .await
                .map_err(Self::kafka("DescribeTopics"))?
                .is_none()),
            Some(TopicApi::Native) => Ok(self.describe(cluster, name).await?.is_none()),
            None => Ok(true),
        }
    }
}
