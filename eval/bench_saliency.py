"""Saliency benchmark: NSS, CC, KL, AUC-Judd, sAUC, SIM of saliency models on real gaze.

    python eval/bench_saliency.py --models prior center --sets osie eyecrowd dhf1k_0002

Sets: osie, eyecrowd (per-viewer fixations), mit1003 (density maps only: CC, KL, SIM),
figrim (pooled fixation maps: no split-half), dhf1k_0002 (video, raw gaze per frame).
Baselines: ``center`` (a centre Gaussian, the classic baseline) and ``human`` (split-half:
the fixations of the even-numbered viewers, blurred, predict the odd-numbered viewers'; a
ceiling, slightly pessimistic as it uses half the viewers). sAUC negatives are the fixations
of 10 other images (images) or of frames at least 2 s away (the single video).
``--split heldout`` keeps only the images DAVE's training and the prior's attention fit never
saw (positions 7-9 of every 10 by name), ``--split vamnet_heldout`` only VAM-Net's validation
images (every 10th, from the first; DAVE and the prior's fit saw them); the video is always
whole (in VAM-Net's training, held out for DAVE and the prior); ``--audio`` gives models
that take audio (``dave``, ``vamnet``) the video's soundtrack (without it they get none: silence).
Writes Markdown + JSON (model, settings, per-set means, counts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.datasets import IMAGE_SETS, ImageGaze, read_dhf1k_0002
from perceptcodec.datasets.gaze import DEFAULT_SIGMA_FRAC, points_to_map
from perceptcodec.evaluation.report import markdown_table
from perceptcodec.io.audio import audio_window, load_audio_mono
from perceptcodec.io.source import decode_video, probe
from perceptcodec.metrics import auc_judd, cc, gaussian_fixation_map, kl, nss, sauc, sim
from perceptcodec.saliency import get_model
from perceptcodec.training.dave.cache import heldout_names
from perceptcodec.versions import tool_versions

HERE = Path(__file__).resolve().parent
# What a trained model saw in training (perceptcodec/models/vamnet/MODEL_CARD.md): rows on
# these sets are mostly in-sample, so they are flagged in the table.
IN_TRAINING = {
    "vamnet": {"osie": "90 %", "eyecrowd": "90 %", "mit1003": "90 %", "dhf1k_0002": "all"},
    # perceptcodec/models/dave/MODEL_CARD.md: 70 % of each image set; DHF1K 0002 held out
    "dave": {"osie": "70 %", "eyecrowd": "70 %", "mit1003": "70 %", "figrim": "70 %"},
    # the prior's face attention (6 coefficients and a face template) was fitted on 70 % of
    # EyeCrowd (eval/fit_attention.py); since revision 5 its static map was trained (or
    # validated) on 90 % of OSIE, the same 70 % of EyeCrowd and all of MIT1003 and FIGRIM
    # (perceptcodec/models/static/MODEL_CARD.md)
    "prior": {"osie": "90 %", "eyecrowd": "70 %", "mit1003": "all", "figrim": "all"},
}
# --split heldout keeps the images at positions 7-9 of every 10 by name (DAVE's and the
# prior's attention fit's held-out images, also the prior's static map's EyeCrowd test
# images); --split vamnet_heldout every 10th record from position 0 (VAM-Net's validation
# images, also the prior's static map's OSIE test images). Per split, the sets on which a
# model never saw the kept images, and those on which it saw all of them (ALL: every set):
ALL = "*"
HELDOUT_FOR = {
    "heldout": {"dave": {ALL}, "prior": {"eyecrowd"}},
    "vamnet_heldout": {"vamnet": {ALL}, "prior": {"osie"}},
}
SEEN_ALL = {
    "heldout": {"vamnet": {ALL}, "prior": {"osie", "mit1003", "figrim"}},
    "vamnet_heldout": {"dave": {ALL}, "prior": {"eyecrowd", "mit1003", "figrim"}},
}
METRICS = ("nss", "cc", "kl", "auc_j", "sauc", "sim")


def _listed(table: dict[str, dict[str, set[str]]], split: str, model: str, name: str) -> bool:
    """Whether ``table`` lists set ``name`` (or ALL) for ``model`` under ``split``."""
    sets = table.get(split, {}).get(model, set())
    return name in sets or ALL in sets


def score(
    pred: np.ndarray, fix: np.ndarray | None, dens: np.ndarray, other: np.ndarray | None
) -> dict[str, float]:
    """All metrics available for one image/frame (fixation-based ones need ``fix``)."""
    out = {"cc": cc(pred, dens), "kl": kl(pred, dens), "sim": sim(pred, dens)}
    if fix is not None and fix.any():
        out["nss"] = nss(pred, fix)
        out["auc_j"] = auc_judd(pred, fix)
        if other is not None and other.any():
            out["sauc"] = sauc(pred, fix, other)
    return out


def half_split(points: np.ndarray, shape: tuple[int, int], sigma: float):
    """(prediction from even viewers, odd viewers' fixation map and density) or None."""
    even, odd = points[points[:, 3] % 2 == 0], points[points[:, 3] % 2 == 1]
    if len(even) == 0 or len(odd) == 0:
        return None
    return (
        gaussian_fixation_map(even[:, :2], shape, sigma),
        points_to_map(odd[:, :2], shape),
        gaussian_fixation_map(odd[:, :2], shape, sigma),
    )


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def image_items(records: list[ImageGaze], rng: np.random.Generator) -> Iterator[tuple]:
    """(rgb, fix map or None, density, sAUC negatives or None, points or None) per image."""
    for i, r in enumerate(records):
        fix = r.fix_map() if (r.fixations is not None or r.fix_map_path is not None) else None
        other = None
        if r.fixations is not None:
            pool = [j for j in range(len(records)) if j != i and records[j].fixations is not None]
            neg = []
            for j in rng.choice(pool, size=min(10, len(pool)), replace=False):
                o = records[j]
                xy = o.fixations[:, :2] * (np.array(r.size) / np.array(o.size))
                neg.append(xy)
            other = points_to_map(np.concatenate(neg), r.shape)
        yield _rgb(r.image), fix, r.density(), other, r.fixations


def video_items(limit: int) -> Iterator[tuple]:
    """The same per frame of DHF1K 0002 (every frame with gaze, up to ``limit``)."""
    gaze = read_dhf1k_0002()
    far = int(2 * float(probe(gaze.video).fps))
    for i, frame in enumerate(decode_video(gaze.video)):
        if limit and i >= limit:
            return
        pts = gaze.points(i)
        if len(pts) == 0:
            yield frame.to_ndarray(format="rgb24"), None, None, None, None
            continue
        others = [gaze.points(j) for j in range(0, gaze.frames, 7) if abs(j - i) >= far]
        other = points_to_map(np.concatenate(others)[:, :2], gaze.shape)
        yield (frame.to_ndarray(format="rgb24"), gaze.fix_map(i), gaze.density(i), other, pts)


def run_set(
    name: str,
    models: list[str],
    limit: int,
    seed: int = 0,
    split: str = "all",
    audio: bool = False,
) -> dict[str, dict]:
    """Mean metrics per model (+ center and human baselines) on one set. ``split``
    ``heldout`` / ``vamnet_heldout``: a part of the image sets (module docstring; all frames
    of the video);
    ``audio``: models that take audio get the video's soundtrack (else none: silence)."""
    is_video = name == "dhf1k_0002"
    track = None
    if is_video:
        items = video_items(limit)
        if audio:
            track = read_dhf1k_0002().video
    else:
        records = IMAGE_SETS[name]()
        if split == "heldout":
            keep = heldout_names([r.name for r in records])
            records = [r for r in records if r.name in keep]
        if split == "vamnet_heldout":
            records = records[::10]  # perceptcodec.training.cache.add_images: i % 10 == 0
        items = image_items(records[:limit] if limit else records, np.random.default_rng(seed))
    nets = {m: get_model(m) for m in models}
    for net in nets.values():
        net.reset()
    waves = {
        m: load_audio_mono(track, net.audio_rate)
        for m, net in nets.items()
        if track is not None and net.audio_rate
    }
    scores: dict[str, list[dict[str, float]]] = {m: [] for m in [*models, "human"]}
    timing = {m: 0.0 for m in models}
    for t, (rgb, fix, dens, other, points) in enumerate(items):
        h, w = rgb.shape[:2]
        for m, net in nets.items():
            size = net.size_for(w, h)
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            if not is_video:
                net.reset()  # images are independent
            t0 = time.perf_counter()
            wave = waves.get(m)
            window = (
                audio_window(wave, net.audio_rate, t / 30.0, net.audio_window_s)
                if wave is not None
                else None
            )
            pred = net(small, t / 30.0, window)
            timing[m] += time.perf_counter() - t0
            if dens is not None:
                scores[m].append(score(pred, fix, dens, other))
        if points is not None and dens is not None:
            split = half_split(points, (h, w), DEFAULT_SIGMA_FRAC * w)
            if split is not None:
                scores["human"].append(score(split[0], split[1], split[2], other))
    out = {}
    for m, rows in scores.items():
        if rows:
            out[m] = {
                k: float(np.mean([r[k] for r in rows if k in r]))
                for k in METRICS
                if any(k in r for r in rows)
            }
            out[m]["count"] = len(rows)
            if m in timing:
                out[m]["ms_per_item"] = 1000 * timing[m] / len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["prior", "center"])
    parser.add_argument(
        "--sets",
        nargs="+",
        default=["osie", "eyecrowd", "dhf1k_0002"],
        choices=[*IMAGE_SETS, "dhf1k_0002"],
    )
    parser.add_argument("--limit", type=int, default=0, help="items per set (0 = all)")
    parser.add_argument(
        "--split",
        choices=["all", "heldout", "vamnet_heldout"],
        default="all",
        help="heldout: only the images DAVE's training and the prior's fit never saw; "
        "vamnet_heldout: only VAM-Net's validation images (default all)",
    )
    parser.add_argument(
        "--audio", action="store_true", help="give audio models the video's soundtrack"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "saliency_benchmark")
    args = parser.parse_args()
    results = {}
    for name in args.sets:
        t0 = time.time()
        results[name] = run_set(name, args.models, args.limit, 0, args.split, args.audio)
        print(f"{name}: done in {time.time() - t0:.0f} s", file=sys.stderr)
    meta = {
        "models": args.models,
        "sets": args.sets,
        "limit": args.limit,
        "split": args.split,
        "audio": args.audio,
        "sigma": f"{DEFAULT_SIGMA_FRAC} x stimulus width",
        "command": " ".join(["python", "eval/bench_saliency.py", *sys.argv[1:]]),
        "versions": tool_versions(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1)
    )
    rows = []
    for name, by_model in results.items():
        for m, r in by_model.items():
            seen = IN_TRAINING.get(m, {}).get(name)
            if name != "dhf1k_0002" and _listed(HELDOUT_FOR, args.split, m, name):
                seen = None  # only images it never saw
            if name != "dhf1k_0002" and seen and _listed(SEEN_ALL, args.split, m, name):
                seen = "all"  # only images it trained on
            label = f"{m} (in-sample: {seen} of the set was training data)" if seen else m
            if m in IN_TRAINING and not seen:
                label = f"{m} (held out)"
            rows.append(
                [name, label, r["count"], *(f"{r[k]:.3f}" if k in r else "n/a" for k in METRICS)]
            )
    header = ["set", "model", "n", "NSS", "CC", "KL", "AUC-J", "sAUC", "SIM"]
    lines = [
        f"Command: `{meta['command']}`; density sigma {meta['sigma']}; "
        f"limit {args.limit or 'none'} per set; split {args.split}"
        + {
            "heldout": " (image sets: positions 7-9 of every 10 by name)",
            "vamnet_heldout": " (image sets: every 10th image, VAM-Net's validation)",
        }.get(args.split, "")
        + f"; audio {'from the video' if args.audio else 'none'}.",
        "",
        markdown_table(header, rows).rstrip("\n"),
    ]
    if "vamnet" in args.models:
        lines += ["", "Held-out numbers for VAM-Net: eval/results/vamnet_validation.md."]
    if "dave" in args.models:
        lines += [
            "",
            "DAVE's split, data and deviations: perceptcodec/models/dave/MODEL_CARD.md "
            "(DHF1K 0002 is not in its training).",
        ]
    table = "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
