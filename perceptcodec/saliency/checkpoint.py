"""What the trained networks (VAM-Net, DAVE) share: their checkpoint file format, the
provenance JSON beside exported graphs, and PyTorch set up for a runtime.

Torch-free at import: torch is imported when a function needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from perceptcodec.errors import PerceptcodecError


def _torch(why: str):
    try:
        import torch
    except ImportError as exc:
        raise PerceptcodecError(f"{why} needs PyTorch: pip install torch==2.13.0") from exc
    return torch


def load_network(
    path: str | os.PathLike[str],
    device: str,
    name: str,
    build: Callable[[Mapping[str, Any], str], Any],
) -> Any:
    """The network of a checkpoint (``{"state_dict": fp16/fp32 tensors, "config": dict}``),
    float32, in eval mode, on ``device``: ``build(config dict, where)`` makes it from the
    checkpoint's own config; ``name`` (``VAM-Net``, ``DAVE``) words the errors."""
    torch = _torch(f"loading {name} weights")
    if not Path(path).exists():
        folder = f"perceptcodec/models/{name.lower().replace('-', '')}"
        raise PerceptcodecError(f"{path}: {name} weights missing (see {folder})")
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = build(ck["config"], f"{path} config")
    net.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
    )
    return net.eval().to(device)


def save_network(
    path: str | os.PathLike[str], net: Any, steps: int, train_config: Mapping[str, Any]
) -> Path:
    """Write the shipped format (fp16 state dict + ``net.config`` + the training config +
    steps) atomically (a temporary file renamed), so a failure never leaves half a file."""
    import torch

    path = Path(path)
    half = {
        k: (v.half() if v.is_floating_point() else v).cpu() for k, v in net.state_dict().items()
    }
    tmp = path.with_suffix(f".{os.getpid()}.part")
    torch.save(
        {
            "state_dict": half,
            "config": asdict(net.config),
            "train_config": dict(train_config),
            "steps": steps,
        },
        tmp,
    )
    tmp.replace(path)
    return path


def write_provenance(path: Path, config: Any, weights: Path) -> Path:
    """JSON at ``path`` beside exported graphs: the checkpoint's config (a dataclass) and the
    weights' file name and SHA-256."""
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    info = {"config": asdict(config), "weights": Path(weights).name, "weights_sha256": digest}
    path.write_text(json.dumps(info, indent=1) + "\n")
    return path


def runtime_torch(model: str, device: str, threads: int):
    """torch, set up for ``model``'s ``--runtime torch`` on ``device`` (cpu: ``threads``
    threads when > 0); one-line errors without torch or without the CUDA GPU asked for."""
    torch = _torch(f"{model} --runtime torch")
    if device == "cuda" and not torch.cuda.is_available():
        raise PerceptcodecError("device cuda asked for, but PyTorch sees no CUDA GPU")
    if device == "cpu" and threads:
        torch.set_num_threads(threads)
    return torch
