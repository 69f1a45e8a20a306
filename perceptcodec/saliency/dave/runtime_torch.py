"""DAVE's window in PyTorch (CPU, or a CUDA GPU with FP16 autocast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptcodec.saliency.checkpoint import runtime_torch
from perceptcodec.saliency.dave.spec import WindowSpec, load_checkpoint


class TorchWindow:
    """The network of checkpoint ``weights``, called like
    :class:`~perceptcodec.saliency.dave.runtime_onnx.OnnxWindow`; ``threads`` CPU threads."""

    def __init__(
        self, weights: Path, device: str = "cpu", threads: int = 1, half: bool = True
    ) -> None:
        torch = runtime_torch("dave", device, threads)
        self.net = load_checkpoint(weights, device)
        self.config = self.net.config
        self.spec = WindowSpec.from_config(self.config)
        self.torch, self.device = torch, torch.device(device)
        self.half = half and device == "cuda"

    def __call__(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        torch = self.torch
        v = torch.from_numpy(video).to(self.device)
        a = torch.from_numpy(audio).to(self.device)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, torch.float16, enabled=self.half),
        ):
            out = self.net(v, a)
        return out.float().cpu().numpy()
