"""VAM-Net, our trained audio-visual saliency network, as a package:

- :mod:`.spec`: fixed sizes, :class:`~.spec.VamNetConfig`, the step's shapes, the one
  ``load_checkpoint`` / ``save_checkpoint`` (torch-free at import);
- :mod:`.net`: the PyTorch network (training and the torch runtime);
- :mod:`.export`: ONNX export of the per-frame step (``perceptcodec export onnx``);
- :mod:`.runtime_onnx`, :mod:`.runtime_torch`, :mod:`.runtime_trt`: the per-frame step on
  ONNX Runtime (no torch), PyTorch, TensorRT;
- :mod:`.model`: :class:`VamNetSaliency`, the streaming saliency model (registry ``vamnet``).

Names below are loaded on first use (PEP 562), so importing a submodule (training imports
``spec`` and ``net``) does not import the inference wrapper, and ONNX inference never
imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "VamNetSaliency": "model",
    "pick_runtime": "model",
    "make_step": "model",
    "nvidia_gpu_present": "runtime_torch",
    "default_weights": "spec",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
