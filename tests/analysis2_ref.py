#!/usr/bin/env python3
"""Fingerprint, tempo, onsets and the picture (docs/analysis.md) against
references nobody here wrote:
- the Chromaprint fingerprint (compressed string and duration) identical to
  fpcalc's on the WAV that `wiggly process` writes with steps 11025 Hz mono,
  from stereo and 5.1 inputs, and at kept channels and rates identical
  (stereo 44.1 kHz) or within 5 % of fpcalc's bits (5.1 48 kHz, decoded
  here and compared with `fpcalc -raw`);
- tempo within 1 BPM of `aubio tempo`, onsets within 1 hop of `aubio onset`
  (same method, buf and hop, native rate), on `wiggly gen --signal music`
  and on a click track made here;
- the PNG decodes (zlib/struct) to the documented size and is not blank;
- end to end through `wiggly run` on file://: the onsets .npy and the PNG
  land, a rerun skips, a deleted PNG is redone.
Exit 77 (skipped) without fpcalc, aubio or numpy.
    analysis2_ref.py WIGGLY WORKDIR"""
import base64, json, math, os, shutil, struct, subprocess, sys, wave, zlib

W, D = sys.argv[1], sys.argv[2]
if not shutil.which("fpcalc") or not shutil.which("aubio"):
    print("skipped: fpcalc or aubio missing (scripts/deps.sh)")
    sys.exit(77)
try:
    import numpy as np
except ImportError:
    sys.exit(77)
shutil.rmtree(D, ignore_errors=True)
os.makedirs(D)


def run(*a):
    return subprocess.run([str(x) for x in a], check=True, capture_output=True, text=True).stdout


def fpcalc(*a):
    # fpcalc 1.5 exits 3 after a full result when FFmpeg reports the end of
    # a WAV file as a read error ("Error decoding audio frame (End of file)").
    r = subprocess.run(["fpcalc"] + [str(x) for x in a], capture_output=True, text=True)
    assert r.returncode in (0, 3) and "FINGERPRINT=" in r.stdout, r.stderr
    return r.stdout


def p(name):
    return os.path.join(D, name)


def click_track(path, bpm, seconds, rate=44100):
    n = int(seconds * rate)
    x = [0.0] * n
    period = 60.0 / bpm
    t = 0.25
    while t < seconds - 0.1:
        s = int(t * rate)
        for i in range(int(0.03 * rate)):
            x[s + i] = 0.8 * math.sin(2 * math.pi * 1500 * i / rate) * math.exp(-i / (0.005 * rate))
        t += period
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(round(v * 32767))) for v in x))


fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what)
    fails += not ok


run(W, "gen", p("music.flac"), "--signal", "music", "--seconds", 40, "--rate", 44100, "--channels", 2)
click_track(p("click.wav"), 100, 30)

def chromaprint_decode(fp):
    """Chromaprint's compressed fingerprint (base64url: algorithm, 24-bit
    count, 3-bit then 5-bit packed bit-position deltas of XOR-ed items) back
    to the raw items `fpcalc -raw` prints."""
    b = base64.urlsafe_b64decode(fp + "=" * (-len(fp) % 4))
    n, bits, pos = int.from_bytes(b[1:4], "big"), int.from_bytes(b[4:], "little"), 0
    normal = []
    while normal.count(0) < n:
        normal.append(bits >> pos & 7)
        pos += 3
    pos = (pos + 7) // 8 * 8
    for i, v in enumerate(normal):
        if v == 7:
            normal[i] += bits >> pos & 31
            pos += 5
    raw, x, last = [], 0, 0
    for v in normal:
        if v == 0:
            raw.append(x ^ (raw[-1] if raw else 0))
            x = last = 0
        else:
            last += v
            x |= 1 << (last - 1)
    return raw


def bit_error_rate(a, b):
    n = min(len(a), len(b))
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b)) / (32.0 * n) if n else 1.0


