"""Where the prior loses to the viewers' own map: which face, where inside the faces, or the
background. Each step replaces one part of the default prior's map by the viewers' own:

- ``prior``: the default prior, as shipped;
- ``pick``: each detected face gets the viewers' share of fixations on it (and the background
  what falls on no face), drawn with the prior's eye / nose-mouth / around template, the
  background spread as the prior spreads it: a perfect choice of face;
- ``inside``: as ``pick``, but each face's share spread as the viewers' own density inside the
  face (its box widened by ``MARGIN`` box widths a side): the choice and the layout inside;
- ``outside``: the prior's own face shares and template, but the background share spread as
  the viewers' density off the faces: what else people look at, alone;
- ``gaze``: the viewers' own map (``encode --saliency clip.csv``), the upper bound.

Every map is computed as ``encode`` computes the prior's (stride 2, the maps between
interpolated), written to an ``.npz`` and encoded with ``--saliency maps.npz``, so the steps
differ only in the map. 1-pass ABR, preset medium, 50-400 kbit/s; BD against ``--saliency
none`` on the coded Y plane, EWPSNR weighted by the same fixations (sigma 3.5 % of the width).

    nice .venv/bin/python eval/gap_decomposition.py --clips eval/.cache/proxy \
        --out eval/results/rd/gap_decomposition
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eyecrowd_faces import CACHE  # noqa: E402
from fit_attention import in_grown_boxes  # noqa: E402
from proxy_clips import clip_list  # noqa: E402
from proxy_oracle import bd_table, curve  # noqa: E402

from perceptcodec.datasets import read_gaze_csv  # noqa: E402
from perceptcodec.datasets.gaze import PointVideoGaze  # noqa: E402
from perceptcodec.io.sink import work_dir  # noqa: E402
from perceptcodec.io.source import decode_video, probe  # noqa: E402
from perceptcodec.metrics.bjontegaard import bd_quality  # noqa: E402
from perceptcodec.metrics.quality import gaussian_fixation_map  # noqa: E402
from perceptcodec.saliency import model_entry  # noqa: E402
from perceptcodec.saliency.attention import AttentionWeights  # noqa: E402
from perceptcodec.saliency.base import normalise_map  # noqa: E402
from perceptcodec.saliency.faces import Track  # noqa: E402
from perceptcodec.saliency.prior import DENSITY_SIGMA_FRAC, PriorSaliency  # noqa: E402
from perceptcodec.saliency.stream import saliency_maps  # noqa: E402

MAPS = ("prior", "pick", "inside", "outside")
VARIANTS = (*MAPS, "gaze")
MARGIN = 0.25  # a face's fixations: inside its box widened by this many box widths a side


class _Given:
    """Stands in for the prior's FaceAttention: returns the shares it was given."""

    def __init__(self, weights: AttentionWeights, shares: dict[int, float], background: float):
        self.weights = weights
        self.result = shares, background

    def __call__(self, *args: object) -> tuple[dict[int, float], float]:
        return self.result


def owners(points: np.ndarray, tracks: list[Track]) -> np.ndarray:
    """Index of the track each (x, y) point (K x 2, working-frame pixels) falls on, -1 for
    none: inside the box widened by MARGIN box widths a side, the nearest centre if several."""
    if not tracks or not len(points):
        return np.full(len(points), -1)
    boxes = np.array([tr.box[:4] for tr in tracks], np.float64)
    inside = in_grown_boxes(points, boxes, MARGIN * (boxes[:, 2] - boxes[:, 0]))
    x, y = points[:, :1], points[:, 1:2]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    dist = np.where(inside, np.hypot(x - cx, y - cy), np.inf)
    return np.where(inside.any(axis=1), dist.argmin(axis=1), -1)


