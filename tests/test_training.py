"""VAM-Net training: the TOML config, runs on a tiny cache (resume, time limit, failures), the
audio windows training and inference cut, and the shared saliency scores."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.audio import audio_window
from perceptcodec.training.cache import Store
from perceptcodec.training.config import load_config
from perceptcodec.training.scores import score_maps

CONFIGS = Path(__file__).resolve().parent.parent / "perceptcodec" / "models" / "vamnet" / "configs"

TINY = """
[data]
cache = "{cache}"
clip_len = 3
image_batch = 2
video_batch = 1
[model]
node_dim = 16
graph_layers = 1
heads = 2
motion_interval = 2
lstm_hidden = [8, 4]
[train]
device = "cpu"
steps = 3
lr = 1e-3
backbone_lr = 1e-4
weight_decay = 0.0
grad_clip = 1.0
seed = 0
log_every = 1
val_every = 3
run_dir = "{run}"
{extra}
"""


def _tiny_cache(path: Path, times: list[float] | None = None) -> Path:
    """Two training images, a video, a composite; validation: an image and a composite."""
    rng = np.random.default_rng(0)
    store, audio = Store(), {}
    for g, kind in enumerate(["image", "image", "video", "composite", "image", "composite"]):
        split = int(g >= 4)
        store.groups.append({"kind": kind, "name": f"g{g}"})
        for i in range(1 if kind == "image" else 6):
            t = times[i] if times and kind != "image" else i / 25
            dens = rng.random((16, 16)).astype(np.float32)
            faces = np.array([[0.1, 0.3, 0.4, 0.7], [0.6, 0.3, 0.9, 0.7]], np.float32)
            store.add_frame(
                rng.integers(0, 255, (128, 128, 3), np.uint8),
                g,
                split,
                t,
                None if kind == "composite" else dens,
                rng.random((5, 2)),
                faces,
                np.array([1.0, 0.0]),
                np.array([3.0, 1.0]),
            )
        if kind != "image":
            audio[g] = rng.standard_normal(4 * 22050).astype(np.float32)
    store.save(path, audio)
    return path


@pytest.fixture()
def tiny(tmp_path):
    """(config writer, init weights) for a tiny network on a tiny cache in tmp_path."""
    torch = pytest.importorskip("torch")
    from perceptcodec.saliency.vamnet.net import VamNet
    from perceptcodec.saliency.vamnet.spec import VamNetConfig

    cache = _tiny_cache(tmp_path / "cache.npz")
    net = VamNet(VamNetConfig(node_dim=16, graph_layers=1, heads=2))
    torch.save(
        {"rgb": net.rgb.state_dict(), "audio": net.audio.features.state_dict()},
        tmp_path / "init.pt",
    )

    def write(extra: str = "") -> Path:
        path = tmp_path / "tiny.toml"
        path.write_text(TINY.format(cache=cache, run=tmp_path / "run", extra=extra))
        return path

    return write, tmp_path / "init.pt"


def _shipped(run: Path) -> dict:
    import torch

    return torch.load(run / "vamnet.pt", weights_only=False)


@pytest.mark.torch
def test_training_runs_resumes_and_ships_weights(tiny):
    from perceptcodec.training.trainer import train

    write, init = tiny
    config = write()
    run = train(config, init)
    shipped = _shipped(run)
    assert shipped["steps"] == 3 and shipped["config"]["node_dim"] == 16
    assert shipped["config"]["lstm_hidden"] == (8, 4)
    assert shipped["train_config"]["train"]["steps"] == 3
    assert "speaking_accuracy" in (run / "metrics.json").read_text()
    run = train(config, init, steps=5)  # resumes from step 3
    assert _shipped(run)["steps"] == 5
    assert "resumed" not in (run / "log.jsonl").read_text()  # the log holds JSON lines only
    assert len((run / "log.jsonl").read_text().splitlines()) == 3 + 1 + 2 + 1


@pytest.mark.torch
def test_resuming_at_the_last_step_ships_again_without_error(tiny):
    from perceptcodec.training.trainer import train

    write, init = tiny
    config = write()
    run = train(config, init)
    first = (run / "metrics.json").read_text()
    (run / "metrics.json").unlink()
    train(config, init)  # last.pt is at step 3 of 3: no step to take
    assert _shipped(run)["steps"] == 3
    assert (run / "metrics.json").read_text() == first  # same weights, same validation


@pytest.mark.torch
def test_a_spent_time_limit_ships_the_weights_it_has(tiny):
    from perceptcodec.training.trainer import train

    write, init = tiny
    run = train(write("max_minutes = 0"), init)
    assert _shipped(run)["steps"] == 0
    assert "vamnet" in (run / "metrics.json").read_text()


@pytest.mark.torch
def test_the_log_is_closed_and_nothing_shipped_when_a_step_fails(tiny, monkeypatch):
    from perceptcodec.training import trainer

    write, init = tiny
    opened = []

    def recording_open(*args, **kwargs):
        f = open(*args, **kwargs)
        opened.append(f)
        return f

    def failing_loss(*args, **kwargs):
        raise RuntimeError("loss exploded")

    monkeypatch.setattr(trainer, "open", recording_open, raising=False)
    monkeypatch.setattr(trainer, "total_loss", failing_loss)
    with pytest.raises(RuntimeError, match="loss exploded"):
        trainer.train(write(), init)
    logs = [f for f in opened if str(f.name).endswith("log.jsonl")]
    assert logs and all(f.closed for f in logs)
    assert not (Path(logs[0].name).parent / "vamnet.pt").exists()


@pytest.mark.torch
def test_training_imports_spec_and_net_not_the_inference_wrapper():
    inference = ("model", "runtime_onnx", "runtime_torch", "runtime_trt")
    code = (
        "import sys, perceptcodec.training.trainer; "
        f"print(any(m.split('.')[-1] in {inference!r} for m in sys.modules "
        "if m.startswith('perceptcodec.saliency.vamnet.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shipped_configs_parse():
    for name in ("cpu", "gpu"):
        cfg = load_config(CONFIGS / f"{name}.toml")
        assert cfg.model.motion_interval == 5 and cfg.train.steps > 0 and cfg.loss.kl == 1.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("lr = 1e-3", "lr = 1e-3\nlrr = 2"), r"\[train\]: unknown key 'lrr'"),
        (("[model]", "[model]\nhiden = 3"), r"\[model\]: unknown key 'hiden'"),
        (("[data]", "[dta]\nx = 1\n[data]"), r"unknown table \[dta\]"),
        (("seed = 0\n", ""), r"\[train\]: missing key 'seed'"),
        (("steps = 3", 'steps = "3"'), r"\[train\] steps: '3' is not int"),
    ],
)
def test_config_errors_are_one_line_and_name_the_key(tmp_path, edit, message):
    text = TINY.format(cache="c.npz", run="r", extra="")
    assert edit[0] in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(PerceptcodecError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value) and "bad.toml" in str(info.value)


@pytest.mark.torch
def test_training_and_inference_cut_the_same_audio_window(tmp_path):
    pytest.importorskip("torch")
    from perceptcodec.saliency.options import VamNetOptions
    from perceptcodec.saliency.vamnet.model import VamNetSaliency
    from perceptcodec.saliency.vamnet.spec import AUDIO_SAMPLES
    from perceptcodec.training.data import CacheData

    times = [35 / 25, 57 / 25, 69 / 25, 70 / 25, 113 / 25, 0.0]  # t * 22050 just below .0
    assert any(int(t * 22050) != round(t * 22050) for t in times)
    data = CacheData(_tiny_cache(tmp_path / "cache.npz", times))
    g = data.indices("video", 0)[0]
    rows = data.members[g][None]
    batch = data.batch(rows, rows, with_audio=True)
    assert batch["audio"].shape == (1, 6, AUDIO_SAMPLES)
    model = VamNetSaliency(VamNetOptions(listen=1), runtime="onnx")
    for k, i in enumerate(rows[0]):
        # what perceptcodec.saliency.stream feeds the streaming model at the same time
        expected = audio_window(
            data.audio[g], model.audio_rate, float(data.t[i]), model.audio_window_s
        )
        assert np.array_equal(batch["audio"][0, k].numpy(), expected), float(data.t[i])
    longer = CacheData(tmp_path / "cache.npz", audio_window_s=1.28)  # a network trained so
    assert longer.batch(rows, rows, with_audio=True)["audio"].shape == (1, 6, 28224)


def test_score_maps_on_known_maps():
    dens = np.zeros((4, 4))
    dens[1, 2] = 1.0
    fix = dens > 0
    perfect = score_maps([dens + 1e-9], [dens], [fix])
    assert perfect["cc"] == pytest.approx(1.0) and perfect["sim"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["auc_j"] == pytest.approx(1.0) and perfect["kl"] < 1e-6
    uniform = np.full((4, 4), 1 / 16)
    both = score_maps([uniform, uniform], [dens, dens], [fix, np.zeros_like(fix)])
    assert both["auc_j"] == pytest.approx(0.5) and both["nss"] == 0.0  # one map had fixations
    assert both["kl"] == pytest.approx(np.log(16), abs=1e-6)
    assert np.isnan(score_maps([uniform], [dens], [np.zeros_like(fix)])["nss"])


@pytest.mark.torch
def test_fine_tuning_starts_from_a_vamnet_checkpoint(tiny, tmp_path):
    """``--init vamnet.pt``: every weight from the checkpoint, the face-cue node features at zero;
    a checkpoint of another network is a one-line error."""
    import torch

    from perceptcodec.saliency.vamnet.net import VamNet
    from perceptcodec.saliency.vamnet.spec import VamNetConfig, save_checkpoint
    from perceptcodec.training.trainer import build_model, train

    write, _ = tiny
    base = VamNet(VamNetConfig(node_dim=16, graph_layers=1, heads=2, motion_interval=2,
                               lstm_hidden=(8, 4)))  # fmt: skip
    save_checkpoint(tmp_path / "base.pt", base, steps=1, train_config={})
    cfg = load_config(write()).with_overrides()
    cued = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, face_cues=3))
    net = build_model(cued, tmp_path / "base.pt")
    assert torch.allclose(net.face.out.weight, base.face.out.weight.half().float())
    assert net.cue_proj.weight.abs().sum() == 0
    other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, node_dim=32))
    with pytest.raises(PerceptcodecError, match="not this \\[model\\]'s network"):
        build_model(other, tmp_path / "base.pt")
    path = write()
    path.write_text(
        path.read_text().replace("lstm_hidden = [8, 4]", "lstm_hidden = [8, 4]\nface_cues = 3")
    )
    run = train(path, tmp_path / "base.pt")  # the tiny cache has cues from its boxes
    assert _shipped(run)["config"]["face_cues"] == 3


def test_silent_runs_and_listener_frames_of_the_composites():
    """The cache's listener tiles loop the longest silent stretch (clear of speech by 2 frames)
    forwards and backwards; a speaker with a silent lead-in starts where the speech does."""
    from perceptcodec.training.cache import AUDIO_RATE, TalkingClip, _pingpong, _silent_run

    fps, n = 25.0, 75
    t = np.arange(int(n / fps * AUDIO_RATE)) / AUDIO_RATE
    wave = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    wave[: int(1.0 * AUDIO_RATE)] *= 1e-4  # 1 s lead-in, 25 frames
    wave[int(2.4 * AUDIO_RATE) :] *= 1e-4  # 0.6 s lead-out, frames 60-74
    run = _silent_run(wave, fps, n)
    assert run is not None and run[0] == 0 and run[-1] == 24 - 2  # kept clear of the speech
    clip = TalkingClip([], [], fps, wave, run)
    assert clip.speech_onset() == 23
    assert [_pingpong(np.arange(10, 13), i) for i in range(6)] == [10, 11, 12, 11, 10, 11]
    assert _silent_run(np.full_like(wave, 0.3), fps, n) is None  # never silent
    assert _silent_run(None, fps, n) is None
