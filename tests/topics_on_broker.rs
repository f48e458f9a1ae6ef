//! In the local twin an MSK cluster is the local Kafka broker (Apache Kafka, installed by the test
//! command): topics created, grown, configured and deleted through the MSK API really exist on
//! the broker with the declared partitions and configs.

use crate::util::{Emulator, Kafka, Project};
use pinctl::clients::kafka_admin::BrokerAdmin;

const STACK: &str = r#"
stack: broker
resources:
  msk:
    type: msk.cluster
    props:
      name: abc-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 1
      storage_gib: 100
      client_subnets: [subnet-a]
  pin:
    type: msk.topic
    props:
      cluster_arn: ${msk.arn}
      name: abc.pin
      partitions: 2
      replication_factor: 1
      configs: {retention.ms: "604800000"}
  geo:
    type: msk.topic
    props: {cluster_arn: "${msk.arn}", name: abc.geo, partitions: 1, replication_factor: 1}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn topics_exist_on_the_broker() {
    let kafka = Kafka::start();
    let emu = Emulator::start_with("100ms", None, 0.0, Some(&kafka.address));
    let mut p = Project::new();
    p.env = emu.env();
    p.env.extend([
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        // The emulator alone, no STS to ask who the credentials are: no preflight (and Kafka
        // 3.5.1, which MSK lists as DEPRECATED, is what the fallback needs).
        ("PINCTL_NO_PREFLIGHT".into(), "true".into()),
    ]);
    p.stack(STACK);
    p.run(&["up", "--yes"]).expect(0);
    let admin = BrokerAdmin::connect(&kafka.address).unwrap();
    let pin = admin
        .describe("abc.pin")
        .await
        .unwrap()
        .expect("abc.pin on the broker");
    assert_eq!((pin.partitions, pin.replication_factor), (2, 1));
    assert_eq!(
        pin.configs.get("retention.ms").map(String::as_str),
        Some("604800000")
    );
    assert!(admin.describe("abc.geo").await.unwrap().is_some());
    let brokers =
        p.state("broker", "default")["resources"]["msk"]["outputs"]["bootstrap_brokers"].clone();
    assert_eq!(
        brokers,
        kafka.address.as_str(),
        "the cluster's bootstrap brokers are the local broker"
    );
    p.run(&["plan"]).expect(0);

    // Growth (CreatePartitions) and a config change (AlterConfigs) through the MSK topic API
    // reach the broker, in one `up`.
    p.stack(
        &STACK
            .replace("604800000", "3600000")
            .replace("partitions: 2", "partitions: 3"),
    );
    p.run(&["up", "--yes"]).expect(0);
    let pin = admin.describe("abc.pin").await.unwrap().unwrap();
    assert_eq!(pin.partitions, 3, "grown on the broker");
    assert_eq!(
        pin.configs.get("retention.ms").map(String::as_str),
        Some("3600000"),
        "changed on the broker"
    );
    p.run(&["plan"]).expect(0);
    // A shrink is refused, as MSK (Kafka) refuses it, and nothing is recorded as done.
    p.stack(&STACK.replace("604800000", "3600000"));
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(r.stderr.contains("partitions"), "{}", r.stderr);
    assert_eq!(
        admin.describe("abc.pin").await.unwrap().unwrap().partitions,
        3
    );

    p.run(&["down", "--yes"]).expect(0);
    assert!(
        admin.describe("abc.pin").await.unwrap().is_none(),
        "deleted on the broker"
    );
    assert!(admin.describe("abc.geo").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn older_kafka_falls_back_to_the_admin_protocol() {
    let kafka = Kafka::start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("emulator.json");
    let env = |emu: &Emulator| {
        let mut env = emu.env();
        env.extend([
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            // The emulator alone, no STS to ask who the credentials are: no preflight (which
            // would also report 3.5.1 as past its end of support).
            ("PINCTL_NO_PREFLIGHT".into(), "true".into()),
        ]);
        env
    };
    // Kafka 3.5 has no MSK topic API: pinctl talks to the brokers themselves. MSK no longer
    // creates 3.5.1 clusters (past its end of support), but one made before still runs it: the
    // cluster is made at 3.8.x, and the emulator's saved state then says 3.5.1.
    let stack = STACK.replace(
        "client_subnets: [subnet-a]",
        "client_subnets: [subnet-a]\n      iam_auth: false",
    );
    let mut p = Project::new();
    {
        let emu = Emulator::start_with("100ms", Some(&saved), 0.0, Some(&kafka.address));
        p.env = env(&emu);
        p.stack(&stack);
        p.run(&["up", "--yes", "--target", "msk"]).expect(0);
    }
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("\"3.8.x\""), "{text}");
    std::fs::write(&saved, text.replace("\"3.8.x\"", "\"3.5.1\"")).unwrap();
    let emu = Emulator::start_with("100ms", Some(&saved), 0.0, Some(&kafka.address));
    p.env = env(&emu);
    let stack = stack.replace("kafka_version: 3.8.x", "kafka_version: 3.5.1");
    p.stack(&stack);
    p.run(&["up", "--yes"]).expect(0);
    let admin = BrokerAdmin::connect(&kafka.address).unwrap();
    let pin = admin
        .describe("abc.pin")
        .await
        .unwrap()
        .expect("abc.pin on the broker");
    assert_eq!((pin.partitions, pin.replication_factor), (2, 1));
    assert_eq!(
        pin.configs.get("retention.ms").map(String::as_str),
        Some("604800000")
    );
    let cluster = p.state("broker", "default")["resources"]["msk"]["physical_id"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = emu
        .kafka()
        .await
        .list_topics()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap();
    assert!(listed.topics().is_empty(), "the MSK topic API was not used");
    let arn = p.state("broker", "default")["resources"]["pin"]["outputs"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with("arn:aws:kafka:us-east-1:123456789012:topic/abc-msk/")
            && arn.ends_with("/abc.pin"),
        "{arn}"
    );
    p.run(&["plan"]).expect(0);
    // Growth and a config change through the admin protocol (CreatePartitions, AlterConfigs).
    p.stack(
        &stack
            .replace("604800000", "3600000")
            .replace("partitions: 2", "partitions: 4"),
    );
    p.run(&["up", "--yes"]).expect(0);
    let pin = admin.describe("abc.pin").await.unwrap().unwrap();
    assert_eq!(pin.partitions, 4, "grown on the broker");
    assert_eq!(
        pin.configs.get("retention.ms").map(String::as_str),
        Some("3600000"),
        "changed on the broker"
    );
    p.run(&["plan"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
    assert!(admin.describe("abc.pin").await.unwrap().is_none());
}
