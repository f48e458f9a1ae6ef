//! `up --json` and `down --json`: one JSON object per line on stdout as things happen, like
//! Terraform's `-json` view (internal/command/views/hook_json.go). Every line has `"type"`:
//! `plan` (the plan document, once), `op_started`, `op_status`, `op_finished`,
//! `state_recorded`, `cancelled`, and last `apply_complete` (the report: `ok`, `operations`).

use std::io::Write;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::engine::apply::{ApplyReport, OpResult};
use crate::engine::hooks::{Hooks, OpRef};
use crate::engine::plan::Plan;
use crate::state::Status;

/// Writes events as JSON lines to stdout.
pub struct JsonView {
    out: Mutex<std::io::Stdout>,
}

impl Default for JsonView {
    fn default() -> Self {
        JsonView {
            out: Mutex::new(std::io::stdout()),
        }
    }
}

impl JsonView {
    /// Writes one event: `{"type": TYPE, ...fields}`.
    pub fn event(&self, kind: &str, fields: Value) {
        let mut line = json!({ "type": kind });
        if let (Value::Object(l), Value::Object(f)) =
            (&mut line, crate::stack::resolve::public(fields))
        {
            l.extend(f);
        }
        if let Ok(mut out) = self.out.lock() {
            // A closed stdout (a pipe whose reader left) must not stop the apply.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// The plan about to be applied.
    pub fn plan(&self, plan: &Plan) {
        self.event("plan", json!({ "plan": plan }));
    }

    /// The final report.
    pub fn complete(&self, report: &ApplyReport) {
        let mut doc = serde_json::to_value(report).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut doc {
            m.insert(
                "propagation_waits".into(),
                json!(crate::clients::propagation::waits()),
            );
        }
        self.event("apply_complete", doc);
    }
}

impl Hooks for JsonView {
    fn op_started(&self, op: &OpRef) {
        self.event("op_started", json!(op));
    }

    fn op_status(&self, op: &OpRef, status: &str) {
        let mut v = json!(op);
        v["status"] = json!(status);
        self.event("op_status", v);
    }

    fn op_finished(&self, op: &OpRef, result: &OpResult) {
        let mut v = json!(result);
        v["resource_type"] = json!(op.kind);
        self.event("op_finished", v);
    }

    fn state_recorded(&self, resource: &str, status: Option<Status>) {
        self.event(
            "state_recorded",
            json!({ "resource": resource, "status": status }),
        );
    }

    fn cancelled(&self) {
        self.event("cancelled", json!({}));
    }
}
