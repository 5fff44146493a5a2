"""Codec for the node inventory annotations the device plugin writes.

``hami.io/node-nvidia-register`` (spec §3.3): a JSON array since HAMi v2.8 (Go ``omitempty``
rules: ``index``/``numa`` vanish when 0, ``health`` when false, ``migProfiles`` when empty) and
the legacy colon form (``UUID,count,devmem,devcore,type,numa,health[,index,mode]:``) that older
plugins and other vendors still write. Both decode; only JSON is encoded.

``hami.io/node-nvidia-score`` (spec §1.2): ``[{"uuid":..., "score":{"<otherUUID>":int}}]``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from hami.api import _jsonwire as jw
from hami.api.annotations import NODE_NVIDIA_REGISTER, NODE_NVIDIA_SCORE
from hami.api.errors import DecodeError
from hami.api.types import DeviceInfo, MigPlacement, MigProfile

_F = NODE_NVIDIA_REGISTER


# --- encode -----------------------------------------------------------------------------------


def _profile_obj(p: MigProfile) -> dict[str, Any]:
    return {
        "name": p.name,
        "memoryMB": p.memory_mb,
        "core": p.core,
        "sliceCount": p.slice_count,
        "placements": [{"start": pl.start, "size": pl.size} for pl in p.placements],
    }


def _device_obj(d: DeviceInfo) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": d.id}
    if d.index:
        obj["index"] = d.index
    obj.update(count=d.count, devmem=d.devmem, devcore=d.devcore, type=d.type)
    if d.numa:
        obj["numa"] = d.numa
    obj["mode"] = d.mode
    if d.mig_profiles:
        obj["migProfiles"] = [_profile_obj(p) for p in d.mig_profiles]
    if d.health:
        obj["health"] = True
    if d.custominfo:
        obj["custominfo"] = {k: _custom_out(v) for k, v in d.custominfo}
    return obj


def _custom_out(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def encode_node_devices(devices: Sequence[DeviceInfo]) -> str:
    """Encode devices as HAMi v2.8+ writes them (JSON array, Go field order and omitempty)."""
    return jw.go_dumps([_device_obj(d) for d in devices])


# --- decode -----------------------------------------------------------------------------------


def _or_empty(raw: Any, empty: Any) -> Any:
    """Go decodes ``null`` and a missing member alike; anything else is type-checked later."""
    return empty if raw is None else raw


def decode_node_devices(value: str, field: str = _F) -> list[DeviceInfo]:
    """Decode a register annotation in either the JSON or the legacy colon form.

    ``field`` names the annotation in errors (every vendor's register annotation uses these
    two forms). Raises :class:`DecodeError` naming the annotation (and the member) on malformed
    input. The devices of the last annotations decoded are remembered (they are immutable):
    the same node's annotation is read again on every node event and every bind's re-check.
    """
    return list(_decode_remembered(value, field))


@functools.lru_cache(maxsize=1024)
def _decode_remembered(value: str, field: str) -> tuple[DeviceInfo, ...]:
    return tuple(_decode(value, field))


def _decode(value: str, field: str) -> list[DeviceInfo]:
    text = value.strip()
    if text.startswith("["):
        return _decode_json(text, field)
    return _decode_legacy(text, field)


_DEVICE_FIELDS = ("id", "index", "count", "devmem", "devcore", "type", "numa", "mode",
                  "migProfiles", "health", "custominfo")  # fmt: skip
_PROFILE_FIELDS = ("name", "memoryMB", "core", "sliceCount", "placements")
_PLACEMENT_FIELDS = ("start", "size")
_SCORE_FIELDS = ("uuid", "score")


def _decode_placement(field: str, raw: Any) -> MigPlacement:
    obj = jw.go_fields(jw.as_object(field, raw), _PLACEMENT_FIELDS)
    return MigPlacement(
        start=jw.get_int(field, obj, "start", bounds=jw.INT32),
        size=jw.get_int(field, obj, "size", bounds=jw.INT32),
    )


def _decode_profile(field: str, raw: Any) -> MigProfile:
    obj = jw.go_fields(jw.as_object(field, raw), _PROFILE_FIELDS)
    placements = jw.as_list(f"{field}.placements", _or_empty(obj.get("placements"), []))
    return MigProfile(
        name=jw.get_str(field, obj, "name"),
        memory_mb=jw.get_int(field, obj, "memoryMB", bounds=jw.INT32),
        core=jw.get_int(field, obj, "core", bounds=jw.INT32),
        slice_count=jw.get_int(field, obj, "sliceCount", bounds=jw.INT32),
        placements=tuple(
            _decode_placement(f"{field}.placements[{i}]", p) for i, p in enumerate(placements)
        ),
    )


def _decode_json_device(field: str, raw: Any) -> DeviceInfo:
    """One device as Go's ``json.Unmarshal`` fills HAMi's ``DeviceInfo``: keys in any case,
    ``null`` or absent is the zero value (``mode`` included: ``""``), integers within the
    Go field's type (``index`` uint, ``count``/``devmem``/``devcore`` int32, ``numa`` int)."""
    obj = jw.go_fields(jw.as_object(field, raw), _DEVICE_FIELDS)
    uuid = jw.get_str(field, obj, "id")
    if not uuid:
        raise DecodeError(f"{field}.id", raw, "device id is empty")
    profiles = jw.as_list(f"{field}.migProfiles", _or_empty(obj.get("migProfiles"), []))
    return DeviceInfo(
        id=uuid,
        index=jw.get_int(field, obj, "index", bounds=jw.UINT64),
        count=jw.get_int(field, obj, "count", bounds=jw.INT32),
        devmem=jw.get_int(field, obj, "devmem", bounds=jw.INT32),
        devcore=jw.get_int(field, obj, "devcore", bounds=jw.INT32),
        type=jw.get_str(field, obj, "type"),
        numa=jw.get_int(field, obj, "numa"),
        mode=jw.get_str(field, obj, "mode"),
        health=jw.get_bool(field, obj, "health"),
        mig_profiles=tuple(
            _decode_profile(f"{field}.migProfiles[{i}]", p) for i, p in enumerate(profiles)
        ),
        custominfo=_decode_custom(f"{field}.custominfo", obj.get("custominfo")),
    )


