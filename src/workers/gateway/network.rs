//! The network between API Gateway and an HTTP integration's backend, as AWS has it, applied
//! by the twin's gateway before it forwards a request (what the gateway would otherwise let
//! through that AWS's network never would):
//!
//! - **Over the internet** (`connectionType` `INTERNET`) to an EC2 instance's public name or
//!   address: the request comes from API Gateway's outbound addresses (the `API_GATEWAY`
//!   prefixes of the region in AWS's published ranges, ip-ranges.json; AWS re:Post, "How do I
//!   manage API Gateway IP address changes":
//!   https://repost.aws/knowledge-center/api-gateway-manage-ip-changes), so one of the
//!   instance's security groups must admit [`API_GATEWAY_SOURCE`] on the port. Otherwise the
//!   connection is dropped and API Gateway answers 504 once its 29-second integration timeout
//!   passes (the twin answers at once, naming the cause).
//! - **Through a VPC link** (`VPC_LINK`): the link must be `AVAILABLE`, its Network Load
//!   Balancer `active` with a listener on the URI's port, and the listener's target group must
//!   have a registered instance whose security groups admit the load balancer on the target's
//!   port. Traffic from a VPC link arrives through AWS PrivateLink, whose source address is the
//!   load balancer's private address in its subnet, whatever the client IP preservation setting
//!   (ELB User Guide for Network Load Balancers, "Target security groups" and "Client IP
//!   preservation": https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-register-targets.html#target-security-groups),
//!   so a rule must admit the load balancer's subnets.
//!
//! An instance's addresses are what the twin resolves to the process serving them. Only rules
//! with CIDR ranges are read: a rule naming a source security group or a prefix list admits
//! nothing here (the pipeline's stack uses neither for these paths), so the twin refuses where
//! AWS might carry the request, never the other way round.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Instance, IpPermission};
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, LoadBalancerStateEnum};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ipnet::Ipv4Net;

use crate::clients::aws::describe;

/// The address API Gateway's requests come from on the twin: one outside every VPC, standing
/// for the region's `API_GATEWAY` prefixes (198.51.100.0/24 is TEST-NET-2, RFC 5737, never
/// anyone's real address). A security group admits API Gateway only with a rule that contains
/// it (as `0.0.0.0/0` does).
pub const API_GATEWAY_SOURCE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// Why AWS's network would not carry the request: API Gateway's answer, with the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 504 (the connection never answers: API Gateway's integration timeout) or 500.
    pub status: u16,
    pub cause: String,
}

impl Refusal {
    fn timeout(cause: String) -> Self {
        Refusal { status: 504, cause }
    }
    fn failed(cause: String) -> Self {
        Refusal { status: 500, cause }
    }
}

/// Where a request through a VPC link arrives: the target instance's names (public and
/// private DNS names and addresses) and the port.
#[derive(Debug, Clone)]
pub struct Target {
    pub instance_id: String,
    pub names: Vec<String>,
    pub port: u16,
}

/// How long a verdict on a route stands before the network is read again: a change (a rule
/// added, a target registered) shows within it, as AWS's own changes take seconds to apply.
const VERDICT_TTL: Duration = Duration::from_secs(5);

type Verdict = Result<Option<Target>, Refusal>;

/// Reads the network through the EC2, ELBv2 and API Gateway APIs.
pub struct Network {
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    apigateway: aws_sdk_apigateway::Client,
    /// Route → when it was judged and the verdict (a request must not cost seven reads).
    verdicts: Mutex<HashMap<String, (Instant, Verdict)>>,
}

/// Whether `rules` admit TCP on `port` from every address of `from` (a rule for all
/// protocols, `-1`, counts; so does a range of ports covering `port`).
pub fn admits(rules: &[IpPermission], port: u16, from: &Ipv4Net) -> bool {
    rules.iter().any(|r| {
        let proto = r.ip_protocol().unwrap_or("-1");
        let ports = proto == "-1"
            || (matches!(proto, "tcp" | "6")
                && r.from_port().unwrap_or(0) <= port as i32
                && r.to_port().unwrap_or(65535) >= port as i32);
        ports
            && r.ip_ranges().iter().any(|range| {
                range
                    .cidr_ip()
                    .and_then(|c| c.parse::<Ipv4Net>().ok())
                    .is_some_and(|net| net.contains(from))
            })
    })
}

fn names(i: &Instance) -> Vec<String> {
    [
        i.public_dns_name(),
        i.public_ip_address(),
        i.private_dns_name(),
        i.private_ip_address(),
    ]
    .into_iter()
    .flatten()
    .filter(|n| !n.is_empty())
    .map(str::to_string)
    .collect()
}

