"""Fits the active-speaker cue's logistic combiner on the TUNING clips only.

Runs ``eval/active_speaker.py``'s composites of the tuning split (both settings, the given
composite widths), collects each frame's per-track features (``ActiveSpeaker.features``) with
the label "this track is in the speaker's tile", and fits, with numpy (Newton's method, L2),
one logistic regression per setting (with audio: every feature; visual only: the visual ones)
on the frames where the speaker is voiced. Prints the coefficients to paste into
``perceptcodec/saliency/speaker.py`` (``COEF_AUDIO`` / ``COEF_VISUAL``) and the tuning
accuracy of the top-ranked track (before the hold), and writes them to
``eval/results/active_speaker_fit.json``. The features are cached in ``eval/.cache``.

    python eval/fit_speaker.py --widths 320 480 640 --select-audio "relative sync" --l2-audio 100
    python eval/fit_speaker.py --widths 320 --cv   # leave-one-person-out model selection
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from active_speaker import TUNING, composites, load_clip, run_composite  # noqa: E402

from perceptcodec.paths import shared_data_dir  # noqa: E402
from perceptcodec.saliency.faces import FaceDetector  # noqa: E402
from perceptcodec.saliency.speaker import FEATURES, VISUAL_FEATURES  # noqa: E402


def collect(data: Path, setting: str, width: int, draws: int, seed: int, cache: Path) -> dict:
    """Per frame rows of the tuning composites: features, labels, voiced, frame id."""
    path = cache / f"speaker_{setting}_{width}_{draws}_{seed}.npz"
    if path.exists():
        return dict(np.load(path))
    clips = {n: load_clip(data, n, width // 2) for n in TUNING}
    detector = FaceDetector(input_width=width)
    rows: list = []
    speaker: list = []
    for spec in composites(clips, TUNING, setting, draws, seed):
        before = len(rows)
        run_composite(clips, spec, setting, detector, {}, collect=rows)
        speaker += [TUNING.index(spec["speaker"])] * (len(rows) - before)
    x = np.concatenate([r[0] for r in rows])
    out = {
        "x": x,
        "y": np.concatenate([r[1] for r in rows]).astype(np.float64),
        "voiced": np.concatenate([np.full(len(r[1]), r[2]) for r in rows]),
        "frame": np.concatenate([np.full(len(r[1]), i) for i, r in enumerate(rows)]),
        "speaker": np.concatenate(
            [np.full(len(r[1]), s) for s, r in zip(speaker, rows, strict=True)]
        ),
        "features": np.array(FEATURES),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 30) -> np.ndarray:
    """Weights (bias last) of an L2-penalised logistic regression, Newton's method."""
    a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    w = np.zeros(a.shape[1])
    reg = l2 * np.eye(a.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        grad = a.T @ (p - y) + reg @ w
        hess = (a * (p * (1 - p))[:, None]).T @ a + reg + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def top_accuracy(z: np.ndarray, y: np.ndarray, frame: np.ndarray) -> float:
    """Share of frames whose top-scored row is a speaker row."""
    order = np.lexsort((-z, frame))
    first = np.ones(len(order), bool)
    first[1:] = frame[order][1:] != frame[order][:-1]
    return float(y[order][first].mean())


# One person per group (SAME_PERSON of eval/active_speaker.py): TUNING index -> group.
PERSON = [0, 1, 2, 2, 3, 4, 4, 5]

CANDIDATES = {
    "all": None,
    "relative": lambda n: n.startswith("rel_"),
    "relative sync + mouth": lambda n: (
        n.startswith("rel_sync") or n in ("rel_mouth_l", "rel_open_sd", "rel_upper_l")
    ),
    "relative sync": lambda n: n.startswith("rel_sync"),
    "relative mouth": lambda n: (
        n in ("rel_mouth_s", "rel_mouth_l", "rel_open_sd", "rel_upper_s", "rel_upper_l")
    ),
}


def fit_standardised(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    w = fit_logistic((x - mu) / sd, y, l2)
    coef = w[:-1] / sd
    return coef, float(w[-1] - (coef * mu).sum())


def cross_validate(x, y, frame, person, names) -> dict:
    """Leave-one-person-out top-track accuracy (frames of the left-out speaker) for each
    candidate feature set and L2 penalty."""
    out = {}
    for cand, keep in CANDIDATES.items():
        cols = [j for j, n in enumerate(names) if keep is None or keep(n)]
        if not cols:
            continue
        for l2 in (1.0, 100.0, 1000.0):
            hits = []
            for g in np.unique(person):
                tr, te = person != g, person == g
                coef, bias = fit_standardised(x[tr][:, cols], y[tr], l2)
                z = x[te][:, cols] @ coef + bias
                acc = top_accuracy(z, y[te], frame[te])
                hits.append((acc, len(np.unique(frame[te]))))
            out[f"{cand} / l2={l2:g}"] = sum(a * n for a, n in hits) / sum(n for _, n in hits)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "video/talking")
    ap.add_argument("--widths", nargs="+", type=int, default=[320])
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty on standardised weights")
    ap.add_argument("--cache", type=Path, default=Path("eval/.cache"))
    ap.add_argument("--out", type=Path, default=Path("eval/results/active_speaker_fit.json"))
    ap.add_argument("--cv", action="store_true", help="leave-one-person-out model selection")
    ap.add_argument("--select-audio", default="all", help="feature set (a CANDIDATES key)")
    ap.add_argument("--select-visual", default="all", help="feature set (a CANDIDATES key)")
    ap.add_argument("--l2-audio", type=float, default=None, help="L2 for audio (default --l2)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    result: dict = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])}
    for setting, names in (("audio", FEATURES), ("visual", VISUAL_FEATURES)):
        sets = [
            collect(args.data, setting, w, args.draws, args.seed, args.cache) for w in args.widths
        ]
        cols = [list(FEATURES).index(n) for n in names]
        x = np.concatenate([s["x"][:, cols] for s in sets])
        y = np.concatenate([s["y"] for s in sets])
        voiced = np.concatenate([s["voiced"] for s in sets])
        frame = np.concatenate([s["frame"] + 1_000_000 * i for i, s in enumerate(sets)])
        # only frames with more than one track rank anything
        multi = np.bincount(frame)[frame] > 1
        use = voiced & multi
        select = args.select_audio if setting == "audio" else args.select_visual
        if select != "all":
            keep = CANDIDATES[select]
            sub = [j for j, n in enumerate(names) if keep(n)]
            names = [names[j] for j in sub]
            x = x[:, sub]
        if args.cv:
            person = np.concatenate([np.array(PERSON)[s["speaker"]] for s in sets])
            cv = cross_validate(x[use], y[use], frame[use], person[use], list(names))
            for k, v in sorted(cv.items(), key=lambda kv: -kv[1]):
                print(f"  CV {setting} {k}: {v:.3f}", flush=True)
            result[f"cv_{setting}"] = cv
        mu, sd = x[use].mean(axis=0), x[use].std(axis=0) + 1e-9
        l2 = args.l2_audio if setting == "audio" and args.l2_audio is not None else args.l2
        w = fit_logistic((x[use] - mu) / sd, y[use], l2)
        coef = w[:-1] / sd
        bias = float(w[-1] - (coef * mu).sum())
        z = x @ coef + bias
        acc = {
            "voiced": top_accuracy(z[use], y[use], frame[use]),
            "all": top_accuracy(z, y, frame),
        }
        for i, width in enumerate(args.widths):
            sel = use & (frame // 1_000_000 == i)
            acc[f"voiced_{width}"] = top_accuracy(z[sel], y[sel], frame[sel])
        table = {"bias": round(bias, 4)} | {
            n: round(float(c), 4) for n, c in zip(names, coef, strict=True)
        }
        single = {}
        for j, n in enumerate(names):
            if n.startswith("rel_"):
                single[n] = round(top_accuracy(x[use, j], y[use], frame[use]), 3)
        print(f"  tuning top-track accuracy of single relative features: {single}")
        result[setting] = {"coef": table, "tuning_top_accuracy_no_hold": acc}
        print(f"COEF_{setting.upper()} = {table}")
        print(f"  tuning top-track accuracy before the hold: {acc}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
