"""`perceptcodec saliency --sources`: who speaks, per face and frame, and the sound-source map.

A clip of two drawn faces side by side (left: the mouth moves in syllables; right: still),
written with libx264 and read back; faces come from a fixed detector so only the speaker cue
and the export are under test."""

from __future__ import annotations

import av
import numpy as np
import pytest
from test_speaker import FPS, TILE_W, face_tile, syllables, tile_track

from perceptcodec.config import SaliencySpec
from perceptcodec.errors import PerceptcodecError
from perceptcodec.maps_export import export_saliency
from perceptcodec.saliency.options import PriorOptions
from perceptcodec.saliency.prior import PriorSaliency
from perceptcodec.saliency.sources import sound_source_map

SECONDS = 3.0


class _TileDetector:
    """The two tiles' faces, always found (boxes and landmarks of ``tile_track``)."""

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tracks = [tile_track(0, col) for col in (0, 1)]
        boxes = np.array([[*tr.box, 0.9] for tr in tracks], np.float32)
        return boxes, np.stack([tr.landmarks for tr in tracks])

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.detect(rgb)[0]


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("sources") / "two_faces.mp4"
    opening = syllables(SECONDS, seed=3)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = 2 * TILE_W, 120, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for k in range(int(SECONDS * FPS)):
            left = face_tile(float(opening[int(k / FPS * 1000)]), seed=0)
            rgb = np.concatenate([left, face_tile(0.0, seed=1)], axis=1)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


def _prior() -> PriorSaliency:
    return PriorSaliency(PriorOptions(width=2 * TILE_W), detector=_TileDetector())


def test_npz_holds_speaking_probabilities_boxes_and_sound_map(talking_clip, tmp_path):
    export_saliency(
        talking_clip, tmp_path / "s.npz", SaliencySpec(_prior()), progress=False, sources=True
    )
    export_saliency(talking_clip, tmp_path / "plain.npz", SaliencySpec(_prior()), progress=False)
    data, plain = np.load(tmp_path / "s.npz"), np.load(tmp_path / "plain.npz")
    frames = int(SECONDS * FPS)
    assert "sources" not in plain  # only on request
    # reporting who speaks leaves the saliency maps as they were (speaker cue off, no sound)
    assert np.array_equal(data["saliency"], plain["saliency"])
    sources = data["sources"]
    assert sources.dtype == np.float16 and sources.shape == data["saliency"].shape
    assert sources.shape[0] == frames
    rows = data["face_frame"]
    assert np.array_equal(np.bincount(rows, minlength=frames), np.full(frames, 2))
    assert data["face_box"].shape == (2 * frames, 4) and data["face_id"].shape == (2 * frames,)
    left = (data["face_box"][:, 0] + data["face_box"][:, 2]) / 2 < TILE_W
    assert np.allclose(data["face_box"][left][0], tile_track(0, 0).box, atol=1)
    speaking = data["face_speaking"]
    assert ((speaking >= 0) & (speaking <= 1)).all()
    late = rows >= FPS  # after a second of build-up
    assert speaking[late & left].mean() > speaking[late & ~left].mean() + 0.3
    half = sources.shape[2] // 2
    mass = sources[int(FPS) :].astype(np.float64)
    assert mass[:, :, :half].sum() > 2 * mass[:, :, half:].sum()


def test_strided_maps_keep_a_row_per_face_per_frame(talking_clip, tmp_path):
    export_saliency(
        talking_clip,
        tmp_path / "s.npz",
        SaliencySpec(_prior(), stride=4),
        progress=False,
        sources=True,
    )
    rows = np.load(tmp_path / "s.npz")["face_frame"]
    assert np.array_equal(np.unique(rows), np.arange(int(SECONDS * FPS)))


def test_a_model_without_sources_is_refused_before_writing(talking_clip, tmp_path):
    with pytest.raises(PerceptcodecError, match="does not report sound sources"):
        export_saliency(talking_clip, tmp_path / "c.npz", SaliencySpec("center"), sources=True)
    assert not list(tmp_path.iterdir())


def test_sound_source_map_is_speaking_weighted_face_gaussians():
    boxes = np.array([[0, 0, 40, 40], [60, 0, 100, 40]], np.float32)
    sound = sound_source_map(boxes, np.array([1.0, 0.25], np.float32), (40, 100), (40, 100))
    assert sound[20, 20] == pytest.approx(1.0, abs=0.02)  # the speaker's centre: peak 1
    assert sound[20, 80] == pytest.approx(0.25, abs=0.02)
    assert sound_source_map(boxes, np.zeros(2, np.float32), (40, 100), (4, 10)).max() == 0
