"""Shape check of the parts of a Pod that hami reads, before anything reads them.

The apiserver only ever hands us Pods that decoded into Go's ``corev1.Pod``, but people type
pods by hand (``hami simulate``, a test harness, a broken proxy): an unquoted
``nvidia.com/numa-bind: true``, a number for ``nvidia.com/use-gputype``, ``annotations: [x]``,
``containers: "abc"``. :func:`check_pod_shape` names the first such member in one line, so the
webhook can deny and the extender answer an error instead of failing deep inside with a
``TypeError``. It only checks types (what Go's decoder would refuse), never values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hami.api.errors import DecodeError

_META_STRINGS = ("name", "namespace", "generateName", "uid")
_SPEC_STRINGS = ("schedulerName", "nodeName", "runtimeClassName")


def _shown(value: Any) -> str:
    """The value as it would be written in JSON (``true``, not ``True``)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _bad(field: str, value: Any, what: str, hint: str = "") -> DecodeError:
    return DecodeError(field, _shown(value), f"expected {what}{hint}")


def _object(field: str, value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object; ``{}`` for absent/null; else an error."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(field, value, "an object")
    return value


def _list(field: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(field, value, "a list")
    return value


def _string(field: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise _bad(field, value, "a string")


def _string_map(field: str, value: Any) -> None:
    for key, item in _object(field, value).items():
        if not isinstance(item, str):
            raise _bad(f"{field}[{json.dumps(key)}]", item, "a string",
                       " (quote the value in YAML)")  # fmt: skip


def _quantity_map(field: str, value: Any) -> None:
    for key, item in _object(field, value).items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _bad(f"{field}[{json.dumps(key)}]", item, 'a quantity such as "1" or 3000')


def _container(field: str, value: Any) -> None:
    ctr = _object(field, value)
    _string(f"{field}.name", ctr.get("name"))
    resources = _object(f"{field}.resources", ctr.get("resources"))
    for section in ("limits", "requests"):
        _quantity_map(f"{field}.resources.{section}", resources.get(section))
    for i, item in enumerate(_list(f"{field}.env", ctr.get("env"))):
        _string(f"{field}.env[{i}].name", _object(f"{field}.env[{i}]", item).get("name"))
    security = _object(f"{field}.securityContext", ctr.get("securityContext"))
    privileged = security.get("privileged")
    if privileged is not None and not isinstance(privileged, bool):
        raise _bad(f"{field}.securityContext.privileged", privileged, "true or false")


def pod_ref(pod: Any) -> str:
    """``namespace/name`` (or generateName) of a pod, for messages; never raises."""
    meta = pod.get("metadata") if isinstance(pod, Mapping) else None
    if not isinstance(meta, Mapping):
        meta = {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    return f"{meta.get('namespace') or 'default'}/{name}"


def pod_shape_problem(pod: Any, prefix: str = "") -> str | None:
    """``"pod ns/name: <prefix><member>: expected ..."`` for a malformed pod, else None."""
    try:
        check_pod_shape(pod, prefix)
    except DecodeError as exc:
        return f"pod {pod_ref(pod)}: {exc}"
    return None


def check_pod_shape(pod: Any, prefix: str = "") -> None:
    """Raise :class:`DecodeError` naming the first member of ``pod`` with the wrong JSON type.

    Checked: ``metadata`` (name, namespace, generateName, uid, labels, annotations), ``spec``
    (schedulerName, nodeName, runtimeClassName, containers, initContainers) and, per container,
    name, ``resources.limits``/``requests``, ``env`` names and ``securityContext.privileged``.
    Absent or ``null`` members are fine (Go leaves them at the zero value). Member names in
    the error start with ``prefix`` (``"Pod."`` inside ``ExtenderArgs``).
    """
    if not isinstance(pod, Mapping):
        raise _bad(prefix.rstrip(".") or "pod", pod, "an object")
    meta = _object(f"{prefix}metadata", pod.get("metadata"))
    for key in _META_STRINGS:
        _string(f"{prefix}metadata.{key}", meta.get(key))
    _string_map(f"{prefix}metadata.labels", meta.get("labels"))
    _string_map(f"{prefix}metadata.annotations", meta.get("annotations"))
    spec = _object(f"{prefix}spec", pod.get("spec"))
    for key in _SPEC_STRINGS:
        _string(f"{prefix}spec.{key}", spec.get(key))
    for section in ("initContainers", "containers"):
        for i, ctr in enumerate(_list(f"{prefix}spec.{section}", spec.get(section))):
            _container(f"{prefix}spec.{section}[{i}]", ctr)
