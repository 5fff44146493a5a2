"""Node score bonus of the ``Ascend910*`` models: NPUs of one container on one network
(vendors spec §5.5).

For each container that got NPUs: the share of its NPUs in its largest ``NetworkID`` group
(1.0 when all share one); the sum over containers, times 10. Any granted NPU without a
``NetworkID`` makes the whole bonus 0; a non-numeric one is left out of the tally (as HAMi).
Other models (``Ascend310P``) score 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hami.api.types import PodSingleDevice
from hami.device.ascend.fit import has_network_id, network_id
from hami.device.ascend.keys import ASCEND910_PREFIX, NETWORK_WEIGHT
from hami.device.base import DeviceUsage


def scores_nodes(cw: str) -> bool:
    return cw.startswith(ASCEND910_PREFIX)


def network_score(cw: str, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
    """The bonus for ``picked`` (this model's devices of the pod) on a node with ``devices``."""
    if not scores_nodes(cw):
        return 0.0
    by_id = {d.id: d for d in devices}
    score = 0.0
    for container in picked:
        tally: Counter[int] = Counter()
        for granted in container:
            dev = by_id.get(granted.uuid)
            if dev is None or not has_network_id(dev):
                return 0.0
            group = network_id(dev)
            if group is not None:
                tally[group] += 1
        total = sum(tally.values())
        if total:
            score += max(tally.values()) / total
    return score * NETWORK_WEIGHT
