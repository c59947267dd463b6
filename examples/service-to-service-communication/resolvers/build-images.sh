#!/usr/bin/env bash
# build-images.sh — builds the resolver matrix's client images resolver-glibc, resolver-musl,
# resolver-node, resolver-python and resolver-java (tag $IMAGE_TAG, default "latest"), one target
# each of ./Dockerfile. Nothing is pulled unless you ask for it. (The Go rows of the matrix use the
# example's own frontend-web:latest and :nocgo, which ../build-images.sh builds.)
#
# It runs ../../../ci/docker.sh first (starts a Docker engine if none runs, builds the local base
# images if missing; only the engine when both BUILDER_IMAGE and RUNTIME_IMAGE are set), then picks
# the base images as ../build-images.sh does:
#   builder: $BUILDER_IMAGE, else golang:1.25-bookworm if it is present locally,
#            else cloudmap-base/golang:bookworm (ci/docker.sh; $CLOUDMAP_BUILDER_IMAGE)
#   runtime: $RUNTIME_IMAGE, else debian:bookworm-slim if it is present locally,
#            else cloudmap-base/debian:bookworm (ci/docker.sh; $CLOUDMAP_BASE_IMAGE)
# With a registry at hand:
#   BUILDER_IMAGE=golang:1.25-bookworm RUNTIME_IMAGE=debian:bookworm-slim ./build-images.sh
#
# An image is rebuilt only when its build context changed: each image carries a label with a hash
# of every file here, the base images' ids and its target; --force rebuilds anyway.
#
# Usage:  ./build-images.sh [--force] [TARGET...]     (default: glibc musl node python java)
# Env:    IMAGE_TAG, BUILDER_IMAGE, RUNTIME_IMAGE, CLOUDMAP_BUILDER_IMAGE, CLOUDMAP_BASE_IMAGE
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '[resolver-images] %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ALL_TARGETS=(glibc musl node python java)
force=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    glibc | musl | node | python | java) targets+=("$arg") ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${ALL_TARGETS[@]}")
IMAGE_TAG=${IMAGE_TAG:-latest}

# The classic builder resolves FROM in the local image store and pulls only what is missing.
export DOCKER_BUILDKIT=0
DOCS_BUILDER_IMAGE=golang:1.25-bookworm
DOCS_RUNTIME_IMAGE=debian:bookworm-slim
LOCAL_BUILDER_IMAGE=${CLOUDMAP_BUILDER_IMAGE:-cloudmap-base/golang:bookworm}
LOCAL_RUNTIME_IMAGE=${CLOUDMAP_BASE_IMAGE:-cloudmap-base/debian:bookworm}
LABEL=org.cloudmap-conformance.context-hash

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
# (The docker CLI prints an empty line for a missing image, so the exit status decides.)
image_id() {
  local id
  if id=$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null); then echo "$id"; else echo absent; fi
}

if [ -n "${BUILDER_IMAGE:-}" ] && [ -n "${RUNTIME_IMAGE:-}" ]; then
  ../../../ci/docker.sh --engine-only
else
  ../../../ci/docker.sh
fi
pick_image() {
  local override=$1 docs=$2 local_base=$3
  if [ -n "$override" ]; then
    echo "$override"
  elif image_exists "$docs"; then
    echo "$docs"
  else
    echo "$local_base"
  fi
}
builder=$(pick_image "${BUILDER_IMAGE:-}" "$DOCS_BUILDER_IMAGE" "$LOCAL_BUILDER_IMAGE")
runtime=$(pick_image "${RUNTIME_IMAGE:-}" "$DOCS_RUNTIME_IMAGE" "$LOCAL_RUNTIME_IMAGE")
log "builder image $builder, runtime image $runtime, tag $IMAGE_TAG"

# Every file of the context, the base images and the target: what goes into an image.
context_hash() {
  local target=$1
  {
    find . -type f ! -name build-images.sh ! -name README.md -print0 | sort -z | xargs -0 sha256sum
    echo "builder $builder $(image_id "$builder")"
    echo "runtime $runtime $(image_id "$runtime")"
    echo "target $target"
  } | sha256sum | cut -d' ' -f1
}

build_image() {
  local target=$1 image="resolver-$1:$IMAGE_TAG" hash previous started build_log
  hash=$(context_hash "$target")
  previous=$(image_id "$image")
  if [ "$force" -eq 0 ] && [ "$previous" != absent ] &&
    [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image")" = "$hash" ]; then
    log "$image is up to date"
    return 0
  fi
  log "building $image (target $target)"
  started=$SECONDS
  build_log=$(mktemp)
  if ! docker build --target "$target" -t "$image" --label "$LABEL=$hash" \
    --build-arg "BUILDER_IMAGE=$builder" --build-arg "RUNTIME_IMAGE=$runtime" . >"$build_log" 2>&1; then
    log "docker build $image failed; the end of its output:"
    tail -n 40 "$build_log" >&2
    rm -f "$build_log"
    exit 1
  fi
  rm -f "$build_log"
  log "built $image in $((SECONDS - started))s"
  # The image this one replaces is now untagged; remove it unless a container still uses it.
  if [ "$previous" != absent ] && [ "$previous" != "$(image_id "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
}

for target in "${targets[@]}"; do
  build_image "$target"
done
for target in "${targets[@]}"; do
  log "resolver-$target:$IMAGE_TAG $(docker image inspect -f '{{.Size}}' "resolver-$target:$IMAGE_TAG" | awk '{printf "%.1f MB", $1/1e6}')"
done
