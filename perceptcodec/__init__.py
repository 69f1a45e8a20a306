"""perceptcodec: saliency-guided H.264 encoding with x264 per-macroblock QP offsets.

Library entry points: :func:`encode` (file to file), :class:`Encoder` (frames + QP maps to
packets), :func:`qp_offsets` (saliency map to per-macroblock offsets) and
:func:`get_model` (saliency models by name).
"""

from perceptcodec.encoder import Encoder, Packet, RateControl, X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.pipeline import EncodeSummary, encode
from perceptcodec.roi import QpOffsetMapper, RoiSettings, qp_offsets
from perceptcodec.saliency import available_models, get_model

__version__ = "0.1.0"

__all__ = [
    "EncodeSummary",
    "Encoder",
    "Packet",
    "PerceptcodecError",
    "QpOffsetMapper",
    "RateControl",
    "RoiSettings",
    "X264Options",
    "available_models",
    "encode",
    "get_model",
    "qp_offsets",
]
