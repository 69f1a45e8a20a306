"""Which faces the viewers look at does the detector find, by the width it works at?

EyeCrowd's labelled face boxes (500 images, crowds) with the viewers' fixations: each image is
scaled to a video frame ``--frame-widths`` wide, CenterFace runs at each ``--detector-widths``
(the frame scaled to that width; never wider than the frame), and a labelled face counts as
found when a detection overlaps it (IoU >= 0.2). Each fixation counts for one labelled face
or none, by the rule the attention model was fitted with (``fit_attention.assign``: the
nearest face whose box, grown by max(0.3 box width, 16 px), holds it). Reported: the share of
the fixations on labelled faces that fall on a found face ("fixation-weighted recall", what
matters for the map), the share of faces found, and both by face width in frame pixels.

    nice .venv/bin/python eval/face_recall.py --out eval/results/face_recall

Nothing here was fitted: the detector is CenterFace as shipped. Writes ``OUT.json`` and
``OUT.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fit_attention import assign

from perceptcodec.datasets import read_eyecrowd
from perceptcodec.saliency.faces import FaceDetector, iou_matrix

BINS_PX = [0, 16, 24, 32, 48, 64, 96, 10_000]  # face width in frame pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frame-widths", type=int, nargs="+", default=[720, 1280])
    parser.add_argument("--detector-widths", type=int, nargs="+", default=[320, 480, 640, 960])
    parser.add_argument("--out", type=Path, default=Path("eval/results/face_recall"))
    args = parser.parse_args()
    records = [r for r in read_eyecrowd() if r.faces is not None and len(r.faces)]
    detectors = {w: FaceDetector(input_width=w) for w in args.detector_widths}
    n_bins = len(BINS_PX) - 1
    # [frame width][detector width] -> per size bin: fixations on found faces, on all faces,
    # faces found, faces
    sums = {
        fw: {dw: np.zeros((n_bins, 4)) for dw in args.detector_widths if dw <= fw}
        for fw in args.frame_widths
    }
    t0 = time.time()
    for record in records:
        image = cv2.cvtColor(cv2.imread(str(record.image)), cv2.COLOR_BGR2RGB)
        for frame_w, by_detector in sums.items():
            scale = frame_w / image.shape[1]
            frame = cv2.resize(
                image, (frame_w, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
            )
            faces = record.faces * scale
            owner = assign(faces, record.fixations[:, :2] * scale)
            counts = np.bincount(owner[owner >= 0], minlength=len(faces)).astype(np.float64)
            size_bin = np.digitize(faces[:, 2] - faces[:, 0], BINS_PX) - 1
            for det_w, table in by_detector.items():
                found = detectors[det_w](frame)
                hit = np.zeros(len(faces), bool)
                if len(found):
                    hit = iou_matrix(faces.astype(np.float32), found[:, :4]).max(axis=1) >= 0.2
                for b in range(n_bins):
                    m = size_bin == b
                    table[b] += [counts[hit & m].sum(), counts[m].sum(), (hit & m).sum(), m.sum()]
    print(f"{len(records)} images, {time.time() - t0:.0f} s")
    result: dict = {"images": len(records), "bins_px": BINS_PX, "frames": {}}
    lines = [
        "# Face recall by detector width (EyeCrowd labelled faces, real fixations)",
        "",
        f"`nice .venv/bin/python eval/face_recall.py --out {args.out}` ({len(records)} images "
        "with labelled faces; nothing fitted). Fixation-weighted recall = share of the "
        "fixations on labelled faces that land on a face the detector found; in brackets the "
        "share of faces found.",
        "",
    ]
    for frame_w, by_detector in sums.items():
        header = " | ".join(
            f"{lo}-{hi} px" if hi < 10_000 else f">= {lo} px"
            for lo, hi in zip(BINS_PX[:-1], BINS_PX[1:], strict=True)
        )
        lines += [
            f"## Frames {frame_w} px wide",
            "",
            f"| detector width | all faces | {header} |",
            "|---" * (n_bins + 2) + "|",
        ]
        frame_result = {}
        for det_w, t in by_detector.items():
            total = t.sum(axis=0)
            frame_result[det_w] = {
                "fixation_recall": total[0] / total[1],
                "face_recall": total[2] / total[3],
                "by_size": [
                    {
                        "fixation_recall": r[0] / max(r[1], 1),
                        "face_recall": r[2] / max(r[3], 1),
                        "fixations": int(r[1]),
                        "faces": int(r[3]),
                    }
                    for r in t
                ],
            }
            cells = " | ".join(f"{r[0] / max(r[1], 1):.2f} ({r[2] / max(r[3], 1):.2f})" for r in t)
            lines.append(
                f"| {det_w} | **{total[0] / total[1]:.3f}** ({total[2] / total[3]:.3f}) | {cells} |"
            )
        counts = by_detector[min(by_detector)]
        share = counts[:, 1] / counts[:, 1].sum()
        lines += [
            "| share of face fixations | 1 | " + " | ".join(f"{s:.2f}" for s in share) + " |",
            "",
        ]
        result["frames"][frame_w] = frame_result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
