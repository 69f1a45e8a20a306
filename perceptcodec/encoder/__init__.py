"""x264 encoding: the native wrapper and the library-level Encoder."""

from perceptcodec.encoder.encoder import Encoder
from perceptcodec.encoder.x264 import (
    Packet,
    Pass,
    RateControl,
    RateMode,
    X264Options,
    x264_build,
)

__all__ = ["Encoder", "Packet", "Pass", "RateControl", "RateMode", "X264Options", "x264_build"]
