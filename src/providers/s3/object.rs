//! `s3.object`: an object uploaded from text, a rendered template or a file.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{GONE, GONE_OR_404};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, CompositeId, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// `bucket/key`.
const ID: CompositeId = CompositeId::new("object", '/');

/// Registers `s3.object` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "s3.object",
            "An object uploaded from text, a rendered template or a file",
        )
        .schema::<ObjectProps>()
        .outputs(&["uri", "arn", "sha256", "etag", "version_id"])
        .volatile_outputs(&["sha256", "etag", "version_id"])
        .replace(&[
            ("bucket", "an object cannot move to another bucket"),
            ("key", "an object cannot be renamed"),
        ])
        .timeout(Duration::from_secs(600))
        .prepare(prepare_object),
        |env| ObjectProvider {
            clients: env.clients.clone(),
            root: env.root.clone(),
        },
    );
}

/// Props of `s3.object`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectProps {
    pub bucket: String,
    pub key: String,
    /// The object's content: text, or `{template: ...}` / `{file: ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A local file uploaded as is (for binaries); its sha256 decides drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Computed by pinctl: the digest of the content or file (set it and it is overwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `s3.object`'s prepare step: the digest of what will be uploaded, so a change of a template
/// or of a local file shows in the plan.
pub fn prepare_object(props: &mut Value, root: &std::path::Path) -> Result<(), String> {
    let digest = match (
        props.get("content").and_then(Value::as_str),
        props.get("source").and_then(Value::as_str),
    ) {
        (Some(c), None) => hex::encode(Sha256::digest(c.as_bytes())),
        (None, Some(src)) => {
            let path = root.join(src);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("source `{}`: {e}", path.display()))?;
            hex::encode(Sha256::digest(&bytes))
        }
        (Some(_), Some(_)) => return Err("give either `content` or `source`, not both".into()),
        (None, None) => return Err("give `content` or `source`".into()),
    };
    if let Value::Object(m) = props {
        m.insert("sha256".into(), Value::String(digest));
    }
    Ok(())
}

pub struct ObjectProvider {
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

/// `version_id`: S3's version of the object in a bucket with versioning on, "" without it.
fn object_outputs(
    bucket: &str,
    key: &str,
    sha256: &str,
    etag: &str,
    version_id: Option<&str>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uri".into(), Value::String(format!("s3://{bucket}/{key}")));
    m.insert(
        "arn".into(),
        Value::String(format!("arn:aws:s3:::{bucket}/{key}")),
    );
    m.insert("sha256".into(), Value::String(sha256.into()));
    m.insert("etag".into(), Value::String(etag.into()));
    m.insert(
        "version_id".into(),
        Value::String(version_id.unwrap_or_default().into()),
    );
    m
}

impl ObjectProvider {
    async fn put(&self, cx: &Cx, p: &ObjectProps) -> Result<String, ProviderError> {
        let (bucket, key) = (&p.bucket, &p.key);
        let sha = p.sha256.as_deref().unwrap_or_default();
        let body = match (p.content.as_deref(), p.source.as_deref()) {
            (Some(c), _) => ByteStream::from(c.as_bytes().to_vec()),
            (None, Some(src)) => ByteStream::from_path(self.root.join(src))
                .await
                .map_err(|e| {
                    ProviderError::io(format!("reading `{src}`"), std::io::Error::other(e))
                })?,
            _ => return Err(ProviderError::Invalid("give `content` or `source`".into())),
        };
        let tagging: Vec<String> = cx
            .tags()
            .into_iter()
            .map(|(k, v)| {
                let enc = |s: &str| {
                    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                        .to_string()
                };
                format!("{}={}", enc(&k), enc(&v))
            })
            .collect();
        self.clients
            .s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .set_content_type(p.content_type.clone())
            .metadata("pinctl-sha256", sha)
            .tagging(tagging.join("&"))
            .send()
            .await
            .map_err(|e| api_error("PutObject", e))?;
        Ok(ID.join(&[bucket, key]))
    }
}

#[async_trait]
impl TypedProvider for ObjectProvider {
    type Props = ObjectProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&ObjectProps>,
    ) -> Result<Option<Observed<ObjectProps>>, ProviderError> {
        let (bucket, key) = ID.pair(id)?;
        let s3 = self.clients.s3().await;
        let head = s3.head_object().bucket(bucket).key(key).send().await;
        let Some(head) = head.or_absent("HeadObject", GONE_OR_404)? else {
            return Ok(None);
        };
        let etag = head.e_tag().unwrap_or_default().to_string();
        let recorded_sha = recorded.and_then(|r| r.sha256.clone()).unwrap_or_default();
        let meta_sha = head
            .metadata()
            .and_then(|m| m.get("pinctl-sha256"))
            .cloned()
            .unwrap_or_default();
        // The content's digest: trusted from our own metadata only while the object is the one
        // we wrote; anything else is downloaded and hashed.
        let sha = if meta_sha == recorded_sha && !meta_sha.is_empty() {
            meta_sha
        } else {
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| api_error("GetObject", e))?;
            let bytes = body
                .body
                .collect()
                .await
                .map_err(|e| ProviderError::Api {
                    operation: "GetObject".into(),
                    code: "ResponseError".into(),
                    message: e.to_string(),
                    retryable: true,
                })?
                .into_bytes();
            hex::encode(Sha256::digest(&bytes))
        };
        // What was recorded, as the service has it now (nothing recorded: nothing to say).
        let props = recorded.cloned().map(|mut p| {
            p.bucket = bucket.into();
            p.key = key.into();
            if let Some(ct) = head.content_type() {
                if p.content_type.is_some() {
                    p.content_type = Some(ct.into());
                }
            }
            if sha != recorded_sha && p.content.is_some() {
                p.content = Some(format!("(changed outside pinctl: sha256 {sha})"));
            }
            p.sha256 = Some(sha.clone());
            p
        });
        Ok(Some(Observed {
            props,
            outputs: object_outputs(bucket, key, &sha, &etag, head.version_id()),
        }))
    }

    fn id_of(&self, props: &Self::Props) -> Option<String> {
        Some(ID.join(&[&props.bucket, &props.key]))
    }

    async fn create(&self, cx: &Cx, props: &ObjectProps) -> Result<String, ProviderError> {
        self.put(cx, props).await
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (bucket, key) = ID.pair(id)?;
        let head = self
            .clients
            .s3()
            .await
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .or_absent("HeadObject", GONE)?;
        Ok(match head {
            Some(h) => {
                let sha = h
                    .metadata()
                    .and_then(|m| m.get("pinctl-sha256"))
                    .cloned()
                    .unwrap_or_default();
                Poll::Ready(object_outputs(
                    bucket,
                    key,
                    &sha,
                    h.e_tag().unwrap_or_default(),
                    h.version_id(),
                ))
            }
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        _id: &str,
        _old: Option<&ObjectProps>,
        new: &ObjectProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.put(cx, new).await.map(|_| ())?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&ObjectProps>,
    ) -> Result<(), ProviderError> {
        let (bucket, key) = ID.pair(id)?;
        self.clients
            .s3()
            .await
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .gone_ok("DeleteObject", GONE)
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        let (bucket, key) = ID.pair(id)?;
        Ok(self
            .clients
            .s3()
            .await
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .or_absent("HeadObject", GONE_OR_404)?
            .is_none())
    }
}
