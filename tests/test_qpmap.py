"""QP maps out: the offsets an encode applied (--dump-qp) and maps for other encoders."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from media import BoxSaliency, config, make_video

import perceptcodec
from perceptcodec.config import SaliencySpec
from perceptcodec.io.source import decode_video, probe
from perceptcodec.qpmap import (
    av1_offsets,
    parse_kvazaar,
    parse_svt_av1,
    read_qpmap_npz,
)
from perceptcodec.roi import QpOffsetMapper
from perceptcodec.saliency.stream import saliency_maps

BOX = (0.25, 0.25, 0.6, 0.7)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perceptcodec", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("qp") / "c.mp4", 160, 96, frames=10, fps=10)


def _expected(clip) -> list[np.ndarray]:
    """The offsets the pipeline computes for BOX, computed here on their own."""
    info = probe(clip)
    mapper = QpOffsetMapper((info.width, info.height))
    model = SaliencySpec(BoxSaliency(BOX)).build()
    return [mapper(sal) for _f, _t, sal in saliency_maps(decode_video(clip), model, info)]


@pytest.mark.parametrize("two_pass", [False, True])
def test_dump_qp_holds_the_applied_offsets_and_pts(clip, tmp_path, two_pass):
    dump = tmp_path / "qp.npz"
    settings = config(BoxSaliency(BOX), bitrate="200k", two_pass=two_pass, preset="veryfast")
    perceptcodec.encode(clip, tmp_path / "o.mp4", settings, progress=False, dump_qp=dump)
    dqp, pts = read_qpmap_npz(dump)
    expected = np.stack(_expected(clip))
    assert dqp.shape == (10, 6, 10) and list(pts) == [f.pts for f in decode_video(clip)]
    tolerance = 2e-3 * 8 if two_pass else 0  # 2-pass applies the float16-rounded maps
    assert np.abs(dqp - expected).max() <= tolerance
    assert np.abs(dqp).max() > 1  # the map is not flat


def test_dump_qp_is_not_written_when_the_encode_fails(clip, tmp_path):
    result = run("encode", str(clip), "-o", str(tmp_path / "o.mp4"), "--dump-qp",
                 str(tmp_path / "qp.npz"), "--bitrate", "3x", "-q")  # fmt: skip
    assert result.returncode != 0 and not (tmp_path / "qp.npz").exists()


def test_av1_offsets_are_64x64_means_times_four_in_eight_levels():
    dqp = np.zeros((6, 10), np.float32)  # 96 x 160 px -> 2 x 3 superblocks
    dqp[:4, :4] = -6.0
    dqp[4:, 8:] = 3.0
    out = av1_offsets(dqp)
    assert out.shape == (2, 3)
    assert out[0, 0] == -24 and out[1, 2] == 12 and out[0, 1] == 0
    ramp = av1_offsets(np.linspace(-8, 8, 64 * 64).reshape(64, 64).astype(np.float32))
    assert len(np.unique(ramp)) <= 8


@pytest.mark.parametrize("fmt", ["svt-av1", "kvazaar", "npz"])
def test_qpmap_files_parse_back_to_the_offsets(clip, tmp_path, fmt):
    out = tmp_path / f"map.{'npz' if fmt == 'npz' else 'txt'}"
    result = run("qpmap", str(clip), "-o", str(out), "--format", fmt, "--saliency", "center")
    assert result.returncode == 0, result.stderr
    info = probe(clip)
    mapper = QpOffsetMapper((info.width, info.height))
    model = SaliencySpec("center").build()
    expected = [mapper(s) for _f, _t, s in saliency_maps(decode_video(clip), model, info)]
    if fmt == "npz":
        dqp, _pts = read_qpmap_npz(out)
        assert np.abs(dqp - np.stack(expected)).max() < 1e-6
    elif fmt == "kvazaar":
        maps = list(parse_kvazaar(out.read_text()))
        assert len(maps) == 10 and maps[3].shape == (6, 10)
        assert np.array_equal(maps[3], np.round(expected[3]).astype(int))
    else:
        lines = list(parse_svt_av1(out.read_text()))
        assert [n for n, _v in lines] == list(range(10))
        assert all(len(v) == 2 * 3 for _n, v in lines)
        assert np.array_equal(lines[3][1], av1_offsets(expected[3]).ravel())
        assert lines[3][1].min() < 0 < lines[3][1].max()
