"""`perceptcodec saliency`: maps file contents and overlay video."""

from __future__ import annotations

import av
import numpy as np
from media import BoxSaliency, make_video

from perceptcodec.config import SaliencySpec
from perceptcodec.maps_export import export_saliency


def test_npz_holds_normalised_float16_maps_and_overlay(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 320, 240, frames=12, fps=20)
    summary = export_saliency(
        clip,
        tmp_path / "m.npz",
        SaliencySpec(BoxSaliency((0.25, 0.25, 0.75, 0.75))),
        overlay=tmp_path / "o.mp4",
        progress=False,
    )
    assert summary.frames == 12 and summary.map_shape == (36, 64)
    data = np.load(tmp_path / "m.npz")
    sal = data["saliency"]
    assert sal.dtype == np.float16 and sal.shape == (12, 36, 64)
    assert np.allclose(sal.astype(np.float64).sum(axis=(1, 2)), 1.0, atol=2e-3)
    assert float(data["fps"]) == 20.0 and tuple(data["size"]) == (320, 240)
    with av.open(str(tmp_path / "o.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3)
    # the heat map makes the salient centre red-dominated and the corners blue-dominated
    centre, corner = frames[5][120, 160].astype(int), frames[5][10, 10].astype(int)
    assert centre[0] > centre[2] and corner[2] > corner[0]
