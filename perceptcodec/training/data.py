"""Batches from the training cache (see cache.py): images (T = 1, visual path, face attention
targets), DHF1K clips (temporal path, gaze, audio) and talking-face composites (speaking
labels, audio). Decodes nothing with PyAV (numpy, OpenCV and torch), so it runs on a GPU
machine with the cache alone. Frame size, face crops and audio windows come from
:mod:`perceptcodec.saliency.vamnet.spec` and :func:`perceptcodec.io.audio.audio_window`, the
same definitions inference uses."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from perceptcodec.io.audio import audio_window
from perceptcodec.saliency.face_cues import CUE_COUNT
from perceptcodec.saliency.vamnet.spec import AUDIO_RATE, AUDIO_WINDOW_S, CACHE_COLUMNS, face_crops


class CacheData:
    """The decoded cache in memory (frames as uint8 N x S x S x 3); audio windows of
    ``audio_window_s`` seconds (the network's ``VamNetConfig.audio_window_s``)."""

    def __init__(self, path: str | Path, audio_window_s: float = AUDIO_WINDOW_S) -> None:
        self.audio_window_s = audio_window_s
        z = np.load(path)
        jpeg, offsets = z["jpeg"], z["jpeg_offsets"]
        self.frames = np.stack(
            [
                cv2.cvtColor(
                    cv2.imdecode(jpeg[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR),
                    cv2.COLOR_BGR2RGB,
                )
                for i in range(len(offsets) - 1)
            ]
        )
        for key in CACHE_COLUMNS:
            if key == "cues" and key not in z.files:  # a cache from before the face cues
                self.cues = np.zeros((*z["boxes"].shape[:2], CUE_COUNT), np.float32)
                continue
            setattr(self, key, z[key])
        self.density = self.density.astype(np.float32)
        self.groups = json.loads(bytes(z["groups"]).decode())
        self.audio = {
            int(k[6:]): z[k].astype(np.float32) for k in z.files if k.startswith("audio_")
        }
        self.members = {g: np.nonzero(self.group == g)[0] for g in range(len(self.groups))}

    def indices(self, kind: str, split: int) -> list[int]:
        """Group ids of one kind (image, video, composite) in one split (0 train, 1 val)."""
        return [
            g
            for g, info in enumerate(self.groups)
            if info["kind"] == kind and self.split[self.members[g][0]] == split
        ]

    def batch(self, rows: np.ndarray, partners: np.ndarray, with_audio: bool) -> dict:
        """Tensors for frame indices ``rows`` (n, T) with motion partners (n, T): frames and
        partners (n, T, 3, S, S) float in [0, 1], boxes (n, T, K, 4), crops (n, T, K, 3,
        FACE_CROP, FACE_CROP), face cues (n, T, K, CUE_COUNT), densities / fixations (n, T,
        32, 32), labels and masks, and with ``with_audio`` audio (n, T, samples of
        ``audio_window_s``) float32 at AUDIO_RATE."""
        n, t = rows.shape
        flat = rows.reshape(-1)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a))

        def frames(idx: np.ndarray) -> torch.Tensor:
            x = tensor(self.frames[idx.reshape(-1)]).permute(0, 3, 1, 2).float() / 255
            return x.view(n, t, *x.shape[1:])

        crops = np.stack(
            [face_crops(self.frames[i], self.boxes[i], self.face_mask[i]) for i in flat]
        )
        crops_t = tensor(crops).permute(0, 1, 4, 2, 3).float().div(255)
        out = {
            "frames": frames(rows),
            "partners": frames(partners),
            "boxes": tensor(self.boxes[rows]),
            "cues": tensor(self.cues[rows].astype(np.float32)),
            "face_mask": tensor(self.face_mask[rows]),
            "crops": crops_t.view(n, t, *crops_t.shape[1:]),
            "density": tensor(self.density[rows]),
            "fixations": tensor(self.fixations[rows]),
            "gaze_mask": tensor(self.gaze[rows]),
            "speaking": tensor(self.speaking[rows]),
            "speaking_mask": tensor(self.face_mask[rows] & self.speaking_known[rows][..., None]),
            "attention_target": tensor(self.attention[rows]),
            "attention_mask": tensor(self.attention[rows].sum(-1) > 0),
        }
        if with_audio:
            waves = [
                audio_window(
                    self.audio[self.group[i]], AUDIO_RATE, float(self.t[i]), self.audio_window_s
                )
                for i in flat
            ]
            out["audio"] = tensor(np.stack(waves)).view(n, t, -1)
        return out

    def sample_images(self, rng: np.random.Generator, n: int, split: int = 0) -> dict:
        groups = self.indices("image", split)
        rows = np.array([self.members[g][0] for g in rng.choice(groups, n)])[:, None]
        return self.batch(rows, rows, with_audio=False)

    def sample_clips(
        self,
        rng: np.random.Generator,
        kind: str,
        n: int,
        length: int,
        interval: int,
        split: int = 0,
        spacing: int = 1,
    ) -> dict:
        """n clips of ``length`` frames ``spacing`` apart from groups of ``kind``; motion
        partners are the frames ``interval`` earlier (causal, clamped at the group's first
        frame)."""
        span = (length - 1) * spacing + 1
        groups = [g for g in self.indices(kind, split) if len(self.members[g]) >= span]
        rows, partners = [], []
        for g in rng.choice(groups, n):
            members = self.members[g]
            start = int(rng.integers(0, len(members) - span + 1))
            idx = np.arange(start, start + span, spacing)
            rows.append(members[idx])
            partners.append(members[np.maximum(idx - interval, 0)])
        return self.batch(np.array(rows), np.array(partners), with_audio=True)
