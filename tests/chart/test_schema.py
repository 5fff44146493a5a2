"""values.schema.json refuses bad values with a message naming the key, through Helm itself."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from tests.chart.helmsdk import render, validate_values

BAD: list[tuple[dict[str, Any], str]] = [
    (
        {"scheduler": {"admissionWebhook": {"failurePolicy": "fail"}}},
        "/scheduler/admissionWebhook/failurePolicy",
    ),
    ({"resourceMem": "gpumem"}, "/resourceMem"),
    (
        {"scheduler": {"extender": {"extraManagedResources": ["no-domain"]}}},
        "/scheduler/extender/extraManagedResources/0",
    ),
    ({"devicePlugin": {"deviceSplitCount": 0}}, "/devicePlugin/deviceSplitCount"),
    ({"devicePlugin": {"deviceMemoryScaling": 0}}, "/devicePlugin/deviceMemoryScaling"),
    ({"devicePlugin": {"migStrategy": "single"}}, "/devicePlugin/migStrategy"),
    ({"scheduler": {"nodeLockExpire": "5 min"}}, "/scheduler/nodeLockExpire"),
    ({"scheduler": {"replicas": 0}}, "/scheduler/replicas"),
    ({"scheduler": {"replicas": "3"}}, "/scheduler/replicas"),
    ({"scheduler": {"service": {"schedulerPort": 80}}}, "/scheduler/service/schedulerPort"),
    ({"devicePlugin": {"service": {"httpPort": 99999}}}, "/devicePlugin/service/httpPort"),
    (
        {"scheduler": {"defaultSchedulerPolicy": {"gpuSchedulerPolicy": "best"}}},
        "/scheduler/defaultSchedulerPolicy/gpuSchedulerPolicy",
    ),
    (
        {"scheduler": {"defaultSchedulerPolicy": {"nodeSchedulerPolicy": "Binpack"}}},
        "/scheduler/defaultSchedulerPolicy/nodeSchedulerPolicy",
    ),
    ({"scheduler": {"metricsBindAddress": "9395"}}, "/scheduler/metricsBindAddress"),
    ({"global": {"gpuHookPath": "usr/local"}}, "/global/gpuHookPath"),
    ({"devices": {"nvidia": {"gpuCorePolicy": "strict"}}}, "/devices/nvidia/gpuCorePolicy"),
    (
        {
            "devicePlugin": {
                "nodeConfiguration": {"config": {"nodeconfig": [{"devicesplitcount": 2}]}}
            }
        },
        "/devicePlugin/nodeConfiguration/config/nodeconfig/0",
    ),
    (
        {"scheduler": {"admissionWebhook": {"timeoutSeconds": 60}}},
        "/scheduler/admissionWebhook/timeoutSeconds",
    ),
]


@pytest.mark.parametrize(("values", "where"), BAD, ids=[w for _, w in BAD])
def test_bad_values_are_refused_naming_the_key(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as info:
        validate_values(values)
    assert f"at '{where}'" in str(info.value)
    with pytest.raises(helm_python.HelmValuesError):  # install/template refuse them too
        render(values)


GOOD: list[dict[str, Any]] = [
    {},
    {"scheduler": {"defaultSchedulerPolicy": {"gpuSchedulerPolicy": "topology-aware,binpack"}}},
    {"devicePlugin": {"disablecorelimit": True, "deviceMemoryScaling": 1.5}},
    {"scheduler": {"metricsBindAddress": "0.0.0.0:9395", "nodeLockExpire": "1m30s"}},
    {"mluResourceName": "cambricon.com/vmlu"},  # HAMi's other-vendor values are tolerated
]


@pytest.mark.parametrize("values", GOOD, ids=[str(v) for v in GOOD])
def test_good_values_pass(values: dict[str, Any]) -> None:
    validate_values(values)
