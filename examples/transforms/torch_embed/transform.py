"""A small PyTorch model as a wiggly transform (docs/transforms.md,
examples/transforms/README.md): a 32-dimensional embedding per track.

The model is defined here and its weights come from torch.manual_seed(0), so
the output is deterministic and nothing is downloaded; swap in your own
nn.Module and load its state_dict in setup(). CPU only, one thread per child
(wiggly runs transform.workers children side by side).

Front end: torch.stft (Hann, n_fft 512, hop 256, no centring) -> power ->
40 triangular mel bands -> log. Model: Conv1d(40, 64, 3) + ReLU -> mean over
time -> Linear(64, 32). Output "embedding": float32 .npy of shape (32,).
Features: {"embedding_norm": L2 norm}.
"""

import math

import numpy as np
import torch

import wiggly_transform

N_FFT = 512
HOP = 256
N_MELS = 40
DIM = 32
CHUNK_FRAMES = 4096  # STFT frames per call: bounds memory on long tracks

model = None
_filterbanks = {}


class Embedder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(N_MELS, 64, kernel_size=3, padding=1)
        self.proj = torch.nn.Linear(64, DIM)

    def forward(self, logmel):  # (batch, N_MELS, frames) -> (batch, DIM)
        h = torch.relu(self.conv(logmel))
        return self.proj(h.mean(dim=2))


def mel_filterbank(rate):
    """(N_MELS, N_FFT // 2 + 1) triangular filters, evenly spaced in mel
    between 0 Hz and rate / 2."""
    if rate in _filterbanks:
        return _filterbanks[rate]
    mel = lambda hz: 2595.0 * math.log10(1.0 + hz / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = torch.tensor([hz(mel(rate / 2) * i / (N_MELS + 1)) for i in range(N_MELS + 2)],
                         dtype=torch.float64)
    freqs = torch.arange(N_FFT // 2 + 1, dtype=torch.float64) * rate / N_FFT
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / (mid - lo)
    down = (hi - freqs) / (hi - mid)
    fb = torch.clamp(torch.minimum(up, down), min=0.0).to(torch.float32)
    _filterbanks[rate] = fb
    return fb


def log_mel(mono, rate):
    """(N_MELS, frames) log-mel of a 1-D float32 tensor, computed in chunks."""
    if mono.shape[0] < N_FFT:
        mono = torch.nn.functional.pad(mono, (0, N_FFT - mono.shape[0]))
    frames = 1 + (mono.shape[0] - N_FFT) // HOP
    window = torch.hann_window(N_FFT)
    fb = mel_filterbank(rate)
    parts = []
    for start in range(0, frames, CHUNK_FRAMES):
        count = min(CHUNK_FRAMES, frames - start)
        seg = mono[start * HOP:start * HOP + (count - 1) * HOP + N_FFT]
        spec = torch.stft(seg, N_FFT, hop_length=HOP, window=window, center=False,
                          return_complex=True)
        parts.append(torch.log(fb @ spec.abs().pow(2) + 1e-6))
    return torch.cat(parts, dim=1)


def setup():
    global model
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Embedder().eval()


def process(audio, rate, element, params, outputs):
    mono = torch.from_numpy(np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32))
    with torch.no_grad():
        emb = model(log_mel(mono, rate)[None])[0]
    emb = emb.numpy().astype(np.float32)
    np.save(outputs["embedding"], emb)
    return {"embedding_norm": float(np.linalg.norm(emb))}


if __name__ == "__main__":
    wiggly_transform.run(process, name="torch-embed", version="1.0", setup=setup)
