"""Fit the static part of the face-attention model and the within-face template on EyeCrowd
(fit split: 350 images), evaluate on the held-out 150, and write the shipped weights.

    nice .venv/bin/python eval/eyecrowd_faces.py --set eyecrowd --width 1024   # detections
    nice .venv/bin/python eval/fit_attention.py --write

Inputs: ``eval/.cache/faces_eyecrowd.npz`` (CenterFace boxes + landmarks per image, the
viewers' fixations). Outputs: ``perceptcodec/saliency/attention_weights.json`` (with
``--write``; the dynamic weights already in it are kept) and
``eval/results/attention/eyecrowd_heldout.{md,json}``.

What is fitted:
- static shares: a conditional logit over "face i" (utility = beta . (log size, frontalness,
  centre distance, detector score, social gaze = the others' head turns toward it, see
  ``attention.social_gaze``)) and "no face" (utility ``background``), maximum likelihood
  on the fixation counts per face (a fixation counts for the nearest detected face whose box,
  grown by max(0.3 box width, 16 px), contains it; otherwise for the background);
- the template: eye / nose-mouth / around mixture weights, sigmas (box widths) and the
  around-blob's downward shift, plus an eye-tracker noise sigma (fraction of the image width)
  and a uniform floor, maximum likelihood on the fixations within 1 box width of each face
  (faces >= 64 px wide), against the fixations' window-normalised density.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))

from eyecrowd_faces import CACHE, split

from perceptcodec.datasets.gaze import DEFAULT_SIGMA_FRAC
from perceptcodec.metrics import cc
from perceptcodec.metrics.quality import gaussian_fixation_map
from perceptcodec.saliency.attention import (
    WEIGHTS_PATH,
    AttentionWeights,
    Template,
    face_template,
    head_pose,
    social_gaze,
    static_features,
)
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.prior import face_map

RESULTS = Path(__file__).parent / "results" / "attention"
FEATURES = ("size", "frontal", "center", "score", "social")


def load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    data = np.load(path)
    images: dict[str, dict[str, np.ndarray]] = {}
    for key in data.files:
        name, field = key.split("/")
        images.setdefault(name, {})[field] = data[key]
    return images


def in_grown_boxes(points: np.ndarray, boxes: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """N x K: whether each (x, y) point (N x >=2) lies in each box (K x >=4, x0 y0 x1 y1) grown
    by ``pad`` (K, pixels) on every side."""
    x, y = points[:, 0:1], points[:, 1:2]
    return (
        (x >= boxes[:, 0] - pad)
        & (x <= boxes[:, 2] + pad)
        & (y >= boxes[:, 1] - pad)
        & (y <= boxes[:, 3] + pad)
    )


def assign(boxes: np.ndarray, fix: np.ndarray) -> np.ndarray:
    """Index of the face each fixation (N x >=2, x y) counts for, -1 = background."""
    if not len(boxes):
        return np.full(len(fix), -1)
    bw = boxes[:, 2] - boxes[:, 0]
    inside = in_grown_boxes(fix, boxes, np.maximum(0.3 * bw, 16.0))
    x, y = fix[:, 0:1], fix[:, 1:2]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    d = np.hypot(x - cx[None], y - cy[None]) / bw[None]
    d = np.where(inside, d, np.inf)
    best = np.argmin(d, axis=1)
    return np.where(np.isfinite(d[np.arange(len(fix)), best]), best, -1)


def image_table(img: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(features N x 5: the static cues and social gaze, counts N + 1 with the background
    last) of one image."""
    w, h = (int(v) for v in img["size"])
    boxes, marks = img["boxes"], img["landmarks"]
    feats = static_features(boxes[:, :4], marks, boxes[:, 4], (h, w))
    social = np.zeros(len(boxes))
    if len(boxes) > 1:
        poses = np.array([head_pose(m) for m in marks])
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
        social = social_gaze(centres, poses[:, 0], poses[:, 1])
    feats = np.concatenate([feats, social[:, None]], axis=1)
    who = assign(boxes, img["fixations"])
    counts = np.bincount(who + 1, minlength=len(boxes) + 1).astype(np.float64)
    return feats, np.concatenate([counts[1:], counts[:1]])


