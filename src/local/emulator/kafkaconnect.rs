//! MSK Connect (`kafkaconnect`): custom plugins, worker configurations, connectors, and the
//! operations UpdateConnector, PauseConnector, ResumeConnector and RestartConnector start,
//! and tags. Shapes follow botocore's model `kafkaconnect/2021-09-14/service-2.json`: list
//! calls answer the `*Summary` shapes (no connector configuration, no worker properties),
//! page with `maxResults`/`nextToken` and filter by name prefix. Name conflicts and missing
//! ids use the trait's MSK Connect defaults (`ConflictException` 409, `NotFoundException` 404:
//! aws-sdk-kafkaconnect 1.125 `src/operation/create_connector.rs`).

use axum::http::Method;
use base64::Engine as _;
use serde_json::{json, Value};

use axum::http::StatusCode;

use super::collection::{iso_in, Item, Kind};
use super::{
    bad_request, conflict, missing, not_found, ok, page, str_of, unknown_operation, uuid, ApiError,
    Call, Emulator, Reply, Store,
};

/// A custom plugin, keyed by ARN (`custom-plugin/{name}/{uuid}`); its body is the create
/// request without its tags. CREATING → ACTIVE, DELETING → gone; a delete is refused while a
/// connector uses it.
pub(super) struct Plugin;

impl Kind for Plugin {
    const NOUN: &'static str = "Custom plugin";

    // DeleteCustomPlugin's model lists no ConflictException (aws-sdk-kafkaconnect 1.125
    // `src/operation/delete_custom_plugin.rs`); the emulator has answered 409 all along.
    fn in_use() -> ApiError {
        conflict("the custom plugin is used by a connector")
    }
}

/// A worker configuration, keyed by ARN (`worker-configuration/{name}/{uuid}`); its body is the
/// create request without its tags (`propertiesFileContent` is base64). ACTIVE at once and
/// deleted at once; a delete is refused while a connector uses it.
pub(super) struct WorkerConfig;

impl Kind for WorkerConfig {
    const NOUN: &'static str = "Worker configuration";
    const CREATING: Option<&'static str> = None;
    const DELETING: bool = false;

    // As for plugins, a 409 that DeleteWorkerConfiguration's model does not list.
    fn in_use() -> ApiError {
        conflict("the worker configuration is used by a connector")
    }
}

/// A connector, keyed by ARN (`connector/{name}/{uuid}`); its body is the create request
/// without its tags plus `currentVersion` (a decimal string, bumped by each update).
/// CREATING → RUNNING, UPDATING → RUNNING, DELETING → gone.
pub(super) struct Connector;

impl Kind for Connector {
    const NOUN: &'static str = "Connector";
    const NAME_FIELD: Option<&'static str> = Some("connectorName");
    const STABLE: &'static str = "RUNNING";
}

/// A connector operation, keyed by ARN (`connector-operation/{name}/{connector-uuid}/{uuid}`);
/// its body is DescribeConnectorOperation's answer without state and times (plus `endTime`,
/// shown once the operation is complete). An update is PENDING → UPDATE_COMPLETE; a pause,
/// resume or restart is `*_IN_PROGRESS` → `*_COMPLETE` (`ConnectorOperationState` in the
/// model); operations are never deleted.
pub(super) struct Operation;

impl Kind for Operation {
    const NOUN: &'static str = "Connector operation";
    const CREATING: Option<&'static str> = Some("PENDING");
    const STABLE: &'static str = "UPDATE_COMPLETE";
}

