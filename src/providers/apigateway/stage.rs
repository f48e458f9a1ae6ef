//! `apigateway.stage`: a stage pointing at a deployment; outputs the invoke URL.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{Op, PatchOperation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ID, NOT_FOUND};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::OrAbsent;
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// Registers `apigateway.stage` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "apigateway.stage",
            "A stage pointing at a deployment; outputs the invoke URL",
        )
        .schema::<StageProps>()
        .outputs(&["invoke_url", "arn"])
        .replace(&[
            ("rest_api_id", "a stage belongs to one API"),
            ("name", "a stage cannot be renamed"),
        ]),
        |env| StageProvider {
            clients: env.clients.clone(),
        },
    );
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

pub struct StageProvider {
    pub clients: Arc<Clients>,
}

impl StageProvider {
    async fn outputs(&self, api: &str, stage: &str) -> Map<String, Value> {
        let region = self.clients.region().await;
        let mut m = Map::new();
        m.insert(
            "invoke_url".into(),
            Value::String(format!(
                "https://{api}.execute-api.{region}.amazonaws.com/{stage}"
            )),
        );
        m.insert(
            "arn".into(),
            Value::String(format!(
                "arn:aws:apigateway:{region}::/restapis/{api}/stages/{stage}"
            )),
        );
        m
    }
}

#[async_trait]
impl TypedProvider for StageProvider {
    type Props = StageProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&StageProps>,
    ) -> Result<Option<Observed<StageProps>>, ProviderError> {
        let (api, stage) = ID.pair(id)?;
        let got = self
            .clients
            .apigateway()
            .await
            .get_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
            .or_absent("GetStage", NOT_FOUND)?;
        let Some(s) = got else {
            return Ok(None);
        };
        let live = StageProps {
            rest_api_id: api.into(),
            name: stage.into(),
            deployment_id: s.deployment_id().unwrap_or_default().into(),
            description: s.description().map(str::to_string),
            variables: s
                .variables()
                .map(|v| v.iter().map(|(k, x)| (k.clone(), x.clone())).collect())
                .unwrap_or_default(),
        };
        Ok(Some(Observed::new(live, self.outputs(api, stage).await)))
    }

    fn id_of(&self, props: &Self::Props) -> Option<String> {
        Some(ID.join(&[&props.rest_api_id, &props.name]))
    }

    async fn create(&self, cx: &Cx, p: &StageProps) -> Result<String, ProviderError> {
        let gw = self.clients.apigateway().await;
        let req = gw
            .create_stage()
            .rest_api_id(&p.rest_api_id)
            .stage_name(&p.name)
            .deployment_id(&p.deployment_id)
            .set_description(p.description.clone())
            .set_variables(
                (!p.variables.is_empty()).then(|| p.variables.clone().into_iter().collect()),
            )
            .set_tags(Some(cx.tags().into_iter().collect()));
        let created = settle("CreateStage", || req.clone().send()).await;
        let id = ID.join(&[&p.rest_api_id, &p.name]);
        match created {
            Ok(_) => Ok(id),
            Err(e) if code_of(&e) == Some("ConflictException") => {
                self.update(cx, &id, None, p, &[]).await?;
                Ok(id)
            }
            Err(e) => Err(api_error("CreateStage", e)),
        }
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (api, stage) = ID.pair(id)?;
        Ok(Poll::Ready(self.outputs(api, stage).await))
    }

    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        o: Option<&StageProps>,
        p: &StageProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let (api, stage) = ID.pair(id)?;
        let mut ops = vec![PatchOperation::builder()
            .op(Op::Replace)
            .path("/deploymentId")
            .value(&p.deployment_id)
            .build()];
        if o.is_none_or(|o| o.description != p.description) {
            ops.push(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/description")
                    .value(p.description.clone().unwrap_or_default())
                    .build(),
            );
        }
        for (k, v) in &p.variables {
            ops.push(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path(format!("/variables/{k}"))
                    .value(v)
                    .build(),
            );
        }
        for k in o
            .map(|o| o.variables.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if !p.variables.contains_key(&k) {
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Remove)
                        .path(format!("/variables/{k}"))
                        .build(),
                );
            }
        }
        let gw = self.clients.apigateway().await;
        let req = gw
            .update_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .set_patch_operations(Some(ops));
        settled("UpdateStage", || req.clone().send()).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&StageProps>,
    ) -> Result<(), ProviderError> {
        let (api, stage) = ID.pair(id)?;
        let gw = self.clients.apigateway().await;
        let req = gw.delete_stage().rest_api_id(api).stage_name(stage);
        settle("DeleteStage", || req.clone().send())
            .await
            .gone_ok("DeleteStage", NOT_FOUND)
    }
}