def neg_loglik(params: np.ndarray, tables: list[tuple[np.ndarray, np.ndarray]]) -> float:
    beta, bg = params[:5], params[5]
    total = 0.0
    for feats, counts in tables:
        u = np.concatenate([feats @ beta, [bg]])
        top = u.max()
        logp = u - top - math.log(np.exp(u - top).sum())
        total -= float(counts @ logp)
    return total


def shares(params: np.ndarray, feats: np.ndarray) -> np.ndarray:
    u = np.concatenate([feats @ params[:5], [params[5]]])
    e = np.exp(u - u.max())
    return e / e.sum()


def equal_shares(img: dict[str, np.ndarray]) -> np.ndarray:
    """The old prior: score x sqrt(area) per face, 0.8 of the static map on faces (its face
    0.6 vs centre 0.15 weights), background last."""
    b = img["boxes"]
    raw = b[:, 4] * np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
    return np.concatenate([0.8 * raw / max(raw.sum(), 1e-12), [0.2]])


def rank_eval(pred: list[np.ndarray], tables: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Top-1 share (fixation share on the face predicted first) and Spearman rho between
    predicted face weights and fixation shares, over images with >= 2 faces."""
    top1, rho, top1_oracle = [], [], []
    for p, (_, counts) in zip(pred, tables, strict=True):
        n = len(counts) - 1
        if n < 2 or counts.sum() == 0:
            continue
        share = counts[:n] / counts.sum()
        top1.append(share[int(np.argmax(p[:n]))])
        top1_oracle.append(share.max())
        if np.ptp(share) > 0 and np.ptp(p[:n]) > 0:
            rho.append(spearmanr(p[:n], share).statistic)
    return {
        "images": len(top1),
        "top1_share": float(np.mean(top1)),
        "top1_share_oracle": float(np.mean(top1_oracle)),
        "spearman_mean": float(np.mean(rho)),
        "spearman_images": len(rho),
    }


# --------------------------------------------------------------------------------------------
# Template


def template_windows(images: dict, names: list[str], min_width: float = 64.0) -> list[dict]:
    """Per face >= ``min_width`` px wide with fixations near it: box, landmarks, the
    fixations within 1 box width around the box, and the window (x0, y0, x1, y1)."""
    out = []
    for name in names:
        img = images[name]
        fix = img["fixations"]
        for box, marks in zip(img["boxes"], img["landmarks"], strict=True):
            bw = box[2] - box[0]
            if bw < min_width:
                continue
            win = np.array([box[0] - bw, box[1] - bw, box[2] + bw, box[3] + bw])
            inside = (
                (fix[:, 0] >= win[0])
                & (fix[:, 0] < win[2])
                & (fix[:, 1] >= win[1])
                & (fix[:, 1] < win[3])
            )
            if inside.sum() >= 3:
                out.append(
                    {
                        "box": box[:4],
                        "marks": marks,
                        "fix": fix[inside, :2],
                        "win": win,
                        "width": float(img["size"][0]),
                    }
                )
    return out


def unpack(theta: np.ndarray) -> tuple[Template, float, float]:
    w = np.exp(theta[:3] - theta[:3].max())
    w /= w.sum()
    sig = np.exp(theta[3:6])
    tmpl = Template(
        eyes=float(w[0]),
        mouth=float(w[1]),
        around=float(w[2]),
        eye_sigma=float(sig[0]),
        mouth_sigma=float(sig[1]),
        around_sigma=float(sig[2]),
        around_dy=float(theta[6]),
    )
    noise = float(np.exp(theta[7]))
    floor = float(1 / (1 + np.exp(-theta[8])))
    return tmpl, noise, floor


def pack_faces(faces: list[dict]) -> dict[str, np.ndarray]:
    """The template fit's faces as arrays: boxes F x 4, landmarks F x 5 x 2, windows F x 4,
    image widths F, fixations N x 2 with their face index N."""
    return {
        "box": np.stack([f["box"] for f in faces]).astype(np.float64),
        "marks": np.stack([f["marks"] for f in faces]).astype(np.float64),
        "win": np.stack([f["win"] for f in faces]).astype(np.float64),
        "width": np.array([f["width"] for f in faces]),
        "fix": np.concatenate([f["fix"] for f in faces]).astype(np.float64),
        "idx": np.concatenate([np.full(len(f["fix"]), i) for i, f in enumerate(faces)]),
    }


def packed_components(p: dict, tmpl: Template, noise: float) -> list[tuple]:
    """(weight, cx F, cy F, sigma F) per template component, pixels."""
    box, lm = p["box"], p["marks"]
    bw, bh = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    n = noise * p["width"]
    mouth = (lm[:, 2] + (lm[:, 3] + lm[:, 4]) / 2) / 2
    ax, ay = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2 + tmpl.around_dy * bh
    return [
        (tmpl.eyes / 2, lm[:, 0, 0], lm[:, 0, 1], np.hypot(tmpl.eye_sigma * bw, n)),
        (tmpl.eyes / 2, lm[:, 1, 0], lm[:, 1, 1], np.hypot(tmpl.eye_sigma * bw, n)),
        (tmpl.mouth, mouth[:, 0], mouth[:, 1], np.hypot(tmpl.mouth_sigma * bw, n)),
        (tmpl.around, ax, ay, np.hypot(tmpl.around_sigma * bw, n)),
    ]


def packed_ll(p: dict, comps: list[tuple], floor: float) -> float:
    """Summed log-likelihood of all window fixations under per-face isotropic Gaussian
    mixtures (``comps``) plus a uniform floor, each normalised over its face's window (24 x 24
    grid)."""
    win = p["win"]
    t = np.linspace(0, 1, 24)
    gx = win[:, 0:1] + (win[:, 2:3] - win[:, 0:1]) * t  # F x 24
    gy = win[:, 1:2] + (win[:, 3:4] - win[:, 1:2]) * t
    cell = (gx[:, 1] - gx[:, 0]) * (gy[:, 1] - gy[:, 0])
    area = (win[:, 2] - win[:, 0]) * (win[:, 3] - win[:, 1])
    mass = np.zeros(len(win))
    idx, fx, fy = p["idx"], p["fix"][:, 0], p["fix"][:, 1]
    dens = np.zeros(len(idx))
    for w, cx, cy, s in comps:
        ex = np.exp(-((gx - cx[:, None]) ** 2) / (2 * s[:, None] ** 2)).sum(1)
        ey = np.exp(-((gy - cy[:, None]) ** 2) / (2 * s[:, None] ** 2)).sum(1)
        norm = w / (2 * np.pi * s * s)
        mass += norm * ex * ey * cell
        d2 = (fx - cx[idx]) ** 2 + (fy - cy[idx]) ** 2
        dens += norm[idx] * np.exp(-d2 / (2 * s[idx] ** 2))
    prob = (1 - floor) * dens / np.maximum(mass[idx], 1e-12) + floor / area[idx]
    return float(np.log(np.maximum(prob, 1e-300)).sum())


def template_nll(theta: np.ndarray, packed: dict) -> float:
    tmpl, noise, floor = unpack(theta)
    return -packed_ll(packed, packed_components(packed, tmpl, noise), floor)


def old_blob_ll(packed: dict, floor: float, noise: float) -> float:
    """The old prior's blob: centre at 0.45 of the box height, sigma 0.35 box (isotropic
    here: 0.35 sqrt(bw bh)), with the same noise and floor."""
    b = packed["box"]
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    s = np.hypot(0.35 * np.sqrt(bw * bh), noise * packed["width"])
    comps = [(1.0, (b[:, 0] + b[:, 2]) / 2, b[:, 1] + 0.45 * bh, s)]
    return packed_ll(packed, comps, floor)


def full_map_cc(
    images: dict, names: list[str], params: np.ndarray, tmpl: Template, noise: float
) -> dict:
    """Held-out CC with the viewers' density (sigma 3.5 % of the width) of static maps on a
    W/8 grid: centre only, the old prior (equal faces 0.8 + centre 0.2), the new static model
    (fitted shares, template faces, background = centre)."""
    out: dict[str, list[float]] = {"center": [], "old_prior": [], "new_static": []}
    for name in names:
        img = images[name]
        w, h = (int(v) for v in img["size"])
        grid = (h // 8, w // 8)
        density = gaussian_fixation_map(img["fixations"][:, :2], (h, w), DEFAULT_SIGMA_FRAC * w)
        centre = center_gaussian(grid, 0.25)
        from perceptcodec.saliency.faces import Track

        pairs = enumerate(zip(img["boxes"], img["landmarks"], strict=True))
        tracks = [
            Track(i, b[:4].astype(np.float64), float(b[4]), landmarks=lm) for i, (b, lm) in pairs
        ]
        old = face_map(tracks, (h, w), grid)
        old_map = 0.8 * old / old.sum() + 0.2 * centre if old.sum() > 0 else centre
        if tracks:
            p = shares(params, image_table(img)[0])
            extra = math.hypot(noise * w, DEFAULT_SIGMA_FRAC * w)
            new = np.zeros(grid, np.float32)
            for tr, share in zip(tracks, p[:-1], strict=True):
                new += share * face_template(tr.box, tr.landmarks, (h, w), grid, tmpl, extra)
            new_map = new + p[-1] * centre
        else:
            new_map = centre
        out["center"].append(cc(centre, density))
        out["old_prior"].append(cc(old_map, density))
        out["new_static"].append(cc(new_map, density))
    return {k: float(np.mean(v)) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE / "faces_eyecrowd.npz")
    parser.add_argument("--write", action="store_true", help="update attention_weights.json")
    parser.add_argument(
        "--report", type=Path, default=RESULTS / "eyecrowd_heldout", help="OUT.md and OUT.json"
    )
    args = parser.parse_args()
    images = load(args.cache)
    fit_names, test_names = split(list(images))
    print(f"{len(fit_names)} fit / {len(test_names)} test images")

    fit_tables = [image_table(images[n]) for n in fit_names]
    test_tables = [image_table(images[n]) for n in test_names]
    x0 = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    res = minimize(neg_loglik, x0, args=(fit_tables,), method="L-BFGS-B")
    params = res.x
    n_fix_test = sum(c.sum() for _, c in test_tables)
    nll_test = neg_loglik(params, test_tables) / n_fix_test
    bg_true = [c[-1] / c.sum() for _, c in test_tables if c.sum()]
    bg_pred = [shares(params, f)[-1] for f, c in test_tables if c.sum()]
    static = {
        "coefficients": dict(zip([*FEATURES, "background"], map(float, params), strict=True)),
        "heldout_nll_per_fixation": float(nll_test),
        "heldout_background_share_true": float(np.mean(bg_true)),
        "heldout_background_share_pred": float(np.mean(bg_pred)),
        "new": rank_eval([shares(params, f) for f, _ in test_tables], test_tables),
        "equal_weight": rank_eval([equal_shares(images[n]) for n in test_names], test_tables),
        "size_only": rank_eval(
            [shares(np.array([params[0], 0, 0, 0, 0, params[5]]), f) for f, _ in test_tables],
            test_tables,
        ),
    }
    print(json.dumps(static, indent=1))

    fit_faces = template_windows(images, fit_names)
    test_faces = template_windows(images, test_names)
    fit_packed, test_packed = pack_faces(fit_faces), pack_faces(test_faces)
    theta0 = np.array(
        [0.0, -0.5, 0.0, math.log(0.2), math.log(0.2), math.log(0.6), 0.2, math.log(0.01), -2.0]
    )
    tres = minimize(
        template_nll,
        theta0,
        args=(fit_packed,),
        method="Nelder-Mead",
        options={"maxiter": 1500, "xatol": 1e-3, "fatol": 1e-2},
    )
    tmpl, noise, floor = unpack(tres.x)
    n_test = sum(len(f["fix"]) for f in test_faces)
    ll_new = -template_nll(tres.x, test_packed) / n_test
    ll_old = old_blob_ll(test_packed, floor, noise) / n_test
    eyes_vs_chin = []
    for f in test_faces:
        b, lm = f["box"], f["marks"]
        shape = (int(b[3] + 200), int(b[2] + 200))
        m = face_template(b, lm, shape, shape, tmpl, noise * f["width"])
        ey, ex = int((lm[0][1] + lm[1][1]) / 2), int((lm[0][0] + lm[1][0]) / 2)
        cy = int(min(b[3] - 1, m.shape[0] - 1))
        eyes_vs_chin.append(m[ey, ex] / max(m[cy, ex], 1e-12))
    template = {
        "fit_faces": len(fit_faces),
        "test_faces": len(test_faces),
        "template": tmpl.__dict__,
        "noise_sigma_frac_width": noise,
        "uniform_floor": floor,
        "heldout_loglik_per_fixation_template": ll_new,
        "heldout_loglik_per_fixation_old_blob": ll_old,
        "median_eye_to_chin_density_ratio": float(np.median(eyes_vs_chin)),
    }
    print(json.dumps(template, indent=1))
    maps = full_map_cc(images, test_names, params, tmpl, noise)
    print("held-out CC", maps)

    args.report.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "command": "nice .venv/bin/python eval/fit_attention.py " + " ".join(sys.argv[1:]),
        "split": "sorted names, position % 10 in {7,8,9} -> test",
        "static": static,
        "template": template,
        "heldout_cc": maps,
    }
    args.report.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.report.with_suffix(".md").write_text(markdown(report))
    if args.write:
        current = AttentionWeights.load()
        data = current.to_json()
        data.update(dict(zip([*FEATURES, "background"], map(float, params), strict=True)))
        data["template"] = tmpl.__dict__
        data["noise_sigma_frac"] = noise
        data["_fitted"] = (
            "static + template: eval/fit_attention.py on EyeCrowd's 350 fit "
            "images; dynamic cues set on validation, see "
            "eval/results/attention/README.md"
        )
        WEIGHTS_PATH.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {WEIGHTS_PATH}")


def markdown(r: dict) -> str:
    s, t, m = r["static"], r["template"], r["heldout_cc"]
    ll_old = t["heldout_loglik_per_fixation_old_blob"]
    ll_new = t["heldout_loglik_per_fixation_template"]
    rows = [
        f"`{r['command']}`",
        "",
        "# EyeCrowd, held-out 150 images (fit on the other 350; " + r["split"] + ")",
        "",
        "Faces = CenterFace detections (input width 1024) with their landmarks; a fixation "
        "counts for the nearest face whose box grown by max(0.3 box width, 16 px) holds it.",
        "",
        "## Which face (images with >= 2 detected faces)",
        "",
        "| face weights | images | fixation share on the face ranked first | best possible | "
        "Spearman rho (weights vs share per face) |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "equal_weight": "old prior: score x sqrt(area)",
        "size_only": "fitted, size only",
        "new": "fitted, all static cues",
    }
    for key, label in labels.items():
        e = s[key]
        rows.append(
            f"| {label} | {e['images']} | {e['top1_share']:.3f} | "
            f"{e['top1_share_oracle']:.3f} | {e['spearman_mean']:.3f} |"
        )
    c = s["coefficients"]
    rows += [
        "",
        "Coefficients (utility, natural log units): "
        + ", ".join(f"{k} {v:+.3f}" for k, v in c.items()),
        f"; held-out background share: predicted {s['heldout_background_share_pred']:.3f}, "
        f"viewers {s['heldout_background_share_true']:.3f}; held-out NLL "
        f"{s['heldout_nll_per_fixation']:.3f} per fixation.",
        "",
        "## Where inside and around the face (faces >= 64 px wide)",
        "",
        f"{t['fit_faces']} fit / {t['test_faces']} test faces. Template: "
        + ", ".join(f"{k} {v:.3f}" for k, v in t["template"].items())
        + f"; eye-tracker noise sigma {t['noise_sigma_frac_width']:.4f} of the width; uniform "
        f"floor {t['uniform_floor']:.3f}.",
        "",
        "| within-face model | held-out log-likelihood per fixation |",
        "|---|---|",
        f"| old blob (0.45 box height, sigma 0.35 box) | {ll_old:.3f} |",
        f"| landmark template (eyes / nose-mouth / around) | {ll_new:.3f} |",
        "",
        f"Median density ratio eyes : chin of the template on test faces: "
        f"{t['median_eye_to_chin_density_ratio']:.2f}.",
        "",
        "## Whole static map, CC with the viewers' density (sigma 3.5 % of width)",
        "",
        "| map | mean CC over 150 held-out images |",
        "|---|---|",
        *(f"| {k} | {v:.3f} |" for k, v in m.items()),
        "",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
