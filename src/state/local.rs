//! State in local files: `<dir>/<stack>/<env>.json`, written atomically, locked by `<env>.lock`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::lock::LockInfo;
use super::model::StateFile;
use super::{Backend, StateError};
use crate::fsx::write_atomically;

pub struct LocalBackend {
    dir: PathBuf,
    env: String,
}

impl LocalBackend {
    pub fn new(root: &Path, stack: &str, env: &str) -> Self {
        LocalBackend {
            dir: root.join(stack),
            env: env.into(),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.env))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.env))
    }

    fn io(path: &Path, source: std::io::Error) -> StateError {
        StateError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.state_path().display().to_string()
    }

    async fn read(&self) -> Result<Option<StateFile>, StateError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        location: path.display().to_string(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&path, e)),
        }
    }

    async fn write(&self, state: &StateFile) -> Result<(), StateError> {
        let path = self.state_path();
        let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        bytes.push(b'\n');
        write_atomically(&path, &bytes).map_err(|e| Self::io(&path, e))
    }

    async fn try_lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::io(&self.dir, e))?;
        // Written whole under a temporary name, then linked into place: the link fails if a
        // lock exists, and a lock is never seen half-written, even after a kill.
        let tmp = self
            .dir
            .join(format!(".{}.lock.{}.tmp", self.env, std::process::id()));
        let bytes = serde_json::to_vec_pretty(info).expect("lock serializes");
        write_atomically(&tmp, &bytes).map_err(|e| Self::io(&tmp, e))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
                match holder {
                    Some(h) => Ok(Some(h)),
                    // Not a lock pinctl wrote: report it as held by someone unknown.
                    None => Ok(Some(LockInfo {
                        id: String::new(),
                        operation: "?".into(),
                        who: "unknown".into(),
                        host: "unknown".into(),
                        pid: 0,
                        created: "unknown".into(),
                    })),
                }
            }
            Err(e) => Err(Self::io(&path, e)),
        }
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let path = self.lock_path();
        let holder = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
        if holder.is_some_and(|h| h.id == id) {
            std::fs::remove_file(&path).map_err(|e| Self::io(&path, e))?;
        }
        Ok(())
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        let holder = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(holder),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&path, e)),
        }
    }
}
