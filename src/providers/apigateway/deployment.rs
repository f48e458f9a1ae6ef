//! `apigateway.deployment`: a deployment of a REST API; a new one whenever the API definition
//! changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ID, NOT_FOUND};
use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::OrAbsent;
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// Registers `apigateway.deployment` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "apigateway.deployment",
            "A deployment of a REST API; a new one whenever the API definition changes",
        )
        .schema::<DeploymentProps>()
        .outputs(&["id"])
        .replace(&[
            ("rest_api_id", "a deployment belongs to one API"),
            (
                "triggers",
                "the API definition changed, so a new deployment is made",
            ),
            ("description", "a deployment is immutable"),
        ])
        .create_before_destroy()
        .no_update(),
        |env| DeploymentProvider {
            clients: env.clients.clone(),
        },
    );
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

pub struct DeploymentProvider {
    pub clients: Arc<Clients>,
}

/// What a deployment's description ends with: the creation's token, since deployments take
/// neither tags nor a client token and a resumed creation must find the one a killed run made
/// (or the API would get a second, orphan deployment).
fn mark(token: &str) -> String {
    format!("[pinctl {token}]")
}

/// A description as the stack gave it: without the [`mark`].
fn unmarked(description: &str) -> &str {
    match description.rfind("[pinctl ") {
        Some(i) if description.ends_with(']') => description[..i].trim_end(),
        _ => description,
    }
}

/// A deployment is immutable: the kind is declared without update, so any change makes a new
/// one (before the old is deleted: the stage still points at it).
#[async_trait]
impl TypedProvider for DeploymentProvider {
    type Props = DeploymentProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&DeploymentProps>,
    ) -> Result<Option<Observed<DeploymentProps>>, ProviderError> {
        let (api, dep) = ID.pair(id)?;
        // Listed rather than fetched: moto answers GetDeployment for a missing id with a 500.
        let listed = self
            .clients
            .apigateway()
            .await
            .get_deployments()
            .rest_api_id(api)
            .limit(500)
            .send()
            .await
            .or_absent("GetDeployments", NOT_FOUND)?;
        let Some(d) = listed
            .as_ref()
            .and_then(|l| l.items().iter().find(|d| d.id() == Some(dep)))
        else {
            return Ok(None);
        };
        // What was recorded, with what the service reports of it (the triggers it does not).
        let props = recorded.cloned().map(|mut p| {
            p.rest_api_id = api.into();
            if p.description.is_some() {
                p.description = d.description().map(|t| unmarked(t).to_string());
            }
            p
        });
        let mut outputs = Map::new();
        outputs.insert("id".into(), Value::String(dep.into()));
        Ok(Some(Observed { props, outputs }))
    }

    async fn adopt(&self, cx: &Cx, p: &DeploymentProps) -> Result<Option<String>, ProviderError> {
        let listed = self
            .clients
            .apigateway()
            .await
            .get_deployments()
            .rest_api_id(&p.rest_api_id)
            .limit(500)
            .send()
            .await
            .or_absent("GetDeployments", NOT_FOUND)?;
        let mark = mark(&cx.token);
        Ok(listed.and_then(|l| {
            l.items()
                .iter()
                .find(|d| d.description().is_some_and(|t| t.ends_with(&mark)))
                .and_then(|d| d.id())
                .map(|id| ID.join(&[&p.rest_api_id, id]))
        }))
    }

    /// The API's deployment: its only one, else the one its stages serve, if they all serve
    /// the same (a deployment has no name; anything else is ambiguous, and each is listed).
    async fn find(&self, _cx: &Cx, p: &DeploymentProps) -> Result<Vec<Found>, ProviderError> {
        let gw = self.clients.apigateway().await;
        let Some(deployments) = gw
            .get_deployments()
            .rest_api_id(&p.rest_api_id)
            .limit(500)
            .send()
            .await
            .or_absent("GetDeployments", NOT_FOUND)?
        else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = deployments
            .items()
            .iter()
            .filter_map(|d| d.id().map(str::to_string))
            .collect();
        let found = |id: &str| {
            Found::named(
                ID.join(&[&p.rest_api_id, id]),
                format!("deployment {id} of API {}", p.rest_api_id),
            )
        };
        if ids.len() <= 1 {
            return Ok(ids.iter().map(|i| found(i)).collect());
        }
        let stages = gw
            .get_stages()
            .rest_api_id(&p.rest_api_id)
            .send()
            .await
            .map_err(|e| api_error("GetStages", e))?;
        let mut served: Vec<&str> = stages
            .item()
            .iter()
            .filter_map(|s| s.deployment_id())
            .collect();
        served.sort();
        served.dedup();
        Ok(match served.as_slice() {
            [one] => vec![found(one)],
            _ => ids.iter().map(|i| found(i)).collect(),
        })
    }

    async fn create(&self, cx: &Cx, p: &DeploymentProps) -> Result<String, ProviderError> {
        self.clients.limiter.acquire("CreateDeployment").await;
        let gw = self.clients.apigateway().await;
        let mark = mark(&cx.token);
        let req = gw
            .create_deployment()
            .rest_api_id(&p.rest_api_id)
            .description(match &p.description {
                Some(d) => format!("{d} {mark}"),
                None => mark,
            });
        let out = settled("CreateDeployment", || req.clone().send()).await?;
        Ok(ID.join(&[&p.rest_api_id, out.id().unwrap_or_default()]))
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (_, dep) = ID.pair(id)?;
        let mut m = Map::new();
        m.insert("id".into(), Value::String(dep.into()));
        Ok(Poll::Ready(m))
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&DeploymentProps>,
    ) -> Result<(), ProviderError> {
        let (api, dep) = ID.pair(id)?;
        let gw = self.clients.apigateway().await;
        let req = gw.delete_deployment().rest_api_id(api).deployment_id(dep);
        settle("DeleteDeployment", || req.clone().send())
            .await
            .gone_ok("DeleteDeployment", NOT_FOUND)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mark_is_not_part_of_the_description() {
        let m = super::mark("0f1e");
        assert_eq!(m, "[pinctl 0f1e]");
        assert_eq!(super::unmarked(&format!("daily {m}")), "daily");
        assert_eq!(super::unmarked(&m), "");
        assert_eq!(super::unmarked("made by hand"), "made by hand");
    }
}
