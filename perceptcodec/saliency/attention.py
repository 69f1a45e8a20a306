"""Which face people look at, and where inside it: cues per face track and a small model that
turns them into shares over the faces plus a background share.

Viewers of a multi-face scene look at one face at a time (the one talking, gesturing, or whom
the others turn to) and, inside it, mostly at the eyes. Per track and frame we compute

- static cues (fitted on EyeCrowd's fixations, ``eval/fit_attention.py``): size
  (log of sqrt(box area) / frame width), frontalness (eye/nose symmetry of the 5 CenterFace
  landmarks, 0 = profile .. 1 = frontal), distance of the box centre from the frame centre
  (fraction of the half diagonal), detector score;
- onset (a face that has just appeared draws the eye; decays with time on screen);
- social gaze: head yaw / pitch from the landmarks; a face the others turn toward gains;
- gesture: camera-compensated motion under and beside the face (body, hands), relative to the
  frame's mean motion, times the motion map's confidence (:func:`motion_confidence`: noise is
  no gesture);
- speaking: a probability per track from an active-speaker model (``speaker.ActiveSpeaker``),
  made sticky with a Schmitt trigger and a hold time (viewers keep watching a speaker ~0.5-1 s
  after they stop).

Utilities ``u_i = sum_k beta_k x_ik`` go through a softmax against a background utility
``u_bg``: ``share_i = exp(u_i) / (exp(u_bg) + sum_j exp(u_j))``. :func:`render_faces` draws each
face as a mixture of an eye blob, a nose-mouth blob and a wider "around" blob placed from the
landmarks (weights and widths fitted on EyeCrowd, in box-width units).

All coordinates are pixels of the frame the tracks live in (H x W); maps are h x w grids
covering that frame.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from perceptcodec.saliency.faces import Track
from perceptcodec.saliency.motion import motion_confidence

WEIGHTS_PATH = Path(__file__).with_name("attention_weights.json")


@dataclass(frozen=True)
class Template:
    """Where inside and around a face people look, in units of the box width ``bw``: a mixture
    of a Gaussian on each eye (half of ``eyes`` each), one between nose and mouth, and a wide
    one on the box centre shifted down by ``around_dy`` box heights. Sigmas in box widths."""

    eyes: float = 0.5
    mouth: float = 0.2
    around: float = 0.3
    eye_sigma: float = 0.2
    mouth_sigma: float = 0.2
    around_sigma: float = 0.6
    around_dy: float = 0.2


@dataclass(frozen=True)
class AttentionWeights:
    """Coefficients of the attention model (utilities are in natural-log units).

    Static, fitted on EyeCrowd (``eval/fit_attention.py``): ``size`` per unit of
    log(sqrt(area) / frame width), ``frontal`` per unit frontalness (0..1), ``center`` per unit
    distance from the frame centre (fraction of the half diagonal), ``score`` per unit detector
    score, ``background`` the utility of looking at no face. Dynamic, set on validation (see
    ``eval/results/attention/README.md``): ``speaking`` per unit (held) speaking probability,
    ``gesture`` per unit log(1 + body motion / frame mean motion), ``social`` per unit of the
    others' head turns toward the face, ``onset`` per unit exp(-time on screen / onset_s).
    ``noise_sigma_frac``: the eye tracker's scatter around what is looked at (fraction of the
    image width, fitted with the template). Temporal: ``hold_s`` seconds a speaker stays "on"
    after its probability fell below ``off_threshold``; ``smooth_s`` time constant (s) of the
    EMA of the dynamic cues.
    """

    size: float = 1.0
    frontal: float = 1.0
    center: float = -1.0
    score: float = 0.0
    background: float = -3.0
    speaking: float = 2.5
    gesture: float = 0.7
    social: float = 1.2
    onset: float = 0.3
    onset_s: float = 1.0
    hold_s: float = 0.3
    on_threshold: float = 0.6
    off_threshold: float = 0.4
    smooth_s: float = 0.25
    noise_sigma_frac: float = 0.015
    template: Template = field(default_factory=Template)

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> AttentionWeights:
        """Weights from the shipped JSON (keys as the field names; ``template`` a dict);
        the dataclass defaults for keys it lacks (or when the file is missing)."""
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names and k != "template"}
        tnames = {f.name for f in fields(Template)}
        tmpl = Template(**{k: v for k, v in data.get("template", {}).items() if k in tnames})
        return cls(**values, template=tmpl)

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Cues


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, frontal) of a face from its 5 x 2 landmarks (x, y pixels: left eye, right
    eye, nose, left / right mouth corner, "left" = the image's left).

    yaw in -1..1: the nose's horizontal place between the eyes, (a - b) / (|a| + |b|) with a, b
    the nose's distances from the left and right eye; + = the head turns toward the image's
    right. pitch in -1..1: + = down (the nose nears the mouth line; level ~0.55 of the
    eye-to-mouth distance). frontal = 1 - |yaw| (1 = facing the camera, 0 = profile)."""
    le, re, nose, lm, rm = np.asarray(landmarks, np.float64)
    a, b = nose[0] - le[0], re[0] - nose[0]
    yaw = float(np.clip((a - b) / max(abs(a) + abs(b), 1e-6), -1.0, 1.0))
    eye_y, mouth_y = (le[1] + re[1]) / 2, (lm[1] + rm[1]) / 2
    ratio = (nose[1] - eye_y) / max(mouth_y - eye_y, 1e-6)
    pitch = float(np.clip((ratio - 0.55) * 4.0, -1.0, 1.0))
    return yaw, pitch, 1.0 - abs(yaw)


