"""Sound sources: which face is speaking, per frame, and the sound-source map.

VAM-Net's second task (paper section 5.5, eq. 9-10) is a sound-source map: each face's
speaking probability spread over the face as a Gaussian. Models that can tell who speaks
(``prior`` through its active-speaker cue) implement :class:`SourceModel`;
``perceptcodec saliency IN -o maps.npz --sources`` writes what they report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class FaceSources:
    """One frame's faces and who speaks.

    ids: (K,) int32 track ids (stable while a face is tracked); boxes: (K, 4) float32
    (x0, y0, x1, y1) in pixels of the model's working frame; speaking: (K,) float32, the
    probability (0..1) that each face is the one talking; sound_map: h x w float32 on the
    model's output grid, the sound-source map (the speaking probabilities drawn as Gaussians
    of peak 1 over the faces and summed: 0..1 where faces do not overlap)."""

    ids: np.ndarray
    boxes: np.ndarray
    speaking: np.ndarray
    sound_map: np.ndarray

    @classmethod
    def empty(cls, grid: tuple[int, int]) -> FaceSources:
        """No face on an h x w ``grid``."""
        return cls(
            np.zeros(0, np.int32),
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(grid, np.float32),
        )


@runtime_checkable
class SourceModel(Protocol):
    """A saliency model that can also report :class:`FaceSources` for its last frame."""

    def report_sources(self) -> None:
        """Start computing sources (before the first frame; may cost time per frame)."""
        ...

    def sources(self) -> FaceSources:
        """The faces and speaking probabilities of the last frame the model was called on."""
        ...


def sound_source_map(
    boxes: np.ndarray,
    speaking: np.ndarray,
    frame_shape: tuple[int, int],
    grid: tuple[int, int],
) -> np.ndarray:
    """The sound-source map on an h x w ``grid`` covering a frame of ``frame_shape`` (H, W
    pixels): per face, its speaking probability times a Gaussian of peak 1 centred on the box
    (sigma half the box per axis), summed over faces, as VAM-Net's eq. 9-10 and
    ``vamnet.net.face_gaussians``. float32, >= 0."""
    gh, gw = grid
    fh, fw = frame_shape
    ys = (np.arange(gh, dtype=np.float32) + 0.5) * fh / gh
    xs = (np.arange(gw, dtype=np.float32) + 0.5) * fw / gw
    out = np.zeros(grid, np.float32)
    for (x0, y0, x1, y1), p in zip(boxes, speaking, strict=True):
        sx, sy = max(x1 - x0, 1.0) / 2, max(y1 - y0, 1.0) / 2
        gx = np.exp(-((xs - (x0 + x1) / 2) ** 2) / (2 * sx**2))
        gy = np.exp(-((ys - (y0 + y1) / 2) ** 2) / (2 * sy**2))
        out += float(p) * np.outer(gy, gx)
    return out
