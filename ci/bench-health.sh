#!/usr/bin/env bash
# ci/bench-health.sh — cost and failover latency of reference-server's active health checker.
#
# There is no peer health checker to run side by side here (Route 53's checkers are not
# available locally), so the figures are absolute; to make the CPU figures mean something, the
# machine's idle CPU is measured in the same run, before anything is started. In one invocation:
#   0. installs nginx-light (Debian) if nginx is missing, and builds the release binary if missing
#      (REBUILD=1 forces cargo build);
#   1. idle baseline: machine CPU busy over BASELINE_S with nothing of ours running, then the
#      server's own CPU with no targets;
#   2. probe cost: nginx (NGINX_WORKERS workers, `return 200` on /health) on NGINX_PORTS ports x
#      NGINX_IPS loopback addresses 127.0.1.x; PROBE_SERVICES services x PROBE_INSTANCES instances
#      (HTTP check, FailureThreshold 1) spread over those ip:port pairs; waits until every
#      instance is HEALTHY (GetInstancesHealthStatus, paginated), lets probing settle for
#      WARMUP_S, then measures MEASURE_S of steady probing at --health-interval PROBE_INTERVAL:
#      probes/s (server /metrics, else nginx stub_status), server CPU (utime+stime from
#      /proc/PID/stat), nginx CPU (master + workers), whole machine CPU.
#      Target: server CPU < MAX_PROBE_CPU_PCT % of one core;
#   3. failover latency, for each interval in FAILOVER_INTERVALS: a fresh server, service `web`
#      (A record, HTTP check, FailureThreshold FAILOVER_THRESHOLD) with FAILOVER_BACKENDS Python
#      backends; FAILOVER_TRIALS times, at a random moment one random backend starts failing
#      (FAIL_MODE: 500 = answers 500, refuse = stops listening, hang = accepts and never answers)
#      while the DNS A record is queried over UDP in a tight loop, until its IP is gone; then it
#      is restored and the loop waits until it is back. Target: p99 <= interval x threshold +
#      FAILOVER_SLACK_MS (+ the probe timeout in hang mode).
# A missed target prints "TARGET MISSED" but does not fail; a broken run does (exit 1).
#
# Usage:  ci/bench-health.sh                         (about 5 minutes)
# Env:    BASELINE_S=10 SERVER_IDLE_S=5 BUSY_WARN_PCT=15
#         WAIT_QUIET_S=0          wait up to this long for the machine to be idle before starting
#         PROBE_SERVICES=10 PROBE_INSTANCES=1000 PROBE_INTERVAL=1s WARMUP_S=5 MEASURE_S=30
#         FLOOR_S=10              the minimal C prober (ci/bench-health/floor.c) at the same rate
#                                 against the same nginx, for the floor of the cost (0 skips)
#         NGINX_WORKERS=2 NGINX_PORTS=4 NGINX_IPS=10 HEALTH_CONCURRENCY= (server default)
#         FAILOVER_INTERVALS="1s 200ms" FAILOVER_TRIALS=30 FAILOVER_THRESHOLD=3
#         FAILOVER_BACKENDS=3 FAIL_MODE=500 FAILOVER_SLACK_MS=50
#         SKIP_PROBE=0 SKIP_FAILOVER=0  STORE=durable|ephemeral  BENCH_HEALTH_DEBUG=1 (per-trial lines)
#         CARGO_TARGET_DIR=/var/tmp/cloudmap-target  REFERENCE_SERVER_BIN=…  REBUILD=1
# Quick:  MEASURE_S=10 FAILOVER_TRIALS=10 FAILOVER_INTERVALS=200ms ci/bench-health.sh
# Needs:  root for apt-get on the first run (nginx), python3, cargo if the binary must be built.
# Everything lives in one mktemp -d dir removed at exit; only the PIDs started here are stopped;
# all traffic is on loopback (127.0.0.1 and 127.0.1.x / 127.0.2.x, all on lo).
set -euo pipefail
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASELINE_S=${BASELINE_S:-10}
WAIT_QUIET_S=${WAIT_QUIET_S:-0}
SERVER_IDLE_S=${SERVER_IDLE_S:-5}
PROBE_SERVICES=${PROBE_SERVICES:-10}
PROBE_INSTANCES=${PROBE_INSTANCES:-1000}
PROBE_INTERVAL=${PROBE_INTERVAL:-1s}
WARMUP_S=${WARMUP_S:-5}
FLOOR_S=${FLOOR_S:-10}
MEASURE_S=${MEASURE_S:-30}
NGINX_WORKERS=${NGINX_WORKERS:-2}
NGINX_PORTS=${NGINX_PORTS:-4}
NGINX_IPS=${NGINX_IPS:-10}
HEALTH_CONCURRENCY=${HEALTH_CONCURRENCY:-}
FAILOVER_INTERVALS=${FAILOVER_INTERVALS:-1s 200ms}
FAILOVER_TRIALS=${FAILOVER_TRIALS:-30}
FAILOVER_THRESHOLD=${FAILOVER_THRESHOLD:-3}
FAILOVER_BACKENDS=${FAILOVER_BACKENDS:-3}
FAIL_MODE=${FAIL_MODE:-500}
FAILOVER_SLACK_MS=${FAILOVER_SLACK_MS:-50}
SKIP_PROBE=${SKIP_PROBE:-0}
SKIP_FAILOVER=${SKIP_FAILOVER:-0}
STORE=${STORE:-durable}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER=$REPO_ROOT/ci/bench-health/helper.py

