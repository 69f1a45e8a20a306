"""The built wheel works outside the clone: models and native wrappers travel inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from media import make_video

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_encodes_with_prior_vamnet_and_dave(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(dist.glob("perceptcodec-*.whl"))
    fresh = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    # The dependencies come from this venv's site-packages (a plain path entry: its editable
    # perceptcodec finder is a .pth file there and is not processed), perceptcodec from the wheel.
    fresh_site = next((fresh / "lib").glob("python3*/site-packages"))
    (fresh_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(fresh / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    clip = make_video(work / "clip.mp4", 160, 96, frames=8, audio="aac")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCEPTCODEC_")}
    where = subprocess.run(
        [str(fresh / "bin" / "python"), "-c", "import perceptcodec; print(perceptcodec.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(fresh_site))
    for model in ("prior", "vamnet", "dave"):
        out = work / f"{model}.mp4"
        result = subprocess.run(
            [
                str(fresh / "bin" / "perceptcodec"),
                "encode",
                str(clip),
                "-o",
                str(out),
                "--saliency",
                model,
                "-q",
            ],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 0
