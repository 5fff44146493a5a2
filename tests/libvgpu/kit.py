"""Drive the libvgpu test kit: build it, run its C programs against the fake driver.

The programs print one JSON object per line; this module turns a run into a `Run` so tests can
assert on events instead of on text.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LIBVGPU = REPO / "libvgpu"
BUILD = LIBVGPU / "build"
FAKE_DIR = BUILD / "fake"
PROGS = BUILD / "tests"
# HAMI_LIBVGPU (absolute or relative to the repo) runs the suite against another build,
# e.g. the release one.
LIBRARY = REPO / os.environ.get("HAMI_LIBVGPU", "libvgpu/build/libvgpu.so")
SHIM = PROGS / "libshim.so"

MiB = 1 << 20

# Variables that would leak the developer's own setup into a run.
_SCRUBBED = (
    "LD_PRELOAD",
    "CUDA_VISIBLE_DEVICES",
    "GPU_CORE_UTILIZATION_POLICY",
    "CUDA_DEVICE_SM_LIMIT",
    "CUDA_DEVICE_MEMORY_LIMIT",
    "CUDA_DEVICE_MEMORY_SHARED_CACHE",
    "CUDA_TASK_PRIORITY",
)


def build() -> subprocess.CompletedProcess[str]:
    """Build libvgpu and the kit (the library's Makefile builds tests/ too)."""
    return subprocess.run(
        ["make", "-C", str(LIBVGPU), "-j2"], capture_output=True, text=True, check=False
    )


@dataclass
class Run:
    """One finished program run: exit status, parsed JSON events, stderr."""

    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    stdout: str = field(repr=False, default="")

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]

    def one(self, event: str, **match: Any) -> dict[str, Any]:
        found = [e for e in self.of(event) if all(e.get(k) == v for k, v in match.items())]
        assert len(found) == 1, f"expected one {event} {match}, got {found}\n{self.describe()}"
        return found[0]

    def describe(self) -> str:
        out, err = self.stdout[-3000:], self.stderr[-3000:]
        return f"rc={self.returncode}\nstdout:\n{out}\nstderr:\n{err}"


def parse(stdout: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


@dataclass(frozen=True)
class Kit:
    """Paths of one built kit plus a scratch directory for region and state files."""

    tmp: Path

    def env(
        self,
        *,
        preload: bool = True,
        cap_mb: int | None = None,
        mem_mb: int = 256,
        cache: Path | None = None,
        state: Path | None = None,
        extra: Mapping[str, str] | None = None,
        preload_order: Sequence[Path] | None = None,
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env = {k: v for k, v in env.items() if not k.startswith(("CUDA_DEVICE_", "FAKE_"))}
        env["LD_LIBRARY_PATH"] = str(FAKE_DIR)
        env["FAKE_CUDA_MEM_MB"] = str(mem_mb)
        env["FAKE_CUDA_STATE"] = str(state or self.tmp / "fake.state")
        env["CUDA_DEVICE_MEMORY_SHARED_CACHE"] = str(cache or self.tmp / "vgpu.cache")
        env["LIBCUDA_LOG_LEVEL"] = "2"
        if cap_mb is not None:
            env["CUDA_DEVICE_MEMORY_LIMIT_0"] = f"{cap_mb}m"
        if preload_order is not None:
            env["LD_PRELOAD"] = ":".join(str(p) for p in preload_order)
        elif preload:
            env["LD_PRELOAD"] = str(LIBRARY)
        env.update(extra or {})
        return env

    def run(self, prog: str, *args: object, env: Mapping[str, str], timeout: float = 60) -> Run:
        proc = subprocess.run(
            [str(PROGS / prog), *map(str, args)],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(proc.returncode, parse(proc.stdout), proc.stderr, proc.stdout)

    def spawn(self, prog: str, *args: object, env: Mapping[str, str]) -> Spawned:
        """Start a program in the background; its output goes to files (pipes could fill up)."""
        fd, name = tempfile.mkstemp(prefix=f"{prog}-", dir=self.tmp)
        os.close(fd)
        out, err = Path(name + ".out"), Path(name + ".err")
        with out.open("w") as fout, err.open("w") as ferr:
            proc = subprocess.Popen(
                [str(PROGS / prog), *map(str, args)],
                env=dict(env),
                stdout=fout,
                stderr=ferr,
                text=True,
            )
        return Spawned(proc, out, err)


@dataclass
class Spawned:
    """A background program run and the files holding its output."""

    proc: subprocess.Popen[str]
    out: Path
    err: Path

    def poll(self) -> int | None:
        return self.proc.poll()

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)


def finish(spawned: Spawned, timeout: float = 120) -> Run:
    """Wait for a spawned program and parse its output (killing it after ``timeout``)."""
    note = ""
    try:
        spawned.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        spawned.proc.kill()
        spawned.proc.wait()
        note = "\n[timed out]"
    out, err = spawned.out.read_text(), spawned.err.read_text() + note
    rc = spawned.proc.returncode if not note else -int(signal.SIGKILL)
    return Run(rc, parse(out), err, out)
