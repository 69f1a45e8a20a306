"""VAM-Net's fixed sizes, its configuration, the checkpoint format and the per-frame step's
shapes: the one place training, export and every runtime take them from.

Torch-free at import (``load_checkpoint`` / ``save_checkpoint`` import it when called), so the
ONNX runtime can use it on a machine without PyTorch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import window_samples
from perceptcodec.paths import models_dir
from perceptcodec.saliency.checkpoint import load_network, save_network, write_provenance
from perceptcodec.saliency.face_cues import CUE_COUNT

if TYPE_CHECKING:
    from perceptcodec.saliency.vamnet.net import VamNet

INPUT_SIZE = 128  # side (pixels) of the square frames the network sees, training and inference
OUTPUT_STRIDE = 8  # input pixels per output cell: 128 x 128 frames -> 16 x 16 maps
FACE_CROP = 48  # side (pixels) of the face crops of the face branch
MAX_FACES = 6  # face slots per frame (padded, with a mask)
# Arrays of the training cache besides the JPEG frames (training.cache writes, training.data reads)
CACHE_COLUMNS = (
    "density",
    "fixations",
    "boxes",
    "face_mask",
    "speaking",
    "attention",
    "gaze",
    "speaking_known",
    "group",
    "split",
    "t",
    "cues",
)
AUDIO_RATE = 22050  # Hz, SoundNet's rate
AUDIO_WINDOW_S = 0.64  # seconds of audio centred on each frame
AUDIO_SAMPLES = window_samples(AUDIO_RATE, AUDIO_WINDOW_S)  # 14112 samples per window
STEP_SPEC_NAME = "vamnet_step.json"  # written by export beside the ONNX graphs


@dataclass(frozen=True)
class VamNetConfig:
    """The network's hyper-parameters, saved in every checkpoint (``config``) and read back
    from it. node_dim: graph node width; graph_layers: (spatial, temporal, multi-modal) GAT
    triples; heads: attention heads; motion_interval: frames between a frame and its motion
    partner (causal, paper: 5); lstm_hidden: channels of the two ConvLSTM layers (their state
    is (1, c, grid, grid) each); use_audio / use_faces: graph nodes; backbone: mobilenet_v2 or
    vgg16; face_cues: 0 or CUE_COUNT per-face cue features; graph_window: 0 for the graph of
    the first checkpoints (temporal edges join a face slot's nodes over the whole training
    clip, both ways, and the face branch convolves over the clip's frames; deployed on one
    frame), W >= 1 for a causal graph (each node sees its slot's nodes of the W - 1 earlier
    steps, the face branch sees one frame), trained and deployed alike: deployment carries
    the last W - 1 steps' nodes forward; audio_window_s: seconds of audio centred on each
    frame that the audio node hears (AUDIO_WINDOW_S, 0.64 s, unless trained otherwise)."""

    node_dim: int = 128
    graph_layers: int = 2
    heads: int = 4
    motion_interval: int = 5
    lstm_hidden: tuple[int, int] = (64, 32)
    use_audio: bool = True
    use_faces: bool = True
    backbone: str = "mobilenet_v2"  # or "vgg16" (weights from the user, see pretrained.py)
    face_cues: int = 0
    graph_window: int = 0
    audio_window_s: float = AUDIO_WINDOW_S

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "config") -> VamNetConfig:
        """From a checkpoint's ``config`` or a TOML [model] table; a one-line error names an
        unknown key. Missing keys take the defaults (checkpoints older than a field)."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise PerceptcodecError(f"{where}: unknown key {key!r} (known: {sorted(known)})")
        given = dict(values)
        if "lstm_hidden" in given:
            given["lstm_hidden"] = tuple(int(c) for c in given["lstm_hidden"])
        config = cls(**given)
        if config.motion_interval < 1 or len(config.lstm_hidden) != 2:
            raise PerceptcodecError(f"{where}: motion_interval >= 1 and two lstm_hidden sizes")
        if config.face_cues not in (0, CUE_COUNT):
            raise PerceptcodecError(f"{where}: face_cues is 0 or {CUE_COUNT}")
        if config.graph_window < 0:
            raise PerceptcodecError(f"{where}: graph_window is 0 (whole clip) or >= 1")
        if not 0.05 <= config.audio_window_s <= 5.0:
            raise PerceptcodecError(f"{where}: audio_window_s is 0.05-5 s")
        return config