/// The MSK Connect routes, all under `/v1`.
pub(super) fn route(emu: &Emulator, store: &mut Store, call: &Call) -> Reply {
    let body = &call.body;
    match (&call.method, call.seg.as_slice()) {
        (&Method::POST, ["v1", "custom-plugins"]) => create_plugin(emu, store, body),
        (&Method::GET, ["v1", "custom-plugins"]) => {
            let list = store
                .plugins
                .iter()
                .filter(|(_, p)| prefixed(call, "namePrefix", &p.body["name"]))
                .map(|(a, p)| plugin_json(a, p))
                .collect();
            page(call, list, "customPlugins", "maxResults", "nextToken")
        }
        (&Method::GET, ["v1", "custom-plugins", arn]) => {
            ok(plugin_json(arn, store.plugins.get(arn)?))
        }
        (&Method::DELETE, ["v1", "custom-plugins", arn]) => {
            let used = store
                .connectors
                .any_names("/plugins/0/customPlugin/customPluginArn", arn);
            store.plugins.delete_unused(arn, used, emu.delay())?;
            ok(json!({"customPluginArn": arn, "customPluginState": "DELETING"}))
        }
        (&Method::POST, ["v1", "worker-configurations"]) => create_worker_config(emu, store, body),
        (&Method::GET, ["v1", "worker-configurations"]) => {
            let list = store
                .worker_configs
                .iter()
                .filter(|(_, w)| prefixed(call, "namePrefix", &w.body["name"]))
                .map(|(a, w)| {
                    let mut v = worker_json(a, w);
                    // WorkerConfigurationRevisionSummary has no properties.
                    v["latestRevision"]["propertiesFileContent"] = Value::Null;
                    v
                })
                .collect();
            page(
                call,
                list,
                "workerConfigurations",
                "maxResults",
                "nextToken",
            )
        }
        (&Method::GET, ["v1", "worker-configurations", arn]) => {
            ok(worker_json(arn, store.worker_configs.get(arn)?))
        }
        (&Method::DELETE, ["v1", "worker-configurations", arn]) => {
            let used = store
                .connectors
                .any_names("/workerConfiguration/workerConfigurationArn", arn);
            store.worker_configs.delete_unused(arn, used, emu.delay())?;
            ok(json!({"workerConfigurationArn": arn, "workerConfigurationState": "DELETING"}))
        }
        (&Method::POST, ["v1", "connectors"]) => create_connector(emu, store, body),
        (&Method::GET, ["v1", "connectors"]) => {
            let list = store
                .connectors
                .iter()
                .filter(|(_, c)| prefixed(call, "connectorNamePrefix", &c.body["connectorName"]))
                .map(|(a, c)| {
                    // A ConnectorSummary: the description without configuration and state
                    // detail.
                    let mut v = connector_json(a, c);
                    if let Some(o) = v.as_object_mut() {
                        o.remove("connectorConfiguration");
                        o.remove("stateDescription");
                    }
                    v
                })
                .collect();
            page(call, list, "connectors", "maxResults", "nextToken")
        }
        (&Method::GET, ["v1", "connectors", arn]) => {
            ok(connector_json(arn, store.connectors.get(arn)?))
        }
        (&Method::PUT, ["v1", "connectors", arn]) => update_connector(emu, store, arn, call),
        (&Method::PUT, ["v1", "connectors", arn, "pause"]) => {
            lifecycle(emu, store, arn, Lifecycle::Pause)
        }
        (&Method::PUT, ["v1", "connectors", arn, "resume"]) => {
            lifecycle(emu, store, arn, Lifecycle::Resume)
        }
        (&Method::POST, ["v1", "connectors", arn, "restart"]) => {
            lifecycle(emu, store, arn, Lifecycle::Restart)
        }
        (&Method::DELETE, ["v1", "connectors", arn]) => {
            let c = store.connectors.get(arn)?;
            if let Some(v) = call.query.get("currentVersion").and_then(|v| v.first()) {
                if c.body["currentVersion"].as_str() != Some(v.as_str()) {
                    return Err(bad_request(format!(
                        "currentVersion {v} does not match the connector's version {}",
                        c.body["currentVersion"].as_str().unwrap_or("1")
                    )));
                }
            }
            store.connectors.delete(arn, emu.delay())?;
            ok(json!({"connectorArn": arn, "connectorState": "DELETING"}))
        }
        (&Method::GET, ["v1", "connectors", arn, "operations"]) => {
            store.connectors.get(arn)?;
            let mut ops: Vec<(&String, &Item)> = store
                .operations
                .iter()
                .filter(|(_, o)| o.body["connectorArn"] == *arn)
                .collect();
            // Newest first.
            ops.sort_by(|a, b| b.1.created.cmp(&a.1.created));
            let list = ops
                .into_iter()
                .map(|(a, o)| json!({"connectorOperationArn": a, "connectorOperationType": o.body["connectorOperationType"],
                                     "connectorOperationState": o.state, "creationTime": o.created, "endTime": end_time(o)}))
                .collect();
            page(call, list, "connectorOperations", "maxResults", "nextToken")
        }
        (&Method::GET, ["v1", "connectorOperations", arn]) => {
            let o = store.operations.get(arn)?;
            let mut v = o.body.clone();
            v["connectorOperationState"] = json!(o.state);
            v["creationTime"] = json!(o.created);
            v["endTime"] = end_time(o);
            ok(v)
        }
        (_, ["v1", "tags", arn]) => {
            let known = store.plugins.contains(arn)
                || store.worker_configs.contains(arn)
                || store.connectors.contains(arn);
            if !known {
                return Err(not_found(&format!("Resource {arn}")));
            }
            store.tags.api(call, arn, "tags", StatusCode::OK)
        }
        _ => Err(unknown_operation("kafkaconnect", call)),
    }
}

