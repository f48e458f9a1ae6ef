//! How the engine reports what it does, as Terraform's `Hook` (internal/terraform/hook.go): the
//! engine calls these as operations start, change status, finish and are recorded; views (the
//! human progress display, the streamed JSON of `up --json`) implement them outside the engine.

use serde::Serialize;

use super::apply::{OpKind, OpResult};
use crate::state::Status;

/// One operation on one resource.
#[derive(Debug, Clone, Serialize)]
pub struct OpRef {
    pub resource: String,
    /// The resource's kind, e.g. `s3.bucket`.
    #[serde(rename = "resource_type")]
    pub kind: String,
    pub operation: OpKind,
}

/// Receives the engine's events. Every method has an empty default; calls come from several
/// tasks at once, so implementations synchronise themselves.
pub trait Hooks: Send + Sync {
    /// The operation started.
    fn op_started(&self, op: &OpRef) {
        let _ = op;
    }
    /// The service reported a status while the engine waits (e.g. `CREATING`).
    fn op_status(&self, op: &OpRef, status: &str) {
        let _ = (op, status);
    }
    /// The operation ended (done or failed).
    fn op_finished(&self, op: &OpRef, result: &OpResult) {
        let _ = (op, result);
    }
    /// A resource's entry was written to state with this status (`None`: removed).
    fn state_recorded(&self, resource: &str, status: Option<Status>) {
        let _ = (resource, status);
    }
    /// Cancellation arrived: no new operation starts; the running ones finish.
    fn cancelled(&self) {}
}

/// Hooks that ignore everything.
pub struct NoHooks;

impl Hooks for NoHooks {}
