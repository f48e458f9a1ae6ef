//! The cost in `plan`, `up` and `down` (issue 17, item 1): priced from the Price List API the
//! twin serves (the emulator's recorded price-list documents), from the shipped table when the
//! API cannot be reached, and what a `down` stops paying for. Expected figures are computed
//! here from the documents themselves, product by product.

use serde_json::Value;

use crate::util::{Emulator, Moto, Project};

/// Every priced kind, with literal props; the instance is in a subnet that gives it a public
/// address.
const STACK: &str = r#"
stack: costs
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.0.0.0/16}
  public:
    type: ec2.subnet
    props:
      vpc_id: ${vpc.id}
      cidr: 10.0.0.0/24
      availability_zone_id: use1-az1
      map_public_ip_on_launch: true
  msk:
    type: msk.cluster
    props:
      name: costs-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
  sink:
    type: mskconnect.connector
    props:
      name: costs-sink
      kafka_connect_version: 2.7.1
      plugin_arn: arn:aws:kafkaconnect:us-east-1:123456789012:custom-plugin/p/1
      plugin_revision: 1
      service_execution_role_arn: arn:aws:iam::123456789012:role/connect
      bootstrap_servers: b-1.example:9098
      subnets: [subnet-a, subnet-b]
      config: "connector.class=io.confluent.connect.s3.S3SinkConnector"
      capacity: {mcu_count: 2, worker_count: 1}
  airflow:
    type: mwaa.environment
    props:
      name: costs-env
      airflow_version: 2.10.3
      environment_class: mw1.small
      execution_role_arn: arn:aws:iam::123456789012:role/mwaa
      source_bucket_arn: arn:aws:s3:::dags
      dag_s3_path: dags
      max_workers: 3
      network:
        subnet_ids: [subnet-a, subnet-b]
        security_group_ids: [sg-a]
  client:
    type: ec2.instance
    props:
      ami: ami-12c6146b
      instance_type: t3.small
      subnet_id: ${public.id}
      root_volume_gib: 20
  nat:
    type: ec2.nat_gateway
    props: {subnet_id: "${public.id}"}
  lb:
    type: elbv2.load_balancer
    props: {name: costs-lb, scheme: internal, subnets: ["${public.id}"]}
  on_demand:
    type: kinesis.stream
    props: {name: costs-on-demand}
  provisioned:
    type: kinesis.stream
    props: {name: costs-provisioned, mode: provisioned, shard_count: 2}
  api:
    type: apigateway.rest_api
    props:
      name: costs-api
      routes:
        - {path: /x, method: GET, integration: {type: MOCK, http_method: GET, uri: 'http://x'}}
  data:
    type: s3.bucket
    props: {name: costs-data-bucket}
"#;

/// The recorded price-list documents the emulator serves.
fn documents() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/local/emulator/price-list.json"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["products"].as_array().unwrap().clone()
}

