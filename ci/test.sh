#!/usr/bin/env bash
# Runs every check and test of the workspace, the way CI does: formatting, clippy with the
# workspace lints, then all tests (unit, integration, conformance). Ends with a summary line
# "N passed, N failed". Build output goes to $CARGO_TARGET_DIR (default /var/tmp/cloudmap-target,
# outside the clone, so reruns are warm).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
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

# A Docker engine and the locally built images (no registry is reachable here): the ECS tests and
# the example's scenarios run real containers.
step docker bash ci/docker.sh
step example-images bash examples/service-to-service-communication/build-images.sh
step example-images-nocgo env CGO=0 bash examples/service-to-service-communication/build-images.sh
# The resolver matrix (scenarios/examples/resolvers): C (glibc, musl), Node.js, Python and Java clients.
step resolver-images bash examples/service-to-service-communication/resolvers/build-images.sh

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings

log=$(mktemp)
conformance_log=$(mktemp)
# Killed CI runs must not leave logs behind (ci/compat.sh stops the peers it starts).
trap 'rm -f "$log" "$conformance_log" "${docker_log:-}"' EXIT
trap 'exit 143' TERM INT
# --no-fail-fast: every test binary runs and is counted, even after one has failed.
echo "==> tests: cargo test --workspace --locked --no-fail-fast"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
[ "$test_status" -eq 0 ] || failed_steps+=("tests")

# The tests that run containers are #[ignore]d (so that a machine without Docker reports them as
# not run); here the engine is up, so they run. Their results replace their "ignored" above.
echo "==> docker tests: cargo test -p reference-server --test it -- --ignored"
docker_log=$(mktemp)
cargo test --locked -p reference-server --test it --no-fail-fast -- --ignored \
  --skip ecs_tasks_run_as_pods_registered_with_their_pod_ips 2>&1 | tee "$docker_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed_steps+=("docker-tests")
cat "$docker_log" >>"$log"

# The Kubernetes runtime against a live cluster, when there is one (there is none on the machines
# this project is built on: no k3s image or binary can be obtained there).
if [ -n "${KUBECONFIG:-}" ]; then
  echo "==> kubernetes: cargo test -p reference-server --test it kubernetes -- --ignored"
  cargo test --locked -p reference-server --test it kubernetes -- --ignored 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed_steps+=("kubernetes")
else
  echo "==> kubernetes: SKIPPED the live Kubernetes tests: KUBECONFIG is not set (no cluster here)"
fi

# The conformance suite through the `conformance run` entry point against the reference server,
# against two independent implementations (ci/compat.sh: moto_server, and fakecloud when its binary
# is already built — its build takes ~30 min, too long for a CI run), and against reference-strict
# and k3s; the matrix is the report users read.
report_dir="${CONFORMANCE_REPORT_DIR:-$CARGO_TARGET_DIR/conformance-report}"
export CONFORMANCE_REPORT_DIR=$report_dir
rm -rf "$report_dir"
mkdir -p "$report_dir"
echo "==> conformance: reference, moto_server, fakecloud, reference-strict and k3s"
# The reference run repeats the scenarios cargo test already counted: it is here for the report.
cargo run --quiet --locked -p conformance -- run --target reference --report "$report_dir" || failed_steps+=("conformance-reference")
bash ci/compat.sh moto 2>&1 | tee -a "$conformance_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed_steps+=("conformance-moto")
reports=("$report_dir/reference.json" "$report_dir/reference-strict.json" "$report_dir/moto.json")
bash ci/compat.sh fakecloud 2>&1 | tee -a "$conformance_log"
case "${PIPESTATUS[0]}" in
  0) reports+=("$report_dir/fakecloud.json") ;;
  3) ;; # "skipped: fakecloud not installed", printed by compat.sh
  *) failed_steps+=("conformance-fakecloud") ;;
esac
# The reference server with AWS's rules and timing (--strict, operation and custom-health delays)
# runs the scenarios that need them; counted, like moto's.
cargo run --quiet --locked -p conformance -- run --target reference-strict --report "$report_dir" 2>&1 | tee -a "$conformance_log" || failed_steps+=("conformance-reference-strict")
# The k3s target runs where a rancher/k3s image is on the Docker engine; elsewhere it reports every
# scenario skipped, with the reason, in its own column of the matrix.
cargo run --quiet --locked -p conformance -- run --target k3s --report "$report_dir" 2>&1 | tee -a "$conformance_log" || failed_steps+=("conformance-k3s")
reports+=("$report_dir/k3s.json")
cargo run --quiet --locked -p conformance -- matrix "${reports[@]}" --out "$report_dir/matrix.md" \
  && echo "conformance matrix: $report_dir/matrix.md" || failed_steps+=("conformance-matrix")

# The suite twice against one long-running default-flag server holding a bystander: both runs
# green, and afterwards only the bystander is left. Its cargo test results count like the others.
echo "==> endpoint-twice: bash ci/endpoint-twice.sh"
bash ci/endpoint-twice.sh 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed_steps+=("endpoint-twice")

# The README followed from top to bottom (its shell blocks, against the server started as it says);
# its blocks count like tests.
echo "==> readme: bash ci/readme-test.sh"
bash ci/readme-test.sh 2>&1 | tee -a "$conformance_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed_steps+=("readme")

passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
ignored=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) ignored.*/\1/' | awk '{s+=$1} END {print s+0}')
# The Docker tests ran in their own pass: not skipped.
ran=$(grep -E '^test result:' "$docker_log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' | awk '{s+=$1+$2} END {print s+0}')
ignored=$((ignored - ran))
# moto's, fakecloud's, reference-strict's and k3s's scenario verdicts count too, and the README's
# blocks.
while read -r p f s; do
  passed=$((passed + p)); failed=$((failed + f)); ignored=$((ignored + s))
done < <(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$conformance_log" | sed -E 's/([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')

echo
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "FAILED steps: ${failed_steps[*]}"
  # A failed step with no failed test (fmt, clippy, a conformance run) still counts.
  [ "$failed" -eq 0 ] && failed=${#failed_steps[@]}
fi
echo "${passed} passed, ${failed} failed, ${ignored} skipped"
[ ${#failed_steps[@]} -eq 0 ]
