#!/usr/bin/env bash
# ci/docker.sh — makes sure a Docker engine is running and that the local base images exist, so that
# nothing is ever pulled from a container registry. Idempotent: each step checks first.
#
#   1. If `docker info` fails: installs docker.io (apt-get) when dockerd is missing, starts dockerd in
#      the background (log /var/log/cloudmap-dockerd.log, pid /var/run/cloudmap-dockerd.pid) and polls
#      `docker info` for up to DOCKERD_WAIT seconds; a storage driver failure is retried once with
#      --storage-driver=vfs.
#   2. $CLOUDMAP_BASE_IMAGE (default cloudmap-base/debian:bookworm): debootstrap --variant=minbase
#      bookworm from the host's Debian mirror, `docker import`ed as cloudmap-base/debian-rootfs:bookworm,
#      with the apt sources and dpkg/apt settings of the slim image; then a `docker build` FROM it
#      installs ca-certificates and wget and cleans the apt lists. It stands in for
#      `debian:bookworm-slim` plus the RUN line of the docs' Dockerfile.
#   3. $CLOUDMAP_BUILDER_IMAGE (default cloudmap-base/golang:bookworm): FROM the base, golang-1.19-go,
#      gcc and libc6-dev, with /usr/lib/go-1.19/bin on PATH. It stands in for `golang:1.25-bookworm`.
#
# Usage:  ci/docker.sh [--engine-only]     (--engine-only: step 1 alone)
# Env:    CLOUDMAP_BASE_IMAGE, CLOUDMAP_BUILDER_IMAGE   the image names above
#         DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR        default: read from the host's apt sources
#         DOCKERD_WAIT=60                              seconds to wait for a dockerd we start
#         CLOUDMAP_DOCKERD_LOG, CLOUDMAP_DOCKERD_PIDFILE  default /var/log/cloudmap-dockerd.log,
#                                                      /var/run/cloudmap-dockerd.pid
# Needs:  root (apt-get, dockerd, debootstrap) for whatever is missing.
set -euo pipefail

LOG_PREFIX=docker
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


BASE_IMAGE=${CLOUDMAP_BASE_IMAGE:-cloudmap-base/debian:bookworm}
BUILDER_IMAGE=${CLOUDMAP_BUILDER_IMAGE:-cloudmap-base/golang:bookworm}
ROOTFS_IMAGE=cloudmap-base/debian-rootfs:bookworm
DOCKERD_LOG=${CLOUDMAP_DOCKERD_LOG:-/var/log/cloudmap-dockerd.log}
DOCKERD_PIDFILE=${CLOUDMAP_DOCKERD_PIDFILE:-/var/run/cloudmap-dockerd.pid}
DOCKERD_WAIT=${DOCKERD_WAIT:-60}
SUITE=bookworm
# The classic builder resolves FROM against the local image store only (it pulls only what is
# missing); BuildKit is not installed everywhere and is not needed here.
export DOCKER_BUILDKIT=0


# --- 1. the engine -----------------------------------------------------------------------------

docker_ready() { docker info >/dev/null 2>&1; }

