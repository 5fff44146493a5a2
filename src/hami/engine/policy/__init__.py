"""GPU and node placement policies, registered by name (spec §4.5, §4.6).

We try devices in exactly HAMi v2.10's order: HAMi stable-sorts a node's devices with its policy
comparator and walks the sorted list from the end, so on equal keys the device registered last
is tried first. ``hami.io/gpu-scheduler-policy`` is read as HAMi reads it:

* one value (no comma, not ``numa``): ``binpack`` = score ascending, NUMA ascending;
  ``mutex`` = slots used descending, NUMA ascending; anything else (``spread``,
  ``topology-aware``, unknown) = score descending, NUMA ascending. With
  ``nvidia.com/numa-bind`` the NUMA id becomes the primary key (binpack: descending, spread:
  ascending; mutex ignores it).
* a comma chain (or bare ``numa``): the ``binpack``/``spread``/``numa`` tokens are sort keys in
  written order (``mutex``/``topology-aware`` only filter; no key at all = ``spread``),
  ``numa`` is forced to the front under numa-bind, and the device index breaks the last tie.

One deliberate difference: under numa-bind with ``binpack``, HAMi tries NUMA groups in id order
whatever their usage, which spreads pods over groups; we try the busiest group first (keeping
HAMi's order inside and between equally busy groups) so binpack keeps packing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hami.device.base import DeviceUsage
from hami.engine.policy import binpack, mutex, numa, spread, topology
from hami.engine.policy.base import GpuPolicy
from hami.engine.score import DEFAULT_WEIGHTS, ScoringWeights, device_score

GPU_POLICIES: dict[str, GpuPolicy] = {
    p.name: p for p in (binpack.GPU, spread.GPU, mutex.GPU, numa.GPU, topology.GPU)
}
NODE_POLICIES: dict[str, bool] = {
    binpack.NAME: binpack.NODE_PREFERS_HIGH_SCORE,
    spread.NAME: spread.NODE_PREFERS_HIGH_SCORE,
}


class Chain(tuple[str, ...]):
    """Known policy tokens in written order; ``composite`` when HAMi reads the value as a chain.

    Compares equal to the plain tuple of its tokens.
    """

    composite: bool

    def __new__(cls, tokens: Iterable[str] = (), composite: bool = False) -> Chain:
        self = super().__new__(cls, tuple(tokens))
        self.composite = composite
        return self


def parse_chain(value: str) -> Chain:
    """Known policy tokens of a policy value, in order, lower-cased, duplicates dropped.

    A single value without a known ordering token reads as ``spread``, as in HAMi.
    """
    tokens = [t.strip().lower() for t in value.split(",")]
    composite = len(tokens) > 1 or tokens[0] == numa.NAME
    out: list[str] = []
    for name in tokens:
        if name in GPU_POLICIES and name not in out:
            out.append(name)
    if not composite and not any(GPU_POLICIES[n].ordering for n in out):
        out = [spread.NAME]
    return Chain(out, composite)


def unknown_gpu_policies(value: str) -> tuple[str, ...]:
    """Names in a GPU policy value that are no policy (``parse_chain`` drops them), as written."""
    return tuple(
        t.strip() for t in value.split(",") if t.strip() and t.strip().lower() not in GPU_POLICIES
    )


def is_node_policy(value: str) -> bool:
    """True when ``value`` names a node policy (else ``node_prefers_high`` uses the default)."""
    return value.strip().lower() in NODE_POLICIES


SortKey = Callable[[DeviceUsage, float], tuple[float, ...]]


def _single_key(name: str, numa_bind: bool) -> SortKey:
    """HAMi's comparator for a one-word policy, as an ascending sort key."""
    if name == mutex.NAME:
        return lambda d, s: (-d.used, d.numa)
    if name == binpack.NAME:
        if numa_bind:
            return lambda d, s: (-d.numa, s)
        return lambda d, s: (s, d.numa)
    if numa_bind:
        return lambda d, s: (d.numa, -s)
    return lambda d, s: (-s, d.numa)


def _chain_keys(chain: Sequence[str], numa_bind: bool) -> list[str]:
    keys = [n for n in chain if GPU_POLICIES[n].chain_key] or [spread.NAME]
    if numa_bind and keys[0] != numa.NAME:
        keys = [numa.NAME, *(k for k in keys if k != numa.NAME)]
    return keys


def _packs(chain: Sequence[str]) -> bool:
    """True when binpack decides the usage order (first of binpack/spread in the chain)."""
    return next((n for n in chain if n in (binpack.NAME, spread.NAME)), "") == binpack.NAME


def order_devices(
    devices: Sequence[DeviceUsage],
    chain: Sequence[str],
    *,
    weights: ScoringWeights = DEFAULT_WEIGHTS,
    numa_bind: bool = False,
) -> list[DeviceUsage]:
    """Devices in the order Fit tries them (HAMi's walk: the end of its sorted list first)."""
    composite = getattr(chain, "composite", False)
    scores = [device_score(d, weights) for d in devices]
    key: SortKey
    if composite:
        fns = [GPU_POLICIES[n].key for n in _chain_keys(chain, numa_bind)]
        key = lambda d, s: (*(f(d, s) for f in fns), d.index)  # noqa: E731
    else:
        key = _single_key(chain[0] if chain else spread.NAME, numa_bind)
    ranked = sorted(range(len(devices)), key=lambda i: key(devices[i], scores[i]))
    walk = ranked[::-1]
    if numa_bind and _packs(chain):
        group: dict[int, float] = {}
        for i, d in enumerate(devices):
            group[d.numa] = group.get(d.numa, 0.0) + scores[i]
        walk.sort(key=lambda i: -group[devices[i].numa])  # stable: HAMi's order otherwise
    return [devices[i] for i in walk]


def node_prefers_high(policy: str, default: str = binpack.NAME) -> bool:
    """True when the node policy picks the highest-scored (busiest) node."""
    key = policy.strip().lower()
    return NODE_POLICIES.get(key, NODE_POLICIES.get(default, True))
