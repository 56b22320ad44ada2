# shellcheck shell=bash disable=SC2034
# bench_lib.sh: sourced by the bench scripts that take [BUILD_DIR]
# [--rounds R] and time `wiggly` with GNU time (analysis_bench.sh,
# formats_bench.sh). After `bench_setup "$@"`: build, rounds (default 3),
# W (the binary), d (a temporary folder, removed on exit).

bench_setup() {
    build=build rounds=3
    while [ $# -gt 0 ]; do
        case $1 in
        --rounds) rounds=$2; shift 2 ;;
        *) build=$1; shift ;;
        esac
    done
    W=$PWD/$build/cli/wiggly
    d=$(mktemp -d)
    trap 'rm -rf "$d"' EXIT
}

# Prints "cpu_seconds peak_kib" of one command (user + sys, %M).
measure() {
    /usr/bin/time -f "%U %S %M" -o "$d/time" "$@" >/dev/null 2>"$d/err" || { cat "$d/err" >&2; exit 1; }
    awk '{printf "%.3f %d\n", $1 + $2, $3}' "$d/time"
}

# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# Prints the largest RssAnon (KiB) seen while the command ran, sampled every
# 10 ms from /proc/PID/status: the process's private memory, without the
# shared libraries' file pages that dominate its peak RSS (%M). A sample,
# so it can miss a short peak; for a streaming track it sees the plateau.
peak_anon() {
    "$@" >/dev/null 2>"$d/err" &
    local pid=$! max=0 v
    while v=$(awk '/^RssAnon:/ {print $2}' /proc/$pid/status 2>/dev/null) && [ -n "$v" ]; do
        [ "$v" -gt "$max" ] && max=$v
        sleep 0.01
    done
    wait "$pid" || { cat "$d/err" >&2; exit 1; }
    echo "$max"
}