# Targets.
MAX_PROBE_CPU_PCT=10
BUSY_WARN_PCT=${BUSY_WARN_PCT:-15} # idle baseline above this: the figures are not trustworthy

T_START=$(date +%s)
log() { printf '==> [%4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() {
    printf 'bench-health: error: %s\n' "$*" >&2
    exit 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a; }
# seconds DURATION: 1s, 200ms, 1.5s, 250 -> seconds as a decimal
seconds() {
    case $1 in
    *ms) awk -v v="${1%ms}" 'BEGIN { printf "%g", v / 1000 }' ;;
    *s) awk -v v="${1%s}" 'BEGIN { printf "%g", v }' ;;
    *) awk -v v="$1" 'BEGIN { printf "%g", v }' ;;
    esac
}

case $FAIL_MODE in 500 | refuse | hang) ;; *) die "FAIL_MODE must be 500, refuse or hang" ;; esac
case $STORE in durable | ephemeral) ;; *) die "STORE must be durable or ephemeral" ;; esac
((NGINX_IPS >= 1 && NGINX_IPS <= 250 && NGINX_PORTS >= 1)) || die "bad NGINX_IPS/NGINX_PORTS"
((FAILOVER_BACKENDS >= 2 && FAILOVER_BACKENDS <= 250)) || die "FAILOVER_BACKENDS must be 2..250"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-health.XXXXXX")
PIDS=()

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    ((POLICY_RC_CREATED)) && rm -f /usr/sbin/policy-rc.d
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

helper() { python3 "$HELPER" "$@"; }

# ---------------------------------------------------------------------------------------------
# 0. Prerequisites (idempotent).

