"""Ray on a real local instance (num_cpus=2) and tiny clips. ``rd --engine ray``: the same JSON
and BD table as the local engine, resumable across engines, a killed worker's point retried, a
failing point reported without stopping the run, videos shipped through the object store.
Batch ``encode --engine ray``: a row per file, a bad file reported.

One Ray instance serves the whole module (started once: ~6 s); its temporary folder is this
module's own and is removed at the end."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest
from media import make_video

from perceptcodec.cli import main
from perceptcodec.datasets import read_gaze_csv
from perceptcodec.distributed import EngineKind, EngineOptions
from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation import RdConfig, RdSettings, write_bd_table
from perceptcodec.evaluation.engine import Shipping, run_points
from perceptcodec.evaluation.runner import rd_point

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

FAST = RdSettings(preset="ultrafast", two_pass=False)
CONFIGS = [RdConfig.parse("none"), RdConfig.parse("center:1.0")]
RATES = [20, 40, 80, 160]
RAY = EngineOptions(kind=EngineKind.RAY, max_retries=2)


@pytest.fixture(scope="module")
def ray_here():
    os.environ["RAY_DISABLE_IMPORT_WARNING"] = "1"
    temp = tempfile.mkdtemp(prefix="pcray")  # short: Ray's socket paths must stay short
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=temp,
        configure_logging=False,
    )
    # The test's point functions travel to the workers by value (tests/ is not on their path).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("rdray")
    video = make_video(root / "tiny.mp4", 64, 48, frames=12, fps=12)
    rows = "".join(f"{f},20,16,s{s}\n" for f in range(0, 12, 2) for s in range(2))
    (root / "gaze.csv").write_text("frame,x,y,subject\n" + rows)
    return read_gaze_csv(video, root / "gaze.csv", sigma_px=4)


def _stable(path: Path) -> dict:
    """A result file without what legitimately differs between runs: timing and the time the
    point was made."""
    data = json.loads(path.read_text())
    for p in data["points"]:
        p.pop("encode_s")
        p["versions"].pop("made")
    return data


@pytest.fixture(scope="module")
def local_out(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    report = run_points([clip], CONFIGS, RATES, out, FAST, log=lambda _: None)
    assert report.done == 8 and not report.failed
    write_bd_table(out)
    return out


def _results(out: Path) -> dict[str, dict]:
    return {p.name: _stable(p) for p in sorted(out.glob("*__*.json"))}


def test_ray_writes_what_the_local_engine_writes(ray_here, clip, local_out, tmp_path):
    lines: list[str] = []
    report = run_points([clip], CONFIGS, RATES, tmp_path, FAST, RAY, log=lines.append)
    assert (report.done, report.skipped, report.failed) == (8, 0, [])
    assert _results(tmp_path) == _results(local_out) and len(_results(tmp_path)) == 2
    table = write_bd_table(tmp_path)
    assert table == (local_out / "bd.md").read_text()
    rows = json.loads((tmp_path / "bd.json").read_text())
    assert rows == json.loads((local_out / "bd.json").read_text())
    assert {r["config"] for r in rows} == {"center-s1-q8"}
    assert all(r["bd_psnr_db"] is not None for r in rows)  # real BD numbers on both engines
    assert [line.startswith(f"[{n}/8]") for n, line in enumerate(lines[1:], 1)] == [True] * 8
    # Only the results and the BD table: no temporary files, no Ray files.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*_results(local_out), "bd.json", "bd.md"]
    )


def test_resumes_across_engines(ray_here, clip, tmp_path):
    first = run_points([clip], CONFIGS, RATES[:1], tmp_path, FAST, log=lambda _: None)
    assert (first.done, first.skipped) == (2, 0)
    second = run_points([clip], CONFIGS, RATES, tmp_path, FAST, RAY, log=lambda _: None)
    assert (second.done, second.skipped) == (6, 2)  # only the missing points ran on Ray
    for path in tmp_path.glob("*__*.json"):
        assert [p["target_kbps"] for p in json.loads(path.read_text())["points"]] == RATES


def die_once(markers: Path, video, config, kbps, settings):
    """SIGKILLs its own worker process on the first attempt (the marker file holds its pid),
    then computes the point normally on the retry."""
    try:
        fd = os.open(markers / "killed.pid", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        (markers / "retry.pid").write_text(str(os.getpid()))
        return rd_point(video, config, kbps, settings)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("not reached")


def test_a_point_whose_worker_is_killed_is_retried(ray_here, clip, local_out, tmp_path):
    markers, out = tmp_path / "markers", tmp_path / "out"
    markers.mkdir()
    point_fn = functools.partial(die_once, markers)
    report = run_points([clip], CONFIGS[:1], RATES[:1], out, FAST, RAY, point_fn=point_fn)
    killed = int((markers / "killed.pid").read_text())
    retried = int((markers / "retry.pid").read_text())
    assert killed != retried
    with pytest.raises(ProcessLookupError):
        os.kill(killed, 0)  # the first worker really died
    assert (report.done, report.failed) == (1, [])
    (name,) = [p.name for p in out.glob("*__*.json")]
    expected = _stable(local_out / name)
    expected["points"] = expected["points"][:1]
    assert _stable(out / name) == expected


def fail_at_80(video, config, kbps, settings):
    if kbps == 80:
        raise PerceptcodecError(f"{video.name}: made to fail at {kbps}k")
    return rd_point(video, config, kbps, settings)


def test_a_failing_point_is_reported_and_the_rest_go_on(ray_here, clip, tmp_path):
    lines: list[str] = []
    report = run_points(
        [clip], CONFIGS, RATES, tmp_path, FAST, RAY, point_fn=fail_at_80, log=lines.append
    )
    assert report.done == 6 and len(report.failed) == 2
    assert all(reason == "tiny: made to fail at 80k" for _, reason in report.failed)
    assert sum("FAILED: tiny: made to fail at 80k" in line for line in lines) == 2
    for path in tmp_path.glob("*__*.json"):
        assert [p["target_kbps"] for p in json.loads(path.read_text())["points"]] == [20, 40, 160]


def where_is_the_video(video, config, kbps, settings):
    point = rd_point(video, config, kbps, settings)
    return {**point, "read_from": str(video.video)}


def test_videos_through_the_object_store(ray_here, clip, tmp_path):
    report = run_points(
        [clip],
        CONFIGS[:1],
        RATES[:1],
        tmp_path,
        FAST,
        RAY,
        Shipping.OBJECT_STORE,
        point_fn=where_is_the_video,
    )
    assert report.done == 1
    (path,) = tmp_path.glob("*__*.json")
    data = json.loads(path.read_text())
    read_from = Path(data["points"][0]["read_from"])
    assert data["source"] == str(clip.video)  # the results name the driver's file...
    assert read_from != clip.video and read_from.name == clip.video.name  # ...workers a copy
    assert read_from.parent.name.startswith("perceptcodec-") and not read_from.parent.exists()


def test_cli_rd_on_ray(ray_here, clip, tmp_path, capsys):
    spec = f"{clip.video}:{clip.video.parent / 'gaze.csv'}"
    args = ["rd", spec, "--configs", "none", "center:1.0", "--bitrates", "20,40,80,160"]
    args += ["--one-pass", "--preset", "ultrafast", "--engine", "ray", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "8 points: 8 computed, 0 already in the results, 0 failed" in out
    assert "| tiny | ultrafast, 1-pass | center-s1-q8 |" in out
    assert main(args) == 0  # again: everything is there already
    assert "8 points: 0 computed, 8 already in the results" in capsys.readouterr().out


def test_engine_flag_misuse_is_a_one_line_error(tmp_path, capsys):
    assert main(["rd", "nosuch:gaze.csv", "--address", "auto", "--out", str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err == "perceptcodec: error: --address applies to --engine ray only\n"
    )


def test_missing_ray_is_a_one_line_error(clip, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    spec = f"{clip.video}:{clip.video.parent / 'gaze.csv'}"
    code = main(["rd", spec, "--configs", "none", "--bitrates", "40", "--engine", "ray",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "pip install 'perceptcodec[ray]'" in err
    assert not (tmp_path / "out").exists()


def test_batch_encode_on_ray(ray_here, tmp_path, capsys):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    make_video(src / "a.mp4", 64, 48, frames=6, fps=12)
    make_video(src / "b.mp4", 64, 48, frames=6, fps=12)
    (src / "bad.mp4").write_text("not a video")
    args = ["encode", str(src), "--out-dir", str(out), "--engine", "ray", "--json"]
    args += ["--saliency", "none", "--bitrate", "60k", "--preset", "ultrafast"]
    assert main(args) == 1
    rows = {Path(r["src"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "a.mp4": "ok",
        "b.mp4": "ok",
        "bad.mp4": "failed",
    }
    assert "bad.mp4" in rows["bad.mp4"]["message"] and "\n" not in rows["bad.mp4"]["message"]
    assert sorted(p.name for p in out.iterdir()) == ["a.none.60k.mp4", "b.none.60k.mp4"]
