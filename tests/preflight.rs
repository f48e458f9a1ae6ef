//! Preflight in `plan` and `up` (issue 13, items 2, 3 and 6), against moto and the emulator:
//! a bucket name another account holds, an untagged bucket of one's own in us-east-1, a Kafka
//! or Airflow version the service does not offer, an instance type not offered in its
//! subnet's AZ, a quota the plan would exceed, and a cluster AWS upgraded on its own (drift in
//! `diff`, no downgrade from `up`). Each: `plan` exits 1 naming the resource, what is wrong and
//! the fix, and nothing is created.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::plan::DriftExt;
use crate::util::{Emulator, Moto, Project, ACCOUNT_HASH};

fn project(moto: &Moto) -> Project {
    let mut p = Project::new();
    p.env = moto.env();
    p
}

/// An S3 client acting as another account (111122223333): moto gives credentials from STS
/// AssumeRole into a role of another account that account's identity.
async fn other_account_s3(moto: &Moto) -> aws_sdk_s3::Client {
    let sts = aws_sdk_sts::Client::new(&moto.config().await);
    let creds = sts
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/someone-else")
        .role_session_name("someone-else")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            None,
            "other-account",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The preflight findings of `plan --json` (which must exit 1).
#[track_caller]
fn failed_findings(p: &Project) -> Vec<Value> {
    let r = p.run(&["plan", "--json"]);
    r.expect(1);
    let doc = r.json();
    assert_eq!(doc["preflight"]["ok"], false, "{doc:#}");
    doc["preflight"]["findings"].as_array().unwrap().clone()
}

/// The error findings about `resource`.
fn errors_of<'a>(findings: &'a [Value], resource: &str) -> Vec<&'a Value> {
    findings
        .iter()
        .filter(|f| f["resource"] == resource && f["severity"] == "error")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_name_another_account_holds_fails_plan_before_anything_is_created() {
    let moto = Moto::start();
    let other = other_account_s3(&moto).await;
    other
        .create_bucket()
        .bucket("pinctl-taken-name")
        .send()
        .await
        .unwrap();
    // moto's namespace is global across accounts, as AWS's: the name is not ours to create.
    let mine = moto.s3().await;
    let e = mine
        .create_bucket()
        .bucket("pinctl-taken-name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e),
        Some("BucketAlreadyExists")
    );

    let p = project(&moto);
    p.stack(
        r#"
stack: names
resources:
  data:
    type: s3.bucket
    props: {name: pinctl-taken-name}
  logs:
    type: s3.bucket
    props: {name: "pinctl-logs-${aws.account_hash}"}
"#,
    );
    let r = p.run(&["plan"]);
    r.expect(1);
    assert!(
        r.stdout.contains(
            "error: data: bucket name `pinctl-taken-name` is taken by another AWS account"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("fix: choose a name no one holds"),
        "{}",
        r.stdout
    );
    let findings = failed_findings(&p);
    let data = errors_of(&findings, "data");
    assert_eq!(data.len(), 1, "{findings:#?}");
    assert_eq!(data[0]["check"], "bucket_name");
    assert!(errors_of(&findings, "logs").is_empty(), "{findings:#?}");

    // `up` stops before changing anything: not even the free bucket is created.
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(r.stderr.contains("Nothing was changed"), "{}", r.stderr);
    let names: Vec<String> = mine
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_with_the_account_hash_differ_per_account_and_never_show_the_account() {
    let moto = Moto::start();
    let p = project(&moto);
    p.stack(
        r#"
stack: names
resources:
  logs:
    type: s3.bucket
    props: {name: "pinctl-logs-${aws.account_hash}"}
"#,
    );
    // moto's default account and the tests' region.
    let want = hex::encode(Sha256::digest(b"123456789012:us-east-1"))[..10].to_string();
    assert_eq!(want, ACCOUNT_HASH);
    let plan = p.plan_changes();
    let name = &plan.resources[0].changes[0];
    assert_eq!(name.path, "name");
    assert_eq!(name.new, Some(Value::String(format!("pinctl-logs-{want}"))));
    p.run(&["up", "--yes"]).expect(0);
    let state = std::fs::read_to_string(p.state_path("names", "default")).unwrap();
    assert!(state.contains(&format!("pinctl-logs-{want}")));
    assert!(
        !state.contains("123456789012"),
        "the account id is in state"
    );

    // Another account's credentials name another bucket.
    let sts = aws_sdk_sts::Client::new(&moto.config().await);
    let creds = sts
        .assume_role()
        .role_arn("arn:aws:iam::111122223333:role/someone-else")
        .role_session_name("someone-else")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let mut q = project(&moto);
    q.env
        .retain(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"));
    q.env.extend([
        ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            creds.secret_access_key.clone(),
        ),
        ("AWS_SESSION_TOKEN".into(), creds.session_token.clone()),
    ]);
    q.stack(&std::fs::read_to_string(p.path().join("stack.yaml")).unwrap());
    let theirs = hex::encode(Sha256::digest(b"111122223333:us-east-1"))[..10].to_string();
    let plan = q.plan_changes();
    assert_eq!(
        plan.resources[0].changes[0].new,
        Some(Value::String(format!("pinctl-logs-{theirs}")))
    );
    p.run(&["down", "--yes"]).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_bucket_of_ones_own_in_us_east_1_is_never_adopted() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket()
        .bucket("pinctl-mine-already")
        .send()
        .await
        .unwrap();
    let p = project(&moto);
    p.stack(
        r#"
stack: names
resources:
  data:
    type: s3.bucket
    props: {name: pinctl-mine-already, versioning: true}
"#,
    );
    let findings = failed_findings(&p);
    let data = errors_of(&findings, "data");
    assert_eq!(data.len(), 1, "{findings:#?}");
    assert!(
        data[0]["problem"]
            .as_str()
            .unwrap()
            .contains("already exists in this account and is not this stack's"),
        "{data:#?}"
    );
    // Without preflight, the provider asks before CreateBucket (which answers 200 here) and
    // refuses: the bucket gets none of this stack's tags.
    let r = p.run(&["up", "--yes", "--no-preflight"]);
    r.expect(1);
    assert!(
        r.stderr.contains(
            "bucket `pinctl-mine-already` already exists and is not tagged as this stack's"
        ),
        "{}",
        r.stderr
    );
    assert!(s3
        .get_bucket_tagging()
        .bucket("pinctl-mine-already")
        .send()
        .await
        .map(|t| t.tag_set().is_empty())
        .unwrap_or(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn unoffered_kafka_and_airflow_versions_fail_plan() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let mut p = project(&moto);
    p.env.extend(emu.env());
    p.stack(
        r#"
stack: versions
resources:
  old:
    type: msk.cluster
    props:
      name: old-msk
      kafka_version: 3.6.0
      broker_instance_type: kafka.m5.large
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
  unknown:
    type: msk.cluster
    props:
      name: unknown-msk
      kafka_version: 3.4.9
      broker_instance_type: kafka.m5.large
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
  fine:
    type: msk.cluster
    props:
      name: fine-msk
      kafka_version: 3.9.x
      broker_instance_type: kafka.m5.large
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
  airflow:
    type: mwaa.environment
    props:
      name: old-env
      airflow_version: 2.4.3
      environment_class: mw1.small
      execution_role_arn: arn:aws:iam::123456789012:role/mwaa
      source_bucket_arn: arn:aws:s3:::dags
      dag_s3_path: dags
      network:
        subnet_ids: [subnet-a, subnet-b]
        security_group_ids: [sg-a]
"#,
    );
    let findings = failed_findings(&p);
    let old = errors_of(&findings, "old");
    assert_eq!(old.len(), 1, "{findings:#?}");
    assert_eq!(old[0]["check"], "kafka_version");
    let problem = old[0]["problem"].as_str().unwrap();
    assert!(problem.contains("3.6.0 as DEPRECATED"), "{problem}");
    assert!(
        old[0]["fix"].as_str().unwrap().contains("e.g. 3.9.x"),
        "{:#?}",
        old[0]
    );
    let unknown = errors_of(&findings, "unknown");
    assert_eq!(unknown.len(), 1, "{findings:#?}");
    assert!(unknown[0]["problem"]
        .as_str()
        .unwrap()
        .contains("does not offer Apache Kafka 3.4.9"));
    assert!(errors_of(&findings, "fine").is_empty(), "{findings:#?}");
    let airflow = errors_of(&findings, "airflow");
    assert_eq!(airflow.len(), 1, "{findings:#?}");
    assert_eq!(airflow[0]["check"], "airflow_version");
    assert!(airflow[0]["fix"].as_str().unwrap().contains("2.10.3"));

    // The emulator refuses what MSK does not list, and a version past its end of support for a
    // new cluster, as MSK does.
    let kafka = emu.kafka().await;
    for (version, why) in [
        ("3.4.9", "Unsupported Kafka version 3.4.9"),
        ("3.6.0", "3.6.0 has reached its end of support"),
    ] {
        let e = kafka
            .create_cluster_v2()
            .cluster_name("direct")
            .provisioned(
                aws_sdk_kafka::types::ProvisionedRequest::builder()
                    .kafka_version(version)
                    .number_of_broker_nodes(2)
                    .broker_node_group_info(
                        aws_sdk_kafka::types::BrokerNodeGroupInfo::builder()
                            .instance_type("kafka.m5.large")
                            .client_subnets("subnet-a")
                            .client_subnets("subnet-b")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        use aws_smithy_types::error::metadata::ProvideErrorMetadata;
        assert_eq!(e.code(), Some("BadRequestException"), "{version}");
        assert!(e.message().unwrap_or_default().contains(why), "{e:?}");
    }
}

async fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&moto.config().await)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_type_not_offered_in_its_subnets_az_fails_plan() {
    let moto = Moto::start();
    let p = project(&moto);
    // t3 instances are not offered in use1-az3 (EC2 DescribeInstanceTypeOfferings by AZ id;
    // moto serves AWS's published offerings).
    p.stack(
        r#"
stack: offerings
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.9.0.0/16}
  az3:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.9.3.0/24, availability_zone_id: use1-az3}
  az1:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.9.1.0/24, availability_zone_id: use1-az1}
  small:
    type: ec2.instance
    props: {ami: ami-12c6146b, instance_type: t3.small, subnet_id: "${az3.id}"}
  micro:
    type: ec2.instance
    props: {ami: ami-12c6146b, instance_type: t2.micro, subnet_id: "${az3.id}"}
  elsewhere:
    type: ec2.instance
    props: {ami: ami-12c6146b, instance_type: t3.small, subnet_id: "${az1.id}"}
"#,
    );
    let findings = failed_findings(&p);
    let small = errors_of(&findings, "small");
    assert_eq!(small.len(), 1, "{findings:#?}");
    assert_eq!(small[0]["check"], "instance_type");
    assert!(
        small[0]["problem"]
            .as_str()
            .unwrap()
            .contains("t3.small is not offered in Availability Zone use1-az3"),
        "{small:#?}"
    );
    assert!(
        small[0]["fix"].as_str().unwrap().contains("use1-az1"),
        "{small:#?}"
    );
    assert!(errors_of(&findings, "micro").is_empty(), "{findings:#?}");
    assert!(
        errors_of(&findings, "elsewhere").is_empty(),
        "{findings:#?}"
    );
    // Nothing was created.
    let vpcs = ec2(&moto).await.describe_vpcs().send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "only moto's default VPC");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_past_the_vpc_quota_fails() {
    let moto = Moto::start();
    let ec2 = ec2(&moto).await;
    // moto's default VPC and 4 more: the account is at the default quota of 5 per region.
    for i in 0..4 {
        ec2.create_vpc()
            .cidr_block(format!("10.{}.0.0/16", 20 + i))
            .send()
            .await
            .unwrap();
    }
    let p = project(&moto);
    p.stack(
        r#"
stack: quotas
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.9.0.0/16}
"#,
    );
    let findings = failed_findings(&p);
    let vpc = errors_of(&findings, "vpc");
    assert_eq!(vpc.len(), 1, "{findings:#?}");
    assert_eq!(vpc[0]["check"], "quota");
    let problem = vpc[0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("VPCs per Region (vpc/L-F678F1CE): 5 in this region now, 1 more planned, the quota is 5"),
        "{problem}"
    );
    // With room again, the same plan passes preflight.
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let extra = vpcs
        .vpcs()
        .iter()
        .find(|v| v.is_default() != Some(true))
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    ec2.delete_vpc().vpc_id(extra).send().await.unwrap();
    p.run(&["plan"]).expect(2);
}

const CLUSTER: &str = r#"
stack: upgraded
resources:
  msk:
    type: msk.cluster
    props:
      name: upgraded-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.m5.large
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_aws_upgraded_is_drift_and_up_never_downgrades_it() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let mut p = project(&moto);
    p.env.extend(emu.env());
    p.stack(CLUSTER);
    p.run(&["up", "--yes"]).expect(0);
    let arn = p.physical_id("upgraded", "default", "msk");

    // AWS upgrades the cluster on its own (a version past its end of support).
    let kafka = emu.kafka().await;
    let current = kafka
        .describe_cluster_v2()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap()
        .cluster_info()
        .unwrap()
        .current_version()
        .unwrap()
        .to_string();
    kafka
        .update_cluster_kafka_version()
        .cluster_arn(&arn)
        .current_version(current)
        .target_kafka_version("3.9.x")
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let c = kafka
            .describe_cluster_v2()
            .cluster_arn(&arn)
            .send()
            .await
            .unwrap();
        let c = c.cluster_info().unwrap();
        let v = c
            .provisioned()
            .and_then(|p| p.current_broker_software_info())
            .and_then(|s| s.kafka_version())
            .map(str::to_string);
        if c.state() == Some(&aws_sdk_kafka::types::ClusterState::Active)
            && v.as_deref() == Some("3.9.x")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upgrade did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // `diff` shows it; `plan` and `up` refuse to take it back.
    let drift = p.drift_report();
    assert_eq!(
        drift.drifted_paths("msk"),
        vec!["kafka_version".to_string()]
    );
    let findings = failed_findings(&p);
    let msk = errors_of(&findings, "msk");
    assert_eq!(msk.len(), 1, "{findings:#?}");
    assert!(
        msk[0]["problem"]
            .as_str()
            .unwrap()
            .contains("the cluster runs Apache Kafka 3.9.x and the stack asks for 3.8.x"),
        "{msk:#?}"
    );
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(r.stderr.contains("Nothing was changed"), "{}", r.stderr);

    // The stack follows AWS: nothing left to do.
    p.stack(&CLUSTER.replace("3.8.x", "3.9.x"));
    let r = p.run(&["up", "--yes"]);
    r.expect(0);
    p.run(&["plan"]).expect(0);
    let v = kafka
        .describe_cluster_v2()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        v.cluster_info()
            .unwrap()
            .provisioned()
            .and_then(|p| p.current_broker_software_info())
            .and_then(|s| s.kafka_version()),
        Some("3.9.x")
    );
    p.run(&["down", "--yes"]).expect(0);
}

