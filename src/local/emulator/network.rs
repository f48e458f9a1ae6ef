//! The network rules AWS applies when MSK, MSK Connect and MWAA create something in a
//! customer's subnets, checked against what moto knows of those subnets (their availability
//! zones and zone ids, route tables, internet and NAT gateways, VPC endpoints).
//!
//! Only with a moto endpoint ([`super::Options::moto`], `pinctl local emulator --moto URL`; the
//! local twin passes its own): without one, **every rule here is skipped** and creates succeed
//! whatever their subnets, as they always did.
//!
//! The rules, each with its AWS source:
//! - **MSK CreateCluster / CreateClusterV2**: the client subnets must be in distinct
//!   Availability Zones, none in an AZ id MSK does not support (default `use1-az3`), and the
//!   broker count a multiple of the number of subnets; otherwise `BadRequestException` at once
//!   ("The subnets that you specify must be in distinct Availability Zones. When you create a
//!   cluster, Amazon MSK distributes the broker nodes evenly across the subnets that you specify.
//!   Client subnets can't occupy the Availability Zone with ID use1-az3":
//!   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-msk-cluster-brokernodegroupinfo.html ;
//!   MSK Developer Guide, "Create a cluster",
//!   https://docs.aws.amazon.com/msk/latest/developerguide/msk-create-cluster.html).
//! - **MSK Connect CreateConnector** of an S3 sink: its workers run on interfaces without a
//!   public IP in the given subnets, so those subnets must reach S3 through a NAT gateway route or
//!   an S3 gateway endpoint on their route table; otherwise the connector goes CREATING → FAILED
//!   with the reason in `stateDescription` (MSK Developer Guide, "Enabling internet access for
//!   Amazon MSK Connect": https://docs.aws.amazon.com/msk/latest/developerguide/msk-connect-internet-access.html ;
//!   its S3 sink tutorial creates the S3 gateway endpoint first, `mkc-tutorial-setup.md`).
//! - **MWAA CreateEnvironment**: exactly two subnets (`SubnetIds`: minimum and maximum 2 items,
//!   a `ValidationException` at once: MWAA API Reference, NetworkConfiguration,
//!   https://docs.aws.amazon.com/mwaa/latest/API/API_NetworkConfiguration.html), in two different
//!   Availability Zones, both private (no `0.0.0.0/0` route to an internet gateway in the
//!   subnet's route table — the VPC's main route table when none is associated), with a way out:
//!   a NAT gateway route, or the VPC endpoints MWAA needs without one; otherwise the environment
//!   goes CREATING → CREATE_FAILED with MWAA's `INCORRECT_CONFIGURATION` error in
//!   `LastUpdate.Error` (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-mwaa-environment-networkconfiguration.html ;
//!   MWAA User Guide, "About networking on Amazon MWAA",
//!   https://docs.aws.amazon.com/mwaa/latest/userguide/networking-about.html, and "Managing
//!   access to service-specific Amazon VPC endpoints",
//!   https://docs.aws.amazon.com/mwaa/latest/userguide/vpc-vpe-create-access.html).
//!
//! The codes and the states are AWS's; where AWS's exact wording is not documented the message
//! is the emulator's, in the service's style, naming the subnets and what they lack.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, RouteTable};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::{ApiError, Call, Reply, Store};
use crate::clients::aws::code_of;

/// The AZ ids MSK refuses client subnets in when nothing else is configured: `use1-az3`
/// (CloudFormation, `AWS::MSK::Cluster BrokerNodeGroupInfo`, ClientSubnets).
pub const MSK_UNSUPPORTED_AZ_IDS: &[&str] = &["use1-az3"];

/// MWAA's message for an environment whose network does not let it work (as MWAA reports it in
/// `LastUpdate.Error.ErrorMessage` with the code `INCORRECT_CONFIGURATION`).
pub const MWAA_INCORRECT_CONFIGURATION: &str = "You may need to check the execution role permissions policy for your environment, and that each of the VPC networking components required by the environment are configured to allow traffic. Troubleshooting: https://docs.aws.amazon.com/mwaa/latest/userguide/troubleshooting.html";

