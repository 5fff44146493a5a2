"""Install the HAMi-core hook into the host hook path (HAMi's ``vgpu-init.sh`` postStart step).

Layout under ``<hook path>/vgpu``: ``libvgpu.so.<version>`` (immutable, one per content hash),
``libvgpu.so`` (the newest copy, replaced atomically), ``ld.so.preload`` naming the library's path
inside the container, and ``containers/`` for per-container cache directories. Containers bind-mount
the versioned file, so upgrading the plugin never changes a running container's library.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hami.deviceplugin.allocate import CONTAINER_LIB

log = logging.getLogger(__name__)

LIB_NAME = "libvgpu.so"
PRELOAD_NAME = "ld.so.preload"


class InstallError(RuntimeError):
    """The hook could not be installed; the message names the path."""


@dataclass(frozen=True, slots=True)
class Installed:
    """Where the hook landed on the host."""

    library: Path
    """The versioned copy that Allocate mounts."""
    preload: Path


def content_version(path: Path) -> str:
    """First 12 hex digits of the file's SHA-256: the version suffix."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def _atomic_write(dest: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(src: Path, dest: Path, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_hook(source_lib: Path, vgpu_dir: Path, version: str | None = None) -> Installed:
    """Copy ``source_lib`` into ``vgpu_dir`` (idempotent) and write ``ld.so.preload``."""
    try:
        version = version or content_version(source_lib)
        (vgpu_dir / "containers").mkdir(parents=True, exist_ok=True)
        versioned = vgpu_dir / f"{LIB_NAME}.{version}"
        if not versioned.exists():
            _atomic_copy(source_lib, versioned, 0o755)
            log.info("installed %s", versioned)
        else:
            os.utime(versioned)  # newest mtime marks the current version (rollbacks too)
        _atomic_copy(versioned, vgpu_dir / LIB_NAME, 0o755)
        preload = vgpu_dir / PRELOAD_NAME
        _atomic_write(preload, f"{CONTAINER_LIB}\n".encode(), 0o644)
    except OSError as exc:
        raise InstallError(f"installing {source_lib} into {vgpu_dir}: {exc}") from exc
    return Installed(library=versioned, preload=preload)


def current_library(vgpu_dir: Path) -> Path:
    """The host library Allocate should mount: newest versioned copy, else ``libvgpu.so``."""
    versioned = sorted(
        vgpu_dir.glob(f"{LIB_NAME}.*"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    return versioned[0] if versioned else vgpu_dir / LIB_NAME
