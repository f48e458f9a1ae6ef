//! `pinctl worker rest-proxy`: a Kafka REST proxy, wire-compatible with the Confluent REST Proxy
//! v2 for what this pipeline's clients use.
//!
//! | request | answer |
//! |---|---|
//! | `POST /topics/{t}` (`application/vnd.kafka.json.v2+json`, or binary: `vnd.kafka.binary.v2+json`) | 200 `{"offsets":[...],"key_schema_id":null,"value_schema_id":null}` |
//! | unknown topic / partition | 404, `error_code` 40401 / 40402 |
//! | another content type (`vnd.kafka.v2+json`, `application/json` and `octet-stream` too, as Confluent REST Proxy 7) | 415, 415 |
//! | a body that is not the v2 shape (bad JSON, truncated, no records, bad base64, bad partition) | 422, 422 |
//! | a body over `--max-request-bytes` | 413, 413 |
//! | the broker failed every record | 500, 50002 (50003 when retriable); 403, 40301 not authorized (MSK IAM); 401, 40101 authentication failed; some records: 200 with per-offset `error_code` |
//! | `GET /topics`, `GET /topics/{t}` | the topic names; name, configs, partitions |
//! | `POST /consumers/{g}`, `POST|GET|DELETE .../instances/{i}/subscription`, `GET .../records`, `POST .../offsets`, `DELETE .../instances/{i}` | v2 consumers (40403 unknown instance, 40902 name taken, 406 wrong Accept) |
//! | `GET /health` | 200 when the broker answers, else 503 |
//!
//! Nothing is produced unless the whole request is valid; the answer comes after the broker
//! acknowledged (or refused) every record; shutdown stops accepting, lets requests finish and
//! flushes the producer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde::Deserialize;
use serde_json::{json, Value};

use super::kafka::KafkaConnection;
use crate::clients::kafka_admin::IamContext;

/// The v2 content type of responses without embedded data.
const V2_JSON: &str = "application/vnd.kafka.v2+json";
const V2_EMBEDDED_JSON: &str = "application/vnd.kafka.json.v2+json";
const V2_EMBEDDED_BINARY: &str = "application/vnd.kafka.binary.v2+json";

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub connection: KafkaConnection,
    pub max_request_bytes: usize,
    /// librdkafka `compression.type` (none, gzip, snappy, lz4, zstd).
    pub compression: String,
    pub linger: Duration,
    /// librdkafka `message.timeout.ms`: the broker's time to acknowledge a record.
    pub delivery_timeout: Duration,
    /// How long a client may take to send its request's headers, and then its body.
    pub read_timeout: Duration,
    /// How long a consumer instance lives without requests.
    pub consumer_idle: Duration,
}

/// An error in the v2 shape: an HTTP status and `{"error_code": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn topic_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, "Topic not found.")
    }
    fn partition_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40402, "Partition not found.")
    }
    fn consumer_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40403, "Consumer instance not found.")
    }
    fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            "HTTP 415 Unsupported Media Type",
        )
    }
    fn not_acceptable(message: &str) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, 40601, message)
    }
    fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 422, message)
    }
    fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            413,
            format!("Request Entity Too Large: the limit is {limit} bytes"),
        )
    }
    /// A record the producer could not deliver, as Confluent REST Proxy 7 answers it
    /// (kafka-rest `ProduceController`/rest-utils `KafkaExceptionMapper`): an authentication
    /// failure 401/40101, an authorization failure 403/40301 "Not authorized to access topics:
    /// [t]", a retriable error 50003, any other 50002.
    fn delivery(e: &rdkafka::error::KafkaError, topic: &str) -> Self {
        use rdkafka::types::RDKafkaErrorCode as C;
        match e.rdkafka_error_code() {
            Some(
                C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::TransactionalIdAuthorizationFailed,
            ) => Self::new(
                StatusCode::FORBIDDEN,
                40301,
                format!("Not authorized to access topics: [{topic}]"),
            ),
            Some(C::SaslAuthenticationFailed | C::Authentication) => Self::new(
                StatusCode::UNAUTHORIZED,
                40101,
                format!("Authentication failed: {e}"),
            ),
            code => Self::kafka(
                matches!(
                    code,
                    Some(
                        C::MessageTimedOut
                            | C::QueueFull
                            | C::NotEnoughReplicas
                            | C::LeaderNotAvailable
                            | C::NotLeaderForPartition
                            | C::RequestTimedOut
                            | C::BrokerTransportFailure
                            | C::AllBrokersDown
                    )
                ),
                format!("Kafka error: {e}"),
            ),
        }
    }
    fn kafka(retriable: bool, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            if retriable { 50003 } else { 50002 },
            message,
        )
    }
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found")
    }
    fn request_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, 408, "HTTP 408 Request Timeout")
    }
    fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            405,
            "HTTP 405 Method Not Allowed",
        )
    }
}

