"""The bundled mixed-vendor example parses and carries what the Iluvatar backend reads."""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import Any

import yaml

from hami.config.devices import DeviceConfig
from hami.device.registry import DeviceRegistry
from hami.engine.simulation import load_nodes, load_pods

from ._support import backend


def _docs(name: str) -> list[Any]:
    text = files("hami").joinpath("examples", name).read_text(encoding="utf-8")
    return list(yaml.safe_load_all(text))


def test_mixed_example_loads() -> None:
    registry = DeviceRegistry.from_config(DeviceConfig(), enable_ascend=True, enable_iluvatar=True)
    nodes = load_nodes(_docs("mixed-nodes.yaml"), "mixed-nodes.yaml", registry)
    pods = load_pods(_docs("mixed-pods.yaml"), "mixed-pods.yaml")
    assert len(nodes) >= 6
    assert len(pods) >= 9


def test_iluvatar_node_and_pods_of_the_mixed_example() -> None:
    b = backend("MR-V100")
    (items,) = [d["items"] for d in _docs("mixed-nodes.yaml")]
    cards = {n["metadata"]["name"]: len(b.node_devices(n)) for n in items}
    assert {name: n for name, n in cards.items() if n} == {"ilu-mrv100-1": 4}
    pods = {p["metadata"]["name"]: p for p in _docs("mixed-pods.yaml")}
    asking = {name for name, p in pods.items() if any(b.container_requests(p))}
    assert asking == {"iluvatar-share", "iluvatar-two-cards"}
    two: dict[str, Any] = copy.deepcopy(pods["iluvatar-two-cards"])
    (ctr,) = two["spec"]["containers"]
    assert b.mutate_container(ctr)
    assert ctr["resources"]["limits"]["iluvatar.ai/MR-V100.vCore"] == "200"
    assert ctr["env"] == [{"name": "SOL_CONTINER_NAME", "value": "train"}]
