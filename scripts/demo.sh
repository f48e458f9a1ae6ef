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
export PINCTL_SKIP_BROWSER=1 # the report's browser test is the tests' business
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

say "starting the local twin"
running=0
"$pinctl" local status >/dev/null 2>&1 || running=$?
if [ "$running" = 1 ]; then # 1: not running (3: running, a process keeps exiting)
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

# The data bucket's name carries the account's digest (`${aws.account_hash}`): read it back.
bucket=$("$pinctl" --env local state show data_bucket | python3 -c 'import json, sys; print(json.load(sys.stdin)["physical_id"])')

say "waiting for the data plane (gateway, REST proxy, stream job, S3 sink, Airflow)"
url=$("$pinctl" local wait --for gateway,unit,connector,airflow --timeout 300s | head -n1)
echo "invoke URL: $url"

say "emitting $events events on both paths (the course's keys and random sleeps, 8 at a time)"
"$pinctl" worker emit --source sqlite://.pinctl/pinterest_data.db --invoke-url "$url" --uid "$uid" \
  --mode both --count "$events" --concurrency 8

say "triggering ${uid}_dag in Airflow (the daily batch)"
# The sink writes an object per message; give it a moment to drain before the batch reads them.
"$pinctl" local wait --objects "$((events * 3))" --bucket "$bucket" --prefix topics/ \
  --timeout 120s || true
"$pinctl" local trigger "${uid}_dag" --wait

say "the tables (batch and stream) and the report"
"$pinctl" local report --bucket "$bucket" --uid "$uid" --out .pinctl/report --timeout 120s

# Exit 3 (and the process's log) if anything of the twin keeps exiting.
"$pinctl" local status >/dev/null

cat <<EOF

The twin keeps running: \`$pinctl local status\` shows it, its logs are in .pinctl/local/logs,
\`eval "\$($pinctl local env)"\` points the AWS CLI and SDKs at it. \`plan\`, \`diff\` and \`up\` on
the stack need the worker binary \`up\` ships: \`export PINCTL_WORKER_BINARY=$pinctl\`. End it with
  $pinctl --env local down --yes && $pinctl local stop
EOF
