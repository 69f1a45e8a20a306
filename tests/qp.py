"""Reading back the per-macroblock QPs an H.264 decoder saw (for checks and evaluation)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import av
import numpy as np


def decoded_mb_qps(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Per-frame QP of each macroblock (int, mb_rows x mb_cols), in presentation order, from
    FFmpeg's exported encoding parameters (``export_side_data=venc_params``)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"export_side_data": "venc_params"}
        for frame in container.decode(stream):
            params = [sd for sd in frame.side_data if sd.type.name == "VIDEO_ENC_PARAMS"]
            if not params:
                raise ValueError(f"{path}: decoder exported no QP map (not H.264?)")
            yield np.asarray(params[0].qp_map())