# Polls `docker info` until it answers, the dockerd with pid $1 exits, or DOCKERD_WAIT runs out.
wait_for_dockerd() {
  local pid=$1 deadline=$((SECONDS + DOCKERD_WAIT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    docker_ready && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  docker_ready
}

# Whether pid $1 is a running dockerd (a pid file can outlive its process, and pids are reused).
is_dockerd() {
  local argv0
  [ -r "/proc/$1/cmdline" ] || return 1
  argv0=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -n 1)
  [ "${argv0##*/}" = dockerd ]
}

# Stops the dockerd with pid $1 (SIGTERM, then SIGKILL after 15 s).
stop_dockerd() {
  local pid=$1 deadline=$((SECONDS + 15))
  is_dockerd "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  return 0
}

# Starts dockerd with the given extra flags and waits for it; returns non-zero if it did not come up
# (and then stops the dockerd it started).
start_dockerd() {
  log "starting dockerd $* (log $DOCKERD_LOG)"
  printf '\n=== %s dockerd %s\n' "$(date -Is)" "$*" >>"$DOCKERD_LOG"
  nohup dockerd "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$DOCKERD_PIDFILE"
  if wait_for_dockerd "$pid"; then
    log "dockerd ready (pid $pid)"
    return 0
  fi
  stop_dockerd "$pid"
  rm -f "$DOCKERD_PIDFILE"
  return 1
}

ensure_engine() {
  if docker_ready; then
    log "engine: $(docker version --format 'client {{.Client.Version}}, server {{.Server.Version}}')," \
      "storage driver $(docker info --format '{{.Driver}}')"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || apt_install docker.io

  # A dockerd this script started earlier may still be starting up: wait for it instead of racing
  # it; if it never gets ready, stop it and start afresh.
  if [ -s "$DOCKERD_PIDFILE" ]; then
    local old_pid
    old_pid=$(cat "$DOCKERD_PIDFILE")
    if is_dockerd "$old_pid"; then
      log "waiting for the dockerd started earlier (pid $old_pid)"
      if wait_for_dockerd "$old_pid"; then
        log "dockerd ready (pid $old_pid)"
        return 0
      fi
      log "dockerd pid $old_pid did not become ready; stopping it"
      stop_dockerd "$old_pid"
    fi
    rm -f "$DOCKERD_PIDFILE"
  fi

  local log_start=0
  [ -f "$DOCKERD_LOG" ] && log_start=$(wc -l <"$DOCKERD_LOG")
  start_dockerd && return 0
  if tail -n "+$((log_start + 1))" "$DOCKERD_LOG" | grep -Eqi 'storage.driver|graphdriver|overlay|driver not supported'; then
    log "dockerd failed with a storage driver error; retrying with --storage-driver=vfs"
    log_start=$(wc -l <"$DOCKERD_LOG")
    start_dockerd --storage-driver=vfs && return 0
  fi
  log "dockerd did not become ready within ${DOCKERD_WAIT}s; the end of $DOCKERD_LOG:"
  tail -n "+$((log_start + 1))" "$DOCKERD_LOG" | tail -n 30 >&2
  exit 1
}

# --- 2. the Debian base ------------------------------------------------------------------------

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Prints the first URI of the host's apt sources (one-line *.list and deb822 *.sources) that serves
# the given suite, or nothing.
host_mirror_for() {
  local suite=$1 files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  local file
  for file in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] && files+=("$file")
  done
  [ ${#files[@]} -eq 0 ] && return 0
  awk -v want="$suite" '
    function flush() {
      if (is_deb && uris != "" && (" " suites " ") ~ (" " want " ")) { split(uris, u, " "); print u[1]; found = 1; exit }
      is_deb = 0; uris = ""; suites = ""
    }
    FNR == 1 { flush() }
    /^[[:space:]]*#/ { next }
    /^deb[[:space:]]/ {
      # One-line format: deb [options] uri suite components...
      line = $0; sub(/\[[^]]*\][[:space:]]*/, "", line); n = split(line, f, /[[:space:]]+/)
      if (n >= 3 && f[3] == want) { print f[2]; found = 1; exit }
      next
    }
    /^[[:space:]]*$/ { flush(); next }
    /^Types:/ { is_deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/) }
    /^URIs:/ { uris = $0; sub(/^URIs:[[:space:]]*/, "", uris) }
    /^Suites:/ { suites = $0; sub(/^Suites:[[:space:]]*/, "", suites) }
    END { if (!found) flush() }
  ' "${files[@]}"
}

ROOTFS_DIR=
cleanup_rootfs() {
  [ -n "$ROOTFS_DIR" ] && [ -d "$ROOTFS_DIR" ] || return 0
  # debootstrap mounts proc and sys (and may bind /dev) while it runs; an interrupted run can leave
  # them mounted, and rm must never walk into them.
  local mountpoint
  awk -v dir="$ROOTFS_DIR/" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r mountpoint; do
      umount -l "$mountpoint" 2>/dev/null || true
    done
  rm -rf --one-file-system "$ROOTFS_DIR"
  ROOTFS_DIR=
}
trap cleanup_rootfs EXIT