/// CreateCustomPlugin: an S3 location and a ZIP or JAR content type.
fn create_plugin(emu: &Emulator, store: &mut Store, body: &Value) -> Reply {
    let name = str_of(body, "name")?.to_string();
    store.plugins.ensure_free(&name)?;
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
    let arn = emu.arn("kafkaconnect", &format!("custom-plugin/{name}/{}", uuid()));
    let kept = store.tags.adopt(&arn, body, "tags");
    store.plugins.create(arn.clone(), kept, emu.delay());
    ok(
        json!({"customPluginArn": arn, "customPluginState": "CREATING", "name": name, "revision": 1}),
    )
}

/// CreateWorkerConfiguration: the properties file must be base64.
fn create_worker_config(emu: &Emulator, store: &mut Store, body: &Value) -> Reply {
    let name = str_of(body, "name")?.to_string();
    store.worker_configs.ensure_free(&name)?;
    let content = str_of(body, "propertiesFileContent")?;
    if base64::engine::general_purpose::STANDARD
        .decode(content)
        .is_err()
    {
        return Err(bad_request("propertiesFileContent must be base64"));
    }
    let arn = emu.arn(
        "kafkaconnect",
        &format!("worker-configuration/{name}/{}", uuid()),
    );
    let kept = store.tags.adopt(&arn, body, "tags");
    let created = &store
        .worker_configs
        .create(arn.clone(), kept, emu.delay())
        .created;
    ok(
        json!({"workerConfigurationArn": arn, "name": name, "workerConfigurationState": "ACTIVE", "creationTime": created,
              "latestRevision": {"revision": 1, "creationTime": created}}),
    )
}

