#!/usr/bin/env bash
# build-images.sh — builds the example's images, backend-api:<tag> and frontend-web:<tag>, from
# backend/ and frontend/ with the docs' Dockerfile. Nothing is pulled unless you ask for it.
#
# It runs ../../ci/docker.sh first (starts a Docker engine if none runs, builds the local base images
# if missing; only the engine when both BUILDER_IMAGE and RUNTIME_IMAGE are set), then picks the
# base images:
#   builder: $BUILDER_IMAGE, else golang:1.25-bookworm if it is present locally,
#            else cloudmap-base/golang:bookworm (ci/docker.sh; $CLOUDMAP_BUILDER_IMAGE)
#   runtime: $RUNTIME_IMAGE, else debian:bookworm-slim if it is present locally,
#            else cloudmap-base/debian:bookworm (ci/docker.sh; $CLOUDMAP_BASE_IMAGE)
# With a registry at hand, use the docs' images (pulled by `docker build` if missing):
#   BUILDER_IMAGE=golang:1.25-bookworm RUNTIME_IMAGE=debian:bookworm-slim ./build-images.sh
#
# An image is rebuilt only when its build context changed: each image carries a label with a hash
# of its Dockerfile, main.go, go.mod, the base images' ids and CGO; --force rebuilds anyway.
#
# Usage:  ./build-images.sh [--force] [--nocgo]
# Env:    CGO=1        0 (or --nocgo): CGO_ENABLED=0, Go's pure resolver; default tag "nocgo"
#         IMAGE_TAG    default "latest" (CGO=1) or "nocgo" (CGO=0)
#         BUILDER_IMAGE, RUNTIME_IMAGE, CLOUDMAP_BUILDER_IMAGE, CLOUDMAP_BASE_IMAGE (see above)
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '[build-images] %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

force=0
CGO=${CGO:-1}
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --nocgo) CGO=0 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
done
case "$CGO" in
  1) IMAGE_TAG=${IMAGE_TAG:-latest} ;;
  0) IMAGE_TAG=${IMAGE_TAG:-nocgo} ;;
  *)
    log "CGO must be 0 or 1, not '$CGO'"
    exit 2
    ;;
esac

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

# The engine, and the local base images unless both base images are given.
if [ -n "${BUILDER_IMAGE:-}" ] && [ -n "${RUNTIME_IMAGE:-}" ]; then
  ../../ci/docker.sh --engine-only
else
  ../../ci/docker.sh
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
log "builder image $builder, runtime image $runtime, CGO_ENABLED=$CGO, tag $IMAGE_TAG"

# The hash of everything that goes into an image: its sources, its base images, its build args.
context_hash() {
  local dir=$1
  {
    (cd "$dir" && sha256sum Dockerfile main.go go.mod)
    echo "builder $builder $(image_id "$builder")"
    echo "runtime $runtime $(image_id "$runtime")"
    echo "cgo $CGO"
  } | sha256sum | cut -d' ' -f1
}

build_image() {
  local dir=$1 image=$2 hash previous started build_log
  hash=$(context_hash "$dir")
  previous=$(image_id "$image")
  if [ "$force" -eq 0 ] && [ "$previous" != absent ] &&
    [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image")" = "$hash" ]; then
    log "$image is up to date"
    return 0
  fi
  log "building $image from $dir/"
  started=$SECONDS
  build_log=$(mktemp)
  if ! docker build -t "$image" --label "$LABEL=$hash" \
    --build-arg "BUILDER_IMAGE=$builder" --build-arg "RUNTIME_IMAGE=$runtime" \
    --build-arg "CGO_ENABLED=$CGO" "$dir" >"$build_log" 2>&1; then
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

build_image backend "backend-api:$IMAGE_TAG"
build_image frontend "frontend-web:$IMAGE_TAG"

for image in "backend-api:$IMAGE_TAG" "frontend-web:$IMAGE_TAG"; do
  log "$image $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
done
