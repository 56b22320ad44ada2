#!/usr/bin/env bash
# Analysis benchmark (issue 13, docs/analysis.md "Cost"): a log-mel (128
# Slaney mels, n_fft 1024, hop 256, dB) of a 44.1 kHz stereo FLAC taken to
# 16 kHz mono, measured three ways in one run, R rounds (default 3), the
# median of each:
#   wiggly+mel  `wiggly process IN OUT.flac --channels mono --rate 16000
#               --array mel,...@OUT.npy`: decode, resample, FLAC, the array
#   wiggly      the same without the array
#   wiggly mel only  the array and no FLAC (`wiggly process IN --array ...`):
#               the same work as the torchaudio script, like for like
#   torchaudio  bench/analysis_ref.py: torchaudio.load + resample + the same
#               MelSpectrogram/AmplitudeToDB, saved as .npy (Debian's
#               python3-torchaudio; its threads count: CPU is user + sys)
#   import      `import torch, torchaudio, numpy` alone: what a long-lived
#               worker pays once, so torchaudio - import is its cost per track
# on a 3.5-minute track; then wiggly+mel's peak RSS on 3.5 and 60 minutes,
# and `wiggly --help`'s (the ~150 shared libraries mapped, no track).
# CPU and peak RSS from GNU time (%U + %S, %M). Prints figures, never fails
# on time.   bench/analysis_bench.sh [BUILD_DIR] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/bench_lib.sh
. bench/bench_lib.sh
bench_setup "$@"
py=/usr/bin/python3
"$W" gen "$d/short.flac" --seconds 210 --rate 44100 --channels 2 --signal music >/dev/null
"$W" gen "$d/long.flac" --seconds 3600 --rate 44100 --channels 2 --signal music >/dev/null
mel="mel,n_fft=1024,hop=256,n_mels=128,db=true"
: >"$d/a"; : >"$d/b"; : >"$d/c"; : >"$d/m"; : >"$d/i"
for r in $(seq "$rounds"); do
    measure "$W" process "$d/short.flac" "$d/o.flac" --channels mono --rate 16000 \
        --array "$mel@$d/o.npy" | cut -d' ' -f1 >>"$d/a"
    rm -f "$d/o.flac" "$d/o.npy"
    measure "$W" process "$d/short.flac" "$d/o.flac" --channels mono --rate 16000 | cut -d' ' -f1 >>"$d/b"
    rm -f "$d/o.flac"
    measure "$W" process "$d/short.flac" --channels mono --rate 16000 \
        --array "$mel@$d/o.npy" | cut -d' ' -f1 >>"$d/m"
    rm -f "$d/o.npy"
    measure "$py" bench/analysis_ref.py "$d/short.flac" "$d/t.npy" | cut -d' ' -f1 >>"$d/c"
    measure "$py" -c "import torch, torchaudio, numpy" | cut -d' ' -f1 >>"$d/i"
done
a=$(median <"$d/a") b=$(median <"$d/b") c=$(median <"$d/c") m=$(median <"$d/m") i=$(median <"$d/i")
rss_h=$(measure "$W" --help | cut -d' ' -f2)
rss_s=$(measure "$W" process "$d/short.flac" "$d/o.flac" --channels mono --rate 16000 --array "$mel@$d/o.npy" | cut -d' ' -f2)
rm -f "$d/o.flac" "$d/o.npy"
rss_l=$(measure "$W" process "$d/long.flac" "$d/o.flac" --channels mono --rate 16000 --array "$mel@$d/o.npy" | cut -d' ' -f2)
echo "analysis bench: 3.5-minute 44.1 kHz stereo FLAC -> 16 kHz mono, log-mel 128 x n_fft 1024 / hop 256, median of $rounds"
printf '  wiggly+mel     %7.3f s CPU\n' "$a"
printf '  wiggly         %7.3f s CPU   (analysis adds %.1f %%, target <= 25 %%)\n' "$b" \
    "$(echo "$a $b" | awk '{print ($1 - $2) / $2 * 100}')"
printf '  wiggly mel only %6.3f s CPU   (no FLAC: the torchaudio script'"'"'s work)\n' "$m"
printf '  torchaudio     %7.3f s CPU   (%.1fx wiggly+mel, %.1fx wiggly mel only; target >= 8x)\n' \
    "$c" "$(echo "$c $a" | awk '{print $1 / $2}')" "$(echo "$c $m" | awk '{print $1 / $2}')"
printf '  import only    %7.3f s CPU   (torchaudio per track without it: %.3f s, %.1fx wiggly mel only)\n' \
    "$i" "$(echo "$c $i" | awk '{print $1 - $2}')" "$(echo "$c $i $m" | awk '{print ($1 - $2) / $3}')"
printf '  peak RSS wiggly+mel: %d KiB (3.5 min), %d KiB (60 min); wiggly --help: %d KiB\n' \
    "$rss_s" "$rss_l" "$rss_h"
