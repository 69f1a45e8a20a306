"""The centre-bias baseline: an anisotropic Gaussian in the middle of the frame."""

from __future__ import annotations

import numpy as np

from perceptcodec.saliency.base import normalise_map
from perceptcodec.saliency.options import CenterOptions


def center_gaussian(shape: tuple[int, int], sigma_frac: float = 0.25) -> np.ndarray:
    """h x w float32 Gaussian centred on the frame with sigma = ``sigma_frac`` of each side,
    summing to 1."""
    h, w = shape
    y = (np.arange(h) + 0.5) / h - 0.5
    x = (np.arange(w) + 0.5) / w - 0.5
    g = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma_frac**2))
    return normalise_map(g)


class CenterBias:
    """Saliency = the same centre Gaussian for every frame (``name = "center"``)."""

    name = "center"
    audio_rate = 0
    audio_window_s = 0.0

    def __init__(self, options: CenterOptions | None = None, grid: tuple[int, int] = (36, 64)):
        self.grid = grid
        self._map = center_gaussian(grid, (options or CenterOptions()).center_sigma)

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        return 32, 18  # the frame's content is ignored

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        return self._map

    def reset(self) -> None:
        pass
