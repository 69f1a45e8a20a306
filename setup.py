"""Builds the native x264 wrapper (native/pcx264.c) as part of the package install."""

import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

X264_HINT = (
    "perceptcodec needs the libx264 development files to build its encoder: "
    "install them with `sudo apt-get install libx264-dev pkg-config` (Debian/Ubuntu), then retry."
)


def x264_flags() -> tuple[list[str], list[str]]:
    """Include dirs and library dirs for libx264, from pkg-config when available."""
    if shutil.which("pkg-config"):
        try:
            cflags = subprocess.check_output(["pkg-config", "--cflags", "x264"], text=True).split()
            libs = subprocess.check_output(["pkg-config", "--libs-only-L", "x264"], text=True).split()
            return [f[2:] for f in cflags if f.startswith("-I")], [f[2:] for f in libs]
        except subprocess.CalledProcessError:
            pass
    return [], []


class BuildX264(build_ext):
    """build_ext that fails with one clear line when x264.h cannot be found."""

    def run(self) -> None:
        include_dirs, _ = x264_flags()
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "probe.c")
            with open(probe, "w") as f:
                f.write("#include <stdint.h>\n#include <x264.h>\nint main(void){return X264_BUILD;}\n")
            cc = os.environ.get("CC", "cc")
            args = [cc, "-c", probe, "-o", os.path.join(tmp, "probe.o")]
            args += [f"-I{d}" for d in include_dirs]
            if subprocess.run(args, capture_output=True).returncode != 0:
                sys.exit(X264_HINT)
        super().run()


include_dirs, library_dirs = x264_flags()
setup(
    ext_modules=[
        Extension(
            "perceptcodec.encoder._pcx264",
            sources=["native/pcx264.c"],
            include_dirs=include_dirs,
            library_dirs=library_dirs,
            libraries=["x264"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
        )
    ],
    cmdclass={"build_ext": BuildX264},
)
