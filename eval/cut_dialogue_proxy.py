"""Dialogue proxy clips with hard cuts: two dialogues of the same tiling, edited shot by shot.

Edited video (the TV office scene of issue 9) cuts between shots of the same people, and a
model must start again at each cut: faces in the new shot are other people, at places where
the last shot's faces were. These clips interleave two of ``eval/dialogue_proxy.py``'s held-out
dialogues with the same tiling, ``--shot`` frames at a time, each dialogue going on where its
last shot stopped (A 0-39, B 0-39, A 40-79, B 40-79, ... until the shorter one ends), like
shot / reverse shot. Frames and gaze rows (the talker's face while the voice is on) are copied
from the two clips, so the gaze is the same assumption as there. No audio track.

    nice .venv/bin/python eval/dialogue_proxy.py        # first, if eval/.cache/dialogue is empty
    nice .venv/bin/python eval/cut_dialogue_proxy.py    # eval/.cache/dialogue_cuts/*.mp4, *.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from active_speaker import FPS  # noqa: E402
from eyecrowd_faces import CACHE  # noqa: E402

SOURCE = CACHE / "dialogue"
OUT = CACHE / "dialogue_cuts"


def read_clip(video: Path, table: Path) -> tuple[list[np.ndarray], dict[int, list[list[str]]]]:
    """The clip's RGB frames and its gaze rows (x, y, subject) by frame."""
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    gaze: dict[int, list[list[str]]] = defaultdict(list)
    with open(table, newline="") as f:
        for row in csv.DictReader(f):
            gaze[int(row["frame"])].append([row["x"], row["y"], row["subject"]])
    return frames, gaze


def write_clip(
    video: Path, table: Path, rate: Fraction, shots: Iterable[tuple[np.ndarray, list[list[str]]]]
) -> int:
    """Writes ``shots`` ((RGB frame, gaze rows (x, y, subject)) in order) as an H.264 clip at
    ``rate`` frames/s (CRF 12) and its gaze CSV, frames renumbered from 0; returns the count."""
    k = 0
    with av.open(str(video), "w") as container, open(table, "w", newline="") as f:
        stream = container.add_stream("libx264", rate=rate)
        stream.options = {"crf": "12", "preset": "fast"}
        stream.time_base = 1 / rate
        writer = csv.writer(f)
        writer.writerow(["frame", "x", "y", "subject"])
        for rgb, rows in shots:
            if not k:
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                container.mux(packet)
            writer.writerows([k, *row] for row in rows)
            k += 1
        for packet in stream.encode():
            container.mux(packet)
    return k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shot", type=int, default=40, help="frames per shot (40 = 1.6 s)")
    args = parser.parse_args()
    pairs = [line.split(":") for line in (SOURCE / "datasets.txt").read_text().split()]
    by_tiling: dict[str, list[tuple[Path, Path]]] = defaultdict(list)
    for video, table in pairs:
        by_tiling[Path(video).stem.rsplit("_", 1)[1]].append((Path(video), Path(table)))
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []
    for clips in by_tiling.values():
        for i, (video_a, table_a) in enumerate(clips):  # each clip with the next one, cyclic
            video_b, table_b = clips[(i + 1) % len(clips)]
            a, b = read_clip(video_a, table_a), read_clip(video_b, table_b)
            stem = f"{video_a.stem}__{video_b.stem}"
            video, table = OUT / f"{stem}.mp4", OUT / f"{stem}.csv"
            n = min(len(a[0]), len(b[0]))
            shots = (
                (frames[j], gaze.get(j, []))
                for start in range(0, n, args.shot)
                for frames, gaze in (a, b)
                for j in range(start, min(start + args.shot, n))
            )
            k = write_clip(video, table, Fraction(int(FPS)), shots)
            lines.append(f"{video}:{table}")
            print(video, k, "frames", flush=True)
    (OUT / "datasets.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
