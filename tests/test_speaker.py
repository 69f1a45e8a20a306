"""Active-speaker cue: synthetic talking tiles (drawn faces, animated mouths, synthetic voice
whose envelope follows one mouth), the VAD, the landmarks it relies on, and real GRID clips."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from perceptcodec.io.audio import audio_window, load_audio_mono
from perceptcodec.saliency.faces import FaceDetector, FaceTracker, Track, match_move
from perceptcodec.saliency.motion import MotionSaliency
from perceptcodec.saliency.speaker import MATCH_WIDTH, ActiveSpeaker, EnergyVad

FPS = 25.0
RATE = ActiveSpeaker.audio_rate
TILE_W, TILE_H = 160, 120


def syllables(seconds: float, seed: int, start: float = 0.0, stop: float = 1e9) -> np.ndarray:
    """Mouth opening 0..1 at 1 kHz: random syllable bumps (0.12-0.3 s) with gaps
    (0.05-0.35 s), only between ``start`` and ``stop`` seconds."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 1000)
    out = np.zeros(n, np.float32)
    t = start + rng.uniform(0, 0.2)
    while t < min(seconds, stop):
        length = rng.uniform(0.12, 0.3)
        a, b = int(t * 1000), min(int((t + length) * 1000), n, int(stop * 1000))
        if b > a:
            out[a:b] = np.sin(np.linspace(0, np.pi, int((t + length) * 1000) - a)[: b - a]) ** 2
        t += length + rng.uniform(0.05, 0.35)
    return out


