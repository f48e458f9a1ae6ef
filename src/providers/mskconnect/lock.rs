//! `pinctl.lock.json`: the digests of the plugin artifacts a project uses, recorded at their
//! first fetch and verified on every later one — as Cargo.lock, package-lock.json's `integrity`
//! and Terraform's `.terraform.lock.hcl` do for dependencies. It lives at the project root
//! beside `plugins/` and is meant to be committed with the stack, so a source that later serves
//! different bytes (a re-published or tampered artifact) is refused before anything is uploaded.
//!
//! Shape (JSON, keys sorted):
//! `{"version": 1, "artifacts": {"<source>": {"name": ..., "version": ..., "sha256": "<hex>"}}}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::provider::ProviderError;

/// The lock file's name, at the project root.
pub const LOCK_FILE: &str = "pinctl.lock.json";

/// The lock file's format version.
const FORMAT: u32 = 1;

/// One recorded artifact: which plugin it is and the SHA-256 (lowercase hex) of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// The whole file: artifacts by their source (a URL, or a path relative to the project root).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    #[serde(default)]
    pub artifacts: BTreeMap<String, Locked>,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile {
            version: FORMAT,
            artifacts: BTreeMap::new(),
        }
    }
}

/// Where a project's lock file is.
pub fn path(root: &Path) -> PathBuf {
    root.join(LOCK_FILE)
}

/// Reads the lock file; a missing file is an empty lock. Errors: unreadable, not the shape
/// above, or a format version this pinctl does not know ([`ProviderError::Invalid`] naming the
/// file).
pub fn read(root: &Path) -> Result<LockFile, ProviderError> {
    let p = path(root);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockFile::default()),
        Err(e) => return Err(ProviderError::io(format!("reading {}", p.display()), e)),
    };
    let lock: LockFile = serde_json::from_str(&text)
        .map_err(|e| ProviderError::Invalid(format!("{}: {e}", p.display())))?;
    if lock.version != FORMAT {
        return Err(ProviderError::Invalid(format!(
            "{}: format version {} is not one this pinctl reads ({FORMAT})",
            p.display(),
            lock.version
        )));
    }
    Ok(lock)
}

/// Serializes the read-modify-write of the lock file among the plugins of one run.
static WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records `entry` for `source` (replacing nothing: an existing entry wins, so two plugins of
/// one run that share a source cannot record different digests).
pub async fn record(root: &Path, source: &str, entry: Locked) -> Result<Locked, ProviderError> {
    let _guard = WRITER.lock().await;
    let mut lock = read(root)?;
    let kept = lock
        .artifacts
        .entry(source.to_string())
        .or_insert(entry)
        .clone();
    let mut text = serde_json::to_string_pretty(&lock)
        .map_err(|e| ProviderError::Invalid(format!("{LOCK_FILE}: {e}")))?;
    text.push('\n');
    let p = path(root);
    crate::fsx::write_atomically(&p, text.as_bytes())
        .map_err(|e| ProviderError::io(format!("writing {}", p.display()), e))?;
    Ok(kept)
}
