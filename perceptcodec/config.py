"""One typed configuration of an encode, built once (by the CLI, ``rd`` or a library user) and
handed to :func:`perceptcodec.pipeline.encode` as it is.

``EncodeConfig`` = codec (H.264 or HEVC) + rate control + x264 options (x265 takes the same
ones) + x265-only options + ROI mapping + which saliency drives it + which part of the input
(:class:`Trim`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from perceptcodec.encoder.codec import Codec, X265Options
from perceptcodec.encoder.x264 import RateControl, X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency import (
    DEFAULT_MODEL,
    MODELS,
    NONE,
    SaliencyModel,
    get_model,
    model_entry,
)
from perceptcodec.saliency.external import ExternalSaliency, is_external
from perceptcodec.saliency.options import ModelOptions, Runtime, check_range

MAX_START_S = 10 * 24 * 3600.0  # ten days, in seconds
MAX_FRAMES = 100_000_000


@dataclass(frozen=True)
class Trim:
    """Which part of the input is encoded: from ``start_s`` seconds after its first frame (the
    frame nearest that time, within half a frame; the output starts at the input's start
    time), at most ``frames`` frames (0 = to the end). The audio is cut to match."""

    start_s: float = 0.0
    frames: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.start_s, bool) or not isinstance(self.start_s, (int, float)):
            raise PerceptcodecError(f"start must be a number of seconds, not {self.start_s!r}")
        check_range("start (s)", self.start_s, 0.0, MAX_START_S)
        if isinstance(self.frames, bool) or not isinstance(self.frames, int):
            raise PerceptcodecError(f"frames must be an integer, not {self.frames!r}")
        check_range("frames", self.frames, 0, MAX_FRAMES)


@dataclass(frozen=True)
class SaliencySpec:
    """Which saliency drives the QP offsets.

    model: a registered name, ``none`` (plain x264: the baseline of every comparison), a file
    of maps (``.npz``/``.npy``, frames x h x w) or of gaze (``.csv``: ``frame,x,y,subject``;
    frames without a map fall back to the default model), or a model object; options: that
    model's options dataclass (None = its defaults); runtime: how a trained network runs;
    stride: the model sees every k-th frame, maps in between are interpolated (None: the
    registered model's default, ``ModelEntry.stride``; 1 for anything else)."""

    model: str | SaliencyModel = DEFAULT_MODEL
    options: ModelOptions | None = None
    runtime: Runtime = Runtime.AUTO
    stride: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "runtime", Runtime.parse(self.runtime))
        if self.stride is None:
            registered = isinstance(self.model, str) and self.model in MODELS
            object.__setattr__(self, "stride", MODELS[self.model].stride if registered else 1)
        check_range("saliency stride", self.stride, 1, 1000)
        if isinstance(self.model, str) and is_external(self.model):
            if self.options is not None or self.stride != 1:
                raise PerceptcodecError(
                    f"{self.model}: maps from a file take no model options and no stride"
                )
        elif isinstance(self.model, str) and self.model != NONE:
            entry = model_entry(self.model)
            if self.options is not None and type(self.options) is not entry.options:
                raise PerceptcodecError(
                    f"model {self.model!r} takes {entry.options.__name__}, "
                    f"not {type(self.options).__name__}"
                )
        elif self.model == NONE and self.options is not None:
            raise PerceptcodecError("--saliency none takes no model options")

    @property
    def name(self) -> str:
        """The model's name (a file's name; ``custom`` for an object without one)."""
        if isinstance(self.model, str):
            return Path(self.model).name if is_external(self.model) else self.model
        return getattr(self.model, "name", "custom")

    def build(self) -> SaliencyModel | None:
        """The model to run, or None for plain x264."""
        if not isinstance(self.model, str):
            return self.model
        if self.model == NONE:
            return None
        if is_external(self.model):
            return ExternalSaliency(self.model, get_model(DEFAULT_MODEL))
        return get_model(self.model, self.options, self.runtime)


@dataclass(frozen=True)
class EncodeConfig:
    """Everything that decides the encoded bits: rate, x264 options, ROI mapping, saliency;
    ``codec`` H.264 (x264) or HEVC (x265, which takes the same rate control and preset/tune/
    keyint/threads options, plus ``x265``: :class:`X265Options`, HEVC only)."""

    rate: RateControl = field(default_factory=RateControl)
    x264: X264Options = field(default_factory=X264Options)
    roi: RoiSettings = field(default_factory=RoiSettings)
    saliency: SaliencySpec = field(default_factory=SaliencySpec)
    codec: Codec = Codec.H264
    x265: X265Options = field(default_factory=X265Options)
    trim: Trim = field(default_factory=Trim)

    def __post_init__(self) -> None:
        object.__setattr__(self, "codec", Codec.parse(self.codec))
        if not isinstance(self.x265, X265Options):
            raise PerceptcodecError("x265 options must be an X265Options")
        if not isinstance(self.trim, Trim):
            raise PerceptcodecError("trim must be a Trim")
        if self.codec is Codec.H264 and self.x265.params:
            raise PerceptcodecError("x265 params apply to HEVC only (codec hevc)")
        if self.codec is Codec.HEVC and self.x264.params:
            raise PerceptcodecError(
                "x264 params apply to H.264 only; for HEVC give x265 params (--x265-params)"
            )
        if self.codec is Codec.HEVC and self.x264.profile:
            raise PerceptcodecError("profiles apply to H.264 only (HEVC is coded Main)")
        if self.codec is Codec.HEVC and self.x264.tune:
            from perceptcodec.encoder.x265 import X265_TUNES

            if self.x264.tune not in X265_TUNES:
                raise PerceptcodecError(
                    f"x265 has no tune {self.x264.tune!r}; one of {', '.join(X265_TUNES)}"
                )


__all__ = ["EncodeConfig", "SaliencySpec", "Trim"]
