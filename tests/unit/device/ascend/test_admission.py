"""Webhook part of every model (vendors spec §5.8): memory rounded to templates, 910C module
counts, ``-core`` only in hami-core mode, env with ``overwriteEnv``, ``runtimeClassName``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hami.api.errors import DecodeError
from hami.config.devices import DeviceConfig, parse_device_config
from hami.device.ascend import AscendBackend, backends

from ._npu import MODELS, backend, configured, container

HC = {"huawei.com/vnpu-mode": "hami-core"}


def admit(
    b: AscendBackend, ctr: dict[str, Any], annotations: dict[str, str] | None = None
) -> tuple[str | None, bool]:
    """The webhook's order: validate, then (when valid) mutate."""
    problem = b.validate_container(ctr, annotations)
    if problem:
        return problem, True
    return None, b.mutate_container(ctr, annotations)


def mem_of(ctr: dict[str, Any], cw: str) -> tuple[str, str]:
    res = ctr["resources"]
    key = f"huawei.com/{cw}-memory"
    return res["limits"][key], res["requests"][key]


# (model, memory asked in limits, MiB written to limits and requests, or None = refused)
# fmt: off
ROUNDING: list[tuple[str, int, int | None]] = [
    ("Ascend910A", 1, 2184), ("Ascend910A", 2184, 2184), ("Ascend910A", 2185, 4369),
    ("Ascend910A", 8000, 8738), ("Ascend910A", 17476, 17476), ("Ascend910A", 17477, 32768),
    ("Ascend910A", 32768, 32768), ("Ascend910A", 32769, None),
    ("Ascend910B2", 8192, 8192), ("Ascend910B2", 8193, 16384), ("Ascend910B2", 32768, 32768),
    ("Ascend910B2", 32769, 65536), ("Ascend910B2", 65536, 65536), ("Ascend910B2", 65537, None),
    ("Ascend910B3", 16384, 16384), ("Ascend910B3", 20000, 32768), ("Ascend910B3", 40000, 65536),
    ("Ascend910B3", 70000, None),
    ("Ascend910B4-1", 100, 16384), ("Ascend910B4-1", 16385, 32768), ("Ascend910B4-1", 65536, 65536),
    ("Ascend910B4-1", 65537, None),
    ("Ascend910B4", 8192, 8192), ("Ascend910B4", 8193, 16384), ("Ascend910B4", 16385, 32768),
    ("Ascend910B4", 32769, None),
    ("Ascend310P", 3072, 3072), ("Ascend310P", 6145, 12288), ("Ascend310P", 13000, 21527),
    ("Ascend310P", 21527, 21527), ("Ascend310P", 24576, 21527), ("Ascend310P", 24577, None),
    ("Ascend910C", 16384, 16384), ("Ascend910C", 20000, 32768), ("Ascend910C", 65536, 65536),
    ("Ascend910C", 65537, None),
    ("Ascend910B3", 17179869184, None),  # 16Gi: bytes, not MiB
    # as HAMi: the smallest template holds 0 and below
    ("Ascend910B3", 0, 16384), ("Ascend910B3", -5, 16384),
]
# fmt: on


@pytest.mark.parametrize(("cw", "asked", "want"), ROUNDING)
def test_template_mode_rounds_memory(cw: str, asked: int, want: int | None) -> None:
    b = backend(cw)
    ctr = container(cw, count=1, mem=asked)
    problem, found = admit(b, ctr)
    assert found
    if want is None:
        assert problem == f"container c: huawei.com/{cw}-memory {asked} is invalid"
        assert ctr == container(cw, count=1, mem=asked)  # untouched
    else:
        assert problem is None
        assert mem_of(ctr, cw) == (str(want), str(want))


@pytest.mark.parametrize("cw", MODELS)
def test_absent_memory_is_the_whole_card(cw: str) -> None:
    b = backend(cw)
    ctr = container(cw, count=2)
    assert admit(b, ctr) == (None, True)
    whole = str(b.cfg.memory_allocatable)
    assert mem_of(ctr, cw) == (whole, whole)
    assert ctr["resources"]["limits"][f"huawei.com/{cw}"] == "2"


@pytest.mark.parametrize("cw", MODELS)
def test_multiple_devices_need_whole_cards(cw: str) -> None:
    b = backend(cw)
    small = b.cfg.sorted_templates[0].memory
    assert admit(b, container(cw, count=2, mem=small)) == (
        "container c: vNPU not supported for multiple devices",
        True,
    )
    whole = container(cw, count=2, mem=b.cfg.memory_capacity)
    assert admit(b, whole) == (None, True)
    assert mem_of(whole, cw)[0] == str(b.cfg.memory_allocatable)