def static_features(
    boxes: np.ndarray, landmarks: np.ndarray, scores: np.ndarray, frame_shape: tuple[int, int]
) -> np.ndarray:
    """N x 4 static cues (log size, frontal, centre distance, score) for N faces: boxes N x 4
    (x0, y0, x1, y1 pixels), landmarks N x 5 x 2 pixels, scores N, frame (H, W) pixels.
    Size is log(sqrt(area) / W); centre distance is |box centre - frame centre| over half the
    frame diagonal (0 .. 1)."""
    h, w = frame_shape
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes), 4))
    if not len(boxes):
        return out
    bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    out[:, 0] = np.log(np.sqrt(bw * bh) / w)
    out[:, 1] = [head_pose(lm)[2] for lm in landmarks]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    out[:, 2] = np.hypot(cx - w / 2, cy - h / 2) / (0.5 * math.hypot(w, h))
    out[:, 3] = np.asarray(scores, np.float64).reshape(-1)
    return out


def social_gaze(
    centres: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, min_turn: float = 0.15
) -> np.ndarray:
    """How much the others turn toward each of N faces (N, >= 0).

    centres: N x 2 face centres (pixels); yaw, pitch: N head poses (see :func:`head_pose`). A
    face turned by |yaw| >= ``min_turn`` looks along (yaw, 0.5 pitch) in the image; it hands
    |yaw| to the faces in that direction in proportion to cos(angle)^4 (only within 90
    degrees; nearer faces first among equal angles). A face nobody turns to gets 0."""
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    n = len(centres)
    out = np.zeros(n)
    for j in range(n):
        if abs(yaw[j]) < min_turn:
            continue
        d = np.array([yaw[j], 0.5 * pitch[j]])
        d /= np.linalg.norm(d)
        v = centres - centres[j]
        dist = np.linalg.norm(v, axis=1)
        dist[j] = np.inf
        cos = (v @ d) / np.maximum(dist, 1e-6)
        ok = (cos > 0) & np.isfinite(dist)
        if not ok.any():
            continue
        reach = np.where(ok, np.clip(cos, 0, 1) ** 4 / (1 + dist / dist[ok].min()), 0.0)
        out += abs(yaw[j]) * reach / reach.sum()
    return out


def gesture_motion(
    boxes: np.ndarray, motion: np.ndarray, frame_shape: tuple[int, int]
) -> np.ndarray:
    """Mean camera-compensated motion in the body region of each face, over the frame's mean
    motion (N, >= 0; 0 where nothing moves).

    boxes: N x 4 pixels of an H x W frame (``frame_shape``); motion: h x w non-negative motion
    magnitude covering the same frame (any resolution, e.g. :class:`MotionSaliency`'s output).
    The body region spans 0.75 box widths either side of the face and from the chin down to 2
    box heights below the box, the face itself left out."""
    motion = np.asarray(motion, np.float32)
    mh, mw = motion.shape
    h, w = frame_shape
    sx, sy = mw / w, mh / h
    mean = float(motion.mean())
    out = np.zeros(len(boxes))
    if mean <= 0:
        return out
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        bw, bh = x1 - x0, y1 - y0
        rx0 = int(max((x0 - 0.75 * bw) * sx, 0))
        rx1 = int(min(math.ceil((x1 + 0.75 * bw) * sx), mw))
        ry0 = int(max((y0 + 0.8 * bh) * sy, 0))
        ry1 = int(min(math.ceil((y1 + 2.0 * bh) * sy), mh))
        if rx1 <= rx0 or ry1 <= ry0:
            continue
        region = motion[ry0:ry1, rx0:rx1]
        out[i] = float(region.mean()) / mean
    return out


