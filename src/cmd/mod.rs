//! The command layer: what each command does — load the stack, talk to state and providers,
//! print for a person or as JSON, choose the exit code. The only module that imports the CLI's
//! types or prints; `main.rs` parses, calls [`run`], and maps its result to the process's exit.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

mod apply;
mod import;
mod inspect;
mod local;
mod validate;
pub mod view;
pub mod worker;

use crate::cli::{Cli, Command, PlanArgs};
use crate::engine::provider::Providers;
use crate::kind::Kinds;
use crate::stack::model::BackendKind;
use crate::stack::{self, LoadOptions, Stack};
use crate::state::local::LocalBackend;
use crate::state::s3::S3Backend;
use crate::state::Backend;

/// Exit codes: 0 ok / nothing to change, 1 error, 2 changes or drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Error = 1,
    Changes = 2,
    /// `local status`: the twin runs, but a process of it keeps exiting.
    Unhealthy = 3,
}

pub fn kinds() -> Kinds {
    crate::providers::Registry::all().kinds()
}

pub(crate) fn providers(stack: &Stack) -> Arc<dyn Providers> {
    Arc::new(crate::providers::Registry::all().providers(&stack.root))
}

pub(crate) fn load_options(cli: &Cli) -> Result<LoadOptions> {
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
pub(crate) struct Invalid;

pub(crate) fn load(cli: &Cli) -> Result<std::result::Result<Stack, Invalid>> {
    load_with(cli, load_options(cli)?)
}

pub(crate) fn load_with(
    cli: &Cli,
    opts: LoadOptions,
) -> Result<std::result::Result<Stack, Invalid>> {
    match stack::load(&cli.global.file, cli.global.env.as_deref(), &kinds(), &opts) {
        Ok(s) => Ok(Ok(s)),
        Err(d) => {
            eprintln!("{d}");
            Ok(Err(Invalid))
        }
    }
}

pub(crate) async fn backend(stack: &Stack) -> Result<Arc<dyn Backend>> {
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

pub(crate) fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let v = crate::stack::resolve::public(serde_json::to_value(v)?);
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &v)?;
    writeln!(out)?;
    Ok(())
}

pub(crate) fn confirm(cli: &Cli, question: &str) -> Result<bool> {
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

/// Runs the command `cli` names; `Err` is an error for `main` to print (exit code 1).
pub async fn run(cli: Cli) -> Result<Exit> {
    match &cli.command {
        Command::Validate => validate::validate(&cli),
        Command::Schema => {
            print_json(&stack::stack_schema(&kinds()))?;
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "pinctl", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
        Command::Graph { format } => validate::graph(&cli, *format),
        Command::Plan { args, output } => apply::plan_cmd(&cli, args.clone(), *output).await,
        Command::Up(args) => apply::up(&cli, args.clone(), false).await,
        Command::Import => import::import(&cli).await,
        Command::Down {
            targets,
            no_refresh,
            prices,
        } => {
            apply::up(
                &cli,
                PlanArgs {
                    targets: targets.clone(),
                    no_refresh: *no_refresh,
                    destroy: true,
                    no_preflight: true,
                    prices: *prices,
                },
                true,
            )
            .await
        }
        Command::Diff { output, unmanaged } => inspect::diff_cmd(&cli, *output, *unmanaged).await,
        Command::Outputs { resource } => inspect::outputs(&cli, resource.as_deref()).await,
        Command::State(sc) => inspect::state_cmd(&cli, sc).await,
        Command::Data(dc) => worker::data(&cli.global, dc).await,
        Command::Worker(wc) => worker::worker(&cli.global, wc).await,
        Command::Bench(bc) => worker::bench(&cli.global, bc).await,
        Command::Local(lc) => local::run(&cli, lc).await,
    }
}
