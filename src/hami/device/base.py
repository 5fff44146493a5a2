"""The device interface: what a vendor backend decides, split by role (style rule 2).

HAMi's 13-method ``Devices`` interface is split by concern, and every consumer takes only the
role it needs: the webhook an :class:`AdmissionMutator`, the engine a :class:`RequestParser`, a
:class:`NodeInventory` and a :class:`DeviceFitter`, the extender an :class:`AllocationWriter` and
a :class:`NodeLockSpec`, registration a :class:`HealthCheck`. A vendor backend
(``hami.device.<vendor>``) implements all of them as one object satisfying
:class:`DeviceBackend`; :mod:`hami.device.registry` is the only module that names vendors.

One backend per **common word** (``cw``: ``NVIDIA``, ``MLU``, ``DCU``, ``Ascend910B3``,
``MR-V100``, ...). The cw is the request ``type``, the key of a pod's devices in
``FilterOutcome.devices`` and in :func:`pod_charges`, and the registry key.

Plain data shared by the engine and the backends lives here too: :class:`DeviceUsage` (one
device plus what is reserved on it), :class:`FitResult` (one container's fit), :class:`QuotaRoom`
and the wire-visible reason names of HAMi's ``pkg/device/common``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from hami.api.types import (
    PERCENTAGE_UNSET,
    ContainerDevice,
    ContainerRequest,
    DeviceInfo,
    MigProfile,
    PodSingleDevice,
)

# --- reasons (HAMi ``pkg/device/common``): wire-visible in failedNodes messages --------------
CARD_TYPE_MISMATCH = "CardTypeMismatch"
CARD_UUID_MISMATCH = "CardUuidMismatch"
CARD_TIME_SLICING_EXHAUSTED = "CardTimeSlicingExhausted"
CARD_COMPUTE_UNITS_EXHAUSTED = "CardComputeUnitsExhausted"
CARD_INSUFFICIENT_MEMORY = "CardInsufficientMemory"
CARD_INSUFFICIENT_CORE = "CardInsufficientCore"
CARD_NOT_HEALTH = "CardNotHealth"
CARD_CORDONED = "CardCordoned"
NUMA_NOT_FIT = "NumaNotFit"
EXCLUSIVE_CONFLICT = "ExclusiveDeviceAllocateConflict"
CARD_MIG_INFEASIBLE = "CardMigTopologyInfeasible"
NODE_INSUFFICIENT_DEVICE = "NodeInsufficientDevice"
ALLOCATED_INSUFFICIENT = "AllocatedCardsInsufficientRequest"
RESOURCE_QUOTA_NOT_FIT = "ResourceQuotaNotFit"
MODE_NOT_FIT = "ModeNotFit"

SHARED_LOCK = "hami.io/mutex.lock"
"""The node lock every vendor shares except Cambricon (``cambricon.com/dsmlu.lock``)."""

MIG_MODE = "mig"
"""Device ``mode`` of a partitioned device (NVIDIA dynamic MIG): its fit grants partitions
(:class:`MigPick`, recorded in :attr:`DeviceUsage.mig_used`), and the engine neither pre-checks
the device count (``NodeInsufficientDevice``) of a node holding one nor prunes it by summary."""


@dataclass(slots=True)
class DeviceUsage:
    """One physical device plus what is currently reserved on it (HAMi ``DeviceUsage``)."""

    id: str
    index: int
    type: str
    numa: int
    mode: str
    health: bool
    count: int
    totalmem: int
    totalcore: int
    used: int = 0
    usedmem: int = 0
    usedcores: int = 0
    mig_profiles: tuple[MigProfile, ...] = ()
    mig_used: list[tuple[int, int]] = field(default_factory=list)
    """Occupied MIG placements ``(start, size)``."""
    custominfo: tuple[tuple[str, Any], ...] = ()
    """Vendor extras from the register annotation (see :class:`DeviceInfo`)."""

    @classmethod
    def from_info(cls, info: DeviceInfo) -> DeviceUsage:
        return cls(
            id=info.id,
            index=info.index,
            type=info.type,
            numa=info.numa,
            mode=info.mode,
            health=info.health,
            count=info.count,
            totalmem=info.devmem,
            totalcore=info.devcore,
            mig_profiles=info.mig_profiles,
            custominfo=info.custominfo,
        )

    def copy(self) -> DeviceUsage:
        return DeviceUsage(
            self.id, self.index, self.type, self.numa, self.mode, self.health, self.count,
            self.totalmem, self.totalcore, self.used, self.usedmem, self.usedcores,
            self.mig_profiles, list(self.mig_used), self.custominfo,
        )  # fmt: skip

    def custom(self, key: str) -> Any:
        """One ``custominfo`` value, or None when absent."""
        return next((v for k, v in self.custominfo if k == key), None)


class QuotaRoom:
    """Remaining namespace quota (MiB, cores) while one pod is being fitted; None = unlimited."""

    __slots__ = ("cores", "mem")

    def __init__(self, mem: int | None, cores: int | None) -> None:
        self.mem = mem
        self.cores = cores

    def fits(self, mem: int, cores: int) -> bool:
        return (self.mem is None or mem <= self.mem) and (self.cores is None or cores <= self.cores)

    def take(self, mem: int, cores: int) -> None:
        if self.mem is not None:
            self.mem -= mem
        if self.cores is not None:
            self.cores -= cores


@dataclass(frozen=True, slots=True)
class MigPick:
    """A partition (NVIDIA MIG profile and placement) chosen for one device of one container."""

    uuid: str
    profile: str
    start: int
    size: int


@dataclass(slots=True)
class FitResult:
    """Outcome of fitting one container: devices on success, otherwise per-reason skip counts.

    ``denominator`` overrides the reason text's ``n/<total>`` (HAMi's 910C pairing counts over
    the request, not over the devices handed in); None = number of devices handed to the fit.
    """

    devices: tuple[ContainerDevice, ...] | None
    reasons: Counter[str] = field(default_factory=Counter)
    mig: tuple[MigPick | None, ...] = ()
    denominator: int | None = None


Chooser = Callable[[list[DeviceUsage], int], list[DeviceUsage]]
"""Picks ``n`` devices out of all fitting ones (topology-aware policy)."""


def resolve_memreq(req: ContainerRequest, dev: DeviceUsage) -> int:
    """MiB this request needs on ``dev``: explicit MiB, else a percentage of the card."""
    if req.memreq > 0:
        return req.memreq
    if req.mem_percentage_req != PERCENTAGE_UNSET:
        return dev.totalmem * req.mem_percentage_req // 100
    return 0


def add_usage(dev: DeviceUsage, granted: ContainerDevice, mig: MigPick | None = None) -> None:
    """Account one granted device on ``dev`` (HAMi's standard ``AddResourceUsage``)."""
    dev.used += 1
    dev.usedmem += granted.usedmem
    dev.usedcores += granted.usedcores
    if mig is not None:
        dev.mig_used.append((mig.start, mig.size))


def format_reasons(reasons: Counter[str], total: int) -> str:
    """HAMi's failure text: ``"2/4 CardInsufficientMemory, 2/4 CardTypeMismatch"`` (sorted).

    Every stored reason is rendered, a zero count too (HAMi's 910C pairing reports
    ``"0/2 AllocatedCardsInsufficientRequest"``); fits store a reason only when it happened."""
    return ", ".join(f"{n}/{total} {r}" for r, n in sorted(reasons.items()))


@dataclass(frozen=True, slots=True)
class FitContext:
    """Node- and pod-level facts one container's fit may consult (all optional)."""

    cordoned: frozenset[str] = frozenset()
    quota: QuotaRoom | None = None
    """Namespace quota left; only backends with ``fit_checks_quota`` consult it."""
    choose: Chooser | None = None
    node_annotations: Mapping[str, str] = field(default_factory=dict)
    """The node's annotations (e.g. Ascend's ``hami-vnpu-core``)."""
    mutex: bool = False
    """The pod's GPU policy chain contains ``mutex``: a used device is skipped."""


# --- roles ------------------------------------------------------------------------------------


class RequestParser(Protocol):
    """Turns a pod spec into per-container requests for one vendor."""

    @property
    def type_keyword(self) -> str:
        """The vendor's common word (``NVIDIA``, ``MLU``, ``Ascend910B3``)."""
        ...

    @property
    def to_allocate_annotation(self) -> str | None:
        """Pod annotation holding devices still to hand out (None: the vendor writes none)."""
        ...

    @property
    def allocated_annotation(self) -> str:
        """Pod annotation holding the full, kept allocation (usage is rebuilt from it)."""
        ...

    @property
    def resource_names(self) -> tuple[str, ...]:
        """Every resource this backend manages (extender ``managedResources``)."""
        ...

    def container_requests(self, pod: Mapping[str, Any]) -> list[ContainerRequest | None]:
        """One entry per container (init first); None where nothing is asked. Raises
        :class:`~hami.api.errors.DecodeError` on a value that cannot be read."""
        ...

    def pod_has_managed_resources(self, pod: Mapping[str, Any]) -> bool:
        """Whether the pod mentions any resource of this vendor."""
        ...


class NodeInventory(Protocol):
    """Reads a node's devices of this vendor (register annotation or node capacity)."""

    @property
    def register_annotation(self) -> str | None:
        """Node annotation written by this vendor's device plugin (None: from capacity)."""
        ...

    def node_devices(self, node: Mapping[str, Any]) -> list[DeviceInfo]:
        """Devices of this vendor on ``node`` ([] when it registers none). Raises
        :class:`~hami.api.errors.DecodeError` when the source is malformed."""
        ...


HealthKind = Literal["always", "capacity", "handshake"]


class HealthCheck(Protocol):
    """How the scheduler decides a node's devices of this vendor are alive (control-plane §1.5,
    vendors §0.2 "generic handshake")."""

    @property
    def health_kind(self) -> HealthKind:
        """``always`` healthy; ``capacity``: count resource allocatable > 0; ``handshake``: the
        generic ``Requesting_<ts>`` handshake on :attr:`handshake_annotation`.

        ``capacity`` with a :attr:`handshake_annotation` is NVIDIA's v2.10 rule (control-plane
        §1.5): healthy while allocatable > 0, the scheduler stamps ``Requesting_<ts>`` there when
        it is not already ``Requesting``, a stamp younger than 60 s also counts as healthy, and an
        unhealthy node has the annotation deleted."""
        ...

    @property
    def handshake_annotation(self) -> str | None: ...

    @property
    def count_resource(self) -> str:
        """Resource the device plugin advertises per device (health falls back on it)."""
        ...

    @property
    def clears_stale_handshake(self) -> bool:
        """Whether the leader deletes a ``handshake`` vendor's stamp on a node found unhealthy
        (HAMi's ``NodeCleanUp``: Hygon and Ascend yes, so the next pass requests again; Iluvatar
        no, so its node stays unhealthy until the plugin reports again)."""
        ...


class DeviceFitter(Protocol):
    """Per-container fit and the vendor's score contribution."""

    @property
    def fit_checks_quota(self) -> bool:
        """True when the fit consults namespace quota (HAMi: NVIDIA and Cambricon)."""
        ...

    @property
    def scores_nodes(self) -> bool:
        """True when :meth:`score_node` can be non-zero (the engine then compares every fitting
        node instead of stopping at the first in node-policy order)."""
        ...

    def pod_selection(self, annotations: Mapping[str, str]) -> Any:
        """Pod-level device filters read once per pod (UUID/type lists, modes); hashable."""
        ...

    def fit_container(
        self,
        ordered: Sequence[DeviceUsage],
        req: ContainerRequest,
        selection: Any,
        ctx: FitContext,
    ) -> FitResult:
        """Fit ``req`` on this vendor's devices of one node, ``ordered`` by the GPU policy in
        **try order** (preferred first = HAMi's policy-sorted list read from its end; a HAMi
        walk "last to first" is a forward walk here). Must not modify the devices; the
        engine applies the result with :func:`add_usage`."""
        ...

    def score_node(self, devices: Sequence[DeviceUsage], picked: PodSingleDevice) -> float:
        """Added raw to the node score once the pod fits (Ascend's NetworkID bonus); 0 mostly."""
        ...


class AllocationWriter(Protocol):
    """The pod annotations a successful Filter patches for this vendor."""

    def pod_annotations(
        self, devices: PodSingleDevice, selection: Any, *, now: datetime
    ) -> dict[str, str]:
        """Annotations for a pod given ``devices`` of this vendor (to-allocate, allocated and
        vendor extras such as ``CAMBRICON_DSMLU_PROFILE``)."""
        ...


LockStyle = Literal["owner", "bare-time"]


class NodeLockSpec(Protocol):
    """Which node annotation the bind locks for this vendor, and in which format."""

    @property
    def lock_annotation(self) -> str:
        """:data:`SHARED_LOCK`, or a vendor's own (``cambricon.com/dsmlu.lock``)."""
        ...

    @property
    def lock_style(self) -> LockStyle:
        """``owner``: HAMi's ``<RFC3339>,<ns>,<pod>`` lock; ``bare-time``: a bare RFC3339 time
        (Cambricon: refused while < 2 min old, released by the device plugin after Allocate)."""
        ...


class AdmissionMutator(Protocol):
    """The vendor's part of the mutating webhook (spec §6 step 3)."""

    def validate_container(
        self, container: Mapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> str | None:
        """A denial message for an invalid container spec, or None. A request value that cannot
        be read (a unit where MiB are meant, out of range) raises
        :class:`~hami.api.errors.DecodeError`, which the webhook answers with a 400 denial."""
        ...

    def mutate_container(
        self, container: MutableMapping[str, Any], pod_annotations: Mapping[str, str] | None = None
    ) -> bool:
        """Mutate one container in place; True when it asks for this vendor's devices.
        ``pod_annotations`` are the pod's (Ascend reads ``huawei.com/vnpu-mode``)."""
        ...

    def mutate_pod(self, pod: MutableMapping[str, Any]) -> None:
        """Pod-level changes for a pod found to use this vendor (e.g. runtimeClassName)."""
        ...


class QuotaNames(Protocol):
    """Resource names the webhook and quota read (``limits.<memory>``, ``limits.<cores>``)."""

    @property
    def memory_resource(self) -> str: ...

    @property
    def core_resource(self) -> str: ...

    @property
    def memory_factor(self) -> int:
        """Request MiB = value x factor (quota limits are scaled alike)."""
        ...


class MetricTypes(Protocol):
    @property
    def metric_device_type(self) -> str:
        """``devicetype`` label value in scheduler metrics (HAMi: the cw)."""
        ...


class DeviceBackend(
    RequestParser,
    NodeInventory,
    HealthCheck,
    DeviceFitter,
    AllocationWriter,
    NodeLockSpec,
    AdmissionMutator,
    QuotaNames,
    MetricTypes,
    Protocol,
):
    """Everything one vendor (one cw) decides; only the registry sees whole backends."""


# --- optional roles (the engine and the services check for them once per backend) ------------


class DeviceSummary(Protocol):
    """A cheap summary of one node's devices of one vendor (see :class:`FitSummarizer`)."""

    def may_fit(self, req: ContainerRequest, selection: Any, mutex: bool) -> bool:
        """False only when :meth:`DeviceFitter.fit_container` must fail for ``req`` on these
        devices, whatever their order, quota or topology; True when unsure."""
        ...


@runtime_checkable
class FitSummarizer(Protocol):
    """Optional role: lets the engine rule nodes out without the detailed fit. The engine rebuilds
    the summary after every usage change of the node. A backend without this role is always
    fitted in detail ("may fit")."""

    def summarize(self, devices: Sequence[DeviceUsage], cordoned: frozenset[str]) -> DeviceSummary:
        """The summary of one node's devices of this vendor with their current usage."""
        ...


@runtime_checkable
class ScoreBound(Protocol):
    """Optional role of a backend with ``scores_nodes``: bounds of :meth:`score_node` for a pod,
    so the engine stops fitting nodes once no later node in node-policy order can beat the best
    total found. Without it every fitting node is fitted."""

    def score_node_bound(self, requests: Sequence[ContainerRequest]) -> float | None:
        """``b`` such that ``0 <= score_node(...) <= b`` for a pod asking ``requests`` of this
        vendor (one per container that asks); None when there is no such bound."""
        ...


@runtime_checkable
class PendingHint(Protocol):
    """Optional role: a hint for an unschedulable pod's event and log line."""

    def pending_hint(self, pod: Mapping[str, Any]) -> str | None:
        """Why the pod may be surprisingly hard to place (e.g. NVIDIA: it asks for whole GPUs
        without saying so), or None."""
        ...
