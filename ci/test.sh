#!/usr/bin/env bash
# Runs every check and test of the workspace, the way CI does: formatting, clippy with the
# workspace lints, then all tests (unit, integration, conformance). Ends with a summary line
# "N passed, N failed". Build output goes to $CARGO_TARGET_DIR (default /var/tmp/cloudmap-target,
# outside the clone, so reruns are warm).
set -uo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cloudmap-target}"
export CARGO_TERM_COLOR=never
export INSTA_UPDATE=no

bash ci/setup.sh || { echo "ci/setup.sh failed"; exit 1; }

failed_steps=()
step() {
  local name=$1
  shift
  echo "==> $name: $*"
  if ! "$@"; then
    failed_steps+=("$name")
  fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "==> tests: cargo test --workspace --locked"
cargo test --workspace --locked 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
[ "$test_status" -eq 0 ] || failed_steps+=("tests")

passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
ignored=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) ignored.*/\1/' | awk '{s+=$1} END {print s+0}')

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "FAILED steps: ${failed_steps[*]}"
  [ "$failed" -eq 0 ] && [ "$test_status" -ne 0 ] && failed=1
fi
echo "${passed} passed, ${failed} failed, ${ignored} skipped"
[ ${#failed_steps[@]} -eq 0 ]
