//! The DAG template, rendered by pinctl, in real Apache Airflow 2.10 (MWAA's version, installed
//! by the test command): it imports without errors, is `@daily` with `catchup=False` and retries
//! 2 minutes apart, and `airflow dags test` runs its task with the local runner. The batch worker
//! itself is not part of this check: the runner is pointed at `echo`, which prints the command
//! line the task would run. The SSM runner is exercised against moto: the command reaches SSM Run
//! Command for the instance, as MWAA sends it.

use std::path::Path;
use std::process::Command;

use crate::util::Project;

#[test]
fn the_rendered_dag_runs_in_airflow() {
    let p = Project::new();
    crate::util::copy_repo_dirs(p.path(), &["templates"]);
    p.stack(
        r#"
stack: dag
resources:
  dag:
    type: sim.thing
    props:
      name: dag
      content:
        template: templates/dags/dag.py
        vars:
          uid: 0e36c8cd403d
          runner: local
          bucket: user-0e36c8cd403d-bucket
          out: /tmp/pinctl-delta
          pinctl: /bin/echo
          instance_id: ""
          databricks_cluster_id: ""
          databricks_notebook: ""
          emr_application_id: ""
          emr_job_role_arn: ""
          emr_entry_point: ""
"#,
    );
    p.run(&["up", "--yes"]).expect(0);
    let dag = p.object_named("dag").unwrap()["props"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let home = p.path().join("airflow");
    std::fs::create_dir_all(home.join("dags")).unwrap();
    std::fs::write(home.join("dags/0e36c8cd403d_dag.py"), &dag).unwrap();

    let bin = crate::util::airflow();
    let python = Path::new(&bin).with_file_name("python");
    let run = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .env("AIRFLOW_HOME", &home)
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("AIRFLOW__CORE__DAGS_FOLDER", home.join("dags"))
            .output()
            .unwrap()
    };
    let migrate = run(&["db", "migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let check = Command::new(&python)
        .args(["-c", r#"
import sys
from airflow.models import DagBag
bag = DagBag(sys.argv[1], include_examples=False)
assert not bag.import_errors, bag.import_errors
dag = bag.get_dag("0e36c8cd403d_dag")
print(dag.schedule_interval, dag.catchup, dag.default_args["retries"], dag.default_args["retry_delay"].total_seconds(), [t.task_id for t in dag.tasks])
"#])
        .arg(home.join("dags"))
        .env("AIRFLOW_HOME", &home)
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        stdout.trim().lines().last().unwrap(),
        "@daily False 2 120.0 ['run_batch']"
    );

    let test = run(&["dags", "test", "0e36c8cd403d_dag", "2024-01-01"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(test.status.success(), "{out}");
    assert!(out.contains("worker batch --bucket user-0e36c8cd403d-bucket --uid 0e36c8cd403d --out /tmp/pinctl-delta"), "{out}");
    assert!(crate::util::dag_run_succeeded(&out), "{out}");
}

/// The SSM runner, as MWAA runs it: `airflow dags test` sends the batch command to the EC2 client
/// through SSM Run Command (moto) and waits for it; the command names the instance and the
/// batch job's arguments.
#[tokio::test(flavor = "multi_thread")]
async fn the_ssm_runner_sends_the_batch_command_to_the_instance() {
    let moto = crate::util::Moto::start();
    let conf = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_string();

    let mut p = Project::new();
    p.env = moto.env();
    crate::util::copy_repo_dirs(p.path(), &["templates"]);
    p.stack(&format!(
        r#"
stack: dag
resources:
  dag:
    type: sim.thing
    props:
      name: dag
      content:
        template: templates/dags/dag.py
        vars:
          uid: 0e36c8cd403d
          runner: ssm
          bucket: user-0e36c8cd403d-bucket
          out: s3://user-0e36c8cd403d-bucket/delta/batch
          pinctl: /usr/local/bin/pinctl
          instance_id: {instance}
          databricks_cluster_id: ""
          databricks_notebook: ""
          emr_application_id: ""
          emr_job_role_arn: ""
          emr_entry_point: ""
"#
    ));
    p.run(&["up", "--yes"]).expect(0);
    let dag = p.object_named("dag").unwrap()["props"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let home = p.path().join("airflow");
    std::fs::create_dir_all(home.join("dags")).unwrap();
    std::fs::write(home.join("dags/0e36c8cd403d_dag.py"), &dag).unwrap();
    let bin = crate::util::airflow();
    let airflow_cmd = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args)
            .env("AIRFLOW_HOME", &home)
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("AIRFLOW__CORE__DAGS_FOLDER", home.join("dags"))
            // boto3 under the Amazon provider reads the same settings as the Rust SDK, and
            // its region from AWS_DEFAULT_REGION, which MWAA sets for its workers.
            .envs(moto.env())
            .env("AWS_DEFAULT_REGION", "us-east-1");
        c.output().unwrap()
    };
    let migrate = airflow_cmd(&["db", "migrate"]);
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let test = airflow_cmd(&["dags", "test", "0e36c8cd403d_dag", "2024-01-01"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(test.status.success(), "{out}");
    assert!(crate::util::dag_run_succeeded(&out), "{out}");

    let ssm = aws_sdk_ssm::Client::new(&conf);
    let commands = ssm.list_commands().send().await.unwrap();
    let sent: Vec<_> = commands.commands().iter().collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let c = sent[0];
    assert_eq!(c.document_name(), Some("AWS-RunShellScript"));
    assert_eq!(c.instance_ids(), std::slice::from_ref(&instance));
    let lines = &c.parameters().unwrap()["commands"];
    assert_eq!(
        lines,
        &vec!["/usr/local/bin/pinctl worker batch --bucket user-0e36c8cd403d-bucket --uid 0e36c8cd403d --out s3://user-0e36c8cd403d-bucket/delta/batch".to_string()]
    );
}
