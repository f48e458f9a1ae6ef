//! The MSK, MSK Connect and MWAA providers through the `pinctl` binary, against the emulator
//! (and moto for S3 and IAM): create, nothing to do the second time, in-place updates,
//! replacements, drift and destroy, for every kind.

use crate::util::plan::{Action, DriftExt, PlanExt};
use crate::util::{Emulator, Moto, Project};
use base64::Engine as _;

fn project(moto: &Moto, emu: &Emulator) -> Project {
    let mut p = Project::new();
    p.env = moto.env();
    p.env.extend(emu.env());
    crate::util::copy_repo_dirs(p.path(), &["plugins", "templates"]);
    p
}

pub(crate) const STACK: &str = r#"
stack: kafka
resources:
  bucket:
    type: s3.bucket
    props: {name: abc-artifacts, force_destroy: true}
  msk:
    type: msk.cluster
    props:
      name: abc-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
      configuration: {auto.create.topics.enable: "false"}
  pin:
    type: msk.topic
    props:
      cluster_arn: ${msk.arn}
      name: abc.pin
      partitions: 1
      replication_factor: 2
      configs: {retention.ms: "604800000"}
  plugin:
    type: mskconnect.custom_plugin
    props:
      name: abc-plugin
      manifest: {file: plugins/pinctl-local-s3-sink-1.0.yaml}
      bucket: ${bucket.name}
  workers:
    type: mskconnect.worker_configuration
    props:
      name: abc-workers
      properties: {file: templates/connect/worker.properties}
  sink:
    type: mskconnect.connector
    props:
      name: abc-sink
      kafka_connect_version: 2.7.1
      plugin_arn: ${plugin.arn}
      plugin_revision: ${plugin.revision}
      worker_configuration_arn: ${workers.arn}
      worker_configuration_revision: ${workers.revision}
      service_execution_role_arn: arn:aws:iam::123456789012:role/abc-connect
      bootstrap_servers: ${msk.bootstrap_brokers_iam}
      subnets: [subnet-a, subnet-b]
      config:
        template: templates/connect/s3-sink.properties
        vars: {uid: abc, bucket: "${bucket.name}", region: us-east-1}
      capacity: {mcu_count: 1, worker_count: 1}
    depends_on: [pin]
  airflow:
    type: mwaa.environment
    props:
      name: abc-env
      airflow_version: 2.10.3
      environment_class: mw1.small
      execution_role_arn: arn:aws:iam::123456789012:role/abc-mwaa
      source_bucket_arn: arn:aws:s3:::${bucket.name}
      dag_s3_path: dags
      max_workers: 2
      network: {subnet_ids: [subnet-a, subnet-b], security_group_ids: [sg-1]}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_through_its_life() {
    let moto = Moto::start();
    let emu = Emulator::start("150ms", None);
    let p = project(&moto, &emu);
    p.stack(STACK);
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["plan"]).expect(0);
    p.run(&["diff"]).expect(0);

    let k = emu.kafka().await;
    let kc = emu.kafkaconnect().await;
    let mw = emu.mwaa().await;
    let cluster = p.physical_id("kafka", "default", "msk");
    let info = k
        .describe_cluster_v2()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap();
    let software = info
        .cluster_info()
        .unwrap()
        .provisioned()
        .unwrap()
        .current_broker_software_info()
        .unwrap()
        .clone();
    let config_arn = software.configuration_arn().unwrap().to_string();
    let rev = k
        .describe_configuration_revision()
        .arn(&config_arn)
        .revision(software.configuration_revision().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(rev.server_properties().unwrap().as_ref().to_vec()).unwrap(),
        "auto.create.topics.enable=false\n"
    );
    let t = k
        .describe_topic()
        .cluster_arn(&cluster)
        .topic_name("abc.pin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (t.partition_count(), t.replication_factor()),
        (Some(1), Some(2))
    );
    // The artifact was verified and uploaded, and the plugin points at it.
    let s3 = moto.s3().await;
    let obj = s3
        .head_object()
        .bucket("abc-artifacts")
        .key("plugins/pinctl-local-s3-sink-1.0.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        obj.metadata().unwrap()["pinctl-sha256"],
        "130142feae5a860f067b12d30227882dae6f192e3589921f867bad312ceb254f"
    );
    let connector = p.physical_id("kafka", "default", "sink");
    let d = kc
        .describe_connector()
        .connector_arn(&connector)
        .send()
        .await
        .unwrap();
    let cfg = d.connector_configuration().unwrap();
    assert_eq!(cfg["topics.regex"], "abc.*");
    assert_eq!(cfg["s3.bucket.name"], "abc-artifacts");
    assert_eq!(
        d.kafka_cluster()
            .unwrap()
            .apache_kafka_cluster()
            .unwrap()
            .bootstrap_servers(),
        Some("127.0.0.1:9092")
    );
    let tags = kc
        .list_tags_for_resource()
        .resource_arn(&connector)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap()["pinctl:id"], "sink");
    let env = mw.get_environment().name("abc-env").send().await.unwrap();
    assert_eq!(env.environment().unwrap().max_workers(), Some(2));

    // In place: more brokers, more partitions, a topic config, the connector's config, workers.
    let changed = STACK
        .replace("broker_count: 2", "broker_count: 4")
        .replace(
            "auto.create.topics.enable: \"false\"",
            "auto.create.topics.enable: \"true\"",
        )
        .replace("partitions: 1", "partitions: 3")
        .replace("604800000", "86400000")
        .replace("vars: {uid: abc,", "vars: {uid: abcd,")
        .replace("max_workers: 2", "max_workers: 3");
    p.stack(&changed);
    let plan = p.plan_changes();
    let mut f = plan.changed_paths("msk");
    f.sort();
    assert_eq!(
        (plan.action("msk"), f),
        (
            Action::Update,
            vec![
                "broker_count".to_string(),
                "configuration.auto.create.topics.enable".to_string()
            ]
        )
    );
    let mut f = plan.changed_paths("pin");
    f.sort();
    assert_eq!(
        (plan.action("pin"), f),
        (
            Action::Update,
            vec!["configs.retention.ms".to_string(), "partitions".to_string()]
        )
    );
    assert_eq!(
        (plan.action("sink"), plan.changed_paths("sink")),
        (Action::Update, vec!["config".to_string()])
    );
    assert_eq!(
        (plan.action("airflow"), plan.changed_paths("airflow")),
        (Action::Update, vec!["max_workers".to_string()])
    );
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(p.physical_id("kafka", "default", "msk"), cluster);
    let info = k
        .describe_cluster_v2()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap();
    let info = info.cluster_info().unwrap().provisioned().unwrap();
    assert_eq!(info.number_of_broker_nodes(), Some(4));
    let software = info.current_broker_software_info().unwrap();
    assert_eq!(
        software.configuration_revision(),
        Some(2),
        "a new revision of the same configuration"
    );
    let rev = k
        .describe_configuration_revision()
        .arn(&config_arn)
        .revision(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(rev.server_properties().unwrap().as_ref().to_vec()).unwrap(),
        "auto.create.topics.enable=true\n"
    );
    let info = k
        .describe_cluster_v2()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap();
    let info = info.cluster_info().unwrap().provisioned().unwrap();
    assert_eq!(info.number_of_broker_nodes(), Some(4));
    let software = info.current_broker_software_info().unwrap();
    assert_eq!(
        software.configuration_revision(),
        Some(2),
        "a new revision of the same configuration"
    );
    let rev = k
        .describe_configuration_revision()
        .arn(&config_arn)
        .revision(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(rev.server_properties().unwrap().as_ref().to_vec()).unwrap(),
        "auto.create.topics.enable=true\n"
    );
    assert_eq!(
        p.physical_id("kafka", "default", "sink"),
        connector,
        "the connector was updated, not replaced"
    );
    let d = kc
        .describe_connector()
        .connector_arn(&connector)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.connector_configuration().unwrap()["topics.regex"],
        "abcd.*"
    );
    let ops = kc
        .list_connector_operations()
        .connector_arn(&connector)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ops.connector_operations().len(),
        1,
        "one UpdateConnector, followed to completion"
    );
    let t = k
        .describe_topic()
        .cluster_arn(&cluster)
        .topic_name("abc.pin")
        .send()
        .await
        .unwrap();
    assert_eq!(t.partition_count(), Some(3));
    let cfg = base64::engine::general_purpose::STANDARD
        .decode(t.configs().unwrap())
        .unwrap();
    assert!(String::from_utf8(cfg).unwrap().contains("86400000"));
    p.run(&["plan"]).expect(0);

    // Replacements: a replication factor, a worker configuration's properties.
    let replaced = changed
        .replace("replication_factor: 2", "replication_factor: 1")
        .replace(
            "{file: templates/connect/worker.properties}",
            "\"key.converter=org.apache.kafka.connect.storage.StringConverter\\n\"",
        );
    p.stack(&replaced);
    let plan = p.plan_changes();
    assert_eq!(plan.action("pin"), Action::Replace);
    assert_eq!(plan.action("workers"), Action::Replace);
    let old_workers = p.physical_id("kafka", "default", "workers");
    p.run(&["up", "--yes"]).expect(0);
    assert_ne!(p.physical_id("kafka", "default", "workers"), old_workers);
    let t = k
        .describe_topic()
        .cluster_arn(&cluster)
        .topic_name("abc.pin")
        .send()
        .await
        .unwrap();
    assert_eq!(t.replication_factor(), Some(1));
    p.run(&["plan"]).expect(0);

    // Drift: someone changes the connector and the environment behind pinctl's back.
    let connector = p.physical_id("kafka", "default", "sink");
    let version = kc
        .describe_connector()
        .connector_arn(&connector)
        .send()
        .await
        .unwrap()
        .current_version()
        .unwrap()
        .to_string();
    kc.update_connector()
        .connector_arn(&connector)
        .current_version(&version)
        .connector_configuration("topics.regex", "evil.*")
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        let d = kc
            .describe_connector()
            .connector_arn(&connector)
            .send()
            .await
            .unwrap();
        if d.connector_state() == Some(&aws_sdk_kafkaconnect::types::ConnectorState::Running) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let drift = p.drift_report();
    assert_eq!(drift.resource("sink").changes[0].path, "config");
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);

    // A manifest whose digest does not match is refused before anything is uploaded.
    p.write("plugins-bad/bad.yaml", "name: bad\nversion: '1'\nsource: plugins/artifacts/pinctl-local-s3-sink-1.0.zip\ncontent_type: ZIP\nsha256: 00\n");
    p.stack(&replaced.replace(
        "plugins/pinctl-local-s3-sink-1.0.yaml",
        "plugins-bad/bad.yaml",
    ));
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stderr
            .contains("but the manifest says 00: refusing to upload it"),
        "{}",
        r.stderr
    );
    p.stack(&replaced);

    p.run(&["down", "--yes"]).expect(0);
    assert!(k
        .list_clusters_v2()
        .send()
        .await
        .unwrap()
        .cluster_info_list()
        .is_empty());
    assert!(
        k.list_configurations()
            .send()
            .await
            .unwrap()
            .configurations()
            .is_empty(),
        "the configuration went with its cluster"
    );
    assert!(kc
        .list_connectors()
        .send()
        .await
        .unwrap()
        .connectors()
        .is_empty());
    assert!(kc
        .list_custom_plugins()
        .send()
        .await
        .unwrap()
        .custom_plugins()
        .is_empty());
    assert!(kc
        .list_worker_configurations()
        .send()
        .await
        .unwrap()
        .worker_configurations()
        .is_empty());
    assert!(mw
        .list_environments()
        .send()
        .await
        .unwrap()
        .environments()
        .is_empty());
}

