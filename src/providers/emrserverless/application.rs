//! `emrserverless.application`: an EMR Serverless application (Terraform's
//! `aws_emrserverless_application`), on which the DAG's `emr` runner starts the batch job as a
//! Spark job run.
//!
//! The application's id is its physical id: every call but CreateApplication and
//! ListApplications names the application by id, and the API does not make names unique, so a
//! name alone identifies nothing (lookups go by name and the stack's tags).
//!
//! States (EMR Serverless API Reference, `Application.state`:
//! https://docs.aws.amazon.com/emr-serverless/latest/APIReference/API_Application.html):
//! `CREATING` → `CREATED`; `STARTING` → `STARTED` (StartApplication, or a job run submitted to
//! an application with auto-start, the default); `STOPPING` → `STOPPED` (StopApplication, or
//! auto-stop after the idle timeout, 15 minutes by default); `TERMINATED` after
//! DeleteApplication. The rules the provider survives:
//! - UpdateApplication: "An application has to be in a stopped or created state in order to be
//!   updated" (API Reference, UpdateApplication);
//! - DeleteApplication: "An application has to be in a stopped or created state in order to be
//!   deleted" (API Reference, DeleteApplication);
//! - StopApplication: "All scheduled and running jobs must be completed or cancelled before
//!   stopping an application" (API Reference, StopApplication).
//!
//! So an update or a delete of a `STARTED` application stops it first (cancelling its job runs
//! when a delete finds some still running), and a delete waits for `STOPPED` through the
//! engine's retries ([`ProviderError::InUse`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_emrserverless::types::{
    Application, ApplicationState, AutoStopConfig, JobRunState, MaximumAllowedResources,
    NetworkConfiguration,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::propagation::settled;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{owned_by, Registry};

/// The most an application may use at once, in EMR Serverless's units (API Reference,
/// `MaximumAllowedResources`): `cpu` as `"8 vCPU"`, `memory` as `"32 GB"`, `disk` as
/// `"200 GB"`. Jobs beyond it wait for capacity; the bill is what jobs use, not this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// `CpuSize`: `[1-9][0-9]*(\s)?(vCPU|vcpu|VCPU)?`, at most 15 characters.
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[1-9][0-9]*\s?(vCPU|vcpu|VCPU)?$")
    )]
    pub cpu: String,
    /// `MemorySize`: `[1-9][0-9]*(\s)?(GB|gb|gB|Gb)?`, at most 15 characters.
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[1-9][0-9]*\s?(GB|gb|gB|Gb)?$")
    )]
    pub memory: String,
    /// `DiskSize`: `[1-9][0-9]*(\s)?(GB|gb|gB|Gb)` (the unit is required), at most 15
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[1-9][0-9]*\s?(GB|gb|gB|Gb)$")
    )]
    pub disk: Option<String>,
}

/// Where an application's workers run: subnets of the stack's VPC and their security groups
/// (API Reference, `NetworkConfiguration`). Without it, workers have internet access and no
/// access to the VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// At most 16 (`SubnetIds`).
    #[schemars(length(max = 16))]
    pub subnet_ids: Vec<String>,
    /// At most 5 (`SecurityGroupIds`).
    #[schemars(length(max = 5))]
    pub security_group_ids: Vec<String>,
}

/// An application's engine (CreateApplication `type`). AWS's examples spell it `Spark` or
/// `SPARK`, and GetApplication answers as it was given: one enum, compared case-insensitively,
/// so a stack's spelling never reads as drift (a change of `type` replaces the application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Engine {
    #[serde(rename = "SPARK", alias = "Spark", alias = "spark")]
    Spark,
    #[serde(rename = "HIVE", alias = "Hive", alias = "hive")]
    Hive,
}

impl Engine {
    /// The `type` sent to CreateApplication.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Spark => "SPARK",
            Engine::Hive => "HIVE",
        }
    }

    /// The engine of a GetApplication `type`, whatever its case.
    pub fn from_api(t: &str) -> Option<Engine> {
        match t.to_ascii_uppercase().as_str() {
            "SPARK" => Some(Engine::Spark),
            "HIVE" => Some(Engine::Hive),
            _ => None,
        }
    }
}

fn spark() -> Engine {
    Engine::Spark
}

fn fifteen() -> u32 {
    15
}

