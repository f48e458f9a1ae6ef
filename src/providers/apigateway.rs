//! API Gateway REST API: one resource with its routes, and the deployment and stage.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::KindInfo;

/// How a route reaches its backend.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationType {
    HttpProxy,
    Http,
    Aws,
    AwsProxy,
    Mock,
}

/// A route's integration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    /// Method used towards the backend (`ANY` for a proxy, `POST` for AWS actions).
    pub http_method: String,
    pub uri: String,
    /// Role API Gateway assumes to call an AWS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    #[serde(default)]
    pub request_parameters: BTreeMap<String, String>,
    /// Mapping templates by content type.
    #[serde(default)]
    pub request_templates: BTreeMap<String, String>,
    /// `WHEN_NO_MATCH`, `WHEN_NO_TEMPLATES` or `NEVER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_behavior: Option<String>,
}

/// One method on one path.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// e.g. `/{proxy+}` or `/streams/{stream-name}/record`.
    pub path: String,
    /// `ANY`, `GET`, `PUT`, `POST`, `DELETE`, ...
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// Method request parameters and whether each is required.
    #[serde(default)]
    pub request_parameters: BTreeMap<String, bool>,
    pub integration: Integration,
}

/// Props of `apigateway.rest_api`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestApiProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `REGIONAL` (default), `EDGE` or `PRIVATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_type: Option<String>,
    pub routes: Vec<Route>,
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

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    r.add(
        KindInfo::new(
            "apigateway.rest_api",
            "A REST API with its routes, integrations and mapping templates",
        )
        .schema::<RestApiProps>()
        .outputs(&[
            "id",
            "arn",
            "root_resource_id",
            "definition_hash",
            "execution_arn",
        ])
        .volatile_outputs(&["definition_hash"])
        .timeout(Duration::from_secs(600)),
        |info, env| {
            Arc::new(RestApiProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
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
        .create_before_destroy(),
        |info, env| {
            Arc::new(DeploymentProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
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
        |info, env| {
            Arc::new(StageProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
}

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{
    EndpointConfiguration, EndpointType, IntegrationType as SdkIntegration, Op, PatchOperation,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{json, typed};
use crate::clients::aws::{api_error, code_of, is_not_found, Clients};
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};

const NOT_FOUND: &str = "NotFoundException";

fn sdk_integration(t: IntegrationType) -> SdkIntegration {
    match t {
        IntegrationType::HttpProxy => SdkIntegration::HttpProxy,
        IntegrationType::Http => SdkIntegration::Http,
        IntegrationType::Aws => SdkIntegration::Aws,
        IntegrationType::AwsProxy => SdkIntegration::AwsProxy,
        IntegrationType::Mock => SdkIntegration::Mock,
    }
}

fn our_integration(t: &SdkIntegration) -> IntegrationType {
    match t {
        SdkIntegration::HttpProxy => IntegrationType::HttpProxy,
        SdkIntegration::Http => IntegrationType::Http,
        SdkIntegration::AwsProxy => IntegrationType::AwsProxy,
        SdkIntegration::Mock => IntegrationType::Mock,
        _ => IntegrationType::Aws,
    }
}

/// The hash that decides when a new deployment is needed: every route, method, integration
/// and template, in a canonical order.
pub fn definition_hash(routes: &[Route]) -> String {
    let mut canon: Vec<Value> = routes.iter().map(json).collect();
    canon.sort_by_key(|v| v.to_string());
    hex::encode(Sha256::digest(Value::Array(canon).to_string().as_bytes()))
}

fn same_route(a: &Route, b: &Route) -> bool {
    json(a) == json(b)
}

pub struct RestApiProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

impl RestApiProvider {
    /// Resource ids by path, and the root's id.
    async fn resources(
        &self,
        api: &str,
    ) -> Result<
        (
            BTreeMap<String, String>,
            Vec<aws_sdk_apigateway::types::Resource>,
        ),
        ProviderError,
    > {
        let mut items = Vec::new();
        let mut position = None;
        loop {
            let out = self
                .clients
                .apigateway()
                .await
                .get_resources()
                .rest_api_id(api)
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| api_error("GetResources", e))?;
            items.extend(out.items().iter().cloned());
            position = out.position().map(str::to_string);
            if position.is_none() {
                break;
            }
        }
        let by_path = items
            .iter()
            .filter_map(|r| Some((r.path()?.to_string(), r.id()?.to_string())))
            .collect();
        Ok((by_path, items))
    }

    async fn ensure_path(
        &self,
        api: &str,
        path: &str,
        known: &mut BTreeMap<String, String>,
    ) -> Result<String, ProviderError> {
        if let Some(id) = known.get(path) {
            return Ok(id.clone());
        }
        let (parent, part) = match path.rsplit_once('/') {
            Some(("", p)) => ("/".to_string(), p.to_string()),
            Some((parent, p)) => (parent.to_string(), p.to_string()),
            None => {
                return Err(ProviderError::Invalid(format!(
                    "route path `{path}` must start with `/`"
                )))
            }
        };
        let parent_id = Box::pin(self.ensure_path(api, &parent, known)).await?;
        self.clients.limiter.acquire("CreateResource").await;
        let out = self
            .clients
            .apigateway()
            .await
            .create_resource()
            .rest_api_id(api)
            .parent_id(parent_id)
            .path_part(part)
            .send()
            .await
            .map_err(|e| api_error("CreateResource", e))?;
        let id = out.id().unwrap_or_default().to_string();
        known.insert(path.to_string(), id.clone());
        Ok(id)
    }

    async fn put_route(&self, api: &str, resource: &str, r: &Route) -> Result<(), ProviderError> {
        let gw = self.clients.apigateway().await;
        match gw
            .delete_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&r.method)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e, NOT_FOUND) => {}
            Err(e) => return Err(api_error("DeleteMethod", e)),
        }
        gw.put_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&r.method)
            .authorization_type(r.authorization.clone().unwrap_or_else(|| "NONE".into()))
            .set_request_parameters(
                (!r.request_parameters.is_empty())
                    .then(|| r.request_parameters.clone().into_iter().collect()),
            )
            .send()
            .await
            .map_err(|e| api_error("PutMethod", e))?;
        let i = &r.integration;
        gw.put_integration()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&r.method)
            .r#type(sdk_integration(i.kind))
            .integration_http_method(&i.http_method)
            .uri(&i.uri)
            .set_credentials(i.credentials.clone())
            .set_request_parameters(
                (!i.request_parameters.is_empty())
                    .then(|| i.request_parameters.clone().into_iter().collect()),
            )
            .set_request_templates(
                (!i.request_templates.is_empty())
                    .then(|| i.request_templates.clone().into_iter().collect()),
            )
            .set_passthrough_behavior(i.passthrough_behavior.clone())
            .send()
            .await
            .map_err(|e| api_error("PutIntegration", e))?;
        if matches!(
            i.kind,
            IntegrationType::Aws | IntegrationType::Http | IntegrationType::Mock
        ) {
            gw.put_method_response()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&r.method)
                .status_code("200")
                .response_models("application/json", "Empty")
                .send()
                .await
                .map_err(|e| api_error("PutMethodResponse", e))?;
            gw.put_integration_response()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&r.method)
                .status_code("200")
                .selection_pattern("")
                .send()
                .await
                .map_err(|e| api_error("PutIntegrationResponse", e))?;
        }
        Ok(())
    }

    async fn apply_routes(
        &self,
        api: &str,
        old: &[Route],
        new: &[Route],
    ) -> Result<(), ProviderError> {
        let (mut known, _) = self.resources(api).await?;
        for r in new {
            if old.iter().any(|o| same_route(o, r)) {
                continue;
            }
            let id = self.ensure_path(api, &r.path, &mut known).await?;
            self.put_route(api, &id, r).await?;
        }
        let gw = self.clients.apigateway().await;
        for o in old {
            if new.iter().any(|r| r.path == o.path && r.method == o.method) {
                continue;
            }
            if let Some(id) = known.get(&o.path) {
                match gw
                    .delete_method()
                    .rest_api_id(api)
                    .resource_id(id)
                    .http_method(&o.method)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e, NOT_FOUND) => {}
                    Err(e) => return Err(api_error("DeleteMethod", e)),
                }
            }
        }
        Ok(())
    }

    async fn read_routes(&self, api: &str) -> Result<(Vec<Route>, String), ProviderError> {
        let gw = self.clients.apigateway().await;
        let (_, items) = self.resources(api).await?;
        let mut root = String::new();
        let mut routes = Vec::new();
        for res in &items {
            let path = res.path().unwrap_or_default();
            if path == "/" {
                root = res.id().unwrap_or_default().to_string();
            }
            let mut methods: Vec<String> = res
                .resource_methods()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            methods.sort();
            for m in methods {
                let out = gw
                    .get_method()
                    .rest_api_id(api)
                    .resource_id(res.id().unwrap_or_default())
                    .http_method(&m)
                    .send()
                    .await
                    .map_err(|e| api_error("GetMethod", e))?;
                let Some(i) = out.method_integration() else {
                    continue;
                };
                let auth = out.authorization_type().unwrap_or("NONE");
                routes.push(Route {
                    path: path.to_string(),
                    method: m.clone(),
                    authorization: (auth != "NONE").then(|| auth.to_string()),
                    request_parameters: out
                        .request_parameters()
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), *v)).collect())
                        .unwrap_or_default(),
                    integration: Integration {
                        kind: i
                            .r#type()
                            .map(our_integration)
                            .unwrap_or(IntegrationType::Aws),
                        http_method: i.http_method().unwrap_or_default().to_string(),
                        uri: i.uri().unwrap_or_default().to_string(),
                        credentials: i.credentials().map(str::to_string),
                        request_parameters: i
                            .request_parameters()
                            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default(),
                        request_templates: i
                            .request_templates()
                            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default(),
                        passthrough_behavior: i.passthrough_behavior().map(str::to_string),
                    },
                });
            }
        }
        Ok((routes, root))
    }

    async fn outputs(
        &self,
        api: &str,
        routes: &[Route],
        root: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let region = self.clients.region().await;
        let account = self.clients.account().await?.to_string();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(api.into()));
        m.insert(
            "arn".into(),
            Value::String(format!("arn:aws:apigateway:{region}::/restapis/{api}")),
        );
        m.insert(
            "execution_arn".into(),
            Value::String(format!("arn:aws:execute-api:{region}:{account}:{api}")),
        );
        m.insert("root_resource_id".into(), Value::String(root.into()));
        m.insert(
            "definition_hash".into(),
            Value::String(definition_hash(routes)),
        );
        Ok(m)
    }
}

