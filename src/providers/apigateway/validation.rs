//! A REST API's request validation: its models (JSON Schema draft 4 documents a request body of
//! a content type must match) and its request validators (what a method checks before any
//! integration runs), as API Gateway keeps them (API Gateway Developer Guide, "Request
//! validation for REST APIs"; API Reference: CreateModel, UpdateModel, DeleteModel,
//! CreateRequestValidator, UpdateRequestValidator, DeleteRequestValidator).

use std::collections::BTreeMap;

use aws_sdk_apigateway::types::{Op, PatchOperation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::NOT_FOUND;
use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::ProviderError;
use crate::providers::support::OrAbsent;

/// The models every new REST API has (API Gateway Developer Guide, "Data models for REST
/// APIs"): they are the service's, not drift, unless the stack declares them.
pub const PREDEFINED_MODELS: [&str; 2] = ["Empty", "Error"];

/// A data model: the JSON Schema (draft 4) that request bodies of `content_type` are checked
/// against by a validator that validates bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The content type the model applies to (default `application/json`; `$default` applies
    /// to any content type without a model of its own).
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// The schema: a JSON object, or a string holding one (as `{file: schemas/x.json}` gives).
    #[schemars(schema_with = "string_or_object")]
    pub schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A string first, so `{file: ...}` and `{template: ...}` are read as the string they give,
/// then an inline mapping.
fn string_or_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"anyOf": [{"type": "string"}, {"type": "object"}]})
}

fn default_content_type() -> String {
    "application/json".into()
}

/// What a request validator checks: the body against the method's model for its content type,
/// and that the method's required request parameters are present and not blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestValidator {
    #[serde(default)]
    pub validate_request_body: bool,
    #[serde(default)]
    pub validate_request_parameters: bool,
}

/// Turns each model's schema given as a string into the JSON object it holds, and checks what
/// API Gateway would refuse, so `plan` says it before anything changes: a model name that is
/// not alphanumeric (CreateModel's rule), a schema that is not a JSON object, a route naming a
/// validator or a model the API does not have. `props` are a REST API's resolved props.
pub fn prepare(props: &mut Value) -> Result<(), String> {
    declare_absence(props);
    let mut names: Vec<String> = PREDEFINED_MODELS.iter().map(|s| s.to_string()).collect();
    if let Some(models) = props.get_mut("models").and_then(Value::as_object_mut) {
        for (name, m) in models.iter_mut() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "models.{name}: a model's name must be alphanumeric (API Gateway's CreateModel rule)"
                ));
            }
            if let Some(s) = m.get("schema").and_then(Value::as_str) {
                let parsed: Value = serde_json::from_str(s)
                    .map_err(|e| format!("models.{name}.schema is not JSON: {e}"))?;
                m["schema"] = parsed;
            }
            match m.get("schema") {
                Some(Value::Object(_)) | None => {}
                Some(_) => {
                    return Err(format!(
                        "models.{name}.schema must be a JSON Schema object (draft 4)"
                    ))
                }
            }
            names.push(name.clone());
        }
    }
    let validators: Vec<String> = props
        .get("request_validators")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for (i, r) in props
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!(
            "routes[{i}] ({} {})",
            r.get("method").and_then(Value::as_str).unwrap_or("?"),
            r.get("path").and_then(Value::as_str).unwrap_or("?")
        );
        if let Some(v) = r.get("request_validator").and_then(Value::as_str) {
            if !validators.iter().any(|x| x == v) {
                return Err(format!(
                    "{at}: request_validator `{v}` is not one of the API's request_validators ({})",
                    list(&validators)
                ));
            }
        }
        for (ct, m) in r
            .get("request_models")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let Some(m) = m.as_str() else { continue };
            if !names.iter().any(|x| x == m) {
                return Err(format!(
                    "{at}: request_models.{ct} names model `{m}`, which is not one of the API's models ({})",
                    list(&names)
                ));
            }
        }
    }
    Ok(())
}

/// What the stack leaves out of validation is wanted absent, not left as found: no models or
/// validators beyond the declared (empty maps, owned whole), and a route without
/// `request_validator` or `request_models` has none (null), so removing them is a change.
fn declare_absence(props: &mut Value) {
    let Some(m) = props.as_object_mut() else {
        return;
    };
    for key in ["models", "request_validators"] {
        m.entry(key)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    for r in m
        .get_mut("routes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_object_mut() {
            for key in ["request_validator", "request_models"] {
                r.entry(key).or_insert(Value::Null);
            }
        }
    }
}

/// Reads a map that may be given as null (what [`prepare`] records for "none").
pub fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none declared".into()
    } else {
        names.join(", ")
    }
}