@pytest.mark.parametrize("cw", MODELS)
def test_core_only_in_hami_core_mode(cw: str) -> None:
    b = backend(cw)
    refused = f"container c: huawei.com/{cw}-core is only supported in hami-core (soft split) mode"
    assert admit(b, container(cw, count=2, core=10)) == (refused, True)
    assert admit(b, container(cw, count=2, core=10), {"huawei.com/vnpu-mode": "template"}) == (
        refused,
        True,
    )
    assert admit(b, container(cw, count=2, core=0)) == (None, True)
    ok = container(cw, count=1, mem=15360, core=10)
    assert admit(b, ok, HC) == (None, True)
    assert ok["resources"]["limits"][f"huawei.com/{cw}-core"] == "10"


def test_core_in_requests_only_is_refused_too() -> None:
    ctr = container("Ascend910B3", count=1)
    ctr["resources"]["requests"] = {"huawei.com/Ascend910B3-core": "5"}
    assert backend("Ascend910B3").validate_container(ctr) is not None


def test_hami_core_keeps_memory_as_written() -> None:
    b = backend("Ascend910B3")
    ctr = container("Ascend910B3", count=1, mem=15360, core=20, requests=True)
    assert admit(b, ctr, HC) == (None, True)
    assert mem_of(ctr, "Ascend910B3") == ("15360", "15360")
    beyond = container("Ascend910B3", count=1, mem=70000)
    assert admit(b, beyond, HC) == (None, True)  # no template check in hami-core mode
    assert mem_of(beyond, "Ascend910B3") == ("70000", "70000")


@pytest.mark.parametrize("asked", [-1, 2**31, 17179869184])
def test_hami_core_memory_the_request_would_drop_is_refused(asked: int) -> None:
    problem, _ = admit(backend("Ascend910B3"), container("Ascend910B3", count=1, mem=asked), HC)
    assert problem == f"container c: huawei.com/Ascend910B3-memory {asked} is invalid"


def test_hami_core_multiple_devices_need_whole_cards_too() -> None:
    b = backend("Ascend910B3")
    problem, _ = admit(b, container("Ascend910B3", count=2, mem=15360), HC)
    assert problem == "container c: vNPU not supported for multiple devices"
    assert admit(b, container("Ascend910B3", count=2), HC) == (None, True)


# --- 910C modules ---------------------------------------------------------------------------


def test_golden_910c_webhook_1_becomes_2() -> None:
    """HAMi Test_MutateAdmission910C: 1 => 2 in limits and requests."""
    ctr = container("Ascend910C", count=1, requests=True)
    assert admit(backend("Ascend910C"), ctr) == (None, True)
    assert ctr["resources"]["limits"]["huawei.com/Ascend910C"] == "2"
    assert ctr["resources"]["requests"]["huawei.com/Ascend910C"] == "2"


def test_golden_910c_webhook_3_is_refused() -> None:
    ctr = container("Ascend910C", count=3, requests=True)
    assert admit(backend("Ascend910C"), ctr) == (
        "container c: Ascend910C device request must be 1 or 2*n, got 3",
        True,
    )
    assert ctr["resources"]["limits"]["huawei.com/Ascend910C"] == "3"


def test_910c_even_counts_stay() -> None:
    ctr = container("Ascend910C", count=4, requests=True)
    assert admit(backend("Ascend910C"), ctr) == (None, True)
    assert ctr["resources"]["limits"]["huawei.com/Ascend910C"] == "4"


def test_910c_count_written_to_requests_only_when_there() -> None:
    ctr = container("Ascend910C", count=1)
    admit(backend("Ascend910C"), ctr)
    assert "huawei.com/Ascend910C" not in ctr["resources"]["requests"]


def test_910c_one_with_a_template_is_a_module_of_templates() -> None:
    """The multi-device check reads the count as written (1), as HAMi."""
    ctr = container("Ascend910C", count=1, mem=20000)
    assert admit(backend("Ascend910C"), ctr) == (None, True)
    assert ctr["resources"]["limits"]["huawei.com/Ascend910C"] == "2"
    assert mem_of(ctr, "Ascend910C") == ("32768", "32768")


def test_910c_without_super_pod_keeps_any_count() -> None:
    b = configured("Ascend910C", superPod=False)
    for n in (1, 3):
        ctr = container("Ascend910C", count=n)
        assert admit(b, ctr) == (None, True)
        assert ctr["resources"]["limits"]["huawei.com/Ascend910C"] == str(n)