# ---------------------------------------------------------------------------------------------
# The model


@dataclass
class _TrackState:
    first_t: float
    last_t: float
    speaking_on: bool = False
    below_since: float | None = None
    dynamic: float = 0.0  # EMA of the dynamic utility


class FaceAttention:
    """Shares of attention over face tracks plus the background, frame by frame.

    ``__call__(tracks, frame_shape, t, motion=None, speaking=None)`` returns
    (shares: dict track id -> share, background share); shares + background sum to 1.
    ``equal=True`` gives the old behaviour: weight score x sqrt(area) per face (normalised
    over faces) and a fixed background share ``equal_background`` (0.4 = the old prior's
    motion + centre weights).
    """

    def __init__(
        self,
        weights: AttentionWeights | None = None,
        equal: bool = False,
        equal_background: float = 0.4,
    ) -> None:
        self.weights = weights or AttentionWeights.load()
        self.equal = equal
        self.equal_background = equal_background
        self._state: dict[int, _TrackState] = {}

    def reset(self) -> None:
        self._state = {}

    def utilities(
        self,
        tracks: Sequence[Track],
        frame_shape: tuple[int, int],
        t: float,
        motion: np.ndarray | None = None,
        speaking: Mapping[int, float] | None = None,
    ) -> np.ndarray:
        """N utilities (natural-log units) of the N tracks at time ``t`` (s); updates the
        per-track temporal state (speaker hold, EMA of the dynamic cues)."""
        wts = self.weights
        n = len(tracks)
        if n == 0:
            return np.zeros(0)
        boxes = np.stack([np.asarray(tr.box, np.float64)[:4] for tr in tracks])
        marks = np.stack([np.asarray(tr.landmarks, np.float64) for tr in tracks])
        scores = np.array([tr.score for tr in tracks])
        feats = static_features(boxes, marks, scores, frame_shape)
        u = feats @ np.array([wts.size, wts.frontal, wts.center, wts.score])
        poses = np.array([head_pose(m) for m in marks])
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
        social = social_gaze(centres, poses[:, 0], poses[:, 1]) if n > 1 else np.zeros(n)
        gesture = np.zeros(n)
        if motion is not None:
            confidence = motion_confidence(motion)  # no gestures in noise
            if confidence > 0:
                gesture = confidence * np.log1p(gesture_motion(boxes, motion, frame_shape))
        for i, tr in enumerate(tracks):
            st = self._state.get(tr.id)
            dyn = wts.gesture * gesture[i] + wts.social * social[i]
            if st is None or t < st.last_t:
                st = self._state[tr.id] = _TrackState(first_t=t, last_t=t, dynamic=dyn)
            dt = t - st.last_t
            a = math.exp(-dt / wts.smooth_s) if wts.smooth_s > 0 else 0.0
            st.dynamic = a * st.dynamic + (1 - a) * dyn
            st.last_t = t
            onset = math.exp(-(t - st.first_t) / max(wts.onset_s, 1e-6))
            speak = self._speaking(st, (speaking or {}).get(tr.id), t)
            u[i] += st.dynamic + wts.speaking * speak + wts.onset * onset
        alive = {tr.id for tr in tracks}
        self._state = {k: v for k, v in self._state.items() if k in alive}
        return u

    def _speaking(self, st: _TrackState, p: float | None, t: float) -> float:
        """The held speaking cue (0..1) for probability ``p`` (None = unknown -> 0): a Schmitt
        trigger (on at ``on_threshold``, off after ``hold_s`` below ``off_threshold``); the
        cue is 0.3 p + 0.7 [on]."""
        wts = self.weights
        if p is None:
            st.speaking_on, st.below_since = False, None
            return 0.0
        if p >= wts.on_threshold:
            st.speaking_on, st.below_since = True, None
        elif st.speaking_on and p < wts.off_threshold:
            if st.below_since is None:
                st.below_since = t
            if t - st.below_since >= wts.hold_s:
                st.speaking_on, st.below_since = False, None
        elif p >= wts.off_threshold:
            st.below_since = None
        return 0.3 * float(p) + 0.7 * float(st.speaking_on)

    def __call__(
        self,
        tracks: Sequence[Track],
        frame_shape: tuple[int, int],
        t: float,
        motion: np.ndarray | None = None,
        speaking: Mapping[int, float] | None = None,
    ) -> tuple[dict[int, float], float]:
        """(share per track id, background share) for this frame; they sum to 1. tracks in
        pixels of an H x W frame (``frame_shape``), t in seconds, motion an h x w motion
        magnitude map of the same frame, speaking: track id -> probability 0..1."""
        if not tracks:
            return {}, 1.0
        if self.equal:
            raw = np.array(
                [
                    tr.score
                    * math.sqrt(max(tr.box[2] - tr.box[0], 1.0) * max(tr.box[3] - tr.box[1], 1.0))
                    for tr in tracks
                ]
            )
            raw = raw / max(raw.sum(), 1e-12) * (1 - self.equal_background)
            return {
                tr.id: float(v) for tr, v in zip(tracks, raw, strict=True)
            }, self.equal_background
        u = self.utilities(tracks, frame_shape, t, motion, speaking)
        top = max(float(u.max()), self.weights.background)
        e = np.exp(u - top)
        bg = math.exp(self.weights.background - top)
        total = float(e.sum()) + bg
        return {tr.id: float(v / total) for tr, v in zip(tracks, e, strict=True)}, bg / total


