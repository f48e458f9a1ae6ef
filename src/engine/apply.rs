//! Apply: walks the plan's operations in dependency order, in parallel up to a bound, waits
//! for each with backoff and a timeout, records every step in state before and after it, and
//! stops starting new work at the first failure while in-flight work finishes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::backoff::Backoff;
use super::diff::{diff_with, Rules};
use super::hooks::{Hooks, OpRef};
use super::plan::{lookup_in, secret_pointers, Action, Plan};
use super::policy::{on_error, Call, OnError};
use super::progress;
use super::provider::{Cx, Poll, Provider, ProviderError, Providers};
use super::EngineError;
use crate::dag::{walk, Walked};
use crate::stack::resolve::{self, contains_unknown, Resolved};
use crate::stack::Stack;
use crate::state::model::{now, redact, Deposed};
use crate::state::{ResourceState, StateStore, Status};

/// How long after a run recorded a creation its request may still land in the service. A
/// killed client's request, once sent, is processed regardless (the SDK's default operation
/// timeout is unset, and a service finishes what it accepted); a describe that runs sooner can
/// miss it. State times are whole seconds, so the window is generous.
pub const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(10);

/// How many times a creation is tried within a run before its error stops the operation.
pub const CREATE_ATTEMPTS: u32 = 5;

/// What is left of [`IN_FLIGHT_WINDOW`] at `now` for a creation recorded at `recorded_at`
/// (RFC 3339, as state keeps it); `None` once it has passed or when the time does not parse.
fn in_flight_window_left(recorded_at: &str, now: SystemTime) -> Option<Duration> {
    let at = humantime::parse_rfc3339(recorded_at).ok()?;
    let since = now.duration_since(at).unwrap_or_default();
    IN_FLIGHT_WINDOW
        .checked_sub(since)
        .filter(|left| !left.is_zero())
}

/// The operations `apply` runs on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Delete,
    /// Deletes the previous instance once its replacement is in use.
    DeleteDeposed,
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.verb().0)
    }
}

impl OpKind {
    /// The present participle and the past tense, for progress lines.
    pub fn verb(self) -> (&'static str, &'static str) {
        match self {
            OpKind::Create => ("creating", "created"),
            OpKind::Update => ("updating", "updated"),
            OpKind::Delete => ("deleting", "deleted"),
            OpKind::DeleteDeposed => ("deleting the replaced", "deleted the replaced"),
        }
    }
}

#[derive(Debug, Clone)]
struct Op {
    resource: String,
    kind: OpKind,
    deps: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Failed,
    /// Not started: an earlier failure or an interrupt stopped new work.
    Skipped,
}

/// How one operation ended; `error` is the failure rendered for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpResult {
    pub resource: String,
    pub operation: OpKind,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seconds: f64,
}

/// What `apply` did: `ok` when every operation is done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyReport {
    pub ok: bool,
    pub operations: Vec<OpResult>,
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// How many operations run at once.
    pub parallelism: usize,
}