@pytest.mark.parametrize("cw", [m for m in MODELS if m != "Ascend910C"])
def test_other_models_keep_odd_counts(cw: str) -> None:
    ctr = container(cw, count=3)
    assert admit(backend(cw), ctr) == (None, True)
    assert ctr["resources"]["limits"][f"huawei.com/{cw}"] == "3"


# --- containers that do not ask, env, runtimeClassName --------------------------------------


def test_count_only_in_requests_does_not_ask() -> None:
    ctr = {"name": "c", "resources": {"requests": {"huawei.com/Ascend910B3": "1"}}}
    before = copy.deepcopy(ctr)
    assert admit(backend("Ascend910B3"), ctr) == (None, False)
    assert ctr == before


def test_overwrite_env_on_containers_that_do_not_ask() -> None:
    b = configured("Ascend910B3", overwriteEnv=True)
    plain: dict[str, Any] = {"name": "c", "env": [{"name": "A", "value": "1"}]}
    assert b.mutate_container(plain) is False
    assert plain["env"] == [
        {"name": "A", "value": "1"},
        {"name": "ASCEND_VISIBLE_DEVICES", "value": ""},
    ]
    asking = container("Ascend910B3", count=1)
    assert b.mutate_container(asking) is True
    assert "env" not in asking
    off: dict[str, Any] = {"name": "c"}
    assert backend("Ascend910B3").mutate_container(off) is False
    assert off == {"name": "c"}


def test_overwrite_env_once_per_model_as_hami() -> None:
    entries = [
        m.model_dump(by_alias=True) | {"overwriteEnv": True} for m in DeviceConfig().vnpus.configs
    ]
    every = backends(parse_device_config({"vnpus": {"configs": entries}}))
    plain: dict[str, Any] = {"name": "c"}
    for b in every:
        b.mutate_container(plain)
    assert plain["env"] == [{"name": "ASCEND_VISIBLE_DEVICES", "value": ""}] * len(MODELS)


def pod(*containers: dict[str, Any], runtime: Any = "absent") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if runtime != "absent":
        spec["runtimeClassName"] = runtime
    return {"metadata": {"name": "p"}, "spec": spec}


def test_runtime_class_set_when_configured_unset_and_asked() -> None:
    b = configured("Ascend910B3", runtimeClassName="ascend")
    for unset in ("absent", None):
        p = pod({"name": "x"}, container("Ascend910B3", count=1), runtime=unset)
        b.mutate_pod(p)
        assert p["spec"]["runtimeClassName"] == "ascend"


@pytest.mark.parametrize(
    ("p", "want"),
    [
        (pod(container("Ascend910B3", count=1), runtime="kata"), "kata"),
        (pod(container("Ascend910B3", count=1), runtime=""), ""),
        (pod(container("Ascend910A", count=1)), None),  # another model's pod
        (pod({"name": "c", "resources": {"requests": {"huawei.com/Ascend910B3": "1"}}}), None),
    ],
)
def test_runtime_class_left_alone(p: dict[str, Any], want: str | None) -> None:
    configured("Ascend910B3", runtimeClassName="ascend").mutate_pod(p)
    assert p["spec"].get("runtimeClassName") == want


def test_runtime_class_in_init_container_counts() -> None:
    p = pod({"name": "c"})
    p["spec"]["initContainers"] = [container("Ascend910B3", count=1)]
    configured("Ascend910B3", runtimeClassName="ascend").mutate_pod(p)
    assert p["spec"]["runtimeClassName"] == "ascend"


def test_no_runtime_class_configured() -> None:
    p = pod(container("Ascend910B3", count=1))
    backend("Ascend910B3").mutate_pod(p)
    assert "runtimeClassName" not in p["spec"]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("res", "value"), [("count", "1.5"), ("mem", "500m"), ("core", "0.5"), ("mem", "many")]
)
def test_unreadable_value_is_a_one_line_decode_error(res: str, value: str) -> None:
    values: dict[str, Any] = {"count": 1, res: value}
    ctr = container("Ascend910B3", name="w", **values)
    with pytest.raises(DecodeError) as exc:
        backend("Ascend910B3").validate_container(ctr)
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("container w limits[huawei.com/Ascend910B3")


def test_validate_does_not_mutate() -> None:
    ctr = container("Ascend910C", count=1, mem=20000, requests=True)
    before = copy.deepcopy(ctr)
    assert backend("Ascend910C").validate_container(ctr) is None
    assert ctr == before


def test_a_refused_container_is_left_as_is_by_mutate() -> None:
    ctr = container("Ascend910C", count=3)
    before = copy.deepcopy(ctr)
    assert backend("Ascend910C").mutate_container(ctr) is True
    assert ctr == before
