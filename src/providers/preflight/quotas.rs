//! Room under the account's quotas for what the plan creates: VPCs and internet gateways per
//! region, Elastic IPs (each `ec2.nat_gateway` allocates one), NAT gateways per Availability
//! Zone. The limit is the account's applied value (Service Quotas GetServiceQuota), or AWS's
//! default where none was ever applied (GetAWSDefaultServiceQuota: "If the applied quota value
//! is not available for a quota, the quota is not retrieved", Service Quotas API Reference,
//! GetServiceQuota); the usage is counted with EC2's Describe calls. Quota codes and defaults:
//! Amazon VPC User Guide, "Amazon VPC quotas"
//! (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html) and the Service
//! Quotas console's "Amazon Elastic Compute Cloud (Amazon EC2)" list for Elastic IPs.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use super::{Check, Finding, Scope, SubnetAz};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::plan::Action;
use crate::engine::provider::ProviderError;

/// A quota the stack can run into.
struct Quota {
    service: &'static str,
    code: &'static str,
    name: &'static str,
}

const VPCS: Quota = Quota {
    service: "vpc",
    code: "L-F678F1CE",
    name: "VPCs per Region",
};
const INTERNET_GATEWAYS: Quota = Quota {
    service: "vpc",
    code: "L-A4707A72",
    name: "Internet gateways per Region",
};
const NAT_PER_AZ: Quota = Quota {
    service: "vpc",
    code: "L-FE5A380F",
    name: "NAT gateways per Availability Zone",
};
const ELASTIC_IPS: Quota = Quota {
    service: "ec2",
    code: "L-0263D0A3",
    name: "EC2-VPC Elastic IPs",
};

/// The quota's value for the account: applied, else AWS's default.
async fn limit(clients: &Clients, q: &Quota) -> Result<f64, ProviderError> {
    let sq = clients.servicequotas().await;
    let applied = sq
        .get_service_quota()
        .service_code(q.service)
        .quota_code(q.code)
        .send()
        .await;
    let quota = match applied {
        Ok(out) => out.quota().cloned(),
        Err(e) if code_of(&e) == Some("NoSuchResourceException") => sq
            .get_aws_default_service_quota()
            .service_code(q.service)
            .quota_code(q.code)
            .send()
            .await
            .map_err(|e| api_error("GetAWSDefaultServiceQuota", e))?
            .quota()
            .cloned(),
        Err(e) => return Err(api_error("GetServiceQuota", e)),
    };
    quota
        .and_then(|q| q.value())
        .ok_or_else(|| ProviderError::bad_response("GetServiceQuota", "Quota.Value"))
}

/// How many of each the account has now in the region.
async fn usage(clients: &Clients, q: &Quota) -> Result<BTreeMap<String, usize>, ProviderError> {
    let ec2 = clients.ec2().await;
    let region = |n: usize| BTreeMap::from([(String::new(), n)]);
    Ok(match q.code {
        "L-F678F1CE" => region(
            ec2.describe_vpcs()
                .send()
                .await
                .map_err(|e| api_error("DescribeVpcs", e))?
                .vpcs()
                .len(),
        ),
        "L-A4707A72" => region(
            ec2.describe_internet_gateways()
                .send()
                .await
                .map_err(|e| api_error("DescribeInternetGateways", e))?
                .internet_gateways()
                .len(),
        ),
        "L-0263D0A3" => region(
            ec2.describe_addresses()
                .send()
                .await
                .map_err(|e| api_error("DescribeAddresses", e))?
                .addresses()
                .len(),
        ),
        _ => {
            // NAT gateways that count: pending or available, by their subnet's AZ id.
            let nats = ec2
                .describe_nat_gateways()
                .filter(
                    Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .build(),
                )
                .send()
                .await
                .map_err(|e| api_error("DescribeNatGateways", e))?;
            let subnets: Vec<String> = nats
                .nat_gateways()
                .iter()
                .filter_map(|n| n.subnet_id().map(str::to_string))
                .collect();
            let mut by_az = BTreeMap::new();
            if !subnets.is_empty() {
                let out = ec2
                    .describe_subnets()
                    .set_subnet_ids(Some(subnets.clone()))
                    .send()
                    .await
                    .map_err(|e| api_error("DescribeSubnets", e))?;
                let az: BTreeMap<&str, &str> = out
                    .subnets()
                    .iter()
                    .filter_map(|s| Some((s.subnet_id()?, s.availability_zone_id()?)))
                    .collect();
                for s in &subnets {
                    if let Some(a) = az.get(s.as_str()) {
                        *by_az.entry(a.to_string()).or_insert(0) += 1;
                    }
                }
            }
            by_az
        }
    })
}

pub(super) async fn check(clients: &Clients, scope: &Scope<'_>) -> Vec<Finding> {
    let created = |kind: &str| -> Vec<String> {
        scope
            .plan
            .resources
            .iter()
            .filter(|r| r.kind == kind && r.action == Action::Create)
            .map(|r| r.name.clone())
            .collect()
    };
    let nats = created("ec2.nat_gateway");
    let mut nat_by_az: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in &nats {
        if let Some(SubnetAz::Planned(az)) = scope.subnet_az(n, "subnet_id", None) {
            nat_by_az.entry(az).or_default().push(n.clone());
        }
    }
    // (quota, AZ id or "" for the region, the resources that add to it)
    let mut wants: Vec<(&Quota, String, Vec<String>)> = vec![
        (&VPCS, String::new(), created("ec2.vpc")),
        (
            &INTERNET_GATEWAYS,
            String::new(),
            created("ec2.internet_gateway"),
        ),
        (&ELASTIC_IPS, String::new(), nats.clone()),
    ];
    for (az, names) in nat_by_az {
        wants.push((&NAT_PER_AZ, az, names));
    }
    let mut out = Vec::new();
    let mut limits: BTreeMap<&str, Result<f64, ProviderError>> = BTreeMap::new();
    let mut usages: BTreeMap<&str, Result<BTreeMap<String, usize>, ProviderError>> =
        BTreeMap::new();
    for (q, az, names) in wants {
        if names.is_empty() {
            continue;
        }
        if !limits.contains_key(q.code) {
            limits.insert(q.code, limit(clients, q).await);
            usages.insert(q.code, usage(clients, q).await);
        }
        let (max, used) = match (&limits[q.code], &usages[q.code]) {
            (Ok(m), Ok(u)) => (*m, u.get(&az).copied().unwrap_or(0)),
            (Err(e), _) | (_, Err(e)) => {
                out.push(Finding::unchecked(
                    &names[0],
                    Check::Quota,
                    &format!("the quota {} ({}/{})", q.name, q.service, q.code),
                    e,
                ));
                continue;
            }
        };
        let after = used + names.len();
        if after as f64 > max {
            let place = if az.is_empty() {
                "in this region".to_string()
            } else {
                format!("in Availability Zone {az}")
            };
            out.push(Finding::error(
                &names.join(", "),
                Check::Quota,
                format!(
                    "{} would exceed the account's quota {} ({}/{}): {} {place} now, {} more planned, the quota is {}",
                    names.join(", "),
                    q.name,
                    q.service,
                    q.code,
                    used,
                    names.len(),
                    max
                ),
                format!(
                    "free some (delete unused ones {place}) or ask for more: `aws service-quotas request-service-quota-increase --service-code {} --quota-code {} --desired-value {after}`",
                    q.service, q.code
                ),
            ));
        }
    }
    out
}
