"""End-to-end encodes on synthetic media: bits move to the ROI, rate, audio, odd inputs."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest
from media import BoxSaliency, config, luma_frames, make_video, psnr
from qp import decoded_mb_qps

import perceptcodec

BOX = (0.375, 0.3, 0.625, 0.7)  # centre ROI, fractions of the frame


@pytest.fixture(scope="module")
def textured_clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip") / "tex.mp4", 640, 360, frames=50)


def _roi_mask(width, height):
    """Pixel mask of the macroblocks fully inside BOX (16-pixel aligned)."""
    x0, y0 = int(np.ceil(BOX[0] * width / 16)) * 16, int(np.ceil(BOX[1] * height / 16)) * 16
    x1, y1 = int(BOX[2] * width) // 16 * 16, int(BOX[3] * height) // 16 * 16
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask, (y0 // 16, y1 // 16, x0 // 16, x1 // 16)


def test_offsets_move_bits_into_the_roi(textured_clip, tmp_path):
    common = dict(bitrate="1200k", two_pass=True, preset="veryfast")
    base = perceptcodec.encode(
        textured_clip, tmp_path / "none.mp4", config("none", **common), progress=False
    )
    roi = perceptcodec.encode(
        textured_clip,
        tmp_path / "roi.mp4",
        config(BoxSaliency(BOX), strength=1.0, **common),
        progress=False,
    )
    assert abs(roi.video_kbps - base.video_kbps) / base.video_kbps < 0.05
    mask, (r0, r1, c0, c1) = _roi_mask(640, 360)
    ref = luma_frames(textured_clip)
    results = {}
    for name in ("none", "roi"):
        dec = luma_frames(tmp_path / f"{name}.mp4")
        assert len(dec) == len(ref)
        inside = np.mean([psnr(r[mask], d[mask]) for r, d in zip(ref, dec, strict=True)])
        outside = np.mean([psnr(r[~mask], d[~mask]) for r, d in zip(ref, dec, strict=True)])
        results[name] = (inside, outside)
    assert results["roi"][0] >= results["none"][0] + 2.0, results
    assert results["roi"][1] < results["none"][1], results
    qps = np.stack(list(decoded_mb_qps(tmp_path / "roi.mp4"))).astype(float)
    qp_mask = np.zeros(qps.shape[1:], bool)
    qp_mask[r0:r1, c0:c1] = True
    assert qps[:, qp_mask].mean() + 4 < qps[:, ~qp_mask].mean()


def test_two_pass_lands_on_target_for_ten_seconds(tmp_path):
    clip = make_video(tmp_path / "ten.mp4", 320, 180, frames=250, fps=25)
    settings = config(BoxSaliency(BOX), bitrate="150k", two_pass=True, preset="veryfast")
    summary = perceptcodec.encode(clip, tmp_path / "out.mp4", settings, progress=False)
    assert summary.duration_s == pytest.approx(10.0, abs=0.05)
    assert abs(summary.video_kbps - 150) / 150 < 0.05, summary


@pytest.mark.parametrize(
    ("audio", "container", "mode"),
    [("aac", "mp4", "copied (aac)"), ("pcm_s16le", "mkv", "re-encoded")],
)
def test_audio_survives(tmp_path, audio, container, mode):
    clip = make_video(tmp_path / f"a.{container}", 160, 96, frames=40, fps=20, audio=audio)
    out = tmp_path / "out.mp4"
    summary = perceptcodec.encode(clip, out, config(preset="veryfast"), progress=False)
    assert summary.audio.startswith(mode)
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        v_dur = float(v.duration * v.time_base)
        a_dur = float(a.duration * a.time_base)
    assert abs(a_dur - v_dur) <= 1 / 20 + 0.03  # one frame (+ one AAC frame of padding)


def test_sizes_not_multiple_of_16_and_no_audio(tmp_path):
    clip = make_video(tmp_path / "odd.mp4", 642, 362, frames=8)
    out = tmp_path / "out.mkv"
    perceptcodec.encode(clip, out, config(BoxSaliency(BOX), preset="veryfast"), progress=False)
    with av.open(str(out)) as c:
        assert not c.streams.audio
        frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (362, 642)
    assert next(decoded_mb_qps(out)).shape == (23, 41)


def test_one_frame_video(tmp_path):
    clip = make_video(tmp_path / "one.mp4", 320, 240, frames=1)
    summary = perceptcodec.encode(
        clip, tmp_path / "o.mp4", config(BoxSaliency(BOX)), progress=False
    )
    assert summary.frames == 1 and len(luma_frames(tmp_path / "o.mp4")) == 1


def test_variable_frame_rate_is_kept(tmp_path):
    pts = [0, 40, 80, 100, 200, 240, 260, 300, 400, 440]
    clip = make_video(
        tmp_path / "vfr.mkv", 160, 96, frames=10, pts=pts, time_base=Fraction(1, 1000)
    )
    out = tmp_path / "vfr.mp4"
    perceptcodec.encode(clip, out, config(preset="veryfast"), progress=False)
    with av.open(str(out)) as c:
        times = [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)]
    assert times == [p / 1000 for p in pts]


def test_crf_and_existing_output_refused(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 160, 96, frames=5)
    out = tmp_path / "c_out.mp4"
    perceptcodec.encode(clip, out, config(crf=30), progress=False)
    before = out.read_bytes()
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(perceptcodec.PerceptcodecError, match="already exists"):
        perceptcodec.encode(clip, out, config(crf=20), progress=False)
    assert out.read_bytes() == before
    perceptcodec.encode(clip, out, config(crf=20), progress=False, force=True)
    assert out.read_bytes() != before


def test_encoder_api_takes_numpy_frames_and_maps():
    from perceptcodec.encoder.x264 import RateControl

    enc = perceptcodec.Encoder(160, 96, Fraction(25), RateControl(mode="crf", crf=25))
    dqp = np.zeros(enc.mb_shape, np.float32)
    packets = []
    for i in range(10):
        packets += enc.encode(np.full((96, 160, 3), i * 20, np.uint8), dqp)
    packets += list(enc.flush())
    assert len(packets) == 10 and packets[0].keyframe
    codec = av.CodecContext.create("h264", "r")
    stream = enc.headers() + b"".join(p.data for p in sorted(packets, key=lambda p: p.dts))
    frames = []
    for packet in codec.parse(stream) + codec.parse(None):
        frames += codec.decode(packet)
    frames += codec.decode(None)
    assert len(frames) == 10 and (frames[0].width, frames[0].height) == (160, 96)
    enc.close()


def test_sample_aspect_ratio_is_kept(tmp_path):
    src = tmp_path / "sar.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for i in range(3):
            rgb = np.full((240, 320, 3), 60 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    perceptcodec.encode(src, tmp_path / "o.mp4", config(), progress=False)
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.video[0].sample_aspect_ratio == Fraction(4, 3)
        assert c.streams.video[0].display_aspect_ratio == Fraction(16, 9)
