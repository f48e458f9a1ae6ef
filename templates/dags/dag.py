"""Daily batch of the Pinterest pipeline for user ${vars.uid}: clean the sink's objects into
Delta tables and answer the 8 questions. Rendered by pinctl (stack ${stack.name}, env ${stack.env})."""
from datetime import datetime, timedelta

from airflow import DAG

UID = "${vars.uid}"
RUNNER = "${vars.runner}"  # local | ssm | databricks
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
    else:
        from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

        run_batch = DatabricksSubmitRunOperator(
            task_id="run_batch",
            databricks_conn_id="databricks_default",
            existing_cluster_id="${vars.databricks_cluster_id}",
            notebook_task={"notebook_path": "${vars.databricks_notebook}"},
        )
