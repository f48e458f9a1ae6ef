//! Drift that misses nothing a user cares about (issue 13, item 7), through the `pinctl`
//! binary against moto server and the emulator, with the changes made by hand through the
//! official SDK as a user would in the console:
//!
//! - lists AWS treats as sets (subnets, security groups, routes, rules) compare as sets: a
//!   reordered list is no change and never a replacement;
//! - props the stack leaves out are wanted at their defaults: a Kinesis retention or S3
//!   versioning changed by hand is drift;
//! - additions by hand to what the stack owns (an inline or managed policy on its role, a route
//!   in its route table) are drift, while what another resource of the stack adds (an
//!   `iam.role_policy`) is not;
//! - `diff` names each field and exits 2; `up` repairs it and `diff` exits 0 again.

use crate::util::plan::{Action, DriftExt, DriftStatus, PlanExt};
use crate::util::{Emulator, Moto, Project};

fn project(moto: &Moto) -> Project {
    let mut p = Project::new();
    p.env = moto.env();
    p
}

const OWNED: &str = r#"
stack: drift
resources:
  stream:
    type: kinesis.stream
    props: {name: drift-stream}
  bucket:
    type: s3.bucket
    props: {name: drift-bucket, force_destroy: true}
  role:
    type: iam.role
    props:
      name: drift-role
      trusted_services: [ec2.amazonaws.com]
      policies:
        read:
          - actions: [kinesis:GetRecords]
            resources: ["${stream.arn}"]
  describe:
    type: iam.role_policy
    props:
      role: ${role.name}
      name: describe
      statements:
        - actions: [kinesis:DescribeStream]
          resources: ["${stream.arn}"]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn defaults_changed_and_policies_added_by_hand_are_drift_and_up_repairs_them() {
    let moto = Moto::start();
    let p = project(&moto);
    let config = moto.config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let s3 = moto.s3().await;
    p.stack(OWNED);
    p.run(&["up", "--yes"]).expect(0);
    // The role_policy's policy is on the role, and is not the role's drift.
    p.run(&["diff"]).expect(0);
    p.run(&["plan"]).expect(0);

    // In the console: retention and versioning, which the stack never sets, and a policy of
    // each sort added to the stack's role.
    kinesis
        .increase_stream_retention_period()
        .stream_name("drift-stream")
        .retention_period_hours(48)
        .send()
        .await
        .unwrap();
    s3.put_bucket_versioning()
        .bucket("drift-bucket")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("drift-role")
        .policy_name("by-hand")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("drift-role")
        .policy_arn("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
        .send()
        .await
        .unwrap();

    let d = p.run(&["diff", "--json"]);
    d.expect(2);
    let report = d.drift();
    assert_eq!(report.drifted_paths("stream"), vec!["retention_hours"]);
    let retention = &report.resource("stream").changes[0];
    assert_eq!(
        (retention.recorded.clone(), retention.live.clone()),
        (Some(24.into()), Some(48.into())),
        "the default 24 h is what the stack wants"
    );
    assert_eq!(report.drifted_paths("bucket"), vec!["versioning"]);
    let mut role = report.drifted_paths("role");
    role.sort();
    assert_eq!(role, vec!["managed_policy_arns", "policies.by-hand"]);
    assert_eq!(report.resource("describe").status, DriftStatus::InSync);
    let text = p.run(&["diff"]);
    text.expect(2);
    for field in [
        "retention_hours",
        "versioning",
        "policies.by-hand",
        "managed_policy_arns",
    ] {
        assert!(text.stdout.contains(field), "{field}: {}", text.stdout);
    }

    let plan = p.plan_changes();
    for name in ["stream", "bucket", "role"] {
        assert_eq!(plan.action(name), Action::Update, "{name}: {plan:#?}");
    }
    assert_eq!(plan.action("describe"), Action::NoOp);
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);
    p.run(&["plan"]).expect(0);

    let s = kinesis
        .describe_stream_summary()
        .stream_name("drift-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary()
            .unwrap()
            .retention_period_hours(),
        24
    );
    let v = s3
        .get_bucket_versioning()
        .bucket("drift-bucket")
        .send()
        .await;
    // moto's answer has a root element the SDK may not parse; AWS keeps a once-versioned
    // bucket "Suspended", never unversioned again.
    if let Ok(v) = v {
        assert_eq!(
            v.status(),
            Some(&aws_sdk_s3::types::BucketVersioningStatus::Suspended)
        );
    }
    let mut names = iam
        .list_role_policies()
        .role_name("drift-role")
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec();
    names.sort();
    assert_eq!(
        names,
        vec!["describe", "read"],
        "the hand-added policy is deleted, the role_policy's kept"
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("drift-role")
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());

    // A hand-edited statement of a declared policy is repaired too, though what was recorded
    // equals what the stack wants.
    iam.put_role_policy()
        .role_name("drift-role")
        .policy_name("read")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let drifted = p.drift_report().drifted_paths("role");
    assert!(
        drifted.iter().all(|f| f.starts_with("policies.read")) && !drifted.is_empty(),
        "{drifted:?}"
    );
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
}

