//! `emrserverless.application` against moto server with pinctl's fidelity layer
//! (scripts/moto/pinctl_moto_fidelity.py), and the DAG's `emr` runner in real Airflow 2.10 with
//! a job run that really runs the Spark batch job (issue 18, items 2 and 3).
//!
//! The state rules are AWS's (EMR Serverless API Reference): an application is updated or
//! deleted only when CREATED or STOPPED, so a STARTED one is refused as AWS refuses it, and the
//! provider stops it first.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_emrserverless::types::{ApplicationState, JobDriver, JobRunState, SparkSubmit};
use serde_json::Value;

use crate::util::answers::expected_answers;
use crate::util::jobs::{generate_source, sink_objects};
use crate::util::plan::PlanExt;
use crate::util::{Moto, Project, BUCKET, UID};

const APP: &str = r#"
stack: emr
resources:
  app:
    type: emrserverless.application
    props:
      name: emr-app
      release_label: emr-7.12.0
      maximum_capacity: {cpu: 4 vCPU, memory: 16 GB}
"#;

fn emr(conf: &aws_config::SdkConfig) -> aws_sdk_emrserverless::Client {
    aws_sdk_emrserverless::Client::new(conf)
}

async fn state(c: &aws_sdk_emrserverless::Client, id: &str) -> ApplicationState {
    c.get_application()
        .application_id(id)
        .send()
        .await
        .unwrap()
        .application()
        .unwrap()
        .state()
        .clone()
}