/// The schema as API Gateway takes it (a JSON string).
fn schema_text(m: &Model) -> String {
    match &m.schema {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The schema as a JSON value, whichever form it was given in.
fn schema_value(m: &Model) -> Value {
    match &m.schema {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        v => v.clone(),
    }
}

/// Whether two models say the same (schemas compared as JSON, not as text).
pub fn same_model(a: &Model, b: &Model) -> bool {
    a.content_type == b.content_type
        && a.description.as_deref().unwrap_or("") == b.description.as_deref().unwrap_or("")
        && schema_value(a) == schema_value(b)
}

/// The API's models, without the predefined ones the stack does not declare; a live model
/// equal to its declaration is given in the declaration's form.
pub async fn read_models(
    clients: &Clients,
    api: &str,
    declared: &BTreeMap<String, Model>,
) -> Result<BTreeMap<String, Model>, ProviderError> {
    let gw = clients.apigateway().await;
    let mut out = BTreeMap::new();
    let mut position = None;
    loop {
        let page = gw
            .get_models()
            .rest_api_id(api)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| api_error("GetModels", e))?;
        for m in page.items() {
            let Some(name) = m.name() else { continue };
            if PREDEFINED_MODELS.contains(&name) && !declared.contains_key(name) {
                continue;
            }
            let schema = m.schema().unwrap_or("{}");
            let live = Model {
                content_type: m.content_type().unwrap_or("application/json").to_string(),
                schema: serde_json::from_str(schema).unwrap_or(Value::String(schema.into())),
                description: m
                    .description()
                    .map(str::to_string)
                    .filter(|d| !d.is_empty()),
            };
            let live = match declared.get(name) {
                Some(d) if same_model(d, &live) => d.clone(),
                _ => live,
            };
            out.insert(name.to_string(), live);
        }
        position = page.position().map(str::to_string);
        if position.is_none() || page.items().is_empty() {
            break;
        }
    }
    Ok(out)
}

/// The API's request validators by name, with their ids.
pub async fn read_validators(
    clients: &Clients,
    api: &str,
) -> Result<BTreeMap<String, (String, RequestValidator)>, ProviderError> {
    let gw = clients.apigateway().await;
    let mut out = BTreeMap::new();
    let mut position = None;
    loop {
        let page = gw
            .get_request_validators()
            .rest_api_id(api)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| api_error("GetRequestValidators", e))?;
        for v in page.items() {
            let (Some(id), Some(name)) = (v.id(), v.name()) else {
                continue;
            };
            out.insert(
                name.to_string(),
                (
                    id.to_string(),
                    RequestValidator {
                        validate_request_body: v.validate_request_body(),
                        validate_request_parameters: v.validate_request_parameters(),
                    },
                ),
            );
        }
        position = page.position().map(str::to_string);
        if position.is_none() || page.items().is_empty() {
            break;
        }
    }
    Ok(out)
}

fn replace(path: &str, value: String) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// Creates the models `new` has and `live` lacks, and changes those that differ (UpdateModel
/// cannot change a content type: such a model is deleted and made anew). Models `new` drops
/// are removed by [`remove_models`], once no method names them.
pub async fn put_models(
    clients: &Clients,
    api: &str,
    live: &BTreeMap<String, Model>,
    new: &BTreeMap<String, Model>,
) -> Result<(), ProviderError> {
    let gw = clients.apigateway().await;
    for (name, m) in new {
        match live.get(name) {
            Some(l) if same_model(l, m) => {}
            Some(l) if l.content_type == m.content_type => {
                let req = gw
                    .update_model()
                    .rest_api_id(api)
                    .model_name(name)
                    .patch_operations(replace("/schema", schema_text(m)))
                    .patch_operations(replace(
                        "/description",
                        m.description.clone().unwrap_or_default(),
                    ));
                settled("UpdateModel", || req.clone().send()).await?;
            }
            other => {
                if other.is_some() {
                    let req = gw.delete_model().rest_api_id(api).model_name(name);
                    settle("DeleteModel", || req.clone().send())
                        .await
                        .gone_ok("DeleteModel", NOT_FOUND)?;
                }
                let req = gw
                    .create_model()
                    .rest_api_id(api)
                    .name(name)
                    .content_type(&m.content_type)
                    .schema(schema_text(m))
                    .set_description(m.description.clone());
                settled("CreateModel", || req.clone().send()).await?;
            }
        }
    }
    Ok(())
}

/// Deletes the live models `new` does not have (the predefined ones stay).
pub async fn remove_models(
    clients: &Clients,
    api: &str,
    live: &BTreeMap<String, Model>,
    new: &BTreeMap<String, Model>,
) -> Result<(), ProviderError> {
    let gw = clients.apigateway().await;
    for name in live.keys() {
        if new.contains_key(name) || PREDEFINED_MODELS.contains(&name.as_str()) {
            continue;
        }
        let req = gw.delete_model().rest_api_id(api).model_name(name);
        settle("DeleteModel", || req.clone().send())
            .await
            .gone_ok("DeleteModel", NOT_FOUND)?;
    }
    Ok(())
}

