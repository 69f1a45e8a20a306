"""RD points as Ray tasks (``perceptcodec rd --engine ray``).

Each point is one task with ``max_retries`` (Ray re-runs it when its worker process or node
dies; an error raised by the point itself is not retried but reported). Workers reach a video
by its path (the same path on every node: a shared file system) or, with
:attr:`Shipping.OBJECT_STORE`, through Ray's object store: the driver puts the file's bytes
(and a map-based data set's gaze maps) there once per video, and each task writes them to a
private temporary folder that is removed when the point is done. Results come back to the
driver, which alone writes ``--out`` (:mod:`perceptcodec.evaluation.engine`).
"""

from __future__ import annotations

import copy
import os
import socket
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from pathlib import Path

from perceptcodec.datasets import MapVideoGaze
from perceptcodec.distributed import EngineOptions, ray_error_text, ray_session
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.engine import Outcome, PointFn, PointTask, Shipping
from perceptcodec.evaluation.runner import RdConfig, RdSettings
from perceptcodec.evaluation.scoring import GazeVideo
from perceptcodec.io.sink import work_dir

MAX_SHIP_BYTES = 256 * 2**20  # larger videos go through a shared path


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PerceptcodecError(f"{path}: cannot read ({exc.strerror})") from None


def ship(video: GazeVideo) -> dict[str, object]:
    """What a worker needs to rebuild ``video`` without the driver's files: the video's bytes
    and (for a map-based data set) each gaze map's name and bytes."""
    size = Path(video.video).stat().st_size if Path(video.video).exists() else 0
    if size > MAX_SHIP_BYTES:
        raise PerceptcodecError(
            f"{video.video}: {size / 2**20:.0f} MB is too large for --ship object-store "
            f"(at most {MAX_SHIP_BYTES // 2**20} MB); put the videos on a path every node mounts"
        )
    bundle: dict[str, object] = {"name": Path(video.video).name, "video": _read(video.video)}
    if isinstance(video, MapVideoGaze):
        bundle["maps"] = [(p.name, _read(p)) for p in video.maps]
    return bundle


def _unpacked(video: GazeVideo, bundle: dict[str, object], folder: Path) -> GazeVideo:
    """A copy of ``video`` whose files are the bundle's, written under ``folder``."""
    local = copy.copy(video)
    target = folder / str(bundle["name"])
    target.write_bytes(bundle["video"])  # type: ignore[arg-type]
    local.video = target
    if isinstance(local, MapVideoGaze):
        maps = folder / "maps"
        maps.mkdir()
        local.maps = []
        for name, data in bundle.get("maps", []):  # type: ignore[union-attr]
            (maps / name).write_bytes(data)
            local.maps.append(maps / name)
        local.fixation_maps = []  # not needed for the EWPSNR weights
    return local


def run_point(
    point_fn: PointFn,
    video: GazeVideo,
    config: RdConfig,
    kbps: int,
    settings: RdSettings,
    bundle: dict[str, object] | None,
) -> dict:
    """The body of one Ray task: the point, computed on whatever node runs it."""
    if bundle is None:
        if not Path(video.video).is_file():
            raise PerceptcodecError(
                f"{video.video}: not found on worker {socket.gethostname()} (pid {os.getpid()}); "
                "put the videos on a path every node mounts, or use --ship object-store"
            )
        return point_fn(video, config, kbps, settings)
    with work_dir() as tmp:  # pid-named: a killed worker's copy is removed by a later run
        return point_fn(_unpacked(video, bundle, tmp), config, kbps, settings)


def ray_points(
    tasks: Sequence[PointTask],
    engine: EngineOptions,
    shipping: Shipping,
    point_fn: PointFn,
) -> Iterator[Outcome]:
    """Every task as a Ray task, yielded as they finish (any order).

    Tasks are submitted in a window of twice the cluster's CPUs, video after video; each
    video's gaze (and, shipped, its bytes) goes into the object store once, when its first
    point is submitted, and is released after its last one."""
    if not tasks:
        return
    with ray_session(engine) as ray:
        remote = ray.remote(run_point).options(
            max_retries=engine.max_retries,
            retry_exceptions=False,
            num_cpus=engine.cpus_per_task,
        )
        window = max(2, int(2 * ray.cluster_resources().get("CPU", 1)))
        left = Counter(str(t.video.video) for t in tasks)
        refs: dict[str, tuple[object, object]] = {}  # video -> (gaze ref, bundle ref or None)
        queue = deque(tasks)
        pending: dict[object, PointTask] = {}
        while queue or pending:
            while queue and len(pending) < window:
                t = queue.popleft()
                key = str(t.video.video)
                if key not in refs:
                    bundle = ship(t.video) if shipping is Shipping.OBJECT_STORE else None
                    refs[key] = (ray.put(t.video), None if bundle is None else ray.put(bundle))
                gaze, bundle_ref = refs[key]
                ref = remote.remote(point_fn, gaze, t.config, t.kbps, t.settings, bundle_ref)
                pending[ref] = t
            ready, _ = ray.wait(list(pending), num_returns=1)
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in ready:
                task = pending.pop(ref)
                key = str(task.video.video)
                left[key] -= 1
                if not left[key]:
                    refs.pop(key, None)
                try:
                    yield task, ray.get(ref), None
                except Exception as exc:  # the task's error, or a worker lost too often
                    yield task, None, ray_error_text(exc)
