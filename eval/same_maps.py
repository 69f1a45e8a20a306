"""Whether two prior settings give the same maps on given videos (max abs difference).

    python eval/same_maps.py --frames 150 VIDEO... -- spk=0 spk=1

Used to check that results made with the speaker cue on (spk=1) hold for the default (spk=0) on
videos where the cue never runs (no sound, or no faces).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from perceptcodec.config import SaliencySpec
from perceptcodec.io.source import decode_video, probe
from perceptcodec.saliency.options import PriorOptions, option_keys
from perceptcodec.saliency.stream import saliency_maps


def spec(text: str) -> SaliencySpec:
    keys = option_keys(PriorOptions)
    given = dict(part.split("=") for part in text.split(":"))
    return SaliencySpec("prior", PriorOptions(**{keys[k]: int(v) for k, v in given.items()}))


def max_difference(video: Path, a: SaliencySpec, b: SaliencySpec, frames: int) -> float:
    info = probe(video)
    worst = 0.0
    maps = [saliency_maps(decode_video(video), s.build(), info, _audio(video, s)) for s in (a, b)]
    for index, ((_f, _t, x), (_g, _u, y)) in enumerate(zip(*maps, strict=True)):
        worst = max(worst, float(np.abs(x - y).max()))
        if index + 1 >= frames:
            break
    return worst


def _audio(video: Path, s: SaliencySpec) -> np.ndarray | None:
    from perceptcodec.io.audio import load_audio_mono

    model = s.build()
    info = probe(video)
    return load_audio_mono(video, model.audio_rate) if model.audio_rate and info.has_audio else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--settings", nargs=2, default=["spk=0", "spk=1"])
    args = parser.parse_args()
    a, b = (spec(t) for t in args.settings)
    for video in args.videos:
        print(
            f"{video.name}: max |{args.settings[0]} - {args.settings[1]}| = "
            f"{max_difference(video, a, b, args.frames):.3g}"
        )


if __name__ == "__main__":
    main()
