"""VAM-Net through ONNX Runtime: the shipped exported step, parity with PyTorch, runtimes."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from media import make_video, smooth_picture

import perceptcodec
from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.options import Runtime, VamNetOptions
from perceptcodec.saliency.vamnet import VamNetSaliency, nvidia_gpu_present, pick_runtime
from perceptcodec.saliency.vamnet.runtime_onnx import onnx_paths
from perceptcodec.saliency.vamnet.runtime_trt import engine_key
from perceptcodec.saliency.vamnet.spec import AUDIO_SAMPLES, STEP_SPEC_NAME, default_weights

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in onnx_paths().values()), reason="no exported VAM-Net graphs"
)


def _frames(n=6):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (180, 320, 3), np.uint8)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


def test_a_cut_starts_vamnet_over():
    """The first map of a new shot is the map a fresh model gives that frame (recurrent state,
    remembered frames, faces and cues of the last shot forgotten)."""
    shot_a, shot_b = smooth_picture(400, 180, 1), smooth_picture(320, 180, 2)
    model = VamNetSaliency(runtime="onnx")
    for k in range(6):
        model(np.ascontiguousarray(shot_a[:, 8 * k : 8 * k + 320]), k / 12.5)
    after_cut = model(shot_b, 6 / 12.5)
    np.testing.assert_allclose(after_cut, VamNetSaliency(runtime="onnx")(shot_b, 0.0), atol=1e-6)


def test_onnx_runtime_needs_no_torch_and_streams():
    model = VamNetSaliency(VamNetOptions(listen=1), runtime="onnx")
    assert model.runtime == "onnx"
    for i, frame in enumerate(_frames()):
        sal = model(frame, i / 25, np.zeros(AUDIO_SAMPLES, np.float32) if i % 2 else None)
    assert sal.shape == (45, 80) and sal.sum() == pytest.approx(1.0, abs=1e-4)
    code = (
        "import sys, numpy as np; from perceptcodec.saliency.vamnet import VamNetSaliency; "
        "m = VamNetSaliency(runtime='onnx'); m(np.zeros((180, 320, 3), np.uint8), 0.0); "
        "print('torch' in sys.modules)"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


@pytest.mark.torch
def test_onnx_matches_pytorch_within_1e_5_relative():
    pytest.importorskip("torch")
    maps = {}
    for runtime in ("onnx", "torch"):
        model = VamNetSaliency(VamNetOptions(listen=1), runtime=runtime)
        maps[runtime] = np.stack(
            [
                model(f, i / 25, np.full(AUDIO_SAMPLES, 0.01, np.float32))
                for i, f in enumerate(_frames())
            ]
        )
    scale = maps["torch"].max()
    assert np.abs(maps["onnx"] - maps["torch"]).max() <= 1e-5 * scale


def test_runtime_choices_are_checked():
    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(PerceptcodecError, match="TensorRT is not installed here"):
            VamNetSaliency(runtime="tensorrt")
    with pytest.raises(PerceptcodecError, match="unknown runtime"):
        VamNetSaliency(runtime="cuda")
    with pytest.raises(PerceptcodecError, match="does not apply"):
        perceptcodec.get_model("prior", runtime="onnx")


def test_encode_with_vamnet_says_which_runtime(tmp_path):
    clip = make_video(tmp_path / "c.mp4", 160, 96, frames=6, audio="aac")
    settings = EncodeConfig(saliency=SaliencySpec("vamnet"))
    summary = perceptcodec.encode(clip, tmp_path / "o.mp4", settings, progress=False)
    assert summary.saliency == "vamnet (onnx)" and summary.frames == 6


@pytest.mark.parametrize(
    ("present", "have_onnx", "gpu", "expected"),
    [
        ({"tensorrt", "onnxruntime"}, True, True, Runtime.TENSORRT),
        ({"onnxruntime"}, True, True, Runtime.TORCH),  # GPU without TensorRT: torch CUDA
        ({"tensorrt", "onnxruntime"}, True, False, Runtime.ONNX),  # CPU: never TensorRT
        ({"tensorrt", "onnxruntime"}, False, False, Runtime.TORCH),  # no exported graphs
        ({"tensorrt"}, True, False, Runtime.TORCH),  # graphs, but no ONNX Runtime
    ],
)
def test_auto_runtime_picks_the_fastest_present(monkeypatch, present, have_onnx, gpu, expected):
    real = importlib.util.find_spec
    faked = {"tensorrt", "onnxruntime"}

    def find_spec(name, *args, **kwargs):
        if name in faked:
            return real("json") if name in present else None  # any spec stands for "present"
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert pick_runtime(have_onnx=have_onnx, gpu=gpu) is expected


def test_auto_runtime_here_is_onnx_on_a_cpu_machine():
    if nvidia_gpu_present():
        pytest.skip("this machine has an NVIDIA GPU")
    assert VamNetSaliency().runtime == "onnx"


def test_graphs_without_their_json_are_not_used(tmp_path):
    for path in onnx_paths().values():
        shutil.copy(path, tmp_path / path.name)
    weights = str(tmp_path / "vamnet.pt")
    with pytest.raises(PerceptcodecError, match="no exported VAM-Net graphs"):
        VamNetSaliency(VamNetOptions(weights=weights), runtime="onnx")
    shutil.copy(default_weights().parent / STEP_SPEC_NAME, tmp_path / STEP_SPEC_NAME)
    model = VamNetSaliency(VamNetOptions(weights=weights), runtime="onnx")
    assert model.spec.motion_interval == 5 and model.spec.hidden == (64, 32)
    spec_file = tmp_path / STEP_SPEC_NAME
    for key, value in (("graph_window", 6), ("audio_window_s", 1.28)):
        text = json.loads((default_weights().parent / STEP_SPEC_NAME).read_text())
        text["config"][key] = value  # a config the graphs were not exported from
        spec_file.write_text(json.dumps(text))
        with pytest.raises(PerceptcodecError, match="disagrees with the graphs.*re-export"):
            VamNetSaliency(VamNetOptions(weights=weights), runtime="onnx")


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Converting a tensor to a Python boolean")  # export's tracer
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy (TorchScript) exporter
def test_a_checkpoint_with_other_shapes_runs_on_onnx_and_torch_alike(tmp_path):
    """Motion interval 2, ConvLSTM (8, 4) and a 0.32 s audio window from the checkpoint's
    config, not the defaults: exported, then streamed through both runtimes; the partner is
    the frame 2 earlier, the stream cuts the network's audio window."""
    torch = pytest.importorskip("torch")
    from perceptcodec.saliency.vamnet.export import export
    from perceptcodec.saliency.vamnet.net import VamNet
    from perceptcodec.saliency.vamnet.spec import VamNetConfig, save_checkpoint

    torch.manual_seed(0)
    config = VamNetConfig(
        node_dim=16,
        graph_layers=1,
        heads=2,
        motion_interval=2,
        lstm_hidden=(8, 4),
        audio_window_s=0.32,
    )
    weights = save_checkpoint(tmp_path / "vamnet.pt", VamNet(config).eval(), 1, {})
    written = export(weights)
    assert {p.name for p in written} == {
        "vamnet_step.onnx",
        "vamnet_step_noaudio.onnx",
        STEP_SPEC_NAME,
    }
    frames, maps = _frames(5), {}
    for runtime in ("onnx", "torch"):
        model = VamNetSaliency(VamNetOptions(weights=str(weights), listen=1), runtime=runtime)
        assert model.spec.motion_interval == 2 and model.spec.hidden == (8, 4)
        assert [s.shape[1] for s in model._state] == [8, 8, 4, 4]
        assert model.spec.audio_samples == 7056 and model.audio_window_s == 0.32
        feeds, step = [], model._step
        model._step = lambda feed, step=step, seen=feeds: seen.append(feed) or step(feed)
        maps[runtime] = np.stack(
            [model(f, i / 25, np.full(7056, 0.01, np.float32)) for i, f in enumerate(frames)]
        )
        assert np.array_equal(feeds[4]["partner"], feeds[2]["frame"])  # 2 frames earlier
        assert np.array_equal(feeds[1]["partner"], feeds[0]["frame"])  # clamped at the start
    assert np.abs(maps["onnx"] - maps["torch"]).max() <= 1e-5 * maps["torch"].max()


