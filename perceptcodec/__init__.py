"""perceptcodec: saliency-guided H.264 encoding with x264 per-macroblock QP offsets.

Library entry points: :func:`encode` (file to file, or pipes), :class:`Encoder` (frames + QP
maps to packets; ``av_packet``/``codec_context`` for PyAV), :class:`MediaSink` (the muxer),
:func:`qp_offsets` (saliency map to per-macroblock offsets) and :func:`get_model` (saliency
models by name). Attributes load lazily, so importing a
sub-module (say, the training code on a machine without PyAV) pulls in only what it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0.dev0"

_EXPORTS = {
    "ColorInfo": "perceptcodec.encoder.settings",
    "EncodeConfig": "perceptcodec.config",
    "EncodeSummary": "perceptcodec.pipeline",
    "MediaSink": "perceptcodec.io.sink",
    "Trim": "perceptcodec.config",
    "encode": "perceptcodec.pipeline",
    "Encoder": "perceptcodec.encoder",
    "Packet": "perceptcodec.encoder",
    "RateControl": "perceptcodec.encoder",
    "X264Options": "perceptcodec.encoder",
    "PerceptcodecError": "perceptcodec.errors",
    "QpOffsetMapper": "perceptcodec.roi",
    "RoiSettings": "perceptcodec.roi",
    "qp_offsets": "perceptcodec.roi",
    "available_models": "perceptcodec.saliency",
    "get_model": "perceptcodec.saliency",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'perceptcodec' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
