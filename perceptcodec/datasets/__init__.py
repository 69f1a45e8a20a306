"""Gaze data: image and video readers producing fixations (x, y, t, subject) and density maps."""

from perceptcodec.datasets.gaze import (
    DEFAULT_SIGMA_FRAC,
    ImageGaze,
    MapVideoGaze,
    PointVideoGaze,
    sigma_from_degrees,
)
from perceptcodec.datasets.readers import (
    IMAGE_SETS,
    gaze_videos,
    read_dhf1k_0002,
    read_dhf1k_layout,
    read_eyecrowd,
    read_figrim,
    read_gaze_csv,
    read_mit1003,
    read_mvva,
    read_mvva_flat,
    read_mvva_release,
    read_osie,
    read_smi_export,
)

__all__ = [
    "DEFAULT_SIGMA_FRAC",
    "IMAGE_SETS",
    "ImageGaze",
    "MapVideoGaze",
    "PointVideoGaze",
    "gaze_videos",
    "read_dhf1k_0002",
    "read_dhf1k_layout",
    "read_eyecrowd",
    "read_figrim",
    "read_gaze_csv",
    "read_mit1003",
    "read_mvva",
    "read_mvva_flat",
    "read_mvva_release",
    "read_osie",
    "read_smi_export",
    "sigma_from_degrees",
]
