"""Encode speed, saliency-only speed and peak memory of perceptual vs plain x264, in one run.

    python eval/bench_speed.py                      # the full matrix below (~40 min, 2 cores)
    python eval/bench_speed.py --sizes 720p --presets medium --models none prior \\
        --memory-minutes                            # one cell, no memory runs
    python eval/bench_speed.py --only encode --codecs h264 hevc --sizes 720p \\
        --presets medium --models none prior        # HEVC (x265) beside H.264, encode rows only

Models are ``none``, ``prior``, ``center``, ``vamnet:RUNTIME`` (onnx, torch, tensorrt,
auto) or ``dave:RUNTIME`` (onnx, torch, auto; its default window stride 8), each optionally
with ``:k=N``, the saliency stride (default: the model's own), and options by their ``rd``
keys (``prior:fw=640``). Source: a real
clip (default: the Hamilton stage clip from ../shared/data) scaled to
each size and looped to --seconds, written once as a near-lossless intermediate under
eval/.cache/ (the long memory sources repeat its packets, no re-encode).

1. Encode frames/s for each size x preset x codec x model (ABR --bitrate, 1 pass): the best
   of --repeats, and the median over repeats of its ratio to the same codec's ``none`` run just
   before it (this machine's speed drifts by +/-10 % over minutes; back-to-back ratios drift
   much less); with several --codecs, also each row's ratio to the first codec's same model.
2. Saliency-only frames/s for each model at each size: resize to the model's input plus the
   model call, over --saliency-frames decoded frames held in memory.
3. Peak RSS of an encode of --memory-minutes of video at --memory-size.
Each measurement runs in a fresh process (so peak RSS is its own). A runtime that is not
usable here is listed with the reason. ``--only encode|saliency|memory`` runs just those rows.
Writes JSON + Markdown under eval/results/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from perceptcodec.paths import shared_data_dir

if TYPE_CHECKING:
    from perceptcodec.saliency.options import ModelOptions

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
HERE = Path(__file__).resolve().parent
DEFAULT_MODELS = ["none", "prior", "vamnet:onnx", "vamnet:torch", "vamnet:tensorrt", "dave:onnx"]


def make_source(src: Path, size: str, seconds: float, cache: Path, audio: bool = False) -> Path:
    """``src`` scaled to ``size`` and looped to ``seconds`` (x264 CRF 12, ultrafast); with
    ``audio``, the source's first audio track is copied (its first ``seconds`` only: models
    that listen, e.g. the prior's speaker cue, then run as they do on real videos)."""
    width, height = SIZES[size]
    out = cache / f"{src.stem}_{size}_{seconds:g}s{'_audio' if audio else ''}.mkv"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mkv")
    with av.open(str(src)) as probe:
        fps = probe.streams.video[0].average_rate
    total = int(round(seconds * fps))
    written = 0
    with av.open(str(tmp), "w") as dst:
        stream = dst.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        audio_in = av.open(str(src)) if audio else None
        if audio_in is not None:  # streams are all added before the first packet is muxed
            out_audio = dst.add_stream_from_template(audio_in.streams.audio[0])
        while written < total:
            with av.open(str(src)) as inp:
                for frame in inp.decode(video=0):
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    # in the stream's own time base: the source frame's (1/11988 for the
                    # Hamilton clip) rounded every pts to 0 ms in Matroska
                    scaled.pts, scaled.time_base = written, 1 / Fraction(fps)
                    for packet in stream.encode(scaled):
                        dst.mux(packet)
                    written += 1
                    if written >= total:
                        break
        for packet in stream.encode(None):
            dst.mux(packet)
        if audio_in is not None:
            in_audio = audio_in.streams.audio[0]
            for packet in audio_in.demux(in_audio):
                if packet.pts is None or packet.pts * in_audio.time_base > seconds:
                    continue
                packet.stream = out_audio
                dst.mux(packet)
            audio_in.close()
    tmp.rename(out)
    return out


