//! What each command does: load the stack, talk to state and providers, print, choose the exit code.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::cli::{Cli, Command, GraphFormat, LocalCommand, PlanArgs, StateCommand};
use crate::engine::apply::{self, ApplyOptions};
use crate::engine::graph::{to_dot, to_mermaid, topo_order, GraphNode};
use crate::engine::kind::Kinds;
use crate::engine::plan::{self, PlanOptions};
use crate::engine::provider::{Provider, Providers};
use crate::engine::target::restrict;
use crate::engine::{drift, render};
use crate::stack::model::BackendKind;
use crate::stack::{self, LoadOptions, Stack};
use crate::state::local::LocalBackend;
use crate::state::s3::S3Backend;
use crate::state::{self as state_mod, Backend, StateStore};

/// Exit codes: 0 ok / nothing to change, 1 error, 2 changes or drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Error = 1,
    Changes = 2,
}

pub fn kinds() -> Kinds {
    let mut all = crate::aws::kinds();
    all.push(crate::sim::kind_info());
    all.push(crate::sim::versioned_kind_info());
    Kinds::new(all)
}

fn providers(stack: &Stack) -> Arc<dyn Providers> {
    let mut map: BTreeMap<String, Arc<dyn Provider>> = crate::aws::providers(&stack.root);
    for info in [crate::sim::kind_info(), crate::sim::versioned_kind_info()] {
        map.insert(
            info.name.to_string(),
            Arc::new(crate::sim::SimProvider::new(info)),
        );
    }
    Arc::new(map)
}

fn load_options(cli: &Cli) -> Result<LoadOptions> {
    let mut param_overrides = BTreeMap::new();
    for p in &cli.global.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow!("--param `{p}`: expected NAME=VALUE"))?;
        param_overrides.insert(k.trim().to_string(), v.to_string());
    }
    Ok(LoadOptions {
        param_overrides,
        validate_only: false,
    })
}

/// Diagnostics go to stderr; the command fails with exit code 1.
struct Invalid;

fn load(cli: &Cli) -> Result<std::result::Result<Stack, Invalid>> {
    load_with(cli, load_options(cli)?)
}

fn load_with(cli: &Cli, opts: LoadOptions) -> Result<std::result::Result<Stack, Invalid>> {
    match stack::load(&cli.global.file, cli.global.env.as_deref(), &kinds(), &opts) {
        Ok(s) => Ok(Ok(s)),
        Err(d) => {
            eprintln!("{d}");
            Ok(Err(Invalid))
        }
    }
}

