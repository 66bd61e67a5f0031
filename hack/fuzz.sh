#!/usr/bin/env bash
# fuzz.sh finds every Go fuzz target (func FuzzXxx(f *testing.F)) of the module
# and runs them one at a time, each for FUZZTIME, printing one line per target:
#
#   PASS  ./proxy/h1  FuzzParseResponse  60s  1097749 execs  corpus 72
#   FAIL  ./proxy/h1  FuzzChunkedBody    12s  88302 execs    testdata/fuzz/FuzzChunkedBody/f695a539c4cf2ccb
#
# then a summary line, and exits non-zero if any target failed (or none was
# found). A failing input is written by `go test` to the package's
# testdata/fuzz/<Target>/ directory: commit it once the bug is fixed, as a
# regression seed that plain `go test` runs. The full output of each run is
# kept in FUZZ_LOG_DIR.
#
# Targets are found with `go test -list '^Fuzz'` in every package whose test
# files declare one (a grep first, so that only those packages are compiled).
#
# Environment (all optional):
#   FUZZTIME=60s          -fuzztime per target (a duration, or Nx for N inputs)
#   FUZZ_PARALLEL=2       fuzzing workers per target (-parallel)
#   FUZZ_PKGS=./...       packages to search
#   FUZZ_MATCH=.          only targets whose "pkg Name" matches this regexp
#   FUZZ_TIMEOUT=20m      go test -timeout per target (a hung input fails)
#   FUZZ_LOG_DIR=_output/fuzz
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-60s}
PARALLEL=${FUZZ_PARALLEL:-2}
PKGS=${FUZZ_PKGS:-./...}
MATCH=${FUZZ_MATCH:-.}
TIMEOUT=${FUZZ_TIMEOUT:-20m}
LOGS=${FUZZ_LOG_DIR:-_output/fuzz}
mkdir -p "$LOGS"

# Packages (as ./relative/paths) whose test files declare a fuzz target.
mod=$(go list -m)
pkgs=()
while IFS=$'\t' read -r path dir; do
  if grep -lqE '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' "$dir"/*_test.go 2>/dev/null; then
    pkgs+=(".${path#"$mod"}")
  fi
done < <(go list -f '{{.ImportPath}}{{"\t"}}{{.Dir}}' $PKGS)

passed=0
failed=0
targets=()
for pkg in "${pkgs[@]}"; do
  # A package whose tests do not build counts as one failed target.
  if ! names=$(go test -list '^Fuzz' "$pkg" 2>&1); then
    echo "$names" >"$LOGS/$(echo "${pkg#./}" | tr / _)_list.log"
    printf 'FAIL  %-22s %-24s %4ss  %s\n' "$pkg" "(list)" 0 "tests do not build: $(echo "$names" | grep -m1 -vE '^(#|FAIL|ok)' || true)"
    failed=$((failed + 1))
    continue
  fi
  while read -r name; do
    if [[ $name == Fuzz* ]] && [[ "$pkg $name" =~ $MATCH ]]; then
      targets+=("$pkg $name")
    fi
  done <<<"$names"
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found in $PKGS matching $MATCH" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each, -parallel $PARALLEL (logs in $LOGS)"

for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  log="$LOGS/$(echo "${pkg#./}" | tr / _)_$name.log"
  start=$(date +%s)
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel "$PARALLEL" -timeout "$TIMEOUT" "$pkg" >"$log" 2>&1; then
    status=PASS
    passed=$((passed + 1))
  else
    status=FAIL
    failed=$((failed + 1))
  fi
  secs=$(($(date +%s) - start))
  # The fuzzer's last progress line: "fuzz: elapsed: 60s, execs: 1097749 (...), new interesting: 19 (total: 72)".
  execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | awk '{print $2}' || true)
  corpus=$(grep -oE 'total: [0-9]+' "$log" | tail -n 1 | awk '{print $2}' || true)
  detail="${execs:-0} execs  corpus ${corpus:-?}"
  if [ $status = FAIL ]; then
    crasher=$(grep -oE 'testdata/fuzz/[^ ]+' "$log" | head -n 1 || true)
    if [ -n "$crasher" ]; then
      detail="$detail  $pkg/$crasher"
    else
      detail="$detail  $(grep -m1 -E 'FAIL|panic|error' "$log" || echo "see $log")"
    fi
  fi
  printf '%s  %-22s %-24s %4ss  %s\n' "$status" "$pkg" "$name" "$secs" "$detail"
done

echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
