"""The x265 (HEVC) encoder on synthetic media made here with PyAV: decodable streams, 2-pass
rate, QP offsets moving quality into a known ROI, CQP with offsets, x265-params, misuse."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from perceptcodec import roi
from perceptcodec.encoder import x265 as x265_module
from perceptcodec.encoder.frames import i420_planes
from perceptcodec.encoder.x264 import Packet, Pass, RateControl, RateMode, X264Options
from perceptcodec.encoder.x265 import X265Encoder, x265_available
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.synthetic import textured_frame

pytestmark = pytest.mark.skipif(not x265_available(), reason=x265_module.INSTALL_HINT)

BOX = (0.375, 0.3, 0.625, 0.7)  # centre ROI, fractions of the frame
FPS = Fraction(25)
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def make_frames(width: int, height: int, count: int) -> list[Planes]:
    """Moving-texture frames as contiguous I420 planes (RGB -> yuv420p by PyAV)."""
    frames = []
    for i in range(count):
        rgb = av.VideoFrame.from_ndarray(textured_frame(width, height, i), format="rgb24")
        planes, _owner = i420_planes(rgb.reformat(format="yuv420p"))
        frames.append(tuple(np.ascontiguousarray(p) for p in planes))
    return frames


def encode(
    frames: list[Planes],
    rate: RateControl,
    tmp: Path,
    dqp: np.ndarray | None = None,
    preset: str = "veryfast",
    **kwargs: object,
) -> tuple[bytes, list[Packet]]:
    """Headers and packets of one encode (both passes when ``rate.two_pass``)."""
    height, width = frames[0][0].shape
    passes = [Pass.FIRST, Pass.SECOND] if rate.two_pass else [Pass.SINGLE]
    for pass_ in passes:
        with X265Encoder(
            width,
            height,
            FPS,
            1 / FPS,
            rate,
            X264Options(preset=preset),
            pass_=pass_,
            stats_path=str(tmp / "x265.stats"),
            **kwargs,
        ) as enc:
            headers = enc.headers()
            packets = [p for i, f in enumerate(frames) if (p := enc.encode(*f, i, dqp))]
            packets += list(enc.flush())
    return headers, packets


def decode_luma(headers: bytes, packets: list[Packet]) -> list[np.ndarray]:
    """Decoded Y planes (the coded 8-bit values, no range conversion), in output order."""
    codec = av.CodecContext.create("hevc", "r")
    stream = headers + b"".join(p.data for p in sorted(packets, key=lambda p: p.dts))
    frames = []
    for packet in codec.parse(stream) + codec.parse(None):
        frames += codec.decode(packet)
    frames += codec.decode(None)
    out = []
    for f in frames:
        plane = f.planes[0]
        y = np.frombuffer(plane, np.uint8)[: f.height * plane.line_size]
        out.append(y.reshape(f.height, plane.line_size)[:, : f.width])
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def kbps(packets: list[Packet], frames: int) -> float:
    return sum(len(p.data) for p in packets) * 8 / (frames / float(FPS)) / 1000


def box_offsets(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """QP offsets for a saliency box at BOX (roi.qp_offsets, strength 1) and the pixel mask of
    the 16x16 blocks fully inside it."""
    sal = np.zeros((36, 64), np.float32)
    x0, y0, x1, y1 = BOX
    sal[int(y0 * 36) : int(y1 * 36), int(x0 * 64) : int(x1 * 64)] = 1.0
    dqp = roi.qp_offsets(sal, (width, height), strength=1.0, max_delta_qp=8.0)
    mx0, my0 = int(np.ceil(x0 * width / 16)) * 16, int(np.ceil(y0 * height / 16)) * 16
    mx1, my1 = int(x1 * width) // 16 * 16, int(y1 * height) // 16 * 16
    mask = np.zeros((height, width), bool)
    mask[my0:my1, mx0:mx1] = True
    return dqp, mask


def region_psnr(ref: list[Planes], dec: list[np.ndarray], mask: np.ndarray) -> tuple[float, float]:
    """Mean PSNR-Y (dB) inside and outside ``mask`` over the frames."""
    assert len(dec) == len(ref)
    inside = np.mean([psnr(r[0][mask], d[mask]) for r, d in zip(ref, dec, strict=True)])
    outside = np.mean([psnr(r[0][~mask], d[~mask]) for r, d in zip(ref, dec, strict=True)])
    return float(inside), float(outside)


@pytest.fixture(scope="module")
def roi_clip() -> list[Planes]:
    return make_frames(480, 272, 40)


def test_stream_decodes_with_right_count_size_and_grid(tmp_path):
    frames = make_frames(642, 362, 8)  # not a multiple of 16 (nor of x265's 8-pixel minimum CU)
    rate = RateControl(mode=RateMode.CRF, crf=30)
    with X265Encoder(642, 362, FPS, 1 / FPS, rate, X264Options(preset="ultrafast")) as enc:
        assert (enc.block, enc.mb_rows, enc.mb_cols) == (16, 23, 41)
        assert (enc.mb_rows, enc.mb_cols) == roi.mb_grid((642, 362))
    headers, packets = encode(frames, rate, tmp_path, preset="ultrafast")
    types = [(nal[0] >> 1) & 0x3F for nal in headers.split(b"\x00\x00\x00\x01")[1:]]
    assert headers.startswith(b"\x00\x00\x00\x01") and types == [32, 33, 34]  # VPS, SPS, PPS
    assert (
        len(packets) == 8
        and packets[0].keyframe
        and sorted(p.pts for p in packets) == list(range(8))
    )
    dec = decode_luma(headers, packets)
    assert len(dec) == 8 and dec[0].shape == (362, 642)
    assert np.mean([psnr(r[0], d) for r, d in zip(frames, dec, strict=True)]) > 30


def test_muxes_into_mp4_with_in_band_headers(tmp_path):
    """The way io/sink.py muxes H.264 (headers in band before the first packet) gives a valid
    MP4 for HEVC too: the muxer builds hvcC from them."""
    frames = make_frames(160, 96, 10)
    headers, packets = encode(frames, RateControl(mode=RateMode.CRF, crf=30), tmp_path)
    path = tmp_path / "out.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_mux_stream("hevc", rate=FPS, width=160, height=96)
        stream.time_base = 1 / FPS
        prefix = headers
        for p in sorted(packets, key=lambda p: p.dts):
            pkt = av.Packet(prefix + p.data)
            prefix = b""
            pkt.pts, pkt.dts, pkt.time_base = p.pts, p.dts, 1 / FPS
            pkt.is_keyframe, pkt.stream = p.keyframe, stream
            out.mux(pkt)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
        got = [f.pts * f.time_base for f in c.decode(video=0)]
    assert got == [Fraction(i, 25) for i in range(10)]


def test_two_pass_lands_on_target_for_ten_seconds(tmp_path):
    frames = make_frames(320, 180, 250)
    dqp, _ = box_offsets(320, 180)
    rate = RateControl(bitrate_kbps=150, two_pass=True)
    _, packets = encode(frames, rate, tmp_path, dqp=dqp, preset="ultrafast")
    assert len(packets) == 250
    assert abs(kbps(packets, 250) - 150) / 150 < 0.05, kbps(packets, 250)


def test_offsets_move_quality_into_the_roi_at_the_same_rate(roi_clip, tmp_path):
    dqp, mask = box_offsets(480, 272)
    rate = RateControl(bitrate_kbps=900, two_pass=True)
    results = {}
    for name, offsets in (("none", None), ("roi", dqp)):
        headers, packets = encode(roi_clip, rate, tmp_path, dqp=offsets)
        rate_kbps = kbps(packets, len(roi_clip))
        results[name] = (*region_psnr(roi_clip, decode_luma(headers, packets), mask), rate_kbps)
    (in0, out0, kb0), (in1, out1, kb1) = results["none"], results["roi"]
    assert abs(kb1 - kb0) / kb0 < 0.05, results
    assert in1 >= in0 + 2.0, results
    assert out1 < out0, results


def test_constant_qp_applies_offsets(roi_clip, tmp_path):
    frames = roi_clip[:12]
    dqp, mask = box_offsets(480, 272)
    rate = RateControl(mode=RateMode.CQP, qp=32)
    plain = encode(frames, rate, tmp_path, use_offsets=False)  # x265's own CQP
    zeros = encode(frames, rate, tmp_path, dqp=np.zeros_like(dqp))
    boxed = encode(frames, rate, tmp_path, dqp=dqp)
    in_plain, _ = region_psnr(frames, decode_luma(*plain), mask)
    in_zeros, out_zeros = region_psnr(frames, decode_luma(*zeros), mask)
    in_box, out_box = region_psnr(frames, decode_luma(*boxed), mask)
    assert in_box > in_zeros + 3.0 and in_box > in_plain + 3.0
    assert out_box < out_zeros


def test_x265_params_pass_through_and_bad_keys_are_refused(tmp_path):
    frames = make_frames(160, 96, 6)
    rate = RateControl(mode=RateMode.CRF, crf=30)
    _, packets = encode(frames, rate, tmp_path, params="bframes=0:no-sao:qg-size=16")
    assert all(p.pts == p.dts for p in packets)  # no B-frames: no reordering
    args = (160, 96, FPS, 1 / FPS, rate)
    with pytest.raises(PerceptcodecError, match="unknown x265 parameter 'no-such-key'"):
        X265Encoder(*args, params="bframes=2:no-such-key=3")
    with pytest.raises(PerceptcodecError, match="bad value 'lots' for x265 parameter 'bframes'"):
        X265Encoder(*args, params="bframes=lots")
    with pytest.raises(PerceptcodecError, match="'crf' is set by perceptcodec's own options"):
        X265Encoder(*args, params="crf=20")
    with pytest.raises(PerceptcodecError, match="x265 has no tune 'film'"):
        X265Encoder(*args, X264Options(tune="film"))
    with X265Encoder(*args, params="qg-size=8") as enc:  # 8x8 offset blocks
        assert (enc.block, enc.mb_rows, enc.mb_cols) == (8, 12, 20)


def test_misuse_is_a_one_line_error_not_a_crash(tmp_path):
    rate = RateControl(mode=RateMode.CRF, crf=30)
    y, u, v = make_frames(160, 96, 1)[0]
    enc = X265Encoder(160, 96, FPS, 1 / FPS, rate, X264Options(preset="ultrafast"))
    good = np.zeros((enc.mb_rows, enc.mb_cols), np.float32)
    bad_calls = [
        (lambda: enc.encode(y[:, :80], u, v, 0), "luma plane is 80x96"),
        (lambda: enc.encode(y, u[:24], v, 0), "U plane"),
        (lambda: enc.encode(y.astype(np.float32), u, v, 0), "uint8"),
        (lambda: enc.encode(y, u, v, 0, np.full_like(good, np.nan)), "NaN"),
        (lambda: enc.encode(y, u, v, 0, good[:, :3]), "shape"),
        (lambda: enc.encode(y, u, v, 0, good + 60), "must lie in"),
        (lambda: enc.encode(y, u, v, 1.5), "pts"),
    ]
    for call, message in bad_calls:
        with pytest.raises(PerceptcodecError, match=message):
            call()
    enc.encode(y, u, v, 0, good)
    assert list(enc.flush())
    with pytest.raises(PerceptcodecError, match="flushed"):
        enc.encode(y, u, v, 1, good)
    enc.close()
    enc.close()  # twice is harmless
    for call in (lambda: enc.encode(y, u, v, 2), enc.headers, lambda: list(enc.flush())):
        with pytest.raises(PerceptcodecError, match="closed"):
            call()
    with pytest.raises(PerceptcodecError, match="needs a stats_path"):
        X265Encoder(160, 96, FPS, 1 / FPS, RateControl(two_pass=True), pass_=Pass.SECOND)
    with pytest.raises(PerceptcodecError, match="pass 1's statistics"):
        X265Encoder(
            160,
            96,
            FPS,
            1 / FPS,
            RateControl(two_pass=True),
            pass_=Pass.SECOND,
            stats_path=str(tmp_path / "missing.log"),
        )
    with pytest.raises(PerceptcodecError, match="even sizes"):
        X265Encoder(161, 96, FPS, 1 / FPS, rate)
    with X265Encoder(160, 96, FPS, 1 / FPS, rate, use_offsets=False) as plain:
        with pytest.raises(PerceptcodecError, match="use_offsets=False"):
            plain.encode(y, u, v, 0, good)


def test_missing_library_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setattr(x265_module, "_LIB", None)
    monkeypatch.setattr(x265_module, "_LIBRARY", tmp_path / "libpcx265.so")
    with pytest.raises(PerceptcodecError, match="install libx265-dev") as info:
        X265Encoder(160, 96, FPS, 1 / FPS, RateControl())
    assert "\n" not in str(info.value)
