#!/usr/bin/env bash
# What a `wiggly run` costs while its only track waits in a transform
# (docs/benchmarks.md "Transform benchmark", the wake-ups): one generated
# 1-second track, a transform that sleeps 6 s on it (bench/tf_bench.py serve
# sleep 6), and over 4 s of that wait the CPU time and the voluntary context
# switches of all of wiggly's threads, from /proc/PID/task/*. Prints
# figures, never fails on time.   bench/transform_idle.sh [BUILD_DIR] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/bench_lib.sh
. bench/bench_lib.sh
bench_setup "$@"
root=$PWD py=/usr/bin/python3
mkdir -p "$d/in" "$d/tmp"
"$W" gen "$d/in/idle.flac" --seconds 1 --signal music >/dev/null
echo idle >"$d/ids.txt"
cat >"$d/job.json" <<J
{"job": "idle", "events": {"file": "$d/ids.txt"},
 "input": {"location": "file://$d/in/", "suffix": ".flac"},
 "output": {"location": "file://$d/out/", "suffix": ".flac", "audio": true},
 "steps": {"channels": "mono", "rate": 16000, "quality": "high", "format": "flac", "bits": 16},
 "transform": {"command": ["$py", "$root/bench/tf_bench.py", "serve", "sleep", "6"],
   "workers": 1, "max_in_flight": 1, "startup_timeout_s": 60, "timeout_s": 600,
   "env": {"PYTHONPATH": "$root/sdk/python"}, "outputs": {"touch": ".touch.json"}},
 "runtime": {"workers": 2, "max_in_flight": 4, "temp_dir": "$d/tmp"}, "listen": ""}
J
# sum FIELD PID: CPU ns (schedstat) or voluntary context switches of all threads
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
switches() { awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}' /proc/"$1"/task/*/status 2>/dev/null; }
echo "transform idle bench: wiggly's threads while one track waits 6 s in a transform, $rounds rounds"
for r in $(seq "$rounds"); do
    rm -rf "$d/out"
    "$W" run -c "$d/job.json" --log-format json >"$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do grep -q 'ready in' "$d/log" && break; sleep 0.05; done
    sleep 1.5
    c0=$(cpu_ns "$pid") s0=$(switches "$pid")
    sleep 4
    c1=$(cpu_ns "$pid") s1=$(switches "$pid")
    wait "$pid" || { tail -n 20 "$d/log" >&2; exit 1; }
    printf '  round %d: %6.0f us CPU per second, %5.1f context switches per second\n' "$r" \
        "$(echo "$c0 $c1" | awk '{print ($2 - $1) / 4 / 1000}')" "$(echo "$s0 $s1" | awk '{print ($2 - $1) / 4}')"
done
