"""CC with gaze of a blend of the prior's and VAM-Net's maps, alpha * prior + (1 - alpha) *
vamnet, on the clip sets held out for both (``eval/results/default_model.md``): would a
prior that takes VAM-Net's map in help? Every model sees every frame; maps are scored on
every 5th frame against the gaze density (sigma 3.5 % of the width).

    nice .venv/bin/python eval/blend_cc.py      # eval/results/blend_cc.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eyecrowd_faces import CACHE  # noqa: E402
from proxy_clips import clip_list  # noqa: E402

from perceptcodec.datasets import read_gaze_csv  # noqa: E402
from perceptcodec.metrics import cc  # noqa: E402
from perceptcodec.saliency import get_model  # noqa: E402

SETS = {
    "osie stills (real gaze)": CACHE / "proxy_vamnet_held_out",
    "eyecrowd stills (real gaze)": CACHE / "proxy_vamnet_val_eyecrowd",
    "dialogues (gaze assumed on the talker)": CACHE / "dialogue",
}
ALPHAS = (1.0, 0.8, 0.6, 0.4, 0.0)


def main() -> None:
    out: dict[str, dict[str, float]] = {}
    for name, folder in SETS.items():
        scores: dict[float, list[float]] = {a: [] for a in ALPHAS}
        for video, table in clip_list(folder):
            gaze = read_gaze_csv(video, table)
            prior, vamnet = get_model("prior"), get_model("vamnet")
            ps, vs = prior.size_for(*gaze.size), vamnet.size_for(*gaze.size)
            with av.open(str(video)) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    a = prior(frame.to_ndarray(format="rgb24", width=ps[0], height=ps[1]), i / 25)
                    b = vamnet(frame.to_ndarray(format="rgb24", width=vs[0], height=vs[1]), i / 25)
                    density = gaze.density(i) if i % 5 == 0 else None
                    if density is None:
                        continue
                    b = cv2.resize(b, a.shape[::-1], interpolation=cv2.INTER_LINEAR)
                    b /= b.sum()
                    for alpha in ALPHAS:
                        scores[alpha].append(cc(alpha * a + (1 - alpha) * b, density))
        out[name] = {f"alpha {a}": round(float(np.mean(v)), 3) for a, v in scores.items()}
        print(name, out[name], flush=True)
    path = Path(__file__).parent / "results" / "blend_cc.json"
    path.write_text(json.dumps({"command": "python eval/blend_cc.py", "cc": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
