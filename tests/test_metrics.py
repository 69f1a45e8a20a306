"""Metrics on hand-computable cases, plus the EWPSNR reference from ../shared."""

from __future__ import annotations

import numpy as np
import pytest

from perceptcodec.errors import PerceptcodecError
from perceptcodec.metrics import (
    auc_judd,
    bd_quality,
    bd_rate,
    cc,
    ewpsnr,
    gaussian_fixation_map,
    kl,
    nss,
    psnr,
    psnr_yuv,
    sauc,
    sim,
    ssim,
)


def test_psnr_of_a_known_error():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 16  # MSE = 256 / 16 = 16
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 16))
    assert psnr(a, a) == float("inf")
    y = (a, a[:2, :2], a[:2, :2])
    assert psnr_yuv(y, (b, a[:2, :2] + 1, a[:2, :2] + 1)) == pytest.approx(
        (6 * psnr(a, b) + 2 * psnr(a[:2, :2], a[:2, :2] + 1)) / 8
    )


def test_ewpsnr_weights_errors_where_people_look():
    ref = np.zeros((10, 10), np.uint8)
    dist = ref.copy()
    dist[:, :5] = 10  # error only on the left half
    left = np.zeros((10, 10))
    left[:, :5] = 1
    assert ewpsnr(ref, dist, left) == pytest.approx(10 * np.log10(255**2 / 100))
    assert ewpsnr(ref, dist, 1 - left) == float("inf")
    assert ewpsnr(ref, dist, np.ones((2, 2))) == pytest.approx(psnr(ref, dist))  # uniform = PSNR


@pytest.mark.data
def test_ewpsnr_matches_the_shared_reference(shared_data):
    scipy_io = pytest.importorskip("scipy.io")
    mat = scipy_io.loadmat(shared_data / "metrics/ewpsnr_reference/sample.mat")
    orig, rec = mat["original"], mat["reconstructed"]
    yy, xx = np.mgrid[0 : orig.shape[0], 0 : orig.shape[1]]
    weight = np.exp(-((xx - 679) ** 2 + (yy - 449) ** 2) / (2 * 65.0**2))  # (680, 450) 1-based
    assert ewpsnr(orig, rec, weight) == pytest.approx(44.19, abs=0.01)
    assert psnr(orig, rec) == pytest.approx(45.64, abs=0.01)


def test_ssim_is_one_for_identical_and_drops_with_noise():
    rng = np.random.default_rng(0)
    a = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8) + 60  # smooth ramp
    assert ssim(a, a) == pytest.approx(1.0)
    scores = [ssim(a, np.clip(a + rng.normal(0, s, a.shape), 0, 255)) for s in (2, 10, 30)]
    assert 1 > scores[0] > scores[1] > scores[2] > 0


def test_fixation_map_is_a_normalised_gaussian():
    m = gaussian_fixation_map(np.array([[10, 20]]), (40, 40), sigma_px=3)
    assert m.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(np.argmax(m), m.shape) == (20, 10)


def _curve(scale=1.0, shift=0.0):
    rates = np.array([100.0, 200, 400, 800])
    return rates * scale, 30 + 4 * np.log2(rates / 100) + shift


def test_bd_quality_and_rate_on_known_shifts():
    ra, qa = _curve()
    rb, qb = _curve(shift=1.0)
    assert bd_quality(ra, qa, rb, qb) == pytest.approx(1.0, abs=1e-6)
    rc, qc = _curve(scale=0.9)
    assert bd_rate(ra, qa, rc, qc) == pytest.approx(-10.0, abs=1e-6)
    assert bd_rate(ra, qa, ra, qa) == pytest.approx(0.0, abs=1e-9)


def test_bd_refuses_short_or_non_monotonic_curves():
    ra, qa = _curve()
    with pytest.raises(PerceptcodecError, match="at least 4"):
        bd_rate(ra[:3], qa[:3], ra, qa)
    bad = qa.copy()
    bad[2] = 10
    with pytest.raises(PerceptcodecError, match="monotonic"):
        bd_quality(ra, qa, ra, bad)


def test_nss_and_auc_on_a_perfect_and_an_inverted_prediction():
    fix = np.zeros((10, 10))
    fix[2, 3] = fix[7, 7] = 1
    perfect = fix * 5.0
    assert auc_judd(perfect, fix) == pytest.approx(1.0)
    assert auc_judd(5 - perfect, fix) == pytest.approx(0.0)
    assert auc_judd(np.ones((10, 10)), fix) == pytest.approx(0.5)  # ties count half
    # standardised value at a fixation: (5 - 0.1) / std, std = sqrt(0.02*25 - 0.01)
    assert nss(perfect, fix) == pytest.approx(4.9 / np.sqrt(0.49))


def test_sauc_penalises_centre_bias():
    fix = np.zeros((9, 9))
    fix[4, 4] = 1
    other = np.zeros((9, 9))
    other[4, 4] = 1  # other images fixate the same centre: no advantage left
    centre = np.exp(-((np.arange(9) - 4) ** 2) / 4.0)
    assert sauc(np.outer(centre, centre), fix, other) == pytest.approx(0.5)


def test_cc_kl_sim_on_identical_and_disjoint_maps():
    a = np.zeros((4, 4))
    a[0, 0] = 1
    b = np.zeros((4, 4))
    b[3, 3] = 1
    assert cc(a, a) == pytest.approx(1.0) and cc(a, b) < 0
    assert sim(a, a) == pytest.approx(1.0) and sim(a, b) == pytest.approx(0.0)
    assert kl(a, a) == pytest.approx(0.0, abs=1e-9) and kl(b, a) > 10
    assert sim(np.ones((2, 2)), np.ones((4, 4))) == pytest.approx(1.0)  # resized prediction


def test_mse_ewmse_and_db_by_hand():
    from perceptcodec.metrics import db_from_mse, ewmse, mse

    ref = np.array([[10, 20], [30, 40]], np.uint8)
    dist = np.array([[12, 20], [30, 36]], np.uint8)  # errors 2, 0, 0, -4
    assert mse(ref, dist) == pytest.approx((4 + 16) / 4)
    weight = np.array([[3.0, 1.0], [0.0, 1.0]])
    assert ewmse(ref, dist, weight) == pytest.approx((3 * 4 + 1 * 16) / 5)
    assert db_from_mse(5.0) == pytest.approx(10 * np.log10(255**2 / 5.0))
    assert db_from_mse(0.0) == float("inf")
    assert psnr(ref, dist) == db_from_mse(mse(ref, dist))


def test_coded_luma_keeps_full_range_luma_as_coded():
    """A full-range (yuvj420p) frame is coded as stored, so its Y plane is read as stored,
    not squeezed to 16-235; a 4:4:4 frame keeps its Y too (8 bits, same range)."""
    import av

    from perceptcodec.evaluation.scoring import coded_luma

    y = np.tile(np.array([0, 64, 200, 255], np.uint8), (16, 4))
    planes = np.concatenate([y, np.full((8, 16), 128, np.uint8)]).reshape(-1)
    full = av.VideoFrame.from_ndarray(planes.reshape(24, 16), format="yuvj420p")
    assert np.array_equal(coded_luma(full), y)
    yuv444 = av.VideoFrame.from_ndarray(np.stack([y, y * 0 + 128, y * 0 + 128]), "yuv444p")
    assert np.array_equal(coded_luma(yuv444), y)
