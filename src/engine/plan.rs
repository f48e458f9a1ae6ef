//! Plan: desired (stack) vs recorded (state) vs live (the service) → what each resource needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diff::{diff_with, pointer_of, Rules};
use super::parts::strip_parts;
use super::provider::{Cx, Live, Providers};
use super::EngineError;
use crate::dag::{topo_order, walk, Walked};
use crate::stack::resolve::{self, contains_unknown, is_unknown, Lookup, Resolved};
use crate::stack::Stack;
use crate::state::model::secret_digest;
use crate::state::{StateFile, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    NoOp,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::NoOp => " ",
        }
    }
}

/// Why a resource gets its action when its fields alone do not say, as Terraform's
/// `ResourceInstanceChangeActionReason` (internal/plans/changes.go). Serialised as
/// `{"reason": "<text>", "reason_code": "<code>"}`: the code is stable for programs, the text
/// is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReason {
    #[serde(rename = "reason_code")]
    pub code: ReasonCode,
    #[serde(rename = "reason")]
    pub text: String,
}

/// The stable part of an [`ActionReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Create: an earlier run started the creation and did not finish; this one resumes it.
    ResumedCreate,
    /// Replace: the resource's type changed in the stack.
    KindChanged,
    /// Replace: the service reported the resource failed.
    PreviousFailure,
    /// Replace: an earlier run started deleting it.
    DeletionInterrupted,
    /// Create: recorded, but it no longer exists in the service.
    DeletedOutside,
    /// Delete: recorded, but no longer in the stack for this env.
    NotInStack,
    /// Replace: its props changed and its kind has no in-place update
    /// ([`crate::kind::KindInfo::updates`]).
    CannotUpdate,
}

impl ActionReason {
    fn new(code: ReasonCode, text: String) -> Self {
        ActionReason { code, text }
    }
}

/// One field's change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub forces_replacement: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub sensitive: bool,
    pub known_after_apply: bool,
}

/// What one resource needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourcePlan {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: Action,
    /// Why, when the fields alone do not say (a resumed creation, a resource deleted outside):
    /// `"reason"` (text) and `"reason_code"` (stable) in the JSON.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ActionReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    pub changes: Vec<FieldChange>,
    pub depends_on: Vec<String>,
    /// The replacement creates the new one before deleting the old.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub no_op: usize,
}

/// The whole plan; resources in the order they would be applied, deletions last.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub env: String,
    pub changes: bool,
    pub summary: Summary,
    pub resources: Vec<ResourcePlan>,
}

impl Plan {
    pub fn new(stack: &str, env: &str, resources: Vec<ResourcePlan>) -> Self {
        let count = |a: Action| resources.iter().filter(|r| r.action == a).count();
        let summary = Summary {
            create: count(Action::Create),
            update: count(Action::Update),
            replace: count(Action::Replace),
            delete: count(Action::Delete),
            no_op: count(Action::NoOp),
        };
        Plan {
            format_version: 1,
            stack: stack.into(),
            env: env.into(),
            changes: resources.iter().any(|r| r.action != Action::NoOp),
            summary,
            resources,
        }
    }

