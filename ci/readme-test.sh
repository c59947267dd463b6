#!/usr/bin/env bash
# ci/readme-test.sh — follows README.md from top to bottom as a new user would. It starts the server
# the way "Set up" says (`cargo run --release -p reference-server`: default addresses 127.0.0.1:5373
# and :1053, the default data directory — under a fresh XDG_DATA_HOME, so the run starts empty),
# then runs every ```sh block of the README in order in one bash session (variables and `cd` carry
# over, as in one terminal), with `set -euo pipefail`. A block preceded by
# `<!-- readme-test: skip (reason) -->` is reported skipped with its reason. A command line ending
# in `# → TEXT` must print TEXT. After the first failing block the rest are not run (they build on
# it). Ends with "readme: N passed, N failed, N skipped" (blocks) and exits non-zero on a failure.
#
# Usage:  ci/readme-test.sh            (ci/test.sh runs it after the other tests)
# Env:    README_TEST_TIMEOUT=1200     seconds for everything, the release build included
# Needs:  the aws CLI, dig, curl, Docker and the example's images (ci/setup.sh, ci/docker.sh,
#         examples/service-to-service-communication/build-images.sh), ports 5373 and 1053 free.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
LOG_PREFIX=readme
# shellcheck source=ci/lib.sh
source ci/lib.sh

TIMEOUT=${README_TEST_TIMEOUT:-1200}
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for port in 5373 1053; do
  if port_taken "$port"; then
    echo "readme: port $port is taken; the README's server needs it"
    echo "readme: 0 passed, 1 failed, 0 skipped"
    exit 1
  fi
done

# The blocks, as one script with a marker after each.
python3 - README.md "$work/blocks.sh" "$work/plan.tsv" <<'PY'
import re, sys
readme, script_path, plan_path = sys.argv[1:4]
lines = open(readme, encoding="utf-8").read().split("\n")
blocks, skip, i = [], None, 0
while i < len(lines):
    line = lines[i]
    marker = re.match(r"<!-- readme-test: skip \((.*)\) -->", line)
    if marker:
        skip = marker.group(1)
    elif line.startswith("```sh"):
        start = i + 1
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        blocks.append((start, lines[start:i], skip))
        skip = None
    elif line.strip():
        skip = None
    i += 1
expect = re.compile(r"^(?P<command>.*\S)\s+# → (?P<text>.*)$")
with open(script_path, "w", encoding="utf-8") as script, open(plan_path, "w", encoding="utf-8") as plan:
    script.write("set -euo pipefail\n")
    for number, (start, body, skip) in enumerate(blocks, 1):
        plan.write(f"{number}\t{start}\t{skip or ''}\n")
        if skip:
            continue
        script.write(f"echo '::readme block {number} (README.md:{start})'\n")
        for line in body:
            match = expect.match(line)
            if match and not line.rstrip().endswith("\\"):
                command, text = match.group("command"), match.group("text")
                quoted = "'" + text.replace("'", "'\\''") + "'"
                script.write(
                    f"__out=$({command})\nprintf '%s\\n' \"$__out\"\n"
                    f"grep -qF -- {quoted} <<<\"$__out\" || "
                    f"{{ echo \"readme: README.md:{start}: expected output containing {text}\" >&2; false; }}\n"
                )
            else:
                script.write(line + "\n")
        script.write(f"echo '::readme ok {number}'\n")
PY

log "starting the server as the README says: cargo run --release -p reference-server"
export XDG_DATA_HOME="$work/data"
cargo run --quiet --release --locked -p reference-server >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + TIMEOUT))
if ! wait_http http://127.0.0.1:5373/health "$server_pid" "$work/server.log" "$TIMEOUT"; then
  echo "readme: the server was not ready (README_TEST_TIMEOUT=$TIMEOUT s, the build included)"
  echo "readme: 0 passed, 1 failed, 0 skipped"
  exit 1
fi

log "running the README's shell blocks"
timeout "$((deadline - SECONDS))" bash "$work/blocks.sh" 2>&1 | tee "$work/run.log"

passed=0 failed=0 skipped=0 broken=
while IFS=$'\t' read -r number line reason; do
  if [ -n "$reason" ]; then
    echo "readme: block $number (README.md:$line) SKIPPED: $reason"
    skipped=$((skipped + 1))
  elif grep -qx "::readme ok $number" "$work/run.log"; then
    echo "readme: block $number (README.md:$line) ok"
    passed=$((passed + 1))
  elif [ -z "$broken" ]; then
    echo "readme: block $number (README.md:$line) FAILED"
    failed=$((failed + 1))
    broken=$number
  else
    echo "readme: block $number (README.md:$line) FAILED: not run, block $broken failed"
    failed=$((failed + 1))
  fi
done <"$work/plan.tsv"

# The server the README started stops cleanly (SIGTERM) and leaves no container behind.
kill "$server_pid"
if ! wait "$server_pid"; then
  echo "readme: the server did not exit cleanly on SIGTERM:"
  tail -n 20 "$work/server.log"
  failed=$((failed + 1))
fi
server_pid=
# A run that judged no block (a broken script, a README without blocks) is a failure, not a pass.
if [ $((passed + failed + skipped)) -eq 0 ]; then
  echo "readme: no block of the README was run"
  failed=1
fi
echo "readme: $passed passed, $failed failed, $skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
