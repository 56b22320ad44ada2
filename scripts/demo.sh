#!/usr/bin/env bash
# The first run: installs what is missing, builds, generates a few test
# tracks and processes them with the local batch job (no cloud account, no
# servers): config/examples/local-batch.json reads IDs from a file and
# file:// storage under $WIGGLY_DEMO_DIR (default /tmp/wiggly-demo).
#   scripts/demo.sh            8 tracks of 30 s
#   DEMO_TRACKS=50 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dir=$(scripts/build.sh)
wiggly="$PWD/$dir/cli/wiggly"
work=${WIGGLY_DEMO_DIR:-/tmp/wiggly-demo}
mkdir -p "$work"
WIGGLY_DEMO_DIR=$(cd "$work" && pwd) # the config builds file:// URLs: absolute
export WIGGLY_DEMO_DIR
work=$WIGGLY_DEMO_DIR
n=${DEMO_TRACKS:-8}
mkdir -p "$work/in/demo" "$work/out"
: >"$work/ids.txt"
for i in $(seq -f '%03g' 1 "$n"); do
    f="$work/in/demo/track-$i.flac"
    [ -f "$f" ] || "$wiggly" gen "$f" --seconds 30 --rate 44100 --channels 2 --signal music
    echo "demo/track-$i" >>"$work/ids.txt"
done
echo "demo: $n tracks of 30 s in $work/in; running the local batch job (16 kHz mono FLAC + features)" >&2
"$wiggly" run -c config/examples/local-batch.json
echo "demo: outputs in $work/out (run it again: everything is skipped; add --force to redo)" >&2