/// A path's parameters, refused in the v2 error shape like every other error here. A name that is
/// not UTF-8 once percent-decoded (`/topics/%FF`) names no topic: Confluent's proxy (Jersey)
/// decodes it and finds none, 404/40401 under `/topics`, 404 elsewhere.
struct V2Path<T>(T);

impl<S, T> FromRequestParts<S> for V2Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(V2Path(v)),
            Err(_) if parts.uri.path().starts_with("/topics/") => Err(ApiError::topic_not_found()),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

/// Query parameters, refused in the v2 error shape: a value that does not convert is a 404, as
/// JAX-RS answers a `@QueryParam` it cannot convert (Jakarta RESTful Web Services, §3.2).
struct V2Query<T>(T);

impl<S, T> FromRequestParts<S> for V2Query<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| V2Query(v))
            .map_err(|_| ApiError::not_found())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code, "message": self.message});
        (
            self.status,
            [(header::CONTENT_TYPE, V2_JSON)],
            body.to_string(),
        )
            .into_response()
    }
}

fn v2(status: StatusCode, content_type: &'static str, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.to_string(),
    )
        .into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Embedded {
    Json,
    Binary,
}

/// The embedded format a produce request's content type names; `None` when v2 would refuse it.
fn produce_format(headers: &HeaderMap) -> Option<Embedded> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let ct = ct.split(';').next()?.trim().to_ascii_lowercase();
    // A v2 produce names its embedded format; Confluent REST Proxy 7 consumes nothing else
    // (kafka-rest `ProduceToTopicAction`/`ProduceToPartitionAction`: `@Consumes` of
    // `vnd.kafka.binary.v2+json`, `vnd.kafka.json.v2+json` and the schema formats), so the
    // generic `vnd.kafka.v2+json`, `application/json` and `octet-stream` are 415s, as there.
    match ct.as_str() {
        V2_EMBEDDED_JSON => Some(Embedded::Json),
        V2_EMBEDDED_BINARY => Some(Embedded::Binary),
        _ => None,
    }
}

struct Topics {
    partitions: HashMap<String, usize>,
    fetched: Option<Instant>,
}

struct ConsumerInstance {
    consumer: Arc<BaseConsumer<IamContext>>,
    format: Embedded,
    last_used: Mutex<Instant>,
}

struct AppState {
    config: ProxyConfig,
    producer: FutureProducer<IamContext>,
    topics: tokio::sync::Mutex<Topics>,
    consumers: Mutex<HashMap<(String, String), Arc<ConsumerInstance>>>,
}

/// How long the topic list is trusted before a lookup asks the broker again.
const TOPIC_CACHE: Duration = Duration::from_secs(10);
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

impl AppState {
    async fn refresh_topics(&self) -> Result<HashMap<String, usize>, ApiError> {
        let producer = self.producer.clone();
        let metadata = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, METADATA_TIMEOUT)
                .map(|m| {
                    m.topics()
                        .iter()
                        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                        .map(|t| (t.name().to_string(), t.partitions().len()))
                        .collect::<HashMap<_, _>>()
                })
        })
        .await
        .map_err(|e| ApiError::kafka(true, format!("metadata request failed: {e}")))?
        .map_err(|e| ApiError::kafka(true, format!("Kafka error: {e}")))?;
        let mut topics = self.topics.lock().await;
        topics.partitions = metadata.clone();
        topics.fetched = Some(Instant::now());
        Ok(metadata)
    }

    /// The topic's partition count; a name not in the cached list is looked up again at once
    /// (it may have just been created).
    async fn partitions(&self, topic: &str) -> Result<usize, ApiError> {
        {
            let topics = self.topics.lock().await;
            let fresh = topics.fetched.is_some_and(|t| t.elapsed() < TOPIC_CACHE);
            if let (true, Some(n)) = (fresh, topics.partitions.get(topic)) {
                return Ok(*n);
            }
        }
        self.refresh_topics()
            .await?
            .get(topic)
            .copied()
            .ok_or_else(ApiError::topic_not_found)
    }

    fn consumer(&self, group: &str, instance: &str) -> Result<Arc<ConsumerInstance>, ApiError> {
        let consumers = self.consumers.lock().expect("consumer table");
        let c = consumers
            .get(&(group.to_string(), instance.to_string()))
            .cloned()
            .ok_or_else(ApiError::consumer_not_found)?;
        *c.last_used.lock().expect("clock") = Instant::now();
        Ok(c)
    }
}

