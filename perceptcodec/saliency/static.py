"""What people look at in a still picture besides faces: spectral-residual saliency.

Hou & Zhang (CVPR 2007): the log amplitude spectrum minus its local mean, back to the image
with the original phase, squared and blurred, marks what stands out of the picture's average
statistics (text, objects, edges of salient regions). Weighted by the centre bias, it is the
prior's background map in place of the centre alone; the mix was set on EyeCrowd's fitting
split (``eval/static_background.py``).
"""

from __future__ import annotations

import cv2
import numpy as np

from perceptcodec.saliency.base import normalise_map

SR_WIDTH = 64  # pixels: the scale of the spectral residual (the paper's)


def spectral_residual(grey: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Spectral-residual saliency of an H x W uint8 ``grey`` picture on an h x w ``grid``,
    float32 summing to 1 (computed at SR_WIDTH pixels wide, blurred with sigma 2.5 px there)."""
    height = max(8, round(SR_WIDTH * grey.shape[0] / grey.shape[1]))
    small = cv2.resize(grey, (SR_WIDTH, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-6).astype(np.float32)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), 2.5)
    return normalise_map(cv2.resize(sal, grid[::-1], interpolation=cv2.INTER_LINEAR))


def static_background(grey: np.ndarray, center: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x centre + weight x (spectral residual x centre, renormalised), on the
    centre map's grid (h x w, summing to 1); ``weight`` 0 gives the centre alone."""
    if weight <= 0:
        return center
    sr = spectral_residual(grey, center.shape) * center
    return normalise_map((1 - weight) * center / center.sum() + weight * normalise_map(sr))