const CLUSTER: &str = r#"
stack: kafka
resources:
  msk:
    type: msk.cluster
    props:
      name: abc-msk
      kafka_version: 3.8.x
      broker_instance_type: kafka.t3.small
      broker_count: 2
      storage_gib: 100
      client_subnets: [subnet-a, subnet-b]
      iam_auth: false
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_upgrades_resizes_and_turns_on_iam_in_place() {
    let moto = Moto::start();
    let emu = Emulator::start("150ms", None);
    let p = project(&moto, &emu);
    p.stack(CLUSTER);
    p.run(&["up", "--yes"]).expect(0);
    let cluster = p.physical_id("kafka", "default", "msk");

    let changed = CLUSTER
        .replace("3.8.x", "3.9.x")
        .replace("kafka.t3.small", "kafka.m5.large")
        .replace("storage_gib: 100", "storage_gib: 200")
        .replace("iam_auth: false", "iam_auth: true");
    p.stack(&changed);
    let plan = p.plan_changes();
    let mut f = plan.changed_paths("msk");
    f.sort();
    assert_eq!(
        (plan.action("msk"), f),
        (
            Action::Update,
            vec![
                "broker_instance_type".to_string(),
                "iam_auth".into(),
                "kafka_version".into(),
                "storage_gib".into()
            ]
        )
    );
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(
        p.physical_id("kafka", "default", "msk"),
        cluster,
        "updated, not replaced"
    );
    p.run(&["plan"]).expect(0);
    let k = emu.kafka().await;
    let info = k
        .describe_cluster_v2()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap();
    let c = info.cluster_info().unwrap();
    assert_eq!(
        c.current_version(),
        Some("K5"),
        "four updates, one at a time"
    );
    let prov = c.provisioned().unwrap();
    assert_eq!(
        prov.current_broker_software_info().unwrap().kafka_version(),
        Some("3.9.x")
    );
    let group = prov.broker_node_group_info().unwrap();
    assert_eq!(group.instance_type(), Some("kafka.m5.large"));
    assert_eq!(
        group
            .storage_info()
            .and_then(|s| s.ebs_storage_info())
            .and_then(|e| e.volume_size()),
        Some(200)
    );
    assert_eq!(
        prov.client_authentication()
            .and_then(|a| a.sasl())
            .and_then(|s| s.iam())
            .and_then(|i| i.enabled()),
        Some(true)
    );

    // MSK cannot shrink storage or go back a version: the run fails saying so, nothing changes.
    p.stack(&changed.replace("storage_gib: 200", "storage_gib: 150"));
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stderr.contains("UpdateBrokerStorage") && r.stderr.contains("can only be increased"),
        "{}",
        r.stderr
    );
    // A downgrade: preflight refuses it before anything is changed, and without preflight the
    // provider refuses it before asking MSK.
    p.stack(&changed.replace("3.9.x", "3.8.x"));
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stdout
            .contains("msk: the cluster runs Apache Kafka 3.9.x and the stack asks for 3.8.x")
            && r.stdout.contains("never downgrades")
            && r.stdout.contains("fix: set kafka_version to 3.9.x"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("Nothing was changed"), "{}", r.stderr);
    let r = p.run(&["up", "--yes", "--no-preflight"]);
    r.expect(1);
    assert!(
        r.stderr.contains("never downgrades") && r.stderr.contains("set kafka_version to 3.9.x"),
        "{}",
        r.stderr
    );
    p.stack(&changed);
    p.run(&["plan"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
}

/// Serves one file over HTTP on a free port until dropped; counts the requests for it. What it
/// serves can be changed (`serve`), as a re-published artifact would be.
struct FileServer {
    url: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl FileServer {
    fn serve(&self, bytes: Vec<u8>) {
        *self.bytes.lock().unwrap() = bytes;
    }

    fn start(name: &'static str, bytes: Vec<u8>) -> FileServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(bytes));
        let served = bytes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                if path == format!("/{name}") {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let bytes = served.lock().unwrap().clone();
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = s.write_all(&bytes);
                } else {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        });
        FileServer { url, hits, bytes }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_artifact_is_fetched_from_its_url_verified_and_cached() {
    let moto = Moto::start();
    let emu = Emulator::start("150ms", None);
    let p = project(&moto, &emu);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let artifact =
        std::fs::read(root.join("plugins/artifacts/pinctl-local-s3-sink-1.0.zip")).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&artifact));
    let server = FileServer::start("s3-sink.zip", artifact.clone());
    let manifest = |url: &str, sha: &str| {
        p.write(
            "manifests/url.yaml",
            &format!("name: s3-sink\nversion: \"1.0\"\nsource: {url}\ncontent_type: ZIP\nsha256: \"{sha}\"\n"),
        );
    };
    p.stack(
        r#"
stack: kafka
resources:
  bucket:
    type: s3.bucket
    props: {name: abc-artifacts, force_destroy: true}
  plugin:
    type: mskconnect.custom_plugin
    props:
      name: abc-plugin
      manifest: {file: manifests/url.yaml}
      bucket: ${bucket.name}
"#,
    );

    // A URL that answers 404: the run fails naming it.
    manifest(&format!("{}/missing.zip", server.url), &sha);
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stderr.contains("missing.zip") && r.stderr.contains("404"),
        "{}",
        r.stderr
    );
    // Bytes that are not what the manifest names: refused, nothing uploaded.
    manifest(&format!("{}/s3-sink.zip", server.url), &"0".repeat(64));
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stderr.contains(&format!("has sha256 {sha}")),
        "{}",
        r.stderr
    );
    let s3 = moto.s3().await;
    let listed = s3
        .list_objects_v2()
        .bucket("abc-artifacts")
        .send()
        .await
        .unwrap();
    assert!(
        listed.contents().is_empty(),
        "an unverified artifact was uploaded"
    );

    // The right digest: fetched, verified, uploaded.
    manifest(&format!("{}/s3-sink.zip", server.url), &sha);
    p.run(&["up", "--yes"]).expect(0);
    let o = s3
        .get_object()
        .bucket("abc-artifacts")
        .key("plugins/s3-sink.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        o.body.collect().await.unwrap().into_bytes().to_vec(),
        artifact
    );
    let fetched = server.hits.load(std::sync::atomic::Ordering::SeqCst);
    p.run(&["plan"]).expect(0);

    // Down and up again: the cached copy is used, the URL is not fetched again.
    p.run(&["down", "--yes"]).expect(0);
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(
        server.hits.load(std::sync::atomic::Ordering::SeqCst),
        fetched
    );
    p.run(&["down", "--yes"]).expect(0);
}

