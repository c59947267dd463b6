#!/usr/bin/env bash
# cleanup.sh — removes what deploy.sh created (its ledger, see lib.sh), in dependency order: the ECS
# services (scaled to 0, then deleted), the task definitions, the cluster; then, once their instances
# are gone, the Cloud Map services and the namespace. What deploy.sh found and reused — an app.local
# namespace or a Cloud Map service made by hand — is left alone. Whatever is already gone is
# skipped, so it can run any time.
#
# Usage:  ./cleanup.sh
# Env:    ENDPOINT=http://localhost:5373  REGION=us-east-1
#         CLEANUP_TIMEOUT=120   seconds to wait for tasks to stop and instances to deregister
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib.sh
source ./lib.sh

CLEANUP_TIMEOUT=${CLEANUP_TIMEOUT:-120}

log() { printf '[cleanup] %s\n' "$*"; }

TMP_ERR=$(mktemp)
trap 'rm -f "$TMP_ERR"' EXIT

if [ ! -s "$LEDGER" ]; then
  log "deploy.sh created nothing on $ENDPOINT ($REGION) that is still recorded; nothing to remove"
  exit 0
fi

# --- ECS ---------------------------------------------------------------------------------------

# "name status" of the recorded ECS services, in one call.
ecs_services=$(ledger_ids ecs-service)
ecs_service_status=
if [ -n "$ecs_services" ]; then
  # shellcheck disable=SC2086 # one argument per service
  ecs_service_status=$(awsx ecs describe-services --cluster "$CLUSTER" --services $ecs_services \
    --query 'services[].[serviceName, status]' --output text 2>/dev/null | tr '\t' ' ' || true)
fi
for service in $ecs_services; do
  status=$(sed -n "s/^$service //p" <<<"$ecs_service_status")
  if [ "$status" != ACTIVE ]; then
    log "ECS service $service: ${status:-not found}"
    continue
  fi
  log "scaling the ECS service $service to 0 and deleting it"
  awsx ecs update-service --cluster "$CLUSTER" --service "$service" --desired-count 0 >/dev/null
  awsx ecs delete-service --cluster "$CLUSTER" --service "$service" --force >/dev/null
done

for definition in $(ledger_ids task-definition); do
  status=$(awsx ecs describe-task-definition --task-definition "$definition" \
    --query taskDefinition.status --output text 2>/dev/null || true)
  if [ "$status" != ACTIVE ]; then
    log "task definition $definition: ${status:-not found}"
    continue
  fi
  log "deregistering the task definition $definition"
  awsx ecs deregister-task-definition --task-definition "$definition" >/dev/null
done

# The cluster can be deleted once its services are gone (a draining service still counts).
for cluster in $(ledger_ids cluster); do
  cluster_status=$(awsx ecs describe-clusters --clusters "$cluster" \
    --query 'clusters[0].status' --output text 2>/dev/null || true)
  if [ "$cluster_status" != ACTIVE ]; then
    log "ECS cluster $cluster: ${cluster_status:-not found}"
    continue
  fi
  log "deleting the ECS cluster $cluster"
  deadline=$((SECONDS + CLEANUP_TIMEOUT))
  until error=$(awsx ecs delete-cluster --cluster "$cluster" 2>&1 >/dev/null); do
    if ! grep -qE 'ClusterContainsServices|ClusterContainsTasks|UpdateInProgress' <<<"$error" ||
      [ "$SECONDS" -ge "$deadline" ]; then
      log "delete-cluster failed: $error"
      exit 1
    fi
    sleep 2
  done
done

# --- Cloud Map ---------------------------------------------------------------------------------

for service_id in $(ledger_ids cloudmap-service); do
  # ECS deregisters a task's instance when the task stops.
  deadline=$((SECONDS + CLEANUP_TIMEOUT))
  gone='' waited=''
  while :; do
    if ! instances=$(awsx servicediscovery list-instances --service-id "$service_id" \
      --query 'Instances[].Id' --output text 2>"$TMP_ERR"); then
      if grep -q ServiceNotFound "$TMP_ERR"; then
        gone=yes
        break
      fi
      cat "$TMP_ERR" >&2
      exit 1
    fi
    if [ -z "$instances" ] || [ "$instances" = None ]; then
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "instances of $service_id still registered after ${CLEANUP_TIMEOUT}s; deregistering them: $(tr '\t' ' ' <<<"$instances")"
      for instance in $instances; do
        operation_id=$(awsx servicediscovery deregister-instance --service-id "$service_id" \
          --instance-id "$instance" --query OperationId --output text)
        wait_for_operation "$operation_id"
      done
      break
    fi
    [ -n "$waited" ] || log "waiting for the instances of $service_id to deregister"
    waited=yes
    sleep 2
  done
  if [ -n "$gone" ]; then
    log "Cloud Map service $service_id: not found"
    continue
  fi
  log "deleting the Cloud Map service $service_id"
  awsx servicediscovery delete-service --id "$service_id" >/dev/null
done

for namespace_id in $(ledger_ids namespace); do
  if ! operation_id=$(awsx servicediscovery delete-namespace --id "$namespace_id" \
    --query OperationId --output text 2>"$TMP_ERR"); then
    if grep -q NamespaceNotFound "$TMP_ERR"; then
      log "namespace $namespace_id: not found"
      continue
    fi
    cat "$TMP_ERR" >&2
    exit 1
  fi
  log "deleting the namespace $NAMESPACE ($namespace_id)"
  wait_for_operation "$operation_id"
done
rm -f "$LEDGER"
log "done"