const NETWORK: &str = r#"
stack: net
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.40.0.0/16}
  igw:
    type: ec2.internet_gateway
    props: {vpc_id: "${vpc.id}"}
  a:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.40.1.0/24, availability_zone_id: use1-az1}
  b:
    type: ec2.subnet
    props: {vpc_id: "${vpc.id}", cidr: 10.40.2.0/24, availability_zone_id: use1-az2}
  rt:
    type: ec2.route_table
    props:
      vpc_id: ${vpc.id}
      routes:
        - {cidr: 0.0.0.0/0, gateway_id: "${igw.id}"}
        - {cidr: 198.51.100.0/24, gateway_id: "${igw.id}"}
      subnet_ids: ["${a.id}", "${b.id}"]
  sg:
    type: ec2.security_group
    props:
      name: drift-sg
      description: drift
      vpc_id: ${vpc.id}
      ingress:
        - {description: ssh, port: 22, cidr: 203.0.113.7/32}
        - {description: proxy, port: 8082, cidr: 10.40.0.0/16}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn reordered_sets_are_no_change_and_a_route_added_by_hand_is_drift() {
    let moto = Moto::start();
    let p = project(&moto);
    let ec2 = aws_sdk_ec2::Client::new(&moto.config().await);
    p.stack(NETWORK);
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["plan"]).expect(0);

    // The same routes, subnets and rules in another order: nothing to do.
    let reordered = NETWORK
        .replace(
            "        - {cidr: 0.0.0.0/0, gateway_id: \"${igw.id}\"}\n        - {cidr: 198.51.100.0/24, gateway_id: \"${igw.id}\"}",
            "        - {cidr: 198.51.100.0/24, gateway_id: \"${igw.id}\"}\n        - {cidr: 0.0.0.0/0, gateway_id: \"${igw.id}\"}",
        )
        .replace("[\"${a.id}\", \"${b.id}\"]", "[\"${b.id}\", \"${a.id}\"]")
        .replace(
            "        - {description: ssh, port: 22, cidr: 203.0.113.7/32}\n        - {description: proxy, port: 8082, cidr: 10.40.0.0/16}",
            "        - {description: proxy, port: 8082, cidr: 10.40.0.0/16}\n        - {description: ssh, port: 22, cidr: 203.0.113.7/32}",
        );
    assert_ne!(reordered, NETWORK);
    p.stack(&reordered);
    p.run(&["plan"]).expect(0);
    p.run(&["diff"]).expect(0);

    // In the console: a route added to the stack's table.
    let rt = p.physical_id("net", "default", "rt");
    let igw = p.physical_id("net", "default", "igw");
    ec2.create_route()
        .route_table_id(&rt)
        .destination_cidr_block("192.0.2.0/24")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let d = p.run(&["diff", "--json"]);
    d.expect(2);
    assert_eq!(d.drift().drifted_paths("rt"), vec!["routes"]);
    assert_eq!(p.plan_changes().action("rt"), Action::Update);
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);
    let t = ec2
        .describe_route_tables()
        .route_table_ids(&rt)
        .send()
        .await
        .unwrap();
    let cidrs: Vec<&str> = t.route_tables()[0]
        .routes()
        .iter()
        .filter_map(|r| r.destination_cidr_block())
        .collect();
    assert!(!cidrs.contains(&"192.0.2.0/24"), "{cidrs:?}");
    assert!(cidrs.contains(&"198.51.100.0/24"), "{cidrs:?}");
    p.run(&["down", "--yes"]).expect(0);
}

