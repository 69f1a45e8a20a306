"""Whether two prior settings give the same maps on given videos (max abs difference).

    python eval/same_maps.py --frames 150 VIDEO... --settings spk=1 spk=2

Settings are the prior's rd keys (``prior:0.7:spk=2`` in ``perceptcodec rd``), several joined
by ``:``. Used to check that results made with one setting hold for another on videos where
they cannot differ (the speaker cue listening, spk=2, on a video without sound; any speaker
setting on a video without faces).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from perceptcodec.config import SaliencySpec
from perceptcodec.evaluation.runner import RdConfig
from perceptcodec.io.audio import load_audio_mono
from perceptcodec.io.source import VideoInfo, decode_video, probe
from perceptcodec.saliency.stream import saliency_maps


def spec(text: str) -> SaliencySpec:
    """The prior with the rd-keyed settings ``text`` (``spk=2:fs=30``)."""
    return RdConfig.parse(f"prior:{text}").saliency


def max_difference(video: Path, a: SaliencySpec, b: SaliencySpec, frames: int) -> float:
    info = probe(video)
    worst = 0.0
    models = [s.build() for s in (a, b)]
    maps = [saliency_maps(decode_video(video), m, info, _audio(video, m, info)) for m in models]
    for index, ((_f, _t, x), (_g, _u, y)) in enumerate(zip(*maps, strict=True)):
        worst = max(worst, float(np.abs(x - y).max()))
        if index + 1 >= frames:
            break
    return worst


def _audio(video: Path, model, info: VideoInfo) -> np.ndarray | None:
    """The video's mono soundtrack at the rate ``model`` asks for, or None (no sound wanted
    or none in the video)."""
    return load_audio_mono(video, model.audio_rate) if model.audio_rate and info.has_audio else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--settings", nargs=2, default=["spk=1", "spk=2"])
    args = parser.parse_args()
    a, b = (spec(t) for t in args.settings)
    for video in args.videos:
        print(
            f"{video.name}: max |{args.settings[0]} - {args.settings[1]}| = "
            f"{max_difference(video, a, b, args.frames):.3g}"
        )


if __name__ == "__main__":
    main()
