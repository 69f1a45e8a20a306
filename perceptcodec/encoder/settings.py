"""Encoder settings and results shared by the x264 and x265 wrappers: rate control, presets
and tunes, passes, packets, and the limits every argument is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from fractions import Fraction

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.units import parse_bitrate


class RateMode(str, Enum):
    """x264 rate control: average bitrate (1 or 2 passes), constant rate factor, constant QP.
    The values are the native wrapper's ``rc_mode`` codes' names."""

    ABR = "abr"
    CRF = "crf"
    CQP = "cqp"


class Pass(IntEnum):
    """Which pass an encoder runs: a single pass, or the first/second of a 2-pass encode."""

    SINGLE = 0
    FIRST = 1
    SECOND = 2


_RC_CODES = {RateMode.ABR: 0, RateMode.CRF: 1, RateMode.CQP: 2}  # native/pcx264.c's rc_mode
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
TUNES = ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency")


MAX_KBPS = 2_000_000  # x264's own ceiling
MAX_KEYINT = 1_000_000
MAX_THREADS = 128  # X264_THREAD_MAX


def _in_range(name: str, value: object, low: float, high: float, integer: bool = True) -> None:
    """A one-line PerceptcodecError unless ``value`` is a number (an integer when ``integer``)
    in low..high."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        raise PerceptcodecError(f"{name} must be {kind}, not {value!r}")
    if not low <= value <= high:  # NaN fails this too
        raise PerceptcodecError(f"{name} {value} must lie in {low:g}..{high:g}")


@dataclass(frozen=True)
class RateControl:
    """How x264 spends bits: ``abr`` at ``bitrate_kbps`` (kbit/s), ``crf``, or ``cqp`` at ``qp``;
    ``two_pass`` (ABR only); VBV in kbit/s and kbit (0 = off)."""

    mode: RateMode = RateMode.ABR
    bitrate_kbps: int = 300
    crf: float = 23.0
    qp: int = 26
    two_pass: bool = False
    vbv_maxrate_kbps: int = 0
    vbv_bufsize_kbit: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", RateMode(self.mode))
        except ValueError:
            msg = f"unknown rate control {self.mode!r} (abr, crf or cqp)"
            raise PerceptcodecError(msg) from None
        if self.mode == "abr":
            _in_range("bitrate (kbit/s)", self.bitrate_kbps, 1, MAX_KBPS)
        if self.mode == "crf":
            _in_range("CRF", self.crf, 0, 51, integer=False)
        if self.mode == "cqp":
            _in_range("QP", self.qp, 0, 51)
        _in_range("VBV max rate (kbit/s)", self.vbv_maxrate_kbps, 0, MAX_KBPS)
        _in_range("VBV buffer (kbit)", self.vbv_bufsize_kbit, 0, MAX_KBPS)
        if self.two_pass and self.mode != "abr":
            raise PerceptcodecError("two-pass encoding needs a target bitrate (ABR), not CRF/QP")

    @classmethod
    def choose(
        cls,
        bitrate: str | int | None = "300k",
        crf: float | None = None,
        qp: int | None = None,
        two_pass: bool = False,
    ) -> RateControl:
        """The rate control a user asked for: CRF if given, else QP, else ABR at ``bitrate``
        (``"300k"``, ``"1.5M"`` or kbit/s)."""
        if crf is not None:
            return cls(mode=RateMode.CRF, crf=float(crf), two_pass=two_pass)
        if qp is not None:
            return cls(mode=RateMode.CQP, qp=int(qp), two_pass=two_pass)
        if bitrate is None:
            raise PerceptcodecError("give a bitrate, a CRF or a QP")
        return cls(mode=RateMode.ABR, bitrate_kbps=parse_bitrate(bitrate), two_pass=two_pass)

    @property
    def tag(self) -> str:
        """Short name of the rate: ``300k``, ``crf23``, ``qp26``."""
        return {
            RateMode.ABR: f"{self.bitrate_kbps}k",
            RateMode.CRF: f"crf{self.crf:g}",
            RateMode.CQP: f"qp{self.qp}",
        }[self.mode]


@dataclass(frozen=True)
class X264Options:
    """x264 settings other than rate control."""

    preset: str = "medium"
    tune: str | None = None
    keyint: int = 0  # max GOP length in frames; 0 = x264 default (250)
    threads: int = 0  # 0 = auto

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise PerceptcodecError(f"unknown preset {self.preset!r}; one of {', '.join(PRESETS)}")
        for tune in (self.tune or "").split(","):
            if tune and tune not in TUNES:
                raise PerceptcodecError(f"unknown tune {tune!r}; one of {', '.join(TUNES)}")
        _in_range("keyint", self.keyint, 0, MAX_KEYINT)
        _in_range("threads", self.threads, 0, MAX_THREADS)


@dataclass(frozen=True)
class Packet:
    """One encoded frame: Annex-B H.264 bytes, pts/dts in the encoder's time base."""

    data: bytes
    pts: int
    dts: int
    keyframe: bool


_INT32 = 2**31 - 1
_INT64 = 2**63 - 1
MAX_SIZE = 16384  # pixels, either side (x264's own limit is the level's; this keeps sizes sane)
MAX_DQP = 51.0  # |QP offset| of one macroblock


def _ratio(name: str, value: object) -> Fraction:
    """A positive Fraction whose terms fit the native int32 fields, or a one-line error."""
    try:
        frac = Fraction(value).limit_denominator(1_000_000)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        raise PerceptcodecError(f"{name} {value!r} is not a number") from None
    if frac <= 0 or frac.numerator > _INT32 or frac.denominator > _INT32:
        raise PerceptcodecError(f"{name} {value} must be a positive number")
    return frac


DEFAULT_OPTIONS = X264Options()  # a default argument (frozen, so one instance serves all)
