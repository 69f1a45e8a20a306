"""A one-line progress display (frames, fps, ETA) for terminals; silent otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call ``update(frames_done)``; redraws at most 5 times a second on a TTY."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        fps = done / elapsed
        if self.total > 0:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 24)
            eta = (self.total - done) / fps if fps > 0 else 0.0
            text = f"{self.label} [{bar:<24}] {done}/{self.total} {fps:5.1f} fps ETA {eta:4.0f} s"
        else:
            text = f"{self.label} {done} frames {fps:5.1f} fps"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
