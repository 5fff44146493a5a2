"""Fixtures: the scheduler service on a :class:`FakeKube`, served over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from hami.k8s.fake import FakeKube
from hami.scheduler.runner import SchedulerRunner
from hami.scheduler.settings import SchedulerSettings
from tests.component.scheduler.objects import make_node


@dataclass
class Harness:
    kube: FakeKube
    runner: SchedulerRunner
    http: httpx.AsyncClient
    task: asyncio.Task[None]

    @property
    def service(self):  # type: ignore[no-untyped-def]
        return self.runner.service

    async def settle(self, rounds: int = 20) -> None:
        """Let informers deliver pending watch events."""
        for _ in range(rounds):
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)


def settings(**overrides: object) -> SchedulerSettings:
    base: dict[str, object] = {
        "http_bind": "127.0.0.1:0",
        "metrics_bind_address": "127.0.0.1:0",
        "register_interval": 0.2,
        "kube_timeout": 5,
    }
    base.update(overrides)
    return SchedulerSettings.model_validate(base)


@contextlib.asynccontextmanager
async def serve(kube: FakeKube, **overrides: object) -> AsyncIterator[Harness]:
    runner = SchedulerRunner(settings(**overrides), kube, identity="test")
    started = asyncio.Event()
    task = asyncio.get_running_loop().create_task(runner.serve(started=lambda _: started.set()))
    await asyncio.wait_for(started.wait(), 10)
    assert await runner.service.wait_synced(5)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.port(0)}") as http:
        try:
            yield Harness(kube, runner, http, task)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
def kube() -> FakeKube:
    fake = FakeKube()
    for i in range(3):
        fake.add("nodes", make_node(f"node-{i}", gpus=2, mem=16384))
    return fake


@pytest.fixture
async def harness(kube: FakeKube) -> AsyncIterator[Harness]:
    async with serve(kube) as h:
        yield h
