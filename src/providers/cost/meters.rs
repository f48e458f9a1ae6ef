//! What each kind is billed for: its meters (a Price List product and a quantity), read from a
//! resource's props. Only what runs by the hour whatever the traffic is counted; what is billed
//! by use (data, requests, storage that grows) is listed with its rate, never guessed.
//!
//! The meters and what AWS bills them by are those of AWS's pricing pages (linked on each
//! [`Meter`]); the kinds not named here (IAM, security groups, subnets, route tables, the VPC,
//! topics, plugins, worker configurations, API stages and deployments, VPC links, S3 objects)
//! cost nothing by themselves.

use serde_json::Value;

use crate::stack::resolve::is_unknown;

/// Hours in a month, as AWS's pricing pages and the AWS Pricing Calculator count them
/// (365 × 24 / 12 = 730).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// One thing AWS bills, in one region: a product of the Price List API and the unit its rate is
/// per. Each has an id, the key of the shipped table ([`super::table`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Meter {
    /// An MSK provisioned broker, per broker-hour (<https://aws.amazon.com/msk/pricing/>).
    MskBroker { instance_type: String },
    /// MSK broker storage, per GB-month.
    MskStorage,
    /// An MSK Connect worker's capacity, per MCU-hour.
    MskConnectMcu,
    /// An MWAA environment of a class (scheduler, web server and one worker included), per
    /// hour (<https://aws.amazon.com/managed-workflows-for-apache-airflow/pricing/>).
    MwaaEnvironment { class: String },
    /// An MWAA worker beyond the included one, per hour.
    MwaaWorker { class: String },
    /// MWAA's metadata database storage, per GB-month.
    MwaaMetaDatabase,
    /// An EC2 instance, Linux, shared tenancy, On-Demand, per hour
    /// (<https://aws.amazon.com/ec2/pricing/on-demand/>).
    Ec2Instance { instance_type: String },
    /// An EBS volume of a type (`gp3`, `gp2`), per GB-month (<https://aws.amazon.com/ebs/pricing/>).
    EbsVolume { volume_type: String },
    /// A public IPv4 address in use, per hour (charged since 2024-02-01:
    /// <https://aws.amazon.com/vpc/pricing/>).
    PublicIpv4,
    /// A NAT gateway, per hour.
    NatGateway,
    /// Data a NAT gateway processes, per GB.
    NatGatewayData,
    /// A Kinesis data stream in on-demand mode, per stream-hour
    /// (<https://aws.amazon.com/kinesis/data-streams/pricing/>).
    KinesisOnDemandStream,
    /// Data written to an on-demand stream, per GB.
    KinesisOnDemandIngest,
    /// A shard of a provisioned stream, per shard-hour.
    KinesisShard,
    /// A Network Load Balancer, per hour (<https://aws.amazon.com/elasticloadbalancing/pricing/>).
    NetworkLoadBalancer,
    /// A Network Load Balancer's capacity units, per NLCU-hour.
    NetworkLoadBalancerCapacity,
    /// REST API calls, per million (the first tier) (<https://aws.amazon.com/api-gateway/pricing/>).
    ApiGatewayRequests,
    /// S3 Standard storage, per GB-month (the first tier) (<https://aws.amazon.com/s3/pricing/>).
    S3Storage,
}

impl Meter {
    /// The meter's id: the key of its row in the shipped table, and what `plan --json` names.
    pub fn id(&self) -> String {
        match self {
            Meter::MskBroker { instance_type } => format!("msk.broker/{instance_type}"),
            Meter::MskStorage => "msk.storage".into(),
            Meter::MskConnectMcu => "mskconnect.mcu".into(),
            Meter::MwaaEnvironment { class } => format!("mwaa.environment/{class}"),
            Meter::MwaaWorker { class } => format!("mwaa.worker/{class}"),
            Meter::MwaaMetaDatabase => "mwaa.meta_database".into(),
            Meter::Ec2Instance { instance_type } => format!("ec2.instance/{instance_type}"),
            Meter::EbsVolume { volume_type } => format!("ebs.volume/{volume_type}"),
            Meter::PublicIpv4 => "vpc.public_ipv4".into(),
            Meter::NatGateway => "ec2.nat_gateway".into(),
            Meter::NatGatewayData => "ec2.nat_gateway.data".into(),
            Meter::KinesisOnDemandStream => "kinesis.on_demand.stream".into(),
            Meter::KinesisOnDemandIngest => "kinesis.on_demand.ingest".into(),
            Meter::KinesisShard => "kinesis.shard".into(),
            Meter::NetworkLoadBalancer => "elb.network".into(),
            Meter::NetworkLoadBalancerCapacity => "elb.network.nlcu".into(),
            Meter::ApiGatewayRequests => "apigateway.rest.requests".into(),
            Meter::S3Storage => "s3.standard.storage".into(),
        }
    }

