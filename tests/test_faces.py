"""Face detection (CenterFace) and tracking."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from media import smooth_picture

from perceptcodec.saliency.faces import FaceDetector, FaceTracker, SceneCuts, iou_matrix, nms


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.8], [20, 20, 30, 30, 0.7]], np.float32)
    kept = nms(boxes, 0.3)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.7])


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    assert iou_matrix(a, b)[0] == pytest.approx([1.0, 50 / 150, 0.0])


class ScriptedDetector:
    """Returns the next scripted set of boxes at each call; counts calls and keeps the widths
    of the images it saw."""

    def __init__(self, script):
        self.script, self.calls, self.widths = list(script), 0, []

    def __call__(self, rgb):
        self.calls += 1
        self.widths.append(rgb.shape[1])
        return np.array(self.script.pop(0), np.float32).reshape(-1, 5)


def test_tracker_detects_on_a_stride_and_keeps_ids():
    frame = np.zeros((90, 160, 3), np.uint8)
    det = ScriptedDetector([[[10, 10, 30, 30, 0.9]], [[12, 10, 32, 30, 0.9]], []])
    tracker = FaceTracker(det, stride=5, max_missed=1)
    ids = []
    for _ in range(11):
        ids.append([t.id for t in tracker(frame)])
    assert det.calls == 3  # frames 0, 5, 10
    assert ids[:10] == [[0]] * 10  # same id through the re-detection
    assert ids[10] == [0]  # one missed detection is tolerated


def test_tracker_redetects_at_a_scene_cut():
    det = ScriptedDetector([[[10, 10, 30, 30, 0.9]], []])
    tracker = FaceTracker(det, stride=100)
    tracker(np.zeros((90, 160, 3), np.uint8))
    assert len(tracker(np.full((90, 160, 3), 255, np.uint8))) == 0
    assert det.calls == 2


def test_scene_cuts_fire_at_a_cut_between_shots_of_equal_brightness():
    a, b = smooth_picture(640, 180, 1), smooth_picture(640, 180, 2)
    cuts = SceneCuts()
    fired = [cuts(a[:, 4 * k : 4 * k + 320]) for k in range(10)]  # a slow pan
    fired += [cuts(b[:, 4 * k : 4 * k + 320]) for k in range(10)]
    assert fired == [False] * 10 + [True] + [False] * 9


def test_scene_cuts_ignore_a_steady_fast_pan_noise_and_flicker():
    rng = np.random.default_rng(0)
    picture = smooth_picture(640, 180, 3)
    cuts = SceneCuts()
    fired = []
    for k in range(40):
        frame = picture[:, 8 * k : 8 * k + 320].astype(np.float32)
        frame = frame * (1 + 0.05 * (k % 2)) + rng.normal(0, 8, frame.shape)  # flicker, noise
        fired.append(cuts(np.clip(frame, 0, 255).astype(np.uint8)))
    assert not any(fired[1:])


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def test_no_face_in_a_synthetic_pattern(detector):
    yy, xx = np.mgrid[0:180, 0:320]
    frame = np.stack([(xx % 256), (yy % 256), ((xx + yy) % 256)], axis=2).astype(np.uint8)
    assert detector(frame).shape == (0, 5)


@pytest.mark.data
def test_finds_the_speaker_in_a_real_clip(shared_data, detector):
    clip = shared_data / "video/talking/WDA_KatieHill_000.mp4"
    with av.open(str(clip)) as c:
        frames = [
            f.to_ndarray(format="rgb24") for i, f in zip(range(30), c.decode(video=0), strict=False)
        ]
    found = [detector(f) for f in frames[::5]]
    assert all(len(b) == 1 for b in found)
    x0, y0, x1, y1, score = found[0][0]
    assert score > 0.5 and 100 < (x0 + x1) / 2 < 412 and (x1 - x0) > 100  # a big central face


def test_tracker_follows_the_flow_between_detections():
    det = ScriptedDetector([[[40, 20, 60, 40, 0.9]]])
    tracker = FaceTracker(det, stride=100)
    frame = np.zeros((90, 160, 3), np.uint8)
    tracker(frame)
    flow = np.zeros((45, 80, 2), np.float32)  # half-resolution flow
    flow[:, 15:60] = (1.5, -0.5)  # the face region moves; the rest stands still
    for _ in range(4):
        tracks = tracker(frame, flow)
    assert det.calls == 1
    assert tracks[0].box == pytest.approx([52, 16, 72, 36])  # 4 x (3, -1) px at full size
    tracker(frame)  # no flow: the box stays
    assert tracks[0].box == pytest.approx([52, 16, 72, 36])


def test_tracker_detects_on_the_detail_frame_and_keeps_working_pixels():
    """A higher-resolution copy for the detector (small faces): its boxes and landmarks come
    back in the working frame's pixels, per axis."""

    det = ScriptedDetector([[[200, 120, 260, 200, 0.9]]])
    tracker = FaceTracker(det, stride=10)
    tracks = tracker(np.zeros((90, 160, 3), np.uint8), detail=np.zeros((360, 640, 3), np.uint8))
    assert det.widths == [640]
    assert tracks[0].box == pytest.approx([50, 30, 65, 50])  # / 4 on both axes
    assert tracks[0].landmarks[:, 0].min() >= 50 and tracks[0].landmarks[:, 0].max() <= 65