/// A read that failed: API Gateway's 500, naming what was read and the service's answer.
fn read_failed<E, R>(what: String) -> impl FnOnce(SdkError<E, R>) -> Refusal
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| Refusal::failed(format!("{what}: {}", describe(&e)))
}

impl Network {
    pub fn new(
        ec2: aws_sdk_ec2::Client,
        elb: aws_sdk_elasticloadbalancingv2::Client,
        apigateway: aws_sdk_apigateway::Client,
    ) -> Self {
        Network {
            ec2,
            elb,
            apigateway,
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &str) -> Option<Verdict> {
        let v = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        v.get(key)
            .filter(|(at, _)| at.elapsed() < VERDICT_TTL)
            .map(|(_, verdict)| verdict.clone())
    }

    fn remember(&self, key: String, verdict: &Verdict) {
        self.verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (Instant::now(), verdict.clone()));
    }

    /// An internet integration to `host:port` (see [`Network::judge_internet`]), judged at most
    /// every [`VERDICT_TTL`].
    pub async fn over_internet(&self, host: &str, port: u16) -> Result<(), Refusal> {
        let key = format!("internet {host}:{port}");
        if let Some(v) = self.cached(&key) {
            return v.map(|_| ());
        }
        let v = self.judge_internet(host, port).await.map(|()| None);
        self.remember(key, &v);
        v.map(|_| ())
    }

    /// A VPC link integration to `port` (see [`Network::judge_vpc_link`]), judged at most
    /// every [`VERDICT_TTL`].
    pub async fn through_vpc_link(&self, link_id: &str, port: u16) -> Result<Target, Refusal> {
        let key = format!("vpc link {link_id}:{port}");
        let v = match self.cached(&key) {
            Some(v) => v,
            None => {
                let v = self.judge_vpc_link(link_id, port).await.map(Some);
                self.remember(key, &v);
                v
            }
        };
        v.map(|t| t.expect("a VPC link's verdict names its target"))
    }

    /// The instance's security groups' inbound rules.
    async fn inbound(&self, i: &Instance) -> Result<Vec<IpPermission>, String> {
        let ids: Vec<String> = i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ec2
            .describe_security_groups()
            .set_group_ids(Some(ids))
            .send()
            .await
            .map_err(|e| format!("DescribeSecurityGroups: {}", describe(&e)))?;
        Ok(out
            .security_groups()
            .iter()
            .flat_map(|g| g.ip_permissions().iter().cloned())
            .collect())
    }

