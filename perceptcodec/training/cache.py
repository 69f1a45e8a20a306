"""The compact training cache for VAM-Net, built from ../shared/data with PyAV + OpenCV.

    python -m perceptcodec.training.cache --out .cache_train/vamnet_cache.npz

Everything at the training resolution (SIZE x SIZE frames as JPEG bytes, GRID x GRID float16
densities), so the cache is tens of MB and can travel to a GPU machine without PyAV.

Split (fixed, by whole image / whole video): every 10th image of OSIE, EyeCrowd and MIT1003 is
validation; DHF1K 0002 (the only video with gaze) is training; talking-face composites pair
clips of disjoint sets (training: face_1-4, WDA_AlexandriaOcasioCortez, GRID 1-7; validation:
face_5, WDA_KatieHill, GRID 8-11).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.datasets import (
    read_dhf1k_0002,
    read_eyecrowd,
    read_mit1003,
    read_mvva,
    read_osie,
)
from perceptcodec.io.audio import load_audio_mono
from perceptcodec.io.source import decode_video, probe
from perceptcodec.paths import shared_data_dir
from perceptcodec.saliency.faces import FaceDetector
from perceptcodec.saliency.vamnet.spec import AUDIO_RATE, CACHE_COLUMNS, INPUT_SIZE, MAX_FACES

SIZE = INPUT_SIZE  # frame side, pixels
GRID = 32  # density side
COMPOSITE_FRAMES = 50


class Store:
    """Accumulates samples: JPEG frames, densities, fixations, boxes, labels, per split."""

    def __init__(self) -> None:
        self.jpeg: list[bytes] = []
        self.cols: dict[str, list] = {k: [] for k in CACHE_COLUMNS}
        self.groups: list[dict] = []

    def add_frame(
        self,
        rgb: np.ndarray,
        group: int,
        split: int,
        t: float,
        density: np.ndarray | None = None,
        points: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        speaking: np.ndarray | None = None,
        attention: np.ndarray | None = None,
    ) -> None:
        """rgb: SIZE x SIZE x 3; points: (x, y) in [0, 1]; boxes: K x 4 in [0, 1]; speaking:
        0/1 per box when known (composites, MVVA); attention: fixation mass per box."""
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        assert ok
        self.jpeg.append(buf.tobytes())
        c = self.cols
        has = density is not None
        c["density"].append(
            cv2.resize(density, (GRID, GRID), interpolation=cv2.INTER_AREA)
            if has
            else np.zeros((GRID, GRID), np.float32)
        )
        fix = np.zeros((GRID, GRID), bool)
        if points is not None and len(points):
            ij = np.clip((points * GRID).astype(int), 0, GRID - 1)
            fix[ij[:, 1], ij[:, 0]] = True
        c["fixations"].append(fix)
        b = np.zeros((MAX_FACES, 4), np.float32)
        m = np.zeros(MAX_FACES, bool)
        s = np.zeros(MAX_FACES, np.float32)
        a = np.zeros(MAX_FACES, np.float32)
        if boxes is not None and len(boxes):
            n = min(len(boxes), MAX_FACES)
            b[:n], m[:n] = boxes[:n], True
            if speaking is not None:
                s[:n] = speaking[:n]
            if attention is not None:
                a[:n] = attention[:n]
        for key, value in (
            ("boxes", b),
            ("face_mask", m),
            ("speaking", s),
            ("attention", a),
            ("gaze", has),
            ("speaking_known", speaking is not None),
            ("group", group),
            ("split", split),
            ("t", t),
        ):
            c[key].append(value)

    def save(self, path: Path, audio: dict[int, np.ndarray]) -> None:
        offsets = np.cumsum([0] + [len(j) for j in self.jpeg])
        arrays = {
            "jpeg": np.frombuffer(b"".join(self.jpeg), np.uint8),
            "jpeg_offsets": offsets.astype(np.int64),
            "density": np.stack(self.cols["density"]).astype(np.float16),
            **{k: np.asarray(v) for k, v in self.cols.items() if k != "density"},
            "groups": np.frombuffer(json.dumps(self.groups).encode(), np.uint8),
        }
        for gid, wave in audio.items():
            arrays[f"audio_{gid}"] = wave.astype(np.float16)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)


def _square(rgb: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)


def add_images(store: Store, limit: int) -> None:
    for name, records in (
        ("osie", read_osie()),
        ("eyecrowd", read_eyecrowd()),
        ("mit1003", read_mit1003()),
    ):
        for i, r in enumerate(records[: limit or None]):
            gid = len(store.groups)
            store.groups.append({"kind": "image", "name": f"{name}/{r.name}"})
            rgb = cv2.cvtColor(cv2.imread(str(r.image)), cv2.COLOR_BGR2RGB)
            size = np.array(r.size, np.float64)
            points = r.fixations[:, :2] / size if r.fixations is not None else None
            boxes = attention = None
            if r.faces is not None and len(r.faces):
                boxes = r.faces / np.concatenate([size, size])
                order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
                boxes = boxes[order][:MAX_FACES]
                if points is not None:  # share of fixations on each face (eq. 12 target)
                    inside = (
                        (points[:, None, 0] >= boxes[None, :, 0])
                        & (points[:, None, 0] <= boxes[None, :, 2])
                        & (points[:, None, 1] >= boxes[None, :, 1])
                        & (points[:, None, 1] <= boxes[None, :, 3])
                    )
                    attention = inside.sum(0).astype(np.float32)
            store.add_frame(
                _square(rgb, SIZE),
                gid,
                int(i % 10 == 0),
                0.0,
                r.density(),
                points,
                boxes,
                attention=attention,
            )


def add_dhf1k(store: Store, audio: dict[int, np.ndarray]) -> None:
    gaze = read_dhf1k_0002()
    gid = len(store.groups)
    store.groups.append({"kind": "video", "name": "dhf1k_0002", "fps": 30.0})
    fps = float(probe(gaze.video).fps)
    for i, frame in enumerate(decode_video(gaze.video)):
        pts = gaze.points(i)
        dens = gaze.density(i)
        store.add_frame(
            frame.to_ndarray(format="rgb24", width=SIZE, height=SIZE),
            gid,
            0,
            i / fps,
            dens,
            pts[:, :2] / np.array(gaze.size) if len(pts) else None,
        )
    wave = load_audio_mono(gaze.video, AUDIO_RATE)
    if wave is not None:
        audio[gid] = wave


def _clip_frames(path: Path, detector: FaceDetector, n: int) -> tuple[list, list, float]:
    """First ``n`` frames (centre square, SIZE/2 side) and their main face box in [0, 1]."""
    frames, boxes = [], []
    fps = float(probe(path).fps)
    for frame in decode_video(path):
        rgb = frame.to_ndarray(format="rgb24")
        h, w = rgb.shape[:2]
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        sq = rgb[y0 : y0 + side, x0 : x0 + side]
        det = detector(sq)
        box = (
            det[np.argmax((det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1]))][:4] / side
            if len(det)
            else None
        )
        frames.append(_square(sq, SIZE // 2))
        boxes.append(box)
        if len(frames) == n:
            break
    return frames, boxes, fps


def talking_clips() -> tuple[list[Path], list[Path]]:
    root = shared_data_dir() / "video" / "talking"
    grid = sorted((root / "grid").glob("*.mpg"))
    train = [root / f"face_{i}.mp4" for i in range(1, 5)]
    train += [root / "WDA_AlexandriaOcasioCortez_000.mp4", *grid[:7]]
    val = [root / "face_5.mp4", root / "WDA_KatieHill_000.mp4", *grid[7:]]
    return train, val


def add_composites(store: Store, audio: dict[int, np.ndarray], pairs_per_split: int) -> None:
    """Two talking clips side by side (tiles of SIZE/2 in the middle band), the audio of one:
    its face is the speaker (label 1), the other is silent (0)."""
    detector = FaceDetector(input_width=256)
    rng = np.random.default_rng(0)
    for split, clips in enumerate(talking_clips()):
        loaded = {c: _clip_frames(c, detector, COMPOSITE_FRAMES) for c in clips}
        waves = {c: load_audio_mono(c, AUDIO_RATE) for c in clips}
        pairs = list(itertools.permutations(clips, 2))
        rng.shuffle(pairs)
        for a, b in pairs[:pairs_per_split]:
            (fa, ba, fps), (fb, bb, _) = loaded[a], loaded[b]
            n = min(len(fa), len(fb))
            speaker_left = bool(rng.integers(2))
            gid = len(store.groups)
            store.groups.append(
                {"kind": "composite", "name": f"{a.stem}+{b.stem}", "fps": fps, "speaker": a.stem}
            )
            half = SIZE // 2
            for i in range(n):
                canvas = np.zeros((SIZE, SIZE, 3), np.uint8)
                left, right = (fa[i], fb[i]) if speaker_left else (fb[i], fa[i])
                lbox, rbox = (ba[i], bb[i]) if speaker_left else (bb[i], ba[i])
                canvas[half // 2 : half // 2 + half, :half] = left
                canvas[half // 2 : half // 2 + half, half:] = right
                boxes, speaking = [], []
                for box, x_off, is_speaker in (
                    (lbox, 0.0, speaker_left),
                    (rbox, 0.5, not speaker_left),
                ):
                    if box is not None:
                        boxes.append(
                            [
                                box[0] / 2 + x_off,
                                box[1] / 2 + 0.25,
                                box[2] / 2 + x_off,
                                box[3] / 2 + 0.25,
                            ]
                        )
                        speaking.append(float(is_speaker))
                store.add_frame(
                    canvas,
                    gid,
                    split,
                    i / fps,
                    None,
                    None,
                    np.array(boxes, np.float32).reshape(-1, 4),
                    np.array(speaking, np.float32),
                )
            if waves[a] is not None:  # only the seconds the composite uses (+ a window)
                audio[gid] = waves[a][: int((n / fps + 1.0) * AUDIO_RATE)]


def add_mvva(store: Store, audio: dict[int, np.ndarray], root: Path) -> None:
    """MVVA videos in the layout of :func:`perceptcodec.datasets.read_mvva`: per-frame heat maps,
    face boxes and speaking flags; every 10th video (sorted by id) is validation. Attention
    targets: the share of each frame's density inside each face box (eq. 12)."""
    for n, video in enumerate(read_mvva(root)):
        gid = len(store.groups)
        info = probe(video.video)
        fps, size = float(info.fps), np.array([info.width, info.height] * 2, np.float64)
        store.groups.append({"kind": "video", "name": f"mvva/{video.name}", "fps": fps})
        for i, frame in enumerate(decode_video(video.video)):
            if i >= video.frames:
                break
            dens = video.density(i)
            boxes = speaking = attention = None
            if video.faces is not None and i < len(video.faces):
                ok = ~np.isnan(video.faces[i]).any(axis=1)
                boxes = (video.faces[i][ok] / size).astype(np.float32)
                if video.speaking is not None:
                    speaking = video.speaking[i][ok].astype(np.float32)
                if dens is not None and len(boxes):
                    gh, gw = dens.shape
                    attention = np.array(
                        [
                            dens[
                                int(y0 * gh) : int(np.ceil(y1 * gh)),
                                int(x0 * gw) : int(np.ceil(x1 * gw)),
                            ].sum()
                            for x0, y0, x1, y1 in boxes
                        ],
                        np.float32,
                    )
            rgb = frame.to_ndarray(format="rgb24", width=SIZE, height=SIZE)
            store.add_frame(
                rgb, gid, int(n % 10 == 9), i / fps, dens, None, boxes, speaking, attention
            )
        wave = load_audio_mono(video.video, AUDIO_RATE)
        if wave is not None:
            audio[gid] = wave


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".cache_train/vamnet_cache.npz"))
    parser.add_argument("--image-limit", type=int, default=0, help="per set (0 = all)")
    parser.add_argument("--pairs", type=int, default=24, help="composites per split")
    parser.add_argument("--mvva", type=Path, help="also add an MVVA-layout folder")
    args = parser.parse_args()
    store, audio = Store(), {}
    add_images(store, args.image_limit)
    add_dhf1k(store, audio)
    add_composites(store, audio, args.pairs)
    if args.mvva:
        add_mvva(store, audio, args.mvva)
    store.save(args.out, audio)
    splits = np.asarray(store.cols["split"])
    print(
        f"wrote {args.out}: {len(store.jpeg)} frames ({int((splits == 1).sum())} validation), "
        f"{len(store.groups)} groups, {args.out.stat().st_size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
