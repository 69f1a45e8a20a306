"""RD evaluation: configuration parsing, scoring against gaze, resumable runs, BD table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from media import make_video

from perceptcodec.config import SaliencySpec
from perceptcodec.datasets import read_gaze_csv
from perceptcodec.errors import PerceptcodecError
from perceptcodec.rd import (
    RdConfig,
    RdSettings,
    bd_markdown,
    bd_table,
    run_video_config,
    score_video,
)
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency.options import PriorOptions


def test_config_parsing():
    assert RdConfig.parse("none").label == "none"
    assert RdConfig.parse("prior:0.5:6") == RdConfig(SaliencySpec("prior"), RoiSettings(0.5, 6.0))
    assert RdConfig.parse("prior").label == "prior-s0.7-q8"
    shortcut = RdConfig.parse("prior:0.7:k=4:fs=30:w=160")
    assert shortcut.label == "prior-s0.7-q8-k4-fs30-w160" and shortcut.saliency.stride == 4
    assert shortcut.saliency.options == PriorOptions(face_stride=30, width=160)
    bad_configs = ("none:1", "prior:x", "prior:1:2:3", "", "prior:k=x", "prior:zz=1", "none:k=2",
                   "prior:k=0", "prior:fs=0", "prior:2", "nosuch:1", "center:w=100")  # fmt: skip
    for bad in bad_configs:
        with pytest.raises(PerceptcodecError):
            RdConfig.parse(bad)


@pytest.fixture(scope="module")
def gaze_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("rd")
    clip = make_video(root / "clip.mp4", 160, 96, frames=12, fps=12)
    rows = "".join(f"{f},80,48,s{s}\n" for f in range(0, 12, 2) for s in range(3))
    (root / "gaze.csv").write_text("frame,x,y,subject\n" + rows)
    return read_gaze_csv(clip, root / "gaze.csv", sigma_px=6)


def test_scores_a_video_against_itself_and_counts_gaze_frames(gaze_clip):
    s = score_video(gaze_clip.video, gaze_clip.video, gaze_clip.weights)
    assert s["frames"] == 12 and s["gaze_frames"] == 6
    assert s["psnr_y"] == float("inf") and s["ssim_y"] == pytest.approx(1.0)


def test_run_is_resumable_and_feeds_the_bd_table(gaze_clip, tmp_path):
    logs = []
    fast = RdSettings(preset="ultrafast", two_pass=False)
    path = run_video_config(gaze_clip, RdConfig(), [100, 200], tmp_path, fast, logs.append)
    first = json.loads(path.read_text())
    assert [p["target_kbps"] for p in first["points"]] == [100, 200] and len(logs) == 2
    assert first["config"]["label"] == "none" and "x264_build" in first["versions"]
    run_video_config(gaze_clip, RdConfig(), [100, 200, 300], tmp_path, fast, logs.append)
    assert len(logs) == 3  # only the missing point was encoded

    def fake(label, shift):
        rates = [100.0, 200, 400, 800]
        pts = [{"target_kbps": r, "actual_kbps": r, "psnr_y": 30 + np.log2(r),
                "ewpsnr_y": 30 + np.log2(r) + shift, "ssim_y": 0.9} for r in rates]  # fmt: skip
        return {"video": "v", "config": {"label": label}, "points": pts}

    rows = bd_table([fake("none", 0.0), fake("model", 1.0)])
    video_row = next(r for r in rows if r["video"] == "v")
    assert video_row["bd_ewpsnr_db"] == pytest.approx(1.0, abs=1e-6)
    assert video_row["bd_psnr_db"] == pytest.approx(0.0, abs=1e-6)
    assert video_row["bd_rate_ewpsnr_pct"] < -40  # 1 dB of a 1 dB/octave curve = half the rate
    assert "| v | model |" in bd_markdown(rows)
