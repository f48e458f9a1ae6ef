//! The seam between the engine and a service: what a provider must do for one resource kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::kind::KindInfo;

/// Who is asking: the stack, env and resource an operation is for.
#[derive(Debug, Clone)]
pub struct Cx {
    pub stack: String,
    pub env: String,
    pub resource: String,
    /// Idempotency token of the current creation (client token, or part of a physical name).
    pub token: String,
    /// This run resumes a creation an earlier run started and did not finish.
    pub resuming: bool,
}

impl Cx {
    /// Tags every taggable resource carries, so `down` and tag scans find exactly the stack's.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("pinctl:stack".to_string(), self.stack.clone()),
            ("pinctl:env".to_string(), self.env.clone()),
            ("pinctl:id".to_string(), self.resource.clone()),
        ])
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The service refused the call; `code` is its error code.
    #[error("{operation}: {code}: {message}")]
    Api {
        operation: String,
        code: String,
        message: String,
    },
    /// The props cannot be applied as given.
    #[error("invalid props: {0}")]
    Invalid(String),
    /// This build has no implementation for the kind or operation.
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Other(String),
}

/// What a resource looks like in its service.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Props as the service reports them (the same shape as the stack's props).
    pub props: Value,
    pub outputs: Map<String, Value>,
}

/// Progress of a create or update.
#[derive(Debug, Clone)]
pub enum Poll {
    Ready(Map<String, Value>),
    /// Still working; the text is the service's status, shown in progress output.
    Pending(String),
    /// The service gave up on it.
    Failed(String),
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn info(&self) -> &KindInfo;

    /// The live resource, or `None` when it no longer exists.
    async fn read(
        &self,
        cx: &Cx,
        physical_id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError>;

    /// Finds a resource an interrupted run created with `cx.token`, if any.
    async fn adopt(&self, cx: &Cx, props: &Value) -> Result<Option<String>, ProviderError> {
        let _ = (cx, props);
        Ok(None)
    }

    /// Starts the creation and returns the physical id; waiting is [`poll`](Self::poll)'s job.
    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError>;

    /// Whether a create or update has finished; `Ready` carries the outputs.
    async fn poll(&self, cx: &Cx, physical_id: &str) -> Result<Poll, ProviderError>;

    /// Changes in place the fields listed in `changed` (paths as shown in plans). Returns a new
    /// physical id when the service had to replace the resource to apply the change.
    async fn update(
        &self,
        cx: &Cx,
        physical_id: &str,
        old: &Value,
        new: &Value,
        changed: &[String],
    ) -> Result<Option<String>, ProviderError>;

    /// Starts the deletion; a resource already gone is not an error. `recorded` are the props
    /// it was last applied with.
    async fn delete(
        &self,
        cx: &Cx,
        physical_id: &str,
        recorded: &Value,
    ) -> Result<(), ProviderError>;

    /// Whether the deletion has finished.
    async fn is_deleted(&self, cx: &Cx, physical_id: &str) -> Result<bool, ProviderError> {
        Ok(self.read(cx, physical_id, &Value::Null).await?.is_none())
    }
}

/// Finds the provider of a kind.
pub trait Providers: Send + Sync {
    fn get(&self, kind: &str) -> Option<Arc<dyn Provider>>;
}

impl Providers for BTreeMap<String, Arc<dyn Provider>> {
    fn get(&self, kind: &str) -> Option<Arc<dyn Provider>> {
        BTreeMap::get(self, kind).cloned()
    }
}