    /// The meter of an id [`Meter::id`] gave (a key of the shipped table); `None` for an
    /// unknown one.
    pub fn parse(id: &str) -> Option<Meter> {
        let (head, arg) = id.split_once('/').unwrap_or((id, ""));
        let arg = arg.to_string();
        let with_arg = !arg.is_empty();
        Some(match head {
            "msk.broker" if with_arg => Meter::MskBroker { instance_type: arg },
            "mwaa.environment" if with_arg => Meter::MwaaEnvironment { class: arg },
            "mwaa.worker" if with_arg => Meter::MwaaWorker { class: arg },
            "ec2.instance" if with_arg => Meter::Ec2Instance { instance_type: arg },
            "ebs.volume" if with_arg => Meter::EbsVolume { volume_type: arg },
            _ if with_arg => return None,
            "msk.storage" => Meter::MskStorage,
            "mskconnect.mcu" => Meter::MskConnectMcu,
            "mwaa.meta_database" => Meter::MwaaMetaDatabase,
            "vpc.public_ipv4" => Meter::PublicIpv4,
            "ec2.nat_gateway" => Meter::NatGateway,
            "ec2.nat_gateway.data" => Meter::NatGatewayData,
            "kinesis.on_demand.stream" => Meter::KinesisOnDemandStream,
            "kinesis.on_demand.ingest" => Meter::KinesisOnDemandIngest,
            "kinesis.shard" => Meter::KinesisShard,
            "elb.network" => Meter::NetworkLoadBalancer,
            "elb.network.nlcu" => Meter::NetworkLoadBalancerCapacity,
            "apigateway.rest.requests" => Meter::ApiGatewayRequests,
            "s3.standard.storage" => Meter::S3Storage,
            _ => return None,
        })
    }

    /// The unit of the meter's rate, as a person reads it.
    pub fn unit(&self) -> Unit {
        match self {
            Meter::MskBroker { .. } => Unit::Hour("broker-hour"),
            Meter::MskConnectMcu => Unit::Hour("MCU-hour"),
            Meter::MwaaEnvironment { .. } => Unit::Hour("environment-hour"),
            Meter::MwaaWorker { .. } => Unit::Hour("worker-hour"),
            Meter::Ec2Instance { .. } => Unit::Hour("instance-hour"),
            Meter::PublicIpv4 => Unit::Hour("address-hour"),
            Meter::NatGateway => Unit::Hour("gateway-hour"),
            Meter::KinesisOnDemandStream => Unit::Hour("stream-hour"),
            Meter::KinesisShard => Unit::Hour("shard-hour"),
            Meter::NetworkLoadBalancer => Unit::Hour("load-balancer-hour"),
            Meter::NetworkLoadBalancerCapacity => Unit::Hour("NLCU-hour"),
            Meter::MskStorage
            | Meter::MwaaMetaDatabase
            | Meter::EbsVolume { .. }
            | Meter::S3Storage => Unit::GbMonth,
            Meter::NatGatewayData | Meter::KinesisOnDemandIngest => Unit::Gb,
            Meter::ApiGatewayRequests => Unit::MillionRequests,
        }
    }

