"""RD runs point by point on an engine: this process, local processes, or Ray tasks.

Each (video, configuration, bitrate) point is one task. Tasks only compute (encode, decode,
score: :func:`perceptcodec.evaluation.runner.rd_point`) and return the point; this process,
the driver, is the only one that writes ``--out``: it merges each point into its result file
(``<video>__<label>__<key>.json``, points sorted by bitrate, written atomically) as it comes
back. So every engine writes the same JSON, and a run resumes from what any engine left:
points already in ``--out`` are not planned again.

A point that fails (bad input, a worker lost more often than Ray retries it) is reported and
the others go on; :class:`RdRunReport` lists the failures.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from perceptcodec.distributed import EngineKind, EngineOptions, Shipping, error_text, import_ray
from perceptcodec.encoder.codec import Codec
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.runner import (
    RESULT_FORMAT,
    RdConfig,
    RdSettings,
    described_settings,
    rd_point,
    result_path,
    settings_key,
)
from perceptcodec.evaluation.scoring import GazeVideo
from perceptcodec.io.sink import remove_stale

PointFn = Callable[[GazeVideo, RdConfig, int, RdSettings], dict]


@dataclass(frozen=True)
class PointTask:
    """One RD point to compute, and the result file it belongs to."""

    video: GazeVideo
    config: RdConfig
    kbps: int
    settings: RdSettings
    path: Path

    def name(self) -> str:
        codec = "" if self.config.codec is Codec.H264 else f" ({self.config.codec.value})"
        return f"{self.video.name} {self.config.label}{codec} {self.kbps}k"


@dataclass
class RdRunReport:
    """What a run did: points computed, points already in ``--out`` (skipped), failures as
    (point, one-line reason), the result files, and the wall time (s)."""

    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    wall_s: float = 0.0

    def text(self) -> str:
        total = self.done + self.skipped + len(self.failed)
        return (
            f"{total} points: {self.done} computed, {self.skipped} already in the results, "
            f"{len(self.failed)} failed ({self.wall_s:.1f} s)"
        )


class ResultFile:
    """One video x configuration x settings result file, written by the driver only."""

    def __init__(self, path: Path, video: GazeVideo, described: dict[str, object]) -> None:
        self.path = path
        key = settings_key(described)
        self.data: dict[str, object] = {
            "format": RESULT_FORMAT,
            "video": video.name,
            "source": str(video.video),
            "key": key,
            "config": described,
            "points": [],
        }
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise PerceptcodecError(f"{path}: unreadable results ({exc})") from None
            if old.get("config") != described:
                raise PerceptcodecError(f"{path}: holds other settings under the same key {key}")
            self.data["points"] = old["points"]

    def done(self) -> set[int]:
        """Target bitrates (kbit/s) already in the file."""
        return {p["target_kbps"] for p in self.data["points"]}  # type: ignore[union-attr]

    def add(self, point: dict) -> None:
        """Merge a point (replacing one at the same bitrate) and rewrite the file atomically."""
        kept = [p for p in self.data["points"] if p["target_kbps"] != point["target_kbps"]]  # type: ignore[union-attr]
        self.data["points"] = sorted([*kept, point], key=lambda p: p["target_kbps"])
        write_json_atomic(self.path, self.data)


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to a hidden temporary file beside ``path`` (named with our pid, so a killed
    run's leftover is removed later), then rename it onto ``path``."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.pcx{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plan(
    videos: Sequence[GazeVideo],
    configs: Sequence[RdConfig],
    bitrates: Sequence[int],
    out_dir: Path,
    settings: RdSettings,
) -> tuple[list[PointTask], dict[Path, ResultFile], int]:
    """The points missing from ``out_dir``, their result files, and how many are there."""
    files: dict[Path, ResultFile] = {}
    tasks: list[PointTask] = []
    skipped = 0
    for video in videos:
        for config in configs:
            described = described_settings(video, config, settings)
            path = result_path(out_dir, video.name, described)
            if path not in files:
                files[path] = ResultFile(path, video, described)
            done = files[path].done()
            for kbps in dict.fromkeys(bitrates):
                if kbps in done:
                    skipped += 1
                else:
                    tasks.append(PointTask(video, config, kbps, settings, path))
    return tasks, files, skipped


Outcome = tuple[PointTask, dict | None, str | None]


def local_points(tasks: Sequence[PointTask], jobs: int, point_fn: PointFn) -> Iterator[Outcome]:
    """Points in this process (``jobs`` 1) or in ``jobs`` local processes, as they finish.
    No retries: a dead process fails the points it held (run again to redo them)."""
    if jobs <= 1:
        for t in tasks:
            try:
                yield t, point_fn(t.video, t.config, t.kbps, t.settings), None
            except Exception as exc:  # reported; the other points go on
                yield t, None, error_text(exc)
        return
    pool = concurrent.futures.ProcessPoolExecutor(jobs)
    try:
        futures = {pool.submit(point_fn, t.video, t.config, t.kbps, t.settings): t for t in tasks}
        for future in concurrent.futures.as_completed(futures):
            task = futures[future]
            try:
                yield task, future.result(), None
            except BrokenProcessPool:
                yield task, None, "a local worker process died"
            except Exception as exc:
                yield task, None, error_text(exc)
    finally:  # interrupted: points not started are dropped, not run to the end
        pool.shutdown(wait=True, cancel_futures=True)


def run_points(
    videos: Sequence[GazeVideo],
    configs: Sequence[RdConfig],
    bitrates: Sequence[int],
    out_dir: Path,
    settings: RdSettings | None = None,
    engine: EngineOptions | None = None,
    shipping: Shipping = Shipping.PATH,
    point_fn: PointFn = rd_point,
    log: Callable[[str], None] = print,
) -> RdRunReport:
    """Every missing point of videos x configs x bitrates, on ``engine``; results merged into
    ``out_dir`` as they arrive. ``point_fn`` computes one point (:func:`rd_point`; tests pass
    a wrapper). ``settings`` and ``engine`` default to their classes' defaults."""
    t0 = time.monotonic()
    settings = settings or RdSettings()
    engine = engine or EngineOptions()
    if engine.kind is EngineKind.RAY:
        import_ray()  # a missing extra is an error before anything is written
    elif shipping is not Shipping.PATH:
        raise PerceptcodecError("--ship applies to --engine ray only")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PerceptcodecError(
            f"{out_dir}: cannot create the results folder ({exc.strerror})"
        ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PerceptcodecError(f"{out_dir}: results folder is not writable")
    remove_stale(out_dir)
    tasks, files, skipped = plan(videos, configs, bitrates, out_dir, settings)
    report = RdRunReport(skipped=skipped, paths=list(files))
    log(f"rd: {len(tasks)} points to compute, {skipped} already in {out_dir} ({engine.describe()})")
    if engine.kind is EngineKind.RAY:
        from perceptcodec.evaluation.ray_engine import ray_points

        outcomes = ray_points(tasks, engine, shipping, point_fn)
    else:
        outcomes = local_points(tasks, engine.local_jobs, point_fn)
    for n, (task, point, error) in enumerate(outcomes, start=1):
        prefix = f"[{n}/{len(tasks)}] {task.name()}"
        if point is None:
            report.failed.append((task.name(), error or "failed"))
            log(f"{prefix}: FAILED: {error}")
            continue
        files[task.path].add(point)
        report.done += 1
        log(
            f"{prefix}: {point['actual_kbps']:.1f} kbit/s PSNR {point['psnr_y']:.2f} "
            f"EWPSNR {point['ewpsnr_y']:.2f} dB ({point['encode_s']:.0f} s)"
        )
    report.paths = [p for p in files if p.exists()]
    report.wall_s = time.monotonic() - t0
    return report
