"""The shipped attention weights (fitted on EyeCrowd) on OSIE, a set never used for fitting:
fewer, larger faces than EyeCrowd's crowds, closer to office / conference shots.

    nice .venv/bin/python eval/eyecrowd_faces.py --set osie --width 800
    nice .venv/bin/python eval/osie_faces_eval.py --out eval/results/attention/osie_faces.md

Over the OSIE images with >= 1 detected face: the background share (fixations on no face)
predicted vs the viewers'; over images with >= 2 faces: the fixation share on the face ranked
first and Spearman's rho between face weights and fixation shares, for the fitted weights and
the old equal weights (score x sqrt(area)); and the CC of whole static maps with the viewers'
density (same maps as in eval/fit_attention.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from eyecrowd_faces import CACHE
from fit_attention import (
    FEATURES,
    equal_shares,
    full_map_cc,
    image_table,
    load,
    rank_eval,
    shares,
)

from perceptcodec.saliency.attention import AttentionWeights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    images = load(CACHE / "faces_osie.npz")
    names = sorted(n for n in images if len(images[n]["boxes"]) >= 1)
    w = AttentionWeights.load()
    params = np.array([getattr(w, f) for f in FEATURES] + [w.background])
    tables = [image_table(images[n]) for n in names]
    bg_true = [c[-1] / c.sum() for _, c in tables if c.sum()]
    bg_pred = [shares(params, f)[-1] for f, c in tables if c.sum()]
    result = {
        "images_with_faces": len(names),
        "background_share_viewers": float(np.mean(bg_true)),
        "background_share_predicted": float(np.mean(bg_pred)),
        "fitted": rank_eval([shares(params, f) for f, _ in tables], tables),
        "equal_weight": rank_eval([equal_shares(images[n]) for n in names], tables),
        "cc": full_map_cc(images, names, params, w.template, w.noise_sigma_frac),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        f, e, c = result["fitted"], result["equal_weight"], result["cc"]
        lines = [
            f"`nice .venv/bin/python eval/osie_faces_eval.py --out {args.out}`",
            "",
            f"# OSIE (never used for fitting): {len(names)} images with >= 1 detected face",
            "",
            f"Background share (fixations on no face): predicted "
            f"{result['background_share_predicted']:.3f}, viewers "
            f"{result['background_share_viewers']:.3f}.",
            "",
            "| face weights | images (>= 2 faces) | fixation share on the face ranked first | "
            "best possible | Spearman rho |",
            "|---|---|---|---|---|",
            f"| old prior: score x sqrt(area) | {e['images']} | {e['top1_share']:.3f} | "
            f"{e['top1_share_oracle']:.3f} | {e['spearman_mean']:.3f} |",
            f"| fitted on EyeCrowd | {f['images']} | {f['top1_share']:.3f} | "
            f"{f['top1_share_oracle']:.3f} | {f['spearman_mean']:.3f} |",
            "",
            "| static map | mean CC with the viewers' density |",
            "|---|---|",
            *(f"| {k} | {v:.3f} |" for k, v in c.items()),
            "",
        ]
        args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
