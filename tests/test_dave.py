"""DAVE: the paper's structure at full size, the audio features, the streaming window
(causality, stride, silence), ONNX parity, the CLI end to end, and training on a tiny cache
(loss goes down, resume, ship, export)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from media import make_video

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.dave.runtime_onnx import exported
from perceptcodec.saliency.dave.spec import (
    AUDIO_RATE,
    AUDIO_SAMPLES,
    FRAMES,
    LOG_OFFSET,
    MEL_HIGH,
    MEL_LOW,
    PATCH_SAMPLES,
    SILENCE,
    DaveConfig,
    default_weights,
    frame_patch,
    log_mel_patch,
)
from perceptcodec.saliency.options import DaveOptions

CONFIGS = Path(__file__).resolve().parent.parent / "perceptcodec" / "models" / "dave" / "configs"
shipped = pytest.mark.skipif(
    not (exported(default_weights().parent) and default_weights().exists()),
    reason="no shipped DAVE weights / exported graph in perceptcodec/models/dave",
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perceptcodec", *args], capture_output=True, text=True
    )


# --- architecture


@pytest.mark.torch
def test_full_config_has_the_papers_structure_and_about_70m_parameters():
    torch = pytest.importorskip("torch")
    from perceptcodec.saliency.dave.net import Dave, count_parameters

    with torch.device("meta"):
        net = Dave(DaveConfig())  # the paper's size: no memory is allocated on meta
        out = net(torch.zeros(1, 3, 16, 256, 320), torch.zeros(1, 16, 64, 64))
    assert tuple(out.shape) == (1, 32, 40)  # the paper's 32 x 40 map
    total = count_parameters(net)
    assert 65e6 < total < 75e6, total  # "about 70 M"
    # two 3D-ResNet-18s of ~33 M each: conv1 7x7x7 stride (1, 2, 2), 4 stages of 2 blocks
    for stream in (net.video, net.audio):
        assert 33.0e6 < count_parameters(stream) < 33.5e6
        assert tuple(stream.conv1.kernel_size) == (7, 7, 7)
        assert tuple(stream.conv1.stride) == (1, 2, 2)
        assert [len(s) for s in (stream.layer1, stream.layer2, stream.layer3, stream.layer4)] == [
            2,
            2,
            2,
            2,
        ]
        assert stream.layer4[1].conv2.out_channels == 512
    assert (net.fuse.in_channels, net.fuse.out_channels) == (1024, 512)
    assert net.fuse.kernel_size == (1, 1) and net.out.kernel_size == (1, 1)
    assert net.up1.conv.kernel_size == (3, 3) and net.up2.conv.kernel_size == (3, 3)


def test_config_checks_and_unknown_keys_are_one_line_errors(tmp_path):
    from perceptcodec.training.dave.config import load_config

    cfg = load_config(CONFIGS / "cpu.toml")
    assert cfg.model.width == 8 and (cfg.model.height, cfg.model.width_px) == (128, 160)
    assert cfg.model.grid == (16, 20)
    assert load_config(CONFIGS / "full.toml").model == DaveConfig()
    assert load_config(CONFIGS / "gpu.toml").model == DaveConfig()
    bad = tmp_path / "bad.toml"
    bad.write_text((CONFIGS / "cpu.toml").read_text().replace("[model]", "[model]\ndepth = 3"))
    with pytest.raises(PerceptcodecError, match="unknown key 'depth'"):
        load_config(bad)
    with pytest.raises(PerceptcodecError, match="multiples of 32"):
        DaveConfig.from_dict({"height": 100})
    with pytest.raises(PerceptcodecError, match="--dave-stride 0 must lie in 1..64"):
        DaveOptions(window_stride=0)


# --- audio features


def test_log_mel_patch_shape_silence_and_a_tone_in_its_band():
    assert SILENCE.shape == (64, 64)
    assert np.allclose(SILENCE, np.log(LOG_OFFSET))
    assert np.array_equal(frame_patch(None), SILENCE)
    t = np.arange(PATCH_SAMPLES) / AUDIO_RATE
    for hz in (300.0, 1000.0, 4000.0):
        patch = log_mel_patch(np.sin(2 * np.pi * hz * t).astype(np.float32))
        band = int(np.argmax(patch.mean(0)))
        mels = np.linspace(*(1127 * np.log1p(np.array([MEL_LOW, MEL_HIGH]) / 700)), 66)
        centre = 700 * np.expm1(mels[band + 1] / 1127)
        assert abs(np.log2(centre / hz)) < 0.25, (hz, centre)
    # the frame's patch is the audio that ends at its time (the middle of its window)
    window = np.zeros(AUDIO_SAMPLES, np.float32)
    window[AUDIO_SAMPLES // 2 :] = 1.0  # sound only after the frame's time
    assert np.allclose(frame_patch(window), SILENCE)


# --- streaming


class _Recorder:
    """A stand-in runtime: remembers each window it is given; the map marks the mean of the
    newest frame so tests can tell windows apart."""

    def __init__(self):
        from perceptcodec.saliency.dave.spec import WindowSpec

        self.spec = WindowSpec(32, 64)
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, video, audio):
        self.calls.append((video.copy(), audio.copy()))
        log_sal = np.full((1, 4, 8), -np.log(32.0), np.float32)
        log_sal[0, 0, 0] += float(video[0, :, -1].mean())
        return log_sal


def _model(stride: int) -> tuple:
    from perceptcodec.saliency.dave.model import DaveSaliency

    recorder = _Recorder()
    return DaveSaliency(DaveOptions(window_stride=stride), window=recorder), recorder


def _clip(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (32, 64, 3), np.uint8) for _ in range(n)]


def test_window_is_causal_ordered_and_padded_at_the_start():
    model, rec = _model(stride=1)
    frames = _clip(20)
    for i, f in enumerate(frames):
        model(f, i / 25)
    assert len(rec.calls) == 20
    first, _ = rec.calls[0]
    assert first.shape == (1, 3, FRAMES, 32, 64)
    assert all(np.array_equal(first[0, :, 0], first[0, :, k]) for k in range(FRAMES))
    video, audio = rec.calls[19]  # frames 4..19, the newest last
    assert audio.shape == (1, FRAMES, 64, 64) and np.allclose(audio, SILENCE)
    ref = rec.calls[15][0]  # frames 0..15
    assert np.array_equal(video[0, :, : FRAMES - 4], ref[0, :, 4:])


def test_map_depends_only_on_past_frames_and_stride_holds_it():
    maps = {}
    for variant in ("a", "b"):
        model, _ = _model(stride=1)
        frames = _clip(12)
        if variant == "b":
            frames[8] = 255 - frames[8]  # a future frame for every map before it
        maps[variant] = [model(f, i / 25).copy() for i, f in enumerate(frames)]
    for i in range(8):
        assert np.array_equal(maps["a"][i], maps["b"][i])
    assert not np.array_equal(maps["a"][8], maps["b"][8])  # the current frame counts
    model, rec = _model(stride=4)
    out = [model(f, i / 25).copy() for i, f in enumerate(_clip(9))]
    assert len(rec.calls) == 3  # frames 0, 4, 8
    assert all(np.array_equal(out[0], out[k]) for k in (1, 2, 3))
    assert not np.array_equal(out[3], out[4])
    assert out[0].shape == (16, 32) and out[0].sum() == pytest.approx(1.0, abs=1e-5)
    model.reset()
    assert model._map is None and not model._frames


@shipped
def test_shipped_model_streams_on_onnx_without_torch():
    code = (
        "import sys, numpy as np; from perceptcodec.saliency import get_model; "
        "m = get_model('dave'); s = m(np.zeros((128, 160, 3), np.uint8), 0.0); "
        "print(m.runtime, s.shape, round(float(s.sum()), 4), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["onnx", "(64,", "80)", "1.0", "False"]


@shipped
@pytest.mark.torch
def test_shipped_onnx_matches_pytorch():
    pytest.importorskip("torch")
    from perceptcodec.saliency import get_model

    rng = np.random.default_rng(0)
    frames = _clip(3)
    audio = rng.standard_normal(AUDIO_SAMPLES).astype(np.float32)
    maps = {}
    for runtime in ("onnx", "torch"):
        model = get_model("dave", DaveOptions(window_stride=1, device="cpu"), runtime=runtime)
        size = model.size_for(64, 32)
        maps[runtime] = np.stack(
            [
                model(np.ascontiguousarray(np.resize(f, (size[1], size[0], 3))), i / 25, audio)
                for i, f in enumerate(frames)
            ]
        )
    rel = np.abs(maps["onnx"] - maps["torch"]).max() / maps["torch"].max()
    assert rel < 1e-4, rel


@shipped
@pytest.mark.parametrize("audio", [None, "aac"])
def test_cli_saliency_and_encode_with_dave(tmp_path, audio):
    src = make_video(tmp_path / "clip.mp4", 160, 96, frames=12, audio=audio)
    if audio:
        maps = tmp_path / "maps.npz"
        result = run("saliency", str(src), "-o", str(maps), "--saliency", "dave", "-q")
        assert result.returncode == 0, result.stderr
        with np.load(maps) as z:
            arrays = [z[k] for k in z.files if z[k].ndim == 3]
        assert arrays and arrays[0].shape[0] == 12
        assert np.allclose(arrays[0].reshape(12, -1).sum(1), 1.0, atol=1e-3)
    else:
        dst = tmp_path / "out.mp4"
        result = run(
            "encode", str(src), "-o", str(dst), "--saliency", "dave", "--dave-stride", "3",
            "--bitrate", "200k", "--json", "-q",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["frames"] == 12 and "dave" in json.dumps(summary)
        assert dst.stat().st_size > 0


def test_missing_weights_are_one_line_errors(tmp_path):
    from perceptcodec.saliency import get_model

    with pytest.raises(PerceptcodecError, match="no exported DAVE graph"):
        get_model("dave", DaveOptions(weights=str(tmp_path / "dave.pt")), runtime="onnx")
    with pytest.raises(PerceptcodecError, match="no tensorrt runtime"):
        get_model("dave", runtime="tensorrt")
    result = run("export", "onnx", "--model", "dave", "--weights", str(tmp_path / "none.pt"))
    assert result.returncode == 1 and "no DAVE weights" in result.stderr


# --- training


def tiny_cache(path: Path) -> Path:
    """Six images (two held out) and three talking clips (one held out) at 32 x 64."""
    rng = np.random.default_rng(0)
    n, h, w = 6, 32, 64
    dens = np.zeros((n, h // 2, w // 2), np.float32)
    for i in range(n):  # one blob per image, where the image is bright
        dens[i, 4:10, 4 + 4 * i : 10 + 4 * i] = 1
        dens[i] /= dens[i].sum()
    rgb = rng.integers(0, 60, (n, h, w, 3), np.uint8)
    for i in range(n):
        rgb[i, 8:20, 8 + 8 * i : 20 + 8 * i] = 250
    clips, arrays = [], {}
    talk = rng.integers(0, 255, (3 * 20, h, h, 3), np.uint8)
    for c in range(3):
        clips.append({"name": f"c{c}", "split": int(c == 2), "fps": 25.0, "frames": 20})
        arrays[f"audio_{c}"] = rng.standard_normal(2 * AUDIO_RATE).astype(np.float16)
    arrays.update(
        image_rgb=rgb,
        image_density=dens.astype(np.float16),
        image_fixations=dens[:, ::2, ::2] > 0,
        image_set=np.zeros(n, np.int8),
        image_split=np.array([0, 0, 0, 0, 1, 1], np.int8),
        image_names=np.frombuffer(json.dumps([f"s/{i}" for i in range(n)]).encode(), np.uint8),
        talk_rgb=talk,
        talk_boxes=np.tile(np.array([0.3, 0.2, 0.7, 0.7], np.float32), (60, 1)),
        talk_t=np.tile(np.arange(20) / 25, 3).astype(np.float32),
        talk_clip=np.repeat(np.arange(3), 20).astype(np.int32),
        talk_clips=np.frombuffer(json.dumps(clips).encode(), np.uint8),
    )
    np.savez_compressed(path, **arrays)
    return path


TINY = """
[data]
cache = "{cache}"
image_batch = 2
av_batch = 2
[model]
width = 2
height = 32
width_px = 64
[train]
steps = 3
lr = 1e-3
seed = 0
threads = 1
log_every = 1
val_every = 3
run_dir = "{run}"
"""


@pytest.mark.torch
def test_a_few_steps_reduce_the_loss_on_a_tiny_batch(tmp_path):
    torch = pytest.importorskip("torch")
    from perceptcodec.saliency.dave.net import Dave
    from perceptcodec.training.dave.config import load_config
    from perceptcodec.training.dave.data import DaveData
    from perceptcodec.training.dave.trainer import saliency_loss

    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(cache=tiny_cache(tmp_path / "c.npz"), run=tmp_path / "run"))
    cfg = load_config(config)
    data = DaveData(cfg.data.cache)
    rng = np.random.default_rng(0)
    batch = data.av_batch(rng, 4, 0.5)
    assert batch["video"].shape == (4, 3, 16, 32, 64) and batch["audio"].shape == (4, 16, 64, 64)
    net = Dave(cfg.model)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(12):
        audio = None if step % 2 == 0 else batch["audio"]
        loss, _ = saliency_loss(net(batch["video"], audio), batch["density"], cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.torch
def test_training_runs_resumes_ships_and_exports(tmp_path):
    pytest.importorskip("torch")
    from perceptcodec.saliency import get_model
    from perceptcodec.training.dave.trainer import train

    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(cache=tiny_cache(tmp_path / "c.npz"), run=tmp_path / "run"))
    run_dir = train(config)
    import torch

    shipped_ck = torch.load(run_dir / "dave.pt", weights_only=False)
    assert shipped_ck["steps"] == 3 and shipped_ck["config"]["width"] == 2
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["images"] == 2 and "cc" in metrics["dave"] and "talking_weak" in metrics
    run_dir = train(config, steps=5)  # resumes from last.pt at step 3
    assert torch.load(run_dir / "dave.pt", weights_only=False)["steps"] == 5
    lines = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 3, 4, 5, 5]
    # export the tiny model and run it through both runtimes
    result = run("export", "onnx", "--model", "dave", "--weights", str(run_dir / "dave.pt"))
    assert result.returncode == 0, result.stderr
    options = DaveOptions(weights=str(run_dir / "dave.pt"), window_stride=1, device="cpu")
    onnx = get_model("dave", options, runtime="onnx")
    pt = get_model("dave", options, runtime="torch")
    for i, frame in enumerate(_clip(3)):
        a, b = onnx(frame, i / 25), pt(frame, i / 25)
        assert np.abs(a - b).max() <= 1e-4 * b.max()
