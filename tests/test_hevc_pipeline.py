"""End-to-end ``encode --codec hevc`` on small synthetic clips: bits move into a known ROI at
the same rate (2-pass), rate, audio, VFR, both passes given the same maps, containers (hvc1 in
MP4/MOV, parameter sets only in hvcC), the CLI's flags and misuse, H.264 unchanged."""

from __future__ import annotations

import struct
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import BoxSaliency, luma_frames, make_video, psnr

import perceptcodec
from perceptcodec import pipeline
from perceptcodec.cli import main
from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.encoder import Codec, Encoder, Pass, RateControl, X264Options, X265Options
from perceptcodec.encoder import x265 as x265_module
from perceptcodec.encoder.x265 import x265_available
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.report import bd_table
from perceptcodec.rd import RdConfig
from perceptcodec.roi import RoiSettings

pytestmark = pytest.mark.skipif(not x265_available(), reason=x265_module.INSTALL_HINT)

BOX = (0.375, 0.3, 0.625, 0.7)  # centre ROI, fractions of the frame


def hevc(
    saliency: object = "none",
    bitrate: int = 300,
    two_pass: bool = False,
    strength: float = 0.7,
    params: str | None = None,
) -> EncodeConfig:
    return EncodeConfig(
        rate=RateControl(bitrate_kbps=bitrate, two_pass=two_pass),
        x264=X264Options(preset="veryfast"),
        roi=RoiSettings(strength=strength),
        saliency=SaliencySpec(saliency),
        codec=Codec.HEVC,
        x265=X265Options(params),
    )


def _roi_mask(width: int, height: int) -> np.ndarray:
    """Pixel mask of the 16x16 blocks fully inside BOX."""
    x0, y0 = int(np.ceil(BOX[0] * width / 16)) * 16, int(np.ceil(BOX[1] * height / 16)) * 16
    x1, y1 = int(BOX[2] * width) // 16 * 16, int(BOX[3] * height) // 16 * 16
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _sample_entry_and_first_sample(path: Path) -> tuple[bytes, list[int]]:
    """The video sample entry's four-character code and the NAL unit types of the first
    sample (length-prefixed, 4-byte lengths) of an MP4/MOV with one video track first."""
    data = path.read_bytes()
    entry = data[data.index(b"stsd") + 16 : data.index(b"stsd") + 20]
    co = data.index(b"stco")
    first_offset = struct.unpack(">I", data[co + 12 : co + 16])[0]
    sz = data.index(b"stsz")
    first_size = struct.unpack(">I", data[sz + 16 : sz + 20])[0]
    sample, types, at = data[first_offset : first_offset + first_size], [], 0
    while at + 4 <= len(sample):
        n = struct.unpack(">I", sample[at : at + 4])[0]
        types.append((sample[at + 4] >> 1) & 0x3F)
        at += 4 + n
    return entry, types


@pytest.fixture(scope="module")
def textured_clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip") / "tex.mp4", 480, 272, frames=40)


def test_offsets_move_quality_into_the_roi_at_the_same_rate(textured_clip, tmp_path):
    results, rates = {}, {}
    for name, saliency in (("none", "none"), ("roi", BoxSaliency(BOX))):
        out = tmp_path / f"{name}.mp4"
        summary = perceptcodec.encode(
            textured_clip, out, hevc(saliency, 300, True, strength=1.0), progress=False
        )
        assert summary.passes == 2
        rates[name] = summary.video_kbps
        ref, dec = luma_frames(textured_clip), luma_frames(out)
        assert len(dec) == len(ref) == 40
        mask = _roi_mask(480, 272)
        inside = np.mean([psnr(r[mask], d[mask]) for r, d in zip(ref, dec, strict=True)])
        outside = np.mean([psnr(r[~mask], d[~mask]) for r, d in zip(ref, dec, strict=True)])
        results[name] = (inside, outside)
    assert abs(rates["roi"] - rates["none"]) / rates["none"] < 0.05, rates
    assert results["roi"][0] >= results["none"][0] + 2.0, results
    assert results["roi"][1] < results["none"][1], results


def test_two_pass_lands_on_target_for_ten_seconds(tmp_path):
    clip = make_video(tmp_path / "ten.mp4", 320, 180, frames=250, fps=25)
    summary = perceptcodec.encode(
        clip, tmp_path / "out.mp4", hevc(BoxSaliency(BOX), 150, True), progress=False
    )
    assert summary.duration_s == pytest.approx(10.0, abs=0.05)
    assert abs(summary.video_kbps - 150) / 150 < 0.05, summary


