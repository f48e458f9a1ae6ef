//! The engine: graph, plan, apply, drift and destroy. It knows resource kinds only through
//! [`provider::Provider`] and [`kind::KindInfo`]; nothing here talks to a service.

pub mod apply;
pub mod backoff;
pub mod diff;
pub mod drift;
pub mod graph;
pub mod kind;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod render;
pub mod target;

use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no provider for resource type `{0}`")]
    UnknownKind(String),
    #[error("{resource}: {message}")]
    Provider { resource: String, message: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("internal error: {0}")]
    Internal(String),
}
