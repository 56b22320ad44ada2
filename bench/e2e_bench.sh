#!/usr/bin/env bash
# End-to-end benchmark: N generated 3.5-minute 44.1 kHz stereo FLAC tracks
# through a 16 kHz mono FLAC `wiggly run` job on loopback (official Pub/Sub
# emulator + wiggly-gcs-emulator), with 1 and then 2 processes, next to the
# audio floor (bench/baseline_resample) measured in the same run. Prints
# figures only.
#   bench/e2e_bench.sh [N]      (default 100: a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
dir=build
cmake -S . -B "$dir" -DWIGGLY_WERROR=ON >/dev/null
cmake --build "$dir" -j2 --target wiggly wiggly-gcs-emulator baseline_resample e2e_bench >/dev/null
"$dir/bench/e2e_bench" "$dir/bench/baseline_resample" "$n"
