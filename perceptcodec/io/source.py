"""Opening and decoding input media with PyAV, with user-facing errors for bad input."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, MutableSequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from perceptcodec.encoder.settings import NO_COLOR, ColorInfo
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.integrity import structure_damage
from perceptcodec.units import frame_ticks

STDIN = "-"  # the input name that reads standard input


class PerceptcodecWarning(UserWarning):
    """Something worth a line on stderr that does not stop the work (the CLI prints
    ``perceptcodec: warning: ...``)."""


def warn(message: str) -> None:
    warnings.warn(message, PerceptcodecWarning, stacklevel=3)


@dataclass(frozen=True)
class Fingerprint:
    """What identifies an input file's content between two reads (2-pass encodes)."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise PerceptcodecError(f"{path}: no longer readable ({exc.strerror})") from exc
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def check(self, path: Path) -> None:
        """Raise unless ``path`` still holds the same file, unmodified."""
        if Fingerprint.of(path) != self:
            raise PerceptcodecError(
                f"{path}: the input changed while it was being read (still being written, or "
                "replaced); nothing written"
            )


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about an input before decoding it.

    width, height: coded picture size (pixels); sar: sample aspect ratio (display size =
    width * sar x height); fps: nominal frame rate; time_base: seconds per pts tick;
    frames: frame count if the container knows it, else an estimate from the duration (0 if
    unknown); frames_declared: whether the container stated the count; duration_s: seconds
    (0 if unknown); color: the colour description of the first frame as it will be coded;
    start_pts: pts of the first frame (time-base ticks; where ``--start`` counts from);
    streamed: read once from a pipe (stdin or a FIFO), not a file that can be opened again.
    """

    path: Path
    width: int
    height: int
    sar: Fraction
    fps: Fraction
    time_base: Fraction
    frames: int
    frames_declared: bool
    duration_s: float
    has_audio: bool
    audio_codec: str | None
    rotation: int = 0  # display matrix: degrees counter-clockwise (FFmpeg's sign), 0/90/180/270
    color: ColorInfo = NO_COLOR
    start_pts: int = 0
    streamed: bool = False

    @property
    def quarter_turns(self) -> int:
        """np.rot90 turns that make a coded picture upright."""
        return (self.rotation // 90) % 4


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise PerceptcodecError(f"{path}: no such file")
    if path.is_dir():
        raise PerceptcodecError(f"{path}: is a directory, not a video")
    if not os.access(path, os.R_OK):
        raise PerceptcodecError(f"{path}: not readable")
    if path.stat().st_size == 0:
        raise PerceptcodecError(f"{path}: empty file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise PerceptcodecError(f"{path}: not a readable media file ({_reason(exc)})") from exc


def is_streamed(src: str | os.PathLike[str]) -> bool:
    """Whether ``src`` is read as a stream, once: ``-`` (stdin), a FIFO or a character device."""
    if str(src) == STDIN:
        return True
    try:
        mode = os.stat(src).st_mode
    except OSError:
        return False
    import stat

    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _first_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.VideoFrame | None:
    try:
        for frame in container.decode(stream):
            return frame
    except (av.error.FFmpegError, ValueError, OverflowError):
        pass
    return None


def _rotation(frame: av.VideoFrame | None) -> int:
    """The display rotation of a frame, rounded to quarter turns (0 when none)."""
    try:
        angle = float(getattr(frame, "rotation", 0) or 0)
    except (ValueError, OverflowError):
        return 0
    return int(round(angle / 90)) * 90 % 360


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Check that ``path`` holds a decodable video stream and describe it."""
    path = Path(path)
    with _open(path) as container:
        stream = _video_stream(container, path)
        return describe(container, stream, path, _first_frame(container, stream))


def _video_stream(
    container: av.container.InputContainer, name: Path
) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise PerceptcodecError(f"{name}: no video stream")
    stream = container.streams.video[0]
    if not stream.codec_context.width or not stream.codec_context.height:
        raise PerceptcodecError(f"{name}: video stream has no picture size (unsupported codec?)")
    return stream


def nominal_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """The stream's nominal frame rate (frames/s): average, else guessed, else 25."""
    return Fraction(stream.average_rate or stream.guessed_rate or 25)


def stream_time_base(stream: av.video.stream.VideoStream) -> Fraction:
    """Seconds per pts tick of the stream (1/90000, MPEG's clock, where it names none)."""
    return Fraction(stream.time_base or Fraction(1, 90000))


def describe(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    path: Path,
    first: av.VideoFrame | None,
    streamed: bool = False,
) -> VideoInfo:
    """The :class:`VideoInfo` of an opened container's video ``stream``, whose first decoded
    frame (rotation, colour, start) is ``first``."""
    ctx = stream.codec_context
    fps = nominal_rate(stream)
    time_base = stream_time_base(stream)
    duration_s = 0.0
    if stream.duration is not None:
        duration_s = float(stream.duration * time_base)
    elif container.duration is not None:
        duration_s = container.duration / av.time_base
    frames = stream.frames or int(round(duration_s * float(fps)))
    sar = stream.sample_aspect_ratio or Fraction(1)
    audio = container.streams.audio[0] if container.streams.audio else None
    start = first.pts if first is not None and first.pts is not None else stream.start_time
    return VideoInfo(
        path=path,
        width=ctx.width,
        height=ctx.height,
        sar=Fraction(sar) if sar.numerator else Fraction(1),
        fps=fps,
        time_base=time_base,
        frames=frames,
        frames_declared=bool(stream.frames),
        rotation=_rotation(first),
        duration_s=duration_s,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        color=ColorInfo.of_frame(first) if first is not None else NO_COLOR,
        start_pts=int(start or 0),
        streamed=streamed,
    )


