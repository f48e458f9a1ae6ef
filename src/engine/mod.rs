//! The engine: plan, apply, drift and destroy. It knows resource kinds only through
//! [`provider::Provider`] and [`crate::kind::KindInfo`]; nothing here talks to a service, prints,
//! or listens for signals: progress goes to [`hooks::Hooks`], and cancellation is passed in.

pub mod apply;
pub mod backoff;
pub mod diff;
pub mod drift;
pub mod hooks;
pub mod import;
pub mod parts;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod provider;
pub mod target;

use std::time::Duration;

use crate::state::StateError;
use apply::OpKind;
use provider::ProviderError;

/// Why an engine call or one of its operations failed. Every variant keeps its source.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The stack or the state names a kind no provider serves.
    #[error("no provider for resource type `{0}`")]
    UnknownKind(String),
    /// A provider call of an operation failed.
    #[error("{resource}: {op} failed: {source}")]
    Op {
        resource: String,
        op: OpKind,
        #[source]
        source: ProviderError,
    },
    /// Reading a resource's live form failed (plan's refresh, drift).
    #[error("{resource}: reading it: {source}")]
    Read {
        resource: String,
        #[source]
        source: ProviderError,
    },
    /// The kind's `prepare` step refused the resolved props (a template that does not render,
    /// a file that is not there).
    #[error("{resource}: {message}")]
    Prepare { resource: String, message: String },
    /// Resolved props break a rule of the kind's schema that AWS documents (a name's pattern,
    /// a list's most items): found at plan, before anything is called.
    #[error("{resource}: {}", problems.join("; "))]
    Invalid {
        resource: String,
        problems: Vec<String>,
    },
    /// An operation took longer than its timeout; what was started is recorded.
    /// `last` is the last thing it was waiting for (a status, a refusal being retried), so a
    /// timeout says why, not only when.
    #[error("{resource}: timed out after {}{}; what was started is recorded, run the command again to keep waiting", humantime::format_duration(*after), last.as_ref().map(|l| format!("; {l}")).unwrap_or_default())]
    Timeout {
        resource: String,
        after: Duration,
        last: Option<String>,
    },
    /// Props refer to values that are not available when the operation runs.
    #[error("{resource}: cannot resolve {}: it refers to a value that is not available (an output the dependency did not report, or a secret prop of another resource, which state keeps only as a hash)", paths.join(", "))]
    Unresolved {
        resource: String,
        paths: Vec<String>,
    },
    /// The state does not hold what the operation needs (it was edited or removed meanwhile).
    #[error("{resource}: {detail}")]
    NotRecorded { resource: String, detail: String },
    /// Reading or writing state failed.
    #[error("recording state: {0}")]
    State(#[source] Box<StateError>),
    /// An operation's task panicked (a bug); the walk stops starting new work.
    #[error("{resource}: the operation panicked: {message}")]
    Panicked { resource: String, message: String },
}

impl From<StateError> for EngineError {
    fn from(e: StateError) -> Self {
        EngineError::State(Box::new(e))
    }
}
