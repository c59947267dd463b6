#!/usr/bin/env bash
# ci/bench-api.sh — benchmark reference-server against moto_server, side by side.
#
# Measures, in one invocation:
#   * cold start of reference-server (exec -> first 200 from GET /health), COLD_RUNS times;
#   * RegisterInstance and DiscoverInstances throughput and p50/p99 latency with wrk, at
#     concurrency 1 (-t1 -c1) and 16 (-t2 -c16), against reference-server (durable mode,
#     --data-dir in a temp dir) and against moto_server;
# then prints a table, the ours/moto throughput ratios and whether the targets are met
# (ours >= 20x moto throughput, ours p99 <= 2 ms at concurrency 1, cold start <= 100 ms).
# A missed target is printed as "TARGET MISSED" but does not fail the script; a broken run
# (a server that does not start, non-2xx responses, socket errors) does (exit 1).
#
# Usage:   ci/bench-api.sh
# Env:     DURATION=10s            wrk duration of each run
#          COLD_RUNS=5             cold-start repetitions
#          CARGO_TARGET_DIR=/var/tmp/cloudmap-target
#          REFERENCE_SERVER_BIN=…  binary to test (default: $CARGO_TARGET_DIR/release/reference-server,
#                                  built if missing; REBUILD=1 forces `cargo build --release`)
# Needs:   python3 (it does the HTTP set-up and the cold-start polling), wrk and moto[server]
#          (installed if missing), cargo if the binary has to be built. Everything the script
#          creates lives in one mktemp -d dir, removed at exit; all traffic goes to 127.0.0.1.
set -euo pipefail
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
COLD_RUNS=${COLD_RUNS:-5}
DISC_INSTANCES=8
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}

# Targets.
MIN_RATIO=20
MAX_P99_C1_MS=2
MAX_COLD_MS=100

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'bench-api: error: %s\n' "$*" >&2
    exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-api.XXXXXX")
PIDS=()

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid" 5
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites (idempotent, quiet).

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    log "installing wrk"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
    if ! as_root "${apt[@]}" >"$WORK/apt.log" 2>&1; then
        as_root apt-get update -qq >>"$WORK/apt.log" 2>&1 || true
        if ! as_root "${apt[@]}" >>"$WORK/apt.log" 2>&1; then
            cat "$WORK/apt.log" >&2
            die "cannot install wrk (apt-get install -y wrk failed)"
        fi
    fi
    command -v wrk >/dev/null 2>&1 || die "wrk still not on PATH after install"
}

ensure_moto() {
    command -v python3 >/dev/null 2>&1 || die "python3 is required"
    python3 -c 'import moto.server' 2>/dev/null && return 0
    log "installing moto[server]"
    if ! python3 -m pip install -q 'moto[server]' >"$WORK/pip.log" 2>&1; then
        cat "$WORK/pip.log" >&2
        die "cannot install moto[server]"
    fi
    python3 -c 'import moto.server' || die "moto.server still not importable after install"
}

ensure_wrk
ensure_moto
BIN=$(reference_binary) || die "no reference-server binary to benchmark"
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)

# ---------------------------------------------------------------------------------------------
# Helpers written into the temp dir.

cat >"$WORK/helper.py" <<'PY'
"""HTTP helpers for ci/bench-api.sh: readiness, cold start, set-up. Loopback only."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TARGET_PREFIX = "Route53AutoNaming_v20170314."
HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Date": "20260101T000000Z",
    # moto routes by the credential scope's service name; reference-server ignores signatures.
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/servicediscovery/"
    "aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000",
}

def fail(msg):
    print(f"bench-api: error: {msg}", file=sys.stderr)
    sys.exit(1)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def get_status(port, path, timeout=1.0):
    """Status code of GET path on 127.0.0.1:port, or None if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Connection: close\r\n\r\n".encode())
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            parts = buf.split(b" ", 2)
            return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    except OSError:
        return None

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of the shell still answers kill -0; look at /proc when we can.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True

def cmd_wait(port, path, pid, timeout):
    port, pid, deadline = int(port), int(pid), time.monotonic() + float(timeout)
    while True:
        if get_status(port, path) == 200:
            return
        if not alive(pid):
            fail(f"process {pid} exited before 127.0.0.1:{port}{path} answered 200")
        if time.monotonic() > deadline:
            fail(f"127.0.0.1:{port}{path} did not answer 200 within {timeout}s")
        time.sleep(0.01)