/// The operations a plan needs and what each waits for.
fn operations(plan: &Plan, store_deps: &BTreeMap<String, Vec<String>>) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut build: BTreeMap<&str, usize> = BTreeMap::new();
    let mut delete: BTreeMap<&str, usize> = BTreeMap::new();
    let mut deposed: BTreeMap<&str, usize> = BTreeMap::new();
    for rp in &plan.resources {
        let mut push = |kind| {
            ops.push(Op {
                resource: rp.name.clone(),
                kind,
                deps: Vec::new(),
            });
            ops.len() - 1
        };
        match rp.action {
            Action::NoOp => {}
            Action::Create => {
                build.insert(&rp.name, push(OpKind::Create));
            }
            Action::Update => {
                build.insert(&rp.name, push(OpKind::Update));
            }
            Action::Replace if rp.create_before_destroy => {
                build.insert(&rp.name, push(OpKind::Create));
                deposed.insert(&rp.name, push(OpKind::DeleteDeposed));
            }
            Action::Replace => {
                delete.insert(&rp.name, push(OpKind::Delete));
                build.insert(&rp.name, push(OpKind::Create));
            }
            Action::Delete => {
                delete.insert(&rp.name, push(OpKind::Delete));
            }
        }
    }
    let removed = |n: &str| plan.get(n).is_some_and(|r| r.action == Action::Delete);
    for rp in &plan.resources {
        if let Some(&i) = build.get(rp.name.as_str()) {
            for d in &rp.depends_on {
                if let Some(&j) = build.get(d.as_str()) {
                    ops[i].deps.push(j);
                }
            }
            if let Some(&j) = delete.get(rp.name.as_str()) {
                ops[i].deps.push(j);
            }
        }
        if let Some(&i) = delete.get(rp.name.as_str()) {
            // Whatever was recorded as depending on it goes first.
            for (other, deps) in store_deps {
                if !deps.iter().any(|d| d == &rp.name) {
                    continue;
                }
                if let Some(&j) = delete.get(other.as_str()) {
                    ops[i].deps.push(j);
                }
                if removed(&rp.name) {
                    if let Some(&j) = build.get(other.as_str()) {
                        ops[i].deps.push(j);
                    }
                }
            }
        }
        if let Some(&i) = deposed.get(rp.name.as_str()) {
            if let Some(&j) = build.get(rp.name.as_str()) {
                ops[i].deps.push(j);
            }
            for other in &plan.resources {
                if other.depends_on.iter().any(|d| d == &rp.name) {
                    if let Some(&j) = build.get(other.name.as_str()) {
                        ops[i].deps.push(j);
                    }
                }
            }
        }
    }
    for op in &mut ops {
        op.deps.sort_unstable();
        op.deps.dedup();
    }
    ops
}

struct Shared {
    stack: Stack,
    plan: Plan,
    store: StateStore,
    providers: Arc<dyn Providers>,
    hooks: Arc<dyn Hooks>,
}

/// A provider error of one operation, with the resource and operation it belongs to.
fn op_error(op: &OpRef) -> impl Fn(ProviderError) -> EngineError + '_ {
    move |source| EngineError::Op {
        resource: op.resource.clone(),
        op: op.operation,
        source,
    }
}

impl Shared {
    fn provider(&self, kind: &str) -> Result<Arc<dyn Provider>, EngineError> {
        self.providers
            .get(kind)
            .ok_or_else(|| EngineError::UnknownKind(kind.to_string()))
    }

    fn cx(&self, name: &str, token: &str, resuming: bool) -> Cx {
        Cx::new(&self.stack, name, token, resuming)
    }

    async fn resolve(&self, name: &str) -> Result<Resolved, EngineError> {
        let snap = self.store.snapshot().await;
        let res = &self.stack.resources[name];
        let none = BTreeMap::new();
        let unknown = |_: &str, _: &str| false;
        let secret_out = |n: &str, a: &str| {
            self.stack
                .resources
                .get(n)
                .and_then(|r| self.providers.get(&r.kind))
                .is_some_and(|p| p.info().secret.contains(&a))
        };
        let lookup = |n: &str, a: &str| lookup_in(&snap, &none, &unknown, &secret_out, n, a);
        let mut r = resolve::resolve(&self.stack, &res.props, &lookup);
        if let Some(prepare) = self.providers.get(&res.kind).and_then(|p| p.info().prepare) {
            prepare(&mut r.value, &self.stack.root).map_err(|message| EngineError::Prepare {
                resource: name.to_string(),
                message,
            })?;
        }
        if let Some(p) = self.providers.get(&res.kind) {
            p.info().complete(&mut r.value);
            let problems = super::plan::violations(p.info(), name, &r.value);
            if !problems.is_empty() {
                return Err(EngineError::Invalid {
                    resource: name.to_string(),
                    problems,
                });
            }
        }
        if contains_unknown(&r.value) {
            return Err(EngineError::Unresolved {
                resource: name.to_string(),
                paths: unknown_paths(&r.value, ""),
            });
        }
        Ok(r)
    }