#[test]
fn a_reordered_subnet_list_is_neither_a_change_nor_a_replacement() {
    let moto = Moto::start();
    let emu = Emulator::start("100ms", None);
    let mut p = project(&moto);
    p.env.extend(emu.env());
    let stack = r#"
stack: msk
resources:
  msk:
    type: msk.cluster
    props:
      name: drift-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
      security_groups: [sg-1, sg-2]
"#;
    p.stack(stack);
    p.run(&["up", "--yes"]).expect(0);
    p.stack(
        &stack
            .replace("[subnet-a, subnet-b]", "[subnet-b, subnet-a]")
            .replace("[sg-1, sg-2]", "[sg-2, sg-1]"),
    );
    let plan = p.run(&["plan", "--json"]);
    plan.expect(0);
    assert_eq!(plan.plan().action("msk"), Action::NoOp);
    p.run(&["diff"]).expect(0);
    // A different subnet still replaces it, naming the field.
    p.stack(&stack.replace("[subnet-a, subnet-b]", "[subnet-a, subnet-c]"));
    let plan = p.plan_changes();
    assert_eq!(plan.action("msk"), Action::Replace);
    let change = plan
        .resource("msk")
        .changes
        .iter()
        .find(|c| c.path == "client_subnets")
        .expect("client_subnets changes");
    assert!(change.forces_replacement, "{change:?}");
    p.stack(stack);
    p.run(&["down", "--yes"]).expect(0);
}

const LOOK_ALIKES: &str = r#"
stack: looks
resources:
  vpc:
    type: ec2.vpc
    props: {cidr: 10.20.0.0/16}
  stream:
    type: kinesis.stream
    props: {name: looks-stream}
  bucket:
    type: s3.bucket
    props: {name: looks-bucket, force_destroy: true}
"#;

/// (type, physical id, the stack's resource it looks like) of each look-alike `diff
/// --unmanaged --json` lists, sorted.
fn look_alikes(r: &crate::util::Run) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .drift()
        .unmanaged
        .expect("--unmanaged reports its look-alikes")
        .into_iter()
        .map(|l| (l.kind, l.physical_id, l.like))
        .collect();
    v.sort();
    v
}

/// Issue 17 item 3: what a copy made by hand (the stack's names, no tags) or a teardown that
/// lost its state (the stack's tags) leaves in the account is listed by `diff --unmanaged`, with
/// exit 2, and what the state holds never is.
#[tokio::test(flavor = "multi_thread")]
async fn unmanaged_look_alikes_are_listed_and_exit_2() {
    let moto = Moto::start();
    let p = project(&moto);
    let config = moto.config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let s3 = moto.s3().await;
    p.stack(LOOK_ALIKES);
    let none = p.run(&["diff", "--unmanaged", "--json"]);
    none.expect(0);
    assert!(look_alikes(&none).is_empty());

    // A copy made by hand, under the stack's names.
    s3.create_bucket()
        .bucket("looks-bucket")
        .send()
        .await
        .unwrap();
    kinesis
        .create_stream()
        .stream_name("looks-stream")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let found = p.run(&["diff", "--unmanaged", "--json"]);
    found.expect(2);
    assert_eq!(
        look_alikes(&found),
        vec![
            (
                "kinesis.stream".into(),
                "looks-stream".into(),
                "stream".into()
            ),
            ("s3.bucket".into(), "looks-bucket".into(), "bucket".into()),
        ]
    );
    let md = p.run(&["diff", "--unmanaged", "--format", "markdown"]);
    md.expect(2);
    assert!(
        md.stdout
            .contains("| `s3.bucket` | `looks-bucket` | `bucket` | named `looks-bucket` |"),
        "{}",
        md.stdout
    );
    let text = p.run(&["diff", "--unmanaged"]);
    text.expect(2);
    assert!(
        text.stdout
            .contains("2 live resources look like this stack's"),
        "{}",
        text.stdout
    );
    s3.delete_bucket()
        .bucket("looks-bucket")
        .send()
        .await
        .unwrap();
    kinesis
        .delete_stream()
        .stream_name("looks-stream")
        .send()
        .await
        .unwrap();

    // The stack applied: what its state holds is not a look-alike.
    p.run(&["up", "--yes"]).expect(0);
    let managed = p.run(&["diff", "--unmanaged", "--json"]);
    managed.expect(0);
    assert!(look_alikes(&managed).is_empty(), "{}", managed.stdout);

    // A teardown that lost its state: everything is left, found by name and by tags.
    let vpc = p.physical_id("looks", "default", "vpc");
    std::fs::remove_file(p.state_path("looks", "default")).unwrap();
    let left = p.run(&["diff", "--unmanaged", "--json"]);
    left.expect(2);
    assert_eq!(
        look_alikes(&left),
        vec![
            ("ec2.vpc".into(), vpc, "vpc".into()),
            (
                "kinesis.stream".into(),
                "looks-stream".into(),
                "stream".into()
            ),
            ("s3.bucket".into(), "looks-bucket".into(), "bucket".into()),
        ]
    );
}