/// The proxy's router and the state it holds (the producer), ready to serve.
pub struct RestProxy {
    state: Arc<AppState>,
}

impl RestProxy {
    pub async fn new(config: ProxyConfig) -> anyhow::Result<RestProxy> {
        let (mut client, context) = config.connection.client().await?;
        client
            .set("compression.type", &config.compression)
            .set("linger.ms", config.linger.as_millis().to_string())
            .set("allow.auto.create.topics", "false")
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set(
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            );
        let producer: FutureProducer<IamContext> =
            client.create_with_context(context).map_err(|e| {
                anyhow::anyhow!("Kafka producer for {}: {e}", config.connection.bootstrap)
            })?;
        Ok(RestProxy {
            state: Arc::new(AppState {
                config,
                producer,
                topics: tokio::sync::Mutex::new(Topics {
                    partitions: HashMap::new(),
                    fetched: None,
                }),
                consumers: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn router(&self) -> Router {
        let consumer = "/consumers/{group}/instances/{instance}";
        Router::new()
            .route(
                "/",
                get(|| async { v2(StatusCode::OK, V2_JSON, json!({})) }),
            )
            .route("/health", get(health))
            .route("/topics", get(list_topics))
            .route("/topics/{topic}", get(describe_topic).post(produce))
            .route(
                "/topics/{topic}/partitions/{partition}",
                post(produce_to_partition),
            )
            .route("/consumers/{group}", post(create_consumer))
            .route(consumer, axum::routing::delete(delete_consumer))
            .route(
                &format!("{consumer}/subscription"),
                post(subscribe).get(subscription).delete(unsubscribe),
            )
            .route(&format!("{consumer}/records"), get(records))
            .route(&format!("{consumer}/offsets"), post(commit))
            .fallback(|| async { ApiError::not_found() })
            .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
            .with_state(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then lets running requests finish and flushes the
    /// producer so nothing accepted is left unsent. A client gets `read_timeout` to send its
    /// headers (the connection is then closed) and again for its body (a 408), so slow clients
    /// cannot hold connections, as Jetty's idle timeout (30 s by default) bounds them in
    /// Confluent's proxy.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sweeper = tokio::spawn(sweep_idle_consumers(self.state.clone()));
        let app = self.router();
        let read_timeout = self.state.config.read_timeout;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: the next accept may succeed.
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            let mut stopping = stopping.clone();
            connections.spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let mut connection = std::pin::pin!(connection);
                let result = tokio::select! {
                    r = connection.as_mut() => r,
                    _ = async { drop(stopping.wait_for(|s| *s).await) } => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!("connection: {e}");
                }
            });
            // Forget connections that ended, so the set does not grow with every client.
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        let _ = stop.send(true);
        while connections.join_next().await.is_some() {}
        sweeper.abort();
        let producer = self.state.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(30)))
            .await?
            .map_err(|e| anyhow::anyhow!("flushing the producer: {e}"))?;
        self.state.consumers.lock().expect("consumer table").clear();
        Ok(())
    }
}

async fn sweep_idle_consumers(state: Arc<AppState>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle = state.config.consumer_idle;
        state
            .consumers
            .lock()
            .expect("consumer table")
            .retain(|_, c| c.last_used.lock().expect("clock").elapsed() < idle);
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.refresh_topics().await {
        Ok(topics) => v2(
            StatusCode::OK,
            "application/json",
            json!({"status": "UP", "broker": state.config.connection.bootstrap, "topics": topics.len()}),
        ),
        Err(e) => v2(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            json!({"status": "DOWN", "broker": state.config.connection.bootstrap, "error": e.message}),
        ),
    }
}

async fn list_topics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let mut names: Vec<String> = state.refresh_topics().await?.into_keys().collect();
    names.sort();
    Ok(v2(StatusCode::OK, V2_JSON, json!(names)))
}

async fn describe_topic(
    State(state): State<Arc<AppState>>,
    V2Path(topic): V2Path<String>,
) -> Result<Response, ApiError> {
    let producer = state.producer.clone();
    let name = topic.clone();
    let metadata = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(Some(&name), METADATA_TIMEOUT)
    })
    .await
    .map_err(|e| ApiError::kafka(true, e.to_string()))?
    .map_err(|e| ApiError::kafka(true, format!("Kafka error: {e}")))?;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(ApiError::topic_not_found)?;
    let partitions: Vec<Value> = t
        .partitions()
        .iter()
        .map(|p| {
            let isr = p.isr();
            json!({
                "partition": p.id(),
                "leader": p.leader(),
                "replicas": p.replicas().iter().map(|r| json!({
                    "broker": r,
                    "leader": *r == p.leader(),
                    "in_sync": isr.contains(r),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(v2(
        StatusCode::OK,
        V2_JSON,
        json!({"name": topic, "configs": {}, "partitions": partitions}),
    ))
}

/// Reads the whole body, refusing it (413) once it passes the limit.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::request_timeout())?;
    read.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::too_large(limit)
        } else {
            ApiError::unprocessable(format!("the request body could not be read: {e}"))
        }
    })
}

/// A record to produce, decoded and checked.
struct Outgoing {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    partition: Option<i32>,
}

/// The v2 produce body, decoded in full before anything is sent.
fn decode_records(body: &[u8], format: Embedded) -> Result<Vec<Outgoing>, ApiError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::unprocessable(format!("Unprocessable request body: {e}")))?;
    let Value::Object(doc) = doc else {
        return Err(ApiError::unprocessable(
            "Unprocessable request body: expected a JSON object with `records`",
        ));
    };
    let records = match doc.get("records") {
        Some(Value::Array(r)) if !r.is_empty() => r,
        Some(Value::Array(_)) => return Err(ApiError::unprocessable("records may not be empty")),
        Some(_) => return Err(ApiError::unprocessable("`records` must be an array")),
        None => return Err(ApiError::unprocessable("records may not be null")),
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let Value::Object(r) = r else {
            return Err(ApiError::unprocessable(format!(
                "records[{i}] must be an object with `value` (and optionally `key`, `partition`)"
            )));
        };
        let partition = match r.get("partition") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .filter(|p| *p >= 0)
                    .ok_or_else(|| {
                        ApiError::unprocessable(format!(
                            "records[{i}].partition must be a non-negative integer"
                        ))
                    })?,
            ),
            Some(_) => {
                return Err(ApiError::unprocessable(format!(
                    "records[{i}].partition must be a non-negative integer"
                )))
            }
        };
        let field = |name: &str| -> Result<Option<Vec<u8>>, ApiError> {
            match (r.get(name), format) {
                (None | Some(Value::Null), _) => Ok(None),
                (Some(v), Embedded::Json) => Ok(Some(v.to_string().into_bytes())),
                (Some(Value::String(s)), Embedded::Binary) => {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map(Some)
                        .map_err(|e| {
                            ApiError::unprocessable(format!(
                            "records[{i}].{name} is not valid base64 (binary embedded format): {e}"
                        ))
                        })
                }
                (Some(_), Embedded::Binary) => Err(ApiError::unprocessable(format!(
                    "records[{i}].{name} must be a base64 string (binary embedded format)"
                ))),
            }
        };
        out.push(Outgoing {
            key: field("key")?,
            value: field("value")?,
            partition,
        });
    }
    Ok(out)
}