def repeat_source(base: Path, times: int) -> Path:
    """``base`` (starting with a keyframe, no B-frames) repeated ``times`` times by remuxing its
    packets with shifted timestamps."""
    out = base.with_name(f"{base.stem}_x{times}.mkv")
    if out.exists():
        return out
    tmp = out.with_suffix(".part.mkv")
    with av.open(str(base)) as inp, av.open(str(tmp), "w") as dst:
        in_stream = inp.streams.video[0]
        stream = dst.add_stream_from_template(in_stream)
        packets = [p for p in inp.demux(in_stream) if p.size]
        span = max(p.pts for p in packets) + 1
        for k in range(times):
            for p in packets:
                copy = av.Packet(bytes(p))
                copy.pts, copy.dts = p.pts + k * span, p.dts + k * span
                copy.time_base, copy.stream, copy.is_keyframe = p.time_base, stream, p.is_keyframe
                dst.mux(copy)
    tmp.rename(out)
    return out


def _split(spec: str) -> tuple[str, str, int | None, ModelOptions | None]:
    """``MODEL[:RUNTIME][:k=STRIDE][:KEY=VALUE]...`` -> (model, runtime, saliency stride or
    None = default, the model's options or None = its defaults); KEY is a short option key as
    in ``rd`` configurations (``prior:fw=640``)."""
    from perceptcodec.saliency import model_entry
    from perceptcodec.saliency.options import option_keys, option_value

    name, *rest = spec.split(":")
    keyed = dict(p.split("=", 1) for p in rest if "=" in p)
    rest = [p for p in rest if "=" not in p]
    stride = int(keyed.pop("k")) if "k" in keyed else None
    options = None
    if keyed:
        options_type = model_entry(name).options
        keys = option_keys(options_type)
        given = {keys[k]: option_value(options_type, keys[k], v) for k, v in keyed.items()}
        options = options_type(**given)
    return name, (rest[0] if rest else "") or "auto", stride, options


def _encode_child(args: dict) -> dict:
    from perceptcodec.config import EncodeConfig, SaliencySpec
    from perceptcodec.encoder import Codec, RateControl, X264Options
    from perceptcodec.pipeline import encode

    name, runtime, stride, options = _split(args["model"])
    config = EncodeConfig(
        rate=RateControl.choose(args["bitrate"]),
        x264=X264Options(preset=args["preset"]),
        saliency=SaliencySpec(name, options, runtime=runtime, stride=stride),
        codec=Codec.parse(args.get("codec", "h264")),
    )
    with tempfile.TemporaryDirectory() as tmp:
        summary = encode(args["src"], Path(tmp) / "out.mp4", config, progress=False)
    return {
        "used": summary.saliency,
        "fps": summary.encode_fps,
        "wall_s": summary.wall_s,
        "frames": summary.frames,
        "video_kbps": summary.video_kbps,
    }


def _saliency_child(args: dict) -> dict:
    """Model-only throughput: frames decoded first, then resize + model call timed."""
    from perceptcodec.io.source import decode_video, probe
    from perceptcodec.saliency import get_model
    from perceptcodec.saliency.stream import small_rgb

    name, runtime, _, options = _split(args["model"])
    model = get_model(name, options, runtime=runtime)
    info = probe(args["src"])
    frames = [f for _, f in zip(range(args["frames"]), decode_video(args["src"]), strict=False)]
    size = model.size_for(info.width, info.height)
    model.reset()
    model(small_rgb(frames[0], size), 0.0)  # warm-up (session set-up, first allocations)
    t0 = time.perf_counter()
    for i, frame in enumerate(frames[1:], start=1):
        model(small_rgb(frame, size), i / 25)
    wall = time.perf_counter() - t0
    return {
        "used": f"{name} ({getattr(model, 'runtime', 'cpu')})",
        "fps": (len(frames) - 1) / wall,
        "frames": len(frames) - 1,
    }


