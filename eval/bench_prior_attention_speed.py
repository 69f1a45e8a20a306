"""CPU milliseconds per frame (process time: the machine is shared) of the ``prior`` model
with and without face attention, on real frames resized as the pipeline does (working width
320), one thread, timed back to back. The default model runs ``ActiveSpeaker`` only with sound:
it gets a low-level noise window here so its cost shows.

    nice .venv/bin/python eval/bench_prior_attention_speed.py --out eval/results/attention/speed.md

Configurations: the old prior (``attention=0, motion_floor=0``), the new one without the
speaker model (``speaker=0``) and the new default (speaker model when installed). Each clip's
frames are decoded once into memory; every configuration then runs over them ``--repeats``
times (after a warm-up pass) and the median pass is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import av
import numpy as np

from perceptcodec.paths import shared_data_dir
from perceptcodec.saliency.options import PriorOptions
from perceptcodec.saliency.prior import PriorSaliency

CLIPS = {
    "Zhling 1280x720 (codec_seq, 1 face)": "video/codec_seq/Zhling_1280x720.264",
    "hamilton 640x360 (stage, several faces)": "video/talking/short_hamilton_clip.mp4",
    "crowd 1920x1080 (many small faces)": "video/talking/crowd_1080p.mp4",
}
CONFIGS = {
    "old prior (att=0, mf=0)": PriorOptions(attention=0, motion_floor=0),
    "new prior, no speaker (spk=0)": PriorOptions(speaker=0),
    "new prior (default)": PriorOptions(),
}


def frames(path: Path, count: int) -> tuple[list[np.ndarray], float]:
    """Up to ``count`` RGB frames at the model's working size, and the frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        w, h = stream.codec_context.width, stream.codec_context.height
        size = PriorSaliency(PriorOptions(speaker=0)).size_for(w, h)
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
            if len(out) >= count:
                break
    return out, fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = [
        "| clip | " + " | ".join(CONFIGS) + " |",
        "|---|" + "---|" * len(CONFIGS),
    ]
    for label, rel in CLIPS.items():
        clip, fps = frames(shared_data_dir() / rel, args.frames)
        cells = []
        for options in CONFIGS.values():
            model = PriorSaliency(options)
            audio = None
            if model.audio_rate:
                n = int(model.audio_rate * model.audio_window_s)
                audio = (0.01 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
            passes = []
            for r in range(args.repeats + 1):
                model.reset()
                t0 = time.process_time()
                for i, rgb in enumerate(clip):
                    model(rgb, i / fps, audio)
                if r:
                    passes.append((time.process_time() - t0) / len(clip) * 1000)
            cells.append(f"{statistics.median(passes):.2f}")
        lines.append(f"| {label}, {len(clip)} frames | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        command = "nice .venv/bin/python eval/bench_prior_attention_speed.py --out " + str(args.out)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            f"`OMP_NUM_THREADS=1 {command}`\n\nCPU ms per frame (process time, median of "
            f"{args.repeats} passes, working width 320; face detection every 10 frames "
            "included; the default column runs ActiveSpeaker on a noise audio window). The "
            "machine was heavily loaded by other jobs (load average 20-25 on 2 cores), which "
            "inflates every figure: compare the columns, not with an idle machine.\n\n" + text
        )
    print(text)


if __name__ == "__main__":
    main()
