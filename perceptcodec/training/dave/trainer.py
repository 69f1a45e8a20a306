"""DAVE training, with the VAM-Net trainer's conventions: :func:`setup` (config, seeds, data,
network, Adam, schedule), :func:`resume` (from ``run_dir/last.pt``), :func:`loop` (steps
with logging, gradient clipping, validation and ``last.pt``), :func:`ship` (``dave.pt``:
fp16 state dict + config, and ``metrics.json``); :func:`train` runs the four.

    python -m perceptcodec.training.dave --config perceptcodec/models/dave/configs/cpu.toml

The paper's recipe (section 3.2) at step scale: image steps (static images as clips, the
image route: the audio stream and the fusion are skipped and not updated) alternate with
audio-visual steps; Adam from lr 1e-3; KL loss (eq. 2).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.dave.net import Dave
from perceptcodec.saliency.dave.spec import save_checkpoint
from perceptcodec.training.dave.config import TrainConfig, TrainSettings, load_config
from perceptcodec.training.dave.data import DaveData, Sampling
from perceptcodec.training.losses import cc_loss, kl_loss
from perceptcodec.training.resume import load_last, save_last
from perceptcodec.training.scores import score_maps


def saliency_loss(log_sal: torch.Tensor, density: torch.Tensor, cfg: TrainConfig) -> tuple:
    """(loss, parts): KL (and CC when weighted) of (B, h, w) log maps against densities
    pooled to the prediction's grid."""
    dens = F.adaptive_avg_pool2d(density[:, None], log_sal.shape[-2:])[:, 0]
    parts = {"kl": cfg.loss.kl * kl_loss(log_sal, dens)}
    if cfg.loss.cc:
        parts["cc"] = cfg.loss.cc * cc_loss(log_sal, dens)
    total = sum(parts.values())
    return total, {k: float(v.detach()) for k, v in parts.items()}


@torch.no_grad()
def validate(net: Dave, data: DaveData, device: torch.device, limit: int = 0) -> dict[str, Any]:
    """Saliency metrics (:func:`~perceptcodec.training.scores.score_maps`) of the held-out
    images as static clips through the inference route (audio-visual with silent audio, as a
    video without sound), with the centre baseline, against the cache's densities and
    fixation grids; and KL / CC against the weak targets of held-out talking windows."""
    net.eval()
    idx = data.images(1)
    if limit:
        idx = idx[:: max(1, len(idx) // limit)][:limit]
    preds, dens, fix = [], [], []
    for start in range(0, len(idx), 8):
        batch = data.collate([data.image_clip(int(i)) for i in idx[start : start + 8]])
        out = net(batch["video"].to(device), batch["audio"].to(device))
        preds += list(out.exp().float().cpu().numpy())
        dens += [data.density[i] for i in idx[start : start + 8]]
        fix += [data.fixations[i] for i in idx[start : start + 8]]
    result: dict[str, Any] = {"images": len(preds)}
    if preds:
        result["dave"] = score_maps(preds, dens, fix)
        centre = center_gaussian(dens[0].shape)
        result["center"] = score_maps([centre] * len(dens), dens, fix)
    if data.talking(1):
        rng = np.random.default_rng(1234)
        samples = [data.talking_window(rng, split=1) for _ in range(16)]
        batch = data.collate(samples)
        out = net(batch["video"].to(device), batch["audio"].to(device)).exp().cpu().numpy()
        targets = [t for *_, t in samples]
        s = score_maps(list(out), targets, [np.zeros_like(t, bool) for t in targets])
        result["talking_weak"] = {"cc": s["cc"], "kl": s["kl"], "windows": len(samples)}
    net.train()
    return result


@dataclass
class Run:
    """A training run in progress: config, folder, data, network, optimiser, schedule, steps
    done and the sampling generator."""

    cfg: TrainConfig
    folder: Path
    device: torch.device
    data: DaveData
    net: Dave
    opt: torch.optim.Optimizer
    step: int
    rng: np.random.Generator


def learning_rate(tr: TrainSettings, step: int, elapsed_s: float) -> float:
    """lr -> lr_min along a half cosine over the run: its progress is the larger of
    step / steps and, with max_minutes, the share of this call's time used, so a run cut by
    its time limit still ends at lr_min."""
    progress = step / max(tr.steps, 1)
    if tr.max_minutes:
        progress = max(progress, elapsed_s / (60 * tr.max_minutes))
    progress = min(progress, 1.0)
    return tr.lr_min + (tr.lr - tr.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))


def setup(cfg: TrainConfig) -> Run:
    """Seeds, threads, the run folder, the cache in memory, the network (from scratch: no 3D
    weights exist offline), Adam and the schedule, at step 0."""
    tr, dc = cfg.train, cfg.data
    cuda = tr.device == "cuda" and torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda and tr.threads:
        torch.set_num_threads(tr.threads)
    folder = Path(tr.run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tr.seed)
    rng = np.random.default_rng(tr.seed)
    sampling = Sampling(dc.zoom, dc.static_share, dc.composite_share)
    data = DaveData(dc.cache, sampling)
    if (data.height, data.width) != (cfg.model.height, cfg.model.width_px):
        from perceptcodec.errors import PerceptcodecError

        raise PerceptcodecError(
            f"{dc.cache}: frames {data.height} x {data.width}, the model takes "
            f"{cfg.model.height} x {cfg.model.width_px}: rebuild the cache with "
            f"--height {cfg.model.height} --width {cfg.model.width_px}"
        )
    net = Dave(cfg.model).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=tr.lr, weight_decay=tr.weight_decay)
    return Run(cfg, folder, device, data, net, opt, 0, rng)