# ---------------------------------------------------------------------------------------------
# Rendering


def _gauss_1d(centre: float, sigma: float, coords: np.ndarray) -> np.ndarray:
    return np.exp(-((coords - centre) ** 2) / (2 * max(sigma, 1e-6) ** 2))


def face_template(
    box: np.ndarray,
    landmarks: np.ndarray,
    frame_shape: tuple[int, int],
    grid: tuple[int, int],
    template: Template,
    extra_sigma_px: float = 0.0,
) -> np.ndarray:
    """One face's h x w ``grid`` map (summing to 1) over a frame of ``frame_shape`` (H, W
    pixels): the eye, nose-mouth and around blobs of ``template`` placed from the 5 x 2 pixel
    ``landmarks`` and the box (x0, y0, x1, y1 pixels). Each sigma (pixels) is
    sqrt((template sigma x box width)^2 + extra_sigma_px^2): ``extra_sigma_px`` adds the blur of
    eye-tracker noise and of the ground-truth density."""
    gh, gw = grid
    fh, fw = frame_shape
    ys = (np.arange(gh) + 0.5) * fh / gh
    xs = (np.arange(gw) + 0.5) * fw / gw
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    lm = np.asarray(landmarks, np.float64)
    mouth = (lm[2] + (lm[3] + lm[4]) / 2) / 2
    parts = [
        (template.eyes / 2, lm[0], template.eye_sigma),
        (template.eyes / 2, lm[1], template.eye_sigma),
        (template.mouth, mouth, template.mouth_sigma),
        (template.around, ((x0 + x1) / 2, (y0 + y1) / 2 + template.around_dy * bh),
         template.around_sigma),
    ]  # fmt: skip
    out = np.zeros(grid, np.float32)
    for weight, (cx, cy), sigma in parts:
        if weight <= 0:
            continue
        s = math.hypot(sigma * bw, extra_sigma_px)
        g = np.outer(_gauss_1d(cy, s, ys), _gauss_1d(cx, s, xs)).astype(np.float32)
        total = float(g.sum())
        if total > 0:
            out += weight * g / total
    total = float(out.sum())
    return out / total if total > 0 else out


def render_faces(
    tracks: Sequence[Track],
    shares: Mapping[int, float],
    frame_shape: tuple[int, int],
    grid: tuple[int, int],
    template: Template,
    extra_sigma_px: float = 0.0,
) -> np.ndarray:
    """h x w map of all faces: each track's :func:`face_template` times its share (so the map
    sums to the total face share). ``extra_sigma_px``: see :func:`face_template`; at least
    half a grid cell is used."""
    extra = max(extra_sigma_px, 0.5 * frame_shape[1] / grid[1])
    out = np.zeros(grid, np.float32)
    for tr in tracks:
        share = shares.get(tr.id, 0.0)
        if share > 0:
            out += share * face_template(tr.box, tr.landmarks, frame_shape, grid, template, extra)
    return out
