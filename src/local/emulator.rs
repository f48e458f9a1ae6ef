//! An emulator of the AWS APIs moto lacks — `kafka` (MSK clusters and the native topic API),
//! `kafkaconnect` (custom plugins, worker configurations, connectors and their operations) and
//! `mwaa` (environments) — so the official SDK, pointed at it with `AWS_ENDPOINT_URL_KAFKA`,
//! `AWS_ENDPOINT_URL_KAFKACONNECT` and `AWS_ENDPOINT_URL_MWAA`, behaves as against AWS:
//! restJson1 shapes and field names, HTTP status codes and error types, ARNs of the real format,
//! and state machines (CREATING → ACTIVE/RUNNING/AVAILABLE, UPDATING, DELETING → gone) that
//! advance after a configurable delay. A share of calls can be throttled or fail with a 5xx.
//! State is kept in a file and survives a restart. All three services share one port; a call's
//! service is read from its SigV4 credential scope.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long CREATING, UPDATING and DELETING last.
    pub delay: Duration,
    /// Share of calls (0..1) answered with a throttling error or a 500.
    pub fault_rate: f64,
    /// Where state is kept between restarts (none: in memory only).
    pub state_file: Option<PathBuf>,
    /// Address every MSK cluster's bootstrap brokers resolve to (the local Kafka broker).
    pub broker: Option<String>,
    pub region: String,
    pub account: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            delay: Duration::from_millis(2000),
            fault_rate: 0.0,
            state_file: None,
            broker: None,
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }
}

