"""Saliency map -> per-macroblock QP offsets for x264 (``quant_offsets``).

For a distortion weighted per block, sum_i w_i D_i, the optimal Lagrangian of block i is
lambda / w_i; x264's lambda doubles every 3 QP, so the optimal offset is
dQP_i = -3 log2(w_i / mean(w)). ``strength`` blends the saliency weights with a uniform floor
(0 = plain x264, 1 = pure saliency weighting), which trades EWPSNR against plain PSNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError

MB = 16  # macroblock size in pixels
_EPS = 1e-6


@dataclass(frozen=True)
class RoiSettings:
    """strength: 0..1 share of saliency in the block weights; max_delta_qp: clip (QP units);
    smoothing: 0..1 weight of the previous frame's offsets (temporal EMA, 0 = none)."""

    strength: float = 0.7
    max_delta_qp: float = 8.0
    smoothing: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise PerceptcodecError(f"strength {self.strength} must lie in 0..1")
        if not 0.0 <= self.max_delta_qp <= 51.0:
            raise PerceptcodecError(f"max delta QP {self.max_delta_qp} must lie in 0..51")
        if not 0.0 <= self.smoothing < 1.0:
            raise PerceptcodecError(f"smoothing {self.smoothing} must lie in 0..1 (1 excluded)")


def mb_grid(frame_size: tuple[int, int]) -> tuple[int, int]:
    """(mb_rows, mb_cols) for a (width, height) frame: ceil(H/16) x ceil(W/16)."""
    width, height = frame_size
    return -(-height // MB), -(-width // MB)


def mb_mean(saliency: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Mean saliency per macroblock. saliency: h x w map covering the whole frame (any size);
    frame_size: (width, height) in pixels. Returns float32 (mb_rows x mb_cols); partial blocks
    at the right/bottom edge average only the pixels inside the frame."""
    width, height = frame_size
    rows, cols = mb_grid(frame_size)
    sal = np.asarray(saliency, dtype=np.float32)
    if sal.ndim != 2 or sal.size == 0:
        raise ValueError(f"saliency must be a non-empty 2-D map, got shape {sal.shape}")
    # Resample to 4 x 4-pixel cells (area-averaging), then average 4 x 4 cells per block (an
    # exact box mean: INTER_AREA by an integer factor); edge blocks count only their cells.
    cw, ch = -(-width // 4), -(-height // 4)
    cells = cv2.resize(sal, (cw, ch), interpolation=cv2.INTER_AREA)
    if (ch, cw) != (rows * 4, cols * 4):
        cells = cv2.copyMakeBorder(cells, 0, rows * 4 - ch, 0, cols * 4 - cw, cv2.BORDER_CONSTANT)
    total = cv2.resize(cells, (cols, rows), interpolation=cv2.INTER_AREA) * 16
    row_cells = np.clip(ch - 4 * np.arange(rows), 0, 4)
    col_cells = np.clip(cw - 4 * np.arange(cols), 0, 4)
    return (total / np.outer(row_cells, col_cells)).astype(np.float32)


def dqp_from_weights(weights_mb: np.ndarray, settings: RoiSettings) -> np.ndarray:
    """QP offsets (float32, QP units, same shape) from per-block saliency weights: blend with a
    uniform floor, -3 log2(w / mean w), clip to +/- max_delta_qp, then re-centre to mean 0."""
    w = np.clip(np.asarray(weights_mb, dtype=np.float64), 0.0, None)
    mean = w.mean()
    w = w / mean if mean > 0 else np.ones_like(w)
    w = settings.strength * w + (1.0 - settings.strength)
    dqp = -3.0 * np.log2(np.maximum(w, _EPS))
    return rate_neutral(dqp, settings.max_delta_qp).astype(np.float32)


def rate_neutral(dqp: np.ndarray, max_delta_qp: float, iterations: int = 8) -> np.ndarray:
    """Clip to +/- max_delta_qp and shift so the mean offset is ~0 (within 0.01 QP), so that
    x264's rate control is not thrown off by a global QP bias."""
    out = np.clip(dqp, -max_delta_qp, max_delta_qp)
    for _ in range(iterations):
        mean = float(out.mean())
        if abs(mean) < 1e-2:
            break
        out = np.clip(out - mean, -max_delta_qp, max_delta_qp)
    return out


def qp_offsets(
    saliency: np.ndarray,
    frame_size: tuple[int, int],
    strength: float = RoiSettings.strength,
    max_delta_qp: float = RoiSettings.max_delta_qp,
) -> np.ndarray:
    """One frame's QP offsets (float32, mb_rows x mb_cols, QP units; negative = more bits)
    from a non-negative saliency map (h x w, any size) for a (width, height) frame."""
    settings = RoiSettings(strength=strength, max_delta_qp=max_delta_qp, smoothing=0.0)
    return dqp_from_weights(mb_mean(saliency, frame_size), settings)


class QpOffsetMapper:
    """Stateful per-video mapper: :func:`qp_offsets` plus temporal smoothing (EMA of the
    offsets), so block QPs do not flicker from frame to frame. Call :meth:`reset` between
    videos."""

    def __init__(self, frame_size: tuple[int, int], settings: RoiSettings = RoiSettings()):
        self.frame_size = frame_size
        self.settings = settings
        self._prev: np.ndarray | None = None

    def __call__(self, saliency: np.ndarray) -> np.ndarray:
        dqp = dqp_from_weights(mb_mean(saliency, self.frame_size), self.settings)
        if self._prev is not None and self.settings.smoothing > 0:
            a = self.settings.smoothing
            dqp = rate_neutral(a * self._prev + (1 - a) * dqp, self.settings.max_delta_qp)
            dqp = dqp.astype(np.float32)
        self._prev = dqp
        return dqp

    def reset(self) -> None:
        self._prev = None
