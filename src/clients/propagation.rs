//! Riding out what AWS answers while a change propagates. AWS is eventually consistent: a role,
//! an instance profile, a security group or a bucket exists for the API that made it a moment
//! before the services that use it see it, and in that window those services refuse calls that
//! will succeed seconds later. Mature providers retry exactly these answers for a bounded window
//! (Terraform's AWS provider: `propagationTimeout`, two minutes, in `internal/service/iam`,
//! `internal/service/s3` and `internal/service/mwaa`; ENIs left by managed services are waited
//! out for the whole delete timeout, `internal/service/ec2/vpc_security_group.go`). [`settle`]
//! does the same for the calls that can meet one of the [`RULES`], and says on the operation's
//! progress line what it waits for. Any other error is returned at once, unchanged.
//!
//! The local twin answers the same way (its moto server and emulator, with
//! `pinctl local start --propagation-delay`), so these waits run in the tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::engine::backoff::Backoff;
use crate::engine::progress;

/// One answer AWS gives while something propagates, and how long it is worth waiting out.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The operations that can answer it.
    pub operations: &'static [&'static str],
    /// The service's error code.
    pub code: &'static str,
    /// A fragment of the message that tells this case from others with the same code (none:
    /// the code alone).
    pub message: Option<&'static str>,
    /// What is being waited for, for the progress line ("the instance profile to reach EC2").
    pub waiting_for: &'static str,
    /// How long to keep trying; after that the error is returned.
    pub window: Duration,
}

/// IAM's propagation: "changes ... take time to become visible" (IAM User Guide, "Troubleshoot
/// IAM: changes that I make are not always immediately visible"); Terraform waits two minutes.
const IAM: Duration = Duration::from_secs(120);
/// S3 and EC2 control-plane propagation; Terraform's `bucketPropagationTimeout` and
/// `ec2PropagationTimeout` are of the same order.
const SETTLE: Duration = Duration::from_secs(120);
/// ENIs of MSK, MSK Connect and MWAA linger after their owner is deleted; Terraform retries a
/// security group's delete for its whole delete timeout (15 min).
const ENI_LINGER: Duration = Duration::from_secs(900);

/// API Gateway's mutating calls pinctl makes.
const APIGW_WRITES: &[&str] = &[
    "CreateRestApi",
    "UpdateRestApi",
    "DeleteRestApi",
    "CreateResource",
    "PutMethod",
    "PutMethodResponse",
    "PutIntegration",
    "PutIntegrationResponse",
    "CreateDeployment",
    "DeleteDeployment",
    "DeleteStage",
    "CreateStage",
    "UpdateStage",
];

