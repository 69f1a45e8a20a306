"""Command line: argument parsing and error reporting only; the work is library calls.

Each subcommand has its own parser builder; ``encode`` and ``saliency`` share the saliency
flags, which are built from the models' option dataclasses
(:mod:`perceptcodec.saliency.options`).

Signals: SIGINT, SIGTERM and SIGHUP all unwind the work (temporary files removed, no output
written), print one line and exit with 128 + the signal number. Only light modules are
imported at module level, so an interrupt during the heavy imports (PyAV, NumPy, the models)
is handled as well.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import warnings
from collections.abc import Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING

from perceptcodec import __version__
from perceptcodec.errors import PerceptcodecError

if TYPE_CHECKING:
    from perceptcodec.saliency.options import ModelOptions

HANDLED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGINT/SIGTERM/SIGHUP, so every ``finally`` and context
    manager on the way out cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    # Further signals would interrupt the clean-up itself: ignore them from here on.
    for name in HANDLED_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise Terminated(signum)


def _install_signal_handlers() -> None:
    for name in HANDLED_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _on_signal)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = str(message).splitlines()[0] if str(message) else category.__name__
    try:
        print(f"perceptcodec: warning: {text}", file=sys.stderr)
    except (OSError, ValueError):
        pass


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``perceptcodec encode: error: ...``), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _model_flags() -> dict[str, tuple[str, type, str]]:
    """{flag: (field name, type, help)} over every registered model's options."""
    from perceptcodec.saliency import MODELS

    flags: dict[str, tuple[str, type, str]] = {}
    for entry in MODELS.values():
        for f in fields(entry.options):
            flag = f.metadata.get("flag")
            if flag and flag not in flags:
                kind = type(f.default) if f.default is not MISSING else str
                flags[flag] = (f.name, kind, f.metadata.get("help", ""))
    return flags


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def model_options(args: argparse.Namespace) -> ModelOptions | None:
    """The chosen model's options from the flags given (None: all defaults). A flag the model
    does not declare is a one-line error."""
    from perceptcodec.saliency import MODELS

    given = {flag: getattr(args, _dest(flag)) for flag in _model_flags()}
    given = {flag: value for flag, value in given.items() if value is not None}
    if args.saliency not in MODELS:  # none, or maps/gaze from a file
        if given:
            flag = next(iter(given))
            raise PerceptcodecError(f"{flag} does not apply to --saliency {args.saliency}")
        return None
    options_type = MODELS[args.saliency].options
    names = {f.metadata.get("flag"): f.name for f in fields(options_type)}
    for flag in given:
        if flag not in names:
            raise PerceptcodecError(f"model {args.saliency!r} has no option {flag}")
    return options_type(**{names[flag]: value for flag, value in given.items()})


def saliency_spec(args: argparse.Namespace):
    from perceptcodec.config import SaliencySpec
    from perceptcodec.saliency import Runtime

    return SaliencySpec(
        args.saliency, model_options(args), Runtime.parse(args.runtime), args.saliency_stride
    )


def encode_config(args: argparse.Namespace):
    """The :class:`perceptcodec.config.EncodeConfig` the ``encode`` flags describe."""
    from dataclasses import replace

    from perceptcodec.config import EncodeConfig, Trim
    from perceptcodec.encoder.codec import Codec, X265Options
    from perceptcodec.encoder.x264 import RateControl, X264Options
    from perceptcodec.roi import RoiSettings

    rate = RateControl.choose(args.bitrate, args.crf, args.qp, args.two_pass)
    rate = replace(
        rate, vbv_maxrate_kbps=args.vbv_maxrate or 0, vbv_bufsize_kbit=args.vbv_bufsize or 0
    )
    return EncodeConfig(
        rate=rate,
        x264=X264Options(
            args.preset,
            args.tune,
            args.keyint,
            args.threads,
            params=args.x264_params,
            profile=args.profile,
            level=args.level or 0,
        ),
        roi=RoiSettings(args.strength, args.max_delta_qp, args.smoothing),
        saliency=saliency_spec(args),
        codec=Codec.parse(args.codec),
        x265=X265Options(args.x265_params),
        trim=Trim(args.start or 0.0, args.frames or 0),
    )


