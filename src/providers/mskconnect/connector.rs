//! `mskconnect.connector`: the S3 sink connector; config changes go through UpdateConnector
//! and are verified by reading the connector back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kafkaconnect::types::{
    ApacheKafkaCluster, Capacity as SdkCapacity, ConnectorState, CustomPlugin, KafkaCluster,
    KafkaClusterClientAuthentication, KafkaClusterClientAuthenticationType,
    KafkaClusterEncryptionInTransit, KafkaClusterEncryptionInTransitType, Plugin,
    ProvisionedCapacity, Vpc, WorkerConfiguration,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{properties, NOT_FOUND};
use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::settled;
use crate::engine::backoff::Backoff;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, progress, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// Registers `mskconnect.connector` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
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
        // Sets in Terraform's `aws_mskconnect_connector` (`vpc`), as MSK Connect may reorder them.
        .sets(&["subnets", "security_groups"])
        .timeout(Duration::from_secs(60 * 60)),
        |env| ConnectorProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Connector capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// Security groups of the workers (a set). Left out, the VPC's default group applies, so an
    /// empty list is not managed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

pub struct ConnectorProvider {
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
    /// The ARN of the connector named `name`, if there is one.
    async fn arn_named(&self, name: &str) -> Result<Option<String>, ProviderError> {
        let kc = self.clients.kafkaconnect().await;
        let mut next = None;
        loop {
            let out = kc
                .list_connectors()
                .connector_name_prefix(name)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| api_error("ListConnectors", e))?;
            let found = out
                .connectors()
                .iter()
                .find(|c| c.connector_name() == Some(name))
                .and_then(|c| c.connector_arn().map(str::to_string));
            next = out.next_token().map(str::to_string);
            if found.is_some() || next.is_none() {
                return Ok(found);
            }
        }
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> Result<
        Option<aws_sdk_kafkaconnect::operation::describe_connector::DescribeConnectorOutput>,
        ProviderError,
    > {
        self.clients
            .kafkaconnect()
            .await
            .describe_connector()
            .connector_arn(arn)
            .send()
            .await
            .or_absent("DescribeConnector", NOT_FOUND)
    }

    async fn wait_gone(&self, arn: &str) -> Result<(), ProviderError> {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(15));
        while self.describe(arn).await?.is_some() {
            backoff.sleep().await;
        }
        Ok(())
    }
}

#[async_trait]
impl TypedProvider for ConnectorProvider {
    type Props = ConnectorProps;

    async fn find(&self, _cx: &Cx, p: &ConnectorProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .arn_named(&p.name)
            .await?
            .map(|arn| Found::named(arn, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        rec: Option<&ConnectorProps>,
    ) -> Result<Option<Observed<ConnectorProps>>, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(None);
        };
        if d.connector_state() == Some(&ConnectorState::Deleting) {
            return Ok(None);
        }
        let live_config: BTreeMap<String, String> = d
            .connector_configuration()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let config = match rec {
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
        Ok(Some(Observed::new(live, outputs)))
    }

    async fn adopt(&self, cx: &Cx, p: &ConnectorProps) -> Result<Option<String>, ProviderError> {
        let arn = self.arn_named(&p.name).await?;
        super::adopt(&self.clients, cx, "MSK Connect connector", &p.name, arn).await
    }

    async fn create(&self, cx: &Cx, p: &ConnectorProps) -> Result<String, ProviderError> {
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
        let out = settled("CreateConnector", || req.clone().send()).await?;
        out.connector_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateConnector", "an ARN"))
    }

    async fn poll(&self, cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(not_visible_yet());
        };
        let ready = async {
            Ok(match self.read(cx, arn, None).await? {
                Some(l) => Poll::Ready(l.outputs),
                None => not_visible_yet(),
            })
        };
        progress(
            d.connector_state(),
            &[ConnectorState::Running],
            &[ConnectorState::Failed],
        )
        .poll_then(
            ready,
            d.state_description().and_then(|s| s.message()),
            "the connector failed",
        )
        .await
    }

