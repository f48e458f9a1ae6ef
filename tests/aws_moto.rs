//! The AWS providers through the `pinctl` binary against moto server, checked with the official
//! SDK from the test: create, nothing to do the second time, in-place updates, replacements,
//! drift, repair, destroy — per resource kind, and for the moto-supported part of the pipeline.

use std::collections::BTreeMap;

use crate::util::calls::{calls, mutating, reset as reset_calls};
use crate::util::plan::{Action, DriftExt, PlanExt};
use crate::util::{Moto, Project};
use serde_json::{json, Value};

fn project(moto: &Moto) -> Project {
    let mut p = Project::new();
    p.env = moto.env();
    p.env.push((
        "PINCTL_CALL_LOG".into(),
        p.path().join("calls.log").display().to_string(),
    ));
    p.env.push((
        "PINCTL_APIGW_RATES".into(),
        "CreateDeployment=20,CreateRestApi=20,DeleteRestApi=20,CreateResource=50".into(),
    ));
    p
}

#[track_caller]
fn converged(p: &Project, args: &[&str]) {
    reset_calls(p);
    let mut up = vec!["up", "--yes"];
    up.extend_from_slice(args);
    p.run(&up).expect(0);
    assert_eq!(
        mutating(p),
        Vec::<String>::new(),
        "a second up changed something"
    );
    let mut plan = vec!["plan"];
    plan.extend_from_slice(args);
    p.run(&plan).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_buckets_and_objects() {
    let moto = Moto::start();
    let p = project(&moto);
    let s3 = moto.s3().await;
    let stack = r#"
stack: s3
resources:
  bucket:
    type: s3.bucket
    props: {name: pin-data-bucket, force_destroy: true}
  obj:
    type: s3.object
    props: {bucket: "${bucket.name}", key: dags/a.py, content: "print('a')\n", content_type: text/x-python}
"#;
    p.stack(stack);
    p.run(&["up", "--yes"]).expect(0);
    let tags = s3
        .get_bucket_tagging()
        .bucket("pin-data-bucket")
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<_, _> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_eq!(tags.get("pinctl:stack").map(String::as_str), Some("s3"));
    assert_eq!(tags.get("pinctl:id").map(String::as_str), Some("bucket"));
    let pab = s3
        .get_public_access_block()
        .bucket("pin-data-bucket")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pab.public_access_block_configuration()
            .unwrap()
            .block_public_acls(),
        Some(true)
    );
    let body = s3
        .get_object()
        .bucket("pin-data-bucket")
        .key("dags/a.py")
        .send()
        .await
        .unwrap();
    assert_eq!(
        body.body.collect().await.unwrap().into_bytes().as_ref(),
        b"print('a')\n"
    );
    converged(&p, &[]);

    // In place: versioning on, new content.
    let changed = stack
        .replace(
            "force_destroy: true}",
            "force_destroy: true, versioning: true}",
        )
        .replace("print('a')", "print('b')");
    p.stack(&changed);
    let plan = p.plan_changes();
    assert_eq!(plan.action("bucket"), Action::Update);
    assert_eq!(plan.changed_paths("bucket"), vec!["versioning"]);
    assert_eq!(plan.action("obj"), Action::Update);
    p.run(&["up", "--yes"]).expect(0);
    let body = s3
        .get_object()
        .bucket("pin-data-bucket")
        .key("dags/a.py")
        .send()
        .await
        .unwrap();
    assert_eq!(
        body.body.collect().await.unwrap().into_bytes().as_ref(),
        b"print('b')\n"
    );
    converged(&p, &[]);

    // A new key replaces the object: the old one goes.
    let moved = changed.replace("dags/a.py", "dags/b.py");
    p.stack(&moved);
    let plan = p.plan_changes();
    assert_eq!(plan.action("obj"), Action::Replace);
    p.run(&["up", "--yes"]).expect(0);
    assert!(s3
        .head_object()
        .bucket("pin-data-bucket")
        .key("dags/a.py")
        .send()
        .await
        .is_err());
    assert!(s3
        .head_object()
        .bucket("pin-data-bucket")
        .key("dags/b.py")
        .send()
        .await
        .is_ok());

    // Out of band: someone uploads other content.
    s3.put_object()
        .bucket("pin-data-bucket")
        .key("dags/b.py")
        .body(b"oops".to_vec().into())
        .send()
        .await
        .unwrap();
    let fields = p.drift_report().drifted_paths("obj");
    assert!(
        fields.contains(&"sha256".to_string()) && fields.contains(&"content".to_string()),
        "{fields:?}"
    );
    p.run(&["up", "--yes"]).expect(0);
    let body = s3
        .get_object()
        .bucket("pin-data-bucket")
        .key("dags/b.py")
        .send()
        .await
        .unwrap();
    assert_eq!(
        body.body.collect().await.unwrap().into_bytes().as_ref(),
        b"print('b')\n"
    );
    p.run(&["diff"]).expect(0);

    p.run(&["down", "--yes"]).expect(0);
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(
        buckets.buckets().is_empty(),
        "bucket left: {:?}",
        buckets.buckets()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_roles_policies_and_profiles() {
    let moto = Moto::start();
    let p = project(&moto);
    let iam = aws_sdk_iam::Client::new(&moto.config().await);
    let stack = r#"
stack: iam
resources:
  stream:
    type: kinesis.stream
    props: {name: streaming-abc-pin}
  role:
    type: iam.role
    props:
      name: abc-ec2-access-role
      description: first
      trusted_services: [ec2.amazonaws.com]
      managed_policy_arns: [arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]
      policies:
        read:
          - actions: [kinesis:GetRecords]
            resources: ["${stream.arn}"]
  extra:
    type: iam.role_policy
    props:
      role: ${role.name}
      name: extra
      statements:
        - actions: [kinesis:DescribeStream]
          resources: ["${stream.arn}"]
  profile:
    type: iam.instance_profile
    props: {name: abc-profile, role: "${role.name}"}
"#;
    p.stack(stack);
    p.run(&["up", "--yes"]).expect(0);
    let role = iam
        .get_role()
        .role_name("abc-ec2-access-role")
        .send()
        .await
        .unwrap();
    let trust = percent_encoding::percent_decode_str(
        role.role().unwrap().assume_role_policy_document().unwrap(),
    )
    .decode_utf8_lossy()
    .to_string();
    assert!(trust.contains("ec2.amazonaws.com"), "{trust}");
    let names = iam
        .list_role_policies()
        .role_name("abc-ec2-access-role")
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = names.policy_names().to_vec();
    names.sort();
    assert_eq!(names, vec!["extra", "read"]);
    let doc = iam
        .get_role_policy()
        .role_name("abc-ec2-access-role")
        .policy_name("read")
        .send()
        .await
        .unwrap();
    let doc = percent_encoding::percent_decode_str(doc.policy_document())
        .decode_utf8_lossy()
        .to_string();
    assert!(
        doc.contains("arn:aws:kinesis:us-east-1:123456789012:stream/streaming-abc-pin"),
        "scoped to the stack's ARN: {doc}"
    );
    let ip = iam
        .get_instance_profile()
        .instance_profile_name("abc-profile")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ip.instance_profile().unwrap().roles()[0].role_name(),
        "abc-ec2-access-role"
    );
    converged(&p, &[]);

    // In place: description and a policy statement; the separate role_policy is kept.
    p.stack(
        &stack
            .replace("description: first", "description: second")
            .replace(
                "[kinesis:GetRecords]",
                "[kinesis:GetRecords, kinesis:GetShardIterator]",
            ),
    );
    let plan = p.plan_changes();
    assert_eq!(plan.action("role"), Action::Update);
    let role_id = p.physical_id("iam", "default", "role");
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(p.physical_id("iam", "default", "role"), role_id);
    let role = iam
        .get_role()
        .role_name("abc-ec2-access-role")
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().unwrap().description(), Some("second"));
    let names = iam
        .list_role_policies()
        .role_name("abc-ec2-access-role")
        .send()
        .await
        .unwrap();
    assert_eq!(
        names.policy_names().len(),
        2,
        "the role does not remove the role_policy's statement"
    );
    converged(&p, &[]);

    // Out of band: a managed policy detached.
    iam.detach_role_policy()
        .role_name("abc-ec2-access-role")
        .policy_arn("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.drift_report().drifted_paths("role"),
        vec!["managed_policy_arns"]
    );
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);

    // Least privilege: a `*` action is refused with the resource named.
    p.stack(&stack.replace("[kinesis:DescribeStream]", "[\"kinesis:*\"]"));
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stderr.contains("extra") && r.stderr.contains("`kinesis:*` grants everything"),
        "{}",
        r.stderr
    );
    p.stack(stack);

    // A new name replaces the role.
    p.stack(&stack.replace("name: abc-ec2-access-role", "name: abc-ec2-access-role-2"));
    let plan = p.plan_changes();
    assert_eq!(plan.action("role"), Action::Replace);
    p.run(&["up", "--yes"]).expect(0);
    assert!(iam
        .get_role()
        .role_name("abc-ec2-access-role")
        .send()
        .await
        .is_err());
    assert!(iam
        .get_role()
        .role_name("abc-ec2-access-role-2")
        .send()
        .await
        .is_ok());
    converged(&p, &[]);

    p.run(&["down", "--yes"]).expect(0);
    let roles = iam.list_roles().send().await.unwrap();
    assert!(
        roles
            .roles()
            .iter()
            .all(|r| !r.role_name().starts_with("abc-")),
        "roles left"
    );
    let profiles = iam.list_instance_profiles().send().await.unwrap();
    assert!(profiles.instance_profiles().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ec2_network_key_pair_security_group_and_instance() {
    let moto = Moto::start();
    let p = project(&moto);
    let ec2 = aws_sdk_ec2::Client::new(&moto.config().await);
    p.write(
        "templates/user-data.sh",
        "#!/bin/bash\necho ${vars.greeting} > /tmp/hello\n",
    );
    let stack = r#"
stack: ec2
resources:
  network:
    type: ec2.default_network
    props: {subnet_count: 2}
  key:
    type: ec2.key_pair
    props: {name: abc-key-pair, private_key_file: keys/abc.pem}
  sg:
    type: ec2.security_group
    props:
      name: abc-client-sg
      description: client
      vpc_id: ${network.vpc_id}
      ingress:
        - {description: ssh, port: 22, cidr: 203.0.113.7/32}
  client:
    type: ec2.instance
    props:
      ami_ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
      instance_type: t2.micro
      key_name: ${key.name}
      subnet_id: ${network.subnet_id}
      security_group_ids: ["${sg.id}"]
      user_data:
        template: templates/user-data.sh
        vars: {greeting: hello}
      tags: {Name: abc-client}
"#;
    p.stack(stack);
    p.run(&["up", "--yes"]).expect(0);
    let key = p.path().join("keys/abc.pem");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .contains("PRIVATE KEY"));
    let state_text = std::fs::read_to_string(p.state_path("ec2", "default")).unwrap();
    assert!(
        !state_text.contains("PRIVATE KEY"),
        "the private key never goes to state"
    );
    let net = p.state("ec2", "default")["resources"]["network"]["outputs"].clone();
    assert_eq!(net["subnet_ids"].as_array().unwrap().len(), 2);
    let sg_id = p.physical_id("ec2", "default", "sg");
    let sg = ec2
        .describe_security_groups()
        .group_ids(&sg_id)
        .send()
        .await
        .unwrap();
    let perms = sg.security_groups()[0].ip_permissions();
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0].from_port(), Some(22));
    assert_eq!(perms[0].ip_ranges()[0].cidr_ip(), Some("203.0.113.7/32"));
    let instance_id = p.physical_id("ec2", "default", "client");
    let attr = ec2
        .describe_instance_attribute()
        .instance_id(&instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let ud = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        attr.user_data().unwrap().value().unwrap(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(ud).unwrap(),
        "#!/bin/bash\necho hello > /tmp/hello\n"
    );
    let outputs = p.state("ec2", "default")["resources"]["client"]["outputs"].clone();
    assert!(outputs["private_ip"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    converged(&p, &[]);

    // In place: a new rule, a bigger type.
    let changed = stack
        .replace("- {description: ssh, port: 22, cidr: 203.0.113.7/32}", "- {description: ssh, port: 22, cidr: 203.0.113.7/32}\n        - {description: proxy, port: 8082, cidr: 198.51.100.0/24}")
        .replace("t2.micro", "t3.small");
    p.stack(&changed);
    let plan = p.plan_changes();
    assert_eq!(plan.action("sg"), Action::Update);
    assert_eq!(plan.action("client"), Action::Update);
    assert_eq!(plan.changed_paths("client"), vec!["instance_type"]);
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(
        p.physical_id("ec2", "default", "client"),
        instance_id,
        "updated in place"
    );
    assert_eq!(p.physical_id("ec2", "default", "sg"), sg_id);
    let d = ec2
        .describe_instances()
        .instance_ids(&instance_id)
        .send()
        .await
        .unwrap();
    let i = &d.reservations()[0].instances()[0];
    assert_eq!(i.instance_type().unwrap().as_str(), "t3.small");
    converged(&p, &[]);

    // New user-data replaces the instance: it runs only at first boot (EC2 User Guide, "Run
    // commands when you launch an EC2 instance with user data input").
    let changed = changed.replace("greeting: hello", "greeting: bonjour");
    p.stack(&changed);
    let plan = p.plan_changes();
    assert_eq!(plan.action("client"), Action::Replace);
    let text = p.run(&["plan"]);
    assert!(
        text.stdout.contains("user_data: ")
            && text
                .stdout
                .contains("line 2: \"echo hello > /tmp/hello\" -> \"echo bonjour > /tmp/hello\"")
            && text.stdout.contains("first boot"),
        "{}",
        text.stdout
    );
    p.run(&["up", "--yes"]).expect(0);
    let instance_id = p.physical_id("ec2", "default", "client");
    let attr = ec2
        .describe_instance_attribute()
        .instance_id(&instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let ud = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        attr.user_data().unwrap().value().unwrap(),
    )
    .unwrap();
    assert!(String::from_utf8(ud).unwrap().contains("echo bonjour"));
    converged(&p, &[]);

    // Out of band: the SSH rule opened to the world.
    ec2.authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    assert_eq!(p.drift_report().drifted_paths("sg"), vec!["ingress"]);
    p.run(&["up", "--yes"]).expect(0);
    let sg = ec2
        .describe_security_groups()
        .group_ids(&sg_id)
        .send()
        .await
        .unwrap();
    let open: Vec<_> = sg.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter(|r| r.cidr_ip() == Some("0.0.0.0/0"))
        .collect();
    assert!(open.is_empty(), "the world is shut out again");

    // A different AMI replaces the instance.
    p.stack(&changed.replace(
        "ami_ssm_parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "ami: ami-12c6146b",
    ));
    let plan = p.plan_changes();
    assert_eq!(plan.action("client"), Action::Replace);
    p.run(&["up", "--yes"]).expect(0);
    assert_ne!(p.physical_id("ec2", "default", "client"), instance_id);

    p.run(&["down", "--yes"]).expect(0);
    let tagged = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:pinctl:stack")
                .values("ec2")
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .values("pending")
                .values("stopped")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        tagged
            .reservations()
            .iter()
            .all(|r| r.instances().is_empty()),
        "instances left"
    );
    let sgs = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:pinctl:stack")
                .values("ec2")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(sgs.security_groups().is_empty(), "security groups left");
    let keys = ec2.describe_key_pairs().send().await.unwrap();
    assert!(keys
        .key_pairs()
        .iter()
        .all(|k| k.key_name() != Some("abc-key-pair")));
    assert!(
        !key.exists(),
        "the private key of a deleted key pair is removed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kinesis_streams() {
    let moto = Moto::start();
    let p = project(&moto);
    let kinesis = aws_sdk_kinesis::Client::new(&moto.config().await);
    let stack = r#"
stack: kin
resources:
  pin:
    type: kinesis.stream
    props: {name: streaming-abc-pin, mode: provisioned, shard_count: 1}
"#;
    p.stack(stack);
    p.run(&["up", "--yes"]).expect(0);
    let s = kinesis
        .describe_stream_summary()
        .stream_name("streaming-abc-pin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary().unwrap().open_shard_count(),
        1
    );
    let tags = kinesis
        .list_tags_for_stream()
        .stream_name("streaming-abc-pin")
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "pinctl:id" && t.value() == Some("pin")));
    converged(&p, &[]);

    p.stack(&stack.replace("shard_count: 1}", "shard_count: 2, retention_hours: 48}"));
    let plan = p.plan_changes();
    let mut fields = plan.changed_paths("pin");
    fields.sort();
    assert_eq!(
        (plan.action("pin"), fields),
        (
            Action::Update,
            vec!["retention_hours".to_string(), "shard_count".to_string()]
        )
    );
    p.run(&["up", "--yes"]).expect(0);
    let s = kinesis
        .describe_stream_summary()
        .stream_name("streaming-abc-pin")
        .send()
        .await
        .unwrap();
    let s = s.stream_description_summary().unwrap();
    assert_eq!((s.open_shard_count(), s.retention_period_hours()), (2, 48));
    converged(&p, &[]);

    kinesis
        .increase_stream_retention_period()
        .stream_name("streaming-abc-pin")
        .retention_period_hours(72)
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.drift_report().drifted_paths("pin"),
        vec!["retention_hours"]
    );
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);

    p.stack(&stack.replace("streaming-abc-pin", "streaming-abc-pin2"));
    assert_eq!(p.plan_changes().action("pin"), Action::Replace);
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
    let left = kinesis.list_streams().send().await.unwrap();
    assert!(left.stream_names().is_empty(), "{:?}", left.stream_names());
}

