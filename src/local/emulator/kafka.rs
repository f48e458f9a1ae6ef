//! MSK (`kafka`): provisioned clusters (CreateClusterV2 and the v1 CreateCluster,
//! DescribeClusterV2, ListClustersV2, DeleteCluster, GetBootstrapBrokers and the Update* calls),
//! configurations with their revisions, and the native topic API, which also acts on the local
//! broker when there is one. Shapes are those of the MSK REST API as the Rust SDK reads them.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::collection::{iso_now, Item, Kind};
use super::{
    bad_request, not_found, ok, str_of, unknown_operation, uuid, ApiError, Call, Emulator, Reply,
    Store, Tags,
};
use crate::clients::kafka_admin::{AdminError, BrokerAdmin};

/// A provisioned cluster, keyed by ARN (`cluster/{name}/{uuid}-1`); its body is the create
/// request without its tags (v2's `provisioned`, or v1's top-level broker settings), plus
/// `currentVersion` once updated. CREATING → ACTIVE, UPDATING → ACTIVE, DELETING → gone. A taken
/// name is a `ConflictException` (listed by CreateClusterV2's model: aws-sdk-kafka 1.134
/// `src/operation/create_cluster_v2.rs`).
pub(super) struct Cluster;

impl Kind for Cluster {
    const NOUN: &'static str = "Cluster";
    const NAME_FIELD: Option<&'static str> = Some("clusterName");
}

/// A cluster configuration, keyed by ARN (`configuration/{name}/{uuid}-1`); its body holds
/// `name`, `description`, `kafkaVersions` and `revisions` (each `revision`, `serverProperties`,
/// `creationTime`). ACTIVE at once and deleted at once; refused for deletion while a cluster
/// names it (DeleteConfiguration's errors are BadRequest and NotFound, no Conflict: aws-sdk-kafka
/// 1.134 `src/operation/delete_configuration.rs`).
pub(super) struct Configuration;

impl Kind for Configuration {
    const NOUN: &'static str = "Configuration";
    const CREATING: Option<&'static str> = None;
    const DELETING: bool = false;

    fn in_use() -> ApiError {
        bad_request("the configuration is in use by a cluster")
    }
}

/// A topic, keyed `{cluster-arn}|{topic-name}` (a name is unique within its cluster); its body
/// is `topicArn`, `topicName`, `partitionCount`, `replicationFactor` and `configs` (base64 of a
/// JSON object). CREATING → ACTIVE, UPDATING → ACTIVE, DELETING → gone. A taken name is Kafka's
/// `TopicExistsException` (409), as CreateTopic's model lists it (aws-sdk-kafka 1.134
/// `src/operation/create_topic.rs`); errors name the topic, not the key.
pub(super) struct Topic;

impl Kind for Topic {
    const NOUN: &'static str = "Topic";
    const NAME_FIELD: Option<&'static str> = None;

    fn conflict(key: &str) -> ApiError {
        ApiError(
            StatusCode::CONFLICT,
            "TopicExistsException",
            format!("Topic '{}' already exists.", topic_name(key)),
        )
    }

    fn not_found(key: &str) -> ApiError {
        not_found(&format!("Topic {}", topic_name(key)))
    }
}

/// The topic part of a topic key (a cluster ARN has no `|`, so the first one separates).
fn topic_name(key: &str) -> &str {
    key.split_once('|').map_or(key, |(_, name)| name)
}

/// Kafka's own refusal of a topic change, which MSK passes on as `KafkaRequestException`.
fn kafka_refuses(msg: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "KafkaRequestException", msg)
}

/// The broker could not be asked (MSK's 503 `ClusterConnectivityException`).
fn unreachable_broker(msg: String) -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "ClusterConnectivityException",
        msg,
    )
}

