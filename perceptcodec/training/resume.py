"""``last.pt`` of a training run, shared by the VAM-Net and DAVE trainers: saved atomically at
every validation, restored by ``resume``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"


def save_last(folder: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, **state: Any) -> None:
    """Write ``folder/last.pt`` (network, optimiser and ``state``: step, generator, schedule,
    ...) through a temporary file, so a run killed while saving keeps its previous one."""
    tmp = folder / f"last.{os.getpid()}.part"
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), **state}, tmp)
    tmp.replace(folder / LAST)


def load_last(
    folder: Path, device: torch.device | str, net: torch.nn.Module, opt: torch.optim.Optimizer
) -> dict[str, Any] | None:
    """Restore the network and optimiser from ``folder/last.pt`` and return the whole
    checkpoint (for the caller's step, generator, schedule); None when there is none."""
    path = folder / LAST
    if not path.exists():
        return None
    ck = torch.load(path, map_location=device, weights_only=False)
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    return ck
