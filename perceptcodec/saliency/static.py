"""What people look at in a still picture besides faces: a learned map or the spectral residual.

- The learned map (``StaticNet``, the default): ImageNet MobileNetV2 features read out by a
  small head trained here on eye-tracking images (``perceptcodec.training.static_net``; model
  card ``perceptcodec/models/static/MODEL_CARD.md``), run with ONNX Runtime.
- Spectral residual (Hou & Zhang, CVPR 2007): the log amplitude spectrum minus its local
  mean, back to the image with the original phase, squared and blurred, marks what stands out
  of the picture's average statistics (text, objects, edges of salient regions).

Either, weighted by the centre bias, is the prior's background map in place of the centre
alone; the mix with the centre was set on fitting images (``eval/static_background.py``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.base import cpu_session, normalise_map

SR_WIDTH = 64  # pixels: the scale of the spectral residual (the paper's)
NET_SIZE = (384, 288)  # (W, H) pixels the learned map was trained at; frames: 384 wide


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


def static_net_file() -> Path:
    """Where the shipped learned static map (ONNX) lies; see :func:`static_net_path`."""
    return models_dir() / "static" / "static.onnx"


def static_net_path() -> Path:
    """The shipped learned static map (ONNX); a one-line error when it is missing."""
    path = static_net_file()
    if not path.exists():
        raise PerceptcodecError(f"{path}: static saliency weights missing (reinstall perceptcodec)")
    return path


def net_input_size(height: int, width: int) -> tuple[int, int]:
    """(W, H) pixels a picture of height x width is resized to for the learned map:
    NET_SIZE[0] wide, the height kept in proportion, rounded to a multiple of 32 (its
    deepest stage's stride), at least 32."""
    return NET_SIZE[0], max(32, 32 * round(NET_SIZE[0] * height / width / 32))


class StaticNet:
    """The learned static map: ``net(rgb, grid)`` for an H x W x 3 uint8 RGB picture gives an
    h x w float32 map summing to 1 (before the centre bias), from the picture at
    :func:`net_input_size`."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        self.session = cpu_session(path or static_net_path(), threads)

    def __call__(self, rgb: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
        small = cv2.resize(rgb, net_input_size(*rgb.shape[:2]), interpolation=cv2.INTER_AREA)
        x = (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        logit = self.session.run(None, {"rgb": np.ascontiguousarray(x)})[0][0, 0]
        sal = np.exp(logit - logit.max()).astype(np.float32)
        return normalise_map(cv2.resize(sal, grid[::-1], interpolation=cv2.INTER_LINEAR))


def static_background(
    rgb: np.ndarray, center: np.ndarray, weight: float, net: StaticNet | None = None
) -> np.ndarray:
    """(1 - weight) x centre + weight x (what stands out x centre, renormalised), on the
    centre map's grid (h x w, summing to 1); ``weight`` 0 gives the centre alone. What stands
    out: ``net``'s map of the H x W x 3 uint8 RGB picture, or without a net its spectral
    residual."""
    if weight <= 0:
        return center
    if net is not None:
        out = net(rgb, center.shape)
    else:
        out = spectral_residual(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), center.shape)
    salient = normalise_map(out * center)
    return normalise_map((1 - weight) * center / center.sum() + weight * salient)