    /// The Price List API's query for the meter in `region`: the service code and the
    /// `TERM_MATCH` filters that select its one On-Demand product, and the kind of unit its
    /// price dimension must have. Attribute names and values are those of AWS's price-list
    /// documents (recorded GetProducts answers and infracost's resources,
    /// <https://github.com/infracost/infracost/tree/master/internal/resources/aws>): products
    /// are pinned by their exact `usagetype`, since look-alikes share every other attribute
    /// (regional NAT gateways, Express and KRaft brokers, idle public addresses, gp3's IOPS).
    /// MWAA's and public IPv4's products have no `productFamily`.
    pub fn product(&self, region: &str) -> Product {
        let f = |k: &'static str, v: &str| (k, v.to_string());
        // EC2's family, ELB, S3 and Kinesis have no prefix in us-east-1; newer services do.
        let legacy = |what: &str| usage_type(region, what, true);
        let newer = |what: &str| usage_type(region, what, false);
        let msk_family = "Managed Streaming for Apache Kafka (MSK)";
        let (service_code, mut filters): (&str, Vec<(&str, String)>) = match self {
            Meter::MskBroker { instance_type } => {
                let size = instance_type
                    .strip_prefix("kafka.")
                    .unwrap_or(instance_type);
                (
                    "AmazonMSK",
                    vec![
                        f("productFamily", msk_family),
                        f("usagetype", &newer(&format!("Kafka.{size}"))),
                    ],
                )
            }
            Meter::MskStorage => (
                "AmazonMSK",
                vec![
                    f("productFamily", msk_family),
                    f("usagetype", &newer("Kafka.Storage.GP2")),
                ],
            ),
            Meter::MskConnectMcu => (
                "AmazonMSK",
                vec![f("usagetype", &newer("Kafka.mcu.general"))],
            ),
            Meter::MwaaEnvironment { class } => (
                "AmazonMWAA",
                vec![f("type", "Environment"), f("size", &mwaa_size(class))],
            ),
            Meter::MwaaWorker { class } => (
                "AmazonMWAA",
                vec![f("type", "Worker"), f("size", &mwaa_size(class))],
            ),
            Meter::MwaaMetaDatabase => (
                "AmazonMWAA",
                vec![f("usagetype", &newer("Airflow-StandardDatabaseStorage"))],
            ),
            Meter::Ec2Instance { instance_type } => (
                "AmazonEC2",
                vec![
                    f("instanceType", instance_type),
                    f("usagetype", &legacy(&format!("BoxUsage:{instance_type}"))),
                    f("operatingSystem", "Linux"),
                    f("tenancy", "Shared"),
                    f("preInstalledSw", "NA"),
                    f("capacitystatus", "Used"),
                    f("licenseModel", "No License required"),
                ],
            ),
            Meter::EbsVolume { volume_type } => (
                "AmazonEC2",
                vec![
                    f("productFamily", "Storage"),
                    f("volumeApiName", volume_type),
                    f(
                        "usagetype",
                        &legacy(&format!("EBS:VolumeUsage.{volume_type}")),
                    ),
                ],
            ),
            Meter::PublicIpv4 => (
                "AmazonVPC",
                vec![
                    f("group", "VPCPublicIPv4Address"),
                    f("usagetype", &newer("PublicIPv4:InUseAddress")),
                ],
            ),
            Meter::NatGateway => (
                "AmazonEC2",
                vec![
                    f("productFamily", "NAT Gateway"),
                    f("usagetype", &legacy("NatGateway-Hours")),
                ],
            ),
            Meter::NatGatewayData => (
                "AmazonEC2",
                vec![
                    f("productFamily", "NAT Gateway"),
                    f("usagetype", &legacy("NatGateway-Bytes")),
                ],
            ),
            Meter::KinesisOnDemandStream => (
                "AmazonKinesis",
                vec![
                    f("usagetype", &legacy("OnDemand-StreamHour")),
                    f("operation", "OnDemandStreamHr"),
                ],
            ),
            Meter::KinesisOnDemandIngest => (
                "AmazonKinesis",
                vec![
                    f("usagetype", &legacy("OnDemand-BilledIncomingBytes")),
                    f("operation", "OnDemandDataIngested"),
                ],
            ),
            Meter::KinesisShard => (
                "AmazonKinesis",
                vec![
                    f("usagetype", &legacy("Storage-ShardHour")),
                    f("operation", "shardHourStorage"),
                ],
            ),
            Meter::NetworkLoadBalancer => (
                "AWSELB",
                vec![
                    f("productFamily", "Load Balancer-Network"),
                    f("usagetype", &legacy("LoadBalancerUsage")),
                ],
            ),
            Meter::NetworkLoadBalancerCapacity => (
                "AWSELB",
                vec![
                    f("productFamily", "Load Balancer-Network"),
                    f("usagetype", &legacy("LCUUsage")),
                ],
            ),
            Meter::ApiGatewayRequests => (
                "AmazonApiGateway",
                vec![
                    f("productFamily", "API Calls"),
                    f("usagetype", &newer("ApiGatewayRequest")),
                ],
            ),
            Meter::S3Storage => (
                "AmazonS3",
                vec![
                    f("productFamily", "Storage"),
                    f("volumeType", "Standard"),
                    f("usagetype", &legacy("TimedStorage-ByteHrs")),
                ],
            ),
        };
        filters.push(f("regionCode", region));
        Product {
            service_code: service_code.to_string(),
            filters,
            unit: self.unit(),
        }
    }
}

