"""libx265 (HEVC) through the native wrapper (native/pcx265.c), loaded with ctypes.

The same interface as :class:`perceptcodec.encoder.x264.X264Encoder`: I420 8-bit planes in,
:class:`Packet` (Annex-B HEVC access units) out, a float32 map of QP offsets per frame.

QP offsets and the ROI mapping. ``roi.qp_offsets`` turns block weights w into
dQP = -3 log2(w / mean w), the weighted-MSE optimum when the Lagrange multiplier that weighs
squared error against bits doubles every 3 QP. x265 (3.5, source/common/constants.cpp) uses
lambda = 2^(QP/6 - 2) for SAD/SATD costs and lambda2 = 0.85 * lambda^2 = 0.85 * 2^(QP/3 - 4) for
SSE costs, and HEVC's quantiser step, like H.264's, doubles every 6 QP; so x265's SSE lambda
doubles every 3 QP exactly as x264's does, and the same -3 log2(w / mean w) mapping holds with
no rescaling. Measured (eval/results/hevc_roi.md: a talking-head clip, 200 kbit/s 2-pass, a
centred box, the same offsets): PSNR-Y in the ROI +2.11 dB / outside -2.61 dB with x265,
+2.34 / -2.50 dB with x264, so the same offsets buy about the same trade in both.

The offsets grid: x265 adds ``quantOffsets`` per 16x16 block of the (padded) picture, row-major,
ceil(H/16) x ceil(W/16), and applies them per quantisation group; the wrapper sets qg-size 16 so
a QP can change every 16x16 block, as with x264's macroblocks (x265's default, the CTU size,
would average the offsets over 64x64). With ``params="qg-size=8"`` the grid is 8x8 blocks;
:attr:`X265Encoder.mb_rows`/``mb_cols``/``block`` always say what the encoder takes.

ctypes releases the GIL during each call, so saliency can run in another Python thread while
x265 encodes (x265 also runs its own worker threads).
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
    NO_COLOR,
    ColorInfo,
    Packet,
    Pass,
    RateControl,
    X264Options,
    _ratio,
)
from perceptcodec.errors import PerceptcodecError

X265_TUNES = ("psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation")
X265_LOG_ERROR, X265_LOG_INFO = 0, 2
HEVC_LEVELS = (10, 20, 21, 30, 31, 40, 41, 50, 51, 52, 60, 61, 62)  # level x 10
INSTALL_HINT = (
    "the HEVC encoder needs libx265: install libx265-dev "
    "(`sudo apt-get install libx265-dev`), then `pip install -e .`"
)


class X265Error(PerceptcodecError):
    """x265 failed inside a call (not a bad argument): out of memory, or a failed write."""


class _Params(ctypes.Structure):
    """native/pcx265.c's pcx265_params, field for field."""

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
        ("x265_params", ctypes.c_char_p),
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
        ("slice_type", ctypes.c_int),
    ]


_LIBRARY = Path(__file__).resolve().parent / "libpcx265.so"  # built by setup.py


def _load_library() -> ctypes.CDLL:
    if not _LIBRARY.exists():
        raise PerceptcodecError(INSTALL_HINT)
    try:
        lib = ctypes.CDLL(str(_LIBRARY))
    except OSError:  # built, but libx265.so has gone since
        raise PerceptcodecError(INSTALL_HINT) from None
    vp, i, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    ip = ctypes.POINTER(ctypes.c_int)
    lib.pcx265_build.restype = i
    lib.pcx265_open.restype = vp
    lib.pcx265_open.argtypes = [ctypes.POINTER(_Params), ctypes.c_char_p, i]
    lib.pcx265_grid.argtypes = [vp, ip, ip, ip]
    lib.pcx265_headers.argtypes = [vp, ctypes.c_char_p, i]
    lib.pcx265_encode.argtypes = [vp, vp, vp, vp, i, i, i, i64, vp, ctypes.POINTER(_Packet)]
    lib.pcx265_close.argtypes = [vp]
    lib.pcx265_close.restype = None
    return lib


_LIB: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        _LIB = _load_library()
    return _LIB


def x265_build() -> int:
    """X265_BUILD of the linked libx265 (199 for Debian bookworm's 3.5)."""
    return int(_lib().pcx265_build())


def x265_available() -> bool:
    """Whether the HEVC wrapper is built and libx265 loads."""
    try:
        _lib()
    except PerceptcodecError:
        return False
    return True


