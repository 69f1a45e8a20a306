"""Is a media file whole? Container structure checks FFmpeg's demuxers do not report.

FFmpeg stops quietly at the end of a cut Matroska file (the frames before the cut decode
fine), so the decoded frame count alone cannot tell a truncated file from one whose header
declares a wrong count. These checks read the container's own sizes instead: an MP4/MOV box,
a Matroska segment or element, or an AVI RIFF chunk that claims to end beyond the end of the
file means the file was cut (or is still being written); so does a Matroska file with neither
a segment size nor an index (Cues), which is what a writer leaves while it is still running.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

_MP4_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"styp", b"uuid"}
_EBML = 0x1A45DFA3
_SEGMENT = 0x18538067
_CUES = 0x1C53BB6B
_MAX_ELEMENTS = 1_000_000


def structure_damage(path: str | os.PathLike[str]) -> str | None:
    """A short description of what is cut or unfinished in ``path``, or None when its
    container structure is whole (or is not MP4/MOV, Matroska/WebM or AVI)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            size = os.fstat(f.fileno()).st_size
            if len(head) < 12:
                return None
            if head[4:8] in _MP4_TOP:
                return _mp4(f, size)
            if int.from_bytes(head[:4], "big") == _EBML:
                return _matroska(f, size)
            if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
                return _riff(f, size)
    except OSError:
        return None  # unreadable files are reported by the demuxer
    return None


def _mp4(f: BinaryIO, size: int) -> str | None:
    offset = 0
    for _ in range(_MAX_ELEMENTS):
        if offset >= size:
            return None
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            return f"truncated: {size - offset} stray bytes at the end"
        length, kind = struct.unpack(">I4s", header[:8])
        name = kind.decode("latin-1")
        if length == 1:
            if len(header) < 16:
                return f"truncated inside the '{name}' box header"
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # the box runs to the end of the file
            return None
        if length < 8:
            return f"damaged: box '{name}' at byte {offset} has size {length}"
        if offset + length > size:
            return (
                f"truncated: box '{name}' ends at byte {offset + length}, the file has {size} bytes"
            )
        offset += length
    return None


def _vint(f: BinaryIO, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of an EBML variable-length integer; value -1 = unknown size."""
    first = f.read(1)
    if not first:
        return None
    b = first[0]
    length = 1
    while length <= 8 and not b & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        return None
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = b if keep_marker else b & (0xFF >> length)
    for byte in rest:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _element(f: BinaryIO) -> tuple[int, int, int] | None:
    """(id, data size or -1, header length) of the element at the file position."""
    ident = _vint(f, keep_marker=True)
    if ident is None:
        return None
    length = _vint(f, keep_marker=False)
    if length is None:
        return None
    return ident[0], length[0], ident[1] + length[1]


def _matroska(f: BinaryIO, size: int) -> str | None:
    f.seek(0)
    offset = 0
    for _ in range(_MAX_ELEMENTS):
        if offset >= size:
            return None
        f.seek(offset)
        element = _element(f)
        if element is None:
            return "truncated inside an element header"
        ident, length, header = element
        if ident == _SEGMENT:
            start = offset + header
            if length >= 0:
                if start + length > size:
                    return (
                        f"truncated: the Matroska segment ends at byte {start + length}, "
                        f"the file has {size} bytes"
                    )
                offset = start + length
                continue
            return _unsized_segment(f, start, size)
        if length < 0:
            return None
        if offset + header + length > size:
            return f"truncated: element {ident:#x} ends beyond the end of the file"
        offset += header + length
    return None


def _unsized_segment(f: BinaryIO, offset: int, size: int) -> str | None:
    """A segment without a size: whole only with an index (Cues) and no cut child."""
    unfinished = (
        "unfinished: the Matroska segment has no size and no index (Cues); the file is "
        "still being written or its writer was stopped"
    )
    for _ in range(_MAX_ELEMENTS):
        if offset >= size:
            return unfinished
        f.seek(offset)
        element = _element(f)
        if element is None:
            return "truncated inside an element header"
        ident, length, header = element
        if ident == _CUES:
            return None
        if length < 0:
            return unfinished
        if offset + header + length > size:
            return f"truncated: element {ident:#x} ends beyond the end of the file"
        offset += header + length
    return None


def _riff(f: BinaryIO, size: int) -> str | None:
    offset = 0
    for _ in range(_MAX_ELEMENTS):
        if offset + 8 > size:
            return None
        f.seek(offset)
        kind, length = struct.unpack("<4sI", f.read(8))
        end = offset + 8 + length
        if end > size + 1:  # one byte of pad may be missing at the very end
            name = kind.decode("latin-1")
            return f"truncated: chunk '{name}' ends at byte {end}, the file has {size} bytes"
        offset = end + (length & 1)
    return None


__all__ = ["structure_damage"]
