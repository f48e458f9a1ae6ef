//! The gateway worker: serves a REST API exactly as API Gateway holds it (the local twin's
//! stand-in for `execute-api`). Routes, integrations and mapping templates are read back through
//! the API Gateway API and re-read when the stage moves to a new deployment. `HTTP_PROXY`
//! integrations are forwarded; `AWS` integrations render their mapping template and call the
//! service action with a SigV4-signed request, as API Gateway does.
//!
//! Failures answer like API Gateway (`500 {"message": "Internal server error"}`), and, because
//! on the twin nobody reads CloudWatch execution logs, carry the cause in a `cause` field and in
//! the log.

pub mod api;
mod iam;
pub mod network;
pub mod validate;
pub mod vtl;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::RwLock;

use api::{Integration, RestApi};

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub rest_api_id: String,
    pub stage: String,
    pub region: Option<String>,
    /// Host names in integration URIs → the address that serves them (the twin's EC2 client).
    pub resolve: BTreeMap<String, String>,
    /// `{"HOST:PORT": "ADDR:PORT"}`: where a host's port in integration URIs or of a VPC link's
    /// target is served, before [`GatewayConfig::resolve`]; read again at each request, since
    /// the twin's supervisor rewrites it as units start on free ports (so the gateway never
    /// restarts for a unit).
    pub connect_to_file: Option<std::path::PathBuf>,
    /// How often the stage is checked for a new deployment.
    pub refresh: Duration,
    /// Make one service call at a time: moto's Kinesis loses records put concurrently into one
    /// shard (its `Shard.put_record` is "not safe for concurrency"), which AWS never does.
    pub serialize_aws_calls: bool,
}

/// Why an HTTP integration did not answer.
enum Failure {
    /// AWS's network would not carry the request (504 or 500, with the cause).
    Unreachable(network::Refusal),
    /// Anything else: API Gateway's 500.
    Failed(String),
}

impl From<String> for Failure {
    fn from(cause: String) -> Self {
        Failure::Failed(cause)
    }
}

struct Gateway {
    config: GatewayConfig,
    region: String,
    /// Swapped whole on a new deployment; a request keeps the one it started with.
    api: RwLock<Arc<RestApi>>,
    http: reqwest::Client,
    /// Assumes integrations' `credentials` roles, with the gateway's own credentials (on the
    /// twin, the IAM user that stands in for apigateway.amazonaws.com).
    sts: aws_sdk_sts::Client,
    /// Role ARN → its temporary credentials, replaced 5 minutes before they expire.
    assumed: tokio::sync::Mutex<HashMap<String, aws_credential_types::Credentials>>,
    one_call_at_a_time: tokio::sync::Mutex<()>,
    /// What AWS's network lets through to an HTTP integration's backend.
    network: network::Network,
    /// The account that owns the API, for `execute-api` ARNs ([`iam`]).
    account: tokio::sync::OnceCell<String>,
}

/// Binds, prints `listening on ADDR`, serves until SIGTERM or Ctrl-C.
pub async fn run(config: GatewayConfig, listen: SocketAddr) -> anyhow::Result<()> {
    let shared = crate::clients::aws::worker_config(config.region.as_deref()).await;
    let region = shared
        .region()
        .map(|r| r.to_string())
        .context("the gateway needs an AWS region: pass --region or set AWS_REGION")?;
    shared
        .credentials_provider()
        .context("the gateway needs AWS credentials to assume integrations' roles")?;
    let sts = aws_sdk_sts::Client::new(&shared);
    let client = aws_sdk_apigateway::Client::new(&shared);
    let network = network::Network::new(
        aws_sdk_ec2::Client::new(&shared),
        aws_sdk_elasticloadbalancingv2::Client::new(&shared),
        client.clone(),
    );
    let api = RestApi::load(&client, &config.rest_api_id, &config.stage).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let gateway = Arc::new(Gateway {
        region,
        api: RwLock::new(Arc::new(api)),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(29)) // API Gateway's integration timeout
            .build()?,
        sts,
        assumed: tokio::sync::Mutex::new(HashMap::new()),
        config,
        one_call_at_a_time: tokio::sync::Mutex::new(()),
        network,
        account: tokio::sync::OnceCell::new(),
    });
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    {
        let a = gateway.api.read().await;
        tracing::info!(
            api = %a.id, name = %a.name, stage = %a.stage, deployment = %a.deployment_id,
            resources = a.resources.len(), "serving http://{addr}/{}", a.stage
        );
    }
    tokio::spawn(follow_deployments(gateway.clone(), client));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(gateway)
        .layer(axum::extract::DefaultBodyLimit::max(PAYLOAD_LIMIT));
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::signal::shutdown_signal())
        .await?;
    Ok(())
}

