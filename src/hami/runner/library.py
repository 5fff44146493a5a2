"""Find the libvgpu.so that ``hami run`` preloads.

Order: an explicit override, the copy installed with the package, the source checkout's build.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

OVERRIDE = "HAMI_LIBVGPU"
PACKAGED = Path("_lib") / "libvgpu.so"
REPO_BUILD = Path("libvgpu") / "build" / "libvgpu.so"


class LibraryNotFound(FileNotFoundError):
    """No usable libvgpu.so; the message lists every place that was tried."""


def candidates(package_dir: Path, env: Mapping[str, str]) -> list[Path]:
    """Places to look, in order. ``package_dir`` is the installed ``hami`` package directory."""
    found: list[Path] = []
    if env.get(OVERRIDE):
        return [Path(env[OVERRIDE])]
    found.append(package_dir / PACKAGED)
    # Source checkout (editable install): src/hami -> repository root.
    for parent in package_dir.parents:
        if (parent / "libvgpu").is_dir():
            found.append(parent / REPO_BUILD)
            break
    return found


def find_library(package_dir: Path, env: Mapping[str, str]) -> Path:
    tried = candidates(package_dir, env)
    for path in tried:
        if path.is_file():
            return path.resolve()
    where = ", ".join(str(p) for p in tried)
    raise LibraryNotFound(
        f"libvgpu.so not found (tried {where}); build it with 'make -C libvgpu' or set {OVERRIDE}"
    )
