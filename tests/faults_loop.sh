#!/usr/bin/env bash
# Runs the fault suite (ctest label "faults") N times in a row and stops at
# the first failure: the check that a flake such as the faults_crash stall of
# issue 11 is gone. Run by hand; CI runs the suite once per build.
#   tests/faults_loop.sh [N] [BUILD_DIR]      (default 20 build)
#   tests/faults_loop.sh 20 build-asan        (after scripts/build.sh --sanitize)
# Prints one line per round (seconds, and the kill seed faults_crash used)
# and a final count. Logs of a failed round stay in BUILD_DIR/faults-loop/.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
dir=${2:-build}
case $n in '' | *[!0-9]*) echo "usage: tests/faults_loop.sh [N] [BUILD_DIR]" >&2; exit 2 ;; esac
[ -d "$dir" ] || { echo "faults_loop: no build directory $dir (scripts/build.sh first)" >&2; exit 2; }
mkdir -p "$dir/faults-loop"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
t_all=$(date +%s)
for i in $(seq 1 "$n"); do
    log="$dir/faults-loop/round-$i.log"
    t0=$(date +%s)
    if ctest --test-dir "$dir" -L faults -V --timeout 900 -j2 >"$log" 2>&1; then
        passed=$((passed + 1))
        seed=$(grep -o 'kill seed [0-9]*' "$log" | head -1)
        echo "round $i/$n: passed in $(($(date +%s) - t0)) s (${seed:-no seed printed})"
        rm -f "$log"
    else
        echo "round $i/$n: FAILED after $(($(date +%s) - t0)) s; log: $log"
        echo "faults_loop: $passed of $n rounds passed in a row in $dir ($(($(date +%s) - t_all)) s)"
        exit 1
    fi
done
echo "faults_loop: $passed of $n rounds passed in a row in $dir ($(($(date +%s) - t_all)) s)"
