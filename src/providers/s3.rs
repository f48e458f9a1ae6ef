//! S3: buckets and objects.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::KindInfo;

fn yes() -> bool {
    true
}

/// Default encryption of a bucket.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    #[default]
    SseS3,
    SseKms,
}

/// Props of `s3.bucket`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketProps {
    pub name: String,
    #[serde(default)]
    pub versioning: bool,
    #[serde(default)]
    pub encryption: Encryption,
    /// Blocks every form of public access (default true).
    #[serde(default = "yes")]
    pub block_public_access: bool,
    /// `down` empties the bucket before deleting it.
    #[serde(default)]
    pub force_destroy: bool,
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

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    r.add(
        KindInfo::new(
            "s3.bucket",
            "An S3 bucket: versioning, default encryption, public access blocked",
        )
        .schema::<BucketProps>()
        .outputs(&["arn", "domain_name"])
        .replace(&[("name", "a bucket cannot be renamed")]),
        |info, env| {
            Arc::new(BucketProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
        KindInfo::new(
            "s3.object",
            "An object uploaded from text, a rendered template or a file",
        )
        .schema::<ObjectProps>()
        .outputs(&["uri", "arn", "sha256", "etag"])
        .replace(&[
            ("bucket", "an object cannot move to another bucket"),
            ("key", "an object cannot be renamed"),
        ])
        .timeout(Duration::from_secs(600))
        .prepare(prepare_object),
        |info, env| {
            Arc::new(ObjectProvider {
                info,
                clients: env.clients.clone(),
                root: env.root.clone(),
            })
        },
    );
}

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{json, not_ours, owned_by, typed};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};

/// The bucket's versioning status. moto answers GetBucketVersioning with a root element
/// (`GetBucketVersioningResponse`) the Rust SDK does not parse, so a response that cannot be
/// parsed is read for its `<Status>` directly.
async fn versioning_status(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<BucketVersioningStatus>, ProviderError> {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => Ok(out.status().cloned()),
        Err(e) => {
            let body = e
                .raw_response()
                .filter(|r| r.status().is_success())
                .and_then(|r| r.body().bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned());
            match body {
                Some(xml) if xml.contains("<Status>Enabled</Status>") => {
                    Ok(Some(BucketVersioningStatus::Enabled))
                }
                Some(xml) if xml.contains("<Status>Suspended</Status>") => {
                    Ok(Some(BucketVersioningStatus::Suspended))
                }
                Some(_) => Ok(None),
                None => Err(api_error("GetBucketVersioning", e)),
            }
        }
    }
}

fn gone(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("NotFound" | "NoSuchBucket" | "NoSuchKey" | "404")
    )
}

pub struct BucketProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

impl BucketProvider {
    async fn configure(&self, cx: &Cx, p: &BucketProps) -> Result<(), ProviderError> {
        let s3 = self.clients.s3().await;
        let tags: Vec<Tag> = cx
            .tags()
            .into_iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            })
            .collect();
        s3.put_bucket_tagging()
            .bucket(&p.name)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(tags))
                    .build()
                    .expect("tags set"),
            )
            .send()
            .await
            .map_err(|e| api_error("PutBucketTagging", e))?;
        let status = if p.versioning {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        let current = versioning_status(s3, &p.name).await?;
        // A bucket that never had versioning stays unversioned rather than "suspended".
        if p.versioning || current.is_some() {
            s3.put_bucket_versioning()
                .bucket(&p.name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| api_error("PutBucketVersioning", e))?;
        }
        let algorithm = match p.encryption {
            Encryption::SseS3 => ServerSideEncryption::Aes256,
            Encryption::SseKms => ServerSideEncryption::AwsKms,
        };
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(algorithm)
                    .build()
                    .expect("algorithm set"),
            )
            .build();
        s3.put_bucket_encryption()
            .bucket(&p.name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("rules set"),
            )
            .send()
            .await
            .map_err(|e| api_error("PutBucketEncryption", e))?;
        let block = p.block_public_access;
        s3.put_public_access_block()
            .bucket(&p.name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(block)
                    .ignore_public_acls(block)
                    .block_public_policy(block)
                    .restrict_public_buckets(block)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| api_error("PutPublicAccessBlock", e))?;
        Ok(())
    }

    async fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        match self
            .clients
            .s3()
            .await
            .get_bucket_tagging()
            .bucket(name)
            .send()
            .await
        {
            Ok(t) => Ok(t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()),
            Err(e) if code_of(&e) == Some("NoSuchTagSet") => Ok(BTreeMap::new()),
            Err(e) => Err(api_error("GetBucketTagging", e)),
        }
    }

    fn outputs(name: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("arn".into(), Value::String(format!("arn:aws:s3:::{name}")));
        m.insert(
            "domain_name".into(),
            Value::String(format!("{name}.s3.amazonaws.com")),
        );
        m
    }
}

