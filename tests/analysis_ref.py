"""Analysis arrays against torchaudio (tests/analysis.cmake).

wiggly's arrays (`wiggly process IN OUT --array ...`) are compared with
torchaudio's Spectrogram, MelSpectrogram + AmplitudeToDB and MFCC, run in
float64 on the same audio: the chain's output is written as 32-bit float
WAV by the same `wiggly process` call and read back with the standard
library (struct), so the reference sees exactly the samples wiggly
analysed. Signals: music, sweep and noise (`wiggly gen`), at 16000, 22050
and 44100 Hz, n_fft 400 (not a power of two: KISS FFT), 512, 1024 and
2048 (the vector FFT of audio/rfft.c).

Tolerances: shapes identical; dB mel within 0.01 dB wherever the reference
is within 80 dB of the track's maximum (below it both are clamped); power
and magnitude stft and power mel within a relative error of 1e-4 of the
frame's largest bin (KISS FFT works in float32); MFCC within 0.01 (in dB
units). Exit 77 when torchaudio is missing (ctest: skipped).

usage: analysis_ref.py WIGGLY WORKDIR
Importable: tests/analysis_gs.py uses read_float_wav, check_db and the
torchaudio references (ref_logmel, ref_mfcc).
"""
import os
import struct
import subprocess
import sys
import warnings

try:
    import numpy as np
    import torch
    import torchaudio.transforms as T
except ImportError as e:  # pragma: no cover
    print("skipped: %s (scripts/deps.sh installs python3-torchaudio)" % e)
    sys.exit(77)

warnings.filterwarnings("ignore", message="At least one mel filterbank")
WIGGLY = WORK = None
failures = []
checked = 0


def run(*args):
    r = subprocess.run([WIGGLY, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))


def read_float_wav(path):
    # The wave module refuses WAVE_FORMAT_IEEE_FLOAT: walk the RIFF chunks.
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    tag, ch, rate, _, _, bits = fmt
    assert bits == 32 and tag in (3, 0xFFFE), fmt
    x = np.frombuffer(pcm, dtype="<f4").astype(np.float64).reshape(-1, ch)
    return rate, x.mean(axis=1)


def fail(what, msg):
    failures.append("%s: %s" % (what, msg))


def check_db(what, got, ref, top_db=80.0):
    global checked
    checked += 1
    if got.shape != ref.shape:
        return fail(what, "shape %s, torchaudio %s" % (got.shape, ref.shape))
    live = ref > ref.max() - top_db + 1e-9
    err = np.abs(got.astype(np.float64) - ref)[live].max()
    if not err <= 0.01:
        fail(what, "dB error %.5f > 0.01" % err)
    return err


def check_abs(what, got, ref, tol=0.01):
    """MFCC: the largest absolute difference (dB units) at most tol."""
    global checked
    checked += 1
    if got.shape != ref.shape:
        return fail(what, "shape %s, torchaudio %s" % (got.shape, ref.shape))
    err = np.abs(got.astype(np.float64) - ref).max()
    if not err <= tol:
        fail(what, "error %.5f > %g" % (err, tol))
    return err


def check_rel(what, got, ref, tol=1e-4):
    global checked
    checked += 1
    if got.shape != ref.shape:
        return fail(what, "shape %s, torchaudio %s" % (got.shape, ref.shape))
    scale = ref.max(axis=1, keepdims=True) + 1e-30
    err = (np.abs(got.astype(np.float64) - ref) / scale).max()
    if not err <= tol:
        fail(what, "relative error %.2e > %g" % (err, tol))
    return err


def ref_mel(x, rate, n_fft, hop, n_mels, **kw):
    """torchaudio's MelSpectrogram (power 2, centred, reflect) in float64 of
    the mono float64 signal x: (n_mels, frames)."""
    return T.MelSpectrogram(sample_rate=rate, n_fft=n_fft, hop_length=hop, center=True,
                            pad_mode="reflect", power=2.0, n_mels=n_mels,
                            **kw).to(torch.float64)(torch.from_numpy(x))


def ref_logmel(x, rate, n_fft, hop, n_mels, top_db=80):
    """Slaney mel in dB with the top_db floor, wiggly's layout (frames, n_mels)."""
    m = ref_mel(x, rate, n_fft, hop, n_mels, norm="slaney", mel_scale="slaney")
    return T.AmplitudeToDB(stype="power", top_db=top_db).to(torch.float64)(m).numpy().T


def ref_mfcc(x, rate, n_fft, hop, n_mels, n_mfcc):
    """torchaudio's MFCC (ortho DCT of the dB Slaney mel, top_db 80): (frames, n_mfcc)."""
    mf = T.MFCC(sample_rate=rate, n_mfcc=n_mfcc, norm="ortho", log_mels=False,
                melkwargs=dict(n_fft=n_fft, hop_length=hop, n_mels=n_mels, center=True,
                               pad_mode="reflect", power=2.0, norm="slaney",
                               mel_scale="slaney")).to(torch.float64)
    return mf(torch.from_numpy(x)).numpy().T


