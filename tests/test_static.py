"""The prior's still-picture background: spectral-residual saliency x centre bias."""

from __future__ import annotations

import numpy as np
import pytest

from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.static import spectral_residual, static_background


def _picture() -> np.ndarray:
    """A textured grey picture with one dark square (the thing that stands out) left of the
    centre, 180 x 320."""
    rng = np.random.default_rng(0)
    grey = (120 + rng.normal(0, 6, (180, 320))).clip(0, 255).astype(np.uint8)
    grey[80:100, 90:110] = 20
    return grey


def test_spectral_residual_marks_what_stands_out():
    sal = spectral_residual(_picture(), (45, 80))
    assert sal.shape == (45, 80) and sal.sum() == pytest.approx(1.0, abs=1e-5)
    square = sal[20:25, 22:28].mean()
    assert square > 4 * np.median(sal)  # the square, not the texture


def test_background_moves_toward_the_salient_thing_and_weight_0_is_the_centre():
    centre = center_gaussian((45, 80), 0.25)
    assert static_background(_picture(), centre, 0.0) is centre
    back = static_background(_picture(), centre, 0.5)
    assert back.sum() == pytest.approx(1.0, abs=1e-5)
    left, right = back[:, 22:28].sum(), back[:, 52:58].sum()  # mirror columns about the centre
    assert left > 1.3 * right
    assert np.isclose(centre[:, 22:28].sum(), centre[:, 52:58].sum())
