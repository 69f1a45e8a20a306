"""The training-free prior model and its parts."""

from __future__ import annotations

import time

import av
import cv2
import numpy as np
import pytest
from media import smooth_picture

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency import get_model
from perceptcodec.saliency.base import aspect_size
from perceptcodec.saliency.center import CenterBias, center_gaussian
from perceptcodec.saliency.faces import Track
from perceptcodec.saliency.motion import MotionSaliency
from perceptcodec.saliency.options import PriorOptions
from perceptcodec.saliency.prior import PriorSaliency, face_map


def test_center_gaussian_peaks_in_the_middle_and_sums_to_one():
    g = center_gaussian((45, 80))
    assert g.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(np.argmax(g), g.shape) in {(22, 39), (22, 40)}
    assert CenterBias()(np.zeros((18, 32, 3), np.uint8), 0.0).sum() == pytest.approx(1, abs=1e-5)


def test_face_map_is_centred_on_the_face():
    m = face_map([Track(0, np.array([200.0, 40, 280, 140]), 0.9)], (180, 320), (45, 80))
    y, x = np.unravel_index(np.argmax(m), m.shape)
    assert 59 <= x <= 60 and 20 <= y <= 22  # (240, 85) px / 4
    assert face_map([], (180, 320), (45, 80)).sum() == 0


def test_motion_marks_the_moving_square():
    motion = MotionSaliency()
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (180, 320, 3), np.uint8)
    maps = []
    for i in range(3):
        frame = background.copy()
        frame[60:100, 40 + 8 * i : 80 + 8 * i] = 255
        maps.append(motion(frame))
    assert maps[0].sum() == 0
    m = maps[-1]
    ys, xs = np.nonzero(m > 0.5 * m.max())
    scale = 320 / m.shape[1]
    assert 30 < xs.mean() * scale < 110 and 50 < ys.mean() * scale < 110


def test_prior_map_shape_and_normalisation():
    model = get_model("prior")
    assert model.size_for(1280, 720) == (640, 360)  # faces found at 640, the rest at 320
    rgb = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)
    t0 = time.perf_counter()
    for i in range(5):
        sal = model(rgb, i / 25)
    print(f"prior: {(time.perf_counter() - t0) / 5 * 1000:.1f} ms/frame at 640x360")
    assert sal.shape == (45, 80) and sal.min() >= 0
    assert sal.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_cut_starts_the_prior_over():
    """The first map of a new shot is the map a fresh model gives that frame: no motion across
    the cut, no temporal smoothing with the last shot's maps, no faces or cues carried over."""
    shot_a, shot_b = smooth_picture(400, 180, 1), smooth_picture(320, 180, 2)
    model = get_model("prior")
    for k in range(8):  # a pan: motion, smoothing and a static background build up
        model(np.ascontiguousarray(shot_a[:, 6 * k : 6 * k + 320]), k / 12.5)
    after_cut = model(shot_b, 8 / 12.5)
    fresh = get_model("prior")(shot_b, 8 / 12.5)
    assert model.tracker.cuts._diffs  # the cut was seen as one, after a history of differences
    np.testing.assert_allclose(after_cut, fresh, atol=1e-7)


def test_track_ids_stay_unique_across_a_cut():
    class OneFace:  # the same box in every shot
        def __call__(self, rgb):
            return np.array([[100, 40, 160, 110, 0.9]], np.float32)

    model = PriorSaliency(detector=OneFace())
    shot_a, shot_b = smooth_picture(320, 180, 1), smooth_picture(320, 180, 2)
    ids = []
    for k, frame in enumerate([shot_a] * 4 + [shot_b] * 2):
        model(frame, k / 12.5)
        ids.append([tr.id for tr in model.tracker.tracks])
    assert ids == [[0]] * 4 + [[1]] * 2  # a new person where the last shot had one


