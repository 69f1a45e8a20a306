"""Interleaved in-process A/B of encode speed: plain x264, a constant box map (the cost of
coding with QP offsets alone, no model), and the default prior at saliency stride 1 and 2.

Each round encodes the same source once per configuration, in turn, in this one process (model
start-up included), so slow drifts of the machine hit every configuration alike. Ratios:
plain x264's time over the configuration's, median over rounds and best time over best time.

    python eval/speed_ab.py --rounds 4 --out eval/results/speed_ab.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from media import BoxSaliency  # noqa: E402

from perceptcodec.config import EncodeConfig, SaliencySpec  # noqa: E402
from perceptcodec.encoder import RateControl  # noqa: E402
from perceptcodec.pipeline import encode  # noqa: E402

CONFIGS = {
    "none": lambda: SaliencySpec("none"),
    "box (offsets only)": lambda: SaliencySpec(BoxSaliency((0.25, 0.25, 0.75, 0.75))),
    "prior": lambda: SaliencySpec("prior"),
    "prior, stride 2": lambda: SaliencySpec("prior", stride=2),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=HERE / ".cache" / "short_hamilton_clip_720p_30s.mkv",
        help="made by eval/bench_speed.py --sizes 720p --seconds 30",
    )
    parser.add_argument("--bitrate", default="1000k")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    times: dict[str, list[float]] = {k: [] for k in CONFIGS}
    for _ in range(args.rounds):
        for name, spec in CONFIGS.items():
            config = EncodeConfig(rate=RateControl.choose(bitrate=args.bitrate), saliency=spec())
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                encode(args.source, Path(tmp) / "out.mp4", config, progress=False)
                times[name].append(time.perf_counter() - t0)
    base = np.array(times["none"])
    result = {
        "command": "python " + " ".join(sys.argv),
        "seconds": times,
        "ratio_median": {k: float(np.median(base / np.array(v))) for k, v in times.items()},
        "ratio_best": {k: float(base.min() / min(v)) for k, v in times.items()},
    }
    print(json.dumps({k: result[k] for k in ("ratio_median", "ratio_best")}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
