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

import cv2
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


def head_poses(landmarks: np.ndarray) -> np.ndarray:
    """N x 3 (yaw, pitch, frontal) of N faces from their N x 5 x 2 landmarks (x, y pixels:
    left eye, right eye, nose, left / right mouth corner, "left" = the image's left).

    yaw in -1..1: the nose's horizontal place between the eyes, (a - b) / (|a| + |b|) with a, b
    the nose's distances from the left and right eye; + = the head turns toward the image's
    right. pitch in -1..1: + = down (the nose nears the mouth line; level ~0.55 of the
    eye-to-mouth distance). frontal = 1 - |yaw| (1 = facing the camera, 0 = profile)."""
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    a = lm[:, 2, 0] - lm[:, 0, 0]
    b = lm[:, 1, 0] - lm[:, 2, 0]
    yaw = np.minimum(np.maximum((a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-6), -1.0), 1.0)
    eye_y = (lm[:, 0, 1] + lm[:, 1, 1]) / 2
    mouth_y = (lm[:, 3, 1] + lm[:, 4, 1]) / 2
    ratio = (lm[:, 2, 1] - eye_y) / np.maximum(mouth_y - eye_y, 1e-6)
    pitch = np.minimum(np.maximum((ratio - 0.55) * 4.0, -1.0), 1.0)
    out = np.empty((len(lm), 3))
    out[:, 0], out[:, 1], out[:, 2] = yaw, pitch, 1.0 - np.abs(yaw)
    return out


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, frontal) of one face's 5 x 2 landmarks: see :func:`head_poses`."""
    yaw, pitch, frontal = head_poses(landmarks)[0]
    return float(yaw), float(pitch), float(frontal)


def static_features(
    boxes: np.ndarray,
    landmarks: np.ndarray,
    scores: np.ndarray,
    frame_shape: tuple[int, int],
    poses: np.ndarray | None = None,
) -> np.ndarray:
    """N x 4 static cues (log size, frontal, centre distance, score) for N faces: boxes N x 4
    (x0, y0, x1, y1 pixels), landmarks N x 5 x 2 pixels, scores N, frame (H, W) pixels.
    Size is log(sqrt(area) / W); centre distance is |box centre - frame centre| over half the
    frame diagonal (0 .. 1). ``poses``: :func:`head_poses` of the landmarks when already
    computed."""
    h, w = frame_shape
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes), 4))
    if not len(boxes):
        return out
    bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    out[:, 0] = np.log(np.sqrt(bw * bh) / w)
    out[:, 1] = (head_poses(landmarks) if poses is None else poses)[:, 2]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    out[:, 2] = np.hypot(cx - w / 2, cy - h / 2) / (0.5 * math.hypot(w, h))
    out[:, 3] = np.asarray(scores, np.float64).reshape(-1)
    return out


