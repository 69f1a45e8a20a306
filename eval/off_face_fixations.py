"""Where EyeCrowd's fixations on no detected face go: on a face the annotators labelled but
CenterFace missed, or below a detected face (its body), or elsewhere.

A fixation counts for a detected face as in ``eval/fit_attention.py`` (``assign``); labelled
faces count with the same margin (0.3 box widths a side); "below" is the band under a detected
box, 2 box widths wide and 2.5 box widths tall. EyeCrowd's fitting split (350 images).

    nice .venv/bin/python eval/off_face_fixations.py \
        --out eval/results/attention/off_face_fixations.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eyecrowd_faces import CACHE, split  # noqa: E402
from fit_attention import assign, in_grown_boxes, load  # noqa: E402


def in_any(points: np.ndarray, boxes: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """Whether each (x, y) point lies in any box grown by ``pad``."""
    if not len(boxes) or not len(points):
        return np.zeros(len(points), bool)
    return in_grown_boxes(points, boxes, pad).any(axis=1)


def below_any(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether each (x, y) point lies in the band under any box: half a box width wider on
    each side, 2.5 box widths tall."""
    if not len(boxes) or not len(points):
        return np.zeros(len(points), bool)
    x, y = points[:, 0:1], points[:, 1:2]
    bw = boxes[:, 2] - boxes[:, 0]
    wide = (x >= boxes[:, 0] - 0.5 * bw) & (x <= boxes[:, 2] + 0.5 * bw)
    return (wide & (y > boxes[:, 3]) & (y <= boxes[:, 3] + 2.5 * bw)).any(axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    images = load(CACHE / "faces_eyecrowd.npz")
    total = off = labelled = below = 0
    for name in split(list(images))[0]:
        img = images[name]
        fix = img["fixations"][:, :2]
        rest = fix[assign(img["boxes"], img["fixations"]) < 0]
        total, off = total + len(fix), off + len(rest)
        marked = np.asarray(img["labelled"], np.float64).reshape(-1, 4)
        labelled += int(in_any(rest, marked, 0.3 * (marked[:, 2] - marked[:, 0])).sum())
        boxes = np.asarray(img["boxes"], np.float64).reshape(-1, 5)[:, :4]
        below += int(below_any(rest, boxes).sum())
    result = {
        "command": "nice .venv/bin/python eval/off_face_fixations.py " + " ".join(sys.argv[1:]),
        "fixations": total,
        "share_on_no_detected_face": off / total,
        "of_those_on_a_labelled_face": labelled / off,
        "of_those_below_a_detected_face": below / off,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
