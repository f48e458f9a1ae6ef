//! `apigateway.rest_api`: a REST API with its routes, integrations and mapping templates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{
    ConnectionType, EndpointConfiguration, EndpointType, IntegrationType as SdkIntegration, Op,
    PatchOperation,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::validation::{self, Model, RequestValidator};
use super::NOT_FOUND;
use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::OrAbsent;
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{owned_by, Registry};

/// Registers `apigateway.rest_api` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
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
        .prepare(|props, _root| validation::prepare(props))
        .exclusive(&["models", "request_validators"])
        .timeout(Duration::from_secs(600)),
        |env| RestApiProvider {
            clients: env.clients.clone(),
        },
    );
}

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
    /// A private integration: the request goes through this VPC link (`connectionType`
    /// `VPC_LINK`, `connectionId`) to its Network Load Balancer, the `uri`'s host and port naming
    /// the load balancer's DNS name and listener (API Gateway Developer Guide, "Set up API
    /// Gateway private integrations"). Absent: over the internet (`INTERNET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_link_id: Option<String>,
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
    /// The API's request validator (a key of `request_validators`) this method runs before
    /// its integration: a request that fails it gets API Gateway's 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_validator: Option<String>,
    /// The model (a key of `models`, or `Empty`/`Error`) a request body of each content type
    /// must match when the validator validates bodies.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "validation::null_as_empty"
    )]
    pub request_models: BTreeMap<String, String>,
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
    /// Data models by name (alphanumeric): JSON Schemas (draft 4) for request bodies.
    #[serde(default)]
    pub models: BTreeMap<String, Model>,
    /// Request validators by name, for routes' `request_validator`.
    #[serde(default)]
    pub request_validators: BTreeMap<String, RequestValidator>,
}

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
/// and template, model and validator, in a canonical order (a deployment snapshots them all).
pub fn definition_hash(
    routes: &[Route],
    models: &BTreeMap<String, Model>,
    validators: &BTreeMap<String, RequestValidator>,
) -> String {
    let mut canon: Vec<Value> = routes.iter().map(canonical).collect();
    canon.sort_by_key(|v| v.to_string());
    let models: BTreeMap<&String, Value> = models
        .iter()
        .map(|(k, m)| {
            let mut m = m.clone();
            if let Value::String(s) = &m.schema {
                m.schema = serde_json::from_str(s).unwrap_or(Value::String(s.clone()));
            }
            (k, serde_json::to_value(m).unwrap_or(Value::Null))
        })
        .collect();
    let mut doc = serde_json::json!({"routes": canon});
    // Only when present, so an API without validation keeps the hash it had.
    if !models.is_empty() {
        doc["models"] = serde_json::to_value(models).unwrap_or(Value::Null);
    }
    if !validators.is_empty() {
        doc["request_validators"] = serde_json::to_value(validators).unwrap_or(Value::Null);
    }
    let text = if doc.as_object().is_some_and(|m| m.len() == 1) {
        doc["routes"].to_string()
    } else {
        doc.to_string()
    };
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A route as JSON, the form routes are compared and hashed in.
fn canonical(r: &Route) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

fn same_route(a: &Route, b: &Route) -> bool {
    canonical(a) == canonical(b)
}

pub struct RestApiProvider {
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
        let gw = self.clients.apigateway().await;
        let req = gw
            .create_resource()
            .rest_api_id(api)
            .parent_id(parent_id)
            .path_part(part);
        let out = settled("CreateResource", || req.clone().send()).await?;
        let id = out.id().unwrap_or_default().to_string();
        known.insert(path.to_string(), id.clone());
        Ok(id)
    }

    async fn put_route(
        &self,
        api: &str,
        resource: &str,
        r: &Route,
        validators: &BTreeMap<String, (String, RequestValidator)>,
    ) -> Result<(), ProviderError> {
        let validator_id = match &r.request_validator {
            None => None,
            Some(name) => Some(validators.get(name).map(|(id, _)| id.clone()).ok_or_else(
                || {
                    ProviderError::Invalid(format!(
                        "route {} {}: request validator `{name}` does not exist",
                        r.method, r.path
                    ))
                },
            )?),
        };
        let gw = self.clients.apigateway().await;
        let req = gw
            .delete_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&r.method);
        settle("DeleteMethod", || req.clone().send())
            .await
            .gone_ok("DeleteMethod", NOT_FOUND)?;
        let req = gw
            .put_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&r.method)
            .authorization_type(r.authorization.clone().unwrap_or_else(|| "NONE".into()))
            .set_request_parameters(
                (!r.request_parameters.is_empty())
                    .then(|| r.request_parameters.clone().into_iter().collect()),
            )
            .set_request_validator_id(validator_id)
            .set_request_models(
                (!r.request_models.is_empty())
                    .then(|| r.request_models.clone().into_iter().collect()),
            );
        settled("PutMethod", || req.clone().send()).await?;
        let i = &r.integration;
        let req = gw
            .put_integration()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&r.method)
            .r#type(sdk_integration(i.kind))
            .integration_http_method(&i.http_method)
            .uri(&i.uri)
            .connection_type(match i.vpc_link_id {
                Some(_) => ConnectionType::VpcLink,
                None => ConnectionType::Internet,
            })
            .set_connection_id(i.vpc_link_id.clone())
            .set_credentials(i.credentials.clone())
            .set_request_parameters(
                (!i.request_parameters.is_empty())
                    .then(|| i.request_parameters.clone().into_iter().collect()),
            )
            .set_request_templates(
                (!i.request_templates.is_empty())
                    .then(|| i.request_templates.clone().into_iter().collect()),
            )
            .set_passthrough_behavior(i.passthrough_behavior.clone());
        settled("PutIntegration", || req.clone().send()).await?;
        if matches!(
            i.kind,
            IntegrationType::Aws | IntegrationType::Http | IntegrationType::Mock
        ) {
            let req = gw
                .put_method_response()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&r.method)
                .status_code("200")
                .response_models("application/json", "Empty");
            settled("PutMethodResponse", || req.clone().send()).await?;
            let req = gw
                .put_integration_response()
                .rest_api_id(api)
                .resource_id(resource)
                .http_method(&r.method)
                .status_code("200")
                .selection_pattern("");
            settled("PutIntegrationResponse", || req.clone().send()).await?;
        }
        Ok(())
    }

    /// Brings models, validators and routes from `old` (what is live) to `new`: models and
    /// validators first (routes name them), then the routes, and only then what `new` drops
    /// (API Gateway refuses to delete a model a method still names).
    async fn apply_definition(
        &self,
        api: &str,
        old: &RestApiProps,
        new: &RestApiProps,
    ) -> Result<(), ProviderError> {
        validation::put_models(&self.clients, api, &old.models, &new.models).await?;
        let validators =
            validation::put_validators(&self.clients, api, &new.request_validators).await?;
        self.apply_routes(api, &old.routes, &new.routes, &validators)
            .await?;
        validation::remove_models(&self.clients, api, &old.models, &new.models).await?;
        validation::remove_validators(&self.clients, api, &validators, &new.request_validators)
            .await
    }

    async fn apply_routes(
        &self,
        api: &str,
        old: &[Route],
        new: &[Route],
        validators: &BTreeMap<String, (String, RequestValidator)>,
    ) -> Result<(), ProviderError> {
        let (mut known, _) = self.resources(api).await?;
        for r in new {
            if old.iter().any(|o| same_route(o, r)) {
                continue;
            }
            let id = self.ensure_path(api, &r.path, &mut known).await?;
            self.put_route(api, &id, r, validators).await?;
        }
        let gw = self.clients.apigateway().await;
        for o in old {
            if new.iter().any(|r| r.path == o.path && r.method == o.method) {
                continue;
            }
            if let Some(id) = known.get(&o.path) {
                let req = gw
                    .delete_method()
                    .rest_api_id(api)
                    .resource_id(id)
                    .http_method(&o.method);
                settle("DeleteMethod", || req.clone().send())
                    .await
                    .gone_ok("DeleteMethod", NOT_FOUND)?;
            }
        }
        Ok(())
    }

    async fn read_routes(&self, api: &str) -> Result<(Vec<Route>, String), ProviderError> {
        let names: BTreeMap<String, String> = validation::read_validators(&self.clients, api)
            .await?
            .into_iter()
            .map(|(name, (id, _))| (id, name))
            .collect();
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
                    request_validator: out.request_validator_id().map(|id| {
                        names
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| format!("(id {id})"))
                    }),
                    request_models: out
                        .request_models()
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default(),
                    integration: Integration {
                        kind: i
                            .r#type()
                            .map(our_integration)
                            .unwrap_or(IntegrationType::Aws),
                        http_method: i.http_method().unwrap_or_default().to_string(),
                        uri: i.uri().unwrap_or_default().to_string(),
                        credentials: i.credentials().map(str::to_string),
                        vpc_link_id: match i.connection_type() {
                            Some(ConnectionType::VpcLink) => i.connection_id().map(str::to_string),
                            _ => None,
                        },
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
        // From what is live, never from a declaration, so refresh and poll agree.
        let models = validation::read_models(&self.clients, api, &BTreeMap::new()).await?;
        let validators = validation::read_validators(&self.clients, api)
            .await?
            .into_iter()
            .map(|(name, (_, v))| (name, v))
            .collect();
        m.insert(
            "definition_hash".into(),
            Value::String(definition_hash(routes, &models, &validators)),
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
impl TypedProvider for RestApiProvider {
    type Props = RestApiProps;

    /// By name, or by the stack's tags (a REST API's name need not be unique).
    async fn find(&self, cx: &Cx, p: &RestApiProps) -> Result<Vec<Found>, ProviderError> {
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
            .filter_map(|a| {
                let id = a.id()?;
                if a.name() == Some(p.name.as_str()) {
                    return Some(Found::named(id, &p.name));
                }
                let tags: BTreeMap<String, String> = a
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                cx.tags()
                    .iter()
                    .all(|(k, v)| tags.get(k) == Some(v))
                    .then(|| Found::tagged(id))
            })
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        api: &str,
        rec: Option<&RestApiProps>,
    ) -> Result<Option<Observed<RestApiProps>>, ProviderError> {
        let got = self
            .clients
            .apigateway()
            .await
            .get_rest_api()
            .rest_api_id(api)
            .send()
            .await
            .or_absent("GetRestApi", NOT_FOUND)?;
        let Some(out) = got else {
            return Ok(None);
        };
        let (routes, root) = self.read_routes(api).await?;
        let outputs = self.outputs(api, &routes, &root).await?;
        let routes = align(routes, rec.map(|r| r.routes.as_slice()).unwrap_or(&[]));
        let no_models = BTreeMap::new();
        let models = validation::read_models(
            &self.clients,
            api,
            rec.map(|r| &r.models).unwrap_or(&no_models),
        )
        .await?;
        let request_validators = validation::read_validators(&self.clients, api)
            .await?
            .into_iter()
            .map(|(name, (_, v))| (name, v))
            .collect();
        let live = RestApiProps {
            name: out.name().unwrap_or_default().to_string(),
            description: out.description().map(str::to_string),
            endpoint_type: out
                .endpoint_configuration()
                .and_then(|c| c.types().first())
                .map(|t| t.as_str().to_string())
                .filter(|_| rec.is_some_and(|r| r.endpoint_type.is_some())),
            routes,
            models,
            request_validators,
        };
        Ok(Some(Observed::new(live, outputs)))
    }

    async fn adopt(&self, cx: &Cx, _props: &RestApiProps) -> Result<Option<String>, ProviderError> {
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
                owned_by(&tags, cx)
            })
            .and_then(|a| a.id().map(str::to_string)))
    }

    async fn create(&self, cx: &Cx, p: &RestApiProps) -> Result<String, ProviderError> {
        self.clients.limiter.acquire("CreateRestApi").await;
        let endpoint = EndpointType::from(p.endpoint_type.as_deref().unwrap_or("REGIONAL"));
        let gw = self.clients.apigateway().await;
        let req = gw
            .create_rest_api()
            .name(&p.name)
            .set_description(p.description.clone())
            .endpoint_configuration(EndpointConfiguration::builder().types(endpoint).build())
            .set_tags(Some(cx.tags().into_iter().collect()));
        let out = settled("CreateRestApi", || req.clone().send()).await?;
        let id = out.id().unwrap_or_default().to_string();
        let nothing = RestApiProps {
            routes: Vec::new(),
            models: BTreeMap::new(),
            request_validators: BTreeMap::new(),
            ..p.clone()
        };
        self.apply_definition(&id, &nothing, p).await?;
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
        o: Option<&RestApiProps>,
        p: &RestApiProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let gw = self.clients.apigateway().await;
        let mut ops = Vec::new();
        if o.is_none_or(|o| o.name != p.name) {
            ops.push(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/name")
                    .value(&p.name)
                    .build(),
            );
        }
        if o.is_none_or(|o| o.description != p.description) {
            ops.push(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/description")
                    .value(p.description.clone().unwrap_or_default())
                    .build(),
            );
        }
        if !ops.is_empty() {
            let req = gw
                .update_rest_api()
                .rest_api_id(api)
                .set_patch_operations(Some(ops));
            settled("UpdateRestApi", || req.clone().send()).await?;
        }
        // Compare with what is live, not what was recorded: drift is repaired too.
        let (routes, _) = self.read_routes(api).await?;
        let live = RestApiProps {
            routes: align(routes, &p.routes),
            models: validation::read_models(&self.clients, api, &p.models).await?,
            request_validators: BTreeMap::new(),
            ..p.clone()
        };
        self.apply_definition(api, &live, p).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        api: &str,
        _recorded: Option<&RestApiProps>,
    ) -> Result<(), ProviderError> {
        self.clients.limiter.acquire("DeleteRestApi").await;
        let gw = self.clients.apigateway().await;
        let req = gw.delete_rest_api().rest_api_id(api);
        settle("DeleteRestApi", || req.clone().send())
            .await
            .gone_ok("DeleteRestApi", NOT_FOUND)
    }
}