async fn backend(stack: &Stack) -> Result<Arc<dyn Backend>> {
    let decl = stack.doc.state.clone().unwrap_or_default();
    Ok(match decl.backend {
        BackendKind::Local => {
            let dir = stack
                .root
                .join(decl.path.as_deref().unwrap_or(".pinctl/state"));
            Arc::new(LocalBackend::new(&dir, &stack.name, &stack.env))
        }
        BackendKind::S3 => {
            let bucket = decl.bucket.as_deref().ok_or_else(|| {
                anyhow!(
                    "{}: `state.bucket` is required for the s3 backend",
                    stack.file.display()
                )
            })?;
            let prefix = decl.prefix.as_deref().unwrap_or("pinctl/state");
            Arc::new(
                S3Backend::new(
                    bucket,
                    prefix,
                    decl.region.as_deref(),
                    &stack.name,
                    &stack.env,
                )
                .await,
            )
        }
    })
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn confirm(cli: &Cli, question: &str) -> Result<bool> {
    if cli.global.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question}: refusing to go on without confirmation in a non-interactive session; pass --yes");
    }
    eprint!("{question} Only 'yes' is accepted: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

pub async fn run(cli: Cli) -> Result<Exit> {
    match &cli.command {
        Command::Validate => validate(&cli),
        Command::Schema => {
            print_json(&stack::stack_schema(&kinds()))?;
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "pinctl", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
        Command::Graph { format } => graph(&cli, *format),
        Command::Plan(args) => plan_cmd(&cli, args.clone()).await,
        Command::Up(args) => up(&cli, args.clone(), false).await,
        Command::Down { targets } => {
            up(
                &cli,
                PlanArgs {
                    targets: targets.clone(),
                    no_refresh: false,
                    destroy: true,
                },
                true,
            )
            .await
        }
        Command::Diff => diff_cmd(&cli).await,
        Command::Outputs { resource } => outputs(&cli, resource.as_deref()).await,
        Command::State(sc) => state_cmd(&cli, sc).await,
        Command::Data(dc) => crate::workers::command::data(&cli.global, dc).await,
        Command::Worker(wc) => crate::workers::command::worker(&cli.global, wc).await,
        Command::Bench(bc) => crate::workers::command::bench(&cli.global, bc).await,
        Command::Local(LocalCommand::Start { dir, no_airflow }) => {
            crate::local::twin::start(&dir.path, !no_airflow, cli.global.json).await?;
            Ok(Exit::Ok)
        }
        Command::Local(LocalCommand::Status { dir }) => {
            Ok(if crate::local::twin::status(&dir.path, cli.global.json)? {
                Exit::Ok
            } else {
                Exit::Error
            })
        }
        Command::Local(LocalCommand::Stop { dir }) => {
            crate::local::twin::stop(&dir.path).await?;
            Ok(Exit::Ok)
        }
        Command::Local(LocalCommand::Env { dir }) => {
            crate::local::twin::env(&dir.path)?;
            Ok(Exit::Ok)
        }
        Command::Local(LocalCommand::Trigger {
            dag,
            wait,
            timeout,
            dir,
        }) => {
            let ok =
                crate::local::twin::trigger_dag(&dir.path, dag, *wait, *timeout, cli.global.json)
                    .await?;
            Ok(if ok { Exit::Ok } else { Exit::Error })
        }
        Command::Local(LocalCommand::Supervise {
            dir,
            moto_port,
            tansu_port,
            emulator_port,
            no_airflow,
        }) => {
            let ports = crate::local::twin::Ports {
                moto: *moto_port,
                tansu: *tansu_port,
                emulator: *emulator_port,
            };
            crate::local::twin::supervise(&dir.path, ports, !no_airflow).await?;
            Ok(Exit::Ok)
        }
        Command::Local(LocalCommand::Emulator {
            listen,
            state,
            delay,
            fault_rate,
            broker,
            region,
        }) => {
            let opts = crate::local::emulator::Options {
                delay: *delay,
                fault_rate: *fault_rate,
                state_file: state.clone(),
                broker: broker.clone(),
                region: region.clone(),
                ..Default::default()
            };
            let (addr, handle) = crate::local::emulator::serve(*listen, opts).await?;
            println!("http://{addr}");
            use std::io::Write as _;
            std::io::stdout().flush()?;
            tokio::select! {
                _ = handle => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(Exit::Ok)
        }
    }
}

fn validate(cli: &Cli) -> Result<Exit> {
    let opts = LoadOptions {
        validate_only: true,
        ..load_options(cli)?
    };
    match stack::validate(&cli.global.file, cli.global.env.as_deref(), &kinds(), &opts) {
        Ok(stacks) => {
            let envs: Vec<&str> = stacks.iter().map(|s| s.env.as_str()).collect();
            let count = stacks.first().map(|s| s.doc.resources.len()).unwrap_or(0);
            if cli.global.json {
                print_json(
                    &json!({"valid": true, "envs": envs, "resources": count, "errors": []}),
                )?;
            } else {
                println!(
                    "{} is valid: {count} resources, envs: {}",
                    cli.global.file.display(),
                    envs.join(", ")
                );
            }
            Ok(Exit::Ok)
        }
        Err(d) => {
            if cli.global.json {
                let errors: Vec<Value> =
                    d.0.iter()
                        .map(|e| {
                            json!({"file": e.location.file, "line": e.location.line,
                               "column": e.location.column, "message": e.message})
                        })
                        .collect();
                print_json(&json!({"valid": false, "errors": errors}))?;
            }
            eprintln!("{d}");
            Ok(Exit::Error)
        }
    }
}

fn graph(cli: &Cli, format: GraphFormat) -> Result<Exit> {
    let opts = LoadOptions {
        validate_only: true,
        ..load_options(cli)?
    };
    let Ok(stack) = load_with(cli, opts)? else {
        return Ok(Exit::Error);
    };
    let deps: BTreeMap<&str, Vec<&str>> = stack
        .resources
        .iter()
        .map(|(n, r)| (n.as_str(), r.deps.iter().map(String::as_str).collect()))
        .collect();
    let nodes: Vec<GraphNode> = topo_order(&deps)
        .into_iter()
        .map(|n| GraphNode {
            name: n,
            kind: &stack.resources[n].kind,
            deps: deps[n].clone(),
        })
        .collect();
    let text = match format {
        GraphFormat::Dot => to_dot(&stack.name, &stack.env, &nodes),
        GraphFormat::Mermaid => to_mermaid(&nodes),
    };
    print!("{text}");
    Ok(Exit::Ok)
}

async fn plan_cmd(cli: &Cli, args: PlanArgs) -> Result<Exit> {
    let Ok(stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
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
    let (plan, _) = plan::plan(&scoped, &state, providers.as_ref(), opts).await?;
    if cli.global.json {
        print_json(&plan)?;
    } else {
        print!("{}", render::plan_text(&plan, &backend.describe()));
    }
    Ok(if plan.changes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

async fn up(cli: &Cli, args: PlanArgs, destroy: bool) -> Result<Exit> {
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
    let plan = match planned {
        Ok((p, _)) => p,
        Err(e) => {
            store.close().await?;
            return Err(e);
        }
    };
    let text = render::plan_text(&plan, &store.describe());
    if !cli.global.json {
        print!("{text}");
    }
    if !plan.changes {
        store.close().await?;
        if cli.global.json {
            print_json(&json!({"ok": true, "operations": [], "plan": plan}))?;
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
        quiet: cli.global.quiet || cli.global.json,
    };
    let (report, store) = apply::apply(stack, plan, store, providers, apply_opts).await;
    let final_state = store.snapshot().await;
    let where_ = store.describe();
    store.close().await?;
    if cli.global.json {
        print_json(&report)?;
    } else {
        let count = |o| report.operations.iter().filter(|r| r.outcome == o).count();
        let (done, failed, skipped) = (
            count(apply::Outcome::Done),
            count(apply::Outcome::Failed),
            count(apply::Outcome::Skipped),
        );
        if report.ok {
            println!(
                "\nApplied: {done} operation{} done. State: {where_}",
                if done == 1 { "" } else { "s" }
            );
            if !destroy {
                print_outputs(&final_state, None);
            }
        } else {
            eprintln!("\nFailed: {done} done, {failed} failed, {skipped} not started. Everything done is recorded in {where_}; fix the cause and run the command again.");
            for r in report
                .operations
                .iter()
                .filter(|r| r.outcome == apply::Outcome::Failed)
            {
                eprintln!("  {}: {}", r.resource, r.error.clone().unwrap_or_default());
            }
        }
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Error })
}

fn print_outputs(state: &crate::state::StateFile, only: Option<&str>) {
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

async fn diff_cmd(cli: &Cli) -> Result<Exit> {
    let Ok(stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let backend = backend(&stack).await?;
    let state = state_mod::read(backend.as_ref(), &stack.name, &stack.env).await?;
    let providers = providers(&stack);
    let report = drift::drift(
        &stack,
        &state,
        providers.as_ref(),
        cli.global.parallelism.into(),
    )
    .await?;
    if cli.global.json {
        print_json(&report)?;
    } else {
        print!("{}", render::drift_text(&report));
    }
    Ok(if report.drift {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

async fn outputs(cli: &Cli, only: Option<&str>) -> Result<Exit> {
    let Ok(stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let backend = backend(&stack).await?;
    let state = state_mod::read(backend.as_ref(), &stack.name, &stack.env).await?;
    if let Some(o) = only {
        if !state.resources.contains_key(o) {
            bail!(
                "no resource `{o}` in the state of stack `{}` env `{}`",
                stack.name,
                stack.env
            );
        }
    }
    if cli.global.json {
        let map: BTreeMap<&String, Value> = state
            .resources
            .iter()
            .filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
            .map(|(n, r)| (n, Value::Object(r.outputs.clone())))
            .collect();
        print_json(&map)?;
    } else {
        print_outputs(&state, only);
    }
    Ok(Exit::Ok)
}

async fn state_cmd(cli: &Cli, sc: &StateCommand) -> Result<Exit> {
    let Ok(stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let backend = backend(&stack).await?;
    match sc {
        StateCommand::Unlock => {
            if !confirm(cli, &format!("Remove the lock of {}?", backend.describe()))? {
                return Ok(Exit::Error);
            }
            match backend.force_unlock().await? {
                Some(h) => eprintln!("Removed the lock held by {h}."),
                None => eprintln!("There was no lock."),
            }
            Ok(Exit::Ok)
        }
        StateCommand::List => {
            let state = state_mod::read(backend.as_ref(), &stack.name, &stack.env).await?;
            if cli.global.json {
                let rows: Vec<Value> = state
                    .resources
                    .iter()
                    .map(|(n, r)| json!({"name": n, "type": r.kind, "status": r.status, "physical_id": r.physical_id}))
                    .collect();
                print_json(&rows)?;
            } else {
                for (n, r) in &state.resources {
                    let status = serde_json::to_value(r.status)?;
                    println!(
                        "{n}\t{}\t{}\t{}",
                        r.kind,
                        status.as_str().unwrap_or_default(),
                        r.physical_id.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(Exit::Ok)
        }
        StateCommand::Show { resource } => {
            let state = state_mod::read(backend.as_ref(), &stack.name, &stack.env).await?;
            let r = state
                .resources
                .get(resource)
                .with_context(|| format!("no resource `{resource}` in {}", backend.describe()))?;
            print_json(r)?;
            Ok(Exit::Ok)
        }
    }
}
