//! A REST API as API Gateway holds it, read back through the API Gateway API: resources,
//! methods, integrations (with their request parameters, mapping templates and integration
//! responses), and the route a request path takes.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

#[derive(Debug, Clone)]
pub struct RestApi {
    pub id: String,
    pub name: String,
    pub stage: String,
    pub deployment_id: String,
    pub resources: Vec<Resource>,
    /// The API's models by name: (content type, JSON Schema).
    pub models: BTreeMap<String, (String, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub path: String,
    /// `ANY`, `GET`, ... → its integration.
    pub methods: BTreeMap<String, Integration>,
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub kind: String,
    pub http_method: String,
    pub uri: String,
    pub request_parameters: BTreeMap<String, String>,
    pub request_templates: BTreeMap<String, String>,
    pub passthrough: String,
    /// (selection pattern, status code); the empty pattern is the default.
    pub responses: Vec<(String, String)>,
    /// The role API Gateway assumes to call an `AWS` integration's service (its ARN).
    pub credentials: Option<String>,
    /// The VPC link of a private integration (`connectionType` `VPC_LINK`).
    pub vpc_link: Option<String>,
    /// The method's `authorizationType`: `NONE`, or `AWS_IAM` (checked by the gateway).
    pub authorization: String,
    /// What the method's request validator checks, if it has one.
    pub validator: Option<Validator>,
    /// The method's request parameters (`method.request.path.x`, ...) and whether each is
    /// required.
    pub method_parameters: BTreeMap<String, bool>,
    /// The method's model name per content type (`requestModels`).
    pub request_models: BTreeMap<String, String>,
}

/// A request validator's settings (API Gateway's `RequestValidator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validator {
    pub body: bool,
    pub parameters: bool,
}

