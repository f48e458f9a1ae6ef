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
trap 'kill $broker 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
"$bin" bench proxy --bootstrap "127.0.0.1:$port" --calls "${CALLS:-2000}"
"$bin" -q bench generate --rows "${ROWS:-10000000}" --out "jsonl://$work/jsonl"
"$bin" -q bench generate --rows "${ROWS:-10000000}" --out "sqlite://$work/source.db"
