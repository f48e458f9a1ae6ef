//! An emulator of the AWS APIs moto lacks — `kafka` (MSK clusters and the native topic API),
//! `kafkaconnect` (custom plugins, worker configurations, connectors and their operations),
//! `mwaa` (environments) and `pricing` (the Price List Query API's GetProducts, from recorded
//! price-list documents: [`pricing`]) — so the official SDKs and the AWS CLI, pointed at it with
//! `AWS_ENDPOINT_URL_KAFKA`, `AWS_ENDPOINT_URL_KAFKACONNECT` and `AWS_ENDPOINT_URL_MWAA`, behave
//! as against AWS: restJson1 shapes and field names (those of botocore's service models
//! `kafka/2018-11-14`, `kafkaconnect/2021-09-14` and `mwaa/2020-07-01`: optional members
//! without a value are left out, never `null`; list calls answer their summary shapes and page
//! with the models' `maxResults`/`nextToken`; checked operation by operation by
//! `tests/conformance/botocore_emulator.py`), HTTP status codes and error types, ARNs of the
//! real format, and state machines (CREATING → ACTIVE/RUNNING/AVAILABLE, UPDATING, DELETING →
//! gone) that advance after a configurable delay. A share of calls can be throttled or fail
//! with a 5xx. State is kept in a file and survives a restart. All three services share one
//! port; a call's service is read from its SigV4 credential scope.
//!
//! This module is the server, the store, fault injection and persistence; each service's routes,
//! shapes and rules are in its own module, over the [`collection`] they all keep resources in.

mod collection;
mod internal;
mod kafka;
mod kafkaconnect;
mod msk_iam;
mod mwaa;
mod network;
mod pricing;
mod propagation;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use collection::{now_ms, Collection};

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long CREATING, UPDATING and DELETING last.
    pub delay: Duration,
    /// Share of calls (0..1) answered with a throttling error or a 500.
    pub fault_rate: f64,
    /// Where state is kept between restarts (none: in memory only).
    pub state_file: Option<PathBuf>,
    /// Address every MSK cluster's bootstrap brokers resolve to (the local Kafka broker's
    /// PLAINTEXT listener; also the listener the topic API acts through, as MSK's own control
    /// plane does).
    pub broker: Option<String>,
    /// The broker's SASL_SSL listener with MSK IAM (`bootstrapBrokerStringSaslIam`), whose
    /// callback handler and authorizer ask this emulator (see [`msk_iam`]).
    pub broker_iam: Option<String>,
    /// The broker's control listener, which the topic API acts through when set (a broker
    /// with MSK IAM lets nothing else create topics unauthenticated).
    pub broker_control: Option<BrokerControl>,
    /// The region of every ARN and MWAA webserver URL.
    pub region: String,
    /// The account of every ARN.
    pub account: String,
    /// Act as the services do while IAM and VPC changes propagate, with the delay in
    /// `PINCTL_PROPAGATION_DELAY` and moto at `moto` or `AWS_ENDPOINT_URL` (see [`propagation`]).
    pub propagation: bool,
    /// moto server's endpoint (`http://127.0.0.1:PORT`), where the network rules of
    /// [`network`] read subnets, route tables, gateways and endpoints. `None`: those rules are
    /// skipped.
    pub moto: Option<String>,
    /// AZ ids MSK refuses client subnets in (empty: `use1-az3`, the one AWS documents).
    pub msk_unsupported_az_ids: Vec<String>,
}

/// Where and how the topic API reaches the broker's control listener (SASL_PLAINTEXT, PLAIN,
/// as [`crate::local::kafka::CONTROL_USER`]).
#[derive(Clone)]
pub struct BrokerControl {
    /// `127.0.0.1:PORT`.
    pub address: String,
    pub password: String,
}

impl std::fmt::Debug for BrokerControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerControl")
            .field("address", &self.address)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            delay: Duration::from_millis(2000),
            fault_rate: 0.0,
            state_file: None,
            broker: None,
            broker_iam: None,
            broker_control: None,
            region: "us-east-1".into(),
            account: "123456789012".into(),
            propagation: false,
            moto: None,
            msk_unsupported_az_ids: Vec::new(),
        }
    }
}

