"""DAVE's training samples from the cache (:mod:`perceptcodec.training.dave.cache`); numpy,
OpenCV and torch only (no PyAV), so it runs on a GPU machine with the cache alone.

- Image clips: a still becomes a 16-frame clip with a slow zoom (up to ``zoom``) towards a
  random point, or static (the paper's replication) with probability ``static_share``; a
  random horizontal flip. Target: the viewers' density through the last frame's zoom.
- Talking windows: 16 consecutive frames of a talking clip (clamped at its first frame, as
  streaming inference starts) with the clip's audio as log mel patches, one per frame,
  ending at that frame's time (:func:`perceptcodec.saliency.dave.spec.frame_patch`, the
  definition inference uses). No gaze exists for them: the target is a **weak** one, a
  Gaussian on the detected face (centre raised by 10 % of its height, sigma a quarter of its
  size) mixed with a 20 % centre Gaussian. With probability ``composite_share`` two clips
  are shown side by side with the audio of one: its face gets 75 % of the face mass, the
  silent face 25 %.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from perceptcodec.io.audio import audio_window
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.dave.spec import (
    AUDIO_RATE,
    AUDIO_WINDOW_S,
    FRAMES,
    SILENCE,
    frame_patch,
    normalise_frames,
)


@dataclass(frozen=True)
class Sampling:
    """How samples are drawn: zoom (largest zoom factor - 1 of an image clip), static_share
    (image clips without zoom), composite_share (talking windows shown as two-clip
    composites)."""

    zoom: float = 0.15
    static_share: float = 0.3
    composite_share: float = 0.5


def _gaussian(shape: tuple[int, int], cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """An (rows, cols) Gaussian at pixel (cx, cy) with sigmas (sx, sy) pixels, summing to 1."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    g = np.exp(-0.5 * (((xs + 0.5 - cx) / sx) ** 2 + ((ys + 0.5 - cy) / sy) ** 2))
    return g / max(float(g.sum()), 1e-12)


def face_target(
    shape: tuple[int, int], box: np.ndarray, x0: float, y0: float, sw: float, sh: float
) -> np.ndarray:
    """The weak target of one face: ``box`` (x0, y0, x1, y1 in [0, 1] of its tile, NaN: none)
    in a tile at (x0, y0) of size (sw, sh) in pixels of a ``shape`` map. No face: the tile's
    centre, wide."""
    if np.isnan(box).any():
        return _gaussian(shape, x0 + sw / 2, y0 + sh / 2, sw / 3, sh / 3)
    bw, bh = (box[2] - box[0]) * sw, (box[3] - box[1]) * sh
    cx = x0 + (box[0] + box[2]) / 2 * sw
    cy = y0 + (box[1] + box[3]) / 2 * sh - 0.1 * bh
    return _gaussian(shape, cx, cy, max(bw / 4, 1.5), max(bh / 4, 1.5))


