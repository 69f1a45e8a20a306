"""What the x264 and x265 ctypes wrappers share: every argument checked before it reaches C,
one lock per encoder (calls from several threads are serialised), the native handle's life,
and packets out."""

from __future__ import annotations

import ctypes
import threading
from fractions import Fraction
from typing import Any

import numpy as np

from perceptcodec.encoder.settings import (
    _INT64,
    MAX_DQP,
    MAX_SIZE,
    Packet,
    Pass,
    RateControl,
    X264Options,
    _ratio,
)
from perceptcodec.errors import PerceptcodecError


class NativeEncoder:
    """Base of :class:`X264Encoder` and :class:`X265Encoder`. A subclass sets ``codec_name``,
    ``error`` (its exception for failures inside the library) and implements
    :meth:`_close_native`; its constructor calls :meth:`_begin` first and
    :meth:`_checked_setup` before building the native parameters."""

    codec_name = "encoder"
    error: type[PerceptcodecError] = PerceptcodecError
    width: int
    height: int
    mb_rows: int
    mb_cols: int
    _pkt: Any

    def _begin(self) -> None:
        """First thing in a constructor, so close() and __del__ work whatever fails later."""
        self._h: int | None = None
        self._lock = threading.Lock()

    def _checked_setup(
        self,
        width: int,
        height: int,
        pass_: Pass,
        stats_path: str | None,
        fps: Fraction,
        time_base: Fraction,
        rate: RateControl,
        options: X264Options,
    ) -> tuple[Pass, Fraction, Fraction]:
        """Check the arguments every native encoder takes; (pass, fps, time_base) as used."""
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (width, height)):
            raise PerceptcodecError(f"frame size {width!r}x{height!r} must be integers")
        if width % 2 or height % 2 or not (16 <= width <= MAX_SIZE and 16 <= height <= MAX_SIZE):
            raise PerceptcodecError(
                f"{self.codec_name} needs even sizes of 16 to {MAX_SIZE} pixels, "
                f"got {width}x{height}"
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
        return pass_, fps, time_base

    def _handle(self) -> int:
        """The live native handle (call with the lock held)."""
        if not self._h:
            raise PerceptcodecError("the encoder is closed")
        return self._h

    def _check_planes(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Y (H x W) and U, V (ceil(H/2) x ceil(W/2)): 2-D uint8, unit column stride."""
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

    def _check_offsets(self, dqp_mb: np.ndarray | None) -> np.ndarray | None:
        """QP offsets as contiguous float32 (mb_rows x mb_cols, finite, |dQP| <= 51)."""
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

    @staticmethod
    def _check_pts(pts: int) -> int:
        if isinstance(pts, bool) or not isinstance(pts, int | np.integer):
            raise PerceptcodecError(f"pts must be an integer, not {pts!r}")
        if not -_INT64 <= int(pts) <= _INT64:
            raise PerceptcodecError(f"pts {pts} does not fit 64 bits")
        return int(pts)

    def _take(self, size: int) -> Packet | None:
        """The packet the last native call left (call with the lock held): -2 closed handle,
        < 0 a failure inside the library, 0 nothing yet."""
        if size == -2:
            raise PerceptcodecError("the encoder is closed")
        if size < 0:
            raise self.error(
                f"{self.codec_name} failed to encode a frame (out of memory, or a write error: "
                "disk full?)"
            )
        if size == 0:
            return None
        p = self._pkt
        return Packet(ctypes.string_at(p.data, size), p.pts, p.dts, bool(p.keyframe))

    def _close_native(self, handle: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Free the encoder; in pass 1 this is what writes the statistics. Closing twice is
        harmless; any other call afterwards raises PerceptcodecError."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            h, self._h = getattr(self, "_h", None), None
            if h:
                self._close_native(h)

    def __enter__(self) -> NativeEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to report to
            pass