async fn produce(
    State(state): State<Arc<AppState>>,
    V2Path(topic): V2Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    produce_records(state, topic, None, headers, body).await
}

async fn produce_to_partition(
    State(state): State<Arc<AppState>>,
    V2Path((topic, partition)): V2Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = partition
        .parse::<i32>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(ApiError::partition_not_found)?;
    produce_records(state, topic, Some(partition), headers, body).await
}

async fn produce_records(
    state: Arc<AppState>,
    topic: String,
    forced_partition: Option<i32>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let format = produce_format(&headers).ok_or_else(ApiError::unsupported_media_type)?;
    let body = read_body(
        body,
        &headers,
        state.config.max_request_bytes,
        state.config.read_timeout,
    )
    .await?;
    let mut records = decode_records(&body, format)?;
    let partitions = state.partitions(&topic).await?;
    for r in &mut records {
        if let Some(p) = forced_partition {
            r.partition = Some(p);
        }
        if r.partition.is_some_and(|p| p as usize >= partitions) {
            return Err(ApiError::partition_not_found());
        }
    }
    let sends = records.iter().map(|r| {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic);
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        state.producer.send(record, Duration::from_secs(10))
    });
    // Polled together, so every record is queued at once and batched by the producer.
    let results = futures::future::join_all(sends).await;
    let mut offsets = Vec::with_capacity(results.len());
    let mut failures = 0;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(delivery) => offsets.push(json!({
                "partition": delivery.partition,
                "offset": delivery.offset,
                "error_code": null,
                "error": null,
            })),
            Err((e, _)) => {
                failures += 1;
                let error = ApiError::delivery(&e, &topic);
                tracing::warn!(topic, "{}", error.message);
                offsets.push(json!({
                    "partition": null,
                    "offset": null,
                    "error_code": error.code,
                    "error": error.message,
                }));
                first_error.get_or_insert(error);
            }
        }
    }
    if failures == offsets.len() {
        return Err(first_error.unwrap_or_else(|| ApiError::kafka(false, "Kafka error")));
    }
    Ok(v2(
        StatusCode::OK,
        V2_JSON,
        json!({"offsets": offsets, "key_schema_id": null, "value_schema_id": null}),
    ))
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::unprocessable(format!("Unprocessable request body: {e}")))
}