def cmd_cold(binary, runs, workdir):
    results = []
    for i in range(int(runs)):
        port = free_port()
        data_dir = tempfile.mkdtemp(prefix=f"cold{i}-", dir=workdir)
        log_path = os.path.join(workdir, f"cold{i}.log")
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [binary, "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "--log", "warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                deadline = t0 + 30
                while True:
                    if get_status(port, "/health", timeout=0.5) == 200:
                        ms = (time.perf_counter() - t0) * 1000
                        break
                    if proc.poll() is not None:
                        with open(log_path, "rb") as f:
                            sys.stderr.write(f.read().decode(errors="replace"))
                        fail(f"cold start {i}: server exited with {proc.returncode} before /health was 200")
                    if time.perf_counter() > deadline:
                        fail(f"cold start {i}: /health not 200 within 30 s")
                    time.sleep(0.0005)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        results.append(ms)
    print(" ".join(f"{ms:.1f}" for ms in results))

def call(base, op, body):
    req = urllib.request.Request(base + "/", data=json.dumps(body).encode(), method="POST",
                                 headers={**HEADERS, "X-Amz-Target": TARGET_PREFIX + op})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")

def must(base, op, body):
    status, text = call(base, op, body)
    if status != 200:
        fail(f"{base} {op} {json.dumps(body)} -> HTTP {status}: {text[:500]}")
    try:
        return json.loads(text) if text else {}
    except ValueError:
        fail(f"{base} {op} -> 200 but not JSON: {text[:500]}")

def poll(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)

def wait_operation(base, op_id):
    def check():
        op = must(base, "GetOperation", {"OperationId": op_id})["Operation"]
        if op["Status"] == "SUCCESS":
            return op
        if op["Status"] == "FAIL":
            fail(f"{base} operation {op_id} failed: {op}")
        return None
    return poll(f"operation {op_id}", check)

def cmd_setup(base, n_disc):
    n_disc = int(n_disc)
    op_id = must(base, "CreatePrivateDnsNamespace",
                 {"Name": "bench.local", "Vpc": "vpc-1"})["OperationId"]
    wait_operation(base, op_id)

    def find_ns():
        for ns in must(base, "ListNamespaces", {}).get("Namespaces", []):
            if ns["Name"] == "bench.local":
                return ns["Id"]
        return None
    ns_id = poll("namespace bench.local in ListNamespaces", find_ns)

    dns = {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 60}]}
    ids = {}
    for name in ("bench", "disc"):
        ids[name] = must(base, "CreateService",
                         {"Name": name, "NamespaceId": ns_id, "DnsConfig": dns})["Service"]["Id"]

    for i in range(1, n_disc + 1):
        op_id = must(base, "RegisterInstance",
                     {"ServiceId": ids["disc"], "InstanceId": f"i-disc-{i}",
                      "Attributes": {"AWS_INSTANCE_IPV4": f"10.1.0.{i}"}})["OperationId"]
        wait_operation(base, op_id)

    discover = {"NamespaceName": "bench.local", "ServiceName": "disc", "HealthStatus": "ALL"}

    def visible():
        n = len(must(base, "DiscoverInstances", discover).get("Instances", []))
        return n if n == n_disc else None
    poll(f"{n_disc} instances visible to DiscoverInstances", visible)

    # Sanity: the exact request shape the RegisterInstance load uses answers 200.
    must(base, "RegisterInstance", {"ServiceId": ids["bench"], "InstanceId": "i-sanity-0",
                                    "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1"}})
    print(ids["bench"])

def cmd_free_port():
    print(free_port())

if __name__ == "__main__":
    cmds = {"wait": cmd_wait, "cold": cmd_cold, "setup": cmd_setup, "free-port": cmd_free_port}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail(f"usage: helper.py {{{','.join(cmds)}}} ARGS…")
    cmds[sys.argv[1]](*sys.argv[2:])
PY

# wrk scripts: shared headers and a machine-readable summary line, then the per-operation part.
cat >"$WORK/common.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Date"] = "20260101T000000Z"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/servicediscovery/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
LUA

cat "$WORK/common.lua" - >"$WORK/register.lua" <<'LUA'
wrk.headers["X-Amz-Target"] = "Route53AutoNaming_v20170314.RegisterInstance"

-- Each thread gets a distinct number; ids are i-<run tag>-t<thread>-<counter>, unique per request.
local threads_started = 0
function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_no", threads_started)
end

function init(args)
  service_id = os.getenv("BENCH_SERVICE_ID")
  prefix = string.format("i-%s-t%d-", os.getenv("BENCH_RUN_TAG"), thread_no)
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"ServiceId":"%s","InstanceId":"%s%d","Attributes":{"AWS_INSTANCE_IPV4":"10.%d.%d.%d"}}',
    service_id, prefix, counter, thread_no % 256, math.floor(counter / 256) % 256, counter % 256)
  return wrk.format(nil, nil, nil, body)
end
LUA

cat "$WORK/common.lua" - >"$WORK/discover.lua" <<'LUA'
wrk.headers["X-Amz-Target"] = "Route53AutoNaming_v20170314.DiscoverInstances"
wrk.body = '{"NamespaceName":"bench.local","ServiceName":"disc","HealthStatus":"ALL"}'
LUA

