"""``dave``: the trained DAVE as a streaming saliency model.

Causal window: every frame (resized to the network's input, e.g. 160 x 128, aspect not
kept, as the paper resizes to 320 x 256) and its log mel patch (the 0.64 s of audio ending at
the frame's time; silence when the video has no audio track) join a window of the last 16;
every ``window_stride`` frames the network runs on that window (the newest frame last) and
its map is held until the next run. Before 16 frames have arrived the window is filled by
repeating the first frame and patch, so the first map comes at the first frame. The map
depends on the current and past frames only.

Output: the network's (H / 8, W / 8) map (16 x 20 for the shipped model) upsampled
bilinearly by 4 (64 x 80), summing to 1; the ROI module resamples it to the frame's
macroblocks.

Runtimes: ``onnx`` (ONNX Runtime on the exported graph, CPU, no torch; the default),
``torch`` (PyTorch; CUDA with FP16 autocast when a GPU is present and ``device`` allows),
``auto`` (ONNX Runtime when the graph is exported and importable, else PyTorch).
"""

from __future__ import annotations

import importlib.util
from collections import deque
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.base import normalise_map
from perceptcodec.saliency.dave.runtime_onnx import OnnxWindow, exported
from perceptcodec.saliency.dave.spec import (
    AUDIO_RATE,
    AUDIO_WINDOW_S,
    FRAMES,
    MEAN,
    STD,
    WindowSpec,
    default_weights,
    frame_patch,
)
from perceptcodec.saliency.options import DaveOptions, Runtime

UPSAMPLE = 4  # output map = network grid x 4 (bilinear)


class Window(Protocol):
    """A runtime: (video (1, 3, 16, H, W), audio (1, 16, 64, 64)) -> (1, H / 8, W / 8)."""

    spec: WindowSpec

    def __call__(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray: ...


def make_window(runtime: Runtime, weights: Path, device: str, threads: int) -> tuple[str, Window]:
    """(runtime actually used, runtime object) for a --runtime choice; the graph is looked
    for beside ``weights``."""
    if runtime is Runtime.TENSORRT:
        raise PerceptcodecError("dave has no tensorrt runtime; use onnx (default) or torch")
    if runtime is Runtime.AUTO:
        have = exported(weights.parent) and importlib.util.find_spec("onnxruntime") is not None
        gpu_wanted = device == "cuda"
        runtime = Runtime.ONNX if have and not gpu_wanted else Runtime.TORCH
    if runtime is Runtime.ONNX:
        return "onnx", OnnxWindow(weights.parent, threads)
    from perceptcodec.saliency.dave.runtime_torch import TorchWindow
    from perceptcodec.saliency.vamnet.runtime_torch import cuda_usable

    gpu = cuda_usable() if device == "auto" else device == "cuda"
    if not weights.exists():
        raise PerceptcodecError(f"{weights}: DAVE weights missing (see perceptcodec/models/dave)")
    window = TorchWindow(weights, "cuda" if gpu else "cpu", threads)
    return ("torch cuda fp16" if window.half else "torch cpu"), window


class DaveSaliency:
    """Trained DAVE (``name = "dave"``); weights and the exported graph in
    perceptcodec/models/dave/ (or ``options.weights`` and the graph beside it)."""

    name = "dave"
    audio_rate = AUDIO_RATE
    audio_window_s = AUDIO_WINDOW_S

    def __init__(
        self,
        options: DaveOptions | None = None,
        runtime: Runtime | str = Runtime.AUTO,
        window: Window | None = None,
    ) -> None:
        """``window``: a runtime object to use instead of loading one (tests, custom
        runtimes); ``runtime`` is then ignored."""
        o = options or DaveOptions()
        if window is not None:
            self.runtime, self._window = "custom", window
        else:
            weights = Path(o.weights) if o.weights else default_weights()
            self.runtime, self._window = make_window(
                Runtime.parse(runtime), weights, o.device, o.threads
            )
        self.spec: WindowSpec = self._window.spec
        self.stride = o.window_stride
        self._frames: deque[np.ndarray] = deque(maxlen=FRAMES)
        self._patches: deque[np.ndarray] = deque(maxlen=FRAMES)
        self._count = 0
        self._map: np.ndarray | None = None
        self._scale = (1 / (255 * STD)).astype(np.float32)[:, None, None]
        self._shift = (MEAN / STD).astype(np.float32)[:, None, None]

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The network's input (width, height), whatever the source's aspect."""
        return self.spec.width, self.spec.height

    def reset(self) -> None:
        self._frames.clear()
        self._patches.clear()
        self._count = 0
        self._map = None

    def _push(self, rgb: np.ndarray, audio: np.ndarray | None) -> None:
        size = (self.spec.width, self.spec.height)
        if (rgb.shape[1], rgb.shape[0]) != size:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        chw = np.asarray(rgb, np.float32).transpose(2, 0, 1) * self._scale - self._shift
        patch = frame_patch(audio)
        if not self._frames:  # the first frame fills the window
            for _ in range(FRAMES - 1):
                self._frames.append(chw)
                self._patches.append(patch)
        self._frames.append(chw)
        self._patches.append(patch)

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        """rgb (h, w, 3) uint8 (resized to the network's input if needed); t (s); audio
        (AUDIO_SAMPLES,) float32 at AUDIO_RATE centred on t, or None (silence). Returns
        (4 x H / 8, 4 x W / 8) float32 summing to 1."""
        self._push(rgb, audio)
        run = self._count % self.stride == 0
        self._count += 1
        if run or self._map is None:
            video = np.stack(self._frames, axis=1)[None]  # (1, 3, 16, H, W)
            patches = np.stack(self._patches)[None]  # (1, 16, 64, 64)
            log_sal = self._window(np.ascontiguousarray(video), patches)[0]
            rows, cols = log_sal.shape
            up = cv2.resize(
                np.exp(log_sal), (UPSAMPLE * cols, UPSAMPLE * rows), interpolation=cv2.INTER_LINEAR
            )
            self._map = normalise_map(up)
        return self._map
