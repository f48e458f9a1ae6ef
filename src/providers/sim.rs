//! `sim.thing`: a simulated cloud resource kept as files in `$PINCTL_SIM_DIR`. It behaves like
//! a slow service (creation and updates take `delay_ms`, the engine polls for readiness, ids are
//! assigned by the "service", creations are found again by their idempotency token) and logs
//! every begin and end, so the engine's ordering, parallelism and crash recovery can be checked
//! from outside the process. It exists for the engine's tests and for trying pinctl offline.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::typed::{Observed, TypedProvider};

/// Props of `sim.thing`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThingProps {
    /// Name of the thing.
    pub name: String,
    /// Changes in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Changing it replaces the thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// A secret; never stored in pinctl's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Free-form text (templates render into it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Free-form list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    /// How long creation and updates take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// How long an accepted creation takes to become visible to a describe, in milliseconds;
    /// the create call answers only then (a slow service: a run killed meanwhile leaves a
    /// creation in flight that lands later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lands_after_ms: Option<u64>,
    /// The service refuses the creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<bool>,
    /// The deletion runs but its answer is a refusal, as when a delete's answer is lost and the
    /// SDK's repeat is refused because the first one ran (`InvalidRoute.NotFound` from a
    /// repeated DeleteVpcEndpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_refused_after_running: Option<bool>,
}

/// `sim.versioned`: like `sim.thing`, but a replacement creates the new one before deleting
/// the old (as API Gateway deployments and MSK Connect plugins are replaced).
pub fn versioned_kind_info() -> KindInfo {
    KindInfo {
        name: "sim.versioned",
        summary: "A simulated resource replaced new-one-first (for tests and offline trials)",
        ..kind_info()
    }
    .create_before_destroy()
}

/// Registers `sim.thing` and `sim.versioned`, each with the simulated provider.
pub fn register(r: &mut super::Registry) {
    r.add_typed(kind_info(), |_| SimProvider);
    r.add_typed(versioned_kind_info(), |_| SimProvider);
}

pub fn kind_info() -> KindInfo {
    KindInfo::new(
        "sim.thing",
        "A simulated resource kept in $PINCTL_SIM_DIR (for tests and offline trials)",
    )
    .schema::<ThingProps>()
    .outputs(&["id", "arn"])
    .replace(&[("zone", "a thing cannot move to another zone")])
    .secret(&["password"])
    .timeout(Duration::from_secs(600))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Object {
    id: String,
    token: String,
    tags: Map<String, Value>,
    props: Value,
    ready_at_ms: u128,
    /// Before this, a describe (`adopt`) does not see the object yet.
    #[serde(default)]
    visible_at_ms: u128,
    ended: bool,
}

/// The provider of `sim.*` kinds: everything it keeps is in `$PINCTL_SIM_DIR`.
pub struct SimProvider;

fn dir() -> Result<PathBuf, ProviderError> {
    std::env::var_os("PINCTL_SIM_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            ProviderError::Invalid(
                "set PINCTL_SIM_DIR to a directory: sim.* resources live there".into(),
            )
        })
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn io(e: std::io::Error) -> ProviderError {
    ProviderError::io("sim storage", e)
}

fn log(event: &str, op: &str, resource: &str, id: &str) -> Result<(), ProviderError> {
    let d = dir()?;
    std::fs::create_dir_all(&d).map_err(io)?;
    let line = json!({"ts_ns": now_ns().to_string(), "event": event, "op": op, "resource": resource, "id": id});
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("events.log"))
        .map_err(io)?;
    f.write_all(format!("{line}\n").as_bytes()).map_err(io)
}

fn path_of(id: &str) -> Result<PathBuf, ProviderError> {
    Ok(dir()?.join("objects").join(format!("{id}.json")))
}

