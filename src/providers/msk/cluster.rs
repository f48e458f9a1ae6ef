//! `msk.cluster`: a provisioned MSK cluster with IAM client authentication, and the MSK
//! configuration that holds its server properties.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kafka::types::{
    BrokerNodeGroupInfo, ClientAuthentication, ClusterState, ConfigurationInfo, EbsStorageInfo,
    Iam, ProvisionedRequest, Sasl, StorageInfo,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::NOT_FOUND;
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::backoff::Backoff;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::preflight::version_key;
use crate::providers::support::{not_visible_yet, progress, OrAbsent};
use crate::providers::typed::{required, Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// Registers `msk.cluster` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "msk.cluster",
            "A provisioned MSK cluster with IAM client authentication",
        )
        .schema::<ClusterProps>()
        .outputs(&[
            "arn",
            "bootstrap_brokers",
            "bootstrap_brokers_iam",
            "zookeeper_connect",
        ])
        .replace(&[
            ("name", "an MSK cluster cannot be renamed"),
            ("client_subnets", "an MSK cluster cannot change its subnets"),
            (
                "security_groups",
                "an MSK cluster cannot change its security groups",
            ),
        ])
        // MSK may list them in another order than given; Terraform made `client_subnets` a set
        // after such replacements (hashicorp/terraform-provider-aws#14627).
        .sets(&["client_subnets", "security_groups"])
        .timeout(Duration::from_secs(120 * 60)),
        |env| ClusterProvider {
            clients: env.clients.clone(),
        },
    );
}

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
    /// The brokers' subnets, one per AZ (a set: MSK's order is no change).
    pub client_subnets: Vec<String>,
    /// Security groups of the brokers (a set). Left out, MSK uses the VPC's default group
    /// (API reference, `BrokerNodeGroupInfo.SecurityGroups`), so an empty list is not managed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Clients authenticate with IAM (SASL/OAUTHBEARER); default true.
    #[serde(default = "yes")]
    pub iam_auth: bool,
    /// Server properties, kept in an MSK configuration the cluster uses; a change is a new
    /// revision applied in place.
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
}

pub struct ClusterProvider {
    pub clients: Arc<Clients>,
}

impl ClusterProvider {
    /// The cluster named `name`, if there is one (ListClustersV2's filter is a prefix).
    async fn named(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_kafka::types::Cluster>, ProviderError> {
        let out = self
            .clients
            .kafka()
            .await
            .list_clusters_v2()
            .cluster_name_filter(name)
            .send()
            .await
            .map_err(|e| api_error("ListClustersV2", e))?;
        Ok(out
            .cluster_info_list()
            .iter()
            .find(|c| c.cluster_name() == Some(name))
            .cloned())
    }

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

    /// The MSK configuration the cluster is created with, `<cluster name>-config`. A create
    /// that failed after this step (a throttled CreateClusterV2) is tried again: the
    /// configuration it made is then taken as it is when its latest revision holds these
    /// properties, else given a revision that does (UpdateConfiguration), never a conflict.
    async fn new_configuration(&self, p: &ClusterProps) -> Result<(String, i64), ProviderError> {
        let name = format!("{}-config", p.name);
        let properties = crate::format::properties::render(&p.configuration);
        let kafka = self.clients.kafka().await;
        let created = kafka
            .create_configuration()
            .name(&name)
            .kafka_versions(&p.kafka_version)
            .server_properties(aws_sdk_kafka::primitives::Blob::new(properties.clone()))
            .send()
            .await;
        let out = match created {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ConflictException") => {
                return self.existing_configuration(&name, p, properties).await;
            }
            Err(e) => return Err(api_error("CreateConfiguration", e)),
        };
        Ok((
            out.arn().unwrap_or_default().to_string(),
            out.latest_revision()
                .and_then(|r| r.revision())
                .unwrap_or(1),
        ))
    }

