"""``vamnet``: the trained VAM-Net as a streaming saliency model.

Per frame: faces are tracked (CenterFace every ``face_stride`` frames), the frame and the one
``motion_interval`` frames earlier go through the visual streams at 128 x 128, the ConvLSTM
state is carried from frame to frame, and the graph runs over the current frame's faces (up to
6), background and audio node (dropped without audio). Output: the 16 x 16 map upsampled
bilinearly to a quarter of the working size (80 x 45 for 16:9), like the prior's.

Runtimes: ``onnx`` (ONNX Runtime on the exported step, CPU, no torch needed), ``torch``
(PyTorch; on a CUDA GPU with FP16 autocast), ``tensorrt`` (FP16 engines built from the exported
graphs, see :mod:`perceptcodec.saliency.vamnet_trt`), ``auto`` (the fastest present: on a
machine with an NVIDIA GPU TensorRT, else PyTorch on CUDA; on the CPU ONNX Runtime when the
exported graphs exist, else PyTorch).
"""

from __future__ import annotations

import importlib.util
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.base import aspect_size, normalise_map
from perceptcodec.saliency.faces import FaceDetector, FaceTracker
from perceptcodec.saliency.options import Runtime, VamNetOptions
from perceptcodec.saliency.vamnet_onnx import MAX_FACES, OnnxStep, onnx_paths, zero_state

NET_SIZE = 128
AUDIO_RATE = 22050
MOTION_INTERVAL = 5


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


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver exposes a GPU here (checked without importing torch)."""
    return Path("/dev/nvidiactl").exists() and Path("/dev/nvidia0").exists()


def cuda_usable() -> bool:
    """Whether PyTorch can run on an NVIDIA GPU here (torch is imported only where one is)."""
    if not nvidia_gpu_present() or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


class TorchStep:
    """The per-frame step in PyTorch, fed and answering like :class:`OnnxStep`; on CUDA with
    FP16 autocast (``half``)."""

    def __init__(self, weights: Path, device: str = "cpu", threads: int = 1,
                 half: bool = True) -> None:  # fmt: skip
        try:
            import torch
        except ImportError as exc:
            raise PerceptcodecError(
                "vamnet --runtime torch needs PyTorch: pip install torch==2.13.0"
            ) from exc
        from perceptcodec.saliency.vamnet_net import VamNet, VamNetConfig

        if device == "cuda" and not torch.cuda.is_available():
            raise PerceptcodecError("device cuda asked for, but PyTorch sees no CUDA GPU")
        if device == "cpu" and threads:
            torch.set_num_threads(threads)
        ck = torch.load(weights, map_location="cpu", weights_only=False)
        self.net = VamNet(VamNetConfig(**ck["config"]))
        self.net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                  for k, v in ck["state_dict"].items()})  # fmt: skip
        self.net.eval().to(device)
        self.torch, self.device = torch, torch.device(device)
        self.half = half and device == "cuda"

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self.torch
        t = {k: torch.from_numpy(v).to(self.device) for k, v in feed.items()}
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, torch.float16, enabled=self.half),
        ):
            out = self.net(t["frame"][:, None], t["partner"][:, None],
                           t["audio"][:, None] if "audio" in t else None, t["boxes"][:, None],
                           t["face_mask"][:, None], t["crops"][:, None],
                           state=[(t["h1"], t["c1"]), (t["h2"], t["c2"])])  # fmt: skip
        (h1, c1), (h2, c2) = out["state"]
        return [x.float().cpu().numpy() for x in (out["log_saliency"][:, 0], h1, c1, h2, c2)]


def pick_runtime(have_onnx: bool, gpu: bool) -> Runtime:
    """What ``auto`` means here: TensorRT on an NVIDIA GPU when importable, else PyTorch (CUDA);
    on the CPU ONNX Runtime when the graphs are exported and it is importable, else PyTorch."""
    if gpu:
        return Runtime.TENSORRT if importlib.util.find_spec("tensorrt") else Runtime.TORCH
    if have_onnx and importlib.util.find_spec("onnxruntime"):
        return Runtime.ONNX
    return Runtime.TORCH


def make_step(
    runtime: Runtime, weights: Path, device: str, threads: int
) -> tuple[str, object]:
    """(runtime actually used, step callable) for a --runtime choice; ``device`` ``auto`` means
    CUDA when an NVIDIA GPU is present (for torch), else the CPU."""
    have_onnx = all(p.exists() for p in onnx_paths(weights.parent).values())
    gpu = cuda_usable() if device == "auto" else device == "cuda"
    if runtime is Runtime.AUTO:
        runtime = pick_runtime(have_onnx, gpu)
    if runtime is Runtime.TENSORRT:
        from perceptcodec.saliency.vamnet_trt import TensorRtStep

        return "tensorrt fp16", TensorRtStep(weights.parent)
    if runtime is Runtime.ONNX:
        if not have_onnx:
            raise PerceptcodecError(
                f"no exported VAM-Net graphs in {weights.parent}: run `perceptcodec export onnx`"
            )
        return "onnx", OnnxStep(weights.parent, threads)
    if not weights.exists():
        raise PerceptcodecError(f"{weights}: VAM-Net weights missing (see models/vamnet)")
    step = TorchStep(weights, "cuda" if gpu else "cpu", threads)
    return ("torch cuda fp16" if step.half else f"torch {step.device.type}"), step


class VamNetSaliency:
    """Trained VAM-Net (``name = "vamnet"``); weights and exported graphs in models/vamnet/."""

    name = "vamnet"
    audio_rate = AUDIO_RATE
    audio_window_s = 0.64

    def __init__(
        self, options: VamNetOptions | None = None, runtime: Runtime | str = Runtime.AUTO
    ) -> None:
        o = options or VamNetOptions()
        weights = Path(o.weights) if o.weights else default_weights()
        self.runtime, self._step = make_step(Runtime.parse(runtime), weights, o.device, o.threads)
        self.width = o.width
        self.tracker = FaceTracker(FaceDetector(input_width=o.width), stride=o.face_stride)
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
