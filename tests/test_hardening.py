"""Issue 11 (hardening): bad input, faults and misuse give one line and a non-zero exit, leave
nothing behind and never touch the input. One test (or more) per item of the issue."""

from __future__ import annotations

import ctypes
import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import BoxSaliency, config, make_video
from qp import decoded_mb_qps

import perceptcodec
from perceptcodec.config import EncodeConfig, SaliencySpec
from perceptcodec.encoder import RateControl, X264Options
from perceptcodec.encoder.x264 import X264Encoder, _lib
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.integrity import _element, structure_damage
from perceptcodec.io.source import PerceptcodecWarning
from perceptcodec.progress import Progress
from perceptcodec.roi import RoiSettings

CLI = [sys.executable, "-m", "perceptcodec"]


def run(*args: str, cwd: Path | None = None, env: dict | None = None, **kw):
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=180, cwd=cwd, env=env, **kw
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def listing(*folders: Path) -> dict[str, list[str]]:
    return {str(f): sorted(p.name for p in f.iterdir()) for f in folders}


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# --- 1. outputs are never the input ---------------------------------------------------------


@pytest.mark.parametrize("alias", ["same", "dot", "symlink", "hardlink"])
def test_saliency_overlay_never_replaces_the_input(tmp_path, alias):
    src = make_video(tmp_path / "in.mp4", 64, 48, frames=3)
    before = sha(src)
    overlay = {"same": "in.mp4", "dot": "./in.mp4", "symlink": "link.mp4", "hardlink": "hard.mp4"}
    if alias == "symlink":
        (tmp_path / "link.mp4").symlink_to(src)
    if alias == "hardlink":
        os.link(src, tmp_path / "hard.mp4")
    files = listing(tmp_path)
    result = run(
        "saliency",
        "in.mp4",
        "-o",
        "maps.npz",
        "--overlay",
        overlay[alias],
        "--force",
        "--saliency",
        "center",
        "-q",
        cwd=tmp_path,
    )
    assert "overwrite the input" in one_error_line(result)
    assert sha(src) == before and listing(tmp_path) == files


# --- 2. signals, stale temporary files, Ctrl-C during imports --------------------------------


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("long") / "long.mp4", 320, 192, frames=300)


def _start_encode(clip: Path, out_dir: Path, tmpdir: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    args = [
        *CLI,
        "encode",
        str(clip),
        "-o",
        str(out_dir / "out.mp4"),
        "--two-pass",
        "--preset",
        "slower",
        "--saliency",
        "center",
        "-q",
    ]
    return subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)


