"""Codec for the pod device-allocation annotations (spec §3.4).

``hami.io/vgpu-devices-to-allocate`` and ``hami.io/vgpu-devices-allocated`` hold one block per
container, init containers first, each block terminated by ``;`` even when empty, each device
inside a block written ``UUID,TypeKeyword,usedMemMiB,usedCores`` and terminated by ``:``.
Empty blocks keep the index alignment with the pod's containers, so they are never dropped.
"""

from __future__ import annotations

from hami.api.annotations import DEVICES_TO_ALLOCATE
from hami.api.errors import DecodeError
from hami.api.types import ContainerDevice, ContainerDevices, PodSingleDevice

CONTAINER_SEP = ";"
DEVICE_SEP = ":"
FIELD_SEP = ","


def encode_container_devices(devs: ContainerDevices) -> str:
    """Encode one container's block without its ``;`` terminator."""
    return "".join(
        f"{d.uuid}{FIELD_SEP}{d.type}{FIELD_SEP}{d.usedmem}{FIELD_SEP}{d.usedcores}{DEVICE_SEP}"
        for d in devs
    )


def encode_pod_devices(devs: PodSingleDevice) -> str:
    """Encode all containers' blocks, each terminated by ``;``."""
    return "".join(encode_container_devices(c) + CONTAINER_SEP for c in devs)


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _int_field(field: str, raw: str, what: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise DecodeError(field, raw, f"{what} is not an integer") from None
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise DecodeError(field, raw, f"{what} does not fit an int32")
    return value


def decode_container_devices(block: str, field: str = DEVICES_TO_ALLOCATE) -> ContainerDevices:
    """Decode one container block (``UUID,Type,mem,cores:`` repeated).

    As HAMi's decoder, a chunk without a comma (empty, or stray text) is skipped.
    """
    out: list[ContainerDevice] = []
    for chunk in block.split(DEVICE_SEP):
        if FIELD_SEP not in chunk:
            continue
        parts = chunk.split(FIELD_SEP)
        if len(parts) < 4:
            raise DecodeError(field, chunk, f"device entry needs 4 fields, got {len(parts)}")
        out.append(
            ContainerDevice(
                uuid=parts[0].strip(),
                type=parts[1].strip(),
                usedmem=_int_field(field, parts[2], "usedmem"),
                usedcores=_int_field(field, parts[3], "usedcores"),
            )
        )
    return tuple(out)


def _blocks(value: str) -> list[str]:
    blocks = value.split(CONTAINER_SEP)
    # ``;`` terminates blocks: the piece after the last ``;`` is empty in a well-formed value.
    # A missing final terminator is tolerated (Go's decoder accepts it too).
    if blocks and not blocks[-1].strip():
        blocks.pop()
    return blocks


def decode_pod_devices(value: str, field: str = DEVICES_TO_ALLOCATE) -> PodSingleDevice:
    """Decode a whole annotation into per-container device tuples, empty blocks kept."""
    return tuple(decode_container_devices(b, field) for b in _blocks(value))


def pop_next_container(
    value: str, field: str = DEVICES_TO_ALLOCATE
) -> tuple[ContainerDevices, int, str]:
    """Take the first non-empty block, for the device plugin's Allocate.

    Returns the popped devices, the container index of that block and the new annotation value
    with that block emptied (other blocks untouched, byte for byte). Raises
    :class:`DecodeError` when the value is malformed or has no pending block.
    """
    blocks = _blocks(value)
    for index, block in enumerate(blocks):
        devs = decode_container_devices(block, field)
        if devs:
            blocks[index] = ""
            return devs, index, "".join(b + CONTAINER_SEP for b in blocks)
    raise DecodeError(field, value, "no container is waiting for devices")


def has_pending(value: str, type_keyword: str, field: str = DEVICES_TO_ALLOCATE) -> bool:
    """Whether any block still holds a device of ``type_keyword`` (e.g. ``NVIDIA``)."""
    return any(d.type == type_keyword for c in decode_pod_devices(value, field) for d in c)
