//! `--target NAME`: limit a run to some resources. Planning includes what they depend on;
//! destroying includes what depends on them, so nothing is left pointing at a deleted resource.

use std::collections::BTreeSet;

use crate::stack::Stack;
use crate::state::StateFile;

/// The stack and state restricted to `targets`, or an error naming an unknown target.
pub fn restrict(
    stack: &Stack,
    state: &StateFile,
    targets: &[String],
    destroy: bool,
) -> Result<(Stack, StateFile), String> {
    if targets.is_empty() {
        return Ok((stack.clone(), state.clone()));
    }
    for t in targets {
        if !stack.resources.contains_key(t) && !state.resources.contains_key(t) {
            return Err(format!(
                "--target {t}: no resource `{t}` in the stack or its state for env `{}`",
                stack.env
            ));
        }
    }
    let mut keep: BTreeSet<String> = targets.iter().cloned().collect();
    loop {
        let before = keep.len();
        if destroy {
            for (name, r) in &state.resources {
                if r.depends_on.iter().any(|d| keep.contains(d)) {
                    keep.insert(name.clone());
                }
            }
        } else {
            let deps: Vec<String> = keep
                .iter()
                .filter_map(|n| stack.resources.get(n))
                .flat_map(|r| r.deps.iter().cloned())
                .collect();
            keep.extend(deps);
        }
        if keep.len() == before {
            break;
        }
    }
    let mut s = stack.clone();
    s.resources.retain(|n, _| keep.contains(n));
    let mut st = state.clone();
    st.resources.retain(|n, _| keep.contains(n));
    Ok((s, st))
}
