"""The value sets every chart test renders (defaults, webhook off, cert-manager, custom resource
names, HA with 3 replicas, everything optional on), and the Kubernetes versions."""

from __future__ import annotations

from typing import Any

from tests.chart.helmsdk import KUBE_VERSIONS

CUSTOM_NAMES = {
    "resourceName": "example.com/vgpu",
    "resourceMem": "example.com/vmem",
    "resourceMemPercentage": "example.com/vmem-pct",
    "resourceCores": "example.com/vcores",
    "resourcePriority": "example.com/prio",
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "webhook-off": {"scheduler": {"admissionWebhook": {"enabled": False}}},
    "cert-manager": {"scheduler": {"certManager": {"enabled": True}}},
    "custom-names": {
        **CUSTOM_NAMES,
        "schedulerName": "gpu-share",
        "scheduler": {"extender": {"extraManagedResources": ["cambricon.com/vmlu"]}},
    },
    "ha-3": {"scheduler": {"replicas": 3}},
    "everything": {
        "legacyMetrics": True,
        "global": {
            "imageRegistry": "registry.example.com",
            "imageTag": "v9",
            "gpuHookPath": "/opt",
        },
        "scheduler": {
            "nodeLabelSelector": {"gpu": "on"},
            "serviceMonitor": {"enabled": True},
            "admissionWebhook": {
                "failurePolicy": "Fail",
                "whitelistNamespaces": ["monitoring"],
                "customURL": {"enabled": True, "host": "10.0.0.1"},
            },
            "extender": {"verifyTLS": False, "extraArgs": ["--debug", "-v=4"]},
        },
        "devicePlugin": {
            "serviceMonitor": {"enabled": True},
            "createRuntimeClass": True,
            "runtimeClassName": "nvidia",
            "extraArgs": ["--debug"],
            "nodeConfiguration": {
                "config": {"nodeconfig": [{"name": "n1", "devicesplitcount": 4}]}
            },
        },
        "dashboard": {"enabled": True},
        "devices": {"ascend": {"enabled": True}, "iluvatar": {"enabled": True}},
    },
}

CASES = [(name, kv) for name in VALUE_SETS for kv in KUBE_VERSIONS]
CASE_IDS = [f"{name}-{kv}" for name, kv in CASES]