/// The interface endpoint services an MWAA environment without a NAT route needs (besides the
/// S3 gateway endpoint): MWAA User Guide, "Managing access to service-specific Amazon VPC
/// endpoints".
const MWAA_INTERFACE_ENDPOINTS: &[&str] = &[
    "airflow.api",
    "airflow.env",
    "airflow.ops",
    "sqs",
    "ecr.api",
    "ecr.dkr",
    "kms",
    "logs",
    "monitoring",
];

/// The emulator's view of moto's EC2: where it reads subnets and routes from.
pub(super) struct Network {
    ec2: Option<aws_sdk_ec2::Client>,
    region: String,
    /// AZ ids MSK refuses.
    msk_unsupported: Vec<String>,
}

/// What a create must become: refused at once, or created and then failed with a reason.
pub(super) enum Verdict {
    /// The rules pass (or were skipped).
    Pass,
    /// The created resource settles in `state` with `reason` instead of its stable state.
    FailLater {
        state: &'static str,
        code: &'static str,
        reason: String,
    },
}

/// One subnet as the rules see it.
#[derive(Debug, Clone)]
struct SubnetFacts {
    id: String,
    az: String,
    az_id: String,
    vpc: String,
    /// The route table that applies (associated, else the VPC's main table).
    table: Option<String>,
    /// The internet gateway a `0.0.0.0/0` route goes to, if any: a public subnet.
    igw: Option<String>,
    /// A route to a NAT gateway.
    nat: bool,
    /// An S3 gateway endpoint on its route table.
    s3_endpoint: bool,
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerErrorException",
        format!("the emulator could not read the network from moto: {e}"),
    )
}

