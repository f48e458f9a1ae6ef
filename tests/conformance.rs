//! The emulator against stock AWS clients: every operation a standard client uses for MSK,
//! MSK Connect and MWAA, driven through boto3 and checked (requests and raw answers) against
//! botocore's service models (`tests/conformance/botocore_emulator.py`); and the AWS CLI
//! creating and listing MSK clusters (v1 and v2 APIs), connectors and MWAA environments with
//! exactly the settings `pinctl local env` exports.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{venv_bin, Emulator};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/conformance/botocore_emulator.py"
);

#[test]
fn the_shape_walker_catches_each_kind_of_flaw() {
    let out = Command::new(venv_bin("python"))
        .args([SCRIPT, "--self-test"])
        .output()
        .expect("run the botocore conformance script (scripts/setup.sh installs the venv)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(", 0 missed"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn botocore_models_accept_every_request_and_answer() {
    let emu = Emulator::start("1s", None);
    let script = SCRIPT;
    let out = Command::new(venv_bin("python"))
        .arg(script)
        .arg(&emu.endpoint)
        .output()
        .expect("run the botocore conformance script (scripts/setup.sh installs the venv)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the emulator breaks botocore's models:\n{stdout}\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(", 0 failures"), "{stdout}");
}

/// Runs the AWS CLI with the twin's settings for an emulator on `port` and a scratch config,
/// and parses its JSON answer.
fn aws(port: u16, dir: &std::path::Path, args: &[&str]) -> Value {
    let mut settings: Vec<(String, String)> = pinctl::local::twin::endpoints_of(1, port, dir)
        .into_iter()
        .collect();
    // The twin's `local env` adds its administrator's key; the emulator alone checks none.
    settings.push(("AWS_ACCESS_KEY_ID".into(), "testing".into()));
    settings.push(("AWS_SECRET_ACCESS_KEY".into(), "testing".into()));
    aws_cli(&settings, dir, args)
}

/// The `export K=V` lines `pinctl local env` prints, as pairs.
pub fn exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Runs the AWS CLI from the test venv with only `settings` for AWS (no profile, a scratch
/// config and credentials file under `dir`) and parses its JSON answer; fails naming the
/// command on a non-zero exit.
pub fn aws_cli(settings: &[(String, String)], dir: &std::path::Path, args: &[&str]) -> Value {
    let mut cmd = Command::new(venv_bin("aws"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .args(["--output", "json"])
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the AWS CLI (scripts/setup.sh installs awscli into the venv)");
    assert!(
        out.status.success(),
        "aws {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "aws {}: not JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The `field` of each item of the `list` member, sorted.
pub fn names(v: &Value, list: &str, field: &str) -> Vec<String> {
    let mut n: Vec<String> = v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|x| x[field].as_str().unwrap_or_default().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn aws_cli_with_pinctl_local_env_lists_clusters_connectors_and_environments() {
    let emu = Emulator::start("150ms", None);
    let port: u16 = emu
        .endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the emulator's port");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let settings = pinctl::local::twin::endpoints_of(1, port, d);
    assert_eq!(
        settings
            .get("AWS_DISABLE_HOST_PREFIX_INJECTION")
            .map(String::as_str),
        Some("true"),
        "pinctl local env must turn off MWAA's `api.` host prefix for stock clients"
    );

    let broker_group =
        r#"{"InstanceType":"kafka.t3.small","ClientSubnets":["subnet-1","subnet-2"]}"#;
    aws(
        port,
        d,
        &[
            "kafka",
            "create-cluster",
            "--cluster-name",
            "cli-v1",
            "--kafka-version",
            "3.8.x",
            "--number-of-broker-nodes",
            "2",
            "--broker-node-group-info",
            broker_group,
        ],
    );
    let provisioned = format!(
        r#"{{"BrokerNodeGroupInfo":{broker_group},"KafkaVersion":"3.8.x","NumberOfBrokerNodes":2}}"#
    );
    aws(
        port,
        d,
        &[
            "kafka",
            "create-cluster-v2",
            "--cluster-name",
            "cli-v2",
            "--provisioned",
            &provisioned,
        ],
    );
    let v1 = aws(port, d, &["kafka", "list-clusters"]);
    assert_eq!(
        names(&v1, "ClusterInfoList", "ClusterName"),
        ["cli-v1", "cli-v2"]
    );
    // The v1 shape: broker settings at the top level, with MSK's defaults.
    let first = &v1["ClusterInfoList"][0];
    assert_eq!(first["EnhancedMonitoring"], "DEFAULT");
    assert_eq!(
        first["EncryptionInfo"]["EncryptionInTransit"]["ClientBroker"],
        "TLS"
    );
    assert!(first.get("Provisioned").is_none(), "{first}");
    let v2 = aws(port, d, &["kafka", "list-clusters-v2"]);
    assert_eq!(
        names(&v2, "ClusterInfoList", "ClusterName"),
        ["cli-v1", "cli-v2"]
    );
    assert_eq!(v2["ClusterInfoList"][0]["ClusterType"], "PROVISIONED");

    let plugin = aws(
        port,
        d,
        &[
            "kafkaconnect",
            "create-custom-plugin",
            "--name",
            "cli-plugin",
            "--content-type",
            "ZIP",
            "--location",
            r#"{"s3Location":{"bucketArn":"arn:aws:s3:::artifacts","fileKey":"p.zip"}}"#,
        ],
    );
    let plugin_arn = plugin["customPluginArn"].as_str().unwrap().to_string();
    for _ in 0..100 {
        let p = aws(
            port,
            d,
            &[
                "kafkaconnect",
                "describe-custom-plugin",
                "--custom-plugin-arn",
                &plugin_arn,
            ],
        );
        if p["customPluginState"] == "ACTIVE" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let connector = serde_json::json!({
        "connectorName": "cli-sink",
        "capacity": {"provisionedCapacity": {"mcuCount": 1, "workerCount": 1}},
        "connectorConfiguration": {"connector.class": "io.confluent.connect.s3.S3SinkConnector"},
        "kafkaCluster": {"apacheKafkaCluster": {"bootstrapServers": "b-1:9098",
                                                "vpc": {"subnets": ["subnet-1"]}}},
        "kafkaClusterClientAuthentication": {"authenticationType": "IAM"},
        "kafkaClusterEncryptionInTransit": {"encryptionType": "TLS"},
        "kafkaConnectVersion": "2.7.1",
        "plugins": [{"customPlugin": {"customPluginArn": plugin_arn, "revision": 1}}],
        "serviceExecutionRoleArn": "arn:aws:iam::123456789012:role/connect",
    });
    aws(
        port,
        d,
        &[
            "kafkaconnect",
            "create-connector",
            "--cli-input-json",
            &connector.to_string(),
        ],
    );
    let connectors = aws(port, d, &["kafkaconnect", "list-connectors"]);
    assert_eq!(
        names(&connectors, "connectors", "connectorName"),
        ["cli-sink"]
    );

    // MWAA's operations carry the `api.` host prefix in the model: this only reaches the
    // emulator because the settings turn the prefix off.
    aws(
        port,
        d,
        &[
            "mwaa",
            "create-environment",
            "--name",
            "cli-env",
            "--execution-role-arn",
            "arn:aws:iam::123456789012:role/mwaa",
            "--source-bucket-arn",
            "arn:aws:s3:::mwaa-bucket",
            "--dag-s3-path",
            "dags",
            "--network-configuration",
            r#"{"SubnetIds":["subnet-1","subnet-2"],"SecurityGroupIds":["sg-1"]}"#,
        ],
    );
    let envs = aws(port, d, &["mwaa", "list-environments"]);
    assert_eq!(envs["Environments"], serde_json::json!(["cli-env"]));
    let env = aws(port, d, &["mwaa", "get-environment", "--name", "cli-env"]);
    assert_eq!(env["Environment"]["Name"], "cli-env");
    assert_eq!(env["Environment"]["WebserverAccessMode"], "PRIVATE_ONLY");
}

/// moto's corrections (`scripts/moto/pinctl_moto_fidelity.py`) against boto3, each behaviour
/// the scripts name checked on a moto server of their own: API Gateway's predefined models and
/// CreateModel/UpdateModel/DeleteModel answers, the faults in front of moto (throttles in each
/// protocol, lost answers), and EC2's client tokens.
#[test]
fn moto_corrections_answer_as_aws_does() {
    for script in [
        "check_fidelity_models_faults.py",
        "check_fidelity_client_token.py",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts/moto")
            .join(script);
        let out = Command::new(venv_bin("python"))
            .arg(&path)
            .output()
            .expect("run the venv's python");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{script}:\n{text}");
        assert!(text.contains("all checks passed"), "{script}:\n{text}");
    }
}
