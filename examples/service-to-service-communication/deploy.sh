#!/usr/bin/env bash
# deploy.sh — deploys the docs' frontend-to-backend example with the aws CLI only: the Cloud Map
# namespace app.local and services backend-api and frontend-web (the docs' "Deploy Services" block),
# the ECS cluster "default", the task definitions of task-definitions/ and the ECS services of
# services/ registered in Cloud Map; then waits until Cloud Map reports 2 healthy backend-api
# instances and 1 healthy frontend-web instance.
#
# Safe to run again: an existing namespace, Cloud Map service, task definition (same image) or ECS
# service is reused (an ECS service gets the current task definition and desired count). What it
# creates is recorded (lib.sh's ledger), so cleanup.sh removes only that.
#
# Usage:  ./deploy.sh
# Env:    ENDPOINT=http://localhost:5373  REGION=us-east-1
#         IMAGE_TAG=latest         image tag in the task definitions (nocgo: see build-images.sh)
#         DEPLOY_TIMEOUT=120       seconds to wait for healthy instances
#         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY  default "test" (the server checks no signature)
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib.sh
source ./lib.sh

IMAGE_TAG=${IMAGE_TAG:-latest}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-120}

log() { printf '[deploy] %s\n' "$*"; }

TMP_DIR=$(mktemp -d)
trap 'rm -rf "$TMP_DIR"' EXIT

namespace_id() {
  awsx servicediscovery list-namespaces \
    --query "Namespaces[?Name=='$NAMESPACE'].Id" --output text
}

# --- Cloud Map: the docs' "Deploy Services" block --------------------------------------------

NAMESPACE_ID=$(namespace_id)
if [ -z "$NAMESPACE_ID" ] || [ "$NAMESPACE_ID" = None ]; then
  log "creating the private DNS namespace $NAMESPACE"
  operation_id=$(awsx servicediscovery create-private-dns-namespace \
    --name "$NAMESPACE" \
    --vpc vpc-default \
    --query OperationId --output text)
  wait_for_operation "$operation_id"
  NAMESPACE_ID=$(namespace_id)
  ledger_add namespace "$NAMESPACE_ID"
else
  log "namespace $NAMESPACE exists"
fi
log "namespace $NAMESPACE: $NAMESPACE_ID"

# Prints the id and ARN of the Cloud Map service $1 in the namespace, creating it first if needed.
cloudmap_service() {
  local name=$1 found
  found=$(awsx servicediscovery list-services \
    --filters "Name=NAMESPACE_ID,Values=$NAMESPACE_ID,Condition=EQ" \
    --query "Services[?Name=='$name'].[Id, Arn]" --output text)
  if [ -z "$found" ] || [ "$found" = None ]; then
    log "creating the Cloud Map service $name" >&2
    found=$(awsx servicediscovery create-service \
      --name "$name" \
      --namespace-id "$NAMESPACE_ID" \
      --dns-config "NamespaceId=$NAMESPACE_ID,DnsRecords=[{Type=A,TTL=60}]" \
      --health-check-config "Type=HTTP,ResourcePath=/health,FailureThreshold=3" \
      --query '[Service.Id, Service.Arn]' --output text)
    ledger_add cloudmap-service "${found%%$'\t'*}"
  else
    log "Cloud Map service $name exists" >&2
  fi
  echo "$found"
}

read -r BACKEND_SERVICE_ID BACKEND_REGISTRY_ARN < <(cloudmap_service backend-api)
read -r FRONTEND_SERVICE_ID FRONTEND_REGISTRY_ARN < <(cloudmap_service frontend-web)
if [ -z "${BACKEND_REGISTRY_ARN:-}" ] || [ -z "${FRONTEND_REGISTRY_ARN:-}" ]; then
  log "could not find or create the Cloud Map services (see the aws CLI's error above)"
  exit 1
fi
log "backend-api:  $BACKEND_REGISTRY_ARN"
log "frontend-web: $FRONTEND_REGISTRY_ARN"

# --- ECS ---------------------------------------------------------------------------------------

cluster_status=$(awsx ecs describe-clusters --clusters "$CLUSTER" \
  --query 'clusters[0].status' --output text 2>/dev/null || true)
if [ "$cluster_status" = ACTIVE ]; then
  log "ECS cluster $CLUSTER exists"
else
  log "creating the ECS cluster $CLUSTER"
  awsx ecs create-cluster --cluster-name "$CLUSTER" >/dev/null
  ledger_add cluster "$CLUSTER"
fi

