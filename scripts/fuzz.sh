#!/usr/bin/env bash
# Builds the libFuzzer targets into build-fuzz/ and runs each for SECONDS.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 60 s, every target)
# Each target starts from its committed seed corpus tests/fuzz/corpus/<target>/,
# copied to a temporary working corpus so the committed one never changes.
# A crash, leak, timeout or OOM fails the script; the reproducer is kept in
# build-fuzz/crashes/<target>/ (see docs/testing.md to replay it).
# Environment: FUZZ_JOBS=N runs N targets at once (default 1);
# FUZZ_ARGS adds libFuzzer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
case $secs in '' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2 ;;
esac

cc=${CC:-clang}
cmake -S . -B build-fuzz -DWIGGLY_FUZZ=ON -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Every target tests/fuzz/CMakeLists.txt declares, unless some are named.
mapfile -t all < build-fuzz/tests/fuzz/fuzz-targets.txt
targets=("${@:-${all[@]}}")
cmake --build build-fuzz -j"${FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}" >&2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Leaks inside third-party decoders (each with its upstream report).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}

work=$(mktemp -d "${TMPDIR:-/tmp}/wiggly-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Per-target input caps keep every run fast (the harnesses ignore bigger ones).
max_len() {
    case $1 in
    fuzz_audio | fuzz_audio_decode | fuzz_audio_ffmpeg | fuzz_emulator_multipart) echo 65536 ;;
    fuzz_config | fuzz_emulator_request) echo 16384 ;;
    *) echo 8192 ;;
    esac
}

run_one() {
    local t=$1 exe corpus crashes log
    exe=$(find build-fuzz -type f -name "$t" -perm -u+x | head -n1)
    [ -n "$exe" ] || { echo "fuzz: $t not built" >&2; return 1; }
    corpus=$work/$t
    crashes=build-fuzz/crashes/$t
    log=build-fuzz/fuzz-$t.log
    mkdir -p "$corpus" "$crashes"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp -r "tests/fuzz/corpus/$t/." "$corpus/"
    fi
    echo "fuzz: $t for ${secs}s (log $log)" >&2
    # shellcheck disable=SC2086
    if "$exe" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} >"$log" 2>&1; then
        echo "fuzz: $t ok: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') execs" >&2
        return 0
    fi
    echo "fuzz: $t FAILED; reproducer(s) in $crashes/:" >&2
    ls -1 "$crashes" >&2 || true
    grep -E 'ERROR|SUMMARY|invariant|runtime error' "$log" | head -n 20 >&2 || true
    return 1
}

fail=0
jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then
        wait "${pids[0]}" || fail=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit $fail