/// The MSK routes; `/api/v2/clusters` are the V2 cluster calls, the rest are under `/v1`.
pub(super) fn route(emu: &Emulator, store: &mut Store, call: &Call) -> Reply {
    let body = &call.body;
    match (&call.method, call.seg.as_slice()) {
        (&Method::POST, ["api", "v2", "clusters"]) | (&Method::POST, ["v1", "clusters"]) => {
            create_cluster(emu, store, body)
        }
        (&Method::GET, ["api", "v2", "clusters"]) | (&Method::GET, ["v1", "clusters"]) => {
            let list: Vec<Value> = store
                .clusters
                .iter()
                .map(|(a, c)| cluster_info(&store.tags, a, c))
                .collect();
            ok(json!({ "clusterInfoList": list }))
        }
        (&Method::GET, ["api", "v2", "clusters", arn])
        | (&Method::GET, ["v1", "clusters", arn]) => {
            let c = store.clusters.get(arn)?;
            ok(json!({"clusterInfo": cluster_info(&store.tags, arn, c)}))
        }
        (&Method::DELETE, ["v1", "clusters", arn]) => {
            store.clusters.delete(arn, emu.delay())?;
            // A cluster's topics live on its brokers: they go with it at once.
            let prefix = format!("{arn}|");
            store.topics.drop_where(|k| k.starts_with(&prefix));
            ok(json!({"clusterArn": arn, "state": "DELETING"}))
        }
        (&Method::GET, ["v1", "clusters", arn, "bootstrap-brokers"]) => {
            bootstrap_brokers(emu, store.clusters.get(arn)?)
        }
        (&Method::PUT, ["v1", "clusters", arn, "configuration"])
        | (&Method::PUT, ["v1", "clusters", arn, "version"])
        | (&Method::PATCH, ["v1", "clusters", arn, "security"])
        | (&Method::PUT, ["v1", "clusters", arn, "nodes", "count" | "storage" | "type"]) => {
            update_cluster(emu, store, arn, body)
        }
        (_, ["v1", "configurations", rest @ ..]) => {
            configurations(emu, store, &call.method, rest, body)
        }
        (_, ["v1", "clusters", cluster, "topics", rest @ ..]) => {
            topics(emu, store, &call.method, cluster, rest, body)
        }
        (_, ["v1", "tags", arn]) => {
            if !store.clusters.contains(arn) && !store.topics.any_names("/topicArn", arn) {
                return Err(not_found(&format!("Resource {arn}")));
            }
            store.tags.api(call, arn, "tags")
        }
        _ => Err(unknown_operation("kafka", call)),
    }
}

/// CreateClusterV2 / CreateCluster: provisioned clusters only.
fn create_cluster(emu: &Emulator, store: &mut Store, body: &Value) -> Reply {
    let name = str_of(body, "clusterName")?.to_string();
    store.clusters.ensure_free(&name)?;
    if body.get("serverless").is_some() {
        return Err(bad_request(
            "the emulator provides provisioned clusters only",
        ));
    }
    let arn = emu.arn("kafka", &format!("cluster/{name}/{}-1", uuid()));
    let kept = store.tags.adopt(&arn, body, "tags");
    store.clusters.create(arn.clone(), kept, emu.delay());
    ok(
        json!({"clusterArn": arn, "clusterName": name, "state": "CREATING", "clusterType": "PROVISIONED"}),
    )
}

/// A `ClusterInfo` as DescribeClusterV2 returns it.
fn cluster_info(tags: &Tags, arn: &str, c: &Item) -> Value {
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
        "tags": tags.of(arn),
    })
}

