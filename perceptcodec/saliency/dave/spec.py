"""DAVE's fixed preprocessing, its configuration, the checkpoint format and the window's
shapes: the one place training, export and every runtime take them from.

Torch-free at import (numpy only): the ONNX runtime uses it on a machine without PyTorch.

Preprocessing as in the released DAVE code:

- video: 16 RGB frames, resized to the model's input (paper: 256 x 320, H x W), scaled to
  [0, 1] and normalised with the Kinetics mean [110.64, 103.16, 96.29] / 255 and standard
  deviation [38.76, 37.88, 40.03] / 255;
- audio: 16 kHz mono, log mel spectrogram (64 bands, 125-7500 Hz, 25 ms window, 10 ms hop,
  magnitude STFT of 512 points, HTK mel scale, ``log(mel + 0.01)``) as in VGGish, whose steps
  the paper follows; one 0.64 s patch of 64 hops x 64 bands per video frame, 16 patches
  stacked (copied to 3 channels inside the network).

Streaming alignment (ours): the patch of a frame is the 0.64 s of audio *ending* at that
frame's time, so patch k and frame k of a window describe the same moment and no patch looks
past its frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import window_samples
from perceptcodec.paths import models_dir
from perceptcodec.saliency.checkpoint import load_network, save_network, write_provenance

if TYPE_CHECKING:
    from perceptcodec.saliency.dave.net import Dave

FRAMES = 16  # frames per window (video) and patches per window (audio)
MEAN = np.array([110.64, 103.16, 96.29], np.float32) / 255  # Kinetics RGB mean
STD = np.array([38.76, 37.88, 40.03], np.float32) / 255  # Kinetics RGB std
AUDIO_RATE = 16000  # Hz
MEL_BANDS = 64
MEL_LOW, MEL_HIGH = 125.0, 7500.0  # Hz
STFT_WINDOW = 400  # samples, 25 ms
STFT_HOP = 160  # samples, 10 ms
STFT_FFT = 512  # points (the next power of two above the window, as VGGish)
LOG_OFFSET = 0.01  # log(mel + 0.01)
PATCH_HOPS = 64  # spectrogram frames per patch: 0.64 s
PATCH_SAMPLES = (PATCH_HOPS - 1) * STFT_HOP + STFT_WINDOW  # 10480 samples per patch
# The pipeline hands each frame a window centred on its time; twice a patch holds the patch
# that ends at the frame's time (its second half is unused).
AUDIO_WINDOW_S = 2 * PATCH_SAMPLES / AUDIO_RATE  # 1.31 s
AUDIO_SAMPLES = window_samples(AUDIO_RATE, AUDIO_WINDOW_S)  # 20960
SPEC_NAME = "dave.json"  # written by export beside the ONNX graph
ONNX_NAME = "dave.onnx"
WEIGHTS_NAME = "dave.pt"


@dataclass(frozen=True)
class DaveConfig:
    """The network's hyper-parameters, saved in every checkpoint (``config``).

    width: channels of the first 3D-ResNet stage (paper: 64; stages are width x 1, 2, 4, 8,
    so 512 at the last); height, width_px: input frame size in pixels (paper 256 x 320); the
    output map is (height / 8, width_px / 8) (paper 32 x 40); decoder: channels of the two
    3 x 3 decoder convolutions (0: the last stage's width, 512 in the paper's size); audio:
    whether the audio stream exists (False: the paper's video-only ablation)."""

    width: int = 64
    height: int = 256
    width_px: int = 320
    decoder: int = 0
    audio: bool = True

    @property
    def channels(self) -> tuple[int, int, int, int]:
        """Channels of the four 3D-ResNet stages."""
        return (self.width, 2 * self.width, 4 * self.width, 8 * self.width)

    @property
    def decoder_channels(self) -> int:
        return self.decoder or 8 * self.width

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the output map."""
        return self.height // 8, self.width_px // 8

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "config") -> DaveConfig:
        """From a checkpoint's ``config`` or a TOML [model] table; an unknown key or a size
        the network cannot take is a one-line error."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise PerceptcodecError(f"{where}: unknown key {key!r} (known: {sorted(known)})")
        config = cls(**dict(values))
        if config.width < 1 or config.decoder < 0:
            raise PerceptcodecError(f"{where}: width >= 1 and decoder >= 0")
        if config.height % 32 or config.width_px % 32 or config.height < 32:
            raise PerceptcodecError(
                f"{where}: height and width_px must be multiples of 32 (>= 32), "
                f"not {config.height} x {config.width_px}"
            )
        return config


def normalise_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (3, T, H, W) float32 normalised with MEAN / STD."""
    x = (np.asarray(frames, np.float32) / 255 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2))


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
    """(STFT_FFT // 2 + 1, MEL_BANDS) float32 triangular HTK mel filterbank, MEL_LOW to
    MEL_HIGH Hz (VGGish's ``spectrogram_to_mel_matrix``; the DC bin is zero)."""
    bins = STFT_FFT // 2 + 1
    hz = np.linspace(0.0, AUDIO_RATE / 2, bins)
    mel = _hz_to_mel(hz)
    edges = np.linspace(_hz_to_mel(MEL_LOW), _hz_to_mel(MEL_HIGH), MEL_BANDS + 2)
    out = np.zeros((bins, MEL_BANDS))
    for i in range(MEL_BANDS):
        lo, centre, hi = edges[i : i + 3]
        lower = (mel - lo) / (centre - lo)
        upper = (hi - mel) / (hi - centre)
        out[:, i] = np.maximum(0.0, np.minimum(lower, upper))
    out[0] = 0.0
    return out.astype(np.float32)


_MEL = mel_matrix()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(STFT_WINDOW) / STFT_WINDOW)).astype(np.float32)


def log_mel_patch(samples: np.ndarray) -> np.ndarray:
    """(PATCH_HOPS, MEL_BANDS) float32 log mel patch of PATCH_SAMPLES mono samples at
    AUDIO_RATE (zero-padded / cut at the front to that length). Silence gives log(0.01)."""
    x = np.asarray(samples, np.float32).reshape(-1)[-PATCH_SAMPLES:]
    if len(x) < PATCH_SAMPLES:
        x = np.concatenate([np.zeros(PATCH_SAMPLES - len(x), np.float32), x])
    starts = np.arange(PATCH_HOPS) * STFT_HOP
    frames = x[starts[:, None] + np.arange(STFT_WINDOW)] * _HANN
    magnitude = np.abs(np.fft.rfft(frames, STFT_FFT, axis=1)).astype(np.float32)
    return np.log(magnitude @ _MEL + LOG_OFFSET).astype(np.float32)


def frame_patch(window: np.ndarray | None) -> np.ndarray:
    """The log mel patch of one frame from its audio window (AUDIO_SAMPLES samples centred on
    the frame's time, :func:`perceptcodec.io.audio.audio_window`): the PATCH_SAMPLES samples
    that end at the frame's time. None (no audio track) is silence."""
    if window is None:
        return SILENCE.copy()
    w = np.asarray(window, np.float32).reshape(-1)
    middle = len(w) // 2
    return log_mel_patch(w[max(middle - PATCH_SAMPLES, 0) : middle])


SILENCE = log_mel_patch(np.zeros(PATCH_SAMPLES, np.float32))  # what a video without audio gets


@dataclass(frozen=True)
class WindowSpec:
    """Shapes of one run of the network (batch 1), every runtime's interface:

    video (1, 3, FRAMES, height, width) float32, normalised (:func:`normalise_frames`), the
    oldest frame first; audio (1, FRAMES, PATCH_HOPS, MEL_BANDS) float32 log mel patches
    aligned with the frames. Out: log_saliency (1, height / 8, width / 8), log-probabilities
    over the map (``exp`` sums to 1)."""

    height: int
    width: int
    frames: int = FRAMES

    @property
    def grid(self) -> tuple[int, int]:
        return self.height // 8, self.width // 8

    @classmethod
    def from_config(cls, config: DaveConfig) -> WindowSpec:
        return cls(height=config.height, width=config.width_px)


def default_weights() -> Path:
    """The shipped checkpoint, perceptcodec/models/dave/dave.pt."""
    return models_dir() / "dave" / WEIGHTS_NAME


def load_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> Dave:
    """The network of a checkpoint (``{"state_dict": fp16/fp32 tensors, "config": dict}``),
    float32, in eval mode, on ``device``; built from the checkpoint's own config."""

    def build(config: Mapping[str, Any], where: str) -> Dave:
        from perceptcodec.saliency.dave.net import Dave

        return Dave(DaveConfig.from_dict(config, where=where))

    return load_network(path, device, "DAVE", build)


save_checkpoint = save_network  # fp16 state dict + config + training config + steps


def write_spec(folder: Path, config: DaveConfig, weights: Path) -> Path:
    """``dave.json`` beside the exported graph: the checkpoint config and the weights'
    SHA-256 (provenance)."""
    return write_provenance(folder / SPEC_NAME, config, weights)


def read_spec(folder: Path) -> DaveConfig:
    """The config of the graph exported into ``folder`` (``dave.json``); one-line errors."""
    path = folder / SPEC_NAME
    if not path.exists():
        raise PerceptcodecError(
            f"{path} missing: re-export DAVE (python -m perceptcodec.saliency.dave.export)"
        )
    return DaveConfig.from_dict(json.loads(path.read_text())["config"], where=str(path))
