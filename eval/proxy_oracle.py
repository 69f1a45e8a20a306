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
from proxy_clips import clip_list  # noqa: E402

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


def bd_table(heads: list[str], names: list[str], rows: list[tuple[str, dict]]) -> list[str]:
    """Markdown lines: a clip column and one column per name (headed by ``heads``), each row
    ``(label, {name: {"ewpsnr_y": dB, "psnr_y": dB}})`` as BD-EWPSNR / BD-PSNR."""
    lines = ["| clip | " + " | ".join(heads) + " |", "|---|" + "---|" * len(names)]
    for label, r in rows:
        cells = " | ".join(f"{r[n]['ewpsnr_y']:+.2f} / {r[n]['psnr_y']:+.2f}" for n in names)
        lines.append(f"| {label} | {cells} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("eval/results/rd/proxy_oracle"))
    parser.add_argument(
        "--models", nargs="+", default=["prior", "gaze"], help="saliency models; gaze = the clip's"
    )
    parser.add_argument(
        "--clips",
        type=Path,
        default=CACHE / "proxy",
        help="folder of eval/proxy_clips.py output (its datasets.txt)",
    )
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    all_curves: dict[str, dict] = {}
    for video, table in clip_list(args.clips):
        gaze = read_gaze_csv(video, table)
        base = curve(video, gaze, "none")
        curves = {m: curve(video, gaze, str(table) if m == "gaze" else m) for m in args.models}
        all_curves[video.stem] = {"none": base, **curves}
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
        for name in args.models
    }
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"per_clip": rows, "mean": mean, "curves": all_curves}
    (args.out / "bd.json").write_text(json.dumps(result, indent=1))
    heads = [f"{m} BD-EWPSNR / BD-PSNR (dB)" for m in args.models]
    lines = bd_table(heads, args.models, [("**mean**", mean), *rows.items()])
    (args.out / "bd.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
