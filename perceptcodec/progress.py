"""Progress display: a redrawn one-line bar on a terminal; elsewhere (a log file, a pipe, a
batch job) a plain line every ``interval`` seconds, and a last one at the end when any was
printed."""

from __future__ import annotations

import sys
import time
from typing import TextIO

LOG_INTERVAL_S = 5.0


class Progress:
    """Call ``update(frames_done)`` as work goes on and ``close()`` once at the end (it draws
    the final count). On a TTY the bar redraws at most 5 times a second."""

    def __init__(
        self,
        total: int,
        label: str = "",
        stream: TextIO | None = None,
        interval: float = LOG_INTERVAL_S,
    ) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = 0.2 if self.tty else interval
        self.start = time.monotonic()
        self._last = self.start
        self._done = 0
        self._shown = False
        self._closed = False

    def update(self, done: int, force: bool = False) -> None:
        self._done = done
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self._draw(done, now)

    def _draw(self, done: int, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        fps = done / elapsed
        if self.total > 0:
            eta = max(self.total - done, 0) / fps if fps > 0 else 0.0
            if self.tty:
                bar = "#" * int(min(done / self.total, 1.0) * 24)
                text = f"{self.label} [{bar:<24}] {done}/{self.total} {fps:5.1f} fps "
                text += f"ETA {eta:4.0f} s"
            else:
                text = f"{self.label}: {done}/{self.total} frames, {fps:.1f} fps, ETA {eta:.0f} s"
        else:
            text = f"{self.label}: {done} frames, {fps:.1f} fps"
        try:
            self.stream.write("\r" + text if self.tty else text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            return  # a closed or broken stderr must not stop the work
        self._shown = True

    def close(self, done: int | None = None) -> None:
        """Draw the final count (``done``, default the last one given) and end the line."""
        if self._closed:
            return
        self._closed = True
        if done is not None:
            self._done = done
        if self.tty or self._shown:
            self._draw(self._done, time.monotonic())
        if self.tty:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
