//! `mwaa.environment`: the Airflow environment that runs the daily batch DAG.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_mwaa::types::{
    EnvironmentStatus, NetworkConfiguration, UpdateNetworkConfigurationInput, WebserverAccessMode,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::settled;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, progress, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

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
    /// The S3 object version of `requirements_s3_path`, required with it ("If specified, then
    /// a version is required": MWAA API Reference, CreateEnvironment), e.g.
    /// `${requirements.version_id}`; a new version updates the environment. The bucket must
    /// have versioning on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements_s3_object_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_workers: Option<u32>,
    /// `PUBLIC_ONLY` or `PRIVATE_ONLY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webserver_access_mode: Option<String>,
    pub network: Network,
    #[serde(default)]
    pub airflow_configuration_options: BTreeMap<String, String>,
}

/// Registers `mwaa.environment` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "mwaa.environment",
            "An MWAA (Airflow) environment reading DAGs from an S3 bucket",
        )
        .schema::<EnvironmentProps>()
        .outputs(&["arn", "webserver_url", "status"])
        .replace(&[
            ("name", "an environment cannot be renamed"),
            ("network", "an environment cannot change its network"),
            (
                "source_bucket_arn",
                "an environment's source bucket is fixed",
            ),
        ])
        // Sets in Terraform's `aws_mwaa_environment` (`network_configuration`).
        .sets(&["network.subnet_ids", "network.security_group_ids"])
        .timeout(Duration::from_secs(120 * 60)),
        |env| EnvironmentProvider {
            clients: env.clients.clone(),
        },
    );
}

/// What MWAA answers for an environment that is not there.
const NOT_FOUND: Absent = Absent::CodesOr404(&["ResourceNotFoundException"]);

pub struct EnvironmentProvider {
    pub clients: Arc<Clients>,
}

impl EnvironmentProvider {
    async fn get(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_mwaa::types::Environment>, ProviderError> {
        Ok(self
            .clients
            .mwaa()
            .await
            .get_environment()
            .name(name)
            .send()
            .await
            .or_absent("GetEnvironment", NOT_FOUND)?
            .and_then(|o| o.environment))
    }

    fn outputs(e: &aws_sdk_mwaa::types::Environment) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "arn".into(),
            Value::String(e.arn().unwrap_or_default().into()),
        );
        m.insert(
            "webserver_url".into(),
            Value::String(e.webserver_url().unwrap_or_default().into()),
        );
        m.insert(
            "status".into(),
            Value::String(
                e.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            ),
        );
        m
    }
}

#[async_trait]
impl TypedProvider for EnvironmentProvider {
    type Props = EnvironmentProps;

