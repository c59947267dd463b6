#!/usr/bin/env bash
# test.sh — checks what deploy.sh deployed, from the outside:
#   - DNS: backend-api.app.local has 2 A records with TTL 60, frontend-web.app.local has 1;
#   - Cloud Map: discover-instances returns the same addresses as DNS;
#   - HTTP: each backend answers /api/data with "Hello from backend" (two different tasks), and
#     the frontend's /health reports "backend":"ok", i.e. the frontend found the backend by its
#     Cloud Map DNS name from inside its container.
# Prints one PASS or FAIL line per check; exits 1 if any failed.
#
# Usage:  ./test.sh
# Env:    ENDPOINT=http://localhost:5373  REGION=us-east-1  DNS_SERVER=127.0.0.1  DNS_PORT=1053
#         TEST_TIMEOUT=15   seconds the HTTP checks retry before they fail
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=lib.sh
source ./lib.sh

DNS_SERVER=${DNS_SERVER:-127.0.0.1}
DNS_PORT=${DNS_PORT:-1053}
TEST_TIMEOUT=${TEST_TIMEOUT:-15}

passed=0
failed=0
pass() {
  printf 'PASS %s\n' "$*"
  passed=$((passed + 1))
}
fail() {
  printf 'FAIL %s\n' "$*"
  failed=$((failed + 1))
}

# Prints "TTL ADDRESS" per A record of $1.
dns_a_records() {
  dig @"$DNS_SERVER" -p "$DNS_PORT" "$1" A +noall +answer +time=2 +tries=2 2>/dev/null |
    awk '$4 == "A" {print $2, $5}' | sort -k2
}

# Prints the sorted IPv4 addresses of the healthy instances of Cloud Map service $1.
discovered_addresses() {
  awsx servicediscovery discover-instances --namespace-name "$NAMESPACE" --service-name "$1" \
    --health-status HEALTHY --query 'Instances[].Attributes.AWS_INSTANCE_IPV4' --output text \
    2>/dev/null | tr '\t' '\n' | grep -v '^None$' | sort || true
}

# Retries `curl -sf $1` until its body contains $2 or TEST_TIMEOUT runs out; prints the last body.
fetch_until() {
  local url=$1 wanted=$2 body deadline=$((SECONDS + TEST_TIMEOUT))
  while :; do
    body=$(curl -sf --max-time 5 "$url" || true)
    if grep -qF -- "$wanted" <<<"$body" || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$body"
      return 0
    fi
    sleep 1
  done
}

check_dns() {
  local name=$1 want=$2 records count ttls
  records=$(dns_a_records "$name")
  count=$(grep -c . <<<"$records" || true)
  ttls=$(cut -d' ' -f1 <<<"$records" | sort -u | tr '\n' ' ')
  if [ "$count" -eq "$want" ] && [ "$ttls" = "60 " ]; then
    pass "dig $name A: $count records, TTL 60 ($(cut -d' ' -f2 <<<"$records" | tr '\n' ' ' | sed 's/ $//'))"
  else
    fail "dig $name A: want $want records with TTL 60, got $count: $(tr '\n' ';' <<<"$records")"
  fi
}

# --- DNS and Cloud Map -------------------------------------------------------------------------

check_dns "backend-api.$NAMESPACE" 2
check_dns "frontend-web.$NAMESPACE" 1

backend_ips=$(discovered_addresses backend-api)
frontend_ips=$(discovered_addresses frontend-web)
for service in backend-api frontend-web; do
  if [ "$service" = backend-api ]; then discovered=$backend_ips; else discovered=$frontend_ips; fi
  from_dns=$(dns_a_records "$service.$NAMESPACE" | cut -d' ' -f2 | sort)
  if [ -n "$discovered" ] && [ "$discovered" = "$from_dns" ]; then
    pass "discover-instances $service: the addresses DNS returns ($(tr '\n' ' ' <<<"$discovered" | sed 's/ $//'))"
  else
    fail "discover-instances $service: [$(tr '\n' ' ' <<<"$discovered")] vs DNS [$(tr '\n' ' ' <<<"$from_dns")]"
  fi
done

# --- HTTP --------------------------------------------------------------------------------------

hostnames=()
for ip in $backend_ips; do
  body=$(fetch_until "http://$ip:8080/api/data" "Hello from backend")
  if grep -qF "Hello from backend" <<<"$body"; then
    pass "backend $ip:8080/api/data: $body"
    hostnames+=("$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' <<<"$body")")
  else
    fail "backend $ip:8080/api/data: want \"Hello from backend\", got '${body}'"
  fi
done
distinct=$(printf '%s\n' "${hostnames[@]+"${hostnames[@]}"}" | grep . | sort -u | grep -c . || true)
if [ "$distinct" -eq 2 ]; then
  pass "two backend tasks answer (hostnames ${hostnames[*]})"
else
  fail "two backend tasks answer: want 2 distinct hostnames, got $distinct (${hostnames[*]+${hostnames[*]}})"
fi

frontend_ip=$(head -n1 <<<"$frontend_ips")
if [ -z "$frontend_ip" ]; then
  fail "frontend /health: no healthy frontend-web instance to ask"
else
  body=$(fetch_until "http://$frontend_ip:3000/health" '"backend":"ok"')
  if grep -qF '"backend":"ok"' <<<"$body"; then
    pass "frontend $frontend_ip:3000/health reaches backend-api.$NAMESPACE: $body"
  else
    fail "frontend $frontend_ip:3000/health: want \"backend\":\"ok\", got '${body}'"
  fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