# Registers task-definitions/$1.json with image $1:$IMAGE_TAG unless the family's latest ACTIVE
# revision already uses that image; prints family:revision.
register_task_definition() {
  local family=$1 image=$1:$IMAGE_TAG current_image current_revision current_status
  read -r current_image current_revision current_status < <(
    awsx ecs describe-task-definition --task-definition "$family" \
      --query '[taskDefinition.containerDefinitions[0].image, taskDefinition.revision, taskDefinition.status]' \
      --output text 2>/dev/null || true
  ) || true
  if [ "${current_image:-}" = "$image" ] && [ "${current_status:-}" = ACTIVE ]; then
    log "task definition $family:$current_revision uses $image" >&2
    echo "$family:$current_revision"
    return 0
  fi
  sed "s|\"image\": *\"[^\"]*\"|\"image\": \"$image\"|" "task-definitions/$family.json" \
    >"$TMP_DIR/$family.json"
  log "registering task definition $family ($image)" >&2
  local registered
  registered=$(awsx ecs register-task-definition --cli-input-json "file://$TMP_DIR/$family.json" \
    --query "join(':', [taskDefinition.family, to_string(taskDefinition.revision)])" --output text)
  ledger_add task-definition "$registered"
  echo "$registered"
}

BACKEND_TASK_DEFINITION=$(register_task_definition backend-api)
FRONTEND_TASK_DEFINITION=$(register_task_definition frontend-web)

# Creates the ECS service of services/$1.json (registry ARN and task definition substituted), or
# points the existing one at the task definition and desired count of the file.
deploy_ecs_service() {
  local service=$1 registry_arn_var=$2 registry_arn=$3 task_definition=$4 desired status
  desired=$(sed -n 's/.*"desiredCount": *\([0-9]*\).*/\1/p' "services/$service.json")
  status=$(sed -n "s/^$service //p" <<<"$ECS_SERVICE_STATUS")
  if [ "$status" = ACTIVE ]; then
    log "updating the ECS service $service ($task_definition, desired count $desired)"
    awsx ecs update-service --cluster "$CLUSTER" --service "$service" \
      --task-definition "$task_definition" --desired-count "$desired" >/dev/null
    return 0
  fi
  sed -e "s|\${$registry_arn_var}|$registry_arn|" \
    -e "s|\"taskDefinition\": *\"[^\"]*\"|\"taskDefinition\": \"$task_definition\"|" \
    "services/$service.json" >"$TMP_DIR/$service.json"
  log "creating the ECS service $service ($task_definition, desired count $desired)"
  awsx ecs create-service --cli-input-json "file://$TMP_DIR/$service.json" >/dev/null
  ledger_add ecs-service "$service"
}

# "name status" of both ECS services, in one call.
ECS_SERVICE_STATUS=$(awsx ecs describe-services --cluster "$CLUSTER" \
  --services backend-api-service frontend-web-service \
  --query 'services[].[serviceName, status]' --output text 2>/dev/null | tr '\t' ' ' || true)
deploy_ecs_service backend-api-service BACKEND_REGISTRY_ARN "$BACKEND_REGISTRY_ARN" "$BACKEND_TASK_DEFINITION"
deploy_ecs_service frontend-web-service FRONTEND_REGISTRY_ARN "$FRONTEND_REGISTRY_ARN" "$FRONTEND_TASK_DEFINITION"

# --- wait for healthy instances ----------------------------------------------------------------

healthy_count() {
  awsx servicediscovery discover-instances --namespace-name "$NAMESPACE" --service-name "$1" \
    --health-status HEALTHY --query 'length(Instances)' --output text 2>/dev/null || echo "?"
}

log "waiting up to ${DEPLOY_TIMEOUT}s for 2 healthy backend-api and 1 healthy frontend-web instances"
deadline=$((SECONDS + DEPLOY_TIMEOUT))
last=
while :; do
  backend=$(healthy_count backend-api)
  frontend=$(healthy_count frontend-web)
  if [ "$backend $frontend" != "$last" ]; then
    log "healthy instances: backend-api $backend/2, frontend-web $frontend/1"
    last="$backend $frontend"
  fi
  [ "$backend" = 2 ] && [ "$frontend" = 1 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "timed out; the ECS services' latest events and the Cloud Map instances:"
    awsx ecs describe-services --cluster "$CLUSTER" \
      --services backend-api-service frontend-web-service \
      --query 'services[].{service: serviceName, running: runningCount, desired: desiredCount, events: events[:5].message}' \
      >&2 || true
    for id in "$BACKEND_SERVICE_ID" "$FRONTEND_SERVICE_ID"; do
      awsx servicediscovery get-instances-health-status --service-id "$id" >&2 || true
    done
    exit 1
  fi
  sleep 2
done
log "deployed: http://backend-api.$NAMESPACE:8080 and http://frontend-web.$NAMESPACE:3000 (next: ./test.sh)"
