"""The RD runner: encode each video with each configuration at each bitrate, decode, score
(:mod:`perceptcodec.evaluation.scoring`) and keep the numbers.

One JSON file per video x configuration x settings: ``<video>__<label>__<key>.json`` where
``key`` is a short hash of every setting that changes the numbers (x264 preset, passes, the
model and its options, runtime, saliency stride, ROI settings, the gaze density's sigma and the
scoring definition). Changing any of them writes a new file beside the old one instead of
dropping its points. Each point records the tool versions and code commit that made it; points
already in a file are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.encoder.codec import Codec
from perceptcodec.encoder.x264 import RateControl, X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.scoring import LUMA, GazeVideo, score_video
from perceptcodec.io.sink import work_dir
from perceptcodec.paths import REPO_ROOT, models_dir
from perceptcodec.pipeline import encode
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency import MODELS, NONE, model_entry
from perceptcodec.saliency.options import (
    PriorOptions,
    TrainedOptions,
    option_keys,
    option_value,
)
from perceptcodec.saliency.static import static_net_file
from perceptcodec.units import PAPER_BITRATES_KBPS
from perceptcodec.versions import tool_versions

STRIDE_KEY = "k"  # the saliency stride in configuration strings and labels
CODEC_KEY = "codec"  # h264 (default) or hevc, in configuration strings
RESULT_FORMAT = 2  # 1: keyed by label alone, luma through format="gray" (range-expanded)


@dataclass(frozen=True)
class RdSettings:
    """What an RD run holds fixed across its configurations: x264 preset, 1 or 2 passes and
    the x264 tune (None: none; ``none`` and every model get the same one)."""

    preset: str = "medium"
    two_pass: bool = True
    tune: str | None = None

    def described(self) -> dict[str, object]:
        """JSON-ready; ``tune`` only when set, so results of runs without one keep their keys."""
        described = asdict(self)
        if self.tune is None:
            del described["tune"]
        return described


@dataclass(frozen=True)
class RdConfig:
    """One configuration of an RD run: which saliency (``none`` = plain x264/x265, the anchor)
    with which ROI settings, on which codec. Written ``none`` or
    ``MODEL[:STRENGTH[:MAX_DELTA_QP]][:KEY=VALUE]...`` where KEY is ``k`` (saliency stride),
    ``codec`` (``h264``, the default, or ``hevc``; also ``none:codec=hevc``) or a short key of
    the model's options (``fs`` face stride, ``w`` working width:
    :func:`perceptcodec.saliency.options.option_keys`). The codec is not in the label: HEVC
    results form their own run in the BD table (:func:`perceptcodec.evaluation.report.run_of`),
    each configuration measured against the ``none`` of its own codec."""

    saliency: SaliencySpec = field(default_factory=lambda: SaliencySpec(NONE))
    roi: RoiSettings = field(default_factory=RoiSettings)
    codec: Codec = Codec.H264

    def __post_init__(self) -> None:
        object.__setattr__(self, "codec", Codec.parse(self.codec))

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
        """Every setting of this configuration, JSON-ready. Model options are spelled out in
        full (defaults included), so ``prior`` and ``prior:fs=10`` describe the same encode;
        plain x264 has no saliency settings. ``codec`` appears only for HEVC (H.264 results
        keep the keys they had before HEVC existed)."""
        spec = self.saliency
        codec = {} if self.codec is Codec.H264 else {CODEC_KEY: self.codec.value}
        if spec.model == NONE:
            return {"saliency": NONE, **codec}
        options = spec.options
        if options is None and isinstance(spec.model, str):
            options = model_entry(spec.model).options()
        described = {
            "saliency": spec.name,
            "runtime": spec.runtime.value,
            "stride": spec.stride,
            "options": asdict(options) if options is not None else {},
            **asdict(self.roi),
            **codec,
        }
        entry = MODELS.get(spec.model) if isinstance(spec.model, str) else None
        if entry is not None and entry.revision:  # its code changed the maps: another encode
            described["revision"] = entry.revision
        if isinstance(options, TrainedOptions):  # retrained weights are another encode
            described["weights_sha256"] = weights_digest(spec.name, options)
        if isinstance(options, PriorOptions) and options.uses_static_net:
            described["static_net_sha256"] = file_digest(static_net_file())
        return described

    def encode_config(self, kbps: int, settings: RdSettings) -> EncodeConfig:
        """This configuration at ``kbps`` kbit/s with the run's fixed settings."""
        return EncodeConfig(
            rate=RateControl(bitrate_kbps=kbps, two_pass=settings.two_pass),
            x264=X264Options(preset=settings.preset, tune=settings.tune),
            roi=self.roi,
            saliency=self.saliency,
            codec=self.codec,
        )

    @classmethod
    def parse(cls, text: str) -> RdConfig:
        """``none``, ``prior``, ``prior:0.5``, ``prior:0.5:6``, ``prior:0.7:k=2:fs=30:w=160``,
        ``none:codec=hevc``, ``prior:0.7:codec=hevc``."""
        usage = "none or MODEL[:STRENGTH[:MAX_DELTA_QP]][:KEY=VALUE]..."
        name, *parts = text.split(":")
        codecs = [p.split("=", 1)[1] for p in parts if p.startswith(f"{CODEC_KEY}=")]
        parts = [p for p in parts if not p.startswith(f"{CODEC_KEY}=")]
        if len(codecs) > 1:
            raise PerceptcodecError(f"bad configuration {text!r}: codec given twice")
        try:
            codec = Codec.parse(codecs[0]) if codecs else Codec.H264
        except PerceptcodecError as exc:
            raise PerceptcodecError(f"bad configuration {text!r}: {exc}") from None
        if name == NONE:
            if parts:
                raise PerceptcodecError(
                    f"bad configuration {text!r}: none takes no settings but codec"
                )
            return cls(codec=codec)
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
            stride = int(keyed.pop(STRIDE_KEY)) if STRIDE_KEY in keyed else None
            given = {keys[k]: option_value(options_type, keys[k], v) for k, v in keyed.items()}
        except ValueError as exc:
            raise PerceptcodecError(f"bad configuration {text!r}: numbers expected") from exc
        options = options_type(**given) if given else None
        return cls(SaliencySpec(name, options, stride=stride), roi, codec)


