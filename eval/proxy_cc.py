"""CC (and NSS) of saliency maps with the viewers' gaze on the proxy clips
(``eval/proxy_clips.py``) and on DHF1K 0002, frame by frame, for the new prior, the old one
(``attention=0, motion_floor=0``) and the centre bias.

    nice .venv/bin/python eval/proxy_cc.py --out eval/results/attention/proxy_cc.md

Every model sees every frame (its temporal state runs as in an encode); maps are scored on
every ``--every``-th frame that has gaze, against the gaze density (sigma 3.5 % of the width,
as the RD evaluation's EWPSNR weights).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from eyecrowd_faces import CACHE
from proxy_clips import clip_list

from perceptcodec.datasets import read_dhf1k_0002, read_gaze_csv
from perceptcodec.metrics import cc, nss
from perceptcodec.saliency import get_model
from perceptcodec.saliency.options import CenterOptions, PriorOptions

MODELS = {
    "prior (new)": ("prior", PriorOptions()),
    "prior (old: att=0, mf=0, spk=0)": (
        "prior",
        PriorOptions(attention=0, motion_floor=0, speaker=0),
    ),
    "prior, centre-only background (ss=0)": ("prior", PriorOptions(static=0.0)),
    "prior, spectral-residual background (sn=0, ss=0.5)": (
        "prior",
        PriorOptions(static=0.5, static_net=0),
    ),
    "prior, speaker cue off (spk=0)": ("prior", PriorOptions(speaker=0)),
    "center": ("center", CenterOptions()),
}


def score(video: Path, gaze, every: int) -> dict[str, tuple[float, float]]:
    """{model: (mean CC, mean NSS)} over the scored frames of one video."""
    out = {}
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate or 25)
        w, h = stream.codec_context.width, stream.codec_context.height
    for label, (name, options) in MODELS.items():
        model = get_model(name, options)
        size = model.size_for(w, h)
        ccs, nsss = [], []
        with av.open(str(video)) as c:
            for i, frame in enumerate(c.decode(video=0)):
                sal = model(
                    frame.to_ndarray(format="rgb24", width=size[0], height=size[1]), i / fps
                )
                if i % every:
                    continue
                density = gaze.density(i)
                if density is None:
                    continue
                ccs.append(cc(sal, density))
                nsss.append(nss(sal, gaze.fix_map(i)))
        out[label] = (float(np.mean(ccs)), float(np.mean(nsss)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--models", nargs="+", choices=sorted(MODELS), help="a subset of the rows (default: all)"
    )
    args = parser.parse_args()
    if args.models:
        for label in set(MODELS) - set(args.models):
            del MODELS[label]
    videos = []
    for video, table in clip_list(CACHE / "proxy"):
        videos.append((video, read_gaze_csv(video, table)))
    dhf = read_dhf1k_0002()
    videos.append((dhf.video, dhf))
    head = "| video | " + " | ".join(f"{m} CC / NSS" for m in MODELS) + " |"
    lines = [head, "|---|" + "---|" * len(MODELS)]
    proxy_scores = []
    for video, gaze in videos:
        s = score(video, gaze, args.every)
        if video != dhf.video:
            proxy_scores.append(s)
        cells = " | ".join(f"{c:.3f} / {n:.2f}" for c, n in s.values())
        lines.append(f"| {video.stem} | {cells} |")
        print(lines[-1], flush=True)
    means = {m: np.mean([[s[m][0], s[m][1]] for s in proxy_scores], axis=0) for m in MODELS}
    cells = " | ".join(f"**{v[0]:.3f} / {v[1]:.2f}**" for v in means.values())
    lines.insert(2, f"| mean of {len(proxy_scores)} proxy clips | {cells} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = "nice .venv/bin/python " + shlex.join(sys.argv)
        args.out.write_text(
            f"`{command}`\n\nMean per-frame CC and NSS with the viewers' gaze (every "
            f"{args.every}th frame; density sigma 3.5 % of the width). Proxy clips: held-out "
            "EyeCrowd / OSIE stills with a slow zoom (eval/proxy_clips.py); 002 = DHF1K 0002 "
            "(no faces).\n\n" + text
        )


if __name__ == "__main__":
    main()
