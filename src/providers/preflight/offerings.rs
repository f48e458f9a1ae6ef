//! Instance types offered where they are asked for: an EC2 instance type, and an MSK broker
//! type, exist in some Availability Zones of a region and not in others (t3 instances are not
//! offered in use1-az3, for one). EC2 DescribeInstanceTypeOfferings with `LocationType`
//! `availability-zone-id` lists, per AZ id, the types it offers (EC2 API Reference,
//! DescribeInstanceTypeOfferings). A provisioned MSK broker type is named after the EC2
//! instance type it runs on, `kafka.<ec2 type>` (MSK Developer Guide, "Broker types":
//! https://docs.aws.amazon.com/msk/latest/developerguide/broker-instance-types.html), so its
//! offering is read the same way; Express brokers (`express.*`) are not EC2 types and are not
//! checked.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, LocationType};

use super::{Check, Finding, Scope, SubnetAz};
use crate::clients::aws::{api_error, Clients};
use crate::engine::plan::{Action, ResourcePlan};
use crate::engine::provider::ProviderError;

/// The AZ ids (or the region, `None`) one instance type is offered in.
async fn offered(
    clients: &Clients,
    instance_type: &str,
    by_az: bool,
) -> Result<BTreeSet<String>, ProviderError> {
    let ec2 = clients.ec2().await;
    let mut out = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let page = ec2
            .describe_instance_type_offerings()
            .location_type(if by_az {
                LocationType::AvailabilityZoneId
            } else {
                LocationType::Region
            })
            .filters(
                Filter::builder()
                    .name("instance-type")
                    .values(instance_type)
                    .build(),
            )
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| api_error("DescribeInstanceTypeOfferings", e))?;
        for o in page.instance_type_offerings() {
            if let Some(l) = o.location() {
                out.insert(l.to_string());
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The AZ id of an existing subnet.
async fn existing_subnet_az(clients: &Clients, id: &str) -> Result<Option<String>, ProviderError> {
    let out = clients
        .ec2()
        .await
        .describe_subnets()
        .subnet_ids(id)
        .send()
        .await
        .map_err(|e| api_error("DescribeSubnets", e))?;
    Ok(out
        .subnets()
        .first()
        .and_then(|s| s.availability_zone_id())
        .map(str::to_string))
}

/// One thing to check: a resource asking for an instance type in some AZs.
struct Ask<'a> {
    resource: &'a ResourcePlan,
    /// The type as the stack names it (`kafka.t3.small`, `t3.small`).
    named: String,
    /// The EC2 type to look up.
    ec2_type: String,
    /// Its subnets' AZs (empty: unknown, the region is checked).
    subnets: Vec<SubnetAz>,
    prop: &'static str,
}

/// Whether a plan asks for `prop`'s value: a new resource, or a change of that field.
fn asks(r: &ResourcePlan, prop: &str) -> bool {
    r.action != Action::Update || r.changes.iter().any(|c| c.path == prop)
}

pub(super) async fn check(clients: &Clients, scope: &Scope<'_>) -> Vec<Finding> {
    let mut asks_: Vec<Ask> = Vec::new();
    for (r, props) in scope.changing("msk.cluster") {
        let Some(t) = scope.known_str(props, "broker_instance_type") else {
            continue;
        };
        let Some(ec2_type) = t.strip_prefix("kafka.") else {
            continue;
        };
        if !asks(r, "broker_instance_type") && !asks(r, "client_subnets") {
            continue;
        }
        let n = props
            .get("client_subnets")
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len);
        let subnets = (0..n)
            .filter_map(|i| scope.subnet_az(&r.name, "client_subnets", Some(i)))
            .collect();
        asks_.push(Ask {
            resource: r,
            named: t.to_string(),
            ec2_type: ec2_type.to_string(),
            subnets,
            prop: "broker_instance_type",
        });
    }
    for (r, props) in scope.changing("ec2.instance") {
        let Some(t) = scope.known_str(props, "instance_type") else {
            continue;
        };
        if !asks(r, "instance_type") && !asks(r, "subnet_id") {
            continue;
        }
        asks_.push(Ask {
            resource: r,
            named: t.to_string(),
            ec2_type: t.to_string(),
            subnets: scope
                .subnet_az(&r.name, "subnet_id", None)
                .into_iter()
                .collect(),
            prop: "instance_type",
        });
    }
    let mut out = Vec::new();
    let mut cache: BTreeMap<(String, bool), Result<BTreeSet<String>, ProviderError>> =
        BTreeMap::new();
    for ask in asks_ {
        let mut azs = BTreeSet::new();
        let mut failed = None;
        for s in &ask.subnets {
            match s {
                SubnetAz::Planned(az) => {
                    azs.insert(az.clone());
                }
                SubnetAz::Existing(id) => match existing_subnet_az(clients, id).await {
                    Ok(Some(az)) => {
                        azs.insert(az);
                    }
                    Ok(None) => {}
                    Err(e) => failed = Some(e),
                },
            }
        }
        if let Some(e) = failed {
            out.push(Finding::unchecked(
                &ask.resource.name,
                Check::InstanceType,
                "the Availability Zones of its subnets",
                &e,
            ));
            continue;
        }
        let by_az = !azs.is_empty();
        let key = (ask.ec2_type.clone(), by_az);
        if !cache.contains_key(&key) {
            let got = offered(clients, &ask.ec2_type, by_az).await;
            cache.insert(key.clone(), got);
        }
        let offered_in = match &cache[&key] {
            Ok(o) => o,
            Err(e) => {
                out.push(Finding::unchecked(
                    &ask.resource.name,
                    Check::InstanceType,
                    &format!("where {} is offered", ask.named),
                    e,
                ));
                continue;
            }
        };
        if !by_az {
            if offered_in.is_empty() {
                out.push(Finding::error(
                    &ask.resource.name,
                    Check::InstanceType,
                    format!("{} is not offered in this region (DescribeInstanceTypeOfferings)", ask.named),
                    format!("set {} to a type the region offers (`aws ec2 describe-instance-type-offerings`)", ask.prop),
                ));
            }
            continue;
        }
        let missing: Vec<&String> = azs.iter().filter(|a| !offered_in.contains(*a)).collect();
        if !missing.is_empty() {
            let list =
                |v: Vec<&String>| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            out.push(Finding::error(
                &ask.resource.name,
                Check::InstanceType,
                format!(
                    "{} is not offered in Availability Zone {} (DescribeInstanceTypeOfferings by AZ id), where its subnets are",
                    ask.named,
                    list(missing)
                ),
                format!(
                    "set {} to a type offered there, or put its subnets in AZs that offer it: {}",
                    ask.prop,
                    if offered_in.is_empty() {
                        "none in this region".to_string()
                    } else {
                        list(offered_in.iter().collect())
                    }
                ),
            ));
        }
    }
    out
}