/// Routes as the service reports them, normalised to what the stack declares: fields the stack
/// left to their defaults are dropped, and the declared order is kept.
fn align(live: Vec<Route>, recorded: &[Route]) -> Vec<Route> {
    let mut out = Vec::new();
    let mut rest = live;
    for r in recorded {
        if let Some(i) = rest
            .iter()
            .position(|l| l.path == r.path && l.method == r.method)
        {
            let mut l = rest.remove(i);
            if r.integration.passthrough_behavior.is_none() {
                l.integration.passthrough_behavior = None;
            }
            out.push(l);
        }
    }
    out.extend(rest);
    out
}

#[async_trait]
impl Provider for RestApiProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        api: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let out = match self
            .clients
            .apigateway()
            .await
            .get_rest_api()
            .rest_api_id(api)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
            Err(e) => return Err(api_error("GetRestApi", e)),
        };
        let rec: Option<RestApiProps> = typed(recorded).ok();
        let (routes, root) = self.read_routes(api).await?;
        let outputs = self.outputs(api, &routes, &root).await?;
        let routes = align(
            routes,
            rec.as_ref().map(|r| r.routes.as_slice()).unwrap_or(&[]),
        );
        let live = RestApiProps {
            name: out.name().unwrap_or_default().to_string(),
            description: out.description().map(str::to_string),
            endpoint_type: out
                .endpoint_configuration()
                .and_then(|c| c.types().first())
                .map(|t| t.as_str().to_string())
                .filter(|_| rec.as_ref().is_some_and(|r| r.endpoint_type.is_some())),
            routes,
        };
        Ok(Some(Live {
            props: json(&live),
            outputs,
        }))
    }

    async fn adopt(&self, cx: &Cx, _props: &Value) -> Result<Option<String>, ProviderError> {
        let out = self
            .clients
            .apigateway()
            .await
            .get_rest_apis()
            .limit(500)
            .send()
            .await
            .map_err(|e| api_error("GetRestApis", e))?;
        Ok(out
            .items()
            .iter()
            .find(|a| {
                let tags: BTreeMap<String, String> = a
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                super::owned_by(&tags, cx)
            })
            .and_then(|a| a.id().map(str::to_string)))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: RestApiProps = typed(props)?;
        self.clients.limiter.acquire("CreateRestApi").await;
        let endpoint = EndpointType::from(p.endpoint_type.as_deref().unwrap_or("REGIONAL"));
        let out = self
            .clients
            .apigateway()
            .await
            .create_rest_api()
            .name(&p.name)
            .set_description(p.description.clone())
            .endpoint_configuration(EndpointConfiguration::builder().types(endpoint).build())
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateRestApi", e))?;
        let id = out.id().unwrap_or_default().to_string();
        self.apply_routes(&id, &[], &p.routes).await?;
        Ok(id)
    }

    async fn poll(&self, _cx: &Cx, api: &str) -> Result<Poll, ProviderError> {
        let (routes, root) = self.read_routes(api).await?;
        Ok(Poll::Ready(self.outputs(api, &routes, &root).await?))
    }

    async fn update(
        &self,
        _cx: &Cx,
        api: &str,
        old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let p: RestApiProps = typed(new)?;
        let o: Option<RestApiProps> = typed(old).ok();
        let gw = self.clients.apigateway().await;
        let mut ops = Vec::new();
        if o.as_ref().is_none_or(|o| o.name != p.name) {
            ops.push(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/name")
                    .value(&p.name)
                    .build(),
            );
        }
        if o.as_ref().is_none_or(|o| o.description != p.description) {
            ops.push(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/description")
                    .value(p.description.clone().unwrap_or_default())
                    .build(),
            );
        }
        if !ops.is_empty() {
            gw.update_rest_api()
                .rest_api_id(api)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .map_err(|e| api_error("UpdateRestApi", e))?;
        }
        // Compare with what is live, not what was recorded: drift is repaired too.
        let (live, _) = self.read_routes(api).await?;
        let live = align(live, &p.routes);
        self.apply_routes(api, &live, &p.routes).await?;
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, api: &str, _recorded: &Value) -> Result<(), ProviderError> {
        self.clients.limiter.acquire("DeleteRestApi").await;
        match self
            .clients
            .apigateway()
            .await
            .delete_rest_api()
            .rest_api_id(api)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteRestApi", e)),
        }
    }
}

