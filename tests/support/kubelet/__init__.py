"""kubelet stand-in (device-plugin peer) for integration tests; see `kubelet.py`."""

from .kubelet import (
    AdmissionResult,
    ContainerAllocation,
    KubeletStandIn,
    RegistrationRejected,
    is_extended_resource_name,
)
from .table import HEALTHY, UNHEALTHY, AdmissionError, DeviceState, DeviceTable, pick_devices

__all__ = [
    "HEALTHY",
    "UNHEALTHY",
    "AdmissionError",
    "AdmissionResult",
    "ContainerAllocation",
    "DeviceState",
    "DeviceTable",
    "KubeletStandIn",
    "RegistrationRejected",
    "is_extended_resource_name",
    "pick_devices",
]
