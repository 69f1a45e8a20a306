"""Tool versions recorded in every results file."""

from __future__ import annotations

import platform

import av
import numpy as np


def tool_versions() -> dict[str, str]:
    """perceptcodec, x264 build, PyAV/FFmpeg, numpy and Python versions."""
    from perceptcodec import __version__
    from perceptcodec.encoder.x264 import x264_build

    return {
        "perceptcodec": __version__,
        "x264_build": str(x264_build()),
        "pyav": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
