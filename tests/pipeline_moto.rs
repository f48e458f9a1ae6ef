//! The whole of `stacks/pinterest.yaml` with `--env local` against moto server and the pinctl
//! emulator (MSK, MSK Connect, MWAA). It goes up, plans clean, survives kill -9 at several
//! points without duplicates, and comes down leaving nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::util::plan::{Action, PlanExt};
use crate::util::{emulated, scan, sorted, Emulator, Moto, Project};

/// Kinds no local service holds yet.
const NOT_LOCAL: &[&str] = &[];

fn pipeline(moto: &Moto, emu: &Emulator) -> Project {
    let mut p = Project::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(p.path().join("stacks")).unwrap();
    std::fs::copy(
        root.join("stacks/pinterest.yaml"),
        p.path().join("stacks/pinterest.yaml"),
    )
    .unwrap();
    crate::util::copy_repo_dirs(p.path(), &["templates", "plugins", "jobs"]);
    p.file = "stacks/pinterest.yaml".into();
    p.env = moto.env();
    p.env.extend(emu.env());
    // The worker rollout ships this very binary.
    p.env.push((
        "PINCTL_WORKER_BINARY".into(),
        env!("CARGO_BIN_EXE_pinctl").into(),
    ));
    p.env.push((
        "PINCTL_APIGW_RATES".into(),
        "CreateDeployment=20,CreateRestApi=20,DeleteRestApi=20,CreateResource=50".into(),
    ));
    p.env.push((
        "PINCTL_CALL_LOG".into(),
        p.path().join("calls.log").display().to_string(),
    ));
    p
}

/// The resources moto can hold: their kind is supported and so is everything they need.
fn supported(p: &Project) -> Vec<String> {
    let plan = p.run(&["--env", "local", "plan", "--json", "--no-refresh"]);
    plan.expect(2);
    let mut kind = BTreeMap::new();
    let mut deps = BTreeMap::new();
    for r in plan.plan().resources {
        kind.insert(r.name.clone(), r.kind);
        deps.insert(r.name, r.depends_on);
    }
    fn ok(n: &str, kind: &BTreeMap<String, String>, deps: &BTreeMap<String, Vec<String>>) -> bool {
        !NOT_LOCAL.iter().any(|k| kind[n].starts_with(k))
            && deps[n].iter().all(|d| ok(d, kind, deps))
    }
    kind.keys()
        .filter(|n| ok(n, &kind, &deps))
        .cloned()
        .collect()
}

fn with_targets<'a>(base: &[&'a str], targets: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = base.to_vec();
    for t in targets {
        v.push("--target");
        v.push(t);
    }
    v
}