/// Two resources that would be one AWS resource (the same bucket name) are refused by `plan` and
/// `up`, naming both, before anything is created (a fresh-eyes review found `up` let both
/// "succeed" on one shared bucket: us-east-1 answers 200 to CreateBucket of one's own bucket).
#[tokio::test(flavor = "multi_thread")]
async fn two_resources_naming_one_bucket_are_refused_before_anything_is_created() {
    let moto = Moto::start();
    let p = project(&moto);
    p.stack(
        r#"
stack: twice
resources:
  a:
    type: s3.bucket
    props: {name: "same-${aws.account_hash}"}
  b:
    type: s3.bucket
    props: {name: "same-${aws.account_hash}"}
  c:
    type: s3.bucket
    props: {name: "other-${aws.account_hash}"}
"#,
    );
    for args in [&["plan"][..], &["up", "--yes"][..]] {
        let r = p.run(args);
        r.expect(1);
        assert!(
            r.stderr
                .contains("`a` and `b` are both s3.bucket named `same-"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let buckets = moto
        .s3()
        .await
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .len();
    assert_eq!(buckets, 0, "nothing created");
}

/// A prop naming another region than the credentials call (the stack's `region` param left at
/// us-east-1 while AWS_REGION says eu-west-1, as a fresh-eyes review tried) fails `plan`, naming
/// the prop and both regions.
#[test]
fn a_prop_naming_another_region_fails_plan() {
    let moto = Moto::start();
    let p = project(&moto);
    p.stack(
        r#"
stack: elsewhere
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.50.0.0/16}
  s3:
    type: ec2.vpc_endpoint
    props: {vpc_id: "${vpc.id}", service_name: com.amazonaws.eu-west-1.s3}
"#,
    );
    let r = p.run(&["plan"]);
    r.expect(1);
    assert!(
        r.stdout
            .contains("`service_name` names region eu-west-1, but the credentials call us-east-1")
            && r.stdout.contains("-p region=us-east-1"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
}