def test_two_pass_gives_both_passes_the_same_maps_and_leaves_nothing(tmp_path, monkeypatch):
    clip = make_video(tmp_path / "c.mp4", 160, 96, frames=12)
    seen: dict[Pass, list[np.ndarray]] = {Pass.FIRST: [], Pass.SECOND: []}

    class Spy(Encoder):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            assert self.codec is Codec.HEVC
            self._maps = seen[kwargs["pass_"]]

        def encode(self, frame, dqp_mb=None, pts=None):
            self._maps.append(np.array(dqp_mb))
            return super().encode(frame, dqp_mb, pts)

    monkeypatch.setattr(pipeline, "Encoder", Spy)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    out = tmp_path / "o.mp4"
    summary = perceptcodec.encode(clip, out, hevc(BoxSaliency(BOX), 200, True), progress=False)
    assert summary.passes == 2 and summary.frames == 12
    first, second = seen[Pass.FIRST], seen[Pass.SECOND]
    assert len(first) == len(second) == 12 and np.abs(first[0]).max() > 1
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert list(tmpdir.iterdir()) == []  # stats, .cutree and maps gone with their folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "o.mp4", "tmp"]
    assert len(luma_frames(out)) == 12


@pytest.mark.parametrize(
    ("audio", "container", "mode"),
    [("aac", "mp4", "copied (aac)"), ("pcm_s16le", "mkv", "re-encoded")],
)
def test_audio_as_for_h264(tmp_path, audio, container, mode):
    clip = make_video(tmp_path / f"a.{container}", 160, 96, frames=40, fps=20, audio=audio)
    out = tmp_path / "out.mp4"
    summary = perceptcodec.encode(clip, out, hevc(), progress=False)
    assert summary.audio.startswith(mode)
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "hevc"
        v_dur = float(v.duration * v.time_base)
        a_dur = float(a.duration * a.time_base)
    assert abs(a_dur - v_dur) <= 1 / 20 + 0.03


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_variable_frame_rate_is_kept(tmp_path, container):
    pts = [0, 40, 80, 100, 200, 240, 260, 300, 400, 440]
    clip = make_video(
        tmp_path / "src.mkv", 160, 96, frames=10, pts=pts, time_base=Fraction(1, 1000)
    )
    out = tmp_path / f"vfr.{container}"
    perceptcodec.encode(clip, out, hevc(BoxSaliency(BOX)), progress=False)
    with av.open(str(out)) as c:
        times = [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)]
    assert times == [p / 1000 for p in pts]


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv"])
def test_containers_decode_and_mp4_is_hvc1_with_headers_only_in_hvcc(tmp_path, container):
    clip = make_video(tmp_path / "c.mp4", 642, 362, frames=8)  # not a multiple of 16
    out = tmp_path / f"o.{container}"
    perceptcodec.encode(clip, out, hevc(BoxSaliency(BOX)), progress=False)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "hevc" and v.codec_context.extradata[0] == 1  # hvcC
        frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (362, 642)
    if container != "mkv":
        entry, types = _sample_entry_and_first_sample(out)
        assert entry == b"hvc1"
        assert not {32, 33, 34} & set(types) and {19, 20} & set(types)  # no VPS/SPS/PPS; IDR


def test_qg_size_8_takes_the_16x16_maps(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 200, 120, frames=6)
    out = tmp_path / "o.mkv"
    summary = perceptcodec.encode(
        clip, out, hevc(BoxSaliency(BOX), params="qg-size=8"), progress=False
    )
    assert summary.frames == 6 and len(luma_frames(out)) == 6


def test_default_output_name_says_hevc(tmp_path):
    clip = make_video(tmp_path / "in.mp4", 160, 96, frames=4)
    summary = perceptcodec.encode(clip, None, hevc(bitrate=150), progress=False)
    assert Path(summary.dst) == tmp_path / "in.none.hevc.150k.mp4"
    h264 = pipeline.default_output(clip, "none", RateControl(bitrate_kbps=150))
    assert h264 == tmp_path / "in.none.150k.mp4"