def _encode(args: argparse.Namespace) -> int:
    from perceptcodec import batch
    from perceptcodec.io.sink import is_stdout
    from perceptcodec.pipeline import encode

    config = encode_config(args)
    if args.verbose:
        _ffmpeg_logs()
    if batch.wanted(args):  # several inputs, a folder or a glob: perceptcodec/batch.py
        return batch.main(args, config)
    summary = encode(
        args.input[0],
        args.output,
        config,
        force=args.force,
        progress=not args.quiet,
        keep_going=args.keep_going,
        dump_qp=args.dump_qp,
        fmt=args.format,
        verbose=args.verbose,
    )
    # -q: no summary unless --json asks for it; stdout carries the video when the output is
    # "-", so the summary goes to stderr then.
    out = sys.stderr if is_stdout(args.output) else sys.stdout
    if args.json:
        print(json.dumps(summary.as_dict()), file=out)
    elif not args.quiet:
        print(summary.text(), file=out)
    return 0


def _ffmpeg_logs() -> None:
    """-v: FFmpeg's messages (info level and up) on stderr, by FFmpeg's own logger (PyAV's
    Python callback can deadlock with FFmpeg's decoder threads)."""
    import av.logging

    av.logging.restore_default_callback()
    av.logging.set_libav_level(av.logging.INFO)


def _qpmap(args: argparse.Namespace) -> int:
    from perceptcodec.qpmap import QpMapFormat, export_qpmap
    from perceptcodec.roi import RoiSettings

    roi = RoiSettings(args.strength, args.max_delta_qp, args.smoothing)
    fmt = QpMapFormat(args.format)
    frames = export_qpmap(args.input, args.output, fmt, saliency_spec(args), roi, args.force)
    print(f"wrote {args.output}: {frames} frames of QP offsets ({fmt.value})")
    return 0


def _saliency(args: argparse.Namespace) -> int:
    from perceptcodec.maps_export import export_saliency

    summary = export_saliency(
        args.input,
        args.output,
        saliency_spec(args),
        overlay=args.overlay,
        force=args.force,
        progress=not args.quiet,
        keep_going=args.keep_going,
        sources=args.sources,
    )
    print(
        f"wrote {summary.npz}: {summary.frames} frames of {summary.map_shape[0]}x"
        f"{summary.map_shape[1]} maps ({summary.model})"
        + (f"; overlay {summary.overlay}" if summary.overlay else "")
    )
    return 0


def _rd(args: argparse.Namespace) -> int:
    from perceptcodec.datasets import gaze_videos
    from perceptcodec.distributed import Shipping, engine_options
    from perceptcodec.evaluation.engine import run_points
    from perceptcodec.rd import RdConfig, RdSettings, write_bd_table
    from perceptcodec.units import parse_bitrate

    engine = engine_options(args)  # checked first: a misused flag costs no data set reading
    videos = [v for spec in args.dataset for v in gaze_videos(spec)]
    configs = [RdConfig.parse(c) for c in args.configs]
    bitrates = [parse_bitrate(b) for b in args.bitrates.split(",")]
    settings = RdSettings(preset=args.preset, two_pass=not args.one_pass, tune=args.tune)
    out = Path(args.out)
    report = run_points(videos, configs, bitrates, out, settings, engine, Shipping(args.ship))
    print(write_bd_table(out), end="")
    print(report.text())
    print(f"results in {out} (report: perceptcodec report {out} -o {out}/report.html)")
    if report.failed:
        print(
            f"perceptcodec: error: {len(report.failed)} point(s) failed (listed above); "
            "run the same command again to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    from perceptcodec.evaluation.html_report import ReportOptions, build_report

    options = ReportOptions(
        tuple(Path(p) for p in args.results),
        Path(args.output),
        tuple(args.dataset or ()),
        args.grab_bitrate,
        args.grab_config,
        args.max_videos,
        args.force,
    )
    print(f"wrote {build_report(options)}")
    return 0


def _report_parser(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="a static HTML page of RD results (plots, BD, grabs)")
    rep.add_argument("results", nargs="+", help="RD result folders or JSON files (from rd)")
    rep.add_argument("-o", "--output", required=True, help="the .html to write")
    rep.add_argument(
        "--dataset",
        nargs="+",
        help="the rd data sets (dhf1k_0002, VIDEO:GAZE.csv, a folder): their videos get frame "
        "grabs (re-encodes one bitrate, plain and perceptual)",
    )
    rep.add_argument("--grab-bitrate", type=_ranged(int, 1, 10**6), help="kbit/s (default: lowest)")
    rep.add_argument("--grab-config", help="configuration label (default: the default model's)")
    rep.add_argument(
        "--max-videos", type=_ranged(int, 1, 1000), default=4, help="videos with figures (4)"
    )
    rep.add_argument("--force", action="store_true", help="overwrite an existing report")
    rep.set_defaults(run=_report)


def _export(args: argparse.Namespace) -> int:
    if args.model == "dave":
        from perceptcodec.saliency.dave.export import export
        from perceptcodec.saliency.dave.spec import default_weights
    else:
        from perceptcodec.saliency.vamnet import default_weights
        from perceptcodec.saliency.vamnet.export import export

    weights = Path(args.weights) if args.weights else default_weights()
    if not weights.exists():
        name = "DAVE" if args.model == "dave" else "VAM-Net"
        raise PerceptcodecError(f"{weights}: no {name} weights to export")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise PerceptcodecError("exporting needs PyTorch: pip install torch==2.13.0") from exc
    for path in export(weights, Path(args.out) if args.out else weights.parent):
        print(f"wrote {path}")
    return 0


def _saliency_choice(text: str) -> str:
    """A model name, ``none``, or a maps/gaze file name (checked when it is read)."""
    from perceptcodec.saliency import MODELS, NONE, available_models
    from perceptcodec.saliency.external import is_external

    if text in (NONE, *MODELS) or is_external(text):
        return text
    choices = ", ".join([NONE, *available_models()])
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {choices}, or a .npz/.npy/.csv file)"
    )


