//! `up` and `down` ride out the faults AWS's APIs answer some share of calls with (issue 16,
//! item 2), with no setting changed: 30 % of the emulator's calls throttled or failed before
//! they run, and 30 % of moto's answered with a throttle or, after the call ran, lost (a 502),
//! which the SDK may not repeat for a creating call without a client token
//! (`src/clients/retry.rs`) and the engine resolves by looking before it creates again.
//! One `up` converges without a duplicate; one `down` leaves nothing.

use crate::util::{Emulator, Moto, Project};

/// The moto-served part of the pipeline (network, IAM, S3, Kinesis, API Gateway with request
/// validation); the emulator-served part is the MSK / MSK Connect / MWAA stack of
/// `msk_connect_mwaa`.
const MOTO_PART: &str = r#"
  vpc:
    type: ec2.vpc
    props: {cidr: 10.0.0.0/16, tags: {Name: f-vpc}}
  public_1:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.0.0.0/24, availability_zone_id: use1-az1, tags: {Name: f-public-1}}
  public_2:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.0.1.0/24, availability_zone_id: use1-az2, tags: {Name: f-public-2}}
  igw:
    type: ec2.internet_gateway
    props: {vpc_id: "${vpc.id}", tags: {Name: f-igw}}
  routes:
    type: ec2.route_table
    props:
      vpc_id: ${vpc.id}
      routes: [{cidr: 0.0.0.0/0, gateway_id: "${igw.id}"}]
      subnet_ids: ["${public_1.id}", "${public_2.id}"]
      tags: {Name: f-public}
  client_sg:
    type: ec2.security_group
    props:
      name: f-client-sg
      description: client
      vpc_id: ${vpc.id}
      ingress:
        - {description: ssh, port: 22, cidr: 203.0.113.7/32}
        - {description: proxy, port: 8082, cidr: 10.0.0.0/16}
  role:
    type: iam.role
    props:
      name: f-ec2-role
      trusted_services: [ec2.amazonaws.com]
      policies:
        streams:
          - actions: [kinesis:PutRecord]
            resources: ["${stream.arn}"]
  profile:
    type: iam.instance_profile
    props: {name: f-ec2-profile, role: "${role.name}"}
  stream:
    type: kinesis.stream
    props: {name: streaming-f-pin}
  api:
    type: apigateway.rest_api
    props:
      name: f-api
      models:
        Rec: {schema: {type: object, required: [Data]}}
      request_validators:
        body: {validate_request_body: true}
      routes:
        - path: /streams/{stream-name}/record
          method: PUT
          request_validator: body
          request_models: {application/json: Rec}
          integration:
            type: AWS
            http_method: POST
            uri: arn:aws:apigateway:us-east-1:kinesis:action/PutRecord
            credentials: ${role.arn}
  deployment:
    type: apigateway.deployment
    props:
      rest_api_id: ${api.id}
      triggers: {definition: "${api.definition_hash}"}
  stage:
    type: apigateway.stage
    props: {rest_api_id: "${api.id}", name: dev, deployment_id: "${deployment.id}"}
"#;

const RATE: f64 = 0.3;

