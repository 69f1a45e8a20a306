"""DAVE (Tavakoli et al.), the second seed paper's audio-visual saliency network, trained
here, as a package mirroring :mod:`perceptcodec.saliency.vamnet`:

- :mod:`.spec`: fixed preprocessing (frame normalisation, log mel patches),
  :class:`~.spec.DaveConfig`, the window's shapes, ``load_checkpoint`` /
  ``save_checkpoint`` (torch-free at import);
- :mod:`.net`: the PyTorch network (training and the torch runtime);
- :mod:`.export`: ONNX export of one window (``perceptcodec export onnx --model dave``);
- :mod:`.runtime_onnx`, :mod:`.runtime_torch`: one window on ONNX Runtime (no torch) or
  PyTorch;
- :mod:`.model`: :class:`DaveSaliency`, the streaming saliency model (registry ``dave``).

Names below are loaded on first use (PEP 562), so ONNX inference never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DaveSaliency": "model",
    "default_weights": "spec",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