async fn follow_deployments(gateway: Arc<Gateway>, client: aws_sdk_apigateway::Client) {
    let c = &gateway.config;
    loop {
        tokio::time::sleep(c.refresh).await;
        let current = gateway.api.read().await.deployment_id.clone();
        let stage = client
            .get_stage()
            .rest_api_id(&c.rest_api_id)
            .stage_name(&c.stage)
            .send()
            .await;
        match stage {
            Ok(s) if s.deployment_id().is_some_and(|d| d != current) => {
                match RestApi::load(&client, &c.rest_api_id, &c.stage).await {
                    Ok(api) => {
                        tracing::info!(deployment = %api.deployment_id, "stage moved to a new deployment; serving it");
                        *gateway.api.write().await = Arc::new(api);
                    }
                    Err(e) => tracing::warn!("re-reading the REST API: {e:#}"),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                "checking stage {}: {}",
                c.stage,
                aws_sdk_apigateway::error::DisplayErrorContext(e)
            ),
        }
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

/// API Gateway's answer when AWS's network would not carry the request to the backend: 504
/// "Endpoint request timed out" (the connection never answers) or 500, with the cause.
fn unreachable(route: &str, r: network::Refusal) -> Response {
    if r.status != 504 {
        return integration_failed(route, r.cause);
    }
    let cause = format!("{}, in {route}", r.cause);
    tracing::error!("{cause}");
    (
        StatusCode::GATEWAY_TIMEOUT,
        axum::Json(json!({ "message": "Endpoint request timed out", "cause": cause })),
    )
        .into_response()
}

/// API Gateway's answer to a failed integration, with the cause the twin can name.
fn integration_failed(route: &str, cause: String) -> Response {
    let cause = format!("{cause}, in {route}");
    tracing::error!("{cause}");
    let mut r = (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "message": "Internal server error", "cause": cause })),
    )
        .into_response();
    r.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("InternalServerErrorException"),
    );
    r
}

