"""Inputs read once, as a stream: standard input (``-``), a FIFO, a character device.

A pipe cannot be opened twice, nor rewound, so :class:`LiveInput` opens it once: FFmpeg probes
the format from the bytes it buffers, the first frame is decoded straight away (rotation,
colour, start time: what :func:`perceptcodec.io.source.probe` reads from a file), and then the
one demuxer hands out both the video frames (:meth:`LiveInput.frames`, decoded with the same
damage rules as a file) and the audio packets, which wait in :attr:`LiveInput.audio` until the
muxer takes them. What a second pass or a whole-track audio model needs is got by spooling the
stream to a temporary file first (:func:`spool`).
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import av.error

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.source import (
    STDIN,
    VideoInfo,
    _reason,
    _video_stream,
    decoded_frames,
    describe,
)

STDIN_NAME = "<stdin>"  # stdin's name in messages


def display_name(src: str | os.PathLike[str]) -> Path:
    """The name messages give an input (``<stdin>`` for ``-``)."""
    return Path(STDIN_NAME) if str(src) == STDIN else Path(src)


class LiveInput:
    """One streamed input, opened once. ``info`` describes it (frame count and duration are
    often unknown: 0); :meth:`frames` yields its video frames, once; :attr:`audio` collects the
    packets of its first audio stream (when ``audio`` is asked for) as the demuxer meets them.
    """

    def __init__(self, src: str | os.PathLike[str], keep_going: bool = False, audio: bool = True):
        self.name = display_name(src)
        url = "pipe:0" if str(src) == STDIN else str(src)
        try:
            self._container = av.open(url, metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
            raise PerceptcodecError(
                f"{self.name}: not a readable media stream ({_reason(exc)})"
            ) from exc
        try:
            stream = _video_stream(self._container, self.name)
            stream.thread_type = "AUTO"
            self.audio: collections.deque[av.Packet] = collections.deque()
            self.audio_stream = None
            wanted = [stream]
            if audio and self._container.streams.audio:
                self.audio_stream = self._container.streams.audio[0]
                wanted.append(self.audio_stream)
            packets = self._container.demux(*wanted)
            self._frames = decoded_frames(self.name, packets, keep_going, other=self.audio)
            self._first = next(self._frames)  # raises the decode errors of a bad stream
            self.info: VideoInfo = describe(
                self._container, stream, self.name, self._first, streamed=True
            )
        except BaseException:
            self._container.close()
            raise
        self._started = False

    def frames(self) -> Iterator[av.VideoFrame]:
        """The video frames, from the first; only once (a pipe is not read twice)."""
        if self._started:
            raise PerceptcodecError(f"{self.name}: a streamed input is read only once")
        self._started = True
        first, self._first = self._first, None
        yield first
        yield from self._frames

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> LiveInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spool(src: str | os.PathLike[str], folder: Path) -> Path:
    """Copy a streamed input into a file in ``folder`` (a private temporary folder) and return
    it: what a 2-pass encode, or a model that needs the whole audio track first, reads instead
    of the pipe. Disk use: the input's size."""
    target = folder / "input.stream"
    try:
        with open(target, "wb") as out:
            if str(src) == STDIN:
                shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
            else:
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
    except OSError as exc:
        from perceptcodec.io.sink import disk_error

        raise disk_error(exc, folder) from exc
    if target.stat().st_size == 0:
        raise PerceptcodecError(f"{display_name(src)}: empty input")
    return target


__all__ = ["STDIN_NAME", "LiveInput", "display_name", "spool"]
