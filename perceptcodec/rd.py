"""Rate-distortion evaluation on real gaze: encode each video with each configuration at each
bitrate, decode, and score PSNR-Y, EWPSNR-Y (weights = that frame's human fixation density)
and SSIM-Y against the source, frame by frame.

One JSON file per video x configuration holds the settings, tool versions and per-bitrate
numbers; points already in it are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import concurrent.futures
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.source import decode_video
from perceptcodec.metrics import ewpsnr, psnr, ssim
from perceptcodec.pipeline import encode
from perceptcodec.units import PAPER_BITRATES_KBPS
from perceptcodec.versions import tool_versions

# RdConfig field <-> the short key used in --configs and labels.
_SHORTCUT_KEYS = {"saliency_stride": "k", "face_stride": "fs", "width": "w"}


@dataclass(frozen=True)
class RdConfig:
    """One encoder configuration: ``none`` (plain x264) or a saliency model with ROI settings
    and the speed shortcuts: ``saliency_stride`` (model on every k-th frame), ``face_stride``
    (frames between face detections) and ``width`` (working width in pixels); None = the
    model's default."""

    saliency: str = "none"
    strength: float = 0.7
    max_delta_qp: float = 8.0
    saliency_stride: int = 1
    face_stride: int | None = None
    width: int | None = None

    @property
    def label(self) -> str:
        if self.saliency == "none":
            return "none"
        label = f"{self.saliency}-s{self.strength:g}-q{self.max_delta_qp:g}"
        for field, key in _SHORTCUT_KEYS.items():
            value = getattr(self, field)
            if value is not None and (field != "saliency_stride" or value != 1):
                label += f"-{key}{value}"
        return label

    @property
    def model_options(self) -> dict[str, object]:
        options = {"face_stride": self.face_stride, "width": self.width}
        return {k: v for k, v in options.items() if v is not None}

    @property
    def encode_options(self) -> dict[str, object]:
        """This configuration as keyword arguments of :func:`perceptcodec.pipeline.encode`."""
        return {"saliency": self.saliency, "strength": self.strength,
                "max_delta_qp": self.max_delta_qp, "saliency_stride": self.saliency_stride,
                "model_options": self.model_options}  # fmt: skip

    @classmethod
    def parse(cls, text: str) -> RdConfig:
        """``none``, ``prior``, ``prior:0.5``, ``prior:0.5:6`` (model:strength:max_delta_qp),
        then optional ``k=N`` (saliency stride), ``fs=N`` (face stride), ``w=N`` (width):
        ``prior:0.7:8:k=2:fs=30``."""
        name, *parts = text.split(":")
        numbers = [p for p in parts if "=" not in p]
        keyed = dict(p.split("=", 1) for p in parts if "=" in p)
        fields = {key: field for field, key in _SHORTCUT_KEYS.items()}
        if (name == "none" and parts) or len(numbers) > 2 or not name or set(keyed) - set(fields):
            raise PerceptcodecError(
                f"bad configuration {text!r}: none or model[:strength[:qp]][:k=N][:fs=N][:w=N]"
            )
        try:
            values = [float(n) for n in numbers]
            shortcuts = {fields[k]: int(v) for k, v in keyed.items()}
        except ValueError as exc:
            raise PerceptcodecError(f"bad configuration {text!r}: numbers expected") from exc
        return cls(name, *values, **shortcuts)


class GazeVideo(Protocol):
    """A video with per-frame human gaze (see :mod:`perceptcodec.datasets`). ``weights(i)`` is
    frame i's fixation density (any resolution, covering the frame) or None when no viewer
    fixated during that frame."""

    name: str
    video: Path

    def weights(self, frame: int) -> np.ndarray | None: ...


def score_video(
    reference: Path, decoded: Path, weights: Callable[[int], np.ndarray | None]
) -> dict[str, float]:
    """Per-clip quality of ``decoded`` against ``reference`` on luma, frame by frame.

    psnr_y / ewpsnr_y / ssim_y: means of the per-frame values (dB, dB, 0..1); *_pooled: from
    the mean MSE / EWMSE over frames. EWPSNR covers only frames that have gaze."""
    per_psnr, per_ewpsnr, per_ssim, mse, ewmse = [], [], [], [], []
    pairs = zip(decode_video(reference), decode_video(decoded), strict=True)
    for index, (ref_frame, dec_frame) in enumerate(pairs):
        ref = ref_frame.to_ndarray(format="gray")
        dec = dec_frame.to_ndarray(format="gray")
        per_psnr.append(psnr(ref, dec))
        mse.append(float(np.mean((ref.astype(np.float64) - dec) ** 2)))
        per_ssim.append(ssim(ref, dec))
        w = weights(index)
        if w is not None:
            value = ewpsnr(ref, dec, w)
            per_ewpsnr.append(value)
            ewmse.append(255.0**2 / 10 ** (value / 10))

    def db(err: list[float]) -> float:
        m = float(np.mean(err)) if err else float("nan")
        return float("inf") if m == 0 else 10 * np.log10(255.0**2 / m)

    return {
        "psnr_y": float(np.mean(per_psnr)),
        "ewpsnr_y": float(np.mean(per_ewpsnr)) if per_ewpsnr else float("nan"),
        "ssim_y": float(np.mean(per_ssim)),
        "psnr_y_pooled": db(mse),
        "ewpsnr_y_pooled": db(ewmse),
        "frames": len(per_psnr),
        "gaze_frames": len(per_ewpsnr),
    }


