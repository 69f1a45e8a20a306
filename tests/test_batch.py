"""Batch encode (``perceptcodec encode A B ... | FOLDER | 'GLOB'``) in local processes: a summary
row per file, existing outputs skipped unless --force, a bad file (or one that kills its
worker process) reported while the rest go on, the exit status, name templates, nothing
partial left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from media import make_video

from perceptcodec import batch
from perceptcodec.cli import main

FAST = ["--saliency", "none", "--bitrate", "60k", "--preset", "ultrafast", "-q"]


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_video(src / "a.mp4", 64, 48, frames=6, fps=12)
    make_video(src / "b.mkv", 64, 48, frames=6, fps=12)
    (src / "bad.mp4").write_text("not a video")
    (src / "notes.txt").write_text("not a video either, and not picked by extension")
    return src


def _rows(capsys) -> dict[str, dict]:
    return {Path(r["src"]).name: r for r in json.loads(capsys.readouterr().out)}


def test_a_folder_with_a_bad_file(folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["encode", str(folder), "--out-dir", str(out), "--json", *FAST, "-j", "2"]) == 1
    rows = _rows(capsys)
    assert set(rows) == {"a.mp4", "b.mkv", "bad.mp4"}
    assert rows["a.mp4"]["status"] == rows["b.mkv"]["status"] == "ok"
    assert rows["a.mp4"]["summary"]["frames"] == 6
    assert rows["bad.mp4"]["status"] == "failed" and "bad.mp4" in rows["bad.mp4"]["message"]
    assert sorted(p.name for p in out.iterdir()) == ["a.none.60k.mp4", "b.none.60k.mp4"]
    made = (out / "a.none.60k.mp4").stat().st_mtime_ns

    # Again: existing outputs are skipped, the bad file fails again; --force re-encodes.
    assert main(["encode", str(folder), "--out-dir", str(out), "--json", *FAST]) == 1
    rows = _rows(capsys)
    assert (
        rows["a.mp4"]["status"] == "skipped" and (out / "a.none.60k.mp4").stat().st_mtime_ns == made
    )
    good = [str(folder / "a.mp4"), str(folder / "b.mkv")]
    assert main(["encode", *good, "--out-dir", str(out), "--force", "--json", *FAST]) == 0
    assert {r["status"] for r in _rows(capsys).values()} == {"ok"}
    assert (out / "a.none.60k.mp4").stat().st_mtime_ns != made


def test_summary_table_and_exit_status(folder, tmp_path, capsys):
    code = main(["encode", str(folder / "a.mp4"), str(folder / "b.mkv"), *FAST])
    table = capsys.readouterr().out
    assert code == 0 and "2 files: 2 ok, 0 skipped, 0 failed" in table
    assert "| ok | " + str(folder / "a.mp4") + " | " + str(folder / "a.none.60k.mp4") in table
    # A second run over the folder does not take the first run's outputs for inputs.
    assert main(["encode", str(folder), *FAST]) == 1
    table = capsys.readouterr().out
    assert "3 files: 0 ok, 2 skipped, 1 failed" in table and "a.none.60k.none" not in table


def test_glob_and_name_template(folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    pattern = str(folder / "[ab].*")
    args = ["encode", pattern, "--out-dir", str(out), "--name", "{stem}-{codec}-{rate}.mkv"]
    assert main([*args, *FAST]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a-h264-60k.mkv", "b-h264-60k.mkv"]
    capsys.readouterr()
    for name, why in (("{nope}.mp4", "unknown field {nope}"), ("x.avi", "unsupported output")):
        assert main(["encode", pattern, "--out-dir", str(out), "--name", name, *FAST]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err
    assert main(["encode", str(folder / "*.nothing"), *FAST]) == 1
    assert "no file matches" in capsys.readouterr().out


def test_misuse_is_a_one_line_error(folder, tmp_path, capsys):
    two = [str(folder / "a.mp4"), str(folder / "b.mkv")]
    (tmp_path / "file.txt").write_text("not a folder")
    for extra, why in (
        (["-o", str(tmp_path / "x.mp4")], "-o names one output"),
        (["--dump-qp", str(tmp_path / "q.npz")], "--dump-qp takes one input"),
        (["--out-dir", str(tmp_path / "file.txt")], "not a folder"),
        (["--address", "auto"], "--address applies to --engine ray only"),
    ):
        assert main(["encode", *two, *extra, *FAST]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err
    assert main(["encode", two[0], "--address", "auto", *FAST]) == 1  # one input: also refused
    assert "--address applies to --engine ray only" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["a.mp4", "b.mkv", "bad.mp4", "notes.txt"]


def test_a_missing_out_dir_is_created(folder, tmp_path):
    out = tmp_path / "new" / "deeper"
    assert (
        main(["encode", str(folder / "a.mp4"), str(folder / "b.mkv"), "--out-dir", str(out), *FAST])
        == 0
    )
    assert len(list(out.iterdir())) == 2


_REAL_ENCODE_ONE = batch.encode_one


def crash_on_a(src, dst, *args):
    if src.name == "a.mp4":
        os._exit(9)  # as a native crash would: no exception, the process is gone
    return _REAL_ENCODE_ONE(src, dst, *args)


def test_a_file_that_kills_its_worker_fails_alone(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch, "encode_one", crash_on_a)  # forked workers inherit it
    out = tmp_path / "out"
    out.mkdir()
    two = [str(folder / "a.mp4"), str(folder / "b.mkv")]
    assert main(["encode", *two, "--out-dir", str(out), "-j", "2", "--json", *FAST]) == 1
    rows = _rows(capsys)
    assert rows["a.mp4"]["status"] == "failed" and "process died" in rows["a.mp4"]["message"]
    assert rows["b.mkv"]["status"] == "ok"
    assert [p.name for p in out.iterdir()] == ["b.none.60k.mp4"]
