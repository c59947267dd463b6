#!/usr/bin/env bash
# ci/bench-dns.sh — benchmark reference-server's DNS against NSD and Knot, side by side.
#
# Uses the shared DNS benchmark kit in ../shared/bench/dns (see its README.md): gen-zone.py for
# the data set (zone app.local, svc-000..svc-099 x inst-0..inst-7, A/AAAA/SRV, 20,000 queries
# with 10 % NXDOMAIN), servers.sh to run nsd (5302) and knot (5301) on loopback, run-all.sh /
# bench.sh with udplat and dnsperf for the measurements. In one invocation it:
#   1. installs dnsperf, knot, nsd, dig if missing (only those: no bind/unbound/dnsmasq/hickory),
#      builds udplat and, if missing, the release binary (REBUILD=1 forces cargo build);
#   2. loads the same data set into reference-server through the Cloud Map API
#      (CreatePrivateDnsNamespace app.local, 100 x CreateService MULTIVALUE A/AAAA/SRV,
#      800 x RegisterInstance) and checks it with dig and against knot's answers;
#   3. runs run-all.sh over ours, nsd and knot in the same run (modes lat1 c1 c10, with the
#      server PIDs so server CPU per query is measured);
#   4. prints a summary table, ours/nsd and ours/knot ratios and the targets
#      (c10 QPS >= 1.0x nsd, <= 7 us server CPU/query at c10, lat1 p99 <= 130 us);
#   5. measures register->visible latency: RegisterInstance, then DNS A queries for
#      vis.app.local in a tight UDP loop until the new address is in the answer (target p99 <= 5 ms);
#   6. (SCALE=1) loads 1,000 more services x 1,000 instances (1M) into a second server and
#      compares its c10 QPS and RSS with a server holding only the 800 (target ratio >= 0.9).
# A missed target prints "TARGET MISSED" but does not fail; a broken run does (exit 1).
#
# Usage:  ci/bench-dns.sh
# Env:    REPS=2 DURATION=12 MODES="lat1 c1 c10"   (quick: DURATION=5 REPS=1 SCALE=0)
#         SCALE=1                 the 1M-instance part (0 skips it; it takes several minutes)
#         SCALE_SERVICES=1000 SCALE_INSTANCES=1000 SCALE_WORKERS=8 SCALE_REPS=$REPS
#         SCALE_EPHEMERAL=0       1: run the two scale servers --ephemeral instead of --data-dir
#         VIS_N=300               registrations of the register->visible part
#         OURS_UDP_WORKERS=       --dns-udp-workers for ours (default: the server's, one per core)
#         CARGO_TARGET_DIR=/var/tmp/cloudmap-target  REFERENCE_SERVER_BIN=…  REBUILD=1
#         BENCH_SHARED=<repo>/../shared/bench/dns
# Needs:  root (apt-get) for the first run, python3, cargo if the binary has to be built.
# Everything lives in one mktemp -d dir removed at exit; only the PIDs started here are stopped;
# all traffic is on 127.0.0.1.
set -euo pipefail
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPS=${REPS:-2}
DURATION=${DURATION:-12}
MODES=${MODES:-lat1 c1 c10}
SCALE=${SCALE:-1}
SCALE_SERVICES=${SCALE_SERVICES:-1000}
SCALE_INSTANCES=${SCALE_INSTANCES:-1000}
SCALE_WORKERS=${SCALE_WORKERS:-8}
SCALE_REPS=${SCALE_REPS:-$REPS}
SCALE_EPHEMERAL=${SCALE_EPHEMERAL:-0}
VIS_N=${VIS_N:-300}
OURS_UDP_WORKERS=${OURS_UDP_WORKERS:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${BENCH_SHARED:-$REPO_ROOT/../shared/bench/dns}
HELPER=$REPO_ROOT/ci/bench-dns/helper.py
KNOT_PORT=5301 # fixed by servers.sh
NSD_PORT=5302

# Targets.
MIN_NSD_RATIO=1.0
MAX_US_PER_QUERY=7
MAX_LAT1_P99_US=130
MAX_VIS_P99_MS=5
MIN_SCALE_RATIO=0.9

T_START=$(date +%s)
log() { printf '==> [%4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() {
    printf 'bench-dns: error: %s\n' "$*" >&2
    exit 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a; }

[[ -d $SHARED && -x $SHARED/run-all.sh ]] || die "shared DNS bench kit not found at $SHARED"
[[ $MODES == *c10* ]] || die "MODES must include c10 (the targets and the scale part use it)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-dns.XXXXXX")
export BENCH_DIR=$WORK/bench
mkdir -p "$BENCH_DIR"
PIDS=()
REFS_STARTED=0

