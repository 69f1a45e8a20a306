"""``perceptcodec report``: a self-contained HTML page (embedded PNGs, no scripts, no links out)
with RD figures, the BD table with SSIM, and frame grabs; the difference-to-anchor panel and
the per-configuration styles that keep overlapping curves apart."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from media import make_video

from perceptcodec.cli import main
from perceptcodec.datasets import read_gaze_csv
from perceptcodec.evaluation import RdConfig, RdSettings
from perceptcodec.evaluation.engine import run_points
from perceptcodec.evaluation.figures import delta_to_anchor, styles

pytest.importorskip("matplotlib", reason="the report needs matplotlib ([dev] or [eval] extra)")

RATES = [20, 40, 80, 160]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    video = make_video(root / "clip.mp4", 96, 64, frames=10, fps=10)
    rows = "".join(f"{f},30,20,s{s}\n" for f in range(10) for s in range(2))
    (root / "gaze.csv").write_text("frame,x,y,subject\n" + rows)
    gaze = read_gaze_csv(video, root / "gaze.csv")  # as `report --dataset VIDEO:CSV` reads it
    out = root / "rd"
    configs = [RdConfig.parse("none"), RdConfig.parse("center:1.0")]
    fast = RdSettings(preset="ultrafast", two_pass=False)
    report = run_points([gaze], configs, RATES, out, fast, log=lambda _: None)
    assert report.done == 8
    return out, f"{video}:{root / 'gaze.csv'}"


def test_report_is_one_self_contained_page(results, tmp_path, capsys):
    folder, spec = results
    page = tmp_path / "report.html"
    args = ["report", str(folder), "-o", str(page), "--dataset", spec, "--grab-bitrate", "40"]
    assert main(args) == 0
    text = page.read_text()
    assert "<script" not in text and "http" not in text  # nothing fetched, nothing run
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 2  # the RD figure and the frame grabs
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "BD-SSIM" in text and "center-s1-q8" in text
    assert "frame grabs of clip" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    capsys.readouterr()

    # Misuse: one line, exit 1, nothing written.
    for extra, why in (
        ([str(folder), "-o", str(page)], "already exists"),
        ([str(folder), "-o", str(tmp_path / "r.txt")], "is an .html file"),
        ([str(tmp_path / "none"), "-o", str(tmp_path / "x.html")], "no such file"),
        (
            [
                str(folder),
                "-o",
                str(tmp_path / "y.html"),
                "--dataset",
                spec,
                "--grab-config",
                "nosuch",
            ],
            "not among",
        ),  # fmt: skip
    ):
        assert main(["report", *extra]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_difference_to_anchor_is_exact_and_stays_in_range():
    rates = [100.0, 200, 400, 800]
    anchor = [30 + np.log10(r) * 10 for r in rates]
    test_rates = [50.0, 150, 300, 600, 1600]  # 50 and 1600 lie outside the anchor's range
    test = [31 + np.log10(r) * 10 for r in test_rates]
    r, d = delta_to_anchor(test_rates, test, rates, anchor)
    assert list(r) == [150, 300, 600]
    assert d == pytest.approx([1.0, 1.0, 1.0])


def test_nine_configurations_look_different():
    labels = ["none", *(f"m{i}" for i in range(9))]
    look = styles(labels, "none")
    combos = {(s["color"], s["marker"], s["ls"]) for s in look.values()}
    assert len(combos) == 10
    assert len({s["marker"] for s in look.values()}) >= 9 and look["none"]["color"] == "black"
