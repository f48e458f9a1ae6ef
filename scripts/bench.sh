#!/usr/bin/env bash
# Benchmarks of the data plane (figures printed, never asserted): the generator at 10 M rows and
# the REST proxy next to direct produce, on an Apache Kafka broker started here (one KRaft node,
# `pinctl local broker`, installed by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" local broker --port "$port" --data "$work/kafka" >"$work/broker.log" 2>&1 &
broker=$!
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PYTHONPATH="$(dirname "$0")/moto" "${PINCTL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pinctl/venv}/bin/moto_server" -p "$moto_port" >/dev/null 2>&1 &
moto=$!
trap 'kill $broker $moto 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$work"' EXIT
# Ready once it has logged its start (a few seconds).
for _ in $(seq 1 300); do
  grep -q "Kafka Server started" "$work/broker.log" 2>/dev/null && break
  sleep 0.1
done
"$bin" bench proxy --bootstrap "127.0.0.1:$port" --calls "${CALLS:-2000}"
"$bin" -q bench generate --rows "${ROWS:-10000000}" --out "jsonl://$work/jsonl"
"$bin" -q bench generate --rows "${ROWS:-10000000}" --out "sqlite://$work/source.db"
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
"$bin" -q bench batch --events "${EVENTS:-1000000}" --out "$work/batch"
"$bin" -q bench stream --rate "${RATE:-20}" --seconds "${SECONDS_:-30}" --out "$work/stream"
