//! What MSK, MSK Connect and MWAA do with the IAM and VPC resources moto holds while changes
//! propagate, when the twin runs with a propagation delay (`PINCTL_PROPAGATION_DELAY`, seconds;
//! `pinctl local start --propagation-delay`) and moto's endpoint is known (`AWS_ENDPOINT_URL`):
//!
//! - **A role just created** is not yet assumable by the service principal. MWAA's
//!   CreateEnvironment answers `ValidationException` "Failed to assume role ... Please ensure your
//!   role is assumable by 'airflow-env.amazonaws.com' Service Principal and try again." (the
//!   message AWS gives, quoted in idealo/terraform-aws-mwaa#156; MWAA asks clients to retry it,
//!   hashicorp/terraform-provider-aws#26429). MSK Connect's CreateConnector refuses with
//!   `BadRequestException` (AWS documents no message; the wording here is the emulator's). A
//!   role that does not exist at all is refused the same way, for good.
//! - **Network interfaces.** Each cluster, connector and environment puts its ENIs in its
//!   subnets and security groups (MSK: one per broker subnet; MSK Connect and MWAA: one per
//!   subnet), created in moto; they outlive their owner by the propagation delay after its
//!   deletion ends, as the ENIs of managed services linger on AWS (the reason Terraform retries a
//!   security group's delete on `DependencyViolation` for its whole timeout). moto refuses to
//!   delete a security group an ENI uses (`scripts/moto/pinctl_moto_fidelity.py`).
//!
//! Without a delay, or without moto, nothing here happens.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;

use super::{ApiError, Call};

/// moto's IAM and EC2, as the services see them.
pub(super) struct Propagation {
    delay: Duration,
    iam: Option<aws_sdk_iam::Client>,
    ec2: Option<aws_sdk_ec2::Client>,
    /// ENIs by the ARN (or MWAA name) of the resource that owns them.
    enis: Mutex<BTreeMap<String, Vec<String>>>,
}

