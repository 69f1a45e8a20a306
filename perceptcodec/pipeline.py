"""The encode pipeline: decode -> saliency -> QP offsets -> x264 -> mux, streamed.

Decoding and saliency run in a producer thread that feeds a bounded queue; x264 (which releases
the GIL inside the native call) encodes in the caller's thread. Memory does not grow with the
video's length: at most ``QUEUE_FRAMES`` decoded frames wait between the two.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from perceptcodec.encoder.encoder import Encoder
from perceptcodec.encoder.frames import small_rgb
from perceptcodec.encoder.x264 import Packet, RateControl, X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import audio_window, load_audio_mono
from perceptcodec.io.sink import MediaSink, atomic_output, check_output, container_format
from perceptcodec.io.source import VideoInfo, decode_video, probe
from perceptcodec.progress import Progress
from perceptcodec.roi import QpOffsetMapper, RoiSettings
from perceptcodec.saliency import DEFAULT_MODEL, SaliencyModel, get_model
from perceptcodec.units import parse_bitrate

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


def default_output(src: Path, saliency: str, rate: RateControl) -> Path:
    """``<stem>.<saliency>.<rate>.mp4`` beside the input."""
    tag = {"abr": f"{rate.bitrate_kbps}k", "crf": f"crf{rate.crf:g}", "cqp": f"qp{rate.qp}"}
    return src.with_name(f"{src.stem}.{saliency}.{tag[rate.mode]}.mp4")


def model_input_size(model: SaliencyModel, frame_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) to resize frames to for ``model``: its own choice for this frame size
    when it offers one (``size_for(width, height)``), else its fixed ``input_size``."""
    size_for = getattr(model, "size_for", None)
    return tuple(size_for(*frame_size)) if callable(size_for) else tuple(model.input_size)


def saliency_maps(
    frames: Iterator[av.VideoFrame],
    model: SaliencyModel,
    info: VideoInfo,
    audio: np.ndarray | None = None,
    stride: int = 1,
) -> Iterator[tuple[av.VideoFrame, float, np.ndarray]]:
    """(frame, time in s, saliency map h x w summing to 1) for each decoded frame.

    With ``stride`` k > 1 the model sees every k-th frame only; maps in between are linear
    interpolations of the two nearest computed maps (the last one is held at the end), at the
    cost of holding k decoded frames."""
    if stride < 1:
        raise PerceptcodecError(f"saliency stride must be >= 1, not {stride}")
    in_w, in_h = model_input_size(model, (info.width, info.height))
    model.reset()
    pending: list[tuple[av.VideoFrame, float]] = []
    previous: np.ndarray | None = None
    for index, frame in enumerate(frames):
        t = float(frame.pts * info.time_base) if frame.pts is not None else index / float(info.fps)
        if index % stride:
            pending.append((frame, t))
            continue
        rgb = small_rgb(frame, (in_w, in_h))
        window = None
        if audio is not None and model.audio_rate:
            window = audio_window(audio, model.audio_rate, t, model.audio_window_s)
        current = model(rgb, t, window)
        for k, (held, held_t) in enumerate(pending, start=1):
            a = k / stride
            yield held, held_t, (1 - a) * previous + a * current
        pending = []
        previous = current
        yield frame, t, current
    for held, held_t in pending:
        yield held, held_t, previous


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
        return open(self.path, "wb")

    def read(self) -> Iterator[np.ndarray]:
        with open(self.path, "rb") as f:
            while chunk := f.read(self._count * 2):
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


def check_frame_size(info: VideoInfo) -> None:
    if info.width % 2 or info.height % 2:
        raise PerceptcodecError(
            f"{info.path}: {info.width}x{info.height} has an odd dimension; H.264 4:2:0 needs "
            f"even sizes (crop one pixel first, e.g. ffmpeg -vf crop=trunc(iw/2)*2:trunc(ih/2)*2)"
        )
    if info.width < 16 or info.height < 16:
        raise PerceptcodecError(f"{info.path}: {info.width}x{info.height} is too small (min 16x16)")


