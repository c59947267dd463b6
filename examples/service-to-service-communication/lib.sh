#!/usr/bin/env bash
# lib.sh — what deploy.sh, test.sh and cleanup.sh share (sourced, not run): the endpoint and region,
# dummy credentials, the aws CLI pointed at the server, and waiting for Cloud Map operations.

ENDPOINT=${ENDPOINT:-http://localhost:5373}
REGION=${REGION:-us-east-1}
# Used by the scripts that source this file.
# shellcheck disable=SC2034
NAMESPACE=app.local
# shellcheck disable=SC2034
CLUSTER=default

# The server checks no signature, but the CLI wants credentials.
if [ -z "${AWS_ACCESS_KEY_ID:-}" ] && [ -z "${AWS_PROFILE:-}" ]; then
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
fi
# DiscoverInstances goes to data-<host> otherwise (see the repository README).
export AWS_DISABLE_HOST_PREFIX_INJECTION=true

awsx() { aws --region "$REGION" --endpoint-url "$ENDPOINT" "$@"; }

# What deploy.sh created on this endpoint and region, one "kind id" line each, so that cleanup.sh
# removes that and nothing else (not an app.local namespace or a backend-api service the user made
# by hand, which deploy.sh reuses).
LEDGER_DIR=${XDG_STATE_HOME:-$HOME/.local/state}/cloudmap-conformance-example
LEDGER="$LEDGER_DIR/$(printf '%s' "$ENDPOINT-$REGION" | tr -c 'A-Za-z0-9._-' '_').created"
ledger_add() {
  mkdir -p "$LEDGER_DIR"
  grep -qxF -- "$*" "$LEDGER" 2>/dev/null || printf '%s\n' "$*" >>"$LEDGER"
}
# Prints the ids recorded for kind $1.
ledger_ids() { sed -n "s/^$1 //p" "$LEDGER" 2>/dev/null || true; }

# Polls an asynchronous Cloud Map operation until it succeeds; fails on FAIL or after 60 s.
wait_for_operation() {
  local operation_id=$1 status deadline=$((SECONDS + 60))
  while :; do
    status=$(awsx servicediscovery get-operation --operation-id "$operation_id" \
      --query Operation.Status --output text)
    case "$status" in
      SUCCESS) return 0 ;;
      FAIL)
        awsx servicediscovery get-operation --operation-id "$operation_id" >&2
        return 1
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "operation $operation_id still $status after 60s"
      return 1
    fi
    sleep 1
  done
}