/// Sets the share of moto's calls that fail (`scripts/moto/pinctl_moto_fidelity.py`).
async fn moto_faults(moto: &Moto, rate: f64) {
    let r = reqwest::Client::new()
        .post(format!("{}/moto-api/pinctl/faults", moto.endpoint))
        .json(&serde_json::json!({ "rate": rate }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Everything the stack names, as the test finds it through the SDK with faults off:
/// (what, how many).
async fn census(moto: &Moto) -> Vec<(&'static str, usize)> {
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let tagged = aws_sdk_ec2::types::Filter::builder()
        .name("tag:pinctl:stack")
        .values("faults")
        .build();
    let vpcs = ec2
        .describe_vpcs()
        .filters(tagged.clone())
        .send()
        .await
        .unwrap();
    let subnets = ec2
        .describe_subnets()
        .filters(tagged.clone())
        .send()
        .await
        .unwrap();
    let igws = ec2
        .describe_internet_gateways()
        .filters(tagged.clone())
        .send()
        .await
        .unwrap();
    let tables = ec2
        .describe_route_tables()
        .filters(tagged.clone())
        .send()
        .await
        .unwrap();
    let sgs = ec2
        .describe_security_groups()
        .filters(tagged)
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&config);
    let roles = iam.list_roles().send().await.unwrap();
    let profiles = iam.list_instance_profiles().send().await.unwrap();
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let streams = kinesis.list_streams().send().await.unwrap();
    let gw = aws_sdk_apigateway::Client::new(&config);
    let apis = gw.get_rest_apis().send().await.unwrap();
    let s3 = moto.s3().await;
    let buckets = s3.list_buckets().send().await.unwrap();
    vec![
        ("VPC", vpcs.vpcs().len()),
        ("subnet", subnets.subnets().len()),
        ("internet gateway", igws.internet_gateways().len()),
        ("route table", tables.route_tables().len()),
        ("security group", sgs.security_groups().len()),
        (
            "role",
            roles
                .roles()
                .iter()
                .filter(|r| r.role_name() == "f-ec2-role")
                .count(),
        ),
        ("instance profile", profiles.instance_profiles().len()),
        ("stream", streams.stream_names().len()),
        (
            "REST API",
            apis.items()
                .iter()
                .filter(|a| a.name() == Some("f-api"))
                .count(),
        ),
        (
            "bucket",
            buckets
                .buckets()
                .iter()
                .filter(|b| b.name() == Some("abc-artifacts"))
                .count(),
        ),
    ]
}

/// The emulator's resources, through the SDK: (what, how many).
async fn emulated(emu: &Emulator) -> Vec<(&'static str, usize)> {
    let config = emu.config(3).await;
    let kafka = aws_sdk_kafka::Client::new(&config);
    let connect = aws_sdk_kafkaconnect::Client::new(&config);
    let mwaa = emu.mwaa().await;
    vec![
        (
            "cluster",
            kafka
                .list_clusters_v2()
                .send()
                .await
                .unwrap()
                .cluster_info_list()
                .len(),
        ),
        (
            "configuration",
            kafka
                .list_configurations()
                .send()
                .await
                .unwrap()
                .configurations()
                .len(),
        ),
        (
            "custom plugin",
            connect
                .list_custom_plugins()
                .send()
                .await
                .unwrap()
                .custom_plugins()
                .len(),
        ),
        (
            "worker configuration",
            connect
                .list_worker_configurations()
                .send()
                .await
                .unwrap()
                .worker_configurations()
                .len(),
        ),
        (
            "connector",
            connect
                .list_connectors()
                .send()
                .await
                .unwrap()
                .connectors()
                .len(),
        ),
        (
            "environment",
            mwaa.list_environments()
                .send()
                .await
                .unwrap()
                .environments()
                .len(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn one_up_and_one_down_ride_out_faults_with_the_defaults() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("emulator.json");
    let faulty = Emulator::start_full("100ms", Some(&saved), RATE, None, None, &[]);
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(faulty.env());
    crate::util::copy_repo_dirs(p.path(), &["plugins", "templates"]);
    let stack = crate::msk_connect_mwaa::STACK.replace("stack: kafka", "stack: faults") + MOTO_PART;
    p.stack(&stack);

    moto_faults(&moto, RATE).await;
    let up = p.run(&["up", "--yes"]);
    moto_faults(&moto, 0.0).await;
    up.expect(0);
    // Counted with every fault off: the emulator again from its saved state, without faults.
    drop(faulty);
    let emu = Emulator::start_full("100ms", Some(&saved), 0.0, None, None, &[]);
    let mut counts = census(&moto).await;
    counts.extend(emulated(&emu).await);
    let expected = [
        ("VPC", 1),
        ("subnet", 2),
        ("internet gateway", 1),
        ("route table", 1),
        ("security group", 1),
        ("role", 1),
        ("instance profile", 1),
        ("stream", 1),
        ("REST API", 1),
        ("bucket", 1),
        ("cluster", 1),
        ("configuration", 1),
        ("custom plugin", 1),
        ("worker configuration", 1),
        ("connector", 1),
        ("environment", 1),
    ];
    assert_eq!(
        counts, expected,
        "one of each, no duplicate:\n{}",
        up.stderr
    );
    p.env = moto.env();
    p.env.extend(emu.env());
    p.run(&["plan"]).expect(0);
    // The look-alike lookups ride out the same faults, and find nothing the state lacks.
    let unmanaged = p.run(&["diff", "--unmanaged", "--json"]);
    unmanaged.expect(0);
    assert_eq!(
        unmanaged.drift().unmanaged.map(|u| u.len()),
        Some(0),
        "{}",
        unmanaged.stdout
    );
    drop(emu);

    let faulty = Emulator::start_full("100ms", Some(&saved), RATE, None, None, &[]);
    p.env = moto.env();
    p.env.extend(faulty.env());
    moto_faults(&moto, RATE).await;
    let down = p.run(&["down", "--yes"]);
    moto_faults(&moto, 0.0).await;
    down.expect(0);
    drop(faulty);
    let emu = Emulator::start_full("100ms", Some(&saved), 0.0, None, None, &[]);
    let mut counts = census(&moto).await;
    counts.extend(emulated(&emu).await);
    let left: Vec<_> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(left.is_empty(), "down left {left:?}:\n{}", down.stderr);
}
