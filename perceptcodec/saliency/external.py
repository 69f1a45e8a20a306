"""Saliency from outside: maps computed elsewhere (``.npz``/``.npy``) or real eye-tracking (a
gaze CSV), used as the model of an encode (``encode --saliency maps.npz`` / ``gaze.csv``).

Map ``i`` drives the video's frame ``i`` (decode order of presentation, 0-based), so a file
made by ``perceptcodec saliency`` on the same video round-trips. Frames without a map (a gaze
CSV with no fixation in that frame) fall back to the default model, with one warning.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.source import VideoInfo
from perceptcodec.saliency.base import SaliencyModel, normalise_map

MAP_SUFFIXES = (".npz", ".npy")
GAZE_SUFFIXES = (".csv",)
# Gaze densities are computed on a grid this many times smaller than the video (per side):
# the QP mapping averages over 16 x 16 blocks anyway.
GAZE_GRID_DIVISOR = 4


def is_external(spec: str) -> bool:
    """Whether a ``--saliency`` value names a file of maps or gaze rather than a model."""
    return spec.lower().endswith(MAP_SUFFIXES + GAZE_SUFFIXES)


def load_maps(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(frames x h x w maps, source (width, height) if the file says) from an ``.npy`` or an
    ``.npz`` holding ``saliency`` (as ``perceptcodec saliency`` writes it) or one array."""
    if not path.is_file():
        raise PerceptcodecError(f"{path}: no such maps file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PerceptcodecError(f"{path}: not a readable .npz/.npy ({exc})") from exc
    size = None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = list(data.files)
            key = "saliency" if "saliency" in names else names[0] if len(names) == 1 else None
            if key is None:
                raise PerceptcodecError(f"{path}: holds {names}; expected 'saliency'")
            maps = data[key]
            if "size" in names:
                size = tuple(int(v) for v in data["size"])
    else:
        maps = data
    if maps.ndim != 3 or min(maps.shape) == 0:
        raise PerceptcodecError(f"{path}: maps must be frames x h x w, got shape {maps.shape}")
    if not np.issubdtype(maps.dtype, np.number) or not np.isfinite(maps).all():
        raise PerceptcodecError(f"{path}: maps must be finite numbers")
    if (maps < 0).any():
        raise PerceptcodecError(f"{path}: maps must be non-negative")
    return maps, size  # type: ignore[return-value]


class ExternalSaliency:
    """Maps from a file, one per frame, with a fallback model for frames that have none.

    ``source``: an ``.npz``/``.npy`` of frames x h x w maps, or a gaze CSV
    (``frame,x,y,subject``, pixels of the video) turned into fixation densities (Gaussian of
    3.5 % of the video width). ``fallback`` sees only the frames without a map."""

    audio_rate = 0
    audio_window_s = 0.0

    def __init__(self, source: str | Path, fallback: SaliencyModel) -> None:
        self.source = Path(source)
        self.name = self.source.name
        self.fallback = fallback
        if self.source.suffix.lower() not in MAP_SUFFIXES + GAZE_SUFFIXES:
            raise PerceptcodecError(f"{source}: saliency files end in .npz, .npy or .csv")
        if not self.source.is_file():
            raise PerceptcodecError(f"{source}: no such file")
        self._maps: np.ndarray | None = None
        self._gaze = None
        self._index = 0
        self._missing = 0

    def bind(self, info: VideoInfo) -> None:
        """Load the maps for this video and check them against it (one-line errors)."""
        if self.source.suffix.lower() in GAZE_SUFFIXES:
            from perceptcodec.datasets import read_gaze_csv

            self._gaze = read_gaze_csv(info.path, self.source)
            if len(self._gaze.fixations) == 0:
                raise PerceptcodecError(f"{self.source}: no gaze rows to drive the encode")
            return
        maps, size = load_maps(self.source)
        if size is not None and size != (info.width, info.height):
            raise PerceptcodecError(
                f"{self.source}: maps are for a {size[0]}x{size[1]} video, this one is "
                f"{info.width}x{info.height}"
            )
        if info.frames and len(maps) != info.frames:
            raise PerceptcodecError(
                f"{self.source}: {len(maps)} maps for a video of {info.frames} frames"
            )
        self._maps = maps

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        return self.fallback.size_for(width, height)

    def reset(self) -> None:
        self._index = self._missing = 0
        self.fallback.reset()

    def _lookup(self, index: int) -> np.ndarray | None:
        if self._maps is not None:
            return self._maps[index] if index < len(self._maps) else None
        if self._gaze is None:
            raise PerceptcodecError(f"{self.source}: maps used before bind() to a video")
        points = self._gaze.points(index)
        if len(points) == 0:
            return None
        from perceptcodec.metrics.quality import gaussian_fixation_map

        width, height = self._gaze.size
        d = GAZE_GRID_DIVISOR
        grid = (max(height // d, 1), max(width // d, 1))
        return gaussian_fixation_map(points[:, :2] / d, grid, self._gaze.sigma_px / d)

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        sal = self._lookup(self._index)
        self._index += 1
        if sal is not None:
            return normalise_map(sal)
        self._missing += 1
        if self._missing == 1:
            print(
                f"perceptcodec: warning: {self.source.name} has no map for frame "
                f"{self._index - 1} (and maybe others): the {self.fallback.name} model fills in",
                file=sys.stderr,
            )
        return self.fallback(rgb, t, audio)
