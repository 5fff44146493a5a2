"""A list+watch cache of one resource kind (our small informer).

It lists once, then watches from the list's resourceVersion, resuming from the last version it saw
when a watch ends or drops, relisting (and diffing against the cache) on 410 Gone, and backing off
on errors, so it survives apiserver restarts. Handlers run synchronously on the event loop with
``(event_type, old, new)`` right after the cache changes, so everything a handler maintains stays
consistent with :meth:`Informer.snapshot` at every ``await`` point.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hami.k8s import errors
from hami.k8s.port import JsonObj, Kind, KubeClient, WatchEvent, obj_key

log = logging.getLogger(__name__)

#: ``handler(event_type, old, new)``: ADDED (old None), MODIFIED, DELETED (new None).
Handler = Callable[[str, JsonObj | None, JsonObj | None], None]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: ``initial * factor**n`` capped at ``maximum``."""

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 5.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt))
        return base * (1 + random.uniform(0, self.jitter))


class Informer:
    """Keeps ``{namespace/name: object}`` of one kind in sync with the apiserver."""

    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        watch_timeout_s: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self._client = client
        self.kind = kind
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._watch_timeout_s = watch_timeout_s
        self._backoff = backoff or Backoff()
        self._store: dict[str, JsonObj] = {}
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._rv = ""
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.relists = 0
        self.errors = 0

    # -- reading ------------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    @property
    def resource_version(self) -> str:
        return self._rv

    async def wait_synced(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def seen(self, resource_version: str) -> bool:
        """Whether the cache reflects every change of this kind up to ``resource_version``: the
        list or the watch stream has reached it. resourceVersions are etcd revisions, one
        sequence for all kinds stored in one etcd; False when either is not an integer."""
        wanted = _rv_int(resource_version)
        return wanted is not None and (_rv_int(self._rv) or -1) >= wanted

    async def wait_seen(self, resource_version: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until :meth:`seen` is true for ``resource_version``;
        whether it is. Costs nothing while waiting: the informer wakes its waiters."""
        wanted = _rv_int(resource_version)
        if wanted is None:
            return False
        if (_rv_int(self._rv) or -1) >= wanted:
            return True
        if timeout <= 0:
            return False
        waiter = asyncio.get_running_loop().create_future()
        entry = (wanted, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return False
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)
        return True

    def _advance(self, resource_version: str) -> None:
        """The cache now reflects ``resource_version``: wake the waiters it satisfies."""
        self._rv = resource_version
        if not self._waiters:
            return
        now = _rv_int(resource_version)
        if now is None:
            return
        for wanted, waiter in [w for w in self._waiters if w[0] <= now]:
            self._waiters.remove((wanted, waiter))
            if not waiter.done():
                waiter.set_result(None)

    def get(self, key: str) -> JsonObj | None:
        """The cached object ``namespace/name`` (or ``name``); treat it as read-only."""
        return self._store.get(key)

    def snapshot(self) -> dict[str, JsonObj]:
        """A shallow copy of the cache: a consistent view even if events arrive later."""
        return dict(self._store)

    def values(self) -> Iterable[JsonObj]:
        return self._store.values()

    def add_handler(self, handler: Handler) -> None:
        """Register a handler; it first receives ADDED for every object already cached."""
        self._handlers.append(handler)
        for obj in list(self._store.values()):
            self._safe_call(handler, "ADDED", None, obj)

    # -- running ------------------------------------------------------------------------------
    async def run(self) -> None:
        """List and watch until cancelled."""
        attempt = 0
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    attempt = 0
                await self._watch_once()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                log.info("%s watch: rv %s expired, relisting", self.kind.value, self._rv)
                need_list = True
            except errors.WatchQuiet as exc:  # a quiet collection is normal: reconnect now
                log.debug("%s watch: %s; reconnecting", self.kind.value, exc)
            except Exception as exc:  # keep the cache alive on any failure
                self.errors += 1
                delay = self._backoff.delay(attempt)
                attempt += 1
                log.warning("%s informer: %s; retrying in %.2fs", self.kind.value, exc, delay)
                await asyncio.sleep(delay)
                if not self._rv:
                    need_list = True

    async def _relist(self) -> None:
        result = await self._client.list_objects(
            self.kind, label_selector=self._label_selector, field_selector=self._field_selector
        )
        self.relists += 1
        fresh = {obj_key(obj): obj for obj in result.items}
        for key in [k for k in self._store if k not in fresh]:
            self._emit("DELETED", self._store.pop(key), None)
        for key, obj in fresh.items():
            old = self._store.get(key)
            self._store[key] = obj
            if old is None:
                self._emit("ADDED", None, obj)
            elif _rv_of(old) != _rv_of(obj):
                self._emit("MODIFIED", old, obj)
        self._advance(result.resource_version)
        if not self._synced.is_set():
            log.info("%s cache synced: %d objects at rv %s", self.kind.value, len(fresh), self._rv)
        self._synced.set()

    async def _watch_once(self) -> None:
        stream = self._client.watch(
            self.kind,
            resource_version=self._rv,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            timeout_s=self._watch_timeout_s,
        )
        async for event in stream:
            self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        rv = event.resource_version
        if event.type == "BOOKMARK":
            if rv:
                self._advance(rv)
            return
        key = obj_key(event.object)
        old = self._store.get(key)
        if event.type == "DELETED":
            gone = self._store.pop(key, None)
            if gone is not None:
                self._emit("DELETED", gone, None)
        else:
            self._store[key] = event.object
            self._emit("ADDED" if old is None else "MODIFIED", old, event.object)
        if rv:
            self._advance(rv)

    def _emit(self, event_type: str, old: JsonObj | None, new: JsonObj | None) -> None:
        for handler in self._handlers:
            self._safe_call(handler, event_type, old, new)

    def _safe_call(
        self, handler: Handler, event_type: str, old: JsonObj | None, new: JsonObj | None
    ) -> None:
        try:
            handler(event_type, old, new)
        except Exception:
            obj = new if new is not None else old
            log.exception(
                "%s handler failed on %s %s", self.kind.value, event_type, obj_key(obj or {})
            )


def _rv_int(resource_version: str) -> int | None:
    ok = resource_version.isascii() and resource_version.isdigit()
    return int(resource_version) if ok else None


def _rv_of(obj: JsonObj) -> str:
    return str(obj.get("metadata", {}).get("resourceVersion", ""))
