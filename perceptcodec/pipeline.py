"""The encode pipeline: decode -> saliency -> QP offsets -> x264 or x265 -> mux, streamed.

Decoding and saliency run in a producer thread that feeds a bounded queue; x264/x265 (which
release the GIL inside the native call) encode in the caller's thread. Memory does not grow with the
video's length: at most ``QUEUE_FRAMES`` decoded frames wait between the two.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from perceptcodec.config import EncodeConfig
from perceptcodec.encoder.codec import Codec
from perceptcodec.encoder.encoder import Encoder
from perceptcodec.encoder.frames import i420_planes
from perceptcodec.encoder.x264 import Packet, Pass, RateControl, RateMode, X264Error
from perceptcodec.encoder.x265 import INSTALL_HINT as X265_INSTALL_HINT
from perceptcodec.encoder.x265 import X265Error, x265_available
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import load_audio_mono
from perceptcodec.io.sink import (
    MediaSink,
    atomic_output,
    check_output,
    container_format,
    disk_error,
    remove_stale,
    same_file,
    work_dir,
)
from perceptcodec.io.source import (
    Fingerprint,
    PerceptcodecWarning,
    VideoInfo,
    check_frame_size,
    decode_video,
    probe,
)
from perceptcodec.progress import Progress
from perceptcodec.qpmap import QpMapFormat, QpMapWriter
from perceptcodec.roi import QpOffsetMapper, mb_grid
from perceptcodec.saliency import SaliencyModel
from perceptcodec.saliency.stream import saliency_maps

QUEUE_FRAMES = 8


@dataclass(frozen=True)
class EncodeSummary:
    """What an encode did. Rates in kbit/s, times in seconds."""

    src: str
    dst: str
    saliency: str
    frames: int
    duration_s: float
    target_kbps: int | None
    video_kbps: float
    total_kbps: float
    passes: int
    audio: str
    wall_s: float
    encode_fps: float

    def text(self) -> str:
        target = f"{self.target_kbps} kbit/s" if self.target_kbps else "none (CRF/QP)"
        return (
            f"wrote {self.dst}\n"
            f"  saliency {self.saliency}, {self.passes} pass(es), audio {self.audio}\n"
            f"  {self.frames} frames, {self.duration_s:.2f} s\n"
            f"  target {target}, actual video {self.video_kbps:.1f} kbit/s "
            f"(file {self.total_kbps:.1f} kbit/s)\n"
            f"  wall time {self.wall_s:.1f} s ({self.encode_fps:.1f} frames/s)"
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_output(src: Path, saliency: str, rate: RateControl, codec: Codec = Codec.H264) -> Path:
    """``<stem>.<saliency>.<rate>.mp4`` beside the input (H.264);
    ``<stem>.<saliency>.hevc.<rate>.mp4`` for HEVC."""
    codec_tag = "" if codec is Codec.H264 else f"{codec.value}."
    return src.with_name(f"{src.stem}.{saliency}.{codec_tag}{rate.tag}.mp4")


class _Producer:
    """Runs an iterator in a thread, handing items over through a bounded queue."""

    _DONE = object()

    def __init__(self, items: Iterator[object]) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterator[object]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the consumer and raised there
            self._put(exc)

    def __iter__(self) -> Iterator[object]:
        try:
            while True:
                item = self._queue.get()
                if item is self._DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            self._thread.join(timeout=5)


class _MapStore:
    """QP-offset maps of pass 1 kept on disk (float16) for pass 2, so both passes see the same
    maps without running saliency twice. frames x mb_rows x mb_cols."""

    def __init__(self, path: Path, mb_shape: tuple[int, int]) -> None:
        self.path, self.mb_shape = path, mb_shape
        self._count = int(np.prod(mb_shape))

    def writer(self) -> BinaryIO:
        try:
            return open(self.path, "wb", buffering=0)  # unbuffered: errors surface in write()
        except OSError as exc:
            raise disk_error(exc, self.path.parent) from exc

    def write(self, store: BinaryIO, dqp16: np.ndarray) -> None:
        try:
            store.write(dqp16.tobytes())
        except OSError as exc:
            raise disk_error(exc, self.path.parent) from exc

    def read(self) -> Iterator[np.ndarray]:
        with open(self.path, "rb") as f:
            while chunk := f.read(self._count * 2):
                if len(chunk) != self._count * 2:
                    raise PerceptcodecError(f"{self.path}: pass-1 maps are cut short")
                yield np.frombuffer(chunk, np.float16).reshape(self.mb_shape).astype(np.float32)


class _AudioPump:
    """Copies (or re-encodes) the input's audio into the sink, kept up with the video time."""

    def __init__(self, src: Path) -> None:
        self._container = av.open(str(src))
        self.stream = self._container.streams.audio[0]
        self._packets = self._container.demux(self.stream)
        self._pending: av.Packet | None = None
        self._done = False

    def pump(self, sink: MediaSink, until_s: float) -> None:
        """Write the audio packets that start before ``until_s`` seconds."""
        while not self._done:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._done = True
                return
            if packet.pts is not None and packet.time_base is not None:
                if float(packet.pts * packet.time_base) > until_s:
                    self._pending = packet
                    return
            try:
                sink.write_audio_packet(packet)
            except av.error.FFmpegError:
                continue  # a damaged audio packet is dropped, the video goes on

    def close(self) -> None:
        self._container.close()


