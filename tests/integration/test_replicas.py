"""Two scheduler replicas with leader election; TLS serving with certificate reload."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.component.scheduler.objects import container, make_pod
from tests.integration.conftest import add_nodes
from tests.integration.stack import start_scheduler, wait_for
from tests.support.apiserver import ApiServerThread
from tests.support.apiserver.tls import make_serving_cert

ELECTION = {"leader_elect": True, "lease_duration": 2.0, "renew_deadline": 1.5,
            "retry_period": 0.2, "leader_elect_resource_namespace": "kube-system",
            "pod_namespace": "kube-system"}  # fmt: skip


def _role(api: ApiServerThread, name: str) -> str | None:
    pod = api.store.get("pods", name, namespace="kube-system")
    return (pod["metadata"].get("labels") or {}).get("hami.io/scheduler-role")


@pytest.mark.slow
def test_two_replicas_never_both_leader(apiserver: ApiServerThread) -> None:
    add_nodes(apiserver, 2)
    for name in ("hami-a", "hami-b"):
        apiserver.store.create(
            make_pod(
                name,
                namespace="kube-system",
                containers=[container(gpu=None)],
                scheduler_name="default-scheduler",
            )
        )
    a = start_scheduler(apiserver, identity="hami-a", pod_name="hami-a", **ELECTION)
    b = start_scheduler(apiserver, identity="hami-b", pod_name="hami-b", **ELECTION)
    both: list[float] = []
    stop = threading.Event()
    replicas = {"a": a, "b": b}

    def sample() -> None:
        while not stop.is_set():
            leaders = [n for n, r in replicas.items() if r.runner and r.runner.is_leader()]
            if len(leaders) > 1:
                both.append(time.monotonic())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        assert wait_for(lambda: a.runner.is_leader() or b.runner.is_leader(), 10)  # type: ignore[union-attr]
        first, second = (a, b) if a.runner.is_leader() else (b, a)  # type: ignore[union-attr]
        first_name = "hami-a" if first is a else "hami-b"
        second_name = "hami-b" if first is a else "hami-a"
        assert wait_for(lambda: _role(apiserver, first_name) == "leader", 5)
        # both replicas serve ready once synced; the follower too
        assert httpx.get(f"{second.url}/readyz").text == "ok (follower)"
        first.stop()
        del replicas["a" if first is a else "b"]
        assert wait_for(lambda: second.runner.is_leader(), 10)  # type: ignore[union-attr]
        assert wait_for(lambda: _role(apiserver, second_name) == "leader", 5)
        assert _role(apiserver, first_name) == "follower"
    finally:
        stop.set()
        sampler.join(2)
        a.stop()
        b.stop()
    assert both == []


def test_tls_serving_and_certificate_reload(apiserver: ApiServerThread, tmp_path: Path) -> None:
    add_nodes(apiserver, 1)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = make_serving_cert()
    cert.write_bytes(first.cert_pem)
    key.write_bytes(first.key_pem)
    sched = start_scheduler(apiserver, cert_file=str(cert), key_file=str(key))
    try:
        assert sched.url.startswith("https://")
        port = sched.runner.port(0)  # type: ignore[union-attr]

        def served_cert() -> bytes:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            import socket

            with socket.create_connection(("127.0.0.1", port)) as raw, \
                    ctx.wrap_socket(raw) as tls:  # fmt: skip
                return tls.getpeercert(binary_form=True) or b""

        assert httpx.get(f"{sched.url}/healthz", verify=False).text == "ok"
        before = served_cert()
        second = make_serving_cert()
        time.sleep(1.1)  # mtime granularity
        cert.write_bytes(second.cert_pem)
        key.write_bytes(second.key_pem)
        assert wait_for(lambda: served_cert() != before, 10)
        assert httpx.get(f"{sched.url}/healthz", verify=False).text == "ok"
    finally:
        sched.stop()