/// Props of `emrserverless.application`. The rules on each field are the EMR Serverless
/// service model's (botocore `emr-serverless` 2021-07-13, `CreateApplicationRequest`), checked
/// at `validate` and `plan` ([`crate::stack::constraints`]).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationProps {
    /// 1 to 64 letters, digits and `._/#-` (`ApplicationName`).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._/#-]+$"))]
    pub name: String,
    /// The EMR release, e.g. `emr-7.9.0` (its Spark and Delta Lake versions: EMR Serverless
    /// User Guide, "Release versions"): EMR Serverless runs `emr-6.6.0` and later. Changes in
    /// place (UpdateApplication `releaseLabel`).
    #[schemars(
        length(min = 1, max = 64),
        regex(
            pattern = r"^emr-(6\.([6-9]|[1-9][0-9])|[7-9]\.[0-9]+|[1-9][0-9]+\.[0-9]+)\.[0-9]+$"
        )
    )]
    pub release_label: String,
    /// `SPARK` or `HIVE` (CreateApplication `type`).
    #[serde(default = "spark")]
    pub engine: Engine,
    pub maximum_capacity: Capacity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Minutes an idle application runs before it stops by itself, 1 to 10080 (a week); 0
    /// turns auto-stop off (auto-stop, on by default on AWS with 15 minutes: API Reference,
    /// `AutoStopConfig`).
    #[serde(default = "fifteen")]
    #[schemars(range(max = 10080))]
    pub auto_stop_idle_minutes: u32,
}

/// Registers `emrserverless.application` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "emrserverless.application",
            "An EMR Serverless application (Spark) the batch job runs on; release, capacity, network and auto-stop change in place",
        )
        .schema::<ApplicationProps>()
        // Not `state`: it changes on its own (auto-start, auto-stop), so a recorded one is
        // stale by the next run.
        .outputs(&["id", "arn"])
        .replace(&[
            ("name", "an application cannot be renamed"),
            ("engine", "an application's type cannot change"),
        ])
        // Sets in Terraform's `aws_emrserverless_application` (`network_configuration`).
        .sets(&["network.subnet_ids", "network.security_group_ids"])
        // A delete may first stop the application and cancel its job runs.
        .timeout(Duration::from_secs(30 * 60)),
        |env| ApplicationProvider {
            clients: env.clients.clone(),
        },
    );
}

/// What EMR Serverless answers for an application that is not there.
const NOT_FOUND: Absent = Absent::CodesOr404(&["ResourceNotFoundException"]);

/// Job run states a job has not left yet (API Reference, `JobRun.state`): what StopApplication
/// waits for to be completed or cancelled.
const RUNNING_JOBS: [JobRunState; 6] = [
    JobRunState::Submitted,
    JobRunState::Pending,
    JobRunState::Scheduled,
    JobRunState::Running,
    JobRunState::Queued,
    JobRunState::Cancelling,
];

pub struct ApplicationProvider {
    pub clients: Arc<Clients>,
}

fn outputs(a: &Application) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(a.application_id().into()));
    m.insert("arn".into(), Value::String(a.arn().into()));
    m
}

