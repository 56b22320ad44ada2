#!/usr/bin/env bash
# Analysis arrays end to end through `wiggly run` on file:// (docs/analysis.md):
# the arrays land next to the output, equal byte for byte to what
# `wiggly process --array` writes for the same steps (whose numbers
# tests/analysis_ref.py checks against torchaudio), load with NumPy with the
# documented shape; a rerun skips every track (skip-completed counts the
# arrays); a deleted array is redone without touching the other files.
#   analysis_run.sh WIGGLY PYTHON3
set -euo pipefail
W=$1 PY=$2
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir "$d/in" "$d/out" "$d/ref"
for i in a b; do "$W" gen "$d/in/$i.flac" --seconds 4 --rate 44100 --signal music --seed 3 >/dev/null; done
printf 'a\nb\n' >"$d/ids.txt"
cat >"$d/job.json" <<JSON
{"job": "an", "events": {"file": "$d/ids.txt"},
 "input": {"location": "file://$d/in/", "suffix": ".flac"},
 "output": {"location": "file://$d/out/", "suffix": ".flac"},
 "steps": {"channels": "mono", "rate": 16000},
 "features": {"enabled": true},
 "analysis": {"arrays": {"logmel": {"kind": "mel", "n_fft": 1024, "hop": 256, "db": true},
                         "mfcc": {"kind": "mfcc", "n_fft": 1024, "hop": 256, "n_mfcc": 13}}},
 "listen": ""}
JSON
summary() { "$W" run -c "$d/job.json" --log-format json 2>/dev/null | tail -1; }
s=$(summary)
echo "$s" | grep -q "2 processed, 0 skipped, 0 failed" || { echo "first run: $s"; exit 1; }
"$W" process "$d/in/a.flac" "$d/ref/a.flac" --channels mono --rate 16000 \
    --array "mel,n_fft=1024,hop=256,db=true@$d/ref/a.logmel.npy" \
    --array "mfcc,n_fft=1024,hop=256,n_mfcc=13@$d/ref/a.mfcc.npy" >/dev/null
for k in logmel mfcc; do
    cmp "$d/out/a.$k.npy" "$d/ref/a.$k.npy" || { echo "a.$k.npy differs from wiggly process"; exit 1; }
done
"$PY" - "$d/out" <<'PYEOF' || exit $?
import sys
try:
    import numpy as np
except ImportError:
    sys.exit(77)
out = sys.argv[1]
for e in "ab":
    m, c = np.load("%s/%s.logmel.npy" % (out, e)), np.load("%s/%s.mfcc.npy" % (out, e))
    frames = 1 + 4 * 16000 // 256
    assert m.shape == (frames, 128) and c.shape == (frames, 13), (m.shape, c.shape)
    assert m.dtype == np.float32 and abs(m.max() - m.min() - 80) < 1e-3, (m.max(), m.min())
print("arrays ok")
PYEOF
s=$(summary)
echo "$s" | grep -q "0 processed, 2 skipped, 0 failed" || { echo "rerun: $s"; exit 1; }
before=$(stat -c %Y.%N "$d/out/b.logmel.npy" "$d/out/b.flac" "$d/out/b.json" | md5sum)
sleep 1
rm "$d/out/b.mfcc.npy"
s=$(summary)
echo "$s" | grep -q "1 processed, 1 skipped, 0 failed" || { echo "after delete: $s"; exit 1; }
cmp "$d/out/b.mfcc.npy" "$d/ref/a.mfcc.npy" || { echo "redone b.mfcc.npy differs"; exit 1; }
after=$(stat -c %Y.%N "$d/out/b.logmel.npy" "$d/out/b.flac" "$d/out/b.json" | md5sum)
[ "$before" = "$after" ] || { echo "the other outputs of b were rewritten"; exit 1; }
echo "analysis_run: ok"