/// Every answer pinctl waits out, with its source.
pub const RULES: &[Rule] = &[
    // EC2 API Reference, RunInstances; Terraform `resourceInstanceCreate` retries both messages.
    Rule {
        operations: &["RunInstances"],
        code: "InvalidParameterValue",
        message: Some("Invalid IAM Instance Profile"),
        waiting_for: "the new instance profile to reach EC2 (IAM propagation)",
        window: IAM,
    },
    Rule {
        operations: &["RunInstances"],
        code: "InvalidParameterValue",
        message: Some("has no associated IAM Roles"),
        waiting_for: "the instance profile's role to reach EC2 (IAM propagation)",
        window: IAM,
    },
    // Terraform `instanceProfileAddRole`: a role created moments ago "cannot be found".
    Rule {
        operations: &["AddRoleToInstanceProfile"],
        code: "NoSuchEntity",
        message: None,
        waiting_for: "the new role to propagate in IAM",
        window: IAM,
    },
    // Terraform `deleteRole`: DeleteConflict while detached policies and profiles propagate.
    Rule {
        operations: &["DeleteRole"],
        code: "DeleteConflict",
        message: None,
        waiting_for: "the role's detached policies and instance profiles to propagate in IAM",
        window: IAM,
    },
    // MWAA CreateEnvironment validates the execution role by assuming it; MWAA asks clients
    // to retry ValidationException while a new role propagates (hashicorp/terraform-provider-aws
    // #26429, #27031).
    Rule {
        operations: &["CreateEnvironment", "UpdateEnvironment"],
        code: "ValidationException",
        message: Some("assume role"),
        waiting_for: "the execution role to reach MWAA (IAM propagation)",
        window: IAM,
    },
    // MSK Connect assumes the service execution role when it creates the connector.
    Rule {
        operations: &["CreateConnector"],
        code: "BadRequestException",
        message: Some("assume"),
        waiting_for: "the service execution role to reach MSK Connect (IAM propagation)",
        window: IAM,
    },
    // Terraform `resourceSecurityGroupCreate` waits for a new group to read back.
    Rule {
        operations: &[
            "DescribeSecurityGroups",
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupEgress",
            "CreateTags",
        ],
        code: "InvalidGroup.NotFound",
        message: None,
        waiting_for: "the new security group to be visible in EC2",
        window: SETTLE,
    },
    // ENIs of managed services keep a group in use after their owner is gone
    // (Terraform `resourceSecurityGroupDelete`).
    Rule {
        operations: &["DeleteSecurityGroup"],
        code: "DependencyViolation",
        message: None,
        waiting_for: "the network interfaces still using the security group to be released",
        window: ENI_LINGER,
    },
    Rule {
        operations: &["DeleteSecurityGroup"],
        code: "InvalidGroup.InUse",
        message: None,
        waiting_for: "the network interfaces still using the security group to be released",
        window: ENI_LINGER,
    },
    // S3: a new bucket's configuration calls can answer NoSuchBucket (Terraform retries every
    // bucket Put* for `bucketPropagationTimeout`).
    Rule {
        operations: &[
            "PutBucketVersioning",
            "PutBucketTagging",
            "PutBucketEncryption",
            "PutPublicAccessBlock",
            "PutBucketPolicy",
            "PutBucketOwnershipControls",
            "GetBucketVersioning",
        ],
        code: "NoSuchBucket",
        message: None,
        waiting_for: "the new bucket to propagate in S3",
        window: SETTLE,
    },
    // S3 CreateBucket: "A conflicting conditional operation is currently in progress against
    // this resource" while a just-deleted bucket of that name is still being removed (S3 API
    // Reference, Error responses: OperationAborted, 409).
    Rule {
        operations: &["CreateBucket"],
        code: "OperationAborted",
        message: None,
        waiting_for: "the name of a just-deleted bucket to be free again",
        window: SETTLE,
    },
    // API Gateway: "Unable to complete operation due to concurrent modification. Please try
    // again later." (Terraform makes ConflictException retryable for the whole client.)
    Rule {
        operations: APIGW_WRITES,
        code: "ConflictException",
        message: Some("try again later"),
        waiting_for: "API Gateway to finish a concurrent modification of the API",
        window: SETTLE,
    },
    // API Gateway's account-wide control-plane quotas (API Gateway Developer Guide, "Amazon API
    // Gateway quotas"): the SDK's own retries may not outlast DeleteRestApi's 1 per 30 s.
    Rule {
        operations: APIGW_WRITES,
        code: "TooManyRequestsException",
        message: None,
        waiting_for: "API Gateway's control-plane quota",
        window: SETTLE,
    },
];

/// The rule an answer of `operation` falls under, if any.
pub fn rule_for(operation: &str, code: &str, message: &str) -> Option<&'static Rule> {
    let message = message.to_ascii_lowercase();
    RULES.iter().find(|r| {
        r.code == code
            && r.operations.contains(&operation)
            && r.message
                .is_none_or(|m| message.contains(&m.to_ascii_lowercase()))
    })
}

/// Time this process spent riding out one rule.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Wait {
    /// What was waited for (the rule's `waiting_for`).
    pub waiting_for: &'static str,
    /// The service's error code that was ridden out.
    pub code: &'static str,
    /// From each call's first refusal to its last answer, summed over calls; seconds.
    pub seconds: f64,
    /// How many calls were refused at least once.
    pub calls: u32,
}

/// Per rule (by its index in [`RULES`]): total time waited and calls.
static WAITS: std::sync::Mutex<BTreeMap<usize, (Duration, u32)>> =
    std::sync::Mutex::new(BTreeMap::new());

fn tally(rule: &'static Rule, waited: Duration) {
    let i = RULES
        .iter()
        .position(|r| std::ptr::eq(r, rule))
        .unwrap_or(usize::MAX);
    let mut w = WAITS.lock().unwrap_or_else(|e| e.into_inner());
    let e = w.entry(i).or_default();
    e.0 += waited;
    e.1 += 1;
}

