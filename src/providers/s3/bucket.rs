//! `s3.bucket`: an S3 bucket with versioning, default encryption and public access blocked.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{GONE, GONE_OR_404};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::propagation::{settle, settled};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// Registers `s3.bucket` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "s3.bucket",
            "An S3 bucket: versioning, default encryption, public access blocked",
        )
        .schema::<BucketProps>()
        .outputs(&["arn", "domain_name"])
        .replace(&[("name", "a bucket cannot be renamed")]),
        |env| BucketProvider {
            clients: env.clients.clone(),
        },
    );
}

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
    /// Object versioning; default false, as a new bucket is unversioned (S3 User Guide,
    /// "Retaining multiple versions of objects with S3 Versioning":
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html>). Versioning
    /// enabled by hand on a bucket that leaves it out is drift; `up` suspends it (a bucket once
    /// versioned can only be suspended, and reads as unversioned here).
    #[serde(default)]
    pub versioning: bool,
    /// Default encryption; default `sse_s3`, what S3 applies to every new bucket since
    /// January 2023 (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html>).
    #[serde(default)]
    pub encryption: Encryption,
    /// Blocks every form of public access (default true, as S3 does for new buckets since
    /// April 2023: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>).
    #[serde(default = "yes")]
    pub block_public_access: bool,
    /// `down` empties the bucket before deleting it.
    #[serde(default)]
    pub force_destroy: bool,
}