# Fingerprint (docs/analysis.md "Fingerprint"): fpcalc converts every file to
# 11025 Hz mono with libswresample before Chromaprint sees it, so at steps
# 11025 Hz mono wiggly's fingerprint is identical to fpcalc's on the WAV the
# same steps write, whatever the input's channels (stereo, 5.1). The sweep
# catches a float -> 16-bit conversion that differs from libsndfile's by one
# LSB (music hides it). At other rates and channel counts Chromaprint
# converts by itself: identical for mono and stereo at a rate that is a
# multiple of 11025; a 5.1 output (Chromaprint averages the six channels,
# FFmpeg's matrix weights them) or a 48 kHz sweep (two resamplers) differ in
# a few bits, measured here against fpcalc -raw.
for sig in ("music", "sweep"):
    for ch, rate in ((2, 44100), (6, 48000)):
        src = p("fp-%s-%d.flac" % (sig, ch))
        run(W, "gen", src, "--signal", sig, "--seconds", 30, "--rate", rate, "--channels", ch, "--seed", 4)
        for steps in (("--rate", 11025, "--channels", "mono"), ()):
            wav = p("fp.wav")
            run(W, "process", src, wav, *steps)
            run(W, "process", src, *steps, "--features", p("fp.json"), "--fingerprint")
            got = json.load(open(p("fp.json")))["fingerprint"]
            ref = dict(l.split("=", 1) for l in fpcalc(wav).split())
            raw = [int(v) for v in fpcalc("-raw", wav).split("FINGERPRINT=")[1].split()[0].split(",")]
            ber = bit_error_rate(chromaprint_decode(got["chromaprint"]), raw)
            what = "%s %d ch %d Hz, steps %s" % (sig, ch, rate, " ".join(map(str, steps)) or "none")
            check(got["duration"] == int(ref["DURATION"]), "%s: duration %s == fpcalc's" % (what, got["duration"]))
            if steps or ch == 2:
                check(got["chromaprint"] == ref["FINGERPRINT"] and ber == 0,
                      "%s: fingerprint == fpcalc (bit error rate %.4f)" % (what, ber))
            else:
                check(ber <= 0.05, "%s: fingerprint within 5 %% of fpcalc's bits (bit error rate %.4f)" % (what, ber))

# Tempo and onsets against the aubio command line, on the exact samples
# (mono 16-bit WAVs, which aubio reads as wiggly's chain reads them).
run(W, "process", p("music.flac"), p("music.wav"), "--channels", "mono")
for name, method, buf, hop in (("music", "default", 512, 256), ("click", "hfc", 1024, 512)):
    wav = p(name + ".wav")
    out = run(W, "process", wav, "--features", p(name + ".json"), "--tempo",
              "--onsets=%s,buf=%d,hop=%d@%s" % (method, buf, hop, p(name + ".onsets.npy")))
    f = json.load(open(p(name + ".json")))
    ref_bpm = float(run("aubio", "tempo", wav).split()[0])
    check(abs(f["tempo"]["bpm"] - ref_bpm) <= 1, "%s tempo %.2f vs aubio %.2f" % (name, f["tempo"]["bpm"], ref_bpm))
    ref_on = [float(v) for v in run("aubio", "onset", "-m", method, "-B", buf, "-H", hop, wav).split()]
    got_on = f["onsets"]["times"]
    npy = np.load(p(name + ".onsets.npy"))
    tol = hop / 44100.0 + 1e-6
    check(len(got_on) == len(ref_on) and all(abs(a - b) <= tol for a, b in zip(got_on, ref_on)),
          "%s onsets: %d vs aubio %d, within 1 hop" % (name, len(got_on), len(ref_on)))
    check(npy.shape == (len(got_on), 1) and np.allclose(npy[:, 0], got_on, atol=1e-5),
          "%s onsets .npy (n, 1) == JSON" % name)
# aubio's own tracker reports about 54 BPM for these sparse 100 BPM clicks:
# the test holds wiggly to aubio, not to the click track's nominal tempo.


