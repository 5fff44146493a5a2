"""The webhook part of an Iluvatar chip (vendors spec §4.8) and our refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hami.api.errors import DecodeError

from ._support import backend, ctr, golden

_CASES = golden("webhook.json")["cases"]


@pytest.mark.parametrize("case", _CASES, ids=lambda c: c["name"])
def test_golden_mutation(case: dict[str, Any]) -> None:
    b = backend(case["cw"])
    container = copy.deepcopy(case["in"])
    assert b.validate_container(container) is None
    assert b.mutate_container(container) is case["found"]
    assert container == case["out"]


def test_mutation_is_idempotent() -> None:
    b = backend()
    container = ctr("4", name="job")
    b.mutate_container(container)
    once = copy.deepcopy(container)
    b.mutate_container(container)
    assert container == once
    assert container["resources"]["limits"]["iluvatar.ai/MR-V100.vCore"] == "400"


def test_null_env_and_resources_are_handled() -> None:
    container: dict[str, Any] = {"name": "n", "env": None, "resources": {"limits": {
        "iluvatar.ai/MR-V100-vgpu": "2"}, "requests": None}}  # fmt: skip
    assert backend().mutate_container(container)
    assert container["env"] == [{"name": "SOL_CONTINER_NAME", "value": "n"}]


def test_pod_level_mutation_changes_nothing() -> None:
    p: dict[str, Any] = {"spec": {"containers": [ctr("1")]}}
    before = copy.deepcopy(p)
    backend().mutate_pod(p)
    assert p == before


@pytest.mark.parametrize(
    ("container", "contains"),
    [
        (ctr("1", "16Gi", name="t"),
         "container t limits[iluvatar.ai/MR-V100.vMem]: iluvatar.ai/MR-V100.vMem counts units "
         "of 256 MiB, written without a unit: write 64 for 16 GiB"),
        (ctr("1", "-4", name="t"), "must not be negative"),
        (ctr("1", "1.5", name="t"), "must be a whole number"),
        (ctr("1", "8388608", name="t"), "at most 8388607"),
        (ctr("1", None, "-1", name="t"),
         "container t limits[iluvatar.ai/MR-V100.vCore]: iluvatar.ai/MR-V100.vCore must not be "
         "negative"),
        (ctr("1", "abc", name="t"), "not a Kubernetes quantity"),
        (ctr("1", "4", section="requests", name="t"), None),
    ],
)  # fmt: skip
def test_validation(container: dict[str, Any], contains: str | None) -> None:
    b = backend()
    if contains is None:
        assert b.validate_container(container) is None
        return
    with pytest.raises(DecodeError) as err:
        b.validate_container(container)
    text = str(err.value)
    assert "\n" not in text
    assert contains in text


def test_validation_only_for_containers_asking_the_chip() -> None:
    b = backend()
    assert b.validate_container(ctr(None, "16Gi")) is None
    assert b.validate_container(ctr("1", "16Gi", cw="MR-V50")) is None
    assert b.validate_container({"name": "plain"}) is None


def test_decimal_suffix_accepted() -> None:
    """The apiserver stores ``1000`` as ``1k``; that is still 1000 units."""
    assert backend().validate_container(ctr("1", "1k")) is None


def test_multi_card_vcore_request_follows_the_limit() -> None:
    """The apiserver copies a written limit into ``requests`` before admission and refuses an
    extended resource whose request differs from its limit (422, seen on kube-apiserver
    1.36): the overwritten vCore is written to both (HAMi writes the limit only)."""
    b = backend()
    vcore = "iluvatar.ai/MR-V100.vCore"
    container = ctr("2", vcore="50", name="job")
    container["resources"]["requests"] = {"iluvatar.ai/MR-V100-vgpu": "2", vcore: "50"}
    assert b.mutate_container(container) is True
    assert container["resources"]["limits"][vcore] == "200"
    assert container["resources"]["requests"] == {"iluvatar.ai/MR-V100-vgpu": "2", vcore: "200"}
    # no request written: none added (the apiserver defaults it from the limit)
    bare = ctr("2", name="job")
    b.mutate_container(bare)
    assert "requests" not in bare["resources"]
