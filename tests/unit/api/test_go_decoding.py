# ruff: noqa: E501  (one table row per line reads best)
"""What HAMi's Go decoders accept, we accept (issue 13 point 5), one row per rule.

Go's ``encoding/json`` keeps the zero value for ``null``, matches keys case-insensitively and
refuses integers that do not fit the field's type; HAMi's pod-annotation decoder skips a device
chunk without a comma. Each row was true of HAMi v2.10 and false of hami before this change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hami.api.annotations import NODE_NVIDIA_REGISTER
from hami.api.errors import DecodeError
from hami.api.noderegister import decode_node_devices, decode_node_scores
from hami.api.poddevices import decode_pod_devices
from hami.api.types import ContainerDevice, DeviceInfo
from hami.device.nvidia.fit import Selection

BASE = '"id":"GPU-a","count":10,"devmem":16384,"devcore":100,"type":"NVIDIA-T4"'


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (f'[{{{BASE},"index":null,"numa":null,"mode":null,"health":null}}]', DeviceInfo("GPU-a", 10, 16384, 100, "NVIDIA-T4", mode="", health=False)),
        (f'[{{{BASE},"index":3,"numa":1,"mode":"mig","health":true}}]', DeviceInfo("GPU-a", 10, 16384, 100, "NVIDIA-T4", index=3, numa=1, mode="mig", health=True)),
        ('[{"ID":"GPU-a","Count":10,"DEVMEM":16384,"DevCore":100,"Type":"NVIDIA-T4","Numa":1,"Mode":"hami-core","Health":true}]', DeviceInfo("GPU-a", 10, 16384, 100, "NVIDIA-T4", numa=1, health=True)),
        (f'[{{{BASE},"Health":false,"health":true}}]', DeviceInfo("GPU-a", 10, 16384, 100, "NVIDIA-T4", mode="", health=True)),
        (f'[{{{BASE}}}]', DeviceInfo("GPU-a", 10, 16384, 100, "NVIDIA-T4", mode="", health=False)),
        (f'[{{{BASE},"devmem":2147483647}}]', DeviceInfo("GPU-a", 10, 2**31 - 1, 100, "NVIDIA-T4", mode="", health=False)),
        ("GPU-a,10,16384,100,NVIDIA-T4,0,true,2,:", DeviceInfo("GPU-a", 10, 16384, 100, "NVIDIA-T4", index=2, mode="", health=True)),
    ],
    ids=["null-is-zero-value", "values-kept", "keys-any-case", "later-key-wins", "missing-mode-empty", "int32-max-ok", "legacy-empty-mode-kept"],
)  # fmt: skip
def test_register_decodes_as_go(value: str, want: DeviceInfo) -> None:
    assert decode_node_devices(value) == [want]


@pytest.mark.parametrize(
    ("value", "member"),
    [
        (f'[{{{BASE},"devmem":2147483648}}]', "devmem"),
        (f'[{{{BASE},"count":-2147483649}}]', "count"),
        (f'[{{{BASE},"index":-1}}]', "index"),
        (f'[{{{BASE},"numa":9223372036854775808}}]', "numa"),
        ("GPU-a,10,4294967296,100,NVIDIA-T4,0,true:", "devmem"),
    ],
    ids=["devmem-beyond-int32", "count-below-int32", "index-negative-uint", "numa-beyond-int64", "legacy-devmem-beyond-int32"],
)  # fmt: skip
def test_register_integers_beyond_go_type_are_errors(value: str, member: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_node_devices(value)
    assert err.value.field == f"{NODE_NVIDIA_REGISTER}[0].{member}"


def test_scores_keys_any_case_and_null_score() -> None:
    assert decode_node_scores('[{"UUID":"GPU-a","Score":{"GPU-b":20,"GPU-c":null}}]') == {
        "GPU-a": {"GPU-b": 20, "GPU-c": 0}
    }


@pytest.mark.parametrize(
    ("requested", "mode", "ok"),
    [("mig", "", True), ("hami-core", "", True), ("mig", "hami-core", False), ("", "mig", True)],
)
def test_modeless_gpu_matches_any_requested_mode(requested: str, mode: str, ok: bool) -> None:
    """HAMi checks ``strings.Contains(requested, d.Mode)``: an empty mode is in every string."""
    obj: dict[str, Any] = {
        "id": "GPU-a",
        "count": 1,
        "devmem": 1,
        "devcore": 100,
        "type": "NVIDIA-T4",
    }
    if mode:
        obj["mode"] = mode
    (dev,) = decode_node_devices(json.dumps([obj]))
    assert Selection(vgpu_mode=requested).type_mode_ok(dev.type.lower(), dev.mode) is ok


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("GPU-a,NVIDIA,1000,10:junk:;", ((ContainerDevice("GPU-a", "NVIDIA", 1000, 10),),)),
        ("junk;GPU-a,NVIDIA,1,2:", ((), (ContainerDevice("GPU-a", "NVIDIA", 1, 2),))),
        ("GPU-a,NVIDIA,2147483647,0:;", ((ContainerDevice("GPU-a", "NVIDIA", 2**31 - 1, 0),),)),
    ],
    ids=["chunk-without-comma-skipped", "block-of-junk-is-empty", "int32-max-ok"],
)  # fmt: skip
def test_pod_devices_decode_as_go(
    value: str, want: tuple[tuple[ContainerDevice, ...], ...]
) -> None:
    assert decode_pod_devices(value) == want


@pytest.mark.parametrize("value", ["GPU-a,NVIDIA,2147483648,0:;", "GPU-a,NVIDIA,0,-2147483649:;"])
def test_pod_devices_integers_beyond_int32_are_errors(value: str) -> None:
    with pytest.raises(DecodeError, match="int32"):
        decode_pod_devices(value)
