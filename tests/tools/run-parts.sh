#!/usr/bin/env bash
# Usage: tests/tools/run-parts.sh PART...
# Runs `make PART` for each part in order, timing each, and goes on after a failed part so that
# one run reports every failure; only a failed `bootstrap` stops the run, since every later part
# needs its venvs. Ends with one summary line per part and a count, and exits non-zero when any
# part failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAKE=${MAKE:-make}
declare -a lines=()
passed=0
failed=0

elapsed_since() {
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

run_start=$EPOCHREALTIME
for part in "$@"; do
    echo "=== [$part] start"
    start=$EPOCHREALTIME
    "$MAKE" --no-print-directory -C "$ROOT" "$part"
    rc=$?
    took=$(elapsed_since "$start")
    if [[ $rc -eq 0 ]]; then
        passed=$((passed + 1))
        lines+=("$(printf 'PASS  %-18s %8ss' "$part" "$took")")
        echo "=== [$part] passed in ${took}s"
    else
        failed=$((failed + 1))
        lines+=("$(printf 'FAIL  %-18s %8ss  (exit %d)' "$part" "$took" "$rc")")
        echo "=== [$part] FAILED in ${took}s (exit $rc)"
        if [[ $part == bootstrap ]]; then
            echo "=== bootstrap failed: the other parts need its venvs, stopping"
            break
        fi
    fi
done

echo
echo "=== summary ($(elapsed_since "$run_start")s in all)"
printf '%s\n' "${lines[@]}"
skipped=$(($# - passed - failed))
[[ $skipped -gt 0 ]] && echo "($skipped part(s) not run)"
echo "parts: $passed passed, $((failed + skipped)) failed"
[[ $failed -eq 0 && $skipped -eq 0 ]]