def resume(run: Run) -> bool:
    """Continue from ``folder/last.pt`` when present (network, optimiser, step, generator;
    the learning rate follows from the step, :func:`learning_rate`)."""
    ck = load_last(run.folder, run.device, run.net, run.opt)
    if ck is None:
        return False
    run.step, run.rng = ck["step"], ck["rng"]
    print(f"resumed at step {run.step}")
    return True


def _write(log: TextIO, entry: dict[str, Any]) -> None:
    line = json.dumps(entry)
    log.write(line + "\n")
    log.flush()
    print(line, flush=True)


def loop(run: Run, log: TextIO) -> dict[str, Any] | None:
    """Train until ``train.steps`` or ``train.max_minutes`` of this call: even steps image
    clips on the image route, odd steps audio-visual batches. One JSON line per
    ``log_every`` steps and per validation into ``log``; validates (and saves ``last.pt``)
    every ``val_every`` steps and at the last step. Returns the last validation's metrics,
    or None when no step ran."""
    tr, dc = run.cfg.train, run.cfg.data
    net, device = run.net, run.device
    t0 = time.time()
    deadline = t0 + 60 * tr.max_minutes if tr.max_minutes is not None else float("inf")
    metrics = None
    net.train()
    while run.step < tr.steps and time.time() < deadline:
        image_step = run.step % 2 == 0
        lr = learning_rate(tr, run.step, time.time() - t0)
        for group in run.opt.param_groups:
            group["lr"] = lr
        if image_step:
            batch = run.data.image_batch(run.rng, dc.image_batch)
        else:
            batch = run.data.av_batch(run.rng, dc.av_batch, dc.av_image_share)
        video = batch["video"].to(device, non_blocking=True)
        audio = None if image_step else batch["audio"].to(device, non_blocking=True)
        log_sal = net(video, audio)
        loss, parts = saliency_loss(log_sal, batch["density"].to(device), run.cfg)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad = float(torch.nn.utils.clip_grad_norm_(net.parameters(), tr.grad_clip))
        run.opt.step()
        run.step += 1
        if run.step % tr.log_every == 0:
            _write(
                log,
                {
                    "step": run.step,
                    "route": "image" if image_step else "av",
                    "loss": float(loss.detach()),
                    **parts,
                    "grad": grad,
                    "lr": lr,
                    "s": round(time.time() - t0, 1),
                },
            )
        last = run.step == tr.steps or time.time() >= deadline
        if run.step % tr.val_every == 0 or last:
            metrics = validate(net, run.data, device, dc.val_images)
            _write(log, {"step": run.step, "val": metrics})
            save_last(run.folder, run.net, run.opt, step=run.step, rng=run.rng)
    return metrics


def ship(run: Run, metrics: dict[str, Any] | None) -> Path:
    """``metrics.json`` (``metrics``, or a validation now when the loop ran no step) and
    ``dave.pt`` (fp16 weights, config, training config, steps) into the run folder."""
    if metrics is None:
        metrics = validate(run.net, run.data, run.device, run.cfg.data.val_images)
    (run.folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    save_checkpoint(run.folder / "dave.pt", run.net, run.step, run.cfg.to_dict())
    return run.folder


def train(
    config_path: str | os.PathLike[str],
    steps: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    """Train (resuming from ``run_dir/last.pt`` if present); returns the run folder, which
    ends with ``dave.pt`` and ``metrics.json``. ``steps``, ``run_dir``, ``cache`` override
    the config file's."""
    cfg = load_config(config_path).with_overrides(steps=steps, run_dir=run_dir, cache=cache)
    run = setup(cfg)
    resume(run)
    with open(run.folder / "log.jsonl", "a") as log:
        metrics = loop(run, log)
    return ship(run, metrics)
