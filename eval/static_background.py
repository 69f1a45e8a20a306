"""The prior's background on still pictures: the centre bias alone, or mixed with
spectral-residual saliency x centre, or with the learned static map x centre
(``perceptcodec.saliency.static``).

Static maps as in ``eval/fit_attention.py``'s ``full_map_cc`` (the shipped attention shares and
face template, background share x background map) on a W/8 grid, scored by CC with the
viewers' density (sigma 3.5 % of the width). The mix weight is chosen on EyeCrowd's fitting
split; EyeCrowd's test split and OSIE (never fitted on) check it.

    nice .venv/bin/python eval/eyecrowd_faces.py --set eyecrowd
    nice .venv/bin/python eval/eyecrowd_faces.py --set osie
    nice .venv/bin/python eval/static_background.py \
        --out eval/results/attention/static_background.json

With ``--net`` the learned map replaces the spectral residual, scored on the splits of its
training (``perceptcodec.training.static_net.splits``): the mix weight is chosen on its
validation fold, its test images (EyeCrowd's test split, OSIE's every 10th image) check it;
the spectral residual is scored on the same images beside it.
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
from fit_attention import load, split  # noqa: E402

from perceptcodec.datasets import read_eyecrowd, read_osie  # noqa: E402
from perceptcodec.datasets.gaze import DEFAULT_SIGMA_FRAC, gaussian_fixation_map  # noqa: E402
from perceptcodec.metrics import cc  # noqa: E402
from perceptcodec.saliency.attention import (  # noqa: E402
    AttentionWeights,
    FaceAttention,
    face_template,
)
from perceptcodec.saliency.center import center_gaussian  # noqa: E402
from perceptcodec.saliency.faces import Track  # noqa: E402
from perceptcodec.saliency.static import StaticNet, static_background  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def mean_cc(
    which: str, names_of, weights=WEIGHTS, net: StaticNet | None = None
) -> dict[str, float]:
    """{weight: mean CC} over the images ``names_of(all names)`` of one set; the background's
    salient part from ``net``, or the spectral residual."""
    images = load(CACHE / f"faces_{which}.npz")
    paths = {g.name: g.image for g in (read_eyecrowd() if which == "eyecrowd" else read_osie())}
    att = AttentionWeights.load()
    scores: dict[float, list[float]] = {w: [] for w in weights}
    for name in names_of(list(images)):
        img = images[name]
        w, h = (int(v) for v in img["size"])
        grid = (h // 8, w // 8)
        density = gaussian_fixation_map(img["fixations"][:, :2], (h, w), DEFAULT_SIGMA_FRAC * w)
        centre = center_gaussian(grid, 0.25)
        rgb = cv2.cvtColor(cv2.imread(str(paths[name]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        pairs = zip(img["boxes"], img["landmarks"], strict=True)
        tracks = [
            Track(i, b[:4].astype(np.float64), float(b[4]), landmarks=m)
            for i, (b, m) in enumerate(pairs)
        ]
        faces, back_share = np.zeros(grid, np.float32), 1.0
        if tracks:
            shares, back_share = FaceAttention(att)(tracks, (h, w), 0.0)
            extra = math.hypot(att.noise_sigma_frac * w, DEFAULT_SIGMA_FRAC * w)
            for tr in tracks:
                tmpl = face_template(tr.box, tr.landmarks, (h, w), grid, att.template, extra)
                faces += shares[tr.id] * tmpl
        for weight in weights:
            back = static_background(rgb, centre, weight, net)
            scores[weight].append(cc(faces + back_share * back, density))
    return {str(k): float(np.mean(v)) for k, v in scores.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--net", type=Path, help="a learned static map (.onnx) to score")
    args = parser.parse_args()
    if args.net:
        return score_net(args)
    result = {
        "command": "python " + " ".join(sys.argv),
        "eyecrowd_fit": mean_cc("eyecrowd", lambda n: split(n)[0]),
        "eyecrowd_test": mean_cc("eyecrowd", lambda n: split(n)[1]),
        "osie_all": mean_cc("osie", lambda n: n),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


def score_net(args: argparse.Namespace) -> int:
    """The learned map against the spectral residual on the learned map's val and test
    images, at each mix weight (chosen on the val rows; the test rows check it). Needs torch (the
    splits live with the training code)."""
    from perceptcodec.training.static_net import splits

    parts = splits({"osie": read_osie(), "eyecrowd": read_eyecrowd(), "mit1003": [], "figrim": []})
    net = StaticNet(args.net)
    result: dict = {"command": "python " + " ".join(sys.argv)}
    for fold in ("val", "test"):
        for which in ("eyecrowd", "osie"):
            names = {r.name for r in parts[fold]} & set(load(CACHE / f"faces_{which}.npz"))

            def chosen(all_names: list[str], names=names) -> list[str]:
                return [n for n in all_names if n in names]

            result[f"{which}_{fold}"] = {
                "images": len(names),
                "spectral_residual": mean_cc(which, chosen),
                "net": mean_cc(which, chosen, net=net),
            }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
