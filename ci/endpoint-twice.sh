#!/usr/bin/env bash
# ci/endpoint-twice.sh — the conformance suite run twice in a row against one long-running
# reference server with default flags (127.0.0.1:5373 and :1053, durable state under a fresh
# XDG_DATA_HOME, DNS forwarding on), the way a user points the suite at a server they already run.
# Before the runs the server is given a bystander — a namespace with a service and an instance,
# and an ECS cluster — that no scenario created; afterwards it must hold exactly that: every
# scenario removed what it created (ECS clusters, services and task definitions it made are
# INACTIVE, its tasks STOPPED, as AWS keeps them), and nothing of the bystander was touched.
#
# Usage:  ci/endpoint-twice.sh          (ci/test.sh runs it; its cargo test results are counted)
# Needs:  the aws CLI, curl, python3; Docker and the example's images for the docker scenarios
#         (without an engine the suite runs without the docker capability, and says so).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
LOG_PREFIX=endpoint-twice
# shellcheck source=ci/lib.sh
source ci/lib.sh

for port in 5373 1053; do
  if port_taken "$port"; then
    log "port $port is taken; the default-flag server needs it"
    exit 1
  fi
done

use_scratch_dir

log "starting the server with default flags"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}"
# REBUILD=1: cargo build first, so the binary is the checked-out code (a no-op when it is).
binary=$(REBUILD=1 reference_binary) || exit 1
XDG_DATA_HOME="$WORK/data" "$binary" >"$WORK/server.log" 2>&1 &
server_pid=$!
stop_at_exit "$server_pid"
wait_http http://127.0.0.1:5373/health "$server_pid" "$WORK/server.log" 60 || exit 1

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
aws_local() { aws --endpoint-url http://127.0.0.1:5373 "$@"; }
log "the bystander: namespace bystander.example with service keep (one instance); ECS cluster bystander with service keep (desired 0) and task definition family bystander"
operation=$(aws_local servicediscovery create-http-namespace --name bystander.example --query OperationId --output text) || exit 1
namespace=
for _ in $(seq 300); do
  namespace=$(aws_local servicediscovery get-operation --operation-id "$operation" \
    --query "Operation.Status == 'SUCCESS' && Operation.Targets.NAMESPACE || ''" --output text)
  [ -n "$namespace" ] && [ "$namespace" != "None" ] && break
  sleep 0.1
done
if [ -z "$namespace" ] || [ "$namespace" = "None" ]; then
  log "the bystander namespace was not created (operation $operation)"
  exit 1
fi
service=$(aws_local servicediscovery create-service --name keep --namespace-id "$namespace" --query Service.Id --output text) || exit 1
aws_local servicediscovery register-instance --service-id "$service" --instance-id keep-1 \
  --attributes AWS_INSTANCE_IPV4=10.9.9.9 >/dev/null || exit 1
aws_local ecs create-cluster --cluster-name bystander >/dev/null || exit 1
aws_local ecs register-task-definition --family bystander \
  --container-definitions '[{"name":"app","image":"cloudmap-base/debian:bookworm","essential":true}]' >/dev/null || exit 1
aws_local ecs create-service --cluster bystander --service-name keep --task-definition bystander \
  --desired-count 0 >/dev/null || exit 1

capabilities=dns,active-health,cli,ecs
if docker info >/dev/null 2>&1; then
  capabilities+=,docker
else
  log "no Docker engine answers: the suite runs without the docker capability (those scenarios are skipped)"
fi
status=0
for run in 1 2; do
  log "run $run of 2: CONFORMANCE_TARGET=endpoint CONFORMANCE_CAPABILITIES=$capabilities cargo test -p conformance --test scenarios"
  CONFORMANCE_TARGET=endpoint CONFORMANCE_ENDPOINT=http://127.0.0.1:5373 CONFORMANCE_DNS=127.0.0.1:1053 \
    CONFORMANCE_CAPABILITIES=$capabilities CONFORMANCE_TARGET_NAME=endpoint-twice \
    cargo test --quiet --locked -p conformance --test scenarios || status=1
done

log "what the server holds afterwards (GET /_state)"
curl -sf http://127.0.0.1:5373/_state >"$WORK/state.json" || { log "GET /_state failed"; exit 1; }
python3 - "$WORK/state.json" <<'PY' || status=1
import json, sys
state = json.load(open(sys.argv[1]))
problems = []
regions = state["cloudMap"]
namespaces = [ns["Name"] for region in regions.values() for ns in region["Namespaces"]]
services = {s["Name"]: [i["Id"] for i in s["Instances"]] for region in regions.values() for s in region["Services"]}
if namespaces != ["bystander.example"]:
    problems.append(f"namespaces {namespaces}, expected only bystander.example")
if services != {"keep": ["keep-1"]}:
    problems.append(f"services {services}, expected only keep with keep-1")
ecs = state["ecs"] or {}
active = [c["clusterName"] for c in ecs.get("clusters", []) if c["status"] == "ACTIVE"]
if active != ["bystander"]:
    problems.append(f"ACTIVE ECS clusters {active}, expected only bystander")
services = [s["serviceName"] for s in ecs.get("services", []) if s["status"] != "INACTIVE"]
if services != ["keep"]:
    problems.append(f"ECS services {services[:5]}, expected only the bystander's keep")
definitions = [d["family"] for d in ecs.get("taskDefinitions", []) if d["status"] == "ACTIVE"]
if definitions != ["bystander"]:
    problems.append(f"ACTIVE task definitions {definitions[:5]}, expected only bystander")
tasks = [t["taskArn"] for t in ecs.get("tasks", []) if t.get("lastStatus") != "STOPPED"]
if tasks:
    problems.append(f"ECS tasks left: {tasks[:5]}")
for problem in problems:
    print(f"[endpoint-twice] LEFT BEHIND: {problem}")
if not problems:
    print("[endpoint-twice] afterwards the server holds the bystander and nothing else")
sys.exit(1 if problems else 0)
PY
# The server's containers and cluster networks carry its owner label (in GET /_state).
owner=$(python3 -c 'import json, sys; print((json.load(open(sys.argv[1]))["ecs"] or {}).get("owner", ""))' "$WORK/state.json")
[ -n "$owner" ] || { log "GET /_state names no ECS owner"; status=1; }
for kind in container network; do
  flags=(-q --filter "label=io.cloudmap-conformance.owner=$owner")
  [ "$kind" = container ] && flags+=(-a)   # stopped containers too
  left=$(docker "$kind" ls "${flags[@]}" 2>/dev/null | wc -l)
  if [ "$left" -ne 0 ]; then
    log "LEFT BEHIND: $left Docker ${kind}s of the server"
    status=1
  fi
done
exit "$status"
