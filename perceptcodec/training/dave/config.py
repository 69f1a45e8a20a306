"""DAVE's training configuration as dataclasses (``perceptcodec/models/dave/configs/*.toml``).

Tables: [data] (:class:`DataConfig`), [model] (``DaveConfig`` of
:mod:`perceptcodec.saliency.dave.spec`), [train] (:class:`TrainSettings`), [loss]
(:class:`LossWeights`). An unknown table or key, a missing required key or a value of the
wrong type is a one-line :class:`~perceptcodec.errors.PerceptcodecError` naming it (the
checks of the VAM-Net trainer's :mod:`perceptcodec.training.config`). Torch-free.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.dave.spec import DaveConfig
from perceptcodec.training.config import ConfigTables, _table, check_tables, read_toml


@dataclass(frozen=True)
class DataConfig:
    """cache: the training cache (``python -m perceptcodec.training.dave.cache``), made at
    the model's input size; image_batch: image clips per image step; av_batch: samples per
    audio-visual step, of which av_image_share are image clips with silent audio (so the
    fusion also sees real gaze and learns what silence means) and the rest talking windows;
    zoom, static_share, composite_share: :class:`~perceptcodec.training.dave.data.Sampling`;
    val_images: held-out images scored per validation (0: all)."""

    cache: str
    image_batch: int
    av_batch: int
    av_image_share: float = 0.5
    zoom: float = 0.15
    static_share: float = 0.3
    composite_share: float = 0.5
    val_images: int = 0


@dataclass(frozen=True)
class TrainSettings:
    """device: cpu or cuda (cpu when no CUDA GPU is visible); steps: optimiser steps in all
    (image and audio-visual steps alternate, the paper's alternating epochs at step scale);
    max_minutes: wall-clock limit of one call (None: none); lr: Adam's starting learning rate
    (paper 1e-3), decayed by a cosine to lr_min by the end of steps or of max_minutes;
    weight_decay; grad_clip (L2 norm); seed; threads: CPU threads of torch; log_every,
    val_every: steps between log lines /
    validations (and ``last.pt``); run_dir: the run folder."""

    steps: int
    lr: float
    seed: int
    log_every: int
    val_every: int
    run_dir: str
    lr_min: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    threads: int = 2
    device: str = "cpu"
    max_minutes: float | None = None


@dataclass(frozen=True)
class LossWeights:
    """kl: the paper's KL(target || prediction) (eq. 2); cc: 1 - CC (not in the paper; 0)."""

    kl: float = 1.0
    cc: float = 0.0


@dataclass(frozen=True)
class TrainConfig(ConfigTables):
    """The whole file ([model] and [loss] may be absent: defaults)."""

    data: DataConfig
    train: TrainSettings
    model: DaveConfig = field(default_factory=DaveConfig)
    loss: LossWeights = field(default_factory=LossWeights)


def parse_config(tables: dict[str, Any], source: str = "config") -> TrainConfig:
    """TrainConfig from parsed TOML ``tables``; ``source`` names the file in errors."""
    check_tables(tables, source)
    model = _table(DaveConfig, tables.get("model", {}), f"{source} [model]")
    model = DaveConfig.from_dict(dataclasses.asdict(model), where=f"{source} [model]")
    data = _table(DataConfig, tables["data"], f"{source} [data]")
    for name in ("av_image_share", "static_share", "composite_share"):
        if not 0 <= getattr(data, name) <= 1:
            raise PerceptcodecError(f"{source} [data] {name}: must lie in 0..1")
    return TrainConfig(
        data=data,
        train=_table(TrainSettings, tables["train"], f"{source} [train]"),
        model=model,
        loss=_table(LossWeights, tables.get("loss", {}), f"{source} [loss]"),
    )


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read and check a training TOML file."""
    return parse_config(read_toml(path), str(path))
