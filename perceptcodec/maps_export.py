"""`perceptcodec saliency`: per-frame saliency maps to .npz, and a heat-map overlay video."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.config import SaliencySpec
from perceptcodec.encoder.encoder import Encoder
from perceptcodec.encoder.x264 import RateControl, RateMode, X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import load_audio_mono
from perceptcodec.io.sink import (
    MediaSink,
    atomic_output,
    check_output,
    disk_error,
    remove_stale,
    same_file,
    work_dir,
)
from perceptcodec.io.source import Fingerprint, check_frame_size, decode_video, probe
from perceptcodec.pipeline import upright_saliency_maps
from perceptcodec.progress import Progress
from perceptcodec.saliency import NONE
from perceptcodec.saliency.base import SaliencyModel
from perceptcodec.saliency.sources import FaceSources, SourceModel


@dataclass(frozen=True)
class MapsSummary:
    """What `perceptcodec saliency` wrote: frames x map_h x map_w float16 maps."""

    npz: str
    overlay: str | None
    model: str
    frames: int
    map_shape: tuple[int, int]


def heat_overlay(rgb: np.ndarray, sal: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a JET heat map of ``sal`` (h x w, any size) over ``rgb`` (H x W x 3 uint8)."""
    h, w = rgb.shape[:2]
    up = cv2.resize(sal.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    up = (255 * up / max(float(up.max()), 1e-12)).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(up, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 1 - alpha, heat, alpha, 0.0)


def _write_npz(
    path: Path,
    raws: dict[str, tuple[Path, tuple[int, ...]]],
    arrays: dict[str, np.ndarray],
) -> None:
    """Stream raw float16 files (``raws``: npz name -> (file, shape)) into an .npz without
    holding them in memory, then the small ``arrays``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, (raw, shape) in raws.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                header = {
                    "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                    "fortran_order": False,
                    "shape": shape,
                }
                np.lib.format.write_array_header_2_0(f, header)
                with open(raw, "rb") as src:
                    while chunk := src.read(1 << 20):
                        f.write(chunk)
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(value))


class _SourceRecorder:
    """Wraps a :class:`SourceModel`: keeps the sources of each frame the model ran on, so
    frames between computed ones (saliency stride) get those of the last computed frame."""

    def __init__(self, model: SaliencyModel) -> None:
        if not isinstance(model, SourceModel):
            name = getattr(model, "name", "this model")
            raise PerceptcodecError(
                f"--sources: {name} does not report sound sources (prior and vamnet do)"
            )
        model.report_sources()
        self._model = model
        self._done: deque[tuple[float, FaceSources]] = deque()
        self._current: FaceSources | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def __call__(self, rgb: np.ndarray, t: float, audio: np.ndarray | None = None) -> np.ndarray:
        sal = self._model(rgb, t, audio)
        self._done.append((t, self._model.sources()))  # type: ignore[attr-defined]
        return sal

    def at(self, t: float) -> FaceSources:
        """The sources of the last computed frame at or before ``t`` (s)."""
        while self._done and (self._current is None or self._done[0][0] <= t):
            self._current = self._done.popleft()[1]
        assert self._current is not None
        return self._current


def export_saliency(
    src: str | os.PathLike[str],
    npz: str | os.PathLike[str],
    saliency: SaliencySpec | None = None,
    overlay: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = True,
    keep_going: bool = False,
    sources: bool = False,
) -> MapsSummary:
    """Run the saliency model ``saliency`` names (default: the default model) over ``src``;
    write ``npz`` with ``saliency`` (float16, frames x h x w, each frame summing to 1), ``fps``
    and ``size`` (source width, height), and optionally an overlay video (heat map over the
    frames, H.264 CRF 23) for a person to look at.

    With ``sources`` (models that report them, see :mod:`perceptcodec.saliency.sources`), the
    npz also holds ``sources`` (float16, frames x h x w, the sound-source map on the saliency
    grid) and one row per face per frame: ``face_frame`` (int32 frame index), ``face_id``
    (int32 track id), ``face_box`` (float32 x0, y0, x1, y1 in pixels of the upright source
    frame) and ``face_speaking`` (float32 probability 0..1 that the face is talking).

    Outputs follow :func:`perceptcodec.encode`'s rules: never the input, an existing file
    only with ``force``, written whole or not at all; a damaged input is an error unless
    ``keep_going``."""
    src, npz = Path(src), Path(npz)
    if npz.suffix.lower() != ".npz":
        raise PerceptcodecError(f"{npz}: the maps file must end in .npz")
    saliency = saliency or SaliencySpec()
    outputs = [npz] if overlay is None else [npz, Path(overlay)]
    for out in outputs:
        check_output(out, overwrite=force, inputs=(src,))
    if overlay is not None and same_file(npz, Path(overlay)):
        raise PerceptcodecError(f"{overlay}: the overlay and the maps file must differ")
    if saliency.model == NONE:
        raise PerceptcodecError("--saliency none has no maps to write")
    info = probe(src)
    fingerprint = Fingerprint.of(src)
    if overlay is not None:
        check_frame_size(info)  # only the overlay goes through x264
    remove_stale(*(out.parent for out in outputs), Path(tempfile.gettempdir()))
    net = saliency.build()
    assert net is not None
    recorder = _SourceRecorder(net) if sources else None
    turns = info.quarter_turns
    upright = (info.height, info.width) if turns % 2 else (info.width, info.height)
    faces: dict[str, list[np.ndarray]] = {"frame": [], "id": [], "box": [], "speaking": []}
    # boxes from the model's working frame to upright source pixels
    box_scale = np.tile(np.divide(upright, net.size_for(*upright)), 2).astype(np.float32)
    audio = load_audio_mono(src, net.audio_rate) if net.audio_rate and info.has_audio else None
    bar = Progress(info.frames, "saliency") if progress else None
    frames, shape = 0, (0, 0)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(work_dir())
        npz_tmp = stack.enter_context(atomic_output(npz, overwrite=force, inputs=(src,)))
        sink = encoder = None
        if overlay is not None:
            overlay_tmp = stack.enter_context(
                atomic_output(Path(overlay), overwrite=force, inputs=(src,))
            )
            encoder = Encoder(
                info.width,
                info.height,
                info.fps,
                RateControl(mode=RateMode.CRF, crf=23),
                X264Options(preset="veryfast"),
                time_base=info.time_base,
            )
            stack.callback(encoder.close)
            sink = MediaSink(
                overlay_tmp,
                info.width,
                info.height,
                info.time_base,
                info.fps,
                encoder.headers(),
                name=Path(overlay),
                rotation=info.rotation,
            )
            closing = sink

            def close_sink(*exc: object) -> None:
                if exc[0] is None:
                    closing.close()  # only a complete overlay needs its trailer
                else:
                    with contextlib.suppress(PerceptcodecError):
                        closing.close()

            stack.push(close_sink)
        raw, raw_sources = tmp / "maps.f16", tmp / "sources.f16"
        with open(raw, "wb") as store, open(raw_sources, "wb") as store_sources:
            frames_in = decode_video(src, keep_going=keep_going)
            model = recorder or net
            maps = upright_saliency_maps(frames_in, model, info, audio, saliency.stride)
            for frame, t, sal in maps:
                if frames == 0:
                    shape = sal.shape
                elif sal.shape != shape:
                    raise RuntimeError(f"model changed its map shape {shape} -> {sal.shape}")
                try:
                    store.write(np.asarray(sal / sal.sum(), np.float16).tobytes())
                    if recorder is not None:
                        found = recorder.at(t)
                        sound = np.rot90(found.sound_map, -turns) if turns else found.sound_map
                        if sound.shape != shape:
                            sound = cv2.resize(sound, shape[::-1], interpolation=cv2.INTER_LINEAR)
                        store_sources.write(np.asarray(sound, np.float16).tobytes())
                        faces["frame"].append(np.full(len(found.ids), frames, np.int32))
                        faces["id"].append(found.ids)
                        faces["box"].append(found.boxes * box_scale)
                        faces["speaking"].append(found.speaking)
                except OSError as exc:
                    raise disk_error(exc, tmp) from exc
                if encoder is not None and sink is not None:
                    rgb = heat_overlay(frame.to_ndarray(format="rgb24"), sal)
                    for packet in encoder.encode(rgb, pts=frame.pts):
                        sink.write_video(packet)
                frames += 1
                if bar:
                    bar.update(frames)
        if encoder is not None and sink is not None:
            for packet in encoder.flush():
                sink.write_video(packet)
            encoder.close()
        fingerprint.check(src)
        raws = {"saliency": (raw, (frames, *shape))}
        arrays: dict[str, np.ndarray] = {
            "fps": np.float64(info.fps),
            "size": np.array((info.width, info.height), np.int32),
        }
        if recorder is not None:
            raws["sources"] = (raw_sources, (frames, *shape))
            arrays["face_frame"] = np.concatenate([np.zeros(0, np.int32), *faces["frame"]])
            arrays["face_id"] = np.concatenate([np.zeros(0, np.int32), *faces["id"]])
            arrays["face_box"] = np.concatenate([np.zeros((0, 4), np.float32), *faces["box"]])
            arrays["face_speaking"] = np.concatenate([np.zeros(0, np.float32), *faces["speaking"]])
        try:
            _write_npz(npz_tmp, raws, arrays)
        except OSError as exc:
            raise disk_error(exc, npz) from exc
    if bar:
        bar.close(frames)
    return MapsSummary(
        str(npz), str(overlay) if overlay else None, getattr(net, "name", "custom"), frames, shape
    )
