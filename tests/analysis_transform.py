#!/usr/bin/env python3
"""Analysis arrays through the transform processor (docs/analysis.md,
docs/transforms.md): one `wiggly run` job on file:// with both a transform
(examples/transforms/centroid, a real child process) and `analysis.arrays`.

Checked: every output of both kinds lands (the audio as a 32-bit float WAV,
the features JSON with the transform's key merged, the log-mel dB array, the
centroid and summary of the transform); the array matches torchaudio in
float64 on the WAV's samples (tests/analysis_ref.py: within 0.01 dB where
within 80 dB of the maximum, identical shape); the centroid matches the
example's definition recomputed here from the same samples; a rerun skips;
a deleted array is redone while the transform's outputs are left alone.
Exit 77 (skipped) without torchaudio.
    analysis_transform.py WIGGLY WORKDIR"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import analysis_ref as R  # noqa: E402  (exits 77 without torchaudio)
import numpy as np  # noqa: E402

W, D = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(HERE)
N_FFT, HOP, RATE = 2048, 512, 22050
shutil.rmtree(D, ignore_errors=True)
for sub in ("in", "out", "bin", "tmp"):
    os.makedirs(os.path.join(D, sub))
# The example's command is "python3": the one with NumPy (this interpreter).
os.symlink(sys.executable, os.path.join(D, "bin", "python3"))
env = dict(os.environ, PATH=os.path.join(D, "bin") + os.pathsep + os.environ["PATH"])
R.WIGGLY = W
fails = []


def p(*name):
    return os.path.join(D, *name)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)


for e, sig in (("a", "music"), ("b", "sweep")):
    R.run("gen", p("in", e + ".flac"), "--signal", sig, "--seconds", "5", "--rate", "44100",
          "--channels", "2", "--seed", "9")
open(p("ids.txt"), "w").write("a\nb\n")
job = json.load(open(os.path.join(ROOT, "examples/transforms/centroid/job.json")))
job.update({
    "job": "antf", "events": {"file": p("ids.txt")},
    "input": {"location": "file://%s/" % p("in"), "suffix": ".flac"},
    "output": {"location": "file://%s/" % p("out"), "suffix": ".wav", "audio": True},
    "steps": {"channels": "mono", "rate": RATE, "format": "wav", "bits": 32},
    "features": {"enabled": True},
    "analysis": {"arrays": {"logmel": {"kind": "mel", "n_fft": N_FFT, "hop": HOP, "db": True}}},
    "runtime": {"workers": 0, "temp_dir": p("tmp")},
})
json.dump(job, open(p("job.json"), "w"))


def summary():
    r = subprocess.run([W, "run", "-c", p("job.json")], capture_output=True, text=True, cwd=ROOT,
                       env=env)
    return (r.stdout.strip().splitlines() or [""])[-1] + (" / " + r.stderr[-500:] if r.returncode else "")


s = summary()
check("2 processed, 0 skipped, 0 failed" in s, "run: " + s)
names = sorted(os.listdir(p("out")))
want = sorted(e + k for e in "ab"
              for k in (".wav", ".json", ".logmel.npy", ".centroid.npy", ".summary.json"))
check(names == want, "outputs %s" % names)
for e in "ab":
    sr, x = R.read_float_wav(p("out", e + ".wav"))
    got = np.load(p("out", e + ".logmel.npy"))
    err = R.check_db("transform job %s logmel" % e, got, R.ref_logmel(x, sr, N_FFT, HOP, 128))
    check(err is not None and not R.failures, "%s logmel vs torchaudio: worst %.2e dB" % (e, err or 0))
    # The centroid example's definition (its docstring): symmetric Hann,
    # no padding, sum f_k |X_k| / sum |X_k|.
    c = np.load(p("out", e + ".centroid.npy"))
    frames = 1 + (len(x) - N_FFT) // HOP
    spec = np.abs(np.fft.rfft(np.stack([x[t * HOP:t * HOP + N_FFT] for t in range(frames)])
                              * np.hanning(N_FFT), axis=1))
    ref = (spec * np.fft.rfftfreq(N_FFT, 1 / sr)).sum(axis=1) / spec.sum(axis=1)
    check(c.shape == (frames,) and np.allclose(c, ref, rtol=1e-4, atol=1e-2),
          "%s centroid (%d frames) vs NumPy: worst %.3g Hz" % (e, len(c), np.abs(c - ref).max()))
    f = json.load(open(p("out", e + ".json")))
    check(abs(f.get("mean_centroid_hz", 0) - float(c.mean())) < 1e-3 * float(c.mean()),
          "%s features JSON merges the transform's mean_centroid_hz" % e)
s = summary()
check("0 processed, 2 skipped, 0 failed" in s, "rerun: " + s)
keep = {n: os.stat(p("out", n)).st_mtime_ns for n in os.listdir(p("out")) if n != "b.logmel.npy"}
first = open(p("out", "b.logmel.npy"), "rb").read()
os.remove(p("out", "b.logmel.npy"))
s = summary()
check("1 processed, 1 skipped, 0 failed" in s, "after deleting b.logmel.npy: " + s)
check(open(p("out", "b.logmel.npy"), "rb").read() == first, "the redone array equals the first")
check({n: os.stat(p("out", n)).st_mtime_ns for n in keep} == keep, "the other outputs are left alone")
print("analysis_transform: %d failed" % len(fails) if fails else "analysis_transform: ok")
sys.exit(1 if fails else 0)