impl Network {
    /// Rules read from moto at `moto` (none: every rule is skipped); `unsupported` AZ ids for
    /// MSK (empty: [`MSK_UNSUPPORTED_AZ_IDS`]).
    pub fn new(moto: Option<&str>, region: &str, unsupported: &[String]) -> Self {
        let ec2 = moto.map(|url| {
            let conf = aws_sdk_ec2::Config::builder()
                .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
                .region(aws_sdk_ec2::config::Region::new(region.to_string()))
                .endpoint_url(url)
                // The twin's administrator key when moto enforces IAM (the twin gives it to the
                // emulator); moto's placeholder otherwise.
                .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                    std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into()),
                    std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into()),
                    std::env::var("AWS_SESSION_TOKEN").ok(),
                    None,
                    "moto",
                ))
                .interceptor(super::internal::ServiceInternal)
                .build();
            aws_sdk_ec2::Client::from_conf(conf)
        });
        Network {
            ec2,
            region: region.to_string(),
            msk_unsupported: if unsupported.is_empty() {
                MSK_UNSUPPORTED_AZ_IDS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                unsupported.to_vec()
            },
        }
    }

    /// The rules for `call` to `service`: an error refuses it at once (with the service's
    /// error), a [`Verdict::FailLater`] fails what it creates. Calls that create nothing in
    /// subnets, and every call without a moto endpoint, pass.
    pub async fn check(&self, service: &str, call: &Call<'_>) -> Result<Verdict, ApiError> {
        let Some(ec2) = &self.ec2 else {
            return Ok(Verdict::Pass);
        };
        match (service, &call.method, call.seg.as_slice()) {
            ("kafka", &Method::POST, ["api", "v2", "clusters"] | ["v1", "clusters"]) => {
                self.msk_cluster(ec2, &call.body).await
            }
            ("kafkaconnect", &Method::POST, ["v1", "connectors"]) => {
                self.connector(ec2, &call.body).await
            }
            ("airflow" | "mwaa", &Method::PUT, ["environments", _]) => {
                self.environment(ec2, &call.body).await
            }
            _ => Ok(Verdict::Pass),
        }
    }

    /// Reads the subnets `ids` from moto, with their route tables and gateway endpoints. An
    /// unknown subnet is `Err(Some(id))`.
    async fn facts(
        &self,
        ec2: &aws_sdk_ec2::Client,
        ids: &[String],
    ) -> Result<Result<Vec<SubnetFacts>, String>, ApiError> {
        let out = match ec2
            .describe_subnets()
            .set_subnet_ids(Some(ids.to_vec()))
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if code_of(&e) == Some("InvalidSubnetID.NotFound") => {
                return Ok(Err(ids.join(", ")));
            }
            Err(e) => {
                return Err(internal(
                    aws_smithy_types::error::display::DisplayErrorContext(e),
                ))
            }
        };
        let mut facts = Vec::new();
        for id in ids {
            let Some(s) = out.subnets().iter().find(|s| s.subnet_id() == Some(id)) else {
                return Ok(Err(id.clone()));
            };
            facts.push(SubnetFacts {
                id: id.clone(),
                az: s.availability_zone().unwrap_or_default().into(),
                az_id: s.availability_zone_id().unwrap_or_default().into(),
                vpc: s.vpc_id().unwrap_or_default().into(),
                table: None,
                igw: None,
                nat: false,
                s3_endpoint: false,
            });
        }
        let vpcs: Vec<String> = {
            let mut v: Vec<String> = facts.iter().map(|f| f.vpc.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let vpc_refs: Vec<&str> = vpcs.iter().map(String::as_str).collect();
        let tables: Vec<RouteTable> = ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &vpc_refs))
            .send()
            .await
            .map_err(|e| internal(aws_smithy_types::error::display::DisplayErrorContext(e)))?
            .route_tables()
            .to_vec();
        let s3 = format!("com.amazonaws.{}.s3", self.region);
        let endpoints = ec2
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", &vpc_refs))
            .filters(filter("service-name", &[&s3]))
            .send()
            .await
            .map_err(|e| internal(aws_smithy_types::error::display::DisplayErrorContext(e)))?;
        let s3_tables: Vec<String> = endpoints
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                // EC2 answers the states in lower case (the model's enum is capitalised).
                e.state().is_none_or(|s| {
                    matches!(
                        s.as_str().to_ascii_lowercase().as_str(),
                        "available" | "pending"
                    )
                })
            })
            .flat_map(|e| e.route_table_ids().iter().cloned())
            .collect();
        for f in &mut facts {
            let associated = tables.iter().find(|t| {
                t.associations()
                    .iter()
                    .any(|a| a.subnet_id() == Some(f.id.as_str()))
            });
            let main = || {
                tables.iter().find(|t| {
                    t.vpc_id() == Some(f.vpc.as_str())
                        && t.associations().iter().any(|a| a.main() == Some(true))
                })
            };
            let Some(t) = associated.or_else(main) else {
                continue;
            };
            let tid = t.route_table_id().unwrap_or_default().to_string();
            for r in t.routes() {
                if r.destination_cidr_block() != Some("0.0.0.0/0") {
                    continue;
                }
                if let Some(g) = r.gateway_id().filter(|g| g.starts_with("igw-")) {
                    f.igw = Some(g.to_string());
                }
                if r.nat_gateway_id().is_some() {
                    f.nat = true;
                }
            }
            f.s3_endpoint = s3_tables.contains(&tid);
            f.table = Some(tid);
        }
        Ok(Ok(facts))
    }

    /// MSK: distinct AZs, supported AZ ids, brokers a multiple of the subnets.
    async fn msk_cluster(
        &self,
        ec2: &aws_sdk_ec2::Client,
        body: &Value,
    ) -> Result<Verdict, ApiError> {
        let group = body
            .pointer("/provisioned/brokerNodeGroupInfo")
            .or_else(|| body.get("brokerNodeGroupInfo"));
        let brokers = body
            .pointer("/provisioned/numberOfBrokerNodes")
            .or_else(|| body.get("numberOfBrokerNodes"))
            .and_then(Value::as_u64);
        let subnets = strings(group.and_then(|g| g.get("clientSubnets")))
            .or_else(|| strings(body.pointer("/serverless/vpcConfigs/0/subnetIds")))
            .unwrap_or_default();
        if subnets.is_empty() {
            return Ok(Verdict::Pass);
        }
        let facts = match self.facts(ec2, &subnets).await? {
            Ok(f) => f,
            Err(id) => {
                return Err(msk_bad_request(format!(
                    "The subnet ID '{id}' does not exist."
                )))
            }
        };
        let unsupported: Vec<&SubnetFacts> = facts
            .iter()
            .filter(|f| self.msk_unsupported.contains(&f.az_id))
            .collect();
        if !unsupported.is_empty() {
            let zones: Vec<&str> = unsupported.iter().map(|f| f.az.as_str()).collect();
            let ids: Vec<&str> = unsupported.iter().map(|f| f.az_id.as_str()).collect();
            return Err(msk_bad_request(format!(
                "One or more subnets belong to unsupported availability zones: [{}]. Client subnets can't occupy the Availability Zone with ID {}.",
                zones.join(", "),
                ids.join(", ")
            )));
        }
        let mut by_zone: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for f in &facts {
            by_zone.entry(f.az_id.as_str()).or_default().push(&f.id);
        }
        if let Some((zone, ids)) = by_zone.iter().find(|(_, ids)| ids.len() > 1) {
            return Err(msk_bad_request(format!(
                "The subnets that you specify must be in distinct Availability Zones: {} are all in {zone}.",
                ids.join(", ")
            )));
        }
        if let Some(n) = brokers {
            if n % subnets.len() as u64 != 0 {
                return Err(msk_bad_request(
                    "The number of broker nodes must be a multiple of Availability Zones in the Client Subnets parameter.".into(),
                ));
            }
        }
        Ok(Verdict::Pass)
    }

    /// MSK Connect: an S3 sink's subnets reach S3.
    async fn connector(
        &self,
        ec2: &aws_sdk_ec2::Client,
        body: &Value,
    ) -> Result<Verdict, ApiError> {
        let config = body.get("connectorConfiguration");
        let class = config
            .and_then(|c| c.get("connector.class"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let writes_s3 = class.to_ascii_lowercase().contains("s3")
            || config.is_some_and(|c| c.get("s3.bucket.name").is_some());
        let subnets = strings(body.pointer("/kafkaCluster/apacheKafkaCluster/vpc/subnets"))
            .unwrap_or_default();
        if !writes_s3 || subnets.is_empty() {
            return Ok(Verdict::Pass);
        }
        let facts = match self.facts(ec2, &subnets).await? {
            Ok(f) => f,
            Err(id) => {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "BadRequestException",
                    format!("The subnet ID '{id}' does not exist."),
                ))
            }
        };
        let cut_off: Vec<String> = facts
            .iter()
            .filter(|f| !f.nat && !f.s3_endpoint)
            .map(|f| match &f.table {
                Some(t) => format!("{} (route table {t})", f.id),
                None => format!("{} (no route table)", f.id),
            })
            .collect();
        if cut_off.is_empty() {
            return Ok(Verdict::Pass);
        }
        Ok(Verdict::FailLater {
            state: "FAILED",
            code: "NetworkingError",
            reason: format!(
                "The connector cannot reach Amazon S3: its workers have no public IP addresses, and subnets {} have neither a route to a NAT gateway nor an Amazon S3 gateway VPC endpoint. See https://docs.aws.amazon.com/msk/latest/developerguide/msk-connect-internet-access.html",
                cut_off.join(", ")
            ),
        })
    }

    /// MWAA: two private subnets in two AZs with a way out.
    async fn environment(
        &self,
        ec2: &aws_sdk_ec2::Client,
        body: &Value,
    ) -> Result<Verdict, ApiError> {
        let Some(subnets) = strings(body.pointer("/NetworkConfiguration/SubnetIds")) else {
            return Ok(Verdict::Pass);
        };
        if subnets.len() != 2 {
            let bound = if subnets.len() < 2 {
                "greater than or equal to 2"
            } else {
                "less than or equal to 2"
            };
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '[{}]' at 'networkConfiguration.subnetIds' failed to satisfy constraint: Member must have length {bound}",
                    subnets.join(", ")
                ),
            ));
        }
        let facts = match self.facts(ec2, &subnets).await? {
            Ok(f) => f,
            Err(id) => {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    format!("The subnet ID '{id}' does not exist"),
                ))
            }
        };
        let mut problems = Vec::new();
        if facts[0].az_id == facts[1].az_id {
            problems.push(format!(
                "subnets {} and {} are both in {} ({}); MWAA needs two different Availability Zones",
                facts[0].id, facts[1].id, facts[0].az, facts[0].az_id
            ));
        }
        for f in &facts {
            if let Some(igw) = &f.igw {
                problems.push(format!(
                    "subnet {} is public (its route table {} sends 0.0.0.0/0 to {igw}); MWAA needs private subnets",
                    f.id,
                    f.table.as_deref().unwrap_or("?")
                ));
            }
        }
        let no_nat: Vec<&SubnetFacts> =
            facts.iter().filter(|f| !f.nat && f.igw.is_none()).collect();
        if !no_nat.is_empty() {
            let missing = self.missing_mwaa_endpoints(ec2, &no_nat).await?;
            if !missing.is_empty() {
                let ids: Vec<&str> = no_nat.iter().map(|f| f.id.as_str()).collect();
                problems.push(format!(
                    "subnets {} have no route to a NAT gateway and the VPC lacks the endpoints MWAA needs without one ({})",
                    ids.join(", "),
                    missing.join(", ")
                ));
            }
        }
        if problems.is_empty() {
            return Ok(Verdict::Pass);
        }
        Ok(Verdict::FailLater {
            state: "CREATE_FAILED",
            code: "INCORRECT_CONFIGURATION",
            reason: format!(
                "{MWAA_INCORRECT_CONFIGURATION} (emulator: {})",
                problems.join("; ")
            ),
        })
    }

    /// The VPC endpoints MWAA needs without a NAT route that the subnets' VPC lacks: the S3
    /// gateway endpoint on their route tables and the interface endpoints.
    async fn missing_mwaa_endpoints(
        &self,
        ec2: &aws_sdk_ec2::Client,
        subnets: &[&SubnetFacts],
    ) -> Result<Vec<String>, ApiError> {
        let vpc = subnets[0].vpc.as_str();
        let out = ec2
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", &[vpc]))
            .send()
            .await
            .map_err(|e| internal(aws_smithy_types::error::display::DisplayErrorContext(e)))?;
        let have: Vec<String> = out
            .vpc_endpoints()
            .iter()
            .filter_map(|e| e.service_name().map(str::to_string))
            .collect();
        let mut missing = Vec::new();
        if subnets.iter().any(|f| !f.s3_endpoint) {
            missing.push(format!("com.amazonaws.{}.s3 (gateway)", self.region));
        }
        for s in MWAA_INTERFACE_ENDPOINTS {
            let name = format!("com.amazonaws.{}.{s}", self.region);
            if !have.contains(&name) {
                missing.push(name);
            }
        }
        Ok(missing)
    }
}

/// MSK's 400 for a request it refuses.
fn msk_bad_request(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// Applies a [`Verdict::FailLater`] to what a successful create `reply` made: the connector or
/// environment settles in the failed state instead of its stable one, with the reason where
/// the service reports it (a connector's `stateDescription`, an environment's
/// `LastUpdate.Error`).
pub(super) fn apply(
    store: &mut Store,
    service: &str,
    call: &Call,
    reply: &Reply,
    verdict: Verdict,
) {
    let Verdict::FailLater {
        state,
        code,
        reason,
    } = verdict
    else {
        return;
    };
    let Ok((_, answer)) = reply else {
        return;
    };
    match service {
        "kafkaconnect" => {
            if let Some(arn) = answer.get("connectorArn").and_then(Value::as_str) {
                let _ = store.connectors.fail_after_create(arn, state, |b| {
                    b["stateDescription"] = json!({"code": code, "message": reason});
                });
            }
        }
        "airflow" | "mwaa" => {
            if let Some(name) = call.seg.get(1) {
                let _ = store.environments.fail_after_create(name, state, |b| {
                    b["CreateError"] = json!({"ErrorCode": code, "ErrorMessage": reason});
                });
            }
        }
        _ => {}
    }
}