stop_refs() {
    # servers.sh stops only the PIDs it recorded in $BENCH_DIR/pids (and their children).
    ((REFS_STARTED)) || return 0
    "$SHARED/servers.sh" stop knot nsd >/dev/null 2>&1 || true
    REFS_STARTED=0
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    stop_refs
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

# ---------------------------------------------------------------------------------------------
# 1. Prerequisites (idempotent). Only what this benchmark uses: the shared setup.sh would also
# install bind9/unbound/dnsmasq and build hickory-dns.

ensure_packages() {
    local missing=()
    command -v dnsperf >/dev/null 2>&1 || missing+=(dnsperf)
    command -v knotd >/dev/null 2>&1 || missing+=(knot)
    command -v nsd >/dev/null 2>&1 || missing+=(nsd)
    command -v dig >/dev/null 2>&1 || missing+=(dnsutils)
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    [[ -x /usr/bin/time ]] || missing+=(time)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    ((${#missing[@]})) || return 0
    [[ $EUID -eq 0 ]] || die "need root to apt-get install ${missing[*]}"
    apt_install_no_daemons "$WORK/apt.log" "${missing[@]}" || die "apt-get install ${missing[*]} failed"
    for c in dnsperf knotd nsd dig cc; do
        command -v "$c" >/dev/null 2>&1 || die "$c still missing after apt-get install"
    done
}

LOAD_AT_START=$(loadavg)
ensure_packages
BIN=$(reference_binary) || die "no reference-server binary to benchmark"
# a packaged daemon started by someone else is not ours to stop: just say so
ps -eo pid,comm | awk '$2 ~ /^(knotd|nsd)$/ {print "WARNING: a knotd/nsd not started by this script is running:", $0}' >&2

helper() { python3 "$HELPER" "$@"; }

log "data set: $SHARED/gen-zone.py -> $BENCH_DIR/data; udplat"
python3 "$SHARED/gen-zone.py" "$BENCH_DIR/data" >&2
cc -O2 -Wall -o "$BENCH_DIR/udplat" "$SHARED/udplat.c"
QUERIES=$BENCH_DIR/data/queries.txt

# ---------------------------------------------------------------------------------------------
# 2. Servers: ours (durable, --data-dir in the temp dir), nsd and knot (servers.sh).

# start_ours NAME [extra flags…] -> sets OURS_API OURS_DNS OURS_PIDV
start_ours() {
    local name=$1
    shift
    OURS_API=$(helper free-port)
    OURS_DNS=$(helper free-port)
    while [[ $OURS_DNS == "$OURS_API" ]]; do OURS_DNS=$(helper free-port); done
    local flags=(--listen "127.0.0.1:$OURS_API" --dns-listen "127.0.0.1:$OURS_DNS" --dns-no-forward --log warn)
    [[ -n $OURS_UDP_WORKERS ]] && flags+=(--dns-udp-workers "$OURS_UDP_WORKERS")
    log "starting reference-server '$name': API 127.0.0.1:$OURS_API, DNS 127.0.0.1:$OURS_DNS $*"
    "$BIN" "${flags[@]}" "$@" </dev/null >"$WORK/$name.log" 2>&1 &
    OURS_PIDV=$!
    PIDS+=("$OURS_PIDV")
    if ! helper wait "$OURS_API" "$OURS_PIDV" 30; then
        tail -n 30 "$WORK/$name.log" >&2
        die "reference-server '$name' did not become ready"
    fi
}

# dig_answers PORT NAME TYPE [dig options…] -> the answer rdata, sorted
dig_answers() {
    local port=$1 name=$2 type=$3
    shift 3
    dig @127.0.0.1 -p "$port" +time=2 +tries=2 +noall +answer "$@" "$name" "$type" | awk '{ $1=$2=$3=$4=""; sub(/^ +/, ""); print }' | sort
}
dig_status() {
    dig @127.0.0.1 -p "$1" +time=2 +tries=2 "$2" "$3" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

# verify_data PORT LABEL: the gen-zone.py shape, by dig (UDP and TCP)
verify_data() {
    local port=$1 label=$2 want got n
    want=$(for i in 1 2 3 4 5 6 7 8; do echo "10.42.0.$i"; done | sort)
    got=$(dig_answers "$port" svc-000.app.local A)
    [[ $got == "$want" ]] || die "$label: svc-000.app.local A: expected the 8 addresses 10.42.0.1-8, got: $(echo "$got" | tr '\n' ' ')"
    got=$(dig_answers "$port" svc-099.app.local A +tcp)
    [[ $(wc -l <<<"$got") -eq 8 && $got == *10.42.99.8* ]] || die "$label: svc-099.app.local A over TCP: got $(echo "$got" | tr '\n' ' ')"
    want=$(for i in 1 2 3 4 5 6 7 8; do echo "fd00:42:0:7::$i"; done | sort)
    got=$(dig_answers "$port" svc-007.app.local AAAA)
    [[ $got == "$want" ]] || die "$label: svc-007.app.local AAAA: got $(echo "$got" | tr '\n' ' ')"
    want=$(for i in 0 1 2 3 4 5 6 7; do echo "1 1 8080 inst-$i.svc-000.app.local."; done | sort)
    got=$(dig_answers "$port" svc-000.app.local SRV)
    [[ $got == "$want" ]] || die "$label: svc-000.app.local SRV: got $(echo "$got" | tr '\n' ' ')"
    got=$(dig_answers "$port" inst-3.svc-042.app.local A)
    [[ $got == "10.42.42.4" ]] || die "$label: inst-3.svc-042.app.local A: got '$got'"
    got=$(dig_status "$port" nosuch-00001.app.local A)
    [[ $got == NXDOMAIN ]] || die "$label: nosuch-00001.app.local A: status '$got', expected NXDOMAIN"
    n=$(dig @127.0.0.1 -p "$port" +time=2 +noall +authority nosuch-00001.app.local A | awk '$4 == "SOA"' | wc -l)
    ((n == 1)) || die "$label: NXDOMAIN without the SOA in the authority section"
    log "$label: dig checks passed (A x8, AAAA x8, SRV x8, instance A, TCP, NXDOMAIN + SOA)"
}

wait_dns() { # PORT PID LABEL: until svc-000 A answers 8 records
    local port=$1 pid=$2 label=$3 i
    for ((i = 0; i < 100; i++)); do
        [[ $(dig_answers "$port" svc-000.app.local A +time=1 +tries=1 2>/dev/null | wc -l) -eq 8 ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    return 1
}

start_ours main --data-dir "$WORK/ours-data"
MAIN_PID=$OURS_PIDV MAIN_API=$OURS_API MAIN_DNS=$OURS_DNS
log "loading the data set into ours through the Cloud Map API"
read -r NS_ID LOAD_S < <(helper load-base "$MAIN_API") || die "loading the data set failed"
log "ours: namespace $NS_ID, 100 services + 800 instances loaded in ${LOAD_S}s"
verify_data "$MAIN_DNS" ours

for p in $KNOT_PORT $NSD_PORT; do
    helper check-port "$p" || die "127.0.0.1:$p is already in use (servers.sh uses fixed ports knot 5301, nsd 5302)"
done
log "starting nsd and knot ($SHARED/servers.sh start knot nsd)"
REFS_STARTED=1
"$SHARED/servers.sh" start knot nsd >&2
KNOT_PID=$(cat "$BENCH_DIR/pids/knot.pid")
NSD_PID=$(cat "$BENCH_DIR/pids/nsd.pid")
for ref in knot:$KNOT_PORT:$KNOT_PID nsd:$NSD_PORT:$NSD_PID; do
    IFS=: read -r name port pid <<<"$ref"
    if ! wait_dns "$port" "$pid" "$name"; then
        tail -n 30 "$BENCH_DIR/logs/$name.out" >&2 || true
        die "$name did not answer on 127.0.0.1:$port"
    fi
    verify_data "$port" "$name"
done
log "answer sets, ours vs knot and ours vs nsd (first 400 distinct queries of queries.txt)"
helper compare "$MAIN_DNS" "$KNOT_PORT" "$QUERIES" 400 >&2 || die "ours and knot answer differently"
helper compare "$MAIN_DNS" "$NSD_PORT" "$QUERIES" 400 >&2 || die "ours and nsd answer differently"

# ---------------------------------------------------------------------------------------------
# 3. The interleaved run: ours, nsd, knot.

export REPS DURATION MODES
RESULTS=$BENCH_DIR/results.csv
LOAD_BEFORE_RUN=$(loadavg)
log "run-all.sh ours nsd knot: REPS=$REPS DURATION=${DURATION}s MODES='$MODES' (load average $LOAD_BEFORE_RUN)"
T_RUN=$(date +%s)
RESULTS=$RESULTS "$SHARED/run-all.sh" "ours:$MAIN_DNS:$MAIN_PID" "nsd:$NSD_PORT:$NSD_PID" \
    "knot:$KNOT_PORT:$KNOT_PID" >&2 || true
RUN_S=$(($(date +%s) - T_RUN))
LOAD_AFTER_RUN=$(loadavg)
BROKEN=0
for pid in "$MAIN_PID" "$NSD_PID" "$KNOT_PID"; do
    kill -0 "$pid" 2>/dev/null || {
        echo "SERVER DIED during the run (pid $pid)"
        BROKEN=1
    }
done
MAIN_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$MAIN_PID/status" 2>/dev/null || echo 0)
MAIN_THREADS=$(find "/proc/$MAIN_PID/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
stop_refs

# ---------------------------------------------------------------------------------------------
# 5. Register -> visible in DNS (on the main, durable server).

log "register->visible: $VIS_N registrations into service vis, one at a time"
VIS_OUT=$(helper visible "$MAIN_API" "$MAIN_DNS" "$VIS_N") || {
    echo "RUN FAILED: register->visible measurement"
    BROKEN=1
    VIS_OUT=
}
stop_pid "$MAIN_PID"

# ---------------------------------------------------------------------------------------------
# 6. Scale: 800 vs 800 + SCALE_SERVICES x SCALE_INSTANCES, two servers, c10 interleaved.

SCALE_DONE=0
if [[ $SCALE == 1 ]]; then
    if [[ $SCALE_EPHEMERAL == 1 ]]; then
        SCALE_FLAGS=(--ephemeral)
        SCALE_MODE="--ephemeral (in memory)"
    else
        SCALE_FLAGS=(--data-dir)
        SCALE_MODE="durable (--data-dir, SQLite WAL, --durability process)"
    fi
    BIG_N=$((SCALE_SERVICES * SCALE_INSTANCES))
    BIG_LABEL=ours-big
    BASE_LABEL=ours-800
    if [[ $SCALE_EPHEMERAL == 1 ]]; then
        start_ours base "${SCALE_FLAGS[@]}"
    else
        start_ours base "${SCALE_FLAGS[@]}" "$WORK/base-data"
    fi
    BASE_PID=$OURS_PIDV BASE_API=$OURS_API BASE_DNS=$OURS_DNS
    if [[ $SCALE_EPHEMERAL == 1 ]]; then
        start_ours big "${SCALE_FLAGS[@]}"
    else
        start_ours big "${SCALE_FLAGS[@]}" "$WORK/big-data"
    fi
    BIG_PID=$OURS_PIDV BIG_API=$OURS_API BIG_DNS=$OURS_DNS
    helper load-base "$BASE_API" >/dev/null || die "loading the data set (base) failed"
    helper load-base "$BIG_API" >/dev/null || die "loading the data set (big) failed"
    LOAD_BEFORE_BULK=$(loadavg)
    log "loading $SCALE_SERVICES services x $SCALE_INSTANCES instances = $BIG_N into 'big' over $SCALE_WORKERS connections (load average $LOAD_BEFORE_BULK)"
    BULK_OUT=$(helper load-bulk "$BIG_API" "$SCALE_SERVICES" "$SCALE_INSTANCES" "$SCALE_WORKERS") ||
        die "bulk loading failed"
    log "bulk: $BULK_OUT"
    verify_data "$BIG_DNS" ours-big
    last=$((SCALE_SERVICES - 1))
    got=$(dig_answers "$BIG_DNS" "big-$(printf %04d "$last").app.local" A | wc -l)
    ((got == 8)) || die "ours-big: big-$(printf %04d "$last").app.local A: $got answers, expected 8 (of $SCALE_INSTANCES)"
    got=$(dig_answers "$BIG_DNS" "i-$((SCALE_INSTANCES - 1)).big-$(printf %04d "$last").app.local" A)
    [[ -n $got ]] || die "ours-big: the last bulk instance is not in DNS"
    BASE_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$BASE_PID/status")
    BIG_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$BIG_PID/status")
    SCALE_RESULTS=$BENCH_DIR/scale.csv
    log "c10, $SCALE_REPS interleaved reps each: $BASE_LABEL vs $BIG_LABEL"
    for ((rep = 1; rep <= SCALE_REPS; rep++)); do
        order=("$BASE_LABEL:$BASE_DNS:$BASE_PID" "$BIG_LABEL:$BIG_DNS:$BIG_PID")
        ((rep % 2 == 0)) && order=("${order[1]}" "${order[0]}")
        for t in "${order[@]}"; do
            IFS=: read -r name port pid <<<"$t"
            REP=$rep RESULTS=$SCALE_RESULTS "$SHARED/bench.sh" "$name" "$port" "$pid" c10 >&2 || true
        done
    done
    for pid in "$BASE_PID" "$BIG_PID"; do
        kill -0 "$pid" 2>/dev/null || {
            echo "SERVER DIED during the scale run (pid $pid)"
            BROKEN=1
        }
    done
    BIG_RSS_AFTER=$(awk '/^VmRSS/ {print $2}' "/proc/$BIG_PID/status" 2>/dev/null || echo 0)
    BIG_DISK=
    [[ $SCALE_EPHEMERAL == 1 ]] || BIG_DISK=$(du -sh "$WORK/big-data" | cut -f1)
    stop_pid "$BASE_PID"
    stop_pid "$BIG_PID"
    SCALE_DONE=1
fi

# ---------------------------------------------------------------------------------------------
# 4. Report.

echo
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
echo "reference-server DNS vs nsd $(pkgver nsd) and knot $(pkgver knot) (Debian packages), dnsperf $(pkgver dnsperf), $(nproc) CPUs"
echo "REPS=$REPS DURATION=${DURATION}s MODES='$MODES'; ours: durable (--data-dir), --dns-no-forward, --dns-udp-workers ${OURS_UDP_WORKERS:-default}, $MAIN_THREADS threads, VmRSS $((MAIN_RSS / 1024)) MiB after the run"
echo "load average: at start $LOAD_AT_START; before the run $LOAD_BEFORE_RUN; after it $LOAD_AFTER_RUN (run took ${RUN_S}s; the load tools share the 2 cores with the servers, and other work on the machine skews everything: compare ratios within this run)"
echo
SUMMARY_RC=0
helper summary "$RESULTS" "$REPS" ours,nsd,knot "$(tr ' ' ',' <<<"$MODES")" \
    "$MIN_NSD_RATIO" "$MAX_US_PER_QUERY" "$MAX_LAT1_P99_US" || SUMMARY_RC=$?
((SUMMARY_RC == 0)) || BROKEN=1

echo
if [[ -n $VIS_OUT ]]; then
    echo "register->visible in DNS (durable server, $VIS_N registrations one at a time; time from sending RegisterInstance until an A query for vis.app.local, looped over UDP, returns the new address; ms):"
    while IFS= read -r line; do echo "  $line"; done <<<"$VIS_OUT"
    vis_p99=$(awk '$1 == "register" { for (i = 1; i <= NF; i++) if ($i ~ /^p99=/) { sub(/^p99=/, "", $i); print $i } }' <<<"$VIS_OUT")
    if awk -v a="$vis_p99" -v b="$MAX_VIS_P99_MS" 'BEGIN { exit !(a <= b) }'; then
        echo "TARGET MET:    register->visible p99 = $vis_p99 ms (target <= $MAX_VIS_P99_MS ms)"
    else
        echo "TARGET MISSED: register->visible p99 = $vis_p99 ms (target <= $MAX_VIS_P99_MS ms)"
    fi
fi

if ((SCALE_DONE)); then
    echo
    echo "scale: $BASE_LABEL = 100 x 8 instances; $BIG_LABEL = the same + $SCALE_SERVICES services x $SCALE_INSTANCES instances ($BIG_N) in app.local; same query file; mode c10; server mode: $SCALE_MODE"
    echo "  bulk load over $SCALE_WORKERS keep-alive connections: $BULK_OUT (load average before: $LOAD_BEFORE_BULK)"
    echo "  VmRSS after loading: $BASE_LABEL $((BASE_RSS / 1024)) MiB, $BIG_LABEL $((BIG_RSS / 1024)) MiB (+$(((BIG_RSS - BASE_RSS) / 1024)) MiB for $BIG_N more instances: $(awk -v r="$BIG_RSS" -v b="$BASE_RSS" -v n="$BIG_N" 'BEGIN { printf "%.0f", (r - b) * 1024 / n }') B each); $BIG_LABEL after the c10 runs $((BIG_RSS_AFTER / 1024)) MiB${BIG_DISK:+; data dir $BIG_DISK}"
    SCALE_RC=0
    helper scale-summary "$SCALE_RESULTS" "$SCALE_REPS" "$BASE_LABEL" "$BIG_LABEL" "$BASE_RSS" "$BIG_RSS" "$MIN_SCALE_RATIO" |
        sed 's/^/  /' || SCALE_RC=$?
    ((SCALE_RC == 0)) || BROKEN=1
elif [[ $SCALE != 1 ]]; then
    echo
    echo "scale part skipped (SCALE=$SCALE)"
fi

echo
echo "load average at end: $(loadavg); total ${SECONDS}s"
for f in "$WORK"/main.log "$WORK"/base.log "$WORK"/big.log; do
    if [[ -s $f ]]; then
        echo "reference-server logged $(wc -l <"$f") line(s) at --log warn in $(basename "$f") (last 10):"
        tail -n 10 "$f"
    fi
done

if ((BROKEN)); then
    echo "bench-dns: some runs FAILED (see RUN FAILED / SERVER DIED above)" >&2
    exit 1
fi
