//! `mskconnect.custom_plugin`: an MSK Connect custom plugin from a manifest in plugins/, its
//! artifact verified against the manifest's digest (or, when the manifest gives none, the digest
//! recorded in `pinctl.lock.json` at its first fetch: [`super::lock`]) and uploaded once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kafkaconnect::types::{
    CustomPluginContentType, CustomPluginLocation, CustomPluginState, S3Location,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::lock::{self, Locked, LOCK_FILE};
use super::NOT_FOUND;
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, progress, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// Registers `mskconnect.custom_plugin` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "mskconnect.custom_plugin",
            "An MSK Connect custom plugin from a manifest in plugins/, verified and uploaded once",
        )
        .schema::<CustomPluginProps>()
        .outputs(&["arn", "revision", "location"])
        .output_types(&[("revision", "integer")])
        .replace(&[
            ("name", "a custom plugin cannot be renamed"),
            (
                "manifest",
                "a plugin revision cannot be changed; a new plugin is created",
            ),
            ("bucket", "the plugin's artifact location is fixed"),
            ("key", "the plugin's artifact location is fixed"),
        ])
        .timeout(Duration::from_secs(30 * 60))
        .no_update(),
        |env| CustomPluginProvider {
            clients: env.clients.clone(),
            root: env.root.clone(),
        },
    );
}

/// Props of `mskconnect.custom_plugin`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPluginProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The plugin manifest (`{file: plugins/...}`): name, source, sha256, content type.
    pub manifest: String,
    /// Bucket the verified artifact is uploaded to.
    pub bucket: String,
    /// Key of the artifact (default: `plugins/<file name of the source>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A plugin manifest (`plugins/*.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// A path relative to the repository root, or an `http(s)://` URL.
    pub source: String,
    pub content_type: String,
    /// The artifact's SHA-256 (hex). Absent or empty: the digest recorded in
    /// `pinctl.lock.json` at the first fetch is what later fetches must match.
    #[serde(default)]
    pub sha256: Option<String>,
}

impl Manifest {
    /// The digest the manifest pins, if any.
    pub fn pinned(&self) -> Option<&str> {
        self.sha256.as_deref().filter(|s| !s.is_empty())
    }
}

/// The artifact's file name: the last segment of its path or URL (query and fragment dropped).
fn artifact_file_name(source: &str) -> &str {
    source
        .split(['?', '#'])
        .next()
        .unwrap_or(source)
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("plugin.zip")
}

pub fn parse_manifest(text: &str) -> Result<Manifest, ProviderError> {
    let node = marked_yaml::parse_yaml(0, text)
        .map_err(|e| ProviderError::Invalid(format!("plugin manifest: {e}")))?;
    marked_yaml::from_node(&node)
        .map_err(|e| ProviderError::Invalid(format!("plugin manifest: {e}")))
}

pub struct CustomPluginProvider {
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

impl CustomPluginProvider {
    /// The ARN of the custom plugin named `name`, if there is one.
    async fn arn_named(&self, name: &str) -> Result<Option<String>, ProviderError> {
        let kc = self.clients.kafkaconnect().await;
        let mut next = None;
        loop {
            let out = kc
                .list_custom_plugins()
                .name_prefix(name)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| api_error("ListCustomPlugins", e))?;
            let found = out
                .custom_plugins()
                .iter()
                .find(|c| c.name() == Some(name))
                .and_then(|c| c.custom_plugin_arn().map(str::to_string));
            next = out.next_token().map(str::to_string);
            if found.is_some() || next.is_none() {
                return Ok(found);
            }
        }
    }

