//! What an operation is waiting for, from deep inside a provider call: a provider that rides out
//! a service's propagation delay (see `clients::propagation`) says so here, and the engine shows
//! it on that operation's progress line (the hooks' `op_status`), as it shows a resource's status
//! while it waits for it.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static REPORTER: Reporter;
}

/// Where an operation's status lines go.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Fn(&str) + Send + Sync>);

impl Reporter {
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Reporter(Arc::new(f))
    }
}

/// Runs `f` with `reporter` receiving what [`report`] is told within it (on this task).
pub async fn scope<F: Future>(reporter: Reporter, f: F) -> F::Output {
    REPORTER.scope(reporter, f).await
}

/// Tells the current operation's progress line `status`; outside an operation (a worker, a
/// test), nothing happens.
pub fn report(status: &str) {
    let _ = REPORTER.try_with(|r| (r.0)(status));
}
