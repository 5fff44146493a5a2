"""Cambricon MLU wire names (vendors spec §1, §2): the common word, pod and node annotations.

The resource names come from the ``cambricon:`` config section
(:class:`hami.config.vendors.CambriconConfig`), not from here.
"""

from __future__ import annotations

from typing import Final

MLU: Final = "MLU"
"""The common word: request type, device ``Type``, allocation type field and registry key."""

TO_ALLOCATE: Final = "hami.io/cambricon-mlu-devices-to-allocate"
ALLOCATED: Final = "hami.io/cambricon-mlu-devices-allocated"

USE_UUID: Final = "cambricon.com/use-gpuuuid"
NOUSE_UUID: Final = "cambricon.com/nouse-gpuuuid"
"""Pod annotations listing device ids to use / avoid (``cambricon.com/use-mlutype`` and
``nouse-mlutype`` exist in HAMi too but are never consulted, so they are not read here)."""

DSMLU_ASSIGNED: Final = "CAMBRICON_DSMLU_ASSIGNED"
DSMLU_ASSIGHED: Final = "CAMBRICON_DSMLU_ASSIGHED"
"""The spelling Cambricon's dynamic-sMLU device plugin (and HAMi before v2.10) reads; HAMi
v2.10 writes only ``ASSIGNED``, which that plugin never sees. We write both."""
DSMLU_PROFILE: Final = "CAMBRICON_DSMLU_PROFILE"
"""Pod annotations for Cambricon's dynamic-sMLU device plugin: ``"false"`` until it has
allocated, and ``<index>_<cores>_<memory units>`` of the first granted device."""

DSMLU_LOCK: Final = "cambricon.com/dsmlu.lock"
"""Cambricon's own node lock: a bare RFC3339 time, not HAMi's shared owner lock."""

MEMORY_UNIT: Final = 256
"""MiB per unit of the memory resource (requests, node capacity and the profile)."""

DEVICE_ID_INFIX: Final = "-cambricon-mlu-"
"""Device ids are ``<node>-cambricon-mlu-<index>``."""
