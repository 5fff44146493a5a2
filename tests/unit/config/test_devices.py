"""Device-config model: chart defaults, HAMi's camelCase file, ConfigMap manifests, node
overrides, and clear errors (file and field named) for unknown keys and bad versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hami.config.devices import (
    ConfigError,
    DeviceConfig,
    NvidiaConfig,
    load_device_config,
    parse_device_config,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "device-config.yaml"


def test_defaults_match_chart() -> None:
    cfg = load_device_config(None)
    n = cfg.nvidia
    assert cfg.version == "v1"
    assert n.resource_names == (
        "nvidia.com/gpu",
        "nvidia.com/gpumem",
        "nvidia.com/gpumem-percentage",
        "nvidia.com/gpucores",
        "nvidia.com/priority",
    )
    assert (n.device_split_count, n.device_memory_scaling, n.device_core_scaling) == (10, 1, 1)
    assert (n.default_memory, n.default_cores, n.default_gpu_num, n.memory_factor) == (0, 0, 1, 1)
    assert (n.overwrite_env, n.gpu_core_policy, n.runtime_class_name) == (False, "default", "")
    assert (n.lib_cuda_log_level, n.disable_core_limit, n.mig_strategy) == (1, False, "none")
    assert cfg.nodeconfig == []


def test_hami_chart_file_loads() -> None:
    cfg = load_device_config(FIXTURE)
    assert cfg.nvidia.device_split_count == 10
    assert len(cfg.nvidia.mig_profile_allowlist) == 1
    assert cfg.other_vendors == {}
    assert cfg.cambricon.resource_count_name == "cambricon.com/vmlu"
    assert cfg.hygon.resource_memory_name == "hygon.com/dcumem"


def test_camel_and_snake_keys(tmp_path: Path) -> None:
    path = tmp_path / "dc.yaml"
    path.write_text(
        "version: v1\nnvidia:\n  resourceCountName: example.com/vgpu\n  deviceSplitCount: 4\n"
        "  memory_factor: 1024\n  disablecorelimit: true\n  gpuCorePolicy: force\n"
    )
    n = load_device_config(path).nvidia
    assert n.resource_count_name == "example.com/vgpu"
    assert (n.device_split_count, n.memory_factor) == (4, 1024)
    assert n.disable_core_limit is True
    assert n.gpu_core_policy == "force"


def test_whole_configmap_manifest(tmp_path: Path) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "hami-scheduler-device"},
        "data": {"device-config.yaml": "nvidia:\n  defaultMemory: 2048\n"},
    }
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert load_device_config(path).nvidia.default_memory == 2048


def test_node_config_entries() -> None:
    cfg = parse_device_config(
        {
            "nodeconfig": [
                {
                    "name": "gpu-1",
                    "operatingmode": "mig",
                    "devicesplitcount": 4,
                    "filterdevices": {"uuid": ["GPU-x"], "index": [3]},
                }
            ]
        }
    )
    node = cfg.node("gpu-1")
    assert node is not None
    assert node.operatingmode == "mig"
    assert node.filterdevices is not None
    assert node.filterdevices.index == [3]
    assert cfg.node("gpu-2") is None


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_device_config(path) == DeviceConfig()


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"nvidia": {"deviceSplitCont": 3}}, "nvidia.deviceSplitCont"),
        ({"nvidai": {}}, "nvidai"),
        ({"version": "v2"}, "version"),
        ({"nvidia": {"deviceSplitCount": 0}}, "nvidia.deviceSplitCount"),
        ({"nvidia": {"deviceSplitCount": "many"}}, "nvidia.deviceSplitCount"),
        ({"nvidia": {"gpuCorePolicy": "turbo"}}, "nvidia.gpuCorePolicy"),
        ({"nvidia": {"memoryFactor": 0}}, "nvidia.memoryFactor"),
        ({"nodeconfig": [{"name": "n", "bogus": 1}]}, "nodeconfig.0.bogus"),
        ({"nodeconfig": [{"operatingmode": "mig"}]}, "nodeconfig.0.name"),
        (["nvidia"], "mapping"),
    ],
    ids=["typo-key", "typo-section", "bad-version", "zero-split", "string-split",
         "bad-policy", "zero-factor", "node-unknown-key", "node-missing-name", "not-mapping"],
)  # fmt: skip
def test_strict_errors_name_file_and_field(tmp_path: Path, doc: Any, needle: str) -> None:
    """``--strict-config`` keeps the old refusal (the lenient reading is in test_lenient.py)."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as info:
        load_device_config(path, strict=True)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("nvidia: [", "invalid YAML"), (None, "cannot read")],
    ids=["bad-yaml", "missing-file"],
)
def test_unreadable_files(tmp_path: Path, text: str | None, needle: str) -> None:
    path = tmp_path / "x.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_device_config(path)


def test_configmap_without_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump({"kind": "ConfigMap", "data": {"other": "x"}}))
    with pytest.raises(ConfigError, match=r"device-config\.yaml"):
        load_device_config(path)


def test_models_are_frozen() -> None:
    with pytest.raises(ValueError):
        NvidiaConfig.model_validate({}).device_split_count = 3
