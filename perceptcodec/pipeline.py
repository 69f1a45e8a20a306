"""The encode pipeline: decode -> saliency -> QP offsets -> x264 or x265 -> mux, streamed.

Decoding and saliency run in a producer thread that feeds a bounded queue; x264/x265 (which
release the GIL inside the native call) encode in the caller's thread. Memory does not grow with the
video's length: at most ``QUEUE_FRAMES`` decoded frames wait between the two.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from perceptcodec.config import EncodeConfig, Trim
from perceptcodec.encoder.codec import Codec
from perceptcodec.encoder.encoder import Encoder
from perceptcodec.encoder.frames import i420_planes
from perceptcodec.encoder.x264 import Packet, Pass, RateControl, RateMode, X264Error
from perceptcodec.encoder.x265 import INSTALL_HINT as X265_INSTALL_HINT
from perceptcodec.encoder.x265 import X265Error, x265_available
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import load_audio_mono
from perceptcodec.io.live import LiveInput, display_name, spool
from perceptcodec.io.sink import (
    RAW,
    MediaSink,
    atomic_output,
    check_format,
    check_output,
    container_format,
    disk_error,
    is_stdout,
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
    is_streamed,
    probe,
)
from perceptcodec.progress import Progress
from perceptcodec.qpmap import QpMapFormat, QpMapWriter
from perceptcodec.roi import QpOffsetMapper, mb_grid
from perceptcodec.saliency import SaliencyModel
from perceptcodec.saliency.external import ExternalSaliency
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
    dqp_mean: float = 0.0  # mean QP offset applied, over every 16x16 block of every frame
    dqp_min: float = 0.0  # smallest / largest offset applied (QP units)
    dqp_max: float = 0.0
    boosted_share: float = 0.0  # share of blocks given more bits (offset < 0), 0..1

    def text(self) -> str:
        target = f"{self.target_kbps} kbit/s" if self.target_kbps else "none (CRF/QP)"
        return (
            f"wrote {self.dst}\n"
            f"  saliency {self.saliency}, {self.passes} pass(es), audio {self.audio}\n"
            f"  {self.frames} frames, {self.duration_s:.2f} s\n"
            f"  target {target}, actual video {self.video_kbps:.1f} kbit/s "
            f"(file {self.total_kbps:.1f} kbit/s)\n"
            f"  QP offsets mean {self.dqp_mean:+.2f}, range {self.dqp_min:+.2f}.."
            f"{self.dqp_max:+.2f}, {100 * self.boosted_share:.1f} % of macroblocks boosted "
            "(offset < 0)\n"
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


class _Trimmer:
    """Drops the frames before ``trim.start_s`` (seconds after the first frame) and stops
    after ``trim.frames``; with a start, shifts the kept frames' pts so the output starts
    where the input did. ``shift_s`` (known once the first frame is kept) is what the audio
    is shifted by; ``cut_s`` the input time (s) of the first frame kept."""

    def __init__(self, info: VideoInfo, trim: Trim) -> None:
        self.info, self.trim = info, trim
        self.shift_ticks: int | None = None
        self.shift_s = 0.0
        self.cut_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self.trim.start_s or self.trim.frames)

    def __call__(self, frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        info, trim = self.info, self.trim
        if not self.active:
            yield from frames
            return
        half = 0.5 / float(info.fps) if info.fps else 0.0
        kept = 0
        for frame in frames:
            if trim.start_s and frame.pts is not None:
                if float((frame.pts - info.start_pts) * info.time_base) < trim.start_s - half:
                    continue
            if self.shift_ticks is None:
                first = frame.pts if frame.pts is not None else info.start_pts
                self.shift_ticks = first - info.start_pts if trim.start_s else 0
                self.shift_s = float(self.shift_ticks * info.time_base)
                self.cut_s = float(first * info.time_base)
            if self.shift_ticks and frame.pts is not None:
                frame.pts -= self.shift_ticks
            yield frame
            kept += 1
            if trim.frames and kept >= trim.frames:
                return


class _AudioPump:
    """Copies (or re-encodes) the input's audio into the sink, kept up with the video time:
    from a file (its own demuxer) or from a :class:`LiveInput` (the packets its one demuxer
    set aside). With trimming, packets before the first kept frame are dropped and the rest
    shifted as the video was."""

    def __init__(
        self,
        stream: av.audio.stream.AudioStream,
        next_packet: Callable[[], av.Packet | None],
        close: Callable[[], None],
        trimmer: _Trimmer,
    ) -> None:
        self.stream = stream
        self._next, self._close, self._trim = next_packet, close, trimmer
        self._pending: av.Packet | None = None

    @classmethod
    def of_file(cls, src: Path, trimmer: _Trimmer) -> _AudioPump:
        container = av.open(str(src))
        stream = container.streams.audio[0]
        if trimmer.trim.start_s:
            with contextlib.suppress(av.error.FFmpegError, ValueError, OverflowError):
                container.seek(int(trimmer.trim.start_s * av.time_base), backward=True)
        packets = container.demux(stream)
        return cls(stream, lambda: next(packets, None), container.close, trimmer)

    @classmethod
    def of_live(cls, live: LiveInput, trimmer: _Trimmer) -> _AudioPump:
        queued = live.audio

        def next_packet() -> av.Packet | None:
            return queued.popleft() if queued else None

        assert live.audio_stream is not None
        return cls(live.audio_stream, next_packet, lambda: None, trimmer)

    def pump(self, sink: MediaSink, until_s: float) -> None:
        """Write the audio packets that start before ``until_s`` seconds of output time."""
        trim = self._trim
        while True:
            packet = self._pending or self._next()
            self._pending = None
            if packet is None:
                return
            t = None
            if packet.pts is not None and packet.time_base is not None:
                t = float(packet.pts * packet.time_base)
            if trim.active and t is not None and t < trim.cut_s - 1e-6:
                continue  # before the first frame kept
            if t is not None and t - trim.shift_s > until_s:
                self._pending = packet
                return
            if trim.shift_s and packet.time_base is not None:
                ticks = round(trim.shift_s / packet.time_base)
                if packet.pts is not None:
                    packet.pts -= ticks
                if packet.dts is not None:
                    packet.dts -= ticks
            try:
                sink.write_audio_packet(packet)
            except av.error.FFmpegError:
                continue  # a damaged audio packet is dropped, the video goes on

    def close(self) -> None:
        self._close()


def encode(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None = None,
    config: EncodeConfig | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    keep_going: bool = False,
    dump_qp: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    verbose: bool = False,
) -> EncodeSummary:
    """Encode ``src`` to H.264 (or HEVC: ``config.codec``) in MP4/MKV/MOV/MPEG-TS or a raw
    stream with saliency-guided per-block QP offsets, as ``config`` says (default:
    :class:`EncodeConfig`'s defaults, H.264 at 300 kbit/s 1-pass ABR with the default model).
    ``dst`` defaults to ``<stem>.<model>.<rate>.mp4`` beside the input
    (``<stem>.<model>.hevc.<rate>.mp4``). The output appears only when complete; an existing
    output is refused unless ``force``. ``fmt``: the output format by --format name (mp4, mov,
    mkv, mpegts, h264, hevc), else the extension decides.

    Pipes: ``src`` ``-`` reads standard input (any stream FFmpeg can probe: y4m, Matroska,
    MPEG-TS, ...; a FIFO likewise), opened once and encoded as it arrives (a live stream never
    waits for its end), models that listen (``audio_rate``) then running without its sound; a
    2-pass encode, or maps from a file, read a copy spooled to the temporary folder instead
    (where models hear the sound). ``dst`` ``-`` writes standard output (``fmt`` mkv, mpegts,
    h264 or hevc); a failure then leaves what was already written, and the exit status says
    so.

    A damaged or truncated input (decided from its container and decoder) is an error unless
    ``keep_going``, which encodes what decodes and warns (:class:`PerceptcodecWarning`). The
    input must stay the same file, unmodified, until the encode ends (checked between and
    after the passes). Temporary files left by killed runs are removed first. ``dump_qp``: an
    .npz that receives the offsets applied to each frame (:mod:`perceptcodec.qpmap`), written
    only when the encode succeeds. ``config.trim`` encodes a part of the input (audio cut to
    match). ``verbose``: x264/x265 log their own messages to stderr."""
    t0 = time.monotonic()
    config = config or EncodeConfig()
    if config.codec is Codec.HEVC and not x265_available():
        raise PerceptcodecError(X265_INSTALL_HINT)
    streamed = is_streamed(src)
    name = display_name(src)
    if dst is None and streamed:
        raise PerceptcodecError(f"{name}: give the output (-o FILE, or -o - with --format)")
    src = Path(src)
    info: VideoInfo | None = None
    fingerprint: Fingerprint | None = None
    if not streamed:
        info = probe(src)
        fingerprint = Fingerprint.of(src)
        check_frame_size(info)
    stdout = is_stdout(dst)
    model_name = config.saliency.name
    dst = (
        Path(dst) if dst is not None else default_output(src, model_name, config.rate, config.codec)
    )
    muxer = container_format(dst, fmt)
    check_format(muxer, config.codec)
    if not stdout:
        check_output(dst, overwrite=force, inputs=(src,))
    remove_stale(*([] if stdout else [dst.parent]), Path(tempfile.gettempdir()))
    if dump_qp is not None:
        dump_qp = Path(dump_qp)
        if dump_qp.suffix.lower() != ".npz" or same_file(dump_qp, dst):
            raise PerceptcodecError(f"{dump_qp}: --dump-qp writes an .npz beside the output")
        check_output(dump_qp, overwrite=force, inputs=(src,))
    if config.trim.start_s and is_external_maps(config):
        raise PerceptcodecError(
            f"{model_name}: maps from a file are per frame of the whole video; --start would "
            "shift them (cut the maps, or encode without --start)"
        )
    model = config.saliency.build()

    passes = 2 if config.rate.two_pass else 1
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(work_dir())
        live = None
        if streamed:
            # 1 pass reads the pipe live: models that listen run without its sound then
            needs_file = passes == 2 or isinstance(model, ExternalSaliency)
            if needs_file:  # read twice: spooled once into the private temporary folder
                spooled = spool(src, tmp)
                stack.enter_context(_named_as_pipe(spooled, display_name(src)))
                src = spooled
                info, fingerprint = probe(src), Fingerprint.of(src)
            else:
                live = stack.enter_context(LiveInput(src, keep_going, audio=muxer not in RAW))
                info = live.info
            check_frame_size(info)
        assert info is not None
        tmp_out: Path | None = None
        if not stdout:
            tmp_out = stack.enter_context(atomic_output(dst, overwrite=force, inputs=(src,)))
        stats = os.path.join(tmp, "x265.stats" if config.codec is Codec.HEVC else "x264.stats")
        maps = _MapStore(tmp / "dqp.f16", mb_grid((info.width, info.height)))
        audio_samples = None
        if model is not None and model.audio_rate and info.has_audio and live is None:
            audio_samples = load_audio_mono(src, model.audio_rate)
            if audio_samples is not None and config.trim.start_s:
                audio_samples = audio_samples[int(round(config.trim.start_s * model.audio_rate)) :]
        dump = None
        if dump_qp is not None:
            size = (info.width, info.height)
            dump = QpMapWriter(dump_qp, QpMapFormat.NPZ, size, info.time_base, force, (src,))
        job = _Job(
            info,
            config,
            model,
            audio_samples,
            stats,
            maps,
            progress,
            keep_going,
            dst,
            dump,
            live=live,
            muxer=muxer,
            verbose=verbose,
        )
        if passes == 2:
            try:
                _run_pass(job, Pass.FIRST, None)
            except (X264Error, X265Error) as exc:
                raise PerceptcodecError(
                    f"{tmp}: pass 1 failed writing its statistics (disk full?); "
                    "set TMPDIR to a folder with space"
                ) from exc
            if fingerprint is not None:
                fingerprint.check(src)
        last = Pass.SECOND if passes == 2 else Pass.SINGLE
        try:
            result = _run_pass(job, last, tmp_out if tmp_out is not None else dst)
            if fingerprint is not None:
                fingerprint.check(src)
        except BaseException:
            if dump is not None:
                dump.abort()
            raise
        if dump is not None:
            dump.close()
        total_bytes = tmp_out.stat().st_size if tmp_out is not None else result.sink_bytes
    wall = time.monotonic() - t0
    used = getattr(model, "runtime", None)
    rate = config.rate
    frames, duration = result.frames, result.duration_s
    return EncodeSummary(
        src=str(name if streamed else src),
        dst="<stdout>" if stdout else str(dst),
        saliency=f"{model_name} ({used})" if used else model_name,
        frames=frames,
        duration_s=duration,
        target_kbps=rate.bitrate_kbps if rate.mode is RateMode.ABR else None,
        video_kbps=result.video_bytes * 8 / duration / 1000 if duration > 0 else 0.0,
        total_kbps=total_bytes * 8 / duration / 1000 if duration > 0 else 0.0,
        passes=passes,
        audio=result.audio,
        wall_s=wall,
        encode_fps=frames / wall if wall > 0 else 0.0,
        dqp_mean=result.offsets.mean,
        dqp_min=result.offsets.low,
        dqp_max=result.offsets.high,
        boosted_share=result.offsets.boosted_share,
    )


@contextlib.contextmanager
def _named_as_pipe(spooled: Path, name: Path) -> Iterator[None]:
    """Errors about ``spooled`` (our temporary copy of a piped input) name the pipe
    (``name``, e.g. ``<stdin>``) instead, as errors of a live read do."""
    try:
        yield
    except PerceptcodecError as exc:
        if str(spooled) not in str(exc):
            raise
        message = str(exc).replace(str(spooled), str(name)).replace("media file", "media stream")
        raise PerceptcodecError(message) from exc


def is_external_maps(config: EncodeConfig) -> bool:
    """Whether the saliency comes from a maps/gaze file (indexed by frame of the whole video)."""
    from perceptcodec.saliency.external import is_external

    model = config.saliency.model
    return isinstance(model, str) and is_external(model)


@dataclass
class _OffsetStats:
    """Running statistics of the QP offsets applied (QP units, per 16x16 block)."""

    total: float = 0.0
    blocks: int = 0
    boosted: int = 0
    low: float = 0.0
    high: float = 0.0

    def add(self, dqp: np.ndarray) -> None:
        if dqp.size == 0:
            return
        lo, hi = float(dqp.min()), float(dqp.max())
        self.low = lo if self.blocks == 0 else min(self.low, lo)
        self.high = hi if self.blocks == 0 else max(self.high, hi)
        self.total += float(dqp.sum(dtype=np.float64))
        self.blocks += dqp.size
        self.boosted += int(np.count_nonzero(dqp < 0))

    @property
    def mean(self) -> float:
        return self.total / self.blocks if self.blocks else 0.0

    @property
    def boosted_share(self) -> float:
        return self.boosted / self.blocks if self.blocks else 0.0


@dataclass
class _PassResult:
    frames: int = 0
    video_bytes: int = 0
    audio: str = "none"
    duration_s: float = 0.0
    sink_bytes: int = 0
    offsets: _OffsetStats = field(default_factory=_OffsetStats)


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
    live: LiveInput | None = None  # a streamed input, opened once (1 pass only)
    muxer: str | None = None  # FFmpeg muxer of the output (None: from dst's extension)
    verbose: bool = False


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


def _input_frames(job: _Job, trimmer: _Trimmer) -> Iterator[av.VideoFrame]:
    """The frames to encode: decoded from the file (from the keyframe before --start) or
    from the streamed input, trimmed."""
    if job.live is not None:
        return trimmer(job.live.frames())
    start = job.config.trim.start_s
    return trimmer(decode_video(job.info.path, keep_going=job.keep_going, seek_s=start))


def _map_items(
    job: _Job, pass_: Pass, trimmer: _Trimmer | None = None
) -> Iterator[tuple[av.VideoFrame, np.ndarray | None]]:
    """(frame, dqp_mb or None) per frame. In a 2-pass encode the maps are rounded to float16
    as computed, so pass 1 (which stores them) and pass 2 (which reads them back) apply the
    same offsets."""
    frames = _input_frames(job, trimmer or _Trimmer(job.info, job.config.trim))
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


def _run_pass(job: _Job, pass_: Pass, out: Path | None) -> _PassResult:
    """One x264/x265 pass over the video; muxes into ``out`` (a file, or ``-``: stdout) unless
    it is None. Returns frames, video bytes, audio mode, video duration and, for the output
    pass, the statistics of the offsets applied."""
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
        color=info.color,
        verbose=job.verbose,
    )
    trimmer = _Trimmer(info, job.config.trim)
    result = _PassResult()
    pump = None
    sink = None
    ok = False
    try:
        if out is not None and info.has_audio:
            if job.muxer in RAW:
                warnings.warn(
                    f"{info.path}: the audio is left out: a raw {job.muxer} stream carries none",
                    PerceptcodecWarning,
                    stacklevel=2,
                )
            elif job.live is not None:
                pump = _AudioPump.of_live(job.live, trimmer)
            else:
                pump = _AudioPump.of_file(info.path, trimmer)
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
                fmt=_format_name(job.muxer),
            )
    except BaseException:
        encoder.close()
        if pump is not None:
            pump.close()
        raise
    label = {Pass.SINGLE: "encode", Pass.FIRST: "pass 1/2", Pass.SECOND: "pass 2/2"}[pass_]
    total = info.frames
    if job.config.trim.frames:
        total = min(total, job.config.trim.frames) if total else job.config.trim.frames
    bar = Progress(total, label) if job.progress else None
    frames = 0
    video = _VideoOut(sink, _Durations(info))
    zero_map = np.zeros(mb_grid((info.width, info.height)), np.float32)
    try:
        for frame, dqp in _Producer(_map_items(job, pass_, trimmer)):
            previous = encoder.last_pts if frames else None
            packets = encoder.encode(frame, dqp, frame.pts)
            video.durations.add(previous, encoder.last_pts, frame)
            if out is not None:
                applied = dqp if dqp is not None else zero_map
                result.offsets.add(applied)
                if job.dump is not None:
                    job.dump.add(encoder.last_pts, applied)
            for packet in packets:
                video.write(packet)
            frames += 1
            if pump is not None and sink is not None:
                pump.pump(sink, float(encoder.last_pts * info.time_base))
            if bar:
                bar.update(frames)
        if frames == 0:  # only a trim can leave nothing: a video without frames failed above
            raise PerceptcodecError(
                f"{info.path}: no frame at or after --start {job.config.trim.start_s:g} s"
            )
        for packet in encoder.flush():
            video.write(packet)
        video.finish()
        if not trimmer.active:
            _check_complete(info, frames)
        if pump is not None and sink is not None:
            end = float(video.end_pts * info.time_base) if trimmer.active else float("inf")
            pump.pump(sink, end)
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
    result.frames, result.video_bytes = frames, video.bytes
    result.duration_s = float((video.end_pts - start) * info.time_base) if frames else 0.0
    if sink is not None:
        result.sink_bytes = sink.bytes
        if sink.audio is not None:
            copied = f"copied ({info.audio_codec})"
            result.audio = copied if sink.audio_copy else "re-encoded to AAC"
        elif pump is None and info.has_audio and job.muxer in RAW:
            result.audio = f"none (a raw {job.muxer} stream carries no audio)"
    return result


def _format_name(muxer: str | None) -> str | None:
    """The --format name of an FFmpeg muxer (None stays None: the extension decides)."""
    from perceptcodec.io.sink import FORMATS

    if muxer is None:
        return None
    return next(name for name, m in FORMATS.items() if m == muxer)


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