fn split2(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/')
        .ok_or_else(|| ProviderError::bad_id("API Gateway", id))
}

pub struct DeploymentProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

#[async_trait]
impl Provider for DeploymentProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let (api, dep) = split2(id)?;
        // Listed rather than fetched: moto answers GetDeployment for a missing id with a 500.
        let listed = match self
            .clients
            .apigateway()
            .await
            .get_deployments()
            .rest_api_id(api)
            .limit(500)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
            Err(e) => return Err(api_error("GetDeployments", e)),
        };
        let Some(d) = listed.items().iter().find(|d| d.id() == Some(dep)) else {
            return Ok(None);
        };
        let mut props = recorded.clone();
        if let Value::Object(m) = &mut props {
            m.insert("rest_api_id".into(), Value::String(api.into()));
            if m.contains_key("description") {
                m.insert(
                    "description".into(),
                    d.description()
                        .map(|s| Value::String(s.into()))
                        .unwrap_or(Value::Null),
                );
            }
        }
        let mut outputs = Map::new();
        outputs.insert("id".into(), Value::String(dep.into()));
        Ok(Some(Live { props, outputs }))
    }

    async fn create(&self, _cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: DeploymentProps = typed(props)?;
        self.clients.limiter.acquire("CreateDeployment").await;
        let out = self
            .clients
            .apigateway()
            .await
            .create_deployment()
            .rest_api_id(&p.rest_api_id)
            .set_description(p.description.clone())
            .send()
            .await
            .map_err(|e| api_error("CreateDeployment", e))?;
        Ok(format!(
            "{}/{}",
            p.rest_api_id,
            out.id().unwrap_or_default()
        ))
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (_, dep) = split2(id)?;
        let mut m = Map::new();
        m.insert("id".into(), Value::String(dep.into()));
        Ok(Poll::Ready(m))
    }

    async fn update(
        &self,
        _cx: &Cx,
        _id: &str,
        _old: &Value,
        _new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let (api, dep) = split2(id)?;
        match self
            .clients
            .apigateway()
            .await
            .delete_deployment()
            .rest_api_id(api)
            .deployment_id(dep)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteDeployment", e)),
        }
    }
}

