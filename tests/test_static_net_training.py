"""Training and export of the prior's learned static map (``perceptcodec.training.static_net``)
on synthetic data: no ../shared, no ImageNet weights (random backbone)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install torch==2.13.0)")

from perceptcodec.datasets.gaze import ImageGaze  # noqa: E402
from perceptcodec.saliency.attention import AttentionWeights  # noqa: E402
from perceptcodec.saliency.center import center_gaussian  # noqa: E402
from perceptcodec.saliency.static import StaticNet as StaticRuntime  # noqa: E402
from perceptcodec.saliency.static import net_input_size  # noqa: E402
from perceptcodec.training.static_net import (  # noqa: E402
    StaticNet,
    cc_score,
    export,
    feature_table,
    log_map,
    off_face_mask,
    picture,
    predict,
    prior_faces,
    splits,
    target,
    train,
)


def _records(prefix: str, n: int) -> list[ImageGaze]:
    return [ImageGaze(f"{prefix}{i:03d}", Path(f"{prefix}{i}.jpg"), (64, 48)) for i in range(n)]


def test_test_images_never_reach_training():
    sets = {
        "osie": _records("o", 40),
        "eyecrowd": _records("e", 30),
        "mit1003": _records("m", 5),
        "figrim": _records("f", 3),
    }
    parts = splits(sets)
    names = {k: {r.name for r in v} for k, v in parts.items()}
    assert not names["train"] & names["test"] and not names["val"] & names["test"]
    assert not names["train"] & names["val"]
    assert {"o000", "o010", "o020", "o030"} <= names["test"]  # VAM-Net's validation images
    assert {"e007", "e008", "e009"} <= names["test"]  # the attention model's held-out split
    assert sum(len(v) for v in parts.values()) == 78


def test_readout_learns_where_a_feature_marks_the_target():
    """Features with one channel lit where the fixations are: training must raise val CC."""
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        feats = torch.randn(n, 128, 24, 32, generator=g) * 0.1
        targets = torch.zeros(n, 24, 32)
        for i in range(n):
            y, x = torch.randint(4, 20, (1,), generator=g), torch.randint(4, 28, (1,), generator=g)
            feats[i, 5, y - 2 : y + 3, x - 2 : x + 3] = 3.0
            targets[i, y - 2 : y + 3, x - 2 : x + 3] = 1.0
        return [feats.half()], targets / targets.sum((1, 2), keepdim=True)

    net = StaticNet(depth=14, hidden=16)  # 32 + 96 feature channels
    data = {"train": batch(64), "val": batch(16)}
    log_centre = torch.log(torch.from_numpy(center_gaussian((24, 32), 0.25)) + 1e-12)
    before = cc_score(predict(net, data["val"][0], tune=0), data["val"][1], log_centre)
    result = train(net, data, steps=300)
    after = cc_score(predict(net, data["val"][0], tune=0), data["val"][1], log_centre)
    assert after > before + 0.3 and after > 0.6
    assert result["best"]["val_cc"] == pytest.approx(after, abs=1e-4)


def test_export_runs_on_onnx_runtime_at_any_aspect_and_matches_torch(tmp_path):
    net = StaticNet().eval()  # the shipped shape: 17 blocks
    path = tmp_path / "static.onnx"
    export(net, path)
    runtime = StaticRuntime(path)
    rgb = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    assert net_input_size(180, 320) == (384, 224)  # 216 rounded to the stride 32
    sal = runtime(rgb, (28, 48))  # 384 x 224 into the network: 48 x 28 out
    assert sal.shape == (28, 48) and sal.sum() == pytest.approx(1.0, abs=1e-5)
    small = cv2.resize(rgb, (384, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    with torch.no_grad():
        logit = net(torch.from_numpy(small).permute(2, 0, 1)[None])[0, 0].numpy()
    expected = np.exp(logit - logit.max())
    np.testing.assert_allclose(sal, expected / expected.sum(), rtol=1e-3, atol=1e-6)


def test_tuning_trains_only_the_top_blocks_and_the_cache_gives_the_nets_own_output(tmp_path):
    """--tune 2: the cached frozen part plus the top gives what the whole net gives, and
    training moves the readout and the last 2 blocks, never the frozen ones."""
    rng = np.random.default_rng(1)
    records = []
    for i in range(4):
        path = tmp_path / f"im{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        fixations = np.array([[10.0 + 10 * i, 20.0, 0, 0]])
        records.append(ImageGaze(f"im{i}", path, (64, 48), fixations=fixations))
    torch.manual_seed(0)
    net = StaticNet(depth=17, hidden=8).eval()
    inputs, targets = feature_table(net, records[:1], flips=False, tune=2)
    rgb = torch.from_numpy(picture(records[0])).permute(2, 0, 1)[None]
    with torch.no_grad():
        torch.testing.assert_close(predict(net, inputs, tune=2), net(rgb), atol=2e-2, rtol=1e-2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    data = {
        "train": feature_table(net, records, flips=True, tune=2),
        "val": feature_table(net, records[:2], flips=False, tune=2),
    }
    train(net, data, steps=3, lr=1e-2, tune=2, tune_lr=1e-2)
    moved = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    last = len(net.stages) - 1
    first, *top = (f"stages.{last}.{name}." for name, _ in net.stages[-1].named_children())
    assert any(k.startswith("head.") for k in moved)
    assert all(any(k.startswith(block) for k in moved) for block in top) and len(top) == 2
    assert not any(k.startswith((first, "stages.0.", "stages.1.")) for k in moved)


def test_off_face_target_drops_the_density_on_grown_face_boxes():
    """Half the fixations on a face, half on a far object: the off-face target keeps the
    object's half only, and a box's margin (FACE_PAD box widths) counts as face."""
    fixations = np.array([[60.0, 60.0, 0, 0]] * 5 + [[250.0, 180.0, 0, 1]] * 5)
    rec = ImageGaze("im", Path("im.png"), (320, 240), fixations=fixations)
    face = np.array([[40.0, 40.0, 80.0, 80.0, 0.9]])
    mask = off_face_mask(face, rec.shape)
    assert mask[60, 60] == 0 and mask[35, 35] == 0 and mask[60, 95] == 1  # pad 10 px
    whole, kept_all = target(rec, (24, 32))
    off, kept = target(rec, (24, 32), face)
    assert kept_all == pytest.approx(1.0, abs=1e-3) and kept == pytest.approx(0.5, abs=0.02)
    assert whole[6, 6] > 0.01 and off[6, 6] == 0.0
    assert off.sum() == pytest.approx(1.0, abs=1e-5) and off[18, 25] > 1.9 * whole[18, 25]


def test_in_the_mixture_the_map_learns_what_the_faces_leave_out():
    """Half the viewers look at A, half at B; the prior's faces already give A its half. Trained
    as the background of that mixture the map goes to B; trained alone it splits."""
    g = torch.Generator().manual_seed(0)
    n, grid = 40, (24, 32)
    feats = torch.randn(n, 128, *grid, generator=g) * 0.1
    targets, faces = torch.zeros(n, *grid), torch.zeros(n, *grid)
    at_b = torch.zeros(n, *grid, dtype=torch.bool)
    for i in range(n):
        (ya, yb), (xa, xb) = torch.randint(3, 21, (2,), generator=g), (6, 25)
        feats[i, 5, ya - 2 : ya + 3, xa - 2 : xa + 3] = 3.0
        feats[i, 6, yb - 2 : yb + 3, xb - 2 : xb + 3] = 3.0
        targets[i, ya - 2 : ya + 3, xa - 2 : xa + 3] = 0.02
        targets[i, yb - 2 : yb + 3, xb - 2 : xb + 3] = 0.02
        faces[i, ya - 2 : ya + 3, xa - 2 : xa + 3] = 0.02
        at_b[i, yb - 2 : yb + 3, xb - 2 : xb + 3] = True
    data = {
        "train": ([feats[:32].half()], targets[:32]),
        "val": ([feats[32:].half()], targets[32:]),
    }
    share = torch.full((n,), 0.5)  # the background's share of the mixture
    mixtures = {"train": (faces[:32], share[:32]), "val": (faces[32:], share[32:])}
    log_centre = torch.log(torch.from_numpy(center_gaussian(grid, 0.25)) + 1e-12)
    on_b = {}
    for name, mix in (("alone", None), ("mixture", mixtures)):
        net = StaticNet(depth=14, hidden=16)
        train(net, data, steps=200, mixtures=mix)
        with torch.no_grad():
            background = log_map(predict(net, data["val"][0], tune=0), log_centre).exp()
            whole = log_map(predict(net, data["val"][0], tune=0), log_centre, mixtures["val"])
        on_b[name] = float(background[at_b[32:]].sum() / len(background))
        torch.testing.assert_close(whole.exp().sum((1, 2)), torch.ones(n - 32))
    assert on_b["mixture"] > on_b["alone"] + 0.2 and on_b["mixture"] > 0.6


def _frontal_face(x0: float, y0: float, size: float) -> tuple[list[float], list[list[float]]]:
    box = [x0, y0, x0 + size, y0 + size, 0.9]
    at = [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]
    return box, [[x0 + u * size, y0 + v * size] for u, v in at]


def test_prior_faces_share_the_mass_as_the_prior_does():
    """The faces' map and the background's share sum to 1; a big central face outweighs a small
    one at the edge; the background bias moves mass to the background; no face: all of it."""
    (big, big_marks), (small, small_marks) = _frontal_face(120, 60, 80), _frontal_face(10, 10, 20)
    boxes = np.array([big, small], np.float32)
    marks = np.array([big_marks, small_marks], np.float32)
    weights, grid = AttentionWeights(), (24, 32)
    faces, share = prior_faces(boxes, marks, (240, 320), weights, 1.0, grid)
    assert faces.sum() + share == pytest.approx(1.0, abs=1e-4) and 0 < share < 1
    assert faces[5:15, 12:22].sum() > 5 * faces[:5, :5].sum() > 0
    _, share_unbiased = prior_faces(boxes, marks, (240, 320), weights, 0.0, grid)
    assert share > share_unbiased
    none, all_of_it = prior_faces(boxes[:0], marks[:0], (240, 320), weights, 1.0, grid)
    assert all_of_it == 1.0 and not none.any()
