"""Dialogue proxy clips: one talker among silent listeners, with gaze put on the talker.

No multi-face video with real gaze exists here. What issue 9 measured on two such videos is
that viewers look at one face at a time, the person talking. These clips build that case from
real talking clips (``eval/active_speaker.py``'s ``visual`` composites: 2 side by side or
2 x 2 tiles, the speaker's whole clip in one, real silent stretches of other clips, played
forwards and backwards, in the others; no audio track, like the unseen videos) and write a
gaze CSV whose "viewers" look at the talker's face while the talker's voice is on (and
0.5 s after): 20 points a frame, drawn around the eyes and the nose-mouth of the face
CenterFace finds in the talker's tile (half the points on each, spread by a tenth of the face
width). The gaze is a modelling assumption taken from the issue, not a measurement: BD-EWPSNR
on these clips measures how well a model puts bits on the face that talks.

Speakers are the clips held out for both the prior's speaker cue (``active_speaker.HELD_OUT``)
and VAM-Net (its validation composites: face_5, WDA_KatieHill, GRID 8-11); listeners are
silent stretches of any clip held out for the speaker cue (some of them VAM-Net saw talking).

    nice .venv/bin/python eval/dialogue_proxy.py      # eval/.cache/dialogue/*.mp4, *.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from active_speaker import FPS, HELD_OUT, composites, load_clip, tile_frame  # noqa: E402
from eyecrowd_faces import CACHE  # noqa: E402

from perceptcodec.paths import shared_data_dir  # noqa: E402
from perceptcodec.saliency.faces import FaceDetector  # noqa: E402

OUT = CACHE / "dialogue"
# held out for the speaker cue (HELD_OUT) and for VAM-Net (perceptcodec.training.cache's
# talking_clips validation half: face_5, WDA_KatieHill, the last 4 GRID clips by name)
BOTH = [
    n for n in HELD_OUT if n in {"face_5.mp4", "WDA_KatieHill_000.mp4"} or n.startswith("grid/s")
]
HOLD_S = 0.5
VIEWERS = 20


def gaze_points(box: np.ndarray, marks: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """VIEWERS points (x, y) on one face: half around the eyes, half around the nose-mouth
    (from the landmarks; the upper and lower middle of the box without them)."""
    x0, y0, x1, y1 = box[:4]
    w = x1 - x0
    if marks is not None and np.isfinite(marks).all():
        eyes, mouth = marks[:2].mean(0), marks[2:].mean(0)
    else:
        eyes = np.array([(x0 + x1) / 2, y0 + 0.4 * (y1 - y0)])
        mouth = np.array([(x0 + x1) / 2, y0 + 0.7 * (y1 - y0)])
    centres = np.repeat(np.stack([eyes, mouth]), [VIEWERS // 2, VIEWERS - VIEWERS // 2], axis=0)
    return centres + rng.normal(0, 0.1 * w, centres.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile", type=int, default=240, help="tile side in pixels")
    parser.add_argument("--draws", type=int, default=1, help="composites per speaker and tiling")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    root = shared_data_dir() / "video" / "talking"
    clips = {n: load_clip(root, n, args.tile) for n in HELD_OUT}
    detector = FaceDetector(input_width=args.tile)
    rng = np.random.default_rng(0)
    lines = []
    for spec in composites(clips, HELD_OUT, "visual", args.draws, seed=1):
        if spec["speaker"] not in BOTH:
            continue
        n_tiles = len(spec["tiles"])
        speaker = clips[spec["speaker"]]
        slot = spec["tiles"].index(spec["speaker"])
        ox, oy = (slot % 2) * args.tile, (slot // 2) * args.tile
        stem = f"{Path(spec['speaker']).stem}_{n_tiles}"
        video, table = OUT / f"{stem}.mp4", OUT / f"{stem}.csv"
        frames = int(speaker.duration * FPS)
        last_voice = -1e9
        with av.open(str(video), "w") as container, open(table, "w", newline="") as f:
            stream = container.add_stream("libx264", rate=int(FPS))
            h = args.tile * (2 if n_tiles == 4 else 1)
            stream.width, stream.height, stream.pix_fmt = 2 * args.tile, h, "yuv420p"
            stream.options = {"crf": "12", "preset": "fast"}
            stream.time_base = Fraction(1, int(FPS))
            writer = csv.writer(f)
            writer.writerow(["frame", "x", "y", "subject"])
            for k in range(frames):
                t = k / FPS
                rgb = tile_frame(clips, spec, t)
                out = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                out.pts = k
                for packet in stream.encode(out):
                    container.mux(packet)
                if speaker.speaking(t):
                    last_voice = t
                if t - last_voice > HOLD_S:
                    continue
                tile = rgb[oy : oy + args.tile, ox : ox + args.tile]
                faces, marks = detector.detect(tile)
                if not len(faces):
                    continue
                best = int(np.argmax((faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])))
                for v, (x, y) in enumerate(gaze_points(faces[best], marks[best], rng)):
                    writer.writerow([k, f"{x + ox:.1f}", f"{y + oy:.1f}", v])
            for packet in stream.encode():
                container.mux(packet)
        lines.append(f"{video}:{table}")
        print(video, spec["tiles"], flush=True)
    (OUT / "datasets.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
