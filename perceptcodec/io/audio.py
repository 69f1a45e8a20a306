"""Audio as numpy for audio-visual saliency models."""

from __future__ import annotations

import os

import av
import av.error
import numpy as np


def load_audio_mono(path: str | os.PathLike[str], rate: int) -> np.ndarray | None:
    """The first audio stream as mono float32 samples at ``rate`` Hz (None without audio).

    Whole-track in memory: 64 kB per second at 16 kHz (about 38 MB for 10 minutes)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            pass  # keep what decoded: a damaged audio track must not stop a video encode
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def window_samples(rate: int, window_s: float) -> int:
    """Samples in a window of ``window_s`` seconds at ``rate`` Hz (rounded, at least 1)."""
    return max(1, int(round(window_s * rate)))


def audio_window(samples: np.ndarray, rate: int, t: float, window_s: float) -> np.ndarray:
    """``window_s`` seconds of mono audio centred on time ``t`` (s), zero-padded at the ends.

    samples: (S,) float at ``rate`` Hz, the whole track. Returns (window_samples(rate,
    window_s),) float32; its middle sample is ``round(t * rate)``. The one definition used by
    streaming inference (:mod:`perceptcodec.saliency.stream`) and by VAM-Net training
    (:mod:`perceptcodec.training.data`), so both cut the same samples."""
    n = window_samples(rate, window_s)
    start = int(round(t * rate)) - n // 2
    out = np.zeros(n, np.float32)
    lo, hi = max(start, 0), min(start + n, len(samples))
    if hi > lo:
        out[lo - start : hi - start] = samples[lo:hi]
    return out
