"""Pipeline pieces: strided saliency with interpolation, bounded producer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from media import make_video

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.source import decode_video, probe
from perceptcodec.pipeline import _Producer
from perceptcodec.saliency.stream import saliency_maps


class CountingModel:
    """Map value = number of calls so far; records how often it ran."""

    name, audio_rate, audio_window_s = "count", 0, 0.0

    def __init__(self) -> None:
        self.calls = 0

    def size_for(self, width, height):
        return 8, 6

    def __call__(self, rgb, t, audio=None):
        assert rgb.shape == (6, 8, 3)
        self.calls += 1
        return np.full((3, 4), float(self.calls), np.float32)

    def reset(self) -> None:
        self.calls = 0


def test_stride_runs_the_model_on_every_kth_frame_and_interpolates(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 64, 48, frames=10)
    info = probe(clip)
    model = CountingModel()
    maps = [m[0, 0] for _f, _t, m in saliency_maps(decode_video(clip), model, info, stride=4)]
    assert model.calls == 3  # frames 0, 4, 8
    assert maps == pytest.approx([1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3])


class ObservingModel(CountingModel):
    """Also observes every 2nd frame the stride skips (as VAM-Net's speaker cue does)."""

    observe_stride = 2

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, float]] = []

    def __call__(self, rgb, t, audio=None):
        self.seen.append(("map", round(t * 25)))
        return super().__call__(rgb, t, audio)

    def observe(self, rgb, t, audio=None):
        assert rgb.shape == (6, 8, 3)
        self.seen.append(("observe", round(t * 25)))


def test_a_model_observes_frames_between_its_maps(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 64, 48, frames=10)
    model = ObservingModel()
    maps = [
        m[0, 0] for _f, _t, m in saliency_maps(decode_video(clip), model, probe(clip), stride=4)
    ]
    assert model.seen == [
        ("map", 0), ("observe", 2), ("map", 4), ("observe", 6), ("map", 8)
    ]  # fmt: skip
    assert maps == pytest.approx([1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3])


def test_stride_must_be_positive(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 64, 48, frames=2)
    with pytest.raises(PerceptcodecError):
        list(saliency_maps(decode_video(clip), CountingModel(), probe(clip), stride=0))


def test_producer_hands_over_items_and_errors():
    assert list(_Producer(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise PerceptcodecError("boom")

    with pytest.raises(PerceptcodecError, match="boom"):
        list(_Producer(failing()))


def test_both_passes_apply_the_same_maps(tmp_path):
    from media import BoxSaliency

    from perceptcodec.config import EncodeConfig, SaliencySpec
    from perceptcodec.encoder import Pass
    from perceptcodec.pipeline import _Job, _map_items, _MapStore

    clip = make_video(tmp_path / "c.mp4", 64, 48, frames=5)
    info = probe(clip)
    config = EncodeConfig(saliency=SaliencySpec(BoxSaliency((0.1, 0.2, 0.6, 0.7))))
    store = _MapStore(tmp_path / "maps.f16", (3, 4))
    job = _Job(info, config, config.saliency.build(), None, "", store, False)
    first = [dqp for _f, dqp in _map_items(job, Pass.FIRST)]
    second = [dqp for _f, dqp in _map_items(job, Pass.SECOND)]
    assert len(first) == len(second) == 5 and np.abs(first[0]).max() > 1
    for a, b in zip(first, second, strict=True):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)


def _demuxed_pts(path):
    import av

    with av.open(str(path)) as container:
        return [p.pts for p in container.demux(container.streams.video[0]) if p.size]


def test_frames_without_increasing_timestamps_are_timed_at_the_nominal_rate(tmp_path):
    """A source whose frames all carry pts 0 (a writer that mixed up time bases) decodes as
    frames 40 ms apart with one warning, so it encodes as 2 s at its bit rate (not as 50 frames
    one tick apart, which made x264's rate control spend a 2 s budget on 50 ms), the saliency
    models' clocks run, and ``--start`` finds its frame."""
    from fractions import Fraction

    from media import config

    import perceptcodec
    from perceptcodec.config import Trim
    from perceptcodec.io.source import PerceptcodecWarning

    src, out = tmp_path / "zero_pts.mkv", tmp_path / "out.mp4"
    # pts k x 10 us: all 0 ms in Matroska
    make_video(src, 128, 96, frames=50, pts=list(range(50)), time_base=Fraction(1, 100_000))
    assert set(_demuxed_pts(src)) == {0}
    with pytest.warns(PerceptcodecWarning, match="frame 2's timestamp does not increase") as seen:
        assert [f.pts for f in decode_video(src)] == list(range(0, 2000, 40))
    assert len(seen) == 1
    with pytest.warns(PerceptcodecWarning, match="timestamp does not increase"):
        maps = saliency_maps(decode_video(src), CountingModel(), probe(src))
        times = [t for _f, t, _m in maps]
    assert times == pytest.approx([k / 25 for k in range(50)])
    with pytest.warns(PerceptcodecWarning, match="timestamp does not increase"):
        summary = perceptcodec.encode(src, out, config(bitrate="100k"), progress=False)
    assert summary.frames == 50 and summary.duration_s == pytest.approx(2.0, abs=0.05)
    assert summary.video_kbps == pytest.approx(100, rel=0.5)
    trimmed = dataclasses.replace(config(bitrate="100k"), trim=Trim(start_s=1.0))
    with pytest.warns(PerceptcodecWarning, match="timestamp does not increase"):
        summary = perceptcodec.encode(src, tmp_path / "cut.mp4", trimmed, progress=False)
    assert summary.frames == 25 and summary.duration_s == pytest.approx(1.0, abs=0.05)


def test_raw_h264_without_timestamps_is_numbered_silently(tmp_path):
    """A raw H.264 stream carries no pts: its frames are numbered at the nominal rate, with no
    warning (nothing in it was wrong)."""
    import warnings

    from media import config

    import perceptcodec

    src = make_video(tmp_path / "raw.h264", 128, 96, frames=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pts = [f.pts for f in decode_video(src)]
        summary = perceptcodec.encode(src, tmp_path / "out.mp4", config(), progress=False)
    step = pts[1] - pts[0]
    assert step > 0 and pts == [pts[0] + k * step for k in range(20)]
    assert float(step * probe(src).time_base) == pytest.approx(0.04)
    assert summary.frames == 20 and summary.duration_s == pytest.approx(0.8, abs=0.05)
