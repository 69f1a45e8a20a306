"""Evaluation, apart from the encoding path: RD runs on real gaze (:mod:`.runner`), scoring on
the coded luma plane (:mod:`.scoring`) and reports (:mod:`.report`: BD table, Markdown)."""

from perceptcodec.evaluation.report import (
    bd_markdown,
    bd_table,
    load_results,
    markdown_table,
    mean_curve,
    write_bd_table,
)
from perceptcodec.evaluation.runner import (
    RdConfig,
    RdSettings,
    rd_point,
    result_path,
    run_rd,
    run_video_config,
    settings_key,
)
from perceptcodec.evaluation.scoring import GazeVideo, coded_luma, luma_frames, score_video

__all__ = [
    "GazeVideo",
    "RdConfig",
    "RdSettings",
    "bd_markdown",
    "bd_table",
    "coded_luma",
    "load_results",
    "luma_frames",
    "markdown_table",
    "mean_curve",
    "rd_point",
    "result_path",
    "run_rd",
    "run_video_config",
    "score_video",
    "settings_key",
    "write_bd_table",
]
