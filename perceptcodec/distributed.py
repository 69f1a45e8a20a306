"""Where work runs: in local processes or on Ray (the optional ``[ray]`` extra).

Shared by ``perceptcodec rd`` (one Ray task per RD point,
:mod:`perceptcodec.evaluation.engine`) and batch ``encode`` (one task per file,
:mod:`perceptcodec.batch`). Without ``--address`` Ray starts on this machine
(``ray.init()``) and stops at the end; ``--address auto`` joins the cluster this machine
belongs to, ``--address ray://HOST:PORT`` connects through Ray Client. A Ray instance already
started by the caller (a test, a notebook) is used as it is and left running.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from types import ModuleType

from perceptcodec.errors import PerceptcodecError

RAY_INSTALL_HINT = (
    "--engine ray needs Ray: pip install 'perceptcodec[ray]' (or pip install ray) in this "
    "environment and on every worker"
)


class EngineKind(str, Enum):
    """local: processes on this machine; ray: Ray tasks (here or on a cluster)."""

    LOCAL = "local"
    RAY = "ray"


class Shipping(str, Enum):
    """How Ray workers reach a video: ``path``, the same path on every node (a shared file
    system; the default), or ``object-store``: this process reads the video (and its gaze
    maps) once and puts the bytes in Ray's object store, each worker writes them to its own
    temporary folder (small clips; no shared file system needed)."""

    PATH = "path"
    OBJECT_STORE = "object-store"


@dataclass(frozen=True)
class EngineOptions:
    """How to run a set of independent jobs.

    kind: local processes or Ray; jobs: local processes at once (1: in turn), or for a Ray
    instance started here the CPUs it may use (None: local 1, Ray all of this machine's);
    address: None (start Ray here), ``auto`` or ``ray://HOST:PORT``; max_retries: times Ray
    re-runs a task whose worker process or node died (system failures only: an error raised
    by the task itself is reported, not retried); cpus_per_task: Ray CPUs each task reserves
    (x264 and the model use more threads than that when the CPUs are free)."""

    kind: EngineKind = EngineKind.LOCAL
    jobs: int | None = None
    address: str | None = None
    max_retries: int = 3
    cpus_per_task: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EngineKind(self.kind))
        if self.address is not None and self.kind is not EngineKind.RAY:
            raise PerceptcodecError("--address applies to --engine ray only")
        if self.jobs is not None and self.jobs < 1:
            raise PerceptcodecError(f"jobs {self.jobs} must be at least 1")
        if self.max_retries < 0:
            raise PerceptcodecError(f"max retries {self.max_retries} must be 0 or more")

    @property
    def local_jobs(self) -> int:
        """Processes at once for the local engine."""
        return self.jobs or 1

    def describe(self) -> str:
        """``local, 2 processes`` / ``ray here, 2 CPUs`` / ``ray at auto``."""
        if self.kind is EngineKind.LOCAL:
            n = self.local_jobs
            return "local, in this process" if n == 1 else f"local, {n} processes"
        if self.address:
            return f"ray at {self.address}"
        return "ray here" + (f", {self.jobs} CPUs" if self.jobs else "")


def add_engine_flags(parser: argparse.ArgumentParser, jobs_help: str) -> None:
    """--engine, --address, -j/--jobs, --max-retries (read back by :func:`engine_options`)."""
    parser.add_argument(
        "--engine",
        default=EngineKind.LOCAL.value,
        choices=[k.value for k in EngineKind],
        help="local processes (default) or Ray tasks (needs the [ray] extra)",
    )
    parser.add_argument(
        "--address",
        help="with --engine ray: join a cluster (auto, or ray://HOST:PORT); default: start "
        "Ray on this machine for this run",
    )
    parser.add_argument("-j", "--jobs", type=_positive, help=jobs_help)
    parser.add_argument(
        "--max-retries",
        type=_non_negative,
        default=EngineOptions.max_retries,
        help="with --engine ray: re-runs of a task whose worker died (default 3)",
    )


def engine_options(args: argparse.Namespace) -> EngineOptions:
    """The :class:`EngineOptions` the flags of :func:`add_engine_flags` describe."""
    return EngineOptions(
        kind=EngineKind(args.engine),
        jobs=args.jobs,
        address=args.address,
        max_retries=args.max_retries,
    )


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} must lie in {low}..{high}")
        return value

    parse.__name__ = "an integer"
    return parse


_positive = _bounded_int(1, 1024)
_non_negative = _bounded_int(0, 100)


def import_ray() -> ModuleType:
    """The ``ray`` module, or a one-line error telling how to install it."""
    os.environ.setdefault("RAY_DISABLE_IMPORT_WARNING", "1")
    try:
        import ray
    except ImportError:
        raise PerceptcodecError(RAY_INSTALL_HINT) from None
    return ray


@contextlib.contextmanager
def ray_session(options: EngineOptions) -> Iterator[ModuleType]:
    """Ray, initialised as ``options`` say for the length of the block (shut down after it,
    unless the caller had started it). No dashboard; workers' output is not copied here (their
    errors come back with the tasks)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, object] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if options.address:
        kwargs["address"] = options.address
    else:
        kwargs["num_cpus"] = options.jobs
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = options.address or "this machine"
        raise PerceptcodecError(f"cannot start or reach Ray at {where}: {text}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def ray_error_text(exc: BaseException) -> str:
    """One line for an exception from ``ray.get``: the task's own error (its message for a
    :class:`PerceptcodecError`, type and message otherwise), or what Ray says about a lost
    worker or node."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    return error_text(exc)


def error_text(exc: BaseException) -> str:
    """One line naming an exception (a :class:`PerceptcodecError` by its message)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, PerceptcodecError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
