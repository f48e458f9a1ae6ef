# Installs what the local twin and the tests need when it is missing, reusing what is there:
# a Python venv with moto server, boto3, the AWS CLI, the MSK IAM signer and deltalake; Apache
# Airflow 2.10 in a venv of its own; tansu (cargo install); Debian's mariadb-server (unless
# PINCTL_SKIP_MARIADB=1).
# Sourced by scripts/test.sh and scripts/demo.sh; exports the settings they use.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/pinctl"
venv="${PINCTL_VENV:-$cache/venv}"
mkdir -p "$cache"

# Python venv with moto server (the AWS APIs the tests talk to through the official Rust SDK).
if [ ! -x "$venv/bin/python" ]; then
  echo "setup.sh: creating the Python venv at $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import moto, flask, flask_cors, aws_msk_iam_sasl_signer, deltalake, pyarrow, boto3' 2>/dev/null; then
  echo "setup.sh: installing moto[server], the MSK IAM signer and deltalake (Python) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.0,<6' \
    'aws-msk-iam-sasl-signer-python>=1.0,<2' 'deltalake[pyarrow]>=1.0' 'boto3'
fi
# The AWS CLI (v1, PyPI's awscli, which carries its own botocore): the stock client the
# conformance test lists the twin's clusters, connectors and environments with.
if [ ! -x "$venv/bin/aws" ]; then
  echo "setup.sh: installing the AWS CLI (awscli) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'awscli>=1.40'
fi
export PINCTL_MOTO_SERVER="$venv/bin/moto_server"
export PINCTL_VENV="$venv"

# Apache Airflow, MWAA's version, in a venv of its own (its pins clash with moto's).
airflow_venv="${PINCTL_AIRFLOW_VENV:-$cache/venv-airflow}"
# With the Amazon provider, which the DAG's SSM runner uses (as on MWAA).
if ! "$airflow_venv/bin/airflow" version 2>/dev/null | grep -q '^2\.10\.' \
  || ! "$airflow_venv/bin/python" -c 'import airflow.providers.amazon.aws.operators.ssm' 2>/dev/null; then
  echo "setup.sh: installing apache-airflow 2.10 and its Amazon provider into $airflow_venv"
  [ -x "$airflow_venv/bin/pip" ] || python3 -m venv "$airflow_venv"
  "$airflow_venv/bin/pip" install --quiet --disable-pip-version-check 'apache-airflow==2.10.*' \
    'apache-airflow-providers-amazon'
fi
export PINCTL_AIRFLOW_VENV="$airflow_venv"

# tansu, the Kafka broker of the local twin (a long release build, done once).
if ! command -v tansu >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/tansu" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! tansu --version >/dev/null 2>&1; then
  echo "setup.sh: installing tansu (cargo install; this takes a while once)"
  cargo install tansu --locked --features dynostore,libsql
fi

# MariaDB (Debian's server), the MySQL the original pipeline read; each test starts its own
# server on a free loopback port with a scratch data directory.
if [ "${PINCTL_SKIP_MARIADB:-0}" != 1 ] && ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
  echo "setup.sh: installing mariadb-server (Debian)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client >/dev/null \
    || { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client >/dev/null; }
fi
export PATH="$PATH:/usr/sbin"

# A stable build directory outside the checkout, so a fresh clone does not rebuild everything.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"

