"""Low-frame-rate copies of proxy clips: every n-th frame at 1/n of the frame rate.

Video calls and webcams often run at 10-15 frames/s. A model that takes every k-th frame sees
them k/n times farther apart in time than the 25 frames/s clips it was tuned on. These copies
keep the same content and the same gaze (the gaze rows of each kept frame, renumbered) at
25/n frames/s, so a setting can be compared at the lower rate.

    nice .venv/bin/python eval/frame_rate_proxy.py --clips eval/.cache/dialogue --every 2
        # -> eval/.cache/dialogue_fps12.5/*.mp4, *.csv, datasets.txt
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).parent))
from cut_dialogue_proxy import read_clip, write_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, required=True, help="a folder with datasets.txt")
    parser.add_argument("--every", type=int, default=2, help="keep every n-th frame")
    args = parser.parse_args()
    lines = []
    out_dir = None
    for entry in (args.clips / "datasets.txt").read_text().split():
        video, table = (Path(p) for p in entry.split(":"))
        with av.open(str(video)) as container:
            rate = container.streams.video[0].average_rate
        fps = Fraction(rate) / args.every
        out_dir = args.clips.parent / f"{args.clips.name}_fps{float(fps):g}"
        out_dir.mkdir(parents=True, exist_ok=True)
        frames, gaze = read_clip(video, table)
        out_video, out_table = out_dir / video.name, out_dir / table.name
        kept = range(0, len(frames), args.every)
        write_clip(out_video, out_table, fps, ((frames[j], gaze.get(j, [])) for j in kept))
        lines.append(f"{out_video}:{out_table}")
        print(out_video, flush=True)
    if out_dir is not None:
        (out_dir / "datasets.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
