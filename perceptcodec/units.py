"""Parsing user-written quantities, and converting between units."""

from __future__ import annotations

import re
from fractions import Fraction

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


_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)\s*$")


def parse_time(text: str | int | float) -> float:
    """Seconds from ``12.5``, ``1:02.5`` (minutes:seconds) or ``1:00:02.5``
    (hours:minutes:seconds). Raises PerceptcodecError for anything else or a negative time."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        text = str(text)
        match = _CLOCK.match(text)
        if match:
            hours, minutes, secs = match.groups()
            if int(minutes) >= 60 and hours is not None or float(secs) >= 60:
                raise PerceptcodecError(f"bad time {text!r}: minutes and seconds count to 59")
            seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise PerceptcodecError(
                    f"bad time {text!r}: write seconds (12.5) or a timestamp (1:02.5, 0:01:02.5)"
                ) from None
    if not 0 <= seconds < float("inf"):  # NaN fails too
        raise PerceptcodecError(f"time {text!r} must be 0 or more seconds")
    return seconds


def frame_ticks(fps: Fraction | float, time_base: Fraction) -> int:
    """One frame at ``fps`` frames/s in ticks of ``time_base`` (seconds per tick), at least 1:
    the step between the pts of consecutive frames."""
    return max(1, round(1 / (fps * time_base)))