@dataclass(frozen=True)
class StepSpec:
    """Shapes of the per-frame step every runtime runs (batch 1):

    frame, partner (1, 3, input_size, input_size) float32 in [0, 1] (partner: the frame
    ``motion_interval`` frames earlier); boxes (1, max_faces, 4) in [0, 1]; face_mask
    (1, max_faces) bool; crops (1, max_faces, 3, face_crop, face_crop) float32 in [0, 1];
    audio (1, audio_samples) float32 at AUDIO_RATE (absent in the no-audio graph); state
    h1, c1 (1, hidden[0], grid, grid) and h2, c2 (1, hidden[1], grid, grid) float32; cues
    (1, max_faces, face_cues) float32 (only when face_cues > 0: speaking probability, size,
    distance from the centre, :mod:`perceptcodec.saliency.face_cues`); past_nodes
    (1, graph_window - 1, nodes, node_dim) float32 and past_ok (1, graph_window - 1, nodes)
    bool (only when graph_window > 1: the graph's input nodes of the last steps, oldest
    first, zeros / False at the start; ``nodes`` = max_faces + 2: the faces, the background,
    the audio).
    Out: log_saliency (1, grid, grid), the new state, speaking (1, max_faces) and, when
    graph_window > 1, this step's nodes (1, nodes, node_dim) and their mask (1, nodes)."""

    motion_interval: int
    hidden: tuple[int, int]
    input_size: int = INPUT_SIZE
    grid: int = INPUT_SIZE // OUTPUT_STRIDE
    max_faces: int = MAX_FACES
    face_crop: int = FACE_CROP
    audio_samples: int = AUDIO_SAMPLES
    face_cues: int = 0
    graph_window: int = 0
    node_dim: int = 0

    @classmethod
    def from_config(cls, config: VamNetConfig) -> StepSpec:
        return cls(
            motion_interval=config.motion_interval,
            hidden=tuple(config.lstm_hidden),
            face_cues=config.face_cues,
            graph_window=config.graph_window,
            node_dim=config.node_dim,
            audio_samples=window_samples(AUDIO_RATE, config.audio_window_s),
        )

    @property
    def nodes(self) -> int:
        """Graph nodes per step of a causal graph: the face slots, the background, the audio."""
        return self.max_faces + 2

    @property
    def carries_nodes(self) -> bool:
        """Whether the step takes the last steps' nodes (a causal graph over > 1 step)."""
        return self.graph_window > 1

    def zero_past(self) -> tuple[np.ndarray, np.ndarray]:
        """past_nodes and past_ok at the start of a stream: zeros and all False."""
        n = max(self.graph_window - 1, 0)
        return (
            np.zeros((1, n, self.nodes, self.node_dim), np.float32),
            np.zeros((1, n, self.nodes), bool),
        )

    def zero_state(self) -> list[np.ndarray]:
        """ConvLSTM (h1, c1, h2, c2) at rest, float32 (1, c, grid, grid)."""
        h1, h2 = self.hidden
        return [np.zeros((1, c, self.grid, self.grid), np.float32) for c in (h1, h1, h2, h2)]


def default_weights() -> Path:
    """The shipped checkpoint, perceptcodec/models/vamnet/vamnet.pt."""
    return models_dir() / "vamnet" / "vamnet.pt"