    async fn instances(&self, filter: (&str, &str)) -> Result<Vec<Instance>, String> {
        let out = self
            .ec2
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name(filter.0)
                    .values(filter.1)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| format!("DescribeInstances: {}", describe(&e)))?;
        Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().cloned())
            .filter(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .is_some_and(|s| s.as_str() == "running")
            })
            .collect())
    }

    /// An internet integration to `host:port`: refused when `host` is a running EC2
    /// instance's public name or address and none of its security groups admits
    /// [`API_GATEWAY_SOURCE`] on `port`. Any other host is not the twin's to judge.
    async fn judge_internet(&self, host: &str, port: u16) -> Result<(), Refusal> {
        let filter = if host.parse::<Ipv4Addr>().is_ok() {
            "ip-address"
        } else {
            "dns-name"
        };
        let found = self
            .instances((filter, host))
            .await
            .map_err(Refusal::failed)?;
        let Some(i) = found.first() else {
            return Ok(());
        };
        let rules = self.inbound(i).await.map_err(Refusal::failed)?;
        let source = Ipv4Net::from(API_GATEWAY_SOURCE);
        if admits(&rules, port, &source) {
            return Ok(());
        }
        Err(Refusal::timeout(format!(
            "Execution failed: endpoint request timed out: the security groups of instance {} admit no traffic from API Gateway ({API_GATEWAY_SOURCE}, standing for the region's API_GATEWAY prefixes) on port {port}",
            i.instance_id().unwrap_or("?")
        )))
    }

    /// A VPC link integration to `port` (the URI's): the instance and port it reaches, or
    /// why it reaches none.
    async fn judge_vpc_link(&self, link_id: &str, port: u16) -> Result<Target, Refusal> {
        let link = self
            .apigateway
            .get_vpc_link()
            .vpc_link_id(link_id)
            .send()
            .await
            .map_err(read_failed(format!("VPC link {link_id}")))?;
        let status = link.status().map(|s| s.as_str()).unwrap_or("unknown");
        if status != "AVAILABLE" {
            return Err(Refusal::failed(format!(
                "VPC link {link_id} is {status}, not AVAILABLE"
            )));
        }
        let Some(lb_arn) = link.target_arns().first() else {
            return Err(Refusal::failed(format!("VPC link {link_id} has no target")));
        };
        let lbs = self
            .elb
            .describe_load_balancers()
            .load_balancer_arns(lb_arn)
            .send()
            .await
            .map_err(read_failed(format!(
                "the VPC link's load balancer {lb_arn}"
            )))?;
        let Some(lb) = lbs.load_balancers().first() else {
            return Err(Refusal::failed(format!(
                "the VPC link's load balancer {lb_arn} does not exist"
            )));
        };
        if !matches!(
            lb.state().and_then(|s| s.code()),
            Some(LoadBalancerStateEnum::Active | LoadBalancerStateEnum::ActiveImpaired)
        ) {
            return Err(Refusal::timeout(format!(
                "load balancer {lb_arn} is not active"
            )));
        }
        let listeners = self
            .elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .map_err(read_failed("DescribeListeners".into()))?;
        let Some(tg) = listeners
            .listeners()
            .iter()
            .find(|l| l.port() == Some(port as i32))
            .and_then(|l| {
                l.default_actions()
                    .iter()
                    .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
                    .and_then(|a| a.target_group_arn())
            })
        else {
            return Err(Refusal::timeout(format!(
                "Execution failed: endpoint request timed out: load balancer {} has no listener forwarding port {port}",
                lb.load_balancer_name().unwrap_or(lb_arn)
            )));
        };
        // The load balancer's own addresses: one in each of its subnets.
        let subnet_ids: Vec<String> = lb
            .availability_zones()
            .iter()
            .filter_map(|z| z.subnet_id().map(str::to_string))
            .collect();
        let subnets = self
            .ec2
            .describe_subnets()
            .set_subnet_ids(Some(subnet_ids))
            .send()
            .await
            .map_err(read_failed("DescribeSubnets".into()))?;
        let from: Vec<Ipv4Net> = subnets
            .subnets()
            .iter()
            .filter_map(|s| s.cidr_block()?.parse().ok())
            .collect();
        let health = self
            .elb
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
            .map_err(read_failed("DescribeTargetHealth".into()))?;
        let mut why = Vec::new();
        for d in health.target_health_descriptions() {
            let Some((t, id)) = d.target().and_then(|t| Some((t, t.id()?))) else {
                continue;
            };
            let target_port = t.port().map_or(port, |p| p as u16);
            let found = self
                .instances(("instance-id", id))
                .await
                .map_err(Refusal::failed)?;
            let Some(i) = found.first() else {
                why.push(format!("target {id} is not a running instance"));
                continue;
            };
            let rules = self.inbound(i).await.map_err(Refusal::failed)?;
            if from.iter().all(|net| admits(&rules, target_port, net)) && !from.is_empty() {
                return Ok(Target {
                    instance_id: id.to_string(),
                    names: names(i),
                    port: target_port,
                });
            }
            why.push(format!(
                "the security groups of target {} admit no traffic from the load balancer's subnets ({}) on port {target_port}",
                id,
                from.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }
        if why.is_empty() {
            why.push(format!("target group {tg} has no registered target"));
        }
        Err(Refusal::timeout(format!(
            "Execution failed: endpoint request timed out: {}",
            why.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::IpRange;

    fn rule(proto: &str, from: i32, to: i32, cidr: &str) -> IpPermission {
        IpPermission::builder()
            .ip_protocol(proto)
            .from_port(from)
            .to_port(to)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    }

    #[test]
    fn a_rule_admits_its_port_range_from_addresses_its_cidr_contains() {
        let vpc: Ipv4Net = "10.0.10.0/24".parse().unwrap();
        let gw = Ipv4Net::from(API_GATEWAY_SOURCE);
        assert!(admits(
            &[rule("tcp", 8082, 8082, "10.0.0.0/16")],
            8082,
            &vpc
        ));
        assert!(!admits(
            &[rule("tcp", 8082, 8082, "10.0.0.0/16")],
            8082,
            &gw
        ));
        assert!(!admits(&[rule("tcp", 22, 22, "10.0.0.0/16")], 8082, &vpc));
        assert!(admits(&[rule("tcp", 8000, 9000, "0.0.0.0/0")], 8082, &gw));
        assert!(admits(&[rule("-1", 0, 0, "10.0.10.0/24")], 8082, &vpc));
        assert!(!admits(&[rule("udp", 8082, 8082, "0.0.0.0/0")], 8082, &vpc));
        // A narrower rule does not admit a whole subnet.
        assert!(!admits(
            &[rule("tcp", 8082, 8082, "10.0.10.5/32")],
            8082,
            &vpc
        ));
        assert!(!admits(
            &[rule("tcp", 8082, 8082, "127.0.0.1/32")],
            8082,
            &gw
        ));
    }
}
