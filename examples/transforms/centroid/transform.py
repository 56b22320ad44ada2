"""Spectral centroid per frame, with NumPy only: a wiggly transform
(docs/transforms.md, examples/transforms/README.md).

The track arrives as wiggly's steps made it (job.json: mono, 22050 Hz); any
channel count is mixed down here too. Frames: a Hann window (NumPy's
symmetric np.hanning) of n_fft samples every hop samples, no padding, so
frames = 1 + (N - n_fft) // hop (0 when N < n_fft). Per frame, with X its
real FFT and f_k = k * rate / n_fft:

    centroid_hz = sum_k f_k |X_k| / sum_k |X_k|     (0 for a silent frame)

Outputs: "centroid", float32 .npy of shape (frames,); "summary", JSON
{"frames": F, "mean_centroid_hz": M}. Features: {"mean_centroid_hz": M}.
params: n_fft (default 2048), hop (default 512).
"""

import json

import numpy as np

import wiggly_transform

BLOCK = 256  # frames per FFT call: bounds memory on long tracks


def _positive_int(params, key, default):
    v = params.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise wiggly_transform.Permanent("params.%s must be a positive integer, got %r" % (key, v))
    return v


def spectral_centroid(mono, rate, n_fft, hop):
    """Per-frame spectral centroid in Hz of a 1-D signal, float64."""
    n = mono.shape[0]
    frames = 1 + (n - n_fft) // hop if n >= n_fft else 0
    out = np.zeros(frames, dtype=np.float64)
    if frames == 0:
        return out
    window = np.hanning(n_fft)
    freqs = np.arange(n_fft // 2 + 1) * (rate / n_fft)
    view = np.lib.stride_tricks.sliding_window_view(mono, n_fft)[::hop]
    for start in range(0, frames, BLOCK):
        mag = np.abs(np.fft.rfft(view[start:start + BLOCK] * window, axis=1))
        total = mag.sum(axis=1)
        weighted = mag @ freqs
        np.divide(weighted, total, out=out[start:start + BLOCK], where=total > 0)
    return out


def process(audio, rate, element, params, outputs):
    n_fft = _positive_int(params, "n_fft", 2048)
    hop = _positive_int(params, "hop", 512)
    mono = audio.mean(axis=1, dtype=np.float64)
    centroid = spectral_centroid(mono, rate, n_fft, hop)
    mean = float(centroid.mean()) if centroid.size else 0.0
    np.save(outputs["centroid"], centroid.astype(np.float32))
    with open(outputs["summary"], "w") as f:
        json.dump({"frames": int(centroid.size), "mean_centroid_hz": mean}, f)
        f.write("\n")
    return {"mean_centroid_hz": mean}


if __name__ == "__main__":
    wiggly_transform.run(process, name="centroid", version="1.0")
