"""Frame grabs for the report: one frame of a video, its saliency map, the QP offsets applied
to it, and plain vs perceptual crops of the region people watched most, at one bitrate.

The two encodes are made again here with the settings recorded in the RD results (the same
preset, passes, configuration), so the crops show what the RD point measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perceptcodec.config import SaliencySpec
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.runner import RdConfig, RdSettings, described_settings
from perceptcodec.evaluation.scoring import GazeVideo, coded_luma
from perceptcodec.io.sink import work_dir
from perceptcodec.io.source import decode_video, probe
from perceptcodec.metrics import db_from_mse, mse
from perceptcodec.pipeline import encode, upright_saliency_maps
from perceptcodec.qpmap import read_qpmap_npz
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency import NONE, Runtime, model_entry


@dataclass(frozen=True)
class FrameGrabs:
    """One frame's pictures. source: H x W x 3 RGB; saliency: the model's map (its working
    size, sums to 1); dqp: QP offsets per 16x16 block (QP units, negative = more bits);
    gaze: the viewers' density of that frame (or None); crop: (x0, y0, x1, y1) pixels; crops:
    name -> RGB crop (source, plain, perceptual); crop_psnr: name -> PSNR-Y (dB) of the crop;
    rates: name -> (video kbit/s of the encode made here, of the RD point it repeats)."""

    video: str
    frame: int
    kbps: int
    label: str
    source: np.ndarray
    saliency: np.ndarray
    dqp: np.ndarray
    gaze: np.ndarray | None
    crop: tuple[int, int, int, int]
    crops: dict[str, np.ndarray]
    crop_psnr: dict[str, float]
    rates: dict[str, tuple[float, float]]  # name -> (kbit/s of this encode, of the RD point)


def config_of(result: dict, video: GazeVideo) -> tuple[RdConfig, RdSettings]:
    """The configuration and run settings a result was made with (checked: they must describe
    the same settings, so the grabs show what the RD point measured)."""
    c = result["config"]
    settings = RdSettings(preset=c["preset"], two_pass=c["two_pass"])
    codec = c.get("codec", "h264")
    if c["saliency"] == NONE:
        config = RdConfig(codec=codec)
    else:
        options = model_entry(c["saliency"]).options(**c.get("options", {}))
        spec = SaliencySpec(c["saliency"], options, Runtime.parse(c["runtime"]), c["stride"])
        roi = RoiSettings(c["strength"], c["max_delta_qp"], c["smoothing"])
        config = RdConfig(spec, roi, codec)
    now = described_settings(video, config, settings)
    if now != c:
        key = sorted(k for k in {*now, *c} if now.get(k) != c.get(k))[0]
        raise PerceptcodecError(
            f"{result['video']} {c['label']}: {key} is {c.get(key)!r} in the results but "
            f"{now.get(key)!r} here (another data set spec or another version of perceptcodec)"
        )
    return config, settings


def gaze_frame(video: GazeVideo, frames: int) -> int:
    """The frame nearest the middle that has gaze."""
    middle = frames // 2
    for offset in range(frames):
        for index in (middle - offset, middle + offset):
            if 0 <= index < frames and video.weights(index) is not None:
                return index
    raise PerceptcodecError(f"{video.name}: no frame with gaze")


def _frame(path: Path, index: int):
    for i, frame in enumerate(decode_video(path)):
        if i == index:
            return frame
    raise PerceptcodecError(f"{path}: has no frame {index}")


def _crop_box(density: np.ndarray | None, width: int, height: int) -> tuple[int, int, int, int]:
    """A box of a third of the frame (at least 64 px) centred on the density's peak."""
    cw, ch = max(64, width // 3), max(64, height // 3)
    cw, ch = min(cw, width), min(ch, height)
    if density is None:
        cy, cx = height // 2, width // 2
    else:
        d = np.asarray(density, float)
        y, x = np.unravel_index(int(np.argmax(d)), d.shape)
        cy, cx = int(y * height / d.shape[0]), int(x * width / d.shape[1])
    x0 = min(max(cx - cw // 2, 0), width - cw)
    y0 = min(max(cy - ch // 2, 0), height - ch)
    return x0, y0, x0 + cw, y0 + ch


def _saliency_at(config: RdConfig, src: Path, index: int) -> np.ndarray:
    from perceptcodec.io.audio import load_audio_mono

    info = probe(src)
    model = config.saliency.build()
    audio = load_audio_mono(src, model.audio_rate) if model.audio_rate and info.has_audio else None
    maps = upright_saliency_maps(decode_video(src), model, info, audio, config.saliency.stride)
    for i, (_frame, _t, sal) in enumerate(maps):
        if i == index:
            return np.asarray(sal, np.float32)
    raise PerceptcodecError(f"{src}: has no frame {index}")


def make_grabs(
    video: GazeVideo, anchor: dict, test: dict, kbps: int, frame: int | None = None
) -> FrameGrabs:
    """Grabs of ``video`` at ``kbps`` kbit/s: ``anchor`` (plain, ``none``) and ``test`` (a
    model) are RD results of the same run, whose settings the two encodes reuse."""
    plain_cfg, settings = config_of(anchor, video)
    test_cfg, test_settings = config_of(test, video)
    if test_cfg.saliency.model == NONE or settings != test_settings:
        raise PerceptcodecError("frame grabs compare a model with plain x264 of the same run")
    info = probe(video.video)
    index = gaze_frame(video, info.frames) if frame is None else frame
    with work_dir() as tmp:
        plain = encode(video.video, tmp / "plain.mp4", plain_cfg.encode_config(kbps, settings),
                       progress=False)  # fmt: skip
        made = encode(video.video, tmp / "test.mp4", test_cfg.encode_config(kbps, settings),
                      progress=False, dump_qp=tmp / "qp.npz")  # fmt: skip
        dqp = read_qpmap_npz(tmp / "qp.npz")[0][index]
        decoded = {name: _frame(tmp / f"{name}.mp4", index) for name in ("plain", "test")}
    src_frame = _frame(video.video, index)
    density = video.weights(index)
    box = _crop_box(density, info.width, info.height)
    x0, y0, x1, y1 = box
    pictures = {"source": src_frame, "plain": decoded["plain"], "perceptual": decoded["test"]}
    ref_y = coded_luma(src_frame)[y0:y1, x0:x1]
    crops, psnr = {}, {}
    for name, f in pictures.items():
        crops[name] = f.to_ndarray(format="rgb24")[y0:y1, x0:x1]
        if name != "source":
            psnr[name] = db_from_mse(mse(ref_y, coded_luma(f)[y0:y1, x0:x1]))
    return FrameGrabs(
        video=video.name,
        frame=index,
        kbps=kbps,
        label=test["config"]["label"],
        source=src_frame.to_ndarray(format="rgb24"),
        saliency=_saliency_at(test_cfg, video.video, index),
        dqp=np.asarray(dqp, np.float32),
        gaze=density,
        crop=box,
        crops=crops,
        crop_psnr=psnr,
        rates={
            "plain": (plain.video_kbps, _recorded(anchor, kbps)),
            "perceptual": (made.video_kbps, _recorded(test, kbps)),
        },
    )


def _recorded(result: dict, kbps: int) -> float:
    """The RD point's video kbit/s at target ``kbps`` (NaN when the result lacks it)."""
    points = [p["actual_kbps"] for p in result["points"] if p["target_kbps"] == kbps]
    return float(points[0]) if points else float("nan")


def grabs_figure(g: FrameGrabs) -> bytes:
    """Source with the crop box, saliency heat map and QP offsets (each with a colour bar),
    then the source / plain / perceptual crops with their PSNR-Y."""
    from matplotlib.patches import Rectangle

    from perceptcodec.evaluation.figures import png, pyplot

    plt = pyplot()
    fig = plt.figure(figsize=(15, 7.4))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1])
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(g.source)
    x0, y0, x1, y1 = g.crop
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=2))
    ax.set_title(f"source, frame {g.frame} (box: most-watched region)", fontsize=10)
    ax.axis("off")
    h, w = g.source.shape[:2]
    ax = fig.add_subplot(grid[0, 1])
    im = ax.imshow(g.saliency / max(float(g.saliency.max()), 1e-12), cmap="inferno",
                   extent=(0, w, h, 0), vmin=0, vmax=1)  # fmt: skip
    ax.set_title(f"saliency ({g.label.split('-')[0]}), relative to its peak", fontsize=10)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="saliency / max")
    ax = fig.add_subplot(grid[0, 2])
    limit = max(float(np.abs(g.dqp).max()), 1e-6)
    im = ax.imshow(g.dqp, cmap="RdBu", vmin=-limit, vmax=limit, extent=(0, w, h, 0),
                   interpolation="nearest")  # fmt: skip
    ax.set_title("QP offsets applied (16x16 blocks)", fontsize=10)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="delta QP (red, negative: more bits)")
    for col, name in enumerate(("source", "plain", "perceptual")):
        ax = fig.add_subplot(grid[1, col])
        ax.imshow(g.crops[name], interpolation="nearest")
        what = {"source": "source", "plain": "plain x264", "perceptual": g.label}[name]
        extra = ""
        if name in g.crop_psnr:
            now, then = g.rates[name]
            extra = (f"\ncrop PSNR-Y {g.crop_psnr[name]:.2f} dB; {now:.1f} kbit/s "
                     f"(RD point: {then:.1f})")  # fmt: skip
        ax.set_title(f"{what} crop at {g.kbps} kbit/s{extra}" if name != "source"
                     else "source crop", fontsize=10)  # fmt: skip
        ax.axis("off")
    fig.suptitle(f"{g.video}: frame grabs at {g.kbps} kbit/s")
    fig.tight_layout()
    return png(fig)
