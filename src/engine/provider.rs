//! The seam between the engine and a service: what a provider must do for one resource kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::kind::KindInfo;

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
    /// The context of an operation on `resource` of `stack`; `token` is the idempotency token
    /// recorded for its creation, `resuming` whether an earlier run started that creation.
    pub fn new(stack: &crate::stack::Stack, resource: &str, token: &str, resuming: bool) -> Self {
        Cx {
            stack: stack.name.clone(),
            env: stack.env.clone(),
            resource: resource.to_string(),
            token: token.to_string(),
            resuming,
        }
    }

    /// Tags every taggable resource carries, so `down` and tag scans find exactly the stack's.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("pinctl:stack".to_string(), self.stack.clone()),
            ("pinctl:env".to_string(), self.env.clone()),
            ("pinctl:id".to_string(), self.resource.clone()),
        ])
    }
}

/// Why a provider call failed, by cause. What the engine does with each is decided in one place,
/// [`crate::engine::policy::on_error`]; each variant says it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The service refused the call; `code` is its error code. `retryable` is classified once,
    /// from the SDK's metadata (throttling and transient codes as the AWS SDKs' standard retry
    /// classifier lists them, 5xx answers, timeouts and dispatch failures). The engine retries a
    /// retryable one with backoff within the operation's timeout, and stops on any other.
    #[error("{operation}: {code}: {message}")]
    Api {
        operation: String,
        code: String,
        message: String,
        retryable: bool,
    },
    /// Something the operation needs no longer exists (a resource deleted while it was being
    /// waited for). The engine stops the operation.
    #[error("{what} no longer exists")]
    NotFound { what: String },
    /// The resource cannot be deleted or changed while something else still uses it (EC2's
    /// `DependencyViolation` while an ENI detaches). The engine retries within the timeout.
    #[error("{what} is still in use: {reason}")]
    InUse { what: String, reason: String },
    /// A resource exists under the name the stack wants and is not this stack's (its tags say
    /// so). The engine stops: pinctl never takes over what it did not create.
    #[error("{what} `{name}` already exists and is not tagged as this stack's (pinctl:stack, pinctl:env, pinctl:id); pinctl will not take it over")]
    NotOwned { what: String, name: String },
    /// The props cannot be applied as given. The engine stops.
    #[error("invalid props: {0}")]
    Invalid(String),
    /// This build has no implementation for the kind or operation. The engine stops.
    #[error("{0}")]
    Unsupported(String),
    /// The service took the request and then gave up on the resource (a FAILED state), with
    /// its reason. The engine records the resource as failed, so the next plan replaces it.
    #[error("{what} ended {status}: {reason}")]
    Failed {
        what: String,
        status: String,
        reason: String,
    },
    /// The service answered without something its API promises (an ARN, an id). The engine
    /// stops.
    #[error("{operation} answered without {missing}")]
    BadResponse { operation: String, missing: String },
    /// An id recorded in state does not have the kind's shape (a hand-edited state). The
    /// engine stops.
    #[error("malformed {what} id `{id}`")]
    BadId { what: String, id: String },
    /// The Kafka broker refused or failed an admin request (the topic API's fallback). The
    /// engine stops.
    #[error("{operation} (Kafka admin): {message}")]
    Kafka { operation: String, message: String },
    /// No usable AWS credentials for a call that signs by itself (MSK IAM). The engine stops.
    #[error("AWS credentials: {0}")]
    Credentials(String),
    /// A local file could not be read or written. The engine stops.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// An artifact could not be fetched from its URL. The engine stops.
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
}

impl ProviderError {
    /// An I/O error on `what` (a path, usually).
    pub fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        ProviderError::Io {
            what: what.to_string(),
            source: Arc::new(source),
        }
    }

    /// The service's answer lacks `missing`.
    pub fn bad_response(operation: &str, missing: &str) -> Self {
        ProviderError::BadResponse {
            operation: operation.into(),
            missing: missing.into(),
        }
    }

    /// A recorded id of the wrong shape.
    pub fn bad_id(what: &str, id: &str) -> Self {
        ProviderError::BadId {
            what: what.into(),
            id: id.into(),
        }
    }

    /// `what` has disappeared.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ProviderError::NotFound {
            what: what.to_string(),
        }
    }
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
    /// Done; the kind's outputs (every name in its `outputs` list the service reports).
    Ready(Map<String, Value>),
    /// Still working; the text is the service's status, shown in progress output.
    Pending(String),
    /// The service gave up on it; the text is its reason. The engine records the resource as
    /// failed ([`ProviderError::Failed`]).
    Failed(String),
}

