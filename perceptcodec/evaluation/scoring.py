"""Scoring a decoded video against its source on luma, frame by frame: PSNR-Y, SSIM-Y and
EWPSNR-Y (weights = that frame's human fixation density).

Luma is the Y plane as coded: 8-bit samples of plane 0, with no range or colour conversion.
PyAV's ``to_ndarray(format="gray")`` must not be used for this: for limited-range (``tv``)
video swscale expands it to full range, Y' = 1.1644 Y - 18.6, clipped to 0..255, which scales
every error by 1.1644 and lowers PSNR by about 1.3 dB.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from perceptcodec.encoder.frames import i420_planes
from perceptcodec.io.source import decode_video
from perceptcodec.metrics import db_from_mse, ewmse, mse, ssim

# The scoring definition, recorded in (and hashed into) every RD result: results scored
# another way are never mixed with these.
LUMA = "coded Y plane, 8-bit, no range conversion"


class GazeVideo(Protocol):
    """A video with per-frame human gaze (see :mod:`perceptcodec.datasets`). ``weights(i)`` is
    frame i's fixation density (any resolution, covering the frame) or None when no viewer
    fixated during that frame."""

    name: str
    video: Path

    def weights(self, frame: int) -> np.ndarray | None: ...


def coded_luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane x264 codes for ``frame``, H x W uint8 (a copy, row padding dropped).

    A ``yuv420p`` or full-range ``yuvj420p`` frame (every decoded output of this project, and
    most sources) gives its plane 0 as stored: no conversion; the encoder codes a ``yuvj420p``
    source as it is too, tagged full range. Any other pixel format (4:2:2, 4:4:4, 10-bit,
    RGB...) is converted exactly as the encoder converts its input
    (:func:`perceptcodec.encoder.frames.i420_planes`), so a source is compared in the form
    x264 was given. For 8-bit 4:2:2/4:4:4 that leaves Y unchanged; a 10-bit one is rounded to
    8 bits, as in the encode.
    """
    (y, _u, _v), _owner = i420_planes(frame, full_range=frame.format.name == "yuvj420p")
    return np.array(y, np.uint8, copy=True)


def luma_frames(path: Path) -> list[np.ndarray]:
    """Every frame's coded Y plane (:func:`coded_luma`) of a video, in presentation order."""
    return [coded_luma(f) for f in decode_video(path)]


def score_video(
    reference: Path, decoded: Path, weights: Callable[[int], np.ndarray | None]
) -> dict[str, float]:
    """Per-clip quality of ``decoded`` against ``reference`` on the coded Y plane
    (:func:`coded_luma`), frame by frame.

    psnr_y / ewpsnr_y (dB) / ssim_y (0..1): means of the per-frame values, PSNR = 10 log10(255^2
    / MSE), EWPSNR = 10 log10(255^2 / EWMSE) with EWMSE = sum(w e^2) / sum(w); *_pooled (dB):
    from the mean MSE / EWMSE over frames. EWPSNR covers only frames with gaze (``weights(i)``
    not None); frames / gaze_frames count them."""
    per_psnr, per_ewpsnr, per_ssim, mses, ewmses = [], [], [], [], []
    pairs = zip(decode_video(reference), decode_video(decoded), strict=True)
    for index, (ref_frame, dec_frame) in enumerate(pairs):
        ref, dec = coded_luma(ref_frame), coded_luma(dec_frame)
        err = mse(ref, dec)
        mses.append(err)
        per_psnr.append(db_from_mse(err))
        per_ssim.append(ssim(ref, dec))
        w = weights(index)
        if w is not None:
            weighted = ewmse(ref, dec, w)
            ewmses.append(weighted)
            per_ewpsnr.append(db_from_mse(weighted))

    def pooled(errors: list[float]) -> float:
        return db_from_mse(float(np.mean(errors))) if errors else float("nan")

    return {
        "psnr_y": float(np.mean(per_psnr)),
        "ewpsnr_y": float(np.mean(per_ewpsnr)) if per_ewpsnr else float("nan"),
        "ssim_y": float(np.mean(per_ssim)),
        "psnr_y_pooled": pooled(mses),
        "ewpsnr_y_pooled": pooled(ewmses),
        "frames": len(per_psnr),
        "gaze_frames": len(per_ewpsnr),
    }
