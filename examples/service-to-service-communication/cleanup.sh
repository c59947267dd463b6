#!/usr/bin/env bash
# cleanup.sh — removes what deploy.sh created, in dependency order: the ECS services (scaled to 0,
# then deleted), the task definitions, the cluster; then, once their instances are gone, the Cloud
# Map services and the namespace. Whatever is already gone is skipped, so it can run any time.
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

# --- ECS ---------------------------------------------------------------------------------------

for service in backend-api-service frontend-web-service; do
  status=$(awsx ecs describe-services --cluster "$CLUSTER" --services "$service" \
    --query 'services[0].status' --output text 2>/dev/null || true)
  if [ "$status" != ACTIVE ]; then
    log "ECS service $service: ${status:-not found}"
    continue
  fi
  log "scaling the ECS service $service to 0 and deleting it"
  awsx ecs update-service --cluster "$CLUSTER" --service "$service" --desired-count 0 >/dev/null
  awsx ecs delete-service --cluster "$CLUSTER" --service "$service" --force >/dev/null
done

for family in backend-api frontend-web; do
  arns=$(awsx ecs list-task-definitions --family-prefix "$family" --status ACTIVE \
    --query "taskDefinitionArns[?contains(@, ':task-definition/$family:')]" --output text \
    2>/dev/null || true)
  for arn in $arns; do
    [ "$arn" = None ] && continue
    log "deregistering the task definition ${arn##*/}"
    awsx ecs deregister-task-definition --task-definition "$arn" >/dev/null
  done
done

# The cluster can be deleted once its services are gone (a draining service still counts).
cluster_status=$(awsx ecs describe-clusters --clusters "$CLUSTER" \
  --query 'clusters[0].status' --output text 2>/dev/null || true)
if [ "$cluster_status" = ACTIVE ]; then
  log "deleting the ECS cluster $CLUSTER"
  deadline=$((SECONDS + CLEANUP_TIMEOUT))
  until error=$(awsx ecs delete-cluster --cluster "$CLUSTER" 2>&1 >/dev/null); do
    if ! grep -qE 'ClusterContainsServices|ClusterContainsTasks|UpdateInProgress' <<<"$error" ||
      [ "$SECONDS" -ge "$deadline" ]; then
      log "delete-cluster failed: $error"
      exit 1
    fi
    sleep 2
  done
else
  log "ECS cluster $CLUSTER: ${cluster_status:-not found}"
fi

# --- Cloud Map ---------------------------------------------------------------------------------

NAMESPACE_ID=$(awsx servicediscovery list-namespaces \
  --query "Namespaces[?Name=='$NAMESPACE'].Id" --output text)
if [ -z "$NAMESPACE_ID" ] || [ "$NAMESPACE_ID" = None ]; then
  log "namespace $NAMESPACE: not found"
  exit 0
fi

for name in backend-api frontend-web; do
  service_id=$(awsx servicediscovery list-services \
    --filters "Name=NAMESPACE_ID,Values=$NAMESPACE_ID,Condition=EQ" \
    --query "Services[?Name=='$name'].Id" --output text)
  if [ -z "$service_id" ] || [ "$service_id" = None ]; then
    log "Cloud Map service $name: not found"
    continue
  fi
  # ECS deregisters a task's instance when the task stops.
  log "waiting for the instances of $name to deregister"
  deadline=$((SECONDS + CLEANUP_TIMEOUT))
  while :; do
    instances=$(awsx servicediscovery list-instances --service-id "$service_id" \
      --query 'Instances[].Id' --output text)
    if [ -z "$instances" ] || [ "$instances" = None ]; then
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "instances of $name still registered after ${CLEANUP_TIMEOUT}s; deregistering them: $(tr '\t' ' ' <<<"$instances")"
      for instance in $instances; do
        operation_id=$(awsx servicediscovery deregister-instance --service-id "$service_id" \
          --instance-id "$instance" --query OperationId --output text)
        wait_for_operation "$operation_id"
      done
      break
    fi
    sleep 2
  done
  log "deleting the Cloud Map service $name ($service_id)"
  awsx servicediscovery delete-service --id "$service_id" >/dev/null
done

log "deleting the namespace $NAMESPACE ($NAMESPACE_ID)"
operation_id=$(awsx servicediscovery delete-namespace --id "$NAMESPACE_ID" \
  --query OperationId --output text)
wait_for_operation "$operation_id"
log "done"
