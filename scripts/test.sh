#!/usr/bin/env bash
# The test command (README.md): installs what the tests need when it is missing, then runs the
# whole suite. Reuses an existing venv, cargo-nextest and build directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup.sh
source scripts/setup.sh

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
