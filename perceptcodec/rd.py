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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.encoder.x264 import RateControl, X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.source import decode_video
from perceptcodec.metrics import ewpsnr, psnr, ssim
from perceptcodec.pipeline import encode
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency import NONE, model_entry
from perceptcodec.saliency.options import option_keys
from perceptcodec.units import PAPER_BITRATES_KBPS
from perceptcodec.versions import tool_versions

STRIDE_KEY = "k"  # the saliency stride in configuration strings and labels


@dataclass(frozen=True)
class RdSettings:
    """What an RD run holds fixed across its configurations: x264 preset and 1 or 2 passes."""

    preset: str = "medium"
    two_pass: bool = True


@dataclass(frozen=True)
class RdConfig:
    """One configuration of an RD run: which saliency (``none`` = plain x264, the anchor) with
    which ROI settings. Written ``none`` or ``MODEL[:STRENGTH[:MAX_DELTA_QP]][:KEY=VALUE]...``
    where KEY is ``k`` (saliency stride) or a short key of the model's options (``fs`` face
    stride, ``w`` working width: :func:`perceptcodec.saliency.options.option_keys`)."""

    saliency: SaliencySpec = field(default_factory=lambda: SaliencySpec(NONE))
    roi: RoiSettings = field(default_factory=RoiSettings)

    @property
    def label(self) -> str:
        """``none`` or ``prior-s0.7-q8`` plus ``-k4``, ``-fs30``, ... for settings given."""
        spec = self.saliency
        if spec.model == NONE:
            return NONE
        label = f"{spec.name}-s{self.roi.strength:g}-q{self.roi.max_delta_qp:g}"
        if spec.stride != 1:
            label += f"-{STRIDE_KEY}{spec.stride}"
        if spec.options is not None:
            for key, name in option_keys(type(spec.options)).items():
                value = getattr(spec.options, name)
                if value != getattr(type(spec.options)(), name):
                    label += f"-{key}{value}"
        return label

    def settings(self) -> dict[str, object]:
        """Every setting of this configuration, JSON-ready (model options included)."""
        spec = self.saliency
        options = asdict(spec.options) if spec.options is not None else {}
        return {"saliency": spec.name, "runtime": spec.runtime.value, "stride": spec.stride,
                "options": options, **asdict(self.roi)}  # fmt: skip

    def encode_config(self, kbps: int, settings: RdSettings) -> EncodeConfig:
        """This configuration at ``kbps`` kbit/s with the run's fixed settings."""
        return EncodeConfig(
            rate=RateControl(bitrate_kbps=kbps, two_pass=settings.two_pass),
            x264=X264Options(preset=settings.preset),
            roi=self.roi,
            saliency=self.saliency,
        )

    @classmethod
    def parse(cls, text: str) -> RdConfig:
        """``none``, ``prior``, ``prior:0.5``, ``prior:0.5:6``, ``prior:0.7:k=2:fs=30:w=160``."""
        usage = "none or MODEL[:STRENGTH[:MAX_DELTA_QP]][:KEY=VALUE]..."
        name, *parts = text.split(":")
        if name == NONE:
            if parts:
                raise PerceptcodecError(f"bad configuration {text!r}: none takes no settings")
            return cls()
        if not name:
            raise PerceptcodecError(f"bad configuration {text!r}: {usage}")
        options_type = model_entry(name).options
        numbers = [p for p in parts if "=" not in p]
        keyed = dict(p.split("=", 1) for p in parts if "=" in p)
        keys = option_keys(options_type)
        unknown = set(keyed) - set(keys) - {STRIDE_KEY}
        if len(numbers) > 2 or unknown:
            bad = f"unknown key {sorted(unknown)[0]!r}" if unknown else usage
            raise PerceptcodecError(f"bad configuration {text!r}: {bad}")
        try:
            roi = RoiSettings(*(float(n) for n in numbers))
            stride = int(keyed.pop(STRIDE_KEY, 1))
            given = {keys[k]: int(v) for k, v in keyed.items()}
        except ValueError as exc:
            raise PerceptcodecError(f"bad configuration {text!r}: numbers expected") from exc
        options = options_type(**given) if given else None
        return cls(SaliencySpec(name, options, stride=stride), roi)


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
    video: GazeVideo, config: RdConfig, kbps: int, settings: RdSettings
) -> dict[str, float]:
    """Encode ``video`` with ``config`` at ``kbps`` and score it."""
    with tempfile.TemporaryDirectory(prefix="perceptcodec-rd-") as tmp:
        out = Path(tmp) / "out.mp4"
        t0 = time.monotonic()
        summary = encode(video.video, out, config.encode_config(kbps, settings), progress=False)
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
    settings: RdSettings = RdSettings(),
    log: Callable[[str], None] = print,
) -> Path:
    """All missing points of one video x configuration; the JSON is rewritten after each."""
    path = result_path(out_dir, video.name, config)
    described = {**asdict(settings), **config.settings(), "label": config.label}
    result = {"video": video.name, "source": str(video.video), "config": described,
              "versions": tool_versions(), "points": []}  # fmt: skip
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("config") == described:
            result["points"] = old["points"]
    done = {p["target_kbps"] for p in result["points"]}
    for kbps in bitrates:
        if kbps in done:
            continue
        point = rd_point(video, config, kbps, settings)
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
    settings: RdSettings = RdSettings(),
) -> list[Path]:
    """Every video x configuration, ``jobs`` of them at once (processes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(v, c) for v in videos for c in configs]
    if jobs <= 1:
        return [run_video_config(v, c, bitrates, out_dir, settings) for v, c in tasks]
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_video_config, v, c, bitrates, out_dir, settings)
                   for v, c in tasks]  # fmt: skip
        return [f.result() for f in futures]


def write_bd_table(out_dir: Path) -> str:
    """BD table of every result in ``out_dir`` (bd.json, bd.md); returns the Markdown."""
    rows = bd_table(load_results(sorted(out_dir.glob("*__*.json"))))
    (out_dir / "bd.json").write_text(json.dumps(rows, indent=1))
    markdown = bd_markdown(rows)
    (out_dir / "bd.md").write_text(markdown)
    return markdown


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
