//! Import: the live resources a person made by hand (or another tool) that are this stack's
//! resources, found and recorded in state without changing anything in AWS, so that `plan`
//! then shows what brings them to the stack.
//!
//! Resources are matched in dependency order, each with its props resolved against what was
//! matched before it: a topic is looked for in the cluster matched for `${msk.arn}`, a stage in
//! the API matched for its `rest_api_id`. A match is made by [`Provider::find`] (the name the
//! stack gives it, its `Name` tag, or the link to its parent) and read back ([`Provider::read`])
//! for the props and outputs recorded. What matches nothing, or more than one thing, is listed
//! with the reason and left out: an ambiguous match is never guessed. Only read calls are made.

use serde::Serialize;
use serde_json::Value;

use super::plan::{self, PlanOptions};
use super::provider::{Cx, ProviderError, Providers};
use super::EngineError;
use crate::dag::topo_order;
use crate::stack::Stack;
use crate::state::model::{now, redact};
use crate::state::{ResourceState, StateFile, Status};

/// What import found for one resource of the stack.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// One live resource matches: it will be recorded.
    Matched {
        physical_id: String,
        /// How it was found, in words (`named "..."`).
        by: String,
    },
    /// The state already records it.
    Managed { physical_id: String },
    /// Nothing matches, or it could not be looked for; why.
    NotMatched { why: String },
    /// Several live resources match; none is chosen.
    Ambiguous {
        candidates: Vec<String>,
        by: Vec<String>,
    },
}

/// One resource's line of the import.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What import found, and the state it would write.
#[derive(Debug, Clone)]
pub struct Import {
    pub items: Vec<Item>,
    /// `state` with every matched resource recorded (status `ready`, the live props and
    /// outputs as read).
    pub state: StateFile,
}

impl Import {
    /// The matched resources.
    pub fn matched(&self) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(|i| matches!(i.outcome, Outcome::Matched { .. }))
    }

    /// Whether any resource matched more than one live resource.
    pub fn ambiguous(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i.outcome, Outcome::Ambiguous { .. }))
    }
}

