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
