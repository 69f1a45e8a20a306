"""Small synthetic media and checks for tests (no shared data needed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.encoder import RateControl, X264Options
from perceptcodec.io.synthetic import make_video, textured_frame
from perceptcodec.roi import RoiSettings

__all__ = [
    "BoxSaliency",
    "config",
    "luma_frames",
    "make_video",
    "psnr",
    "smooth_picture",
    "textured_frame",
]


def config(
    saliency: object = "none",
    bitrate: str | None = "300k",
    crf: float | None = None,
    two_pass: bool = False,
    preset: str = "medium",
    strength: float = 0.7,
) -> EncodeConfig:
    """An EncodeConfig from the few settings tests vary."""
    return EncodeConfig(
        rate=RateControl.choose(bitrate, crf, None, two_pass),
        x264=X264Options(preset=preset),
        roi=RoiSettings(strength=strength),
        saliency=SaliencySpec(saliency),
    )


def smooth_picture(width: int, height: int, seed: int) -> np.ndarray:
    """H x W x 3 uint8 grey picture: blurred noise (sigma 6 px), mean 120, contrast ~40.
    Two seeds give pictures of the same brightness and histogram but other content: shots
    that only a content difference tells apart."""
    rng = np.random.default_rng(seed)
    grey = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 6)
    grey = np.clip(120 + 40 * grey / grey.std(), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def luma_frames(path: Path) -> list[np.ndarray]:
    """Every frame's Y plane as coded (8-bit, no range conversion; format="gray" would expand
    limited-range luma): :func:`perceptcodec.evaluation.scoring.coded_luma`."""
    from perceptcodec.evaluation.scoring import coded_luma

    with av.open(str(path)) as c:
        return [coded_luma(f) for f in c.decode(video=0)]


class BoxSaliency:
    """A saliency 'model' with a known ROI: all mass in one rectangle given as fractions
    (x0, y0, x1, y1) of the frame."""

    name = "box"
    audio_rate = 0
    audio_window_s = 0.0

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box = box

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        return 64, 36

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        h, w = 36, 64
        sal = np.zeros((h, w), np.float32)
        x0, y0, x1, y1 = self.box
        sal[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] = 1.0
        return sal / sal.sum()

    def reset(self) -> None:
        pass


def lossless_clip(path: Path, width: int = 320, height: int = 176, frames: int = 24) -> Path:
    """A 24 frames/s FFV1 clip (``path`` in .nut: time base 1/24, constant frame rate) whose
    Y/U/V planes are made in numpy (BT.601 limited range from :func:`textured_frame`, chroma
    as 2 x 2 means): it decodes to the same pixels with any FFmpeg, unlike a clip written
    through PyAV's own libx264 and scaler."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.time_base = Fraction(1, 24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            rgb = textured_frame(width, height, i).astype(np.float32)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
            u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
            v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
            planes = [y] + [c.reshape(height // 2, 2, width // 2, 2).mean((1, 3)) for c in (u, v)]
            planes = [np.clip(np.rint(c), 0, 255).astype(np.uint8) for c in planes]
            quarter = (height // 4, width)
            data = np.concatenate([planes[0], *(c.reshape(quarter) for c in planes[1:])])
            frame = av.VideoFrame.from_ndarray(data, format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
