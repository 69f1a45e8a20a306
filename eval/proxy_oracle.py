"""How far the prior is from the viewers' own map on the proxy clips (``eval/proxy_clips.py``).

Each clip is encoded (1-pass ABR, preset medium, 50-400 kbit/s, as
``eval/results/rd/proxy_faces``) with ``--saliency none``, the default prior, and the viewers'
fixations as the map (``--saliency clip.csv``: the upper bound of any model under the same
QP mapping), and scored on the coded Y plane with EWPSNR weighted by the same fixations.

    nice .venv/bin/python eval/proxy_oracle.py --out eval/results/rd/proxy_oracle
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eyecrowd_faces import CACHE  # noqa: E402

from perceptcodec.config import EncodeConfig, SaliencySpec  # noqa: E402
from perceptcodec.datasets import read_gaze_csv  # noqa: E402
from perceptcodec.encoder import RateControl  # noqa: E402
from perceptcodec.evaluation.scoring import score_video  # noqa: E402
from perceptcodec.io.sink import work_dir  # noqa: E402
from perceptcodec.metrics.bjontegaard import bd_quality  # noqa: E402
from perceptcodec.pipeline import encode  # noqa: E402

BITRATES = (50, 100, 200, 400)


def curve(video: Path, gaze, saliency: str) -> dict[str, list[float]]:
    """Actual kbit/s, PSNR-Y and EWPSNR-Y (dB) at each of BITRATES."""
    out: dict[str, list[float]] = {"kbps": [], "psnr_y": [], "ewpsnr_y": []}
    for kbps in BITRATES:
        config = EncodeConfig(
            rate=RateControl.choose(bitrate=f"{kbps}k"), saliency=SaliencySpec(saliency)
        )
        with work_dir() as tmp:
            summary = encode(video, tmp / "out.mp4", config, progress=False)
            scores = score_video(video, tmp / "out.mp4", gaze.weights)
        out["kbps"].append(summary.video_kbps)
        out["psnr_y"].append(scores["psnr_y"])
        out["ewpsnr_y"].append(scores["ewpsnr_y"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("eval/results/rd/proxy_oracle"))
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    for line in (CACHE / "proxy" / "datasets.txt").read_text().split():
        video, table = (Path(p) for p in line.replace(".mp4:", ".mp4\n").split("\n"))
        gaze = read_gaze_csv(video, table)
        curves = {name: curve(video, gaze, name) for name in ("none", "prior", str(table))}
        base = curves.pop("none")
        curves["gaze"] = curves.pop(str(table))
        rows[video.stem] = {
            name: {
                metric: bd_quality(base["kbps"], base[metric], c["kbps"], c[metric])
                for metric in ("ewpsnr_y", "psnr_y")
            }
            for name, c in curves.items()
        }
        print(video.stem, rows[video.stem], flush=True)
    mean = {
        name: {
            m: float(np.mean([r[name][m] for r in rows.values()])) for m in ("ewpsnr_y", "psnr_y")
        }
        for name in ("prior", "gaze")
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bd.json").write_text(json.dumps({"per_clip": rows, "mean": mean}, indent=1))
    lines = [
        "| clip | prior BD-EWPSNR / BD-PSNR (dB) | viewers' map BD-EWPSNR / BD-PSNR (dB) |",
        "|---|---|---|",
    ]
    for name, r in [("**mean**", mean), *rows.items()]:
        lines.append(
            f"| {name} | {r['prior']['ewpsnr_y']:+.2f} / {r['prior']['psnr_y']:+.2f} |"
            f" {r['gaze']['ewpsnr_y']:+.2f} / {r['gaze']['psnr_y']:+.2f} |"
        )
    (args.out / "bd.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
