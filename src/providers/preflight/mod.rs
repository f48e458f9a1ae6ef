//! Preflight: read-only calls `plan` (and `up`, before it asks) makes to catch an `up` that AWS
//! would refuse part-way, each reported with the resource, what is wrong and how to fix it.
//!
//! What is checked, for the resources a plan creates or changes:
//! - the credentials work at all (STS GetCallerIdentity), and each service the checks call
//!   answers them (an `AccessDenied` is a finding naming the action);
//! - bucket names are free ([`buckets`]): S3 names are global across every account;
//! - the Kafka version is offered for new clusters, and a change never asks MSK to downgrade
//!   a cluster AWS upgraded on its own; the Airflow version is one MWAA offers ([`versions`]);
//! - broker and EC2 instance types are offered in the Availability Zones of their subnets
//!   ([`offerings`]);
//! - no prop names another region than the one the credentials call (an ARN or an endpoint
//!   service of region B while the calls go to A: [`regions`]);
//! - the account has room under the quotas the stack uses: VPCs and internet gateways per
//!   region, Elastic IPs, NAT gateways per Availability Zone ([`quotas`]).
//!
//! A check that cannot be made (a service the credentials may not read) is a warning, not a
//! failure: preflight is advice about the future, the services have the last word.

mod buckets;
mod offerings;
mod quotas;
mod regions;
mod versions;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clients::aws::Clients;
use crate::engine::plan::{Action, Plan, ResourcePlan};
use crate::engine::provider::ProviderError;
use crate::stack::expr::{self, Ref, Segment};
use crate::stack::resolve::{is_unknown, Resolved};
use crate::stack::Stack;

pub use versions::{version_key, MSK_UNOFFERED_HINT, MWAA_AIRFLOW_VERSIONS};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// `up` would fail on it: `plan` exits 1, `up` stops before changing anything.
    Error,
    /// A check could not be made; the run goes on.
    Warning,
}

/// What a finding is about (stable, for programs reading `plan --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Credentials,
    BucketName,
    KafkaVersion,
    AirflowVersion,
    InstanceType,
    Quota,
    Region,
}

/// One preflight result: which resource, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The stack's resource name, or `(account)` for what concerns the whole account.
    pub resource: String,
    pub check: Check,
    pub severity: Severity,
    /// What is wrong, with the service's answer.
    pub problem: String,
    /// What the user can do about it.
    pub fix: String,
}

impl Finding {
    fn error(resource: &str, check: Check, problem: String, fix: String) -> Self {
        Finding {
            resource: resource.into(),
            check,
            severity: Severity::Error,
            problem,
            fix,
        }
    }

    /// A check that could not be made because a call failed.
    fn unchecked(resource: &str, check: Check, what: &str, e: &ProviderError) -> Self {
        Finding {
            resource: resource.into(),
            check,
            severity: Severity::Warning,
            problem: format!("could not check {what}: {e}"),
            fix: denied_fix(e),
        }
    }
}

/// The advice for a failed read: a refusal names the permission; anything else says to retry.
fn denied_fix(e: &ProviderError) -> String {
    match e {
        ProviderError::Api {
            operation, code, ..
        } if code.contains("AccessDenied") || code == "UnauthorizedOperation" => format!(
            "allow the credentials to call {operation} (read-only), or check by hand before `up`"
        ),
        _ => "run `pinctl plan` again; if it persists, check by hand before `up`".into(),
    }
}

/// Preflight's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error (`plan` exits 1, `up` stops).
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The values of `${aws.*}` for the credentials' account and region (see
/// [`crate::stack::Stack::aws`]): `region`, and `account_hash`, the first 10 hex digits of
/// SHA-256 of `<account id>:<region>`. Errors: STS GetCallerIdentity's.
pub async fn target_values(clients: &Clients) -> Result<BTreeMap<String, String>, ProviderError> {
    let account = clients.account().await?.to_string();
    let region = clients.region().await;
    Ok(BTreeMap::from([
        ("account_hash".to_string(), account_hash(&account, &region)),
        ("region".to_string(), region),
    ]))
}