def _wait_for_pass_one(proc: subprocess.Popen, out_dir: Path, tmpdir: Path) -> None:
    """Until the hidden output and pass 1's maps exist (the encode is under way)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        maps = list(tmpdir.glob(f"perceptcodec-{proc.pid}-*/dqp.f16"))
        hidden = list(out_dir.glob(f".out.pcx{proc.pid}.*.mp4"))
        if maps and hidden and maps[0].stat().st_size > 0:
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    raise AssertionError("the encode did not start")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_encode_cleans_up(tmp_path, long_clip, signum):
    out_dir, tmpdir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir(), tmpdir.mkdir()
    proc = _start_encode(long_clip, out_dir, tmpdir)
    _wait_for_pass_one(proc, out_dir, tmpdir)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "no output written" in lines[0], stderr
    assert listing(out_dir, tmpdir) == {str(out_dir): [], str(tmpdir): []}


def test_next_run_removes_what_a_killed_run_left(tmp_path, long_clip):
    out_dir, tmpdir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir(), tmpdir.mkdir()
    proc = _start_encode(long_clip, out_dir, tmpdir)
    _wait_for_pass_one(proc, out_dir, tmpdir)
    proc.kill()
    proc.communicate(timeout=30)
    assert any(p.name.startswith(".out.pcx") for p in out_dir.iterdir())
    assert any(p.name.startswith("perceptcodec-") for p in tmpdir.iterdir())
    small = make_video(tmp_path / "small.mp4", 64, 48, frames=2)
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    result = run(
        "encode", str(small), "-o", str(out_dir / "b.mp4"), "--saliency", "none", "-q", env=env
    )
    assert result.returncode == 0, result.stderr
    assert listing(out_dir, tmpdir) == {str(out_dir): ["b.mp4"], str(tmpdir): []}


def test_ctrl_c_during_the_imports_is_one_line(tmp_path):
    src = make_video(tmp_path / "in.mp4", 64, 48, frames=2)
    code = (
        "import builtins, os, signal, sys\n"
        "real = builtins.__import__\n"
        "def hook(name, *a, **k):\n"
        "    if name.startswith('av'):\n"
        "        builtins.__import__ = real\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *a, **k)\n"
        "from perceptcodec.cli import main\n"
        "builtins.__import__ = hook\n"
        f"sys.exit(main(['encode', {str(src)!r}, '--saliency', 'none', '-q']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "interrupted" in one_error_line(result, 130)


# --- 3. library calls that used to kill the interpreter -------------------------------------


def _encoder(**kw) -> perceptcodec.Encoder:
    return perceptcodec.Encoder(160, 96, Fraction(25), RateControl(mode="crf", crf=30), **kw)


def test_encoder_after_close_or_with_block_raises():
    frame = np.zeros((96, 160, 3), np.uint8)
    enc = _encoder()
    enc.close()
    enc.close()  # twice is fine
    for call in (lambda: enc.encode(frame), enc.headers, lambda: list(enc.flush())):
        with pytest.raises(PerceptcodecError, match="closed"):
            call()
    with _encoder() as enc2:
        enc2.encode(frame)
    with pytest.raises(PerceptcodecError, match="closed"):
        enc2.encode(frame)


def test_encoder_shared_by_threads_is_serialised():
    enc = _encoder(options=X264Options(preset="ultrafast"))
    packets: list = []
    errors: list = []

    def work(value: int) -> None:
        try:
            for _ in range(30):
                packets.extend(enc.encode(np.full((96, 160, 3), value, np.uint8)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(v,)) for v in (40, 200, 120)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    packets += list(enc.flush())
    enc.close()
    assert not errors and len(packets) == 90


@pytest.mark.parametrize(
    "planes, message",
    [
        (lambda: (np.zeros((96, 160), np.uint8),) + (np.zeros((24, 40), np.uint8),) * 2, "U plane"),
        (
            lambda: (
                np.zeros((96, 160), np.uint8),
                np.zeros((48, 80), np.uint8),
                np.zeros((48, 79), np.uint8),
            ),
            "V plane",
        ),
        (lambda: np.zeros((120, 200, 3), np.uint8), "luma plane is 200x120"),
        (lambda: np.zeros((96, 160, 3), np.float32), "uint8"),
    ],
)
def test_planes_of_the_wrong_size_are_refused(planes, message):
    with _encoder() as enc, pytest.raises(PerceptcodecError, match=message):
        enc.encode(planes())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e9, -1e9])
def test_bad_qp_offsets_are_refused(bad):
    with _encoder() as enc:
        dqp = np.zeros(enc.mb_shape, np.float32)
        dqp[1, 2] = bad
        with pytest.raises(PerceptcodecError, match="QP-offset map|QP offsets"):
            enc.encode(np.zeros((96, 160, 3), np.uint8), dqp)
        with pytest.raises(PerceptcodecError, match="shape"):
            enc.encode(np.zeros((96, 160, 3), np.uint8), np.zeros((2, 2), np.float32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(pass_=1), "stats_path"),
        (dict(pass_=2), "stats_path"),
        (dict(pass_=7), "pass 7"),
        (dict(fps=0), "fps"),
        (dict(fps=-25), "fps"),
        (dict(fps=float("nan")), "fps"),
        (dict(width=15), "even sizes"),
        (dict(width=100_000), "even sizes"),
    ],
)
def test_bad_encoder_arguments_are_refused(kwargs, message):
    args = dict(width=160, height=96, fps=Fraction(25))
    args.update(kwargs)
    with pytest.raises(PerceptcodecError, match=message):
        perceptcodec.Encoder(**args)


def test_the_shim_checks_its_handle():
    fake = ctypes.create_string_buffer(4096)  # zeroed memory: not a live encoder
    lib = _lib()
    assert lib.pcx_delayed(ctypes.addressof(fake)) == -2
    assert lib.pcx_headers(ctypes.addressof(fake), fake, 16) == -2
    assert lib.pcx_delayed(None) == -2
    lib.pcx_close(ctypes.addressof(fake))  # ignored, no crash
    assert not hasattr(lib, "pcx_mb_count")
    assert Path(lib._name).name == "libpcx264.so"


def test_rejected_size_prints_no_second_traceback():  # item 12
    code = (
        "import gc\nfrom fractions import Fraction\nimport perceptcodec\n"
        "try:\n    perceptcodec.Encoder(15, 16, Fraction(25))\n"
        "except perceptcodec.PerceptcodecError:\n    pass\ngc.collect()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


# --- 4. truncation, decided from the container and decoder ----------------------------------


def _half(full: Path, out: Path) -> Path:
    data = full.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _unfinished_mkv(full: Path, out: Path) -> Path:
    """What a Matroska writer leaves while it runs: segment size unknown, no Cues yet."""
    data = bytearray(full.read_bytes())
    with open(full, "rb") as f:
        _, size, header = _element(f)
        offset = header + size  # the Segment element follows the EBML header
        f.seek(offset)
        _, _, seg_header = _element(f)
    size_len = seg_header - 4  # 4-byte Segment ID, then the size
    data[offset + 4 : offset + seg_header] = bytes([1 << (8 - size_len)]) + b"\xff" * (size_len - 1)
    out.write_bytes(bytes(data[: data.rindex(b"\x1c\x53\xbb\x6b")]))  # whole clusters, no Cues
    return out


def test_half_mkv_and_unfinished_mkv_are_refused_unless_keep_going(tmp_path):
    full = make_video(tmp_path / "full.mkv", 160, 96, frames=40)
    assert structure_damage(full) is None
    half = _half(full, tmp_path / "half.mkv")
    unfinished = _unfinished_mkv(full, tmp_path / "growing.mkv")
    assert "unfinished" in structure_damage(unfinished)
    for src, message in ((half, "truncated"), (unfinished, "unfinished")):
        out = tmp_path / f"{src.stem}.out.mp4"
        refused = run("encode", str(src), "-o", str(out), "--saliency", "none", "-q")
        assert message in one_error_line(refused) and not out.exists()
        kept = run("encode", str(src), "-o", str(out), "--saliency", "none", "-q", "--keep-going")
        assert kept.returncode == 0, kept.stderr
        assert "perceptcodec: warning:" in kept.stderr and message in kept.stderr
        assert 0 < frame_count(out) <= 40 if src == unfinished else 0 < frame_count(out) < 40
    sal = run("saliency", str(half), "-o", str(tmp_path / "m.npz"), "--saliency", "center", "-q")
    assert "truncated" in one_error_line(sal) and not (tmp_path / "m.npz").exists()


def _patch_avi_frame_count(path: Path, frames: int) -> None:
    data = bytearray(path.read_bytes())
    avih = data.index(b"avih") + 8
    data[avih + 16 : avih + 20] = frames.to_bytes(4, "little")  # dwTotalFrames
    strh = data.index(b"strh") + 8
    data[strh + 32 : strh + 36] = frames.to_bytes(4, "little")  # dwLength
    path.write_bytes(bytes(data))


def test_avi_declaring_more_frames_than_it_holds_encodes_with_a_warning(tmp_path):
    src = make_video(tmp_path / "lie.avi", 160, 96, frames=20, codec="mpeg4")
    _patch_avi_frame_count(src, 30440)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 30440
    out = tmp_path / "o.mp4"
    result = run("encode", str(src), "-o", str(out), "--saliency", "none", "-q")
    assert result.returncode == 0, result.stderr
    assert "declares 30440 frames, 20 decoded" in result.stderr
    assert frame_count(out) == 20


# --- 7. constant QP keeps the offsets --------------------------------------------------------


@pytest.mark.parametrize("preset", ["veryfast", "ultrafast"])
def test_offsets_apply_in_constant_qp(tmp_path, preset):
    clip = make_video(tmp_path / "c.mp4", 320, 192, frames=8)
    box = (0.25, 0.25, 0.75, 0.75)
    qps = {}
    for name, model in (("none", "none"), ("box", BoxSaliency(box))):
        settings = EncodeConfig(
            rate=RateControl.choose(None, None, 30),
            x264=X264Options(preset=preset),
            roi=RoiSettings(strength=1.0),
            saliency=SaliencySpec(model),
        )
        perceptcodec.encode(clip, tmp_path / f"{name}.mp4", settings, progress=False)
        qps[name] = np.stack(list(decoded_mb_qps(tmp_path / f"{name}.mp4"))).astype(float)
    assert np.all(qps["none"] == 30)  # constant QP: every block of every frame
    inside = qps["box"][:, 4:8, 6:14].mean()
    outside = np.concatenate([qps["box"][:, :2].ravel(), qps["box"][:, -2:].ravel()]).mean()
    assert inside + 4 < 30 < outside, (inside, outside)


# --- 8. option ranges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["--threads", "-1"],
        ["--threads", "1000"],
        ["--keyint", "-5"],
        ["--strength", "2"],
        ["--strength", "nan"],
        ["--max-delta-qp", "100"],
        ["--smoothing", "1"],
        ["--qp", "60"],
        ["--crf", "-1"],
        ["--crf", "inf"],
        ["--saliency-stride", "0"],
        ["--threads", "two"],
    ],
)
def test_numeric_options_have_ranges(tmp_path, flags):
    src = make_video(tmp_path / "in.mp4", 64, 48, frames=2)
    line = one_error_line(run("encode", str(src), "-q", *flags), code=2)
    assert flags[0] in line and ("must lie in" in line or "is not an integer" in line), line
    assert listing(tmp_path) == {str(tmp_path): ["in.mp4"]}


def test_library_option_ranges():
    with pytest.raises(PerceptcodecError, match="threads 500 must lie in 0..128"):
        X264Options(threads=500)
    with pytest.raises(PerceptcodecError, match="keyint"):
        X264Options(keyint=-1)
    with pytest.raises(PerceptcodecError, match="CRF"):
        RateControl(mode="crf", crf=float("nan"))


# --- 9. the input must not change between passes ---------------------------------------------


class _Swapper(BoxSaliency):
    """A model that replaces the input file while pass 1 runs."""

    def __init__(self, src: Path, other: Path) -> None:
        super().__init__((0.25, 0.25, 0.75, 0.75))
        self.src, self.other, self.done = src, other, False

    def __call__(self, rgb, t, audio=None):
        if not self.done:
            os.replace(self.other, self.src)
            self.done = True
        return super().__call__(rgb, t, audio)


def test_input_replaced_between_passes_is_refused(tmp_path):
    src = make_video(tmp_path / "in.mp4", 160, 96, frames=12)
    other = make_video(tmp_path / "other.mp4", 160, 96, frames=5)
    settings = config(_Swapper(src, other), bitrate="200k", two_pass=True, preset="ultrafast")
    with pytest.raises(PerceptcodecError, match="input changed"):
        perceptcodec.encode(src, tmp_path / "o.mp4", settings, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


# --- 10. a full disk, in $TMPDIR or for the output ------------------------------------------


def _file_size_limit(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("where", ["tmpdir", "output"])
def test_failed_writes_are_one_line_naming_the_users_path(tmp_path, where):
    src = make_video(tmp_path / "in.mp4", 320, 192, frames=60)
    out_dir, tmpdir = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir(), tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONDONTWRITEBYTECODE": "1"}
    args = ["encode", str(src), "-o", str(out_dir / "o.mp4"), "-q", "--bitrate", "2M"]
    if where == "tmpdir":
        args += ["--two-pass", "--saliency", "center"]
    else:
        args += ["--saliency", "none"]
    result = run(*args, env=env, preexec_fn=_file_size_limit(6000))
    line = one_error_line(result)
    if where == "output":
        assert str(out_dir / "o.mp4") in line and ".pcx" not in line, line
    else:
        assert str(tmpdir) in line, line
    assert listing(out_dir, tmpdir) == {str(out_dir): [], str(tmpdir): []}


# --- 11. gaze CSV ---------------------------------------------------------------------------


def _gaze(tmp_path: Path, text: str | bytes):
    from perceptcodec.datasets import read_gaze_csv

    video = make_video(tmp_path / "v.mp4", 64, 48, frames=10)
    table = tmp_path / "g.csv"
    table.write_bytes(text if isinstance(text, bytes) else text.encode())
    return video, table, lambda: read_gaze_csv(video, table)


def test_gaze_rows_dropped_are_counted(tmp_path):
    rows = "frame,x,y,subject\n1,10,10,a\n2,20,20,b\n50,10,10,a\n3,500,10,a\n4,nan,3,a\n5,inf,1,b\n"
    _, _, read = _gaze(tmp_path, rows)
    with pytest.warns(PerceptcodecWarning, match=r"4 of 6 fixation rows dropped") as record:
        gaze = read()
    text = str(record[0].message)
    assert "2 not finite" in text and "1 not on a frame" in text and "1 outside" in text
    assert len(gaze.fixations) == 2 and gaze.density(1) is not None


@pytest.mark.parametrize(
    "content, message",
    [
        ("frame,x,y,subject\n", "no usable gaze"),
        ("frame,x,y,subject\n99,1,1,a\n1,-40,1,a\n", "no usable gaze"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01garbage", "not UTF-8 text"),
    ],
)
def test_unusable_gaze_is_refused_before_any_encode(tmp_path, content, message):
    video, table, _ = _gaze(tmp_path, content)
    out = tmp_path / "rd"
    result = run(
        "rd", f"{video}:{table}", "--configs", "none", "--bitrates", "100", "--out", str(out)
    )
    assert message in one_error_line(result)
    assert not out.exists() or not any(out.iterdir())


# --- 13. progress ---------------------------------------------------------------------------


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_progress_ends_on_the_final_count_and_logs_without_a_tty(tty):
    stream = _Stream(tty)
    bar = Progress(125, "saliency", stream=stream, interval=0.0)
    for done in range(1, 121):
        bar.update(done)
    bar.close(125)
    last = stream.text.replace("\r", "\n").strip().splitlines()[-1]
    assert "125/125" in last
    if not tty:
        assert stream.text.count("\n") >= 2 and "\r" not in stream.text


def test_progress_off_a_tty_is_quiet_for_short_work():
    stream = _Stream(False)
    bar = Progress(10, "encode", stream=stream)
    bar.update(5)
    bar.close(10)
    assert stream.text == ""


# --- 6. variable frame rate: the last frame keeps its duration -------------------------------


def test_last_frame_duration_is_kept(tmp_path):
    pts = [0, 40, 80, 100, 200, 240, 260, 300, 400, 440]
    clip = make_video(
        tmp_path / "vfr.mkv", 160, 96, frames=10, pts=pts, time_base=Fraction(1, 1000)
    )
    out = tmp_path / "vfr.mp4"
    summary = perceptcodec.encode(clip, out, config(preset="veryfast"), progress=False)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        track = float(stream.duration * stream.time_base)
    assert track == pytest.approx(0.48, abs=0.002)  # 0.44 + the last gap (40 ms)
    assert summary.duration_s == pytest.approx(track, abs=0.002)


def test_x264_encoder_constructor_failure_has_no_handle():
    with pytest.raises(PerceptcodecError):
        X264Encoder(16, 16, Fraction(25), Fraction(1, 25), RateControl(), pass_=2)


# --- 5. rotation: the display matrix is kept, the model sees upright frames ------------------


def _rotated_clip(path: Path, rotation: int) -> Path:
    """96x64 coded frames, a white block in the coded top-left corner, display matrix set."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(rotation)
        for i in range(6):
            rgb = np.full((64, 96, 3), 30, np.uint8)
            rgb[:16, :24] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


class _Recorder(BoxSaliency):
    def __init__(self) -> None:
        super().__init__((0.0, 0.0, 0.5, 0.5))
        self.seen: list[np.ndarray] = []

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def __call__(self, rgb, t, audio=None):
        self.seen.append(rgb.copy())
        return super().__call__(rgb, t, audio)


def test_rotation_is_kept_and_the_model_sees_upright_frames(tmp_path):
    src = _rotated_clip(tmp_path / "phone.mp4", 90)
    model = _Recorder()
    out = tmp_path / "o.mp4"
    perceptcodec.encode(src, out, config(model, crf=25, bitrate=None), progress=False)
    with av.open(str(out)) as c:
        first = next(c.decode(video=0))
        assert first.rotation == 90 and (first.width, first.height) == (96, 64)
    seen = model.seen[0][..., 0].astype(int)
    assert seen.shape == (96, 64)  # upright: taller than wide
    # FFmpeg's rotation 90 shows the coded top-left corner at the bottom-left
    assert seen[-24:, :16].mean() > 200 and seen[:24, :16].mean() < 100
    assert len(luma := list(decoded_mb_qps(out))) == 6 and luma[0].shape == (4, 6)
