"""VAM-Net through ONNX Runtime: the shipped exported step, parity with PyTorch, runtimes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from media import make_video

import perceptcodec
from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.vamnet import VamNetSaliency, nvidia_gpu_present, pick_runtime
from perceptcodec.saliency.vamnet_onnx import onnx_paths
from perceptcodec.saliency.vamnet_trt import engine_key

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in onnx_paths().values()), reason="no exported VAM-Net graphs"
)


def _frames(n=6):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (180, 320, 3), np.uint8)
    return [np.roll(base, 4 * i, axis=1) for i in range(n)]


def test_onnx_runtime_needs_no_torch_and_streams():
    model = VamNetSaliency(runtime="onnx")
    assert model.runtime == "onnx"
    for i, frame in enumerate(_frames()):
        sal = model(frame, i / 25, np.zeros(14112, np.float32) if i % 2 else None)
    assert sal.shape == (45, 80) and sal.sum() == pytest.approx(1.0, abs=1e-4)
    code = ("import sys, numpy as np; from perceptcodec.saliency.vamnet import VamNetSaliency; "
            "m = VamNetSaliency(runtime='onnx'); m(np.zeros((180, 320, 3), np.uint8), 0.0); "
            "print('torch' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"  # fmt: skip


@pytest.mark.torch
def test_onnx_matches_pytorch_within_1e_5_relative():
    pytest.importorskip("torch")
    maps = {}
    for runtime in ("onnx", "torch"):
        model = VamNetSaliency(runtime=runtime)
        maps[runtime] = np.stack([model(f, i / 25, np.full(14112, 0.01, np.float32))
                                  for i, f in enumerate(_frames())])  # fmt: skip
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


def test_auto_runtime_picks_the_fastest_present():
    assert pick_runtime(have_onnx=True, gpu=False) == "onnx"
    assert pick_runtime(have_onnx=False, gpu=False) == "torch"
    on_gpu = "tensorrt" if importlib.util.find_spec("tensorrt") else "torch"
    assert pick_runtime(have_onnx=True, gpu=True) == on_gpu
    if not nvidia_gpu_present():
        assert VamNetSaliency().runtime == "onnx"


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
        model = VamNetSaliency(runtime=name)
        maps[name] = np.stack([model(f, i / 25, np.full(14112, 0.01, np.float32))
                               for i, f in enumerate(_frames())])  # fmt: skip
    assert "fp16" in model.runtime
    assert np.abs(maps[runtime] - maps["onnx"]).max() <= 2e-2 * maps["onnx"].max()
