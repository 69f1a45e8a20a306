"""Export DAVE's window to ONNX (needs torch):
``perceptcodec export onnx --model dave`` or ``python -m perceptcodec.saliency.dave.export``.

Writes ``dave.onnx`` (opset 17; inputs video (1, 3, 16, H, W) and audio (1, 16, 64, 64),
output log_saliency (1, H / 8, W / 8)) and ``dave.json`` (the checkpoint config and the
weights' SHA-256) into a folder, default the weights' own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from perceptcodec.saliency.dave.runtime_onnx import INPUTS, OUTPUTS, onnx_path
from perceptcodec.saliency.dave.spec import (
    FRAMES,
    MEL_BANDS,
    PATCH_HOPS,
    WindowSpec,
    default_weights,
    load_checkpoint,
    write_spec,
)


def export(weights: Path, folder: Path | None = None) -> list[Path]:
    """Export the checkpoint ``weights`` into ``folder`` (default ``weights.parent``);
    returns the paths written."""
    import torch

    weights = Path(weights)
    folder = Path(folder) if folder else weights.parent
    net = load_checkpoint(weights)
    spec = WindowSpec.from_config(net.config)
    example = (
        torch.randn(1, 3, FRAMES, spec.height, spec.width),
        torch.randn(1, FRAMES, PATCH_HOPS, MEL_BANDS),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = onnx_path(folder)
    torch.onnx.export(
        net,
        example,
        str(path),
        input_names=list(INPUTS),
        output_names=list(OUTPUTS),
        opset_version=17,
        dynamo=False,
    )
    return [path, write_spec(folder, net.config, weights)]


def main() -> None:
    parser = argparse.ArgumentParser(description="Export DAVE's window to ONNX.")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped")
    parser.add_argument("--out", type=Path, default=None, help="default: beside the weights")
    args = parser.parse_args()
    for path in export(args.weights or default_weights(), args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
