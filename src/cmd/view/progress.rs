//! Progress on stderr: a spinner per running operation with its elapsed time on a terminal,
//! one line per start and finish otherwise (Terraform's "Still creating..." view, hook_ui.go).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::apply::{OpKind, OpResult, Outcome};
use crate::engine::hooks::{Hooks, OpRef};

/// The human view of an apply.
pub struct ProgressView {
    multi: MultiProgress,
    interactive: bool,
    quiet: bool,
    bars: Mutex<HashMap<(String, OpKind), ProgressBar>>,
}

impl ProgressView {
    /// `quiet`: print nothing (as `--quiet`).
    pub fn new(quiet: bool) -> Self {
        let interactive = std::io::stderr().is_terminal() && !quiet;
        let target = if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        ProgressView {
            multi: MultiProgress::with_draw_target(target),
            interactive,
            quiet,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn label(op: &OpRef) -> String {
        format!("{} {} ({})", op.operation.verb().0, op.resource, op.kind)
    }

    fn line(&self, text: &str) {
        if self.interactive {
            let _ = self.multi.println(text);
        } else if !self.quiet {
            eprintln!("{text}");
        }
    }
}

fn symbol(k: OpKind) -> &'static str {
    match k {
        OpKind::Create => "+",
        OpKind::Update => "~",
        OpKind::Delete | OpKind::DeleteDeposed => "-",
    }
}

impl Hooks for ProgressView {
    fn op_started(&self, op: &OpRef) {
        let label = Self::label(op);
        if self.interactive {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(label);
            bar.enable_steady_tick(Duration::from_millis(120));
            if let Ok(mut bars) = self.bars.lock() {
                bars.insert((op.resource.clone(), op.operation), bar);
            }
        } else if !self.quiet {
            eprintln!("{label}...");
        }
    }

    fn op_status(&self, op: &OpRef, status: &str) {
        if let Ok(bars) = self.bars.lock() {
            if let Some(b) = bars.get(&(op.resource.clone(), op.operation)) {
                b.set_message(format!("{} [{status}]", Self::label(op)));
            }
        }
    }

    fn op_finished(&self, op: &OpRef, result: &OpResult) {
        let bar = self
            .bars
            .lock()
            .ok()
            .and_then(|mut b| b.remove(&(op.resource.clone(), op.operation)));
        if let Some(b) = bar {
            b.finish_and_clear();
            self.multi.remove(&b);
        }
        let secs = result.seconds;
        let line = match result.outcome {
            Outcome::Done => format!(
                "{} {}: {} in {secs:.1}s",
                symbol(op.operation),
                op.resource,
                op.operation.verb().1
            ),
            _ => format!(
                "! {}: {} failed after {secs:.1}s: {}",
                op.resource,
                op.operation.verb().0,
                result.error.as_deref().unwrap_or_default()
            ),
        };
        self.line(&line);
    }

    fn cancelled(&self) {
        self.line("interrupted: no new operation starts; waiting for the running ones to finish");
    }
}
