//! MSK (`kafka`): provisioned clusters through the v1 and v2 cluster APIs (CreateCluster /
//! CreateClusterV2, DescribeCluster / DescribeClusterV2, ListClusters / ListClustersV2,
//! DeleteCluster, GetBootstrapBrokers, ListNodes), the Update* calls and the cluster-operation
//! API whose ARN each of them returns (DescribeClusterOperation(V2), ListClusterOperations(V2)),
//! configurations with their revisions, the Kafka version calls, and the native topic API
//! (with DescribeTopicPartitions), which also acts on the local broker when there is one.
//!
//! Shapes follow botocore's model `kafka/2018-11-14/service-2.json` (the wire names are its
//! `locationName`s); members MSK returns for every provisioned cluster — encryption,
//! monitoring, logging, storage mode, connectivity — are filled with MSK's defaults
//! (Amazon MSK API reference, "Clusters" / "ClusterInfo",
//! https://docs.aws.amazon.com/msk/1.0/apireference/clusters-clusterarn.html).

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::collection::{iso_in, iso_now, Item, Kind};
use super::{
    bad_request, not_found, ok, page, str_of, unknown_operation, uuid, ApiError, Call, Emulator,
    Reply, Store, Tags,
};
use crate::clients::kafka_admin::{AdminError, BrokerAdmin};

/// A provisioned cluster, keyed by ARN (`cluster/{name}/{uuid}-1`); its body is the create
/// request without its tags, in CreateClusterV2's layout (`clusterName`, `provisioned`; a v1
/// CreateCluster's top-level broker settings are moved under `provisioned`), plus
/// `currentVersion` once updated and `activeOperationArn` while an update runs. CREATING →
/// ACTIVE, UPDATING → ACTIVE, DELETING → gone. A taken name is a `ConflictException` (listed
/// by CreateClusterV2's model: aws-sdk-kafka 1.134 `src/operation/create_cluster_v2.rs`).
pub(super) struct Cluster;

impl Kind for Cluster {
    const NOUN: &'static str = "Cluster";
    const NAME_FIELD: Option<&'static str> = Some("clusterName");
}

/// A cluster configuration, keyed by ARN (`configuration/{name}/{uuid}-1`); its body holds
/// `name`, `description`, `kafkaVersions` and `revisions` (each `revision`, `description`,
/// `serverProperties`, `creationTime`). ACTIVE at once and deleted at once; refused for
/// deletion while a cluster names it. MSK answers an unknown configuration ARN with a 400
/// `BadRequestException` "Configuration ARN does not exist." (not a 404: terraform-provider-aws
/// `internal/service/kafka/configuration.go` keys its not-found test on that error and text).
pub(super) struct Configuration;

impl Kind for Configuration {
    const NOUN: &'static str = "Configuration";
    const CREATING: Option<&'static str> = None;
    const DELETING: bool = false;

    fn not_found(_arn: &str) -> ApiError {
        bad_request("Configuration ARN does not exist.")
    }

    fn in_use() -> ApiError {
        bad_request("the configuration is in use by a cluster")
    }
}

/// An operation an Update* call started on a cluster, keyed by its ARN
/// (`cluster-operation/{cluster-name}/{cluster-uuid}-1/{uuid}`); its body holds `clusterArn`,
/// `operationType`, `sourceClusterInfo` and `targetClusterInfo` (the `MutableClusterInfo`
/// members the update changed) and `endTime`. UPDATE_IN_PROGRESS → UPDATE_COMPLETE, never
/// deleted (`ClusterOperationInfo` in botocore's `kafka` model; AWS's example in the MSK
/// developer guide, "Update the broker count": `INCREASE_BROKER_COUNT`, `UPDATE_COMPLETE`).
pub(super) struct ClusterOperation;