    /// Changes the recorded resources, then tells the hooks what each touched entry became.
    async fn record(
        &self,
        name: &str,
        f: impl FnOnce(&mut BTreeMap<String, ResourceState>),
    ) -> Result<(), EngineError> {
        let status = self
            .store
            .update(|s| {
                f(&mut s.resources);
                s.resources.get(name).map(|r| r.status)
            })
            .await?;
        self.hooks.state_recorded(name, status);
        Ok(())
    }

    /// Calls `f` until it succeeds, retrying what [`on_error`] says to retry.
    async fn retrying<T, Fut>(
        &self,
        call: Call,
        mut f: impl FnMut() -> Fut,
    ) -> Result<T, ProviderError>
    where
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            match f().await {
                Err(e) if on_error(call, &e) == OnError::Retry => {
                    tracing::debug!("retrying after: {e}");
                    progress::report(&format!("retrying: {e}"));
                    backoff.sleep().await;
                }
                other => return other,
            }
        }
    }

    /// Starts a deletion, retried by the policy; a refusal is not a failure when the resource
    /// turns out to be gone (a repeat of a delete that had already run).
    async fn delete_call(
        &self,
        p: &dyn Provider,
        cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<(), ProviderError> {
        match self
            .retrying(Call::Delete, || p.delete(cx, id, recorded))
            .await
        {
            Err(e) if on_error(Call::Delete, &e) == OnError::CheckGone => {
                if self.retrying(Call::Wait, || p.is_deleted(cx, id)).await? {
                    tracing::info!("{}: refused ({e}), but it is gone: deleted", cx.resource);
                    Ok(())
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    async fn wait_ready(
        &self,
        op: &OpRef,
        p: &dyn Provider,
        cx: &Cx,
        id: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            match self.retrying(Call::Wait, || p.poll(cx, id)).await? {
                Poll::Ready(outputs) => return Ok(outputs),
                Poll::Failed(reason) => {
                    return Err(ProviderError::Failed {
                        what: format!("{} ({})", op.resource, op.kind),
                        status: "failed".into(),
                        reason,
                    })
                }
                Poll::Pending(status) => {
                    self.hooks.op_status(op, &status);
                    backoff.sleep().await;
                }
            }
        }
    }

    /// Finds what an interrupted run created (`adopt`). When nothing is found and the run that
    /// recorded the creation did so less than [`IN_FLIGHT_WINDOW`] ago, its request may still be
    /// on its way through the service (accepted, not yet visible to a describe): the window is
    /// waited out and the service asked once more, so a late arrival is adopted rather than
    /// created a second time beside it.
    async fn adopt(
        &self,
        p: &dyn Provider,
        cx: &Cx,
        props: &Value,
        recorded_at: &str,
    ) -> Result<Option<String>, ProviderError> {
        let found = self.retrying(Call::Wait, || p.adopt(cx, props)).await?;
        if found.is_some() {
            return Ok(found);
        }
        let Some(left) = in_flight_window_left(recorded_at, SystemTime::now()) else {
            return Ok(None);
        };
        progress::report(&format!(
            "{}: nothing found yet; giving the interrupted run's request {}s to land",
            cx.resource,
            left.as_secs().max(1)
        ));
        tokio::time::sleep(left).await;
        self.retrying(Call::Wait, || p.adopt(cx, props)).await
    }

    /// Creates the resource. When the call fails in a way that may have made it anyway (its
    /// answer lost: a 5xx, a timeout, a broken connection) or refused it for now (throttled),
    /// looks for it by its token before calling again, at most [`CREATE_ATTEMPTS`] times.
    /// Returns the physical id and whether it was found rather than made by the last call.
    /// From the first failure on, `cx` says the creation is resumed (what exists under its
    /// name may be this run's own).
    async fn create_or_find(
        &self,
        p: &dyn Provider,
        cx: &mut Cx,
        props: &Value,
    ) -> Result<(String, bool), ProviderError> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let mut attempt = 1;
        loop {
            let sent_at = now();
            match p.create(cx, props).await {
                Ok(id) => return Ok((id, false)),
                Err(e)
                    if attempt < CREATE_ATTEMPTS
                        && on_error(Call::Create, &e) == OnError::LookThenRetry =>
                {
                    attempt += 1;
                    progress::report(&format!(
                        "{}: the creation failed ({e}); looking for what it may have made",
                        cx.resource
                    ));
                    cx.resuming = true;
                    // Even a throttle may come from a later call of a create that made the
                    // resource with its first, so the look is never skipped.
                    if let Some(id) = self.adopt(p, cx, props, &sent_at).await? {
                        return Ok((id, true));
                    }
                    backoff.sleep().await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Brings an adopted resource (made by an earlier attempt whose answer was lost, or by a
    /// killed run) to the props wanted now: what that attempt left undone, or what the stack
    /// changed since, is updated in place. Returns the new physical id if the update replaced
    /// it; a resource not visible yet is left to the wait.
    async fn converge(
        &self,
        p: &dyn Provider,
        cx: &Cx,
        id: &str,
        desired: &Value,
    ) -> Result<Option<String>, ProviderError> {
        let info = p.info();
        let Some(live) = self
            .retrying(Call::Wait, || p.read(cx, id, desired))
            .await?
        else {
            return Ok(None);
        };
        let secret = |path: &str| {
            info.secret.iter().any(|s| {
                path == *s
                    || path
                        .strip_prefix(s)
                        .is_some_and(|r| r.starts_with(['.', '[']))
            })
        };
        let changed: Vec<String> = diff_with(&Rules::of(info), desired, &live.props)
            .into_iter()
            .map(|d| d.path)
            .filter(|path| !secret(path))
            .collect();
        if changed.is_empty() || !info.updates {
            return Ok(None);
        }
        progress::report(&format!(
            "{}: found; bringing it to the stack ({})",
            cx.resource,
            changed.join(", ")
        ));
        self.retrying(Call::Update, || {
            p.update(cx, id, &live.props, desired, &changed)
        })
        .await
    }

    async fn wait_deleted(&self, p: &dyn Provider, cx: &Cx, id: &str) -> Result<(), ProviderError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        while !self.retrying(Call::Wait, || p.is_deleted(cx, id)).await? {
            backoff.sleep().await;
        }
        Ok(())
    }

    async fn create(&self, op: &OpRef) -> Result<(), EngineError> {
        let name = op.resource.as_str();
        let err = op_error(op);
        let res = self.stack.resources[name].clone();
        let provider = self.provider(&res.kind)?;
        let info = provider.info().clone();
        let resolved = self.resolve(name).await?;
        let secrets = secret_pointers(&resolved, info.secret);
        let snap = self.store.snapshot().await;
        let salt = snap.salt.clone();
        let stored_props = redact(&salt, &resolved.value, &secrets);
        let replace_cbd = self
            .plan
            .get(name)
            .is_some_and(|r| r.action == Action::Replace && r.create_before_destroy);
        let resuming = snap
            .resources
            .get(name)
            .is_some_and(|r| r.status == Status::Creating && r.kind == res.kind);
        let recorded_at = snap
            .resources
            .get(name)
            .map(|r| r.updated_at.clone())
            .unwrap_or_default();
        let (token, mut physical, mut deposed) = match snap.resources.get(name) {
            Some(r) if r.status == Status::Creating && r.kind == res.kind => {
                (r.token.clone(), r.physical_id.clone(), r.deposed.clone())
            }
            Some(r) if replace_cbd => {
                let mut d = r.deposed.clone();
                if let Some(pid) = &r.physical_id {
                    d.push(Deposed {
                        physical_id: pid.clone(),
                        props: r.props.clone(),
                    });
                }
                (uuid::Uuid::new_v4().to_string(), None, d)
            }
            Some(r) => (uuid::Uuid::new_v4().to_string(), None, r.deposed.clone()),
            None => (uuid::Uuid::new_v4().to_string(), None, Vec::new()),
        };
        let entry = ResourceState {
            kind: res.kind.clone(),
            status: Status::Creating,
            token: token.clone(),
            physical_id: physical.clone(),
            props: stored_props.clone(),
            secret_paths: secrets.clone(),
            outputs: Map::new(),
            depends_on: res.deps.iter().cloned().collect(),
            deposed: std::mem::take(&mut deposed),
            last_error: None,
            updated_at: now(),
        };
        self.record(name, |rs| {
            rs.insert(name.to_string(), entry);
        })
        .await?;
        let mut cx = self.cx(name, &token, resuming);
        // Only a resumed creation looks for what an earlier run may have made. One whose id
        // is already recorded may have been adopted by a run that died before bringing it to
        // the stack's props, so it is converged too (a read when there is nothing to do).
        let mut adopted = resuming && physical.is_some();
        if physical.is_none() && resuming {
            physical = self
                .adopt(provider.as_ref(), &cx, &resolved.value, &recorded_at)
                .await
                .map_err(&err)?;
            adopted = physical.is_some();
        }
        let id = match physical {
            Some(id) => {
                // What a killed run made (adopted by its token) is this resource from now on.
                let adopted = id.clone();
                self.record(name, |rs| {
                    if let Some(r) = rs.get_mut(name) {
                        if r.physical_id.is_none() {
                            r.physical_id = Some(adopted);
                            r.updated_at = now();
                        }
                    }
                })
                .await?;
                id
            }
            None => {
                let (id, found) = self
                    .create_or_find(provider.as_ref(), &mut cx, &resolved.value)
                    .await
                    .map_err(&err)?;
                adopted = found;
                let id2 = id.clone();
                self.record(name, |rs| {
                    if let Some(r) = rs.get_mut(name) {
                        r.physical_id = Some(id2);
                        r.updated_at = now();
                    }
                })
                .await?;
                id
            }
        };
        // What an adopted resource's creation left undone (an internet gateway never attached)
        // may be what its readiness waits for: it is brought to the stack's props first.
        let converged = match adopted {
            true => self
                .converge(provider.as_ref(), &cx, &id, &resolved.value)
                .await
                .map(|new_id| new_id.unwrap_or_else(|| id.clone())),
            false => Ok(id.clone()),
        };
        let ready = match converged {
            Ok(id) => self.wait_ready(op, provider.as_ref(), &cx, &id).await,
            Err(e) => Err(e),
        };
        match ready {
            Ok(outputs) => {
                self.record(name, |rs| {
                    if let Some(r) = rs.get_mut(name) {
                        r.status = Status::Ready;
                        r.outputs = redact_outputs(&salt, outputs, info.secret);
                        r.updated_at = now();
                    }
                })
                .await
            }
            Err(e) if on_error(Call::Wait, &e) == OnError::RecordFailed => {
                let m = e.to_string();
                self.record(name, |rs| {
                    if let Some(r) = rs.get_mut(name) {
                        r.status = Status::Failed;
                        r.last_error = Some(m);
                        r.updated_at = now();
                    }
                })
                .await?;
                Err(err(e))
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn update(&self, op: &OpRef) -> Result<(), EngineError> {
        let name = op.resource.as_str();
        let err = op_error(op);
        let res = self.stack.resources[name].clone();
        let provider = self.provider(&res.kind)?;
        let info = provider.info().clone();
        let resolved = self.resolve(name).await?;
        let secrets = secret_pointers(&resolved, info.secret);
        let snap = self.store.snapshot().await;
        let salt = snap.salt.clone();
        let missing = |detail: &str| EngineError::NotRecorded {
            resource: name.to_string(),
            detail: detail.to_string(),
        };
        let Some(rec) = snap.resources.get(name).cloned() else {
            return Err(missing("it is not in the state any more"));
        };
        let id = rec
            .physical_id
            .clone()
            .ok_or_else(|| missing("it has no physical id in the state"))?;
        let changed: Vec<String> = self
            .plan
            .get(name)
            .map(|p| p.changes.iter().map(|c| c.path.clone()).collect())
            .unwrap_or_default();
        self.record(name, |rs| {
            if let Some(r) = rs.get_mut(name) {
                r.status = Status::Updating;
                r.updated_at = now();
            }
        })
        .await?;
        let cx = self.cx(name, &rec.token, false);
        let result = match self
            .retrying(Call::Update, || {
                provider.update(&cx, &id, &rec.props, &resolved.value, &changed)
            })
            .await
        {
            Ok(replaced) => {
                // The service replaced it to apply the change: from now on the new one is it.
                let id = match replaced {
                    Some(new_id) => {
                        let recorded = new_id.clone();
                        self.record(name, |rs| {
                            if let Some(r) = rs.get_mut(name) {
                                r.physical_id = Some(recorded);
                            }
                        })
                        .await?;
                        new_id
                    }
                    None => id.clone(),
                };
                self.wait_ready(op, provider.as_ref(), &cx, &id).await
            }
            Err(e) => Err(e),
        };
        let stored = redact(&salt, &resolved.value, &secrets);
        let deps: Vec<String> = res.deps.iter().cloned().collect();
        let outcome = result.as_ref().map_err(ToString::to_string).cloned();
        self.record(name, move |rs| {
            if let Some(r) = rs.get_mut(name) {
                r.status = Status::Ready;
                r.updated_at = now();
                match outcome {
                    Ok(outputs) => {
                        r.props = stored;
                        r.secret_paths = secrets;
                        r.outputs = redact_outputs(&salt, outputs, info.secret);
                        r.depends_on = deps;
                        r.last_error = None;
                    }
                    Err(e) => r.last_error = Some(e),
                }
            }
        })
        .await?;
        result.map(|_| ()).map_err(err)
    }

    async fn delete(&self, op: &OpRef, deposed_only: bool) -> Result<(), EngineError> {
        let name = op.resource.as_str();
        let err = op_error(op);
        let snap = self.store.snapshot().await;
        let Some(rec) = snap.resources.get(name).cloned() else {
            return Ok(());
        };
        let provider = self.provider(&rec.kind)?;
        let cx = self.cx(name, &rec.token, false);
        for d in &rec.deposed {
            self.delete_call(provider.as_ref(), &cx, &d.physical_id, &d.props)
                .await
                .map_err(&err)?;
            self.wait_deleted(provider.as_ref(), &cx, &d.physical_id)
                .await
                .map_err(&err)?;
            let pid = d.physical_id.clone();
            self.record(name, |rs| {
                if let Some(r) = rs.get_mut(name) {
                    r.deposed.retain(|x| x.physical_id != pid);
                }
            })
            .await?;
        }
        if deposed_only {
            return Ok(());
        }
        self.record(name, |rs| {
            if let Some(r) = rs.get_mut(name) {
                r.status = Status::Deleting;
                r.updated_at = now();
            }
        })
        .await?;
        let physical = match rec.physical_id.clone() {
            Some(id) => Some(id),
            None => self
                .adopt(provider.as_ref(), &cx, &rec.props, &rec.updated_at)
                .await
                .map_err(&err)?,
        };
        if let Some(id) = physical {
            self.delete_call(provider.as_ref(), &cx, &id, &rec.props)
                .await
                .map_err(&err)?;
            self.wait_deleted(provider.as_ref(), &cx, &id)
                .await
                .map_err(&err)?;
        }
        self.record(name, |rs| {
            rs.remove(name);
        })
        .await
    }

    fn op_ref(&self, op: &Op) -> OpRef {
        let kind = self
            .stack
            .resources
            .get(&op.resource)
            .map(|r| r.kind.clone())
            .or_else(|| self.plan.get(&op.resource).map(|p| p.kind.clone()))
            .unwrap_or_default();
        OpRef {
            resource: op.resource.clone(),
            kind,
            operation: op.kind,
        }
    }

    /// Runs one operation within its timeout, telling the hooks when it starts and ends.
    async fn run(&self, op: &Op) -> (OpResult, Result<(), EngineError>) {
        let r = self.op_ref(op);
        let timeout = self
            .stack
            .resources
            .get(&op.resource)
            .and_then(|x| x.timeout)
            .or_else(|| self.providers.get(&r.kind).map(|p| p.info().timeout))
            .unwrap_or(Duration::from_secs(1800));
        self.hooks.op_started(&r);
        let started = Instant::now();
        let work = async {
            match op.kind {
                OpKind::Create => self.create(&r).await,
                OpKind::Update => self.update(&r).await,
                OpKind::Delete => self.delete(&r, false).await,
                OpKind::DeleteDeposed => self.delete(&r, true).await,
            }
        };
        let hooks = self.hooks.clone();
        let waiting = r.clone();
        let last = Arc::new(std::sync::Mutex::new(LastSeen::default()));
        let seen = last.clone();
        let reporter = progress::Reporter::new(move |s| {
            seen.lock().unwrap_or_else(|p| p.into_inner()).saw(s);
            hooks.op_status(&waiting, s)
        });
        let work = progress::scope(reporter, work);
        let result = match tokio::time::timeout(timeout, work).await {
            Ok(x) => x,
            Err(_) => Err(EngineError::Timeout {
                resource: op.resource.clone(),
                after: timeout,
                last: last.lock().unwrap_or_else(|p| p.into_inner()).describe(),
            }),
        };
        let report = OpResult {
            resource: op.resource.clone(),
            operation: op.kind,
            outcome: if result.is_ok() {
                Outcome::Done
            } else {
                Outcome::Failed
            },
            error: result.as_ref().err().map(ToString::to_string),
            seconds: started.elapsed().as_secs_f64(),
        };
        self.hooks.op_finished(&r, &report);
        (report, result)
    }
}

/// What an operation last reported: its status, and the last refusal it retried (`retrying:
/// ...`), which a later status would otherwise hide; together, why a timeout hit.
#[derive(Default)]
struct LastSeen {
    status: Option<String>,
    refusal: Option<String>,
}

impl LastSeen {
    fn saw(&mut self, status: &str) {
        match status.strip_prefix("retrying: ") {
            Some(refusal) => self.refusal = Some(refusal.to_string()),
            None => self.status = Some(status.to_string()),
        }
    }

    fn describe(&self) -> Option<String> {
        match (&self.status, &self.refusal) {
            (Some(s), Some(r)) => Some(format!("waiting on: {s}; last refused: {r}")),
            (Some(s), None) => Some(format!("waiting on: {s}")),
            (None, Some(r)) => Some(format!("last refused: {r}")),
            (None, None) => None,
        }
    }
}

fn unknown_paths(v: &Value, at: &str) -> Vec<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .flat_map(|(k, x)| {
                unknown_paths(
                    x,
                    &if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    },
                )
            })
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .flat_map(|(i, x)| unknown_paths(x, &format!("{at}[{i}]")))
            .collect(),
        other if contains_unknown(other) => vec![format!("`{at}`")],
        _ => vec![],
    }
}

fn redact_outputs(salt: &str, outputs: Map<String, Value>, secret: &[&str]) -> Map<String, Value> {
    outputs
        .into_iter()
        .map(|(k, v)| {
            if secret.contains(&k.as_str()) {
                let d = crate::state::model::secret_digest(salt, &v);
                (k, d)
            } else {
                (k, v)
            }
        })
        .collect()
}

/// Applies `plan`: every operation in dependency order, `opts.parallelism` at a time, each
/// step recorded in `store` before and after it. At the first failure, or when `cancel`
/// resolves, no new operation starts and the running ones finish. Progress goes to `hooks`;
/// the report says what happened to each operation.
pub async fn apply(
    stack: Stack,
    plan: Plan,
    store: StateStore,
    providers: Arc<dyn Providers>,
    opts: ApplyOptions,
    hooks: Arc<dyn Hooks>,
    cancel: impl std::future::Future<Output = ()>,
) -> (ApplyReport, StateStore) {
    let snap = store.snapshot().await;
    let recorded_deps: BTreeMap<String, Vec<String>> = snap
        .resources
        .iter()
        .map(|(n, r)| (n.clone(), r.depends_on.clone()))
        .collect();
    let ops = operations(&plan, &recorded_deps);
    let shared = Arc::new(Shared {
        stack,
        plan,
        store,
        providers,
        hooks: hooks.clone(),
    });
    let deps: Vec<Vec<usize>> = ops.iter().map(|o| o.deps.clone()).collect();
    let walked = walk(
        &deps,
        opts.parallelism,
        cancel,
        || hooks.cancelled(),
        |i| {
            let sh = shared.clone();
            let op = ops[i].clone();
            async move {
                match sh.run(&op).await {
                    (report, Ok(())) => Ok(report),
                    (report, Err(_)) => Err(report),
                }
            }
        },
    )
    .await;
    let operations: Vec<OpResult> = walked
        .into_iter()
        .enumerate()
        .map(|(i, w)| match w {
            Walked::Done(r) | Walked::Failed(r) => r,
            Walked::Panicked(message) => OpResult {
                resource: ops[i].resource.clone(),
                operation: ops[i].kind,
                outcome: Outcome::Failed,
                error: Some(
                    EngineError::Panicked {
                        resource: ops[i].resource.clone(),
                        message,
                    }
                    .to_string(),
                ),
                seconds: 0.0,
            },
            Walked::NotStarted => OpResult {
                resource: ops[i].resource.clone(),
                operation: ops[i].kind,
                outcome: Outcome::Skipped,
                error: None,
                seconds: 0.0,
            },
        })
        .collect();
    let ok = operations.iter().all(|r| r.outcome == Outcome::Done);
    let shared = Arc::into_inner(shared).expect("all operations finished");
    (ApplyReport { ok, operations }, shared.store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::ResourcePlan;

    fn rp(name: &str, action: Action, deps: &[&str], cbd: bool) -> ResourcePlan {
        ResourcePlan {
            name: name.into(),
            kind: "sim.thing".into(),
            action,
            reason: None,
            physical_id: None,
            changes: vec![],
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            create_before_destroy: cbd,
        }
    }

    #[test]
    fn the_in_flight_window_counts_from_the_recorded_creation() {
        let at = humantime::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
        let left =
            |secs| in_flight_window_left("2026-12-01T10:00:00Z", at + Duration::from_secs(secs));
        assert_eq!(left(0), Some(IN_FLIGHT_WINDOW));
        assert_eq!(left(4), Some(IN_FLIGHT_WINDOW - Duration::from_secs(4)));
        assert_eq!(left(10), None);
        assert_eq!(left(3600), None);
        assert_eq!(in_flight_window_left("not a time", at), None);
        // A clock that went back counts as no time passed.
        assert_eq!(
            in_flight_window_left("2026-12-01T10:00:05Z", at),
            Some(IN_FLIGHT_WINDOW)
        );
    }

    #[test]
    fn replacement_orders_delete_create_and_deposed_cleanup() {
        let plan = Plan::new(
            "s",
            "e",
            vec![
                rp("net", Action::Replace, &[], false),
                rp("app", Action::Replace, &["net"], true),
                rp("web", Action::Update, &["app"], false),
                rp("old", Action::Delete, &[], false),
            ],
        );
        let recorded = BTreeMap::from([
            ("app".to_string(), vec!["net".to_string()]),
            (
                "web".to_string(),
                vec!["app".to_string(), "old".to_string()],
            ),
        ]);
        let ops = operations(&plan, &recorded);
        let find = |r: &str, k: OpKind| {
            ops.iter()
                .position(|o| o.resource == r && o.kind == k)
                .unwrap()
        };
        let net_del = find("net", OpKind::Delete);
        let net_new = find("net", OpKind::Create);
        let app_new = find("app", OpKind::Create);
        let app_old = find("app", OpKind::DeleteDeposed);
        let web = find("web", OpKind::Update);
        let old = find("old", OpKind::Delete);
        assert!(ops[net_new].deps.contains(&net_del));
        assert!(ops[app_new].deps.contains(&net_new));
        assert!(ops[app_old].deps.contains(&app_new) && ops[app_old].deps.contains(&web));
        assert!(ops[web].deps.contains(&app_new));
        assert!(
            ops[old].deps.contains(&web),
            "a removed resource waits for its former dependents"
        );
    }
}
