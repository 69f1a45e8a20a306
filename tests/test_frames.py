"""Frame conversions for x264 (I420 planes) and for the saliency models (small RGB)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from perceptcodec.saliency.stream import shrink, small_rgb


def _frame(width: int, height: int) -> av.VideoFrame:
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], axis=2
    )
    rgb[height // 3 : height // 2, width // 4 : width // 3] = (250, 20, 20)  # a red block
    return av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24").reformat(
        format="yuv420p"
    )


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (640, 360)])
def test_small_rgb_is_close_to_a_one_step_area_resize(size):
    frame = _frame(*size)
    small = small_rgb(frame, (320, 180))
    planes = [
        np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:, : p.width] for p in frame.planes
    ]
    one_step = [cv2.resize(p, (320, 180), interpolation=cv2.INTER_AREA) for p in planes]
    reference = cv2.cvtColor(cv2.merge(one_step), cv2.COLOR_YUV2RGB)
    assert small.shape == (180, 320, 3) and small.dtype == np.uint8
    diff = np.abs(small.astype(int) - reference)
    assert np.median(diff) <= 1 and diff.mean() < 2
    r, g, b = small[70, 93].astype(int)  # inside the red block (levels as coded: not 250)
    assert r > g + 120 and r > b + 120


def test_shrink_by_a_power_of_two_is_an_exact_box_mean():
    plane = np.random.default_rng(0).integers(0, 256, (64, 96), np.uint8)
    expected = plane.reshape(16, 4, 24, 4).mean(axis=(1, 3))
    assert np.abs(shrink(plane, (24, 16)).astype(float) - expected).max() <= 1
