"""The interface every saliency model implements; the pipeline knows nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np


class SaliencyModel(Protocol):
    """Predicts where people look, one frame at a time.

    Attributes:
        name: registry name (``prior``, ``vamnet``, ...).
        audio_rate: sample rate (Hz) of the mono audio it wants, or 0 if it ignores audio.
        audio_window_s: length (s) of the audio window centred on each frame's time.

    Optional: ``observe_stride`` n > 0 and ``observe(rgb, t, audio)`` (same inputs as
    ``__call__``, no map returned): the stream also shows the model every n-th of the frames
    its saliency stride skips (VAM-Net's speaker cue; :func:`perceptcodec.saliency.stream.
    saliency_maps`).
    """

    name: str
    audio_rate: int
    audio_window_s: float

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) in pixels of the RGB frames the model wants for a source of
        ``width`` x ``height``; the pipeline resizes decoded frames to it."""
        ...

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        """rgb: H x W x 3 uint8 at ``size_for`` the source; t: frame time (s); audio: mono float32
        window at ``audio_rate`` or None (no audio stream). Returns an h x w float32 map,
        non-negative, summing to 1 (h x w is the model's output grid, any size)."""
        ...

    def reset(self) -> None:
        """Forget temporal state (tracks, recurrent state) before a new video."""
        ...


def normalise_map(sal: np.ndarray) -> np.ndarray:
    """Clip negatives and scale to sum 1 (uniform if the map is all zero). float32, same shape."""
    sal = np.clip(np.asarray(sal, dtype=np.float32), 0.0, None)
    total = float(sal.sum())
    if not np.isfinite(total) or total <= 0.0:
        return np.full(sal.shape, 1.0 / sal.size, dtype=np.float32)
    return sal / total


def aspect_size(target_width: int, width: int, height: int) -> tuple[int, int]:
    """(target_width, even height) keeping a width x height frame's aspect ratio (16 px min)."""
    return target_width, max(16, 2 * round(target_width * height / width / 2))


def cpu_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime inference session of the graph at ``path`` on the CPU: ``threads``
    intra-op threads, one inter-op thread, warnings off (how every shipped graph runs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
