//! Apply: walks the plan's operations in dependency order, in parallel up to a bound, waits
//! for each with backoff and a timeout, records every step in state before and after it, and
//! stops starting new work at the first failure while in-flight work finishes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use super::backoff::Backoff;
use super::plan::{lookup_in, secret_pointers, Action, Plan};
use super::progress::{Progress, Task};
use super::provider::{Cx, Poll, Provider, Providers};
use crate::stack::resolve::{self, contains_unknown, Resolved};
use crate::stack::Stack;
use crate::state::model::{now, redact, Deposed};
use crate::state::{ResourceState, StateStore, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Delete,
    /// Deletes the previous instance once its replacement is in use.
    DeleteDeposed,
}

impl OpKind {
    fn verb(self) -> (&'static str, &'static str) {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Failed,
    /// Not started: an earlier failure or an interrupt stopped new work.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpResult {
    pub resource: String,
    pub operation: OpKind,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub ok: bool,
    pub operations: Vec<OpResult>,
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub parallelism: usize,
    pub quiet: bool,
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
    progress: Progress,
}

impl Shared {
    fn provider(&self, kind: &str) -> Result<Arc<dyn Provider>, String> {
        self.providers
            .get(kind)
            .ok_or_else(|| format!("no provider for resource type `{kind}`"))
    }

    fn cx(&self, name: &str, token: &str, resuming: bool) -> Cx {
        Cx {
            stack: self.stack.name.clone(),
            env: self.stack.env.clone(),
            resource: name.to_string(),
            token: token.to_string(),
            resuming,
        }
    }

    async fn resolve(&self, name: &str) -> Result<Resolved, String> {
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
            prepare(&mut r.value, &self.stack.root)?;
        }
        if contains_unknown(&r.value) {
            return Err(format!(
                "cannot resolve {}: it refers to a value that is not available (an output the dependency did not report, or a secret prop of another resource, which state keeps only as a hash)",
                unknown_paths(&r.value, "").join(", ")
            ));
        }
        Ok(r)
    }

