"""A server that cannot start, or a task that fails, stops ``SchedulerRunner.serve`` with a
:class:`ServeError` naming it (it used to return normally: ``hami scheduler`` exited 0)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hami.k8s.fake import FakeKube
from hami.scheduler.runner import SchedulerRunner, ServeError
from tests.component.scheduler.conftest import settings


async def test_port_taken_is_a_serve_error(kube: FakeKube) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        runner = SchedulerRunner(settings(http_bind=f"127.0.0.1:{port}"), kube, identity="t")
        started: list[bool] = []
        with pytest.raises(ServeError, match=f"extender/webhook server: cannot listen on "
                                             f"127.0.0.1:{port}: .*address already in use"):
            await asyncio.wait_for(runner.serve(started=lambda _: started.append(True)), 10)
    assert started == []  # never reported as started


async def test_missing_key_file_is_a_serve_error(kube: FakeKube, tmp_path: Path) -> None:
    cert = tmp_path / "tls.crt"
    cert.write_text("x")
    cfg = settings(cert_file=cert, key_file=tmp_path / "gone.key")
    with pytest.raises(ServeError, match=f"TLS key file {tmp_path / 'gone.key'} not found"):
        await asyncio.wait_for(SchedulerRunner(cfg, kube, identity="t").serve(), 10)


async def test_a_failing_task_stops_serve_with_its_name(
    kube: FakeKube, caplog: pytest.LogCaptureFixture
) -> None:
    runner = SchedulerRunner(settings(), kube, identity="t")

    async def broken(*_: object) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")

    runner.registrar.run = broken  # type: ignore[method-assign]
    with pytest.raises(ServeError, match="node registration stopped: RuntimeError: boom"):
        await asyncio.wait_for(runner.serve(), 10)
    assert all(s.should_exit for s in runner.servers)  # the servers were shut down
    assert any(r.exc_info for r in caplog.records if "node registration" in r.getMessage())
