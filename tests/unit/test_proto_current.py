"""The committed device-plugin stubs must be exactly what `scripts/gen_proto` makes from api.proto.

Regenerates into a temporary directory with the installed grpcio-tools and compares byte for
byte, so an edit to `api.proto` without regeneration (or a hand edit of generated code) fails.
Also pins a few wire facts of the v1beta1 contract (full method names, field numbers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hami.deviceplugin._proto import api_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = Path("hami/deviceplugin/_proto")
GENERATED = ["api_pb2.py", "api_pb2_grpc.py", "api_pb2.pyi"]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    env = {**os.environ, "PYTHON": sys.executable}  # the interpreter running the tests
    subprocess.run([str(ROOT / "scripts" / "gen_proto"), str(out)], check=True, cwd=ROOT, env=env)
    return out


@pytest.mark.parametrize("name", GENERATED, ids=GENERATED)
def test_committed_stub_is_current(regenerated: Path, name: str) -> None:
    committed = (ROOT / "src" / PROTO_DIR / name).read_bytes()
    fresh = (regenerated / PROTO_DIR / name).read_bytes()
    assert committed == fresh, f"{PROTO_DIR / name} is stale: run scripts/gen_proto"


@pytest.mark.parametrize(
    ("service", "methods"),
    [
        ("Registration", ["Register"]),
        (
            "DevicePlugin",
            [
                "GetDevicePluginOptions",
                "ListAndWatch",
                "GetPreferredAllocation",
                "Allocate",
                "PreStartContainer",
            ],
        ),
    ],
    ids=["registration", "device-plugin"],
)
def test_service_full_names(service: str, methods: list[str]) -> None:
    svc = api_pb2.DESCRIPTOR.services_by_name[service]
    assert svc.full_name == f"v1beta1.{service}"
    assert [m.name for m in svc.methods] == methods


FIELDS = [
    ("DevicePluginOptions", {"pre_start_required": 1, "get_preferred_allocation_available": 2}),
    ("RegisterRequest", {"version": 1, "endpoint": 2, "resource_name": 3, "options": 4}),
    ("ListAndWatchResponse", {"devices": 1}),
    ("TopologyInfo", {"nodes": 1}),
    ("NUMANode", {"ID": 1}),
    ("Device", {"ID": 1, "health": 2, "topology": 3}),
    ("PreStartContainerRequest", {"devices_ids": 1}),
    ("PreferredAllocationRequest", {"container_requests": 1}),
    (
        "ContainerPreferredAllocationRequest",
        {"available_deviceIDs": 1, "must_include_deviceIDs": 2, "allocation_size": 3},
    ),
    ("PreferredAllocationResponse", {"container_responses": 1}),
    ("ContainerPreferredAllocationResponse", {"deviceIDs": 1}),
    ("AllocateRequest", {"container_requests": 1}),
    ("ContainerAllocateRequest", {"devices_ids": 1}),
    ("AllocateResponse", {"container_responses": 1}),
    (
        "ContainerAllocateResponse",
        {"envs": 1, "mounts": 2, "devices": 3, "annotations": 4, "cdi_devices": 5},
    ),
    ("Mount", {"container_path": 1, "host_path": 2, "read_only": 3}),
    ("DeviceSpec", {"container_path": 1, "host_path": 2, "permissions": 3}),
    ("CDIDevice", {"name": 1}),
]


@pytest.mark.parametrize(("message", "fields"), FIELDS, ids=[m for m, _ in FIELDS])
def test_field_numbers(message: str, fields: dict[str, int]) -> None:
    desc = api_pb2.DESCRIPTOR.message_types_by_name[message]
    assert {f.name: f.number for f in desc.fields} == fields


def test_golden_wire_bytes() -> None:
    """A ContainerAllocateRequest with one id encodes as field 1, length-delimited."""
    msg = api_pb2.ContainerAllocateRequest(devices_ids=["GPU-0"])
    assert msg.SerializeToString() == b"\x0a\x05GPU-0"
