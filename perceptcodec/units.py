"""Parsing user-written quantities."""

from __future__ import annotations

import re

from perceptcodec.errors import PerceptcodecError

# The paper's evaluation bitrates (kbit/s), VAM-Net section 6.4.
PAPER_BITRATES_KBPS = (150, 200, 250, 300, 400, 500, 600, 800, 1000)

_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*(?:bps|b/s|bit/s)?\s*$")


def parse_bitrate(text: str | int | float) -> int:
    """Bitrate in kbit/s from ``300k``, ``1.5M``, ``300kbps`` or a bare number (kbit/s, as x264's
    --bitrate). Raises PerceptcodecError for anything else or a rate outside 1 kbit/s-1 Gbit/s."""
    if isinstance(text, (int, float)):
        kbps = float(text)
    else:
        match = _BITRATE.match(text)
        if not match:
            raise PerceptcodecError(f"bad bitrate {text!r}: write it like 300k, 1.5M or 800")
        value, unit = float(match.group(1)), match.group(2).lower()
        kbps = value * 1000 if unit == "m" else value
    if not 1 <= kbps <= 1_000_000:
        raise PerceptcodecError(f"bitrate {text!r} is out of range (1k to 1000M)")
    return int(round(kbps))