const API: &str = r#"
stack: api
resources:
  stream:
    type: kinesis.stream
    props: {name: streaming-abc-pin}
  role:
    type: iam.role
    props:
      name: abc-apigw-role
      trusted_services: [apigateway.amazonaws.com]
      policies:
        put:
          - actions: [kinesis:PutRecord]
            resources: ["${stream.arn}"]
  api:
    type: apigateway.rest_api
    props:
      name: abc-api
      routes:
        - path: /{proxy+}
          method: ANY
          request_parameters: {method.request.path.proxy: true}
          integration:
            type: HTTP_PROXY
            http_method: ANY
            uri: http://proxy.example:8082/{proxy}
            request_parameters: {integration.request.path.proxy: method.request.path.proxy}
        - path: /streams/{stream-name}/record
          method: PUT
          integration:
            type: AWS
            http_method: POST
            uri: arn:aws:apigateway:us-east-1:kinesis:action/PutRecord
            credentials: ${role.arn}
            request_templates: {application/json: "{\"StreamName\": \"$input.params('stream-name')\"}"}
  deployment:
    type: apigateway.deployment
    props:
      rest_api_id: ${api.id}
      triggers: {definition: "${api.definition_hash}"}
  stage:
    type: apigateway.stage
    props: {rest_api_id: "${api.id}", name: dev, deployment_id: "${deployment.id}"}
