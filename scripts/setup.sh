# Installs what the local twin and the tests need when it is missing, reusing what is there:
# a Python venv with moto server, boto3, the AWS CLI, the MSK IAM signer and deltalake; Apache
# Airflow 2.10 in a venv of its own; Apache Kafka (Maven Central); Debian's mariadb-server (unless
# PINCTL_SKIP_MARIADB=1); Debian's chromium with its WebDriver and Selenium (unless
# PINCTL_SKIP_BROWSER=1); pyspark with Delta Lake's jars (Maven Central) and DuckDB with its delta
# extension, the readers of the jobs' tables.
# Sourced by scripts/test.sh and scripts/demo.sh; exports the settings they use.

# A machine with no locale set (a bare CI runner, `env -i`) runs Java 17 in US-ASCII: javac
# refuses the sources' UTF-8, and Spark and Kafka would read and write text as ASCII. UTF-8,
# unless the caller chose a locale.
if [ -z "${LC_ALL:-}${LC_CTYPE:-}${LANG:-}" ]; then
  export LANG=C.UTF-8
fi
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
# moto's answers corrected where they differ from AWS's (scripts/moto/pinctl_moto_fidelity.py),
# loaded by moto_server at start through a .pth file when the module is on its path: pinctl puts
# its own copy there (PYTHONPATH), so each checkout's moto runs that checkout's corrections.
site_packages="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
pth='import importlib.util as u; u.find_spec("pinctl_moto_fidelity") and __import__("pinctl_moto_fidelity")'
if [ "$(cat "$site_packages/pinctl_moto_fidelity.pth" 2>/dev/null)" != "$pth" ]; then
  echo "$pth" > "$site_packages/pinctl_moto_fidelity.pth"
fi
# An installed copy (from earlier versions of this script) would shadow nothing but is stale.
rm -f "$site_packages/pinctl_moto_fidelity.py"
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

# Apache Kafka, the twin's broker (what MSK runs), from Maven Central: the broker jar
# (org.apache.kafka:kafka_2.13) and its runtime dependencies in ~/.cache/pinctl/kafka/<version>/lib,
# resolved by Maven once and reused. The version is the stack's `kafka_version` default (MSK's
# "3.8.x" names a minor line: the newest patch of that line published), or PINCTL_KAFKA_VERSION.
# The broker runs with `pinctl local broker` (one KRaft node; src/local/kafka.rs).
kafka_version="${PINCTL_KAFKA_VERSION:-}"
if [ -z "$kafka_version" ]; then
  stack_version=$(sed -n '/^  kafka_version:/,/default:/s/^ *default: *//p' \
    "$(dirname "${BASH_SOURCE[0]}")/../stacks/pinterest.yaml" 2>/dev/null | head -1)
  case "$stack_version" in
    3.7.x) kafka_version=3.7.2 ;;
    3.8.x) kafka_version=3.8.1 ;;
    3.9.x) kafka_version=3.9.2 ;;
    4.0.x) kafka_version=4.0.2 ;;
    4.1.x) kafka_version=4.1.2 ;;
    [0-9]*.[0-9]*.[0-9]*) kafka_version="$stack_version" ;;
    *) kafka_version=3.8.1 ;;
  esac
fi
kafka_home="$cache/kafka/$kafka_version"
if [ ! -e "$kafka_home/lib/kafka_2.13-$kafka_version.jar" ]; then
  echo "setup.sh: installing Apache Kafka $kafka_version from Maven Central into $kafka_home"
  if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    echo "setup.sh: Apache Kafka needs Java 17+ and Maven (apt-get install openjdk-17-jre-headless maven)" >&2
    return 1 2>/dev/null || exit 1
  fi
  # Kafka 3.x logs through SLF4J 1 to reload4j (its distribution's binding); 4.x brings log4j2.
  logging=""
  case "$kafka_version" in
    3.*) logging='<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>' ;;
  esac
  rm -rf "$kafka_home.partial"
  mkdir -p "$kafka_home.partial"
  cat >"$kafka_home.partial/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pinctl.local</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$kafka_version</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$kafka_version</version></dependency>
    $logging
  </dependencies>