async fn wait_for(c: &aws_sdk_emrserverless::Client, id: &str, want: ApplicationState) {
    let t0 = Instant::now();
    loop {
        let s = state(c, id).await;
        if s == want {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{id} stays {s:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `refused` is EMR Serverless's ValidationException (`context` says which call).
#[track_caller]
fn assert_validation<
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::fmt::Debug,
>(
    refused: &E,
    context: &str,
) {
    assert_eq!(
        refused.code(),
        Some("ValidationException"),
        "{context}: {refused:?}"
    );
}

/// `down` succeeds, the application is TERMINATED and the state is empty.
async fn down_removes_it(p: &Project, c: &aws_sdk_emrserverless::Client, id: &str) {
    p.run(&["down", "--yes"]).expect(0);
    assert_eq!(state(c, id).await, ApplicationState::Terminated);
    assert_eq!(
        p.state("emr", "default")["resources"],
        serde_json::json!({})
    );
}

fn app_id(p: &Project) -> String {
    p.state("emr", "default")["resources"]["app"]["physical_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `up` waits for CREATED; a STARTED application refuses DeleteApplication as AWS does, and
/// `down` stops it first, then deletes it (TERMINATED).
#[tokio::test(flavor = "multi_thread")]
async fn down_stops_a_started_application_then_deletes_it() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env = moto.env();
    p.stack(APP);
    p.run(&["up", "--yes"]).expect(0);
    let c = emr(&moto.config().await);
    let id = app_id(&p);
    assert_eq!(state(&c, &id).await, ApplicationState::Created);
    let app = c
        .get_application()
        .application_id(&id)
        .send()
        .await
        .unwrap();
    let tags = app.application().unwrap().tags().unwrap();
    assert_eq!(tags.get("pinctl:id").map(String::as_str), Some("app"));

    c.start_application()
        .application_id(&id)
        .send()
        .await
        .unwrap();
    wait_for(&c, &id, ApplicationState::Started).await;
    let refused = c
        .delete_application()
        .application_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_validation(&refused, "DeleteApplication of a STARTED application");

    down_removes_it(&p, &c, &id).await;
}

/// A change of a STARTED application's capacity: `up` stops it, then updates it in place;
/// the plan is clean afterwards, and a change of the name replaces it.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_of_a_started_application_stops_it_first() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env = moto.env();
    p.stack(APP);
    p.run(&["up", "--yes"]).expect(0);
    let c = emr(&moto.config().await);
    let id = app_id(&p);
    c.start_application()
        .application_id(&id)
        .send()
        .await
        .unwrap();
    wait_for(&c, &id, ApplicationState::Started).await;

    p.stack(&APP.replace("cpu: 4 vCPU, memory: 16 GB", "cpu: 8 vCPU, memory: 32 GB"));
    let plan = p.run(&["plan", "--json"]);
    plan.expect(2);
    assert_eq!(
        plan.plan().resource("app").action,
        crate::util::plan::Action::Update
    );
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(app_id(&p), id, "updated in place");
    let app = c
        .get_application()
        .application_id(&id)
        .send()
        .await
        .unwrap();
    let app = app.application().unwrap();
    assert_eq!(app.state(), &ApplicationState::Stopped);
    assert_eq!(app.maximum_capacity().unwrap().cpu(), "8 vCPU");
    p.run(&["plan"]).expect(0);

    p.run(&["down", "--yes"]).expect(0);
    assert_eq!(state(&c, &id).await, ApplicationState::Terminated);
}

/// The DAG with `runner: emr`, rendered by pinctl, in Airflow 2.10: EmrServerlessStartJobOperator
/// starts a job run on the application provisioned by `up` (CREATED: the run starts it) of the Spark batch job `up`
/// shipped to S3, as the job role, and waits for it; on moto the run really runs
/// (spark-submit with Delta Lake and S3A against moto's S3). The answers it writes beside the
/// tables are the 8 answers of the events in the sink's objects.
#[tokio::test(flavor = "multi_thread")]
async fn the_emr_runner_runs_the_spark_job_and_its_answers_appear() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env = moto.env();
    crate::util::copy_repo_dirs(p.path(), &["templates", "jobs"]);
    p.stack(&format!(
        r#"
stack: emr
resources:
  data_bucket:
    type: s3.bucket
    props: {{name: {BUCKET}, force_destroy: true}}
  artifacts:
    type: s3.bucket
    props: {{name: emr-artifacts, force_destroy: true}}
  job_role:
    type: iam.role
    props:
      name: emr-job-role
      trusted_services: [emr-serverless.amazonaws.com]
      policies:
        job:
          - actions: [s3:GetObject]
            resources: ["${{artifacts.arn}}/jobs/*"]
          - actions: [s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload]
            resources: ["${{data_bucket.arn}}/*"]
          - actions: [s3:ListBucket]
            resources: ["${{data_bucket.arn}}"]
  app:
    type: emrserverless.application
    props:
      name: emr-app
      release_label: emr-7.12.0
      maximum_capacity: {{cpu: 4 vCPU, memory: 16 GB}}
  script:
    type: s3.object
    props:
      bucket: ${{artifacts.name}}
      key: jobs/batch_job.py
      content: {{file: jobs/spark/batch_job.py}}
  dag:
    type: sim.thing
    props:
      name: dag
      content:
        template: templates/dags/dag.py
        vars:
          uid: {UID}
          runner: emr
          bucket: ${{data_bucket.name}}
          out: s3://${{data_bucket.name}}/delta/batch
          pinctl: /usr/local/bin/pinctl
          instance_id: ""
          databricks_cluster_id: ""
          databricks_notebook: ""
          emr_application_id: ${{app.id}}
          emr_job_role_arn: ${{job_role.arn}}
          emr_entry_point: s3://${{artifacts.name}}/${{script.key}}
"#
    ));
    p.run(&["up", "--yes"]).expect(0);

    // 40 events in the sink's layout, a few of them twice.
    let tables = generate_source(p.path(), 60);
    let keys: Vec<usize> = (0..40).chain([3, 7, 11]).collect();
    let s3 = moto.s3().await;
    sink_objects(&s3, &tables, &keys, 0).await;
    let distinct: BTreeSet<usize> = keys.iter().copied().collect();

    let dag = p.object_named("dag").unwrap()["props"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let home = p.path().join("airflow");
    std::fs::create_dir_all(home.join("dags")).unwrap();
    std::fs::write(home.join(format!("dags/{UID}_dag.py")), &dag).unwrap();
    let bin = crate::util::airflow();
    let airflow_cmd = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env("AIRFLOW_HOME", &home)
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("AIRFLOW__CORE__DAGS_FOLDER", home.join("dags"))
            .envs(moto.env())
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .unwrap()
    };
    let migrate = airflow_cmd(&["db", "migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let t0 = Instant::now();
    let test = airflow_cmd(&["dags", "test", &format!("{UID}_dag"), "2024-01-01"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(test.status.success(), "{out}");
    assert!(crate::util::dag_run_succeeded(&out), "{out}");
    eprintln!("the DAG's emr run took {:.1} s", t0.elapsed().as_secs_f64());

    // One job run, ended SUCCESS, as the job role.
    let c = emr(&moto.config().await);
    let id = app_id(&p);
    let runs = c.list_job_runs().application_id(&id).send().await.unwrap();
    assert_eq!(runs.job_runs().len(), 1, "{runs:?}");
    let run = &runs.job_runs()[0];
    assert_eq!(run.state().as_str(), "SUCCESS", "{run:?}");
    assert!(run.execution_role().ends_with(":role/emr-job-role"));

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

    // down: the application (STARTED by the run, auto-stop not yet due) is stopped, then deleted.
    p.run(&["down", "--yes"]).expect(0);
    assert_eq!(state(&c, &id).await, ApplicationState::Terminated);
}

/// `down` with a job run still RUNNING: StopApplication is refused while a run is not done
/// (AWS's rule, kept by the twin), so the provider cancels the run (CANCELLING, then CANCELLED
/// once its driver is stopped), waits for STOPPED and deletes the application.
#[tokio::test(flavor = "multi_thread")]
async fn down_cancels_a_running_job_run_then_deletes_the_application() {
    let moto = Moto::start();
    let mut p = Project::new();
    p.env = moto.env();
    p.stack(&format!(
        r#"{APP}
  jobs:
    type: s3.bucket
    props: {{name: emr-jobs, force_destroy: true}}
  job_role:
    type: iam.role
    props:
      name: emr-job-role
      trusted_services: [emr-serverless.amazonaws.com]
      policies:
        job:
          - actions: [s3:GetObject]
            resources: ["${{jobs.arn}}/*"]
  sleeper:
    type: s3.object
    props:
      bucket: ${{jobs.name}}
      key: sleep.py
      # Outlives the test's down by far, ends by itself should the cancel fail.
      content: "import time\ntime.sleep(150)\n"
"#
    ));
    p.run(&["up", "--yes"]).expect(0);
    let c = emr(&moto.config().await);
    let id = app_id(&p);
    let role = p.state("emr", "default")["resources"]["job_role"]["outputs"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let run = c
        .start_job_run()
        .application_id(&id)
        .client_token("sleeper")
        .execution_role_arn(&role)
        .job_driver(JobDriver::SparkSubmit(
            SparkSubmit::builder()
                .entry_point("s3://emr-jobs/sleep.py")
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap()
        .job_run_id()
        .to_string();
    let run_state = || async {
        c.get_job_run()
            .application_id(&id)
            .job_run_id(&run)
            .send()
            .await
            .unwrap()
            .job_run()
            .unwrap()
            .state()
            .clone()
    };
    let t0 = Instant::now();
    while run_state().await != JobRunState::Running {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the run stays {:?}",
            run_state().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let refused = c
        .stop_application()
        .application_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_validation(&refused, "StopApplication while a run is RUNNING");

    down_removes_it(&p, &c, &id).await;
    assert_eq!(run_state().await, JobRunState::Cancelled);
}

/// The service model's rules on an application (botocore emr-serverless): a literal that breaks
/// one is refused by `validate` where it is written; one made of a param is refused by `plan`
/// once it resolves, before any call; the twin refuses the same request with AWS's
/// ValidationException.
#[tokio::test(flavor = "multi_thread")]
async fn an_application_aws_would_refuse_is_refused_before_any_call() {
    let mut p = Project::new();
    p.stack(
        r#"
stack: emr
resources:
  app:
    type: emrserverless.application
    props:
      name: emr app
      release_label: emr-6.5.0
      maximum_capacity: {cpu: 8 cores, memory: 32 GB}
      network:
        subnet_ids: [subnet-1]
        security_group_ids: [sg-1, sg-2, sg-3, sg-4, sg-5, sg-6]
      auto_stop_idle_minutes: 20000
"#,
    );
    let v = p.run(&["validate"]);
    v.expect(1);
    let err = format!("{}{}", v.stdout, v.stderr);
    for want in [
        ":7:13: error: `resources.app.props.name`: `emr app` does not match `^[A-Za-z0-9._/#-]+$`",
        ":8:22: error: `resources.app.props.release_label`: `emr-6.5.0` does not match",
        ":9:31: error: `resources.app.props.maximum_capacity.cpu`: `8 cores` does not match",
        ":12:29: error: `resources.app.props.network.security_group_ids`: 6 items; the most is 5",
        ":13:31: error: `resources.app.props.auto_stop_idle_minutes`: must be at most 10080, found 20000",
    ] {
        assert!(err.contains(want), "want {want:?} in:\n{err}");
    }

    let moto = Moto::start();
    p.env = moto.env();
    p.stack(
        r#"
stack: emr
params:
  prefix: {default: "my app"}
resources:
  app:
    type: emrserverless.application
    props:
      name: ${params.prefix}-batch
      release_label: emr-7.12.0
      maximum_capacity: {cpu: 4 vCPU, memory: 16 GB}
"#,
    );
    p.run(&["validate"]).expect(0);
    let plan = p.run(&["plan"]);
    plan.expect(1);
    assert!(
        plan.stderr
            .contains("app: `resources.app.props.name`: `my app-batch` does not match"),
        "{}",
        plan.stderr
    );
    let c = emr(&moto.config().await);
    assert!(c
        .list_applications()
        .send()
        .await
        .unwrap()
        .applications()
        .is_empty());
    let refused = c
        .create_application()
        .name("my app-batch")
        .release_label("emr-7.12.0")
        .r#type("SPARK")
        .client_token("t")
        .send()
        .await
        .unwrap_err();
    assert_validation(&refused, "CreateApplication named `my app-batch`");
}
