"""``vamnet``: the trained VAM-Net as a streaming saliency model.

Per frame: faces are tracked (CenterFace every ``face_stride`` frames), the frame and the one
``motion_interval`` frames earlier (from the checkpoint's config) go through the visual streams
at INPUT_SIZE x INPUT_SIZE, the ConvLSTM state (shapes from the checkpoint / graphs) is carried
from frame to frame, and the graph runs over the current frame's faces (up to MAX_FACES, the
largest; a track keeps its face slot while it lasts), background and audio node (dropped
without audio); a causal graph (``graph_window`` W > 1) also over the nodes of the last W - 1
steps, carried forward. Output: the grid x grid map (16 x 16)
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
from perceptcodec.io.source import VideoInfo
from perceptcodec.saliency.base import aspect_size, normalise_map
from perceptcodec.saliency.face_cues import CUE_STRIDE, SpeakingCue, face_cues
from perceptcodec.saliency.faces import FaceDetector, FaceTracker, Track
from perceptcodec.saliency.options import Runtime, VamNetOptions
from perceptcodec.saliency.sources import FaceSources, sound_source_map
from perceptcodec.saliency.vamnet.runtime_onnx import OnnxStep, exported
from perceptcodec.saliency.vamnet.runtime_torch import TorchStep, cuda_usable
from perceptcodec.saliency.vamnet.spec import (
    AUDIO_RATE,
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

    def __init__(
        self, options: VamNetOptions | None = None, runtime: Runtime | str = Runtime.AUTO
    ) -> None:
        o = options or VamNetOptions()
        weights = Path(o.weights) if o.weights else default_weights()
        self.runtime, self._step = make_step(Runtime.parse(runtime), weights, o.device, o.threads)
        self.spec: StepSpec = self._step.spec
        self.audio_window_s = self.spec.audio_samples / AUDIO_RATE  # what the audio node hears
        # deaf unless asked: streams hand a model with audio_rate 0 no sound
        # (eval/results/speaker_sound.md: with sound it did worse in conversations)
        self.audio_rate = AUDIO_RATE if o.listen else 0
        self.width = o.width
        self.tracker = FaceTracker(FaceDetector(input_width=o.width), stride=o.face_stride)
        # (time s, frame) of the frames seen, observed ones too: the motion partner is the
        # newest one motion_interval frame durations back, as in training, whatever the stride
        self._frames: deque[tuple[float, np.ndarray]] = deque(maxlen=self.spec.motion_interval + 1)
        self._frame_s: float | None = None  # frame duration (s) of the bound video
        self._min_dt = float("inf")  # else the shortest interval between frames seen
        self._state = self.spec.zero_state()
        self._past = self.spec.zero_past()
        self._slots: dict[int, int] = {}  # track id -> face slot
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

    def bind(self, info: VideoInfo) -> None:
        """The video about to stream (its frame rate sets the motion partner's distance)."""
        self._frame_s = 1.0 / float(info.fps) if info.fps and float(info.fps) > 0 else None

    def _remember(self, rgb: np.ndarray, t: float) -> np.ndarray:
        """The frame at the network's input size, kept with its time for later partners."""
        n = self.spec.input_size
        small = cv2.resize(rgb, (n, n), interpolation=cv2.INTER_AREA)
        if self._frames and t > self._frames[-1][0]:
            self._min_dt = min(self._min_dt, t - self._frames[-1][0])
        self._frames.append((t, small))
        return small

    def _partner(self, t: float) -> np.ndarray:
        """The newest frame seen at least motion_interval frame durations (less half a frame)
        before ``t``; the oldest kept when none is (the start of a video, as in training)."""
        frame_s = self._frame_s or self._min_dt
        before = t - (self.spec.motion_interval - 0.5) * frame_s
        return next((f for ft, f in reversed(self._frames) if ft <= before), self._frames[0][1])

    def reset(self) -> None:
        self.tracker.reset()  # its scene-cut detector too
        self._min_dt = float("inf")
        self._new_shot()

    def _new_shot(self) -> None:
        """Forget the frames, face slots, cues and recurrent state seen (a new video, or a
        cut; the tracker ends its tracks itself when told of the cut, and track ids stay
        unique in the video)."""
        self._frames.clear()
        self._state = self.spec.zero_state()
        self._past = self.spec.zero_past()
        self._slots = {}
        if self._cue is not None:
            self._cue.reset()

    def _cut(self, rgb: np.ndarray) -> bool:
        """Whether the frame starts a new shot; if so, everything seen before is forgotten."""
        cut = self.tracker.cuts(rgb)
        if cut:
            self._new_shot()
        return cut

    def _faces(
        self, rgb: np.ndarray, t: float, audio: np.ndarray | None, cut: bool
    ) -> tuple[list, dict[int, float]]:
        """This frame's face tracks, largest first, and with face cues their speaking
        probabilities ({track id: 0..1}; empty without)."""
        flow = self._cue.flow(rgb) if self._cue is not None else None
        tracks = sorted(
            self.tracker(rgb, flow, cut), key=lambda tr: -float(np.prod(tr.box[2:] - tr.box[:2]))
        )
        speaking = self._cue(rgb, tracks, audio, t) if self._cue is not None else {}
        return tracks, speaking

    def _assign_slots(self, tracks: list[Track]) -> list[tuple[int, Track]]:
        """(slot, track) of the faces the graph sees: the ``max_faces`` largest tracks (sorted
        largest first); a track keeps its slot from step to step, a new one takes the lowest
        free slot, whose carried nodes (another face's) are masked off."""
        shown = tracks[: self.spec.max_faces]
        kept = {tr.id: self._slots[tr.id] for tr in shown if tr.id in self._slots}
        free = iter(sorted(set(range(self.spec.max_faces)) - set(kept.values())))
        for tr in shown:
            if tr.id not in kept:
                kept[tr.id] = next(free)
                self._past[1][:, :, kept[tr.id]] = False
        self._slots = kept
        return [(kept[tr.id], tr) for tr in shown]

    def observe(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> None:
        """A frame the network skips (saliency stride): faces and the speaker cue only, so the
        cue sees frames ``observe_stride`` apart whatever the stride. Same inputs as
        ``__call__``."""
        if self._cue is not None:
            cut = self._cut(rgb)
            self._remember(rgb, t)
            self._faces(rgb, t, audio if self.audio_rate else None, cut)

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        """rgb (h, w, 3) uint8 at ``size_for``; t (s); audio (spec.audio_samples,) float32 at
        ``audio_rate`` or None (ignored unless ``listen``). Returns (h // 4, w // 4) float32
        summing to 1."""
        h, w = rgb.shape[:2]
        spec = self.spec
        audio = audio if self.audio_rate else None
        cut = self._cut(rgb)
        small = self._remember(rgb, t)
        tracks, speaking = self._faces(rgb, t, audio, cut)
        shown = self._assign_slots(tracks)
        boxes = np.zeros((1, spec.max_faces, 4), np.float32)
        mask = np.zeros((1, spec.max_faces), bool)
        for k, track in shown:
            boxes[0, k] = np.clip(track.box / [w, h, w, h], 0, 1)
            mask[0, k] = True

        def chw(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a.transpose(2, 0, 1)[None], np.float32) / 255

        crops = face_crops(small, boxes[0], mask[0], spec.face_crop).transpose(0, 3, 1, 2)[None]
        feed = {
            "frame": chw(small),
            "partner": chw(self._partner(t)),
            "boxes": boxes,
            "face_mask": mask,
            "crops": np.ascontiguousarray(crops, np.float32) / 255,
            **dict(zip(("h1", "c1", "h2", "c2"), self._state, strict=True)),
        }
        if self._cue is not None:
            cues = np.zeros((1, spec.max_faces, spec.face_cues), np.float32)
            for k, track in shown:
                cues[0, k] = face_cues(boxes[0, k], np.array([speaking.get(track.id, 0.0)]))[0]
            feed["cues"] = cues
        if spec.carries_nodes:
            feed["past_nodes"], feed["past_ok"] = self._past
        if audio is not None:
            feed["audio"] = np.asarray(audio, np.float32)[None]
        outputs = self._step(feed)
        log_sal, self._state = outputs[0], outputs[1:5]
        if spec.carries_nodes:  # this step's nodes join the window, the oldest leave it
            nodes, ok = self._past
            self._past = (
                np.concatenate([nodes[:, 1:], outputs[6][:, None].astype(np.float32)], 1),
                np.concatenate([ok[:, 1:], outputs[7][:, None].astype(bool)], 1),
            )
        grid = (max(w // 4, 1), max(h // 4, 1))
        if self._sources is not None:
            if len(outputs) < 6:
                raise PerceptcodecError(
                    "--sources: these VAM-Net graphs have no speaking output; re-export them "
                    "(perceptcodec export onnx)"
                )
            slots = [k for k, _ in shown]  # largest first
            shown_boxes = boxes[0, slots] * np.array([w, h, w, h], np.float32)
            speaking = np.asarray(outputs[5][0, slots], np.float32)
            ids = np.array([tr.id for _, tr in shown], np.int32)
            sound = sound_source_map(shown_boxes, speaking, (h, w), grid[::-1])
            self._sources = FaceSources(ids, shown_boxes, speaking, sound)
        return normalise_map(cv2.resize(np.exp(log_sal[0]), grid, interpolation=cv2.INTER_LINEAR))
