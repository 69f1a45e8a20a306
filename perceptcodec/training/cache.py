"""The compact training cache for VAM-Net, built from ../shared/data with PyAV + OpenCV.

    python -m perceptcodec.training.cache --out .cache_train/vamnet_cache.npz

Everything at the training resolution (SIZE x SIZE frames as JPEG bytes, GRID x GRID float16
densities), so the cache is tens of MB and can travel to a GPU machine without PyAV.

Split (fixed, by whole image / whole video): every 10th image of OSIE, EyeCrowd and MIT1003 is
validation; DHF1K 0002 (the only video with gaze) is training; talking-face composites pair
clips of disjoint sets (training: face_1-4, WDA_AlexandriaOcasioCortez, GRID 1-7; validation:
face_5, WDA_KatieHill, GRID 8-11), with a muted talker or a silent listener beside the speaker,
and the per-face cues of :mod:`perceptcodec.saliency.face_cues` (``cues``).
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
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
from perceptcodec.io.audio import audio_window, load_audio_mono
from perceptcodec.io.source import decode_video, probe
from perceptcodec.paths import shared_data_dir
from perceptcodec.saliency.face_cues import CUE_COUNT, CUE_STRIDE, SpeakingCue, face_cues
from perceptcodec.saliency.faces import FaceDetector, FaceTracker
from perceptcodec.saliency.vamnet.spec import (
    AUDIO_RATE,
    AUDIO_WINDOW_S,
    CACHE_COLUMNS,
    INPUT_SIZE,
    MAX_FACES,
)

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
        cues: np.ndarray | None = None,
    ) -> None:
        """rgb: SIZE x SIZE x 3; points: (x, y) in [0, 1]; boxes: K x 4 in [0, 1]; speaking:
        0/1 per box when known (composites, MVVA); attention: fixation mass per box; cues:
        K x CUE_COUNT face cues (default: from the boxes, speaking probability 0)."""
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
        q = np.zeros((MAX_FACES, CUE_COUNT), np.float32)
        if boxes is not None and len(boxes):
            n = min(len(boxes), MAX_FACES)
            b[:n], m[:n] = boxes[:n], True
            if cues is None:
                cues = face_cues(boxes, np.zeros(len(boxes), np.float32))
            q[:n] = cues[:n]
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
            ("cues", q),
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


CUE_TILE = 160  # tile side (pixels) of the composites the speaker cue watches (320 wide, as
# the prior's working width: the cue's parameters hold there)


@dataclass
class TalkingClip:
    """A talking clip's frames (centre square, CUE_TILE side), main face box per frame ([0, 1]
    of the square, None where CenterFace found none), frame rate, audio at AUDIO_RATE (None
    without a track) and its silent frames' longest run (indices, None if under 0.4 s)."""

    frames: list[np.ndarray]
    boxes: list[np.ndarray | None]
    fps: float
    wave: np.ndarray | None
    silent: np.ndarray | None

    def speech_onset(self) -> int:
        """The first frame after the clip's longest silent run when that run opens the clip
        (a lead-in, as GRID's); 0 otherwise."""
        if self.silent is None or self.silent[0] > 2:
            return 0
        return int(self.silent[-1]) + 1


def _silent_run(wave: np.ndarray | None, fps: float, n: int) -> np.ndarray | None:
    """Frame indices of the longest silent run (>= 0.4 s, 2 frames kept clear of speech at
    each end) of a clip of ``n`` frames: frames whose audio level is under max(-50 dBFS, the
    clip's 95th percentile - 25 dB)."""
    if wave is None:
        return None
    hop = AUDIO_RATE / fps
    level = np.array(
        [
            10 * np.log10(np.mean(wave[int(i * hop) : int((i + 1) * hop)] ** 2) + 1e-12)
            for i in range(n)
            if int((i + 1) * hop) <= len(wave)
        ]
    )
    if not len(level):
        return None
    quiet = level < max(-50.0, float(np.percentile(level, 95)) - 25.0)
    best, start = (0, 0), None
    for i, q in enumerate([*quiet, False]):
        if q and start is None:
            start = i
        elif not q and start is not None:
            a, b = start + (2 if start > 0 else 0), i - (2 if i < len(quiet) else 0)
            if b - a > best[1] - best[0]:
                best = (a, b)
            start = None
    if best[1] - best[0] < 0.4 * fps:
        return None
    return np.arange(*best)


def _talking_clip(path: Path, detector: FaceDetector) -> TalkingClip:
    """All frames of a clip (centre square, CUE_TILE side) and their main face boxes."""
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
        frames.append(_square(sq, CUE_TILE))
        boxes.append(box)
    wave = load_audio_mono(path, AUDIO_RATE)
    return TalkingClip(frames, boxes, fps, wave, _silent_run(wave, fps, len(frames)))


def talking_clips() -> tuple[list[Path], list[Path]]:
    root = shared_data_dir() / "video" / "talking"
    grid = sorted((root / "grid").glob("*.mpg"))
    train = [root / f"face_{i}.mp4" for i in range(1, 5)]
    train += [root / "WDA_AlexandriaOcasioCortez_000.mp4", *grid[:7]]
    val = [root / "face_5.mp4", root / "WDA_KatieHill_000.mp4", *grid[7:]]
    return train, val


def _pingpong(run: np.ndarray, i: int) -> int:
    """The i-th frame of ``run`` played forwards then backwards in a loop."""
    n = len(run)
    u = i % max(2 * n - 2, 1)
    return int(run[u if u < n else 2 * n - 2 - u])


