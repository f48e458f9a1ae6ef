//! The emulator's network rules (`src/local/emulator/network.rs`), read from moto server: each
//! rule provoked through the official SDKs, with AWS's error code and message; and a stack on
//! the default VPC (the pipeline stack's old shape) failing `up` at MWAA with MWAA's reason.

use std::time::Duration;

use aws_sdk_ec2::types::{AttributeBooleanValue, VpcEndpointType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::util::{eventually, wait_for, Emulator, Moto, Project, SETTLE};

/// A VPC in moto with, in two AZ ids each, a public subnet (route to an internet gateway), a
/// private subnet routed to a NAT gateway and a private subnet with no way out.
struct Net {
    public: [String; 2],
    nat: [String; 2],
    closed: [String; 2],
    closed_table: String,
    vpc: String,
    /// A subnet in `use1-az3`, which MSK refuses.
    az3: String,
    /// Another subnet in the first AZ (`use1-az1`).
    same_az: String,
}

async fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&moto.config().await)
}

async fn subnet(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str, az_id: &str) -> String {
    ec2.create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone_id(az_id)
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string()
}

async fn table(ec2: &aws_sdk_ec2::Client, vpc: &str, subnets: &[&str]) -> String {
    let t = ec2
        .create_route_table()
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    for s in subnets {
        ec2.associate_route_table()
            .route_table_id(&t)
            .subnet_id(*s)
            .send()
            .await
            .unwrap();
    }
    t
}

async fn network(moto: &Moto) -> Net {
    let ec2 = ec2(moto).await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let public = [
        subnet(&ec2, &vpc, "10.1.0.0/24", "use1-az1").await,
        subnet(&ec2, &vpc, "10.1.1.0/24", "use1-az2").await,
    ];
    let nat = [
        subnet(&ec2, &vpc, "10.1.10.0/24", "use1-az1").await,
        subnet(&ec2, &vpc, "10.1.11.0/24", "use1-az2").await,
    ];
    let closed = [
        subnet(&ec2, &vpc, "10.1.20.0/24", "use1-az1").await,
        subnet(&ec2, &vpc, "10.1.21.0/24", "use1-az2").await,
    ];
    let az3 = subnet(&ec2, &vpc, "10.1.30.0/24", "use1-az3").await;
    let same_az = subnet(&ec2, &vpc, "10.1.31.0/24", "use1-az1").await;
    for s in &public {
        ec2.modify_subnet_attribute()
            .subnet_id(s)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .unwrap();
    }
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let public_table = table(&ec2, &vpc, &[&public[0], &public[1]]).await;
    ec2.create_route()
        .route_table_id(&public_table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let eip = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap();
    let natgw = ec2
        .create_nat_gateway()
        .subnet_id(&public[0])
        .allocation_id(eip.allocation_id().unwrap())
        .send()
        .await
        .unwrap()
        .nat_gateway()
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_string();
    let nat_table = table(&ec2, &vpc, &[&nat[0], &nat[1], &az3, &same_az]).await;
    ec2.create_route()
        .route_table_id(&nat_table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&natgw)
        .send()
        .await
        .unwrap();
    let closed_table = table(&ec2, &vpc, &[&closed[0], &closed[1]]).await;
    Net {
        public,
        nat,
        closed,
        closed_table,
        vpc,
        az3,
        same_az,
    }
}

fn provisioned(subnets: &[&str], brokers: i32) -> aws_sdk_kafka::types::ProvisionedRequest {
    use aws_sdk_kafka::types::*;
    let mut group = BrokerNodeGroupInfo::builder().instance_type("kafka.t3.small");
    for s in subnets {
        group = group.client_subnets(*s);
    }
    ProvisionedRequest::builder()
        .broker_node_group_info(group.build())
        .kafka_version("3.8.x")
        .number_of_broker_nodes(brokers)
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn msk_refuses_subnets_in_one_az_an_unsupported_az_id_and_an_uneven_broker_count() {
    let moto = Moto::start();
    let net = network(&moto).await;
    let emu = Emulator::with_moto("100ms", &moto.endpoint);
    let k = emu.kafka().await;
    let create = |name: &'static str, subnets: Vec<String>, brokers: i32| {
        let k = k.clone();
        async move {
            let refs: Vec<&str> = subnets.iter().map(String::as_str).collect();
            k.create_cluster_v2()
                .cluster_name(name)
                .provisioned(provisioned(&refs, brokers))
                .send()
                .await
        }
    };

    let e = create("one-az", vec![net.nat[0].clone(), net.same_az.clone()], 2)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("BadRequestException"), "{e:?}");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
    assert!(
        e.message()
            .unwrap()
            .starts_with("The subnets that you specify must be in distinct Availability Zones"),
        "{e:?}"
    );

    let e = create("az3", vec![net.nat[0].clone(), net.az3.clone()], 2)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("BadRequestException"), "{e:?}");
    assert_eq!(
        e.message(),
        Some("One or more subnets belong to unsupported availability zones: [us-east-1e]. Client subnets can't occupy the Availability Zone with ID use1-az3."),
    );

    let e = create("uneven", net.nat.to_vec(), 3).await.unwrap_err();
    assert_eq!(e.code(), Some("BadRequestException"), "{e:?}");
    assert_eq!(
        e.message(),
        Some("The number of broker nodes must be a multiple of Availability Zones in the Client Subnets parameter.")
    );

    let e = create("unknown", vec!["subnet-0000".into(), net.nat[0].clone()], 2)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("BadRequestException"), "{e:?}");

    // The v1 API follows the same rules.
    let v1 = k
        .create_cluster()
        .cluster_name("v1-uneven")
        .kafka_version("3.8.x")
        .number_of_broker_nodes(3)
        .broker_node_group_info(
            aws_sdk_kafka::types::BrokerNodeGroupInfo::builder()
                .instance_type("kafka.t3.small")
                .client_subnets(&net.nat[0])
                .client_subnets(&net.nat[1])
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(v1.code(), Some("BadRequestException"), "{v1:?}");

    // Two private subnets in two supported AZs, two brokers: created.
    create("fine", net.nat.to_vec(), 4).await.unwrap();
}