fn metadata_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        V2_JSON | "application/vnd.kafka+json" | "application/json" | "" => Ok(()),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

#[derive(Deserialize)]
struct CreateConsumer {
    name: Option<String>,
    format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<String>,
    #[serde(rename = "auto.commit.enable")]
    auto_commit_enable: Option<Value>,
}

async fn create_consumer(
    State(state): State<Arc<AppState>>,
    V2Path(group): V2Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    metadata_content_type(&headers)?;
    let body = read_body(
        body,
        &headers,
        state.config.max_request_bytes,
        state.config.read_timeout,
    )
    .await?;
    let req: CreateConsumer = json_body(&body)?;
    let format = match req.format.as_deref().unwrap_or("binary") {
        "json" => Embedded::Json,
        "binary" => Embedded::Binary,
        other => {
            return Err(ApiError::unprocessable(format!(
                "format `{other}` is not supported: use json or binary"
            )))
        }
    };
    let reset = match req.auto_offset_reset.as_deref().unwrap_or("latest") {
        r @ ("earliest" | "latest" | "smallest" | "largest") => r.to_string(),
        other => {
            return Err(ApiError::unprocessable(format!(
                "auto.offset.reset `{other}` is not one of earliest, latest"
            )))
        }
    };
    let auto_commit = match &req.auto_commit_enable {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(_) => {
            return Err(ApiError::unprocessable(
                "auto.commit.enable must be true or false",
            ))
        }
    };
    let name = req
        .name
        .unwrap_or_else(|| format!("rest-consumer-{}", uuid::Uuid::new_v4()));
    let key = (group.clone(), name.clone());
    if state
        .consumers
        .lock()
        .expect("consumer table")
        .contains_key(&key)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            40902,
            "Consumer with specified consumer ID already exists in the specified consumer group.",
        ));
    }
    let (mut client, context) = state
        .config
        .connection
        .client()
        .await
        .map_err(|e| ApiError::kafka(false, e.to_string()))?;
    client
        .set("group.id", &group)
        .set("client.id", &name)
        .set("auto.offset.reset", &reset)
        .set("enable.auto.commit", auto_commit.to_string())
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer<IamContext> = client
        .create_with_context(context)
        .map_err(|e| ApiError::kafka(false, format!("Kafka error: {e}")))?;
    state.consumers.lock().expect("consumer table").insert(
        key,
        Arc::new(ConsumerInstance {
            consumer: Arc::new(consumer),
            format,
            last_used: Mutex::new(Instant::now()),
        }),
    );
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    Ok(v2(
        StatusCode::OK,
        V2_JSON,
        json!({
            "instance_id": name,
            "base_uri": format!("http://{host}/consumers/{group}/instances/{name}"),
        }),
    ))
}