fn tags_of(a: &Application) -> BTreeMap<String, String> {
    a.tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The application's state allows UpdateApplication and DeleteApplication.
fn at_rest(s: &ApplicationState) -> bool {
    matches!(s, ApplicationState::Created | ApplicationState::Stopped)
}

impl ApplicationProvider {
    async fn get(&self, id: &str) -> Result<Option<Application>, ProviderError> {
        Ok(self
            .clients
            .emrserverless()
            .await
            .get_application()
            .application_id(id)
            .send()
            .await
            .or_absent("GetApplication", NOT_FOUND)?
            .and_then(|o| o.application))
    }

    /// Ids of the live (not `TERMINATED`) applications named `name` (every page).
    async fn named(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let apps: Vec<_> = self
            .clients
            .emrserverless()
            .await
            .list_applications()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| api_error("ListApplications", e))?;
        Ok(apps
            .iter()
            .filter(|a| a.name() == Some(name))
            .filter(|a| a.state() != &ApplicationState::Terminated)
            .map(|a| a.id().to_string())
            .collect())
    }

    /// Moves the application toward `STOPPED` so it can be updated or deleted: `Ok(true)` when
    /// it is there (`CREATED` or `STOPPED`), else the step taken (StopApplication of a
    /// `STARTED` one, its running job runs cancelled first when `cancel_jobs`), and `Ok(false)`.
    async fn to_rest(&self, id: &str, cancel_jobs: bool) -> Result<bool, ProviderError> {
        let Some(a) = self.get(id).await? else {
            return Ok(true);
        };
        match a.state() {
            s if at_rest(s) || s == &ApplicationState::Terminated => Ok(true),
            ApplicationState::Started => {
                let emr = self.clients.emrserverless().await;
                match emr.stop_application().application_id(id).send().await {
                    Ok(_) => Ok(false),
                    // Jobs still running or scheduled (StopApplication's rule): cancelled for a
                    // delete; for an update, waited for (the caller's deadline makes it InUse,
                    // which the engine retries).
                    Err(e) if code_of(&e) == Some("ValidationException") => {
                        if cancel_jobs {
                            self.cancel_jobs(id).await?;
                        }
                        Ok(false)
                    }
                    Err(e) => Err(api_error("StopApplication", e)),
                }
            }
            // CREATING, STARTING, STOPPING: the service is moving it; wait.
            _ => Ok(false),
        }
    }

    /// CancelJobRun for every job run of the application that has not ended (every page of
    /// ListJobRuns: at most 50 runs each).
    async fn cancel_jobs(&self, id: &str) -> Result<(), ProviderError> {
        let emr = self.clients.emrserverless().await;
        let runs: Vec<_> = emr
            .list_job_runs()
            .application_id(id)
            .set_states(Some(RUNNING_JOBS.to_vec()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| api_error("ListJobRuns", e))?;
        let live = runs
            .iter()
            .filter(|r| r.state() != &JobRunState::Cancelling)
            .map(|r| r.id().to_string());
        for run in live {
            match emr
                .cancel_job_run()
                .application_id(id)
                .job_run_id(&run)
                .send()
                .await
            {
                Ok(_) => {}
                // The run ended between the list and the cancel.
                Err(e) if code_of(&e) == Some("ValidationException") => {}
                Err(e) => return Err(api_error("CancelJobRun", e)),
            }
        }
        Ok(())
    }

    /// [`in_use`] with the application's state now (an error reading it is the error).
    async fn busy(&self, id: &str) -> ProviderError {
        match self.get(id).await {
            Ok(a) => in_use(id, a.as_ref().map_or("", |a| a.state().as_str())),
            Err(e) => e,
        }
    }
}

fn in_use(id: &str, state: &str) -> ProviderError {
    ProviderError::InUse {
        what: format!("EMR Serverless application {id}"),
        reason: format!(
            "it is {state}; it must be CREATED or STOPPED to be changed or deleted, so it is being stopped"
        ),
    }
}

#[async_trait]
impl TypedProvider for ApplicationProvider {
    type Props = ApplicationProps;

    async fn find(&self, _cx: &Cx, p: &ApplicationProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .named(&p.name)
            .await?
            .into_iter()
            .map(|id| Found::named(id, &p.name))
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&ApplicationProps>,
    ) -> Result<Option<Observed<ApplicationProps>>, ProviderError> {
        let Some(a) = self
            .get(id)
            .await?
            .filter(|a| a.state() != &ApplicationState::Terminated)
        else {
            return Ok(None);
        };
        let cap = a.maximum_capacity();
        let live = ApplicationProps {
            name: a.name().unwrap_or_default().into(),
            release_label: a.release_label().into(),
            engine: Engine::from_api(a.r#type()).ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "EMR Serverless application {id} has type {:?}: pinctl knows SPARK and HIVE",
                    a.r#type()
                ))
            })?,
            maximum_capacity: Capacity {
                cpu: cap.map(|c| c.cpu().to_string()).unwrap_or_default(),
                memory: cap.map(|c| c.memory().to_string()).unwrap_or_default(),
                disk: cap.and_then(|c| c.disk()).map(str::to_string),
            },
            network: a.network_configuration().map(|n| Network {
                subnet_ids: n.subnet_ids().to_vec(),
                security_group_ids: n.security_group_ids().to_vec(),
            }),
            auto_stop_idle_minutes: a
                .auto_stop_configuration()
                .filter(|c| c.enabled() != Some(false))
                .and_then(|c| c.idle_timeout_minutes())
                .map(|m| m as u32)
                .unwrap_or(0),
        };
        Ok(Some(Observed::new(live, outputs(&a))))
    }

    /// An application of this name with the stack's tags for this resource.
    async fn adopt(&self, cx: &Cx, p: &ApplicationProps) -> Result<Option<String>, ProviderError> {
        let mut other = false;
        for id in self.named(&p.name).await? {
            let Some(a) = self.get(&id).await? else {
                continue;
            };
            if owned_by(&tags_of(&a), cx) {
                return Ok(Some(id));
            }
            other = true;
        }
        // Names are not unique in EMR Serverless: another's application of this name is no
        // obstacle to creating ours, but it is said.
        if other {
            tracing::info!(
                "an EMR Serverless application named {} exists and is not this stack's; creating another",
                p.name
            );
        }
        Ok(None)
    }

    async fn create(&self, cx: &Cx, p: &ApplicationProps) -> Result<String, ProviderError> {
        let emr = self.clients.emrserverless().await;
        let req = emr
            .create_application()
            .name(&p.name)
            .release_label(&p.release_label)
            .r#type(p.engine.as_str())
            // The idempotency token (API Reference, CreateApplication `clientToken`): a create
            // repeated after a crash returns the application the first one made.
            .client_token(&cx.token)
            .maximum_capacity(capacity(&p.maximum_capacity)?)
            .set_network_configuration(p.network.as_ref().map(network))
            .auto_stop_configuration(auto_stop(p.auto_stop_idle_minutes))
            .set_tags(Some(cx.tags().into_iter().collect()));
        let out = settled("CreateApplication", || req.clone().send()).await?;
        Ok(out.application_id().to_string())
    }

    /// `CREATING` → `CREATED` (ready; as are `STARTED` and `STOPPED`, which an update leaves),
    /// `TERMINATED` (failed, with `stateDetails`).
    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let Some(a) = self.get(id).await? else {
            return Ok(not_visible_yet());
        };
        Ok(match a.state() {
            ApplicationState::Created | ApplicationState::Started | ApplicationState::Stopped => {
                Poll::Ready(outputs(&a))
            }
            ApplicationState::Terminated => Poll::Failed(
                a.state_details()
                    .filter(|d| !d.is_empty())
                    .unwrap_or("the application was terminated")
                    .to_string(),
            ),
            s => Poll::Pending(s.as_str().to_string()),
        })
    }

    /// UpdateApplication, once the application is `CREATED` or `STOPPED` (stopping a `STARTED`
    /// one and waiting, within two minutes: a stop takes seconds when no job runs).
    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        _old: Option<&ApplicationProps>,
        p: &ApplicationProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while !self.to_rest(id, false).await? {
            if tokio::time::Instant::now() > deadline {
                return Err(self.busy(id).await);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let emr = self.clients.emrserverless().await;
        let req = emr
            .update_application()
            .application_id(id)
            .client_token(uuid::Uuid::new_v4().to_string())
            .release_label(&p.release_label)
            .maximum_capacity(capacity(&p.maximum_capacity)?)
            .network_configuration(
                p.network
                    .as_ref()
                    .map(network)
                    .unwrap_or_else(|| NetworkConfiguration::builder().build()),
            )
            .auto_stop_configuration(auto_stop(p.auto_stop_idle_minutes));
        settled("UpdateApplication", || req.clone().send()).await?;
        Ok(None)
    }

    /// DeleteApplication of a `CREATED` or `STOPPED` application; a `STARTED` one is stopped
    /// first (its job runs cancelled when they keep it from stopping) and the engine retries
    /// ([`ProviderError::InUse`]) until it is `STOPPED`.
    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&ApplicationProps>,
    ) -> Result<(), ProviderError> {
        // A TERMINATED application is gone (DeleteApplication refuses it as not CREATED or
        // STOPPED): nothing to do.
        if self
            .get(id)
            .await?
            .is_none_or(|a| a.state() == &ApplicationState::Terminated)
        {
            return Ok(());
        }
        if !self.to_rest(id, true).await? {
            return Err(self.busy(id).await);
        }
        let emr = self.clients.emrserverless().await;
        match emr.delete_application().application_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            // Started again in between (a job submitted to an auto-start application).
            Err(e) if code_of(&e) == Some("ValidationException") => {
                Err(in_use(id, "no longer CREATED or STOPPED"))
            }
            Err(e) => Err(api_error("DeleteApplication", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        Ok(self
            .get(id)
            .await?
            .is_none_or(|a| a.state() == &ApplicationState::Terminated))
    }
}

fn capacity(c: &Capacity) -> Result<MaximumAllowedResources, ProviderError> {
    MaximumAllowedResources::builder()
        .cpu(&c.cpu)
        .memory(&c.memory)
        .set_disk(c.disk.clone())
        .build()
        .map_err(|e| ProviderError::Invalid(format!("maximum_capacity: {e}")))
}

fn network(n: &Network) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .set_subnet_ids(Some(n.subnet_ids.clone()))
        .set_security_group_ids(Some(n.security_group_ids.clone()))
        .build()
}

/// Auto-stop after `minutes` idle; 0 turns it off.
fn auto_stop(minutes: u32) -> AutoStopConfig {
    AutoStopConfig::builder()
        .enabled(minutes > 0)
        .set_idle_timeout_minutes((minutes > 0).then_some(minutes as i32))
        .build()
}

#[cfg(test)]
mod engine_tests {
    use super::Engine;

    #[test]
    fn an_engine_is_read_in_any_case_and_sent_upper_case() {
        for spelled in ["SPARK", "Spark", "spark"] {
            let e: Engine = serde_json::from_value(serde_json::json!(spelled)).unwrap();
            assert_eq!(e, Engine::Spark);
            assert_eq!(Engine::from_api(spelled), Some(Engine::Spark));
        }
        assert_eq!(Engine::Hive.as_str(), "HIVE");
        assert_eq!(Engine::from_api("TRINO"), None);
        assert!(serde_json::from_value::<Engine>(serde_json::json!("TRINO")).is_err());
    }
}