def social_gaze(
    centres: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, min_turn: float = 0.15
) -> np.ndarray:
    """How much the others turn toward each of N faces (N, >= 0).

    centres: N x 2 face centres (pixels); yaw, pitch: N head poses (see :func:`head_poses`). A
    face turned by |yaw| >= ``min_turn`` looks along (yaw, 0.5 pitch) in the image; it hands
    |yaw| to the faces in that direction in proportion to cos(angle)^4 / (1 + distance /
    nearest such distance) (only within 90 degrees). A face nobody turns to gets 0."""
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    n = len(c)
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    pitch = np.asarray(pitch, np.float64).reshape(-1)
    turned = np.abs(yaw) >= min_turn
    if n < 2 or not turned.any():
        return np.zeros(n)
    d = np.empty((n, 2))
    d[:, 0], d[:, 1] = yaw, 0.5 * pitch
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    v = c[None, :, :] - c[:, None, :]  # v[j, i]: from looker j to face i
    dist = np.sqrt((v**2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    cos = np.einsum("jik,jk->ji", v, d) / np.maximum(dist, 1e-6)  # 0 on the diagonal
    ok = (cos > 0) & np.isfinite(dist) & turned[:, None]
    nearest = np.where(ok, dist, np.inf).min(axis=1, keepdims=True)
    finite = np.where(ok, dist, 0.0) / np.where(np.isfinite(nearest), nearest, 1.0).clip(1e-6)
    reach = np.where(ok, np.minimum(cos, 1.0) ** 4 / (1 + finite), 0.0)
    total = reach.sum(axis=1, keepdims=True)
    share = np.where(total > 0, reach / np.maximum(total, 1e-12), 0.0)
    return (np.abs(yaw)[:, None] * share).sum(axis=0)


def gesture_motion(
    boxes: np.ndarray, motion: np.ndarray, frame_shape: tuple[int, int]
) -> np.ndarray:
    """Mean camera-compensated motion in the body region of each face, over the frame's mean
    motion (N, >= 0; 0 where nothing moves).

    boxes: N x 4 pixels of an H x W frame (``frame_shape``); motion: h x w non-negative motion
    magnitude covering the same frame (any resolution, e.g. :class:`MotionSaliency`'s output).
    The body region spans 0.75 box widths either side of the face and from 0.8 of the box
    height (the chin) down to 2 box heights below the box. Region means from an integral
    image: the cost does not grow with the region size."""
    motion = np.asarray(motion, np.float32)
    mh, mw = motion.shape
    h, w = frame_shape
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    mean = float(motion.mean())
    if mean <= 0 or not len(b):
        return np.zeros(len(b))
    ii = cv2.integral(motion, sdepth=cv2.CV_64F)
    sx, sy = mw / w, mh / h
    out = np.zeros(len(b))
    for i, (x0, y0, x1, y1) in enumerate(b.tolist()):  # scalars: cheaper than arrays for few
        bw, bh = x1 - x0, y1 - y0
        rx0 = min(max(int((x0 - 0.75 * bw) * sx), 0), mw)
        rx1 = min(max(math.ceil((x1 + 0.75 * bw) * sx), 0), mw)
        ry0 = min(max(int((y0 + 0.8 * bh) * sy), 0), mh)
        ry1 = min(max(math.ceil((y1 + 2.0 * bh) * sy), 0), mh)
        area = (rx1 - rx0) * (ry1 - ry0)
        if area > 0:
            total = ii[ry1, rx1] - ii[ry0, rx1] - ii[ry1, rx0] + ii[ry0, rx0]
            out[i] = total / area / mean
    return out


# ---------------------------------------------------------------------------------------------
# The model


def still_utilities(
    boxes: np.ndarray,
    landmarks: np.ndarray,
    scores: np.ndarray,
    frame_shape: tuple[int, int],
    weights: AttentionWeights,
) -> tuple[np.ndarray, np.ndarray]:
    """(N utilities of the static cues, natural-log units, weighted by ``weights``; N social
    gaze cues, unweighted) of N faces in one frame: boxes N x 4 pixels, landmarks N x 5 x 2
    pixels, scores N, frame (H, W) pixels. What the frame alone tells of each face."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    poses = head_poses(landmarks)
    feats = static_features(boxes, landmarks, scores, frame_shape, poses)
    u = feats @ np.array([weights.size, weights.frontal, weights.center, weights.score])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return u, social_gaze(centres, poses[:, 0], poses[:, 1])


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
        boxes = np.array([tr.box[:4] for tr in tracks], np.float64)
        marks = np.array([tr.landmarks for tr in tracks], np.float64)
        scores = np.array([tr.score for tr in tracks])
        u, social = still_utilities(boxes, marks, scores, frame_shape, wts)
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


def _components(
    boxes: np.ndarray, landmarks: np.ndarray, template: Template
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(weights K, cx K, cy K, sigma in box widths K) of the 4 template blobs of N faces
    (K = 4N, face-major): left eye, right eye, nose-mouth, around."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    n = len(b)
    centres = np.empty((n, 4, 2))
    centres[:, :2] = lm[:, :2]
    centres[:, 2] = (lm[:, 2] + (lm[:, 3] + lm[:, 4]) / 2) / 2
    centres[:, 3] = (b[:, :2] + b[:, 2:]) / 2
    centres[:, 3, 1] += template.around_dy * np.maximum(b[:, 3] - b[:, 1], 1.0)
    per = np.empty((n, 4))
    per[:] = (template.eyes / 2, template.eyes / 2, template.mouth, template.around)
    sig = np.empty((n, 4))
    sig[:] = (template.eye_sigma, template.eye_sigma, template.mouth_sigma, template.around_sigma)
    return per.ravel(), centres[..., 0].ravel(), centres[..., 1].ravel(), sig.ravel()


def render_blobs(
    boxes: np.ndarray,
    landmarks: np.ndarray,
    face_weights: np.ndarray,
    frame_shape: tuple[int, int],
    grid: tuple[int, int],
    template: Template,
    extra_sigma_px: float = 0.0,
) -> np.ndarray:
    """h x w map (float32) of N faces drawn with ``template``, face i summing to
    ``face_weights[i]`` (blobs cut by the frame edge are renormalised over the frame). boxes
    N x 4, landmarks N x 5 x 2, pixels of a frame of ``frame_shape`` (H, W); each sigma (pixels)
    is sqrt((template sigma x box width)^2 + extra_sigma_px^2). One matrix product for all
    blobs: cost barely grows with N."""
    gh, gw = grid
    fh, fw = frame_shape
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(b):
        return np.zeros(grid, np.float32)
    per, cx, cy, sig = _components(b, landmarks, template)
    bw = np.repeat(np.maximum(b[:, 2] - b[:, 0], 1.0), 4)
    s = np.maximum(np.hypot(sig * bw, extra_sigma_px), 1e-3)
    weight = per * np.repeat(np.asarray(face_weights, np.float64), 4)
    ys = (np.arange(gh) + 0.5) * fh / gh
    xs = (np.arange(gw) + 0.5) * fw / gw
    gy = np.exp(-((ys[None, :] - cy[:, None]) ** 2) / (2 * s[:, None] ** 2))  # K x h
    gx = np.exp(-((xs[None, :] - cx[:, None]) ** 2) / (2 * s[:, None] ** 2))  # K x w
    mass = gy.sum(axis=1) * gx.sum(axis=1)
    scale = np.where(mass > 0, weight / np.maximum(mass, 1e-300), 0.0)
    return ((gy * scale[:, None]).T @ gx).astype(np.float32)


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
    out = render_blobs(
        np.asarray(box)[None, :4],
        landmarks,
        np.ones(1),
        frame_shape,
        grid,
        template,
        extra_sigma_px,
    )
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
    if not tracks:
        return np.zeros(grid, np.float32)
    extra = max(extra_sigma_px, 0.5 * frame_shape[1] / grid[1])
    boxes = np.array([tr.box[:4] for tr in tracks], np.float64)
    marks = np.array([tr.landmarks for tr in tracks], np.float64)
    weights = np.array([shares.get(tr.id, 0.0) for tr in tracks])
    return render_blobs(boxes, marks, weights, frame_shape, grid, template, extra)
