#!/usr/bin/env bash
# The first run: installs what is missing, builds, generates a few test tracks
# and processes them on the local default (no cloud account).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dir=$(scripts/build.sh)
work=${WIGGLY_DEMO_DIR:-/tmp/wiggly-demo}
mkdir -p "$work/in" "$work/out"
n=0
for i in 1 2 3 4; do
    f="$work/in/track-$i.flac"
    [ -f "$f" ] || "$dir/service/wiggly" gen "$f" --seconds 30 --rate 44100 --channels 2 --signal music
    "$dir/service/wiggly" process "$f" "$work/out/track-$i.flac" --rate 16000 --channels mono \
        --features "$work/out/track-$i.json"
    n=$((n + 1))
done
echo "demo: processed $n tracks from $work/in to 16 kHz mono FLAC in $work/out"
