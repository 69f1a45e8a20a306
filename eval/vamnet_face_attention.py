"""Which face VAM-Net weights first on still images it never trained on: its graph's face
attention (eq. 12's weights) on the validation EyeCrowd images of the training cache (every
10th image; face boxes from the labels; the face cues' speaking probability 0, as on a still),
against the share of the viewers' fixations on each face.

Per image with >= 2 faces and fixations on them: the share of the face fixations that land on
the face the model ranks first (the best possible is the most-fixated face's share) and the
Spearman correlation of the model's weights with the viewers' shares; "largest face first"
is the baseline. (These images are in the prior's fitting split, so the prior is not scored.)

    python eval/vamnet_face_attention.py --checkpoints A.pt B.pt --configs A.toml B.toml \\
        --out eval/results/vamnet_face_attention.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from perceptcodec.training.config import load_config
from perceptcodec.training.data import CacheData
from perceptcodec.training.trainer import build_model, forward_batch


def rank_scores(weights: list[np.ndarray], shares: list[np.ndarray]) -> dict[str, float]:
    """Mean first-ranked face's share, the best possible, and mean Spearman rho."""
    top1 = [s[int(np.argmax(w))] for w, s in zip(weights, shares, strict=True)]
    rho = [
        spearmanr(w, s).statistic
        for w, s in zip(weights, shares, strict=True)
        if np.ptp(w) > 0 and np.ptp(s) > 0
    ]
    return {
        "images": len(top1),
        "top1_share": float(np.mean(top1)),
        "top1_share_best": float(np.mean([s.max() for s in shares])),
        "spearman_mean": float(np.mean(rho)),
        "spearman_images": len(rho),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", nargs="+", type=Path, required=True)
    parser.add_argument("--configs", nargs="+", type=Path, required=True, help="one per checkpoint")
    parser.add_argument("--cache", type=Path, default=Path(".cache_train/vamnet_cache.npz"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = CacheData(args.cache)
    rows = [
        data.members[g][0]
        for g in data.indices("image", 1)
        if data.groups[g]["name"].startswith("eyecrowd/")
    ]
    rows = [r for r in rows if data.face_mask[r].sum() >= 2 and data.attention[r].sum() > 0]
    shares = [data.attention[r][data.face_mask[r]] / data.attention[r].sum() for r in rows]
    sizes = [
        np.prod(data.boxes[r][data.face_mask[r], 2:] - data.boxes[r][data.face_mask[r], :2], 1)
        for r in rows
    ]
    results = {"largest face first": rank_scores(sizes, shares)}
    for path, config in zip(args.checkpoints, args.configs, strict=True):
        net = build_model(load_config(config), path).eval()
        weights = []
        with torch.no_grad():
            for r in rows:
                idx = np.array([[r]])
                out = forward_batch(net, data.batch(idx, idx, with_audio=False))
                weights.append(out["attention"][0, 0].numpy()[data.face_mask[r]])
        results[str(path)] = rank_scores(weights, shares)
        print(path, results[str(path)], flush=True)
    args.out.write_text(json.dumps({"cache": str(args.cache), "results": results}, indent=1))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