/// What a provider does for one resource kind: the engine's only way to touch a service.
///
/// The contract, after crossplane-runtime's `ExternalClient` (pkg/reconciler/managed/
/// reconciler.go) and Pulumi's `CustomResource` (infer/resource.go):
///
/// - **No call blocks on the service.** `create`, `update` and `delete` start the change and
///   return; the engine waits through [`poll`](Self::poll) and
///   [`is_deleted`](Self::is_deleted), with backoff, within the kind's timeout. A call that
///   itself waits (a rollout, an eventual-consistency retry) must stay well inside it.
/// - **Every call is idempotent.** The engine repeats `read`, `poll`, `is_deleted`, `adopt` and
///   `delete` after a retryable error ([`crate::engine::policy`]); it never repeats `create` or
///   `update` within a run, but a later run may, after a crash. So `create` uses `cx.token` as
///   the service's client token, or in the physical name, or as a tag, so that the same token
///   never makes a second resource.
/// - **State is recorded around every call.** Before `create` the resource is recorded as
///   creating with its token; the physical id `create` returns is recorded at once; the outputs
///   [`Poll::Ready`] carries are recorded when ready. A run that dies in between leaves a
///   `creating` entry, and the next run calls [`adopt`](Self::adopt) first.
/// - **`recorded` is what the engine last applied**: the resolved props, with every secret
///   (the kind's `secret` props and secret params) replaced by its salted digest. A provider
///   never needs a secret's value from state; it gets it in `props` when creating or updating.
/// - **`adopt` runs only when resuming** (`cx.resuming`: a `creating` entry without a
///   physical id, or a deletion without one): it finds what the interrupted run made with
///   `cx.token` (by client token, tag or name) and returns its physical id, or `None` to
///   create anew. It must never return a resource that is not this stack's
///   ([`crate::engine::provider::ProviderError::NotOwned`] when a name is taken by another).
/// - **"Already gone" is success for `delete`**, and `read` answers `Ok(None)` for a resource
///   that no longer exists — never an error: the plan then shows it as deleted outside pinctl.
/// - **`update` changes in place** the fields listed in `changed` (paths as plans show them);
///   fields that cannot change in place are declared in the kind's `replace` list, and the
///   plan replaces instead of calling `update`. It returns a new physical id when the service
///   itself had to replace the resource. A kind that cannot change in place at all declares
///   [`KindInfo::no_update`]: its plan replaces it on any change (reason `cannot_update`) and
///   `update` is never called.
/// - **Errors say why** ([`ProviderError`], by cause); each variant's doc says what the engine
///   does with it.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The kind's static description (schema, outputs, replacement rules, secrets, timeout).
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

    /// Live resources that look like `cx.resource` as `props` describe it, whoever made them:
    /// under the name `props` give it, or tagged with the stack's `pinctl:stack`, `pinctl:env`
    /// and `pinctl:id`. Read only, and it asks nothing about ownership (that is the caller's
    /// question). [`ProviderError::Unsupported`] for a kind that has neither a name of its own
    /// nor tags a lookup could use (a part of another resource: a topic, a stage, a policy).
    async fn find(&self, cx: &Cx, props: &Value) -> Result<Vec<Found>, ProviderError> {
        let _ = (cx, props);
        Err(ProviderError::Unsupported(format!(
            "`{}` cannot be looked up",
            self.info().name
        )))
    }
}

/// A live resource [`Provider::find`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub physical_id: String,
    pub by: FoundBy,
}

/// How a lookup found a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundBy {
    /// It has the name the stack gives the resource.
    Name(String),
    /// It carries the `Name` tag the stack gives the resource (EC2's only name).
    NameTag(String),
    /// It carries the stack's `pinctl:stack`, `pinctl:env` and `pinctl:id` tags.
    Tags,
}

impl Found {
    /// Found under `name`.
    pub fn named(physical_id: impl Into<String>, name: impl Into<String>) -> Self {
        Found {
            physical_id: physical_id.into(),
            by: FoundBy::Name(name.into()),
        }
    }

    /// Found by the stack's tags.
    pub fn tagged(physical_id: impl Into<String>) -> Self {
        Found {
            physical_id: physical_id.into(),
            by: FoundBy::Tags,
        }
    }
}

impl std::fmt::Display for FoundBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FoundBy::Name(n) => write!(f, "named `{n}`"),
            FoundBy::NameTag(n) => write!(f, "Name tag `{n}`"),
            FoundBy::Tags => {
                f.write_str("tagged with the stack's pinctl:stack, pinctl:env and pinctl:id")
            }
        }
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
