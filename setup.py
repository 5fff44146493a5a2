"""Build hook: wheels and sdists of hami carry libvgpu.

Metadata lives in pyproject.toml; this file only adds what setuptools cannot express there:
- ``build_py`` runs ``make -C libvgpu release-<arch>`` and ships the result as package data
  ``hami/_lib/libvgpu.so`` (``hami run`` and the device plugin's installer find it there). The
  release build compiles with Zig's C compiler (the pinned ``ziglang`` build requirement) against
  the glibc 2.17 baseline: no system C compiler is needed, and the wheel's library loads in any
  image with glibc >= 2.17 (docs/portability.md). ``make`` and ``sh`` are the only host tools;
- the wheel is platform-tagged because it holds a native library;
- the sdist includes the C sources so a wheel can be built from it.
Editable installs skip the C build (``make -C libvgpu`` builds it in the checkout). Environment:
``HAMI_SKIP_LIBVGPU=1`` skips the library, ``HAMI_LIBVGPU_MAKE_TARGET`` (default
``release-<arch>``) and ``HAMI_LIBVGPU_SO`` (default ``libvgpu/build/<arch>/libvgpu.so``) pick
another build, e.g. ``lib`` and ``libvgpu/build/libvgpu.so`` for the system compiler's.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
LIBVGPU = HERE / "libvgpu"
# Sources the sdist must carry (build outputs and fetched NVIDIA headers excluded).
SDIST_SKIP = ("libvgpu/build/", "libvgpu/third_party/")


RELEASE_ARCHS = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def _release_arch() -> str:
    arch = RELEASE_ARCHS.get(platform.machine().lower())
    if arch is None:
        raise SystemExit(
            f"libvgpu: no release build for {platform.machine()} (x86_64 or aarch64); "
            "set HAMI_SKIP_LIBVGPU=1 to install without it"
        )
    return arch


class BuildPyWithLibvgpu(build_py):  # type: ignore[misc]
    """Copy the Python packages, then build libvgpu and add it as hami/_lib/libvgpu.so."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get("HAMI_SKIP_LIBVGPU"):
            return
        target = os.environ.get("HAMI_LIBVGPU_MAKE_TARGET")
        so = os.environ.get("HAMI_LIBVGPU_SO")
        if target is None:
            arch = _release_arch()
            target, so = f"release-{arch}", so or str(LIBVGPU / "build" / arch / "libvgpu.so")
        if shutil.which("make") is None:
            raise SystemExit(
                "libvgpu: building it needs 'make' (e.g. apt-get install make); no C compiler "
                "is needed. Set HAMI_SKIP_LIBVGPU=1 to install without the library"
            )
        # NVIDIA's headers are fetched with pip when missing. Inside pip's isolated build
        # environment `python -m pip` cannot import pip (the base site-packages are hidden);
        # `-I` ignores the PYTHONPATH that hides them, so the interpreter's own pip is found.
        # The build environment's interpreter has the ziglang requirement (tools/zigcc).
        env = {
            **os.environ,
            "PIP": os.environ.get("PIP") or f"{sys.executable} -I -m pip",
            "PYTHON": os.environ.get("PYTHON") or sys.executable,
        }
        subprocess.run(["make", "-C", str(LIBVGPU), target], check=True, env=env)
        built = Path(so or LIBVGPU / "build" / "libvgpu.so")
        if not built.is_absolute():
            built = HERE / built
        dest = Path(self.build_lib) / "hami" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, dest / "libvgpu.so")


def _native_sources() -> list[str]:
    found = []
    for root in ("libvgpu", "bench/hook_overhead"):
        for path in sorted((HERE / root).rglob("*")):
            rel = path.relative_to(HERE).as_posix()
            if path.is_file() and not rel.startswith(SDIST_SKIP) and "__pycache__" not in rel:
                found.append(rel)
    return found


class SdistWithLibvgpu(sdist):  # type: ignore[misc]
    """Include libvgpu's sources, test kit and bench so the sdist can build a wheel."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        extra = [f for f in _native_sources() if f not in set(files)]
        super().make_release_tree(base_dir, [*files, *extra])


class NativeDistribution(Distribution):
    """The wheel holds a native library: tag it for the platform, not py3-none-any."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    distclass=NativeDistribution,
    cmdclass={"build_py": BuildPyWithLibvgpu, "sdist": SdistWithLibvgpu},
)
