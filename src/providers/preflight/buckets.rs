//! Bucket names are free: S3 bucket names are global across every AWS account, so a name
//! another account holds makes CreateBucket fail `BucketAlreadyExists`, and in us-east-1
//! CreateBucket answers 200 for a bucket the caller already owns (no `BucketAlreadyOwnedByYou`),
//! which would take an unrelated bucket over (S3 API Reference, CreateBucket; Terraform's
//! `aws_s3_bucket` checks with HeadBucket first in us-east-1 for that reason,
//! `internal/service/s3/bucket.go`).
//!
//! HeadBucket tells the three cases apart: 404 for a free name, 403 for a bucket the caller
//! may not read (another account's), 200 for one it can (S3 API Reference, HeadBucket: "If the
//! bucket does not exist or you do not have permission to access it, the HEAD request returns
//! a generic 400 Bad Request, 403 Forbidden or 404 Not Found code").

use std::collections::BTreeMap;

use super::{Check, Finding, Scope};
use crate::clients::aws::{api_error, Clients};
use crate::engine::plan::Action;
use crate::providers::support::{Absent, OrAbsent};

/// What the check concluded about one name.
#[derive(Debug, PartialEq, Eq)]
enum Holder {
    Nobody,
    AnotherAccount,
    /// This account, with these tags.
    Us(BTreeMap<String, String>),
}

pub(super) async fn check(clients: &Clients, scope: &Scope<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let s3 = clients.s3().await;
    for (r, props) in scope.changing("s3.bucket") {
        // An update keeps the bucket (a rename replaces it).
        if r.action == Action::Update {
            continue;
        }
        let Some(name) = scope.known_str(props, "name") else {
            continue;
        };
        let head = s3.head_bucket().bucket(name).send().await;
        let holder = match head {
            Ok(_) => {
                let tags = s3.get_bucket_tagging().bucket(name).send().await;
                match tags.or_absent("GetBucketTagging", Absent::Codes(&["NoSuchTagSet"])) {
                    Ok(t) => Holder::Us(
                        t.map(|t| {
                            t.tag_set()
                                .iter()
                                .map(|t| (t.key().to_string(), t.value().to_string()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    ),
                    Err(e) => {
                        out.push(Finding::unchecked(
                            &r.name,
                            Check::BucketName,
                            &format!("who owns bucket `{name}`"),
                            &e,
                        ));
                        continue;
                    }
                }
            }
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => Holder::Nobody,
                Some(403) => Holder::AnotherAccount,
                _ => {
                    out.push(Finding::unchecked(
                        &r.name,
                        Check::BucketName,
                        &format!("whether bucket name `{name}` is free"),
                        &api_error("HeadBucket", e),
                    ));
                    continue;
                }
            },
        };
        let ours = |tags: &BTreeMap<String, String>| {
            [
                ("pinctl:stack", scope.stack.name.as_str()),
                ("pinctl:env", scope.stack.env.as_str()),
                ("pinctl:id", r.name.as_str()),
            ]
            .iter()
            .all(|(k, v)| tags.get(*k).map(String::as_str) == Some(*v))
        };
        match holder {
            Holder::Nobody => {}
            Holder::Us(tags) if ours(&tags) => {}
            Holder::AnotherAccount => out.push(Finding::error(
                &r.name,
                Check::BucketName,
                format!("bucket name `{name}` is taken by another AWS account (HeadBucket: 403 Forbidden); bucket names are global across all accounts, so CreateBucket would fail with BucketAlreadyExists"),
                "choose a name no one holds: put `${aws.account_hash}` in it (a digest of your account and region) or another value of your own (e.g. `-p uid=...`)".into(),
            )),
            Holder::Us(_) => out.push(Finding::error(
                &r.name,
                Check::BucketName,
                format!("bucket `{name}` already exists in this account and is not this stack's (it lacks the tags pinctl:stack={}, pinctl:env={}, pinctl:id={}); pinctl never takes over a bucket it did not create", scope.stack.name, scope.stack.env, r.name),
                "choose another name for it in the stack, or delete or rename the existing bucket if it is not needed".into(),
            )),
        }
    }
    out
}