"#;

const VALIDATED: &str = r#"
stack: api
resources:
  api:
    type: apigateway.rest_api
    props:
      name: abc-api
      models:
        Rec: {schema: "{\"type\": \"object\", \"required\": [\"Data\"]}"}
        Recs: {schema: {file: schemas/recs.json}}
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
  deployment:
    type: apigateway.deployment
    props:
      rest_api_id: ${api.id}
      triggers: {definition: "${api.definition_hash}"}
"#;

/// The API's models, by name, with their schemas as JSON.
async fn models(gw: &aws_sdk_apigateway::Client, api: &str) -> BTreeMap<String, Value> {
    gw.get_models()
        .rest_api_id(api)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .map(|m| {
            (
                m.name().unwrap().to_string(),
                serde_json::from_str(m.schema().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// The PUT method of the API's record route.
async fn record_method(
    gw: &aws_sdk_apigateway::Client,
    api: &str,
) -> aws_sdk_apigateway::operation::get_method::GetMethodOutput {
    let resources = gw.get_resources().rest_api_id(api).send().await.unwrap();
    let record = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/streams/{stream-name}/record"))
        .unwrap();
    gw.get_method()
        .rest_api_id(api)
        .resource_id(record.id().unwrap())
        .http_method("PUT")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn api_gateway_request_validation_as_declared() {
    let moto = Moto::start();
    let p = project(&moto);
    let gw = aws_sdk_apigateway::Client::new(&moto.config().await);
    p.write(
        "schemas/recs.json",
        r#"{"type": "object", "required": ["records"]}"#,
    );
    p.stack(VALIDATED);
    p.run(&["up", "--yes"]).expect(0);
    let api = p.physical_id("api", "default", "api");
    let m = models(&gw, &api).await;
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        ["Empty", "Error", "Rec", "Recs"],
        "the declared models beside API Gateway's predefined ones"
    );
    assert_eq!(m["Rec"], json!({"type": "object", "required": ["Data"]}));
    assert_eq!(
        m["Recs"],
        json!({"type": "object", "required": ["records"]}),
        "a schema given as {{file: ...}} is the file's JSON"
    );
    let validators = gw
        .get_request_validators()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    let [v] = validators.items() else {
        panic!("one validator: {validators:?}")
    };
    assert_eq!(
        (
            v.name(),
            v.validate_request_body(),
            v.validate_request_parameters()
        ),
        (Some("body"), true, false)
    );
    let method = record_method(&gw, &api).await;
    assert_eq!(method.request_validator_id(), v.id());
    assert_eq!(
        method
            .request_models()
            .unwrap()
            .get("application/json")
            .map(String::as_str),
        Some("Rec")
    );
    converged(&p, &[]);

    // A stricter schema: the model changes in place and the API is deployed again.
    p.stack(&VALIDATED.replace(
        r#"\"required\": [\"Data\"]"#,
        r#"\"required\": [\"Data\", \"PartitionKey\"]"#,
    ));
    let plan = p.plan_changes();
    assert_eq!(plan.action("api"), Action::Update);
    assert_eq!(plan.action("deployment"), Action::Replace);
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(
        models(&gw, &api).await["Rec"]["required"],
        json!(["Data", "PartitionKey"])
    );
    converged(&p, &[]);

    // A model made by hand in the console is drift; up removes it.
    gw.create_model()
        .rest_api_id(&api)
        .name("Stray")
        .content_type("application/json")
        .schema("{}")
        .send()
        .await
        .unwrap();
    let drifted = p.drift_report().drifted_paths("api");
    assert!(
        drifted.iter().any(|f| f.starts_with("models")),
        "{drifted:?}"
    );
    p.run(&["up", "--yes"]).expect(0);
    assert!(!models(&gw, &api).await.contains_key("Stray"));

    // Validation dropped: the method loses its validator, then the model and validator go.
    let plain = VALIDATED
        .replace("          request_validator: body\n", "")
        .replace("          request_models: {application/json: Rec}\n", "")
        .replace(
            "      models:\n        Rec: {schema: \"{\\\"type\\\": \\\"object\\\", \\\"required\\\": [\\\"Data\\\"]}\"}\n        Recs: {schema: {file: schemas/recs.json}}\n      request_validators:\n        body: {validate_request_body: true}\n",
            "",
        );
    assert!(
        !plain.contains("models:") && !plain.contains("request_validator"),
        "{plain}"
    );
    p.stack(&plain);
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(
        models(&gw, &api).await.keys().collect::<Vec<_>>(),
        ["Empty", "Error"]
    );
    let validators = gw
        .get_request_validators()
        .rest_api_id(&api)
        .send()
        .await
        .unwrap();
    assert!(validators.items().is_empty(), "{validators:?}");
    assert_eq!(record_method(&gw, &api).await.request_validator_id(), None);
    converged(&p, &[]);

    // What API Gateway refuses is refused by plan, before anything changes.
    p.stack(&VALIDATED.replace("request_validator: body", "request_validator: bodyy"));
    let r = p.run(&["plan"]);
    r.expect(1);
    assert!(
        r.stderr.contains(
            "request_validator `bodyy` is not one of the API's request_validators (body)"
        ),
        "{}",
        r.stderr
    );
    p.stack(&VALIDATED.replace("Rec", "Re_c"));
    let r = p.run(&["plan"]);
    r.expect(1);
    assert!(
        r.stderr
            .contains("models.Re_c: a model's name must be alphanumeric"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_gateway_routes_redeploy_the_stage() {
    let moto = Moto::start();
    let p = project(&moto);
    let gw = aws_sdk_apigateway::Client::new(&moto.config().await);
    p.stack(API);
    p.run(&["up", "--yes"]).expect(0);
    let api_id = p.physical_id("api", "default", "api");
    let resources = gw
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    let paths: Vec<&str> = resources.items().iter().filter_map(|r| r.path()).collect();
    assert!(
        paths.contains(&"/{proxy+}") && paths.contains(&"/streams/{stream-name}/record"),
        "{paths:?}"
    );
    let record = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/streams/{stream-name}/record"))
        .unwrap();
    let m = gw
        .get_method()
        .rest_api_id(&api_id)
        .resource_id(record.id().unwrap())
        .http_method("PUT")
        .send()
        .await
        .unwrap();
    let i = m.method_integration().unwrap();
    assert_eq!(
        i.uri(),
        Some("arn:aws:apigateway:us-east-1:kinesis:action/PutRecord")
    );
    assert!(i.credentials().unwrap().ends_with(":role/abc-apigw-role"));
    let stage = gw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("dev")
        .send()
        .await
        .unwrap();
    let first_deployment = stage.deployment_id().unwrap().to_string();
    let invoke = p.state("api", "default")["resources"]["stage"]["outputs"]["invoke_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        invoke,
        format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/dev")
    );
    converged(&p, &[]);

    // A route change: the API is updated in place, a new deployment is made, the stage moves.
    p.stack(&API.replace(
        "http://proxy.example:8082/{proxy}",
        "http://proxy.example:9092/{proxy}",
    ));
    let plan = p.plan_changes();
    assert_eq!(plan.action("api"), Action::Update);
    assert_eq!(
        (plan.action("deployment"), plan.changed_paths("deployment")),
        (Action::Replace, vec!["triggers.definition".to_string()])
    );
    assert_eq!(plan.action("stage"), Action::Update);
    reset_calls(&p);
    p.run(&["up", "--yes"]).expect(0);
    let stage = gw
        .get_stage()
        .rest_api_id(&api_id)
        .stage_name("dev")
        .send()
        .await
        .unwrap();
    assert_ne!(stage.deployment_id().unwrap(), first_deployment);
    assert!(
        gw.get_deployment()
            .rest_api_id(&api_id)
            .deployment_id(&first_deployment)
            .send()
            .await
            .is_err(),
        "the old deployment is deleted once unused"
    );
    let ops: Vec<String> = calls(&p).into_iter().map(|(_, _, op)| op).collect();
    let pos = |op: &str| {
        ops.iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("{op} not called: {ops:?}"))
    };
    assert!(
        pos("CreateDeployment") < pos("UpdateStage")
            && pos("UpdateStage") < pos("DeleteDeployment"),
        "{ops:?}"
    );
    converged(&p, &[]);

    // Out of band: the integration's URI edited in the console.
    let proxy = gw
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    let proxy = proxy
        .items()
        .iter()
        .find(|r| r.path() == Some("/{proxy+}"))
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    gw.put_integration()
        .rest_api_id(&api_id)
        .resource_id(&proxy)
        .http_method("ANY")
        .r#type(aws_sdk_apigateway::types::IntegrationType::HttpProxy)
        .integration_http_method("ANY")
        .uri("http://evil.example/{proxy}")
        .send()
        .await
        .unwrap();
    // The console edit replaced the integration: its URI and, with it, its request parameters.
    let fields = p.drift_report().drifted_paths("api");
    assert!(
        fields.contains(&"routes[0].integration.uri".to_string()),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .all(|f| f.starts_with("routes[0].integration.")),
        "{fields:?}"
    );
    p.run(&["up", "--yes"]).expect(0);
    let m = gw
        .get_method()
        .rest_api_id(&api_id)
        .resource_id(&proxy)
        .http_method("ANY")
        .send()
        .await
        .unwrap();
    assert_eq!(
        m.method_integration().unwrap().uri(),
        Some("http://proxy.example:9092/{proxy}")
    );
    p.run(&["diff"]).expect(0);

    p.run(&["down", "--yes"]).expect(0);
    assert!(gw.get_rest_apis().send().await.unwrap().items().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limiter_spaces_create_deployment_calls() {
    let moto = Moto::start();
    let mut p = project(&moto);
    p.env.retain(|(k, _)| k != "PINCTL_APIGW_RATES");
    // Two per second: with three APIs deployed in parallel, calls must be 500 ms apart.
    p.env.push((
        "PINCTL_APIGW_RATES".into(),
        "CreateDeployment=2,CreateRestApi=20,DeleteRestApi=20,CreateResource=50".into(),
    ));
    let mut stack = String::from("stack: lim\nresources:\n");
    for i in 0..3 {
        stack.push_str(&format!(
            "  api{i}:\n    type: apigateway.rest_api\n    props:\n      name: api{i}\n      routes:\n        - {{path: /x, method: GET, integration: {{type: MOCK, http_method: GET, uri: 'http://x'}}}}\n  dep{i}:\n    type: apigateway.deployment\n    props: {{rest_api_id: \"${{api{i}.id}}\"}}\n"
        ));
    }
    p.stack(&stack);
    p.run(&["up", "--yes", "--parallelism", "6"]).expect(0);
    let times: Vec<u128> = calls(&p)
        .into_iter()
        .filter(|(_, _, op)| op == "CreateDeployment")
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(times.len(), 3);
    // The limiter grants 500 ms apart; the log is written a little after each grant, later
    // under load, so a gap may look shorter by that delay. Unlimited, they are ~0-20 ms apart.
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= 400,
            "CreateDeployment calls {} ms apart: {times:?}",
            w[1] - w[0]
        );
    }
}
