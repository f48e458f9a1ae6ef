//! `import`: the live resources a person made by hand, matched to the stack's, shown with the
//! plan that would follow, and, confirmed, recorded in state (nothing in AWS changes).

use anyhow::Result;
use serde_json::json;

use super::apply::aws_values;
use super::view::render;
use super::{backend, confirm, load, print_json, providers, Exit};
use crate::cli::Cli;
use crate::clients::aws::Clients;
use crate::engine::import;
use crate::engine::plan::{self, PlanOptions};
use crate::state::StateStore;

pub(super) async fn import(cli: &Cli) -> Result<Exit> {
    let Ok(mut stack) = load(cli)? else {
        return Ok(Exit::Error);
    };
    let clients = Clients::new();
    aws_values(&mut stack, &clients).await?;
    let backend = backend(&stack).await?;
    let store = StateStore::open(
        backend,
        &stack.name,
        &stack.env,
        "import",
        cli.global.lock_timeout,
    )
    .await?;
    let outcome = run(cli, &stack, &store).await;
    store.close().await?;
    outcome
}

async fn run(cli: &Cli, stack: &crate::stack::Stack, store: &StateStore) -> Result<Exit> {
    let providers = providers(stack);
    let state = store.snapshot().await;
    let found = import::find(stack, &state, providers.as_ref()).await?;
    let opts = PlanOptions {
        refresh: true,
        destroy: false,
        parallelism: cli.global.parallelism.into(),
    };
    let (after, _) = plan::plan(stack, &found.state, providers.as_ref(), opts).await?;
    let matched = found.matched().count();
    if cli.global.json {
        print_json(&json!({
            "resources": found.items,
            "matched": matched,
            "ambiguous": found.ambiguous(),
            "plan": after,
        }))?;
    } else {
        print!("{}", render::import_text(&found.items));
        if matched > 0 {
            println!("\nAfter the import, `pinctl plan` would show:\n");
            print!("{}", render::plan_text(&after, &store.describe()));
        }
    }
    if found.ambiguous() {
        eprintln!("Refused: a resource of the stack matches several live ones (above); pinctl never guesses which. Delete or rename the ones that are not this stack's, then run `pinctl import` again.");
        return Ok(Exit::Error);
    }
    if matched == 0 {
        if !cli.global.json {
            println!("Nothing to import.");
        }
        return Ok(Exit::Ok);
    }
    let question = format!(
        "Record these {matched} resource{} in the state of stack `{}` env `{}` (nothing in AWS changes)?",
        if matched == 1 { "" } else { "s" },
        stack.name,
        stack.env
    );
    if !confirm(cli, &question)? {
        eprintln!("Nothing was recorded.");
        return Ok(Exit::Error);
    }
    let names: Vec<String> = found.matched().map(|i| i.resource.clone()).collect();
    store
        .update(|s| {
            for n in &names {
                if let Some(r) = found.state.resources.get(n) {
                    s.resources.entry(n.clone()).or_insert_with(|| r.clone());
                }
            }
        })
        .await?;
    if !cli.global.json {
        println!(
            "Imported {matched} resource{} into {}. `pinctl plan` shows what brings them to the stack.",
            if matched == 1 { "" } else { "s" },
            store.describe()
        );
    }
    Ok(Exit::Ok)
}
