"""Quality (PSNR, EWPSNR, SSIM), Bjontegaard deltas and saliency metrics: plain functions."""

from perceptcodec.metrics.bjontegaard import bd_quality, bd_rate
from perceptcodec.metrics.quality import (
    db_from_mse,
    ewmse,
    ewpsnr,
    gaussian_fixation_map,
    mse,
    psnr,
    psnr_yuv,
    ssim,
)
from perceptcodec.metrics.saliency import auc_judd, cc, kl, nss, sauc, sim

__all__ = [
    "auc_judd",
    "bd_quality",
    "bd_rate",
    "cc",
    "db_from_mse",
    "ewmse",
    "ewpsnr",
    "gaussian_fixation_map",
    "kl",
    "mse",
    "nss",
    "psnr",
    "psnr_yuv",
    "sauc",
    "sim",
    "ssim",
]
