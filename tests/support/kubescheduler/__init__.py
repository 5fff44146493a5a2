"""kube-scheduler stand-in (extender caller) for integration tests; see `scheduler.py`."""

from .config import (
    ConfigError,
    ExtenderConfig,
    ManagedResource,
    SchedulerConfig,
    TLSConfig,
    parse_duration,
    parse_extender,
    parse_scheduler_config,
)
from .extender import (
    ExtenderCall,
    ExtenderClient,
    ExtenderError,
    FilterResult,
    binding_args,
    filter_args,
    parse_filter_result,
)
from .fit import fit_error_message, node_failures, parse_quantity, pod_requests
from .runner import KubeSchedulerThread
from .scheduler import Failure, KubeSchedulerStandIn

__all__ = [
    "ConfigError",
    "ExtenderCall",
    "ExtenderClient",
    "ExtenderConfig",
    "ExtenderError",
    "Failure",
    "FilterResult",
    "KubeSchedulerStandIn",
    "KubeSchedulerThread",
    "ManagedResource",
    "SchedulerConfig",
    "TLSConfig",
    "binding_args",
    "filter_args",
    "fit_error_message",
    "node_failures",
    "parse_duration",
    "parse_extender",
    "parse_filter_result",
    "parse_quantity",
    "parse_scheduler_config",
    "pod_requests",
]