/// Creates and changes validators to match `new`; returns every validator's id by name,
/// those `new` drops included (removed by [`remove_validators`] once no method names them).
pub async fn put_validators(
    clients: &Clients,
    api: &str,
    new: &BTreeMap<String, RequestValidator>,
) -> Result<BTreeMap<String, (String, RequestValidator)>, ProviderError> {
    let gw = clients.apigateway().await;
    let mut live = read_validators(clients, api).await?;
    for (name, v) in new {
        match live.get(name) {
            Some((_, l)) if l == v => {}
            Some((id, _)) => {
                let req = gw
                    .update_request_validator()
                    .rest_api_id(api)
                    .request_validator_id(id)
                    .patch_operations(replace(
                        "/validateRequestBody",
                        v.validate_request_body.to_string(),
                    ))
                    .patch_operations(replace(
                        "/validateRequestParameters",
                        v.validate_request_parameters.to_string(),
                    ));
                settled("UpdateRequestValidator", || req.clone().send()).await?;
                let id = id.clone();
                live.insert(name.clone(), (id, *v));
            }
            None => {
                let req = gw
                    .create_request_validator()
                    .rest_api_id(api)
                    .name(name)
                    .validate_request_body(v.validate_request_body)
                    .validate_request_parameters(v.validate_request_parameters);
                let out = settled("CreateRequestValidator", || req.clone().send()).await?;
                live.insert(name.clone(), (out.id().unwrap_or_default().to_string(), *v));
            }
        }
    }
    Ok(live)
}

/// Deletes the validators `new` does not have.
pub async fn remove_validators(
    clients: &Clients,
    api: &str,
    live: &BTreeMap<String, (String, RequestValidator)>,
    new: &BTreeMap<String, RequestValidator>,
) -> Result<(), ProviderError> {
    let gw = clients.apigateway().await;
    for (name, (id, _)) in live {
        if new.contains_key(name) {
            continue;
        }
        let req = gw
            .delete_request_validator()
            .rest_api_id(api)
            .request_validator_id(id);
        settle("DeleteRequestValidator", || req.clone().send())
            .await
            .gone_ok("DeleteRequestValidator", NOT_FOUND)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(models: Value, validators: Value, route: Value) -> Value {
        json!({"name": "a", "models": models, "request_validators": validators, "routes": [route]})
    }

    #[test]
    fn prepare_parses_string_schemas_and_refuses_what_api_gateway_refuses() {
        let route = json!({"path": "/r", "method": "PUT", "request_validator": "body",
            "request_models": {"application/json": "Rec"}});
        let mut ok = api(
            json!({"Rec": {"schema": "{\"type\": \"object\"}"}}),
            json!({"body": {"validate_request_body": true}}),
            route.clone(),
        );
        prepare(&mut ok).unwrap();
        assert_eq!(ok["models"]["Rec"]["schema"], json!({"type": "object"}));

        let bad_name = api(json!({"Re-c": {"schema": {}}}), json!({}), json!({}));
        let e = prepare(&mut bad_name.clone()).unwrap_err();
        assert!(
            e.contains("models.Re-c") && e.contains("alphanumeric"),
            "{e}"
        );

        let mut bad_json = api(json!({"Rec": {"schema": "{type"}}), json!({}), json!({}));
        assert!(prepare(&mut bad_json)
            .unwrap_err()
            .contains("models.Rec.schema is not JSON"));

        let mut not_object = api(json!({"Rec": {"schema": "[1]"}}), json!({}), json!({}));
        assert!(prepare(&mut not_object)
            .unwrap_err()
            .contains("JSON Schema object"));

        let mut no_validator = api(json!({"Rec": {"schema": {}}}), json!({}), route.clone());
        let e = prepare(&mut no_validator).unwrap_err();
        assert!(
            e.contains("routes[0] (PUT /r)") && e.contains("`body`"),
            "{e}"
        );

        let mut no_model = api(
            json!({}),
            json!({"body": {"validate_request_body": true}}),
            route,
        );
        let e = prepare(&mut no_model).unwrap_err();
        assert!(
            e.contains("model `Rec`") && e.contains("Empty, Error"),
            "{e}"
        );
    }

    #[test]
    fn models_compare_as_json_not_as_text() {
        let a = Model {
            content_type: default_content_type(),
            schema: Value::String("{\"type\":  \"object\"}".into()),
            description: None,
        };
        let b = Model {
            schema: json!({"type": "object"}),
            description: Some(String::new()),
            ..a.clone()
        };
        assert!(same_model(&a, &b));
        let c = Model {
            schema: json!({"type": "array"}),
            ..a.clone()
        };
        assert!(!same_model(&a, &c));
    }
}
