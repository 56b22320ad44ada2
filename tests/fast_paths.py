"""The codec fast paths (docs/audio.md "Fast paths") held to the normal path.

    fast_paths.py WIGGLY [CODEC...]     (77 = skipped: no ffmpeg command line)

Makes MP3 (and Opus) inputs with the ffmpeg command line, runs each through
`wiggly process -v` twice, with and without --no-fast-path, into 32-bit
float WAV, and measures both outputs: the path taken, rate, channels and
frames; THD+N of a 1 kHz sine; the rejection of tones above the new Nyquist;
and on music (and on a stereo file with different channels, which checks
the codec's mono mix against the chain's (L + R) / 2) the energy of the
difference between fast and normal outputs relative to the signal. Prints
one line per measurement (the figures in docs/audio.md come from here) and
exits 1 when a bar is missed.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

W = sys.argv[1]
if not shutil.which("ffmpeg"):
    print("no ffmpeg command line: skipped")
    sys.exit(77)
D = tempfile.mkdtemp(prefix="wiggly-fast-")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def ff(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, timeout=120)


def read_wav(path):
    """32-bit float WAV (wiggly --bits 32) -> (rate, array frames x channels)."""
    b = open(path, "rb").read()
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE", path
    pos, rate, ch, data = 12, 0, 0, None
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        body = b[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            _, ch, rate = struct.unpack("<HHI", body[:8])
        elif cid == b"data":
            data = np.frombuffer(body, dtype="<f4")
        pos += 8 + size + (size & 1)
    return rate, data.reshape(-1, ch).astype(np.float64)


def run(src, out, args, fast):
    cmd = [W, "process", src, out, "--bits", "32", "-v", *args]
    if not fast:
        cmd.append("--no-fast-path")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit("wiggly failed: %s\n%s" % (" ".join(cmd), p.stderr))
    m = re.search(r"decoder=(\S+) decoded_rate=(\d+) decoded_channels=(\d+)", p.stdout)
    rate, x = read_wav(out)
    return m.group(1), int(m.group(2)), int(m.group(3)), rate, x


def mid(x, rate):
    """The steady middle: codec and filter edges left out."""
    n = len(x)
    return x[int(0.25 * n):int(0.75 * n)]


def thdn_db(x, rate, f0):
    """Everything but the best-fitting sine at f0, relative to that sine."""
    t = np.arange(len(x)) / rate
    a = np.column_stack([np.sin(2 * np.pi * f0 * t), np.cos(2 * np.pi * f0 * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(a, x, rcond=None)
    fit = a[:, :2] @ coef[:2]
    return 10 * np.log10(np.sum((x - a @ coef) ** 2) / np.sum(fit ** 2))


def diff_db(a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return 10 * np.log10(max(np.sum((a - b) ** 2), 1e-30) / np.sum(b ** 2))


def level_db(x, amp):
    return 10 * np.log10(np.mean(x ** 2) / (amp * amp / 2))


# codec: (extension, ffmpeg encoder arguments, input rate, codec frame)
OPUS = ["-c:a", "libopus", "-b:a", "128k"]
CODECS = {
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "256k"], 44100, 1152),
    "opus": (".opus", OPUS, 48000, 960),
    "webm": (".webm", OPUS, 48000, 960),
}
if len(sys.argv) > 2:
    CODECS = {k: v for k, v in CODECS.items() if k in sys.argv[2:]}
# (output args, path, decoded rate, decoded channels) per codec: the path
# the hint logic must pick (None: the normal path, no fast path applies).
# mpg123's 2:1 / 4:1 synthesis is off (audio/mpg123dec.c
# MP3_DOWN_SAMPLE_OK): MP3 decodes to mono at the file's rate.
CASES = {
    "mp3": [
        (["--rate", "16000", "--channels", "mono"], "mpg123-fast", 44100, 1),
        (["--rate", "8000", "--channels", "mono"], "mpg123-fast", 44100, 1),
        (["--rate", "22050", "--channels", "keep"], None, 44100, 2),
        (["--channels", "mono"], "mpg123-fast", 44100, 1),
    ],
    "opus": [
        (["--rate", "16000", "--channels", "mono"], "libopus-fast", 24000, 1),
        (["--rate", "8000", "--channels", "mono"], "libopus-fast", 12000, 1),
        (["--rate", "22050", "--channels", "mono"], "libopus-fast", 24000, 1),
        (["--rate", "16000", "--channels", "keep"], "libopus-fast", 24000, 2),
        (["--rate", "24000", "--channels", "keep"], None, 48000, 2),
        (["--channels", "mono"], "libopus-fast", 48000, 1),
        (["--rate", "44100", "--channels", "keep"], None, 48000, 2),
    ],
}
CASES["webm"] = CASES["opus"][:2] + CASES["opus"][5:]

AMP = 0.5
gen_music = os.path.join(D, "music.wav")
subprocess.run([W, "gen", gen_music, "--seconds", "20", "--signal", "music"], check=True,
               capture_output=True)

for codec, (ext, enc, in_rate, frame) in CODECS.items():
    src = {}

    def make(name, filt):
        src[name] = os.path.join(D, name + ext)
        ff("-f", "lavfi", "-i", filt + ":s=%d:d=6:c=stereo" % in_rate, *enc, src[name])

    sine = "%g*sin(2*PI*%d*t)"
    make("sine1k", "aevalsrc=" + sine % (AMP, 1000) + "|" + sine % (AMP, 1000))
    make("lr", "aevalsrc=" + sine % (AMP, 1000) + "|" + sine % (AMP, 1500))
    for f in (10000, 15000):
        make("hf%d" % f, "aevalsrc=" + sine % (AMP, f) + "|" + sine % (AMP, f))
    src["music"] = os.path.join(D, "music" + ext)
    ff("-i", gen_music, *enc, src["music"])

    for args, want_path, want_rate, want_ch in CASES[codec]:
        label = "%s %s" % (codec, " ".join(args))
        out_f, out_n = os.path.join(D, "fast.wav"), os.path.join(D, "normal.wav")
        outs = {}
        for name in ("sine1k", "lr", "music", "hf10000", "hf15000"):
            outs[name] = (run(src[name], out_f, args, True), run(src[name], out_n, args, False))
        (pf, dr, dc, rf, xf), (pn, _, _, rn, xn) = outs["sine1k"]
        check(pf == (want_path or pn) and dr == want_rate and dc == want_ch,
              "%s: path %s decodes at %d Hz %d ch" % (label, pf, dr, dc))
        check(pn in ("libsndfile", "ffmpeg"), "%s: --no-fast-path reads with %s" % (label, pn))
        check(rf == rn and xf.shape[1] == xn.shape[1],
              "%s: same output rate %d and channels %d" % (label, rf, xf.shape[1]))
        # One codec frame (1152 samples for MP3, 960 for Opus at 48 kHz) at the output rate.
        slack = int(np.ceil(frame * rf / in_rate)) + 1
        for name, ((_, _, _, _, a), (_, _, _, _, b)) in outs.items():
            check(abs(len(a) - len(b)) <= slack,
                  "%s: %s frames %d fast vs %d normal (slack %d)" % (label, name, len(a), len(b),
                                                                     slack))
        tf = thdn_db(mid(xf[:, 0], rf), rf, 1000)
        tn = thdn_db(mid(xn[:, 0], rn), rn, 1000)
        check(tf <= tn + 1.0, "%s: THD+N 1 kHz fast %.1f dB, normal %.1f dB" % (label, tf, tn))
        lf, ln = level_db(mid(xf[:, 0], rf), AMP), level_db(mid(xn[:, 0], rn), AMP)
        check(abs(lf - ln) < 0.05, "%s: 1 kHz level fast %.2f dB, normal %.2f dB" % (label, lf, ln))
        for f in (10000, 15000):
            (_, _, _, _, a), (_, _, _, _, b) = outs["hf%d" % f]
            if f < rf / 2:
                continue  # not above the output's Nyquist
            rj_f, rj_n = -level_db(mid(a, rf), AMP), -level_db(mid(b, rn), AMP)
            check(rj_f >= min(rj_n, 90.0) - 3.0,
                  "%s: %d Hz rejected by %.1f dB fast, %.1f dB normal" % (label, f, rj_f, rj_n))
        for name in ("music", "lr"):
            (_, _, _, _, a), (_, _, _, _, b) = outs[name]
            dd = diff_db(a, b)
            check(dd <= -60.0, "%s: %s difference fast - normal %.1f dB" % (label, name, dd))

    # Bad input through the fast path: a clear error, no crash, the same
    # verdict as the normal path.
    cut = os.path.join(D, "cut" + ext)
    with open(src["music"], "rb") as f:
        b = f.read()
    with open(cut, "wb") as f:
        f.write(b[:len(b) // 2])
    bad = os.path.join(D, "bad" + ext)
    with open(bad, "wb") as f:
        f.write(b[:4096] + bytes((i * 151 + 7) & 255 for i in range(200000)))
    for name in (cut, bad):
        verdicts = []
        for fast in (True, False):
            cmd = [W, "process", name, os.path.join(D, "x.wav"), "--rate", "16000", "--channels",
                   "mono"] + ([] if fast else ["--no-fast-path"])
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            verdicts.append((p.returncode, p.stderr.strip().split(": ", 2)[-1][:60]))
        check(verdicts[0][0] in (0, 1) and verdicts[0][0] == verdicts[1][0] and
              (verdicts[0][0] == 0 or verdicts[0][1]),
              "%s %s: fast %s, normal %s" % (codec, os.path.basename(name), verdicts[0],
                                             verdicts[1]))

shutil.rmtree(D)
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
