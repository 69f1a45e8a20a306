"""Export VAM-Net's per-frame step to ONNX (needs torch): ``perceptcodec export onnx``.

Writes ``vamnet_step.onnx`` (with the audio node), ``vamnet_step_noaudio.onnx`` (opset 17)
and ``vamnet_step.json`` (the checkpoint config, for the motion interval the graphs cannot
carry) into a folder, default the weights' own. Shapes: :class:`~.spec.StepSpec`.
"""

from __future__ import annotations

from pathlib import Path

from perceptcodec.saliency.vamnet.runtime_onnx import INPUTS, NODE_OUTPUTS, OUTPUTS, onnx_paths
from perceptcodec.saliency.vamnet.spec import StepSpec, load_checkpoint, write_step_spec


def export(weights: Path, folder: Path | None = None) -> list[Path]:
    """Export both graphs (with / without the audio node) of the checkpoint ``weights`` into
    ``folder`` (default ``weights.parent``), and the JSON beside them; returns the paths."""
    import torch

    from perceptcodec.saliency.vamnet.net import step_speaking

    weights = Path(weights)
    folder = Path(folder) if folder else weights.parent
    net = load_checkpoint(weights)
    spec = StepSpec.from_config(net.config)

    class Step(torch.nn.Module):
        def __init__(self, with_audio: bool) -> None:
            super().__init__()
            self.net, self.with_audio = net, with_audio

        def forward(self, frame, partner, boxes, face_mask, crops, h1, c1, h2, c2, *rest):
            rest = list(rest)
            cues = rest.pop(0)[:, None] if spec.face_cues else None
            past = (rest.pop(0), rest.pop(0)) if spec.carries_nodes else None
            wave = rest.pop(0)[:, None] if self.with_audio else None
            state = [(h1, c1), (h2, c2)]
            out = self.net(
                frame[:, None],
                partner[:, None],
                wave,
                boxes[:, None],
                face_mask[:, None],
                crops[:, None],
                state=state,
                cues=cues,
                past=past,
            )
            (h1, c1), (h2, c2) = out["state"]
            outputs = (out["log_saliency"][:, 0], h1, c1, h2, c2, step_speaking(out, face_mask))
            if spec.carries_nodes:
                outputs += (out["nodes"][:, 0], out["node_ok"][:, 0])
            return outputs

    n, k, side = spec.input_size, spec.max_faces, spec.face_crop
    state = [torch.from_numpy(s) for s in spec.zero_state()]
    example = [
        torch.rand(1, 3, n, n),
        torch.rand(1, 3, n, n),
        torch.tensor([[[0.1, 0.2, 0.4, 0.6]] * k]),
        torch.zeros(1, k, dtype=torch.bool),
        torch.rand(1, k, 3, side, side),
        *state,
    ]
    base = list(INPUTS)
    if spec.face_cues:
        example.append(torch.rand(1, k, spec.face_cues))
        base.append("cues")
    if spec.carries_nodes:
        nodes, ok = spec.zero_past()
        example += [torch.randn(*nodes.shape), torch.from_numpy(~ok)]
        base += ["past_nodes", "past_ok"]
    outputs = [*OUTPUTS, *NODE_OUTPUTS] if spec.carries_nodes else list(OUTPUTS)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for with_audio, path in onnx_paths(folder).items():
        args = (*example, torch.randn(1, spec.audio_samples)) if with_audio else tuple(example)
        names = [*base, "audio"] if with_audio else base
        torch.onnx.export(
            Step(with_audio),
            args,
            str(path),
            input_names=names,
            output_names=outputs,
            opset_version=17,
            dynamo=False,
        )
        written.append(path)
    written.append(write_step_spec(folder, net.config, weights))
    return written
