#!/usr/bin/env bash
# Transform benchmark (issue 12, docs/benchmarks.md "Transform benchmark"):
# what the transform path (transform/, service/proc_transform.c) costs the
# wiggly process, measured next to its own baselines in the same run. Prints
# figures only, never fails on time.
#
#   bench/transform_bench.sh [N] [--rounds R] [--no-long]
#
# 1. Protocol overhead. N (default 20) copies of one generated 3.5-minute
#    44.1 kHz stereo FLAC ("music") go through local `wiggly run` batch jobs
#    (events.file of IDs, file:// locations under a temp dir, steps mono
#    16 kHz, 16 kHz mono FLAC written, runtime.workers 2):
#      audio     the job without a transform: the audio chain's own CPU
#      tf w1/w2  the same job plus the centroid example
#                (examples/transforms/centroid, NumPy, n_fft 2048, hop 512)
#                with transform.workers 1 and 2, output.audio on
#      null w1   the same with a transform that only reads one sample per
#                page: wiggly's side of the path without NumPy competing
#                for the cores
#      loop      the same process() in a plain Python loop over the .npy
#                files a copying transform got from the same job (so the
#                arrays are the ones the transform reads)
#    R rounds (default 4) run them in turn, in reverse order every other
#    round, and the figures are pooled, so a drift of the shared machine hits
#    them alike.
# 2. Host peak RSS with 4 tracks in flight (transform.workers 2,
#    max_in_flight 2) on 4 x 3.5-minute and 4 x 60-minute tracks, with a
#    transform that reads one sample per page of the mmap (--no-long skips
#    the 60-minute track: about a minute less).
#
# How wiggly's own CPU and memory are told apart from its children's:
# `wiggly run` is started under bench/own_usage (own_usage.c), which stops
# it in the kernel's exit path (ptrace, PTRACE_O_TRACEEXIT) before its memory
# is released and reads /proc/PID/stat (utime + stime of all its threads,
# and apart from them cutime + cstime: the transform children it reaped) and
# /proc/PID/status (VmHWM of wiggly alone). /usr/bin/time -v or wait4()
# would fold the children into both.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=20 rounds=4 long=1
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --no-long) long=0; shift ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) n=$1; shift ;;
    esac
done
case "$n$rounds" in *[!0-9]*|0*) echo "usage: $0 [N] [--rounds R] [--no-long]" >&2; exit 2 ;; esac

# Debian's python3 has python3-numpy (scripts/deps.sh); one earlier on PATH
# (pyenv, a venv) may not: the same choice as tests/transform_sdk.cmake.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "$0: $py has no NumPy (apt-get install python3-numpy)" >&2
    exit 1
fi

dir=build
cmake -S . -B "$dir" -DWIGGLY_WERROR=ON >/dev/null
cmake --build "$dir" -j2 --target wiggly own_usage >/dev/null
W=$root/$dir/cli/wiggly
OU=$root/$dir/bench/own_usage
helper=$root/bench/tf_bench.py

work=$(mktemp -d "${TMPDIR:-/tmp}/wiggly-tfbench-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$work/in" "$work/tmp" "$work/log"
records=$work/records.txt
: >"$records"

# job NAME IDS OUTDIR TRANSFORM_JSON -> prints the path of the job file.
# TRANSFORM_JSON is empty (a plain audio job) or the transform object.
job() {
    local name=$1 ids=$2 out=$3 tf=$4 f=$work/$1.json
    local audio='"suffix": ".flac"'
    [ -n "$tf" ] && tf="\"transform\": $tf," && audio='"suffix": ".flac", "audio": true'
    cat >"$f" <<EOF
{
  "job": "$name",
  "events": {"file": "$ids"},
  "input": {"location": "file://$work/in/", "suffix": ".flac"},
  "output": {"location": "file://$out/", $audio},
  "steps": {"channels": "mono", "rate": 16000, "quality": "high", "format": "flac", "bits": 16},
  $tf
  "runtime": {"workers": 2, "max_in_flight": 4, "temp_dir": "$work/tmp"},
  "listen": ""
}
EOF
    echo "$f"
}

# transform JSON: tf WORKERS MAX_IN_FLIGHT OUTPUTS ARGV...
tf() {
    local workers=$1 mif=$2 outputs=$3 argv="" a
    shift 3
    for a in "$@"; do argv+="${argv:+, }\"$a\""; done
    echo "{\"command\": [$argv], \"workers\": $workers, \"max_in_flight\": $mif," \
        "\"startup_timeout_s\": 60, \"timeout_s\": 600," \
        "\"env\": {\"PYTHONPATH\": \"$root/sdk/python\"}," \
        "\"params\": {\"n_fft\": 2048, \"hop\": 512}, \"outputs\": $outputs}"
}

# measure KIND ROUND TRACKS JOBFILE: one `wiggly run` under own_usage,
# appended to the records.
measure() {
    local kind=$1 round=$2 tracks=$3 cfg=$4 u=$work/usage.txt log=$work/log/$1-$2.log
    if ! "$OU" "$u" -- "$W" run -c "$cfg" --log-format json >"$log" 2>&1; then
        echo "$0: $kind (round $round) failed; the end of its log:" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    echo "kind=$kind round=$round tracks=$tracks $(cat "$u")" >>"$records"
}

ids() { # ids FILE PREFIX COUNT
    local i
    : >"$1"
    for i in $(seq 1 "$3"); do printf '%s%03d\n' "$2" "$i" >>"$1"; done
}

t0=$(date +%s)
"$W" gen "$work/src/short.flac" --seconds 210 --signal music >/dev/null
ids "$work/ids.txt" t "$n"
while read -r id; do ln "$work/src/short.flac" "$work/in/$id.flac"; done <"$work/ids.txt"

centroid=$(tf 1 1 '{"centroid": ".centroid.npy", "summary": ".summary.json"}' \
    "$py" "$root/examples/transforms/centroid/transform.py")
centroid2=$(tf 2 1 '{"centroid": ".centroid.npy", "summary": ".summary.json"}' \
    "$py" "$root/examples/transforms/centroid/transform.py")
# The same path with next to no work in the child: what wiggly's side costs
# when no NumPy runs beside the audio chain on the same cores.
null=$(tf 1 1 '{"touch": ".touch.json"}' "$py" "$helper" serve touch)

# The transform's input, kept: a transform that copies the .npy it gets.
measure copy 0 "$n" "$(job copy "$work/ids.txt" "$work/npy" \
    "$(tf 2 1 '{"audio": ".npy"}' "$py" "$helper" serve copy)")"
npys=()
while read -r id; do npys+=("$work/npy/$id.npy"); done <"$work/ids.txt"

loop() {
    mkdir -p "$work/out-loop"
    "$OU" "$work/usage.txt" -- "$py" "$helper" loop 16000 "$work/out-loop" "${npys[@]}" \
        >"$work/loop.txt"
    echo "kind=loop round=$1 tracks=$n $(cat "$work/usage.txt") $(cat "$work/loop.txt")" >>"$records"
}
for r in $(seq 1 "$rounds"); do
    order="audio tf1 tf2 null loop"
    [ $((r % 2)) = 0 ] && order="loop null tf2 tf1 audio" # a steady drift hits both sides alike
    for kind in $order; do
        case $kind in
        audio) measure audio "$r" "$n" "$(job audio "$work/ids.txt" "$work/out-audio" "")" ;;
        tf1) measure tf1 "$r" "$n" "$(job tf1 "$work/ids.txt" "$work/out-tf1" "$centroid")" ;;
        tf2) measure tf2 "$r" "$n" "$(job tf2 "$work/ids.txt" "$work/out-tf2" "$centroid2")" ;;
        null) measure null "$r" "$n" "$(job null "$work/ids.txt" "$work/out-null" "$null")" ;;
        loop) loop "$r" ;;
        esac
    done
    if [ "$r" = 1 ]; then # same input, same function: the same centroids
        "$py" - "$work/out-tf1/t001.centroid.npy" "$work/out-loop/t001.centroid.npy" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