helper() { python3 "$WORK/helper.py" "$@"; }

# ---------------------------------------------------------------------------------------------
# Cold start.

log "cold start: $COLD_RUNS runs of $BIN (fresh --data-dir each)"
mkdir -p "$WORK/cold"
read -r -a COLD <<<"$(helper cold "$BIN" "$COLD_RUNS" "$WORK/cold")"
[[ ${#COLD[@]} -eq $COLD_RUNS ]] || die "cold start measurement failed"
read -r COLD_MEDIAN COLD_MAX < <(printf '%s\n' "${COLD[@]}" | sort -g | awk '
    { v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f\n", m, v[NR] }')

# ---------------------------------------------------------------------------------------------
# Servers.

OURS_PORT=$(helper free-port)
MOTO_PORT=$(helper free-port)
while [[ $MOTO_PORT == "$OURS_PORT" ]]; do MOTO_PORT=$(helper free-port); done
mkdir -p "$WORK/data"

log "starting reference-server on 127.0.0.1:$OURS_PORT (--data-dir, durable)"
"$BIN" --listen "127.0.0.1:$OURS_PORT" --data-dir "$WORK/data" --log warn \
    </dev/null >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")

log "starting moto_server on 127.0.0.1:$MOTO_PORT"
python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" </dev/null >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
PIDS+=("$MOTO_PID")

if ! helper wait "$OURS_PORT" /health "$OURS_PID" 30; then
    tail -n 50 "$WORK/ours.log" >&2
    die "reference-server did not become ready"
fi
if ! helper wait "$MOTO_PORT" /moto-api/ "$MOTO_PID" 60; then
    tail -n 50 "$WORK/moto.log" >&2
    die "moto_server did not become ready"
fi

declare -A URL=([ours]="http://127.0.0.1:$OURS_PORT" [moto]="http://127.0.0.1:$MOTO_PORT")
declare -A SERVICE
for target in ours moto; do
    log "set-up on $target: namespace bench.local, services bench + disc, $DISC_INSTANCES instances"
    SERVICE[$target]=$(helper setup "${URL[$target]}" "$DISC_INSTANCES") || die "set-up on $target failed"
done

# ---------------------------------------------------------------------------------------------
# Load.

declare -A RPS P50 P99 FAILED
BROKEN=0
OPS=(RegisterInstance DiscoverInstances)
CONCS=(1 16)

run_wrk() {
    local target=$1 op=$2 conc=$3 script threads=1 out line
    case $op in
    RegisterInstance) script=$WORK/register.lua ;;
    DiscoverInstances) script=$WORK/discover.lua ;;
    esac
    ((conc > 1)) && threads=2
    out=$WORK/wrk-$target-$op-c$conc.txt
    log "wrk $target $op -t$threads -c$conc -d$DURATION"
    if ! BENCH_SERVICE_ID=${SERVICE[$target]} BENCH_RUN_TAG="$target-c$conc" \
        wrk "-t$threads" "-c$conc" "-d$DURATION" --latency -s "$script" "${URL[$target]}/" >"$out" 2>&1; then
        cat "$out" >&2
        printf 'RUN FAILED: %s %s c%s: wrk exited non-zero\n' "$target" "$op" "$conc"
        FAILED[$target|$op|$conc]=1
        BROKEN=1
        return 0
    fi
    line=$(grep '^BENCH ' "$out" | tail -n 1) || true
    if [[ -z $line ]]; then
        cat "$out" >&2
        printf 'RUN FAILED: %s %s c%s: no summary from wrk\n' "$target" "$op" "$conc"
        FAILED[$target|$op|$conc]=1
        BROKEN=1
        return 0
    fi
    local key="$target|$op|$conc" kv
    declare -A f=()
    for kv in ${line#BENCH }; do f[${kv%%=*}]=${kv#*=}; done
    RPS[$key]=$(awk -v r="${f[requests]}" -v d="${f[duration_us]}" 'BEGIN { printf "%.1f", r / (d / 1e6) }')
    P50[$key]=$(awk -v v="${f[p50_us]}" 'BEGIN { printf "%.3f", v / 1000 }')
    P99[$key]=$(awk -v v="${f[p99_us]}" 'BEGIN { printf "%.3f", v / 1000 }')
    local errors=$((f[connect] + f[read] + f[write] + f[status] + f[timeout]))
    if ((errors > 0 || f[requests] == 0)); then
        sed -n '/^Running/,/^BENCH/p' "$out" >&2
        printf 'RUN FAILED: %s %s c%s: requests=%s non-2xx=%s socket errors connect=%s read=%s write=%s timeout=%s\n' \
            "$target" "$op" "$conc" "${f[requests]}" "${f[status]}" "${f[connect]}" "${f[read]}" "${f[write]}" "${f[timeout]}"
        FAILED[$key]=1
        BROKEN=1
    fi
}

for target in ours moto; do
    # DiscoverInstances first, so the instances RegisterInstance piles up do not weigh on it.
    for op in DiscoverInstances RegisterInstance; do
        for conc in "${CONCS[@]}"; do
            run_wrk "$target" "$op" "$conc"
        done
    done
done

for pid in "$OURS_PID" "$MOTO_PID"; do
    kill -0 "$pid" 2>/dev/null || {
        printf 'SERVER DIED during the load (pid %s)\n' "$pid"
        BROKEN=1
    }
done

# ---------------------------------------------------------------------------------------------
# Report.

echo
echo "reference-server vs moto_server — DURATION=$DURATION, reference-server durable (--data-dir), moto $(python3 -c 'import moto; print(moto.__version__)'), wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'), $(nproc) CPUs"
echo "load average at start: $LOAD_AT_START, at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a) (other work on the machine skews the figures)"
echo
printf 'cold start (exec -> first 200 from /health), %s runs: median %s ms, max %s ms  [%s]\n' \
    "$COLD_RUNS" "$COLD_MEDIAN" "$COLD_MAX" "${COLD[*]}"
echo
printf '%-6s  %-18s  %4s  %12s  %9s  %9s  %s\n' target operation conc 'requests/s' 'p50 ms' 'p99 ms' status
for op in "${OPS[@]}"; do
    for conc in "${CONCS[@]}"; do
        for target in ours moto; do
            key="$target|$op|$conc"
            status=ok
            [[ -n ${FAILED[$key]:-} ]] && status=FAILED
            printf '%-6s  %-18s  %4s  %12s  %9s  %9s  %s\n' "$target" "$op" "$conc" \
                "${RPS[$key]:-n/a}" "${P50[$key]:-n/a}" "${P99[$key]:-n/a}" "$status"
        done
    done
done
echo

# shown VALUE UNIT: "VALUEUNIT", or a note when the value is missing because a run failed.
shown() { if [[ -n $1 ]]; then printf '%s%s' "$1" "$2"; else printf 'n/a (a run failed)'; fi; }

declare -A RATIO
for op in "${OPS[@]}"; do
    for conc in "${CONCS[@]}"; do
        ours=${RPS[ours|$op|$conc]:-}
        moto=${RPS[moto|$op|$conc]:-}
        if [[ -n $ours && -n $moto && -z ${FAILED[ours|$op|$conc]:-} && -z ${FAILED[moto|$op|$conc]:-} ]]; then
            RATIO[$op|$conc]=$(awk -v a="$ours" -v b="$moto" 'BEGIN { printf "%.1f", (b > 0) ? a / b : 0 }')
        fi
        printf 'throughput ratio ours/moto  %-18s c%-3s %s\n' "$op" "$conc" "$(shown "${RATIO[$op|$conc]:-}" x)"
    done
done
echo

verdict() { # verdict OK_FLAG TEXT
    if [[ $1 == 1 ]]; then printf 'TARGET MET:    %s\n' "$2"; else printf 'TARGET MISSED: %s\n' "$2"; fi
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

for op in "${OPS[@]}"; do
    for conc in "${CONCS[@]}"; do
        r=${RATIO[$op|$conc]:-}
        ok=0
        [[ -n $r ]] && ge "$r" "$MIN_RATIO" && ok=1
        verdict "$ok" "$op c$conc throughput ours/moto = $(shown "$r" x) (target >= ${MIN_RATIO}x)"
    done
done
for op in "${OPS[@]}"; do
    p=${P99[ours|$op|1]:-}
    [[ -n ${FAILED[ours|$op|1]:-} ]] && p=
    ok=0
    [[ -n $p ]] && le "$p" "$MAX_P99_C1_MS" && ok=1
    verdict "$ok" "$op c1 ours p99 = $(shown "$p" ' ms') (target <= ${MAX_P99_C1_MS} ms)"
done
ok=0
le "$COLD_MAX" "$MAX_COLD_MS" && ok=1
verdict "$ok" "cold start max = $COLD_MAX ms, median = $COLD_MEDIAN ms (target <= ${MAX_COLD_MS} ms)"

# Anything reference-server logged at --log warn is worth a look.
if [[ -s $WORK/ours.log ]]; then
    echo
    echo "reference-server logged $(wc -l <"$WORK/ours.log") line(s) at --log warn (last 20):"
    tail -n 20 "$WORK/ours.log"
fi

if ((BROKEN)); then
    echo
    echo "bench-api: some runs FAILED (see RUN FAILED lines above)" >&2
    exit 1
fi
