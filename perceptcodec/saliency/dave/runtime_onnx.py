"""DAVE's window on ONNX Runtime (CPU); no torch needed.

The export (:mod:`perceptcodec.saliency.dave.export`) writes ``dave.onnx`` and ``dave.json``
(the checkpoint config) beside the weights. Inputs ``video`` (1, 3, 16, H, W) and ``audio``
(1, 16, 64, 64), output ``log_saliency`` (1, H / 8, W / 8):
:class:`perceptcodec.saliency.dave.spec.WindowSpec`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.base import cpu_session
from perceptcodec.saliency.dave.spec import ONNX_NAME, SPEC_NAME, WindowSpec, read_spec

INPUTS = ("video", "audio")
OUTPUTS = ("log_saliency",)


def onnx_path(folder: Path | None = None) -> Path:
    """The exported graph in ``folder`` (default: the shipped perceptcodec/models/dave)."""
    return (folder or models_dir() / "dave") / ONNX_NAME


def exported(folder: Path | None = None) -> bool:
    """Whether ``folder`` holds a complete export: dave.onnx and dave.json."""
    path = onnx_path(folder)
    return path.exists() and (path.parent / SPEC_NAME).exists()


class OnnxWindow:
    """An ONNX Runtime session (CPU, ``threads`` intra-op threads) of the exported graph;
    called with (video, audio) arrays, answers log_saliency (1, h, w) float32."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime  # noqa: F401  (checked first, for the message below)
        except ImportError as exc:
            raise PerceptcodecError(
                "dave --runtime onnx needs ONNX Runtime: pip install onnxruntime"
            ) from exc
        path = onnx_path(folder)
        if not exported(path.parent):
            raise PerceptcodecError(
                f"{path.parent}: no exported DAVE graph (dave.onnx + dave.json): run "
                "`perceptcodec export onnx --model dave`"
            )
        self.session = cpu_session(path, threads)
        self.config = read_spec(path.parent)
        self.spec = WindowSpec.from_config(self.config)
        shape = tuple(self.session.get_inputs()[0].shape)
        if shape[-2:] != (self.spec.height, self.spec.width):
            raise PerceptcodecError(
                f"{path}: graph input {shape} disagrees with {SPEC_NAME}: re-export"
            )

    def __call__(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"video": video, "audio": audio})[0]