def weights_digest(name: str, options: TrainedOptions) -> str | None:
    """The first 16 hex digits of the SHA-256 of a trained model's weights (``options.weights``
    or the shipped ``perceptcodec/models/<name>/<name>.pt``); None when the file is absent."""
    path = Path(options.weights) if options.weights else models_dir() / name / f"{name}.pt"
    return file_digest(path)


def file_digest(path: Path) -> str | None:
    """The first 16 hex digits of the SHA-256 of a file; None when it is absent."""
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def described_settings(
    video: GazeVideo, config: RdConfig, settings: RdSettings
) -> dict[str, object]:
    """Every setting that changes one video x configuration's numbers, JSON-ready, with the
    configuration's label: the run's preset and passes, the configuration's settings, the
    gaze density's sigma (pixels; None for maps read from disk) and the scoring definition."""
    return {
        **settings.described(),
        **config.settings(),
        "gaze_sigma_px": getattr(video, "sigma_px", None),
        "luma": LUMA,
        "label": config.label,
    }


def settings_key(described: dict[str, object]) -> str:
    """10 hex digits of SHA-256 over the settings (label excluded), canonical JSON."""
    body = {k: v for k, v in described.items() if k != "label"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def result_path(out_dir: Path, video: str, described: dict[str, object]) -> Path:
    """``<out_dir>/<video>__<label>__<key>.json``."""
    return out_dir / f"{video}__{described['label']}__{settings_key(described)}.json"


def code_version() -> str:
    """The git commit of this code (``+dirty`` with uncommitted changes in perceptcodec/), or
    ``unknown`` outside a git checkout."""

    def git(*args: str) -> str:
        run = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True
        )
        return run.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--", "perceptcodec")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def rd_point(
    video: GazeVideo, config: RdConfig, kbps: int, settings: RdSettings
) -> dict[str, object]:
    """Encode ``video`` with ``config`` at ``kbps`` kbit/s and score it. Rates in kbit/s,
    times in seconds; ``saliency_used`` names the model and runtime that ran; ``versions`` the
    tools and code that made this point."""
    with work_dir() as tmp:  # named with the pid: a killed worker's folder is cleaned later
        out = tmp / "out.mp4"
        t0 = time.monotonic()
        summary = encode(video.video, out, config.encode_config(kbps, settings), progress=False)
        encode_s = time.monotonic() - t0
        scores = score_video(video.video, out, video.weights)
    made = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {
        "target_kbps": kbps,
        "actual_kbps": summary.video_kbps,
        "encode_s": encode_s,
        **scores,
        "saliency_used": summary.saliency,
        "versions": {**tool_versions(), "code": code_version(), "made": made},
    }


def run_video_config(
    video: GazeVideo,
    config: RdConfig,
    bitrates: Sequence[int],
    out_dir: Path,
    settings: RdSettings = RdSettings(),
    log: Callable[[str], None] = print,
) -> Path:
    """All missing points of one video x configuration x settings; the JSON is rewritten
    (atomically) after each point."""
    from perceptcodec.evaluation.engine import ResultFile  # the engines' own result file

    described = described_settings(video, config, settings)
    results = ResultFile(result_path(out_dir, video.name, described), video, described)
    for kbps in bitrates:
        if kbps in results.done():
            continue
        point = rd_point(video, config, kbps, settings)
        results.add(point)
        codec = "" if config.codec is Codec.H264 else f" ({config.codec.value})"
        log(
            f"{video.name} {config.label}{codec} {kbps}k: {point['actual_kbps']:.1f} kbit/s "
            f"PSNR {point['psnr_y']:.2f} EWPSNR {point['ewpsnr_y']:.2f} dB "
            f"({point['encode_s']:.0f} s)"
        )
    return results.path


def run_rd(
    videos: Sequence[GazeVideo],
    configs: Sequence[RdConfig],
    bitrates: Sequence[int] = PAPER_BITRATES_KBPS,
    out_dir: Path = Path("eval/results/rd"),
    jobs: int = 1,
    settings: RdSettings = RdSettings(),
) -> list[Path]:
    """Every missing point of videos x configurations x bitrates, ``jobs`` local processes at
    once (:func:`perceptcodec.evaluation.engine.run_points`; that function also runs them on
    Ray). Raises if any point failed, after the others are done."""
    from perceptcodec.distributed import EngineOptions
    from perceptcodec.evaluation.engine import run_points

    report = run_points(videos, configs, bitrates, out_dir, settings, EngineOptions(jobs=jobs))
    if report.failed:
        name, reason = report.failed[0]
        raise PerceptcodecError(f"{len(report.failed)} point(s) failed, first {name}: {reason}")
    return report.paths
