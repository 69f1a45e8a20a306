"""Per-face cues as features of VAM-Net's face nodes (issue 9, item 5).

VAM-Net's face nodes see a 48 x 48 crop of one frame at deployment, so nothing in them says
who is talking, how big a face is or where it sits. These cues add that, per face slot:

- ``speaking``: the active-speaker probability of :class:`~perceptcodec.saliency.speaker.
  ActiveSpeaker` (0..1; mouth activity over the eyes' without sound, mouth-voice synchrony with
  it), computed causally: its ring buffers carry the last seconds of every track forward, so
  a one-frame graph step still gets the temporal evidence;
- ``size``: the square root of the box's share of the frame (0..1);
- ``centre``: the distance of the box's centre from the frame's centre, in half-diagonals
  (0 at the centre, 1 in a corner).

Torch-free: the training cache, the ONNX runtime and the torch runtime all use it.
"""

from __future__ import annotations

import numpy as np

from perceptcodec.saliency.faces import Track
from perceptcodec.saliency.motion import MotionSaliency
from perceptcodec.saliency.speaker import ActiveSpeaker

CUE_NAMES = ("speaking", "size", "centre")
CUE_COUNT = len(CUE_NAMES)
CUE_STRIDE = 2  # frames between the speaker cue's looks: the prior's default saliency stride,
# where its parameters were set (eval/results/active_speaker.md); training and inference alike


def face_cues(boxes: np.ndarray, speaking: np.ndarray) -> np.ndarray:
    """(K, CUE_COUNT) float32 cues of K faces: ``boxes`` K x 4 (x0, y0, x1, y1) in [0, 1] of
    the frame, ``speaking`` K probabilities 0..1 (0 where unknown, e.g. a still image)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    w = np.clip(boxes[:, 2] - boxes[:, 0], 0, 1)
    h = np.clip(boxes[:, 3] - boxes[:, 1], 0, 1)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    centre = np.hypot(cx - 0.5, cy - 0.5) / np.hypot(0.5, 0.5)
    speaking = np.clip(np.asarray(speaking, np.float32).reshape(-1), 0, 1)
    return np.stack([speaking, np.sqrt(w * h), np.clip(centre, 0, 1)], axis=1).astype(np.float32)


def resample_window(samples: np.ndarray, rate: int, to_rate: int, seconds: float) -> np.ndarray:
    """The central ``seconds`` of a mono window at ``rate`` Hz, linearly resampled to
    ``to_rate`` Hz (float32; speech energy lies far below both Nyquist limits here)."""
    x = np.asarray(samples, np.float32).reshape(-1)
    n_out = max(int(round(seconds * to_rate)), 1)
    span = seconds * rate
    start = (len(x) - span) / 2
    at = start + (np.arange(n_out) + 0.5) * rate / to_rate - 0.5
    return np.interp(at, np.arange(len(x)), x).astype(np.float32)


class SpeakingCue:
    """The active-speaker cue for a model without optical flow of its own: a
    :class:`MotionSaliency` (DIS flow on a 128-pixel-wide grey copy) feeds the face tracker and
    :class:`ActiveSpeaker`. Per frame: ``flow(rgb)`` first (the tracker follows it), then
    ``__call__(rgb, tracks, audio, t)`` -> {track id: probability}; ``audio`` mono float32 at
    ``audio_rate`` Hz, any window centred on ``t`` (resampled to the speaker's 16 kHz and
    trimmed to its 64 ms), or None."""

    def __init__(self, audio_rate: int) -> None:
        self.audio_rate = audio_rate
        self.motion = MotionSaliency()
        # the cue as the shipped weights were trained with it: with sound, raw mouth activity;
        # head motion from the flow alone, patches compared in place, with the frame before
        self.speaker = ActiveSpeaker(
            silent_cap=None, face_match=False, patch_search=0, compare_s=0.0
        )

    def reset(self) -> None:
        self.motion.reset()
        self.speaker.reset()

    def flow(self, rgb: np.ndarray) -> np.ndarray | None:
        """Optical flow from the previous frame to ``rgb`` (h x w x 2, None on a first frame)."""
        return self.motion.track(rgb)

    def __call__(
        self, rgb: np.ndarray, tracks: list[Track], audio: np.ndarray | None, t: float
    ) -> dict[int, float]:
        window = None
        if audio is not None and len(audio):
            window = resample_window(
                audio, self.audio_rate, self.speaker.audio_rate, self.speaker.audio_window_s
            )
        return self.speaker(rgb, tracks, self.motion.flow, window, t)