ensure_packages() {
    local missing=()
    [[ $SKIP_PROBE == 1 ]] || command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] ||
        missing+=(nginx-light)
    [[ $SKIP_PROBE == 1 || $FLOOR_S == 0 ]] || command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    ((${#missing[@]})) || return 0
    [[ $EUID -eq 0 ]] || die "need root to apt-get install ${missing[*]}"
    apt_install_no_daemons "$WORK/apt.log" "${missing[@]}" || die "apt-get install ${missing[*]} failed"
}

LOAD_AT_START=$(loadavg)
ensure_packages
BIN=$(reference_binary) || die "no reference-server binary to benchmark"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

# start_server NAME INTERVAL [extra flags…] -> sets SRV_API SRV_DNS SRV_PID
start_server() {
    local name=$1 interval=$2 timeout
    shift 2
    SRV_API=$(helper free-port)
    SRV_DNS=$(helper free-port)
    while [[ $SRV_DNS == "$SRV_API" ]]; do SRV_DNS=$(helper free-port); done
    # the probe timeout: 1 s, at most the interval (the server clamps it the same way)
    timeout=$(awk -v i="$(seconds "$interval")" 'BEGIN { printf "%dms", (i < 1 ? i : 1) * 1000 }')
    local flags=(--listen "127.0.0.1:$SRV_API" --dns-listen "127.0.0.1:$SRV_DNS" --dns-no-forward
        --log warn --health-interval "$interval" --health-timeout "$timeout")
    [[ -n $HEALTH_CONCURRENCY ]] && flags+=(--health-concurrency "$HEALTH_CONCURRENCY")
    if [[ $STORE == durable ]]; then
        flags+=(--data-dir "$WORK/$name-data")
    else
        flags+=(--ephemeral)
    fi
    log "starting reference-server '$name': API 127.0.0.1:$SRV_API, DNS 127.0.0.1:$SRV_DNS, --health-interval $interval --health-timeout $timeout $*"
    "$BIN" "${flags[@]}" "$@" </dev/null >"$WORK/$name.log" 2>&1 &
    SRV_PID=$!
    PIDS+=("$SRV_PID")
    if ! helper wait "$SRV_API" "$SRV_PID" 30; then
        tail -n 30 "$WORK/$name.log" >&2
        die "reference-server '$name' did not become ready"
    fi
}

kv() { # kv KEY TEXT: the value of KEY=… in key=value lines
    sed -n "s/^$1=//p" <<<"$2" | head -n 1
}

BROKEN=0
REPORT=$WORK/report.txt
: >"$REPORT"
out() { printf '%s\n' "$*" >>"$REPORT"; }

# ---------------------------------------------------------------------------------------------
# 1. Idle baseline, before anything of ours runs.

if ((WAIT_QUIET_S > 0)); then
    log "waiting up to ${WAIT_QUIET_S}s for the machine to be quiet (< $BUSY_WARN_PCT % of one core busy over 2 s)"
    for ((w = 0; w < WAIT_QUIET_S; w += 2)); do
        busy=$(kv machine_pct "$(helper baseline 2)")
        awk -v a="$busy" -v b="$BUSY_WARN_PCT" 'BEGIN { exit !(a <= b) }' && break
        log "machine busy: $busy % of one core"
    done
fi
log "idle baseline: machine CPU over ${BASELINE_S}s with nothing of ours running"
BASE_OUT=$(helper baseline "$BASELINE_S")
IDLE_MACHINE=$(kv machine_pct "$BASE_OUT")

# ---------------------------------------------------------------------------------------------
# 2. Probe cost.

if [[ $SKIP_PROBE != 1 ]]; then
    INTERVAL_S=$(seconds "$PROBE_INTERVAL")
    N=$((PROBE_SERVICES * PROBE_INSTANCES))
    EXPECT_RATE=$(awk -v n="$N" -v i="$INTERVAL_S" 'BEGIN { printf "%.0f", n / i }')
    start_server probe "$PROBE_INTERVAL"
    PROBE_PID=$SRV_PID PROBE_API=$SRV_API
    log "server idle with no targets: ${SERVER_IDLE_S}s"
    SRV_IDLE_OUT=$(helper baseline "$SERVER_IDLE_S" "$PROBE_PID")
    SRV_IDLE=$(kv "pid_${PROBE_PID}_pct" "$SRV_IDLE_OUT")
    SRV_IDLE_MACHINE=$(kv machine_pct "$SRV_IDLE_OUT")

    # nginx: NGINX_PORTS ports on each of 127.0.1.1 … 127.0.1.NGINX_IPS (several destinations keep
    # the 4-tuples of ~10,000 short connections a second far apart), plus stub_status.
    NGINX_DIR=$WORK/nginx
    mkdir -p "$NGINX_DIR/tmp"
    STUB_PORT=$(helper free-port)
    ports=()
    for ((p = 0; p < NGINX_PORTS; p++)); do
        port=$(helper free-port 127.0.1.1)
        while [[ " ${ports[*]} " == *" $port "* || $port == "$STUB_PORT" ]]; do port=$(helper free-port 127.0.1.1); done
        ports+=("$port")
    done
    TARGETS=()
    LISTENS=""
    for ((a = 1; a <= NGINX_IPS; a++)); do
        for port in "${ports[@]}"; do
            LISTENS+="        listen 127.0.1.$a:$port reuseport backlog=4096;"$'\n'
            TARGETS+=("127.0.1.$a:$port")
        done
    done
    cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events {
    worker_connections 16384;
}
http {
    access_log off;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    keepalive_timeout 0;
    server_tokens off;
    default_type text/plain;
    server {
$LISTENS
        location = /health { return 200 "ok\n"; }
        location / { return 404; }
    }
    server {
        listen 127.0.0.1:$STUB_PORT;
        location = /stub { stub_status; }
    }
}
EOF
    if [[ $EUID -eq 0 ]]; then
        # workers run as root here only so that they can use the temp dirs inside the 0700 $WORK
        sed -i '1i user root;' "$NGINX_DIR/nginx.conf"
    fi
    ulimit -n 65536 2>/dev/null || true
    "$NGINX" -t -q -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" 2>"$NGINX_DIR/test.log" || {
        cat "$NGINX_DIR/test.log" >&2
        die "nginx -t failed"
    }
    log "starting nginx ($NGINX_WORKERS workers) on ${#TARGETS[@]} loopback ip:port pairs (127.0.1.1-$NGINX_IPS x ports ${ports[*]})"
    "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" </dev/null >"$NGINX_DIR/stdout.log" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null "http://${TARGETS[0]}/health" 2>/dev/null && break
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.05
    done
    curl -fsS -o /dev/null "http://${TARGETS[-1]}/health" || {
        cat "$NGINX_DIR/error.log" "$NGINX_DIR/stdout.log" >&2 || true
        die "nginx does not answer on ${TARGETS[-1]}"
    }

    log "registering $PROBE_SERVICES services x $PROBE_INSTANCES instances = $N (HTTP /health, FailureThreshold 1)"
    T_REG=$(date +%s.%N)
    LOAD_S=$(helper load "$PROBE_API" "$PROBE_SERVICES" "$PROBE_INSTANCES" "$(
        IFS=,
        echo "${TARGETS[*]}"
    )") || die "registering the instances failed"
    log "registered in ${LOAD_S}s; waiting until all $N are HEALTHY"
    HEALTHY_S=$(helper wait-healthy "$PROBE_API" "$N" 120) || die "not all instances became HEALTHY"
    ALL_HEALTHY_S=$(awk -v a="$T_REG" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "all $N HEALTHY ${HEALTHY_S}s after the last registration (${ALL_HEALTHY_S}s after the first); warm-up ${WARMUP_S}s, then ${MEASURE_S}s of steady probing"
    LOAD_BEFORE_MEASURE=$(loadavg)
    MEASURE_OUT=$(helper measure "$PROBE_API" "$PROBE_PID" "$NGINX_PID" "$STUB_PORT" "$WARMUP_S" "$MEASURE_S" "$EXPECT_RATE") ||
        die "measurement failed"
    STILL_HEALTHY=1
    helper wait-healthy "$PROBE_API" "$N" 5 >/dev/null 2>"$WORK/after.err" || {
        STILL_HEALTHY=0
        cat "$WORK/after.err" >&2
    }
    kill -0 "$PROBE_PID" 2>/dev/null || {
        out "SERVER DIED during the probe-cost run"
        BROKEN=1
    }
    PROBE_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$PROBE_PID/status" 2>/dev/null || echo 0)
    PROBE_THREADS=$(find "/proc/$PROBE_PID/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    PROBE_LOG_LINES=$(wc -l <"$WORK/probe.log")
    stop_pid "$PROBE_PID"

    # The floor: the same probes at the same rate from a minimal C prober, server stopped.
    FLOOR_OUT=
    if ((FLOOR_S > 0)); then
        cc -O2 -Wall -o "$WORK/floor" "$REPO_ROOT/ci/bench-health/floor.c" || die "cc floor.c failed"
        log "floor: minimal C prober, $EXPECT_RATE probes/s for ${FLOOR_S}s against the same nginx (server stopped)"
        FLOOR_OUT=$(helper floor "$WORK/floor" "$NGINX_PID" "$STUB_PORT" "$EXPECT_RATE" "$FLOOR_S" "${TARGETS[@]}") ||
            die "floor measurement failed"
    fi
    stop_pid "$NGINX_PID"

    rate=$(kv probe_rate "$MEASURE_OUT")
    srv=$(kv server_pct "$MEASURE_OUT")
    failed=$(kv failed_probes "$MEASURE_OUT")
    out "1. probe cost ($(kv seconds "$MEASURE_OUT") s of steady probing after all were HEALTHY + ${WARMUP_S}s warm-up; load average before: $LOAD_BEFORE_MEASURE)"
    out "   instances:                $N ($PROBE_SERVICES services x $PROBE_INSTANCES, HTTP GET /health, FailureThreshold 1) over ${#TARGETS[@]} nginx ip:port pairs"
    out "   interval:                 $PROBE_INTERVAL (probe timeout $(awk -v i="$INTERVAL_S" 'BEGIN { printf "%dms", (i < 1 ? i : 1) * 1000 }'), --health-concurrency ${HEALTH_CONCURRENCY:-default 512}, store $STORE)"
    out "   registration:             ${LOAD_S}s for $N RegisterInstance; all HEALTHY ${ALL_HEALTHY_S}s after the first"
    out "   probes/s achieved:        $rate (expected $(kv probe_rate_expected "$MEASURE_OUT"); source: $(kv probe_rate_source "$MEASURE_OUT"))"
    out "   nginx requests/s:         $(kv nginx_requests_rate "$MEASURE_OUT")"
    out "   failed probes in window:  $failed; health changes in window: $(kv health_changes "$MEASURE_OUT"); all still HEALTHY after: $([[ $STILL_HEALTHY == 1 ]] && echo yes || echo NO)"
    out "   server CPU:               $srv % of one core (user $(kv server_user_pct "$MEASURE_OUT") %, system $(kv server_sys_pct "$MEASURE_OUT") %; $(kv server_us_per_probe "$MEASURE_OUT") us CPU per probe); $PROBE_THREADS threads, VmRSS $((PROBE_RSS / 1024)) MiB"
    out "   nginx CPU (responder):    $(kv nginx_pct "$MEASURE_OUT") % of one core over $(kv nginx_processes "$MEASURE_OUT") processes ($(kv nginx_us_per_request "$MEASURE_OUT") us per request)"
    if [[ -n $FLOOR_OUT ]]; then
        out "   floor (minimal C prober): $(kv rate "$FLOOR_OUT") probes/s ($(kv ok "$FLOOR_OUT") ok of $(kv probes "$FLOOR_OUT")) cost $(kv pct "$FLOOR_OUT") % of one core (user $(kv user_pct "$FLOOR_OUT") %, system $(kv sys_pct "$FLOOR_OUT") %; $(kv us_per_probe "$FLOOR_OUT") us per probe); nginx $(kv nginx_pct "$FLOOR_OUT") %"
        out "                             = the least one new TCP connection per probe costs on this machine; server / floor = $(awk -v a="$(kv server_us_per_probe "$MEASURE_OUT")" -v b="$(kv us_per_probe "$FLOOR_OUT")" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x"
    fi
    out "   whole machine busy:       $(kv machine_pct "$MEASURE_OUT") % of one core (of $(($(nproc) * 100)) %); of which neither server nor nginx: $(kv other_pct "$MEASURE_OUT") %"
    out "   idle baseline:            machine $IDLE_MACHINE % of one core over $(kv seconds "$BASE_OUT") s with nothing of ours running; server with no targets $SRV_IDLE % (machine $SRV_IDLE_MACHINE %) over ${SERVER_IDLE_S}s"
    out "   note: nginx, the server and this script share the machine's $(nproc) cores; the server's CPU is read from its own /proc/PID/stat, the responder's separately. On loopback the kernel does much of the receiving side's TCP work in the sender's context, so the split of kernel time between prober and responder is somewhat arbitrary; the floor line is the fair comparison."
    out "   server log: $PROBE_LOG_LINES line(s) at --log warn"
    rate_ok=$(awk -v r="$rate" -v e="$EXPECT_RATE" 'BEGIN { print (r >= 0.95 * e) ? 1 : 0 }')
    if [[ $rate_ok != 1 ]]; then
        out "TARGET MISSED: probe rate $rate/s is below 95 % of the expected $EXPECT_RATE/s (the checker does not keep up)"
    fi
    if [[ $failed != n/a && $failed != 0 ]] || [[ $STILL_HEALTHY != 1 ]]; then
        out "TARGET MISSED: probes failed against a healthy nginx ($failed in the window)"
    fi
    if awk -v a="$srv" -v b="$MAX_PROBE_CPU_PCT" 'BEGIN { exit !(a < b) }'; then
        out "TARGET MET:    probe cost = $srv % of one core for $N instances at $PROBE_INTERVAL (target < $MAX_PROBE_CPU_PCT %)"
    else
        out "TARGET MISSED: probe cost = $srv % of one core for $N instances at $PROBE_INTERVAL (target < $MAX_PROBE_CPU_PCT %)"
    fi
    if [[ $PROBE_LOG_LINES -gt 0 ]]; then
        out "   last server log lines:"
        while IFS= read -r line; do out "     $line"; done < <(tail -n 5 "$WORK/probe.log")
    fi
    out ""
fi

# ---------------------------------------------------------------------------------------------
# 3. Failover latency.

if [[ $SKIP_FAILOVER != 1 ]]; then
    n=0
    for interval in $FAILOVER_INTERVALS; do
        n=$((n + 1))
        INTERVAL_S=$(seconds "$interval")
        start_server "failover$n" "$interval"
        FO_PID=$SRV_PID FO_API=$SRV_API FO_DNS=$SRV_DNS
        CONTROL_PORT=$(helper free-port)
        BACKENDS=()
        for ((b = 1; b <= FAILOVER_BACKENDS; b++)); do
            BACKENDS+=("127.0.2.$b:$(helper free-port "127.0.2.$b")")
        done
        python3 "$HELPER" backends "$CONTROL_PORT" "${BACKENDS[@]}" </dev/null >"$WORK/backends$n.log" 2>&1 &
        BE_PID=$!
        PIDS+=("$BE_PID")
        log "failover at $interval: $FAILOVER_TRIALS trials, FailureThreshold $FAILOVER_THRESHOLD, FAIL_MODE=$FAIL_MODE, backends ${BACKENDS[*]}"
        if FO_OUT=$(helper failover "$FO_API" "$FO_DNS" "$CONTROL_PORT" "$INTERVAL_S" "$FAILOVER_THRESHOLD" \
            "$FAILOVER_TRIALS" "$FAIL_MODE" "${BACKENDS[@]}"); then
            p99=$(sed -n 's/^p99_ms=//p' <<<"$FO_OUT")
            limit=$(awk -v i="$INTERVAL_S" -v t="$FAILOVER_THRESHOLD" -v s="$FAILOVER_SLACK_MS" -v m="$FAIL_MODE" \
                'BEGIN { to = (i < 1 ? i : 1); printf "%.0f", 1000 * i * t + s + (m == "hang" ? 1000 * to : 0) }')
            out "2.$n failover latency at --health-interval $interval (time from the backend starting to fail to the first DNS A answer without it; UDP queries in a tight loop)"
            while IFS= read -r line; do
                [[ $line == p99_ms=* ]] || out "   $line"
            done <<<"$FO_OUT"
            out "   note: with FailureThreshold $FAILOVER_THRESHOLD the checker can only decide on failing probe #$FAILOVER_THRESHOLD: $((FAILOVER_THRESHOLD - 1)) to $FAILOVER_THRESHOLD intervals after the failure begins, depending on where in the interval it starts (+ the probe timeout if the backend hangs rather than refusing)."
            if awk -v a="$p99" -v b="$limit" 'BEGIN { exit !(a <= b) }'; then
                out "TARGET MET:    failover p99 = $p99 ms at $interval x $FAILOVER_THRESHOLD (target <= $limit ms = interval x threshold + $FAILOVER_SLACK_MS ms$([[ $FAIL_MODE == hang ]] && echo ' + timeout'))"
            else
                out "TARGET MISSED: failover p99 = $p99 ms at $interval x $FAILOVER_THRESHOLD (target <= $limit ms = interval x threshold + $FAILOVER_SLACK_MS ms$([[ $FAIL_MODE == hang ]] && echo ' + timeout'))"
            fi
        else
            out "2.$n RUN FAILED: failover at $interval"
            BROKEN=1
        fi
        kill -0 "$FO_PID" 2>/dev/null || {
            out "SERVER DIED during the failover run at $interval"
            BROKEN=1
        }
        lines=$(wc -l <"$WORK/failover$n.log")
        if ((lines > 0)); then
            out "   server log: $lines line(s) at --log warn (last 5):"
            while IFS= read -r line; do out "     $line"; done < <(tail -n 5 "$WORK/failover$n.log")
        fi
        out ""
        stop_pid "$BE_PID"
        stop_pid "$FO_PID"
    done
fi

# ---------------------------------------------------------------------------------------------
# 4. Report.

echo
echo "reference-server active health checks: $(nproc) CPUs, nginx $("$NGINX" -v 2>&1 | sed 's|.*nginx/||' || echo '?'), $(python3 --version 2>&1)"
echo "No peer health checker runs here to compare with (Route 53's are not available locally): the figures are absolute, against the targets, and against the idle baseline measured in this same run."
echo "idle baseline: machine busy $IDLE_MACHINE % of one core over ${BASELINE_S}s before anything was started; load average at start $LOAD_AT_START"
if awk -v a="$IDLE_MACHINE" -v b="$BUSY_WARN_PCT" 'BEGIN { exit !(a > b) }'; then
    echo "WARNING: the machine was not idle before the run ($IDLE_MACHINE % > $BUSY_WARN_PCT % of one core): something else is using the CPU and every figure below is skewed (CPU per probe rises under contention, latencies grow); rerun on a quiet machine."
fi
echo
cat "$REPORT"
echo "load average at end: $(loadavg); total $(($(date +%s) - T_START))s"

if ((BROKEN)); then
    echo "bench-health: some runs FAILED (see RUN FAILED / SERVER DIED above)" >&2
    exit 1
fi
