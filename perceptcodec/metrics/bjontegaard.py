"""Bjontegaard deltas between two rate-distortion curves (VCEG-M33)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptcodec.errors import PerceptcodecError


def _curve(rates: Sequence[float], quality: Sequence[float], name: str):
    r = np.asarray(rates, np.float64)
    q = np.asarray(quality, np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise PerceptcodecError(f"{name}: rates and qualities must be equal-length lists")
    if len(r) < 4:
        raise PerceptcodecError(f"{name}: BD needs at least 4 points, got {len(r)}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q)) and np.all(r > 0)):
        raise PerceptcodecError(f"{name}: rates must be positive and values finite")
    order = np.argsort(r)
    r, q = r[order], q[order]
    if np.any(np.diff(r) <= 0) or np.any(np.diff(q) <= 0):
        raise PerceptcodecError(f"{name}: curve is not monotonic (quality must rise with rate)")
    return np.log10(r), q


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    poly = np.polyint(np.polyfit(x, y, 3))
    return float(np.polyval(poly, hi) - np.polyval(poly, lo))


def bd_quality(
    rates_a: Sequence[float], q_a: Sequence[float], rates_b: Sequence[float], q_b: Sequence[float]
) -> float:
    """Mean quality difference (b - a, e.g. dB) over the shared log-rate range: cubic fits of
    quality against log10(rate). Positive = b is better at equal rate."""
    la, qa = _curve(rates_a, q_a, "anchor")
    lb, qb = _curve(rates_b, q_b, "test")
    lo, hi = max(la.min(), lb.min()), min(la.max(), lb.max())
    if hi <= lo:
        raise PerceptcodecError("the two curves share no bitrate range")
    return (_integral(lb, qb, lo, hi) - _integral(la, qa, lo, hi)) / (hi - lo)


def bd_rate(
    rates_a: Sequence[float], q_a: Sequence[float], rates_b: Sequence[float], q_b: Sequence[float]
) -> float:
    """Mean rate difference of b against a (percent) over the shared quality range: cubic fits
    of log10(rate) against quality. Negative = b needs fewer bits for the same quality."""
    la, qa = _curve(rates_a, q_a, "anchor")
    lb, qb = _curve(rates_b, q_b, "test")
    lo, hi = max(qa.min(), qb.min()), min(qa.max(), qb.max())
    if hi <= lo:
        raise PerceptcodecError("the two curves share no quality range")
    mean_diff = (_integral(qb, lb, lo, hi) - _integral(qa, la, lo, hi)) / (hi - lo)
    return float((10**mean_diff - 1) * 100)
