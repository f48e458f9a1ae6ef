//! The local twin end to end, as a newcomer runs it: `local start`, `up --env local`, events
//! emitted through the invoke URL on both paths, the DAG triggered in Airflow, then `down` and
//! `local stop`. The data plane runs only from what was provisioned, so a stack broken on purpose
//! fails here with an error that names the cause.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::answers::expected_answers;
use crate::util::{
    emulated, eventually, free_port, python_keys, read_source, s3_keys, scan, Emulator, Moto,
    Project, BUCKET, SETTLE, UID,
};
use serde_json::Value;

/// No retries, keys within the small source of the broken-stack test.
const TWO_EVENTS: &[&str] = &["--retries", "0", "--max-key", "199"];

/// A project with the repository's stack and plugins; `templates` copied so a test may break one.
fn project(twin: &Path) -> Project {
    let mut p = Project::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(p.path().join("stacks")).unwrap();
    std::fs::copy(
        root.join("stacks/pinterest.yaml"),
        p.path().join("stacks/pinterest.yaml"),
    )
    .unwrap();
    crate::util::copy_repo_dirs(p.path(), &["plugins", "templates", "jobs"]);
    p.file = "stacks/pinterest.yaml".into();
    p.env = vec![
        ("PINCTL_TWIN_DIR".into(), twin.display().to_string()),
        (
            "PINCTL_WORKER_BINARY".into(),
            env!("CARGO_BIN_EXE_pinctl").into(),
        ),
    ];
    p
}

/// The running twin; stopped when dropped, whatever the test's outcome.
struct Twin<'a> {
    p: &'a Project,
    dir: std::path::PathBuf,
}

