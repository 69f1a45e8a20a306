"""Encoding: the native x264/x265 wrappers and the library-level Encoder."""

from perceptcodec.encoder.codec import Codec, X265Options
from perceptcodec.encoder.encoder import Encoder
from perceptcodec.encoder.x264 import (
    Packet,
    Pass,
    RateControl,
    RateMode,
    X264Options,
    x264_build,
)

__all__ = [
    "Codec",
    "Encoder",
    "Packet",
    "Pass",
    "RateControl",
    "RateMode",
    "X264Options",
    "X265Options",
    "x264_build",
]
