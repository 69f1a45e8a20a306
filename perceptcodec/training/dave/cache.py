"""DAVE's training cache, built from ../shared/data with the project's readers (PyAV, OpenCV):

    python -m perceptcodec.training.dave.cache --out .cache_train/dave_cache.npz

Two parts, at the shipped model's input size (128 x 160) so the file can travel to a GPU
machine without PyAV (the GPU config for the paper's 256 x 320 reads a cache made with
``--height 256 --width 320``):

- images with gaze (OSIE, EyeCrowd, MIT1003 subset, FIGRIM subset): RGB (H x W), density
  (H / 2 x W / 2, float16, sums to 1), fixations (H / 4 x W / 4 bool), set, split;
- talking clips (``video/talking``: face_1-5, the two WDA clips, GRID; no gaze): centre
  square frames (H x H), the largest CenterFace box per frame in [0, 1] (NaN: none), the
  frame time, 16 kHz mono audio per clip, split. Training builds weak targets from the boxes
  (:mod:`perceptcodec.training.dave.data`).

Split (fixed, by whole image / whole clip): in each image set, sorted by name, positions 7, 8
and 9 of every 10 are held out (30 %; the rule of ``eval/eyecrowd_faces.py``, so the
multi-face proxy clips of ``eval/proxy_clips.py`` are held out too); talking clips: VAM-Net's
split (training face_1-4, WDA_AlexandriaOcasioCortez, GRID 1-7; held out face_5,
WDA_KatieHill, GRID 8-11). DHF1K 0002 is **not** in the cache: it stays held out for the
saliency benchmark and BD-EWPSNR.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.datasets import IMAGE_SETS
from perceptcodec.io.audio import load_audio_mono
from perceptcodec.io.source import decode_video, probe
from perceptcodec.saliency.dave.spec import AUDIO_RATE
from perceptcodec.training.cache import talking_clips

SETS = ("osie", "eyecrowd", "mit1003", "figrim")


def heldout(position: int) -> bool:
    """Whether the image at ``position`` in its set's sorted names is held out (7-9 of 10)."""
    return position % 10 >= 7


def heldout_names(names: list[str]) -> set[str]:
    """The held-out names of one image set."""
    return {n for i, n in enumerate(sorted(names)) if heldout(i)}


def _grid_fixations(fix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A binary H x W fixation map reduced to ``shape`` (rows, cols): a cell is set when any
    fixated pixel falls in it."""
    out = np.zeros(shape, bool)
    ys, xs = np.nonzero(fix)
    if len(ys):
        out[(ys * shape[0]) // fix.shape[0], (xs * shape[1]) // fix.shape[1]] = True
    return out


def add_images(height: int, width: int, limit: int = 0) -> dict[str, np.ndarray]:
    """Arrays of every image set (``limit`` images per set, 0 = all)."""
    rgb, dens, fixes, sets, splits, names = [], [], [], [], [], []
    for s, name in enumerate(SETS):
        records = sorted(IMAGE_SETS[name](), key=lambda r: r.name)
        for i, r in enumerate(records[: limit or None]):
            image = cv2.cvtColor(cv2.imread(str(r.image)), cv2.COLOR_BGR2RGB)
            rgb.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
            d = cv2.resize(r.density(), (width // 2, height // 2), interpolation=cv2.INTER_AREA)
            dens.append((d / max(float(d.sum()), 1e-12)).astype(np.float16))
            has_fix = r.fixations is not None or r.fix_map_path is not None
            fixes.append(
                _grid_fixations(r.fix_map(), (height // 4, width // 4))
                if has_fix
                else np.zeros((height // 4, width // 4), bool)
            )
            sets.append(s)
            splits.append(int(heldout(i)))
            names.append(f"{name}/{r.name}")
        print(f"{name}: {len(records[: limit or None])} images", flush=True)
    return {
        "image_rgb": np.stack(rgb),
        "image_density": np.stack(dens),
        "image_fixations": np.stack(fixes),
        "image_set": np.array(sets, np.int8),
        "image_split": np.array(splits, np.int8),
        "image_names": np.frombuffer(json.dumps(names).encode(), np.uint8),
    }


def add_talking(side: int, max_frames: int) -> dict[str, np.ndarray]:
    """Arrays of the talking clips: centre-square frames (side x side), face boxes, times,
    clip ids and audio (``audio_<clip>``, float16 at AUDIO_RATE)."""
    from perceptcodec.saliency.faces import FaceDetector

    detector = FaceDetector(input_width=256)
    frames, boxes, times, clip_of = [], [], [], []
    clips: list[dict] = []
    out: dict[str, np.ndarray] = {}
    for split, paths in enumerate(talking_clips()):
        for path in paths:
            cid = len(clips)
            fps = float(probe(path).fps)
            n = 0
            for k, frame in enumerate(decode_video(path)):
                rgb = frame.to_ndarray(format="rgb24")
                h, w = rgb.shape[:2]
                sq = min(h, w)
                y0, x0 = (h - sq) // 2, (w - sq) // 2
                square = rgb[y0 : y0 + sq, x0 : x0 + sq]
                det = detector(square)
                box = np.full(4, np.nan, np.float32)
                if len(det):
                    area = (det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])
                    box = np.clip(det[np.argmax(area), :4] / sq, 0, 1).astype(np.float32)
                frames.append(cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA))
                boxes.append(box)
                times.append(k / fps)
                clip_of.append(cid)
                n += 1
                if n == max_frames:
                    break
            wave = load_audio_mono(path, AUDIO_RATE)
            out[f"audio_{cid}"] = (wave if wave is not None else np.zeros(0)).astype(np.float16)
            clips.append({"name": path.stem, "split": split, "fps": fps, "frames": n})
            print(f"talking {path.name}: {n} frames", flush=True)
    out.update(
        talk_rgb=np.stack(frames),
        talk_boxes=np.stack(boxes),
        talk_t=np.array(times, np.float32),
        talk_clip=np.array(clip_of, np.int32),
        talk_clips=np.frombuffer(json.dumps(clips).encode(), np.uint8),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".cache_train/dave_cache.npz"))
    parser.add_argument("--height", type=int, default=128, help="frame height (pixels)")
    parser.add_argument("--width", type=int, default=160, help="frame width (pixels)")
    parser.add_argument("--image-limit", type=int, default=0, help="per set (0 = all)")
    parser.add_argument("--talk-frames", type=int, default=200, help="frames per clip at most")
    args = parser.parse_args()
    arrays = add_images(args.height, args.width, args.image_limit)
    arrays.update(add_talking(args.height, args.talk_frames))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    held = int(arrays["image_split"].sum())
    print(
        f"wrote {args.out}: {len(arrays['image_rgb'])} images ({held} held out), "
        f"{len(arrays['talk_rgb'])} talking frames, {args.out.stat().st_size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
