"""Issue 12, item 5 and trimming: standard input and output (``-``), output formats, and
--start/--frames. Small synthetic media made here; no shared data."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from media import config, luma_frames, make_video, psnr

import perceptcodec
from perceptcodec.config import EncodeConfig, SaliencySpec, Trim
from perceptcodec.encoder import X264Options
from perceptcodec.errors import PerceptcodecError
from perceptcodec.saliency.options import PriorOptions

CLI = [sys.executable, "-m", "perceptcodec"]
FAST = ["--saliency", "center", "--preset", "ultrafast"]


def run(*args: str, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI with ``stdin`` fed in; stdout kept as bytes (it may be video), stderr as text."""
    result = subprocess.run([*CLI, *args], input=stdin, capture_output=True, timeout=120, env=env)
    result.stderr = result.stderr.decode(errors="replace")
    return result


def one_error_line(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def decode(data: bytes, fmt: str | None = None) -> tuple[int, list[str]]:
    """(video frames, stream types) of media held in memory."""
    with av.open(io.BytesIO(data), format=fmt) as c:
        types = [s.type for s in c.streams]
        return sum(1 for _ in c.decode(video=0)), types


def make_y4m(path: Path, frames: int = 20, fps: int = 25) -> Path:
    """A YUV4MPEG2 clip of moving texture, 160x96."""
    return make_video(path, 160, 96, frames=frames, fps=fps, codec="rawvideo")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pipes")
    return {
        "y4m": make_y4m(folder / "in.y4m"),
        "mkv": make_video(folder / "in.mkv", 160, 96, frames=25, fps=25, audio="aac"),
        "mp4": make_video(folder / "in.mp4", 160, 96, frames=25, fps=25, audio="aac"),
    }


FRAMES = {"y4m": 20, "mkv": 25, "mp4": 25}


@pytest.mark.parametrize("kind", ["y4m", "mkv"])
def test_stdin_to_stdout_gives_a_playable_stream(media, kind):
    result = run("encode", "-", "-o", "-", "--format", "mkv", *FAST, stdin=media[kind].read_bytes())
    assert result.returncode == 0, result.stderr
    frames, types = decode(result.stdout)
    assert frames == FRAMES[kind]
    assert types == (["video", "audio"] if kind == "mkv" else ["video"])  # audio as for files
    assert "wrote <stdout>" in result.stderr  # the summary on stderr: stdout is the video


@pytest.mark.parametrize(("fmt", "muxer"), [("mpegts", "mpegts"), ("h264", "h264")])
def test_stdout_formats(media, fmt, muxer):
    result = run("encode", str(media["mp4"]), "-o", "-", "--format", fmt, *FAST, "-q")
    assert result.returncode == 0, result.stderr
    frames, types = decode(result.stdout, muxer)
    assert frames == 25
    if fmt == "mpegts":
        assert types == ["video", "audio"] and result.stderr == ""
    else:  # a raw stream carries no audio: said once on stderr
        assert types == ["video"] and "audio is left out" in result.stderr


def test_two_pass_from_a_pipe_spools_the_input(tmp_path, media):
    out = tmp_path / "two.mkv"
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    result = run(
        "encode",
        "-",
        "-o",
        str(out),
        "--two-pass",
        *FAST,
        "-q",
        stdin=media["mkv"].read_bytes(),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert decode(out.read_bytes())[0] == 25
    assert list((tmp_path / "tmp").iterdir()) == []  # the spooled copy went with the work folder


def test_one_pass_from_a_fifo_is_live_even_for_a_model_that_listens(tmp_path, media, monkeypatch):
    """A live stream has no end to wait for: 1 pass reads the FIFO as it arrives, never a
    spooled copy, also with the prior's speaker cue (a model that listens: it then runs
    without the sound)."""
    import threading

    import perceptcodec.pipeline as pipeline

    def no_spool(*args, **kwargs):
        raise AssertionError("a 1-pass encode of a pipe must not spool it")

    monkeypatch.setattr(pipeline, "spool", no_spool)
    fifo = tmp_path / "live.fifo"
    os.mkfifo(fifo)
    data = media["mkv"].read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    model = SaliencySpec("prior", PriorOptions(speaker=2))
    assert model.build().audio_rate > 0  # a prior whose speaker cue listens
    out = tmp_path / "live.mkv"
    summary = perceptcodec.encode(
        fifo, out, EncodeConfig(saliency=model, x264=X264Options("ultrafast")), progress=False
    )
    writer.join()
    assert summary.frames == 25
    assert decode(out.read_bytes()) == (25, ["video", "audio"])


def test_pipe_misuse_is_a_one_line_usage_error(tmp_path, media):
    src = str(media["mp4"])
    assert "needs --format" in one_error_line(run("encode", src, "-o", "-"), 2)
    assert "needs a seekable file" in one_error_line(
        run("encode", src, "-o", "-", "--format", "mp4"), 2
    )
    assert "needs -o FILE" in one_error_line(run("encode", "-", stdin=b"x"), 2)
    not_media = run("encode", "-", "-o", str(tmp_path / "o.mkv"), stdin=b"not a video at all")
    assert "<stdin>: not a readable media stream" in one_error_line(not_media, 1)
    spooled = run(  # 2 passes read a spooled copy: its errors still name the pipe
        "encode", "-", "-o", str(tmp_path / "o.mkv"), "--two-pass", stdin=b"not a video at all"
    )
    assert "<stdin>: not a readable media stream" in one_error_line(spooled, 1)
    assert list(tmp_path.iterdir()) == []


def test_stdin_that_is_the_output_file_is_refused(tmp_path, media):
    target = tmp_path / "same.mkv"
    target.write_bytes(media["mkv"].read_bytes())
    before = target.read_bytes()
    with open(target, "rb") as stdin:
        result = subprocess.run(
            [*CLI, "encode", "-", "-o", str(target), "--force", *FAST],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert "overwrite the input" in one_error_line(result, 1)
    assert target.read_bytes() == before


# --- trimming ---------------------------------------------------------------------------------


def test_trim_gives_the_frames_asked_for_from_the_start_asked_for(tmp_path, media):
    src = media["mp4"]  # 25 frames at 25 frames/s, with audio
    out = tmp_path / "trim.mkv"
    conf = EncodeConfig(
        x264=X264Options("veryfast"), saliency=SaliencySpec("none"), trim=Trim(0.4, 10)
    )
    summary = perceptcodec.encode(src, out, conf, progress=False)
    assert summary.frames == 10 and summary.duration_s == pytest.approx(0.4, abs=0.01)
    source, coded = luma_frames(src), luma_frames(out)
    assert len(coded) == 10
    # Output frame 0 is input frame 10 (0.4 s): far closer to it than to its neighbours.
    assert psnr(coded[0], source[10]) > psnr(coded[0], source[9]) + 5
    assert psnr(coded[0], source[10]) > psnr(coded[0], source[11]) + 5
    with av.open(str(out)) as c:
        video = [f.time for f in c.decode(video=0)]
    assert video[0] == pytest.approx(0.0, abs=0.002)  # starts where the input started
    with av.open(str(out)) as c:
        audio = [p for p in c.demux(audio=0) if p.size and p.pts is not None]
        times = [float(p.pts * p.time_base) for p in audio]
    assert min(times) == pytest.approx(0.0, abs=0.03)  # audio cut to match
    assert max(times) < 0.4 and max(times) > 0.3


def test_trim_through_a_pipe_and_a_timestamp(media):
    args = ["encode", "-", "-o", "-", "--format", "mkv", *FAST, "-q", "--start", "0:00.2"]
    result = run(*args, "--frames", "6", stdin=media["y4m"].read_bytes())
    assert result.returncode == 0, result.stderr
    with av.open(io.BytesIO(result.stdout)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 6 and frames[0].time == pytest.approx(0.0, abs=0.002)


def test_start_beyond_the_end_is_one_line_and_no_output(tmp_path, media):
    out = tmp_path / "late.mp4"
    result = run("encode", str(media["mp4"]), "-o", str(out), *FAST, "-q", "--start", "5")
    assert "no frame at or after --start 5 s" in one_error_line(result, 1)
    assert list(tmp_path.iterdir()) == []
    assert "bad time" in one_error_line(run("encode", str(media["mp4"]), "--start", "1:x"), 2)
    with pytest.raises(PerceptcodecError, match="frames"):
        Trim(frames=-1)


def test_untrimmed_encode_keeps_every_frame(tmp_path, media):
    out = tmp_path / "all.mkv"
    summary = perceptcodec.encode(media["mp4"], out, config(preset="ultrafast"), progress=False)
    assert summary.frames == 25 == len(luma_frames(out))
    assert np.isfinite(summary.duration_s)