/// API Gateway's limit on a request's payload (API Gateway Developer Guide, "Quotas": 10 MB
/// for REST APIs); above it the gateway response `REQUEST_TOO_LARGE` (413), which cannot be
/// customized ("Gateway response types for API Gateway").
pub const PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let mut r = message(StatusCode::PAYLOAD_TOO_LARGE, "Request Too Long");
            r.headers_mut().insert(
                "x-amzn-errortype",
                HeaderValue::from_static("RequestTooLargeException"),
            );
            return r;
        }
        Err(e) => return message(e.status(), &e.body_text()),
    };
    let api = Arc::clone(&*gateway.api.read().await);
    let path = uri.path();
    let stage_prefix = format!("/{}", api.stage);
    let Some(rest) = path
        .strip_prefix(&stage_prefix)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return message(StatusCode::FORBIDDEN, "Forbidden");
    };
    let Some((resource, route_method, integration, path_params)) = api.route(method.as_str(), rest)
    else {
        return message(StatusCode::FORBIDDEN, "Missing Authentication Token");
    };
    if integration.authorization == "AWS_IAM" {
        if let Err(refused) = gateway
            .authorize_iam(&api, &method, &uri, rest, &headers, &body)
            .await
        {
            return refused;
        }
    }
    let route = format!(
        "the {} integration of {route_method} {} (REST API {}, stage {})",
        integration.kind, resource.path, api.id, api.stage
    );
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let request = vtl::Request {
        body: String::from_utf8_lossy(&body).to_string(),
        path: path_params,
        query,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
    };
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Err(refused) = validate::check(&api, integration, &request, content_type) {
        match &refused {
            validate::Refused::Body { detail } => {
                tracing::warn!("{route}: request body refused: {detail}")
            }
            validate::Refused::Parameters(m) => tracing::warn!("{route}: {m}"),
        }
        let mut r = message(StatusCode::BAD_REQUEST, &refused.message());
        r.headers_mut().insert(
            "x-amzn-errortype",
            HeaderValue::from_static("BadRequestException"),
        );
        return r;
    }
    let result = match integration.kind.as_str() {
        "HTTP_PROXY" => match gateway
            .http_proxy(integration, &method, &uri, &headers, body, &request)
            .await
        {
            Err(Failure::Unreachable(r)) => return unreachable(&route, r),
            Err(Failure::Failed(cause)) => Err(cause),
            Ok(r) => Ok(r),
        },
        "AWS" => gateway.aws(integration, &headers, &request).await,
        "MOCK" => Ok(StatusCode::OK.into_response()),
        other => Err(format!(
            "{other} integrations are not served by the twin's gateway"
        )),
    };
    match result {
        Ok(r) => r,
        Err(cause) => integration_failed(&route, cause),
    }
}

/// A request parameter's source (`method.request.path.x`, `'literal'`, ...).
fn parameter(source: &str, request: &vtl::Request) -> Option<String> {
    if let Some(lit) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(lit.to_string());
    }
    let (kind, name) = source.strip_prefix("method.request.")?.split_once('.')?;
    match kind {
        "path" => request.path.get(name).cloned(),
        "querystring" => request.query.get(name).cloned(),
        "header" => request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

/// The integration's parameters of one place (`path`, `header`, `querystring`).
fn integration_parameters(
    i: &Integration,
    place: &str,
    request: &vtl::Request,
) -> Result<Vec<(String, String)>, String> {
    let prefix = format!("integration.request.{place}.");
    i.request_parameters
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?, v)))
        .map(|(name, source)| {
            parameter(source, request)
                .map(|v| (name.to_string(), v))
                .ok_or_else(|| {
                    format!(
                        "request parameter {prefix}{name} = {source}: no such value in the request"
                    )
                })
        })
        .collect()
}

