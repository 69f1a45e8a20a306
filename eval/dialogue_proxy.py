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

``--sound`` then writes the same clips with the talker's own audio track (AAC, 16 kHz mono;
the video packets copied, so every frame is the same) to eval/.cache/dialogue_sound/: the
common case of a conversation with sound, for models that listen. ``--split tuning`` makes
the same from the speaker cue's tuning clips (every tuning clip talks, the listeners are
silent stretches of tuning clips) in eval/.cache/dialogue_tuning[_sound]/, for choices that
must not be made on the held-out clips.

``--moving`` makes the same talks with small tiles that drift over a still background photo
(a FIGRIM scene in which CenterFace finds no face), in eval/.cache/dialogue[_tuning]_moving/:
a 640 x 360 frame, ``--tile`` 96, each tile on its own ellipse (up to 5 px a frame at 25
frames/s), so each face is ~20 px wide where the prior works (320 px) and moves like a person
walking across a room: the case where face boxes that follow the low-resolution flow fall behind
their face (``eval/results/track_ghosts.md``). With ``--still`` the small tiles stay where
their ellipses start, in eval/.cache/dialogue[_tuning]_small/: small faces without the drift.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from active_speaker import FPS, HELD_OUT, TUNING, composites, load_clip, tile_frame  # noqa: E402
from eyecrowd_faces import CACHE  # noqa: E402

from perceptcodec.io.audio import load_audio_mono  # noqa: E402
from perceptcodec.paths import shared_data_dir  # noqa: E402
from perceptcodec.saliency.faces import FaceDetector  # noqa: E402

OUT = {"held_out": CACHE / "dialogue", "tuning": CACHE / "dialogue_tuning"}
MOVING_SIZE = (640, 360)  # width, height of the --moving frame
MOVING_PERIOD_S = 6.0  # one turn of a tile's ellipse
RATE = 16000  # Hz of the added audio track
# held out for the speaker cue (HELD_OUT) and for VAM-Net (perceptcodec.training.cache's
# talking_clips validation half: face_5, WDA_KatieHill, the last 4 GRID clips by name)
BOTH = [
    n for n in HELD_OUT if n in {"face_5.mp4", "WDA_KatieHill_000.mp4"} or n.startswith("grid/s")
]
POOL = {"held_out": HELD_OUT, "tuning": TUNING}  # the clips of the composites
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


def moving_background(root: Path, detector: FaceDetector) -> np.ndarray:
    """The first FIGRIM scene (sorted by name) in which ``detector`` finds no face, resized to
    MOVING_SIZE (H x W x 3 uint8, RGB)."""
    for path in sorted((root / "images" / "figrim30" / "stimuli").rglob("*.jpg")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, MOVING_SIZE, interpolation=cv2.INTER_AREA)
        if not len(detector.detect(rgb)[0]):
            return rgb
    raise SystemExit("no FIGRIM scene without faces")


