#!/usr/bin/env bash
# Partial outputs of a transform on gs:// (issue 12): a track whose first
# output was stored and whose second was not (its upload failed, as if the
# pod died between the two) is completed by the next delivery, and the
# first object is left exactly as it was (same generation, same bytes).
# Real processes: wiggly-gcs-emulator (restarted on the same disk state
# without the fault), `wiggly run` in batch mode, the centroid example.
#   tests/transform_partial.sh WIGGLY GCS_EMULATOR PYTHON3
set -euo pipefail
w=$(realpath "$1")
emu=$(realpath "$2")
py=$3
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
epid=
cleanup() {
    [ -n "$epid" ] && kill "$epid" 2>/dev/null && wait "$epid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
cd "$root"
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$dir/bin"
ln -s "$(command -v "$py")" "$dir/bin/python3" # the examples name python3
export PATH="$dir/bin:$PATH"

start_emulator() { # extra flags...
    "$emu" --root "$dir/gcs" --port 0 --log "$dir/emu.log" "$@" >"$dir/emu.out" &
    epid=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$dir/emu.out" 2>/dev/null && break
        sleep 0.1
    done
    STORAGE_EMULATOR_HOST=$(grep -o 'http://[^ ]*' "$dir/emu.out")
    export STORAGE_EMULATOR_HOST
}
stop_emulator() {
    kill "$epid"
    wait "$epid" || true
    epid=
}
meta() { # object name -> "generation md5Hash", or "missing"
    local code
    code=$(curl -s -o "$dir/meta.json" -w '%{http_code}' \
        "$STORAGE_EMULATOR_HOST/storage/v1/b/bkt/o/$(sed 's|/|%2F|g' <<<"$1")")
    if [ "$code" = 404 ]; then echo missing; return; fi
    "$py" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["generation"], m["md5Hash"])' \
        "$dir/meta.json"
}

# Every upload of the second output (summary) fails (the upload's target is
# /upload/...?uploadType=T&name=NAME&...; a stat's ends in NAME); the first
# (centroid) works.
start_emulator --fault-route 't1.summary.json&' --fault-rate 1 --fault-statuses 503
curl -sf -X POST -H 'Content-Type: application/json' -d '{"name":"bkt"}' \
    "$STORAGE_EMULATOR_HOST/storage/v1/b?project=p" >/dev/null
"$w" gen "$dir/t1.wav" --seconds 5 --rate 44100 --channels 2 --signal music >/dev/null
curl -sf -X POST --data-binary @"$dir/t1.wav" \
    "$STORAGE_EMULATOR_HOST/upload/storage/v1/b/bkt/o?uploadType=media&name=in/t1.wav" >/dev/null
echo t1 >"$dir/ids.txt"
sed -e "s|\"file\": \"/tmp/wiggly-example/ids.txt\"|\"file\": \"$dir/ids.txt\"|" \
    -e "s|file:///tmp/wiggly-example/in/|gs://bkt/in/|" \
    -e "s|file:///tmp/wiggly-example/centroid/|gs://bkt/out/|g" \
    -e "s|\${TMPDIR:-/tmp}|$dir|" -e 's|"runtime": {|"runtime": {"max_attempts": 1, |' \
    examples/transforms/centroid/job.json >"$dir/job.json"
grep -q 'gs://bkt/out/' "$dir/job.json" || fail "job rewrite"

set +e
"$w" run -c "$dir/job.json" >"$dir/run1.out" 2>"$dir/run1.err"
rc=$?
set -e
cat "$dir/run1.out"
[ "$rc" = 1 ] || fail "first run exit $rc, want 1 (the summary upload fails)"
grep -q '0 processed' "$dir/run1.out" || fail "first run processed the track"
first=$(meta out/t1.centroid.npy)
[ "$first" != missing ] || fail "the first output was not stored"
[ "$(meta out/t1.summary.json)" = missing ] || fail "the failing output was stored"
[ "$(meta out/t1.features.json)" != missing ] || fail "the features were not stored"
echo "after the failed attempt: centroid $first, summary missing"

# The next delivery, with storage healthy again.
stop_emulator
start_emulator
"$w" run -c "$dir/job.json" >"$dir/run2.out" 2>"$dir/run2.err" || {
    cat "$dir/run2.err"
    fail "second run failed"
}
cat "$dir/run2.out"
grep -q '1 processed' "$dir/run2.out" || fail "second run did not process the track"
[ "$(meta out/t1.centroid.npy)" = "$first" ] || fail "the first output was rewritten"
[ "$(meta out/t1.summary.json)" != missing ] || fail "the missing output was not completed"
# Both objects describe the same track: the summary's frame count is the array's length.
curl -sf "$STORAGE_EMULATOR_HOST/storage/v1/b/bkt/o/out%2Ft1.centroid.npy?alt=media" -o "$dir/c.npy"
curl -sf "$STORAGE_EMULATOR_HOST/storage/v1/b/bkt/o/out%2Ft1.summary.json?alt=media" -o "$dir/s.json"
"$py" - "$dir" <<'PY'
import json, sys
import numpy as np
d = sys.argv[1]
c = np.load(d + "/c.npy")
s = json.load(open(d + "/s.json"))
assert c.dtype == np.float32 and c.ndim == 1, (c.dtype, c.shape)
assert s["frames"] == len(c), (s, c.shape)
assert abs(s["mean_centroid_hz"] - float(c.mean())) < 1e-3 * float(c.mean()), s
print("centroid %d frames, mean %.1f Hz, summary agrees" % (len(c), c.mean()))
PY
# The first upload of the second run found the centroid there (412) and kept it.
grep -q 't1\.summary\.json&[^ ]* 200 ' "$dir/emu.log" || fail "no successful summary upload logged"
grep -q 't1\.centroid\.npy&[^ ]* 412 ' "$dir/emu.log" || fail "the centroid upload did not meet the stored object"
echo "transform_partial: ok"
