#!/usr/bin/env bash
# ci/bench-ecs.sh — ECS lifecycle latencies of reference-server (Docker runtime) against the bare
# Docker engine doing the same container work (the peer), in one invocation:
#   up        CreateService desiredCount 2 → both tasks registered HEALTHY and answered by DNS
#             (peer: two `docker run` and their addresses)
#   failover  `docker kill` of one task → the replacement registered and DNS answering two live
#             addresses without the dead one (peer: `docker kill` + one `docker run`)
#   down      desiredCount 0 + DeleteService → service INACTIVE, containers removed
#             (peer: `docker rm -f` of both)
# Prints medians and p90 per phase and the ratio ours/peer: what the ECS, Cloud Map and DNS layer
# adds on top of the engine. Needs the Docker engine and base image (ci/docker.sh) and boto3.
#
# Usage:  ci/bench-ecs.sh        Env: ROUNDS=5 IMAGE=cloudmap-base/debian:bookworm
#         CARGO_TARGET_DIR=/var/tmp/cloudmap-target REFERENCE_SERVER_BIN=… REBUILD=1
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_PREFIX=bench-ecs
# shellcheck source=ci/lib.sh
source ci/lib.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}"
bin=$(reference_binary)
bash ci/docker.sh >/dev/null

port() { python3 -c 'import sys; sys.path.insert(0, "ci"); import benchlib; print(benchlib.free_port())'; }
api=$(port)
dns=$(port)
"$bin" --ephemeral --log warn --listen "127.0.0.1:$api" --dns-listen "127.0.0.1:$dns" \
  --ecs-poll-interval 100ms --ecs-stop-timeout 2s &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$api/health" && break; sleep 0.1; done

log "reference-server (ECS on Docker): ROUNDS=${ROUNDS:-5}"
ours=$(python3 ci/bench-ecs/helper.py "http://127.0.0.1:$api" "127.0.0.1:$dns" ours)
log "peer: the docker CLI doing the same container work"
peer=$(python3 ci/bench-ecs/helper.py "http://127.0.0.1:$api" "127.0.0.1:$dns" peer)

python3 - "$ours" "$peer" <<'PY'
import json, statistics, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def p90(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
print(f"{'phase':<10} {'ours median':>12} {'ours p90':>10} {'peer median':>12} {'peer p90':>10} {'ratio':>7}")
for phase in ("up", "failover", "down"):
    o, p = ours[phase], peer[phase]
    print(f"{phase:<10} {statistics.median(o)*1000:>10.0f}ms {p90(o)*1000:>8.0f}ms "
          f"{statistics.median(p)*1000:>10.0f}ms {p90(p)*1000:>8.0f}ms {statistics.median(o)/statistics.median(p):>6.2f}x")
PY
