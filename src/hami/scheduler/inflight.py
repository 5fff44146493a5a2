"""Pods our Filter placed whose Bind has not finished yet, by node (binds in flight).

kube-scheduler filters the next pod while the previous pod's binding cycle is still on its way
(binds are asynchronous), so a node chosen a moment ago is about to be locked by that pod's Bind.
Placing another pod there would only fail its Bind on lock contention (at most one pod per node
is between Bind and Allocate) and send it round again. Filter asks :meth:`InFlightBinds.busy` to
prefer other nodes meanwhile. An entry ends when the Bind finishes (either way), when the pod goes
away, or after ``ttl_s`` (kube-scheduler may never bind: the pod was deleted, a later plugin
rejected it). Pure bookkeeping, clock passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class InFlightBinds:
    """``node -> {ns/name: placed_at}`` for pods filtered but not yet bound."""

    def __init__(self, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._by_node: dict[str, dict[str, float]] = {}
        self._node_of: dict[str, str] = {}

    def placed(self, ref: str, node: str) -> None:
        """Filter placed pod ``ref`` (``namespace/name``) on ``node``."""
        self.done(ref)
        self._by_node.setdefault(node, {})[ref] = self._clock()
        self._node_of[ref] = node

    def done(self, ref: str) -> None:
        """The pod's Bind finished (or the pod is gone): forget it."""
        node = self._node_of.pop(ref, None)
        if node is None:
            return
        refs = self._by_node.get(node)
        if refs is not None:
            refs.pop(ref, None)
            if not refs:
                del self._by_node[node]

    def busy(self, node: str, ref: str) -> bool:
        """Whether another pod placed on ``node`` within ``ttl_s`` is still waiting for Bind."""
        refs = self._by_node.get(node)
        if not refs:
            return False
        now = self._clock()
        for other, at in list(refs.items()):
            if now - at >= self.ttl_s:
                self.done(other)
            elif other != ref:
                return True
        return False

    def __len__(self) -> int:
        return len(self._node_of)