/// What the emulator still holds.

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_goes_up_plans_clean_and_comes_down() {
    let moto = Moto::start();
    let emu = Emulator::start_on("100ms", &moto);
    let p = pipeline(&moto, &emu);
    let targets = supported(&p);
    for must in [
        "msk",
        "workers",
        "topic_pin",
        "sink",
        "mwaa",
        "data_bucket",
        "client",
        "client_profile",
        "api",
        "api_deployment",
        "api_stage",
        "stream_pin",
        "dag",
        "mwaa_role",
        "msk_sg",
    ] {
        assert!(
            targets.iter().any(|t| t == must),
            "{must} should be supported: {targets:?}"
        );
    }
    let up = p.run(&with_targets(&["--env", "local", "up", "--yes"], &targets));
    up.expect(0);
    let s = scan(&moto).await;
    assert_eq!(
        sorted(s.buckets.clone()),
        vec![
            "mwaa-dags-0e36c8cd403d-1fd162ee33-bucket",
            "pinctl-artifacts-0e36c8cd403d-1fd162ee33",
            "user-0e36c8cd403d-1fd162ee33-bucket"
        ]
    );
    assert_eq!(s.instances.len(), 1);
    // A VPC, 4 subnets, an internet gateway, a NAT gateway and its Elastic IP, 3 route tables
    // and an S3 endpoint.
    assert_eq!(s.network.len(), 12, "{:?}", s.network);
    // The load balancer, its listener, the target group and the VPC link.
    assert_eq!(s.private_path.len(), 4, "{:?}", s.private_path);
    assert_eq!(
        sorted(s.streams.clone()),
        vec![
            "streaming-0e36c8cd403d-geo",
            "streaming-0e36c8cd403d-pin",
            "streaming-0e36c8cd403d-user"
        ]
    );
    assert_eq!(s.apis, vec!["0e36c8cd403d-pinterest-api"]);
    assert_eq!(
        sorted(s.groups.clone()),
        vec![
            "0e36c8cd403d-client-sg",
            "0e36c8cd403d-emr-sg",
            "0e36c8cd403d-msk-sg",
            "0e36c8cd403d-mwaa-sg"
        ]
    );
    assert_eq!(s.emr_apps, vec!["0e36c8cd403d-batch"]);

    // The DAG file and the API are what the stack says, with the resolved values.
    let dag = moto
        .s3()
        .await
        .get_object()
        .bucket("mwaa-dags-0e36c8cd403d-1fd162ee33-bucket")
        .key("dags/0e36c8cd403d_dag.py")
        .send()
        .await
        .unwrap();
    let dag = String::from_utf8(dag.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(
        dag.contains("UID = \"0e36c8cd403d\"") && dag.contains("RUNNER = \"local\""),
        "{dag}"
    );
    let state = p.state("pinterest", "local");
    let lb_dns = state["resources"]["proxy_lb"]["outputs"]["dns_name"]
        .as_str()
        .unwrap()
        .to_string();
    let link = state["resources"]["proxy_link"]["physical_id"]
        .as_str()
        .unwrap()
        .to_string();
    let api_id = state["resources"]["api"]["physical_id"]
        .as_str()
        .unwrap()
        .to_string();
    let gw = aws_sdk_apigateway::Client::new(&moto.config().await);
    let res = gw
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap();
    let proxy = res
        .items()
        .iter()
        .find(|r| r.path() == Some("/{proxy+}"))
        .unwrap();
    let m = gw
        .get_method()
        .rest_api_id(&api_id)
        .resource_id(proxy.id().unwrap())
        .http_method("ANY")
        .send()
        .await
        .unwrap();
    // The batch path is private: through the VPC link to the internal load balancer.
    let i = m.method_integration().unwrap();
    assert_eq!(i.uri().unwrap(), format!("http://{lb_dns}:8082/{{proxy}}"));
    assert_eq!(
        (i.connection_type(), i.connection_id()),
        (
            Some(&aws_sdk_apigateway::types::ConnectionType::VpcLink),
            Some(link.as_str())
        )
    );

    // Least privilege (issue 13): no inline policy of the stack's roles grants a whole service
    // or everything, and no security group admits the internet.
    let iam = aws_sdk_iam::Client::new(&moto.config().await);
    for role in iam.list_roles().send().await.unwrap().roles() {
        let name = role.role_name();
        let policies = iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap();
        for policy in policies.policy_names() {
            let doc = iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .unwrap();
            let text = percent_encoding::percent_decode_str(doc.policy_document())
                .decode_utf8()
                .unwrap()
                .to_string();
            let doc: Value = serde_json::from_str(&text).unwrap();
            let statements = match &doc["Statement"] {
                Value::Array(a) => a.clone(),
                one => vec![one.clone()],
            };
            for st in statements {
                let actions = match &st["Action"] {
                    Value::Array(a) => a.clone(),
                    one => vec![one.clone()],
                };
                for a in actions {
                    let a = a.as_str().unwrap_or_default();
                    assert!(
                        a != "*" && !a.ends_with(":*"),
                        "role {name}, policy {policy} grants `{a}`"
                    );
                }
            }
        }
    }
    let ec2 = aws_sdk_ec2::Client::new(&moto.config().await);
    for g in ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        for rule in g.ip_permissions() {
            assert!(
                rule.ip_ranges()
                    .iter()
                    .all(|r| r.cidr_ip() != Some("0.0.0.0/0")),
                "security group {:?} admits 0.0.0.0/0: {rule:?}",
                g.group_name()
            );
        }
    }
    let paths: BTreeSet<&str> = res.items().iter().filter_map(|r| r.path()).collect();
    for path in [
        "/streams",
        "/streams/{stream-name}",
        "/streams/{stream-name}/record",
        "/streams/{stream-name}/records",
    ] {
        assert!(paths.contains(path), "{path} missing: {paths:?}");
    }

    // Nothing to do the second time: only reads.
    let _ = std::fs::remove_file(p.path().join("calls.log"));
    p.run(&with_targets(&["--env", "local", "up", "--yes"], &targets))
        .expect(0);
    let calls = std::fs::read_to_string(p.path().join("calls.log")).unwrap_or_default();
    let writes: Vec<&str> = calls
        .lines()
        .map(|l| l.split_once(' ').unwrap().1)
        .filter(|l| {
            !["Get", "Describe", "List", "Head"]
                .iter()
                .any(|r| l.split(' ').nth(1).unwrap().starts_with(r))
        })
        .collect();
    assert!(writes.is_empty(), "a second up made changes: {writes:?}");
    p.run(&with_targets(&["--env", "local", "plan"], &targets))
        .expect(0);
    p.run(&["--env", "local", "diff"]).expect(0);

    // The workers are in the artifact bucket; a new binary is rolled out through SSM.
    let s3 = moto.s3().await;
    for key in [
        "workers/pinctl",
        "workers/files/pinctl-rest-proxy.service",
        "workers/files/kafka-rest.properties",
    ] {
        s3.head_object()
            .bucket("pinctl-artifacts-0e36c8cd403d-1fd162ee33")
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let unit = s3
        .get_object()
        .bucket("pinctl-artifacts-0e36c8cd403d-1fd162ee33")
        .key("workers/files/pinctl-rest-proxy.service")
        .send()
        .await
        .unwrap();
    let unit = String::from_utf8(unit.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(unit.contains("--listen 0.0.0.0:8082"), "{unit}");
    // `files_sha256` identifies the files shipped: name and content digest of each.
    let workers = p.state("pinterest", "local")["resources"]["workers"].clone();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    let files: BTreeMap<&String, &Value> = workers["props"]["files"]
        .as_object()
        .unwrap()
        .iter()
        .collect();
    for (name, content) in files {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            content.as_str().unwrap().as_bytes(),
        ));
        sha2::Digest::update(&mut h, format!("{name}\0{sha}\0").as_bytes());
    }
    assert_eq!(
        workers["outputs"]["files_sha256"],
        hex::encode(sha2::Digest::finalize(h)),
        "{workers}"
    );
    let mut newer = std::fs::read(env!("CARGO_BIN_EXE_pinctl")).unwrap();
    newer.extend_from_slice(b"\0new build");
    std::fs::write(p.path().join("pinctl-next"), &newer).unwrap();
    let mut p = p;
    p.env.retain(|(k, _)| k != "PINCTL_WORKER_BINARY");
    p.env.push((
        "PINCTL_WORKER_BINARY".into(),
        p.path().join("pinctl-next").display().to_string(),
    ));
    let plan = p.run(&with_targets(
        &["--env", "local", "plan", "--json"],
        &targets,
    ));
    plan.expect(2);
    let plan = plan.plan();
    let workers = plan.resource("workers");
    assert_eq!(workers.action, Action::Update);
    assert!(
        workers.changes.iter().any(|c| c.path == "binary_sha256"),
        "{workers:?}"
    );
    let _ = std::fs::remove_file(p.path().join("calls.log"));
    p.run(&with_targets(&["--env", "local", "up", "--yes"], &targets))
        .expect(0);
    let calls = std::fs::read_to_string(p.path().join("calls.log")).unwrap_or_default();
    assert!(
        calls.contains("SSM SendCommand") && calls.contains("SSM GetCommandInvocation"),
        "{calls}"
    );
    p.run(&with_targets(&["--env", "local", "plan"], &targets))
        .expect(0);

    p.run(&["--env", "local", "down", "--yes"]).expect(0);
    let s = scan(&moto).await;
    assert!(s.buckets.is_empty() && s.instances.is_empty() && s.groups.is_empty() && s.streams.is_empty() && s.apis.is_empty() && s.roles.is_empty() && s.keys.is_empty() && s.network.is_empty() && s.private_path.is_empty() && s.emr_apps.is_empty(),
        "left behind: buckets {:?} instances {:?} groups {:?} streams {:?} apis {:?} roles {:?} keys {:?} network {:?} private path {:?}", s.buckets, s.instances, s.groups, s.streams, s.apis, s.roles, s.keys, s.network, s.private_path);
    assert_eq!(
        p.state("pinterest", "local")["resources"],
        serde_json::json!({})
    );
    assert_eq!(
        emulated(&emu).await,
        (0, 0, 0),
        "clusters, connectors, environments left in the emulator"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_any_point_the_pipeline_converges_without_duplicates() {
    let mut interrupted = 0;
    for kill_after_ms in [60u64, 250, 600, 1200] {
        let moto = Moto::start();
        let emu = Emulator::start_on("100ms", &moto);
        let p = pipeline(&moto, &emu);
        let targets = supported(&p);
        let args = with_targets(&["--env", "local", "up", "--yes"], &targets);
        let mut child = p.spawn(&args);
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        let _ = child.wait();
        if !finished {
            interrupted += 1;
        }
        p.run(&args).expect(0);
        p.run(&with_targets(&["--env", "local", "plan"], &targets))
            .expect(0);
        let s = scan(&moto).await;
        assert_eq!(
            s.instances.len(),
            1,
            "killed at {kill_after_ms} ms: instances {:?}",
            s.instances
        );
        assert_eq!(
            s.apis.len(),
            1,
            "killed at {kill_after_ms} ms: APIs {:?}",
            s.apis
        );
        assert_eq!(
            s.groups.len(),
            4,
            "killed at {kill_after_ms} ms: groups {:?}",
            s.groups
        );
        assert_eq!(
            s.emr_apps.len(),
            1,
            "killed at {kill_after_ms} ms: EMR Serverless applications {:?}",
            s.emr_apps
        );
        assert_eq!(
            s.network.len(),
            12,
            "killed at {kill_after_ms} ms: network {:?}",
            s.network
        );
        assert_eq!(
            s.private_path.len(),
            4,
            "killed at {kill_after_ms} ms: private path {:?}",
            s.private_path
        );
        assert_eq!(s.buckets.len(), 3);
        assert_eq!(s.streams.len(), 3);
        assert_eq!(s.keys.len(), 1);
        let state = p.state("pinterest", "local");
        for (name, r) in state["resources"].as_object().unwrap() {
            assert_eq!(
                r["status"], "ready",
                "killed at {kill_after_ms} ms: {name} is {}",
                r["status"]
            );
        }
        assert_eq!(
            emulated(&emu).await,
            (1, 1, 1),
            "killed at {kill_after_ms} ms: one cluster, connector, environment"
        );
        let instance = state["resources"]["client"]["physical_id"]
            .as_str()
            .unwrap();
        assert_eq!(
            s.instances,
            vec![instance.to_string()],
            "state points at the one instance"
        );
        p.run(&["--env", "local", "down", "--yes"]).expect(0);
    }
    assert!(
        interrupted >= 2,
        "the kills must land while the run is working ({interrupted} did)"
    );
}
