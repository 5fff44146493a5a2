"""The nvidia-ml-py adapter against the libvgpu test kit's fake ``libnvidia-ml.so.1``.

pynvml dlopens ``libnvidia-ml.so.1`` at its first ``nvmlInit``, and the fake reads its env once, so
each case runs in a fresh interpreter with ``LD_LIBRARY_PATH`` pointing at the fake. The probe
prints one JSON document that the test compares exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
FAKE_DIR = ROOT / "libvgpu" / "build" / "fake"

PROBE = textwrap.dedent(
    """
    import json, os, sys
    from hami.deviceplugin.nvml import PynvmlNvml
    n = PynvmlNvml()
    gpus = n.devices()
    out = {"gpus": [[g.index, g.uuid, g.name, g.memory_mib, g.numa, g.mig_enabled] for g in gpus]}
    out["quiet"] = [e.xid for e in n.wait_xid(0.1)]
    with open(os.environ["FAKE_NVML_XID_FILE"], "a") as f:
        f.write(sys.argv[1] + "\\n")
    out["events"] = [[e.uuid, e.xid] for e in n.wait_xid(3.0)]
    out["procs"] = [p.pid for p in n.processes(gpus[0].uuid)]
    out["links"] = sorted({(l.level, l.nvlinks) for l in n.links().values()})
    n.close()
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def fake_nvml() -> Path:
    if not (FAKE_DIR / "libnvidia-ml.so.1").exists():
        subprocess.run(["make", "-C", str(ROOT / "libvgpu" / "tests")], check=True)
    return FAKE_DIR


def _probe(fake: Path, tmp_path: Path, env: dict[str, str], xid_line: str) -> dict[str, Any]:
    xid_file = tmp_path / "xid"
    xid_file.touch()
    full = {
        **os.environ,
        "LD_LIBRARY_PATH": str(fake),
        "FAKE_NVML_XID_FILE": str(xid_file),
        **env,
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, xid_line],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


U0 = "GPU-fa4e0000-0000-4000-8000-000000000000"
U1 = "GPU-fa4e0000-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("env", "xid_line", "expected"),
    [
        (
            {"FAKE_CUDA_DEVICES": "2", "FAKE_CUDA_MEM_MB": "8192,24576", "FAKE_NVML_NUMA": "0,1"},
            "1 79",
            {
                "gpus": [
                    [0, U0, "NVIDIA Fake GPU", 8192, 0, False],
                    [1, U1, "NVIDIA Fake GPU", 24576, 1, False],
                ],
                "quiet": [],
                "events": [[U1, 79]],
                "procs": [],
                "links": [[None, 0]],
            },
        ),
        (
            {
                "FAKE_CUDA_DEVICES": "1",
                "FAKE_CUDA_NAME": "Tesla T4",
                "FAKE_NVML_NUMA": "-1",
                "FAKE_NVML_MIG": "1",
            },
            f"{U0} 48",
            {
                "gpus": [[0, U0, "Tesla T4", 16384, None, True]],
                "quiet": [],
                "events": [[U0, 48]],
                "procs": [],
                "links": [],
            },
        ),
    ],
    ids=["two-gpus-xid-by-index", "numa-unsupported-mig-xid-by-uuid"],
)
def test_adapter_reads_fake_nvml(
    fake_nvml: Path, tmp_path: Path, env: dict[str, str], xid_line: str, expected: dict[str, Any]
) -> None:
    assert _probe(fake_nvml, tmp_path, env, xid_line) == expected
