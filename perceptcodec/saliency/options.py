"""Each saliency model's own options, as frozen dataclasses.

They live here, apart from the models, so the CLI and ``rd`` can build flags and configuration
keys from them without importing a model (and its runtime). A field whose metadata names a
``flag`` becomes a command-line option of ``encode`` and ``saliency`` (shared by every model
that declares it); a ``key`` is its short name in ``rd`` configurations (``prior:0.7:fs=30``).
Ranges are checked on construction, so a bad value is a one-line error before any decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from perceptcodec.errors import PerceptcodecError


class Runtime(str, Enum):
    """How a trained network runs: ``auto`` picks the fastest present."""

    AUTO = "auto"
    ONNX = "onnx"
    TORCH = "torch"
    TENSORRT = "tensorrt"

    @classmethod
    def parse(cls, value: Runtime | str) -> Runtime:
        """The runtime named ``value``; a one-line error for an unknown name."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise PerceptcodecError(f"unknown runtime {value!r}; one of {names}") from None


def option(default: Any, *, flag: str = "", key: str = "", help: str = "") -> Any:
    """A dataclass field with the metadata the CLI and ``rd`` read."""
    return field(default=default, metadata={"flag": flag, "key": key, "help": help})


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise a one-line PerceptcodecError unless low <= value <= high."""
    if not low <= value <= high:
        raise PerceptcodecError(f"{name} {value} must lie in {low:g}..{high:g}")


@dataclass(frozen=True)
class ModelOptions:
    """Base of every model's options: how many pixels wide the model works (frames are resized
    to that width, aspect kept) is common to the frame-based models."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            bounds = _RANGES.get(f.name)
            if bounds is not None:
                check_range(f.metadata.get("flag") or f.name, value, *bounds)


# Allowed ranges of numeric fields by name (the same name means the same thing in every model).
_RANGES: dict[str, tuple[float, float]] = {
    "width": (32, 1920),
    "face_detail": (1, 1000),
    "face_stride": (1, 10_000),
    "face_match": (0, 1),
    "face_misses": (0, 10),
    "face_weight": (0.0, 1.0),
    "motion_weight": (0.0, 1.0),
    "center_weight": (0.0, 1.0),
    "center_sigma": (0.01, 10.0),
    "temporal": (0.0, 0.99),
    "static": (0.0, 1.0),
    "background_bias": (-3.0, 3.0),
    "threads": (0, 256),
    "window_stride": (1, 64),
}

WIDTH_HELP = "width in pixels the model works at (32-1920; default 320)"
FACE_STRIDE_HELP = "frames between face detections, tracked in between (default 10)"


