"""Saliency-map metrics as defined by Bylinskii et al., "What do different evaluation metrics
tell us about saliency models?" (TPAMI 2018). ``sal`` is a prediction at any resolution
(resampled bilinearly to the ground truth's); ``fix_map`` is a binary H x W map of fixated
pixels; ``density`` a continuous H x W fixation density."""

from __future__ import annotations

import cv2
import numpy as np

EPS = 2.2204e-16  # as in the MIT saliency benchmark code


def _pred(sal: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    s = np.asarray(sal, np.float32)
    if s.shape != shape:
        s = cv2.resize(s, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return s.astype(np.float64)


def _fixations(fix_map: np.ndarray) -> np.ndarray:
    fix = np.asarray(fix_map) > 0
    if not fix.any():
        raise ValueError("fixation map has no fixation")
    return fix


def nss(sal: np.ndarray, fix_map: np.ndarray) -> float:
    """Normalized scanpath saliency: mean of the standardised prediction at fixated pixels."""
    fix = _fixations(fix_map)
    s = _pred(sal, fix.shape)
    std = s.std()
    return float(((s - s.mean()) / std)[fix].mean()) if std > 0 else 0.0


def cc(sal: np.ndarray, density: np.ndarray) -> float:
    """Pearson linear correlation between prediction and ground-truth density."""
    d = np.asarray(density, np.float64)
    s = _pred(sal, d.shape)
    s, d = s - s.mean(), d - d.mean()
    den = np.sqrt((s * s).sum() * (d * d).sum())
    return float((s * d).sum() / den) if den > 0 else 0.0


def kl(sal: np.ndarray, density: np.ndarray) -> float:
    """KL divergence of the prediction from the ground truth, KL(gt || sal), both as
    distributions: sum g log(EPS + g / (s + EPS)). Lower is better."""
    g = np.asarray(density, np.float64)
    s = _pred(sal, g.shape)
    g, s = g / max(g.sum(), EPS), s / max(s.sum(), EPS)
    return float((g * np.log(EPS + g / (s + EPS))).sum())


def sim(sal: np.ndarray, density: np.ndarray) -> float:
    """Similarity (histogram intersection) of the two maps as distributions, 0..1."""
    g = np.asarray(density, np.float64)
    s = _pred(sal, g.shape)
    g, s = g / max(g.sum(), EPS), s / max(s.sum(), EPS)
    return float(np.minimum(g, s).sum())


def _roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve = P(pos > neg) + P(pos == neg) / 2 (exact, ties halved)."""
    neg = np.sort(negatives)
    below = np.searchsorted(neg, positives, side="left")
    not_above = np.searchsorted(neg, positives, side="right")
    return float((below + not_above).sum() / (2.0 * len(positives) * len(neg)))


def auc_judd(sal: np.ndarray, fix_map: np.ndarray) -> float:
    """AUC-Judd: fixated pixels are positives, all other pixels negatives; thresholds at every
    fixated pixel's saliency (the step ROC that this gives equals the exact AUC)."""
    fix = _fixations(fix_map)
    s = _pred(sal, fix.shape)
    return _roc_auc(s[fix], s[~fix])


def sauc(sal: np.ndarray, fix_map: np.ndarray, other_fix_map: np.ndarray) -> float:
    """Shuffled AUC: positives at this image's fixations, negatives at the fixation locations of
    other images/frames (``other_fix_map``, same shape), which cancels centre bias."""
    fix = _fixations(fix_map)
    other = _fixations(other_fix_map)
    s = _pred(sal, fix.shape)
    return _roc_auc(s[fix], s[other])