/// A Price List query: the service, its `TERM_MATCH` filters, and the unit its price
/// dimension must be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub service_code: String,
    pub filters: Vec<(&'static str, String)>,
    pub unit: Unit,
}

/// The usage type of `what` in `region`: the region's billing code in front
/// (`EUW2-NatGateway-Hours`, `USE1-Kafka.t3.small`), except in us-east-1 for the services
/// whose usage types predate the codes (EC2, EBS, NAT gateways, ELB, S3, Kinesis:
/// `NatGateway-Hours`), as AWS's price lists and Cost and Usage Reports name them.
/// Errors never: an unknown region gets no code, and its query finds nothing (the table is
/// then asked).
fn usage_type(region: &str, what: &str, legacy: bool) -> String {
    match billing_prefix(region) {
        Some("USE1") if legacy => what.to_string(),
        Some(p) => format!("{p}-{what}"),
        None => what.to_string(),
    }
}

/// The billing code of a region's usage types.
fn billing_prefix(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "USE1",
        "us-east-2" => "USE2",
        "us-west-1" => "USW1",
        "us-west-2" => "USW2",
        "ca-central-1" => "CAN1",
        "eu-west-1" => "EU",
        "eu-west-2" => "EUW2",
        "eu-west-3" => "EUW3",
        "eu-central-1" => "EUC1",
        "eu-north-1" => "EUN1",
        "eu-south-1" => "EUS1",
        "ap-south-1" => "APS3",
        "ap-northeast-1" => "APN1",
        "ap-northeast-2" => "APN2",
        "ap-northeast-3" => "APN3",
        "ap-southeast-1" => "APS1",
        "ap-southeast-2" => "APS2",
        "sa-east-1" => "SAE1",
        _ => return None,
    })
}

/// MWAA's price list names a class by its size: `mw1.small` is `Small`.
fn mwaa_size(class: &str) -> String {
    let size = class.strip_prefix("mw1.").unwrap_or(class);
    let mut c = size.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What a meter's rate is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Per hour of something that runs (`broker-hour`).
    Hour(&'static str),
    /// Per GB stored for a month.
    GbMonth,
    /// Per GB moved.
    Gb,
    /// Per million requests.
    MillionRequests,
}

impl Unit {
    pub fn label(&self) -> &'static str {
        match self {
            Unit::Hour(what) => what,
            Unit::GbMonth => "GB-month",
            Unit::Gb => "GB",
            Unit::MillionRequests => "million requests",
        }
    }

    /// Whether a price dimension's unit as AWS writes it is this unit: the spelling varies by
    /// service (`Hrs`, `hours`, `LCU-Hrs`, `StreamHr`, `GB-Mo`, `GB-month`, `Requests`), so
    /// its kind is compared, not its text.
    pub fn accepts(&self, aws_unit: &str) -> bool {
        let u = aws_unit.to_ascii_lowercase();
        match self {
            Unit::Hour(_) => u.contains("hr") || u.contains("hour"),
            Unit::GbMonth => u.starts_with("gb-mo"),
            Unit::Gb => u == "gb",
            Unit::MillionRequests => u.starts_with("request"),
        }
    }

    /// What one unit of the Price List's dimension is worth in this unit: API Gateway's
    /// dimension is one request, the table and the plan give a million.
    pub fn per_price_list_unit(&self) -> f64 {
        match self {
            Unit::MillionRequests => 1_000_000.0,
            _ => 1.0,
        }
    }
}

/// How much of a meter a resource uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    /// Always on: this many units every hour (`2` broker-hours an hour for two brokers) or, for
    /// storage, this many GB held all month.
    Fixed(f64),
    /// Billed by use: the rate is listed, the amount is not guessed.
    ByUse,
}

/// One of a resource's charges: a meter, how much of it, and what it is in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub meter: Meter,
    pub quantity: Quantity,
    /// What is billed, e.g. `2 brokers kafka.t3.small` or `data processed`.
    pub what: String,
}

impl Charge {
    fn fixed(meter: Meter, quantity: f64, what: String) -> Self {
        Charge {
            meter,
            quantity: Quantity::Fixed(quantity),
            what,
        }
    }

