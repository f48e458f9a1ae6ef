//! Drift: the live resources compared with what was recorded when they were last applied,
//! under each kind's rules: props left at their defaults are compared at them, lists AWS treats
//! as sets compare without order, and entries added by hand to a map the resource owns whole
//! are drift ([`crate::kind::KindInfo`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diff::{diff_with, pointer_of, Rules};
use super::parts::strip_parts;
use super::plan::refresh;
use super::provider::Providers;
use super::EngineError;
use crate::stack::Stack;
use crate::state::StateFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    InSync,
    Drifted,
    /// Recorded, but gone from the service.
    Missing,
    /// A creation that never finished; nothing to compare yet.
    Incomplete,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldDrift {
    pub path: String,
    pub recorded: Option<Value>,
    pub live: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceDrift {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: DriftStatus,
    pub changes: Vec<FieldDrift>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: u32,
    pub stack: String,
    pub env: String,
    pub drift: bool,
    pub resources: Vec<ResourceDrift>,
}

pub async fn drift(
    stack: &Stack,
    state: &StateFile,
    providers: &dyn Providers,
    parallelism: usize,
) -> Result<DriftReport, EngineError> {
    let live = refresh(stack, state, providers, parallelism).await?;
    let mut resources = Vec::new();
    for (name, rec) in &state.resources {
        let (status, changes) = match live.get(name) {
            None => (DriftStatus::Incomplete, Vec::new()),
            Some(None) => (DriftStatus::Missing, Vec::new()),
            Some(Some(l)) => {
                let info = providers
                    .get(&rec.kind)
                    .ok_or_else(|| EngineError::UnknownKind(rec.kind.clone()))?
                    .info()
                    .clone();
                // Recorded before the kind declared a default, a prop left out was still
                // applied at it.
                let mut recorded = rec.props.clone();
                info.complete(&mut recorded);
                let mut live = l.props.clone();
                strip_parts(state, providers, name, &mut live);
                let changes: Vec<FieldDrift> = diff_with(&Rules::of(&info), &recorded, &live)
                    .into_iter()
                    .filter(|d| {
                        let p = pointer_of(&d.path);
                        !rec.secret_paths
                            .iter()
                            .any(|s| p == *s || p.starts_with(&format!("{s}/")))
                    })
                    .map(|d| FieldDrift {
                        path: d.path,
                        recorded: d.new,
                        live: d.old,
                    })
                    .collect();
                let status = if changes.is_empty() {
                    DriftStatus::InSync
                } else {
                    DriftStatus::Drifted
                };
                (status, changes)
            }
        };
        resources.push(ResourceDrift {
            name: name.clone(),
            kind: rec.kind.clone(),
            status,
            changes,
        });
    }
    Ok(DriftReport {
        format_version: 1,
        stack: stack.name.clone(),
        env: stack.env.clone(),
        drift: resources
            .iter()
            .any(|r| matches!(r.status, DriftStatus::Drifted | DriftStatus::Missing)),
        resources,
    })
}
