"""Daily batch of the Pinterest pipeline for user ${vars.uid}: clean the sink's objects into
Delta tables and answer the 8 questions. Rendered by pinctl (stack ${stack.name}, env ${stack.env})."""
from datetime import datetime, timedelta

from airflow import DAG

UID = "${vars.uid}"
RUNNER = "${vars.runner}"  # local | ssm | emr | databricks
BATCH_ARGS = [
    "worker", "batch",
    "--bucket", "${vars.bucket}",
    "--uid", UID,
    "--out", "${vars.out}",
]

default_args = {
    "owner": "pinctl",
    "depends_on_past": False,
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
}

with DAG(
    dag_id=f"{UID}_dag",
    description="Clean the day's pins, geolocations and users and run the analysis",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # One batch at a time: two runs would MERGE into the same Delta tables at once (on S3, Delta
    # Lake's default log store is safe for one writer only).
    max_active_runs=1,
    default_args=default_args,
    tags=["pinctl", UID],
) as dag:
    if RUNNER == "local":
        import os
        import shlex

        from airflow.operators.bash import BashOperator

        # The twin's Airflow names its pinctl binary; on a host of its own the rendered path.
        PINCTL = os.environ.get("PINCTL_BIN", "${vars.pinctl}")

        run_batch = BashOperator(
            task_id="run_batch",
            bash_command=" ".join(shlex.quote(a) for a in [PINCTL, *BATCH_ARGS]),
        )
    elif RUNNER == "ssm":
        from airflow.providers.amazon.aws.operators.ssm import SsmRunCommandOperator

        run_batch = SsmRunCommandOperator(
            task_id="run_batch",
            document_name="AWS-RunShellScript",
            run_command_kwargs={
                "InstanceIds": ["${vars.instance_id}"],
                "Parameters": {"commands": ["/usr/local/bin/pinctl " + " ".join(BATCH_ARGS)]},
            },
        )
    elif RUNNER == "emr":
        from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator

        # The batch job as a Spark job (jobs/spark/batch_job.py, shipped by `up`) on the stack's
        # EMR Serverless application, as the job role. The operator starts a STOPPED application
        # (a CREATED one starts with the run, by auto-start), starts the job run and waits until it ends: SUCCESS, or the task
        # fails with the run's state details (FAILED, CANCELLED). Delta Lake comes with the
        # release (Amazon EMR Serverless User Guide, "Using Delta Lake with EMR Serverless": the
        # jars in /usr/share/aws/delta/lib, its Python API from delta-spark.jar).
        DELTA = "/usr/share/aws/delta/lib"
        run_batch = EmrServerlessStartJobOperator(
            task_id="run_batch",
            application_id="${vars.emr_application_id}",
            execution_role_arn="${vars.emr_job_role_arn}",
            name=f"{UID}-batch",
            job_driver={
                "sparkSubmit": {
                    "entryPoint": "${vars.emr_entry_point}",
                    "entryPointArguments": [
                        "--input", "s3://${vars.bucket}",
                        "--uid", UID,
                        "--out", "${vars.out}",
                        # The answers beside the tables, where the Rust job puts its report.
                        "--report-dir", "${vars.out}/report",
                    ],
                    "sparkSubmitParameters": " ".join([
                        f"--conf spark.jars={DELTA}/delta-spark.jar,{DELTA}/delta-storage.jar",
                        f"--conf spark.submit.pyFiles={DELTA}/delta-spark.jar",
                        # The job reads and writes Delta tables by path, not through a metastore:
                        # an in-memory catalog, so the job role needs no AWS Glue Data Catalog
                        # permissions (which EMR Serverless can use as Spark's metastore: User
                        # Guide, "Metastore configuration").
                        "--conf spark.sql.catalogImplementation=in-memory",
                    ]),
                }
            },
            configuration_overrides={},
            # EMR Serverless cancels a run that outlives executionTimeoutMinutes (StartJobRun;
            # default 720): bounded below the waiter's 65 minutes, a run never outlives the task
            # waiting for it, and no retry starts a second writer beside a run still MERGEing.
            config={"executionTimeoutMinutes": 60},
            wait_for_completion=True,
            waiter_delay=15,
            waiter_max_attempts=260,  # 65 minutes
            # The next day's run takes in whatever this one did not (the job reads every object).
            retries=0,
        )
    else:
        from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

        run_batch = DatabricksSubmitRunOperator(
            task_id="run_batch",
            databricks_conn_id="databricks_default",
            existing_cluster_id="${vars.databricks_cluster_id}",
            notebook_task={"notebook_path": "${vars.databricks_notebook}"},
        )
