"""Streaming a video through a saliency model: frames at the model's working size, audio
windows, and the saliency stride (maps between computed ones are interpolated)."""

from __future__ import annotations

from collections.abc import Iterator

import av
import cv2
import numpy as np

from perceptcodec.encoder.frames import i420_planes
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import audio_window
from perceptcodec.io.source import VideoInfo
from perceptcodec.saliency.base import SaliencyModel


def shrink(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 2-D uint8 plane area-averaged down to ``size`` (width, height): 2 x 2 halvings first
    (OpenCV's fast INTER_AREA path), then bilinear for the last factor below 2 (there, close
    to an area average). 1080p luma to 320 x 180: ~0.15 ms, against ~1 ms in one area step."""
    width, height = size
    while plane.shape[1] >= 2 * width and plane.shape[0] >= 2 * height:
        half = (plane.shape[1] // 2, plane.shape[0] // 2)
        plane = cv2.resize(plane, half, interpolation=cv2.INTER_AREA)
    if (plane.shape[1], plane.shape[0]) == (width, height):
        return plane
    coarse = plane.shape[1] >= 2 * width or plane.shape[0] >= 2 * height
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA if coarse else cv2.INTER_LINEAR)


def small_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame as an H x W x 3 uint8 RGB array at ``size`` (width, height), area-averaged.

    For the saliency models' low working resolution: shrinking the Y, U and V planes with
    OpenCV and converting afterwards is several times cheaper than PyAV's scaler at 720p (BT.601
    matrix, levels as coded; saliency does not need colorimetric accuracy)."""
    (y, u, v), _owner = i420_planes(frame)
    return cv2.cvtColor(cv2.merge([shrink(p, size) for p in (y, u, v)]), cv2.COLOR_YUV2RGB)


def saliency_maps(
    frames: Iterator[av.VideoFrame],
    model: SaliencyModel,
    info: VideoInfo,
    audio: np.ndarray | None = None,
    stride: int = 1,
) -> Iterator[tuple[av.VideoFrame, float, np.ndarray]]:
    """(frame, time in s, saliency map h x w summing to 1) for each decoded frame.

    Frames reach the model at ``model.size_for(width, height)``; a model with a
    ``bind(info)`` method is bound to the video first; ``audio`` (mono float32 at
    ``model.audio_rate``, the whole track) is cut into a window centred on each frame's time.
    With ``stride`` k > 1 the model sees every k-th frame only; maps in between are linear
    interpolations of the two nearest computed maps (the last one is held at the end), at the
    cost of holding k decoded frames. A model with an ``observe_stride`` n > 0 (and an
    ``observe(rgb, t, audio)`` method: cheap cues that need frames closer together than k, e.g.
    VAM-Net's active-speaker cue) also observes every n-th frame in between."""
    if stride < 1:
        raise PerceptcodecError(f"saliency stride must be >= 1, not {stride}")
    size = model.size_for(info.width, info.height)
    bind = getattr(model, "bind", None)  # models fed from files check them against the video
    if callable(bind):
        bind(info)
    model.reset()
    every = int(getattr(model, "observe_stride", 0) or 0)
    pending: list[tuple[av.VideoFrame, float]] = []
    previous: np.ndarray | None = None

    def window_at(t: float) -> np.ndarray | None:
        if audio is None or not model.audio_rate:
            return None
        return audio_window(audio, model.audio_rate, t, model.audio_window_s)

    for index, frame in enumerate(frames):
        t = float(frame.pts * info.time_base) if frame.pts is not None else index / float(info.fps)
        if index % stride:
            if every and index % every == 0:
                model.observe(small_rgb(frame, size), t, window_at(t))  # type: ignore[attr-defined]
            pending.append((frame, t))
            continue
        current = model(small_rgb(frame, size), t, window_at(t))
        for k, (held, held_t) in enumerate(pending, start=1):
            a = k / stride
            yield held, held_t, (1 - a) * previous + a * current
        pending = []
        previous = current
        yield frame, t, current
    for held, held_t in pending:
        yield held, held_t, previous
