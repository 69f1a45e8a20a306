"""VAM-Net's per-frame step on ONNX Runtime (CPU); no torch needed.

The exported step (``perceptcodec export onnx``, see :mod:`perceptcodec.saliency.vamnet.export`)
is two graphs beside the weights, with and without the audio node, plus ``vamnet_step.json``
(the checkpoint config the graphs came from). Inputs and outputs:
:class:`perceptcodec.saliency.vamnet.spec.StepSpec`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.base import cpu_session
from perceptcodec.saliency.vamnet.spec import STEP_SPEC_NAME, StepSpec, read_step_spec

# the inputs every step graph has, in order; then "cues", "past_nodes", "past_ok" where the spec
# has them (face_cues, carries_nodes), "audio" only in the graph with the audio node
INPUTS = ("frame", "partner", "boxes", "face_mask", "crops", "h1", "c1", "h2", "c2")
OUTPUTS = ("log_saliency", "h1_out", "c1_out", "h2_out", "c2_out", "speaking")
NODE_OUTPUTS = ("nodes_out", "node_ok_out")  # when the spec carries nodes


def onnx_paths(folder: Path | None = None) -> dict[bool, Path]:
    """{has_audio: path} of the two exported graphs in ``folder`` (default: the shipped
    perceptcodec/models/vamnet)."""
    folder = folder or models_dir() / "vamnet"
    return {True: folder / "vamnet_step.onnx", False: folder / "vamnet_step_noaudio.onnx"}


def exported(folder: Path | None = None) -> bool:
    """Whether ``folder`` holds a complete export: both graphs and vamnet_step.json."""
    paths = onnx_paths(folder)
    files = [*paths.values(), paths[True].parent / STEP_SPEC_NAME]
    return all(p.exists() for p in files)


class OnnxStep:
    """ONNX Runtime sessions for both graphs (CPU, ``threads`` intra-op threads); called with
    a feed {input name: array} (``audio`` present or not picks the graph), answers
    [log_saliency, h1, c1, h2, c2, speaking (, nodes, node_ok)] as arrays; ``spec`` gives the
    shapes."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime  # noqa: F401  (checked first, for the message below)
        except ImportError as exc:
            raise PerceptcodecError(
                "vamnet --runtime onnx needs ONNX Runtime: pip install onnxruntime"
            ) from exc
        paths = onnx_paths(folder)
        for path in paths.values():
            if not path.exists():
                raise PerceptcodecError(f"{path} missing: run `perceptcodec export onnx`")
        self.sessions = {has_audio: cpu_session(p, threads) for has_audio, p in paths.items()}
        shapes = {i.name: tuple(i.shape) for i in self.sessions[True].get_inputs()}
        self.spec: StepSpec = read_step_spec(paths[True].parent, shapes)

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.sessions["audio" in feed].run(None, feed)
