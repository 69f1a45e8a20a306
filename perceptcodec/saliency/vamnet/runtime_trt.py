"""VAM-Net's per-frame step on TensorRT: FP16 engines built from the exported ONNX graphs with
the TensorRT Python API, cached on disk, run with CUDA buffers owned by PyTorch.

Engines are keyed by the ONNX file's hash, the GPU (name and compute capability) and the
TensorRT version, under ``$PERCEPTCODEC_CACHE`` (default ``~/.cache/perceptcodec``)/trt/; the
first run builds them (tens of seconds), later runs load them. Written against the TensorRT 10
name-based tensor API (``num_io_tensors``, ``set_tensor_address``, ``execute_async_v3``).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.vamnet.runtime_onnx import NODE_OUTPUTS, OUTPUTS, onnx_paths
from perceptcodec.saliency.vamnet.spec import StepSpec, read_step_spec

WORKSPACE_BYTES = 1 << 30


def cache_dir() -> Path:
    """Where built engines are kept."""
    root = os.environ.get("PERCEPTCODEC_CACHE") or Path.home() / ".cache" / "perceptcodec"
    return Path(root) / "trt"


def engine_key(
    onnx_path: Path, gpu_name: str, capability: tuple[int, int], trt_version: str
) -> str:
    """File name of the engine for one (ONNX graph, GPU, TensorRT version); any change in one of
    them gives another name, so a stale engine is never loaded."""
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:16]
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower()
    return (
        f"{onnx_path.stem}-{digest}-{gpu}-sm{capability[0]}{capability[1]}-trt{trt_version}.engine"
    )


def _import_tensorrt():
    try:
        import tensorrt
    except ImportError as exc:
        raise PerceptcodecError(
            "TensorRT is not installed here (pip install tensorrt on a CUDA machine): "
            "use --runtime onnx or torch"
        ) from exc
    try:
        import torch
    except ImportError as exc:
        raise PerceptcodecError("--runtime tensorrt needs PyTorch for its CUDA buffers") from exc
    if not torch.cuda.is_available():
        raise PerceptcodecError("--runtime tensorrt needs a CUDA GPU; none is visible")
    return tensorrt, torch


def build_engine(trt, onnx_path: Path) -> bytes:
    """Serialized engine for ``onnx_path``, FP16 kernels allowed."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT 8.x
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise PerceptcodecError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise PerceptcodecError(f"TensorRT failed to build an engine from {onnx_path.name}")
    return bytes(serialized)


class _Engine:
    """One deserialized engine with its execution context and preallocated CUDA tensors."""

    def __init__(self, trt, torch, blob: bytes) -> None:
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise PerceptcodecError("TensorRT could not load a cached engine (delete the cache)")
        self.context = self.engine.create_execution_context()
        names = ("float32", "float16", "int32", "int64", "bool")  # int64 is TensorRT >= 9
        dtypes = {getattr(trt, n): getattr(torch, n) for n in names if hasattr(trt, n)}
        self.torch, self.inputs, self.outputs = torch, {}, {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            dtype = dtypes[self.engine.get_tensor_dtype(name)]
            buffer = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, buffer.data_ptr())
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs)[name] = buffer
        self.stream = torch.cuda.Stream()

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self.torch
        with torch.cuda.stream(self.stream):
            for name, buffer in self.inputs.items():
                buffer.copy_(torch.from_numpy(np.ascontiguousarray(feed[name])))
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise PerceptcodecError("TensorRT inference failed")
            names = [n for n in (*OUTPUTS, *NODE_OUTPUTS) if n in self.outputs]
            out = [self.outputs[name].float().cpu().numpy() for name in names]
        self.stream.synchronize()
        return out


class TensorRtStep:
    """Both VAM-Net step graphs (with / without audio) as TensorRT engines, called like
    :class:`perceptcodec.saliency.vamnet.runtime_onnx.OnnxStep`; ``spec`` from the engines'
    input shapes and vamnet_step.json."""

    def __init__(self, folder: Path | None = None) -> None:
        trt, torch = _import_tensorrt()
        gpu = torch.cuda.get_device_name(0)
        capability = torch.cuda.get_device_capability(0)
        self.engines = {}
        for has_audio, onnx_path in onnx_paths(folder).items():
            if not onnx_path.exists():
                raise PerceptcodecError(f"{onnx_path} missing: run `perceptcodec export onnx`")
            path = cache_dir() / engine_key(onnx_path, gpu, capability, trt.__version__)
            if not path.exists():
                blob = build_engine(trt, onnx_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.part")
                tmp.write_bytes(blob)
                tmp.replace(path)
            self.engines[has_audio] = _Engine(trt, torch, path.read_bytes())
        shapes = {name: tuple(b.shape) for name, b in self.engines[True].inputs.items()}
        self.spec: StepSpec = read_step_spec(onnx_paths(folder)[True].parent, shapes)

    def __call__(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.engines["audio" in feed](feed)
