"""Proxy multi-face videos with real gaze: held-out EyeCrowd images and OSIE images with >= 2
detected faces, turned into short clips (a slow zoom with a pan toward a face), with the
viewers' fixations mapped through the same zoom into the project's gaze CSV format.

    nice .venv/bin/python eval/proxy_clips.py --eyecrowd 8 --osie 8

Needs ``eval/.cache/faces_{eyecrowd,osie}.npz`` (``eval/eyecrowd_faces.py``). Writes
``eval/.cache/proxy/<set>_<image>.mp4`` and ``.csv`` (git-ignored) and prints the
``VIDEO:GAZE.csv`` arguments for ``perceptcodec rd``. EyeCrowd images come only from the
held-out split (``eyecrowd_faces.split``), never from the images the attention model was fitted
on; OSIE was not used for fitting at all. Images are picked by the width of their largest
detected face (largest first: closest to office / conference shots), at least 2 faces.

``--split`` picks other image sets, each written to its own folder:

- ``vamnet_held_out`` (``eval/.cache/proxy_vamnet_held_out/``): only OSIE images in VAM-Net's
  validation split (every 10th record of ``read_osie()``, as
  ``perceptcodec.training.cache.add_images`` splits them): held out for both the prior (never
  fitted on OSIE) and VAM-Net (trained on the other 9 of 10 OSIE and EyeCrowd images), the fair
  set for comparing the two;
- ``vamnet_val_eyecrowd`` (``eval/.cache/proxy_vamnet_val_eyecrowd/``): EyeCrowd images in
  VAM-Net's validation split (every 10th record of ``read_eyecrowd()``). They lie in the
  attention model's fitting split (6 coefficients and a face template fitted on 350 images),
  so the prior is slightly in-sample there and VAM-Net is not: crowds of faces for comparing
  the two, with that caveat;
- ``fit`` (``eval/.cache/proxy_fit/``): EyeCrowd images of the attention model's fitting split
  only, for tuning what must not be tuned on the held-out clips (the speaker cue's false-alarm
  level on still faces).

Every frame's gaze is all fixations of all viewers on the image (free viewing of a still: the
density does not change over time), mapped into the frame; fixations outside it are dropped.
The source clip is x264 CRF 12 (near-lossless), 640 x 480, 25 fps, ``--seconds`` long.
"""

from __future__ import annotations

import argparse
import csv
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from eyecrowd_faces import CACHE, split
from fit_attention import load

from perceptcodec.datasets import read_eyecrowd, read_osie
from perceptcodec.paths import shared_data_dir

OUT = CACHE / "proxy"


def clip_list(folder: Path) -> list[tuple[Path, Path]]:
    """(video, gaze CSV) of each clip in ``folder``'s ``datasets.txt`` (the ``VIDEO:GAZE.csv``
    arguments this script, ``dialogue_proxy.py`` too, writes for ``perceptcodec rd``)."""
    pairs = []
    for line in (folder / "datasets.txt").read_text().split():
        video, table = line.split(".mp4:")
        pairs.append((Path(video + ".mp4"), Path(table)))
    return pairs


def pick(
    images: dict, names: list[str], count: int, min_faces: int = 2, spread: bool = False
) -> list[str]:
    """``count`` names with >= ``min_faces`` faces: largest face (fraction of width) first, or
    with ``spread`` evenly spaced over the sizes of the largest face (the middle of each of
    ``count`` equal slices of the sorted list: small faces as often as large ones)."""
    scored = []
    for name in names:
        boxes = images[name]["boxes"]
        if len(boxes) >= min_faces:
            widest = float((boxes[:, 2] - boxes[:, 0]).max()) / float(images[name]["size"][0])
            scored.append((widest, name))
    ordered = [name for _, name in sorted(scored, reverse=True)]
    if not spread:
        return ordered[:count]
    step = len(ordered) / max(count, 1)
    return [ordered[int((i + 0.5) * step)] for i in range(min(count, len(ordered)))]


def crops(size: tuple[int, int], target: tuple[float, float], frames: int, zoom: float):
    """Per frame the crop (x0, y0, w, h) of an image of ``size`` (W, H): from the whole image
    to 1/``zoom`` of it, its centre moving from the image centre toward ``target`` (x, y px),
    eased (smoothstep)."""
    w, h = size
    for k in range(frames):
        a = k / max(frames - 1, 1)
        a = a * a * (3 - 2 * a)
        s = 1 + (zoom - 1) * a
        cw, ch = w / s, h / s
        cx = w / 2 + (target[0] - w / 2) * a
        cy = h / 2 + (target[1] - h / 2) * a
        x0 = min(max(cx - cw / 2, 0), w - cw)
        y0 = min(max(cy - ch / 2, 0), h - ch)
        yield x0, y0, cw, ch