    /// The configuration `name` an earlier attempt made, at a revision holding `properties`.
    async fn existing_configuration(
        &self,
        name: &str,
        p: &ClusterProps,
        properties: String,
    ) -> Result<(String, i64), ProviderError> {
        let kafka = self.clients.kafka().await;
        let mut next = None;
        let found = loop {
            let out = kafka
                .list_configurations()
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| api_error("ListConfigurations", e))?;
            let found = out
                .configurations()
                .iter()
                .find(|c| c.name() == Some(name))
                .cloned();
            next = out.next_token().map(str::to_string);
            if found.is_some() || next.is_none() {
                break found;
            }
        };
        let c = found.ok_or_else(|| {
            ProviderError::not_found(format!(
                "MSK configuration `{name}` (CreateConfiguration said it exists)"
            ))
        })?;
        let arn = c.arn().unwrap_or_default().to_string();
        let latest = c.latest_revision().and_then(|r| r.revision()).unwrap_or(1);
        if self.server_properties(&arn, latest).await? == p.configuration {
            return Ok((arn, latest));
        }
        let out = kafka
            .update_configuration()
            .arn(&arn)
            .server_properties(aws_sdk_kafka::primitives::Blob::new(properties))
            .send()
            .await
            .map_err(|e| api_error("UpdateConfiguration", e))?;
        Ok((
            arn,
            out.latest_revision()
                .and_then(|r| r.revision())
                .unwrap_or(latest + 1),
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
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
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
        Ok(self
            .clients
            .kafka()
            .await
            .describe_cluster_v2()
            .cluster_arn(arn)
            .send()
            .await
            .or_absent("DescribeClusterV2", NOT_FOUND)?
            .and_then(|out| out.cluster_info))
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
impl TypedProvider for ClusterProvider {
    type Props = ClusterProps;

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&ClusterProps>,
    ) -> Result<Option<Observed<ClusterProps>>, ProviderError> {
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
        Ok(Some(Observed::new(live, outputs)))
    }

    async fn adopt(&self, cx: &Cx, p: &ClusterProps) -> Result<Option<String>, ProviderError> {
        let Some(c) = self.named(&p.name).await? else {
            return Ok(None);
        };
        let tags = c
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        if owned_by(&tags, cx) {
            return Ok(c.cluster_arn().map(str::to_string));
        }
        Err(not_ours("MSK cluster", &p.name))
    }

    async fn find(&self, _cx: &Cx, p: &ClusterProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .named(&p.name)
            .await?
            .and_then(|c| c.cluster_arn().map(|arn| Found::named(arn, &p.name)))
            .into_iter()
            .collect())
    }

    async fn create(&self, cx: &Cx, p: &ClusterProps) -> Result<String, ProviderError> {
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
            Some(self.new_configuration(p).await?)
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
            return Ok(not_visible_yet());
        };
        progress(c.state(), &[ClusterState::Active], &[ClusterState::Failed])
            .poll(
                self.outputs(arn),
                c.state_info().and_then(|s| s.message()),
                "the cluster failed",
            )
            .await
    }

    async fn update(
        &self,
        _cx: &Cx,
        arn: &str,
        old: Option<&ClusterProps>,
        p: &ClusterProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let o = required(old, "msk.cluster")?;
        let kafka = self.clients.kafka().await;
        // AWS upgrades a cluster whose version reached its end of support on its own (MSK
        // Developer Guide, "Amazon MSK version support"), so the live version can be newer than
        // the stack's; MSK never downgrades, so pinctl does not ask it to (preflight reports the
        // same before `up`).
        let live = self.wait_active(arn).await?;
        let running = live
            .provisioned()
            .and_then(|c| c.current_broker_software_info())
            .and_then(|s| s.kafka_version())
            .unwrap_or_default()
            .to_string();
        if version_key(&p.kafka_version) < version_key(&running) {
            return Err(ProviderError::Invalid(format!(
                "the cluster runs Apache Kafka {running} and the stack asks for {}: MSK upgrades clusters past their version's end of support on its own and never downgrades one; set kafka_version to {running}",
                p.kafka_version
            )));
        }
        // One change at a time: each waits for the cluster to be ACTIVE again.
        if o.kafka_version != p.kafka_version && p.kafka_version != running {
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
                None => self.new_configuration(p).await?,
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

    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&ClusterProps>,
    ) -> Result<(), ProviderError> {
        let configuration = self
            .describe(arn)
            .await?
            .as_ref()
            .and_then(Self::configuration_of);
        self.clients
            .kafka()
            .await
            .delete_cluster()
            .cluster_arn(arn)
            .send()
            .await
            .gone_ok("DeleteCluster", NOT_FOUND)?;
        // The cluster's configuration goes with it, once no cluster uses it.
        if let Some((config_arn, _)) = configuration {
            let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
            while self.describe(arn).await?.is_some() {
                backoff.sleep().await;
            }
            let deleted = self
                .clients
                .kafka()
                .await
                .delete_configuration()
                .arn(&config_arn)
                .send()
                .await;
            match deleted {
                // MSK answers an unknown configuration with a 400 BadRequestException
                // "Configuration ARN does not exist." (terraform-provider-aws
                // internal/service/kafka/configuration.go), not a NotFoundException.
                Err(e) if is_unknown_configuration(&e) => {}
                other => other.gone_ok("DeleteConfiguration", NOT_FOUND)?,
            }
        }
        Ok(())
    }

    async fn is_deleted(&self, _cx: &Cx, arn: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(arn).await?.is_none())
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