/// Everything the emulator knows; its JSON is the state file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Store {
    clusters: Collection<kafka::Cluster>,
    // Added after the first state files were written.
    #[serde(default)]
    configurations: Collection<kafka::Configuration>,
    /// The operations MSK's Update* calls start, by ARN (added with the cluster-operation API).
    #[serde(default)]
    cluster_operations: Collection<kafka::ClusterOperation>,
    /// Keyed `cluster-arn|topic-name`: a topic's name is unique within its cluster only.
    topics: Collection<kafka::Topic>,
    plugins: Collection<kafkaconnect::Plugin>,
    worker_configs: Collection<kafkaconnect::WorkerConfig>,
    connectors: Collection<kafkaconnect::Connector>,
    operations: Collection<kafkaconnect::Operation>,
    /// Keyed by name: MWAA addresses environments by name, not ARN.
    environments: Collection<mwaa::Environment>,
    tags: Tags,
    calls: u64,
}

impl Store {
    /// Completes the state changes that are due, and forgets the tags of what is gone.
    fn settle(&mut self) {
        let now = now_ms();
        self.clusters.settle(now);
        self.configurations.settle(now);
        self.cluster_operations.settle(now);
        self.topics.settle(now);
        self.plugins.settle(now);
        self.worker_configs.settle(now);
        self.connectors.settle(now);
        self.operations.settle(now);
        self.environments.settle(now);
        // Topics are keyed `cluster|name`, not by ARN, so a topic's own tags do not survive
        // this (the behaviour the emulator has always had).
        let live: BTreeSet<&str> = self
            .clusters
            .ids()
            .chain(self.topics.ids())
            .chain(self.plugins.ids())
            .chain(self.worker_configs.ids())
            .chain(self.connectors.ids())
            .map(String::as_str)
            .chain(
                self.environments
                    .iter()
                    .filter_map(|(_, e)| e.body.get("Arn").and_then(Value::as_str)),
            )
            .collect();
        self.tags.0.retain(|arn, _| live.contains(arn.as_str()));
    }
}

/// Tags by resource ARN, shared by the three services' TagResource, UntagResource and
/// ListTagsForResource (`/v1/tags/{arn}` for MSK and MSK Connect, `/tags/{arn}` for MWAA).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct Tags(BTreeMap<String, BTreeMap<String, String>>);

impl Tags {
    /// Takes the tags out of a create body (under `key`: `tags`, or `Tags` for MWAA) and records
    /// them for `arn`; returns the body without them, as the service keeps it.
    fn adopt(&mut self, arn: &str, body: &Value, key: &str) -> Value {
        if let Some(tags) = body.get(key).and_then(Value::as_object) {
            self.0.insert(
                arn.to_string(),
                tags.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            );
        }
        let mut rest = body.clone();
        if let Some(o) = rest.as_object_mut() {
            o.remove(key);
        }
        rest
    }

    fn of(&self, arn: &str) -> BTreeMap<String, String> {
        self.0.get(arn).cloned().unwrap_or_default()
    }

    /// The tag calls on a resource the service has checked exists: GET lists, POST adds
    /// (`{key: {..}}`), DELETE removes the `tagKeys` of the query. Changes answer `done`, the
    /// status the service's model gives TagResource and UntagResource (botocore's
    /// `kafka/2018-11-14/service-2.json`: 204; `kafkaconnect/2021-09-14` and
    /// `mwaa/2020-07-01`: 200 with an empty object).
    fn api(&mut self, call: &Call, arn: &str, key: &str, done: StatusCode) -> Reply {
        match call.method {
            Method::GET => ok(json!({ key: self.of(arn) })),
            Method::POST => {
                let tags: BTreeMap<String, String> =
                    serde_json::from_value(call.body.get(key).cloned().unwrap_or(json!({})))
                        .map_err(|e| bad_request(e.to_string()))?;
                self.0.entry(arn.to_string()).or_default().extend(tags);
                Ok((done, json!({})))
            }
            Method::DELETE => {
                if let Some(t) = self.0.get_mut(arn) {
                    for k in call.query.get("tagKeys").into_iter().flatten() {
                        t.remove(k);
                    }
                }
                Ok((done, json!({})))
            }
            _ => Err(bad_request("unsupported method")),
        }
    }
}

/// An AWS error: status, error type (the `x-amzn-errortype` header) and message.
#[derive(Debug)]
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Every error shape of the three models has a `message` member (wire name `message`)
        // and nothing else the emulator fills in.
        let body = json!({"message": self.2});
        (
            self.0,
            [
                ("x-amzn-errortype", self.1),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

/// MSK's and MSK Connect's 404: `NotFoundException`, "{what} does not exist".
fn not_found(what: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "NotFoundException",
        format!("{what} does not exist"),
    )
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "BadRequestException", msg.into())
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::CONFLICT, "ConflictException", msg.into())
}

/// A call no route of `service` matched.
fn unknown_operation(service: &str, call: &Call) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "the emulator has no {service} operation {} /{}",
            call.method,
            call.seg.join("/")
        ),
    )
}

type Reply = Result<(StatusCode, Value), ApiError>;