impl Gateway {
    /// Where `host:port` is served, from the `--connect-to-file`.
    fn connect_target(&self, host: &str, port: u16) -> Option<(String, u16)> {
        let path = self.config.connect_to_file.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text).ok()?;
        let (addr, local) = map.get(&format!("{host}:{port}"))?.rsplit_once(':')?;
        Some((addr.to_string(), local.parse().ok()?))
    }

    fn resolve(&self, url: &mut url::Url) {
        let Some(host) = url.host_str().map(str::to_string) else {
            return;
        };
        let port = url.port_or_known_default().unwrap_or(80);
        if let Some((addr, local)) = self.connect_target(&host, port) {
            let _ = url.set_host(Some(&addr));
            let _ = url.set_port(Some(local));
        } else if let Some(to) = self.config.resolve.get(&host) {
            let _ = url.set_host(Some(to));
        }
    }

    /// Where the request goes on the twin: through the VPC link to its target instance, or over
    /// the internet to the URI's host, each only as far as AWS's network lets it
    /// ([`network`]); then the twin's own address for that host.
    async fn route_to(&self, i: &Integration, url: &mut url::Url) -> Result<(), Failure> {
        let port = url.port_or_known_default().unwrap_or(80);
        match &i.vpc_link {
            Some(link) => {
                let t = self
                    .network
                    .through_vpc_link(link, port)
                    .await
                    .map_err(Failure::Unreachable)?;
                let served = t
                    .names
                    .iter()
                    .find_map(|n| self.connect_target(n, t.port))
                    .or_else(|| {
                        t.names
                            .iter()
                            .find_map(|n| self.config.resolve.get(n))
                            .map(|a| (a.clone(), t.port))
                    })
                    .ok_or_else(|| {
                        Failure::Failed(format!(
                            "the twin serves no process for instance {} (the VPC link's target)",
                            t.instance_id
                        ))
                    })?;
                url.set_host(Some(&served.0))
                    .map_err(|e| Failure::Failed(e.to_string()))?;
                url.set_port(Some(served.1))
                    .map_err(|()| Failure::Failed("cannot set the target's port".into()))?;
            }
            None => {
                let host = url.host_str().unwrap_or_default().to_string();
                self.network
                    .over_internet(&host, port)
                    .await
                    .map_err(Failure::Unreachable)?;
                self.resolve(url);
            }
        }
        Ok(())
    }

    async fn http_proxy(
        &self,
        i: &Integration,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        request: &vtl::Request,
    ) -> Result<Response, Failure> {
        let mut target = i.uri.clone();
        for (name, value) in integration_parameters(i, "path", request)? {
            target = target.replace(&format!("{{{name}}}"), &value);
        }
        if let Some(open) = target.find('{') {
            return Err(format!(
                "integration URI {target} keeps the unmapped parameter {}",
                &target[open..]
            )
            .into());
        }
        let mut url =
            url::Url::parse(&target).map_err(|e| format!("integration URI {target}: {e}"))?;
        if let Some(q) = uri.query() {
            url.set_query(Some(q));
        }
        let shown = url.to_string();
        self.route_to(i, &mut url).await?;
        let forward = if i.http_method == "ANY" {
            method.clone()
        } else {
            Method::from_bytes(i.http_method.as_bytes()).map_err(|e| e.to_string())?
        };
        let mut rb = self.http.request(forward, url).body(body);
        for (k, v) in headers {
            if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                rb = rb.header(k, v);
            }
        }
        for (k, v) in integration_parameters(i, "header", request)? {
            rb = rb.header(k, v);
        }
        let answer = rb
            .send()
            .await
            .map_err(|e| format!("calling {shown}: {}", error_chain(&e)))?;
        let status = answer.status();
        let mut out = Response::builder().status(status.as_u16());
        for (k, v) in answer.headers() {
            if !matches!(
                k.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                out = out.header(k.as_str(), v.as_bytes());
            }
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| format!("reading the answer of {shown}: {e}"))?;
        out.body(axum::body::Body::from(bytes))
            .map_err(|e| Failure::Failed(e.to_string()))
    }

    async fn aws(
        &self,
        i: &Integration,
        headers: &HeaderMap,
        request: &vtl::Request,
    ) -> Result<Response, String> {
        // arn:aws:apigateway:REGION:SERVICE:action/ACTION
        let parts: Vec<&str> = i.uri.splitn(6, ':').collect();
        let (service, action) = match parts.as_slice() {
            [_, _, "apigateway", _, service, rest] => match rest.strip_prefix("action/") {
                Some(a) => (*service, a),
                None => {
                    return Err(format!(
                        "integration URI {}: only `action/` service integrations are served",
                        i.uri
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "integration URI {} is not an API Gateway service ARN",
                    i.uri
                ))
            }
        };
        let target = match service {
            "kinesis" => format!("Kinesis_20131202.{action}"),
            other => return Err(format!("service integrations with {other} are not served by the twin's gateway (Kinesis is)")),
        };
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
            .unwrap_or_else(|| "application/json".into());
        let body = match i.request_templates.get(&content_type) {
            Some(t) => {
                vtl::render(t, request).map_err(|e| format!("{e} ({content_type} template)"))?
            }
            None if i.passthrough == "NEVER"
                || (i.passthrough == "WHEN_NO_TEMPLATES" && !i.request_templates.is_empty()) =>
            {
                return Ok(message(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Unsupported Media Type",
                ))
            }
            None => request.body.clone(),
        };
        let mut call_headers = integration_parameters(i, "header", request)?;
        call_headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-amz-target"));
        if !call_headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            call_headers.push(("Content-Type".into(), "application/x-amz-json-1.1".into()));
        }
        call_headers.push(("X-Amz-Target".into(), target));
        let serial = if self.config.serialize_aws_calls {
            Some(self.one_call_at_a_time.lock().await)
        } else {
            None
        };
        // API Gateway calls the service as the integration's `credentials` role (API Gateway
        // Developer Guide, "Set up an API Gateway API with AWS integration": the execution
        // role API Gateway assumes).
        let Some(role) = i.credentials.as_deref() else {
            return Err(format!(
                "the {service} integration has no `credentials` role for API Gateway to call {action} with"
            ));
        };
        let (status, answer) = self
            .call_service(service, role, &call_headers, body)
            .await
            .map_err(|e| format!("calling {service} {action}: {e}"))?;
        drop(serial);
        let chosen = i.responses.iter().find(|(pattern, _)| {
            pattern.is_empty()
                || regex::Regex::new(&format!("^(?:{pattern})$"))
                    .is_ok_and(|r| r.is_match(&status.to_string()))
        });
        let Some((_, code)) = chosen else {
            return Err(format!(
                "no integration response matches status {status} and there is no default (answer: {})",
                truncate(&answer)
            ));
        };
        let code: u16 = code
            .parse()
            .map_err(|_| format!("integration response status `{code}`"))?;
        if status >= 400 {
            tracing::warn!(status, "{service} {action} answered: {}", truncate(&answer));
        }
        Ok((
            StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
            [(HeaderName::from_static("content-type"), "application/json")],
            answer,
        )
            .into_response())
    }

    fn endpoint(&self, service: &str) -> String {
        let var = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
        std::env::var(var)
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|_| format!("https://{service}.{}.amazonaws.com", self.region))
    }

    /// The temporary credentials of `role`, assumed (session `apigateway`) when none are
    /// kept or those kept expire within 5 minutes. Errors: STS's code and message.
    async fn role_credentials(
        &self,
        role: &str,
    ) -> Result<aws_credential_types::Credentials, String> {
        let mut assumed = self.assumed.lock().await;
        if let Some(c) = assumed.get(role) {
            let fresh = c
                .expiry()
                .is_none_or(|t| t > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(c.clone());
            }
        }
        let out = self
            .sts
            .assume_role()
            .role_arn(role)
            .role_session_name("apigateway")
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sts::error::ProvideErrorMetadata;
                format!(
                    "assuming the integration's role {role}: {}: {}",
                    e.code().unwrap_or("error"),
                    e.message()
                        .map(str::to_string)
                        .unwrap_or_else(|| error_chain(&e))
                )
            })?;
        let c = out
            .credentials()
            .ok_or("AssumeRole answered no credentials")?;
        let creds = aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            SystemTime::try_from(*c.expiration()).ok(),
            "apigateway-integration",
        );
        assumed.insert(role.to_string(), creds.clone());
        Ok(creds)
    }

    async fn call_service(
        &self,
        service: &str,
        role: &str,
        headers: &[(String, String)],
        body: String,
    ) -> Result<(u16, String), String> {
        let url = self.endpoint(service);
        let credentials = self.role_credentials(role).await?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut rb = self.http.post(&url).body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        for (k, v) in instructions.headers() {
            rb = rb.header(k, v);
        }
        let answer = rb
            .send()
            .await
            .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
        let status = answer.status().as_u16();
        let text = answer.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
