"""RD evaluation: configuration parsing, scoring on the coded luma plane against values computed
by hand from raw planes, results keyed by every setting, resumable runs, BD table."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_video, textured_frame

from perceptcodec.config import SaliencySpec
from perceptcodec.datasets import read_gaze_csv
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation import (
    RdConfig,
    RdSettings,
    bd_markdown,
    bd_table,
    load_results,
    markdown_table,
    run_video_config,
    score_video,
)
from perceptcodec.evaluation.runner import rd_point
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency.options import PriorOptions


def test_config_parsing():
    assert RdConfig.parse("none").label == "none"
    assert RdConfig.parse("prior:0.5:6") == RdConfig(SaliencySpec("prior"), RoiSettings(0.5, 6.0))
    assert RdConfig.parse("prior").label == "prior-s0.7-q8-k2"  # the prior's default stride
    assert RdConfig.parse("prior:k=1").label == "prior-s0.7-q8"
    assert RdConfig.parse("center").saliency.stride == 1
    shortcut = RdConfig.parse("prior:0.7:k=4:fs=30:w=160")
    assert shortcut.label == "prior-s0.7-q8-k4-fs30-w160" and shortcut.saliency.stride == 4
    assert shortcut.saliency.options == PriorOptions(face_stride=30, width=160)
    fractional = RdConfig.parse("prior:0.7:ss=0.5:sn=0")  # a float option takes a fraction
    assert fractional.saliency.options == PriorOptions(static=0.5, static_net=0)
    assert fractional.label == "prior-s0.7-q8-k2-ss0.5-sn0"
    bad_configs = (
        "none:1",
        "prior:x",
        "prior:1:2:3",
        "",
        "prior:k=x",
        "prior:zz=1",
        "none:k=2",
        "prior:k=0",
        "prior:fs=0",
        "prior:fs=1.5",
        "prior:ss=1.5",
        "prior:2",
        "nosuch:1",
        "center:w=100",
    )
    for bad in bad_configs:
        with pytest.raises(PerceptcodecError):
            RdConfig.parse(bad)


def test_settings_spell_out_default_options():
    assert RdConfig.parse("prior").settings() == RdConfig.parse("prior:fs=10").settings()
    assert RdConfig.parse("prior").settings() != RdConfig.parse("prior:fs=30").settings()
    assert RdConfig.parse("none").settings() == {"saliency": "none"}


def test_a_revised_model_is_another_encode(monkeypatch):
    """A model whose code changed its maps under the same options gets other rd keys, so a
    re-run in an old results folder recomputes it; unrevised models keep their keys."""
    from dataclasses import replace

    import perceptcodec.saliency as registry

    before = RdConfig.parse("prior").settings()
    assert before["revision"] == registry.MODELS["prior"].revision >= 1
    assert "revision" not in RdConfig.parse("center").settings()
    revised = replace(registry.MODELS["prior"], revision=before["revision"] + 1)
    monkeypatch.setitem(registry.MODELS, "prior", revised)
    assert RdConfig.parse("prior").settings() != before


def test_retrained_static_map_is_another_encode(tmp_path, monkeypatch):
    """The prior's maps depend on the learned static map's weights: other weights, other rd
    keys; without the map (``sn=0``) the weights do not enter the key."""
    from perceptcodec.paths import models_dir

    before = RdConfig.parse("prior").settings()
    assert before["static_net_sha256"]
    without = RdConfig.parse("prior:sn=0").settings()
    assert "static_net_sha256" not in without
    (tmp_path / "static").mkdir()
    shipped = (models_dir() / "static" / "static.onnx").read_bytes()
    (tmp_path / "static" / "static.onnx").write_bytes(shipped + b"retrained")
    monkeypatch.setenv("PERCEPTCODEC_MODELS", str(tmp_path))
    assert RdConfig.parse("prior").settings() != before
    assert RdConfig.parse("prior:sn=0").settings() == without


# ---- scoring on the coded Y plane ------------------------------------------------------------

W, H, N = 160, 96, 6


def _planes(index: int) -> np.ndarray:
    """Frame ``index`` as a yuv420p array (H * 3/2 x W): Y, then U and V."""
    rgb = av.VideoFrame.from_ndarray(textured_frame(W, H, index), format="rgb24")
    return rgb.reformat(format="yuv420p").to_ndarray()


def _x264_clip(path: Path, options: dict[str, str]) -> Path:
    """A limited-range (tv) H.264 clip of the frames of :func:`_planes`, made with libx264."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.color_range = 1  # AVCOL_RANGE_MPEG: limited (tv) range
        vui = "range=tv:colorprim=bt709:transfer=bt709:colormatrix=bt709"  # written in the SPS
        stream.options = {"preset": "ultrafast", "x264-params": vui, **options}
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(_planes(i), format="yuv420p")
            frame.pts, frame.color_range = i, 1
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _raw_y(path: Path) -> list[np.ndarray]:
    """Decoded Y planes read by hand: the yuv420p array's first H rows, no conversion."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert all(f.format.name == "yuv420p" for f in frames)
    return [f.to_ndarray()[:H].astype(np.float64) for f in frames]


def test_luma_scores_are_those_of_the_coded_y_plane(tmp_path):
    ref = _x264_clip(tmp_path / "ref.mp4", {"qp": "0"})  # lossless: decodes to the planes
    dist = _x264_clip(tmp_path / "dist.mp4", {"qp": "36"})
    source_y = [_planes(i)[:H].astype(np.float64) for i in range(N)]
    assert all(np.array_equal(a, b) for a, b in zip(_raw_y(ref), source_y, strict=True))
    with av.open(str(dist)) as c:
        assert next(c.decode(video=0)).color_range == 1  # signalled limited range

    yy, xx = np.mgrid[0:H, 0:W]
    weight = np.exp(-((xx - 50.0) ** 2 + (yy - 40.0) ** 2) / (2 * 12.0**2))
    errors = [(d - s) ** 2 for d, s in zip(_raw_y(dist), source_y, strict=True)]
    mse = [float(e.mean()) for e in errors]
    ewmse = [float((weight * e).sum() / weight.sum()) for e in errors]
    psnr_by_hand = np.mean([10 * np.log10(255**2 / m) for m in mse])
    ewpsnr_by_hand = np.mean([10 * np.log10(255**2 / m) for m in ewmse])

    scores = score_video(ref, dist, lambda i: weight if i % 2 == 0 else None)
    assert scores["frames"] == N and scores["gaze_frames"] == N // 2
    assert scores["psnr_y"] == pytest.approx(psnr_by_hand, abs=1e-9)
    assert scores["psnr_y_pooled"] == pytest.approx(10 * np.log10(255**2 / np.mean(mse)))
    even = [10 * np.log10(255**2 / m) for m in ewmse[::2]]
    assert scores["ewpsnr_y"] == pytest.approx(np.mean(even), abs=1e-9)
    assert ewpsnr_by_hand != pytest.approx(psnr_by_hand)

    # The old bug: format="gray" expands limited-range luma (x 1.164: -1.32 dB, plus rounding).
    with av.open(str(ref)) as a, av.open(str(dist)) as b:
        gray = [
            10
            * np.log10(
                255**2
                / np.mean(
                    (fa.to_ndarray(format="gray").astype(float) - fb.to_ndarray(format="gray")) ** 2
                )
            )
            for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=True)
        ]
    assert 1.0 < scores["psnr_y"] - np.mean(gray) < 2.5


def test_non_yuv420p_sources_are_scored_as_x264_was_given_them(tmp_path):
    yuv444 = make_video(tmp_path / "444.mp4", W, H, frames=3, pix_fmt="yuv444p")
    scores = score_video(yuv444, yuv444, lambda i: None)
    assert scores["psnr_y"] == float("inf") and scores["gaze_frames"] == 0


# ---- runs, keys, BD --------------------------------------------------------------------------


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


def test_run_is_resumable_and_keyed_by_every_setting(gaze_clip, tmp_path):
    logs: list[str] = []
    fast = RdSettings(preset="ultrafast", two_pass=False)
    path = run_video_config(gaze_clip, RdConfig(), [100, 200], tmp_path, fast, logs.append)
    first = json.loads(path.read_text())
    assert [p["target_kbps"] for p in first["points"]] == [100, 200] and len(logs) == 2
    assert first["config"]["label"] == "none" and first["config"]["preset"] == "ultrafast"
    assert path.name == f"{gaze_clip.name}__none__{first['key']}.json"
    assert all("x264_build" in p["versions"] and p["versions"]["code"] for p in first["points"])
    run_video_config(gaze_clip, RdConfig(), [100, 200, 300], tmp_path, fast, logs.append)
    assert len(logs) == 3  # only the missing point was encoded

    # Another preset or pass count: a new file beside the first, whose points stay.
    other = RdSettings(preset="superfast", two_pass=False)
    second = run_video_config(gaze_clip, RdConfig(), [100], tmp_path, other, logs.append)
    assert second != path and len(logs) == 4
    kept = json.loads(path.read_text())
    assert [p["target_kbps"] for p in kept["points"]] == [100, 200, 300]
    assert kept["points"][:2] == first["points"]
    results = load_results(sorted(tmp_path.glob("*__*.json")))
    assert {r["config"]["preset"] for r in results} == {"ultrafast", "superfast"}
    # Another model option: another key, though the label shows only non-default options.
    a, b = RdConfig.parse("center"), RdConfig.parse("center:0.7")
    from perceptcodec.evaluation.runner import described_settings, settings_key

    assert settings_key(described_settings(gaze_clip, a, fast)) == settings_key(
        described_settings(gaze_clip, b, fast)
    )
    assert settings_key(described_settings(gaze_clip, a, fast)) != settings_key(
        described_settings(gaze_clip, a, other)
    )


def _fake(label: str, shift: float, preset: str = "medium", key: str = "k") -> dict:
    rates = [100.0, 200, 400, 800]
    pts = [
        {
            "target_kbps": r,
            "actual_kbps": r,
            "psnr_y": 30 + np.log2(r),
            "ewpsnr_y": 30 + np.log2(r) + shift,
            "ssim_y": 0.9,
        }
        for r in rates
    ]
    config = {"label": label, "preset": preset, "two_pass": True, "luma": "x"}
    return {"video": "v", "key": key, "config": config, "points": pts}


def test_bd_table_compares_within_a_run():
    rows = bd_table([_fake("none", 0.0), _fake("model", 1.0)])
    video_row = next(r for r in rows if r["video"] == "v")
    assert video_row["bd_ewpsnr_db"] == pytest.approx(1.0, abs=1e-6)
    assert video_row["bd_psnr_db"] == pytest.approx(0.0, abs=1e-6)
    assert video_row["bd_rate_ewpsnr_pct"] < -40  # 1 dB of a 1 dB/octave curve = half the rate
    assert "| v | medium, 2-pass, luma: x | model |" in bd_markdown(rows)
    # Two presets: each model against the anchor of its own preset.
    rows = bd_table(
        [
            _fake("none", 0.0),
            _fake("model", 1.0),
            _fake("none", -5.0, "fast"),
            _fake("model", -3.0, "fast"),
        ]
    )
    shifts = sorted(r["bd_ewpsnr_db"] for r in rows if r["video"] == "v")
    assert shifts == pytest.approx([1.0, 2.0], abs=1e-6)
    # The same label with other settings in one run is told apart by its key.
    rows = bd_table([_fake("none", 0.0), _fake("m", 1.0, key="a"), _fake("m", 2.0, key="b")])
    assert {r["config"] for r in rows} == {"m@a", "m@b"}


def test_markdown_table():
    assert markdown_table(("a", "b"), [(1, "x")]) == "| a | b |\n|---|---|\n| 1 | x |\n"
    with pytest.raises(ValueError):
        markdown_table(("a", "b"), [(1,)])


@pytest.mark.slow
@pytest.mark.data
def test_a_two_pass_rd_point_on_the_real_clip(shared_data):
    """A full point as ``perceptcodec rd`` makes it: DHF1K 0002 (783 frames), 2-pass 300 kbit/s,
    preset medium, plain x264; PSNR-Y equals the value from the raw planes."""
    from perceptcodec.datasets import read_dhf1k_0002

    video = read_dhf1k_0002()
    point = rd_point(video, RdConfig(), 300, RdSettings())
    assert point["frames"] == 783 and point["gaze_frames"] > 700
    assert point["actual_kbps"] == pytest.approx(300, rel=0.05)
    assert 35 < point["ewpsnr_y"] < point["psnr_y"] < 55  # 50.18 dB PSNR-Y at 9858819


def test_retrained_weights_are_another_configuration(tmp_path):
    """Results are kept by their settings: a trained model's settings carry its weights' hash,
    so a rerun after retraining computes new points instead of reusing the old weights'."""
    from perceptcodec.config import SaliencySpec
    from perceptcodec.saliency.options import VamNetOptions

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights two")

    def settings(path):
        return RdConfig(SaliencySpec("vamnet", VamNetOptions(weights=str(path)))).settings()

    assert settings(a)["weights_sha256"] != settings(b)["weights_sha256"]
    assert settings(a) == settings(a) and settings(tmp_path / "gone.pt")["weights_sha256"] is None
    assert "weights_sha256" not in RdConfig.parse("prior").settings()


def test_a_tuned_run_is_its_own_run_and_untuned_keys_stay():
    from perceptcodec.evaluation.report import run_name, run_of
    from perceptcodec.rd import RdSettings

    plain, ssim = RdSettings(two_pass=False), RdSettings(two_pass=False, tune="ssim")
    assert plain.described() == {"preset": "medium", "two_pass": False}  # keys as before
    assert ssim.described()["tune"] == "ssim"
    config = RdConfig.parse("prior")
    assert config.encode_config(300, ssim).x264.tune == "ssim"
    assert config.encode_config(300, plain).x264.tune is None
    from perceptcodec.evaluation.scoring import LUMA

    base = {"preset": "medium", "two_pass": False, "luma": LUMA}
    results = [{"config": {**base, **extra}} for extra in ({}, {"tune": "ssim"})]
    runs = [run_of(r) for r in results]
    assert runs[0] != runs[1] and run_name(runs[1]) == "medium, 1-pass, tune ssim"
    assert run_name(runs[0]) == "medium, 1-pass"
