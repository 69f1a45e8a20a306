"""EyeCrowd / OSIE faces as the runtime sees them: CenterFace detections with their 5 landmarks,
and the viewers' fixations counted per detected face.

Writes ``eval/.cache/faces_<set>.npz`` (git-ignored), read by ``eval/fit_attention.py`` and
``eval/proxy_clips.py``. Per image: detections (x0, y0, x1, y1, score) in image pixels,
landmarks (5 x 2, x/y pixels: left eye, right eye, nose, left / right mouth corner), the
labelled EyeCrowd boxes when present, and the fixations (x, y, order, viewer).

    nice .venv/bin/python eval/eyecrowd_faces.py --set eyecrowd --width 1024
    nice .venv/bin/python eval/eyecrowd_faces.py --set osie --width 800

The split used everywhere (fit on 350, test on 150) is fixed here: ``split(names)`` sorts the
image names and sends every image whose position modulo 10 is 7, 8 or 9 to the test set.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.datasets import read_eyecrowd, read_osie
from perceptcodec.saliency.faces import FaceDetector

CACHE = Path(__file__).parent / ".cache"


def split(names: list[str]) -> tuple[list[str], list[str]]:
    """(fit, test) names: sorted, positions 7, 8, 9 of every 10 go to the test set (30 %)."""
    ordered = sorted(names)
    test = [n for i, n in enumerate(ordered) if i % 10 >= 7]
    fit = [n for i, n in enumerate(ordered) if i % 10 < 7]
    return fit, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["eyecrowd", "osie"], default="eyecrowd")
    parser.add_argument("--width", type=int, default=1024, help="detector input width (px)")
    parser.add_argument("--min-score", type=float, default=0.5)
    parser.add_argument("--out", type=Path, help="default: eval/.cache/faces_SET.npz")
    args = parser.parse_args()
    records = read_eyecrowd() if args.set == "eyecrowd" else read_osie()
    detector = FaceDetector(min_score=args.min_score, input_width=args.width, threads=1)
    out: dict[str, np.ndarray] = {}
    t0 = time.time()
    for i, rec in enumerate(records):
        rgb = cv2.cvtColor(cv2.imread(str(rec.image)), cv2.COLOR_BGR2RGB)
        boxes, landmarks = detector.detect(rgb)
        out[f"{rec.name}/boxes"] = boxes
        out[f"{rec.name}/landmarks"] = landmarks
        out[f"{rec.name}/fixations"] = rec.fixations.astype(np.float32)
        out[f"{rec.name}/size"] = np.asarray(rec.size)
        if rec.faces is not None:
            out[f"{rec.name}/labelled"] = rec.faces.astype(np.float32)
        if i % 50 == 0:
            print(f"{i}/{len(records)} {rec.name}: {len(boxes)} faces, {time.time() - t0:.0f} s")
    path = args.out or CACHE / f"faces_{args.set}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
