#!/usr/bin/env bash
# Benchmarks of the data plane (figures printed, never asserted): the generator at 10 M rows and
# the REST proxy next to direct produce, on a tansu broker started here.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pinctl/target}"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/pinctl"
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
moto_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${PINCTL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pinctl/venv}/bin/moto_server" -p "$moto_port" >/dev/null 2>&1 &
moto=$!
trap 'kill $broker $moto 2>/dev/null; rm -rf "$work"' EXIT
sleep 2
"$bin" bench proxy --bootstrap "127.0.0.1:$port" --calls "${CALLS:-2000}"
"$bin" -q bench generate --rows "${ROWS:-10000000}" --out "jsonl://$work/jsonl"
"$bin" -q bench generate --rows "${ROWS:-10000000}" --out "sqlite://$work/source.db"
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
"$bin" -q bench batch --events "${EVENTS:-1000000}" --out "$work/batch"
"$bin" -q bench stream --rate "${RATE:-20}" --seconds "${SECONDS_:-30}" --out "$work/stream"