/// One page of a list call, as the three services page: at most the query's `max` items
/// (`maxResults` for MSK and MSK Connect, `MaxResults` for MWAA), from the offset an opaque
/// `next` token (`nextToken` / `NextToken`) carries; the answer's `next` member is present
/// only when more items follow. `list` names the answer's list member.
fn page(call: &Call, items: Vec<Value>, list: &str, max: &str, next: &str) -> Reply {
    let start = match call.query.get(next).and_then(|v| v.first()) {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| bad_request(format!("invalid {next} {t}")))?,
        None => 0,
    };
    let size = match call.query.get(max).and_then(|v| v.first()) {
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad_request(format!("invalid {max} {n}")))?,
        None => usize::MAX,
    };
    let total = items.len();
    let chunk: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    let mut out = json!({ list: chunk });
    let end = start.saturating_add(size);
    if end < total {
        out[next] = json!(end.to_string());
    }
    ok(out)
}

/// Removes `null` members and `null` list items at every depth: an optional member the
/// emulator has no value for is left out of the answer, never sent as `null`.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => {
            a.retain(|x| !x.is_null());
            a.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

fn ok(v: Value) -> Reply {
    Ok((StatusCode::OK, v))
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The first of `keys` the body lacks (the services name one missing field at a time).
fn missing<'k>(body: &Value, keys: &[&'k str]) -> Option<&'k str> {
    keys.iter().copied().find(|k| body.get(k).is_none())
}

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request(format!("{key} is required")))
}

/// One request, parsed: what a service's routes match on.
struct Call<'a> {
    method: Method,
    /// The path's segments, percent-decoded (an ARN in the path arrives encoded).
    seg: Vec<&'a str>,
    query: BTreeMap<String, Vec<String>>,
    /// The JSON body; an empty body is `{}`.
    body: Value,
}

fn service_of(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_string)
}

/// The region of a call's SigV4 credential scope (`Credential=AKID/date/region/service/...`).
fn region_of(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(2).map(str::to_string)
}

fn segments(uri: &Uri) -> Vec<String> {
    uri.path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

fn query(uri: &Uri) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        out.entry(dec(k)).or_default().push(dec(v));
    }
    out
}

struct Emulator {
    opts: Options,
    store: Mutex<Store>,
    /// The broker the topic API acts on, when there is one.
    broker: Option<crate::clients::kafka_admin::BrokerAdmin>,
    /// What the services do with moto's IAM and VPC resources while changes propagate.
    propagation: propagation::Propagation,
    /// The network rules, read from moto when there is one.
    network: network::Network,
}

