"""VAM-Net: network, losses, the checkpoint format, the shipped weights (training runs:
test_training.py)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from perceptcodec.saliency.vamnet.net import VamNet, face_gaussians  # noqa: E402
from perceptcodec.saliency.vamnet.spec import (  # noqa: E402
    AUDIO_SAMPLES,
    StepSpec,
    VamNetConfig,
    load_checkpoint,
    save_checkpoint,
)
from perceptcodec.training.losses import cc_loss, kl_loss, nss_loss  # noqa: E402

SMALL = VamNetConfig(node_dim=32, graph_layers=1, heads=2)


def _inputs(b=2, t=3, k=2, size=64, audio=True):
    frames = torch.rand(b, t, 3, size, size)
    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.6], [0.6, 0.2, 0.9, 0.6]]).repeat(b, t, 1, 1)[:, :, :k]
    mask = torch.ones(b, t, k, dtype=torch.bool)
    mask[:, :, -1] = False  # second face slot empty
    return dict(
        frames=frames,
        partners=frames.roll(1, 1),
        audio=torch.randn(b, t, AUDIO_SAMPLES) if audio else None,
        boxes=boxes,
        face_mask=mask,
        crops=torch.rand(b, t, k, 3, 48, 48),
    )


def test_outputs_shapes_and_distribution():
    net = VamNet(SMALL)
    out = net(**_inputs())
    assert out["log_saliency"].shape == (2, 3, 8, 8)
    assert torch.allclose(out["log_saliency"].exp().sum((2, 3)), torch.ones(2, 3), atol=1e-5)
    assert out["speaking"].shape == (2, 3, 2) and out["speaking_bg"].shape == (2, 3)
    att = out["attention"]
    assert torch.allclose(att.sum(-1), torch.ones(2, 3)) and torch.all(att[..., 1] == 0)


def test_no_faces_and_no_audio_work_and_gradients_reach_every_branch():
    net = VamNet(SMALL)
    bare = net(_inputs()["frames"], _inputs()["partners"])
    assert "speaking" not in bare and bare["log_saliency"].shape == (2, 3, 8, 8)
    out = net(**_inputs())
    (out["log_saliency"].mean() + out["speaking"].sum() + out["attention"].sum()).backward()
    for part in (net.rgb, net.motion, net.lstm1, net.audio, net.face, net.layers):
        grads = [p.grad for p in part.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), part


def test_vgg16_backbone_is_selectable_and_loads_torchvision_names():
    from perceptcodec.saliency.vamnet.net import vgg16_features

    net = VamNet(VamNetConfig(node_dim=16, graph_layers=1, heads=2, backbone="vgg16"))
    state = vgg16_features().state_dict()  # the key layout of torchvision's vgg16().features
    assert "28.weight" in state  # conv5_3
    net.rgb.load_state_dict(state)
    x = torch.rand(1, 2, 3, 64, 64)
    assert net(x, x)["log_saliency"].shape == (1, 2, 8, 8)


def test_face_gaussians_peak_on_the_box_centre():
    g = face_gaussians(torch.tensor([[[[0.5, 0.25, 0.75, 0.75]]]]), (8, 8))[0, 0, 0]
    y, x = divmod(int(g.argmax()), 8)
    assert (y, x) in {(3, 4), (4, 4), (3, 5), (4, 5)}


def test_losses_on_known_cases():
    target = torch.zeros(1, 4, 4)
    target[0, 1, 2] = 1.0
    perfect = torch.log(target * (1 - 15e-6) + 1e-6)
    uniform = torch.full((1, 4, 4), -np.log(16.0))
    assert kl_loss(perfect, target) < 1e-3 < kl_loss(uniform, target)
    assert float(kl_loss(uniform, target)) == pytest.approx(np.log(16.0), abs=1e-4)
    assert cc_loss(perfect, target) < 1e-3 and cc_loss(uniform, target) == pytest.approx(1.0)
    assert nss_loss(perfect, target) < -3.0  # -NSS of a perfect one-pixel prediction


def test_lstm_sizes_come_from_the_config_and_survive_a_checkpoint(tmp_path):
    config = VamNetConfig(
        node_dim=16, graph_layers=1, heads=2, motion_interval=3, lstm_hidden=(8, 4)
    )
    net = VamNet(config)
    x = torch.rand(1, 2, 3, 64, 64)
    (h1, c1), (h2, c2) = net(x, x)["state"]
    assert h1.shape == c1.shape == (1, 8, 8, 8) and h2.shape == c2.shape == (1, 4, 8, 8)
    save_checkpoint(tmp_path / "w.pt", net, steps=7, train_config={})
    loaded = load_checkpoint(tmp_path / "w.pt")
    assert loaded.config == config and not loaded.training
    spec = StepSpec.from_config(loaded.config)
    assert spec.motion_interval == 3 and [s.shape for s in spec.zero_state()] == [
        (1, 8, 16, 16),
        (1, 8, 16, 16),
        (1, 4, 16, 16),
        (1, 4, 16, 16),
    ]
    for key, value in net.state_dict().items():  # saved in fp16, loaded as float32
        assert torch.allclose(loaded.state_dict()[key].float(), value.float().half().float())


def test_checkpoint_config_with_an_unknown_key_is_refused(tmp_path):
    from perceptcodec.errors import PerceptcodecError

    with pytest.raises(PerceptcodecError, match="unknown key 'hiden'"):
        VamNetConfig.from_dict({"hiden": 3})


def test_shipped_weights_give_a_normalised_map():
    from perceptcodec.saliency.vamnet import VamNetSaliency, default_weights

    if not default_weights().exists():
        pytest.skip(f"no shipped weights at {default_weights()}")
    model = VamNetSaliency()
    assert model.size_for(1280, 720) == (320, 180)
    rgb = np.random.default_rng(0).integers(0, 255, (180, 320, 3), np.uint8)
    for i in range(3):
        sal = model(rgb, i / 25, np.zeros(AUDIO_SAMPLES, np.float32) if i else None)
    assert sal.shape == (45, 80) and sal.min() >= 0
    assert sal.sum() == pytest.approx(1.0, abs=1e-4)


def test_mvva_layout_feeds_the_cache(tmp_path):
    from media import make_video

    from perceptcodec.training.cache import Store, add_mvva

    video = tmp_path / "mvva" / "v001"
    (video / "maps").mkdir(parents=True)
    make_video(video / "video.mp4", 160, 96, frames=4, audio="aac")
    for i in range(4):
        dens = np.zeros((24, 40), np.float32)
        dens[6:12, 4:12] = 1.0  # all mass on the left face
        np.save(video / "maps" / f"{i + 1:04d}.npy", dens)
    faces = np.array([[[16, 24, 48, 48], [100, 24, 140, 48]]] * 4, np.float32)
    faces[3, 1] = np.nan  # second face absent in the last frame
    np.save(video / "faces.npy", faces)
    np.save(video / "speaking.npy", np.array([[1, 0]] * 4, np.float32))
    store, audio = Store(), {}
    add_mvva(store, audio, tmp_path / "mvva")
    c = store.cols
    assert len(store.jpeg) == 4 and 0 in audio and all(c["speaking_known"])
    assert c["face_mask"][0][:2].tolist() == [True, True] and c["face_mask"][3][:2].tolist() == [
        True,
        False,
    ]
    assert c["speaking"][0][:2].tolist() == [1.0, 0.0]
    share = c["attention"][0][:2]
    assert share[0] > 0.9 * share.sum()  # the density sits on the first face
    assert np.allclose(c["boxes"][0][0], [0.1, 0.25, 0.3, 0.5])


def test_face_cues_join_the_graph_and_the_speaking_logit():
    from perceptcodec.saliency.face_cues import CUE_COUNT

    plain = VamNet(SMALL)
    cued = VamNet(VamNetConfig(node_dim=32, graph_layers=1, heads=2, face_cues=CUE_COUNT))
    missing, unexpected = cued.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == [
        "cue_attention_gain", "cue_proj.bias", "cue_proj.weight", "cue_speaking_gain"
    ]  # fmt: skip
    plain.eval(), cued.eval()
    inputs = _inputs()
    undecided = torch.rand(2, 3, 2, CUE_COUNT)
    undecided[..., 0] = 0.5  # speaking logit 0: the node features start at zero too
    a, b = plain(**inputs), cued(**inputs, cues=undecided)
    for key in ("log_saliency", "speaking", "attention"):  # a fine-tune starts where it was
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    told = undecided.clone()
    told[..., 0, 0], told[..., 1, 0] = 0.99, 0.01
    c = cued(**inputs, cues=told)
    logit = torch.log(torch.tensor(0.99 / 0.01))
    assert torch.allclose(c["speaking"][..., 0] - a["speaking"][..., 0], logit, atol=1e-4)
    with pytest.raises(ValueError, match="face cues"):
        cued(**inputs)
    cued.train()
    cued(**inputs, cues=told)["speaking"].sum().backward()
    assert cued.cue_proj.weight.grad.abs().sum() > 0 and cued.cue_speaking_gain.grad != 0


def test_face_cues_count_is_checked():
    from perceptcodec.errors import PerceptcodecError

    with pytest.raises(PerceptcodecError, match="face_cues is 0 or 3"):
        VamNetConfig.from_dict({"face_cues": 2})


def test_a_causal_graph_steps_as_it_trains():
    """graph_window 3: stepping frame by frame with the last 2 steps' nodes carried gives the
    whole clip's outputs; a frame hears the 2 before it, not older ones nor later ones."""
    net = VamNet(VamNetConfig(node_dim=32, graph_layers=1, heads=2, graph_window=3)).eval()
    torch.manual_seed(0)
    inputs = _inputs(b=1, t=5)
    inputs["face_mask"][:] = True
    whole = net(**inputs)
    state, carried = None, []
    for i in range(5):
        one = {k: v[:, i : i + 1] for k, v in inputs.items()}
        past = None
        if carried:
            past = tuple(torch.cat([c[j] for c in carried[-2:]], 1) for j in range(2))
        out = net(**one, state=state, past=past)
        state = out["state"]
        carried.append((out["nodes"], out["node_ok"]))
        assert out["nodes"].shape == (1, 1, 4, 32)  # 2 faces, the background, the audio
        for key in ("log_saliency", "speaking", "attention"):
            assert torch.allclose(out[key][:, 0], whole[key][:, i], atol=1e-5), (key, i)
    changed = dict(inputs, crops=inputs["crops"].clone())
    changed["crops"][:, 1] = 0  # frame 1's faces
    speaking = net(**changed)["speaking"] - whole["speaking"]
    assert speaking[:, 0].abs().max() == 0  # earlier frames do not hear a later one
    assert speaking[:, 2:4].abs().min() > 0 and speaking[:, 4].abs().max() == 0


def test_without_audio_a_causal_graph_keeps_the_audio_slot_masked():
    net = VamNet(VamNetConfig(node_dim=32, graph_layers=1, heads=2, graph_window=2)).eval()
    out = net(**_inputs(audio=False))
    assert out["nodes"].shape[2] == 4 and not out["node_ok"][..., -1].any()
    from perceptcodec.errors import PerceptcodecError

    with pytest.raises(PerceptcodecError, match="graph_window"):
        VamNetConfig.from_dict({"graph_window": -1})
