"""Issue 12, items 4 and 6: x264 options people use (--x264-params, VBV, profile, level), the
input's colour description carried to the output, the summary's QP-offset statistics, -q/-v,
and the library's PyAV packets and muxer. Small synthetic media made here; no shared data."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import BoxSaliency, config, make_video, psnr

import perceptcodec
from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.encoder import Codec, RateControl, X264Options
from perceptcodec.encoder.settings import ColorInfo, parse_level
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.scoring import coded_luma
from perceptcodec.io.synthetic import textured_frame

CLI = [sys.executable, "-m", "perceptcodec"]


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, **kw)


def one_error_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """1 s of moving texture at 24 frames/s, 160x96, with AAC audio."""
    return make_video(tmp_path_factory.mktemp("x264") / "clip.mp4", 160, 96, frames=24, fps=24)


def frame_types(path: Path) -> tuple[list[int], list[str]]:
    """Indices of the keyframes and the picture types (I/P/B) in display order."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    keys = [i for i, f in enumerate(frames) if f.key_frame]
    return keys, [av.video.frame.PictureType(f.pict_type).name for f in frames]


def avcc_profile_level(path: Path) -> tuple[int, int]:
    """(profile_idc, level_idc) from the stream's avcC (the SPS's bytes 1 and 3)."""
    with av.open(str(path)) as c:
        extradata = c.streams.video[0].codec_context.extradata
    assert extradata and extradata[0] == 1, "no avcC"
    return extradata[1], extradata[3]


# --- --x264-params ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ("keyint=7:bogus=1", "unknown x264 parameter 'bogus'"),
        ("me=sideways", "bad value 'sideways' for x264 parameter 'me'"),
        ("bframes=0:crf=18", "'crf' is set by perceptcodec's own options"),
        ("no-annexb", "'no-annexb' is set by perceptcodec's own options"),
    ],
)
def test_bad_x264_params_are_refused_naming_the_key_before_any_output(
    tmp_path, clip, params, named
):
    out = tmp_path / "out.mp4"
    before = sorted(p.name for p in tmp_path.iterdir())
    line = one_error_line(run("encode", str(clip), "-o", str(out), "--x264-params", params), 2)
    assert named in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    with pytest.raises(PerceptcodecError, match=named.split("'")[1]):
        X264Options(params=params)  # the library refuses them too, before any native encoder


def test_x264_params_change_the_stream(tmp_path, clip):
    plain, tuned = tmp_path / "plain.mkv", tmp_path / "tuned.mkv"
    perceptcodec.encode(clip, plain, config(preset="veryfast"), progress=False)
    options = X264Options(preset="veryfast", params="keyint=7:bframes=0")
    perceptcodec.encode(clip, tuned, EncodeConfig(x264=options, saliency=SaliencySpec("none")))
    keys, types = frame_types(plain)
    assert keys == [0] and "B" in types  # x264's defaults: keyint 250, B-frames
    keys, types = frame_types(tuned)
    assert keys == [0, 7, 14, 21] and "B" not in types


def test_x264_params_with_hevc_are_a_usage_error(clip):
    line = one_error_line(run("encode", str(clip), "--codec", "hevc", "--x264-params", "ref=2"), 2)
    assert "--x264-params applies to --codec h264" in line
    with pytest.raises(PerceptcodecError, match="H.264 only"):
        EncodeConfig(codec=Codec.HEVC, x264=X264Options(params="ref=2"))


# --- VBV, profile, level ----------------------------------------------------------------------


def test_levels_parse_in_every_usual_form():
    assert [parse_level(v) for v in ("3.1", "31", 3.1, "4", "4.0", 41, "1b")] == [
        31,
        31,
        31,
        40,
        40,
        41,
        9,
    ]
    for bad in ("3.3", "77", "fast", "0"):
        with pytest.raises(PerceptcodecError, match="level"):
            parse_level(bad)


def test_profile_and_level_are_in_the_stream(tmp_path, clip):
    out = tmp_path / "main.mp4"
    flags = ["--saliency", "none", "--preset", "veryfast", "-q"]
    result = run("encode", str(clip), "-o", str(out), "--profile", "main", "--level", "3.1", *flags)
    assert result.returncode == 0, result.stderr
    assert avcc_profile_level(out) == (77, 31)
    base = tmp_path / "base.mp4"
    result = run(
        "encode", str(clip), "-o", str(base), "--profile", "baseline", "--level", "2", *flags
    )
    assert result.returncode == 0, result.stderr
    assert avcc_profile_level(base) == (66, 20)
    assert "B" not in frame_types(base)[1]  # baseline has no B-frames
    assert avcc_profile_level(tmp_path / "main.mp4") != avcc_profile_level(base)


def test_vbv_caps_the_rate(tmp_path, clip):
    """At CRF 2 the clip (1 s) takes over 200 kbit; a 60 kbit/s VBV with a 30 kbit buffer holds
    it to about 60 kbit + 30 kbit."""

    def video_kbit(rate: RateControl) -> float:
        out = tmp_path / f"vbv{rate.vbv_maxrate_kbps}.mkv"
        conf = EncodeConfig(rate=rate, x264=X264Options("veryfast"), saliency=SaliencySpec("none"))
        perceptcodec.encode(clip, out, conf, progress=False)
        with av.open(str(out)) as c:
            return sum(p.size for p in c.demux(video=0)) * 8 / 1000

    free = video_kbit(RateControl(mode="crf", crf=2))
    capped = video_kbit(RateControl(mode="crf", crf=2, vbv_maxrate_kbps=60, vbv_bufsize_kbit=30))
    assert free > 2 * (60 + 30), free  # without VBV the test could not tell
    assert capped <= (60 + 30) * 1.05, capped