def _decode_custom(field: str, raw: Any) -> tuple[tuple[str, Any], ...]:
    """Go's ``map[string]any``: numbers become float64; nested values kept as JSON text."""
    if raw is None:
        return ()
    obj = jw.as_object(field, raw)
    out: list[tuple[str, Any]] = []
    for key, value in sorted(obj.items()):
        if isinstance(value, bool) or value is None or isinstance(value, str):
            out.append((key, value))
        elif isinstance(value, int | float):
            out.append((key, float(value)))
        else:
            out.append((key, jw.go_dumps(value)))
    return tuple(out)


def _decode_json(text: str, field: str = _F) -> list[DeviceInfo]:
    items = jw.as_list(field, jw.loads(field, text))
    return [_decode_json_device(f"{field}[{i}]", item) for i, item in enumerate(items)]


def _legacy_int(field: str, raw: str, bounds: tuple[int, int] = jw.INT64) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise DecodeError(field, raw, "expected an integer") from None
    low, high = bounds
    if not low <= value <= high:
        raise DecodeError(field, raw, f"integer outside [{low}, {high}]")
    return value


def _legacy_bool(field: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "t"):
        return True
    if lowered in ("false", "0", "f"):
        return False
    raise DecodeError(field, raw, "expected true or false")


def _decode_legacy_device(field: str, chunk: str) -> DeviceInfo:
    parts = chunk.split(",")
    if len(parts) not in (7, 9):
        raise DecodeError(field, chunk, f"expected 7 or 9 comma-separated fields, got {len(parts)}")
    uuid = parts[0].strip()
    if not uuid:
        raise DecodeError(f"{field}.id", chunk, "device id is empty")
    return DeviceInfo(
        id=uuid,
        count=_legacy_int(f"{field}.count", parts[1], jw.INT32),
        devmem=_legacy_int(f"{field}.devmem", parts[2], jw.INT32),
        devcore=_legacy_int(f"{field}.devcore", parts[3], jw.INT32),
        type=parts[4],
        numa=_legacy_int(f"{field}.numa", parts[5]),
        health=_legacy_bool(f"{field}.health", parts[6]),
        index=_legacy_int(f"{field}.index", parts[7]) if len(parts) == 9 else 0,
        mode=parts[8].strip() if len(parts) == 9 else "hami-core",
    )


def _decode_legacy(text: str, field: str = _F) -> list[DeviceInfo]:
    if ":" not in text:
        raise DecodeError(field, text, "neither a JSON array nor the legacy ':'-separated form")
    chunks = [c for c in text.split(":") if c.strip()]
    return [_decode_legacy_device(f"{field}[{i}]", c) for i, c in enumerate(chunks)]


# --- topology scores --------------------------------------------------------------------------


def encode_node_scores(scores: Mapping[str, Mapping[str, int]]) -> str:
    """Encode the per-GPU topology score matrix (inner keys sorted, as Go sorts map keys)."""
    return jw.go_dumps(
        [{"uuid": uuid, "score": dict(sorted(row.items()))} for uuid, row in scores.items()]
    )


def decode_node_scores(value: str) -> dict[str, dict[str, int]]:
    """Decode ``hami.io/node-nvidia-score`` into ``{uuid: {other_uuid: score}}``."""
    items = jw.as_list(NODE_NVIDIA_SCORE, jw.loads(NODE_NVIDIA_SCORE, value))
    out: dict[str, dict[str, int]] = {}
    for i, item in enumerate(items):
        field = f"{NODE_NVIDIA_SCORE}[{i}]"
        obj = jw.go_fields(jw.as_object(field, item), _SCORE_FIELDS)
        uuid = jw.get_str(field, obj, "uuid")
        row = jw.as_object(f"{field}.score", _or_empty(obj.get("score"), {}))
        out[uuid] = {other: jw.get_int(f"{field}.score", row, other) for other in row}
    return out
