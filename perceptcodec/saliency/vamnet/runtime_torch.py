"""VAM-Net's per-frame step in PyTorch (CPU, or a CUDA GPU with FP16 autocast)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from perceptcodec.saliency.checkpoint import runtime_torch
from perceptcodec.saliency.vamnet.spec import StepSpec, load_checkpoint


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
    """The per-frame step of checkpoint ``weights``, fed and answering like
    :class:`~perceptcodec.saliency.vamnet.runtime_onnx.OnnxStep`; shapes (``spec``) from the
    checkpoint's config. On CUDA with FP16 autocast (``half``); ``threads`` CPU threads."""

    def __init__(
        self, weights: Path, device: str = "cpu", threads: int = 1, half: bool = True
    ) -> None:
        torch = runtime_torch("vamnet", device, threads)
        self.net = load_checkpoint(weights, device)
        self.spec = StepSpec.from_config(self.net.config)
        self.torch, self.device = torch, torch.device(device)
        self.half = half and device == "cuda"

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        from perceptcodec.saliency.vamnet.net import step_speaking  # torch is there by now

        torch = self.torch
        t = {k: torch.from_numpy(v).to(self.device) for k, v in feed.items()}
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, torch.float16, enabled=self.half),
        ):
            out = self.net(
                t["frame"][:, None],
                t["partner"][:, None],
                t["audio"][:, None] if "audio" in t else None,
                t["boxes"][:, None],
                t["face_mask"][:, None],
                t["crops"][:, None],
                state=[(t["h1"], t["c1"]), (t["h2"], t["c2"])],
                cues=t["cues"][:, None] if "cues" in t else None,
                past=(t["past_nodes"], t["past_ok"]) if "past_nodes" in t else None,
            )
        (h1, c1), (h2, c2) = out["state"]
        outputs = [out["log_saliency"][:, 0], h1, c1, h2, c2, step_speaking(out, t["face_mask"])]
        if self.spec.carries_nodes:
            outputs += [out["nodes"][:, 0], out["node_ok"][:, 0]]
        return [x.float().cpu().numpy() for x in outputs]  # node_ok as 0 / 1