impl<'a> Twin<'a> {
    fn start(p: &'a Project, dir: &Path, extra: &[&str]) -> Twin<'a> {
        let mut args = vec!["local", "start"];
        args.extend_from_slice(extra);
        p.run(&args).expect(0);
        Twin {
            p,
            dir: dir.to_path_buf(),
        }
    }

    fn status(&self) -> Value {
        let run = self.p.run(&["--json", "local", "status"]);
        run.expect(0);
        run.json()
    }

    fn endpoint(&self, name: &str) -> String {
        self.status()["endpoints"][name]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until a process of each kind runs (listening, when it listens); returns the status.
    fn wait_for(&self, kinds: &[&str]) -> Value {
        let t0 = Instant::now();
        loop {
            let s = self.status();
            let procs = s["processes"].as_array().unwrap();
            let ready = kinds.iter().all(|k| {
                procs
                    .iter()
                    .any(|p| p["kind"] == *k && p["state"] == "running")
            });
            if ready {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(240),
                "the data plane did not come up: {}\nsupervisor log:\n{}",
                serde_json::to_string_pretty(&s).unwrap(),
                std::fs::read_to_string(self.dir.join("logs/supervisor.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn invoke_url(&self) -> String {
        let s = self.wait_for(&["gateway"]);
        s["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["kind"] == "gateway")
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Twin<'_> {
    fn drop(&mut self) {
        let _ = self.p.command(&["local", "stop"]).output();
        if std::thread::panicking() {
            // The twin's directory goes with the test's: keep its logs for the post-mortem.
            let keep = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("twin-logs-{}", std::process::id()));
            crate::util::copy_dir(&self.dir.join("logs"), &keep);
            eprintln!("the twin's logs: {}", keep.display());
        }
    }
}

/// Every file under `dir`, at any depth (none when `dir` does not exist).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The last lines of the twin's logs whose names contain one of `parts`, for failure messages.
fn logs(twin: &Path, parts: &[&str]) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(twin.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        if parts.iter().any(|p| name.contains(p)) {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| !l.contains(" INFO ")).collect();
            out += &format!(
                "--- {name} (warnings and errors, last 30)\n{}\n",
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
    }
    out
}

/// The source tables as JSON lines (the emitter reads them; so does the check).
fn source(p: &Project) -> [Vec<Value>; 3] {
    p.run(&["-q", "data", "generate", "--out", "jsonl://source"])
        .expect(0);
    read_source(&p.path().join("source"))
}

/// The `ind` column of each Delta table under `s3://BUCKET/<root>/`, read by the `deltalake`
/// Python package (`None` while a table does not exist yet).
fn delta_inds(moto: &Moto, root: &str) -> BTreeMap<String, Option<Vec<i64>>> {
    let python = format!(
        "{}/bin/python",
        std::env::var("PINCTL_VENV")
            .unwrap_or_else(|_| format!("{}/.cache/pinctl/venv", std::env::var("HOME").unwrap()))
    );
    let script = r#"
import deltalake, json, sys
opts = {"AWS_ENDPOINT_URL": sys.argv[1], "AWS_ACCESS_KEY_ID": sys.argv[4], "AWS_SECRET_ACCESS_KEY": sys.argv[5],
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
out = {}
for t in ["pin", "geo", "user"]:
    name = sys.argv[3] + "_" + t + "_table"
    try:
        tb = deltalake.DeltaTable("s3://" + sys.argv[2] + "/" + name, storage_options=opts).to_pyarrow_table(columns=["ind"])
        out[name] = tb.column("ind").to_pylist()
    except Exception as e:
        out[name] = None
print(json.dumps(out), flush=True)
# The Rust runtime under deltalake can abort at interpreter exit; the answer is out by then.
import os
os._exit(0)
"#;
    let o = std::process::Command::new(python)
        .args([
            "-c",
            script,
            &moto.endpoint,
            &format!("{BUCKET}/{root}"),
            UID,
            &moto.keys.0,
            &moto.keys.1,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn emit(p: &Project, url: &str, mode: &str, count: u32, extra: &[&str]) -> crate::util::Run {
    let count = count.to_string();
    let mut args = vec![
        "worker",
        "emit",
        "--source",
        "jsonl://source",
        "--invoke-url",
        url,
        "--uid",
        UID,
        "--mode",
        mode,
        "--count",
        &count,
        "--sleep",
        "0",
    ];
    args.extend_from_slice(extra);
    p.run(&args)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_end_to_end_on_the_local_twin() {
    let scratch = tempfile::tempdir().unwrap();
    let twin_dir = scratch.path().join("twin");
    let p = project(&twin_dir);
    let twin = Twin::start(&p, &twin_dir, &[]);
    let emu_url = twin.endpoint("AWS_ENDPOINT_URL_KAFKA");
    let port = free_port().to_string();
    let param = format!("proxy_port={port}");

    p.run(&["--env", "local", "up", "--yes", "--param", &param])
        .expect(0);
    p.run(&["--env", "local", "plan", "--param", &param])
        .expect(0);

    // Stock clients reach the twin with what `pinctl local env` prints: the AWS CLI lists the
    // cluster through MSK's v1 and v2 APIs, the connector and the MWAA environment.
    let env = p.run(&["local", "env"]);
    env.expect(0);
    let settings = crate::conformance::exports(&env.stdout);
    let cli = |args: &[&str]| crate::conformance::aws_cli(&settings, scratch.path(), args);
    for list in ["list-clusters", "list-clusters-v2"] {
        let clusters = cli(&["kafka", list]);
        assert_eq!(
            crate::conformance::names(&clusters, "ClusterInfoList", "ClusterName").len(),
            1,
            "aws kafka {list}: {clusters}"
        );
    }
    let connectors = cli(&["kafkaconnect", "list-connectors"]);
    assert_eq!(
        crate::conformance::names(&connectors, "connectors", "connectorName").len(),
        1,
        "{connectors}"
    );
    let envs = cli(&["mwaa", "list-environments"]);
    assert_eq!(
        envs["Environments"].as_array().map(Vec::len),
        Some(1),
        "{envs}"
    );

    let tables = source(&p);
    let url = twin.invoke_url();
    twin.wait_for(&["unit", "connector", "airflow"]);
    let events = 2000u32;
    let sent = emit(&p, &url, "both", events, &["--concurrency", "8", "--json"]);
    sent.expect(0);
    let summary = sent.json();
    assert_eq!(summary["sent"], events * 6, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let keys: Vec<i64> = python_keys(events as usize);
    let distinct: BTreeSet<usize> = keys.iter().map(|k| *k as usize).collect();

    // moto enforces IAM on the twin: the test's own reads are the administrator's.
    let moto = Moto::of_twin(&settings);
    management_routes_need_iam(&moto, &url).await;

    // Batch path: one object per message, once the sink has caught up.
    let s3 = moto.s3().await;
    let t0 = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let n = s3_keys(&s3, BUCKET, "topics/").await.len();
        assert!(
            n <= events as usize * 3,
            "{n} objects for {} messages",
            events * 3
        );
        if n == events as usize * 3 {
            break;
        }
        if n != last.0 {
            last = (n, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(60) && t0.elapsed() < Duration::from_secs(600),
            "the sink stopped at {n} of {} objects",
            events * 3
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for t in ["pin", "geo", "user"] {
        assert_eq!(
            s3_keys(&s3, BUCKET, &format!("topics/{UID}.{t}/"))
                .await
                .len(),
            events as usize,
            "{t}"
        );
    }

    // Every Kafka client authenticated with MSK IAM (SASL/OAUTHBEARER over TLS) as its role,
    // checked by the broker: the REST proxy as the EC2 client's instance profile role, the S3
    // sink as the connector's service execution role.
    let broker_log = std::fs::read_to_string(twin_dir.join("logs/kafka.log")).unwrap_or_default();
    for session in [
        format!("assumed-role/{UID}-ec2-access-role/i-"),
        format!("assumed-role/{UID}-msk-connect-role/{UID}-s3-sink"),
    ] {
        assert!(
            broker_log.contains(&format!(
                "MSK IAM authenticated arn:aws:sts::123456789012:{session}"
            )),
            "no MSK IAM session of {session} in the broker's log"
        );
    }
    assert!(
        !broker_log.contains("MSK IAM denied"),
        "the stack's grants cover what its clients do: {}",
        broker_log
            .lines()
            .filter(|l| l.contains("MSK IAM denied"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Stream path: the stream job catches up to one row per distinct ind.
    let want: Vec<i64> = distinct.iter().map(|k| *k as i64).collect();
    let t0 = Instant::now();
    loop {
        let got = delta_inds(&moto, "delta/stream");
        let done = got.values().all(|v| {
            v.as_ref().is_some_and(|v| {
                let mut v = v.clone();
                v.sort();
                v == want
            })
        });
        if done {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "stream tables: {:?} rows, want {} distinct inds\n{}",
            got.iter()
                .map(|(k, v)| (k, v.as_ref().map(Vec::len)))
                .collect::<Vec<_>>(),
            want.len(),
            logs(&twin_dir, &["gateway", "pinctl-stream"])
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // The DAG, triggered in Airflow, runs the batch job.
    let dag = format!("{UID}_dag");
    let run = p.run(&[
        "--json",
        "local",
        "trigger",
        &dag,
        "--wait",
        "--timeout",
        "10m",
    ]);
    run.expect(0);
    assert_eq!(run.json()["state"], "success");
    for (name, inds) in delta_inds(&moto, "delta/batch") {
        let mut inds = inds.unwrap_or_else(|| panic!("{name} missing"));
        inds.sort();
        assert_eq!(inds, want, "{name}: one row per distinct ind sent");
    }
    let expected = expected_answers(&tables, &distinct);
    for (q, rows) in &expected {
        let key = format!("delta/batch/report/results/{q}.json");
        let o = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        let got: Vec<Value> =
            serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(&got, rows, "{q}");
    }

    // What the demo prints: the sink's objects, both copies of the tables, the report.
    let dir = twin_dir.display().to_string();
    let wanted = (events * 3).to_string();
    let waited = p.run(&[
        "--json",
        "local",
        "wait",
        "--objects",
        &wanted,
        "--bucket",
        BUCKET,
        "--timeout",
        "10s",
        "--dir",
        &dir,
    ]);
    waited.expect(0);
    assert_eq!(waited.json()["objects"], events * 3);
    let out = p.path().join("report");
    let reported = p.run(&[
        "--json",
        "local",
        "report",
        "--bucket",
        BUCKET,
        "--uid",
        UID,
        "--out",
        out.to_str().unwrap(),
        "--dir",
        &dir,
    ]);
    reported.expect(0);
    let r = reported.json();
    for t in r["tables"].as_array().unwrap() {
        assert_eq!(t["batch"], want.len(), "{t}");
        assert_eq!(t["stream"], want.len(), "{t}");
    }
    let answers = r["report"]["answers"].as_array().unwrap();
    assert_eq!(answers.len(), expected.len());
    for a in answers {
        let q = a["id"].as_str().unwrap();
        assert!(!a["title"].as_str().unwrap().is_empty(), "{q} has no title");
        let rows = expected.get(q).map(|rows| Value::Array(rows.clone()));
        assert_eq!(Some(&a["rows"]), rows.as_ref(), "{q}");
    }
    assert!(out.join("report.html").is_file() && out.join("report.md").is_file());
    let wrong = p.run(&[
        "local",
        "report",
        "--bucket",
        BUCKET,
        "--uid",
        "abcdefabcdef",
        "--timeout",
        "1s",
        "--dir",
        &dir,
    ]);
    wrong.expect(1);
    assert!(
        wrong.stderr.contains("abcdefabcdef_pin_table"),
        "{}",
        wrong.stderr
    );

    // Down, and nothing is left: the data plane stops with what it ran from.
    p.run(&["--env", "local", "down", "--yes", "--param", &param])
        .expect(0);
    let s = scan(&moto).await;
    for (what, left) in [
        ("buckets", &s.buckets),
        ("instances", &s.instances),
        ("security groups", &s.groups),
        ("streams", &s.streams),
        ("REST APIs", &s.apis),
        ("roles", &s.roles),
        ("key pairs", &s.keys),
        ("network", &s.network),
        ("private path", &s.private_path),
        ("EMR Serverless applications", &s.emr_apps),
    ] {
        assert!(left.is_empty(), "{what} left: {left:?}");
    }
    assert_eq!(emulated(&Emulator::at(&emu_url)).await, (0, 0, 0));
    let t0 = Instant::now();
    loop {
        let status = twin.status();
        let plane: Vec<&Value> = status["processes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] != "service")
            .collect();
        if plane.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "still running after down: {plane:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(twin);
    p.run(&["local", "status"]).expect(1);
}

/// The DAG with `dag_runner: emr` on the twin (issue 18): `up` provisions the EMR Serverless
/// application and its job role and ships the Spark job; Airflow's EmrServerlessStartJobOperator,
/// as the MWAA execution role, starts a job run that the twin's moto runs with local Spark as the
/// job role; the 8 answers appear beside the batch tables; `down` removes the application and
/// the roles.
#[tokio::test(flavor = "multi_thread")]
async fn the_dag_with_the_emr_runner_runs_the_spark_job_on_the_twin() {
    let scratch = tempfile::tempdir().unwrap();
    let twin_dir = scratch.path().join("twin");
    let p = project(&twin_dir);
    let twin = Twin::start(&p, &twin_dir, &[]);
    let port = free_port().to_string();
    let params = [
        "--param",
        &format!("proxy_port={port}"),
        "--param",
        "dag_runner=emr",
    ]
    .map(String::from);
    let with = |base: &[&str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(params.iter().cloned())
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        p.run(&args)
    };
    run(with(&["--env", "local", "up", "--yes"])).expect(0);

    let tables = source(&p);
    let url = twin.invoke_url();
    twin.wait_for(&["unit", "connector", "airflow"]);
    let events = 60u32;
    emit(&p, &url, "batch", events, &["--concurrency", "4"]).expect(0);
    let distinct: BTreeSet<usize> = python_keys(events as usize)
        .iter()
        .map(|k| *k as usize)
        .collect();
    let env = p.run(&["local", "env"]);
    env.expect(0);
    let settings = crate::conformance::exports(&env.stdout);
    let moto = Moto::of_twin(&settings);
    let s3 = moto.s3().await;
    let t0 = Instant::now();
    while s3_keys(&s3, BUCKET, "topics/").await.len() < events as usize * 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "the sink did not write {} objects",
            events * 3
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // A STOPPED application, as the idle timeout leaves one: the operator starts it
    // (EmrServerlessStartJobOperator calls StartApplication unless the application is CREATED
    // or STARTED), so the MWAA role's emr-serverless:StartApplication is exercised.
    let emr = aws_sdk_emrserverless::Client::new(&moto.config().await);
    let apps = emr.list_applications().send().await.unwrap();
    let app = apps
        .applications()
        .iter()
        .find(|a| a.name() == Some(&format!("{UID}-batch")))
        .expect("the stack's application")
        .clone();
    let app_state = |want: &'static str| {
        let emr = emr.clone();
        let id = app.id().to_string();
        async move {
            eventually(&format!("the application is {want}"), SETTLE, || {
                let (emr, id) = (emr.clone(), id.clone());
                async move {
                    let a = emr
                        .get_application()
                        .application_id(id)
                        .send()
                        .await
                        .unwrap();
                    (a.application().unwrap().state().as_str() == want).then_some(())
                }
            })
            .await
        }
    };
    emr.start_application()
        .application_id(app.id())
        .send()
        .await
        .unwrap();
    app_state("STARTED").await;
    emr.stop_application()
        .application_id(app.id())
        .send()
        .await
        .unwrap();
    app_state("STOPPED").await;

    let dag = format!("{UID}_dag");
    let t0 = Instant::now();
    let triggered = p.run(&[
        "--json",
        "local",
        "trigger",
        &dag,
        "--wait",
        "--timeout",
        "20m",
    ]);
    assert_eq!(
        triggered.json()["state"],
        "success",
        "{}\n{}",
        triggered.stderr,
        logs(&twin_dir, &["moto", "airflow"])
    );
    eprintln!(
        "the DAG's emr run on the twin took {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let started = files_under(&twin_dir.join("airflow"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "log"))
        .any(|f| {
            std::fs::read_to_string(&f)
                .unwrap_or_default()
                .contains(&format!("Starting application {}", app.id()))
        });
    assert!(
        started,
        "no task log says the operator started the stopped application"
    );

    // The triggered run's job run, SUCCESS, as the job role (the scheduler may also have
    // started the DAG's latest daily interval on its own: catchup=False runs it once).
    let runs = emr
        .list_job_runs()
        .application_id(app.id())
        .send()
        .await
        .unwrap();
    assert!(
        runs.job_runs()
            .iter()
            .any(|r| r.state().as_str() == "SUCCESS"),
        "{runs:?}"
    );
    for r in runs.job_runs() {
        assert!(
            r.execution_role()
                .ends_with(&format!(":role/{UID}-emr-job-role")),
            "{r:?}"
        );
    }

    // The report's answers, written by the Spark job beside the tables.
    let expected = expected_answers(&tables, &distinct);
    for (q, rows) in &expected {
        let key = format!("delta/batch/report/results/{q}.json");
        let o = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let got: Vec<Value> =
            serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(&got, rows, "{q}");
    }
    for (name, inds) in delta_inds(&moto, "delta/batch") {
        let mut inds = inds.unwrap_or_else(|| panic!("{name} missing"));
        inds.sort();
        let want: Vec<i64> = distinct.iter().map(|k| *k as i64).collect();
        assert_eq!(inds, want, "{name}: one row per distinct ind sent");
    }

    // down removes the application (STARTED by the run: stopped first) and the roles.
    run(with(&["--env", "local", "down", "--yes"])).expect(0);
    let s = scan(&moto).await;
    assert!(s.emr_apps.is_empty(), "{:?}", s.emr_apps);
    assert!(s.roles.is_empty(), "{:?}", s.roles);
    let state = emr
        .get_application()
        .application_id(app.id())
        .send()
        .await
        .unwrap();
    assert_eq!(state.application().unwrap().state().as_str(), "TERMINATED");
    drop(twin);
}

#[test]
fn a_broken_stack_fails_on_the_twin_with_its_cause() {
    let scratch = tempfile::tempdir().unwrap();
    let twin_dir = scratch.path().join("twin");
    let p = project(&twin_dir);
    // The client's security group admits the proxy port from nowhere the VPC link's load
    // balancer is: AWS's network drops the requests (issue 13 item 5).
    let stack = p.path().join("stacks/pinterest.yaml");
    let text = std::fs::read_to_string(&stack).unwrap();
    let broken = text.replace(
        "port: ${params.proxy_port}\n          cidr: ${params.vpc_cidr}",
        "port: ${params.proxy_port}\n          cidr: 127.0.0.1/32",
    );
    assert_ne!(broken, text);
    std::fs::write(&stack, broken).unwrap();
    // The PutRecord mapping template names a stream that does not exist.
    let vtl = p.path().join("templates/apigateway/put-record.vtl");
    let text = std::fs::read_to_string(&vtl).unwrap();
    let broken = text.replace(
        "\"StreamName\": \"$input.params('stream-name')\"",
        "\"StreamName\": \"$input.params('stream-name')-typo\"",
    );
    assert_ne!(broken, text);
    std::fs::write(&vtl, broken).unwrap();

    let twin = Twin::start(&p, &twin_dir, &["--no-airflow"]);
    let param = format!("proxy_port={}", free_port());
    p.run(&["--env", "local", "up", "--yes", "--param", &param])
        .expect(0);
    let url = twin.invoke_url();
    twin.wait_for(&["unit"]);
    let prepare = p.run(&[
        "-q",
        "data",
        "generate",
        "--rows",
        "200",
        "--out",
        "jsonl://source",
    ]);
    prepare.expect(0);

    let batch = emit(&p, &url, "batch", 2, TWO_EVENTS);
    batch.expect(1);
    let out = format!("{}{}", batch.stdout, batch.stderr);
    assert!(out.contains("504"), "{out}");
    assert!(
        out.contains("Endpoint request timed out")
            && out.contains("admit no traffic from the load balancer's subnets (10.0.10.0/24)"),
        "the failure names the target and why: {out}"
    );
    assert!(out.contains("/{proxy+}"), "and the route: {out}");

    let stream = emit(&p, &url, "stream", 2, TWO_EVENTS);
    stream.expect(1);
    let out = format!("{}{}", stream.stdout, stream.stderr);
    // The integration's role may put records into the stack's streams only: IAM refuses the
    // call before Kinesis looks for the stream, as on AWS.
    assert!(
        out.contains("AccessDeniedException")
            && out.contains("kinesis:PutRecord")
            && out.contains("stream/streaming-0e36c8cd403d-pin-typo"),
        "the failure names the action and the stream: {out}"
    );
    p.run(&["--env", "local", "down", "--yes", "--param", &param])
        .expect(0);
}

/// moto enforces IAM on the twin and each process calls AWS as its role: the stream job's
/// instance profile role without `kinesis:GetRecords` is refused as AWS refuses it, and the
/// refusal, naming the caller, the action and the stream, is in the stream job's log.
#[test]
fn a_role_missing_a_permission_is_refused_naming_action_and_resource() {
    let scratch = tempfile::tempdir().unwrap();
    let twin_dir = scratch.path().join("twin");
    let p = project(&twin_dir);
    let stack = p.path().join("stacks/pinterest.yaml");
    let text = std::fs::read_to_string(&stack).unwrap();
    let broken = text.replace(
        "actions: [kinesis:DescribeStream, kinesis:GetShardIterator, kinesis:GetRecords, kinesis:ListShards]",
        "actions: [kinesis:DescribeStream, kinesis:GetShardIterator, kinesis:ListShards]",
    );
    assert_ne!(broken, text);
    // And the client's role may no longer write to the topics (MSK IAM).
    let text = broken;
    let broken = text.replace(
        "actions: [kafka-cluster:DescribeTopic, kafka-cluster:WriteData, kafka-cluster:ReadData]",
        "actions: [kafka-cluster:DescribeTopic, kafka-cluster:ReadData]",
    );
    assert_ne!(broken, text);
    std::fs::write(&stack, broken).unwrap();

    let twin = Twin::start(&p, &twin_dir, &["--no-airflow"]);
    // The stack's own port (8082): the twin serves it on a free port of its own, so twins and
    // tests running side by side never collide.
    p.run(&["--env", "local", "up", "--yes"]).expect(0);
    let status = twin.wait_for(&["unit"]);
    let proxy = status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["name"]
                .as_str()
                .unwrap_or("")
                .ends_with("/pinctl-rest-proxy")
        })
        .and_then(|p| p["address"].as_str())
        .expect("the REST proxy's address in local status")
        .to_string();
    assert!(
        proxy.starts_with("127.0.0.1:") && proxy != "127.0.0.1:8082",
        "{proxy}"
    );

    // The REST proxy authenticates (MSK IAM) but may not write: Confluent's 403, and the broker
    // says which action on which topic the role lacks.
    let t0 = Instant::now();
    let answer = loop {
        // Not yet a 5xx of a proxy still reaching the broker.
        let last = post_json(&proxy, &format!("/topics/{UID}.pin"));
        if let Some(a) = last.as_ref().filter(|a| !a.starts_with("HTTP/1.1 5")) {
            break a.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the REST proxy never answered but {last:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        answer.starts_with("HTTP/1.1 403")
            && answer.contains(&format!(
                r#"{{"error_code":40301,"message":"Not authorized to access topics: [{UID}.pin]"}}"#
            )),
        "{answer}"
    );
    let broker_log = std::fs::read_to_string(twin_dir.join("logs/kafka.log")).unwrap_or_default();
    assert!(
        broker_log.lines().any(|l| l.contains("MSK IAM denied")
            && l.contains(&format!("assumed-role/{UID}-ec2-access-role/i-"))
            && l.contains("is not authorized to perform: kafka-cluster:WriteData on resource: arn:aws:kafka:us-east-1:123456789012:topic/pinterest-msk-")
            && l.contains(&format!("/{UID}.pin because no identity-based policy allows"))),
        "the broker names the role, the action and the topic:\n{broker_log}"
    );

    let stream = format!("arn:aws:kinesis:us-east-1:123456789012:stream/streaming-{UID}-");
    let t0 = Instant::now();
    let refusal = loop {
        let log = logs(&twin_dir, &["pinctl-stream"]);
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("AccessDeniedException") && l.contains("kinesis:GetRecords"))
        {
            break line.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no refusal of kinesis:GetRecords in the stream job's log:\n{log}"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(
        refusal.contains(&format!(
            "User: arn:aws:sts::123456789012:assumed-role/{UID}-ec2-access-role/i-"
        )) && refusal.contains(&format!("on resource: {stream}"))
            && refusal
                .contains("because no identity-based policy allows the kinesis:GetRecords action"),
        "the refusal names the caller, the action and the stream: {refusal}"
    );
    // What the role is allowed still works: the shards were listed and iterated.
    let log = logs(&twin_dir, &["pinctl-stream"]);
    assert!(
        !log.contains("kinesis:ListShards") && !log.contains("kinesis:GetShardIterator"),
        "{log}"
    );
    p.run(&["--env", "local", "down", "--yes"]).expect(0);
}

/// The API's management routes (list, describe, create, delete streams) take only requests
/// signed with SigV4 by a principal allowed `execute-api:Invoke` on the method (AWS_IAM), as
/// API Gateway checks them; the posting routes stay open, within API Gateway's payload limit.
async fn management_routes_need_iam(moto: &Moto, url: &str) {
    // May list the streams, nothing else.
    let operator = crate::util::iam_user(
        moto,
        "operator",
        serde_json::json!([{
            "Effect": "Allow", "Action": "execute-api:Invoke",
            "Resource": "arn:aws:execute-api:us-east-1:*:*/*/GET/streams"}]),
    )
    .await;
    let http = reqwest::Client::new();
    let call = |method: &str, path: &str, signer: Option<&aws_credential_types::Credentials>| {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let target = format!("{url}{path}");
        let mut rb = http.request(method.parse().unwrap(), &target);
        if let Some(c) = signer {
            let identity = c.clone().into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("execute-api")
                .time(std::time::SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let signable = SignableRequest::new(
                method,
                &target,
                std::iter::empty(),
                SignableBody::Bytes(b""),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            for (k, v) in instructions.headers() {
                rb = rb.header(k, v);
            }
        }
        async move {
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let pin = format!("/streams/streaming-{UID}-pin");
    for (method, path) in [
        ("GET", "/streams"),
        ("GET", pin.as_str()),
        ("DELETE", pin.as_str()),
    ] {
        let (status, body) = call(method, path, None).await;
        assert_eq!(
            (status, body.as_str()),
            (403, r#"{"message":"Missing Authentication Token"}"#),
            "{method} {path} unsigned"
        );
    }
    let (status, body) = call("GET", "/streams", Some(&operator)).await;
    assert_eq!(status, 200, "GET /streams signed by the operator: {body}");
    assert!(body.contains(&format!("streaming-{UID}-pin")), "{body}");
    let (status, body) = call("DELETE", &pin, Some(&operator)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("User: arn:aws:iam::123456789012:user/operator is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:")
            && body.contains(&format!("/DELETE/streams/streaming-{UID}-pin")),
        "{body}"
    );
    let wrong = aws_credential_types::Credentials::new(
        operator.access_key_id(),
        "not-the-secret",
        None,
        None,
        "test",
    );
    let (status, body) = call("GET", "/streams", Some(&wrong)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("signature we calculated does not match"),
        "{body}"
    );
    // A payload over API Gateway's 10 MB: REQUEST_TOO_LARGE, before any integration runs.
    let r = http
        .put(format!("{url}/streams/streaming-{UID}-pin/record"))
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Request Too Long"}"#);
    // Bodies the stack's models refuse: API Gateway's 400 before Kinesis is called.
    let record = format!("{url}/streams/streaming-{UID}-pin/record");
    for (body, why) in [
        (
            r#"{"Data": {"marker": "refused-1"}, "PartitionKey": "#,
            "not JSON",
        ),
        (r#"{"Data": {"marker": "refused-2"}}"#, "no PartitionKey"),
        (
            r#"{"Data": {"marker": "refused-3"}, "PartitionKey": 7}"#,
            "a number key",
        ),
    ] {
        let r = http
            .put(&record)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{why}");
        assert_eq!(
            r.headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok()),
            Some("BadRequestException"),
            "{why}"
        );
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"message":"Invalid request body"}"#,
            "{why}"
        );
    }
    let records = format!("{url}/streams/streaming-{UID}-pin/records");
    let r = http
        .put(&records)
        .header("content-type", "application/json")
        .body(r#"{"records": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "PutRecords of no record");
    // The stream the unsigned and the refused DELETEs named is still there.
    let kinesis = aws_sdk_kinesis::Client::new(&moto.config().await);
    let mut data = String::new();
    for shard in kinesis
        .list_shards()
        .stream_name(format!("streaming-{UID}-pin"))
        .send()
        .await
        .unwrap()
        .shards()
    {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(format!("streaming-{UID}-pin"))
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        while let Some(it) = iterator {
            let out = kinesis
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .unwrap();
            for r in out.records() {
                data.push_str(&String::from_utf8_lossy(r.data().as_ref()));
            }
            iterator = out
                .next_shard_iterator()
                .map(str::to_string)
                .filter(|_| out.millis_behind_latest().unwrap_or(0) > 0);
        }
    }
    assert!(!data.contains("refused-"), "a refused body reached Kinesis");
    kinesis
        .describe_stream_summary()
        .stream_name(format!("streaming-{UID}-pin"))
        .send()
        .await
        .expect("the stream survives refused deletes");
}

/// POSTs one JSON record (Confluent v2) to the REST proxy at `address`; the raw answer, or
/// None while nothing listens.
fn post_json(address: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(address).ok()?;
    let body = r#"{"records":[{"value":{"index":1}}]}"#;
    write!(
        c,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/vnd.kafka.json.v2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    Some(out).filter(|o| !o.is_empty())
}
