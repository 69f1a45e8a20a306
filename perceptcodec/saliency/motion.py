"""Cheap motion saliency: dense optical flow at low resolution minus the camera's motion."""

from __future__ import annotations

import cv2
import numpy as np


class MotionSaliency:
    """Magnitude of OpenCV DIS optical flow (ultrafast preset) on a ``width``-pixel-wide grey
    frame, after removing the global (median) flow, i.e. camera pans; blurred. Returns a
    non-negative h x w float32 map (not normalised; all zero when nothing moves). ``flow``
    keeps the last raw h x w x 2 flow (camera motion included; None on a first frame)."""

    def __init__(self, width: int = 128, blur_sigma: float = 2.0) -> None:
        self.width = width
        self.blur_sigma = blur_sigma
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev: np.ndarray | None = None
        self.flow: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = self.flow = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        size = (self.width, max(8, int(round(self.width * h / w))))
        grey = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        prev, self._prev = self._prev, grey
        if prev is None:
            self.flow = None
            return np.zeros(grey.shape, np.float32)
        self.flow = self._flow.calc(prev, grey, None)
        camera = np.median(self.flow[::4, ::4].reshape(-1, 2), axis=0)  # from 1 in 16 vectors
        flow = self.flow - camera
        magnitude = np.sqrt((flow**2).sum(axis=2))
        magnitude[magnitude < 0.5] = 0.0  # sub-pixel jitter is noise, not motion
        return cv2.GaussianBlur(magnitude, (0, 0), self.blur_sigma)