    /// Reads the artifact, checks it against the manifest's digest or the lock file's, and
    /// uploads it unless the bucket already holds the same bytes. An artifact neither pins is
    /// recorded in the lock file. Errors, all before anything is uploaded: the manifest and the
    /// lock file disagree; the bytes differ from the pinned digest; the source cannot be read.
    async fn upload(
        &self,
        p: &CustomPluginProps,
        m: &Manifest,
    ) -> Result<(String, String), ProviderError> {
        let locked = lock::read(&self.root)?.artifacts.remove(&m.source);
        if let (Some(pinned), Some(l)) = (m.pinned(), &locked) {
            if !pinned.eq_ignore_ascii_case(&l.sha256) {
                return Err(ProviderError::Invalid(format!(
                    "plugin `{}`: its manifest says sha256 {pinned}, but {LOCK_FILE} recorded {} for {}: make them agree",
                    m.name, l.sha256, m.source
                )));
            }
        }
        let expected = m
            .pinned()
            .map(str::to_string)
            .or_else(|| locked.as_ref().map(|l| l.sha256.clone()));
        let bytes = self.artifact(m, expected.as_deref()).await?;
        let digest = hex::encode(Sha256::digest(&bytes));
        match expected {
            Some(x) if !digest.eq_ignore_ascii_case(&x) => {
                return Err(ProviderError::Invalid(if m.pinned().is_some() {
                    format!(
                        "plugin artifact {} has sha256 {digest}, but the manifest says {x}: refusing to upload it",
                        m.source
                    )
                } else {
                    format!(
                        "plugin artifact {} has sha256 {digest}, but {LOCK_FILE} recorded {x} at its first fetch: \
                         the artifact changed, refusing to upload it; if the new one is intended, remove its entry \
                         from {LOCK_FILE} and run again",
                        m.source
                    )
                }));
            }
            Some(_) => {}
            None => {
                lock::record(
                    &self.root,
                    &m.source,
                    Locked {
                        name: m.name.clone(),
                        version: m.version.clone(),
                        sha256: digest.clone(),
                    },
                )
                .await?;
                tracing::info!(
                    plugin = %m.name,
                    source = %m.source,
                    sha256 = %digest,
                    "recorded the artifact's digest in {LOCK_FILE}; commit it with the stack, later runs refuse other bytes"
                );
            }
        }
        let file = artifact_file_name(&m.source);
        let key = p.key.clone().unwrap_or_else(|| format!("plugins/{file}"));
        let s3 = self.clients.s3().await;
        let present = s3
            .head_object()
            .bucket(&p.bucket)
            .key(&key)
            .send()
            .await
            .ok()
            .and_then(|h| h.metadata().and_then(|md| md.get("pinctl-sha256").cloned()))
            .is_some_and(|d| d == digest);
        if !present {
            s3.put_object()
                .bucket(&p.bucket)
                .key(&key)
                .body(bytes.into())
                .metadata("pinctl-sha256", &digest)
                .send()
                .await
                .map_err(|e| api_error("PutObject", e))?;
        }
        Ok((format!("arn:aws:s3:::{}", p.bucket), key))
    }

    /// The artifact's bytes: a path relative to the repository, or an `http(s)://` URL fetched
    /// once into `.pinctl/cache/plugins/` (a cached copy is used only if it has the `expected`
    /// digest, so a changed pin fetches again).
    async fn artifact(
        &self,
        m: &Manifest,
        expected: Option<&str>,
    ) -> Result<Vec<u8>, ProviderError> {
        if !(m.source.starts_with("https://") || m.source.starts_with("http://")) {
            if m.source.contains("://") {
                return Err(ProviderError::Invalid(format!(
                    "plugin `{}`: source {} is neither a path nor an http(s) URL",
                    m.name, m.source
                )));
            }
            let path = self.root.join(&m.source);
            return std::fs::read(&path)
                .map_err(|e| ProviderError::io(format!("plugin artifact {}", path.display()), e));
        }
        let cache = self.root.join(".pinctl/cache/plugins");
        let cached = |sha: &str| {
            cache.join(format!(
                "{}-{}",
                sha.to_ascii_lowercase(),
                artifact_file_name(&m.source)
            ))
        };
        if let Some(sha) = expected {
            if let Ok(bytes) = std::fs::read(cached(sha)) {
                if hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(sha) {
                    return Ok(bytes);
                }
            }
        }
        let fetch_error = |e: String| ProviderError::Fetch {
            url: m.source.clone(),
            reason: format!("plugin `{}`: {e}", m.name),
        };
        let answer = reqwest::get(&m.source)
            .await
            .map_err(|e| fetch_error(e.to_string()))?;
        if !answer.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", answer.status())));
        }
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| fetch_error(e.to_string()))?
            .to_vec();
        // Kept when it is what is pinned, or when nothing pins it yet (`upload` records it);
        // `upload` reports a mismatch.
        let digest = hex::encode(Sha256::digest(&bytes));
        if expected.is_none_or(|sha| digest.eq_ignore_ascii_case(sha)) {
            let path = cached(&digest);
            std::fs::create_dir_all(&cache)
                .and_then(|()| crate::fsx::write_atomically(&path, &bytes))
                .map_err(|e| ProviderError::io(format!("caching {}", path.display()), e))?;
        }
        Ok(bytes)
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> Result<
        Option<aws_sdk_kafkaconnect::operation::describe_custom_plugin::DescribeCustomPluginOutput>,
        ProviderError,
    > {
        self.clients
            .kafkaconnect()
            .await
            .describe_custom_plugin()
            .custom_plugin_arn(arn)
            .send()
            .await
            .or_absent("DescribeCustomPlugin", NOT_FOUND)
    }
}

