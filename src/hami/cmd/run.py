"""``hami run``: run one local command with libvgpu preloaded and GPU memory/compute caps applied.

GPU sharing between processes on a workstation, no Kubernetes: each invocation gets a private
shared-region file (so its cap is its own) unless ``--share NAME`` groups several invocations
under one cap.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

import hami
from hami.cmd.options import option
from hami.runner.caps import (
    PROBE_NO_DRIVER,
    CapError,
    Caps,
    build_env,
    capped_against,
    check_share_name,
    parse_devices,
    parse_gpucores,
    parse_gpumem,
    probe_verdict,
    region_path,
)
from hami.runner.library import LibraryNotFound, find_library

log = logging.getLogger(__name__)


def runtime_dir(env: dict[str, str]) -> Path:
    """``$XDG_RUNTIME_DIR/hami`` when usable, else ``<tmp>/hami-<uid>``."""
    xdg = env.get("XDG_RUNTIME_DIR")
    base = Path(xdg) / "hami" if xdg and os.access(xdg, os.W_OK) else None
    if base is None:
        base = Path(tempfile.gettempdir()) / f"hami-{os.getuid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base


def device_totals_mib(devices: Sequence[str] | None) -> list[int]:
    """Total memory (MiB) of the selected devices (all when None), read through NVML."""
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise CapError("--gpumem", f"a percentage needs NVML: {exc}") from exc
    try:
        if devices is None:
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        else:
            handles = [
                pynvml.nvmlDeviceGetHandleByIndex(int(d))
                if d.isdigit()
                else pynvml.nvmlDeviceGetHandleByUUID(d)
                for d in devices
            ]
        return [int(pynvml.nvmlDeviceGetMemoryInfo(h).total) >> 20 for h in handles]
    except pynvml.NVMLError as exc:
        raise CapError("--devices", f"cannot read device memory: {exc}") from exc
    finally:
        pynvml.nvmlShutdown()


def _caps(gpumem: str | None, gpucores: int | None, devices: str | None) -> Caps:
    return Caps(
        memory=parse_gpumem(gpumem) if gpumem is not None else None,
        cores=parse_gpucores(gpucores) if gpucores is not None else None,
        devices=parse_devices(devices) if devices is not None else None,
    )


_PROBE = (
    "import ctypes, sys\n"
    "try:\n"
    "    ctypes.CDLL('libcuda.so.1')\n"
    "except OSError as exc:\n"
    f"    print(exc, file=sys.stderr); sys.exit({PROBE_NO_DRIVER})\n"
)


def preload_problem(library: Path, env: dict[str, str]) -> str | None:
    """Start a tiny child with the child's environment: does the library preload, and is there a
    CUDA driver for it to cap? Without either, the command would run uncapped."""
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the preload check could not run: {exc}"
    return probe_verdict(library, proc.returncode, proc.stderr)


def _run_child(argv: Sequence[str], env: dict[str, str]) -> int:
    """Run argv, forwarding SIGTERM/SIGHUP; the terminal's SIGINT reaches the child directly."""
    try:
        child = subprocess.Popen(list(argv), env=env)
    except OSError as exc:
        raise click.ClickException(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rc = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.signal(signal.SIGINT, old_int)
    return 128 - rc if rc < 0 else rc


@click.command("run", context_settings={"allow_interspersed_args": False})
@option(
    "--gpumem",
    metavar="MIB|PCT%",
    show_default="no cap",
    help="Device memory cap per GPU: 3000 (MiB) or 50%.",
)
@option(
    "--gpucores",
    type=int,
    metavar="PCT",
    show_default="no cap",
    help="Compute cap per GPU, percent (1-100).",
)
@option(
    "--devices",
    metavar="LIST",
    show_default="all GPUs",
    help="GPUs to expose: indices or UUIDs, e.g. 0,1.",
)
@option(
    "--share",
    metavar="NAME",
    show_default="a cap of its own",
    help="Share one cap with other runs using the same NAME.",
)
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...")
def command(
    gpumem: str | None,
    gpucores: int | None,
    devices: str | None,
    share: str | None,
    argv: tuple[str, ...],
) -> None:
    """Run CMD with libvgpu preloaded and the GPU caps set; exits with CMD's exit code."""
    env = dict(os.environ)
    try:
        caps = _caps(gpumem, gpucores, devices)
        if share is not None:
            check_share_name(share)
        library = find_library(Path(hami.__file__).parent, env)
        totals = None
        if caps.memory is not None and caps.memory.percent is not None:
            totals = device_totals_mib(caps.devices)
        elif caps.memory is not None:
            try:
                known = device_totals_mib(caps.devices)
            except CapError:
                known = []  # no NVML here: the preload check below says so
            capped_against(caps, known)
        region = region_path(runtime_dir(env), share, secrets.token_hex(8))
        child_env = build_env(env, caps, library, region, totals)
    except CapError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=exc.field) from exc
    except LibraryNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    problem = preload_problem(library, child_env)
    if problem is not None:
        raise click.ClickException(problem)
    log.debug("running %s with region %s", argv, region)
    try:
        rc = _run_child(argv, child_env)
    finally:
        if share is None:
            region.unlink(missing_ok=True)
    raise SystemExit(rc)
