"""Active-speaker detection per face track: who is talking, hence which face people watch.

Viewers of multi-person video look at one face at a time: the person talking. ``ActiveSpeaker``
gives, frame by frame, a speaking probability per face track, from a logistic combination
(coefficients fitted on the tuning clips of ``eval/active_speaker.py`` by ``eval/fit_speaker.py``)
of these features per track:

- mouth activity: grey-level change of an aligned mouth patch (from the track's landmarks) with
  the head's own motion (median optical flow over the face box) compensated, over the patch's
  contrast; the same for an eyes/forehead patch of the same face (its non-mouth change: head
  turns, blur, detection jitter, lighting) -- log means over a short (``visual_window_s``) and
  a long (``long_window_s``) window and the spread of the mouth's log change;
- mouth opening speed: vertical shift of the lower half of the mouth patch's row profile
  minus the upper half's (1-D Lucas-Kanade between the compensated patches), its RMS over
  ``long_window_s``;
- audio-visual synchrony (when audio is given): Pearson correlation, over ``sync_window_s``
  and best over audio-video offsets within ``max_lag_s``, of the mouth's change with the
  speech-band (300-3000 Hz) envelope (dB over its floor, from ``EnergyVad``) and with the
  envelope's absolute change, and of the opening speed with the envelope's signed change (a
  mouth opens as the voice rises);
- every feature also relative to the other faces of the frame (minus their mean), since one
  face among several is the talker.

A speaker's probability is then held for ``hold_s`` after it drops and released with time
constant ``release_s`` (viewers keep watching a speaker ~0.5-1 s after they stop), so
attention switches with hysteresis.

Everything runs causally frame by frame: the state lives in ring buffers; the only look-ahead
is half of the audio window the pipeline centres on the frame time. Track boxes and landmarks
are in pixels of the ``rgb`` given, whatever its size (patches are resampled to fixed sizes).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from perceptcodec.saliency.faces import Track

_MOUTH = (24, 16)  # mouth patch size (width, height) after resampling
_UPPER = (24, 12)  # eyes/forehead patch size
_EPS = 0.02  # added to changes before the log

# Per-track features (see ActiveSpeaker.feature_matrix); each also relative to the others.
BASE_FEATURES = (
    "mouth_s",
    "mouth_l",
    "upper_s",
    "upper_l",
    "mouth_sd",
    "open_sd",
    "sync_env",
    "sync_denv",
    "sync_open",
)
FEATURES = BASE_FEATURES + tuple(f"rel_{n}" for n in BASE_FEATURES)
VISUAL_FEATURES = tuple(n for n in FEATURES if "sync" not in n)

# Logistic coefficients (feature name -> weight, "bias"), fitted by eval/fit_speaker.py.
COEF_AUDIO: dict[str, float] = {
    "bias": -1.2702,
    "rel_sync_env": 0.4851,
    "rel_sync_denv": 6.1562,
    "rel_sync_open": 8.1116,
}
COEF_VISUAL: dict[str, float] = {
    "bias": -9.8076,
    "mouth_s": 0.945,
    "mouth_l": -2.8268,
    "upper_s": 0.4681,
    "upper_l": -2.0864,
    "mouth_sd": 1.8989,
    "open_sd": 0.7264,
    "rel_mouth_s": 0.7247,
    "rel_mouth_l": 2.328,
    "rel_upper_s": -1.5998,
    "rel_upper_l": 5.1387,
    "rel_mouth_sd": -8.8622,
    "rel_open_sd": 3.7233,
}


def _sigmoid(x):  # noqa: ANN001, ANN202 - float or array
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))


class EnergyVad:
    """Voice-activity detector on short mono windows, one call per video frame.

    Speech = level (dB of the RMS, full scale = 0 dB) well above an adaptive noise floor (a low
    percentile of the last ``floor_s`` seconds of levels; without history, the current level)
    and, softly, a spectrum that is neither flat (noise) nor outside the speech band.
    ``__call__(samples, t)`` returns the probability of speech (0..1) of the window and keeps
    ``level_db`` (dB), ``above_db`` (dB over the floor) and ``band_above_db`` (dB of the
    300-3000 Hz band over its own floor) of the last call."""

    def __init__(
        self,
        rate: int = 16000,
        floor_s: float = 6.0,
        floor_percentile: float = 10.0,
        margin_db: float = 10.0,
        slope_db: float = 3.0,
        silence_db: float = -65.0,
    ) -> None:
        self.rate = rate
        self.floor_s = floor_s
        self.floor_percentile = floor_percentile
        self.margin_db = margin_db
        self.slope_db = slope_db
        self.silence_db = silence_db
        self._levels: deque[tuple[float, float, float]] = deque()
        self.level_db = -120.0
        self.above_db = 0.0
        self.band_above_db = 0.0
        freqs = np.fft.rfftfreq(512, 1.0 / rate)
        self._band = (freqs >= 80) & (freqs <= 4000)
        self._speech_band = (freqs >= 300) & (freqs <= 3000)
        self._hann = np.hanning(512).astype(np.float32)

    def reset(self) -> None:
        self._levels.clear()
        self.level_db, self.above_db, self.band_above_db = -120.0, 0.0, 0.0

    def __call__(self, samples: np.ndarray, t: float) -> float:
        """Speech probability (0..1) of mono float32 ``samples`` (any length >= 64, at
        ``rate`` Hz, full scale +-1) around time ``t`` (s)."""
        x = samples.astype(np.float32, copy=False)
        level = 10.0 * np.log10(float(np.mean(x * x)) + 1e-12)
        power = None
        band_level = level
        if len(x) >= 512:
            # spectrum of the central 512 samples (32 ms at 16 kHz)
            mid = (len(x) - 512) // 2
            power = np.abs(np.fft.rfft(x[mid : mid + 512] * self._hann)) ** 2 + 1e-12
            band_level = 10.0 * np.log10(float(power[self._speech_band].sum()) / 512 + 1e-12)
        self.level_db = level
        self._levels.append((t, level, band_level))
        while self._levels and self._levels[0][0] < t - self.floor_s:
            self._levels.popleft()
        # the floor_percentile-th percentile of each column (as np.percentile, linear)
        history = np.sort(np.array(self._levels)[:, 1:], axis=0)
        pos = self.floor_percentile / 100.0 * (len(history) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(history) - 1)
        floor, band_floor = history[lo] + (history[hi] - history[lo]) * (pos - lo)
        self.above_db = level - float(floor)
        self.band_above_db = band_level - float(band_floor)
        if level < self.silence_db:
            return 0.0
        p = float(_sigmoid((self.above_db - self.margin_db) / self.slope_db))
        if power is not None:
            # share of energy in the speech band and flatness (geometric / arithmetic mean of
            # the power spectrum; ~0.6+ for white noise)
            band = float(power[self._band].sum() / power.sum())
            flatness = float(np.exp(np.mean(np.log(power))) / np.mean(power))
            voiced = _sigmoid((band - 0.6) / 0.06) * _sigmoid((0.5 - flatness) / 0.05)
            p *= 0.3 + 0.7 * float(voiced)  # unvoiced consonants are speech too, noise is flat
        return p


@dataclass
class _TrackState:
    """Per-track ring buffers (aligned with the speaker's frame ring; NaN where the track was
    absent) of the log mouth and eyes/forehead changes and the mouth's opening speed; the last
    frame's box and patches; the held probability."""

    mouth: np.ndarray
    upper: np.ndarray
    opening: np.ndarray
    box: np.ndarray | None = None
    patches: tuple[np.ndarray | None, np.ndarray | None] | None = None
    held: float = 0.0
    held_t: float = -1e9
    last_t: float = -1e9


