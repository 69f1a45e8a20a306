"""False alarms of the visual-only speaker cue on clips where nobody talks.

The proxy clips (``eval/proxy_clips.py``: a slow zoom over a still photograph) hold faces that
never move their mouths, so every frame on which the active-speaker cue calls a face a talker
is a false alarm. Each clip runs through the default prior exactly as ``perceptcodec encode``
feeds it (working width, saliency stride: every ``stride``-th frame), with the speaker cue
reporting (``report_sources``); per clip the share of face-frames, after the first second,
whose speaking probability reaches 0.6 (the attention's switch-on level) is written.

    nice .venv/bin/python eval/speaker_false_alarms.py \
        --out eval/results/attention/speaker_false_alarms

``--clips`` names a folder of ``proxy_clips.py`` output (default ``eval/.cache/proxy``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eyecrowd_faces import CACHE  # noqa: E402
from proxy_clips import clip_list  # noqa: E402

from perceptcodec.saliency.options import PriorOptions  # noqa: E402
from perceptcodec.saliency.prior import PriorSaliency  # noqa: E402

ON = 0.6  # FaceAttention switches a speaker on at this probability
WARMUP_S = 1.0


def clip_probabilities(
    video: Path, stride: int, noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Speaking probabilities of every face on every frame the prior sees after the warm-up
    (1-D, one value per face-frame), and the speaker cue's mouth-over-eyes levels of the same
    face-frames (``ActiveSpeaker._silent_level``; NaN before a track's first change).
    ``noise``: sensor noise added to each frame at the working size (Gaussian, sigma in grey
    levels, with exposure flicker of noise / 300)."""
    rng = np.random.default_rng(0)
    prior = PriorSaliency(PriorOptions())
    prior.report_sources()
    values: list[float] = []
    levels: list[float] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for k, frame in enumerate(container.decode(stream)):
            if k % stride:
                continue
            w, h = prior.size_for(frame.width, frame.height)
            rgb = frame.to_ndarray(format="rgb24")
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            if noise > 0:
                gain = 1 + noise / 300 * rng.standard_normal()
                grainy = rgb * gain + rng.normal(0, noise, rgb.shape)
                rgb = np.clip(grainy, 0, 255).astype(np.uint8)
            t = k / fps
            prior(rgb, t)
            if t >= WARMUP_S:
                sources, features = prior.sources(), prior.speaker.features
                values.extend(float(p) for p in sources.speaking)
                for i in sources.ids:
                    levels.append(features.get(int(i), {}).get("silent_level", np.nan))
    return np.asarray(values, np.float64), np.asarray(levels, np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=CACHE / "proxy")
    parser.add_argument("--stride", type=int, default=2, help="the prior's saliency stride")
    parser.add_argument(
        "--noise", type=float, default=0.0, help="sensor noise sigma (grey levels) to add"
    )
    parser.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md")
    args = parser.parse_args()
    rows = {}
    start = time.time()
    for video, _ in clip_list(args.clips):
        p, _ = clip_probabilities(video, args.stride, args.noise)
        rows[video.stem] = {
            "face_frames": int(p.size),
            "false_alarm_share": float((p >= ON).mean()) if p.size else 0.0,
            "mean_probability": float(p.mean()) if p.size else 0.0,
        }
        print(video.stem, rows[video.stem], flush=True)
    counts = np.array([r["face_frames"] for r in rows.values()], np.float64)
    shares = np.array([r["false_alarm_share"] for r in rows.values()])
    report = {
        "command": " ".join(["python", *sys.argv]),
        "stride": args.stride,
        "noise": args.noise,
        "on_level": ON,
        "clips": rows,
        "false_alarm_share_all_face_frames": float((shares * counts).sum() / counts.sum()),
        "clips_with_any_false_alarm": int((shares > 0).sum()),
        "seconds": round(time.time() - start, 1),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "clips"}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        lines = [
            f"`{report['command']}`",
            "",
            f"Share of face-frames (after {WARMUP_S:.0f} s) on which the visual-only speaker cue "
            f"reaches {ON} on clips where nobody talks (slow zooms over stills); stride "
            f"{args.stride}; added sensor noise sigma {args.noise:g}.",
            "",
            "| clip | face-frames | false alarms | mean probability |",
            "|---|---|---|---|",
            f"| **all** | {int(counts.sum())} | "
            f"**{report['false_alarm_share_all_face_frames']:.3f}** | |",
        ]
        lines += [
            f"| {name} | {r['face_frames']} | {r['false_alarm_share']:.3f} | "
            f"{r['mean_probability']:.3f} |"
            for name, r in rows.items()
        ]
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