/// The first 10 hex digits of SHA-256 of `<account>:<region>`: unique enough to keep two
/// accounts' (or regions') names apart, and not the account id, which then never reaches a
/// bucket name, a plan or the state.
pub fn account_hash(account: &str, region: &str) -> String {
    let digest = Sha256::digest(format!("{account}:{region}").as_bytes());
    hex::encode(digest)[..10].to_string()
}

/// What the checks read: the stack, the plan and every resource's resolved props.
struct Scope<'a> {
    stack: &'a Stack,
    plan: &'a Plan,
    resolved: &'a BTreeMap<String, Resolved>,
}

impl Scope<'_> {
    /// Resources of `kind` the plan creates, replaces or updates, with their resolved props.
    fn changing(&self, kind: &str) -> Vec<(&ResourcePlan, &Value)> {
        self.plan
            .resources
            .iter()
            .filter(|r| r.kind == kind)
            .filter(|r| matches!(r.action, Action::Create | Action::Replace | Action::Update))
            .filter_map(|r| self.resolved.get(&r.name).map(|p| (r, &p.value)))
            .collect()
    }

    /// A resource's resolved prop as a known string.
    fn known_str<'v>(&self, props: &'v Value, key: &str) -> Option<&'v str> {
        props.get(key).filter(|v| !is_unknown(v))?.as_str()
    }

    /// The AZ id of the subnet an element of a subnet prop names: the `availability_zone_id`
    /// of the stack's own `ec2.subnet` it refers to (`${private_1.id}`), or `None` when it is
    /// an existing subnet (`Some(Err(id))`, to be read from EC2) or cannot be told.
    fn subnet_az(&self, resource: &str, prop: &str, index: Option<usize>) -> Option<SubnetAz> {
        let raw = self.stack.resources.get(resource)?.props.get(prop)?;
        let raw = match index {
            Some(i) => raw.get(i)?,
            None => raw,
        };
        let resolved = self.resolved.get(resource)?.value.get(prop)?;
        let resolved = match index {
            Some(i) => resolved.get(i)?,
            None => resolved,
        };
        if let Some(id) = resolved.as_str().filter(|_| !is_unknown(resolved)) {
            return Some(SubnetAz::Existing(id.to_string()));
        }
        let segs = expr::parse(raw.as_str()?).ok()?;
        let [Segment::Ref(Ref::Resource { name, attr }, _)] = segs.as_slice() else {
            return None;
        };
        let subnet = self.stack.resources.get(name)?;
        if attr != "id" || subnet.kind != "ec2.subnet" {
            return None;
        }
        let az = self.resolved.get(name)?.value.get("availability_zone_id")?;
        az.as_str()
            .filter(|_| !is_unknown(az))
            .map(|a| SubnetAz::Planned(a.to_string()))
    }
}

/// Where a subnet's Availability Zone comes from.
enum SubnetAz {
    /// A subnet the stack creates, in this AZ id.
    Planned(String),
    /// A subnet that exists: its id.
    Existing(String),
}

/// Runs every check over `plan` (made from `stack`, with `resolved` props) and reports what
/// would fail. Makes read-only calls only.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    plan: &Plan,
    resolved: &BTreeMap<String, Resolved>,
) -> Report {
    let mut findings = Vec::new();
    if let Err(e) = clients.account().await {
        findings.push(Finding::error(
            "(account)",
            Check::Credentials,
            format!("the credentials cannot be used: {e}"),
            "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to credentials of the account, and AWS_REGION; `aws sts get-caller-identity` should answer".into(),
        ));
        return Report { findings };
    }
    let scope = Scope {
        stack,
        plan,
        resolved,
    };
    findings.extend(regions::check(&clients.region().await, &scope));
    findings.extend(buckets::check(clients, &scope).await);
    findings.extend(versions::check(clients, &scope).await);
    findings.extend(offerings::check(clients, &scope).await);
    findings.extend(quotas::check(clients, &scope).await);
    Report { findings }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_hash_hides_the_account_and_differs_per_region() {
        let a = account_hash("123456789012", "us-east-1");
        assert_eq!(a.len(), 10);
        assert!(!a.contains("1234"));
        assert_ne!(a, account_hash("123456789012", "eu-west-1"));
        assert_ne!(a, account_hash("210987654321", "us-east-1"));
        assert_eq!(a, account_hash("123456789012", "us-east-1"));
    }
}
