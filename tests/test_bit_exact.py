"""Refactors must not change the bits: encodes of a fixed synthetic clip hash to the values
the code gave before the typed configuration (commit 0a9df89), with libx264 build 164.

The clip is lossless (FFV1, planes made in numpy), so the hashes do not depend on the FFmpeg
inside PyAV: a clip encoded with PyAV's libx264 changed with PyAV 18 (the hashes at 0a9df89
were re-recorded on the lossless clip then, by running that commit's ``encode`` on it, each
case in a fresh process: that commit's CRF encode differed when it ran after a 2-pass encode
in the same process)."""

from __future__ import annotations

import hashlib

import av
import pytest
from media import BoxSaliency, config, lossless_clip

import perceptcodec
from perceptcodec.encoder import x264_build

# SHA-256 over the video packets' payloads (container bytes carry muxer versions).
EXPECTED = {
    "none_2pass": "ddd6e555bd2f8566035568a78e103373001b218a7165114a23570e65245a92c6",
    "box_1pass": "58b3b37e1fe16a44cf96fbb99f820e6920cf843f6453f3f1a701ad3f3030b491",
    "none_crf": "93a9b1513fd7ec5c4478130a9f7437c6601a258ec00342525f586667deb4a439",
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
    clip = lossless_clip(tmp_path / "clip.mkv")
    out = tmp_path / f"{case}.mkv"
    perceptcodec.encode(clip, out, CASES[case](), progress=False)
    assert _video_hash(out) == EXPECTED[case]
