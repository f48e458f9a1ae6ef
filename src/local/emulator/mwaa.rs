//! MWAA (`airflow`, reached through the SDK's `mwaa` client): environments, addressed by name.
//! MWAA's errors differ from MSK's: a taken name and a refused change are `ValidationException`
//! (400; CreateEnvironment's model has no ConflictException: aws-sdk-mwaa 1.128
//! `src/operation/create_environment.rs`), a missing one `ResourceNotFoundException` (404;
//! `src/operation/get_environment.rs`). Field names are PascalCase, times epoch seconds.
//!
//! Served: CreateEnvironment, GetEnvironment, ListEnvironments, UpdateEnvironment,
//! DeleteEnvironment, TagResource, UntagResource, ListTagsForResource, CreateCliToken and
//! CreateWebLoginToken, in the shapes of botocore's model `mwaa/2020-07-01/service-2.json`.
//! GetEnvironment carries the members MWAA returns for every environment with MWAA's defaults
//! (MWAA API reference, "Environment":
//! https://docs.aws.amazon.com/mwaa/latest/API/API_Environment.html).

use std::time::UNIX_EPOCH;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use base64::Engine as _;

use super::collection::{Item, Kind};
use super::{
    missing, ok, page, unknown_operation, uuid, ApiError, Call, Emulator, Reply, Store, Tags,
};

/// An environment, keyed by name; its body is the create request without its tags, plus
/// `Name`, `Arn` (`environment/{name}`), `WebserverUrl` and the defaults MWAA fills in
/// (`AirflowVersion` 2.10.3, `EnvironmentClass` mw1.small). CREATING → AVAILABLE, UPDATING →
/// AVAILABLE, DELETING → gone.
pub(super) struct Environment;

impl Kind for Environment {
    const NOUN: &'static str = "Environment";
    const NAME_FIELD: Option<&'static str> = None;
    const STABLE: &'static str = "AVAILABLE";

    fn conflict(name: &str) -> ApiError {
        invalid(format!("Environment {name} already exists"))
    }

    fn not_found(name: &str) -> ApiError {
        not_found(&format!("Environment {name}"))
    }
}

/// The Apache Airflow versions MWAA accepts: botocore `mwaa/2020-07-01` `service-2.json`,
/// `CreateEnvironmentInput.AirflowVersion` and `UpdateEnvironmentInput.AirflowVersion` ("Valid
/// values: 2.7.2, 2.8.1, 2.9.2, 2.10.1, 2.10.3, 2.11.0, and 3.0.6").
const AIRFLOW_VERSIONS: &[&str] = &[
    "2.7.2", "2.8.1", "2.9.2", "2.10.1", "2.10.3", "2.11.0", "3.0.6",
];

/// An `AirflowVersion` MWAA does not offer is refused (ValidationException, the model's error
/// for an invalid input).
fn airflow_offered(body: &Value) -> Result<(), ApiError> {
    match body.get("AirflowVersion").and_then(Value::as_str) {
        Some(v) if !AIRFLOW_VERSIONS.contains(&v) => Err(invalid(format!(
            "Invalid AirflowVersion {v}: supported versions are {}",
            AIRFLOW_VERSIONS.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// A requirements file, plugins archive or startup script in S3 is named with its object
/// version: "RequirementsS3Path ... If specified, then a version is required" (MWAA API
/// Reference, CreateEnvironment and UpdateEnvironment; the same for PluginsS3Path and
/// StartupScriptS3Path). The message is the emulator's; the code is the model's.
fn versions_given(body: &Value) -> Result<(), ApiError> {
    for what in ["Requirements", "Plugins", "StartupScript"] {
        let path = body.get(format!("{what}S3Path")).and_then(Value::as_str);
        let version = body
            .get(format!("{what}S3ObjectVersion"))
            .and_then(Value::as_str);
        if path.is_some_and(|p| !p.is_empty()) && version.is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "{what}S3ObjectVersion is required when {what}S3Path is specified"
            )));
        }
    }
    Ok(())
}

fn invalid(msg: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "ValidationException", msg)
}

fn not_found(what: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("{what} not found"),
    )
}

