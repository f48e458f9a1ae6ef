//! MSK IAM on the twin's broker (`java/msk-iam` inside Apache Kafka, asking the emulator, which
//! asks moto): a token is accepted only when it is the official signers' presigned
//! `kafka-cluster:Connect` request for this region's `kafka.<region>.amazonaws.com`, signed by
//! credentials moto knows, unexpired, and its principal may `kafka-cluster:Connect`; then every
//! Kafka request is authorized by the principal's IAM policies, as on MSK. The REST proxy
//! answers a refused produce in Confluent's shape.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use crate::util::{free_port, iam_user as user, Emulator, Kafka, Moto, Served};
use pinctl::clients::kafka_admin::{msk_iam_settings, IamContext};
use pinctl::clients::msk_iam::auth_token;

const TOPIC: &str = "u.pin";

struct Twin {
    moto: Moto,
    emu: Emulator,
    kafka: Kafka,
    cluster: String,
    /// The cluster's `bootstrapBrokerStringSaslIam`.
    iam: String,
}

/// The broker's listeners and the emulator's port.
struct Ports {
    plain: u16,
    iam: u16,
    control: u16,
    emulator: u16,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            plain: free_port(),
            iam: free_port(),
            control: free_port(),
            emulator: free_port(),
        }
    }

    /// The emulator, in front of `kafka` (whose control secret it is given).
    fn emulator(&self, moto: &Moto, kafka: &Kafka, state: Option<&std::path::Path>) -> Emulator {
        Emulator::for_msk_iam(
            moto,
            &format!("127.0.0.1:{}", self.plain),
            &format!("127.0.0.1:{}", self.iam),
            (
                &format!("127.0.0.1:{}", self.control),
                &kafka.control_secret(),
            ),
            self.emulator,
            state,
        )
    }

    /// The broker, which asks the emulator on `self.emulator` (started after it).
    fn broker(&self) -> Kafka {
        let authority = format!("http://127.0.0.1:{}", self.emulator);
        Kafka::start_iam(self.plain, self.iam, self.control, &authority)
    }
}

/// Two subnets in two AZs that moto knows (MSK's network rules read them).
async fn subnets(moto: &Moto) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&moto.config().await);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.0.1.0/24", "use1-az1"), ("10.0.2.0/24", "use1-az2")] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone_id(az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    subnets
}