/// Looks for every resource of `stack` the state does not record, in dependency order. Reads
/// only. Errors: a read that still fails after the refresh's retries, a kind with no provider,
/// a prop the stack cannot resolve.
pub async fn find(
    stack: &Stack,
    state: &StateFile,
    providers: &dyn Providers,
) -> Result<Import, EngineError> {
    let graph = stack
        .resources
        .iter()
        .map(|(n, r)| (n.as_str(), r.deps.iter().map(String::as_str).collect()))
        .collect();
    let order: Vec<String> = topo_order(&graph).into_iter().map(str::to_string).collect();
    let mut scratch = state.clone();
    let mut items = Vec::new();
    for name in order {
        let res = &stack.resources[&name];
        let kind = res.kind.clone();
        if let Some(rec) = state.resources.get(&name) {
            items.push(Item {
                resource: name.clone(),
                kind,
                outcome: Outcome::Managed {
                    physical_id: rec.physical_id.clone().unwrap_or_default(),
                },
            });
            continue;
        }
        let unmatched: Vec<&str> = res
            .deps
            .iter()
            .filter(|d| !scratch.resources.contains_key(*d))
            .map(String::as_str)
            .collect();
        let provider = providers
            .get(&kind)
            .ok_or_else(|| EngineError::UnknownKind(kind.clone()))?;
        // A resource whose parent was not matched is not looked for: found by its own name
        // alone, it would be recorded under a parent the stack does not have, and the next
        // `up` would replace it (a subnet "moving" to the stack's new VPC).
        if !unmatched.is_empty() {
            items.push(not_matched(
                &name,
                &kind,
                format!("it refers to {}, not matched", unmatched.join(", ")),
            ));
            continue;
        }
        // The props as they resolve against what is recorded and matched so far.
        let opts = PlanOptions {
            refresh: false,
            destroy: false,
            parallelism: 1,
        };
        let (_, resolved) = plan::plan(stack, &scratch, providers, opts).await?;
        let props = resolved
            .get(&name)
            .map(|r| r.value.clone())
            .unwrap_or(Value::Null);
        let token = uuid::Uuid::new_v4().to_string();
        let cx = Cx::new(stack, &name, &token, false);
        let bound = provider.info().timeout.min(plan::READ_RETRY_BOUND);
        let looked = super::policy::read_with_retries(bound, || provider.find(&cx, &props)).await;
        let found = match looked {
            Ok(f) => f,
            Err(ProviderError::Unsupported(why)) => {
                items.push(not_matched(&name, &kind, why));
                continue;
            }
            Err(ProviderError::Invalid(_)) if !unmatched.is_empty() => {
                items.push(not_matched(
                    &name,
                    &kind,
                    format!("it refers to {}, not matched", unmatched.join(", ")),
                ));
                continue;
            }
            Err(e) => {
                return Err(EngineError::Read {
                    resource: name,
                    source: e,
                })
            }
        };
        match found.as_slice() {
            [] => {
                let why = if unmatched.is_empty() {
                    "no live resource has the name (or the tags) the stack gives it".to_string()
                } else {
                    format!(
                        "nothing found; it refers to {}, not matched",
                        unmatched.join(", ")
                    )
                };
                items.push(not_matched(&name, &kind, why));
            }
            [one] => {
                let live = super::policy::read_with_retries(bound, || {
                    provider.read(&cx, &one.physical_id, &props)
                })
                .await
                .map_err(|source| EngineError::Read {
                    resource: name.clone(),
                    source,
                })?;
                let Some(live) = live else {
                    items.push(not_matched(
                        &name,
                        &kind,
                        format!("{} was found but is gone when read", one.physical_id),
                    ));
                    continue;
                };
                let secrets: Vec<String> = provider
                    .info()
                    .secret
                    .iter()
                    .filter(|s| live.props.get(**s).is_some())
                    .map(|s| format!("/{s}"))
                    .collect();
                scratch.resources.insert(
                    name.clone(),
                    ResourceState {
                        kind: kind.clone(),
                        status: Status::Ready,
                        token,
                        physical_id: Some(one.physical_id.clone()),
                        props: redact(&scratch.salt, &live.props, &secrets),
                        secret_paths: secrets,
                        outputs: live.outputs,
                        depends_on: res.deps.iter().cloned().collect(),
                        deposed: Vec::new(),
                        last_error: None,
                        updated_at: now(),
                    },
                );
                items.push(Item {
                    resource: name.clone(),
                    kind,
                    outcome: Outcome::Matched {
                        physical_id: one.physical_id.clone(),
                        by: one.by.to_string(),
                    },
                });
            }
            many => items.push(Item {
                resource: name.clone(),
                kind,
                outcome: Outcome::Ambiguous {
                    candidates: many.iter().map(|f| f.physical_id.clone()).collect(),
                    by: many.iter().map(|f| f.by.to_string()).collect(),
                },
            }),
        }
    }
    // A holder's live props list its parts too (a role's inline policies); what a part of the
    // stack owns is the part's, as refresh strips it, or `diff` would see it as drift for ever.
    let matched: Vec<String> = items
        .iter()
        .filter(|i| matches!(i.outcome, Outcome::Matched { .. }))
        .map(|i| i.resource.clone())
        .collect();
    for name in matched {
        let mut props = scratch.resources[&name].props.clone();
        super::parts::strip_parts(&scratch, providers, &name, &mut props);
        if let Some(r) = scratch.resources.get_mut(&name) {
            r.props = props;
        }
    }
    Ok(Import {
        items,
        state: scratch,
    })
}

fn not_matched(name: &str, kind: &str, why: String) -> Item {
    Item {
        resource: name.to_string(),
        kind: kind.to_string(),
        outcome: Outcome::NotMatched { why },
    }
}