def test_tensorrt_engine_key_changes_with_graph_gpu_and_version(tmp_path):
    graph = tmp_path / "step.onnx"
    graph.write_bytes(b"graph one")
    key = engine_key(graph, "NVIDIA H100 80GB HBM3", (9, 0), "10.9.0")
    assert key.startswith("step-") and key.endswith(".engine") and "sm90" in key
    assert engine_key(graph, "NVIDIA A10", (8, 6), "10.9.0") != key
    assert engine_key(graph, "NVIDIA H100 80GB HBM3", (9, 0), "10.10.0") != key
    graph.write_bytes(b"graph two")
    assert engine_key(graph, "NVIDIA H100 80GB HBM3", (9, 0), "10.9.0") != key


@pytest.mark.gpu
@pytest.mark.parametrize("runtime", ["torch", "tensorrt"])
def test_gpu_runtimes_match_onnx_within_fp16_tolerance(runtime):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    if runtime == "tensorrt":
        pytest.importorskip("tensorrt")
    maps = {}
    for name in ("onnx", runtime):
        model = VamNetSaliency(VamNetOptions(listen=1), runtime=name)
        maps[name] = np.stack(
            [
                model(f, i / 25, np.full(AUDIO_SAMPLES, 0.01, np.float32))
                for i, f in enumerate(_frames())
            ]
        )
    assert "fp16" in model.runtime
    assert np.abs(maps[runtime] - maps["onnx"]).max() <= 2e-2 * maps["onnx"].max()


