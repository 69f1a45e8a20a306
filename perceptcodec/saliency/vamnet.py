"""``vamnet``: the trained VAM-Net as a streaming saliency model.

Per frame: faces are tracked (CenterFace every ``face_stride`` frames), the frame and the one
``motion_interval`` frames earlier go through the visual streams at 128 x 128, the ConvLSTM
state is carried from frame to frame, and the graph runs over the current frame's faces (up to
6), background and audio node (dropped without audio). Output: the 16 x 16 map upsampled
bilinearly to a quarter of the working size (80 x 45 for 16:9), like the prior's.

Runtimes: ``onnx`` (ONNX Runtime on the exported step, no torch needed), ``torch`` (PyTorch,
CPU or CUDA), ``tensorrt`` (not available in this build: says so), ``auto`` (onnx when the
exported graphs and onnxruntime are present, else torch).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.base import aspect_size, normalise_map
from perceptcodec.saliency.faces import FaceDetector, FaceTracker
from perceptcodec.saliency.vamnet_onnx import MAX_FACES, OnnxStep, onnx_paths, zero_state

NET_SIZE = 128
AUDIO_RATE = 22050
MOTION_INTERVAL = 5
RUNTIMES = ("auto", "onnx", "torch", "tensorrt")


def default_weights() -> Path:
    return models_dir() / "vamnet" / "vamnet.pt"


def face_crops(
    frame: np.ndarray, boxes: np.ndarray, mask: np.ndarray, side: int = 48
) -> np.ndarray:
    """K x side x side x 3 crops of the boxes (x0, y0, x1, y1 in [0, 1]); zeros where ``mask``
    is off."""
    h, w = frame.shape[:2]
    out = np.zeros((len(boxes), side, side, 3), np.uint8)
    for k, (box, ok) in enumerate(zip(boxes, mask, strict=True)):
        if not ok:
            continue
        x0, x1 = int(box[0] * w), max(int(np.ceil(box[2] * w)), int(box[0] * w) + 1)
        y0, y1 = int(box[1] * h), max(int(np.ceil(box[3] * h)), int(box[1] * h) + 1)
        patch = frame[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
        if patch.size:
            out[k] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_LINEAR)
    return out


class TorchStep:
    """The per-frame step in PyTorch, fed and answering like :class:`OnnxStep`."""

    def __init__(self, weights: Path, device: str = "cpu", threads: int = 1) -> None:
        try:
            import torch
        except ImportError as exc:
            raise PerceptcodecError(
                "vamnet --runtime torch needs PyTorch: pip install torch==2.13.0"
            ) from exc
        from perceptcodec.saliency.vamnet_net import VamNet, VamNetConfig

        if device == "cpu" and threads:
            torch.set_num_threads(threads)
        ck = torch.load(weights, map_location="cpu", weights_only=False)
        self.net = VamNet(VamNetConfig(**ck["config"]))
        self.net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                  for k, v in ck["state_dict"].items()})  # fmt: skip
        self.net.eval().to(device)
        self.torch, self.device = torch, torch.device(device)

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        t = {k: self.torch.from_numpy(v).to(self.device) for k, v in feed.items()}
        with self.torch.inference_mode():
            out = self.net(t["frame"][:, None], t["partner"][:, None],
                           t["audio"][:, None] if "audio" in t else None, t["boxes"][:, None],
                           t["face_mask"][:, None], t["crops"][:, None],
                           state=[(t["h1"], t["c1"]), (t["h2"], t["c2"])])  # fmt: skip
        (h1, c1), (h2, c2) = out["state"]
        return [x.float().cpu().numpy() for x in (out["log_saliency"][:, 0], h1, c1, h2, c2)]


def make_step(runtime: str, weights: Path, device: str, threads: int) -> tuple[str, object]:
    """(runtime actually used, step callable) for a --runtime choice."""
    if runtime not in RUNTIMES:
        raise PerceptcodecError(f"unknown runtime {runtime!r}; one of {', '.join(RUNTIMES)}")
    if runtime == "tensorrt":
        try:
            import tensorrt  # noqa: F401
        except ImportError as exc:
            raise PerceptcodecError(
                "TensorRT is not installed here: use --runtime onnx or torch"
            ) from exc
        raise PerceptcodecError(
            "the TensorRT runtime is not built yet: use --runtime onnx or torch"
        )
    have_onnx = all(p.exists() for p in onnx_paths(weights.parent).values())
    if runtime == "onnx" or (runtime == "auto" and have_onnx and device == "cpu"):
        if not have_onnx:
            raise PerceptcodecError(
                f"no exported VAM-Net graphs in {weights.parent}: run `perceptcodec export onnx`"
            )
        return "onnx", OnnxStep(weights.parent, threads)
    if not weights.exists():
        raise PerceptcodecError(f"{weights}: VAM-Net weights missing (see models/vamnet)")
    return "torch", TorchStep(weights, device, threads)


class VamNetSaliency:
    """Trained VAM-Net (``name = "vamnet"``); weights and exported graphs in models/vamnet/."""

    name = "vamnet"
    audio_rate = AUDIO_RATE
    audio_window_s = 0.64

    def __init__(self, weights: str | Path | None = None, runtime: str = "auto",
                 device: str = "cpu", face_stride: int = 10, threads: int = 1,
                 width: int = 320) -> None:  # fmt: skip
        weights = Path(weights) if weights else default_weights()
        self.runtime, self._step = make_step(runtime, weights, device, threads)
        self.width = width
        self.input_size = self.size_for(16, 9)
        self.tracker = FaceTracker(FaceDetector(input_width=width), stride=face_stride)
        self._frames: deque[np.ndarray] = deque(maxlen=MOTION_INTERVAL + 1)
        self._state = zero_state()

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """Working (width, height): ``self.width`` wide, aspect kept (faces are found there)."""
        return aspect_size(self.width, width, height)

    def reset(self) -> None:
        self.tracker.reset()
        self._frames.clear()
        self._state = zero_state()

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (NET_SIZE, NET_SIZE), interpolation=cv2.INTER_AREA)
        self._frames.append(small)
        tracks = sorted(self.tracker(rgb), key=lambda tr: -float(np.prod(tr.box[2:] - tr.box[:2])))
        boxes = np.zeros((1, MAX_FACES, 4), np.float32)
        mask = np.zeros((1, MAX_FACES), bool)
        for k, track in enumerate(tracks[:MAX_FACES]):
            boxes[0, k] = np.clip(track.box / [w, h, w, h], 0, 1)
            mask[0, k] = True

        def chw(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a.transpose(2, 0, 1)[None], np.float32) / 255

        crops = face_crops(small, boxes[0], mask[0]).transpose(0, 3, 1, 2)[None]
        feed = {"frame": chw(small), "partner": chw(self._frames[0]), "boxes": boxes,
                "face_mask": mask, "crops": np.ascontiguousarray(crops, np.float32) / 255,
                **dict(zip(("h1", "c1", "h2", "c2"), self._state, strict=True))}  # fmt: skip
        if audio is not None:
            feed["audio"] = np.asarray(audio, np.float32)[None]
        log_sal, *self._state = self._step(feed)
        grid = (max(w // 4, 1), max(h // 4, 1))
        return normalise_map(cv2.resize(np.exp(log_sal[0]), grid, interpolation=cv2.INTER_LINEAR))
