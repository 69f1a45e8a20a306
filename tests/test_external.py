"""Bring your own saliency: maps (.npz/.npy) and eye-tracking (gaze CSV) drive an encode."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from media import config, make_video
from qp import decoded_mb_qps

import perceptcodec
from perceptcodec.config import SaliencySpec
from perceptcodec.io.source import decode_video, probe
from perceptcodec.maps_export import export_saliency
from perceptcodec.roi import QpOffsetMapper
from perceptcodec.saliency import DEFAULT_MODEL
from perceptcodec.saliency.stream import saliency_maps


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perceptcodec", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("ext") / "c.mp4", 320, 192, frames=12, fps=12)


def _offsets(spec: SaliencySpec, clip) -> list[np.ndarray]:
    info = probe(clip)
    mapper = QpOffsetMapper((info.width, info.height))
    model = spec.build()
    maps = saliency_maps(decode_video(clip), model, info, stride=spec.stride)
    return [mapper(sal) for _f, _t, sal in maps]


def test_saliency_npz_round_trips_to_the_same_offsets(clip, tmp_path):
    export_saliency(clip, tmp_path / "maps.npz", SaliencySpec("prior"), progress=False)
    built_in = _offsets(SaliencySpec("prior"), clip)
    from_file = _offsets(SaliencySpec(str(tmp_path / "maps.npz")), clip)
    assert len(built_in) == len(from_file) == 12
    spread = max(float(np.abs(d).max()) for d in built_in)
    assert spread > 0.5  # the maps are not flat, so the comparison means something
    worst = max(float(np.abs(a - b).max()) for a, b in zip(built_in, from_file, strict=True))
    assert worst < 0.05  # float16 rounding of the maps only


def test_gaze_csv_drives_the_encode(clip, tmp_path):
    rows = "".join(
        f"{f},{x},{y},s{s}\n"
        for f in range(12)
        for s, (x, y) in enumerate([(60, 50), (64, 54), (58, 46)])
    )
    gaze = tmp_path / "gaze.csv"
    gaze.write_text("frame,x,y,subject\n" + rows)
    out = tmp_path / "gaze.mp4"
    summary = perceptcodec.encode(clip, out, config(str(gaze), strength=1.0), progress=False)
    assert summary.saliency == "gaze.csv"
    qps = np.stack(list(decoded_mb_qps(out))).astype(float)  # frames x 12 x 20 MBs
    watched = qps[:, 2:5, 2:6].mean()  # the MBs around (60, 50) px
    assert watched + 4 < qps[:, 8:, 12:].mean()


def test_frames_without_gaze_fall_back_with_one_warning(clip, tmp_path):
    gaze = tmp_path / "gaze.csv"
    gaze.write_text("frame,x,y,subject\n0,100,100,a\n1,100,100,a\n")
    result = run("encode", str(clip), "-o", str(tmp_path / "o.mp4"), "--saliency", str(gaze), "-q")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and f"{DEFAULT_MODEL} model fills in" in warnings[0]


@pytest.mark.parametrize(
    "maps, message",
    [
        (np.ones((5, 9, 16), np.float32), "5 maps for a video of 12 frames"),
        (np.ones((12, 9), np.float32), "frames x h x w"),
        (np.full((12, 9, 16), np.nan, np.float32), "finite"),
    ],
)
def test_bad_maps_are_one_line_errors(clip, tmp_path, maps, message):
    np.save(tmp_path / "m.npy", maps)
    result = run(
        "encode",
        str(clip),
        "-o",
        str(tmp_path / "o.mp4"),
        "--saliency",
        str(tmp_path / "m.npy"),
        "-q",
    )
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_maps_for_another_size_are_refused(clip, tmp_path):
    np.savez(tmp_path / "m.npz", saliency=np.ones((12, 9, 16)), size=np.array([640, 360]))
    result = run(
        "encode",
        str(clip),
        "-o",
        str(tmp_path / "o.mp4"),
        "--saliency",
        str(tmp_path / "m.npz"),
        "-q",
    )
    assert result.returncode == 1 and "for a 640x360 video" in result.stderr