def decode_video(
    path: str | os.PathLike[str],
    threads: int = 0,
    keep_going: bool = False,
    seek_s: float = 0.0,
) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream in presentation order, streamed one at a time.

    Damage is decided from the container and the decoder, not from a declared frame count: a
    container structure cut short (:func:`structure_damage`), a packet cut by the end of the
    file, a demuxer or decoder error. Damage raises PerceptcodecError, unless ``keep_going``:
    then it is a warning and the frames that decode are yielded. A file without any decodable
    frame is always an error. ``seek_s`` > 0: start decoding at the keyframe at or before that
    many seconds after the stream's start (frames before it still come out; the caller drops
    them).
    """
    path = Path(path)
    cut = structure_damage(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        if seek_s > 0:
            _seek(container, stream, seek_s)
        yield from decoded_frames(path, container.demux(stream), keep_going, cut)


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, s: float):
    """Seek to the keyframe at or before ``s`` seconds after the stream's start; where that
    fails, decoding starts at the beginning (the caller drops the early frames either way)."""
    start = stream.start_time or 0
    try:
        container.seek(start + int(s / stream_time_base(stream)), stream=stream, backward=True)
    except (av.error.FFmpegError, ValueError, OverflowError):
        pass


class _Timeline:
    """Gives decoded frames strictly increasing pts (time-base ticks), as x264's rate control,
    the saliency models' clocks and ``--start`` need. A frame without a pts (a raw H.264
    stream has none) is numbered one frame at the nominal rate after the previous one (the
    first at the stream's start); a frame whose pts does not increase (a writer that rounded
    its timestamps away) is moved there too, with one warning."""

    def __init__(self, path: Path, stream: av.video.stream.VideoStream) -> None:
        self.path = path
        self.fps = nominal_rate(stream)
        self.ticks = frame_ticks(self.fps, stream_time_base(stream))  # one frame, nominal rate
        self.start = int(stream.start_time or 0)
        self.last: int | None = None
        self.warned = False

    def __call__(self, frame: av.VideoFrame, index: int) -> None:
        """Set the pts of ``frame``, the ``index``-th decoded (from 1, for the warning)."""
        pts = frame.pts
        if pts is None:
            pts = self.start if self.last is None else self.last + self.ticks
        elif self.last is not None and pts <= self.last:
            pts = self.last + self.ticks
            if not self.warned:
                warn(
                    f"{self.path}: frame {index}'s timestamp does not increase; such "
                    f"frames are timed at the nominal {float(self.fps):g} frames/s"
                )
                self.warned = True
        frame.pts = self.last = int(pts)


def decoded_frames(
    path: Path,
    packets: Iterator[av.Packet],
    keep_going: bool = False,
    cut: str | None = None,
    other: MutableSequence[av.Packet] | None = None,
) -> Iterator[av.VideoFrame]:
    """The video frames decoded from demuxed ``packets`` (:func:`decode_video`'s damage rules;
    ``cut``: container damage found beforehand), with strictly increasing pts
    (:class:`_Timeline`). Packets of other streams (audio, when the demuxer was asked for it)
    are appended to ``other``."""
    count = 0
    damaged = False
    timeline: _Timeline | None = None

    def damage(what: str) -> None:
        nonlocal damaged
        text = f"{path}: damaged or truncated ({what})"
        if not keep_going:
            raise PerceptcodecError(f"{text}; --keep-going encodes what decodes")
        if not damaged:
            warn(f"{text}; going on with what decodes")
        damaged = True

    if cut is not None:
        damage(cut)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            if count == 0 and not keep_going:
                raise PerceptcodecError(f"{path}: cannot read video ({_reason(exc)})") from exc
            damage(f"demuxer error after frame {count}: {_reason(exc)}")
            break
        if packet.stream.type != "video":
            if other is not None and packet.size:
                other.append(packet)
            continue
        if packet.is_corrupt and packet.size:
            damage(f"packet after frame {count} is cut short or marked corrupt")
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            if count == 0 and not keep_going:
                reason = _reason(exc)
                raise PerceptcodecError(f"{path}: cannot decode video ({reason})") from exc
            damage(f"decode error after frame {count}: {_reason(exc)}")
            continue
        if timeline is None:
            timeline = _Timeline(path, packet.stream)
        for frame in frames:
            count += 1
            timeline(frame, count)
            yield frame
    if count == 0:
        raise PerceptcodecError(f"{path}: the video stream holds no decodable frame")


def check_frame_size(info: VideoInfo) -> None:
    """Refuse sizes H.264 4:2:0 cannot code: odd or under 16 pixels."""
    if info.width % 2 or info.height % 2:
        raise PerceptcodecError(
            f"{info.path}: {info.width}x{info.height} has an odd dimension; H.264 4:2:0 needs "
            f"even sizes (crop one pixel first, e.g. ffmpeg -vf crop=trunc(iw/2)*2:trunc(ih/2)*2)"
        )
    if info.width < 16 or info.height < 16:
        raise PerceptcodecError(f"{info.path}: {info.width}x{info.height} is too small (min 16x16)")
