"""Active-speaker detection per face track: who is talking, hence which face people watch.

Viewers of multi-person video look at one face at a time: the person talking. ``ActiveSpeaker``
gives, frame by frame, a speaking probability per face track from three cues:

- mouth activity: grey-level change of the mouth patch (from the track's landmarks), with the
  head's own motion compensated, plus the mouth's optical flow minus that head motion;
  normalised by the patch's contrast and averaged over ``visual_window_s``. The head's motion
  is a fit to the optical flow over the face box (translation and scale), its translation
  replaced by where the face's own picture matches in the previous frame (``face_match``,
  sub-pixel: the low-resolution flow misjudges small faces that move by half and more,
  ``eval/results/speaker_match.md``), and each patch is compared at its best fit
  (sub-pixel) within ``patch_search`` patch pixels of there;
- without audio, mouth activity over the eyes' activity: the head-compensated changes of the
  mouth patch and of a patch around the eyes, both over the two patches' mean contrast, and
  the 75th percentile of the mouth's over ``silent_window_s`` minus that of the eyes' decides
  (a zoom, a camera shake, sensor noise or compression flicker change the whole face alike;
  talking changes the mouth only);
- audio-visual synchrony (when audio is given): correlation of each mouth's activity with the
  audio envelope over ``sync_window_s``, best over audio-video offsets within ``max_lag_s``,
  weighted by a voice-activity detector (``EnergyVad``: level above an adaptive noise floor
  plus spectral shape; no model file), added to the mouth-over-eyes logit capped at
  ``silent_cap``: a face that looks silent stays low, and among faces that all look like
  talking the synchrony decides;
- turn-taking persistence: a speaker's probability is held for ``hold_s`` after it drops,
  then released with time constant ``release_s`` (viewers keep watching a speaker ~0.5-1 s
  after they stop), so attention switches with hysteresis.

Everything runs causally frame by frame: the state lives in ring buffers; the only look-ahead
is half of the audio window the pipeline centres on the frame time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from perceptcodec.saliency.faces import Track, match_move, peak_offset

_PATCH = (24, 16)  # mouth patch size (width, height) in pixels after resampling


def _p75(x: np.ndarray) -> float:
    """The 75th percentile of the finite values of a 1-D array (linear interpolation, as
    ``np.nanpercentile(x, 75)``, ~20x faster on the short windows here); NaN when none."""
    v = np.sort(x[np.isfinite(x)])
    if not len(v):
        return float("nan")
    pos = 0.75 * (len(v) - 1)
    i = int(pos)
    return float(v[i] + (v[min(i + 1, len(v) - 1)] - v[i]) * (pos - i))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0))))


class EnergyVad:
    """Voice-activity detector on short mono windows, one call per video frame.

    Speech = level (dB of the RMS, full scale = 0 dB) well above an adaptive noise floor (a low
    percentile of the last ``floor_s`` seconds of levels; without history, the current level)
    and, softly, a spectrum that is neither flat (noise) nor outside the speech band.
    ``__call__(samples, t)`` returns the probability of speech (0..1) of the window and keeps
    ``level_db`` (dB) and ``above_db`` (dB over the floor) of the last call."""

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
        self._levels: deque[tuple[float, float]] = deque()
        self.level_db = -120.0
        self.above_db = 0.0
        freqs = np.fft.rfftfreq(512, 1.0 / rate)
        self._band = (freqs >= 80) & (freqs <= 4000)
        self._hann = np.hanning(512).astype(np.float32)

    def reset(self) -> None:
        self._levels.clear()
        self.level_db, self.above_db = -120.0, 0.0

    def __call__(self, samples: np.ndarray, t: float) -> float:
        """Speech probability (0..1) of mono float32 ``samples`` (any length >= 64, at
        ``rate`` Hz, full scale +-1) around time ``t`` (s)."""
        x = samples.astype(np.float32, copy=False)
        level = 10.0 * np.log10(float(np.mean(x * x)) + 1e-12)
        self.level_db = level
        self._levels.append((t, level))
        while self._levels and self._levels[0][0] < t - self.floor_s:
            self._levels.popleft()
        floor = float(np.percentile([v for _, v in self._levels], self.floor_percentile))
        self.above_db = level - floor
        if level < self.silence_db:
            return 0.0
        p = _sigmoid((self.above_db - self.margin_db) / self.slope_db)
        # spectral shape on the central 512 samples: share of energy in the speech band and
        # flatness (geometric / arithmetic mean of the power spectrum; ~0.6+ for white noise)
        if len(x) >= 512:
            mid = (len(x) - 512) // 2
            power = np.abs(np.fft.rfft(x[mid : mid + 512] * self._hann)) ** 2 + 1e-12
            band = float(power[self._band].sum() / power.sum())
            flatness = float(np.exp(np.mean(np.log(power))) / np.mean(power))
            voiced = _sigmoid((band - 0.6) / 0.06) * _sigmoid((0.5 - flatness) / 0.05)
            p *= 0.3 + 0.7 * voiced  # unvoiced consonants are speech too, noise is flat
        return p


@dataclass
class _HeadMotion:
    """A head's motion from the previous frame to this one: translation (dx, dy, pixels) at
    the centre (cx, cy) plus a uniform scale rate ``s`` (pixels per pixel from the centre), so
    that a point p moved by (dx, dy) + s (p - c); it covers the head's own motion and a camera
    pan or zoom."""

    dx: float = 0.0
    dy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    s: float = 0.0

    @classmethod
    def fit(cls, face_flow: np.ndarray, x0: int, y0: int, scale: float) -> _HeadMotion:
        """Robust fit on the flow over a face box: ``face_flow`` h x w x 2 (flow pixels) whose
        top-left cell is (x0, y0) of the flow grid; ``scale`` frame pixels per flow pixel."""
        h, w = face_flow.shape[:2]
        f = face_flow.reshape(-1, 2).astype(np.float64) * scale
        ys, xs = np.mgrid[0:h, 0:w]
        px = (xs.ravel() + x0 + 0.5) * scale
        py = (ys.ravel() + y0 + 0.5) * scale
        cx, cy = float(px.mean()), float(py.mean())
        dx, dy = np.median(f, axis=0)
        rx, ry = px - cx, py - cy
        norm = rx * rx + ry * ry
        s = 0.0
        if h * w >= 9 and norm.sum() > 0:
            s = float(
                np.median(((f[:, 0] - dx) * rx + (f[:, 1] - dy) * ry)[norm > 0] / norm[norm > 0])
            )
            s = float(np.clip(s, -0.2, 0.2))
        return cls(float(dx), float(dy), cx, cy, s)

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Displacement (n x 2, pixels) of the points (x, y) (frame pixels)."""
        return np.stack(
            [self.dx + self.s * (x - self.cx), self.dy + self.s * (y - self.cy)], axis=1
        )

    def back(self, rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Where ``rect`` (x0, y0, x1, y1) of this frame was in the previous one."""
        x0, y0, x1, y1 = rect
        k = 1.0 / (1.0 + self.s)
        bx0 = self.cx + (x0 - self.dx - self.cx) * k
        bx1 = self.cx + (x1 - self.dx - self.cx) * k
        by0 = self.cy + (y0 - self.dy - self.cy) * k
        by1 = self.cy + (y1 - self.dy - self.cy) * k
        return bx0, by0, bx1, by1


MATCH_WIDTH = 32  # pixels: wider faces are matched on copies shrunk to this width (cost)


@dataclass
class _TrackState:
    """Per-track ring buffers (aligned with the speaker's frame ring; NaN where the track was
    absent) of mouth activity (the audio path's) and of the mouth's and the eyes' changes (the
    silent path's), evidence of synchrony, and the held probability."""

    activity: np.ndarray
    mouth: np.ndarray
    eyes: np.ndarray
    sync: float = 0.0
    held: float = 0.0
    held_t: float = -1e9
    last_t: float = -1e9


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

    With audio the logit is the mouth-over-eyes one capped at ``silent_cap`` (0: even odds;
    set on the tuning composites and dialogues with sound) plus ``sync_gain`` x synchrony;
    ``silent_cap=None`` puts the raw mouth activity over ``visual_window_s`` in its place, the
    cue VAM-Net's shipped weights were trained with (eval/results/speaker_sound.md).

    ``face_match`` and ``patch_search`` (patch pixels, 0: none) align the patches on the
    faces' own pictures (module docstring); VAM-Net's cue runs without them, as its weights
    were trained.

    ``compare_s``: each frame's patches are compared with those of the earlier frame whose
    distance in time is nearest ``compare_s`` (as a ratio; at least the frame before), with
    the head's motion summed over the flows between. Its levels were calibrated on frames 80 ms
    apart (25 frames/s at saliency stride 2); at 50-60 frames/s neighbours are 33-40 ms apart,
    where a mouth changes less between them while sensor noise changes as much
    (eval/results/speaker_frame_rate.md). 0: always the frame before (VAM-Net's cue).

    Cost: see eval/results/active_speaker.md (measured per frame with 2 and 4 faces, one core),
    on top of the flow the prior already computes.
    """

    audio_rate = 16000
    audio_window_s = 0.064  # 1024 samples centred on the frame: covers a frame at >= 16 fps
    ring = 128  # frames of history kept (5.1 s at 25 frames/s, 2.1 s at 60)
    min_sync_frames = 10  # shortest window for a synchrony estimate

    def __init__(
        self,
        visual_window_s: float = 0.6,
        silent_window_s: float = 2.0,
        silent_offset: float = 0.07,
        silent_scale: float = 0.01,
        sync_window_s: float = 1.5,
        max_lag_s: float = 0.2,
        sync_memory_s: float = 1.0,
        hold_s: float = 0.5,
        release_s: float = 0.3,
        flow_weight: float = 0.1,
        visual_offset: float = -2.5,
        audio_visual_gain: float = 1.0,
        sync_gain: float = 6.0,
        silence_penalty: float = 1.0,
        silent_cap: float | None = 0.0,
        face_match: bool = True,
        patch_search: int = 2,
        compare_s: float = 0.08,
    ) -> None:
        self.visual_window_s = visual_window_s
        self.silent_window_s = silent_window_s
        self.silent_offset = silent_offset
        self.silent_scale = silent_scale
        self.sync_window_s = sync_window_s
        self.max_lag_s = max_lag_s
        self.sync_memory_s = sync_memory_s
        self.hold_s = hold_s
        self.release_s = release_s
        self.flow_weight = flow_weight
        self.visual_offset = visual_offset
        self.audio_visual_gain = audio_visual_gain
        self.sync_gain = sync_gain
        self.silence_penalty = silence_penalty
        self.silent_cap = silent_cap
        self.face_match = face_match
        self.patch_search = patch_search
        self.compare_s = compare_s
        self.vad = EnergyVad(self.audio_rate)
        self.reset()

    def reset(self) -> None:
        """Forget all state (call between videos)."""
        self._tracks: dict[int, _TrackState] = {}
        self._k = -1  # frame counter
        self._t_prev: float | None = None
        self._dt = 0.04  # frame interval estimate, s
        self._env = np.zeros(self.ring, np.float32)  # audio envelope per frame (dB over floor)
        self._speech = np.zeros(self.ring, np.float32)  # speech probability per frame
        self._grey_prev: np.ndarray | None = None  # the frame compared with
        self._span = 1  # frames back it lies
        # (t, grey, flow from the frame before) of the last frames, oldest first (at most 32:
        # a bound where timestamps stall)
        self._past: deque[tuple[float, np.ndarray, np.ndarray | None]] = deque(maxlen=32)
        self.vad.reset()
        self.features: dict[int, dict[str, float]] = {}  # last frame's cues, for diagnostics

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
    def eyes_rect(track: Track) -> tuple[float, float, float, float]:
        """Eye region (x0, y0, x1, y1) in pixels: the mouth region's size, centred between
        the eyes of the landmarks (the upper third of the box without them)."""
        x0, y0, x1, y1 = (float(v) for v in track.box[:4])
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        marks = track.landmarks
        if marks is not None and marks.shape == (5, 2) and np.isfinite(marks).all():
            cx, cy = (marks[0] + marks[1]) / 2
        else:
            cx, cy = (x0 + x1) / 2, y0 + bh / 3
        return cx - 0.25 * bw, cy - 0.15 * bh, cx + 0.25 * bw, cy + 0.15 * bh

    @staticmethod
    def _crop(
        grey: np.ndarray, rect: tuple[float, float, float, float], margin: int = 0
    ) -> np.ndarray | None:
        """The patch ``rect`` (x0, y0, x1, y1, pixels, sub-pixel) resampled bilinearly to
        ``_PATCH``, with ``margin`` more patch pixels of the frame on each side; None when it
        lies mostly outside the frame or is under 4 x 3 pixels."""
        h, w = grey.shape
        x0, y0, x1, y1 = rect
        if x1 - x0 < 4 or y1 - y0 < 3 or x0 < -0.25 * (x1 - x0) or y0 < -0.25 * (y1 - y0):
            return None
        if x1 > w + 0.25 * (x1 - x0) or y1 > h + 0.25 * (y1 - y0):
            return None
        sx, sy = (x1 - x0) / _PATCH[0], (y1 - y0) / _PATCH[1]
        if margin:
            x0, y0, x1, y1 = x0 - margin * sx, y0 - margin * sy, x1 + margin * sx, y1 + margin * sy
        size = (_PATCH[0] + 2 * margin, _PATCH[1] + 2 * margin)
        # patch pixel (u, v) samples the frame at (x0 + (u + 0.5) sx - 0.5, ...)
        m = np.float32([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5]])
        src = grey
        if sx > 1.5:  # shrinking: low-pass first so the patch does not alias
            # only the region the patch samples, with a margin wider than the kernel's radius
            # (3 sigma for 8-bit), so each pixel is the whole frame's blur; its origin is taken
            # off the offsets in float32, exactly, so the sampling is the same too
            pad = int(np.ceil(1.5 * sx)) + 2
            ox, oy = max(int(np.floor(x0)) - pad, 0), max(int(np.floor(y0)) - pad, 0)
            ex, ey = min(int(np.ceil(x1)) + pad, w), min(int(np.ceil(y1)) + pad, h)
            src = cv2.GaussianBlur(grey[oy:ey, ox:ex], (0, 0), 0.5 * sx)
            m[:, 2] -= np.float32([ox, oy])
        return cv2.warpAffine(
            src,
            m,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        ).astype(np.float32)

    def _activity(
        self, grey: np.ndarray, track: Track, flow: np.ndarray | None
    ) -> tuple[float, float, float, float]:
        """(patch change, mouth flow, mouth change, eyes change) of one track against the
        frame compared with (``_grey_prev``, ``compare_s``; ``flow`` from it to this frame):
        mean absolute grey change of the mouth patch against that frame's patch at the
        head-motion-compensated position, over the patch's contrast; mean magnitude of the
        mouth's flow minus the head's motion, in face widths x 100; then the mouth's and the
        eye patch's mean absolute changes over the same denominator (the mean of the two
        patches' contrasts), so that sensor noise, which changes every patch by the same grey
        levels, changes both alike. All ~0 for a still face, also under a camera pan or zoom.
        The head's motion: the flow's fit, its translation where the face's picture matches
        the frame compared with, with ``face_match`` (``faces.match_move``)."""
        rect = self.mouth_rect(track)
        head = _HeadMotion()
        mouth_flow = 0.0
        if flow is not None:
            fh, fw = flow.shape[:2]
            scale = grey.shape[1] / fw
            x0, y0, x1, y1 = (int(round(v / scale)) for v in track.box[:4])
            x0, y0 = max(x0, 0), max(y0, 0)
            face = flow[y0 : min(max(y1, y0 + 1), fh), x0 : min(max(x1, x0 + 1), fw)]
            if face.size:
                head = _HeadMotion.fit(face, x0, y0, scale)
                mx0, my0, mx1, my1 = (int(round(v / scale)) for v in rect)
                mx0, my0 = max(mx0, 0), max(my0, 0)
                mouth = flow[my0 : min(max(my1, my0 + 1), fh), mx0 : min(max(mx1, mx0 + 1), fw)]
                if mouth.size:
                    ys, xs = np.mgrid[my0 : my0 + mouth.shape[0], mx0 : mx0 + mouth.shape[1]]
                    residual = mouth.reshape(-1, 2) * scale - head.at(
                        (xs.ravel() + 0.5) * scale, (ys.ravel() + 0.5) * scale
                    )
                    width = max((x1 - x0) * scale, 1.0)
                    mouth_flow = 100.0 * float(np.sqrt((residual**2).sum(1)).mean()) / width
        same_size = self._grey_prev is not None and self._grey_prev.shape == grey.shape
        if self.face_match and same_size:
            # where the face's picture was in the frame compared with, sub-pixel
            back = match_move(
                grey, self._grey_prev, track.box, (-head.dx, -head.dy), True, MATCH_WIDTH
            )
            if back is not None:
                head.dx, head.dy = -back[0], -back[1]
        mouth_mad, mouth_std = self._change(grey, rect, head)
        eyes_mad, eyes_std = self._change(grey, self.eyes_rect(track), head)
        common = (mouth_std + eyes_std) / 2 + 8.0
        return mouth_mad / (mouth_std + 8.0), mouth_flow, mouth_mad / common, eyes_mad / common

    def _change(
        self, grey: np.ndarray, rect: tuple[float, float, float, float], head: _HeadMotion
    ) -> tuple[float, float]:
        """(mean absolute grey change of the patch ``rect`` against the compared frame's patch
        (``_grey_prev``) moved back by the head's motion ``head``, at the best (least squares,
        sub-pixel) offset within ``patch_search`` patch pixels, the patch's contrast: its
        standard deviation), grey levels; (0, 0) without a compared frame or patch."""
        if self._grey_prev is None or self._grey_prev.shape != grey.shape:
            return 0.0, 0.0
        now = self._crop(grey, rect)
        before = self._crop(self._grey_prev, head.back(rect), self.patch_search)
        if now is None or before is None:
            return 0.0, 0.0
        if self.patch_search:
            cost = cv2.matchTemplate(before, now, cv2.TM_SQDIFF)
            _, _, (bx, by), _ = cv2.minMaxLoc(cost)
            h, w = cost.shape  # the least squares' minimum, refined to sub-pixel
            fx = peak_offset(-cost[by, bx - 1 : bx + 2]) if 0 < bx < w - 1 else 0.0
            fy = peak_offset(-cost[by - 1 : by + 2, bx]) if 0 < by < h - 1 else 0.0
            centre = (bx + fx + (_PATCH[0] - 1) / 2, by + fy + (_PATCH[1] - 1) / 2)
            before = cv2.getRectSubPix(before, _PATCH, centre)
        return float(np.abs(now - before).mean()), float(now.std())

    # -- the cue --------------------------------------------------------------------------

    def _last(self, ring: np.ndarray, n: int) -> np.ndarray:
        """The last ``n`` frames of a ring buffer, oldest first."""
        n = min(n, self._k + 1, self.ring)
        idx = np.arange(self._k - n + 1, self._k + 1) % self.ring
        return ring[idx]

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
            first = self._k == 1  # the first interval replaces the initial guess
            self._dt = t - self._t_prev if first else 0.8 * self._dt + 0.2 * (t - self._t_prev)
        self._t_prev = t
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        moved = self._reference(t, flow)  # flow from the frame compared with
        has_audio = audio is not None and len(audio) > 0
        if has_audio:
            self._speech[slot] = self.vad(audio, t)
            self._env[slot] = max(self.vad.above_db, 0.0)
        n_visual = max(1, int(round(self.visual_window_s / self._dt)))
        out: dict[int, float] = {}
        self.features = {}
        for track in tracks:
            state = self._tracks.get(track.id)
            if state is None:
                empty = np.full(self.ring, np.nan, np.float32)
                state = self._tracks[track.id] = _TrackState(empty, empty.copy(), empty.copy())
            change, mouth_flow, mouth, eyes = self._activity(grey, track, moved)
            state.activity[slot] = change + self.flow_weight * mouth_flow
            state.mouth[slot], state.eyes[slot] = mouth, eyes
            state.last_t = t
            recent = self._last(state.activity, n_visual)
            visual = float(np.nanmean(recent)) if np.isfinite(recent).any() else 0.0
            level = self._silent_level(state)
            z = (level - self.silent_offset) / self.silent_scale if np.isfinite(level) else -10.0
            sync, speech = 0.0, 1.0
            if has_audio:
                sync, speech = self._sync(state)
                if self.silent_cap is None:  # the raw mouth activity in place of the level
                    z = self.audio_visual_gain * (np.log(visual + 1e-3) - self.visual_offset)
                else:
                    z = min(z, self.silent_cap)
                z += self.sync_gain * state.sync
                z -= self.silence_penalty * (1.0 - speech)
            p = _sigmoid(z)
            # turn-taking persistence: hold the peak for hold_s, then release
            since = t - state.held_t
            decayed = state.held * float(np.exp(-max(since - self.hold_s, 0.0) / self.release_s))
            if p >= decayed:
                state.held, state.held_t, decayed = p, t, p
            out[track.id] = float(max(p, decayed))
            self.features[track.id] = {
                "change": change,
                "eyes": eyes,
                "mouth_flow": mouth_flow,
                "visual": visual,
                "sync": sync,
                "sync_memory": state.sync,
                "speech": speech,
                "silent_level": level,
                "raw": p,
            }
        self._past.append((t, grey, flow))
        while len(self._past) > 1 and t - self._past[0][0] > 2 * self.compare_s:
            self._past.popleft()
        for tid in [k for k, s in self._tracks.items() if s.last_t < t - 2.0]:
            del self._tracks[tid]  # a track gone for 2 s is not coming back
        for state in self._tracks.values():
            if state.last_t < t:
                state.activity[slot] = state.mouth[slot] = state.eyes[slot] = np.nan
        return out

    def _reference(self, t: float, flow: np.ndarray | None) -> np.ndarray | None:
        """Chooses the earlier frame this one at ``t`` is compared with (``compare_s``), as
        ``_grey_prev`` and ``_span`` (frames back), and returns the flow from it to this
        frame: ``flow`` (from the frame before) plus the flows of the frames between, summed
        (None where one is missing or of another size)."""
        self._grey_prev, self._span = None, 1
        if not self._past:
            return flow
        j = len(self._past) - 1
        gaps = [t - past[0] for past in self._past]
        if self.compare_s > 0 and gaps[j] > 0:
            error = [abs(np.log(g / self.compare_s)) if g > 0 else np.inf for g in gaps]
            j = int(np.argmin(error))
        self._grey_prev, self._span = self._past[j][1], len(self._past) - j
        total = flow
        for _, _, between in list(self._past)[j + 1 :]:
            if total is None or between is None or between.shape != total.shape:
                return None
            total = total + between
        return total

    def _silent_level(self, state: _TrackState) -> float:
        """Mouth activity without audio: the 75th percentile of the mouth's change minus that
        of the eyes' change over the last ``silent_window_s`` (NaN before any; a difference of
        percentiles, so noise that changes both patches alike cancels), brought to a frame
        interval of 80 ms (the change between frames grows about as interval^0.6: measured at
        40, 80 and 160 ms on the tuning composites); the logit of speaking is its distance
        from ``silent_offset`` in units of ``silent_scale``. The interval is that between the
        frames compared (``compare_s``).

        Offset and scale were set on the tuning composites at stride 2 (talkers' level: median
        0.12, 84 % at or above 0.074, where the probability reaches 0.6; silent faces: none)
        and on zooms over still photographs of EyeCrowd's fitting split (``eval/proxy_clips.py
        --split fit``: 1.1 % of face-frames at or above it)."""
        n = max(1, int(round(self.silent_window_s / self._dt)))
        mouth, eyes = self._last(state.mouth, n), self._last(state.eyes, n)
        level = _p75(mouth) - _p75(eyes)  # NaN before the track's first change
        if not np.isfinite(level):
            return float("nan")
        return level * (0.08 / (self._span * self._dt)) ** 0.6

    def _sync(self, state: _TrackState) -> tuple[float, float]:
        """(synchrony, speech share) of this frame: the best Pearson correlation, over
        audio-video offsets within +-max_lag_s, of the track's mouth activity (3-frame mean)
        with the audio envelope over the last sync_window_s; and the mean speech probability
        over that window. Updates the track's running synchrony (time constant sync_memory_s,
        only while there is speech)."""
        lag = int(round(self.max_lag_s / self._dt))
        n = int(round(self.sync_window_s / self._dt))
        n = min(n, self.ring - 2 * lag - 2)
        speech_now = self._last(self._speech, n)
        speech = float(speech_now.mean())
        m = self._last(state.activity, n + 2 * lag + 2)
        gaps = np.nonzero(~np.isfinite(m))[0]
        if len(gaps):
            m = m[gaps[-1] + 1 :]  # the track's history since it last was absent
        n = len(m) - 2 * lag - 2  # a shorter window while the history builds up
        if n < self.min_sync_frames:
            return 0.0, speech
        m = (m[:-2] + m[1:-1] + m[2:]) / 3
        e = self._last(self._env, n + lag + 1)[:n]  # envelope at the centre lag's frames
        e = e - e.mean()
        windows = np.lib.stride_tricks.sliding_window_view(m, n)  # (2 lag + 1) x n
        windows = windows - windows.mean(axis=1, keepdims=True)
        den = np.sqrt((windows**2).sum(axis=1) * float((e * e).sum())) + 1e-9
        sync = float(((windows @ e) / den).max())
        if speech > 0.2:
            a = min(1.0, self._dt / self.sync_memory_s)
            state.sync = (1 - a) * state.sync + a * sync
        return sync, speech
