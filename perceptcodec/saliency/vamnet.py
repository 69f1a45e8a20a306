"""``vamnet``: the trained VAM-Net as a streaming saliency model (PyTorch, CPU by default).

Per frame: faces are tracked (CenterFace every ``face_stride`` frames), the frame and the one
``motion_interval`` frames earlier go through the visual streams at 128 x 128, the ConvLSTM
state is carried from frame to frame, and the graph runs over the current frame's faces,
background and audio node (dropped without audio). Output: the 16 x 16 map upsampled
bilinearly to a quarter of the working size (80 x 45 for 16:9), like the prior's.
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

NET_SIZE = 128
MAX_FACES = 6


def default_weights() -> Path:
    return models_dir() / "vamnet" / "vamnet.pt"


class VamNetSaliency:
    """Trained VAM-Net (``name = "vamnet"``); weights from ``models/vamnet/vamnet.pt``."""

    name = "vamnet"
    audio_window_s = 0.64

    def __init__(self, weights: str | Path | None = None, device: str = "cpu",
                 face_stride: int = 10, threads: int = 1, width: int = 320) -> None:  # fmt: skip
        try:
            import torch
        except ImportError as exc:
            raise PerceptcodecError(
                "vamnet needs PyTorch: pip install torch==2.13.0 (or use --saliency prior)"
            ) from exc
        from perceptcodec.saliency.vamnet_net import AUDIO_RATE, VamNet, VamNetConfig

        path = Path(weights) if weights else default_weights()
        if not path.exists():
            raise PerceptcodecError(f"{path}: VAM-Net weights missing (train them: see README)")
        if device == "cpu" and threads:
            torch.set_num_threads(threads)
        ck = torch.load(path, map_location="cpu", weights_only=False)
        self.net = VamNet(VamNetConfig(**ck["config"]))
        self.net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                  for k, v in ck["state_dict"].items()})  # fmt: skip
        self.net.eval().to(device)
        self.torch, self.device = torch, torch.device(device)
        self.audio_rate = AUDIO_RATE
        self.width = width
        self.input_size = self.size_for(16, 9)
        self.tracker = FaceTracker(FaceDetector(input_width=width), stride=face_stride)
        self._frames: deque[np.ndarray] = deque(maxlen=self.net.config.motion_interval + 1)
        self._state: list | None = None

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """Working (width, height): ``self.width`` wide, aspect kept (faces are found there)."""
        return aspect_size(self.width, width, height)

    def reset(self) -> None:
        self.tracker.reset()
        self._frames.clear()
        self._state = None

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        from perceptcodec.training.data import face_crops

        torch = self.torch
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (NET_SIZE, NET_SIZE), interpolation=cv2.INTER_AREA)
        self._frames.append(small)
        tracks = sorted(self.tracker(rgb), key=lambda tr: -float(np.prod(tr.box[2:] - tr.box[:2])))
        boxes = np.zeros((MAX_FACES, 4), np.float32)
        mask = np.zeros(MAX_FACES, bool)
        for k, track in enumerate(tracks[:MAX_FACES]):
            boxes[k] = np.clip(track.box / [w, h, w, h], 0, 1)
            mask[k] = True

        def frames(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a).permute(2, 0, 1)[None, None].float().div(255)

        with torch.inference_mode():
            kwargs = {}
            if mask.any():
                crops = face_crops(small, boxes, mask)
                kwargs = {
                    "boxes": torch.from_numpy(boxes)[None, None],
                    "face_mask": torch.from_numpy(mask)[None, None],
                    "crops": torch.from_numpy(crops).permute(0, 3, 1, 2)[None, None].float() / 255,
                }
            wave = None
            if audio is not None:
                wave = torch.from_numpy(audio.astype(np.float32))[None, None].to(self.device)
            out = self.net(frames(small), frames(self._frames[0]), wave, state=self._state,
                           **{k: v.to(self.device) for k, v in kwargs.items()})  # fmt: skip
        self._state = out["state"]
        sal = out["log_saliency"][0, 0].exp().float().cpu().numpy()
        grid = (max(w // 4, 1), max(h // 4, 1))  # the prior's grid: smooth per-MB offsets
        return normalise_map(cv2.resize(sal, grid, interpolation=cv2.INTER_LINEAR))
