"""Which face the prior picks on the dialogue proxy clips, without encoding anything.

The dialogue proxies (``eval/dialogue_proxy.py``) put their "viewers" on the talker's face
while the talker's voice is on. On every frame the prior computes (its default saliency stride)
with gaze and at least two face tracks, this finds the talker's track (the track whose box
holds the median gaze point; none: the talker is not tracked) and scores:

- ``top_speaking``: the talker's track has the highest speaking probability (ties: no);
- ``top_share``: the talker's track has the largest attention share of the map;
- ``talker_share``: the talker's share over all faces' shares (1: only the talker; 1/n for n
  faces weighted alike);
- ``talker_p`` / ``listener_p``: mean speaking probability of the talker's and the other tracks;
- ``talker_level`` / ``listener_level``: the speaker cue's mouth-over-eyes level (median) of the
  talker and of the highest other track (``ActiveSpeaker._silent_level``);
- ``width``: the talker's box width in working pixels (median).

It takes seconds per clip where ``perceptcodec rd`` takes minutes, so choices can be screened
here; BD-EWPSNR from ``rd`` decides.

    nice .venv/bin/python eval/dialogue_speaker.py eval/.cache/dialogue_tuning_moving \\
        [--options KEY=VALUE ...] [--out eval/results/dialogue_speaker/after_dialogue_tuning_moving]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from perceptcodec.config import SaliencySpec
from perceptcodec.datasets.gaze import PointVideoGaze
from perceptcodec.datasets.readers import read_gaze_csv
from perceptcodec.evaluation.runner import RdConfig
from perceptcodec.io.source import decode_video, probe
from perceptcodec.saliency import get_model
from perceptcodec.saliency.stream import saliency_maps


class _Recorder:
    """Wraps a callable part of the model (its speaker cue or its face attention) and keeps
    the last result."""

    def __init__(self, part) -> None:
        self.part = part
        self.last = None

    def __getattr__(self, name):
        return getattr(self.part, name)

    def __call__(self, *args, **kwargs):
        self.last = self.part(*args, **kwargs)
        return self.last


class _Scorer:
    """Wraps a prior: after each computed frame, one row of scores (module docstring) where
    the frame has gaze and the prior >= 2 tracks."""

    def __init__(self, model, gaze: PointVideoGaze, fps: float, scale: float) -> None:
        self.model, self.gaze, self.fps, self.scale = model, gaze, fps, scale
        model.speaker = self.speaker = _Recorder(model.speaker)
        model.attention = self.attention = _Recorder(model.attention)
        self.rows: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, rgb: np.ndarray, t: float, audio=None) -> np.ndarray:
        self.speaker.last, self.attention.last = None, None
        sal = self.model(rgb, t, audio)
        k = int(round(t * self.fps))
        tracks = self.model.tracker.tracks
        points = self.gaze.points(k)[:, :2]
        if len(points) and len(tracks) >= 2:
            self.rows.append(self._row(tracks, np.median(points, axis=0) / self.scale, t))
        return sal

    def _row(self, tracks, gaze: np.ndarray, t: float) -> dict:
        """Scores of one frame; ``gaze`` the median gaze point in working pixels."""
        gx, gy = gaze
        ids = [tr.id for tr in tracks]
        inside = [tr.box[0] <= gx <= tr.box[2] and tr.box[1] <= gy <= tr.box[3] for tr in tracks]
        row: dict = {"t": t, "faces": len(ids), "tracked": any(inside)}
        if not any(inside):
            return row
        me = inside.index(True)
        others = np.delete(np.arange(len(ids)), me)
        probs = self.speaker.last or {}
        shares = self.attention.last[0] if self.attention.last else {}
        features = getattr(self.speaker.part, "features", {}) or {}
        p = np.array([probs.get(i, 0.0) for i in ids])
        s = np.array([shares.get(i, 0.0) for i in ids])
        level = np.array([features.get(i, {}).get("silent_level", np.nan) for i in ids])
        row["top_speaking"] = bool(p[me] > p[others].max())
        row["top_share"] = bool(s[me] > s[others].max())
        row["talker_share"] = float(s[me] / max(s.sum(), 1e-12))
        row["talker_p"] = float(p[me])
        row["listener_p"] = float(p[others].mean())
        row["talker_level"] = float(level[me])
        row["listener_level"] = (
            float(np.nanmax(level[others])) if np.isfinite(level[others]).any() else float("nan")
        )
        row["width"] = float(tracks[me].box[2] - tracks[me].box[0])
        return row


def score_clip(video: Path, gaze: Path, spec: SaliencySpec) -> list[dict]:
    """One row per computed frame with gaze and >= 2 tracks (see the module docstring), for
    the prior of ``spec`` at its saliency stride."""
    info = probe(video)
    model = get_model("prior", spec.options)
    gaze_points = read_gaze_csv(video, gaze)
    scorer = _Scorer(model, gaze_points, float(info.fps), info.width / model.width)
    for _ in saliency_maps(decode_video(video), scorer, info, stride=spec.stride):
        pass
    return scorer.rows


def summary(rows: list[dict]) -> dict:
    """Means of the scores over frames with gaze and >= 2 tracks."""
    out: dict = {"frames": len(rows)}
    out["talker_tracked"] = float(np.mean([r["tracked"] for r in rows])) if rows else 0.0
    tracked = [r for r in rows if r["tracked"]]
    for key in ["top_speaking", "top_share", "talker_share", "talker_p", "listener_p"]:
        out[key] = round(float(np.mean([r[key] for r in tracked])), 4) if tracked else None
    for key in ["talker_level", "listener_level", "width"]:
        out[key] = round(float(np.nanmedian([r[key] for r in tracked])), 4) if tracked else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="a dialogue proxy folder with datasets.txt")
    ap.add_argument(
        "--options", nargs="*", default=[], help="prior options by rd key (fm=0), k=N the stride"
    )
    ap.add_argument("--out", type=Path, help="JSON path (without suffix); console only if absent")
    args = ap.parse_args(argv)
    spec = RdConfig.parse(":".join(["prior", *args.options])).saliency
    result: dict = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])}
    every: list[dict] = []
    for line in (args.folder / "datasets.txt").read_text().split():
        video, gaze = (Path(p) for p in line.split(":"))
        rows = score_clip(video, gaze, spec)
        result[video.stem] = s = summary(rows)
        every += rows
        print(video.stem, json.dumps(s), flush=True)
    result["all"] = summary(every)
    print("all", json.dumps(result["all"]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
