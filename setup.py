"""Builds the native x264 wrapper (native/pcx264.c) as part of the package install.

The wrapper is a plain shared library loaded with ctypes (no Python module inside), so it is
built as ``perceptcodec/encoder/libpcx264.so``, not under a CPython extension name."""

import os
import shutil
import subprocess
import sys
import sysconfig
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
            cflags = subprocess.check_output(["pkg-config", "--cflags", "x264"], text=True)
            libs = subprocess.check_output(["pkg-config", "--libs-only-L", "x264"], text=True)
            cflags, libs = cflags.split(), libs.split()
            return [f[2:] for f in cflags if f.startswith("-I")], [f[2:] for f in libs]
        except subprocess.CalledProcessError:
            pass
    return [], []


NATIVE = "perceptcodec.encoder.libpcx264"


class BuildX264(build_ext):
    """build_ext that fails with one clear line when x264.h cannot be found, and names the
    ctypes library plainly (``libpcx264.so``, no ``PyInit_`` symbol expected)."""

    def get_ext_filename(self, fullname: str) -> str:
        # Called with the full dotted name or its last part, depending on the caller.
        filename = super().get_ext_filename(fullname)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        if NATIVE.endswith(fullname) and filename.endswith(suffix):
            return filename[: -len(suffix)] + ".so"
        return filename

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return [] if ext.name == NATIVE else super().get_export_symbols(ext)

    def run(self) -> None:
        include_dirs, _ = x264_flags()
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "probe.c")
            with open(probe, "w") as f:
                f.write("#include <stdint.h>\n#include <x264.h>\n")
                f.write("int main(void){return X264_BUILD;}\n")
            cc = os.environ.get("CC", "cc")
            args = [cc, "-c", probe, "-o", os.path.join(tmp, "probe.o")]
            args += [f"-I{d}" for d in include_dirs]
            if subprocess.run(args, capture_output=True).returncode != 0:
                sys.exit(X264_HINT)
        super().run()


# --- x265 (HEVC) wrapper, native/pcx265.c -> perceptcodec/encoder/libpcx265.so --------------
# Optional: built only when x265.h compiles (Debian: libx265-dev); without it the package still
# installs and X265Encoder says to install libx265-dev.
NATIVE_X265 = "perceptcodec.encoder.libpcx265"


def x265_extensions() -> list[Extension]:
    """The pcx265 extension when libx265's header is found, else none."""
    cflags: list[str] = []
    if shutil.which("pkg-config"):
        run = subprocess.run(["pkg-config", "--cflags", "x265"], capture_output=True, text=True)
        cflags = run.stdout.split() if run.returncode == 0 else []
    include = [f[2:] for f in cflags if f.startswith("-I")]
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.c")
        with open(probe, "w") as f:
            f.write("#include <stdint.h>\n#include <x265.h>\nint main(void){return X265_BUILD;}\n")
        args = [os.environ.get("CC", "cc"), "-c", probe, "-o", os.path.join(tmp, "probe.o")]
        if subprocess.run(args + [f"-I{d}" for d in include], capture_output=True).returncode:
            print("libx265 headers not found: building without the HEVC encoder", file=sys.stderr)
            return []
    return [
        Extension(
            NATIVE_X265,
            sources=["native/pcx265.c"],
            include_dirs=include,
            libraries=["x265", "pthread"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
        )
    ]


class BuildNative(BuildX264):
    """BuildX264, naming libpcx265 plainly too (a ctypes library, no ``PyInit_`` symbol)."""

    def get_ext_filename(self, fullname: str) -> str:
        filename = super().get_ext_filename(fullname)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        if NATIVE_X265.endswith(fullname) and filename.endswith(suffix):
            return filename[: -len(suffix)] + ".so"
        return filename

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return [] if ext.name == NATIVE_X265 else super().get_export_symbols(ext)


# --- end of the x265 region ------------------------------------------------------------------


include_dirs, library_dirs = x264_flags()
setup(
    ext_modules=[
        Extension(
            NATIVE,
            sources=["native/pcx264.c"],
            include_dirs=include_dirs,
            library_dirs=library_dirs,
            libraries=["x264"],
            extra_compile_args=["-O2", "-std=c99", "-Wall"],
        )
    ]
    + x265_extensions(),
    cmdclass={"build_ext": BuildNative},
)
