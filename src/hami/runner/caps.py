"""Parse ``hami run`` cap values and turn them into the environment libvgpu reads.

The variable names are the ones the device plugin injects into pods (hami-core spec section 5),
so a local run is limited exactly like a container.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MEMORY_LIMIT = "CUDA_DEVICE_MEMORY_LIMIT"
SM_LIMIT = "CUDA_DEVICE_SM_LIMIT"
SHARED_CACHE = "CUDA_DEVICE_MEMORY_SHARED_CACHE"
VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"

_MEM_RE = re.compile(r"^(?P<num>[0-9]+)(?P<pct>%)?$")
_UUID_RE = re.compile(r"^(GPU|MIG)-[0-9A-Za-z-]+$")
_SHARE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_DEVICES = 16
MAX_GPUMEM_MIB = 1 << 20
"""1 TiB: no GPU has more memory, so a larger cap would mean no cap at all."""


class CapError(ValueError):
    """A cap value that cannot be used; ``field`` names the option."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class MemoryRequest:
    """Device memory per GPU: an absolute MiB amount or a percentage of each GPU's memory."""

    mib: int | None = None
    percent: int | None = None

    def resolve(self, total_mib: int | None) -> int:
        if self.mib is not None:
            return self.mib
        assert self.percent is not None
        if total_mib is None or total_mib <= 0:
            raise CapError("--gpumem", "a percentage needs the GPU's total memory (NVML)")
        return max(1, total_mib * self.percent // 100)


@dataclass(frozen=True)
class Caps:
    memory: MemoryRequest | None = None
    cores: int | None = None
    devices: tuple[str, ...] | None = None


def parse_gpumem(text: str) -> MemoryRequest:
    """``3000`` (MiB) or ``50%``."""
    m = _MEM_RE.match(text.strip())
    if not m:
        raise CapError("--gpumem", f"{text!r} is not a MiB amount (3000) or a percentage (50%)")
    value = int(m.group("num"))
    if m.group("pct"):
        if not 1 <= value <= 100:
            raise CapError("--gpumem", f"{text!r}: a percentage must be within 1..100")
        return MemoryRequest(percent=value)
    if value <= 0:
        raise CapError("--gpumem", f"{text!r}: the amount must be a positive number of MiB")
    if value > MAX_GPUMEM_MIB:
        raise CapError(
            "--gpumem",
            f"{text!r} MiB is more memory than any GPU has (at most {MAX_GPUMEM_MIB} MiB, 1 TiB); "
            "the unit is MiB: write 3072 for 3 GiB",
        )
    return MemoryRequest(mib=value)


def capped_against(caps: Caps, totals_mib: Sequence[int]) -> None:
    """Refuse an absolute memory cap above every selected GPU's memory (it would cap nothing)."""
    mib = caps.memory.mib if caps.memory is not None else None
    if mib is not None and totals_mib and mib > max(totals_mib):
        raise CapError(
            "--gpumem",
            f"{mib} MiB is more than the GPU has ({max(totals_mib)} MiB): the cap would not limit",
        )


PRELOAD_FAILED = "cannot be preloaded"
PROBE_NO_DRIVER = 3


def probe_verdict(library: Path, returncode: int, stderr: str) -> str | None:
    """What went wrong in the probe child (``python -c`` loading ``libcuda.so.1`` with the
    library preloaded), or None. ld.so reports a failed preload on stderr and carries on."""
    for line in stderr.splitlines():
        if PRELOAD_FAILED in line:
            why = line.strip()
            return f"libvgpu ({library}) could not be preloaded, so no cap would apply: {why}"
    if returncode == PROBE_NO_DRIVER:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "libcuda.so.1 not found"
        return (
            "no NVIDIA driver found (libcuda.so.1 cannot be loaded: "
            f"{detail}); the caps would not apply"
        )
    if returncode != 0:
        return f"the preload check failed (exit {returncode}): {stderr.strip()[-300:]}"
    return None


def parse_gpucores(value: int) -> int:
    if not 1 <= value <= 100:
        raise CapError("--gpucores", f"{value} is not a percentage within 1..100")
    return value


def parse_devices(text: str) -> tuple[str, ...]:
    """``0,1`` or GPU UUIDs; no blanks, no repeats."""
    items = tuple(part.strip() for part in text.split(","))
    if not items or any(not item for item in items):
        raise CapError("--devices", f"{text!r} has an empty entry")
    for item in items:
        if not (item.isdigit() or _UUID_RE.match(item)):
            raise CapError("--devices", f"{item!r} is neither a device index nor a GPU UUID")
    if len(set(items)) != len(items):
        raise CapError("--devices", f"{text!r} names a device twice")
    if len(items) > _MAX_DEVICES:
        raise CapError("--devices", f"at most {_MAX_DEVICES} devices")
    return items


def check_share_name(name: str) -> str:
    if not _SHARE_RE.match(name):
        raise CapError("--share", f"{name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return name


def region_path(runtime_dir: Path, share: str | None, token: str) -> Path:
    """The shared-region file: one per ``--share`` name, else private to this invocation."""
    if share is not None:
        return runtime_dir / f"share-{check_share_name(share)}.cache"
    return runtime_dir / f"run-{token}.cache"


def _is_cap_var(name: str) -> bool:
    return any(name == base or name.startswith(base + "_") for base in (MEMORY_LIMIT, SM_LIMIT))


def preload_with(existing: str | None, library: Path) -> str:
    """Append the library to an LD_PRELOAD list (space or colon separated), once."""
    entries = [e for e in re.split(r"[:\s]+", existing or "") if e]
    if str(library) not in entries:
        entries.append(str(library))
    return ":".join(entries)


def build_env(
    base: Mapping[str, str],
    caps: Caps,
    library: Path,
    region: Path,
    totals_mib: Sequence[int] | None = None,
) -> dict[str, str]:
    """The child's environment: ``base`` minus inherited caps, plus preload, caps and region path.

    ``totals_mib`` gives each selected device's memory (needed only for a percentage).
    """
    env = {k: v for k, v in base.items() if not _is_cap_var(k)}
    env["LD_PRELOAD"] = preload_with(base.get("LD_PRELOAD"), library)
    env[SHARED_CACHE] = str(region)
    if caps.devices is not None:
        env[VISIBLE_DEVICES] = ",".join(caps.devices)
    if caps.memory is not None:
        if caps.memory.mib is not None and caps.devices is None:
            env[MEMORY_LIMIT] = f"{caps.memory.mib}m"
        else:
            count = len(caps.devices) if caps.devices is not None else len(totals_mib or ())
            if count == 0:
                raise CapError("--gpumem", "no GPU found to size a percentage against")
            totals = list(totals_mib) if totals_mib is not None else [None] * count
            if len(totals) != count:
                raise CapError("--gpumem", f"have memory for {len(totals)} of {count} devices")
            for index, total in enumerate(totals):
                env[f"{MEMORY_LIMIT}_{index}"] = f"{caps.memory.resolve(total)}m"
    if caps.cores is not None:
        env[SM_LIMIT] = str(caps.cores)
    return env
