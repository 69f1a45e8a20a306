"""The prior's still-picture background: the learned static map or the spectral residual, x
the centre bias."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.center import center_gaussian
from perceptcodec.saliency.options import PriorOptions
from perceptcodec.saliency.prior import PriorSaliency
from perceptcodec.saliency.static import StaticNet, spectral_residual, static_background


def _picture() -> np.ndarray:
    """A textured grey RGB picture with one dark square (the thing that stands out) left of
    the centre, 180 x 320 x 3."""
    rng = np.random.default_rng(0)
    grey = (120 + rng.normal(0, 6, (180, 320))).clip(0, 255).astype(np.uint8)
    grey[80:100, 90:110] = 20
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_spectral_residual_marks_what_stands_out():
    sal = spectral_residual(_picture()[:, :, 0], (45, 80))
    assert sal.shape == (45, 80) and sal.sum() == pytest.approx(1.0, abs=1e-5)
    square = sal[20:25, 22:28].mean()
    assert square > 4 * np.median(sal)  # the square, not the texture


@pytest.mark.parametrize("net", [None, "learned"])
def test_background_moves_toward_the_salient_thing_and_weight_0_is_the_centre(net):
    model = StaticNet() if net else None
    centre = center_gaussian((45, 80), 0.25)
    assert static_background(_picture(), centre, 0.0, model) is centre
    back = static_background(_picture(), centre, 1.0 if net else 0.5, model)
    assert back.shape == (45, 80) and back.sum() == pytest.approx(1.0, abs=1e-5)
    left, right = back[:, 22:28].sum(), back[:, 52:58].sum()  # mirror columns about the centre
    assert left > 1.3 * right
    assert np.isclose(centre[:, 22:28].sum(), centre[:, 52:58].sum())


def test_learned_map_takes_any_frame_shape():
    net = StaticNet()
    for shape in ((720, 1280, 3), (480, 360, 3), (20, 300, 3)):
        sal = net(np.full(shape, 128, np.uint8), (30, 40))
        assert sal.shape == (30, 40) and np.isfinite(sal).all()
        assert sal.sum() == pytest.approx(1.0, abs=1e-5)


def test_prior_runs_the_learned_map_only_where_asked():
    assert PriorSaliency(PriorOptions())._static_net is not None
    assert PriorSaliency(PriorOptions(static_net=0))._static_net is None
    assert PriorSaliency(PriorOptions(static=0.0))._static_net is None


def test_the_learned_map_reads_the_face_detectors_frame():
    class Seen:
        widths: list[int] = []

        def __call__(self, rgb: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
            self.widths.append(rgb.shape[1])
            return np.full(grid, 1.0 / (grid[0] * grid[1]), np.float32)

    frame = np.full((360, 640, 3), 90, np.uint8)
    for face_width, expected in ((640, 640), (0, 320)):
        model = PriorSaliency(PriorOptions(face_width=face_width, speaker=0))
        model._static_net = seen = Seen()
        seen.widths = []
        model(cv2.resize(frame, model.size_for(640, 360)), 0.0)
        assert seen.widths == [expected]


def test_missing_weights_are_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "centerface").symlink_to(models_dir() / "centerface")  # only the map missing
    monkeypatch.setenv("PERCEPTCODEC_MODELS", str(tmp_path))
    with pytest.raises(PerceptcodecError, match="static saliency weights missing"):
        PriorSaliency(PriorOptions())
    assert PriorSaliency(PriorOptions(static_net=0))._static_net is None  # needs no weights
