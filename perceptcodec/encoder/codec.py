"""Which video codec an encode makes: H.264 (x264, the default) or HEVC (x265), and the
settings only HEVC takes (:class:`X265Options`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from perceptcodec.errors import PerceptcodecError


class Codec(StrEnum):
    """The output's video codec: ``h264`` (libx264) or ``hevc`` (libx265)."""

    H264 = "h264"
    HEVC = "hevc"

    @classmethod
    def parse(cls, value: object) -> Codec:
        """A Codec from itself or its name; anything else is a one-line error."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(c.value for c in cls)
            raise PerceptcodecError(f"unknown codec {value!r} (one of {choices})") from None


@dataclass(frozen=True)
class X265Options:
    """HEVC-only settings. ``params``: x265-params, ``"key=value:key=value"`` (``x265
    --fullhelp`` names; a bare key means 1), applied after the preset/tune/keyint/threads
    options. Keys and values are checked by libx265 itself (:func:`check_x265_params`, or when
    the encoder opens): an unknown key or a bad value is refused, naming it."""

    params: str | None = None

    def __post_init__(self) -> None:
        params = self.params
        if params is not None and (not isinstance(params, str) or "\0" in params):
            raise PerceptcodecError(f"x265 params {params!r} must be a 'key=value:...' string")
        if params is not None and not params.strip(": "):
            object.__setattr__(self, "params", None)


def check_x265_params(params: str | None) -> None:
    """Refuse unknown x265-params keys and bad values now, in one line naming the key, by
    opening (and closing) a tiny x265 encoder with them; a usage check before any decoding."""
    if not params:
        return
    from fractions import Fraction

    from perceptcodec.encoder.x264 import RateControl, RateMode, X264Options
    from perceptcodec.encoder.x265 import X265Encoder

    rate = RateControl(mode=RateMode.CRF)
    fps = Fraction(25)
    X265Encoder(
        128, 128, fps, 1 / fps, rate, X264Options(preset="ultrafast", threads=1), params=params
    ).close()


__all__ = ["Codec", "X265Options", "check_x265_params"]