def encode(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None = None,
    config: EncodeConfig | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    keep_going: bool = False,
    dump_qp: str | os.PathLike[str] | None = None,
) -> EncodeSummary:
    """Encode ``src`` to H.264 (or HEVC: ``config.codec``) in MP4/MKV/MOV with saliency-guided
    per-block QP offsets, as ``config`` says (default: :class:`EncodeConfig`'s defaults,
    H.264 at 300 kbit/s 1-pass ABR with the default model). ``dst`` defaults to
    ``<stem>.<model>.<rate>.mp4`` beside the input (``<stem>.<model>.hevc.<rate>.mp4``). The
    output appears only when complete; an existing output is refused unless ``force``.

    A damaged or truncated input (decided from its container and decoder) is an error unless
    ``keep_going``, which encodes what decodes and warns (:class:`PerceptcodecWarning`). The
    input must stay the same file, unmodified, until the encode ends (checked between and
    after the passes). Temporary files left by killed runs are removed first. ``dump_qp``: an
    .npz that receives the offsets applied to each frame (:mod:`perceptcodec.qpmap`), written
    only when the encode succeeds."""
    t0 = time.monotonic()
    config = config or EncodeConfig()
    if config.codec is Codec.HEVC and not x265_available():
        raise PerceptcodecError(X265_INSTALL_HINT)
    src = Path(src)
    info = probe(src)
    fingerprint = Fingerprint.of(src)
    check_frame_size(info)
    model_name = config.saliency.name
    dst = (
        Path(dst) if dst is not None else default_output(src, model_name, config.rate, config.codec)
    )
    container_format(dst)
    check_output(dst, overwrite=force, inputs=(src,))
    remove_stale(dst.parent, Path(tempfile.gettempdir()))
    if dump_qp is not None:
        dump_qp = Path(dump_qp)
        if dump_qp.suffix.lower() != ".npz" or same_file(dump_qp, dst):
            raise PerceptcodecError(f"{dump_qp}: --dump-qp writes an .npz beside the output")
        check_output(dump_qp, overwrite=force, inputs=(src,))
    model = config.saliency.build()

    passes = 2 if config.rate.two_pass else 1
    with (
        work_dir() as tmp,
        atomic_output(dst, overwrite=force, inputs=(src,)) as tmp_out,
    ):
        stats = os.path.join(tmp, "x265.stats" if config.codec is Codec.HEVC else "x264.stats")
        maps = _MapStore(tmp / "dqp.f16", mb_grid((info.width, info.height)))
        audio_samples = None
        if model is not None and model.audio_rate and info.has_audio:
            audio_samples = load_audio_mono(src, model.audio_rate)
        dump = None
        if dump_qp is not None:
            size = (info.width, info.height)
            dump = QpMapWriter(dump_qp, QpMapFormat.NPZ, size, info.time_base, force, (src,))
        job = _Job(info, config, model, audio_samples, stats, maps, progress, keep_going, dst, dump)
        if passes == 2:
            try:
                _run_pass(job, Pass.FIRST, None)
            except (X264Error, X265Error) as exc:
                raise PerceptcodecError(
                    f"{tmp}: pass 1 failed writing its statistics (disk full?); "
                    "set TMPDIR to a folder with space"
                ) from exc
            fingerprint.check(src)
        last = Pass.SECOND if passes == 2 else Pass.SINGLE
        try:
            frames, video_bytes, audio_mode, duration = _run_pass(job, last, tmp_out)
            fingerprint.check(src)
        except BaseException:
            if dump is not None:
                dump.abort()
            raise
        if dump is not None:
            dump.close()
        total_bytes = tmp_out.stat().st_size
    wall = time.monotonic() - t0
    used = getattr(model, "runtime", None)
    rate = config.rate
    return EncodeSummary(
        src=str(src),
        dst=str(dst),
        saliency=f"{model_name} ({used})" if used else model_name,
        frames=frames,
        duration_s=duration,
        target_kbps=rate.bitrate_kbps if rate.mode is RateMode.ABR else None,
        video_kbps=video_bytes * 8 / duration / 1000 if duration > 0 else 0.0,
        total_kbps=total_bytes * 8 / duration / 1000 if duration > 0 else 0.0,
        passes=passes,
        audio=audio_mode,
        wall_s=wall,
        encode_fps=frames / wall if wall > 0 else 0.0,
    )