async fn plugin(kc: &aws_sdk_kafkaconnect::Client) -> String {
    use aws_sdk_kafkaconnect::types::*;
    let arn = kc
        .create_custom_plugin()
        .name("s3-sink")
        .content_type(CustomPluginContentType::Zip)
        .location(
            CustomPluginLocation::builder()
                .s3_location(
                    S3Location::builder()
                        .bucket_arn("arn:aws:s3:::b")
                        .file_key("p.zip")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .custom_plugin_arn()
        .unwrap()
        .to_string();
    wait_for(|| async {
        kc.describe_custom_plugin()
            .custom_plugin_arn(&arn)
            .send()
            .await
            .unwrap()
            .custom_plugin_state()
            == Some(&CustomPluginState::Active)
    })
    .await;
    arn
}

async fn connector(
    kc: &aws_sdk_kafkaconnect::Client,
    name: &str,
    plugin: &str,
    subnets: &[String],
) -> String {
    use aws_sdk_kafkaconnect::types::*;
    let mut vpc = Vpc::builder();
    for s in subnets {
        vpc = vpc.subnets(s);
    }
    kc.create_connector()
        .connector_name(name)
        .kafka_connect_version("2.7.1")
        .capacity(
            Capacity::builder()
                .provisioned_capacity(
                    ProvisionedCapacity::builder()
                        .mcu_count(1)
                        .worker_count(1)
                        .build(),
                )
                .build(),
        )
        .connector_configuration("connector.class", "io.confluent.connect.s3.S3SinkConnector")
        .connector_configuration("s3.bucket.name", "sink-bucket")
        .kafka_cluster(
            KafkaCluster::builder()
                .apache_kafka_cluster(
                    ApacheKafkaCluster::builder()
                        .bootstrap_servers("b:9098")
                        .vpc(vpc.build().unwrap())
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .kafka_cluster_client_authentication(
            KafkaClusterClientAuthentication::builder()
                .authentication_type(KafkaClusterClientAuthenticationType::Iam)
                .build()
                .unwrap(),
        )
        .kafka_cluster_encryption_in_transit(
            KafkaClusterEncryptionInTransit::builder()
                .encryption_type(KafkaClusterEncryptionInTransitType::Tls)
                .build()
                .unwrap(),
        )
        .plugins(
            Plugin::builder()
                .custom_plugin(
                    CustomPlugin::builder()
                        .custom_plugin_arn(plugin)
                        .revision(1)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .service_execution_role_arn("arn:aws:iam::123456789012:role/r")
        .send()
        .await
        .unwrap()
        .connector_arn()
        .unwrap()
        .to_string()
}

/// The connector's state once it has settled.
async fn settled(
    kc: &aws_sdk_kafkaconnect::Client,
    arn: &str,
) -> aws_sdk_kafkaconnect::operation::describe_connector::DescribeConnectorOutput {
    use aws_sdk_kafkaconnect::types::ConnectorState;
    eventually(&format!("connector {arn} settles"), SETTLE, || async {
        let d = kc
            .describe_connector()
            .connector_arn(arn)
            .send()
            .await
            .unwrap();
        (d.connector_state() != Some(&ConnectorState::Creating)).then_some(d)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_sink_without_a_way_to_s3_fails_and_an_s3_endpoint_opens_it() {
    use aws_sdk_kafkaconnect::types::ConnectorState;
    let moto = Moto::start();
    let net = network(&moto).await;
    let emu = Emulator::with_moto("200ms", &moto.endpoint);
    let kc = emu.kafkaconnect().await;
    let plugin = plugin(&kc).await;

    let closed = connector(&kc, "closed", &plugin, &net.closed).await;
    let creating = kc
        .describe_connector()
        .connector_arn(&closed)
        .send()
        .await
        .unwrap();
    assert_eq!(creating.connector_state(), Some(&ConnectorState::Creating));
    assert!(creating.state_description().is_none());
    let d = settled(&kc, &closed).await;
    assert_eq!(d.connector_state(), Some(&ConnectorState::Failed));
    let why = d.state_description().unwrap();
    assert_eq!(why.code(), Some("NetworkingError"));
    let msg = why.message().unwrap();
    assert!(
        msg.starts_with("The connector cannot reach Amazon S3")
            && msg.contains(&net.closed[0])
            && msg.contains("msk-connect-internet-access"),
        "{msg}"
    );

    // Through the NAT gateway: running.
    let nat = connector(&kc, "nat", &plugin, &net.nat).await;
    assert_eq!(
        settled(&kc, &nat).await.connector_state(),
        Some(&ConnectorState::Running)
    );

    // An S3 gateway endpoint on the closed subnets' route table opens them.
    ec2(&moto)
        .await
        .create_vpc_endpoint()
        .vpc_id(&net.vpc)
        .service_name("com.amazonaws.us-east-1.s3")
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&net.closed_table)
        .send()
        .await
        .unwrap();
    let endpoint = connector(&kc, "endpoint", &plugin, &net.closed).await;
    assert_eq!(
        settled(&kc, &endpoint).await.connector_state(),
        Some(&ConnectorState::Running)
    );
}

async fn environment(
    m: &aws_sdk_mwaa::Client,
    name: &str,
    subnets: &[&str],
) -> Result<
    aws_sdk_mwaa::operation::create_environment::CreateEnvironmentOutput,
    aws_sdk_mwaa::error::SdkError<
        aws_sdk_mwaa::operation::create_environment::CreateEnvironmentError,
    >,
> {
    let mut net = aws_sdk_mwaa::types::NetworkConfiguration::builder().security_group_ids("sg-1");
    for s in subnets {
        net = net.subnet_ids(*s);
    }
    m.create_environment()
        .name(name)
        .execution_role_arn("arn:aws:iam::123456789012:role/mwaa")
        .source_bucket_arn("arn:aws:s3:::mwaa-dags")
        .dag_s3_path("dags")
        .network_configuration(net.build())
        .send()
        .await
}

/// The environment once it has settled.
async fn settled_env(m: &aws_sdk_mwaa::Client, name: &str) -> aws_sdk_mwaa::types::Environment {
    use aws_sdk_mwaa::types::EnvironmentStatus;
    eventually(&format!("environment {name} settles"), SETTLE, || async {
        let e = m.get_environment().name(name).send().await.unwrap();
        let e = e.environment().unwrap().clone();
        (e.status() != Some(&EnvironmentStatus::Creating)).then_some(e)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn mwaa_wants_two_private_subnets_in_two_azs_with_a_way_out() {
    use aws_sdk_mwaa::types::EnvironmentStatus;
    let moto = Moto::start();
    let net = network(&moto).await;
    let emu = Emulator::with_moto("200ms", &moto.endpoint);
    let m = emu.mwaa().await;

    // A count other than two: ValidationException at once (SubnetIds: 2 items).
    let e = environment(&m, "one", &[&net.nat[0]]).await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    assert_eq!(
        e.message(),
        Some(format!("1 validation error detected: Value '[{}]' at 'networkConfiguration.subnetIds' failed to satisfy constraint: Member must have length greater than or equal to 2", net.nat[0]).as_str())
    );
    let e = environment(&m, "three", &[&net.nat[0], &net.nat[1], &net.closed[0]])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    assert!(e.message().unwrap().ends_with("less than or equal to 2"));

    // Accepted, then CREATE_FAILED with MWAA's INCORRECT_CONFIGURATION: public subnets, one
    // AZ, no way out.
    let cases: [(&str, [&str; 2], &str); 3] = [
        ("public", [&net.public[0], &net.public[1]], "is public"),
        (
            "one-az",
            [&net.nat[0], &net.same_az],
            "both in us-east-1b (use1-az1)",
        ),
        (
            "closed",
            [&net.closed[0], &net.closed[1]],
            "no route to a NAT gateway",
        ),
    ];
    for (name, subnets, why) in cases {
        environment(&m, name, &subnets).await.unwrap();
        let env = settled_env(&m, name).await;
        assert_eq!(
            env.status(),
            Some(&EnvironmentStatus::CreateFailed),
            "{name}"
        );
        let error = env.last_update().unwrap().error().unwrap();
        assert_eq!(
            error.error_code(),
            Some("INCORRECT_CONFIGURATION"),
            "{name}"
        );
        let msg = error.error_message().unwrap();
        assert!(
            msg.starts_with("You may need to check the execution role permissions policy for your environment, and that each of the VPC networking components required by the environment are configured to allow traffic.")
                && msg.contains(why),
            "{name}: {msg}"
        );
    }
    // A failed environment can be deleted.
    m.delete_environment().name("public").send().await.unwrap();

    // Two private subnets in two AZs with a NAT route: available.
    environment(&m, "fine", &[&net.nat[0], &net.nat[1]])
        .await
        .unwrap();
    assert_eq!(
        settled_env(&m, "fine").await.status(),
        Some(&EnvironmentStatus::Available)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_moto_the_rules_are_skipped() {
    let emu = Emulator::start("100ms", None);
    let m = emu.mwaa().await;
    environment(&m, "any", &["s-1"]).await.unwrap();
    let k = emu.kafka().await;
    k.create_cluster_v2()
        .cluster_name("any")
        .provisioned(provisioned(&["a", "b"], 3))
        .send()
        .await
        .unwrap();
}

/// Gives moto's default VPC what AWS's has and moto's lacks: an internet gateway and a
/// `0.0.0.0/0` route to it in the main route table (VPC User Guide, "Default VPCs", default VPC
/// components: https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html).
async fn default_vpc_as_on_aws(moto: &Moto) {
    let ec2 = ec2(moto).await;
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("isDefault")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_string();
    let igw = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap()
        .internet_gateway()
        .unwrap()
        .internet_gateway_id()
        .unwrap()
        .to_string();
    ec2.attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let main = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let main = main.route_tables()[0].route_table_id().unwrap().to_string();
    ec2.create_route()
        .route_table_id(&main)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
}

/// Today's default-VPC shape (MWAA on the default subnets, public ones) fails `up` at MWAA with
/// MWAA's reason, as on AWS.
#[tokio::test(flavor = "multi_thread")]
async fn a_stack_on_the_default_vpc_fails_at_mwaa_with_aws_reason() {
    let moto = Moto::start();
    default_vpc_as_on_aws(&moto).await;
    let emu = Emulator::with_moto("200ms", &moto.endpoint);
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    p.stack(
        r#"stack: defaultvpc
resources:
  network:
    type: ec2.default_network
    props: {subnet_count: 2}
  bucket:
    type: s3.bucket
    props: {name: dvpc-dags, versioning: true, force_destroy: true}
  role:
    type: iam.role
    props: {name: dvpc-mwaa, trusted_services: [airflow.amazonaws.com, airflow-env.amazonaws.com]}
  sg:
    type: ec2.security_group
    props: {name: dvpc-mwaa, description: mwaa, vpc_id: "${network.vpc_id}", allow_self: true}
  mwaa:
    type: mwaa.environment
    props:
      name: dvpc-env
      airflow_version: 2.10.3
      environment_class: mw1.small
      execution_role_arn: ${role.arn}
      source_bucket_arn: ${bucket.arn}
      dag_s3_path: dags
      network:
        subnet_ids: ${network.subnet_ids}
        security_group_ids: ["${sg.id}"]
"#,
    );
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("mwaa (mwaa.environment) ended failed")
            && out.contains("You may need to check the execution role permissions policy")
            && out.contains("is public"),
        "{out}"
    );
    // Only MWAA failed; the rest is in place and `down` removes it.
    p.run(&["down", "--yes"]).expect(0);
}

const PRIVATE_PATH: &str = r#"
stack: reach
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.40.0.0/16, enable_dns_support: true, enable_dns_hostnames: true}
  public:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.40.0.0/24, availability_zone_id: use1-az1, map_public_ip_on_launch: true}
  private:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.40.10.0/24, availability_zone_id: use1-az1}
  sg:
    type: ec2.security_group
    props:
      name: reach-client
      description: the proxy, from the VPC only
      vpc_id: ${vpc.id}
      ingress: [{port: PORT, cidr: 10.40.0.0/16}]
  client:
    type: ec2.instance
    props:
      ami_ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
      instance_type: t2.micro
      subnet_id: ${public.id}
      security_group_ids: ["${sg.id}"]
  nlb:
    type: elbv2.load_balancer
    props: {name: reach-nlb, scheme: internal, subnets: ["${private.id}"]}
  targets:
    type: elbv2.target_group
    props: {name: reach-tg, port: PORT, vpc_id: "${vpc.id}", targets: ["${client.id}"]}
  listener:
    type: elbv2.listener
    props: {load_balancer_arn: "${nlb.arn}", port: PORT, target_group_arn: "${targets.arn}"}
  link:
    type: apigateway.vpc_link
    props: {name: reach-link, target_arn: "${nlb.arn}"}
  api:
    type: apigateway.rest_api
    props:
      name: reach-api
      routes:
        - path: /private
          method: GET
          integration: {type: HTTP_PROXY, http_method: GET, uri: "http://${nlb.dns_name}:PORT/hello", vpc_link_id: "${link.id}"}
        - path: /public
          method: GET
          integration: {type: HTTP_PROXY, http_method: GET, uri: "http://${client.public_dns}:PORT/hello"}
  deployment:
    type: apigateway.deployment
    depends_on: [listener]
    props: {rest_api_id: "${api.id}", triggers: {definition: "${api.definition_hash}"}}
  stage:
    type: apigateway.stage
    props: {rest_api_id: "${api.id}", name: dev, deployment_id: "${deployment.id}"}
"#;

/// A backend that answers every request `200 hello`.
fn hello_backend() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    port
}

/// Issue 12 item 2 and issue 13 item 5: the twin's gateway carries a request to the EC2 client
/// only as far as AWS's network would. Through the VPC link it arrives from the load
/// balancer's subnet, which the client's group admits; over the internet it would come from
/// API Gateway's addresses, which the group does not admit (504, naming why), until a rule
/// admits them; without the rule for the VPC the private path is refused too.
#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_carries_a_request_only_as_far_as_aws_network_does() {
    let moto = Moto::start();
    let port = hello_backend();
    let mut p = Project::new();
    p.env = moto.env();
    p.stack(&PRIVATE_PATH.replace("PORT", &port.to_string()));
    p.run(&["up", "--yes"]).expect(0);
    let ec2 = ec2(&moto).await;
    let client = p.physical_id("reach", "default", "client");
    let sg = p.physical_id("reach", "default", "sg");
    let api = p.physical_id("reach", "default", "api");
    let instance = ec2
        .describe_instances()
        .instance_ids(&client)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .clone();
    let mut args = vec![
        "worker".to_string(),
        "gateway".into(),
        "--rest-api-id".into(),
        api.clone(),
        "--stage".into(),
        "dev".into(),
    ];
    let gw_port = crate::util::free_port();
    args.extend(["--listen".into(), format!("127.0.0.1:{gw_port}")]);
    for name in [
        instance.public_dns_name(),
        instance.private_ip_address(),
        instance.private_dns_name(),
        instance.public_ip_address(),
    ]
    .into_iter()
    .flatten()
    .filter(|n| !n.is_empty())
    {
        args.extend(["--resolve".into(), format!("{name}=127.0.0.1")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut gateway = p.spawn(&args);
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{gw_port}/dev{path}");
        let http = http.clone();
        async move {
            for _ in 0..100 {
                if let Ok(r) = http.get(&url).send().await {
                    return (r.status().as_u16(), r.text().await.unwrap_or_default());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the gateway never answered {url}");
        }
    };

    let (status, body) = get("/private").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "hello"),
        "through the VPC link"
    );
    let (status, body) = get("/public").await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body.contains("Endpoint request timed out")
            && body.contains(&client)
            && body.contains("admit no traffic from API Gateway"),
        "{body}"
    );

    // A rule for API Gateway's addresses (here 0.0.0.0/0) opens the public path; without the
    // VPC's rule the private one closes. Verdicts stand for 5 s.
    let perm = |cidr: &str| {
        aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port as i32)
            .to_port(port as i32)
            .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(cidr).build())
            .build()
    };
    ec2.authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm("0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    ec2.revoke_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm("10.40.0.0/16"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (status, body) = get("/public").await;
    assert_eq!((status, body.as_str()), (200, "hello"), "over the internet");
    // 0.0.0.0/0 admits the load balancer too: the private path stays open.
    let (status, _) = get("/private").await;
    assert_eq!(status, 200);
    ec2.revoke_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm("0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (status, body) = get("/private").await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body.contains("admit no traffic from the load balancer's subnets (10.40.10.0/24)"),
        "{body}"
    );
    let _ = gateway.kill();
    let _ = gateway.wait();
    p.run(&["down", "--yes"]).expect(0);
}
