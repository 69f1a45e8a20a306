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
# x264_param_apply_profile names for 8-bit 4:2:0 input (high10/422/444 would only code 8-bit
# 4:2:0 High here, so they are not offered); the default is high.
H264_PROFILES = ("baseline", "main", "high")
# level_idc values (H.264 Table A-1; 9 = level 1b); HEVC's are level x 10 as well.
LEVELS = (9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52, 60, 61, 62)


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


def parse_level(value: str | int | float) -> int:
    """A level as level_idc: ``"3.1"``, ``3.1``, ``"31"``, ``31``, ``"4"``, ``"4.0"`` -> 31 or
    40; ``"1b"`` -> 9. Anything else (or a level H.264 does not define) is a one-line error."""
    text = str(value).strip().lower()
    if text == "1b":
        return 9
    try:
        number = float(text)
    except ValueError:
        raise PerceptcodecError(f"level {value!r} is not a level like 3.1, 4.0 or 41") from None
    idc = int(round(number * 10)) if number < 7 else int(round(number))
    if idc not in LEVELS or (number >= 7 and number != idc):
        levels = ", ".join("1b" if n == 9 else f"{n / 10:g}" for n in LEVELS)
        raise PerceptcodecError(f"level {value!r} does not exist; one of {levels}")
    return idc


@dataclass(frozen=True)
class X264Options:
    """x264 settings other than rate control (HEVC takes preset, tune, keyint, threads and
    level too).

    ``params``: x264-params, ``"key=value:key=value"`` by ``x264 --fullhelp`` names (a bare
    key means 1), applied through x264's own ``x264_param_parse`` after the preset, the tune
    and perceptcodec's settings, before the profile: they win over the preset. Unknown keys
    and unparsable values are refused here, naming the key (checked by libx264 on a scratch
    parameter set), and so are keys perceptcodec sets itself (``bitrate``, ``crf``, ``qp``,
    ``pass``, ``stats``, ``vbv-maxrate``, ``vbv-bufsize``, ``level``, ``fps``, ``sar``,
    ``annexb``, ``repeat-headers``, ``force-cfr``, ``interlaced``, ...). Numeric ranges are
    checked when the encoder opens. H.264 only. ``profile``: ``baseline``, ``main`` or
    ``high`` (None = high, x264's ceiling applied as before). ``level``: level_idc (31 = 3.1;
    any form :func:`parse_level` reads), 0 = the encoder's choice."""

    preset: str = "medium"
    tune: str | None = None
    keyint: int = 0  # max GOP length in frames; 0 = x264 default (250)
    threads: int = 0  # 0 = auto
    params: str | None = None
    profile: str | None = None
    level: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise PerceptcodecError(f"unknown preset {self.preset!r}; one of {', '.join(PRESETS)}")
        for tune in (self.tune or "").split(","):
            if tune and tune not in TUNES:
                raise PerceptcodecError(f"unknown tune {tune!r}; one of {', '.join(TUNES)}")
        _in_range("keyint", self.keyint, 0, MAX_KEYINT)
        _in_range("threads", self.threads, 0, MAX_THREADS)
        if self.profile is not None and self.profile not in H264_PROFILES:
            raise PerceptcodecError(
                f"unknown profile {self.profile!r}; one of {', '.join(H264_PROFILES)}"
            )
        if self.level:
            object.__setattr__(self, "level", parse_level(self.level))
        params = self.params
        if params is not None and (not isinstance(params, str) or "\0" in params):
            raise PerceptcodecError(f"x264 params {params!r} must be a 'key=value:...' string")
        if params is not None and not params.strip(": "):
            object.__setattr__(self, "params", None)
        elif params is not None:
            from perceptcodec.encoder.x264 import check_x264_params

            check_x264_params(params)


# H.273 code points (FFmpeg's AVColorPrimaries/AVColorTransferCharacteristic/AVColorSpace and
# the H.264/HEVC VUI share them) that say nothing: 0 reserved (matrix 0 is RGB), 2 unspecified.
_UNSPECIFIED = (0, 2)


@dataclass(frozen=True)
class ColorInfo:
    """The colour description written into the stream's VUI (and the container): ITU-T H.273
    code points, as FFmpeg and the H.264/HEVC VUI use them (``primaries`` 1 = BT.709, 6 =
    SMPTE 170M, 9 = BT.2020; ``transfer`` 1 = BT.709, 16 = PQ, 18 = HLG; ``matrix`` 1 = BT.709,
    6 = SMPTE 170M, 9 = BT.2020 non-constant), and ``full_range`` (True: 0-255 "JPEG" range,
    False: 16-235 limited). None = unspecified (the encoder writes nothing for it)."""

    primaries: int | None = None
    transfer: int | None = None
    matrix: int | None = None
    full_range: bool | None = None

    def __post_init__(self) -> None:
        for name in ("primaries", "transfer", "matrix"):
            value = getattr(self, name)
            if value is not None:
                _in_range(f"colour {name}", value, 0, 255)
        if self.full_range is not None and not isinstance(self.full_range, bool):
            raise PerceptcodecError(
                f"full_range must be True, False or None, not {self.full_range!r}"
            )

    @classmethod
    def of_frame(cls, frame: object) -> ColorInfo:
        """What a decoded PyAV frame says about its colour, as the encoder will code it: a
        yuv420p/yuvj420p frame keeps its range (yuvj420p is full range); other formats are
        converted to limited-range yuv420p; RGB frames get no matrix (the conversion picks
        one)."""
        fmt = getattr(getattr(frame, "format", None), "name", "") or ""

        def code(name: str) -> int | None:
            value = getattr(frame, name, None)
            value = int(value) if value is not None else None
            return None if value is None or value in _UNSPECIFIED else value

        rgb = any(tag in fmt for tag in ("rgb", "bgr", "gbr")) or fmt.startswith("gray")
        range_code = int(getattr(frame, "color_range", 0) or 0)
        if fmt == "yuvj420p":
            full: bool | None = True
        elif fmt == "yuv420p":
            full = {1: False, 2: True}.get(range_code)
        else:
            full = False if range_code or fmt.startswith("yuvj") else None
        return cls(
            code("color_primaries"),
            code("color_trc"),
            None if rgb else code("colorspace"),
            full,
        )

    @property
    def specified(self) -> bool:
        """Whether anything is known."""
        values = (self.primaries, self.transfer, self.matrix, self.full_range)
        return any(v is not None for v in values)

    def native(self) -> dict[str, int]:
        """The native wrappers' fields: -1 for unspecified."""
        return {
            "fullrange": -1 if self.full_range is None else int(self.full_range),
            "colorprim": -1 if self.primaries is None else self.primaries,
            "transfer": -1 if self.transfer is None else self.transfer,
            "colmatrix": -1 if self.matrix is None else self.matrix,
        }


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
NO_COLOR = ColorInfo()
