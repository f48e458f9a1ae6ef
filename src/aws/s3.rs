//! S3: buckets and objects.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

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
}

pub fn kinds() -> Vec<KindInfo> {
    vec![
        KindInfo {
            name: "s3.bucket",
            summary: "An S3 bucket: versioning, default encryption, public access blocked",
            schema: || schemars::schema_for!(BucketProps),
            outputs: &["arn", "domain_name"],
            replace: &[("name", "a bucket cannot be renamed")],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(300),
        },
        KindInfo {
            name: "s3.object",
            summary: "An object uploaded from text, a rendered template or a file",
            schema: || schemars::schema_for!(ObjectProps),
            outputs: &["uri", "arn", "sha256", "etag"],
            replace: &[
                ("bucket", "an object cannot move to another bucket"),
                ("key", "an object cannot be renamed"),
            ],
            secret: &[],
            create_before_destroy: false,
            timeout: Duration::from_secs(600),
        },
    ]
}
