#!/usr/bin/env bash
# The formats read through FFmpeg's libraries (audio/ffdec.c, docs/audio.md
# "Formats"), end to end through the real binary:
#  - files made here by the ffmpeg command line (AAC and ALAC in M4A, Opus in
#    WebM, Vorbis in Matroska, WMA, AC-3, an MP4 with video, two audio streams)
#    go through `wiggly process` and `wiggly run` (file://) and come out with
#    the right rate, channels, duration (within one codec frame) and signal
#    (a 1 kHz sine at -6 dBFS: frequency and level, by a Goertzel filter);
#  - a video-only file, truncated and corrupt files fail permanently
#    (bad_audio in `wiggly run`) with the library's reason;
#  - hostile inputs that name other files or URLs (an HLS playlist, an
#    ffconcat list, a concat: reference, a DASH manifest, MP4s with an
#    external data reference) are refused or read only from their own bytes,
#    a listener on 127.0.0.1 sees no connection and, under strace, no other
#    file is opened.
#   ffmpeg_formats.sh WIGGLY PYTHON3        (77 = skipped: no ffmpeg/numpy)
set -euo pipefail -f
W=$1 PY=$2
command -v ffmpeg >/dev/null || { echo "no ffmpeg command line: skipped"; exit 77; }
"$PY" -c 'import numpy' 2>/dev/null || { echo "no numpy: skipped"; exit 77; }
d=$(mktemp -d)
lpid=""
trap '[ -n "$lpid" ] && kill "$lpid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$d"' EXIT
mkdir "$d/in" "$d/out"
ff() { timeout 120 ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
sine() { echo "aevalsrc=0.5*sin(2*PI*1000*t)|0.5*sin(2*PI*1000*t):s=$1:d=2:c=stereo"; }
mono() { echo "aevalsrc=0.5*sin(2*PI*1000*t):s=$1:d=2"; }

# name@ffmpeg arguments@expected rate@channels@slack in frames: one codec
# frame, two for AAC in Matroska, which keeps neither AAC's priming nor its
# padding (MP4 keeps the priming in an edit list).
cases=(
    "aac.m4a@-f lavfi -i $(sine 44100) -c:a aac -b:a 192k@44100@2@1024"
    "alac.m4a@-f lavfi -i $(mono 44100) -c:a alac@44100@1@4096"
    "opus.webm@-f lavfi -i $(sine 48000) -c:a libopus -b:a 128k@48000@2@960"
    "vorbis.mkv@-f lavfi -i $(mono 44100) -c:a libvorbis@44100@1@2048"
    "wma.wma@-f lavfi -i $(sine 44100) -c:a wmav2 -b:a 192k@44100@2@2048"
    "ac3.ac3@-f lavfi -i $(mono 48000) -c:a ac3 -b:a 192k@48000@1@1536"
    "video.mp4@-f lavfi -i testsrc=size=64x48:rate=10:duration=2 -f lavfi -i $(mono 44100) -c:v mpeg4 -c:a aac@44100@1@1024"
    "two.mka@-f lavfi -i aevalsrc=0.5*sin(2*PI*440*t):s=22050:d=2 -f lavfi -i $(sine 32000) -map 0 -map 1 -c:a aac -disposition:a:0 0 -disposition:a:1 default@32000@2@2048"
)
ids=""
for c in "${cases[@]}"; do
    IFS='@' read -r name args rate ch fr <<<"$c"
    # shellcheck disable=SC2086
    ff $args "$d/in/$name"
    ids+="$name"$'\n'
done
ff -f lavfi -i testsrc=size=64x48:rate=10:duration=1 -c:v mpeg4 "$d/in/novideo_audio.mp4"
ff -f lavfi -i "$(mono 44100)" -c:a aac -movflags +faststart "$d/in/fs.m4a"
head -c "$(($(stat -c %s "$d/in/fs.m4a") / 2))" "$d/in/fs.m4a" >"$d/in/truncated.m4a"
ff -f lavfi -i "$(mono 44100)" -c:a aac -f adts "$d/in/adts.aac"
head -c "$(($(stat -c %s "$d/in/adts.aac") / 2))" "$d/in/adts.aac" >"$d/in/truncated.aac"
"$PY" - "$d/in/aac.m4a" "$d/in/corrupt.m4a" <<'PYEOF'
import random, sys
b = bytearray(open(sys.argv[1], "rb").read())
r = random.Random(1)
for _ in range(300):
    b[r.randrange(len(b) // 4, len(b) - 1024)] ^= 0xFF
open(sys.argv[2], "wb").write(b)
PYEOF
rm "$d/in/fs.m4a"

# 1. wiggly process, keeping the rate, and --probe.
fails=0
for c in "${cases[@]}"; do
    IFS='@' read -r name args rate ch fr <<<"$c"
    p=$("$W" process --probe "$d/in/$name")
    echo "$p" | grep -q "rate=$rate channels=$ch .*decoder=ffmpeg" || { echo "probe: $p"; fails=$((fails + 1)); }
    "$W" process "$d/in/$name" "$d/out/$name.wav" --bits 32 >/dev/null
    "$W" process "$d/in/$name" "$d/out/$name.16k.wav" --rate 16000 --channels mono >/dev/null
done
"$PY" - "$d/out" "${cases[@]}" <<'PYEOF' || fails=$((fails + 1))
import sys, wave
import numpy as np

def read(path):
    import struct
    with open(path, "rb") as f:
        data = f.read()
    # WAV with float (fmt 3) or 16-bit PCM; find fmt and data chunks.
    pos, fmt, ch, rate, out = 12, None, None, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt, ch, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
        elif cid == b"data":
            if bits == 32:
                out = np.frombuffer(body, "<f4")
            else:
                out = np.frombuffer(body, "<i2") / 32768.0
        pos += 8 + size + (size & 1)
    return rate, ch, out.reshape(-1, ch)

def goertzel_amp(x, rate, f):
    n = np.arange(len(x))
    return 2 * abs(np.dot(x, np.exp(-2j * np.pi * f * n / rate))) / len(x)

bad = 0
for c in sys.argv[2:]:
    name, _, rate, ch, fr = c.split("@")
    rate, ch, fr = int(rate), int(ch), int(fr)
    for suffix, want_rate, want_ch, slack in ((".wav", rate, ch, fr),
                                               (".16k.wav", 16000, 1, fr * 16000 // rate + 1)):
        r, c_, x = read("%s/%s%s" % (sys.argv[1], name, suffix))
        want = 2 * want_rate
        # The middle second: away from the codec's priming and padding.
        mid = x[len(x) // 4: len(x) // 4 + r, 0]
        amp = goertzel_amp(mid, r, 1000)
        spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
        peak = np.argmax(spec) * r / len(mid)
        ok = r == want_rate and c_ == want_ch and abs(len(x) - want) <= slack \
            and abs(peak - 1000) <= 2 and abs(20 * np.log10(amp / 0.5)) < 0.5
        print("# %-14s %-9s %5d Hz %d ch %6d frames (want %d +- %d) peak %.1f Hz level %+.2f dB %s"
              % (name, suffix, r, c_, len(x), want, slack, peak, 20 * np.log10(amp / 0.5),
                 "ok" if ok else "FAIL"))
        bad += not ok
sys.exit(1 if bad else 0)
PYEOF

# 2. Bad inputs: a permanent error with the library's reason.
expect_fail() { # file, text
    local e
    if e=$("$W" process "$d/in/$1" "$d/out/x.wav" 2>&1); then
        echo "$1: decoded, should have failed"
        fails=$((fails + 1))
    elif ! echo "$e" | grep -q "$2"; then
        echo "$1: wrong reason: $e"
        fails=$((fails + 1))
    else
        echo "# $1: $e"
    fi
}
expect_fail novideo_audio.mp4 "not an audio file: no audio stream"
expect_fail truncated.m4a "corrupt aac stream at frame"
expect_fail truncated.aac "corrupt aac stream at frame"
expect_fail corrupt.m4a "corrupt aac stream at frame .*: Invalid data"

# 3. wiggly run on file://: every good file processed, every bad one a
# permanent bad_audio.
printf '%snovideo_audio.mp4\ntruncated.m4a\ncorrupt.m4a\n' "$ids" >"$d/ids.txt"
mkdir "$d/runout"
cat >"$d/job.json" <<JSON
{"job": "ff", "events": {"file": "$d/ids.txt"},
 "input": {"location": "file://$d/in/", "suffix": ""},
 "output": {"location": "file://$d/runout/", "suffix": ".flac"},
 "steps": {"channels": "mono", "rate": 16000},
 "listen": ""}
JSON
"$W" run -c "$d/job.json" --log-format json >"$d/run.log" 2>"$d/run.err" || true
s=$(grep "^wiggly run ff:" "$d/run.log" || true)
n=${#cases[@]}
echo "$s" | grep -q "$n processed, 0 skipped, 3 failed" || { echo "run: $s"; fails=$((fails + 1)); }
nb=$(grep -c '^  failed .* \[bad_audio\] ' "$d/run.log" || true)
[ "$nb" -ge 3 ] || { echo "run: $nb bad_audio lines, want 3"; cat "$d/run.log"; fails=$((fails + 1)); }
for c in "${cases[@]}"; do
    IFS='@' read -r name _ <<<"$c"
    p=$("$W" process --probe "$d/runout/$name.flac")
    echo "$p" | grep -q "rate=16000 channels=1" || { echo "run output: $p"; fails=$((fails + 1)); }
done

# 4. Hostile inputs: refused, nothing else opened, no connection made.
port_file="$d/port" conn_file="$d/connections"
"$PY" - "$port_file" "$conn_file" <<'PYEOF' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    open(sys.argv[2], "a").write("connection\n")
    c.close()
PYEOF
lpid=$!
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(cat "$port_file")
echo secret >"$d/canary.wav"
cp "$d/in/aac.m4a" "$d/canary.m4a"
printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:%s/seg.ts\n#EXTINF:10,\nfile://%s/canary.m4a\n#EXT-X-ENDLIST\n' \
    "$port" "$d" >"$d/in/hls.m3u8"
printf "ffconcat version 1.0\nfile '%s/canary.m4a'\nfile 'http://127.0.0.1:%s/x.m4a'\n" "$d" "$port" \
    >"$d/in/list.ffconcat"
printf 'concat:%s/canary.m4a|http://127.0.0.1:%s/x' "$d" "$port" >"$d/in/concat.txt"
printf '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period><AdaptationSet><Representation><BaseURL>http://127.0.0.1:%s/a.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>' \
    "$port" >"$d/in/dash.mpd"
for h in hls.m3u8 list.ffconcat concat.txt dash.mpd; do
    if command -v strace >/dev/null; then
        e=$(strace -f -qq -e trace=open,openat,connect -o "$d/strace.$h" \
            "$W" process "$d/in/$h" "$d/out/h.wav" 2>&1) && { echo "$h: decoded"; fails=$((fails + 1)); }
        grep -q "open.*in/$h" "$d/strace.$h" || { echo "$h: strace saw no open"; fails=$((fails + 1)); }
        if grep -E 'canary|connect\(' "$d/strace.$h"; then
            echo "$h: opened another file or connected"
            fails=$((fails + 1))
        fi
    else
        e=$("$W" process "$d/in/$h" "$d/out/h.wav" 2>&1) && { echo "$h: decoded"; fails=$((fails + 1)); }
    fi
    echo "# $h: $e"
done

# 5. An MP4 whose track says its samples live elsewhere (an external data
# reference, made by tests/support/mp4_dref.py from an ALAC M4A of the 1 kHz
# sine): a 'url ' entry (flags 0: not in this file) naming a file or the
# listener, and a Mac alias ('alis', the entry FFmpeg's mov demuxer follows
# when enable_drefs is set, relative to the input's folder) naming a file
# next to it. The referenced secret.m4a holds a 440 Hz sine; same.m4a is
# the very file the references were made from, for the cases whose own
# sample data is zeroed (--zero-mdat), so that only the referenced file has
# the audio. Under strace nothing but the input is opened and no connect()
# is made; wiggly either refuses with a reason or decodes the 1 kHz sine of
# the file itself, never the 440 Hz, and never audio a zeroed file lacks.
# The fixture is checked too: the ffmpeg command line with -enable_drefs 1
# does open same.m4a for the alias and decodes its 1 kHz from there.
mkdir "$d/dref"
ff -f lavfi -i "$(mono 44100)" -c:a alac "$d/dref/same.m4a"
ff -f lavfi -i "aevalsrc=0.5*sin(2*PI*440*t):s=44100:d=2" -c:a alac "$d/dref/secret.m4a"
# Levels of 1 kHz and 440 Hz (dBFS) in the middle second of a 16-bit WAV.
levels() {
    "$PY" - "$1" <<'PYEOF'
import sys, wave
import numpy as np
w = wave.open(sys.argv[1])
x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float) / 32768
r = w.getframerate()
mid = x[len(x) // 4: len(x) // 4 + r]
n = np.arange(len(mid))
db = [20 * np.log10(2 * abs(np.dot(mid, np.exp(-2j * np.pi * f * n / r))) / len(mid) + 1e-12)
      for f in (1000, 440)]
print("%.1f %.1f" % tuple(db))
PYEOF
}
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
drefs=(
    "url@file://$d/dref/secret.m4a@"
    "url@http://127.0.0.1:$port/x@"
    "url@file://$d/dref/same.m4a@--zero-mdat"
    "alis@$d/dref/secret.m4a@"
    "alis@$d/dref/same.m4a@--zero-mdat"
)
i=0
for c in "${drefs[@]}"; do
    IFS='@' read -r kind where zero <<<"$c"
    i=$((i + 1))
    in="$d/dref/dref$i.m4a"
    # shellcheck disable=SC2086
    "$PY" "$(dirname "$0")/support/mp4_dref.py" "$d/dref/same.m4a" "$in" "$kind" "$where" $zero
    rm -f "$d/out/dref.wav"
    rc=0
    if command -v strace >/dev/null; then
        e=$(strace -f -qq -e trace=%file,connect -o "$d/strace.dref$i" \
            "$W" process "$in" "$d/out/dref.wav" 2>&1) || rc=$?
        grep -q "open.*dref/dref$i.m4a" "$d/strace.dref$i" || { echo "dref$i: strace saw no open"; fails=$((fails + 1)); }
        if grep -E 'secret|same\.m4a|connect\(' "$d/strace.dref$i"; then
            echo "dref$i: opened the referenced file or connected"
            fails=$((fails + 1))
        fi
    else
        e=$("$W" process "$in" "$d/out/dref.wav" 2>&1) || rc=$?
    fi
    if [ "$rc" != 0 ]; then
        [ -n "$e" ] || { echo "dref$i: failed without a reason"; fails=$((fails + 1)); }
        echo "# dref$i ($kind $where $zero): refused: $e"
        continue
    fi
    read -r l1k l440 <<<"$(levels "$d/out/dref.wav")"
    echo "# dref$i ($kind $where $zero): decoded its own bytes: 1 kHz at $l1k dB, 440 Hz at $l440 dB"
    if [ -n "$zero" ]; then
        below "$l1k" -60 || { echo "dref$i: decoded audio its file does not hold"; fails=$((fails + 1)); }
    else
        if ! below -6.5 "$l1k" || ! below "$l1k" -5.5; then
            echo "dref$i: not its own sine"
            fails=$((fails + 1))
        fi
    fi
    below "$l440" -60 || { echo "dref$i: the referenced file's 440 Hz"; fails=$((fails + 1)); }
done
if command -v strace >/dev/null; then
    strace -f -qq -e trace=%file -o "$d/strace.ffcli" ffmpeg -nostdin -loglevel quiet -y -enable_drefs 1 \
        -i "$d/dref/dref5.m4a" "$d/out/dref_cli.wav" || true
    read -r l1k _ <<<"$(levels "$d/out/dref_cli.wav" 2>/dev/null || echo "-999 0")"
    if grep -q 'open.*same\.m4a' "$d/strace.ffcli" && below -6.5 "$l1k"; then
        echo "# fixture: ffmpeg -enable_drefs 1 opens same.m4a for dref5 and decodes its 1 kHz at $l1k dB"
    else
        echo "fixture: the ffmpeg CLI did not follow dref5's alias (1 kHz at $l1k dB): the test proves nothing"
        fails=$((fails + 1))
    fi
fi
[ ! -e "$conn_file" ] || { echo "the listener saw a connection"; fails=$((fails + 1)); }

[ "$fails" = 0 ] || { echo "ffmpeg_formats: $fails failures"; exit 1; }
echo "ffmpeg_formats: ok"
