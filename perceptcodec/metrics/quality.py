"""Picture quality: PSNR, eye-tracking-weighted PSNR (EWPSNR) and SSIM, on 8-bit planes."""

from __future__ import annotations

import cv2
import numpy as np

PEAK = 255.0


def mse(ref: np.ndarray, dist: np.ndarray) -> float:
    """Mean squared error of two same-shape arrays (squared sample units, e.g. 8-bit levels^2)."""
    diff = np.asarray(ref, np.float64) - np.asarray(dist, np.float64)
    return float(np.mean(diff * diff))


def db_from_mse(err: float, peak: float = PEAK) -> float:
    """10 log10(peak^2 / err) in dB (inf for err 0): PSNR from an MSE, EWPSNR from an EWMSE."""
    return float("inf") if err == 0 else float(10 * np.log10(peak * peak / err))


def psnr(ref: np.ndarray, dist: np.ndarray, peak: float = PEAK) -> float:
    """PSNR in dB (inf when identical)."""
    return db_from_mse(mse(ref, dist), peak)


def psnr_yuv(ref: tuple[np.ndarray, ...], dist: tuple[np.ndarray, ...]) -> float:
    """(6 PSNR-Y + PSNR-U + PSNR-V) / 8, the usual 6:1:1 weighting; planes as (Y, U, V)."""
    y, u, v = (psnr(r, d) for r, d in zip(ref, dist, strict=True))
    return (6 * y + u + v) / 8


def resize_weights(weight: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A weight map (any resolution, covering the whole frame) resampled bilinearly to
    ``shape`` (H, W), negatives clipped."""
    w = np.asarray(weight, np.float32)
    if w.shape != shape:
        w = cv2.resize(w, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(w, 0.0, None)


def ewmse(ref: np.ndarray, dist: np.ndarray, weight: np.ndarray) -> float:
    """Eye-tracking-weighted MSE: sum(w e^2) / sum(w) (Li, Qin, Itti 2011), squared sample
    units; ``weight`` at any resolution (resampled bilinearly to the frame)."""
    w = resize_weights(weight, ref.shape).astype(np.float64)
    total = w.sum()
    if total <= 0:
        raise ValueError("EWPSNR weight map is all zero")
    diff = np.asarray(ref, np.float64) - np.asarray(dist, np.float64)
    return float((w * diff * diff).sum() / total)


def ewpsnr(ref: np.ndarray, dist: np.ndarray, weight: np.ndarray, peak: float = PEAK) -> float:
    """EWPSNR in dB: 10 log10(peak^2 / EWMSE). ``weight`` is the frame's fixation density at
    any resolution (resampled bilinearly to the frame)."""
    return db_from_mse(ewmse(ref, dist, weight), peak)


def ssim(ref: np.ndarray, dist: np.ndarray, peak: float = PEAK) -> float:
    """Mean SSIM (Wang et al. 2004): Gaussian window sigma 1.5 (11 x 11), K1 0.01, K2 0.03."""
    x = np.asarray(ref, np.float64)
    y = np.asarray(dist, np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def gaussian_fixation_map(
    points_xy: np.ndarray, shape: tuple[int, int], sigma_px: float
) -> np.ndarray:
    """Fixation density (H x W float32, sums to 1; all zero without points): one isotropic
    Gaussian of ``sigma_px`` pixels per (x, y) point, 0-based pixel coordinates."""
    h, w = shape
    impulses = np.zeros(shape, np.float32)
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    xi, yi = np.round(pts[:, 0]).astype(int), np.round(pts[:, 1]).astype(int)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    np.add.at(impulses, (yi[ok], xi[ok]), 1.0)
    if not ok.any():
        return impulses
    dens = cv2.GaussianBlur(impulses, (0, 0), sigma_px, borderType=cv2.BORDER_CONSTANT)
    return dens / dens.sum()