if a.shape != b.shape or not np.array_equal(a, b):
    sys.exit("transform_bench: the transform's centroids differ from the loop's: %s %s" % (a.shape, b.shape))
EOF
    fi
    rm -rf "$work/out-audio" "$work/out-tf1" "$work/out-tf2" "$work/out-null" "$work/out-loop"
done
rm -rf "$work/npy"

# What wiggly spends while a child works and it has nothing else to do: one
# 1-second track, a transform that sleeps 6 s on it. The run's own CPU
# (10 ms ticks in /proc/PID/stat) is too coarse for this, so each thread's
# time on CPU (/proc/PID/task/TID/schedstat, ns) is read 1.5 s after the
# child said hello and again 4 s later, with what the thread waits in
# (wchan: poll = the transform supervisor, futex = a pool worker waiting for
# its reply, epoll = the event loop).
threads() { # threads PID: "TID NS WCHAN" per thread
    local t
    for t in /proc/"$1"/task/*; do
        echo "${t##*/} $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null)"
    done
}
"$W" gen "$work/in/idle.flac" --seconds 1 --signal music >/dev/null
echo idle >"$work/ids-idle.txt"
cfg=$(job idle "$work/ids-idle.txt" "$work/out-idle" \
    "$(tf 1 1 '{"touch": ".touch.json"}' "$py" "$helper" serve sleep 6)")
"$OU" "$work/usage.txt" -- "$W" run -c "$cfg" --log-format json >"$work/log/idle.log" 2>&1 &
ou=$!
for _ in $(seq 200); do grep -q 'ready in' "$work/log/idle.log" && break; sleep 0.05; done
sleep 1.5
wpid=$(pgrep -P "$ou" | head -n 1)
threads "$wpid" | sort >"$work/idle-a.txt"
sleep 4
threads "$wpid" | sort >"$work/idle-b.txt"
wait "$ou"
join "$work/idle-a.txt" "$work/idle-b.txt" |
    awk '{ printf "kind=idle-thread tid=%s us_per_s=%.1f wchan=%s\n", $1, ($4 - $2) / 4 / 1000, $5 }' >>"$records"
echo "kind=idle round=0 tracks=1 $(cat "$work/usage.txt")" >>"$records"

# Peak RSS, 4 in flight: transform.workers 2 x max_in_flight 2 (the pool
# grows to 4 threads), runtime.max_in_flight 4, 4 tracks at once.
touch=$(tf 2 2 '{"touch": ".touch.json"}' "$py" "$helper" serve touch)
ids "$work/ids-rss.txt" short 4
while read -r id; do ln "$work/src/short.flac" "$work/in/$id.flac"; done <"$work/ids-rss.txt"
measure rss-short 0 4 "$(job rss "$work/ids-rss.txt" "$work/out-rss-short" "$touch")"
rm -rf "$work/out-rss-short"
if [ "$long" = 1 ]; then
    "$W" gen "$work/src/long.flac" --seconds 3600 --signal music >/dev/null
    ids "$work/ids-long.txt" long 4
    while read -r id; do ln "$work/src/long.flac" "$work/in/$id.flac"; done <"$work/ids-long.txt"
    measure rss-long 0 4 "$(job rss "$work/ids-long.txt" "$work/out-rss-long" "$touch")"
fi

"$py" "$helper" report "$records" "$n" "$rounds" "$(($(date +%s) - t0))"
