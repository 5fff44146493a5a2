"""Thread runner for the kube-scheduler stand-in, so synchronous tests can use it too."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from .config import SchedulerConfig
from .scheduler import KubeSchedulerStandIn


class KubeSchedulerThread:
    """Runs a KubeSchedulerStandIn on its own event loop in a daemon thread (for sync tests)."""

    def __init__(self, api_url: str, config: SchedulerConfig, **kw: Any) -> None:
        self._args = (api_url, config, kw)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="kube-scheduler"
        )
        self.scheduler: KubeSchedulerStandIn | None = None

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float = 15) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> KubeSchedulerStandIn:
        self._thread.start()
        api_url, config, kw = self._args

        async def make() -> KubeSchedulerStandIn:
            return await KubeSchedulerStandIn(api_url, config, **kw).start()

        self.scheduler = self._run(make())
        return self.scheduler

    def wait_until(self, predicate: Any, timeout: float = 10.0) -> bool:
        assert self.scheduler is not None
        return bool(self._run(self.scheduler.wait_until(predicate, timeout), timeout + 5))

    def __exit__(self, *exc: object) -> None:
        if self.scheduler is not None:
            self._run(self.scheduler.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
