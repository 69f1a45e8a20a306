"""The library-level encoder: frames (+ optional QP-offset maps) in, H.264 or HEVC packets
out."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from perceptcodec.encoder.codec import Codec, X265Options
from perceptcodec.encoder.frames import Planes, i420_planes
from perceptcodec.encoder.native import NativeEncoder
from perceptcodec.encoder.settings import NO_COLOR, ColorInfo, _ratio
from perceptcodec.encoder.x264 import (
    Packet,
    Pass,
    RateControl,
    X264Encoder,
    X264Options,
)
from perceptcodec.errors import PerceptcodecError
from perceptcodec.units import frame_ticks


class Encoder:
    """Encode frames of ``width`` x ``height`` (even) pixels to H.264 with x264, or to HEVC
    with x265 (``codec=Codec.HEVC``; ``x265`` its own options, e.g. x265-params).

    >>> enc = Encoder(1280, 720, fps=Fraction(25), rate=RateControl(bitrate_kbps=300))
    >>> packets = [p for frame, dqp in frames_and_maps for p in enc.encode(frame, dqp)]
    >>> packets += list(enc.flush())

    ``encode`` takes a PyAV VideoFrame, an H x W x 3 uint8 RGB array or (Y, U, V) planes, and
    an optional float32 (ceil(H/16) x ceil(W/16)) map of QP offsets (QP units, negative = more
    bits). pts are in ``time_base`` (default 1/fps); when omitted, frames are numbered 0, 1, ...

    ``mb_shape`` is the grid the codec takes offsets on: 16x16 blocks, or 8x8 blocks with x265's
    ``qg-size=8``; a map on the 16x16 grid is then repeated onto the finer one.

    ``color``: the colour description written into the stream (:class:`ColorInfo`; with
    ``full_range=True`` yuvj420p/full-range yuv420p frames are coded as they are, without a
    range conversion). ``verbose``: the codec logs its own messages (x264/x265 info level) to
    stderr.

    PyAV packets: :meth:`av_packet` turns a :class:`Packet` into an ``av.Packet`` (pts/dts in
    ``time_base``), and :meth:`codec_context` gives a decoder context whose extradata holds the
    parameter sets, for decoding the packets or as the template of a stream;
    :class:`perceptcodec.io.sink.MediaSink` (``perceptcodec.MediaSink``) is the muxer the
    pipeline writes them with.
    """

    def __init__(
        self,
        width: int,
        height: int,
        fps: Fraction,
        rate: RateControl | None = None,
        options: X264Options | None = None,
        time_base: Fraction | None = None,
        sar: Fraction | None = None,
        pass_: Pass = Pass.SINGLE,
        stats_path: str | None = None,
        codec: Codec = Codec.H264,
        x265: X265Options | None = None,
        color: ColorInfo = NO_COLOR,
        verbose: bool = False,
    ) -> None:
        fps = _ratio("fps", fps)
        self.time_base = _ratio("time_base", time_base) if time_base is not None else 1 / fps
        self.codec = Codec.parse(codec)
        kind: type[NativeEncoder] = X264Encoder
        extra: dict[str, object] = {}
        if self.codec is Codec.HEVC:
            from perceptcodec.encoder.x265 import X265Encoder

            kind, extra = X265Encoder, {"params": (x265 or X265Options()).params}
        elif x265 is not None and x265.params:
            raise PerceptcodecError("x265 params apply to HEVC only (codec=hevc)")
        self._enc = kind(
            width,
            height,
            fps,
            self.time_base,
            rate or RateControl(),
            options or X264Options(),
            pass_=pass_,
            stats_path=stats_path,
            sar=sar,
            color=color,
            verbose=verbose,
            **extra,
        )
        self.width, self.height, self.fps, self.sar = width, height, fps, sar
        self.color = color
        self._full_range = color.full_range is True
        self.mb_shape = (self._enc.mb_rows, self._enc.mb_cols)
        self._coarse = (-(-height // 16), -(-width // 16))  # the 16x16 grid
        self.first_pts: int | None = None  # pts of the first and last frame given (time_base)
        self.last_pts = -1
        # the step for frames without an increasing pts: one frame at the nominal rate
        self.frame_ticks = frame_ticks(self.fps, self.time_base)

    def headers(self) -> bytes:
        """SPS + PPS (H.264) or VPS + SPS + PPS (HEVC), Annex B."""
        return self._enc.headers()

    def encode(
        self,
        frame: av.VideoFrame | np.ndarray | Planes,
        dqp_mb: np.ndarray | None = None,
        pts: int | None = None,
    ) -> list[Packet]:
        """Encode one frame; returns the packets that became ready (0 or 1). A missing or
        non-increasing pts becomes the previous one + one frame at the nominal rate
        (``frame_ticks``; 0 for the first frame): x264 needs strictly increasing pts, and its
        rate control spends bits by them. (Decoded frames already have such pts:
        :func:`perceptcodec.io.source.decoded_frames` repairs them, with a warning.)"""
        try:
            planes, _owner = i420_planes(frame, full_range=self._full_range)
        except (ValueError, TypeError, AttributeError) as exc:
            raise PerceptcodecError(f"not a frame: {exc}") from None
        if pts is not None and (isinstance(pts, bool) or not isinstance(pts, int | np.integer)):
            raise PerceptcodecError(f"pts must be an integer or None, not {pts!r}")
        if pts is None or pts <= self.last_pts:
            pts = 0 if self.first_pts is None else self.last_pts + self.frame_ticks
        if dqp_mb is not None and self.mb_shape != self._coarse:
            dqp_mb = np.asarray(dqp_mb)
            if dqp_mb.shape == self._coarse:  # 16x16 map onto x265's 8x8 quantisation groups
                rows, cols = self.mb_shape
                dqp_mb = np.repeat(np.repeat(dqp_mb, 2, 0), 2, 1)[:rows, :cols]
        packet = self._enc.encode(*planes, pts=int(pts), dqp_mb=dqp_mb)
        self.last_pts = int(pts)
        if self.first_pts is None:
            self.first_pts = self.last_pts
        return [packet] if packet is not None else []

    def flush(self) -> Iterator[Packet]:
        """Packets of the frames the codec still holds; call once after the last frame."""
        yield from self._enc.flush()

    def av_packet(self, packet: Packet) -> av.Packet:
        """``packet`` as an ``av.Packet``: Annex-B payload, pts/dts in :attr:`time_base`, the
        keyframe flag set. Mux it into a stream made from :meth:`codec_context` (or through
        :class:`perceptcodec.io.sink.MediaSink`), or decode it with that context."""
        pkt = av.Packet(packet.data)
        pkt.pts, pkt.dts = packet.pts, packet.dts
        pkt.time_base = self.time_base
        pkt.is_keyframe = packet.keyframe
        return pkt

    def codec_context(self) -> av.VideoCodecContext:
        """A PyAV decoder context for this encoder's stream (not opened): codec h264 or hevc,
        size, frame rate, sample aspect ratio, colour, and extradata = the
        parameter sets (:meth:`headers`, Annex B: SPS + PPS, or VPS + SPS + PPS), which
        FFmpeg's decoders and its MP4/Matroska muxers read as they are."""
        ctx = av.CodecContext.create(self.codec.value, "r")
        ctx.width, ctx.height = self.width, self.height
        ctx.framerate = self.fps
        if self.sar is not None:
            ctx.sample_aspect_ratio = Fraction(self.sar)
        ctx.extradata = self.headers()
        c = self.color
        if c.primaries is not None:
            ctx.color_primaries = c.primaries
        if c.transfer is not None:
            ctx.color_trc = c.transfer
        if c.matrix is not None:
            ctx.colorspace = c.matrix
        if c.full_range is not None:
            ctx.color_range = 2 if c.full_range else 1
        return ctx

    def close(self) -> None:
        """Release the codec (writes the statistics file in pass 1)."""
        self._enc.close()

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
