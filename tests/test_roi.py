import numpy as np
import pytest

from perceptcodec.errors import PerceptcodecError
from perceptcodec.roi import QpOffsetMapper, RoiSettings, mb_grid, mb_mean, qp_offsets


def test_grid_rounds_partial_blocks_up():
    assert mb_grid((642, 362)) == (23, 41)
    assert mb_grid((640, 352)) == (22, 40)


def test_mb_mean_of_a_map_at_another_resolution():
    sal = np.zeros((90, 160), np.float32)
    sal[:, 80:] = 1.0  # right half salient
    mean = mb_mean(sal, (1280, 720))
    assert mean.shape == (45, 80)
    assert np.allclose(mean[:, :39], 0, atol=1e-3) and np.allclose(mean[:, 41:], 1, atol=1e-3)


def test_offsets_follow_the_weighted_mse_optimum():
    sal = np.ones((2, 4), np.float32)
    sal[0, 0] = 8.0  # weight 8x the others -> dQP differs by -3*log2(8) = -9 between them
    dqp = qp_offsets(sal, (64, 32), strength=1.0, max_delta_qp=51)
    assert dqp.shape == (2, 4) and dqp.dtype == np.float32
    assert dqp[0, 0] - dqp[1, 1] == pytest.approx(-9.0, abs=1e-3)
    assert abs(float(dqp.mean())) < 0.01


def test_clipping_and_rate_neutrality():
    rng = np.random.default_rng(1)
    sal = rng.random((45, 80)) ** 8
    dqp = qp_offsets(sal, (1280, 720), strength=1.0, max_delta_qp=6)
    assert dqp.max() <= 6 + 1e-6 and dqp.min() >= -6 - 1e-6
    assert abs(float(dqp.mean())) < 0.05
    assert dqp.min() < -3  # salient blocks really get lower QP


def test_strength_zero_is_plain_x264():
    sal = np.random.default_rng(0).random((20, 30))
    assert np.all(qp_offsets(sal, (320, 240), strength=0.0) == 0)


def test_uniform_map_gives_no_offsets():
    assert np.allclose(qp_offsets(np.ones((9, 16)), (320, 180)), 0, atol=1e-5)


def test_temporal_smoothing_damps_flicker():
    a = np.zeros((18, 32))
    a[:, :16] = 1
    b = a[:, ::-1].copy()
    plain = QpOffsetMapper((320, 180), RoiSettings(smoothing=0.0))
    smooth = QpOffsetMapper((320, 180), RoiSettings(smoothing=0.6))
    jumps = {}
    for name, mapper in (("plain", plain), ("smooth", smooth)):
        maps = [mapper(a if i % 2 == 0 else b) for i in range(6)]
        jumps[name] = np.mean([np.abs(maps[i] - maps[i - 1]).mean() for i in range(1, 6)])
    assert jumps["smooth"] < 0.5 * jumps["plain"]
    smooth.reset()
    assert np.allclose(smooth(a), plain(a))


@pytest.mark.parametrize("kw", [{"strength": 1.5}, {"max_delta_qp": -1}, {"smoothing": 1.0}])
def test_bad_settings_are_user_errors(kw):
    with pytest.raises(PerceptcodecError):
        RoiSettings(**kw)