fn load(id: &str) -> Result<Option<Object>, ProviderError> {
    match std::fs::read(path_of(id)?) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| ProviderError::Invalid(format!("sim object {id}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

fn save(o: &Object) -> Result<(), ProviderError> {
    let p = path_of(&o.id)?;
    let bytes = serde_json::to_vec_pretty(o).map_err(|e| ProviderError::Invalid(e.to_string()))?;
    crate::fsx::write_atomically(&p, &bytes).map_err(io)
}

/// Props as the "service" keeps them.
fn stored(p: &ThingProps) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

fn outputs(o: &Object) -> Map<String, Value> {
    let name = o
        .props
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert("id".into(), Value::String(o.id.clone()));
    m.insert(
        "arn".into(),
        Value::String(format!("arn:sim:thing::{name}/{}", o.id)),
    );
    m
}

#[async_trait]
impl TypedProvider for SimProvider {
    type Props = ThingProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&ThingProps>,
    ) -> Result<Option<Observed<ThingProps>>, ProviderError> {
        Ok(load(id)?.map(|o| Observed {
            outputs: outputs(&o),
            props: serde_json::from_value(o.props).ok(),
        }))
    }

    async fn adopt(&self, cx: &Cx, _props: &ThingProps) -> Result<Option<String>, ProviderError> {
        let objects = dir()?.join("objects");
        let Ok(entries) = std::fs::read_dir(&objects) else {
            return Ok(None);
        };
        for e in entries.flatten() {
            // Only saved objects: a save that was killed leaves its temporary file
            // (`.<id>.json.<pid>.tmp`), which is not an object the "service" holds.
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            if let Ok(o) = serde_json::from_slice::<Object>(&std::fs::read(e.path()).map_err(io)?) {
                if o.token == cx.token && o.visible_at_ms <= now_ms() {
                    return Ok(Some(o.id));
                }
            }
        }
        Ok(None)
    }

    async fn create(&self, cx: &Cx, p: &ThingProps) -> Result<String, ProviderError> {
        if p.fail == Some(true) {
            log("refused", "create", &cx.resource, "")?;
            return Err(ProviderError::Api {
                operation: "CreateThing".into(),
                code: "SimulatedFailure".into(),
                message: format!("thing `{}` was refused on purpose (fail: true)", p.name),
                retryable: false,
            });
        }
        let id = format!("sim-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let o = Object {
            id: id.clone(),
            token: cx.token.clone(),
            tags: cx
                .tags()
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            props: stored(p),
            ready_at_ms: now_ms() + u128::from(p.delay_ms.unwrap_or(0)),
            visible_at_ms: now_ms() + u128::from(p.lands_after_ms.unwrap_or(0)),
            ended: false,
        };
        save(&o)?;
        log("begin", "create", &cx.resource, &id)?;
        if let Some(ms) = p.lands_after_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(id)
    }

    async fn poll(&self, cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let Some(mut o) = load(id)? else {
            return Ok(Poll::Failed(format!("thing {id} disappeared")));
        };
        if now_ms() < o.ready_at_ms {
            return Ok(Poll::Pending("CREATING".into()));
        }
        if !o.ended {
            o.ended = true;
            save(&o)?;
            log("end", "create", &cx.resource, id)?;
        }
        Ok(Poll::Ready(outputs(&o)))
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        _old: Option<&ThingProps>,
        p: &ThingProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let Some(mut o) = load(id)? else {
            return Err(ProviderError::Api {
                operation: "UpdateThing".into(),
                code: "NotFound".into(),
                message: format!("thing {id} does not exist"),
                retryable: false,
            });
        };
        log("begin", "update", &cx.resource, id)?;
        o.props = stored(p);
        o.ready_at_ms = now_ms() + u128::from(p.delay_ms.unwrap_or(0));
        o.ended = false;
        save(&o)?;
        Ok(None)
    }

    async fn delete(
        &self,
        cx: &Cx,
        id: &str,
        recorded: Option<&ThingProps>,
    ) -> Result<(), ProviderError> {
        log("begin", "delete", &cx.resource, id)?;
        match std::fs::remove_file(path_of(id)?) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if recorded.and_then(|p| p.delete_refused_after_running) == Some(true) {
            log("refused", "delete", &cx.resource, id)?;
            return Err(ProviderError::Api {
                operation: "DeleteThing".into(),
                code: "SimulatedRepeatRefused".into(),
                message: "the repeat of a delete that already ran was refused".into(),
                retryable: false,
            });
        }
        log("end", "delete", &cx.resource, id)
    }
}