class DaveData:
    """The cache in memory with samplers; frames (H, W) from the cache's image size."""

    def __init__(self, path: str | Path, sampling: Sampling | None = None) -> None:
        z = np.load(path)
        self.sampling = sampling or Sampling()
        self.rgb = z["image_rgb"]
        self.density = z["image_density"].astype(np.float32)
        self.fixations = z["image_fixations"]
        self.image_split = z["image_split"]
        self.image_names = json.loads(bytes(z["image_names"]).decode())
        self.height, self.width = self.rgb.shape[1:3]
        self.talk_rgb = z["talk_rgb"]
        self.talk_boxes = z["talk_boxes"]
        self.talk_t = z["talk_t"]
        self.talk_clip = z["talk_clip"]
        self.clips = json.loads(bytes(z["talk_clips"]).decode())
        self.members = [np.nonzero(self.talk_clip == c)[0] for c in range(len(self.clips))]
        patches = np.empty((len(self.talk_t), *SILENCE.shape), np.float32)
        for c, rows in enumerate(self.members):
            wave = z[f"audio_{c}"].astype(np.float32)
            for r in rows:
                window = audio_window(wave, AUDIO_RATE, float(self.talk_t[r]), AUDIO_WINDOW_S)
                patches[r] = frame_patch(window)
        self.patches = patches

    def images(self, split: int) -> np.ndarray:
        """Indices of the images of one split (0 training, 1 held out)."""
        return np.nonzero(self.image_split == split)[0]

    def talking(self, split: int) -> list[int]:
        """Clip ids of one split."""
        return [c for c, info in enumerate(self.clips) if info["split"] == split]

    # --- single samples: (frames (16, H, W, 3) uint8, audio (16, 64, 64), target (H/2, W/2))

    def image_clip(
        self, i: int, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image ``i`` as a 16-frame clip (static without ``rng``), silent audio, target."""
        rgb, dens = self.rgb[i], self.density[i]
        h, w = self.height, self.width
        s = self.sampling
        if rng is None or rng.random() < s.static_share:
            frames = np.repeat(rgb[None], FRAMES, axis=0)
            target = dens
        else:
            zoom = 1 + s.zoom * rng.random()
            goal = np.array([w, h]) * (0.25 + 0.5 * rng.random(2))
            frames = np.empty((FRAMES, h, w, 3), np.uint8)
            for k in range(FRAMES):
                a = k / (FRAMES - 1)
                scale = 1 + (zoom - 1) * a
                centre = (1 - a) * np.array([w / 2, h / 2]) + a * goal
                # keep the crop inside the image
                half = np.array([w, h]) / (2 * scale)
                centre = np.clip(centre, half, np.array([w, h]) - half)
                m = np.array(
                    [[scale, 0, w / 2 - scale * centre[0]], [0, scale, h / 2 - scale * centre[1]]]
                )
                frames[k] = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR)
            m_half = m.copy()
            m_half[:, 2] /= 2
            target = cv2.warpAffine(dens, m_half, (w // 2, h // 2), flags=cv2.INTER_LINEAR)
            if target.sum() <= 0:
                target = dens
        if rng is not None and rng.random() < 0.5:
            frames, target = frames[:, :, ::-1], target[:, ::-1]
        audio = np.repeat(SILENCE[None], FRAMES, axis=0)
        return frames, audio, target / max(float(target.sum()), 1e-12)

    def _window(self, clip: int, end: int) -> np.ndarray:
        """Cache rows of the 16 frames ending at frame ``end`` of ``clip`` (clamped at 0)."""
        rows = self.members[clip]
        return rows[np.clip(np.arange(end - FRAMES + 1, end + 1), 0, None)]

    def talking_window(
        self, rng: np.random.Generator, split: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A random talking window (single clip or composite), its audio and weak target."""
        h, w = self.height, self.width
        clips = self.talking(split)
        shape = (h // 2, w // 2)
        centre = center_gaussian(shape)
        a = int(rng.choice(clips))
        length = len(self.members[a])
        end = int(rng.integers(0, length))
        rows_a = self._window(a, end)
        audio = self.patches[rows_a]
        if rng.random() >= self.sampling.composite_share or len(clips) < 2:
            frames = np.stack(
                [cv2.resize(self.talk_rgb[r], (w, h), interpolation=cv2.INTER_AREA) for r in rows_a]
            )
            face = face_target(shape, self.talk_boxes[rows_a[-1]], 0, 0, shape[1], shape[0])
        else:
            b = int(rng.choice([c for c in clips if c != a]))
            rows_b = self._window(b, min(end, len(self.members[b]) - 1))
            tile = w // 2
            top = (h - tile) // 2
            left = bool(rng.integers(2))  # speaker on the left
            frames = np.zeros((FRAMES, h, w, 3), np.uint8)
            for k, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=True)):
                ta = cv2.resize(self.talk_rgb[ra], (tile, tile), interpolation=cv2.INTER_AREA)
                tb = cv2.resize(self.talk_rgb[rb], (tile, tile), interpolation=cv2.INTER_AREA)
                frames[k, top : top + tile, :tile] = ta if left else tb
                frames[k, top : top + tile, tile : 2 * tile] = tb if left else ta
            ts, tt = tile / 2, top / 2  # in target pixels
            xa, xb = (0.0, ts) if left else (ts, 0.0)
            face = 0.75 * face_target(shape, self.talk_boxes[rows_a[-1]], xa, tt, ts, ts)
            face += 0.25 * face_target(shape, self.talk_boxes[rows_b[-1]], xb, tt, ts, ts)
        if rng.random() < 0.5:
            frames, face = frames[:, :, ::-1], face[:, ::-1]
        target = 0.8 * face + 0.2 * centre
        return frames, audio, target / target.sum()

    # --- batches

    @staticmethod
    def collate(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
        """{"video": (B, 3, 16, H, W), "audio": (B, 16, 64, 64), "density": (B, H/2, W/2)}."""
        return {
            "video": torch.from_numpy(np.stack([normalise_frames(f) for f, _, _ in samples])),
            "audio": torch.from_numpy(np.stack([a for _, a, _ in samples]).astype(np.float32)),
            "density": torch.from_numpy(np.stack([np.ascontiguousarray(t) for *_, t in samples])),
        }

    def image_batch(self, rng: np.random.Generator, n: int) -> dict:
        """n training image clips (image route: the audio is not used)."""
        return self.collate([self.image_clip(int(i), rng) for i in rng.choice(self.images(0), n)])

    def av_batch(self, rng: np.random.Generator, n: int, image_share: float) -> dict:
        """n audio-visual samples: round(n * image_share) image clips with silent audio, the
        rest talking windows."""
        k = int(round(n * image_share))
        samples = [self.image_clip(int(i), rng) for i in rng.choice(self.images(0), k)]
        samples += [self.talking_window(rng) for _ in range(n - k)]
        return self.collate(samples)