# Runs `docker build` with a Dockerfile read from stdin and no context; its output goes to a log that
# is shown only when the build fails.
docker_build_stdin() {
  local tag=$1 build_log
  shift
  build_log=$(mktemp /var/tmp/cloudmap-docker-build.XXXXXX)
  if ! docker build -t "$tag" "$@" - >"$build_log" 2>&1; then
    log "docker build $tag failed; the end of its output:"
    tail -n 40 "$build_log" >&2
    rm -f "$build_log"
    exit 1
  fi
  rm -f "$build_log"
}

# Gives the debootstrapped tree the apt sources and the dpkg/apt settings of debian:bookworm-slim.
configure_rootfs() {
  local root=$1 mirror=$2 security=$3
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  # What the dpkg excludes would have kept out, and what debootstrap leaves behind.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/var/log/apt/* "$root"/var/log/dpkg.log "$root"/var/log/bootstrap.log "$root"/var/cache/debconf/*-old
}

build_rootfs_image() {
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local mirror=${DEBIAN_MIRROR:-$(host_mirror_for "$SUITE")}
  mirror=${mirror:-http://deb.debian.org/debian}
  local security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror_for "$SUITE-security")}
  security=${security:-http://deb.debian.org/debian-security}
  local keyring_opt=()
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
    keyring_opt=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  ROOTFS_DIR=$(mktemp -d /var/tmp/cloudmap-debootstrap.XXXXXX)
  log "debootstrap --variant=minbase $SUITE from $mirror"
  local started=$SECONDS
  if ! debootstrap --variant=minbase "${keyring_opt[@]}" "$SUITE" "$ROOTFS_DIR" "$mirror" \
    >"$ROOTFS_DIR.log" 2>&1; then
    log "debootstrap failed; the end of its log:"
    tail -n 30 "$ROOTFS_DIR.log" >&2
    [ -f "$ROOTFS_DIR/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS_DIR/debootstrap/debootstrap.log" >&2
    rm -f "$ROOTFS_DIR.log"
    exit 1
  fi
  rm -f "$ROOTFS_DIR.log"
  log "debootstrap done in $((SECONDS - started))s"
  configure_rootfs "$ROOTFS_DIR" "$mirror" "$security"
  log "docker import -> $ROOTFS_IMAGE"
  tar --numeric-owner -C "$ROOTFS_DIR" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./tmp/*' --exclude='./run/*' \
    -c . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      - "$ROOTFS_IMAGE" >/dev/null
  cleanup_rootfs
}

build_base_image() {
  log "docker build $BASE_IMAGE (ca-certificates, wget)"
  docker_build_stdin "$BASE_IMAGE" <<EOF
FROM $ROOTFS_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y ca-certificates wget \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log
CMD ["bash"]
EOF
}

build_builder_image() {
  log "docker build $BUILDER_IMAGE (golang-1.19-go, gcc, libc6-dev)"
  docker_build_stdin "$BUILDER_IMAGE" <<EOF
FROM $BASE_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-1.19-go gcc libc6-dev \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt/* /var/log/dpkg.log
ENV GOPATH=/go PATH=/go/bin:/usr/lib/go-1.19/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
EOF
}

# --- main --------------------------------------------------------------------------------------

engine_only=0
case "${1:-}" in
  --engine-only) engine_only=1 ;;
  "") ;;
  *)
    echo "usage: $0 [--engine-only]" >&2
    exit 2
    ;;
esac

ensure_engine
[ "$engine_only" -eq 1 ] && exit 0

if image_exists "$BASE_IMAGE"; then
  log "$BASE_IMAGE exists"
else
  started=$SECONDS
  if image_exists "$ROOTFS_IMAGE"; then
    log "$ROOTFS_IMAGE exists; not running debootstrap"
  else
    build_rootfs_image
  fi
  build_base_image
  log "built $BASE_IMAGE in $((SECONDS - started))s"
fi

if image_exists "$BUILDER_IMAGE"; then
  log "$BUILDER_IMAGE exists"
else
  started=$SECONDS
  build_builder_image
  log "built $BUILDER_IMAGE in $((SECONDS - started))s"
fi

log "base image:    $BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
log "builder image: $BUILDER_IMAGE ($(docker image inspect -f '{{.Size}}' "$BUILDER_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
