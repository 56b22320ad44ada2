#!/usr/bin/env bash
# Formats benchmark (issue 14, docs/audio.md "Formats"): a 3.5-minute
# 44.1 kHz stereo "music" track encoded by the ffmpeg command line as AAC in
# M4A (256k), MP3 (256k) and Opus in Ogg (128k), each taken to 16 kHz mono
# FLAC, R rounds (default 3), the median of each:
#   wiggly    `wiggly process IN OUT.flac --rate 16000 --channels mono`
#             (AAC through FFmpeg's libraries, MP3 and Opus through
#             libsndfile; soxr "high" = SOXR_HQ, 20 bits)
#   ffmpeg    `ffmpeg -nostdin -threads 1 -i IN -ac 1 -ar 16000
#             -af aresample=resampler=soxr OUT.flac` (soxr at its default
#             precision, 20 bits: the same recipe)
#   general   MP3 and Opus only, when the binary accepts
#             `wiggly process --no-fast-path`: the same file through the
#             general decode -> mono -> soxr path, to weigh the fast paths
#             (target >= 1.4x); otherwise that row says n/a.
# CPU is user + sys and peak RSS is %M from GNU time (10 ms steps). The
# baseline line is `wiggly --help`'s peak RSS: the binary maps ~150 shared
# libraries, which is most of a run's RSS before any audio. Prints figures,
# never fails on time.   bench/formats_bench.sh [BUILD_DIR] [--rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/bench_lib.sh
. bench/bench_lib.sh
bench_setup "$@"
command -v ffmpeg >/dev/null || { echo "formats bench: needs the ffmpeg command line" >&2; exit 1; }
ffmpeg -hide_banner -h filter=aresample 2>/dev/null | grep -q ' soxr ' ||
    { echo "formats bench: this ffmpeg has no soxr resampler" >&2; exit 1; }
"$W" gen "$d/src.wav" --seconds 210 --rate 44100 --channels 2 --signal music >/dev/null
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff -i "$d/src.wav" -c:a aac -b:a 256k "$d/aac.m4a"
ff -i "$d/src.wav" -c:a libmp3lame -b:a 256k "$d/mp3.mp3"
ff -i "$d/src.wav" -c:a libopus -b:a 128k "$d/opus.ogg"
general=0
"$W" process --help 2>&1 | grep -q -- --no-fast-path && general=1
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2fx", $1 / $2; else print "-" }'; }
base=$(measure "$W" --help | cut -d' ' -f2)
echo "formats bench: 3.5-minute 44.1 kHz stereo track -> 16 kHz mono FLAC, median of $rounds (CPU = user + sys)"
printf '  baseline: "wiggly --help" peak RSS %d KiB (%.1f MiB)\n' "$base" "$(echo "$base" | awk '{print $1 / 1024}')"
printf '  %-9s %10s %10s %8s %12s %12s %9s %10s   %s\n' input wiggly ffmpeg "ff/wig" "wiggly RSS" "ffmpeg RSS" "+track" \
    "anon" "general path (fast/general)"
for f in aac.m4a mp3.mp3 opus.ogg; do
    in=$d/$f
    : >"$d/w"; : >"$d/f"; : >"$d/g"; : >"$d/wr"; : >"$d/fr"
    for _ in $(seq "$rounds"); do
        measure "$W" process "$in" "$d/o.flac" --rate 16000 --channels mono >"$d/m"
        cut -d' ' -f1 "$d/m" >>"$d/w"; cut -d' ' -f2 "$d/m" >>"$d/wr"
        rm -f "$d/o.flac"
        measure ffmpeg -nostdin -threads 1 -i "$in" -ac 1 -ar 16000 -af aresample=resampler=soxr \
            "$d/o.flac" >"$d/m"
        cut -d' ' -f1 "$d/m" >>"$d/f"; cut -d' ' -f2 "$d/m" >>"$d/fr"
        rm -f "$d/o.flac"
        if [ "$general" = 1 ] && [ "$f" != aac.m4a ]; then
            measure "$W" process "$in" "$d/o.flac" --rate 16000 --channels mono --no-fast-path |
                cut -d' ' -f1 >>"$d/g"
            rm -f "$d/o.flac"
        fi
    done
    anon=$(peak_anon "$W" process "$in" "$d/o.flac" --rate 16000 --channels mono)
    rm -f "$d/o.flac"
    w=$(median <"$d/w") fc=$(median <"$d/f") wr=$(sort -n "$d/wr" | tail -1) fr=$(sort -n "$d/fr" | tail -1)
    if [ "$f" = aac.m4a ]; then
        g="- (no fast path for AAC)"
    elif [ "$general" = 1 ]; then
        gm=$(median <"$d/g")
        g="$(printf '%.3f s, %s (target >= 1.4x)' "$gm" "$(ratio "$gm" "$w")")"
    else
        g="n/a (no fast paths in this build)"
    fi
    printf '  %-9s %8.3f s %8.3f s %8s %8d KiB %8d KiB %5d KiB %6d KiB   %s\n' "${f%%.*}" "$w" "$fc" \
        "$(ratio "$fc" "$w")" "$wr" "$fr" "$((wr - base))" "$anon" "$g"
done
echo "  ff/wig: ffmpeg CPU / wiggly CPU (target >= 1.00x: never slower than the ffmpeg CLI);"
echo "  RSS: the largest of the rounds (target <= 32 MiB = 32768 KiB); +track: wiggly RSS - baseline;"
echo "  anon: wiggly's largest RssAnon (private memory, no shared library pages), sampled every 10 ms"
