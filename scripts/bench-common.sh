# Sourced by the bench scripts: the shared build directory, the twin's installs (scripts/setup.sh,
# without mariadb), and a pinctl build. PROFILE=release (default) or PROFILE=debug, for figures
# that are waits rather than CPU (bench-infra.sh) when no release build exists yet; the profile is
# printed so a figure never hides which binary made it. Sets $bin.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pinctl/target}"
export PINCTL_SKIP_MARIADB=1
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
case "${PROFILE:-release}" in
  release) cargo build --release --quiet; bin="$CARGO_TARGET_DIR/release/pinctl" ;;
  debug) cargo build --quiet; bin="$CARGO_TARGET_DIR/debug/pinctl" ;;
  *) echo "PROFILE must be release or debug, not '${PROFILE}'" >&2; exit 2 ;;
esac
echo "pinctl: $("$bin" --version) (${PROFILE:-release} build)"