def make_clip(
    image: Path,
    fixations: np.ndarray,
    target: tuple[float, float],
    out: Path,
    seconds: float,
    fps: int = 25,
    out_size: tuple[int, int] = (640, 480),
    zoom: float = 1.25,
) -> int:
    """Write ``out``.mp4 and ``out``.csv; returns the number of gaze rows."""
    bgr = cv2.imread(str(image))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    frames = int(round(seconds * fps))
    ow, oh = out_size
    rows = 0
    with (
        av.open(str(out.with_suffix(".mp4")), "w") as container,
        open(out.with_suffix(".csv"), "w", newline="") as table,
    ):
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = ow, oh, "yuv420p"
        stream.options = {"crf": "12", "preset": "fast"}
        stream.time_base = Fraction(1, fps)
        writer = csv.writer(table)
        writer.writerow(["frame", "x", "y", "subject"])
        for k, (x0, y0, cw, ch) in enumerate(crops((w, h), target, frames, zoom)):
            m = np.float32([[ow / cw, 0, -x0 * ow / cw], [0, oh / ch, -y0 * oh / ch]])
            frame = cv2.warpAffine(rgb, m, (ow, oh), flags=cv2.INTER_AREA)
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = k
            for packet in stream.encode(video_frame):
                container.mux(packet)
            fx = (fixations[:, 0] - x0) * ow / cw
            fy = (fixations[:, 1] - y0) * oh / ch
            ok = (fx >= 0) & (fx < ow) & (fy >= 0) & (fy < oh)
            for x, y, subject in zip(fx[ok], fy[ok], fixations[ok, 3], strict=True):
                writer.writerow([k, f"{x:.1f}", f"{y:.1f}", int(subject)])
                rows += 1
        for packet in stream.encode():
            container.mux(packet)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eyecrowd", type=int, default=8, help="clips from held-out EyeCrowd")
    parser.add_argument("--osie", type=int, default=8, help="clips from OSIE")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--split",
        choices=["held_out", "vamnet_held_out", "vamnet_val_eyecrowd", "fit"],
        default="held_out",
        help="held_out: EyeCrowd test split + OSIE (default); vamnet_held_out: OSIE in "
        "VAM-Net's validation split only; vamnet_val_eyecrowd: EyeCrowd in VAM-Net's "
        "validation split; fit: EyeCrowd's fitting split only",
    )
    parser.add_argument(
        "--spread",
        action="store_true",
        help="pick images evenly over the size of their largest face instead of largest first "
        "(folder name gets _spread)",
    )
    args = parser.parse_args()
    out_dir = OUT if args.split == "held_out" else CACHE / f"proxy_{args.split}"
    if args.spread:
        out_dir = out_dir.with_name(f"{out_dir.name}_spread")
    if args.split == "vamnet_held_out":
        args.eyecrowd = 0
        held_out = {r.name for i, r in enumerate(read_osie()) if i % 10 == 0}
    if args.split == "vamnet_val_eyecrowd":
        args.osie = 0
        vamnet_val = {r.name for i, r in enumerate(read_eyecrowd()) if i % 10 == 0}
    if args.split == "fit":
        args.osie = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    root = shared_data_dir() / "images"
    specs = []
    for name, count in (("eyecrowd", args.eyecrowd), ("osie", args.osie)):
        if count <= 0:
            continue
        images = load(CACHE / f"faces_{name}.npz")
        fit_names, test_names = split(list(images))
        names = test_names if name == "eyecrowd" else sorted(images)
        if args.split == "fit":
            names = fit_names
        if args.split == "vamnet_val_eyecrowd":
            names = sorted(n for n in images if n in vamnet_val)
        if args.split == "vamnet_held_out":
            names = [n for n in names if n in held_out]
        for stem in pick(images, names, count, spread=args.spread):
            specs.append((name, stem, images[stem]))
    args_out = []
    for set_name, stem, img in specs:
        boxes = img["boxes"]
        biggest = boxes[int(np.argmax(boxes[:, 2] - boxes[:, 0]))]
        target = ((biggest[0] + biggest[2]) / 2, (biggest[1] + biggest[3]) / 2)
        image = root / set_name / "stimuli" / f"{stem}.jpg"
        out = out_dir / f"{set_name}_{stem}"
        rows = make_clip(image, img["fixations"], target, out, args.seconds)
        print(
            f"{out}.mp4: {len(boxes)} faces, widest {biggest[2] - biggest[0]:.0f} px, "
            f"{rows} gaze rows"
        )
        args_out.append(f"{out}.mp4:{out}.csv")
    (out_dir / "datasets.txt").write_text("\n".join(args_out) + "\n")
    print(" ".join(args_out))


if __name__ == "__main__":
    main()
