"""Throughput of ``perceptcodec rd --engine ray`` with 1 and 2 workers here, seconds per point
per resolution, and what DHF1K's 1,000 videos x 4 configurations x 9 bitrates would take.

    python eval/ray_scaling.py --out eval/results/ray_scaling

Material: the first ``--frames`` frames of the shared DHF1K 0002 (640x360, with its viewers'
gaze as a CSV) and the same frames scaled to 1280x720, written to eval/.cache/ray_scaling/.
Each throughput run starts its own Ray here (``num_cpus`` 1, then 2) on an empty results
folder and computes every point (2-pass ABR, preset medium, the default configurations
``none`` and ``prior``). Writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from perceptcodec.datasets import read_dhf1k_0002, read_gaze_csv
from perceptcodec.distributed import EngineKind, EngineOptions
from perceptcodec.evaluation import RdConfig, RdSettings
from perceptcodec.evaluation.engine import run_points

CACHE = Path("eval/.cache/ray_scaling")
# DHF1K (Wang et al., CVPR 2018): 1,000 videos, 582,605 frames, 640x360, 30 fps.
DHF1K_VIDEOS, DHF1K_FRAMES = 1000, 582_605
CONFIGS, BITRATES = 4, 9
# An assumed cloud machine for the cost line: 16 vCPU, USD per hour on demand (AWS c7i.4xlarge,
# us-east-1 list price; change it to yours).
MACHINE_VCPU, MACHINE_USD_H = 16, 0.714


def make_clip(frames: int, size: tuple[int, int]) -> Path:
    """The first ``frames`` frames of DHF1K 0002 at ``size`` (x264 CRF 10, near lossless)
    with its gaze (scaled) as frame,x,y,subject CSV."""
    src = read_dhf1k_0002()
    w, h = size
    video = CACHE / f"dhf1k_0002_{frames}f_{w}x{h}.mp4"
    table = video.with_suffix(".csv")
    if not video.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with av.open(str(src.video)) as inp, av.open(str(video), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": "10", "preset": "fast"}
            for i, frame in enumerate(inp.decode(video=0)):
                if i >= frames:
                    break
                f = frame.reformat(width=w, height=h, format="yuv420p")
                f.pts = i
                out.mux(stream.encode(f))
            out.mux(stream.encode(None))
    fix = src.fixations[src.fixations[:, 2] < frames]
    sx, sy = w / src.size[0], h / src.size[1]
    rows = "".join(f"{int(t)},{x * sx:.2f},{y * sy:.2f},s{int(s)}\n" for x, y, t, s in fix)
    table.write_text("frame,x,y,subject\n" + rows)
    return video


def timed_run(video, configs, bitrates, settings, engine) -> dict:
    """One run on an empty folder. With Ray, Ray is started first (its start-up timed
    apart: ``startup_s``) and stopped after."""
    out = Path(tempfile.mkdtemp(prefix="rdscale-"))
    startup = 0.0
    try:
        if engine.kind is EngineKind.RAY:
            import ray

            t0 = time.monotonic()
            ray.init(num_cpus=engine.jobs, include_dashboard=False, log_to_driver=False)
            startup = time.monotonic() - t0
        t0 = time.monotonic()
        report = run_points([video], configs, bitrates, out, settings, engine, log=lambda _: None)
        wall = time.monotonic() - t0
        files = sorted(out.glob("*__*.json"))
        points = [p for f in files for p in json.loads(f.read_text())["points"]]
        json_bytes = sum(f.stat().st_size for f in files)
    finally:
        shutil.rmtree(out)
        if engine.kind is EngineKind.RAY:
            import ray

            ray.shutdown()
    assert report.done == len(configs) * len(bitrates) and not report.failed, report
    return {
        "engine": engine.describe(),
        "points": report.done,
        "startup_s": round(startup, 1),
        "wall_s": round(wall, 1),
        "points_per_min": round(60 * report.done / wall, 2),
        "mean_encode_s": round(float(np.mean([p["encode_s"] for p in points])), 2),
        "json_bytes_per_point": round(json_bytes / len(points)),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("eval/results/ray_scaling"))
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--bitrates", default="150,300,600,1000")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count")
    parser.add_argument(
        "--md-only", action="store_true", help="rewrite OUT.md from OUT.json, run nothing"
    )
    args = parser.parse_args()
    if args.md_only:
        result = json.loads(args.out.with_suffix(".json").read_text())
        command = result.get("command", f"eval/ray_scaling.py --out {args.out}")
        args.out.with_suffix(".md").write_text(markdown(result, command))
        return
    os.environ.setdefault("RAY_DISABLE_IMPORT_WARNING", "1")
    settings = RdSettings()  # medium, 2-pass: as the paper's figure
    configs = [RdConfig.parse("none"), RdConfig.parse("prior")]
    bitrates = [int(b) for b in args.bitrates.split(",")]
    sd = make_clip(args.frames, (640, 360))
    hd = make_clip(args.frames, (1280, 720))
    gaze_sd = read_gaze_csv(sd, sd.with_suffix(".csv"))
    gaze_hd = read_gaze_csv(hd, hd.with_suffix(".csv"))
    load_before = [round(x, 2) for x in os.getloadavg()]

    runs = {}
    local = timed_run(gaze_sd, configs, bitrates, settings, EngineOptions())
    runs["local_1"] = local
    print(local)
    tries: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both
        for cpus in (1, 2):
            engine = EngineOptions(kind=EngineKind.RAY, jobs=cpus)
            tries[cpus].append(timed_run(gaze_sd, configs, bitrates, settings, engine))
            print(tries[cpus][-1])
    for cpus, done in tries.items():  # the median run by wall time
        runs[f"ray_{cpus}"] = sorted(done, key=lambda r: r["wall_s"])[len(done) // 2]
        runs[f"ray_{cpus}"]["all_wall_s"] = [r["wall_s"] for r in done]
    hd_run = timed_run(gaze_hd, configs, bitrates[1:2], settings, EngineOptions())
    print(hd_run)

    s_per_point_sd = runs["local_1"]["wall_s"] / runs["local_1"]["points"]
    s_per_point_hd = hd_run["wall_s"] / hd_run["points"]
    core_s_per_frame = 2 * runs["ray_2"]["wall_s"] / runs["ray_2"]["points"] / args.frames
    src_bytes_per_frame = read_dhf1k_0002().video.stat().st_size / 783
    frames_per_video = DHF1K_FRAMES / DHF1K_VIDEOS
    tasks = DHF1K_VIDEOS * CONFIGS * BITRATES
    core_h = tasks * core_s_per_frame * frames_per_video / 3600
    video_bytes = src_bytes_per_frame * frames_per_video
    gaze_bytes = len(pickle.dumps(read_dhf1k_0002())) * frames_per_video / 783
    json_bytes = runs["ray_2"]["json_bytes_per_point"]
    machines = {}
    for n in (1, 4, 16, 64):
        wall_h = core_h / (n * MACHINE_VCPU)
        machines[n] = {"wall_h": round(wall_h, 1), "usd": round(n * wall_h * MACHINE_USD_H, 0)}
    estimate = {
        "tasks": tasks,
        "frames_per_video": round(frames_per_video),
        "core_s_per_frame": round(core_s_per_frame, 4),
        "core_s_per_task": round(core_s_per_frame * frames_per_video, 1),
        "core_hours": round(core_h, 0),
        "bytes_read_shared_path": round(tasks * video_bytes),
        "bytes_object_store_per_node_max": round(DHF1K_VIDEOS * (video_bytes + gaze_bytes)),
        "bytes_gaze_args": round(DHF1K_VIDEOS * gaze_bytes),
        "bytes_results_json": round(tasks * json_bytes),
        "machine": f"{MACHINE_VCPU} vCPU at {MACHINE_USD_H} USD/h (assumed)",
        "machines": machines,
    }
    result = {
        "command": " ".join(sys.argv),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "clip": {
            "frames": args.frames,
            "bitrates_kbps": bitrates,
            "preset": "medium",
            "two_pass": True,
            "configs": ["none", "prior"],
        },  # fmt: skip
        "loadavg_before": load_before,
        "runs": runs,
        "s_per_point": {"640x360": round(s_per_point_sd, 2), "1280x720": round(s_per_point_hd, 2)},
        "hd_run": hd_run,
        "dhf1k_estimate": estimate,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result, result["command"]))
    print(json.dumps(result, indent=1))


def markdown(r: dict, command: str) -> str:
    """The measurements and the estimate as Markdown, with the command that made them."""
    e, clip = r["dhf1k_estimate"], r["clip"]
    gb = 1e9
    lines = [
        "# RD on Ray: throughput here and an estimate for DHF1K",
        "",
        f"Made with `python {command}` (this file is written by the script; numbers in "
        "`ray_scaling.json`).",
        "",
        f"Host: {r['host']['cpus']} CPUs, **shared with other sessions and loaded**: load "
        f"average {r['loadavg_before']} (1/5/15 min) before the runs, each run's after it "
        "below. Read the ratios as rough.",
        "",
        f"Clip: the first {clip['frames']} frames of DHF1K 0002 (640x360) with its viewers' "
        f"gaze; configurations {', '.join(clip['configs'])} x bitrates {clip['bitrates_kbps']} "
        "kbit/s, 2-pass ABR, preset medium: every point encodes twice (2 passes), decodes and "
        "scores PSNR/SSIM/EWPSNR.",
        "",
        "Ray rows: the median of the repeated runs (1 and 2 workers interleaved); every run's "
        "wall time in the last column.",
        "",
        "| engine | points | start-up s | wall s | points/min | mean encode s | load after | "
        "all runs' wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in r["runs"].values():
        lines.append(
            f"| {run['engine']} | {run['points']} | {run['startup_s']} | {run['wall_s']} | "
            f"{run['points_per_min']} | {run['mean_encode_s']} | {run['loadavg_after']} | "
            f"{run.get('all_wall_s', '-')} |"
        )
    one, two = r["runs"]["ray_1"], r["runs"]["ray_2"]
    lines += [
        "",
        f"2 workers vs 1: {two['points_per_min'] / one['points_per_min']:.2f}x the points per "
        "minute. On this 2-core machine x264 already threads across both cores inside one "
        "worker; a second worker can only overlap the single-threaded decode and scoring, and "
        "the other sessions' load decides how much CPU is free, so this ratio says little "
        "about scaling on idle nodes. Points are independent and the driver only merges "
        "~800-byte results, so on a cluster throughput grows with the workers that have "
        "cores of their own."
        " Ray's start-up is outside the wall time (column start-up).",
        "",
        f"Seconds per point (wall, local engine, one process, {clip['frames']} frames): "
        + ", ".join(f"{k}: {v} s" for k, v in r["s_per_point"].items())
        + " (1280x720: the same frames scaled up, configurations none and prior at "
        f"{clip['bitrates_kbps'][1]} kbit/s). Most of a point is not the encode (mean encode "
        "column: both passes) but decoding both videos and scoring them (SSIM and the "
        "per-frame gaze density at full resolution), which is single-threaded.",
        "",
        "## DHF1K: 1,000 videos x 4 configurations x 9 bitrates",
        "",
        f"- Tasks: **{e['tasks']:,}** Ray tasks (one per point, each 2 encodes + scoring).",
        f"- Work: {e['core_s_per_frame']} core-seconds per frame per point, measured above "
        f"(2 cores x the 2-worker wall time / points / frames); DHF1K averages "
        f"{e['frames_per_video']} frames per video (582,605 frames over 1,000 videos, 640x360), "
        f"so {e['core_s_per_task']} core-s per task and **{e['core_hours']:,.0f} core-hours** in "
        "all. Our cores are shared and loaded; a quiet server core is likely faster, so this "
        "errs high.",
        f"- Data moved, `--ship path`: every task reads its video from the shared file system: "
        f"{e['bytes_read_shared_path'] / gb:.1f} GB of reads (36 reads per video; page caches "
        f"absorb most when a node runs several points of one video). `--ship object-store`: "
        f"each video is put once ({e['bytes_object_store_per_node_max'] / gb:.2f} GB for all "
        "1,000 with their gaze) and pulled at most once per node that runs one of its points.",
        f"- Arguments: the gaze of each video goes into the object store once "
        f"({e['bytes_gaze_args'] / gb:.3f} GB for all videos); results back to the driver: "
        f"{e['bytes_results_json'] / 1e6:.0f} MB of JSON (~"
        f"{r['runs']['ray_2']['json_bytes_per_point']} bytes per point). `--out` holds 4,000 "
        "files (one per video x configuration).",
        f"- Machines: {e['machine']}; wall time = core-hours / (N x vCPU), assuming tasks keep "
        "every vCPU busy (36,000 tasks is far more than any N below, so the tail is short):",
        "",
        "| machines N | wall time (h) | cost (USD) |",
        "|---|---|---|",
    ]
    for n, m in e["machines"].items():
        lines.append(f"| {n} | {m['wall_h']} | {m['usd']:.0f} |")
    lines += [
        "",
        "The cost does not depend on N (the same core-hours), only the wall time does; add Ray's "
        "start-up per node (seconds) and the time to copy DHF1K to the shared file system. The "
        "price is an assumption (on-demand list price of a 16-vCPU x86 instance); spot "
        "instances cost about a third, and Ray's retries cover their preemption.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
