"""Saliency models by name. Modules are imported lazily so torch stays optional.

Each entry names the model's factory (a class taking its options dataclass and, for trained
networks, a runtime), its options type (:mod:`perceptcodec.saliency.options`) and the runtimes
it knows.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.base import SaliencyModel, normalise_map
from perceptcodec.saliency.options import (
    CenterOptions,
    DaveOptions,
    ModelOptions,
    PriorOptions,
    Runtime,
    VamNetOptions,
)


@dataclass(frozen=True)
class ModelEntry:
    """factory: ``module:Class``; options: its options dataclass; trained: whether it takes
    a runtime (the others have one way to run); stride: its default saliency stride (frames
    between the frames it sees; maps in between are interpolated); revision: raised when the
    model's code changes its maps under the same options (0: never), so that ``rd`` keys
    tell the results apart (trained models' weights are keyed by their digest)."""

    factory: str
    options: type[ModelOptions]
    trained: bool = False
    stride: int = 1
    revision: int = 0


MODELS: dict[str, ModelEntry] = {
    # stride 2: the same BD-EWPSNR as stride 1 on DHF1K 0002 and the proxies, faster encodes
    # (eval/results/rd/proxy_stride/README.md, eval/results/speed_ab*.json)
    # revision 1: the speaker cue aligns mouths on the faces' own pictures and reads them at
    # the face width; 2: its patches are fitted sub-pixel, within 2 patch pixels
    # (eval/results/speaker_match.md). Revision 3 is taken: a trial that was not kept left
    # rd points under its keys (eval/results/speaker_offset.md). 4: the cue compares frames
    # ~80 ms apart at any frame rate (eval/results/speaker_frame_rate.md; the same maps where
    # the prior sees frames >= 60 ms apart, as at 25 frames/s and stride 2); 5: the background
    # follows the learned static map (eval/results/static_net.md)
    "prior": ModelEntry(
        "perceptcodec.saliency.prior:PriorSaliency", PriorOptions, stride=2, revision=5
    ),
    "center": ModelEntry("perceptcodec.saliency.center:CenterBias", CenterOptions),
    # stride 8: 0.86x of plain x264 at 720p medium before its face cues, 0.77-0.81x with them
    # (0.72x at stride 4: eval/results/speed_default_choice*.md, vamnet_cues.md), the
    # BD-EWPSNR of stride 4 within 0.05 dB on held-out proxies and DHF1K 0002
    # (eval/results/default_model.md)
    "vamnet": ModelEntry(
        "perceptcodec.saliency.vamnet:VamNetSaliency", VamNetOptions, True, stride=8
    ),
    "dave": ModelEntry("perceptcodec.saliency.dave:DaveSaliency", DaveOptions, True),
}

NONE = "none"  # no saliency: plain x264 (handled by the pipeline, not a model)
# the winner on BD-EWPSNR of clips held out for both candidates (stills and dialogues) among
# the models that encode at >= 0.8x plain x264's speed (eval/results/default_model.md)
DEFAULT_MODEL = "prior"


def available_models() -> list[str]:
    """Registered model names (``none`` is handled by the pipeline: no map at all)."""
    return sorted(MODELS)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; a one-line error for an unknown name."""
    if name not in MODELS:
        raise PerceptcodecError(
            f"unknown saliency model {name!r}; choose from {NONE}, {', '.join(available_models())}"
        )
    return MODELS[name]


def get_model(
    name: str, options: ModelOptions | None = None, runtime: Runtime | str = Runtime.AUTO
) -> SaliencyModel:
    """Build the saliency model registered under ``name`` with ``options`` (an instance of its
    options dataclass; None = its defaults). ``runtime`` applies to trained networks only."""
    entry = model_entry(name)
    runtime = Runtime.parse(runtime)
    if options is None:
        options = entry.options()
    elif type(options) is not entry.options:
        raise PerceptcodecError(
            f"model {name!r} takes {entry.options.__name__}, not {type(options).__name__}"
        )
    if runtime is not Runtime.AUTO and not entry.trained:
        raise PerceptcodecError(f"--runtime does not apply to {name!r} (one runtime)")
    module_name, factory = entry.factory.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PerceptcodecError(f"saliency model {name!r} is not usable here: {exc}") from exc
    cls = getattr(module, factory)
    return cls(options, runtime=runtime) if entry.trained else cls(options)


__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "NONE",
    "ModelEntry",
    "Runtime",
    "SaliencyModel",
    "available_models",
    "get_model",
    "model_entry",
    "normalise_map",
]