def tile_places(n_tiles: int, tile: int, t: float) -> list[tuple[int, int]]:
    """Top-left (x, y) pixels of each of ``n_tiles`` tiles at time ``t`` (s) in the --moving
    frame: tile i turns on an ellipse around the centre of its cell of a 2 x 1 or 2 x 2 grid,
    with radii of half the cell's free width and height less 2 px, each tile from its own
    phase, so the tiles neither touch nor leave the frame."""
    width, height = MOVING_SIZE
    rows = 1 if n_tiles == 2 else 2
    cell_w, cell_h = width / 2, height / rows
    ax, ay = (cell_w - tile) / 2 - 2, (cell_h - tile) / 2 - 2
    places = []
    for i in range(n_tiles):
        phase = 2 * np.pi * (t / MOVING_PERIOD_S + i / n_tiles)
        cx = (i % 2 + 0.5) * cell_w + ax * np.cos(phase)
        cy = (i // 2 + 0.5) * cell_h + ay * np.sin(phase)
        places.append((int(round(cx - tile / 2)), int(round(cy - tile / 2))))
    return places


def add_sound(video: Path, speech: np.ndarray, out: Path) -> None:
    """``video``'s packets with ``speech`` (mono float32 at RATE, from the video's time 0) as
    an AAC track, to ``out``."""
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        v_in = src.streams.video[0]
        v_out = dst.add_stream_from_template(v_in)
        a_out = dst.add_stream("aac", rate=RATE, layout="mono")
        duration = float(v_in.frames / v_in.average_rate)
        speech = np.pad(speech, (0, max(0, int(duration * RATE) - len(speech))))
        speech = speech[: int(duration * RATE)]
        for start in range(0, len(speech), 1024):
            chunk = np.ascontiguousarray(speech[start : start + 1024], np.float32)[None]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            for packet in a_out.encode(frame):
                dst.mux(packet)
        for packet in a_out.encode():
            dst.mux(packet)
        for packet in src.demux(v_in):
            if packet.dts is not None:
                packet.stream = v_out
                dst.mux(packet)


def sound_clips(root: Path, split: str) -> None:
    """<clips>_sound/: the clips of <clips>/datasets.txt with their talker's audio."""
    folder = OUT[split]
    sound = folder.with_name(f"{folder.name}_sound")
    sound.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in (folder / "datasets.txt").read_text().split():
        video, table = (Path(p) for p in line.split(":"))
        name = next(n for n in POOL[split] if Path(n).stem == video.stem.rsplit("_", 1)[0])
        out = sound / video.name
        add_sound(video, load_audio_mono(root / name, RATE), out)
        shutil.copy(table, sound / table.name)
        lines.append(f"{out}:{sound / table.name}")
        print(out, name, flush=True)
    (sound / "datasets.txt").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile", type=int, default=240, help="tile side in pixels")
    parser.add_argument("--draws", type=int, default=1, help="composites per speaker and tiling")
    parser.add_argument(
        "--sound", action="store_true", help="add the talker's audio to the clips made before"
    )
    parser.add_argument("--split", choices=sorted(OUT), default="held_out")
    parser.add_argument(
        "--moving", action="store_true", help="small tiles drifting over a photo (see above)"
    )
    parser.add_argument(
        "--still", action="store_true", help="with --moving: the small tiles do not drift"
    )
    args = parser.parse_args()
    if args.sound:
        sound_clips(shared_data_dir() / "video" / "talking", args.split)
        return
    out_dir, pool = OUT[args.split], POOL[args.split]
    if args.still and not args.moving:
        parser.error("--still places the small tiles of --moving")
    if args.moving:
        out_dir = out_dir.with_name(f"{out_dir.name}_{'small' if args.still else 'moving'}")
    speakers = BOTH if args.split == "held_out" else TUNING
    out_dir.mkdir(parents=True, exist_ok=True)
    root = shared_data_dir() / "video" / "talking"
    clips = {n: load_clip(root, n, args.tile) for n in pool}
    detector = FaceDetector(input_width=args.tile)
    background = None
    if args.moving:
        background = moving_background(shared_data_dir(), FaceDetector(input_width=640))
    rng = np.random.default_rng(0)
    lines = []
    for spec in composites(clips, pool, "visual", args.draws, seed=1):
        if spec["speaker"] not in speakers:
            continue
        n_tiles = len(spec["tiles"])
        speaker = clips[spec["speaker"]]
        slot = spec["tiles"].index(spec["speaker"])
        stem = f"{Path(spec['speaker']).stem}_{n_tiles}"
        video, table = out_dir / f"{stem}.mp4", out_dir / f"{stem}.csv"
        frames = int(speaker.duration * FPS)
        last_voice = -1e9
        with av.open(str(video), "w") as container, open(table, "w", newline="") as f:
            stream = container.add_stream("libx264", rate=int(FPS))
            h = args.tile * (2 if n_tiles == 4 else 1)
            stream.width, stream.height = (2 * args.tile, h) if background is None else MOVING_SIZE
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "12", "preset": "fast"}
            stream.time_base = Fraction(1, int(FPS))
            writer = csv.writer(f)
            writer.writerow(["frame", "x", "y", "subject"])
            for k in range(frames):
                t = k / FPS
                rgb = tile_frame(clips, spec, t)
                places = [((i % 2) * args.tile, (i // 2) * args.tile) for i in range(n_tiles)]
                if background is not None:  # the tiles, cut apart, drift over the photo
                    tiles = [rgb[y : y + args.tile, x : x + args.tile] for x, y in places]
                    places = tile_places(n_tiles, args.tile, 0.0 if args.still else t)
                    rgb = background.copy()
                    for (x, y), picture in zip(places, tiles, strict=True):
                        rgb[y : y + args.tile, x : x + args.tile] = picture
                ox, oy = places[slot]
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
    (out_dir / "datasets.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
