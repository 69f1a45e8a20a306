"""``vamnet``: the trained VAM-Net as a streaming saliency model.

Per frame: faces are tracked (CenterFace every ``face_stride`` frames), the frame and the one
``motion_interval`` frames earlier (from the checkpoint's config) go through the visual streams
at INPUT_SIZE x INPUT_SIZE, the ConvLSTM state (shapes from the checkpoint / graphs) is carried
from frame to frame, and the graph runs over the current frame's faces (up to MAX_FACES),
background and audio node (dropped without audio). Output: the grid x grid map (16 x 16)
upsampled bilinearly to a quarter of the working size (80 x 45 for 16:9), like the prior's.

Runtimes: ``onnx`` (ONNX Runtime on the exported step, CPU, no torch needed), ``torch``
(PyTorch; on a CUDA GPU with FP16 autocast), ``tensorrt`` (FP16 engines built from the exported
graphs, see :mod:`perceptcodec.saliency.vamnet.runtime_trt`), ``auto`` (the fastest present: on
a machine with an NVIDIA GPU TensorRT, else PyTorch on CUDA; on the CPU ONNX Runtime when the
exported graphs exist, else PyTorch).
"""

from __future__ import annotations

import importlib.util
from collections import deque
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.base import aspect_size, normalise_map
from perceptcodec.saliency.face_cues import CUE_STRIDE, SpeakingCue, face_cues
from perceptcodec.saliency.faces import FaceDetector, FaceTracker
from perceptcodec.saliency.options import Runtime, VamNetOptions
from perceptcodec.saliency.sources import FaceSources, sound_source_map
from perceptcodec.saliency.vamnet.runtime_onnx import OnnxStep, exported
from perceptcodec.saliency.vamnet.runtime_torch import TorchStep, cuda_usable
from perceptcodec.saliency.vamnet.spec import (
    AUDIO_RATE,
    AUDIO_WINDOW_S,
    StepSpec,
    default_weights,
    face_crops,
)


class Step(Protocol):
    """A runtime's per-frame step: feed {input name: array} -> [log_saliency, h1, c1, h2, c2]."""

    spec: StepSpec

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]: ...


def pick_runtime(have_onnx: bool, gpu: bool) -> Runtime:
    """What ``auto`` means here: TensorRT on an NVIDIA GPU when importable, else PyTorch (CUDA);
    on the CPU ONNX Runtime when the graphs are exported and it is importable, else PyTorch."""
    if gpu:
        return Runtime.TENSORRT if importlib.util.find_spec("tensorrt") else Runtime.TORCH
    if have_onnx and importlib.util.find_spec("onnxruntime"):
        return Runtime.ONNX
    return Runtime.TORCH


def make_step(runtime: Runtime, weights: Path, device: str, threads: int) -> tuple[str, Step]:
    """(runtime actually used, step) for a --runtime choice; graphs are looked for beside
    ``weights``; ``device`` ``auto`` means CUDA when an NVIDIA GPU is present (for torch),
    else the CPU."""
    have_onnx = exported(weights.parent)
    gpu = cuda_usable() if device == "auto" else device == "cuda"
    if runtime is Runtime.AUTO:
        runtime = pick_runtime(have_onnx, gpu)
    if runtime is Runtime.TENSORRT:
        from perceptcodec.saliency.vamnet.runtime_trt import TensorRtStep

        return "tensorrt fp16", TensorRtStep(weights.parent)
    if runtime is Runtime.ONNX:
        if not have_onnx:
            raise PerceptcodecError(
                f"no exported VAM-Net graphs in {weights.parent}: run `perceptcodec export onnx`"
            )
        return "onnx", OnnxStep(weights.parent, threads)
    step = TorchStep(weights, "cuda" if gpu else "cpu", threads)
    return ("torch cuda fp16" if step.half else f"torch {step.device.type}"), step