/// What this process has waited for so far, rule by rule (for `up`'s and `down`'s summary and
/// the infrastructure benchmark).
pub fn waits() -> Vec<Wait> {
    let w = WAITS.lock().unwrap_or_else(|e| e.into_inner());
    w.iter()
        .filter_map(|(i, (d, n))| {
            let r = RULES.get(*i)?;
            Some(Wait {
                waiting_for: r.waiting_for,
                code: r.code,
                seconds: d.as_secs_f64(),
                calls: *n,
            })
        })
        .collect()
}

/// A rule's window, capped by `PINCTL_PROPAGATION_TIMEOUT` (a duration, `30s`) when set: for
/// tests, and for users who would rather fail fast than wait out IAM.
fn window(rule: &Rule) -> Duration {
    std::env::var("PINCTL_PROPAGATION_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .map_or(rule.window, |cap| cap.min(rule.window))
}

/// Calls `call` until it succeeds, or fails with an answer that is not one of [`RULES`], or a
/// rule's window has passed since the first such answer; returns the last result. While it waits
/// it reports `waiting for <what> (<code>, <n> s of up to <window> s)` on the operation's
/// progress line. `operation` is the API operation's name as the service spells it.
pub async fn settle<T, E, R, Fut>(
    operation: &str,
    mut call: impl FnMut() -> Fut,
) -> Result<T, SdkError<E, R>>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut refused: Option<(&'static Rule, Instant)> = None;
    let done = |refused: Option<(&'static Rule, Instant)>| {
        if let Some((rule, since)) = refused {
            tally(rule, since.elapsed());
        }
    };
    loop {
        let e = match call().await {
            Ok(t) => {
                done(refused);
                return Ok(t);
            }
            Err(e) => e,
        };
        let rule = match &e {
            SdkError::ServiceError(s) => rule_for(
                operation,
                s.err().code().unwrap_or_default(),
                s.err().message().unwrap_or_default(),
            ),
            _ => None,
        };
        let Some(rule) = rule else {
            done(refused);
            return Err(e);
        };
        refused.get_or_insert((rule, Instant::now()));
        let waited = started.elapsed();
        let window = window(rule);
        if waited >= window {
            done(refused);
            tracing::warn!(
                "{operation}: still {} after {} s waiting for {}",
                rule.code,
                waited.as_secs(),
                rule.waiting_for
            );
            return Err(e);
        }
        let status = format!(
            "waiting for {} ({operation}: {}, {} s of up to {} s)",
            rule.waiting_for,
            rule.code,
            waited.as_secs(),
            window.as_secs()
        );
        tracing::info!("{status}");
        progress::report(&status);
        // One last try when the window ends, not a full backoff past it.
        let _ = tokio::time::timeout(window - waited, backoff.sleep()).await;
    }
}

/// [`settle`], then the API error of `operation` as the engine reports it
/// ([`crate::clients::aws::api_error`]).
pub async fn settled<T, E, R, Fut>(
    operation: &str,
    call: impl FnMut() -> Fut,
) -> Result<T, crate::engine::provider::ProviderError>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: super::aws::HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    settle(operation, call)
        .await
        .map_err(|e| super::aws::api_error(operation, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_their_operation_code_and_message_only() {
        let r = rule_for(
            "RunInstances",
            "InvalidParameterValue",
            "Value (p) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
        )
        .expect("a young instance profile is waited out");
        assert_eq!(r.window, IAM);
        // The same code for another cause fails at once.
        assert!(rule_for("RunInstances", "InvalidParameterValue", "Invalid AMI ID").is_none());
        // The same code from another operation too.
        assert!(rule_for("CreateRole", "NoSuchEntity", "").is_none());
        assert!(rule_for("DeleteRole", "DeleteConflict", "Cannot delete entity").is_some());
        assert!(rule_for(
            "PutMethod",
            "ConflictException",
            "Unable to complete operation due to concurrent modification. Please try again later."
        )
        .is_some());
        // CreateStage's ConflictException for a stage that exists is not a propagation answer.
        assert!(rule_for("CreateStage", "ConflictException", "Stage already exists").is_none());
    }
}
