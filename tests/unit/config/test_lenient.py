"""Device-config files HAMi v2.10 runs with load, with HAMi's meaning (issue 13 point 3).

Each ignored or clamped key gives exactly one warning naming file and key; only what HAMi itself
refuses is an error; ``strict=True`` (``--strict-config``) refuses all of these as before.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from hami.config.devices import (
    ConfigError,
    DeviceConfig,
    load_device_config,
    node_config_entries,
    read_device_config_file,
)

# (id, document, attribute -> expected value, warned keys)
ACCEPTED: list[tuple[str, Any, dict[str, Any], list[str]]] = [
    ("nodeconfig-under-nvidia",
     {"nvidia": {"deviceSplitCount": 4, "nodeconfig": [{"name": "mig-a", "operatingmode": "mig"}]}},
     {"split": 4, "node:mig-a": "mig"}, []),
    ("core-policy-empty", {"nvidia": {"gpuCorePolicy": ""}}, {"policy": "default"}, []),
    ("core-policy-null", {"nvidia": {"gpuCorePolicy": None}}, {"policy": "default"}, []),
    ("log-level-empty", {"nvidia": {"libCudaLogLevel": ""}}, {"log": 1}, []),
    ("log-level-null", {"nvidia": {"libCudaLogLevel": None}}, {"log": 1}, []),
    ("split-null", {"nvidia": {"deviceSplitCount": None}}, {"split": 10}, []),
    ("split-zero", {"nvidia": {"deviceSplitCount": 0}}, {"split": 10},
     ["nvidia.deviceSplitCount"]),
    ("memory-factor-zero", {"nvidia": {"memoryFactor": 0}}, {"factor": 1},
     ["nvidia.memoryFactor"]),
    ("memory-scaling-zero", {"nvidia": {"deviceMemoryScaling": 0}}, {"mem_scaling": 1.0},
     ["nvidia.deviceMemoryScaling"]),
    ("default-cores-150", {"nvidia": {"defaultCores": 150}}, {"cores": 100},
     ["nvidia.defaultCores"]),
    ("unknown-nvidia-key", {"nvidia": {"someNewKey": True, "defaultMemory": 5}}, {"mem": 5},
     ["nvidia.someNewKey"]),
    ("unknown-top-level", {"scheduler": {"x": 1}, "nvidia": {}}, {}, ["scheduler"]),
    ("future-version", {"version": "v2"}, {}, ["version"]),
    ("unknown-policy-value", {"nvidia": {"gpuCorePolicy": "turbo"}}, {"policy": "default"},
     ["nvidia.gpuCorePolicy"]),
    ("node-camel-case",
     {"nodeconfig": [{"Name": "n1", "deviceSplitCount": 3, "OperatingMode": "hami-core",
                      "filterDevices": {"UUID": ["GPU-x"]}}]},
     {"node-split:n1": 3, "node-filter:n1": ["GPU-x"]}, []),
    ("node-split-zero-and-unknown", {"nodeconfig": [{"name": "n1", "devicesplitcount": 0,
                                                     "futureKnob": 1}]},
     {"node-split:n1": None}, ["nodeconfig[0].futureKnob", "nodeconfig[0].devicesplitcount"]),
]  # fmt: skip


def _value(cfg: DeviceConfig, what: str) -> Any:
    n = cfg.nvidia
    simple = {"split": n.device_split_count, "policy": n.gpu_core_policy,
              "log": n.lib_cuda_log_level, "factor": n.memory_factor,
              "mem_scaling": n.device_memory_scaling, "cores": n.default_cores,
              "mem": n.default_memory}  # fmt: skip
    if what in simple:
        return simple[what]
    kind, _, name = what.partition(":")
    node = cfg.node(name)
    assert node is not None, what
    if kind == "node":
        return node.operatingmode
    if kind == "node-split":
        return node.devicesplitcount
    assert node.filterdevices is not None
    return node.filterdevices.uuid


@pytest.mark.parametrize(("doc", "expect", "warned"), [a[1:] for a in ACCEPTED],
                         ids=[a[0] for a in ACCEPTED])  # fmt: skip
def test_hami_files_load_with_hamis_meaning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    doc: Any,
    expect: dict[str, Any],
    warned: list[str],
) -> None:
    path = tmp_path / "device-config.yaml"
    path.write_text(yaml.safe_dump(doc))
    with caplog.at_level(logging.WARNING, logger="hami.config.devices"):
        cfg = load_device_config(path)
    for what, value in expect.items():
        assert _value(cfg, what) == value, what
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(warned), lines  # one warning per ignored or clamped key
    for key, line in zip(warned, lines, strict=True):
        assert line.startswith(f"{path}: {key}: "), line
        assert "\n" not in line
    if warned:
        with pytest.raises(ConfigError, match=str(path)):
            load_device_config(path, strict=True)


def test_per_node_config_json_matches_keys_like_go(tmp_path: Path) -> None:
    raw = {"nodeConfig": [{"NAME": "gpu-1", "DeviceMemoryScaling": 2.5,
                           "operatingMode": "mig", "filterdevices": {"Index": [1]}}]}  # fmt: skip
    (entry,) = node_config_entries(raw, "config.json")
    assert (entry.name, entry.devicememoryscaling, entry.operatingmode) == ("gpu-1", 2.5, "mig")
    assert entry.filterdevices is not None and entry.filterdevices.index == [1]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    rep = read_device_config_file(path)
    assert rep.config is not None and not rep.warnings and not rep.errors
    assert rep.config.node("gpu-1") is not None


@pytest.mark.parametrize(
    ("text", "suffix", "needle"),
    [
        ("nvidia:\n  deviceSplitCount: many\n", ".yaml", "nvidia.deviceSplitCount"),
        ("nvidia:\n  deviceSplitCount: -1\n", ".yaml", "nvidia.deviceSplitCount"),
        ("nvidia: [1, 2]\n", ".yaml", "nvidia: expected a mapping"),
        ("- a\n", ".yaml", "expected a mapping at the top level"),
        ("nvidia: [", ".yaml", "invalid YAML"),
        ('{"nodeconfig": [', ".json", "invalid JSON"),
        ("kind: ConfigMap\ndata:\n  device-config.yaml: 'nvidia: ['\n", ".yaml",
         "data.device-config.yaml: invalid YAML"),
    ],
    ids=["string-split", "negative-uint", "section-not-mapping", "top-not-mapping", "bad-yaml",
         "bad-json", "configmap-inner-yaml"],
)  # fmt: skip
def test_what_hami_refuses_is_one_line_error(
    tmp_path: Path, text: str, suffix: str, needle: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_device_config(path)
    message = str(info.value)
    assert message.startswith(str(path)) and needle in message and "\n" not in message
