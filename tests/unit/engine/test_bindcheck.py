"""Bind's re-check under the node lock: a pure function of the pod, node and bound pods."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from hami.config.devices import DeviceConfig
from hami.device.registry import DeviceRegistry
from hami.engine.bindcheck import holds_devices, misfit
from hami.scheduler.bind import may_share_gpus
from tests.component.scheduler.objects import make_node, make_pod

REG = DeviceRegistry.from_config(DeviceConfig())

NODE = make_node("n1", gpus=2, mem=16384, split=2)
G0, G1 = "GPU-n1-00", "GPU-n1-01"


def _pod(name: str, devices: str, *, node: str = "n1", bound: bool = False, **extra: Any
         ) -> dict[str, Any]:  # fmt: skip
    pod = make_pod(name, uid=f"uid-{name}", annotations={
        "hami.io/vgpu-node": node, "hami.io/vgpu-devices-allocated": devices,
        "hami.io/vgpu-devices-to-allocate": devices})  # fmt: skip
    if bound:
        pod["spec"]["nodeName"] = node
    for section, values in extra.items():
        pod[section].update(values)
    return pod


def _dev(uuid: str, mem: int, cores: int = 0) -> str:
    return f"{uuid},NVIDIA,{mem},{cores}:;"


CASES = [
    ("fits", _dev(G0, 6000), [_dev(G0, 10000)], None),
    ("memory", _dev(G0, 7000), [_dev(G0, 10000)],
     f"GPU {G0} has 6384 MiB free, the pod needs 7000"),
    ("other-gpu-free", _dev(G1, 16384), [_dev(G0, 10000)], None),
    ("slots", _dev(G0, 1), [_dev(G0, 1), _dev(G0, 1)], f"GPU {G0} has no free slot (2 of 2 taken)"),
    ("cores", _dev(G0, 1, 50), [_dev(G0, 1, 60)], f"GPU {G0} has 40 cores free, the pod needs 50"),
    ("booked", _dev(G0, 1, 0), [_dev(G0, 1, 100)], f"GPU {G0} is fully booked"),
    ("exclusive", _dev(G0, 1, 100), [_dev(G0, 1, 0)], f"GPU {G0} is shared already"),
    ("unknown-gpu", _dev("GPU-zz", 1), [], "GPU GPU-zz is not registered on the node"),
    ("garbage-other-ignored", _dev(G0, 1), ["not,a,device"], None),
]  # fmt: skip


@pytest.mark.parametrize(("mine", "others", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_misfit(mine: str, others: list[str], expected: str | None) -> None:
    bound = [_pod(f"o{i}", d, bound=True) for i, d in enumerate(others)]
    why = misfit(_pod("me", mine), NODE, bound, REG)
    if expected is None:
        assert why is None
    else:
        assert why is not None and why.startswith("pod default/me on node n1: ")
        assert expected in why


def test_the_pods_own_decision_must_be_for_this_node_and_readable() -> None:
    assert misfit(_pod("me", _dev(G0, 1), node="n2"), NODE, [], REG) == (
        "pod default/me is placed on node 'n2', not n1")  # fmt: skip
    garbage = misfit(_pod("me", "GPU-x,NVIDIA,lots,0:;"), NODE, [], REG)
    assert garbage is not None and "hami.io/vgpu-devices-allocated" in garbage
    undecided = make_pod("me", annotations={"hami.io/vgpu-node": "n1"})
    assert misfit(undecided, NODE, [], REG) == "pod default/me has no device decision"
    bare = make_node("n1", register="[]")
    bare["metadata"]["annotations"].pop("hami.io/node-nvidia-register")
    why = misfit(_pod("me", _dev(G0, 1)), bare, [], REG) or ""
    assert "has no hami.io/node-nvidia-register" in why
    broken = make_node("n1", register="{oops")
    assert (misfit(_pod("me", _dev(G0, 1)), broken, [], REG) or "").startswith("node n1: ")


def test_finished_init_containers_free_their_share() -> None:
    init_done = {"initContainerStatuses": [{"state": {"terminated": {"exitCode": 0}}}]}
    other = _pod("o", _dev(G0, 12000) + _dev(G0, 1000), bound=True,
                 status={"phase": "Running", **init_done})  # fmt: skip
    other["spec"]["initContainers"] = [{"name": "init"}]
    assert misfit(_pod("me", _dev(G0, 10000)), NODE, [other], REG) is None
    other["status"] = {"phase": "Running"}  # init still running: its 12000 MiB count
    assert misfit(_pod("me", _dev(G0, 10000)), NODE, [other], REG) is not None


@pytest.mark.parametrize(
    ("pod", "counts"),
    [
        (_pod("o", _dev(G0, 1), bound=True), True),
        (_pod("o", _dev(G0, 1), bound=True, status={"phase": "Succeeded"}), False),
        (_pod("o", _dev(G0, 1), bound=True, status={"phase": "Failed"}), False),
        (_pod("me", _dev(G0, 1), bound=True), False),
        (_pod("o", _dev(G0, 1), node="n2", bound=True), False),
    ],
    ids=["bound", "succeeded", "failed", "itself", "other-node"],
)
def test_holds_devices(pod: dict[str, Any], counts: bool) -> None:
    assert holds_devices(pod, "n1", "uid-me", "default/me") is counts


BIG = make_node("n1", gpus=4, mem=16384, split=3)
GPUS = [f"GPU-n1-0{i}" for i in range(4)]


def _random_pod(rng: random.Random, name: str) -> dict[str, Any]:
    blocks = []
    for _ in range(rng.choice([1, 1, 2])):
        gpus = rng.sample(GPUS, rng.choice([1, 1, 2]))
        blocks.append("".join(f"{g},NVIDIA,{rng.choice([1000, 4000, 8000])},"
                              f"{rng.choice([0, 30, 100])}:" for g in gpus) + ";")  # fmt: skip
    pod = _pod(name, "".join(blocks), bound=True)
    if len(blocks) > 1 and rng.random() < 0.5:
        pod["spec"]["initContainers"] = [{"name": "init"}]
        if rng.random() < 0.5:
            pod["status"]["initContainerStatuses"] = [{"state": {"terminated": {"exitCode": 0}}}]
    if rng.random() < 0.1:
        pod["metadata"]["annotations"]["hami.io/vgpu-devices-allocated"] = "GPU-x,NVIDIA,lots,0:;"
    return pod


def test_may_share_gpus_leaves_the_recheck_answer_unchanged() -> None:
    """On random nodes the re-check gives the same answer with only the pods that may share a
    GPU as with all of them, and it does leave pods out."""
    rng = random.Random(7)
    dropped = 0
    answers = set()
    for case in range(400):
        me = _random_pod(rng, "me")
        others = [_random_pod(rng, f"o{i}") for i in range(rng.randrange(0, 6))]
        kept = may_share_gpus(me, others, REG)
        assert [id(p) for p in kept] == [id(p) for p in others if p in kept], case  # order kept
        assert misfit(me, BIG, kept, REG) == misfit(me, BIG, others, REG), case
        dropped += len(others) - len(kept)
        answers.add(misfit(me, BIG, others, REG) is None)
    assert dropped > 100 and answers == {True, False}


def test_may_share_gpus_keeps_what_it_cannot_rule_out() -> None:
    me = _pod("me", _dev(G0, 1))
    other_gpu = _pod("a", _dev(G1, 1), bound=True)
    same_gpu = _pod("b", _dev(G1, 1) + _dev(G0, 1), bound=True)
    # a MIG list whose UUID is written with a JSON escape: decoded it names G0
    escaped = json.dumps([{"gpuUUID": G0}]).replace("G", "\\u0047")
    mig = _pod("c", _dev(G1, 1), bound=True)
    mig["metadata"]["annotations"]["hami.io/vgpu-mig-allocations"] = escaped
    odd = _pod("d", _dev(G1, 1), bound=True)
    odd["metadata"]["annotations"]["hami.io/vgpu-devices-allocated"] = 42
    plain = make_pod("e")  # holds nothing
    assert may_share_gpus(me, [other_gpu, same_gpu, mig, odd, plain], REG) == [same_gpu, mig, odd]
    undecodable = _pod("me", "GPU-x,NVIDIA,lots,0:;")
    assert may_share_gpus(undecodable, [other_gpu, plain], REG) == [other_gpu, plain]
    assert may_share_gpus(make_pod("me"), [other_gpu], REG) == [other_gpu]
