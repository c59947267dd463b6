#!/usr/bin/env bash
# ci/compat.sh — runs the conformance suite against another implementation and writes its report
# (NAME.json, NAME.md, NAME.junit.xml) into $CONFORMANCE_REPORT_DIR (default
# $CARGO_TARGET_DIR/conformance-report), judged with conformance/expectations/NAME.yaml.
#
# Usage:  ci/compat.sh moto                 moto_server (python3 -m moto.server, from PyPI)
#         ci/compat.sh fakecloud [--install] fakecloud 0.51.0 from $FAKECLOUD_BIN (default
#                                           /var/tmp/fakecloud/bin/fakecloud); --install builds it
#                                           there first with cargo install (~30 min on 2 cores)
# Exit:   0 when the run matches the expectations, 1 when it does not, 3 when the implementation
#         is not installed (fakecloud without --install): "skipped: …" is printed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
LOG_PREFIX=compat
# shellcheck source=ci/lib.sh
source ci/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}"
report_dir="${CONFORMANCE_REPORT_DIR:-$CARGO_TARGET_DIR/conformance-report}"
mkdir -p "$report_dir"

FAKECLOUD_VERSION=0.51.0
FAKECLOUD_ROOT=/var/tmp/fakecloud
FAKECLOUD_BIN="${FAKECLOUD_BIN:-$FAKECLOUD_ROOT/bin/fakecloud}"

use_scratch_dir

target=${1:-}
port=$(free_port)
case "$target" in
  moto)
    python3 -m moto.server -H 127.0.0.1 -p "$port" >"$WORK/peer.log" 2>&1 &
    peer_pid=$!
    stop_at_exit "$peer_pid"
    wait_http "http://127.0.0.1:$port/moto-api/" "$peer_pid" "$WORK/peer.log" 60 || exit 1
    # moto has no DNS server and probes nothing; its ECS is API-only.
    capabilities=cli,ecs
    ;;
  fakecloud)
    if [ ! -x "$FAKECLOUD_BIN" ]; then
      if [ "${2:-}" != "--install" ]; then
        echo "skipped: fakecloud not installed ($FAKECLOUD_BIN; ci/compat.sh fakecloud --install builds it)"
        exit 3
      fi
      log "cargo install fakecloud --version $FAKECLOUD_VERSION --locked (into $FAKECLOUD_ROOT)"
      cargo install fakecloud --version "$FAKECLOUD_VERSION" --locked --root "$FAKECLOUD_ROOT" \
        --target-dir "$FAKECLOUD_ROOT/target" || exit 1
    fi
    dns_port=$(free_port)
    "$FAKECLOUD_BIN" --addr "127.0.0.1:$port" --dns --dns-addr "127.0.0.1:$dns_port" \
      --log-level warn >"$WORK/peer.log" 2>&1 &
    peer_pid=$!
    stop_at_exit "$peer_pid"
    wait_http "http://127.0.0.1:$port/_fakecloud/health" "$peer_pid" "$WORK/peer.log" 60 || exit 1
    log "$("$FAKECLOUD_BIN" --version 2>/dev/null || echo fakecloud) on 127.0.0.1:$port, DNS on 127.0.0.1:$dns_port"
    # Does its DNS answer Cloud Map names? One instance, then its name at fakecloud's resolver.
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
    aws_peer() { aws --endpoint-url "http://127.0.0.1:$port" "$@"; }
    aws_peer servicediscovery create-private-dns-namespace --name compat-probe.local --vpc vpc-probe >/dev/null
    namespace=
    for _ in $(seq 100); do
      namespace=$(aws_peer servicediscovery list-namespaces \
        --query "Namespaces[?Name=='compat-probe.local'].Id | [0]" --output text)
      [ -n "$namespace" ] && [ "$namespace" != "None" ] && break
      sleep 0.1
    done
    service=$(aws_peer servicediscovery create-service --name web --namespace-id "$namespace" \
      --dns-config "NamespaceId=$namespace,DnsRecords=[{Type=A,TTL=60}]" --query Service.Id --output text)
    aws_peer servicediscovery register-instance --service-id "$service" --instance-id web-1 \
      --attributes AWS_INSTANCE_IPV4=10.0.0.1 >/dev/null
    answer=$(dig @127.0.0.1 -p "$dns_port" web.compat-probe.local A +tries=1 +time=2 2>&1 | grep -E 'status:|^web\.' | tr -s ' \t' ' ')
    log "fakecloud --dns for a registered Cloud Map instance (web.compat-probe.local A): ${answer:-no answer}"
    aws_peer servicediscovery deregister-instance --service-id "$service" --instance-id web-1 >/dev/null
    for _ in $(seq 100); do
      aws_peer servicediscovery delete-service --id "$service" >/dev/null 2>&1 && break
      sleep 0.1
    done
    aws_peer servicediscovery delete-namespace --id "$namespace" >/dev/null
    # See conformance/expectations/fakecloud.yaml for why dns, active-health and docker are not
    # declared.
    capabilities=cli,ecs
    ;;
  *)
    echo "usage: ci/compat.sh moto | fakecloud [--install]" >&2
    exit 2
    ;;
esac

log "conformance run --target endpoint --name $target (capabilities $capabilities)"
CONFORMANCE_ENDPOINT="http://127.0.0.1:$port" CONFORMANCE_CAPABILITIES=$capabilities \
  cargo run --quiet --locked -p conformance -- run --target endpoint --name "$target" --report "$report_dir"