def _x265_params(text: str) -> str:
    """An argparse type: x265-params that libx265 accepts (an unknown key or a bad value is a
    one-line usage error naming it)."""
    from perceptcodec.encoder.codec import X265Options, check_x265_params

    try:
        check_x265_params(X265Options(text).params)
    except PerceptcodecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


_x265_params.__name__ = "x265 params"


def _x264_params(text: str) -> str:
    """An argparse type: x264-params that libx264's x264_param_parse accepts (an unknown key, a
    bad value or a key perceptcodec sets itself is a one-line usage error naming it)."""
    from perceptcodec.encoder.x264 import check_x264_params

    try:
        check_x264_params(text)
    except PerceptcodecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


_x264_params.__name__ = "x264 params"


def _usage_type(parse, name: str):
    """An argparse type from a parser that raises PerceptcodecError (a usage error, status 2)."""

    def convert(text: str):
        try:
            return parse(text)
        except PerceptcodecError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def _ranged(kind: type, low: float, high: float):
    """An argparse type: a ``kind`` number in low..high (NaN and inf refused), else a one-line
    usage error naming the range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_KIND_NAMES[kind]}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} must lie in {low:g}..{high:g}")
        return value

    parse.__name__ = _KIND_NAMES[kind]  # argparse names the type in its messages
    return parse


_KIND_NAMES = {int: "an integer", float: "a number"}


def _add_saliency_flags(parser: argparse.ArgumentParser) -> None:
    """--saliency, --runtime, --saliency-stride and every model option flag."""
    from perceptcodec.saliency import DEFAULT_MODEL, MODELS, NONE, Runtime, available_models

    models = [NONE, *available_models()]
    strides = ", ".join(f"{e.stride} for {name}" for name, e in MODELS.items() if e.stride != 1)
    parser.add_argument(
        "--saliency",
        default=DEFAULT_MODEL,
        type=_saliency_choice,
        help=f"saliency model: none (plain x264), {', '.join(models[1:])} (default "
        f"{DEFAULT_MODEL}), or a file: maps (.npz/.npy, frames x h x w, e.g. from `perceptcodec "
        "saliency`) or eye-tracking (.csv: frame,x,y,subject in pixels of the video)",
    )
    parser.add_argument(
        "--runtime",
        default=Runtime.AUTO.value,
        choices=[r.value for r in Runtime],
        help="how a trained model runs (default auto: onnx on the CPU when exported)",
    )
    parser.add_argument(
        "--saliency-stride",
        type=_ranged(int, 1, 1000),
        help="run the model on every k-th frame, interpolating maps in between (default: "
        f"{strides}, 1 for the others)",
    )
    for flag, (_name, kind, text) in _model_flags().items():
        parser.add_argument(flag, type=kind, help=text)


def _encode_parser(sub: argparse._SubParsersAction) -> None:
    from perceptcodec.config import MAX_FRAMES
    from perceptcodec.encoder.settings import H264_PROFILES, MAX_KBPS, parse_level
    from perceptcodec.encoder.x264 import MAX_KEYINT, MAX_THREADS, PRESETS
    from perceptcodec.io.sink import FORMATS
    from perceptcodec.units import parse_time

    enc = sub.add_parser("encode", help="encode a video with saliency-guided QP offsets")
    enc.add_argument(
        "input",
        nargs="+",
        help="any video FFmpeg reads; several files, folders or a quoted glob; - reads "
        "standard input (y4m, mkv, mpegts, ...)",
    )
    enc.add_argument(
        "-o",
        "--output",
        help="output .mp4/.mkv/.mov/.ts/.h264 (default: beside the input); - writes standard "
        "output (with --format mkv, mpegts, h264 or hevc)",
    )
    enc.add_argument(
        "--format",
        choices=list(FORMATS),
        help="output format instead of the extension's (needed with -o -)",
    )
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument(
        "--bitrate", default="300k", help="target rate, e.g. 300k, 1.5M (default 300k)"
    )
    rate.add_argument(
        "--crf", type=_ranged(float, 0, 51), help="constant rate factor 0-51 instead of a bitrate"
    )
    rate.add_argument(
        "--qp",
        type=_ranged(int, 0, 51),
        help="constant QP 0-51 instead of a bitrate (with a model: QP + its offsets per block)",
    )
    enc.add_argument("--two-pass", action="store_true", help="2-pass ABR (same maps in both)")
    enc.add_argument(
        "--vbv-maxrate",
        type=_ranged(int, 1, MAX_KBPS),
        metavar="KBIT/S",
        help="VBV maximum rate, kbit/s (with --vbv-bufsize)",
    )
    enc.add_argument(
        "--vbv-bufsize",
        type=_ranged(int, 1, MAX_KBPS),
        metavar="KBIT",
        help="VBV buffer size, kbit",
    )
    enc.add_argument(
        "--profile",
        choices=H264_PROFILES,
        help="H.264 profile the stream keeps to (default high)",
    )
    enc.add_argument(
        "--level",
        type=_usage_type(parse_level, "level"),
        help="H.264/HEVC level, e.g. 3.1, 4.0 or 41 (default: the encoder's choice)",
    )
    enc.add_argument(
        "--start",
        type=_usage_type(parse_time, "time"),
        metavar="TIME",
        help="encode from this time: seconds (12.5) or a timestamp (1:02.5); audio cut to match",
    )
    enc.add_argument(
        "--frames",
        type=_ranged(int, 1, MAX_FRAMES),
        metavar="N",
        help="encode at most N frames",
    )
    enc.add_argument(
        "--codec",
        default="h264",
        choices=["h264", "hevc"],
        help="h264 (x264, default) or hevc (x265; MP4/MOV tagged hvc1)",
    )
    enc.add_argument(
        "--x264-params",
        type=_x264_params,
        metavar="KEY=VALUE:...",
        help="x264 settings by x264's own names (--codec h264), e.g. keyint=60:bframes=0; "
        "applied after the preset and tune",
    )
    enc.add_argument(
        "--x265-params",
        type=_x265_params,
        metavar="KEY=VALUE:...",
        help="x265 settings by x265's own names (--codec hevc only), e.g. qg-size=8:aq-mode=3",
    )
    enc.add_argument("--preset", default="medium", choices=PRESETS, help="x264/x265 preset")
    enc.add_argument(
        "--tune", help="x264 tune (e.g. film, psnr, ssim); x265's: psnr, ssim, grain, ..."
    )
    enc.add_argument(
        "--keyint",
        type=_ranged(int, 0, MAX_KEYINT),
        default=0,
        help="max GOP length in frames (0: the encoder's)",
    )
    enc.add_argument(
        "--threads",
        type=_ranged(int, 0, MAX_THREADS),
        default=0,
        help=f"encoder threads 0-{MAX_THREADS} (0: auto; x265: its worker pool)",
    )
    _add_saliency_flags(enc)
    _add_roi_flags(enc)
    enc.add_argument(
        "--dump-qp",
        metavar="FILE.npz",
        help="also write the QP offsets applied to each frame (16x16 blocks, QP units) with pts",
    )
    enc.add_argument("--force", action="store_true", help="overwrite an existing output")
    enc.add_argument(
        "--keep-going",
        action="store_true",
        help="encode what decodes from a damaged or truncated input (with a warning)",
    )
    talk = enc.add_mutually_exclusive_group()
    talk.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, no summary (errors only)"
    )
    talk.add_argument(
        "-v", "--verbose", action="store_true", help="x264/x265 and FFmpeg messages on stderr"
    )
    enc.add_argument("--json", action="store_true", help="print the summary as JSON (also with -q)")
    from perceptcodec.batch import add_flags

    add_flags(enc)
    enc.set_defaults(run=_encode, parser=enc)


def _add_roi_flags(parser: argparse.ArgumentParser) -> None:
    """--strength, --max-delta-qp, --smoothing: how maps become QP offsets."""
    from perceptcodec.roi import RoiSettings

    defaults = RoiSettings()
    parser.add_argument(
        "--strength",
        type=_ranged(float, 0, 1),
        default=defaults.strength,
        help=f"0..1 share of saliency in block weights (default {defaults.strength})",
    )
    parser.add_argument(
        "--max-delta-qp",
        type=_ranged(float, 0, 51),
        default=defaults.max_delta_qp,
        help=f"clip 0-51 of the QP offsets, QP units (default {defaults.max_delta_qp})",
    )
    parser.add_argument(
        "--smoothing",
        type=_ranged(float, 0, 0.99),
        default=defaults.smoothing,
        help=f"temporal smoothing 0..0.99 of the offsets (default {defaults.smoothing})",
    )


def _qpmap_parser(sub: argparse._SubParsersAction) -> None:
    from perceptcodec.qpmap import QpMapFormat

    qpm = sub.add_parser("qpmap", help="the QP offsets an encode would apply, for other encoders")
    qpm.add_argument("input")
    qpm.add_argument("-o", "--output", required=True, help="map file")
    qpm.add_argument(
        "--format",
        default=QpMapFormat.NPZ.value,
        choices=[f.value for f in QpMapFormat],
        help="npz (16x16 float offsets + pts), svt-av1 (--roi-map-file: 64x64, qindex units, "
        "8 levels), kvazaar (--roi text: 16x16 integer delta QPs)",
    )
    _add_saliency_flags(qpm)
    _add_roi_flags(qpm)
    qpm.add_argument("--force", action="store_true", help="overwrite an existing file")
    qpm.set_defaults(run=_qpmap)


def _saliency_parser(sub: argparse._SubParsersAction) -> None:
    sal = sub.add_parser("saliency", help="write per-frame saliency maps (.npz) and an overlay")
    sal.add_argument("input")
    sal.add_argument("-o", "--output", required=True, help="maps file (.npz)")
    sal.add_argument("--overlay", help="also write a heat-map overlay video (.mp4)")
    sal.add_argument(
        "--sources",
        action="store_true",
        help="also write who speaks: per-face boxes and speaking probabilities and the "
        "sound-source map (prior; with sound when the video has it, else visual only)",
    )
    _add_saliency_flags(sal)
    sal.add_argument("--force", action="store_true", help="overwrite existing outputs")
    sal.add_argument(
        "--keep-going",
        action="store_true",
        help="use what decodes from a damaged or truncated input (with a warning)",
    )
    sal.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sal.set_defaults(run=_saliency)


def _export_parser(sub: argparse._SubParsersAction) -> None:
    exp = sub.add_parser(
        "export", help="export VAM-Net's per-frame step or DAVE's window for other runtimes"
    )
    exp.add_argument("format", choices=["onnx"])
    exp.add_argument("--model", choices=["vamnet", "dave"], default="vamnet", help="default vamnet")
    exp.add_argument("--weights", help="the model's weights (default: the shipped ones)")
    exp.add_argument("--out", help="folder (default: beside the weights)")
    exp.set_defaults(run=_export)


def _rd_parser(sub: argparse._SubParsersAction) -> None:
    from perceptcodec.encoder.x264 import PRESETS, TUNES
    from perceptcodec.saliency import DEFAULT_MODEL, NONE
    from perceptcodec.units import PAPER_BITRATES_KBPS

    rd = sub.add_parser("rd", help="rate-distortion curves with EWPSNR on real gaze, BD table")
    rd.add_argument(
        "dataset", nargs="+", help="dhf1k_0002, VIDEO:GAZE.csv, or a DHF1K/MVVA-layout folder"
    )
    rd.add_argument(
        "--configs",
        nargs="+",
        default=[NONE, DEFAULT_MODEL],
        help="none or MODEL[:STRENGTH[:MAX_DELTA_QP]][:KEY=VALUE]... with keys k (saliency "
        "stride), codec (h264 or hevc; also none:codec=hevc; each codec's configurations are "
        "measured against its own none) and the model's own (fs: face stride, w: working "
        f"width, ds: dave's window stride); default: none {DEFAULT_MODEL}",
    )
    rd.add_argument(
        "--bitrates",
        default=",".join(map(str, PAPER_BITRATES_KBPS)),
        help="comma-separated kbit/s (default: the paper's)",
    )
    from perceptcodec.distributed import Shipping, add_engine_flags

    add_engine_flags(
        rd,
        "points at once: local processes (default 1), or the CPUs of a Ray "
        "started here (default all)",
    )
    rd.add_argument(
        "--ship",
        default=Shipping.PATH.value,
        choices=[s.value for s in Shipping],
        help="how Ray workers reach the videos: path (same path on every node, default) or "
        "object-store (bytes sent through Ray; small clips)",
    )
    rd.add_argument("--preset", default="medium", choices=PRESETS)
    rd.add_argument(
        "--tune",
        choices=TUNES,
        help="x264 tune for every configuration, none included (BD against the same tune)",
    )
    rd.add_argument("--one-pass", action="store_true", help="1-pass ABR instead of 2-pass")
    rd.add_argument("--out", default="eval/results/rd", help="results folder")
    rd.set_defaults(run=_rd)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="perceptcodec",
        description="Saliency-guided H.264/HEVC encoding (x264/x265 + per-block QP offsets).",
    )
    parser.add_argument("--version", action="version", version=f"perceptcodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parsers = (_encode_parser, _saliency_parser, _qpmap_parser, _export_parser, _rd_parser)
    for add in (*parsers, _report_parser):
        add(sub)
    return parser


def _run(argv: Sequence[str] | None) -> int:
    import av.error

    args = build_parser().parse_args(argv)
    if getattr(args, "x265_params", None) and getattr(args, "codec", None) != "hevc":
        args.parser.error("--x265-params applies to --codec hevc only")
    if getattr(args, "x264_params", None) and getattr(args, "codec", None) == "hevc":
        args.parser.error("--x264-params applies to --codec h264; give HEVC --x265-params")
    if getattr(args, "profile", None) and getattr(args, "codec", None) == "hevc":
        args.parser.error("--profile applies to --codec h264 (HEVC is coded Main)")
    if args.command == "encode":
        _check_pipes(args)
    try:
        return args.run(args)
    except PerceptcodecError as exc:
        print(f"perceptcodec: error: {exc}", file=sys.stderr)
        return 1
    except av.error.FFmpegError as exc:  # a media problem the checks above did not name
        print(f"perceptcodec: error: FFmpeg: {exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:  # a text input (CSV, JSON) that is not text
        print(
            f"perceptcodec: error: a file read as text is not UTF-8 text (byte {exc.start}: "
            f"{exc.reason})",
            file=sys.stderr,
        )
        return 1


def _check_pipes(args: argparse.Namespace) -> None:
    """Usage errors of ``-`` (stdin/stdout) and --format, before anything is read."""
    from perceptcodec.io.sink import PIPE_FORMATS

    if args.output == "-":
        if args.format is None:
            args.parser.error(f"-o - (standard output) needs --format {'|'.join(PIPE_FORMATS)}")
        if args.format not in PIPE_FORMATS:
            args.parser.error(
                f"--format {args.format} cannot go to a pipe (it needs a seekable file); "
                f"use {', '.join(PIPE_FORMATS)}"
            )
    inputs = args.input if isinstance(args.input, list) else [args.input]
    if "-" in inputs and len(inputs) > 1:
        args.parser.error("standard input (-) cannot be one of several inputs")
    if "-" in inputs and args.output is None:
        args.parser.error("reading standard input (-) needs -o FILE (or -o - with --format)")
    if "-" in inputs and sys.stdin is not None and sys.stdin.isatty():
        args.parser.error("standard input (-) is a terminal: pipe a video into it")


def main(argv: Sequence[str] | None = None) -> int:
    _install_signal_handlers()
    warnings.showwarning = _show_warning
    try:
        return _run(argv)
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        what = "interrupted" if exc.signum == signal.SIGINT else f"stopped by {name}"
        _say(f"perceptcodec: {what}; no output written")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say("perceptcodec: interrupted; no output written")
        return 130
    except BrokenPipeError:
        return 1


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
