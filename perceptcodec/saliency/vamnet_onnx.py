"""VAM-Net's per-frame step as ONNX: export (needs torch) and an ONNX Runtime session (no torch).

The step takes one frame, its motion partner, up to MAX_FACES padded face boxes / crops with a
mask, the audio window (the ``noaudio`` graph has no audio node) and the ConvLSTM state, and
returns log-saliency (1 x 16 x 16) and the new state. Export:
``perceptcodec export onnx`` -> models/vamnet/vamnet_step.onnx and vamnet_step_noaudio.onnx.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptcodec.paths import models_dir

MAX_FACES = 6
INPUTS = ("frame", "partner", "boxes", "face_mask", "crops", "h1", "c1", "h2", "c2", "audio")
OUTPUTS = ("log_saliency", "h1_out", "c1_out", "h2_out", "c2_out")


def onnx_paths(folder: Path | None = None) -> dict[bool, Path]:
    """{has_audio: path} of the two exported graphs."""
    folder = folder or models_dir() / "vamnet"
    return {True: folder / "vamnet_step.onnx", False: folder / "vamnet_step_noaudio.onnx"}


def zero_state(config_hidden: tuple[int, int] = (64, 32), grid: int = 16) -> list[np.ndarray]:
    """ConvLSTM (h1, c1, h2, c2) at rest, float32."""
    h1, h2 = config_hidden
    return [np.zeros((1, c, grid, grid), np.float32) for c in (h1, h1, h2, h2)]


def export(weights: Path, folder: Path | None = None) -> list[Path]:
    """Export both graphs (with / without the audio node) from a weights file; opset 17."""
    import torch

    from perceptcodec.saliency.vamnet_net import VamNet, VamNetConfig

    ck = torch.load(weights, map_location="cpu", weights_only=False)
    net = VamNet(VamNetConfig(**ck["config"]))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in ck["state_dict"].items()})  # fmt: skip
    net.eval()

    class Step(torch.nn.Module):
        def __init__(self, with_audio: bool) -> None:
            super().__init__()
            self.net, self.with_audio = net, with_audio

        def forward(self, frame, partner, boxes, face_mask, crops, h1, c1, h2, c2, audio=None):  # noqa: E501
            wave = audio[:, None] if self.with_audio else None
            state = [(h1, c1), (h2, c2)]
            out = self.net(frame[:, None], partner[:, None], wave, boxes[:, None],
                           face_mask[:, None], crops[:, None], state=state)  # fmt: skip
            (h1, c1), (h2, c2) = out["state"]
            return out["log_saliency"][:, 0], h1, c1, h2, c2

    h1, h2 = net.lstm1.hidden, net.lstm2.hidden
    example = [
        torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128),
        torch.tensor([[[0.1, 0.2, 0.4, 0.6]] * MAX_FACES]),
        torch.zeros(1, MAX_FACES, dtype=torch.bool), torch.rand(1, MAX_FACES, 3, 48, 48),
        torch.zeros(1, h1, 16, 16), torch.zeros(1, h1, 16, 16),
        torch.zeros(1, h2, 16, 16), torch.zeros(1, h2, 16, 16),
    ]  # fmt: skip
    written = []
    for with_audio, path in onnx_paths(folder).items():
        args = (*example, torch.randn(1, 14112)) if with_audio else tuple(example)
        names = list(INPUTS if with_audio else INPUTS[:-1])
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(Step(with_audio), args, str(path), input_names=names,
                          output_names=list(OUTPUTS), opset_version=17, dynamo=False)  # fmt: skip
        written.append(path)
    return written


class OnnxStep:
    """ONNX Runtime sessions for both graphs (CPU, ``threads`` intra-op threads)."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.sessions = {
            has_audio: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
            for has_audio, p in onnx_paths(folder).items()
        }

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.sessions["audio" in feed].run(None, feed)