    async fn record(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, ResourceState>),
    ) -> Result<(), String> {
        self.store
            .update(|s| f(&mut s.resources))
            .await
            .map_err(|e| format!("recording state: {e}"))
    }

    async fn wait_ready(
        &self,
        task: &Task,
        label: &str,
        p: &dyn Provider,
        cx: &Cx,
        id: &str,
    ) -> Result<Map<String, Value>, String> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            match p.poll(cx, id).await.map_err(|e| e.to_string())? {
                Poll::Ready(outputs) => return Ok(outputs),
                Poll::Failed(msg) => return Err(format!("the service reports it failed: {msg}")),
                Poll::Pending(status) => {
                    self.progress.status(task, &format!("{label} [{status}]"));
                    backoff.sleep().await;
                }
            }
        }
    }

    async fn wait_deleted(&self, p: &dyn Provider, cx: &Cx, id: &str) -> Result<(), String> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        while !p.is_deleted(cx, id).await.map_err(|e| e.to_string())? {
            backoff.sleep().await;
        }
        Ok(())
    }

    async fn create(&self, task: &Task, label: &str, name: &str) -> Result<(), String> {
        let res = self.stack.resources[name].clone();
        let provider = self.provider(&res.kind)?;
        let info = provider.info().clone();
        let resolved = self.resolve(name).await?;
        let secrets = secret_pointers(&resolved, info.secret);
        let stored_props = redact(&resolved.value, &secrets);
        let snap = self.store.snapshot().await;
        let replace_cbd = self
            .plan
            .get(name)
            .is_some_and(|r| r.action == Action::Replace && r.create_before_destroy);
        let resuming = snap
            .resources
            .get(name)
            .is_some_and(|r| r.status == Status::Creating && r.kind == res.kind);
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
        self.record(|rs| {
            rs.insert(name.to_string(), entry);
        })
        .await?;
        let cx = self.cx(name, &token, resuming);
        // Only a resumed creation looks for what an earlier run may have made.
        if physical.is_none() && resuming {
            physical = provider
                .adopt(&cx, &resolved.value)
                .await
                .map_err(|e| e.to_string())?;
        }
        let id = match physical {
            Some(id) => id,
            None => {
                let id = provider
                    .create(&cx, &resolved.value)
                    .await
                    .map_err(|e| e.to_string())?;
                let id2 = id.clone();
                self.record(|rs| {
                    if let Some(r) = rs.get_mut(name) {
                        r.physical_id = Some(id2);
                        r.updated_at = now();
                    }
                })
                .await?;
                id
            }
        };
        match self
            .wait_ready(task, label, provider.as_ref(), &cx, &id)
            .await
        {
            Ok(outputs) => {
                self.record(|rs| {
                    if let Some(r) = rs.get_mut(name) {
                        r.status = Status::Ready;
                        r.outputs = redact_outputs(outputs, info.secret);
                        r.updated_at = now();
                    }
                })
                .await
            }
            Err(msg) if msg.starts_with("the service reports it failed") => {
                let m = msg.clone();
                self.record(|rs| {
                    if let Some(r) = rs.get_mut(name) {
                        r.status = Status::Failed;
                        r.last_error = Some(m);
                        r.updated_at = now();
                    }
                })
                .await?;
                Err(msg)
            }
            Err(msg) => Err(msg),
        }
    }

    async fn update(&self, task: &Task, label: &str, name: &str) -> Result<(), String> {
        let res = self.stack.resources[name].clone();
        let provider = self.provider(&res.kind)?;
        let info = provider.info().clone();
        let resolved = self.resolve(name).await?;
        let secrets = secret_pointers(&resolved, info.secret);
        let snap = self.store.snapshot().await;
        let Some(rec) = snap.resources.get(name).cloned() else {
            return Err("it is not in the state any more".into());
        };
        let id = rec
            .physical_id
            .clone()
            .ok_or("it has no physical id in the state")?;
        let changed: Vec<String> = self
            .plan
            .get(name)
            .map(|p| p.changes.iter().map(|c| c.path.clone()).collect())
            .unwrap_or_default();
        self.record(|rs| {
            if let Some(r) = rs.get_mut(name) {
                r.status = Status::Updating;
                r.updated_at = now();
            }
        })
        .await?;
        let cx = self.cx(name, &rec.token, false);
        let result = match provider
            .update(&cx, &id, &rec.props, &resolved.value, &changed)
            .await
        {
            Ok(replaced) => {
                // The service replaced it to apply the change: from now on the new one is it.
                let id = match replaced {
                    Some(new_id) => {
                        let recorded = new_id.clone();
                        self.record(|rs| {
                            if let Some(r) = rs.get_mut(name) {
                                r.physical_id = Some(recorded);
                            }
                        })
                        .await?;
                        new_id
                    }
                    None => id.clone(),
                };
                self.wait_ready(task, label, provider.as_ref(), &cx, &id)
                    .await
            }
            Err(e) => Err(e.to_string()),
        };
        let stored = redact(&resolved.value, &secrets);
        let deps: Vec<String> = res.deps.iter().cloned().collect();
        let outcome = result.clone();
        self.record(move |rs| {
            if let Some(r) = rs.get_mut(name) {
                r.status = Status::Ready;
                r.updated_at = now();
                match outcome {
                    Ok(outputs) => {
                        r.props = stored;
                        r.secret_paths = secrets;
                        r.outputs = redact_outputs(outputs, info.secret);
                        r.depends_on = deps;
                        r.last_error = None;
                    }
                    Err(e) => r.last_error = Some(e),
                }
            }
        })
        .await?;
        result.map(|_| ())
    }

    async fn delete(&self, name: &str, deposed_only: bool) -> Result<(), String> {
        let snap = self.store.snapshot().await;
        let Some(rec) = snap.resources.get(name).cloned() else {
            return Ok(());
        };
        let provider = self.provider(&rec.kind)?;
        let cx = self.cx(name, &rec.token, false);
        for d in &rec.deposed {
            provider
                .delete(&cx, &d.physical_id, &d.props)
                .await
                .map_err(|e| e.to_string())?;
            self.wait_deleted(provider.as_ref(), &cx, &d.physical_id)
                .await?;
            let pid = d.physical_id.clone();
            self.record(|rs| {
                if let Some(r) = rs.get_mut(name) {
                    r.deposed.retain(|x| x.physical_id != pid);
                }
            })
            .await?;
        }
        if deposed_only {
            return Ok(());
        }
        self.record(|rs| {
            if let Some(r) = rs.get_mut(name) {
                r.status = Status::Deleting;
                r.updated_at = now();
            }
        })
        .await?;
        let physical = match rec.physical_id.clone() {
            Some(id) => Some(id),
            None => provider
                .adopt(&cx, &rec.props)
                .await
                .map_err(|e| e.to_string())?,
        };
        if let Some(id) = physical {
            provider
                .delete(&cx, &id, &rec.props)
                .await
                .map_err(|e| e.to_string())?;
            self.wait_deleted(provider.as_ref(), &cx, &id).await?;
        }
        self.record(|rs| {
            rs.remove(name);
        })
        .await
    }

    async fn run(&self, op: &Op) -> Result<(), String> {
        let kind = self
            .stack
            .resources
            .get(&op.resource)
            .map(|r| r.kind.clone())
            .or_else(|| self.plan.get(&op.resource).map(|p| p.kind.clone()))
            .unwrap_or_default();
        let label = format!("{} {} ({kind})", op.kind.verb().0, op.resource);
        let timeout = self
            .stack
            .resources
            .get(&op.resource)
            .and_then(|r| r.timeout)
            .or_else(|| self.providers.get(&kind).map(|p| p.info().timeout))
            .unwrap_or(Duration::from_secs(1800));
        let task = self.progress.start(&label);
        let started = Instant::now();
        let work = async {
            match op.kind {
                OpKind::Create => self.create(&task, &label, &op.resource).await,
                OpKind::Update => self.update(&task, &label, &op.resource).await,
                OpKind::Delete => self.delete(&op.resource, false).await,
                OpKind::DeleteDeposed => self.delete(&op.resource, true).await,
            }
        };
        let result = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "timed out after {}; what was started is recorded, run `pinctl up` again to keep waiting",
                humantime::format_duration(timeout)
            )),
        };
        let secs = started.elapsed().as_secs_f64();
        let line = match &result {
            Ok(()) => format!(
                "{} {}: {} in {secs:.1}s",
                symbol(op.kind),
                op.resource,
                op.kind.verb().1
            ),
            Err(e) => format!(
                "! {}: {} failed after {secs:.1}s: {e}",
                op.resource,
                op.kind.verb().0
            ),
        };
        self.progress.finish(task, &line);
        result
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

