"""Writing H.264 or HEVC packets (and the input's audio) into MP4 / MKV / MOV / MPEG-TS or a raw
stream, atomically to a file or as a stream to stdout (``-``)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.error

from perceptcodec.encoder.codec import Codec
from perceptcodec.encoder.x264 import Packet
from perceptcodec.errors import PerceptcodecError

CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".ts": "mpegts",
    ".h264": "h264",
    ".264": "h264",
    ".hevc": "hevc",
    ".265": "hevc",
}
# --format names -> FFmpeg muxers. mkv, mpegts and the raw streams also go to a pipe.
FORMATS = {
    "mp4": "mp4",
    "mov": "mov",
    "mkv": "matroska",
    "mpegts": "mpegts",
    "h264": "h264",
    "hevc": "hevc",
}
PIPE_FORMATS = ("mkv", "mpegts", "h264", "hevc")
RAW = ("h264", "hevc")  # elementary streams: no audio, parameter sets in-band
STDOUT = "-"  # the output name that writes standard output
# Audio codecs MPEG-TS carries as they are (others are re-encoded to AAC).
_TS_AUDIO = ("aac", "mp3", "mp2", "ac3", "eac3", "opus")


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and str(path) == STDOUT


def container_format(path: Path, fmt: str | None = None) -> str:
    """FFmpeg muxer name for an output: ``fmt`` (a --format name: mp4, mov, mkv, mpegts, h264,
    hevc) when given, else from the path's extension. Standard output (``-``) needs ``fmt``,
    one of mkv, mpegts, h264, hevc (MP4 and MOV need a seekable file)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise PerceptcodecError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        if is_stdout(path) and fmt not in PIPE_FORMATS:
            raise PerceptcodecError(
                f"{fmt} cannot be written to a pipe (it needs a seekable file); "
                f"use --format {', '.join(PIPE_FORMATS)}"
            )
        return FORMATS[fmt]
    if is_stdout(path):
        raise PerceptcodecError(
            f"output to stdout (-o -) needs --format ({', '.join(PIPE_FORMATS)})"
        )
    muxer = CONTAINERS.get(Path(path).suffix.lower())
    if muxer is None:
        raise PerceptcodecError(
            f"{path}: unsupported output extension {Path(path).suffix!r} (use .mp4, .mkv, .mov, "
            ".ts, .h264 or .hevc, or --format)"
        )
    return muxer


def check_format(muxer: str, codec: Codec) -> None:
    """Refuse a raw stream of the other codec (--format h264 with --codec hevc)."""
    if muxer in RAW and muxer != codec.value:
        raise PerceptcodecError(
            f"a raw {muxer} stream cannot carry {codec.value}; use --format {codec.value}"
        )