/// A manifest without a digest (the published connector's URL only): the first fetch records
/// the digest in pinctl.lock.json; a fresh checkout with that lock file refuses an artifact that
/// changed since, before anything is uploaded; a manifest that disagrees with the lock is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_is_locked_at_its_first_fetch_and_a_changed_artifact_is_refused() {
    let moto = Moto::start();
    let emu = Emulator::start("150ms", None);
    let p = project(&moto, &emu);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let artifact =
        std::fs::read(root.join("plugins/artifacts/pinctl-local-s3-sink-1.0.zip")).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&artifact));
    let server = FileServer::start("s3-sink.zip", artifact.clone());
    let url = format!("{}/s3-sink.zip", server.url);
    p.write(
        "manifests/url.yaml",
        &format!("name: s3-sink\nversion: \"1.0\"\nsource: {url}\ncontent_type: ZIP\n"),
    );
    p.stack(
        r#"
stack: kafka
resources:
  bucket:
    type: s3.bucket
    props: {name: abc-locked, force_destroy: true}
  plugin:
    type: mskconnect.custom_plugin
    props:
      name: abc-plugin
      manifest: {file: manifests/url.yaml}
      bucket: ${bucket.name}
"#,
    );
    let lock_path = p.path().join("pinctl.lock.json");
    let locked = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&lock_path).unwrap()).unwrap()
    };

    // First fetch: recorded, said so, uploaded.
    let r = p.run(&["up", "--yes"]);
    r.expect(0);
    assert!(r.stderr.contains("pinctl.lock.json"), "{}", r.stderr);
    assert_eq!(locked()["artifacts"][&url]["sha256"], sha.as_str());
    assert_eq!(locked()["artifacts"][&url]["name"], "s3-sink");
    p.run(&["plan"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);

    // A fresh checkout (no download cache) with the lock file, and the source now serves other
    // bytes: refused naming both digests, nothing uploaded, the lock file unchanged.
    std::fs::remove_dir_all(p.path().join(".pinctl/cache")).unwrap();
    let mut changed = artifact.clone();
    changed.extend_from_slice(b"tampered");
    server.serve(changed);
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(
        r.stderr.contains(&format!("recorded {sha}")) && r.stderr.contains("changed"),
        "{}",
        r.stderr
    );
    let s3 = moto.s3().await;
    let listed = s3
        .list_objects_v2()
        .bucket("abc-locked")
        .send()
        .await
        .unwrap();
    assert!(
        listed.contents().is_empty(),
        "a changed artifact was uploaded"
    );
    assert_eq!(locked()["artifacts"][&url]["sha256"], sha.as_str());

    // The original bytes again, but a manifest that pins another digest than the lock: refused.
    server.serve(artifact);
    p.write(
        "manifests/url.yaml",
        &format!(
            "name: s3-sink\nversion: \"1.0\"\nsource: {url}\ncontent_type: ZIP\nsha256: \"{}\"\n",
            "0".repeat(64)
        ),
    );
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(r.stderr.contains("make them agree"), "{}", r.stderr);

    // The manifest agrees: up converges.
    p.write(
        "manifests/url.yaml",
        &format!("name: s3-sink\nversion: \"1.0\"\nsource: {url}\ncontent_type: ZIP\nsha256: \"{sha}\"\n"),
    );
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
}

