#!/usr/bin/env bash
# Builds wiggly and the audio benchmark targets, then times `wiggly process`
# against the direct libsndfile -> soxr -> libsndfile baseline and reports
# peak RSS on a 3.5-minute and a 60-minute track. Prints figures only.
#   bench/audio_bench.sh [--no-long]      (--no-long skips the 60-minute track)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
cmake -S . -B "$dir" -DWIGGLY_WERROR=ON >/dev/null
cmake --build "$dir" -j2 --target wiggly baseline_resample audio_bench >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/wiggly-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$dir/bench/audio_bench" "$dir/cli/wiggly" "$dir/bench/baseline_resample" "$work" "$@"
