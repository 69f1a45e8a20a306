"""Face attention: each cue on synthetic input whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptcodec.saliency.attention import (
    WEIGHTS_PATH,
    AttentionWeights,
    FaceAttention,
    Template,
    face_template,
    gesture_motion,
    head_pose,
    render_faces,
    social_gaze,
)
from perceptcodec.saliency.faces import Track
from perceptcodec.saliency.motion import MotionSaliency, motion_confidence

FRAME = (360, 640)  # H, W pixels


def face(track_id: int, cx: float, cy: float, size: float, yaw: float = 0.0) -> Track:
    """A face track: box of width ``size`` (height 1.25 size) centred on (cx, cy) pixels, with
    landmarks of a head turned by ``yaw`` (-1..1, + = toward the image's right): the nose
    slides from the middle between the eyes toward one eye."""
    w, h = size, 1.25 * size
    x0, y0 = cx - w / 2, cy - h / 2
    le, re = np.array([x0 + 0.3 * w, y0 + 0.4 * h]), np.array([x0 + 0.7 * w, y0 + 0.4 * h])
    nose = np.array([x0 + (0.5 + 0.2 * yaw) * w, y0 + 0.6 * h])
    lm, rm = np.array([x0 + 0.35 * w, y0 + 0.75 * h]), np.array([x0 + 0.65 * w, y0 + 0.75 * h])
    marks = np.stack([le, re, nose, lm, rm]).astype(np.float32)
    return Track(track_id, np.array([x0, y0, x0 + w, y0 + h]), 0.9, landmarks=marks)


def test_head_pose_reads_yaw_from_the_nose():
    yaw, _, frontal = head_pose(face(0, 100, 100, 60).landmarks)
    assert abs(yaw) < 0.05 and frontal > 0.95
    yaw_r, _, frontal_r = head_pose(face(0, 100, 100, 60, yaw=0.9).landmarks)
    yaw_l, _, _ = head_pose(face(0, 100, 100, 60, yaw=-0.9).landmarks)
    assert yaw_r > 0.8 and yaw_l < -0.8 and frontal_r < 0.2


def test_face_the_others_turn_toward_gains_weight():
    # Three equal faces in a row; the outer two turn toward the middle one.
    turned = [face(0, 120, 180, 60, yaw=0.8), face(1, 320, 180, 60), face(2, 520, 180, 60, -0.8)]
    frontal = [face(0, 120, 180, 60), face(1, 320, 180, 60), face(2, 520, 180, 60)]
    social = social_gaze(
        np.array([[120.0, 180], [320, 180], [520, 180]]), np.array([0.8, 0.0, -0.8]), np.zeros(3)
    )
    assert social[1] > 0.9 and social[1] > 2 * max(social[0], social[2])
    weights = AttentionWeights(frontal=0.0, center=0.0)  # the social cue alone
    shares, _ = FaceAttention(weights)(turned, FRAME, 0.0)
    assert shares[1] > 2 * max(shares[0], shares[2])
    shares_f, _ = FaceAttention(weights)(frontal, FRAME, 0.0)
    assert shares_f[1] < 1.2 * max(shares_f[0], shares_f[2])  # nobody turns: no such gain


def test_bigger_frontal_face_beats_small_profile_face():
    tracks = [face(0, 200, 180, 40, yaw=1.0), face(1, 440, 180, 90)]
    shares, background = FaceAttention()(tracks, FRAME, 0.0)
    assert shares[1] > 2 * shares[0]
    assert 0 < background < 1 and sum(shares.values()) + background == pytest.approx(1.0)


def test_gesture_below_a_face_gains_weight():
    tracks = [face(0, 160, 100, 60), face(1, 480, 100, 60)]
    motion = np.zeros((72, 128), np.float32)
    motion[30:55, 80:110] = 1.0  # under face 1 (x 450-510 px -> 90-102 cells)
    g = gesture_motion(np.stack([t.box for t in tracks]), motion, FRAME)
    assert g[1] > 5 and g[0] == 0
    shares, _ = FaceAttention()(tracks, FRAME, 0.0, motion=motion)
    assert shares[1] > 1.5 * shares[0]


def test_speaker_keeps_attention_for_the_hold_time_then_switches():
    model = FaceAttention(AttentionWeights(hold_s=0.7))
    tracks = [face(0, 160, 180, 70), face(1, 480, 180, 70)]
    top = {}
    for i in range(50):  # 25 fps: face 0 speaks until 1.0 s, then face 1
        t = i / 25
        speaking = {0: 0.95, 1: 0.05} if t < 1.0 else {0: 0.05, 1: 0.0}
        if t >= 1.0:
            speaking[1] = 0.55  # face 1 starts, weakly: below the switch-on threshold
        shares, _ = model(tracks, FRAME, t, speaking=speaking)
        top[round(t, 2)] = max(shares, key=shares.get)
    assert top[0.4] == 0 and top[1.4] == 0  # held ~0.7 s after face 0 stopped
    assert top[1.96] == 1  # then released to face 1


def test_template_weights_the_eyes_more_than_the_chin():
    tr = face(0, 320, 180, 160)
    tmpl = AttentionWeights.load().template
    m = face_template(tr.box, tr.landmarks, FRAME, FRAME, tmpl)
    eye_y = int(tr.landmarks[0, 1])
    eye_x = int((tr.landmarks[0, 0] + tr.landmarks[1, 0]) / 2)
    chin_y = int(tr.box[3]) - 1
    assert m[eye_y, eye_x] > 1.5 * m[chin_y, eye_x]
    assert m.sum() == pytest.approx(1.0, abs=1e-4)
    both = render_faces([tr], {0: 0.5}, FRAME, (90, 160), tmpl)
    assert both.sum() == pytest.approx(0.5, abs=1e-3)


def test_equal_mode_gives_score_times_sqrt_area():
    tracks = [face(0, 160, 180, 40), face(1, 480, 180, 160)]
    shares, background = FaceAttention(equal=True)(tracks, FRAME, 0.0)
    assert background == pytest.approx(0.4)
    assert shares[1] / shares[0] == pytest.approx(4.0, rel=1e-3)


def test_static_noise_gets_almost_no_motion_weight():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:180, 0:320]
    scene = (128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0))[..., None].repeat(3, axis=2)
    motion = MotionSaliency()
    conf, mass = [], []
    for _ in range(20):  # sensor noise + 4 % exposure flicker on a still scene
        gain = 1 + 0.04 * rng.standard_normal()
        frame = np.clip(scene * gain + rng.normal(0, 12, scene.shape), 0, 255).astype(np.uint8)
        m = motion(frame)
        conf.append(motion_confidence(m))
        mass.append(float(m.mean()))
    assert max(conf) < 0.05 and max(mass) < 1e-3
    motion.reset()
    conf_moving = []
    for i in range(8):  # the same noise, plus a bright square moving 6 px per frame
        frame = np.clip(scene + rng.normal(0, 12, scene.shape), 0, 255)
        frame[60:110, 40 + 6 * i : 90 + 6 * i] = 250
        conf_moving.append(motion_confidence(motion(frame.astype(np.uint8))))
    assert np.mean(conf_moving[2:]) > 0.5


def test_shipped_weights_are_fitted_and_load():
    data = json.loads(WEIGHTS_PATH.read_text())
    w = AttentionWeights.load()
    assert w.size == pytest.approx(data["size"]) and isinstance(w.template, Template)
    assert w.size > 0 and w.center < 0  # bigger and more central faces draw more fixations
