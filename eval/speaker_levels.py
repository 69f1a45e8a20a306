"""Where the visual-only speaker cue's offset sits among the levels of talkers and silent faces.

Without sound, ``ActiveSpeaker`` calls a face talking from its mouth-over-eyes level
(``_silent_level``): the probability is sigmoid((level - silent_offset) / silent_scale), and
the face attention switches a talker on at 0.6, i.e. at a level of silent_offset +
silent_scale x logit(0.6). This collects the levels of the default prior, as ``perceptcodec
encode`` runs it (its saliency stride, frames at the face width), after the first second:

- on dialogue proxy folders (``eval/dialogue_proxy.py``): per frame with gaze, the talker's
  level and the highest level among the other faces (``eval/dialogue_speaker.py``'s rows);
- on zoom folders (``eval/proxy_clips.py``: slow zooms over still photographs, nobody talks):
  every face-frame's level (``eval/speaker_false_alarms.py``).

and writes, for each candidate offset, the share of talker frames at or above the switch-on
level, of frames whose highest silent face is, and of zoom face-frames that are. The levels do
not depend on the offset, so one run scores every candidate.

    nice .venv/bin/python eval/speaker_levels.py \\
        --dialogues eval/.cache/dialogue_tuning eval/.cache/dialogue_tuning_small \\
        eval/.cache/dialogue_tuning_moving --zooms eval/.cache/proxy_fit \\
        --out eval/results/speaker_levels_tuning
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from dialogue_speaker import score_clip  # noqa: E402
from proxy_clips import clip_list  # noqa: E402
from speaker_false_alarms import ON, WARMUP_S, clip_probabilities  # noqa: E402

from perceptcodec.evaluation.runner import RdConfig  # noqa: E402
from perceptcodec.saliency.speaker import ActiveSpeaker  # noqa: E402

OFFSETS = (0.04, 0.045, 0.05, 0.055, 0.06, 0.065, 0.07)


def dialogue_levels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(talker levels, highest other face's levels), one per frame with gaze and a tracked
    talker after the warm-up, over the clips of a dialogue proxy folder."""
    spec = RdConfig.parse("prior").saliency
    talker: list[float] = []
    others: list[float] = []
    for video, gaze in clip_list(folder):
        for row in score_clip(video, gaze, spec):
            if row["tracked"] and row["t"] >= WARMUP_S:
                talker.append(row["talker_level"])
                others.append(row["listener_level"])
    return np.asarray(talker), np.asarray(others)


def zoom_levels(folder: Path, stride: int) -> np.ndarray:
    """Levels of every face-frame after the warm-up over the zoom clips of ``folder``."""
    return np.concatenate([clip_probabilities(video, stride)[1] for video, _ in clip_list(folder)])


def share_at_or_above(levels: np.ndarray, level: float) -> float:
    """Share of the finite ``levels`` at or above ``level`` (NaN: none finite)."""
    finite = levels[np.isfinite(levels)]
    return float((finite >= level).mean()) if finite.size else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=Path, nargs="*", default=[])
    parser.add_argument("--zooms", type=Path, nargs="*", default=[])
    parser.add_argument("--stride", type=int, default=2, help="zooms: the prior's stride")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = parser.parse_args()
    scale = ActiveSpeaker().silent_scale
    lift = scale * math.log(ON / (1 - ON))  # switch-on level over the offset
    sets: dict[str, dict[str, np.ndarray]] = {}
    for folder in args.dialogues:
        talker, others = dialogue_levels(folder)
        sets[folder.name] = {"talker": talker, "highest silent face": others}
    for folder in args.zooms:
        sets[folder.name] = {"zoom face": zoom_levels(folder, args.stride)}
    report: dict = {
        "command": " ".join(["python", *sys.argv]),
        "silent_scale": scale,
        "switch_on_probability": ON,
        "sets": {},
    }
    for name, groups in sets.items():
        report["sets"][name] = {
            group: {
                "frames": int(np.isfinite(v).sum()),
                "percentiles_10_25_50_90_99": [
                    round(float(x), 4) for x in np.nanpercentile(v, [10, 25, 50, 90, 99])
                ],
                "share_on": {f"{o:g}": round(share_at_or_above(v, o + lift), 4) for o in OFFSETS},
            }
            for group, v in groups.items()
        }
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        head = " | ".join(f"{o:g}" for o in OFFSETS)
        lines = [
            f"`{report['command']}`",
            "",
            f"Share of frames at or above the switch-on level (offset + {lift:.4f}: probability "
            f"{ON}) for each candidate `silent_offset`; levels after the first {WARMUP_S:g} s.",
            "",
            f"| set | faces | frames | level p10 / p25 / p50 / p90 / p99 | {head} |",
            "|---|---|---|---|" + "---|" * len(OFFSETS),
        ]
        for name, groups in report["sets"].items():
            for group, r in groups.items():
                pct = " / ".join(f"{x:.3f}" for x in r["percentiles_10_25_50_90_99"])
                shares = " | ".join(f"{x:.3f}" for x in r["share_on"].values())
                lines.append(f"| {name} | {group} | {r['frames']} | {pct} | {shares} |")
        args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