/// MSK Connect has no update for custom plugins: the kind is declared without update, so any
/// change makes a new plugin.
#[async_trait]
impl TypedProvider for CustomPluginProvider {
    type Props = CustomPluginProps;

    async fn find(&self, _cx: &Cx, p: &CustomPluginProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .arn_named(&p.name)
            .await?
            .map(|arn| Found::named(arn, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        recorded: Option<&CustomPluginProps>,
    ) -> Result<Option<Observed<CustomPluginProps>>, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(None);
        };
        if d.custom_plugin_state() == Some(&CustomPluginState::Deleting) {
            return Ok(None);
        }
        let loc = d
            .latest_revision()
            .and_then(|r| r.location())
            .and_then(|l| l.s3_location());
        // What was recorded, with what the service reports of it (the manifest it does not).
        let props = recorded.cloned().map(|mut p| {
            p.name = d.name().unwrap_or_default().into();
            if let Some(l) = loc {
                p.bucket = l
                    .bucket_arn()
                    .unwrap_or_default()
                    .trim_start_matches("arn:aws:s3:::")
                    .into();
            }
            p
        });
        let mut outputs = Map::new();
        outputs.insert("arn".into(), Value::String(arn.into()));
        outputs.insert(
            "revision".into(),
            Value::from(d.latest_revision().map(|r| r.revision()).unwrap_or(1)),
        );
        outputs.insert(
            "location".into(),
            Value::String(
                loc.map(|l| {
                    format!(
                        "s3://{}/{}",
                        l.bucket_arn()
                            .unwrap_or_default()
                            .trim_start_matches("arn:aws:s3:::"),
                        l.file_key().unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
            ),
        );
        Ok(Some(Observed { props, outputs }))
    }

    async fn adopt(&self, cx: &Cx, p: &CustomPluginProps) -> Result<Option<String>, ProviderError> {
        let arn = self.arn_named(&p.name).await?;
        super::adopt(&self.clients, cx, "MSK Connect custom plugin", &p.name, arn).await
    }

    async fn create(&self, cx: &Cx, p: &CustomPluginProps) -> Result<String, ProviderError> {
        let m = parse_manifest(&p.manifest)?;
        let (bucket_arn, key) = self.upload(p, &m).await?;
        let content_type = CustomPluginContentType::from(m.content_type.as_str());
        let out = self
            .clients
            .kafkaconnect()
            .await
            .create_custom_plugin()
            .name(&p.name)
            .set_description(p.description.clone())
            .content_type(content_type)
            .location(
                CustomPluginLocation::builder()
                    .s3_location(
                        S3Location::builder()
                            .bucket_arn(bucket_arn)
                            .file_key(key)
                            .build()
                            .map_err(|e| ProviderError::Invalid(e.to_string()))?,
                    )
                    .build(),
            )
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateCustomPlugin", e))?;
        out.custom_plugin_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateCustomPlugin", "an ARN"))
    }

    async fn poll(&self, cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        let Some(d) = self.describe(arn).await? else {
            return Ok(not_visible_yet());
        };
        let ready = async {
            Ok(match self.read(cx, arn, None).await? {
                Some(l) => Poll::Ready(l.outputs),
                None => not_visible_yet(),
            })
        };
        progress(
            d.custom_plugin_state(),
            &[CustomPluginState::Active],
            &[CustomPluginState::CreateFailed],
        )
        .poll_then(
            ready,
            d.state_description().and_then(|s| s.message()),
            "creation failed",
        )
        .await
    }

    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&CustomPluginProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .kafkaconnect()
            .await
            .delete_custom_plugin()
            .custom_plugin_arn(arn)
            .send()
            .await
            .gone_ok("DeleteCustomPlugin", NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, arn: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(arn).await?.is_none())
    }
}
