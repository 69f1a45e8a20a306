"""Plots of RD results (JSON from `perceptcodec rd`): EWPSNR-Y, PSNR-Y, SSIM-Y vs kbit/s.

    python eval/plot_rd.py eval/results/rd/dhf1k_0002

One PNG per video and one for the mean over videos (like the paper's figure), beside the JSON;
with results of several runs (x264 preset, passes) in the folder, one set per run.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from perceptcodec.evaluation.figures import rd_figure
from perceptcodec.evaluation.report import (
    bd_table,
    curve,
    load_results,
    mean_curve,
    names,
    run_name,
    run_of,
)


def plot(
    curves: dict[str, dict[str, list[float]]], bd: dict[str, dict], title: str, out: Path
) -> None:
    """EWPSNR-Y, PSNR-Y and SSIM-Y against log bitrate with BD values in the legends, and the
    difference to plain x264 under each (the figure of ``perceptcodec report``)."""
    out.write_bytes(rd_figure(curves, bd, title))


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
        rows = bd_table(group)
        for video in sorted({r["video"] for r in group}):
            curves = {
                n: curve(r) for r, n in zip(group, labels, strict=True) if r["video"] == video
            }
            bd = {r["config"]: r for r in rows if r["video"] == video}
            plot(curves, bd, f"{video} ({run_name(run)})", args.results / f"{video}{suffix}.png")
        n_videos = len({r["video"] for r in group})
        plot(
            {label: mean_curve(group, label) for label in sorted(set(labels))},
            {r["config"]: r for r in rows if r["video"] == "mean"},
            f"mean over {n_videos} video(s) ({run_name(run)})",
            args.results / f"mean{suffix}.png",
        )
    print(f"plots written to {args.results}")


if __name__ == "__main__":
    main()