def _window_mean(x: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Row means of ``x`` (n x m) over its finite entries; ``fill`` for rows without any."""
    ok = np.isfinite(x)
    count = ok.sum(axis=1)
    total = np.where(ok, x, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), fill)


class ActiveSpeaker:
    """Speaking probability per face track, frame by frame.

    Call ``__call__(rgb, tracks, flow, audio, t)`` once per frame, in order, and ``reset()``
    between videos. Inputs: ``rgb`` H x W x 3 uint8 (any size; the track boxes and landmarks
    are in its pixels), ``tracks`` the frame's face tracks (``FaceTracker`` output), ``flow``
    the h x w x 2 float32 optical flow (dx, dy) from the previous frame to this one in pixels of
    an h x w copy of the frame (``MotionSaliency.flow``; None on a first frame or when not
    computed), ``audio`` mono float32 samples at ``audio_rate`` Hz, ``audio_window_s`` seconds
    centred on ``t`` (``perceptcodec.io.audio.audio_window``), or None for video without
    audio, and ``t`` the frame time in seconds (increasing). Returns {track id: probability
    0..1 that this face is the one talking}; the top-ranked face is the one viewers watch.
    ``features`` keeps the last frame's feature vectors ({track id: array in ``FEATURES``
    order}) for diagnostics and fitting.

    Cost: see eval/results/active_speaker.md (measured per frame with 2 and 4 faces, one core),
    on top of the flow the prior already computes.
    """

    audio_rate = 16000
    audio_window_s = 0.064  # 1024 samples centred on the frame: covers a frame at >= 16 fps
    ring = 96  # frames of history kept (3.8 s at 25 frames/s)
    min_sync_frames = 10  # shortest window for a synchrony estimate

    def __init__(
        self,
        visual_window_s: float = 0.6,
        long_window_s: float = 2.0,
        sync_window_s: float = 2.5,
        max_lag_s: float = 0.08,
        hold_s: float = 0.5,
        release_s: float = 0.3,
        coef_audio: dict[str, float] | None = None,
        coef_visual: dict[str, float] | None = None,
    ) -> None:
        self.visual_window_s = visual_window_s
        self.long_window_s = long_window_s
        self.sync_window_s = sync_window_s
        self.max_lag_s = max_lag_s
        self.hold_s = hold_s
        self.release_s = release_s
        self._w_audio, self._b_audio = self._weights(coef_audio or COEF_AUDIO)
        self._w_visual, self._b_visual = self._weights(coef_visual or COEF_VISUAL)
        self.vad = EnergyVad(self.audio_rate)
        self.reset()

    @staticmethod
    def _weights(coef: dict[str, float]) -> tuple[np.ndarray, float]:
        unknown = set(coef) - set(FEATURES) - {"bias"}
        if unknown:
            raise ValueError(f"unknown speaker features: {sorted(unknown)}")
        return np.array([coef.get(n, 0.0) for n in FEATURES]), float(coef.get("bias", 0.0))

    def reset(self) -> None:
        """Forget all state (call between videos)."""
        self._tracks: dict[int, _TrackState] = {}
        self._k = -1  # frame counter
        self._t_prev: float | None = None
        self._dt = 0.04  # frame interval estimate, s
        self._env = np.zeros(self.ring, np.float32)  # speech-band envelope, dB over its floor
        self._speech = np.zeros(self.ring, np.float32)  # speech probability per frame
        self._audio_seen = np.zeros(self.ring, bool)
        self._grey_prev: np.ndarray | None = None
        self.vad.reset()
        self.features: dict[int, np.ndarray] = {}  # last frame's features, for diagnostics

    # -- visual ---------------------------------------------------------------------------

    @staticmethod
    def mouth_rect(track: Track) -> tuple[float, float, float, float]:
        """Mouth region (x0, y0, x1, y1) in pixels: around the mouth corners of the landmarks,
        half the box wide and 0.3 of it high; the lower third of the box without landmarks."""
        x0, y0, x1, y1 = (float(v) for v in track.box[:4])
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        marks = track.landmarks
        if marks is not None and marks.shape == (5, 2) and np.isfinite(marks).all():
            cx, cy = (marks[3] + marks[4]) / 2
            cy += 0.04 * bh  # corners sit on the lip line; the moving jaw is below it
        else:
            cx, cy = (x0 + x1) / 2, y1 - bh / 6
        return cx - 0.25 * bw, cy - 0.15 * bh, cx + 0.25 * bw, cy + 0.15 * bh

    @staticmethod
    def upper_rect(track: Track) -> tuple[float, float, float, float]:
        """Eyes/forehead region (x0, y0, x1, y1) in pixels: 0.6 of the box wide, from 0.2 of
        its height above the eyes to 0.05 below them (the upper part of the box without
        landmarks)."""
        x0, y0, x1, y1 = (float(v) for v in track.box[:4])
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        marks = track.landmarks
        if marks is not None and marks.shape == (5, 2) and np.isfinite(marks).all():
            cx, cy = (marks[0] + marks[1]) / 2
        else:
            cx, cy = (x0 + x1) / 2, y0 + 0.4 * bh
        return cx - 0.3 * bw, cy - 0.2 * bh, cx + 0.3 * bw, cy + 0.05 * bh

    @staticmethod
    def _crop(
        grey: np.ndarray, rect: tuple[float, float, float, float], size: tuple[int, int]
    ) -> np.ndarray | None:
        h, w = grey.shape
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 4 or y1 - y0 < 3:
            return None
        return cv2.resize(grey[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA).astype(np.float32)

    @staticmethod
    def _change(now: np.ndarray | None, before: np.ndarray | None) -> tuple[float, float]:
        """(change, opening) between two patches: mean absolute grey change over the patch's
        contrast; and the opening speed: vertical shift (patch heights per frame) of the lower
        half's row profile minus the upper half's (1-D Lucas-Kanade); NaN when off-frame."""
        if now is None or before is None:
            return float("nan"), float("nan")
        sd = float(cv2.meanStdDev(now)[1][0, 0]) + 8.0
        change = float(cv2.norm(now, before, cv2.NORM_L1)) / now.size / sd
        p0, p1 = before.mean(axis=1), now.mean(axis=1)
        q = p0 + p1
        g = np.empty_like(q)  # gradient of the mean profile (as np.gradient)
        g[1:-1] = 0.25 * (q[2:] - q[:-2])
        g[0], g[-1] = 0.5 * (q[1] - q[0]), 0.5 * (q[-1] - q[-2])
        gd = g * (p1 - p0)
        gg = g * g
        h = len(g) // 2
        shift_up = -gd[:h].sum() / (gg[:h].sum() + 1.0)
        shift_low = -gd[h:].sum() / (gg[h:].sum() + 1.0)
        return change, float(shift_low - shift_up) / len(g)

    def _activity(
        self, grey: np.ndarray, track: Track, flow: np.ndarray | None, state: _TrackState
    ) -> tuple[float, float, float]:
        """(mouth change, eyes/forehead change, mouth opening speed) of one track against the
        previous frame at the head-motion-compensated position (NaN on a first frame).

        Between detections the tracker moves box and landmarks by the same shift (the median
        flow over the box): the box keeps its size, and the previous frame's patches at the
        previous rectangles are the compensated ones (kept, not cropped again). Otherwise the
        head's motion is the median flow over the box and the previous frame is cropped."""
        mouth_rect, upper_rect = self.mouth_rect(track), self.upper_rect(track)
        now = (
            self._crop(grey, mouth_rect, _MOUTH),
            self._crop(grey, upper_rect, _UPPER),
        )
        box = np.asarray(track.box[:4], np.float64)
        prev_box, before, state.box, state.patches = state.box, state.patches, box, now
        if self._grey_prev is None or self._grey_prev.shape != grey.shape:
            return float("nan"), float("nan"), float("nan")
        size = box[2:] - box[:2]
        if (
            prev_box is None
            or before is None
            or np.abs(size - (prev_box[2:] - prev_box[:2])).max() > 1e-3
        ):
            dx = dy = 0.0
            if flow is not None:
                fh, fw = flow.shape[:2]
                scale = grey.shape[1] / fw
                x0, y0, x1, y1 = (int(round(v / scale)) for v in box)
                face = flow[
                    max(y0, 0) : min(max(y1, y0 + 1), fh), max(x0, 0) : min(max(x1, x0 + 1), fw)
                ]
                if face.size:
                    dx, dy = (float(v) for v in np.median(face.reshape(-1, 2), axis=0) * scale)
            before = tuple(
                self._crop(self._grey_prev, (r[0] - dx, r[1] - dy, r[2] - dx, r[3] - dy), size)
                for r, size in ((mouth_rect, _MOUTH), (upper_rect, _UPPER))
            )
        mouth, opening = self._change(now[0], before[0])
        upper, _ = self._change(now[1], before[1])
        return mouth, upper, opening

    # -- the cue --------------------------------------------------------------------------

    def _idx(self, n: int) -> np.ndarray:
        """Ring indices of the last ``n`` frames, oldest first."""
        n = max(1, min(n, self._k + 1, self.ring))
        return np.arange(self._k - n + 1, self._k + 1) % self.ring

    def __call__(
        self,
        rgb: np.ndarray,
        tracks: list[Track],
        flow: np.ndarray | None,
        audio: np.ndarray | None,
        t: float,
    ) -> dict[int, float]:
        """{track id: speaking probability 0..1} for this frame (see the class docstring for
        the inputs' shapes and units)."""
        self._k += 1
        slot = self._k % self.ring
        if self._t_prev is not None and 0 < t - self._t_prev < 1.0:
            self._dt = 0.8 * self._dt + 0.2 * (t - self._t_prev)
        self._t_prev = t
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        has_audio = audio is not None and len(audio) > 0
        self._audio_seen[slot] = has_audio
        if has_audio:
            self._speech[slot] = self.vad(audio, t)
            self._env[slot] = max(self.vad.band_above_db - 6.0, 0.0)
        else:
            self._speech[slot] = self._env[slot] = 0.0
        states = []
        for track in tracks:
            state = self._tracks.get(track.id)
            if state is None:
                empty = np.full(self.ring, np.nan, np.float32)
                state = self._tracks[track.id] = _TrackState(empty, empty.copy(), empty.copy())
            mouth, upper, opening = self._activity(grey, track, flow, state)
            state.mouth[slot] = np.log(mouth + _EPS)
            state.upper[slot] = np.log(upper + _EPS)
            state.opening[slot] = opening
            state.last_t = t
            states.append(state)
        self._grey_prev = grey
        for tid in [k for k, s in self._tracks.items() if s.last_t < t - 2.0]:
            del self._tracks[tid]  # a track gone for 2 s is not coming back
        for state in self._tracks.values():
            if state.last_t < t:
                state.mouth[slot] = state.upper[slot] = state.opening[slot] = np.nan
        self.features = {}
        if not tracks:
            return {}
        x = self.feature_matrix(states, has_audio)
        if has_audio:
            z = x @ self._w_audio + self._b_audio
        else:
            z = x @ self._w_visual + self._b_visual
        probs = _sigmoid(z)
        out: dict[int, float] = {}
        for track, state, p, row in zip(tracks, states, probs, x, strict=True):
            # turn-taking persistence: hold the peak for hold_s, then release
            p = float(p)
            since = t - state.held_t
            decayed = state.held * float(np.exp(-max(since - self.hold_s, 0.0) / self.release_s))
            if p >= decayed:
                state.held, state.held_t, decayed = p, t, p
            out[track.id] = max(p, decayed)
            self.features[track.id] = row
        return out

    def feature_matrix(self, states: list[_TrackState], has_audio: bool) -> np.ndarray:
        """Features (n tracks x len(FEATURES)) of this frame's tracks, in FEATURES order."""
        dt = self._dt
        n_short = max(1, int(round(self.visual_window_s / dt)))
        n_long = max(2, int(round(self.long_window_s / dt)))
        mouth = np.stack([s.mouth for s in states])  # tracks x ring
        upper = np.stack([s.upper for s in states])
        idx_s, idx_l = self._idx(n_short), self._idx(n_long)
        base = np.zeros((len(states), len(BASE_FEATURES)))
        base[:, 0] = _window_mean(mouth[:, idx_s], np.log(_EPS))
        base[:, 1] = _window_mean(mouth[:, idx_l], np.log(_EPS))
        base[:, 2] = _window_mean(upper[:, idx_s], np.log(_EPS))
        base[:, 3] = _window_mean(upper[:, idx_l], np.log(_EPS))
        ml = mouth[:, idx_l]
        dev = np.where(np.isfinite(ml), ml - base[:, 1:2], 0.0)
        count = np.maximum(np.isfinite(ml).sum(axis=1), 1)
        base[:, 4] = np.sqrt((dev**2).sum(axis=1) / count)
        opening = np.stack([s.opening for s in states])
        ol = opening[:, idx_l]
        ok = np.isfinite(ol)
        rms = np.sqrt((np.where(ok, ol, 0.0) ** 2).sum(axis=1) / np.maximum(ok.sum(axis=1), 1))
        base[:, 5] = np.log(rms + 1e-3)
        if has_audio:
            base[:, 6:9] = self._sync(mouth, opening)
        n = len(states)
        if n > 1:
            rel = base - (base.sum(axis=0, keepdims=True) - base) / (n - 1)
        else:
            rel = np.zeros_like(base)
        return np.concatenate([base, rel], axis=1)

    def _sync(self, mouth: np.ndarray, opening: np.ndarray) -> np.ndarray:
        """Per track (rows), best Pearson correlations over audio-video offsets within
        +-max_lag_s, over the last sync_window_s (3-frame means of the visual signals): of the
        mouth's log change with the speech-band envelope (dB over its floor) and with the
        envelope's absolute change, and of the mouth's opening speed with the envelope's
        (signed) change: a mouth opens as the voice rises. Only the track's history since it
        last was absent counts (0 with fewer than ``min_sync_frames``)."""
        lag = int(round(self.max_lag_s / self._dt))
        n = int(round(self.sync_window_s / self._dt))
        n = min(n, self.ring - 2 * lag - 3, self._k - 2 * lag - 2)
        out = np.zeros((len(mouth), 3))
        if n < self.min_sync_frames:
            return out
        idx = self._idx(n + 2 * lag + 2)
        m, op = mouth[:, idx], opening[:, idx]
        bad = ~(np.isfinite(m) & np.isfinite(op))
        # the history since the track last was absent
        last_gap = np.where(bad.any(axis=1), m.shape[1] - 1 - np.argmax(bad[:, ::-1], axis=1), -1)
        # audio up to lag + 1 frames ago: the frames of the centre offset's mouth window
        ref_idx = self._idx(n + lag + 1)[:n]
        audio = self._audio_seen[ref_idx] & self._audio_seen[(ref_idx - 1) % self.ring]
        env = self._env[ref_idx]
        denv = env - self._env[(ref_idx - 1) % self.ring]
        refs = np.stack([env, np.abs(denv), denv])  # 3 x n
        ks = m.shape[1] - last_gap - 1 - 2 * lag - 2  # shorter while the history builds up
        for k in np.unique(ks):
            rows = np.nonzero(ks == k)[0]
            if k < self.min_sync_frames or not audio[-k:].all():
                continue
            sig = np.stack([m[rows, -(k + 2 * lag + 2) :], op[rows, -(k + 2 * lag + 2) :]], 1)
            sig = (sig[..., :-2] + sig[..., 1:-1] + sig[..., 2:]) / 3  # g x 2 x (k + 2 lag)
            w = np.lib.stride_tricks.sliding_window_view(sig, k, axis=2)  # g x 2 x lags x k
            w = w - w.mean(axis=3, keepdims=True)
            w = w / (np.sqrt((w**2).sum(axis=3, keepdims=True)) + 1e-9)
            r = refs[:, -k:] - refs[:, -k:].mean(axis=1, keepdims=True)
            r = r / (np.sqrt((r * r).sum(axis=1, keepdims=True)) + 1e-9)
            out[rows, 0] = (w[:, 0] @ r[0]).max(axis=1)
            out[rows, 1] = (w[:, 0] @ r[1]).max(axis=1)
            out[rows, 2] = (w[:, 1] @ r[2]).max(axis=1)
        return out