/// CreateConnector: every field MSK Connect requires, and an ACTIVE custom plugin.
fn create_connector(emu: &Emulator, store: &mut Store, body: &Value) -> Reply {
    let name = str_of(body, "connectorName")?.to_string();
    store.connectors.ensure_free(&name)?;
    if let Some(k) = missing(
        body,
        &[
            "capacity",
            "connectorConfiguration",
            "kafkaCluster",
            "kafkaClusterClientAuthentication",
            "kafkaClusterEncryptionInTransit",
            "kafkaConnectVersion",
            "plugins",
            "serviceExecutionRoleArn",
        ],
    ) {
        return Err(bad_request(format!("{k} is required")));
    }
    let plugin = body
        .pointer("/plugins/0/customPlugin/customPluginArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let p = store.plugins.get(plugin)?;
    if p.state != "ACTIVE" {
        return Err(bad_request(format!(
            "custom plugin {plugin} is {}",
            p.state
        )));
    }
    let arn = emu.arn("kafkaconnect", &format!("connector/{name}/{}", uuid()));
    let mut kept = store.tags.adopt(&arn, body, "tags");
    kept["currentVersion"] = json!("1");
    store.connectors.create(arn.clone(), kept, emu.delay());
    ok(json!({"connectorArn": arn, "connectorName": name, "connectorState": "CREATING"}))
}

/// UpdateConnector: a RUNNING connector at the `currentVersion` the query names; records an
/// UPDATE_CONNECTOR_CONFIGURATION operation with the settings before and after.
fn update_connector(emu: &Emulator, store: &mut Store, arn: &str, call: &Call) -> Reply {
    let body = &call.body;
    let version = call
        .query
        .get("currentVersion")
        .and_then(|v| v.first())
        .cloned()
        .ok_or_else(|| bad_request("currentVersion is required"))?;
    // "For request body, specify only one parameter: either capacity or
    // connectorConfiguration" (MSK Connect API Reference, UpdateConnector).
    match (body.get("capacity"), body.get("connectorConfiguration")) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(bad_request(
                "For request body, specify only one parameter: either capacity or connectorConfiguration.",
            ))
        }
        _ => {}
    }
    let (name, origin, origin_capacity) = store.connectors.update(arn, emu.delay(), |c| {
        if c.state != "RUNNING" {
            return Err(bad_request(format!(
                "the connector is {}; it can be updated when RUNNING",
                c.state
            )));
        }
        let have = c.body["currentVersion"].as_str().unwrap_or("1").to_string();
        if version != have {
            return Err(bad_request(format!(
                "currentVersion {version} does not match the connector's version {have}"
            )));
        }
        let origin = c.body.get("connectorConfiguration").cloned();
        let origin_capacity = c.body.get("capacity").cloned();
        if let Some(cfg) = body.get("connectorConfiguration") {
            c.body["connectorConfiguration"] = cfg.clone();
        }
        if let Some(cap) = body.get("capacity") {
            c.body["capacity"] = cap.clone();
        }
        c.body["currentVersion"] = json!((have.parse::<u64>().unwrap_or(1) + 1).to_string());
        let name = c.body["connectorName"].as_str().unwrap_or_default();
        Ok((name.to_string(), origin, origin_capacity))
    })?;
    let conn_uuid = arn.rsplit('/').next().unwrap_or_default();
    let op_arn = emu.arn(
        "kafkaconnect",
        &format!("connector-operation/{name}/{conn_uuid}/{}", uuid()),
    );
    // A capacity change is UPDATE_WORKER_SETTING, a configuration change
    // UPDATE_CONNECTOR_CONFIGURATION; each records its before and after.
    let op = match body.get("capacity") {
        Some(cap) => {
            json!({"connectorArn": arn, "connectorOperationArn": op_arn, "connectorOperationType": "UPDATE_WORKER_SETTING",
                            "originWorkerSetting": {"capacity": origin_capacity.as_ref().map(capacity_description)},
                            "targetWorkerSetting": {"capacity": capacity_description(cap)}, "endTime": iso_in(emu.delay())})
        }
        None => {
            json!({"connectorArn": arn, "connectorOperationArn": op_arn, "connectorOperationType": "UPDATE_CONNECTOR_CONFIGURATION",
                       "originConnectorConfiguration": origin, "targetConnectorConfiguration": body.get("connectorConfiguration"),
                       "endTime": iso_in(emu.delay())})
        }
    };
    store.operations.create(op_arn.clone(), op, emu.delay());
    ok(json!({"connectorArn": arn, "connectorState": "UPDATING", "connectorOperationArn": op_arn}))
}

