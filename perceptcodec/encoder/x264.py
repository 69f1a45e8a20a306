"""libx264 through the native wrapper (native/pcx264.c), loaded with ctypes.

ctypes releases the GIL during each call, so saliency can run in another Python thread while
x264 encodes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from perceptcodec.encoder.native import NativeEncoder
from perceptcodec.encoder.settings import (
    _RC_CODES,
    DEFAULT_OPTIONS,
    H264_PROFILES,
    MAX_KEYINT,
    MAX_THREADS,
    NO_COLOR,
    PRESETS,
    TUNES,
    ColorInfo,
    Packet,
    Pass,
    RateControl,
    RateMode,
    X264Options,
)
from perceptcodec.errors import PerceptcodecError

X264_LOG_NONE, X264_LOG_INFO = -1, 2

# The settings types are re-exported here: they began life in this module.
__all__ = [
    "MAX_KEYINT",
    "MAX_THREADS",
    "PRESETS",
    "TUNES",
    "Packet",
    "Pass",
    "RateControl",
    "RateMode",
    "X264Encoder",
    "X264Error",
    "X264Options",
    "check_x264_params",
    "x264_build",
]


class X264Error(PerceptcodecError):
    """x264 failed inside a call (not a bad argument): out of memory, or a failed write."""


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
        ("x264_params", ctypes.c_char_p),
        ("profile", ctypes.c_char_p),
        ("level_idc", ctypes.c_int),
        ("fullrange", ctypes.c_int),
        ("colorprim", ctypes.c_int),
        ("transfer", ctypes.c_int),
        ("colmatrix", ctypes.c_int),
        ("log_level", ctypes.c_int),
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
    lib.pcx_check_params.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.pcx_check_profile.argtypes = [ctypes.c_char_p]
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


def check_x264_params(params: str | None) -> None:
    """Refuse unknown x264-params keys, unparsable values and keys perceptcodec sets itself,
    in one line naming the key: libx264's own ``x264_param_parse`` on a scratch parameter set
    (no encoder is opened). Numeric ranges are checked when an encoder opens."""
    if not params:
        return
    if not isinstance(params, str) or "\0" in params:
        raise PerceptcodecError(f"x264 params {params!r} must be a 'key=value:...' string")
    err = ctypes.create_string_buffer(512)
    if _lib().pcx_check_params(params.encode(), err, len(err)) != 0:
        raise PerceptcodecError(err.value.decode(errors="replace") or "bad x264 params")


class X264Encoder(NativeEncoder):
    """An x264 encoder for I420 8-bit frames of ``width`` x ``height`` pixels (both even).

    ``time_base`` is the unit of the pts passed to :meth:`encode` (seconds per tick); ``fps`` the
    nominal frame rate. ``pass_``: a single pass, or pass 1 or 2 of two sharing ``stats_path``.

    Every argument is checked here before it reaches C. Calls are serialised by a lock (one
    encoder may be shared by threads; frames then arrive in lock order); after :meth:`close`
    every call raises PerceptcodecError. In CQP mode with ``use_offsets`` each frame is coded at
    the constant QP plus its offsets (x264's own CQP mode would drop them): I, P and B frames
    then share the QP.
    """

    codec_name = "x264"
    error = X264Error

    def __init__(
        self,
        width: int,
        height: int,
        fps: Fraction,
        time_base: Fraction,
        rate: RateControl,
        options: X264Options = DEFAULT_OPTIONS,
        pass_: Pass = Pass.SINGLE,
        stats_path: str | None = None,
        use_offsets: bool = True,
        vfr: bool = True,
        sar: Fraction | None = None,
        color: ColorInfo = NO_COLOR,
        verbose: bool = False,
    ) -> None:
        self._begin()
        pass_, fps, time_base = self._checked_setup(
            width, height, pass_, stats_path, fps, time_base, rate, options
        )
        if not isinstance(color, ColorInfo):
            raise PerceptcodecError("color must be a ColorInfo")
        if options.profile is not None and options.profile not in H264_PROFILES:
            raise PerceptcodecError(f"unknown profile {options.profile!r}")
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
            x264_params=options.params.encode() if options.params else None,
            profile=options.profile.encode() if options.profile else None,
            level_idc=options.level,
            log_level=X264_LOG_INFO if verbose else X264_LOG_NONE,
            **color.native(),
        )
        err = ctypes.create_string_buffer(512)
        self._pkt = _Packet()
        self._h = _lib().pcx_open(ctypes.byref(params), err, len(err))
        if not self._h:
            raise PerceptcodecError(err.value.decode(errors="replace") or "x264 failed to open")

    def headers(self) -> bytes:
        """SPS + PPS in Annex-B form, for the container's extradata."""
        buf = ctypes.create_string_buffer(4096)
        with self._lock:
            n = _lib().pcx_headers(self._handle(), buf, len(buf))
        if n < 0:
            raise PerceptcodecError("x264 could not write its stream headers")
        return buf.raw[:n]

    def _check_planes(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        super()._check_planes(y, u, v)
        if u.strides[0] != v.strides[0]:
            raise PerceptcodecError("U and V planes must share a stride")

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
        pts = self._check_pts(pts)
        offsets = dqp_mb.ctypes.data if dqp_mb is not None else None
        with self._lock:
            size = _lib().pcx_encode(
                self._handle(),
                y.ctypes.data,
                u.ctypes.data,
                v.ctypes.data,
                y.strides[0],
                u.strides[0],
                pts,
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

    def _close_native(self, handle: int) -> None:
        _lib().pcx_close(handle)
