"""VAM-Net checkpoints through the trainer's validation on the training cache's held-out part:
saliency metrics on the validation images (32 x 32 grid, face boxes from the labels) and
speaking-face accuracy on the validation composites, per setting (``talkers``: the other face
talks too, muted; ``listeners``: the other face is silent, the speaker's audio plays;
``silent``: the same without sound), as ``perceptcodec.training.trainer.validate`` computes
them during training; and the accuracy of the face cue itself on the same frames.

    python eval/vamnet_speaking.py --checkpoints perceptcodec/models/vamnet/vamnet.pt \\
        --config perceptcodec/models/vamnet/configs/cues_cpu.toml --out eval/results/x.json

A checkpoint without face cues loaded into a ``[model]`` with them starts as fine-tuning does
(node features at zero, the cue's speaking logit added with gain 1): ``--config`` sets the
network the checkpoints are read into.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from perceptcodec.training.config import load_config
from perceptcodec.training.data import CacheData
from perceptcodec.training.trainer import build_model, validate


def cue_alone(data: CacheData) -> dict[str, float]:
    """Per setting, the accuracy of the face cue itself (the cache's ``cues[..., 0]``: the
    active-speaker probability) on the frames the validation scores (two faces, one
    speaker)."""
    hits: dict[str, list[bool]] = {}
    for g in data.indices("composite", 1):
        rows = data.members[g]
        mask, label, cue = data.face_mask[rows], data.speaking[rows], data.cues[rows, :, 0]
        for m, y, p in zip(mask, label, cue, strict=True):
            if m.sum() == 2 and y[m].sum() == 1:
                hit = np.argmax(np.where(m, p, -1)) == np.argmax(y)
                hits.setdefault(data.groups[g].get("setting", "talkers"), []).append(bool(hit))
    return {f"speaking_accuracy_{k}": float(np.mean(v)) for k, v in hits.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", nargs="+", type=Path, required=True)
    parser.add_argument("--config", type=Path, required=True, help="training TOML ([model])")
    parser.add_argument("--cache", type=Path, default=Path(".cache_train/vamnet_cache.npz"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    data = CacheData(args.cache, cfg.model.audio_window_s)
    results = {"the face cue alone": cue_alone(data)}
    print(results, flush=True)
    for path in args.checkpoints:
        net = build_model(cfg, path)
        results[str(path)] = validate(net, data, torch.device("cpu"), cfg.data.clip_spacing)
        print(path, {k: v for k, v in results[str(path)].items() if "speaking" in k}, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": str(args.config), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