    /// UpdateConnector, then the operation is followed until it ends and the connector is read
    /// back: an update that did not take is reported and the connector is made again.
    ///
    /// MSK Connect takes one thing per call: "For request body, specify only one parameter:
    /// either capacity or connectorConfiguration" (MSK Connect API Reference, UpdateConnector).
    /// A change of both is two updates, the capacity first, each at the connector's version.
    async fn update(
        &self,
        cx: &Cx,
        arn: &str,
        old: Option<&ConnectorProps>,
        p: &ConnectorProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let want = properties(&p.config, "config")?;
        let capacity_changed = old.is_none_or(|o| o.capacity != p.capacity);
        let config_changed = old.is_none_or(|o| o.config != p.config);
        let mut steps = Vec::new();
        if capacity_changed {
            steps.push(Update::Capacity);
        }
        if config_changed || steps.is_empty() {
            steps.push(Update::Configuration);
        }
        let mut outcome = Ok(());
        for step in steps {
            outcome = self.update_one(arn, p, &want, step).await?;
            if outcome.is_err() {
                break;
            }
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
                self.delete(cx, arn, None).await?;
                self.wait_gone(arn).await?;
                Ok(Some(self.create(cx, p).await?))
            }
        }
    }

    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&ConnectorProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .kafkaconnect()
            .await
            .delete_connector()
            .connector_arn(arn)
            .send()
            .await
            .gone_ok("DeleteConnector", NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, arn: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(arn).await?.is_none())
    }
}

/// What one UpdateConnector call changes.
#[derive(Debug, Clone, Copy)]
enum Update {
    Capacity,
    Configuration,
}

impl ConnectorProvider {
    /// One UpdateConnector call at the connector's current version, followed until its
    /// operation ends. `Ok(Err(why))`: the service refused or rolled back the change.
    async fn update_one(
        &self,
        arn: &str,
        p: &ConnectorProps,
        want: &BTreeMap<String, String>,
        what: Update,
    ) -> Result<Result<(), String>, ProviderError> {
        let kc = self.clients.kafkaconnect().await;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(15));
        let version = loop {
            let d = self
                .describe(arn)
                .await?
                .ok_or_else(|| ProviderError::not_found(format!("connector {arn}")))?;
            match d.connector_state() {
                Some(ConnectorState::Running) => {
                    break d.current_version().unwrap_or_default().to_string()
                }
                Some(ConnectorState::Failed) => {
                    return Ok(Err("the connector is FAILED and cannot be updated".into()))
                }
                _ => backoff.sleep().await,
            }
        };
        let call = kc
            .update_connector()
            .connector_arn(arn)
            .current_version(&version);
        let call = match what {
            Update::Capacity => call.capacity(
                aws_sdk_kafkaconnect::types::CapacityUpdate::builder()
                    .provisioned_capacity(
                        aws_sdk_kafkaconnect::types::ProvisionedCapacityUpdate::builder()
                            .mcu_count(p.capacity.mcu_count as i32)
                            .worker_count(p.capacity.worker_count as i32)
                            .build(),
                    )
                    .build(),
            ),
            Update::Configuration => {
                call.set_connector_configuration(Some(want.clone().into_iter().collect()))
            }
        };
        let out = call
            .send()
            .await
            .map_err(|e| api_error("UpdateConnector", e))?;
        let op = out
            .connector_operation_arn()
            .unwrap_or_default()
            .to_string();
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(15));
        loop {
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
                "UPDATE_COMPLETE" => return Ok(Ok(())),
                "UPDATE_FAILED" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => {
                    return Ok(Err(format!(
                        "operation {op} ended {state}: {}",
                        d.error_info()
                            .and_then(|e| e.message())
                            .unwrap_or("no detail")
                    )))
                }
                _ => backoff.sleep().await,
            }
        }
    }
}