@pytest.mark.data
def test_prior_puts_mass_on_the_speaker(shared_data):
    model = get_model("prior")
    clip = shared_data / "video/talking/WDA_KatieHill_000.mp4"
    with av.open(str(clip)) as c:
        for i, frame in zip(range(20), c.decode(video=0), strict=False):
            sal = model(frame.to_ndarray(format="rgb24", width=320, height=320), i / 25)
    box = model.tracker.tracks[0].box / 4  # working pixels -> map cells
    x0, y0, x1, y1 = box.astype(int)
    inside = sal[y0:y1, x0:x1].sum()
    share = (x1 - x0) * (y1 - y0) / sal.size
    assert inside > 1.5 * share  # face box holds clearly more than its area's share


class _FakeDetector:
    """Two faces at fixed places: a big one on the right, a small one on the left (pixels of
    a 320 x 180 frame), with a frontal landmark layout."""

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from perceptcodec.saliency.faces import box_landmarks

        boxes = np.array([[30, 60, 50, 85, 0.9], [200, 40, 260, 115, 0.9]], np.float32)
        return boxes, np.stack([box_landmarks(b) for b in boxes])

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.detect(rgb)[0]


@pytest.mark.parametrize("attention", [0, 1])
def test_prior_with_and_without_attention(attention):
    from perceptcodec.saliency.options import PriorOptions
    from perceptcodec.saliency.prior import PriorSaliency

    model = PriorSaliency(PriorOptions(attention=attention, speaker=0), detector=_FakeDetector())
    rgb = np.full((180, 320, 3), 100, np.uint8)
    for i in range(3):
        sal = model(rgb, i / 25)
    assert sal.shape == (45, 80) and sal.sum() == pytest.approx(1.0, abs=1e-4)
    big = sal[10:29, 50:65].sum()
    small = sal[15:21, 7:13].sum()
    assert big > small > 0
    if attention:  # the big face is fixated far more than its sqrt(area) share of 3 : 1
        assert big > 4 * small


def test_background_bias_moves_the_map_off_the_faces():
    from perceptcodec.saliency.options import PriorOptions
    from perceptcodec.saliency.prior import PriorSaliency

    rgb = np.full((180, 320, 3), 100, np.uint8)
    on_faces = {}
    for bias in (-1.0, 0.0, 1.0):
        model = PriorSaliency(PriorOptions(speaker=0, background_bias=bias), _FakeDetector())
        sal = model(rgb, 0.0)
        on_faces[bias] = sal[10:29, 50:65].sum() + sal[15:21, 7:13].sum()
    assert on_faces[-1.0] > on_faces[0.0] + 0.05 > on_faces[1.0] + 0.1
    with pytest.raises(PerceptcodecError, match="--background-bias 4.0 must lie in -3..3"):
        PriorOptions(background_bias=4.0)


def test_prior_equal_option_is_the_old_map():
    from perceptcodec.saliency.options import PriorOptions
    from perceptcodec.saliency.prior import PriorSaliency

    model = PriorSaliency(
        PriorOptions(attention=0, motion_floor=0, temporal=0), detector=_FakeDetector()
    )
    sal = model(np.full((180, 320, 3), 100, np.uint8), 0.0)
    tracks = model.tracker.tracks
    faces = face_map(tracks, (180, 320), (45, 80))
    expected = (0.6 * faces / faces.sum() + 0.15 * center_gaussian((45, 80))) / 0.75
    np.testing.assert_allclose(sal, expected, atol=1e-6)


def test_the_speaker_cue_listens_only_when_asked():
    """speaker=1 (default) looks only; speaker=2 also hears (mouth-voice synchrony)."""
    from perceptcodec.errors import PerceptcodecError
    from perceptcodec.saliency.options import PriorOptions
    from perceptcodec.saliency.prior import PriorSaliency

    assert PriorSaliency(PriorOptions(), detector=_FakeDetector()).audio_rate == 0
    hearing = PriorSaliency(PriorOptions(speaker=2), detector=_FakeDetector())
    assert hearing.audio_rate == 16000 and hearing.audio_window_s > 0
    with pytest.raises(PerceptcodecError, match="0, 1 or 2"):
        PriorOptions(speaker=3)
    heard = []

    def cue(rgb, tracks, flow, audio, t):
        heard.append(audio is not None)
        return {}

    rgb, window = np.full((180, 320, 3), 100, np.uint8), np.zeros(1024, np.float32)
    for speaker in (1, 2):  # a library call that hands it sound anyway
        model = PriorSaliency(PriorOptions(speaker=speaker), detector=_FakeDetector(), speaker=cue)
        model(rgb, 0.0, window)
    assert heard == [False, True]