/// The bucket's versioning status. moto answers GetBucketVersioning with a root element
/// (`GetBucketVersioningResponse`) the Rust SDK does not parse, so a response that cannot be
/// parsed is read for its `<Status>` directly.
async fn versioning_status(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<BucketVersioningStatus>, ProviderError> {
    match settle("GetBucketVersioning", || {
        s3.get_bucket_versioning().bucket(bucket).send()
    })
    .await
    {
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

pub struct BucketProvider {
    pub clients: Arc<Clients>,
}

/// The bucket's tags (the stack's ownership tags and its own) in S3's shape.
fn tag_set(cx: &Cx) -> Vec<Tag> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect()
}

impl BucketProvider {
    async fn configure(&self, cx: &Cx, p: &BucketProps) -> Result<(), ProviderError> {
        let s3 = self.clients.s3().await;
        let req = s3.put_bucket_tagging().bucket(&p.name).tagging(
            Tagging::builder()
                .set_tag_set(Some(tag_set(cx)))
                .build()
                .expect("tags set"),
        );
        settled("PutBucketTagging", || req.clone().send()).await?;
        let status = if p.versioning {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        let current = versioning_status(s3, &p.name).await?;
        // A bucket that never had versioning stays unversioned rather than "suspended".
        if p.versioning || current.is_some() {
            let req = s3
                .put_bucket_versioning()
                .bucket(&p.name)
                .versioning_configuration(
                    VersioningConfiguration::builder().status(status).build(),
                );
            settled("PutBucketVersioning", || req.clone().send()).await?;
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
        let req = s3
            .put_bucket_encryption()
            .bucket(&p.name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("rules set"),
            );
        settled("PutBucketEncryption", || req.clone().send()).await?;
        let block = p.block_public_access;
        let req = s3
            .put_public_access_block()
            .bucket(&p.name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(block)
                    .ignore_public_acls(block)
                    .block_public_policy(block)
                    .restrict_public_buckets(block)
                    .build(),
            );
        settled("PutPublicAccessBlock", || req.clone().send()).await?;
        Ok(())
    }

    async fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self
            .clients
            .s3()
            .await
            .get_bucket_tagging()
            .bucket(name)
            .send()
            .await
            .or_absent("GetBucketTagging", Absent::Codes(&["NoSuchTagSet"]))?
            .map(|t| {
                t.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            })
            .unwrap_or_default())
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
impl TypedProvider for BucketProvider {
    type Props = BucketProps;

    async fn find(&self, _cx: &Cx, p: &BucketProps) -> Result<Vec<Found>, ProviderError> {
        let head = self
            .clients
            .s3()
            .await
            .head_bucket()
            .bucket(&p.name)
            .send()
            .await;
        match head {
            Ok(_) => Ok(vec![Found::named(&p.name, &p.name)]),
            // 404: no such bucket; 403: another account's, not in this one.
            Err(e)
                if matches!(
                    code_of(&e),
                    Some("NotFound" | "NoSuchBucket" | "Forbidden" | "403" | "404")
                ) =>
            {
                Ok(Vec::new())
            }
            Err(e)
                if e.raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 403 | 404)) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(api_error("HeadBucket", e)),
        }
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        recorded: Option<&BucketProps>,
    ) -> Result<Option<Observed<BucketProps>>, ProviderError> {
        let s3 = self.clients.s3().await;
        let head = s3.head_bucket().bucket(name).send().await;
        if head.or_absent("HeadBucket", GONE_OR_404)?.is_none() {
            return Ok(None);
        }
        let versioning =
            versioning_status(s3, name).await? == Some(BucketVersioningStatus::Enabled);
        // Only "there is none" reads as the default; any other failure (a throttle) is the
        // read's error, retried by the engine, never a value that would show as drift.
        let encryption = match s3
            .get_bucket_encryption()
            .bucket(name)
            .send()
            .await
            .or_absent(
                "GetBucketEncryption",
                Absent::Codes(&["ServerSideEncryptionConfigurationNotFoundError"]),
            )? {
            Some(out) => {
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
            None => Encryption::SseS3,
        };
        let block_public_access = match s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .or_absent(
                "GetPublicAccessBlock",
                Absent::Codes(&["NoSuchPublicAccessBlockConfiguration"]),
            )? {
            Some(out) => out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            None => false,
        };
        let live = BucketProps {
            name: name.to_string(),
            versioning,
            encryption,
            block_public_access,
            force_destroy: recorded.is_some_and(|r| r.force_destroy),
        };
        Ok(Some(Observed::new(live, Self::outputs(name))))
    }

    async fn create(&self, cx: &Cx, p: &BucketProps) -> Result<String, ProviderError> {
        let s3 = self.clients.s3().await;
        let region = self.clients.region().await;
        // In us-east-1 CreateBucket answers 200 for a bucket the caller already owns (no
        // BucketAlreadyOwnedByYou: S3 API Reference, CreateBucket), so asking first is the
        // only way not to take over an unrelated bucket of the account; Terraform's
        // `aws_s3_bucket` does the same (internal/service/s3/bucket.go). A 403 is another
        // account's bucket: CreateBucket then says BucketAlreadyExists.
        if s3.head_bucket().bucket(&p.name).send().await.is_ok() {
            if !owned_by(&self.tags(&p.name).await?, cx) {
                return Err(not_ours("bucket", &p.name));
            }
            self.configure(cx, p).await?;
            return Ok(p.name.clone());
        }
        // The ownership tags go with CreateBucket itself (CreateBucketConfiguration `Tags`, S3
        // API Reference, CreateBucket): a run killed before PutBucketTagging would otherwise
        // leave an untagged bucket that the next run must refuse as not its own.
        let mut conf = CreateBucketConfiguration::builder().set_tags(Some(tag_set(cx)));
        if region != "us-east-1" {
            conf = conf.location_constraint(BucketLocationConstraint::from(region.as_str()));
        }
        let req = s3
            .create_bucket()
            .bucket(&p.name)
            .create_bucket_configuration(conf.build());
        match settle("CreateBucket", || req.clone().send()).await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => {
                if !owned_by(&self.tags(&p.name).await?, cx) {
                    return Err(not_ours("bucket", &p.name));
                }
            }
            Err(e) => return Err(api_error("CreateBucket", e)),
        }
        self.configure(cx, p).await?;
        Ok(p.name.clone())
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(Poll::Ready(Self::outputs(name)))
    }

    async fn update(
        &self,
        cx: &Cx,
        _name: &str,
        _old: Option<&BucketProps>,
        new: &BucketProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.configure(cx, new).await.map(|()| None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        name: &str,
        recorded: Option<&BucketProps>,
    ) -> Result<(), ProviderError> {
        let s3 = self.clients.s3().await;
        if recorded.is_some_and(|r| r.force_destroy) {
            loop {
                let listed = s3.list_object_versions().bucket(name).send().await;
                let Some(out) = listed.or_absent("ListObjectVersions", GONE)? else {
                    return Ok(());
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
        s3.delete_bucket()
            .bucket(name)
            .send()
            .await
            .gone_ok("DeleteBucket", GONE)
    }

    async fn is_deleted(&self, _cx: &Cx, name: &str) -> Result<bool, ProviderError> {
        Ok(self
            .clients
            .s3()
            .await
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .or_absent("HeadBucket", GONE_OR_404)?
            .is_none())
    }
}