    pub fn get(&self, name: &str) -> Option<&ResourcePlan> {
        self.resources.iter().find(|r| r.name == name)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
    /// Read live state from the services (off: trust what is recorded).
    pub refresh: bool,
    /// Plan the deletion of everything recorded.
    pub destroy: bool,
    pub parallelism: usize,
}

/// Answers `${name.attr}` from recorded state and resolved props.
pub fn lookup_in(
    state: &StateFile,
    props: &BTreeMap<String, Resolved>,
    unknown: &dyn Fn(&str, &str) -> bool,
    secret_outputs: &dyn Fn(&str, &str) -> bool,
    name: &str,
    attr: &str,
) -> Lookup {
    if let Some(p) = props.get(name) {
        if let Some(v) = p.value.get(attr) {
            if !is_unknown(v) {
                let secret = p
                    .secret_paths
                    .iter()
                    .any(|s| s == &format!("/{attr}") || s.starts_with(&format!("/{attr}/")));
                return Lookup::Known {
                    value: v.clone(),
                    secret,
                };
            }
        }
    }
    if unknown(name, attr) {
        return Lookup::Unknown;
    }
    let Some(rec) = state.resources.get(name) else {
        return Lookup::Unknown;
    };
    if let Some(v) = rec.outputs.get(attr) {
        return Lookup::Known {
            value: v.clone(),
            secret: secret_outputs(name, attr),
        };
    }
    // A prop of an applied resource, as recorded; a secret one is only a digest there.
    let is_secret = rec
        .secret_paths
        .iter()
        .any(|s| s == &format!("/{attr}") || s.starts_with(&format!("/{attr}/")));
    match rec.props.get(attr) {
        Some(v) if !is_secret => Lookup::Known {
            value: v.clone(),
            secret: false,
        },
        _ => Lookup::Unknown,
    }
}

/// How long a refresh keeps retrying one resource's read that fails with a retryable error (a
/// throttle, a 5xx, a lost answer) before the plan gives up on it.
pub(crate) const READ_RETRY_BOUND: std::time::Duration = std::time::Duration::from_secs(120);

/// Reads the live form of every recorded resource, `parallelism` at a time. A read that fails
/// with an error worth retrying ([`crate::engine::policy::on_error`]) is retried with backoff
/// for up to [`READ_RETRY_BOUND`] (or the kind's timeout, if shorter); the first read that
/// still fails ends the refresh with [`EngineError::Read`].
pub async fn refresh(
    stack: &Stack,
    state: &StateFile,
    providers: &dyn Providers,
    parallelism: usize,
) -> Result<BTreeMap<String, Option<Live>>, EngineError> {
    let mut reads = Vec::new();
    for (name, rec) in &state.resources {
        let Some(pid) = rec.physical_id.clone() else {
            continue;
        };
        if rec.status == Status::Creating {
            continue;
        }
        let provider = providers
            .get(&rec.kind)
            .ok_or_else(|| EngineError::UnknownKind(rec.kind.clone()))?;
        let cx = Cx::new(stack, name, &rec.token, false);
        reads.push((name.clone(), provider, cx, pid, rec.props.clone()));
    }
    let reads = Arc::new(reads);
    let independent = vec![Vec::new(); reads.len()];
    let walked = walk(
        &independent,
        parallelism,
        std::future::pending(),
        || {},
        |i| {
            let reads = reads.clone();
            async move {
                let (_, provider, cx, pid, recorded) = &reads[i];
                let bound = provider.info().timeout.min(READ_RETRY_BOUND);
                crate::engine::policy::read_with_retries(bound, || provider.read(cx, pid, recorded))
                    .await
            }
        },
    )
    .await;
    let mut out = BTreeMap::new();
    for (i, w) in walked.into_iter().enumerate() {
        let resource = reads[i].0.clone();
        match w {
            Walked::Done(live) => {
                out.insert(resource, live);
            }
            Walked::Failed(source) => return Err(EngineError::Read { resource, source }),
            Walked::Panicked(message) => return Err(EngineError::Panicked { resource, message }),
            Walked::NotStarted => {}
        }
    }
    Ok(out)
}

/// Every secret pointer of a resource: derived from secret params plus the kind's secret props.
pub fn secret_pointers(resolved: &Resolved, kind_secret: &[&str]) -> Vec<String> {
    let mut v = resolved.secret_paths.clone();
    for s in kind_secret {
        if resolved.value.get(*s).is_some() {
            v.push(format!("/{s}"));
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Computes the plan: for each wanted resource in dependency order, resolve its props
/// (references, `prepare`, secrets), [`decide`] from what is recorded, and [`compare`] field by
/// field where the recorded resource is healthy; then what is recorded but no longer wanted is
/// deleted, dependents first.
/// Kinds whose `name` names one thing in the account and region (or, for buckets, the world),
/// with what else scopes it: two resources of one of these with the same name would be the same
/// AWS resource (the second create finds the first's; S3 in us-east-1 answers 200 to
/// CreateBucket of one's own bucket) and would take turns changing it.
const UNIQUE_NAMES: &[(&str, &[&str])] = &[
    ("s3.bucket", &[]),
    ("iam.role", &[]),
    ("iam.instance_profile", &[]),
    ("kinesis.stream", &[]),
    ("ec2.key_pair", &[]),
    ("ec2.security_group", &["vpc_id"]),
    ("msk.cluster", &[]),
    ("msk.topic", &["cluster_arn"]),
    ("mskconnect.connector", &[]),
    ("mskconnect.custom_plugin", &[]),
    ("mskconnect.worker_configuration", &[]),
    ("mwaa.environment", &[]),
    ("elbv2.load_balancer", &[]),
    ("elbv2.target_group", &[]),
    ("apigateway.vpc_link", &[]),
];

/// Refuses a plan in which two resources would be one AWS resource ([`UNIQUE_NAMES`]), naming
/// both, before anything is created.
fn same_names(stack: &Stack, resolved: &BTreeMap<String, Resolved>) -> Result<(), EngineError> {
    let mut seen: BTreeMap<(&str, Vec<String>), &str> = BTreeMap::new();
    for (name, r) in resolved {
        let kind = stack.resources[name].kind.as_str();
        let Some((_, scope)) = UNIQUE_NAMES.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        let Some(n) = r.value.get("name").and_then(Value::as_str) else {
            continue;
        };
        if contains_unknown(&r.value["name"]) {
            continue;
        }
        let mut key = vec![n.to_string()];
        key.extend(
            scope
                .iter()
                .map(|s| r.value.get(*s).map(Value::to_string).unwrap_or_default()),
        );
        if let Some(other) = seen.insert((kind, key), name) {
            return Err(EngineError::Prepare {
                resource: name.clone(),
                message: format!(
                    "`{other}` and `{name}` are both {kind} named `{n}`: they would be one {kind} in AWS, changed by both; give each its own name"
                ),
            });
        }
    }
    Ok(())
}

pub async fn plan(
    stack: &Stack,
    state: &StateFile,
    providers: &dyn Providers,
    opts: PlanOptions,
) -> Result<(Plan, BTreeMap<String, Resolved>), EngineError> {
    let live = if opts.refresh {
        refresh(stack, state, providers, opts.parallelism).await?
    } else {
        BTreeMap::new()
    };
    let wanted: BTreeMap<&str, Vec<&str>> = if opts.destroy {
        BTreeMap::new()
    } else {
        stack
            .resources
            .iter()
            .map(|(n, r)| (n.as_str(), r.deps.iter().map(String::as_str).collect()))
            .collect()
    };
    let order = topo_order(&wanted);
    let mut plans: Vec<ResourcePlan> = Vec::new();
    let mut resolved: BTreeMap<String, Resolved> = BTreeMap::new();
    let mut pending: BTreeMap<String, Action> = BTreeMap::new();
    for name in order {
        let res = &stack.resources[name];
        let provider = providers
            .get(&res.kind)
            .ok_or_else(|| EngineError::UnknownKind(res.kind.clone()))?;
        let info = provider.info().clone();
        let r = {
            let unknown = |n: &str, a: &str| match pending.get(n) {
                Some(Action::Create | Action::Replace) => true,
                Some(Action::Update) => stack
                    .resources
                    .get(n)
                    .and_then(|r| providers.get(&r.kind))
                    .is_some_and(|p| p.info().volatile_outputs.contains(&a)),
                _ => false,
            };
            let secret_out = |n: &str, a: &str| {
                stack
                    .resources
                    .get(n)
                    .and_then(|r| providers.get(&r.kind))
                    .is_some_and(|p| p.info().secret.contains(&a))
            };
            let lookup =
                |n: &str, a: &str| lookup_in(state, &resolved, &unknown, &secret_out, n, a);
            resolve::resolve(stack, &res.props, &lookup)
        };
        let mut r = r;
        if let Some(prepare) = info.prepare {
            prepare(&mut r.value, &stack.root).map_err(|message| EngineError::Prepare {
                resource: name.to_string(),
                message,
            })?;
        }
        // What the stack leaves out is wanted at its default.
        info.complete(&mut r.value);
        let problems = violations(&info, name, &r.value);
        if !problems.is_empty() {
            return Err(EngineError::Invalid {
                resource: name.to_string(),
                problems,
            });
        }
        let secrets = secret_pointers(&r, info.secret);
        let recorded = state.resources.get(name);
        let mut plan = ResourcePlan {
            name: name.to_string(),
            kind: res.kind.clone(),
            action: Action::NoOp,
            reason: None,
            physical_id: recorded.and_then(|x| x.physical_id.clone()),
            changes: Vec::new(),
            depends_on: res.deps.iter().cloned().collect(),
            create_before_destroy: info.create_before_destroy,
        };
        let live_now = match live.get(name) {
            Some(Some(l)) => {
                let mut props = l.props.clone();
                strip_parts(state, providers, name, &mut props);
                Some(props)
            }
            _ => None,
        };
        let gone = opts.refresh && matches!(live.get(name), Some(None));
        let (action, reason) = decide(recorded, &res.kind, gone, || {
            compare(
                &info,
                &r,
                &secrets,
                &state.salt,
                recorded,
                live_now.as_ref(),
            )
        });
        plan.changes = match (&action, &reason) {
            (Decision::Compared(changes), _) => changes.clone(),
            _ => all_new(&r, &secrets),
        };
        plan.action = action.action(&plan.changes);
        plan.reason = reason.or_else(|| cannot_update(&info, plan.action, &plan.changes));
        pending.insert(name.to_string(), plan.action);
        resolved.insert(name.to_string(), r);
        plans.push(plan);
    }
    same_names(stack, &resolved)?;
    // Recorded but no longer wanted: delete, dependents first.
    let gone: BTreeMap<&str, Vec<&str>> = state
        .resources
        .iter()
        .filter(|(n, _)| opts.destroy || !stack.resources.contains_key(*n))
        .map(|(n, r)| {
            (
                n.as_str(),
                r.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut delete_order = topo_order(&gone);
    delete_order.reverse();
    for name in delete_order {
        let rec = &state.resources[name];
        let reason = if opts.destroy {
            None
        } else {
            Some(ActionReason::new(
                ReasonCode::NotInStack,
                "it is no longer in the stack for this env".into(),
            ))
        };
        plans.push(ResourcePlan {
            name: name.to_string(),
            kind: rec.kind.clone(),
            action: Action::Delete,
            reason,
            physical_id: rec.physical_id.clone(),
            changes: Vec::new(),
            depends_on: rec.depends_on.clone(),
            create_before_destroy: false,
        });
    }
    Ok((Plan::new(&stack.name, &stack.env, plans), resolved))
}

/// Every desired field as new (a creation or a replacement shows the whole resource).
fn all_new(r: &Resolved, secrets: &[String]) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if let Value::Object(m) = &r.value {
        for (k, v) in m {
            let sensitive = secrets
                .iter()
                .any(|s| s == &format!("/{k}") || s.starts_with(&format!("/{k}/")));
            out.push(FieldChange {
                path: k.clone(),
                old: None,
                new: Some(if sensitive && !contains_unknown(v) {
                    sensitive_marker()
                } else {
                    v.clone()
                }),
                forces_replacement: false,
                reason: None,
                sensitive,
                known_after_apply: contains_unknown(v),
            });
        }
    }
    out
}

/// Compare: the desired props against the live ones (or, without a refresh, the recorded
/// ones, completed with the kind's defaults), field by field under the kind's [`Rules`] (sets,
/// exclusive maps), secrets by their salted digest, each change marked with whether the kind
/// must replace the resource to make it.
fn compare(
    info: &crate::kind::KindInfo,
    desired: &Resolved,
    secrets: &[String],
    salt: &str,
    recorded: Option<&crate::state::ResourceState>,
    live: Option<&Value>,
) -> Vec<FieldChange> {
    let Some(rec) = recorded else {
        return Vec::new();
    };
    let mut baseline = live.cloned().unwrap_or_else(|| {
        let mut recorded = rec.props.clone();
        info.complete(&mut recorded);
        recorded
    });
    // Secrets are compared by digest: the state holds nothing else. A live value the service
    // returns is digested with the same salt, so one changed by hand is a change (as `diff`
    // reports it); one it does not return is taken as recorded.
    for p in secrets {
        let live_digest = live
            .and_then(|l| l.pointer(p))
            .filter(|v| !v.is_null())
            .map(|v| crate::state::model::secret_digest(salt, v));
        let digest = live_digest
            .or_else(|| rec.props.pointer(p).cloned())
            .unwrap_or(Value::Null);
        if let Some(slot) = baseline.pointer_mut(p) {
            *slot = digest;
        } else if let Value::Object(m) = &mut baseline {
            m.insert(p.trim_start_matches('/').to_string(), digest);
        }
    }
    let want = redact_known(salt, &desired.value, secrets);
    diff_with(&Rules::of(info), &want, &baseline)
        .into_iter()
        .map(|d| {
            let ptr = pointer_of(&d.path);
            let sensitive = secrets
                .iter()
                .any(|s| ptr == *s || ptr.starts_with(&format!("{s}/")));
            let reason = info.replace_reason(&d.path).map(str::to_string);
            let unknown = d.new.as_ref().is_some_and(contains_unknown);
            let hide = |v: Option<Value>| match v {
                Some(v) if sensitive && !contains_unknown(&v) => Some(sensitive_marker()),
                other => other,
            };
            FieldChange {
                path: d.path,
                old: hide(d.old),
                new: hide(d.new),
                forces_replacement: reason.is_some(),
                reason,
                sensitive,
                known_after_apply: unknown,
            }
        })
        .collect()
}

/// What [`decide`] concluded before the field changes are known.
enum Decision {
    Create,
    Replace,
    /// The recorded resource is healthy: the field changes decide.
    Compared(Vec<FieldChange>),
}

impl Decision {
    fn action(&self, changes: &[FieldChange]) -> Action {
        match self {
            Decision::Create => Action::Create,
            Decision::Replace => Action::Replace,
            Decision::Compared(_) if changes.is_empty() => Action::NoOp,
            Decision::Compared(_) if changes.iter().any(|c| c.forces_replacement) => {
                Action::Replace
            }
            Decision::Compared(_) => Action::Update,
        }
    }
}

/// Decide: from what is recorded (and whether the live resource is gone) the action a
/// resource needs and why; only a healthy recorded resource is compared field by field.
fn decide(
    recorded: Option<&crate::state::ResourceState>,
    kind: &str,
    gone: bool,
    compare: impl FnOnce() -> Vec<FieldChange>,
) -> (Decision, Option<ActionReason>) {
    let because = |code, text: String| Some(ActionReason::new(code, text));
    match recorded {
        None => (Decision::Create, None),
        Some(rec) if rec.status == Status::Creating => (
            Decision::Create,
            because(
                ReasonCode::ResumedCreate,
                format!("resumes the creation interrupted at {}", rec.updated_at),
            ),
        ),
        Some(rec) if rec.kind != kind => (
            Decision::Replace,
            because(
                ReasonCode::KindChanged,
                format!("its type changed from `{}` to `{kind}`", rec.kind),
            ),
        ),
        Some(rec) if rec.status == Status::Failed => (
            Decision::Replace,
            because(
                ReasonCode::PreviousFailure,
                format!(
                    "the service reported it failed: {}",
                    rec.last_error.clone().unwrap_or_default()
                ),
            ),
        ),
        Some(rec) if rec.status == Status::Deleting => (
            Decision::Replace,
            because(
                ReasonCode::DeletionInterrupted,
                "its deletion was interrupted".into(),
            ),
        ),
        Some(_) if gone => (
            Decision::Create,
            because(
                ReasonCode::DeletedOutside,
                "it no longer exists (deleted outside pinctl)".into(),
            ),
        ),
        Some(_) => (Decision::Compared(compare()), None),
    }
}

/// Why a compared resource is replaced when only its kind's lack of an in-place update forces
/// it (no changed field is one the kind declares as replacing).
fn cannot_update(
    info: &crate::kind::KindInfo,
    action: Action,
    changes: &[FieldChange],
) -> Option<ActionReason> {
    let forced_by_kind = action == Action::Replace
        && !info.updates
        && changes
            .iter()
            .all(|c| info.declared_replace_reason(&c.path).is_none());
    forced_by_kind.then(|| {
        ActionReason::new(
            ReasonCode::CannotUpdate,
            format!(
                "`{}` cannot be updated in place: any change replaces it",
                info.name
            ),
        )
    })
}

/// Desired props with secrets replaced by their digest (unknown values stay unknown).
fn redact_known(salt: &str, v: &Value, secrets: &[String]) -> Value {
    let mut out = v.clone();
    for p in secrets {
        if let Some(slot) = out.pointer_mut(p) {
            if !contains_unknown(slot) {
                *slot = secret_digest(salt, slot);
            }
        }
    }
    out
}

/// What a plan shows instead of a secret.
pub fn sensitive_marker() -> Value {
    Value::String("(sensitive)".into())
}

/// The schema constraints (patterns, lengths, list sizes, ranges:
/// [`crate::stack::constraints`]) resolved `props` of resource `resource` break, each as
/// `` `resources.R.props.P`: why ``.
pub(crate) fn violations(
    info: &crate::kind::KindInfo,
    resource: &str,
    props: &Value,
) -> Vec<String> {
    let schema = info.schema_json();
    crate::stack::constraints::resolved_violations(
        &schema,
        &schema,
        props,
        &format!("resources.{resource}.props"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kind::KindInfo;
    use crate::state::ResourceState;

    fn recorded(props: Value) -> ResourceState {
        ResourceState {
            kind: "test.thing".into(),
            status: Status::Ready,
            token: "t".into(),
            physical_id: Some("thing-1".into()),
            props,
            secret_paths: Vec::new(),
            outputs: Default::default(),
            depends_on: Vec::new(),
            deposed: Vec::new(),
            last_error: None,
            updated_at: "2026-12-01T00:00:00Z".into(),
        }
    }

    /// The action and reason [`plan`] gives a healthy recorded resource of `info` whose props
    /// change from `old` to `new`.
    fn planned(info: &KindInfo, old: Value, new: Value) -> (Action, Option<ActionReason>) {
        let rec = recorded(old);
        let desired = Resolved {
            value: new,
            secret_paths: Vec::new(),
        };
        let (decision, reason) = decide(Some(&rec), "test.thing", false, || {
            compare(info, &desired, &[], "salt", Some(&rec), None)
        });
        let Decision::Compared(changes) = &decision else {
            panic!("a healthy resource is compared");
        };
        let action = decision.action(changes);
        (
            action,
            reason.or_else(|| cannot_update(info, action, changes)),
        )
    }

    #[test]
    fn a_kind_without_update_is_replaced_on_any_change_and_the_plan_says_why() {
        let info = KindInfo::new("test.thing", "a thing")
            .replace(&[("name", "a thing cannot be renamed")])
            .no_update();
        let (action, reason) = planned(
            &info,
            json!({"name": "a", "size": 1}),
            json!({"name": "a", "size": 2}),
        );
        assert_eq!(action, Action::Replace);
        let reason = reason.expect("a reason");
        assert_eq!(reason.code, ReasonCode::CannotUpdate);
        assert_eq!(
            reason.text,
            "`test.thing` cannot be updated in place: any change replaces it"
        );
        let rec = recorded(json!({"name": "a", "size": 1}));
        let desired = Resolved {
            value: json!({"name": "a", "size": 2}),
            secret_paths: Vec::new(),
        };
        let changes = compare(&info, &desired, &[], "salt", Some(&rec), None);
        assert!(changes[0].forces_replacement);
        assert_eq!(changes[0].reason.as_deref(), Some(KindInfo::CANNOT_UPDATE));
        assert_eq!(
            serde_json::to_value(&reason).unwrap()["reason_code"],
            "cannot_update"
        );
    }

    #[test]
    fn a_kind_without_update_replaced_for_a_declared_field_keeps_the_field_reason() {
        let info = KindInfo::new("test.thing", "a thing")
            .replace(&[("name", "a thing cannot be renamed")])
            .no_update();
        let (action, reason) = planned(&info, json!({"name": "a"}), json!({"name": "b"}));
        assert_eq!(action, Action::Replace);
        assert_eq!(reason, None);
    }

    #[test]
    fn a_kind_with_update_is_updated_in_place_and_unchanged_is_a_no_op() {
        let info = KindInfo::new("test.thing", "a thing")
            .replace(&[("name", "a thing cannot be renamed")]);
        let (action, reason) = planned(
            &info,
            json!({"name": "a", "size": 1}),
            json!({"name": "a", "size": 2}),
        );
        assert_eq!((action, reason), (Action::Update, None));
        let no_update = info.clone().no_update();
        let (action, reason) = planned(&no_update, json!({"name": "a"}), json!({"name": "a"}));
        assert_eq!((action, reason), (Action::NoOp, None));
    }
}
