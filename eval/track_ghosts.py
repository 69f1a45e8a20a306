"""How often the default prior's face tracks have left their face: "ghost" tracks.

Between two detections (every ``--face-stride`` computed frames) the prior moves each face box
with the optical flow; a box the flow fails to carry (a small face walking, at the flow's
128-pixel width) stays on the background until the next detection misses it twice. There it
still draws a face's share of attention, and the speaker cue reads the background's change
as a mouth's.

On every frame the prior computes, its tracks are compared with a fresh CenterFace detection
on the same frame at the prior's face width (the reference, which also misses some faces, so
the share is an upper bound on the real one): a track whose box overlaps no reference box by
IoU >= 0.3 is a ghost. No gaze is needed, so any video with moving people serves.

    nice .venv/bin/python eval/track_ghosts.py --out eval/results/track_ghosts
    nice .venv/bin/python eval/track_ghosts.py --options KEY=VALUE ... --out ...  # rd keys
    nice .venv/bin/python eval/track_ghosts.py --videos A.mp4 B.mp4 ... --out ...  # other videos
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from perceptcodec.evaluation.runner import RdConfig
from perceptcodec.io.source import decode_video, probe
from perceptcodec.paths import shared_data_dir
from perceptcodec.saliency import get_model
from perceptcodec.saliency.faces import FaceDetector, iou_matrix
from perceptcodec.saliency.stream import saliency_maps

VIDEOS = [
    "video/talking/crowd_1080p.mp4",
    "video/talking/short_hamilton_clip.mp4",
    "video/codec_seq/Cisco_Men_whisper_640x320_CABAC_Bframe_9.264",
    "video/codec_seq/Zhling_1280x720.264",
]
GHOST_IOU = 0.3


class Recorder:
    """Wraps a prior: after each computed frame, its tracks (working pixels) against the
    reference detections on the frame it was given."""

    def __init__(self, model) -> None:
        self.model = model
        self.reference = FaceDetector(input_width=None)
        self.rows: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, rgb: np.ndarray, t: float, audio=None) -> np.ndarray:
        sal = self.model(rgb, t, audio)
        scale = self.model.width / rgb.shape[1]
        boxes, _marks = self.reference.detect(rgb)
        ref = boxes[:, :4] * scale
        speaking = getattr(self.model.speaker, "features", {}) or {}
        for track in self.model.tracker.tracks:
            best = float(iou_matrix(track.box[None, :4], ref).max()) if len(ref) else 0.0
            raw = speaking.get(track.id, {}).get("raw", float("nan"))
            width = float(track.box[2] - track.box[0])
            self.rows.append({"t": t, "id": track.id, "width": width, "iou": best, "p": raw})
        return sal


def summary(rows: list[dict]) -> dict:
    """Ghost share of track-frames, overall, by working width, and among those the speaker
    cue calls talking (raw probability >= 0.6)."""
    iou = np.array([r["iou"] for r in rows])
    width = np.array([r["width"] for r in rows])
    p = np.array([r["p"] for r in rows])
    ghost = iou < GHOST_IOU
    out = {"track_frames": len(rows), "ghost_share": float(ghost.mean()) if len(rows) else 0.0}
    talk = p >= 0.6
    out["talking_track_frames"] = int(talk.sum())
    out["ghost_share_of_talking"] = float(ghost[talk].mean()) if talk.any() else 0.0
    for lo, hi in [(0, 16), (16, 32), (32, 64), (64, 10_000)]:
        sel = (width >= lo) & (width < hi)
        out[f"ghost_share_width_{lo}_{hi}"] = float(ghost[sel].mean()) if sel.any() else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument(
        "--options", nargs="*", default=[], help="prior options by rd key (fw=320), k=N the stride"
    )
    ap.add_argument(
        "--videos", nargs="+", type=Path, default=VIDEOS, help="paths under --data, or absolute"
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    result = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])])}
    spec = RdConfig.parse(":".join(["prior", *args.options])).saliency
    every: list[dict] = []
    for name in args.videos:
        path = args.data / name
        info = probe(path)
        recorder = Recorder(get_model("prior", spec.options))
        for _ in saliency_maps(decode_video(path), recorder, info, stride=spec.stride):
            pass
        result[Path(name).name] = s = summary(recorder.rows)
        every += recorder.rows
        print(Path(name).name, json.dumps(s), flush=True)
    result["all"] = summary(every)
    print("all", json.dumps(result["all"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
