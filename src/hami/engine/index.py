"""The node index Filter walks: per vendor, nodes by capacity class, best node score first.

Every node that holds devices of a vendor (cw) sits in one *bucket* of that vendor: the capacity
class its pruning summary reports (``summary.bucket``, e.g. NVIDIA's largest free memory), or
:data:`ANY` when the vendor has no summary there (no summarizer, a partitioned device, or one
without buckets). A summary bucket of None means no device of the vendor can take any request:
the node is in no bucket of that vendor. A request walks only the buckets its vendor's
``admits(bucket, request, selection, mutex)`` allows, merged best-first, so nodes that cannot
fit (full or too small) are skipped without being visited, and nodes without the vendor never
come up. Within a bucket nodes are kept sorted by ``(score, name)`` (one list: highest first
walks it backwards, a run of equal scores forwards); the merged walk visits the admitted nodes
in exactly the node-policy order of the whole cluster (equal scores: name order).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Final

ANY: Final = "*"
"""The bucket of nodes whose vendor has no capacity class here: always walked."""

Admits = Callable[[Any, Any, Any, bool], bool]
"""``admits(bucket, request, selection, mutex)``: False when no node of that bucket fits."""

Placement = tuple[tuple[str, Hashable], ...]
"""(cw, bucket) of every vendor a node is indexed under."""

Bucket = list[tuple[float, str, Placement]]
"""The nodes of one capacity class: (score, name, placement), sorted (names are unique, so the
placement, which rides along to remember where the node is indexed, is never compared)."""

_CACHE_LIMIT = 256


def _descending(entries: list[tuple[float, str, Placement]]) -> Iterator[tuple[Any, ...]]:
    """``entries`` (sorted by score, then name) highest score first, equal scores in name
    order: each run of equal scores is found by bisection and walked forward."""
    end = len(entries)
    while end > 0:
        start = bisect_left(entries, (entries[end - 1][0],), 0, end)
        for i in range(start, end):
            yield entries[i]
        end = start


def _desc_key(entry: tuple[Any, ...]) -> tuple[float, str]:
    return (-entry[0], entry[1])


class NodeIndex:
    """Nodes per vendor and capacity class, each class sorted by node score both ways."""

    __slots__ = ("_admits", "_buckets", "_eligible", "_placed", "_shapes")

    def __init__(self) -> None:
        self._buckets: dict[str, dict[Hashable, Bucket]] = {}
        self._placed: dict[str, tuple[float, str, Placement]] = {}
        self._admits: dict[str, Admits] = {}
        self._eligible: dict[Hashable, tuple[int, list[Bucket]]] = {}
        self._shapes: dict[Placement, Placement] = {}
        """One object per distinct placement (there are few), shared by the nodes."""

    def set(
        self, name: str, score: float, placement: Placement, summaries: Mapping[str, Any] = {}
    ) -> None:
        """Index ``name`` with its node score under each (cw, bucket) of ``placement``;
        ``summaries``: cw -> the node's summary, whose ``admits`` is the bucket test of a vendor
        placed in a bucket other than :data:`ANY` (taken from the first such node)."""
        old = self._placed.get(name)
        if old is not None and old[0] == score and old[2] == placement:
            return
        for cw, key in placement:
            if key != ANY and cw not in self._admits:
                self._admits[cw] = summaries[cw].admits
        if old is not None:
            self._drop(old)
        placement = self._shapes.setdefault(placement, placement)
        entry = self._placed[name] = (score, name, placement)
        for cw, key in placement:
            buckets = self._buckets.setdefault(cw, {})
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = []
            insort(bucket, entry)

    def discard(self, name: str) -> None:
        old = self._placed.pop(name, None)
        if old is not None:
            self._drop(old)

    def _drop(self, entry: tuple[float, str, Placement]) -> None:
        for cw, key in entry[2]:
            bucket = self._buckets[cw][key]
            del bucket[bisect_left(bucket, entry)]

    def __len__(self) -> int:
        return len(self._placed)

    def _admitted(self, cw: str, checks: Sequence[tuple[Any, Any]], mutex: bool) -> list[Bucket]:
        """The buckets of ``cw`` that every (request, selection) of ``checks`` may fit."""
        buckets = self._buckets.get(cw)
        if not buckets:
            return []
        key = (cw, tuple(checks), mutex)
        hit = self._eligible.get(key)
        if hit is not None and hit[0] == len(buckets):  # buckets are only ever added
            return hit[1]
        admits = self._admits.get(cw)
        out = [
            b
            for k, b in buckets.items()
            if k == ANY or admits is None or all(admits(k, r, s, mutex) for r, s in checks)
        ]
        if len(self._eligible) >= _CACHE_LIMIT:
            self._eligible.clear()
        self._eligible[key] = (len(buckets), out)
        return out

    def walk(
        self, checks: Sequence[tuple[Any, Any]], mutex: bool, high_first: bool
    ) -> Iterator[tuple[Any, ...]]:
        """``(sort key, name, ...)`` of the nodes that may fit every check, in node-policy order:
        highest score first when ``high_first`` (equal scores: name order). ``checks``:
        (request, selection) pairs; a request's ``type`` is its vendor's cw. The walk follows
        the vendor whose admitted buckets hold the fewest nodes (a node must fit them all)."""
        best: list[Bucket] | None = None
        size = 0
        for cw in dict.fromkeys(r.type for r, _ in checks):
            mine = [r for r in checks if r[0].type == cw]
            lists = [b for b in self._admitted(cw, mine, mutex) if b]
            n = sum(len(b) for b in lists)
            if best is None or n < size:
                best, size = lists, n
        if not best:
            return iter(())
        if not high_first:
            return iter(best[0]) if len(best) == 1 else heapq.merge(*best)
        if len(best) == 1:
            return _descending(best[0])
        return heapq.merge(*(_descending(b) for b in best), key=_desc_key)