/// GetBootstrapBrokers: every cluster is the local broker; the IAM string only when the
/// cluster has IAM client authentication, as MSK leaves out the strings of disabled listeners.
fn bootstrap_brokers(emu: &Emulator, c: &Item) -> Reply {
    if c.state != "ACTIVE" && c.state != "UPDATING" {
        return Err(bad_request(format!(
            "the cluster is {}; bootstrap brokers are available once it is ACTIVE",
            c.state
        )));
    }
    let broker = emu
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

/// The Update* calls: each names the `currentVersion` it expects (MSK's optimistic lock) and
/// needs an ACTIVE cluster; a change bumps the version `K{n}` → `K{n+1}`.
fn update_cluster(emu: &Emulator, store: &mut Store, arn: &str, body: &Value) -> Reply {
    let current = str_of(body, "currentVersion")?.to_string();
    store.clusters.update(arn, emu.delay(), |c| {
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
        change_brokers(&mut c.body["provisioned"], body)?;
        let next = format!(
            "K{}",
            have.trim_start_matches('K').parse::<u64>().unwrap_or(1) + 1
        );
        c.body["currentVersion"] = json!(next);
        Ok(())
    })?;
    let op = emu.arn("kafka", &format!("cluster-operation/{}", uuid()));
    ok(json!({"clusterArn": arn, "clusterOperationArn": op}))
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

/// CreateConfiguration, ListConfigurations, DescribeConfiguration(Revision),
/// UpdateConfiguration (a new revision) and DeleteConfiguration, under `/v1/configurations`.
fn configurations(
    emu: &Emulator,
    store: &mut Store,
    method: &Method,
    rest: &[&str],
    body: &Value,
) -> Reply {
    match (method, rest) {
        (&Method::POST, []) => {
            let name = str_of(body, "name")?.to_string();
            let props = str_of(body, "serverProperties")?.to_string();
            store.configurations.ensure_free(&name)?;
            let arn = emu.arn("kafka", &format!("configuration/{name}/{}-1", uuid()));
            let kept = json!({"name": name, "description": body.get("description"), "kafkaVersions": body.get("kafkaVersions"),
                              "revisions": [{"revision": 1, "serverProperties": props, "creationTime": iso_now()}]});
            let c = store.configurations.create(arn.clone(), kept, emu.delay());
            ok(configuration_summary(&arn, c))
        }
        (&Method::GET, []) => {
            let list: Vec<Value> = store
                .configurations
                .iter()
                .map(|(a, c)| configuration_summary(a, c))
                .collect();
            ok(json!({"configurations": list}))
        }
        (&Method::GET, [arn]) => ok(configuration_summary(arn, store.configurations.get(arn)?)),
        (&Method::GET, [arn, "revisions", n]) => {
            let c = store.configurations.get(arn)?;
            let n: i64 = n
                .parse()
                .map_err(|_| bad_request("revision must be a number"))?;
            let r = c.body["revisions"]
                .as_array()
                .and_then(|r| r.iter().find(|x| x["revision"] == n))
                .ok_or_else(|| not_found(&format!("Revision {n} of {arn}")))?;
            ok(
                json!({"arn": arn, "revision": n, "creationTime": r["creationTime"], "description": c.body.get("description"), "serverProperties": r["serverProperties"]}),
            )
        }
        (&Method::PUT, [arn]) => {
            let props = str_of(body, "serverProperties")?.to_string();
            let next = store.configurations.edit(arn, |c| {
                let next = c.body["revisions"]
                    .as_array()
                    .map(|r| r.len() as i64 + 1)
                    .unwrap_or(1);
                if let Some(r) = c.body["revisions"].as_array_mut() {
                    r.push(json!({"revision": next, "serverProperties": props, "creationTime": iso_now()}));
                }
                next
            })?;
            ok(json!({"arn": arn, "latestRevision": {"revision": next, "creationTime": iso_now()}}))
        }
        (&Method::DELETE, [arn]) => {
            let used = store
                .clusters
                .any_names("/provisioned/configurationInfo/arn", arn);
            store.configurations.delete_unused(arn, used, emu.delay())?;
            ok(json!({"arn": arn, "state": "DELETING"}))
        }
        _ => Err(bad_request("unsupported configuration operation")),
    }
}

/// A configuration as CreateConfiguration, DescribeConfiguration and ListConfigurations return
/// it, with its latest revision.
fn configuration_summary(arn: &str, c: &Item) -> Value {
    let l = c.body["revisions"]
        .as_array()
        .and_then(|r| r.last())
        .cloned()
        .unwrap_or(json!({}));
    json!({"arn": arn, "name": c.body["name"], "description": c.body.get("description"), "kafkaVersions": c.body.get("kafkaVersions"),
           "creationTime": c.created, "state": c.state,
           "latestRevision": {"revision": l["revision"], "creationTime": l["creationTime"], "description": c.body.get("description")}})
}

/// The topic API (`/v1/clusters/{arn}/topics`), on an ACTIVE or UPDATING cluster, with Kafka's
/// rules: a replication factor no larger than the broker count, partitions only added.
fn topics(
    emu: &Emulator,
    store: &mut Store,
    method: &Method,
    cluster: &str,
    rest: &[&str],
    body: &Value,
) -> Reply {
    let c = store.clusters.get(cluster)?;
    if c.state != "ACTIVE" && c.state != "UPDATING" {
        return Err(bad_request(format!(
            "topic operations need an ACTIVE cluster; it is {}",
            c.state
        )));
    }
    let key = |t: &str| format!("{cluster}|{t}");
    match (method, rest) {
        (&Method::POST, []) => {
            let name = str_of(body, "topicName")?.to_string();
            store.topics.ensure_free(&key(&name))?;
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
                return Err(kafka_refuses(format!("Replication factor: {rf} larger than available brokers: {brokers}, or partitions {partitions} < 1")));
            }
            // A topic ARN is the cluster's name and uuid with the topic's name.
            let parts: Vec<&str> = cluster.rsplitn(3, '/').collect();
            let (cluster_uuid, cluster_name) = (
                parts.first().copied().unwrap_or_default(),
                parts.get(1).copied().unwrap_or_default(),
            );
            let arn = emu.arn(
                "kafka",
                &format!("topic/{cluster_name}/{cluster_uuid}/{name}"),
            );
            let kept = json!({"topicArn": arn, "topicName": name, "partitionCount": partitions, "replicationFactor": rf,
                              "configs": body.get("configs").cloned().unwrap_or(json!(""))});
            store.topics.create(key(&name), kept, emu.delay());
            ok(json!({"topicArn": arn, "topicName": name, "status": "CREATING"}))
        }
        (&Method::GET, []) => {
            let prefix = key("");
            let list: Vec<Value> = store
                .topics
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, t)| json!({"topicArn": t.body["topicArn"], "topicName": t.body["topicName"], "partitionCount": t.body["partitionCount"], "replicationFactor": t.body["replicationFactor"], "outOfSyncReplicaCount": 0}))
                .collect();
            ok(json!({"topics": list}))
        }
        (&Method::GET, [name]) => {
            let t = store.topics.get(&key(name))?;
            let mut v = t.body.clone();
            v["status"] = json!(t.state);
            ok(v)
        }
        (&Method::PUT, [name]) => {
            let arn = store.topics.update(&key(name), emu.delay(), |t| {
                if let Some(p) = body.get("partitionCount").and_then(Value::as_i64) {
                    let have = t.body["partitionCount"].as_i64().unwrap_or(1);
                    if p < have {
                        return Err(kafka_refuses(format!("Topic currently has {have} partitions, which is higher than the requested {p}.")));
                    }
                    t.body["partitionCount"] = json!(p);
                }
                if let Some(cfg) = body.get("configs") {
                    t.body["configs"] = merge_configs(t.body.get("configs"), cfg);
                }
                Ok(t.body["topicArn"].clone())
            })?;
            ok(json!({"topicArn": arn, "topicName": name, "status": "UPDATING"}))
        }
        (&Method::DELETE, [name]) => {
            let t = store.topics.delete(&key(name), emu.delay())?;
            ok(json!({"topicArn": t.body["topicArn"], "topicName": name, "status": "DELETING"}))
        }
        _ => Err(bad_request("unsupported topic operation")),
    }
}

