#!/usr/bin/env bash
# The main command (README.md): the whole pipeline on this machine. Installs what is missing,
# builds, starts the local twin, provisions stacks/pinterest.yaml onto it, emits events through
# the invoke URL on both paths, triggers the DAG, waits for the stream job, and prints where the
# report is with a short summary of the 8 answers. The twin keeps running; end it with
#   pinctl --env local down --yes && pinctl local stop
# Settings: PINCTL_DEMO_EVENTS (default 300), PINCTL_DEMO_PROFILE (dev or release; default dev,
# which the test command builds too).
set -euo pipefail
cd "$(dirname "$0")/.."

events="${PINCTL_DEMO_EVENTS:-300}"
profile="${PINCTL_DEMO_PROFILE:-dev}"
uid=0e36c8cd403d

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing (moto server, Apache Airflow, Apache Kafka)"
export PINCTL_SKIP_MARIADB=1 # the demo reads SQLite
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

say "building pinctl ($profile)"
if [ "$profile" = release ]; then
  cargo build --release --quiet
  dir=release
else
  cargo build --quiet
  dir=debug
fi
pinctl="$CARGO_TARGET_DIR/$dir/pinctl"
export PINCTL_WORKER_BINARY="$pinctl" # what `up` ships to the (twin's) EC2 client
py="$PINCTL_VENV/bin/python"

say "starting the local twin"
if ! "$pinctl" local status >/dev/null 2>&1; then
  # The previous twin's resources ended with it (moto keeps them in memory): its record is stale.
  if [ -f .pinctl/state/pinterest/local.json ]; then
    stale=".pinctl/state/pinterest/local.json.stale-$(date +%s)"
    mv .pinctl/state/pinterest/local.json "$stale"
    rm -f ".pinctl/keys/$uid-key-pair.pem"
    echo "the state of a previous twin was moved to $stale"
  fi
fi
"$pinctl" local start

say "pinctl --env local up"
"$pinctl" --env local up --yes

if [ ! -f .pinctl/pinterest_data.db ]; then
  say "generating the source tables (spec §1) into .pinctl/pinterest_data.db"
  "$pinctl" data generate --out sqlite://.pinctl/pinterest_data.db
fi

say "waiting for the data plane (gateway, REST proxy, stream job, S3 sink, Airflow)"
url=$("$pinctl" local wait --for gateway,unit,connector,airflow --timeout 300s | head -n1)
echo "invoke URL: $url"

say "emitting $events events on both paths (the course's keys and random sleeps, 8 at a time)"
"$pinctl" worker emit --source sqlite://.pinctl/pinterest_data.db --invoke-url "$url" --uid "$uid" \
  --mode both --count "$events" --concurrency 8

say "triggering ${uid}_dag in Airflow (the daily batch)"
# The sink writes an object per message; give it a moment to drain before the batch reads them.
"$py" - "$pinctl" "$uid" "$((events * 3))" <<'EOF'
import boto3, json, subprocess, sys, time
env = json.loads(subprocess.run([sys.argv[1], "--json", "local", "status"], capture_output=True, text=True).stdout)["endpoints"]
s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
want, t0, n = int(sys.argv[3]), time.time(), 0
while time.time() - t0 < 120:
    n = sum(len(p.get("Contents", [])) for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=f"user-{sys.argv[2]}-bucket", Prefix="topics/"))
    if n >= want:
        break
    time.sleep(1)
print(f"{n} sink objects for {want} messages sent on the batch path")
EOF
"$pinctl" local trigger "${uid}_dag" --wait

say "waiting for the stream job to catch up"
"$py" - "$pinctl" "$uid" <<'EOF'
import deltalake, json, os, subprocess, sys, time
env = json.loads(subprocess.run([sys.argv[1], "--json", "local", "status"], capture_output=True, text=True).stdout)["endpoints"]
opts = {"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"], "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
uid = sys.argv[2]
def rows(path, t):
    try:
        return deltalake.DeltaTable(f"s3://user-{uid}-bucket/delta/{path}/{uid}_{t}_table", storage_options=opts).to_pyarrow_table(columns=["ind"]).num_rows
    except Exception:
        return 0
t0 = time.time()
while True:
    batch = {t: rows("batch", t) for t in ("pin", "geo", "user")}
    stream = {t: rows("stream", t) for t in ("pin", "geo", "user")}
    if stream == batch or time.time() - t0 > 120:
        break
    time.sleep(2)
for t in ("pin", "geo", "user"):
    print(f"{uid}_{t}_table: batch {batch[t]} rows, stream {stream[t]} rows")
sys.stdout.flush()
os._exit(0)
EOF

say "the report"
mkdir -p .pinctl/report
"$py" - "$pinctl" "$uid" <<'EOF'
import boto3, json, subprocess, sys
env = json.loads(subprocess.run([sys.argv[1], "--json", "local", "status"], capture_output=True, text=True).stdout)["endpoints"]
s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
bucket, prefix = f"user-{sys.argv[2]}-bucket", "delta/batch/report/"
for name in ("report.md", "report.html"):
    s3.download_file(bucket, prefix + name, f".pinctl/report/{name}")
print(f"s3://{bucket}/{prefix}report.html, copied to .pinctl/report/report.html (and report.md)\n")
titles = {}
for line in open(".pinctl/report/report.md", encoding="utf-8"):
    if line.startswith("## ") and " — " in line:
        q, title = line[3:].strip().split(" — ", 1)
        titles[q] = title
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "results/")["Contents"])
for key in keys:
    q = key.rsplit("/", 1)[1].removesuffix(".json")
    rows = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    shown = "; ".join(", ".join(f"{k}={v}" for k, v in r.items()) for r in rows[:2])
    more = f" (+{len(rows) - 2} more)" if len(rows) > 2 else ""
    print(f"{q} {titles.get(q, '')}\n    {shown}{more}")
EOF

cat <<EOF

The twin keeps running: \`$pinctl local status\` shows it, its logs are in .pinctl/local/logs,
\`eval "\$($pinctl local env)"\` points the AWS CLI and SDKs at it. End it with
  $pinctl --env local down --yes && $pinctl local stop
EOF