def rd_point(
    video: GazeVideo, config: RdConfig, kbps: int, preset: str, two_pass: bool
) -> dict[str, float]:
    """Encode ``video`` with ``config`` at ``kbps`` and score it."""
    with tempfile.TemporaryDirectory(prefix="perceptcodec-rd-") as tmp:
        out = Path(tmp) / "out.mp4"
        t0 = time.monotonic()
        summary = encode(video.video, out, bitrate=kbps, two_pass=two_pass, preset=preset,
                         progress=False, **config.encode_options)  # fmt: skip
        encode_s = time.monotonic() - t0
        scores = score_video(video.video, out, video.weights)
    return {"target_kbps": kbps, "actual_kbps": summary.video_kbps, "encode_s": encode_s,
            **scores}  # fmt: skip


def result_path(out_dir: Path, video: str, config: RdConfig) -> Path:
    return out_dir / f"{video}__{config.label}.json"


def run_video_config(
    video: GazeVideo,
    config: RdConfig,
    bitrates: Sequence[int],
    out_dir: Path,
    preset: str = "medium",
    two_pass: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """All missing points of one video x configuration; the JSON is rewritten after each."""
    path = result_path(out_dir, video.name, config)
    settings = {"preset": preset, "two_pass": two_pass, **asdict(config), "label": config.label}
    result = {"video": video.name, "source": str(video.video), "config": settings,
              "versions": tool_versions(), "points": []}  # fmt: skip
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("config") == settings:
            result["points"] = old["points"]
    done = {p["target_kbps"] for p in result["points"]}
    for kbps in bitrates:
        if kbps in done:
            continue
        point = rd_point(video, config, kbps, preset, two_pass)
        result["points"] = sorted([*result["points"], point], key=lambda p: p["target_kbps"])
        path.write_text(json.dumps(result, indent=1))
        log(f"{video.name} {config.label} {kbps}k: {point['actual_kbps']:.1f} kbit/s "
            f"PSNR {point['psnr_y']:.2f} EWPSNR {point['ewpsnr_y']:.2f} dB "
            f"({point['encode_s']:.0f} s)")  # fmt: skip
    return path


def run_rd(
    videos: Sequence[GazeVideo],
    configs: Sequence[RdConfig],
    bitrates: Sequence[int] = PAPER_BITRATES_KBPS,
    out_dir: Path = Path("eval/results/rd"),
    jobs: int = 1,
    preset: str = "medium",
    two_pass: bool = True,
) -> list[Path]:
    """Every video x configuration, ``jobs`` of them at once (processes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(v, c) for v in videos for c in configs]
    if jobs <= 1:
        return [run_video_config(v, c, bitrates, out_dir, preset, two_pass) for v, c in tasks]
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_video_config, v, c, bitrates, out_dir, preset, two_pass)
                   for v, c in tasks]  # fmt: skip
        return [f.result() for f in futures]


def load_results(paths: Sequence[Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def mean_curve(results: Sequence[dict], label: str) -> dict[str, list[float]]:
    """Per-bitrate means over the videos of one configuration (bitrates all videos share)."""
    runs = [r for r in results if r["config"]["label"] == label]
    common = set.intersection(*({p["target_kbps"] for p in r["points"]} for r in runs))
    curve: dict[str, list[float]] = {"target_kbps": sorted(common)}
    for key in ("actual_kbps", "psnr_y", "ewpsnr_y", "ssim_y"):
        curve[key] = [
            float(np.mean([p[key] for r in runs for p in r["points"] if p["target_kbps"] == k]))
            for k in curve["target_kbps"]
        ]
    return curve


def bd_table(results: Sequence[dict], anchor: str = "none") -> list[dict[str, object]]:
    """BD numbers of every configuration against ``anchor`` per video and on the mean curve:
    BD-rate (%) at equal EWPSNR and at equal PSNR, BD-EWPSNR and BD-PSNR (dB)."""
    from perceptcodec.metrics import bd_quality, bd_rate

    rows = []
    videos = sorted({r["video"] for r in results}) + ["mean"]
    labels = sorted({r["config"]["label"] for r in results} - {anchor})
    for video in videos:
        for label in labels:
            if video == "mean":
                a, b = mean_curve(results, anchor), mean_curve(results, label)
            else:
                pick = {r["config"]["label"]: r for r in results if r["video"] == video}
                if anchor not in pick or label not in pick:
                    continue
                a, b = (
                    {k: [p[k] for p in pick[x]["points"]] for k in pick[x]["points"][0]}
                    for x in (anchor, label)
                )
            row: dict[str, object] = {"video": video, "config": label, "anchor": anchor}
            for metric in ("ewpsnr_y", "psnr_y"):
                short = metric.split("_")[0]
                try:
                    row[f"bd_rate_{short}_pct"] = bd_rate(
                        a["actual_kbps"], a[metric], b["actual_kbps"], b[metric]
                    )
                    row[f"bd_{short}_db"] = bd_quality(
                        a["actual_kbps"], a[metric], b["actual_kbps"], b[metric]
                    )
                except PerceptcodecError as exc:
                    row[f"bd_rate_{short}_pct"] = row[f"bd_{short}_db"] = None
                    row["note"] = str(exc)
            rows.append(row)
    return rows


def bd_markdown(rows: Sequence[dict[str, object]]) -> str:
    """The BD table as Markdown (negative BD-rate = fewer bits for the same quality)."""

    def fmt(v: object) -> str:
        return "n/a" if v is None else f"{v:+.2f}"

    lines = [
        "| video | config | BD-rate (EWPSNR) % | BD-EWPSNR dB | BD-rate (PSNR) % | BD-PSNR dB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['video']} | {r['config']} | {fmt(r['bd_rate_ewpsnr_pct'])} | "
            f"{fmt(r['bd_ewpsnr_db'])} | {fmt(r['bd_rate_psnr_pct'])} | {fmt(r['bd_psnr_db'])} |"
        )
    return "\n".join(lines) + "\n"
