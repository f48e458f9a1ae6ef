//! MWAA (`airflow`, reached through the SDK's `mwaa` client): environments, addressed by name.
//! MWAA's errors differ from MSK's: a taken name and a refused change are `ValidationException`
//! (400; CreateEnvironment's model has no ConflictException: aws-sdk-mwaa 1.128
//! `src/operation/create_environment.rs`), a missing one `ResourceNotFoundException` (404;
//! `src/operation/get_environment.rs`). Field names are PascalCase, times epoch seconds.

use std::time::UNIX_EPOCH;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::collection::{Item, Kind};
use super::{missing, ok, unknown_operation, uuid, ApiError, Call, Emulator, Reply, Store, Tags};

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
            ok(json!({"Environments": store.environments.ids().collect::<Vec<_>>()}))
        }
        (&Method::GET, ["environments", name]) => {
            let e = store.environments.get(name)?;
            ok(json!({"Environment": environment_json(&store.tags, e)}))
        }
        (&Method::PATCH, ["environments", name]) => {
            let arn = store.environments.update(name, emu.delay(), |e| {
                if e.state != "AVAILABLE" {
                    return Err(invalid(format!(
                        "Environment {name} is {}; it can be updated when AVAILABLE",
                        e.state
                    )));
                }
                // Nested settings merge: an update of the security groups keeps the subnets.
                crate::json::deep_merge(&mut e.body, body);
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
            store.tags.api(call, arn, "Tags")
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
    let arn = emu.arn("airflow", &format!("environment/{name}"));
    let mut kept = store.tags.adopt(&arn, body, "Tags");
    if let Some(o) = kept.as_object_mut() {
        o.insert("Name".into(), json!(name));
        o.insert("Arn".into(), json!(arn));
        o.entry("AirflowVersion").or_insert(json!("2.10.3"));
        o.entry("EnvironmentClass").or_insert(json!("mw1.small"));
        o.insert(
            "WebserverUrl".into(),
            json!(format!(
                "{}.{}.airflow.amazonaws.com",
                uuid(),
                emu.opts.region
            )),
        );
    }
    store
        .environments
        .create(name.to_string(), kept, emu.delay());
    ok(json!({ "Arn": arn }))
}

/// GetEnvironment's `Environment`: the kept body with `Status`, `CreatedAt` and `Tags`.
fn environment_json(tags: &Tags, e: &Item) -> Value {
    let mut v = e.body.clone();
    let arn = v["Arn"].as_str().unwrap_or_default().to_string();
    v["Status"] = json!(e.state);
    v["CreatedAt"] = json!(epoch_of(&e.created));
    v["Tags"] = json!(tags.of(&arn));
    v
}

/// Seconds since the epoch of an RFC 3339 time (MWAA's timestamps are epoch seconds).
fn epoch_of(iso: &str) -> f64 {
    humantime::parse_rfc3339(iso)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