/// A resource in a state that may change on its own at `settles_at_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    body: Value,
    state: String,
    created: String,
    settles_at_ms: u128,
    /// What `state` becomes at `settles_at_ms`; `None` means the item is then gone.
    next_state: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Store {
    clusters: BTreeMap<String, Item>,
    #[serde(default)]
    configurations: BTreeMap<String, Item>,
    topics: BTreeMap<String, Item>,
    plugins: BTreeMap<String, Item>,
    worker_configs: BTreeMap<String, Item>,
    connectors: BTreeMap<String, Item>,
    operations: BTreeMap<String, Item>,
    environments: BTreeMap<String, Item>,
    tags: BTreeMap<String, BTreeMap<String, String>>,
    calls: u64,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn iso_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn epoch_of(iso: &str) -> f64 {
    humantime::parse_rfc3339(iso)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Store {
    fn settle(&mut self) {
        let now = now_ms();
        for map in [
            &mut self.clusters,
            &mut self.topics,
            &mut self.plugins,
            &mut self.worker_configs,
            &mut self.connectors,
            &mut self.operations,
            &mut self.environments,
        ] {
            let due: Vec<String> = map
                .iter()
                .filter(|(_, i)| i.settles_at_ms != 0 && i.settles_at_ms <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                let item = map.get_mut(&k).expect("key listed");
                match item.next_state.take() {
                    Some(s) => {
                        item.state = s;
                        item.settles_at_ms = 0;
                    }
                    None => {
                        map.remove(&k);
                    }
                }
            }
        }
        let live: std::collections::BTreeSet<String> = self
            .clusters
            .keys()
            .chain(self.topics.keys())
            .chain(self.plugins.keys())
            .chain(self.worker_configs.keys())
            .chain(self.connectors.keys())
            .chain(
                self.environments
                    .values()
                    .filter_map(|e| {
                        e.body
                            .get("Arn")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .cloned()
            .collect();
        self.tags.retain(|arn, _| live.contains(arn));
    }
}

struct Emulator {
    opts: Options,
    store: Mutex<Store>,
    /// The broker the topic API acts on, when there is one.
    broker: Option<crate::clients::kafka_admin::BrokerAdmin>,
}

/// An AWS error: status, error type (the `x-amzn-errortype` header) and message.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"message": self.2, "Message": self.2});
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

type Reply = Result<(StatusCode, Value), ApiError>;

fn ok(v: Value) -> Reply {
    Ok((StatusCode::OK, v))
}

fn service_of(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_string)
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

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request(format!("{key} is required")))
}

impl Emulator {
    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{rest}",
            self.opts.region, self.opts.account
        )
    }

    fn settles(&self) -> u128 {
        now_ms() + self.opts.delay.as_millis()
    }

    fn item(&self, body: Value, state: &str, next: &str) -> Item {
        Item {
            body,
            state: state.into(),
            created: iso_now(),
            settles_at_ms: self.settles(),
            next_state: Some(next.into()),
        }
    }

    async fn save(&self, store: &Store) {
        if let Some(path) = &self.opts.state_file {
            let bytes = serde_json::to_vec_pretty(store).expect("store serializes");
            if let Err(e) = crate::fsx::write_atomically(path, &bytes) {
                tracing::error!("emulator state {}: {e}", path.display());
            }
        }
    }

    /// A deterministic share of calls fails, half throttled, half with a 500.
    fn fault(&self, n: u64, service: &str) -> Option<ApiError> {
        if self.opts.fault_rate <= 0.0 {
            return None;
        }
        let x = (n.wrapping_mul(2654435761) % 10_000) as f64 / 10_000.0;
        if x >= self.opts.fault_rate {
            return None;
        }
        Some(if n.is_multiple_of(2) {
            let kind = if service == "kafka" {
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
        let q = query(&uri);
        let mut store = self.store.lock().await;
        store.calls += 1;
        if let Some(e) = self.fault(store.calls, &service) {
            return e.into_response();
        }
        store.settle();
        let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
        // Work on a draft: a change the broker refuses leaves the emulator's state as it was.
        let mut draft = store.clone();
        let mut reply = match service.as_str() {
            "kafka" => self.kafka(&mut draft, &method, &seg, &q, &body),
            "kafkaconnect" => self.kafkaconnect(&mut draft, &method, &seg, &q, &body),
            "airflow" | "mwaa" => self.mwaa(&mut draft, &method, &seg, &q, &body),
            other => Err(ApiError(
                StatusCode::BAD_REQUEST,
                "UnrecognizedClientException",
                format!("the emulator serves kafka, kafkaconnect and airflow, not `{other}`"),
            )),
        };
        if let (Some(admin), "kafka", Ok(_)) = (&self.broker, service.as_str(), &reply) {
            if let ["v1", "clusters", cluster, "topics", rest @ ..] = seg.as_slice() {
                if let Err(e) = self
                    .topic_on_broker(admin, &draft, &method, cluster, rest, &body, &mut reply)
                    .await
                {
                    return e.into_response();
                }
            }
        }
        *store = draft;
        if matches!(
            method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) {
            self.save(&store).await;
        }
        match reply {
            Ok((status, v)) => (
                status,
                [("content-type", "application/json")],
                v.to_string(),
            )
                .into_response(),
            Err(e) => e.into_response(),
        }
    }

    /// Applies a topic call to the broker, and reports the broker's view of a topic.
    #[allow(clippy::too_many_arguments)]
    async fn topic_on_broker(
        &self,
        admin: &crate::clients::kafka_admin::BrokerAdmin,
        draft: &Store,
        method: &Method,
        cluster: &str,
        rest: &[&str],
        body: &Value,
        reply: &mut Reply,
    ) -> Result<(), ApiError> {
        let kafka_error = |e: crate::clients::kafka_admin::AdminError| {
            if e.exists {
                ApiError(StatusCode::CONFLICT, "TopicExistsException", e.message)
            } else {
                ApiError(StatusCode::BAD_REQUEST, "KafkaRequestException", e.message)
            }
        };
        let decode = |v: Option<&Value>| -> BTreeMap<String, String> {
            v.and_then(Value::as_str)
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .and_then(|b| serde_json::from_slice::<BTreeMap<String, Value>>(&b).ok())
                .map(|m| {
                    m.into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        match (method, rest) {
            (&Method::POST, []) => {
                let name = str_of(body, "topicName")?;
                let partitions = body["partitionCount"].as_i64().unwrap_or(1) as i32;
                let rf = body["replicationFactor"].as_i64().unwrap_or(1) as i32;
                admin
                    .create(name, partitions, rf, &decode(body.get("configs")))
                    .await
                    .map_err(kafka_error)?;
            }
            (&Method::PUT, [name]) => {
                if let Some(p) = body.get("partitionCount").and_then(Value::as_i64) {
                    let have = admin
                        .describe(name)
                        .await
                        .map_err(|e| {
                            ApiError(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "ClusterConnectivityException",
                                e,
                            )
                        })?
                        .map(|t| t.partitions)
                        .unwrap_or(0);
                    if p > have {
                        admin.grow(name, p as usize).await.map_err(kafka_error)?;
                    }
                }
                if body.get("configs").is_some() {
                    // AlterConfigs sets the whole set: send everything the topic now has.
                    let merged = draft
                        .topics
                        .get(&format!("{cluster}|{name}"))
                        .and_then(|t| t.body.get("configs"))
                        .cloned();
                    admin
                        .alter(name, &decode(merged.as_ref()))
                        .await
                        .map_err(kafka_error)?;
                }
            }
            (&Method::DELETE, [name]) => admin.delete(name).await.map_err(kafka_error)?,
            (&Method::GET, [name]) => {
                let seen = admin.describe(name).await.map_err(|e| {
                    ApiError(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ClusterConnectivityException",
                        e,
                    )
                })?;
                if let (Ok((_, v)), Some(t)) = (reply, seen) {
                    v["partitionCount"] = json!(t.partitions);
                    v["replicationFactor"] = json!(t.replication_factor);
                    let all: BTreeMap<String, Value> = t
                        .configs
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect();
                    v["configs"] = json!(base64::engine::general_purpose::STANDARD
                        .encode(serde_json::to_string(&all).unwrap_or_default()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn tags_api(
        &self,
        store: &mut Store,
        method: &Method,
        arn: &str,
        q: &BTreeMap<String, Vec<String>>,
        body: &Value,
        key: &str,
    ) -> Reply {
        match *method {
            Method::GET => ok(json!({ key: store.tags.get(arn).cloned().unwrap_or_default() })),
            Method::POST => {
                let tags: BTreeMap<String, String> =
                    serde_json::from_value(body.get(key).cloned().unwrap_or(json!({})))
                        .map_err(|e| bad_request(e.to_string()))?;
                store.tags.entry(arn.to_string()).or_default().extend(tags);
                Ok((StatusCode::NO_CONTENT, json!({})))
            }
            Method::DELETE => {
                let keys = q.get("tagKeys").cloned().unwrap_or_default();
                if let Some(t) = store.tags.get_mut(arn) {
                    for k in keys {
                        t.remove(&k);
                    }
                }
                Ok((StatusCode::NO_CONTENT, json!({})))
            }
            _ => Err(bad_request("unsupported method")),
        }
    }

    // ── kafka (MSK) ─────────────────────────────────────────────────────────────────────

    fn cluster_info(&self, store: &Store, arn: &str, c: &Item) -> Value {
        let b = &c.body;
        let provisioned = b.get("provisioned").cloned().or_else(|| {
            // CreateCluster (v1) puts the broker settings at the top level.
            Some(json!({
                "brokerNodeGroupInfo": b.get("brokerNodeGroupInfo").cloned().unwrap_or(json!({})),
                "kafkaVersion": b.get("kafkaVersion").cloned().unwrap_or(json!("3.6.0")),
                "numberOfBrokerNodes": b.get("numberOfBrokerNodes").cloned().unwrap_or(json!(1)),
                "clientAuthentication": b.get("clientAuthentication").cloned().unwrap_or(json!({})),
            }))
        });
        let mut p = provisioned.unwrap_or(json!({}));
        if let Some(o) = p.as_object_mut() {
            let version = o.get("kafkaVersion").cloned().unwrap_or(json!("3.6.0"));
            let mut software = json!({"kafkaVersion": version});
            if let Some(ci) = o.get("configurationInfo") {
                software["configurationArn"] = ci["arn"].clone();
                software["configurationRevision"] = ci["revision"].clone();
            }
            o.insert("currentBrokerSoftwareInfo".into(), software);
            o.remove("kafkaVersion");
            o.insert("zookeeperConnectString".into(), json!(""));
        }
        json!({
            "clusterArn": arn,
            "clusterName": b.get("clusterName").cloned().unwrap_or(json!("")),
            "clusterType": "PROVISIONED",
            "state": c.state,
            "creationTime": c.created,
            "currentVersion": b.get("currentVersion").cloned().unwrap_or(json!("K1")),
            "provisioned": p,
            "tags": store.tags.get(arn).cloned().unwrap_or_default(),
        })
    }

    fn kafka(
        &self,
        store: &mut Store,
        method: &Method,
        seg: &[&str],
        q: &BTreeMap<String, Vec<String>>,
        body: &Value,
    ) -> Reply {
        match (method, seg) {
            (&Method::POST, ["api", "v2", "clusters"]) | (&Method::POST, ["v1", "clusters"]) => {
                let name = str_of(body, "clusterName")?.to_string();
                if store
                    .clusters
                    .values()
                    .any(|c| c.body.get("clusterName").and_then(Value::as_str) == Some(&name))
                {
                    return Err(conflict(format!(
                        "A cluster with name {name} already exists"
                    )));
                }
                if body.get("serverless").is_some() {
                    return Err(bad_request(
                        "the emulator provides provisioned clusters only",
                    ));
                }
                let arn = self.arn("kafka", &format!("cluster/{name}/{}-1", uuid()));
                let mut b = body.clone();
                b.as_object_mut().map(|o| o.remove("tags"));
                if let Some(tags) = body.get("tags").and_then(Value::as_object) {
                    store.tags.insert(
                        arn.clone(),
                        tags.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect(),
                    );
                }
                store
                    .clusters
                    .insert(arn.clone(), self.item(b, "CREATING", "ACTIVE"));
                ok(
                    json!({"clusterArn": arn, "clusterName": name, "state": "CREATING", "clusterType": "PROVISIONED"}),
                )
            }
            (&Method::GET, ["api", "v2", "clusters"]) | (&Method::GET, ["v1", "clusters"]) => {
                let list: Vec<Value> = store
                    .clusters
                    .iter()
                    .map(|(a, c)| self.cluster_info(store, a, c))
                    .collect();
                ok(json!({ "clusterInfoList": list }))
            }
            (&Method::GET, ["api", "v2", "clusters", arn])
            | (&Method::GET, ["v1", "clusters", arn]) => {
                let c = store
                    .clusters
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Cluster {arn}")))?;
                ok(json!({"clusterInfo": self.cluster_info(store, arn, c)}))
            }
            (&Method::DELETE, ["v1", "clusters", arn]) => {
                let c = store
                    .clusters
                    .get_mut(*arn)
                    .ok_or_else(|| not_found(&format!("Cluster {arn}")))?;
                c.state = "DELETING".into();
                c.settles_at_ms = self.settles();
                c.next_state = None;
                let arn = arn.to_string();
                store
                    .topics
                    .retain(|k, _| !k.starts_with(&format!("{arn}|")));
                ok(json!({"clusterArn": arn, "state": "DELETING"}))
            }
            (&Method::GET, ["v1", "clusters", arn, "bootstrap-brokers"]) => {
                let c = store
                    .clusters
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Cluster {arn}")))?;
                if c.state != "ACTIVE" && c.state != "UPDATING" {
                    return Err(bad_request(format!(
                        "the cluster is {}; bootstrap brokers are available once it is ACTIVE",
                        c.state
                    )));
                }
                let broker = self
                    .opts
                    .broker
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:9092".into());
                let iam = c
                    .body
                    .pointer("/provisioned/clientAuthentication/sasl/iam/enabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let mut out = json!({"bootstrapBrokerString": broker});
                if iam {
                    out["bootstrapBrokerStringSaslIam"] = json!(broker);
                }
                ok(out)
            }
            (&Method::PUT, ["v1", "clusters", arn, "configuration"])
            | (&Method::PUT, ["v1", "clusters", arn, "version"])
            | (&Method::PATCH, ["v1", "clusters", arn, "security"])
            | (&Method::PUT, ["v1", "clusters", arn, "nodes", "count" | "storage" | "type"]) => {
                let current = str_of(body, "currentVersion")?.to_string();
                let c = store
                    .clusters
                    .get_mut(*arn)
                    .ok_or_else(|| not_found(&format!("Cluster {arn}")))?;
                let have = c
                    .body
                    .get("currentVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("K1")
                    .to_string();
                if current != have {
                    return Err(bad_request(format!(
                        "The provided current cluster version {current} is not valid; it is {have}"
                    )));
                }
                if c.state != "ACTIVE" {
                    return Err(bad_request(format!("the cluster is {}", c.state)));
                }
                if let Some(n) = body.get("targetNumberOfBrokerNodes") {
                    c.body["provisioned"]["numberOfBrokerNodes"] = n.clone();
                }
                if let Some(ci) = body.get("configurationInfo") {
                    c.body["provisioned"]["configurationInfo"] = ci.clone();
                }
                Self::change_brokers(&mut c.body["provisioned"], body)?;
                let next = format!(
                    "K{}",
                    have.trim_start_matches('K').parse::<u64>().unwrap_or(1) + 1
                );
                c.body["currentVersion"] = json!(next);
                c.state = "UPDATING".into();
                c.settles_at_ms = self.settles();
                c.next_state = Some("ACTIVE".into());
                let op = self.arn("kafka", &format!("cluster-operation/{}", uuid()));
                ok(json!({"clusterArn": arn, "clusterOperationArn": op}))
            }
            (_, ["v1", "configurations", ..]) => {
                self.configurations(store, method, &seg[2..], body)
            }
            (_, ["v1", "clusters", arn, "topics", ..]) => {
                self.topics(store, method, arn, &seg[4..], body)
            }
            (_, ["v1", "tags", arn]) => {
                if !store.clusters.contains_key(*arn)
                    && !store
                        .topics
                        .values()
                        .any(|t| t.body.get("topicArn").and_then(Value::as_str) == Some(*arn))
                {
                    return Err(not_found(&format!("Resource {arn}")));
                }
                self.tags_api(store, method, arn, q, body, "tags")
            }
            _ => Err(ApiError(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "the emulator has no kafka operation {method} /{}",
                    seg.join("/")
                ),
            )),
        }
    }

    /// UpdateClusterKafkaVersion, UpdateBrokerStorage, UpdateBrokerType and UpdateSecurity, with
    /// MSK's rules: versions only go up, storage only grows.
    fn change_brokers(p: &mut Value, body: &Value) -> Result<(), ApiError> {
        if let Some(v) = body.get("targetKafkaVersion").and_then(Value::as_str) {
            let have = p["kafkaVersion"].as_str().unwrap_or("0").to_string();
            let parts =
                |s: &str| -> Vec<u64> { s.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
            if parts(v) <= parts(&have) {
                return Err(bad_request(format!(
                    "The cluster runs Apache Kafka {have}; MSK upgrades a cluster to a newer version only, not to {v}"
                )));
            }
            p["kafkaVersion"] = json!(v);
        }
        if let Some(info) = body
            .get("targetBrokerEBSVolumeInfo")
            .and_then(Value::as_array)
        {
            let size = info
                .first()
                .and_then(|i| i["volumeSizeGB"].as_i64())
                .ok_or_else(|| bad_request("targetBrokerEBSVolumeInfo needs volumeSizeGB"))?;
            let path = "/brokerNodeGroupInfo/storageInfo/ebsStorageInfo/volumeSize";
            let have = p.pointer(path).and_then(Value::as_i64).unwrap_or(0);
            if size <= have {
                return Err(bad_request(format!(
                    "Broker storage can only be increased: it is {have} GiB, {size} GiB was asked"
                )));
            }
            p["brokerNodeGroupInfo"]["storageInfo"]["ebsStorageInfo"]["volumeSize"] = json!(size);
        }
        if let Some(t) = body.get("targetInstanceType") {
            p["brokerNodeGroupInfo"]["instanceType"] = t.clone();
        }
        if let Some(a) = body.get("clientAuthentication") {
            p["clientAuthentication"] = a.clone();
        }
        Ok(())
    }

    fn configurations(
        &self,
        store: &mut Store,
        method: &Method,
        rest: &[&str],
        body: &Value,
    ) -> Reply {
        let revision_of = |c: &Item, n: i64| {
            c.body["revisions"]
                .as_array()
                .and_then(|r| r.iter().find(|x| x["revision"] == n))
                .cloned()
        };
        let latest = |c: &Item| {
            c.body["revisions"]
                .as_array()
                .and_then(|r| r.last())
                .cloned()
                .unwrap_or(json!({}))
        };
        let summary = |arn: &str, c: &Item| {
            let l = latest(c);
            json!({"arn": arn, "name": c.body["name"], "description": c.body.get("description"), "kafkaVersions": c.body.get("kafkaVersions"),
                   "creationTime": c.created, "state": c.state,
                   "latestRevision": {"revision": l["revision"], "creationTime": l["creationTime"], "description": c.body.get("description")}})
        };
        match (method, rest) {
            (&Method::POST, []) => {
                let name = str_of(body, "name")?.to_string();
                let props = str_of(body, "serverProperties")?.to_string();
                if store
                    .configurations
                    .values()
                    .any(|c| c.body["name"] == name.as_str())
                {
                    return Err(conflict(format!(
                        "A configuration with name {name} already exists"
                    )));
                }
                let arn = self.arn("kafka", &format!("configuration/{name}/{}-1", uuid()));
                let item = Item {
                    body: json!({"name": name, "description": body.get("description"), "kafkaVersions": body.get("kafkaVersions"),
                                 "revisions": [{"revision": 1, "serverProperties": props, "creationTime": iso_now()}]}),
                    state: "ACTIVE".into(),
                    created: iso_now(),
                    settles_at_ms: 0,
                    next_state: None,
                };
                let out = summary(&arn, &item);
                store.configurations.insert(arn, item);
                ok(out)
            }
            (&Method::GET, []) => {
                let list: Vec<Value> = store
                    .configurations
                    .iter()
                    .map(|(a, c)| summary(a, c))
                    .collect();
                ok(json!({"configurations": list}))
            }
            (&Method::GET, [arn]) => {
                let c = store
                    .configurations
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Configuration {arn}")))?;
                ok(summary(arn, c))
            }
            (&Method::GET, [arn, "revisions", n]) => {
                let c = store
                    .configurations
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Configuration {arn}")))?;
                let n: i64 = n
                    .parse()
                    .map_err(|_| bad_request("revision must be a number"))?;
                let r = revision_of(c, n)
                    .ok_or_else(|| not_found(&format!("Revision {n} of {arn}")))?;
                ok(
                    json!({"arn": arn, "revision": n, "creationTime": r["creationTime"], "description": c.body.get("description"), "serverProperties": r["serverProperties"]}),
                )
            }
            (&Method::PUT, [arn]) => {
                let props = str_of(body, "serverProperties")?.to_string();
                let c = store
                    .configurations
                    .get_mut(*arn)
                    .ok_or_else(|| not_found(&format!("Configuration {arn}")))?;
                let next = c.body["revisions"]
                    .as_array()
                    .map(|r| r.len() as i64 + 1)
                    .unwrap_or(1);
                if let Some(r) = c.body["revisions"].as_array_mut() {
                    r.push(json!({"revision": next, "serverProperties": props, "creationTime": iso_now()}));
                }
                ok(
                    json!({"arn": arn, "latestRevision": {"revision": next, "creationTime": iso_now()}}),
                )
            }
            (&Method::DELETE, [arn]) => {
                let used = store.clusters.values().any(|c| {
                    c.body
                        .pointer("/provisioned/configurationInfo/arn")
                        .and_then(Value::as_str)
                        == Some(*arn)
                });
                if used {
                    return Err(bad_request("the configuration is in use by a cluster"));
                }
                store
                    .configurations
                    .remove(*arn)
                    .ok_or_else(|| not_found(&format!("Configuration {arn}")))?;
                ok(json!({"arn": arn, "state": "DELETING"}))
            }
            _ => Err(bad_request("unsupported configuration operation")),
        }
    }

    fn topics(
        &self,
        store: &mut Store,
        method: &Method,
        cluster: &str,
        rest: &[&str],
        body: &Value,
    ) -> Reply {
        let c = store
            .clusters
            .get(cluster)
            .ok_or_else(|| not_found(&format!("Cluster {cluster}")))?;
        if c.state != "ACTIVE" && c.state != "UPDATING" {
            return Err(bad_request(format!(
                "topic operations need an ACTIVE cluster; it is {}",
                c.state
            )));
        }
        let parts: Vec<&str> = cluster.rsplitn(3, '/').collect();
        let (cluster_uuid, cluster_name) = (
            parts.first().copied().unwrap_or_default(),
            parts.get(1).copied().unwrap_or_default(),
        );
        let key = |t: &str| format!("{cluster}|{t}");
        match (method, rest) {
            (&Method::POST, []) => {
                let name = str_of(body, "topicName")?.to_string();
                if store.topics.contains_key(&key(&name)) {
                    return Err(ApiError(
                        StatusCode::CONFLICT,
                        "TopicExistsException",
                        format!("Topic '{name}' already exists."),
                    ));
                }
                let partitions = body
                    .get("partitionCount")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| bad_request("partitionCount is required"))?;
                let rf = body
                    .get("replicationFactor")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| bad_request("replicationFactor is required"))?;
                let brokers = c
                    .body
                    .pointer("/provisioned/numberOfBrokerNodes")
                    .or_else(|| c.body.get("numberOfBrokerNodes"))
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if rf > brokers || rf < 1 || partitions < 1 {
                    return Err(ApiError(StatusCode::BAD_REQUEST, "KafkaRequestException", format!("Replication factor: {rf} larger than available brokers: {brokers}, or partitions {partitions} < 1")));
                }
                let arn = self.arn(
                    "kafka",
                    &format!("topic/{cluster_name}/{cluster_uuid}/{name}"),
                );
                let b = json!({"topicArn": arn, "topicName": name, "partitionCount": partitions, "replicationFactor": rf,
                               "configs": body.get("configs").cloned().unwrap_or(json!(""))});
                store
                    .topics
                    .insert(key(&name), self.item(b, "CREATING", "ACTIVE"));
                ok(json!({"topicArn": arn, "topicName": name, "status": "CREATING"}))
            }
            (&Method::GET, []) => {
                let list: Vec<Value> = store
                    .topics
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{cluster}|")))
                    .map(|(_, t)| json!({"topicArn": t.body["topicArn"], "topicName": t.body["topicName"], "partitionCount": t.body["partitionCount"], "replicationFactor": t.body["replicationFactor"], "outOfSyncReplicaCount": 0}))
                    .collect();
                ok(json!({"topics": list}))
            }
            (&Method::GET, [name]) => {
                let t = store
                    .topics
                    .get(&key(name))
                    .ok_or_else(|| not_found(&format!("Topic {name}")))?;
                let mut v = t.body.clone();
                v["status"] = json!(t.state);
                ok(v)
            }
            (&Method::PUT, [name]) => {
                let t = store
                    .topics
                    .get_mut(&key(name))
                    .ok_or_else(|| not_found(&format!("Topic {name}")))?;
                if let Some(p) = body.get("partitionCount").and_then(Value::as_i64) {
                    let have = t.body["partitionCount"].as_i64().unwrap_or(1);
                    if p < have {
                        return Err(ApiError(StatusCode::BAD_REQUEST, "KafkaRequestException", format!("Topic currently has {have} partitions, which is higher than the requested {p}.")));
                    }
                    t.body["partitionCount"] = json!(p);
                }
                if let Some(cfg) = body.get("configs") {
                    t.body["configs"] = merge_configs(t.body.get("configs"), cfg);
                }
                t.state = "UPDATING".into();
                t.settles_at_ms = self.settles();
                t.next_state = Some("ACTIVE".into());
                ok(json!({"topicArn": t.body["topicArn"], "topicName": name, "status": "UPDATING"}))
            }
            (&Method::DELETE, [name]) => {
                let t = store
                    .topics
                    .get_mut(&key(name))
                    .ok_or_else(|| not_found(&format!("Topic {name}")))?;
                t.state = "DELETING".into();
                t.settles_at_ms = self.settles();
                t.next_state = None;
                ok(json!({"topicArn": t.body["topicArn"], "topicName": name, "status": "DELETING"}))
            }
            _ => Err(bad_request("unsupported topic operation")),
        }
    }

    // ── kafkaconnect (MSK Connect) ──────────────────────────────────────────────────────

    fn kafkaconnect(
        &self,
        store: &mut Store,
        method: &Method,
        seg: &[&str],
        q: &BTreeMap<String, Vec<String>>,
        body: &Value,
    ) -> Reply {
        let tag_new = |store: &mut Store, arn: &str| {
            if let Some(tags) = body.get("tags").and_then(Value::as_object) {
                store.tags.insert(
                    arn.to_string(),
                    tags.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect(),
                );
            }
        };
        match (method, seg) {
            (&Method::POST, ["v1", "custom-plugins"]) => {
                let name = str_of(body, "name")?.to_string();
                if store
                    .plugins
                    .values()
                    .any(|p| p.body["name"] == name.as_str())
                {
                    return Err(conflict(format!(
                        "A custom plugin with name {name} already exists"
                    )));
                }
                let loc = body
                    .pointer("/location/s3Location")
                    .ok_or_else(|| bad_request("location.s3Location is required"))?;
                for k in ["bucketArn", "fileKey"] {
                    if loc.get(k).and_then(Value::as_str).is_none() {
                        return Err(bad_request(format!("location.s3Location.{k} is required")));
                    }
                }
                let ct = str_of(body, "contentType")?;
                if ct != "ZIP" && ct != "JAR" {
                    return Err(bad_request(format!(
                        "contentType must be ZIP or JAR, not {ct}"
                    )));
                }
                let arn = self.arn("kafkaconnect", &format!("custom-plugin/{name}/{}", uuid()));
                tag_new(store, &arn);
                let mut b = body.clone();
                b.as_object_mut().map(|o| o.remove("tags"));
                store
                    .plugins
                    .insert(arn.clone(), self.item(b, "CREATING", "ACTIVE"));
                ok(
                    json!({"customPluginArn": arn, "customPluginState": "CREATING", "name": name, "revision": 1}),
                )
            }
            (&Method::GET, ["v1", "custom-plugins"]) => {
                let list: Vec<Value> = store
                    .plugins
                    .iter()
                    .map(|(a, p)| self.plugin_json(a, p))
                    .collect();
                ok(json!({"customPlugins": list}))
            }
            (&Method::GET, ["v1", "custom-plugins", arn]) => {
                let p = store
                    .plugins
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Custom plugin {arn}")))?;
                ok(self.plugin_json(arn, p))
            }
            (&Method::DELETE, ["v1", "custom-plugins", arn]) => {
                if store.connectors.values().any(|c| {
                    c.body
                        .pointer("/plugins/0/customPlugin/customPluginArn")
                        .and_then(Value::as_str)
                        == Some(*arn)
                }) {
                    return Err(conflict("the custom plugin is used by a connector"));
                }
                let p = store
                    .plugins
                    .get_mut(*arn)
                    .ok_or_else(|| not_found(&format!("Custom plugin {arn}")))?;
                p.state = "DELETING".into();
                p.settles_at_ms = self.settles();
                p.next_state = None;
                ok(json!({"customPluginArn": arn, "customPluginState": "DELETING"}))
            }
            (&Method::POST, ["v1", "worker-configurations"]) => {
                let name = str_of(body, "name")?.to_string();
                if store
                    .worker_configs
                    .values()
                    .any(|w| w.body["name"] == name.as_str())
                {
                    return Err(conflict(format!(
                        "A worker configuration with name {name} already exists"
                    )));
                }
                let content = str_of(body, "propertiesFileContent")?;
                if base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .is_err()
                {
                    return Err(bad_request("propertiesFileContent must be base64"));
                }
                let arn = self.arn(
                    "kafkaconnect",
                    &format!("worker-configuration/{name}/{}", uuid()),
                );
                tag_new(store, &arn);
                let mut b = body.clone();
                b.as_object_mut().map(|o| o.remove("tags"));
                let item = Item {
                    body: b,
                    state: "ACTIVE".into(),
                    created: iso_now(),
                    settles_at_ms: 0,
                    next_state: None,
                };
                let created = item.created.clone();
                store.worker_configs.insert(arn.clone(), item);
                ok(
                    json!({"workerConfigurationArn": arn, "name": name, "workerConfigurationState": "ACTIVE", "creationTime": created,
                          "latestRevision": {"revision": 1, "creationTime": created}}),
                )
            }
            (&Method::GET, ["v1", "worker-configurations"]) => {
                let list: Vec<Value> = store
                    .worker_configs
                    .iter()
                    .map(|(a, w)| self.worker_json(a, w))
                    .collect();
                ok(json!({"workerConfigurations": list}))
            }
            (&Method::GET, ["v1", "worker-configurations", arn]) => {
                let w = store
                    .worker_configs
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Worker configuration {arn}")))?;
                ok(self.worker_json(arn, w))
            }
            (&Method::DELETE, ["v1", "worker-configurations", arn]) => {
                if store.connectors.values().any(|c| {
                    c.body
                        .pointer("/workerConfiguration/workerConfigurationArn")
                        .and_then(Value::as_str)
                        == Some(*arn)
                }) {
                    return Err(conflict("the worker configuration is used by a connector"));
                }
                store
                    .worker_configs
                    .remove(*arn)
                    .ok_or_else(|| not_found(&format!("Worker configuration {arn}")))?;
                ok(json!({"workerConfigurationArn": arn, "workerConfigurationState": "DELETING"}))
            }
            (&Method::POST, ["v1", "connectors"]) => {
                let name = str_of(body, "connectorName")?.to_string();
                if store
                    .connectors
                    .values()
                    .any(|c| c.body["connectorName"] == name.as_str())
                {
                    return Err(conflict(format!(
                        "A connector with name {name} already exists"
                    )));
                }
                for k in [
                    "capacity",
                    "connectorConfiguration",
                    "kafkaCluster",
                    "kafkaClusterClientAuthentication",
                    "kafkaClusterEncryptionInTransit",
                    "kafkaConnectVersion",
                    "plugins",
                    "serviceExecutionRoleArn",
                ] {
                    if body.get(k).is_none() {
                        return Err(bad_request(format!("{k} is required")));
                    }
                }
                let plugin = body
                    .pointer("/plugins/0/customPlugin/customPluginArn")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match store.plugins.get(plugin) {
                    Some(p) if p.state == "ACTIVE" => {}
                    Some(p) => {
                        return Err(bad_request(format!(
                            "custom plugin {plugin} is {}",
                            p.state
                        )))
                    }
                    None => return Err(not_found(&format!("Custom plugin {plugin}"))),
                }
                let arn = self.arn("kafkaconnect", &format!("connector/{name}/{}", uuid()));
                tag_new(store, &arn);
                let mut b = body.clone();
                b.as_object_mut().map(|o| o.remove("tags"));
                b["currentVersion"] = json!("1");
                store
                    .connectors
                    .insert(arn.clone(), self.item(b, "CREATING", "RUNNING"));
                ok(
                    json!({"connectorArn": arn, "connectorName": name, "connectorState": "CREATING"}),
                )
            }
            (&Method::GET, ["v1", "connectors"]) => {
                let list: Vec<Value> = store
                    .connectors
                    .iter()
                    .map(|(a, c)| self.connector_json(a, c))
                    .collect();
                ok(json!({"connectors": list}))
            }
            (&Method::GET, ["v1", "connectors", arn]) => {
                let c = store
                    .connectors
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Connector {arn}")))?;
                ok(self.connector_json(arn, c))
            }
            (&Method::PUT, ["v1", "connectors", arn]) => {
                let version = q
                    .get("currentVersion")
                    .and_then(|v| v.first())
                    .cloned()
                    .ok_or_else(|| bad_request("currentVersion is required"))?;
                let op_arn = {
                    let c = store
                        .connectors
                        .get_mut(*arn)
                        .ok_or_else(|| not_found(&format!("Connector {arn}")))?;
                    if c.state != "RUNNING" {
                        return Err(bad_request(format!(
                            "the connector is {}; it can be updated when RUNNING",
                            c.state
                        )));
                    }
                    let have = c.body["currentVersion"].as_str().unwrap_or("1").to_string();
                    if version != have {
                        return Err(bad_request(format!("currentVersion {version} does not match the connector's version {have}")));
                    }
                    let origin = c.body.get("connectorConfiguration").cloned();
                    let origin_capacity = c.body.get("capacity").cloned();
                    if let Some(cfg) = body.get("connectorConfiguration") {
                        c.body["connectorConfiguration"] = cfg.clone();
                    }
                    if let Some(cap) = body.get("capacity") {
                        c.body["capacity"] = cap.clone();
                    }
                    c.body["currentVersion"] =
                        json!((have.parse::<u64>().unwrap_or(1) + 1).to_string());
                    c.state = "UPDATING".into();
                    c.settles_at_ms = self.settles();
                    c.next_state = Some("RUNNING".into());
                    let name = c.body["connectorName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let conn_uuid = arn.rsplit('/').next().unwrap_or_default().to_string();
                    let op_arn = self.arn(
                        "kafkaconnect",
                        &format!("connector-operation/{name}/{conn_uuid}/{}", uuid()),
                    );
                    let op = json!({"connectorArn": arn, "connectorOperationArn": op_arn, "connectorOperationType": "UPDATE_CONNECTOR_CONFIGURATION",
                                    "originConnectorConfiguration": origin, "targetConnectorConfiguration": body.get("connectorConfiguration"),
                                    "originWorkerSetting": {"capacity": origin_capacity}, "targetWorkerSetting": {"capacity": body.get("capacity")}});
                    store
                        .operations
                        .insert(op_arn.clone(), self.item(op, "PENDING", "UPDATE_COMPLETE"));
                    op_arn
                };
                ok(
                    json!({"connectorArn": arn, "connectorState": "UPDATING", "connectorOperationArn": op_arn}),
                )
            }
            (&Method::DELETE, ["v1", "connectors", arn]) => {
                let c = store
                    .connectors
                    .get_mut(*arn)
                    .ok_or_else(|| not_found(&format!("Connector {arn}")))?;
                c.state = "DELETING".into();
                c.settles_at_ms = self.settles();
                c.next_state = None;
                ok(json!({"connectorArn": arn, "connectorState": "DELETING"}))
            }
            (&Method::GET, ["v1", "connectors", arn, "operations"]) => {
                if !store.connectors.contains_key(*arn) {
                    return Err(not_found(&format!("Connector {arn}")));
                }
                let list: Vec<Value> = store
                    .operations
                    .iter()
                    .filter(|(_, o)| o.body["connectorArn"] == *arn)
                    .map(|(a, o)| json!({"connectorOperationArn": a, "connectorOperationType": o.body["connectorOperationType"], "connectorOperationState": o.state, "creationTime": o.created}))
                    .collect();
                ok(json!({"connectorOperations": list}))
            }
            (&Method::GET, ["v1", "connectorOperations", arn]) => {
                let o = store
                    .operations
                    .get(*arn)
                    .ok_or_else(|| not_found(&format!("Connector operation {arn}")))?;
                let mut v = o.body.clone();
                v["connectorOperationState"] = json!(o.state);
                v["creationTime"] = json!(o.created);
                ok(v)
            }
            (_, ["v1", "tags", arn]) => {
                let known = store.plugins.contains_key(*arn)
                    || store.worker_configs.contains_key(*arn)
                    || store.connectors.contains_key(*arn);
                if !known {
                    return Err(not_found(&format!("Resource {arn}")));
                }
                self.tags_api(store, method, arn, q, body, "tags")
            }
            _ => Err(ApiError(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "the emulator has no kafkaconnect operation {method} /{}",
                    seg.join("/")
                ),
            )),
        }
    }

    fn plugin_json(&self, arn: &str, p: &Item) -> Value {
        json!({
            "customPluginArn": arn,
            "name": p.body["name"],
            "description": p.body.get("description"),
            "customPluginState": p.state,
            "creationTime": p.created,
            "latestRevision": {"revision": 1, "contentType": p.body["contentType"], "creationTime": p.created,
                               "description": p.body.get("description"), "location": p.body["location"],
                               "fileDescription": {"fileMd5": "", "fileSize": 0}},
        })
    }

    fn worker_json(&self, arn: &str, w: &Item) -> Value {
        json!({
            "workerConfigurationArn": arn,
            "name": w.body["name"],
            "description": w.body.get("description"),
            "workerConfigurationState": w.state,
            "creationTime": w.created,
            "latestRevision": {"revision": 1, "creationTime": w.created, "description": w.body.get("description"),
                               "propertiesFileContent": w.body["propertiesFileContent"]},
        })
    }

    fn connector_json(&self, arn: &str, c: &Item) -> Value {
        let b = &c.body;
        let plugins: Vec<Value> = b["plugins"].as_array().cloned().unwrap_or_default();
        json!({
            "connectorArn": arn,
            "connectorName": b["connectorName"],
            "connectorDescription": b.get("connectorDescription"),
            "connectorState": c.state,
            "creationTime": c.created,
            "currentVersion": b["currentVersion"],
            "capacity": capacity_description(&b["capacity"]),
            "connectorConfiguration": b["connectorConfiguration"],
            "kafkaCluster": {"apacheKafkaCluster": b.pointer("/kafkaCluster/apacheKafkaCluster")},
            "kafkaClusterClientAuthentication": b["kafkaClusterClientAuthentication"],
            "kafkaClusterEncryptionInTransit": b["kafkaClusterEncryptionInTransit"],
            "kafkaConnectVersion": b["kafkaConnectVersion"],
            "plugins": plugins.iter().map(|p| json!({"customPlugin": p["customPlugin"]})).collect::<Vec<_>>(),
            "serviceExecutionRoleArn": b["serviceExecutionRoleArn"],
            "workerConfiguration": b.get("workerConfiguration"),
        })
    }

    // ── mwaa ────────────────────────────────────────────────────────────────────────────

    fn environment_json(&self, store: &Store, e: &Item) -> Value {
        let mut v = e.body.clone();
        let arn = v["Arn"].as_str().unwrap_or_default().to_string();
        v["Status"] = json!(e.state);
        v["CreatedAt"] = json!(epoch_of(&e.created));
        v["Tags"] = json!(store.tags.get(&arn).cloned().unwrap_or_default());
        v
    }

    fn mwaa(
        &self,
        store: &mut Store,
        method: &Method,
        seg: &[&str],
        q: &BTreeMap<String, Vec<String>>,
        body: &Value,
    ) -> Reply {
        match (method, seg) {
            (&Method::PUT, ["environments", name]) => {
                if store.environments.contains_key(*name) {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        "ValidationException",
                        format!("Environment {name} already exists"),
                    ));
                }
                for k in [
                    "ExecutionRoleArn",
                    "SourceBucketArn",
                    "DagS3Path",
                    "NetworkConfiguration",
                ] {
                    if body.get(k).is_none() {
                        return Err(ApiError(
                            StatusCode::BAD_REQUEST,
                            "ValidationException",
                            format!("{k} is required"),
                        ));
                    }
                }
                let arn = self.arn("airflow", &format!("environment/{name}"));
                if let Some(tags) = body.get("Tags").and_then(Value::as_object) {
                    store.tags.insert(
                        arn.clone(),
                        tags.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect(),
                    );
                }
                let mut b = body.clone();
                if let Some(o) = b.as_object_mut() {
                    o.remove("Tags");
                    o.insert("Name".into(), json!(name));
                    o.insert("Arn".into(), json!(arn));
                    o.entry("AirflowVersion").or_insert(json!("2.10.3"));
                    o.entry("EnvironmentClass").or_insert(json!("mw1.small"));
                    o.insert(
                        "WebserverUrl".into(),
                        json!(format!(
                            "{}.{}.airflow.amazonaws.com",
                            uuid(),
                            self.opts.region
                        )),
                    );
                }
                store
                    .environments
                    .insert(name.to_string(), self.item(b, "CREATING", "AVAILABLE"));
                ok(json!({"Arn": arn}))
            }
            (&Method::GET, ["environments"]) => {
                ok(json!({"Environments": store.environments.keys().collect::<Vec<_>>()}))
            }
            (&Method::GET, ["environments", name]) => {
                let e = store.environments.get(*name).ok_or_else(|| {
                    ApiError(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        format!("Environment {name} not found"),
                    )
                })?;
                ok(json!({"Environment": self.environment_json(store, e)}))
            }
            (&Method::PATCH, ["environments", name]) => {
                let e = store.environments.get_mut(*name).ok_or_else(|| {
                    ApiError(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        format!("Environment {name} not found"),
                    )
                })?;
                if e.state != "AVAILABLE" {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        "ValidationException",
                        format!(
                            "Environment {name} is {}; it can be updated when AVAILABLE",
                            e.state
                        ),
                    ));
                }
                // Nested settings merge: an update of the security groups keeps the subnets.
                crate::json::deep_merge(&mut e.body, body);
                e.state = "UPDATING".into();
                e.settles_at_ms = self.settles();
                e.next_state = Some("AVAILABLE".into());
                ok(json!({"Arn": e.body["Arn"]}))
            }
            (&Method::DELETE, ["environments", name]) => {
                let e = store.environments.get_mut(*name).ok_or_else(|| {
                    ApiError(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        format!("Environment {name} not found"),
                    )
                })?;
                e.state = "DELETING".into();
                e.settles_at_ms = self.settles();
                e.next_state = None;
                ok(json!({}))
            }
            (_, ["tags", arn]) => {
                if !store.environments.values().any(|e| e.body["Arn"] == *arn) {
                    return Err(ApiError(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFoundException",
                        format!("Resource {arn} not found"),
                    ));
                }
                self.tags_api(store, method, arn, q, body, "Tags")
            }
            _ => Err(ApiError(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "the emulator has no mwaa operation {method} /{}",
                    seg.join("/")
                ),
            )),
        }
    }
}

fn capacity_description(c: &Value) -> Value {
    match c.get("provisionedCapacity") {
        Some(p) => json!({"provisionedCapacity": p}),
        None => json!({"autoScaling": c.get("autoScaling")}),
    }
}

/// Topic configs travel as base64 of a JSON object; an update merges into what is set.
fn merge_configs(old: Option<&Value>, new: &Value) -> Value {
    let decode = |v: Option<&Value>| -> Map<String, Value> {
        v.and_then(Value::as_str)
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    let mut m = decode(old);
    m.extend(decode(Some(new)));
    json!(base64::engine::general_purpose::STANDARD.encode(Value::Object(m).to_string()))
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
    let broker = match &opts.broker {
        Some(b) => Some(
            crate::clients::kafka_admin::BrokerAdmin::connect(b).map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let emu = Arc::new(Emulator {
        opts,
        store: Mutex::new(store),
        broker,
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
