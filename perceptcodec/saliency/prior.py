"""The training-free default model: faces + motion + centre bias, at low resolution.

Cheap enough to run beside x264 on 2 cores: faces are detected every ``face_stride`` frames
(CenterFace, one thread) and tracked in between; motion is DIS optical flow on a 128-pixel-wide
frame; everything is mixed on a grid a quarter of the working resolution.

With ``attention=1`` (default) a small model (:mod:`perceptcodec.saliency.attention`, fitted on
EyeCrowd's fixations) decides how much of the map each face gets (size, frontalness, position,
detector score, the others' head turns, gestures, speaking) and how much goes to the
background (motion + centre), and draws each face as eyes + nose-mouth + surroundings from its
landmarks. With ``attention=0`` every face gets score x sqrt(area) of a fixed ``face_weight``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from perceptcodec.saliency.attention import AttentionWeights, FaceAttention, render_faces
from perceptcodec.saliency.base import aspect_size, normalise_map
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.faces import FaceDetector, FaceTracker, Track
from perceptcodec.saliency.motion import MotionSaliency, motion_confidence
from perceptcodec.saliency.options import PriorOptions
from perceptcodec.saliency.sources import FaceSources, sound_source_map
from perceptcodec.saliency.speaker import ActiveSpeaker
from perceptcodec.saliency.static import StaticNet, static_background

# Blur (fraction of the frame width) of the viewers' fixation density the maps aim at: the
# evaluation's EWPSNR weights and CC use sigma = 3.5 % of the width (about one degree).
DENSITY_SIGMA_FRAC = 0.035
# Maps between recomputations of the static background (what stands out of the picture
# changes slowly; the learned map takes ~19 ms on 2 cores, the spectral residual ~1 ms).
STATIC_EVERY = 5


def face_map(
    tracks: list[Track], frame_shape: tuple[int, int], grid: tuple[int, int]
) -> np.ndarray:
    """Sum of one Gaussian per face on an h x w ``grid`` covering a frame of ``frame_shape``
    (H, W pixels): centred on the upper middle of the box (eyes and nose), sigma 0.35 of the
    box per axis, weight score x sqrt(area). Not normalised; all zero without faces."""
    gh, gw = grid
    fh, fw = frame_shape
    ys = (np.arange(gh) + 0.5) * fh / gh
    xs = (np.arange(gw) + 0.5) * fw / gw
    out = np.zeros(grid, np.float32)
    for track in tracks:
        x0, y0, x1, y1 = track.box
        bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        cx, cy = (x0 + x1) / 2, y0 + 0.45 * bh
        gx = np.exp(-((xs - cx) ** 2) / (2 * (0.35 * bw) ** 2))
        gy = np.exp(-((ys - cy) ** 2) / (2 * (0.35 * bh) ** 2))
        g = np.outer(gy, gx)
        out += track.score * np.sqrt(bw * bh) * g / max(float(g.sum()), 1e-12)
    return out


def scaled_tracks(tracks: list[Track], k: float) -> list[Track]:
    """Copies of ``tracks`` with boxes and landmarks in pixels of a frame ``k`` times wider
    (ids, scores and misses kept)."""
    return [
        replace(tr, box=tr.box * np.float32(k), landmarks=tr.landmarks * np.float32(k))
        for tr in tracks
    ]


class PriorSaliency:
    """Training-free saliency (``name = "prior"``), set by :class:`PriorOptions`.

    Frames arrive resized to ``size_for(W, H)``: ``options.face_width`` wide (at most the
    source's width, at least ``options.width``), aspect kept; faces are detected and mouths
    read (the speaker cue) there, and everything else works on a copy ``options.width`` wide.
    ``detector`` replaces CenterFace, ``speaker`` the active-speaker model (tests; a callable
    ``(rgb, tracks, flow, audio, t) -> {track id: probability}``, given that frame and the
    tracks in its pixels). Output: (H/4) x (W/4) of the working size, summing to 1.
    """

    name = "prior"
    audio_rate = 0
    audio_window_s = 0.0

    def __init__(
        self,
        options: PriorOptions | None = None,
        detector: FaceDetector | None = None,
        speaker: Any | None = None,
    ) -> None:
        o = options or PriorOptions()
        self.options = o
        self.width = o.width
        self.weights = {"face": o.face_weight, "motion": o.motion_weight, "center": o.center_weight}
        self.center_sigma = o.center_sigma
        self.temporal = o.temporal
        self.face_width = max(o.width, o.face_width)
        detector = detector or FaceDetector(input_width=None)  # the frames' own width
        self.tracker = FaceTracker(
            detector,
            stride=o.face_stride,
            max_missed=o.face_misses,
            detail_every=o.face_detail,
            match=bool(o.face_match),
        )
        self.motion = MotionSaliency(noise_floor=bool(o.motion_floor))
        weights = AttentionWeights.load()
        if o.background_bias:
            weights = replace(weights, background=weights.background + o.background_bias)
        self.attention = FaceAttention(weights, equal=not o.attention)
        if speaker is None and o.speaker:
            speaker = ActiveSpeaker()
        self.speaker = speaker
        # the speaker cue weights the map (option ``speaker``), or only reports; it listens
        # (mouth-voice synchrony) only with speaker=2: in conversations the mouth-over-eyes
        # evidence alone picks the talker more often (eval/results/speaker_sound.md)
        self._speaker_in_map = speaker is not None and bool(o.attention)
        self._listen = o.speaker == 2
        self._sources: FaceSources | None = None
        if self._speaker_in_map and self._listen:
            self._want_audio()
        self._prev: np.ndarray | None = None
        self._center: np.ndarray | None = None
        self._still: np.ndarray | None = None  # the static background, recomputed every few frames
        self._static_net = StaticNet() if o.uses_static_net else None
        self._still_age = 0

    def _want_audio(self) -> None:
        self.audio_rate = int(getattr(self.speaker, "audio_rate", 0))
        self.audio_window_s = float(getattr(self.speaker, "audio_window_s", 0.0))

    def report_sources(self) -> None:
        """Also compute :class:`FaceSources` each frame (``sources()``): the active-speaker
        cue runs on every video, with sound when there is some and ``speaker=2``, visual
        only otherwise. The maps stay those of the options: the cue weights them only with
        ``speaker`` 1 or 2."""
        if self.speaker is None:
            self.speaker = ActiveSpeaker()
        if self._listen:
            self._want_audio()
        self._sources = FaceSources.empty((1, 1))

    def sources(self) -> FaceSources:
        """The last frame's faces (boxes in pixels of the frames given), speaking
        probabilities and sound-source map (on the saliency grid); ``report_sources()`` must
        come first."""
        if self._sources is None:
            raise RuntimeError("call report_sources() before the first frame")
        return self._sources

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) frames arrive at for a source frame: ``face_width`` wide but no
        wider than the source, at least ``self.width``; aspect kept, even."""
        return aspect_size(max(self.width, min(self.face_width, width)), width, height)

    def reset(self) -> None:
        self.tracker.reset()  # its scene-cut detector too
        self._new_shot()

    def _new_shot(self) -> None:
        """Forget what was seen before (a new video, or a cut: the motion across it is not
        motion, and the faces' cues and the last map belong to another shot). The tracker
        ends its tracks itself when told of the cut; track ids stay unique in the video."""
        self.motion.reset()
        self.attention.reset()
        self._still = None
        if self.speaker is not None and hasattr(self.speaker, "reset"):
            self.speaker.reset()
        self._prev = None

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        """Saliency of an H x W x 3 uint8 frame at ``size_for`` the source, at time ``t``
        (s): (h/4) x (w/4) float32 of the working size (``options.width`` wide), summing to
        1. audio: mono window at ``audio_rate`` for the speaker cue (heard only with
        ``speaker=2``), or None."""
        detail = None
        if self.face_width > self.width and rgb.shape[1] > self.width:
            # faces are found in the frame given, the rest works on a copy at the width
            detail = rgb
            size = aspect_size(self.width, rgb.shape[1], rgb.shape[0])
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
        grid = (max(h // 4, 1), max(w // 4, 1))
        cut = self.tracker.cuts(rgb)
        if cut:
            self._new_shot()
        raw_motion = self.motion(rgb)
        tracks = self.tracker(rgb, self.motion.flow, cut, detail)
        motion = cv2.resize(raw_motion, grid[::-1], interpolation=cv2.INTER_AREA)
        if self._center is None or self._center.shape != grid:
            self._center = center_gaussian(grid, self.center_sigma)
        center = self._center
        speaking = None
        wanted = self._speaker_in_map or self._sources is not None
        if self.speaker is not None and wanted and tracks:  # with sound, or visual only
            heard = audio if self._listen else None
            # mouths are read at the detector's resolution: small faces talk there
            seen, faces = rgb, tracks
            if detail is not None:
                seen, faces = detail, scaled_tracks(tracks, detail.shape[1] / w)
            speaking = self.speaker(seen, faces, self.motion.flow, heard, t)
        if self._sources is not None:
            given = (h, w) if detail is None else detail.shape[:2]
            self._sources = self._face_sources(tracks, speaking or {}, (h, w), grid, given)
        if not self._speaker_in_map:
            speaking = None  # reported only
        if self.options.attention:
            # the learned static map reads the finer frame; the spectral residual the working one
            sharp = rgb if detail is None or self._static_net is None else detail
            sal = self._attention_map(
                rgb, sharp, t, speaking, tracks, raw_motion, motion, center, grid
            )
        else:
            sal = self._mix(face_map(tracks, (h, w), grid), motion, center, raw_motion)
        if self._prev is not None and self._prev.shape == sal.shape and self.temporal > 0:
            sal = self.temporal * self._prev + (1 - self.temporal) * sal
        self._prev = sal
        return sal

    def _motion_weights(self, raw_motion: np.ndarray) -> tuple[float, float]:
        """(motion, centre) weights: with the noise floor, the motion weight times its
        confidence, the rest moved to the centre."""
        mw, cw = self.weights["motion"], self.weights["center"]
        if self.options.motion_floor:
            c = motion_confidence(raw_motion)
            mw, cw = mw * c, cw + mw * (1 - c)
        return mw, cw

    def _mix(
        self, faces: np.ndarray, motion: np.ndarray, center: np.ndarray, raw_motion: np.ndarray
    ) -> np.ndarray:
        """The old mix: each part normalised, weighted, renormalised (a missing part's weight
        goes to the others)."""
        mw, cw = self._motion_weights(raw_motion)
        weights = {"face": self.weights["face"], "motion": mw, "center": cw}
        parts = {"face": faces, "motion": motion, "center": center}
        sal = np.zeros(center.shape, np.float32)
        for name, part in parts.items():
            total = float(part.sum())
            if total > 0 and weights[name] > 0:
                sal += weights[name] * part / total
        return normalise_map(sal)

    def _attention_map(
        self,
        rgb: np.ndarray,
        sharp: np.ndarray,
        t: float,
        speaking: dict[int, float] | None,
        tracks: list[Track],
        raw_motion: np.ndarray,
        motion: np.ndarray,
        center: np.ndarray,
        grid: tuple[int, int],
    ) -> np.ndarray:
        """Faces drawn with their attention shares (``speaking``: {track id: probability}
        from the speaker cue, or None) + the background share spread over the motion map and
        the static one (the learned static map or the spectral residual, x centre:
        :mod:`perceptcodec.saliency.static`), drawn from ``sharp``: the frame of ``rgb`` (the
        working copy), or for the learned map at the face detector's width when wider."""
        h, w = rgb.shape[:2]
        shares, background = self.attention(tracks, (h, w), t, raw_motion, speaking)
        wts = self.attention.weights
        extra = w * math.hypot(wts.noise_sigma_frac, DENSITY_SIGMA_FRAC)
        sal = render_faces(tracks, shares, (h, w), grid, wts.template, extra)
        mw, cw = self._motion_weights(raw_motion)
        if self._still is None or self._still.shape != grid or self._still_age >= STATIC_EVERY:
            self._still = static_background(sharp, center, self.options.static, self._static_net)
            self._still_age = 0
        self._still_age += 1
        still = self._still
        total = float(motion.sum())
        if total > 0 and mw > 0:
            back = (mw * motion / total + cw * still) / (mw + cw)
        else:
            back = still
        return normalise_map(sal + background * back)

    @staticmethod
    def _face_sources(
        tracks: list[Track],
        speaking: dict[int, float],
        frame_shape: tuple[int, int],
        grid: tuple[int, int],
        given_shape: tuple[int, int],
    ) -> FaceSources:
        """Tracks (working-frame pixels, ``frame_shape`` H x W) as FaceSources with boxes in
        pixels of the frame given (``given_shape``)."""
        if not tracks:
            return FaceSources.empty(grid)
        ids = np.array([tr.id for tr in tracks], np.int32)
        boxes = np.array([tr.box[:4] for tr in tracks], np.float32)
        probs = np.array([speaking.get(tr.id, 0.0) for tr in tracks], np.float32)
        source_map = sound_source_map(boxes, probs, frame_shape, grid)
        sy, sx = (g / f for g, f in zip(given_shape, frame_shape, strict=True))
        return FaceSources(ids, boxes * np.float32([sx, sy, sx, sy]), probs, source_map)