async fn twin() -> Twin {
    let moto = Moto::start_with_delay("0");
    let ports = Ports::new();
    let kafka = ports.broker();
    let emu = ports.emulator(&moto, &kafka, None);
    kafka.create_topics(&[TOPIC], 1);
    let iam_port = ports.iam;
    let subnets = subnets(&moto).await;

    // The cluster, with IAM client authentication.
    use aws_sdk_kafka::types::*;
    let msk = emu.kafka().await;
    let cluster = msk
        .create_cluster_v2()
        .cluster_name("pinterest-msk")
        .provisioned(
            ProvisionedRequest::builder()
                .broker_node_group_info(
                    BrokerNodeGroupInfo::builder()
                        .instance_type("kafka.t3.small")
                        .set_client_subnets(Some(subnets))
                        .build(),
                )
                .kafka_version("3.8.x")
                .number_of_broker_nodes(2)
                .client_authentication(
                    ClientAuthentication::builder()
                        .sasl(
                            Sasl::builder()
                                .iam(Iam::builder().enabled(true).build())
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .cluster_arn()
        .unwrap()
        .to_string();
    let t0 = std::time::Instant::now();
    let bootstrap = loop {
        if let Ok(b) = msk
            .get_bootstrap_brokers()
            .cluster_arn(&cluster)
            .send()
            .await
        {
            break b;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "cluster never ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        bootstrap.bootstrap_broker_string(),
        None,
        "TLS in transit (MSK's default) has no plaintext listener"
    );
    let iam = bootstrap
        .bootstrap_broker_string_sasl_iam()
        .expect("the IAM listener's string")
        .to_string();
    assert_eq!(iam, format!("127.0.0.1:{iam_port}"));
    Twin {
        moto,
        emu,
        kafka,
        cluster,
        iam,
    }
}

fn allow(actions: &[&str], resource: &str) -> Value {
    json!({"Effect": "Allow", "Action": actions, "Resource": resource})
}

/// The emulator's answer to a token: 200 and the principal, or 403 and why.
async fn authenticate(t: &Twin, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/_pinctl/msk-iam/authenticate", t.emu.endpoint))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn token(region: &str, c: &Credentials, at: SystemTime) -> String {
    auth_token(region, c, at, "pinctl/test").unwrap().0
}

/// The token's presigned URL with `from` replaced by `to`, encoded again.
fn rewrite(token: &str, from: &str, to: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let url = String::from_utf8(b64.decode(token).unwrap()).unwrap();
    assert!(url.contains(from), "{url}");
    b64.encode(url.replace(from, to))
}

fn producer(t: &Twin, c: &Credentials) -> FutureProducer<IamContext> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &t.iam)
        .set("message.timeout.ms", "10000")
        .set("log_level", "3");
    msk_iam_settings(&mut config);
    config.set("ssl.ca.location", t.kafka.ca().display().to_string());
    config
        .create_with_context(IamContext::new(
            "us-east-1",
            aws_credential_types::provider::SharedCredentialsProvider::new(c.clone()),
        ))
        .unwrap()
}

async fn produce(p: &FutureProducer<IamContext>) -> Result<(), rdkafka::error::KafkaError> {
    p.send(
        FutureRecord::<[u8], [u8]>::to(TOPIC).payload(b"{}"),
        Duration::from_secs(15),
    )
    .await
    .map(|_| ())
    .map_err(|(e, _)| e)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_checks_tokens_and_policies_as_msk_does() {
    let t = twin().await;
    let topic_arn = format!("{}/{TOPIC}", t.cluster.replacen(":cluster/", ":topic/", 1));
    let connect = allow(
        &["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
        &t.cluster,
    );
    let writer = user(
        &t.moto,
        "writer",
        json!([
            connect,
            allow(
                &["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
                // As policies name topics: any account, any cluster uuid.
                &format!("arn:aws:kafka:us-east-1:*:topic/pinterest-msk/*/{TOPIC}")
            )
        ]),
    )
    .await;
    let reader = user(
        &t.moto,
        "reader",
        json!([
            connect,
            allow(
                &["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                &topic_arn
            )
        ]),
    )
    .await;
    let stranger = user(
        &t.moto,
        "stranger",
        json!([allow(&["kafka-cluster:DescribeTopic"], "*")]),
    )
    .await;

    // Tokens: the writer's is accepted and names the IAM user.
    let now = SystemTime::now();
    let good = token("us-east-1", &writer, now);
    let (status, body) = authenticate(&t, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["principal"], "arn:aws:iam::123456789012:user/writer",
        "{body}"
    );
    // Refused, each for its reason.
    let refusals = [
        (
            "another host",
            rewrite(
                &good,
                "https://kafka.us-east-1.amazonaws.com/",
                "https://b-1.other.kafka.us-east-1.amazonaws.com/",
            ),
            "not kafka.us-east-1.amazonaws.com",
        ),
        (
            "another region",
            rewrite(
                &token("eu-west-1", &writer, now),
                "kafka.eu-west-1.amazonaws.com",
                "kafka.us-east-1.amazonaws.com",
            ),
            "signed for region eu-west-1",
        ),
        (
            "expired",
            token("us-east-1", &writer, now - Duration::from_secs(1200)),
            "expired",
        ),
        (
            "unknown credentials",
            token(
                "us-east-1",
                &Credentials::new("AKIAUNKNOWNUNKNOWN00", "nope", None, None, "t"),
                now,
            ),
            "does not know",
        ),
        (
            "a wrong secret",
            token(
                "us-east-1",
                &Credentials::new(writer.access_key_id(), "not-the-secret", None, None, "t"),
                now,
            ),
            "signature does not match",
        ),
        (
            "no kafka-cluster:Connect",
            token("us-east-1", &stranger, now),
            "not authorized to perform: kafka-cluster:Connect",
        ),
        ("not a token", "%%%".to_string(), "not base64url"),
    ];
    for (what, token, why) in &refusals {
        let (status, body) = authenticate(&t, token).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(why),
            "{what}: expected `{why}` in {body}"
        );
    }

    // Through the broker (SASL/OAUTHBEARER over TLS): the writer produces, the reader may not.
    produce(&producer(&t, &writer))
        .await
        .expect("the writer produces to its topic");
    let refused = produce(&producer(&t, &reader)).await.unwrap_err();
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::TopicAuthorizationFailed),
        "{refused}"
    );
    // A principal without Connect is refused at authentication.
    let refused = produce(&producer(&t, &stranger)).await.unwrap_err();
    assert!(
        refused.to_string().contains("uthentication")
            || refused.rdkafka_error_code()
                == Some(rdkafka::types::RDKafkaErrorCode::MessageTimedOut),
        "{refused}"
    );
    assert!(
        t.kafka
            .log()
            .contains("not authorized to perform: kafka-cluster:Connect"),
        "the broker logs why: {}",
        t.kafka.log()
    );

    // The REST proxy, as the reader: Confluent's answer to an unauthorized produce.
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("kafka-rest.properties");
    std::fs::write(
        &props,
        format!(
            "bootstrap.servers={}\nclient.security.protocol=SASL_SSL\nclient.sasl.mechanism=AWS_MSK_IAM\n",
            t.iam
        ),
    )
    .unwrap();
    let env = |c: &Credentials| {
        vec![
            (
                "AWS_ACCESS_KEY_ID".to_string(),
                c.access_key_id().to_string(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                c.secret_access_key().to_string(),
            ),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
            ("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()),
            (
                pinctl::clients::kafka_admin::CA_ENV.to_string(),
                t.kafka.ca().display().to_string(),
            ),
        ]
    };
    let post = |url: String| async move {
        let r = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/vnd.kafka.json.v2+json")
            .body(r#"{"records":[{"value":{"index":1}}]}"#)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let config = props.display().to_string();
    let args = [
        "worker",
        "rest-proxy",
        "--config",
        &config,
        "--listen",
        "127.0.0.1:0",
    ];
    let as_reader = Served::start(&args, &env(&reader));
    let (status, body) = post(format!("{}/topics/{TOPIC}", as_reader.url())).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error_code"], 40301, "{body}");
    assert_eq!(
        body["message"],
        format!("Not authorized to access topics: [{TOPIC}]"),
        "{body}"
    );
    let as_writer = Served::start(&args, &env(&writer));
    let (status, body) = post(format!("{}/topics/{TOPIC}", as_writer.url())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["offset"], 1, "the second record: {body}");
}

/// MSK's PLAINTEXT port admits unauthenticated clients only on a cluster that allows them
/// (client-broker encryption with PLAINTEXT, unauthenticated access, no IAM: MSK Developer
/// Guide, "IAM access control"). The twin's one broker serves every cluster on one PLAINTEXT
/// listener: while the only cluster is an IAM cluster, ANONYMOUS may neither produce nor
/// create topics there; once an open cluster is ACTIVE, it may.
#[tokio::test(flavor = "multi_thread")]
async fn plaintext_clients_get_only_what_a_cluster_admits() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let t = twin().await;
    let anonymous: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &t.kafka.address)
        .set("message.timeout.ms", "5000")
        .set("log_level", "3")
        .create()
        .unwrap();
    let send = || async {
        anonymous
            .send(
                FutureRecord::<[u8], [u8]>::to(TOPIC).payload(b"{}"),
                Duration::from_secs(10),
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    };
    let e = send()
        .await
        .expect_err("an IAM cluster's topic, unauthenticated");
    assert!(
        e.to_string().contains("uthoriz"),
        "refused as unauthorized: {e}"
    );
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", &t.kafka.address)
        .set("log_level", "3")
        .create()
        .unwrap();
    let made = admin
        .create_topics(
            &[NewTopic::new(
                "anonymous.made",
                1,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    assert!(
        matches!(&made[0], Err((_, code)) if format!("{code:?}").contains("Authorization")),
        "CreateTopics refused: {made:?}"
    );
    assert!(
        t.kafka
            .control_admin()
            .describe("anonymous.made")
            .await
            .unwrap()
            .is_none(),
        "no topic was made"
    );
    assert!(
        t.kafka
            .log()
            .contains("MSK denied an unauthenticated PLAINTEXT client"),
        "the broker says why: {}",
        t.kafka.log()
    );

    // An open cluster: TLS_PLAINTEXT in transit, no client authentication (unauthenticated).
    use aws_sdk_kafka::types::*;
    let msk = t.emu.kafka().await;
    let open = msk
        .create_cluster_v2()
        .cluster_name("open-msk")
        .provisioned(
            ProvisionedRequest::builder()
                .broker_node_group_info(
                    BrokerNodeGroupInfo::builder()
                        .instance_type("kafka.t3.small")
                        .set_client_subnets(Some(subnets(&t.moto).await))
                        .build(),
                )
                .kafka_version("3.8.x")
                .number_of_broker_nodes(2)
                .encryption_info(
                    EncryptionInfo::builder()
                        .encryption_in_transit(
                            EncryptionInTransit::builder()
                                .client_broker(ClientBroker::TlsPlaintext)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .cluster_arn()
        .unwrap()
        .to_string();
    let t0 = std::time::Instant::now();
    let plain = loop {
        if let Ok(b) = msk.get_bootstrap_brokers().cluster_arn(&open).send().await {
            break b.bootstrap_broker_string().map(str::to_string);
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never ACTIVE");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(plain, Some(t.kafka.address.clone()), "port 9092 is open");
    // The broker's last verdict is cached for 5 s, as IAM changes take seconds to reach MSK.
    let t0 = std::time::Instant::now();
    while let Err(e) = send().await {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "still refused with an open cluster: {e}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A stack whose topics MSK's topic API cannot serve (a cluster on Kafka 3.5.1): pinctl creates
/// them with the Kafka admin protocol on the cluster's IAM listener, authenticated as the
/// caller, who needs the topic actions (MSK IAM), as on AWS.
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_fallback_authenticates_with_msk_iam() {
    let moto = Moto::start_with_delay("0");
    let ports = Ports::new();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("emulator.json");
    let kafka = ports.broker();
    let emu = ports.emulator(&moto, &kafka, Some(&saved));
    let subnets = subnets(&moto).await;
    let cluster = "arn:aws:kafka:us-east-1:*:cluster/fallback-msk/*";
    let topics = "arn:aws:kafka:us-east-1:*:topic/fallback-msk/*/abc.*";
    let operator = user(
        &moto,
        "operator",
        json!([
            allow(
                &["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
                cluster
            ),
            allow(
                &[
                    "kafka-cluster:CreateTopic",
                    "kafka-cluster:DescribeTopic",
                    "kafka-cluster:AlterTopic",
                    "kafka-cluster:DeleteTopic",
                    "kafka-cluster:DescribeTopicDynamicConfiguration",
                    "kafka-cluster:AlterTopicDynamicConfiguration",
                ],
                topics
            ),
        ]),
    )
    .await;
    let viewer = user(
        &moto,
        "viewer",
        json!([
            allow(
                &["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
                cluster
            ),
            allow(&["kafka-cluster:DescribeTopic"], topics),
        ]),
    )
    .await;
    let stack = format!(
        r#"
stack: fallback
resources:
  msk:
    type: msk.cluster
    props:
      name: fallback-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 2
      storage_gib: 100
      client_subnets: ["{}", "{}"]
      iam_auth: true
  pin:
    type: msk.topic
    props: {{cluster_arn: "${{msk.arn}}", name: abc.pin, partitions: 2, replication_factor: 1}}
"#,
        subnets[0], subnets[1]
    );
    let mut p = crate::util::Project::new();
    let env = |emu: &Emulator, c: &Credentials| {
        let mut env = emu.env();
        env.extend([
            ("AWS_ACCESS_KEY_ID".into(), c.access_key_id().to_string()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                c.secret_access_key().to_string(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            // The emulator alone, no STS: no preflight (which would also report 3.5.1).
            ("PINCTL_NO_PREFLIGHT".into(), "true".into()),
            (
                pinctl::clients::kafka_admin::CA_ENV.into(),
                kafka.ca().display().to_string(),
            ),
        ]);
        env
    };
    p.env = env(&emu, &operator);
    p.stack(&stack);
    p.run(&["up", "--yes", "--target", "msk"]).expect(0);
    // A cluster made before 3.5.1's end of support still runs it: the saved state says so.
    drop(emu);
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("\"3.8.x\""), "{text}");
    std::fs::write(&saved, text.replace("\"3.8.x\"", "\"3.5.1\"")).unwrap();
    let emu = ports.emulator(&moto, &kafka, Some(&saved));
    let stack = stack.replace("kafka_version: 3.8.x", "kafka_version: 3.5.1");
    p.stack(&stack);

    // Without CreateTopic the broker refuses the viewer, and nothing is recorded as created.
    p.env = env(&emu, &viewer);
    let r = p.run(&["up", "--yes"]);
    assert_eq!(
        r.code,
        1,
        "{}\n{}\nbroker: {}",
        r.stdout,
        r.stderr,
        kafka
            .log()
            .lines()
            .filter(|l| l.contains("MSK IAM"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        r.stderr.contains("uthoriz"),
        "the refusal is the broker's authorization error: {}\nbroker: {}",
        r.stderr,
        kafka.log()
    );
    // The operator's grants suffice.
    p.env = env(&emu, &operator);
    p.run(&["up", "--yes"]).expect(0);
    let admin = kafka.control_admin();
    let pin = admin
        .describe("abc.pin")
        .await
        .unwrap()
        .expect("abc.pin on the broker");
    assert_eq!(pin.partitions, 2);
    let log = kafka.log();
    assert!(
        log.contains("MSK IAM authenticated arn:aws:iam::123456789012:user/operator"),
        "pinctl authenticated as the operator: {log}"
    );
    assert!(
        log.contains(
            "User: arn:aws:iam::123456789012:user/viewer is not authorized to perform: kafka-cluster:CreateTopic"
        ),
        "the broker names the viewer's missing action: {log}"
    );
    p.run(&["down", "--yes"]).expect(0);
    assert!(
        admin.describe("abc.pin").await.unwrap().is_none(),
        "deleted on the broker"
    );
}
