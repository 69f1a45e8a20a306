"""Synthetic media (moving texture, optional tone) for tests and the demo when no real clip is
at hand."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def textured_frame(width: int, height: int, index: int, seed: int = 0) -> np.ndarray:
    """H x W x 3 uint8 RGB: smooth gradients plus moving high-frequency texture (costly to
    code, so bit allocation matters)."""
    rng = np.random.default_rng(seed)
    tex = rng.integers(0, 256, size=(height // 4 + 2, width // 4 + 2, 3), dtype=np.uint8)
    tex = np.kron(tex, np.ones((4, 4, 1), np.uint8))
    dx = (2 * index) % 8
    tex = tex[:height, dx : dx + width]
    yy, xx = np.mgrid[0:height, 0:width]
    grad = ((xx + 3 * index) % 256).astype(np.uint8)[..., None]
    return ((tex.astype(np.uint16) + grad) // 2).astype(np.uint8)


def make_video(
    path: Path,
    width: int = 320,
    height: int = 240,
    frames: int = 30,
    fps: int = 25,
    audio: str | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a synthetic video; ``audio`` is None, 'aac', 'mp3' or 'pcm_s16le' (a 440 Hz tone
    as long as the video); ``pts`` (in ``time_base``) makes variable-frame-rate input."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "12", "preset": "ultrafast"}
        if time_base is not None:
            stream.codec_context.time_base = time_base
        a_stream = None
        if audio:
            a_stream = out.add_stream(audio, rate=44100)
            a_stream.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(textured_frame(width, height, i), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if a_stream is not None:
            _write_tone(out, a_stream, frames / fps)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    rate = 44100
    n = int(rate * seconds)
    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
    fmt = (
        stream.codec_context.codec.audio_formats[0].name
        if stream.codec_context.codec.audio_formats
        else "fltp"
    )
    chunk = 1024
    for start in range(0, n, chunk):
        part = samples[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(part[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame = (
            frame
            if fmt == "fltp"
            else av.AudioResampler(format=fmt, layout="mono", rate=rate).resample(frame)[0]
        )
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def main() -> None:
    """``python -m perceptcodec.io.synthetic OUT.mp4``: a 4 s 640x360 clip with a tone."""
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "sample.mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    make_video(out, 640, 360, frames=100, fps=25, audio="aac")
    print(f"wrote synthetic sample {out}")


if __name__ == "__main__":
    main()
