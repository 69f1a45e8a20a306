"""The training-free default model: faces + motion + centre bias, at low resolution.

Cheap enough to run beside x264 on 2 cores: faces are detected every ``face_stride`` frames
(CenterFace, one thread) and tracked in between; motion is DIS optical flow on a 128-pixel-wide
frame; everything is mixed on a grid a quarter of the working resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from perceptcodec.saliency.base import aspect_size, normalise_map
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.faces import FaceDetector, FaceTracker, Track
from perceptcodec.saliency.motion import MotionSaliency
from perceptcodec.saliency.options import PriorOptions


def face_map(
    tracks: list[Track], frame_shape: tuple[int, int], grid: tuple[int, int]
) -> np.ndarray:
    """Sum of one Gaussian per face on an h x w ``grid`` covering a frame of ``frame_shape``
    (H, W pixels): centred on the upper middle of the box (eyes and nose), sigma 0.35 of the
    box per axis, weight score x sqrt(area). Not normalised; all zero without faces."""
    gh, gw = grid
    fh, fw = frame_shape
    ys = (np.arange(gh) + 0.5) * fh / gh
    xs = (np.arange(gw) + 0.5) * fw / gw
    out = np.zeros(grid, np.float32)
    for track in tracks:
        x0, y0, x1, y1 = track.box
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        cx, cy = (x0 + x1) / 2, y0 + 0.45 * bh
        gx = np.exp(-((xs - cx) ** 2) / (2 * (0.35 * bw) ** 2))
        gy = np.exp(-((ys - cy) ** 2) / (2 * (0.35 * bh) ** 2))
        g = np.outer(gy, gx)
        out += track.score * np.sqrt(bw * bh) * g / max(float(g.sum()), 1e-12)
    return out


class PriorSaliency:
    """Training-free saliency (``name = "prior"``), set by :class:`PriorOptions`.

    Frames arrive resized to ``size_for(W, H)`` (``options.width`` wide, aspect kept).
    ``detector`` replaces CenterFace (tests). Output: (H/4) x (W/4) of the working size,
    summing to 1.
    """

    name = "prior"
    audio_rate = 0
    audio_window_s = 0.0

    def __init__(
        self, options: PriorOptions | None = None, detector: FaceDetector | None = None
    ) -> None:
        o = options or PriorOptions()
        self.options = o
        self.width = o.width
        self.weights = {"face": o.face_weight, "motion": o.motion_weight, "center": o.center_weight}
        self.center_sigma = o.center_sigma
        self.temporal = o.temporal
        detector = detector or FaceDetector(input_width=o.width)
        self.tracker = FaceTracker(detector, stride=o.face_stride)
        self.motion = MotionSaliency()
        self._prev: np.ndarray | None = None

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """Working (width, height) for a source frame: ``self.width`` wide, aspect kept, even."""
        return aspect_size(self.width, width, height)

    def reset(self) -> None:
        self.tracker.reset()
        self.motion.reset()
        self._prev = None

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        h, w = rgb.shape[:2]
        grid = (max(h // 4, 1), max(w // 4, 1))
        motion = cv2.resize(self.motion(rgb), grid[::-1], interpolation=cv2.INTER_AREA)
        parts = {
            "face": face_map(self.tracker(rgb, self.motion.flow), (h, w), grid),
            "motion": motion,
            "center": center_gaussian(grid, self.center_sigma),
        }
        sal = np.zeros(grid, np.float32)
        for name, part in parts.items():
            total = float(part.sum())
            if total > 0 and self.weights[name] > 0:
                sal += self.weights[name] * part / total
        sal = normalise_map(sal)
        if self._prev is not None and self._prev.shape == sal.shape and self.temporal > 0:
            sal = self.temporal * self._prev + (1 - self.temporal) * sal
        self._prev = sal
        return sal