/// The MWAA routes: `/environments[/{name}]` and `/tags/{arn}`.
pub(super) fn route(emu: &Emulator, store: &mut Store, call: &Call) -> Reply {
    let body = &call.body;
    match (&call.method, call.seg.as_slice()) {
        (&Method::PUT, ["environments", name]) => create_environment(emu, store, name, body),
        (&Method::GET, ["environments"]) => {
            let list = store.environments.ids().map(|n| json!(n)).collect();
            page(call, list, "Environments", "MaxResults", "NextToken")
        }
        (&Method::GET, ["environments", name]) => {
            let e = store.environments.get(name)?;
            ok(json!({"Environment": environment_json(emu, &store.tags, e)}))
        }
        (&Method::POST, ["clitoken", name]) => {
            // CreateCliToken: a short-lived token for the Airflow CLI endpoint of the webserver.
            let e = store.environments.get(name)?;
            ok(json!({"CliToken": token(), "WebServerHostname": e.body["WebserverUrl"]}))
        }
        (&Method::POST, ["webtoken", name]) => {
            // CreateWebLoginToken: a token for the webserver's login page.
            let e = store.environments.get(name)?;
            ok(json!({"WebToken": token(), "WebServerHostname": e.body["WebserverUrl"]}))
        }
        (&Method::PATCH, ["environments", name]) => {
            versions_given(body)?;
            airflow_offered(body)?;
            let arn = store.environments.update(name, emu.delay(), |e| {
                if e.state != "AVAILABLE" {
                    return Err(invalid(format!(
                        "Environment {name} is {}; it can be updated when AVAILABLE",
                        e.state
                    )));
                }
                // Nested settings merge: an update of the security groups keeps the subnets.
                crate::json::deep_merge(&mut e.body, body);
                e.body["LastUpdateAt"] = json!(epoch_of(&super::collection::iso_now()));
                Ok(e.body["Arn"].clone())
            })?;
            ok(json!({ "Arn": arn }))
        }
        (&Method::DELETE, ["environments", name]) => {
            store.environments.delete(name, emu.delay())?;
            ok(json!({}))
        }
        (_, ["tags", arn]) => {
            if !store.environments.any_names("/Arn", arn) {
                return Err(not_found(&format!("Resource {arn}")));
            }
            store.tags.api(call, arn, "Tags", StatusCode::OK)
        }
        _ => Err(unknown_operation("mwaa", call)),
    }
}

/// CreateEnvironment: the fields MWAA requires; answers the new ARN only.
fn create_environment(emu: &Emulator, store: &mut Store, name: &str, body: &Value) -> Reply {
    store.environments.ensure_free(name)?;
    let required = [
        "ExecutionRoleArn",
        "SourceBucketArn",
        "DagS3Path",
        "NetworkConfiguration",
    ];
    if let Some(k) = missing(body, &required) {
        return Err(invalid(format!("{k} is required")));
    }
    versions_given(body)?;
    airflow_offered(body)?;
    let arn = emu.arn("airflow", &format!("environment/{name}"));
    let mut kept = store.tags.adopt(&arn, body, "Tags");
    if let Some(o) = kept.as_object_mut() {
        o.insert("Name".into(), json!(name));
        o.insert("Arn".into(), json!(arn));
        o.entry("AirflowVersion").or_insert(json!("2.10.3"));
        o.entry("EnvironmentClass").or_insert(json!("mw1.small"));
        // A host name, without a scheme, as MWAA answers it (botocore's model gives the
        // member the pattern `https://.+`, which MWAA's own answers do not follow).
        o.insert(
            "WebserverUrl".into(),
            json!(format!(
                "{}.c2.{}.airflow.amazonaws.com",
                uuid(),
                emu.opts.region
            )),
        );
        o.insert(
            "CeleryExecutorQueue".into(),
            json!(emu.arn("sqs", &format!("airflow-celery-{}", uuid()))),
        );
    }
    store
        .environments
        .create(name.to_string(), kept, emu.delay());
    ok(json!({ "Arn": arn }))
}

/// The members of MWAA's `Environment` shape the emulator fills in from what was asked.
const ENVIRONMENT_MEMBERS: &[&str] = &[
    "Name",
    "Arn",
    "WebserverUrl",
    "ExecutionRoleArn",
    "KmsKey",
    "AirflowVersion",
    "SourceBucketArn",
    "DagS3Path",
    "PluginsS3Path",
    "PluginsS3ObjectVersion",
    "RequirementsS3Path",
    "RequirementsS3ObjectVersion",
    "StartupScriptS3Path",
    "StartupScriptS3ObjectVersion",
    "AirflowConfigurationOptions",
    "EnvironmentClass",
    "MaxWorkers",
    "MinWorkers",
    "Schedulers",
    "MinWebservers",
    "MaxWebservers",
    "NetworkConfiguration",
    "WeeklyMaintenanceWindowStart",
    "WebserverAccessMode",
    "CeleryExecutorQueue",
    "EndpointManagement",
];

