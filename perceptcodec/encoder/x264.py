"""libx264 through the native wrapper (native/pcx264.c), loaded with ctypes.

ctypes releases the GIL during each call, so saliency can run in another Python thread while
x264 encodes.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum
from fractions import Fraction
from pathlib import Path

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


class X264Error(PerceptcodecError):
    """x264 failed inside a call (not a bad argument): out of memory, or a failed write."""


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


class _Params(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("fps_num", ctypes.c_int),
        ("fps_den", ctypes.c_int),
        ("timebase_num", ctypes.c_int),
        ("timebase_den", ctypes.c_int),
        ("vfr", ctypes.c_int),
        ("rc_mode", ctypes.c_int),
        ("bitrate_kbps", ctypes.c_int),
        ("crf", ctypes.c_float),
        ("qp", ctypes.c_int),
        ("pass_", ctypes.c_int),
        ("stats_path", ctypes.c_char_p),
        ("preset", ctypes.c_char_p),
        ("tune", ctypes.c_char_p),
        ("keyint", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("use_offsets", ctypes.c_int),
        ("vbv_maxrate_kbps", ctypes.c_int),
        ("vbv_bufsize_kbit", ctypes.c_int),
        ("sar_width", ctypes.c_int),
        ("sar_height", ctypes.c_int),
    ]


class _Packet(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_int),
        ("pts", ctypes.c_int64),
        ("dts", ctypes.c_int64),
        ("keyframe", ctypes.c_int),
    ]


def _load_library() -> ctypes.CDLL:
    here = Path(__file__).resolve().parent
    found = sorted(here.glob("libpcx264.so"))
    if not found:
        raise PerceptcodecError(
            "the native x264 wrapper is not built: install libx264-dev, then `pip install -e .`"
        )
    lib = ctypes.CDLL(str(found[0]))
    lib.pcx_open.restype = ctypes.c_void_p
    lib.pcx_open.argtypes = [ctypes.POINTER(_Params), ctypes.c_char_p, ctypes.c_int]
    lib.pcx_headers.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.pcx_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int64,
        ctypes.c_void_p,
        ctypes.POINTER(_Packet),
    ]
    lib.pcx_delayed.argtypes = [ctypes.c_void_p]
    lib.pcx_close.argtypes = [ctypes.c_void_p]
    return lib


_LIB: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        _LIB = _load_library()
    return _LIB


def x264_build() -> int:
    """X264_BUILD of the linked libx264 (164 on Debian bookworm)."""
    return int(_lib().pcx_build())


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


class X264Encoder:
    """An x264 encoder for I420 8-bit frames of ``width`` x ``height`` pixels (both even).

    ``time_base`` is the unit of the pts passed to :meth:`encode` (seconds per tick); ``fps`` the
    nominal frame rate. ``pass_``: a single pass, or pass 1 or 2 of two sharing ``stats_path``.

    Every argument is checked here before it reaches C. Calls are serialised by a lock (one
    encoder may be shared by threads; frames then arrive in lock order); after :meth:`close`
    every call raises PerceptcodecError. In CQP mode with ``use_offsets`` each frame is coded at
    the constant QP plus its offsets (x264's own CQP mode would drop them): I, P and B frames
    then share the QP.
    """

    def __init__(
        self,
        width: int,
        height: int,
        fps: Fraction,
        time_base: Fraction,
        rate: RateControl,
        options: X264Options = X264Options(),
        pass_: Pass = Pass.SINGLE,
        stats_path: str | None = None,
        use_offsets: bool = True,
        vfr: bool = True,
        sar: Fraction | None = None,
    ) -> None:
        self._h: int | None = None  # first, so __del__ works whatever fails below
        self._lock = threading.Lock()
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (width, height)):
            raise PerceptcodecError(f"frame size {width!r}x{height!r} must be integers")
        if width % 2 or height % 2 or not (16 <= width <= MAX_SIZE and 16 <= height <= MAX_SIZE):
            raise PerceptcodecError(
                f"x264 needs even sizes of 16 to {MAX_SIZE} pixels, got {width}x{height}"
            )
        try:
            pass_ = Pass(pass_)
        except ValueError:
            raise PerceptcodecError(f"pass {pass_!r}: 0 (single), 1 or 2") from None
        if pass_ is not Pass.SINGLE and not stats_path:
            raise PerceptcodecError(f"pass {int(pass_)} of 2 needs a stats_path")
        fps, time_base = _ratio("fps", fps), _ratio("time_base", time_base)
        if not isinstance(rate, RateControl) or not isinstance(options, X264Options):
            raise PerceptcodecError("rate must be a RateControl and options an X264Options")
        self.width, self.height = width, height
        self.mb_rows, self.mb_cols = -(-height // 16), -(-width // 16)
        params = _Params(
            width=width,
            height=height,
            fps_num=fps.numerator,
            fps_den=fps.denominator,
            timebase_num=time_base.numerator,
            timebase_den=time_base.denominator,
            vfr=int(vfr),
            rc_mode=_RC_CODES[rate.mode],
            bitrate_kbps=rate.bitrate_kbps,
            crf=rate.crf,
            qp=rate.qp,
            pass_=int(pass_),
            stats_path=stats_path.encode() if stats_path else None,
            preset=options.preset.encode(),
            tune=options.tune.encode() if options.tune else None,
            keyint=options.keyint,
            threads=options.threads,
            use_offsets=int(use_offsets),
            vbv_maxrate_kbps=rate.vbv_maxrate_kbps,
            vbv_bufsize_kbit=rate.vbv_bufsize_kbit,
            sar_width=sar.numerator if sar else 0,
            sar_height=sar.denominator if sar else 0,
        )
        err = ctypes.create_string_buffer(256)
        self._pkt = _Packet()
        self._h = _lib().pcx_open(ctypes.byref(params), err, len(err))
        if not self._h:
            raise PerceptcodecError(err.value.decode() or "x264 failed to open")

    def _handle(self) -> int:
        """The live native handle (call with the lock held)."""
        if not self._h:
            raise PerceptcodecError("the encoder is closed")
        return self._h

    def headers(self) -> bytes:
        """SPS + PPS in Annex-B form, for the container's extradata."""
        buf = ctypes.create_string_buffer(4096)
        with self._lock:
            n = _lib().pcx_headers(self._handle(), buf, len(buf))
        if n < 0:
            raise PerceptcodecError("x264 could not write its stream headers")
        return buf.raw[:n]

    def _check_planes(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        cw, ch = (self.width + 1) // 2, (self.height + 1) // 2
        for name, plane, shape in (
            ("luma", y, (self.height, self.width)),
            ("U", u, (ch, cw)),
            ("V", v, (ch, cw)),
        ):
            if not isinstance(plane, np.ndarray) or plane.ndim != 2 or plane.dtype != np.uint8:
                raise PerceptcodecError(f"{name} plane must be a 2-D uint8 array")
            if plane.strides[1] != 1 or plane.strides[0] < plane.shape[1]:
                raise PerceptcodecError(f"{name} plane must have unit column stride")
            if plane.shape != shape:
                raise PerceptcodecError(
                    f"{name} plane is {plane.shape[1]}x{plane.shape[0]}, the encoder takes "
                    f"{shape[1]}x{shape[0]} (frames must have the size the encoder was made for)"
                )
        if u.strides[0] != v.strides[0]:
            raise PerceptcodecError("U and V planes must share a stride")

    def _check_offsets(self, dqp_mb: np.ndarray | None) -> np.ndarray | None:
        if dqp_mb is None:
            return None
        dqp_mb = np.asarray(dqp_mb)
        if dqp_mb.shape != (self.mb_rows, self.mb_cols):
            raise PerceptcodecError(
                f"QP-offset map shape {dqp_mb.shape} != {(self.mb_rows, self.mb_cols)}"
            )
        if dqp_mb.dtype.kind not in "iuf":
            raise PerceptcodecError(f"QP-offset map must be real numbers, not {dqp_mb.dtype}")
        dqp_mb = np.ascontiguousarray(dqp_mb, dtype=np.float32)
        if not np.isfinite(dqp_mb).all():
            raise PerceptcodecError("QP-offset map holds NaN or infinite values")
        if np.abs(dqp_mb).max(initial=0.0) > MAX_DQP:
            raise PerceptcodecError(f"QP offsets must lie in -{MAX_DQP:g}..{MAX_DQP:g}")
        return dqp_mb

    def encode(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        pts: int,
        dqp_mb: np.ndarray | None = None,
    ) -> Packet | None:
        """Encode one frame. Planes are uint8 2-D arrays with unit column stride (H x W luma,
        H/2 x W/2 chroma; row padding allowed). ``dqp_mb`` is float32 (mb_rows x mb_cols) QP
        offsets or None. Returns the packet x264 produced for some earlier frame, if any."""
        self._check_planes(y, u, v)
        dqp_mb = self._check_offsets(dqp_mb)
        if isinstance(pts, bool) or not isinstance(pts, int | np.integer):
            raise PerceptcodecError(f"pts must be an integer, not {pts!r}")
        if not -_INT64 <= int(pts) <= _INT64:
            raise PerceptcodecError(f"pts {pts} does not fit 64 bits")
        offsets = dqp_mb.ctypes.data if dqp_mb is not None else None
        with self._lock:
            size = _lib().pcx_encode(
                self._handle(),
                y.ctypes.data,
                u.ctypes.data,
                v.ctypes.data,
                y.strides[0],
                u.strides[0],
                int(pts),
                offsets,
                ctypes.byref(self._pkt),
            )
            return self._take(size)

    def flush(self) -> Iterator[Packet]:
        """Drain the frames x264 still holds (lookahead, B-frames)."""
        while True:
            with self._lock:
                h = self._handle()
                delayed = _lib().pcx_delayed(h)
                if delayed == -2:
                    raise PerceptcodecError("the encoder is closed")
                if delayed <= 0:
                    return
                size = _lib().pcx_encode(h, None, None, None, 0, 0, 0, None, self._pkt)
                packet = self._take(size)
            if packet is not None:
                yield packet

    def _take(self, size: int) -> Packet | None:
        """The packet the last native call left (call with the lock held)."""
        if size == -2:
            raise PerceptcodecError("the encoder is closed")
        if size < 0:
            raise X264Error(
                "x264 failed to encode a frame (out of memory, or a write error: disk full?)"
            )
        if size == 0:
            return None
        p = self._pkt
        return Packet(ctypes.string_at(p.data, size), p.pts, p.dts, bool(p.keyframe))

    def close(self) -> None:
        """Free the encoder; in pass 1 this is what writes the statistics file. Closing twice
        is harmless; any other call afterwards raises PerceptcodecError."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            h, self._h = getattr(self, "_h", None), None
            if h:
                _lib().pcx_close(h)

    def __enter__(self) -> X264Encoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
