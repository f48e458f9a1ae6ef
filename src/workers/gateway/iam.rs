//! API Gateway's IAM authorization (`authorizationType: AWS_IAM`) on the twin: a method that
//! asks for it takes only requests signed with SigV4 for `execute-api` in the API's region, by
//! credentials the account knows, whose principal may `execute-api:Invoke` the method's ARN
//! (`arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{path}`: API Gateway
//! Developer Guide, "Control access to an API with IAM permissions"). Signature and policy are
//! checked by moto (`scripts/moto/pinctl_moto_fidelity.py`, `invoke`), which alone holds the
//! twin's credentials and policies.
//!
//! Refusals answer as API Gateway does: 403 `{"message": "Missing Authentication Token"}`
//! without a signature, 403 `{"message": ...}` for a bad one (SigV4's texts), 403
//! `{"Message": "User: ... is not authorized to perform: execute-api:Invoke on resource: ..."}`
//! when the policy does not allow it; each with `x-amzn-errortype`.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

impl super::Gateway {
    /// The account that owns the API (the gateway's own, asked of STS once).
    async fn account(&self) -> Result<String, String> {
        self.account
            .get_or_try_init(|| async {
                let who = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| format!("GetCallerIdentity: {e}"))?;
                who.account()
                    .map(str::to_string)
                    .ok_or_else(|| "GetCallerIdentity answered no account".to_string())
            })
            .await
            .cloned()
    }

    /// Checks a request to a method whose authorization is `AWS_IAM`; `rest` is the request's
    /// path below the stage. `Err` is the answer to give instead of calling the integration.
    pub(super) async fn authorize_iam(
        &self,
        api: &super::RestApi,
        method: &Method,
        uri: &Uri,
        rest: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Response> {
        let failed = |cause: String| super::integration_failed("IAM authorization", cause);
        let account = self.account().await.map_err(failed)?;
        let resource = format!(
            "arn:aws:execute-api:{}:{account}:{}/{}/{method}/{}",
            self.region,
            api.id,
            api.stage,
            rest.trim_start_matches('/')
        );
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), json!(v.to_str().ok()?))))
            .collect();
        let check = json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query().unwrap_or(""),
            "headers": headers,
            "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
            "region": self.region,
            "service": "execute-api",
            "action": "execute-api:Invoke",
            "resource": resource,
        });
        let url = format!(
            "{}/moto-api/pinctl/msk-iam/invoke",
            self.endpoint("sts").trim_end_matches('/')
        );
        let answer = self
            .http
            .post(&url)
            .json(&check)
            .send()
            .await
            .map_err(|e| failed(format!("asking moto ({url}) to check the signature: {e}")))?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        if status != reqwest::StatusCode::FORBIDDEN {
            return Err(failed(format!(
                "moto ({url}) answered {status} to the signature check: {text}"
            )));
        }
        let v: Value = serde_json::from_str(&text).unwrap_or(json!({}));
        let (body, kind) = match v.get("Message") {
            Some(m) => (json!({ "Message": m }), "AccessDeniedException"),
            None => {
                let m = v["message"].as_str().unwrap_or("Forbidden");
                let kind = if m == "Missing Authentication Token" {
                    "MissingAuthenticationTokenException"
                } else if m.contains("security token") {
                    "UnrecognizedClientException"
                } else {
                    "InvalidSignatureException"
                };
                (json!({ "message": m }), kind)
            }
        };
        tracing::info!("IAM authorization refused {method} {rest}: {body}");
        let mut r = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        r.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(kind));
        Err(r)
    }
}
