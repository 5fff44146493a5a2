"""Effective plugin settings: device-config ``nvidia:`` section, then the node's ``nodeconfig``."""

from __future__ import annotations

from typing import Any

import pytest

from hami.config.devices import parse_device_config
from hami.deviceplugin.settings import PluginSettings, SettingsError, from_device_config

BASE = PluginSettings(node_name="n1")


def test_defaults_match_chart() -> None:
    s = from_device_config(parse_device_config({}), BASE)
    assert (s.resource_name, s.split_count, s.memory_scaling, s.core_scaling) == (
        "nvidia.com/gpu",
        10,
        1.0,
        1.0,
    )
    assert s.socket_path.name == "nvidia-gpu.sock"
    assert s.kubelet_socket.name == "kubelet.sock"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"nvidia": {"deviceSplitCount": 4}}, {"split_count": 4}),
        ({"nvidia": {"deviceMemoryScaling": 2}}, {"memory_scaling": 2.0}),
        ({"nvidia": {"resourceCountName": "x.io/gpu"}}, {"resource_name": "x.io/gpu"}),
        ({"nvidia": {"disableCoreLimit": True}}, {"disable_core_limit": True}),
        ({"nvidia": {"migStrategy": "mixed"}}, {"mig_strategy": "mixed"}),
        (
            {
                "nvidia": {"deviceSplitCount": 4},
                "nodeconfig": [{"name": "n1", "devicesplitcount": 7}],
            },
            {"split_count": 7},
        ),
        (
            {"nodeconfig": [{"name": "other", "devicesplitcount": 7}]},
            {"split_count": 10},
        ),
        (
            {
                "nodeconfig": [
                    {
                        "name": "n1",
                        "filterdevices": {"uuid": ["GPU-x"], "index": [3]},
                        "enablegetpreferredallocation": True,
                        "devicememoryscaling": 1.5,
                    }
                ]
            },
            {
                "filter_uuids": frozenset({"GPU-x"}),
                "filter_indexes": frozenset({3}),
                "enable_preferred_allocation": True,
                "memory_scaling": 1.5,
            },
        ),
    ],
    ids=[
        "split",
        "mem-scaling",
        "resource-rename",
        "disable-core",
        "mig-mixed",
        "node-overrides-file",
        "other-node-ignored",
        "node-filters",
    ],
)
def test_overlay(raw: dict[str, Any], expected: dict[str, Any]) -> None:
    s = from_device_config(parse_device_config(raw), BASE)
    assert {k: getattr(s, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"node_name": ""}, "node_name: required"),
        ({"split_count": 0}, "devicesplitcount"),
        ({"memory_scaling": 0}, "devicememoryscaling"),
        ({"operating_mode": "mig"}, "operatingmode: 'mig' not supported"),
        ({"mig_strategy": "single"}, "migstrategy: 'single' not supported"),
        ({"resource_name": "gpu"}, "needs a domain prefix"),
    ],
    ids=["no-node", "split-zero", "scaling-zero", "dynamic-mig", "mig-single", "bare-resource"],
)
def test_invalid(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"node_name": "n1", **kwargs}
    with pytest.raises(SettingsError, match=message):
        PluginSettings(**args)
