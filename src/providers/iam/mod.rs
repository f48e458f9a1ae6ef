//! IAM: roles with their trust and inline policies, inline policies of their own, and instance
//! profiles. This module holds what the kinds share: policy statements and documents, the
//! least-privilege check, tags.

pub mod instance_profile;
pub mod role;
pub mod role_policy;

use aws_sdk_iam::types::Tag;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub use instance_profile::InstanceProfileProps;
pub use role::RoleProps;
pub use role_policy::RolePolicyProps;

use crate::engine::provider::{Cx, ProviderError};
use crate::providers::support::Absent;

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    role::register(r);
    role_policy::register(r);
    instance_profile::register(r);
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// One policy statement. Actions are always named; `*` is not accepted as an action.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default)]
    pub effect: Effect,
    /// e.g. `kinesis:PutRecord`.
    pub actions: Vec<String>,
    /// ARNs the actions apply to, usually `${other_resource.arn}`.
    pub resources: Vec<String>,
    /// An IAM condition block, as in a policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

/// What IAM answers for a role, policy or profile that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["NoSuchEntity"]);

pub(super) fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// IAM returns policy documents URL-encoded; moto sometimes does not.
pub(super) fn parse_document(text: &str) -> Result<Value, ProviderError> {
    let decoded = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    serde_json::from_str(&decoded)
        .map_err(|e| ProviderError::Invalid(format!("unreadable policy document: {e}")))
}

pub(super) fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => vec![],
    }
}

pub fn policy_document(statements: &[Statement]) -> String {
    let stmts: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut m = Map::new();
            if let Some(sid) = &s.sid {
                m.insert("Sid".into(), Value::String(sid.clone()));
            }
            m.insert(
                "Effect".into(),
                json!(match s.effect {
                    Effect::Allow => "Allow",
                    Effect::Deny => "Deny",
                }),
            );
            m.insert("Action".into(), json!(s.actions));
            m.insert("Resource".into(), json!(s.resources));
            if let Some(c) = &s.condition {
                m.insert("Condition".into(), c.clone());
            }
            Value::Object(m)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": stmts}).to_string()
}

pub(super) fn read_statements(doc: &Value) -> Vec<Statement> {
    statements_of(doc)
        .iter()
        .map(|s| Statement {
            sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
            effect: if s.get("Effect").and_then(Value::as_str) == Some("Deny") {
                Effect::Deny
            } else {
                Effect::Allow
            },
            actions: as_list(s.get("Action")),
            resources: as_list(s.get("Resource")),
            condition: s.get("Condition").cloned(),
        })
        .collect()
}

/// Least privilege: every action is named; `*` and `service:*` are refused.
pub fn check_actions(statements: &[Statement]) -> Result<(), ProviderError> {
    for s in statements {
        for a in &s.actions {
            if a == "*" || a.ends_with(":*") {
                return Err(ProviderError::Invalid(format!(
                    "action `{a}` grants everything; name the actions the pipeline needs"
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn iam_tags(cx: &Cx) -> Vec<Tag> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect()
}
