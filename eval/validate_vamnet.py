"""Validation saliency metrics of VAM-Net, the training-free prior and the centre baseline on the
held-out images of the training cache (every 10th image of OSIE, EyeCrowd, MIT1003).

    python eval/validate_vamnet.py --cache .cache_train/vamnet_cache.npz

Each model sees the original image (resized to its working size) through its normal per-frame
interface (faces from CenterFace, not from the labels); maps and ground truth are compared on
the cache's 32 x 32 grid (NSS and AUC-J where fixation points exist). Writes JSON + Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.datasets import read_eyecrowd, read_mit1003, read_osie
from perceptcodec.saliency import get_model
from perceptcodec.training.scores import METRICS, score_maps
from perceptcodec.versions import tool_versions

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache_train/vamnet_cache.npz"))
    parser.add_argument("--models", nargs="+", default=["vamnet", "prior", "center"])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "vamnet_validation")
    args = parser.parse_args()
    z = np.load(args.cache)
    groups = json.loads(bytes(z["groups"]).decode())
    images = {
        f"{name}/{r.name}": r.image
        for name, reader in (
            ("osie", read_osie),
            ("eyecrowd", read_eyecrowd),
            ("mit1003", read_mit1003),
        )
        for r in reader()
    }
    first = {int(g): i for i, g in reversed(list(enumerate(z["group"])))}
    models = {m: get_model(m) for m in args.models}
    preds: dict[str, list[np.ndarray]] = {m: [] for m in models}
    densities: list[np.ndarray] = []
    fixations: list[np.ndarray] = []
    for gid, info in enumerate(groups):
        row = first[gid]
        if info["kind"] != "image" or z["split"][row] != 1:
            continue
        rgb = cv2.cvtColor(cv2.imread(str(images[info["name"]])), cv2.COLOR_BGR2RGB)
        densities.append(z["density"][row].astype(np.float32))
        fixations.append(z["fixations"][row])
        for name, model in models.items():
            model.reset()
            size = model.size_for(rgb.shape[1], rgb.shape[0])
            preds[name].append(model(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), 0.0))
    result = {m: score_maps(p, densities, fixations) for m, p in preds.items()}
    count = len(densities)
    command = " ".join(["python", "eval/validate_vamnet.py", *sys.argv[1:]])
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "images": count,
                "grid": "32x32",
                "results": result,
                "command": command,
                "versions": tool_versions(),
            },
            indent=1,
        )
    )
    lines = [
        f"Command: `{command}`; {count} held-out images; 32 x 32 grid.",
        "",
        "| model | NSS | CC | KL | AUC-J | SIM |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m} | " + " | ".join(f"{r[k]:.3f}" for k in METRICS) + " |" for m, r in result.items()
    ]
    table = "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