def _child(job: str, args: dict, queue: mp.Queue) -> None:
    try:
        result = {"encode": _encode_child, "saliency": _saliency_child}[job](args)
    except Exception as exc:  # a runtime not usable here: reported, not fatal
        result = {"error": str(exc).splitlines()[0]}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def in_child(job: str, **args: object) -> dict:
    """Run one measurement in a fresh process and return its result dict."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(job, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _log(kind: str, row: dict) -> None:
    if "error" in row:
        print(f"{kind}: {row['size']} {row['model']}: not measured: {row['error']}", flush=True)
        return
    extra = f" x{row['ratio_to_none']:.2f} of none" if row.get("ratio_to_none") else ""
    codec = f" {row['codec']}" if "codec" in row else ""
    print(
        f"{kind}: {row['size']} {row.get('preset', '')}{codec} {row['model']} "
        f"{row['fps']:.1f} fps{extra} RSS {row['peak_rss_mb']:.0f} MB",
        flush=True,
    )


def encode_rows(args: argparse.Namespace, sources: dict[str, Path]) -> list[dict]:
    """Per size x preset: every codec x model once per repeat, back to back, so each repeat
    gives a ratio to that codec's ``none`` (and to the first codec's same model) measured under
    the same machine conditions; the row keeps the best frames/s and the medians of those
    per-repeat ratios."""
    rows = []
    cells = [(c, m) for c in args.codecs for m in args.models]
    for size, src in sources.items():
        for preset in args.presets:
            runs: dict[tuple[str, str], list[dict]] = {cell: [] for cell in cells}
            for _ in range(args.repeats):
                for codec, model in cells:
                    done = runs[(codec, model)]
                    if done and "error" in done[0]:
                        continue
                    done.append(
                        in_child(
                            "encode",
                            src=str(src),
                            model=model,
                            preset=preset,
                            bitrate=args.bitrate,
                            codec=codec,
                        )
                    )
            for (codec, model), results in runs.items():
                best = max(results, key=lambda r: r.get("fps", 0.0))
                row = {"size": size, "preset": preset, "model": model, **best}
                if len(args.codecs) > 1:
                    row["codec"] = codec
                first = args.codecs[0]
                for key, other in (
                    ("none", runs.get((codec, "none"))),
                    (first, runs.get((first, model))),
                ):
                    if "fps" not in best or not other or other is results:
                        continue
                    if len(other) != len(results) or any("fps" not in o for o in other):
                        continue
                    ratios = [r["fps"] / o["fps"] for r, o in zip(results, other, strict=True)]
                    row[f"ratios_to_{key}"] = ratios
                    row[f"ratio_to_{key}"] = float(np.median(ratios))
                rows.append(row)
                _log("encode", row)
    return rows


def saliency_rows(args: argparse.Namespace, sources: dict[str, Path]) -> list[dict]:
    rows = []
    for size, src in sources.items():
        for model in (m for m in args.models if m != "none"):
            r = in_child("saliency", src=str(src), model=model, frames=args.saliency_frames)
            rows.append({"size": size, "model": model, **r})
            _log("saliency", rows[-1])
    return rows


def memory_rows(args: argparse.Namespace) -> list[dict]:
    base = make_source(args.source, args.memory_size, args.seconds, HERE / ".cache")
    rows = []
    for minutes in args.memory_minutes:
        src = repeat_source(base, max(1, round(minutes * 60 / args.seconds)))
        for model in args.memory_models:
            r = in_child(
                "encode", src=str(src), model=model, preset=args.memory_preset, bitrate=args.bitrate
            )
            rows.append(
                {
                    "size": args.memory_size,
                    "preset": args.memory_preset,
                    "minutes": minutes,
                    "model": model,
                    **r,
                }
            )
            _log(f"memory {minutes:g} min", rows[-1])
    return rows


def markdown(meta: dict, enc: list[dict], sal: list[dict], mem: list[dict]) -> str:
    def cell(r: dict, key: str, fmt: str) -> str:
        return format(r[key], fmt) if r.get(key) is not None else "-"

    def ratio(r: dict, key: str = "none") -> str:
        if r.get(f"ratio_to_{key}") is None:
            return "-"
        low, high = min(r[f"ratios_to_{key}"]), max(r[f"ratios_to_{key}"])
        return f"{r[f'ratio_to_{key}']:.2f} ({low:.2f}-{high:.2f})"

    def used(r: dict) -> str:
        return f"not usable here: {r['error']}" if "error" in r else r["used"]

    lines = [f"Command: `{meta['command']}` ({meta['machine']}, {meta['date']})", ""]
    codecs = meta.get("codecs", ["h264"])
    if enc and len(codecs) > 1:
        first = codecs[0]
        lines += [
            "Encode (1-pass ABR, whole pipeline: decode, saliency, x264/x265, mux); "
            "frames/s: best of the repeats; ratios: medians over repeats of back-to-back "
            "ratios (range in brackets), to the same codec's none and to the same model "
            f"on {first}:",
            "",
            "| size | preset | codec | model | runtime used | frames/s | ratio to none | "
            f"ratio to {first} | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in enc:
            lines.append(
                f"| {r['size']} | {r['preset']} | {r['codec']} | {r['model']} | {used(r)} | "
                f"{cell(r, 'fps', '.1f')} | {ratio(r)} | {ratio(r, first)} | "
                f"{cell(r, 'peak_rss_mb', '.0f') if 'error' not in r else '-'} |"
            )
    elif enc:
        lines += [
            "Encode (1-pass ABR, whole pipeline: decode, saliency, x264, mux); frames/s: "
            "best of the repeats; ratio: median over repeats of back-to-back ratios "
            "(range in brackets):",
            "",
            "| size | preset | model | runtime used | frames/s | ratio to none | peak RSS MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in enc:
            lines.append(
                f"| {r['size']} | {r['preset']} | {r['model']} | {used(r)} | "
                f"{cell(r, 'fps', '.1f')} | {ratio(r)} | "
                f"{cell(r, 'peak_rss_mb', '.0f') if 'error' not in r else '-'} |"
            )
    if sal:
        lines += [
            "",
            "Saliency only (resize to the model's input + model, frame by frame):",
            "",
            "| size | model | runtime used | frames/s |",
            "|---|---|---|---|",
        ]
        for r in sal:
            lines.append(f"| {r['size']} | {r['model']} | {used(r)} | {cell(r, 'fps', '.1f')} |")
    if mem:
        lines += [
            "",
            "Peak memory with video length:",
            "",
            "| size | preset | minutes | frames | model | frames/s | peak RSS MB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in mem:
            lines.append(
                f"| {r['size']} | {r['preset']} | {r['minutes']:g} | "
                f"{cell(r, 'frames', 'd')} | {r['model']} | {cell(r, 'fps', '.1f')} | "
                f"{cell(r, 'peak_rss_mb', '.0f')} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=shared_data_dir() / "video/talking/short_hamilton_clip.mp4"
    )
    parser.add_argument("--sizes", nargs="+", default=["720p", "1080p"], choices=sorted(SIZES))
    parser.add_argument("--presets", nargs="+", default=["medium", "veryfast"])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument(
        "--codecs", nargs="+", default=["h264"], choices=["h264", "hevc"], help="encode rows"
    )
    parser.add_argument(
        "--only", choices=["encode", "saliency", "memory"], help="run just these rows"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--audio", action="store_true", help="keep the source's audio track")
    parser.add_argument("--bitrate", default="1000k")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--saliency-frames", type=int, default=200)
    parser.add_argument("--memory-minutes", nargs="*", type=float, default=[1, 10])
    parser.add_argument("--memory-size", default="1080p", choices=sorted(SIZES))
    parser.add_argument("--memory-preset", default="medium")
    parser.add_argument("--memory-models", nargs="+", default=["none", "prior"])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed")
    args = parser.parse_args()
    if not args.source.exists():
        sys.exit(f"bench_speed: source clip {args.source} not found (give --source)")

    cache = HERE / ".cache"
    sources = {s: make_source(args.source, s, args.seconds, cache, args.audio) for s in args.sizes}
    enc = encode_rows(args, sources) if args.only in (None, "encode") else []
    sal = saliency_rows(args, sources) if args.only in (None, "saliency") else []
    mem = memory_rows(args) if args.memory_minutes and args.only in (None, "memory") else []
    meta = {
        "source": str(args.source),
        "seconds": args.seconds,
        "audio": args.audio,
        "bitrate": args.bitrate,
        "repeats": args.repeats,
        "codecs": args.codecs,
        "machine": f"{platform.machine()}, {mp.cpu_count()} cores",
        "command": " ".join(["python", "eval/bench_speed.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"meta": meta, "encode": enc, "saliency_only": sal, "memory": mem}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(meta, enc, sal, mem))
    print(f"wrote {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