/// DescribeCustomPlugin's answer (also a ListCustomPlugins entry); one revision, no file
/// digest (the emulator never reads the object).
fn plugin_json(arn: &str, p: &Item) -> Value {
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

/// DescribeWorkerConfiguration's answer (also a ListWorkerConfigurations entry).
fn worker_json(arn: &str, w: &Item) -> Value {
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

/// DescribeConnector's answer (also a ListConnectors entry): the request's settings in their
/// description shapes.
fn connector_json(arn: &str, c: &Item) -> Value {
    let b = &c.body;
    let plugins: Vec<Value> = b["plugins"].as_array().cloned().unwrap_or_default();
    json!({
        "connectorArn": arn,
        "connectorName": b["connectorName"],
        "connectorDescription": b.get("connectorDescription"),
        "connectorState": c.state,
        "stateDescription": (c.state == "FAILED").then(|| b.get("stateDescription")).flatten(),
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
        "logDelivery": b.get("logDelivery"),
        "networkType": b.get("networkType"),
    })
}

/// Whether the resource's `name` starts with the list call's `param` (when it has one).
fn prefixed(call: &Call, param: &str, name: &Value) -> bool {
    match call.query.get(param).and_then(|v| v.first()) {
        Some(p) => name.as_str().is_some_and(|n| n.starts_with(p.as_str())),
        None => true,
    }
}

/// An operation's `endTime`, once it has completed.
fn end_time(o: &Item) -> Value {
    if o.state.ends_with("_COMPLETE") {
        o.body["endTime"].clone()
    } else {
        Value::Null
    }
}

/// The connector calls that change its state without changing its settings.
#[derive(Clone, Copy)]
enum Lifecycle {
    Pause,
    Resume,
    Restart,
}

/// PauseConnector (RUNNING → PAUSING → PAUSED), ResumeConnector (PAUSED → RESUMING →
/// RUNNING) and RestartConnector (RUNNING → RESTARTING → RUNNING), each recorded as an
/// operation (`PAUSE_CONNECTOR`, `RESUME_CONNECTOR`, `RESTART_CONNECTOR`) that is
/// `*_IN_PROGRESS` until it is `*_COMPLETE`. Answers `connectorArn` and
/// `connectorOperationArn`.
fn lifecycle(emu: &Emulator, store: &mut Store, arn: &str, what: Lifecycle) -> Reply {
    let (from, now, then, kind, word) = match what {
        Lifecycle::Pause => ("RUNNING", "PAUSING", "PAUSED", "PAUSE_CONNECTOR", "PAUSE"),
        Lifecycle::Resume => (
            "PAUSED",
            "RESUMING",
            "RUNNING",
            "RESUME_CONNECTOR",
            "RESUME",
        ),
        Lifecycle::Restart => (
            "RUNNING",
            "RESTARTING",
            "RUNNING",
            "RESTART_CONNECTOR",
            "RESTART",
        ),
    };
    let name = store
        .connectors
        .update_to(arn, emu.delay(), now, then, |c| {
            if c.state != from {
                return Err(bad_request(format!(
                    "the connector is {}; it must be {from}",
                    c.state
                )));
            }
            Ok(c.body["connectorName"]
                .as_str()
                .unwrap_or_default()
                .to_string())
        })?;
    let conn_uuid = arn.rsplit('/').next().unwrap_or_default();
    let op_arn = emu.arn(
        "kafkaconnect",
        &format!("connector-operation/{name}/{conn_uuid}/{}", uuid()),
    );
    let op = json!({"connectorArn": arn, "connectorOperationArn": op_arn, "connectorOperationType": kind,
                    "endTime": iso_in(emu.delay())});
    store.operations.create_in(
        op_arn.clone(),
        op,
        &format!("{word}_IN_PROGRESS"),
        &format!("{word}_COMPLETE"),
        emu.delay(),
    );
    ok(json!({"connectorArn": arn, "connectorOperationArn": op_arn}))
}

/// A request's `capacity` as a `CapacityDescription`: provisioned if given, else auto scaling.
fn capacity_description(c: &Value) -> Value {
    match c.get("provisionedCapacity") {
        Some(p) => json!({"provisionedCapacity": p}),
        None => json!({"autoScaling": c.get("autoScaling")}),
    }
}