async fn delete_consumer(
    State(state): State<Arc<AppState>>,
    V2Path((group, instance)): V2Path<(String, String)>,
) -> Result<Response, ApiError> {
    let removed = state
        .consumers
        .lock()
        .expect("consumer table")
        .remove(&(group, instance))
        .ok_or_else(ApiError::consumer_not_found)?;
    tokio::task::spawn_blocking(move || drop(removed))
        .await
        .map_err(|e| ApiError::kafka(false, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Subscription {
    topics: Option<Vec<String>>,
    topic_pattern: Option<String>,
}

async fn subscribe(
    State(state): State<Arc<AppState>>,
    V2Path((group, instance)): V2Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    metadata_content_type(&headers)?;
    let c = state.consumer(&group, &instance)?;
    let body = read_body(
        body,
        &headers,
        state.config.max_request_bytes,
        state.config.read_timeout,
    )
    .await?;
    let req: Subscription = json_body(&body)?;
    let patterns: Vec<String> = match (req.topics, req.topic_pattern) {
        (Some(t), None) if !t.is_empty() => t,
        (None, Some(p)) => vec![format!("^{}", p.trim_start_matches('^'))],
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                40902,
                "Consumer cannot have multiple subscriptions of different types (topics, topic pattern).",
            ))
        }
        _ => {
            return Err(ApiError::unprocessable(
                "a subscription needs `topics` (a non-empty list) or `topic_pattern`",
            ))
        }
    };
    let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    c.consumer
        .subscribe(&refs)
        .map_err(|e| ApiError::kafka(false, format!("Kafka error: {e}")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn subscription(
    State(state): State<Arc<AppState>>,
    V2Path((group, instance)): V2Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = state.consumer(&group, &instance)?;
    let topics: Vec<String> = c
        .consumer
        .subscription()
        .map(|l| l.elements().iter().map(|e| e.topic().to_string()).collect())
        .unwrap_or_default();
    Ok(v2(StatusCode::OK, V2_JSON, json!({"topics": topics})))
}

async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    V2Path((group, instance)): V2Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = state.consumer(&group, &instance)?;
    c.consumer.unsubscribe();
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct RecordsQuery {
    timeout: Option<u64>,
    max_bytes: Option<usize>,
}

async fn records(
    State(state): State<Arc<AppState>>,
    V2Path((group, instance)): V2Path<(String, String)>,
    V2Query(q): V2Query<RecordsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = state.consumer(&group, &instance)?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let wants = if accept.contains(V2_EMBEDDED_JSON) {
        Some(Embedded::Json)
    } else if accept.contains(V2_EMBEDDED_BINARY) {
        Some(Embedded::Binary)
    } else {
        None
    };
    if wants.is_some_and(|w| w != c.format) {
        return Err(ApiError::not_acceptable(
            "The requested embedded data format does not match the deserializer for this consumer instance",
        ));
    }
    let content_type = match c.format {
        Embedded::Json => V2_EMBEDDED_JSON,
        Embedded::Binary => V2_EMBEDDED_BINARY,
    };
    let timeout = Duration::from_millis(q.timeout.unwrap_or(1000).min(30_000));
    let max_bytes = q.max_bytes.unwrap_or(64 * 1024 * 1024);
    let format = c.format;
    let consumer = c.consumer.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Vec<Value>, ApiError> {
        let deadline = Instant::now() + timeout;
        let mut out = vec![];
        let mut bytes = 0usize;
        while bytes < max_bytes {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match consumer.poll(left) {
                None => break,
                Some(Err(e)) => return Err(ApiError::kafka(false, format!("Kafka error: {e}"))),
                Some(Ok(m)) => {
                    let decode = |b: Option<&[u8]>| -> Result<Value, ApiError> {
                        match (b, format) {
                            (None, _) => Ok(Value::Null),
                            (Some(b), Embedded::Json) => serde_json::from_slice(b).map_err(|e| {
                                ApiError::kafka(
                                    false,
                                    format!(
                                        "Kafka error: the record at {}/{}@{} is not JSON: {e}",
                                        m.topic(),
                                        m.partition(),
                                        m.offset()
                                    ),
                                )
                            }),
                            (Some(b), Embedded::Binary) => Ok(Value::String(
                                base64::engine::general_purpose::STANDARD.encode(b),
                            )),
                        }
                    };
                    bytes += m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len);
                    out.push(json!({
                        "topic": m.topic(),
                        "key": decode(m.key())?,
                        "value": decode(m.payload())?,
                        "partition": m.partition(),
                        "offset": m.offset(),
                    }));
                    // Return what arrived rather than waiting out the whole timeout.
                    if out.len() >= 500 {
                        break;
                    }
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::kafka(false, e.to_string()))??;
    Ok(v2(StatusCode::OK, content_type, Value::Array(out)))
}

async fn commit(
    State(state): State<Arc<AppState>>,
    V2Path((group, instance)): V2Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = state.consumer(&group, &instance)?;
    let consumer = c.consumer.clone();
    tokio::task::spawn_blocking(move || consumer.commit_consumer_state(CommitMode::Sync))
        .await
        .map_err(|e| ApiError::kafka(false, e.to_string()))?
        .or_else(|e| match e.rdkafka_error_code() {
            // Nothing consumed yet: nothing to commit.
            Some(rdkafka::types::RDKafkaErrorCode::NoOffset) => Ok(()),
            _ => Err(ApiError::kafka(false, format!("Kafka error: {e}"))),
        })?;
    Ok(StatusCode::OK.into_response())
}

/// Binds the listener and serves until SIGTERM or Ctrl-C (prints `listening on ADDR`).
pub async fn run(config: ProxyConfig, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let bootstrap = config.connection.bootstrap.clone();
    let proxy = RestProxy::new(config).await?;
    println!("listening on {}", listener.local_addr()?);
    tracing::info!(bootstrap, "Kafka REST proxy ready");
    proxy
        .serve(listener, crate::signal::shutdown_signal())
        .await?;
    tracing::info!("stopped; every accepted record was flushed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn content_types_map_to_v2_embedded_formats() {
        assert_eq!(
            produce_format(&headers("application/vnd.kafka.json.v2+json")),
            Some(Embedded::Json)
        );
        assert_eq!(
            produce_format(&headers(
                "application/vnd.kafka.json.v2+json; charset=utf-8"
            )),
            Some(Embedded::Json)
        );
        assert_eq!(
            produce_format(&headers("application/vnd.kafka.binary.v2+json")),
            Some(Embedded::Binary)
        );
        // Confluent REST Proxy 7 takes no generic type as binary.
        for generic in [
            "application/json",
            "application/vnd.kafka.v2+json",
            "application/octet-stream",
        ] {
            assert_eq!(produce_format(&headers(generic)), None, "{generic}");
        }
        assert_eq!(produce_format(&headers("text/plain")), None);
        assert_eq!(
            produce_format(&headers("application/vnd.kafka.avro.v2+json")),
            None
        );
        assert_eq!(produce_format(&HeaderMap::new()), None);
    }

    #[test]
    fn bodies_are_decoded_whole_or_refused() {
        let ok = decode_records(
            br#"{"records":[{"value":{"a":1}},{"key":"k","value":[1,2],"partition":0}]}"#,
            Embedded::Json,
        )
        .unwrap();
        assert_eq!(ok[0].value.as_deref(), Some(br#"{"a":1}"#.as_slice()));
        assert_eq!(ok[1].key.as_deref(), Some(br#""k""#.as_slice()));
        assert_eq!(ok[1].partition, Some(0));
        for bad in [
            &b"{"[..],
            b"[]",
            b"{}",
            b"{\"records\":[]}",
            b"{\"records\":{}}",
            b"{\"records\":[1]}",
            b"{\"records\":[{\"value\":1,\"partition\":-1}]}",
            b"{\"records\":[{\"value\":1,\"partition\":\"0\"}]}",
        ] {
            let e = decode_records(bad, Embedded::Json).err().unwrap();
            assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, 422));
        }
        let e = decode_records(
            br#"{"records":[{"value":"not base64!"}]}"#,
            Embedded::Binary,
        )
        .err()
        .unwrap();
        assert!(e.message.contains("base64"), "{}", e.message);
        let b = decode_records(br#"{"records":[{"value":"aGk="}]}"#, Embedded::Binary).unwrap();
        assert_eq!(b[0].value.as_deref(), Some(b"hi".as_slice()));
    }
}