/// Topic configs travel as base64 of a JSON object; an undecodable value is no configs.
fn decode_configs(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// An update merges its configs into what is set (UpdateTopic sends only the changed ones).
fn merge_configs(old: Option<&Value>, new: &Value) -> Value {
    let mut m = decode_configs(old);
    m.extend(decode_configs(Some(new)));
    json!(base64::engine::general_purpose::STANDARD.encode(Value::Object(m).to_string()))
}

/// Applies a successful topic call to the broker, and answers DescribeTopic with the broker's
/// view (partitions, replication factor, configs). A broker refusal fails the call, and the
/// caller then drops `draft`.
pub(super) async fn on_broker(
    admin: &BrokerAdmin,
    draft: &Store,
    call: &Call<'_>,
    reply: &mut Reply,
) -> Result<(), ApiError> {
    let ["v1", "clusters", cluster, "topics", rest @ ..] = call.seg.as_slice() else {
        return Ok(());
    };
    let body = &call.body;
    let kafka_error = |e: AdminError| {
        if e.exists {
            ApiError(StatusCode::CONFLICT, "TopicExistsException", e.message)
        } else {
            kafka_refuses(e.message)
        }
    };
    // The admin client takes config values as strings.
    let decode = |v: Option<&Value>| -> BTreeMap<String, String> {
        decode_configs(v)
            .into_iter()
            .map(|(k, v)| {
                let s = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                (k, s)
            })
            .collect()
    };
    match (&call.method, rest) {
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
                    .map_err(unreachable_broker)?
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
                    .ok()
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
            let seen = admin.describe(name).await.map_err(unreachable_broker)?;
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