def main():
    global WIGGLY, WORK
    WIGGLY, WORK = sys.argv[1], sys.argv[2]
    os.makedirs(WORK, exist_ok=True)
    worst = {}
    for signal in ("music", "sweep", "noise"):
        for rate in (16000, 22050, 44100):
            src = os.path.join(WORK, "%s-%d.flac" % (signal, rate))
            run("gen", src, "--signal", signal, "--seconds", "3.3", "--rate", "48000",
                "--channels", "2", "--seed", "7")
            for n_fft in (400, 512, 1024, 2048):
                hop = n_fft // 4 if n_fft != 1024 else 256
                base = os.path.join(WORK, "%s-%d-%d" % (signal, rate, n_fft))
                common = "n_fft=%d,hop=%d" % (n_fft, hop)
                arrays = {
                    "logmel": "mel,%s,n_mels=128,db=true" % common,
                    "mel": "mel,%s,n_mels=64" % common,
                    "htk": "mel,%s,n_mels=40,mel_scale=htk,norm=none,db=true,fmin=30,fmax=%d"
                           % (common, rate // 2 - 1000),
                    "mfcc": "mfcc,%s,n_mels=128,n_mfcc=20" % common,
                    "stft": "stft,%s" % common,
                    "mag": "stft,%s,power=1" % common,
                }
                args = ["process", src, base + ".wav", "--rate", str(rate), "--bits", "32"]
                for name, spec in arrays.items():
                    args += ["--array", "%s@%s.%s.npy" % (spec, base, name)]
                run(*args)
                sr, x = read_float_wav(base + ".wav")
                assert sr == rate
                xt = torch.from_numpy(x)
                got = {k: np.load("%s.%s.npy" % (base, k)) for k in arrays}
                for k, v in got.items():
                    assert v.dtype == np.float32 and v.flags.c_contiguous, k

                todb = T.AmplitudeToDB(stype="power", top_db=80).to(torch.float64)
                what = "%s %d Hz n_fft %d" % (signal, rate, n_fft)
                e = {}
                e["logmel"] = check_db(what + " logmel", got["logmel"],
                                       ref_logmel(x, rate, n_fft, hop, 128))
                m64 = ref_mel(x, rate, n_fft, hop, 64, norm="slaney", mel_scale="slaney")
                e["mel"] = check_rel(what + " mel", got["mel"], m64.numpy().T)
                mh = T.MelSpectrogram(sample_rate=rate, n_fft=n_fft, hop_length=hop, center=True,
                                      pad_mode="reflect", power=2.0, n_mels=40, f_min=30,
                                      f_max=rate // 2 - 1000, norm=None,
                                      mel_scale="htk").to(torch.float64)(xt)
                e["htk"] = check_db(what + " htk", got["htk"], todb(mh).numpy().T)
                e["mfcc"] = check_abs(what + " mfcc", got["mfcc"],
                                      ref_mfcc(x, rate, n_fft, hop, 128, 20))
                for name, p in (("stft", 2.0), ("mag", 1.0)):
                    s = T.Spectrogram(n_fft=n_fft, hop_length=hop, center=True,
                                      pad_mode="reflect", power=p).to(torch.float64)(xt)
                    e[name] = check_rel(what + " " + name, got[name], s.numpy().T)
                for k, v in e.items():
                    if v is not None:
                        worst[k] = max(worst.get(k, 0), v)
    # Shorter than n_fft/2 + 1 samples: torchaudio's reflect padding refuses
    # it; numpy's np.pad(mode="reflect") (librosa's padding) folds it.
    for n in (1, 2, 100, 513):
        src = os.path.join(WORK, "short-%d.flac" % n)
        run("gen", src, "--signal", "noise", "--seconds", "%.6f" % (n / 16000), "--rate",
            "16000", "--channels", "1")
        out = os.path.join(WORK, "short-%d" % n)
        run("process", src, out + ".wav", "--bits", "32", "--array",
            "stft,n_fft=1024,hop=256@%s.npy" % out)
        _, x = read_float_wav(out + ".wav")
        p = np.pad(x, 512, mode="reflect") if len(x) > 1 else np.full(len(x) + 1024, x[0])
        w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
        frames = [p[t * 256:t * 256 + 1024] * w for t in range(1 + len(x) // 256)]
        ref = np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2
        check_rel("short %d" % n, np.load(out + ".npy"), ref)
    print("checked %d arrays against torchaudio; worst errors: %s" % (
        checked, ", ".join("%s %.2e" % kv for kv in sorted(worst.items()))))
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
