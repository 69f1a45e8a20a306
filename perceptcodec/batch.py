"""Batch encoding: many inputs (files, folders, globs) with one configuration, in local
processes or as Ray tasks (``perceptcodec encode A.mp4 B.mp4 ... | FOLDER | 'GLOB'``).

Each file is encoded by :func:`perceptcodec.pipeline.encode` in a worker process (a native
crash on one file does not take the batch down); outputs go beside each input or into
``--out-dir``, named by ``--name`` (fields ``{stem}``, ``{ext}``, ``{saliency}``, ``{rate}``,
``{codec}``). An existing output is skipped unless ``--force``; a file that fails is reported
and the others go on; :class:`BatchReport` holds one row per file and the exit status says
whether anything failed. With Ray, workers read the inputs and write the outputs by the paths
given here: on a cluster both must lie on a file system every node mounts at the same path.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import string
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perceptcodec.distributed import (
    EngineKind,
    EngineOptions,
    error_text,
    import_ray,
    ray_error_text,
    ray_session,
)
from perceptcodec.errors import PerceptcodecError

if TYPE_CHECKING:  # the heavy modules (PyAV, NumPy) load when a batch runs, not for --help
    from perceptcodec.config import EncodeConfig
    from perceptcodec.pipeline import EncodeSummary

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .y4m .264 .h264"
    " .hevc .265".split()
)
NAME_FIELDS = ("stem", "ext", "saliency", "rate", "codec")


@dataclass(frozen=True)
class BatchOptions:
    """Where outputs go and what happens to existing ones.

    out_dir: folder for every output (None: beside each input); name: a template with the
    fields of :data:`NAME_FIELDS` ending in .mp4/.mkv/.mov (None: ``encode``'s default name,
    ``<stem>.<saliency>.<rate>.mp4``); force: overwrite existing outputs (else they are
    skipped); keep_going: encode what decodes from damaged inputs."""

    out_dir: Path | None = None
    name: str | None = None
    force: bool = False
    keep_going: bool = False

    def __post_init__(self) -> None:
        if self.name is not None:
            check_template(self.name)


@dataclass
class FileResult:
    """One row of the summary: status ``ok``, ``skipped`` or ``failed``; message: why (one
    line); summary: the encode's, for ``ok``."""

    src: str
    dst: str | None
    status: str
    message: str = ""
    summary: EncodeSummary | None = None

    def as_dict(self) -> dict[str, object]:
        row = asdict(self)
        row["summary"] = self.summary.as_dict() if self.summary else None
        return row


@dataclass
class BatchReport:
    """Every file's row, in input order; ``failed`` tells the exit status."""

    rows: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.rows)

    def table(self) -> str:
        """The summary as a Markdown table, then one line of counts."""
        from perceptcodec.evaluation.report import markdown_table

        cells = []
        for r in self.rows:
            s = r.summary
            cells.append(
                (
                    r.status,
                    r.src,
                    r.dst or "-",
                    s.frames if s else "-",
                    f"{s.video_kbps:.1f}" if s else "-",
                    f"{s.wall_s:.1f}" if s else "-",
                    r.message.replace("|", "/") or "-",
                )
            )
        header = ("status", "input", "output", "frames", "video kbit/s", "wall s", "note")
        counts = {k: sum(r.status == k for r in self.rows) for k in ("ok", "skipped", "failed")}
        line = ", ".join(f"{v} {k}" for k, v in counts.items())
        return markdown_table(header, cells) + f"{len(self.rows)} files: {line}\n"

    def json(self) -> str:
        return json.dumps([r.as_dict() for r in self.rows])


def check_template(name: str) -> None:
    """Refuse a name template with unknown fields, a folder part, or a container we do not
    write."""
    from perceptcodec.io.sink import container_format

    try:
        used = [f for _, f, _, _ in string.Formatter().parse(name) if f is not None]
    except ValueError as exc:
        raise PerceptcodecError(f"--name {name!r}: {exc}") from None
    unknown = [f for f in used if f not in NAME_FIELDS]
    if unknown:
        fields = ", ".join("{" + f + "}" for f in NAME_FIELDS)
        raise PerceptcodecError(f"--name {name!r}: unknown field {{{unknown[0]}}} (use {fields})")
    if "/" in name or os.sep in name:
        raise PerceptcodecError(f"--name {name!r}: a file name, not a path (use --out-dir)")
    container_format(Path(name))


