"""VAM-Net losses (paper eq. 11-18): saliency KL + CC + NSS, speaking BCE, attention KL."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from perceptcodec.training.config import LossWeights

EPS = 1e-8


def kl_loss(log_pred: Tensor, target: Tensor) -> Tensor:
    """KL(target || pred) per map, averaged. log_pred: (..., H, W) log-probabilities; target:
    (..., H, W) non-negative density (normalised here)."""
    t = target.flatten(-2)
    t = t / t.sum(-1, keepdim=True).clamp(min=EPS)
    return (t * (torch.log(t + EPS) - log_pred.flatten(-2))).sum(-1).mean()


def cc_loss(log_pred: Tensor, target: Tensor) -> Tensor:
    """1 - Pearson CC between prediction and target density, averaged."""
    p = log_pred.exp().flatten(-2)
    t = target.flatten(-2)
    p, t = p - p.mean(-1, keepdim=True), t - t.mean(-1, keepdim=True)
    cc = (p * t).sum(-1) / ((p * p).sum(-1) * (t * t).sum(-1)).sqrt().clamp(min=EPS)
    return (1 - cc).mean()


def nss_loss(log_pred: Tensor, fixations: Tensor) -> Tensor:
    """-NSS: standardised prediction at fixated pixels (binary maps), averaged over maps with
    at least one fixation."""
    p = log_pred.exp().flatten(-2)
    f = fixations.flatten(-2).float()
    p = (p - p.mean(-1, keepdim=True)) / p.std(-1, keepdim=True).clamp(min=EPS)
    count = f.sum(-1)
    nss = (p * f).sum(-1) / count.clamp(min=1)
    valid = count > 0
    return -(nss[valid].mean() if valid.any() else nss.sum() * 0)


def speaking_loss(logits: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """BCE of speaking logits against 0/1 labels where ``mask`` is set (eq. 11)."""
    if not mask.any():
        return logits.sum() * 0
    return F.binary_cross_entropy_with_logits(logits[mask], labels[mask].float())


def attention_loss(attention: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """KL(target share of fixations per face || predicted face attention) over frames whose
    target has mass (eq. 12-13). attention, target: (..., K); mask: (...,) frames to use."""
    if not mask.any():
        return attention.sum() * 0
    t = target[mask] / target[mask].sum(-1, keepdim=True).clamp(min=EPS)
    a = attention[mask]
    return (t * (torch.log(t + EPS) - torch.log(a + EPS))).sum(-1).mean()


def total_loss(out: dict, batch: dict, w: LossWeights) -> tuple[Tensor, dict[str, float]]:
    """Eq. 18 over a batch; terms whose labels the batch lacks are left out."""
    log_sal = out["log_saliency"]
    parts: dict[str, Tensor] = {}
    if "density" in batch:
        gaze = batch["gaze_mask"]  # (B, T) frames with gaze
        if gaze.any():
            size = log_sal.shape[-2:]  # targets pooled to the prediction's grid
            dens = F.adaptive_avg_pool2d(batch["density"][gaze], size)
            fix = F.adaptive_max_pool2d(batch["fixations"][gaze].float(), size)
            parts["kl"] = w.kl * kl_loss(log_sal[gaze], dens)
            parts["cc"] = w.cc * cc_loss(log_sal[gaze], dens)
            parts["nss"] = w.nss * nss_loss(log_sal[gaze], fix)
    if "speaking" in out and "speaking" in batch:
        parts["speaking"] = w.speaking * speaking_loss(
            out["speaking"], batch["speaking"], batch["speaking_mask"]
        )
    if "attention" in out and "attention_target" in batch:
        parts["attention"] = w.attention * attention_loss(
            out["attention"], batch["attention_target"], batch["attention_mask"]
        )
    total = sum(parts.values()) if parts else log_sal.sum() * 0
    return total, {k: float(v.detach()) for k, v in parts.items()}
