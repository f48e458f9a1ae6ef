//! `plan`, `up` and `down`: the plan, the confirmation, the apply with its progress view.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;

use super::view::json::JsonView;
use super::view::markdown;
use super::view::progress::ProgressView;
use super::view::render;
use super::{backend, confirm, load, print_json, providers, Exit};
use crate::cli::{Cli, PlanArgs, Prices, ReportFormat, ReportOutput};
use crate::clients::aws::Clients;
use crate::engine::apply::{self, ApplyOptions};
use crate::engine::hooks::Hooks;
use crate::engine::plan::{self, PlanOptions};
use crate::engine::target::restrict;
use crate::providers::{cost, preflight};
use crate::stack::resolve::Resolved;
use crate::stack::Stack;
use crate::state::{self as state_mod, StateStore};

pub(super) async fn plan_cmd(cli: &Cli, args: PlanArgs, output: ReportOutput) -> Result<Exit> {
    let format = output
        .resolve(cli.global.json)
        .map_err(anyhow::Error::msg)?;
    let Ok(mut stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let clients = Clients::new();
    if !args.destroy {
        aws_values(&mut stack, &clients).await?;
    }
    let backend = backend(&stack).await?;
    let state = state_mod::read(backend.as_ref(), &stack.name, &stack.env).await?;
    let providers = providers(&stack);
    let opts = PlanOptions {
        refresh: !args.no_refresh,
        destroy: args.destroy,
        parallelism: cli.global.parallelism.into(),
    };
    let (scoped, state) =
        restrict(&stack, &state, &args.targets, args.destroy).map_err(anyhow::Error::msg)?;
    let (plan, resolved) = plan::plan(&scoped, &state, providers.as_ref(), opts).await?;
    let checks = if plan.changes && wants_preflight(&scoped, &args) {
        Some(preflight::run(&clients, &scoped, &plan, &resolved).await)
    } else {
        None
    };
    let priced = price(
        &clients,
        &args,
        &scoped,
        &state,
        &plan,
        &resolved,
        args.destroy,
    )
    .await;
    match format {
        ReportFormat::Json => {
            let mut doc = serde_json::to_value(&plan)?;
            if let (Value::Object(m), Some(r)) = (&mut doc, &checks) {
                m.insert(
                    "preflight".into(),
                    serde_json::json!({"ok": !r.failed(), "findings": r.findings}),
                );
            }
            if let Value::Object(m) = &mut doc {
                match &priced {
                    Some(Priced::Plan(c)) => {
                        m.insert("cost".into(), serde_json::to_value(c)?);
                    }
                    Some(Priced::Stops(e)) => {
                        m.insert("billing_stops".into(), serde_json::to_value(e)?);
                    }
                    None => {}
                }
            }
            print_json(&doc)?;
        }
        ReportFormat::Text => {
            print!("{}", render::plan_text(&plan, &backend.describe()));
            print!("{}", priced_text(priced.as_ref(), !args.targets.is_empty()));
            if let Some(r) = &checks {
                print!("{}", render::preflight_text(r));
            }
        }
        ReportFormat::Markdown => {
            let (cost, stops) = match &priced {
                Some(Priced::Plan(c)) => (Some(c), None),
                Some(Priced::Stops(e)) => (None, Some(e)),
                None => (None, None),
            };
            print!("{}", markdown::plan(&plan, checks.as_ref(), cost, stops))
        }
    }
    Ok(if checks.as_ref().is_some_and(preflight::Report::failed) {
        Exit::Error
    } else if plan.changes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// A plan's cost: what the stack costs after it, or, for a destroy, what stops being billed.
enum Priced {
    Plan(cost::PlanCost),
    Stops(cost::Estimate),
}

/// Prices the plan unless `--prices off` (or the stack has only simulated kinds); `--prices
/// table` makes no call.
async fn price(
    clients: &Clients,
    args: &PlanArgs,
    stack: &Stack,
    state: &crate::state::StateFile,
    plan: &plan::Plan,
    resolved: &std::collections::BTreeMap<String, Resolved>,
    destroy: bool,
) -> Option<Priced> {
    if args.prices == Prices::Off || !on_aws(stack) || !plan.changes {
        return None;
    }
    let api = (args.prices == Prices::Api).then_some(clients);
    let region = clients.region().await;
    if destroy {
        let deleted = plan
            .resources
            .iter()
            .filter(|r| r.action == plan::Action::Delete)
            .map(|r| r.name.clone())
            .collect();
        let items = cost::recorded(stack, state, Some(&deleted));
        return Some(Priced::Stops(cost::estimate(api, &region, &items).await));
    }
    Some(Priced::Plan(
        cost::of_plan(api, &region, stack, state, plan, resolved).await,
    ))
}

fn priced_text(priced: Option<&Priced>, targeted: bool) -> String {
    match priced {
        Some(Priced::Plan(c)) => render::cost_text(c, targeted),
        Some(Priced::Stops(e)) => {
            let t = render::billing_stops_text(e);
            if t.is_empty() {
                t
            } else {
                format!("\n{t}")
            }
        }
        None => String::new(),
    }
}

/// Fills the stack's `${aws.*}` values from the credentials when its props use them.
pub(super) async fn aws_values(stack: &mut Stack, clients: &Clients) -> Result<()> {
    if stack.uses_aws_values() {
        stack.aws = preflight::target_values(clients).await.context(
            "the stack uses `${aws.*}`, which needs the credentials' account and region (STS GetCallerIdentity)",
        )?;
    }
    Ok(())
}

/// Whether preflight runs (for a plan with changes): not for a destroy or with
/// `--no-preflight`, and only for a stack with resources on AWS (the simulated `sim.*` kinds
/// call no service).
fn wants_preflight(stack: &Stack, args: &PlanArgs) -> bool {
    !args.destroy && !args.no_preflight && on_aws(stack)
}

/// Whether the stack has resources on AWS (the simulated `sim.*` kinds call no service).
fn on_aws(stack: &Stack) -> bool {
    stack
        .resources
        .values()
        .any(|r| !r.kind.starts_with("sim."))
}

/// Preflight for `up`: the findings are printed (as a `preflight` event with `--json`); an
/// error stops the run before anything is changed.
async fn preflight_for_up(
    cli: &Cli,
    clients: &Clients,
    stack: &Stack,
    plan: &plan::Plan,
    resolved: &std::collections::BTreeMap<String, Resolved>,
    json_view: Option<&JsonView>,
) -> bool {
    let r = preflight::run(clients, stack, plan, resolved).await;
    match json_view {
        Some(v) => v.event(
            "preflight",
            serde_json::json!({"ok": !r.failed(), "findings": r.findings}),
        ),
        None if !r.findings.is_empty() || !cli.global.quiet => {
            print!("{}", render::preflight_text(&r))
        }
        None => {}
    }
    !r.failed()
}

pub(super) async fn up(cli: &Cli, args: PlanArgs, destroy: bool) -> Result<Exit> {
    let Ok(stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let backend = backend(&stack).await?;
    let operation = if destroy { "down" } else { "up" };
    let store = StateStore::open(
        backend.clone(),
        &stack.name,
        &stack.env,
        operation,
        cli.global.lock_timeout,
    )
    .await?;
    up_locked(cli, args, destroy, stack, store).await
}

async fn up_locked(
    cli: &Cli,
    args: PlanArgs,
    destroy: bool,
    stack: Stack,
    store: StateStore,
) -> Result<Exit> {
    let mut stack = stack;
    let clients = Clients::new();
    if !destroy {
        if let Err(e) = aws_values(&mut stack, &clients).await {
            store.close().await?;
            return Err(e);
        }
    }
    let providers = providers(&stack);
    let state = store.snapshot().await;
    let opts = PlanOptions {
        refresh: !args.no_refresh,
        destroy: destroy || args.destroy,
        parallelism: cli.global.parallelism.into(),
    };
    let planned = match restrict(&stack, &state, &args.targets, opts.destroy) {
        Ok((scoped, state)) => plan::plan(&scoped, &state, providers.as_ref(), opts)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::msg(e)),
    };
    let (plan, resolved) = match planned {
        Ok(p) => p,
        Err(e) => {
            store.close().await?;
            return Err(e);
        }
    };
    let text = render::plan_text(&plan, &store.describe());
    let json_view = cli.global.json.then(|| Arc::new(JsonView::default()));
    match &json_view {
        Some(v) => v.plan(&plan),
        None => print!("{text}"),
    }
    let priced = price(
        &clients,
        &args,
        &stack,
        &state,
        &plan,
        &resolved,
        opts.destroy,
    )
    .await;
    match (&json_view, &priced) {
        (Some(v), Some(Priced::Plan(c))) => v.event("cost", serde_json::json!({ "cost": c })),
        (Some(v), Some(Priced::Stops(e))) => {
            v.event("billing_stops", serde_json::json!({ "billing_stops": e }))
        }
        (None, p) if !cli.global.quiet => {
            print!("{}", priced_text(p.as_ref(), !args.targets.is_empty()))
        }
        _ => {}
    }
    if plan.changes && wants_preflight(&stack, &args) {
        let ok = preflight_for_up(
            cli,
            &clients,
            &stack,
            &plan,
            &resolved,
            json_view.as_deref(),
        )
        .await;
        if !ok {
            store.close().await?;
            eprintln!("Nothing was changed: preflight found what AWS would refuse (above). Fix it, or pass --no-preflight if a check is wrong.");
            return Ok(Exit::Error);
        }
    }
    if !plan.changes {
        store.close().await?;
        if let Some(v) = &json_view {
            v.complete(&apply::ApplyReport {
                ok: true,
                operations: Vec::new(),
            });
        }
        return Ok(Exit::Ok);
    }
    let question = if destroy {
        format!(
            "Delete these resources of stack `{}` env `{}`?",
            stack.name, stack.env
        )
    } else {
        format!(
            "Apply this plan to stack `{}` env `{}`?",
            stack.name, stack.env
        )
    };
    match confirm(cli, &question) {
        Ok(true) => {}
        Ok(false) => {
            store.close().await?;
            eprintln!("Nothing was changed.");
            return Ok(Exit::Error);
        }
        Err(e) => {
            store.close().await?;
            return Err(e);
        }
    }
    let apply_opts = ApplyOptions {
        parallelism: cli.global.parallelism.into(),
    };
    let hooks: Arc<dyn Hooks> = match &json_view {
        Some(v) => v.clone(),
        None => Arc::new(ProgressView::new(cli.global.quiet)),
    };
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let (report, store) =
        apply::apply(stack, plan, store, providers, apply_opts, hooks, cancel).await;
    let final_state = store.snapshot().await;
    let where_ = store.describe();
    store.close().await?;
    if let Some(v) = &json_view {
        v.complete(&report);
    } else {
        let count = |o| report.operations.iter().filter(|r| r.outcome == o).count();
        let (done, failed, skipped) = (
            count(apply::Outcome::Done),
            count(apply::Outcome::Failed),
            count(apply::Outcome::Skipped),
        );
        if report.ok {
            print_waits();
            println!(
                "\nApplied: {done} operation{} done. State: {where_}",
                if done == 1 { "" } else { "s" }
            );
            if !destroy {
                print_outputs(&final_state, None);
            } else if let Some(Priced::Stops(e)) = &priced {
                print!("{}", render::billing_stops_text(e));
            }
        } else {
            print_waits();
            eprintln!("\nFailed: {done} done, {failed} failed, {skipped} not started. Everything done is recorded in {where_}; fix the cause and run the command again.");
            for r in report
                .operations
                .iter()
                .filter(|r| r.outcome == apply::Outcome::Failed)
            {
                eprintln!("  {}: {}", r.resource, own_error(r));
            }
            if destroy {
                print_left(&final_state, &report);
            }
        }
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Error })
}

/// An operation's error without the resource's name it starts with (the line names it).
fn own_error(r: &apply::OpResult) -> String {
    let e = r.error.as_deref().unwrap_or_default();
    e.strip_prefix(&format!("{}: ", r.resource))
        .unwrap_or(e)
        .to_string()
}

/// After a `down` that failed: every resource still in AWS (still in state), with its id and why
/// it is there (its delete failed, with the error; or it was not started, and what it waits on),
/// so nothing is left behind unnamed.
fn print_left(state: &crate::state::StateFile, report: &apply::ApplyReport) {
    let live: Vec<_> = state
        .resources
        .iter()
        .filter(|(_, r)| r.physical_id.is_some())
        .collect();
    if live.is_empty() {
        return;
    }
    eprintln!("\nLeft in AWS ({}):", live.len());
    for (name, r) in live {
        let op = report.operations.iter().find(|o| &o.resource == name);
        let why = match op.map(|o| (o.outcome, o.error.as_deref())) {
            Some((apply::Outcome::Failed, _)) => {
                format!(
                    "its delete failed: {}",
                    op.map(own_error).unwrap_or_default()
                )
            }
            _ => {
                let blocked: Vec<&str> = state
                    .resources
                    .iter()
                    .filter(|(_, d)| d.physical_id.is_some() && d.depends_on.contains(name))
                    .map(|(n, _)| n.as_str())
                    .collect();
                if blocked.is_empty() {
                    "not deleted: the run stopped at the failure above".to_string()
                } else {
                    format!("not deleted: still used by {}", blocked.join(", "))
                }
            }
        };
        eprintln!(
            "  {name} ({} {}): {why}",
            r.kind,
            r.physical_id.as_deref().unwrap_or_default()
        );
    }
}

/// How long the run rode out AWS's propagation delays, rule by rule (nothing when it did not).
fn print_waits() {
    let waits = crate::clients::propagation::waits();
    if waits.is_empty() {
        return;
    }
    eprintln!("\nWaited for AWS to settle:");
    for w in waits {
        eprintln!(
            "  {:>6.1} s  {} ({}, {} call{})",
            w.seconds,
            w.waiting_for,
            w.code,
            w.calls,
            if w.calls == 1 { "" } else { "s" }
        );
    }
}

pub(super) fn print_outputs(state: &crate::state::StateFile, only: Option<&str>) {
    for (name, r) in &state.resources {
        if only.is_some_and(|o| o != name) || r.outputs.is_empty() {
            continue;
        }
        println!("{name}:");
        for (k, v) in &r.outputs {
            let shown = match v {
                Value::String(s) if s.starts_with("(sensitive") => "(sensitive)".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {k} = {shown}");
        }
    }
}