def test_faces_are_found_at_face_width_and_reported_in_the_frames_given():
    """The detector sees the frame at ``face_width`` (at most the source's width), the rest of
    the model works at ``width``: maps stay on the working grid, source boxes are in the
    pixels of the frames given."""

    class Seen:
        shapes: list[tuple[int, ...]] = []

        def __call__(self, rgb):
            self.shapes.append(rgb.shape)
            return np.array([[400, 160, 480, 260, 0.9]], np.float32)

    det = Seen()
    model = PriorSaliency(PriorOptions(face_width=640), detector=det)
    assert model.size_for(1280, 720) == (640, 360)
    assert model.size_for(480, 270) == (480, 270)  # never wider than the source
    assert PriorSaliency(PriorOptions(face_width=160)).size_for(1280, 720) == (320, 180)
    model.report_sources()
    sal = model(smooth_picture(640, 360, 3), 0.0)
    assert det.shapes == [(360, 640, 3)] and sal.shape == (45, 80)
    assert model.sources().boxes[0] == pytest.approx([400, 160, 480, 260], abs=0.01)
    y, x = np.unravel_index(np.argmax(sal), sal.shape)
    assert 50 <= x <= 60 and 20 <= y <= 28  # the face at (440, 210) / 8 on the 80 x 45 grid
    # with face_width 0 the prior works on whatever frame it is given, as it always did
    plain = get_model("prior", PriorOptions(face_width=0))
    assert plain.size_for(1280, 720) == (320, 180)
    assert plain(smooth_picture(640, 360, 3), 0.0).shape == (90, 160)


@pytest.mark.data
def test_a_small_face_is_found_only_with_a_wider_detector(shared_data):
    """A face 34 px wide in a 1280 x 720 frame (2.6 % of the width) is below CenterFace's
    reach at 320 px and found at 640."""
    with av.open(str(shared_data / "video/talking/WDA_KatieHill_000.mp4")) as container:
        face = next(container.decode(video=0)).to_ndarray(format="rgb24")
    canvas = np.full((720, 1280, 3), 120, np.uint8)
    canvas[300:364, 600:664] = cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)
    found = {}
    for face_width in (320, 640):
        model = PriorSaliency(PriorOptions(face_width=face_width))
        model.report_sources()
        size = model.size_for(1280, 720)
        assert size == aspect_size(face_width, 1280, 720)
        model(cv2.resize(canvas, size, interpolation=cv2.INTER_AREA), 0.0)
        found[face_width] = model.sources().boxes * (1280 / size[0])
    assert len(found[320]) == 0 and len(found[640]) == 1
    x0, y0, x1, y1 = found[640][0]
    assert 600 <= (x0 + x1) / 2 <= 664 and 300 <= (y0 + y1) / 2 <= 364


def test_the_speaker_cue_reads_mouths_in_the_frame_at_face_width():
    """Small faces talk in pixels the working copy does not have: the cue gets the frame the
    detector saw, with the tracks (ids kept) in its pixels; the tracker keeps working pixels."""
    seen = []

    def cue(rgb, tracks, flow, audio, t):
        seen.append(
            (rgb.shape, [(tr.id, tuple(tr.box), tr.landmarks[0].tolist()) for tr in tracks])
        )
        return {tr.id: 1.0 for tr in tracks}

    class Detector:
        def __call__(self, rgb):
            return np.array([[400, 160, 480, 260, 0.9]], np.float32)  # in the 640-px frame

    model = PriorSaliency(PriorOptions(face_width=640), detector=Detector(), speaker=cue)
    model(smooth_picture(640, 360, 3), 0.0)
    (shape, [(tid, box, eye)]) = seen[0]
    assert shape == (360, 640, 3)
    assert box == pytest.approx((400, 160, 480, 260), abs=0.01)
    track = model.tracker.tracks[0]
    assert track.id == tid and track.box[:4] == pytest.approx([200, 80, 240, 130], abs=0.01)
    assert eye == pytest.approx((track.landmarks[0] * 2).tolist(), abs=0.01)
