"""The priority feedback loop's decisions (spec control-plane §7.3, hami-core §4.3), as pure code.

Every period the monitor reads each container's ``recent_kernel``, ``priority`` and switch, calls
:func:`decide`, and writes back only what changed. The rules (HAMi's):

1. ``recent_kernel > 0`` is decremented; if it is still > 0 the container is *active* at its
   priority on each of its GPUs (libvgpu sets it to 2 while kernels are being launched).
2. A container is *blocked* (``recent_kernel = -1``) while an active container with a strictly
   lower priority number shares one of its GPUs; otherwise a -1 goes back to 0.
3. ``utilization_switch = 1`` (enforce the core cap under the ``default`` policy) when a
   higher-priority container, or another container of the same priority, is active on one of its
   GPUs; otherwise 0, so a container alone on its GPU runs uncapped.

Unlike HAMi (which indexes a two-entry array and panics on other values), any integer priority
works, and a container's GPUs are all considered, not only the first one seen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

BLOCKED = -1


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the loop reads from one region."""

    key: str
    priority: int
    recent_kernel: int
    utilization_switch: int
    uuids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """What one region's fields should become; ``write_*`` is ``None`` when unchanged."""

    key: str
    active: bool
    blocked: bool
    recent_kernel: int
    utilization_switch: int
    write_recent_kernel: int | None
    write_utilization_switch: int | None

    @property
    def changes(self) -> bool:
        return self.write_recent_kernel is not None or self.write_utilization_switch is not None


def decide(containers: Sequence[ContainerState]) -> list[Decision]:
    """Decisions for every container, in input order."""
    # 1. decay activity and count active tasks per GPU and priority
    decayed: list[int] = []
    active_on: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for c in containers:
        rk = c.recent_kernel - 1 if c.recent_kernel > 0 else c.recent_kernel
        decayed.append(rk)
        if rk > 0:
            for uuid in set(c.uuids):
                active_on[uuid][c.priority] += 1
    out: list[Decision] = []
    for c, rk in zip(containers, decayed, strict=True):
        higher = same = False
        active = rk > 0
        for uuid in set(c.uuids):
            counts = active_on.get(uuid)
            if not counts:
                continue
            if any(n > 0 and p < c.priority for p, n in counts.items()):
                higher = True
            # others at the same priority: all of them, minus this container if it is active
            if counts.get(c.priority, 0) - (1 if active else 0) > 0:
                same = True
        # 2. blocking
        new_rk = rk
        if higher and rk >= 0:
            new_rk = BLOCKED
        elif not higher and rk < 0:
            new_rk = 0
        # 3. switch
        switch = 1 if (higher or same) else 0
        out.append(
            Decision(
                key=c.key,
                active=active,
                blocked=new_rk < 0,
                recent_kernel=new_rk,
                utilization_switch=switch,
                write_recent_kernel=new_rk if new_rk != c.recent_kernel else None,
                write_utilization_switch=switch if switch != c.utilization_switch else None,
            )
        )
    return out


POLICIES = ("default", "force", "disable")


def throttled(policy: str, utilization_switch: int, sm_limit: int) -> bool:
    """Whether libvgpu enforces the core cap (``GPU_CORE_UTILIZATION_POLICY`` semantics)."""
    if not 0 < sm_limit < 100:
        return False
    p = policy.lower()
    if p == "force":
        return True
    if p == "disable":
        return False
    return utilization_switch == 1