/// The log modules of `LoggingConfiguration` and the names of their CloudWatch log groups
/// (`airflow-{env}-{Module}`, as MWAA names them).
const LOG_MODULES: &[(&str, &str)] = &[
    ("DagProcessingLogs", "DAGProcessing"),
    ("SchedulerLogs", "Scheduler"),
    ("TaskLogs", "Task"),
    ("WebserverLogs", "WebServer"),
    ("WorkerLogs", "Worker"),
];

/// GetEnvironment's `Environment`: what was asked, with MWAA's defaults for what was not
/// (mw1.small's 1–10 workers, 2 schedulers and 2 webservers, PRIVATE_ONLY webserver access,
/// SERVICE-managed endpoints, no Airflow configuration options, every log module listed —
/// off, INFO — with its log group when on, the service-linked role), plus `Status`,
/// `CreatedAt`, `LastUpdate` after an update, and `Tags`.
fn environment_json(emu: &Emulator, tags: &Tags, e: &Item) -> Value {
    let b = &e.body;
    let mut v = json!({
        "AirflowConfigurationOptions": {},
        "EnvironmentClass": "mw1.small",
        "MaxWorkers": 10,
        "MinWorkers": 1,
        "Schedulers": 2,
        "MinWebservers": 2,
        "MaxWebservers": 2,
        "WebserverAccessMode": "PRIVATE_ONLY",
        "EndpointManagement": "SERVICE",
        "WeeklyMaintenanceWindowStart": "SUN:03:30",
        "ServiceRoleArn": format!(
            "arn:aws:iam::{}:role/aws-service-role/airflow.amazonaws.com/AWSServiceRoleForAmazonMWAA",
            emu.opts.account
        ),
    });
    for k in ENVIRONMENT_MEMBERS {
        if let Some(x) = b.get(*k).filter(|x| !x.is_null()) {
            v[*k] = x.clone();
        }
    }
    let name = b["Name"].as_str().unwrap_or_default();
    let mut logging = serde_json::Map::new();
    for (module, group) in LOG_MODULES {
        let asked = b.pointer(&format!("/LoggingConfiguration/{module}"));
        let enabled = asked
            .and_then(|m| m.get("Enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let level = asked
            .and_then(|m| m.get("LogLevel"))
            .cloned()
            .unwrap_or(json!("INFO"));
        let mut m = json!({"Enabled": enabled, "LogLevel": level});
        if enabled {
            m["CloudWatchLogGroupArn"] =
                json!(emu.arn("logs", &format!("log-group:airflow-{name}-{group}")));
        }
        logging.insert((*module).into(), m);
    }
    v["LoggingConfiguration"] = Value::Object(logging);
    let arn = b["Arn"].as_str().unwrap_or_default().to_string();
    v["Status"] = json!(e.state);
    v["CreatedAt"] = json!(epoch_of(&e.created));
    if let Some(at) = b.get("LastUpdateAt") {
        let status = if e.state == "UPDATING" {
            "PENDING"
        } else {
            "SUCCESS"
        };
        v["LastUpdate"] = json!({"Status": status, "CreatedAt": at, "Source": "API"});
    }
    if let Some(error) = b.get("CreateError").filter(|_| e.state == "CREATE_FAILED") {
        // A creation MWAA gave up on (network rules: network.rs).
        v["LastUpdate"] = json!({"Status": "FAILED", "CreatedAt": v["CreatedAt"], "Source": "API", "Error": error});
    }
    v["Tags"] = json!(tags.of(&arn));
    v
}

/// A random token, base64 like MWAA's.
fn token() -> String {
    base64::engine::general_purpose::STANDARD.encode(uuid())
}

/// Seconds since the epoch of an RFC 3339 time (MWAA's timestamps are epoch seconds).
fn epoch_of(iso: &str) -> f64 {
    humantime::parse_rfc3339(iso)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