def png_info(path):
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(b):
        n, typ = struct.unpack(">I4s", b[pos:pos + 8])
        data = b[pos + 8:pos + 8 + n]
        assert zlib.crc32(typ + data) == struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0]
        if typ == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", data)
        elif typ == b"IDAT":
            idat += data
        pos += 12 + n
    w, h, depth, ctype = ihdr[:4]
    assert depth == 8 and ctype == 2
    raw = zlib.decompress(idat)
    stride = 3 * w
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            up, c = prev[i], prev[i - 3] if i >= 3 else 0
            if ft == 1: line[i] = (line[i] + a) & 255
            elif ft == 2: line[i] = (line[i] + up) & 255
            elif ft == 3: line[i] = (line[i] + (a + up) // 2) & 255
            elif ft == 4:
                pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
                pr = a if pa <= pb and pa <= pc else up if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, np.frombuffer(b"".join(rows), np.uint8).reshape(h, w, 3)


# Pictures: 40 s at 44.1 kHz, hop 512 -> 1 + 40*44100//512 = 3446 frames,
# width_max 1024 -> 1024 columns + 48 of margins; 128 mels + 28.
run(W, "process", p("music.flac"), "--plot", p("m.png"))
w, h, img = png_info(p("m.png"))
check((w, h) == (1024 + 48, 128 + 28), "PNG size %dx%d" % (w, h))
inner = img[8:8 + 128, 40:40 + 1024].astype(float)
check(inner.std() > 20, "PNG not blank (std %.1f)" % inner.std())
run(W, "process", p("click.wav"), "--plot", "n_mels=64,axes=false,width_max=4096,colormap=viridis@" + p("c.png"))
w, h, img = png_info(p("c.png"))
check((w, h) == (1 + 30 * 44100 // 512, 64), "PNG without axes %dx%d" % (w, h))
if shutil.which("pngcheck"):
    check(subprocess.run(["pngcheck", "-q", p("m.png"), p("c.png")]).returncode == 0, "pngcheck")

# End to end through wiggly run on file://.
for sub in ("in", "out"):
    os.makedirs(p(sub))
for e in "ab":
    shutil.copy(p("music.flac"), p("in/%s.flac" % e))
open(p("ids.txt"), "w").write("a\nb\n")
job = {"job": "an2", "events": {"file": p("ids.txt")},
       "input": {"location": "file://%s/" % p("in"), "suffix": ".flac"},
       "output": {"location": "file://%s/" % p("out"), "suffix": ".flac"},
       "steps": {"channels": "mono", "rate": 11025},
       "listen": ""}
job["features"] = {"enabled": True, "fingerprint": True, "tempo": True, "onsets": {"suffix": ".onsets.npy"}}
job["analysis"] = {"plot": {"suffix": ".spec.png"}}
json.dump(job, open(p("job.json"), "w"))


def summary():
    r = subprocess.run([W, "run", "-c", p("job.json"), "--log-format", "json"], capture_output=True, text=True)
    return (r.stdout.strip().splitlines() or [""])[-1]


s = summary()
check("2 processed, 0 skipped, 0 failed" in s, "run: " + s)
names = sorted(os.listdir(p("out")))
check(names == sorted("%s.%s" % (e, k) for e in "ab" for k in ("flac", "json", "onsets.npy", "spec.png")), "outputs %s" % names)
fa = json.load(open(p("out/a.json")))
run(W, "process", p("in/a.flac"), p("a11.wav"), "--rate", 11025, "--channels", "mono")
ref = dict(l.split("=", 1) for l in fpcalc(p("a11.wav")).split())
check(fa["fingerprint"]["chromaprint"] == ref["FINGERPRINT"], "run: fingerprint == fpcalc")
s = summary()
check("0 processed, 2 skipped, 0 failed" in s, "rerun: " + s)
os.remove(p("out/b.spec.png"))
s = summary()
check("1 processed, 1 skipped, 0 failed" in s and os.path.exists(p("out/b.spec.png")), "deleted PNG redone: " + s)
print("analysis2_ref: %d failed" % fails if fails else "analysis2_ref: ok")
sys.exit(1 if fails else 0)
