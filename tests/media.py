"""Small synthetic media and checks for tests (no shared data needed)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from perceptcodec.io.synthetic import make_video, textured_frame

__all__ = ["BoxSaliency", "luma_frames", "make_video", "psnr", "textured_frame"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def luma_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]


class BoxSaliency:
    """A saliency 'model' with a known ROI: all mass in one rectangle given as fractions
    (x0, y0, x1, y1) of the frame."""

    name = "box"
    input_size = (64, 36)
    audio_rate = 0
    audio_window_s = 0.0

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box = box

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        h, w = 36, 64
        sal = np.zeros((h, w), np.float32)
        x0, y0, x1, y1 = self.box
        sal[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] = 1.0
        return sal / sal.sum()

    def reset(self) -> None:
        pass
