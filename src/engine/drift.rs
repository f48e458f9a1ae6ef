//! Drift: the live resources compared with what was recorded when they were last applied,
//! under each kind's rules: props left at their defaults are compared at them, lists AWS treats
//! as sets compare without order, and entries added by hand to a map the resource owns whole
//! are drift ([`crate::kind::KindInfo`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diff::{diff_with, pointer_of, Rules};
use super::parts::strip_parts;
use super::plan::refresh;
use super::provider::{Cx, ProviderError, Providers};
use super::EngineError;
use crate::stack::Stack;
use crate::state::model::redact;
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

/// One field that differs. A field derived from a secret is compared by its salted digest
/// (the state keeps nothing else) and shown as `sensitive`, its values never carried.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldDrift {
    pub path: String,
    pub recorded: Option<Value>,
    pub live: Option<Value>,
    #[serde(default)]
    pub sensitive: bool,
}

/// A live resource that looks like one of the stack's but is not in its state: named as the
/// stack names `like`, or tagged with the stack's `pinctl:stack` and `pinctl:env`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LookAlike {
    #[serde(rename = "type")]
    pub kind: String,
    pub physical_id: String,
    /// The stack's resource it resembles.
    pub like: String,
    /// How it was found (its name, its tags).
    pub why: String,
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
    /// With `diff --unmanaged`: the look-alikes found (none is `[]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmanaged: Option<Vec<LookAlike>>,
    /// With `diff --unmanaged`: the stack's resources no lookup could be made for, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_looked_up: Vec<NotLookedUp>,
}

/// A resource of the stack `diff --unmanaged` could not look for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotLookedUp {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub why: String,
}

/// What [`unmanaged`] found.
#[derive(Debug, Clone, Default)]
pub struct Unmanaged {
    pub look_alikes: Vec<LookAlike>,
    pub not_looked_up: Vec<NotLookedUp>,
}

/// Looks, for each resource of the stack, for live resources that look like it
/// ([`crate::engine::provider::Provider::find`]: its name, or the stack's tags for it) and are
/// not the one its state records, nor any other of its state. Read only. A resource whose
/// props depend on others not yet created is looked for by what is known when its kind allows,
/// else listed as not looked up.
pub async fn unmanaged(
    stack: &Stack,
    state: &StateFile,
    providers: &dyn Providers,
    parallelism: usize,
) -> Result<Unmanaged, EngineError> {
    use futures::StreamExt;
    let opts = super::plan::PlanOptions {
        refresh: false,
        destroy: false,
        parallelism,
    };
    let (_, resolved) = super::plan::plan(stack, state, providers, opts).await?;
    let recorded: std::collections::BTreeSet<(&str, &str)> = state
        .resources
        .values()
        .filter_map(|r| Some((r.kind.as_str(), r.physical_id.as_deref()?)))
        .collect();
    let lookups = stack.resources.iter().map(|(name, res)| {
        let provider = providers.get(&res.kind);
        let props = resolved.get(name).map(|r| r.value.clone());
        let token = state
            .resources
            .get(name)
            .map(|r| r.token.clone())
            .unwrap_or_default();
        let cx = Cx::new(stack, name, &token, false);
        async move {
            let provider = provider.ok_or_else(|| EngineError::UnknownKind(res.kind.clone()))?;
            let found = match props {
                None => Err("its props could not be resolved".to_string()),
                Some(p) => match super::policy::read_with_retries(
                    provider.info().timeout.min(super::plan::READ_RETRY_BOUND),
                    || provider.find(&cx, &p),
                )
                .await
                {
                    Ok(found) => Ok(found),
                    Err(ProviderError::Unsupported(why)) => Err(why),
                    Err(ProviderError::Invalid(_)) => {
                        Err("its props depend on resources not created yet".to_string())
                    }
                    Err(e) => {
                        return Err(EngineError::Read {
                            resource: name.clone(),
                            source: e,
                        })
                    }
                },
            };
            Ok::<_, EngineError>((name.clone(), res.kind.clone(), found))
        }
    });
    let results: Vec<_> = futures::stream::iter(lookups)
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    let mut out = Unmanaged::default();
    for r in results {
        let (name, kind, found) = r?;
        match found {
            Err(why) => out.not_looked_up.push(NotLookedUp { name, kind, why }),
            Ok(found) => {
                for f in found {
                    if recorded.contains(&(kind.as_str(), f.physical_id.as_str())) {
                        continue;
                    }
                    out.look_alikes.push(LookAlike {
                        kind: kind.clone(),
                        physical_id: f.physical_id,
                        like: name.clone(),
                        why: f.by.to_string(),
                    });
                }
            }
        }
    }
    out.look_alikes
        .sort_by(|a, b| (&a.like, &a.physical_id).cmp(&(&b.like, &b.physical_id)));
    out.look_alikes
        .dedup_by(|a, b| a.kind == b.kind && a.physical_id == b.physical_id);
    out.not_looked_up.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
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
                // Secrets compare as the state keeps them, by digest; one the service does not
                // return (most do not) is not drift.
                let live = redact(&state.salt, &live, &rec.secret_paths);
                let changes: Vec<FieldDrift> = diff_with(&Rules::of(&info), &recorded, &live)
                    .into_iter()
                    .filter_map(|d| {
                        let p = pointer_of(&d.path);
                        let sensitive = rec
                            .secret_paths
                            .iter()
                            .any(|s| p == *s || p.starts_with(&format!("{s}/")));
                        if sensitive && (d.old.is_none() || d.new.is_none()) {
                            return None;
                        }
                        let masked = || Some(Value::String("(sensitive)".into()));
                        Some(FieldDrift {
                            path: d.path,
                            recorded: if sensitive { masked() } else { d.new },
                            live: if sensitive { masked() } else { d.old },
                            sensitive,
                        })
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
        unmanaged: None,
        not_looked_up: Vec::new(),
    })
}
