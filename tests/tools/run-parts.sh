#!/usr/bin/env bash
# Usage: tests/tools/run-parts.sh PART...
# Runs `make PART` for each part in order, timing each, and goes on after a failed part so that
# one run reports every failure; only a failed `bootstrap` stops the run, since every later part
# needs its venvs. Ends with one summary line per part and a count, and exits non-zero when any
# part failed.
#
# A part written `PART&` starts in the background (its output goes to build/parts/PART.log) while
# the next parts run; where PART appears again, plain, the run waits for it there, prints its log
# and counts it with the time from its start. `lab-build&` right after bootstrap bakes a cold lab
# cache while lint and sanity run; with a warm cache it ends at once.
# A part written `PART&idle` starts in the background too, at the lowest CPU priority (nice 19),
# and the `&idle` parts run one at a time (in no set order): they use the CPU that the lab's
# VMs and the parts in the foreground leave idle (the unit tests, during the lab tests), so they
# add little to the run's length. Their time counts from their start (waiting for the lock
# included) to their end; the run says how far into it each background part ended.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAKE=${MAKE:-make}
declare -a lines=()
passed=0
failed=0

elapsed_since() {
    awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

declare -A bg_pid=() bg_start=()
LOGS="$ROOT/build/parts"

record() {  # record PART RC TOOK
    if [[ $2 -eq 0 ]]; then
        passed=$((passed + 1))
        lines+=("$(printf 'PASS  %-18s %8ss' "$1" "$3")")
        echo "=== [$1] passed in ${3}s"
    else
        failed=$((failed + 1))
        lines+=("$(printf 'FAIL  %-18s %8ss  (exit %d)' "$1" "$3" "$2")")
        echo "=== [$1] FAILED in ${3}s (exit $2)"
    fi
}

join() {  # join PART: wait for a background part, print its log, count it
    local rc=0
    echo "=== [$1] waiting for the background part"
    wait "${bg_pid[$1]}" || rc=$?
    cat "$LOGS/$1.log"
    local took
    if [[ -s $LOGS/$1.end ]]; then
        took=$(awk -v a="${bg_start[$1]}" -v b="$(cat "$LOGS/$1.end")" 'BEGIN { printf "%.1f", b - a }')
        echo "=== [$1] ended $(awk -v a="$run_start" -v b="$(cat "$LOGS/$1.end")" 'BEGIN { printf "%.0f", b - a }')s into the run"
    else
        took=$(elapsed_since "${bg_start[$1]}")
    fi
    record "$1" "$rc" "$took"
    unset "bg_pid[$1]"
}

# A background part still running when the run is cut short is stopped with it.
trap 'for pid in "${bg_pid[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done' EXIT

run_start=$EPOCHREALTIME
for part in "$@"; do
    if [[ $part == *'&' || $part == *'&idle' ]]; then
        mkdir -p "$LOGS"
        if [[ $part == *'&idle' ]]; then
            part=${part%'&idle'}
            echo "=== [$part] started in the background at idle priority, one idle part at a time (build/parts/$part.log)"
            launch=(nice -n 19 flock "$LOGS/.idle.lock")
        else
            part=${part%'&'}
            echo "=== [$part] started in the background (build/parts/$part.log)"
            launch=()
        fi
        bg_start[$part]=$EPOCHREALTIME
        rm -f "$LOGS/$part.end"
        # the part's end is written down, so that its time is its own, not the time until the run waits for it
        setsid bash -c 'end=$1; shift; "$@"; rc=$?; echo "$EPOCHREALTIME" >"$end"; exit "$rc"' _ "$LOGS/$part.end" \
            "${launch[@]}" "$MAKE" --no-print-directory -C "$ROOT" "$part" >"$LOGS/$part.log" 2>&1 </dev/null &
        bg_pid[$part]=$!
        continue
    fi
    if [[ -n ${bg_pid[$part]:-} ]]; then
        join "$part"
        continue
    fi
    echo "=== [$part] start"
    start=$EPOCHREALTIME
    "$MAKE" --no-print-directory -C "$ROOT" "$part"
    rc=$?
    record "$part" "$rc" "$(elapsed_since "$start")"
    if [[ $rc -ne 0 && $part == bootstrap ]]; then
        echo "=== bootstrap failed: the other parts need its venvs, stopping"
        break
    fi
done
for part in "${!bg_pid[@]}"; do
    join "$part"
done

echo
echo "=== summary ($(elapsed_since "$run_start")s in all)"
printf '%s\n' "${lines[@]}"
skipped=$(($(printf '%s\n' "$@" | sed 's/&\(idle\)\{0,1\}$//' | sort -u | wc -l) - passed - failed))
[[ $skipped -gt 0 ]] && echo "($skipped part(s) not run)"
echo "parts: $passed passed, $((failed + skipped)) failed"
[[ $failed -eq 0 && $skipped -eq 0 ]]
