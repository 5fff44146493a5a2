"""Namespace labels for the admission webhook, kept from namespace informer events.

HAMi's chart excludes namespaces labelled ``hami.io/webhook=ignore`` with the webhook
configuration's namespaceSelector; where that selector is missing (``manageNamespaceSelector:
false``, hand-written configurations) the webhook itself must know the namespace's labels.
:class:`NamespaceLabels` is the small cache it asks (:meth:`NamespaceLabels.get` is the
``namespace_lookup`` of :class:`hami.webhook.mutate.AdmissionContext`); a namespace informer feeds
it through :meth:`NamespaceLabels.on_event`. Unknown namespace: ``None`` (the webhook then judges
by the pod's labels only, as before).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


class NamespaceLabels:
    """name -> labels of every namespace seen by the informer."""

    def __init__(self) -> None:
        self._labels: dict[str, dict[str, str]] = {}

    def get(self, namespace: str) -> Mapping[str, str] | None:
        """Labels of ``namespace``; None when the cache has not seen it."""
        return self._labels.get(namespace)

    def __len__(self) -> int:
        return len(self._labels)

    def on_event(
        self, event_type: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        """Informer handler (same signature as the pod/node handlers)."""
        obj = new if new is not None else old
        if obj is None:
            return
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(name, str) or not name:
            log.warning("namespace event %s without metadata.name: ignored", event_type)
            return
        if event_type == "DELETED" or new is None:
            self._labels.pop(name, None)
            return
        labels = meta.get("labels") if isinstance(meta, Mapping) else None
        if labels is not None and not isinstance(labels, Mapping):
            log.warning("namespace %s: metadata.labels is not a mapping: ignored", name)
            labels = None
        self._labels[name] = {str(k): str(v) for k, v in (labels or {}).items()}
