#!/usr/bin/env bash
# Shared by the ci/ scripts (sourced): logging and idempotent Debian package installation.
# The sourcing script sets LOG_PREFIX (e.g. "setup") before sourcing.

log() { printf '[%s] %s\n' "${LOG_PREFIX:-ci}" "$*"; }

apt_updated=0
# Installs the Debian packages among "$@" that are not installed yet (apt-get update once).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Stops process $1 (a child of this shell): SIGTERM, then SIGKILL after ${2:-10} seconds.
stop_pid() {
  local pid=$1 i limit=$((${2:-10} * 20))
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < limit; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

POLICY_RC_CREATED=0
# Installs the Debian packages "$@" without letting their daemons start (nginx on port 80, nsd,
# knot …): a policy-rc.d exists only for the duration of the install, and an existing one is
# left alone. apt's output goes to $1's log file; on failure its tail is shown and this returns 1.
# A caller interrupted mid-install removes the policy-rc.d when POLICY_RC_CREATED is 1.
apt_install_no_daemons() {
  local apt_log=$1
  shift
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  log "apt-get install $*"
  local status=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } \
    >"$apt_log" 2>&1 || status=1
  if ((POLICY_RC_CREATED)); then
    rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=0
  fi
  if ((status)); then
    tail -n 30 "$apt_log" >&2
  fi
  return "$status"
}

# Prints the reference server binary to benchmark: $REFERENCE_SERVER_BIN, else
# $CARGO_TARGET_DIR/release/reference-server, built first when missing or when REBUILD=1.
reference_binary() {
  local bin=${REFERENCE_SERVER_BIN:-${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}/release/reference-server}
  if [[ -n ${REFERENCE_SERVER_BIN:-} ]]; then
    [[ -x $bin ]] || { echo "REFERENCE_SERVER_BIN=$bin is not executable" >&2; return 1; }
  elif [[ ! -x $bin || ${REBUILD:-0} == 1 ]]; then
    log "building reference-server (release, CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-})" >&2
    (cd "$(dirname "${BASH_SOURCE[0]}")/.." && cargo build --release --quiet --locked -p reference-server) >&2 ||
      return 1
    [[ -x $bin ]] || { echo "build finished but $bin does not exist" >&2; return 1; }
  fi
  printf '%s\n' "$bin"
}

# Prints a loopback port free for both TCP and UDP right now (ci/benchlib.py).
free_port() {
  python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import benchlib; print(benchlib.free_port())' \
    "$(dirname "${BASH_SOURCE[0]}")"
}

# Whether something listens on 127.0.0.1:$1 (TCP).
port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits until URL $1 answers 2xx, for at most $4 seconds, while process $2 lives; otherwise shows
# the tail of its log $3 and returns 1.
wait_http() {
  local url=$1 pid=$2 log_file=$3 deadline=$((SECONDS + $4))
  until curl -sf -o /dev/null "$url"; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      log "nothing answered at $url after $4 s (process $pid $(kill -0 "$pid" 2>/dev/null && echo running || echo exited)):"
      tail -n 20 "$log_file" >&2
      return 1
    fi
    sleep 0.1
  done
}

# Gives the calling script a scratch directory $WORK; at its exit the processes handed to
# stop_at_exit are stopped (SIGTERM, SIGKILL after 60 s) and $WORK is removed. TERM and INT end
# the script (143, 130).
use_scratch_dir() {
  WORK=$(mktemp -d)
  STOP_AT_EXIT=()
  trap 'for pid in "${STOP_AT_EXIT[@]}"; do stop_pid "$pid" 60; done; rm -rf "$WORK"' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}
stop_at_exit() { STOP_AT_EXIT+=("$1"); }