@dataclass(frozen=True)
class PriorOptions(ModelOptions):
    """``prior``: width (pixels), face_width (pixels the face detector sees, at least
    ``width``, at most the source's width; 0: ``width``), face_detail (every face_detail-th
    detection runs there, the others at ``width``), face_stride (frames), face_match (0/1:
    boxes follow their picture between detections, not the flow alone), face_misses
    (detections a track survives unmatched), the mix of the face,
    motion and centre maps (each normalised first; a missing component's weight goes to the
    others), center_sigma (fraction of each side), temporal (EMA weight of the previous map).
    attention (0/1): learned face attention (:mod:`perceptcodec.saliency.attention`; the share
    of the faces then comes from the model and face_weight is unused) or the old equal weights;
    motion_floor (0/1): the motion noise floor; static (0..1): share of the background drawn
    from what stands out x centre (with attention); static_net (0/1): what stands out is the
    learned static map (:class:`perceptcodec.saliency.static.StaticNet`) or the spectral
    residual; background_bias (natural-log units) is added to the background's fitted
    utility against the faces; speaker (0/1/2): the
    active-speaker cue (on by default; its weight is set by reasoning, no gaze on
    conversations here: ``eval/results/attention/README.md``).
    ``prior:0.7:att=0:mf=0`` in ``rd`` is the prior as it was before both."""

    face_stride: int = option(10, flag="--face-stride", key="fs", help=FACE_STRIDE_HELP)
    width: int = option(320, flag="--saliency-width", key="w", help=WIDTH_HELP)
    face_width: int = option(
        640,
        flag="--face-width",
        key="fw",
        help="width in pixels faces are detected at, up to the source's own (32-1920, default "
        "640: small faces; 0: at --saliency-width, where the rest of the model works)",
    )
    face_detail: int = option(
        1,
        flag="--face-detail-every",
        key="fd",
        help="with --face-width above --saliency-width, every N-th face detection (the first "
        "of each shot included) runs at --face-width, the others at --saliency-width "
        "(default 1: all)",
    )
    face_match: int = option(
        1,
        flag="--face-match",
        key="fm",
        help="1 (default): between detections a face's box goes where its picture matches; 0: "
        "it moves with the low-resolution optical flow only, and falls behind small faces "
        "that walk",
    )
    face_misses: int = option(
        1,
        flag="--face-misses",
        key="fmm",
        help="detections a face track survives without a match (default 1)",
    )
    face_weight: float = 0.6
    motion_weight: float = 0.25
    center_weight: float = 0.15
    center_sigma: float = 0.25
    temporal: float = 0.3
    attention: int = option(
        1,
        flag="--face-attention",
        key="att",
        help="1: learned attention over faces (which face, eyes vs mouth, face vs background "
        "share; default); 0: the old equal weights, score x sqrt(area) per face with a fixed "
        "face_weight share",
    )
    motion_floor: int = option(
        1,
        flag="--motion-floor",
        key="mf",
        help="1: motion above the frame's noise floor, two-frame consistent, weighted by its "
        "confidence (default); 0: the old motion term",
    )
    static: float = option(
        1.0,
        flag="--static-saliency",
        key="ss",
        help="0..1 share of the background that follows what stands out of the picture "
        "(x centre bias) rather than the centre bias alone (default 1; 0.5 suits "
        "--static-net 0)",
    )
    background_bias: float = option(
        1.0,
        flag="--background-bias",
        key="bb",
        help="natural-log units added to the background's fitted utility against the faces "
        "(-3..3; > 0 spends more of the map off the faces; default 1, chosen with the "
        "learned static map on its validation images; 0: the default before 2026-12-06)",
    )
    static_net: int = option(
        1,
        flag="--static-net",
        key="sn",
        help="1: what stands out of the picture is the learned static map (default); 0: the "
        "spectral residual (the prior before revision 5, with --static-saliency 0.5 and "
        "--background-bias 0)",
    )
    speaker: int = option(
        1,
        flag="--speaker-cue",
        key="spk",
        help="1: weight the face that talks, seen from the mouth's activity over the eyes' "
        "(default; top face right on 0.88 of held-out talking composites); 2: the same, but "
        "with sound from mouth-voice synchrony (better only when others move their mouths "
        "silently: 0.65 against 0.42 among muted talkers; worse in conversations: 0.78 "
        "against 0.88, and -0.2 / -0.55 dB BD-EWPSNR on tuning / held-out dialogues); 0: off",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("attention", "motion_floor", "static_net"):
            if getattr(self, name) not in (0, 1):
                raise PerceptcodecError(f"{name} {getattr(self, name)} must be 0 or 1")
        if self.speaker not in (0, 1, 2):
            raise PerceptcodecError(f"speaker {self.speaker} must be 0, 1 or 2")
        if self.face_width:
            check_range("--face-width", self.face_width, 32, 1920)

    @property
    def uses_static_net(self) -> bool:
        """Whether the maps depend on the learned static map's weights (``static.onnx``)."""
        return bool(self.attention and self.static_net and self.static > 0)


@dataclass(frozen=True)
class CenterOptions(ModelOptions):
    """``center``: the Gaussian's sigma as a fraction of each side."""

    center_sigma: float = 0.25


@dataclass(frozen=True)
class TrainedOptions(ModelOptions):
    """What the trained networks' options share: weights (a checkpoint; default the shipped
    one), device (auto, cpu, cuda; for the torch runtime), threads (CPU threads of the
    runtime)."""

    weights: str | None = None
    device: str = "auto"
    threads: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.device not in ("auto", "cpu", "cuda"):
            raise PerceptcodecError(f"device {self.device!r}: auto, cpu or cuda")


@dataclass(frozen=True)
class VamNetOptions(TrainedOptions):
    """``vamnet``: width (pixels, where faces are found), face_stride (frames), weights (a
    checkpoint; default the shipped one), device (auto, cpu, cuda; for the torch runtime),
    threads (CPU threads of the runtime), listen (0/1: whether the stream hands it the
    soundtrack, for its audio node and its speaker cue)."""

    face_stride: int = option(10, flag="--face-stride", key="fs", help=FACE_STRIDE_HELP)
    width: int = option(320, flag="--saliency-width", key="w", help=WIDTH_HELP)
    listen: int = option(
        0,
        flag="--vamnet-listen",
        key="li",
        help="vamnet: 1 hears the soundtrack (audio node, speaker cue); 0 (default) does not: "
        "with sound it picked the talker less often (0.75 against 0.86 on held-out "
        "composites) and lost 0.25 dB BD-EWPSNR on held-out dialogues",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.listen not in (0, 1):
            raise PerceptcodecError(f"listen {self.listen} must be 0 or 1")


@dataclass(frozen=True)
class DaveOptions(TrainedOptions):
    """``dave``: window_stride (frames between two runs of the network on the causal
    16-frame window; the map is held in between), weights (a checkpoint; default the shipped
    one, the exported graph is looked for beside it), device (auto, cpu, cuda; for the torch
    runtime), threads (CPU threads of the runtime)."""

    window_stride: int = option(
        8,
        flag="--dave-stride",
        key="ds",
        help="dave: frames between runs of the network on its causal 16-frame window, the "
        "map held in between (1-64; default 8)",
    )


def option_flags(options_type: type[ModelOptions]) -> dict[str, str]:
    """{field name: command-line flag} of the fields that have one."""
    return {f.name: f.metadata["flag"] for f in fields(options_type) if f.metadata.get("flag")}


def option_keys(options_type: type[ModelOptions]) -> dict[str, str]:
    """{short key: field name} of the fields ``rd`` configurations may set."""
    return {f.metadata["key"]: f.name for f in fields(options_type) if f.metadata.get("key")}


def option_value(options_type: type[ModelOptions], name: str, text: str) -> int | float:
    """Field ``name``'s value from the text of a ``KEY=VALUE`` setting, of the field's type:
    a float field takes a fraction, an int field a whole number (ValueError otherwise)."""
    return float(text) if isinstance(getattr(options_type, name), float) else int(text)
