"""Copies of proxy clips at another frame rate: every n-th frame at 1/n of the rate, or n
times the rate by motion-compensated interpolation.

Video calls and webcams often run at 10-15 frames/s; conference recordings and sports at
50-60. A model that takes every k-th frame sees them k/n times farther apart (or n times
closer) in time than the 25 frames/s clips it was tuned on. These copies keep the same content
and the same gaze (the gaze rows of each kept frame, renumbered; an interpolated frame takes
the rows of the source frame at or before it), so a setting can be compared at another rate.

    nice .venv/bin/python eval/frame_rate_proxy.py --clips eval/.cache/dialogue --every 2
        # -> eval/.cache/dialogue_fps12.5/*.mp4, *.csv, datasets.txt
    nice .venv/bin/python eval/frame_rate_proxy.py --clips eval/.cache/dialogue --up 2
        # -> eval/.cache/dialogue_fps50/: FFmpeg's minterpolate (motion-compensated, bidirectional
        #    motion search, overlapped blocks): every source frame, and one made between each two
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cut_dialogue_proxy import read_clip, write_clip  # noqa: E402


def interpolated(frames: list[np.ndarray], rate: Fraction, up: int) -> list[np.ndarray]:
    """``frames`` (RGB, H x W x 3 uint8) at ``rate`` frames/s brought to ``up`` x ``rate`` by
    FFmpeg's motion-compensated ``minterpolate``: output frame ``up * k`` is source frame k."""
    height, width = frames[0].shape[:2]
    graph = av.filter.Graph()
    source = graph.add_buffer(
        width=width, height=height, format="rgb24", time_base=Fraction(1) / rate
    )
    chain = [
        source,
        graph.add("minterpolate", f"fps={rate * up}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"),
        graph.add("format", "rgb24"),
        graph.add("buffersink"),
    ]
    for a, b in pairwise(chain):
        a.link_to(b)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                out.append(graph.pull().to_ndarray(format="rgb24"))
            except (av.error.BlockingIOError, av.error.EOFError):
                return

    for k, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = k, Fraction(1) / rate
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, required=True, help="a folder with datasets.txt")
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--every", type=int, default=2, help="keep every n-th frame")
    rate.add_argument("--up", type=int, help="interpolate to n times the frame rate")
    args = parser.parse_args()
    lines = []
    out_dir = None
    for entry in (args.clips / "datasets.txt").read_text().split():
        video, table = (Path(p) for p in entry.split(":"))
        with av.open(str(video)) as container:
            rate = container.streams.video[0].average_rate
        fps = Fraction(rate) * args.up if args.up else Fraction(rate) / args.every
        out_dir = args.clips.parent / f"{args.clips.name}_fps{float(fps):g}"
        out_dir.mkdir(parents=True, exist_ok=True)
        frames, gaze = read_clip(video, table)
        out_video, out_table = out_dir / video.name, out_dir / table.name
        if args.up:
            made = interpolated(frames, Fraction(rate), args.up)
            shots = ((rgb, gaze.get(j // args.up, [])) for j, rgb in enumerate(made))
        else:
            shots = ((frames[j], gaze.get(j, [])) for j in range(0, len(frames), args.every))
        write_clip(out_video, out_table, fps, shots)
        lines.append(f"{out_video}:{out_table}")
        print(out_video, flush=True)
    if out_dir is not None:
        (out_dir / "datasets.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
