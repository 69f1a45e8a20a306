"""Encode speed and memory of perceptual vs plain x264, measured in one run.

    python eval/bench_speed.py --sizes 720p --presets medium --models none prior

Source: a real clip (default: the Hamilton stage clip from ../shared/data) scaled to each size
and looped to --seconds, written once as a near-lossless intermediate under eval/.cache/.
Each encode runs in a fresh process (so peak RSS is its own); configurations alternate and
the best of --repeats is kept. Prints a table and writes JSON + Markdown under eval/results/.
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
from pathlib import Path

import av

from perceptcodec.paths import shared_data_dir

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
HERE = Path(__file__).resolve().parent


def make_source(src: Path, size: str, seconds: float, cache: Path) -> Path:
    """``src`` scaled to ``size`` and looped to ``seconds`` (x264 CRF 12, ultrafast)."""
    width, height = SIZES[size]
    out = cache / f"{src.stem}_{size}_{seconds:g}s.mkv"
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
        while written < total:
            with av.open(str(src)) as inp:
                for frame in inp.decode(video=0):
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts = written
                    for packet in stream.encode(scaled):
                        dst.mux(packet)
                    written += 1
                    if written >= total:
                        break
        for packet in stream.encode(None):
            dst.mux(packet)
    tmp.rename(out)
    return out


def _encode_child(args: dict, queue: mp.Queue) -> None:
    from perceptcodec.pipeline import encode

    with tempfile.TemporaryDirectory() as tmp:
        summary = encode(
            args["src"],
            Path(tmp) / "out.mp4",
            bitrate=args["bitrate"],
            preset=args["preset"],
            saliency=args["model"],
            progress=False,
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "fps": summary.encode_fps,
            "wall_s": summary.wall_s,
            "frames": summary.frames,
            "video_kbps": summary.video_kbps,
            "peak_rss_mb": rss_mb,
        }
    )


def measure(src: Path, model: str, preset: str, bitrate: str) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_encode_child,
        args=(dict(src=str(src), model=model, preset=preset, bitrate=bitrate), queue),
    )
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=shared_data_dir() / "video/talking/short_hamilton_clip.mp4"
    )
    parser.add_argument("--sizes", nargs="+", default=["720p"], choices=sorted(SIZES))
    parser.add_argument("--presets", nargs="+", default=["medium"])
    parser.add_argument("--models", nargs="+", default=["none", "prior"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bitrate", default="1000k")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "speed")
    args = parser.parse_args()
    if not args.source.exists():
        sys.exit(f"bench_speed: source clip {args.source} not found (give --source)")

    rows = []
    for size in args.sizes:
        src = make_source(args.source, size, args.seconds, HERE / ".cache")
        for preset in args.presets:
            best: dict[str, dict] = {}
            for _ in range(args.repeats):
                for model in args.models:  # alternate so drift hits every model alike
                    r = measure(src, model, preset, args.bitrate)
                    if model not in best or r["fps"] > best[model]["fps"]:
                        best[model] = r
            base = best.get("none", {}).get("fps")
            for model, r in best.items():
                row = {
                    "size": size,
                    "preset": preset,
                    "model": model,
                    **r,
                    "ratio_to_none": r["fps"] / base if base else None,
                }
                rows.append(row)
                print(
                    f"{size} {preset:9s} {model:8s} {r['fps']:6.1f} fps  "
                    f"x{row['ratio_to_none'] or 0:.2f} of none  RSS {r['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    meta = {
        "source": str(args.source),
        "seconds": args.seconds,
        "bitrate": args.bitrate,
        "repeats": args.repeats,
        "machine": f"{platform.machine()}, {mp.cpu_count()} cores",
        "command": " ".join(["python", "eval/bench_speed.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"Command: `{meta['command']}` ({meta['machine']}, {meta['date']})",
        "",
        "| size | preset | model | frames/s | ratio to none | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['preset']} | {r['model']} | {r['fps']:.1f} | "
            f"{r['ratio_to_none']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
