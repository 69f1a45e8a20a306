"""Who speaks, as the streaming models report it: the face each model ranks first in its own
``sources()`` (``perceptcodec saliency --sources``) against the true speaker, on the talking
composites of ``eval/active_speaker.py`` (same clips, splits, settings and draws).

Each model is fed the composite as ``perceptcodec.saliency.stream`` feeds a video: every
``stride``-th frame through ``__call__`` (with the audio window the model asks for), the
frames between through ``observe`` every ``observe_stride`` frames where the model has one.
A frame is scored where the model ran and the speaker's own audio is voiced. Unlike
``eval/vamnet_speaking.py`` (the training cache's 128-pixel frames and stored cues), this is
the deployed path: CenterFace on the 320-pixel composite, the cue on the model's own flow, the
exported step on ONNX Runtime.

    python eval/sources_active_speaker.py --models prior prior:spk=2 vamnet vamnet:li=1 \\
        --splits held_out --out eval/results/sources_active_speaker

Models are named as ``perceptcodec rd`` configurations (``prior:spk=2``: the prior's cue
listening; ``vamnet:li=1``: VAM-Net hearing the soundtrack; saliency stride from ``k=``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import active_speaker as A  # noqa: E402

from perceptcodec.evaluation.runner import RdConfig  # noqa: E402
from perceptcodec.io.audio import audio_window, load_audio_mono  # noqa: E402


def run(clips: dict, spec: dict, name: str, hear: bool, root: Path) -> list[tuple[float, bool]]:
    """(time s, hit) at the frames the model ran with the speaker voiced; ``hear``: the
    speaker's soundtrack (from ``root``, at the model's own rate) goes to a model that asks."""
    saliency = RdConfig.parse(name).saliency
    model = saliency.build()
    model.report_sources()
    speaker = clips[spec["speaker"]]
    truth = spec["tiles"].index(spec["speaker"])
    rate = int(model.audio_rate)
    track = load_audio_mono(root / spec["speaker"], rate) if hear and rate else None
    every = int(getattr(model, "observe_stride", 0) or 0)
    model.reset()
    out = []
    for k in range(int(speaker.duration * A.FPS)):
        t = k / A.FPS
        if k % saliency.stride and not (every and k % every == 0):
            continue
        rgb = A.tile_frame(clips, spec, t)
        window = None if track is None else audio_window(track, rate, t, model.audio_window_s)
        if k % saliency.stride:
            model.observe(rgb, t, window)
            continue
        model(rgb, t, window)
        src = model.sources()
        if speaker.speaking(t):
            hit = bool(len(src.ids)) and (
                A.tile_of(src.boxes[int(np.argmax(src.speaking))], len(spec["tiles"])) == truth
            )
            out.append((t, hit))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["prior", "vamnet"], help="rd configurations")
    ap.add_argument("--splits", nargs="+", default=["held_out"])
    ap.add_argument(
        "--settings",
        nargs="+",
        default=["visual", "listeners", "audio"],
        help="visual: the listeners' composites without sound",
    )
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    names = {"tuning": A.TUNING, "held_out": A.HELD_OUT}
    root = A.shared_data_dir() / "video/talking"
    clips = {n: A.load_clip(root, n) for s in args.splits for n in names[s]}
    results: dict = {"command": "python " + " ".join(sys.argv)}
    for split in args.splits:
        for setting in args.settings:
            specs = A.composites(clips, names[split], setting, args.draws, 0)
            for name in args.models:
                hits = [h for s in specs for h in run(clips, s, name, setting != "visual", root)]
                times = np.array([t for t, _ in hits])
                ok = np.array([h for _, h in hits], bool)
                bins = np.array([A.time_bin(t) for t in times])
                row = {
                    "accuracy": float(ok.mean()),
                    "scored_frames": int(len(ok)),
                    **{
                        f"accuracy_from_{lo}_s": float(ok[bins == lo].mean())
                        if (bins == lo).any()
                        else float("nan")
                        for lo in A.TIME_BINS
                    },
                }
                results[f"{split}/{setting}/{name}"] = row
                print(split, setting, name, {k: round(v, 3) for k, v in row.items()}, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    lines = [
        "# Who speaks, as the streaming models report it (`sources()`)",
        "",
        f"`{results['command']}`",
        "",
        "| split | setting | model | accuracy | "
        + " | ".join(
            f"{lo}+ s" if lo == A.TIME_BINS[-1] else f"{lo}-{lo + 1} s" for lo in A.TIME_BINS
        )
        + " | scored frames |",
        "|---|---|---|---|" + "---|" * len(A.TIME_BINS) + "---|",
    ]
    for key, r in results.items():
        if "/" in key:
            cells = " | ".join(f"{r[f'accuracy_from_{lo}_s']:.3f}" for lo in A.TIME_BINS)
            lines.append(
                f"| {' | '.join(key.split('/'))} | {r['accuracy']:.3f} | {cells} |"
                f" {r['scored_frames']} |"
            )
    lines += [
        "",
        "Composites as in `eval/active_speaker.py` (2 or 4 tiles of 160 px, 2 draws per"
        " speaker and tile count). Settings: `listeners`, the others silent and the speaker's"
        " audio playing; `visual`, the same composites without sound; `audio`, the others"
        " are muted talkers. Each model at its default saliency stride (prior 2, vamnet 8 with"
        " its cue observing every 2nd frame), scored at the frames it ran where the speaker"
        " is voiced: the top face of `sources()` in the speaker's tile. A model that does not"
        " listen (`prior`: `spk` 1; `vamnet`: `li` 0, the defaults) gets no sound.",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