def test_vbv_flags_reach_the_encoder(tmp_path, clip):
    out = tmp_path / "v.mkv"
    flags = ["--crf", "2", "--vbv-maxrate", "60", "--vbv-bufsize", "30", "--saliency", "none"]
    result = run("encode", str(clip), "-o", str(out), "--preset", "veryfast", "-q", *flags)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as c:
        kbit = sum(p.size for p in c.demux(video=0)) * 8 / 1000
    assert kbit <= (60 + 30) * 1.05
    bad = run("encode", str(clip), "--vbv-maxrate", "0")
    assert "must lie in" in one_error_line(bad, 2)


# --- colour -----------------------------------------------------------------------------------


def _tagged_clip(path: Path, full: bool) -> Path:
    """12 frames coded with BT.2020 primaries, SMPTE 170M transfer, BT.2020 matrix; full range
    (yuvj420p as decoded) or limited."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast"}
        ctx = stream.codec_context
        ctx.color_primaries, ctx.color_trc, ctx.colorspace = 9, 6, 9
        ctx.color_range = 2 if full else 1
        for i in range(12):
            rgb = av.VideoFrame.from_ndarray(textured_frame(160, 96, i), format="rgb24")
            frame = rgb.reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _colour(path: Path) -> tuple[ColorInfo, list[np.ndarray], str]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return ColorInfo.of_frame(frames[0]), [coded_luma(f) for f in frames], frames[0].format.name


@pytest.mark.parametrize("full", [True, False])
def test_colour_description_survives(tmp_path, full):
    src = _tagged_clip(tmp_path / "tagged.mkv", full)
    colour, src_luma, src_fmt = _colour(src)
    assert colour == ColorInfo(9, 6, 9, full)  # the input says what the test expects
    out = tmp_path / "out.mkv"
    perceptcodec.encode(src, out, config(bitrate=None, crf=12, preset="veryfast"), progress=False)
    out_colour, out_luma, out_fmt = _colour(out)
    assert out_colour == colour and out_fmt == src_fmt
    # Full range coded as it is (no squeeze to 16-235 under a full-range tag): luma matches.
    assert np.mean([psnr(a, b) for a, b in zip(src_luma, out_luma, strict=True)]) > 35


def test_untagged_input_stays_untagged(tmp_path, clip):
    out = tmp_path / "out.mkv"
    perceptcodec.encode(clip, out, config(preset="ultrafast"), progress=False)
    assert _colour(clip)[0] == ColorInfo() == _colour(out)[0]


# --- summary, -q, -v --------------------------------------------------------------------------


def test_summary_reports_the_offsets_applied(tmp_path, clip):
    box = config(BoxSaliency((0.25, 0.25, 0.75, 0.75)), preset="ultrafast", strength=1.0)
    summary = perceptcodec.encode(clip, tmp_path / "box.mkv", box, progress=False)
    assert summary.dqp_min < 0 < summary.dqp_max
    assert abs(summary.dqp_mean) < 0.5  # offsets are re-centred to mean 0
    assert 0.1 < summary.boosted_share < 0.6  # the box: a quarter of the frame, give or take
    assert "macroblocks boosted" in summary.text() and "boosted_share" in summary.as_dict()
    plain = perceptcodec.encode(clip, tmp_path / "none.mkv", config(preset="ultrafast"))
    assert (plain.dqp_min, plain.dqp_max, plain.boosted_share) == (0, 0, 0)


def test_quiet_silences_the_summary_and_verbose_shows_x264(tmp_path, clip):
    args = ["encode", str(clip), "--saliency", "none", "--preset", "ultrafast", "--frames", "4"]
    quiet = run(*args, "-o", str(tmp_path / "q.mkv"), "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    loud = run(*args, "-o", str(tmp_path / "v.mkv"), "-v")
    assert loud.returncode == 0, loud.stderr
    assert "x264 [info]" in loud.stderr and "QP offsets mean" in loud.stdout


# --- library: PyAV packets and the muxer ------------------------------------------------------


def test_library_gives_av_packets_and_its_muxer(tmp_path):
    enc = perceptcodec.Encoder(160, 96, fps=Fraction(24), rate=RateControl(bitrate_kbps=200))
    packets = []
    for i in range(10):
        packets += enc.encode(textured_frame(160, 96, i))
    packets += list(enc.flush())
    av_packets = [enc.av_packet(p) for p in packets]
    assert all(isinstance(p, av.Packet) and p.time_base == Fraction(1, 24) for p in av_packets)
    ctx = enc.codec_context()
    assert ctx.extradata == enc.headers() and ctx.extradata.startswith(b"\0\0\0\1")
    decoded = [f for p in av_packets for f in ctx.decode(p)] + list(ctx.decode(None))
    assert len(decoded) == 10 and (decoded[0].width, decoded[0].height) == (160, 96)
    out = tmp_path / "lib.mkv"
    sink = perceptcodec.MediaSink.for_encoder(out, enc)
    for p in packets:
        sink.write_video(p)
    sink.close()
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 10


def test_hevc_carries_colour_and_level(tmp_path):
    from perceptcodec.encoder.x265 import x265_available

    if not x265_available():
        pytest.skip("libx265 wrapper not built")
    src = _tagged_clip(tmp_path / "tagged.mkv", True)
    out = tmp_path / "out.mkv"
    x264 = X264Options(preset="ultrafast", level=41)
    conf = EncodeConfig(codec=Codec.HEVC, x264=x264, saliency=SaliencySpec("none"))
    perceptcodec.encode(src, out, conf, progress=False)
    assert _colour(out)[0] == ColorInfo(9, 6, 9, True)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.level == 123  # HEVC level_idc = 30 x 4.1