/// The first-tier On-Demand USD rate of the one document with these attributes.
fn rate(docs: &[Value], attrs: &[(&str, &str)]) -> f64 {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            attrs
                .iter()
                .all(|(k, v)| d["product"]["attributes"][*k].as_str() == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{attrs:?} names one document");
    let dims: Vec<&Value> = found[0]["terms"]["OnDemand"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|t| t["priceDimensions"].as_object().unwrap().values())
        .collect();
    let first = dims
        .iter()
        .min_by_key(|d| {
            d["beginRange"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .unwrap();
    first["pricePerUnit"]["USD"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn ec2_box(docs: &[Value], instance_type: &str) -> f64 {
    let usage = format!("BoxUsage:{instance_type}");
    rate(
        docs,
        &[
            ("usagetype", usage.as_str()),
            ("operatingSystem", "Linux"),
            ("capacitystatus", "Used"),
        ],
    )
}

/// The stack's hourly cost, from the documents: what the plan must say.
fn expected_hourly(docs: &[Value]) -> f64 {
    let u = |t: &str| rate(docs, &[("usagetype", t)]);
    2.0 * u("USE1-Kafka.t3.small")
        + 2.0 * 100.0 * u("USE1-Kafka.Storage.GP2") / 730.0
        + 2.0 * u("USE1-Kafka.mcu.general")
        + u("USE1-Airflow-SmallEnvironment")
        + ec2_box(docs, "t3.small")
        + 20.0 * u("EBS:VolumeUsage.gp3") / 730.0
        + u("USE1-PublicIPv4:InUseAddress") * 2.0 // the instance's and the NAT gateway's
        + u("NatGateway-Hours")
        + u("LoadBalancerUsage")
        + u("OnDemand-StreamHour")
        + 2.0 * u("Storage-ShardHour")
}

fn project(moto: &Moto, emu: &Emulator) -> Project {
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    p.stack(STACK);
    p
}

#[track_caller]
fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} vs {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plans_cost_is_the_sum_of_the_price_list_documents_rates() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let p = project(&moto, &emu);
    let docs = documents();

    let r = p.run(&["plan", "--json", "--no-preflight"]);
    r.expect(2);
    let doc = r.json();
    let cost = &doc["cost"]["after"];
    assert_eq!(cost["source"], "price_list_api", "{cost:#}");
    assert_eq!(cost["region"], "us-east-1");
    assert_eq!(cost["currency"], "USD");
    assert!(cost.get("fallback_reason").is_none(), "{cost:#}");
    let hourly = cost["hourly"].as_f64().unwrap();
    close(hourly, expected_hourly(&docs), "hourly total");
    close(
        cost["monthly"].as_f64().unwrap(),
        hourly * 730.0,
        "monthly total",
    );
    // Nothing exists yet.
    assert_eq!(doc["cost"]["now"]["monthly"], 0.0);
    for r in cost["resources"].as_array().unwrap() {
        for l in r["lines"].as_array().unwrap() {
            assert_eq!(l["source"]["from"], "price_list_api", "{l:#}");
            assert!(!l["source"]["sku"].as_str().unwrap().is_empty());
        }
    }
    let priced: Vec<&str> = cost["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    for name in [
        "msk",
        "sink",
        "airflow",
        "client",
        "nat",
        "lb",
        "on_demand",
        "provisioned",
    ] {
        assert!(priced.contains(&name), "{name} priced: {priced:?}");
    }
    // What is billed by use is listed with its rate, never counted.
    let by_use: Vec<(String, String)> = cost["by_use"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["resource"].as_str().unwrap().to_string(),
                b["what"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (res, what) in [
        ("nat", "data processed"),
        ("on_demand", "data written"),
        ("api", "requests"),
        ("data", "storage"),
        ("lb", "capacity units used"),
        ("airflow", "metadata database storage"),
    ] {
        assert!(
            by_use.iter().any(|(r, w)| r == res && w == what),
            "{res}: {what} in {by_use:?}"
        );
    }
    let api = cost["by_use"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["resource"] == "api")
        .unwrap();
    close(
        api["rate"].as_f64().unwrap(),
        rate(&docs, &[("usagetype", "USE1-ApiGatewayRequest")]) * 1e6,
        "API Gateway per million",
    );
    // The extra MWAA workers (max 3: 2 beyond the included one) are by use.
    assert!(by_use
        .iter()
        .any(|(r, w)| r == "airflow" && w.contains("2 more workers")));

    // The text plan shows the same, per resource and in total.
    let text = p.run(&["plan", "--no-preflight"]);
    text.expect(2);
    assert!(
        text.stdout.contains("Cost in us-east-1 after this plan")
            && text.stdout.contains("the AWS Price List API"),
        "{}",
        text.stdout
    );
    let total_line = text
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Total"))
        .unwrap();
    assert!(
        total_line.contains(&format!("${:.2}/month", hourly * 730.0)),
        "{total_line}"
    );
    let md = p.run(&["plan", "--no-preflight", "--format", "markdown"]);
    assert!(
        md.stdout.contains(&format!(
            "#### Cost after this plan: ${:.2}/month",
            hourly * 730.0
        )),
        "{}",
        md.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_price_list_api_the_table_is_used_and_named() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let mut p = project(&moto, &emu);
    let docs = documents();
    // Nothing listens on port 1: the API cannot be reached.
    p.env.push((
        "AWS_ENDPOINT_URL_PRICING".into(),
        "http://127.0.0.1:1".into(),
    ));
    let r = p.run(&["plan", "--json", "--no-preflight"]);
    r.expect(2);
    let cost = &r.json()["cost"]["after"];
    assert_eq!(cost["source"], "table", "{cost:#}");
    let table: Value =
        serde_json::from_str(include_str!("../src/providers/cost/price-table.json")).unwrap();
    assert_eq!(cost["table_date"], table["date"]);
    assert!(
        cost["fallback_reason"]
            .as_str()
            .unwrap()
            .contains("the Price List API could not be asked"),
        "{cost:#}"
    );
    // The table holds the same list prices as the documents.
    close(
        cost["hourly"].as_f64().unwrap(),
        expected_hourly(&docs),
        "table total",
    );
    let text = p.run(&["plan", "--no-preflight"]);
    let date = table["date"].as_str().unwrap();
    assert!(
        text.stdout.contains(&format!(
            "pinctl's price table of {date} (the Price List API could not be asked"
        )),
        "{}",
        text.stdout
    );

    // `--prices table` asks nothing; `--prices off` shows no cost.
    let calls = p.path().join("calls.log");
    p.env
        .push(("PINCTL_CALL_LOG".into(), calls.display().to_string()));
    let t = p.run(&["plan", "--json", "--no-preflight", "--prices", "table"]);
    assert_eq!(t.json()["cost"]["after"]["source"], "table");
    let log = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(!log.contains("GetProducts"), "{log}");
    let off = p.run(&["plan", "--json", "--no-preflight", "--prices", "off"]);
    assert!(off.json().get("cost").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn up_shows_the_cost_and_down_says_what_stops_being_billed() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    p.stack(
        r#"
stack: streams
resources:
  a:
    type: kinesis.stream
    props: {name: costs-a}
  b:
    type: kinesis.stream
    props: {name: costs-b}
"#,
    );
    let docs = documents();
    let stream_hour = rate(&docs, &[("usagetype", "OnDemand-StreamHour")]);
    let up = p.run(&["up", "--yes"]);
    up.expect(0);
    assert!(
        up.stdout
            .contains(&format!("${:.2}/month", 2.0 * stream_hour * 730.0)),
        "{}",
        up.stdout
    );
    // A change that removes one stream saves its stream-hours.
    p.stack(
        r#"
stack: streams
resources:
  a:
    type: kinesis.stream
    props: {name: costs-a}
"#,
    );
    let plan = p.run(&["plan", "--json"]);
    plan.expect(2);
    let doc = plan.json();
    close(
        doc["cost"]["now"]["hourly"].as_f64().unwrap(),
        2.0 * stream_hour,
        "now",
    );
    close(
        doc["cost"]["after"]["hourly"].as_f64().unwrap(),
        stream_hour,
        "after",
    );
    let text = p.run(&["plan"]);
    assert!(
        text.stdout.contains(&format!(
            "this plan saves ${:.2}/month",
            stream_hour * 730.0
        )),
        "{}",
        text.stdout
    );
    let destroy = p.run(&["plan", "--destroy", "--json"]);
    // A destroy deletes what is recorded: both streams.
    close(
        destroy.json()["billing_stops"]["hourly"].as_f64().unwrap(),
        2.0 * stream_hour,
        "billing stops",
    );
    let down = p.run(&["down", "--yes"]);
    down.expect(0);
    let stops = down
        .stdout
        .lines()
        .filter(|l| l.starts_with("Stops being billed"))
        .collect::<Vec<_>>();
    assert_eq!(
        stops.len(),
        2,
        "before the question and after the deletion: {}",
        down.stdout
    );
    assert!(
        stops[1].contains(&format!("${:.2}/month", 2.0 * stream_hour * 730.0)),
        "{}",
        stops[1]
    );
}
