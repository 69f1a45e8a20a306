"""Plots of RD results (JSON from `perceptcodec rd`): PSNR-Y and EWPSNR-Y vs kbit/s.

    python eval/plot_rd.py eval/results/rd/dhf1k_0002

One PNG per video and one for the mean over videos (like the paper's figure), beside the JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from perceptcodec.rd import load_results, mean_curve  # noqa: E402


def plot(curves: dict[str, dict[str, list[float]]], title: str, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, name in ((axes[0], "ewpsnr_y", "EWPSNR-Y"), (axes[1], "psnr_y", "PSNR-Y")):
        for label, curve in sorted(curves.items()):
            style = "k--o" if label == "none" else "-o"
            ax.plot(curve["actual_kbps"], curve[metric], style, ms=3,
                    label="x264 (none)" if label == "none" else label)  # fmt: skip
        ax.set_xlabel("bitrate (kbit/s)")
        ax.set_ylabel(f"{name} (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="folder of RD JSON files")
    args = parser.parse_args()
    results = load_results(sorted(args.results.glob("*__*.json")))
    if not results:
        raise SystemExit(f"plot_rd: no RD results in {args.results}")
    labels = sorted({r["config"]["label"] for r in results})
    for video in sorted({r["video"] for r in results}):
        curves = {
            r["config"]["label"]: {k: [p[k] for p in r["points"]] for k in r["points"][0]}
            for r in results
            if r["video"] == video
        }
        plot(curves, video, args.results / f"{video}.png")
    plot({label: mean_curve(results, label) for label in labels},
         f"mean over {len({r['video'] for r in results})} video(s)",
         args.results / "mean.png")  # fmt: skip
    print(f"plots written to {args.results}")


if __name__ == "__main__":
    main()