    fn by_use(meter: Meter, what: &str) -> Self {
        Charge {
            meter,
            quantity: Quantity::ByUse,
            what: what.into(),
        }
    }
}

/// What a resource's charges could not be worked out from: a prop whose value is not known
/// before `up` (e.g. the class comes from another resource's output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotKnown {
    pub prop: String,
}

/// Facts about a resource's surroundings a meter needs and its own props do not say.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The instance's subnet gives it a public IPv4 address (`map_public_ip_on_launch` of the
    /// stack's subnet it names); `None` when it cannot be told.
    pub public_ipv4: Option<bool>,
}

fn known_str<'a>(props: &'a Value, key: &str) -> Result<&'a str, NotKnown> {
    props
        .get(key)
        .filter(|v| !is_unknown(v))
        .and_then(Value::as_str)
        .ok_or(NotKnown { prop: key.into() })
}

fn known_num(props: &Value, pointer: &str) -> Result<f64, NotKnown> {
    props
        .pointer(pointer)
        .filter(|v| !is_unknown(v))
        .and_then(Value::as_f64)
        .ok_or(NotKnown {
            prop: pointer.trim_start_matches('/').replace('/', "."),
        })
}

fn plural(n: f64, one: &str, many: &str) -> String {
    if n == 1.0 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The charges of a resource of `kind` with `props` (resolved, or as recorded); empty for a
/// kind that costs nothing by itself.
///
/// MWAA: an environment's class includes its schedulers, its web server and one worker; MWAA
/// starts with `MinWorkers` 1 (the API's default, which the kind leaves to MWAA), so workers up
/// to `max_workers` are billed by use. MSK Connect: a provisioned connector is billed
/// `mcu_count × worker_count` MCU-hours. An instance's root volume is counted when
/// `root_volume_gib` gives its size (else the AMI sets it, and it is listed by use).
///
/// Errors: the prop a charge needs is not known before `up`.
pub fn charges(kind: &str, props: &Value, cx: &Context) -> Result<Vec<Charge>, NotKnown> {
    Ok(match kind {
        "msk.cluster" => {
            let instance_type = known_str(props, "broker_instance_type")?.to_string();
            let brokers = known_num(props, "/broker_count")?;
            let storage = known_num(props, "/storage_gib")?;
            vec![
                Charge::fixed(
                    Meter::MskBroker {
                        instance_type: instance_type.clone(),
                    },
                    brokers,
                    format!("{} {instance_type}", plural(brokers, "broker", "brokers")),
                ),
                // MSK bills storage per GB provisioned on each broker.
                Charge::fixed(
                    Meter::MskStorage,
                    brokers * storage,
                    format!(
                        "{} × {storage} GiB storage",
                        plural(brokers, "broker", "brokers")
                    ),
                ),
            ]
        }
        "mskconnect.connector" => {
            let mcu = known_num(props, "/capacity/mcu_count")?;
            let workers = known_num(props, "/capacity/worker_count")?;
            vec![Charge::fixed(
                Meter::MskConnectMcu,
                mcu * workers,
                format!("{} × {mcu} MCU", plural(workers, "worker", "workers")),
            )]
        }
        "mwaa.environment" => {
            let class = known_str(props, "environment_class")?.to_string();
            let mut out = vec![
                Charge::fixed(
                    Meter::MwaaEnvironment {
                        class: class.clone(),
                    },
                    1.0,
                    format!("environment {class} (schedulers, web server, 1 worker)"),
                ),
                Charge::by_use(Meter::MwaaMetaDatabase, "metadata database storage"),
            ];
            let max = props
                .get("max_workers")
                .filter(|v| !is_unknown(v))
                .and_then(Value::as_f64)
                .unwrap_or(10.0);
            if max > 1.0 {
                out.push(Charge {
                    meter: Meter::MwaaWorker { class },
                    quantity: Quantity::ByUse,
                    what: format!(
                        "up to {} while the queue needs them",
                        plural(max - 1.0, "more worker", "more workers")
                    ),
                });
            }
            out
        }
        "ec2.instance" => {
            let instance_type = known_str(props, "instance_type")?.to_string();
            let mut out = vec![Charge::fixed(
                Meter::Ec2Instance {
                    instance_type: instance_type.clone(),
                },
                1.0,
                format!("instance {instance_type}"),
            )];
            match props
                .get("root_volume_gib")
                .filter(|v| !is_unknown(v))
                .and_then(Value::as_f64)
            {
                Some(gib) => out.push(Charge::fixed(
                    Meter::EbsVolume {
                        volume_type: "gp3".into(),
                    },
                    gib,
                    format!("root volume {gib} GiB gp3"),
                )),
                None => out.push(Charge::by_use(
                    Meter::EbsVolume {
                        volume_type: "gp3".into(),
                    },
                    "root volume (its size is the AMI's)",
                )),
            }
            match cx.public_ipv4 {
                Some(true) => out.push(Charge::fixed(
                    Meter::PublicIpv4,
                    1.0,
                    "public IPv4 address".into(),
                )),
                Some(false) => {}
                None => out.push(Charge::by_use(
                    Meter::PublicIpv4,
                    "public IPv4 address, if its subnet gives one",
                )),
            }
            out
        }
        "ec2.nat_gateway" => vec![
            Charge::fixed(Meter::NatGateway, 1.0, "NAT gateway".into()),
            // The Elastic IP the kind allocates for it.
            Charge::fixed(Meter::PublicIpv4, 1.0, "its public IPv4 address".into()),
            Charge::by_use(Meter::NatGatewayData, "data processed"),
        ],
        "kinesis.stream" => match props
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("on_demand")
        {
            "provisioned" => {
                let shards = known_num(props, "/shard_count")?;
                vec![Charge::fixed(
                    Meter::KinesisShard,
                    shards,
                    plural(shards, "shard", "shards"),
                )]
            }
            _ => vec![
                Charge::fixed(Meter::KinesisOnDemandStream, 1.0, "on-demand stream".into()),
                Charge::by_use(Meter::KinesisOnDemandIngest, "data written"),
            ],
        },
        "elbv2.load_balancer" => vec![
            Charge::fixed(
                Meter::NetworkLoadBalancer,
                1.0,
                "Network Load Balancer".into(),
            ),
            Charge::by_use(Meter::NetworkLoadBalancerCapacity, "capacity units used"),
        ],
        "apigateway.rest_api" => vec![Charge::by_use(Meter::ApiGatewayRequests, "requests")],
        "s3.bucket" => vec![Charge::by_use(Meter::S3Storage, "storage")],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cluster_is_billed_per_broker_and_per_gb_on_each_broker() {
        let c = charges(
            "msk.cluster",
            &json!({"broker_instance_type": "kafka.t3.small", "broker_count": 2, "storage_gib": 100}),
            &Context::default(),
        )
        .unwrap();
        assert_eq!(c[0].quantity, Quantity::Fixed(2.0));
        assert_eq!(c[0].meter.id(), "msk.broker/kafka.t3.small");
        assert_eq!(c[1].quantity, Quantity::Fixed(200.0));
    }

    #[test]
    fn a_prop_known_only_after_apply_is_named() {
        let e = charges(
            "msk.cluster",
            &json!({"broker_instance_type": crate::stack::resolve::UNKNOWN, "broker_count": 2, "storage_gib": 100}),
            &Context::default(),
        )
        .unwrap_err();
        assert_eq!(e.prop, "broker_instance_type");
    }

    #[test]
    fn usage_types_carry_the_region_code_except_older_services_in_us_east_1() {
        let us = Meter::NatGateway.product("us-east-1");
        assert!(us
            .filters
            .contains(&("usagetype", "NatGateway-Hours".into())));
        let eu = Meter::NatGateway.product("eu-west-2");
        assert!(eu
            .filters
            .contains(&("usagetype", "EUW2-NatGateway-Hours".into())));
        assert!(eu.filters.contains(&("regionCode", "eu-west-2".into())));
        let msk = Meter::MskBroker {
            instance_type: "kafka.t3.small".into(),
        }
        .product("us-east-1");
        assert!(msk
            .filters
            .contains(&("usagetype", "USE1-Kafka.t3.small".into())));
    }

    #[test]
    fn every_table_key_is_a_meter_whose_id_it_is() {
        for id in super::super::table::shipped().regions["us-east-1"].keys() {
            let m = Meter::parse(id).unwrap_or_else(|| panic!("unknown meter {id}"));
            assert_eq!(&m.id(), id);
        }
        assert_eq!(Meter::parse("msk.storage/x"), None);
        assert_eq!(Meter::parse("msk.broker"), None);
    }

    #[test]
    fn mwaa_classes_are_sizes_in_the_price_list() {
        assert_eq!(mwaa_size("mw1.small"), "Small");
        assert_eq!(mwaa_size("mw1.2xlarge"), "2xlarge");
    }
}
