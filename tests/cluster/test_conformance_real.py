"""The apiserver conformance suite (``tests/support/test_apiserver_conformance*.py``) against
the real kube-apiserver of the test cluster: the same assertions that the stand-in passes.

It runs as a child pytest with ``HAMI_CONFORMANCE_KUBECONFIG`` set (the suite's own switch, see
``tests/support/apiserver/target.py``). The 410 tests need resource version 1 to have expired;
``ControlPlane.start`` ages the cluster for that (etcd compacted, apiserver restarted).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .controlplane import ROOT, ControlPlane

MODULES = [
    "tests/support/test_apiserver_conformance.py",
    "tests/support/test_apiserver_conformance_list.py",
    "tests/support/test_apiserver_conformance_watch.py",
]


@pytest.mark.timeout(900)
def test_conformance_suite_passes_against_the_real_apiserver(cluster: ControlPlane) -> None:
    env = {**os.environ, "HAMI_CONFORMANCE_KUBECONFIG": str(cluster.admin_kubeconfig)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "120",
         "-o", "addopts=-ra --strict-markers --strict-config", *MODULES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, f"{summary}\n{proc.stdout[-12000:]}\n{proc.stderr[-3000:]}"
    assert " passed" in summary, summary