def test_config_rules():
    assert EncodeConfig().codec is Codec.H264
    assert EncodeConfig(codec="hevc").codec is Codec.HEVC
    with pytest.raises(PerceptcodecError, match="unknown codec 'vp9'"):
        EncodeConfig(codec="vp9")
    with pytest.raises(PerceptcodecError, match="HEVC only"):
        EncodeConfig(x265=X265Options("aq-mode=3"))
    with pytest.raises(PerceptcodecError, match="x265 has no tune 'film'"):
        EncodeConfig(codec=Codec.HEVC, x264=X264Options(tune="film"))
    with pytest.raises(PerceptcodecError, match="HEVC only"):
        Encoder(64, 64, Fraction(25), x265=X265Options("aq-mode=3"))


def test_cli_encode_hevc(tmp_path, capsys):
    clip = make_video(tmp_path / "in.mp4", 160, 96, frames=6, audio="aac")
    out = tmp_path / "o.mkv"
    rc = main(
        [
            "encode",
            str(clip),
            "-o",
            str(out),
            "--codec",
            "hevc",
            "--x265-params",
            "aq-mode=3:no-sao",
            "--preset",
            "veryfast",
            "-q",
            "--json",
        ]
    )
    assert rc == 0
    assert '"audio": "copied (aac)"' in capsys.readouterr().out
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
        assert len(list(c.decode(video=0))) == 6


@pytest.mark.parametrize(
    ("flags", "status", "message"),
    [
        (["--codec", "hevc", "--x265-params", "no-such-key=1"], 2, "'no-such-key'"),
        (["--codec", "hevc", "--x265-params", "aq-mode=x"], 2, "bad value 'x'"),
        (["--x265-params", "aq-mode=3"], 2, "--codec hevc only"),
        (["--codec", "h265"], 2, "invalid choice"),
        (["--codec", "hevc", "--tune", "film"], 1, "x265 has no tune 'film'"),
    ],
)
def test_cli_misuse_is_one_line(tmp_path, capsys, flags, status, message):
    clip = make_video(tmp_path / "in.mp4", 64, 48, frames=2)
    with pytest.raises(SystemExit) if status == 2 else _nothing() as raised:
        rc = main(["encode", str(clip), "-o", str(tmp_path / "o.mp4"), "-q", *flags])
    rc = raised.value.code if status == 2 else rc
    err = capsys.readouterr().err
    assert rc == status and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


class _nothing:
    value = None

    def __enter__(self) -> _nothing:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def test_rd_config_codec_key_and_bd_pairs_by_codec():
    assert RdConfig.parse("none:codec=hevc").codec is Codec.HEVC
    config = RdConfig.parse("prior:0.7:codec=hevc")
    assert config.label == "prior-s0.7-q8-k2" and config.encode_config(300, _fast()).codec == "hevc"
    assert "codec" not in RdConfig.parse("prior:0.7").settings()  # H.264 keys unchanged
    with pytest.raises(PerceptcodecError, match="unknown codec"):
        RdConfig.parse("none:codec=av1")

    def result(label: str, codec: str | None, psnr: list[float]) -> dict:
        extra = {"codec": codec} if codec else {}
        rates = (100, 200, 300, 400)
        points = [
            {"target_kbps": k, "actual_kbps": float(k), "psnr_y": p, "ewpsnr_y": p, "ssim_y": 0.9}
            for k, p in zip(rates, psnr, strict=True)
        ]
        return {
            "video": "v",
            "config": {"preset": "medium", "two_pass": False, "label": label, "luma": "x", **extra},
            "points": points,
        }

    rows = bd_table(
        [
            result("none", None, [30, 32, 34, 35]),
            result("m", None, [31, 33, 35, 36]),
            result("none", "hevc", [33, 35, 37, 38]),
            result("m", "hevc", [33.5, 35.5, 37.5, 38.5]),
        ]
    )
    by_run = {"hevc" if "hevc" in r["run"] else "h264": r for r in rows if r["video"] == "v"}
    assert len(rows) == 4 and by_run["h264"]["config"] == by_run["hevc"]["config"] == "m"
    assert by_run["h264"]["bd_psnr_db"] == pytest.approx(1.0, abs=1e-6)
    assert by_run["hevc"]["bd_psnr_db"] == pytest.approx(0.5, abs=1e-6)


def _fast():
    from perceptcodec.rd import RdSettings

    return RdSettings(preset="veryfast", two_pass=False)


def test_without_libx265_one_error_and_no_output(tmp_path, monkeypatch):
    clip = make_video(tmp_path / "in.mp4", 64, 48, frames=2)
    monkeypatch.setattr(pipeline, "x265_available", lambda: False)
    with pytest.raises(PerceptcodecError, match="install libx265-dev"):
        perceptcodec.encode(clip, tmp_path / "o.mp4", hevc(), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
