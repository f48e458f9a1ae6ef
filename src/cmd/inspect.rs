//! `diff`, `outputs` and `state`: what is recorded and what is live, read only (but `state
//! unlock`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::apply::{aws_values, print_outputs};
use super::view::{markdown, render};
use super::{backend, confirm, load, print_json, providers, Exit};
use crate::cli::{Cli, ReportFormat, ReportOutput, StateCommand};
use crate::clients::aws::Clients;
use crate::engine::drift;
use crate::state as state_mod;

pub(super) async fn diff_cmd(cli: &Cli, output: ReportOutput, unmanaged: bool) -> Result<Exit> {
    let format = output
        .resolve(cli.global.json)
        .map_err(anyhow::Error::msg)?;
    let Ok(mut stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let backend = backend(&stack).await?;
    let state = state_mod::read(backend.as_ref(), &stack.name, &stack.env).await?;
    let providers = providers(&stack);
    let mut report = drift::drift(
        &stack,
        &state,
        providers.as_ref(),
        cli.global.parallelism.into(),
    )
    .await?;
    if unmanaged {
        aws_values(&mut stack, &Clients::new()).await?;
        let found = drift::unmanaged(
            &stack,
            &state,
            providers.as_ref(),
            cli.global.parallelism.into(),
        )
        .await?;
        report.unmanaged = Some(found.look_alikes);
        report.not_looked_up = found.not_looked_up;
    }
    match format {
        ReportFormat::Json => print_json(&report)?,
        ReportFormat::Text => print!("{}", render::drift_text(&report)),
        ReportFormat::Markdown => print!("{}", markdown::drift(&report)),
    }
    let look_alikes = report.unmanaged.as_ref().is_some_and(|u| !u.is_empty());
    Ok(if report.drift || look_alikes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

pub(super) async fn outputs(cli: &Cli, only: Option<&str>) -> Result<Exit> {
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

pub(super) async fn state_cmd(cli: &Cli, sc: &StateCommand) -> Result<Exit> {
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