</project>
EOF
  if ! (cd "$kafka_home.partial" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$kafka_home.partial/lib" >mvn.log 2>&1); then
    cat "$kafka_home.partial/mvn.log" >&2
    echo "setup.sh: resolving org.apache.kafka:kafka_2.13:$kafka_version from Maven Central failed" >&2
    return 1 2>/dev/null || exit 1
  fi
  rm -rf "$kafka_home"
  mv "$kafka_home.partial" "$kafka_home"
fi
export PINCTL_KAFKA_HOME="$kafka_home"
# MSK IAM inside the broker (java/msk-iam: the SASL/OAUTHBEARER callback handler and the
# authorizer), compiled against this Kafka's jars into $kafka_home/pinctl/, the broker's extra
# classpath; rebuilt when the sources change.
msk_iam_src="$(dirname "${BASH_SOURCE[0]}")/../java/msk-iam/src"
msk_iam_sum=$(cat $(find "$msk_iam_src" -name '*.java' | sort) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$kafka_home/pinctl/msk-iam.sha256" 2>/dev/null)" != "$msk_iam_sum" ]; then
  echo "setup.sh: building the broker's MSK IAM classes (java/msk-iam) with javac"
  rm -rf "$kafka_home/pinctl.partial" && mkdir -p "$kafka_home/pinctl.partial/classes"
  javac -nowarn -encoding UTF-8 -d "$kafka_home/pinctl.partial/classes" -cp "$kafka_home/lib/*" \
    $(find "$msk_iam_src" -name '*.java' | sort)
  jar cf "$kafka_home/pinctl.partial/msk-iam.jar" -C "$kafka_home/pinctl.partial/classes" .
  rm -rf "$kafka_home/pinctl.partial/classes"
  echo "$msk_iam_sum" > "$kafka_home/pinctl.partial/msk-iam.sha256"
  rm -rf "$kafka_home/pinctl" && mv "$kafka_home/pinctl.partial" "$kafka_home/pinctl"
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

# Chromium and its WebDriver (Debian's chromium and chromium-driver), and Selenium in the venv:
# the browser the batch report's test draws the report in (unless PINCTL_SKIP_BROWSER=1).
if [ "${PINCTL_SKIP_BROWSER:-0}" != 1 ]; then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "setup.sh: installing chromium and chromium-driver (Debian)"
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
      || { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }
  fi
  if ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
    echo "setup.sh: installing selenium (Python) into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'selenium>=4.20,<5'
  fi
fi

# ---- Spark and DuckDB, the readers of the jobs' Delta tables (tests/spark_delta.rs) ----
# pyspark 3.5 (PyPI; Scala 2.12, runs on Java 17) in the venv, and Delta Lake's jars
# (io.delta:delta-spark_2.12 and io.delta:delta-storage, Maven Central; 3.3.x is the line built
# for Spark 3.5) in ~/.cache/pinctl/spark/<delta version>/jars, resolved by Maven once and passed
# to Spark with spark.jars: Spark downloads nothing at run time. Their own dependencies (Scala,
# ANTLR) are pyspark's. DuckDB 1.4.4 with its `delta` extension from PyPI's duckdb-ext-delta
# (DuckDB's own signed build; DuckDB refuses an unsigned one), since DuckDB's INSTALL fetches
# from a host this machine does not reach.
delta_spark_version="${PINCTL_DELTA_SPARK_VERSION:-3.3.2}"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys
sys.exit(not (m.version("pyspark").startswith("3.5.") and m.version("duckdb") == "1.4.4"
              and m.version("duckdb-ext-delta").startswith("1.4.4.")))' 2>/dev/null; then
  echo "setup.sh: installing pyspark 3.5, duckdb 1.4.4 and its delta extension into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'pyspark>=3.5.3,<3.6' \
    'duckdb==1.4.4' 'duckdb-ext-delta>=1.4.4,<1.4.5'
fi
spark_jars="$cache/spark/$delta_spark_version/jars"
if [ ! -e "$spark_jars/delta-spark_2.12-$delta_spark_version.jar" ] \
  || [ ! -e "$spark_jars/delta-storage-$delta_spark_version.jar" ]; then
  echo "setup.sh: installing Delta Lake $delta_spark_version for Spark from Maven Central into $spark_jars"
  if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    echo "setup.sh: Spark with Delta Lake needs Java 17 and Maven (apt-get install openjdk-17-jre-headless maven)" >&2
    return 1 2>/dev/null || exit 1
  fi
  spark_home="$cache/spark/$delta_spark_version"
  rm -rf "$spark_home.partial"
  mkdir -p "$spark_home.partial"
  cat >"$spark_home.partial/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pinctl.local</groupId>
  <artifactId>delta-spark-jars</artifactId>
  <version>$delta_spark_version</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.delta</groupId><artifactId>delta-spark_2.12</artifactId><version>$delta_spark_version</version></dependency>
    <dependency><groupId>io.delta</groupId><artifactId>delta-storage</artifactId><version>$delta_spark_version</version></dependency>
  </dependencies>
</project>
EOF
  if ! (cd "$spark_home.partial" && mvn -q -B dependency:copy-dependencies -DexcludeTransitive=true \
    -DoutputDirectory="$spark_home.partial/jars" >mvn.log 2>&1); then
    cat "$spark_home.partial/mvn.log" >&2
    echo "setup.sh: resolving io.delta:delta-spark_2.12:$delta_spark_version from Maven Central failed" >&2
    return 1 2>/dev/null || exit 1
  fi
  rm -rf "$spark_home"
  mv "$spark_home.partial" "$spark_home"
fi
export PINCTL_SPARK_JARS="$spark_jars"
# S3A, the Hadoop file system Spark reads and writes s3:// with on the twin (where EMR's own,
# EMRFS, is not): org.apache.hadoop:hadoop-aws 3.3.4, the Hadoop version pyspark 3.5 is built
# with, and the AWS SDK bundle it was built against (com.amazonaws:aws-java-sdk-bundle 1.12.262,
# 280 MB), from Maven Central once into ~/.cache/pinctl/spark/hadoop-aws-<version>/jars. The
# twin's EMR Serverless job runs use them (scripts/moto/pinctl_moto_fidelity.py).
hadoop_aws_version="${PINCTL_HADOOP_AWS_VERSION:-3.3.4}"
aws_sdk_bundle_version="${PINCTL_AWS_SDK_BUNDLE_VERSION:-1.12.262}"
s3a_jars="$cache/spark/hadoop-aws-$hadoop_aws_version/jars"
if [ ! -e "$s3a_jars/hadoop-aws-$hadoop_aws_version.jar" ] \
  || [ ! -e "$s3a_jars/aws-java-sdk-bundle-$aws_sdk_bundle_version.jar" ]; then
  echo "setup.sh: installing hadoop-aws $hadoop_aws_version and aws-java-sdk-bundle $aws_sdk_bundle_version from Maven Central into $s3a_jars"
  s3a_home="$cache/spark/hadoop-aws-$hadoop_aws_version"
  rm -rf "$s3a_home.partial"
  mkdir -p "$s3a_home.partial/jars"
  central="${PINCTL_MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"
  for jar in "org/apache/hadoop/hadoop-aws/$hadoop_aws_version/hadoop-aws-$hadoop_aws_version.jar" \
    "com/amazonaws/aws-java-sdk-bundle/$aws_sdk_bundle_version/aws-java-sdk-bundle-$aws_sdk_bundle_version.jar"; do
    name="${jar##*/}"
    # Maven Central publishes each file's SHA-1 beside it: the download is checked against it.
    if ! curl -fsSL --retry 3 -o "$s3a_home.partial/jars/$name" "$central/$jar" \
      || ! want="$(curl -fsSL --retry 3 "$central/$jar.sha1" | cut -c1-40)" \
      || [ "$(sha1sum "$s3a_home.partial/jars/$name" | cut -c1-40)" != "$want" ]; then
      echo "setup.sh: fetching $central/$jar failed (or its SHA-1 differs)" >&2
      return 1 2>/dev/null || exit 1
    fi
  done
  rm -rf "$s3a_home"
  mv "$s3a_home.partial" "$s3a_home"
fi
export PINCTL_S3A_JARS="$s3a_jars"
# ---- end of Spark and DuckDB ----

# A stable build directory outside the checkout, so a fresh clone does not rebuild everything.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"

