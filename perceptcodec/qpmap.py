"""QP-offset maps out of the tool: as applied by an encode (``encode --dump-qp``), or computed
without encoding for other encoders (``perceptcodec qpmap``).

Formats:
- ``npz``: ``dqp`` float32 frames x rows x cols (QP units, negative = more bits, one value per
  16 x 16 block, ceil(H/16) x ceil(W/16)), ``pts`` int64 (in ``time_base``), ``time_base``
  (numerator, denominator), ``size`` (width, height), ``block`` (16).
- ``svt-av1``: SVT-AV1's ``--roi-map-file`` as its application parses it (one line per
  picture: ``<picture number> <offset> <offset> ...``, one offset per 64 x 64 block in raster
  order, ceil(W/64) * ceil(H/64) of them, integers in -255..255 on AV1's quantizer-index scale,
  at most 8 distinct values per picture: AV1 has 8 segments). A 64 x 64 offset is the mean of
  its 16 x 16 offsets, times 4 (AV1's qindex 0-255 spans about four times the 0-63 quantizer
  scale, the factor FFmpeg's libaom wrapper uses for QP deltas; AV1's step size is not exactly
  H.264's doubling every 6 QP, so treat the strength as approximate), on 8 evenly spaced
  levels when a picture has more than 8 values.
- ``kvazaar``: kvazaar's ``--roi`` text file: per frame, the map's width and height, then
  width * height integer delta QPs in raster order (kvazaar scales the map to its LCUs); the
  16 x 16 grid is written as it is (HEVC's QP scale is H.264's).
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterable, Iterator
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.sink import atomic_output

if TYPE_CHECKING:
    from perceptcodec.config import SaliencySpec
    from perceptcodec.roi import RoiSettings

MB = 16
AV1_BLOCK = 64
AV1_SEGMENTS = 8
AV1_QINDEX_PER_QP = 4.0
AV1_MAX_OFFSET = 255


class QpMapFormat(str, Enum):
    """File formats ``perceptcodec qpmap`` writes."""

    NPZ = "npz"
    SVT_AV1 = "svt-av1"
    KVAZAAR = "kvazaar"


def av1_offsets(dqp_mb: np.ndarray) -> np.ndarray:
    """One picture's 16 x 16 QP offsets (rows x cols) as SVT-AV1 ROI offsets: int
    (ceil(rows/4) x ceil(cols/4)), mean per 64 x 64 block x 4, at most 8 distinct values."""
    rows, cols = dqp_mb.shape
    r64, c64 = -(-rows // 4), -(-cols // 4)
    padded = np.full((r64 * 4, c64 * 4), np.nan, np.float64)
    padded[:rows, :cols] = dqp_mb
    blocks = np.nanmean(padded.reshape(r64, 4, c64, 4), axis=(1, 3)) * AV1_QINDEX_PER_QP
    blocks = np.clip(np.round(blocks), -AV1_MAX_OFFSET, AV1_MAX_OFFSET)
    if len(np.unique(blocks)) > AV1_SEGMENTS:  # 8 evenly spaced levels: 8 segments at most
        low, high = float(blocks.min()), float(blocks.max())
        step = (high - low) / (AV1_SEGMENTS - 1)
        blocks = np.round(low + np.round((blocks - low) / step) * step)
    return blocks.astype(np.int32)


def _write_text(out: TextIO, fmt: QpMapFormat, index: int, dqp_mb: np.ndarray) -> None:
    if fmt is QpMapFormat.SVT_AV1:
        values = av1_offsets(dqp_mb).ravel()
        out.write(f"{index} " + " ".join(map(str, values)) + "\n")
    else:
        rows, cols = dqp_mb.shape
        values = np.clip(np.round(dqp_mb), -51, 51).astype(np.int32)
        out.write(f"{cols} {rows}\n")
        for row in values:
            out.write(" ".join(map(str, row)) + "\n")


class QpMapWriter:
    """Collects per-frame QP offsets (rows x cols, QP units) and their pts, streaming them to
    ``path`` in ``fmt``; the file appears, complete, on :meth:`close` (atomic rename), and not
    at all if the writer is left through an exception."""

    def __init__(
        self,
        path: Path,
        fmt: QpMapFormat,
        size: tuple[int, int],
        time_base: Fraction,
        overwrite: bool = False,
        inputs: tuple[Path, ...] = (),
    ) -> None:
        self.path, self.fmt, self.size, self.time_base = Path(path), fmt, size, time_base
        self.frames = 0
        self._pts: list[int] = []
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_output(self.path, overwrite, inputs))
        binary = fmt is QpMapFormat.NPZ
        self._raw = self._tmp.with_name(self._tmp.name + ".raw") if binary else None
        self._out = self._stack.enter_context(
            open(self._raw if binary else self._tmp, "wb" if binary else "w")  # noqa: SIM115
        )
        if self._raw is not None:
            self._stack.callback(self._raw.unlink, missing_ok=True)

    def add(self, pts: int, dqp_mb: np.ndarray) -> None:
        """One frame's applied offsets (float32, rows x cols) at ``pts``."""
        if self._raw is not None:
            self._out.write(np.ascontiguousarray(dqp_mb, np.float32).tobytes())
        else:
            _write_text(self._out, self.fmt, self.frames, dqp_mb)
        self._pts.append(int(pts))
        self.frames += 1

    def close(self) -> None:
        """Finish the file and move it into place."""
        self._out.close()
        if self._raw is not None:
            rows, cols = -(-self.size[1] // MB), -(-self.size[0] // MB)
            _write_npz(self._tmp, self._raw, (self.frames, rows, cols), self._pts, self)
        self._stack.close()

    def abort(self) -> None:
        """Leave nothing behind."""
        self._stack.__exit__(PerceptcodecError, PerceptcodecError("aborted"), None)

    def __enter__(self) -> QpMapWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _write_npz(
    path: Path, raw: Path, shape: tuple[int, int, int], pts: list[int], writer: QpMapWriter
) -> None:
    """The raw float32 maps streamed into an .npz next to pts, time base, size and block."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        with zf.open("dqp.npy", "w", force_zip64=True) as f:
            header = {"descr": "<f4", "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(f, header)
            with open(raw, "rb") as src:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
        tb = writer.time_base
        extras = {
            "pts": np.asarray(pts, np.int64),
            "time_base": np.array([tb.numerator, tb.denominator], np.int64),
            "size": np.array(writer.size, np.int32),
            "block": np.int32(MB),
        }
        for name, value in extras.items():
            with zf.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(value))


def read_qpmap_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(dqp frames x rows x cols, pts) of an npz this module wrote."""
    with np.load(path) as data:
        return data["dqp"], data["pts"]


def parse_svt_av1(text: str) -> Iterator[tuple[int, np.ndarray]]:
    """(picture number, offsets) per line of an SVT-AV1 ROI map file."""
    for line in text.splitlines():
        if line.strip():
            number, *values = (int(v) for v in line.split())
            yield number, np.asarray(values, np.int32)


def parse_kvazaar(text: str) -> Iterator[np.ndarray]:
    """Each frame's delta-QP map (rows x cols int) of a kvazaar ROI text file."""
    numbers = iter(int(v) for v in text.split())
    for cols in numbers:
        rows = next(numbers)
        yield np.asarray([next(numbers) for _ in range(rows * cols)], np.int32).reshape(rows, cols)


def write_qpmap(
    maps: Iterable[tuple[int, np.ndarray]],
    path: Path,
    fmt: QpMapFormat,
    size: tuple[int, int],
    time_base: Fraction,
    overwrite: bool = False,
    inputs: tuple[Path, ...] = (),
) -> int:
    """Write (pts, dqp_mb) frames to ``path``; returns the frame count."""
    with QpMapWriter(path, fmt, size, time_base, overwrite, inputs) as writer:
        for pts, dqp in maps:
            writer.add(pts, dqp)
    return writer.frames


def export_qpmap(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    fmt: QpMapFormat,
    saliency: SaliencySpec,
    roi: RoiSettings,
    force: bool = False,
) -> int:
    """The offsets an encode of ``src`` with ``saliency`` and ``roi`` would apply, without
    encoding, written to ``dst`` in ``fmt``; returns the frame count."""
    from perceptcodec.io.audio import load_audio_mono
    from perceptcodec.io.source import decode_video, probe
    from perceptcodec.pipeline import upright_saliency_maps
    from perceptcodec.roi import QpOffsetMapper

    src, dst = Path(src), Path(dst)
    model = saliency.build()
    if model is None:
        raise PerceptcodecError("--saliency none has no offsets to write (all would be 0)")
    info = probe(src)
    audio = load_audio_mono(src, model.audio_rate) if model.audio_rate and info.has_audio else None
    mapper = QpOffsetMapper((info.width, info.height), roi)
    frames = upright_saliency_maps(decode_video(src), model, info, audio, saliency.stride)
    maps = (
        (frame.pts if frame.pts is not None else i, mapper(sal))
        for i, (frame, _t, sal) in enumerate(frames)
    )
    size = (info.width, info.height)
    return write_qpmap(maps, dst, fmt, size, info.time_base, force, (src,))
