//! Recorded state per stack and env: the model, the local and S3 backends, locking, and the
//! store the engine writes through after every step.

pub mod local;
pub mod lock;
pub mod model;
pub mod s3;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;

pub use lock::LockInfo;
pub use model::{ResourceState, StateFile, Status};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state at {location} is not valid: {message}")]
    Corrupt { location: String, message: String },
    #[error("{operation}: {code}: {message}")]
    Remote {
        operation: String,
        code: String,
        message: String,
    },
    #[error("the state at {location} is locked by {holder}; wait for it to finish, pass --lock-timeout to wait, or run `pinctl state unlock` if that run is gone")]
    Locked { location: String, holder: LockInfo },
    #[error("the state at {location} belongs to stack `{found_stack}` env `{found_env}`, not `{stack}` env `{env}`")]
    WrongStack {
        location: String,
        stack: String,
        env: String,
        found_stack: String,
        found_env: String,
    },
}

/// A place state is kept.
#[async_trait]
pub trait Backend: Send + Sync {
    fn describe(&self) -> String;
    async fn read(&self) -> Result<Option<StateFile>, StateError>;
    async fn write(&self, state: &StateFile) -> Result<(), StateError>;
    /// Takes the lock, or returns who holds it.
    async fn try_lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, StateError>;
    async fn unlock(&self, id: &str) -> Result<(), StateError>;
    /// Removes the lock whoever holds it; returns who did.
    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError>;
}

/// Reads state without locking (plan, diff, outputs), refusing another stack's.
pub async fn read(backend: &dyn Backend, stack: &str, env: &str) -> Result<StateFile, StateError> {
    match backend.read().await? {
        None => Ok(StateFile::new(stack, env)),
        Some(s) if s.stack == stack && s.env == env => Ok(s),
        Some(s) => Err(StateError::WrongStack {
            location: backend.describe(),
            stack: stack.into(),
            env: env.into(),
            found_stack: s.stack,
            found_env: s.env,
        }),
    }
}

/// The state of a run that changes things: locked for its whole life, written after every step.
pub struct StateStore {
    backend: Arc<dyn Backend>,
    state: Mutex<StateFile>,
    lock_id: String,
}

impl StateStore {
    /// Locks and reads the state. A lock left by a process of this host that no longer exists
    /// (a killed run) is taken over; any other held lock fails at once, or after `wait`.
    pub async fn open(
        backend: Arc<dyn Backend>,
        stack: &str,
        env: &str,
        operation: &str,
        wait: Duration,
    ) -> Result<Self, StateError> {
        let info = LockInfo::for_this_process(operation);
        let started = Instant::now();
        loop {
            match backend.try_lock(&info).await? {
                None => break,
                Some(holder) if holder.is_stale() => {
                    tracing::warn!("taking over the lock of {holder}: that process is gone");
                    backend.force_unlock().await?;
                }
                Some(holder) => {
                    if started.elapsed() >= wait {
                        return Err(StateError::Locked {
                            location: backend.describe(),
                            holder,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        let state = match read(backend.as_ref(), stack, env).await {
            Ok(s) => s,
            Err(e) => {
                let _ = backend.unlock(&info.id).await;
                return Err(e);
            }
        };
        Ok(StateStore {
            backend,
            state: Mutex::new(state),
            lock_id: info.id,
        })
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    pub async fn snapshot(&self) -> StateFile {
        self.state.lock().await.clone()
    }

    /// Applies `f` and writes the result before returning, so nothing is lost to a kill.
    pub async fn update<R>(&self, f: impl FnOnce(&mut StateFile) -> R) -> Result<R, StateError> {
        let mut guard = self.state.lock().await;
        let r = f(&mut guard);
        guard.serial += 1;
        self.backend.write(&guard).await?;
        Ok(r)
    }

    pub async fn close(self) -> Result<(), StateError> {
        self.backend.unlock(&self.lock_id).await
    }
}
