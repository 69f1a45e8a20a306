"""Refactors must not change the bits: encodes of a fixed synthetic clip hash to the values
the code gave before the typed configuration (commit 0a9df89), with libx264 build 164."""

from __future__ import annotations

import hashlib

import av
import pytest
from media import BoxSaliency, config, make_video

import perceptcodec
from perceptcodec.encoder import x264_build

# SHA-256 over the video packets' payloads (container bytes carry muxer versions).
EXPECTED = {
    "none_2pass": "db3836a44e56154fed70808b4dfc39f384bcf79d12de226456dac59c5731dfd2",
    "box_1pass": "4d6412cd07800306fc3e5b20cbdbce415268d87c798572d18490a99738e5ec76",
    "none_crf": "6f59d483096077665c4d007753a21fde37932d574c874f7347e45f59f8a77e6e",
}
CASES = {
    "none_2pass": lambda: config(bitrate="200k", two_pass=True, preset="veryfast"),
    "box_1pass": lambda: config(
        BoxSaliency((0.25, 0.25, 0.75, 0.75)), bitrate="200k", preset="veryfast", strength=1.0
    ),
    "none_crf": lambda: config(bitrate=None, crf=28, preset="veryfast"),
}


def _video_hash(path) -> str:
    digest = hashlib.sha256()
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            digest.update(bytes(packet))
    return digest.hexdigest()


@pytest.mark.parametrize("case", sorted(CASES))
def test_encodes_are_bit_identical_to_before_the_refactor(tmp_path, case):
    if x264_build() != 164:
        pytest.skip(f"hashes recorded with libx264 build 164, this is {x264_build()}")
    clip = make_video(tmp_path / "clip.mp4", 320, 176, frames=24, fps=24, audio="aac")
    out = tmp_path / f"{case}.mkv"
    perceptcodec.encode(clip, out, CASES[case](), progress=False)
    assert _video_hash(out) == EXPECTED[case]
