"""DAVE's window in PyTorch (CPU, or a CUDA GPU with FP16 autocast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.dave.spec import WindowSpec, load_checkpoint


class TorchWindow:
    """The network of checkpoint ``weights``, called like
    :class:`~perceptcodec.saliency.dave.runtime_onnx.OnnxWindow`; ``threads`` CPU threads."""

    def __init__(
        self, weights: Path, device: str = "cpu", threads: int = 1, half: bool = True
    ) -> None:
        try:
            import torch
        except ImportError as exc:
            raise PerceptcodecError(
                "dave --runtime torch needs PyTorch: pip install torch==2.13.0"
            ) from exc
        if device == "cuda" and not torch.cuda.is_available():
            raise PerceptcodecError("device cuda asked for, but PyTorch sees no CUDA GPU")
        if device == "cpu" and threads:
            torch.set_num_threads(threads)
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
