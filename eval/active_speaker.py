"""Validation of the active-speaker cue on composites of real talking clips.

Composites of 2 (side by side) or 4 (2 x 2) square tiles, 160 px each (320 px wide: the prior's
working width), from different clips of /work/shared/data/video/talking (GRID, face_1..5,
WDA_*), at 25 frames/s, with the audio of ONE tile (the true speaker). Faces come from real
CenterFace detections every 10 frames, tracked with the prior's DIS flow (``FaceTracker`` +
``MotionSaliency``), never from ground-truth boxes. Per frame, the top-ranked track is mapped to
the tile holding its box centre and compared with the speaker's tile.

Settings:
- ``audio``: the other tiles are other talkers (muted), started at random offsets; the
  speaker's audio plays.
- ``visual``: no audio is given; the other tiles are real silent stretches of other clips
  (played forwards and backwards in a loop), the speaker's tile its whole clip.
- ``listeners``: the tiles of ``visual`` (the others silent) with the speaker's audio: the
  usual case of a video with sound, where the others listen.
- ``audio_unheard``: the tiles of ``audio`` (the others muted talkers), no audio given: what
  a cue that does not listen makes of them.

Frames are scored where the speaker's own audio is voiced (an offline level reference per
40 ms, checked against GRID's word alignment); ``all`` frames are reported too.
Clips are split into a tuning set and a held-out set (same person in
one set only); parameters were tuned on the tuning set only.

    python eval/active_speaker.py            # writes eval/results/active_speaker.{json,md}
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from perceptcodec.io.audio import audio_window, load_audio_mono
from perceptcodec.paths import shared_data_dir
from perceptcodec.saliency.faces import FaceDetector, FaceTracker
from perceptcodec.saliency.motion import MotionSaliency
from perceptcodec.saliency.speaker import ActiveSpeaker

TILE = 160
FPS = 25.0
RATE = ActiveSpeaker.audio_rate

TUNING = [
    "grid/bbaf2n.mpg",
    "grid/brbk7n.mpg",
    "grid/id2_vcd_swwp2s.mpg",
    "grid/pwij3p.mpg",
    "grid/lbax4n.mpg",
    "WDA_AlexandriaOcasioCortez_000.mp4",
    "face_3.mp4",
    "face_1.mp4",
]
HELD_OUT = [
    "grid/lbbc2a.mpg",
    "grid/lrwp9a.mpg",
    "grid/lwbsza.mpg",
    "grid/sbia1a.mpg",
    "grid/sbwe5n.mpg",
    "grid/swiz3n.mpg",
    "WDA_KatieHill_000.mp4",
    "face_2.mp4",
    "face_4.mp4",
    "face_5.mp4",
]
SAME_PERSON = [
    {"grid/id2_vcd_swwp2s.mpg", "grid/pwij3p.mpg"},
    {"WDA_AlexandriaOcasioCortez_000.mp4", "face_3.mp4"},
]


@dataclass
class Clip:
    name: str
    frames: np.ndarray  # n x TILE x TILE x 3 uint8, the clip's own frames
    times: np.ndarray  # n, seconds
    audio: np.ndarray  # mono float32 at RATE
    speech: np.ndarray  # bool per 40 ms audio frame (offline reference)

    @property
    def duration(self) -> float:
        return float(self.times[-1]) + 1.0 / FPS

    def frame_at(self, t: float) -> np.ndarray:
        return self.frames[
            int(np.clip(np.searchsorted(self.times, t + 1e-6) - 1, 0, len(self.times) - 1))
        ]

    def speaking(self, t: float) -> bool:
        i = int(t / 0.04)
        return bool(self.speech[min(max(i, 0), len(self.speech) - 1)])

    def span(self) -> tuple[float, float]:
        idx = np.nonzero(self.speech)[0]
        return float(idx[0] * 0.04), float((idx[-1] + 1) * 0.04)

    def silent_stretches(self, min_s: float = 0.4) -> list[tuple[float, float]]:
        out, start = [], None
        for i, s in enumerate(list(self.speech) + [True]):
            if not s and start is None:
                start = i
            elif s and start is not None:
                a, b = start * 0.04 + 0.08, i * 0.04 - 0.08  # keep clear of speech edges
                if b - a >= min_s and b <= self.duration:
                    out.append((a, min(b, self.duration - 0.04)))
                start = None
        return out


def speech_reference(audio: np.ndarray) -> np.ndarray:
    """Offline voiced/unvoiced per 40 ms: RMS level above max(-50 dBFS, the clip's 95th
    percentile - 25 dB), gaps under 0.3 s closed, islands under 0.1 s dropped."""
    n = len(audio) // 640
    level = 10 * np.log10((audio[: n * 640].reshape(n, 640) ** 2).mean(1) + 1e-12)
    on = level > max(-50.0, float(np.percentile(level, 95)) - 25.0)
    on = _runs(on, True, 8)  # close gaps
    return _runs(on, False, 3)  # drop islands


def _runs(mask: np.ndarray, fill: bool, max_len: int) -> np.ndarray:
    """Turns interior runs of ``not fill`` no longer than ``max_len`` into ``fill``."""
    out = mask.copy()
    i = 0
    while i < len(mask):
        if mask[i] != fill:
            j = i
            while j < len(mask) and mask[j] != fill:
                j += 1
            if 0 < i and j < len(mask) and j - i <= max_len:
                out[i:j] = fill
            i = j
        else:
            i += 1
    return out


def load_clip(root: Path, name: str, tile: int = TILE) -> Clip:
    frames, times = [], []
    with av.open(str(root / name)) as c:
        stream = c.streams.video[0]
        for f in c.decode(stream):
            img = f.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            s = min(h, w)
            img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
            frames.append(cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA))
            times.append(float(f.time) if f.time is not None else len(times) / FPS)
    audio = load_audio_mono(root / name, RATE)
    times_arr = np.asarray(times) - times[0]
    return Clip(name, np.stack(frames), times_arr, audio, speech_reference(audio))


def pingpong(t: float, a: float, b: float) -> float:
    """Time in [a, b] when playing that stretch forwards then backwards in a loop."""
    length = max(b - a, 1e-3)
    u = t % (2 * length)
    return a + (u if u < length else 2 * length - u)


def composites(
    clips: dict[str, Clip], names: list[str], setting: str, draws: int, seed: int
) -> list[dict]:
    """Composite specifications: speaker, distractors, tile order, offsets."""
    rng = np.random.default_rng(seed)
    out = []
    for speaker in names:
        same = set().union(*[g for g in SAME_PERSON if speaker in g]) | {speaker}
        others = [n for n in names if n not in same]
        if setting in ("visual", "listeners"):
            others = [n for n in others if clips[n].silent_stretches()]
        for n_tiles in (2, 4):
            for _ in range(draws):
                picked = list(rng.choice(others, n_tiles - 1, replace=False))
                order = [speaker, *picked]
                rng.shuffle(order)
                spec = {"speaker": speaker, "tiles": order, "offsets": {}, "stretch": {}}
                for name in picked:
                    clip = clips[name]
                    if setting in ("visual", "listeners"):
                        stretches = clip.silent_stretches()
                        spec["stretch"][name] = stretches[int(rng.integers(len(stretches)))]
                    else:
                        spec["offsets"][name] = float(rng.uniform(0.3, clip.duration - 0.3))
                out.append(spec)
    return out


def tile_frame(clips: dict[str, Clip], spec: dict, t: float) -> np.ndarray:
    tiles = []
    for name in spec["tiles"]:
        clip = clips[name]
        if name == spec["speaker"]:
            ct = t
        elif name in spec["stretch"]:
            ct = pingpong(t, *spec["stretch"][name])
        else:
            ct = pingpong(t + spec["offsets"][name], 0.0, clip.duration - 0.04)
        tiles.append(clip.frame_at(ct))
    if len(tiles) == 2:
        return np.concatenate(tiles, axis=1)
    return np.concatenate(
        [np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0
    )


def tile_of(box: np.ndarray, n_tiles: int, tile: int = TILE) -> int:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    col = int(cx // tile)
    return col if n_tiles == 2 else int(cy // tile) * 2 + col


TIME_BINS = (0, 1, 2, 3)  # seconds since the composite's start: [0, 1), [1, 2), [2, 3), 3+


def time_bin(t: float) -> int:
    """The TIME_BINS bin of time ``t`` (s)."""
    return max(lo for lo in TIME_BINS if t >= lo)


def run_composite(
    clips: dict[str, Clip],
    spec: dict,
    setting: str,
    detector: FaceDetector,
    params: dict,
    collect: list | None = None,
    stride: int = 1,
) -> dict:
    """Runs the cue over one composite. ``collect``: a list to which each frame's
    (features n x F, is-speaker-tile n, speaker voiced) is appended (for fitting a cue whose
    ``features`` are arrays, as at 252d22b)."""
    speaker_clip = clips[spec["speaker"]]
    tile = speaker_clip.frames.shape[1]
    truth = spec["tiles"].index(spec["speaker"])
    tracker = FaceTracker(detector, stride=10)
    motion = MotionSaliency()
    asd = ActiveSpeaker(**params)
    n = int(speaker_clip.duration * FPS)
    hits, hits_all, cost = [], [], 0.0
    hits_at: list[float] = []  # time (s) of each scored frame
    n_faces = []
    for k in range(0, n, stride):
        t = k / FPS
        rgb = tile_frame(clips, spec, t)
        motion(rgb)
        tracks = tracker(rgb, motion.flow)
        audio = None
        if setting in ("audio", "listeners"):
            audio = audio_window(speaker_clip.audio, RATE, t, asd.audio_window_s)
        t0 = time.perf_counter()
        probs = asd(rgb, tracks, motion.flow, audio, t)
        cost += time.perf_counter() - t0
        n_faces.append(len(tracks))
        hit = False
        if probs:
            best = max(tracks, key=lambda tr: probs[tr.id])
            hit = tile_of(best.box, len(spec["tiles"]), tile) == truth
            if collect is not None:
                collect.append(
                    (
                        np.stack([asd.features[tr.id] for tr in tracks]),
                        np.array(
                            [tile_of(tr.box, len(spec["tiles"]), tile) == truth for tr in tracks]
                        ),
                        speaker_clip.speaking(t),
                    )
                )
        hits_all.append(hit)
        if speaker_clip.speaking(t):
            hits.append(hit)
            hits_at.append(t)
    bins = [time_bin(at) for at in hits_at]
    return {
        "speaker": spec["speaker"],
        "tiles": spec["tiles"],
        "frames": len(hits_all),
        "scored_frames": len(hits),
        "accuracy": float(np.mean(hits)) if hits else float("nan"),
        "accuracy_all_frames": float(np.mean(hits_all)),
        "hits_by_second": {  # {bin start: [hits, scored frames]}
            str(lo): [sum(h for h, x in zip(hits, bins, strict=True) if x == lo), bins.count(lo)]
            for lo in TIME_BINS
            if lo in bins
        },
        "ms_per_frame": 1e3 * cost / len(hits_all),
        "mean_faces": float(np.mean(n_faces)),
    }


def evaluate(clips, names, setting, detector, params, draws, seed, stride=1) -> dict:
    rows = [
        run_composite(clips, spec, setting, detector, params, stride=stride)
        for spec in composites(clips, names, setting, draws, seed)
    ]
    scored = sum(r["scored_frames"] for r in rows)
    out = {
        "composites": len(rows),
        "frames": sum(r["frames"] for r in rows),
        "scored_frames": scored,
        "accuracy": sum(r["accuracy"] * r["scored_frames"] for r in rows) / scored,
        "accuracy_all_frames": sum(r["accuracy_all_frames"] * r["frames"] for r in rows)
        / sum(r["frames"] for r in rows),
    }
    for lo in TIME_BINS:  # the evidence builds up over a composite (GRID clips last 3 s)
        counts = [r["hits_by_second"].get(str(lo), [0, 0]) for r in rows]
        n = sum(c[1] for c in counts)
        out[f"accuracy_from_{lo}_s"] = sum(c[0] for c in counts) / n if n else float("nan")
    for n_tiles in (2, 4):
        sub = [r for r in rows if len(r["tiles"]) == n_tiles]
        s = sum(r["scored_frames"] for r in sub)
        out[f"accuracy_{n_tiles}_tiles"] = sum(r["accuracy"] * r["scored_frames"] for r in sub) / s
        out[f"ms_per_frame_{n_tiles}_tiles"] = float(np.mean([r["ms_per_frame"] for r in sub]))
        out[f"mean_faces_{n_tiles}_tiles"] = float(np.mean([r["mean_faces"] for r in sub]))
    out["per_composite"] = rows
    return out


def bench_cost(clips: dict[str, Clip], n_faces: int, width: int, frames: int = 250) -> dict:
    """``ActiveSpeaker.__call__`` time per frame (ms) with ``n_faces`` real tiles and real
    tracks, with audio: the frames, tracks, flows and audio windows are prepared first, then
    the cue runs over them three times; CPU time of the process (``process_time``: waiting
    for a core on a shared machine does not count) and wall time, best of the three runs."""
    names = sorted(clips)[:n_faces]
    spec = {"speaker": names[0], "tiles": names, "stretch": {}}
    spec["offsets"] = {n: 0.5 for n in names[1:]}
    detector = FaceDetector(input_width=width)
    tracker, motion = FaceTracker(detector, stride=10), MotionSaliency()
    audio = clips[names[0]].audio
    inputs = []
    for k in range(frames):
        t = k / FPS
        rgb = tile_frame(clips, spec, t % clips[names[0]].duration)
        motion(rgb)
        tracks = copy.deepcopy(tracker(rgb, motion.flow))
        flow = None if motion.flow is None else motion.flow.copy()
        inputs.append((rgb, tracks, flow, audio_window(audio, RATE, t, 0.064), t))
    cpu, wall = [], []
    for _ in range(3):
        asd = ActiveSpeaker()
        c0, w0 = time.process_time(), time.perf_counter()
        for args in inputs:
            asd(*args)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {
        "faces": float(np.mean([len(i[1]) for i in inputs])),
        "cpu_ms": 1e3 * min(cpu) / frames,
        "wall_ms": 1e3 * min(wall) / frames,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "video/talking")
    ap.add_argument("--splits", nargs="+", default=["tuning", "held_out"])
    ap.add_argument("--settings", nargs="+", default=["audio", "visual", "listeners"])
    ap.add_argument("--draws", type=int, default=2, help="composites per speaker and tile count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="{}", help="ActiveSpeaker keyword arguments, JSON")
    ap.add_argument(
        "--widths",
        nargs="+",
        type=int,
        default=[320],
        help="composite widths (working width of the prior; tiles are width / 2 square)",
    )
    ap.add_argument(
        "--stride",
        type=int,
        default=1,
        help="feed every N-th frame, as the prior does at saliency stride N (default 1)",
    )
    ap.add_argument("--skip-cost", action="store_true", help="no per-frame cost bench")
    ap.add_argument("--out", type=Path, default=Path("eval/results/active_speaker"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--cost-only",
        action="store_true",
        help="only the cost bench (tuning clips); writes --out (default ..._cost).json",
    )
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    params = json.loads(args.params)
    if args.cost_only:
        costs = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])}
        for width in args.widths:
            clips = {n: load_clip(args.data, n, width // 2) for n in TUNING}
            for n_faces in (2, 4):
                costs[f"cost/{n_faces}/{width}"] = cost = bench_cost(clips, n_faces, width)
                print(f"cost {n_faces} tiles at width {width}: {cost}", flush=True)
        if not args.no_write:
            out = args.out if args.out.name != "active_speaker" else Path(f"{args.out}_cost")
            out.with_suffix(".json").write_text(json.dumps(costs, indent=1))
        return 0
    split_names = {"tuning": TUNING, "held_out": HELD_OUT}
    needed = sorted({n for s in args.splits for n in split_names[s]})
    clips = {n: load_clip(args.data, n, args.widths[0] // 2) for n in needed}
    results: dict = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "splits": {"tuning": TUNING, "held_out": HELD_OUT},
        "params": params,
        "clips": {
            n: {
                "duration_s": c.duration,
                "speech_span_s": c.span(),
                "silent_stretches_s": c.silent_stretches(),
            }
            for n, c in clips.items()
        },
    }
    for width in args.widths:
        if width != args.widths[0]:
            clips = {n: load_clip(args.data, n, width // 2) for n in needed}
        detector = FaceDetector(input_width=width)
        for n_faces in (2, 4) if not args.skip_cost else ():
            cost = bench_cost(clips, n_faces, width)
            results[f"cost/{n_faces}/{width}"] = cost
            print(f"cost {n_faces} tiles at width {width}: {cost}", flush=True)
        for split in args.splits:
            for setting in args.settings:
                t0 = time.perf_counter()
                res = evaluate(
                    clips,
                    split_names[split],
                    setting,
                    detector,
                    params,
                    args.draws,
                    args.seed,
                    args.stride,
                )
                key = f"{split}/{setting}/{width}"
                results[key] = res
                print(
                    f"{key}: accuracy {res['accuracy']:.3f} (2 tiles {res['accuracy_2_tiles']:.3f},"
                    f" 4 tiles {res['accuracy_4_tiles']:.3f}; all frames"
                    f" {res['accuracy_all_frames']:.3f}) over {res['scored_frames']} frames of"
                    f" {res['composites']} composites; {res['ms_per_frame_4_tiles']:.3f} ms/frame"
                    f" (4 tiles) [{time.perf_counter() - t0:.0f} s]",
                    flush=True,
                )
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
        args.out.with_suffix(".md").write_text(markdown(results))
    return 0


def markdown(results: dict) -> str:
    lines = [
        "# Active-speaker cue: top-ranked face vs the true speaker",
        "",
        "```sh",
        results["command"],
        "```",
        "",
        "| split | setting | width | accuracy (speaker voiced) | 2 tiles | 4 tiles | all frames |"
        " scored frames | composites | ms/frame (2 / 4 tiles) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in results.items():
        if "/" not in key or key.startswith("cost/"):
            continue
        split, setting, width = key.split("/")
        lines.append(
            f"| {split} | {setting} | {width} | {r['accuracy']:.3f} | {r['accuracy_2_tiles']:.3f} |"
            f" {r['accuracy_4_tiles']:.3f} | {r['accuracy_all_frames']:.3f} |"
            f" {r['scored_frames']} | {r['composites']} |"
            f" {r['ms_per_frame_2_tiles']:.3f} / {r['ms_per_frame_4_tiles']:.3f} |"
        )
    lines += [
        "",
        "Accuracy by time since the composite's start (s; the evidence builds up over it):",
        "",
        "| split | setting | width | "
        + " | ".join(f"{lo}+ s" if lo == TIME_BINS[-1] else f"{lo}-{lo + 1} s" for lo in TIME_BINS)
        + " |",
        "|---|---|---|" + "---|" * len(TIME_BINS),
    ]
    for key, r in results.items():
        if "/" in key and not key.startswith("cost/") and "accuracy_from_0_s" in r:
            cells = " | ".join(f"{r[f'accuracy_from_{lo}_s']:.3f}" for lo in TIME_BINS)
            lines.append(f"| {' | '.join(key.split('/'))} | {cells} |")
    lines += [
        "",
        "Cost of `ActiveSpeaker.__call__` per frame (ms; real tiles and tracks, with audio;"
        " CPU time and wall time per frame, best of 3 runs over 250 frames, one thread, shared"
        " machine):",
        "",
        "| width | faces | CPU ms | wall ms |",
        "|---|---|---|---|",
    ]
    for key, r in results.items():
        if key.startswith("cost/"):
            _, _, width = key.split("/")
            lines.append(f"| {width} | {r['faces']:.1f} | {r['cpu_ms']:.3f} | {r['wall_ms']:.3f} |")
    lines += [
        "",
        f"Tuning clips: {', '.join(results['splits']['tuning'])}.",
        f"Held-out clips: {', '.join(results['splits']['held_out'])}.",
        "",
        "Width: the composite's width in pixels (the prior's working width); 2 tiles side by"
        " side or 2 x 2, square tiles of width / 2. Faces: real CenterFace detections (working"
        " width = composite width) every 10 frames, tracked with DIS flow. Accuracy: share of"
        " frames (where the speaker's own audio is voiced) whose top-ranked track lies in the"
        " speaker's tile. ms/frame in the table: wall time of `ActiveSpeaker.__call__` inside"
        " the runs (includes waiting for a core on the shared machine).",
        "Parameters: " + (json.dumps(results["params"]) if results["params"] else "the defaults"),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