class X265Encoder(NativeEncoder):
    """An x265 (HEVC, Main profile) encoder for I420 8-bit frames of ``width`` x ``height``
    pixels (both even, 16..16384).

    The constructor and methods are :class:`~perceptcodec.encoder.x264.X264Encoder`'s:
    ``fps`` the nominal frame rate (frames/s), ``time_base`` the unit of the pts given to
    :meth:`encode` (seconds per tick; x265 passes pts through), ``rate`` ABR (1 or 2 passes)/CRF/
    CQP, ``options`` preset, tune (x265's: psnr, ssim, grain, zerolatency, fastdecode,
    animation), keyint and threads (x265's worker-pool size, 0 = all cores). ``pass_`` with
    ``stats_path``: 2-pass, where x265 also writes ``stats_path + ".cutree"``; close pass 1
    before opening pass 2, and give both passes the same offsets. ``params``: x265-params,
    ``"key=value:key=value"`` (``x265 --fullhelp`` names; a bare key means 1), applied after
    the options; an unknown key or bad value is refused, naming it. ``vfr`` is accepted for
    symmetry: x265's rate control assumes the nominal ``fps``.

    Differences from x264 worth knowing: GOPs are closed (every keyframe is an IDR; params
    ``open-gop=1`` gives CRA keyframes); in CQP mode with ``use_offsets`` x265's own CQP would
    drop the offsets, so frames are coded as CRF at that QP with qcomp 1 (constant QP per frame
    type, I/B offsets from ipratio/pbratio, no cutree); with ``use_offsets`` every frame gets a
    map (zeros when ``dqp_mb`` is None).

    Every argument is checked before it reaches C; calls are serialised by a lock; after
    :meth:`close` every call raises PerceptcodecError.
    """

    codec_name = "x265"
    error = X265Error

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
        params: str | None = None,
        color: ColorInfo = NO_COLOR,
        verbose: bool = False,
    ) -> None:
        self._begin()
        self._flushing = False
        pass_, fps, time_base = self._checked_setup(
            width, height, pass_, stats_path, fps, time_base, rate, options
        )
        if stats_path is not None and (not isinstance(stats_path, str) or "\0" in stats_path):
            raise PerceptcodecError(f"stats_path {stats_path!r} must be a file name")
        if pass_ is Pass.SECOND and not Path(stats_path or "").is_file():
            raise PerceptcodecError(
                f"pass 2 needs pass 1's statistics {stats_path} (close pass 1 first)"
            )
        if options.tune and options.tune not in X265_TUNES:
            raise PerceptcodecError(
                f"x265 has no tune {options.tune!r}; one of {', '.join(X265_TUNES)}"
            )
        if params is not None and (not isinstance(params, str) or "\0" in params):
            raise PerceptcodecError(f"x265 params {params!r} must be a 'key=value:...' string")
        if options.params or options.profile:
            raise PerceptcodecError(
                "x264 params and profiles apply to H.264 only (x265: params=..., Main profile)"
            )
        if not isinstance(color, ColorInfo):
            raise PerceptcodecError("color must be a ColorInfo")
        if options.level and options.level not in HEVC_LEVELS:
            levels = ", ".join(f"{n / 10:g}" for n in HEVC_LEVELS)
            raise PerceptcodecError(f"HEVC has no level {options.level / 10:g}; one of {levels}")
        if sar is not None:
            sar = _ratio("sample aspect ratio", sar)
            if sar.numerator > 65535 or sar.denominator > 65535:
                sar = sar.limit_denominator(65535)
        self.use_offsets = bool(use_offsets)
        c_params = _Params(
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
            use_offsets=int(self.use_offsets),
            vbv_maxrate_kbps=rate.vbv_maxrate_kbps,
            vbv_bufsize_kbit=rate.vbv_bufsize_kbit,
            sar_width=sar.numerator if sar else 0,
            sar_height=sar.denominator if sar else 0,
            x265_params=params.encode() if params else None,
            level_idc=options.level,
            log_level=X265_LOG_INFO if verbose else X265_LOG_ERROR,
            **color.native(),
        )
        lib = _lib()
        err = ctypes.create_string_buffer(512)
        self._pkt = _Packet()
        self._h = lib.pcx265_open(ctypes.byref(c_params), err, len(err))
        if not self._h:
            raise PerceptcodecError(err.value.decode(errors="replace") or "x265 failed to open")
        block, rows, cols = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        if lib.pcx265_grid(self._h, ctypes.byref(block), ctypes.byref(rows), ctypes.byref(cols)):
            self.close()
            raise X265Error("x265 did not report its QP-offset grid")
        self.block = block.value  # offsets grid: block side in pixels (16; 8 with qg-size=8)
        self.mb_rows, self.mb_cols = rows.value, cols.value

    def headers(self) -> bytes:
        """VPS + SPS + PPS in Annex-B form (start codes), for the container's extradata
        (hvcC)."""
        buf = ctypes.create_string_buffer(4096)
        with self._lock:
            n = _lib().pcx265_headers(self._handle(), buf, len(buf))
        if n < 0:
            raise X265Error("x265 could not write its stream headers")
        return buf.raw[:n]

    def _check_offsets(self, dqp_mb: np.ndarray | None) -> np.ndarray | None:
        if dqp_mb is None:
            return None
        if not self.use_offsets:
            raise PerceptcodecError("this encoder was made with use_offsets=False: no QP maps")
        return super()._check_offsets(dqp_mb)

    def encode(
        self,
        y: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        pts: int,
        dqp_mb: np.ndarray | None = None,
    ) -> Packet | None:
        """Encode one frame. Planes are uint8 2-D arrays with unit column stride (H x W luma,
        ceil(H/2) x ceil(W/2) chroma; row padding allowed). ``dqp_mb``: QP offsets (QP units,
        negative = more bits), float (mb_rows x mb_cols), or None. ``pts`` in time_base ticks.
        Returns the access unit x265 produced for some earlier frame, if any."""
        self._check_planes(y, u, v)
        dqp_mb = self._check_offsets(dqp_mb)
        pts = self._check_pts(pts)
        offsets = dqp_mb.ctypes.data if dqp_mb is not None else None
        with self._lock:
            h = self._handle()
            if self._flushing:
                raise PerceptcodecError("the encoder has been flushed: no more frames")
            size = _lib().pcx265_encode(
                h,
                y.ctypes.data,
                u.ctypes.data,
                v.ctypes.data,
                y.strides[0],
                u.strides[0],
                v.strides[0],
                pts,
                offsets,
                ctypes.byref(self._pkt),
            )
            return self._take(size)

    def flush(self) -> Iterator[Packet]:
        """Drain the frames x265 still holds (lookahead, B-frames, frame threads). After this,
        :meth:`encode` refuses frames."""
        while True:
            with self._lock:
                h = self._handle()
                self._flushing = True
                size = _lib().pcx265_encode(h, None, None, None, 0, 0, 0, 0, None, self._pkt)
                packet = self._take(size)
            if packet is None:
                return
            yield packet

    def _close_native(self, handle: int) -> None:
        _lib().pcx265_close(handle)
