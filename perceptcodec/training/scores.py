"""Saliency metrics of predicted maps against fixation maps, shared by the trainer's validation
and ``eval/validate_vamnet.py`` (numpy only, no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptcodec.metrics import auc_judd, cc, kl, nss, sim

METRICS = ("nss", "cc", "kl", "auc_j", "sim")  # table order


def score_maps(
    predictions: Sequence[np.ndarray],
    densities: Sequence[np.ndarray],
    fixations: Sequence[np.ndarray],
) -> dict[str, float]:
    """Mean CC, KL, SIM (against each density) and NSS, AUC-Judd (against each binary fixation
    map; maps without a fixation are left out of those two) over the maps.

    predictions[i]: (h, w) non-negative map, any size (resampled bilinearly to the ground
    truth's); densities[i]: (H, W) fixation density; fixations[i]: (H, W) bool. Returns
    {metric: mean} for every name in METRICS (NaN where no map counts)."""
    if not len(predictions) == len(densities) == len(fixations):
        raise ValueError("score_maps: predictions, densities and fixations differ in number")
    rows: dict[str, list[float]] = {name: [] for name in METRICS}
    for pred, dens, fix in zip(predictions, densities, fixations, strict=True):
        rows["cc"].append(cc(pred, dens))
        rows["kl"].append(kl(pred, dens))
        rows["sim"].append(sim(pred, dens))
        if np.asarray(fix).any():
            rows["nss"].append(nss(pred, fix))
            rows["auc_j"].append(auc_judd(pred, fix))
    return {name: float(np.mean(v)) if v else float("nan") for name, v in rows.items()}
