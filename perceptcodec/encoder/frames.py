"""Turning decoded frames (PyAV VideoFrame or numpy) into I420 planes x264 can read."""

from __future__ import annotations

import av
import numpy as np

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def i420_planes(
    frame: av.VideoFrame | np.ndarray | Planes, full_range: bool = False
) -> tuple[Planes, av.VideoFrame | None]:
    """(Y, U, V) uint8 plane views (H x W, H/2 x W/2, H/2 x W/2; rows may be padded).

    Accepts a PyAV VideoFrame of any pixel format (converted to yuv420p when needed, no copy
    otherwise), an H x W x 3 uint8 RGB array, or a (Y, U, V) tuple. Also returns the frame that
    owns the memory: keep it alive until the planes are consumed. ``full_range``: the stream is
    coded full range, so yuvj420p (full-range 4:2:0) planes are taken as they are; otherwise
    they are converted to limited range like any other format.
    """
    if isinstance(frame, tuple):
        if len(frame) != 3:
            raise ValueError(f"planes must be a (Y, U, V) tuple, got {len(frame)} items")
        return frame, None
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"numpy frames must be H x W x 3 uint8 RGB, got {frame.shape}")
        frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
    if not isinstance(frame, av.VideoFrame):
        raise TypeError(f"expected a VideoFrame, an RGB array or (Y, U, V), not {type(frame)}")
    if frame.format.name != "yuv420p" and not (full_range and frame.format.name == "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    planes = []
    for i, plane in enumerate(frame.planes):
        h = frame.height if i == 0 else (frame.height + 1) // 2
        w = frame.width if i == 0 else (frame.width + 1) // 2
        buf = np.frombuffer(plane, np.uint8)
        planes.append(buf[: h * plane.line_size].reshape(h, plane.line_size)[:, :w])
    return (planes[0], planes[1], planes[2]), frame