impl Kind for ClusterOperation {
    const NOUN: &'static str = "Cluster operation";
    const NAME_FIELD: Option<&'static str> = None;
    const CREATING: Option<&'static str> = Some("UPDATE_IN_PROGRESS");
    const STABLE: &'static str = "UPDATE_COMPLETE";
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

/// The Apache Kafka versions MSK lists (ListKafkaVersions), oldest first, with their status
/// (`ACTIVE` or `DEPRECATED`, botocore `kafka/2018-11-14` `KafkaVersionStatus`). A version past
/// its end of support is DEPRECATED: 2.8.1 (2025-01-14), 3.5.1 (2025-10-23), 3.6.0 (2026-06-01)
/// and 3.7.x (2026-09-01) by the end-of-support table of the MSK Developer Guide, "Supported
/// Apache Kafka versions" (https://docs.aws.amazon.com/msk/latest/developerguide/supported-kafka-versions.html;
/// "MSK will phase out support for newly created clusters that use Kafka versions with
/// published end of support dates", "Amazon MSK version support"). The 4.x lines are not listed
/// here yet.
const KAFKA_VERSIONS: &[(&str, &str)] = &[
    ("2.8.1", "DEPRECATED"),
    ("3.5.1", "DEPRECATED"),
    ("3.6.0", "DEPRECATED"),
    ("3.7.x", "DEPRECATED"),
    ("3.7.x.kraft", "DEPRECATED"),
    ("3.8.x", "ACTIVE"),
    ("3.8.x.kraft", "ACTIVE"),
    ("3.9.x", "ACTIVE"),
    ("3.9.x.kraft", "ACTIVE"),
];

/// A version MSK does not list is refused (BadRequestException, as for any invalid
/// parameter; MSK API Reference, CreateClusterV2, Errors).
fn check_offered(version: &str) -> Result<(), ApiError> {
    if KAFKA_VERSIONS.iter().any(|(v, _)| *v == version) {
        return Ok(());
    }
    Err(bad_request(format!(
        "Unsupported Kafka version {version}. Use ListKafkaVersions to see the versions MSK supports."
    )))
}

/// A new cluster needs a listed version that is not past its end of support: MSK phases out
/// new clusters on DEPRECATED versions ("Amazon MSK version support", see [`KAFKA_VERSIONS`]).
/// Running clusters keep theirs, and updates are judged by [`check_offered`] alone. AWS's exact
/// words are not documented; the message is the emulator's, naming the version and what to do.
fn check_offered_for_new(version: &str) -> Result<(), ApiError> {
    check_offered(version)?;
    if KAFKA_VERSIONS.contains(&(version, "DEPRECATED")) {
        return Err(bad_request(format!(
            "Apache Kafka {version} has reached its end of support in Amazon MSK and is not available for new clusters. Use ListKafkaVersions to see the ACTIVE versions."
        )));
    }
    Ok(())
}

/// The MSK routes: `/api/v2/...` are the V2 cluster and operation calls, the rest under `/v1`.
pub(super) fn route(emu: &Emulator, store: &mut Store, call: &Call) -> Reply {
    let body = &call.body;
    match (&call.method, call.seg.as_slice()) {
        (&Method::POST, ["api", "v2", "clusters"]) => create_cluster(emu, store, body, true),
        (&Method::POST, ["v1", "clusters"]) => create_cluster(emu, store, body, false),
        (&Method::GET, ["api", "v2", "clusters"]) => list_clusters(emu, store, call, true),
        (&Method::GET, ["v1", "clusters"]) => list_clusters(emu, store, call, false),
        (&Method::GET, ["api", "v2", "clusters", arn]) => {
            let c = store.clusters.get(arn)?;
            ok(json!({"clusterInfo": cluster_v2(emu, &store.tags, arn, c)}))
        }
        (&Method::GET, ["v1", "clusters", arn]) => {
            let c = store.clusters.get(arn)?;
            ok(json!({"clusterInfo": cluster_v1(emu, &store.tags, arn, c)}))
        }
        (&Method::DELETE, ["v1", "clusters", arn]) => {
            let c = store.clusters.get(arn)?;
            if let Some(v) = call.query.get("currentVersion").and_then(|v| v.first()) {
                let have = version_of(c);
                if *v != have {
                    return Err(stale_version(v, &have));
                }
            }
            store.clusters.delete(arn, emu.delay())?;
            // A cluster's topics live on its brokers: they go with it at once.
            let prefix = format!("{arn}|");
            store.topics.drop_where(|k| k.starts_with(&prefix));
            ok(json!({"clusterArn": arn, "state": "DELETING"}))
        }
        (&Method::GET, ["v1", "clusters", arn, "bootstrap-brokers"]) => {
            bootstrap_brokers(emu, store.clusters.get(arn)?)
        }
        (&Method::GET, ["v1", "clusters", arn, "nodes"]) => {
            let c = store.clusters.get(arn)?;
            page(
                call,
                nodes(emu, arn, c),
                "nodeInfoList",
                "maxResults",
                "nextToken",
            )
        }
        (&Method::GET, ["v1", "clusters", arn, "operations"]) => {
            store.clusters.get(arn)?;
            let list = operations_of(store, arn)
                .map(|(a, o)| operation_v1(a, o))
                .collect();
            page(
                call,
                list,
                "clusterOperationInfoList",
                "maxResults",
                "nextToken",
            )
        }
        (&Method::GET, ["api", "v2", "clusters", arn, "operations"]) => {
            store.clusters.get(arn)?;
            let list = operations_of(store, arn)
                .map(|(a, o)| operation_summary(a, o))
                .collect();
            page(
                call,
                list,
                "clusterOperationInfoList",
                "maxResults",
                "nextToken",
            )
        }
        (&Method::GET, ["v1", "operations", op]) => {
            let o = store.cluster_operations.get(op)?;
            ok(json!({"clusterOperationInfo": operation_v1(op, o)}))
        }
        (&Method::GET, ["api", "v2", "operations", op]) => {
            let o = store.cluster_operations.get(op)?;
            ok(json!({"clusterOperationInfo": operation_v2(op, o)}))
        }
        (&Method::PUT, ["v1", "clusters", arn, "configuration"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_CLUSTER_CONFIGURATION")
        }
        (&Method::PUT, ["v1", "clusters", arn, "version"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_CLUSTER_KAFKA_VERSION")
        }
        (&Method::PATCH, ["v1", "clusters", arn, "security"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_SECURITY")
        }
        (&Method::PUT, ["v1", "clusters", arn, "monitoring"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_MONITORING")
        }
        (&Method::PUT, ["v1", "clusters", arn, "connectivity"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_CONNECTIVITY")
        }
        (&Method::PUT, ["v1", "clusters", arn, "storage"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_STORAGE")
        }
        (&Method::PUT, ["v1", "clusters", arn, "nodes", "count"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_BROKER_COUNT")
        }
        (&Method::PUT, ["v1", "clusters", arn, "nodes", "storage"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_BROKER_STORAGE")
        }
        (&Method::PUT, ["v1", "clusters", arn, "nodes", "type"]) => {
            update_cluster(emu, store, arn, body, "UPDATE_BROKER_TYPE")
        }
        (&Method::GET, ["v1", "kafka-versions"]) => {
            let list = KAFKA_VERSIONS
                .iter()
                .map(|(v, s)| json!({"version": v, "status": s}))
                .collect();
            page(call, list, "kafkaVersions", "maxResults", "nextToken")
        }
        (&Method::GET, ["v1", "compatible-kafka-versions"]) => {
            compatible_versions(store, call.query.get("clusterArn").and_then(|v| v.first()))
        }
        (_, ["v1", "configurations", rest @ ..]) => configurations(emu, store, call, rest),
        (_, ["v1", "clusters", cluster, "topics", rest @ ..]) => {
            topics(emu, store, call, cluster, rest)
        }
        (_, ["v1", "tags", arn]) => {
            if !store.clusters.contains(arn)
                && !store.configurations.contains(arn)
                && !store.topics.any_names("/topicArn", arn)
            {
                return Err(not_found(&format!("Resource {arn}")));
            }
            store.tags.api(call, arn, "tags", StatusCode::NO_CONTENT)
        }
        _ => Err(unknown_operation("kafka", call)),
    }
}

/// A v1 CreateCluster body in CreateClusterV2's layout: the broker settings under
/// `provisioned`. A v2 body (or one already moved) is left as it is.
fn normalize(body: &mut Value) {
    let Some(o) = body.as_object_mut() else {
        return;
    };
    if o.contains_key("provisioned") {
        return;
    }
    let mut p = Map::new();
    for k in [
        "brokerNodeGroupInfo",
        "clientAuthentication",
        "configurationInfo",
        "encryptionInfo",
        "enhancedMonitoring",
        "openMonitoring",
        "kafkaVersion",
        "loggingInfo",
        "numberOfBrokerNodes",
        "storageMode",
        "rebalancing",
    ] {
        if let Some(v) = o.remove(k) {
            p.insert(k.into(), v);
        }
    }
    o.insert("provisioned".into(), Value::Object(p));
}

/// A configuration ARN and revision a cluster is created or updated with must exist.
fn check_configuration(store: &Store, info: Option<&Value>) -> Result<(), ApiError> {
    let Some(info) = info else { return Ok(()) };
    let arn = info.get("arn").and_then(Value::as_str).unwrap_or_default();
    let c = store.configurations.get(arn)?;
    let revision = info.get("revision").and_then(Value::as_i64).unwrap_or(0);
    let known = c.body["revisions"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x["revision"] == revision));
    if !known {
        return Err(bad_request(format!(
            "Configuration {arn} has no revision {revision}."
        )));
    }
    Ok(())
}

/// CreateClusterV2 / CreateCluster: provisioned clusters only; answers the v2 or v1 shape.
fn create_cluster(emu: &Emulator, store: &mut Store, body: &Value, v2: bool) -> Reply {
    let name = str_of(body, "clusterName")?.to_string();
    store.clusters.ensure_free(&name)?;
    if body.get("serverless").is_some() {
        return Err(bad_request(
            "the emulator provides provisioned clusters only",
        ));
    }
    let mut kept = body.clone();
    normalize(&mut kept);
    for k in ["brokerNodeGroupInfo", "kafkaVersion", "numberOfBrokerNodes"] {
        if kept["provisioned"].get(k).is_none() {
            return Err(bad_request(format!("{k} is required")));
        }
    }
    check_offered_for_new(
        kept["provisioned"]["kafkaVersion"]
            .as_str()
            .unwrap_or_default(),
    )?;
    check_configuration(store, kept.pointer("/provisioned/configurationInfo"))?;
    let arn = emu.arn("kafka", &format!("cluster/{name}/{}-1", uuid()));
    let kept = store.tags.adopt(&arn, &kept, "tags");
    store.clusters.create(arn.clone(), kept, emu.delay());
    let mut out = json!({"clusterArn": arn, "clusterName": name, "state": "CREATING"});
    if v2 {
        out["clusterType"] = json!("PROVISIONED");
    }
    ok(out)
}

/// ListClustersV2 (`clusterNameFilter`, `clusterTypeFilter`) and ListClusters
/// (`clusterNameFilter`): names that start with the filter, paged.
fn list_clusters(emu: &Emulator, store: &Store, call: &Call, v2: bool) -> Reply {
    let name_filter = call.query.get("clusterNameFilter").and_then(|v| v.first());
    let type_filter = call.query.get("clusterTypeFilter").and_then(|v| v.first());
    let list = store
        .clusters
        .iter()
        .filter(|(_, c)| {
            name_filter.is_none_or(|f| {
                c.body["clusterName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(f.as_str()))
            })
        })
        .filter(|_| type_filter.is_none_or(|t| t == "PROVISIONED"))
        .map(|(a, c)| {
            if v2 {
                cluster_v2(emu, &store.tags, a, c)
            } else {
                cluster_v1(emu, &store.tags, a, c)
            }
        })
        .collect();
    page(call, list, "clusterInfoList", "maxResults", "nextToken")
}

/// A cluster's `currentVersion`: `K1` until its first update.
fn version_of(c: &Item) -> String {
    c.body
        .get("currentVersion")
        .and_then(Value::as_str)
        .unwrap_or("K1")
        .to_string()
}

fn stale_version(asked: &str, have: &str) -> ApiError {
    bad_request(format!(
        "The provided current cluster version {asked} is not valid; it is {have}"
    ))
}

/// The cluster's `{name}` and `{uuid}-1` ARN parts.
fn arn_parts(arn: &str) -> (&str, &str) {
    let mut parts = arn.rsplitn(3, '/');
    let id = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    (name, id)
}

/// A short DNS label derived from the cluster's uuid, like MSK's `xuy0sb` in
/// `b-1.{name}.xuy0sb.c2.kafka.{region}.amazonaws.com`.
fn dns_label(arn: &str) -> String {
    arn_parts(arn)
        .1
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(6)
        .collect()
}

/// The Provisioned part of a cluster as MSK describes it: what was asked, with MSK's defaults
/// for what was not — EBS storage 1000 GiB, `brokerAZDistribution` DEFAULT, public access
/// DISABLED, every client authentication mode listed (unauthenticated access on when nothing
/// else was asked), encryption at rest with the account's `aws/kafka` key and TLS in transit,
/// `enhancedMonitoring` DEFAULT, both Prometheus exporters and all broker log destinations
/// off, `storageMode` LOCAL, `customerActionStatus` NONE, and ZooKeeper connection strings on
/// ZooKeeper-mode versions (AWS CLI reference, `aws kafka describe-cluster` example output;
/// MSK API reference, "ClusterInfo").
fn provisioned_view(emu: &Emulator, arn: &str, c: &Item) -> Map<String, Value> {
    let mut body = c.body.clone();
    normalize(&mut body);
    let asked = body["provisioned"].clone();
    let (name, _) = arn_parts(arn);
    let label = dns_label(arn);
    let region = &emu.opts.region;
    let key_id = arn_parts(arn).1.trim_end_matches("-1").to_string();
    let none_enabled = json!({"enabled": false});
    let mut p = json!({
        "brokerNodeGroupInfo": {
            "brokerAZDistribution": "DEFAULT",
            "storageInfo": {"ebsStorageInfo": {"volumeSize": 1000}},
            "connectivityInfo": {
                "publicAccess": {"type": "DISABLED"},
                "vpcConnectivity": {"clientAuthentication": {
                    "sasl": {"scram": none_enabled, "iam": none_enabled},
                    "tls": none_enabled,
                }},
            },
        },
        "clientAuthentication": {
            "sasl": {"scram": none_enabled, "iam": none_enabled},
            "tls": {"certificateAuthorityArnList": [], "enabled": false},
            "unauthenticated": {"enabled": asked.get("clientAuthentication").is_none()},
        },
        "encryptionInfo": {
            "encryptionAtRest": {"dataVolumeKMSKeyId": emu.arn("kms", &format!("key/{key_id}"))},
            "encryptionInTransit": {"clientBroker": "TLS", "inCluster": true},
        },
        "enhancedMonitoring": "DEFAULT",
        "openMonitoring": {"prometheus": {
            "jmxExporter": {"enabledInBroker": false},
            "nodeExporter": {"enabledInBroker": false},
        }},
        "loggingInfo": {"brokerLogs": {
            "cloudWatchLogs": none_enabled,
            "firehose": none_enabled,
            "s3": none_enabled,
        }},
        "storageMode": "LOCAL",
        "customerActionStatus": "NONE",
    });
    crate::json::deep_merge(&mut p, &asked);
    let version = asked
        .get("kafkaVersion")
        .and_then(Value::as_str)
        .unwrap_or("3.6.0")
        .to_string();
    let mut software = json!({"kafkaVersion": version});
    if let Some(ci) = asked.get("configurationInfo") {
        software["configurationArn"] = ci["arn"].clone();
        software["configurationRevision"] = ci["revision"].clone();
    }
    let mut p = match p {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    p.remove("kafkaVersion");
    p.remove("configurationInfo");
    p.insert("currentBrokerSoftwareInfo".into(), software);
    if !version.ends_with("kraft") {
        let zk = |port: u16| {
            (1..=3)
                .map(|i| format!("z-{i}.{name}.{label}.c2.kafka.{region}.amazonaws.com:{port}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        p.insert("zookeeperConnectString".into(), json!(zk(2181)));
        p.insert("zookeeperConnectStringTls".into(), json!(zk(2182)));
    }
    p
}

/// The members MSK's v1 and v2 cluster descriptions share.
fn cluster_common(tags: &Tags, arn: &str, c: &Item) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("clusterArn".into(), json!(arn));
    m.insert("clusterName".into(), c.body["clusterName"].clone());
    m.insert("creationTime".into(), json!(c.created));
    m.insert("currentVersion".into(), json!(version_of(c)));
    m.insert("state".into(), json!(c.state));
    m.insert("tags".into(), json!(tags.of(arn)));
    if c.state == "UPDATING" {
        if let Some(op) = c.body.get("activeOperationArn") {
            m.insert("activeOperationArn".into(), op.clone());
        }
    }
    m
}

/// A `Cluster` as DescribeClusterV2 and ListClustersV2 return it.
fn cluster_v2(emu: &Emulator, tags: &Tags, arn: &str, c: &Item) -> Value {
    let mut m = cluster_common(tags, arn, c);
    m.insert("clusterType".into(), json!("PROVISIONED"));
    m.insert(
        "provisioned".into(),
        Value::Object(provisioned_view(emu, arn, c)),
    );
    Value::Object(m)
}

/// A `ClusterInfo` as DescribeCluster and ListClusters (v1) return it: the Provisioned
/// members at the top level.
fn cluster_v1(emu: &Emulator, tags: &Tags, arn: &str, c: &Item) -> Value {
    let mut m = cluster_common(tags, arn, c);
    m.extend(provisioned_view(emu, arn, c));
    Value::Object(m)
}

/// Whether the cluster's clients authenticate with IAM (`clientAuthentication.sasl.iam.enabled`).
pub(super) fn iam_enabled(body: &Value) -> bool {
    let mut body = body.clone();
    normalize(&mut body);
    body.pointer("/provisioned/clientAuthentication/sasl/iam/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Whether the cluster lets PLAINTEXT clients (Kafka's ANONYMOUS) do what they ask: its
/// client-broker encryption allows PLAINTEXT (MSK's port 9092 exists), unauthenticated access
/// is on (the default when `clientAuthentication` is absent) and IAM is off. MSK Developer
/// Guide, "IAM access control": with IAM on, `allow.everyone.if.no.acl.found` has no effect, so
/// principals IAM does not authenticate are allowed only what ACLs grant (the twin's broker
/// keeps none); without IAM, MSK's default configuration leaves it `true`.
pub(super) fn open_to_plaintext(body: &Value) -> bool {
    let mut body = body.clone();
    normalize(&mut body);
    let plaintext = body
        .pointer("/provisioned/encryptionInfo/encryptionInTransit/clientBroker")
        .and_then(Value::as_str)
        .is_some_and(|c| c != "TLS");
    let auth = body.pointer("/provisioned/clientAuthentication");
    let unauthenticated = match auth {
        None | Some(Value::Null) => true,
        Some(a) => a
            .pointer("/unauthenticated/enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    plaintext && unauthenticated && !iam_enabled(&body)
}

/// GetBootstrapBrokers: every cluster is the local broker. MSK answers only the strings of the
/// listeners the cluster has (MSK Developer Guide, "Port information": 9092 plaintext, 9098
/// IAM over TLS): `bootstrapBrokerString` when client-broker encryption allows PLAINTEXT
/// (`PLAINTEXT` or `TLS_PLAINTEXT`; MSK's default is `TLS`), `bootstrapBrokerStringSaslIam`
/// when IAM authentication is on, which is the broker's SASL_SSL listener when the emulator
/// has one (`--broker-iam`). An emulator without it (tests of the control plane alone) answers
/// its plaintext broker for both, as it did before the twin's broker spoke IAM.
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
    let mut body = c.body.clone();
    normalize(&mut body);
    let client_broker = body
        .pointer("/provisioned/encryptionInfo/encryptionInTransit/clientBroker")
        .and_then(Value::as_str)
        .unwrap_or("TLS");
    let mut out = json!({});
    match &emu.opts.broker_iam {
        Some(iam) => {
            if client_broker != "TLS" {
                out["bootstrapBrokerString"] = json!(broker);
            }
            if iam_enabled(&body) && client_broker != "PLAINTEXT" {
                out["bootstrapBrokerStringSaslIam"] = json!(iam);
            }
        }
        None => {
            out["bootstrapBrokerString"] = json!(broker);
            if iam_enabled(&body) {
                out["bootstrapBrokerStringSaslIam"] = json!(broker);
            }
        }
    }
    ok(out)
}

/// ListNodes: one `NodeInfo` per broker, spread over the client subnets in order.
fn nodes(emu: &Emulator, arn: &str, c: &Item) -> Vec<Value> {
    let p = provisioned_view(emu, arn, c);
    let n = p
        .get("numberOfBrokerNodes")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let subnets: Vec<Value> = p
        .get("brokerNodeGroupInfo")
        .and_then(|b| b.get("clientSubnets"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (name, _) = arn_parts(arn);
    let label = dns_label(arn);
    (1..=n)
        .map(|i| {
            let subnet = subnets
                .get((i as usize - 1) % subnets.len().max(1))
                .cloned()
                .unwrap_or(json!("subnet-0"));
            json!({
                "addedToClusterTime": c.created,
                "brokerNodeInfo": {
                    "attachedENIId": format!("eni-{label}{i:04}"),
                    "brokerId": i as f64,
                    "clientSubnet": subnet,
                    "clientVpcIpAddress": format!("10.0.{}.{}", i / 250, 10 + i % 250),
                    "currentBrokerSoftwareInfo": p.get("currentBrokerSoftwareInfo"),
                    "endpoints": [format!("b-{i}.{name}.{label}.c2.kafka.{}.amazonaws.com", emu.opts.region)],
                },
                "instanceType": p.get("brokerNodeGroupInfo").and_then(|b| b.get("instanceType")),
                "nodeType": "BROKER",
            })
        })
        .collect()
}

/// GetCompatibleKafkaVersions: from a cluster's version (or from every version) to the
/// newer ones.
fn compatible_versions(store: &Store, cluster: Option<&String>) -> Reply {
    let from: Vec<String> = match cluster {
        Some(arn) => {
            let mut body = store.clusters.get(arn)?.body.clone();
            normalize(&mut body);
            vec![body["provisioned"]["kafkaVersion"]
                .as_str()
                .unwrap_or("3.6.0")
                .to_string()]
        }
        None => KAFKA_VERSIONS.iter().map(|(v, _)| v.to_string()).collect(),
    };
    let list: Vec<Value> = from
        .iter()
        .map(|v| {
            let targets: Vec<&str> = KAFKA_VERSIONS
                .iter()
                .map(|(t, _)| *t)
                .filter(|t| {
                    version_key(t) > version_key(v) && t.ends_with("kraft") == v.ends_with("kraft")
                })
                .collect();
            json!({"sourceVersion": v, "targetVersions": targets})
        })
        .collect();
    ok(json!({"compatibleKafkaVersions": list}))
}

/// A version's numeric parts (`x` is the newest patch).
fn version_key(v: &str) -> Vec<u64> {
    v.split('.')
        .take(3)
        .map(|x| {
            if x == "x" {
                u64::MAX
            } else {
                x.parse().unwrap_or(0)
            }
        })
        .collect()
}

/// The `MutableClusterInfo` view of a cluster: the settings an Update* call can change.
fn mutable_info(p: &Map<String, Value>) -> Map<String, Value> {
    let bng = p.get("brokerNodeGroupInfo").cloned().unwrap_or(json!({}));
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            m.insert(k.into(), v);
        }
    };
    if let Some(size) = bng.pointer("/storageInfo/ebsStorageInfo/volumeSize") {
        put(
            "brokerEBSVolumeInfo",
            Some(json!([{"kafkaBrokerNodeId": "All", "volumeSizeGB": size}])),
        );
    }
    let software = p
        .get("currentBrokerSoftwareInfo")
        .cloned()
        .unwrap_or(json!({}));
    if let (Some(a), Some(r)) = (
        software.get("configurationArn"),
        software.get("configurationRevision"),
    ) {
        put("configurationInfo", Some(json!({"arn": a, "revision": r})));
    }
    put("kafkaVersion", software.get("kafkaVersion").cloned());
    for k in [
        "numberOfBrokerNodes",
        "enhancedMonitoring",
        "openMonitoring",
        "loggingInfo",
        "clientAuthentication",
        "encryptionInfo",
        "storageMode",
    ] {
        put(k, p.get(k).cloned());
    }
    put("instanceType", bng.get("instanceType").cloned());
    put("connectivityInfo", bng.get("connectivityInfo").cloned());
    m
}

/// The Update* calls: each names the `currentVersion` it expects (MSK's optimistic lock) and
/// needs an ACTIVE cluster; a change bumps the version `K{n}` → `K{n+1}`, puts the cluster in
/// UPDATING and starts a cluster operation of type `kind` whose source and target name what
/// changed. Answers `clusterArn` and `clusterOperationArn`.
fn update_cluster(emu: &Emulator, store: &mut Store, arn: &str, body: &Value, kind: &str) -> Reply {
    let current = str_of(body, "currentVersion")?.to_string();
    check_configuration(store, body.get("configurationInfo"))?;
    let (name, id) = arn_parts(arn);
    let op_arn = emu.arn(
        "kafka",
        &format!("cluster-operation/{name}/{id}/{}", uuid()),
    );
    let before = mutable_info(&provisioned_view(emu, arn, store.clusters.get(arn)?));
    let mut kind = kind.to_string();
    store.clusters.update(arn, emu.delay(), |c| {
        let have = version_of(c);
        if current != have {
            return Err(stale_version(&current, &have));
        }
        if c.state != "ACTIVE" {
            return Err(bad_request(format!("the cluster is {}", c.state)));
        }
        normalize(&mut c.body);
        let p = &mut c.body["provisioned"];
        if let Some(n) = body
            .get("targetNumberOfBrokerNodes")
            .and_then(Value::as_i64)
        {
            let have = p["numberOfBrokerNodes"].as_i64().unwrap_or(1);
            kind = if n >= have {
                "INCREASE_BROKER_COUNT"
            } else {
                "DECREASE_BROKER_COUNT"
            }
            .into();
            p["numberOfBrokerNodes"] = json!(n);
        }
        if let Some(ci) = body.get("configurationInfo") {
            p["configurationInfo"] = ci.clone();
        }
        change_brokers(p, body)?;
        let next = format!(
            "K{}",
            have.trim_start_matches('K').parse::<u64>().unwrap_or(1) + 1
        );
        c.body["currentVersion"] = json!(next);
        c.body["activeOperationArn"] = json!(op_arn);
        Ok(())
    })?;
    let after = mutable_info(&provisioned_view(emu, arn, store.clusters.get(arn)?));
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    let pick = |m: &Map<String, Value>| -> Value {
        Value::Object(
            changed
                .iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).clone(), v.clone())))
                .collect(),
        )
    };
    let op = json!({
        "clusterArn": arn,
        "operationType": kind,
        "sourceClusterInfo": pick(&before),
        "targetClusterInfo": pick(&after),
        "endTime": iso_in(emu.delay()),
    });
    store
        .cluster_operations
        .create(op_arn.clone(), op, emu.delay());
    ok(json!({"clusterArn": arn, "clusterOperationArn": op_arn}))
}

/// UpdateClusterKafkaVersion, UpdateBrokerStorage, UpdateStorage, UpdateBrokerType,
/// UpdateMonitoring, UpdateSecurity and UpdateConnectivity, with MSK's rules: versions only go
/// up, storage only grows.
fn change_brokers(p: &mut Value, body: &Value) -> Result<(), ApiError> {
    if let Some(v) = body.get("targetKafkaVersion").and_then(Value::as_str) {
        check_offered(v)?;
        let have = p["kafkaVersion"].as_str().unwrap_or("0").to_string();
        if version_key(v) <= version_key(&have) {
            return Err(bad_request(format!(
                "The cluster runs Apache Kafka {have}; MSK upgrades a cluster to a newer version only, not to {v}"
            )));
        }
        p["kafkaVersion"] = json!(v);
    }
    let size = body
        .get("targetBrokerEBSVolumeInfo")
        .and_then(Value::as_array)
        .map(|info| {
            info.first()
                .and_then(|i| i["volumeSizeGB"].as_i64())
                .ok_or_else(|| bad_request("targetBrokerEBSVolumeInfo needs volumeSizeGB"))
        })
        .transpose()?
        .or_else(|| body.get("volumeSizeGB").and_then(Value::as_i64));
    if let Some(size) = size {
        let path = "/brokerNodeGroupInfo/storageInfo/ebsStorageInfo/volumeSize";
        let have = p.pointer(path).and_then(Value::as_i64).unwrap_or(1000);
        if size <= have {
            return Err(bad_request(format!(
                "Broker storage can only be increased: it is {have} GiB, {size} GiB was asked"
            )));
        }
        p["brokerNodeGroupInfo"]["storageInfo"]["ebsStorageInfo"]["volumeSize"] = json!(size);
    }
    if let Some(t) = body.get("provisionedThroughput") {
        p["brokerNodeGroupInfo"]["storageInfo"]["ebsStorageInfo"]["provisionedThroughput"] =
            t.clone();
    }
    if let Some(t) = body.get("targetInstanceType") {
        p["brokerNodeGroupInfo"]["instanceType"] = t.clone();
    }
    if let Some(c) = body.get("connectivityInfo") {
        p["brokerNodeGroupInfo"]["connectivityInfo"] = c.clone();
    }
    for k in [
        "clientAuthentication",
        "encryptionInfo",
        "enhancedMonitoring",
        "openMonitoring",
        "loggingInfo",
        "storageMode",
    ] {
        if let Some(v) = body.get(k) {
            p[k] = v.clone();
        }
    }
    Ok(())
}

/// A cluster's operations, oldest first.
fn operations_of<'s>(
    store: &'s Store,
    cluster: &str,
) -> impl Iterator<Item = (&'s String, &'s Item)> {
    let mut ops: Vec<(&String, &Item)> = store
        .cluster_operations
        .iter()
        .filter(|(_, o)| o.body["clusterArn"] == *cluster)
        .collect();
    ops.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    ops.into_iter()
}

/// `endTime` once the operation has finished.
fn end_time(o: &Item) -> Value {
    if o.state == "UPDATE_COMPLETE" {
        o.body["endTime"].clone()
    } else {
        Value::Null
    }
}

/// A `ClusterOperationInfo` (DescribeClusterOperation, ListClusterOperations).
fn operation_v1(arn: &str, o: &Item) -> Value {
    json!({
        "clusterArn": o.body["clusterArn"],
        "creationTime": o.created,
        "endTime": end_time(o),
        "operationArn": arn,
        "operationState": o.state,
        "operationType": o.body["operationType"],
        "sourceClusterInfo": o.body["sourceClusterInfo"],
        "targetClusterInfo": o.body["targetClusterInfo"],
    })
}

/// A `ClusterOperationV2` (DescribeClusterOperationV2).
fn operation_v2(arn: &str, o: &Item) -> Value {
    json!({
        "clusterArn": o.body["clusterArn"],
        "clusterType": "PROVISIONED",
        "startTime": o.created,
        "endTime": end_time(o),
        "operationArn": arn,
        "operationState": o.state,
        "operationType": o.body["operationType"],
        "provisioned": {
            "sourceClusterInfo": o.body["sourceClusterInfo"],
            "targetClusterInfo": o.body["targetClusterInfo"],
        },
    })
}

/// A `ClusterOperationV2Summary` (ListClusterOperationsV2).
fn operation_summary(arn: &str, o: &Item) -> Value {
    json!({
        "clusterArn": o.body["clusterArn"],
        "clusterType": "PROVISIONED",
        "startTime": o.created,
        "endTime": end_time(o),
        "operationArn": arn,
        "operationState": o.state,
        "operationType": o.body["operationType"],
    })
}

/// CreateConfiguration, ListConfigurations, DescribeConfiguration, UpdateConfiguration (a new
/// revision), DeleteConfiguration, ListConfigurationRevisions and
/// DescribeConfigurationRevision, under `/v1/configurations`.
fn configurations(emu: &Emulator, store: &mut Store, call: &Call, rest: &[&str]) -> Reply {
    let body = &call.body;
    match (&call.method, rest) {
        (&Method::POST, []) => {
            let name = str_of(body, "name")?.to_string();
            let props = str_of(body, "serverProperties")?.to_string();
            store.configurations.ensure_free(&name)?;
            let arn = emu.arn("kafka", &format!("configuration/{name}/{}-1", uuid()));
            let kept = json!({"name": name, "description": body.get("description"), "kafkaVersions": body.get("kafkaVersions"),
                              "revisions": [{"revision": 1, "description": body.get("description"), "serverProperties": props, "creationTime": iso_now()}]});
            let c = store.configurations.create(arn.clone(), kept, emu.delay());
            ok(
                json!({"arn": arn, "creationTime": c.created, "latestRevision": latest_revision(c),
                      "name": name, "state": c.state}),
            )
        }
        (&Method::GET, []) => {
            let list = store
                .configurations
                .iter()
                .map(|(a, c)| configuration_json(a, c))
                .collect();
            page(call, list, "configurations", "maxResults", "nextToken")
        }
        (&Method::GET, [arn]) => ok(configuration_json(arn, store.configurations.get(arn)?)),
        (&Method::GET, [arn, "revisions"]) => {
            let c = store.configurations.get(arn)?;
            let list = c.body["revisions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(revision_summary)
                .collect();
            page(call, list, "revisions", "maxResults", "nextToken")
        }
        (&Method::GET, [arn, "revisions", n]) => {
            let c = store.configurations.get(arn)?;
            let n: i64 = n
                .parse()
                .map_err(|_| bad_request("revision must be a number"))?;
            let r = c.body["revisions"]
                .as_array()
                .and_then(|r| r.iter().find(|x| x["revision"] == n))
                .ok_or_else(|| bad_request(format!("Configuration {arn} has no revision {n}.")))?;
            ok(
                json!({"arn": arn, "revision": n, "creationTime": r["creationTime"],
                      "description": r.get("description"), "serverProperties": r["serverProperties"]}),
            )
        }
        (&Method::PUT, [arn]) => {
            let props = str_of(body, "serverProperties")?.to_string();
            let latest = store.configurations.edit(arn, |c| {
                let next = c.body["revisions"]
                    .as_array()
                    .map(|r| r.len() as i64 + 1)
                    .unwrap_or(1);
                if let Some(r) = c.body["revisions"].as_array_mut() {
                    r.push(
                        json!({"revision": next, "description": body.get("description"),
                                  "serverProperties": props, "creationTime": iso_now()}),
                    );
                }
                latest_revision(c)
            })?;
            ok(json!({"arn": arn, "latestRevision": latest}))
        }
        (&Method::DELETE, [arn]) => {
            let used = store.clusters.iter().any(|(_, c)| {
                c.body
                    .pointer("/provisioned/configurationInfo/arn")
                    .or_else(|| c.body.pointer("/configurationInfo/arn"))
                    .and_then(Value::as_str)
                    == Some(arn)
            });
            store.configurations.get(arn)?;
            store.configurations.delete_unused(arn, used, emu.delay())?;
            ok(json!({"arn": arn, "state": "DELETING"}))
        }
        _ => Err(unknown_operation("kafka", call)),
    }
}

/// A `ConfigurationRevision`: time, description when there is one, number.
fn revision_summary(r: &Value) -> Value {
    json!({"creationTime": r["creationTime"], "description": r.get("description"), "revision": r["revision"]})
}

/// The configuration's latest `ConfigurationRevision`.
fn latest_revision(c: &Item) -> Value {
    c.body["revisions"]
        .as_array()
        .and_then(|r| r.last())
        .map(revision_summary)
        .unwrap_or(json!({}))
}

/// A `Configuration` as DescribeConfiguration and ListConfigurations return it; every member
/// is required by the model, so an absent description is `""` and absent versions `[]`.
fn configuration_json(arn: &str, c: &Item) -> Value {
    json!({"arn": arn, "name": c.body["name"],
           "description": c.body.get("description").filter(|d| !d.is_null()).cloned().unwrap_or(json!("")),
           "kafkaVersions": c.body.get("kafkaVersions").filter(|d| !d.is_null()).cloned().unwrap_or(json!([])),
           "creationTime": c.created, "state": c.state, "latestRevision": latest_revision(c)})
}

/// The topic API (`/v1/clusters/{arn}/topics`), on an ACTIVE or UPDATING cluster, with Kafka's
/// rules: a replication factor no larger than the broker count, partitions only added.
fn topics(emu: &Emulator, store: &mut Store, call: &Call, cluster: &str, rest: &[&str]) -> Reply {
    let (method, body) = (&call.method, &call.body);
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
            // `topicNameFilter`: topics whose names start with it.
            let prefix = key(call
                .query
                .get("topicNameFilter")
                .and_then(|v| v.first())
                .map_or("", String::as_str));
            let list: Vec<Value> = store
                .topics
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, t)| json!({"topicArn": t.body["topicArn"], "topicName": t.body["topicName"], "partitionCount": t.body["partitionCount"], "replicationFactor": t.body["replicationFactor"], "outOfSyncReplicaCount": 0}))
                .collect();
            page(call, list, "topics", "maxResults", "nextToken")
        }
        (&Method::GET, [name, "partitions"]) => {
            // DescribeTopicPartitions: leaders round-robin over the brokers, every replica in
            // sync.
            let t = store.topics.get(&key(name))?;
            let brokers = c
                .body
                .pointer("/provisioned/numberOfBrokerNodes")
                .or_else(|| c.body.get("numberOfBrokerNodes"))
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(1);
            let rf = t.body["replicationFactor"].as_i64().unwrap_or(1);
            let list = (0..t.body["partitionCount"].as_i64().unwrap_or(1))
                .map(|p| {
                    let replicas: Vec<i64> = (0..rf).map(|r| (p + r) % brokers + 1).collect();
                    json!({"partition": p, "leader": replicas[0], "replicas": replicas, "isr": replicas})
                })
                .collect();
            page(call, list, "partitions", "maxResults", "nextToken")
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
        _ => Err(unknown_operation("kafka", call)),
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
