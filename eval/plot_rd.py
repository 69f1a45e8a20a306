"""Plots of RD results (JSON from `perceptcodec rd`): PSNR-Y and EWPSNR-Y vs kbit/s.

    python eval/plot_rd.py eval/results/rd/dhf1k_0002

One PNG per video and one for the mean over videos (like the paper's figure), beside the JSON;
with results of several runs (x264 preset, passes) in the folder, one set per run.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from perceptcodec.evaluation.report import (
    curve,
    load_results,
    mean_curve,
    names,
    run_name,
    run_of,
)


def plot(curves: dict[str, dict[str, list[float]]], title: str, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, name in ((axes[0], "ewpsnr_y", "EWPSNR-Y"), (axes[1], "psnr_y", "PSNR-Y")):
        for label, points in sorted(curves.items()):
            style = "k--o" if label == "none" else "-o"
            ax.plot(
                points["actual_kbps"],
                points[metric],
                style,
                ms=3,
                label="x264 (none)" if label == "none" else label,
            )
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
    runs: dict[tuple, list[dict]] = {}
    for r in results:
        runs.setdefault(run_of(r), []).append(r)
    for run, group in runs.items():
        suffix = "" if len(runs) == 1 else "__" + re.sub(r"\W+", "_", run_name(run)).strip("_")
        labels = names(group)
        for video in sorted({r["video"] for r in group}):
            curves = {
                n: curve(r) for r, n in zip(group, labels, strict=True) if r["video"] == video
            }
            plot(curves, f"{video} ({run_name(run)})", args.results / f"{video}{suffix}.png")
        n_videos = len({r["video"] for r in group})
        plot(
            {label: mean_curve(group, label) for label in sorted(set(labels))},
            f"mean over {n_videos} video(s) ({run_name(run)})",
            args.results / f"mean{suffix}.png",
        )
    print(f"plots written to {args.results}")


if __name__ == "__main__":
    main()
