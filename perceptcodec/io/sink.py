"""Writing H.264 packets (and the input's audio) into MP4 / MKV, atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error

from perceptcodec.encoder.x264 import Packet
from perceptcodec.errors import PerceptcodecError

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def container_format(path: Path) -> str:
    """FFmpeg muxer name for an output path, from its extension."""
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise PerceptcodecError(
            f"{path}: unsupported output extension {path.suffix!r} (use .mp4, .mkv or .mov)"
        )
    return fmt


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path (symlinks, ``./``) or the same
    inode (hard links)."""
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
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=dst.suffix, dir=parent)
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


class MediaSink:
    """An output container with one H.264 video stream and, optionally, the input's audio.

    Audio is copied packet by packet when the output format accepts the input codec, otherwise
    re-encoded to AAC. Video packets come from :class:`X264Encoder` (Annex B, pts/dts in
    ``time_base``).
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
    ) -> None:
        self._time_base = time_base
        try:
            self._out = av.open(str(path), "w", format=container_format(path))
        except av.error.FFmpegError as exc:
            raise PerceptcodecError(f"{path}: cannot write ({exc})") from exc
        self.video = self._out.add_mux_stream("h264", rate=fps, width=width, height=height)
        self.video.time_base = time_base
        # PyAV cannot set a mux stream's extradata: the SPS/PPS ``headers`` go in-band before
        # the first packet, from which the MP4 and Matroska muxers build avcC themselves.
        self._headers = headers
        if sar != 1:
            self.video.sample_aspect_ratio = sar
        self.audio_copy = False
        self.audio: av.stream.Stream | None = None
        self._resampler: av.AudioResampler | None = None
        if audio_from is not None:
            self._add_audio(audio_from)

    def _add_audio(self, src: av.audio.stream.AudioStream) -> None:
        name = src.codec_context.name
        if name in self._out.supported_codecs and name not in ("pcm_s16le", "pcm_s24le"):
            self.audio = self._out.add_stream_from_template(src)
            self.audio_copy = True
        else:
            rate = src.codec_context.sample_rate or 48000
            self.audio = self._out.add_stream("aac", rate=rate)
            channels = src.codec_context.layout.nb_channels
            self.audio.codec_context.layout = {1: "mono", 6: "5.1"}.get(channels, "stereo")
            self._resampler = av.AudioResampler(format="fltp", layout=self.audio.layout, rate=rate)

    def write_video(self, packet: Packet) -> None:
        """Mux one encoded frame."""
        pkt = av.Packet(self._headers + packet.data if self._headers else packet.data)
        self._headers = b""
        pkt.pts, pkt.dts = packet.pts, packet.dts
        pkt.time_base = self._time_base
        pkt.is_keyframe = packet.keyframe
        pkt.stream = self.video
        self._out.mux(pkt)

    def write_audio_packet(self, packet: av.Packet) -> None:
        """Mux a demuxed audio packet (copy mode) or decode and re-encode it (AAC mode)."""
        if self.audio is None or packet.size == 0:
            return
        if self.audio_copy:
            packet.stream = self.audio
            self._out.mux(packet)
            return
        for frame in packet.decode():
            self._encode_audio(frame)

    def _encode_audio(self, frame: av.AudioFrame | None) -> None:
        assert self.audio is not None and self._resampler is not None
        frames = self._resampler.resample(frame) if frame is not None else [None]
        for f in frames:
            if f is not None:
                f.pts = None
            self._out.mux(self.audio.encode(f))

    def close(self) -> None:
        """Flush the audio encoder (AAC mode) and write the trailer."""
        if self.audio is not None and not self.audio_copy:
            self._encode_audio(None)
        self._out.close()
