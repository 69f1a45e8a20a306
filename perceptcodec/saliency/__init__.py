"""Saliency models by name. Modules are imported lazily so torch stays optional."""

from __future__ import annotations

import importlib

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.base import SaliencyModel, normalise_map

# name -> "module:factory"; the factory takes keyword options and returns a SaliencyModel.
MODELS: dict[str, str] = {
    "prior": "perceptcodec.saliency.prior:PriorSaliency",
    "center": "perceptcodec.saliency.center:CenterBias",
    "vamnet": "perceptcodec.saliency.vamnet:VamNetSaliency",
}

DEFAULT_MODEL = "prior"


def available_models() -> list[str]:
    """Registered model names (``none`` is handled by the pipeline: no map at all)."""
    return sorted(MODELS)


def get_model(name: str, runtime: str = "auto", **options: object) -> SaliencyModel:
    """Build the saliency model registered under ``name``; ``runtime`` (auto, onnx, torch,
    tensorrt) applies to trained networks, the others have one way to run. ``options`` are the
    model's own keyword options (e.g. ``face_stride``, ``width``)."""
    if name not in MODELS:
        raise PerceptcodecError(
            f"unknown saliency model {name!r}; choose from none, {', '.join(available_models())}"
        )
    module_name, factory = MODELS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PerceptcodecError(f"saliency model {name!r} is not usable here: {exc}") from exc
    if runtime != "auto":
        options["runtime"] = runtime
    try:
        return getattr(module, factory)(**options)
    except TypeError as exc:
        if "runtime" in options and "runtime" in str(exc):
            raise PerceptcodecError(f"--runtime does not apply to {name!r} (one runtime)") from exc
        bad = [k for k in options if repr(k) in str(exc)]
        if bad:
            raise PerceptcodecError(f"model {name!r} has no option {bad[0]!r}") from exc
        raise


__all__ = ["SaliencyModel", "normalise_map", "available_models", "get_model", "DEFAULT_MODEL"]
