"""Two learned static maps side by side on DHF1K 0002's frames (real video gaze, no faces).

Each map alone, times the prior's centre bias, on a W/8 grid, scored by CC with the viewers'
density (sigma 3.5 % of the width) on every ``--every``-th frame with at least 5 gaze points;
``--png`` writes the first 3 such frames: picture, viewers, then each net's map.

    nice .venv/bin/python eval/compare_static_nets.py --nets old.onnx new.onnx \
        --png eval/results/static_nets_dhf1k.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.datasets import read_dhf1k_0002
from perceptcodec.datasets.gaze import DEFAULT_SIGMA_FRAC
from perceptcodec.io.source import decode_video
from perceptcodec.metrics import cc
from perceptcodec.metrics.quality import gaussian_fixation_map
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.static import StaticNet

MIN_POINTS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", type=Path, nargs="+", required=True, help="static .onnx files")
    parser.add_argument("--every", type=int, default=20, help="frames between scored frames")
    parser.add_argument("--png", type=Path, help="a picture of the first 3 scored frames")
    args = parser.parse_args()
    gaze = read_dhf1k_0002()
    width, height = gaze.size
    grid = (height // 8, width // 8)
    centre = center_gaussian(grid, 0.25)
    nets = [StaticNet(path) for path in args.nets]
    scores: list[list[float]] = [[] for _ in nets]
    rows = []
    for i, frame in enumerate(decode_video(gaze.video)):
        points = gaze.points(i)
        if i % args.every or len(points) < MIN_POINTS:
            continue
        rgb = frame.to_ndarray(format="rgb24")
        dens = gaussian_fixation_map(points[:, :2], (height, width), DEFAULT_SIGMA_FRAC * width)
        dens = cv2.resize(dens.astype(np.float32), grid[::-1], interpolation=cv2.INTER_AREA)
        maps = [net(rgb, grid) * centre for net in nets]
        for out, m in zip(scores, maps, strict=True):
            out.append(cc(m, dens))
        if len(rows) < 3:
            half = (width // 2, height // 2)
            tiles = [cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), half)]
            for m in (dens, *maps):
                grey = (255 * m / m.max()).astype(np.uint8)
                tiles.append(cv2.cvtColor(cv2.resize(grey, half), cv2.COLOR_GRAY2BGR))
            rows.append(np.hstack(tiles))
    result = {
        "command": "python eval/compare_static_nets.py "
        + " ".join(["--nets", *map(str, args.nets), "--every", str(args.every)]),
        "frames": len(scores[0]),
        "cc": {
            str(path): round(float(np.mean(s)), 4)
            for path, s in zip(args.nets, scores, strict=True)
        },
    }
    print(json.dumps(result, indent=1))
    if args.png and rows:
        cv2.imwrite(str(args.png), np.vstack(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