    async fn find(&self, _cx: &Cx, p: &EnvironmentProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .get(&p.name)
            .await?
            .map(|_| Found::named(&p.name, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        rec: Option<&EnvironmentProps>,
    ) -> Result<Option<Observed<EnvironmentProps>>, ProviderError> {
        let Some(e) = self.get(name).await? else {
            return Ok(None);
        };
        if e.status() == Some(&EnvironmentStatus::Deleting)
            || e.status() == Some(&EnvironmentStatus::Deleted)
        {
            return Ok(None);
        }
        let net = e.network_configuration();
        let live = EnvironmentProps {
            name: e.name().unwrap_or_default().into(),
            airflow_version: e.airflow_version().unwrap_or_default().into(),
            environment_class: e.environment_class().unwrap_or_default().into(),
            execution_role_arn: e.execution_role_arn().unwrap_or_default().into(),
            source_bucket_arn: e.source_bucket_arn().unwrap_or_default().into(),
            dag_s3_path: e.dag_s3_path().unwrap_or_default().into(),
            requirements_s3_path: e.requirements_s3_path().map(str::to_string),
            requirements_s3_object_version: e.requirements_s3_object_version().map(str::to_string),
            max_workers: e
                .max_workers()
                .map(|n| n as u32)
                .or(rec.and_then(|r| r.max_workers)),
            webserver_access_mode: e.webserver_access_mode().map(|m| m.as_str().to_string()),
            network: Network {
                subnet_ids: net.map(|n| n.subnet_ids().to_vec()).unwrap_or_default(),
                security_group_ids: net
                    .map(|n| n.security_group_ids().to_vec())
                    .unwrap_or_default(),
            },
            airflow_configuration_options: e
                .airflow_configuration_options()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        Ok(Some(Observed::new(live, Self::outputs(&e))))
    }

    async fn adopt(&self, cx: &Cx, p: &EnvironmentProps) -> Result<Option<String>, ProviderError> {
        let Some(e) = self.get(&p.name).await? else {
            return Ok(None);
        };
        let tags = e
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        if owned_by(&tags, cx) {
            Ok(Some(p.name.clone()))
        } else {
            Err(not_ours("MWAA environment", &p.name))
        }
    }

    async fn create(&self, cx: &Cx, p: &EnvironmentProps) -> Result<String, ProviderError> {
        let mwaa = self.clients.mwaa().await;
        let req = mwaa
            .create_environment()
            .name(&p.name)
            .airflow_version(&p.airflow_version)
            .environment_class(&p.environment_class)
            .execution_role_arn(&p.execution_role_arn)
            .source_bucket_arn(&p.source_bucket_arn)
            .dag_s3_path(&p.dag_s3_path)
            .set_requirements_s3_path(p.requirements_s3_path.clone())
            .set_requirements_s3_object_version(p.requirements_s3_object_version.clone())
            .set_max_workers(p.max_workers.map(|n| n as i32))
            .set_webserver_access_mode(
                p.webserver_access_mode
                    .as_deref()
                    .map(WebserverAccessMode::from),
            )
            .network_configuration(
                NetworkConfiguration::builder()
                    .set_subnet_ids(Some(p.network.subnet_ids.clone()))
                    .set_security_group_ids(Some(p.network.security_group_ids.clone()))
                    .build(),
            )
            .set_airflow_configuration_options((!p.airflow_configuration_options.is_empty()).then(
                || {
                    p.airflow_configuration_options
                        .clone()
                        .into_iter()
                        .collect()
                },
            ))
            .set_tags(Some(cx.tags().into_iter().collect()));
        settled("CreateEnvironment", || req.clone().send()).await?;
        Ok(p.name.clone())
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        let Some(e) = self.get(name).await? else {
            return Ok(not_visible_yet());
        };
        progress(
            e.status(),
            &[EnvironmentStatus::Available],
            &[
                EnvironmentStatus::CreateFailed,
                EnvironmentStatus::UpdateFailed,
            ],
        )
        .poll(
            async { Ok(Self::outputs(&e)) },
            e.last_update()
                .and_then(|u| u.error())
                .and_then(|er| er.error_message()),
            "the environment failed",
        )
        .await
    }

    async fn update(
        &self,
        _cx: &Cx,
        name: &str,
        _old: Option<&EnvironmentProps>,
        p: &EnvironmentProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.clients
            .mwaa()
            .await
            .update_environment()
            .name(name)
            .airflow_version(&p.airflow_version)
            .environment_class(&p.environment_class)
            .execution_role_arn(&p.execution_role_arn)
            .dag_s3_path(&p.dag_s3_path)
            .set_requirements_s3_path(p.requirements_s3_path.clone())
            .set_requirements_s3_object_version(p.requirements_s3_object_version.clone())
            .set_max_workers(p.max_workers.map(|n| n as i32))
            .set_webserver_access_mode(
                p.webserver_access_mode
                    .as_deref()
                    .map(WebserverAccessMode::from),
            )
            .network_configuration(
                UpdateNetworkConfigurationInput::builder()
                    .set_security_group_ids(Some(p.network.security_group_ids.clone()))
                    .build()
                    .map_err(|e| ProviderError::Invalid(e.to_string()))?,
            )
            .set_airflow_configuration_options(Some(
                p.airflow_configuration_options
                    .clone()
                    .into_iter()
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| api_error("UpdateEnvironment", e))?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&EnvironmentProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .mwaa()
            .await
            .delete_environment()
            .name(name)
            .send()
            .await
            .gone_ok("DeleteEnvironment", NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, name: &str) -> Result<bool, ProviderError> {
        Ok(self.get(name).await?.is_none())
    }
}
