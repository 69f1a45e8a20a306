"""Command line: argument parsing and error reporting only; the work is library calls."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import av.error

from perceptcodec.errors import PerceptcodecError
from perceptcodec.roi import RoiSettings
from perceptcodec.saliency import DEFAULT_MODEL
from perceptcodec.units import PAPER_BITRATES_KBPS, parse_bitrate


def _encode(args: argparse.Namespace) -> int:
    from perceptcodec.pipeline import encode

    summary = encode(
        args.input,
        args.output,
        bitrate=args.bitrate,
        crf=args.crf,
        qp=args.qp,
        two_pass=args.two_pass,
        preset=args.preset,
        tune=args.tune,
        keyint=args.keyint,
        threads=args.threads,
        saliency=args.saliency,
        strength=args.strength,
        max_delta_qp=args.max_delta_qp,
        smoothing=args.smoothing,
        saliency_stride=args.saliency_stride,
        runtime=args.runtime,
        model_options=_model_options(args),
        force=args.force,
        progress=not args.quiet,
    )
    print(json.dumps(summary.as_dict()) if args.json else summary.text())
    return 0


def _model_options(args: argparse.Namespace) -> dict[str, object]:
    """The model options given on the command line (the model's defaults otherwise)."""
    given = {"face_stride": args.face_stride, "width": args.saliency_width}
    return {k: v for k, v in given.items() if v is not None}


def _saliency(args: argparse.Namespace) -> int:
    from perceptcodec.maps_export import export_saliency

    summary = export_saliency(
        args.input, args.output, model=args.saliency, overlay=args.overlay, force=args.force,
        progress=not args.quiet, runtime=args.runtime,
    )  # fmt: skip
    print(
        f"wrote {summary.npz}: {summary.frames} frames of {summary.map_shape[0]}x"
        f"{summary.map_shape[1]} maps ({summary.model})"
        + (f"; overlay {summary.overlay}" if summary.overlay else "")
    )
    return 0


def _rd(args: argparse.Namespace) -> int:
    from perceptcodec.datasets import gaze_videos
    from perceptcodec.rd import RdConfig, bd_markdown, bd_table, load_results, run_rd

    videos = [v for spec in args.dataset for v in gaze_videos(spec)]
    configs = [RdConfig.parse(c) for c in args.configs]
    bitrates = [parse_bitrate(b) for b in args.bitrates.split(",")]
    out = Path(args.out)
    run_rd(videos, configs, bitrates, out, args.jobs, args.preset, not args.one_pass)
    rows = bd_table(load_results(sorted(out.glob("*__*.json"))))  # every run in the folder
    (out / "bd.json").write_text(json.dumps(rows, indent=1))
    (out / "bd.md").write_text(bd_markdown(rows))
    print(bd_markdown(rows), end="")
    print(f"results in {out} (plots: python eval/plot_rd.py {out})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from perceptcodec.saliency.vamnet import default_weights
    from perceptcodec.saliency.vamnet_onnx import export

    weights = Path(args.weights) if args.weights else default_weights()
    if not weights.exists():
        raise PerceptcodecError(f"{weights}: no VAM-Net weights to export")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise PerceptcodecError("exporting needs PyTorch: pip install torch==2.13.0") from exc
    for path in export(weights, Path(args.out) if args.out else weights.parent):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perceptcodec",
        description="Saliency-guided H.264 encoding (x264 + per-MB QP offsets).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="encode a video with saliency-guided QP offsets")
    enc.add_argument("input", help="any video FFmpeg reads")
    enc.add_argument("-o", "--output", help="output .mp4/.mkv (default: beside the input)")
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument(
        "--bitrate", default="300k", help="target rate, e.g. 300k, 1.5M (default 300k)"
    )
    rate.add_argument("--crf", type=float, help="constant rate factor instead of a bitrate")
    rate.add_argument("--qp", type=int, help="constant QP instead of a bitrate")
    enc.add_argument("--two-pass", action="store_true", help="2-pass ABR (same maps in both)")
    enc.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    enc.add_argument("--tune", help="x264 tune (e.g. film, psnr)")
    enc.add_argument("--keyint", type=int, default=0, help="max GOP length in frames (0: x264's)")
    enc.add_argument("--threads", type=int, default=0, help="x264 threads (0: auto)")
    enc.add_argument(
        "--saliency",
        default=DEFAULT_MODEL,
        help=f"saliency model: none (plain x264), prior, center, vamnet (default {DEFAULT_MODEL})",
    )
    enc.add_argument(
        "--strength",
        type=float,
        default=RoiSettings.strength,
        help=f"0..1 share of saliency in block weights (default {RoiSettings.strength})",
    )
    enc.add_argument(
        "--max-delta-qp",
        type=float,
        default=RoiSettings.max_delta_qp,
        help=f"clip of the QP offsets (default {RoiSettings.max_delta_qp})",
    )
    enc.add_argument(
        "--smoothing",
        type=float,
        default=RoiSettings.smoothing,
        help=f"temporal smoothing 0..1 of the offsets (default {RoiSettings.smoothing})",
    )
    enc.add_argument(
        "--saliency-stride", type=int, default=1,
        help="run the model on every k-th frame, interpolating maps in between (default 1)",
    )  # fmt: skip
    enc.add_argument(
        "--face-stride", type=int,
        help="frames between face detections, tracked in between (prior, vamnet; default 10)",
    )  # fmt: skip
    enc.add_argument(
        "--saliency-width", type=int,
        help="width in pixels the model works at (prior, vamnet; default 320)",
    )  # fmt: skip
    enc.add_argument(
        "--runtime",
        default="auto",
        choices=["auto", "onnx", "torch", "tensorrt"],
        help="how a trained model runs (default auto: onnx when exported)",
    )
    enc.add_argument("--force", action="store_true", help="overwrite an existing output")
    enc.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    enc.add_argument("--json", action="store_true", help="print the summary as JSON")
    enc.set_defaults(run=_encode)

    sal = sub.add_parser("saliency", help="write per-frame saliency maps (.npz) and an overlay")
    sal.add_argument("input")
    sal.add_argument("-o", "--output", required=True, help="maps file (.npz)")
    sal.add_argument("--overlay", help="also write a heat-map overlay video (.mp4)")
    sal.add_argument("--saliency", default=DEFAULT_MODEL, help=f"model (default {DEFAULT_MODEL})")
    sal.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch", "tensorrt"])
    sal.add_argument("--force", action="store_true", help="overwrite existing outputs")
    sal.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sal.set_defaults(run=_saliency)

    exp = sub.add_parser("export", help="export VAM-Net's per-frame step for other runtimes")
    exp.add_argument("format", choices=["onnx"])
    exp.add_argument("--weights", help="VAM-Net weights (default models/vamnet/vamnet.pt)")
    exp.add_argument("--out", help="folder (default: beside the weights)")
    exp.set_defaults(run=_export)

    rd = sub.add_parser("rd", help="rate-distortion curves with EWPSNR on real gaze, BD table")
    rd.add_argument(
        "dataset", nargs="+", help="dhf1k_0002, VIDEO:GAZE.csv, or a DHF1K/MVVA-layout folder"
    )
    rd.add_argument(
        "--configs",
        nargs="+",
        default=["none", DEFAULT_MODEL],
        help="none or model[:strength[:max_delta_qp]][:k=N][:fs=N][:w=N] (k: saliency stride, "
        "fs: face stride, w: working width; default: none prior)",
    )
    rd.add_argument(
        "--bitrates",
        default=",".join(map(str, PAPER_BITRATES_KBPS)),
        help="comma-separated kbit/s (default: the paper's)",
    )
    rd.add_argument("-j", "--jobs", type=int, default=1, help="video x config jobs at once")
    rd.add_argument("--preset", default="medium")
    rd.add_argument("--one-pass", action="store_true", help="1-pass ABR instead of 2-pass")
    rd.add_argument("--out", default="eval/results/rd", help="results folder")
    rd.set_defaults(run=_rd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except PerceptcodecError as exc:
        print(f"perceptcodec: error: {exc}", file=sys.stderr)
        return 1
    except av.error.FFmpegError as exc:  # a media problem the checks above did not name
        print(f"perceptcodec: error: FFmpeg: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("perceptcodec: interrupted; no output written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