/// A read that fails while refreshing (a throttle, a 500: AWS answers some of any many calls
/// so) is retried, not the end of the run: with half of the emulator's calls failing, `plan`
/// and `diff` of a cluster still find nothing to do, every time.
#[test]
fn reads_that_fail_while_refreshing_are_retried() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("emulator.json");
    let emu = Emulator::start_full("100ms", Some(&saved), 0.0, None, None, &[]);
    let mut p = project(&moto, &emu);
    p.stack(
        "stack: faults\nresources:\n  msk:\n    type: msk.cluster\n    props: {name: f-msk, kafka_version: 3.8.x, broker_instance_type: kafka.t3.small, broker_count: 2, storage_gib: 100, client_subnets: [subnet-a, subnet-b]}\n",
    );
    p.run(&["up", "--yes"]).expect(0);
    drop(emu);
    let emu = Emulator::start_full("100ms", Some(&saved), 0.5, None, None, &[]);
    p.env = moto.env();
    p.env.extend(emu.env());
    for _ in 0..4 {
        p.run(&["plan"]).expect(0);
        p.run(&["diff"]).expect(0);
    }
}

/// A cluster's create that failed after making its MSK configuration (a throttled
/// CreateClusterV2) is tried again: the configuration already there is taken at a revision with
/// the stack's properties, not refused with CreateConfiguration's ConflictException.
#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_an_earlier_attempt_made_is_reused_not_a_conflict() {
    let moto = Moto::start();
    let emu = Emulator::start("50ms", None);
    let p = project(&moto, &emu);
    let only_cluster = STACK.split("\n  pin:\n").next().unwrap().to_string();
    p.stack(&only_cluster);
    let k = emu.kafka().await;
    let earlier = k
        .create_configuration()
        .name("abc-msk-config")
        .kafka_versions("3.8.x")
        .server_properties(aws_sdk_kafka::primitives::Blob::new(
            "auto.create.topics.enable=true\n",
        ))
        .send()
        .await
        .unwrap();
    let r = p.run(&["up", "--yes"]);
    r.expect(0);
    let cluster = p.physical_id("kafka", "default", "msk");
    let software = k
        .describe_cluster_v2()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap()
        .cluster_info()
        .unwrap()
        .provisioned()
        .unwrap()
        .current_broker_software_info()
        .unwrap()
        .clone();
    assert_eq!(software.configuration_arn(), earlier.arn(), "{}", r.stderr);
    let rev = k
        .describe_configuration_revision()
        .arn(earlier.arn().unwrap())
        .revision(software.configuration_revision().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(rev.server_properties().unwrap().as_ref().to_vec()).unwrap(),
        "auto.create.topics.enable=false\n",
        "a revision with the stack's properties"
    );
    p.run(&["plan"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
}
