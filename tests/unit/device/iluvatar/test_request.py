"""Request derivation for one Iluvatar chip (vendors spec §4.2, goldens §15)."""

from __future__ import annotations

import pytest

from hami.api.errors import DecodeError
from hami.api.types import ContainerRequest

from ._support import backend, ctr, pod


def test_hami_golden_count_memory_cores() -> None:
    """§15: ``MR-V100-vgpu 1, .vMem 1000, .vCore 100`` => Memreq 256000, cores 100."""
    both = ctr(1, "1000", "100")
    both["resources"]["requests"] = dict(both["resources"]["limits"])
    (req,) = backend().container_requests(pod(both))
    assert req == ContainerRequest(
        nums=1, type="MR-V100", memreq=256000, mem_percentage_req=0, coresreq=100
    )


def test_hami_golden_count_only() -> None:
    """§15: only ``-vgpu 1`` => ``{0, pct 100, cores 0}``."""
    (req,) = backend().container_requests(pod(ctr("1")))
    assert req == ContainerRequest(
        nums=1, type="MR-V100", memreq=0, mem_percentage_req=100, coresreq=0
    )


def test_no_count_no_request_and_requests_section_counts() -> None:
    b = backend()
    assert b.container_requests(pod(ctr(None, 16, 50))) == [None]
    (req,) = b.container_requests(pod(ctr(2, 4, section="requests")))
    assert req is not None
    assert (req.nums, req.memreq, req.mem_percentage_req) == (2, 1024, 0)


def test_limits_win_over_requests() -> None:
    c = ctr(1, 8)
    c["resources"]["requests"] = {"iluvatar.ai/MR-V100.vMem": "1"}
    (req,) = backend().container_requests(pod(c))
    assert req is not None
    assert req.memreq == 8 * 256


def test_init_containers_first_and_other_chips_ignored() -> None:
    b = backend("BI-V150")
    p = pod(ctr(1, name="v100"), ctr(1, 2, name="v150", cw="BI-V150"), init=(ctr(1, cw="BI-V150"),))
    reqs = b.container_requests(p)
    assert [r.memreq if r else None for r in reqs] == [0, None, 512]
    assert all(r.type == "BI-V150" for r in reqs if r)


@pytest.mark.parametrize(
    ("vgpu", "vmem", "vcore"),
    [
        ("0", None, None),  # count 0: no request
        ("2147483648", None, None),  # count beyond int32
        ("1", "16Gi", None),  # HAMi's test: x256 overflows int32, request dropped
        ("1", "8388608", None),  # first unit count whose MiB exceed int32
        ("1", "-1", None),
        ("1", None, "-5"),
    ],
)
def test_values_hami_drops(vgpu: str, vmem: str | None, vcore: str | None) -> None:
    assert backend().container_requests(pod(ctr(vgpu, vmem, vcore))) == [None]


def test_largest_memory_kept() -> None:
    (req,) = backend().container_requests(pod(ctr("1", "8388607")))
    assert req is not None
    assert req.memreq == 8388607 * 256 <= 2**31 - 1


def test_cores_above_100_are_kept_for_the_fit_to_cap() -> None:
    (req,) = backend().container_requests(pod(ctr("2", None, "200")))
    assert req is not None
    assert req.coresreq == 200


def test_garbage_quantity_is_a_one_line_decode_error() -> None:
    with pytest.raises(DecodeError) as err:
        backend().container_requests(pod(ctr("1", "lots", name="train")))
    text = str(err.value)
    assert "\n" not in text
    assert "pod default/p container train limits[iluvatar.ai/MR-V100.vMem]" in text


def test_pod_has_managed_resources() -> None:
    b = backend()
    assert b.pod_has_managed_resources(pod(ctr(None, None, "10")))
    assert not b.pod_has_managed_resources(pod(ctr("1", cw="MR-V50")))
    assert not b.pod_has_managed_resources(pod({"name": "x"}))
