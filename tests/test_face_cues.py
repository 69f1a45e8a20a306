"""Face cues for VAM-Net's face nodes: values on known boxes, the audio window handed to the
active-speaker cue, and the cue wrapper a model without its own flow uses."""

from __future__ import annotations

import numpy as np
import pytest

from perceptcodec.saliency.face_cues import (
    CUE_COUNT,
    CUE_NAMES,
    SpeakingCue,
    face_cues,
    resample_window,
)
from perceptcodec.saliency.faces import Track
from perceptcodec.saliency.vamnet.spec import AUDIO_RATE, AUDIO_SAMPLES


def test_cues_on_known_boxes():
    boxes = np.array([[0.4, 0.4, 0.6, 0.6], [0.0, 0.0, 0.1, 0.1], [0.0, 0.0, 1.0, 1.0]])
    cues = face_cues(boxes, np.array([0.9, 0.0, 1.5]))
    assert cues.shape == (3, CUE_COUNT) and CUE_NAMES == ("speaking", "size", "centre")
    assert cues[:, 0] == pytest.approx([0.9, 0.0, 1.0])  # clipped to a probability
    assert cues[:, 1] == pytest.approx([0.2, 0.1, 1.0])  # sqrt of the frame share
    assert cues[0, 2] == pytest.approx(0.0) and cues[2, 2] == pytest.approx(0.0)
    assert cues[1, 2] == pytest.approx(np.hypot(0.45, 0.45) / np.hypot(0.5, 0.5))


def test_the_speaker_gets_the_central_64_ms_at_16_khz():
    t = np.arange(AUDIO_SAMPLES) / AUDIO_RATE
    window = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    window[: AUDIO_SAMPLES // 2 - 1000] = 0  # only the centre carries sound
    window[AUDIO_SAMPLES // 2 + 1000 :] = 0
    out = resample_window(window, AUDIO_RATE, 16000, 0.064)
    assert out.shape == (1024,) and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(1024, 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=16)
    assert np.abs(out).max() == pytest.approx(1.0, abs=0.01)


def test_speaking_cue_follows_the_flow_and_hears_the_window():
    cue = SpeakingCue(AUDIO_RATE)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (96, 160, 3), np.uint8)
    track = Track(
        id=3,
        box=np.array([40.0, 20.0, 100.0, 80.0]),
        score=0.9,
        landmarks=np.array([[60, 40], [80, 40], [70, 52], [62, 64], [78, 64]], np.float32),
    )
    assert cue.flow(base) is None  # a first frame has no flow
    t = np.arange(AUDIO_SAMPLES) / AUDIO_RATE
    tone = (0.1 * np.sqrt(2) * np.sin(2 * np.pi * 300 * t)).astype(np.float32)  # RMS 0.1
    for i in range(1, 4):
        flow = cue.flow(np.roll(base, 2 * i, axis=1))
        assert flow is not None and flow.shape[2] == 2
        probs = cue(base, [track], tone, i / 25)
    assert set(probs) == {3} and 0.0 <= probs[3] <= 1.0
    assert cue.speaker.vad.level_db == pytest.approx(-20, abs=1)  # heard: 0.1 RMS = -20 dBFS
    cue.reset()
    assert cue.motion.flow is None
