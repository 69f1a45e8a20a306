"""Kept for ``perceptcodec rd`` and older imports: the RD evaluation lives in
:mod:`perceptcodec.evaluation` (runner, scoring, report)."""

from perceptcodec.evaluation.report import (
    bd_markdown,
    bd_table,
    load_results,
    mean_curve,
    write_bd_table,
)
from perceptcodec.evaluation.runner import (
    STRIDE_KEY,
    RdConfig,
    RdSettings,
    rd_point,
    result_path,
    run_rd,
    run_video_config,
)
from perceptcodec.evaluation.scoring import GazeVideo, score_video

__all__ = [
    "STRIDE_KEY",
    "GazeVideo",
    "RdConfig",
    "RdSettings",
    "bd_markdown",
    "bd_table",
    "load_results",
    "mean_curve",
    "rd_point",
    "result_path",
    "run_rd",
    "run_video_config",
    "score_video",
    "write_bd_table",
]
