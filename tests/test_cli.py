"""The command line on good and bad input: one-line errors, non-zero exit, no partial output."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import av
import numpy as np
import pytest
from media import make_video


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perceptcodec", *args], capture_output=True, text=True, timeout=120
    )


def _audio_only(path):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, 1024), np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _zero_frames(path):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
    return path


def _truncated(path):
    full = make_video(
        path.with_name("full.mp4"), 160, 96, frames=60, options={"movflags": "faststart"}
    )
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_INPUTS = {
    "missing file": (lambda d: d / "nope.mp4", [], "no such file"),
    "not a video": (
        lambda d: (d / "t.mp4").write_text("hello") and d / "t.mp4",
        [],
        "not a readable media file",
    ),
    "no video stream": (lambda d: _audio_only(d / "a.m4a"), [], "no video stream"),
    "truncated file": (lambda d: _truncated(d / "cut.mp4"), [], "truncated"),
    "zero frames": (lambda d: _zero_frames(d / "z.mkv"), [], "not a readable media file"),
    "odd size": (
        lambda d: make_video(d / "odd.mkv", 321, 241, frames=2, codec="ffv1", pix_fmt="yuv444p"),
        [],
        "odd dimension",
    ),
    "bad bitrate": (
        lambda d: make_video(d / "ok.mp4", 64, 64, frames=2),
        ["--bitrate", "3x"],
        "bad bitrate",
    ),
    "unwritable output": (
        lambda d: make_video(d / "ok.mp4", 64, 64, frames=2),
        ["-o", "/proc/perceptcodec/out.mp4"],
        "does not exist",
    ),
    "output over input": (
        lambda d: make_video(d / "ok.mp4", 64, 64, frames=2),
        ["-o", "{input}"],
        "overwrite the input",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_error_and_no_output(tmp_path, case):
    make, extra, message = BAD_INPUTS[case]
    src = make(tmp_path)
    before = hashlib.sha256(src.read_bytes()).hexdigest() if src.exists() else None
    listing = sorted(p.name for p in tmp_path.iterdir())
    extra = [a.replace("{input}", str(src)) for a in extra]
    result = run("encode", str(src), "--saliency", "none", "-q", *extra)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perceptcodec: error:"), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # nothing written
    if before is not None:
        assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # input untouched


def test_encode_cli_summary_and_default_output(tmp_path):
    src = make_video(tmp_path / "clip.mp4", 160, 96, frames=10)
    result = run("encode", str(src), "--saliency", "none", "--bitrate", "200k", "--json", "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dst"] == str(tmp_path / "clip.none.200k.mp4")
    assert summary["frames"] == 10 and summary["target_kbps"] == 200
    assert (tmp_path / "clip.none.200k.mp4").stat().st_size > 0
    again = run("encode", str(src), "--saliency", "none", "--bitrate", "200k", "-q")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_unknown_model_is_a_one_line_usage_error(tmp_path):
    src = make_video(tmp_path / "clip.mp4", 64, 64, frames=2)
    result = run("encode", str(src), "--saliency", "nosuchmodel", "-q")
    assert result.returncode == 2 and "invalid choice: 'nosuchmodel'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--face-stride", "0"], "--face-stride 0 must lie in 1..10000"),
        (["--saliency-width", "-320"], "--saliency-width -320 must lie in 32..1920"),
        (["--saliency-width", "100000"], "--saliency-width 100000 must lie in 32..1920"),
        (["--saliency", "none", "--face-stride", "5"], "does not apply to --saliency none"),
    ],
)
def test_model_option_ranges_are_one_line_errors(tmp_path, flags, message):
    src = make_video(tmp_path / "clip.mp4", 64, 64, frames=2)
    result = run("encode", str(src), "-q", *flags)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_model_options_reach_the_model_or_fail_in_one_line(tmp_path):
    import perceptcodec
    from perceptcodec.saliency.options import PriorOptions

    prior = perceptcodec.get_model("prior", PriorOptions(face_stride=3, width=160, face_width=0))
    assert prior.tracker.stride == 3 and prior.size_for(1280, 720) == (160, 90)
    src = make_video(tmp_path / "clip.mp4", 64, 64, frames=4)
    ok = run(
        "encode",
        str(src),
        "-o",
        str(tmp_path / "o.mp4"),
        "--face-stride",
        "2",
        "--saliency-width",
        "64",
        "--saliency-stride",
        "2",
        "-q",
    )
    assert ok.returncode == 0, ok.stderr
    bad = run("encode", str(src), "--saliency", "center", "--face-stride", "5", "-q")
    assert bad.returncode == 1 and "has no option --face-stride" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
