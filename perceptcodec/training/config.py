"""The training configuration as dataclasses (a TOML file,
``perceptcodec/models/vamnet/configs/*.toml``).

Tables: [data] (:class:`DataConfig`), [model] (``VamNetConfig`` of
:mod:`perceptcodec.saliency.vamnet.spec`), [train] (:class:`TrainSettings`), [loss]
(:class:`LossWeights`). An unknown table or key, a missing required key or a value of the
wrong type is a one-line :class:`~perceptcodec.errors.PerceptcodecError` naming it. Torch-free.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Self

import tomllib

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.vamnet.spec import VamNetConfig


@dataclass(frozen=True)
class DataConfig:
    """cache: the training cache (.npz, ``python -m perceptcodec.training.cache``); clip_len:
    frames per video / composite clip; image_batch, video_batch: samples per step;
    clip_spacing: frames between a clip's frames (the saliency stride VAM-Net is deployed at,
    so that its ConvLSTM and causal graph step as they will)."""

    cache: str
    clip_len: int
    image_batch: int
    video_batch: int
    clip_spacing: int = 1


@dataclass(frozen=True)
class TrainSettings:
    """device: cpu or cuda (cpu when no CUDA GPU is visible); steps: optimiser steps in all;
    max_minutes: wall-clock limit of one call (None: none); lr, backbone_lr: peak one-cycle
    learning rates of the head / the pretrained RGB backbone; weight_decay (AdamW); grad_clip
    (L2 norm); seed; log_every, val_every: steps between log lines / validations (and
    ``last.pt``); run_dir: the run folder."""

    steps: int
    lr: float
    backbone_lr: float
    weight_decay: float
    grad_clip: float
    seed: int
    log_every: int
    val_every: int
    run_dir: str
    device: str = "cpu"
    max_minutes: float | None = None


@dataclass(frozen=True)
class LossWeights:
    """Weights of eq. 18 (and of KL / CC / NSS inside the saliency term, eq. 14-17)."""

    kl: float = 1.0
    cc: float = 0.5
    nss: float = 0.1
    speaking: float = 0.5
    attention: float = 0.5


class ConfigTables:
    """What every trainer's TrainConfig (a frozen dataclass with ``data``, ``train``, ``model``
    and ``loss`` tables) can do: command-line overrides and plain tables."""

    data: Any
    train: Any
    model: Any
    loss: Any

    def with_overrides(
        self,
        steps: int | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        cache: str | os.PathLike[str] | None = None,
    ) -> Self:
        """A copy with the command line's overrides applied (None: keep)."""
        train, data = self.train, self.data
        if steps:
            train = dataclasses.replace(train, steps=int(steps))
        if run_dir:
            train = dataclasses.replace(train, run_dir=str(run_dir))
        if cache:
            data = dataclasses.replace(data, cache=str(cache))
        return dataclasses.replace(self, train=train, data=data)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """Plain tables (what the checkpoint stores as ``train_config``)."""
        return {
            "data": dataclasses.asdict(self.data),
            "model": dataclasses.asdict(self.model),
            "train": dataclasses.asdict(self.train),
            "loss": dataclasses.asdict(self.loss),
        }


@dataclass(frozen=True)
class TrainConfig(ConfigTables):
    """The whole file ([model] and [loss] may be absent: defaults)."""

    data: DataConfig
    train: TrainSettings
    model: VamNetConfig = field(default_factory=VamNetConfig)
    loss: LossWeights = field(default_factory=LossWeights)


def _check_value(where: str, name: str, value: Any, kind: Any) -> Any:
    """``value`` converted to the field type ``kind`` (int, float, str, bool, tuple[int, ...],
    optional); a one-line error otherwise."""
    args = typing.get_args(kind)
    if type(None) in args:
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
    origin = typing.get_origin(kind)
    if origin is tuple:
        if isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            return tuple(value)
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        return value
    name_of = getattr(kind, "__name__", str(kind))
    raise PerceptcodecError(f"{where} {name}: {value!r} is not {name_of}")


def _table(cls: type, values: Any, where: str) -> Any:
    """An instance of dataclass ``cls`` from a TOML table; errors name the table and key."""
    if not isinstance(values, dict):
        raise PerceptcodecError(f"{where} must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise PerceptcodecError(f"{where}: unknown key {key!r} (known: {', '.join(known)})")
    missing = dataclasses.MISSING
    required = [
        n for n, f in known.items() if f.default is missing and f.default_factory is missing
    ]
    for name in required:
        if name not in values:
            raise PerceptcodecError(f"{where}: missing key {name!r}")
    return cls(**{k: _check_value(where, k, v, hints[k]) for k, v in values.items()})


def parse_config(tables: dict[str, Any], source: str = "config") -> TrainConfig:
    """TrainConfig from parsed TOML ``tables``; ``source`` names the file in errors."""
    check_tables(tables, source)
    model = _table(VamNetConfig, tables.get("model", {}), f"{source} [model]")
    model = VamNetConfig.from_dict(dataclasses.asdict(model), where=f"{source} [model]")
    return TrainConfig(
        data=_table(DataConfig, tables["data"], f"{source} [data]"),
        train=_table(TrainSettings, tables["train"], f"{source} [train]"),
        model=model,
        loss=_table(LossWeights, tables.get("loss", {}), f"{source} [loss]"),
    )


def load_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read and check a training TOML file."""
    return parse_config(read_toml(path), str(path))


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML file's tables; a one-line error when it cannot be read or parsed."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise PerceptcodecError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PerceptcodecError(f"{path}: {exc}") from None


def check_tables(tables: dict[str, Any], source: str) -> None:
    """A trainer's file holds [data] and [train], and may hold [model] and [loss], no more."""
    known = ("data", "model", "train", "loss")
    for name in tables:
        if name not in known:
            raise PerceptcodecError(f"{source}: unknown table [{name}] (known: {', '.join(known)})")
    for name in ("data", "train"):
        if name not in tables:
            raise PerceptcodecError(f"{source}: missing table [{name}]")
