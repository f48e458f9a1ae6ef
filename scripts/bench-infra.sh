#!/usr/bin/env bash
# Benchmark of the infrastructure (figures printed, never asserted): `pinctl --env local up` and
# `down` of stacks/pinterest.yaml on the strict twin (AWS's propagation delays at the twin's
# default, its network and IAM rules on): the wall time of each and the time spent riding out each
# propagation rule (what `up` and `down` report in their summary). DELAY=<seconds> sets the twin's
# --propagation-delay; RUNS=<n> repeats up and down (medians printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# shellcheck source=scripts/bench-common.sh
source scripts/bench-common.sh
work="$(mktemp -d)"
# A scratch project, so a twin of the checkout itself (make demo) is left alone.
mkdir -p "$work/stacks"
cp stacks/pinterest.yaml "$work/stacks/"
cp -r "$root/templates" "$work/templates" # a stack reads only files under its root, never through a link out
cp -r "$root/plugins" "$work/plugins"
cd "$work"
export PINCTL_WORKER_BINARY="$bin"
trap '"$bin" local stop >/dev/null 2>&1 || true; cd /; rm -rf "$work"' EXIT
"$bin" local start ${DELAY:+--propagation-delay "$DELAY"} >/dev/null
"$bin" local status | grep -i propagation || true
for i in $(seq 1 "${RUNS:-1}"); do
  for cmd in up down; do
    t0=$(date +%s.%N)
    "$bin" --json --env local "$cmd" --yes >"$cmd-$i.json"
    t1=$(date +%s.%N)
    echo "$cmd $i $(python3 -c "print(f'{$t1 - $t0:.1f}')")" >>times
  done
done
python3 - <<'EOF'
import json, statistics, collections
times = collections.defaultdict(list)
for line in open("times"):
    cmd, _, secs = line.split()
    times[cmd].append(float(secs))
for cmd in ("up", "down"):
    t = times[cmd]
    print(f"{cmd:5} median {statistics.median(t):7.1f} s over {len(t)} run(s) (min {min(t):.1f}, max {max(t):.1f})")
    waits = collections.defaultdict(lambda: [0.0, 0])
    for i in range(1, len(t) + 1):
        for line in open(f"{cmd}-{i}.json"):
            e = json.loads(line)
            if e.get("type") == "apply_complete":
                for w in e.get("propagation_waits", []):
                    k = (w["waiting_for"], w["code"])
                    waits[k][0] += w["seconds"] / len(t)
                    waits[k][1] += w["calls"] / len(t)
    for (what, code), (secs, calls) in sorted(waits.items(), key=lambda kv: -kv[1][0]):
        print(f"      {secs:7.1f} s  {what} ({code}, {calls:.0f} calls per run)")
EOF