def encode(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None = None,
    *,
    bitrate: str | int | None = "300k",
    crf: float | None = None,
    qp: int | None = None,
    two_pass: bool = False,
    preset: str = "medium",
    tune: str | None = None,
    keyint: int = 0,
    threads: int = 0,
    saliency: str | SaliencyModel = DEFAULT_MODEL,
    strength: float = RoiSettings.strength,
    max_delta_qp: float = RoiSettings.max_delta_qp,
    smoothing: float = RoiSettings.smoothing,
    saliency_stride: int = 1,
    runtime: str = "auto",
    model_options: Mapping[str, object] | None = None,
    force: bool = False,
    progress: bool = True,
) -> EncodeSummary:
    """Encode ``src`` to H.264 in MP4/MKV with saliency-guided per-macroblock QP offsets.

    bitrate: target (``"300k"``, ``"1.5M"`` or kbit/s as int) for ABR / 2-pass; crf or qp
    select constant-quality modes instead. saliency: a registered model name, ``"none"``
    (plain x264, identical settings: the baseline of every comparison) or a model object.
    strength, max_delta_qp (QP units), smoothing: see :class:`perceptcodec.roi.RoiSettings`.
    saliency_stride: run the model on every k-th frame, interpolating maps in between.
    runtime: how a trained model runs (auto, onnx, torch, tensorrt); the summary says which.
    model_options: the model's own options, e.g. ``{"face_stride": 30, "width": 160}``.
    The output appears only when complete; an existing output is refused unless ``force``.
    """
    t0 = time.monotonic()
    src = Path(src)
    if crf is not None:
        rate = RateControl(mode="crf", crf=float(crf), two_pass=two_pass)
    elif qp is not None:
        rate = RateControl(mode="cqp", qp=int(qp), two_pass=two_pass)
    else:
        if bitrate is None:
            raise PerceptcodecError("give a bitrate, a CRF or a QP")
        rate = RateControl(mode="abr", bitrate_kbps=parse_bitrate(bitrate), two_pass=two_pass)
    options = X264Options(preset=preset, tune=tune, keyint=keyint, threads=threads)
    roi = RoiSettings(strength=strength, max_delta_qp=max_delta_qp, smoothing=smoothing)
    info = probe(src)
    check_frame_size(info)
    model_name = saliency if isinstance(saliency, str) else getattr(saliency, "name", "custom")
    dst = Path(dst) if dst is not None else default_output(src, model_name, rate)
    container_format(dst)
    if dst.resolve() == src.resolve():
        raise PerceptcodecError(f"{dst}: output would overwrite the input")
    check_output(dst, overwrite=force)
    model = None
    if isinstance(saliency, str):
        model = (
            None
            if saliency == "none"
            else get_model(saliency, runtime=runtime, **(model_options or {}))
        )
    else:
        model = saliency

    passes = 2 if rate.two_pass else 1
    with (
        tempfile.TemporaryDirectory(prefix="perceptcodec-") as tmp,
        atomic_output(dst, overwrite=force) as tmp_out,
    ):
        stats = os.path.join(tmp, "x264.stats")
        maps = _MapStore(Path(tmp) / "dqp.f16", (-(-info.height // 16), -(-info.width // 16)))
        audio_samples = None
        if model is not None and model.audio_rate and info.has_audio:
            audio_samples = load_audio_mono(src, model.audio_rate)
        job = _Job(info, rate, options, roi, model, audio_samples, saliency_stride, stats, maps,
                   progress)  # fmt: skip
        if passes == 2:
            _run_pass(job, 1, None)
        frames, video_bytes, audio_mode, duration = _run_pass(job, 2 if passes == 2 else 0, tmp_out)
        total_bytes = tmp_out.stat().st_size
    wall = time.monotonic() - t0
    used = getattr(model, "runtime", None)
    return EncodeSummary(
        src=str(src),
        dst=str(dst),
        saliency=f"{model_name} ({used})" if used else model_name,
        frames=frames,
        duration_s=duration,
        target_kbps=rate.bitrate_kbps if rate.mode == "abr" else None,
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
    rate: RateControl
    options: X264Options
    roi: RoiSettings
    model: SaliencyModel | None
    audio: np.ndarray | None
    stride: int
    stats: str
    maps: _MapStore
    progress: bool


def _map_items(job: _Job, pass_: int) -> Iterator[tuple[av.VideoFrame, np.ndarray | None]]:
    """(frame, dqp_mb or None) per frame; pass 1 stores the maps, pass 2 reads them back."""
    frames = decode_video(job.info.path)
    if job.model is None:
        for frame in frames:
            yield frame, None
        return
    if pass_ == 2:
        yield from zip(frames, job.maps.read(), strict=True)
        return
    mapper = QpOffsetMapper((job.info.width, job.info.height), job.roi)
    maps = saliency_maps(frames, job.model, job.info, job.audio, job.stride)
    with job.maps.writer() if pass_ == 1 else open(os.devnull, "wb") as store:
        for frame, _t, sal in maps:
            dqp = mapper(sal)
            store.write(dqp.astype(np.float16).tobytes())
            yield frame, dqp


def _run_pass(job: _Job, pass_: int, out: Path | None) -> tuple[int, int, str, float]:
    """One x264 pass (0 = single, 1, 2) over the video; muxes into ``out`` unless it is None.
    Returns (frames, video bytes, audio mode, video duration in s)."""
    info = job.info
    encoder = Encoder(
        info.width, info.height, info.fps, job.rate, job.options,
        time_base=info.time_base, sar=info.sar if info.sar != 1 else None,
        pass_=pass_, stats_path=job.stats if pass_ else None,
    )  # fmt: skip
    pump = _AudioPump(info.path) if out is not None and info.has_audio else None
    sink = None
    if out is not None:
        sink = MediaSink(
            out, info.width, info.height, info.time_base, info.fps, encoder.headers(),
            sar=info.sar, audio_from=pump.stream if pump else None,
        )  # fmt: skip
    label = {0: "encode", 1: "pass 1/2", 2: "pass 2/2"}[pass_]
    bar = Progress(info.frames, label) if job.progress else None
    frames = video_bytes = 0
    first_pts = last_pts = None
    try:
        for frame, dqp in _Producer(_map_items(job, pass_)):
            pts = frame.pts if frame.pts is not None else frames
            if last_pts is not None and pts <= last_pts:
                pts = last_pts + 1
            first_pts = pts if first_pts is None else first_pts
            last_pts = pts
            for packet in encoder.encode(frame, dqp, pts):
                video_bytes += _write(sink, packet)
            frames += 1
            if pump is not None and sink is not None:
                pump.pump(sink, float(pts * info.time_base))
            if bar:
                bar.update(frames)
        for packet in encoder.flush():
            video_bytes += _write(sink, packet)
        _check_complete(info, frames)
        if pump is not None and sink is not None:
            pump.pump(sink, float("inf"))
    finally:
        encoder.close()
        if bar:
            bar.update(frames, force=True)
            bar.close()
        if pump is not None:
            pump.close()
        if sink is not None:
            sink.close()
    frame_s = 1 / float(info.fps) if info.fps else 0.0
    duration = float((last_pts - first_pts) * info.time_base) + frame_s if frames else 0.0
    audio_mode = "none"
    if sink is not None and sink.audio is not None:
        audio_mode = f"copied ({info.audio_codec})" if sink.audio_copy else "re-encoded to AAC"
    return frames, video_bytes, audio_mode, duration


def _write(sink: MediaSink | None, packet: Packet) -> int:
    if sink is not None:
        sink.write_video(packet)
    return len(packet.data)


def _check_complete(info: VideoInfo, frames: int) -> None:
    """A container that declares its frame count but yields clearly fewer is truncated."""
    if info.frames_declared and frames < info.frames * 0.98 - 1:
        raise PerceptcodecError(
            f"{info.path}: truncated: decoded {frames} of the {info.frames} frames it declares"
        )


__all__ = ["EncodeSummary", "default_output", "encode", "saliency_maps"]