def load_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> VamNet:
    """The network of a checkpoint (``{"state_dict": fp16/fp32 tensors, "config": dict}``),
    float32, in eval mode, on ``device``; built from the checkpoint's own config."""

    def build(config: Mapping[str, Any], where: str) -> VamNet:
        from perceptcodec.saliency.vamnet.net import VamNet

        return VamNet(VamNetConfig.from_dict(config, where=where))

    return load_network(path, device, "VAM-Net", build)


save_checkpoint = save_network  # fp16 state dict + config + training config + steps


def write_step_spec(folder: Path, config: VamNetConfig, weights: Path) -> Path:
    """``vamnet_step.json`` beside the exported graphs: the checkpoint config (for what the
    graphs' shapes do not tell, the motion interval) and the weights' SHA-256 (provenance)."""
    return write_provenance(folder / STEP_SPEC_NAME, config, weights)


def read_step_spec(folder: Path, shapes: Mapping[str, tuple[int, ...]]) -> StepSpec:
    """The step's spec from exported graphs: shapes from their inputs (``shapes``: input name
    -> shape, e.g. from an ONNX Runtime session), the motion interval from vamnet_step.json.
    A one-line error when the file is missing or disagrees with the graphs."""
    path = folder / STEP_SPEC_NAME
    if not path.exists():
        raise PerceptcodecError(f"{path} missing: re-run `perceptcodec export onnx`")
    config = VamNetConfig.from_dict(json.loads(path.read_text())["config"], where=str(path))
    spec = StepSpec(
        motion_interval=config.motion_interval,
        hidden=(int(shapes["h1"][1]), int(shapes["h2"][1])),
        input_size=int(shapes["frame"][-1]),
        grid=int(shapes["h1"][-1]),
        max_faces=int(shapes["boxes"][1]),
        face_crop=int(shapes["crops"][-1]),
        audio_samples=int(shapes["audio"][-1]) if "audio" in shapes else AUDIO_SAMPLES,
        face_cues=int(shapes["cues"][-1]) if "cues" in shapes else 0,
        graph_window=config.graph_window,
        node_dim=config.node_dim,
    )
    past = shapes.get("past_nodes")
    want = (1, spec.graph_window - 1, spec.nodes, spec.node_dim) if spec.carries_nodes else None
    if (
        spec.hidden != tuple(config.lstm_hidden)
        or spec.face_cues != config.face_cues
        or spec.audio_samples != window_samples(AUDIO_RATE, config.audio_window_s)
        or (tuple(int(v) for v in past) if past else None) != want
    ):
        raise PerceptcodecError(
            f"{path} disagrees with the graphs (ConvLSTM {config.lstm_hidden} / {spec.hidden}, "
            f"face cues {config.face_cues} / {spec.face_cues}, audio {config.audio_window_s} s / "
            f"{spec.audio_samples} samples, past nodes {want} / {past}): "
            "re-export"
        )
    return spec


def face_crops(
    frame: np.ndarray, boxes: np.ndarray, mask: np.ndarray, side: int = FACE_CROP
) -> np.ndarray:
    """(K, side, side, 3) uint8 crops of ``frame`` (H, W, 3) uint8 at the boxes (K, 4)
    (x0, y0, x1, y1 in [0, 1] of the frame); zeros where ``mask`` (K,) is off."""
    h, w = frame.shape[:2]
    out = np.zeros((len(boxes), side, side, 3), np.uint8)
    for k, (box, ok) in enumerate(zip(boxes, mask, strict=True)):
        if not ok:
            continue
        x0, x1 = int(box[0] * w), max(int(np.ceil(box[2] * w)), int(box[0] * w) + 1)
        y0, y1 = int(box[1] * h), max(int(np.ceil(box[3] * h)), int(box[1] * h) + 1)
        patch = frame[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
        if patch.size:
            out[k] = cv2.resize(patch, (side, side), interpolation=cv2.INTER_LINEAR)
    return out