impl Emulator {
    /// An ARN of this emulator's region and account: `arn:aws:{service}:{region}:{account}:{rest}`.
    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{rest}",
            self.opts.region, self.opts.account
        )
    }

    /// How long a state change takes.
    fn delay(&self) -> Duration {
        self.opts.delay
    }

    async fn save(&self, store: &Store) {
        if let Some(path) = &self.opts.state_file {
            let bytes = serde_json::to_vec_pretty(store).expect("store serializes");
            if let Err(e) = crate::fsx::write_atomically(path, &bytes) {
                tracing::error!("emulator state {}: {e}", path.display());
            }
        }
    }

    /// A deterministic share of calls fails, half throttled (429), half with a 500, under the
    /// error type names of the services' models: MSK's and MSK Connect's throttle is
    /// `TooManyRequestsException` and their 500 `InternalServerErrorException` (botocore's
    /// `kafka` and `kafkaconnect` models; aws-sdk-kafka 1.134
    /// `src/operation/create_cluster_v2.rs`), MWAA's 500 `InternalServerException` (aws-sdk-mwaa
    /// 1.128 `src/operation/create_environment.rs`); MWAA's model lists no throttling error, so
    /// its throttle is AWS's common `ThrottlingException`.
    fn fault(&self, n: u64, service: &str) -> Option<ApiError> {
        if self.opts.fault_rate <= 0.0 {
            return None;
        }
        let x = (n.wrapping_mul(2654435761) % 10_000) as f64 / 10_000.0;
        if x >= self.opts.fault_rate {
            return None;
        }
        Some(if n.is_multiple_of(2) {
            let kind = if service == "kafka" || service == "kafkaconnect" {
                "TooManyRequestsException"
            } else {
                "ThrottlingException"
            };
            ApiError(StatusCode::TOO_MANY_REQUESTS, kind, "Rate exceeded".into())
        } else {
            let kind = if service == "airflow" {
                "InternalServerException"
            } else {
                "InternalServerErrorException"
            };
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                kind,
                "injected failure".into(),
            )
        })
    }

    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        if let Some(op) = uri.path().strip_prefix("/_pinctl/msk-iam/") {
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return match self.msk_iam(op, body).await {
                Ok(v) => (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    v.to_string(),
                )
                    .into_response(),
                Err(e) => e.into_response(),
            };
        }
        let service = service_of(&headers).unwrap_or_default();
        let body: Value = if body.is_empty() {
            Value::Object(Map::new())
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return bad_request(format!("malformed JSON body: {e}")).into_response(),
            }
        };
        let seg = segments(&uri);
        let call = Call {
            method,
            seg: seg.iter().map(String::as_str).collect(),
            query: query(&uri),
            body,
        };
        if let Some(e) = self.propagation.refusal(&service, &call).await {
            return e.into_response();
        }
        let mut store = self.store.lock().await;
        store.calls += 1;
        if let Some(e) = self.fault(store.calls, &service) {
            return e.into_response();
        }
        if service == "pricing" {
            drop(store);
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
            let region = region_of(&headers).unwrap_or_default();
            return match pricing::route(target, &region, &call.body) {
                Ok((status, v)) => (
                    status,
                    [("content-type", "application/x-amz-json-1.1")],
                    v.to_string(),
                )
                    .into_response(),
                // awsJson1_1 errors carry their type in the body as well.
                Err(ApiError(status, kind, message)) => (
                    status,
                    [
                        ("x-amzn-errortype", kind),
                        ("content-type", "application/x-amz-json-1.1"),
                    ],
                    json!({"__type": kind, "message": message}).to_string(),
                )
                    .into_response(),
            };
        }
        store.settle();
        // The network rules read moto before anything changes: a refusal answers at once.
        let verdict = match self.network.check(&service, &call).await {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        // Work on a draft: a change the broker refuses leaves the emulator's state as it was.
        let mut draft = store.clone();
        let mut reply = match service.as_str() {
            "kafka" => kafka::route(self, &mut draft, &call),
            "kafkaconnect" => kafkaconnect::route(self, &mut draft, &call),
            "airflow" | "mwaa" => mwaa::route(self, &mut draft, &call),
            other => Err(ApiError(
                StatusCode::BAD_REQUEST,
                "UnrecognizedClientException",
                format!(
                    "the emulator serves kafka, kafkaconnect, airflow and pricing, not `{other}`"
                ),
            )),
        };
        network::apply(&mut draft, &service, &call, &reply, verdict);
        if let (Some(admin), "kafka", Ok(_)) = (&self.broker, service.as_str(), &reply) {
            if let Err(e) = kafka::on_broker(admin, &draft, &call, &mut reply).await {
                return e.into_response();
            }
        }
        *store = draft;
        if matches!(
            call.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) {
            self.save(&store).await;
        }
        drop(store);
        if let Ok((_, v)) = &reply {
            self.propagation
                .after(&service, &call, v, self.delay())
                .await;
        }
        match reply {
            Ok((status, mut v)) => {
                strip_nulls(&mut v);
                (
                    status,
                    [("content-type", "application/json")],
                    v.to_string(),
                )
                    .into_response()
            }
            Err(e) => e.into_response(),
        }
    }
}

async fn dispatch(
    AxState(emu): AxState<Arc<Emulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    emu.handle(method, uri, headers, body).await
}

/// Serves the emulator on `addr` until the future is dropped. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    opts: Options,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let store = match &opts.state_file {
        Some(p) if p.exists() => {
            let bytes = std::fs::read(p)?;
            serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", p.display()),
                )
            })?
        }
        _ => Store::default(),
    };
    let broker = match (&opts.broker_control, &opts.broker) {
        (Some(c), _) => Some(
            crate::clients::kafka_admin::BrokerAdmin::connect_plain(
                &c.address,
                crate::local::kafka::CONTROL_USER,
                &c.password,
            )
            .map_err(std::io::Error::other)?,
        ),
        (None, Some(b)) => Some(
            crate::clients::kafka_admin::BrokerAdmin::connect(b).map_err(std::io::Error::other)?,
        ),
        (None, None) => None,
    };
    let propagation = if opts.propagation {
        propagation::Propagation::new(opts.moto.as_deref(), &opts.region).await
    } else {
        propagation::Propagation::off()
    };
    let network = network::Network::new(
        opts.moto.as_deref(),
        &opts.region,
        &opts.msk_unsupported_az_ids,
    );
    let emu = Arc::new(Emulator {
        opts,
        store: Mutex::new(store),
        broker,
        propagation,
        network,
    });
    let app = axum::Router::new().fallback(dispatch).with_state(emu);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("emulator stopped: {e}");
        }
    });
    Ok((bound, handle))
}
