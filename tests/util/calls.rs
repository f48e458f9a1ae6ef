//! The AWS calls a `pinctl` run made, from the call log it writes when `PINCTL_CALL_LOG` is set
//! (one line per call: milliseconds, service, operation).

use super::Project;

/// Operation name prefixes that change something; a run that should change nothing makes none.
pub const MUTATING: &[&str] = &[
    "Create",
    "Put",
    "Update",
    "Delete",
    "Attach",
    "Detach",
    "Add",
    "Remove",
    "Run",
    "Terminate",
    "Modify",
    "Authorize",
    "Revoke",
    "Increase",
    "Decrease",
    "Start",
    "Stop",
    "Associate",
    "Disassociate",
    "Tag",
    "Untag",
    "Send",
];

/// Where a project's runs log their calls; add it to the project's env as `PINCTL_CALL_LOG`.
pub fn log_path(p: &Project) -> std::path::PathBuf {
    p.path().join("calls.log")
}

/// Makes the project's runs log their AWS calls.
pub fn enable(p: &mut Project) {
    let path = log_path(p).display().to_string();
    p.env.push(("PINCTL_CALL_LOG".into(), path));
}

/// (milliseconds, service, operation) of every AWS call logged since the last [`reset`].
pub fn calls(p: &Project) -> Vec<(u128, String, String)> {
    std::fs::read_to_string(log_path(p))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut it = l.split(' ');
            (
                it.next().unwrap().parse().unwrap(),
                it.next().unwrap().to_string(),
                it.next().unwrap().to_string(),
            )
        })
        .collect()
}

/// Forgets the calls logged so far.
pub fn reset(p: &Project) {
    let _ = std::fs::remove_file(log_path(p));
}

/// `service Operation` of every logged call that changes something.
pub fn mutating(p: &Project) -> Vec<String> {
    calls(p)
        .into_iter()
        .filter(|(_, _, op)| MUTATING.iter().any(|m| op.starts_with(m)))
        .map(|(_, s, op)| format!("{s} {op}"))
        .collect()
}