class ViewerParts(PriorSaliency):
    """The default prior with one part of its map taken from the viewers' fixations."""

    def __init__(self, variant: str, gaze: PointVideoGaze, fps: float) -> None:
        super().__init__(model_entry("prior").options())
        self.variant, self.gaze, self.fps = variant, gaze, fps

    def _attention_map(self, rgb, sharp, t, speaking, tracks, raw_motion, motion, center, grid):
        parent = super()._attention_map
        h, w = rgb.shape[:2]
        points = self.gaze.points(round(t * self.fps))[:, :2] * (w / self.gaze.size[0])
        if self.variant == "prior" or not len(points):
            return parent(rgb, sharp, t, speaking, tracks, raw_motion, motion, center, grid)
        real, weights = self.attention, self.attention.weights
        owner = owners(points, tracks)
        viewers = {tr.id: float(np.mean(owner == i)) for i, tr in enumerate(tracks)}
        off = float(np.mean(owner < 0))
        scale = np.array([grid[1] / w, grid[0] / h])
        sigma = DENSITY_SIGMA_FRAC * grid[1]

        def density(chosen: np.ndarray) -> np.ndarray:
            return normalise_map(gaussian_fixation_map(points[chosen] * scale, grid, sigma))

        try:
            if self.variant == "pick":
                self.attention = _Given(weights, viewers, off)
                return parent(rgb, sharp, t, speaking, tracks, raw_motion, motion, center, grid)
            if self.variant == "inside":
                self.attention = _Given(weights, {}, 1.0)
                back = parent(rgb, sharp, t, speaking, tracks, raw_motion, motion, center, grid)
                faces = density(owner >= 0) if off < 1 else 0.0
                return normalise_map((1 - off) * faces + off * back)
            shares, background = real(tracks, (h, w), t, raw_motion, speaking)
            self.attention = _Given(weights, shares, 0.0)
            faces = parent(rgb, sharp, t, speaking, tracks, raw_motion, motion, center, grid)
            back = density(owner < 0) if off > 0 else faces
            return normalise_map((1 - background) * faces + background * back)
        finally:
            self.attention = real


def write_maps(video: Path, gaze: PointVideoGaze, variant: str, path: Path) -> None:
    """The variant's maps for every frame of ``video`` (frames x h x w) as ``path`` (.npz)."""
    info = probe(video)
    model = ViewerParts(variant, gaze, float(info.fps))
    stride = model_entry("prior").stride
    maps = [sal for _, _, sal in saliency_maps(decode_video(video), model, info, stride=stride)]
    np.savez_compressed(path, saliency=np.stack(maps).astype(np.float32))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=CACHE / "proxy")
    parser.add_argument("--out", type=Path, default=Path("eval/results/rd/gap_decomposition"))
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    curves: dict[str, dict] = {}
    started = time.monotonic()
    for video, table in clip_list(args.clips):
        gaze = read_gaze_csv(video, table)
        with work_dir() as tmp:
            found = {"none": curve(video, gaze, "none"), "gaze": curve(video, gaze, str(table))}
            for variant in MAPS:
                write_maps(video, gaze, variant, tmp / f"{variant}.npz")
                found[variant] = curve(video, gaze, str(tmp / f"{variant}.npz"))
        base = found["none"]
        rows[video.stem] = {
            v: {
                m: bd_quality(base["kbps"], base[m], found[v]["kbps"], found[v][m])
                for m in ("ewpsnr_y", "psnr_y")
            }
            for v in VARIANTS
        }
        curves[video.stem] = found
        print(video.stem, {v: round(r["ewpsnr_y"], 2) for v, r in rows[video.stem].items()})
    groups = {"all": list(rows)}
    for prefix in sorted({name.split("_")[0] for name in rows}):
        groups[prefix] = [n for n in rows if n.startswith(prefix + "_")]
    mean = {
        g: {
            v: {m: float(np.mean([rows[n][v][m] for n in names])) for m in ("ewpsnr_y", "psnr_y")}
            for v in VARIANTS
        }
        for g, names in groups.items()
    }
    command = "nice .venv/bin/python eval/gap_decomposition.py " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "command": command,
        "margin": MARGIN,
        "per_clip": rows,
        "mean": mean,
        "curves": curves,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    (args.out / "bd.json").write_text(json.dumps(result, indent=1))
    table_rows = [(f"**mean, {g}** ({len(n)})", mean[g]) for g, n in groups.items()]
    heads = [f"{v} EWPSNR / PSNR" for v in VARIANTS]
    lines = [f"`{command}`", "", "BD (dB) against `--saliency none`.", ""]
    lines += bd_table(heads, list(VARIANTS), [*table_rows, *rows.items()])
    (args.out / "bd.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