impl Propagation {
    /// The delay in `PINCTL_PROPAGATION_DELAY`; moto at `moto` (else `AWS_ENDPOINT_URL`), called
    /// with the credentials of the default chain.
    pub(super) async fn new(moto: Option<&str>, region: &str) -> Propagation {
        let delay = std::env::var("PINCTL_PROPAGATION_DELAY")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|d| *d > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_default();
        let endpoint = moto
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        let (iam, ec2) = match endpoint {
            Some(url) if !delay.is_zero() => {
                let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(region.to_string()))
                    .endpoint_url(url)
                    .load()
                    .await;
                (
                    Some(aws_sdk_iam::Client::from_conf(
                        aws_sdk_iam::config::Builder::from(&conf)
                            .interceptor(super::internal::ServiceInternal)
                            .build(),
                    )),
                    Some(aws_sdk_ec2::Client::from_conf(
                        aws_sdk_ec2::config::Builder::from(&conf)
                            .interceptor(super::internal::ServiceInternal)
                            .build(),
                    )),
                )
            }
            _ => (None, None),
        };
        Propagation {
            delay,
            iam,
            ec2,
            enis: Mutex::new(BTreeMap::new()),
        }
    }

    /// Off: no delay, no moto.
    pub(super) fn off() -> Propagation {
        Propagation {
            delay: Duration::ZERO,
            iam: None,
            ec2: None,
            enis: Mutex::new(BTreeMap::new()),
        }
    }

    /// The refusal a create call gets while the role it names cannot be assumed yet.
    pub(super) async fn refusal(&self, service: &str, call: &Call<'_>) -> Option<ApiError> {
        let iam = self.iam.as_ref()?;
        let (role, refuse): (&str, fn(&str) -> ApiError) = match (
            service,
            &call.method,
            call.seg.as_slice(),
        ) {
            ("kafkaconnect", &Method::POST, ["v1", "connectors"]) => {
                (call.body.get("serviceExecutionRoleArn")?.as_str()?, |arn| {
                    ApiError(
                            StatusCode::BAD_REQUEST,
                            "BadRequestException",
                            format!(
                                "Unable to assume the service execution role {arn}. Make sure the \
                                 role exists and its trust policy allows kafkaconnect.amazonaws.com \
                                 to assume it."
                            ),
                        )
                })
            }
            ("airflow" | "mwaa", &Method::PUT, ["environments", _]) => {
                (call.body.get("ExecutionRoleArn")?.as_str()?, |arn| {
                    ApiError(
                        StatusCode::BAD_REQUEST,
                        "ValidationException",
                        format!(
                            "Failed to assume role {arn}. This could be due to the role's \
                                 trust policy. Please ensure your role is assumable by \
                                 'airflow-env.amazonaws.com' Service Principal and try again."
                        ),
                    )
                })
            }
            _ => return None,
        };
        let name = role.rsplit('/').next().unwrap_or(role);
        let assumable = match iam.get_role().role_name(name).send().await {
            Ok(out) => out.role().map(|r| r.create_date()).is_some_and(|made| {
                let age = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs()
                    - made.secs();
                age >= self.delay.as_secs_f64().ceil() as i64
            }),
            Err(e) => {
                let gone = e
                    .as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception());
                if !gone {
                    tracing::warn!("GetRole {name} on moto: {e}");
                }
                !gone
            }
        };
        (!assumable).then(|| refuse(role))
    }

    /// After a call succeeded: ENIs for what was created, a lingering removal for what was
    /// deleted. `reply` is the service's answer; `settles` how long its deletion takes.
    pub(super) async fn after(
        &self,
        service: &str,
        call: &Call<'_>,
        reply: &Value,
        settles: Duration,
    ) {
        let Some(ec2) = self.ec2.clone() else { return };
        let body = &call.body;
        let strs = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let created = match (service, &call.method, call.seg.as_slice()) {
            ("kafka", &Method::POST, ["api", "v2", "clusters"]) => Some((
                reply["clusterArn"].as_str().map(str::to_string),
                strs(body.pointer("/provisioned/brokerNodeGroupInfo/clientSubnets")),
                strs(body.pointer("/provisioned/brokerNodeGroupInfo/securityGroups")),
            )),
            ("kafka", &Method::POST, ["v1", "clusters"]) => Some((
                reply["clusterArn"].as_str().map(str::to_string),
                strs(body.pointer("/brokerNodeGroupInfo/clientSubnets")),
                strs(body.pointer("/brokerNodeGroupInfo/securityGroups")),
            )),
            ("kafkaconnect", &Method::POST, ["v1", "connectors"]) => Some((
                reply["connectorArn"].as_str().map(str::to_string),
                strs(body.pointer("/kafkaCluster/apacheKafkaCluster/vpc/subnets")),
                strs(body.pointer("/kafkaCluster/apacheKafkaCluster/vpc/securityGroups")),
            )),
            ("airflow" | "mwaa", &Method::PUT, ["environments", name]) => Some((
                Some(name.to_string()),
                strs(body.pointer("/NetworkConfiguration/SubnetIds")),
                strs(body.pointer("/NetworkConfiguration/SecurityGroupIds")),
            )),
            _ => None,
        };
        if let Some((Some(owner), subnets, groups)) = created {
            let mut made = Vec::new();
            for subnet in &subnets {
                match ec2
                    .create_network_interface()
                    .subnet_id(subnet)
                    .set_groups(Some(groups.clone()))
                    .description(format!("pinctl emulator: {owner}"))
                    .send()
                    .await
                {
                    Ok(out) => made.extend(
                        out.network_interface()
                            .and_then(|n| n.network_interface_id())
                            .map(str::to_string),
                    ),
                    Err(e) => tracing::warn!("CreateNetworkInterface for {owner} on moto: {e}"),
                }
            }
            self.enis.lock().await.insert(owner, made);
            return;
        }
        let owner = match (service, &call.method, call.seg.as_slice()) {
            ("kafka", &Method::DELETE, ["v1", "clusters", arn])
            | ("kafkaconnect", &Method::DELETE, ["v1", "connectors", arn]) => arn.to_string(),
            ("airflow" | "mwaa", &Method::DELETE, ["environments", name]) => name.to_string(),
            _ => return,
        };
        let Some(enis) = self.enis.lock().await.remove(&owner) else {
            return;
        };
        let linger = settles + self.delay;
        tokio::spawn(async move {
            tokio::time::sleep(linger).await;
            for eni in enis {
                if let Err(e) = ec2
                    .delete_network_interface()
                    .network_interface_id(&eni)
                    .send()
                    .await
                {
                    tracing::warn!("DeleteNetworkInterface {eni} on moto: {e}");
                }
            }
        });
    }
}