def test_detail_detections_alternate_and_low_res_passes_do_not_age_small_faces():
    """With detail_every=2 the detector sees the detail frame at detections 0, 2, 4 and the
    frame itself at 1, 3; a face below ``reach_px`` that only the detail frame shows survives
    the passes that could not have seen it, and ends after max_missed + 1 detail misses."""
    small, big = [100, 100, 116, 116, 0.9], [400, 100, 560, 260, 0.9]  # detail-frame px
    big_low = [200, 50, 280, 130, 0.9]  # the big face in the frame's own pixels
    det = ScriptedDetector([[small, big], [big_low], [big], [big_low], [big]])
    tracker = FaceTracker(det, stride=1, detail_every=2, max_missed=1)
    frame, detail = np.zeros((180, 320, 3), np.uint8), np.zeros((360, 640, 3), np.uint8)
    counts = [len(tracker(frame, detail=detail)) for _ in range(5)]
    assert det.widths == [640, 320, 640, 320, 640]
    assert counts == [2, 2, 2, 2, 1]  # the 8 px face: missed at detections 2 and 4 only
    big_only = FaceTracker(ScriptedDetector([[big], [], []]), stride=1, detail_every=2)
    assert [len(big_only(frame, detail=detail)) for _ in range(3)] == [1, 1, 0]


def _walking_face(match: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 12 x 14 px textured 'face' crossing a still textured 320 x 180 background at 3 px per
    frame, detected once and then followed for 9 frames with the prior's 128-px DIS flow:
    (where the track's box ended, where the face is)."""
    from perceptcodec.saliency.motion import MotionSaliency

    background = smooth_picture(320, 180, 5)
    face = np.random.default_rng(1).integers(0, 256, (14, 12, 3)).astype(np.uint8)
    face = cv2.GaussianBlur(face, (0, 0), 0.8)
    tracker = FaceTracker(ScriptedDetector([[[100, 80, 112, 94, 0.9]]]), stride=100, match=match)
    motion = MotionSaliency()
    for k in range(10):
        frame = background.copy()
        frame[80:94, 100 + 3 * k : 112 + 3 * k] = face
        motion(frame)
        tracks = tracker(frame, motion.flow)
    return tracks[0].box, np.array([127, 80, 139, 94], np.float32)


def test_a_small_walking_face_keeps_its_box_by_matching_its_picture():
    """At the flow's 128 pixels a 12-px face is 5 flow pixels, averaged with the still
    background: the flow alone leaves the box behind on the background (a ghost track that
    still draws a face's attention); matching the face's picture keeps it on the face."""
    followed, truth = _walking_face(match=True)
    assert followed == pytest.approx(truth, abs=1.0)
    flow_only, _ = _walking_face(match=False)
    assert abs(flow_only[0] - truth[0]) > 6
