"""Resource table of the kube-apiserver stand-in: which kinds exist and where they live.

The stand-in serves only the resources hami touches; each entry states exactly what the real
apiserver states for it (group, version, plural, kind, scope, subresources, supported field
selectors), so paths, list kinds and error messages come out as the real server writes them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_POD_FIELDS = _META_FIELDS | {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
}
_EVENT_FIELDS = _META_FIELDS | {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
}


@dataclass(frozen=True)
class ResourceType:
    """One served resource (a REST collection) and the facts the real server keeps about it.

    Derived names are cached per instance: they are read on every request and every event."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    field_labels: frozenset[str] = _META_FIELDS
    # Top-level fields whose change bumps metadata.generation (empty: no generation kept).
    generation_fields: tuple[str, ...] = ()
    # DELETE answers with the deleted object (pods) instead of a Status.
    returns_deleted_object: bool = False
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    # Key of the resource whose storage this one shares ("" = its own).
    storage: str = ""

    @functools.cached_property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @functools.cached_property
    def key(self) -> str:
        """Unique key of the resource (group/version/plural)."""
        return f"{self.group}/{self.version}/{self.plural}"

    @functools.cached_property
    def storage_key(self) -> str:
        """Key of the table holding these objects (events.k8s.io Events live with core ones)."""
        return self.storage or self.key

    @functools.cached_property
    def group_resource(self) -> str:
        """Qualified name used in Status messages: ``pods``, ``leases.coordination.k8s.io``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @functools.cached_property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        frozenset({"status", "finalize"}),
        field_labels=frozenset({"metadata.name", "status.phase"}),
        short_names=("ns",),
    ),
    ResourceType(
        "",
        "v1",
        "nodes",
        "Node",
        False,
        frozenset({"status"}),
        field_labels=frozenset({"metadata.name", "spec.unschedulable"}),
        short_names=("no",),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        frozenset({"status", "binding"}),
        field_labels=_POD_FIELDS,
        generation_fields=("spec",),
        returns_deleted_object=True,
        short_names=("po",),
    ),
    ResourceType(
        "", "v1", "events", "Event", True, field_labels=_EVENT_FIELDS, short_names=("ev",)
    ),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType(
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        True,
        frozenset({"status"}),
        short_names=("quota",),
    ),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        field_labels=_EVENT_FIELDS,
        short_names=("ev",),
        storage="/v1/events",
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        False,
        generation_fields=("webhooks",),
    ),
)

NAMESPACES = RESOURCES[0]
PODS = RESOURCES[2]
NODES = RESOURCES[1]


def find(group: str, version: str, plural: str) -> ResourceType | None:
    """Return the resource served at ``group/version/plural`` or None."""
    for rt in RESOURCES:
        if (rt.group, rt.version, rt.plural) == (group, version, plural):
            return rt
    return None


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """Return the resource whose objects carry ``apiVersion``/``kind``."""
    for rt in RESOURCES:
        if rt.api_version == api_version and rt.kind == kind:
            return rt
    return None


def groups() -> dict[str, list[str]]:
    """Group name -> served versions (core group is ``""``)."""
    out: dict[str, list[str]] = {}
    for rt in RESOURCES:
        versions = out.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
    return out
