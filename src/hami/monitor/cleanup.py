"""Which per-container cache directories to delete (pure; the service does the I/O).

A directory ``<podUID>_<container>`` whose pod is no longer on this node is removed once the pod
has been missing for ``grace`` seconds (``HAMI_RESYNC_INTERVAL``, default 5 min) *and* the
directory has not been modified for as long, so a directory the device plugin has just created
for a pod the informer has not seen yet survives. Nothing is removed before the pod cache has
synced (an empty cache would otherwise look like "every pod is gone").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DirState:
    name: str
    pod_uid: str
    mtime: float


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    delete: tuple[str, ...]
    missing_since: dict[str, float]
    """The state to pass to the next call: directory name -> first time its pod was missing."""


def plan(
    dirs: Sequence[DirState],
    live_pod_uids: Collection[str],
    missing_since: Mapping[str, float],
    *,
    now: float,
    grace: float,
    synced: bool,
) -> CleanupPlan:
    if not synced:
        return CleanupPlan((), dict(missing_since))
    delete: list[str] = []
    state: dict[str, float] = {}
    for d in dirs:
        if d.pod_uid in live_pod_uids:
            continue
        since = missing_since.get(d.name, now)
        if now - since >= grace and now - d.mtime >= grace:
            delete.append(d.name)
        else:
            state[d.name] = since
    return CleanupPlan(tuple(delete), state)