def _step_feed(spec, faces: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    n, k, side = spec.input_size, spec.max_faces, spec.face_crop
    mask = np.zeros((1, k), bool)
    mask[0, :faces] = True
    h1, c1, h2, c2 = spec.zero_state()
    cues = {"cues": rng.random((1, k, spec.face_cues), np.float32)} if spec.face_cues else {}
    return {
        **cues,
        "frame": rng.random((1, 3, n, n), np.float32),
        "partner": rng.random((1, 3, n, n), np.float32),
        "boxes": np.array([[[0.1, 0.2, 0.4, 0.6]] * k], np.float32),
        "face_mask": mask,
        "crops": rng.random((1, k, 3, side, side), np.float32),
        "h1": h1,
        "c1": c1,
        "h2": h2,
        "c2": c2,
    }


@pytest.mark.torch
def test_speaking_output_matches_pytorch_and_empty_slots_are_zero():
    pytest.importorskip("torch")
    outputs = {}
    for runtime in ("onnx", "torch"):
        model = VamNetSaliency(runtime=runtime)
        outputs[runtime] = model._step(_step_feed(model.spec, faces=2))[5]
    speaking = outputs["onnx"]
    assert speaking.shape == (1, model.spec.max_faces)
    assert (speaking[0, :2] > 0).all() and (speaking[0, :2] < 1).all()
    assert (speaking[0, 2:] == 0).all()
    assert np.abs(speaking - outputs["torch"]).max() <= 1e-5


def test_vamnet_sources_reach_the_npz(tmp_path):
    from perceptcodec.maps_export import export_saliency

    clip = make_video(tmp_path / "c.mp4", 320, 180, frames=6, fps=25)
    export_saliency(clip, tmp_path / "m.npz", SaliencySpec("vamnet"), progress=False, sources=True)
    data = np.load(tmp_path / "m.npz")
    assert data["sources"].shape == data["saliency"].shape == (6, 45, 80)
    assert len(data["face_frame"]) == len(data["face_speaking"]) == len(data["face_box"])


@pytest.mark.torch
def test_weights_with_face_cues_export_and_run_on_both_runtimes(tmp_path):
    """A network trained with face cues: the graphs take a ``cues`` input, the streaming model
    computes the cues (the speaker cue on its own flow) and both runtimes agree."""
    torch = pytest.importorskip("torch")
    from perceptcodec.saliency.face_cues import CUE_COUNT
    from perceptcodec.saliency.vamnet.export import export
    from perceptcodec.saliency.vamnet.net import VamNet
    from perceptcodec.saliency.vamnet.spec import VamNetConfig, save_checkpoint

    net = VamNet(VamNetConfig(node_dim=16, graph_layers=1, heads=2, face_cues=CUE_COUNT))
    with torch.no_grad():
        net.cue_proj.weight.normal_()  # not the zero start: the parity covers the cue path
    save_checkpoint(tmp_path / "w.pt", net, steps=1, train_config={})
    export(tmp_path / "w.pt")
    import onnxruntime as ort

    names = [i.name for i in ort.InferenceSession(str(tmp_path / "vamnet_step.onnx")).get_inputs()]
    assert names[-2:] == ["cues", "audio"]
    maps = {}
    for runtime in ("onnx", "torch"):
        model = VamNetSaliency(
            VamNetOptions(weights=str(tmp_path / "w.pt"), listen=1), runtime=runtime
        )
        assert model.spec.face_cues == CUE_COUNT and model.observe_stride == 2
        maps[runtime] = np.stack(
            [
                model(f, i / 25, np.full(AUDIO_SAMPLES, 0.01, np.float32) if i % 2 else None)
                for i, f in enumerate(_frames())
            ]
        )
    assert np.abs(maps["onnx"] - maps["torch"]).max() <= 1e-5 * maps["torch"].max()
    frames_seen = model._cue.speaker._k
    model.observe(_frames()[0], 1.0)  # a frame the stride skips: the cue looks, no map
    assert model._cue.speaker._k == frames_seen + 1
    assert VamNetSaliency(runtime="onnx").observe_stride == 2  # the shipped weights have cues


@pytest.mark.torch
def test_a_causal_graph_exports_and_carries_its_window_on_both_runtimes(tmp_path):
    """graph_window 3: the graphs take the last 2 steps' nodes; both runtimes carry them
    forward alike, and a track keeps its face slot while a new one takes a free slot whose
    carried nodes are masked off."""
    torch = pytest.importorskip("torch")
    from perceptcodec.saliency.faces import Track
    from perceptcodec.saliency.vamnet.export import export
    from perceptcodec.saliency.vamnet.net import VamNet
    from perceptcodec.saliency.vamnet.spec import VamNetConfig, save_checkpoint

    torch.manual_seed(0)
    net = VamNet(VamNetConfig(node_dim=16, graph_layers=1, heads=2, graph_window=3))
    save_checkpoint(tmp_path / "w.pt", net.eval(), steps=1, train_config={})
    export(tmp_path / "w.pt")
    maps, past = {}, {}
    for runtime in ("onnx", "torch"):
        model = VamNetSaliency(
            VamNetOptions(weights=str(tmp_path / "w.pt"), listen=1), runtime=runtime
        )
        assert model.spec.carries_nodes and model._past[0].shape == (1, 2, 8, 16)
        maps[runtime] = np.stack(
            [
                model(f, i / 25, np.full(AUDIO_SAMPLES, 0.01, np.float32) if i % 2 else None)
                for i, f in enumerate(_frames(4))
            ]
        )
        past[runtime] = model._past
        ok = model._past[1][0]
        assert ok[:, 6].all() and ok[:, 7].tolist() == [False, True]  # background; audio
    assert np.abs(maps["onnx"] - maps["torch"]).max() <= 1e-5 * maps["torch"].max()
    assert np.abs(past["onnx"][0] - past["torch"][0]).max() <= 1e-4

    def track(i, x):
        return Track(i, np.array([x, 10, x + 40, 60], np.float32), 1.0)

    assert [k for k, _ in model._assign_slots([track(7, 0), track(8, 100)])] == [0, 1]
    model._past[1][:] = True
    assert [k for k, _ in model._assign_slots([track(9, 200), track(8, 100)])] == [0, 1]
    assert not model._past[1][0, :, 0].any() and model._past[1][0, :, 1].all()


def test_the_motion_partner_is_motion_interval_frames_back_at_any_stride():
    """Trained with the frame 5 frames earlier as motion partner: at saliency stride 8 the
    network's step gets the frame 6 frames back (the newest the cue observed at or beyond
    4.5 frames), not the step 5 steps (40 frames) back."""
    from types import SimpleNamespace

    model = VamNetSaliency(runtime="onnx")
    model.bind(SimpleNamespace(fps=25.0))
    model.reset()
    feeds, step = [], model._step
    model._step = lambda feed: feeds.append(feed) or step(feed)
    for index in range(41):
        frame = np.full((180, 320, 3), index, np.uint8)
        if index % 8 == 0:
            model(frame, index / 25)
        elif index % model.observe_stride == 0:
            model.observe(frame, index / 25)
    partners = [round(float(f["partner"].mean()) * 255) for f in feeds]
    assert partners == [0, 2, 10, 18, 26, 34]


def test_vamnet_listens_only_when_asked(tmp_path):
    """listen=0 (default): the stream hands it no sound (its step runs the no-audio graph);
    listen=1 hears the soundtrack."""
    from perceptcodec.maps_export import export_saliency

    assert VamNetSaliency(runtime="onnx").audio_rate == 0
    assert VamNetSaliency(VamNetOptions(listen=1), runtime="onnx").audio_rate == 22050
    with pytest.raises(PerceptcodecError, match="listen 2 must be 0 or 1"):
        VamNetOptions(listen=2)
    sound = make_video(tmp_path / "s.mp4", 320, 180, frames=4, fps=25, audio="aac")
    heard = {}
    for listen in (0, 1):
        model = VamNetSaliency(VamNetOptions(listen=listen), runtime="onnx")
        feeds, step = [], model._step
        model._step = lambda feed, step=step, seen=feeds: seen.append(feed) or step(feed)
        export_saliency(sound, tmp_path / f"{listen}.npz", SaliencySpec(model), progress=False)
        heard[listen] = ["audio" in feed for feed in feeds]
    assert heard == {0: [False] * 4, 1: [True] * 4}
