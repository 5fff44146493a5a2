"""Small role-split interfaces a device vendor implements (style rule 2).

HAMi's 13-method ``Devices`` interface is split by concern: the webhook needs only an
:class:`AdmissionMutator`, the engine a :class:`RequestParser` and a :class:`NodeInventory`.
A vendor implements the ones it needs; NVIDIA is the only vendor today.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Protocol

from hami.api.types import ContainerRequest, DeviceInfo


class RequestParser(Protocol):
    """Turns a pod spec into per-container requests for one vendor."""

    @property
    def type_keyword(self) -> str:
        """The vendor keyword used in allocation annotations (``NVIDIA``)."""
        ...

    @property
    def to_allocate_annotation(self) -> str:
        """Pod annotation holding devices still to hand out (device plugin consumes it)."""
        ...

    @property
    def allocated_annotation(self) -> str:
        """Pod annotation holding the full, kept allocation."""
        ...

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        """One entry per container (init first); None where nothing is asked."""
        ...

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        """Whether the pod mentions any resource of this vendor."""
        ...


class AdmissionMutator(Protocol):
    """The vendor's part of the mutating webhook (spec §6 step 3)."""

    def validate_container(self, container: Mapping[str, Any]) -> str | None:
        """A denial message for an invalid container spec, or None. A request value that cannot
        be read (a unit where MiB are meant, out of range) raises
        :class:`~hami.api.errors.DecodeError`, which the webhook answers with a 400 denial."""
        ...

    def mutate_container(self, container: MutableMapping[str, Any]) -> bool:
        """Mutate one container in place; True when it asks for this vendor's devices."""
        ...

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Pod-level changes for a pod found to use this vendor (e.g. runtimeClassName)."""
        ...


class NodeInventory(Protocol):
    """Reads a node's registered devices from its annotations."""

    @property
    def register_annotation(self) -> str:
        """Node annotation written by this vendor's device plugin."""
        ...

    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        """Devices registered on ``node`` ([] when the annotation is absent)."""
        ...
