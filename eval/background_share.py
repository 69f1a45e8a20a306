"""How much of the map should go to the background now that it is the learned static map?

The face attention's background utility was fitted (``eval/fit_attention.py``) as the share of
fixations that fall on no detected face. Since prior revision 5 the background is the learned
static map, which itself has mass on faces and on what else people look at. This script adds
an offset to the background utility and scores the prior's static map (fitted face shares,
landmark template faces, the learned static map x centre as background; as ``encode`` draws a
still frame: geometry at 320 px, the static map read from the frame at 640 px, the face
detector's width) against the viewers' fixations, on the static map's validation images
(where the offset is chosen, by mean CC) and its test images (scored once), all with >= 1
detected face. Detections: ``eval/.cache/faces_{osie,eyecrowd}.npz`` (``eyecrowd_faces.py``).

    nice .venv/bin/python eval/background_share.py --out eval/results/attention/background_share
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eyecrowd_faces import CACHE  # noqa: E402
from fit_attention import FEATURES, image_table, load, shares  # noqa: E402

from perceptcodec.datasets import read_eyecrowd, read_osie  # noqa: E402
from perceptcodec.datasets.gaze import DEFAULT_SIGMA_FRAC  # noqa: E402
from perceptcodec.metrics import cc, nss  # noqa: E402
from perceptcodec.metrics.quality import gaussian_fixation_map  # noqa: E402
from perceptcodec.saliency.attention import AttentionWeights, render_blobs  # noqa: E402
from perceptcodec.saliency.center import center_gaussian  # noqa: E402
from perceptcodec.saliency.prior import DENSITY_SIGMA_FRAC  # noqa: E402
from perceptcodec.saliency.static import StaticNet, static_background  # noqa: E402
from perceptcodec.training.static_net import splits  # noqa: E402

OFFSETS = np.round(np.arange(-1.0, 2.01, 0.25), 2)  # added to the background utility
WIDTH = 320  # the prior's working width (pixels); its maps are a quarter of that
SHARP_WIDTH = 640  # the face detector's width, where the learned static map reads the frame


def scores(
    sharp: np.ndarray, img: dict, fixations: np.ndarray, net: StaticNet, weights: AttentionWeights
) -> np.ndarray:
    """len(OFFSETS) x 2 (CC, NSS) of the map at each offset: ``sharp`` the H x W x 3 RGB
    image at SHARP_WIDTH, ``img`` its detections (pixels of the original), ``fixations`` K x 2
    (x, y) pixels of the original, ``weights`` the shipped attention coefficients."""
    params = np.array([getattr(weights, k) for k in [*FEATURES, "background"]])
    w = WIDTH
    h = round(sharp.shape[0] * w / sharp.shape[1] / 2) * 2
    k = w / float(img["size"][0])
    grid = (h // 4, w // 4)
    background = static_background(sharp, center_gaussian(grid, 0.25), 1.0, net)
    extra = max(w * math.hypot(weights.noise_sigma_frac, DENSITY_SIGMA_FRAC), 0.5 * w / grid[1])
    boxes, marks = img["boxes"][:, :4] * k, img["landmarks"] * k
    faces = [
        render_blobs(boxes[i : i + 1], marks[i : i + 1], np.ones(1), (h, w), grid,
                     weights.template, extra)
        for i in range(len(boxes))
    ]  # fmt: skip
    cells = fixations * k / 4
    density = gaussian_fixation_map(cells, grid, DEFAULT_SIGMA_FRAC * grid[1])
    marked = np.zeros(grid, bool)
    at = np.clip(cells.astype(int), 0, [grid[1] - 1, grid[0] - 1])
    marked[at[:, 1], at[:, 0]] = True
    features = image_table(img)[0]
    out = []
    for offset in OFFSETS:
        p = shares(np.append(params[:-1], params[-1] + offset), features)
        sal = sum(s * f for s, f in zip(p[:-1], faces, strict=True)) + p[-1] * background
        out.append((cc(sal, density), nss(sal, marked)))
    return np.array(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = parser.parse_args()
    net, weights = StaticNet(), AttentionWeights.load()
    detections = {s: load(CACHE / f"faces_{s}.npz") for s in ("osie", "eyecrowd")}
    osie = read_osie()
    osie_names = {rec.name for rec in osie}
    parts = splits({"osie": osie, "eyecrowd": read_eyecrowd(), "mit1003": [], "figrim": []})
    table: dict[str, dict[str, np.ndarray]] = {}
    for part in ("val", "test"):
        for rec in parts[part]:
            name = "osie" if rec.name in osie_names else "eyecrowd"
            img = detections[name].get(rec.name)
            if img is None or not len(img["boxes"]):
                continue
            bgr = cv2.imread(str(rec.image), cv2.IMREAD_COLOR)
            h = round(bgr.shape[0] * SHARP_WIDTH / bgr.shape[1] / 2) * 2
            small = cv2.resize(bgr, (SHARP_WIDTH, h), interpolation=cv2.INTER_AREA)
            sharp = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
            key = f"{part}/{name}"
            table.setdefault(key, {})[rec.name] = scores(
                sharp, img, rec.fixations[:, :2], net, weights
            )
    means = {k: np.mean(list(v.values()), axis=0) for k, v in table.items()}
    val = np.mean([s for k, v in table.items() if k.startswith("val") for s in v.values()], 0)
    best = float(OFFSETS[int(np.argmax(val[:, 0]))])
    command = "nice .venv/bin/python eval/background_share.py " + " ".join(sys.argv[1:])
    result = {
        "command": command,
        "offsets": OFFSETS.tolist(),
        "chosen_on_val_cc": best,
        "images": {k: len(v) for k, v in table.items()},
        "mean_cc_nss": {k: m.round(4).tolist() for k, m in means.items()},
    }
    zero = int(np.flatnonzero(OFFSETS == 0)[0])
    pick = int(np.flatnonzero(OFFSETS == best)[0])
    lines = [
        f"`{command}`",
        "",
        f"Offset chosen on validation CC: {best:+.2f}. CC / NSS of the prior's static map:",
        "",
        "| images | count | offset 0 | chosen offset | best offset here |",
        "|---|---|---|---|---|",
    ]
    for k, m in means.items():
        top = int(np.argmax(m[:, 0]))
        lines.append(
            f"| {k} | {len(table[k])} | {m[zero, 0]:.3f} / {m[zero, 1]:.2f} | "
            f"{m[pick, 0]:.3f} / {m[pick, 1]:.2f} | {OFFSETS[top]:+.2f}: {m[top, 0]:.3f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