class VamNetSaliency:
    """Trained VAM-Net (``name = "vamnet"``); weights and exported graphs in
    perceptcodec/models/vamnet/
    (or ``options.weights`` and the graphs beside it)."""

    name = "vamnet"
    audio_rate = AUDIO_RATE
    audio_window_s = AUDIO_WINDOW_S

    def __init__(
        self, options: VamNetOptions | None = None, runtime: Runtime | str = Runtime.AUTO
    ) -> None:
        o = options or VamNetOptions()
        weights = Path(o.weights) if o.weights else default_weights()
        self.runtime, self._step = make_step(Runtime.parse(runtime), weights, o.device, o.threads)
        self.spec: StepSpec = self._step.spec
        self.width = o.width
        self.tracker = FaceTracker(FaceDetector(input_width=o.width), stride=o.face_stride)
        self._frames: deque[np.ndarray] = deque(maxlen=self.spec.motion_interval + 1)
        self._state = self.spec.zero_state()
        self._sources: FaceSources | None = None
        # weights trained with face cues: the active-speaker cue, its flow also moving the
        # tracked boxes between detections; it observes every CUE_STRIDE-th frame (the stream
        # calls ``observe`` on those the network skips), where its parameters were set
        self._cue = SpeakingCue(AUDIO_RATE) if self.spec.face_cues else None
        self.observe_stride = CUE_STRIDE if self._cue is not None else 0

    def report_sources(self) -> None:
        """Also keep :class:`FaceSources` each frame: the graph's speaking probability per
        face (the STMG's speaking head) and the sound-source map (eq. 9-10) on the output
        grid."""
        self._sources = FaceSources.empty((1, 1))

    def sources(self) -> FaceSources:
        """The last frame's faces (boxes in working-frame pixels, at most ``max_faces``, the
        largest first), speaking probabilities and sound-source map."""
        if self._sources is None:
            raise RuntimeError("call report_sources() before the first frame")
        return self._sources

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """Working (width, height): ``self.width`` wide, aspect kept (faces are found there)."""
        return aspect_size(self.width, width, height)

    def reset(self) -> None:
        self.tracker.reset()
        self._frames.clear()
        self._state = self.spec.zero_state()
        if self._cue is not None:
            self._cue.reset()

    def _faces(
        self, rgb: np.ndarray, t: float, audio: np.ndarray | None
    ) -> tuple[list, dict[int, float]]:
        """This frame's face tracks, largest first, and with face cues their speaking
        probabilities ({track id: 0..1}; empty without)."""
        flow = self._cue.flow(rgb) if self._cue is not None else None
        tracks = sorted(
            self.tracker(rgb, flow), key=lambda tr: -float(np.prod(tr.box[2:] - tr.box[:2]))
        )
        speaking = self._cue(rgb, tracks, audio, t) if self._cue is not None else {}
        return tracks, speaking

    def observe(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> None:
        """A frame the network skips (saliency stride): faces and the speaker cue only, so the
        cue sees frames ``observe_stride`` apart whatever the stride. Same inputs as
        ``__call__``."""
        if self._cue is not None:
            self._faces(rgb, t, audio)

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        """rgb (h, w, 3) uint8 at ``size_for``; t (s); audio (spec.audio_samples,) float32 at
        ``audio_rate`` or None. Returns (h // 4, w // 4) float32 summing to 1."""
        h, w = rgb.shape[:2]
        spec = self.spec
        n = spec.input_size
        small = cv2.resize(rgb, (n, n), interpolation=cv2.INTER_AREA)
        self._frames.append(small)
        tracks, speaking = self._faces(rgb, t, audio)
        boxes = np.zeros((1, spec.max_faces, 4), np.float32)
        mask = np.zeros((1, spec.max_faces), bool)
        for k, track in enumerate(tracks[: spec.max_faces]):
            boxes[0, k] = np.clip(track.box / [w, h, w, h], 0, 1)
            mask[0, k] = True

        def chw(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a.transpose(2, 0, 1)[None], np.float32) / 255

        crops = face_crops(small, boxes[0], mask[0], spec.face_crop).transpose(0, 3, 1, 2)[None]
        feed = {
            "frame": chw(small),
            "partner": chw(self._frames[0]),
            "boxes": boxes,
            "face_mask": mask,
            "crops": np.ascontiguousarray(crops, np.float32) / 255,
            **dict(zip(("h1", "c1", "h2", "c2"), self._state, strict=True)),
        }
        if self._cue is not None:
            shown = tracks[: spec.max_faces]
            cues = np.zeros((1, spec.max_faces, spec.face_cues), np.float32)
            cues[0, : len(shown)] = face_cues(
                boxes[0, : len(shown)], np.array([speaking.get(tr.id, 0.0) for tr in shown])
            )
            feed["cues"] = cues
        if audio is not None:
            feed["audio"] = np.asarray(audio, np.float32)[None]
        outputs = self._step(feed)
        log_sal, self._state = outputs[0], outputs[1:5]
        grid = (max(w // 4, 1), max(h // 4, 1))
        if self._sources is not None:
            if len(outputs) < 6:
                raise PerceptcodecError(
                    "--sources: these VAM-Net graphs have no speaking output; re-export them "
                    "(perceptcodec export onnx)"
                )
            k = int(mask[0].sum())
            shown = boxes[0, :k] * np.array([w, h, w, h], np.float32)
            speaking = np.asarray(outputs[5][0, :k], np.float32)
            ids = np.array([tr.id for tr in tracks[:k]], np.int32)
            sound = sound_source_map(shown, speaking, (h, w), grid[::-1])
            self._sources = FaceSources(ids, shown, speaking, sound)
        return normalise_map(cv2.resize(np.exp(log_sal[0]), grid, interpolation=cv2.INTER_LINEAR))
