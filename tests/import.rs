//! `pinctl import` (issue 17, item 2): a pipeline built by hand with the SDK, the way a person
//! builds it in the console (console names and `Name` tags, no pinctl tags), adopted into
//! state: every resource matched (by name, by `Name` tag, by the link to its parent), nothing
//! changed in moto or the emulator (only read calls made), then `plan` shows only the
//! differences made on purpose and `up` converges; two instances under one `Name` are refused,
//! both named.

use std::time::Duration;

use crate::util::{Emulator, Moto, Project};

const UID: &str = "0e36c8cd403d";

fn stack(vpc_tags: &str) -> String {
    format!(
        r#"
stack: handmade
resources:
  vpc:
    type: ec2.vpc
    props:
      cidr: 10.0.0.0/16
      tags: {vpc_tags}
  public:
    type: ec2.subnet
    props:
      vpc_id: ${{vpc.id}}
      cidr: 10.0.1.0/24
      availability_zone_id: use1-az1
      map_public_ip_on_launch: true
      tags: {{Name: pinterest-public}}
  client_sg:
    type: ec2.security_group
    props:
      name: {UID}-client-sg
      description: The EC2 client
      vpc_id: ${{vpc.id}}
      ingress: [{{port: 22, cidr: 203.0.113.7/32}}]
  client:
    type: ec2.instance
    props:
      ami: ami-12c6146b
      instance_type: t2.micro
      subnet_id: ${{public.id}}
      security_group_ids: ["${{client_sg.id}}"]
      tags: {{Name: {UID}-client}}
  data:
    type: s3.bucket
    props: {{name: user-{UID}-bucket}}
  role:
    type: iam.role
    props:
      name: {UID}-ec2-access-role
      trusted_services: [ec2.amazonaws.com]
  role_policy:
    type: iam.role_policy
    props:
      role: ${{role.name}}
      name: kinesis-access
      statements: [{{actions: ["kinesis:PutRecord"], resources: ["*"]}}]
  stream:
    type: kinesis.stream
    props: {{name: streaming-{UID}-pin}}
  msk:
    type: msk.cluster
    props:
      name: pinterest-msk-cluster
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
  topic:
    type: msk.topic
    props:
      cluster_arn: ${{msk.arn}}
      name: {UID}.pin
      partitions: 1
      replication_factor: 2
  api:
    type: apigateway.rest_api
    props:
      name: {UID}-api
      routes:
        - {{path: /ping, method: GET, integration: {{type: HTTP, http_method: GET, uri: 'http://example.com/ping'}}}}
  deployment:
    type: apigateway.deployment
    props: {{rest_api_id: "${{api.id}}"}}
  stage:
    type: apigateway.stage
    props:
      rest_api_id: ${{api.id}}
      name: dev
      deployment_id: ${{deployment.id}}
"#
    )
}

