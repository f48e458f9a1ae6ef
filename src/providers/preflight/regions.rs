//! Props that name another region than the one the credentials call: an ARN
//! (`arn:<partition>:<service>:<region>:...`) or an endpoint service name
//! (`com.amazonaws.<region>.<service>`) of one region while the calls go to another is something
//! AWS will not find there (a gateway endpoint for another region's S3, a policy scoped to another
//! region's streams). The usual cause: the stack's `region` param left at its default while
//! `AWS_REGION` says otherwise; names and ARNs are built from the param, the calls follow the
//! credentials.

use serde_json::Value;

use super::{Check, Finding, Scope};
use crate::engine::plan::Action;

/// A region as AWS spells one (`us-east-1`, `eu-west-3`, `us-gov-west-1`, `ap-southeast-4`).
fn looks_like_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// The region a string names, if it is an ARN or an endpoint service name with one.
fn region_named(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix("arn:") {
        let region = rest.split(':').nth(2)?;
        return looks_like_region(region).then_some(region);
    }
    let after = s.split("com.amazonaws.").nth(1)?;
    let region = after.split('.').next()?;
    looks_like_region(region).then_some(region)
}

/// The first string under `v` (with its path) that names a region other than `target`.
fn other_region<'v>(v: &'v Value, at: &str, target: &str) -> Option<(String, &'v str)> {
    match v {
        Value::String(s) => region_named(s)
            .filter(|r| *r != target)
            .map(|r| (at.to_string(), r)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| other_region(x, &format!("{at}[{i}]"), target)),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            other_region(x, &path, target)
        }),
        _ => None,
    }
}

/// One finding per resource the plan creates or changes whose props name another region than
/// `target`, the region the credentials call.
pub(super) fn check(target: &str, scope: &Scope) -> Vec<Finding> {
    scope
        .plan
        .resources
        .iter()
        .filter(|r| matches!(r.action, Action::Create | Action::Replace | Action::Update))
        .filter_map(|r| {
            let props = &scope.resolved.get(&r.name)?.value;
            let (path, region) = other_region(props, "", target)?;
            Some(Finding::error(
                &r.name,
                Check::Region,
                format!("`{path}` names region {region}, but the credentials call {target}"),
                format!("set the stack's region to {target} (e.g. `-p region={target}`, and Availability Zone ids of {target}), or AWS_REGION to {region}"),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_endpoint_services_name_their_region() {
        assert_eq!(
            region_named("arn:aws:kinesis:eu-west-1:123456789012:stream/x"),
            Some("eu-west-1")
        );
        assert_eq!(region_named("arn:aws:s3:::bucket/*"), None);
        assert_eq!(region_named("arn:aws:iam::aws:policy/ReadOnly"), None);
        assert_eq!(
            region_named("com.amazonaws.us-gov-west-1.s3"),
            Some("us-gov-west-1")
        );
        assert_eq!(region_named("http://x.example/com.amazonaws"), None);
        assert_eq!(
            region_named("arn:aws:kafka:${params.region}:*:topic/x"),
            None
        );
        let v =
            serde_json::json!({"service_name": "com.amazonaws.us-east-1.s3", "tags": {"a": "b"}});
        assert_eq!(other_region(&v, "", "us-east-1"), None);
        assert_eq!(
            other_region(&v, "", "eu-west-1"),
            Some(("service_name".to_string(), "us-east-1"))
        );
    }
}
