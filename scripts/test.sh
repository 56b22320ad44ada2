#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   ASan + UBSan build (build-asan/)
# Integration tests start real processes on 127.0.0.1: the official Pub/Sub
# emulator (Java) and wiggly-gcs-emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/check-format.sh
dir=$(scripts/build.sh "$@")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure --timeout 900 -j"$(nproc)" \
    | grep -v '^ *Start ' 
exit "${PIPESTATUS[0]}"
