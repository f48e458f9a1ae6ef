//! `validate` and `graph`: the stack alone, no service called.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{json, Value};

use super::{kinds, load_options, load_with, print_json, Exit};
use crate::cli::{Cli, GraphFormat};
use crate::dag::{to_dot, to_mermaid, topo_order, GraphNode};
use crate::stack::{self, LoadOptions};

pub(super) fn validate(cli: &Cli) -> Result<Exit> {
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

pub(super) fn graph(cli: &Cli, format: GraphFormat) -> Result<Exit> {
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