fn symbol(k: OpKind) -> &'static str {
    match k {
        OpKind::Create => "+",
        OpKind::Update => "~",
        OpKind::Delete | OpKind::DeleteDeposed => "-",
    }
}

fn redact_outputs(outputs: Map<String, Value>, secret: &[&str]) -> Map<String, Value> {
    outputs
        .into_iter()
        .map(|(k, v)| {
            if secret.contains(&k.as_str()) {
                let d = crate::state::model::secret_digest(&v);
                (k, d)
            } else {
                (k, v)
            }
        })
        .collect()
}

/// Applies `plan`. Every step is recorded in `store`; the report says what happened to each
/// operation.
pub async fn apply(
    stack: Stack,
    plan: Plan,
    store: StateStore,
    providers: Arc<dyn Providers>,
    opts: ApplyOptions,
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
        progress: Progress::new(opts.quiet),
    });
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Pending,
        Running,
        Done,
        Failed,
    }
    let mut st = vec![St::Pending; ops.len()];
    let mut results: Vec<Option<OpResult>> = vec![None; ops.len()];
    let mut running: JoinSet<(usize, Result<(), String>, f64)> = JoinSet::new();
    let mut stopping = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if !stopping {
            for i in 0..ops.len() {
                if running.len() >= opts.parallelism.max(1) {
                    break;
                }
                if st[i] == St::Pending && ops[i].deps.iter().all(|d| st[*d] == St::Done) {
                    st[i] = St::Running;
                    let sh = shared.clone();
                    let op = ops[i].clone();
                    running.spawn(async move {
                        let t = Instant::now();
                        let r = sh.run(&op).await;
                        (i, r, t.elapsed().as_secs_f64())
                    });
                }
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { break };
                let (i, r, secs) = match joined {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!("internal error: an operation panicked: {e}");
                        stopping = true;
                        continue;
                    }
                };
                st[i] = if r.is_ok() { St::Done } else { St::Failed };
                if r.is_err() {
                    stopping = true;
                }
                results[i] = Some(OpResult {
                    resource: ops[i].resource.clone(),
                    operation: ops[i].kind,
                    outcome: if r.is_ok() { Outcome::Done } else { Outcome::Failed },
                    error: r.err(),
                    seconds: secs,
                });
            }
            _ = &mut ctrl_c, if !stopping => {
                eprintln!("interrupted: no new operation starts; waiting for the running ones to finish");
                stopping = true;
            }
        }
    }
    let operations: Vec<OpResult> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| OpResult {
                resource: ops[i].resource.clone(),
                operation: ops[i].kind,
                outcome: Outcome::Skipped,
                error: None,
                seconds: 0.0,
            })
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
