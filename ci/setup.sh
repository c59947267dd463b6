#!/usr/bin/env bash
# Installs what the tests need on a fresh machine (Debian 12, root). Idempotent: each step checks
# first. Used by ci/test.sh; run it alone to prepare a development machine.
set -euo pipefail

LOG_PREFIX=setup
# shellcheck source=ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"



# Debian's system Python refuses pip installs (PEP 668); this machine's own tools go there on
# purpose. (A pyenv Python ignores the setting.)
export PIP_BREAK_SYSTEM_PACKAGES=1

# The real aws CLI drives the seed document's commands in the tests.
if ! command -v aws >/dev/null 2>&1; then
  log "installing the aws CLI (v1, from PyPI)"
  python3 -m pip install --quiet awscli
fi

# The moto reference target of the benchmark and the conformance suite.
if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
  log "installing moto[server]"
  python3 -m pip install --quiet 'moto[server]'
fi

# dig, for DNS checks; curl, to wait for moto_server.
command -v dig >/dev/null 2>&1 || apt_install dnsutils
command -v curl >/dev/null 2>&1 || apt_install curl

if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for component in clippy rustfmt; do
    grep -q "^$component" <<<"$installed" || rustup component add "$component"
  done
fi
log "ready"
