#!/usr/bin/env bash
# FFmpeg, Chromaprint and aubio are loaded only when a track needs them
# (audio/lazy.h). Proves, with the real binary:
#  1. a FLAC job opens none of them (strace: no openat of their files) and an
#     M4A job, a fingerprint and tempo do open theirs;
#  2. `wiggly version --libs` loads all three and says ok;
#  3. with a broken FFmpeg (an empty libavformat first on LD_LIBRARY_PATH):
#     `version --libs` exits 1 naming the missing symbol, an M4A fails with
#     that reason and leaves no output, and a FLAC still converts.
#   tests/lazy_libs.sh WIGGLY
set -euo pipefail
W=$1
command -v strace >/dev/null || { echo "lazy_libs: needs strace (scripts/deps.sh)"; exit 77; }
command -v ffmpeg >/dev/null || { echo "lazy_libs: needs the ffmpeg command line"; exit 77; }
command -v cc >/dev/null || { echo "lazy_libs: needs a C compiler"; exit 77; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "lazy_libs: FAIL: $*" >&2; exit 1; }
"$W" gen "$d/in.flac" --seconds 2 --signal music >/dev/null
ffmpeg -nostdin -hide_banner -loglevel error -y -i "$d/in.flac" -c:a aac -b:a 128k "$d/in.m4a"

# opened LIBREGEX ARGS...: how many of the process's openat calls name a file
# matching the regex (successful or not: a failed attempt still counts).
opened() {
    local re=$1
    shift
    strace -f -qq -e trace=openat -o "$d/trace" "$W" "$@" >/dev/null 2>&1 || true
    grep -cE "$re" "$d/trace" || true
}
n=$(opened 'libav(format|codec|util)|libchromaprint|libaubio|libx26[45]' process "$d/in.flac" "$d/o.flac" --rate 16000 --channels mono)
[ "$n" = 0 ] || fail "a FLAC job opened $n FFmpeg/Chromaprint/aubio files"
echo "ok: a FLAC job opens no FFmpeg, Chromaprint or aubio file"
n=$(opened 'libavformat' process "$d/in.m4a" "$d/o.flac")
[ "$n" -gt 0 ] || fail "an M4A job did not open libavformat"
n=$(opened 'libchromaprint' process "$d/in.flac" "$d/o.flac" --features "$d/f.json" --fingerprint)
[ "$n" -gt 0 ] || fail "a fingerprint did not open libchromaprint"
n=$(opened 'libaubio' process "$d/in.flac" "$d/o.flac" --features "$d/f.json" --tempo)
[ "$n" -gt 0 ] || fail "tempo did not open libaubio"
echo "ok: M4A opens libavformat, --fingerprint libchromaprint, --tempo libaubio"

"$W" version --libs >"$d/libs.txt" || { cat "$d/libs.txt"; fail "version --libs failed"; }
[ "$(grep -c ': ok$' "$d/libs.txt")" = 3 ] || { cat "$d/libs.txt"; fail "version --libs: not 3 ok"; }
# The FFmpeg line names its sonames, libavformat's last.
avformat=$(sed -n 's/^FFmpeg (.* \(libavformat[^ )]*\)).*/\1/p' "$d/libs.txt")
[ -n "$avformat" ] || { cat "$d/libs.txt"; fail "no libavformat soname in version --libs"; }
echo "ok: version --libs: $(tr '\n' ';' <"$d/libs.txt")"

mkdir "$d/broken"
echo 'int wiggly_not_ffmpeg;' >"$d/empty.c"
cc -shared -fPIC -o "$d/broken/$avformat" "$d/empty.c"
if LD_LIBRARY_PATH=$d/broken "$W" version --libs >"$d/libs2.txt"; then
    cat "$d/libs2.txt"
    fail "version --libs succeeded with a broken $avformat"
fi
grep -q '^FFmpeg .*cannot be loaded: no symbol ' "$d/libs2.txt" || { cat "$d/libs2.txt"; fail "no reason"; }
echo "ok: broken FFmpeg: $(grep '^FFmpeg' "$d/libs2.txt")"
if LD_LIBRARY_PATH=$d/broken "$W" process "$d/in.m4a" "$d/o.wav" 2>"$d/err"; then
    fail "an M4A decoded without FFmpeg"
fi
grep -q 'FFmpeg cannot be loaded' "$d/err" || { cat "$d/err"; fail "the M4A error does not name FFmpeg"; }
[ ! -e "$d/o.wav" ] || fail "a failed M4A left $d/o.wav"
echo "ok: M4A without FFmpeg: $(cat "$d/err")"
LD_LIBRARY_PATH=$d/broken "$W" process "$d/in.flac" "$d/o2.wav" --rate 16000 >/dev/null ||
    fail "a FLAC failed with FFmpeg broken"
[ -s "$d/o2.wav" ] || fail "no FLAC output with FFmpeg broken"
echo "ok: FLAC converts with FFmpeg broken"
echo "lazy_libs: ok"