pub struct StageProvider {
    pub info: KindInfo,
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
impl Provider for StageProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let (api, stage) = split2(id)?;
        match self
            .clients
            .apigateway()
            .await
            .get_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
        {
            Ok(s) => {
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
                Ok(Some(Live {
                    props: json(&live),
                    outputs: self.outputs(api, stage).await,
                }))
            }
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("GetStage", e)),
        }
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: StageProps = typed(props)?;
        let gw = self.clients.apigateway().await;
        let created = gw
            .create_stage()
            .rest_api_id(&p.rest_api_id)
            .stage_name(&p.name)
            .deployment_id(&p.deployment_id)
            .set_description(p.description.clone())
            .set_variables(
                (!p.variables.is_empty()).then(|| p.variables.clone().into_iter().collect()),
            )
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await;
        let id = format!("{}/{}", p.rest_api_id, p.name);
        match created {
            Ok(_) => Ok(id),
            Err(e) if code_of(&e) == Some("ConflictException") => {
                self.update(cx, &id, &Value::Null, props, &[]).await?;
                Ok(id)
            }
            Err(e) => Err(api_error("CreateStage", e)),
        }
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (api, stage) = split2(id)?;
        Ok(Poll::Ready(self.outputs(api, stage).await))
    }

    async fn update(
        &self,
        _cx: &Cx,
        id: &str,
        old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let (api, stage) = split2(id)?;
        let p: StageProps = typed(new)?;
        let o: Option<StageProps> = typed(old).ok();
        let mut ops = vec![PatchOperation::builder()
            .op(Op::Replace)
            .path("/deploymentId")
            .value(&p.deployment_id)
            .build()];
        if o.as_ref().is_none_or(|o| o.description != p.description) {
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
            .map(|o| o.variables.into_keys().collect::<Vec<_>>())
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
        self.clients
            .apigateway()
            .await
            .update_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .set_patch_operations(Some(ops))
            .send()
            .await
            .map_err(|e| api_error("UpdateStage", e))?;
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let (api, stage) = split2(id)?;
        match self
            .clients
            .apigateway()
            .await
            .delete_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteStage", e)),
        }
    }
}