def _stat(path: Path) -> os.stat_result:
    """os.stat, where ``-`` is standard input's file (stdin redirected from a file)."""
    return os.fstat(0) if str(path) == "-" else os.stat(path)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path (symlinks, ``./``) or the same
    inode (hard links). ``-`` (standard input) is the file stdin reads, if it reads one."""
    if "-" in (str(a), str(b)):
        if str(a) == str(b):
            return False  # stdin and stdout: not files
        try:
            x, y = _stat(Path(a)), _stat(Path(b))
        except OSError:
            return False
        import stat

        return stat.S_ISREG(x.st_mode) and (x.st_dev, x.st_ino) == (y.st_dev, y.st_ino)
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_output(dst: Path, overwrite: bool = False, inputs: tuple[Path, ...] = ()) -> Path:
    """Refuse an output that is one of ``inputs`` (whatever the options), exists (unless
    ``overwrite``), is a folder, or lies in a folder that is missing or not writable. Returns
    the folder."""
    for src in inputs:
        if same_file(dst, src):
            raise PerceptcodecError(f"{dst}: output would overwrite the input {src}")
    if dst.is_dir():
        raise PerceptcodecError(f"{dst}: is a directory")
    if dst.exists() and not overwrite:
        raise PerceptcodecError(f"{dst}: already exists (use --force to overwrite)")
    parent = dst.parent
    if not parent.is_dir():
        raise PerceptcodecError(f"{dst}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PerceptcodecError(f"{dst}: folder {parent} is not writable")
    return parent


# Temporary files carry the writing process's id, so a later run can tell the leftovers of a
# killed process (SIGKILL, power loss) from those of a run still going: ``.<stem>.pcx<pid>.
# <random><suffix>`` beside an output, ``perceptcodec-<pid>-<random>`` in $TMPDIR.
_STALE_FILE = re.compile(r"^\..*\.pcx(\d+)\.[A-Za-z0-9_]{8}\.[A-Za-z0-9]+$")
_STALE_DIR = re.compile(r"^perceptcodec-(\d+)-[A-Za-z0-9_]{8}$")


def _dead(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, another user's
        return False
    return False


def remove_stale(*folders: Path) -> list[Path]:
    """Remove our temporary files and folders in ``folders`` left by processes that no longer
    exist (only ours: same user, our naming). Returns what was removed."""
    removed: list[Path] = []
    uid = os.getuid()
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            pattern = _STALE_DIR if entry.name.startswith("perceptcodec-") else _STALE_FILE
            match = pattern.match(entry.name)
            if not match or not _dead(int(match.group(1))):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def work_dir() -> Iterator[Path]:
    """A private temporary folder in $TMPDIR (pass-1 statistics, maps), removed on exit."""
    try:
        tmp = tempfile.TemporaryDirectory(prefix=f"perceptcodec-{os.getpid()}-")
    except OSError as exc:
        raise PerceptcodecError(
            f"cannot create a temporary folder in {tempfile.gettempdir()} ({exc.strerror}); "
            "set TMPDIR to a writable folder"
        ) from exc
    with tmp as name:
        yield Path(name)


def disk_error(exc: OSError, path: Path) -> PerceptcodecError:
    """A one-line error for a failed write to ``path`` (the user's name for the file)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PerceptcodecError(f"{path}: no space left on the device")
    return PerceptcodecError(f"{path}: write failed ({exc.strerror or exc})")


@contextlib.contextmanager
def atomic_output(
    dst: Path, overwrite: bool = False, inputs: tuple[Path, ...] = ()
) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; rename it onto ``dst`` only on success. ``dst``
    is checked with :func:`check_output` first.

    On any exception (Ctrl-C included) the temporary file is removed and ``dst`` is untouched.
    """
    dst = Path(dst)
    parent = check_output(dst, overwrite, inputs)
    try:
        prefix = f".{dst.stem}.pcx{os.getpid()}."
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=dst.suffix, dir=parent)
    except OSError as exc:
        raise PerceptcodecError(f"{dst}: cannot write there ({exc.strerror})") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; give it a normal file's mode
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _display_matrix(degrees: int) -> bytes:
    """The 3 x 3 display matrix (MP4 tkhd layout, big-endian 16.16 / 2.30) that FFmpeg reads
    back as a counter-clockwise rotation of ``degrees``."""
    import math

    rad = math.radians(degrees)
    c, s = round(math.cos(rad) * 65536), round(math.sin(rad) * 65536)
    return struct.pack(">9i", c, -s, 0, s, c, 0, 0, 0, 1 << 30)


def set_mp4_rotation(path: Path, degrees: int) -> None:
    """Write the display rotation into the first track header (tkhd) of an MP4/MOV file: the
    video track, which MediaSink adds first. PyAV cannot attach a display matrix to a stream it
    does not encode itself."""
    with open(path, "r+b") as f:
        at = _find_box(f, b"moov", 0, os.fstat(f.fileno()).st_size)
        at = at and _find_box(f, b"trak", at[0] + 8, at[1])
        at = at and _find_box(f, b"tkhd", at[0] + 8, at[1])
        if not at:
            raise PerceptcodecError(f"{path}: no track header to carry the rotation")
        f.seek(at[0] + 8)
        version = f.read(1)[0]
        f.seek(at[0] + 12 + (32 if version == 1 else 20) + 16)  # the matrix
        f.write(_display_matrix(degrees))


def _find_box(f: BinaryIO, kind: bytes, start: int, end: int) -> tuple[int, int] | None:
    """(offset, end) of the first ``kind`` box among the boxes in start..end."""
    at = start
    while at + 8 <= end:
        f.seek(at)
        size, name = struct.unpack(">I4s", f.read(8))
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
        elif size == 0:
            size = end - at
        if size < 8:
            return None
        if name == kind:
            return at, min(at + size, end)
        at += size
    return None


class MediaSink:
    """The muxer: an output with one H.264 (or HEVC: ``codec``) video stream and, optionally,
    the input's audio. Public as ``perceptcodec.MediaSink``.

    ``path``: a file (written in place: wrap it in :func:`atomic_output` for all-or-nothing) or
    ``-``, standard output (then ``fmt`` is needed: mkv, mpegts, h264 or hevc). ``fmt``: a
    --format name (:data:`FORMATS`), else the extension decides. ``headers``: the encoder's
    parameter sets (``Encoder.headers()``). Audio (``audio_from``, a demuxed input stream) is
    copied packet by packet when the output format accepts the input codec, otherwise
    re-encoded to AAC; raw streams carry none. Video packets come from :class:`Encoder`
    (Annex B, pts/dts in ``time_base``): :meth:`write_video`. :meth:`close` writes the
    trailer. :meth:`for_encoder` builds one from an :class:`Encoder`.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        time_base: Fraction,
        fps: Fraction,
        headers: bytes,
        sar: Fraction = Fraction(1),
        audio_from: av.audio.stream.AudioStream | None = None,
        name: Path | None = None,
        rotation: int = 0,
        codec: Codec = Codec.H264,
        fmt: str | None = None,
    ) -> None:
        self._time_base = time_base
        self.codec = Codec.parse(codec)
        stdout = is_stdout(path)
        self.name = Path("<stdout>") if stdout else Path(name or path)  # for messages
        self.muxer = container_format(Path(STDOUT) if stdout else self.name, fmt)
        check_format(self.muxer, self.codec)
        try:
            self._out = av.open("pipe:1" if stdout else str(path), "w", format=self.muxer)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._failed(exc) from exc
        if self.codec is Codec.HEVC and self.muxer in ("mp4", "mov", "matroska"):
            self.video = self._hevc_stream(headers, fps, width, height)
            self._headers = b""
        elif self.codec is Codec.HEVC:  # MPEG-TS, raw: parameter sets in-band
            self.video = self._out.add_mux_stream("hevc", rate=fps, width=width, height=height)
            self._headers = headers
        else:
            self.video = self._out.add_mux_stream("h264", rate=fps, width=width, height=height)
            # PyAV cannot set a mux stream's extradata: the SPS/PPS ``headers`` go in-band
            # before the first packet, from which the MP4 and Matroska muxers build avcC.
            self._headers = headers
        self.video.time_base = time_base
        if sar != 1:
            self.video.sample_aspect_ratio = sar
        self._path, self._rotation = Path(path), rotation % 360
        self._stdout = stdout
        self.bytes = 0  # payload bytes muxed (video + audio; container overhead not counted)
        self.audio_copy = False
        self.audio: av.stream.Stream | None = None
        self._resampler: av.AudioResampler | None = None
        if audio_from is not None and self.muxer not in RAW:
            self._add_audio(audio_from)

    @classmethod
    def for_encoder(
        cls,
        path: str | os.PathLike[str],
        encoder: object,
        fmt: str | None = None,
        audio_from: av.audio.stream.AudioStream | None = None,
    ) -> MediaSink:
        """A sink for the packets of a :class:`perceptcodec.Encoder` (its size, time base,
        frame rate, sample aspect ratio, codec and parameter sets)."""
        enc = encoder
        return cls(
            Path(path),
            enc.width,  # type: ignore[attr-defined]
            enc.height,  # type: ignore[attr-defined]
            enc.time_base,  # type: ignore[attr-defined]
            enc.fps,  # type: ignore[attr-defined]
            enc.headers(),  # type: ignore[attr-defined]
            sar=Fraction(enc.sar or 1),  # type: ignore[attr-defined]
            audio_from=audio_from,
            codec=enc.codec,  # type: ignore[attr-defined]
            fmt=fmt,
        )

    def _hevc_stream(
        self, headers: bytes, fps: Fraction, width: int, height: int
    ) -> av.video.stream.VideoStream:
        """An HEVC stream whose extradata holds the VPS/SPS/PPS ``headers``: a stream made
        from the template of those headers read as raw HEVC (PyAV sets no extradata on a bare
        mux stream). The parameter sets are then only in the sample entry (hvcC), none in the
        packets, and MP4/MOV take the ``hvc1`` tag Apple's players want (``hev1`` means
        in-band parameter sets)."""
        try:
            with av.open(io.BytesIO(headers), format="hevc") as raw:
                video = self._out.add_stream_from_template(raw.streams.video[0])
        except (av.error.FFmpegError, ValueError, IndexError) as exc:
            raise PerceptcodecError(f"{self.name}: cannot set up the HEVC stream ({exc})") from exc
        ctx = video.codec_context
        ctx.width, ctx.height, ctx.framerate = width, height, fps
        if self.muxer in ("mp4", "mov"):
            video.codec_tag = "hvc1"
        return video

    def _add_audio(self, src: av.audio.stream.AudioStream) -> None:
        name = src.codec_context.name
        if self.muxer == "mpegts":
            copy = name in _TS_AUDIO
        else:
            copy = name in self._out.supported_codecs and name not in ("pcm_s16le", "pcm_s24le")
        if copy:
            self.audio = self._out.add_stream_from_template(src)
            self.audio_copy = True
        else:
            rate = src.codec_context.sample_rate or 48000
            self.audio = self._out.add_stream("aac", rate=rate)
            channels = src.codec_context.layout.nb_channels
            self.audio.codec_context.layout = {1: "mono", 6: "5.1"}.get(channels, "stereo")
            self._resampler = av.AudioResampler(format="fltp", layout=self.audio.layout, rate=rate)

    def _failed(self, exc: Exception) -> PerceptcodecError:
        """A one-line error naming the user's path (not the hidden temporary file)."""
        code = getattr(exc, "errno", None)
        if code in (errno.ENOSPC, errno.EDQUOT):
            return PerceptcodecError(f"{self.name}: no space left on the device")
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        return PerceptcodecError(f"{self.name}: cannot write ({reason})")

    def _mux(self, packet: av.Packet) -> None:
        self.bytes += packet.size
        try:
            self._out.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            raise self._failed(exc) from exc

    def write_video(self, packet: Packet, duration: int | None = None) -> None:
        """Mux one encoded frame (decode order); ``duration`` (time-base ticks) is how long it
        shows."""
        pkt = av.Packet(self._headers + packet.data if self._headers else packet.data)
        self._headers = b""
        pkt.pts, pkt.dts = packet.pts, packet.dts
        if duration:
            pkt.duration = duration
        pkt.time_base = self._time_base
        pkt.is_keyframe = packet.keyframe
        pkt.stream = self.video
        self._mux(pkt)

    def write_audio_packet(self, packet: av.Packet) -> None:
        """Mux a demuxed audio packet (copy mode) or decode and re-encode it (AAC mode)."""
        if self.audio is None or packet.size == 0:
            return
        if self.audio_copy:
            packet.stream = self.audio
            self._mux(packet)
            return
        for frame in packet.decode():
            self._encode_audio(frame)

    def _encode_audio(self, frame: av.AudioFrame | None) -> None:
        assert self.audio is not None and self._resampler is not None
        frames = self._resampler.resample(frame) if frame is not None else [None]
        for f in frames:
            if f is not None:
                f.pts = None
            for packet in self.audio.encode(f):
                self._mux(packet)

    def close(self) -> None:
        """Flush the audio encoder (AAC mode) and write the trailer."""
        try:
            if self.audio is not None and not self.audio_copy:
                self._encode_audio(None)
        finally:
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError) as exc:
                raise self._failed(exc) from exc
        if self._rotation and self.muxer in ("mp4", "mov") and not self._stdout:
            try:
                set_mp4_rotation(self._path, self._rotation)  # the input's display matrix, kept
            except OSError as exc:
                raise self._failed(exc) from exc