def output_for(src: Path, config: EncodeConfig, options: BatchOptions) -> Path:
    """Where ``src``'s output goes."""
    from perceptcodec.pipeline import default_output

    if options.name is None:
        dst = default_output(src, config.saliency.name, config.rate, config.codec)
    else:
        values = {
            "stem": src.stem,
            "ext": src.suffix.lstrip("."),
            "saliency": config.saliency.name,
            "rate": config.rate.tag,
            "codec": config.codec.value,
        }
        dst = src.with_name(options.name.format(**values))
    return options.out_dir / dst.name if options.out_dir is not None else dst


def expand_inputs(items: Sequence[str]) -> tuple[list[Path], list[FileResult]]:
    """Files from the command line: a file as given, a folder's video files (by extension,
    not recursive, hidden files left out), a quoted glob's matches (sorted). A folder without
    videos or a glob without match is a failed row; a path that does not exist is kept (its
    encode reports it)."""
    files: list[Path] = []
    bad: list[FileResult] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in VIDEO_EXTENSIONS
            )
            if not found:
                bad.append(FileResult(item, None, "failed", f"{item}: no video files in folder"))
            files.extend(found)
        elif not path.exists() and glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(item) if Path(p).is_file())
            if not found:
                bad.append(FileResult(item, None, "failed", f"{item}: no file matches"))
            files.extend(found)
        else:
            files.append(path)
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return list(unique.values()), bad


def plan(
    files: Sequence[Path], config: EncodeConfig, options: BatchOptions
) -> tuple[list[tuple[Path, Path]], list[FileResult]]:
    """(input, output) pairs to encode, and the rows decided without encoding: an input that
    is another input's output (left out: a second run over a folder does not re-encode its own
    outputs), two inputs with one output, an output that exists without ``force``."""
    from perceptcodec.io.sink import same_file

    if options.out_dir is not None:
        if options.out_dir.exists() and not options.out_dir.is_dir():
            raise PerceptcodecError(f"--out-dir {options.out_dir}: not a folder")
        try:
            options.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PerceptcodecError(f"--out-dir {options.out_dir}: {exc.strerror}") from None
    pairs = [(src, output_for(src, config, options)) for src in files]
    outputs = {dst.resolve(): src for src, dst in pairs}
    todo: list[tuple[Path, Path]] = []
    rows: list[FileResult] = []
    claimed: dict[Path, Path] = {}
    for src, dst in pairs:
        owner = outputs.get(src.resolve())
        if owner is not None and owner != src:
            continue  # an output of this batch, from an earlier run
        if dst.resolve() in claimed:
            other = claimed[dst.resolve()]
            rows.append(FileResult(str(src), str(dst), "failed", f"same output as {other}"))
            continue
        claimed[dst.resolve()] = src
        if same_file(src, dst):
            rows.append(FileResult(str(src), str(dst), "failed", "output would be the input"))
        elif dst.exists() and not options.force:
            rows.append(FileResult(str(src), str(dst), "skipped", "output exists (--force)"))
        else:
            todo.append((src, dst))
    return todo, rows


def encode_one(src: Path, dst: Path, config: EncodeConfig, force: bool, keep_going: bool):
    """One file, in a worker: :func:`perceptcodec.pipeline.encode` without a progress bar."""
    from perceptcodec.pipeline import encode

    return encode(src, dst, config, force=force, progress=False, keep_going=keep_going)


Outcome = tuple  # ((input, output), EncodeSummary or None, error or None)


def _pool_run(
    pairs: Sequence[tuple[Path, Path]], workers: int, died: list, config, options
) -> Iterator[Outcome]:
    """``pairs`` in a pool of ``workers`` processes; those lost with a dead process go to
    ``died``. Interrupted (Ctrl-C), files not started are dropped."""
    pool = concurrent.futures.ProcessPoolExecutor(workers)
    try:
        futures = {
            pool.submit(encode_one, s, d, config, options.force, options.keep_going): (s, d)
            for s, d in pairs
        }
        for future in concurrent.futures.as_completed(futures):
            pair = futures[future]
            try:
                yield pair, future.result(), None
            except BrokenProcessPool:
                died.append(pair)
            except Exception as exc:
                yield pair, None, error_text(exc)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _local(todo: Sequence[tuple[Path, Path]], config, options, jobs: int) -> Iterator[Outcome]:
    """Files in ``jobs`` worker processes. Files whose process died are tried again one at a
    time, each in a fresh process, so only a file that crashes the encoder itself fails."""
    died: list[tuple[Path, Path]] = []
    yield from _pool_run(todo, jobs, died, config, options)
    for pair in died:
        lost: list[tuple[Path, Path]] = []
        yield from _pool_run([pair], 1, lost, config, options)
        if lost:
            yield pair, None, "the worker process died while encoding it"


