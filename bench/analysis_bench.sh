#!/usr/bin/env bash
# Analysis benchmark (issue 13, docs/analysis.md "Cost"): a log-mel (128
# Slaney mels, n_fft 1024, hop 256, dB) of a 44.1 kHz stereo FLAC taken to
# 16 kHz mono, measured three ways in one run, R rounds (default 3), the
# median of each:
#   wiggly+mel  `wiggly process IN OUT.flac --channels mono --rate 16000
#               --array mel,...@OUT.npy`: decode, resample, FLAC, the array
#   wiggly      the same without the array
#   torchaudio  bench/analysis_ref.py: torchaudio.load + resample + the same
#               MelSpectrogram/AmplitudeToDB, saved as .npy (Debian's
#               python3-torchaudio; its threads count: CPU is user + sys)
# on a 3.5-minute track; then wiggly+mel's peak RSS on 3.5 and 60 minutes.
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
: >"$d/a"; : >"$d/b"; : >"$d/c"
for r in $(seq "$rounds"); do
    measure "$W" process "$d/short.flac" "$d/o.flac" --channels mono --rate 16000 \
        --array "$mel@$d/o.npy" | cut -d' ' -f1 >>"$d/a"
    rm -f "$d/o.flac" "$d/o.npy"
    measure "$W" process "$d/short.flac" "$d/o.flac" --channels mono --rate 16000 | cut -d' ' -f1 >>"$d/b"
    rm -f "$d/o.flac"
    measure "$py" bench/analysis_ref.py "$d/short.flac" "$d/t.npy" | cut -d' ' -f1 >>"$d/c"
done
a=$(median <"$d/a") b=$(median <"$d/b") c=$(median <"$d/c")
rss_s=$(measure "$W" process "$d/short.flac" "$d/o.flac" --channels mono --rate 16000 --array "$mel@$d/o.npy" | cut -d' ' -f2)
rm -f "$d/o.flac" "$d/o.npy"
rss_l=$(measure "$W" process "$d/long.flac" "$d/o.flac" --channels mono --rate 16000 --array "$mel@$d/o.npy" | cut -d' ' -f2)
echo "analysis bench: 3.5-minute 44.1 kHz stereo FLAC -> 16 kHz mono, log-mel 128 x n_fft 1024 / hop 256, median of $rounds"
printf '  wiggly+mel     %7.3f s CPU\n' "$a"
printf '  wiggly         %7.3f s CPU   (analysis adds %.1f %%, target <= 25 %%)\n' "$b" \
    "$(echo "$a $b" | awk '{print ($1 - $2) / $2 * 100}')"
printf '  torchaudio     %7.3f s CPU   (%.1fx wiggly+mel, target >= 8x)\n' "$c" \
    "$(echo "$c $a" | awk '{print $1 / $2}')"
printf '  peak RSS wiggly+mel: %d KiB (3.5 min), %d KiB (60 min)\n' "$rss_s" "$rss_l"