#[async_trait]
impl Provider for BucketProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let s3 = self.clients.s3().await;
        if let Err(e) = s3.head_bucket().bucket(name).send().await {
            if gone(code_of(&e)) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                return Ok(None);
            }
            return Err(api_error("HeadBucket", e));
        }
        let versioning =
            versioning_status(s3, name).await? == Some(BucketVersioningStatus::Enabled);
        let encryption = match s3.get_bucket_encryption().bucket(name).send().await {
            Ok(out) => {
                let alg = out
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| d.sse_algorithm().clone());
                match alg {
                    Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse) => {
                        Encryption::SseKms
                    }
                    _ => Encryption::SseS3,
                }
            }
            Err(_) => Encryption::SseS3,
        };
        let block_public_access = match s3.get_public_access_block().bucket(name).send().await {
            Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(_) => false,
        };
        let live = BucketProps {
            name: name.to_string(),
            versioning,
            encryption,
            block_public_access,
            force_destroy: recorded
                .get("force_destroy")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        Ok(Some(Live {
            props: json(&live),
            outputs: Self::outputs(name),
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: BucketProps = typed(props)?;
        let s3 = self.clients.s3().await;
        let region = self.clients.region().await;
        let mut req = s3.create_bucket().bucket(&p.name);
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => {
                if !owned_by(&self.tags(&p.name).await?, cx) {
                    return Err(not_ours("bucket", &p.name));
                }
            }
            Err(e) => return Err(api_error("CreateBucket", e)),
        }
        self.configure(cx, &p).await?;
        Ok(p.name)
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(Poll::Ready(Self::outputs(name)))
    }

    async fn update(
        &self,
        cx: &Cx,
        _name: &str,
        _old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let done: Result<(), ProviderError> =
            async { self.configure(cx, &typed(new)?).await }.await;
        done.map(|()| None)
    }

    async fn delete(&self, _cx: &Cx, name: &str, recorded: &Value) -> Result<(), ProviderError> {
        let s3 = self.clients.s3().await;
        if recorded.get("force_destroy").and_then(Value::as_bool) == Some(true) {
            loop {
                let out = match s3.list_object_versions().bucket(name).send().await {
                    Ok(o) => o,
                    Err(e) if gone(code_of(&e)) => return Ok(()),
                    Err(e) => return Err(api_error("ListObjectVersions", e)),
                };
                let mut ids: Vec<ObjectIdentifier> = Vec::new();
                for v in out.versions() {
                    ids.push(
                        ObjectIdentifier::builder()
                            .key(v.key().unwrap_or_default())
                            .set_version_id(v.version_id().map(str::to_string))
                            .build()
                            .expect("key set"),
                    );
                }
                for m in out.delete_markers() {
                    ids.push(
                        ObjectIdentifier::builder()
                            .key(m.key().unwrap_or_default())
                            .set_version_id(m.version_id().map(str::to_string))
                            .build()
                            .expect("key set"),
                    );
                }
                if ids.is_empty() {
                    break;
                }
                for chunk in ids.chunks(1000) {
                    s3.delete_objects()
                        .bucket(name)
                        .delete(
                            Delete::builder()
                                .set_objects(Some(chunk.to_vec()))
                                .build()
                                .expect("objects set"),
                        )
                        .send()
                        .await
                        .map_err(|e| api_error("DeleteObjects", e))?;
                }
            }
        }
        match s3.delete_bucket().bucket(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(api_error("DeleteBucket", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, name: &str) -> Result<bool, ProviderError> {
        match self
            .clients
            .s3()
            .await
            .head_bucket()
            .bucket(name)
            .send()
            .await
        {
            Ok(_) => Ok(false),
            Err(e)
                if gone(code_of(&e))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(true)
            }
            Err(e) => Err(api_error("HeadBucket", e)),
        }
    }
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
    pub info: KindInfo,
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

fn split_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/')
        .ok_or_else(|| ProviderError::bad_id("object", id))
}

fn object_outputs(bucket: &str, key: &str, sha256: &str, etag: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("uri".into(), Value::String(format!("s3://{bucket}/{key}")));
    m.insert(
        "arn".into(),
        Value::String(format!("arn:aws:s3:::{bucket}/{key}")),
    );
    m.insert("sha256".into(), Value::String(sha256.into()));
    m.insert("etag".into(), Value::String(etag.into()));
    m
}

impl ObjectProvider {
    async fn put(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let bucket = props["bucket"].as_str().unwrap_or_default();
        let key = props["key"].as_str().unwrap_or_default();
        let sha = props
            .get("sha256")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let body = match (
            props.get("content").and_then(Value::as_str),
            props.get("source").and_then(Value::as_str),
        ) {
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
            .set_content_type(
                props
                    .get("content_type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            )
            .metadata("pinctl-sha256", sha)
            .tagging(tagging.join("&"))
            .send()
            .await
            .map_err(|e| api_error("PutObject", e))?;
        Ok(format!("{bucket}/{key}"))
    }
}

#[async_trait]
impl Provider for ObjectProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let (bucket, key) = split_id(id)?;
        let s3 = self.clients.s3().await;
        let head = match s3.head_object().bucket(bucket).key(key).send().await {
            Ok(h) => h,
            Err(e)
                if gone(code_of(&e))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(api_error("HeadObject", e)),
        };
        let etag = head.e_tag().unwrap_or_default().to_string();
        let recorded_sha = recorded
            .get("sha256")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
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
        let mut props = recorded.clone();
        if let Value::Object(m) = &mut props {
            m.insert("bucket".into(), Value::String(bucket.into()));
            m.insert("key".into(), Value::String(key.into()));
            if let Some(ct) = head.content_type() {
                if m.contains_key("content_type") {
                    m.insert("content_type".into(), Value::String(ct.into()));
                }
            }
            if sha != recorded_sha && m.contains_key("content") {
                m.insert(
                    "content".into(),
                    Value::String(format!("(changed outside pinctl: sha256 {sha})")),
                );
            }
            m.insert("sha256".into(), Value::String(sha.clone()));
        }
        Ok(Some(Live {
            props,
            outputs: object_outputs(bucket, key, &sha, &etag),
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        self.put(cx, props).await
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let (bucket, key) = split_id(id)?;
        match self
            .clients
            .s3()
            .await
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => {
                let sha = h
                    .metadata()
                    .and_then(|m| m.get("pinctl-sha256"))
                    .cloned()
                    .unwrap_or_default();
                Ok(Poll::Ready(object_outputs(
                    bucket,
                    key,
                    &sha,
                    h.e_tag().unwrap_or_default(),
                )))
            }
            Err(e) if gone(code_of(&e)) => Ok(Poll::Pending("not visible yet".into())),
            Err(e) => Err(api_error("HeadObject", e)),
        }
    }

    async fn update(
        &self,
        cx: &Cx,
        _id: &str,
        _old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.put(cx, new).await.map(|_| ())?;
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let (bucket, key) = split_id(id)?;
        match self
            .clients
            .s3()
            .await
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(api_error("DeleteObject", e)),
        }
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        let (bucket, key) = split_id(id)?;
        match self
            .clients
            .s3()
            .await
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(false),
            Err(e)
                if gone(code_of(&e))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(true)
            }
            Err(e) => Err(api_error("HeadObject", e)),
        }
    }
}
