//! Request validation as API Gateway runs it before any integration (Developer Guide, "Request
//! validation for REST APIs"): the method's required request parameters must be present and
//! not blank, and a body must match the method's model for its content type (JSON Schema draft
//! 4); a request that fails gets the gateway responses `BAD_REQUEST_PARAMETERS` or
//! `BAD_REQUEST_BODY`, both 400 with `{"message": ...}` ("Gateway response types for API
//! Gateway").

use std::collections::BTreeMap;

use super::api::{Integration, RestApi};
use super::vtl::Request;

/// Why a request was refused, with API Gateway's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `BAD_REQUEST_PARAMETERS`: "Missing required request parameters: [a, b]".
    Parameters(String),
    /// `BAD_REQUEST_BODY`: "Invalid request body" (the details go to the log, as API Gateway
    /// sends them to CloudWatch Logs, not to the caller).
    Body { detail: String },
}

impl Refused {
    /// The message API Gateway answers.
    pub fn message(&self) -> String {
        match self {
            Refused::Parameters(m) => m.clone(),
            Refused::Body { .. } => "Invalid request body".into(),
        }
    }
}

/// Checks a request against its method's validator; `Ok` when it has none or passes.
/// `content_type` is the request's Content-Type header, if any.
pub fn check(
    api: &RestApi,
    method: &Integration,
    request: &Request,
    content_type: Option<&str>,
) -> Result<(), Refused> {
    let Some(v) = method.validator else {
        return Ok(());
    };
    if v.parameters {
        let missing = missing_parameters(&method.method_parameters, request);
        if !missing.is_empty() {
            return Err(Refused::Parameters(format!(
                "Missing required request parameters: [{}]",
                missing.join(", ")
            )));
        }
    }
    if v.body {
        // API Gateway takes a request without a Content-Type as application/json; without a
        // model for the content type (nor a `$default` one) the body is not validated.
        let ct = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "application/json".into());
        let Some(model) = method
            .request_models
            .get(&ct)
            .or_else(|| method.request_models.get("$default"))
        else {
            return Ok(());
        };
        let Some((_, schema)) = api.models.get(model) else {
            return Ok(());
        };
        check_body(schema, &request.body).map_err(|detail| Refused::Body {
            detail: format!("model {model}: {detail}"),
        })?;
    }
    Ok(())
}

/// The required parameters absent or blank, by name, in the order API Gateway lists them.
fn missing_parameters(declared: &BTreeMap<String, bool>, request: &Request) -> Vec<String> {
    declared
        .iter()
        .filter(|(_, required)| **required)
        .filter_map(|(source, _)| {
            let (_, name) = source.strip_prefix("method.request.")?.split_once('.')?;
            super::parameter(source, request)
                .filter(|v| !v.trim().is_empty())
                .is_none()
                .then(|| name.to_string())
        })
        .collect()
}

/// A body against a draft-4 schema: not JSON, or not matching, is the error's text.
fn check_body(schema: &serde_json::Value, body: &str) -> Result<(), String> {
    let instance: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let validator =
        jsonschema::draft4::new(schema).map_err(|e| format!("the model's schema: {e}"))?;
    validator
        .validate(&instance)
        .map_err(|e| format!("{e} at {}", e.instance_path()))
}

#[cfg(test)]
mod tests {
    use super::super::api::Validator;
    use super::*;
    use serde_json::json;

    fn api() -> RestApi {
        RestApi {
            id: "a".into(),
            name: "n".into(),
            stage: "s".into(),
            deployment_id: "d".into(),
            resources: vec![],
            models: [(
                "Rec".to_string(),
                (
                    "application/json".to_string(),
                    json!({"type": "object", "required": ["Data"],
                           "properties": {"Data": {"type": "object"}}}),
                ),
            )]
            .into(),
        }
    }

    fn method(body: bool, parameters: bool) -> Integration {
        Integration {
            kind: "AWS".into(),
            http_method: "POST".into(),
            uri: String::new(),
            request_parameters: BTreeMap::new(),
            request_templates: BTreeMap::new(),
            passthrough: "WHEN_NO_MATCH".into(),
            responses: vec![],
            credentials: None,
            vpc_link: None,
            authorization: "NONE".into(),
            validator: Some(Validator { body, parameters }),
            method_parameters: [
                ("method.request.path.stream-name".to_string(), true),
                ("method.request.header.X-Trace".to_string(), true),
                ("method.request.querystring.opt".to_string(), false),
            ]
            .into(),
            request_models: [("application/json".to_string(), "Rec".to_string())].into(),
        }
    }

    fn request(body: &str, stream: &str, trace: Option<&str>) -> Request {
        Request {
            body: body.into(),
            path: [("stream-name".to_string(), stream.to_string())].into(),
            query: BTreeMap::new(),
            headers: trace
                .map(|t| vec![("x-trace".to_string(), t.to_string())])
                .unwrap_or_default()
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn bodies_are_checked_against_the_model_of_their_content_type() {
        let (a, m) = (api(), method(true, false));
        let good = request(r#"{"Data": {"x": 1}}"#, "s", None);
        assert_eq!(check(&a, &m, &good, Some("application/json")), Ok(()));
        assert_eq!(
            check(&a, &m, &good, None),
            Ok(()),
            "no content type is JSON"
        );
        for bad in [
            r#"{"Data": "#,
            r#"{"Data": 3}"#,
            r#"{"data": {}}"#,
            "",
            "[]",
        ] {
            let e = check(
                &a,
                &m,
                &request(bad, "s", None),
                Some("application/json; charset=utf-8"),
            )
            .unwrap_err();
            assert_eq!(e.message(), "Invalid request body", "{bad}");
        }
        // No model for the content type: not validated.
        assert_eq!(
            check(&a, &m, &request("{", "s", None), Some("text/plain")),
            Ok(())
        );
        let mut d = m.clone();
        d.request_models = [("$default".to_string(), "Rec".to_string())].into();
        assert!(check(&a, &d, &request("{", "s", None), Some("text/plain")).is_err());
        // A validator that does not validate bodies lets anything through.
        assert_eq!(
            check(&a, &method(false, false), &request("{", "s", None), None),
            Ok(())
        );
    }

    #[test]
    fn required_parameters_must_be_present_and_not_blank() {
        let (a, m) = (api(), method(false, true));
        assert_eq!(check(&a, &m, &request("", "s", Some("t")), None), Ok(()));
        assert_eq!(
            check(&a, &m, &request("", " ", None), None),
            Err(Refused::Parameters(
                "Missing required request parameters: [X-Trace, stream-name]".into()
            ))
        );
    }
}

#[cfg(test)]
mod stack_models {
    #[test]
    fn the_stacks_put_record_model_wants_a_partition_key() {
        let schema: serde_json::Value = serde_json::from_str(include_str!(
            "../../../templates/apigateway/put-record.model.json"
        ))
        .unwrap();
        assert!(super::check_body(&schema, r#"{"Data": {"m": 1}, "PartitionKey": "7"}"#).is_ok());
        let e = super::check_body(&schema, r#"{"Data": {"m": 1}}"#).unwrap_err();
        assert!(e.contains("PartitionKey"), "{e}");
    }
}
