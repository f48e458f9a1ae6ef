//! What pinctl records about the resources it manages, per stack and env.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub const STATE_VERSION: u32 = 1;

/// Where a resource is in its life, as far as pinctl knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Creation was started; `physical_id` is set once the service accepted it.
    Creating,
    /// Exists and matches `props`.
    Ready,
    /// An update was started and not confirmed.
    Updating,
    /// Deletion was started and not confirmed.
    Deleting,
    /// The service reported the resource failed; the next plan replaces it.
    Failed,
}

/// A previous instance kept until its replacement is in use (create-before-destroy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deposed {
    pub physical_id: String,
    pub props: Value,
}

/// One managed resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Status,
    /// Idempotency token of the creation: recorded before the create call, so a run that was
    /// killed can find what it started instead of creating a second one.
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// Props as last applied; values at `secret_paths` are replaced by their hash.
    #[serde(default)]
    pub props: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_paths: Vec<String>,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<Deposed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub updated_at: String,
}

/// The state of one stack in one env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub stack: String,
    pub env: String,
    /// Increases with every write.
    pub serial: u64,
    /// Identifies this state's history; a state from another lineage is never overwritten.
    pub lineage: String,
    /// Mixed into every secret's digest, so a low-entropy secret (a DB password) cannot be
    /// guessed offline from the state file by hashing candidates. Random per state; empty in
    /// states written before it existed (their digests stay valid).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub salt: String,
    pub resources: BTreeMap<String, ResourceState>,
}

impl StateFile {
    pub fn new(stack: &str, env: &str) -> Self {
        StateFile {
            version: STATE_VERSION,
            stack: stack.into(),
            env: env.into(),
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            salt: uuid::Uuid::new_v4().simple().to_string(),
            resources: BTreeMap::new(),
        }
    }
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// What a secret is stored as: a hash that can be compared, never reversed.
/// `salt` is the state's ([`StateFile::salt`]).
pub fn secret_digest(salt: &str, v: &Value) -> Value {
    let text = serde_json::to_string(v).unwrap_or_default();
    let hash = Sha256::digest(format!("{salt}{text}").as_bytes());
    Value::String(format!("(sensitive sha256:{})", hex::encode(&hash[..16])))
}

/// Replaces every value at `paths` (JSON pointers) by its digest.
pub fn redact(salt: &str, value: &Value, paths: &[String]) -> Value {
    let mut v = value.clone();
    for p in paths {
        if p.is_empty() {
            return secret_digest(salt, value);
        }
        if let Some(slot) = v.pointer_mut(p) {
            *slot = secret_digest(salt, slot);
        }
    }
    v
}