@dataclass(frozen=True)
class _Job:
    """Everything one encode's passes share."""

    info: VideoInfo
    config: EncodeConfig
    model: SaliencyModel | None
    audio: np.ndarray | None
    stats: str
    maps: _MapStore
    progress: bool
    keep_going: bool = False
    dst: Path | None = None
    dump: QpMapWriter | None = None  # the applied offsets, written by the output pass


def _turned(frame: av.VideoFrame, turns: int) -> av.VideoFrame:
    """``frame`` turned by ``turns`` quarter turns counter-clockwise (as np.rot90), yuv420p."""
    (y, u, v), _owner = i420_planes(frame)
    planes = [np.rot90(p, turns) for p in (y, u, v)]
    height, width = planes[0].shape
    packed = np.concatenate([p.reshape(-1) for p in planes]).reshape(height * 3 // 2, width)
    out = av.VideoFrame.from_ndarray(packed, format="yuv420p")
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def upright_saliency_maps(
    frames: Iterator[av.VideoFrame],
    model: SaliencyModel,
    info: VideoInfo,
    audio: np.ndarray | None = None,
    stride: int = 1,
) -> Iterator[tuple[av.VideoFrame, float, np.ndarray]]:
    """:func:`saliency_maps` for a video with a display rotation: the model sees the frames
    upright (a face detector needs upright faces); frames and maps come back as coded."""
    turns = info.quarter_turns
    if not turns:
        yield from saliency_maps(frames, model, info, audio, stride)
        return
    coded: dict[int, av.VideoFrame] = {}

    def turned() -> Iterator[av.VideoFrame]:
        for frame in frames:
            up = _turned(frame, turns)
            coded[id(up)] = frame
            yield up

    size = (info.height, info.width) if turns % 2 else (info.width, info.height)
    upright = replace(info, width=size[0], height=size[1], rotation=0)
    for up, t, sal in saliency_maps(turned(), model, upright, audio, stride):
        yield coded.pop(id(up)), t, np.ascontiguousarray(np.rot90(sal, -turns))


def _map_items(job: _Job, pass_: Pass) -> Iterator[tuple[av.VideoFrame, np.ndarray | None]]:
    """(frame, dqp_mb or None) per frame. In a 2-pass encode the maps are rounded to float16
    as computed, so pass 1 (which stores them) and pass 2 (which reads them back) apply the
    same offsets."""
    frames = decode_video(job.info.path, keep_going=job.keep_going)
    if job.model is None:
        for frame in frames:
            yield frame, None
        return
    if pass_ is Pass.SECOND:
        stored = job.maps.read()
        for frame in frames:
            dqp = next(stored, None)
            if dqp is None:
                break
            yield frame, dqp
        else:
            if next(stored, None) is None:
                return
        raise PerceptcodecError(
            f"{job.info.path}: pass 2 decoded a different number of frames than pass 1 "
            "(the input changed between the passes?)"
        )
    mapper = QpOffsetMapper((job.info.width, job.info.height), job.config.roi)
    maps = upright_saliency_maps(frames, job.model, job.info, job.audio, job.config.saliency.stride)
    if pass_ is Pass.SINGLE:
        for frame, _t, sal in maps:
            yield frame, mapper(sal)
        return
    with job.maps.writer() as store:
        for frame, _t, sal in maps:
            dqp16 = mapper(sal).astype(np.float16)
            job.maps.write(store, dqp16)
            yield frame, dqp16.astype(np.float32)


def _run_pass(job: _Job, pass_: Pass, out: Path | None) -> tuple[int, int, str, float]:
    """One x264/x265 pass over the video; muxes into ``out`` unless it is None.
    Returns (frames, video bytes, audio mode, video duration in s)."""
    info = job.info
    encoder = Encoder(
        info.width,
        info.height,
        info.fps,
        job.config.rate,
        job.config.x264,
        time_base=info.time_base,
        sar=info.sar if info.sar != 1 else None,
        pass_=pass_,
        stats_path=job.stats if pass_ is not Pass.SINGLE else None,
        codec=job.config.codec,
        x265=job.config.x265 if job.config.codec is Codec.HEVC else None,
    )
    pump = _AudioPump(info.path) if out is not None and info.has_audio else None
    sink = None
    ok = False
    try:
        if out is not None:
            sink = MediaSink(
                out,
                info.width,
                info.height,
                info.time_base,
                info.fps,
                encoder.headers(),
                sar=info.sar,
                audio_from=pump.stream if pump else None,
                name=job.dst,
                rotation=info.rotation,
                codec=job.config.codec,
            )
    except BaseException:
        encoder.close()
        if pump is not None:
            pump.close()
        raise
    label = {Pass.SINGLE: "encode", Pass.FIRST: "pass 1/2", Pass.SECOND: "pass 2/2"}[pass_]
    bar = Progress(info.frames, label) if job.progress else None
    frames = video_bytes = 0
    video = _VideoOut(sink, _Durations(info))
    zero_map = np.zeros(mb_grid((info.width, info.height)), np.float32)
    try:
        for frame, dqp in _Producer(_map_items(job, pass_)):
            previous = encoder.last_pts if frames else None
            packets = encoder.encode(frame, dqp, frame.pts)
            video.durations.add(previous, encoder.last_pts, frame)
            if job.dump is not None and out is not None:
                job.dump.add(encoder.last_pts, dqp if dqp is not None else zero_map)
            for packet in packets:
                video.write(packet)
            frames += 1
            if pump is not None and sink is not None:
                pump.pump(sink, float(encoder.last_pts * info.time_base))
            if bar:
                bar.update(frames)
        for packet in encoder.flush():
            video.write(packet)
        video.finish()
        video_bytes = video.bytes
        _check_complete(info, frames)
        if pump is not None and sink is not None:
            pump.pump(sink, float("inf"))
        ok = True
    finally:
        encoder.close()
        if bar:
            bar.close(frames)
        if pump is not None:
            pump.close()
        if sink is not None:
            try:
                sink.close()
            except PerceptcodecError:
                if ok:
                    raise  # otherwise the error already on its way is the one to report
    start = encoder.first_pts if encoder.first_pts is not None else 0
    duration = float((video.end_pts - start) * info.time_base) if frames else 0.0
    audio_mode = "none"
    if sink is not None and sink.audio is not None:
        audio_mode = f"copied ({info.audio_codec})" if sink.audio_copy else "re-encoded to AAC"
    return frames, video_bytes, audio_mode, duration


class _Durations:
    """How long each frame shows (time-base ticks), by pts: the gap to the next frame, and for
    the last one its own duration from the input (else the previous gap, else 1/fps). The
    container needs the last one: an MP4 track ends where its last sample ends."""

    def __init__(self, info: VideoInfo) -> None:
        nominal = 1 / (info.fps * info.time_base) if info.fps else 1
        self.last = max(1, round(nominal))
        self._by_pts: dict[int, int] = {}

    def add(self, previous: int | None, pts: int, frame: object) -> None:
        if previous is not None and pts > previous:
            self.last = pts - previous
            self._by_pts[previous] = self.last
        own = getattr(frame, "duration", None)
        if isinstance(own, int) and own > 0:
            self.last = own
        self._by_pts[pts] = self.last

    def pop(self, pts: int) -> int:
        return self._by_pts.pop(pts, self.last)


class _VideoOut:
    """Writes packets (decode order) one behind, each with its frame's duration, so that the
    last one can be given what makes the track as long as the frames shown: an MP4 track's
    length is the last sample's dts + its duration (since the first dts), while the frames
    shown end at the last frame's pts + duration. x264's dts trail the pts by the reorder
    delay, which under a variable frame rate differs between the start and the end (x265's
    likewise)."""

    def __init__(self, sink: MediaSink | None, durations: _Durations) -> None:
        self.sink, self.durations = sink, durations
        self.bytes = 0
        self.start_pts: int | None = None
        self.end_pts = 0  # where the last frame shown ends (time-base ticks)
        self._first_dts: int | None = None
        self._pending: tuple[Packet, int] | None = None

    def write(self, packet: Packet) -> None:
        own = self.durations.pop(packet.pts)
        self.end_pts = max(self.end_pts, packet.pts + own)
        if self.start_pts is None or packet.pts < self.start_pts:
            self.start_pts = packet.pts
        if self._first_dts is None:
            self._first_dts = packet.dts
        if self._pending is not None:
            self._emit(*self._pending)
        self._pending = (packet, own)

    def finish(self) -> None:
        if self._pending is None:
            return
        packet, _own = self._pending
        assert self.start_pts is not None and self._first_dts is not None
        shown = self.end_pts - self.start_pts
        self._emit(packet, shown - (packet.dts - self._first_dts))
        self._pending = None

    def _emit(self, packet: Packet, duration: int) -> None:
        if self.sink is not None:
            self.sink.write_video(packet, max(duration, 1))
        self.bytes += len(packet.data)


def _check_complete(info: VideoInfo, frames: int) -> None:
    """A declared frame count that differs from the frames decoded is only a warning: headers
    are often wrong (damage is decided by the demuxer and decoder, see decode_video)."""
    if info.frames_declared and abs(frames - info.frames) > max(1, 0.02 * info.frames):
        warnings.warn(
            f"{info.path}: the container declares {info.frames} frames, {frames} decoded",
            PerceptcodecWarning,
            stacklevel=2,
        )


__all__ = ["EncodeSummary", "default_output", "encode"]
