#!/usr/bin/env bash
# `wiggly test` and `wiggly verify` on a transform job, through the real
# binary and a real child process (examples/transforms/centroid):
#   tests/transform_cli.sh WIGGLY PYTHON3
# - verify starts the transform once and prints its hello;
# - test writes every declared output, and the centroid array equals an
#   independent NumPy computation over the same audio (decoded by
#   `wiggly process` to 32-bit float WAV, read with the standard library);
# - a file that is not audio fails with bad_audio, a transform that raises
#   fails with its traceback, and either makes the exit status 1;
# - no empty output is left for a failed file, no child is left running.
set -euo pipefail
w=$(realpath "$1")
py=$2
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$root"
fail() { echo "FAIL: $*" >&2; exit 1; }
# The examples name "python3": make it the interpreter that has NumPy.
mkdir -p "$dir/bin"
ln -s "$(command -v "$py")" "$dir/bin/python3"
export PATH="$dir/bin:$PATH"

sed -e "s|/tmp/wiggly-example|$dir/ex|g" -e "s|\${TMPDIR:-/tmp}|$dir|" \
    examples/transforms/centroid/job.json >"$dir/job.json"
mkdir -p "$dir/ex/in" "$dir/ex/centroid"

out=$("$w" verify -c "$dir/job.json")
echo "$out"
grep -q '^ok       transform     centroid ' <<<"$out" || fail "verify printed no hello"

"$w" gen "$dir/ex/in/sine.wav" --seconds 4 --rate 44100 --channels 2 --signal sine:1000 >/dev/null
"$w" gen "$dir/ex/in/music.wav" --seconds 6 --rate 48000 --channels 2 --signal music >/dev/null
printf 'this is not audio\n' >"$dir/ex/in/bad.wav"

set +e
out=$("$w" test -c "$dir/job.json" "$dir/ex/in/sine.wav" "$dir/ex/in/music.wav" \
    "$dir/ex/in/bad.wav" --out "$dir/out" 2>"$dir/stderr")
rc=$?
set -e
echo "$out"
[ "$rc" = 1 ] || fail "exit status $rc with a bad file, want 1"
grep -q 'FAILED   \[bad_audio, permanent\]' <<<"$out" || fail "bad.wav not reported as bad_audio"
grep -q '2 of 3 files succeeded' <<<"$out" || fail "summary line"
grep -q 'transform [0-9.]* s' <<<"$out" || fail "no transform time printed"
grep -q '^peak RSS: wiggly [0-9.]* MiB, transform [0-9.]* MiB' <<<"$out" || fail "no peak RSS line"
for f in sine music; do
    for s in .centroid.npy .summary.json .features.json; do
        [ -s "$dir/out/$f$s" ] || fail "missing $f$s"
    done
done
ls "$dir/out" | grep -q '^bad\.' && fail "outputs left for bad.wav: $(ls "$dir/out")"

for f in sine music; do
    "$w" process "$dir/ex/in/$f.wav" "$dir/$f-ref.wav" --channels mono --rate 22050 --bits 32 \
        >/dev/null
done
"$py" - "$dir" <<'PY'
import json, sys, wave
import numpy as np
d = sys.argv[1]

def read_f32_wav(path):
    # WAVE_FORMAT_IEEE_FLOAT: the wave module refuses it, so read the chunks.
    b = open(path, "rb").read()
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE"
    i, rate, data = 12, None, None
    while i + 8 <= len(b):
        cid, n = b[i:i + 4], int.from_bytes(b[i + 4:i + 8], "little")
        if cid == b"fmt ":
            rate = int.from_bytes(b[i + 12:i + 16], "little")
        elif cid == b"data":
            data = np.frombuffer(b[i + 8:i + 8 + n], dtype="<f4")
        i += 8 + n + (n & 1)
    return rate, data

for name in ("sine", "music"):
    rate, x = read_f32_wav("%s/%s-ref.wav" % (d, name))
    assert rate == 22050, rate
    n_fft, hop = 2048, 512
    frames = 1 + (len(x) - n_fft) // hop
    win = np.hanning(n_fft)
    f = np.arange(n_fft // 2 + 1) * rate / n_fft
    want = np.empty(frames)
    for t in range(frames):
        m = np.abs(np.fft.rfft(x[t * hop:t * hop + n_fft] * win))
        want[t] = (f * m).sum() / m.sum() if m.sum() > 0 else 0.0
    got = np.load("%s/out/%s.centroid.npy" % (d, name))
    assert got.dtype == np.float32 and got.shape == (frames,), (got.dtype, got.shape, frames)
    err = np.max(np.abs(got - want) / np.maximum(want, 1.0))
    assert err < 1e-4, "%s: centroid differs by %g (relative)" % (name, err)
    summary = json.load(open("%s/out/%s.summary.json" % (d, name)))
    feats = json.load(open("%s/out/%s.features.json" % (d, name)))
    assert summary["frames"] == frames
    assert abs(feats["mean_centroid_hz"] - want.mean()) < 1e-3 * want.mean()
    assert feats["sample_rate"] == 22050 and feats["channels"] == 1  # the chain's keys stay
    if name == "sine":
        assert np.all(np.abs(got - 1000) < 10), got.min()
    print("%s: %d frames, mean centroid %.1f Hz, max relative error %.2g" %
          (name, frames, want.mean(), err))
PY

# A transform that raises: the traceback reaches the user.
cat >"$dir/raise.py" <<'PY'
import wiggly_transform
def process(audio, rate, element, params, outputs):
    return helper_that_breaks(audio)
def helper_that_breaks(audio):
    raise ValueError("no model for %d frames" % len(audio))
wiggly_transform.run(process, name="raise", version="0")
PY
sed -e "s|examples/transforms/centroid/transform.py|$dir/raise.py|" "$dir/job.json" >"$dir/raise.json"
set +e
out=$("$w" test -c "$dir/raise.json" "$dir/ex/in/sine.wav" --out "$dir/out2" 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" = 1 ] || fail "exit status $rc for a raising transform, want 1"
grep -q 'FAILED   \[transform, a retry may help\] transform error: ValueError: no model for 88200 frames' \
    <<<"$out" || fail "the error is not shown"
grep -q 'Traceback' <<<"$out" || fail "no traceback shown"
grep -q 'helper_that_breaks' <<<"$out" || fail "the traceback lacks the failing function"
[ -z "$(ls -A "$dir/out2")" ] || fail "outputs left for a failed track: $(ls "$dir/out2")"

# No transform process outlives wiggly: none has this run's scratch directory.
sleep 0.5
for p in /proc/[0-9]*; do
    if grep -qz "^WIGGLY_SCRATCH=$dir\$" "$p/environ" 2>/dev/null; then
        fail "transform process ${p#/proc/} is still running: $(tr '\0' ' ' <"$p/cmdline")"
    fi
done
echo "transform_cli: ok"