def voice(opening: np.ndarray, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like audio at RATE: harmonics of ~140 Hz (a little breathy noise) with
    the amplitude envelope of ``opening`` (1 kHz), plus a quiet noise floor."""
    rng = np.random.default_rng(seed)
    n = int(len(opening) / 1000 * RATE)
    t = np.arange(n) / RATE
    env = np.interp(t, np.arange(len(opening)) / 1000, opening)
    f0 = 140 + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    out = 0.2 * env * (tone + 0.3 * rng.standard_normal(n)) + 0.001 * rng.standard_normal(n)
    return out.astype(np.float32)


def face_tile(opening: float, seed: int) -> np.ndarray:
    """A TILE_H x TILE_W x 3 textured 'face' whose dark mouth opens by ``opening`` (0..1)."""
    rng = np.random.default_rng(seed)  # same texture every frame: only the mouth changes
    tile = rng.integers(60, 90, (TILE_H, TILE_W, 3)).astype(np.uint8)
    cv2.ellipse(tile, (80, 60), (32, 44), 0, 0, 360, (200, 170, 150), -1)
    skin = rng.integers(-12, 12, (TILE_H, TILE_W, 1))
    tile = np.clip(tile.astype(int) + skin, 0, 255).astype(np.uint8)
    for x in (68, 92):
        cv2.circle(tile, (x, 48), 4, (40, 30, 30), -1)
    cv2.ellipse(tile, (80, 83), (11, int(1 + 8 * opening)), 0, 0, 360, (60, 20, 30), -1)
    return tile


def tile_track(track_id: int, col: int) -> Track:
    x = col * TILE_W
    box = np.array([x + 48, 16, x + 112, 104], np.float32)
    marks = np.array([[68, 48], [92, 48], [80, 64], [69, 83], [91, 83]], np.float32)
    return Track(track_id, box, 0.9, landmarks=marks + np.array([x, 0], np.float32))


def run(
    openings: list[np.ndarray], audio: np.ndarray | None, seconds: float, **params
) -> list[int]:
    """Top-ranked tile per frame for tiles side by side with the given mouth openings."""
    asd = ActiveSpeaker(**params)
    motion = MotionSaliency()
    tracks = [tile_track(10 + i, i) for i in range(len(openings))]
    top = []
    for k in range(int(seconds * FPS)):
        t = k / FPS
        i = int(t * 1000)
        rgb = np.concatenate(
            [face_tile(float(o[i]), seed=j) for j, o in enumerate(openings)], axis=1
        )
        motion(rgb)
        window = None if audio is None else audio_window(audio, RATE, t, asd.audio_window_s)
        probs = asd(rgb, tracks, motion.flow, window, t)
        assert set(probs) == {tr.id for tr in tracks}
        assert all(0.0 <= p <= 1.0 for p in probs.values())
        top.append(max(probs, key=probs.get) - 10)
    return top


def test_the_moving_mouth_wins_over_a_still_one():
    moving = syllables(4.0, seed=1)
    still = np.zeros_like(moving)
    for order in ([moving, still], [still, moving]):
        top = run(order, None, 4.0)
        speaker = 0 if order[0] is moving else 1
        assert np.mean(np.array(top[25:]) == speaker) > 0.9


@pytest.mark.parametrize("follow", [0, 1])
def test_the_mouth_in_sync_with_the_audio_wins(follow):
    # both mouths move alike; only one moves with the voice
    mouths = [syllables(6.0, seed=3), syllables(6.0, seed=4)]
    top = run(mouths, voice(mouths[follow]), 6.0)
    assert np.mean(np.array(top[50:]) == follow) > 0.8


def test_with_sound_a_flickering_silent_listener_does_not_beat_the_talker():
    """Brightness flicker changes the listener's mouth as much as its eyes: the mouth-over-eyes
    level stays low, and the talker in sync with the voice wins every frame. (The raw mouth
    activity in its place, ``silent_cap=None``, picks the listener on 14 % of frames.)"""
    talk = syllables(6.0, seed=3)
    audio = voice(talk)
    asd, motion = ActiveSpeaker(), MotionSaliency()
    tracks = [tile_track(10, 0), tile_track(11, 1)]
    top = []
    for k in range(int(6.0 * FPS)):
        t = k / FPS
        listener = face_tile(0.0, seed=1).astype(np.float32) * (1 + 0.2 * np.sin(2.1 * k))
        rgb = np.concatenate(
            [face_tile(float(talk[int(t * 1000)]), seed=0), np.clip(listener, 0, 255)], axis=1
        ).astype(np.uint8)
        motion(rgb)
        probs = asd(rgb, tracks, motion.flow, audio_window(audio, RATE, t, asd.audio_window_s), t)
        top.append(max(probs, key=probs.get))
    assert np.mean(np.array(top[25:]) == 10) > 0.98


def _zoomed(tile: np.ndarray, scale: float) -> np.ndarray:
    """``tile`` magnified by ``scale`` about its face centre (80, 60), same size."""
    m = cv2.getRotationMatrix2D((80.0, 60.0), 0.0, scale)
    return cv2.warpAffine(tile, m, (TILE_W, TILE_H), flags=cv2.INTER_LINEAR)


def test_without_audio_a_talker_counts_and_a_zoomed_still_face_does_not():
    """Left: a still face under a slow 1.25x zoom with sensor noise (the whole face changes);
    right: a talking face. Without audio only the mouth-over-eyes change counts."""
    asd, motion = ActiveSpeaker(), MotionSaliency()
    opening = syllables(4.0, seed=7)
    tracks = [tile_track(0, 0), tile_track(1, 1)]
    rng = np.random.default_rng(0)
    probs = []
    for k in range(int(4.0 * FPS)):
        t = k / FPS
        still = _zoomed(face_tile(0.0, seed=0), 1.0 + 0.25 * t / 4.0)
        rgb = np.concatenate([still, face_tile(float(opening[int(t * 1000)]), seed=1)], axis=1)
        rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
        motion(rgb)
        out = asd(rgb, tracks, motion.flow, None, t)
        probs.append((out[0], out[1]))
    late = np.array(probs[int(FPS) :])
    assert (late[:, 0] < 0.5).mean() > 0.9  # the zoomed still face is not talking
    assert (late[:, 1] > 0.5).mean() > 0.8  # the talker is
    assert asd.features[0]["eyes"] > 0  # the eye patch changes under the zoom too


def test_a_still_face_under_zoom_and_pan_is_no_talker_at_saliency_stride_2():
    """Left: a still face magnified 1 -> 1.25x about a point that drifts off the face (a camera
    zoom with a pan: the face scales and slides by fractions of a pixel per frame, its box and
    landmarks following); right: a talker. Frames 80 ms apart, as the prior sees a 25 fps
    video at its default stride 2. The cue compares head-aligned patches at sub-pixel
    positions with the head's scale, so the zoom is no mouth motion (the cue of 9c71cda, with
    whole-pixel patches moved by the head's median flow, called this face a talker on 45 %
    of the frames)."""
    asd, motion = ActiveSpeaker(), MotionSaliency()
    opening = syllables(4.0, seed=7)
    base = tile_track(0, 0)
    rng = np.random.default_rng(0)
    probs = []
    for k in range(0, int(4.0 * FPS), 2):
        t = k / FPS
        a = t / 4.0
        s = 1.0 + 0.25 * a
        cx, cy = 80 - 30 * a, 60 - 20 * a  # the zoom's centre drifts toward the top left
        m = np.float32([[s, 0, 80 - s * cx], [0, s, 60 - s * cy]])
        still = cv2.warpAffine(face_tile(0.0, seed=0), m, (TILE_W, TILE_H), flags=cv2.INTER_AREA)
        rgb = np.concatenate([still, face_tile(float(opening[int(t * 1000)]), seed=1)], axis=1)
        rgb = np.clip(rgb + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8)
        zoomed = Track(
            0,
            (base.box.reshape(2, 2) * s + m[:, 2]).ravel().astype(np.float32),
            0.9,
            landmarks=(base.landmarks * s + m[:, 2]).astype(np.float32),
        )
        motion(rgb)
        out = asd(rgb, [zoomed, tile_track(1, 1)], motion.flow, None, t)
        probs.append((out[0], out[1]))
    late = np.array(probs[int(FPS / 2) :])
    assert (late[:, 0] >= 0.6).mean() < 0.05  # 0.6: where the attention switches a talker on
    assert (late[:, 1] >= 0.6).mean() > 0.8


def _textured(h: int, w: int, seed: int) -> np.ndarray:
    """An h x w grey picture with texture at several scales (a face-like template to match)."""
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 255, (h, w)).astype(np.uint8)
    return cv2.addWeighted(
        cv2.GaussianBlur(grey, (0, 0), 1.5), 0.6, cv2.GaussianBlur(grey, (0, 0), 4), 0.4, 0
    )


@pytest.mark.parametrize("width", [16, 80])  # a small face, and one matched on a shrunk copy
def test_match_move_finds_a_sub_pixel_move(width):
    before = _textured(200, 300, seed=width)
    move = (2.4, -1.7)
    now = cv2.warpAffine(before, np.float32([[1, 0, move[0]], [0, 1, move[1]]]), (300, 200))
    box = np.array([100, 80, 100 + width, 80 + 1.2 * width], np.float32)
    dx, dy = match_move(before, now, box, (0.0, 0.0), subpixel=True, max_width=MATCH_WIDTH)
    assert abs(dx - move[0]) < 0.25 and abs(dy - move[1]) < 0.25
    assert match_move(before, now, box, (0.0, 0.0)) == (2.0, -2.0)  # whole pixels: the tracker
    flat = np.full_like(before, 128)
    assert match_move(flat, flat, box, (0.0, 0.0)) is None  # nothing to match


def test_match_move_refuses_a_sliver_it_would_shrink_to_nothing():
    wide = _textured(200, 640, seed=1)
    sliver = np.array([10, 80, 600, 86], np.float32)  # 590 x 6 px: < 1 px high at 32 wide
    assert match_move(wide, wide, sliver, (0.0, 0.0), subpixel=True, max_width=32) is None
    assert match_move(wide, wide, sliver, (0.0, 0.0)) == (0.0, 0.0)  # full size: found


def test_a_patch_moved_by_a_fraction_of_a_pixel_is_hardly_a_change():
    """The patch fit is sub-pixel: a mouth region whose head moved by (0.6, -0.4) px that the
    head's motion missed changes ~3x less with the fit than compared in place (0.3 and 0.2
    patch pixels: a whole-pixel fit would find nothing better than in place)."""
    from perceptcodec.saliency.speaker import _HeadMotion

    before = _textured(120, 160, seed=3)
    now = cv2.warpAffine(before, np.float32([[1, 0, 0.6], [0, 1, -0.4]]), (160, 120))
    rect = (50.0, 40.0, 98.0, 72.0)  # 2 px per patch pixel
    change = {}
    for search in (0, 2):
        asd = ActiveSpeaker(patch_search=search)
        asd._grey_prev = before.astype(np.uint8)
        change[search] = asd._change(now.astype(np.uint8), rect, _HeadMotion())[0]
    assert change[2] < 0.5 * change[0]


def _drifting_talk(seconds: float, **params) -> float:
    """Share of frames (after the first second) on which the talker of two small faces (~22 px
    wide) drifting over a textured background at up to ~7 px per look is ranked first (by
    probability, however low: the thin synthetic glasses change under resampling, so neither
    face reaches the attention's switch-on level); the cue looks every second frame of 25
    frames/s, as the prior does at its default stride."""
    asd, motion = ActiveSpeaker(**params), MotionSaliency()
    opening = syllables(seconds, seed=11)
    back = cv2.cvtColor(_textured(180, 320, seed=5), cv2.COLOR_GRAY2RGB)
    scale = 0.35
    face_mask = (
        cv2.ellipse(np.zeros((TILE_H, TILE_W), np.uint8), (80, 60), (34, 46), 0, 0, 360, 1, -1) > 0
    )
    hits = []
    for k in range(0, int(seconds * FPS), 2):
        t = k / FPS
        rgb = back.copy()
        tracks = []
        for i, talk in enumerate([True, False]):
            phase = 2 * np.pi * (t / 3.0 + i / 2)
            x = 60 + 160 * i + 40 * np.cos(phase)
            y = 60 + 30 * np.sin(phase)
            tile = face_tile(0.6 * float(opening[int(t * 1000)]) if talk else 0.0, seed=i)
            tile[~face_mask] = (40, 150, 170)  # a flat backdrop, as in a studio: no texture
            cv2.rectangle(tile, (56, 40), (104, 56), (30, 30, 30), 5)  # glasses: eye edges
            m = np.float32([[scale, 0, x], [0, scale, y]])
            small = cv2.warpAffine(tile, m, (320, 180), flags=cv2.INTER_AREA)
            inside = cv2.warpAffine(np.ones(tile.shape[:2], np.float32), m, (320, 180)) > 0.5
            rgb[inside] = small[inside]
            ref = tile_track(i, 0)
            tracks.append(
                Track(
                    i,
                    ref.box * scale + np.float32([x, y, x, y]),
                    0.9,
                    landmarks=ref.landmarks * scale + np.float32([x, y]),
                )
            )
        motion(rgb)
        out = asd(rgb, tracks, motion.flow, None, t)
        if t >= 1.0:
            hits.append(out[0] > out[1])
    return float(np.mean(hits))


def test_small_drifting_faces_the_talker_wins():
    """Small faces with glasses on a flat backdrop, moving several pixels between looks: the
    128-pixel flow misjudges their motion, so patches compared where it puts them change at
    the glasses more than at the mouth, for both faces. Matching the face's own picture
    (sub-pixel) aligns them and the talker ranks first."""
    assert _drifting_talk(5.0) > 0.9
    assert _drifting_talk(5.0, face_match=False, patch_search=0) < 0.5  # the cue before


def _talker_level(fps: float, **params) -> float:
    """Median mouth-over-eyes level of a talking tile beside a still one, seen at ``fps``
    frames/s, after the first two seconds."""
    talk = syllables(6.0, seed=3)
    asd, motion = ActiveSpeaker(**params), MotionSaliency()
    tracks = [tile_track(10, 0), tile_track(11, 1)]
    levels = []
    for k in range(int(6.0 * fps)):
        t = k / fps
        faces = [face_tile(float(talk[int(t * 1000)]), 0), face_tile(0.0, 1)]
        rgb = np.concatenate(faces, axis=1)
        motion(rgb)
        asd(rgb, tracks, motion.flow, None, t)
        if t >= 2.0:
            levels.append(asd.features[10]["silent_level"])
    return float(np.median(levels))


def test_the_talker_reads_alike_at_any_frame_rate():
    """The cue compares frames ~80 ms apart, as it was calibrated: at 60 frames/s it looks 5
    frames back, and the talker's level is that at 12.5 frames/s. Comparing neighbours (VAM-Net's
    cue, ``compare_s=0``) loses nearly half of it."""
    slow = _talker_level(12.5)
    assert 0.85 < _talker_level(60.0) / slow < 1.15
    assert _talker_level(60.0, compare_s=0.0) / slow < 0.7


def test_the_compared_frame_lies_80_ms_back_with_the_flows_between_summed():
    asd = ActiveSpeaker()
    rgb = np.zeros((8, 8, 3), np.uint8)
    flows = [None, *(np.full((4, 4, 2), k, np.float32) for k in range(1, 8))]
    for k in range(6):  # 50 frames/s
        asd(rgb, [], flows[k], None, 0.02 * k)
    total = asd._reference(0.12, flows[6])
    assert asd._span == 4 and total is not None and (total == 3 + 4 + 5 + 6).all()
    asd(rgb, [], None, None, 0.12)  # a frame without flow: none across it
    assert asd._reference(0.14, flows[7]) is None
    for _ in range(100):  # a clock that stalls: the frame before, and bounded memory
        asd(rgb, [], flows[1], None, 0.2)
    assert asd._span == 1 and len(asd._past) <= 32


def test_hysteresis_keeps_the_speaker_for_half_a_second():
    a = syllables(5.0, seed=5, stop=2.5)  # A talks until 2.5 s
    b = syllables(5.0, seed=6, start=2.5)  # then B
    top = np.array(run([a, b], None, 5.0))
    t = np.arange(len(top)) / FPS
    # find when A really stopped moving (end of its last syllable)
    stopped = np.nonzero(a)[0][-1] / 1000
    assert (top[(t > 1.0) & (t < stopped)] == 0).mean() > 0.9
    held = (t >= stopped) & (t < stopped + 0.4)
    assert (top[held] == 0).all()  # still watched ~0.4 s after it stopped
    assert (top[t > stopped + 1.5] == 1).mean() > 0.9  # then attention moves to B


def test_probabilities_and_reset():
    asd = ActiveSpeaker()
    rgb = np.zeros((TILE_H, TILE_W, 3), np.uint8)
    assert asd(rgb, [], None, None, 0.0) == {}
    out = asd(rgb, [tile_track(3, 0)], None, np.zeros(1024, np.float32), 0.04)
    assert list(out) == [3] and 0 <= out[3] <= 1
    asd.reset()
    assert asd._tracks == {}


def test_the_first_frame_interval_replaces_the_initial_guess():
    """At saliency stride 2 of a 25 frames/s video the cue sees frames 80 ms apart from the
    second frame on (it once assumed 40 ms for its first frames: levels 1.5x too high)."""
    speaker = ActiveSpeaker()
    grey = np.zeros((72, 128, 3), np.uint8)
    for i in range(3):
        speaker(grey, [], None, None, 0.08 * i)
        assert i == 0 or speaker._dt == pytest.approx(0.08)


def test_a_shrunk_patch_is_the_whole_frame_blurred_then_sampled():
    """Large faces' patches are low-passed on the region they sample only; the result is the
    same as blurring the whole frame, near the edges too."""
    rng = np.random.default_rng(0)
    grey = cv2.GaussianBlur(rng.integers(0, 255, (90, 160), np.uint8), (0, 0), 1.0)
    for rect in [(40.3, 20.7, 100.9, 56.2), (-10.0, -5.5, 50.0, 30.0), (110.2, 60.1, 168.0, 95.0)]:
        sx, sy = (rect[2] - rect[0]) / 24, (rect[3] - rect[1]) / 16
        offsets = [rect[0] + 0.5 * sx - 0.5, rect[1] + 0.5 * sy - 0.5]
        whole = cv2.warpAffine(
            cv2.GaussianBlur(grey, (0, 0), 0.5 * sx),
            np.float32([[sx, 0, offsets[0]], [0, sy, offsets[1]]]),
            (24, 16),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        assert sx > 1.5 and (ActiveSpeaker._crop(grey, rect) == whole).all()


def test_mouth_rect_falls_back_to_the_lower_third_of_the_box():
    track = Track(0, np.array([0, 0, 60, 90], np.float32), 0.9)
    track.landmarks = np.full((5, 2), np.nan, np.float32)
    x0, y0, x1, y1 = ActiveSpeaker.mouth_rect(track)
    assert (x0 + x1) / 2 == pytest.approx(30) and (y0 + y1) / 2 == pytest.approx(75)


def test_vad_tells_voice_from_noise_and_silence():
    rng = np.random.default_rng(0)
    vad = EnergyVad(RATE)
    quiet = 0.001 * rng.standard_normal(RATE * 2).astype(np.float32)
    speech = voice(np.ones(2000, np.float32))
    noise = (0.1 * rng.standard_normal(RATE * 2)).astype(np.float32)
    signal = np.concatenate([quiet, speech, noise])
    probs = []
    for k in range(int(6 * FPS)):
        t = k / FPS
        probs.append(vad(audio_window(signal, RATE, t, 0.064), t))
    probs = np.array(probs)
    t = np.arange(len(probs)) / FPS
    assert probs[t < 1.9].max() < 0.2
    assert probs[(t > 2.1) & (t < 3.9)].mean() > 0.8
    assert (probs[t > 4.1] < 0.5).all()  # loud white noise is never called speech
    assert vad(np.zeros(1024, np.float32), 7.0) == 0.0


def test_tracker_landmarks_follow_the_flow():
    class Detector:
        def detect(self, rgb):
            boxes = np.array([[40, 20, 60, 40, 0.9]], np.float32)
            marks = np.array([[[45, 28], [55, 28], [50, 32], [46, 36], [54, 36]]], np.float32)
            return boxes, marks

        def __call__(self, rgb):
            return self.detect(rgb)[0]

    tracker = FaceTracker(Detector(), stride=100)
    frame = np.zeros((90, 160, 3), np.uint8)
    first = tracker(frame)[0].landmarks.copy()
    assert first[3] == pytest.approx([46, 36])
    flow = np.zeros((45, 80, 2), np.float32)
    flow[:, 15:60] = (1.5, -0.5)
    tracks = tracker(frame, flow)
    assert tracks[0].landmarks == pytest.approx(first + [3, -1])


def _frames(path, n=None):
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if n and len(out) == n:
                break
    return out


@pytest.mark.data
def test_centerface_landmarks_on_a_real_face(shared_data):
    frame = _frames(shared_data / "video/talking/WDA_KatieHill_000.mp4", 1)[0]
    boxes, marks = FaceDetector().detect(frame)
    assert boxes.shape == (1, 5) and marks.shape == (1, 5, 2)
    x0, y0, x1, y1, _ = boxes[0]
    (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = marks[0]
    assert x0 < lex < nx < rex < x1 and x0 < lmx < rmx < x1
    assert y0 < ley < ny < lmy < y1 and y0 < rey < ny < rmy < y1
    assert abs(ley - rey) < 0.1 * (y1 - y0)


@pytest.mark.data
def test_vad_against_the_grid_word_alignment(shared_data):
    grid = shared_data / "video/talking/grid"
    audio = load_audio_mono(grid / "id2_vcd_swwp2s.mpg", RATE)
    words = [line.split() for line in (grid / "swwp2s.align").read_text().splitlines()]
    vad = EnergyVad(RATE)
    hits = []
    for k in range(int(2.98 * FPS)):
        t = k / FPS
        p = vad(audio_window(audio, RATE, t, 0.064), t)
        # alignment units: 1/25000 s; speech = any word but "sil"
        truth = any(w != "sil" and int(a) / 25000 <= t < int(b) / 25000 for a, b, w in words)
        near_edge = any(abs(t - int(x) / 25000) < 0.1 for a, b, w in words for x in (a, b))
        if not near_edge:
            hits.append((p > 0.5) == truth)
    assert np.mean(hits) > 0.85


@pytest.mark.data
def test_speaker_beats_a_silent_person_in_a_real_composite(shared_data):
    """Two real GRID clips side by side with the audio of one; the other plays its silent
    lead-in forwards and backwards. Real CenterFace detections and tracking."""
    grid = shared_data / "video/talking/grid"
    talk = _frames(grid / "lwbsza.mpg")
    quiet = _frames(grid / "swiz3n.mpg")[2:14]  # its silent lead-in (0.08-0.56 s)
    quiet = quiet + quiet[::-1]
    audio = load_audio_mono(grid / "lwbsza.mpg", RATE)
    tracker = FaceTracker(FaceDetector(input_width=320), stride=10)
    motion, asd = MotionSaliency(), ActiveSpeaker()
    hits = []
    for k, frame in enumerate(talk):
        t = k / FPS
        rgb = np.concatenate([quiet[k % len(quiet)], frame], axis=1)  # speaker on the right
        rgb = cv2.resize(rgb, (320, 128), interpolation=cv2.INTER_AREA)
        motion(rgb)
        tracks = tracker(rgb, motion.flow)
        probs = asd(rgb, tracks, motion.flow, audio_window(audio, RATE, t, 0.064), t)
        if 1.0 <= t <= 2.5 and probs:  # the speech (0.68-2.52 s), after a short build-up
            best = max(tracks, key=lambda tr: probs[tr.id])
            hits.append((best.box[0] + best.box[2]) / 2 > 160)
    assert len(hits) > 30 and np.mean(hits) > 0.8