/// The pipeline as a person builds it by hand: console names, `Name` tags, no pinctl tags.
/// Two things differ from the stack on purpose: the VPC lacks the stack's `team` tag, and the
/// stream keeps 48 hours, not 24.
async fn build_by_hand(moto: &Moto, emu: &Emulator) -> Handmade {
    use aws_sdk_ec2::types::{
        AttributeBooleanValue, IpPermission, IpRange, ResourceType, Tag, TagSpecification,
    };
    let conf = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let named = |kind: ResourceType, name: &str| {
        TagSpecification::builder()
            .resource_type(kind)
            .tags(Tag::builder().key("Name").value(name).build())
            .build()
    };
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(named(ResourceType::Vpc, "pinterest-vpc"))
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .availability_zone_id("use1-az1")
        .tag_specifications(named(ResourceType::Subnet, "pinterest-public"))
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    ec2.modify_subnet_attribute()
        .subnet_id(&subnet)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    let sg = ec2
        .create_security_group()
        .group_name(format!("{UID}-client-sg"))
        .description("The EC2 client")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    // A new group takes a moment to be visible to EC2's other calls (the twin's moto imitates
    // it); a person at the console does not notice, a script retries.
    for attempt in 0.. {
        let r = ec2
            .authorize_security_group_ingress()
            .group_id(&sg)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(IpRange::builder().cidr_ip("203.0.113.7/32").build())
                    .build(),
            )
            .send()
            .await;
        match r {
            Ok(_) => break,
            Err(e) if attempt < 100 => {
                use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                assert_eq!(e.code(), Some("InvalidGroup.NotFound"), "{e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let instance = run_instance(&ec2, &subnet, &sg).await;

    moto.s3()
        .await
        .create_bucket()
        .bucket(format!("user-{UID}-bucket"))
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&conf);
    iam.create_role()
        .role_name(format!("{UID}-ec2-access-role"))
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name(format!("{UID}-ec2-access-role"))
        .policy_name("kinesis-access")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let kinesis = aws_sdk_kinesis::Client::new(&conf);
    kinesis
        .create_stream()
        .stream_name(format!("streaming-{UID}-pin"))
        .stream_mode_details(
            aws_sdk_kinesis::types::StreamModeDetails::builder()
                .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    kinesis
        .increase_stream_retention_period()
        .stream_name(format!("streaming-{UID}-pin"))
        .retention_period_hours(48)
        .send()
        .await
        .unwrap();

    let kafka = emu.kafka().await;
    let cluster = kafka
        .create_cluster_v2()
        .cluster_name("pinterest-msk-cluster")
        .provisioned(
            aws_sdk_kafka::types::ProvisionedRequest::builder()
                .kafka_version("3.8.x")
                .number_of_broker_nodes(2)
                .broker_node_group_info(
                    aws_sdk_kafka::types::BrokerNodeGroupInfo::builder()
                        .instance_type("kafka.t3.small")
                        .client_subnets("subnet-a")
                        .client_subnets("subnet-b")
                        .storage_info(
                            aws_sdk_kafka::types::StorageInfo::builder()
                                .ebs_storage_info(
                                    aws_sdk_kafka::types::EbsStorageInfo::builder()
                                        .volume_size(100)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                // IAM role-based authentication, as the course's cluster.
                .client_authentication(
                    aws_sdk_kafka::types::ClientAuthentication::builder()
                        .sasl(
                            aws_sdk_kafka::types::Sasl::builder()
                                .iam(aws_sdk_kafka::types::Iam::builder().enabled(true).build())
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .cluster_arn
        .unwrap();
    for _ in 0..100 {
        let c = kafka
            .describe_cluster_v2()
            .cluster_arn(&cluster)
            .send()
            .await
            .unwrap();
        if c.cluster_info().and_then(|i| i.state())
            == Some(&aws_sdk_kafka::types::ClusterState::Active)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kafka
        .create_topic()
        .cluster_arn(&cluster)
        .topic_name(format!("{UID}.pin"))
        .partition_count(1)
        .replication_factor(2)
        .send()
        .await
        .unwrap();

    let gw = aws_sdk_apigateway::Client::new(&conf);
    let api = again(|| gw.create_rest_api().name(format!("{UID}-api")).send())
        .await
        .id
        .unwrap();
    let root = again(|| gw.get_resources().rest_api_id(&api).send())
        .await
        .items()[0]
        .id()
        .unwrap()
        .to_string();
    let ping = again(|| {
        gw.create_resource()
            .rest_api_id(&api)
            .parent_id(&root)
            .path_part("ping")
            .send()
    })
    .await
    .id
    .unwrap();
    again(|| {
        gw.put_method()
            .rest_api_id(&api)
            .resource_id(&ping)
            .http_method("GET")
            .authorization_type("NONE")
            .send()
    })
    .await;
    again(|| {
        gw.put_integration()
            .rest_api_id(&api)
            .resource_id(&ping)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::Http)
            .integration_http_method("GET")
            .uri("http://example.com/ping")
            .send()
    })
    .await;
    let deployment = again(|| gw.create_deployment().rest_api_id(&api).send())
        .await
        .id
        .unwrap();
    again(|| {
        gw.create_stage()
            .rest_api_id(&api)
            .stage_name("dev")
            .deployment_id(&deployment)
            .send()
    })
    .await;
    Handmade {
        vpc,
        instance,
        cluster,
    }
}

/// Calls again while API Gateway answers that another change is under way (ConflictException,
/// TooManyRequestsException), as a script building an API does: the twin's moto imitates API
/// Gateway's serialised changes to one API.
async fn again<T, E, F, Fut>(f: F) -> T
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    for _ in 0..100 {
        match f().await {
            Ok(v) => return v,
            Err(e)
                if matches!(
                    e.code(),
                    Some("ConflictException" | "TooManyRequestsException")
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    panic!("API Gateway kept refusing")
}

struct Handmade {
    vpc: String,
    instance: String,
    cluster: String,
}

async fn run_instance(ec2: &aws_sdk_ec2::Client, subnet: &str, sg: &str) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    ec2.run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::T2Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .security_group_ids(sg)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(
                    Tag::builder()
                        .key("Name")
                        .value(format!("{UID}-client"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string()
}

/// The operations of the call log (`service operation` per line).
fn calls(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, op)| op.to_string()))
        .collect()
}

fn read_only(op: &str) -> bool {
    let name = op.rsplit(' ').next().unwrap_or(op);
    ["Describe", "List", "Get", "Head"]
        .iter()
        .any(|p| name.starts_with(p))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_built_by_hand_is_imported_then_brought_to_the_stack() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let ids = build_by_hand(&moto, &emu).await;
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    let log = p.path().join("calls.log");
    p.env
        .push(("PINCTL_CALL_LOG".into(), log.display().to_string()));
    p.stack(&stack("{Name: pinterest-vpc, team: data}"));

    // Before anything is recorded: the plan would create everything.
    let before = p.run(&["import", "--json"]);
    assert_eq!(
        before.code, 1,
        "no --yes, no terminal: refused to go on\n{}",
        before.stderr
    );
    let doc = before.json();
    let items = doc["resources"].as_array().unwrap();
    let outcome = |name: &str| {
        items
            .iter()
            .find(|i| i["resource"] == name)
            .unwrap()
            .clone()
    };
    for name in [
        "vpc",
        "public",
        "client_sg",
        "client",
        "data",
        "role",
        "role_policy",
        "stream",
        "msk",
        "topic",
        "api",
        "deployment",
        "stage",
    ] {
        assert_eq!(
            outcome(name)["outcome"],
            "matched",
            "{name}: {:#}",
            outcome(name)
        );
    }
    assert_eq!(outcome("vpc")["physical_id"], ids.vpc);
    assert_eq!(outcome("client")["physical_id"], ids.instance);
    assert_eq!(outcome("msk")["physical_id"], ids.cluster);
    assert_eq!(
        outcome("topic")["physical_id"],
        format!("{}|{UID}.pin", ids.cluster)
    );
    let ops = calls(&log);
    assert!(!ops.is_empty());
    let writes: Vec<&String> = ops.iter().filter(|o| !read_only(o)).collect();
    assert!(writes.is_empty(), "import only reads: {writes:?}");
    assert!(
        !p.state_path("handmade", "default").exists(),
        "nothing recorded without a yes"
    );

    // The plan it would lead to: only the differences made on purpose.
    let plan = &doc["plan"];
    let changing: Vec<(String, Vec<String>)> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] != "no_op")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["path"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        changing,
        vec![
            ("stream".to_string(), vec!["retention_hours".to_string()]),
            ("vpc".to_string(), vec!["tags.team".to_string()]),
        ],
        "{plan:#}"
    );

    // Confirmed: recorded, still without a write to AWS.
    std::fs::remove_file(&log).unwrap();
    let text = p.run(&["--yes", "import"]);
    text.expect(0);
    assert!(
        text.stdout.contains("= client (ec2.instance)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Imported 13 resources"),
        "{}",
        text.stdout
    );
    let writes: Vec<String> = calls(&log).into_iter().filter(|o| !read_only(o)).collect();
    assert!(writes.is_empty(), "import only reads: {writes:?}");
    let state = p.state("handmade", "default");
    assert_eq!(state["resources"].as_object().unwrap().len(), 13);
    assert_eq!(state["resources"]["client"]["physical_id"], ids.instance);

    // A second import finds everything recorded.
    let again = p.run(&["--yes", "import"]);
    again.expect(0);
    assert!(
        again.stdout.contains("13 already recorded"),
        "{}",
        again.stdout
    );

    // `plan` shows the same two differences; `up` brings them to the stack.
    let plan = p.run(&["plan", "--json", "--no-preflight", "--prices", "off"]);
    plan.expect(2);
    p.run(&["up", "--yes", "--no-preflight", "--prices", "off"])
        .expect(0);
    p.run(&["plan", "--json", "--no-preflight", "--prices", "off"])
        .expect(0);
    // And no drift: the role's inline policy is its `role_policy`'s, not the role's.
    let diff = p.run(&["diff"]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    let retention = aws_sdk_kinesis::Client::new(&moto.config().await)
        .describe_stream_summary()
        .stream_name(format!("streaming-{UID}-pin"))
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .retention_period_hours;
    assert_eq!(retention, 24);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_live_resources_matching_one_are_refused_both_named() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let ids = build_by_hand(&moto, &emu).await;
    // A second instance under the same Name: which one is the stack's cannot be told.
    let ec2 = aws_sdk_ec2::Client::new(&moto.config().await);
    let subnets = ec2.describe_subnets().send().await.unwrap();
    let subnet = subnets
        .subnets()
        .iter()
        .find(|s| s.cidr_block() == Some("10.0.1.0/24"))
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();
    let groups = ec2
        .describe_security_groups()
        .group_names(format!("{UID}-client-sg"))
        .send()
        .await
        .unwrap();
    let sg = groups.security_groups()[0].group_id().unwrap().to_string();
    let twin = run_instance(&ec2, &subnet, &sg).await;

    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    p.stack(&stack("{Name: pinterest-vpc, team: data}"));
    let r = p.run(&["--yes", "import"]);
    r.expect(1);
    assert!(
        r.stdout
            .contains("! client (ec2.instance): 2 live resources match"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&ids.instance) && r.stdout.contains(&twin),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("never guesses"), "{}", r.stderr);
    assert!(
        !p.state_path("handmade", "default").exists(),
        "nothing recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_refers_to_an_unmatched_parent_is_not_matched() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    build_by_hand(&moto, &emu).await;
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    // The stack's VPC has another Name: nothing matches it, so its subnet, group and instance
    // (which do match by their own names) must not be taken into a VPC the stack does not have.
    p.stack(&stack("{Name: another-vpc}"));
    let r = p.run(&["import", "--json"]);
    let doc = r.json();
    let outcome = |name: &str| {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["resource"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(outcome("vpc")["outcome"], "not_matched");
    for (name, parent) in [
        ("public", "vpc"),
        ("client_sg", "vpc"),
        ("client", "public"),
    ] {
        let o = outcome(name);
        assert_eq!(o["outcome"], "not_matched", "{name}: {o:#}");
        assert!(o["why"].as_str().unwrap().contains(parent), "{name}: {o:#}");
    }
    assert_eq!(outcome("stream")["outcome"], "matched");
}