impl RestApi {
    pub async fn load(
        client: &aws_sdk_apigateway::Client,
        id: &str,
        stage: &str,
    ) -> anyhow::Result<RestApi> {
        let api = client
            .get_rest_api()
            .rest_api_id(id)
            .send()
            .await
            .with_context(|| format!("GetRestApi {id}"))?;
        let st = client
            .get_stage()
            .rest_api_id(id)
            .stage_name(stage)
            .send()
            .await
            .with_context(|| format!("GetStage {stage} of REST API {id}"))?;
        let validators: BTreeMap<String, Validator> = client
            .get_request_validators()
            .rest_api_id(id)
            .limit(500)
            .send()
            .await
            .with_context(|| format!("GetRequestValidators of REST API {id}"))?
            .items()
            .iter()
            .filter_map(|v| {
                Some((
                    v.id()?.to_string(),
                    Validator {
                        body: v.validate_request_body(),
                        parameters: v.validate_request_parameters(),
                    },
                ))
            })
            .collect();
        let models = client
            .get_models()
            .rest_api_id(id)
            .limit(500)
            .send()
            .await
            .with_context(|| format!("GetModels of REST API {id}"))?
            .items()
            .iter()
            .filter_map(|m| {
                Some((
                    m.name()?.to_string(),
                    (
                        m.content_type().unwrap_or("application/json").to_string(),
                        serde_json::from_str(m.schema()?).ok()?,
                    ),
                ))
            })
            .collect();
        let mut resources = Vec::new();
        let mut position = None;
        loop {
            let page = client
                .get_resources()
                .rest_api_id(id)
                .limit(500)
                .set_position(position)
                .send()
                .await
                .with_context(|| format!("GetResources of REST API {id}"))?;
            for r in page.items() {
                let (Some(rid), Some(path)) = (r.id(), r.path()) else {
                    continue;
                };
                let mut methods = BTreeMap::new();
                for m in r.resource_methods().map(|m| m.keys()).into_iter().flatten() {
                    let i = match client
                        .get_integration()
                        .rest_api_id(id)
                        .resource_id(rid)
                        .http_method(m)
                        .send()
                        .await
                    {
                        Ok(i) => i,
                        Err(e) => {
                            let e = aws_sdk_apigateway::error::DisplayErrorContext(e);
                            if e.to_string().contains("NotFound") {
                                continue;
                            }
                            bail!("GetIntegration {m} {path}: {e}");
                        }
                    };
                    let mut responses: Vec<(String, String)> = i
                        .integration_responses()
                        .map(|r| {
                            r.values()
                                .filter_map(|r| {
                                    Some((
                                        r.selection_pattern().unwrap_or("").to_string(),
                                        r.status_code()?.to_string(),
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    // Specific patterns before the default.
                    responses.sort_by_key(|(p, _)| p.is_empty());
                    let method = client
                        .get_method()
                        .rest_api_id(id)
                        .resource_id(rid)
                        .http_method(m)
                        .send()
                        .await
                        .with_context(|| format!("GetMethod {m} {path}"))?;
                    let authorization = method.authorization_type().unwrap_or("NONE").to_string();
                    let validator = method
                        .request_validator_id()
                        .and_then(|v| validators.get(v).copied());
                    methods.insert(
                        m.clone(),
                        Integration {
                            kind: i
                                .r#type()
                                .map(|t| t.as_str().to_string())
                                .unwrap_or_default(),
                            http_method: i.http_method().unwrap_or("ANY").to_string(),
                            uri: i.uri().unwrap_or("").to_string(),
                            request_parameters: map(i.request_parameters()),
                            request_templates: map(i.request_templates()),
                            passthrough: i
                                .passthrough_behavior()
                                .unwrap_or("WHEN_NO_MATCH")
                                .to_string(),
                            responses,
                            credentials: i.credentials().map(str::to_string),
                            vpc_link: match i.connection_type() {
                                Some(aws_sdk_apigateway::types::ConnectionType::VpcLink) => {
                                    i.connection_id().map(str::to_string)
                                }
                                _ => None,
                            },
                            authorization,
                            validator,
                            method_parameters: method
                                .request_parameters()
                                .map(|p| p.iter().map(|(k, v)| (k.clone(), *v)).collect())
                                .unwrap_or_default(),
                            request_models: map(method.request_models()),
                        },
                    );
                }
                resources.push(Resource {
                    path: path.to_string(),
                    methods,
                });
            }
            match page.position() {
                Some(p) if !page.items().is_empty() => position = Some(p.to_string()),
                _ => break,
            }
        }
        Ok(RestApi {
            id: id.to_string(),
            name: api.name().unwrap_or("").to_string(),
            stage: stage.to_string(),
            deployment_id: st.deployment_id().unwrap_or("").to_string(),
            resources,
            models,
        })
    }

    /// The resource and integration for a request, with the path parameters; literal segments
    /// win over `{param}`, which wins over a greedy `{proxy+}` (API Gateway's precedence).
    pub fn route(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(&Resource, &str, &Integration, BTreeMap<String, String>)> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Option<(Vec<u8>, &Resource, BTreeMap<String, String>)> = None;
        for r in &self.resources {
            let Some((score, params)) = match_path(&r.path, &segments) else {
                continue;
            };
            if !r.methods.contains_key(method) && !r.methods.contains_key("ANY") {
                continue;
            }
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, r, params));
            }
        }
        let (_, r, params) = best?;
        let (m, i) = r
            .methods
            .get_key_value(method)
            .or_else(|| r.methods.get_key_value("ANY"))?;
        Some((r, m.as_str(), i, params))
    }
}

fn map(m: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Score per segment: 3 literal, 2 `{param}`, 1 greedy.
fn match_path(template: &str, segments: &[&str]) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let mut params = BTreeMap::new();
    let mut score = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
            if i >= segments.len() || i != parts.len() - 1 {
                return None;
            }
            params.insert(name.to_string(), segments[i..].join("/"));
            score.push(1);
            return Some((score, params));
        }
        let seg = segments.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            params.insert(name.to_string(), (*seg).to_string());
            score.push(2);
        } else if part == seg {
            score.push(3);
        } else {
            return None;
        }
    }
    (parts.len() == segments.len()).then_some((score, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(paths: &[(&str, &str)]) -> RestApi {
        let mut resources: Vec<Resource> = Vec::new();
        for (p, m) in paths {
            let integration = Integration {
                kind: "AWS".into(),
                http_method: "POST".into(),
                uri: format!("{m} {p}"),
                request_parameters: BTreeMap::new(),
                request_templates: BTreeMap::new(),
                passthrough: "WHEN_NO_MATCH".into(),
                responses: vec![],
                credentials: None,
                vpc_link: None,
                authorization: "NONE".into(),
                validator: None,
                method_parameters: BTreeMap::new(),
                request_models: BTreeMap::new(),
            };
            match resources.iter_mut().find(|r| r.path == *p) {
                Some(r) => {
                    r.methods.insert(m.to_string(), integration);
                }
                None => resources.push(Resource {
                    path: p.to_string(),
                    methods: [(m.to_string(), integration)].into(),
                }),
            }
        }
        RestApi {
            id: "a".into(),
            name: "n".into(),
            stage: "s".into(),
            deployment_id: "d".into(),
            resources,
            models: BTreeMap::new(),
        }
    }

    #[test]
    fn routes_follow_api_gateway_precedence() {
        let a = api(&[
            ("/{proxy+}", "ANY"),
            ("/streams", "GET"),
            ("/streams/{stream-name}", "GET"),
            ("/streams/{stream-name}/record", "PUT"),
        ]);
        let (r, m, _, p) = a.route("PUT", "/streams/s1/record").unwrap();
        assert_eq!(
            (r.path.as_str(), m),
            ("/streams/{stream-name}/record", "PUT")
        );
        assert_eq!(p["stream-name"], "s1");
        let (r, m, _, p) = a.route("POST", "/topics/x.pin").unwrap();
        assert_eq!((r.path.as_str(), m), ("/{proxy+}", "ANY"));
        assert_eq!(p["proxy"], "topics/x.pin");
        // A method the specific resource lacks falls to the greedy one.
        let (r, _, _, p) = a.route("POST", "/streams/s1/record").unwrap();
        assert_eq!(r.path, "/{proxy+}");
        assert_eq!(p["proxy"], "streams/s1/record");
        assert_eq!(a.route("GET", "/streams").unwrap().0.path, "/streams");
        assert!(a.route("GET", "/").is_none());
        let b = api(&[("/streams", "GET")]);
        assert!(b.route("GET", "/streams/x").is_none());
        assert!(b.route("PUT", "/streams").is_none());
    }
}
