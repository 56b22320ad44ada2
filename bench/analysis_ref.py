"""The torchaudio side of bench/analysis_bench.sh: decode (torchaudio.load,
sox_io), mono mixdown, resample to 16 kHz (torchaudio.functional.resample)
and the log-mel of the wiggly side (128 Slaney mels, n_fft 1024, hop 256,
power 2, dB with top_db 80), saved as .npy.   usage: IN OUT.npy"""
import sys

import numpy as np
import torch
import torchaudio
import torchaudio.transforms as T

x, sr = torchaudio.load(sys.argv[1])
x = torchaudio.functional.resample(x.mean(dim=0), sr, 16000)
mel = T.MelSpectrogram(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=128, center=True,
                       pad_mode="reflect", power=2.0, norm="slaney", mel_scale="slaney")
db = T.AmplitudeToDB(stype="power", top_db=80)
with torch.no_grad():
    np.save(sys.argv[2], db(mel(x)).numpy().T)
