"""Does the saliency gain survive an x264 tune, and does it beat the tune alone?

Reads the RD results of one or more folders made with ``perceptcodec rd ... --configs none
prior`` once without and once with ``--tune ssim`` (same clips, bitrates and settings) and
gives, per clip set, the BD-EWPSNR / BD-PSNR (dB) on the mean curve over its clips (as the
"mean" rows of ``perceptcodec rd``'s BD tables) of:

- ``none + tune`` against plain x264 (what the tune alone does);
- ``prior`` against plain x264 (the default, as in every other table);
- ``prior + tune`` against ``none + tune`` (the saliency gain under the same flags);
- ``prior + tune`` against plain x264 (both together).

    python eval/tune_study.py eval/results/rd/tune_ssim/* --tune ssim --out eval/results/tune_ssim
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from perceptcodec.metrics.bjontegaard import bd_quality

METRICS = ("ewpsnr_y", "psnr_y")


def curves(folder: Path) -> dict[str, dict[tuple[str, str | None], dict[str, list[float]]]]:
    """{video: {(label, tune): {"kbps": [...], "ewpsnr_y": [...], "psnr_y": [...]}}}."""
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        if "points" not in result:
            continue
        config = result["config"]
        points = sorted(result["points"], key=lambda p: p["target_kbps"])
        curve = {"kbps": [p["actual_kbps"] for p in points]}
        curve.update({m: [p[m] for p in points] for m in METRICS})
        out.setdefault(result["video"], {})[(config["label"], config.get("tune"))] = curve
    return out


def bd(anchor: dict[str, list[float]], test: dict[str, list[float]]) -> dict[str, float]:
    return {m: bd_quality(anchor["kbps"], anchor[m], test["kbps"], test[m]) for m in METRICS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--tune", default="ssim")
    parser.add_argument("--model", default="prior-s0.7-q8-k2", help="the saliency label")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plain, tuned = ("none", None), ("none", args.tune)
    model, model_tuned = (args.model, None), (args.model, args.tune)
    comparisons = {
        f"none + {args.tune} vs none": (plain, tuned),
        f"{args.model} vs none": (plain, model),
        f"{args.model} + {args.tune} vs none + {args.tune}": (tuned, model_tuned),
        f"{args.model} + {args.tune} vs none": (plain, model_tuned),
    }
    table: dict[str, dict] = {}
    for folder in args.folders:
        by_video = curves(folder)
        rows = {
            video: {name: bd(c[a], c[b]) for name, (a, b) in comparisons.items()}
            for video, c in by_video.items()
        }
        mean = {  # the mean curve over the clips, as the BD tables' "mean" rows
            key: {
                k: list(np.mean([c[key][k] for c in by_video.values()], axis=0))
                for k in ("kbps", *METRICS)
            }
            for key in (plain, tuned, model, model_tuned)
        }
        table[folder.name] = {
            "clips": len(rows),
            "mean": {name: bd(mean[a], mean[b]) for name, (a, b) in comparisons.items()},
            "per_clip": rows,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=1))
    lines = [
        "BD-EWPSNR / BD-PSNR (dB) on each set's mean curve: "
        f"`python eval/tune_study.py {' '.join(str(f) for f in args.folders)} --tune "
        f"{args.tune} --out {args.out}`",
        "",
        "| clip set | clips | " + " | ".join(comparisons) + " |",
        "|---|---|" + "---|" * len(comparisons),
    ]
    for name, t in table.items():
        cells = " | ".join(
            f"{t['mean'][c]['ewpsnr_y']:+.2f} / {t['mean'][c]['psnr_y']:+.2f}" for c in comparisons
        )
        lines.append(f"| {name} | {t['clips']} | {cells} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