def composite_cues(
    canvases: list[np.ndarray], wave: np.ndarray | None, fps: float, detector: FaceDetector
) -> list[dict[int, float]]:
    """Per frame of a 2-tile composite (canvases 2 CUE_TILE square, tiles side by side in the
    middle band): {tile 0 or 1: speaking probability} of the active-speaker cue, run as
    VAM-Net runs it at inference (:class:`~perceptcodec.saliency.face_cues.SpeakingCue`, its
    flow moving CenterFace's tracks, the 22,050 Hz window around each frame) on every
    CUE_STRIDE-th frame, held in between."""
    tracker = FaceTracker(detector, stride=10)
    cue = SpeakingCue(AUDIO_RATE)
    out: list[dict[int, float]] = []
    for i, canvas in enumerate(canvases):
        if i % CUE_STRIDE:
            out.append(out[-1])
            continue
        t = i / fps
        tracks = tracker(canvas, cue.flow(canvas))
        window = None if wave is None else audio_window(wave, AUDIO_RATE, t, AUDIO_WINDOW_S)
        probs = cue(canvas, tracks, window, t)
        tiles: dict[int, float] = {}
        for track in tracks:
            tile = int((track.box[0] + track.box[2]) / 2 >= CUE_TILE)
            tiles[tile] = max(tiles.get(tile, 0.0), probs.get(track.id, 0.0))
        out.append(tiles)
    return out


def add_composites(store: Store, audio: dict[int, np.ndarray], pairs_per_split: int) -> None:
    """Two talking clips side by side (tiles of SIZE/2 in the middle band), the audio of one:
    its face is the speaker (label 1), the other is not (0). Three settings,
    ``pairs_per_split`` composites each: ``talkers`` (the other tile talks too, muted: only the
    sound can tell; both from their first frame), ``listeners`` (the other tile is a silent
    stretch of its clip played forwards and backwards: the usual conversation; the speaker
    from its speech onset) and ``silent`` (listeners without sound: a silent track for the
    network, no audio for the cue, as in a video without an audio track). Face cues
    (:mod:`perceptcodec.saliency.face_cues`) come from the active-speaker cue run on the same
    composite at 2 CUE_TILE pixels wide (:func:`composite_cues`)."""
    detector = FaceDetector(input_width=256)
    cue_detector = FaceDetector(input_width=2 * CUE_TILE)
    rng = np.random.default_rng(0)
    side = 2 * CUE_TILE
    for split, paths in enumerate(talking_clips()):
        clips = {c: _talking_clip(c, detector) for c in paths}
        pairs = list(itertools.permutations(paths, 2))
        rng.shuffle(pairs)
        listener_pairs = [(a, b) for a, b in pairs if clips[b].silent is not None]
        more = itertools.cycle(listener_pairs)
        for setting, chosen in (
            ("talkers", pairs[:pairs_per_split]),
            ("listeners", [next(more) for _ in range(pairs_per_split)]),
            ("silent", [next(more) for _ in range(pairs_per_split)]),
        ):
            for a, b in chosen:
                ca, cb = clips[a], clips[b]
                start = 0 if setting == "talkers" else ca.speech_onset()
                n = min(COMPOSITE_FRAMES, len(ca.frames) - start)
                if setting == "talkers":
                    n = min(n, len(cb.frames))
                speaker_left = bool(rng.integers(2))
                gid = len(store.groups)
                store.groups.append(
                    {
                        "kind": "composite",
                        "setting": setting,
                        "name": f"{a.stem}+{b.stem}",
                        "fps": ca.fps,
                        "speaker": a.stem,
                    }
                )
                spans = []
                canvases = []
                for i in range(n):
                    j = i if setting == "talkers" else _pingpong(cb.silent, i)
                    pair = ((ca, start + i, True), (cb, j, False))
                    left, right = pair if speaker_left else pair[::-1]
                    spans.append((left, right))
                    canvas = np.zeros((side, side, 3), np.uint8)
                    y0 = CUE_TILE // 2
                    canvas[y0 : y0 + CUE_TILE, :CUE_TILE] = left[0].frames[left[1]]
                    canvas[y0 : y0 + CUE_TILE, CUE_TILE:] = right[0].frames[right[1]]
                    canvases.append(canvas)
                wave = None
                if ca.wave is not None:  # only the seconds the composite uses (+ a window)
                    first = int(start / ca.fps * AUDIO_RATE)
                    wave = ca.wave[first : first + int((n / ca.fps + 1.0) * AUDIO_RATE)]
                    if setting == "silent":  # a video without sound: the cue sees none,
                        wave, audio[gid] = None, np.zeros_like(wave)  # the network silence
                    else:
                        audio[gid] = wave
                cues = composite_cues(canvases, wave, ca.fps, cue_detector)
                for i, ((left, right), canvas) in enumerate(zip(spans, canvases, strict=True)):
                    boxes, speaking, probs = [], [], []
                    for tile, (clip, k, is_speaker) in enumerate((left, right)):
                        box = clip.boxes[k]
                        if box is not None:
                            x_off = tile / 2
                            boxes.append(
                                [box[0] / 2 + x_off, box[1] / 2 + 0.25, box[2] / 2 + x_off,
                                 box[3] / 2 + 0.25]
                            )  # fmt: skip
                            speaking.append(float(is_speaker))
                            probs.append(cues[i].get(tile, 0.0))
                    boxes_arr = np.array(boxes, np.float32).reshape(-1, 4)
                    store.add_frame(
                        _square(canvas, SIZE),
                        gid,
                        split,
                        i / ca.fps,
                        None,
                        None,
                        boxes_arr,
                        np.array(speaking, np.float32),
                        cues=face_cues(boxes_arr, np.array(probs, np.float32)),
                    )


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