def _ray(todo: Sequence[tuple[Path, Path]], config, options, engine: EngineOptions):
    with ray_session(engine) as ray:
        remote = ray.remote(encode_one).options(
            max_retries=engine.max_retries,
            retry_exceptions=False,
            num_cpus=engine.cpus_per_task,
        )
        refs = {
            remote.remote(s, d, config, options.force, options.keep_going): (s, d) for s, d in todo
        }
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    yield refs[ref], ray.get(ref), None
                except Exception as exc:
                    yield refs[ref], None, ray_error_text(exc)


def run_batch(
    items: Sequence[str],
    config: EncodeConfig,
    options: BatchOptions,
    engine: EngineOptions | None = None,
    log: Callable[[str], None] | None = None,
) -> BatchReport:
    """Encode every input of ``items`` (files, folders, globs) with ``config``."""
    engine = engine or EngineOptions()
    log = log or (lambda line: print(line, file=sys.stderr))
    if engine.kind is EngineKind.RAY:
        import_ray()
    files, bad = expand_inputs(items)
    todo, decided = plan(files, config, options)
    rows = {Path(r.src): r for r in decided}
    log(f"encode: {len(todo)} files to encode, {len(decided)} decided ({engine.describe()})")
    if engine.kind is EngineKind.RAY:
        outcomes = _ray(todo, config, options, engine) if todo else iter(())
    else:
        outcomes = _local(todo, config, options, engine.local_jobs)
    for n, ((src, dst), summary, error) in enumerate(outcomes, start=1):
        if summary is None:
            rows[src] = FileResult(str(src), str(dst), "failed", error or "failed")
            log(f"[{n}/{len(todo)}] {src}: FAILED: {error}")
        else:
            rows[src] = FileResult(str(src), str(dst), "ok", summary=summary)
            log(f"[{n}/{len(todo)}] {src} -> {dst} ({summary.wall_s:.1f} s)")
    ordered = [rows[f] for f in files if f in rows]
    return BatchReport(bad + ordered)


def add_flags(parser) -> None:
    """``encode``'s batch flags: --out-dir, --name and the engine's."""
    from perceptcodec.distributed import add_engine_flags

    parser.add_argument("--out-dir", help="folder for the outputs (default: beside each input)")
    parser.add_argument(
        "--name",
        help="output name template, fields {stem} {ext} {saliency} {rate} {codec}, e.g. "
        "'{stem}.{rate}.mp4' (default: {stem}.{saliency}.{rate}.mp4)",
    )
    add_engine_flags(
        parser,
        "files at once: local processes (default 1), or the CPUs of a Ray "
        "started here (default all)",
    )


def wanted(args) -> bool:
    """Whether an ``encode`` command line is a batch: several inputs, a folder, a quoted glob,
    or a batch flag."""
    first = Path(args.input[0])
    return (
        len(args.input) > 1
        or first.is_dir()
        or (not first.exists() and glob.has_magic(args.input[0]))
        or bool(args.out_dir or args.name or args.jobs or args.address)
        or args.engine != EngineKind.LOCAL.value
    )


def main(args, config: EncodeConfig) -> int:
    """``perceptcodec encode`` for a batch: the summary table (or JSON) on stdout, progress on
    stderr; exit status 1 when any file failed."""
    from perceptcodec.distributed import engine_options

    if args.output:
        raise PerceptcodecError("-o names one output; for several inputs use --out-dir and --name")
    if args.dump_qp:
        raise PerceptcodecError("--dump-qp takes one input")
    options = BatchOptions(
        Path(args.out_dir) if args.out_dir else None, args.name, args.force, args.keep_going
    )
    quiet = args.quiet or args.json
    report = run_batch(
        args.input, config, options, engine_options(args), (lambda _: None) if quiet else None
    )
    print(report.json() if args.json else report.table(), end="\n" if args.json else "")
    return 1 if report.failed else 0
